//! ATT&CK technique tagging: a one-vs-rest logistic regression over TF-IDF word and bigram features (and
//! character n-grams when [`text::CHAR_GRAMS`] lists any) plus the sentence's mean word vector (word vectors
//! trained by [`crate::embed`] on unlabelled security prose) scores every sentence; a stacker over the sentence
//! scores decides the document's techniques, and the sentences that pass are its evidence.
//!
//! Training data (report-level split, never sentence-level): TRAM's annotated reports and sentences, TRAM's
//! bootstrap and analysed-report sentences, ATT&CK technique descriptions and procedure examples, TRAM's
//! negatives. Sentences from held-out reports are removed from every source before training.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::artifact::{self, Header, Reader, Writer};
use crate::attack::Attack;
use crate::corpus;
use crate::embed::{EmbedParams, Embeddings};
use crate::error::{MlError, Result};
use crate::text;

/// Artifact model name.
pub const MODEL: &str = "tagger";
/// Payload layout and feature version (3, never shipped: character 3-grams joined the word and bigram
/// features; 4: words and bigrams again, and the stacker sees a tenth statistic, the best sentence's logit over
/// the log of the sentence count, so a version-3 stacker would read the wrong table size; 5: the sentence model
/// also reads the sentence's mean word vector ([`EMBED_ALPHA`]): the payload gains a last section and the
/// regression more weight rows, which a version-4 build would misread).
pub const MODEL_VERSION: u32 = 5;
const MIN_DF: u32 = 3;
const EPOCHS: usize = 4;
const MAX_EVIDENCE: usize = 3;
/// A sentence after the best is cited only when it scores at least this share of the best one. Chosen on the
/// training reports scored out of fold (`ml_tagevidence`: the F1 of citation precision against TRAM's sentence
/// annotations and coverage of the annotated sentences is flat from 0.90 to 0.97, 0.593 at 0.93 against 0.552 with
/// the threshold alone); held out, precision went from 0.462 to 0.607 and coverage from 0.736 to 0.708.
const EVIDENCE_RELATIVE: f32 = 0.93;
const CENTROID_MIN: usize = 5;
const CENTROID_TERMS: usize = 64;
/// Neighbouring training reports whose annotations vote for a document's techniques.
const KNN: usize = 10;
/// Terms kept per stored training-report vector (the heaviest ones): bounds the artifact's size.
const REPORT_TERMS: usize = 512;

static EMBEDDED: &[u8] = include_bytes!("../models/tagger.vgm");

/// One technique found in a document, as the CLI prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TechniqueTag {
    /// ATT&CK id.
    pub id: String,
    /// The technique's ATT&CK name ("Phishing: Spearphishing Attachment"), filled in by callers that hold the
    /// names (the CLI, from the attribution model's ATT&CK tables); absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Document-level score in [0, 1] (the best sentence's probability).
    pub score: f64,
    /// The sentences that triggered the tag, best first.
    pub evidence: Vec<String>,
}

/// `{"techniques":[...]}`, best first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tagging {
    pub techniques: Vec<TechniqueTag>,
}

/// A document-level tag with its evidence as byte spans of the document ([`Tagger::tag_spans`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DocTag {
    /// Index of the class (technique) in the model.
    pub class: usize,
    /// Document-level score.
    pub score: f32,
    /// The cited sentences, best first.
    pub evidence: Vec<(usize, usize)>,
}

/// Per-sentence output of the tagger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceTags {
    /// Byte span of the sentence in the input text.
    pub start: usize,
    pub end: usize,
    /// (technique, probability) above threshold.
    pub techniques: Vec<(String, f64)>,
}

/// The trained tagger.
#[derive(Debug, Clone)]
pub struct Tagger {
    header: Header,
    classes: Vec<String>,
    /// Whether a class is one of TRAM's 50.
    #[allow(dead_code)]
    tram: Vec<bool>,
    /// TRAM's 50 technique ids.
    tram_list: Vec<String>,
    vocab_list: Vec<String>,
    vocab: HashMap<String, u32>,
    /// Character-gram features (`#...`) sort first in the vocabulary: their count, built on load.
    n_char: usize,
    idf: Vec<f32>,
    /// Number of leading classes scored by the logistic regression; the rest are scored by centroids.
    n_lr: usize,
    /// Weights, feature-major: `w[f * n_lr + c]`, quantised to i8 with one scale per class.
    w: Vec<i8>,
    /// Sparse TF-IDF centroids of the remaining classes (feature, weight), for techniques outside TRAM's 50
    /// that only ATT&CK and TRAM's extra sentences describe.
    centroids: Vec<Vec<(u32, f32)>>,
    /// The centroids inverted: feature -> (centroid, weight), built on load.
    postings: Vec<Vec<(u32, f32)>>,
    scale: Vec<f32>,
    bias: Vec<f32>,
    /// Sentence threshold per class (evidence); for centroid classes also the document threshold.
    threshold: Vec<f32>,
    /// Share of training reports annotated with each regression class.
    prior: Vec<f32>,
    /// Document-level stacker over sentence-score statistics (see [`doc_stats`]), and its threshold.
    stack: Vec<f32>,
    doc_threshold: f32,
    /// TF-IDF vectors of the training reports' prose text (sparse, unit length, heaviest terms only) and the
    /// regression classes each is annotated with: the nearest reports vote for a document's techniques,
    /// which brings in what reports of the same kind usually contain.
    reports: Vec<Vec<(u32, f32)>>,
    report_labels: Vec<Vec<u32>>,
    /// Word vectors trained on unlabelled security prose, and the length their sentence vector gets beside the
    /// unit TF-IDF vector: the regression's last `dims` feature rows weigh it. None: words and bigrams only.
    emb: Option<(Embeddings, f32)>,
}

/// A class's sentences by score: (score, byte start, byte end).
pub type SentenceHits = Vec<(f32, usize, usize)>;

/// Number of document statistics per class fed to the stacker.
const NS: usize = 10;

/// Sentence-score thresholds whose counts the stacker sees.
const COUNT_AT: [f32; 3] = [0.5, 0.2, 0.8];

/// One class's sentence scores over a document: the best three and the counts at [`COUNT_AT`].
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    top: [f32; 3],
    above: [u32; 3],
}

impl Acc {
    fn add(&mut self, v: f32) {
        let t = &mut self.top;
        if v > t[0] {
            *t = [v, t[0], t[1]];
        } else if v > t[1] {
            *t = [t[0], v, t[1]];
        } else if v > t[2] {
            t[2] = v;
        }
        for (n, at) in self.above.iter_mut().zip(COUNT_AT) {
            if v >= at {
                *n += 1;
            }
        }
    }
}

/// Statistics of one class over a document: best, second best, mean of the best three sentence scores, log
/// of the counts of sentences at 0.5, 0.2 and 0.8, logit of the class prior, log of the sentence count, the
/// similarity-weighted vote of the nearest training reports, and the best sentence's logit divided by the log
/// of the sentence count: in a short text one clear sentence is stronger evidence than the best of hundreds
/// (chosen on cross-validation over whole training reports and runs of 5-40 of their sentences).
fn doc_stats(a: &Acc, prior: f32, nsent: usize, knn: f32) -> [f32; NS] {
    let top = &a.top;
    let ln_n = (1.0 + nsent as f32).ln();
    [
        logit_of(top[0]),
        logit_of(top[1]),
        logit_of((top[0] + top[1] + top[2]) / 3.0),
        (1.0 + a.above[0] as f32).ln(),
        logit_of(prior),
        (1.0 + nsent as f32).ln(),
        (1.0 + a.above[1] as f32).ln(),
        (1.0 + a.above[2] as f32).ln(),
        knn,
        logit_of(top[0]) / ln_n.max(std::f32::consts::LN_2),
    ]
}

fn stack_prob(stack: &[f32], x: &[f32; NS]) -> f32 {
    let mut z = stack.get(NS).copied().unwrap_or(0.0);
    for k in 0..NS.min(stack.len()) {
        z += stack[k] * x[k];
    }
    sigmoid(z)
}

impl Tagger {
    /// The model built into this binary.
    pub fn embedded() -> Result<Self> {
        Self::from_bytes(EMBEDDED)
    }

    /// Loads from a file.
    pub fn from_path(p: &Path) -> Result<Self> {
        let b = std::fs::read(p)
            .map_err(|e| MlError::artifact(MODEL, format!("cannot read {}: {e}", p.display())))?;
        Self::from_bytes(&b)
    }

    /// Loads from artifact bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (header, payload) = artifact::open(bytes, MODEL, MODEL_VERSION)?;
        let mut r = Reader::new(payload, MODEL);
        let classes = r.strs()?;
        let tram_names = r.strs()?;
        let vocab_list = r.strs()?;
        let idf = r.f32s()?;
        let n_lr = r.u32()? as usize;
        let w = r.i8s()?;
        let scale = r.f32s()?;
        let bias = r.f32s()?;
        let threshold = r.f32s()?;
        let prior = r.f32s()?;
        let stack = r.f32s()?;
        let doc_threshold = r.f32()?;
        let nr = r.u32()? as usize;
        let mut reports = Vec::with_capacity(nr.min(100_000));
        let mut report_labels = Vec::with_capacity(nr.min(100_000));
        for _ in 0..nr {
            let idx = r.u32s()?;
            let val = r.f32s()?;
            let lab = r.u32s()?;
            if idx.len() != val.len()
                || idx.iter().any(|i| *i as usize >= vocab_list.len())
                || lab.iter().any(|l| *l as usize >= n_lr)
            {
                return Err(MlError::artifact(MODEL, "report table is inconsistent"));
            }
            reports.push(idx.into_iter().zip(val).collect());
            report_labels.push(lab);
        }
        let nc = r.u32()? as usize;
        let mut centroids = Vec::with_capacity(nc.min(10_000));
        for _ in 0..nc {
            let idx = r.u32s()?;
            let val = r.f32s()?;
            if idx.len() != val.len() || idx.iter().any(|i| *i as usize >= vocab_list.len()) {
                return Err(MlError::artifact(MODEL, "centroid table is inconsistent"));
            }
            centroids.push(idx.into_iter().zip(val).collect());
        }
        // Optional last section: the word vectors.
        let emb = if r.at_end() {
            None
        } else {
            let alpha = r.f32()?;
            Some((Embeddings::read(&mut r, MODEL)?, alpha))
        };
        r.finish()?;
        let c = classes.len();
        let dense = emb.as_ref().map_or(0, |e| e.0.dims());
        if idf.len() != vocab_list.len()
            || n_lr > c
            || w.len() != (vocab_list.len() + dense) * n_lr
            || scale.len() != n_lr
            || bias.len() != n_lr
            || threshold.len() != c
            || n_lr + centroids.len() != c
            || prior.len() != n_lr
            || stack.len() != NS + 1
        {
            return Err(MlError::artifact(MODEL, "table sizes do not agree"));
        }
        let tram_set: BTreeSet<&String> = tram_names.iter().collect();
        let tram = classes.iter().map(|k| tram_set.contains(k)).collect();
        let vocab = vocab_list
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        let postings = invert(&centroids, vocab_list.len());
        Ok(Tagger {
            header,
            classes,
            tram,
            tram_list: tram_names,
            n_char: char_prefix(&vocab_list),
            vocab_list,
            vocab,
            idf,
            n_lr,
            w,
            centroids,
            postings,
            scale,
            bias,
            threshold,
            prior,
            stack,
            doc_threshold,
            reports,
            report_labels,
            emb,
        })
    }

    /// Serialises into artifact bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.strs(&self.classes);
        w.strs(&self.tram_list);
        w.strs(&self.vocab_list);
        w.f32s(&self.idf);
        w.u32(self.n_lr as u32);
        w.i8s(&self.w);
        w.f32s(&self.scale);
        w.f32s(&self.bias);
        w.f32s(&self.threshold);
        w.f32s(&self.prior);
        w.f32s(&self.stack);
        w.f32(self.doc_threshold);
        w.u32(self.reports.len() as u32);
        for (v, l) in self.reports.iter().zip(&self.report_labels) {
            w.u32s(&v.iter().map(|x| x.0).collect::<Vec<_>>());
            w.f32s(&v.iter().map(|x| x.1).collect::<Vec<_>>());
            w.u32s(l);
        }
        w.u32(self.centroids.len() as u32);
        for c in &self.centroids {
            w.u32s(&c.iter().map(|x| x.0).collect::<Vec<_>>());
            w.f32s(&c.iter().map(|x| x.1).collect::<Vec<_>>());
        }
        if let Some((e, alpha)) = &self.emb {
            w.f32(*alpha);
            e.write(&mut w);
        }
        artifact::seal(&self.header, &w.buf)
    }

    /// The artifact header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Technique ids the model knows.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// True for TRAM's 50 techniques.
    pub fn is_tram_class(&self, id: &str) -> bool {
        self.tram_list.iter().any(|c| c == id)
    }

    fn vectorise(&self, s: &str) -> Vec<(u32, f32)> {
        vectorise(
            &self.vocab,
            &self.idf,
            self.emb.as_ref().map(|(e, a)| (e, *a)),
            s,
        )
    }

    /// Scores of every class for one sentence: probabilities for the regression classes, cosine similarity to
    /// the centroid for the others.
    pub fn sentence_probs(&self, s: &str) -> Vec<f32> {
        let x = self.vectorise(s);
        let c = self.n_lr;
        let mut z: Vec<f32> = vec![0.0; c];
        for (f, v) in &x {
            let row = &self.w[*f as usize * c..(*f as usize + 1) * c];
            for (zc, wc) in z.iter_mut().zip(row) {
                *zc += *wc as f32 * v;
            }
        }
        let mut out: Vec<f32> = z
            .iter()
            .enumerate()
            .map(|(k, zc)| sigmoid(zc * self.scale[k] + self.bias[k]))
            .collect();
        let base = out.len();
        out.resize(base + self.centroids.len(), 0.0);
        // Centroids hold words and bigrams only: the cosine is taken over that part of the sentence vector.
        let mut wn = 0f32;
        let nf = self.vocab_list.len();
        for (f, v) in x.iter().take_while(|(f, _)| (*f as usize) < nf) {
            if *f as usize >= self.n_char {
                wn += v * v;
            }
            if let Some(p) = self.postings.get(*f as usize) {
                for (k, w) in p {
                    out[base + *k as usize] += v * w;
                }
            }
        }
        if wn > 0.0 {
            let r = 1.0 / wn.sqrt();
            for o in &mut out[base..] {
                *o *= r;
            }
        }
        out
    }

    /// Scores of a sentence as in [`Tagger::sentence_probs`], each class at its best over the whole sentence,
    /// its clauses, and windows of a long clause. A sentence that describes two behaviours ("created a scheduled
    /// task and injected its code into explorer.exe") spreads its normalised TF-IDF weight over both, so neither
    /// passes on the whole sentence alone; its clauses each carry one. Text from PDFs often runs list items and
    /// table cells together into one long "sentence": windows of [`WINDOW_WORDS`] words (half overlapping) give
    /// each behaviour in it a piece of its own.
    pub fn sentence_clause_probs(&self, s: &str) -> Vec<f32> {
        let mut p = self.sentence_probs(s);
        let cl = text::clauses(s, CLAUSE_MIN_WORDS);
        let mut pieces: Vec<(usize, usize)> = if cl.len() > 1 { cl.clone() } else { Vec::new() };
        for (a, b) in cl {
            pieces.extend(
                text::word_windows(&s[a..b], WINDOW_WORDS)
                    .into_iter()
                    .map(|(x, y)| (a + x, a + y)),
            );
        }
        for (a, b) in pieces {
            for (x, y) in p.iter_mut().zip(self.sentence_probs(&s[a..b])) {
                *x = x.max(y);
            }
        }
        p
    }

    /// Tags every sentence of a text.
    pub fn tag_sentences(&self, doc: &str) -> Vec<SentenceTags> {
        text::sentences(doc)
            .into_iter()
            .filter(|(a, b)| !PROSE_ONLY || text::is_prose(&doc[*a..*b]))
            .map(|(a, b)| {
                let p = self.sentence_clause_probs(&doc[a..b]);
                let mut t: Vec<(String, f64)> = p
                    .iter()
                    .enumerate()
                    .filter(|(k, v)| **v >= self.threshold[*k])
                    .map(|(k, v)| (self.classes[k].clone(), crate::extract::round4(*v as f64)))
                    .collect();
                t.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
                SentenceTags {
                    start: a,
                    end: b,
                    techniques: t,
                }
            })
            .collect()
    }

    /// Document-level scores of every class, and for each class its sentences by score (score, start, end).
    pub fn doc_scores(&self, doc: &str) -> (Vec<f32>, Vec<SentenceHits>) {
        let mut per: Vec<Vec<(f32, usize, usize)>> = vec![Vec::new(); self.classes.len()];
        let (stats, best) = self.doc_raw_with(doc, &mut |k, v, a, b| {
            if v >= self.threshold[k] * 0.5 {
                per[k].push((v, a, b));
            }
        });
        let scores = best
            .iter()
            .enumerate()
            .map(|(k, top)| match stats.get(k) {
                Some(x) => stack_prob(&self.stack, x),
                None => *top,
            })
            .collect();
        for p in per.iter_mut() {
            p.sort_by(|x, y| y.0.total_cmp(&x.0).then_with(|| x.1.cmp(&y.1)));
        }
        (scores, per)
    }

    /// For study: a regression class's stacker statistics over a document, the stacker's weights and the
    /// document threshold.
    #[doc(hidden)]
    pub fn explain(&self, doc: &str, id: &str) -> Option<(Vec<f32>, Vec<f32>, f32)> {
        let k = self.classes[..self.n_lr].iter().position(|c| c == id)?;
        let (stats, _) = self.doc_raw_with(doc, &mut |_, _, _, _| {});
        Some((
            stats.get(k)?.to_vec(),
            self.stack.clone(),
            self.doc_threshold,
        ))
    }

    fn doc_decides(&self, k: usize, score: f32) -> bool {
        if k < self.n_lr {
            score >= self.doc_threshold
        } else {
            score >= self.threshold[k]
        }
    }

    /// Document-level tags with their evidence sentences ([`Tagger::tag_spans`]), best first.
    pub fn tag(&self, doc: &str) -> Tagging {
        let mut out: Vec<TechniqueTag> = self
            .tag_spans(doc)
            .into_iter()
            .map(|t| TechniqueTag {
                id: self.classes[t.class].clone(),
                name: None,
                score: crate::extract::round4(t.score as f64),
                evidence: t.evidence.iter().map(|&(a, b)| clip(&doc[a..b])).collect(),
            })
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        Tagging { techniques: out }
    }

    /// The document's tags with their evidence sentences as byte spans, best first. A tag cites
    /// its best sentence and up to [`MAX_EVIDENCE`] - 1 more that pass the class's sentence threshold and score
    /// at least [`EVIDENCE_RELATIVE`] times the best: a second sentence far below the best is more often about
    /// something else (measured on TRAM's annotations, see that constant).
    pub fn tag_spans(&self, doc: &str) -> Vec<DocTag> {
        let (scores, per) = self.doc_scores(doc);
        let mut out = Vec::new();
        for (k, sc) in scores.iter().enumerate() {
            if !self.doc_decides(k, *sc) {
                continue;
            }
            let Some(&(best, a0, b0)) = per[k].first() else {
                continue;
            };
            let floor = self.threshold[k].max(EVIDENCE_RELATIVE * best);
            let mut ev: Vec<(usize, usize)> = per[k]
                .iter()
                .take(MAX_EVIDENCE)
                .take_while(|x| x.0 >= floor)
                .map(|x| (x.1, x.2))
                .collect();
            if ev.is_empty() {
                ev.push((a0, b0));
            }
            out.push(DocTag {
                class: k,
                score: *sc,
                evidence: ev,
            });
        }
        out
    }

    /// Technique ids the document-level decision keeps.
    pub fn doc_techniques(&self, doc: &str) -> BTreeSet<String> {
        let (scores, _) = self.doc_scores(doc);
        scores
            .iter()
            .enumerate()
            .filter(|(k, s)| self.doc_decides(*k, **s))
            .map(|(k, _)| self.classes[k].clone())
            .collect()
    }

    /// Per-class statistics for stacking (regression classes) and best scores (all classes), also handing
    /// every (class, sentence score, sentence start, end) to `each`.
    fn doc_raw_with(
        &self,
        doc: &str,
        each: &mut dyn FnMut(usize, f32, usize, usize),
    ) -> (Vec<[f32; NS]>, Vec<f32>) {
        let spans = prose_sentences(doc);
        let mut acc = vec![Acc::default(); self.classes.len()];
        for &(a, b) in &spans {
            for (k, v) in self
                .sentence_clause_probs(&doc[a..b])
                .into_iter()
                .enumerate()
            {
                acc[k].add(v);
                each(k, v, a, b);
            }
        }
        let knn = self.knn_votes(doc, &spans);
        let stats = self.class_stats(&acc, spans.len(), &knn);
        (stats, acc.iter().map(|a| a.top[0]).collect())
    }

    /// The stacker's statistics of every regression class over a document of `nsent` prose sentences.
    fn class_stats(&self, acc: &[Acc], nsent: usize, knn: &[f32]) -> Vec<[f32; NS]> {
        (0..self.n_lr)
            .map(|k| doc_stats(&acc[k], self.prior[k], nsent, knn[k]))
            .collect()
    }

    /// Log term frequencies (vocabulary terms) of a document's prose sentences read as one text.
    fn doc_tf(&self, doc: &str, spans: &[(usize, usize)]) -> BTreeMap<u32, f32> {
        let mut tf: BTreeMap<u32, f32> = BTreeMap::new();
        for &(a, b) in spans {
            for f in text::features(&doc[a..b]) {
                if let Some(&i) = self.vocab.get(&f) {
                    *tf.entry(i).or_default() += 1.0;
                }
            }
        }
        for v in tf.values_mut() {
            *v = 1.0 + v.ln();
        }
        tf
    }

    /// For each regression class, the similarity-weighted share of the [`KNN`] most similar training reports
    /// annotated with it (0 when the model stores no reports).
    fn knn_votes(&self, doc: &str, spans: &[(usize, usize)]) -> Vec<f32> {
        let mut out = vec![0f32; self.n_lr];
        if self.reports.is_empty() {
            return out;
        }
        // Stored vectors carry the report-level IDF twice (vector and query side), so the query needs only its
        // term frequencies; its norm is the same for every candidate and cancels in the vote.
        let q = self.doc_tf(doc, spans);
        let mut sims: Vec<(f32, usize)> = self
            .reports
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let s: f32 = v
                    .iter()
                    .map(|(f, x)| x * q.get(f).copied().unwrap_or(0.0))
                    .sum();
                (s, i)
            })
            .collect();
        sims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        sims.truncate(KNN);
        let total: f32 = sims.iter().map(|x| x.0).sum::<f32>().max(1e-6);
        for (s, i) in &sims {
            for l in &self.report_labels[*i] {
                out[*l as usize] += s / total;
            }
        }
        out
    }

    /// Stores the training reports for the neighbour vote.
    fn set_reports(&mut self, docs: &[&Report]) {
        let cidx: HashMap<&str, u32> = self.classes[..self.n_lr]
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i as u32))
            .collect();
        self.reports.clear();
        self.report_labels.clear();
        let tfs: Vec<BTreeMap<u32, f32>> = docs
            .iter()
            .map(|r| self.doc_tf(&r.text, &prose_sentences(&r.text)))
            .collect();
        // Report-level IDF: terms in a single report or in half of them or more say nothing about similarity.
        let mut df: HashMap<u32, f32> = HashMap::new();
        for t in &tfs {
            for f in t.keys() {
                *df.entry(*f).or_default() += 1.0;
            }
        }
        let n = docs.len() as f32;
        let idf = |f: &u32| {
            let d = df.get(f).copied().unwrap_or(0.0);
            if d >= 2.0 && d < n * 0.5 {
                (n / d).ln()
            } else {
                0.0
            }
        };
        for (r, tf) in docs.iter().zip(&tfs) {
            let mut v: Vec<(u32, f32)> = tf
                .iter()
                .map(|(f, x)| (*f, x * idf(f)))
                .filter(|x| x.1 > 0.0)
                .collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            v.truncate(REPORT_TERMS);
            let norm = v.iter().map(|x| x.1 * x.1).sum::<f32>().sqrt().max(1e-9);
            for x in v.iter_mut() {
                x.1 = x.1 / norm * idf(&x.0);
            }
            v.sort_by_key(|x| x.0);
            self.reports.push(v);
            self.report_labels.push(
                r.techniques()
                    .iter()
                    .filter_map(|t| cidx.get(t.as_str()).copied())
                    .collect(),
            );
        }
    }
}

/// Only sentences that read as prose are tagged (hash lists, tables of contents, markup and IOC tables are not
/// descriptions of behaviour; they used to trigger tags with meaningless evidence).
const PROSE_ONLY: bool = true;
/// Shortest clause (in words) scored on its own: shorter pieces stay with their sentence.
const CLAUSE_MIN_WORDS: usize = 5;
/// Words per window of a long clause (chosen on cross-validation: 6, 8, 10, 12, 16, 20 measured).
const WINDOW_WORDS: usize = 8;

fn prose_sentences(doc: &str) -> Vec<(usize, usize)> {
    let mut v = text::sentences(doc);
    if PROSE_ONLY {
        v.retain(|(a, b)| text::is_prose(&doc[*a..*b]));
    }
    v
}

/// Number of leading character-gram features of a sorted vocabulary (`#` sorts before letters and digits).
fn char_prefix(vocab_list: &[String]) -> usize {
    vocab_list
        .iter()
        .position(|s| !s.starts_with('#'))
        .unwrap_or(vocab_list.len())
}

fn invert(centroids: &[Vec<(u32, f32)>], nf: usize) -> Vec<Vec<(u32, f32)>> {
    let mut p: Vec<Vec<(u32, f32)>> = vec![Vec::new(); nf];
    for (k, c) in centroids.iter().enumerate() {
        for (f, w) in c {
            p[*f as usize].push((k as u32, *w));
        }
    }
    p
}

fn logit_of(p: f32) -> f32 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

fn clip(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() <= 400 {
        return s;
    }
    let mut end = 400;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[inline]
fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// The sentence model's input: the unit TF-IDF vector of the words and bigrams, then, with word vectors
/// `dense = (vectors, alpha)`, the sentence's mean word vector at length `alpha` as features
/// `vocab.len()..vocab.len() + dims` (in that order, after every sparse feature).
fn vectorise(
    vocab: &HashMap<String, u32>,
    idf: &[f32],
    dense: Option<(&Embeddings, f32)>,
    s: &str,
) -> Vec<(u32, f32)> {
    let mut tf: BTreeMap<u32, f32> = BTreeMap::new();
    let feats = text::features(s);
    for f in &feats {
        if let Some(&i) = vocab.get(f) {
            *tf.entry(i).or_default() += 1.0;
        }
    }
    let mut v: Vec<(u32, f32)> = tf
        .into_iter()
        .map(|(i, c)| (i, (1.0 + c.ln()) * idf[i as usize]))
        .collect();
    let n = v.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        for (_, x) in v.iter_mut() {
            *x /= n;
        }
    }
    if let Some((e, alpha)) = dense {
        let mut d = vec![0f32; e.dims()];
        // The unigrams of `features`: no space (bigram) and no `#` (character gram).
        let words = feats
            .iter()
            .filter(|f| !f.contains(' ') && !f.starts_with('#'))
            .map(String::as_str);
        if e.sentence(words, &mut d) {
            let base = vocab.len() as u32;
            v.extend(
                d.iter()
                    .enumerate()
                    .map(|(j, x)| (base + j as u32, alpha * x)),
            );
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------------------
// Corpus

/// One annotated TRAM report.
#[derive(Debug, Clone)]
pub struct Report {
    pub title: String,
    pub text: String,
    /// (byte start, byte end, technique id)
    pub spans: Vec<(usize, usize, String)>,
    pub path: PathBuf,
}

impl Report {
    /// Techniques annotated anywhere in the report.
    pub fn techniques(&self) -> BTreeSet<String> {
        self.spans.iter().map(|s| s.2.clone()).collect()
    }

    /// True when the report is on the evaluation side of our split.
    pub fn is_dev(&self) -> bool {
        corpus::is_test_key(&text::title_key(&self.title))
    }
}

fn technique_in(label: &str) -> Option<String> {
    let open = label.rfind("(T")?;
    let close = label[open..].find(')')? + open;
    let id = &label[open + 1..close];
    let ok = id.len() >= 5 && id[1..5].bytes().all(|b| b.is_ascii_digit());
    ok.then(|| id.to_string())
}

/// Reads TRAM's `mjson_files/*.mjson` (full report texts with span annotations).
pub fn load_reports(corpus_dir: &Path) -> Result<Vec<Report>> {
    let dir = corpus_dir.join("tram/mjson_files");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| MlError::io(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mjson"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let v = corpus::read_json(&f)?;
        let signal = v
            .get("signal")
            .and_then(Value::as_str)
            .ok_or_else(|| MlError::corpus(&f, "no `signal` text"))?
            .to_string();
        let title = signal
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("title: "))
            .unwrap_or_else(|| f.file_stem().and_then(|s| s.to_str()).unwrap_or(""))
            .to_string();
        // mjson offsets count Unicode code points.
        let byte_at: Vec<usize> = signal
            .char_indices()
            .map(|(b, _)| b)
            .chain(std::iter::once(signal.len()))
            .collect();
        let mut spans = Vec::new();
        for a in v
            .get("asets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(id) = a.get("type").and_then(Value::as_str).and_then(technique_in) else {
                continue;
            };
            for an in a
                .get("annots")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (Some(s), Some(e)) = (
                    an.get(0).and_then(Value::as_u64),
                    an.get(1).and_then(Value::as_u64),
                ) else {
                    continue;
                };
                let (s, e) = (s as usize, e as usize);
                if s < e && e < byte_at.len() {
                    spans.push((byte_at[s], byte_at[e], id.clone()));
                }
            }
        }
        spans.sort();
        out.push(Report {
            title,
            text: signal,
            spans,
            path: f,
        });
    }
    if out.is_empty() {
        return Err(MlError::EmptyCorpus {
            path: dir,
            task: "tag".into(),
            reason: "no .mjson report".into(),
        });
    }
    Ok(out)
}

/// A training sentence.
#[derive(Debug, Clone)]
struct Example {
    text: String,
    labels: BTreeSet<String>,
}

fn norm_text(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(|c| c.to_lowercase())
        .collect()
}

/// Sentences of a report with the techniques whose annotation overlaps them.
fn report_examples(r: &Report) -> Vec<Example> {
    text::sentences(&r.text)
        .into_iter()
        .map(|(a, b)| {
            let labels = r
                .spans
                .iter()
                .filter(|(s, e, _)| {
                    let ov = (*e).min(b).saturating_sub((*s).max(a));
                    ov > 0 && (ov * 2 >= (e - s).min(b - a))
                })
                .map(|(_, _, t)| t.clone())
                .collect();
            Example {
                text: r.text[a..b].to_string(),
                labels,
            }
        })
        .collect()
}

/// Everything the tagger trains on, before featurisation.
struct Sources {
    reports: Vec<Report>,
    /// (doc title key, text, label) from single_label.train.json
    single: Vec<(String, String, String)>,
    /// (text, labels) from bootstrap, analysed reports and ATT&CK
    external: Vec<(String, BTreeSet<String>)>,
    negatives: Vec<String>,
    tram_classes: Vec<String>,
    all_ids: BTreeSet<String>,
    /// Unlabelled security prose for the word vectors (empty when they are off).
    prose: Vec<String>,
}

fn load_sources(corpus_dir: &Path) -> Result<Sources> {
    let reports = load_reports(corpus_dir)?;
    let tram = corpus_dir.join("tram");
    let classes_txt =
        String::from_utf8_lossy(&corpus::read(&tram.join("classes.txt"))?).into_owned();
    let tram_classes: Vec<String> = classes_txt
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let mut single = Vec::new();
    let sl = corpus::read_json(&tram.join("single_label.train.json"))?;
    for x in sl.as_array().into_iter().flatten() {
        if let (Some(t), Some(l), Some(d)) = (
            x.get("text").and_then(Value::as_str),
            x.get("label").and_then(Value::as_str),
            x.get("doc_title").and_then(Value::as_str),
        ) {
            single.push((text::title_key(d), t.to_string(), l.to_string()));
        }
    }
    // One parse of the bundle for the techniques and, below, the prose of the word vectors.
    let (bundle, bundle_path) = crate::attack::read_bundle(corpus_dir)?;
    let attack = Attack::from_bundle(&bundle, &bundle_path)?;
    let mut external: Vec<(String, BTreeSet<String>)> = Vec::new();
    let bp = tram.join("bootstrap-training-data.filtered.json");
    let b = corpus::read_json(&bp)?;
    for s in b
        .get("sentences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(t) = s.get("text").and_then(Value::as_str) else {
            continue;
        };
        let labels: BTreeSet<String> = s
            .get("mappings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("attack_id").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        external.push((t.to_string(), labels));
    }
    // all_analyzed_reports: technique name -> sentences.
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in attack.techniques.values() {
        by_name
            .entry(t.name.to_lowercase())
            .or_default()
            .push(t.id.clone());
    }
    let aa = corpus::read_json(&tram.join("all_analyzed_reports.json"))?;
    if let Some(m) = aa.as_object() {
        for (name, sents) in m {
            let ids = by_name.get(&name.to_lowercase());
            let Some(ids) = ids.filter(|v| v.len() == 1) else {
                continue;
            };
            for s in sents
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                external.push((s.to_string(), std::iter::once(ids[0].clone()).collect()));
            }
        }
    }
    for t in attack.techniques.values() {
        let label: BTreeSet<String> = std::iter::once(t.id.clone()).collect();
        for (a, b) in text::sentences(&t.description).into_iter().take(4) {
            external.push((t.description[a..b].to_string(), label.clone()));
        }
        for p in &t.procedures {
            external.push((p.clone(), label.clone()));
        }
    }
    let neg = corpus::read_json(&tram.join("negative_data.json"))?;
    let negatives: Vec<String> = neg
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let all_ids = attack.techniques.keys().cloned().collect();
    let prose = if embed_setting().is_some() {
        crate::embed::security_prose_with(corpus_dir, Some(&bundle))?
    } else {
        Vec::new()
    };
    Ok(Sources {
        reports,
        single,
        external,
        negatives,
        tram_classes,
        all_ids,
        prose,
    })
}

/// Length of a sentence's mean word vector beside its unit TF-IDF vector in the sentence model's input (0 turns
/// word vectors off). Chosen on cross-validation by report over the training reports: 1, 2 and 4 measured
/// (whole-report F1 0.7045 / 0.7124 / 0.7125; words and bigrams alone 0.664); 4 reached 0.721 on the held-out
/// reports (BENCHMARKS.md, 2026-11-30 session 10). 0 needs [`MODEL_VERSION`] 4 (no word-vector section).
const EMBED_ALPHA: f32 = 4.0;

/// Word-vector settings and [`EMBED_ALPHA`]; None when word vectors are off.
fn embed_setting() -> Option<(EmbedParams, f32)> {
    (EMBED_ALPHA > 0.0).then_some((EmbedParams::default(), EMBED_ALPHA))
}

/// Hashes of every run of [`SHINGLE_WORDS`] consecutive words of a text (lower-case [`text::words`]).
fn shingles(t: &str, each: &mut dyn FnMut(u64) -> bool) -> bool {
    let hs: Vec<u64> = text::words(t)
        .iter()
        .map(|w| {
            w.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            })
        })
        .collect();
    hs.windows(SHINGLE_WORDS).any(|win| {
        each(
            win.iter()
                .fold(0u64, |h, x| h.rotate_left(7).wrapping_mul(31) ^ x),
        )
    })
}

/// Words per shingle: a sentence sharing a run of this many words with a held-out report is its text.
const SHINGLE_WORDS: usize = 8;

/// The word vectors of a model trained on the reports `train` with training sentences `exs`: learnt from the
/// unlabelled prose, those sentences and the training reports' prose, sentence by sentence, leaving out every
/// sentence that shares [`SHINGLE_WORDS`] consecutive words with a `held_out` report (sources quote reports).
fn train_embeddings(
    src: &Sources,
    exs: &[Example],
    train: &[&Report],
    held_out: &[&Report],
) -> Option<(Embeddings, f32)> {
    let (p, alpha) = embed_setting()?;
    let mut held: std::collections::HashSet<u64> = std::collections::HashSet::new();
    for r in held_out {
        shingles(&r.text, &mut |h| {
            held.insert(h);
            false
        });
    }
    let texts = src
        .prose
        .iter()
        .map(String::as_str)
        .chain(exs.iter().map(|e| e.text.as_str()))
        .chain(train.iter().map(|r| r.text.as_str()));
    let mut sents: Vec<&str> = Vec::new();
    for t in texts {
        for (a, b) in text::sentences(t) {
            let s = &t[a..b];
            if !shingles(s, &mut |h| held.contains(&h)) {
                sents.push(s);
            }
        }
    }
    Some((Embeddings::train(sents, &p), alpha))
}

/// Builds the training examples, excluding every text found in the `held_out` reports.
fn examples(src: &Sources, train_docs: &BTreeSet<String>, held_out: &[&Report]) -> Vec<Example> {
    let held: Vec<String> = held_out.iter().map(|r| norm_text(&r.text)).collect();
    let held_all = held.join("|");
    let finder_leaks = |t: &str| {
        let n = norm_text(t);
        n.len() >= 20 && memchr::memmem::find(held_all.as_bytes(), n.as_bytes()).is_some()
    };
    let mut merged: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    let mut add = |t: &str, labels: BTreeSet<String>| {
        let key = norm_text(t);
        if key.len() < 8 {
            return;
        }
        let e = merged
            .entry(key)
            .or_insert_with(|| (t.to_string(), BTreeSet::new()));
        e.1.extend(labels);
    };
    for r in src
        .reports
        .iter()
        .filter(|r| train_docs.contains(&text::title_key(&r.title)))
    {
        for ex in report_examples(r) {
            add(&ex.text, ex.labels);
        }
    }
    for (d, t, l) in &src.single {
        if train_docs.contains(d) {
            add(t, std::iter::once(l.clone()).collect());
        }
    }
    for (t, l) in &src.external {
        if !finder_leaks(t) {
            add(t, l.clone());
        }
    }
    for t in &src.negatives {
        if !finder_leaks(t) {
            add(t, BTreeSet::new());
        }
    }
    merged
        .into_values()
        .map(|(text, labels)| Example { text, labels })
        .collect()
}

/// Trains a tagger on `exs`; classes are the techniques with at least `min_pos` positive sentences.
fn fit(
    exs: &[Example],
    tram_classes: &[String],
    all_ids: &BTreeSet<String>,
    header: Header,
    threshold: f32,
    cent_threshold: f32,
    emb: Option<(Embeddings, f32)>,
) -> Tagger {
    // Vocabulary by document frequency, in sorted order.
    let mut df: BTreeMap<String, u32> = BTreeMap::new();
    let feats: Vec<Vec<String>> = exs.iter().map(|e| text::features(&e.text)).collect();
    for f in &feats {
        let uniq: BTreeSet<&String> = f.iter().collect();
        for u in uniq {
            *df.entry(u.clone()).or_default() += 1;
        }
    }
    let n = exs.len() as f32;
    let vocab_list: Vec<String> = df
        .iter()
        .filter(|(_, c)| **c >= MIN_DF)
        .map(|(k, _)| k.clone())
        .collect();
    let idf: Vec<f32> = vocab_list
        .iter()
        .map(|k| (n / df[k] as f32).ln() + 1.0)
        .collect();
    let vocab: HashMap<String, u32> = vocab_list
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), i as u32))
        .collect();
    let mut pos: BTreeMap<&str, usize> = BTreeMap::new();
    for e in exs {
        for l in &e.labels {
            *pos.entry(l.as_str()).or_default() += 1;
        }
    }
    let tram_set: BTreeSet<&str> = tram_classes.iter().map(String::as_str).collect();
    let mut classes: Vec<String> = tram_classes.to_vec();
    classes.sort();
    let cidx: BTreeMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let c = classes.len();
    let dense = emb.as_ref().map(|(e, a)| (e, *a));
    let xs: Vec<Vec<(u32, f32)>> = exs
        .iter()
        .map(|e| vectorise(&vocab, &idf, dense, &e.text))
        .collect();
    let ys: Vec<Vec<usize>> = exs
        .iter()
        .map(|e| {
            e.labels
                .iter()
                .filter_map(|l| cidx.get(l.as_str()).copied())
                .collect()
        })
        .collect();
    let nf = vocab_list.len() + dense.map_or(0, |(e, _)| e.dims());
    let mut w = vec![0f32; nf * c];
    let mut g2 = vec![1e-8f32; nf * c];
    let mut bias = vec![-3f32; c];
    let mut bg2 = vec![1e-8f32; c];
    // Positives are rare for each class: weigh them up so the per-class loss is not all negatives.
    let pos_w: Vec<f32> = classes
        .iter()
        .map(|k| {
            ((n / pos.get(k.as_str()).copied().unwrap_or(1).max(1) as f32).sqrt()).clamp(1.0, 20.0)
        })
        .collect();
    let lr = 0.3f32;
    let mut order: Vec<usize> = (0..exs.len()).collect();
    let mut rng = crate::domain::Rng::new(0x07a6_6e12);
    let mut z = vec![0f32; c];
    let mut g = vec![0f32; c];
    for _ in 0..EPOCHS {
        rng.shuffle(&mut order);
        for &i in &order {
            let x = &xs[i];
            z.copy_from_slice(&bias);
            for (f, v) in x {
                let row = &w[*f as usize * c..(*f as usize + 1) * c];
                for (zc, wc) in z.iter_mut().zip(row) {
                    *zc += wc * v;
                }
            }
            for k in 0..c {
                g[k] = sigmoid(z[k]);
            }
            for &k in &ys[i] {
                g[k] = (g[k] - 1.0) * pos_w[k];
            }
            for (f, v) in x {
                let base = *f as usize * c;
                let row = &mut w[base..base + c];
                let acc = &mut g2[base..base + c];
                for k in 0..c {
                    let gk = g[k] * v;
                    acc[k] += gk * gk;
                    row[k] -= lr * gk / acc[k].sqrt();
                }
            }
            for k in 0..c {
                bg2[k] += g[k] * g[k];
                bias[k] -= lr * g[k] / bg2[k].sqrt();
            }
        }
    }
    // Quantise per class to i8.
    let mut scale = vec![0f32; c];
    for k in 0..c {
        let m = (0..nf).map(|f| w[f * c + k].abs()).fold(0f32, f32::max);
        scale[k] = if m > 0.0 { m / 127.0 } else { 1.0 };
    }
    let wq: Vec<i8> = (0..nf * c)
        .map(|i| (w[i] / scale[i % c]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    // Centroids for every other technique with enough sentences.
    let mut sums: BTreeMap<&str, (BTreeMap<u32, f32>, usize)> = BTreeMap::new();
    for (e, x) in exs.iter().zip(&xs) {
        for l in &e.labels {
            if tram_set.contains(l.as_str()) || !all_ids.contains(l) {
                continue;
            }
            let s = sums.entry(l.as_str()).or_default();
            // Words and bigrams only: character grams are shared by most texts and would fill the centroid's
            // heaviest terms with grams like `ing`, making every centroid alike.
            for (f, v) in x.iter().filter(|(f, _)| {
                vocab_list
                    .get(*f as usize)
                    .is_some_and(|t| !t.starts_with('#'))
            }) {
                *s.0.entry(*f).or_default() += v;
            }
            s.1 += 1;
        }
    }
    let mut centroids = Vec::new();
    for (k, (sum, cnt)) in sums {
        if cnt < CENTROID_MIN {
            continue;
        }
        let mut v: Vec<(u32, f32)> = sum.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(CENTROID_TERMS);
        let norm = v.iter().map(|x| x.1 * x.1).sum::<f32>().sqrt().max(1e-9);
        for x in v.iter_mut() {
            x.1 /= norm;
        }
        v.sort_by_key(|x| x.0);
        classes.push(k.to_string());
        centroids.push(v);
    }
    let tram: Vec<bool> = classes
        .iter()
        .map(|k| tram_set.contains(k.as_str()))
        .collect();
    let mut thr = vec![threshold; c];
    thr.resize(classes.len(), cent_threshold);
    let mut stack = vec![0f32; NS + 1];
    stack[0] = 1.0;
    stack[NS] = -logit_of(threshold);
    let postings = invert(&centroids, vocab_list.len());
    Tagger {
        header,
        classes,
        tram,
        tram_list: tram_classes.to_vec(),
        n_char: char_prefix(&vocab_list),
        vocab_list,
        vocab,
        idf,
        n_lr: c,
        w: wq,
        centroids,
        postings,
        scale,
        bias,
        threshold: thr,
        prior: vec![0.5; c],
        stack,
        doc_threshold: 0.5,
        reports: Vec::new(),
        report_labels: Vec::new(),
        emb,
    }
}

/// Document-level micro-averaged P/R/F1.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DocF1 {
    pub documents: usize,
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

fn doc_f1(pairs: &[(BTreeSet<String>, BTreeSet<String>)]) -> DocF1 {
    let mut m = DocF1 {
        documents: pairs.len(),
        ..Default::default()
    };
    for (pred, truth) in pairs {
        let tp = pred.intersection(truth).count() as u64;
        m.tp += tp;
        m.fp += pred.len() as u64 - tp;
        m.fn_ += truth.len() as u64 - tp;
    }
    let p = if m.tp + m.fp == 0 {
        0.0
    } else {
        m.tp as f64 / (m.tp + m.fp) as f64
    };
    let r = if m.tp + m.fn_ == 0 {
        0.0
    } else {
        m.tp as f64 / (m.tp + m.fn_) as f64
    };
    m.precision = crate::extract::round4(p);
    m.recall = crate::extract::round4(r);
    m.f1 = crate::extract::round4(if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    });
    m
}

/// Held-out tagging metrics.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TagMetrics {
    /// Per-document micro F1 over TRAM's 50 techniques, on held-out reports.
    pub tram50: DocF1,
    /// Per-document micro F1 over every technique the reports are annotated with.
    pub all_techniques: DocF1,
    /// As `all_techniques`, counting only the tags the annotation can judge: those of techniques annotated in
    /// at least one report of the corpus ([`annotated_techniques`]; for TRAM its 50 and 27 sub-techniques of
    /// five of them). A tag of another technique (PowerShell, T1059.001, say) is never annotated, so
    /// `all_techniques` counts it as wrong whether or not the report describes it.
    pub judgeable_techniques: DocF1,
    /// Tags of techniques annotated in none of the corpus's reports (not counted in `judgeable_techniques`),
    /// over all the measured reports.
    pub unjudged_tags: usize,
    /// TRAM-50 per-document micro F1 where a document is its annotated sentences (TRAM's sentence files
    /// grouped by report; each sentence tagged with its best technique when above the sentence threshold).
    pub tram50_annotated_sentences: DocF1,
    /// Sentence-level top-1 accuracy on those sentences.
    pub sentence_top1_accuracy: f64,
    /// The sentences cited by correct TRAM-50 tags on full report text, against the report's annotations.
    pub evidence: EvidenceMetrics,
    /// TRAM-50 per-document micro F1 (full report text) of the 4-fold cross-validation by report over the
    /// training reports: the validation figure the thresholds are chosen on (held-out reports not involved).
    pub cv_tram50_f1: f64,
    /// Document threshold of the regression classes (chosen by cross-validation on the training reports).
    pub threshold: f64,
    /// Threshold of the centroid classes (2 = off: centroids did not help in cross-validation).
    pub centroid_threshold: f64,
    pub train_reports: usize,
    pub heldout_reports: usize,
    pub train_sentences: usize,
    pub classes: usize,
}

/// The techniques a corpus's annotators use: those annotated in at least one of its reports. TRAM's annotators
/// use its 50 and 27 sub-techniques of five of them (T1027, T1055, T1078, T1090, T1110), nothing else; on full
/// reports a tag of any other technique can be neither confirmed nor refuted by them.
pub fn annotated_techniques<'a>(reports: impl IntoIterator<Item = &'a Report>) -> BTreeSet<String> {
    reports.into_iter().flat_map(|r| r.techniques()).collect()
}

/// Predicted and true technique sets of the measured reports, counted three ways: TRAM's 50 techniques; every
/// technique; every annotated technique and the tags of techniques the annotators use
/// ([`annotated_techniques`]).
struct Sets {
    tram: Vec<(BTreeSet<String>, BTreeSet<String>)>,
    all: Vec<(BTreeSet<String>, BTreeSet<String>)>,
    judgeable: Vec<(BTreeSet<String>, BTreeSet<String>)>,
}

impl Sets {
    fn of(m: &Tagger, reports: &[&Report], annotated: &BTreeSet<String>) -> Sets {
        let mut sets = Sets {
            tram: Vec::new(),
            all: Vec::new(),
            judgeable: Vec::new(),
        };
        let only = |keep: &dyn Fn(&str) -> bool, x: &BTreeSet<String>| -> BTreeSet<String> {
            x.iter().filter(|t| keep(t)).cloned().collect()
        };
        let tram = |t: &str| m.is_tram_class(t);
        let judge = |t: &str| annotated.contains(t);
        for r in reports {
            let pred = m.doc_techniques(&r.text);
            let truth = r.techniques();
            sets.tram.push((only(&tram, &pred), only(&tram, &truth)));
            sets.judgeable.push((only(&judge, &pred), truth.clone()));
            sets.all.push((pred, truth));
        }
        sets
    }
}

/// One cross-validated report: stacker statistics of the regression classes, best scores of the centroid
/// classes, and the annotated techniques.
struct Run {
    stats: Vec<(String, [f32; NS])>,
    cent: Vec<(String, f32)>,
    truth: BTreeSet<String>,
    /// A whole report (else a snippet: a run of its sentences).
    whole: bool,
    /// Weight in the stacker's fit.
    weight: f32,
}

fn priors(classes: &[String], docs: &[&Report]) -> Vec<f32> {
    let n = docs.len() as f32;
    classes
        .iter()
        .map(|c| {
            (docs
                .iter()
                .filter(|r| r.spans.iter().any(|s| &s.2 == c))
                .count() as f32
                + 1.0)
                / (n + 2.0)
        })
        .collect()
}

/// Fits the stacker (logistic regression, full-batch gradient descent from zero: deterministic).
fn fit_stacker(runs: &[Run]) -> Vec<f32> {
    let data: Vec<(&[f32; NS], f32, f32)> = runs
        .iter()
        .flat_map(|r| {
            r.stats
                .iter()
                .map(move |(c, x)| (x, if r.truth.contains(c) { 1.0 } else { 0.0 }, r.weight))
        })
        .collect();
    // Fitted on standardised statistics (their scales differ by orders of magnitude), then folded back
    // into weights over the raw statistics.
    let n = data.iter().map(|x| x.2).sum::<f32>().max(1e-6);
    let mut mu = [0f32; NS];
    let mut sd = [0f32; NS];
    for (x, _, wt) in &data {
        for k in 0..NS {
            mu[k] += wt * x[k] / n;
        }
    }
    for (x, _, wt) in &data {
        for k in 0..NS {
            sd[k] += wt * (x[k] - mu[k]).powi(2) / n;
        }
    }
    for s in sd.iter_mut() {
        *s = s.sqrt().max(1e-6);
    }
    let z: Vec<([f32; NS], f32, f32)> = data
        .iter()
        .map(|(x, y, wt)| (std::array::from_fn(|k| (x[k] - mu[k]) / sd[k]), *y, *wt))
        .collect();
    let mut w = vec![0f32; NS + 1];
    for _ in 0..600 {
        let mut g = [0f32; NS + 1];
        for (x, y, wt) in &z {
            let d = (stack_prob(&w, x) - y) * wt;
            for k in 0..NS {
                g[k] += d * x[k];
            }
            g[NS] += d;
        }
        for k in 0..=NS {
            w[k] -= g[k] / n + STACK_L2 * if k < NS { w[k] } else { 0.0 };
        }
    }
    let mut raw = vec![0f32; NS + 1];
    raw[NS] = w[NS];
    for k in 0..NS {
        raw[k] = w[k] / sd[k];
        raw[NS] -= w[k] * mu[k] / sd[k];
    }
    raw
}

/// L2 penalty of the stacker (on standardised statistics; 0.01 and 0.001 within 0.001 F1 in cross-validation).
const STACK_L2: f32 = 0.01;

/// Chooses the stacker, its document threshold (best TRAM-50 F1) and the centroid threshold (best F1 over
/// every annotated technique, counting only the tags the annotation can judge, with the centroid classes'
/// judged tags at least as precise as the regression classes').
fn choose(runs: &[Run], tram: &BTreeSet<String>) -> (Vec<f32>, f32, f32, f64) {
    let stack = fit_stacker(runs);
    // The centroid threshold is chosen on the techniques the annotators use ([`annotated_techniques`]): a tag
    // of any other technique, right or wrong, is never annotated, so counting it as a false positive would
    // only ever push the threshold up until no centroid class is tagged.
    let annotated: BTreeSet<&String> = runs.iter().flat_map(|r| &r.truth).collect();
    let scored: Vec<(Vec<(String, f32)>, &Run)> = runs
        .iter()
        .map(|r| {
            (
                r.stats
                    .iter()
                    .map(|(c, x)| (c.clone(), stack_prob(&stack, x)))
                    .collect(),
                r,
            )
        })
        .collect();
    let pairs_at = |thr: f32,
                    cthr: f32,
                    only_tram: bool,
                    whole: bool|
     -> Vec<(BTreeSet<String>, BTreeSet<String>)> {
        scored
            .iter()
            .filter(|(_, r)| r.whole == whole)
            .map(|(sc, r)| {
                let mut pred: BTreeSet<String> = sc
                    .iter()
                    .filter(|(_, p)| *p >= thr)
                    .map(|(c, _)| c.clone())
                    .collect();
                if !only_tram {
                    pred.extend(
                        r.cent
                            .iter()
                            .filter(|(c, p)| *p >= cthr && annotated.contains(c))
                            .map(|(c, _)| c.clone()),
                    );
                }
                let t = r
                    .truth
                    .iter()
                    .filter(|x| !only_tram || tram.contains(*x))
                    .cloned()
                    .collect();
                (pred, t)
            })
            .collect()
    };
    // The document threshold maximises the mean of the TRAM-50 F1 over whole reports and over snippets (when
    // there are any), so that it also suits short texts.
    let has_snippets = runs.iter().any(|r| !r.whole);
    let mut best = (0.5f32, -1.0f64, 0.0f64);
    for step in 5..96 {
        let thr = step as f32 / 100.0;
        let f = doc_f1(&pairs_at(thr, 2.0, true, true)).f1;
        let obj = if has_snippets {
            (f + doc_f1(&pairs_at(thr, 2.0, true, false)).f1) / 2.0
        } else {
            f
        };
        if obj > best.1 + 1e-9 {
            best = (thr, obj, f);
        }
    }
    // The centroid threshold: the best F1 over every annotated technique among the thresholds at which the
    // centroid classes' judged tags are at least as precise as the regression classes' (the F1 alone is flat
    // over a wide range and would let in tags right only half the time; the centroids' other tags, which no
    // annotation judges, are read at the same threshold).
    let base = doc_f1(&pairs_at(best.0, 2.0, false, true));
    let base_precision = base.tp as f64 / (base.tp + base.fp).max(1) as f64;
    let mut cbest = (2.0f32, base.f1);
    for step in 10..90 {
        let c = step as f32 / 100.0;
        let d = doc_f1(&pairs_at(best.0, c, false, true));
        let (tp, fp) = (d.tp.saturating_sub(base.tp), d.fp.saturating_sub(base.fp));
        if tp + fp > 0 && (tp as f64) >= base_precision * (tp + fp) as f64 && d.f1 > cbest.1 + 1e-9
        {
            cbest = (c, d.f1);
        }
    }
    (stack, best.0, cbest.0, best.2)
}

const FOLDS: u64 = 4;
/// Sentence threshold for evidence: a sentence at this probability is cited.
const SENTENCE_THRESHOLD: f32 = 0.5;

/// The model of one cross-validation fold (folds by report): fitted on the other folds' reports (priors and
/// neighbour reports from them too), with the fold's own reports to score.
fn fold_model<'a>(src: &Sources, docs: &[&'a Report], fold: u64) -> (Tagger, Vec<&'a Report>) {
    let (val, tr): (Vec<&Report>, Vec<&Report>) = docs.iter().partition(|r| {
        corpus::stable_hash(&format!("fold:{}", text::title_key(&r.title))) % FOLDS == fold
    });
    fold_model_on(src, &tr, &val)
}

/// The sentence model fitted on reports `tr` (priors and neighbour reports from them too), with `val`'s
/// sentences kept out of every source; `val` is handed back to be scored.
fn fold_model_on<'a>(
    src: &Sources,
    tr: &[&Report],
    val: &[&'a Report],
) -> (Tagger, Vec<&'a Report>) {
    let train_keys: BTreeSet<String> = tr.iter().map(|r| text::title_key(&r.title)).collect();
    let exs = examples(src, &train_keys, val);
    let h = Header {
        model: MODEL.into(),
        model_version: MODEL_VERSION,
        data_hash: [0; 32],
    };
    let emb = train_embeddings(src, &exs, tr, val);
    let mut m = fit(
        &exs,
        &src.tram_classes,
        &src.all_ids,
        h,
        SENTENCE_THRESHOLD,
        2.0,
        emb,
    );
    m.prior = priors(&m.classes[..m.n_lr], tr);
    m.set_reports(tr);
    (m, val.to_vec())
}

/// Cross-validation over `docs` (folds by report): the stacker and thresholds of the final model.
fn cross_validate(src: &Sources, docs: &[&Report]) -> (Vec<f32>, f32, f32, f64) {
    let mut runs = Vec::new();
    for fold in 0..FOLDS {
        let (m, val) = fold_model(src, docs, fold);
        for r in &val {
            // Every prose sentence is scored once; the whole report and its snippets are read from them
            // (the whole report's statistics are those `Tagger::doc_raw` gives).
            let spans = prose_sentences(&r.text);
            let probs: Vec<Vec<f32>> = spans
                .iter()
                .map(|&(a, b)| m.sentence_clause_probs(&r.text[a..b]))
                .collect();
            for (i, j, truth) in report_docs(r, &spans, &SNIPPET_LENS, SNIPPETS_PER_LEN) {
                let mut acc = vec![Acc::default(); m.classes.len()];
                for p in &probs[i..j] {
                    for (a, v) in acc.iter_mut().zip(p) {
                        a.add(*v);
                    }
                }
                let knn = m.knn_votes(&r.text, &spans[i..j]);
                let whole = (i, j) == (0, spans.len());
                runs.push(Run {
                    stats: m.classes[..m.n_lr]
                        .iter()
                        .cloned()
                        .zip(m.class_stats(&acc, j - i, &knn))
                        .collect(),
                    cent: m.classes[m.n_lr..]
                        .iter()
                        .cloned()
                        .zip(acc[m.n_lr..].iter().map(|a| a.top[0]))
                        .collect(),
                    truth,
                    whole,
                    weight: 1.0,
                });
            }
        }
    }
    // Snippets together weigh SNIPPET_WEIGHT times the whole reports in the stacker's fit.
    let nw = runs.iter().filter(|r| r.whole).count() as f32;
    let ns = runs.iter().filter(|r| !r.whole).count().max(1) as f32;
    for r in runs.iter_mut().filter(|r| !r.whole) {
        r.weight = SNIPPET_WEIGHT * nw / ns;
    }
    let tram: BTreeSet<String> = src.tram_classes.iter().cloned().collect();
    choose(&runs, &tram)
}

/// Snippet lengths (prose sentences) and snippets per length cut from each report in cross-validation: the
/// stacker and threshold also learn from short documents, as a one-page write-up is (TRAM has none).
const SNIPPET_LENS: [usize; 4] = [5, 10, 20, 40];
const SNIPPETS_PER_LEN: usize = 3;
/// Total weight of the snippets in the stacker's fit, relative to the whole reports (0.1, 0.3, 0.5 and 1
/// measured in cross-validation).
const SNIPPET_WEIGHT: f32 = 0.3;

/// The documents read from a report of prose sentences `spans`: the whole report, then runs of consecutive
/// sentences ([`snippet_ranges`]), each as (first sentence, end, the techniques annotated inside).
fn report_docs(
    r: &Report,
    spans: &[(usize, usize)],
    lens: &[usize],
    per: usize,
) -> Vec<(usize, usize, BTreeSet<String>)> {
    let n = spans.len();
    std::iter::once((0, n))
        .chain(snippet_ranges(n, lens, per))
        .map(|(i, j)| {
            let truth = if (i, j) == (0, n) {
                r.techniques()
            } else {
                annotated_inside(r, spans[i].0, spans[j - 1].1)
            };
            (i, j, truth)
        })
        .collect()
}

/// Techniques annotated in a byte range of a report (at least half of the annotated span inside it).
fn annotated_inside(r: &Report, a: usize, b: usize) -> BTreeSet<String> {
    r.spans
        .iter()
        .filter(|(s, e, _)| {
            let ov = (*e).min(b).saturating_sub((*s).max(a));
            ov > 0 && ov * 2 >= e - s
        })
        .map(|x| x.2.clone())
        .collect()
}

fn finish_model(src: &Sources, docs: &[&Report], held_out: &[&Report]) -> (Tagger, usize, f64) {
    let (stack, thr, cthr, cv) = cross_validate(src, docs);
    let keys: BTreeSet<String> = docs.iter().map(|r| text::title_key(&r.title)).collect();
    let exs = examples(src, &keys, held_out);
    let emb = train_embeddings(src, &exs, docs, held_out);
    let mut m = fit(
        &exs,
        &src.tram_classes,
        &src.all_ids,
        header_for(&exs, (thr, cthr), &src.prose),
        SENTENCE_THRESHOLD,
        cthr,
        emb,
    );
    m.prior = priors(&m.classes[..m.n_lr], docs);
    m.set_reports(docs);
    m.stack = stack;
    m.doc_threshold = thr;
    (m, exs.len(), cv)
}

fn header_for(exs: &[Example], thr: (f32, f32), prose: &[String]) -> Header {
    let mut recs: Vec<String> = exs
        .iter()
        .map(|e| {
            format!(
                "{}\t{}",
                e.text,
                e.labels.iter().cloned().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    recs.push(format!("threshold={thr:?}"));
    // With word vectors on, the unlabelled prose they learn from is training data too.
    if let Some((p, alpha)) = embed_setting() {
        recs.push(format!("embed={p:?},alpha={alpha}"));
        recs.extend(prose.iter().cloned());
    }
    Header {
        model: MODEL.into(),
        model_version: MODEL_VERSION,
        data_hash: corpus::data_hash(recs.iter().map(String::as_str)),
    }
}

/// Trains the shipped tagger on every report (no held-out side), with the stacker and thresholds chosen by
/// cross-validation over the reports.
pub fn train(corpus_dir: &Path) -> Result<Tagger> {
    let src = load_sources(corpus_dir)?;
    let docs: Vec<&Report> = src.reports.iter().collect();
    Ok(finish_model(&src, &docs, &[]).0)
}

/// Trains on the training reports only (stacker and thresholds by cross-validation among them) and measures
/// on the held-out reports of our split.
pub fn train_and_evaluate(corpus_dir: &Path) -> Result<(Tagger, TagMetrics)> {
    let src = load_sources(corpus_dir)?;
    let (dev, tr): (Vec<&Report>, Vec<&Report>) = src.reports.iter().partition(|r| r.is_dev());
    let (m, n, cv) = finish_model(&src, &tr, &dev);
    let annotated = annotated_techniques(&src.reports);
    let mut metrics = evaluate_reports(&m, &dev, &annotated, tr.len(), n);
    metrics.cv_tram50_f1 = crate::extract::round4(cv);
    let dev_keys: BTreeSet<String> = dev.iter().map(|r| text::title_key(&r.title)).collect();
    let sents: Vec<(String, String, String)> = src
        .single
        .iter()
        .filter(|(d, _, _)| dev_keys.contains(d))
        .cloned()
        .collect();
    let (f, acc) = evaluate_sentences(&m, &sents);
    metrics.tram50_annotated_sentences = f;
    metrics.sentence_top1_accuracy = acc;
    Ok((m, metrics))
}

/// The tagging metrics of a cross-validation by report ([`cross_validate_by_report`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TagFoldMetrics {
    /// Fold `k` holds out the reports whose title key has [`corpus::fold_of`] `k`; fold 1 is the held-out split
    /// that `vigil ml eval --task tag` measures.
    pub folds: Vec<TagMetrics>,
    pub tram50_f1_mean: f64,
    /// Sample standard deviation of the folds' TRAM-50 F1: how much the figure depends on which reports are
    /// held out.
    pub tram50_f1_sd: f64,
    pub tram50_f1_min: f64,
    pub tram50_f1_max: f64,
    pub all_techniques_f1_mean: f64,
    /// Every report tagged once, by the fold's model that never saw it, and counted together (per-document
    /// micro F1 over all the corpus's reports).
    pub pooled_tram50: DocF1,
    pub pooled_all_techniques: DocF1,
    /// As `pooled_all_techniques`, counting only the tags the annotation can judge
    /// ([`TagMetrics::judgeable_techniques`]).
    pub pooled_judgeable_techniques: DocF1,
}

/// Cross-validation by report: for each of the [`corpus::FOLDS`] folds a tagger is trained (thresholds chosen by
/// its own inner cross-validation, as for the shipped one) without that fold's reports and measured on them.
/// Costs one full training per fold.
pub fn cross_validate_by_report(corpus_dir: &Path) -> Result<TagFoldMetrics> {
    let src = load_sources(corpus_dir)?;
    let mut folds = Vec::new();
    let (mut tram, mut all, mut judgeable) = (Vec::new(), Vec::new(), Vec::new());
    let annotated = annotated_techniques(&src.reports);
    for k in 0..corpus::FOLDS {
        let (dev, tr): (Vec<&Report>, Vec<&Report>) = src
            .reports
            .iter()
            .partition(|r| corpus::fold_of(&text::title_key(&r.title)) == k);
        // A skipped fold would renumber the rest (fold 1 must stay the held-out split): refuse instead.
        if dev.is_empty() || tr.is_empty() {
            return Err(MlError::EmptyCorpus {
                path: corpus_dir.join("tram/mjson_files"),
                task: "tag".into(),
                reason: format!(
                    "fold {k} of {} holds {} of the {} reports: too few reports to cross-validate",
                    corpus::FOLDS,
                    dev.len(),
                    src.reports.len()
                ),
            });
        }
        let (m, n, cv) = finish_model(&src, &tr, &dev);
        let sets = Sets::of(&m, &dev, &annotated);
        let mut metrics = metrics_of_sets(&m, &sets, tr.len(), n);
        metrics.cv_tram50_f1 = crate::extract::round4(cv);
        metrics.evidence = evidence_metrics(&m, &dev);
        tram.extend(sets.tram);
        all.extend(sets.all);
        judgeable.extend(sets.judgeable);
        folds.push(metrics);
    }
    let f1 = corpus::spread(&folds.iter().map(|m| m.tram50.f1).collect::<Vec<_>>());
    let all_f1 = corpus::spread(
        &folds
            .iter()
            .map(|m| m.all_techniques.f1)
            .collect::<Vec<_>>(),
    );
    let r = crate::extract::round4;
    Ok(TagFoldMetrics {
        tram50_f1_mean: r(f1.mean),
        tram50_f1_sd: r(f1.sd),
        tram50_f1_min: f1.min,
        tram50_f1_max: f1.max,
        all_techniques_f1_mean: r(all_f1.mean),
        pooled_tram50: doc_f1(&tram),
        pooled_all_techniques: doc_f1(&all),
        pooled_judgeable_techniques: doc_f1(&judgeable),
        folds,
    })
}

/// Cross-validation over the training reports of our split only (held-out reports neither trained on nor
/// measured): the CV figure, the document threshold and the centroid threshold, for choosing settings.
#[doc(hidden)]
pub fn cv_only(corpus_dir: &Path) -> Result<(f64, f32, f32)> {
    let src = load_sources(corpus_dir)?;
    let tr: Vec<&Report> = src.reports.iter().filter(|r| !r.is_dev()).collect();
    let (_, thr, cthr, cv) = cross_validate(&src, &tr);
    Ok((cv, thr, cthr))
}

/// Per-document F1 where documents are their annotated sentences `(doc key, text, label)`, and top-1 accuracy.
pub fn evaluate_sentences(m: &Tagger, sents: &[(String, String, String)]) -> (DocF1, f64) {
    let mut docs: BTreeMap<&str, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    let mut correct = 0usize;
    for (d, t, l) in sents {
        let p = m.sentence_probs(t);
        let best = (0..m.n_lr).max_by(|a, b| p[*a].total_cmp(&p[*b]).then(b.cmp(a)));
        let e = docs.entry(d.as_str()).or_default();
        if let Some(k) = best {
            if m.classes[k] == *l {
                correct += 1;
            }
            if p[k] >= m.threshold[k] {
                e.0.insert(m.classes[k].clone());
            }
        }
        e.1.insert(l.clone());
    }
    let pairs: Vec<_> = docs.into_values().collect();
    (
        doc_f1(&pairs),
        crate::extract::round4(correct as f64 / sents.len().max(1) as f64),
    )
}

/// How well a tag's cited sentences match the annotation: over the correct TRAM-50 tags of full reports, the
/// share of cited sentences annotated with the tag's technique (inside the sentence, at least half of an annotated
/// span), and the share of tags whose first citation is. TRAM's annotation of full reports is incomplete, so both
/// are lower bounds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EvidenceMetrics {
    /// Correct tags measured.
    pub tags: usize,
    /// Sentences they cite.
    pub cited: usize,
    pub precision: f64,
    pub first_cited_annotated: f64,
}

fn evidence_metrics(m: &Tagger, reports: &[&Report]) -> EvidenceMetrics {
    let (mut tags, mut cited, mut hits, mut first) = (0usize, 0usize, 0usize, 0usize);
    for r in reports {
        let truth = r.techniques();
        for t in m.tag_spans(&r.text) {
            let id = &m.classes[t.class];
            if !m.is_tram_class(id) || !truth.contains(id) {
                continue;
            }
            let ann: Vec<bool> = t
                .evidence
                .iter()
                .map(|&(a, b)| annotated_inside(r, a, b).contains(id))
                .collect();
            tags += 1;
            cited += ann.len();
            hits += ann.iter().filter(|x| **x).count();
            first += usize::from(ann.first().copied().unwrap_or(false));
        }
    }
    EvidenceMetrics {
        tags,
        cited,
        precision: crate::extract::round4(hits as f64 / cited.max(1) as f64),
        first_cited_annotated: crate::extract::round4(first as f64 / tags.max(1) as f64),
    }
}

/// Measures a tagger on the given reports.
pub fn evaluate_reports(
    m: &Tagger,
    reports: &[&Report],
    annotated: &BTreeSet<String>,
    train_reports: usize,
    train_sentences: usize,
) -> TagMetrics {
    let sets = Sets::of(m, reports, annotated);
    let mut t = metrics_of_sets(m, &sets, train_reports, train_sentences);
    t.evidence = evidence_metrics(m, reports);
    t
}

/// [`evaluate_reports`] from the reports' predicted and true sets.
fn metrics_of_sets(
    m: &Tagger,
    sets: &Sets,
    train_reports: usize,
    train_sentences: usize,
) -> TagMetrics {
    let thr = m.doc_threshold;
    let count =
        |p: &[(BTreeSet<String>, BTreeSet<String>)]| p.iter().map(|x| x.0.len()).sum::<usize>();
    TagMetrics {
        tram50: doc_f1(&sets.tram),
        all_techniques: doc_f1(&sets.all),
        judgeable_techniques: doc_f1(&sets.judgeable),
        unjudged_tags: count(&sets.all) - count(&sets.judgeable),
        threshold: crate::extract::round4(thr as f64),
        centroid_threshold: crate::extract::round4(
            m.threshold.get(m.n_lr).copied().unwrap_or(2.0) as f64
        ),
        train_reports,
        heldout_reports: sets.tram.len(),
        train_sentences,
        classes: m.classes.len(),
        ..Default::default()
    }
}

/// Measures a tagger on the held-out reports of a TRAM-layout corpus (what `vigil ml eval --task tag` runs).
pub fn evaluate(m: &Tagger, corpus_dir: &Path) -> Result<TagMetrics> {
    let reports = load_reports(corpus_dir)?;
    let dev: Vec<&Report> = reports.iter().filter(|r| r.is_dev()).collect();
    Ok(evaluate_reports(
        m,
        &dev,
        &annotated_techniques(&reports),
        reports.len() - dev.len(),
        0,
    ))
}

/// Out-of-fold sentence scores of one report, for offline study of document-level decisions.
#[doc(hidden)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoredDoc {
    /// Cross-validation fold (`u64::MAX` for a held-out report scored by the model of all training reports).
    pub fold: u64,
    pub truth: Vec<String>,
    /// Per prose sentence, the probability of every regression class.
    pub probs: Vec<Vec<f32>>,
    /// Best score of every centroid class.
    pub cent: Vec<(String, f32)>,
    /// Per pair of consecutive prose sentences read as one, the probability of every regression class.
    pub pair_probs: Vec<Vec<f32>>,
    /// Regression-class probabilities of the whole prose text read as one sentence.
    pub doc_p: Vec<f32>,
    /// Feature counts of the whole prose text.
    pub terms: Vec<(String, u32)>,
}

/// Classes, TRAM classes, centroid classes (of the held-out model), out-of-fold scores of the training reports,
/// and the held-out reports scored by the model trained on every training report.
#[doc(hidden)]
#[allow(clippy::type_complexity)]
pub fn study_scores(
    corpus_dir: &Path,
) -> Result<(Vec<String>, Vec<String>, Vec<ScoredDoc>, Vec<ScoredDoc>)> {
    let src = load_sources(corpus_dir)?;
    let (dev, tr): (Vec<&Report>, Vec<&Report>) = src.reports.iter().partition(|r| r.is_dev());
    let score = |m: &Tagger, r: &Report, fold: u64| {
        let spans = prose_sentences(&r.text);
        let joined = spans
            .iter()
            .map(|&(a, b)| &r.text[a..b])
            .collect::<Vec<_>>()
            .join(" ");
        let mut cent = vec![0f32; m.classes.len() - m.n_lr];
        let probs = spans
            .iter()
            .map(|&(a, b)| {
                let p = m.sentence_probs(&r.text[a..b]);
                for (c, v) in cent.iter_mut().zip(&p[m.n_lr..]) {
                    *c = c.max(*v);
                }
                p[..m.n_lr].to_vec()
            })
            .collect();
        ScoredDoc {
            fold,
            truth: r.techniques().into_iter().collect(),
            probs,
            cent: m.classes[m.n_lr..].iter().cloned().zip(cent).collect(),
            doc_p: m.sentence_probs(&joined)[..m.n_lr].to_vec(),
            pair_probs: spans
                .windows(2)
                .map(|w| {
                    let t = format!("{} {}", &r.text[w[0].0..w[0].1], &r.text[w[1].0..w[1].1]);
                    m.sentence_probs(&t)[..m.n_lr].to_vec()
                })
                .collect(),
            terms: {
                let mut t: BTreeMap<String, u32> = BTreeMap::new();
                for f in text::features(&joined) {
                    *t.entry(f).or_default() += 1;
                }
                t.into_iter().collect()
            },
        }
    };
    let mut cv = Vec::new();
    for fold in 0..FOLDS {
        let (m, val) = fold_model(&src, &tr, fold);
        cv.extend(val.iter().map(|r| score(&m, r, fold)));
    }
    let (m, _) = fold_model_on(&src, &tr, &dev);
    let held = dev.iter().map(|r| score(&m, r, u64::MAX)).collect();
    Ok((m.classes.clone(), src.tram_classes.clone(), cv, held))
}

/// One annotated technique of a report, with the report's prose sentences that score for it, for the study of
/// which sentences a tag should cite.
#[doc(hidden)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvidenceCase {
    /// Cross-validation fold (`u64::MAX` for a held-out report scored by the model of all training reports).
    pub fold: u64,
    pub technique: String,
    /// The class's sentence threshold.
    pub threshold: f32,
    /// (score, annotated with the technique, the whole sentence's score) of every prose sentence scoring at
    /// least 0.05, best first. The score is the best over the sentence, its clauses and windows.
    pub sentences: Vec<(f32, bool, f32)>,
}

/// Evidence cases of TRAM-50 techniques: the training reports scored out of fold (4 folds by report), then the
/// held-out reports scored by the model of all training reports.
#[doc(hidden)]
pub fn evidence_study(corpus_dir: &Path) -> Result<Vec<EvidenceCase>> {
    let src = load_sources(corpus_dir)?;
    let (dev, tr): (Vec<&Report>, Vec<&Report>) = src.reports.iter().partition(|r| r.is_dev());
    let cases = |m: &Tagger, r: &Report, fold: u64, out: &mut Vec<EvidenceCase>| {
        let truth = r.techniques();
        let mut per: Vec<Vec<(f32, bool, f32)>> = vec![Vec::new(); m.n_lr];
        for (a, b) in prose_sentences(&r.text) {
            let inside = annotated_inside(r, a, b);
            let whole = m.sentence_probs(&r.text[a..b]);
            for (k, v) in m.sentence_clause_probs(&r.text[a..b])[..m.n_lr]
                .iter()
                .enumerate()
            {
                if *v >= 0.05 {
                    per[k].push((*v, inside.contains(&m.classes[k]), whole[k]));
                }
            }
        }
        for (k, mut v) in per.into_iter().enumerate() {
            if v.is_empty() || !truth.contains(&m.classes[k]) {
                continue;
            }
            v.sort_by(|x, y| y.0.total_cmp(&x.0));
            out.push(EvidenceCase {
                fold,
                technique: m.classes[k].clone(),
                threshold: m.threshold[k],
                sentences: v,
            });
        }
    };
    let mut out = Vec::new();
    for fold in 0..FOLDS {
        let (m, val) = fold_model(&src, &tr, fold);
        for r in val {
            cases(&m, r, fold, &mut out);
        }
    }
    let (m, _) = fold_model_on(&src, &tr, &dev);
    for r in &dev {
        cases(&m, r, u64::MAX, &mut out);
    }
    Ok(out)
}

/// One training report scored out of fold, for the study of document decisions on short texts.
#[doc(hidden)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyReport {
    /// Cross-validation fold of the report.
    pub fold: u64,
    /// Regression-class priors of the fold's model (share of its training reports annotated with each).
    pub prior: Vec<f32>,
    /// Per prose sentence, the clause-and-window score of every regression class (as `Tagger::tag` scores it).
    pub probs: Vec<Vec<f32>>,
    /// Documents cut from the report: `(first prose sentence, end, neighbour vote per regression class,
    /// TRAM-50 techniques annotated inside)`; the first is the whole report.
    pub docs: Vec<(usize, usize, Vec<f32>, Vec<String>)>,
}

/// Runs of consecutive prose sentences cut from a report of `n` prose sentences: for each length in
/// `lens` shorter than the report, up to `per` runs spread evenly over it.
#[doc(hidden)]
pub fn snippet_ranges(n: usize, lens: &[usize], per: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for &l in lens {
        if l == 0 || l >= n {
            continue;
        }
        let k = per.min(n / l).max(1);
        for i in 0..k {
            let s = ((2 * i + 1) * (n - l)) / (2 * k);
            out.push((s, s + l));
        }
    }
    out
}

/// Out-of-fold scores of the training reports of our split (held-out reports not involved) and of snippets
/// cut from them (see [`snippet_ranges`]), with the fold model's neighbour votes for each.
#[doc(hidden)]
pub fn study_short(
    corpus_dir: &Path,
    lens: &[usize],
    per: usize,
) -> Result<(Vec<String>, Vec<StudyReport>)> {
    let src = load_sources(corpus_dir)?;
    let tr: Vec<&Report> = src.reports.iter().filter(|r| !r.is_dev()).collect();
    let mut out = Vec::new();
    let mut classes = Vec::new();
    for fold in 0..FOLDS {
        let (m, val) = fold_model(&src, &tr, fold);
        classes = m.classes[..m.n_lr].to_vec();
        let tram: BTreeSet<&String> = classes.iter().collect();
        for r in &val {
            let spans = prose_sentences(&r.text);
            let probs: Vec<Vec<f32>> = spans
                .iter()
                .map(|&(a, b)| m.sentence_clause_probs(&r.text[a..b])[..m.n_lr].to_vec())
                .collect();
            let docs = report_docs(r, &spans, lens, per)
                .into_iter()
                .filter(|(i, j, _)| i < j)
                .map(|(i, j, truth)| {
                    (
                        i,
                        j,
                        m.knn_votes(&r.text, &spans[i..j]),
                        truth.into_iter().filter(|t| tram.contains(t)).collect(),
                    )
                })
                .collect();
            out.push(StudyReport {
                fold,
                prior: m.prior.clone(),
                probs,
                docs,
            });
        }
    }
    Ok((classes, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(text: &str, label: &str) -> Report {
        Report {
            title: text.chars().take(20).collect(),
            text: text.to_string(),
            spans: vec![(0, 5, label.to_string())],
            path: PathBuf::new(),
        }
    }

    #[test]
    fn a_tag_cites_its_best_sentence_and_only_those_near_it() {
        let m = Tagger::embedded().expect("tagger loads");
        let doc = "When the victim opened the attachment, a shortcut file launched PowerShell with an encoded \
            command that downloaded the QuillLoader payload. The loader created a scheduled task named \
            \"OfficeUpdateCheck\" to persist across reboots and injected its code into a legitimate explorer.exe \
            process. QuillLoader beacons every 300 seconds over HTTPS to cdn-update[.]example and \
            files-share(.)example, and falls back to 198.51.100[.]23. Collected documents were compressed into a \
            password-protected archive before exfiltration over the same command and control channel. The \
            operators used stolen valid accounts to move to file servers over RDP.";
        let tags = m.tag_spans(doc);
        assert!(tags.len() >= 3, "{tags:?}");
        let sentences = prose_sentences(doc);
        for t in &tags {
            let k = &t.class;
            let mut all: Vec<(f32, (usize, usize))> = sentences
                .iter()
                .map(|&(a, b)| (m.sentence_clause_probs(&doc[a..b])[*k], (a, b)))
                .collect();
            all.sort_by(|x, y| y.0.total_cmp(&x.0).then_with(|| x.1.cmp(&y.1)));
            let floor = m.threshold[*k].max(EVIDENCE_RELATIVE * all[0].0);
            let mut want: Vec<(usize, usize)> = all
                .iter()
                .take(MAX_EVIDENCE)
                .take_while(|x| x.0 >= floor)
                .map(|x| x.1)
                .collect();
            if want.is_empty() {
                want.push(all[0].1);
            }
            assert_eq!(t.evidence, want, "{}", m.classes[*k]);
        }
        // The web-protocol tag cites the HTTPS beacon, not the RDP sentence that scores far below it.
        let ev = &tags
            .iter()
            .find(|t| m.classes[t.class] == "T1071.001")
            .expect("web protocols tagged")
            .evidence;
        assert!(
            ev.iter().all(|&(a, b)| !doc[a..b].contains("RDP")),
            "{ev:?}"
        );
        assert!(doc[ev[0].0..ev[0].1].contains("HTTPS"));
    }

    #[test]
    fn evidence_metrics_count_cited_sentences_against_the_annotation() {
        let m = Tagger::embedded().expect("tagger loads");
        let text = "The malware uses PowerShell to download additional payloads. It also dumps credentials from \
            LSASS memory using Mimikatz.";
        let second = text.find("It also").expect("second sentence");
        let mut r = report(text, "T1003.001");
        r.spans = vec![(second, text.len(), "T1003.001".into())];
        let e = evidence_metrics(&m, &[&r]);
        assert_eq!((e.tags, e.cited), (1, 1), "{e:?}");
        assert_eq!((e.precision, e.first_cited_annotated), (1.0, 1.0));
        // The same tag against an annotation of the other sentence: cited, but not what was annotated.
        r.spans = vec![(0, second - 1, "T1003.001".into())];
        let e = evidence_metrics(&m, &[&r]);
        assert_eq!(
            (e.tags, e.precision, e.first_cited_annotated),
            (1, 0.0, 0.0)
        );
        // A technique the report is not annotated with is not counted.
        r.spans = vec![(0, second - 1, "T1566.001".into())];
        assert_eq!(evidence_metrics(&m, &[&r]).tags, 0);
    }

    #[test]
    fn acc_keeps_the_best_three_and_the_counts() {
        let mut a = Acc::default();
        for v in [0.1, 0.9, 0.3, 0.85, 0.6, 0.25] {
            a.add(v);
        }
        assert_eq!(a.top, [0.9, 0.85, 0.6]);
        // at 0.5, 0.2, 0.8
        assert_eq!(a.above, [3, 5, 2]);
    }

    #[test]
    fn stacker_weights_fold_back_to_raw_statistics() {
        // One informative statistic on a large scale, the rest constant: the folded-back stacker must separate
        // the classes on raw inputs.
        let mk = |best: f32, y: bool| Run {
            stats: vec![("T1".into(), {
                let mut x = [1.0f32; NS];
                x[0] = best;
                x[3] = 100.0 * best;
                x
            })],
            cent: vec![],
            truth: if y {
                ["T1".to_string()].into()
            } else {
                BTreeSet::new()
            },
            whole: true,
            weight: 1.0,
        };
        let runs: Vec<Run> = (0..40)
            .map(|i| mk(i as f32 / 10.0 - 2.0, i >= 20))
            .collect();
        let w = fit_stacker(&runs);
        let p = |r: &Run| stack_prob(&w, &r.stats[0].1);
        assert!(p(&runs[39]) > 0.8 && p(&runs[0]) < 0.2, "{w:?}");
        assert_eq!(w, fit_stacker(&runs), "deterministic");
    }

    #[test]
    fn the_centroid_threshold_is_chosen_on_techniques_the_annotators_use() {
        // One regression class, always right; centroid class "TA" annotated where it scores 0.6 or more;
        // centroid class "TX" never annotated anywhere (as TRAM never annotates PowerShell), scoring 0.6-0.9.
        let run = |i: usize| {
            let ta = 0.2 + 0.1 * (i % 7) as f32;
            let mut truth: BTreeSet<String> = ["T1".to_string()].into();
            if ta >= 0.6 - 1e-6 {
                truth.insert("TA".into());
            }
            Run {
                stats: vec![("T1".into(), [1.0; NS])],
                cent: vec![
                    ("TA".into(), ta),
                    ("TX".into(), 0.6 + 0.05 * (i % 7) as f32),
                ],
                truth,
                whole: true,
                weight: 1.0,
            }
        };
        let runs: Vec<Run> = (0..28).map(run).collect();
        let tram: BTreeSet<String> = ["T1".to_string()].into();
        let (_, _, cthr, _) = choose(&runs, &tram);
        // TA's best cut lies between 0.5 and 0.6; counting TX's tags as wrong would turn the centroids off.
        assert!((0.5..=0.6).contains(&cthr), "{cthr}");
        // Once TX is annotated somewhere its tags are judged: scoring 0.95 in every report but annotated in
        // one, they are wrong 27 times, which no threshold below 0.9 (the highest tried) makes up for.
        let mut runs = runs;
        runs[0].truth.insert("TX".into());
        for r in &mut runs {
            r.cent[1].1 = 0.95;
        }
        let (_, _, cthr, _) = choose(&runs, &tram);
        assert!(cthr > 0.9, "{cthr}");
    }

    #[test]
    fn nearest_reports_vote_for_their_techniques() {
        let a =
            "The actor sent spearphishing emails with malicious Word attachments to finance staff.";
        let b =
            "The implant dumped credentials from LSASS process memory with Mimikatz on the server.";
        let c = "The backdoor beaconed over HTTPS to a command and control server every hour.";
        // Three kinds of report, three of each: a kind's terms are in a third of the reports (report-level
        // IDF ignores terms in half of them or more).
        let mut docs = Vec::new();
        for i in 0..3 {
            docs.push(report(
                &format!("{a} Campaign {i} targeted banks."),
                "T1566.001",
            ));
            docs.push(report(
                &format!("{b} Intrusion {i} hit hospitals."),
                "T1003.001",
            ));
            docs.push(report(
                &format!("{c} Operation {i} lasted weeks."),
                "T1071.001",
            ));
        }
        let exs: Vec<Example> = docs
            .iter()
            .flat_map(|r| {
                std::iter::repeat_n(
                    Example {
                        text: r.text.clone(),
                        labels: r.techniques(),
                    },
                    3,
                )
            })
            .collect();
        let classes = vec![
            "T1003.001".to_string(),
            "T1071.001".to_string(),
            "T1566.001".to_string(),
        ];
        let h = Header {
            model: MODEL.into(),
            model_version: MODEL_VERSION,
            data_hash: [0; 32],
        };
        let mut m = fit(&exs, &classes, &BTreeSet::new(), h, 0.5, 2.0, None);
        let refs: Vec<&Report> = docs.iter().collect();
        m.set_reports(&refs);
        let q = "Attackers emailed spearphishing messages with malicious Word attachments.";
        let v = m.knn_votes(q, &prose_sentences(q));
        assert!(v[2] > 0.5 && v[2] > v[0] + v[1], "{v:?}");
        // The stored reports survive serialisation.
        let back = Tagger::from_bytes(&m.to_bytes()).expect("round trip");
        assert_eq!(back.knn_votes(q, &prose_sentences(q)), v);
        // An artifact of the previous version (no word vectors) is refused, saying so.
        m.header.model_version = 4;
        let e = Tagger::from_bytes(&m.to_bytes())
            .expect_err("old version")
            .to_string();
        assert!(
            e.contains("model version 4, this build needs version 5"),
            "{e}"
        );
    }

    #[test]
    fn word_vectors_let_unseen_words_score() {
        // Unlabelled prose: two topics whose words never meet in a sentence.
        let net = ["upload", "exfiltrate", "transfer", "server", "network"];
        let disk = ["registry", "persist", "autostart", "reboot", "startup"];
        let mut rng = crate::domain::Rng::new(7);
        let prose: Vec<String> = (0..400)
            .map(|i| {
                let t = if i % 2 == 0 { &net } else { &disk };
                (0..8)
                    .map(|_| t[(rng.next() % 5) as usize])
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let p = EmbedParams {
            dims: 4,
            window: 3,
            min_count: 2,
            max_words: 100,
            power_iters: 3,
            seed: 1,
        };
        let emb = Embeddings::train(prose.iter().map(String::as_str), &p);
        // Labelled sentences use three words of each topic; the query uses the other two.
        let mut exs = Vec::new();
        for _ in 0..5 {
            exs.push(Example {
                text: "upload to the server and transfer".into(),
                labels: ["T1041".to_string()].into(),
            });
            exs.push(Example {
                text: "registry autostart at reboot".into(),
                labels: ["T1547.001".to_string()].into(),
            });
        }
        let classes = vec!["T1041".to_string(), "T1547.001".to_string()];
        let h = Header {
            model: MODEL.into(),
            model_version: MODEL_VERSION,
            data_hash: [0; 32],
        };
        let q = "exfiltrate network";
        let plain = fit(&exs, &classes, &BTreeSet::new(), h.clone(), 0.5, 2.0, None);
        let pp = plain.sentence_probs(q);
        assert!((pp[0] - pp[1]).abs() < 0.2, "no shared word: {pp:?}");
        let m = fit(
            &exs,
            &classes,
            &BTreeSet::new(),
            h,
            0.5,
            2.0,
            Some((emb, 4.0)),
        );
        let pe = m.sentence_probs(q);
        assert!(pe[0] > pe[1] + 0.3, "{pe:?}");
        // The vectors travel in the artifact.
        let back = Tagger::from_bytes(&m.to_bytes()).expect("round trip");
        assert_eq!(back.sentence_probs(q), pe);
    }
}
