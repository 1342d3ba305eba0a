//! A character language model (Witten-Bell interpolated, a fixed number of characters of context) over the
//! registrable labels of benign names or over English words: how natural a label reads to each, as mean
//! log2 probability per character. A study input of the domain model's second stage
//! (`domain::Params::char_lm`), not in the shipped model: it is kept in hash maps, not in the artifact.

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
            let mut p = 1.0 / ALPHABET;
            for k in 0..=self.order.min(i) {
                let c = &seq[i - k..i];
                let Some(&(tot, distinct)) = self.ctx.get(&key(c)) else {
                    break;
                };
                let cnt = self
                    .next
                    .get(&((key(c) << 8) | seq[i] as u64))
                    .copied()
                    .unwrap_or(0);
                p = (cnt as f64 + distinct as f64 * p) / (tot as f64 + distinct as f64);
            }
            total += p.log2();
        }
        (total / (n - 1) as f64) as f32
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
}
