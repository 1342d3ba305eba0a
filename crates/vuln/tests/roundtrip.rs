//! Advisories survive the store's serialised form: what `vigil ingest` stores is what the index is built from,
//! so serialising and reading back must give the same advisory (CargoReq and CPEs re-parsed from their text),
//! and `sniff` must route every fixture to the reader that `read_advisories` picks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use vigil_vuln::advisory::{read_advisories, sniff, Advisory};

fn roundtrip(name: &str, bytes: &[u8]) -> usize {
    let feed = read_advisories(name, bytes);
    assert_eq!(
        sniff(name, bytes),
        feed.format,
        "{name}: sniff and read_advisories disagree"
    );
    for a in &feed.advisories {
        let json = serde_json::to_string(a).unwrap();
        let back: Advisory = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("{name}: {} does not read back: {e}", a.id));
        assert_eq!(&back, a, "{name}: {} changed in the round trip", a.id);
    }
    feed.advisories.len()
}

#[test]
fn fixtures_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut n = 0;
    for name in [
        "csaf-demo.json",
        "cve5-demo.json",
        "cve5-log4j-wildcard.json",
        "osv-debian-epoch.json",
        "osv-last-affected.json",
        "osv-multi-pairs.json",
    ] {
        n += roundtrip(name, &std::fs::read(dir.join(name)).unwrap());
    }
    assert!(n >= 6, "{n}");
    // Inventories and text that is no advisory are not claimed.
    for name in ["inventory.cdx.json", "inventory.csv"] {
        assert_eq!(
            sniff(name, &std::fs::read(dir.join(name)).unwrap()),
            None,
            "{name}"
        );
    }
    assert_eq!(sniff("README.md", b"# RustSec advisory database\n"), None);
}

#[test]
fn real_data_round_trips() {
    let Some(d) = common::data_dir("advisory round trip over real data") else {
        return;
    };
    let mut n = 0;
    for (name, b) in common::tar_members(&d.join("rustsec/rustsec-advisory-db.tar.gz"), |n| {
        n.ends_with(".md") && n.contains("RUSTSEC-")
    }) {
        n += roundtrip(&name, &b);
    }
    for (name, b) in common::tar_members(
        &d.join("osv-pypa/pypa-advisory-database-vulns.tar.gz"),
        |n| n.ends_with(".yaml"),
    )
    .into_iter()
    .take(500)
    {
        n += roundtrip(&name, &b);
    }
    for (name, b) in common::tar_members(&d.join("csaf-cisa/cisagov-csaf-files.json.tar.gz"), |n| {
        n.ends_with(".json") && n.contains("csaf_files/") && n.contains("/2024/")
    }) {
        n += roundtrip(&name, &b);
    }
    let kev = d.join("cisa-kev/known_exploited_vulnerabilities.json");
    n += roundtrip(&kev.display().to_string(), &std::fs::read(&kev).unwrap());
    assert!(n > 3000, "{n}");
}

/// A CSAF document with several vulnerabilities: its tracking id is shown among each vulnerability's ids but
/// must not merge them into one (it did: every CVE of a CISA advisory became one group).
#[test]
fn csaf_tracking_id_does_not_merge_vulnerabilities() {
    let doc = serde_json::json!({
        "document": {"category": "csaf_security_advisory", "csaf_version": "2.0", "title": "Two bugs",
            "publisher": {"category": "vendor", "name": "Acme", "namespace": "https://acme.example"},
            "tracking": {"id": "ACME-2024-001", "status": "final", "version": "1",
                "initial_release_date": "2024-01-01T00:00:00Z", "current_release_date": "2024-01-01T00:00:00Z",
                "revision_history": [{"date": "2024-01-01T00:00:00Z", "number": "1", "summary": "x"}]}},
        "product_tree": {"branches": [{"category": "vendor", "name": "Acme", "branches": [
            {"category": "product_name", "name": "Gadget", "branches": [
                {"category": "product_version", "name": "1.0", "product": {"name": "Acme Gadget 1.0", "product_id": "P1"}}]}]}]},
        "vulnerabilities": [
            {"cve": "CVE-2024-0001", "product_status": {"known_affected": ["P1"]}},
            {"cve": "CVE-2024-0002", "product_status": {"known_affected": ["P1"]}}
        ]
    });
    let bytes = serde_json::to_vec(&doc).unwrap();
    let feed = read_advisories("two.json", &bytes);
    assert_eq!(feed.advisories.len(), 2, "{:?}", feed.errors);
    let mut b = vigil_vuln::IndexBuilder::new();
    b.add_batch(feed);
    let ix = b.build();
    assert_eq!(ix.canonical_id("CVE-2024-0002"), "CVE-2024-0002");
    let ids = ix.ids_of("CVE-2024-0001");
    assert!(ids.contains(&"ACME-2024-001".to_string()), "{ids:?}");
    assert!(!ids.contains(&"CVE-2024-0002".to_string()), "{ids:?}");
}

/// `vigil ingest` routes files by `sniff`: no STIX, MISP, galaxy, warning-list, IOC or CycloneDX file of the shared
/// data may be claimed as an advisory (it would never reach the knowledge base).
#[test]
fn sniff_claims_no_other_format() {
    let Some(d) = common::data_dir("sniff over non-advisory data") else {
        return;
    };
    fn walk(p: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
    }
    let mut files = Vec::new();
    for dir in [
        "misp-events-pymisp",
        "misp-galaxy",
        "mitre-attack",
        "stix2-examples",
        "misp-warninglists",
        "eset-malware-ioc",
        "cyclonedx-examples",
        "telemetry-misc",
        "iocsearcher-data",
    ] {
        walk(&d.join(dir), &mut files);
    }
    let mut looked = 0;
    for p in &files {
        let mut head = Vec::new();
        use std::io::Read;
        let Ok(f) = std::fs::File::open(p) else {
            continue;
        };
        let _ = f.take(64 * 1024).read_to_end(&mut head);
        if head.starts_with(&[0x1f, 0x8b]) {
            // Compressed archives are opened by the input layer; their members are covered by the tests that
            // ingest them.
            continue;
        }
        looked += 1;
        assert_eq!(
            sniff(&p.display().to_string(), &head),
            None,
            "{} claimed as an advisory",
            p.display()
        );
    }
    eprintln!("sniff: {looked} non-advisory files, none claimed");
    assert!(looked > 100, "{looked}");
}

/// CPEs of one CVE 5 affected entry that differ only in version are one target (matching ignores the CPE version;
/// the entry's versions decide), so a record listing one CPE per version is not multiplied by its version list;
/// and a component is still found, by the listed version, and not for an unlisted one.
#[test]
fn cve5_version_only_cpes_collapse() {
    let rec = serde_json::json!({
        "dataType": "CVE_RECORD", "dataVersion": "5.1",
        "cveMetadata": {"cveId": "CVE-2024-99100", "state": "PUBLISHED"},
        "containers": {"cna": {"descriptions": [{"lang": "en", "value": "x"}], "affected": [{
            "vendor": "acme", "product": "router os",
            "cpes": ["cpe:2.3:o:acme:router_os:1.0:*:*:*:*:*:*:*", "cpe:2.3:o:acme:router_os:1.1:*:*:*:*:*:*:*",
                     "cpe:2.3:o:acme:router_os:1.2:*:*:*:*:*:*:*", "cpe:2.3:o:acme:switch_os:1.0:*:*:*:*:*:*:*"],
            "versions": [{"version": "1.0", "status": "affected"}, {"version": "1.1", "status": "affected"}]
        }]}}
    });
    let feed = read_advisories("cve.json", &serde_json::to_vec(&rec).unwrap());
    let a = &feed.advisories[0];
    let cpes = a
        .affected
        .iter()
        .filter(|x| matches!(x.target, vigil_vuln::advisory::Target::Cpe(_)))
        .count();
    assert_eq!(cpes, 2, "router_os once, switch_os once: {:#?}", a.affected);
    let mut b = vigil_vuln::IndexBuilder::new();
    b.add_batch(feed);
    let ix = b.build();
    let comp = |v: &str| {
        let mut c = vigil_vuln::Component::new("router", "inv:1");
        c.cpe = Some(
            vigil_vuln::Cpe::parse(&format!("cpe:2.3:o:acme:router_os:{v}:*:*:*:*:*:*:*")).unwrap(),
        );
        c
    };
    let r = vigil_vuln::scan(&ix, &[comp("1.1"), comp("1.2")], &Default::default());
    let hit: Vec<&str> = r
        .findings
        .iter()
        .map(|f| f.component.location.as_str())
        .collect();
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    assert_eq!(
        r.findings[0].component.version.as_deref(),
        Some("1.1"),
        "{hit:?}"
    );
}
