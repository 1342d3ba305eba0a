//! A targeted JSON-object scanner for log lines: walks one object and reports each scalar leaf with its dotted
//! path (array levels add nothing to the path), without building a tree or allocating.
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

/// Walks the object in `line`; `visit(path, leaf)` is called for every scalar. `path` is a reusable buffer.
/// Errors name the byte offset and the reason.
pub(crate) fn walk<F: FnMut(&[u8], Leaf)>(
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
#[inline]
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
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
            {
                j += 1;
            }
            let text = &b[i..j];
            let ok = match c {
                b't' => text == b"true",
                b'f' => text == b"false",
                b'n' => text == b"null",
                _ => text
                    .iter()
                    .all(|x| x.is_ascii_digit() || matches!(x, b'-' | b'+' | b'.' | b'e' | b'E')),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(s: &str) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        let mut path = Vec::new();
        walk(s.as_bytes(), &mut path, &mut |p, l| {
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
}
