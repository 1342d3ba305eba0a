//! End-to-end tests of vulnerability notices through the `vigil` binary: advisory ingestion into the store, the
//! `vigil scan --json` contract and the false-positive traps, bad input, member inventories, notices (tenancy,
//! TLP, versions, lifecycle, every output format, CSAF schema validity), the decision tables over real KEV data,
//! and the CycloneDX examples.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{Duration, Utc};
use serde_json::Value;

mod common;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/vuln")
        .join(name)
        .display()
        .to_string()
}

/// The advisory and inventory fixtures of the vuln crate (made by the project, shared by both test suites).
fn vuln_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vuln/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

const ADVISORY_FIXTURES: [&str; 6] = [
    "osv-multi-pairs.json",
    "cve5-demo.json",
    "csaf-demo.json",
    "osv-last-affected.json",
    "osv-debian-epoch.json",
    "cve5-log4j-wildcard.json",
];

struct Vigil {
    dir: tempfile::TempDir,
}

impl Vigil {
    fn new() -> Self {
        let v = Vigil {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        assert!(v.run(&["init"]).status.success());
        v
    }
    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .arg("--data")
            .arg(self.dir.path())
            .args(args)
            .output()
            .expect("run vigil");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "panic in {args:?}: {stderr}");
        out
    }
    fn json(&self, args: &[&str]) -> (Value, i32) {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout of {args:?} is not one JSON document ({e}): {:?} / {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (v, out.status.code().unwrap_or(-1))
    }
    fn ok_json(&self, args: &[&str]) -> Value {
        let (v, code) = self.json(args);
        assert_eq!(code, 0, "{args:?}: {v}");
        v
    }
    fn member(&self, name: &str, country: &str) -> i64 {
        self.ok_json(&[
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
            .unwrap()
    }
    fn ingest_fixtures(&self) -> Value {
        let mut a = vec!["ingest".to_string()];
        a.extend(ADVISORY_FIXTURES.iter().map(|f| vuln_fixture(f)));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let (r, code) = self.json(&a);
        // csaf-demo names an undefined product id: reported, the rest stored.
        assert!(code == 0 || code == 1, "{r}");
        r
    }
    fn notices(&self, member: Option<i64>) -> Vec<Value> {
        let m = member.map(|m| m.to_string());
        let mut a = vec!["notices"];
        if let Some(m) = &m {
            a.extend(["--member", m.as_str()]);
        }
        self.ok_json(&a).as_array().unwrap().clone()
    }
}

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "\n*** SKIPPED: ../shared/data not found; real-data vuln tests did not run ***\n"
        );
        None
    }
}

fn peer_python() -> Option<PathBuf> {
    let venv = std::env::var("VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-peers"));
    let py = venv.join("bin/python");
    if py.exists() {
        Some(py)
    } else {
        eprintln!(
            "\n*** SKIPPED: peers venv {} not found; CSAF schema validation did not run ***\n",
            venv.display()
        );
        None
    }
}

fn findings_of<'a>(scan: &'a Value, name: &str) -> Vec<&'a Value> {
    scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["component"]["name"] == name)
        .collect()
}

#[test]
fn scan_contract_and_false_positive_traps() {
    let v = Vigil::new();
    let r = v.ingest_fixtures();
    assert_eq!(r["files"], 6, "{r}");
    assert!(r["added"].as_u64().unwrap() >= 6, "{r}");
    assert!(r["vulnerability_objects"].as_u64().unwrap() >= 6, "{r}");
    // The advisories are in the knowledge base as STIX vulnerabilities, one per canonical id and source.
    let stats = v.ok_json(&["stats"]);
    assert!(
        stats["objects"]["vulnerability"].as_u64().unwrap() >= 4,
        "{stats}"
    );
    let shown = v.ok_json(&["show", "CVE-2024-99001"]);
    assert!(shown.to_string().contains("CVE-2024-99001"), "{shown}");

    let inv = vuln_fixture("inventory.cdx.json");
    let (s, code) = v.json(&["scan", &inv]);
    assert_eq!(code, 0, "{s}");
    // The JSON contract.
    let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
    assert_eq!(keys[..3], ["components", "findings", "unknown"]);
    assert_eq!(s["components"], 10, "one of the 11 components has no name");
    for f in s["findings"].as_array().unwrap() {
        for k in [
            "component",
            "vulnerability",
            "aliases",
            "fixed",
            "evidence",
            "confidence",
            "priority",
            "deadline",
            "deadline_rule",
        ] {
            assert!(f.get(k).is_some(), "finding lacks {k}: {f}");
        }
        for k in ["name", "version", "purl"] {
            assert!(f["component"].get(k).is_some(), "{f}");
        }
        assert!(["track", "track*", "attend", "act"].contains(&f["priority"].as_str().unwrap()));
        if let Some(d) = f["deadline"].as_str() {
            assert!(
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok(),
                "{d}"
            );
        }
    }
    assert!(s["assumptions"]
        .as_str()
        .unwrap()
        .contains("not internet-facing"));
    // One finding for one CVE from OSV, CVE 5 and CSAF, every source named.
    let demo = findings_of(&s, "demo-pkg");
    assert_eq!(demo.len(), 1, "{demo:#?}");
    assert_eq!(demo[0]["vulnerability"], "CVE-2024-99001");
    for a in ["GHSA-vigl-0001-test", "PYSEC-2024-9001", "DEMO-SA-2024-01"] {
        assert!(
            demo[0]["aliases"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == a),
            "{a}"
        );
    }
    let mut sources: Vec<&str> = demo[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    sources.sort();
    sources.dedup();
    assert_eq!(sources, ["csaf", "cve5", "osv"]);
    assert_eq!(demo[0]["confidence"], "high");
    // Several introduced/fixed pairs in one OSV range: 1.7 lies between them, 2.1 inside the second.
    assert!(findings_of(&s, "demo-pkg-old").is_empty());
    assert_eq!(findings_of(&s, "demo-pkg-two").len(), 1);
    // last_affected is inclusive: 2.0.0 affected, 2.0.1 not.
    assert_eq!(findings_of(&s, "widget").len(), 1);
    assert!(findings_of(&s, "widget-new").is_empty());
    // Debian epoch: 7:5.1.6 is not <= 2.8.9; 2.8.8-3 is.
    assert!(findings_of(&s, "demo-lib").is_empty());
    assert_eq!(findings_of(&s, "demo-lib-old").len(), 1);
    // A CPE with a vendor wildcard (log4j under any vendor) must not reach an unrelated product (tomcat).
    assert!(findings_of(&s, "tomcat").is_empty());
    let l = findings_of(&s, "log4j");
    assert_eq!(l.len(), 1);
    assert_eq!(
        l[0]["confidence"], "medium",
        "CPE matches carry lower confidence"
    );
    // An unparseable version is unknown, never "not affected".
    let unknown: Vec<&str> = s["unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["component"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(unknown, ["widget-bad"]);
    // The broken component is reported with its location.
    assert!(
        s["errors"].to_string().contains("components[10]"),
        "{}",
        s["errors"]
    );

    // The same scan from the advisory files instead of the store gives the same findings.
    let dir = tempfile::tempdir().unwrap();
    for f in ADVISORY_FIXTURES {
        std::fs::copy(vuln_fixture(f), dir.path().join(f)).unwrap();
    }
    let (s2, _) = v.json(&[
        "scan",
        &inv,
        "--advisories",
        &dir.path().display().to_string(),
    ]);
    let key = |s: &Value| {
        let mut k: Vec<(String, String, String)> = s["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["component"]["name"].to_string(),
                    f["vulnerability"].to_string(),
                    f["priority"].to_string(),
                )
            })
            .collect();
        k.sort();
        k
    };
    assert_eq!(key(&s), key(&s2));

    // Text output names findings too.
    let out = v.run(&["scan", &inv]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CVE-2024-99001"), "{text}");
}

#[test]
fn bad_advisories_and_inventories_are_reported_with_location() {
    let v = Vigil::new();
    // An OSV file with an invalid range and an unknown ecosystem: each reported, the good record stored.
    let (r, code) = v.json(&["ingest", &fixture("osv-bad.json")]);
    assert_eq!(code, 1, "{r}");
    let errs = r["errors"].to_string();
    assert!(errs.contains("osv-bad.json"), "{errs}");
    assert!(
        errs.contains("VIGIL-TEST-BAD-RANGE") || errs.contains("[0]"),
        "{errs}"
    );
    let warns = r["warnings"].to_string();
    assert!(
        warns.contains("NoSuchEcosystem") && warns.contains("[1]"),
        "{warns}"
    );
    assert!(r["added"].as_u64().unwrap() >= 1, "{r}");
    // A KEV entry with a malformed CVE id: the rest of the catalogue is stored.
    let (r, code) = v.json(&["ingest", &fixture("kev-demo.json")]);
    assert_eq!(code, 1, "{r}");
    assert!(
        r["errors"].to_string().contains("vulnerabilities[1]"),
        "{r}"
    );
    assert_eq!(r["added"], 1, "{r}");
    // EPSS: the bad line is named, the good one stored.
    let (r, code) = v.json(&["ingest", &fixture("epss-bad.csv")]);
    assert_eq!(code, 1, "{r}");
    assert!(r["errors"].to_string().contains("line 3"), "{r}");
    assert_eq!(r["epss_scores"], 1, "{r}");
    // A forced format that does not fit the file.
    let (r, code) = v.json(&["ingest", "--format", "csaf", &fixture("kev-demo.json")]);
    assert_eq!(code, 2, "{r}");
    // Nothing readable at all.
    let (_, code) = v.json(&["ingest", "--format", "osv", "/nonexistent/advisory.json"]);
    assert_eq!(code, 2);

    // A CycloneDX file with broken components: each named, the rest imported.
    let m = v.member("Agency B", "FR");
    let (r, code) = v.json(&[
        "inventory",
        "import",
        "--member",
        &m.to_string(),
        &fixture("member-b.cdx.json"),
    ]);
    assert_eq!(code, 1, "{r}");
    let errs = r["errors"].to_string();
    for loc in ["components[2]", "components[3]", "components[4]"] {
        assert!(errs.contains(loc), "{loc} missing from {errs}");
    }
    assert!(r["components"].as_i64().unwrap() >= 2, "{r}");
    // The CSV with a bad exposure and a bad criticality value names the lines.
    let (r, _) = v.json(&[
        "inventory",
        "import",
        "--member",
        &m.to_string(),
        &fixture("assets.csv"),
    ]);
    let errs = r["errors"].to_string();
    assert!(
        errs.contains("assets.csv:4") && errs.contains("assets.csv:5"),
        "{errs}"
    );
    // An unknown member is refused.
    let out = v.run(&[
        "inventory",
        "import",
        "--member",
        "99",
        &fixture("assets.csv"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no member 99"));
}

#[test]
fn notices_tenancy_tlp_versions_and_lifecycle() {
    let v = Vigil::new();
    v.ingest_fixtures();
    let a = v.member("Ministry A", "DE");
    let b = v.member("Agency B", "FR");
    let (a_s, b_s) = (a.to_string(), b.to_string());
    // A restricted advisory (TLP:AMBER): only members it is shared with get notices from it.
    let (r, _) = v.json(&["ingest", "--tlp", "amber", &fixture("osv-amber.json")]);
    assert_eq!(r["added"], 1, "{r}");
    v.json(&["ingest", &fixture("osv-bad.json")]);

    let (imp, _) = v.json(&[
        "inventory",
        "import",
        "--member",
        &a_s,
        &vuln_fixture("inventory.cdx.json"),
    ]);
    assert!(imp["notices"]["created"].as_u64().unwrap() >= 4, "{imp}");
    v.json(&[
        "inventory",
        "import",
        "--member",
        &b_s,
        &fixture("member-b.cdx.json"),
    ]);

    // Tenancy: each member sees only its own notices; the operator's list has both.
    let na = v.notices(Some(a));
    let nb = v.notices(Some(b));
    assert!(na.iter().all(|n| n["member"] == a));
    assert!(nb.iter().all(|n| n["member"] == b));
    assert_eq!(v.notices(None).len(), na.len() + nb.len());
    for n in na.iter().chain(&nb) {
        for k in [
            "id",
            "member",
            "vulnerability",
            "priority",
            "deadline",
            "assets",
            "status",
        ] {
            assert!(n.get(k).is_some(), "notice lacks {k}: {n}");
        }
        assert_eq!(n["status"], "new");
        assert_eq!(n["version"], 1);
        // About the member's own systems: never below AMBER+STRICT.
        assert!(
            ["amber+strict", "red"].contains(&n["tlp"].as_str().unwrap()),
            "{}",
            n["tlp"]
        );
    }
    assert!(na.iter().any(|n| n["vulnerability"] == "CVE-2024-99001"));
    assert!(nb.iter().any(|n| n["vulnerability"] == "VIGIL-TEST-GOOD"));
    // TLP: the AMBER advisory is not shared with B, so B has no notice from it.
    assert!(
        !nb.iter()
            .any(|n| n["vulnerability"] == "VIGIL-TEST-AMBER-1"),
        "{nb:?}"
    );
    let stix = vigil_model::ids::vigil_id("vulnerability", &["VIGIL-TEST-AMBER-1"]);
    assert!(v.run(&["share", &stix, "--with", &b_s]).status.success());
    let upd = v.ok_json(&["notices", "update"]);
    assert_eq!(upd["created"], 1, "{upd}");
    assert_eq!(upd["revised"], 0, "{upd}");
    let nb = v.notices(Some(b));
    assert!(nb
        .iter()
        .any(|n| n["vulnerability"] == "VIGIL-TEST-AMBER-1"));

    // Another member cannot see or act on A's notice.
    let demo = na
        .iter()
        .find(|n| n["vulnerability"] == "CVE-2024-99001")
        .unwrap()
        .clone();
    let id = demo["id"].as_str().unwrap().to_string();
    let out = v.run(&["notices", "ack", &id, "--member", &b_s]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no notice"));
    let out = v.run(&["notices", "show", &id, "--member", &b_s]);
    assert_eq!(out.status.code(), Some(2));

    // Nothing is sent twice for the same facts.
    v.ingest_fixtures();
    let upd = v.ok_json(&["notices", "update"]);
    assert_eq!(
        (upd["created"].as_u64(), upd["revised"].as_u64()),
        (Some(0), Some(0)),
        "{upd}"
    );

    // Lifecycle: new -> acknowledged -> resolved, filtered by status.
    let r = v.ok_json(&["notices", "ack", &id, "--member", &a_s]);
    assert_eq!(r["status"], "acknowledged");
    let acked = v.ok_json(&["notices", "--member", &a_s, "--status", "acknowledged"]);
    assert_eq!(acked.as_array().unwrap().len(), 1);

    // An EPSS score below the threshold changes nothing; one past it re-ranks: a new version.
    let (r, code) = v.json(&["ingest", &fixture("epss-low.csv")]);
    assert_eq!(code, 0, "{r}");
    let n = v.ok_json(&["notices", "show", &id]);
    let low_version = n["version"].as_i64().unwrap();
    assert!((n["epss"].as_f64().unwrap() - 0.02).abs() < 1e-9, "{n}");
    let (r, _) = v.json(&["ingest", &fixture("epss-high.csv")]);
    assert!(r["notices"]["revised"].as_u64().unwrap() >= 1, "{r}");
    let n = v.ok_json(&["notices", "show", &id]);
    assert_eq!(n["version"].as_i64().unwrap(), low_version + 1);
    assert_eq!(n["status"], "new", "a new version reopens the notice");
    let hist = v.ok_json(&["notices", "history", &id]);
    let last = hist.as_array().unwrap().last().unwrap();
    assert!(last["reason"].as_str().unwrap().contains("EPSS"), "{last}");

    // A CVE entering KEV raises the outcome: a new version saying so, with KEV's required action.
    let before = n["priority"].as_str().unwrap().to_string();
    let rank = |p: &str| {
        ["track", "track*", "attend", "act"]
            .iter()
            .position(|x| *x == p)
    };
    v.json(&["ingest", &fixture("kev-demo.json")]);
    let n = v.ok_json(&["notices", "show", &id]);
    assert_eq!(n["in_kev"], true, "{n}");
    // The evidence names each source file, not the directories it was read from on the CSIRT's server.
    let evidence = n["assets"].to_string();
    assert!(evidence.contains("kev-demo.json: "), "{evidence}");
    assert!(!evidence.contains("/tests/fixtures"), "{evidence}");
    assert!(
        rank(n["priority"].as_str().unwrap()) > rank(&before),
        "{before} -> {}",
        n["priority"]
    );
    let hist = v.ok_json(&["notices", "history", &id]);
    let last = hist.as_array().unwrap().last().unwrap();
    assert!(last["reason"].as_str().unwrap().contains("KEV"), "{last}");
    assert!(
        n["remediation"].to_string().contains("required_action"),
        "{n}"
    );
    assert!(n["summary"]["why"]
        .as_str()
        .unwrap()
        .contains("already exploiting"));

    // Resolve; a removed component resolves the notice by itself.
    let r = v.ok_json(&[
        "notices",
        "resolve",
        &id,
        "--member",
        &a_s,
        "--note",
        "patched to 1.5",
    ]);
    assert_eq!(r["status"], "resolved");
    assert!(r["status_note"].as_str().unwrap().contains("patched"));
    let resolved = v.ok_json(&["notices", "--status", "resolved", "--member", &a_s]);
    assert_eq!(resolved.as_array().unwrap().len(), 1);
    let r = v.ok_json(&["inventory", "remove", "--member", &b_s, "member-b.cdx.json"]);
    assert!(r["notices"]["resolved"].as_u64().unwrap() >= 2, "{r}");
    assert!(v.notices(Some(b)).iter().all(|n| n["status"] == "resolved"));
    let out = v.run(&["notices", "--status", "bogus"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn notices_in_every_format_and_csaf_validates() {
    let v = Vigil::new();
    v.ingest_fixtures();
    v.json(&["ingest", &fixture("kev-demo.json")]);
    let a = v.member("Ministry A", "DE").to_string();
    v.json(&[
        "inventory",
        "import",
        "--member",
        &a,
        &vuln_fixture("inventory.cdx.json"),
    ]);
    v.json(&[
        "inventory",
        "import",
        "--member",
        &a,
        &fixture("assets.csv"),
    ]);
    let list = v.notices(None);
    assert!(list.len() >= 4);
    let id = list
        .iter()
        .find(|n| n["vulnerability"] == "CVE-2024-99001")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Markdown and HTML: the plain-language summary, assets, deadline and references.
    let md = String::from_utf8(v.run(&["notices", "show", &id, "--format", "md"]).stdout).unwrap();
    for h in [
        "## What is it",
        "## Why it matters to you",
        "## What to do",
        "## By when",
        "## Affected assets",
        "app1",
    ] {
        assert!(md.contains(h), "{h} missing from\n{md}");
    }
    let html = String::from_utf8(v.run(&["notices", "--format", "html"]).stdout).unwrap();
    assert!(
        html.contains("<h2>What to do</h2>") && !html.contains("<script"),
        "{html}"
    );
    let text = String::from_utf8(v.run(&["notices"]).stdout).unwrap();
    assert!(text.contains("CVE-2024-99001"), "{text}");
    // JSON via --format json equals --json.
    let j: Value = serde_json::from_slice(&v.run(&["notices", "--format", "json"]).stdout).unwrap();
    assert_eq!(j.as_array().unwrap().len(), list.len());
    // CSAF: one document per line, and one file per notice with --out.
    let csaf = String::from_utf8(v.run(&["notices", "--format", "csaf"]).stdout).unwrap();
    let docs: Vec<Value> = csaf
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), list.len());
    for d in &docs {
        assert_eq!(d["document"]["csaf_version"], "2.0");
        assert_eq!(d["document"]["distribution"]["tlp"]["label"], "AMBER");
    }
    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    assert!(v
        .run(&["notices", "--format", "csaf", "--out", &o])
        .status
        .success());
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), list.len());
    // The CSAF documents validate against the OASIS CSAF 2.0 schema (the peers' Python jsonschema).
    let (Some(py), Some(data)) = (peer_python(), shared()) else {
        return;
    };
    let schema_dir = data.join("csaf/csaf_2.0");
    // A broken copy must be rejected, or this check could not fail.
    let mut bad = docs[0].clone();
    bad["document"]["tracking"]["status"] = serde_json::json!("published");
    let badp = out.path().join("zz-broken.json");
    std::fs::write(&badp, serde_json::to_vec(&bad).unwrap()).unwrap();
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT7
base = sys.argv[1]
schema = json.load(open(base + "/json_schema/csaf_json_schema.json"))
res = []
for name, spec in [("cvss-v2.0.json", DRAFT4), ("cvss-v3.0.json", DRAFT7), ("cvss-v3.1.json", DRAFT7)]:
    res.append(("https://www.first.org/cvss/" + name, Resource.from_contents(json.load(open(base + "/referenced_schema/first/" + name)), default_specification=spec)))
v = Draft202012Validator(schema, registry=Registry().with_resources(res))
for f in sys.argv[2:]:
    errs = sorted(v.iter_errors(json.load(open(f))), key=lambda e: list(e.path))
    print(f, "OK" if not errs else "INVALID " + "; ".join(f"{list(e.path)}: {e.message[:200]}" for e in errs[:5]))
"#;
    let res = Command::new(py)
        .arg("-c")
        .arg(script)
        .arg(&schema_dir)
        .args(&files)
        .arg(&badp)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), files.len() + 1, "{text}");
    for l in &lines[..files.len()] {
        assert!(l.ends_with(" OK"), "{l}");
    }
    assert!(lines[files.len()].contains("INVALID"), "{text}");
}

/// A member per (exposure, criticality) whose CSV inventory names KEV products with CISA vulnrichment SSVC
/// points: every notice's priority follows the CISA SSVC tree and its deadline the BOD 26-04 table; every
/// active-exploitation cell of the tree (12) and every KEV row of the timeline table (8) is reached.
#[test]
fn kev_members_notices_follow_the_decision_tables() {
    use std::collections::BTreeSet;
    use vigil_vuln::priority::{bod_26_04, cisa_decision, Criticality, Exploitation};
    let Some(d) = shared() else { return };
    let v = Vigil::new();
    let kev = d.join("cisa-kev/known_exploited_vulnerabilities.json");
    let rich = d.join("cve-vulnrichment/kev-cves");
    let (r, _) = v.json(&[
        "ingest",
        &kev.display().to_string(),
        &rich.display().to_string(),
    ]);
    assert!(r["added"].as_u64().unwrap() > 1400, "{r}");
    // The oracle: the SSVC points vulnrichment states, read with the library.
    let kev_feed = vigil_vuln::read_advisories("kev", &std::fs::read(&kev).unwrap());
    let mut picks = Vec::new();
    let mut seen = BTreeSet::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&rich)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut enriched = std::collections::HashMap::new();
    for p in files {
        let feed = vigil_vuln::read_advisories("x", &std::fs::read(&p).unwrap());
        for a in feed.advisories {
            if let Some(s) = &a.ssvc {
                if let (Some(au), Some(ti)) = (s.automatable, s.technical_impact) {
                    enriched.insert(a.id.clone(), (au, ti));
                    if let Some(k) = kev_feed.advisories.iter().find(|k| k.id == a.id) {
                        let kk = k.kev.clone().unwrap();
                        if seen.insert((au, ti)) {
                            picks.push((kk.vendor, kk.product));
                        }
                    }
                }
            }
        }
    }
    assert_eq!(
        seen.len(),
        4,
        "every automatable x impact combination: {seen:?}"
    );
    let mut csv = String::from("vendor,product,version,host,internet_facing,criticality\n");
    for (vendor, product) in &picks {
        csv.push_str(&format!(
            "\"{vendor}\",\"{product}\",1.0,host1,EXPOSED,CRIT\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let today = Utc::now().date_naive();
    let mut bod_rows = BTreeSet::new();
    let mut cells = BTreeSet::new();
    let mut checked = 0;
    for exposed in [false, true] {
        for (crit, crit_s) in [
            (Criticality::Low, "low"),
            (Criticality::Medium, "medium"),
            (Criticality::High, "high"),
        ] {
            let m = v.member(&format!("Body exposed={exposed} crit={crit_s}"), "NL");
            let p = dir.path().join(format!("m{m}.csv"));
            std::fs::write(
                &p,
                csv.replace("EXPOSED", if exposed { "yes" } else { "no" })
                    .replace("CRIT", crit_s),
            )
            .unwrap();
            v.json(&[
                "inventory",
                "import",
                "--member",
                &m.to_string(),
                &p.display().to_string(),
            ]);
            for n in v.notices(Some(m)) {
                let vid = n["vulnerability"].as_str().unwrap();
                assert_eq!(n["in_kev"], true, "{vid}");
                let Some(&(au, ti)) = enriched.get(vid) else {
                    continue;
                };
                let want = cisa_decision(Exploitation::Active, au, ti, crit);
                assert_eq!(
                    n["priority"],
                    want.as_str(),
                    "{vid} exposed={exposed} {crit_s}"
                );
                let (tl, rule) = bod_26_04(true, exposed, au, ti);
                assert_eq!(n["deadline_rule"], rule.as_str(), "{vid}");
                let want_deadline = tl
                    .days()
                    .map(|d| (today + Duration::days(d)).format("%Y-%m-%d").to_string());
                assert_eq!(
                    n["deadline"].as_str().map(String::from),
                    want_deadline,
                    "{vid}"
                );
                bod_rows.insert((exposed, au, ti));
                cells.insert((au, ti, crit));
                checked += 1;
            }
        }
    }
    eprintln!(
        "decision tables through notices: {checked} notices checked, {} BOD rows, {} SSVC cells",
        bod_rows.len(),
        cells.len()
    );
    assert_eq!(bod_rows.len(), 8);
    assert_eq!(cells.len(), 12);
}

/// The CycloneDX examples import as members' inventories (most of their Maven, npm and Composer components have
/// no advisory in the shared data; that is expected), each problem named by location.
#[test]
fn cyclonedx_examples_import() {
    let Some(d) = shared() else { return };
    let v = Vigil::new();
    let m = v.member("Ministry C", "AT").to_string();
    let mut files = Vec::new();
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(p).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    walk(&d.join("cyclonedx-examples/SBOM"), &mut files);
    files.sort();
    assert!(files.len() >= 7, "{files:?}");
    let mut total = 0;
    for f in &files {
        let name = f
            .strip_prefix(&d)
            .unwrap()
            .display()
            .to_string()
            .replace('/', "_");
        let (r, code) = v.json(&[
            "inventory",
            "import",
            "--member",
            &m,
            "--name",
            &name,
            &f.display().to_string(),
        ]);
        assert!(code == 0 || code == 1, "{}: {r}", f.display());
        assert_eq!(r["format"], "cyclonedx", "{}", f.display());
        for e in r["errors"].as_array().unwrap() {
            assert!(
                e["location"].as_str().unwrap().contains("components["),
                "{e}"
            );
        }
        total += r["components"].as_i64().unwrap();
    }
    let list = v.ok_json(&["inventory", "list", "--member", &m]);
    assert_eq!(list.as_array().unwrap().len(), files.len());
    assert!(total > 1000, "{total}");
}

/// Notices past their deadline and not resolved are flagged overdue (`overdue` in JSON, `--overdue` filter, OVERDUE in
/// text); resolved ones never are.
#[test]
fn overdue_notices_are_flagged() {
    let v = Vigil::new();
    v.ingest_fixtures();
    v.json(&["ingest", &fixture("kev-demo.json")]);
    let a = v.member("Ministry A", "DE").to_string();
    // Evaluated as of 2025-01-01: deadlines fall in January 2025, long past.
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--data")
        .arg(v.dir.path())
        .args([
            "inventory",
            "import",
            "--member",
            &a,
            &vuln_fixture("inventory.cdx.json"),
            "--json",
        ])
        .env("VIGIL_TODAY", "2025-01-01")
        .output()
        .unwrap();
    assert!(
        out.status.code().unwrap() <= 1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = v.notices(Some(a.parse().unwrap()));
    let dated: Vec<&Value> = list.iter().filter(|n| n["deadline"].is_string()).collect();
    assert!(!dated.is_empty());
    for n in &dated {
        assert!(n["deadline"].as_str().unwrap() <= "2025-03-02", "{n}");
        assert_eq!(n["overdue"], true, "{n}");
    }
    let overdue = v.ok_json(&["notices", "--overdue"]);
    assert_eq!(overdue.as_array().unwrap().len(), dated.len());
    let text = String::from_utf8(v.run(&["notices"]).stdout).unwrap();
    assert!(text.contains("OVERDUE"), "{text}");
    let id = dated[0]["id"].as_str().unwrap();
    v.ok_json(&["notices", "resolve", id]);
    let n = v.ok_json(&["notices", "show", id]);
    assert_eq!(n["overdue"], false);
    // A bad VIGIL_TODAY is an error, not a silent default.
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--data")
        .arg(v.dir.path())
        .args(["notices"])
        .env("VIGIL_TODAY", "yesterday")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Kills the child process (the test's HTTP server) when the test ends, pass or fail.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free local port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serves a folder over HTTP on `port` (Python's `http.server`) until the returned guard is dropped.
fn serve_folder(root: &Path, port: u16) -> Child {
    let server = Child(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m http.server"),
    );
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed().as_secs() < 20,
            "the test HTTP server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    server
}

/// GnuPG in a home of its own (the peer that signs, as CSAF providers sign with it).
struct Gpg(tempfile::TempDir);
impl Gpg {
    fn new() -> Gpg {
        let ok = Command::new("gpg")
            .arg("--version")
            .output()
            .map(|o| o.status.success());
        assert!(
            matches!(ok, Ok(true)),
            "gpg (GnuPG) is needed for the CSAF signature test: apt-get install gnupg (.ci/run does)"
        );
        Gpg(tempfile::tempdir().unwrap())
    }
    fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.0.path())
            .args([
                "--batch",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .expect("gpg");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
    /// A new key (certification only, with a signing subkey, as providers set them up); its fingerprint.
    fn key(&self, uid: &str) -> String {
        self.run(&["--quick-gen-key", uid, "ed25519", "cert", "never"]);
        let listing =
            String::from_utf8(self.run(&["--with-colons", "--fingerprint", uid])).unwrap();
        let fpr = listing
            .lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|r| r.trim_matches(':').to_string())
            })
            .expect("fingerprint");
        self.run(&["--quick-add-key", &fpr, "ed25519", "sign", "never"]);
        fpr
    }
    fn sign(&self, key: &str, file: &Path) {
        let asc = format!("{}.asc", file.display());
        self.run(&[
            "--armor",
            "--detach-sign",
            "-u",
            key,
            "-o",
            &asc,
            &file.display().to_string(),
        ]);
    }
    fn export(&self, key: &str) -> Vec<u8> {
        self.run(&["--armor", "--export", key])
    }
    fn stop(&self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.0.path())
            .args(["--kill", "all"])
            .output();
    }
}
impl Drop for Gpg {
    fn drop(&mut self) {
        self.stop();
    }
}

fn sha512_file(doc: &Path) {
    use sha2::Digest;
    let bytes = std::fs::read(doc).unwrap();
    let hex: String = sha2::Sha512::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = doc.file_name().unwrap().to_string_lossy();
    std::fs::write(
        format!("{}.sha512", doc.display()),
        format!("{hex}  {name}\n"),
    )
    .unwrap();
}

fn errors_of(r: &Value) -> String {
    r["errors"].to_string()
}

/// A CSAF provider's web site in a temporary folder, for tests that serve it over HTTP: `white/2024/` for documents,
/// `openpgp/` for keys, `provider-metadata.json` at the top.
struct CsafSite {
    root: tempfile::TempDir,
    port: u16,
    base: String,
    template: Value,
    /// The Last-Modified time the next write gets (see `write`).
    clock: std::cell::Cell<std::time::SystemTime>,
}

impl CsafSite {
    fn new() -> CsafSite {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("white/2024")).unwrap();
        std::fs::create_dir_all(root.path().join("openpgp")).unwrap();
        let port = free_port();
        CsafSite {
            root,
            port,
            base: format!("http://127.0.0.1:{port}"),
            template: serde_json::from_slice(
                &std::fs::read(vuln_fixture("csaf-demo.json")).unwrap(),
            )
            .unwrap(),
            clock: std::cell::Cell::new(std::time::SystemTime::now()),
        }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }
    /// Writes a file. Python's server validates by Last-Modified, to the second: each write gets a later time than
    /// the one before, or a pull within the same second would be told "304 Not Modified".
    fn write(&self, rel: &str, bytes: &[u8]) {
        let path = self.path(rel);
        std::fs::write(&path, bytes).unwrap();
        self.clock
            .set(self.clock.get() + std::time::Duration::from_secs(2));
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(self.clock.get()))
            .unwrap();
    }
    /// `white/2024/NAME.json`: the demo advisory with this tracking id and CVE, with a `sha512sum` hash file.
    fn doc(&self, name: &str, id: &str, cve: &str) -> PathBuf {
        let mut d = self.template.clone();
        d["document"]["tracking"]["id"] = serde_json::json!(id);
        d["vulnerabilities"][0]["cve"] = serde_json::json!(cve);
        let rel = format!("white/2024/{name}.json");
        self.write(&rel, &serde_json::to_vec_pretty(&d).unwrap());
        sha512_file(&self.path(&rel));
        self.path(&rel)
    }
    /// provider-metadata.json listing these keys (name under `openpgp/`, fingerprint), the `white/` directory and,
    /// when `rolie`, the ROLIE feed `white/feed.json`.
    fn metadata(&self, keys: &[(&str, &str)], rolie: bool) {
        let base = &self.base;
        let listed: Vec<Value> = keys
            .iter()
            .map(|(name, f)| serde_json::json!({"fingerprint": f, "url": format!("{base}/openpgp/{name}.asc")}))
            .collect();
        let mut dists = vec![serde_json::json!({"directory_url": format!("{base}/white/")})];
        if rolie {
            dists.insert(
                0,
                serde_json::json!({"rolie": {"feeds": [{"summary": "white", "tlp_label": "WHITE", "url": format!("{base}/white/feed.json")}]}}),
            );
        }
        let pm = serde_json::json!({
            "canonical_url": format!("{base}/provider-metadata.json"),
            "metadata_version": "2.0", "list_on_CSAF_aggregators": false, "mirror_on_CSAF_aggregators": false,
            "role": "csaf_trusted_provider",
            "publisher": {"category": "vendor", "name": "Demo Project", "namespace": "https://example.org"},
            "last_updated": "2026-01-01T00:00:00Z",
            "public_openpgp_keys": listed,
            "distributions": dists
        });
        self.write("provider-metadata.json", &serde_json::to_vec(&pm).unwrap());
    }
    fn serve(&self) -> Child {
        serve_folder(self.root.path(), self.port)
    }
    fn url(&self) -> String {
        format!("{}/provider-metadata.json", self.base)
    }
}

/// A signing CSAF provider served over HTTP, with documents and signatures made by GnuPG: a document with a good
/// hash and signature is stored; one altered after signing, one signed by a key the provider does not name, and
/// one without a signature (the provider lists a key, so it signs everything) are refused with their reasons, by
/// `vigil ingest URL` and by a `csaf` feed alike. Without keys in the metadata the unsigned ones are taken and said
/// to be unchecked, unless `--require-signature`.
#[test]
fn csaf_provider_signatures_and_hashes() {
    let gpg = Gpg::new();
    let provider = gpg.key("Demo CSAF Provider <csaf@provider.example>");
    let stranger = gpg.key("Someone Else <other@elsewhere.example>");
    let site = CsafSite::new();
    let base = &site.base;
    site.write("openpgp/provider.asc", &gpg.export(&provider));
    let doc = |n: u32| {
        site.doc(
            &format!("demo-sig-0{n}"),
            &format!("DEMO-SIG-2026-0{n}"),
            &format!("CVE-2026-7710{n}"),
        )
    };
    // 01: hash and signature, named by its ROLIE entry's links.
    let d1 = doc(1);
    gpg.sign(&provider, &d1);
    // 02: hash and signature beside it, then altered (another CVE put in).
    let d2 = doc(2);
    gpg.sign(&provider, &d2);
    let altered = std::fs::read_to_string(&d2)
        .unwrap()
        .replace("CVE-2026-77102", "CVE-2026-77192");
    std::fs::write(&d2, altered).unwrap();
    // 03: a good hash, signed by a key the provider does not name.
    let d3 = doc(3);
    gpg.sign(&stranger, &d3);
    // 04: neither.
    std::fs::remove_file(format!("{}.sha512", doc(4).display())).unwrap();
    let metadata = |keys: bool| {
        let listed: &[(&str, &str)] = if keys {
            &[("provider", &provider)]
        } else {
            &[]
        };
        site.metadata(listed, true);
    };
    metadata(true);
    site.write(
        "white/feed.json",
        &serde_json::to_vec(&serde_json::json!({"feed": {"id": "demo-white", "entry": [
            {"id": "DEMO-SIG-2026-01", "updated": "2026-01-01T00:00:00Z", "link": [
                {"rel": "self", "href": format!("{base}/white/2024/demo-sig-01.json")},
                {"rel": "hash", "href": "2024/demo-sig-01.json.sha512"},
                {"rel": "signature", "href": "2024/demo-sig-01.json.asc"}
            ]}
        ]}}))
        .unwrap(),
    );
    site.write(
        "white/index.txt",
        b"2024/demo-sig-01.json\n2024/demo-sig-02.json\n2024/demo-sig-03.json\n2024/demo-sig-04.json\n",
    );
    let _server = site.serve();
    let url = site.url();

    let v = Vigil::new();
    let (r, code) = v.json(&["ingest", &url]);
    assert_eq!(code, 1, "{r}");
    let i = &r["integrity"];
    assert_eq!(i["keys"], serde_json::json!([provider]), "{r}");
    assert_eq!(i["signatures_required"], true, "{r}");
    assert_eq!(
        (i["signature_verified"].as_u64(), i["hash_matched"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(i["refused"], 3, "{r}");
    let errors = errors_of(&r);
    assert!(
        errors.contains("demo-sig-02.json") && errors.contains("sha512 hash mismatch"),
        "{errors}"
    );
    assert!(
        errors.contains("demo-sig-03.json") && errors.contains("does not verify"),
        "{errors}"
    );
    assert!(
        errors.contains("demo-sig-04.json") && errors.contains("signatures are required"),
        "{errors}"
    );
    assert!(v.run(&["show", "CVE-2026-77101"]).status.success());
    for refused in [
        "CVE-2026-77192",
        "CVE-2026-77102",
        "CVE-2026-77103",
        "CVE-2026-77104",
    ] {
        assert!(
            !v.run(&["show", refused]).status.success(),
            "{refused} was stored"
        );
    }

    // Documents named one by one: the keys come from where CSAF puts the metadata on their host.
    let one = |doc: &str| {
        let (r, _) = Vigil::new().json(&["ingest", &format!("{base}/white/2024/{doc}")]);
        r
    };
    let r = one("demo-sig-01.json");
    assert_eq!(
        r["integrity"]["metadata"],
        Value::Null,
        "none there yet: {r}"
    );
    assert_eq!(r["integrity"]["signature_verified"], 0, "{r}");
    std::fs::create_dir_all(site.path(".well-known/csaf")).unwrap();
    site.write(
        ".well-known/csaf/provider-metadata.json",
        &std::fs::read(site.path("provider-metadata.json")).unwrap(),
    );
    let r = one("demo-sig-01.json");
    assert_eq!(
        r["integrity"]["metadata"],
        format!("{base}/.well-known/csaf/provider-metadata.json"),
        "{r}"
    );
    assert_eq!(
        (
            r["integrity"]["signature_verified"].as_u64(),
            r["integrity"]["keys"].clone()
        ),
        (Some(1), serde_json::json!([provider])),
        "{r}"
    );
    let r = one("demo-sig-03.json");
    assert_eq!(r["integrity"]["refused"], 1, "{r}");
    assert!(errors_of(&r).contains("does not verify"), "{r}");

    // The same provider as a scheduled feed.
    let f = Vigil::new();
    f.ok_json(&[
        "feeds",
        "add",
        "--name",
        "demo-csaf",
        "--kind",
        "csaf",
        "--url",
        &url,
    ]);
    let (pulled, _) = f.json(&["feeds", "pull", "--name", "demo-csaf"]);
    let p = &pulled[0];
    assert_eq!(p["ok"], false, "{p}");
    assert_eq!(p["integrity"]["signature_verified"], 1, "{p}");
    assert_eq!(p["integrity"]["refused"], 3, "{p}");
    assert!(p["problems"].to_string().contains("refused"), "{p}");
    assert!(f.run(&["show", "CVE-2026-77101"]).status.success());
    assert!(!f.run(&["show", "CVE-2026-77104"]).status.success());

    // A provider that lists no key: unsigned documents are taken and said to be; the altered one is still refused.
    metadata(false);
    let u = Vigil::new();
    let (r, code) = u.json(&["ingest", &url]);
    assert_eq!(code, 1, "{r}");
    let i = &r["integrity"];
    assert_eq!(
        (i["refused"].as_u64(), i["unchecked"].as_u64()),
        (Some(1), Some(3)),
        "{r}"
    );
    assert_eq!(i["signature_verified"], 0, "{r}");
    assert!(u.run(&["show", "CVE-2026-77104"]).status.success());
    let strict = Vigil::new();
    let (r, _) = strict.json(&["ingest", "--require-signature", &url]);
    assert_eq!(r["integrity"]["refused"], 4, "{r}");
    assert!(!strict.run(&["show", "CVE-2026-77101"]).status.success());
}

/// A `csaf` feed pins the provider's keys on its first pull (trust on first use) and holds to them: when the
/// provider's web server later lists another key (a rotation, or whoever took the server over) or none at all,
/// documents signed by anything but the pinned key are refused and the pull says what to do; once an operator
/// trusts the new key (`vigil feeds trust-keys`), they are taken. Keys declared with `--openpgp-key` are the only
/// ones trusted from the start, by a feed and by `vigil ingest URL` alike.
#[test]
fn csaf_feed_pins_provider_keys() {
    let gpg = Gpg::new();
    let first = gpg.key("Demo CSAF Provider <csaf@provider.example>");
    let second = gpg.key("Demo CSAF Provider 2027 <csaf2027@provider.example>");
    let site = CsafSite::new();
    site.write("openpgp/first.asc", &gpg.export(&first));
    site.write("openpgp/second.asc", &gpg.export(&second));
    let listed = std::cell::RefCell::new(Vec::<String>::new());
    // Writes document `n` (signed by `key` when given), lists it, and returns its CVE.
    let doc = |n: u32, key: Option<&str>| {
        let cve = format!("CVE-2026-7720{n}");
        let path = site.doc(
            &format!("demo-pin-0{n}"),
            &format!("DEMO-PIN-2026-0{n}"),
            &cve,
        );
        if let Some(k) = key {
            gpg.sign(k, &path);
        }
        let mut l = listed.borrow_mut();
        l.push(format!("2024/demo-pin-0{n}.json"));
        site.write("white/index.txt", (l.join("\n") + "\n").as_bytes());
        cve
    };
    let metadata = |keys: &[(&str, &str)]| site.metadata(keys, false);
    let cve1 = doc(1, Some(&first));
    metadata(&[("first", &first)]);
    let _server = site.serve();
    let url = site.url();
    let f = Vigil::new();
    f.ok_json(&[
        "feeds", "add", "--name", "demo", "--kind", "csaf", "--url", &url,
    ]);
    let pull = || {
        let (r, _) = f.json(&["feeds", "pull", "--name", "demo"]);
        r[0].clone()
    };

    // First pull: the listed key is pinned.
    let p = pull();
    assert_eq!(p["ok"], true, "{p}");
    assert_eq!(p["integrity"]["trust"], "first-use", "{p}");
    assert_eq!(p["integrity"]["signature_verified"], 1, "{p}");
    let st = f.ok_json(&["feeds", "status"]);
    assert_eq!(st[0]["pinned_keys"], serde_json::json!([first]), "{st}");
    assert!(f.run(&["show", &cve1]).status.success());

    // The server now lists another key, which signed a new document: refused, with the way out named.
    let cve2 = doc(2, Some(&second));
    metadata(&[("second", &second)]);
    let p = pull();
    assert_eq!(p["ok"], false, "{p}");
    assert_eq!(p["integrity"]["trust"], "pinned", "{p}");
    assert_eq!(
        p["integrity"]["untrusted_keys"],
        serde_json::json!([second]),
        "{p}"
    );
    assert_eq!(p["integrity"]["refused"], 1, "{p}");
    let problems = p["problems"].to_string();
    assert!(
        problems.contains("does not trust")
            && problems.contains("vigil feeds trust-keys --name demo"),
        "{problems}"
    );
    assert!(!f.run(&["show", &cve2]).status.success());

    // Nor does listing no key at all make unsigned documents acceptable.
    let cve3 = doc(3, None);
    metadata(&[]);
    let p = pull();
    assert_eq!(p["integrity"]["signatures_required"], true, "{p}");
    assert_eq!(p["integrity"]["refused"], 2, "{p}");
    assert!(!f.run(&["show", &cve3]).status.success());

    // The operator checks the new key with the provider and trusts it (typed as gpg prints it).
    gpg.sign(&second, &site.path("white/2024/demo-pin-03.json"));
    metadata(&[("first", &first), ("second", &second)]);
    let typed: String = second
        .to_lowercase()
        .chars()
        .enumerate()
        .flat_map(|(i, c)| (i > 0 && i % 4 == 0).then_some(' ').into_iter().chain([c]))
        .collect();
    let t = f.ok_json(&[
        "feeds",
        "trust-keys",
        "--name",
        "demo",
        "--fingerprint",
        &typed,
        "--fingerprint",
        &first,
    ]);
    assert_eq!(t["pinned_keys"], serde_json::json!([second, first]), "{t}");
    assert_eq!(t["previously_pinned"], serde_json::json!([first]), "{t}");
    let p = pull();
    assert_eq!(p["ok"], true, "{p}");
    assert_eq!(p["integrity"]["untrusted_keys"], Value::Null, "{p}");
    assert_eq!(p["integrity"]["signature_verified"], 2, "{p}");
    assert!(f.run(&["show", &cve2]).status.success());
    assert!(f.run(&["show", &cve3]).status.success());
    // A key the feed does not trust fails the pull even when no new document needs it: the operator must hear of it.
    f.ok_json(&[
        "feeds",
        "trust-keys",
        "--name",
        "demo",
        "--fingerprint",
        &first,
    ]);
    let p = pull();
    assert_eq!(
        (p["ok"].as_bool(), p["changed"].as_u64()),
        (Some(false), Some(0)),
        "{p}"
    );
    assert!(
        p["error"]
            .to_string()
            .contains("not the ones this feed trusts"),
        "{p}"
    );
    // A trusted key the provider stops offering while another trusted one signs: said, but not a failure.
    f.ok_json(&[
        "feeds",
        "trust-keys",
        "--name",
        "demo",
        "--fingerprint",
        &first,
        "--fingerprint",
        &second,
    ]);
    metadata(&[("second", &second)]);
    let p = pull();
    assert_eq!(p["ok"], true, "{p}");
    assert!(
        p["problems"]
            .to_string()
            .contains("not among the provider's usable keys"),
        "{p}"
    );
    metadata(&[("first", &first), ("second", &second)]);

    // Declared keys: only those, from the first pull. The provider lists both keys; a feed that declares `first`
    // takes the document `first` signed and refuses those `second` signed.
    let d = Vigil::new();
    d.ok_json(&[
        "feeds",
        "add",
        "--name",
        "declared",
        "--kind",
        "csaf",
        "--url",
        &url,
        "--openpgp-key",
        &first,
    ]);
    let (r, _) = d.json(&["feeds", "pull", "--name", "declared"]);
    let p = &r[0];
    assert_eq!(p["integrity"]["trust"], "declared", "{p}");
    assert_eq!(
        p["integrity"]["untrusted_keys"],
        serde_json::json!([second]),
        "{p}"
    );
    assert_eq!(
        (
            p["integrity"]["signature_verified"].as_u64(),
            p["integrity"]["refused"].as_u64()
        ),
        (Some(1), Some(2)),
        "{p}"
    );
    let e = d.run(&["feeds", "trust-keys", "--name", "declared", "--forget"]);
    assert!(!e.status.success());
    assert!(String::from_utf8_lossy(&e.stderr).contains("declares its keys"));
    // The same through `vigil ingest URL --openpgp-key`.
    let i = Vigil::new();
    let (r, code) = i.json(&["ingest", "--openpgp-key", &first, &url]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["integrity"]["trust"], "declared", "{r}");
    assert_eq!(
        r["integrity"]["untrusted_keys"],
        serde_json::json!([second]),
        "{r}"
    );
    assert_eq!(r["integrity"]["signature_verified"], 1, "{r}");
    assert!(i.run(&["show", &cve1]).status.success());
    assert!(!i.run(&["show", &cve2]).status.success());
    // Without it, the metadata's keys are trusted as listed.
    let (r, _) = Vigil::new().json(&["ingest", &url]);
    assert_eq!(r["integrity"]["trust"], "metadata", "{r}");
    assert_eq!(
        (
            r["integrity"]["signature_verified"].as_u64(),
            r["integrity"]["refused"].as_u64()
        ),
        (Some(3), Some(0)),
        "{r}"
    );
    // Keys and the signature rule belong to csaf feeds; fingerprints must be fingerprints.
    for bad in [
        vec![
            "feeds",
            "add",
            "--name",
            "u",
            "--kind",
            "url",
            "--url",
            &url,
            "--openpgp-key",
            &first,
        ],
        vec![
            "feeds",
            "add",
            "--name",
            "u",
            "--kind",
            "csaf",
            "--url",
            &url,
            "--openpgp-key",
            "DEADBEEF",
        ],
        vec![
            "feeds",
            "trust-keys",
            "--name",
            "demo",
            "--fingerprint",
            "xyz",
        ],
    ] {
        let o = f.run(&bad);
        assert!(!o.status.success(), "{bad:?}");
    }
}

/// A CSAF aggregator's list (`aggregator.json`) served over HTTP becomes one `csaf` feed per provider (and per
/// publisher the aggregator mirrors); a second run adds none of them again; a listed provider is pulled like any.
#[test]
fn csaf_aggregator_becomes_feeds() {
    let site = CsafSite::new();
    let base = site.base.clone();
    site.doc("demo-agg-01", "DEMO-AGG-2026-01", "CVE-2026-77301");
    site.write("white/index.txt", b"2024/demo-agg-01.json\n");
    site.metadata(&[], false);
    let meta = std::fs::read(site.path("provider-metadata.json")).unwrap();
    for dir in ["vendor-b", "mirror/small"] {
        std::fs::create_dir_all(site.path(dir)).unwrap();
        site.write(&format!("{dir}/provider-metadata.json"), &meta);
    }
    let entry = |name: &str, ns: &str, url: &str| {
        serde_json::json!({"metadata": {"last_updated": "2026-01-01T00:00:00Z", "role": "csaf_provider",
            "publisher": {"category": "vendor", "name": name, "namespace": ns}, "url": url}})
    };
    let mut publisher = entry(
        "Small Vendor",
        "https://small.example",
        "https://small.example/x.json",
    );
    publisher["mirrors"] =
        serde_json::json!([format!("{base}/mirror/small/provider-metadata.json")]);
    publisher["update_interval"] = serde_json::json!("daily");
    site.write(
        "aggregator.json",
        &serde_json::to_vec(&serde_json::json!({
            "aggregator": {"category": "aggregator", "name": "Demo CERT", "namespace": "https://cert.example"},
            "aggregator_version": "2.0", "canonical_url": format!("{base}/aggregator.json"),
            "last_updated": "2026-01-01T00:00:00Z",
            "csaf_providers": [
                entry("Vendor A", "https://www.vendor-a.example", &format!("{base}/provider-metadata.json")),
                entry("Vendor B", "https://vendor-b.example", "vendor-b/provider-metadata.json"),
                {"metadata": {"publisher": {"name": "Broken"}}}
            ],
            "csaf_publishers": [publisher]
        }))
        .unwrap(),
    );
    let _server = site.serve();
    let agg = format!("{base}/aggregator.json");
    let v = Vigil::new();
    let r = v.ok_json(&["feeds", "add-aggregator", "--url", &agg, "--dry-run"]);
    assert_eq!(r["added"].as_array().map(Vec::len), Some(3), "{r}");
    assert_eq!(v.ok_json(&["feeds", "status"]), serde_json::json!([]));
    let r = v.ok_json(&["feeds", "add-aggregator", "--url", &agg]);
    let names: Vec<&str> = r["added"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "csaf-vendor-a.example",
            "csaf-vendor-b.example",
            "csaf-small.example"
        ],
        "{r}"
    );
    assert_eq!(r["added"][2]["mirrored_publisher"], true, "{r}");
    assert!(
        r["skipped"][0]["entry"].to_string().contains("Broken"),
        "{r}"
    );
    let st = v.ok_json(&["feeds", "status"]);
    assert_eq!(st.as_array().map(Vec::len), Some(3), "{st}");
    assert_eq!(st[0]["kind"], "csaf", "{st}");
    assert_eq!(st[0]["interval"], "1d", "{st}");
    // Again: nothing new.
    let r = v.ok_json(&["feeds", "add-aggregator", "--url", &agg]);
    assert_eq!(
        (
            r["added"].as_array().map(Vec::len),
            r["existing"].as_array().map(Vec::len)
        ),
        (Some(0), Some(3)),
        "{r}"
    );
    let (p, _) = v.json(&["feeds", "pull", "--name", "csaf-vendor-b.example"]);
    assert_eq!(p[0]["changed"], 1, "{p}");
    assert!(v.run(&["show", "CVE-2026-77301"]).status.success());
    // A provider's metadata is not an aggregator's list: said so.
    let o = v.run(&["feeds", "add-aggregator", "--url", &site.url()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("vigil feeds add --kind csaf"));
}

/// A CSAF provider served over HTTP (Python's `http.server` on a folder the test writes): provider-metadata.json
/// naming a ROLIE feed and a directory with index.txt; each document is read once, a listed document that is
/// missing is reported with its URL, and the rest are stored.
#[test]
fn csaf_provider_over_http() {
    let v = Vigil::new();
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let w = root.path().join("white/2024");
    std::fs::create_dir_all(&w).unwrap();
    std::fs::copy(
        vuln_fixture("csaf-demo.json"),
        w.join("demo-sa-2024-01.json"),
    )
    .unwrap();
    let mut second: Value =
        serde_json::from_slice(&std::fs::read(vuln_fixture("csaf-demo.json")).unwrap()).unwrap();
    second["document"]["tracking"]["id"] = serde_json::json!("DEMO-SA-2024-02");
    second["vulnerabilities"][0]["cve"] = serde_json::json!("CVE-2024-99077");
    std::fs::write(
        w.join("demo-sa-2024-02.json"),
        serde_json::to_vec(&second).unwrap(),
    )
    .unwrap();
    std::fs::write(
        root.path().join("provider-metadata.json"),
        serde_json::to_vec(&serde_json::json!({
            "canonical_url": format!("{base}/provider-metadata.json"),
            "metadata_version": "2.0", "list_on_CSAF_aggregators": false, "mirror_on_CSAF_aggregators": false,
            "role": "csaf_trusted_provider",
            "publisher": {"category": "vendor", "name": "Demo Project", "namespace": "https://example.org"},
            "last_updated": "2026-01-01T00:00:00Z",
            "distributions": [
                {"rolie": {"feeds": [{"summary": "white", "tlp_label": "WHITE", "url": format!("{base}/white/feed.json")}]}},
                {"directory_url": format!("{base}/white/")}
            ]
        }))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(
        root.path().join("white/feed.json"),
        serde_json::to_vec(&serde_json::json!({"feed": {"id": "demo-white", "entry": [
            {"id": "DEMO-SA-2024-01", "link": [{"rel": "self", "href": format!("{base}/white/2024/demo-sa-2024-01.json")}]},
            {"id": "DEMO-SA-2024-02", "content": {"type": "application/json", "src": "2024/demo-sa-2024-02.json"}}
        ]}}))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(
        root.path().join("white/index.txt"),
        "2024/demo-sa-2024-01.json\n2024/demo-sa-2024-02.json\n2024/missing.json\n",
    )
    .unwrap();
    // A KEV catalogue beside them, with a hash file that does not match it: CSAF's companion files are a CSAF
    // rule, so a document that is not CSAF is neither checked against them nor costs the requests.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vuln/kev-demo.json"),
        root.path().join("kev.json"),
    )
    .unwrap();
    std::fs::write(
        root.path().join("kev.json.sha512"),
        format!("{}  kev.json\n", "0".repeat(128)),
    )
    .unwrap();
    let server = serve_folder(root.path(), port);
    let (k, _) = Vigil::new().json(&["ingest", &format!("{base}/kev.json")]);
    assert_eq!(k["integrity"], Value::Null, "{k}");
    assert_eq!(
        (k["formats"]["kev-json"].as_u64(), k["added"].as_u64()),
        (Some(1), Some(1)),
        "{k}"
    );
    assert!(!k["errors"].to_string().contains("sha512"), "{k}");
    let (r, code) = v.json(&["ingest", &format!("{base}/provider-metadata.json")]);
    drop(server);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["files"], 2, "each document once: {r}");
    assert_eq!(r["formats"]["csaf"], 2, "{r}");
    assert!(r["errors"].to_string().contains("missing.json"), "{r}");
    assert!(r["errors"].to_string().contains("404"), "{r}");
    let stats = v.ok_json(&["stats"]);
    assert!(
        stats["objects"]["vulnerability"].as_u64().unwrap() >= 2,
        "{stats}"
    );
    let shown = v.ok_json(&["show", "CVE-2024-99077"]);
    assert!(shown.to_string().contains("CVE-2024-99077"));
}

/// Actors the knowledge base relates to a CVE (a STIX bundle: intrusion set `targets` vulnerability) are supporting
/// facts of the findings and notices about that CVE.
#[test]
fn known_actor_use_is_a_supporting_fact() {
    let v = Vigil::new();
    v.ingest_fixtures();
    // STIX and advisories in one run: one JSON document, the advisory report under `advisories`.
    let (r, code) = v.json(&[
        "ingest",
        &fixture("actor-exploits.json"),
        &fixture("epss-low.csv"),
    ]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["added"], 3, "{r}");
    assert_eq!(r["advisories"]["epss_scores"], 2, "{r}");
    let (s, _) = v.json(&["scan", &vuln_fixture("inventory.cdx.json")]);
    let demo = findings_of(&s, "demo-pkg");
    assert!(
        demo[0]["reasons"]
            .to_string()
            .contains("known to be used by: Demo Spider"),
        "{}",
        demo[0]["reasons"]
    );
}

/// A vulnerability in the knowledge base carries what every source says about it, whichever order they came in:
/// the KEV entry (with ransomware use), EPSS, and the actor an ATT&CK-style STIX feed relates to its own
/// vulnerability object; the same over REST, where a member sees only what its TLP scope allows.
#[test]
fn vulnerabilities_are_linked_to_kev_epss_and_actors() {
    let v = Vigil::new();
    // The actor report first, then KEV and EPSS.
    let (r, code) = v.json(&["ingest", &fixture("actor-exploits.json")]);
    assert_eq!(code, 0, "{r}");
    let (r, code) = v.json(&[
        "ingest",
        &fixture("kev-demo.json"),
        &fixture("epss-high.csv"),
    ]);
    // kev-demo.json holds one malformed entry on purpose: reported, the rest stored.
    assert_eq!((code, r["added"].as_u64()), (1, Some(1)), "{r}");
    let show = v.ok_json(&["show", "CVE-2024-99001"]);
    let ctx = &show["vulnerability"];
    assert_eq!(ctx["in_kev"], true, "{show}");
    let kev: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("kev-demo.json")).unwrap()).unwrap();
    let ransomware = kev["vulnerabilities"][0]["knownRansomwareCampaignUse"] == "Known";
    assert_eq!(ctx["known_ransomware_use"], ransomware, "{ctx}");
    assert!(ctx["kev"]["due_date"].as_str().is_some(), "{ctx}");
    assert_eq!(ctx["epss"]["score"].as_f64(), Some(0.65), "{ctx}");
    assert_eq!(ctx["epss"]["percentile"].as_f64(), Some(0.991), "{ctx}");
    let by = ctx["exploited_by"].as_array().unwrap();
    assert_eq!(by.len(), 1, "{ctx}");
    assert_eq!(by[0]["name"], "Demo Spider");
    assert_eq!(by[0]["relationship"], "targets");
    assert_eq!(
        ctx["objects"].as_array().map(Vec::len),
        Some(2),
        "both sources' objects: {ctx}"
    );
    // Over REST, from whichever object the caller opens.
    let m = v.member("Agency A", "AT");
    let tok = v.ok_json(&[
        "tokens",
        "create",
        "--member",
        &m.to_string(),
        "--role",
        "member",
    ])["token"]
        .as_str()
        .unwrap()
        .to_string();
    let srv = common::serve(v.dir.path(), &["--no-feeds"]);
    for id in ctx["objects"].as_array().unwrap() {
        let (s, o) = http(
            &srv.base,
            "GET",
            &format!("/api/v1/objects/{}", id.as_str().unwrap()),
            &tok,
            b"",
        );
        assert_eq!(s, 200, "{o}");
        let c = &o["vulnerability"];
        assert_eq!(c["in_kev"], true, "{o}");
        assert_eq!(c["exploited_by"][0]["name"], "Demo Spider", "{o}");
        assert!(
            c.get("notices").is_none(),
            "members do not see who else is affected"
        );
    }
}

/// One HTTP/1.1 request to the served API (`Connection: close`), without a client library, so that the test
/// sees exactly what goes over the wire. Returns the status and the body as JSON (Null when it is not JSON).
fn http(base: &str, method: &str, path: &str, token: &str, body: &[u8]) -> (u16, Value) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .expect("timeout");
    let accept = if path.starts_with("/taxii2/") {
        "application/taxii+json;version=2.1"
    } else {
        "application/json"
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: {accept}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body).expect("write");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("read");
    let text = String::from_utf8_lossy(&resp).to_string();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let (headers, body) = text.split_once("\r\n\r\n").expect("head");
    let body = if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        // Chunked: size line, data, repeat.
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_string()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A member uploads its inventory to the running server: its notices are evaluated at once, readable over REST
/// and in its TAXII collection, acknowledged there, and never visible to another member.
#[test]
fn inventory_upload_over_the_api_produces_notices_at_once() {
    let v = Vigil::new();
    v.ingest_fixtures();
    let a = v.member("Agency A", "AT");
    let b = v.member("Agency B", "BE");
    let token = |m: i64| {
        v.ok_json(&[
            "tokens",
            "create",
            "--member",
            &m.to_string(),
            "--role",
            "member",
        ])["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (ta, tb) = (token(a), token(b));
    let srv = common::serve(v.dir.path(), &["--no-feeds"]);
    let inv = std::fs::read(vuln_fixture("inventory.csv")).unwrap();
    let (s, up) = http(
        &srv.base,
        "POST",
        "/api/v1/inventories?name=assets.csv",
        &ta,
        &inv,
    );
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["member"], a);
    let created = up["notices"]["created"].as_u64().unwrap();
    assert!(created >= 2, "the upload evaluated A's notices: {up}");
    let (s, list) = http(&srv.base, "GET", "/api/v1/notices", &ta, b"");
    assert_eq!(s, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, created, "{list}");
    assert!(items.iter().all(|n| n["member"] == a));
    // The CLI sees the same notices the API wrote.
    assert_eq!(v.notices(Some(a)).len() as u64, created);
    // B has nothing, and cannot reach A's.
    let (_, lb) = http(&srv.base, "GET", "/api/v1/notices", &tb, b"");
    assert_eq!(lb["items"].as_array().map(Vec::len), Some(0), "{lb}");
    let first = items[0]["id"].as_str().unwrap().to_string();
    let (s, _) = http(
        &srv.base,
        "GET",
        &format!("/api/v1/notices/{first}"),
        &tb,
        b"",
    );
    assert_eq!(s, 404);
    let (s, _) = http(
        &srv.base,
        "POST",
        &format!("/api/v1/notices/{first}/acknowledge"),
        &tb,
        b"",
    );
    assert_eq!(s, 404);
    // A acknowledges; its TAXII collection carries one report per notice and the note.
    let (s, n) = http(
        &srv.base,
        "POST",
        &format!("/api/v1/notices/{first}/acknowledge"),
        &ta,
        b"{\"note\":\"on it\"}",
    );
    assert_eq!(
        (s, n["status"].as_str()),
        (200, Some("acknowledged")),
        "{n}"
    );
    let (s, coll) = http(
        &srv.base,
        "GET",
        &format!("/taxii2/vigil/collections/member-{a}/objects/?limit=1000"),
        &ta,
        b"",
    );
    assert_eq!(s, 200, "{coll}");
    let objs = coll["objects"].as_array().unwrap();
    let reports = objs.iter().filter(|o| o["type"] == "report").count() as u64;
    let notes = objs.iter().filter(|o| o["type"] == "note").count();
    assert_eq!((reports, notes), (created, 1), "{coll}");
    let (s, _) = http(
        &srv.base,
        "GET",
        &format!("/taxii2/vigil/collections/member-{a}/objects/"),
        &tb,
        b"",
    );
    assert_eq!(s, 404);
    // Removing the inventory resolves the notices.
    let (s, _) = http(
        &srv.base,
        "DELETE",
        "/api/v1/inventories/assets.csv",
        &ta,
        b"",
    );
    assert_eq!(s, 204);
    let (_, open) = http(&srv.base, "GET", "/api/v1/notices?status=new", &ta, b"");
    assert_eq!(open["items"].as_array().map(Vec::len), Some(0), "{open}");
}

/// A CSAF URL whose server sends without end, or announces a body beyond the size limit, is refused by size
/// while it is read (the body is never taken whole into memory first), and the next URL is still read.
#[test]
fn csaf_urls_beyond_the_size_limit_are_cut_while_reading() {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let demo = std::fs::read(vuln_fixture("csaf-demo.json")).expect("fixture");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let demo = demo.clone();
            std::thread::spawn(move || {
                let mut path = String::new();
                let mut r = BufReader::new(conn.try_clone().expect("clone"));
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if path.is_empty() {
                        path = line.split(' ').nth(1).unwrap_or("").to_string();
                    }
                    if line == "\r\n" {
                        break;
                    }
                    line.clear();
                }
                let _ = match path.as_str() {
                    "/endless.json" => {
                        let _ = conn.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[",
                        );
                        let chunk = vec![b' '; 1 << 16];
                        // Until the client hangs up: it must, at the limit.
                        while conn.write_all(&chunk).is_ok() {}
                        Ok(())
                    }
                    "/announced.json" => conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1099511627776\r\nConnection: close\r\n\r\n{",
                    ),
                    "/demo.json" => conn.write_all(
                        &[
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                demo.len()
                            )
                            .into_bytes(),
                            demo,
                        ]
                        .concat(),
                    ),
                    // No hash file, signature or provider metadata: a plain document URL.
                    _ => conn.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
            });
        }
    });
    let v = Vigil::new();
    let base = format!("http://127.0.0.1:{port}");
    let (r, code) = v.json(&[
        "ingest",
        "--format",
        "csaf",
        &format!("{base}/endless.json"),
        &format!("{base}/announced.json"),
        &format!("{base}/demo.json"),
    ]);
    assert_ne!(code, 0, "{r}");
    let text = r.to_string();
    for u in ["endless.json", "announced.json"] {
        assert!(
            r["errors"].as_array().is_some_and(|es| es.iter().any(
                |e| e.to_string().contains(u) && e.to_string().contains("larger than 256 MiB")
            )),
            "{u} not refused by size: {text}"
        );
    }
    // The document after them is read.
    assert!(r["added"].as_u64().is_some_and(|n| n >= 1), "{text}");
}

/// Advisories against Vigil's own dependencies that the project has weighed: (crate, advisory, why it does not
/// apply). A finding not listed here fails [`own_dependencies_have_no_unweighed_rustsec_advisory`].
const WEIGHED_OWN_ADVISORIES: [(&str, &str, &str); 1] = [(
    "rsa",
    "RUSTSEC-2023-0071",
    "Marvin: a timing leak in operations with an RSA private key; `pgp` uses `rsa` here only to verify CSAF \
     signatures with public keys, and no fixed version exists",
)];

/// Vigil's own dependencies (the workspace's `Cargo.lock`, as package URLs) scanned by `vigil scan` against the
/// shared RustSec advisories: a dependency update that brings a crate with a known vulnerability fails the suite
/// until the finding is weighed above.
#[test]
fn own_dependencies_have_no_unweighed_rustsec_advisory() {
    let Some(data) = shared() else { return };
    let lock =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock"))
            .expect("the workspace's Cargo.lock");
    let doc: toml::Value = toml::from_str(&lock).expect("Cargo.lock is TOML");
    let packages = doc["package"].as_array().expect("[[package]] entries");
    let purls: Vec<String> = packages
        .iter()
        .filter(|p| {
            p.get("source")
                .and_then(|s| s.as_str())
                .is_some_and(|s| s.starts_with("registry+"))
        })
        .map(|p| {
            format!(
                "pkg:cargo/{}@{}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    assert!(purls.len() > 100, "{} registry crates", purls.len());
    let v = Vigil::new();
    let list = v.dir.path().join("vigil-dependencies.txt");
    std::fs::write(&list, purls.join("\n")).unwrap();
    let advisories = data.join("rustsec/rustsec-advisory-db.tar.gz");
    let (r, _) = v.json(&[
        "scan",
        list.to_str().unwrap(),
        "--advisories",
        advisories.to_str().unwrap(),
    ]);
    assert_eq!(r["components"].as_u64(), Some(purls.len() as u64), "{r}");
    let findings = r["findings"].as_array().unwrap();
    for f in findings {
        let name = f["component"]["name"].as_str().unwrap_or("?");
        let ids: Vec<&str> = std::iter::once(&f["vulnerability"])
            .chain(f["aliases"].as_array().into_iter().flatten())
            .filter_map(|x| x.as_str())
            .collect();
        assert!(
            WEIGHED_OWN_ADVISORIES
                .iter()
                .any(|(c, id, _)| *c == name && ids.contains(id)),
            "Vigil depends on {name} {}, which has {ids:?} ({}); update it, or weigh the advisory in \
             WEIGHED_OWN_ADVISORIES",
            f["component"]["version"],
            f["priority"]
        );
    }
    // The scan reads the lock file's crates: while `pgp` pulls in rsa 0.9, its weighed advisory is reported.
    if purls.iter().any(|p| p.starts_with("pkg:cargo/rsa@0.9.")) {
        assert!(
            findings.iter().any(|f| f["component"]["name"] == "rsa"),
            "rsa 0.9 is in Cargo.lock but RUSTSEC-2023-0071 was not found: {r}"
        );
    }
}
