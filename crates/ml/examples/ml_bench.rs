//! Benchmark (not run in CI): IOC extraction P/R/F1 per type on the ESET reports against their MISP events,
//! in the same run as iocextract, ioc-finder and iocsearcher (shared/peers/ioc_extract_peers.py), extraction
//! MB/s on a large text, tagging sentences/s and domain scoring domains/s.
//!
//! `cargo run --release -p vigil-ml --example ml_bench -- [SHARED_DATA] [BIG_MB]`
//! Peers run through `$VENV/bin/python` (VENV defaults to /work/main/.venv-peers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use vigil_ml::eval::extract::{extract_set, load_cases};
use vigil_ml::eval::{micro, normalize_value, score_into, TypeScores, ValueSet};
use vigil_ml::{Extractor, IndicatorType};

const TOOLS: [&str; 3] = ["iocextract", "ioc-finder", "iocsearcher"];

fn peer_type(name: &str) -> Option<IndicatorType> {
    Some(match name {
        "ipv4_cidr" => IndicatorType::Cidr,
        "registry_key" => IndicatorType::Registry,
        "bitcoin" => IndicatorType::Btc,
        "attack_technique" => IndicatorType::AttackTechnique,
        other => IndicatorType::parse(other)?,
    })
}

/// Runs the peers on one file; returns per tool (values, extract seconds).
fn run_peers(
    python: &Path,
    script: &Path,
    file: &Path,
    tools: &str,
) -> BTreeMap<String, (ValueSet, f64)> {
    let out = Command::new(python)
        .arg(script)
        .arg(file)
        .arg("--tools")
        .arg(tools)
        .arg("--compact")
        .output();
    let mut res = BTreeMap::new();
    let Ok(out) = out else {
        eprintln!("peers could not run: {python:?}");
        return res;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        eprintln!(
            "peers gave no JSON on {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return res;
    };
    for (tool, t) in v["tools"].as_object().into_iter().flatten() {
        let mut set = ValueSet::new();
        for (ty, vals) in t["normalized"].as_object().into_iter().flatten() {
            let Some(k) = peer_type(ty) else { continue };
            for val in vals
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str())
            {
                // Peers report IPv4 CIDRs and addresses apart; a /32 is an address.
                if let Some(n) = normalize_value(k, val) {
                    set.insert((k, n));
                }
            }
        }
        res.insert(tool.clone(), (set, t["extract_s"].as_f64().unwrap_or(0.0)));
    }
    res
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let big_mb: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let venv = std::env::var("VENV").unwrap_or_else(|_| "/work/main/.venv-peers".into());
    let python = PathBuf::from(&venv).join("bin/python");
    let script = data.join("../peers/ioc_extract_peers.py");
    let ex = Extractor::default();

    // 1. Quality on the ESET reports with MISP events, all tools on the same files.
    let (cases, _, skipped) = load_cases(&data.join("eset-malware-ioc"))?;
    let mut scores: BTreeMap<String, TypeScores> = BTreeMap::new();
    let mut secs: BTreeMap<String, f64> = BTreeMap::new();
    let mut bytes = 0usize;
    for c in &cases {
        let text = std::fs::read(&c.text)?;
        bytes += text.len();
        let t0 = Instant::now();
        let ours = extract_set(&ex, &text);
        *secs.entry("vigil".into()).or_default() += t0.elapsed().as_secs_f64();
        score_into(scores.entry("vigil".into()).or_default(), &ours, &c.truth);
        for (tool, (set, s)) in run_peers(&python, &script, &c.text, &TOOLS.join(",")) {
            *secs.entry(tool.clone()).or_default() += s;
            score_into(scores.entry(tool).or_default(), &set, &c.truth);
        }
    }
    println!(
        "## IOC extraction on {} ESET reports with MISP events ({} bytes of README text)",
        cases.len(),
        bytes
    );
    for s in &skipped {
        println!("skipped: {s}");
    }
    let types: Vec<IndicatorType> = scores
        .get("vigil")
        .map(|m| m.keys().copied().collect())
        .unwrap_or_default();
    let tools: Vec<String> = std::iter::once("vigil".to_string())
        .chain(TOOLS.iter().map(|s| s.to_string()))
        .collect();
    println!(
        "\n| type | support | {} |",
        tools
            .iter()
            .map(|t| format!("{t} P/R/F1"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(tools.len()));
    for t in &types {
        let support = scores["vigil"][t].tp + scores["vigil"][t].fn_;
        let cells: Vec<String> = tools
            .iter()
            .map(|tool| match scores.get(tool).and_then(|m| m.get(t)) {
                Some(p) if p.tp + p.fp > 0 => {
                    format!("{:.2}/{:.2}/**{:.2}**", p.precision, p.recall, p.f1)
                }
                _ => "-".into(),
            })
            .collect();
        println!("| {t} | {support} | {} |", cells.join(" | "));
    }
    let cells: Vec<String> = tools
        .iter()
        .map(|tool| {
            scores
                .get(tool)
                .map(|m| format!("{:.2}", micro(m).f1))
                .unwrap_or("-".into())
        })
        .collect();
    println!("| micro (all types) | | {} |", cells.join(" | "));
    let cells: Vec<String> = tools
        .iter()
        .map(|tool| {
            secs.get(tool)
                .map(|s| format!("{:.3} s", s))
                .unwrap_or("-".into())
        })
        .collect();
    println!("| extraction time | | {} |", cells.join(" | "));

    // 2. Speed on a large text: the README texts concatenated and repeated.
    let mut corpus = Vec::new();
    for c in &cases {
        corpus.extend(std::fs::read(&c.text)?);
        corpus.push(b'\n');
    }
    let one = corpus.len();
    let tmp = std::env::temp_dir().join("vigil_ml_bench_1x.txt");
    std::fs::write(&tmp, &corpus)?;
    let mut big = Vec::with_capacity(big_mb << 20);
    while big.len() < big_mb << 20 {
        big.extend_from_slice(&corpus);
    }
    let t0 = Instant::now();
    let e = ex.extract_reader(&big[..])?;
    let dt = t0.elapsed().as_secs_f64();
    let ours_mbs = big.len() as f64 / dt / 1e6;
    println!("\n## Extraction speed");
    println!(
        "vigil: {:.1} MB in {:.2} s = **{:.0} MB/s** ({} distinct indicators)",
        big.len() as f64 / 1e6,
        dt,
        ours_mbs,
        e.indicators.len()
    );
    // Prose: the TRAM report texts (few indicators, many words), repeated to the same size.
    let reports = vigil_ml::tag::load_reports(&data)?;
    let prose: Vec<u8> = reports
        .iter()
        .flat_map(|r| r.text.bytes().chain(std::iter::once(b'\n')))
        .collect();
    let mut bigp = Vec::with_capacity(big_mb << 20);
    while bigp.len() < big_mb << 20 {
        bigp.extend_from_slice(&prose);
    }
    let t0 = Instant::now();
    let e = ex.extract_reader(&bigp[..])?;
    let dtp = t0.elapsed().as_secs_f64();
    println!("vigil on report prose (TRAM texts, {:.1} MB unique): {:.1} MB in {:.2} s = **{:.0} MB/s** ({} distinct indicators)", prose.len() as f64 / 1e6, bigp.len() as f64 / 1e6, dtp, bigp.len() as f64 / dtp / 1e6, e.indicators.len());
    let no_dedup = Extractor::new(vigil_ml::ExtractOptions {
        dedup: false,
        ..Default::default()
    });
    let t0 = Instant::now();
    let e = no_dedup.extract_reader(&prose[..])?;
    let dtu = t0.elapsed().as_secs_f64();
    println!("vigil on the unique prose once, every occurrence reported: {:.1} MB in {:.3} s = {:.0} MB/s ({} indicators)", prose.len() as f64 / 1e6, dtu, prose.len() as f64 / dtu / 1e6, e.indicators.len());
    let t0 = Instant::now();
    let e = no_dedup.extract_reader(&corpus[..])?;
    let dtu = t0.elapsed().as_secs_f64();
    println!("vigil on the unique ESET text once, every occurrence reported: {:.2} MB in {:.3} s = {:.0} MB/s ({} indicators)", corpus.len() as f64 / 1e6, dtu, corpus.len() as f64 / dtu / 1e6, e.indicators.len());
    let peers = run_peers(&python, &script, &tmp, "ioc-finder,iocsearcher");
    for (tool, (_, s)) in &peers {
        let mbs = one as f64 / s / 1e6;
        println!(
            "{tool}: {:.2} MB in {:.2} s = {:.2} MB/s (vigil is {:.0}x faster)",
            one as f64 / 1e6,
            s,
            mbs,
            ours_mbs / mbs
        );
    }

    // 3. Tagging speed.
    let tagger = vigil_ml::tag::Tagger::embedded()?;
    let sents: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            vigil_ml::text::sentences(&r.text)
                .into_iter()
                .map(move |(a, b)| r.text[a..b].to_string())
        })
        .collect();
    let t0 = Instant::now();
    let mut n = 0usize;
    for s in &sents {
        n += tagger.sentence_probs(s).len();
    }
    let dt = t0.elapsed().as_secs_f64();
    println!("\n## Tagging speed\n{} sentences in {:.2} s = **{:.0} sentences/s** ({} class scores each)", sents.len(), dt, sents.len() as f64 / dt, n / sents.len().max(1));
    let t0 = Instant::now();
    let mut tags = 0;
    for r in &reports {
        tags += tagger.tag(&r.text).techniques.len();
    }
    println!(
        "full documents: {} reports in {:.2} s ({} tags)",
        reports.len(),
        t0.elapsed().as_secs_f64(),
        tags
    );

    // 4. Domain scoring speed on one core.
    let dm = vigil_ml::domain::DomainModel::embedded()?;
    let ds = vigil_ml::domain::dataset(&data)?;
    let names: Vec<&str> = ds.iter().map(|s| s.domain.as_str()).collect();
    let mut buf = Vec::with_capacity(64);
    let rounds = 5;
    let t0 = Instant::now();
    let mut acc = 0.0;
    for _ in 0..rounds {
        for d in &names {
            acc += dm.score_with(d, &mut buf);
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!("\n## Domain scoring speed\n{} domains x {rounds} in {:.2} s = **{:.2} M domains/s** on one core (checksum {:.1})", names.len(), dt, (names.len() * rounds) as f64 / dt / 1e6, acc);
    Ok(())
}
