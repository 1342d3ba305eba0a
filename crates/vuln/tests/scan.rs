//! End-to-end matching over fixtures the project wrote: the false-positive traps of other tools, merging of one
//! CVE from OSV, CVE 5 and CSAF into one finding, unknown versions, priorities and every notice format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::NaiveDate;
use vigil_model::{StixObject, Tlp};
use vigil_vuln::matcher::{Confidence, ScanOptions};
use vigil_vuln::notice::CsafPublisher;
use vigil_vuln::priority::{AssetContext, Criticality, Decision};
use vigil_vuln::{build_notices, read_advisories, read_inventory, scan, Index, IndexBuilder};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn index() -> Index {
    let mut b = IndexBuilder::new();
    for f in [
        "osv-multi-pairs.json",
        "cve5-demo.json",
        "csaf-demo.json",
        "osv-last-affected.json",
        "osv-debian-epoch.json",
        "cve5-log4j-wildcard.json",
    ] {
        let feed = read_advisories(f, &fixture(f));
        b.add_batch(feed);
    }
    b.build()
}

fn opts() -> ScanOptions {
    ScanOptions {
        today: NaiveDate::from_ymd_opt(2026, 1, 10).unwrap(),
        ..ScanOptions::default()
    }
}

#[test]
fn traps_merging_and_unknowns() {
    let ix = index();
    // The CSAF vulnerability naming an undefined product id is reported, not fatal.
    assert!(
        ix.diagnostics
            .iter()
            .any(|d| d.message.contains("NOT-IN-TREE")),
        "{:?}",
        ix.diagnostics
    );
    // The CPE with ANY vendor and ANY product is refused as too broad.
    assert!(ix
        .diagnostics
        .iter()
        .any(|d| d.message.contains("too broad")));
    let inv = read_inventory("inventory.cdx.json", &fixture("inventory.cdx.json"));
    assert_eq!(inv.errors.len(), 1, "{:?}", inv.errors);
    assert_eq!(inv.errors[0].location, "inventory.cdx.json: components[10]");
    let r = scan(&ix, &inv.items, &opts());
    let hits = |name: &str| {
        r.findings
            .iter()
            .filter(|f| f.component.name == name)
            .collect::<Vec<_>>()
    };

    // One finding for one CVE from three sources.
    let demo = hits("demo-pkg");
    assert_eq!(demo.len(), 1, "{demo:#?}");
    let f = demo[0];
    assert_eq!(f.vulnerability, "CVE-2024-99001");
    for a in ["GHSA-vigl-0001-test", "PYSEC-2024-9001", "DEMO-SA-2024-01"] {
        assert!(
            f.aliases.iter().any(|x| x == a),
            "{a} missing from {:?}",
            f.aliases
        );
    }
    let sources: std::collections::BTreeSet<&str> = f.evidence.iter().map(|e| e.source).collect();
    assert_eq!(
        sources.into_iter().collect::<Vec<_>>(),
        vec!["csaf", "cve5", "osv"]
    );
    assert_eq!(f.confidence, Confidence::High);
    assert!(
        f.fixed.contains(&"1.5".to_string()) && f.fixed.contains(&"2.3".to_string()),
        "{:?}",
        f.fixed
    );
    let cpe_ev = f.evidence.iter().find(|e| e.matched_by == "cpe").unwrap();
    assert_eq!(cpe_ev.confidence, Confidence::Medium);
    assert!(cpe_ev.note.contains("lower confidence"));
    // vulnrichment SSVC: public PoC, automatable, total; standalone scan: not exposed, medium.
    assert_eq!(f.priority, Decision::TrackStar);
    assert_eq!(f.deadline.as_deref(), Some("2026-03-11"));
    assert!(f.deadline_rule.contains("60 days"));
    assert!(f
        .reasons()
        .iter()
        .any(|r| r.contains("assumed for a standalone scan")));

    // Several introduced/fixed pairs in one range.
    assert!(
        hits("demo-pkg-old").is_empty(),
        "1.7 lies between the pairs"
    );
    assert_eq!(hits("demo-pkg-two").len(), 1);
    // last_affected is inclusive.
    assert_eq!(hits("widget").len(), 1);
    assert!(hits("widget-new").is_empty());
    // Debian epoch 7:5.1.6 is not <= 2.8.9.
    assert!(hits("demo-lib").is_empty());
    assert_eq!(hits("demo-lib-old").len(), 1);
    // The vendor wildcard on log4j does not reach tomcat.
    assert!(hits("tomcat").is_empty());
    let l = hits("log4j");
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].confidence, Confidence::Medium);
    // An unparseable version is unknown, not "not affected".
    let u: Vec<&str> = r
        .unknown
        .iter()
        .map(|u| u.component.name.as_str())
        .collect();
    assert_eq!(u, vec!["widget-bad"]);
    assert!(r.unknown[0].reason.contains("latest"));

    // The JSON contract.
    let v = serde_json::to_value(&r).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys[..3], ["components", "findings", "unknown"]);
    assert_eq!(v["components"], 11 - 1);
    let f0 = &v["findings"][0];
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
        assert!(f0.get(k).is_some(), "finding lacks {k}");
    }
    for k in ["name", "version", "purl"] {
        assert!(f0["component"].get(k).is_some());
    }
    assert!(["track", "track*", "attend", "act"].contains(&f0["priority"].as_str().unwrap()));
    assert!(v["assumptions"]
        .as_str()
        .unwrap()
        .contains("not internet-facing"));
}

#[test]
fn csv_inventory_priorities_follow_exposure_and_criticality() {
    let ix = index();
    let inv = read_inventory("inventory.csv", &fixture("inventory.csv"));
    assert_eq!(inv.errors.len(), 1, "{:?}", inv.errors);
    let r = scan(&ix, &inv.items, &opts());
    let demo: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.component.name == "Demo Pkg")
        .collect();
    assert_eq!(demo.len(), 1, "{:#?}", r.findings);
    // Internet-facing, high criticality: public PoC + automatable + total -> attend; BOD: 3 days.
    assert_eq!(demo[0].priority, Decision::Attend);
    assert_eq!(demo[0].deadline.as_deref(), Some("2026-01-13"));
    assert!(demo[0]
        .reasons()
        .iter()
        .any(|r| r.contains("from the inventory")));
    assert!(demo[0]
        .evidence
        .iter()
        .all(|e| e.confidence <= Confidence::Medium));
    assert!(r.findings.iter().all(|f| f.component.name != "Tomcat"));
    assert!(r
        .findings
        .iter()
        .any(|f| f.component.name == "log4j" && f.vulnerability == "CVE-2024-99004"));
}

#[test]
fn stix_objects_validate_and_share_ids() {
    let mut ids = std::collections::BTreeSet::new();
    for f in ["osv-multi-pairs.json", "cve5-demo.json", "csaf-demo.json"] {
        for a in read_advisories(f, &fixture(f)).advisories {
            for o in a.to_stix("2026-01-10T00:00:00.000Z") {
                let so =
                    StixObject::from_value(o.clone()).unwrap_or_else(|e| panic!("{f}: {e}: {o}"));
                if a.canonical_id() == "CVE-2024-99001" {
                    ids.insert(so.id().to_string());
                    assert!(o["external_references"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["source_name"] == "cve"));
                }
            }
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
}

fn member_notices() -> (Vec<vigil_vuln::Notice>, Index) {
    let ix = index();
    let mut inv = read_inventory("inventory.csv", &fixture("inventory.csv")).items;
    // A hostile title must come out escaped in HTML.
    let evil = r#"{"id":"GHSA-vigl-0003-test","modified":"2024-05-01T00:00:00Z","summary":"<script>alert(1)</script> & co","affected":[{"package":{"ecosystem":"PyPI","name":"evil"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"9.0"}]}]}]}"#;
    let mut b = IndexBuilder::new();
    for f in [
        "osv-multi-pairs.json",
        "cve5-demo.json",
        "csaf-demo.json",
        "cve5-log4j-wildcard.json",
    ] {
        b.add_batch(read_advisories(f, &fixture(f)));
    }
    b.add_batch(read_advisories("evil.json", evil.as_bytes()));
    b.add_epss(&[vigil_vuln::advisory::EpssScore {
        cve: "CVE-2024-99001".into(),
        epss: 0.42,
        percentile: 0.97,
    }]);
    drop(ix);
    let ix = b.build();
    let mut c = vigil_vuln::Component::new("evil", "test");
    c.purl = Some(vigil_vuln::Purl::parse("pkg:pypi/evil@1.0").unwrap());
    c.criticality = Some(Criticality::Low);
    inv.push(c);
    let o = ScanOptions {
        default_asset: AssetContext::default(),
        ..opts()
    };
    let r = scan(&ix, &inv, &o);
    (
        build_notices(
            "ministry-a",
            &r,
            &ix,
            Tlp::AmberStrict,
            "2026-01-10T09:00:00Z",
        ),
        ix,
    )
}

#[test]
fn notices_in_every_format() {
    let (notices, _ix) = member_notices();
    assert!(notices.len() >= 3, "{notices:#?}");
    let n = notices
        .iter()
        .find(|n| n.vulnerability == "CVE-2024-99001")
        .unwrap();
    assert_eq!(n.priority, Decision::Attend);
    assert_eq!(n.epss, Some(0.42));
    assert!(n.summary.what.contains("CVE-2024-99001"));
    assert!(n.summary.why.contains("Demo Pkg 1.2 on app1"));
    assert!(n.summary.action.contains("1.5"));
    assert!(n.summary.by_when.contains("2026-01-13"));
    assert!(n.remediation.iter().any(|r| r.category == "workaround"));
    let j = n.to_json();
    for k in [
        "id",
        "member",
        "vulnerability",
        "priority",
        "deadline",
        "assets",
        "status",
    ] {
        assert!(j.get(k).is_some(), "notice JSON lacks {k}");
    }
    assert_eq!(j["status"], "new");
    assert!(!n.is_overdue(NaiveDate::from_ymd_opt(2026, 1, 13).unwrap()));
    assert!(n.is_overdue(NaiveDate::from_ymd_opt(2026, 1, 14).unwrap()));
    let mut done = n.clone();
    done.status = vigil_vuln::notice::NoticeStatus::Resolved;
    assert!(!done.is_overdue(NaiveDate::from_ymd_opt(2026, 1, 14).unwrap()));
    let md = n.to_markdown();
    assert!(md.contains("## What to do") && md.contains("TLP:AMBER+STRICT"));
    let evil = notices
        .iter()
        .find(|n| n.vulnerability == "GHSA-vigl-0003-test")
        .unwrap();
    let html = evil.to_html();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    let csaf = n.to_csaf(&CsafPublisher {
        name: "CSIRT Example".into(),
        namespace: "https://csirt.example.eu".into(),
    });
    assert_eq!(csaf["document"]["distribution"]["tlp"]["label"], "AMBER");
    assert!(csaf["document"]["distribution"]["text"]
        .as_str()
        .unwrap()
        .contains("AMBER+STRICT"));
    assert_eq!(csaf["vulnerabilities"][0]["cve"], "CVE-2024-99001");
    // Same facts, same fingerprint; the notice id is stable per member and vulnerability.
    let (again, _) = member_notices();
    let m = again
        .iter()
        .find(|x| x.vulnerability == n.vulnerability)
        .unwrap();
    assert_eq!(
        (m.id.clone(), m.fingerprint.clone()),
        (n.id.clone(), n.fingerprint.clone())
    );
}

/// Validates CSAF output against the OASIS CSAF 2.0 JSON schema with Python `jsonschema` (peers venv), the
/// referenced FIRST CVSS schemas served from the local copies.
#[test]
fn csaf_output_validates_against_schema() {
    let Some(py) = common::peer_python("csaf schema validation") else {
        return;
    };
    let Some(schema_dir) = common::data_file("csaf schema validation", "csaf/csaf_2.0") else {
        return;
    };
    let (notices, _ix) = member_notices();
    let pubr = CsafPublisher {
        name: "CSIRT Example".into(),
        namespace: "https://csirt.example.eu".into(),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, n) in notices.iter().enumerate() {
        for tlp in [Tlp::Clear, Tlp::Green, Tlp::AmberStrict, Tlp::Red] {
            let mut n = n.clone();
            n.tlp = tlp;
            let p = dir.path().join(format!("n{i}-{tlp}.json"));
            std::fs::write(&p, serde_json::to_vec_pretty(&n.to_csaf(&pubr)).unwrap()).unwrap();
            files.push(p);
        }
    }
    // A broken document must be rejected, or this test could not fail.
    let mut bad = notices[0].to_csaf(&pubr);
    bad["document"]["tracking"]["status"] = serde_json::json!("published");
    let badp = dir.path().join("bad.json");
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
    let out = std::process::Command::new(py)
        .arg("-c")
        .arg(script)
        .arg(&schema_dir)
        .args(&files)
        .arg(&badp)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), files.len() + 1, "{text}");
    for l in &lines[..files.len()] {
        assert!(l.ends_with(" OK"), "{l}");
    }
    assert!(
        lines[files.len()].contains("INVALID"),
        "{}",
        lines[files.len()]
    );
    eprintln!(
        "CSAF schema: {} generated documents valid, the broken one rejected",
        files.len()
    );
}
