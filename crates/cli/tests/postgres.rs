//! The knowledge base kept in PostgreSQL (`--store`), through the `vigil` binary, against a real server
//! (`VIGIL_TEST_POSTGRES`, default the local one `.ci/run` checks; `off` skips, loudly): the same inputs give the
//! same knowledge base as the embedded store (counts, sources, look-ups, search, graph, exports) and the same
//! notices, and `vigil serve` runs on it, several servers on one store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Served;
use serde_json::Value;

mod common;

const DEFAULT_URL: &str = "host=127.0.0.1 user=postgres dbname=test";

fn url() -> Option<String> {
    match std::env::var("VIGIL_TEST_POSTGRES") {
        Ok(v) if v == "off" => {
            eprintln!(
                "\n*** SKIPPED: VIGIL_TEST_POSTGRES=off, the PostgreSQL knowledge base is not tested ***\n"
            );
            None
        }
        Ok(v) => Some(v),
        Err(_) => Some(DEFAULT_URL.to_string()),
    }
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("\n*** SKIPPED: ../shared/data not found; real-data tests did not run ***\n");
        None
    }
}

/// A data directory, and a schema of its own when the knowledge base is in PostgreSQL (dropped at the end).
struct Vigil {
    dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl Vigil {
    fn embedded() -> Vigil {
        Vigil {
            dir: tempfile::tempdir().expect("tempdir"),
            pg: None,
        }
    }

    fn postgres(url: &str, tag: &str) -> Vigil {
        let schema = format!(
            "vigil_cli_{tag}_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        Vigil {
            dir: tempfile::tempdir().expect("tempdir"),
            pg: Some((url.to_string(), schema)),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
        c.arg("--data").arg(self.dir.path());
        c.env_remove("VIGIL_STORE").env_remove("VIGIL_STORE_SCHEMA");
        if let Some((url, schema)) = &self.pg {
            c.args(["--store", url, "--store-schema", schema]);
        }
        c.args(args).output().expect("run vigil")
    }

    fn json(&self, args: &[&str]) -> (Value, i32) {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "panic: {stderr}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout of {args:?} is not one JSON document ({e}): {:?} / {stderr}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        (v, out.status.code().unwrap_or(-1))
    }

    fn ingest(&self, args: &[&str]) -> Value {
        let mut a = vec!["ingest"];
        a.extend_from_slice(args);
        self.json(&a).0
    }

    /// `export stix` as (id, modified) -> object, without the bundle's own random id.
    fn export(&self, tlp_max: &str) -> BTreeMap<String, Value> {
        let out = self.dir.path().join("export.json");
        let (r, code) = self.json(&[
            "export",
            "stix",
            "--out",
            out.to_str().expect("utf-8 path"),
            "--tlp-max",
            tlp_max,
        ]);
        assert_eq!(code, 0, "{r}");
        let bundle: Value =
            serde_json::from_slice(&std::fs::read(&out).expect("the export")).expect("JSON");
        bundle["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .map(|o| (o["id"].as_str().unwrap_or_default().to_string(), untimed(o)))
            .collect()
    }

    /// A detection export (`export csv|zeek|rpz|..`): its summary without the paths, and for the one-file
    /// formats its lines, sorted, without what is minted at ingest or export (`modified`, the zone's serial).
    fn detection(&self, kind: &str) -> (Value, Vec<String>) {
        let out = self.dir.path().join(format!("detection.{kind}"));
        let (mut r, code) =
            self.json(&["export", kind, "--out", out.to_str().expect("utf-8 path")]);
        assert_eq!(code, 0, "export {kind}: {r}");
        for k in ["out", "files"] {
            r.as_object_mut().map(|o| o.remove(k));
        }
        if out.is_dir() {
            return (r, Vec::new());
        }
        let text = std::fs::read_to_string(&out).expect("the export");
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !(l.starts_with(';') || l.split_whitespace().nth(2) == Some("SOA")))
            // A MISP event's uuids and times are minted at export: its attributes' values, types and tags.
            .filter(|l| {
                kind != "misp"
                    || ["\"value\"", "\"type\"", "\"name\""]
                        .iter()
                        .any(|k| l.contains(k))
            })
            .map(|l| match kind {
                "csv" => l.rsplit_once(',').map_or(l, |(a, _)| a).to_string(),
                _ => l.to_string(),
            })
            .collect();
        lines.sort();
        (r, lines)
    }
}

/// An object without the times Vigil sets when it derives one (minted at ingest; the same in both stores
/// otherwise): `created`, `modified` and `valid_from` of objects created in the last day.
fn untimed(o: &Value) -> Value {
    let mut o = o.clone();
    let minted = o["created"]
        .as_str()
        .is_some_and(|c| c >= yesterday().as_str());
    if minted {
        if let Some(m) = o.as_object_mut() {
            for k in ["created", "modified", "valid_from"] {
                m.remove(k);
            }
        }
    }
    o
}

/// A day ago as an RFC 3339 text (for comparing with STIX timestamps).
fn yesterday() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .saturating_sub(86_400);
    // Days since the epoch to a civil date (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T00:00:00Z")
}

/// Two maps equal, or a short account of how they differ (the first few keys each way and the first value).
fn differences(a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>) -> Option<String> {
    let only_a: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).take(5).collect();
    let only_b: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).take(5).collect();
    let differ = a
        .iter()
        .find(|(k, v)| b.get(*k).is_some_and(|w| w != *v))
        .map(|(k, v)| format!("{k}: {v} vs {}", b[k]));
    (!only_a.is_empty() || !only_b.is_empty() || differ.is_some()).then(|| {
        format!(
            "{} vs {} objects; only in postgres: {only_a:?}; only in sqlite: {only_b:?}; first difference: {differ:?}",
            a.len(),
            b.len()
        )
    })
}

impl Drop for Vigil {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.pg {
            if let Ok(mut c) = postgres::Client::connect(url, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
            }
        }
    }
}

/// What must agree between the two backends after the same ingests: counts by type, source and TLP, versions.
fn kb_stats(v: &Vigil) -> Value {
    let (s, code) = v.json(&["stats"]);
    assert_eq!(code, 0, "{s}");
    serde_json::json!({"objects": s["objects"], "sources": s["sources"], "tlp": s["tlp"],
        "versions": s["versions"], "warninglists": s["warninglists"], "pending_links": s["pending_links"]})
}

/// `show KEY` without what differs by nature between two stores (when rows were added, row numbers).
fn shown(v: &Vigil, key: &str) -> Value {
    let (mut s, _) = v.json(&["show", key]);
    s["object"] = untimed(&s["object"]);
    if let Some(prov) = s["provenance"].as_array_mut() {
        for p in prov {
            p.as_object_mut().map(|m| m.remove("ingested_at"));
        }
    }
    // The graph, as a count and a digest: a family's 15,000 indicator links would drown a failure message.
    let mut related: Vec<String> = s["related"]
        .as_array()
        .map(|a| a.iter().map(Value::to_string).collect())
        .unwrap_or_default();
    related.sort();
    let mut h: u64 = 0xcbf29ce484222325;
    for b in related.concat().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    s["related"] =
        serde_json::json!({"count": related.len(), "first": related.first(), "digest": h});
    s
}

fn search_ids(v: &Vigil, text: &str, limit: &str) -> Vec<String> {
    let (r, code) = v.json(&["search", text, "--limit", limit]);
    assert_eq!(code, 0, "{r}");
    r["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|h| h["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn fixtures_give_the_same_knowledge_base_in_postgres() {
    let Some(url) = url() else { return };
    let (lite, pg) = (Vigil::embedded(), Vigil::postgres(&url, "fx"));
    let (init, code) = pg.json(&["init"]);
    assert_eq!(code, 0, "{init}");
    assert_eq!(init["knowledge_base"]["backend"], "postgres", "{init}");
    // libpq's default, `prefer`: encrypted when the server offers TLS (the local one does).
    assert_eq!(init["knowledge_base"]["sslmode"], "prefer", "{init}");
    assert!(init["knowledge_base"]["encrypted"].is_boolean(), "{init}");
    for v in [&lite, &pg] {
        for f in [
            "mixed-bundle.json",
            "stix20-bundle.json",
            "tlp-bundle.json",
            "malware-v2.json",
        ] {
            v.ingest(&[&fixture(f)]);
        }
        v.ingest(&[&fixture("family-list.txt"), "--source", "family-list"]);
        // again: nothing new
        let again = v.ingest(&[&fixture("mixed-bundle.json")]);
        assert_eq!(again["added"], 0, "{again}");
    }
    assert_eq!(kb_stats(&pg), kb_stats(&lite));
    assert_eq!(
        search_ids(&pg, "FixtureRAT", "10"),
        search_ids(&lite, "FixtureRAT", "10")
    );
    assert!(!search_ids(&pg, "FixtureRAT", "10").is_empty());
    assert_eq!(shown(&pg, "FixtureRAT"), shown(&lite, "FixtureRAT"));
    for tlp in ["clear", "green", "amber", "red"] {
        let (a, b) = (pg.export(tlp), lite.export(tlp));
        assert!(!a.is_empty(), "TLP {tlp}");
        if let Some(d) = differences(&a, &b) {
            panic!("export at TLP {tlp}: {d}");
        }
    }
    let (check, code) = pg.json(&["check"]);
    assert_eq!((check["ok"].as_bool(), code), (Some(true), 0), "{check}");
}

#[test]
fn real_data_gives_the_same_knowledge_base_in_postgres() {
    let Some(url) = url() else { return };
    let Some(s) = shared() else { return };
    let (lite, pg) = (Vigil::embedded(), Vigil::postgres(&url, "real"));
    let path = |p: &str| s.join(p).display().to_string();
    for v in [&lite, &pg] {
        // The galaxy first: its links to ATT&CK wait as pending links until the bundle comes.
        let g = v.ingest(&[&path("misp-galaxy/clusters/threat-actor.json")]);
        assert_eq!(g["rejected"], 0, "{g}");
        let a = v.ingest(&[&path("mitre-attack/enterprise-attack.json.gz")]);
        assert_eq!(a["rejected"], 0, "{}", a["errors"]);
        let l = v.ingest(&[&path("maltrail/lummac2.txt"), "--source", "lummac2"]);
        assert!(l["added"].as_u64().unwrap_or(0) > 15_000, "{l}");
    }
    assert_eq!(kb_stats(&pg), kb_stats(&lite));
    for key in ["Fancy Bear", "T1566.001", "lummac2", "CHOPSTICK"] {
        assert_eq!(shown(&pg, key), shown(&lite, key), "show {key}");
    }
    let (apt, _) = pg.json(&["show", "Fancy Bear"]);
    assert_eq!(
        (apt["object"]["name"].as_str(), apt["country"].as_str()),
        (Some("APT28"), Some("RU"))
    );
    for q in ["spearphishing attachment", "APT28", "credential dumping"] {
        // Every match (fewer than the limit): the same objects. Both rank by term frequency, but by different
        // formulas (BM25, ts_rank), so the order is not compared beyond an exact name coming first.
        let (mut a, mut b) = (search_ids(&pg, q, "5000"), search_ids(&lite, q, "5000"));
        assert!(!a.is_empty() && a.len() < 5000, "{q}: {}", a.len());
        if q == "APT28" {
            // Two objects are named exactly APT28 (ATT&CK's intrusion set, the galaxy's threat actor): either may
            // come first, but one of them does in both backends.
            assert!(
                b.iter().take(2).any(|id| Some(id) == a.first()),
                "search {q}: {a:?} / {b:?}"
            );
        }
        a.sort();
        b.sort();
        assert_eq!(a, b, "search {q}");
    }
    for tlp in ["clear", "amber"] {
        if let Some(d) = differences(&pg.export(tlp), &lite.export(tlp)) {
            panic!("export at TLP {tlp}: {d}");
        }
    }
    // Detection content: the same indicators, families, actors and scores from either backend.
    for kind in [
        "csv",
        "zeek",
        "rpz",
        "misp",
        "suricata",
        "blocklist",
        "misp-feed",
    ] {
        let (a, b) = (pg.detection(kind), lite.detection(kind));
        assert!(
            a.0["values"].as_u64().unwrap_or(0) > 15_000,
            "{kind}: {}",
            a.0
        );
        assert_eq!(a.0, b.0, "export {kind}");
        assert_eq!(a.1.len(), b.1.len(), "export {kind}: lines");
        if let Some((x, y)) = a.1.iter().zip(&b.1).find(|(x, y)| x != y) {
            panic!("export {kind}: {x:?} (PostgreSQL) / {y:?} (embedded)");
        }
    }
    // An analyst's score overrides the feed's, in the exports of both.
    for v in [&lite, &pg] {
        let (r, code) = v.json(&["score", "01webook.info", "90", "--reason", "test"]);
        assert_eq!((code, &r["score"]), (0, &Value::from(90)), "{r}");
    }
    let (a, b) = (pg.detection("csv"), lite.detection("csv"));
    assert_eq!(a, b);
    assert!(
        a.1.iter().any(|l| l.contains(",01webook.info,90.0,")),
        "{:?}",
        a.1.iter().find(|l| l.contains("01webook.info"))
    );
    // Retracting a source: the same objects go, in both.
    for v in [&lite, &pg] {
        let (r, code) = v.json(&["retract", "--source", "lummac2", "--reason", "test"]);
        assert_eq!(code, 0, "{r}");
        assert!(r["retracted"].as_u64().unwrap_or(0) > 15_000, "{r}");
    }
    assert_eq!(kb_stats(&pg), kb_stats(&lite));
    assert_eq!(pg.detection("csv"), lite.detection("csv"));
    assert_eq!(pg.detection("csv").0["values"], 0);
    let (check, code) = pg.json(&["check"]);
    assert_eq!((check["ok"].as_bool(), code), (Some(true), 0), "{check}");

    // The embedded store, retraction and all, moved into PostgreSQL: it answers as before.
    let moved = Vigil::postgres(&url, "moved");
    let (_, schema) = moved.pg.clone().expect("a schema");
    let (r, code) = lite.json(&["store", "copy", "--to", &url, "--store-schema", &schema]);
    assert_eq!((code, r["ok"].as_bool()), (0, Some(true)), "{r}");
    assert_eq!(kb_stats(&moved), kb_stats(&lite));
    for key in ["Fancy Bear", "T1566.001", "CHOPSTICK"] {
        assert_eq!(shown(&moved, key), shown(&lite, key), "show {key}");
    }
    let (mut a, mut b) = (
        search_ids(&moved, "credential dumping", "5000"),
        search_ids(&lite, "credential dumping", "5000"),
    );
    a.sort();
    b.sort();
    assert!(!a.is_empty());
    assert_eq!(a, b);
    for tlp in ["clear", "amber"] {
        if let Some(d) = differences(&moved.export(tlp), &lite.export(tlp)) {
            panic!("export at TLP {tlp} after the copy: {d}");
        }
    }
    assert_eq!(moved.detection("csv"), lite.detection("csv"));
}

fn vuln_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vuln/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

impl Vigil {
    fn ok(&self, args: &[&str]) -> Value {
        let (v, code) = self.json(args);
        assert_eq!(code, 0, "{args:?}: {v}");
        v
    }

    fn member(&self, name: &str, country: &str) -> i64 {
        self.ok(&[
            "members",
            "add",
            "--name",
            name,
            "--country",
            country,
            "--kind",
            "agency",
        ])["id"]
            .as_i64()
            .expect("member id")
    }

    fn token(&self, member: i64) -> String {
        self.ok(&[
            "tokens",
            "create",
            "--member",
            &member.to_string(),
            "--role",
            "member",
        ])["token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// Advisories and two members with inventories: what the notices depend on.
    fn notices_setup(&self) -> (i64, i64) {
        let mut a = vec!["ingest".to_string()];
        a.extend(
            [
                "osv-multi-pairs.json",
                "cve5-demo.json",
                "osv-last-affected.json",
                "osv-debian-epoch.json",
                "cve5-log4j-wildcard.json",
            ]
            .iter()
            .map(|f| vuln_fixture(f)),
        );
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        self.ok(&a);
        let (ma, mb) = (self.member("Agency A", "AT"), self.member("Agency B", "BE"));
        // The fixture holds one component without a name on purpose: named, the rest imported (status 1).
        let (r, code) = self.json(&[
            "inventory",
            "import",
            "--member",
            &ma.to_string(),
            &vuln_fixture("inventory.cdx.json"),
        ]);
        assert_eq!((code, r["components"].as_u64()), (1, Some(10)), "{r}");
        (ma, mb)
    }

    /// `vigil serve` on this store (both backends), returned once it listens.
    fn serve(&self) -> Served {
        let mut global = Vec::new();
        if let Some((url, schema)) = &self.pg {
            global = vec!["--store", url.as_str(), "--store-schema", schema.as_str()];
        }
        common::serve_with(self.dir.path(), &global, &["--no-feeds", "--no-delivery"])
    }
}

impl Served {
    fn call(&self, method: &str, path: &str, token: &str, body: &str) -> (u16, Value) {
        let client = reqwest::blocking::Client::new();
        let accept = if path.starts_with("/taxii2/") {
            "application/taxii+json;version=2.1"
        } else {
            "application/json"
        };
        let req = match method {
            "POST" => client.post(format!("{}{path}", self.base)),
            "DELETE" => client.delete(format!("{}{path}", self.base)),
            _ => client.get(format!("{}{path}", self.base)),
        };
        let resp = req
            .bearer_auth(token)
            .header("Accept", accept)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// What a member's notices say, without ids and times (minted per store).
fn notice_summary(notices: &Value) -> Vec<String> {
    let mut out: Vec<String> = notices
        .as_array()
        .expect("notices")
        .iter()
        .map(|n| {
            format!(
                "{} {} {} {}",
                n["vulnerability"], n["priority"], n["status"], n["version"]
            )
        })
        .collect();
    out.sort();
    out
}

/// Members, tokens, inventories and notices live in PostgreSQL too: the same inputs give the same notices as the
/// embedded store, and `vigil serve` runs on it.
#[test]
fn members_and_notices_match_the_embedded_store() {
    let Some(url) = url() else { return };
    let lite = Vigil::embedded();
    let pg = Vigil::postgres(&url, "notices");
    let (la, _) = lite.notices_setup();
    let (pa, pb) = pg.notices_setup();
    let (ln, pn) = (
        lite.ok(&["notices", "--member", &la.to_string()]),
        pg.ok(&["notices", "--member", &pa.to_string()]),
    );
    assert!(
        !notice_summary(&pn).is_empty(),
        "the inventory matched advisories: {pn}"
    );
    assert_eq!(notice_summary(&pn), notice_summary(&ln));
    assert_eq!(
        pg.ok(&["notices", "--member", &pb.to_string()])
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        pg.ok(&["members", "list"])
            .to_string()
            .matches("Agency")
            .count(),
        lite.ok(&["members", "list"])
            .to_string()
            .matches("Agency")
            .count()
    );
    // Nothing of this reached the data directory's embedded store.
    assert!(
        !pg.dir.path().join("vigil.db").exists(),
        "with --store, the embedded store is not created"
    );
}

/// Two servers on one PostgreSQL store (as behind a load balancer): a token made by the CLI works on both; a
/// notice acknowledged through one is acknowledged through the other; tenants stay apart on both.
#[test]
fn two_servers_share_one_postgres_store() {
    let Some(url) = url() else { return };
    let pg = Vigil::postgres(&url, "serve");
    let (a, b) = pg.notices_setup();
    let (ta, tb) = (pg.token(a), pg.token(b));
    let (one, two) = (pg.serve(), pg.serve());
    let (s, list) = one.call("GET", "/api/v1/notices", &ta, "");
    assert_eq!(s, 200, "{list}");
    let items = list["items"].as_array().expect("items").clone();
    assert!(!items.is_empty(), "{list}");
    assert!(items.iter().all(|n| n["member"] == a), "{list}");
    let (s, list2) = two.call("GET", "/api/v1/notices", &ta, "");
    assert_eq!(
        (s, list2["items"].as_array().map(Vec::len)),
        (200, Some(items.len()))
    );
    let (_, lb) = two.call("GET", "/api/v1/notices", &tb, "");
    assert_eq!(lb["items"].as_array().map(Vec::len), Some(0), "{lb}");
    let first = items[0]["id"].as_str().expect("id").to_string();
    let (s, _) = one.call("GET", &format!("/api/v1/notices/{first}"), &tb, "");
    assert_eq!(s, 404, "another member's notice is not found");
    let (s, n) = two.call(
        "POST",
        &format!("/api/v1/notices/{first}/acknowledge"),
        &ta,
        "{\"note\":\"on it\"}",
    );
    assert_eq!(
        (s, n["status"].as_str()),
        (200, Some("acknowledged")),
        "{n}"
    );
    let (s, n) = one.call("GET", &format!("/api/v1/notices/{first}"), &ta, "");
    assert_eq!(
        (s, n["status"].as_str()),
        (200, Some("acknowledged")),
        "{n}"
    );
    // The member's TAXII collection, through the other server: one report per notice and the note.
    let (s, coll) = one.call(
        "GET",
        &format!("/taxii2/vigil/collections/member-{a}/objects/?limit=1000"),
        &ta,
        "",
    );
    assert_eq!(s, 200, "{coll}");
    let objs = coll["objects"].as_array().expect("objects");
    let reports = objs.iter().filter(|o| o["type"] == "report").count();
    let notes = objs.iter().filter(|o| o["type"] == "note").count();
    assert_eq!((reports, notes), (items.len(), 1), "{coll}");
    let (s, _) = two.call(
        "GET",
        &format!("/taxii2/vigil/collections/member-{a}/objects/"),
        &tb,
        "",
    );
    assert_eq!(s, 404);
    // A token revoked by the CLI stops working on both servers.
    let tokens = pg.ok(&["tokens", "list", "--member", &b.to_string()]);
    let tid = tokens
        .as_array()
        .and_then(|t| t.first())
        .and_then(|t| t["id"].as_i64())
        .expect("token id");
    pg.ok(&["tokens", "revoke", &tid.to_string()]);
    for srv in [&one, &two] {
        let (s, _) = srv.call("GET", "/api/v1/notices", &tb, "");
        assert_eq!(s, 401, "a revoked token");
    }
    // And the CLI sees what the servers wrote.
    let cli = pg.ok(&["notices", "--member", &a.to_string()]);
    assert!(cli.to_string().contains("acknowledged"), "{cli}");
}

/// An agency that began on the embedded store moves to PostgreSQL with `vigil store copy`: the knowledge base,
/// members, tokens, notices (with their status) and the member's own collection come along; a server on the copy
/// accepts the token minted before the move and shows what the embedded store showed; new rows continue the old
/// numbering; a second copy into the same schema is refused and changes nothing.
#[test]
fn store_copy_moves_an_embedded_store_into_postgres() {
    let Some(url) = url() else { return };
    let lite = Vigil::embedded();
    for f in ["mixed-bundle.json", "tlp-bundle.json", "malware-v2.json"] {
        lite.ingest(&[&fixture(f)]);
    }
    lite.ingest(&[&fixture("family-list.txt"), "--source", "family-list"]);
    let (a, b) = lite.notices_setup();
    let ta = lite.token(a);
    let notices = lite.ok(&["notices", "--member", &a.to_string()]);
    let first = notices
        .as_array()
        .and_then(|n| n.first())
        .and_then(|n| n["id"].as_str())
        .expect("a notice")
        .to_string();
    lite.ok(&["notices", "ack", &first, "--note", "patch window Friday"]);

    let pg = Vigil::postgres(&url, "copy");
    let (_, schema) = pg.pg.clone().expect("a schema");
    let (r, code) = lite.json(&["store", "copy", "--to", &url, "--store-schema", &schema]);
    assert_eq!((code, r["ok"].as_bool()), (0, Some(true)), "{r}");
    assert!(r["verified"]["objects"].as_u64() > Some(10), "{r}");
    let rows = |t: &str| {
        r["copied"]["tables"]
            .as_array()
            .and_then(|ts| ts.iter().find(|x| x["table"] == t))
            .and_then(|x| x["rows"].as_u64())
    };
    let members = lite
        .ok(&["members", "list"])
        .as_array()
        .map(|m| m.len() as u64);
    assert_eq!((rows("members"), rows("tokens")), (members, Some(1)), "{r}");

    assert_eq!(kb_stats(&pg), kb_stats(&lite));
    for tlp in ["clear", "red"] {
        if let Some(d) = differences(&pg.export(tlp), &lite.export(tlp)) {
            panic!("export at TLP {tlp}: {d}");
        }
    }
    assert_eq!(shown(&pg, "FixtureRAT"), shown(&lite, "FixtureRAT"));
    assert_eq!(pg.ok(&["members", "list"]), lite.ok(&["members", "list"]));
    // A vulnerability's page: what KEV and the notices say of it, from the copied advisories and notices.
    let cve = notices
        .as_array()
        .and_then(|n| n.first())
        .and_then(|n| n["vulnerability"].as_str())
        .expect("a notice's vulnerability")
        .to_string();
    let (lv, _) = lite.json(&["show", &cve]);
    assert!(lv["vulnerability"].is_object(), "{lv}");
    assert_eq!(
        pg.json(&["show", &cve]).0["vulnerability"],
        lv["vulnerability"]
    );
    let pg_notices = pg.ok(&["notices", "--member", &a.to_string()]);
    assert_eq!(
        pg_notices,
        lite.ok(&["notices", "--member", &a.to_string()])
    );
    assert!(
        pg_notices.to_string().contains("acknowledged"),
        "{pg_notices}"
    );
    let (check, code) = pg.json(&["check"]);
    assert_eq!((check["ok"].as_bool(), code), (Some(true), 0), "{check}");

    // The token minted on the embedded store works on a server on the copy, for that member only.
    let served = pg.serve();
    let (s, list) = served.call("GET", "/api/v1/notices", &ta, "");
    assert_eq!(s, 200, "{list}");
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        notices.as_array().map(Vec::len),
        "{list}"
    );
    let (s, coll) = served.call(
        "GET",
        &format!("/taxii2/vigil/collections/member-{a}/objects/?limit=1000"),
        &ta,
        "",
    );
    assert_eq!(s, 200, "{coll}");
    let notes = coll["objects"]
        .as_array()
        .map(|o| o.iter().filter(|o| o["type"] == "note").count());
    assert_eq!(notes, Some(1), "the acknowledgement's note: {coll}");
    let (s, _) = served.call(
        "GET",
        &format!("/taxii2/vigil/collections/member-{b}/objects/"),
        &ta,
        "",
    );
    assert_eq!(s, 404, "another member's collection");
    drop(served);

    // New rows go on from the old numbers.
    assert_eq!(pg.member("Agency C", "DK"), b + 1);
    let before = kb_stats(&pg);
    let out = lite.run(&["store", "copy", "--to", &url, "--store-schema", &schema]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second copy is refused");
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(kb_stats(&pg), before);
    assert_eq!(
        pg.ok(&["members", "list"])
            .to_string()
            .matches("Agency C")
            .count(),
        1
    );
    // A data directory without a store is named, and nothing is created there.
    let empty = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .env_remove("VIGIL_STORE")
        .arg("--data")
        .arg(empty.path())
        .args(["store", "copy", "--to", &url, "--store-schema", &schema])
        .output()
        .expect("run vigil");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("no embedded store"),
        "{stderr}"
    );
    assert!(!empty.path().join("vigil.db").exists());
}

/// `vigil store copy --from URL`: a store that lives in PostgreSQL becomes an embedded one that answers alike, with
/// the members' tokens, notices and their status, while a server goes on running on PostgreSQL.
#[test]
fn store_copy_from_postgres_makes_an_embedded_store() {
    let Some(url) = url() else { return };
    let pg = Vigil::postgres(&url, "back");
    let (_, schema) = pg.pg.clone().expect("a schema");
    for f in ["mixed-bundle.json", "tlp-bundle.json", "malware-v2.json"] {
        pg.ingest(&[&fixture(f)]);
    }
    pg.ingest(&[&fixture("family-list.txt"), "--source", "family-list"]);
    let (a, b) = pg.notices_setup();
    let ta = pg.token(a);
    let notices = pg.ok(&["notices", "--member", &a.to_string()]);
    let first = notices
        .as_array()
        .and_then(|n| n.first())
        .and_then(|n| n["id"].as_str())
        .expect("a notice")
        .to_string();
    pg.ok(&["notices", "ack", &first, "--note", "patch window Friday"]);

    let running = pg.serve();
    let lite = Vigil::embedded();
    let (r, code) = lite.json(&["store", "copy", "--from", &url, "--store-schema", &schema]);
    assert_eq!((code, r["ok"].as_bool()), (0, Some(true)), "{r}");
    assert!(r["verified"]["objects"].as_u64() > Some(10), "{r}");
    let (s, _) = running.call("GET", "/api/v1/notices", &ta, "");
    assert_eq!(s, 200, "the PostgreSQL server went on answering");
    drop(running);

    assert_eq!(kb_stats(&lite), kb_stats(&pg));
    for tlp in ["clear", "red"] {
        if let Some(d) = differences(&lite.export(tlp), &pg.export(tlp)) {
            panic!("export at TLP {tlp}: {d}");
        }
    }
    assert_eq!(shown(&lite, "FixtureRAT"), shown(&pg, "FixtureRAT"));
    assert_eq!(lite.ok(&["members", "list"]), pg.ok(&["members", "list"]));
    let acked = lite.ok(&["notices", "--member", &a.to_string()]);
    assert_eq!(acked, pg.ok(&["notices", "--member", &a.to_string()]));
    assert!(acked.to_string().contains("acknowledged"), "{acked}");
    let (check, code) = lite.json(&["check"]);
    assert_eq!((check["ok"].as_bool(), code), (Some(true), 0), "{check}");
    // The same hits (each backend ranks with its own formula: scores differ).
    let hits = |v: &Vigil| -> Vec<Value> {
        v.ok(&["search", "FixtureRAT"])["results"]
            .as_array()
            .map(|r| r.iter().map(|h| h["id"].clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(hits(&lite), hits(&pg));
    assert!(!hits(&lite).is_empty());

    // The token minted on PostgreSQL works on a server on the embedded copy, for that member only.
    let served = lite.serve();
    let (s, list) = served.call("GET", "/api/v1/notices", &ta, "");
    assert_eq!(s, 200, "{list}");
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        notices.as_array().map(Vec::len),
        "{list}"
    );
    let (s, _) = served.call(
        "GET",
        &format!("/taxii2/vigil/collections/member-{b}/objects/"),
        &ta,
        "",
    );
    assert_eq!(s, 404, "another member's collection");
    drop(served);
    // New rows go on from the old numbers.
    assert_eq!(lite.member("Agency C", "DK"), b + 1);

    // Into a data directory that holds a store: refused, and the store is left as it was.
    let before = kb_stats(&lite);
    let out = lite.run(&["store", "copy", "--from", &url, "--store-schema", &schema]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("exists"),
        "{stderr}"
    );
    assert_eq!(kb_stats(&lite), before);
}

/// libpq's ways of naming a server reach `--store` as they reach `psql`: a service entry (`service=NAME`, from
/// `PGSERVICEFILE`) and the `PG*` variables under a bare `postgresql://`, both onto the same store; a service
/// that no file defines is refused with the files named.
#[test]
fn a_service_entry_or_the_pg_variables_name_the_store() {
    let Some(url) = url() else { return };
    if url.contains("://") {
        eprintln!(
            "\n*** SKIPPED: VIGIL_TEST_POSTGRES is a URL; this test takes `key=value` pairs ***\n"
        );
        return;
    }
    let pg = Vigil::postgres(&url, "svc");
    let schema = pg.pg.as_ref().map(|p| p.1.clone()).expect("schema");
    let pairs: Vec<(&str, &str)> = url
        .split_whitespace()
        .filter_map(|p| p.split_once('='))
        .collect();
    let services = pg.dir.path().join("pg_service.conf");
    let entry: String = pairs.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
    std::fs::write(
        &services,
        format!("# Vigil's tests\n[other]\nhost=unused.invalid\n\n[vigiltest]\n{entry}"),
    )
    .expect("write");
    let run = |store: &str, env: &[(&str, &str)], args: &[&str]| -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
        c.arg("--data").arg(pg.dir.path());
        for k in [
            "VIGIL_STORE",
            "VIGIL_STORE_SCHEMA",
            "PGSERVICE",
            "PGSERVICEFILE",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGPASSWORD",
            "PGSSLMODE",
        ] {
            c.env_remove(k);
        }
        c.envs(env.iter().copied());
        c.args(["--store", store, "--store-schema", &schema]);
        c.args(args).output().expect("run vigil")
    };
    let file = [("PGSERVICEFILE", services.to_str().expect("utf-8 path"))];
    let out = run("service=vigiltest", &file, &["init", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let init: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(init["knowledge_base"]["backend"], "postgres", "{init}");
    let out = run(
        "service=vigiltest",
        &file,
        &["ingest", &fixture("mixed-bundle.json"), "--json"],
    );
    // Exit 1: the fixture holds objects that are rejected on purpose; the rest is stored.
    let ingest: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        out.status.code() != Some(2) && ingest["added"].as_u64() > Some(0),
        "{ingest} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = |out: Output| -> Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        s["objects"].clone()
    };
    let by_service = stats(run("service=vigiltest", &file, &["stats", "--json"]));
    assert!(
        by_service.as_object().is_some_and(|o| !o.is_empty()),
        "{by_service}"
    );

    // The same server from the environment alone; PGSERVICE names the entry when the string does not.
    let vars: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| {
            let var = match *k {
                "host" => "PGHOST",
                "port" => "PGPORT",
                "user" => "PGUSER",
                "dbname" => "PGDATABASE",
                "password" => "PGPASSWORD",
                "sslmode" => "PGSSLMODE",
                _ => return None,
            };
            Some((var, *v))
        })
        .collect();
    assert_eq!(
        stats(run("postgresql://", &vars, &["stats", "--json"])),
        by_service
    );
    let named = [file[0], ("PGSERVICE", "vigiltest")];
    assert_eq!(
        stats(run("postgresql://", &named, &["stats", "--json"])),
        by_service
    );

    let out = run("service=nope", &file, &["stats"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("\"nope\"") && err.contains(services.to_str().expect("utf-8 path")),
        "{err}"
    );
}
