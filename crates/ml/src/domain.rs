//! Malicious-domain scoring from the name alone: hashed character n-grams and label tokens plus a few
//! shape features (entropy, digit ratio, label structure, TLD), fed to a logistic regression trained here;
//! a second stage of 40 oblivious boosted trees ([`crate::boost`]) then reads that margin, its parts by feature
//! group, the dense shape values and segmentations of the registrable label into words of the benign
//! training names and into words of English prose (CVE descriptions), fitted on out-of-fold margins
//! (families and benign sites held out by fold).
//!
//! Scoring allocates nothing and does one pass per n-gram order over the name, one over the registrable
//! label's substrings and 160 independent comparisons, which keeps it above a million names per second on
//! one core.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::artifact::{self, Header, Reader, Writer};
use crate::boost;
use crate::charlm::{CharLm, LmPair};
use crate::corpus;
use crate::error::{MlError, Result};
use crate::mlp;

mod explain;
pub use explain::{DomainExplanation, Evidence, EvidencePart};

/// Artifact model name.
pub const MODEL: &str = "domain";
/// Payload layout and feature version.
pub const MODEL_VERSION: u32 = 6;
const BITS: u32 = 19;
const DIM: usize = 1 << BITS;
const N_DENSE: usize = 12;
/// Most domains taken from one malware family, so a few huge families (DGAs) do not drown the rest.
const PER_FAMILY_CAP: usize = 2000;
/// Benign MISP warning lists used as the benign side.
pub const BENIGN_LISTS: &[&str] = &[
    "tranco10k",
    "majestic_million",
    "alexa",
    "moz-top500",
    "cisco_top20k",
    "cloudflare-top50k",
    "cloudflare-top20k",
    "cloudflare-top10k",
    "cloudflare-top5k",
    "cloudflare-top2k",
    "cloudflare-top1k",
    "cloudflare-top200",
    "cisco_top10k",
    "cisco_top5k",
    "cisco_top1000",
    "university_domains",
    "bank-website",
    "covid-19-cyber-threat-coalition-whitelist",
    "url-shortener",
    "link-in-bio",
];

/// One scored domain, as the CLI prints it (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainScore {
    /// The domain as given.
    pub domain: String,
    /// Probability-like score in [0, 1] that the name is malicious.
    pub score: f64,
}

/// A trained domain model.
#[derive(Debug, Clone)]
pub struct DomainModel {
    header: Header,
    dyns: DynSet,
    /// Words of the benign training names and of English prose, for the second stage's segmentation inputs
    /// (empty: none).
    lex: Lexicon,
    w: Vec<f32>,
    /// The sparse weights as i16 times `wq_scale` (half the memory of `w`, so the table stays in cache while
    /// scoring; the error, under 1e-4 of the largest weight, does not move the scores' order measurably).
    wq: Box<[i16; DIM]>,
    wq_scale: f32,
    dense_w: [f32; N_DENSE],
    dense_mean: [f32; N_DENSE],
    dense_scale: [f32; N_DENSE],
    bias: f32,
    /// Second stage over the first stage's margin and dense shape values (none: the margin is the score).
    stage2: Option<boost::Trees>,
    /// A small network over the same inputs as the trees, and the weight of its margin in the score (1: the
    /// network alone; the trees' margin takes the rest). None in the shipped model.
    stage2_mlp: Option<(mlp::Mlp, f32)>,
    /// Character language models of benign registrable labels and of English prose words (version 5; none:
    /// the second stage reads the first [`N_INPUTS`] inputs only).
    lm: Option<LangModels>,
}

/// The two language models of a domain model.
#[derive(Debug, Clone)]
enum LangModels {
    /// The cheap forms an artifact carries.
    Tables(Box<LmPair>),
    /// Study only (`Params::fast_lm_bits` 0): the exact models in hash maps, which no artifact carries.
    Exact(Box<(CharLm, CharLm)>),
}

impl LangModels {
    #[inline]
    fn per_char(&self, label: &[u8]) -> (f32, f32) {
        match self {
            LangModels::Tables(t) => t.per_char(label),
            LangModels::Exact(m) => (m.0.per_char(label), m.1.per_char(label)),
        }
    }
}

static EMBEDDED: &[u8] = include_bytes!("../models/domain.vgm");

#[inline]
fn mix(h: u64, b: u8) -> u64 {
    (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
}

#[inline]
fn bucket(h: u64) -> usize {
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BITS)) as usize
}

/// i16 copy of the sparse weights and its scale (largest magnitude maps to 32767). A fixed-size table, so a
/// bucket (always below `DIM`) indexes it without a bounds check in the scoring loop.
fn quantise(w: &[f32]) -> (Box<[i16; DIM]>, f32) {
    let m = w.iter().fold(0f32, |a, x| a.max(x.abs()));
    let scale = if m > 0.0 { m / 32767.0 } else { 1.0 };
    let mut q = Box::new([0i16; DIM]);
    for (o, x) in q.iter_mut().zip(w) {
        *o = (x / scale).round().clamp(-32767.0, 32767.0) as i16;
    }
    (q, scale)
}

/// Hash of a host name for the dynamic-DNS table.
#[inline]
fn host_hash(d: &[u8]) -> u64 {
    let mut h: u64 = 0xd1d1_0000_cbf2_9ce4;
    for &b in d {
        h = mix(h, b);
    }
    h
}

/// Registered domains of dynamic-DNS and free sub-domain providers (MISP warning list `dynamic-dns`), as sorted
/// hashes: a name under one of them is a host someone registered in minutes, which a string model cannot see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DynSet {
    hashes: Vec<u64>,
    /// Where each run of hashes with the same top `DYN_INDEX_BITS` bits starts in `hashes` (one more entry for the
    /// end): a look-up reads one slot pair and a handful of hashes. A binary search over the ~35,000 hashes was a
    /// chain of 15 dependent loads, ~7% of a scoring run.
    starts: Vec<u32>,
}

const DYN_INDEX_BITS: u32 = 12;

impl DynSet {
    /// From the warning list entries (`.duckdns.org`).
    pub fn new<'a>(entries: impl IntoIterator<Item = &'a str>) -> Self {
        let mut v: Vec<u64> = entries
            .into_iter()
            .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|e| e.contains('.'))
            .map(|e| host_hash(e.as_bytes()))
            .collect();
        v.sort_unstable();
        v.dedup();
        Self::from_sorted(v)
    }
    /// From hashes in ascending order without repeats.
    fn from_sorted(hashes: Vec<u64>) -> Self {
        if hashes.is_empty() {
            return DynSet::default();
        }
        let mut starts = Vec::with_capacity((1 << DYN_INDEX_BITS) + 1);
        let mut i = 0;
        for b in 0..1u64 << DYN_INDEX_BITS {
            while i < hashes.len() && hashes[i] >> (64 - DYN_INDEX_BITS) < b {
                i += 1;
            }
            starts.push(i as u32);
        }
        starts.push(hashes.len() as u32);
        DynSet { hashes, starts }
    }
    #[inline]
    fn contains(&self, d: &[u8]) -> bool {
        // An empty set has no index, so every look-up misses.
        let h = host_hash(d);
        let b = (h >> (64 - DYN_INDEX_BITS)) as usize;
        match (self.starts.get(b), self.starts.get(b + 1)) {
            (Some(&lo), Some(&hi)) => self
                .hashes
                .get(lo as usize..hi as usize)
                .is_some_and(|run| run.contains(&h)),
            _ => false,
        }
    }
}

/// Words of the word table, as u64 (128 KiB).
const LEX_WORDS_LOG2: u32 = 14;
/// Shortest and longest word the segmenter looks up, and the longest label it segments.
const LEX_MIN_WORD: usize = 4;
const LEX_MAX_WORD: usize = 12;
const LEX_MAX_LABEL: usize = 32;
/// Word sets kept in the one table: words of benign training names, words of English prose (CVE
/// descriptions).
const LEX_SETS: usize = 2;

/// Words seen in benign training names (maximal letter runs of 4 to 12 letters of every label) and words of
/// English prose, as one blocked Bloom filter (two bits in one u64 per word and set, so one load answers
/// both); the registrable label of a name is segmented into them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lexicon(Vec<u64>);

impl Lexicon {
    /// Polynomial hash base: a word's hash is sum c_k * P^(len-1-k), so any substring's hash comes from two
    /// prefix hashes without a chain of dependent steps.
    const P: u64 = 0x100_0000_01b3;

    fn word_hash(w: &[u8]) -> u64 {
        w.iter()
            .fold(0u64, |h, &c| h.wrapping_mul(Self::P).wrapping_add(c as u64))
    }

    /// Letter runs of 4 to 12 letters.
    fn runs(d: &[u8]) -> impl Iterator<Item = &[u8]> {
        d.split(|c| !c.is_ascii_lowercase())
            .filter(|r| (LEX_MIN_WORD..=LEX_MAX_WORD).contains(&r.len()))
    }

    fn build<'a>(
        benign: impl IntoIterator<Item = &'a [u8]>,
        prose: impl IntoIterator<Item = &'a [u8]>,
    ) -> Self {
        let mut bits = vec![0u64; 1 << LEX_WORDS_LOG2];
        let mut set = |w: &[u8], s: usize| {
            let (k, m) = Self::slot(Self::word_hash(w));
            bits[k] |= m[s];
        };
        for d in benign {
            Self::runs(d).for_each(|r| set(r, 0));
        }
        for w in prose {
            Self::runs(w).for_each(|r| set(r, 1));
        }
        Lexicon(bits)
    }
    #[inline]
    fn slot(h: u64) -> (usize, [u64; LEX_SETS]) {
        let x = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let two = |s: u32| (1u64 << ((x >> s) & 63)) | (1u64 << ((x >> (s + 6)) & 63));
        ((x >> (64 - LEX_WORDS_LOG2)) as usize, [two(0), two(12)])
    }
    /// The most letters of a label covered by spans (bit `len` of `hits[start]`), with the fewest words.
    #[inline]
    fn cover(hits: &[u16; LEX_MAX_LABEL], n: usize) -> (u8, u8) {
        // best[j] of label[..j] as one key, letters * 64 - words (a label has at most 32 letters, so at most 8
        // words of 4+): more letters, then fewer words, is a larger key, so choosing between two covers is an
        // integer max and not a data-dependent branch (those compares were about 6 of the word cover's 20
        // mispredicted branches per name, cachegrind).
        let mut best = [0i32; LEX_MAX_LABEL + 1];
        for i in 0..n {
            if i > 0 {
                best[i] = best[i].max(best[i - 1]);
            }
            let mut m = hits[i];
            while m != 0 {
                let len = m.trailing_zeros() as usize;
                m &= m - 1;
                let j = (i + len).min(LEX_MAX_LABEL);
                best[j] = best[j].max(best[i] + len as i32 * 64 - 1);
            }
        }
        if n > 0 {
            best[n] = best[n].max(best[n - 1]);
        }
        let key = best[n.min(LEX_MAX_LABEL)];
        let letters = (key + 63).div_euclid(64);
        (letters as u8, (letters * 64 - key) as u8)
    }
    /// Segments a label into known words (4+ letters) and single letters, covering the most letters with
    /// the fewest words: (share of letters covered by benign-name words, words used, letters left, share
    /// covered by prose words).
    fn segment(&self, label: &[u8]) -> [f32; LEX_OUT] {
        const POW: [u64; LEX_MAX_WORD + 1] = {
            let mut t = [1u64; LEX_MAX_WORD + 1];
            let mut k = 1;
            while k <= LEX_MAX_WORD {
                t[k] = t[k - 1].wrapping_mul(Lexicon::P);
                k += 1;
            }
            t
        };
        let n = label.len();
        let letters = label.iter().filter(|c| c.is_ascii_lowercase()).count();
        if self.0.len() != 1 << LEX_WORDS_LOG2 || n == 0 || n > LEX_MAX_LABEL {
            return [0.0, 0.0, letters as f32, 0.0];
        }
        // Prefix hashes, and where the run of letters from each position ends.
        let mut pre = [0u64; LEX_MAX_LABEL + 1];
        let mut run_end = [0u8; LEX_MAX_LABEL + 1];
        for (i, &c) in label.iter().enumerate() {
            pre[i + 1] = pre[i].wrapping_mul(Self::P).wrapping_add(c as u64);
        }
        run_end[n] = n as u8;
        for i in (0..n).rev() {
            run_end[i] = if label[i].is_ascii_lowercase() {
                run_end[i + 1]
            } else {
                i as u8
            };
        }
        // Every known word's span (bit `len` of hits[set][start]), then the best cover per word set.
        let mut hits = [0u16; LEX_MAX_LABEL];
        let mut hits_prose = [0u16; LEX_MAX_LABEL];
        for i in 0..n {
            let top = (run_end[i] as usize).min(i + LEX_MAX_WORD);
            let (mut m, mut mp) = (0u16, 0u16);
            for j in i + LEX_MIN_WORD..=top {
                let h = pre[j].wrapping_sub(pre[i].wrapping_mul(POW[j - i]));
                let (k, b) = Self::slot(h);
                let word = self.0[k & ((1 << LEX_WORDS_LOG2) - 1)];
                m |= ((word & b[0] == b[0]) as u16) << (j - i);
                mp |= ((word & b[1] == b[1]) as u16) << (j - i);
            }
            hits[i] = m;
            hits_prose[i] = mp;
        }
        let (cov, words) = Self::cover(&hits, n);
        let (cov_prose, _) = Self::cover(&hits_prose, n);
        let l = letters.max(1) as f32;
        [
            cov as f32 / l,
            words as f32,
            letters.saturating_sub(cov as usize) as f32,
            cov_prose as f32 / l,
        ]
    }
}

/// Outputs of [`Lexicon::segment`].
const LEX_OUT: usize = 4;

/// Words of English prose for the word table: the descriptions of the CVE records in the corpus
/// (`cve-vulnrichment/vulnrichment-2024.tar.gz`), lower-cased, without any word found inside the name of a
/// malware family of `families` (no family's name becomes a "word"); empty when the tarball is absent.
pub fn prose_words(corpus: &Path, families: &BTreeSet<String>) -> Result<Vec<Vec<u8>>> {
    let t = corpus.join("cve-vulnrichment/vulnrichment-2024.tar.gz");
    if !t.is_file() {
        return Ok(Vec::new());
    }
    let mut words: BTreeSet<Vec<u8>> = BTreeSet::new();
    corpus::for_json_in_tar_gz(&t, &mut |v| {
        let descs = v
            .pointer("/containers/cna/descriptions")
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for d in descs {
            if let Some(x) = d.get("value").and_then(serde_json::Value::as_str) {
                let x = x.to_ascii_lowercase();
                words.extend(Lexicon::runs(x.as_bytes()).map(<[u8]>::to_vec));
            }
        }
    })?;
    let fam: Vec<Vec<u8>> = families
        .iter()
        .map(|f| f.to_ascii_lowercase().into_bytes())
        .collect();
    words.retain(|w| !fam.iter().any(|f| f.windows(w.len()).any(|x| x == &w[..])));
    Ok(words.into_iter().collect())
}

/// Calls `f` with the bucket of every sparse feature of a lower-case domain.
#[inline]
fn sparse_features(
    d: &[u8],
    dyns: &DynSet,
    lex: &Lexicon,
    mut f: impl FnMut(usize, usize),
) -> [f32; N_SHAPE] {
    // Character 3-, 4- and 5-grams over "^domain$", from a padded copy (no per-byte test for the ends).
    let n = d.len();
    let mut stack = [0u8; 256];
    let heap: Vec<u8>;
    let padded: &[u8] = if n + 2 <= stack.len() {
        stack[0] = b'^';
        stack[1..=n].copy_from_slice(d);
        stack[n + 1] = b'$';
        &stack[..n + 2]
    } else {
        heap = [&b"^"[..], d, &b"$"[..]].concat();
        &heap
    };
    let total = n + 2;
    const SEED: u64 = 0xcbf2_9ce4_8422_2325;
    // Every position with a whole 5-byte window (unrolled), then the last ones with shorter windows; the
    // features come out in the same order either way (3-, 4-, 5-gram per position).
    for w in padded.windows(5) {
        let h3 = mix(mix(mix(SEED, w[0]), w[1]), w[2]);
        f(0, bucket(h3 ^ 3));
        let h4 = mix(h3, w[3]);
        f(0, bucket(h4 ^ 4));
        f(0, bucket(mix(h4, w[4]) ^ 5));
    }
    for i in total.saturating_sub(4)..total {
        let mut h = SEED;
        for (k, &c) in padded[i..].iter().enumerate() {
            h = mix(h, c);
            if k >= 2 {
                f(0, bucket(h ^ (k as u64 + 1)));
            }
        }
    }
    // Whole labels and the TLD as tokens.
    let mut last = 0;
    let mut labels = 0u64;
    for (i, &c) in d.iter().enumerate().chain(std::iter::once((n, &b'.'))) {
        if c == b'.' {
            let mut h: u64 = 0x51ab_1e00;
            for &b in &d[last..i] {
                h = mix(h, b);
            }
            f(1, bucket(h));
            last = i + 1;
            labels += 1;
        }
    }
    let tld = &d[d
        .iter()
        .rposition(|c| *c == b'.')
        .map(|p| p + 1)
        .unwrap_or(0)..];
    let mut h: u64 = 0x71d0_0000;
    for &b in tld {
        h = mix(h, b);
    }
    f(1, bucket(h));
    f(1, bucket(0xdead_0000 ^ labels.min(8)));
    // The public suffix and the registered domain (hosting and dynamic-DNS providers), and n-grams of the
    // registrable label alone, apart from those of the whole name.
    // One public-suffix lookup; the registered domain is the suffix plus the label before it.
    let (suffix_len, reg_len) = name_split(d, tld.len());
    let suffix = &d[d.len() - suffix_len.min(d.len())..];
    let mut h: u64 = 0x5bf1_0000;
    for &b in suffix {
        h = mix(h, b);
    }
    f(2, bucket(h));
    let reg = &d[d.len() - reg_len.min(d.len())..];
    // Under a dynamic-DNS provider (the provider is the public suffix when the PSL lists it, else the
    // registered domain): a host registered in minutes.
    // Only names below the provider are looked up (the provider's own name is an ordinary domain).
    let mut is_dyn = 0f32;
    for cand in [suffix, reg] {
        if cand.len() < d.len() && cand.contains(&b'.') && dyns.contains(cand) {
            f(2, bucket(0xd1d1_50b0));
            is_dyn = 1.0;
            break;
        }
    }
    let mut h: u64 = 0x4e90_0000;
    for &b in reg {
        h = mix(h, b);
    }
    f(2, bucket(h));
    let label_end = reg.len().saturating_sub(suffix_len + 1);
    let label = &reg[..label_end];
    let ln = label.len();
    for i in 0..ln {
        let mut h: u64 = 0x1abe_1000;
        for k in 0..4 {
            if i + k >= ln {
                break;
            }
            h = mix(h, label[i + k]);
            if k >= 1 {
                f(3, bucket(h ^ (k as u64 + 0x40)));
            }
        }
    }
    let sub_labels = d[..d.len() - reg.len()]
        .iter()
        .filter(|c| **c == b'.')
        .count() as u64;
    f(4, bucket(0xbeef_0000 ^ sub_labels.min(6)));
    // Crosses of the suffix with the name's shape (a linear model cannot form them itself): what is normal for
    // a `.com` name is not for a `.top` one.
    let mut hs: u64 = 0xc055_0000;
    for &b in suffix {
        hs = mix(hs, b);
    }
    let len_b = (d.len() as u64 / 4).min(12);
    let lab_b = (ln as u64 / 3).min(8);
    let (label_digits, label_hyph) = label.iter().fold((0usize, 0usize), |(d, h), c| {
        (d + c.is_ascii_digit() as usize, h + (*c == b'-') as usize)
    });
    let digits = label_digits.min(3) as u64;
    let hyph = label_hyph.min(2) as u64;
    f(4, bucket(mix(hs, 1) ^ (len_b << 8)));
    f(4, bucket(mix(hs, 2) ^ (sub_labels.min(4) << 8)));
    f(4, bucket(mix(hs, 3) ^ (lab_b << 8) ^ (digits << 16)));
    f(
        4,
        bucket(mix(hs, 4) ^ (hyph << 8) ^ (sub_labels.min(3) << 16)),
    );
    f(
        4,
        bucket(0xc055_5ab0 ^ (lab_b << 8) ^ (sub_labels.min(4) << 16) ^ (digits << 24)),
    );
    let sub = &d[..d.len() - reg.len()];
    if !sub.is_empty() {
        // Length of the sub-domain part crossed with the suffix and the registrable label's length, and
        // 3-grams of the sub-domain part apart from those of the whole name (infrastructure host names).
        let sub_len = (sub.len() as u64 / 6).min(10);
        f(4, bucket(mix(hs, 5) ^ (sub_len << 8) ^ (lab_b << 16)));
        // 3-grams of the sub-domain part, apart from the whole name's.
        for w in sub.windows(3) {
            let mut h: u64 = 0x5ab3_0000;
            for &b in w {
                h = mix(h, b);
            }
            f(4, bucket(h));
        }
    }
    let seg = lex.segment(label);
    [
        sub_labels as f32,
        ln as f32,
        sub.len() as f32,
        label_digits as f32,
        label_hyph as f32,
        is_dyn,
        suffix_len as f32,
        seg[0],
        seg[1],
        seg[2],
        seg[3],
    ]
}

/// Shape values the sparse pass computes on the way (sub-domain labels, registrable label length, sub-domain
/// part length, digits and hyphens of the registrable label, dynamic-DNS, public-suffix length) and the
/// word segmentation of the registrable label ([`Lexicon::segment`]).
const N_SHAPE: usize = 11;
/// Inputs of the second stage: the first stage's margin, the dense features and the shape values.
const N_INPUTS: usize = 2 + N_PARTS + N_DENSE + N_SHAPE;
/// Inputs after those in a model with language models ([`Params::char_lm`], model version 5): the benign
/// labels' and English prose's mean log2 probability per character of the registrable label.
const N_LM: usize = 2;
/// Inputs [`DomainModel::inputs`] computes: a model's second stage reads the first [`N_INPUTS`], or all of
/// them in a model with language models.
const N_STAGE: usize = N_INPUTS + N_LM;
/// Groups of sparse features whose partial margins the second stage sees: character n-grams of the name,
/// label tokens, suffix and registered domain, n-grams of the registrable label, shape crosses.
const N_PARTS: usize = 5;

/// `c * log2(c)` for c in 0..256.
static CLOGC: [f32; 256] = {
    let mut t = [0f32; 256];
    let mut c = 2;
    while c < 256 {
        t[c] = c as f32 * log2_const(c as f32);
        c += 1;
    }
    t
};

/// log2 for table building in const context (no `log2` there): exponent from halving, mantissa by the
/// atanh series ln(m) = 2 * sum z^(2k+1)/(2k+1), z = (m-1)/(m+1).
const fn log2_const(x: f32) -> f32 {
    let mut e = 0;
    let mut m = x;
    while m >= 2.0 {
        m /= 2.0;
        e += 1;
    }
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let mut term = z;
    let mut sum = 0.0;
    let mut k = 0;
    while k < 12 {
        sum += term / (2 * k + 1) as f32;
        term *= z2;
        k += 1;
    }
    e as f32 + 2.0 * sum / std::f32::consts::LN_2
}

/// Character classes for [`dense_features`]: the count slot in the low six bits (letters 0-25, digits 26-35,
/// hyphen 36, dot 37, anything else 38) and one flag bit each for digit, hyphen, dot, vowel (aeiou) and
/// consonant (a lower-case letter other than aeiouy). One table read per character instead of a chain of
/// compares.
static CHAR_CLASS: [u16; 256] = {
    let mut t = [38u16; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'a'..=b'z' => {
                let vowel = matches!(b, b'a' | b'e' | b'i' | b'o' | b'u');
                let cons = !vowel && b != b'y';
                (b - b'a') as u16 | (vowel as u16) << CC_VOWEL | (cons as u16) << CC_CONS
            }
            b'0'..=b'9' => (26 + (b - b'0')) as u16 | 1 << CC_DIGIT,
            b'-' => 36 | 1 << CC_HYPHEN,
            b'.' => 37 | 1 << CC_DOT,
            _ => 38,
        };
        c += 1;
    }
    t
};
const CC_DIGIT: u32 = 6;
const CC_HYPHEN: u32 = 7;
const CC_DOT: u32 = 8;
const CC_VOWEL: u32 = 9;
const CC_CONS: u32 = 10;

/// Per-character tallies of a name that the shape features are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CharStats {
    /// Occurrences per [`CHAR_CLASS`] slot.
    counts: [u16; 64],
    /// Bit `slot` set when `counts[slot] > 0`.
    present: u64,
    digits: u32,
    hyphens: u32,
    dots: u32,
    vowels: u32,
    max_cons: u32,
    max_digit_run: u32,
}

impl Default for CharStats {
    fn default() -> Self {
        CharStats {
            counts: [0; 64],
            present: 0,
            digits: 0,
            hyphens: 0,
            dots: 0,
            vowels: 0,
            max_cons: 0,
            max_digit_run: 0,
        }
    }
}

/// [`CharStats`] of a lower-case name, one table read per character.
#[inline]
fn char_stats(d: &[u8]) -> CharStats {
    let mut t = CharStats::default();
    let (mut cons_run, mut digit_run) = (0u32, 0u32);
    for &c in d {
        let e = CHAR_CLASS[c as usize];
        t.counts[(e & 63) as usize] += 1;
        t.present |= 1 << (e & 63);
        let bit = |k: u32| u32::from((e >> k) & 1);
        let digit = bit(CC_DIGIT);
        t.digits += digit;
        digit_run = (digit_run + 1) * digit;
        t.max_digit_run = t.max_digit_run.max(digit_run);
        t.hyphens += bit(CC_HYPHEN);
        t.dots += bit(CC_DOT);
        t.vowels += bit(CC_VOWEL);
        cons_run = (cons_run + 1) * bit(CC_CONS);
        t.max_cons = t.max_cons.max(cons_run);
    }
    t
}

/// `ln` and `log2` of the integers below 256, from the same `f32` functions (so the same bits): the shape features
/// take three logarithms of lengths per name, ~3% of a scoring run as calls.
static LOG_INT: std::sync::LazyLock<[[f32; 256]; 2]> = std::sync::LazyLock::new(|| {
    let ln = std::array::from_fn(|k| (k as f32).ln());
    let log2 = std::array::from_fn(|k| (k as f32).log2());
    [ln, log2]
});

#[inline]
fn ln_int(k: usize) -> f32 {
    match LOG_INT[0].get(k) {
        Some(v) => *v,
        None => (k as f32).ln(),
    }
}

#[inline]
fn log2_int(k: usize) -> f32 {
    match LOG_INT[1].get(k) {
        Some(v) => *v,
        None => (k as f32).log2(),
    }
}

/// Shape features of a lower-case domain.
#[inline]
fn dense_features(d: &[u8]) -> [f32; N_DENSE] {
    let t = char_stats(d);
    let n = d.len().max(1) as f32;
    // Entropy as log2(n) - sum(c log2 c)/n, with c log2 c from a table: one logarithm per name. Only the slots
    // that occur are added, in slot order: an absent slot's term is +0.0, which leaves an f32 sum's bits as
    // they are, so this equals the sum over every slot (a chain of 39 dependent adds, ~4% of a scoring run).
    let mut sum_clogc = 0f32;
    let mut m = t.present;
    while m != 0 {
        let k = t.counts[m.trailing_zeros() as usize];
        sum_clogc += CLOGC[(k as usize).min(255)];
        m &= m - 1;
    }
    let distinct = t.present.count_ones() as usize;
    let ent = if d.is_empty() {
        0.0
    } else {
        log2_int(d.len()) - sum_clogc / n
    };
    let first_label = d.iter().position(|c| *c == b'.').unwrap_or(d.len());
    let letters = (n - t.digits as f32 - t.hyphens as f32 - t.dots as f32).max(1.0);
    [
        ln_int(d.len().max(1)),
        ent,
        t.digits as f32 / n,
        t.hyphens as f32,
        t.dots as f32,
        t.vowels as f32 / letters,
        t.max_cons as f32,
        t.max_digit_run as f32,
        ln_int(first_label.max(1)),
        (d.starts_with(b"www.") as u8) as f32,
        (d.starts_with(b"xn--") || d.windows(5).any(|w| w == b".xn--")) as u8 as f32,
        distinct as f32 / n,
    ]
}

fn lower_host(s: &str, buf: &mut Vec<u8>) {
    buf.clear();
    let t = s.trim().trim_end_matches('.');
    let t = t.strip_prefix("*.").unwrap_or(t);
    buf.extend(t.bytes().map(|b| b.to_ascii_lowercase()));
}

impl DomainModel {
    /// The model built into this binary.
    pub fn embedded() -> Result<Self> {
        Self::from_bytes(EMBEDDED)
    }

    /// Loads a model from artifact bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (header, payload) = artifact::open(bytes, MODEL, MODEL_VERSION)?;
        let mut r = Reader::new(payload, MODEL);
        let bits = r.u32()?;
        if bits != BITS {
            return Err(MlError::artifact(
                MODEL,
                format!("hash width {bits} bits, this build uses {BITS}"),
            ));
        }
        let bias = r.f32()?;
        let arr = |r: &mut Reader| -> Result<[f32; N_DENSE]> {
            let v = r.f32s()?;
            v.try_into()
                .map_err(|_| MlError::artifact(MODEL, "dense feature count differs"))
        };
        let dense_w = arr(&mut r)?;
        let dense_mean = arr(&mut r)?;
        let dense_scale = arr(&mut r)?;
        let w = r.f32s()?;
        if w.len() != DIM {
            return Err(MlError::artifact(MODEL, "weight vector has the wrong size"));
        }
        let n = r.u64()? as usize;
        if n > payload.len() / 8 {
            return Err(MlError::artifact(
                MODEL,
                "dynamic-DNS table longer than the file",
            ));
        }
        let mut dyns = Vec::with_capacity(n);
        for _ in 0..n {
            dyns.push(r.u64()?);
        }
        if dyns.windows(2).any(|w| w[0] >= w[1]) {
            return Err(MlError::artifact(MODEL, "dynamic-DNS table is not sorted"));
        }
        let stage2 = match r.u8()? {
            0 => None,
            _ => Some(boost::Trees::read(&mut r, MODEL)?),
        };
        let nl = r.u64()? as usize;
        if nl > payload.len() / 8 {
            return Err(MlError::artifact(MODEL, "word table longer than the file"));
        }
        let mut lex = Vec::with_capacity(nl);
        for _ in 0..nl {
            lex.push(r.u64()?);
        }
        if !lex.is_empty() && lex.len() != 1 << LEX_WORDS_LOG2 {
            return Err(MlError::artifact(MODEL, "word table of another size"));
        }
        let lm = match r.u8()? {
            0 => None,
            1 => Some(LangModels::Tables(Box::new(LmPair::read(&mut r, MODEL)?))),
            k => {
                return Err(MlError::artifact(
                    MODEL,
                    format!("language model section of unknown kind {k}"),
                ))
            }
        };
        // What the second stage reads: the language models' two inputs too when the model has them.
        let width = if lm.is_some() { N_STAGE } else { N_INPUTS };
        if stage2.as_ref().is_some_and(|t| t.n_features() != width) {
            return Err(MlError::artifact(
                MODEL,
                "second stage reads another number of inputs",
            ));
        }
        let stage2_mlp = if r.at_end() {
            None
        } else {
            let a = r.f32()?;
            let n = mlp::Mlp::read(&mut r, MODEL)?;
            if n.n_features() != width || !(0.0..=1.0).contains(&a) {
                return Err(MlError::artifact(
                    MODEL,
                    "second-stage network reads another number of inputs or has a blend outside [0, 1]",
                ));
            }
            if a < 1.0 && stage2.is_none() {
                return Err(MlError::artifact(
                    MODEL,
                    "second-stage network blended with absent trees",
                ));
            }
            Some((n, a))
        };
        r.finish()?;
        let (wq, wq_scale) = quantise(&w);
        Ok(DomainModel {
            header,
            lex: Lexicon(lex),
            dyns: DynSet::from_sorted(dyns),
            wq,
            wq_scale,
            w,
            dense_w,
            dense_mean,
            dense_scale,
            bias,
            stage2,
            stage2_mlp,
            lm,
        })
    }

    /// Loads a model from a file.
    pub fn from_path(p: &Path) -> Result<Self> {
        let b = std::fs::read(p)
            .map_err(|e| MlError::artifact(MODEL, format!("cannot read {}: {e}", p.display())))?;
        Self::from_bytes(&b)
    }

    /// Whether [`DomainModel::to_bytes`] can carry the model: not with the study's exact language models.
    pub fn savable(&self) -> bool {
        !matches!(self.lm, Some(LangModels::Exact(_)))
    }

    /// The artifact header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// First-stage margin and the second stage's inputs.
    #[inline]
    fn first(&self, d: &[u8]) -> [f32; N_INPUTS] {
        // One accumulator per group in registers (an array indexed through the callback was kept on the stack,
        // a store-to-load chain per feature).
        let wq: &[i16; DIM] = &self.wq;
        let (mut p0, mut p1, mut p2, mut p3, mut p4) = (0i32, 0i32, 0i32, 0i32, 0i32);
        let shape = sparse_features(d, &self.dyns, &self.lex, |g, i| {
            let w = wq[i & (DIM - 1)] as i32;
            match g {
                0 => p0 += w,
                1 => p1 += w,
                2 => p2 += w,
                3 => p3 += w,
                _ => p4 += w,
            }
        });
        let parts = [p0, p1, p2, p3, p4];
        let x = dense_features(d);
        let mut zd = 0f32;
        for (k, xk) in x.iter().enumerate() {
            zd += self.dense_w[k] * (xk - self.dense_mean[k]) * self.dense_scale[k];
        }
        let mut v = [0f32; N_INPUTS];
        let mut z = self.bias + zd;
        for (g, p) in parts.iter().enumerate() {
            let pz = *p as f32 * self.wq_scale;
            v[2 + g] = pz;
            z += pz;
        }
        v[0] = z;
        v[1] = zd;
        v[2 + N_PARTS..2 + N_PARTS + N_DENSE].copy_from_slice(&x);
        v[2 + N_PARTS + N_DENSE..].copy_from_slice(&shape);
        v
    }

    /// [`DomainModel::first`] and the language models' inputs (0 in a model without them).
    fn inputs(&self, d: &[u8]) -> [f32; N_STAGE] {
        let mut v = [0f32; N_STAGE];
        v[..N_INPUTS].copy_from_slice(&self.first(d));
        if let Some(lm) = &self.lm {
            // The label the sparse pass split off (its length and the suffix's are shape inputs): no second
            // public-suffix look-up.
            let shape = 2 + N_PARTS + N_DENSE;
            let (ln, sl) = (v[shape + 1] as usize, v[shape + 6] as usize);
            let label = if sl >= d.len() {
                d
            } else {
                let end = d.len() - sl - 1;
                &d[end.saturating_sub(ln)..end]
            };
            (v[N_INPUTS], v[N_INPUTS + 1]) = lm.per_char(label);
        }
        v
    }

    fn margin(&self, d: &[u8]) -> f32 {
        if self.lm.is_some() {
            return self.stage2_margin(&self.inputs(d));
        }
        self.stage2_margin(&self.first(d))
    }

    #[inline]
    fn stage2_margin(&self, v: &[f32]) -> f32 {
        match (&self.stage2, &self.stage2_mlp) {
            (Some(t), None) => t.margin(v),
            (Some(t), Some((n, a))) => (1.0 - a) * t.margin(v) + a * n.margin(v),
            (None, Some((n, _))) => n.margin(v),
            (None, None) => v[0],
        }
    }

    /// Score in [0, 1] of one domain (case and a trailing dot ignored).
    pub fn score(&self, domain: &str) -> f64 {
        let mut buf = Vec::with_capacity(64);
        self.score_with(domain, &mut buf)
    }

    /// As [`DomainModel::score`], reusing a buffer (the streaming path).
    pub fn score_with(&self, domain: &str, buf: &mut Vec<u8>) -> f64 {
        lower_host(domain, buf);
        if buf.is_empty() {
            return 0.0;
        }
        let z = self.margin(buf) as f64;
        crate::extract::round4(1.0 / (1.0 + (-z).exp()))
    }

    /// Scores many domains, in input order.
    pub fn score_all<'a>(&self, domains: impl IntoIterator<Item = &'a str>) -> Vec<DomainScore> {
        let mut buf = Vec::with_capacity(64);
        domains
            .into_iter()
            .map(|d| DomainScore {
                domain: d.to_string(),
                score: self.score_with(d, &mut buf),
            })
            .collect()
    }

    /// Scores `names` in order into `out`, split between `threads` threads (0 or 1: this thread). The scores
    /// are those of [`DomainModel::score`], whatever the number of threads.
    pub fn score_many(&self, names: &[&str], threads: usize, out: &mut Vec<f64>) {
        out.clear();
        out.resize(names.len(), 0.0);
        let part = |names: &[&str], out: &mut [f64]| {
            let mut buf = Vec::with_capacity(64);
            for (d, o) in names.iter().zip(out) {
                *o = self.score_with(d, &mut buf);
            }
        };
        // Below a few thousand names a thread costs more than it saves.
        if threads <= 1 || names.len() < 2 * 1024 {
            part(names, out);
            return;
        }
        let per = names.len().div_ceil(threads);
        std::thread::scope(|s| {
            for (names, out) in names.chunks(per).zip(out.chunks_mut(per)) {
                s.spawn(move || part(names, out));
            }
        });
    }

    /// Serialises the model into artifact bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(BITS);
        w.f32(self.bias);
        w.f32s(&self.dense_w);
        w.f32s(&self.dense_mean);
        w.f32s(&self.dense_scale);
        w.f32s(&self.w);
        w.u64(self.dyns.hashes.len() as u64);
        for h in &self.dyns.hashes {
            w.u64(*h);
        }
        match &self.stage2 {
            Some(t) => {
                w.u8(1);
                t.write(&mut w);
            }
            None => w.u8(0),
        }
        w.u64(self.lex.0.len() as u64);
        for x in &self.lex.0 {
            w.u64(*x);
        }
        match &self.lm {
            Some(LangModels::Tables(t)) => {
                w.u8(1);
                t.write(&mut w);
            }
            // The study's exact models have no artifact form: such a model cannot be saved (see
            // `DomainModel::savable`), and its bytes would be refused on loading (the trees read two inputs more).
            Some(LangModels::Exact(_)) | None => w.u8(0),
        }
        // Written only when present, so a model without it keeps the bytes it had without.
        if let Some((n, a)) = &self.stage2_mlp {
            w.f32(*a);
            n.write(&mut w);
        }
        artifact::seal(&self.header, &w.buf)
    }
}

/// A labelled domain with its split.
#[derive(Debug, Clone)]
pub struct Sample {
    pub domain: String,
    pub malicious: bool,
    pub test: bool,
    /// Malware family, or the benign list group.
    pub group: String,
}

fn clean_domain(raw: &str) -> Option<String> {
    let r = raw.trim();
    if r.is_empty() || r.contains('/') || r.contains(':') || r.contains(' ') {
        return None;
    }
    let o = vigil_model::Observable::detect(r)?;
    (o.kind == vigil_model::ObservableKind::Domain).then_some(o.value)
}

/// Builds the labelled data set: maltrail malware domains split by family, benign list domains split by
/// registered domain, overlaps removed, each family capped at a fixed count chosen by stable hash.
pub fn dataset(corpus: &Path) -> Result<Vec<Sample>> {
    dataset_capped(corpus, PER_FAMILY_CAP)
}

/// The dynamic-DNS provider table from the corpus (empty when the list is absent).
pub fn dyn_set(corpus: &Path) -> Result<DynSet> {
    match corpus::warninglist(corpus, "dynamic-dns") {
        Ok(v) => Ok(DynSet::new(v.iter().map(String::as_str))),
        Err(MlError::Io { .. }) => Ok(DynSet::default()),
        Err(e) => Err(e),
    }
}

/// [`dataset`] with another cap on the domains of each training family.
pub fn dataset_capped(corpus: &Path, per_family_cap: usize) -> Result<Vec<Sample>> {
    dataset_with(corpus, per_family_cap, false)
}

/// [`dataset_capped`], with the held-out families capped too when `cap_held_out` (to fit on everything).
pub fn dataset_with(
    corpus: &Path,
    per_family_cap: usize,
    cap_held_out: bool,
) -> Result<Vec<Sample>> {
    dataset_fold(corpus, per_family_cap, cap_held_out, corpus::HELD_OUT_FOLD)
}

/// [`dataset_with`] with fold `fold` of [`corpus::FOLDS`] as the held-out side (families and benign registered
/// domains whose [`corpus::fold_of`] is `fold`); fold [`corpus::HELD_OUT_FOLD`] is the held-out split.
fn dataset_fold(
    corpus: &Path,
    per_family_cap: usize,
    cap_held_out: bool,
    fold: u64,
) -> Result<Vec<Sample>> {
    let fams = corpus::maltrail_malware(corpus)?;
    let mut mal: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for (fam, entries) in &fams {
        let test = corpus::fold_of(fam) == fold;
        let mut doms: Vec<String> = entries.iter().filter_map(|e| clean_domain(e)).collect();
        doms.sort_by_key(|d| (corpus::stable_hash(d), d.clone()));
        doms.dedup();
        // Training families are capped; held-out families are kept whole, as an evaluation of unseen families
        // on everything they use.
        let cap = if test && !cap_held_out {
            usize::MAX
        } else {
            per_family_cap
        };
        for d in doms.into_iter().take(cap) {
            // A domain in two families goes to the first family in name order, which keeps the split clean.
            mal.entry(d).or_insert_with(|| (fam.clone(), test));
        }
    }
    let mut benign: BTreeMap<String, &str> = BTreeMap::new();
    for l in BENIGN_LISTS {
        match corpus::warninglist(corpus, l) {
            Ok(v) => {
                for d in v.iter().filter_map(|e| clean_domain(e)) {
                    benign.entry(d).or_insert(l);
                }
            }
            Err(MlError::Io { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    if mal.is_empty() || benign.is_empty() {
        return Err(MlError::EmptyCorpus {
            path: corpus.into(),
            task: "domain".into(),
            reason: "no malicious or no benign domains found".into(),
        });
    }
    let mut out = Vec::with_capacity(mal.len() + benign.len());
    for (d, (fam, test)) in mal {
        if benign.contains_key(&d) {
            continue;
        }
        out.push(Sample {
            domain: d,
            malicious: true,
            test,
            group: fam,
        });
    }
    for (d, list) in benign {
        let reg = crate::extract::registered_domain_of(&d).to_string();
        out.push(Sample {
            test: corpus::fold_of(&reg) == fold,
            domain: d,
            malicious: false,
            group: list.to_string(),
        });
    }
    Ok(out)
}

/// Deterministic xorshift generator for shuffling.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Training settings. The shipped ones ([`Params::default`]) were chosen on a validation split carved out of
/// the training families ([`validate`]), never on the held-out families.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub epochs: usize,
    pub lr: f32,
    pub l2: f32,
    pub per_family_cap: usize,
    /// Use the dynamic-DNS provider feature.
    pub dyn_dns: bool,
    /// Trees of the second stage (0: the first stage's margin is the score).
    pub stage2_trees: usize,
    /// Step of each tree (its leaf values' multiplier; shipped: 0.3).
    pub stage2_shrinkage: f32,
    /// Quantile bins per second-stage input the trees' splits are chosen among (shipped: 64).
    pub stage2_bins: usize,
    /// Segment the registrable label into words of the benign training names and of English prose
    /// (second-stage inputs).
    pub words: bool,
    /// Hidden units of a second-stage network over the trees' inputs (0: none).
    pub mlp_hidden: usize,
    /// Passes of the network's training.
    pub mlp_epochs: usize,
    /// Weight of the network's margin in the score (1: the network alone, and no trees are fitted).
    pub mlp_blend: f32,
    /// Second-stage weight of a malicious name, proportional to (names of its family)^-power (0: every name
    /// weighs the same; 1: every family weighs the same); the malicious side still weighs half in total.
    pub family_power: f32,
    /// Characters of context (at most 8; 0: none, model version 4's inputs) of two character language models,
    /// of the benign training names' registrable labels and of English prose words, whose mean log2
    /// probability per character of the registrable label are two more second-stage inputs (shipped: 5).
    pub char_lm: usize,
    /// Also fit on maltrail's `trails/static/malicious/` files (exploit kits, traffic distribution systems, C2
    /// frameworks, phishing kits), each capped like a family, never measured; files named like a malware family
    /// and names sharing a registered domain with the data are left out (shipped: on).
    pub extra_trails: bool,
    /// With [`Params::char_lm`], the language models' cheap form ([`LmPair`], `2^bits` hashed slots, 8-28),
    /// the form an artifact carries (shipped: 18); 0 is the study's exact models in hash maps, which cannot be
    /// saved.
    pub fast_lm_bits: u32,
    /// Fit the first stage's weights as the average over its last pass's steps (averaged SGD) instead of the
    /// last step's (study only; shipped: off).
    pub stage1_average: bool,
    /// Folds of the second stage's out-of-fold inputs (shipped: 4).
    pub stack_folds: u64,
    /// The trees' L2 on leaf values and least hessian mass in a child (shipped: 1 and 5).
    pub stage2_lambda: f64,
    pub stage2_min_hess: f64,
    /// Share of the malicious training names left out as label noise before the final fit: those whose
    /// out-of-fold first-stage margin is lowest (compromised and look-alike sites that read as benign; study only,
    /// shipped 0).
    pub drop_malicious_share: f32,
    /// Share of the rows and of the inputs each tree is fitted on (stochastic boosting; study only, shipped 1
    /// and 1: every row, every input).
    pub stage2_subsample: f32,
    pub stage2_colsample: f32,
    /// Depth of each tree (shipped 8; scoring has its fast path for 8 only, so other depths are for study).
    pub stage2_depth: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            epochs: 3,
            lr: 0.02,
            l2: 1e-5,
            per_family_cap: PER_FAMILY_CAP,
            dyn_dns: true,
            stage2_trees: 40,
            stage2_shrinkage: STAGE2_SHRINKAGE,
            stage2_bins: boost::BINS,
            words: true,
            mlp_hidden: 0,
            mlp_epochs: 10,
            mlp_blend: 0.0,
            family_power: 0.0,
            char_lm: 5,
            extra_trails: true,
            fast_lm_bits: 18,
            stage1_average: false,
            stack_folds: STACK_FOLDS,
            stage2_lambda: 1.0,
            stage2_min_hess: 5.0,
            drop_malicious_share: 0.0,
            stage2_subsample: 1.0,
            stage2_colsample: 1.0,
            stage2_depth: STAGE2_DEPTH,
        }
    }
}

impl Params {
    /// The study examples' options from the environment (`ml_domval`, `ml_domheld`):
    /// `VIGIL_DOMVAL_MLP=HIDDEN,EPOCHS,BLEND`, `VIGIL_DOMVAL_FAMPOW=P`, `VIGIL_DOMVAL_CHARLM=ORDER`, `VIGIL_DOMVAL_FASTLM=BITS`,
    /// `VIGIL_DOMVAL_EXTRA=1`, `VIGIL_DOMVAL_TREES=N`, `VIGIL_DOMVAL_SHRINK=STEP`, `VIGIL_DOMVAL_BINS=N`,
    /// `VIGIL_DOMVAL_AVG=1` (averaged first stage), `VIGIL_DOMVAL_FOLDS=K` (stacking folds),
    /// `VIGIL_DOMVAL_LAMBDA=L` and `VIGIL_DOMVAL_MINHESS=H` (the trees' leaf L2 and least child hessian),
    /// `VIGIL_DOMVAL_DROPMAL=S` (malicious label noise left out), `VIGIL_DOMVAL_SUBSAMPLE=S` and
    /// `VIGIL_DOMVAL_COLSAMPLE=S` (the trees' row and input shares), `VIGIL_DOMVAL_DEPTH=D` (the trees' depth).
    pub fn with_study_env(mut self) -> std::result::Result<Params, String> {
        if let Ok(v) = std::env::var("VIGIL_DOMVAL_MLP") {
            let f: Vec<&str> = v.split(',').collect();
            let bad = || "VIGIL_DOMVAL_MLP=HIDDEN,EPOCHS,BLEND".to_string();
            if f.len() != 3 {
                return Err(bad());
            }
            self.mlp_hidden = f[0].parse().map_err(|_| bad())?;
            self.mlp_epochs = f[1].parse().map_err(|_| bad())?;
            self.mlp_blend = f[2].parse().map_err(|_| bad())?;
        }
        study_var("VIGIL_DOMVAL_FAMPOW", "a number", &mut self.family_power)?;
        study_var(
            "VIGIL_DOMVAL_CHARLM",
            "a number of characters",
            &mut self.char_lm,
        )?;
        study_var(
            "VIGIL_DOMVAL_FASTLM",
            "a number of bits",
            &mut self.fast_lm_bits,
        )?;
        if let Ok(v) = std::env::var("VIGIL_DOMVAL_EXTRA") {
            self.extra_trails = v == "1";
        }
        study_var(
            "VIGIL_DOMVAL_TREES",
            "a number of trees",
            &mut self.stage2_trees,
        )?;
        study_var(
            "VIGIL_DOMVAL_BINS",
            "a number of bins",
            &mut self.stage2_bins,
        )?;
        study_var(
            "VIGIL_DOMVAL_SHRINK",
            "a number",
            &mut self.stage2_shrinkage,
        )?;
        if let Ok(v) = std::env::var("VIGIL_DOMVAL_AVG") {
            self.stage1_average = v == "1";
        }
        study_var(
            "VIGIL_DOMVAL_FOLDS",
            "a number of folds",
            &mut self.stack_folds,
        )?;
        study_var("VIGIL_DOMVAL_LAMBDA", "a number", &mut self.stage2_lambda)?;
        study_var(
            "VIGIL_DOMVAL_MINHESS",
            "a number",
            &mut self.stage2_min_hess,
        )?;
        study_var(
            "VIGIL_DOMVAL_DROPMAL",
            "a share",
            &mut self.drop_malicious_share,
        )?;
        study_var(
            "VIGIL_DOMVAL_SUBSAMPLE",
            "a share",
            &mut self.stage2_subsample,
        )?;
        study_var(
            "VIGIL_DOMVAL_COLSAMPLE",
            "a share",
            &mut self.stage2_colsample,
        )?;
        study_var("VIGIL_DOMVAL_DEPTH", "a depth", &mut self.stage2_depth)?;
        Ok(self)
    }
}

/// Sets `to` from the environment variable `name` when it is set; an unreadable value is an error naming it.
fn study_var<T: std::str::FromStr>(
    name: &str,
    what: &str,
    to: &mut T,
) -> std::result::Result<(), String> {
    if let Ok(v) = std::env::var(name) {
        *to = v.parse().map_err(|_| format!("{name}={v}: not {what}"))?;
    }
    Ok(())
}

/// The part of [`dataset`] a model is fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The training side: what the held-out metrics of [`evaluate`] are measured with.
    TrainingSide,
    /// Every family and benign site of the corpus: the shipped artifact, whose unseen data lies outside it.
    Everything,
    /// `eighths`/8 of the training families and benign sites (by stable hash): the learning curve, which tells
    /// what more families are worth.
    TrainingShare { eighths: u64 },
}

impl Part {
    fn keeps(self, s: &Sample) -> bool {
        match self {
            Part::TrainingSide => !s.test,
            Part::Everything => true,
            Part::TrainingShare { eighths } => {
                let key = if s.malicious {
                    s.group.clone()
                } else {
                    crate::extract::registered_domain_of(&s.domain).to_string()
                };
                !s.test && corpus::stable_hash(&format!("share:{key}")) % 8 < eighths
            }
        }
    }
}

/// Trains the shipped model: on everything in the corpus ([`Part::Everything`]).
pub fn train(corpus: &Path) -> Result<DomainModel> {
    train_on(corpus, Params::default(), Part::Everything)
}

/// Trains with the given settings on the training side (the model the held-out metrics measure).
pub fn train_with(corpus: &Path, p: Params) -> Result<DomainModel> {
    train_on(corpus, p, Part::TrainingSide)
}

/// Trains with the given settings on one part of the data.
pub fn train_on(corpus: &Path, p: Params, part: Part) -> Result<DomainModel> {
    let data = dataset_with(corpus, p.per_family_cap, part == Part::Everything)?;
    fit_part(corpus, &data, p, part)
}

/// Fits a model with settings `p` on `part` of `data`.
fn fit_part(corpus: &Path, data: &[Sample], p: Params, part: Part) -> Result<DomainModel> {
    let dyns = if p.dyn_dns {
        dyn_set(corpus)?
    } else {
        DynSet::default()
    };
    let extra = extra_trails(corpus, data, p)?;
    let train: Vec<&Sample> = data
        .iter()
        .filter(|s| part.keeps(s))
        .chain(&extra)
        .collect();
    // The extra trails' names are training data too (all malicious); none when the option is off, so the hash
    // of a model without them is what it was.
    let hash = corpus::data_hash(
        data.iter()
            .map(|s| s.domain.as_str())
            .chain(data.iter().map(|s| if s.malicious { "1" } else { "0" }))
            .chain(extra.iter().map(|s| s.domain.as_str())),
    );
    let prose = prose_for(corpus, data, p)?;
    Ok(fit_stacked(&train, &prose, dyns, hash, p))
}

/// Validation inside the training side only: a quarter of the training families (by a salted stable hash) and
/// a quarter of the training benign registered domains are set aside, the model is fitted on the rest, and the
/// ROC AUC and TPR at 1% FPR on the set-aside part are returned. The held-out families are not read.
pub fn validate(corpus: &Path, p: Params) -> Result<(f64, f64)> {
    validate_salted(corpus, p, "")
}

/// [`validate`] on the validation part drawn with `salt` ([`validation_scores_salted`]).
pub fn validate_salted(corpus: &Path, p: Params, salt: &str) -> Result<(f64, f64)> {
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (s, z) in validation_scores_salted(corpus, p, salt)? {
        if s.malicious {
            pos.push(z)
        } else {
            neg.push(z)
        }
    }
    let (auc, t) = roc(&pos, &neg, &[0.01]);
    Ok((auc, t[0]))
}

/// The validation samples of [`validate`] with their margins (for per-family and per-list breakdowns).
pub fn validation_scores(corpus: &Path, p: Params) -> Result<Vec<(Sample, f64)>> {
    validation_scores_salted(corpus, p, "")
}

/// [`validation_scores`] on another quarter of the training families and sites, drawn with `salt` (several
/// salts average out which large families happen to land in the validation part).
pub fn validation_scores_salted(
    corpus: &Path,
    p: Params,
    salt: &str,
) -> Result<Vec<(Sample, f64)>> {
    // Validation families are kept whole (as the held-out ones are); the cap applies to the fitted part only.
    let data = dataset_capped(corpus, usize::MAX)?;
    let dyns = if p.dyn_dns {
        dyn_set(corpus)?
    } else {
        DynSet::default()
    };
    let val = |s: &Sample| {
        let key = if s.malicious {
            s.group.clone()
        } else {
            crate::extract::registered_domain_of(&s.domain).to_string()
        };
        corpus::stable_hash(&format!("validation{salt}:{key}")) & 3 == 0
    };
    let mut train: Vec<&Sample> = data.iter().filter(|s| !s.test && !val(s)).collect();
    train.sort_by_key(|s| (corpus::stable_hash(&s.domain), s.domain.as_str()));
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    train.retain(|s| {
        if !s.malicious {
            return true;
        }
        let n = per.entry(s.group.as_str()).or_default();
        *n += 1;
        *n <= p.per_family_cap
    });
    let extra = extra_trails(corpus, &data, p)?;
    train.extend(&extra);
    let prose = prose_for(corpus, &data, p)?;
    let m = fit_stacked(&train, &prose, dyns, [0; 32], p);
    Ok(data
        .iter()
        .filter(|s| !s.test && val(s))
        .map(|s| (s.clone(), m.margin(s.domain.as_bytes()) as f64))
        .collect())
}

/// Class-balanced sample weights (each class weighs half).
fn sample_weights(train: &[&Sample]) -> Vec<f32> {
    let npos = train.iter().filter(|s| s.malicious).count().max(1) as f32;
    let nneg = (train.len() as f32 - npos).max(1.0);
    let (wpos, wneg) = (
        train.len() as f32 / (2.0 * npos),
        train.len() as f32 / (2.0 * nneg),
    );
    train
        .iter()
        .map(|s| if s.malicious { wpos } else { wneg })
        .collect()
}

fn fit(train: &[&Sample], dyns: DynSet, hash: [u8; 32], p: Params) -> DomainModel {
    let feats: Vec<(Vec<u32>, [f32; N_DENSE], bool)> = train
        .iter()
        .map(|s| {
            let d = s.domain.as_bytes();
            let mut idx = Vec::with_capacity(80);
            sparse_features(d, &dyns, &Lexicon::default(), |_, i| idx.push(i as u32));
            (idx, dense_features(d), s.malicious)
        })
        .collect();
    // Standardise the dense features on the training data.
    let mut mean = [0f32; N_DENSE];
    let mut scale = [1f32; N_DENSE];
    for k in 0..N_DENSE {
        let m: f64 = feats.iter().map(|f| f.1[k] as f64).sum::<f64>() / feats.len() as f64;
        let v: f64 = feats
            .iter()
            .map(|f| (f.1[k] as f64 - m).powi(2))
            .sum::<f64>()
            / feats.len() as f64;
        mean[k] = m as f32;
        scale[k] = if v > 1e-12 {
            (1.0 / v.sqrt()) as f32
        } else {
            0.0
        };
    }
    let sw = sample_weights(train);
    let mut w = vec![0f32; DIM];
    let mut gsum = vec![0f32; DIM];
    let mut dw = [0f32; N_DENSE];
    let mut dg = [0f32; N_DENSE];
    let mut bias = 0f32;
    let mut bg = 0f32;
    // Small AdaGrad steps, few passes and some L2 (more passes memorise training n-grams); the values are
    // chosen with `validate` on training families only.
    let (lr, l2, epochs) = (p.lr, p.l2, p.epochs);
    let mut order: Vec<usize> = (0..feats.len()).collect();
    let mut rng = Rng::new(0x5eed_d0a1);
    // Averaged SGD over the last pass: the average of the weights after each of its T steps is
    // w_T - (1/T) * sum over steps s of (s - 1) * (change at step s), so only touched entries are updated.
    let mut avg_u = if p.stage1_average {
        vec![0f32; DIM]
    } else {
        Vec::new()
    };
    let (mut avg_du, mut avg_bu) = ([0f32; N_DENSE], 0f32);
    let mut step = 0f32;
    for epoch in 0..epochs {
        let averaging = p.stage1_average && epoch + 1 == epochs;
        rng.shuffle(&mut order);
        for &i in &order {
            let (idx, x, y) = &feats[i];
            let mut z = bias;
            for &j in idx {
                z += w[j as usize];
            }
            let mut xs = [0f32; N_DENSE];
            for k in 0..N_DENSE {
                xs[k] = (x[k] - mean[k]) * scale[k];
                z += dw[k] * xs[k];
            }
            let p = 1.0 / (1.0 + (-z).exp());
            let g = (p - if *y { 1.0 } else { 0.0 }) * sw[i];
            // AdaGrad: per-feature step sizes, so rare n-grams still learn.
            for &j in idx {
                let j = j as usize;
                let gj = g + l2 * w[j];
                gsum[j] += gj * gj;
                let d = lr * gj / (gsum[j].sqrt() + 1e-6);
                w[j] -= d;
                if averaging {
                    avg_u[j] -= step * d;
                }
            }
            for k in 0..N_DENSE {
                let gk = g * xs[k];
                dg[k] += gk * gk;
                let d = lr * gk / (dg[k].sqrt() + 1e-6);
                dw[k] -= d;
                if averaging {
                    avg_du[k] -= step * d;
                }
            }
            bg += g * g;
            let d = lr * g / (bg.sqrt() + 1e-6);
            bias -= d;
            if averaging {
                avg_bu -= step * d;
                step += 1.0;
            }
        }
    }
    if p.stage1_average && step > 0.0 {
        for (wj, u) in w.iter_mut().zip(&avg_u) {
            *wj -= u / step;
        }
        for k in 0..N_DENSE {
            dw[k] -= avg_du[k] / step;
        }
        bias -= avg_bu / step;
    }
    let (wq, wq_scale) = quantise(&w);
    DomainModel {
        header: Header {
            model: MODEL.into(),
            model_version: MODEL_VERSION,
            data_hash: hash,
        },
        dyns,
        wq,
        wq_scale,
        w,
        dense_w: dw,
        dense_mean: mean,
        dense_scale: scale,
        bias,
        stage2: None,
        stage2_mlp: None,
        lm: None,
        lex: Lexicon::default(),
    }
}

/// Depth of the second stage's (oblivious) trees and their step; with 40 trees, 320 comparisons per name.
const STAGE2_DEPTH: u32 = 8;
const STAGE2_SHRINKAGE: f32 = 0.3;

/// Folds for the second stage's out-of-fold margins: malicious by family, benign by registered domain.
const STACK_FOLDS: u64 = 4;

fn stack_fold(s: &Sample, folds: u64) -> u64 {
    let key = if s.malicious {
        s.group.clone()
    } else {
        crate::extract::registered_domain_of(&s.domain).to_string()
    };
    corpus::stable_hash(&format!("stack:{key}")) % folds
}

/// The character language models of [`Params::char_lm`]: benign registrable labels, English prose words; in
/// their cheap form ([`LmPair`]) unless the study asks for the exact ones (`fast_lm_bits` 0).
fn char_lms(p: Params, train: &[&Sample], prose: &[Vec<u8>]) -> LangModels {
    let order = p.char_lm.min(8);
    let benign = CharLm::fit(
        order,
        train
            .iter()
            .filter(|s| !s.malicious)
            .map(|s| registrable_label(s.domain.as_bytes())),
    );
    let english = CharLm::fit(order, prose.iter().map(Vec::as_slice));
    if p.fast_lm_bits > 0 {
        if let Some(t) = LmPair::new(&benign, &english, p.fast_lm_bits) {
            return LangModels::Tables(Box::new(t));
        }
    }
    LangModels::Exact(Box::new((benign, english)))
}

/// Lengths of the public suffix (the TLD, `tld_len`, when the list has none) and of the registered domain
/// (the suffix and the label before it; the whole name when it is all suffix): one public-suffix lookup.
#[inline]
fn name_split(d: &[u8], tld_len: usize) -> (usize, usize) {
    let suffix_len = psl::suffix(d)
        .map(|s| s.as_bytes().len())
        .unwrap_or(tld_len)
        .min(d.len());
    let reg_len = if suffix_len < d.len() {
        let head = &d[..d.len() - suffix_len - 1];
        let lab = head
            .iter()
            .rposition(|c| *c == b'.')
            .map(|p| head.len() - p - 1)
            .unwrap_or(head.len());
        suffix_len + 1 + lab
    } else {
        d.len()
    };
    (suffix_len, reg_len)
}

/// The registrable label for the language models ([`name_split`], with no TLD fallback; the whole
/// name when it is all suffix).
fn registrable_label(d: &[u8]) -> &[u8] {
    let (suffix_len, reg_len) = name_split(d, 0);
    if suffix_len >= d.len() {
        return d;
    }
    let start = d.len() - reg_len;
    &d[start..d.len() - suffix_len - 1]
}

fn lexicon(train: &[&Sample], prose: &[Vec<u8>]) -> Lexicon {
    Lexicon::build(
        train
            .iter()
            .filter(|s| !s.malicious)
            .map(|s| s.domain.as_bytes()),
        prose.iter().map(Vec::as_slice),
    )
}

/// The prose words of the word table when the parameters segment into words (see [`prose_words`]).
fn prose_for(corpus: &Path, data: &[Sample], p: Params) -> Result<Vec<Vec<u8>>> {
    if p.words {
        prose_words(corpus, &family_names(data))
    } else {
        Ok(Vec::new())
    }
}

/// The extra training names ([`Params::extra_trails`]; none when off): maltrail's `malicious` trail
/// files, each capped at the family cap (by stable hash), as training-only families. A file whose name, without
/// kit prefixes and suffixes, equals or overlaps a malware family's of `data` is left out (it may be that
/// family under another name, held out or not), as is every name whose registered domain is one of `data`'s.
fn extra_trails(corpus: &Path, data: &[Sample], p: Params) -> Result<Vec<Sample>> {
    if !p.extra_trails {
        return Ok(Vec::new());
    }
    fn core(name: &str) -> String {
        let mut c = name.to_ascii_lowercase();
        for pre in [
            "ek_", "android_", "osx_", "elf_", "win_", "apt_", "ios_", "linux_",
        ] {
            if let Some(r) = c.strip_prefix(pre) {
                c = r.to_string();
            }
        }
        for suf in ["_c2", "_tds", "_rat", "_panel", "_bot"] {
            if let Some(r) = c.strip_suffix(suf) {
                c = r.to_string();
            }
        }
        c
    }
    let fams: BTreeSet<String> = family_names(data).iter().map(|f| core(f)).collect();
    let overlaps = |c: &str| {
        fams.iter().any(|f| {
            f == c || (f.len() >= 5 && c.len() >= 5 && (f.contains(c) || c.contains(f.as_str())))
        })
    };
    let regs: std::collections::HashSet<&str> = data
        .iter()
        .map(|s| crate::extract::registered_domain_of(&s.domain))
        .collect();
    let trails = match corpus::maltrail_trails(corpus, "malicious") {
        Ok(t) => t,
        // An unpacked corpus without the folder: nothing extra.
        Err(MlError::EmptyCorpus { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for (fam, entries) in trails {
        if overlaps(&core(&fam)) {
            continue;
        }
        let mut doms: Vec<String> = entries
            .iter()
            .filter_map(|e| clean_domain(e))
            .filter(|d| !regs.contains(crate::extract::registered_domain_of(d)))
            .collect();
        doms.sort_by_key(|d| (corpus::stable_hash(d), d.clone()));
        doms.dedup();
        out.extend(doms.into_iter().take(p.per_family_cap).map(|d| Sample {
            domain: d,
            malicious: true,
            test: false,
            group: format!("extra:{fam}"),
        }));
    }
    Ok(out)
}

/// Names of every malware family in the data (kept out of the prose words).
fn family_names(data: &[Sample]) -> BTreeSet<String> {
    data.iter()
        .filter(|s| s.malicious)
        .map(|s| s.group.clone())
        .collect()
}

/// The first stage fitted on all of `train`, and a second stage fitted on out-of-fold first-stage margins
/// (each fold's margins from a first stage fitted without that fold's families and benign sites).
fn fit_stacked(
    train: &[&Sample],
    prose: &[Vec<u8>],
    dyns: DynSet,
    hash: [u8; 32],
    p: Params,
) -> DomainModel {
    let use_mlp = p.mlp_hidden > 0 && p.mlp_blend > 0.0;
    let use_trees = p.stage2_trees > 0 && !(use_mlp && p.mlp_blend >= 1.0);
    if !use_trees && !use_mlp {
        return fit(train, dyns, hash, p);
    }
    let n_folds = p.stack_folds.max(2);
    let folds: Vec<u64> = train.iter().map(|s| stack_fold(s, n_folds)).collect();
    // Without language models the rows hold version 4's inputs only (the same trained bytes).
    let width = if p.char_lm > 0 { N_STAGE } else { N_INPUTS };
    let mut rows = vec![0f32; train.len() * width];
    for k in 0..n_folds {
        let part: Vec<&Sample> = train
            .iter()
            .zip(&folds)
            .filter(|(_, f)| **f != k)
            .map(|(s, _)| *s)
            .collect();
        let mut mk = fit(&part, dyns.clone(), hash, p);
        if p.words {
            mk.lex = lexicon(&part, prose);
        }
        if p.char_lm > 0 {
            mk.lm = Some(char_lms(p, &part, prose));
        }
        for (i, s) in train.iter().enumerate() {
            if folds[i] == k {
                rows[i * width..(i + 1) * width]
                    .copy_from_slice(&mk.inputs(s.domain.as_bytes())[..width]);
            }
        }
    }
    if p.drop_malicious_share > 0.0 {
        let mut mal: Vec<f32> = train
            .iter()
            .enumerate()
            .filter(|(_, s)| s.malicious)
            .map(|(i, _)| rows[i * width])
            .collect();
        mal.sort_by(|a, b| a.total_cmp(b));
        let k =
            ((mal.len() as f32 * p.drop_malicious_share) as usize).min(mal.len().saturating_sub(1));
        if let Some(&cut) = mal.get(k) {
            let kept: Vec<&Sample> = train
                .iter()
                .enumerate()
                .filter(|(i, s)| !s.malicious || rows[i * width] >= cut)
                .map(|(_, s)| *s)
                .collect();
            let q = Params {
                drop_malicious_share: 0.0,
                ..p
            };
            return fit_stacked(&kept, prose, dyns, hash, q);
        }
    }
    // The final first stage, word table and language models, fitted on all of `train` (after any label noise is
    // left out above, so that they are fitted once).
    let mut m = fit(train, dyns, hash, p);
    if p.words {
        m.lex = lexicon(train, prose);
    }
    if p.char_lm > 0 {
        m.lm = Some(char_lms(p, train, prose));
    }
    let y: Vec<bool> = train.iter().map(|s| s.malicious).collect();
    let w = if p.family_power > 0.0 {
        family_weights(train, p.family_power)
    } else {
        sample_weights(train)
    };
    if use_trees {
        let bp = boost::BoostParams {
            trees: p.stage2_trees,
            depth: p.stage2_depth,
            shrinkage: p.stage2_shrinkage,
            bins: p.stage2_bins,
            lambda: p.stage2_lambda,
            min_hess: p.stage2_min_hess,
            subsample: p.stage2_subsample,
            colsample: p.stage2_colsample,
        };
        m.stage2 = Some(boost::fit(&rows, width, &y, &w, bp));
    }
    if use_mlp {
        let mp = mlp::MlpParams {
            hidden: p.mlp_hidden,
            epochs: p.mlp_epochs,
            ..mlp::MlpParams::default()
        };
        let a = if use_trees { p.mlp_blend.min(1.0) } else { 1.0 };
        m.stage2_mlp = Some((mlp::fit(&rows, width, &y, &w, mp), a));
    }
    m
}

/// Class-balanced weights in which a malicious name weighs (names of its family)^-power, so large families
/// do not set the second stage's boundary alone (aimed at families unlike any in training).
fn family_weights(train: &[&Sample], power: f32) -> Vec<f32> {
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    for s in train.iter().filter(|s| s.malicious) {
        *per.entry(s.group.as_str()).or_default() += 1;
    }
    let raw: Vec<f64> = train
        .iter()
        .map(|s| {
            if s.malicious {
                let n = per.get(s.group.as_str()).copied().unwrap_or(1).max(1);
                (n as f64).powf(-(power as f64))
            } else {
                1.0
            }
        })
        .collect();
    let (mut sp, mut sn) = (0f64, 0f64);
    for (s, r) in train.iter().zip(&raw) {
        if s.malicious {
            sp += r
        } else {
            sn += r
        }
    }
    let total = train.len() as f64;
    let (kp, kn) = (total / (2.0 * sp.max(1e-12)), total / (2.0 * sn.max(1e-12)));
    train
        .iter()
        .zip(&raw)
        .map(|(s, r)| (r * if s.malicious { kp } else { kn }) as f32)
        .collect()
}

/// Held-out metrics of a domain model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DomainMetrics {
    pub test_malicious: usize,
    pub test_benign: usize,
    pub test_families: usize,
    pub train_malicious: usize,
    pub train_benign: usize,
    pub roc_auc: f64,
    pub tpr_at_1pct_fpr: f64,
    pub tpr_at_0_1pct_fpr: f64,
    /// ROC AUC of all held-out malicious domains against the held-out part of each benign list.
    pub roc_auc_by_benign_list: BTreeMap<String, f64>,
    /// Mean over held-out families of each family's ROC AUC against all held-out benign domains (every family
    /// counts once, however many domains it has; `roc_auc` weighs families by size).
    pub roc_auc_family_mean: f64,
    /// How much the figures depend on which families happen to be held out: the held-out families resampled
    /// with replacement (the benign side fixed). Absent without held-out families and benign names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_bootstrap: Option<FamilyBootstrap>,
    /// The held-out benign names under the country-code TLDs of the programme's jurisdictions (and `.eu`):
    /// the names Vigil's users' own logs are full of. Absent when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligible_cctlds: Option<CcTldMetrics>,
}

/// How the scores of benign names under the programme's country-code TLDs compare ([`ELIGIBLE_CCTLDS`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CcTldMetrics {
    /// Held-out benign names under those TLDs.
    pub benign: usize,
    /// ROC AUC of all held-out malicious names against them.
    pub roc_auc: f64,
    /// Share of them scoring above the threshold that passes 1% of all held-out benign names (the operating
    /// point of `tpr_at_1pct_fpr`): their false-positive rate there, against 0.01 for the benign side as a whole.
    pub fpr_at_1pct_threshold: f64,
}

/// Country-code TLDs of the jurisdictions of the shipped eligibility policy (reference.md, "Eligible
/// jurisdictions": the EU member states, candidate countries, EFTA states, the UK, Monaco and the Vatican; the
/// UK's is `.uk`), and `.eu`. The server's policy is data an administrator can extend; this list only defines a
/// metric, and a test of the CLI crate keeps it equal to the shipped policy.
pub const ELIGIBLE_CCTLDS: &[&str] = &[
    "at", "be", "bg", "hr", "cy", "cz", "dk", "ee", "fi", "fr", "de", "gr", "hu", "ie", "it", "lv",
    "lt", "lu", "mt", "nl", "pl", "pt", "ro", "sk", "si", "es", "se", "al", "ba", "ge", "md", "me",
    "mk", "rs", "tr", "ua", "is", "li", "no", "ch", "uk", "mc", "va", "eu",
];

fn under_eligible_cctld(domain: &str) -> bool {
    let tld = domain.rsplit('.').next().unwrap_or(domain);
    ELIGIBLE_CCTLDS.contains(&tld)
}

/// Spread of the held-out metrics over [`FamilyBootstrap::resamples`] resamplings of the held-out families (with
/// replacement, each family whole; fixed seed, so the same scores give the same interval). The pooled AUC is the
/// size-weighted mean of the families' AUCs against the same benign names, and the TPR at a fixed benign
/// threshold a size-weighted share, so each resample is exact, not an approximation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FamilyBootstrap {
    pub resamples: usize,
    pub roc_auc_sd: f64,
    /// 2.5th and 97.5th percentiles.
    pub roc_auc_ci95: [f64; 2],
    pub tpr_at_1pct_fpr_ci95: [f64; 2],
}

const BOOTSTRAP_RESAMPLES: usize = 2000;

/// Per family: names, the sum over its names of the share of benign scores below (ties count half), and the
/// count above the 1%-FPR threshold.
struct FamilyTally {
    n: f64,
    shares: f64,
    above_1pct: f64,
}

fn family_tallies(by_family: &BTreeMap<String, Vec<f64>>, neg: &[f64]) -> Vec<FamilyTally> {
    if neg.is_empty() {
        return Vec::new();
    }
    let mut sorted = neg.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let nn = sorted.len() as f64;
    let thr = fpr_threshold(&sorted, 0.01);
    by_family
        .values()
        .map(|ps| FamilyTally {
            n: ps.len() as f64,
            shares: ps
                .iter()
                .map(|p| {
                    let lo = sorted.partition_point(|x| x < p) as f64;
                    let hi = sorted.partition_point(|x| x <= p) as f64;
                    (lo + (hi - lo) / 2.0) / nn
                })
                .sum(),
            above_1pct: ps.iter().filter(|p| **p > thr).count() as f64,
        })
        .collect()
}

fn family_bootstrap(t: &[FamilyTally]) -> Option<FamilyBootstrap> {
    if t.is_empty() {
        return None;
    }
    let mut rng = Rng::new(0x0b00_75ea_f1e5);
    let (mut aucs, mut tprs) = (Vec::new(), Vec::new());
    for _ in 0..BOOTSTRAP_RESAMPLES {
        let (mut n, mut sh, mut ab) = (0.0, 0.0, 0.0);
        for _ in 0..t.len() {
            let f = &t[(rng.next() % t.len() as u64) as usize];
            n += f.n;
            sh += f.shares;
            ab += f.above_1pct;
        }
        aucs.push(sh / n);
        tprs.push(ab / n);
    }
    let pct = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| v[(q * (v.len() - 1) as f64).round() as usize];
        [
            crate::extract::round4(at(0.025)),
            crate::extract::round4(at(0.975)),
        ]
    };
    let sd = corpus::spread(&aucs).sd;
    Some(FamilyBootstrap {
        resamples: BOOTSTRAP_RESAMPLES,
        roc_auc_sd: crate::extract::round4(sd),
        roc_auc_ci95: pct(&mut aucs),
        tpr_at_1pct_fpr_ci95: pct(&mut tprs),
    })
}

/// The score a malicious one must exceed for a false-positive rate of at most `fpr` against the benign scores
/// `sorted` (ascending): the (k+1)-th highest, k = floor(fpr x count).
fn fpr_threshold(sorted: &[f64], fpr: f64) -> f64 {
    let k = (fpr * sorted.len() as f64).floor() as usize;
    sorted
        .len()
        .checked_sub(k + 1)
        .map_or(f64::NEG_INFINITY, |i| sorted[i])
}

/// ROC AUC and TPR at the given FPRs of scores (higher = more malicious).
pub fn roc(pos: &[f64], neg: &[f64], fprs: &[f64]) -> (f64, Vec<f64>) {
    let mut all: Vec<(f64, bool)> = pos
        .iter()
        .map(|s| (*s, true))
        .chain(neg.iter().map(|s| (*s, false)))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    // AUC by the rank-sum with ties counted half.
    let (np, nn) = (pos.len() as f64, neg.len() as f64);
    let mut auc = 0.0;
    let mut tp = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        let (mut p, mut n) = (0.0, 0.0);
        while j < all.len() && all[j].0 == all[i].0 {
            if all[j].1 {
                p += 1.0
            } else {
                n += 1.0
            }
            j += 1;
        }
        auc += n * (tp + p / 2.0);
        tp += p;
        i = j;
    }
    let auc = if np == 0.0 || nn == 0.0 {
        0.0
    } else {
        auc / (np * nn)
    };
    let mut negs: Vec<f64> = neg.to_vec();
    negs.sort_by(|a, b| a.total_cmp(b));
    let tprs = fprs
        .iter()
        .map(|f| {
            let thr = fpr_threshold(&negs, *f);
            if np == 0.0 {
                0.0
            } else {
                pos.iter().filter(|s| **s > thr).count() as f64 / np
            }
        })
        .collect();
    (auc, tprs)
}

/// The held-out metrics: a model with the shipped settings fitted on the training side (the shipped artifact has
/// seen every family), measured on the held-out side.
pub fn train_and_evaluate(corpus: &Path) -> Result<DomainMetrics> {
    evaluate(&train_with(corpus, Params::default())?, corpus, false)
}

/// Evaluates a model on the held-out side of [`dataset`], or on all of it when `all` (an unseen corpus).
pub fn evaluate(model: &DomainModel, corpus: &Path, all: bool) -> Result<DomainMetrics> {
    Ok(measure(model, &dataset(corpus)?, all).0)
}

/// The metrics of `model` on the held-out side of `data` (all of it when `all`), and the measured samples with
/// their margins.
fn measure<'a>(
    model: &DomainModel,
    data: &'a [Sample],
    all: bool,
) -> (DomainMetrics, Vec<(&'a Sample, f64)>) {
    let scored: Vec<(&Sample, f64)> = data
        .iter()
        .filter(|s| all || s.test)
        .map(|s| (s, model.margin(s.domain.as_bytes()) as f64))
        .collect();
    let mut m = metrics_of(&scored);
    if !all {
        m.train_malicious = data.iter().filter(|s| !s.test && s.malicious).count();
        m.train_benign = data.iter().filter(|s| !s.test && !s.malicious).count();
    }
    (m, scored)
}

/// Mean over families of each family's AUC against the benign scores (0 without families or benign scores).
fn family_mean_auc(t: &[FamilyTally]) -> f64 {
    if t.is_empty() {
        return 0.0;
    }
    t.iter().map(|f| f.shares / f.n).sum::<f64>() / t.len() as f64
}

/// The domain metrics of a cross-validation by family ([`cross_validate`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DomainFoldMetrics {
    /// Fold `k` holds out the families and benign sites of [`corpus::fold_of`] `k`; fold 1 is the held-out
    /// split that `vigil ml eval --task domain` measures.
    pub folds: Vec<DomainMetrics>,
    pub roc_auc_mean: f64,
    /// Sample standard deviation of the folds' AUCs: how much the figure depends on which families are unseen.
    pub roc_auc_sd: f64,
    pub roc_auc_min: f64,
    pub roc_auc_max: f64,
    pub tpr_at_1pct_fpr_mean: f64,
    pub tpr_at_0_1pct_fpr_mean: f64,
    pub roc_auc_family_mean_mean: f64,
    /// Every family and benign site scored once, by the fold's model that never saw it, and measured together
    /// (all families of the corpus are unseen families here).
    pub pooled: DomainMetrics,
}

/// Cross-validation by family: for each of the [`corpus::FOLDS`] folds a model with settings `p` is fitted
/// without that fold's families and benign sites and measured on them (held-out families kept whole, as in
/// [`evaluate`]). Costs one training per fold.
pub fn cross_validate(corpus: &Path, p: Params) -> Result<DomainFoldMetrics> {
    let mut folds = Vec::new();
    let mut scored: Vec<(Sample, f64)> = Vec::new();
    for k in 0..corpus::FOLDS {
        let data = dataset_fold(corpus, p.per_family_cap, false, k)?;
        let m = fit_part(corpus, &data, p, Part::TrainingSide)?;
        let (metrics, fold_scored) = measure(&m, &data, false);
        scored.extend(fold_scored.into_iter().map(|(s, z)| (s.clone(), z)));
        folds.push(metrics);
    }
    let pooled = metrics_of(&scored.iter().map(|(s, z)| (s, *z)).collect::<Vec<_>>());
    let of =
        |f: fn(&DomainMetrics) -> f64| corpus::spread(&folds.iter().map(f).collect::<Vec<_>>());
    let auc = of(|m| m.roc_auc);
    let r = crate::extract::round4;
    Ok(DomainFoldMetrics {
        roc_auc_mean: r(auc.mean),
        roc_auc_sd: r(auc.sd),
        roc_auc_min: auc.min,
        roc_auc_max: auc.max,
        tpr_at_1pct_fpr_mean: r(of(|m| m.tpr_at_1pct_fpr).mean),
        tpr_at_0_1pct_fpr_mean: r(of(|m| m.tpr_at_0_1pct_fpr).mean),
        roc_auc_family_mean_mean: r(of(|m| m.roc_auc_family_mean).mean),
        folds,
        pooled,
    })
}

/// Metrics of scored samples, every one of them counted as held out (no training counts).
fn metrics_of(scored: &[(&Sample, f64)]) -> DomainMetrics {
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    let mut by_family: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut by_list: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (s, z) in scored {
        let z = *z;
        if s.malicious {
            by_family.entry(s.group.clone()).or_default().push(z);
            pos.push(z);
        } else {
            by_list.entry(s.group.clone()).or_default().push(z);
            neg.push(z);
        }
    }
    let r = crate::extract::round4;
    let (auc, tprs) = roc(&pos, &neg, &[0.01, 0.001]);
    let tallies = family_tallies(&by_family, &neg);
    let eu: Vec<f64> = scored
        .iter()
        .filter(|(s, _)| !s.malicious && under_eligible_cctld(&s.domain))
        .map(|(_, z)| *z)
        .collect();
    let eligible_cctlds = (!eu.is_empty() && !pos.is_empty()).then(|| {
        let mut sorted = neg.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let thr = fpr_threshold(&sorted, 0.01);
        CcTldMetrics {
            benign: eu.len(),
            roc_auc: r(roc(&pos, &eu, &[]).0),
            fpr_at_1pct_threshold: r(
                eu.iter().filter(|z| **z > thr).count() as f64 / eu.len() as f64
            ),
        }
    });
    DomainMetrics {
        test_malicious: pos.len(),
        test_benign: neg.len(),
        test_families: by_family.len(),
        train_malicious: 0,
        train_benign: 0,
        roc_auc: r(auc),
        tpr_at_1pct_fpr: r(tprs[0]),
        tpr_at_0_1pct_fpr: r(tprs[1]),
        roc_auc_by_benign_list: by_list
            .into_iter()
            .map(|(l, n)| (l, r(roc(&pos, &n, &[]).0)))
            .collect(),
        roc_auc_family_mean: r(family_mean_auc(&tallies)),
        family_bootstrap: family_bootstrap(&tallies),
        eligible_cctlds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benign_names_of_the_programme_s_countries_are_measured_apart() {
        let mk = |d: &str, mal: bool| Sample {
            domain: d.into(),
            malicious: mal,
            test: true,
            group: if mal { "fam" } else { "list" }.into(),
        };
        // 100 benign names, 0.00 .. 0.99; the 1%-FPR threshold is then 0.98 (one name above it).
        let mut v: Vec<(Sample, f64)> = (0..100)
            .map(|i| (mk(&format!("site{i}.com"), false), i as f64 / 100.0))
            .collect();
        // Under eligible ccTLDs (by the last label): one above the threshold (0.99 > 0.98), one below; `.us`
        // is not one of them.
        v[99].0.domain = "oesterreich.gv.at".into();
        v[10].0.domain = "bund.de".into();
        v[50].0.domain = "example.us".into();
        v.push((mk("evil.top", true), 0.995));
        v.push((mk("evil2.top", true), 0.5));
        let m = metrics_of(&v.iter().map(|(s, z)| (s, *z)).collect::<Vec<_>>());
        let e = m.eligible_cctlds.expect("two names under eligible ccTLDs");
        assert_eq!(e.benign, 2);
        assert_eq!(e.fpr_at_1pct_threshold, 0.5);
        // 0.995 beats both; 0.5 beats 0.10 only.
        assert_eq!(e.roc_auc, 0.75);
        v.retain(|(s, _)| s.malicious || !under_eligible_cctld(&s.domain));
        let m = metrics_of(&v.iter().map(|(s, z)| (s, *z)).collect::<Vec<_>>());
        assert!(m.eligible_cctlds.is_none());
        assert!(!serde_json::to_string(&m).unwrap().contains("eligible"));
    }

    #[test]
    fn roc_basics() {
        let (auc, t) = roc(&[0.9, 0.8, 0.7], &[0.1, 0.2, 0.75], &[0.0, 0.5]);
        assert!((auc - 8.0 / 9.0).abs() < 1e-9);
        assert_eq!(t[0], 2.0 / 3.0);
        let (auc, _) = roc(&[0.5], &[0.5], &[0.01]);
        assert_eq!(auc, 0.5);
    }

    #[test]
    fn family_bootstrap_is_exact_per_resample_and_brackets_the_figure() {
        let mk = |d: &str, fam: &str, mal: bool| Sample {
            domain: d.into(),
            malicious: mal,
            test: true,
            group: fam.into(),
        };
        // Three families of different sizes and difficulty, 200 benign names; scores chosen so that ties occur.
        let mut scored: Vec<(Sample, f64)> = Vec::new();
        for i in 0..200 {
            scored.push((mk(&format!("b{i}"), "list", false), (i % 50) as f64 / 10.0));
        }
        for i in 0..300 {
            scored.push((
                mk(&format!("e{i}"), "easy", true),
                4.0 + (i % 7) as f64 / 10.0,
            ));
        }
        for i in 0..40 {
            scored.push((mk(&format!("h{i}"), "hard", true), (i % 30) as f64 / 10.0));
        }
        for i in 0..5 {
            scored.push((mk(&format!("m{i}"), "mid", true), 2.5 + i as f64 / 10.0));
        }
        let m = metrics_of(&scored.iter().map(|(s, z)| (s, *z)).collect::<Vec<_>>());
        let b = m.family_bootstrap.clone().expect("a bootstrap");
        assert_eq!(b.resamples, BOOTSTRAP_RESAMPLES);
        assert!(
            b.roc_auc_ci95[0] < m.roc_auc && m.roc_auc < b.roc_auc_ci95[1],
            "{m:?}"
        );
        assert!(
            b.tpr_at_1pct_fpr_ci95[0] <= m.tpr_at_1pct_fpr
                && m.tpr_at_1pct_fpr <= b.tpr_at_1pct_fpr_ci95[1],
            "{m:?}"
        );
        assert!(b.roc_auc_sd > 0.0);
        // The decomposition the resamples rely on gives the rank-sum AUC and the TPR exactly.
        let mut by_family: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let neg: Vec<f64> = scored
            .iter()
            .filter(|s| !s.0.malicious)
            .map(|s| s.1)
            .collect();
        let pos: Vec<f64> = scored
            .iter()
            .filter(|s| s.0.malicious)
            .map(|s| s.1)
            .collect();
        for (s, z) in scored.iter().filter(|s| s.0.malicious) {
            by_family.entry(s.group.clone()).or_default().push(*z);
        }
        let t = family_tallies(&by_family, &neg);
        let n: f64 = t.iter().map(|f| f.n).sum();
        let (auc, tpr) = roc(&pos, &neg, &[0.01]);
        assert!((t.iter().map(|f| f.shares).sum::<f64>() / n - auc).abs() < 1e-12);
        assert!((t.iter().map(|f| f.above_1pct).sum::<f64>() / n - tpr[0]).abs() < 1e-12);
        // Same scores, same interval; one family: no spread; no benign names: no bootstrap.
        let again = metrics_of(&scored.iter().map(|(s, z)| (s, *z)).collect::<Vec<_>>());
        assert_eq!(again.family_bootstrap, m.family_bootstrap);
        let one: Vec<(&Sample, f64)> = scored
            .iter()
            .filter(|s| !s.0.malicious || s.0.group == "hard")
            .map(|(s, z)| (s, *z))
            .collect();
        let b1 = metrics_of(&one).family_bootstrap.expect("a bootstrap");
        assert_eq!(b1.roc_auc_sd, 0.0);
        assert_eq!(b1.roc_auc_ci95[0], b1.roc_auc_ci95[1]);
        let none: Vec<(&Sample, f64)> = scored
            .iter()
            .filter(|s| s.0.malicious)
            .map(|(s, z)| (s, *z))
            .collect();
        assert!(metrics_of(&none).family_bootstrap.is_none());
    }

    #[test]
    fn artifact_round_trips_and_an_older_version_is_refused() {
        let m = DomainModel::embedded().expect("embedded model");
        assert!(m.stage2.is_some(), "the shipped model has its second stage");
        let again = DomainModel::from_bytes(&m.to_bytes()).expect("round trip");
        for d in ["evil-update.top", "www.example.com", "a1b2c3.duckdns.org"] {
            assert_eq!(m.score(d), again.score(d), "{d}");
        }
        let (h, payload) = artifact::open(EMBEDDED, MODEL, MODEL_VERSION).expect("opens");
        let old = Header {
            model_version: MODEL_VERSION - 1,
            ..h
        };
        let e = DomainModel::from_bytes(&artifact::seal(&old, payload))
            .expect_err("older version")
            .to_string();
        assert!(e.contains("vigil ml train"), "{e}");
    }

    #[test]
    fn labels_segment_into_known_words() {
        let lex = Lexicon::build(
            ["table.com", "place.org", "mats-shop.net"].map(str::as_bytes),
            ["the place"].map(str::as_bytes),
        );
        let s = lex.segment(b"tableplacemats");
        assert_eq!(s[..3], [1.0, 3.0, 0.0]);
        assert_eq!(s[3], 5.0 / 14.0, "prose words");
        // Two unknown letters between words, and a digit run breaks nothing.
        assert_eq!(lex.segment(b"tablexyplace")[..3], [10.0 / 12.0, 2.0, 2.0]);
        assert_eq!(lex.segment(b"table42")[..3], [1.0, 1.0, 0.0]);
        assert_eq!(lex.segment(b"qqqq"), [0.0, 0.0, 4.0, 0.0]);
        assert_eq!(lex.segment(b""), [0.0; LEX_OUT]);
        let long = [b'a'; LEX_MAX_LABEL + 1];
        assert_eq!(lex.segment(&long)[..3], [0.0, 0.0, long.len() as f32]);
        assert_eq!(
            Lexicon::default().segment(b"tableplacemats"),
            [0.0, 0.0, 14.0, 0.0]
        );
    }

    /// The word cover as first written (a compare chain on (letters, words) pairs), against which the
    /// branch-free key is checked on random spans.
    fn cover_reference(hits: &[u16; LEX_MAX_LABEL], n: usize) -> (u8, u8) {
        let mut best = [(0u8, 0u8); LEX_MAX_LABEL + 1];
        let better = |a: (u8, u8), b: (u8, u8)| a.0 > b.0 || (a.0 == b.0 && a.1 < b.1);
        for i in 0..n {
            if i > 0 && better(best[i - 1], best[i]) {
                best[i] = best[i - 1];
            }
            let mut m = hits[i];
            while m != 0 {
                let len = m.trailing_zeros() as usize;
                m &= m - 1;
                let j = i + len;
                let cand = (best[i].0 + len as u8, best[i].1 + 1);
                if better(cand, best[j]) {
                    best[j] = cand;
                }
            }
        }
        if n > 0 && better(best[n - 1], best[n]) {
            best[n] = best[n - 1];
        }
        best[n]
    }

    #[test]
    fn word_cover_keys_choose_as_the_compare_chain_did() {
        let mut rng = Rng::new(0xddb1_a5e5);
        for _ in 0..20_000 {
            let n = (rng.next() % (LEX_MAX_LABEL as u64 + 1)) as usize;
            let mut hits = [0u16; LEX_MAX_LABEL];
            for (i, h) in hits.iter_mut().enumerate().take(n) {
                // Spans of 4..=12 letters that end inside the label, dense enough for ties and overlaps.
                for len in LEX_MIN_WORD..=LEX_MAX_WORD {
                    if i + len <= n && rng.next().is_multiple_of(4) {
                        *h |= 1 << len;
                    }
                }
            }
            assert_eq!(
                Lexicon::cover(&hits, n),
                cover_reference(&hits, n),
                "{hits:?} {n}"
            );
        }
    }

    fn sample(d: &str, fam: &str) -> Sample {
        Sample {
            domain: d.into(),
            malicious: fam != "benign",
            test: false,
            group: fam.into(),
        }
    }

    #[test]
    fn family_weights_balance_classes_and_families() {
        let data = [
            sample("a1.com", "big"),
            sample("a2.com", "big"),
            sample("a3.com", "big"),
            sample("a4.com", "big"),
            sample("b1.com", "small"),
            sample("x.com", "benign"),
            sample("y.com", "benign"),
        ];
        let train: Vec<&Sample> = data.iter().collect();
        let w = family_weights(&train, 1.0);
        let pos: f32 = w[..5].iter().sum();
        let neg: f32 = w[5..].iter().sum();
        assert!((pos - neg).abs() < 1e-4, "{pos} {neg}");
        assert!(
            (w[..4].iter().sum::<f32>() - w[4]).abs() < 1e-4,
            "each family weighs the same"
        );
        let flat = family_weights(&train, 0.0);
        for (a, b) in flat.iter().zip(sample_weights(&train)) {
            assert!((a - b).abs() < 1e-5, "power 0 is class balance alone");
        }
    }

    #[test]
    fn a_second_stage_network_round_trips_in_the_artifact() {
        let m = DomainModel::embedded().expect("embedded model");
        let (x, y): (Vec<f32>, Vec<bool>) = [
            "evil-update.top",
            "www.example.com",
            "a1b2c3.duckdns.org",
            "qzxv9k2j.biz",
        ]
        .iter()
        .map(|d| {
            (
                m.inputs(d.as_bytes()),
                d.contains('-') || d.ends_with(".biz"),
            )
        })
        .fold((Vec::new(), Vec::new()), |(mut x, mut y), (v, l)| {
            x.extend_from_slice(&v);
            y.push(l);
            (x, y)
        });
        let net = mlp::fit(&x, N_STAGE, &y, &[1.0; 4], mlp::MlpParams::default());
        let with = DomainModel {
            stage2_mlp: Some((net, 0.5)),
            ..m.clone()
        };
        let again = DomainModel::from_bytes(&with.to_bytes()).expect("round trip");
        for d in ["evil-update.top", "www.example.com"] {
            assert_eq!(with.score(d), again.score(d), "{d}");
        }
        assert_eq!(m.to_bytes(), EMBEDDED, "without a network, the same bytes");
    }

    #[test]
    fn language_models_are_two_more_inputs_and_travel_in_the_artifact() {
        let dir = synthetic_corpus();
        let data = dataset_with(dir.path(), PER_FAMILY_CAP, false).expect("data");
        let fit = |p: Params| fit_part(dir.path(), &data, p, Part::TrainingSide).expect("fit");
        let quick = fit(Params {
            char_lm: 4,
            fast_lm_bits: 16,
            ..Params::default()
        });
        let exact = fit(Params {
            char_lm: 4,
            fast_lm_bits: 0,
            ..Params::default()
        });
        let plain = fit(Params {
            char_lm: 0,
            ..Params::default()
        });
        // Word pairs of the benign side read as more natural than random letters, in both forms; the cheap
        // form reads the label the sparse pass split off.
        for m in [&exact, &quick] {
            let (w, r) = (m.inputs(b"newsbank.com"), m.inputs(b"qzxvkwjtrp.top"));
            assert!(w[N_INPUTS] > r[N_INPUTS] + 1.0, "{w:?} {r:?}");
            assert!(w[N_INPUTS] < 0.0);
        }
        // The trees read the two inputs only in a model with language models.
        let n = |m: &DomainModel| m.stage2.as_ref().map(boost::Trees::n_features);
        assert_eq!(n(&quick), Some(N_STAGE));
        assert_eq!(n(&exact), Some(N_STAGE));
        assert_eq!(n(&plain), Some(N_INPUTS));
        assert_eq!(plain.inputs(b"newsbank.com")[N_INPUTS..], [0.0; N_LM]);
        // A label fitted on: every pair is in the hashed table, so the exact value (to 1/32 bit).
        let seen = data
            .iter()
            .find(|s| !s.malicious && !s.test)
            .expect("a benign training name");
        let (f, e) = (
            quick.inputs(seen.domain.as_bytes())[N_INPUTS],
            exact.inputs(seen.domain.as_bytes())[N_INPUTS],
        );
        assert!((f - e).abs() < 0.02, "{}: {f} {e}", seen.domain);
        // The cheap form and the plain model round-trip through the artifact with the same scores; the exact
        // models cannot be saved.
        assert!(quick.savable() && plain.savable() && !exact.savable());
        for m in [&quick, &plain] {
            let again = DomainModel::from_bytes(&m.to_bytes()).expect("round trip");
            for d in ["newsbank.com", "qzxvkwjtrp.top", "a.b.c.example.org", "x"] {
                assert_eq!(again.score(d), m.score(d), "{d}");
            }
            assert_eq!(again.to_bytes(), m.to_bytes());
        }
        // The language model section damaged: refused with a reason, never a panic. Its flag byte sits right
        // after the word table; cleared, the trees read two inputs the model no longer has.
        let bytes = quick.to_bytes();
        let (h, payload) = artifact::open(&bytes, MODEL, MODEL_VERSION).expect("opens");
        // Up to the flag the payload is laid out as the plain model's, whose last byte is its flag.
        let plain_bytes = plain.to_bytes();
        let (_, plain_payload) = artifact::open(&plain_bytes, MODEL, MODEL_VERSION).expect("opens");
        let flag = plain_payload.len() - 1;
        assert_eq!(payload[flag], 1);
        for (what, bad) in [
            ("flag cleared", {
                let mut b = payload.to_vec();
                b[flag] = 0;
                b
            }),
            ("unknown kind", {
                let mut b = payload.to_vec();
                b[flag] = 7;
                b
            }),
            ("truncated tables", payload[..payload.len() - 100].to_vec()),
        ] {
            let e = DomainModel::from_bytes(&artifact::seal(&h, &bad))
                .expect_err(what)
                .to_string();
            assert!(e.contains("domain"), "{what}: {e}");
        }
    }

    #[test]
    fn extra_trails_are_training_only_and_keep_apart_from_the_families() {
        let dir = synthetic_corpus();
        let data = dataset_with(dir.path(), PER_FAMILY_CAP, false).expect("data");
        let on = Params::default();
        assert!(on.extra_trails, "shipped with the extra trails");
        let off = Params {
            extra_trails: false,
            ..on
        };
        assert!(extra_trails(dir.path(), &data, on)
            .expect("no folder")
            .is_empty());
        let kits = dir.path().join("maltrail/trails/static/malicious");
        std::fs::create_dir_all(&kits).expect("mkdir");
        let known = data
            .iter()
            .find(|s| s.malicious && s.test)
            .expect("a held-out name");
        let reg = crate::extract::registered_domain_of(&known.domain).to_string();
        std::fs::write(
            kits.join("ek_fake-1.txt"),
            format!("# kit\nlanding-one.example-kit.top\nhxxp://x/y\nsub.{reg}\n10.0.0.1\n"),
        )
        .expect("write");
        std::fs::write(kits.join("ek_fake.txt"), "landing-two.example-kit.top\n").expect("write");
        // Named like a malware family of the data (`fam3`), whether held out or not.
        std::fs::write(kits.join("fam3_c2.txt"), "c2.other-kit.top\n").expect("write");
        let extra = extra_trails(dir.path(), &data, on).expect("extra");
        let names: Vec<(&str, &str)> = extra
            .iter()
            .map(|s| (s.domain.as_str(), s.group.as_str()))
            .collect();
        assert_eq!(
            names.iter().map(|n| n.1).collect::<BTreeSet<_>>(),
            BTreeSet::from(["extra:ek_fake"])
        );
        let mut doms: Vec<&str> = names.iter().map(|n| n.0).collect();
        doms.sort();
        assert_eq!(
            doms,
            ["landing-one.example-kit.top", "landing-two.example-kit.top"],
            "the name under a held-out family's registered domain is left out"
        );
        assert!(extra.iter().all(|s| s.malicious && !s.test));
        assert!(extra_trails(dir.path(), &data, off)
            .expect("off")
            .is_empty());
        // Never measured: the validation part and the held-out side are the same with the option on.
        let without = validation_scores(dir.path(), off).expect("validation");
        let with = validation_scores(dir.path(), on).expect("validation");
        let key = |v: &[(Sample, f64)]| v.iter().map(|(s, _)| s.domain.clone()).collect::<Vec<_>>();
        assert_eq!(key(&without), key(&with));
        let m = train_with(dir.path(), on).expect("fit");
        let e = evaluate(&m, dir.path(), false).expect("measure");
        let without_model = train_with(dir.path(), off).expect("fit");
        let plain = evaluate(&without_model, dir.path(), false).expect("held out");
        // The trails are training data: the model's provenance hash says so.
        assert_ne!(m.header().data_hash, without_model.header().data_hash);
        assert_eq!(
            (e.test_malicious, e.test_benign),
            (plain.test_malicious, plain.test_benign)
        );
    }

    /// A corpus laid out like the shared data: 40 maltrail families of random-letter names under cheap
    /// suffixes, and a benign list of word-like names under common ones.
    fn synthetic_corpus() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let mal = dir.path().join("maltrail/trails/static/malware");
        std::fs::create_dir_all(&mal).expect("mkdir");
        let mut rng = Rng::new(7);
        let mut letters = |n: usize| -> String {
            (0..n)
                .map(|_| (b'a' + (rng.next() % 26) as u8) as char)
                .collect()
        };
        for f in 0..40 {
            let names: Vec<String> = (0..60)
                .map(|_| format!("{}.{}", letters(12 + f % 5), ["xyz", "top", "ru"][f % 3]))
                .collect();
            std::fs::write(mal.join(format!("fam{f}.txt")), names.join("\n")).expect("write");
        }
        let words = [
            "news", "shop", "bank", "cloud", "mail", "city", "home", "travel", "music", "sport",
            "health", "school", "store", "media", "games", "books",
        ];
        let mut benign = Vec::new();
        for (i, a) in words.iter().enumerate() {
            for (j, b) in words.iter().enumerate() {
                benign.push(format!(
                    "\"{a}{b}.{}\"",
                    ["com", "org", "de", "fr"][(i + j) % 4]
                ));
            }
        }
        let wl = dir.path().join("misp-warninglists/lists/tranco10k");
        std::fs::create_dir_all(&wl).expect("mkdir");
        std::fs::write(
            wl.join("list.json"),
            format!("{{\"list\": [{}]}}", benign.join(",")),
        )
        .expect("write");
        dir
    }

    #[test]
    fn cross_validation_rotates_the_held_out_fold() {
        let dir = synthetic_corpus();
        let cv = cross_validate(dir.path(), Params::default()).expect("cv");
        assert_eq!(cv.folds.len() as u64, corpus::FOLDS);
        // Fold 1 is the held-out split, and fitting is deterministic: the same figures as `ml eval`.
        let held = train_and_evaluate(dir.path()).expect("held out");
        let f1 = &cv.folds[corpus::HELD_OUT_FOLD as usize];
        assert_eq!(
            serde_json::to_string(f1).expect("json"),
            serde_json::to_string(&held).expect("json")
        );
        // Every name is measured exactly once over the folds.
        let data = dataset_capped(dir.path(), usize::MAX).expect("data");
        let (nm, nb) = (
            data.iter().filter(|s| s.malicious).count(),
            data.iter().filter(|s| !s.malicious).count(),
        );
        assert_eq!(cv.folds.iter().map(|m| m.test_malicious).sum::<usize>(), nm);
        assert_eq!(cv.folds.iter().map(|m| m.test_benign).sum::<usize>(), nb);
        assert_eq!((cv.pooled.test_malicious, cv.pooled.test_benign), (nm, nb));
        assert_eq!(cv.pooled.test_families, 40);
        // Random letters under cheap suffixes against word pairs: unseen families are told apart.
        assert!(cv.pooled.roc_auc > 0.9, "{cv:?}");
        assert!(cv.roc_auc_min <= cv.roc_auc_mean && cv.roc_auc_mean <= cv.roc_auc_max);
        assert!(cv.roc_auc_sd >= 0.0);
    }

    /// [`char_stats`] with a compare chain per character, as the shape features were first written.
    fn char_stats_reference(d: &[u8]) -> CharStats {
        let mut t = CharStats::default();
        let (mut cons_run, mut digit_run) = (0u32, 0u32);
        for &c in d {
            let slot = match c {
                b'a'..=b'z' => (c - b'a') as usize,
                b'0'..=b'9' => 26 + (c - b'0') as usize,
                b'-' => 36,
                b'.' => 37,
                _ => 38,
            };
            t.counts[slot] += 1;
            t.present |= 1 << slot;
            if c.is_ascii_digit() {
                t.digits += 1;
                digit_run += 1;
                t.max_digit_run = t.max_digit_run.max(digit_run);
            } else {
                digit_run = 0;
            }
            match c {
                b'-' => t.hyphens += 1,
                b'.' => t.dots += 1,
                b'a' | b'e' | b'i' | b'o' | b'u' => t.vowels += 1,
                _ => {}
            }
            if c.is_ascii_lowercase() && !matches!(c, b'a' | b'e' | b'i' | b'o' | b'u' | b'y') {
                cons_run += 1;
                t.max_cons = t.max_cons.max(cons_run);
            } else {
                cons_run = 0;
            }
        }
        t
    }

    #[test]
    fn logarithm_tables_give_the_functions_bits() {
        for k in 0..600usize {
            assert_eq!(ln_int(k).to_bits(), (k as f32).ln().to_bits(), "ln {k}");
            assert_eq!(
                log2_int(k).to_bits(),
                (k as f32).log2().to_bits(),
                "log2 {k}"
            );
        }
    }

    #[test]
    fn dyn_set_index_answers_as_a_binary_search_does() {
        let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
        let name = |rng: &mut Rng| {
            let len = 3 + rng.next() % 12;
            let mut s: String = (0..len)
                .map(|_| (b'a' + (rng.next() % 26) as u8) as char)
                .collect();
            s.push_str(if rng.next().is_multiple_of(2) {
                ".org"
            } else {
                ".co.uk"
            });
            s
        };
        let members: Vec<String> = (0..20_000).map(|_| name(&mut rng)).collect();
        let set = DynSet::new(members.iter().map(String::as_str));
        let mut sorted: Vec<u64> = members.iter().map(|m| host_hash(m.as_bytes())).collect();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(set.hashes, sorted);
        // One slot per bucket and one for the end; the first and last buckets hold hashes (edge cases of the
        // index), as most buckets do at this size.
        assert_eq!(set.starts.len(), (1 << DYN_INDEX_BITS) + 1);
        assert!(set.starts[1] > 0);
        assert!((set.starts[(1 << DYN_INDEX_BITS) - 1] as usize) < sorted.len());
        let probes = members
            .iter()
            .cloned()
            .chain((0..20_000).map(|_| name(&mut rng)));
        let mut hits = 0;
        for p in probes {
            let want = sorted.binary_search(&host_hash(p.as_bytes())).is_ok();
            assert_eq!(set.contains(p.as_bytes()), want, "{p}");
            hits += usize::from(want);
        }
        assert!(hits >= members.len());
        assert!(!DynSet::default().contains(b"x.duckdns.org"));
    }

    #[test]
    fn table_driven_char_stats_equal_the_compare_chain() {
        let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
        let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789-._yyy\xc3\xa9*";
        for len in 0..80 {
            for _ in 0..40 {
                let d: Vec<u8> = (0..len)
                    .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
                    .collect();
                let (a, b) = (char_stats(&d), char_stats_reference(&d));
                assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&d));
            }
        }
        for d in [
            &b"www.xn--bcher-kva.example"[..],
            b"a1b2.example.com",
            b"",
            b"999-999.ru",
        ] {
            assert_eq!(char_stats(d), char_stats_reference(d));
        }
    }

    #[test]
    fn features_are_stable() {
        let mut a = Vec::new();
        let dy = DynSet::new([".duckdns.org"]);
        sparse_features(b"evil.com", &dy, &Lexicon::default(), |_, i| a.push(i));
        let mut b = Vec::new();
        sparse_features(b"evil.com", &dy, &Lexicon::default(), |_, i| b.push(i));
        let mut c = Vec::new();
        sparse_features(b"x.duckdns.org", &dy, &Lexicon::default(), |_, i| c.push(i));
        let mut e = Vec::new();
        sparse_features(
            b"x.duckdns.org",
            &DynSet::default(),
            &Lexicon::default(),
            |_, i| e.push(i),
        );
        assert_eq!(c.len(), e.len() + 1, "the provider feature fires");
        assert_eq!(a, b);
        assert!(a.iter().all(|i| *i < DIM));
        let d = dense_features(b"a1b2.example.com");
        assert!(d.iter().all(|x| x.is_finite()));
        let d = dense_features(b"");
        assert!(d.iter().all(|x| x.is_finite()));
        for c in [2usize, 3, 7, 64, 255] {
            assert!(
                (CLOGC[c] - c as f32 * (c as f32).log2()).abs() < 1e-3 * c as f32,
                "{c}"
            );
        }
    }
}
