//! A character language model (Witten-Bell interpolated, a fixed number of characters of context) over the
//! registrable labels of benign names or over English words: how natural a label reads to each, as mean
//! log2 probability per character. A study input of the domain model's second stage
//! (`domain::Params::char_lm`), not in the shipped model: it is kept in hash maps, not in the artifact. The study
//! also measures a form cheap enough to score with ([`CharLm::make_fast`], `domain::Params::fast_lm_bits`): two
//! table reads per character instead of a dozen map look-ups, still outside the artifact.

use std::collections::HashMap;

/// Size of the base (uniform) alphabet: a-z, 0-9, '-', end.
const ALPHABET: f64 = 38.0;

#[derive(Debug, Clone, Default)]
pub struct CharLm {
    /// (context, next) -> count; context packed as bytes into the low bits with its length on top.
    next: HashMap<u64, u32>,
    /// context -> (total count, distinct next characters).
    ctx: HashMap<u64, (u32, u32)>,
    order: usize,
    /// The study of a form cheap enough to score with ([`CharLm::make_fast`]); when set, [`CharLm::per_char`]
    /// reads it instead of the maps.
    fast: Option<FastLm>,
}

/// Symbols of the fast form: a-z, 0-9, '-' (and any other byte), and one for both the start and the end.
const SYMBOLS: usize = 38;
const EDGE: usize = 37;

#[inline]
fn sym(b: u8) -> usize {
    match b {
        b'a'..=b'z' => (b - b'a') as usize,
        b'0'..=b'9' => 26 + (b - b'0') as usize,
        _ => 36,
    }
}

/// A form of the model costing two table reads per character: the interpolated probability of every
/// (context, next) pair seen in fitting, at the full context, in a hashed table with a 6-bit fingerprint per
/// slot (no key, so one read), and for the rest the probability after the last two characters from a dense
/// table (38 x 38 x 38 entries), lowered by a fixed back-off penalty. Probabilities are kept as -log2 p in
/// 1/32 bit steps.
#[derive(Debug, Clone)]
struct FastLm {
    order: usize,
    /// Slot: fingerprint in the top 6 bits, 1 + -log2 p x 32 in the low 10 (0: empty).
    slots: Vec<u16>,
    bits: u32,
    /// -log2 p x 32 after two characters of context (the start padded with the edge symbol).
    dense: Vec<u16>,
    /// Added (x 32) to the dense value for a pair the hashed table does not hold.
    penalty: u16,
}

#[inline]
fn slot_hash(ctx: u64, next: usize) -> u64 {
    (ctx.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (next as u64 + 1))
        .wrapping_mul(0xD6E8_FEB8_6659_FD93)
}

fn q(p: f64) -> u16 {
    (-p.log2() * 32.0).round().clamp(0.0, 1023.0) as u16
}

fn key(ctx: &[u8]) -> u64 {
    ctx.iter()
        .fold(ctx.len() as u64, |h, &c| (h << 8) | c as u64)
}

impl CharLm {
    /// Fits a model with `order` characters of context on `words`.
    pub fn fit<'a>(order: usize, words: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut lm = CharLm {
            order,
            ..CharLm::default()
        };
        let mut seq = Vec::with_capacity(64);
        for w in words {
            if w.is_empty() || w.len() > 63 {
                continue;
            }
            seq.clear();
            seq.push(b'^');
            seq.extend_from_slice(w);
            seq.push(b'$');
            for i in 1..seq.len() {
                for k in 0..=lm.order.min(i) {
                    let c = &seq[i - k..i];
                    let e = lm.next.entry((key(c) << 8) | seq[i] as u64).or_insert(0);
                    *e += 1;
                    let t = lm.ctx.entry(key(c)).or_insert((0, 0));
                    t.0 += 1;
                    if *e == 1 {
                        t.1 += 1;
                    }
                }
            }
        }
        lm
    }

    /// Mean log2 probability per character of `w` (its end included); 0 for an empty word or an empty model.
    pub fn per_char(&self, w: &[u8]) -> f32 {
        if w.is_empty() || self.ctx.is_empty() || w.len() > 63 {
            return 0.0;
        }
        if let Some(f) = &self.fast {
            return f.per_char(w);
        }
        let mut seq = [0u8; 66];
        seq[0] = b'^';
        seq[1..=w.len()].copy_from_slice(w);
        seq[w.len() + 1] = b'$';
        let n = w.len() + 2;
        let mut total = 0f64;
        for i in 1..n {
            total += self.prob(&seq[..i], seq[i]).log2();
        }
        (total / (n - 1) as f64) as f32
    }
}

impl CharLm {
    /// The interpolated probability of byte `next` (`b'$'`: the end) after `ctx` (`b'^'` first at the start),
    /// as [`CharLm::per_char`] computes it for one position.
    fn prob(&self, ctx: &[u8], next: u8) -> f64 {
        let mut p = 1.0 / ALPHABET;
        for k in 0..=self.order.min(ctx.len()) {
            let c = &ctx[ctx.len() - k..];
            let Some(&(tot, distinct)) = self.ctx.get(&key(c)) else {
                break;
            };
            let cnt = self
                .next
                .get(&((key(c) << 8) | next as u64))
                .copied()
                .unwrap_or(0);
            p = (cnt as f64 + distinct as f64 * p) / (tot as f64 + distinct as f64);
        }
        p
    }

    /// Builds the study's cheap form ([`FastLm`], `2^bits` slots) from the fitted counts; [`CharLm::per_char`]
    /// reads it from then on.
    pub fn make_fast(&mut self, bits: u32) {
        if self.order == 0 || self.order > 8 || self.ctx.is_empty() {
            return;
        }
        let bits = bits.clamp(8, 28);
        let mut slots = vec![0u16; 1 << bits];
        let mut held = vec![0u32; 1 << bits];
        let byte_of = |s: usize| -> u8 {
            match s {
                0..=25 => b'a' + s as u8,
                26..=35 => b'0' + (s - 26) as u8,
                36 => b'-',
                _ => b'^',
            }
        };
        // The dense table: every two-character context (edge = start) and next symbol (edge = end).
        let mut dense = vec![0u16; SYMBOLS * SYMBOLS * SYMBOLS];
        let mut ctx = Vec::with_capacity(4);
        for a in 0..SYMBOLS {
            for b in 0..SYMBOLS {
                ctx.clear();
                // An edge symbol in the context is the start: what lies before it is nothing.
                if b == EDGE {
                    ctx.push(b'^');
                } else if a == EDGE {
                    ctx.extend([b'^', byte_of(b)]);
                } else {
                    ctx.extend([byte_of(a), byte_of(b)]);
                }
                for n in 0..SYMBOLS {
                    let next = if n == EDGE { b'$' } else { byte_of(n) };
                    dense[(a * SYMBOLS + b) * SYMBOLS + n] = q(self.prob(&ctx, next));
                }
            }
        }
        // Every seen pair at its longest context (a context holding the start holds all of it).
        let full = |bytes: &[u8]| bytes.len() == self.order || bytes.first() == Some(&b'^');
        // In key order, and a tie for a slot goes to the first: the same table every time (the maps' own order
        // differs from run to run).
        let mut pairs: Vec<(u64, u32)> = self.next.iter().map(|(&k, &c)| (k, c)).collect();
        pairs.sort_unstable();
        for (k, cnt) in pairs {
            let next = (k & 0xff) as u8;
            let bytes = unkey(k >> 8);
            if !full(&bytes) {
                continue;
            }
            let ns = if next == b'$' { EDGE } else { sym(next) };
            let h = slot_hash(fast_ctx(&bytes, self.order), ns);
            let i = (h >> (64 - bits)) as usize;
            if cnt > held[i] {
                held[i] = cnt;
                slots[i] = ((h as u16) & 0xfc00) | (q(self.prob(&bytes, next)).min(1022) + 1);
            }
        }
        // A pair never seen at its longest context costs that context's Witten-Bell back-off weight,
        // -log2(distinct / (count + distinct)), on top of the shorter context's estimate: the penalty is its
        // mean over the longest contexts, weighed by their counts.
        let (mut sum, mut n) = (0f64, 0f64);
        let mut ctxs: Vec<(u64, (u32, u32))> = self.ctx.iter().map(|(&k, &c)| (k, c)).collect();
        ctxs.sort_unstable();
        for (k, (tot, distinct)) in ctxs {
            if full(&unkey(k)) && distinct > 0 {
                sum += -(distinct as f64 / (tot as f64 + distinct as f64)).log2() * tot as f64;
                n += tot as f64;
            }
        }
        let penalty = if n > 0.0 {
            (sum / n * 32.0).round().clamp(0.0, 1023.0) as u16
        } else {
            0
        };
        self.fast = Some(FastLm {
            order: self.order,
            slots,
            bits,
            dense,
            penalty,
        });
    }
}

/// The bytes of a context packed by [`key`] (its length above them).
fn unkey(c: u64) -> Vec<u8> {
    let len = (0..=8usize)
        .find(|&l| l == 8 || c >> (8 * l) == l as u64)
        .unwrap_or(0);
    (0..len).rev().map(|i| (c >> (8 * i)) as u8).collect()
}

/// The hashed table's context key: the last `order` symbols, 6 bits each, the start padded with the edge
/// symbol (so `^ab` and, at order 4, the padded `^^^ab` are one context); `bytes` as the counts hold them.
fn fast_ctx(bytes: &[u8], order: usize) -> u64 {
    let start = bytes.first() == Some(&b'^');
    let body = if start { &bytes[1..] } else { bytes };
    let pad = order.saturating_sub(body.len());
    std::iter::repeat_n(EDGE, pad)
        .chain(body.iter().map(|&b| sym(b)))
        .fold(0u64, |k, s| (k << 6) | s as u64)
}

/// [`CharLm::per_char`] of two models: in one pass over the label when both have the cheap form with the same
/// context length and table size (the context, hash and slot index are computed once for both).
pub fn per_char_pair(x: &CharLm, y: &CharLm, w: &[u8]) -> (f32, f32) {
    match (&x.fast, &y.fast) {
        (Some(f), Some(g)) if f.order == g.order && f.bits == g.bits => {
            if w.is_empty() || w.len() > 63 {
                return (0.0, 0.0);
            }
            FastLm::per_char_pair(f, g, w)
        }
        _ => (x.per_char(w), y.per_char(w)),
    }
}

impl FastLm {
    #[inline]
    fn cost(&self, i: usize, h: u64, dense: usize) -> u32 {
        let s = self.slots[i];
        if s & 0x3ff != 0 && (s & 0xfc00) == ((h as u16) & 0xfc00) {
            (s & 0x3ff) as u32 - 1
        } else {
            (self.dense[dense] + self.penalty) as u32
        }
    }

    fn per_char_pair(f: &FastLm, g: &FastLm, w: &[u8]) -> (f32, f32) {
        let order = f.order;
        let mask = (1u64 << (6 * order)) - 1;
        let mut ctx = (0..order).fold(0u64, |k, _| (k << 6) | EDGE as u64);
        let (mut a, mut b) = (EDGE, EDGE);
        let (mut tf, mut tg) = (0u32, 0u32);
        for i in 0..=w.len() {
            let ns = w.get(i).map_or(EDGE, |&c| sym(c));
            let h = slot_hash(ctx, ns);
            let slot = (h >> (64 - f.bits)) as usize;
            let dense = (a * SYMBOLS + b) * SYMBOLS + ns;
            tf += f.cost(slot, h, dense);
            tg += g.cost(slot, h, dense);
            ctx = ((ctx << 6) | ns as u64) & mask;
            a = b;
            b = ns;
        }
        let n = 32.0 * (w.len() + 1) as f32;
        (-(tf as f32) / n, -(tg as f32) / n)
    }

    /// One model alone: the pair's pass with the model as both (the scoring path reads two models at once).
    fn per_char(&self, w: &[u8]) -> f32 {
        Self::per_char_pair(self, self, w).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_words_read_more_naturally_than_noise() {
        let words: Vec<&[u8]> = vec![b"google", b"goodnews", b"newsroom", b"roomgood"];
        let lm = CharLm::fit(3, words);
        assert!(lm.per_char(b"goodroom") > lm.per_char(b"xqzvkwjt"));
        assert!(lm.per_char(b"goodroom") < 0.0);
        assert_eq!(CharLm::default().per_char(b"abc"), 0.0);
    }

    #[test]
    fn the_fast_form_follows_the_exact_model() {
        let words: Vec<Vec<u8>> = [
            "google",
            "goodnews",
            "newsroom",
            "roomgood",
            "mailbox",
            "boxoffice",
        ]
        .iter()
        .flat_map(|a| {
            ["shop", "city", "home", "news"]
                .iter()
                .map(move |b| format!("{a}{b}").into_bytes())
        })
        .collect();
        for order in [2, 3, 4] {
            let exact = CharLm::fit(order, words.iter().map(Vec::as_slice));
            let mut fast = exact.clone();
            fast.make_fast(22);
            let (e, f) = (exact.per_char(b"googleshop"), fast.per_char(b"googleshop"));
            assert!((e - f).abs() < 0.02, "order {order}: {e} {f}");
        }
        let exact = CharLm::fit(5, words.iter().map(Vec::as_slice));
        let mut fast = exact.clone();
        fast.make_fast(22);
        for w in [&b"googleshop"[..], b"newsroomcity", b"go", b"x"] {
            let (e, f) = (exact.per_char(w), fast.per_char(w));
            // Seen at every position: the hashed table holds the exact values (to 1/32 bit).
            assert!((e - f).abs() < 0.02 || w.len() < 3, "{w:?}: {e} {f}");
        }
        // Unseen continuations fall back to the two-character table plus the penalty: still well below words.
        let (e, f) = (exact.per_char(b"qzxvkwjt"), fast.per_char(b"qzxvkwjt"));
        assert!(f < fast.per_char(b"goodnewsshop") - 1.0, "{e} {f}");
        assert!((e - f).abs() < 0.5 * e.abs(), "{e} {f}");
        // Two models in one pass score as each alone.
        let other = CharLm::fit(5, [&b"mailboxnews"[..], b"cityhome"]);
        let mut other_fast = other.clone();
        other_fast.make_fast(22);
        for w in [&b"googleshop"[..], b"qzxvkwjt", b"", b"a_b"] {
            assert_eq!(
                per_char_pair(&fast, &other_fast, w),
                (fast.per_char(w), other_fast.per_char(w))
            );
            assert_eq!(
                per_char_pair(&exact, &other_fast, w),
                (exact.per_char(w), other_fast.per_char(w))
            );
        }
        // Bytes outside the alphabet and the longest label do not panic.
        let long = vec![b'a'; 63];
        assert!(fast.per_char(&long).is_finite());
        assert!(fast.per_char(b"a_b.c").is_finite());
    }
}
