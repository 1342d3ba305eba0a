//! Why a name scores as it does: the first stage's log-odds by feature group with the n-grams and tokens that
//! weigh most, the second stage's correction and the values it read (words, language models, shape). For an
//! analyst deciding whether a lead is worth a look; the score itself is [`DomainModel::score`], unchanged.

use serde::{Deserialize, Serialize};

use crate::extract::round4;

use super::{
    bucket, lower_host, mix, name_split, DomainModel, DIM, N_DENSE, N_INPUTS, N_PARTS, N_STAGE,
};

/// A domain's score and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainExplanation {
    /// The domain as given.
    pub domain: String,
    /// The score of [`DomainModel::score`].
    pub score: f64,
    /// The public suffix (`top`, `co.uk`; the last label when the list has none).
    pub public_suffix: String,
    /// The suffix and the label before it.
    pub registered_domain: String,
    /// Under a dynamic-DNS or free sub-domain provider (MISP warning list `dynamic-dns`).
    pub dynamic_dns: bool,
    /// The first stage's log-odds (the sum of the evidence of the six first-stage signals and its bias).
    pub first_stage: f64,
    /// The final log-odds, after the second stage: the score is its logistic.
    pub log_odds: f64,
    /// The signals, strongest first; `weight` in log-odds (positive: toward malicious).
    pub evidence: Vec<Evidence>,
}

/// One signal of a [`DomainExplanation`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// `name-ngrams`, `labels`, `suffix`, `label-ngrams`, `shape-crosses`, `shape` (first stage) or
    /// `second-stage`.
    pub signal: String,
    /// Log-odds this signal adds.
    pub weight: f64,
    /// What the signal looked at, in words.
    pub detail: String,
    /// The parts that weigh most (n-grams, labels), strongest first; empty for signals without parts.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub top: Vec<EvidencePart>,
}

impl Evidence {
    /// Whether the parts are pieces of the name (n-grams, labels), not what the second stage's trees read.
    pub fn parts_are_name_pieces(&self) -> bool {
        self.signal != SECOND_STAGE
    }

    /// The signal, its log-odds and its strongest part, for one line of a list of leads
    /// (``name-ngrams +3.8 (`op$`)``, `second-stage +1.6 (mostly length, characters and labels)`).
    pub fn brief(&self) -> String {
        match self.top.first() {
            Some(p) if self.parts_are_name_pieces() => {
                format!("{} {:+.1} (`{}`)", self.signal, self.weight, p.text)
            }
            Some(p) => format!("{} {:+.1} (mostly {})", self.signal, self.weight, p.text),
            None => format!("{} {:+.1}", self.signal, self.weight),
        }
    }
}

/// A piece of a name and the log-odds its feature adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidencePart {
    pub text: String,
    pub weight: f64,
}

/// The signal of the second stage's correction, whose parts are what its trees read, not pieces of the name.
const SECOND_STAGE: &str = "second-stage";

/// Parts listed per signal.
const TOP: usize = 3;

impl DomainModel {
    /// The score of `domain` and why (see [`DomainExplanation`]).
    pub fn explain(&self, domain: &str) -> DomainExplanation {
        let mut buf = Vec::with_capacity(64);
        lower_host(domain, &mut buf);
        let d = &buf[..];
        let mut e = DomainExplanation {
            domain: domain.to_string(),
            score: 0.0,
            public_suffix: String::new(),
            registered_domain: String::new(),
            dynamic_dns: false,
            first_stage: 0.0,
            log_odds: 0.0,
            evidence: Vec::new(),
        };
        if d.is_empty() {
            return e;
        }
        let v = self.inputs(d);
        let z = self.margin(d) as f64;
        // The score as `score_with` derives it from the same margin: computed once here.
        e.score = round4(1.0 / (1.0 + (-z).exp()));
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let tld_len = d.len() - d.iter().rposition(|c| *c == b'.').map_or(0, |p| p + 1);
        let (suffix_len, reg_len) = name_split(d, tld_len);
        let suffix = &d[d.len() - suffix_len.min(d.len())..];
        let reg = &d[d.len() - reg_len.min(d.len())..];
        let label = &reg[..reg.len().saturating_sub(suffix_len + 1)];
        let shape = 2 + N_PARTS + N_DENSE;
        e.public_suffix = text(suffix);
        e.registered_domain = text(reg);
        e.dynamic_dns = v[shape + 5] > 0.0;
        e.first_stage = v[0] as f64;
        e.log_odds = z;
        let part = |g: usize| v[2 + g] as f64;
        let dense = &v[2 + N_PARTS..shape];

        let dyn_note = if e.dynamic_dns {
            ", under a dynamic-DNS or free sub-domain provider"
        } else {
            ""
        };
        let mut second = format!(
            "trees over the first stage's evidence and the name's make-up: words of benign names cover {:.0}% \
             of the registrable label's letters, English words {:.0}%",
            v[shape + 7] * 100.0,
            v[shape + 10] * 100.0
        );
        if self.lm.is_some() {
            second.push_str(&format!(
                "; it reads like benign names at {:.2} and like English at {:.2} bits per character (higher is \
                 more natural)",
                v[N_INPUTS], v[N_INPUTS + 1]
            ));
        }
        let labels = d.iter().filter(|c| **c == b'.').count() + 1;
        let digits = d.iter().filter(|c| c.is_ascii_digit()).count();
        e.evidence = vec![
            evidence(
                "name-ngrams",
                part(0),
                "character 3- to 5-grams of the whole name (^ and $ mark its ends)".into(),
                self.top_parts(name_ngrams(d)),
            ),
            evidence(
                "labels",
                part(1),
                format!("each label and the top-level domain as a word, and the number of labels ({labels})"),
                self.top_parts(label_tokens(d)),
            ),
            evidence(
                "suffix",
                part(2),
                format!(
                    "the public suffix .{} and the registered domain {}{dyn_note}",
                    text(suffix),
                    text(reg)
                ),
                Vec::new(),
            ),
            evidence(
                "label-ngrams",
                part(3),
                format!("character 2- to 4-grams of the registrable label `{}`", text(label)),
                self.top_parts(label_ngrams(label)),
            ),
            evidence(
                "shape-crosses",
                part(4),
                format!(
                    "length, digits, hyphens and sub-domains as usual or not under .{}",
                    text(suffix)
                ),
                Vec::new(),
            ),
            evidence(
                "shape",
                v[1] as f64,
                format!(
                    "{} characters, entropy {:.2} bits per character, {digits} digit(s), {} hyphen(s), {:.0}% vowels \
                     among letters, longest consonant run {}",
                    d.len(),
                    dense[1],
                    dense[3],
                    dense[5] * 100.0,
                    dense[6]
                ),
                Vec::new(),
            ),
            evidence(
                SECOND_STAGE,
                z - v[0] as f64,
                second,
                self.second_stage_parts(&v),
            ),
        ];
        e.evidence
            .sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
        // Four decimals, as the score: the weights are f32 sums, and more digits only look precise.
        for x in &mut e.evidence {
            x.weight = round4(x.weight);
            for p in &mut x.top {
                p.weight = round4(p.weight);
            }
        }
        e.first_stage = round4(e.first_stage);
        e.log_odds = round4(e.log_odds);
        e
    }

    /// The second stage's correction split by what the trees read (their inputs' Shapley values, grouped),
    /// strongest first; the parts add up to the correction. Empty for a model whose trees carry no leaf
    /// weights or that blends in a network.
    fn second_stage_parts(&self, v: &[f32; N_STAGE]) -> Vec<EvidencePart> {
        let (Some(trees), None) = (&self.stage2, &self.stage2_mlp) else {
            return Vec::new();
        };
        let Some((expected, phi)) = trees.contributions(v) else {
            return Vec::new();
        };
        let sum = |r: std::ops::Range<usize>| phi.get(r).map_or(0.0, |p| p.iter().sum::<f64>());
        let shape = 2 + N_PARTS + N_DENSE;
        let mut parts = vec![
            // The trees' expected margin and what they make of the first stage's numbers, against taking the
            // first stage's log-odds as they are.
            EvidencePart {
                text: "the first stage's log-odds, re-weighed".into(),
                weight: expected + sum(0..2 + N_PARTS) - v[0] as f64,
            },
            EvidencePart {
                text: "length, characters and labels".into(),
                weight: sum(2 + N_PARTS..shape + 7),
            },
            EvidencePart {
                text: "known words in the label".into(),
                weight: sum(shape + 7..N_INPUTS),
            },
        ];
        if self.lm.is_some() {
            parts.push(EvidencePart {
                text: "how naturally the label reads".into(),
                weight: sum(N_INPUTS..N_STAGE),
            });
        }
        parts.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
        parts
    }

    /// The strongest of `parts` (text, bucket), by the magnitude of their weight.
    fn top_parts(&self, parts: Vec<(String, usize)>) -> Vec<EvidencePart> {
        let mut p: Vec<EvidencePart> = parts
            .into_iter()
            .map(|(text, b)| EvidencePart {
                text,
                weight: self.wq[b & (DIM - 1)] as f64 * self.wq_scale as f64,
            })
            .collect();
        p.sort_by(|a, b| {
            b.weight
                .abs()
                .total_cmp(&a.weight.abs())
                .then_with(|| a.text.cmp(&b.text))
        });
        p.dedup_by(|a, b| a.text == b.text);
        p.truncate(TOP);
        p
    }
}

fn evidence(signal: &str, weight: f64, detail: String, top: Vec<EvidencePart>) -> Evidence {
    Evidence {
        signal: signal.into(),
        weight,
        detail,
        top,
    }
}

/// The character 3-, 4- and 5-grams of `^name$` with their buckets (the first feature group of
/// `sparse_features`, whose sum a test checks).
fn name_ngrams(d: &[u8]) -> Vec<(String, usize)> {
    let padded = [&b"^"[..], d, &b"$"[..]].concat();
    let mut out = Vec::new();
    for i in 0..padded.len() {
        for len in 3..=5 {
            let Some(w) = padded.get(i..i + len) else {
                break;
            };
            let h = w.iter().fold(0xcbf2_9ce4_8422_2325, |h, &c| mix(h, c));
            out.push((
                String::from_utf8_lossy(w).into_owned(),
                bucket(h ^ len as u64),
            ));
        }
    }
    out
}

/// Each label and the top-level domain as tokens (the label-count token is left out: it is not a piece of
/// the name).
fn label_tokens(d: &[u8]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = d
        .split(|c| *c == b'.')
        .map(|l| {
            let h = l.iter().fold(0x51ab_1e00, |h, &c| mix(h, c));
            (String::from_utf8_lossy(l).into_owned(), bucket(h))
        })
        .collect();
    let tld = d.rsplit(|c| *c == b'.').next().unwrap_or(d);
    let h = tld.iter().fold(0x71d0_0000, |h, &c| mix(h, c));
    out.push((
        format!(".{} (top-level domain)", String::from_utf8_lossy(tld)),
        bucket(h),
    ));
    out
}

/// Character 2-, 3- and 4-grams of the registrable label.
fn label_ngrams(label: &[u8]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for i in 0..label.len() {
        let mut h: u64 = 0x1abe_1000;
        for k in 0..4 {
            let Some(&c) = label.get(i + k) else { break };
            h = mix(h, c);
            if k >= 1 {
                out.push((
                    String::from_utf8_lossy(&label[i..=i + k]).into_owned(),
                    bucket(h ^ (k as u64 + 0x40)),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> DomainModel {
        DomainModel::embedded().expect("the embedded model loads")
    }

    /// The n-grams the explanation lists are exactly the first stage's: their weights add up to its group
    /// sums, bit for bit.
    #[test]
    fn parts_add_up_to_the_first_stage_groups() {
        let m = model();
        for name in [
            "qx7vk2lz9wfhr3tb.top",
            "termine.musterhausen.de",
            "a.b",
            "www.bsi.bund.de",
            "xn--80ak6aa92e.com",
            "login-secure-update.account-verify.info",
        ] {
            let v = m.inputs(name.as_bytes());
            let sum = |parts: Vec<(String, usize)>| {
                let s: i32 = parts.iter().map(|(_, b)| m.wq[b & (DIM - 1)] as i32).sum();
                s as f32 * m.wq_scale
            };
            assert_eq!(sum(name_ngrams(name.as_bytes())), v[2], "{name}");
            let (sl, rl) = name_split(name.as_bytes(), name.rsplit('.').next().unwrap_or("").len());
            let reg = &name.as_bytes()[name.len() - rl..];
            let label = &reg[..reg.len().saturating_sub(sl + 1)];
            assert_eq!(sum(label_ngrams(label)), v[5], "{name}");
        }
    }

    #[test]
    fn explanation_matches_the_score_and_sorts_by_strength() {
        let m = model();
        let e = m.explain("QX7VK2LZ9WFHR3TB.top.");
        assert_eq!(e.score, m.score("qx7vk2lz9wfhr3tb.top"));
        assert_eq!(e.public_suffix, "top");
        assert_eq!(e.registered_domain, "qx7vk2lz9wfhr3tb.top");
        assert_eq!(e.evidence.len(), 7);
        assert!(e
            .evidence
            .windows(2)
            .all(|w| w[0].weight.abs() >= w[1].weight.abs()));
        // The score is the logistic of the final log-odds, and the first-stage signals add up to the first
        // stage's log-odds less its bias.
        assert!((1.0 / (1.0 + (-e.log_odds).exp()) - e.score).abs() < 2e-4);
        let second = e.evidence.iter().find(|x| x.signal == "second-stage");
        assert!(second.is_some_and(|s| (s.weight - (e.log_odds - e.first_stage)).abs() < 2e-4));
        // The second stage's parts (what its trees read) add up to its correction.
        let parts = second.map(|s| {
            (
                s.weight,
                s.top.iter().map(|p| p.weight).sum::<f64>(),
                s.top.len(),
            )
        });
        assert!(
            parts.is_some_and(|(w, sum, n)| n == 4 && (w - sum).abs() < 5e-4),
            "{parts:?}"
        );
        let grams = e.evidence.iter().find(|x| x.signal == "name-ngrams");
        assert!(grams.is_some_and(|g| !g.top.is_empty() && g.top.len() <= TOP));
        // A random label under .top is a lead; its evidence points that way.
        assert!(e.score > 0.9, "{e:?}");
        assert!(e.log_odds > 0.0);
    }

    /// A lead's one-line reasons quote pieces of the name, and say what the trees read for the second stage.
    #[test]
    fn briefs_quote_name_pieces_only() {
        let e = model().explain("termine.musterhausen.de");
        for x in &e.evidence {
            let b = x.brief();
            assert!(b.starts_with(&x.signal), "{b}");
            match (x.signal.as_str(), x.top.first()) {
                ("second-stage", Some(p)) => {
                    assert!(b.ends_with(&format!("(mostly {})", p.text)), "{b}")
                }
                (_, Some(p)) => assert!(b.ends_with(&format!("(`{}`)", p.text)), "{b}"),
                (_, None) => assert!(!b.contains('('), "{b}"),
            }
        }
    }

    #[test]
    fn empty_and_odd_input_explain_without_panicking() {
        let m = model();
        for s in ["", ".", "*.", "   ", "..", "a..b", "\u{7f}\u{0}.x", "ü.de"] {
            let e = m.explain(s);
            assert_eq!(e.score, m.score(s), "{s:?}");
        }
        assert!(m.explain("").evidence.is_empty());
    }
}
