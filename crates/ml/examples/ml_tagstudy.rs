//! Offline study of the tagger's document-level decision: `ml_tagstudy CORPUS CACHE [heldout]`.
//! Scores every training report out of fold once (cached as JSON in CACHE), then compares document-level
//! aggregators by cross-validation over the training reports (stacker and threshold fitted on three folds,
//! measured on the fourth). `heldout` also prints the held-out figure of each aggregator.

#![allow(
    clippy::too_many_arguments,
    clippy::needless_range_loop,
    reason = "a throwaway study tool: one feature function per statistic, index loops over small dense vectors"
)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use vigil_ml::tag::ScoredDoc;

type Data = (Vec<String>, Vec<String>, Vec<ScoredDoc>, Vec<ScoredDoc>);

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}
fn sig(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// Feature sets over one class's sentence probabilities `p` (sorted descending), and the class prior.
fn feats(
    kind: &str,
    p: &[f32],
    prior: f32,
    nsent: usize,
    dp: f32,
    knn: f32,
    roc: f32,
    pw: &[f32],
) -> Vec<f32> {
    let g = |i: usize| p.get(i).copied().unwrap_or(0.0);
    let topk = |k: usize| (0..k).map(g).sum::<f32>() / k as f32;
    let above = |t: f32| p.iter().filter(|x| **x >= t).count() as f32;
    let base = vec![
        logit(g(0)),
        logit(g(1)),
        logit(topk(3)),
        (1.0 + above(0.5)).ln(),
        logit(prior),
        (1.0 + nsent as f32).ln(),
    ];
    let mut v = base.clone();
    if kind.contains('m') {
        let mean = p.iter().sum::<f32>() / nsent.max(1) as f32;
        v.push(logit(mean));
    }
    if kind.contains('c') {
        v.push((1.0 + above(0.2)).ln());
        v.push((1.0 + above(0.8)).ln());
    }
    if kind.contains('f') {
        v.push(above(0.2) / nsent.max(1) as f32);
    }
    if kind.contains('t') {
        v.push(logit(topk(5)));
    }
    if kind.contains('d') {
        v.push(logit(dp));
    }
    if kind.contains('k') {
        v.push(knn);
    }
    if kind.contains('K') {
        v.push(logit((knn * KNN as f32 + prior) / (KNN as f32 + 1.0)));
    }
    if kind.contains('r') {
        v.push(roc);
    }
    if kind.contains('w') {
        let g = |i: usize| pw.get(i).copied().unwrap_or(0.0);
        v.push(logit(g(0)));
        v.push(logit((g(0) + g(1) + g(2)) / 3.0));
        v.push((1.0 + pw.iter().filter(|x| **x >= 0.5).count() as f32).ln());
    }
    if kind.contains('s') {
        v.push((1.0 + p.iter().sum::<f32>()).ln());
    }
    v
}

struct Lr {
    w: Vec<f32>,
    mu: Vec<f32>,
    sd: Vec<f32>,
}

fn fit(xs: &[(Vec<f32>, f32)], l2: f32) -> Lr {
    let d = xs[0].0.len();
    let n = xs.len() as f32;
    let mut mu = vec![0f32; d];
    let mut sd = vec![0f32; d];
    for (x, _) in xs {
        for k in 0..d {
            mu[k] += x[k] / n;
        }
    }
    for (x, _) in xs {
        for k in 0..d {
            sd[k] += (x[k] - mu[k]).powi(2) / n;
        }
    }
    for s in sd.iter_mut() {
        *s = s.sqrt().max(1e-6);
    }
    let z: Vec<(Vec<f32>, f32)> = xs
        .iter()
        .map(|(x, y)| ((0..d).map(|k| (x[k] - mu[k]) / sd[k]).collect(), *y))
        .collect();
    let mut w = vec![0f32; d + 1];
    for _ in 0..600 {
        let mut g = vec![0f32; d + 1];
        for (x, y) in &z {
            let mut s = w[d];
            for k in 0..d {
                s += w[k] * x[k];
            }
            let e = sig(s) - y;
            for k in 0..d {
                g[k] += e * x[k];
            }
            g[d] += e;
        }
        for k in 0..=d {
            w[k] -= 1.0 * (g[k] / n + if k < d { l2 * w[k] } else { 0.0 });
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

struct Cfg {
    kind: String,
    /// one-hot class bias
    onehot: bool,
    l2: f32,
}

fn f1(tp: usize, fp: usize, fn_: usize) -> f64 {
    let p = if tp + fp == 0 {
        0.0
    } else {
        tp as f64 / (tp + fp) as f64
    };
    let r = if tp + fn_ == 0 {
        0.0
    } else {
        tp as f64 / (tp + fn_) as f64
    };
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

const KNN: usize = 10;
thread_local! {
    static IDX: std::cell::RefCell<std::collections::HashMap<usize, usize>> = std::cell::RefCell::new(Default::default());
    static SIM: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
    static ALL: std::cell::RefCell<Vec<(u64, Vec<bool>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn idx_of(d: &ScoredDoc) -> usize {
    IDX.with(|m| m.borrow()[&(d as *const ScoredDoc as usize)])
}

/// kNN class votes of doc `i` among `pool` (excluding docs of its own fold).
fn knn(i: usize, fold: u64, pool: &[usize], nc: usize) -> Vec<f32> {
    SIM.with(|s| {
        ALL.with(|a| {
            let s = s.borrow();
            let a = a.borrow();
            let mut c: Vec<(f32, usize)> = pool
                .iter()
                .filter(|j| **j != i && a[**j].0 != fold)
                .map(|j| (s[i][*j], *j))
                .collect();
            let roc: Vec<f32> = (0..nc)
                .map(|k| {
                    let (mut sp, mut np, mut sn, mut nn) = (0f32, 0f32, 0f32, 0f32);
                    for x in &c {
                        if a[x.1].1[k] {
                            sp += x.0;
                            np += 1.0;
                        } else {
                            sn += x.0;
                            nn += 1.0;
                        }
                    }
                    sp / np.max(1.0) - sn / nn.max(1.0)
                })
                .collect();
            c.sort_by(|x, y| y.0.total_cmp(&x.0));
            c.truncate(KNN);
            let tot: f32 = c.iter().map(|x| x.0).sum::<f32>().max(1e-6);
            (0..nc)
                .map(|k| c.iter().filter(|x| a[x.1].1[k]).map(|x| x.0).sum::<f32>() / tot)
                .chain(roc)
                .collect()
        })
    })
}

/// (doc index, class index, features, label)
fn rows(
    cfg: &Cfg,
    docs: &[&ScoredDoc],
    classes: &[String],
    prior: &[f32],
    pool: &[&ScoredDoc],
) -> Vec<(usize, usize, Vec<f32>, f32)> {
    let nc = classes.len();
    let mut out = Vec::new();
    let pool: Vec<usize> = pool.iter().map(|d| idx_of(d)).collect();
    for (di, d) in docs.iter().enumerate() {
        let truth: BTreeSet<&String> = d.truth.iter().collect();
        let kv = if cfg.kind.contains(['k', 'K', 'r']) {
            knn(idx_of(d), d.fold, &pool, nc)
        } else {
            vec![0.0; 2 * nc]
        };
        for k in 0..nc {
            let mut p: Vec<f32> = d.probs.iter().map(|s| s[k]).collect();
            p.sort_by(|a, b| b.total_cmp(a));
            let mut pw: Vec<f32> = d.pair_probs.iter().map(|s| s[k]).collect();
            pw.sort_by(|a, b| b.total_cmp(a));
            let mut x = feats(
                &cfg.kind,
                &p,
                prior[k],
                d.probs.len(),
                d.doc_p[k],
                kv[k],
                kv[nc + k],
                &pw,
            );
            if cfg.onehot {
                for j in 0..nc {
                    x.push(if j == k { 1.0 } else { 0.0 });
                }
            }
            out.push((
                di,
                k,
                x,
                if truth.contains(&classes[k]) {
                    1.0
                } else {
                    0.0
                },
            ));
        }
    }
    out
}

fn priors(classes: &[String], docs: &[&ScoredDoc]) -> Vec<f32> {
    let n = docs.len() as f32;
    classes
        .iter()
        .map(|c| (docs.iter().filter(|d| d.truth.contains(c)).count() as f32 + 1.0) / (n + 2.0))
        .collect()
}

/// Fits on `train`, returns probabilities on `test` rows, and the threshold best on train's own rows.
fn run(
    cfg: &Cfg,
    classes: &[String],
    train: &[&ScoredDoc],
    test: &[&ScoredDoc],
    inner: bool,
) -> (Vec<(usize, usize, f32, f32)>, f32) {
    let pr = priors(classes, train);
    // Threshold: chosen on out-of-fold predictions inside train when `inner` (by fold), else in-sample.
    let rtr = rows(cfg, train, classes, &pr, train);
    let m = fit(
        &rtr.iter().map(|r| (r.2.clone(), r.3)).collect::<Vec<_>>(),
        cfg.l2,
    );
    let thr_rows: Vec<(usize, f32, f32)> = if inner {
        let folds: BTreeSet<u64> = train.iter().map(|d| d.fold).collect();
        let mut v = Vec::new();
        for f in folds {
            let a: Vec<&ScoredDoc> = train.iter().copied().filter(|d| d.fold != f).collect();
            let b: Vec<&ScoredDoc> = train.iter().copied().filter(|d| d.fold == f).collect();
            let pa = priors(classes, &a);
            let ra = rows(cfg, &a, classes, &pa, &a);
            let ma = fit(
                &ra.iter().map(|r| (r.2.clone(), r.3)).collect::<Vec<_>>(),
                cfg.l2,
            );
            let rb = rows(cfg, &b, classes, &pa, &a);
            v.extend(
                rb.iter()
                    .map(|r| (r.0 + 10_000 * f as usize, ma.p(&r.2), r.3)),
            );
        }
        v
    } else {
        rtr.iter().map(|r| (r.0, m.p(&r.2), r.3)).collect()
    };
    let mut best = (0.5f32, -1.0);
    for s in 5..96 {
        let t = s as f32 / 100.0;
        let (mut tp, mut fp, mut fnn) = (0, 0, 0);
        for (_, p, y) in &thr_rows {
            match (*p >= t, *y > 0.5) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fnn += 1,
                _ => {}
            }
        }
        let f = f1(tp, fp, fnn);
        if f > best.1 + 1e-9 {
            best = (t, f);
        }
    }
    let rte = rows(cfg, test, classes, &pr, train);
    (
        rte.iter().map(|r| (r.0, r.1, m.p(&r.2), r.3)).collect(),
        best.0,
    )
}

fn score(preds: &[(usize, usize, f32, f32)], thr: f32) -> (usize, usize, usize) {
    let (mut tp, mut fp, mut fnn) = (0, 0, 0);
    for (_, _, p, y) in preds {
        match (*p >= thr, *y > 0.5) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fnn += 1,
            _ => {}
        }
    }
    (tp, fp, fnn)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let corpus = PathBuf::from(&a[1]);
    let cache = PathBuf::from(&a[2]);
    let show_held = a.get(3).map(String::as_str) == Some("heldout");
    let data: Data = if cache.exists() {
        serde_json::from_slice(&std::fs::read(&cache)?)?
    } else {
        let d = vigil_ml::tag::study_scores(&corpus)?;
        std::fs::write(&cache, serde_json::to_vec(&d)?)?;
        d
    };
    let (classes_all, tram, cv, held) = data;
    let tram_set: BTreeSet<&String> = tram.iter().collect();
    // Regression classes = TRAM's 50 in sorted order (the first n_lr of classes_all).
    let classes: Vec<String> = classes_all
        .iter()
        .filter(|c| tram_set.contains(c))
        .cloned()
        .collect();
    let cvr: Vec<&ScoredDoc> = cv.iter().collect();
    {
        let all: Vec<&ScoredDoc> = cv.iter().chain(held.iter()).collect();
        // IDF over the training reports only.
        let mut df: std::collections::HashMap<&str, f32> = Default::default();
        for d in &cv {
            for (t, _) in &d.terms {
                *df.entry(t.as_str()).or_default() += 1.0;
            }
        }
        let n = cv.len() as f32;
        let vecs: Vec<std::collections::HashMap<&str, f32>> = all
            .iter()
            .map(|d| {
                let mut v: std::collections::HashMap<&str, f32> = d
                    .terms
                    .iter()
                    .filter_map(|(t, c)| {
                        let f = *df.get(t.as_str())?;
                        (f >= 2.0 && f < n * 0.5)
                            .then(|| (t.as_str(), (1.0 + (*c as f32).ln()) * (n / f).ln()))
                    })
                    .collect();
                let norm = v.values().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
                v.values_mut().for_each(|x| *x /= norm);
                v
            })
            .collect();
        let sim: Vec<Vec<f32>> = vecs
            .iter()
            .map(|a| {
                vecs.iter()
                    .map(|b| {
                        a.iter()
                            .map(|(t, x)| x * b.get(t).copied().unwrap_or(0.0))
                            .sum()
                    })
                    .collect()
            })
            .collect();
        SIM.with(|s| *s.borrow_mut() = sim);
        ALL.with(|s| {
            *s.borrow_mut() = all
                .iter()
                .map(|d| {
                    (
                        d.fold,
                        classes_all
                            .iter()
                            .filter(|c| tram_set.contains(c))
                            .map(|c| d.truth.contains(c))
                            .collect(),
                    )
                })
                .collect()
        });
        IDX.with(|m| {
            *m.borrow_mut() = all
                .iter()
                .enumerate()
                .map(|(i, d)| (*d as *const ScoredDoc as usize, i))
                .collect()
        });
    }
    let hr: Vec<&ScoredDoc> = held.iter().collect();
    let kinds: Vec<String> = a
        .get(4)
        .map(|s| s.split(',').map(String::from).collect())
        .unwrap_or_else(|| vec!["".into()]);
    for kind in &kinds {
        for onehot in [false] {
            for l2 in [1e-2f32] {
                let cfg = Cfg {
                    kind: kind.clone(),
                    onehot,
                    l2,
                };
                // In-sample (as the current code reports), and honest outer CV.
                let (p_in, t_in) = run(&cfg, &classes, &cvr, &cvr, false);
                let (tp, fp, fnn) = score(&p_in, t_in);
                let insample = f1(tp, fp, fnn);
                let (mut otp, mut ofp, mut ofn) = (0, 0, 0);
                for f in 0..4u64 {
                    let tr: Vec<&ScoredDoc> = cvr.iter().copied().filter(|d| d.fold != f).collect();
                    let te: Vec<&ScoredDoc> = cvr.iter().copied().filter(|d| d.fold == f).collect();
                    let (p, t) = run(&cfg, &classes, &tr, &te, true);
                    let (a1, b1, c1) = score(&p, t);
                    otp += a1;
                    ofp += b1;
                    ofn += c1;
                }
                let mut line = format!(
                    "kind={kind:4} onehot={onehot} l2={l2}: cv_insample={insample:.4} (thr {t_in}) cv_nested={:.4} P={:.3} R={:.3}",
                    f1(otp, ofp, ofn),
                    otp as f64 / (otp + ofp).max(1) as f64,
                    otp as f64 / (otp + ofn).max(1) as f64
                );
                if show_held {
                    let (p, t) = run(&cfg, &classes, &cvr, &hr, true);
                    let (a1, b1, c1) = score(&p, t);
                    line += &format!(" | held={:.4} (thr {t})", f1(a1, b1, c1));
                }
                println!("{line}");
            }
        }
    }
    Ok(())
}
