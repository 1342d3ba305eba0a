//! Readers for the training and evaluation corpora, laid out like `shared/data`: MISP warning lists,
//! maltrail trails (tarball or unpacked), the ATT&CK bundle, MISP galaxy clusters and TRAM files.
//! Every reader sorts what it returns, so training never depends on directory or hash-map order.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{MlError, Result};

/// A stable 64-bit hash of a string (first 8 bytes of its SHA-256), used for every split.
pub fn stable_hash(s: &str) -> u64 {
    let d = Sha256::digest(s.as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Which side of our own train/test split a key falls on (about one key in five goes to test).
pub fn is_test_key(key: &str) -> bool {
    fold_of(key) == HELD_OUT_FOLD
}

/// Folds of the cross-validation that rotates the held-out side: fold `k` holds the keys with
/// `fold_of(key) == k`.
pub const FOLDS: u64 = 5;

/// The fold of [`FOLDS`] that is our held-out split ([`is_test_key`]).
pub const HELD_OUT_FOLD: u64 = 1;

/// The fold of a key (family, report title or registered domain).
pub fn fold_of(key: &str) -> u64 {
    stable_hash(key) % FOLDS
}

/// Mean, sample standard deviation, least and greatest of per-fold figures (how much a figure depends on
/// which fold is held out).
pub(crate) struct Spread {
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

pub(crate) fn spread(xs: &[f64]) -> Spread {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    Spread {
        mean,
        sd,
        min: xs.iter().copied().fold(f64::INFINITY, f64::min),
        max: xs.iter().copied().fold(0.0, f64::max),
    }
}

/// Reads a whole file, naming it on error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| MlError::io(path, e))
}

/// Reads and parses a JSON file, naming it on error.
pub fn read_json(path: &Path) -> Result<Value> {
    let b = read(path)?;
    serde_json::from_slice(&b).map_err(|e| MlError::corpus(path, format!("invalid JSON: {e}")))
}

/// Reads a gzip-compressed JSON file.
pub fn read_json_gz(path: &Path) -> Result<Value> {
    let b = read(path)?;
    let mut s = Vec::new();
    flate2::read::GzDecoder::new(&b[..])
        .read_to_end(&mut s)
        .map_err(|e| MlError::corpus(path, format!("bad gzip: {e}")))?;
    serde_json::from_slice(&s).map_err(|e| MlError::corpus(path, format!("invalid JSON: {e}")))
}

/// Calls `each` with every `.json` file of a gzip tarball, in archive order; files that are not JSON are skipped.
pub fn for_json_in_tar_gz(path: &Path, each: &mut dyn FnMut(&Value)) -> Result<()> {
    let b = read(path)?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&b[..]));
    let entries = ar
        .entries()
        .map_err(|e| MlError::corpus(path, format!("bad tarball: {e}")))?;
    let mut buf = Vec::new();
    for ent in entries {
        let mut ent = ent.map_err(|e| MlError::corpus(path, format!("bad tar entry: {e}")))?;
        let name = ent
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.ends_with(".json") {
            continue;
        }
        buf.clear();
        ent.read_to_end(&mut buf)
            .map_err(|e| MlError::corpus(path, format!("{name}: {e}")))?;
        if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
            each(&v);
        }
    }
    Ok(())
}

/// Entries of a MISP warning list (`<corpus>/misp-warninglists/lists/<name>/list.json`).
pub fn warninglist(corpus: &Path, name: &str) -> Result<Vec<String>> {
    let p = corpus
        .join("misp-warninglists/lists")
        .join(name)
        .join("list.json");
    let v = read_json(&p)?;
    let list = v
        .get("list")
        .and_then(Value::as_array)
        .ok_or_else(|| MlError::corpus(&p, "no `list` array"))?;
    Ok(list
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect())
}

/// Loads MISP warning lists as model values for the extractor's suppression.
pub fn warninglists(
    corpus: &Path,
    names: &[&str],
) -> Result<Vec<vigil_model::warninglist::WarningList>> {
    let mut out = Vec::new();
    for n in names {
        let p = corpus
            .join("misp-warninglists/lists")
            .join(n)
            .join("list.json");
        let v = read_json(&p)?;
        let entries = v
            .get("list")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        out.push(vigil_model::warninglist::WarningList {
            name: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(n)
                .to_string(),
            description: String::new(),
            list_type: v
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("string")
                .to_string(),
            version: v.get("version").and_then(Value::as_i64).unwrap_or(0),
            entries,
            matching_attributes: vec![],
        });
    }
    Ok(out)
}

/// Maltrail family name of a trail file: file stem without a trailing `-N`.
pub fn family_of(file_stem: &str) -> String {
    match file_stem.rsplit_once('-') {
        Some((a, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => a.to_string(),
        _ => file_stem.to_string(),
    }
}

/// Maltrail malware trails: family -> raw entries (comments dropped), from
/// `<corpus>/maltrail/maltrail-static-malware*.tar.gz` or an unpacked `<corpus>/maltrail/trails/static/malware/`.
pub fn maltrail_malware(corpus: &Path) -> Result<BTreeMap<String, Vec<String>>> {
    maltrail_trails(corpus, "malware")
}

/// Maltrail trails of one folder of `trails/static/` (`malware`, `malicious`, `suspicious`): file family ->
/// raw entries, read as [`maltrail_malware`] reads the malware folder.
pub fn maltrail_trails(corpus: &Path, folder: &str) -> Result<BTreeMap<String, Vec<String>>> {
    let dir = corpus.join("maltrail");
    let inside = format!("trails/static/{folder}/");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |name: &str, text: &str| {
        let stem = name.trim_end_matches(".txt");
        let fam = family_of(stem);
        let e = out.entry(fam).or_default();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            e.push(l.to_string());
        }
    };
    let unpacked = dir.join(&inside);
    if unpacked.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&unpacked)
            .map_err(|e| MlError::io(&unpacked, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for f in files {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.ends_with(".txt") {
                let b = read(&f)?;
                add(&name, &String::from_utf8_lossy(&b));
            }
        }
    } else {
        let mut tars: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| MlError::io(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
            .collect();
        tars.sort();
        if tars.is_empty() {
            return Err(MlError::EmptyCorpus {
                path: dir,
                task: "domain".into(),
                reason: format!("no maltrail tarball or {inside} folder"),
            });
        }
        for t in tars {
            let b = read(&t)?;
            let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&b[..]));
            let entries = ar
                .entries()
                .map_err(|e| MlError::corpus(&t, format!("bad tarball: {e}")))?;
            for ent in entries {
                let mut ent =
                    ent.map_err(|e| MlError::corpus(&t, format!("bad tar entry: {e}")))?;
                let path = ent
                    .path()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !path.contains(&inside) || !path.ends_with(".txt") {
                    continue;
                }
                let mut s = Vec::new();
                ent.read_to_end(&mut s)
                    .map_err(|e| MlError::corpus(&t, format!("{path}: {e}")))?;
                let name = path.rsplit('/').next().unwrap_or("").to_string();
                add(&name, &String::from_utf8_lossy(&s));
            }
        }
    }
    for v in out.values_mut() {
        v.sort();
        v.dedup();
    }
    Ok(out)
}

/// SHA-256 over a sequence of records (each followed by a newline), the "training data hash" of artifacts.
pub fn data_hash<'a>(records: impl IntoIterator<Item = &'a str>) -> [u8; 32] {
    let mut h = Sha256::new();
    for r in records {
        h.update(r.as_bytes());
        h.update(b"\n");
    }
    h.finalize().into()
}
