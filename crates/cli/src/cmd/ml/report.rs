//! `vigil ingest FILE --format report` and `vigil review list|confirm|reject`.
//!
//! A report becomes a STIX `report` whose `object_refs` hold what the models found in it:
//! - indicators (deterministic ids over their pattern, so a value already known from a feed stays as it is);
//! - vulnerabilities for CVE ids, `file` and `windows-registry-key` observables;
//! - `describes` relationships from the report to the ATT&CK attack-patterns the tagger found (evidence sentences
//!   in `x_vigil_evidence`), and `attributed-to` relationships to the best-ranked intrusion sets.
//!
//! Everything the models produced carries the machine label: `labels: ["machine-generated"]`,
//! `x_vigil_machine_generated: true`, `x_vigil_model` / `x_vigil_model_version` / `x_vigil_model_data` (the
//! training-data hash), a STIX `confidence` (0-100) and `x_vigil_review: "pending"`. `vigil review confirm` writes
//! a new version without the label (`x_vigil_review: "confirmed"`); `vigil review reject` revokes it. No schema
//! change: these are ordinary STIX objects with `x_vigil_` properties.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use vigil_formats::ParseCtx;
use vigil_model::{ids, Observable, ObservableKind, Provenance, StixObject, Tlp};
use vigil_store::{PutMode, PutOutcome, ScanFilter, StoreError};

use vigil_ml::attribute::Query;
use vigil_ml::IndicatorType;

use super::{load_attributor, load_domain, load_tagger, out, quiet_pipe, report_text, sha256_hex};
use crate::args::{Cli, IngestArgs};
use crate::cmd::Env;

/// The label every machine-generated object carries until reviewed.
pub const MACHINE_LABEL: &str = "machine-generated";
/// Attribution suggestions stored per report (the full ranking is on the report object).
const ATTRIBUTION_LINKS: usize = 3;
/// Attribution scores below this are not linked (they stay listed on the report).
const ATTRIBUTION_MIN: f64 = 0.1;

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Machine-generated suggestions waiting for an analyst (indicators, technique and attribution links).
    List(ReviewListArgs),
    /// Accept suggestions: a new version without the machine label.
    Confirm(ReviewDecideArgs),
    /// Reject suggestions: a new, revoked version (kept in the history, gone from searches, hunts and exports).
    Reject(ReviewDecideArgs),
}

#[derive(Debug, Args)]
pub struct ReviewListArgs {
    /// Only the suggestions of this report (STIX id).
    #[arg(long)]
    pub report: Option<String>,
    /// Only these STIX types (repeatable): indicator, relationship, vulnerability.
    #[arg(long = "type")]
    pub types: Vec<String>,
    #[arg(long, default_value_t = 200)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReviewDecideArgs {
    /// STIX ids of the suggestions; `--report ID --all` for every pending suggestion of a report.
    pub ids: Vec<String>,
    #[arg(long)]
    pub report: Option<String>,
    /// With --report: every pending suggestion of the report.
    #[arg(long)]
    pub all: bool,
    /// Why (kept on the new version as `x_vigil_review_note`).
    #[arg(long)]
    pub note: Option<String>,
    #[arg(long)]
    pub json: bool,
}

fn machine_props(
    m: &mut Map<String, Value>,
    model: &str,
    version: u32,
    data: &str,
    confidence: f64,
) {
    let c = (confidence.clamp(0.0, 1.0) * 100.0).round() as u64;
    m.insert("confidence".into(), json!(c));
    m.insert("labels".into(), json!([MACHINE_LABEL]));
    m.insert("x_vigil_machine_generated".into(), json!(true));
    m.insert("x_vigil_model".into(), json!(model));
    m.insert("x_vigil_model_version".into(), json!(version));
    if !data.is_empty() {
        m.insert("x_vigil_model_data".into(), json!(data));
    }
    m.insert("x_vigil_review".into(), json!("pending"));
}

fn observable_kind(t: IndicatorType, value: &str) -> Option<ObservableKind> {
    Some(match t {
        IndicatorType::Domain => ObservableKind::Domain,
        IndicatorType::Ipv4 => ObservableKind::Ipv4,
        IndicatorType::Ipv6 => ObservableKind::Ipv6,
        IndicatorType::Cidr if value.contains(':') => ObservableKind::Ipv6,
        IndicatorType::Cidr => ObservableKind::Ipv4,
        IndicatorType::Url => ObservableKind::Url,
        IndicatorType::Email => ObservableKind::Email,
        IndicatorType::Md5 => ObservableKind::Md5,
        IndicatorType::Sha1 => ObservableKind::Sha1,
        IndicatorType::Sha256 => ObservableKind::Sha256,
        IndicatorType::Sha512 => ObservableKind::Sha512,
        _ => return None,
    })
}

/// Report files under a path: the file itself, or the .txt/.md/.html files of a folder (recursively, sorted).
fn report_files(p: &str) -> anyhow::Result<Vec<String>> {
    if p == "-" {
        return Ok(vec![p.to_string()]);
    }
    let path = Path::new(p);
    if !path.is_dir() {
        return Ok(vec![p.to_string()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let e = e?;
            let p: PathBuf = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(
                p.extension()
                    .and_then(|x| x.to_str())
                    .map(|x| x.to_ascii_lowercase())
                    .as_deref(),
                Some("txt" | "md" | "markdown" | "html" | "htm")
            ) {
                out.push(p.display().to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The title of a report: its first non-empty line (Markdown `#` and HTML markup removed), else the file name.
fn title_of(text: &str, file: &str) -> String {
    let line = text
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .find(|l| l.chars().filter(|c| c.is_alphanumeric()).count() >= 3);
    match line {
        Some(l) => l.chars().take(200).collect(),
        None => Path::new(file)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.to_string()),
    }
}

/// `vigil ingest PATH... --format report`.
pub fn ingest_report(cli: &Cli, env: &Env, a: &IngestArgs) -> anyhow::Result<u8> {
    quiet_pipe(ingest_report_inner(cli, env, a))
}

fn ingest_report_inner(cli: &Cli, env: &Env, a: &IngestArgs) -> anyhow::Result<u8> {
    let tlp = match &a.tlp {
        Some(t) => Some(t.parse::<Tlp>().map_err(anyhow::Error::msg)?),
        None => None,
    };
    let tagger = load_tagger(cli, &None)?;
    let domains = load_domain(cli, &None)?;
    let attributor = load_attributor(cli, &None)?;
    let ex = super::extractor(cli, &[], 0.0, false, false)?;
    let mut files = Vec::new();
    for p in &a.paths {
        files.extend(report_files(p)?);
    }
    if files.is_empty() {
        bail!("no report found (expected .txt, .md or .html files)");
    }
    let mut results = Vec::new();
    let mut unresolved_techniques = 0usize;
    let mut failed = 0usize;
    for file in &files {
        let bytes = match super::read_input(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("vigil: {e:#}");
                failed += 1;
                continue;
            }
        };
        let now = vigil_model::time::now();
        let source = a.source.clone().unwrap_or_else(|| "report".to_string());
        let ctx = ParseCtx {
            source: source.clone(),
            file: file.clone(),
            confidence: None,
            now: now.clone(),
        };
        let prov = Provenance {
            source,
            ingested_at: now.clone(),
            original_id: None,
            file: Some(file.clone()),
        };
        let extraction = ex.extract_bytes(&bytes);
        let (text, tagging) = match report_text(&bytes, file) {
            Ok(t) => {
                let tg = tagger.tag(&t);
                (t, tg)
            }
            Err(e) => {
                eprintln!("vigil: {e:#}; indicators only");
                (String::new(), vigil_ml::tag::Tagging::default())
            }
        };
        let software = attributor.software_in_text(&text);
        let digest = sha256_hex(&bytes);
        let report_id = ids::vigil_id("report", &[&digest]);
        let marking = |m: &mut Map<String, Value>| {
            if let Some(t) = tlp {
                m.insert("object_marking_refs".into(), json!([t.marking_id()]));
            }
        };
        let tag_h = tagger.header().clone();
        let dom_h = domains.header().clone();
        let att_h = attributor.header().clone();

        // Indicators and observables.
        let mut objects: Vec<(StixObject, PutMode)> = Vec::new();
        let mut crypto = Vec::new();
        let mut explicit_techniques: BTreeMap<String, u64> = BTreeMap::new();
        let mut cves = Vec::new();
        let mut indicator_values = Vec::new();
        let mut n_ind = 0usize;
        for i in &extraction.indicators {
            match i.kind {
                IndicatorType::Btc => crypto.push(i.value.clone()),
                IndicatorType::AttackTechnique => {
                    explicit_techniques
                        .entry(i.value.clone())
                        .or_insert(i.offset);
                }
                IndicatorType::Cve => cves.push(i.clone()),
                IndicatorType::File | IndicatorType::Registry => {
                    let (ty, key) = if i.kind == IndicatorType::File {
                        ("file", "name")
                    } else {
                        ("windows-registry-key", "key")
                    };
                    let mut m = Map::new();
                    m.insert("type".into(), json!(ty));
                    m.insert("spec_version".into(), json!("2.1"));
                    m.insert(key.into(), json!(i.value));
                    let id = ids::sco_id(ty, &m).unwrap_or_else(|| ids::vigil_id(ty, &[&i.value]));
                    m.insert("id".into(), json!(id));
                    match StixObject::from_map(m) {
                        Ok(o) => objects.push((o, PutMode::Derived)),
                        Err(e) => eprintln!(
                            "vigil: {file} byte {}: {} `{}` not stored: {e}",
                            i.offset, i.kind, i.value
                        ),
                    }
                }
                k => {
                    let Some(kind) = observable_kind(k, &i.value) else {
                        continue;
                    };
                    let obs = match Observable::new(kind, &i.value) {
                        Ok(o) => o,
                        Err(e) => {
                            eprintln!(
                                "vigil: {file} byte {}: {} `{}` not stored: {e}",
                                i.offset, i.kind, i.value
                            );
                            continue;
                        }
                    };
                    indicator_values.push(obs.value.clone());
                    let mut extra: Vec<(&str, Value)> = vec![
                        (
                            "description",
                            json!(format!("Extracted from {file} at byte {}.", i.offset)),
                        ),
                        ("x_vigil_report_ref", json!(report_id)),
                        ("x_vigil_offset", json!(i.offset)),
                    ];
                    if kind == ObservableKind::Domain {
                        extra.push(("x_vigil_domain_score", json!(domains.score(&obs.value))));
                        extra.push((
                            "x_vigil_domain_model",
                            json!(format!(
                                "{} v{} {}",
                                dom_h.model,
                                dom_h.model_version,
                                &dom_h.data_hash_hex()[..12]
                            )),
                        ));
                    }
                    let mut o = match vigil_formats::iocs::indicator_for(&obs, &ctx, &extra) {
                        Ok(o) => o,
                        Err(e) => {
                            eprintln!(
                                "vigil: {file} byte {}: `{}` not stored: {e}",
                                i.offset, i.value
                            );
                            continue;
                        }
                    };
                    let mut m = o.props().clone();
                    machine_props(&mut m, "extract", 1, "", i.confidence);
                    m.insert(
                        "x_vigil_model".into(),
                        json!(format!("vigil-ml extract {}", env!("CARGO_PKG_VERSION"))),
                    );
                    marking(&mut m);
                    o = StixObject::from_map_trusted(m)?;
                    objects.push((o, PutMode::Source));
                    n_ind += 1;
                }
            }
        }

        // Techniques: the tagger's and those the text names by id.
        let mut techniques: BTreeMap<String, (f64, Vec<String>)> = BTreeMap::new();
        for t in &tagging.techniques {
            techniques.insert(t.id.clone(), (t.score, t.evidence.clone()));
        }
        for (id, off) in &explicit_techniques {
            let e = techniques.entry(id.clone()).or_insert((0.0, Vec::new()));
            e.0 = e.0.max(0.95);
            e.1.insert(0, format!("named as {id} at byte {off}"));
        }
        let query = Query {
            techniques: techniques.keys().cloned().collect(),
            software: software.iter().map(|(id, _)| id.clone()).collect(),
            indicators: indicator_values.clone(),
            // What the knowledge base already says of the report's indicators.
            attributed: super::store_attributions(env.kb(), &indicator_values)?,
        };
        let ranking = attributor.rank(&query, 5);

        let mut summary = json!({
            "file": file,
            "report": report_id,
            "indicators": n_ind,
            "techniques": techniques.iter().map(|(k, v)| json!({"id": k, "score": v.0})).collect::<Vec<_>>(),
            "software": software.iter().map(|(id, n)| json!({"id": id, "name": n})).collect::<Vec<_>>(),
            "attribution": ranking.groups.iter().map(|g| json!({"id": g.id, "name": g.name, "score": g.score})).collect::<Vec<_>>(),
            "crypto_addresses": crypto,
            "skipped": extraction.report.summary(),
        });
        let mut added = 0usize;
        let mut unresolved = Vec::new();
        let title = title_of(&text, file);
        let res = env.kb().write(&mut |tx| {
            added = 0;
            unresolved.clear();
            let mut refs: BTreeSet<String> = BTreeSet::new();
            let mut batch: Vec<(StixObject, PutMode)> = objects.clone();
            for c in &cves {
                let existing = tx.lookup(&["vulnerability"], &c.value)?;
                if let Some(id) = existing.first() {
                    refs.insert(id.clone());
                    continue;
                }
                let mut m = Map::new();
                m.insert("type".into(), json!("vulnerability"));
                m.insert("spec_version".into(), json!("2.1"));
                m.insert("id".into(), json!(ids::vigil_id("vulnerability", &[&c.value])));
                m.insert("created".into(), json!(now));
                m.insert("modified".into(), json!(now));
                m.insert("name".into(), json!(c.value));
                m.insert("external_references".into(), json!([{"source_name": "cve", "external_id": c.value}]));
                m.insert("x_vigil_report_ref".into(), json!(report_id));
                machine_props(&mut m, &format!("vigil-ml extract {}", env!("CARGO_PKG_VERSION")), 1, "", c.confidence);
                marking(&mut m);
                batch.push((StixObject::from_map_trusted(m).map_err(|e| StoreError::Aborted(e.to_string()))?, PutMode::Source));
            }
            for (id, (score, evidence)) in &techniques {
                let found = tx.lookup(&["attack-pattern"], id)?;
                let Some(ap) = found.first() else {
                    unresolved.push(id.clone());
                    continue;
                };
                refs.insert(ap.clone());
                let mut m = Map::new();
                m.insert("type".into(), json!("relationship"));
                m.insert("spec_version".into(), json!("2.1"));
                m.insert("id".into(), json!(ids::vigil_id("relationship", &[&report_id, "describes", ap])));
                m.insert("created".into(), json!(now));
                m.insert("modified".into(), json!(now));
                m.insert("relationship_type".into(), json!("describes"));
                m.insert("source_ref".into(), json!(report_id));
                m.insert("target_ref".into(), json!(ap));
                m.insert("description".into(), json!(format!("The report describes {id} (suggested by the ATT&CK tagger).")));
                m.insert("x_vigil_technique".into(), json!(id));
                m.insert("x_vigil_evidence".into(), json!(evidence));
                m.insert("x_vigil_report_ref".into(), json!(report_id));
                machine_props(&mut m, &tag_h.model, tag_h.model_version, &tag_h.data_hash_hex(), *score);
                marking(&mut m);
                batch.push((StixObject::from_map_trusted(m).map_err(|e| StoreError::Aborted(e.to_string()))?, PutMode::Source));
            }
            for (id, _) in &software {
                if let Some(s) = tx.lookup(&["malware", "tool"], id)?.first() {
                    refs.insert(s.clone());
                }
            }
            for g in ranking
                .groups
                .iter()
                .filter(|g| g.score >= ATTRIBUTION_MIN)
                .take(ATTRIBUTION_LINKS)
            {
                let mut found = tx.lookup(&["intrusion-set"], &g.id)?;
                if found.is_empty() {
                    found = tx.lookup(&["intrusion-set", "threat-actor"], &g.name)?;
                }
                let Some(target) = found.first() else { continue };
                let mut m = Map::new();
                m.insert("type".into(), json!("relationship"));
                m.insert("spec_version".into(), json!("2.1"));
                m.insert("id".into(), json!(ids::vigil_id("relationship", &[&report_id, "attributed-to", target])));
                m.insert("created".into(), json!(now));
                m.insert("modified".into(), json!(now));
                m.insert("relationship_type".into(), json!("attributed-to"));
                m.insert("source_ref".into(), json!(report_id));
                m.insert("target_ref".into(), json!(target));
                m.insert("description".into(), json!(format!("Suggested attribution to {} {} (similarity {:.3}).", g.id, g.name, g.score)));
                m.insert("x_vigil_evidence".into(), serde_json::to_value(&g.evidence).unwrap_or(Value::Null));
                m.insert("x_vigil_report_ref".into(), json!(report_id));
                machine_props(&mut m, &att_h.model, att_h.model_version, &att_h.data_hash_hex(), g.score);
                marking(&mut m);
                batch.push((StixObject::from_map_trusted(m).map_err(|e| StoreError::Aborted(e.to_string()))?, PutMode::Source));
            }
            for (o, _) in &batch {
                refs.insert(o.id().to_string());
            }
            if refs.is_empty() {
                return Ok(());
            }
            let mut m = Map::new();
            m.insert("type".into(), json!("report"));
            m.insert("spec_version".into(), json!("2.1"));
            m.insert("id".into(), json!(report_id));
            m.insert("created".into(), json!(now));
            m.insert("modified".into(), json!(now));
            m.insert("name".into(), json!(title));
            m.insert("description".into(), json!(format!("Report read from {file}. Indicators, techniques and attribution are machine-generated suggestions (labelled `{MACHINE_LABEL}`) until reviewed with `vigil review`.")));
            m.insert("report_types".into(), json!(["threat-report"]));
            m.insert("published".into(), json!(now));
            m.insert("object_refs".into(), json!(refs.iter().collect::<Vec<_>>()));
            m.insert("x_vigil_sha256".into(), json!(digest));
            m.insert("x_vigil_suggested_techniques".into(), summary["techniques"].clone());
            m.insert("x_vigil_suggested_attribution".into(), summary["attribution"].clone());
            if !crypto.is_empty() {
                m.insert("x_vigil_crypto_addresses".into(), json!(crypto));
            }
            marking(&mut m);
            batch.push((StixObject::from_map_trusted(m).map_err(|e| StoreError::Aborted(e.to_string()))?, PutMode::Derived));
            for (o, mode) in &batch {
                // Suggestions are versioned objects (so a review can supersede them), written once: when the id is
                // already stored (a feed's indicator, or this report read before and perhaps reviewed since) only
                // the provenance is added.
                let mode = if *mode == PutMode::Source && tx.exists(o.id())? {
                    PutMode::Derived
                } else {
                    *mode
                };
                if tx.put(o, &prov, mode)? == PutOutcome::Added {
                    added += 1;
                }
            }
            Ok(())
        });
        if let Err(e) = res {
            eprintln!("vigil: {file}: not stored: {e}");
            failed += 1;
            continue;
        }
        if !unresolved.is_empty() {
            unresolved_techniques += unresolved.len();
        }
        summary["added"] = json!(added);
        summary["unlinked_techniques"] = json!(unresolved);
        results.push(summary);
    }
    if a.json {
        crate::output::json(&json!({"reports": results, "failed": failed}))?;
    } else {
        for r in &results {
            out!(
                "{}: report {} — {} indicators, {} techniques, {} software; {} objects added",
                r["file"].as_str().unwrap_or_default(),
                r["report"].as_str().unwrap_or_default(),
                r["indicators"],
                r["techniques"].as_array().map(Vec::len).unwrap_or(0),
                r["software"].as_array().map(Vec::len).unwrap_or(0),
                r["added"]
            );
            for g in r["attribution"].as_array().into_iter().flatten().take(3) {
                out!(
                    "  resembles {} {} ({:.3})",
                    g["id"].as_str().unwrap_or_default(),
                    g["name"].as_str().unwrap_or_default(),
                    g["score"].as_f64().unwrap_or(0.0)
                );
            }
            let s = r["skipped"].as_str().unwrap_or_default();
            if !s.is_empty() {
                out!("  skipped: {s}");
            }
        }
        if unresolved_techniques > 0 {
            eprintln!("vigil: {unresolved_techniques} technique(s) not linked: the ATT&CK attack-patterns are not in the store (vigil ingest enterprise-attack.json first); they are listed on the report");
        }
        out!("suggestions are labelled `{MACHINE_LABEL}`: review them with `vigil review list`");
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

fn is_pending(o: &StixObject) -> bool {
    o.get("x_vigil_machine_generated").and_then(Value::as_bool) == Some(true)
        && o.str("x_vigil_review") == Some("pending")
        && !o.revoked()
}

fn belongs_to(o: &StixObject, report: &str) -> bool {
    o.str("x_vigil_report_ref") == Some(report) || o.str("source_ref") == Some(report)
}

fn pending(env: &Env, report: Option<&str>, types: &[String]) -> anyhow::Result<Vec<StixObject>> {
    let types = if types.is_empty() {
        vec![
            "indicator".to_string(),
            "relationship".to_string(),
            "vulnerability".to_string(),
        ]
    } else {
        types.to_vec()
    };
    let mut out = Vec::new();
    env.store.scan(
        &ScanFilter {
            types,
            ..Default::default()
        },
        &mut |so| {
            if is_pending(&so.object) && report.is_none_or(|r| belongs_to(&so.object, r)) {
                out.push(so.object);
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// One line describing a suggestion.
fn describe(env: &Env, o: &StixObject) -> String {
    match o.type_() {
        "relationship" => {
            let target = o.str("target_ref").unwrap_or_default();
            let name = env
                .store
                .get(target)
                .ok()
                .flatten()
                .map(|t| {
                    let ext = t.object.external_id().unwrap_or_default().to_string();
                    format!("{ext} {}", t.object.name().unwrap_or_default())
                })
                .unwrap_or_else(|| target.to_string());
            format!(
                "{} {}",
                o.str("relationship_type").unwrap_or_default(),
                name.trim()
            )
        }
        _ => o
            .name()
            .or_else(|| o.str("pattern"))
            .unwrap_or_default()
            .to_string(),
    }
}

pub fn review(env: &Env, c: &ReviewCommand) -> anyhow::Result<u8> {
    quiet_pipe(review_inner(env, c))
}

fn review_inner(env: &Env, c: &ReviewCommand) -> anyhow::Result<u8> {
    match c {
        ReviewCommand::List(a) => {
            let items = pending(env, a.report.as_deref(), &a.types)?;
            let total = items.len();
            let rows: Vec<Value> = items
                .iter()
                .take(a.limit)
                .map(|o| {
                    json!({
                        "id": o.id(),
                        "type": o.type_(),
                        "what": describe(env, o),
                        "confidence": o.confidence(),
                        "model": o.str("x_vigil_model"),
                        "report": o.str("x_vigil_report_ref"),
                        "evidence": o.get("x_vigil_evidence").cloned().unwrap_or(Value::Null),
                    })
                })
                .collect();
            if a.json {
                crate::output::json(&json!({"pending": rows, "total": total}))?;
            } else {
                for r in &rows {
                    out!(
                        "{}  {:>3}  {}",
                        r["id"].as_str().unwrap_or_default(),
                        r["confidence"],
                        r["what"].as_str().unwrap_or_default()
                    );
                }
                out!("{total} pending suggestion(s)");
            }
            Ok(0)
        }
        ReviewCommand::Confirm(a) => decide(env, a, true),
        ReviewCommand::Reject(a) => decide(env, a, false),
    }
}

fn decide(env: &Env, a: &ReviewDecideArgs, confirm: bool) -> anyhow::Result<u8> {
    let mut ids: Vec<String> = a.ids.clone();
    if a.all {
        let Some(r) = &a.report else {
            bail!("--all needs --report ID");
        };
        ids.extend(
            pending(env, Some(r), &[])?
                .iter()
                .map(|o| o.id().to_string()),
        );
    } else if ids.is_empty() {
        bail!("give the ids of the suggestions (see `vigil review list`), or --report ID --all");
    }
    let mut objs = Vec::new();
    for id in &ids {
        let Some(so) = env.store.get(id)? else {
            bail!("{id}: no such object");
        };
        if !is_pending(&so.object) {
            bail!(
                "{id}: not a pending machine-generated suggestion (review state: {})",
                so.object.str("x_vigil_review").unwrap_or("none")
            );
        }
        objs.push(so.object);
    }
    let now = vigil_model::time::now();
    let prov = Provenance {
        source: "review".into(),
        ingested_at: now.clone(),
        original_id: None,
        file: None,
    };
    let mut done = Vec::new();
    env.store.write(&mut |tx| {
        done.clear();
        for o in &objs {
            let mut m = o.props().clone();
            // A new version must be newer than the one reviewed.
            let modified = if o.str("modified").is_some_and(|p| p >= now.as_str()) {
                bump(o.str("modified").unwrap_or_default())
            } else {
                now.clone()
            };
            m.insert("modified".into(), json!(modified));
            m.insert("x_vigil_reviewed_at".into(), json!(now));
            if let Some(n) = &a.note {
                m.insert("x_vigil_review_note".into(), json!(n));
            }
            if confirm {
                m.remove("x_vigil_machine_generated");
                let labels: Vec<Value> = m
                    .get("labels")
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .filter(|x| x.as_str() != Some(MACHINE_LABEL))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                if labels.is_empty() {
                    m.remove("labels");
                } else {
                    m.insert("labels".into(), Value::Array(labels));
                }
                m.insert("x_vigil_review".into(), json!("confirmed"));
            } else {
                m.insert("revoked".into(), json!(true));
                m.insert("x_vigil_review".into(), json!("rejected"));
            }
            let obj =
                StixObject::from_map_trusted(m).map_err(|e| StoreError::Aborted(e.to_string()))?;
            tx.put(&obj, &prov, PutMode::Source)?;
            done.push(obj.id().to_string());
        }
        Ok(())
    })?;
    let verb = if confirm { "confirmed" } else { "rejected" };
    if a.json {
        crate::output::json(&json!({ verb: done }))?;
    } else {
        out!("{} suggestion(s) {verb}", done.len());
    }
    Ok(0)
}

/// A timestamp one millisecond after `ts` (RFC 3339, Vigil's millisecond form); `ts` unchanged when unparsable.
fn bump(ts: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|d| {
            vigil_model::time::format(
                &(d.with_timezone(&chrono::Utc) + chrono::Duration::milliseconds(1)),
            )
        })
        .unwrap_or_else(|_| ts.to_string())
}
