//! A targeted JSON-object scanner for log lines: walks one object and reports each scalar leaf with its dotted
//! path (array levels add nothing to the path), without building a tree or allocating. The whole line is always
//! checked; leaves at paths the caller's [`KeyFilter`] turns away are skipped without a visit.
//!
//! Why not serde_json::Value: a tree per line costs allocations for every key and value, and the hunt needs a
//! handful of fields out of dozens.

/// A scalar found in the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leaf {
    /// A string: byte range of its contents (between the quotes) and whether it has escapes.
    Str {
        start: usize,
        end: usize,
        escaped: bool,
    },
    /// A number, `true`, `false` or `null`: byte range of its text.
    Bare { start: usize, end: usize },
}

const MAX_DEPTH: usize = 64;

/// Reusable buffers of the scanner (one per thread): the dotted path and the line's quote bitmap.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    path: Vec<u8>,
    /// Bit `i` set when byte `i` of the line is `"`; filled only for lines without a backslash.
    quotes: Vec<u64>,
}

/// Walks the object in `line`; `visit(path, leaf)` is called for every scalar.
/// Errors name the byte offset and the reason.
///
/// Lines without a backslash (nearly all log lines) first get a bitmap of their quotes, built 8 bytes at a time:
/// every quote then closes the string the previous one opened, so a string's end is a bit search instead of a
/// byte scan. Lines with a backslash take the byte scanner, which follows escapes.
pub(crate) fn walk<F: FnMut(&[u8], Leaf)>(
    line: &[u8],
    scratch: &mut Scratch,
    keys: Option<&KeyFilter>,
    visit: &mut F,
) -> Result<(), String> {
    let Scratch { path, quotes } = scratch;
    path.clear();
    let bits = if quote_bits(line, quotes) {
        Some(&quotes[..])
    } else {
        None
    };
    let s = Scan {
        b: line,
        quotes: bits,
        keys,
    };
    let mut i = skip_ws(line, 0);
    if line.get(i) != Some(&b'{') {
        return Err("not a JSON object".into());
    }
    i = s.object(i, path, visit, 0).map_err(|e| e.to_string())?;
    i = skip_ws(line, i);
    if i != line.len() {
        return Err(format!("trailing data at byte {i}"));
    }
    Ok(())
}

/// Fills `out` with one bit per byte of `b`, set where the byte is `"`, and returns true; returns false as soon
/// as a block holds a backslash (`out` is then incomplete and the caller takes the byte scanner). One pass over
/// the line answers both questions.
fn quote_bits(b: &[u8], out: &mut Vec<u64>) -> bool {
    out.clear();
    let mut blocks = b.chunks_exact(64);
    for blk in &mut blocks {
        let (q, bs) = block_masks(blk);
        if bs != 0 {
            return false;
        }
        out.push(q);
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        let mut pad = [0u8; 64];
        pad[..rest.len()].copy_from_slice(rest);
        let (q, bs) = block_masks(&pad);
        if bs != 0 {
            return false;
        }
        out.push(q);
    }
    true
}

/// The quote and backslash masks of a 64-byte block, 16 bytes per SSE2 compare (baseline on x86_64). The `wide`
/// crate wraps the intrinsics safely: the workspace denies `unsafe`, and calling them directly needs it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_masks(blk: &[u8]) -> (u64, u64) {
    use wide::u8x16;
    let quote = u8x16::splat(b'"');
    let slash = u8x16::splat(b'\\');
    let (mut q, mut s) = (0u64, 0u64);
    for (k, c) in blk.chunks_exact(16).enumerate() {
        let mut a = [0u8; 16];
        a.copy_from_slice(c);
        let v = u8x16::new(a);
        q |= u64::from(v.cmp_eq(quote).move_mask() as u16) << (16 * k);
        s |= u64::from(v.cmp_eq(slash).move_mask() as u16) << (16 * k);
    }
    (q, s)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn block_masks(blk: &[u8]) -> (u64, u64) {
    block_masks_swar(blk)
}

/// The portable version of [`block_masks`], eight bytes at a time with an exact zero-byte test (no borrow
/// between lanes).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline]
fn block_masks_swar(blk: &[u8]) -> (u64, u64) {
    #[inline(always)]
    fn eq_bits(w: u64, c: u8) -> u64 {
        const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
        let x = w ^ (0x0101_0101_0101_0101 * u64::from(c));
        let hit = !(((x & LO7) + LO7) | x | LO7);
        // One bit per byte: gather the high bits of the eight lanes.
        ((hit >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
    }
    let (mut q, mut s) = (0u64, 0u64);
    for (k, c) in blk.chunks_exact(8).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let w = u64::from_le_bytes(w);
        q |= eq_bits(w, b'"') << (8 * k);
        s |= eq_bits(w, b'\\') << (8 * k);
    }
    (q, s)
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    // Compact JSON has no whitespace: one comparison answers the common case.
    if matches!(b.get(i), Some(&c) if c > b' ') {
        return i;
    }
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// Byte classes for bare values: 1 = may appear in a number, 2 = ends a bare value.
static BARE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = 1;
        c += 1;
    }
    t[b'-' as usize] = 1;
    t[b'+' as usize] = 1;
    t[b'.' as usize] = 1;
    t[b'e' as usize] = 1;
    t[b'E' as usize] = 1;
    t[b',' as usize] = 2;
    t[b'}' as usize] = 2;
    t[b']' as usize] = 2;
    t[b' ' as usize] = 2;
    t[b'\t' as usize] = 2;
    t[b'\r' as usize] = 2;
    t[b'\n' as usize] = 2;
    t
};

/// Why a line is not a JSON object (a small `Copy` value: the scanner's hot paths return it by register, and the
/// message is formatted only for the lines that fail).
#[derive(Debug, Clone, Copy)]
enum E {
    Deep,
    Unterminated(usize),
    Key(usize),
    Colon(usize),
    ObjectSep(usize),
    ArraySep(usize),
    Value(usize),
    Literal(usize),
}

impl std::fmt::Display for E {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            E::Deep => write!(f, "nested too deeply"),
            E::Unterminated(i) => write!(f, "unterminated string starting at byte {i}"),
            E::Key(i) => write!(f, "expected a key at byte {i}"),
            E::Colon(i) => write!(f, "expected `:` at byte {i}"),
            E::ObjectSep(i) => write!(f, "expected `,` or `}}` at byte {i}"),
            E::ArraySep(i) => write!(f, "expected `,` or `]` at byte {i}"),
            E::Value(i) => write!(f, "expected a value at byte {i}"),
            E::Literal(i) => write!(f, "invalid literal at byte {i}"),
        }
    }
}

struct Scan<'a> {
    b: &'a [u8],
    quotes: Option<&'a [u64]>,
    /// Paths the caller may want; scalars at other paths are checked and skipped without a visit.
    keys: Option<&'a KeyFilter>,
}

/// The paths a caller reads, as (first byte, length) pairs: one table lookup turns away most keys of a log line
/// before the caller's name match (lengths of 63 and more share one bit). A superset: admitted paths may still
/// be of no interest.
pub(crate) struct KeyFilter([u64; 256]);

impl KeyFilter {
    /// Admits `names`, `also`, and every path that starts with one of `prefixes`.
    pub(crate) const fn new(
        names: &[(&str, crate::set::Role)],
        also: &str,
        prefixes: &[&str],
    ) -> KeyFilter {
        let mut t = [0u64; 256];
        let mut i = 0;
        while i <= names.len() {
            let name = if i < names.len() {
                names[i].0.as_bytes()
            } else {
                also.as_bytes()
            };
            if !name.is_empty() {
                let len = if name.len() < 63 { name.len() } else { 63 };
                t[name[0] as usize] |= 1 << len;
            }
            i += 1;
        }
        let mut k = 0;
        while k < prefixes.len() {
            let p = prefixes[k].as_bytes();
            if !p.is_empty() {
                let mut len = p.len();
                while len < 64 {
                    t[p[0] as usize] |= 1 << len;
                    len += 1;
                }
            }
            k += 1;
        }
        KeyFilter(t)
    }

    #[inline]
    pub(crate) fn may(&self, path: &[u8]) -> bool {
        match path.first() {
            Some(&c) => (self.0[c as usize] >> path.len().min(63)) & 1 != 0,
            None => false,
        }
    }
}

impl Scan<'_> {
    /// Returns the index after the closing quote and whether the string has escapes; `i` is at the opening quote.
    #[inline(always)]
    fn string_end(&self, i: usize) -> Result<(usize, bool), E> {
        let Some(q) = self.quotes else {
            return string_end_bytes(self.b, i);
        };
        let from = i + 1;
        let w = from / 64;
        // Most strings end in the same 64-byte block.
        let first = q.get(w).map_or(0, |x| x >> (from % 64));
        if first != 0 {
            return Ok((from + first.trailing_zeros() as usize + 1, false));
        }
        self.string_end_far(q, w, i)
    }

    /// The end of a string that leaves the 64-byte block it starts in.
    #[inline(never)]
    fn string_end_far(&self, q: &[u64], w: usize, i: usize) -> Result<(usize, bool), E> {
        q.iter()
            .enumerate()
            .skip(w + 1)
            .find(|(_, &x)| x != 0)
            .map(|(k, x)| (k * 64 + x.trailing_zeros() as usize + 1, false))
            .ok_or(E::Unterminated(i))
    }

    fn object<F: FnMut(&[u8], Leaf)>(
        &self,
        mut i: usize,
        path: &mut Vec<u8>,
        visit: &mut F,
        depth: usize,
    ) -> Result<usize, E> {
        let b = self.b;
        if depth > MAX_DEPTH {
            return Err(E::Deep);
        }
        i += 1; // '{'
        i = skip_ws(b, i);
        if b.get(i) == Some(&b'}') {
            return Ok(i + 1);
        }
        let base = path.len();
        loop {
            if b.get(i) != Some(&b'"') {
                return Err(E::Key(i));
            }
            let (kend, _) = self.string_end(i)?;
            let key = &b[i + 1..kend - 1];
            i = skip_ws(b, kend);
            if b.get(i) != Some(&b':') {
                return Err(E::Colon(i));
            }
            i = skip_ws(b, i + 1);
            if base == 0 && !matches!(b.get(i), Some(b'{' | b'[')) {
                // A top-level scalar (most fields of a log line): its path is the key itself, no copy needed.
                i = self.scalar(i, key, visit)?;
            } else {
                path.truncate(base);
                if base > 0 {
                    path.push(b'.');
                }
                path.extend_from_slice(key);
                i = self.value(i, path, visit, depth + 1)?;
            }
            // skip_ws answers compact JSON with one comparison, so the separator needs no fast path of its own.
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => {
                    path.truncate(base);
                    return Ok(i + 1);
                }
                _ => return Err(E::ObjectSep(i)),
            }
        }
    }

    fn value<F: FnMut(&[u8], Leaf)>(
        &self,
        i: usize,
        path: &mut Vec<u8>,
        visit: &mut F,
        depth: usize,
    ) -> Result<usize, E> {
        let b = self.b;
        match b.get(i) {
            Some(b'{') => self.object(i, path, visit, depth),
            Some(b'[') => {
                if depth > MAX_DEPTH {
                    return Err(E::Deep);
                }
                let mut j = skip_ws(b, i + 1);
                if b.get(j) == Some(&b']') {
                    return Ok(j + 1);
                }
                loop {
                    j = self.value(j, path, visit, depth + 1)?;
                    j = skip_ws(b, j);
                    match b.get(j) {
                        Some(b',') => j = skip_ws(b, j + 1),
                        Some(b']') => return Ok(j + 1),
                        _ => return Err(E::ArraySep(j)),
                    }
                }
            }
            _ => self.scalar(i, path, visit),
        }
    }

    /// A string, number, `true`, `false` or `null` at `i`, reported with `path`; returns the index after it.
    #[inline(always)]
    fn scalar<F: FnMut(&[u8], Leaf)>(
        &self,
        i: usize,
        path: &[u8],
        visit: &mut F,
    ) -> Result<usize, E> {
        let b = self.b;
        let Some(&c) = b.get(i) else {
            return Err(E::Value(i));
        };
        let wanted = !matches!(self.keys, Some(k) if !k.may(path));
        if c == b'"' {
            let (end, escaped) = self.string_end(i)?;
            if !wanted {
                return Ok(end);
            }
            visit(
                path,
                Leaf::Str {
                    start: i + 1,
                    end: end - 1,
                    escaped,
                },
            );
            return Ok(end);
        }
        // A bare value runs to the next `,`, `}`, `]` or whitespace and must be a literal or number-like text.
        let j = match c {
            b't' | b'f' | b'n' => {
                let word: &[u8] = match c {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                let j = i + word.len();
                if b.get(i..j) != Some(word) || b.get(j).is_some_and(|&x| BARE[x as usize] != 2) {
                    return Err(E::Literal(i));
                }
                j
            }
            b'0'..=b'9' | b'-' => {
                let mut j = i + 1;
                while j < b.len() && BARE[b[j] as usize] == 1 {
                    j += 1;
                }
                if j < b.len() && BARE[b[j] as usize] != 2 {
                    return Err(E::Literal(i));
                }
                j
            }
            _ => return Err(E::Value(i)),
        };
        if wanted {
            visit(path, Leaf::Bare { start: i, end: j });
        }
        Ok(j)
    }
}

/// Byte-scanning string end (follows escapes); `i` is at the opening quote.
#[inline]
fn string_end_bytes(b: &[u8], i: usize) -> Result<(usize, bool), E> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        match memchr::memchr2(b'"', b'\\', b.get(j..).unwrap_or(&[])) {
            None => return Err(E::Unterminated(i)),
            Some(k) => {
                let at = j + k;
                if b[at] == b'"' {
                    return Ok((at + 1, escaped));
                }
                escaped = true;
                if at + 1 >= b.len() {
                    return Err(E::Unterminated(i));
                }
                j = at + 2;
            }
        }
    }
}

/// Decodes the contents of a JSON string with escapes into `out` (appending). Invalid escapes are an error.
pub(crate) fn unescape(s: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *s.get(i + 1).ok_or("dangling escape")?;
        i += 2;
        match e {
            b'"' => out.push(b'"'),
            b'\\' => out.push(b'\\'),
            b'/' => out.push(b'/'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let hex = |at: usize| -> Result<u32, String> {
                    let h = s.get(at..at + 4).ok_or("short \\u escape")?;
                    let h = std::str::from_utf8(h).map_err(|_| "bad \\u escape")?;
                    u32::from_str_radix(h, 16).map_err(|_| "bad \\u escape".to_string())
                };
                let mut cp = hex(i)?;
                i += 4;
                if (0xD800..0xDC00).contains(&cp) && s.get(i..i + 2) == Some(b"\\u") {
                    let lo = hex(i + 2)?;
                    if (0xDC00..0xE000).contains(&lo) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    }
                }
                let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => return Err(format!("invalid escape `\\{}`", e as char)),
        }
    }
    Ok(())
}

/// The byte scanner as it was before the quote bitmap: the reference the property tests hold the fast path to.
#[cfg(test)]
mod reference {
    use super::Leaf;

    const MAX_DEPTH: usize = 64;

    /// Walks the object in `line`; `visit(path, leaf)` is called for every scalar. `path` is a reusable buffer.
    /// Errors name the byte offset and the reason.
    pub(super) fn walk<F: FnMut(&[u8], Leaf)>(
        line: &[u8],
        path: &mut Vec<u8>,
        visit: &mut F,
    ) -> Result<(), String> {
        path.clear();
        let mut i = skip_ws(line, 0);
        if line.get(i) != Some(&b'{') {
            return Err("not a JSON object".into());
        }
        i = object(line, i, path, visit, 0)?;
        i = skip_ws(line, i);
        if i != line.len() {
            return Err(format!("trailing data at byte {i}"));
        }
        Ok(())
    }

    #[inline]
    fn skip_ws(b: &[u8], mut i: usize) -> usize {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        i
    }

    /// Returns the index after the closing quote; `i` is at the opening quote.
    #[inline]
    fn string_end(b: &[u8], i: usize) -> Result<(usize, bool), String> {
        let mut j = i + 1;
        let mut escaped = false;
        // Eight bytes at a time (SWAR): most strings are short, where the SIMD search's set-up cost dominates.
        const LO: u64 = 0x0101_0101_0101_0101;
        const HI: u64 = 0x8080_8080_8080_8080;
        while j + 8 <= b.len() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[j..j + 8]);
            let v = u64::from_le_bytes(w);
            let q = v ^ (LO * u64::from(b'"'));
            let s = v ^ (LO * u64::from(b'\\'));
            let hit = (q.wrapping_sub(LO) & !q | s.wrapping_sub(LO) & !s) & HI;
            if hit != 0 {
                let at = j + (hit.trailing_zeros() / 8) as usize;
                if b[at] == b'"' {
                    return Ok((at + 1, false));
                }
                j = at;
                break;
            }
            j += 8;
            if j - i > 64 {
                break;
            }
        }
        loop {
            match memchr::memchr2(b'"', b'\\', &b[j..]) {
                None => return Err(format!("unterminated string starting at byte {i}")),
                Some(k) => {
                    let at = j + k;
                    if b[at] == b'"' {
                        return Ok((at + 1, escaped));
                    }
                    escaped = true;
                    if at + 1 >= b.len() {
                        return Err(format!("unterminated string starting at byte {i}"));
                    }
                    j = at + 2;
                }
            }
        }
    }

    fn object<F: FnMut(&[u8], Leaf)>(
        b: &[u8],
        mut i: usize,
        path: &mut Vec<u8>,
        visit: &mut F,
        depth: usize,
    ) -> Result<usize, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        i += 1; // '{'
        i = skip_ws(b, i);
        if b.get(i) == Some(&b'}') {
            return Ok(i + 1);
        }
        let base = path.len();
        loop {
            if b.get(i) != Some(&b'"') {
                return Err(format!("expected a key at byte {i}"));
            }
            let (kend, _) = string_end(b, i)?;
            let key = &b[i + 1..kend - 1];
            i = skip_ws(b, kend);
            if b.get(i) != Some(&b':') {
                return Err(format!("expected `:` at byte {i}"));
            }
            i = skip_ws(b, i + 1);
            if base == 0 && !matches!(b.get(i), Some(b'{' | b'[')) {
                // A top-level scalar (most fields of a log line): its path is the key itself, no copy needed.
                i = scalar(b, i, key, visit)?;
            } else {
                path.truncate(base);
                if base > 0 {
                    path.push(b'.');
                }
                path.extend_from_slice(key);
                i = value(b, i, path, visit, depth + 1)?;
            }
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => {
                    path.truncate(base);
                    return Ok(i + 1);
                }
                _ => return Err(format!("expected `,` or `}}` at byte {i}")),
            }
        }
    }

    fn value<F: FnMut(&[u8], Leaf)>(
        b: &[u8],
        i: usize,
        path: &mut Vec<u8>,
        visit: &mut F,
        depth: usize,
    ) -> Result<usize, String> {
        match b.get(i) {
            Some(b'{') => object(b, i, path, visit, depth),
            Some(b'[') => {
                if depth > MAX_DEPTH {
                    return Err("nested too deeply".into());
                }
                let mut j = skip_ws(b, i + 1);
                if b.get(j) == Some(&b']') {
                    return Ok(j + 1);
                }
                loop {
                    j = value(b, j, path, visit, depth + 1)?;
                    j = skip_ws(b, j);
                    match b.get(j) {
                        Some(b',') => j = skip_ws(b, j + 1),
                        Some(b']') => return Ok(j + 1),
                        _ => return Err(format!("expected `,` or `]` at byte {j}")),
                    }
                }
            }
            _ => scalar(b, i, path, visit),
        }
    }

    /// A string, number, `true`, `false` or `null` at `i`, reported with `path`; returns the index after it.
    #[inline(always)]
    fn scalar<F: FnMut(&[u8], Leaf)>(
        b: &[u8],
        i: usize,
        path: &[u8],
        visit: &mut F,
    ) -> Result<usize, String> {
        match b.get(i) {
            Some(b'"') => {
                let (end, escaped) = string_end(b, i)?;
                visit(
                    path,
                    Leaf::Str {
                        start: i + 1,
                        end: end - 1,
                        escaped,
                    },
                );
                Ok(end)
            }
            Some(c) if c.is_ascii_digit() || *c == b'-' || matches!(c, b't' | b'f' | b'n') => {
                let mut j = i;
                while j < b.len()
                    && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
                {
                    j += 1;
                }
                let text = &b[i..j];
                let ok = match c {
                    b't' => text == b"true",
                    b'f' => text == b"false",
                    b'n' => text == b"null",
                    _ => text.iter().all(|x| {
                        x.is_ascii_digit() || matches!(x, b'-' | b'+' | b'.' | b'e' | b'E')
                    }),
                };
                if !ok {
                    return Err(format!("invalid literal at byte {i}"));
                }
                visit(path, Leaf::Bare { start: i, end: j });
                Ok(j)
            }
            _ => Err(format!("expected a value at byte {i}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(s: &str) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        let mut scratch = Scratch::default();
        walk(s.as_bytes(), &mut scratch, None, &mut |p, l| {
            let (a, e) = match l {
                Leaf::Str { start, end, .. } | Leaf::Bare { start, end } => (start, end),
            };
            out.push((String::from_utf8_lossy(p).into_owned(), s[a..e].to_string()));
        })?;
        Ok(out)
    }

    #[test]
    fn walks_nested_objects_and_arrays() {
        let l = leaves(r#"{"a":1,"b":{"c":"x\"y","d":[{"e":"f"},"g"]},"h":true,"i":[],"j":{}}"#)
            .expect("parses");
        assert_eq!(
            l,
            vec![
                ("a".into(), "1".into()),
                ("b.c".into(), "x\\\"y".into()),
                ("b.d.e".into(), "f".into()),
                ("b.d".into(), "g".into()),
                ("h".into(), "true".into()),
            ]
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            r#"{"a":1"#,
            r#"{"a" 1}"#,
            r#"{"a":"x}"#,
            "[1]",
            r#"{"a":1} x"#,
            r#"{"a":tru}"#,
            "{\"a\":\"\\",
        ] {
            assert!(leaves(bad).is_err(), "{bad}");
        }
        let deep = format!("{}{}", "{\"a\":".repeat(100), "}".repeat(100));
        assert!(leaves(&deep).is_err());
    }

    #[test]
    fn unescapes() {
        let mut o = Vec::new();
        unescape(br#"a\/b\u00e9\ud83d\ude00\n"#, &mut o).expect("valid");
        assert_eq!(String::from_utf8(o).expect("utf8"), "a/bé😀\n");
        assert!(unescape(br"\x", &mut Vec::new()).is_err());
    }

    type Leaves = Vec<(Vec<u8>, Leaf)>;

    /// Both scanners' view of a line: every leaf with its path, and whether the line parsed.
    fn both(line: &[u8]) -> (Leaves, bool, Leaves, bool) {
        let mut fast = Vec::new();
        let ok_fast = walk(line, &mut Scratch::default(), None, &mut |p, l| {
            fast.push((p.to_vec(), l))
        })
        .is_ok();
        let mut slow = Vec::new();
        let ok_slow = reference::walk(line, &mut Vec::new(), &mut |p, l| {
            slow.push((p.to_vec(), l))
        })
        .is_ok();
        (fast, ok_fast, slow, ok_slow)
    }

    fn json_string() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9.:/_-]{0,12}",
            Just(r#"a\"b"#.to_string()),
            Just(r"c\\".to_string()),
            Just(r"\u00e9\n".to_string()),
            Just("é😀 ü".to_string()),
            "[ -~]{0,80}",
        ]
        .prop_map(|s| format!("\"{s}\""))
    }

    fn json_value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            json_string(),
            Just("true".to_string()),
            Just("false".to_string()),
            Just("null".to_string()),
            "-?[0-9]{1,6}(\\.[0-9]{1,3})?(e[+-]?[0-9])?",
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(
                    (
                        json_string(),
                        inner,
                        prop_oneof![Just(""), Just(" "), Just("\t")]
                    ),
                    0..6
                )
                .prop_map(|v| {
                    let kv: Vec<String> = v
                        .into_iter()
                        .map(|(k, x, ws)| format!("{k}{ws}:{ws}{x}"))
                        .collect();
                    format!("{{{}}}", kv.join(","))
                }),
            ]
        })
    }

    /// A line, then optionally damaged: bytes cut off, a byte replaced, or a byte inserted.
    fn json_line() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec((json_string(), json_value()), 0..12),
            0u8..4,
            any::<prop::sample::Index>(),
            prop::sample::select(vec![
                b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b' ', b'x', b'1', b't',
            ]),
        )
            .prop_map(|(kv, damage, at, byte)| {
                let kv: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                let mut b = format!("{{{}}}", kv.join(",")).into_bytes();
                let i = at.index(b.len() + 1);
                match damage {
                    1 => b.truncate(i),
                    2 if i < b.len() => b[i] = byte,
                    3 => b.insert(i, byte),
                    _ => {}
                }
                b
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]

        #[test]
        fn fast_scanner_agrees_with_the_byte_scanner(line in json_line()) {
            let (fast, ok_fast, slow, ok_slow) = both(&line);
            proptest::prop_assert_eq!(ok_fast, ok_slow, "{}", String::from_utf8_lossy(&line));
            if ok_fast {
                proptest::prop_assert_eq!(fast, slow);
            }
        }

        #[test]
        fn valid_lines_parse_like_serde_json(line in json_line()) {
            // Whenever serde_json accepts the line, so does the scanner (it is laxer: e.g. `1-2` passes as a number).
            if serde_json::from_slice::<serde_json::Value>(&line).is_ok_and(|v| v.is_object()) {
                let (_, ok_fast, _, _) = both(&line);
                proptest::prop_assert!(ok_fast, "{}", String::from_utf8_lossy(&line));
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn simd_and_swar_masks_agree(blk in prop::collection::vec(
            prop::sample::select(vec![b'"', b'\\', b'a', 0u8, 0x22 ^ 0x80, 0x5c ^ 0x80, 0xff, 0x21, 0x23]),
            64,
        )) {
            let naive = blk.iter().enumerate().fold((0u64, 0u64), |(q, s), (i, &c)| {
                (q | (u64::from(c == b'"') << i), s | (u64::from(c == b'\\') << i))
            });
            proptest::prop_assert_eq!(block_masks(&blk), naive);
            proptest::prop_assert_eq!(block_masks_swar(&blk), naive);
        }
    }

    #[test]
    fn a_late_backslash_takes_the_byte_scanner_and_agrees() {
        // The backslash sits in every position of the first three blocks and past them: the bitmap pass stops at
        // its block, and both scanners must still report the same leaves.
        for at in (0..200).chain([255, 256, 257, 1000]) {
            let pad = "y".repeat(at);
            for line in [
                format!(r#"{{"a":"{pad}\"q","b":"x","c":[1,{{"d":"e\\"}}]}}"#),
                format!(r#"{{"a":"{pad}","b":"\u00e9\"","c":1}}"#),
                format!(r#"{{"a":"{pad}\""#),
                format!(r#"{{"{pad}\"":2}}"#),
            ] {
                let (fast, ok_fast, slow, ok_slow) = both(line.as_bytes());
                assert_eq!(ok_fast, ok_slow, "{line}");
                assert_eq!(fast, slow, "{line}");
            }
        }
    }

    #[test]
    fn long_strings_across_blocks_and_padding() {
        for n in [0, 1, 7, 8, 55, 56, 62, 63, 64, 65, 127, 128, 200] {
            let v = "x".repeat(n);
            let line = format!(r#"{{"k":"{v}","n":12,"q":"{v}"}}"#);
            let (fast, ok_fast, slow, ok_slow) = both(line.as_bytes());
            assert!(ok_fast && ok_slow, "{n}");
            assert_eq!(fast, slow, "{n}");
            let cut = &line.as_bytes()[..line.len() - 3];
            assert!(both(cut).1 == both(cut).3, "{n}");
        }
    }
}
