//! An LZ4 block encoder for small texts against a fixed dictionary, whose hash table of the dictionary is built
//! once per thread rather than once per call.
//!
//! `lz4_flex::block::compress_into_with_dict` zeroes an 8 KiB table and hashes the 1,294-byte dictionary (431
//! positions) for every call; a bulk list packs two objects of ~350 bytes per line, so that set-up was most of the
//! packing time on the parsing thread. Here each thread keeps the dictionary's table, and a call's own entries
//! carry its generation number, so nothing is cleared between calls. The output is a standard LZ4 block against the same dictionary: `lz4_flex` decodes it (the tests
//! check every output that way), and which matches an encoder picks is its own business.

use std::cell::RefCell;

use super::DICT_V1;

/// Shortest match LZ4 encodes.
const MIN_MATCH: usize = 4;
/// The block format's end rules: the last 5 bytes are literals, and no match starts in the last 12.
const LAST_LITERALS: usize = 5;
const MF_LIMIT: usize = 12;
/// Farthest back a match may point.
const MAX_OFFSET: usize = 65_535;
const HASH_BITS: u32 = 12;
const EMPTY: u16 = u16::MAX;

/// Longest text this encoder takes. Its table saves `lz4_flex`'s set-up (~1 µs a call), which is most of the cost
/// of a small text; per byte, `lz4_flex`'s search is faster (ATT&CK's objects, a few KiB of prose each, packed in
/// 80 against 95 ms with everything here).
const LONG: usize = 512;

/// Whether this encoder takes the text (else `lz4_flex` does): short ones (`LONG`), whose positions in dictionary
/// and text fit a u16 below `EMPTY`.
pub(super) fn fits(text: &[u8]) -> bool {
    DICT_V1.len() + text.len() < usize::from(EMPTY) && text.len() <= LONG
}

fn hash(v: u32) -> usize {
    (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

struct State {
    /// The dictionary's table: the last position of each hash in it, or `EMPTY`.
    dict_table: Vec<u16>,
    /// Positions this call has seen, stamped with the call's generation: a slot of another generation is unset,
    /// so no call clears or restores the table (a new generation every call; the table is wiped when they wrap).
    table: Vec<u32>,
    generation: u32,
    /// The dictionary followed by the text: matches may point into either, and cross from one into the other.
    buf: Vec<u8>,
    /// Where a block is written before it is copied out at its exact size.
    out: Vec<u8>,
}

impl State {
    fn new() -> State {
        let dict = DICT_V1;
        let mut dict_table = vec![EMPTY; 1 << HASH_BITS];
        for i in 0..dict.len().saturating_sub(MIN_MATCH - 1) {
            dict_table[hash(read_u32(dict, i))] = i as u16;
        }
        State {
            dict_table,
            table: vec![0; 1 << HASH_BITS],
            generation: 0,
            buf: dict.to_vec(),
            out: Vec::new(),
        }
    }

    /// The last position with this hash (this call's, else the dictionary's), which then becomes `pos`.
    fn swap(&mut self, h: usize, pos: usize) -> u16 {
        let e = self.table[h];
        self.table[h] = (self.generation << 16) | pos as u32;
        if e >> 16 == self.generation {
            e as u16
        } else {
            self.dict_table[h]
        }
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::new());
}

/// `head` followed by the LZ4 block of `text` against the dictionary, allocated at its exact size. The caller
/// checks `fits` first.
pub(super) fn compress(head: &[u8], text: &[u8]) -> Vec<u8> {
    STATE.with(|cell| {
        let st = &mut *cell.borrow_mut();
        // Generation 0 is what a wiped table holds: calls use 1..=0xffff.
        st.generation += 1;
        if st.generation > 0xffff {
            st.table.fill(0);
            st.generation = 1;
        }
        st.buf.truncate(DICT_V1.len());
        st.buf.extend_from_slice(text);
        let mut out = std::mem::take(&mut st.out);
        out.clear();
        out.extend_from_slice(head);
        encode(st, DICT_V1.len(), &mut out);
        let exact = out.clone();
        st.out = out;
        exact
    })
}

/// How many bytes from `a` and `b` on are the same, up to `limit` (`a < b`, `b + limit` within `buf`).
fn common(buf: &[u8], a: usize, b: usize, limit: usize) -> usize {
    let mut n = 0;
    while n + 8 <= limit {
        let (x, y) = (read_u64(buf, a + n), read_u64(buf, b + n));
        if x != y {
            return n + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < limit && buf[a + n] == buf[b + n] {
        n += 1;
    }
    n
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map_or(0, u64::from_le_bytes)
}

fn encode(st: &mut State, start: usize, out: &mut Vec<u8>) {
    let end = st.buf.len();
    let mut anchor = start;
    if end - start > MF_LIMIT {
        let match_end = end - LAST_LITERALS;
        let mut ip = start;
        while ip + MF_LIMIT <= end {
            let v = read_u32(&st.buf, ip);
            let cand = usize::from(st.swap(hash(v), ip));
            let buf = &st.buf;
            if cand == usize::from(EMPTY) || ip - cand > MAX_OFFSET || read_u32(buf, cand) != v {
                ip += 1;
                continue;
            }
            // Extend backwards over literals not yet written, then forwards up to the last literals.
            let (mut ip0, mut c0) = (ip, cand);
            while ip0 > anchor && c0 > 0 && buf[ip0 - 1] == buf[c0 - 1] {
                ip0 -= 1;
                c0 -= 1;
            }
            let len = ip + MIN_MATCH - ip0
                + common(
                    buf,
                    cand + MIN_MATCH,
                    ip + MIN_MATCH,
                    match_end - (ip + MIN_MATCH),
                );
            sequence(out, &buf[anchor..ip0], Some((ip0 - c0, len)));
            ip = ip0 + len;
            anchor = ip;
        }
    }
    sequence(out, &st.buf[anchor..end], None);
}

/// One LZ4 sequence: the literals, then (but for the last sequence) a match of `len` bytes `offset` back.
fn sequence(out: &mut Vec<u8>, literals: &[u8], m: Option<(usize, usize)>) {
    let lit = literals.len();
    let ml = m.map_or(0, |(_, len)| len - MIN_MATCH);
    let token = (lit.min(15) << 4) as u8 | if m.is_some() { ml.min(15) as u8 } else { 0 };
    out.push(token);
    if lit >= 15 {
        length(out, lit - 15);
    }
    out.extend_from_slice(literals);
    if let Some((offset, _)) = m {
        out.extend_from_slice(&(offset as u16).to_le_bytes());
        if ml >= 15 {
            length(out, ml - 15);
        }
    }
}

fn length(out: &mut Vec<u8>, mut n: usize) {
    while n >= 255 {
        out.push(255);
        n -= 255;
    }
    out.push(n as u8);
}
