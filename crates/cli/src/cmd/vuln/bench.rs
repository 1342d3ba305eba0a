//! `vigil bench vuln`: build the advisory index from all OSV (PyPI, Go), RustSec, CSAF (OASIS examples and the CISA
//! feed), KEV and CVE 5 (vulnrichment) data in the shared data folder, scan a generated 10,000-component inventory
//! (a typical SBOM mix and a heavy one), and let `univers` (the peers venv) do the package range checks the scan did,
//! next to Vigil doing the same checks, in the same run; prints the ratio.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;
use vigil_formats::input;
use vigil_vuln::advisory::{read_advisories, sniff, AffectedRange, Feed, Target};
use vigil_vuln::matcher::ScanOptions;
use vigil_vuln::range::{Comparator, Constraint, Event, RangeKind, VersRange};
use vigil_vuln::{scan, Component, Cpe, IndexBuilder, Purl, Scheme};

#[derive(Debug, Args)]
pub struct BenchVulnArgs {
    /// The shared data folder (osv-pypa, osv-go, rustsec, csaf, csaf-cisa, cisa-kev, cve-vulnrichment).
    #[arg(long, default_value = "../shared/data")]
    pub corpus: PathBuf,
    /// Python with `univers` (the peer), default .venv-peers/bin/python.
    #[arg(long, default_value = ".venv-peers/bin/python")]
    pub python: PathBuf,
    /// `univers_check.py` (default: the peers folder next to the data folder).
    #[arg(long)]
    pub univers_script: Option<PathBuf>,
    /// Components in each generated inventory.
    #[arg(long, default_value_t = 10_000)]
    pub components: usize,
    #[arg(long)]
    pub json: bool,
}

/// Every advisory file under `path` (file, folder or archive) as (name, bytes).
fn advisory_files(path: &Path, out: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
    let p = path.display().to_string();
    input::walk(
        &p,
        &mut |mut unit| {
            let mut b = Vec::new();
            unit.reader
                .read_to_end(&mut b)
                .map_err(|e| vigil_formats::FormatError::Io {
                    file: unit.name.clone(),
                    reason: e.to_string(),
                })?;
            if sniff(&unit.name, &b).is_some() {
                out.push((unit.name, b));
            }
            Ok(())
        },
        &mut |_| Ok(()),
        &mut |e| Err(e),
    )
    .with_context(|| format!("reading {p}"))
}

/// A tiny deterministic generator (xorshift), so the inventory is the same in every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

fn vers_of(scheme: Scheme, name: &str, events: &[Event], prefix: &str) -> Option<VersRange> {
    let mut sorted = Vec::new();
    for e in events {
        match e {
            Event::Introduced(v) if v == "0" => continue,
            Event::Limit(_) => return None,
            _ => sorted.push((scheme.parse(e.version()).ok()?, e)),
        }
    }
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let cs: Vec<Constraint> = sorted
        .into_iter()
        .map(|(_, e)| {
            let op = match e {
                Event::Introduced(_) => Comparator::Ge,
                Event::Fixed(_) => Comparator::Lt,
                _ => Comparator::Le,
            };
            Constraint {
                op,
                version: format!("{prefix}{}", e.version()),
            }
        })
        .collect();
    let vr = VersRange {
        scheme_name: name.into(),
        scheme: Some(scheme),
        star: false,
        constraints: cs,
    };
    (!vr.constraints.is_empty() && VersRange::parse_canonical(&vr.to_string()).is_ok())
        .then_some(vr)
}

/// CPU time this thread has run, in ns (`/proc/thread-self/schedstat`): unlike wall time it does not grow
/// when other processes share the two cores.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
            })
        })
        .unwrap_or(0.0)
        / 1024.0
}

pub fn run(a: &BenchVulnArgs) -> anyhow::Result<u8> {
    let data = &a.corpus;
    if !data.is_dir() {
        bail!("shared data directory {} is absent", data.display());
    }
    // 1. Read and decompress (IO, not part of the index build).
    let t = Instant::now();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for rel in [
        "osv-pypa/pypa-advisory-database-vulns.tar.gz",
        "osv-go/golang-vulndb-data-osv.tar.gz",
        "rustsec/rustsec-advisory-db.tar.gz",
        "csaf-cisa/cisagov-csaf-files.json.tar.gz",
        "cve-vulnrichment/vulnrichment-2024.tar.gz",
        "csaf/csaf_2.0/examples/csaf",
        "cve-vulnrichment/kev-cves",
        "cisa-kev/known_exploited_vulnerabilities.json",
    ] {
        let p = data.join(rel);
        if !p.exists() {
            bail!("{} is absent", p.display());
        }
        advisory_files(&p, &mut files)?;
    }
    let bytes: usize = files.iter().map(|f| f.1.len()).sum();
    let t_read = t.elapsed();

    // 2. Parse every file and build the index.
    let (t, c0) = (Instant::now(), cpu_ns());
    let feeds: Vec<Feed> = files.iter().map(|(n, b)| read_advisories(n, b)).collect();
    let t_parse = t.elapsed();
    let cpu_parse = cpu_ns().saturating_sub(c0) as f64 / 1e9;
    let n_adv: usize = feeds.iter().map(|f| f.advisories.len()).sum();
    let n_err: usize = feeds.iter().map(|f| f.errors.len()).sum();
    let (t, c0) = (Instant::now(), cpu_ns());
    let mut b = IndexBuilder::new();
    for f in feeds {
        b.add_batch(f);
    }
    let index = b.build();
    let t_build = t.elapsed();
    let cpu_build = cpu_ns().saturating_sub(c0) as f64 / 1e9;
    // 3. A 10,000-component inventory drawn from the advisories' own packages and versions (so that a good
    //    share matches), KEV/CSAF products and unrelated packages.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut pkgs: Vec<(String, String, Vec<String>)> = Vec::new();
    let mut products: Vec<(String, String)> = Vec::new();
    for a in index.advisories() {
        for af in &a.affected {
            match &af.target {
                Target::Package { ecosystem, name }
                    if matches!(ecosystem.as_str(), "PyPI" | "Go" | "crates.io") =>
                {
                    let mut vs: Vec<String> = af.versions.iter().take(3).cloned().collect();
                    for r in &af.ranges {
                        if let AffectedRange::Osv(o) = r {
                            vs.extend(
                                o.events
                                    .iter()
                                    .map(|e| e.version().to_string())
                                    .filter(|v| v != "0"),
                            );
                        }
                    }
                    vs.extend(af.fixed.iter().cloned());
                    if !vs.is_empty() {
                        pkgs.push((ecosystem.clone(), name.clone(), vs));
                    }
                }
                Target::Product { vendor, product } => {
                    products.push((vendor.clone(), product.clone()))
                }
                _ => {}
            }
        }
    }
    // One entry per package and per product, so that picking is uniform over packages rather than weighted
    // by how many advisories a package has.
    pkgs.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    pkgs.dedup_by(|a, b| {
        if a.0 == b.0 && a.1 == b.1 {
            b.2.append(&mut a.2);
            true
        } else {
            false
        }
    });
    products.sort();
    products.dedup();
    let typical = generate(&mut rng, &pkgs, &products, a.components, [20, 25, 30]);
    let heavy = generate(&mut rng, &pkgs, &products, a.components, [75, 85, 90]);

    // 4. Scan, several times.
    let opts = ScanOptions::default();
    let mut lines = Vec::new();
    let mut comps_for_univers = Vec::new();
    for (label, comps) in [
        ("typical SBOM mix", &typical),
        ("heavy: 75% vulnerable packages", &heavy),
    ] {
        let mut scan_times = Vec::new();
        let mut cpu_times = Vec::new();
        let mut result = None;
        for _ in 0..7 {
            let (t, c0) = (Instant::now(), cpu_ns());
            let r = scan(&index, comps, &opts);
            scan_times.push(t.elapsed().as_secs_f64() * 1000.0);
            cpu_times.push((cpu_ns() - c0) as f64 / 1e6);
            drop(result.replace(r));
        }
        scan_times.sort_by(f64::total_cmp);
        cpu_times.sort_by(f64::total_cmp);
        let Some(r) = result else {
            bail!("no scan ran")
        };
        lines.push(format!(
            "scan ({label}): {} components -> {} findings, {} unknown; wall min {:.1} / median {:.1} ms, CPU min {:.1} / median {:.1} ms over 7 runs (target < 100 ms)",
            comps.len(),
            r.findings.len(),
            r.unknown.len(),
            scan_times[0],
            scan_times[3],
            cpu_times[0],
            cpu_times[3]
        ));
        comps_for_univers.extend(comps.iter().cloned());
    }
    let comps = comps_for_univers;
    let scan_lines = lines;

    // 5. The package-range checks that scan performs, as (version, vers) pairs, by Vigil and by univers.
    let mut cases: Vec<(String, VersRange)> = Vec::new();
    let mut by_pkg: std::collections::HashMap<(String, String), Vec<VersRange>> =
        std::collections::HashMap::new();
    for a in index.advisories() {
        for af in &a.affected {
            let Target::Package { ecosystem, name } = &af.target else {
                continue;
            };
            let (scheme, vname, prefix) = match ecosystem.as_str() {
                "PyPI" => (Scheme::Pypi, "pypi", ""),
                "Go" => (Scheme::Go, "golang", "v"),
                "crates.io" => (Scheme::Cargo, "cargo", ""),
                _ => continue,
            };
            let key = (
                vigil_vuln::purl::ecosystem_key(ecosystem),
                vigil_vuln::purl::normalise_package_name(ecosystem, name),
            );
            for rg in &af.ranges {
                match rg {
                    AffectedRange::Osv(o) if o.kind != RangeKind::Git => {
                        if let Some(v) = vers_of(scheme, vname, &o.events, prefix) {
                            by_pkg.entry(key.clone()).or_default().push(v);
                        }
                    }
                    AffectedRange::Cargo {
                        patched,
                        unaffected,
                    } => {
                        for req in patched.iter().chain(unaffected) {
                            if let Ok(v) = req.to_vers().normalised() {
                                if !v.star {
                                    by_pkg.entry(key.clone()).or_default().push(v);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    for c in &comps {
        let Some(p) = &c.purl else { continue };
        let Some(eco) = p.ecosystem() else { continue };
        let key = (
            vigil_vuln::purl::ecosystem_key(eco),
            vigil_vuln::purl::normalise_package_name(eco, &p.osv_name()),
        );
        if let (Some(rs), Some(v)) = (by_pkg.get(&key), &p.version) {
            for vr in rs {
                cases.push((v.clone(), vr.clone()));
            }
        }
    }
    let t = Instant::now();
    let mut ours = Vec::with_capacity(cases.len());
    for (v, vr) in &cases {
        ours.push(vr.contains(v).ok());
    }
    let t_ours = t.elapsed().as_secs_f64();

    let python = a.python.clone();
    let script = a
        .univers_script
        .clone()
        .unwrap_or_else(|| data.join("../peers/univers_check.py"));
    let mut univers_line = "univers: skipped (peers venv or univers_check.py absent)".to_string();
    if python.exists() && script.exists() {
        let dir = std::env::temp_dir().join(format!("vuln_bench_{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let tsv = dir.join("cases.tsv");
        let mut f = std::fs::File::create(&tsv)?;
        for (v, vr) in &cases {
            writeln!(f, "{v}\t{vr}")?;
        }
        drop(f);
        let one = dir.join("one.tsv");
        std::fs::write(&one, "1.0\tvers:pypi/<2.0\n")?;
        let run = |p: &Path| {
            let t = Instant::now();
            let out = std::process::Command::new(&python)
                .arg(&script)
                .arg("-f")
                .arg(p)
                .output();
            (t.elapsed().as_secs_f64(), out)
        };
        let (t_start, _) = run(&one);
        let (t_all, out) = run(&tsv);
        let out = out.with_context(|| format!("running {}", python.display()))?;
        if !out.status.success() {
            bail!(
                "univers_check.py failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let answers: Vec<Option<bool>> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v["contains"].as_bool())
            })
            .collect();
        let agree = answers.iter().zip(&ours).filter(|(a, b)| a == b).count();
        let net = (t_all - t_start).max(1e-9);
        univers_line = format!(
            "univers: {} checks in {:.2} s ({:.2} s net of {:.2} s interpreter start-up) = {:.0} checks/s; Vigil {:.4} s = {:.0} checks/s; ratio {:.0}x; agreement {}/{}",
            cases.len(),
            t_all,
            net,
            t_start,
            cases.len() as f64 / net,
            t_ours,
            cases.len() as f64 / t_ours.max(1e-9),
            net / t_ours.max(1e-9),
            agree,
            answers.len()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    let report = json!({
        "date": chrono::Utc::now().format("%Y-%m-%d").to_string(),
        "data": data.display().to_string(),
        "files": files.len(),
        "mib": bytes as f64 / 1048576.0,
        "advisories": n_adv,
        "record_errors": n_err,
        "indexed": index.len(),
        "read_s": t_read.as_secs_f64(),
        "parse_s": t_parse.as_secs_f64(),
        "build_s": t_build.as_secs_f64(),
        "parse_build_cpu_s": cpu_parse + cpu_build,
        "scan": scan_lines,
        "univers": univers_line,
        "peak_rss_mib": peak_rss_mib(),
    });
    if a.json {
        crate::output::json(&report)?;
        return Ok(0);
    }
    println!(
        "bench vuln: data {} ({} files, {:.1} MiB uncompressed)",
        data.display(),
        files.len(),
        bytes as f64 / 1048576.0
    );
    println!("read+decompress: {:.2} s", t_read.as_secs_f64());
    println!(
        "parse: {:.2} s ({} advisories, {} per-record errors)",
        t_parse.as_secs_f64(),
        n_adv,
        n_err
    );
    println!(
        "index build: {:.2} s ({} advisories indexed, {} diagnostics)",
        t_build.as_secs_f64(),
        index.len(),
        index.diagnostics.len()
    );
    println!(
        "parse + index build: {:.2} s wall, {:.2} s CPU (target < 10 s)",
        (t_parse + t_build).as_secs_f64(),
        cpu_parse + cpu_build
    );
    for l in &scan_lines {
        println!("{l}");
    }
    println!("{univers_line}");
    println!("peak RSS: {:.0} MiB", peak_rss_mib());
    Ok(0)
}

/// Generates `n` components: `cuts[0]`% purls of packages that have advisories (with versions taken from those
/// advisories), then up to `cuts[1]`% vendor/product rows, up to `cuts[2]`% CPEs of advisory products, and the
/// rest npm packages that no advisory names.
fn generate(
    rng: &mut Rng,
    pkgs: &[(String, String, Vec<String>)],
    products: &[(String, String)],
    n: usize,
    cuts: [u64; 3],
) -> Vec<Component> {
    let mut comps = Vec::with_capacity(n);
    for i in 0..n {
        let roll = rng.next() % 100;
        let c = if roll < cuts[0] {
            let (eco, name, vs) = rng.pick(pkgs).clone();
            let v = rng.pick(&vs).clone();
            let purl = match eco.as_str() {
                "PyPI" => format!("pkg:pypi/{name}@{v}"),
                "Go" => match name.rsplit_once('/') {
                    Some((ns, n)) => format!("pkg:golang/{ns}/{n}@v{v}"),
                    None => format!("pkg:golang/{name}@v{v}"),
                },
                _ => format!("pkg:cargo/{name}@{v}"),
            };
            let mut c = Component::new(&name, &format!("generated[{i}]"));
            c.purl = Purl::parse(&purl).ok();
            c.version = c.purl.as_ref().and_then(|p| p.version.clone());
            c
        } else if roll < cuts[1] {
            let (vendor, product) = rng.pick(products).clone();
            let mut c = Component::new(&product, &format!("generated[{i}]"));
            c.vendor = Some(vendor);
            c.version = Some(format!("{}.{}", rng.next() % 10, rng.next() % 20));
            c.internet_facing = Some(rng.next() & 1 == 0);
            c
        } else if roll < cuts[2] {
            let (vendor, product) = rng.pick(products).clone();
            let norm = |s: &str| vigil_vuln::index::normalise_name(s).replace(' ', "_");
            let cpe = format!(
                "cpe:2.3:a:{}:{}:{}.{}:*:*:*:*:*:*:*",
                norm(&vendor),
                norm(&product),
                rng.next() % 10,
                rng.next() % 10
            );
            let mut c = Component::new(&product, &format!("generated[{i}]"));
            c.cpe = Cpe::parse(&cpe).ok();
            c
        } else {
            let mut c = Component::new(&format!("unrelated-lib-{i}"), &format!("generated[{i}]"));
            c.purl = Purl::parse(&format!("pkg:npm/unrelated-lib-{i}@1.{}.0", rng.next() % 9)).ok();
            c
        };
        comps.push(c);
    }
    comps
}
