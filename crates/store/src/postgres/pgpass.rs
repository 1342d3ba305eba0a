//! libpq's password file (`~/.pgpass`, `PGPASSFILE`, or `passfile=` in the connection string): lines of
//! `host:port:database:user:password`, `*` matching anything in the first four fields, `\:` and `\\` escaping,
//! `#` starting a comment line. Administrators keep the database password there, readable by the service's user
//! alone, rather than in `VIGIL_STORE` (which `ps e` and crash reports can show) or in a unit file.
//!
//! As in libpq: the first matching line wins; a password in the connection string takes precedence; a file that
//! group or others may read is not used. Unlike libpq, which only warns on standard error, the reason a file was not
//! used (or that no line matched) is kept, so that a failed login can say it.

use std::path::{Path, PathBuf};

/// What the connection is to, as the file's fields name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    pub database: &'a str,
    pub user: &'a str,
}

/// The outcome of a look-up: the password, or why there is none (for the message of a failed login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Password(String),
    /// No file at the default place: nothing to say.
    NoFile,
    /// A file was there and not used, or used without a matching line: the reason, naming the file.
    Nothing(String),
}

/// Where the file is: `passfile=` first, then `PGPASSFILE`, then `~/.pgpass`; also whether it was named (a named
/// file that does not exist is worth a word, the default one is not).
pub fn locate(
    passfile: Option<&str>,
    env: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Option<(PathBuf, bool)> {
    passfile
        .map(|p| (PathBuf::from(p), true))
        .or(env.map(|p| (p, true)))
        .or(home.map(|h| (h.join(".pgpass"), false)))
}

/// Looks the targets up, in order (a connection string may name several hosts; each is tried with the first
/// matching line for it, and the driver sends one password, so the first host that has a line gives it).
pub fn look_up(path: &Path, named: bool, targets: &[Target<'_>]) -> Found {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => return Found::NoFile,
        Err(e) => return Found::Nothing(format!("password file {}: {e}", path.display())),
    };
    if !meta.is_file() {
        return Found::Nothing(format!("password file {}: not a file", path.display()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.mode() & 0o077 != 0 {
            return Found::Nothing(format!(
                "password file {} was not read: group or others may read it (mode {:04o}); chmod 600 it",
                path.display(),
                meta.mode() & 0o7777
            ));
        }
    }
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => return Found::Nothing(format!("password file {}: {e}", path.display())),
    };
    for t in targets {
        if let Some(p) = password_for(&text, t) {
            return Found::Password(p);
        }
    }
    let wanted: Vec<String> = targets
        .iter()
        .map(|t| format!("{}:{}:{}:{}", t.host, t.port, t.database, t.user))
        .collect();
    Found::Nothing(format!(
        "password file {} has no line for {}",
        path.display(),
        wanted.join(" or ")
    ))
}

/// The password of the first line of `text` that matches `t`.
pub fn password_for(text: &str, t: &Target<'_>) -> Option<String> {
    let port = t.port.to_string();
    let wanted = [t.host, port.as_str(), t.database, t.user];
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let fields = fields(line);
            // Four fields and a password; libpq ignores what follows a fifth unescaped colon.
            if fields.len() < 5 {
                return None;
            }
            let matches = fields
                .iter()
                .zip(wanted)
                .all(|((raw, value), w)| raw == "*" || value == w);
            matches.then(|| fields[4].1.clone())
        })
}

/// The line's fields, each as written (to tell a bare `*` from an escaped `\*`) and unescaped.
fn fields(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (mut raw, mut value) = (String::new(), String::new());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                raw.push(c);
                if let Some(n) = chars.next() {
                    raw.push(n);
                    value.push(n);
                }
            }
            ':' => out.push((std::mem::take(&mut raw), std::mem::take(&mut value))),
            c => {
                raw.push(c);
                value.push(c);
            }
        }
    }
    out.push((raw, value));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<'a>(host: &'a str, port: u16, database: &'a str, user: &'a str) -> Target<'a> {
        Target {
            host,
            port,
            database,
            user,
        }
    }

    #[test]
    fn first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    db.example:5432:kb:vigil:first\n\
                    db.example:5432:kb:vigil:second\n\
                    *:*:*:reader:p\\:w\\\\x\n\
                    db.example:*:other:vigil:third:ignored\r\n\
                    short:line\n";
        assert_eq!(
            password_for(text, &t("db.example", 5432, "kb", "vigil")).as_deref(),
            Some("first")
        );
        assert_eq!(
            password_for(text, &t("x", 1, "y", "reader")).as_deref(),
            Some("p:w\\x")
        );
        assert_eq!(
            password_for(text, &t("db.example", 6543, "other", "vigil")).as_deref(),
            Some("third")
        );
        assert_eq!(
            password_for(text, &t("db.example", 5433, "kb", "vigil")),
            None
        );
        assert_eq!(password_for(text, &t("short", 5432, "line", "vigil")), None);
        // An escaped star is a literal one.
        assert_eq!(
            password_for("\\*:*:*:u:pw", &t("*", 1, "d", "u")).as_deref(),
            Some("pw")
        );
        assert_eq!(password_for("\\*:*:*:u:pw", &t("h", 1, "d", "u")), None);
    }

    #[test]
    fn the_file_must_be_private_and_its_absence_is_explained() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pgpass");
        let target = [t("127.0.0.1", 5432, "kb", "vigil")];
        assert_eq!(look_up(&path, false, &target), Found::NoFile);
        let Found::Nothing(why) = look_up(&path, true, &target) else {
            panic!("a named file that is missing is reported")
        };
        assert!(why.contains("pgpass"), "{why}");
        std::fs::write(&path, "127.0.0.1:5432:kb:vigil:s3cret\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
            let Found::Nothing(why) = look_up(&path, false, &target) else {
                panic!("a file the group may read is not used")
            };
            assert!(
                why.contains("0640") && why.contains("chmod 600") && !why.contains("s3cret"),
                "{why}"
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        assert_eq!(
            look_up(&path, false, &target),
            Found::Password("s3cret".into())
        );
        let other = [
            t("127.0.0.1", 5432, "kb", "someone"),
            t("db2", 5432, "kb", "someone"),
        ];
        let Found::Nothing(why) = look_up(&path, false, &other) else {
            panic!("no line matches")
        };
        assert!(
            why.contains("127.0.0.1:5432:kb:someone or db2:5432:kb:someone")
                && !why.contains("s3cret"),
            "{why}"
        );
        assert_eq!(
            locate(None, Some("/env/pgpass".into()), Some("/home/v".into())),
            Some((PathBuf::from("/env/pgpass"), true))
        );
        assert_eq!(
            locate(Some("/p"), Some("/env/pgpass".into()), None),
            Some((PathBuf::from("/p"), true))
        );
        assert_eq!(
            locate(None, None, Some("/home/v".into())),
            Some((PathBuf::from("/home/v/.pgpass"), false))
        );
    }

    proptest::proptest! {
        /// Whatever a password holds, written with libpq's escapes it reads back as it was, and never panics.
        #[test]
        fn escaped_passwords_read_back(password in "[^\\n\\r]{0,40}", junk in "\\PC{0,200}") {
            let escaped = password.replace('\\', "\\\\").replace(':', "\\:");
            let text = format!("{junk}\nh:1:d:u:{escaped}\n");
            let target = t("h", 1, "d", "u");
            let got = password_for(&text, &target);
            // A junk line may match first; when it does not, the written line gives the password.
            if password_for(&junk, &target).is_none() {
                proptest::prop_assert_eq!(got, Some(password));
            }
        }
    }
}
