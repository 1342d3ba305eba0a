//! libpq's defaults for what a connection string leaves out, so that `--store` behaves as `psql` does on the same
//! machine: first a connection service (`service=NAME` in the string, or `PGSERVICE`) from the service file
//! (`PGSERVICEFILE`, else `~/.pg_service.conf`, then `pg_service.conf` in `PGSYSCONFDIR`, by default Debian's
//! `/etc/postgresql-common`), then the environment (`PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`, `PGPASSWORD`,
//! `PGSSLMODE`, `PGSSLROOTCERT`, ...), then the built-in defaults (the local socket, the login name). A value in
//! the string always wins; the password file (`pgpass`) comes after all of these, as in libpq.
//!
//! Administrators who run several tools against one cluster keep its hosts, TLS files and database in one
//! service entry, and container platforms hand credentials over as `PG*` variables: both now reach Vigil without
//! repeating them in `VIGIL_STORE`.

use std::path::{Path, PathBuf};

use ::postgres::config::{Host, TargetSessionAttrs};
use ::postgres::Config;

use super::tls::{self, Taken};

/// The libpq environment variables Vigil takes, with the keyword each stands for (the keywords a service entry
/// may set are the same; `passfile` too, whose variable `PGPASSFILE` the password file look-up reads itself, and
/// `sslpassword`, which has no variable in libpq).
const ENV: &[(&str, &str)] = &[
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGDATABASE", "dbname"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGOPTIONS", "options"),
    ("PGAPPNAME", "application_name"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
];

/// libpq's system configuration directory on Debian (where `pg_service.conf` lives unless `PGSYSCONFDIR` says).
const SYSCONFDIR: &str = "/etc/postgresql-common";

/// Fills what `config` and `taken` (parsed from the connection string) leave unset from the service entry and
/// then the environment, as `env` reads it, then the local defaults. Errors name the variable, or the service
/// file and entry, and never repeat a value (it may be a password).
pub(super) fn apply(
    config: &mut Config,
    taken: &mut Taken,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(name) = taken.service.clone().or_else(|| var("PGSERVICE")) {
        let (file, pairs) = service(&name, env)?;
        for (k, v) in pairs {
            // Keywords libpq takes from a service file but from no variable.
            if k == "passfile" {
                taken.passfile.get_or_insert(v);
                continue;
            }
            if k == "sslpassword" {
                taken.tls.key_password.get_or_insert(tls::Secret(v));
                continue;
            }
            if !ENV.iter().any(|(_, kw)| *kw == k) {
                return Err(format!(
                    "service file {}, [{name}]: `{k}` is not taken from a service file (Vigil reads {}, passfile, sslpassword)",
                    file.display(),
                    ENV.iter().map(|(_, k)| *k).collect::<Vec<_>>().join(", ")
                ));
            }
            fill(config, taken, &k, &v)
                .map_err(|e| format!("service file {}, [{name}]: {e}", file.display()))?;
        }
    }
    for (name, k) in ENV {
        if let Some(v) = var(name) {
            fill(config, taken, k, &v).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        // libpq's default: the server's socket in the usual directory, else the loopback address.
        let port = config.get_ports().first().copied().unwrap_or(5432);
        match ["/var/run/postgresql", "/run/postgresql", "/tmp"]
            .iter()
            .find(|d| Path::new(d).join(format!(".s.PGSQL.{port}")).exists())
        {
            Some(dir) => config.host_path(dir),
            None => config.host("localhost"),
        };
    }
    if config.get_user().is_none() {
        // libpq's default user is the login name.
        if let Some(u) = var("USER").or_else(|| var("LOGNAME")) {
            config.user(&u);
        }
    }
    Ok(())
}

/// Sets keyword `k` to `v` where the string left it unset. The value goes through the same parsers as the
/// string's (so `PGPORT=x` fails as `port=x` would), without its text in the message.
fn fill(config: &mut Config, taken: &mut Taken, k: &str, v: &str) -> Result<(), String> {
    let (rest, t) = tls::split(&format!("{k}={}", tls::quote(v)))?;
    let c: Config = rest
        .parse()
        .map_err(|_: ::postgres::Error| format!("invalid value for {k}"))?;
    match k {
        "host" if config.get_hosts().is_empty() => {
            for h in c.get_hosts() {
                match h {
                    Host::Tcp(h) => config.host(h),
                    Host::Unix(p) => config.host_path(p),
                };
            }
        }
        "hostaddr" if config.get_hostaddrs().is_empty() => {
            for a in c.get_hostaddrs() {
                config.hostaddr(*a);
            }
        }
        "port" if config.get_ports().is_empty() => {
            for p in c.get_ports() {
                config.port(*p);
            }
        }
        "dbname" if config.get_dbname().is_none() => {
            config.dbname(c.get_dbname().unwrap_or_default());
        }
        "user" if config.get_user().is_none() => {
            config.user(c.get_user().unwrap_or_default());
        }
        "password" if config.get_password().is_none() => {
            config.password(c.get_password().unwrap_or_default());
        }
        "options" if config.get_options().is_none() => {
            config.options(c.get_options().unwrap_or_default());
        }
        "application_name" if config.get_application_name().is_none() => {
            config.application_name(c.get_application_name().unwrap_or_default());
        }
        "connect_timeout" if config.get_connect_timeout().is_none() => {
            if let Some(d) = c.get_connect_timeout() {
                config.connect_timeout(*d);
            }
        }
        "target_session_attrs" if config.get_target_session_attrs() == TargetSessionAttrs::Any => {
            config.target_session_attrs(c.get_target_session_attrs());
        }
        "sslmode" if !taken.mode_set => {
            taken.tls.mode = t.tls.mode;
            taken.mode_set = true;
        }
        "sslrootcert" => {
            taken.tls.root_cert = taken.tls.root_cert.take().or(t.tls.root_cert);
        }
        "sslcert" => {
            taken.tls.client_cert = taken.tls.client_cert.take().or(t.tls.client_cert);
        }
        "sslkey" => {
            taken.tls.client_key = taken.tls.client_key.take().or(t.tls.client_key);
        }
        _ => {}
    }
    Ok(())
}

/// The service entry `name`: from `PGSERVICEFILE` (which must hold it), else the user's `~/.pg_service.conf`,
/// then the system's `pg_service.conf`; the file it came from and its `keyword=value` lines in order.
fn service(
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(PathBuf, Vec<(String, String)>), String> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    match var("PGSERVICEFILE") {
        Some(f) => files.push((PathBuf::from(f), true)),
        None => {
            if let Some(home) = var("HOME") {
                files.push((PathBuf::from(home).join(".pg_service.conf"), false));
            }
        }
    }
    let sys = var("PGSYSCONFDIR").unwrap_or_else(|| SYSCONFDIR.into());
    files.push((PathBuf::from(sys).join("pg_service.conf"), false));
    let mut looked = Vec::new();
    for (file, named) in files {
        let text = match std::fs::read(&file) {
            Ok(b) => String::from_utf8(b)
                .map_err(|_| format!("service file {}: not UTF-8", file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => {
                looked.push(file.display().to_string());
                continue;
            }
            Err(e) => return Err(format!("service file {}: {e}", file.display())),
        };
        if let Some(pairs) =
            entry(&text, name).map_err(|e| format!("service file {}: {e}", file.display()))?
        {
            return Ok((file, pairs));
        }
        looked.push(file.display().to_string());
    }
    Err(format!(
        "connection service \"{name}\" is defined in none of {}",
        looked.join(", ")
    ))
}

/// The lines of section `[name]` of a service file (libpq's format: `#` comments, `[service]` headers,
/// `keyword=value` with the blanks around either part dropped); None when there is no such section.
fn entry(text: &str, name: &str) -> Result<Option<Vec<(String, String)>>, String> {
    let mut inside = false;
    let mut found = false;
    let mut pairs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            let section = section
                .strip_suffix(']')
                .ok_or_else(|| format!("line {}: a section header without `]`", n + 1))?;
            if found && inside {
                break;
            }
            inside = section.trim() == name;
            found |= inside;
            continue;
        }
        if !inside {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: not `keyword=value`", n + 1))?;
        let k = k.trim();
        if k == "service" {
            return Err(format!(
                "line {}: a service cannot name another service",
                n + 1
            ));
        }
        pairs.push((k.to_string(), v.trim().to_string()));
    }
    Ok(found.then_some(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn parsed(s: &str) -> (Config, Taken) {
        let (rest, taken) = tls::split(s).expect("splits");
        (rest.parse().expect("parses"), taken)
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn the_string_wins_then_the_service_then_the_environment() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("services.conf");
        std::fs::write(
            &file,
            "# cluster of the ministry\n[other]\nhost=elsewhere\n\n[ kb ]\n host = db1.example,db2.example\n\
             port=6432\ndbname = kb\nsslmode=verify-full\nsslrootcert=/etc/vigil/ca.pem\n\
             target_session_attrs=read-write\nsslpassword=key phrase\n[after]\nhost=nope\n",
        )
        .expect("write");
        let env = env_of(&[
            ("PGSERVICEFILE", file.to_str().expect("utf8")),
            ("PGUSER", "vigil"),
            ("PGDATABASE", "ignored-service-wins"),
            ("PGPASSWORD", "s3cret"),
            ("PGAPPNAME", "vigil-test"),
            ("PGSSLMODE", "disable"),
        ]);
        let (mut c, mut t) = parsed("service=kb application_name=cli");
        apply(&mut c, &mut t, &env).expect("applies");
        assert_eq!(
            c.get_hosts(),
            &[
                Host::Tcp("db1.example".into()),
                Host::Tcp("db2.example".into())
            ]
        );
        assert_eq!(c.get_ports(), &[6432]);
        assert_eq!(c.get_dbname(), Some("kb"));
        assert_eq!(c.get_user(), Some("vigil"));
        assert_eq!(c.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(c.get_application_name(), Some("cli"));
        assert_eq!(c.get_target_session_attrs(), TargetSessionAttrs::ReadWrite);
        assert_eq!(t.tls.mode, tls::TlsMode::VerifyFull);
        assert_eq!(t.tls.root_cert.as_deref(), Some("/etc/vigil/ca.pem"));
        assert_eq!(t.tls.key_password, Some(tls::Secret("key phrase".into())));

        // PGSERVICE names the entry when the string does not; a URL's own parts still win.
        let env = env_of(&[
            ("PGSERVICEFILE", file.to_str().expect("utf8")),
            ("PGSERVICE", "kb"),
        ]);
        let (mut c, mut t) = parsed("postgres://admin@db9.example:5433/other?sslmode=require");
        apply(&mut c, &mut t, &env).expect("applies");
        assert_eq!(c.get_hosts(), &[Host::Tcp("db9.example".into())]);
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_dbname(), Some("other"));
        assert_eq!(c.get_user(), Some("admin"));
        assert_eq!(t.tls.mode, tls::TlsMode::Require);
        assert_eq!(t.tls.root_cert.as_deref(), Some("/etc/vigil/ca.pem"));
    }

    #[test]
    fn the_environment_alone_makes_a_connection() {
        let env = env_of(&[
            ("PGHOST", "/var/run/postgresql"),
            ("PGPORT", "5433"),
            ("PGUSER", "vigil"),
            ("PGSSLMODE", "verify-ca"),
            ("PGSSLROOTCERT", "/ca.pem"),
            ("PGSSLCERT", "/c.pem"),
            ("PGSSLKEY", "/c.key"),
            ("PGCONNECT_TIMEOUT", "7"),
        ]);
        let (mut c, mut t) = parsed("postgresql://");
        apply(&mut c, &mut t, &env).expect("applies");
        assert_eq!(c.get_hosts(), &[Host::Unix("/var/run/postgresql".into())]);
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_user(), Some("vigil"));
        assert_eq!(
            c.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(7))
        );
        assert_eq!(t.tls.mode, tls::TlsMode::VerifyCa);
        assert_eq!(t.tls.client_cert.as_deref(), Some("/c.pem"));
        assert_eq!(t.tls.client_key.as_deref(), Some("/c.key"));
        // Nothing given at all: the login name and the local server, as psql would take them.
        let (mut c, mut t) = parsed("");
        apply(&mut c, &mut t, &env_of(&[("USER", "analyst")])).expect("applies");
        assert_eq!(c.get_user(), Some("analyst"));
        assert!(!c.get_hosts().is_empty());
    }

    #[test]
    fn bad_values_and_missing_services_are_named_without_their_text() {
        let (mut c, mut t) = parsed("dbname=kb");
        let e = apply(&mut c, &mut t, &env_of(&[("PGPORT", "54x2")])).expect_err("bad port");
        assert!(e.starts_with("PGPORT: "), "{e}");
        assert!(!e.contains("54x2"), "{e}");
        let e =
            apply(&mut c, &mut t, &env_of(&[("PGSSLMODE", "sometimes")])).expect_err("bad mode");
        assert!(e.starts_with("PGSSLMODE: "), "{e}");

        let dir = tempfile::tempdir().expect("tmp");
        let user = dir.path().join("home");
        std::fs::create_dir(&user).expect("mkdir");
        let sys = dir.path().join("etc");
        std::fs::create_dir(&sys).expect("mkdir");
        std::fs::write(sys.join("pg_service.conf"), "[kb]\nhost=sys.example\n").expect("write");
        let env = env_of(&[
            ("HOME", user.to_str().expect("utf8")),
            ("PGSYSCONFDIR", sys.to_str().expect("utf8")),
        ]);
        // The system file answers when the user has none; the user's entry comes first when both have one.
        let (mut c, mut t) = parsed("service=kb");
        apply(&mut c, &mut t, &env).expect("system file");
        assert_eq!(c.get_hosts(), &[Host::Tcp("sys.example".into())]);
        std::fs::write(user.join(".pg_service.conf"), "[kb]\nhost=user.example\n").expect("write");
        let (mut c, mut t) = parsed("service=kb");
        apply(&mut c, &mut t, &env).expect("user file");
        assert_eq!(c.get_hosts(), &[Host::Tcp("user.example".into())]);

        let (mut c, mut t) = parsed("service=nope");
        let e = apply(&mut c, &mut t, &env).expect_err("no such service");
        assert!(
            e.contains("\"nope\"") && e.contains("pg_service.conf"),
            "{e}"
        );
        std::fs::write(
            user.join(".pg_service.conf"),
            "[kb]\nhost=h\nkeepalives=0\npassword=hunter2x\n",
        )
        .expect("write");
        let (mut c, mut t) = parsed("service=kb");
        let e = apply(&mut c, &mut t, &env).expect_err("unknown keyword");
        assert!(e.contains("`keepalives`"), "{e}");
        std::fs::write(user.join(".pg_service.conf"), "[kb]\nport=eighty\n").expect("write");
        let (mut c, mut t) = parsed("service=kb");
        let e = apply(&mut c, &mut t, &env).expect_err("bad port");
        assert!(e.contains("[kb]") && !e.contains("eighty"), "{e}");
        let named = env_of(&[("PGSERVICEFILE", "/nonexistent/services.conf")]);
        let (mut c, mut t) = parsed("service=kb");
        let e = apply(&mut c, &mut t, &named).expect_err("named file missing");
        assert!(e.contains("/nonexistent/services.conf"), "{e}");
    }
}
