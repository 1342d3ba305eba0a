//! Word embeddings trained by Vigil itself on unlabelled security prose, for the tagger's sentence model.
//!
//! The tagger's sentence model is a bag of stemmed words and bigrams: a sentence that describes a technique in
//! words its training sentences never used scores nothing. Dense word vectors learnt from how words co-occur in
//! a few million words of security prose (CVE descriptions, ATT&CK, MISP galaxies, advisories, TRAM's training
//! text) place `exfiltrate` near `upload` and `keylog` near `keystrok`, so a sentence's mean vector carries
//! evidence its exact words do not.
//!
//! Method (deterministic, single-threaded, no dependency): positive pointwise mutual information over
//! distance-weighted co-occurrence counts within a window, context distribution smoothed (exponent 0.75;
//! Levy, Goldberg and Dagan 2015), factorised by a randomised truncated SVD with a fixed seed (Halko,
//! Martinsson and Tropp 2011); a word's vector is its left singular vector scaled by the square root of the
//! singular values, unit length, stored as i8 with one scale per word. A sentence is the SIF-weighted mean of
//! its words' vectors (weight a / (a + p(word)); Arora, Liang and Ma 2017), at unit length.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use serde_json::Value;

use crate::artifact::{Reader, Writer};
use crate::corpus;
use crate::error::{MlError, Result};
use crate::text;

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbedParams {
    /// Vector length.
    pub dims: usize,
    /// Words either side that count as context (weighted 1 / distance).
    pub window: usize,
    /// Fewest occurrences of a word that gets a vector.
    pub min_count: u32,
    /// Most words kept (the most frequent).
    pub max_words: usize,
    /// Power iterations of the randomised SVD.
    pub power_iters: usize,
    /// Seed of the random projection.
    pub seed: u64,
}

impl Default for EmbedParams {
    fn default() -> Self {
        EmbedParams {
            dims: 64,
            window: 5,
            min_count: 5,
            max_words: 20_000,
            power_iters: 3,
            seed: 0x5eed_e3bd,
        }
    }
}

/// SIF's smoothing constant: words more frequent than about this share of the corpus count less.
const SIF_A: f32 = 1e-3;
/// Extra columns of the random projection beyond `dims` (the usual oversampling of a randomised SVD).
const OVERSAMPLE: usize = 16;

/// Word vectors of stemmed words.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    dims: usize,
    words: Vec<String>,
    index: HashMap<String, u32>,
    /// `vecs[i * dims..(i + 1) * dims]`: word `i`'s unit vector quantised to i8.
    vecs: Vec<i8>,
    /// Per word: SIF weight times the quantisation scale, so a sentence sums `weight * vecs` directly.
    weight: Vec<f32>,
}

/// The tokens embeddings are keyed by: [`text::words`], stemmed with [`text::stem`] (the tagger's unigrams).
pub fn tokens(s: &str) -> Vec<String> {
    text::words(s)
        .iter()
        .map(|w| text::stem(w).to_string())
        .collect()
}

/// A fast hasher for the co-occurrence table's `u64` keys: the table is rebuilt per model and takes tens
/// of millions of updates, where SipHash would dominate the training time. Iteration order is never relied on.
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    fn write_u64(&mut self, x: u64) {
        // SplitMix64's finaliser: both halves of the (row, column) key reach the low bits that pick the bucket.
        let mut z = (self.0 ^ x).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }
}

/// A sparse matrix in compressed rows.
struct Csr {
    n: usize,
    start: Vec<usize>,
    col: Vec<u32>,
    val: Vec<f32>,
}

impl Csr {
    /// `out = self * x`, `x` and `out` row-major with `k` columns.
    fn mul(&self, x: &[f32], k: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.n * k];
        for i in 0..self.n {
            let o = &mut out[i * k..(i + 1) * k];
            for p in self.start[i]..self.start[i + 1] {
                let j = self.col[p] as usize;
                let v = self.val[p];
                for (a, b) in o.iter_mut().zip(&x[j * k..(j + 1) * k]) {
                    *a += v * b;
                }
            }
        }
        out
    }

    /// `out = selfᵀ * x`.
    fn mul_t(&self, x: &[f32], k: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.n * k];
        for i in 0..self.n {
            let xi = &x[i * k..(i + 1) * k];
            for p in self.start[i]..self.start[i + 1] {
                let j = self.col[p] as usize;
                let v = self.val[p];
                for (a, b) in out[j * k..(j + 1) * k].iter_mut().zip(xi) {
                    *a += v * b;
                }
            }
        }
        out
    }
}

/// Orthonormalises the `k` columns of row-major `y` (modified Gram-Schmidt, sums in f64); a column that
/// vanishes stays zero.
fn orthonormalise(y: &mut [f32], k: usize) {
    let n = y.len() / k;
    for c in 0..k {
        for p in 0..c {
            let d: f64 = (0..n)
                .map(|i| f64::from(y[i * k + c]) * f64::from(y[i * k + p]))
                .sum();
            for i in 0..n {
                y[i * k + c] -= (d as f32) * y[i * k + p];
            }
        }
        let norm: f64 = (0..n)
            .map(|i| f64::from(y[i * k + c]).powi(2))
            .sum::<f64>()
            .sqrt();
        let inv = if norm > 1e-12 {
            (1.0 / norm) as f32
        } else {
            0.0
        };
        for i in 0..n {
            y[i * k + c] *= inv;
        }
    }
}

/// Eigen-decomposition of a small symmetric matrix (row-major `k x k`) by cyclic Jacobi rotations: eigenvalues
/// and eigenvectors (columns of the returned row-major matrix), in descending order of eigenvalue.
fn sym_eigen(a: &[f64], k: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0f64; k * k];
    for i in 0..k {
        v[i * k + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..k)
            .flat_map(|i| (0..k).filter(move |j| *j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * k + j].powi(2))
            .sum();
        let diag: f64 = (0..k).map(|i| a[i * k + i].powi(2)).sum();
        if off <= 1e-22 * diag.max(1e-300) {
            break;
        }
        for p in 0..k {
            for q in p + 1..k {
                let apq = a[p * k + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * k + q] - a[p * k + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for r in 0..k {
                    let arp = a[r * k + p];
                    let arq = a[r * k + q];
                    a[r * k + p] = c * arp - s * arq;
                    a[r * k + q] = s * arp + c * arq;
                }
                for r in 0..k {
                    let apr = a[p * k + r];
                    let aqr = a[q * k + r];
                    a[p * k + r] = c * apr - s * aqr;
                    a[q * k + r] = s * apr + c * aqr;
                }
                for r in 0..k {
                    let vrp = v[r * k + p];
                    let vrq = v[r * k + q];
                    v[r * k + p] = c * vrp - s * vrq;
                    v[r * k + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|x, y| a[y * k + y].total_cmp(&a[x * k + x]).then(x.cmp(y)));
    let vals = order.iter().map(|&i| a[i * k + i]).collect();
    let mut vecs = vec![0f64; k * k];
    for (c, &i) in order.iter().enumerate() {
        for r in 0..k {
            vecs[r * k + c] = v[r * k + i];
        }
    }
    (vals, vecs)
}

impl Embeddings {
    /// Trains word vectors on `texts` (each tokenised with [`tokens`]; context never crosses two texts).
    /// Deterministic: the same texts in the same order give the same vectors, bit for bit.
    pub fn train<'a>(texts: impl IntoIterator<Item = &'a str>, p: &EmbedParams) -> Embeddings {
        let docs: Vec<Vec<String>> = texts.into_iter().map(tokens).collect();
        let mut count: HashMap<&str, u32> = HashMap::new();
        for d in &docs {
            for t in d {
                *count.entry(t.as_str()).or_default() += 1;
            }
        }
        let total: u64 = count.values().map(|c| u64::from(*c)).sum();
        let mut vocab: Vec<(&str, u32)> = count
            .iter()
            .filter(|(_, c)| **c >= p.min_count)
            .map(|(w, c)| (*w, *c))
            .collect();
        vocab.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        vocab.truncate(p.max_words);
        let n = vocab.len();
        let index: HashMap<&str, u32> = vocab
            .iter()
            .enumerate()
            .map(|(i, (w, _))| (*w, i as u32))
            .collect();
        let k = (p.dims + OVERSAMPLE).min(n);
        if n == 0 || p.dims == 0 {
            return Embeddings::from_parts(p.dims, Vec::new(), Vec::new(), Vec::new());
        }
        // Distance-weighted co-occurrence counts, both directions.
        let mut pairs: HashMap<u64, f32, BuildHasherDefault<PairHasher>> = HashMap::default();
        for d in &docs {
            let ids: Vec<u32> = d
                .iter()
                .filter_map(|t| index.get(t.as_str()).copied())
                .collect();
            for (i, &a) in ids.iter().enumerate() {
                for (dist, &b) in ids[i + 1..].iter().take(p.window).enumerate() {
                    let w = 1.0 / (dist + 1) as f32;
                    *pairs
                        .entry((u64::from(a) << 32) | u64::from(b))
                        .or_default() += w;
                    *pairs
                        .entry((u64::from(b) << 32) | u64::from(a))
                        .or_default() += w;
                }
            }
        }
        let mut cells: Vec<(u64, f32)> = pairs.into_iter().collect();
        cells.sort_unstable_by_key(|c| c.0);
        let mut row = vec![0f64; n];
        for (key, v) in &cells {
            row[(key >> 32) as usize] += f64::from(*v);
        }
        // Context distribution smoothing: rare contexts would otherwise get inflated PMI.
        let ctx: Vec<f64> = row.iter().map(|r| r.powf(0.75)).collect();
        let ctx_total: f64 = ctx.iter().sum();
        let mut m = Csr {
            n,
            start: vec![0; n + 1],
            col: Vec::new(),
            val: Vec::new(),
        };
        for (key, v) in &cells {
            let (i, j) = ((key >> 32) as usize, (key & 0xffff_ffff) as usize);
            let pmi = (f64::from(*v) * ctx_total / (row[i] * ctx[j])).ln();
            if pmi > 0.0 {
                m.col.push(j as u32);
                m.val.push(pmi as f32);
                m.start[i + 1] += 1;
            }
        }
        for i in 0..n {
            m.start[i + 1] += m.start[i];
        }
        drop(cells);
        // Randomised truncated SVD: range of M from a seeded random projection and power iterations.
        let mut rng = crate::domain::Rng::new(p.seed);
        let omega: Vec<f32> = (0..n * k)
            .map(|_| (rng.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect();
        let mut q = m.mul(&omega, k);
        orthonormalise(&mut q, k);
        for _ in 0..p.power_iters {
            let mut z = m.mul_t(&q, k);
            orthonormalise(&mut z, k);
            q = m.mul(&z, k);
            orthonormalise(&mut q, k);
        }
        // B = Qᵀ M; its left singular vectors from the eigenvectors of B Bᵀ (k x k).
        let bt = m.mul_t(&q, k);
        let mut g = vec![0f64; k * k];
        for r in 0..n {
            let x = &bt[r * k..(r + 1) * k];
            for a in 0..k {
                let xa = f64::from(x[a]);
                for b in a..k {
                    g[a * k + b] += xa * f64::from(x[b]);
                }
            }
        }
        for a in 0..k {
            for b in 0..a {
                g[a * k + b] = g[b * k + a];
            }
        }
        let (vals, w) = sym_eigen(&g, k);
        let d = p.dims.min(k);
        // Column c of U = Q W scaled by sqrt(singular value) = eigenvalue^(1/4).
        let colscale: Vec<f64> = vals[..d].iter().map(|l| l.max(0.0).powf(0.25)).collect();
        let mut vecs = Vec::with_capacity(n * p.dims);
        let mut weight = Vec::with_capacity(n);
        let mut u = vec![0f64; d];
        for (r, (_, c)) in vocab.iter().enumerate() {
            let qr = &q[r * k..(r + 1) * k];
            for (c2, uc) in u.iter_mut().enumerate() {
                *uc = (0..k)
                    .map(|a| f64::from(qr[a]) * w[a * k + c2])
                    .sum::<f64>()
                    * colscale[c2];
            }
            let norm = u.iter().map(|x| x * x).sum::<f64>().sqrt();
            let maxabs = u.iter().fold(0f64, |acc, x| acc.max(x.abs()));
            let scale = if norm > 0.0 && maxabs > 0.0 {
                maxabs / norm / 127.0
            } else {
                0.0
            };
            for x in &u {
                let qx = if scale > 0.0 {
                    (x / norm / scale).round().clamp(-127.0, 127.0)
                } else {
                    0.0
                };
                vecs.push(qx as i8);
            }
            vecs.extend(std::iter::repeat_n(0i8, p.dims - d));
            let pw = f64::from(*c) / total.max(1) as f64;
            weight.push(SIF_A / (SIF_A + pw as f32) * scale as f32);
        }
        let words = vocab.iter().map(|(w, _)| (*w).to_string()).collect();
        Embeddings::from_parts(p.dims, words, vecs, weight)
    }

    fn from_parts(dims: usize, words: Vec<String>, vecs: Vec<i8>, weight: Vec<f32>) -> Self {
        let index = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        Embeddings {
            dims,
            words,
            index,
            vecs,
            weight,
        }
    }

    /// Vector length.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Number of words with a vector.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// The words with a vector, most frequent first.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// True when no word has a vector.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// A (stemmed) word's unit vector.
    pub fn vector(&self, word: &str) -> Option<Vec<f32>> {
        let i = *self.index.get(word)? as usize;
        let v: Vec<f32> = self.vecs[i * self.dims..(i + 1) * self.dims]
            .iter()
            .map(|x| f32::from(*x))
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        (n > 0.0).then(|| v.iter().map(|x| x / n).collect())
    }

    /// Cosine similarity of two (stemmed) words' vectors.
    pub fn similarity(&self, a: &str, b: &str) -> Option<f32> {
        let (x, y) = (self.vector(a)?, self.vector(b)?);
        Some(x.iter().zip(&y).map(|(p, q)| p * q).sum())
    }

    /// Writes the SIF-weighted mean vector of `toks` at unit length into `out` (`dims` long); false (and `out`
    /// zero) when none of them has a vector.
    pub fn sentence<'a>(&self, toks: impl IntoIterator<Item = &'a str>, out: &mut [f32]) -> bool {
        out.iter_mut().for_each(|x| *x = 0.0);
        if out.len() != self.dims {
            return false;
        }
        for t in toks {
            if let Some(&i) = self.index.get(t) {
                let i = i as usize;
                let w = self.weight[i];
                for (o, q) in out
                    .iter_mut()
                    .zip(&self.vecs[i * self.dims..(i + 1) * self.dims])
                {
                    *o += w * f32::from(*q);
                }
            }
        }
        let n = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 0.0 {
            out.iter_mut().for_each(|x| *x /= n);
            true
        } else {
            false
        }
    }

    /// Appends the vectors to an artifact payload.
    pub fn write(&self, w: &mut Writer) {
        w.u32(self.dims as u32);
        w.strs(&self.words);
        w.f32s(&self.weight);
        w.i8s(&self.vecs);
    }

    /// Reads vectors written by [`Embeddings::write`] from the artifact of `model`.
    pub fn read(r: &mut Reader, model: &str) -> Result<Self> {
        let dims = r.u32()? as usize;
        let words = r.strs()?;
        let weight = r.f32s()?;
        let vecs = r.i8s()?;
        if weight.len() != words.len() || Some(vecs.len()) != words.len().checked_mul(dims) {
            return Err(MlError::artifact(
                model,
                "word vector table sizes do not agree",
            ));
        }
        Ok(Embeddings::from_parts(dims, words, vecs, weight))
    }
}

/// Unlabelled security prose of a corpus laid out like `shared/data`, deduplicated and sorted: CVE descriptions
/// (`cve-vulnrichment/vulnrichment-2024.tar.gz`), every description in the ATT&CK bundle (techniques, groups,
/// software, procedure examples; citations stripped), MISP galaxy cluster descriptions and the notes of CISA's
/// CSAF advisories. A source that is absent is skipped (the texts only add context); one that cannot be read
/// is an error.
pub fn security_prose(corpus_dir: &Path) -> Result<Vec<String>> {
    let bundle = crate::attack::bundle_path(corpus_dir)
        .map(|p| crate::attack::parse_bundle(&p))
        .transpose()?;
    security_prose_with(corpus_dir, bundle.as_ref())
}

/// [`security_prose`] with the corpus's ATT&CK bundle already parsed (None: the corpus has none).
pub fn security_prose_with(corpus_dir: &Path, attack: Option<&Value>) -> Result<Vec<String>> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    let mut add = |t: &str| {
        let t = t.trim();
        if t.len() >= 20 {
            out.insert(t.to_string());
        }
    };
    let cve = corpus_dir.join("cve-vulnrichment/vulnrichment-2024.tar.gz");
    if cve.is_file() {
        corpus::for_json_in_tar_gz(&cve, &mut |v| {
            let descs = v
                .pointer("/containers/cna/descriptions")
                .and_then(Value::as_array);
            for d in descs.into_iter().flatten() {
                let en = d
                    .get("lang")
                    .and_then(Value::as_str)
                    .is_some_and(|l| l.starts_with("en"));
                if let (true, Some(t)) = (en, d.get("value").and_then(Value::as_str)) {
                    add(t);
                }
            }
        })?;
    }
    if let Some(v) = attack {
        for o in v
            .get("objects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(d) = o.get("description").and_then(Value::as_str) {
                add(&crate::attack::plain(d));
            }
        }
    }
    let clusters = corpus_dir.join("misp-galaxy/clusters");
    if clusters.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(&clusters)
            .map_err(|e| MlError::io(&clusters, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files {
            let v = corpus::read_json(&f)?;
            for c in v
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(d) = c.get("description").and_then(Value::as_str) {
                    add(d);
                }
            }
        }
    }
    let csaf = corpus_dir.join("csaf-cisa/cisagov-csaf-files.json.tar.gz");
    if csaf.is_file() {
        corpus::for_json_in_tar_gz(&csaf, &mut |v| {
            let doc_notes = v.pointer("/document/notes").and_then(Value::as_array);
            let vuln_notes = v
                .get("vulnerabilities")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|x| x.get("notes").and_then(Value::as_array))
                .flatten();
            for n in doc_notes.into_iter().flatten().chain(vuln_notes) {
                // Legal disclaimers and the like are the same boilerplate in every advisory.
                let legal = n.get("category").and_then(Value::as_str) == Some("legal_disclaimer");
                if let (false, Some(t)) = (legal, n.get("text").and_then(Value::as_str)) {
                    add(t);
                }
            }
        })?;
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny corpus with two topics whose words never share a sentence.
    fn corpus() -> Vec<String> {
        let mut out = Vec::new();
        let net = ["upload", "exfiltrate", "transfer", "server", "network"];
        let disk = ["registry", "persist", "autostart", "reboot", "startup"];
        let mut rng = crate::domain::Rng::new(7);
        for i in 0..400 {
            let topic = if i % 2 == 0 { &net } else { &disk };
            let s: Vec<&str> = (0..8)
                .map(|_| topic[(rng.next() % topic.len() as u64) as usize])
                .collect();
            out.push(s.join(" "));
        }
        out
    }

    fn params() -> EmbedParams {
        EmbedParams {
            dims: 4,
            window: 3,
            min_count: 2,
            max_words: 100,
            power_iters: 3,
            seed: 1,
        }
    }

    #[test]
    fn training_is_deterministic() {
        let c = corpus();
        let a = Embeddings::train(c.iter().map(String::as_str), &params());
        let b = Embeddings::train(c.iter().map(String::as_str), &params());
        assert_eq!(a, b);
        assert_eq!(a.len(), 10);
        let mut w = Writer::default();
        a.write(&mut w);
        let mut r = Reader::new(&w.buf, "test");
        assert_eq!(Embeddings::read(&mut r, "test").ok(), Some(a));
    }

    #[test]
    fn words_of_one_topic_are_closer_than_words_of_two() {
        let c = corpus();
        let e = Embeddings::train(c.iter().map(String::as_str), &params());
        let same = e.similarity("upload", "exfiltrate").unwrap_or(-1.0);
        let other = e.similarity("upload", "registry").unwrap_or(1.0);
        assert!(same > other + 0.3, "same topic {same}, other topic {other}");
        let (mut x, mut y, mut z) = (vec![0f32; 4], vec![0f32; 4], vec![0f32; 4]);
        assert!(e.sentence(["upload", "server"], &mut x));
        assert!(e.sentence(["transfer", "network"], &mut y));
        assert!(e.sentence(["reboot", "registry"], &mut z));
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f32>();
        assert!(dot(&x, &y) > dot(&x, &z));
        assert!(!e.sentence(["unknown"], &mut x));
        assert!(x.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn corrupt_tables_are_refused() {
        let mut w = Writer::default();
        w.u32(4);
        w.strs(&["a".to_string()]);
        w.f32s(&[1.0]);
        w.i8s(&[1, 2, 3]);
        let mut r = Reader::new(&w.buf, "test");
        assert!(Embeddings::read(&mut r, "test").is_err());
        assert!(Embeddings::train(std::iter::empty(), &params()).is_empty());
    }
}
