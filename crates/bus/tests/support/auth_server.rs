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
    start(|_| {
        format!(
            "authorization {{\n  users = [\n    {{ nkey: \"{nkey_public}\" }}\n    {{ user: \"{user}\", password: \"{password}\" }}\n  ]\n}}\n"
        )
    })
}

/// A nats-server in operator mode (decentralised JWT authentication, as `nsc` sets it up): an operator, one
/// account with JetStream that its operator signed, preloaded in a memory resolver. Users log in with `.creds`
/// files that [`Operator::creds`] issues, as `nsc generate creds` would.
pub struct Operator {
    pub server: AuthServer,
    pub account: nkeys::KeyPair,
}

pub fn operator_server() -> Option<Operator> {
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let unlimited = serde_json::json!({"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1, "mem_storage": -1, "disk_storage": -1, "streams": -1,
        "consumer": -1});
    let op_jwt = jwt(
        &operator,
        &operator.public_key(),
        "vigil-test-operator",
        serde_json::json!({"type": "operator", "version": 2}),
        None,
    );
    let acc_jwt = jwt(
        &operator,
        &account.public_key(),
        "CSIRT",
        serde_json::json!({"type": "account", "version": 2, "limits": unlimited}),
        None,
    );
    // JetStream in operator mode needs a system account for its internal subscriptions.
    let system = nkeys::KeyPair::new_account();
    let sys_jwt = jwt(
        &operator,
        &system.public_key(),
        "SYS",
        serde_json::json!({"type": "account", "version": 2, "limits": {"subs": -1, "data": -1, "payload": -1,
            "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1}}),
        None,
    );
    let sys_pub = system.public_key();
    let acc_pub = account.public_key();
    let server = start(|dir| {
        let op_file = dir.join("operator.jwt");
        std::fs::write(&op_file, &op_jwt).expect("operator JWT");
        format!(
            "operator: {:?}\nsystem_account: {sys_pub}\nresolver: MEMORY\n\
             resolver_preload: {{\n  {acc_pub}: \"{acc_jwt}\"\n  {sys_pub}: \"{sys_jwt}\"\n}}\n",
            op_file.display().to_string()
        )
    })?;
    Some(Operator { server, account })
}

impl Operator {
    /// A `.creds` file's content for `user`, issued by `issuer` (the test's account, or another), expiring at `exp`
    /// (seconds since the epoch).
    pub fn creds(issuer: &nkeys::KeyPair, user: &nkeys::KeyPair, exp: Option<i64>) -> String {
        let claims = serde_json::json!({"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1,
            "data": -1, "payload": -1});
        let token = jwt(issuer, &user.public_key(), "sensor", claims, exp);
        let seed = user.seed().expect("seed");
        format!(
            "-----BEGIN NATS USER JWT-----\n{token}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n"
        )
    }
}

/// A NATS JWT (`ed25519-nkey`): claims about `sub`, signed by `issuer`.
pub fn jwt(
    issuer: &nkeys::KeyPair,
    sub: &str,
    name: &str,
    nats: serde_json::Value,
    exp: Option<i64>,
) -> String {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut claims = serde_json::json!({"jti": format!("T{}", now), "iat": now, "iss": issuer.public_key(),
        "name": name, "sub": sub, "nats": nats});
    if let Some(exp) = exp {
        claims["exp"] = exp.into();
    }
    let head = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let signed = format!("{head}.{}", b64(claims.to_string().as_bytes()));
    let sig = issuer.sign(signed.as_bytes()).expect("sign");
    format!("{signed}.{}", b64(&sig))
}

/// A nats-server with JetStream on a free port, with the configuration `auth` returns for its directory.
fn start(auth: impl FnOnce(&std::path::Path) -> String) -> Option<AuthServer> {
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
    let auth = auth(dir.path());
    std::fs::write(
        &conf,
        format!(
            "listen: \"127.0.0.1:{port}\"\njetstream {{ store_dir: {:?} }}\n{auth}",
            dir.path().join("js").display().to_string()
        ),
    )
    .expect("config");
    let child = std::process::Command::new(&bin)
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr")).expect("stderr file"))
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
    panic!(
        "nats-server did not listen on {port}: {}",
        std::fs::read_to_string(server._dir.path().join("stderr")).unwrap_or_default()
    );
}
