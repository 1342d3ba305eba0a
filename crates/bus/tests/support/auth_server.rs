//! A nats-server of a test's own with authentication, shared by the bus tests and the CLI's NATS tests
//! (`#[path]`-included there).

use std::time::Duration;

/// A nats-server of the test's own (JetStream, a free port) that admits one NKey user and one user with a password,
/// stopped when dropped. None, loudly, when no nats-server binary is found (`VIGIL_NATS_SERVER`, `nats-server` on
/// the PATH or /usr/sbin).
pub struct AuthServer {
    child: std::process::Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn auth_server(nkey_public: &str, user: &str, password: &str) -> Option<AuthServer> {
    let bin = std::env::var("VIGIL_NATS_SERVER").ok().or_else(|| {
        [
            "/usr/sbin/nats-server",
            "/usr/local/bin/nats-server",
            "/usr/bin/nats-server",
        ]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
    });
    let Some(bin) = bin else {
        eprintln!("SKIPPED: no nats-server binary (set VIGIL_NATS_SERVER); NATS authentication not tested");
        return None;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let conf = dir.path().join("nats.conf");
    std::fs::write(
        &conf,
        format!(
            "listen: \"127.0.0.1:{port}\"\njetstream {{ store_dir: {:?} }}\nauthorization {{\n  users = [\n    {{ nkey: \"{nkey_public}\" }}\n    {{ user: \"{user}\", password: \"{password}\" }}\n  ]\n}}\n",
            dir.path().join("js").display().to_string()
        ),
    )
    .expect("config");
    let child = std::process::Command::new(&bin)
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nats-server");
    let server = AuthServer {
        child,
        port,
        _dir: dir,
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nats-server did not listen on {port}");
}
