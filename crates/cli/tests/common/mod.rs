//! Helpers shared by the CLI's integration test files (each includes this module with `mod common;`).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `vigil serve`, killed when dropped.
pub struct Served {
    child: Child,
    /// Base URL, such as `http://127.0.0.1:41234`.
    pub base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `vigil --data DATA serve --listen 127.0.0.1:0 ARGS...` on a free loopback port, returned once it listens.
#[allow(dead_code)] // not every test file that includes this module serves the embedded store
pub fn serve(data: &Path, args: &[&str]) -> Served {
    serve_with(data, &[], args)
}

/// `vigil --data DATA GLOBAL... serve --listen 127.0.0.1:0 ARGS...` (GLOBAL such as `--store URL`).
pub fn serve_with(data: &Path, global: &[&str], args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--data")
        .arg(data)
        .args(global)
        .env_remove("VIGIL_STORE")
        .env_remove("VIGIL_STORE_SCHEMA")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vigil serve");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    // Built before the wait, so a failed wait still kills the child.
    let mut served = Served {
        child,
        base: String::new(),
    };
    let mut line = String::new();
    served.base = loop {
        line.clear();
        assert!(
            err.read_line(&mut line).expect("read the server's log") > 0,
            "vigil serve ended before listening"
        );
        if let Some(rest) = line.split("serving ").nth(1) {
            let url = rest.split_whitespace().next().expect("url");
            break url.trim_end_matches("/taxii2/").to_string();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = err.read_to_end(&mut sink);
    });
    served
}

/// The objects of a member's own collection (TAXII `member-<id>`, REST `/api/v1/sightings`), read from the
/// embedded store in `data` as that member may see them.
#[allow(dead_code)] // used by the hunting and sightings tests only
pub fn member_collection(data: &Path, member: i64) -> Vec<vigil_store::PageRow> {
    use vigil_store::{MemberStore, PageQuery, PageSource, ReadScope, VersionSel};
    let store = vigil_store::sqlite::SqliteStore::open(data).expect("store");
    store
        .page(&PageQuery {
            source: PageSource::Member { member },
            scope: ReadScope {
                all: false,
                open_max: None,
                member: Some(member),
                default_tlp: vigil_model::Tlp::Amber,
            },
            after_seq: 0,
            added_after: None,
            types: vec![],
            ids: vec![],
            versions: VersionSel::All,
            limit: 100,
        })
        .expect("page")
        .rows
}

#[path = "../../../../tests/support/pki.rs"]
mod pki_support;

/// A test CA `ca` (`ca.crt`, `ca.key` in `dir`) and a server certificate for 127.0.0.1 it signed (`name.crt`,
/// `name.key`, and the request `name.csr`), with the `openssl` command; false (and a loud skip) without it.
#[allow(dead_code)] // used by the TLS tests only
pub fn pki(dir: &Path, ca: &str, name: &str) -> bool {
    if !pki_support::have_openssl() {
        eprintln!("SKIPPED: no openssl command to make a test CA; the TLS test did not run");
        return false;
    }
    pki_support::localhost(dir, ca, name);
    true
}
