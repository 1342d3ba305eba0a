//! Test certificate authorities made with the `openssl` command, shared by the TLS tests of several crates
//! (each includes this file with `#[path = ".../tests/support/pki.rs"] mod pki;`): P-256 keys, certificates valid
//! two days, files named `NAME.key`, `NAME.crt` (and `NAME.csr`, `NAME.ext`) in the directory given.

#![allow(dead_code)] // each including test uses its own part

use std::path::Path;
use std::process::Command;

/// Whether the `openssl` command is there (the including test skips, loudly, when not).
pub fn have_openssl() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `openssl ARGS` in `dir`, failing the test when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl {args:?}: {e}"));
    assert!(
        o.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A new P-256 private key in `dir/file`.
pub fn new_key(dir: &Path, file: &str) {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            file,
        ],
    );
}

/// A self-signed CA `name`.
pub fn ca(dir: &Path, name: &str) {
    let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
    new_key(dir, &key);
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "2",
            "-out",
            &crt,
        ],
    );
}

/// A key and a certificate `name` for `subject` signed by `ca`, with the X.509 extensions `ext` when given.
pub fn issue(dir: &Path, ca: &str, name: &str, subject: &str, ext: Option<&str>) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let crt = format!("{name}.crt");
    new_key(dir, &key);
    openssl(
        dir,
        &["req", "-new", "-key", &key, "-subj", subject, "-out", &csr],
    );
    let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
    let mut args = vec![
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca_crt,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        &crt,
    ];
    let extfile = format!("{name}.ext");
    if let Some(ext) = ext {
        std::fs::write(dir.join(&extfile), ext).expect("ext");
        args.extend(["-extfile", &extfile]);
    }
    openssl(dir, &args);
}

/// A new CA `ca` and a server certificate `name` it signed for 127.0.0.1.
pub fn localhost(dir: &Path, ca_name: &str, name: &str) {
    ca(dir, ca_name);
    issue(
        dir,
        ca_name,
        name,
        "/CN=127.0.0.1",
        Some("subjectAltName=IP:127.0.0.1\n"),
    );
}
