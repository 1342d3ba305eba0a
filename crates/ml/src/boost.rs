//! Small gradient-boosted trees (logistic loss) over a few dense features: oblivious trees of fixed depth,
//! split thresholds from per-feature quantile bins, deterministic (rows or inputs sampled per tree, when asked
//! for, by a fixed hash). Used as the domain model's second stage, where scoring must stay a small part of a
//! microsecond per name: a tree is `depth` independent comparisons (no chain of dependent loads).

use crate::artifact::{Reader, Writer};
use crate::error::{MlError, Result};

/// Quantile bins per input while fitting, unless [`BoostParams::bins`] says otherwise.
pub const BINS: usize = 64;

/// Fitting settings.
#[derive(Debug, Clone, Copy)]
pub struct BoostParams {
    pub trees: usize,
    pub depth: u32,
    pub shrinkage: f32,
    /// L2 on leaf values (in hessian units).
    pub lambda: f64,
    /// Least hessian mass in a child.
    pub min_hess: f64,
    /// Quantile bins per input the splits are chosen among (2-256: a bin index is one byte).
    pub bins: usize,
    /// Share of the rows each tree is fitted on (stochastic boosting; 1: every row, no sampling). The rows are
    /// drawn by a hash of the tree's number and the row's, so a fit is the same twice.
    pub subsample: f32,
    /// Share of the inputs each tree may ask about (1: all of them), drawn the same way.
    pub colsample: f32,
}

impl Default for BoostParams {
    fn default() -> Self {
        BoostParams {
            trees: 60,
            depth: 4,
            shrinkage: 0.1,
            lambda: 1.0,
            min_hess: 5.0,
            bins: BINS,
            subsample: 1.0,
            colsample: 1.0,
        }
    }
}

/// Whether draw `i` of tree `t` falls within `share` (a fixed hash, no generator state).
fn drawn(t: usize, i: usize, salt: u64, share: f32) -> bool {
    if share >= 1.0 {
        return true;
    }
    let mut h = (t as u64) << 32 ^ i as u64 ^ salt;
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    ((h >> 11) as f64 / (1u64 << 53) as f64) < share as f64
}

/// A fitted ensemble of oblivious trees: every node of level `l` of a tree asks the same question,
/// `x[feat[l]] > thr[l]`, so a tree's leaf is the bit pattern of `depth` independent comparisons (no chain of
/// dependent loads while scoring).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trees {
    depth: u32,
    n_feat: u32,
    base: f32,
    feat: Vec<u32>,
    thr: Vec<f32>,
    leaf: Vec<f32>,
    /// The training weight that reached each leaf (as `leaf`): only [`Trees::contributions`] reads it.
    cover: Vec<f32>,
}

/// Most inputs an ensemble may read.
pub const MAX_FEAT: usize = 32;

impl Trees {
    /// Margin (log-odds) of one feature vector (missing inputs read as 0).
    #[inline]
    pub fn margin(&self, x: &[f32]) -> f32 {
        // The inputs in a fixed-size array: every feature index is below MAX_FEAT (checked when read or
        // fitted), so each read is in bounds without a check, and a missing input reads 0 as before.
        let mut xs = [0f32; MAX_FEAT];
        let n = x.len().min(MAX_FEAT);
        xs[..n].copy_from_slice(&x[..n]);
        match self.depth {
            // The domain model's depth: a tree's eight splits are one eight-lane compare (scoring is on the
            // per-name hot path).
            8 => self.margin8(&xs),
            _ => self.margin_any(&xs),
        }
    }

    /// [`Trees::margin`] for any depth, a split at a time.
    fn margin_any(&self, xs: &[f32; MAX_FEAT]) -> f32 {
        let d = self.depth as usize;
        let mut z = self.base;
        for ((f, th), lv) in self
            .feat
            .chunks_exact(d)
            .zip(self.thr.chunks_exact(d))
            .zip(self.leaf.chunks_exact(1 << d))
        {
            let mut k = 0usize;
            for (l, (f, th)) in f.iter().zip(th).enumerate() {
                k |= ((xs[*f as usize % MAX_FEAT] > *th) as usize) << l;
            }
            z += lv[k];
        }
        z
    }

    /// [`Trees::margin`] for trees of depth 8: lane `l` compares split `l`, so the compare's sign mask is the
    /// leaf index (`cmp_gt` is false for NaN, as `>` is). About a quarter fewer instructions than a split at a time.
    #[inline]
    fn margin8(&self, xs: &[f32; MAX_FEAT]) -> f32 {
        use wide::{f32x8, CmpGt};
        let mut z = self.base;
        for ((f, th), lv) in self
            .feat
            .chunks_exact(8)
            .zip(self.thr.chunks_exact(8))
            .zip(self.leaf.chunks_exact(256))
        {
            let (Ok(f), Ok(th), Ok(lv)) = (
                <&[u32; 8]>::try_from(f),
                <&[f32; 8]>::try_from(th),
                <&[f32; 256]>::try_from(lv),
            ) else {
                continue;
            };
            let x = f32x8::new(f.map(|i| xs[i as usize % MAX_FEAT]));
            let k = x.cmp_gt(f32x8::new(*th)).move_mask() as usize;
            z += lv[k % 256];
        }
        z
    }

    /// Number of features the trees read.
    pub fn n_features(&self) -> usize {
        self.n_feat as usize
    }

    /// Writes the ensemble.
    pub fn write(&self, w: &mut Writer) {
        w.u32(self.depth);
        w.u32(self.n_feat);
        w.f32(self.base);
        w.u32s(&self.feat);
        w.f32s(&self.thr);
        w.f32s(&self.leaf);
        w.f32s(&self.cover);
    }

    /// Reads an ensemble written by [`Trees::write`], checking its shape.
    pub fn read(r: &mut Reader, model: &'static str) -> Result<Self> {
        let depth = r.u32()?;
        let n_feat = r.u32()?;
        let base = r.f32()?;
        let feat = r.u32s()?;
        let thr = r.f32s()?;
        let leaf = r.f32s()?;
        let cover = r.f32s()?;
        if depth == 0 || depth > 12 {
            return Err(MlError::artifact(model, format!("tree depth {depth}")));
        }
        let leaves = 1usize << depth;
        let n = leaf.len() / leaves;
        let d = depth as usize;
        if leaf.len() % leaves != 0
            || feat.len() != n * d
            || thr.len() != n * d
            || cover.len() != leaf.len()
        {
            return Err(MlError::artifact(model, "tree arrays of mismatched sizes"));
        }
        if cover.iter().any(|c| !(c.is_finite() && *c >= 0.0)) {
            return Err(MlError::artifact(
                model,
                "a tree leaf's training weight is negative or not a number",
            ));
        }
        if n_feat as usize > MAX_FEAT || feat.iter().any(|f| *f >= n_feat) {
            return Err(MlError::artifact(
                model,
                "tree reads a feature it does not have",
            ));
        }
        Ok(Trees {
            depth,
            n_feat,
            base,
            feat,
            thr,
            leaf,
            cover,
        })
    }

    /// Why the trees give `x` the margin they do: the margin expected of a training row, and each input's
    /// Shapley value (`n_features()` long), which add up to [`Trees::margin`] of `x` (up to rounding).
    ///
    /// Per tree, a set S of the inputs it reads is "known" when the expected leaf follows `x` at every level
    /// asking about S and, at the other levels, both branches weighed by the training weight that took each
    /// (path-dependent expectations, as in Lundberg et al.'s TreeSHAP); the Shapley value averages what
    /// knowing an input adds over every order of learning them. A depth-8 tree reads at most 8 inputs, so
    /// the 2^8 sets are enumerated exactly. None for trees without leaf weights.
    pub fn contributions(&self, x: &[f32]) -> Option<(f64, Vec<f64>)> {
        let d = self.depth as usize;
        let leaves = 1usize << d;
        if self.cover.len() != self.leaf.len() || d > 8 {
            return None;
        }
        let mut xs = [0f32; MAX_FEAT];
        let n = x.len().min(MAX_FEAT);
        xs[..n].copy_from_slice(&x[..n]);
        let mut phi = vec![0f64; self.n_feat as usize];
        let mut expected = self.base as f64;
        let (mut under, mut below, mut level) = (Vec::new(), Vec::new(), Vec::new());
        let mut fact = [1f64; 10];
        for k in 1..fact.len() {
            fact[k] = fact[k - 1] * k as f64;
        }
        for ((f, th), (lv, cv)) in self.feat.chunks_exact(d).zip(self.thr.chunks_exact(d)).zip(
            self.leaf
                .chunks_exact(leaves)
                .zip(self.cover.chunks_exact(leaves)),
        ) {
            // Weight under every node, level by level in one array (node p of level l at 2^l - 1 + p; level l's
            // nodes are the leaves' low l bits, bit l being level l's answer).
            under.clear();
            under.resize((1 << (d + 1)) - 1, 0.0);
            for (k, c) in cv.iter().enumerate() {
                under[leaves - 1 + k] = *c as f64;
            }
            for l in (0..d).rev() {
                for p in 0..1usize << l {
                    under[(1 << l) - 1 + p] =
                        under[(1 << (l + 1)) - 1 + p] + under[(1 << (l + 1)) - 1 + (p | 1 << l)];
                }
            }
            let right = f.iter().zip(th).enumerate().fold(0u32, |r, (l, (j, t))| {
                r | ((xs[*j as usize % MAX_FEAT] > *t) as u32) << l
            });
            // The distinct inputs of this tree and the levels that ask about each.
            let mut inputs: Vec<(u32, u32)> = Vec::new();
            for (l, j) in f.iter().enumerate() {
                match inputs.iter_mut().find(|(k, _)| k == j) {
                    Some((_, levels)) => *levels |= 1 << l,
                    None => inputs.push((*j, 1 << l)),
                }
            }
            let m = inputs.len();
            // The expected leaf for every set of known levels at once, from the leaves up: at level l, node p's
            // value for the known levels K (bit 0: level l itself) follows x's branch when l is known, else
            // weighs both children's values for the same K by the training weight under each (evenly where
            // none came). d * 2^d steps per tree, where a walk per set would take 3^d.
            below.clear();
            below.extend(lv.iter().map(|v| *v as f64));
            for l in (0..d).rev() {
                let ks = 1usize << (d - l);
                level.clear();
                level.resize((1 << l) * ks, 0.0);
                for p in 0..1usize << l {
                    let (lo, hi) = (p, p | 1 << l);
                    let (wl, wh) = (
                        under[(1 << (l + 1)) - 1 + lo],
                        under[(1 << (l + 1)) - 1 + hi],
                    );
                    let take = if right >> l & 1 == 1 { hi } else { lo };
                    for k in 0..ks {
                        let at = |q: usize| below[q * (ks >> 1) + (k >> 1)];
                        level[p * ks + k] = if k & 1 == 1 {
                            at(take)
                        } else if wl + wh > 0.0 {
                            (wl * at(lo) + wh * at(hi)) / (wl + wh)
                        } else {
                            0.5 * (at(lo) + at(hi))
                        };
                    }
                }
                std::mem::swap(&mut below, &mut level);
            }
            // below[K]: the expected leaf when the levels in K are known.
            let e: Vec<f64> = (0..1usize << m)
                .map(|set| {
                    let levels = (0..m)
                        .filter(|i| set >> i & 1 == 1)
                        .fold(0u32, |a, i| a | inputs[i].1);
                    below.get(levels as usize).copied().unwrap_or(0.0)
                })
                .collect();
            expected += e[0];
            for (i, (j, _)) in inputs.iter().enumerate() {
                let mut v = 0f64;
                for set in (0..1usize << m).filter(|s| s >> i & 1 == 0) {
                    let s = set.count_ones() as usize;
                    v += fact[s] * fact[m - s - 1] / fact[m] * (e[set | 1 << i] - e[set]);
                }
                if let Some(p) = phi.get_mut(*j as usize) {
                    *p += v;
                }
            }
        }
        Some((expected, phi))
    }
}

/// Fits trees to rows `x` (each `n_feat` long, row-major) with labels `y` and sample weights `w`.
pub fn fit(x: &[f32], n_feat: usize, y: &[bool], w: &[f32], p: BoostParams) -> Trees {
    let n = y.len();
    let depth = p.depth.clamp(1, 12);
    let leaves = 1usize << depth;
    let bins = p.bins.clamp(2, 256);
    // Quantile thresholds per feature (up to bins - 1 distinct cut points) and the bin of every value.
    let mut cuts: Vec<Vec<f32>> = Vec::with_capacity(n_feat);
    for j in 0..n_feat {
        let mut v: Vec<f32> = (0..n)
            .map(|i| x[i * n_feat + j])
            .filter(|v| v.is_finite())
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        let mut c: Vec<f32> = (1..bins)
            .filter_map(|q| v.get(q * v.len() / bins).copied())
            .collect();
        c.dedup();
        // The last cut would send nothing right.
        if c.last() == v.last() {
            c.pop();
        }
        cuts.push(c);
    }
    let bin: Vec<u8> = (0..n * n_feat)
        .map(|k| {
            let c = &cuts[k % n_feat];
            c.partition_point(|t| *t < x[k]) as u8
        })
        .collect();
    let (mut sp, mut sw) = (0f64, 0f64);
    for i in 0..n {
        sw += w[i] as f64;
        if y[i] {
            sp += w[i] as f64;
        }
    }
    let prior = (sp / sw).clamp(1e-6, 1.0 - 1e-6);
    let base = (prior / (1.0 - prior)).ln() as f32;
    let mut z = vec![base; n];
    let (mut tf, mut tt, mut tl, mut tc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut node = vec![0u32; n];
    let mut g = vec![0f64; n];
    let mut h = vec![0f64; n];
    for t in 0..p.trees {
        // A row left out of this tree weighs nothing in its histograms and leaves (its margin still moves).
        for i in 0..n {
            let pr = 1.0 / (1.0 + (-z[i] as f64).exp());
            let wi = if drawn(t, i, 0x5ab5, p.subsample) {
                w[i] as f64
            } else {
                0.0
            };
            g[i] = (pr - if y[i] { 1.0 } else { 0.0 }) * wi;
            h[i] = (pr * (1.0 - pr)).max(1e-6) * wi;
        }
        let asked: Vec<bool> = (0..n_feat)
            .map(|j| drawn(t, j, 0xc015, p.colsample))
            .collect();
        node.iter_mut().for_each(|k| *k = 0);
        let mut feat = vec![0u32; depth as usize];
        let mut thr = vec![f32::INFINITY; depth as usize];
        for level in 0..depth as usize {
            let width = 1usize << level;
            // Histograms of (g, h) per node of the level, feature and bin.
            let mut hist = vec![(0f64, 0f64); width * n_feat * bins];
            for i in 0..n {
                let k = node[i] as usize;
                let row = &bin[i * n_feat..(i + 1) * n_feat];
                for (j, b) in row.iter().enumerate() {
                    let e = &mut hist[(k * n_feat + j) * bins + *b as usize];
                    e.0 += g[i];
                    e.1 += h[i];
                }
            }
            // One question for the whole level: the split with the largest gain summed over its nodes. Only
            // the first MAX_FEAT inputs may be asked about (what scoring and the artifact hold).
            let mut best = (0f64, usize::MAX, 0usize);
            for j in 0..n_feat.min(MAX_FEAT) {
                if !asked[j] {
                    continue;
                }
                let mut gains = vec![0f64; cuts[j].len()];
                for k in 0..width {
                    let hs = &hist[(k * n_feat + j) * bins..(k * n_feat + j + 1) * bins];
                    let (gt, ht) = hs.iter().fold((0.0, 0.0), |a, e| (a.0 + e.0, a.1 + e.1));
                    let parent = gt * gt / (ht + p.lambda);
                    let (mut gl, mut hl) = (0.0, 0.0);
                    for (b, e) in hs.iter().enumerate().take(cuts[j].len()) {
                        gl += e.0;
                        hl += e.1;
                        let (gr, hr) = (gt - gl, ht - hl);
                        if hl < p.min_hess || hr < p.min_hess {
                            continue;
                        }
                        gains[b] += gl * gl / (hl + p.lambda) + gr * gr / (hr + p.lambda) - parent;
                    }
                }
                for (b, gn) in gains.iter().enumerate() {
                    if *gn > best.0 {
                        best = (*gn, j, b);
                    }
                }
            }
            if best.1 != usize::MAX {
                feat[level] = best.1 as u32;
                thr[level] = cuts[best.1][best.2];
            }
            for i in 0..n {
                let right = x[i * n_feat + feat[level] as usize] > thr[level];
                node[i] |= (right as u32) << level;
            }
        }
        let mut lg = vec![(0f64, 0f64); leaves];
        let mut cover = vec![0f64; leaves];
        for i in 0..n {
            let e = &mut lg[node[i] as usize];
            e.0 += g[i];
            e.1 += h[i];
            cover[node[i] as usize] += w[i] as f64;
        }
        let leaf: Vec<f32> = lg
            .iter()
            .map(|(gs, hs)| (-gs / (hs + p.lambda)) as f32 * p.shrinkage)
            .collect();
        for i in 0..n {
            z[i] += leaf[node[i] as usize];
        }
        tf.extend_from_slice(&feat);
        tt.extend_from_slice(&thr);
        tl.extend_from_slice(&leaf);
        tc.extend(cover.iter().map(|c| *c as f32));
    }
    Trees {
        depth,
        n_feat: n_feat.min(MAX_FEAT) as u32,
        base,
        feat: tf,
        thr: tt,
        leaf: tl,
        cover: tc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_an_interaction_and_round_trips() {
        // y = (a > 0.5) xor (b > 0.5): no linear model can, two levels can.
        let mut x = Vec::new();
        let mut y = Vec::new();
        let mut s = 12345u64;
        for _ in 0..4000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let a = (s % 1000) as f32 / 1000.0;
            let b = ((s >> 20) % 1000) as f32 / 1000.0;
            x.extend_from_slice(&[a, b]);
            y.push((a > 0.5) != (b > 0.5));
        }
        let w = vec![1.0; y.len()];
        let t = fit(&x, 2, &y, &w, BoostParams::default());
        let ok = (0..y.len())
            .filter(|i| (t.margin(&x[i * 2..i * 2 + 2]) > 0.0) == y[*i])
            .count();
        assert!(ok as f64 / y.len() as f64 > 0.95, "{ok}");
        let mut wr = Writer::default();
        t.write(&mut wr);
        let mut r = Reader::new(&wr.buf, "test");
        assert_eq!(Trees::read(&mut r, "test").expect("reads"), t);
    }

    /// Stochastic boosting: the same draws twice (no generator state), a tree only asks about the inputs drawn
    /// for it, and sampling changes the fit (so the switch does something).
    #[test]
    fn sampled_fits_are_repeatable_and_keep_to_their_inputs() {
        let mut rng = crate::domain::Rng::new(0x9e37_79b9_7f4a_7c15);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..3000 {
            let row: Vec<f32> = (0..6)
                .map(|_| (rng.next() % 1000) as f32 / 1000.0)
                .collect();
            y.push(row[0] + row[3] > 1.0);
            x.extend_from_slice(&row);
        }
        let w = vec![1.0; y.len()];
        let p = BoostParams {
            trees: 12,
            subsample: 0.5,
            colsample: 0.5,
            ..BoostParams::default()
        };
        let a = fit(&x, 6, &y, &w, p);
        assert_eq!(a, fit(&x, 6, &y, &w, p));
        assert_ne!(a, fit(&x, 6, &y, &w, BoostParams::default()));
        for (t, f) in a.feat.chunks_exact(a.depth as usize).enumerate() {
            for j in f {
                // A level whose best split gains nothing keeps input 0 (threshold infinity): only others count.
                if *j != 0 {
                    assert!(
                        drawn(t, *j as usize, 0xc015, 0.5),
                        "tree {t} asks about input {j}"
                    );
                }
            }
        }
        assert!(drawn(3, 7, 1, 1.0));
        let share = (0..10_000).filter(|i| drawn(1, *i, 0x5ab5, 0.3)).count();
        assert!((2700..3300).contains(&share), "{share}");
    }

    #[test]
    fn eight_lane_splits_agree_with_one_split_at_a_time() {
        // Random depth-8 ensembles and inputs, with NaN, infinities and values equal to a threshold.
        let mut rng = crate::domain::Rng::new(0x853c_49e6_748f_ea9b);
        let mut next = || rng.next();
        for _ in 0..50 {
            let t = random_depth8(&mut next, 20, 30, 0.25, false);
            for _ in 0..100 {
                let mut xs = [0f32; MAX_FEAT];
                for x in xs.iter_mut() {
                    *x = match next() % 12 {
                        0 => f32::NAN,
                        1 => f32::INFINITY,
                        2 => f32::NEG_INFINITY,
                        k => k as f32 - 7.0,
                    };
                }
                assert_eq!(t.margin8(&xs).to_bits(), t.margin_any(&xs).to_bits());
            }
        }
    }

    /// Random depth-8 ensembles (inputs asked about at several levels, leaves no training weight reached):
    /// the expected margin and the inputs' parts add up to the margin, and an input no tree asks about gets 0.
    #[test]
    fn contributions_add_up_to_the_margin() {
        let mut rng = crate::domain::Rng::new(0x2545_f491_4f6c_dd1d);
        let mut next = || rng.next();
        for _ in 0..20 {
            // Input 29 is never asked about; the others often twice in a tree.
            let t = random_depth8(&mut next, 10, 12, -0.5, true);
            for _ in 0..20 {
                let x: Vec<f32> = (0..30).map(|_| (next() % 11) as f32 - 5.0).collect();
                let (e, phi) = t.contributions(&x).expect("the trees have leaf weights");
                let sum = e + phi.iter().sum::<f64>();
                assert!(
                    (sum - t.margin(&x) as f64).abs() < 1e-3,
                    "{sum} {}",
                    t.margin(&x)
                );
                assert_eq!(phi[29], 0.0);
            }
        }
    }

    /// One split: the input's part is its leaf less the weighted mean of both leaves, and the expected margin
    /// that mean; trees without leaf weights (an artifact from before them) give none.
    #[test]
    fn contributions_of_one_split_are_its_leaf_less_the_mean() {
        let t = Trees {
            depth: 1,
            n_feat: 2,
            base: 0.0,
            feat: vec![1],
            thr: vec![0.5],
            leaf: vec![-1.0, 3.0],
            cover: vec![3.0, 1.0],
        };
        let (e, phi) = t.contributions(&[9.0, 1.0]).expect("weights");
        assert!((e - 0.0).abs() < 1e-12, "{e}");
        assert_eq!(phi, vec![0.0, 3.0]);
        let (_, phi) = t.contributions(&[9.0, 0.0]).expect("weights");
        assert_eq!(phi, vec![0.0, -1.0]);
        let bare = Trees {
            cover: Vec::new(),
            ..t
        };
        assert!(bare.contributions(&[0.0, 0.0]).is_none());
    }

    /// Against a reference computed another way: each set's expectation by enumerating the leaves with their
    /// path weights, each input's value by averaging its marginal part over every order of the inputs.
    #[test]
    fn contributions_match_permutation_shapley_over_enumerated_leaves() {
        let mut rng = crate::domain::Rng::new(0x9e37_79b9_7f4a_7c15);
        let mut next = || rng.next();
        for _ in 0..30 {
            let depth = 1 + (next() % 4) as usize;
            let leaves = 1 << depth;
            let t = Trees {
                depth: depth as u32,
                n_feat: 4,
                base: 0.0,
                feat: (0..depth).map(|_| (next() % 4) as u32).collect(),
                thr: (0..depth).map(|_| (next() % 5) as f32 - 2.0).collect(),
                leaf: (0..leaves)
                    .map(|_| (next() % 200) as f32 / 10.0 - 10.0)
                    .collect(),
                cover: (0..leaves)
                    .map(|_| (next() % 3 * (next() % 50)) as f32)
                    .collect(),
            };
            let x: Vec<f32> = (0..4).map(|_| (next() % 7) as f32 - 3.0).collect();
            let right: Vec<bool> = (0..depth)
                .map(|l| x[t.feat[l] as usize] > t.thr[l])
                .collect();
            // Training weight under the node of level l that leaf k passes through.
            let under = |l: usize, k: usize| -> f64 {
                (0..leaves)
                    .filter(|q| q % (1 << l) == k % (1 << l))
                    .map(|q| t.cover[q] as f64)
                    .sum()
            };
            let expect = |known: &[u32]| -> f64 {
                (0..leaves)
                    .map(|k| {
                        let mut w = 1.0;
                        for (l, r) in right.iter().enumerate() {
                            let bit = k >> l & 1 == 1;
                            if known.contains(&t.feat[l]) {
                                w *= (bit == *r) as u8 as f64;
                            } else {
                                let (node, child) = (under(l, k), under(l + 1, k));
                                w *= if node > 0.0 { child / node } else { 0.5 };
                            }
                        }
                        w * t.leaf[k] as f64
                    })
                    .sum()
            };
            let mut want = [0f64; 4];
            let orders = permutations(&[0, 1, 2, 3]);
            for order in &orders {
                for (i, j) in order.iter().enumerate() {
                    want[*j as usize] +=
                        (expect(&order[..=i]) - expect(&order[..i])) / orders.len() as f64;
                }
            }
            let (e, phi) = t.contributions(&x).expect("weights");
            assert!((e - expect(&[])).abs() < 1e-9, "{e} {}", expect(&[]));
            for j in 0..4 {
                assert!(
                    (phi[j] - want[j]).abs() < 1e-9,
                    "{t:?} {x:?}: {phi:?} {want:?}"
                );
            }
        }
    }

    /// `n` random depth-8 trees over 30 inputs asking about the first `asked` of them, with random leaf
    /// weights (a quarter of them 0) or none.
    fn random_depth8(
        next: &mut impl FnMut() -> u64,
        n: usize,
        asked: u64,
        base: f32,
        weighted: bool,
    ) -> Trees {
        let feat = (0..n * 8).map(|_| (next() % asked) as u32).collect();
        let thr = (0..n * 8).map(|_| (next() % 9) as f32 - 4.0).collect();
        let leaf = (0..n * 256)
            .map(|_| (next() % 1000) as f32 / 100.0 - 5.0)
            .collect();
        let cover = if weighted {
            (0..n * 256)
                .map(|_| match next() % 4 {
                    0 => 0.0,
                    k => (k * (next() % 100)) as f32,
                })
                .collect()
        } else {
            Vec::new()
        };
        Trees {
            depth: 8,
            n_feat: 30,
            base,
            feat,
            thr,
            leaf,
            cover,
        }
    }

    fn permutations(v: &[u32]) -> Vec<Vec<u32>> {
        if v.len() <= 1 {
            return vec![v.to_vec()];
        }
        let mut out = Vec::new();
        for i in 0..v.len() {
            let mut rest = v.to_vec();
            let first = rest.remove(i);
            for mut p in permutations(&rest) {
                p.insert(0, first);
                out.push(p);
            }
        }
        out
    }
}
