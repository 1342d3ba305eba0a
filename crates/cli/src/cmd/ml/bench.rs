//! `vigil bench ml`: every figure of the AI issue in one run.
//! - IOC extraction P/R/F1 per type on the ESET reports (README text vs the MISP events beside it), with
//!   iocextract, ioc-finder and iocsearcher (`shared/peers/ioc_extract_peers.py`) on the same files in the same
//!   run; extraction MB/s on a large text, next to the peers' MB/s on the unique text;
//! - ATT&CK tagging per-document micro F1 on held-out TRAM reports (retrained on the training side) and
//!   sentences/s;
//! - domain scoring ROC AUC and TPR at 1% / 0.1% FPR on held-out families vs held-out benign, domains/s on one core;
//! - attribution top-1 / top-5.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};
use vigil_ml::eval::extract::{extract_set, load_cases};
use vigil_ml::eval::{micro, normalize_value, score_into, TypeScores, ValueSet};
use vigil_ml::{Extractor, IndicatorType};

use super::out;
use crate::args::Cli;

const PEERS: [&str; 3] = ["iocextract", "ioc-finder", "iocsearcher"];

#[derive(Debug, Args)]
pub struct BenchMlArgs {
    /// The shared data folder (eset-malware-ioc, tram, maltrail, misp-warninglists, mitre-attack, misp-galaxy).
    #[arg(long, default_value = "../shared/data")]
    pub corpus: PathBuf,
    /// The peers' script (default: <corpus>/../peers/ioc_extract_peers.py).
    #[arg(long)]
    pub peers: Option<PathBuf>,
    /// Python with iocextract, ioc-finder and iocsearcher (default: $VENV/bin/python, else .venv-peers/bin/python).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Size of the large text for the extraction speed, in MiB.
    #[arg(long, default_value_t = 100)]
    pub mb: usize,
    /// Leave the peers out (figures of Vigil only).
    #[arg(long)]
    pub no_peers: bool,
    #[arg(long)]
    pub json: bool,
}

fn peer_type(name: &str) -> Option<IndicatorType> {
    Some(match name {
        "ipv4_cidr" => IndicatorType::Cidr,
        "registry_key" => IndicatorType::Registry,
        "bitcoin" => IndicatorType::Btc,
        "attack_technique" => IndicatorType::AttackTechnique,
        other => IndicatorType::parse(other)?,
    })
}

/// Runs the peers on one file: per tool, the normalised values and the extraction seconds.
fn run_peers(
    python: &Path,
    script: &Path,
    file: &Path,
    tools: &str,
) -> anyhow::Result<BTreeMap<String, (ValueSet, f64)>> {
    let out = Command::new(python)
        .arg(script)
        .arg(file)
        .arg("--tools")
        .arg(tools)
        .arg("--compact")
        .output()
        .with_context(|| format!("running {} {}", python.display(), script.display()))?;
    let v: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "the peers printed no JSON on {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )
    })?;
    let mut res = BTreeMap::new();
    for (tool, t) in v["tools"].as_object().into_iter().flatten() {
        let mut set = ValueSet::new();
        for (ty, vals) in t["normalized"].as_object().into_iter().flatten() {
            let Some(k) = peer_type(ty) else { continue };
            for val in vals
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if let Some(n) = normalize_value(k, val) {
                    set.insert((k, n));
                }
            }
        }
        res.insert(tool.clone(), (set, t["extract_s"].as_f64().unwrap_or(0.0)));
    }
    Ok(res)
}

/// Runs `f`, returning its result, wall seconds and CPU seconds (wall when /proc is absent).
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let c0 = vigil_ml::eval::thread_cpu_seconds();
    let t0 = Instant::now();
    let r = f();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = match (c0, vigil_ml::eval::thread_cpu_seconds()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => wall,
    };
    (r, wall, cpu)
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn bench(cli: &Cli, a: &BenchMlArgs) -> anyhow::Result<u8> {
    let data = &a.corpus;
    if !data.join("eset-malware-ioc").is_dir() {
        bail!(
            "{} has no eset-malware-ioc folder (expected the shared data)",
            data.display()
        );
    }
    let python = a
        .python
        .clone()
        .unwrap_or_else(|| match std::env::var("VENV") {
            Ok(v) => PathBuf::from(v).join("bin/python"),
            Err(_) => PathBuf::from(".venv-peers/bin/python"),
        });
    let script = a
        .peers
        .clone()
        .unwrap_or_else(|| data.join("../peers/ioc_extract_peers.py"));
    let use_peers = !a.no_peers;
    if use_peers && (!python.exists() || !script.exists()) {
        bail!(
            "peers not found ({} / {}): install them (see shared/peers/README.md), pass --python/--peers, or --no-peers",
            python.display(),
            script.display()
        );
    }
    let say = |s: String| -> anyhow::Result<()> {
        if !a.json {
            out!("{s}");
        }
        Ok(())
    };
    let ex = Extractor::default();
    let mut doc = serde_json::Map::new();

    // 1. IOC extraction quality, every tool on the same files.
    let (cases, hash_cases, skipped) = load_cases(&data.join("eset-malware-ioc"))?;
    let mut scores: BTreeMap<String, TypeScores> = BTreeMap::new();
    let mut secs: BTreeMap<String, f64> = BTreeMap::new();
    let mut bytes = 0usize;
    let tools: Vec<String> = std::iter::once("vigil".to_string())
        .chain(PEERS.iter().filter(|_| use_peers).map(|s| s.to_string()))
        .collect();
    for c in &cases {
        let text =
            std::fs::read(&c.text).with_context(|| format!("reading {}", c.text.display()))?;
        bytes += text.len();
        let t0 = Instant::now();
        let ours = extract_set(&ex, &text);
        *secs.entry("vigil".into()).or_default() += t0.elapsed().as_secs_f64();
        score_into(scores.entry("vigil".into()).or_default(), &ours, &c.truth);
        if use_peers {
            for (tool, (set, s)) in run_peers(&python, &script, &c.text, &PEERS.join(","))? {
                *secs.entry(tool.clone()).or_default() += s;
                score_into(scores.entry(tool).or_default(), &set, &c.truth);
            }
        }
    }
    say(format!(
        "## IOC extraction: {} ESET reports with MISP events ({bytes} bytes of report text)",
        cases.len()
    ))?;
    for s in &skipped {
        say(format!("skipped: {s}"))?;
    }
    let types: Vec<IndicatorType> = scores
        .get("vigil")
        .map(|m| m.keys().copied().collect())
        .unwrap_or_default();
    say(format!(
        "\n| type | support | {} |\n|---|---|{}",
        tools
            .iter()
            .map(|t| format!("{t} P/R/F1"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(tools.len())
    ))?;
    let mut per_type = serde_json::Map::new();
    let mut below_best = Vec::new();
    for t in &types {
        let v = &scores["vigil"][t];
        let support = v.tp + v.fn_;
        let mut row = serde_json::Map::new();
        row.insert("support".into(), json!(support));
        let mut cells = Vec::new();
        let mut best_peer: f64 = 0.0;
        for tool in &tools {
            match scores.get(tool).and_then(|m| m.get(t)) {
                Some(p) if p.tp + p.fp > 0 => {
                    cells.push(format!(
                        "{:.2}/{:.2}/**{:.2}**",
                        p.precision, p.recall, p.f1
                    ));
                    row.insert(tool.clone(), json!({"precision": p.precision, "recall": p.recall, "f1": p.f1, "tp": p.tp, "fp": p.fp, "fn": p.fn_}));
                    if tool != "vigil" {
                        best_peer = best_peer.max(p.f1);
                    }
                }
                _ => cells.push("-".into()),
            }
        }
        if v.f1 + 1e-9 < best_peer {
            below_best.push(t.as_str());
        }
        say(format!("| {t} | {support} | {} |", cells.join(" | ")))?;
        per_type.insert(t.as_str().into(), Value::Object(row));
    }
    let mut micro_row = serde_json::Map::new();
    let cells: Vec<String> = tools
        .iter()
        .map(|tool| match scores.get(tool) {
            Some(m) => {
                let p = micro(m);
                micro_row.insert(
                    tool.clone(),
                    json!({"precision": p.precision, "recall": p.recall, "f1": p.f1}),
                );
                format!("{:.2}/{:.2}/**{:.2}**", p.precision, p.recall, p.f1)
            }
            None => "-".into(),
        })
        .collect();
    say(format!("| micro, all types | | {} |", cells.join(" | ")))?;
    let cells: Vec<String> = tools
        .iter()
        .map(|tool| {
            secs.get(tool)
                .map(|s| format!("{s:.3} s"))
                .unwrap_or("-".into())
        })
        .collect();
    say(format!("| extraction time | | {} |", cells.join(" | ")))?;
    if below_best.is_empty() {
        say("Vigil's F1 is at least the best peer's on every type.".into())?;
    } else {
        say(format!(
            "Vigil's F1 is below the best peer's on: {}",
            below_best.join(", ")
        ))?;
    }
    doc.insert(
        "extract".into(),
        json!({"documents": cases.len(), "bytes": bytes, "skipped": skipped, "per_type": per_type, "micro": micro_row,
               "seconds": secs, "types_below_best_peer": below_best}),
    );

    // 1b. The hash lists shipped beside the reports (samples.sha1/.sha256/.md5) as ground truth, all tools.
    let mut hscores: BTreeMap<String, TypeScores> = BTreeMap::new();
    let mut texts: BTreeMap<PathBuf, BTreeMap<String, ValueSet>> = BTreeMap::new();
    for c in &hash_cases {
        if !texts.contains_key(&c.text) {
            let text =
                std::fs::read(&c.text).with_context(|| format!("reading {}", c.text.display()))?;
            let mut per = BTreeMap::new();
            per.insert("vigil".to_string(), extract_set(&ex, &text));
            if use_peers {
                for (tool, (set, _)) in run_peers(&python, &script, &c.text, &PEERS.join(","))? {
                    per.insert(tool, set);
                }
            }
            texts.insert(c.text.clone(), per);
        }
        for (tool, set) in &texts[&c.text] {
            score_into(hscores.entry(tool.clone()).or_default(), set, &c.truth);
        }
    }
    say(format!(
        "\n### Against the hash lists beside {} reports (samples.md5/.sha1/.sha256)\n| type | support | {} |\n|---|---|{}",
        hash_cases.len(),
        tools.iter().map(|t| format!("{t} P/R/F1")).collect::<Vec<_>>().join(" | "),
        "---|".repeat(tools.len())
    ))?;
    let mut hash_json = serde_json::Map::new();
    let htypes: Vec<IndicatorType> = hscores
        .get("vigil")
        .map(|m| m.keys().copied().collect())
        .unwrap_or_default();
    for t in &htypes {
        let v = &hscores["vigil"][t];
        let mut row = serde_json::Map::new();
        let cells: Vec<String> = tools
            .iter()
            .map(|tool| match hscores.get(tool).and_then(|m| m.get(t)) {
                Some(p) => {
                    row.insert(
                        tool.clone(),
                        json!({"precision": p.precision, "recall": p.recall, "f1": p.f1}),
                    );
                    format!("{:.2}/{:.2}/**{:.2}**", p.precision, p.recall, p.f1)
                }
                None => "-".into(),
            })
            .collect();
        say(format!(
            "| {t} | {} | {} |",
            v.tp + v.fn_,
            cells.join(" | ")
        ))?;
        hash_json.insert(t.as_str().into(), Value::Object(row));
    }
    doc.insert(
        "extract_hash_lists".into(),
        json!({"documents": hash_cases.len(), "per_type": hash_json}),
    );

    // 2. Extraction speed: the report texts concatenated and repeated to a large text; peers on the unique text.
    let mut corpus = Vec::new();
    for c in &cases {
        corpus.extend(std::fs::read(&c.text)?);
        corpus.push(b'\n');
    }
    let mut big = Vec::with_capacity(a.mb << 20);
    while big.len() < a.mb << 20 && !corpus.is_empty() {
        big.extend_from_slice(&corpus);
    }
    let (e, dt, ex_cpu) = timed(|| ex.extract_reader(&big[..]));
    let e = e?;
    let ours_mbs = big.len() as f64 / dt / 1e6;
    say(format!(
        "\n## Extraction speed\nvigil: {:.1} MB in {dt:.2} s = **{ours_mbs:.0} MB/s** wall, {:.0} MB per CPU-second ({} distinct indicators)",
        big.len() as f64 / 1e6,
        big.len() as f64 / ex_cpu / 1e6,
        e.indicators.len()
    ))?;
    let reports = vigil_ml::tag::load_reports(data)?;
    let prose: Vec<u8> = reports
        .iter()
        .flat_map(|r| r.text.bytes().chain(std::iter::once(b'\n')))
        .collect();
    let mut bigp = Vec::with_capacity(a.mb << 20);
    while bigp.len() < a.mb << 20 && !prose.is_empty() {
        bigp.extend_from_slice(&prose);
    }
    let t0 = Instant::now();
    let _ = ex.extract_reader(&bigp[..])?;
    let dtp = t0.elapsed().as_secs_f64();
    let prose_mbs = bigp.len() as f64 / dtp / 1e6;
    say(format!(
        "vigil on report prose (TRAM texts repeated): {:.1} MB in {dtp:.2} s = **{prose_mbs:.0} MB/s**",
        bigp.len() as f64 / 1e6
    ))?;
    let mut speed = json!({"vigil_mb_per_cpu_s": r3(big.len() as f64 / ex_cpu / 1e6), "vigil_mb_per_s": r3(ours_mbs), "vigil_prose_mb_per_s": r3(prose_mbs), "large_text_mb": r3(big.len() as f64 / 1e6)});
    if use_peers {
        let tmp = std::env::temp_dir().join(format!("vigil-bench-ml-{}.txt", std::process::id()));
        std::fs::write(&tmp, &corpus)?;
        let peers = run_peers(&python, &script, &tmp, "ioc-finder,iocsearcher");
        let _ = std::fs::remove_file(&tmp);
        for (tool, (_, s)) in &peers? {
            let mbs = corpus.len() as f64 / s / 1e6;
            say(format!(
                "{tool}: {:.2} MB in {s:.2} s = {mbs:.2} MB/s (vigil is {:.0}x faster)",
                corpus.len() as f64 / 1e6,
                ours_mbs / mbs
            ))?;
            speed[format!("{tool}_mb_per_s")] = json!(r3(mbs));
        }
        say("iocextract is left out of the speed run: its IPv4 extraction is quadratic (224 s on 953 KB).".into())?;
    }
    doc.insert("extract_speed".into(), speed);

    // 3. Tagging: held-out metrics (retrained on the training reports) and speed of the model in use.
    let t0 = Instant::now();
    let (_, tm) = vigil_ml::tag::train_and_evaluate(data)?;
    say(format!(
        "\n## ATT&CK tagging ({} held-out TRAM reports, {} training; {:.0} s to retrain and evaluate)",
        tm.heldout_reports,
        tm.train_reports,
        t0.elapsed().as_secs_f64()
    ))?;
    say("| protocol | P | R | F1 |\n|---|---|---|---|".into())?;
    say(format!(
        "| validation: 4-fold CV by report on the training reports, TRAM-50, full text | | | {:.3} |",
        tm.cv_tram50_f1
    ))?;
    for (name, m) in [
        ("per-document micro, TRAM-50, full report text", &tm.tram50),
        (
            "per-document micro, all techniques, full report text",
            &tm.all_techniques,
        ),
        (
            "per-document micro, all techniques, counting only the tags TRAM can judge",
            &tm.judgeable_techniques,
        ),
        (
            "per-document micro, TRAM-50, annotated sentences (TRAM2-style)",
            &tm.tram50_annotated_sentences,
        ),
    ] {
        say(format!(
            "| {name} | {:.3} | {:.3} | **{:.3}** |",
            m.precision, m.recall, m.f1
        ))?;
    }
    say(format!(
        "\n{} tags of techniques annotated in none of TRAM's reports (TRAM's annotators use its 50 and some of \
         their sub-techniques only): counted as wrong in \"all techniques\", not counted in \"only the tags TRAM \
         can judge\".",
        tm.unjudged_tags
    ))?;
    say(format!(
        "\nEvidence of the {} correct TRAM-50 tags: {} sentences cited, {:.3} of them annotated with the tag's \
         technique; the first citation annotated for {:.3} of the tags (TRAM's annotation is incomplete: lower \
         bounds).",
        tm.evidence.tags, tm.evidence.cited, tm.evidence.precision, tm.evidence.first_cited_annotated
    ))?;
    let tagger = super::load_tagger(cli, &None)?;
    let sents: Vec<&str> = reports
        .iter()
        .flat_map(|r| {
            vigil_ml::text::sentences(&r.text)
                .into_iter()
                .map(move |(s, e)| &r.text[s..e])
        })
        .collect();
    let (n, dt, cpu) = timed(|| {
        sents
            .iter()
            .map(|s| tagger.sentence_probs(s).len())
            .sum::<usize>()
    });
    let sps = sents.len() as f64 / dt;
    say(format!("tagging speed: {} sentences in {dt:.2} s = **{sps:.0} sentences/s** wall, {:.0} per CPU-second ({} class scores each)", sents.len(), sents.len() as f64 / cpu, n / sents.len().max(1)))?;
    doc.insert("tag".into(), json!({"metrics": tm, "sentences_per_s": sps.round(), "sentences_per_cpu_s": (sents.len() as f64 / cpu).round()}));

    // 4. Domain scoring.
    // The shipped model has seen every family of the corpus: the held-out figures come from one fitted on the
    // training side, as `vigil ml eval` measures them; speed is the shipped model's.
    let dm = super::load_domain(cli, &None)?;
    let m = vigil_ml::domain::train_and_evaluate(data)?;
    say(format!(
        "\n## Domain scoring ({} held-out malicious domains of {} unseen families vs {} held-out benign)\nROC AUC **{:.3}**, TPR at 1% FPR **{:.3}**, at 0.1% FPR **{:.3}**",
        m.test_malicious, m.test_families, m.test_benign, m.roc_auc, m.tpr_at_1pct_fpr, m.tpr_at_0_1pct_fpr
    ))?;
    say(format!(
        "  mean of the per-family AUCs (each held-out family against all held-out benign): {:.3}",
        m.roc_auc_family_mean
    ))?;
    if let Some(b) = &m.family_bootstrap {
        say(format!(
            "  which families are held out (the held-out families resampled {} times): AUC 95% interval {:.3}-{:.3} (sd {:.3}), TPR at 1% FPR {:.3}-{:.3}",
            b.resamples, b.roc_auc_ci95[0], b.roc_auc_ci95[1], b.roc_auc_sd, b.tpr_at_1pct_fpr_ci95[0], b.tpr_at_1pct_fpr_ci95[1]
        ))?;
    }
    for (l, auc) in &m.roc_auc_by_benign_list {
        say(format!("  AUC vs held-out {l}: {auc:.3}"))?;
    }
    if let Some(e) = &m.eligible_cctlds {
        say(format!(
            "  held-out benign names under the programme's country TLDs ({} names, .at ... .uk, .eu): AUC {:.3}, {:.2}% of them above the 1%-FPR threshold",
            e.benign, e.roc_auc, 100.0 * e.fpr_at_1pct_threshold
        ))?;
    }
    let ds = vigil_ml::domain::dataset(data)?;
    let names: Vec<&str> = ds.iter().map(|s| s.domain.as_str()).collect();
    let mut buf = Vec::with_capacity(64);
    let rounds = 5;
    let (acc, dt, cpu) = timed(|| {
        let mut acc = 0.0;
        for _ in 0..rounds {
            for d in &names {
                acc += dm.score_with(d, &mut buf);
            }
        }
        acc
    });
    let dps = (names.len() * rounds) as f64 / dt;
    let dps_cpu = (names.len() * rounds) as f64 / cpu;
    say(format!(
        "scoring speed (one thread): {} domains x {rounds} in {dt:.2} s = **{:.2} M domains/s** wall, **{:.2} M per CPU-second** (checksum {acc:.1})",
        names.len(),
        dps / 1e6,
        dps_cpu / 1e6
    ))?;
    // All cores, as `vigil ml score-domains` runs by default (batches of its size split between the threads).
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut scores = Vec::new();
    let (acc_all, dt_all, _) = timed(|| {
        let mut acc = 0.0;
        for _ in 0..rounds {
            for batch in names.chunks(super::SCORE_BATCH) {
                dm.score_many(batch, threads, &mut scores);
                acc += scores.iter().sum::<f64>();
            }
        }
        acc
    });
    let dps_all = (names.len() * rounds) as f64 / dt_all;
    say(format!(
        "scoring speed ({threads} threads, as `vigil ml score-domains`): {:.2} s = **{:.2} M domains/s** wall, {:.2}x one thread (checksum {acc_all:.1})",
        dt_all,
        dps_all / 1e6,
        dps_all / dps
    ))?;
    doc.insert(
        "domain".into(),
        json!({"metrics": m, "domains_per_s": dps.round(), "domains_per_cpu_s": dps_cpu.round(),
            "threads": threads, "domains_per_s_all_threads": dps_all.round()}),
    );

    // 5. Attribution.
    let am = vigil_ml::eval(
        vigil_ml::Task::Attribute,
        data,
        vigil_ml::EvalSplit::HeldOut,
        &vigil_ml::ModelSource::Embedded,
    )?;
    if let vigil_ml::Metrics::Attribute(x) = &am {
        say(format!(
            "\n## Attribution ({} groups with >= 10 techniques, {} trials each)\ntop-1 **{:.3}**, top-5 **{:.3}**, MRR {:.3}",
            x.groups, x.trials_per_group, x.top1, x.top5, x.mrr
        ))?;
    }
    doc.insert("attribute".into(), serde_json::to_value(&am)?);
    if a.json {
        crate::output::json(&Value::Object(doc))?;
    }
    Ok(0)
}
