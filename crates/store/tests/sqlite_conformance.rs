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
    let first = {
        let s = SqliteStore::open(d.path()).expect("open");
        conformance::versions(&s).expect("versions");
        s.schema_version().expect("version")
    };
    // Every migration ran (2: members; then feeds; the count grows as migrations are appended).
    assert!(first >= 4, "schema version {first}");
    let s = SqliteStore::open(d.path()).expect("reopen");
    assert_eq!(s.schema_version().expect("version"), first);
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

#[test]
fn sqlite_passes_member_conformance() {
    let dirs = std::cell::RefCell::new(Vec::new());
    conformance::run_members(&|| {
        let d = tempfile::tempdir().expect("tempdir");
        let s = SqliteStore::open(d.path()).expect("open");
        dirs.borrow_mut().push(d);
        s
    })
    .expect("member conformance");
}

#[test]
fn change_counter_sees_other_connections() {
    use vigil_store::MemberStore;
    let d = tempfile::tempdir().expect("tempdir");
    let a = SqliteStore::open(d.path()).expect("open");
    let b = SqliteStore::open(d.path()).expect("open second");
    let before = a.change_counter().expect("counter");
    assert_eq!(a.change_counter().expect("counter"), before);
    b.add_eligible("XK", "test")
        .expect("write from another handle");
    assert_ne!(
        a.change_counter().expect("counter"),
        before,
        "a commit by another process is seen"
    );
    let mid = a.change_counter().expect("counter");
    a.add_eligible("AD", "test").expect("own write");
    assert_ne!(
        a.change_counter().expect("counter"),
        mid,
        "our own writer's commit is seen too"
    );
}

#[test]
fn sqlite_passes_delivery_conformance() {
    let dirs = std::cell::RefCell::new(Vec::new());
    conformance::run_delivery(&|| {
        let d = tempfile::tempdir().expect("tempdir");
        let s = SqliteStore::open(d.path()).expect("open");
        dirs.borrow_mut().push(d);
        s
    })
    .expect("delivery conformance");
}

#[test]
fn sqlite_passes_web_conformance() {
    let dirs = std::cell::RefCell::new(Vec::new());
    conformance::run_web(&|| {
        let d = tempfile::tempdir().expect("tempdir");
        let s = SqliteStore::open(d.path()).expect("open");
        dirs.borrow_mut().push(d);
        s
    })
    .expect("web conformance");
}
