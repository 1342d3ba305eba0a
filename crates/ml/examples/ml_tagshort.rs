//! Study of the tagger's document decision on short texts: `ml_tagshort CORPUS CACHE [VARIANTS]`.
//! Scores the training reports out of fold once (clause and window scores, fold models' neighbour votes;
//! cached as JSON in CACHE), cuts "snippet documents" from them (runs of 5-40 consecutive prose sentences,
//! truth = the TRAM-50 techniques annotated inside), and compares document decisions by nested
//! cross-validation over the training reports (stacker and threshold fitted on three folds, measured on the
//! fourth): F1 on whole reports and on snippets. Held-out reports are not involved.
//! VARIANTS: `;`-separated `FEATURES,SNIPPET_WEIGHT,OBJECTIVE,RULE`: FEATURES `-` (the stacker's nine
//! statistics) plus letters `i` (logit(best)/ln(1+n): the shipped tenth), `j`, `a`, `q`, `g`; SNIPPET_WEIGHT
//! 0 = whole reports only; OBJECTIVE `w` (whole-report F1) or `m` (mean of whole and snippet F1); RULE `n`
//! (none), `u` (best-sentence rule for short documents), `s` (separate short-document threshold) or `pM`
//! (per-technique thresholds shrunk by M positives). Example: `i,0.3,m,n` (shipped).

#![allow(
    clippy::needless_range_loop,
    clippy::type_complexity,
    reason = "a study tool: index loops over small dense vectors"
)]

use std::path::PathBuf;

use vigil_ml::tag::StudyReport;

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}
fn sig(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// One (document, class) row.
struct Row {
    fold: u64,
    whole: bool,
    nsent: usize,
    k: usize,
    top0: f32,
    x: Vec<f32>,
    y: bool,
}

fn feats(kind: &str, p: &mut [f32], prior: f32, knn: f32) -> Vec<f32> {
    p.sort_by(|a, b| b.total_cmp(a));
    let g = |i: usize| p.get(i).copied().unwrap_or(0.0);
    let above = |t: f32| p.iter().filter(|x| **x >= t).count() as f32;
    let n = p.len();
    let ln = (1.0 + n as f32).ln();
    let mut v = vec![
        logit(g(0)),
        logit(g(1)),
        logit((g(0) + g(1) + g(2)) / 3.0),
        (1.0 + above(0.5)).ln(),
        logit(prior),
        ln,
        (1.0 + above(0.2)).ln(),
        (1.0 + above(0.8)).ln(),
        knn,
    ];
    if kind.contains('i') {
        v.push(logit(g(0)) / ln);
    }
    if kind.contains('j') {
        v.push(knn * ln);
    }
    if kind.contains('a') {
        v.push(above(0.5) / n.max(1) as f32);
    }
    if kind.contains('g') {
        v.push((logit(g(0)) - logit(g(1))) / ln);
    }
    if kind.contains('q') {
        v.push(1.0 / ln);
    }
    v
}

fn rows(kind: &str, data: &[StudyReport], classes: usize) -> Vec<Row> {
    let mut out = Vec::new();
    for r in data {
        for (i, j, knn, truth) in &r.docs {
            let whole = (*i, *j) == (0, r.probs.len());
            for k in 0..classes {
                let mut p: Vec<f32> = r.probs[*i..*j].iter().map(|s| s[k]).collect();
                let x = feats(kind, &mut p, r.prior[k], knn[k]);
                out.push(Row {
                    fold: r.fold,
                    whole,
                    nsent: j - i,
                    k,
                    top0: p.first().copied().unwrap_or(0.0),
                    x,
                    y: truth
                        .iter()
                        .any(|t| *t == CLASSES.with(|c| c.borrow()[k].clone())),
                });
            }
        }
    }
    out
}

thread_local! {
    static CLASSES: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Lr {
    w: Vec<f32>,
    mu: Vec<f32>,
    sd: Vec<f32>,
}

/// Weighted logistic regression on standardised features (full-batch gradient descent, as the tagger's).
fn fit(xs: &[(&[f32], f32, f32)], l2: f32) -> Lr {
    let d = xs[0].0.len();
    let n: f32 = xs.iter().map(|x| x.2).sum();
    let mut mu = vec![0f32; d];
    let mut sd = vec![0f32; d];
    for (x, _, w) in xs {
        for k in 0..d {
            mu[k] += w * x[k] / n;
        }
    }
    for (x, _, w) in xs {
        for k in 0..d {
            sd[k] += w * (x[k] - mu[k]).powi(2) / n;
        }
    }
    for s in sd.iter_mut() {
        *s = s.sqrt().max(1e-6);
    }
    let z: Vec<(Vec<f32>, f32, f32)> = xs
        .iter()
        .map(|(x, y, w)| ((0..d).map(|k| (x[k] - mu[k]) / sd[k]).collect(), *y, *w))
        .collect();
    let mut w = vec![0f32; d + 1];
    for _ in 0..600 {
        let mut g = vec![0f32; d + 1];
        for (x, y, wt) in &z {
            let mut s = w[d];
            for k in 0..d {
                s += w[k] * x[k];
            }
            let e = (sig(s) - y) * wt;
            for k in 0..d {
                g[k] += e * x[k];
            }
            g[d] += e;
        }
        for k in 0..=d {
            w[k] -= g[k] / n + if k < d { l2 * w[k] } else { 0.0 };
        }
    }
    Lr { w, mu, sd }
}

impl Lr {
    fn p(&self, x: &[f32]) -> f32 {
        let d = x.len();
        let mut s = self.w[d];
        for k in 0..d {
            s += self.w[k] * (x[k] - self.mu[k]) / self.sd[k];
        }
        sig(s)
    }
}

#[derive(Default, Clone, Copy)]
struct C {
    tp: usize,
    fp: usize,
    fn_: usize,
}
impl C {
    fn add(&mut self, pred: bool, y: bool) {
        match (pred, y) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            _ => {}
        }
    }
    fn f1(&self) -> f64 {
        let d = 2 * self.tp + self.fp + self.fn_;
        if d == 0 {
            0.0
        } else {
            2.0 * self.tp as f64 / d as f64
        }
    }
}

/// A decision: stacker probability plus an optional best-sentence rule for short documents.
struct Dec {
    thr: f32,
    /// (longest document in prose sentences, best-sentence threshold): a class whose best sentence reaches
    /// the threshold is kept in a document of at most that many sentences.
    union: Option<(usize, f32)>,
    /// (longest document, stacker threshold) for short documents.
    short: Option<(usize, f32)>,
    /// Per-class stacker thresholds (empty: `thr` for every class).
    per: Vec<f32>,
}

fn decide(d: &Dec, p: f32, r: &Row) -> bool {
    let thr = match d.short {
        Some((n, t)) if r.nsent <= n => t,
        _ => d.per.get(r.k).copied().unwrap_or(d.thr),
    };
    p >= thr || d.union.is_some_and(|(n, t)| r.nsent <= n && r.top0 >= t)
}

/// Counts on whole reports and on snippets.
fn count(rs: &[&Row], ps: &[f32], d: &Dec) -> (C, C) {
    let (mut a, mut b) = (C::default(), C::default());
    for (r, p) in rs.iter().zip(ps) {
        let pr = decide(d, *p, r);
        if r.whole {
            a.add(pr, r.y);
        } else {
            b.add(pr, r.y);
        }
    }
    (a, b)
}

/// Variant: `kind` features; `mix` weight of snippets in the fit (0 = whole reports only);
/// `obj` threshold objective: 'w' whole reports' F1, 'm' mean of whole and snippet F1;
/// `union`: also choose a best-sentence rule for short documents.
fn run(
    rows: &[Row],
    _kind: &str,
    mix: f32,
    obj: char,
    union: bool,
    short: bool,
    per: Option<f32>,
) -> (C, C, Vec<(usize, C)>) {
    let mut tot = (C::default(), C::default());
    let buckets = [5usize, 10, 20, 40];
    let mut byb = vec![C::default(); buckets.len()];
    for f in 0..4u64 {
        let tr: Vec<&Row> = rows.iter().filter(|r| r.fold != f).collect();
        let te: Vec<&Row> = rows.iter().filter(|r| r.fold == f).collect();
        let nw = tr.iter().filter(|r| r.whole).count() as f32;
        let ns = tr.iter().filter(|r| !r.whole).count().max(1) as f32;
        let data: Vec<(&[f32], f32, f32)> = tr
            .iter()
            .filter(|r| r.whole || mix > 0.0)
            .map(|r| {
                (
                    r.x.as_slice(),
                    if r.y { 1.0 } else { 0.0 },
                    if r.whole { 1.0 } else { mix * nw / ns },
                )
            })
            .collect();
        let m = fit(&data, 0.01);
        let ptr: Vec<f32> = tr.iter().map(|r| m.p(&r.x)).collect();
        let objf = |d: &Dec| {
            let (a, b) = count(&tr, &ptr, d);
            match obj {
                'w' => a.f1(),
                _ => (a.f1() + b.f1()) / 2.0,
            }
        };
        let mut best = (
            Dec {
                thr: 0.5,
                union: None,
                short: None,
                per: Vec::new(),
            },
            -1.0,
        );
        for s in 5..96 {
            let d = Dec {
                thr: s as f32 / 100.0,
                union: None,
                short: None,
                per: Vec::new(),
            };
            let v = objf(&d);
            if v > best.1 + 1e-9 {
                best = (d, v);
            }
        }
        if union {
            let thr = best.0.thr;
            for n in [5usize, 10, 15, 20, 30, 40, 60] {
                for t in [0.5f32, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98] {
                    let d = Dec {
                        thr,
                        union: Some((n, t)),
                        short: None,
                        per: Vec::new(),
                    };
                    let v = objf(&d);
                    if v > best.1 + 1e-9 {
                        best = (d, v);
                    }
                }
            }
        }
        if short {
            let thr = best.0.thr;
            for n in [5usize, 10, 20] {
                for t in 5..96 {
                    let d = Dec {
                        thr,
                        union: None,
                        short: Some((n, t as f32 / 100.0)),
                        per: Vec::new(),
                    };
                    let v = objf(&d);
                    if v > best.1 + 1e-9 {
                        best = (d, v);
                    }
                }
            }
        }
        if let Some(m) = per {
            // One threshold per class, each chosen with the others fixed, shrunk towards the global one by
            // the class's positives n: thr + (t - thr) * n / (n + m).
            let thr = best.0.thr;
            let nc = tr.iter().map(|r| r.k).max().unwrap_or(0) + 1;
            let mut per_t = vec![thr; nc];
            for k in 0..nc {
                let npos = tr.iter().filter(|r| r.k == k && r.y && r.whole).count() as f32;
                let mut bk = (thr, -1.0);
                for t in 5..96 {
                    let mut d = Dec {
                        thr,
                        union: None,
                        short: None,
                        per: per_t.clone(),
                    };
                    d.per[k] = t as f32 / 100.0;
                    let v = objf(&d);
                    if v > bk.1 + 1e-9 {
                        bk = (t as f32 / 100.0, v);
                    }
                }
                per_t[k] = thr + (bk.0 - thr) * npos / (npos + m);
            }
            best.0 = Dec {
                thr,
                union: None,
                short: None,
                per: per_t,
            };
        }
        let pte: Vec<f32> = te.iter().map(|r| m.p(&r.x)).collect();
        let (a, b) = count(&te, &pte, &best.0);
        tot.0.tp += a.tp;
        tot.0.fp += a.fp;
        tot.0.fn_ += a.fn_;
        tot.1.tp += b.tp;
        tot.1.fp += b.fp;
        tot.1.fn_ += b.fn_;
        for (r, p) in te.iter().zip(&pte) {
            if let Some(bi) = buckets.iter().position(|l| *l == r.nsent) {
                if !r.whole {
                    byb[bi].add(decide(&best.0, *p, r), r.y);
                }
            }
        }
        eprintln!(
            "  fold {f}: thr {:.2} union {:?} short {:?}",
            best.0.thr, best.0.union, best.0.short
        );
    }
    (tot.0, tot.1, buckets.iter().copied().zip(byb).collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let corpus = PathBuf::from(&a[1]);
    let cache = PathBuf::from(&a[2]);
    let data: (Vec<String>, Vec<StudyReport>) = if cache.exists() {
        serde_json::from_slice(&std::fs::read(&cache)?)?
    } else {
        let d = vigil_ml::tag::study_short(&corpus, &[5, 10, 20, 40], 3)?;
        std::fs::write(&cache, serde_json::to_vec(&d)?)?;
        d
    };
    let (classes, reps) = data;
    CLASSES.with(|c| *c.borrow_mut() = classes.clone());
    let nsnip: usize = reps.iter().map(|r| r.docs.len() - 1).sum();
    let snip_pos: usize = reps
        .iter()
        .flat_map(|r| r.docs.iter().skip(1))
        .map(|d| d.3.len())
        .sum();
    println!(
        "{} reports, {} snippets ({} annotated pairs), {} classes",
        reps.len(),
        nsnip,
        snip_pos,
        classes.len()
    );
    let variants: Vec<String> = a
        .get(3)
        .map(|s| s.split(';').map(String::from).collect())
        .unwrap_or_else(|| {
            vec![
                "base,0,w,n".into(),
                "base,0,w,u".into(),
                "base,0,m,u".into(),
                "base,1,m,n".into(),
                "base,0.3,m,n".into(),
                "base,1,w,n".into(),
            ]
        });
    {
        let rs = rows("", &reps, classes.len());
        for l in [5usize, 10, 20, 40, 0] {
            let mut line = format!("best sentence precision, length {l}:");
            for t in [0.5f32, 0.8, 0.9, 0.95, 0.98, 0.99] {
                let sel: Vec<&Row> = rs
                    .iter()
                    .filter(|r| {
                        if l == 0 {
                            r.whole
                        } else {
                            !r.whole && r.nsent == l
                        }
                    })
                    .filter(|r| r.top0 >= t)
                    .collect();
                let tp = sel.iter().filter(|r| r.y).count();
                line += &format!(" >={t}: {tp}/{}", sel.len());
            }
            println!("{line}");
            let mut line = format!("  single strong sentence (second best < 0.2), length {l}:");
            for t in [0.8f32, 0.9, 0.95, 0.98] {
                let sel: Vec<&Row> = rs
                    .iter()
                    .filter(|r| {
                        if l == 0 {
                            r.whole
                        } else {
                            !r.whole && r.nsent == l
                        }
                    })
                    .filter(|r| r.top0 >= t && r.x[1] < -1.386)
                    .collect();
                let tp = sel.iter().filter(|r| r.y).count();
                line += &format!(" >={t}: {tp}/{}", sel.len());
            }
            println!("{line}");
        }
    }
    for v in variants {
        let p: Vec<&str> = v.split(',').collect();
        let (kind, mix, obj, union) = (
            p[0],
            p[1].parse::<f32>()?,
            p[2].chars().next().unwrap_or('w'),
            p[3] == "u",
        );
        let short = p[3] == "s";
        let per = p[3].strip_prefix('p').and_then(|m| m.parse::<f32>().ok());
        let rs = rows(kind, &reps, classes.len());
        let (w, s, b) = run(&rs, kind, mix, obj, union, short, per);
        let bs: Vec<String> = b
            .iter()
            .map(|(l, c)| format!("{l}:{:.3}", c.f1()))
            .collect();
        println!(
            "{v:20} whole F1 {:.4} (tp {} fp {} fn {}) snippets F1 {:.4} (tp {} fp {} fn {}) by length {}",
            w.f1(),
            w.tp,
            w.fp,
            w.fn_,
            s.f1(),
            s.tp,
            s.fp,
            s.fn_,
            bs.join(" ")
        );
    }
    Ok(())
}
