//! What database administrators do to the PostgreSQL server, against a real one: logins as they set them up (by
//! client certificate, `hostssl ... cert` in `pg_hba.conf`, and by password from libpq's password file), and
//! restarts (an upgrade, a failover) under a store that is in use. The machine's shared server
//! trusts every local login, so each test starts a PostgreSQL cluster of its own in a temporary directory (the
//! machine's `initdb` and `pg_ctl`, run as the `postgres` user when the tests run as root), with a test CA, a
//! server certificate for 127.0.0.1 and `localhost`, and two roles: one that logs in by certificate only, one by
//! SCRAM password only. The cluster is stopped when the test ends, pass or fail.
//!
//! Skipped, loudly, when no PostgreSQL server binaries or no `openssl` command are found, or with
//! `VIGIL_TEST_POSTGRES=off`; `.ci/run` runs them (the machine's PostgreSQL packages carry `initdb`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use vigil_store::postgres::PostgresStore;

mod common;
#[path = "../../../tests/support/pki.rs"]
mod pki;
use common::{prov, tool};
use pki::{ca, have_openssl, issue, openssl};
use vigil_store::{PutMode, Store};

const CERT_USER: &str = "vigil_cert";
const PW_USER: &str = "vigil_pw";
/// Characters libpq's password file must escape (`:` and `\`), and a space.
const PASSWORD: &str = "s3cret:with\\odd chars";

/// The newest PostgreSQL server binaries on the machine (Debian keeps them out of PATH).
fn bindir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file())
        .collect();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[cfg(unix)]
fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A PostgreSQL cluster of the test's own.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_root: bool,
}

impl Cluster {
    fn start() -> Option<Cluster> {
        if std::env::var("VIGIL_TEST_POSTGRES").as_deref() == Ok("off") {
            eprintln!(
                "\n*** SKIPPED: VIGIL_TEST_POSTGRES=off, PostgreSQL logins and restarts are not tested ***\n"
            );
            return None;
        }
        let Some(bin) = bindir() else {
            eprintln!("\n*** SKIPPED: no PostgreSQL server binaries under /usr/lib/postgresql; logins by certificate and password file not tested ***\n");
            return None;
        };
        if !have_openssl() {
            eprintln!("\n*** SKIPPED: no openssl command to make the test certificates; PostgreSQL logins not tested ***\n");
            return None;
        }
        let as_root = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("vigil-pg-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        chmod(d, 0o755);
        ca(d, "ca");
        issue(
            d,
            "ca",
            "server",
            "/CN=localhost",
            Some("subjectAltName=DNS:localhost,IP:127.0.0.1\n"),
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let data = d.join("data");
        let c = Cluster {
            dir,
            bin,
            port,
            as_root,
        };
        if as_root {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(c.dir.path()));
        }
        run(&mut c.command(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        ));
        let d = c.dir.path();
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{dir}'\nssl = on\n\
             ssl_cert_file = '{dir}/server.crt'\nssl_key_file = '{dir}/server.key'\nssl_ca_file = '{dir}/ca.crt'\n\
             fsync = off\nlog_connections = on\n",
            dir = d.display()
        );
        let mut pc =
            std::fs::read_to_string(data.join("postgresql.conf")).expect("postgresql.conf");
        pc.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), pc).expect("postgresql.conf");
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "local all postgres trust\n\
                 hostssl all {CERT_USER} 127.0.0.1/32 cert\n\
                 hostssl all {PW_USER} 127.0.0.1/32 scram-sha-256\n\
                 host all postgres 127.0.0.1/32 trust\n"
            ),
        )
        .expect("pg_hba.conf");
        chmod(&d.join("server.key"), 0o600);
        if as_root {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(d));
        }
        run(&mut c.command(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-l",
                &d.join("log").display().to_string(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        ));
        let mut admin = postgres::Client::connect(
            &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
            postgres::NoTls,
        )
        .expect("the test cluster answers");
        // One statement at a time: a batch is one transaction, which CREATE DATABASE refuses.
        for sql in [
            format!("CREATE ROLE {CERT_USER} LOGIN"),
            format!(
                "CREATE ROLE {PW_USER} LOGIN PASSWORD '{}'",
                PASSWORD.replace('\'', "''")
            ),
            "CREATE DATABASE kb".to_string(),
            format!("GRANT CREATE ON DATABASE kb TO {CERT_USER}, {PW_USER}"),
        ] {
            admin
                .batch_execute(&sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        Some(c)
    }

    /// A server binary, as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root).
    fn command(&self, name: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(name);
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.args(args);
        cmd
    }

    /// Runs statements as the superuser, one at a time (some, like ALTER SYSTEM, refuse a transaction block).
    fn admin(&self, statements: &[&str]) {
        let mut c = postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                self.port
            ),
            postgres::NoTls,
        )
        .expect("the test cluster answers");
        for sql in statements {
            c.batch_execute(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    /// Makes the server answer as a hot standby does to a client's `SHOW transaction_read_only` (on), or as a
    /// primary (off): what `target_session_attrs=read-write` tells them apart by.
    fn read_only(&self, on: bool) {
        let v = if on { "on" } else { "off" };
        self.admin(&[
            "SET default_transaction_read_only = off",
            &format!("ALTER SYSTEM SET default_transaction_read_only = {v}"),
            "SELECT pg_reload_conf()",
        ]);
    }

    fn stop(&self) {
        let data = self.dir.path().join("data").display().to_string();
        run(&mut self.command("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]));
    }

    /// Restarts the server (`pg_ctl restart -m fast`: every connection is closed, as at a failover).
    fn restart(&self) {
        let data = self.dir.path().join("data").display().to_string();
        // The log again: without it the new server would write to pg_ctl's output, which `run` reads to its end.
        let log = self.dir.path().join("log").display().to_string();
        run(&mut self.command(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-m", "fast", "-w", "-t", "60", "restart",
            ],
        ));
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// A connection string to the cluster's `kb` database as `user`, with `more` settings.
    fn url(&self, user: &str, more: &[(&str, &str)]) -> String {
        let mut s = format!("host=127.0.0.1 port={} user={user} dbname=kb", self.port);
        for (k, v) in more {
            s.push_str(&format!(" {k}='{v}'"));
        }
        s
    }

    /// Files the test process owns (the client's key and password files, as a service user keeps them).
    fn own_dir(&self) -> PathBuf {
        let p = self.dir.path().join("client");
        if !p.exists() {
            std::fs::create_dir(&p).expect("client dir");
        }
        p
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let _ = self
            .command("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn running_as_root() -> bool {
    // A file the test makes is owned by whoever it runs as.
    use std::os::unix::fs::MetadataExt;
    let f = tempfile::NamedTempFile::new().expect("temp file");
    f.as_file()
        .metadata()
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// The store works: a write and a read back, over an encrypted connection.
fn works(url: &str, schema: &str) {
    let s = PostgresStore::open(url, Some(schema)).unwrap_or_else(|e| panic!("{url}: {e}"));
    let tool = tool(1);
    s.write(&mut |tx| {
        tx.put(&tool, &prov("auth-test"), PutMode::Source)
            .map(|_| ())
    })
    .expect("write");
    assert!(s.get(tool.id()).expect("read").is_some());
    assert!(s.encrypted().expect("pg_stat_ssl"), "{url}");
    let dn = s.client_certificate().expect("pg_stat_ssl");
    match url.contains("sslcert") {
        true => assert_eq!(
            dn.as_deref(),
            Some(format!("/CN={CERT_USER}").as_str()),
            "{url}"
        ),
        false => assert_eq!(dn, None, "{url}"),
    }
}

fn refused(url: &str) -> String {
    match PostgresStore::open(url, Some("refused")) {
        Ok(_) => panic!("{url}: logged in"),
        Err(e) => {
            eprintln!("refused, as it should be: {e}");
            e.to_string()
        }
    }
}

#[test]
fn a_client_certificate_logs_in_where_the_server_asks_for_one() {
    let Some(c) = Cluster::start() else { return };
    let d = c.own_dir();
    // The client's files, owned by the test process (a service user), key mode 0600.
    for name in ["ca.crt", "ca.key"] {
        std::fs::copy(c.dir.path().join(name), d.join(name)).expect("copy CA");
    }
    let client = Some("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
    issue(&d, "ca", "client", &format!("/CN={CERT_USER}"), client);
    issue(&d, "ca", "intruder", "/CN=someone_else", client);
    ca(&d, "other_ca");
    issue(
        &d,
        "other_ca",
        "forged",
        &format!("/CN={CERT_USER}"),
        client,
    );
    for k in ["client.key", "intruder.key", "forged.key"] {
        chmod(&d.join(k), 0o600);
    }
    let p = |n: &str| d.join(n).display().to_string();
    let ca_crt = c.path("ca.crt");
    let with = |cert: &str, key: &str| {
        c.url(
            CERT_USER,
            &[
                ("sslmode", "verify-full"),
                ("sslrootcert", &ca_crt),
                ("sslcert", &p(cert)),
                ("sslkey", &p(key)),
            ],
        )
    };

    works(&with("client.crt", "client.key"), "by_cert");
    // The URL form too.
    let url = format!(
        "postgres://{CERT_USER}@127.0.0.1:{}/kb?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        c.port,
        ca_crt.replace('/', "%2F"),
        p("client.crt").replace('/', "%2F"),
        p("client.key").replace('/', "%2F")
    );
    works(&url, "by_cert_url");

    // No certificate: the server says it needs one.
    let e = refused(&c.url(
        CERT_USER,
        &[("sslmode", "verify-full"), ("sslrootcert", &ca_crt)],
    ));
    assert!(e.contains("certificate"), "{e}");
    // A certificate of the right CA for another user: the server's cert check names the mismatch.
    let e = refused(&with("intruder.crt", "intruder.key"));
    assert!(e.contains("certificate authentication failed"), "{e}");
    // The right name from another CA: refused in the handshake.
    let e = refused(&with("forged.crt", "forged.key"));
    assert!(e.contains("UnknownCA") && e.contains("ssl_ca_file"), "{e}");
    // A key others may read: refused before connecting, as libpq refuses it.
    chmod(&d.join("client.key"), 0o644);
    let e = refused(&with("client.crt", "client.key"));
    assert!(
        e.contains("client.key") && e.contains("0644") && e.contains("chmod 600"),
        "{e}"
    );
    chmod(&d.join("client.key"), 0o600);
    // A key that does not belong to the certificate.
    let e = refused(&with("client.crt", "intruder.key"));
    assert!(
        e.contains("intruder.key is not the private key of sslcert"),
        "{e}"
    );

    // The key encrypted, its passphrase given as sslpassword, as libpq takes it: PKCS#8 with PBKDF2 and with
    // scrypt (what `openssl genpkey -aes256` and `openssl pkcs8 -topk8` write).
    const PHRASE: &str = "key phrase:42";
    let pass = format!("pass:{PHRASE}");
    for (out, kdf) in [
        ("pbkdf2.key", &["-v2", "aes-256-cbc"][..]),
        ("scrypt.key", &["-scrypt"][..]),
    ] {
        let mut args = vec!["pkcs8", "-topk8", "-in", "client.key", "-out", out];
        args.extend(kdf);
        args.extend(["-passout", &pass]);
        openssl(&d, &args);
        chmod(&d.join(out), 0o600);
    }
    openssl(
        &d,
        &[
            "ec",
            "-in",
            "client.key",
            "-aes256",
            "-out",
            "traditional.key",
            "-passout",
            &pass,
        ],
    );
    chmod(&d.join("traditional.key"), 0o600);
    let encrypted = |key: &str, phrase: Option<&str>| {
        let mut u = with("client.crt", key);
        if let Some(p) = phrase {
            u.push_str(&format!(" sslpassword='{p}'"));
        }
        u
    };
    works(&encrypted("pbkdf2.key", Some(PHRASE)), "by_encrypted_key");
    works(&encrypted("scrypt.key", Some(PHRASE)), "by_scrypt_key");
    // A passphrase given for a key in the clear is not used, as in libpq.
    works(
        &encrypted("client.key", Some(PHRASE)),
        "by_cert_phrase_unused",
    );
    // libpq itself logs in with the same string (the peer this behaviour follows).
    match Command::new("psql")
        .args([&encrypted("pbkdf2.key", Some(PHRASE)), "-Atc", "SELECT 1"])
        .output()
    {
        Ok(o) => assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "1",
            "psql: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => eprintln!("SKIPPED: psql not run ({e}); Vigil's side was checked"),
    }
    let e = refused(&encrypted("pbkdf2.key", Some("not the phrase")));
    assert!(
        e.contains("pbkdf2.key") && e.contains("could not be decrypted with sslpassword"),
        "{e}"
    );
    assert!(
        !e.contains("not the phrase"),
        "the passphrase is never shown: {e}"
    );
    let e = refused(&encrypted("pbkdf2.key", None));
    assert!(
        e.contains("encrypted: give its passphrase as sslpassword"),
        "{e}"
    );
    let e = refused(&encrypted("traditional.key", Some(PHRASE)));
    assert!(
        e.contains("traditional format") && e.contains("openssl pkcs8 -topk8"),
        "{e}"
    );
    assert!(!e.contains(PHRASE), "{e}");
}

#[test]
fn a_password_file_gives_the_password_the_connection_string_leaves_out() {
    let Some(c) = Cluster::start() else { return };
    let d = c.own_dir();
    let file = d.join("pgpass");
    let escaped = PASSWORD.replace('\\', "\\\\").replace(':', "\\:");
    std::fs::write(
        &file,
        format!(
            "# the service's password file\n\
             other.example:5432:kb:{PW_USER}:not this one\n\
             127.0.0.1:{}:kb:{PW_USER}:{escaped}\n\
             *:*:*:{PW_USER}:nor this one\n",
            c.port
        ),
    )
    .expect("pgpass");
    chmod(&file, 0o600);
    let f = file.display().to_string();
    let require = ("sslmode", "require");

    works(&c.url(PW_USER, &[require, ("passfile", &f)]), "by_file");
    // A password in the connection string wins over the file's.
    let e = refused(&c.url(PW_USER, &[require, ("passfile", &f), ("password", "wrong")]));
    assert!(
        e.contains("password authentication failed")
            && !e.contains("wrong")
            && !e.contains("s3cret"),
        "{e}"
    );
    // The first matching line wins: a file whose first match is wrong fails, naming nothing of the password.
    let first_wrong = d.join("pgpass-first-wrong");
    std::fs::write(
        &first_wrong,
        format!("*:*:kb:{PW_USER}:stale\n127.0.0.1:*:*:*:{escaped}\n"),
    )
    .expect("write");
    chmod(&first_wrong, 0o600);
    let e = refused(&c.url(
        PW_USER,
        &[require, ("passfile", &first_wrong.display().to_string())],
    ));
    assert!(
        e.contains("password authentication failed") && !e.contains("stale"),
        "{e}"
    );
    // No matching line: the refusal says so, naming what was looked for.
    let none = d.join("pgpass-none");
    std::fs::write(&none, "db.example:5432:kb:vigil_pw:x\n").expect("write");
    chmod(&none, 0o600);
    let e = refused(&c.url(
        PW_USER,
        &[require, ("passfile", &none.display().to_string())],
    ));
    assert!(
        e.contains("has no line for") && e.contains(&format!("127.0.0.1:{}:kb:{PW_USER}", c.port)),
        "{e}"
    );
    // A file the group may read is not used, and the refusal says why.
    chmod(&file, 0o640);
    let e = refused(&c.url(PW_USER, &[require, ("passfile", &f)]));
    assert!(
        e.contains("0640") && e.contains("chmod 600") && !e.contains("s3cret"),
        "{e}"
    );
    chmod(&file, 0o600);
    // A named file that is not there.
    let e = refused(&c.url(PW_USER, &[require, ("passfile", "/nonexistent/pgpass")]));
    assert!(e.contains("/nonexistent/pgpass"), "{e}");
    // A login that needs no password is not disturbed by a file without a line for it.
    let trusted = format!(
        "host=127.0.0.1 port={} user=postgres dbname=kb sslmode=disable passfile='{}'",
        c.port,
        none.display()
    );
    PostgresStore::open(&trusted, Some("trusted")).unwrap_or_else(|e| panic!("{e}"));
}

/// A restart of the server closes every connection the store holds (the writer and the pooled readers); the first
/// reads and writes after it reconnect instead of failing, and nothing written before is lost.
#[test]
fn the_store_carries_on_after_the_server_restarts() {
    let Some(c) = Cluster::start() else { return };
    let url = format!(
        "host=127.0.0.1 port={} user=postgres dbname=kb sslmode=disable",
        c.port
    );
    let s = std::sync::Arc::new(PostgresStore::open(&url, Some("restarts")).expect("open"));
    s.write(&mut |tx| {
        tx.put(&tool(1), &prov("auth-test"), PutMode::Source)
            .map(|_| ())
    })
    .expect("write");
    // Several readers at once, so that the pool holds several connections.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (s, b) = (s.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                for _ in 0..20 {
                    s.get(tool(1).id()).expect("read").expect("there");
                }
            })
        })
        .collect();
    for r in readers {
        r.join().expect("reader");
    }
    c.restart();
    for round in 0..6 {
        assert!(s
            .get(tool(1).id())
            .unwrap_or_else(|e| panic!("read {round} after the restart: {e}"))
            .is_some());
    }
    s.write(&mut |tx| {
        tx.put(&tool(2), &prov("auth-test"), PutMode::Source)
            .map(|_| ())
    })
    .expect("the first write after the restart");
    assert_eq!(s.stats().expect("stats").objects.get("tool"), Some(&2));
    c.restart();
    s.write(&mut |tx| {
        tx.put(&tool(3), &prov("auth-test"), PutMode::Source)
            .map(|_| ())
    })
    .expect("a write first after the restart");
    assert!(s.get(tool(3).id()).expect("read").is_some());
}

/// A failover as HA managers (Patroni, repmgr) do it, with the connection string they advise: two hosts and
/// `target_session_attrs=read-write`. The store opens on the primary, skipping the standby listed first; when the
/// primary goes away and the standby is promoted, the next write reconnects to it. (The standby here is a second
/// server that answers read-only, the store's schema made on it beforehand, as replication would have: no
/// replication is set up, so what the first primary held is not asserted on the second.)
#[test]
fn a_failover_to_the_other_listed_host_is_followed() {
    let Some(standby) = Cluster::start() else {
        return;
    };
    let Some(primary) = Cluster::start() else {
        return;
    };
    let schema = "failover";
    let direct = |c: &Cluster| {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=kb sslmode=disable",
            c.port
        )
    };
    drop(PostgresStore::open(&direct(&standby), Some(schema)).expect("the schema on the standby"));
    standby.read_only(true);
    // Alone, the standby is refused with what to do.
    let e = refused(&direct(&standby));
    assert!(
        e.contains("read-only") && e.contains("target_session_attrs=read-write"),
        "{e}"
    );
    let url = format!(
        "host=127.0.0.1,127.0.0.1 port={},{} user=postgres dbname=kb sslmode=disable target_session_attrs=read-write",
        standby.port, primary.port
    );
    let s = PostgresStore::open(&url, Some(schema)).unwrap_or_else(|e| panic!("{url}: {e}"));
    s.write(&mut |tx| {
        tx.put(&tool(1), &prov("auth-test"), PutMode::Source)
            .map(|_| ())
    })
    .expect("a write on the primary");
    // Read with a plain client: a store opens (and migrates) only where it may write.
    let on = |c: &Cluster, i: usize| {
        let mut client = postgres::Client::connect(&direct(c), postgres::NoTls).expect("connect");
        let n: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {schema}.objects WHERE stix_id = $1"),
                &[&tool(i).id()],
            )
            .expect("count")
            .get(0);
        n > 0
    };
    assert!(
        on(&primary, 1) && !on(&standby, 1),
        "written on the primary, not the standby"
    );

    primary.stop();
    standby.read_only(false);
    s.write(&mut |tx| {
        tx.put(&tool(2), &prov("auth-test"), PutMode::Source)
            .map(|_| ())
    })
    .expect("the first write after the failover");
    assert!(on(&standby, 2), "written on the promoted standby");
    assert!(s
        .get(tool(2).id())
        .expect("read after the failover")
        .is_some());
}
