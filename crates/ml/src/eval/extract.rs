//! Extraction evaluation on report folders with MISP events beside them (the ESET `malware-ioc` layout):
//! the report text is extracted and compared, per type, with the MISP attributes (and with the `*.md5`,
//! `*.sha1`, `*.sha256` hash lists where a folder has them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vigil_model::observable::{
    normalize_domain, normalize_email, normalize_ipv4, normalize_ipv6, normalize_url, refang,
};

use crate::error::{MlError, Result};
use crate::extract::{Extractor, IndicatorType};

/// A set of typed, normalised values.
pub type ValueSet = BTreeSet<(IndicatorType, String)>;

/// True/false positive counts and the derived scores for one type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Prf {
    /// Adds counts and recomputes the scores.
    pub fn add(&mut self, tp: u64, fp: u64, fn_: u64) {
        self.tp += tp;
        self.fp += fp;
        self.fn_ += fn_;
        self.finish();
    }

    fn finish(&mut self) {
        let p = if self.tp + self.fp == 0 {
            0.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        };
        let r = if self.tp + self.fn_ == 0 {
            0.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        };
        self.precision = crate::extract::round4(p);
        self.recall = crate::extract::round4(r);
        self.f1 = crate::extract::round4(if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        });
    }
}

/// Per-type scores of one extractor over a set of documents.
pub type TypeScores = BTreeMap<IndicatorType, Prf>;

/// Adds the comparison of `pred` with `truth` into `acc`, for the types that appear in `truth` (a type the
/// ground truth never lists cannot be scored on that document).
pub fn score_into(acc: &mut TypeScores, pred: &ValueSet, truth: &ValueSet) {
    let types: BTreeSet<IndicatorType> = truth.iter().map(|(t, _)| *t).collect();
    for t in types {
        let p: BTreeSet<&String> = pred
            .iter()
            .filter(|(k, _)| *k == t)
            .map(|(_, v)| v)
            .collect();
        let g: BTreeSet<&String> = truth
            .iter()
            .filter(|(k, _)| *k == t)
            .map(|(_, v)| v)
            .collect();
        let tp = p.intersection(&g).count() as u64;
        acc.entry(t)
            .or_default()
            .add(tp, p.len() as u64 - tp, g.len() as u64 - tp);
    }
}

/// Micro-average over all types in `s`.
pub fn micro(s: &TypeScores) -> Prf {
    let mut m = Prf::default();
    for v in s.values() {
        m.add(v.tp, v.fp, v.fn_);
    }
    m
}

/// Normalises a value of a type the way the extractor reports it, so that ground truth and the output of
/// other tools compare like with like. None when the value is not valid for the type.
pub fn normalize_value(kind: IndicatorType, raw: &str) -> Option<String> {
    let r = refang(raw.trim());
    let s = r.trim();
    if s.is_empty() {
        return None;
    }
    Some(match kind {
        IndicatorType::Domain => normalize_domain(s).ok()?,
        IndicatorType::Ipv4 => normalize_ipv4(s.split(':').next().unwrap_or(s))
            .ok()
            .filter(|v| !v.contains('/'))?,
        IndicatorType::Ipv6 => normalize_ipv6(s).ok().filter(|v| !v.contains('/'))?,
        IndicatorType::Cidr => {
            if s.contains(':') {
                normalize_ipv6(s).ok()?
            } else {
                normalize_ipv4(s).ok()?
            }
        }
        IndicatorType::Url => normalize_url(s).ok()?,
        // Mailbox names are case-insensitive in practice; reports and MISP events disagree on case.
        IndicatorType::Email => normalize_email(s).ok()?.to_lowercase(),
        IndicatorType::Md5
        | IndicatorType::Sha1
        | IndicatorType::Sha256
        | IndicatorType::Sha512 => {
            let want = match kind {
                IndicatorType::Md5 => 32,
                IndicatorType::Sha1 => 40,
                IndicatorType::Sha256 => 64,
                _ => 128,
            };
            (s.len() == want && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| s.to_ascii_lowercase())?
        }
        IndicatorType::Cve => s.to_ascii_uppercase(),
        IndicatorType::AttackTechnique => s.to_ascii_uppercase(),
        IndicatorType::Btc => s.to_string(),
        // File names and registry keys compare case-insensitively, as Windows does.
        IndicatorType::File | IndicatorType::Registry => {
            s.to_ascii_lowercase().replace("\\\\", "\\")
        }
    })
}

/// Maps one MISP attribute to typed values.
fn misp_attribute(ty: &str, value: &str, out: &mut ValueSet) {
    let mut put = |k: IndicatorType, v: &str| {
        if let Some(n) = normalize_value(k, v) {
            out.insert((k, n));
        }
    };
    let ip = |v: &str| {
        if v.contains(':') && !v.contains('.') {
            IndicatorType::Ipv6
        } else {
            IndicatorType::Ipv4
        }
    };
    match ty {
        "md5" => put(IndicatorType::Md5, value),
        "sha1" => put(IndicatorType::Sha1, value),
        "sha256" => put(IndicatorType::Sha256, value),
        "sha512" => put(IndicatorType::Sha512, value),
        "domain" | "hostname" => put(IndicatorType::Domain, value),
        "ip-dst" | "ip-src" => {
            if value.contains('/') {
                put(IndicatorType::Cidr, value)
            } else {
                put(ip(value), value)
            }
        }
        "url" => put(IndicatorType::Url, value),
        "email" | "email-src" | "email-dst" => put(IndicatorType::Email, value),
        "filename" => put(IndicatorType::File, value),
        "regkey" => put(IndicatorType::Registry, value),
        "vulnerability" => put(IndicatorType::Cve, value),
        "btc" => put(IndicatorType::Btc, value),
        _ => {
            if let Some((a, b)) = ty.split_once('|') {
                if let Some((va, vb)) = value.split_once('|') {
                    misp_attribute(a, va, out);
                    if b != "port" && b != "value" {
                        misp_attribute(b, vb, out);
                    }
                }
            }
        }
    }
}

/// The typed values of a MISP event file (`{"Event":..}`, `{"response":[{"Event":..}]}` or a bare event),
/// attributes of objects included.
pub fn misp_ground_truth(v: &Value) -> ValueSet {
    let mut out = ValueSet::new();
    fn walk(v: &Value, out: &mut ValueSet) {
        match v {
            Value::Object(m) => {
                if let Some(e) = m.get("Event").or_else(|| m.get("response")) {
                    walk(e, out);
                    return;
                }
                for key in ["Attribute", "Object"] {
                    if let Some(Value::Array(a)) = m.get(key) {
                        for x in a {
                            walk(x, out);
                        }
                    }
                }
                if let (Some(Value::String(t)), Some(Value::String(val))) =
                    (m.get("type"), m.get("value"))
                {
                    misp_attribute(t, val, out);
                }
            }
            Value::Array(a) => {
                for x in a {
                    walk(x, out);
                }
            }
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

/// One evaluated document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocCase {
    /// Folder name.
    pub name: String,
    /// The report text file.
    pub text: PathBuf,
    /// Ground truth.
    #[serde(skip)]
    pub truth: ValueSet,
    /// Number of ground-truth values.
    pub truth_count: usize,
}

/// Extraction metrics on a corpus.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtractMetrics {
    /// Documents with MISP events (README text vs MISP attributes).
    pub misp_documents: usize,
    /// Per-type scores against the MISP events.
    pub misp: TypeScores,
    /// Micro-average over types against the MISP events.
    pub misp_micro: Prf,
    /// Documents with hash lists.
    pub hash_list_documents: usize,
    /// Per-type scores of hashes against the `*.md5/*.sha1/*.sha256` lists beside the report.
    pub hash_lists: TypeScores,
    /// Input bytes extracted.
    pub bytes: u64,
    /// Files that could not be used, with the reason.
    pub skipped_files: Vec<String>,
}

/// Finds the evaluation cases under `dir` (one folder per report): README text plus MISP events.
/// Returns (MISP cases, hash-list cases, skipped files).
pub fn load_cases(dir: &Path) -> Result<(Vec<DocCase>, Vec<DocCase>, Vec<String>)> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| MlError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    let mut misp = Vec::new();
    let mut hashes = Vec::new();
    let mut skipped = Vec::new();
    for f in folders {
        let text = [
            "README.adoc",
            "README.md",
            "README.txt",
            "report.txt",
            "report.html",
        ]
        .iter()
        .map(|n| f.join(n))
        .find(|p| p.is_file());
        let Some(text) = text else { continue };
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&f)
            .map_err(|e| MlError::io(&f, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        let mut truth = ValueSet::new();
        let mut any_event = false;
        let mut hashset = ValueSet::new();
        for p in &files {
            let fname = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if fname.ends_with(".json") {
                let bytes = std::fs::read(p).map_err(|e| MlError::io(p, e))?;
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(v) => {
                        let t = misp_ground_truth(&v);
                        if !t.is_empty() {
                            any_event = true;
                            truth.extend(t);
                        }
                    }
                    Err(e) => skipped.push(format!("{}: not valid JSON ({e})", p.display())),
                }
            } else if let Some(kind) = [
                (".md5", IndicatorType::Md5),
                (".sha1", IndicatorType::Sha1),
                (".sha256", IndicatorType::Sha256),
            ]
            .iter()
            .find(|(ext, _)| fname.ends_with(ext))
            .map(|(_, k)| *k)
            {
                let s = std::fs::read_to_string(p).map_err(|e| MlError::io(p, e))?;
                for line in s.lines() {
                    let tok = line.split_whitespace().next().unwrap_or("");
                    if let Some(v) = normalize_value(kind, tok) {
                        hashset.insert((kind, v));
                    }
                }
            }
        }
        if any_event {
            misp.push(DocCase {
                name: name.clone(),
                text: text.clone(),
                truth_count: truth.len(),
                truth,
            });
        }
        if !hashset.is_empty() {
            hashes.push(DocCase {
                name,
                text,
                truth_count: hashset.len(),
                truth: hashset,
            });
        }
    }
    Ok((misp, hashes, skipped))
}

/// Extracted values of a document as a set.
pub fn extract_set(ex: &Extractor, text: &[u8]) -> ValueSet {
    ex.extract_bytes(text)
        .indicators
        .into_iter()
        .map(|i| (i.kind, normalize_value(i.kind, &i.value).unwrap_or(i.value)))
        .collect()
}

/// Evaluates `ex` on the ESET-style folders under `dir`.
pub fn eval_extract(dir: &Path, ex: &Extractor) -> Result<ExtractMetrics> {
    let (misp, hashes, skipped) = load_cases(dir)?;
    if misp.is_empty() && hashes.is_empty() {
        return Err(MlError::EmptyCorpus {
            path: dir.into(),
            task: "extract".into(),
            reason: "no report folder with MISP events or hash lists".into(),
        });
    }
    let mut m = ExtractMetrics {
        misp_documents: misp.len(),
        hash_list_documents: hashes.len(),
        skipped_files: skipped,
        ..Default::default()
    };
    let mut cache: BTreeMap<PathBuf, ValueSet> = BTreeMap::new();
    for c in misp.iter().chain(hashes.iter()) {
        if !cache.contains_key(&c.text) {
            let bytes = std::fs::read(&c.text).map_err(|e| MlError::io(&c.text, e))?;
            m.bytes += bytes.len() as u64;
            cache.insert(c.text.clone(), extract_set(ex, &bytes));
        }
    }
    for c in &misp {
        score_into(&mut m.misp, &cache[&c.text], &c.truth);
    }
    m.misp_micro = micro(&m.misp);
    for c in &hashes {
        score_into(&mut m.hash_lists, &cache[&c.text], &c.truth);
    }
    Ok(m)
}
