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

/// A derived batch of objects stored by an earlier process: a new connection has inserted nothing yet, so the
/// batch must not take the statement's "last inserted row" for one of its own (every CLI ingest is such a process).
#[test]
fn derived_batch_after_reopen_is_unchanged() {
    use vigil_model::{Provenance, StixObject};
    use vigil_store::{Prepared, PutMode, PutOutcome, Store};
    let d = tempfile::tempdir().expect("tempdir");
    let objs: Vec<Prepared> = (0..70)
        .map(|i| {
            let o = StixObject::from_value(serde_json::json!({"type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--0f1b5b4c-6f5b-4e0c-9b7e-{i:012}"), "created": "2020-01-01T00:00:00Z",
                "modified": "2020-01-01T00:00:00Z", "name": format!("v{i}.example"),
                "pattern": format!("[domain-name:value = 'v{i}.example']"), "pattern_type": "stix",
                "valid_from": "2020-01-01T00:00:00Z"}))
            .expect("fixture");
            Prepared::from_ref(&o, PutMode::Derived)
        })
        .collect();
    let prov = |source: &str| Provenance {
        source: source.into(),
        ingested_at: "2026-01-01T00:00:00Z".into(),
        original_id: None,
        file: None,
    };
    let batch = |s: &SqliteStore, source: &str| {
        let mut outs = Vec::new();
        s.write(&mut |tx| {
            outs = tx.put_derived_batch(&objs, &prov(source))?;
            Ok(())
        })
        .expect("write");
        outs
    };
    {
        let s = SqliteStore::open(d.path()).expect("open");
        assert!(batch(&s, "a").iter().all(|o| *o == PutOutcome::Added));
    }
    let s = SqliteStore::open(d.path()).expect("reopen");
    let outs = batch(&s, "b");
    assert!(outs.iter().all(|o| *o == PutOutcome::Unchanged), "{outs:?}");
    assert_eq!(
        s.stats().expect("stats").objects.get("indicator"),
        Some(&70)
    );
    let id = "indicator--0f1b5b4c-6f5b-4e0c-9b7e-000000000005";
    assert_eq!(s.provenance(id).expect("provenance").len(), 2);
}

/// A store at `dir` holding the conformance suite's small graph, and the ids of what it holds.
fn graph_store(dir: &std::path::Path) -> Vec<String> {
    let s = SqliteStore::open(dir).expect("open");
    conformance::lookup_search_graph(&s).expect("graph");
    all_ids(&s)
}

/// The ids of every live object, in store order.
fn all_ids(s: &SqliteStore) -> Vec<String> {
    let mut ids = Vec::new();
    s.scan(&vigil_store::ScanFilter::default(), &mut |o| {
        ids.push(o.object.id().to_string());
        Ok(())
    })
    .expect("scan");
    ids
}

/// Turns a store back into the layout before schema 11: when a row was added as text in `added_at`, no `added`.
const TEXT_ADDED_AT: &str = "
    UPDATE objects SET added_at = strftime('%Y-%m-%dT%H:%M:%S', added / 1000000, 'unixepoch')
        || printf('.%06dZ', added % 1000000) WHERE added IS NOT NULL;
    ALTER TABLE objects DROP COLUMN added;";

fn page_after(s: &SqliteStore, added_after: Option<String>) -> Vec<(String, String)> {
    use vigil_store::members::{MemberStore, PageQuery, PageSource, ReadScope, VersionSel};
    let q = PageQuery {
        source: PageSource::Shared {
            tlp_min: vigil_model::Tlp::Clear,
            tlp_max: vigil_model::Tlp::Red,
        },
        scope: ReadScope {
            all: true,
            open_max: None,
            member: None,
            default_tlp: vigil_model::Tlp::Amber,
        },
        after_seq: 0,
        added_after,
        types: vec![],
        ids: vec![],
        versions: VersionSel::All,
        limit: 1000,
    };
    let page = s.page(&q).expect("page");
    page.rows.into_iter().map(|r| (r.id, r.added_at)).collect()
}

/// A store written before schema 11 (when a row was added as text) reads the same times after the migration, and
/// TAXII's `added_after` splits old and new rows at the right place.
#[test]
fn added_time_migration_reads_the_same() {
    let d = tempfile::tempdir().expect("tempdir");
    let s = SqliteStore::open(d.path()).expect("open");
    conformance::lookup_search_graph(&s).expect("graph");
    let before = page_after(&s, None);
    assert!(!before.is_empty());
    for (_, at) in &before {
        // the form `time::sort_key` writes: microseconds, Z
        assert_eq!((at.len(), &at[19..20], &at[26..]), (27, ".", "Z"), "{at}");
    }
    let gets: Vec<String> = before
        .iter()
        .map(|(id, _)| s.versions(id).expect("versions")[0].added_at.clone())
        .collect();
    drop(s);
    {
        let c = rusqlite::Connection::open(d.path().join("vigil.db")).expect("raw open");
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        // Back to schema 10, before the `added` column; migrations 11 and later run again on opening.
        assert!(v >= 11, "{v}");
        c.execute_batch(&format!("{TEXT_ADDED_AT} PRAGMA user_version = 10;"))
            .expect("downgrade");
        let text: i64 = c
            .query_row(
                "SELECT count(*) FROM objects WHERE length(added_at) = 27",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(text as usize, before.len());
    }
    let s = SqliteStore::open(d.path()).expect("migrate");
    assert_eq!(page_after(&s, None), before);
    let gets_after: Vec<String> = before
        .iter()
        .map(|(id, _)| s.versions(id).expect("versions")[0].added_at.clone())
        .collect();
    assert_eq!(gets_after, gets);
    assert_eq!(s.check().expect("check"), Vec::<String>::new());
    // rows added now (as microseconds) come after every old row (as text), and `added_after` tells them apart
    std::thread::sleep(std::time::Duration::from_millis(5));
    for i in 0..3 {
        let tool = vigil_model::StixObject::from_value(serde_json::json!({"type": "tool",
            "spec_version": "2.1", "id": format!("tool--7d3e4c1a-0000-4000-8000-00000000000{i}"),
            "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z", "name": "new"}))
        .expect("tool");
        let prov = vigil_model::Provenance {
            source: "new".into(),
            ingested_at: "2026-11-30T12:00:00.000Z".into(),
            original_id: None,
            file: None,
        };
        s.write(&mut |tx| {
            tx.put(&tool, &prov, vigil_store::PutMode::Source)?;
            Ok(())
        })
        .expect("write");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let all = page_after(&s, None);
    assert!(all.len() > before.len());
    let last_old = before.iter().map(|(_, at)| at.clone()).max().expect("rows");
    let newer = page_after(&s, Some(last_old.clone()));
    assert_eq!(newer, all[before.len()..].to_vec());
    assert!(newer.iter().all(|(_, at)| *at > last_old));
    // and between two new rows: strictly after the first
    let first_new = newer[0].1.clone();
    let after_first: Vec<_> = all
        .iter()
        .filter(|(_, at)| *at > first_new)
        .cloned()
        .collect();
    assert_eq!(page_after(&s, Some(first_new)), after_first);
    // an instant before everything keeps everything
    assert_eq!(
        page_after(&s, Some("2000-01-01T00:00:00.000000Z".into())),
        all
    );
}

/// Turns a store back into the layout before schema 10: each row's first provenance inline, no `prov_sets`.
const INLINE_PROVENANCE: &str = "
    UPDATE objects SET source = (SELECT source FROM prov_sets WHERE id = prov),
        ingested_at = (SELECT ingested_at FROM prov_sets WHERE id = prov),
        file = (SELECT file FROM prov_sets WHERE id = prov)
    WHERE prov IS NOT NULL;
    ALTER TABLE objects DROP COLUMN prov;
    DROP TABLE prov_sets;";

/// A store written before schema 10 (provenance inline in each row) reads the same provenance and source counts
/// after the migration, and rows written after it (through `prov_sets`) sit beside the old ones.
#[test]
fn inline_provenance_migration_reads_the_same() {
    let d = tempfile::tempdir().expect("tempdir");
    let s = SqliteStore::open(d.path()).expect("open");
    conformance::lookup_search_graph(&s).expect("graph");
    let ids = all_ids(&s);
    let seen = |s: &SqliteStore| -> (Vec<String>, String) {
        let provs = ids
            .iter()
            .map(|id| format!("{id}: {:?}", s.provenance(id).expect("provenance")))
            .collect();
        (provs, format!("{:?}", s.stats().expect("stats").sources))
    };
    let before = seen(&s);
    assert!(
        before.0.iter().all(|p| p.contains("source: \"")),
        "{before:?}"
    );
    drop(s);
    {
        let c = rusqlite::Connection::open(d.path().join("vigil.db")).expect("raw open");
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        // Back to schema 9, before `prov_sets`; migrations 10 and later run again on opening.
        assert!(v >= 11, "{v}");
        c.execute_batch(&format!(
            "{TEXT_ADDED_AT} {INLINE_PROVENANCE} PRAGMA user_version = 9;"
        ))
        .expect("downgrade");
    }
    let s = SqliteStore::open(d.path()).expect("migrate");
    assert_eq!(seen(&s), before);
    assert_eq!(s.check().expect("check"), Vec::<String>::new());
    // A second source of an old-layout row is recorded beside it; its own source again is not.
    let id = &ids[0];
    let first = s.provenance(id).expect("provenance");
    let obj = s.get(id).expect("get").expect("present").object;
    for (source, n) in [
        (first[0].source.clone(), first.len()),
        ("second-feed".to_string(), first.len() + 1),
    ] {
        let prov = vigil_model::Provenance {
            source,
            ingested_at: "2026-11-30T12:00:00.000Z".into(),
            original_id: None,
            file: Some("again.json".into()),
        };
        s.write(&mut |tx| {
            tx.put(&obj, &prov, vigil_store::PutMode::Source)?;
            Ok(())
        })
        .expect("write");
        assert_eq!(s.provenance(id).expect("provenance").len(), n);
    }
}

/// A store written before migration 8 (relationship sources in a partial index on `objects`) reads the same graph
/// after the migration moves them into `edge_src`, and passes its own consistency check.
#[test]
fn source_edge_migration_keeps_the_graph() {
    let d = tempfile::tempdir().expect("tempdir");
    let sources = {
        let s = SqliteStore::open(d.path()).expect("open");
        conformance::lookup_search_graph(&s).expect("graph");
        let filter = vigil_store::ScanFilter {
            types: vec!["relationship".into()],
            ..Default::default()
        };
        let mut sources = std::collections::BTreeSet::new();
        s.scan(&filter, &mut |o| {
            if let Some(src) = o.object.str("source_ref") {
                sources.insert(src.to_string());
            }
            Ok(())
        })
        .expect("scan");
        assert!(!sources.is_empty(), "the graph has relationships");
        sources
    };
    let related = |s: &SqliteStore| -> Vec<String> {
        sources
            .iter()
            .map(|id| {
                let mut r: Vec<String> = s
                    .related(id)
                    .expect("related")
                    .iter()
                    .map(|x| {
                        format!(
                            "{} {} {} {}",
                            x.direction, x.relationship_type, x.id, x.relationship_id
                        )
                    })
                    .collect();
                r.sort();
                format!("{id}: {r:?}")
            })
            .collect()
    };
    let before = related(&SqliteStore::open(d.path()).expect("open"));
    assert!(
        before.iter().any(|l| l.contains("\"out uses ")),
        "{before:?}"
    );
    {
        // Back to schema 7's layout.
        let c = rusqlite::Connection::open(d.path().join("vigil.db")).expect("raw open");
        c.execute_batch(&format!(
            "{TEXT_ADDED_AT} {INLINE_PROVENANCE}
             DROP TABLE edge_src;
             CREATE INDEX objects_src ON objects(src) WHERE src IS NOT NULL AND lk = 0;
             PRAGMA user_version = 7;"
        ))
        .expect("downgrade");
    }
    let s = SqliteStore::open(d.path()).expect("migrate");
    assert!(s.schema_version().expect("version") >= 8);
    assert_eq!(related(&s), before);
    assert_eq!(s.check().expect("check"), Vec::<String>::new());
}

/// Rows stored as TEXT before schema 9 packed them read exactly as packed ones do; a damaged packed value is an
/// error naming the row (from `check` and from reads), never a panic, and leaves the other rows readable.
#[test]
fn text_rows_from_before_packing_and_damaged_rows() {
    let d = tempfile::tempdir().expect("tempdir");
    let ids = graph_store(d.path());
    assert!(ids.len() > 3, "{ids:?}");
    let read_all = |s: &SqliteStore| -> Vec<String> {
        ids.iter()
            .map(|id| {
                let o = s.get(id).expect("get").expect("present");
                o.object.to_json()
            })
            .collect()
    };
    let packed = read_all(&SqliteStore::open(d.path()).expect("open"));
    let db = d.path().join("vigil.db");
    {
        let c = rusqlite::Connection::open(&db).expect("raw open");
        let blobs: i64 = c
            .query_row(
                "SELECT count(*) FROM objects WHERE typeof(json) = 'blob'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert!(blobs > 3, "rows are packed: {blobs}");
        // Turn every row back into the TEXT a store from before schema 9 holds.
        let rows: Vec<(i64, Vec<u8>)> = c
            .prepare("SELECT seq, json FROM objects")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        for (seq, blob) in rows {
            let text = vigil_store::packed::unpack(&blob).expect("unpack");
            c.execute(
                "UPDATE objects SET json = ?2 WHERE seq = ?1",
                rusqlite::params![seq, text],
            )
            .expect("update");
        }
    }
    let s = SqliteStore::open(d.path()).expect("reopen");
    assert_eq!(read_all(&s), packed);
    assert_eq!(s.check().expect("check"), Vec::<String>::new());
    let victim = &ids[0];
    {
        let c = rusqlite::Connection::open(&db).expect("raw open");
        let n = c
            .execute(
                "UPDATE objects SET json = x'0140000000ff' WHERE stix_id = ?1",
                [victim],
            )
            .expect("damage");
        assert!(n >= 1);
    }
    let s = SqliteStore::open(d.path()).expect("reopen");
    let problems = s.check().expect("check");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("1 objects whose JSON does not decode"),
        "{problems:?}"
    );
    assert!(s.get(victim).is_err(), "a damaged row reads as an error");
    for id in &ids[1..] {
        assert!(s.get(id).expect("others still read").is_some());
    }
}

/// Sets a closed store back to the schema before `schema` (at least that schema now), without the lookup keys of
/// `kind` that `schema` added, as an older Vigil left it.
fn forget_keys(dir: &std::path::Path, kind: i64, schema: i64) {
    let c = rusqlite::Connection::open(dir.join("vigil.db")).expect("raw open");
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert!(v >= schema, "{v}");
    c.execute_batch(&format!(
        "DELETE FROM keys WHERE kind = {kind}; PRAGMA user_version = {};",
        schema - 1
    ))
    .expect("downgrade");
}

/// A store written before schema 12 has no folded keys; opening it adds them to the latest versions of families
/// and actors, so `agenttesla` finds `Agent Tesla` there as in a new store, and nothing else changes.
#[test]
fn fold_key_migration_finds_old_families_by_their_folded_names() {
    use vigil_store::WriteTx;
    let d = tempfile::tempdir().expect("tempdir");
    let s = SqliteStore::open(d.path()).expect("open");
    let prov = vigil_model::Provenance {
        source: "old".into(),
        ingested_at: "2026-11-30T12:00:00.000Z".into(),
        original_id: None,
        file: None,
    };
    let family = |id: &str, name: &str, aliases: &[&str]| {
        vigil_model::StixObject::from_value(serde_json::json!({"type": "malware", "spec_version": "2.1", "id": id,
            "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z", "name": name,
            "aliases": aliases, "is_family": true}))
        .expect("malware")
    };
    let tesla = "malware--5b0f6a3c-0000-4000-8000-000000000001";
    let shlayer = "malware--5b0f6a3c-0000-4000-8000-000000000002";
    s.write(&mut |tx| {
        tx.put(
            &family(tesla, "Agent Tesla", &[]),
            &prov,
            vigil_store::PutMode::Source,
        )?;
        tx.put(
            &family(shlayer, "Shlayer", &["OSX/Shlayer"]),
            &prov,
            vigil_store::PutMode::Source,
        )?;
        Ok(())
    })
    .expect("write");
    let lookup = |s: &SqliteStore, key: &str| {
        let mut found = Vec::new();
        s.write(&mut |tx: &mut dyn WriteTx| {
            found = tx.lookup(&["malware"], key)?;
            Ok(())
        })
        .expect("lookup");
        found
    };
    assert_eq!(lookup(&s, "agenttesla"), [tesla]);
    assert_eq!(lookup(&s, "osxshlayer"), [shlayer]);
    let rows = s.stats().expect("stats");
    drop(s);
    forget_keys(d.path(), 4, 12);
    let s = SqliteStore::open(d.path()).expect("reopen at 11");
    // reopened: migrated again, so the keys are back
    assert_eq!(lookup(&s, "agenttesla"), [tesla]);
    assert_eq!(lookup(&s, "osxshlayer"), [shlayer]);
    assert_eq!(lookup(&s, "agent tesla"), [tesla]);
    assert_eq!(s.stats().expect("stats").objects, rows.objects);
    assert_eq!(s.check().expect("check"), Vec::<String>::new());
}

/// A store written before schema 14 has no stem keys; opening it adds them to the latest versions of families and
/// tools, so `lummac2` finds `LummaC2 Stealer` there as in a new store, and nothing else changes.
#[test]
fn stem_key_migration_finds_old_families_by_their_stems() {
    use vigil_store::prepared::KEY_STEM;
    use vigil_store::WriteTx;
    let d = tempfile::tempdir().expect("tempdir");
    let s = SqliteStore::open(d.path()).expect("open");
    let prov = vigil_model::Provenance {
        source: "old".into(),
        ingested_at: "2026-11-30T12:00:00.000Z".into(),
        original_id: None,
        file: None,
    };
    let lumma = "malware--5b0f6a3c-0000-4000-8000-000000000003";
    let tool = "tool--5b0f6a3c-0000-4000-8000-000000000004";
    let actor = "intrusion-set--5b0f6a3c-0000-4000-8000-000000000005";
    s.write(&mut |tx| {
        for v in [
            serde_json::json!({"type": "malware", "spec_version": "2.1", "id": lumma, "created": "2020-01-01T00:00:00.000Z",
                "modified": "2020-01-01T00:00:00.000Z", "name": "Lumma Stealer", "aliases": ["LummaC2 Stealer"],
                "is_family": true}),
            serde_json::json!({"type": "tool", "spec_version": "2.1", "id": tool, "created": "2020-01-01T00:00:00.000Z",
                "modified": "2020-01-01T00:00:00.000Z", "name": "PCClient RAT"}),
            // actors' names are not stemmed: `Lazarus Group` is no kind of malware, nor is an actor's `Bot`
            serde_json::json!({"type": "intrusion-set", "spec_version": "2.1", "id": actor,
                "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z", "name": "Storm Bot"}),
        ] {
            tx.put(
                &vigil_model::StixObject::from_value(v).expect("object"),
                &prov,
                vigil_store::PutMode::Source,
            )?;
        }
        Ok(())
    })
    .expect("write");
    let lookup = |s: &SqliteStore, key: &str| {
        let mut found = Vec::new();
        s.write(&mut |tx: &mut dyn WriteTx| {
            found = tx.lookup_kinds(&[], key)?;
            Ok(())
        })
        .expect("lookup");
        found
    };
    let expect = |s: &SqliteStore| {
        assert_eq!(lookup(s, "lummac2"), [(lumma.to_string(), KEY_STEM)]);
        assert_eq!(lookup(s, "lumma"), [(lumma.to_string(), KEY_STEM)]);
        assert_eq!(lookup(s, "pcclient"), [(tool.to_string(), KEY_STEM)]);
        assert_eq!(lookup(s, "storm"), []);
    };
    expect(&s);
    let rows = s.stats().expect("stats");
    drop(s);
    forget_keys(d.path(), 5, 14);
    let s = SqliteStore::open(d.path()).expect("reopen at 13");
    expect(&s);
    assert_eq!(s.stats().expect("stats").objects, rows.objects);
    assert_eq!(s.check().expect("check"), Vec::<String>::new());
}

#[test]
fn sqlite_passes_feed_conformance() {
    let dirs = std::cell::RefCell::new(Vec::new());
    conformance::run_feeds(&|| {
        let d = tempfile::tempdir().expect("tempdir");
        let s = SqliteStore::open(d.path()).expect("open");
        dirs.borrow_mut().push(d);
        s
    })
    .expect("feed conformance");
}

#[test]
fn rows_a_stricter_vigil_would_refuse_are_still_read() {
    // Objects are validated when they are written. A later Vigil may validate more strictly; its reads must still
    // return what an earlier one stored (to be revoked, exported or replaced), not turn a scan into an error.
    let d = tempfile::tempdir().expect("tempdir");
    let ids = graph_store(d.path());
    let indicator = ids
        .iter()
        .find(|i| i.starts_with("indicator--"))
        .expect("an indicator")
        .clone();
    let db = d.path().join("vigil.db");
    {
        let c = rusqlite::Connection::open(&db).expect("raw open");
        let blob: Vec<u8> = c
            .query_row(
                "SELECT json FROM objects WHERE stix_id = ?1",
                [&indicator],
                |r| r.get(0),
            )
            .expect("row");
        let mut v: serde_json::Value =
            serde_json::from_str(&vigil_store::packed::unpack(&blob).expect("unpack"))
                .expect("json");
        // A pattern today's parser refuses, and no spec_version (which early rows lacked).
        v["pattern"] = serde_json::json!("[domain-name:value = ");
        v.as_object_mut().expect("object").remove("spec_version");
        let n = c
            .execute(
                "UPDATE objects SET json = ?2 WHERE stix_id = ?1",
                rusqlite::params![indicator, v.to_string()],
            )
            .expect("rewrite");
        assert!(n >= 1);
    }
    let s = SqliteStore::open(d.path()).expect("reopen");
    assert_eq!(all_ids(&s), ids, "the scan reads every row");
    let o = s.get(&indicator).expect("get").expect("present");
    assert_eq!(o.object.str("pattern"), Some("[domain-name:value = "));
    assert_eq!(
        o.object.str("spec_version"),
        Some("2.1"),
        "an object without spec_version reads as 2.1"
    );
}
