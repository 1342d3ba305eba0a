//! A member whose inventory names KEV products gets findings and notices whose priority and deadline follow the
//! CISA SSVC tree and the BOD 26-04 table, over real KEV and vulnrichment data: every KEV row of both tables is
//! reached through real CVEs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate};
use vigil_model::Tlp;
use vigil_vuln::matcher::{Confidence, ScanOptions};
use vigil_vuln::priority::{bod_26_04, cisa_decision, AssetContext, Criticality, Exploitation};
use vigil_vuln::{build_notices, read_advisories, scan, Component, IndexBuilder};

#[test]
fn kev_members_follow_the_decision_tables() {
    let Some(d) = common::data_dir("kev decision tables") else {
        return;
    };
    let mut b = IndexBuilder::new();
    let kev = std::fs::read(d.join("cisa-kev/known_exploited_vulnerabilities.json")).unwrap();
    b.add_batch(read_advisories(
        "known_exploited_vulnerabilities.json",
        &kev,
    ));
    let mut enriched = Vec::new();
    for e in std::fs::read_dir(d.join("cve-vulnrichment/kev-cves")).unwrap() {
        let p = e.unwrap().path();
        let feed = read_advisories(&p.display().to_string(), &std::fs::read(&p).unwrap());
        for a in &feed.advisories {
            if let Some(s) = &a.ssvc {
                if let (Some(au), Some(ti)) = (s.automatable, s.technical_impact) {
                    enriched.push((a.id.clone(), au, ti));
                }
            }
        }
        b.add_batch(feed);
    }
    let ix = b.build();
    // One CVE per (automatable, technical impact) combination present in the data.
    enriched.sort();
    let mut picks = Vec::new();
    let mut seen = BTreeSet::new();
    for (id, au, ti) in &enriched {
        let kev_adv = ix.advisories_of(id).into_iter().find_map(|a| a.kev.clone());
        if let Some(k) = kev_adv {
            if seen.insert((*au, *ti)) {
                picks.push((id.clone(), k.vendor, k.product));
            }
        }
    }
    assert_eq!(
        seen.len(),
        4,
        "the data should hold every automatable x impact combination: {seen:?}"
    );
    let mut comps = Vec::new();
    for (id, vendor, product) in &picks {
        for exposed in [false, true] {
            for crit in [Criticality::Low, Criticality::Medium, Criticality::High] {
                let mut c =
                    Component::new(product, &format!("{id} exposed={exposed} crit={crit:?}"));
                c.vendor = Some(vendor.clone());
                c.version = Some("1.0".into());
                c.host = Some(format!("host-{id}"));
                c.internet_facing = Some(exposed);
                c.criticality = Some(crit);
                comps.push(c);
            }
        }
    }
    let today = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
    let opts = ScanOptions {
        today,
        default_asset: AssetContext::default(),
    };
    let r = scan(&ix, &comps, &opts);
    let mut bod_rows = BTreeSet::new();
    let mut tree_cells = BTreeSet::new();
    let mut checked = 0;
    for f in &r.findings {
        let c = &comps[f.component_index];
        let Some((_, au, ti)) = enriched.iter().find(|(id, _, _)| *id == f.vulnerability) else {
            continue;
        };
        let (exposed, crit) = (c.internet_facing.unwrap(), c.criticality.unwrap());
        let want = cisa_decision(Exploitation::Active, *au, *ti, crit);
        assert_eq!(f.priority, want, "{} on {}", f.vulnerability, c.location);
        let (tl, rule) = bod_26_04(true, exposed, *au, *ti);
        assert_eq!(f.deadline_rule, rule);
        assert_eq!(
            f.deadline,
            tl.days()
                .map(|d| (today + Duration::days(d)).format("%Y-%m-%d").to_string())
        );
        // KEV names no versions: vendor/product matches are low confidence unless a CVE record gives ranges.
        assert!(f.confidence <= Confidence::Medium);
        assert!(f.evidence.iter().any(|e| e.source == "kev"));
        bod_rows.insert((exposed, *au, *ti));
        tree_cells.insert((*au, *ti, crit));
        checked += 1;
    }
    eprintln!(
        "kev tables: {} findings, {checked} checked, {} BOD rows, {} SSVC cells",
        r.findings.len(),
        bod_rows.len(),
        tree_cells.len()
    );
    assert_eq!(
        bod_rows.len(),
        8,
        "every KEV row of BOD 26-04 (partial/total rows counted per impact)"
    );
    assert_eq!(
        tree_cells.len(),
        12,
        "every active-exploitation cell of the SSVC tree"
    );
    let notices = build_notices("ministry-b", &r, &ix, Tlp::Green, "2026-02-01T08:00:00Z");
    for n in &notices {
        let fs: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.vulnerability == n.vulnerability)
            .collect();
        let top = fs.iter().map(|f| f.priority).max().unwrap();
        assert_eq!(n.priority, top);
        assert!(n.in_kev);
        assert!(
            !n.remediation.is_empty(),
            "KEV required action is a remediation"
        );
        assert!(n.summary.why.contains("already exploiting"));
        for e in n.assets.iter().flat_map(|a| &a.evidence) {
            // Each identifier names its kind once: "matched by vendor/product apache / log4j2", not twice.
            assert!(e.contains("matched by "), "{e}");
            for kind in ["vendor/product", "cpe", "package URL"] {
                assert!(
                    !e.contains(&format!("{kind} {kind}")),
                    "repeated kind in {e}"
                );
            }
        }
    }
}
