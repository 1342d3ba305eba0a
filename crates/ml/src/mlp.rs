//! A small one-hidden-layer perceptron (ReLU units, logistic output) over a few dense features, trained
//! deterministically (fixed seed, one thread, fixed minibatch order) with Adam. An alternative or companion to
//! the boosted trees of [`crate::boost`] as the domain model's second stage: a piecewise-linear function of
//! the inputs extrapolates more smoothly than axis-aligned steps to inputs unlike the training rows (unseen
//! families).

use crate::artifact::{Reader, Writer};
use crate::error::{MlError, Result};

/// Most hidden units (scoring keeps its accumulators in one fixed-size array).
pub const MAX_HIDDEN: usize = 32;
/// Most inputs.
pub const MAX_IN: usize = 32;
/// Standardised inputs are clipped to this many standard deviations: an unseen family's extreme value must
/// not drive a ReLU unit far outside anything it was fitted on.
const CLIP: f32 = 5.0;

/// Fitting settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MlpParams {
    pub hidden: usize,
    pub epochs: usize,
    pub lr: f32,
    /// L2 (weight decay) on the weights, not the biases.
    pub l2: f32,
    pub batch: usize,
    pub seed: u64,
}

impl Default for MlpParams {
    fn default() -> Self {
        MlpParams {
            hidden: 16,
            epochs: 10,
            lr: 2e-3,
            l2: 1e-4,
            batch: 128,
            seed: 0x0d0a_1177,
        }
    }
}

/// A fitted network. `w1` is stored input-major (`w1[k * hidden + j]`), so scoring adds one input's
/// contribution to every hidden unit in a loop the compiler vectorises.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mlp {
    n_in: u32,
    hidden: u32,
    mean: Vec<f32>,
    scale: Vec<f32>,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: f32,
}

impl Mlp {
    /// Margin (log-odds) of one feature vector (missing inputs read as the training mean).
    #[inline]
    pub fn margin(&self, x: &[f32]) -> f32 {
        let h = self.hidden as usize;
        let mut acc = [0f32; MAX_HIDDEN];
        acc[..h].copy_from_slice(&self.b1);
        for (k, (m, s)) in self.mean.iter().zip(&self.scale).enumerate() {
            let v = x.get(k).copied().unwrap_or(*m);
            let xs = ((v - m) * s).clamp(-CLIP, CLIP);
            for (a, w) in acc[..h].iter_mut().zip(&self.w1[k * h..(k + 1) * h]) {
                *a += w * xs;
            }
        }
        let mut z = self.b2;
        for (a, w) in acc[..h].iter().zip(&self.w2) {
            z += a.max(0.0) * w;
        }
        z
    }

    /// Number of inputs.
    pub fn n_features(&self) -> usize {
        self.n_in as usize
    }

    /// Writes the network.
    pub fn write(&self, w: &mut Writer) {
        w.u32(self.n_in);
        w.u32(self.hidden);
        w.f32s(&self.mean);
        w.f32s(&self.scale);
        w.f32s(&self.w1);
        w.f32s(&self.b1);
        w.f32s(&self.w2);
        w.f32(self.b2);
    }

    /// Reads a network written by [`Mlp::write`], checking its shape.
    pub fn read(r: &mut Reader, model: &'static str) -> Result<Self> {
        let n_in = r.u32()?;
        let hidden = r.u32()?;
        let m = Mlp {
            n_in,
            hidden,
            mean: r.f32s()?,
            scale: r.f32s()?,
            w1: r.f32s()?,
            b1: r.f32s()?,
            w2: r.f32s()?,
            b2: r.f32()?,
        };
        let (n, h) = (n_in as usize, hidden as usize);
        if n == 0 || n > MAX_IN || h == 0 || h > MAX_HIDDEN {
            return Err(MlError::artifact(
                model,
                format!("network of {n} inputs and {h} hidden units"),
            ));
        }
        if m.mean.len() != n
            || m.scale.len() != n
            || m.w1.len() != n * h
            || m.b1.len() != h
            || m.w2.len() != h
        {
            return Err(MlError::artifact(
                model,
                "network arrays of mismatched sizes",
            ));
        }
        Ok(m)
    }
}

/// Deterministic xorshift stream for the initial weights and the minibatch order.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in [-1, 1).
    fn sym(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Adam state of one parameter array.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    fn new(n: usize) -> Self {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }
    fn step(&mut self, p: &mut [f32], g: &[f32], lr: f32, t: i32) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        let c1 = 1.0 - B1.powi(t);
        let c2 = 1.0 - B2.powi(t);
        for (((p, g), m), v) in p.iter_mut().zip(g).zip(&mut self.m).zip(&mut self.v) {
            *m = B1 * *m + (1.0 - B1) * g;
            *v = B2 * *v + (1.0 - B2) * g * g;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
        }
    }
}

/// Fits a network to rows `x` (each `n_feat` long, row-major) with labels `y` and sample weights `w` (the
/// loss is the weighted mean log loss, so the weights' scale does not change the step size).
pub fn fit(x: &[f32], n_feat: usize, y: &[bool], w: &[f32], p: MlpParams) -> Mlp {
    let n = y.len();
    let nf = n_feat.clamp(1, MAX_IN);
    let h = p.hidden.clamp(1, MAX_HIDDEN);
    let mut mean = vec![0f32; nf];
    let mut scale = vec![0f32; nf];
    for k in 0..nf {
        let (mut s, mut s2, mut c) = (0f64, 0f64, 0f64);
        for i in 0..n {
            let v = x[i * n_feat + k];
            if v.is_finite() {
                s += v as f64;
                s2 += (v as f64) * (v as f64);
                c += 1.0;
            }
        }
        let m = if c > 0.0 { s / c } else { 0.0 };
        let var = if c > 0.0 { s2 / c - m * m } else { 0.0 };
        mean[k] = m as f32;
        scale[k] = if var > 1e-12 {
            (1.0 / var.sqrt()) as f32
        } else {
            0.0
        };
    }
    // Standardised, clipped copy of the inputs (as scoring sees them).
    let xs: Vec<f32> = (0..n * nf)
        .map(|q| {
            let (i, k) = (q / nf, q % nf);
            let v = x[i * n_feat + k];
            let v = if v.is_finite() { v } else { mean[k] };
            ((v - mean[k]) * scale[k]).clamp(-CLIP, CLIP)
        })
        .collect();
    let wsum: f64 = w.iter().map(|v| *v as f64).sum::<f64>().max(1e-12);
    let wn: Vec<f32> = w
        .iter()
        .map(|v| (*v as f64 * n as f64 / wsum) as f32)
        .collect();
    let mut rng = Rng(p.seed.max(1));
    // He-style initialisation for ReLU units.
    let a1 = (6.0 / nf as f32).sqrt();
    let mut w1: Vec<f32> = (0..nf * h).map(|_| rng.sym() * a1).collect();
    let mut b1 = vec![0f32; h];
    let a2 = (6.0 / (h + 1) as f32).sqrt();
    let mut w2: Vec<f32> = (0..h).map(|_| rng.sym() * a2).collect();
    let mut b2 = [0f32];
    let (mut o1, mut ob1, mut o2, mut ob2) =
        (Adam::new(nf * h), Adam::new(h), Adam::new(h), Adam::new(1));
    let mut order: Vec<usize> = (0..n).collect();
    let batch = p.batch.max(1);
    let (mut g1, mut gb1, mut g2) = (vec![0f32; nf * h], vec![0f32; h], vec![0f32; h]);
    let mut t = 0i32;
    let mut pre = [0f32; MAX_HIDDEN];
    for _ in 0..p.epochs {
        for i in (1..n).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for chunk in order.chunks(batch) {
            g1.iter_mut().for_each(|v| *v = 0.0);
            gb1.iter_mut().for_each(|v| *v = 0.0);
            g2.iter_mut().for_each(|v| *v = 0.0);
            let mut gb2 = 0f32;
            for &i in chunk {
                let xi = &xs[i * nf..(i + 1) * nf];
                pre[..h].copy_from_slice(&b1);
                for (k, xk) in xi.iter().enumerate() {
                    for (a, wv) in pre[..h].iter_mut().zip(&w1[k * h..(k + 1) * h]) {
                        *a += wv * xk;
                    }
                }
                let mut z = b2[0];
                for (a, wv) in pre[..h].iter().zip(&w2) {
                    z += a.max(0.0) * wv;
                }
                let pr = 1.0 / (1.0 + (-z).exp());
                let g = (pr - if y[i] { 1.0 } else { 0.0 }) * wn[i];
                gb2 += g;
                for j in 0..h {
                    if pre[j] > 0.0 {
                        g2[j] += g * pre[j];
                        let gh = g * w2[j];
                        gb1[j] += gh;
                        for (k, xk) in xi.iter().enumerate() {
                            g1[k * h + j] += gh * xk;
                        }
                    }
                }
            }
            let inv = 1.0 / chunk.len() as f32;
            for (gv, wv) in g1.iter_mut().zip(&w1) {
                *gv = *gv * inv + p.l2 * wv;
            }
            for (gv, wv) in g2.iter_mut().zip(&w2) {
                *gv = *gv * inv + p.l2 * wv;
            }
            gb1.iter_mut().for_each(|v| *v *= inv);
            t = t.saturating_add(1);
            o1.step(&mut w1, &g1, p.lr, t);
            ob1.step(&mut b1, &gb1, p.lr, t);
            o2.step(&mut w2, &g2, p.lr, t);
            ob2.step(&mut b2, &[gb2 * inv], p.lr, t);
        }
    }
    Mlp {
        n_in: nf as u32,
        hidden: h as u32,
        mean,
        scale,
        w1,
        b1,
        w2,
        b2: b2[0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> (Vec<f32>, Vec<bool>) {
        // y = a + b > 1 with a far-off third input: separable, but only after standardisation.
        let mut x = Vec::new();
        let mut y = Vec::new();
        let mut r = Rng(987654321);
        for _ in 0..3000 {
            let a = (r.sym() + 1.0) / 2.0;
            let b = (r.sym() + 1.0) / 2.0;
            x.extend_from_slice(&[a, b, 1000.0 + r.sym()]);
            y.push(a + b > 1.0);
        }
        (x, y)
    }

    #[test]
    fn learns_a_separable_set_deterministically_and_round_trips() {
        let (x, y) = toy();
        let w = vec![1.0; y.len()];
        let p = MlpParams {
            epochs: 20,
            ..MlpParams::default()
        };
        let m = fit(&x, 3, &y, &w, p);
        let ok = (0..y.len())
            .filter(|i| (m.margin(&x[i * 3..i * 3 + 3]) > 0.0) == y[*i])
            .count();
        assert!(ok as f64 / y.len() as f64 > 0.97, "{ok}");
        assert_eq!(fit(&x, 3, &y, &w, p), m, "same bytes twice");
        let mut wr = Writer::default();
        m.write(&mut wr);
        let mut r = Reader::new(&wr.buf, "test");
        assert_eq!(Mlp::read(&mut r, "test").expect("reads"), m);
        r.finish().expect("all read");
    }

    #[test]
    fn a_malformed_network_is_refused() {
        let (x, y) = toy();
        let m = fit(&x, 3, &y, &vec![1.0; y.len()], MlpParams::default());
        let bad = Mlp {
            w2: vec![0.0; 3],
            ..m
        };
        let mut wr = Writer::default();
        bad.write(&mut wr);
        let e = Mlp::read(&mut Reader::new(&wr.buf, "test"), "test").expect_err("refused");
        assert!(e.to_string().contains("mismatched"), "{e}");
    }
}
