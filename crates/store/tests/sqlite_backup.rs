//! Backups of the embedded store (`vigil store backup` / `restore`): what is restored answers as the original did,
//! a backup taken while a writer goes on is consistent, and bad backups or occupied data directories are refused
//! without anything being lost.

use std::path::Path;

use vigil_store::sqlite::backup::{inspect, restore};
use vigil_store::sqlite::SqliteStore;
use vigil_store::{conformance, copy, MemberStore, PutMode, Store, StoreError};

type Fill = fn(&SqliteStore) -> Result<(), StoreError>;

/// A store holding a bit of everything the suites write.
fn filled(dir: &Path) -> SqliteStore {
    let s = SqliteStore::open(dir).expect("open");
    let fills: &[(&str, Fill)] = &[
        ("versions", |s| conformance::versions(s)),
        ("graph", |s| conformance::lookup_search_graph(s)),
        ("pending", |s| conformance::pending_stats(s)),
        ("warninglists", |s| conformance::warninglists(s)),
        ("members", |s| conformance::members_tokens(s)),
        ("inbox", |s| conformance::inbox(s)),
        ("deliveries", |s| conformance::deliveries(s)),
        ("users", |s| conformance::users_sessions(s)),
    ];
    for (name, fill) in fills {
        fill(&s).unwrap_or_else(|e| panic!("fill {name}: {e}"));
    }
    s
}

fn tables(s: &SqliteStore) -> Vec<(String, u64)> {
    let c = rusqlite::Connection::open(s.path()).expect("raw open");
    let names: Vec<String> = c
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'fts%' AND name NOT LIKE 'sqlite_%' ORDER BY 1")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names");
    names
        .into_iter()
        .map(|t| {
            let n: i64 = c
                .query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get(0))
                .expect("count");
            (t, n as u64)
        })
        .collect()
}

#[test]
fn a_restored_backup_answers_as_the_original() {
    let (a, b, out) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let orig = filled(a.path());
    let file = out.path().join("vigil-backup.db");
    let info = orig.backup(&file).expect("backup");
    assert!(info.ok(), "{:?}", info.problems);
    assert!(file.is_file());
    assert!(
        !out.path().join("vigil-backup.db.partial").exists(),
        "no temporary file is left"
    );
    let beside: Vec<_> = std::fs::read_dir(out.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(beside.len(), 1, "the backup is one file: {beside:?}");
    assert_eq!(
        info.objects,
        orig.stats().expect("stats").objects.values().sum::<u64>() + retired(&orig)
    );
    let expected = tables(&orig);
    let got: Vec<(String, u64)> = info
        .tables
        .iter()
        .map(|t| (t.table.clone(), t.rows))
        .collect();
    assert_eq!(got, expected, "every table's rows are in the backup");

    // A check of the file alone says the same, and leaves nothing beside it.
    let checked = inspect(&file).expect("inspect");
    assert!(checked.ok());
    assert_eq!(checked.versions, info.versions);
    assert_eq!(std::fs::read_dir(out.path()).expect("list").count(), 1);

    let restored_dir = b.path().join("restored");
    let back = restore(&file, &restored_dir).expect("restore");
    assert!(back.ok(), "{:?}", back.problems);
    let again = SqliteStore::open(&restored_dir).expect("open restored");
    let v = copy::verify(&orig, &again).expect("compare");
    assert!(v.ok(), "{:?} {:?}", v.differences, v.problems);
    assert_eq!(tables(&again), expected);
    // Members, tokens and search come back too, not only objects.
    assert_eq!(
        orig.members().expect("members").len(),
        again.members().expect("members").len()
    );
    assert_eq!(
        orig.search("APT", 10).expect("search").len(),
        again.search("APT", 10).expect("search").len()
    );
    // The restored store takes writes, numbering after the original's rows.
    let seq_before = tables(&again)
        .into_iter()
        .find(|(t, _)| t == "objects")
        .map(|(_, n)| n)
        .expect("objects");
    again
        .write(&mut |tx| {
            tx.put(&tool(999_999), &prov("test"), PutMode::Source)
                .map(|_| ())
        })
        .expect("write after restore");
    let o = again
        .get("tool--00000000-0000-4000-8000-000000999999")
        .expect("get")
        .expect("stored");
    assert!(o.seq as u64 > seq_before);
    // The original is untouched by all of it.
    assert!(orig.check().expect("check").is_empty());
}

fn retired(s: &SqliteStore) -> u64 {
    let c = rusqlite::Connection::open(s.path()).expect("raw open");
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM objects WHERE lk = 0 AND retired = 1",
            [],
            |r| r.get(0),
        )
        .expect("count");
    n as u64
}

fn tool(i: u64) -> vigil_model::StixObject {
    vigil_model::StixObject::from_value(serde_json::json!({"type": "tool", "spec_version": "2.1",
        "id": format!("tool--00000000-0000-4000-8000-{i:012}"), "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z", "name": format!("tool {i}")}))
    .expect("object")
}

fn prov(source: &str) -> vigil_model::Provenance {
    vigil_model::Provenance {
        source: source.into(),
        ingested_at: "2026-01-01T00:00:00Z".into(),
        original_id: None,
        file: None,
    }
}

/// A backup taken while another handle commits is one consistent state: as many objects as some commit left, and
/// sound.
#[test]
fn a_backup_while_writing_is_consistent() {
    const BATCH: u64 = 200;
    let (a, out) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let s = SqliteStore::open(a.path()).expect("open");
    let write_batch = |s: &SqliteStore, b: u64| {
        s.write(&mut |tx| {
            for i in 0..BATCH {
                tx.put(&tool(b * BATCH + i), &prov("writer"), PutMode::Source)?;
            }
            Ok(())
        })
        .expect("write");
    };
    for b in 0..20 {
        write_batch(&s, b);
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let files: Vec<_> = (0..3)
        .map(|i| out.path().join(format!("b{i}.db")))
        .collect();
    let infos = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let other = SqliteStore::open(a.path()).expect("second handle");
            let mut b = 20;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                write_batch(&other, b);
                b += 1;
            }
            b
        });
        let infos: Vec<_> = files.iter().map(|f| s.backup(f).expect("backup")).collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let batches = writer.join().expect("writer");
        assert!(batches > 20, "the writer went on during the backups");
        infos
    });
    for info in &infos {
        assert!(info.ok(), "{:?}", info.problems);
        assert_eq!(
            info.objects % BATCH,
            0,
            "whole commits only: {}",
            info.objects
        );
        assert!(info.objects >= 20 * BATCH);
    }
    let total = s.stats().expect("stats").objects.values().sum::<u64>();
    assert!(infos.iter().all(|i| i.objects <= total));
}

#[test]
fn refusals_change_nothing() {
    let (a, out) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let s = filled(a.path());
    let file = out.path().join("b.db");
    s.backup(&file).expect("backup");
    let bytes = std::fs::read(&file).expect("read");

    // A backup never overwrites a file.
    let e = s.backup(&file).expect_err("exists");
    assert!(e.to_string().contains("exists"), "{e}");
    assert_eq!(std::fs::read(&file).expect("read"), bytes);

    // A restore never replaces a store, and leaves the one there as it was.
    let e = restore(&file, a.path()).expect_err("occupied");
    assert!(
        e.to_string().contains("a restore never replaces a store"),
        "{e}"
    );
    assert!(s.check().expect("check").is_empty());

    let target = out.path().join("target");
    let refused = |name: &str, content: &[u8]| {
        let f = out.path().join(name);
        std::fs::write(&f, content).expect("write");
        let e = restore(&f, &target).expect_err(name);
        assert!(
            !target.join("vigil.db").exists() && !target.join("vigil.db.partial").exists(),
            "{name}: nothing is left in the data directory"
        );
        e.to_string()
    };
    // Truncated (a copy cut short): the last pages are missing.
    let e = refused("truncated.db", &bytes[..bytes.len() / 2]);
    assert!(e.contains("truncated.db"), "{e}");
    let e = refused("empty.db", b"");
    assert!(e.contains("too short"), "{e}");
    let e = refused("garbage.db", &[0x5a; 65536]);
    assert!(e.contains("not a Vigil store"), "{e}");
    // A page overwritten in the middle: the check finds it (or SQLite refuses to read the file at all).
    let mut damaged = bytes.clone();
    let page = 16384;
    let mid = (damaged.len() / page / 2) * page;
    // The whole page, header included: every page of a compacted file belongs to a table or an index, whose
    // structure the check walks (a flipped byte inside a row's payload is not something any check can see).
    for b in &mut damaged[mid..mid + page] {
        *b = 0x5a;
    }
    let e = refused("damaged.db", &damaged);
    assert!(e.contains("damaged.db"), "{e}");

    // A backup from a newer Vigil.
    let newer = out.path().join("newer.db");
    std::fs::write(&newer, &bytes).expect("write");
    rusqlite::Connection::open(&newer)
        .expect("open")
        .execute_batch("PRAGMA user_version = 999")
        .expect("set");
    assert!(matches!(inspect(&newer), Err(StoreError::TooNew { .. })));

    // A live store copied with its WAL beside it is not a backup.
    let live = out.path().join("live.db");
    std::fs::write(&live, &bytes).expect("write");
    std::fs::write(out.path().join("live.db-wal"), b"x").expect("write");
    let e = inspect(&live).expect_err("wal beside");
    assert!(e.to_string().contains("live.db-wal"), "{e}");

    // After all that the good backup still restores.
    let back = restore(&file, &target).expect("restore");
    assert!(back.ok());
    let again = SqliteStore::open(&target).expect("open");
    assert!(copy::verify(&s, &again).expect("compare").ok());
    assert!(!again.members().expect("members").is_empty());
}

/// A backup of an older store (made by an older Vigil) is brought up to date when restored.
#[test]
fn an_older_backup_is_migrated_on_restore() {
    let (a, out) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let s = SqliteStore::open(a.path()).expect("open");
    conformance::versions(&s).expect("fill");
    let file = out.path().join("old.db");
    s.backup(&file).expect("backup");
    let current = s.schema_version().expect("version");
    // As a store of schema 15 (before feed leases): the table that migration 16 adds is not there yet.
    let c = rusqlite::Connection::open(&file).expect("open");
    c.execute_batch("DROP TABLE feed_leases; PRAGMA user_version = 15")
        .expect("downgrade");
    drop(c);
    assert_eq!(inspect(&file).expect("inspect").schema_version, 15);
    let target = out.path().join("target");
    let back = restore(&file, &target).expect("restore");
    assert_eq!(back.schema_version, current);
    assert!(back.tables.iter().any(|t| t.table == "feed_leases"));
    assert!(back.ok());
}
