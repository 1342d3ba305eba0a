//! Compact open-addressing hash table over byte-string keys stored in one arena, with postings to indicators.
//!
//! Why not `HashMap<String, _>`: one heap string per key costs 24 bytes of header plus allocator overhead, which
//! breaks the memory budget for a million indicators. Here a key costs its bytes, a 4-byte offset, a 4-byte
//! posting and about 5 bytes of slots; the slot array is plain `u32`s so a snapshot stores it as is.

/// Keys per table are limited to 2^24 - 1 because a slot packs an 8-bit hash tag with the key index.
pub(crate) const MAX_KEYS: usize = (1 << 24) - 1;
/// A posting with this bit set is an offset into `multi` (a count followed by that many indicator indices).
pub(crate) const MULTI: u32 = 1 << 31;

/// Deterministic 64-bit hash (stable across runs and machines: snapshots store the slot layout).
#[inline]
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = (b.len() as u64).wrapping_mul(K) ^ 0x2545_F491_4F6C_DD1D;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    let r = chunks.remainder().len();
    if r != 0 {
        h = (h ^ tail_word(b, r)).wrapping_mul(K).rotate_left(29);
    }
    // fmix64 from MurmurHash3: spreads entropy into the low bits used for the slot index.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The last `r` bytes of `b` (1 to 7) as a little-endian word padded with zero bytes, from fixed-size loads: the
/// copy into a zeroed buffer that this replaces had a variable length and compiled to a call to `memcpy` in
/// every lookup. Overlapping loads read some bytes twice, at the same positions, so the OR is exact.
#[inline(always)]
fn tail_word(b: &[u8], r: usize) -> u64 {
    let n = b.len();
    if n >= 8 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[n - 8..]);
        u64::from_le_bytes(w) >> (8 * (8 - r))
    } else if r >= 4 {
        // n < 8: the tail is the whole key.
        let mut lo = [0u8; 4];
        let mut hi = [0u8; 4];
        lo.copy_from_slice(&b[..4]);
        hi.copy_from_slice(&b[r - 4..r]);
        u64::from(u32::from_le_bytes(lo)) | u64::from(u32::from_le_bytes(hi)) << (8 * (r - 4))
    } else {
        u64::from(b[0])
            | u64::from(b[r / 2]) << (8 * (r / 2))
            | u64::from(b[r - 1]) << (8 * (r - 1))
    }
}

/// An immutable key table. Keys are unique; each has a posting (one indicator, or a `MULTI` list).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct KeyTable {
    pub(crate) arena: Vec<u8>,
    /// `offs[i]..offs[i+1]` is key `i` in `arena`; `len == keys + 1`.
    pub(crate) offs: Vec<u32>,
    pub(crate) post: Vec<u32>,
    pub(crate) multi: Vec<u32>,
    /// Power-of-two slot array; 0 is empty, else `(tag << 24) | (key + 1)`.
    pub(crate) slots: Vec<u32>,
    /// Blocked Bloom filter (two bits in one 64-bit word per key, about 4 to 8 bits per key), derived from the
    /// keys; snapshots store it from format version 2 on. Most log values miss every table: the filter answers
    /// those without touching `slots`. Half the size of 8 to 16 bits per key keeps more of it in cache, which
    /// costs less than its extra false positives (3% less CPU on the 1,000,000-indicator benchmark).
    pub(crate) filter: Vec<u64>,
}

impl KeyTable {
    /// Builds from (key, indicator) pairs; duplicate keys merge their indicators (kept in input order, deduped).
    pub(crate) fn build(mut pairs: Vec<(Vec<u8>, u32)>) -> Result<KeyTable, String> {
        // Stable sort keeps indicator order within a key deterministic.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut t = KeyTable {
            offs: vec![0],
            ..Default::default()
        };
        let mut i = 0;
        while i < pairs.len() {
            let mut j = i + 1;
            while j < pairs.len() && pairs[j].0 == pairs[i].0 {
                j += 1;
            }
            t.arena.extend_from_slice(&pairs[i].0);
            if t.arena.len() > u32::MAX as usize {
                return Err("indicator values exceed 4 GiB in one table".into());
            }
            t.offs.push(t.arena.len() as u32);
            let mut ids: Vec<u32> = pairs[i..j].iter().map(|p| p.1).collect();
            ids.sort_unstable();
            ids.dedup();
            if ids.len() == 1 {
                t.post.push(ids[0]);
            } else {
                t.post.push(MULTI | t.multi.len() as u32);
                t.multi.push(ids.len() as u32);
                t.multi.extend_from_slice(&ids);
            }
            i = j;
        }
        let n = t.post.len();
        if n > MAX_KEYS {
            return Err(format!(
                "{n} distinct values in one table; the limit is {MAX_KEYS}"
            ));
        }
        t.arena.shrink_to_fit();
        let cap = (n * 8 / 5 + 1).next_power_of_two().max(8);
        t.slots = vec![0u32; cap];
        let mask = cap - 1;
        for k in 0..n {
            let key = t.key(k);
            let h = hash_bytes(key);
            let tag = (h >> 56) as u32;
            let mut s = (h as usize) & mask;
            while t.slots[s] != 0 {
                s = (s + 1) & mask;
            }
            t.slots[s] = (tag << 24) | (k as u32 + 1);
        }
        t.build_filter();
        Ok(t)
    }

    /// (Re)builds the Bloom filter from the keys.
    pub(crate) fn build_filter(&mut self) {
        let n = self.post.len();
        let words = filter_words(n);
        let mut f = vec![0u64; words];
        for k in 0..n {
            let (w, bits) = filter_pos(hash_bytes(self.key(k)), words);
            f[w] |= bits;
        }
        self.filter = f;
    }

    pub(crate) fn len(&self) -> usize {
        self.post.len()
    }

    #[inline]
    pub(crate) fn key(&self, k: usize) -> &[u8] {
        match (self.offs.get(k), self.offs.get(k + 1)) {
            (Some(&a), Some(&b)) => self.arena.get(a as usize..b as usize).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The key index of `key`, if present.
    #[inline]
    pub(crate) fn find(&self, key: &[u8]) -> Option<u32> {
        if self.post.is_empty() {
            return None;
        }
        let h = hash_bytes(key);
        let (w, bits) = filter_pos(h, self.filter.len());
        match self.filter.get(w) {
            Some(f) if f & bits == bits => {}
            Some(_) => return None,
            None => {}
        }
        let tag = (h >> 56) as u32;
        let mask = self.slots.len() - 1;
        let mut s = (h as usize) & mask;
        // A full table cannot occur (load < 5/8), but a crafted snapshot could make one: bound the probe.
        for _ in 0..self.slots.len() {
            let v = self.slots[s];
            if v == 0 {
                return None;
            }
            if v >> 24 == tag {
                // Slots hold index + 1; `validate` refuses a used slot holding 0, and wrapping keeps even a set
                // that skipped validation from panicking (the key look-up below then finds nothing).
                let k = (v & 0x00FF_FFFF).wrapping_sub(1);
                if self.key(k as usize) == key {
                    return Some(k);
                }
            }
            s = (s + 1) & mask;
        }
        None
    }

    /// The indicators posted under key `k`.
    #[inline]
    pub(crate) fn postings(&self, k: u32) -> &[u32] {
        let Some(p) = self.post.get(k as usize) else {
            return &[];
        };
        postings(p, &self.multi)
    }

    /// Checks the invariants a lookup relies on (used after loading a snapshot).
    pub(crate) fn validate(&self, n_indicators: u32) -> Result<(), String> {
        let n = self.post.len();
        if self.offs.len() != n + 1 || n > MAX_KEYS {
            return Err("offset table does not match key count".into());
        }
        if self.offs.first() != Some(&0) || descends(&self.offs) {
            return Err("key offsets not monotonic".into());
        }
        if self.offs.last().map(|&x| x as usize) != Some(self.arena.len()) {
            return Err("key offsets do not end at the arena end".into());
        }
        if !self.slots.len().is_power_of_two() || self.slots.len() <= n {
            return Err("slot array size invalid".into());
        }
        if any_of(&self.slots, |v| {
            let k = (v & 0x00FF_FFFF) as usize;
            (v != 0) & ((k > n) | (k == 0))
        }) {
            return Err("slot points outside the key table".into());
        }
        validate_postings(&self.post, &self.multi, n_indicators)
    }
}

/// Words of the Bloom filter of a table of `n` keys.
pub(crate) fn filter_words(n: usize) -> usize {
    (n / 16).next_power_of_two().max(1)
}

/// Word index and the two bits of a hash in a filter of `words` (a power of two) words.
#[inline]
fn filter_pos(h: u64, words: usize) -> (usize, u64) {
    let w = ((h >> 32) as usize) & (words.max(1) - 1);
    (w, 1u64 << (h & 63) | 1u64 << ((h >> 6) & 63))
}

#[inline]
pub(crate) fn postings<'a>(p: &'a u32, multi: &'a [u32]) -> &'a [u32] {
    if p & MULTI == 0 {
        return std::slice::from_ref(p);
    }
    let at = (p & !MULTI) as usize;
    let Some(&cnt) = multi.get(at) else {
        return &[];
    };
    multi.get(at + 1..at + 1 + cnt as usize).unwrap_or(&[])
}

/// True when `bad` holds for any element. A reduction without early exit, so the compiler vectorises it: a
/// snapshot load checks arrays of millions of entries, which are nearly always valid (`Iterator::any` stops
/// early and stays one element per step).
#[inline]
pub(crate) fn any_of<T: Copy>(v: &[T], bad: impl Fn(T) -> bool) -> bool {
    v.iter().fold(false, |acc, &x| acc | bad(x))
}

/// True when some element is greater than the one after it.
#[inline]
pub(crate) fn descends<T: Copy + PartialOrd>(v: &[T]) -> bool {
    v.iter()
        .zip(v.iter().skip(1))
        .fold(false, |acc, (a, b)| acc | (a > b))
}

pub(crate) fn validate_postings(
    post: &[u32],
    multi: &[u32],
    n_indicators: u32,
) -> Result<(), String> {
    // Single postings (nearly all) in one vectorised pass; the lists of the others one by one.
    if any_of(post, |p| (p & MULTI == 0) & (p >= n_indicators)) {
        return Err("posting refers to a missing indicator".into());
    }
    if !any_of(post, |p| p & MULTI != 0) {
        return Ok(());
    }
    for p in post.iter().filter(|&&p| p & MULTI != 0) {
        let ids = postings(p, multi);
        if ids.is_empty() || ids.iter().any(|&i| i >= n_indicators) {
            return Err("posting refers to a missing indicator".into());
        }
    }
    Ok(())
}

/// Merges (key, indicator) pairs of one key into a posting; shared by the CIDR tables.
pub(crate) fn make_posting(mut ids: Vec<u32>, multi: &mut Vec<u32>) -> u32 {
    ids.sort_unstable();
    ids.dedup();
    if ids.len() == 1 {
        ids[0]
    } else {
        let p = MULTI | multi.len() as u32;
        multi.push(ids.len() as u32);
        multi.extend_from_slice(&ids);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash as it was written before `tail_word`: snapshots store slot layouts, so it must not change.
    fn hash_bytes_reference(b: &[u8]) -> u64 {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut h: u64 = (b.len() as u64).wrapping_mul(K) ^ 0x2545_F491_4F6C_DD1D;
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        h
    }

    #[test]
    fn hash_is_the_stored_one_for_every_tail_length() {
        // Every length from 0 to 40 with distinct bytes (a misplaced byte changes the hash), plus fixed values.
        for n in 0..=40usize {
            let b: Vec<u8> = (0..n)
                .map(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
                .collect();
            assert_eq!(hash_bytes(&b), hash_bytes_reference(&b), "len {n}");
        }
        assert_eq!(hash_bytes(b""), hash_bytes_reference(b""));
        assert_eq!(hash_bytes(b"evil.com"), hash_bytes_reference(b"evil.com"));
    }

    #[test]
    fn validation_rejects_what_the_lookups_cannot_read() {
        let t = KeyTable::build(vec![
            (b"a.example".to_vec(), 0),
            (b"b.example".to_vec(), 1),
            (b"b.example".to_vec(), 2),
        ])
        .expect("builds");
        t.validate(3).expect("valid");
        // A single posting and a list entry past the indicator count.
        assert!(t.validate(2).is_err());
        let mut bad = t.clone();
        bad.post[0] = 7;
        assert!(bad.validate(3).is_err());
        let mut bad = t.clone();
        if let Some(last) = bad.multi.last_mut() {
            *last = 9;
        }
        assert!(bad.validate(3).is_err());
        let mut bad = t.clone();
        bad.multi[0] = 0; // an empty list
        assert!(bad.validate(3).is_err());
        let mut bad = t.clone();
        bad.offs.swap(0, 1);
        assert!(bad.validate(3).is_err());
        let mut bad = t.clone();
        let s = bad
            .slots
            .iter()
            .position(|&v| v == 0)
            .expect("an empty slot");
        bad.slots[s] = 3;
        assert!(bad.validate(3).is_err());
        assert!(descends(&[1u32, 2, 2, 1]) && !descends(&[1u32, 2, 2]) && !descends::<u32>(&[]));
        assert!(any_of(&[1u32, 5, 2], |x| x > 4) && !any_of(&[1u32, 2], |x| x > 4));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 5000, ..Default::default() })]
        #[test]
        fn hash_matches_the_reference(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48)) {
            proptest::prop_assert_eq!(hash_bytes(&b), hash_bytes_reference(&b));
        }
    }

    #[test]
    fn finds_every_key_and_nothing_else() {
        let pairs: Vec<(Vec<u8>, u32)> = (0..5000u32)
            .map(|i| (format!("k{i}.example").into_bytes(), i % 97))
            .collect();
        let mut pairs2 = pairs.clone();
        pairs2.push((b"k1.example".to_vec(), 500));
        let t = KeyTable::build(pairs2).expect("builds");
        t.validate(1000).expect("valid");
        for (k, ind) in &pairs {
            let idx = t.find(k).expect("present");
            assert!(t.postings(idx).contains(ind));
        }
        assert_eq!(
            t.postings(t.find(b"k1.example").expect("present")),
            &[1, 500]
        );
        assert!(t.find(b"k5000.example").is_none());
        assert!(t.find(b"").is_none());
    }
}
