//! Real-data tests over `/work/shared/data`: every advisory source and inventory format that the project ships
//! a sample of is read in full, with error counts bounded and spot facts checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{data_dir, data_file, tar_members};
use vigil_vuln::advisory::{read_advisories, FeedFormat, SourceKind};

#[test]
fn osv_pypa_all_yaml() {
    let Some(p) = data_file(
        "osv_pypa_all_yaml",
        "osv-pypa/pypa-advisory-database-vulns.tar.gz",
    ) else {
        return;
    };
    let files = tar_members(&p, |n| n.ends_with(".yaml"));
    assert!(files.len() >= 2600, "{}", files.len());
    let (mut ok, mut errs) = (0, Vec::new());
    for (name, bytes) in &files {
        let f = read_advisories(name, bytes);
        assert_eq!(f.format, Some(FeedFormat::OsvYaml));
        ok += f.advisories.len();
        errs.extend(f.errors);
    }
    eprintln!(
        "osv-pypa: {ok} advisories, {} errors: {:?}",
        errs.len(),
        errs.iter().take(5).collect::<Vec<_>>()
    );
    assert!(ok >= files.len() - 5, "{ok} of {}", files.len());
}

#[test]
fn osv_go_all_json() {
    let Some(p) = data_file("osv_go_all_json", "osv-go/golang-vulndb-data-osv.tar.gz") else {
        return;
    };
    let files = tar_members(&p, |n| n.ends_with(".json") && n.contains("GO-"));
    assert!(files.len() >= 4000, "{}", files.len());
    let mut ok = 0;
    let mut errs = Vec::new();
    for (name, bytes) in &files {
        let f = read_advisories(name, bytes);
        ok += f.advisories.len();
        errs.extend(f.errors);
    }
    eprintln!(
        "osv-go: {ok} advisories, {} errors: {:?}",
        errs.len(),
        errs.iter().take(5).collect::<Vec<_>>()
    );
    assert!(ok >= files.len() - 5);
}

#[test]
fn rustsec_all_markdown() {
    let Some(p) = data_file("rustsec_all_markdown", "rustsec/rustsec-advisory-db.tar.gz") else {
        return;
    };
    let files = tar_members(&p, |n| n.ends_with(".md") && n.contains("RUSTSEC-"));
    assert!(files.len() >= 1200, "{}", files.len());
    let mut ok = 0;
    let mut errs = Vec::new();
    for (name, bytes) in &files {
        let f = read_advisories(name, bytes);
        assert_eq!(f.format, Some(FeedFormat::Rustsec));
        for a in &f.advisories {
            assert!(a.id.starts_with("RUSTSEC-"));
            assert!(a.title.is_some(), "{} has no title", a.id);
        }
        ok += f.advisories.len();
        errs.extend(f.errors);
    }
    eprintln!(
        "rustsec: {ok} advisories, {} errors: {:?}",
        errs.len(),
        errs.iter().take(5).collect::<Vec<_>>()
    );
    assert!(ok >= files.len() - 5);
}

#[test]
fn kev_json_and_csv_agree() {
    let (Some(j), Some(c)) = (
        data_file("kev", "cisa-kev/known_exploited_vulnerabilities.json"),
        data_file("kev", "cisa-kev/known_exploited_vulnerabilities.csv"),
    ) else {
        return;
    };
    let fj = read_advisories(
        "known_exploited_vulnerabilities.json",
        &std::fs::read(j).unwrap(),
    );
    let fc = read_advisories(
        "known_exploited_vulnerabilities.csv",
        &std::fs::read(c).unwrap(),
    );
    assert_eq!(fj.format, Some(FeedFormat::KevJson));
    assert_eq!(fc.format, Some(FeedFormat::KevCsv));
    assert!(fj.errors.is_empty(), "{:?}", fj.errors);
    assert!(fc.errors.is_empty(), "{:?}", fc.errors);
    assert_eq!(fj.advisories.len(), 1404);
    assert_eq!(fc.advisories.len(), 1404);
    for (a, b) in fj.advisories.iter().zip(&fc.advisories) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.kev, b.kev, "{}", a.id);
    }
    let log4shell = fj
        .advisories
        .iter()
        .find(|a| a.id == "CVE-2021-44228")
        .unwrap();
    let k = log4shell.kev.as_ref().unwrap();
    assert_eq!(k.vendor, "Apache");
    assert!(k.ransomware);
    assert!(fj.advisories.iter().all(|a| a.affected[0].any_version));
}

#[test]
fn vulnrichment_kev_cves() {
    let Some(d) = data_dir("vulnrichment_kev_cves") else {
        return;
    };
    let dir = d.join("cve-vulnrichment/kev-cves");
    let mut n = 0;
    let mut with_ssvc = 0;
    let mut with_affected = 0;
    let mut errs = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let f = read_advisories(&p.display().to_string(), &std::fs::read(&p).unwrap());
        assert_eq!(f.format, Some(FeedFormat::Cve5));
        for a in &f.advisories {
            n += 1;
            assert_eq!(a.source, SourceKind::Cve5);
            if a.ssvc.as_ref().is_some_and(|s| s.exploitation.is_some()) {
                with_ssvc += 1;
            }
            if !a.affected.is_empty() {
                with_affected += 1;
            }
        }
        errs.extend(f.errors);
    }
    eprintln!("vulnrichment kev-cves: {n} records, {with_ssvc} with SSVC, {with_affected} with affected, {} errors", errs.len());
    assert_eq!(n, 251);
    assert!(with_ssvc >= 240, "{with_ssvc}");
    assert!(with_affected >= 200, "{with_affected}");
}

#[test]
fn csaf_examples_and_cisa_feed() {
    let Some(d) = data_dir("csaf") else { return };
    let mut n_docs = 0;
    let mut n_adv = 0;
    let mut n_aff = 0;
    let ex = d.join("csaf/csaf_2.0/examples/csaf");
    let mut paths = Vec::new();
    let mut stack = vec![ex];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                paths.push(p);
            }
        }
    }
    for p in &paths {
        let f = read_advisories(&p.display().to_string(), &std::fs::read(p).unwrap());
        assert_eq!(f.format, Some(FeedFormat::Csaf), "{}", p.display());
        n_docs += 1;
        n_adv += f.advisories.len();
        n_aff += f.advisories.iter().map(|a| a.affected.len()).sum::<usize>();
    }
    eprintln!(
        "csaf examples: {n_docs} documents, {n_adv} vulnerabilities, {n_aff} affected entries"
    );
    assert!(n_docs >= 14);
    let Some(t) = data_file("csaf cisa", "csaf-cisa/cisagov-csaf-files.json.tar.gz") else {
        return;
    };
    let files = tar_members(&t, |n| {
        n.ends_with(".json") && n.contains("csaf_files/") && !n.contains("feed")
    });
    let (mut docs, mut advs, mut aff, mut unparsed, mut errs) = (0, 0, 0, 0, Vec::new());
    for (name, bytes) in &files {
        let f = read_advisories(name, bytes);
        if f.format != Some(FeedFormat::Csaf) {
            continue;
        }
        docs += 1;
        advs += f.advisories.len();
        for a in &f.advisories {
            aff += a.affected.len();
            unparsed += a
                .affected
                .iter()
                .filter(|x| {
                    x.ranges
                        .iter()
                        .any(|r| matches!(r, vigil_vuln::advisory::AffectedRange::Unparsed(_)))
                })
                .count();
        }
        errs.extend(f.errors);
    }
    eprintln!(
        "csaf-cisa: {docs} documents, {advs} vulnerabilities, {aff} affected entries ({unparsed} with uninterpretable version text), {} errors: {:?}",
        errs.len(),
        errs.iter().take(5).collect::<Vec<_>>()
    );
    assert!(docs >= 2300, "{docs}");
    assert!(advs > docs);
    assert!(aff > advs);
}

#[test]
fn vulnrichment_2024_sample() {
    let Some(t) = data_file(
        "vulnrichment 2024",
        "cve-vulnrichment/vulnrichment-2024.tar.gz",
    ) else {
        return;
    };
    // A tenth of the records keeps the debug-build test fast; the benchmark reads all of them.
    let mut k = 0usize;
    let files = tar_members(&t, |n| {
        k += 1;
        n.ends_with(".json") && k.rem_euclid(10) == 0
    });
    let (mut ok, mut errs) = (0, 0);
    for (name, bytes) in &files {
        let f = read_advisories(name, bytes);
        ok += f.advisories.len();
        errs += f.errors.len();
    }
    eprintln!(
        "vulnrichment-2024 sample: {} files, {ok} records, {errs} errors",
        files.len()
    );
    assert!(ok + errs >= files.len());
    assert!(ok as f64 >= files.len() as f64 * 0.95);
}

#[test]
fn cyclonedx_examples_import() {
    let Some(d) = data_dir("cyclonedx examples") else {
        return;
    };
    let mut stack = vec![d.join("cyclonedx-examples")];
    let (mut files, mut comps, mut errs, mut with_purl) = (0, 0, 0, 0);
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let inv =
                vigil_vuln::read_inventory(&p.display().to_string(), &std::fs::read(&p).unwrap());
            files += 1;
            comps += inv.items.len();
            with_purl += inv.items.iter().filter(|c| c.purl.is_some()).count();
            errs += inv.errors.len();
        }
    }
    eprintln!("cyclonedx examples: {files} files, {comps} components ({with_purl} with purl), {errs} diagnostics");
    assert!(files >= 50);
    assert!(comps >= 1000, "{comps}");
    assert!(with_purl >= 900);
}
