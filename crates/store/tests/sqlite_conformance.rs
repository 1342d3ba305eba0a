//! The SQLite backend against the store conformance suite, plus SQLite-specific behaviour.

use vigil_store::{conformance, sqlite::SqliteStore, Store};

#[test]
fn sqlite_passes_conformance() {
    let dirs = std::cell::RefCell::new(Vec::new());
    conformance::run_all(&|| {
        let d = tempfile::tempdir().expect("tempdir");
        let s = SqliteStore::open(d.path()).expect("open");
        dirs.borrow_mut().push(d);
        Box::new(s) as Box<dyn Store>
    })
    .expect("conformance");
}

#[test]
fn reopen_keeps_data_and_schema_version() {
    let d = tempfile::tempdir().expect("tempdir");
    {
        let s = SqliteStore::open(d.path()).expect("open");
        conformance::versions(&s).expect("versions");
    }
    let s = SqliteStore::open(d.path()).expect("reopen");
    assert_eq!(s.schema_version().expect("version"), 1);
    assert!(s
        .get("malware--0f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6a01")
        .expect("get")
        .is_some());
}

#[test]
fn refuses_newer_schema() {
    let d = tempfile::tempdir().expect("tempdir");
    {
        let _ = SqliteStore::open(d.path()).expect("open");
        let c = rusqlite::Connection::open(d.path().join("vigil.db")).expect("raw open");
        c.execute_batch("PRAGMA user_version = 999").expect("set");
    }
    assert!(matches!(
        SqliteStore::open(d.path()),
        Err(vigil_store::StoreError::TooNew { .. })
    ));
}
