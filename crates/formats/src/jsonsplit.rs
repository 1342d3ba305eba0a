//! Cuts a JSON text read from a stream into its values' raw bytes without building them, so that one value of
//! unbounded size (a 2 GB description) costs a bounded buffer: the value is scanned past, and only its outline
//! (size, `id`, `type`, largest property) is kept. Each value that fits is handed back whole, to be parsed from
//! memory (which is also several times faster than serde_json's reader-based parser).
//!
//! The scanner checks only what it needs to find a value's end (strings, escapes, nesting) and one sign that it
//! has lost it: a quote touching a bare word (`"said "hi"`), the mark of an unescaped quote inside a string, after
//! which the rest would be read out of step. Everything else is left to serde_json when the bytes are parsed, so
//! invalid JSON is still reported by serde_json. A reader of a list can then look for the next value
//! ([`Splitter::seek_object`]), reading again what the broken one held ([`Splitter::unread`]).

use std::io::{self, BufRead};

/// serde_json's whitespace (not `u8::is_ascii_whitespace`, which also takes form feed).
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// How many bytes of a broken value are read again when looking for the next value after it.
const RESYNC_BACK: usize = 1 << 20;

/// What a value out of step was found to lack, in error messages.
pub(crate) const DESYNC_EXPECTED: &str =
    "`,`, `:` or a bracket between a string and what follows it (an unescaped `\"` inside a string?)";

const WS: u8 = 0;
const BARE: u8 = 1;
const SYNTAX: u8 = 2;

/// Bytes outside strings: whitespace, JSON's own punctuation and quote, and the rest (numbers, literals and
/// anything invalid).
static BYTE_CLASS: [u8; 256] = {
    let mut t = [BARE; 256];
    t[b' ' as usize] = WS;
    t[b'\t' as usize] = WS;
    t[b'\n' as usize] = WS;
    t[b'\r' as usize] = WS;
    let syntax = b"\"{}[],:";
    let mut k = 0;
    while k < syntax.len() {
        t[syntax[k] as usize] = SYNTAX;
        k += 1;
    }
    t
};

/// How far a key or an `id`/`type` value is kept for the outline of a value too large to keep.
const OUTLINE_CAP: usize = 256;

#[derive(Debug)]
pub(crate) enum SplitError {
    Io(io::Error),
    /// The input ended inside a value or before one.
    Eof,
    /// A byte that cannot start or continue the structure at hand.
    Unexpected {
        byte: u8,
        offset: u64,
        expected: &'static str,
    },
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::Io(e) => write!(f, "{e}"),
            SplitError::Eof => f.write_str("the input ends inside a value (truncated?)"),
            SplitError::Unexpected {
                byte,
                offset,
                expected,
            } => {
                let shown = if byte.is_ascii_graphic() {
                    format!("`{}`", *byte as char)
                } else {
                    format!("byte 0x{byte:02x}")
                };
                write!(f, "expected {expected} at byte {offset}, found {shown}")
            }
        }
    }
}

impl From<io::Error> for SplitError {
    fn from(e: io::Error) -> Self {
        SplitError::Io(e)
    }
}

/// A value too large to keep: what is known of it after scanning past it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Outline {
    /// Its length in bytes of JSON.
    pub bytes: u64,
    /// Its top-level `id` and `type` strings, when it is an object that has them (as written, escapes kept).
    pub id: Option<String>,
    pub kind: Option<String>,
    /// The top-level property whose key and value take the most bytes.
    pub largest: Option<String>,
}

#[derive(Debug)]
pub(crate) enum Raw {
    Bytes(Vec<u8>),
    TooLarge(Outline),
}

/// What [`Splitter::value_or_desync`] cut out.
#[derive(Debug)]
pub(crate) enum Cut {
    Value(Raw),
    /// The value's strings fell out of step with its text (see [`Scan::desync`]); scanning stopped at `offset`,
    /// the byte `byte`. `held`: the value's bytes up to there (empty if more than the limit were read).
    Desync {
        held: Vec<u8>,
        byte: u8,
        offset: u64,
    },
}

/// What the string being scanned is, for the outline of a top-level object.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Str {
    Other,
    Key,
    Id,
    Kind,
}

/// The state of a scan through one value, fed chunk by chunk.
struct Scan {
    scalar: bool,
    depth: u32,
    in_str: bool,
    esc: bool,
    /// Bytes of the value before the current chunk.
    offset: u64,
    // Outline of a top-level object: its members at depth 1.
    object: bool,
    expect_key: bool,
    str_kind: Str,
    cap: Vec<u8>,
    key: Vec<u8>,
    member_start: u64,
    outline: Outline,
    largest: u64,
    /// Outside strings, the last byte was a string's closing quote.
    after_quote: bool,
    /// Outside strings, the last byte was part of a number or literal (or of something invalid).
    bare: bool,
    /// Where a quote and a bare byte touched (`"a"b`, `b"`): offset in the value and the bare byte or quote.
    /// Valid JSON never has one, and an unescaped quote inside a string makes one within a few bytes, as the
    /// text after it is read as bare words (`"said "hi"`), so the scan stops there instead of running on out of
    /// step to the end of the input.
    desync: Option<(u64, u8)>,
}

impl Scan {
    fn new(first: u8) -> Scan {
        Scan {
            scalar: !matches!(first, b'{' | b'[' | b'"'),
            depth: 0,
            in_str: false,
            esc: false,
            offset: 0,
            object: first == b'{',
            expect_key: false,
            str_kind: Str::Other,
            cap: Vec::new(),
            key: Vec::new(),
            member_start: 0,
            outline: Outline::default(),
            largest: 0,
            after_quote: false,
            bare: false,
            desync: None,
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        if self.str_kind != Str::Other {
            let room = OUTLINE_CAP.saturating_sub(self.cap.len());
            self.cap.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    fn end_string(&mut self) {
        let text = || String::from_utf8_lossy(&self.cap).into_owned();
        match self.str_kind {
            Str::Other => {}
            Str::Key => self.key = std::mem::take(&mut self.cap),
            Str::Id => self.outline.id = Some(text()),
            Str::Kind => self.outline.kind = Some(text()),
        }
        self.str_kind = Str::Other;
        self.cap.clear();
    }

    /// A member of the top-level object ends at `at` (the offset of the `,` or `}` after it).
    fn end_member(&mut self, at: u64) {
        if self.key.is_empty() && self.member_start == 0 {
            return;
        }
        let len = at.saturating_sub(self.member_start);
        if len > self.largest {
            self.largest = len;
            self.outline.largest = Some(String::from_utf8_lossy(&self.key).into_owned());
        }
        self.key.clear();
        self.member_start = 0;
    }

    /// Scans `chunk`; returns how many of its bytes belong to the value, and whether the value ended there.
    fn feed(&mut self, chunk: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < chunk.len() {
            if self.in_str {
                if self.esc {
                    self.esc = false;
                    self.keep(&chunk[i..=i]);
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                    None => {
                        self.keep(&chunk[i..]);
                        i = chunk.len();
                    }
                    Some(j) => {
                        self.keep(&chunk[i..i + j]);
                        let b = chunk[i + j];
                        i += j + 1;
                        if b == b'\\' {
                            self.esc = true;
                            self.keep(b"\\");
                        } else {
                            self.in_str = false;
                            self.end_string();
                            if self.depth == 0 {
                                self.offset += i as u64;
                                return (i, true);
                            }
                            self.after_quote = true;
                        }
                    }
                }
                continue;
            }
            let b = chunk[i];
            if self.scalar {
                if matches!(b, b',' | b']' | b'}') || is_ws(b) {
                    self.offset += i as u64;
                    return (i, true);
                }
                i += 1;
                continue;
            }
            let at = self.offset + i as u64;
            i += 1;
            match BYTE_CLASS[usize::from(b)] {
                WS => {
                    self.after_quote = false;
                    self.bare = false;
                    continue;
                }
                BARE => {
                    if self.after_quote {
                        self.desync = Some((at, b));
                        self.offset += i as u64;
                        return (i, true);
                    }
                    self.bare = true;
                    continue;
                }
                _ if b == b'"' && self.bare => {
                    self.desync = Some((at, b));
                    self.offset += i as u64;
                    return (i, true);
                }
                _ => {
                    self.after_quote = false;
                    self.bare = false;
                }
            }
            match b {
                b'"' => {
                    self.in_str = true;
                    if self.object && self.depth == 1 {
                        if self.expect_key {
                            self.expect_key = false;
                            self.str_kind = Str::Key;
                            self.member_start = at;
                        } else if self.key == b"id" {
                            self.str_kind = Str::Id;
                        } else if self.key == b"type" {
                            self.str_kind = Str::Kind;
                        }
                    }
                }
                b'{' | b'[' => {
                    self.depth += 1;
                    if self.depth == 1 {
                        self.expect_key = true;
                    }
                }
                b'}' | b']' => {
                    if self.object && self.depth == 1 {
                        self.end_member(at);
                    }
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        self.offset += i as u64;
                        return (i, true);
                    }
                }
                b',' if self.object && self.depth == 1 => {
                    self.end_member(at);
                    self.expect_key = true;
                }
                _ => {}
            }
        }
        self.offset += chunk.len() as u64;
        (chunk.len(), false)
    }
}

/// The outline of one value's bytes (as [`Splitter::value`] handed them out): its `id` and `type` when it is an
/// object, to name it when it cannot be parsed.
pub(crate) fn outline_of(bytes: &[u8]) -> Outline {
    let Some(&first) = bytes.first() else {
        return Outline::default();
    };
    let mut scan = Scan::new(first);
    scan.feed(bytes);
    let mut outline = scan.outline;
    outline.bytes = bytes.len() as u64;
    outline
}

/// A reader of JSON text by values, counting the bytes it has consumed.
pub(crate) struct Splitter<R> {
    r: R,
    /// Bytes consumed so far: the offset of the next byte in the input.
    pub pos: u64,
    /// Bytes given back ([`Splitter::unread`]), read again from `back_at` before `r`.
    back: Vec<u8>,
    back_at: usize,
}

impl<R: BufRead> Splitter<R> {
    pub fn new(r: R) -> Self {
        Splitter {
            r,
            pos: 0,
            back: Vec::new(),
            back_at: 0,
        }
    }

    fn chunk(&mut self) -> io::Result<&[u8]> {
        if self.back_at < self.back.len() {
            Ok(&self.back[self.back_at..])
        } else {
            self.r.fill_buf()
        }
    }

    fn take(&mut self, n: usize) {
        if self.back_at < self.back.len() {
            self.back_at += n;
            if self.back_at >= self.back.len() {
                self.back.clear();
                self.back_at = 0;
            }
        } else {
            self.r.consume(n);
        }
        self.pos += n as u64;
    }

    /// Gives back `bytes`, the last ones consumed, to be read again.
    pub fn unread(&mut self, bytes: &[u8]) {
        let rest = self.back.split_off(self.back_at);
        self.back.clear();
        self.back.extend_from_slice(bytes);
        self.back.extend_from_slice(&rest);
        self.back_at = 0;
        self.pos -= bytes.len() as u64;
    }

    /// Consumes bytes up to where another object of a list seems to start: the `{` of the next `}` `,` `{`
    /// (whitespace between), read without regard to strings, as after a fault they can no longer be trusted.
    /// The `{` is left unconsumed; false at the end of the input.
    pub fn seek_object(&mut self) -> Result<bool, SplitError> {
        // 0: looking for `}`; 1: after it, for `,`; 2: after that, for `{`.
        let mut state = 0u8;
        loop {
            let chunk = self.chunk()?;
            if chunk.is_empty() {
                return Ok(false);
            }
            let mut i = 0;
            while i < chunk.len() {
                if state == 0 {
                    match memchr::memchr(b'}', &chunk[i..]) {
                        Some(j) => {
                            i += j + 1;
                            state = 1;
                        }
                        None => i = chunk.len(),
                    }
                    continue;
                }
                let b = chunk[i];
                state = match (state, b) {
                    (_, b) if is_ws(b) => state,
                    (1, b',') => 2,
                    (2, b'{') => {
                        self.take(i);
                        return Ok(true);
                    }
                    (_, b'}') => 1,
                    _ => 0,
                };
                i += 1;
            }
            let n = chunk.len();
            self.take(n);
        }
    }

    /// The next byte that is not whitespace, left unconsumed; `None` at the end of the input.
    pub fn peek(&mut self) -> Result<Option<u8>, SplitError> {
        loop {
            let chunk = self.chunk()?;
            if chunk.is_empty() {
                return Ok(None);
            }
            match chunk.iter().position(|&b| !is_ws(b)) {
                Some(n) => {
                    let b = chunk[n];
                    self.take(n);
                    return Ok(Some(b));
                }
                None => {
                    let n = chunk.len();
                    self.take(n);
                }
            }
        }
    }

    /// Consumes the next non-whitespace byte, which must be one of `bytes`; returns it.
    pub fn expect(&mut self, bytes: &[u8], expected: &'static str) -> Result<u8, SplitError> {
        match self.peek()? {
            None => Err(SplitError::Eof),
            Some(b) if bytes.contains(&b) => {
                self.take(1);
                Ok(b)
            }
            Some(byte) => Err(SplitError::Unexpected {
                byte,
                offset: self.pos,
                expected,
            }),
        }
    }

    /// After a fault in a list of objects: the next value, found by [`Splitter::seek_object`], that `pick` takes
    /// (it passes over nested objects), with the offset where it starts; None when the input ends first.
    pub fn next_object_where<T>(
        &mut self,
        limit: usize,
        mut pick: impl FnMut(Raw) -> Option<T>,
    ) -> Result<Option<(u64, T)>, SplitError> {
        loop {
            if !self.seek_object()? {
                return Ok(None);
            }
            let at = self.pos;
            match self.value_or_desync(limit) {
                Ok(Cut::Value(raw)) => {
                    if let Some(t) = pick(raw) {
                        return Ok(Some((at, t)));
                    }
                }
                Ok(Cut::Desync { .. }) => {}
                Err(SplitError::Io(e)) => return Err(SplitError::Io(e)),
                Err(_) => return Ok(None),
            }
        }
    }

    /// Gives back a broken value's bytes but its first (at most the last `RESYNC_BACK` of them), so that the
    /// search for the next value starts inside it: its real end may lie before the place its fault showed.
    pub fn unread_broken(&mut self, held: &[u8]) {
        let back = held.get(1..).unwrap_or_default();
        self.unread(&back[back.len().saturating_sub(RESYNC_BACK)..]);
    }

    /// The next value's bytes, or, if it is longer than `limit` bytes, its outline (the value is consumed either
    /// way, and at most `limit` bytes of it are ever held). A value whose strings fell out of step with its text
    /// is an error at the byte where that showed.
    pub fn value(&mut self, limit: usize) -> Result<Raw, SplitError> {
        match self.value_or_desync(limit)? {
            Cut::Desync { byte, offset, .. } => Err(SplitError::Unexpected {
                byte,
                offset,
                expected: DESYNC_EXPECTED,
            }),
            Cut::Value(raw) => Ok(raw),
        }
    }

    /// As [`Splitter::value`], but a value out of step is handed back as [`Cut::Desync`], for the caller to
    /// find its way to the next value.
    pub fn value_or_desync(&mut self, limit: usize) -> Result<Cut, SplitError> {
        let start = self.pos;
        let first = match self.peek()? {
            None => return Err(SplitError::Eof),
            Some(b @ (b',' | b':' | b']' | b'}')) => {
                return Err(SplitError::Unexpected {
                    byte: b,
                    offset: self.pos,
                    expected: "a value",
                })
            }
            Some(b) => b,
        };
        let mut scan = Scan::new(first);
        let mut buf = Vec::new();
        let mut over = false;
        loop {
            let chunk = self.chunk()?;
            if chunk.is_empty() {
                // A number or literal ends at the end of the input (what follows, if anything was due, is
                // missing: the caller finds that out).
                if scan.scalar {
                    break;
                }
                return Err(SplitError::Eof);
            }
            let (used, done) = scan.feed(chunk);
            if !over {
                if buf.len() + used > limit {
                    over = true;
                    buf = Vec::new();
                } else {
                    buf.extend_from_slice(&chunk[..used]);
                }
            }
            self.take(used);
            if done {
                break;
            }
        }
        if let Some((at, byte)) = scan.desync {
            return Ok(Cut::Desync {
                held: if over { Vec::new() } else { buf },
                byte,
                offset: start + at,
            });
        }
        if over {
            let mut outline = scan.outline;
            outline.bytes = scan.offset;
            Ok(Cut::Value(Raw::TooLarge(outline)))
        } else {
            Ok(Cut::Value(Raw::Bytes(buf)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(input: &str, limit: usize) -> Vec<Raw> {
        // A tiny buffer so values cross chunk boundaries at every byte.
        let mut s = Splitter::new(io::BufReader::with_capacity(3, input.as_bytes()));
        let mut out = Vec::new();
        s.expect(b"[", "[").unwrap();
        loop {
            out.push(s.value(limit).unwrap());
            if s.expect(b",]", ", or ]").unwrap() == b']' {
                break;
            }
        }
        out
    }

    fn text(r: &Raw) -> &str {
        match r {
            Raw::Bytes(b) => std::str::from_utf8(b).unwrap(),
            Raw::TooLarge(o) => panic!("too large: {o:?}"),
        }
    }

    #[test]
    fn cuts_values_at_their_ends() {
        let input = r#"[ {"a":"x,]}\"{","b":[1,{"c":2}]} , 12.5e3,"s\\",true ,null,[] ]"#;
        let v = values(input, 1 << 20);
        let got: Vec<&str> = v.iter().map(text).collect();
        assert_eq!(
            got,
            [
                r#"{"a":"x,]}\"{","b":[1,{"c":2}]}"#,
                "12.5e3",
                r#""s\\""#,
                "true",
                "null",
                "[]"
            ]
        );
    }

    #[test]
    fn a_value_over_the_limit_is_outlined_not_kept() {
        let big = "y".repeat(500);
        let input = format!(
            r#"[{{"type":"indicator","id":"indicator--1","description":"{big}","name":"n"}},{{"id":"x"}}]"#
        );
        let v = values(&input, 100);
        match &v[0] {
            Raw::TooLarge(o) => {
                assert_eq!(o.id.as_deref(), Some("indicator--1"));
                assert_eq!(o.kind.as_deref(), Some("indicator"));
                assert_eq!(o.largest.as_deref(), Some("description"));
                assert_eq!(o.bytes as usize, input.find(r#",{"id""#).unwrap() - 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(text(&v[1]), r#"{"id":"x"}"#);
    }

    #[test]
    fn truncation_and_stray_bytes_are_errors() {
        let mut s = Splitter::new(&b"[{\"a\":\"b"[..]);
        s.expect(b"[", "[").unwrap();
        assert!(matches!(s.value(100), Err(SplitError::Eof)));
        let mut s = Splitter::new(&b"  ]"[..]);
        assert!(matches!(
            s.value(100),
            Err(SplitError::Unexpected {
                byte: b']',
                offset: 2,
                ..
            })
        ));
    }

    #[test]
    fn a_quote_touching_a_bare_word_stops_the_value_there() {
        // `"b"c`: the value's strings are out of step from the quote before `c`.
        for (input, byte, offset) in [
            (r#"[{"a":"b"c","d":1}]"#, b'c', 9),
            (r#"[{"a":1x","d":1}]"#, b'"', 8),
            (r#"[{"a":["b" c"]}]"#, b'"', 12),
        ] {
            for cap in [1, 2, 64] {
                let mut s = Splitter::new(io::BufReader::with_capacity(cap, input.as_bytes()));
                s.expect(b"[", "[").unwrap();
                match s.value_or_desync(1 << 20).unwrap() {
                    Cut::Desync {
                        held,
                        byte: b,
                        offset: o,
                    } => {
                        assert_eq!((b, o), (byte, offset), "{input}");
                        assert_eq!(held, &input.as_bytes()[1..=offset as usize], "{input}");
                        assert_eq!(s.pos, offset + 1);
                    }
                    other => panic!("{input}: {other:?}"),
                }
            }
        }
        // What serde_json finds wrong without the strings being out of step is left to it.
        for input in [r#"[{"a":NaN,"b":truex}]"#, r#"[{"a":"b" ,"c":[1 2]}]"#] {
            let mut s = Splitter::new(input.as_bytes());
            s.expect(b"[", "[").unwrap();
            assert!(matches!(
                s.value_or_desync(1 << 20),
                Ok(Cut::Value(Raw::Bytes(_)))
            ));
            assert_eq!(s.expect(b"]", "]").unwrap(), b']');
        }
    }

    #[test]
    fn bytes_given_back_are_read_again_and_the_next_object_is_found() {
        let input = br#"{"a":"x},{"},  {"b":[{"c":1} , {"d":2}]}  }, {"e":3}"#;
        for cap in [1, 3, 64] {
            let mut s = Splitter::new(io::BufReader::with_capacity(cap, &input[..]));
            let Cut::Value(Raw::Bytes(first)) = s.value_or_desync(1 << 20).unwrap() else {
                panic!("the first object is whole");
            };
            assert_eq!(s.pos, first.len() as u64);
            // Back to just after the first `{`: the next `}` `,` `{` is the one inside the string.
            s.unread(&first[1..]);
            assert_eq!(s.pos, 1);
            assert!(s.seek_object().unwrap());
            assert_eq!(s.pos, 9);
            s.expect(b"{", "{").unwrap();
            // Then the one after the first object, the one inside the list and the last one; whitespace between
            // the three bytes is allowed.
            for next in [br#"{"b":"#, br#"{"d":"#] {
                assert!(s.seek_object().unwrap());
                assert_eq!(&input[s.pos as usize..s.pos as usize + 5], next);
                s.expect(b"{", "{").unwrap();
            }
            assert!(s.seek_object().unwrap());
            assert_eq!(&input[s.pos as usize..], br#"{"e":3}"#);
            s.expect(b"{", "{").unwrap();
            assert!(!s.seek_object().unwrap());
            assert_eq!(s.pos, input.len() as u64);
        }
    }
}
