//! Helpers shared by the integration tests: locating `/work/shared/data` and reading tarball members.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;

/// The shared data directory (`<repo>/../shared/data`), or None (with a loud message) when absent.
pub fn data_dir(what: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED {what}: shared data directory {} is absent",
            p.display()
        );
        None
    }
}

/// A file under the shared data directory, or None (with a loud message) when absent.
pub fn data_file(what: &str, rel: &str) -> Option<PathBuf> {
    let p = data_dir(what)?.join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED {what}: {} is absent", p.display());
        None
    }
}

/// Every regular file in a .tar.gz whose path satisfies `keep`, as (path, bytes).
pub fn tar_members(
    path: &std::path::Path,
    mut keep: impl FnMut(&str) -> bool,
) -> Vec<(String, Vec<u8>)> {
    let f = std::fs::File::open(path).expect("open tarball");
    let gz = flate2::read::GzDecoder::new(f);
    let mut ar = tar::Archive::new(gz);
    let mut out = Vec::new();
    for e in ar.entries().expect("tar entries") {
        let mut e = e.expect("tar entry");
        if !e.header().entry_type().is_file() {
            continue;
        }
        let name = e.path().expect("path").to_string_lossy().into_owned();
        if !keep(&name) {
            continue;
        }
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).expect("read member");
        out.push((name, buf));
    }
    out
}

/// The path of the peers virtualenv's python, or None (with a loud message).
pub fn peer_python(what: &str) -> Option<PathBuf> {
    let venv = std::env::var("VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv-peers"));
    let py = venv.join("bin/python");
    if py.exists() {
        Some(py)
    } else {
        eprintln!("SKIPPED {what}: peers virtualenv {} is absent (python3 -m venv .venv-peers && .venv-peers/bin/pip install -r ../shared/peers/requirements.lock.txt)", venv.display());
        None
    }
}
