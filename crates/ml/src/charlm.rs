//! A character language model (Witten-Bell interpolated, a fixed number of characters of context) over the
//! registrable labels of benign names or over English words: how natural a label reads to each, as mean
//! log2 probability per character. Two such models give the domain model's second stage two inputs (since model
//! version 5). The exact model is kept in hash maps while fitting (and by the study option that scores through
//! them); a domain model carries the form [`LmPair`] builds from two of them: two tables read per character, both
//! models' values side by side in one slot.

use std::collections::HashMap;

use crate::artifact::{Reader, Writer};
use crate::error::{MlError, Result};

/// Size of the base (uniform) alphabet: a-z, 0-9, '-', end.
const ALPHABET: f64 = 38.0;

#[derive(Debug, Clone, Default)]
pub struct CharLm {
    /// (context, next) -> count; context packed as bytes into the low bits with its length on top.
    next: HashMap<u64, u32>,
    /// context -> (total count, distinct next characters).
    ctx: HashMap<u64, (u32, u32)>,
    order: usize,
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

/// A form of one model costing two table reads per character: the interpolated probability of every
/// (context, next) pair seen in fitting, at the full context, in a hashed table with a 6-bit fingerprint per
/// slot (no key, so one read), and for the rest the probability after the last two characters from a dense
/// table (38 x 38 x 38 entries), lowered by a fixed back-off penalty. Probabilities are kept as -log2 p in
/// 1/32 bit steps. [`LmPair`] interleaves two of them.
struct FastLm {
    /// Slot: fingerprint in the top 6 bits, 1 + -log2 p x 32 in the low 10 (0: empty).
    slots: Vec<u16>,
    /// -log2 p x 32 after two characters of context (the start padded with the edge symbol).
    dense: Vec<u16>,
    /// Added (x 32) to the dense value for a pair the hashed table does not hold.
    penalty: u16,
}

/// Size of the dense table (every two-symbol context and next symbol).
const DENSE: usize = SYMBOLS * SYMBOLS * SYMBOLS;
/// Bounds of the hashed table's size, and of the context (6 bits a symbol in a u64 key).
const MIN_BITS: u32 = 8;
const MAX_BITS: u32 = 28;
const MAX_ORDER: usize = 8;

/// Two models' cheap forms (the benign labels' and English prose's in a domain model), read together: slot `i`
/// of both in one u32 (the first model's 16 bits low, the second's high), so a character costs one cache line
/// in the hashed table, not two; the same for the dense table. Scores are those of each model's cheap form alone.
#[derive(Debug, Clone, PartialEq)]
pub struct LmPair {
    order: usize,
    bits: u32,
    slots: Vec<u32>,
    dense: Vec<u32>,
    penalty: [u16; 2],
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

    /// The cheap form ([`FastLm`], `2^bits` slots, `bits` within [`MIN_BITS`, `MAX_BITS`]) of a model with
    /// 1 to [`MAX_ORDER`] characters of context (an empty model: every value 0, no penalty).
    fn make_fast(&self, bits: u32) -> FastLm {
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
        let mut dense = vec![0u16; DENSE];
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
        FastLm {
            slots,
            dense,
            penalty,
        }
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

impl LmPair {
    /// The cheap forms of `x` and `y` (both fitted with the same context length, 1 to 8 characters) in
    /// `2^bits` slots each (`bits` clamped to 8-28); None when the context lengths differ or are out of range.
    pub fn new(x: &CharLm, y: &CharLm, bits: u32) -> Option<LmPair> {
        if x.order != y.order || x.order == 0 || x.order > MAX_ORDER {
            return None;
        }
        let bits = bits.clamp(MIN_BITS, MAX_BITS);
        let (f, g) = (x.make_fast(bits), y.make_fast(bits));
        let join = |a: &[u16], b: &[u16]| -> Vec<u32> {
            a.iter()
                .zip(b)
                .map(|(&a, &b)| a as u32 | (b as u32) << 16)
                .collect()
        };
        Some(LmPair {
            order: x.order,
            bits,
            slots: join(&f.slots, &g.slots),
            dense: join(&f.dense, &g.dense),
            penalty: [f.penalty, g.penalty],
        })
    }

    /// Mean log2 probability per character of `w` (its end included) under each model; (0, 0) for an empty
    /// word or one over 63 bytes (no label is longer).
    pub fn per_char(&self, w: &[u8]) -> (f32, f32) {
        if w.is_empty() || w.len() > 63 {
            return (0.0, 0.0);
        }
        let mask = (1u64 << (6 * self.order)) - 1;
        let mut ctx = (0..self.order).fold(0u64, |k, _| (k << 6) | EDGE as u64);
        let (mut a, mut b) = (EDGE, EDGE);
        let (mut tf, mut tg) = (0u32, 0u32);
        let [pf, pg] = self.penalty;
        for i in 0..=w.len() {
            let ns = w.get(i).map_or(EDGE, |&c| sym(c));
            let h = slot_hash(ctx, ns);
            // Below 2^bits = the table's length, and the dense index below 38^3: in bounds.
            let s = self.slots[(h >> (64 - self.bits)) as usize];
            let d = self.dense[(a * SYMBOLS + b) * SYMBOLS + ns];
            let fp = (h as u16) & 0xfc00;
            tf += cost(s as u16, fp, d as u16, pf);
            tg += cost((s >> 16) as u16, fp, (d >> 16) as u16, pg);
            ctx = ((ctx << 6) | ns as u64) & mask;
            a = b;
            b = ns;
        }
        let n = 32.0 * (w.len() + 1) as f32;
        (-(tf as f32) / n, -(tg as f32) / n)
    }

    /// Appends the tables to an artifact payload.
    pub fn write(&self, w: &mut Writer) {
        w.u32(self.order as u32);
        w.u32(self.bits);
        w.u16(self.penalty[0]);
        w.u16(self.penalty[1]);
        w.u32s(&self.slots);
        w.u32s(&self.dense);
    }

    /// Reads what [`LmPair::write`] wrote, checking every size the scoring loop indexes by.
    pub fn read(r: &mut Reader, model: &'static str) -> Result<LmPair> {
        let order = r.u32()? as usize;
        let bits = r.u32()?;
        let penalty = [r.u16()?, r.u16()?];
        if order == 0 || order > MAX_ORDER || !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(MlError::artifact(
                model,
                format!("language models of {order} characters of context in 2^{bits} slots"),
            ));
        }
        let slots = r.u32s()?;
        let dense = r.u32s()?;
        if slots.len() != 1 << bits || dense.len() != DENSE {
            return Err(MlError::artifact(
                model,
                "language model tables of another size",
            ));
        }
        Ok(LmPair {
            order,
            bits,
            slots,
            dense,
            penalty,
        })
    }
}

/// -log2 p x 32 of one position in one model: the hashed slot's value when its fingerprint matches, else the
/// dense value plus the back-off penalty.
#[inline]
fn cost(slot: u16, fp: u16, dense: u16, penalty: u16) -> u32 {
    if slot & 0x3ff != 0 && (slot & 0xfc00) == fp {
        (slot & 0x3ff) as u32 - 1
    } else {
        dense as u32 + penalty as u32
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
        // One model's cheap form: the pair with itself.
        let quick = |lm: &CharLm, w: &[u8]| LmPair::new(lm, lm, 22).expect("pair").per_char(w).0;
        for order in [2, 3, 4] {
            let exact = CharLm::fit(order, words.iter().map(Vec::as_slice));
            let (e, f) = (exact.per_char(b"googleshop"), quick(&exact, b"googleshop"));
            assert!((e - f).abs() < 0.02, "order {order}: {e} {f}");
        }
        let exact = CharLm::fit(5, words.iter().map(Vec::as_slice));
        for w in [&b"googleshop"[..], b"newsroomcity", b"go", b"x"] {
            let (e, f) = (exact.per_char(w), quick(&exact, w));
            // Seen at every position: the hashed table holds the exact values (to 1/32 bit).
            assert!((e - f).abs() < 0.02 || w.len() < 3, "{w:?}: {e} {f}");
        }
        // Unseen continuations fall back to the two-character table plus the penalty: still well below words.
        let (e, f) = (exact.per_char(b"qzxvkwjt"), quick(&exact, b"qzxvkwjt"));
        assert!(f < quick(&exact, b"goodnewsshop") - 1.0, "{e} {f}");
        assert!((e - f).abs() < 0.5 * e.abs(), "{e} {f}");
        // Two models side by side score as each alone, and survive an artifact round trip.
        let other = CharLm::fit(5, [&b"mailboxnews"[..], b"cityhome"]);
        let pair = LmPair::new(&exact, &other, 22).expect("pair");
        let mut w = Writer::default();
        pair.write(&mut w);
        let mut r = Reader::new(&w.buf, "test");
        let read = LmPair::read(&mut r, "test").expect("read");
        r.finish().expect("all read");
        assert_eq!(read, pair);
        for w in [&b"googleshop"[..], b"qzxvkwjt", b"a_b"] {
            assert_eq!(pair.per_char(w), (quick(&exact, w), quick(&other, w)));
        }
        assert_eq!(pair.per_char(b""), (0.0, 0.0));
        // Models of different context lengths do not pair.
        assert!(LmPair::new(&exact, &CharLm::fit(3, [&b"ab"[..]]), 22).is_none());
        // Bytes outside the alphabet and the longest label do not panic.
        let long = vec![b'a'; 63];
        assert!(quick(&exact, &long).is_finite());
        assert!(quick(&exact, b"a_b.c").is_finite());
    }

    #[test]
    fn damaged_tables_are_refused() {
        let lm = CharLm::fit(3, [&b"google"[..], b"news"]);
        let mut w = Writer::default();
        LmPair::new(&lm, &lm, 10).expect("pair").write(&mut w);
        let good = w.buf.clone();
        // Truncated anywhere: an error, never a panic.
        for cut in [0, 3, 9, 20, good.len() / 2, good.len() - 1] {
            let mut r = Reader::new(&good[..cut], "test");
            assert!(LmPair::read(&mut r, "test").is_err(), "cut at {cut}");
        }
        // A context length or table size the scoring loop cannot index by.
        for (at, v) in [(0usize, 9u32), (0, 0), (4, 7), (4, 29), (4, 11)] {
            let mut bad = good.clone();
            bad[at..at + 4].copy_from_slice(&v.to_le_bytes());
            let mut r = Reader::new(&bad, "test");
            assert!(LmPair::read(&mut r, "test").is_err(), "{at} {v}");
        }
    }
}
