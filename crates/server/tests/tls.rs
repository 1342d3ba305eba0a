//! `vigil serve` over TLS, as curl (a real client, a new connection each time) sees it: the certificate given,
//! HTTP/2 offered, and a renewed certificate taken without a restart while a broken renewal is not.
//!
//! Skipped, loudly, without the `openssl` and `curl` commands.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use vigil_server::{AppState, ServerConfig};

#[path = "../../../tests/support/pki.rs"]
mod pki;
use vigil_store::sqlite::SqliteStore;

fn have_curl() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// curl's HTTP version of a GET trusting `ca`, or None when the TLS handshake failed.
fn curl(url: &str, ca: &Path) -> Option<String> {
    let o = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_version}", "--cacert"])
        .arg(ca)
        .arg(url)
        .output()
        .expect("curl");
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Replaces `to` with `from` the way a renewal does: a new file renamed over the old one.
fn replace(dir: &Path, from: &str, to: &str) {
    let tmp = dir.join(format!("{to}.new"));
    std::fs::copy(dir.join(from), &tmp).expect("copy");
    std::fs::rename(&tmp, dir.join(to)).expect("rename");
}

#[test]
fn the_certificate_is_served_and_a_renewal_taken_without_a_restart() {
    if !pki::have_openssl() || !have_curl() {
        eprintln!("SKIPPED: TLS serving test needs the openssl and curl commands");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    pki::localhost(d, "ca-one", "one");
    pki::localhost(d, "ca-two", "two");
    replace(d, "one.crt", "server.crt");
    replace(d, "one.key", "server.key");
    let store = std::sync::Arc::new(SqliteStore::open(&d.join("store")).expect("store"));
    let cfg = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        tls_cert: Some(d.join("server.crt")),
        tls_key: Some(d.join("server.key")),
        tls_reload: Duration::from_millis(100),
        ..Default::default()
    };
    let state = AppState::new(store, d.to_path_buf(), cfg, vec![]).expect("state");
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.spawn(async move {
        let r = vigil_server::serve(state, move |a| {
            let _ = tx.send(a);
        })
        .await;
        assert!(r.is_ok(), "serve: {r:?}");
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).expect("server up");
    let url = format!("https://127.0.0.1:{}/taxii2/", addr.port());
    let (one, two) = (d.join("ca-one.crt"), d.join("ca-two.crt"));

    // The first certificate, with HTTP/2 by ALPN; a client trusting only the other CA is refused.
    assert_eq!(curl(&url, &one).as_deref(), Some("2"));
    assert_eq!(curl(&url, &two), None);

    // Renewed: the key first, then the certificate (a reload between the two finds a key that does not go
    // with the certificate, keeps the old pair and tries again when the certificate arrives).
    replace(d, "two.key", "server.key");
    std::thread::sleep(Duration::from_millis(300));
    replace(d, "two.crt", "server.crt");
    let start = Instant::now();
    while curl(&url, &two).is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the renewed certificate was not taken"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(curl(&url, &one), None);

    // A damaged renewal is not taken: the server goes on with the certificate it has.
    std::fs::write(d.join("server.crt"), "not a certificate\n").expect("write");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(curl(&url, &two).as_deref(), Some("2"));
}
