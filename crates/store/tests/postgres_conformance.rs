//! The PostgreSQL backend against the store conformance suite, on a real server: `VIGIL_TEST_POSTGRES` names it (a
//! connection string; default `host=127.0.0.1 user=postgres dbname=test`, the local server `.ci/run` checks).
//! Each store gets a schema of its own, dropped at the end. `VIGIL_TEST_POSTGRES=off` skips these tests, loudly,
//! on a machine without PostgreSQL; otherwise a server that cannot be reached fails them.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use vigil_model::{Provenance, StixObject};
use vigil_store::postgres::PostgresStore;

mod common;
use common::{prov, tool};
use vigil_store::{conformance, PutMode, Store, StoreError};

const DEFAULT_URL: &str = "host=127.0.0.1 user=postgres dbname=test";

fn url() -> Option<String> {
    match std::env::var("VIGIL_TEST_POSTGRES") {
        Ok(v) if v == "off" => {
            eprintln!("\n*** SKIPPED: VIGIL_TEST_POSTGRES=off, the PostgreSQL backend is not tested ***\n");
            None
        }
        Ok(v) => Some(v),
        Err(_) => Some(DEFAULT_URL.to_string()),
    }
}

/// Schemas made by one test, dropped when it ends (pass or fail).
struct Schemas {
    url: String,
    made: RefCell<Vec<String>>,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Schemas {
    fn new(url: &str) -> Schemas {
        Schemas {
            url: url.to_string(),
            made: RefCell::new(Vec::new()),
        }
    }

    /// A name no other test (or test run) uses.
    fn fresh(&self) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "vigil_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.made.borrow_mut().push(name.clone());
        name
    }

    fn open(&self) -> PostgresStore {
        let schema = self.fresh();
        PostgresStore::open(&self.url, Some(&schema)).unwrap_or_else(|e| {
            panic!(
                "cannot open a PostgreSQL store at {} ({e}); start the server (README: Requirements) or set \
                 VIGIL_TEST_POSTGRES to another server, or to 'off' to skip",
                self.url
            )
        })
    }
}

impl Drop for Schemas {
    fn drop(&mut self) {
        let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) else {
            return;
        };
        for s in self.made.borrow().iter() {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE"));
        }
    }
}

#[test]
fn postgres_passes_conformance() {
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    conformance::run_all(&|| Box::new(schemas.open()) as Box<dyn Store>).expect("conformance");
}

#[test]
fn reopen_keeps_data_and_refuses_a_newer_schema() {
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    let first = {
        let s = PostgresStore::open(&url, Some(&schema)).expect("open");
        conformance::versions(&s).expect("versions");
        s.schema_version().expect("version")
    };
    assert!(first >= 1);
    let s = PostgresStore::open(&url, Some(&schema)).expect("reopen");
    assert_eq!(s.schema_version().expect("version"), first);
    assert_eq!(
        s.versions("malware--0f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6a01")
            .expect("versions")
            .len(),
        3
    );
    let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    c.batch_execute(&format!(
        "UPDATE \"{schema}\".vigil_schema SET version = 999"
    ))
    .expect("set");
    assert!(matches!(
        PostgresStore::open(&url, Some(&schema)),
        Err(StoreError::TooNew { found: 999, .. })
    ));
}

/// Two stores in two schemas of one database know nothing of each other.
#[test]
fn schemas_keep_stores_apart() {
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let (a, b) = (schemas.open(), schemas.open());
    a.write(&mut |tx| tx.put(&tool(1), &prov("a"), PutMode::Source).map(|_| ()))
        .expect("write");
    assert!(a.get(tool(1).id()).expect("get").is_some());
    assert!(b.get(tool(1).id()).expect("get").is_none());
    assert!(b.search("number", 10).expect("search").is_empty());
    assert_eq!(b.stats().expect("stats").versions, 0);
}

/// Writers of one store, even through separate handles (as separate processes would be), do not interleave: a
/// transaction's rows get consecutive sequence numbers, so numbers become visible in the order they were given.
#[test]
fn writers_take_turns() {
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    let a = PostgresStore::open(&url, Some(&schema)).expect("open");
    let b = PostgresStore::open(&url, Some(&schema)).expect("open");
    let write = |s: &PostgresStore, base: usize| {
        s.write(&mut |tx| {
            for i in base..base + 20 {
                tx.put(&tool(i), &prov("w"), PutMode::Source)?;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Ok(())
        })
    };
    std::thread::scope(|sc| {
        let ta = sc.spawn(|| write(&a, 0));
        let tb = sc.spawn(|| write(&b, 100));
        ta.join().expect("thread").expect("write a");
        tb.join().expect("thread").expect("write b");
    });
    let seqs = |base: usize| -> Vec<i64> {
        (base..base + 20)
            .map(|i| a.get(tool(i).id()).expect("get").expect("stored").seq)
            .collect()
    };
    for base in [0, 100] {
        let s = seqs(base);
        assert!(
            s.windows(2).all(|w| w[1] == w[0] + 1),
            "writer {base}'s rows interleaved with the other's: {s:?}"
        );
    }
    assert_eq!(a.max_seq().expect("max"), 40);
}

/// A long write's commit points make its parts durable and visible to other handles while it goes on.
#[test]
fn commit_points_make_parts_durable() {
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    let s = PostgresStore::open(&url, Some(&schema)).expect("open");
    let other = PostgresStore::open(&url, Some(&schema)).expect("open");
    let r = s.write(&mut |tx| {
        tx.put(&tool(1), &prov("p"), PutMode::Source)?;
        tx.commit_point()?;
        assert!(other.get(tool(1).id())?.is_some());
        assert_eq!(other.search("number", 10)?.len(), 1);
        tx.put(&tool(2), &prov("p"), PutMode::Source)?;
        assert!(other.get(tool(2).id())?.is_none(), "not committed yet");
        Err(StoreError::Aborted("test".into()))
    });
    assert!(r.is_err());
    assert!(s.get(tool(1).id()).expect("get").is_some());
    assert!(s.get(tool(2).id()).expect("get").is_none());
    assert!(s.check().expect("check").is_empty());
}

/// A server that cannot be reached, or a connection string that does not parse, is a clear error that names
/// where, and never the password.
#[test]
fn bad_connections_are_named_without_secrets() {
    let e = PostgresStore::open("postgres://vigil:s3cret@127.0.0.1:1/kb", None)
        .err()
        .expect("nothing listens on port 1");
    let msg = e.to_string();
    assert!(msg.contains("127.0.0.1:1/kb"), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
    let e = PostgresStore::open("postgres://vigil:s3cret@host/kb?bogus=1", None)
        .err()
        .expect("an unknown option");
    let msg = e.to_string();
    assert!(!msg.contains("s3cret"), "{msg}");
}

/// Whatever an analyst types, search answers (never a tsquery syntax error), and a stored name is found by any of
/// its words.
#[test]
fn search_takes_any_text() {
    use proptest::prelude::*;
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let s = schemas.open();
    s.write(&mut |tx| tx.put(&tool(7), &prov("p"), PutMode::Source).map(|_| ()))
        .expect("write");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    });
    runner
        .run(&any::<String>(), |q| {
            prop_assert!(s.search(&q, 5).is_ok(), "{q:?}");
            Ok(())
        })
        .expect("any text");
    runner
        .run(
            &("[&|!():*<>'\" \\\\-]{0,3}", "[&|!():*<>'\" \\\\-]{0,3}"),
            |(a, b)| {
                let q = format!("{a}number{b}");
                let hits = s
                    .search(&q, 5)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(hits.len(), 1, "{:?}", q);
                Ok(())
            },
        )
        .expect("operators around a word");
}

/// Input PostgreSQL's TEXT and tsvector cannot take as it is (a NUL in a warning list's description or a file
/// name, a description of megabytes) is stored anyway, as SQLite stores it: an error there would abort the whole
/// write.
#[test]
fn nul_and_huge_texts_are_stored() {
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let s = schemas.open();
    let wl = vigil_store::WarningList {
        name: "nul\0list".into(),
        description: "a \0 in the middle".into(),
        list_type: "string".into(),
        version: 1,
        entries: vec!["x\0y".into()],
        matching_attributes: vec!["domain".into()],
    };
    let mut big = tool(9).to_value();
    big["description"] = json!(format!(
        "openingword {}",
        (0..400_000).map(|i| format!("w{i} ")).collect::<String>()
    ));
    let big = StixObject::from_value(big).expect("fixture");
    let file_prov = Provenance {
        file: Some("dir/\0name.json".into()),
        ..prov("p")
    };
    s.write(&mut |tx| {
        tx.put_warninglist(&wl)?;
        tx.put(&big, &file_prov, PutMode::Source)?;
        Ok(())
    })
    .expect("stored");
    let lists = s.warninglists().expect("lists");
    assert_eq!(
        lists[0].entries,
        vec!["x\0y".to_string()],
        "entries are JSON: kept exactly"
    );
    assert_eq!(lists[0].description, "a \u{FFFD} in the middle");
    assert_eq!(s.search("openingword", 5).expect("search").len(), 1);
    assert_eq!(
        s.get(big.id())
            .expect("get")
            .expect("stored")
            .object
            .str("description")
            .map(str::len),
        big.str("description").map(str::len)
    );
    assert!(s.check().expect("check").is_empty());
}

/// `url` with libpq-style parameters added (`key=value` pairs, or a URL's query).
fn with_params(url: &str, params: &[(&str, &str)]) -> String {
    let mut out = url.to_string();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        for (i, (k, v)) in params.iter().enumerate() {
            let sep = if i == 0 && !url.contains('?') {
                '?'
            } else {
                '&'
            };
            out.push_str(&format!("{sep}{k}={}", v.replace('/', "%2F")));
        }
    } else {
        for (k, v) in params {
            out.push_str(&format!(" {k}='{v}'"));
        }
    }
    out
}

/// The connection is encrypted (or not) as `sslmode` says, and `verify-ca`/`verify-full` check the server's
/// certificate against `sslrootcert`. Needs a server with `ssl = on` whose certificate file this process can read
/// (the local one: Debian's self-signed `ssl-cert-snakeoil` for `localhost`); skipped, loudly, otherwise.
#[test]
fn connections_are_encrypted_as_sslmode_says() {
    let Some(url) = url() else { return };
    let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let show = |c: &mut postgres::Client, what: &str| -> String {
        c.query_one(&format!("SHOW {what}"), &[])
            .map(|r| r.get(0))
            .unwrap_or_default()
    };
    let (ssl, cert) = (show(&mut c, "ssl"), show(&mut c, "ssl_cert_file"));
    if ssl != "on" || !std::path::Path::new(&cert).is_file() {
        eprintln!(
            "\n*** SKIPPED: the server at {url} has ssl = {ssl} or its certificate ({cert}) is not readable here ***\n"
        );
        return;
    }
    let schemas = Schemas::new(&url);
    let open = |params: &[(&str, &str)]| {
        PostgresStore::open(&with_params(&url, params), Some(&schemas.fresh()))
    };
    for (params, encrypted) in [
        (vec![], true),
        (vec![("sslmode", "prefer")], true),
        (vec![("sslmode", "require")], true),
        (vec![("sslmode", "disable")], false),
        // The self-signed certificate is its own CA.
        (
            vec![("sslmode", "verify-ca"), ("sslrootcert", cert.as_str())],
            true,
        ),
    ] {
        let s = open(&params).unwrap_or_else(|e| panic!("{params:?}: {e}"));
        assert_eq!(s.encrypted().expect("pg_stat_ssl"), encrypted, "{params:?}");
        s.write(&mut |tx| tx.put(&tool(1), &prov("p"), PutMode::Source).map(|_| ()))
            .expect("write");
        assert!(s.get(tool(1).id()).expect("read").is_some());
    }
    // Over the server's Unix-domain socket TLS is not used (nor offered by the server), whatever sslmode says.
    let socket = std::path::Path::new("/var/run/postgresql/.s.PGSQL.5432");
    if url == DEFAULT_URL && socket.exists() {
        for mode in ["prefer", "verify-full"] {
            let u = format!("host=/var/run/postgresql user=postgres dbname=test sslmode={mode}");
            let s = PostgresStore::open(&u, Some(&schemas.fresh()))
                .unwrap_or_else(|e| panic!("{u}: {e}"));
            assert!(!s.encrypted().expect("pg_stat_ssl"), "{u}");
        }
    } else {
        eprintln!("\n*** the Unix-domain socket not tested: not the default local server ***\n");
    }
    // No CA to check against: refused before connecting, saying what to add.
    let e = open(&[
        ("sslmode", "verify-full"),
        ("sslrootcert", "/nonexistent/root.crt"),
    ])
    .err()
    .expect("no such CA file");
    assert!(e.to_string().contains("/nonexistent/root.crt"), "{e}");
    // A CA that did not sign the server's certificate: refused.
    let e = open(&[("sslmode", "verify-ca"), ("sslrootcert", "system")])
        .err()
        .expect("the public CAs did not sign a self-signed certificate");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    if !(url.contains("host=127.0.0.1") || url.contains("@127.0.0.1")) {
        eprintln!("\n*** verify-full not tested: the test server is not at 127.0.0.1 ***\n");
        return;
    }
    let by_name = url.replace("127.0.0.1", "localhost");
    let full = |u: &str| {
        PostgresStore::open(
            &with_params(u, &[("sslmode", "verify-full"), ("sslrootcert", &cert)]),
            Some(&schemas.fresh()),
        )
    };
    match full(&by_name) {
        Ok(s) => {
            assert!(s.encrypted().expect("pg_stat_ssl"));
            // The certificate names `localhost`, not the address: verify-full refuses the same server by address.
            let e = full(&url)
                .err()
                .expect("the certificate does not name 127.0.0.1");
            assert!(e.to_string().contains("not valid for name"), "{e}");
        }
        Err(e) if e.to_string().contains("not valid for name") => {
            eprintln!("\n*** verify-full not tested: the server's certificate does not name localhost ({e}) ***\n");
        }
        Err(e) => panic!("verify-full by the name localhost: {e}"),
    }
}

#[test]
fn postgres_passes_member_conformance() {
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    conformance::run_members(&|| schemas.open()).expect("member conformance");
}

/// Caches key on the change counter: a commit through another handle on the same schema (as another process
/// would make) moves it, and so does our own.
#[test]
fn change_counter_sees_other_connections() {
    use vigil_store::MemberStore;
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    let a = PostgresStore::open(&url, Some(&schema)).expect("open");
    let b = PostgresStore::open(&url, Some(&schema)).expect("open second");
    let before = a.change_counter().expect("counter");
    assert_eq!(a.change_counter().expect("counter"), before);
    b.add_eligible("XK", "test")
        .expect("write from another handle");
    assert_ne!(
        a.change_counter().expect("counter"),
        before,
        "a commit by another handle is seen"
    );
    let mid = a.change_counter().expect("counter");
    a.add_eligible("AD", "test").expect("own write");
    assert_ne!(
        a.change_counter().expect("counter"),
        mid,
        "our own writer's commit is seen too"
    );
}

/// What the member conformance suite leaves out (version selection, id and time filters, `share_added_since`),
/// answered the same by both backends on the same writes.
#[test]
fn member_pages_match_sqlite() {
    use vigil_store::members::{MemberStore, PageQuery, PageSource, ReadScope, VersionSel};
    fn summary<S: Store + MemberStore>(s: &S) -> Vec<String> {
        let mut v2 = tool(1).to_value();
        v2["modified"] = json!("2021-01-01T00:00:00.000Z");
        let v2 = StixObject::from_value(v2).expect("fixture");
        for o in [tool(1), v2.clone(), tool(2)] {
            s.write(&mut |tx| tx.put(&o, &prov("p"), PutMode::Source).map(|_| ()))
                .expect("write");
        }
        s.member_feed_put(7, &[tool(1), v2.clone(), tool(3)])
            .expect("feed");
        let scope = ReadScope {
            all: false,
            open_max: Some(vigil_model::Tlp::Green),
            member: Some(7),
            default_tlp: vigil_model::Tlp::Amber,
        };
        let base = PageQuery {
            source: PageSource::Shared {
                tlp_min: vigil_model::Tlp::Clear,
                tlp_max: vigil_model::Tlp::Red,
            },
            scope: ReadScope { all: true, ..scope },
            after_seq: 0,
            added_after: None,
            types: vec![],
            ids: vec![],
            versions: VersionSel::Last,
            limit: 10,
        };
        let out = RefCell::new(Vec::new());
        let show = |what: &str, q: &PageQuery| {
            let p = s.page(q).expect("page");
            let rows: Vec<String> = p
                .rows
                .iter()
                .map(|r| format!("{}@{}", r.id, r.version))
                .collect();
            out.borrow_mut()
                .push(format!("{what}: {rows:?} more={}", p.more));
            p
        };
        let all = show(
            "all versions",
            &PageQuery {
                versions: VersionSel::All,
                ..base.clone()
            },
        );
        show("last", &base);
        show(
            "first",
            &PageQuery {
                versions: VersionSel::First,
                ..base.clone()
            },
        );
        show(
            "exact",
            &PageQuery {
                versions: VersionSel::Exact(vec![all.rows[0].version.clone()]),
                ..base.clone()
            },
        );
        show(
            "ids",
            &PageQuery {
                ids: vec![tool(2).id().to_string()],
                ..base.clone()
            },
        );
        show(
            "types",
            &PageQuery {
                types: vec!["malware".into()],
                ..base.clone()
            },
        );
        show(
            "added after the first",
            &PageQuery {
                added_after: Some(all.rows[0].added_at.clone()),
                versions: VersionSel::All,
                ..base.clone()
            },
        );
        show(
            "added after the last",
            &PageQuery {
                added_after: all.rows.last().map(|r| r.added_at.clone()),
                ..base.clone()
            },
        );
        show(
            "limit 1",
            &PageQuery {
                limit: 1,
                ..base.clone()
            },
        );
        show(
            "unshared, as member 7",
            &PageQuery {
                scope,
                ..base.clone()
            },
        );
        let feed = PageQuery {
            source: PageSource::Member { member: 7 },
            scope,
            ..base.clone()
        };
        show("feed last", &feed);
        show(
            "feed first",
            &PageQuery {
                versions: VersionSel::First,
                ..feed.clone()
            },
        );
        out.borrow_mut().push(format!(
            "shared since 0: {}",
            s.share_added_since(0, 7, vigil_model::Tlp::Amber)
                .expect("share")
        ));
        out.borrow_mut().push(format!(
            "again: {}",
            s.share_added_since(0, 7, vigil_model::Tlp::Amber)
                .expect("share")
        ));
        out.borrow_mut().push(format!(
            "as GREEN by default: {}",
            s.share_added_since(0, 8, vigil_model::Tlp::Green)
                .expect("share")
        ));
        show("shared, as member 7", &PageQuery { scope, ..base });
        out.into_inner()
    }
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let d = tempfile::tempdir().expect("tempdir");
    let lite = summary(&vigil_store::sqlite::SqliteStore::open(d.path()).expect("open sqlite"));
    let pg = summary(&schemas.open());
    // Sequence numbers and timestamps differ between the stores; ids and versions must not.
    assert_eq!(pg, lite);
    assert!(
        lite.iter().any(|l| l.starts_with("shared since 0: 2")),
        "{lite:#?}"
    );
}

#[test]
fn postgres_passes_delivery_conformance() {
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    conformance::run_delivery(&|| schemas.open()).expect("delivery conformance");
}

fn notice(id: &str, member: i64, fp: &str) -> vigil_store::NoticeRecord {
    vigil_store::NoticeRecord {
        id: id.into(),
        member_id: member,
        vulnerability: format!("CVE-2024-{id}"),
        version: 0,
        status: "new".into(),
        priority: "act".into(),
        deadline: Some("2026-12-01".into()),
        fingerprint: fp.into(),
        tlp: Some(vigil_model::Tlp::AmberStrict),
        json: "{}".into(),
        created_at: String::new(),
        updated_at: String::new(),
        acknowledged_at: None,
        resolved_at: None,
        status_note: None,
    }
}

/// As the SQLite backend's unit test of the same name: the vulnerability is matched without regard to case.
#[test]
fn notice_counts_per_vulnerability() {
    use vigil_store::VulnStore;
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let s = schemas.open();
    assert_eq!(s.notice_counts("CVE-2024-7").expect("counts"), (0, 0));
    let with_cve = |id: &str, member: i64, cve: &str| vigil_store::NoticeRecord {
        vulnerability: cve.into(),
        ..notice(id, member, "f")
    };
    for (id, member, cve) in [
        ("a", 2, "CVE-2024-7"),
        ("b", 3, "cve-2024-7"),
        ("c", 4, "CVE-2024-8"),
    ] {
        s.put_notice_version(&with_cve(id, member, cve), "x")
            .expect("notice");
    }
    assert_eq!(s.notice_counts("CVE-2024-7").expect("counts"), (2, 2));
    s.set_notice_status("b", Some(3), "resolved", "patched")
        .expect("resolve");
    assert_eq!(s.notice_counts("cve-2024-7").expect("counts"), (2, 1));
    assert_eq!(s.notice_counts("CVE-2024-8").expect("counts"), (1, 1));
}

/// As the SQLite backend's unit test of the same name: versions, status changes, tenancy, inventories replaced by
/// name, advisory outcomes and EPSS change counts.
#[test]
fn notices_versions_status_and_tenancy() {
    use vigil_store::{AdvisoryRow, NoticeFilter, PutOutcome, VulnStore};
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let s = schemas.open();
    let a = s
        .put_notice_version(&notice("1", 2, "f1"), "first notice")
        .expect("notice");
    assert_eq!((a.version, a.status.as_str()), (1, "new"));
    s.put_notice_version(&notice("2", 3, "g1"), "first notice")
        .expect("notice");
    // Another member cannot see, acknowledge or overwrite it.
    assert!(s.notice("1", Some(3)).expect("notice").is_none());
    assert!(s
        .set_notice_status("1", Some(3), "acknowledged", "x")
        .expect("status")
        .is_none());
    assert!(s.put_notice_version(&notice("1", 3, "f9"), "x").is_err());
    let only2 = s
        .notices(&NoticeFilter {
            member: Some(2),
            status: None,
        })
        .expect("notices");
    assert_eq!(only2.len(), 1);
    assert_eq!(only2[0].member_id, 2);
    let acked = s
        .set_notice_status("1", Some(2), "acknowledged", "by member 2")
        .expect("status")
        .expect("member 2's notice");
    assert_eq!(acked.status, "acknowledged");
    assert!(acked.acknowledged_at.is_some());
    // A new version reopens it.
    let v2 = s
        .put_notice_version(&notice("1", 2, "f2"), "entered KEV")
        .expect("notice");
    assert_eq!((v2.version, v2.status.as_str()), (2, "new"));
    assert_eq!(v2.created_at, a.created_at);
    let vs = s.notice_versions("1").expect("versions");
    assert_eq!(vs.len(), 2);
    assert_eq!(vs[1].reason, "entered KEV");
    assert!(s.set_notice_status("1", None, "bogus", "").is_err());
    // The failed write left the store usable and the notice as it was.
    assert_eq!(
        s.notice("1", None).expect("notice").map(|n| n.status),
        Some("new".to_string())
    );
    assert!(s.refresh_notice("1", 2, "{\"epss\":0.5}").expect("refresh"));
    // (Another member's refresh is not tried here: both backends still rewrite the version row then, see
    // `refresh_notice`.)
    assert!(!s.refresh_notice("9", 2, "{}").expect("refresh"));
    let vs = s.notice_versions("1").expect("versions");
    assert_eq!(
        (vs[0].json.as_str(), vs[1].json.as_str()),
        ("{}", "{\"epss\":0.5}")
    );
    // Inventories are per member and replaced by name.
    s.put_inventory(2, "bom.json", "cyclonedx", 3, 0, b"{}")
        .expect("inventory");
    let again = s
        .put_inventory(2, "bom.json", "cyclonedx", 4, 1, b"{ }")
        .expect("inventory");
    assert_eq!(
        (again.components, again.content.as_slice()),
        (4, &b"{ }"[..])
    );
    s.put_inventory(3, "bom.json", "cyclonedx", 1, 0, b"{}")
        .expect("inventory");
    let inv = s.inventories(Some(2)).expect("inventories");
    assert_eq!((inv.len(), inv[0].components), (1, 4));
    assert_eq!(s.inventories(None).expect("inventories").len(), 2);
    assert!(s.remove_inventory(3, "bom.json").expect("remove"));
    assert!(!s.remove_inventory(3, "bom.json").expect("remove"));
    // Advisories: added, unchanged, updated.
    let row = AdvisoryRow {
        key: "kev:CVE-1".into(),
        source: "kev".into(),
        canonical: "CVE-1".into(),
        tlp: None,
        json: "{\"a\":1}".into(),
    };
    let mut row2 = row.clone();
    row2.json = "{\"a\":2}".into();
    assert_eq!(
        s.put_advisories(std::slice::from_ref(&row))
            .expect("advisories"),
        vec![PutOutcome::Added]
    );
    assert_eq!(
        s.put_advisories(&[row, row2]).expect("advisories"),
        vec![PutOutcome::Unchanged, PutOutcome::Updated]
    );
    assert_eq!(
        s.put_epss(&[("CVE-1".into(), 0.5, 0.9)], None)
            .expect("epss"),
        1
    );
    assert_eq!(
        s.put_epss(&[("CVE-1".into(), 0.5, 0.9)], None)
            .expect("epss"),
        0
    );
    assert_eq!(s.epss_of("cve-1").expect("epss"), Some((0.5, 0.9, None)));
}

/// The bulk writes (many rows per statement) give the outcomes SQLite's row-by-row writes give, a key repeated
/// in one call included, and both backends list in the same (byte) order whatever the database's collation.
#[test]
fn vuln_tables_read_as_in_sqlite() {
    use vigil_store::{AdvisoryRow, NoticeFilter, VulnStore};
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let pg = schemas.open();
    let dir = tempfile::tempdir().expect("tempdir");
    let lite = vigil_store::sqlite::SqliteStore::open(dir.path()).expect("open");
    let adv = |key: &str, json: &str| AdvisoryRow {
        key: key.into(),
        source: key.split(':').next().unwrap_or("").into(),
        canonical: key.into(),
        tlp: Some(vigil_model::Tlp::Green),
        json: json.into(),
    };
    let mut rows: Vec<AdvisoryRow> = (0..2500)
        .map(|i| adv(&format!("osv:GHSA-{i:05}"), "{}"))
        .collect();
    rows.extend([
        adv("osv:b", "1"),
        adv("osv:B", "1"),
        adv("osv:_x", "1"),
        adv("osv:b", "2"),
        adv("osv:b", "2"),
        adv("osv:b", "1"),
    ]);
    let stores: [&dyn VulnStore; 2] = [&pg, &lite];
    let mut seen = Vec::new();
    for s in stores {
        let first = s.put_advisories(&rows).expect("advisories");
        let second = s.put_advisories(&rows[2498..]).expect("advisories");
        let mut listed = Vec::new();
        s.advisories(&mut |r| {
            listed.push((r.key, r.json, r.tlp));
            Ok(())
        })
        .expect("advisories");
        let scores = vec![
            ("CVE-1".to_string(), 0.1, 0.2),
            ("CVE-2".to_string(), 0.3, 0.4),
            ("CVE-1".to_string(), 0.5, 0.6),
            ("CVE-1".to_string(), 0.5, 0.6),
        ];
        let changed = s.put_epss(&scores, Some("2026-03-01")).expect("epss");
        let of = s.epss_of("CVE-1").expect("epss");
        for (id, member, cve) in [("z", 5, "CVE-9"), ("a", 5, "CVE-8"), ("B", 5, "CVE-7")] {
            s.put_notice_version(
                &vigil_store::NoticeRecord {
                    vulnerability: cve.into(),
                    ..notice(id, member, "f")
                },
                "first notice",
            )
            .expect("notice");
        }
        let notices: Vec<String> = s
            .notices(&NoticeFilter::default())
            .expect("notices")
            .into_iter()
            .map(|n| n.id)
            .collect();
        seen.push((
            first,
            second,
            listed,
            s.advisory_counts().expect("counts"),
            changed,
            of,
            notices,
        ));
    }
    assert_eq!(seen[0], seen[1]);
}

#[test]
fn postgres_passes_web_conformance() {
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    conformance::run_web(&|| schemas.open()).expect("web conformance");
}

/// Dashboard reads over the same writes, answered the same by both backends: counts by every dimension (sources of
/// later versions, revoked objects, unmarked ones, every age bucket), scans in both orders and with a limit, and
/// links through either end, for an unrestricted reader and for members with and without shares.
#[test]
fn web_reads_match_sqlite() {
    use vigil_model::Tlp;
    use vigil_store::members::{MemberStore, ReadScope};
    use vigil_store::WebStore;
    fn marked(mut v: serde_json::Value, tlp: Option<Tlp>) -> StixObject {
        if let Some(t) = tlp {
            v["object_marking_refs"] = json!([t.marking_id()]);
        }
        StixObject::from_value(v).expect("fixture")
    }
    fn summary<S: Store + MemberStore + WebStore>(s: &S) -> Vec<String> {
        let put = |o: &StixObject, source: &str| {
            s.write(&mut |tx| tx.put(o, &prov(source), PutMode::Source).map(|_| ()))
                .expect("write");
        };
        let tlps = [
            Some(Tlp::Clear),
            Some(Tlp::Green),
            Some(Tlp::Amber),
            Some(Tlp::AmberStrict),
            Some(Tlp::Red),
            None,
        ];
        // Modified dates falling in every age bucket as seen from `now`.
        let dates = [
            "2026-05-31T12:00:00Z",
            "2026-05-28T00:00:00Z",
            "2026-05-10T00:00:00Z",
            "2025-09-01T00:00:00Z",
            "2020-01-01T00:00:00Z",
        ];
        let now = "2026-06-01T00:00:00Z";
        let mut ids = Vec::new();
        for i in 0..12 {
            let ty = if i % 3 == 0 { "malware" } else { "tool" };
            let id = format!("{ty}--3f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6c{i:02}");
            let mut v = json!({"type": ty, "spec_version": "2.1", "id": id,
                "created": "2020-01-01T00:00:00Z", "modified": dates[i % dates.len()],
                "name": format!("{ty} {i}")});
            if ty == "malware" {
                v["is_family"] = json!(false);
            }
            if i == 11 {
                v["revoked"] = json!(true);
            }
            put(
                &marked(v, tlps[i % tlps.len()]),
                ["feed-a", "feed-b"][i % 2],
            );
            ids.push(id);
        }
        // A later version from another source: the source counted is the latest version's first.
        let later = json!({"type": "tool", "spec_version": "2.1", "id": ids[1],
            "created": "2020-01-01T00:00:00Z", "modified": "2026-05-31T18:00:00Z", "name": "tool 1"});
        put(&marked(later, Some(Tlp::Green)), "feed-c");
        // Relationships between the first objects, some revoked, in two months and several TLPs.
        for i in 0..10 {
            let mut v = json!({"type": "relationship", "spec_version": "2.1",
                "id": format!("relationship--3f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6d{i:02}"),
                "created": "2024-03-01T00:00:00Z",
                "modified": if i % 2 == 0 { "2024-03-05T00:00:00Z" } else { "2024-04-05T00:00:00Z" },
                "relationship_type": "uses", "source_ref": ids[i % 3], "target_ref": ids[3 + i % 4]});
            if i == 9 {
                v["revoked"] = json!(true);
            }
            put(&marked(v, tlps[i % tlps.len()]), "feed-a");
        }
        for id in [&ids[2], &ids[4], &ids[9]] {
            s.share(id, 21).expect("share");
        }
        s.share("relationship--3f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6d02", 21)
            .expect("share");
        let member = |m| ReadScope {
            all: false,
            open_max: Some(Tlp::Green),
            member: Some(m),
            default_tlp: Tlp::Amber,
        };
        let scopes = [
            (
                "all",
                ReadScope {
                    all: true,
                    open_max: None,
                    member: None,
                    default_tlp: Tlp::Amber,
                },
            ),
            ("member 21", member(21)),
            ("member 22", member(22)),
            (
                "open to GREEN, unmarked as CLEAR",
                ReadScope {
                    all: false,
                    open_max: Some(Tlp::Green),
                    member: None,
                    default_tlp: Tlp::Clear,
                },
            ),
        ];
        let mut out = Vec::new();
        let ends: Vec<&str> = ids.iter().map(String::as_str).collect();
        for (name, scope) in &scopes {
            out.push(format!(
                "{name} counts: {:?}",
                s.scoped_counts(scope, now).expect("counts")
            ));
            for (types, newest, limit) in [
                (vec![], false, None),
                (vec!["tool"], true, None),
                (vec!["tool", "malware"], true, Some(3)),
                (vec!["malware", "relationship"], false, Some(4)),
            ] {
                let mut seen = Vec::new();
                s.scan_visible(scope, &types, newest, limit, &mut |o| {
                    seen.push(format!("{}@{}", o.object.id(), o.object.version()));
                    Ok(())
                })
                .expect("scan");
                out.push(format!(
                    "{name} scan {types:?} newest={newest} limit={limit:?}: {seen:?}"
                ));
            }
            for from_source in [true, false] {
                let mut seen = Vec::new();
                s.scan_links(scope, &ends[..5], from_source, &mut |o| {
                    seen.push(o.object.id().to_string());
                    Ok(())
                })
                .expect("links");
                out.push(format!("{name} links from_source={from_source}: {seen:?}"));
                for len in [4, 7] {
                    let mut counts = s
                        .link_counts(scope, &ends, from_source, len)
                        .expect("link counts");
                    // SQLite's order follows its hashes of the ends; only the set must agree.
                    counts.sort();
                    out.push(format!(
                        "{name} link counts from_source={from_source} len={len}: {counts:?}"
                    ));
                }
            }
        }
        out
    }
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let d = tempfile::tempdir().expect("tempdir");
    let lite = summary(&vigil_store::sqlite::SqliteStore::open(d.path()).expect("open sqlite"));
    let pg = summary(&schemas.open());
    assert_eq!(pg, lite);
    // The fixture reaches what it means to: every age bucket, revoked objects left out, and AMBER (a tool and a
    // relationship) seen only by the member they were shared with.
    assert!(
        lite.iter().any(|l| l.starts_with("all counts:")
            && !l.contains(", 0)")
            && l.contains("total: 20")),
        "{lite:#?}"
    );
    assert!(
        lite.iter()
            .any(|l| l.starts_with("member 21 counts:") && l.contains("\"amber\": 2")),
        "{lite:#?}"
    );
    assert!(
        lite.iter()
            .any(|l| l.starts_with("member 22 counts:") && !l.contains("amber")),
        "{lite:#?}"
    );
}

/// User names fold case as SQLite's `NOCASE` does, ASCII letters only, so that the same names are one person or
/// two on either backend; a name with NUL (a login form passes what was typed) is simply nobody.
#[test]
fn user_names_fold_like_sqlite() {
    use vigil_store::WebStore;
    fn summary<S: WebStore>(s: &S) -> Vec<String> {
        let mut out = Vec::new();
        for name in ["Émile", "éMILE", "émile", "EMILE", "ÉMILE"] {
            let added = s.add_user(1, name, name, "analyst", "$argon2id$x").is_ok();
            out.push(format!("add {name}: {added}"));
        }
        for name in ["émILE", "ÉmilE", "emile", "Emile", "nobody", "émile\0"] {
            let found = s
                .user_by_name(name)
                .expect("user by name")
                .map(|u| u.username);
            out.push(format!("find {name:?}: {found:?}"));
        }
        out.push(format!(
            "remove ÉMILE: {}",
            s.remove_user("ÉMILE").expect("remove")
        ));
        out.push(format!(
            "remove NUL: {}",
            s.remove_user("x\0").expect("remove")
        ));
        out.push(format!(
            "left: {:?}",
            s.users(None)
                .expect("users")
                .into_iter()
                .map(|u| u.username)
                .collect::<Vec<_>>()
        ));
        out
    }
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let d = tempfile::tempdir().expect("tempdir");
    let lite = summary(&vigil_store::sqlite::SqliteStore::open(d.path()).expect("open sqlite"));
    let pg = summary(&schemas.open());
    assert_eq!(pg, lite);
    assert!(lite.contains(&"add éMILE: true".to_string()), "{lite:#?}");
    assert!(lite.contains(&"add ÉMILE: false".to_string()), "{lite:#?}");
}

#[test]
fn postgres_passes_feed_conformance() {
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    conformance::run_feeds(&|| schemas.open()).expect("feed conformance");
}

/// Two servers on one store, each with its own connections, claiming one feed at the same moment: each round, one
/// takes the lease and the other is told who has it and until when.
#[test]
fn feed_claims_race_across_servers() {
    use vigil_store::{FeedClaim, FeedRecord, FeedStore};
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    let servers = [
        PostgresStore::open(&url, Some(&schema)).expect("open one"),
        PostgresStore::open(&url, Some(&schema)).expect("open two"),
    ];
    servers[0]
        .put_feed(&FeedRecord {
            token: None,
            tlp: None,
            ..conformance::feed_rec("shared")
        })
        .expect("put feed");
    let now = chrono::Utc::now();
    let until = now + chrono::Duration::minutes(10);
    for round in 0..50 {
        let start = std::sync::Barrier::new(servers.len());
        let claims: Vec<(String, FeedClaim)> = std::thread::scope(|sc| {
            let threads: Vec<_> = servers
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let start = &start;
                    sc.spawn(move || {
                        let holder = format!("server-{i}-round-{round}");
                        start.wait();
                        let c = s.claim_feed("shared", &holder, now, until).expect("claim");
                        (holder, c)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("claiming thread"))
                .collect()
        });
        let winners: Vec<&str> = claims
            .iter()
            .filter(|(_, c)| matches!(c, FeedClaim::Taken(_)))
            .map(|(h, _)| h.as_str())
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {claims:?}");
        let lost = claims
            .iter()
            .find(|(h, _)| h != winners[0])
            .map(|(_, c)| c.clone());
        match lost {
            Some(FeedClaim::Held(l)) => {
                assert_eq!(l.holder, winners[0], "round {round}");
                assert_eq!(l.until, vigil_model::time::sort_key(&until));
            }
            other => panic!("round {round}: the loser got {other:?}"),
        }
        assert!(servers[round % 2]
            .release_feed("shared", winners[0])
            .expect("release"));
    }
}

/// What the non-knowledge-base tables answer through the store traits, as text (records are compared whole).
fn everything_else<S: vigil_store::ServerStore>(s: &S) -> String {
    use vigil_store::{DeliveryFilter, NoticeFilter};
    let mut advisories = Vec::new();
    s.advisories(&mut |a| {
        advisories.push(format!("{a:?}"));
        Ok(())
    })
    .expect("advisories");
    let feeds = s.feeds().expect("feeds");
    let cursors: Vec<_> = feeds
        .iter()
        .map(|f| s.feed_cursors(&f.name).expect("cursors"))
        .collect();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{advisories:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{feeds:?}\n{cursors:?}\n{:?}",
        s.members().expect("members"),
        s.tokens(None).expect("tokens"),
        s.audit_log(10_000).expect("audit"),
        s.eligibility_extra().expect("eligibility"),
        s.epss().expect("epss"),
        s.inventories(None).expect("inventories"),
        s.notices(&NoticeFilter::default()).expect("notices"),
        s.channels(None).expect("channels"),
        s.deliveries(&DeliveryFilter::default()).expect("deliveries"),
        s.users(None).expect("users"),
        s.warninglists().expect("warning lists"),
    )
}

/// Rows per table of an embedded store, but for the provenance sets (rows written inline by older schemas get one
/// when copied back) and the full-text index (its shadow tables depend on how it was filled).
fn sqlite_rows(s: &vigil_store::sqlite::SqliteStore) -> Vec<(String, i64)> {
    let c = rusqlite::Connection::open(s.path()).expect("raw open");
    let names: Vec<String> = c
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'fts%' AND name NOT LIKE 'sqlite_%'
             AND name NOT IN ('prov_sets', 'feed_leases') ORDER BY 1",
        )
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
            (t, n)
        })
        .collect()
}

/// `vigil store copy`'s engine on embedded stores that the conformance suites filled (versions, derived objects,
/// graph, pending links, warning lists, members, tokens, inboxes, members' collections, notices, deliveries, users,
/// sessions, feeds): the copy answers as the original through every trait, keeps row numbers and carries on after
/// them (the same writes to both give the same rows), and a second copy into it is refused without touching it.
#[test]
fn embedded_stores_copy_into_postgres_alike() {
    use vigil_store::sqlite::SqliteStore;
    use vigil_store::{copy, FeedStore};
    let Some(url) = url() else { return };
    let schemas = Schemas::new(&url);
    type Fill = fn(&SqliteStore) -> Result<(), StoreError>;
    let fills: &[(&str, Fill)] = &[
        ("versions", |s| conformance::versions(s)),
        ("derived", |s| conformance::derived(s)),
        ("graph", |s| conformance::lookup_search_graph(s)),
        ("pending", |s| conformance::pending_stats(s)),
        ("tlp", |s| conformance::tlp_scan(s)),
        ("warninglists", |s| conformance::warninglists(s)),
        ("sourced", |s| conformance::sourced(s)),
        ("supersede", |s| conformance::supersede(s)),
        // Rows as older schemas wrote them: JSON as text, provenance and the time added inline.
        ("old rows", |s| {
            conformance::versions(s)?;
            let c = rusqlite::Connection::open(s.path())?;
            let (seq, id): (i64, String) =
                c.query_row("SELECT min(seq), stix_id FROM objects", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            let json = s
                .versions(&id)?
                .into_iter()
                .find(|o| o.seq == seq)
                .expect("row")
                .object
                .to_json();
            c.execute(
                "UPDATE objects SET json = ?1, prov = NULL, source = 'old-source', ingested_at = '2025-01-01T00:00:00Z',
                    file = 'old.json', added = NULL, added_at = '2025-01-01T00:00:00.000000Z' WHERE seq = ?2",
                rusqlite::params![json, seq],
            )?;
            // The planner's statistics tables (`sqlite_stat1`) are SQLite's, not the store's.
            c.execute_batch("ANALYZE")?;
            Ok(())
        }),
        ("members", |s| conformance::members_tokens(s)),
        ("scoped", |s| conformance::scoped_reads(s)),
        ("inbox", |s| conformance::inbox(s)),
        ("member_feed", |s| conformance::member_feed(s)),
        ("deliveries", |s| conformance::deliveries(s)),
        ("users", |s| conformance::users_sessions(s)),
        ("feeds", |s| {
            let mut f = conformance::feed_rec("kev");
            f.openpgp_keys = vec!["0123456789ABCDEF0123456789ABCDEF01234567".into()];
            f.require_signature = true;
            s.put_feed(&f)?;
            s.put_feed_cursor(
                "kev",
                &vigil_store::FeedCursor {
                    key: "https://example.org/kev.json".into(),
                    etag: Some("\"abc\"".into()),
                    value: Some("2026-01-01T00:00:00Z".into()),
                    updated_at: "2026-01-02T00:00:00Z".into(),
                    ..Default::default()
                },
            )?;
            s.record_feed_pull(
                "kev",
                &vigil_store::FeedPullRecord {
                    at: "2026-01-02T00:00:00Z".into(),
                    added: 7,
                    bytes: 1234,
                    ..Default::default()
                },
            )
        }),
    ];
    for (name, fill) in fills {
        let dir = tempfile::tempdir().expect("tempdir");
        let lite = SqliteStore::open(dir.path()).expect("open");
        fill(&lite).unwrap_or_else(|e| panic!("{name}: {e}"));
        let pg = schemas.open();
        let report = copy::sqlite_to_postgres(&lite, &pg, &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{name}: copy: {e}"));
        assert!(
            report.tables.iter().any(|t| t.rows > 0),
            "{name}: {report:?}"
        );
        let v = copy::verify(&lite, &pg).unwrap_or_else(|e| panic!("{name}: verify: {e}"));
        assert!(v.ok(), "{name}: {v:?}");
        assert_eq!(everything_else(&pg), everything_else(&lite), "{name}");
        // Every version of every object, with when it was added and where it came from.
        let mut ids = Vec::new();
        let all = vigil_store::ScanFilter {
            include_retired: true,
            ..Default::default()
        };
        lite.scan(&all, &mut |o| {
            ids.push(o.object.id().to_string());
            Ok(())
        })
        .expect("scan");
        let history = |s: &dyn Store, id: &str| {
            let v: Vec<_> = s
                .versions(id)
                .expect("versions")
                .into_iter()
                .map(|o| (o.seq, o.added_at, o.tlp, o.object.to_json()))
                .collect();
            (v, format!("{:?}", s.provenance(id).expect("provenance")))
        };
        for id in &ids {
            assert_eq!(history(&pg, id), history(&lite, id), "{name}: {id}");
        }
        // And back (`vigil store copy --from`): a new embedded store that answers as the first did, table by table.
        let back_dir = tempfile::tempdir().expect("tempdir");
        let report = copy::postgres_to_sqlite(&pg, back_dir.path(), &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{name}: copy back: {e}"));
        assert_eq!(
            report.versions,
            lite.stats().expect("stats").versions,
            "{name}"
        );
        let back = SqliteStore::open(back_dir.path()).expect("open the copy back");
        let v = copy::verify(&pg, &back).unwrap_or_else(|e| panic!("{name}: verify back: {e}"));
        assert!(v.ok(), "{name}: {v:?}");
        assert_eq!(everything_else(&back), everything_else(&lite), "{name}");
        for id in &ids {
            assert_eq!(history(&back, id), history(&lite, id), "{name}: {id}");
        }
        assert_eq!(
            sqlite_rows(&back),
            sqlite_rows(&lite),
            "{name}: rows per table"
        );
        for q in ["tool", "APT", "indicator"] {
            let hits = |s: &dyn Store| -> Vec<String> {
                let mut h: Vec<String> = s
                    .search(q, 50)
                    .expect("search")
                    .into_iter()
                    .map(|h| h.id)
                    .collect();
                h.sort();
                h
            };
            assert_eq!(hits(&back), hits(&lite), "{name}: search {q}");
        }
        for id in &ids {
            let related = |s: &dyn Store| -> Vec<String> {
                let mut r: Vec<String> = s
                    .related(id)
                    .expect("related")
                    .into_iter()
                    .map(|r| format!("{r:?}"))
                    .collect();
                r.sort();
                r
            };
            assert_eq!(related(&back), related(&lite), "{name}: graph of {id}");
        }
        let refused = copy::postgres_to_sqlite(&pg, back_dir.path(), &mut |_, _| {});
        assert!(
            matches!(&refused, Err(StoreError::Aborted(m)) if m.contains("exists")),
            "{name}: {refused:?}"
        );
        // Both go on numbering rows where the source stopped: the same writes give the same rows.
        for s in [&lite as &dyn Store, &pg, &back] {
            s.write(&mut |tx| {
                tx.put(&tool(900), &prov("after"), PutMode::Source)?;
                let mut v2 = tool(900).to_value();
                v2["modified"] = json!("2021-01-01T00:00:00.000Z");
                v2["name"] = json!("tool number 900, renamed");
                tx.put(
                    &StixObject::from_value(v2).expect("v2"),
                    &prov("after"),
                    PutMode::Source,
                )
                .map(|_| ())
            })
            .expect("write after the copy");
        }
        let id = tool(900).id().to_string();
        let seqs = |s: &dyn Store| -> Vec<(i64, String)> {
            s.versions(&id)
                .expect("versions")
                .into_iter()
                .map(|o| (o.seq, o.object.to_json()))
                .collect()
        };
        assert_eq!(seqs(&pg), seqs(&lite), "{name}");
        assert_eq!(seqs(&back), seqs(&lite), "{name}");
        assert_eq!(
            pg.resolve("tool number 900, renamed")
                .expect("resolve")
                .len(),
            1,
            "{name}: the new version's keys"
        );
        assert_eq!(
            pg.stats().expect("stats").versions,
            lite.stats().expect("stats").versions,
            "{name}"
        );
        let members_before = everything_else(&pg);
        let again = copy::sqlite_to_postgres(&lite, &pg, &mut |_, _| {});
        assert!(
            matches!(&again, Err(StoreError::Aborted(m)) if m.contains("is not empty")),
            "{name}: {again:?}"
        );
        assert_eq!(
            everything_else(&pg),
            members_before,
            "{name}: a refused copy changes nothing"
        );
        assert_eq!(seqs(&pg), seqs(&lite), "{name}");
    }
}
