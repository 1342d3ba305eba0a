//! The stored form of an object's JSON: LZ4 with a fixed dictionary of STIX boilerplate.
//!
//! A bulk list row is ~350 bytes of JSON of which only the id, the value and a timestamp vary: packed against a
//! dictionary that holds the rest, it is ~85 bytes. The database, its WAL, and the checkpoint that copies one into
//! the other all shrink by about half, and that copying was the largest single cost of a 1M-line ingest.
//!
//! Layout: one tag byte (the codec and dictionary), then an LZ4 block with its decoded length prepended (u32 LE).
//! Rows written before packing existed hold their JSON as TEXT; readers accept both (see [`unpack`]). A tag names its
//! dictionary forever: a better dictionary gets a new tag, and [`unpack`] keeps reading the old ones.
//!
//! Tag 2 first writes every UUID of the text (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower-case hex) as a 0x01 byte
//! and its 16 bytes: LZ4 finds no repeats in random hex, so a relationship's three ids were 108 of its ~180 packed
//! bytes. JSON text never holds a raw 0x01 (control characters are escaped in strings), and a text that does is
//! packed with tag 1.

use thiserror::Error;

mod encode;

/// Tag 0: the JSON as it is (for a value that packing would not shrink).
const TAG_PLAIN: u8 = 0;
/// Tag 1: LZ4 block against [`DICT_V1`].
const TAG_LZ4_V1: u8 = 1;
/// Tag 2: LZ4 block against [`DICT_V1`] of the text with its UUIDs in binary (see the module comment).
const TAG_LZ4_V1_UUID: u8 = 2;
/// Marks a binary UUID inside a tag-2 text.
const UUID_MARK: u8 = 1;
/// A UUID's length as text.
const UUID_TEXT: usize = 36;

/// Never edit: every row packed with tag 1 needs these exact bytes to be read (a test pins their hash).
pub const DICT_V1: &[u8] = include_bytes!("packed/dict_v1.txt");

/// Larger than any value SQLite stores by default (`SQLITE_MAX_LENGTH`, 1e9 bytes): a length field above it is damage.
const MAX_DECODED: usize = 1_000_000_000;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum UnpackError {
    #[error("packed JSON is empty")]
    Empty,
    #[error("packed JSON has unknown codec tag {0} (written by a newer Vigil?)")]
    UnknownTag(u8),
    #[error("packed JSON is truncated or damaged: {0}")]
    Damaged(String),
    #[error("packed JSON does not decode to UTF-8: {0}")]
    NotUtf8(String),
}

/// Packs an object's JSON for storage.
pub fn pack(json: &str) -> Vec<u8> {
    let raw = json.as_bytes();
    if raw.len() > MAX_DECODED {
        return plain(raw);
    }
    if memchr::memchr(UUID_MARK, raw).is_none() {
        let mut squeezed = Vec::with_capacity(raw.len());
        if squeeze_uuids(raw, &mut squeezed) {
            return lz4(TAG_LZ4_V1_UUID, &squeezed, raw.len()).unwrap_or_else(|| plain(raw));
        }
    }
    lz4(TAG_LZ4_V1, raw, raw.len()).unwrap_or_else(|| plain(raw))
}

/// `body` compressed after `tag`; None when that would not be shorter than the plain text (`text_len` + 1).
fn lz4(tag: u8, body: &[u8], text_len: usize) -> Option<Vec<u8>> {
    let mut head = [tag, 0, 0, 0, 0];
    head[1..5].copy_from_slice(&(body.len() as u32).to_le_bytes());
    let out = if encode::fits(body) {
        encode::compress(&head, body)
    } else {
        let mut out = vec![0u8; 5 + lz4_flex::block::get_maximum_output_size(body.len())];
        out[..5].copy_from_slice(&head);
        let n = lz4_flex::block::compress_into_with_dict(body, &mut out[5..], DICT_V1).ok()?;
        out.truncate(5 + n);
        out
    };
    (out.len() < 1 + text_len).then_some(out)
}

fn plain(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + raw.len());
    out.push(TAG_PLAIN);
    out.extend_from_slice(raw);
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// The 16 bytes of a lower-case UUID text, or None when `t` is not one.
fn uuid_bytes(t: &[u8]) -> Option<[u8; 16]> {
    if t.len() < UUID_TEXT || t[8] != b'-' || t[13] != b'-' || t[18] != b'-' || t[23] != b'-' {
        return None;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut i = 0;
    while i < UUID_TEXT {
        if matches!(i, 8 | 13 | 18 | 23) {
            i += 1;
            continue;
        }
        out[n] = (hex_val(t[i])? << 4) | hex_val(t[i + 1])?;
        n += 1;
        i += 2;
    }
    Some(out)
}

/// Writes `raw` into `out` with every UUID that follows a `--` (STIX ids) in binary; false when there was none.
fn squeeze_uuids(raw: &[u8], out: &mut Vec<u8>) -> bool {
    // Built once: building a searcher per call was a visible share of packing a bulk list's small objects.
    static DASHES: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"--"));
    let mut from = 0;
    for at in DASHES.find_iter(raw) {
        let start = at + 2;
        if start < from {
            continue;
        }
        let Some(bytes) = raw.get(start..).and_then(uuid_bytes) else {
            continue;
        };
        out.extend_from_slice(&raw[from..start]);
        out.push(UUID_MARK);
        out.extend_from_slice(&bytes);
        from = start + UUID_TEXT;
    }
    if from == 0 {
        return false;
    }
    out.extend_from_slice(&raw[from..]);
    true
}

/// The text of a tag-2 body: each mark and its 16 bytes back to a UUID text.
fn unsqueeze(body: &[u8]) -> Result<Vec<u8>, UnpackError> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(body.len() + 4 * (UUID_TEXT - 17));
    let mut rest = body;
    while let Some(at) = memchr::memchr(UUID_MARK, rest) {
        out.extend_from_slice(&rest[..at]);
        let bytes = rest
            .get(at + 1..at + 17)
            .ok_or_else(|| UnpackError::Damaged("a UUID cut short".into()))?;
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out.push(b'-');
            }
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 15)]);
        }
        rest = &rest[at + 17..];
    }
    out.extend_from_slice(rest);
    Ok(out)
}

/// The JSON text of a packed value.
pub fn unpack(packed: &[u8]) -> Result<String, UnpackError> {
    let (&tag, body) = packed.split_first().ok_or(UnpackError::Empty)?;
    match tag {
        TAG_LZ4_V1 | TAG_LZ4_V1_UUID => {}
        TAG_PLAIN => return text(body.to_vec()),
        _ => return Err(UnpackError::UnknownTag(tag)),
    }
    let (len, block) = body
        .split_first_chunk::<4>()
        .ok_or_else(|| UnpackError::Damaged("no length".into()))?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > MAX_DECODED {
        return Err(UnpackError::Damaged(format!("length {len} out of range")));
    }
    // LZ4 expands at most ~255x: a length that the block cannot reach is damage, caught before allocating it.
    if len > block.len().saturating_mul(256) + 16 {
        return Err(UnpackError::Damaged(format!(
            "length {len} for a {}-byte block",
            block.len()
        )));
    }
    let mut out = vec![0u8; len];
    let n = lz4_flex::block::decompress_into_with_dict(block, &mut out, DICT_V1)
        .map_err(|e| UnpackError::Damaged(e.to_string()))?;
    if n != len {
        return Err(UnpackError::Damaged(format!(
            "decoded {n} bytes, expected {len}"
        )));
    }
    if tag == TAG_LZ4_V1_UUID {
        out = unsqueeze(&out)?;
    }
    text(out)
}

fn text(bytes: Vec<u8>) -> Result<String, UnpackError> {
    String::from_utf8(bytes).map_err(|e| UnpackError::NotUtf8(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_dictionary_never_changes() {
        // Rows on disk depend on these bytes; a new dictionary needs a new tag, not an edit.
        assert_eq!(DICT_V1.len(), 1294);
        assert_eq!(
            crate::prepared::h64(std::str::from_utf8(DICT_V1).unwrap_or("")),
            -1665741756161896458
        );
    }

    #[test]
    fn a_bulk_list_row_packs_to_under_half() {
        let json = r#"{"type":"indicator","spec_version":"2.1","id":"indicator--5ed81d15-acf8-5c72-99e3-b18d6d94b8a5","created":"2026-11-30T09:55:07.006Z","modified":"2026-11-30T09:55:07.006Z","name":"cheerines.za.com","indicator_types":["malicious-activity"],"pattern":"[domain-name:value = 'cheerines.za.com']","pattern_type":"stix","valid_from":"2026-11-30T09:55:07.006Z"}"#;
        let p = pack(json);
        assert!(p.len() * 2 < json.len(), "{} of {}", p.len(), json.len());
        assert_eq!(unpack(&p).as_deref(), Ok(json));
    }

    #[test]
    fn what_packing_would_not_shrink_is_kept_plain() {
        for s in ["", "{}", "x"] {
            let p = pack(s);
            assert_eq!(p[0], TAG_PLAIN);
            assert_eq!(unpack(&p).as_deref(), Ok(s));
        }
        assert!(matches!(
            unpack(&[TAG_PLAIN, 0xff]),
            Err(UnpackError::NotUtf8(_))
        ));
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let p = pack(r#"{"type":"tool","spec_version":"2.1","id":"tool--1","name":"x"}"#);
        assert_eq!(unpack(&[]), Err(UnpackError::Empty));
        assert_eq!(unpack(&[9, 1, 2]), Err(UnpackError::UnknownTag(9)));
        assert!(matches!(unpack(&p[..3]), Err(UnpackError::Damaged(_))));
        for cut in 5..p.len() {
            assert!(unpack(&p[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = p.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(unpack(&huge), Err(UnpackError::Damaged(_))));
    }

    #[test]
    fn stix_ids_are_stored_in_binary() {
        let json = r#"{"type":"relationship","spec_version":"2.1","id":"relationship--ec271ad1-d46b-5795-8eb8-be8ed49bc7fb","created":"2026-11-30T13:03:30.182Z","modified":"2026-11-30T13:03:30.182Z","relationship_type":"indicates","source_ref":"indicator--0a9a6edf-2bd5-58c8-af4d-aeaa5208c44d","target_ref":"malware--1a5365fc-767a-5c29-a264-8ab152b7e401"}"#;
        let p = pack(json);
        assert_eq!(p[0], TAG_LZ4_V1_UUID);
        assert_eq!(unpack(&p).as_deref(), Ok(json));
        // what tag 1 made of it, less the 3 x 19 bytes the binary ids save at least
        let v1 = lz4(TAG_LZ4_V1, json.as_bytes(), json.len()).unwrap_or_default();
        assert!(p.len() + 57 <= v1.len(), "{} vs {}", p.len(), v1.len());
        // upper-case, short, or broken ids stay text and still round-trip
        for s in [
            r#"{"id":"tool--EC271AD1-D46B-5795-8EB8-BE8ED49BC7FB"}"#,
            r#"{"id":"tool--ec271ad1-d46b-5795-8eb8-be8ed49bc7f"}"#,
            r#"{"id":"tool--ec271ad1xd46b-5795-8eb8-be8ed49bc7fb","x":"----"}"#,
            "a\u{1}b--ec271ad1-d46b-5795-8eb8-be8ed49bc7fb--ec271ad1-d46b-5795-8eb8-be8ed49bc7fb--",
        ] {
            assert_eq!(unpack(&pack(s)).as_deref(), Ok(s));
        }
        // a mark whose 16 bytes are cut off is damage
        assert!(matches!(
            unsqueeze(&[b'a', UUID_MARK, 1, 2]),
            Err(UnpackError::Damaged(_))
        ));
    }

    /// What `lz4_flex` made of a text against the dictionary (the encoder used before this one).
    fn reference_size(text: &[u8]) -> usize {
        let mut out = vec![0u8; lz4_flex::block::get_maximum_output_size(text.len())];
        lz4_flex::block::compress_into_with_dict(text, &mut out, DICT_V1).unwrap_or(usize::MAX)
    }

    #[test]
    fn the_encoder_packs_stix_as_tightly_as_lz4_flex() {
        let dict = std::str::from_utf8(DICT_V1).unwrap_or_default();
        let texts = [
            r#"{"type":"indicator","spec_version":"2.1","id":"indicator--5ed81d15-acf8-5c72-99e3-b18d6d94b8a5","created":"2026-11-30T09:55:07.006Z","modified":"2026-11-30T09:55:07.006Z","name":"cheerines.za.com","indicator_types":["malicious-activity"],"pattern":"[domain-name:value = 'cheerines.za.com']","pattern_type":"stix","valid_from":"2026-11-30T09:55:07.006Z"}"#.to_string(),
            r#"{"type":"malware","spec_version":"2.1","id":"malware--1a5365fc-767a-5c29-a264-8ab152b7e401","name":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","is_family":true}"#.to_string(),
            format!("{dict}{dict}"),
            "x".repeat(70_000),
            // within what Vigil's own encoder takes: a run, and a piece of the dictionary twice
            "y".repeat(500),
            format!("{}{}", &dict[100..300], &dict[100..300]),
        ];
        for t in &texts {
            assert_eq!(unpack(&pack(t)).as_deref(), Ok(t.as_str()));
            let ours = lz4(TAG_LZ4_V1, t.as_bytes(), t.len()).map_or(usize::MAX, |p| p.len() - 5);
            let theirs = reference_size(t.as_bytes());
            assert!(ours <= theirs + theirs / 20, "{ours} vs {theirs}");
        }
    }

    /// Pieces of the dictionary (start, length, repeats) glued together.
    fn glued(pieces: &[(usize, usize, usize)]) -> String {
        let dict = std::str::from_utf8(DICT_V1).unwrap_or_default();
        let mut s = String::new();
        for &(from, len, repeat) in pieces {
            let to = (from + len).min(dict.len());
            for _ in 0..=repeat {
                s.push_str(dict.get(from..to).unwrap_or("?"));
            }
        }
        s
    }

    proptest! {
        /// Texts cut from the dictionary and glued together: matches into it, across its end, and long ones.
        #[test]
        fn dictionary_pieces_round_trip(pieces in proptest::collection::vec((0usize..1294, 0usize..400, 0usize..3), 0..12)) {
            let s = glued(&pieces);
            prop_assert_eq!(unpack(&pack(&s)), Ok(s));
        }

        /// The same, cut to the length Vigil's own encoder takes (longer texts go to `lz4_flex`).
        #[test]
        fn short_dictionary_pieces_round_trip(pieces in proptest::collection::vec((0usize..1294, 0usize..120, 0usize..3), 0..8), cut in 0usize..=512) {
            let mut s = glued(&pieces);
            s.truncate(cut.min(s.len()));
            prop_assert!(encode::fits(s.as_bytes()));
            prop_assert_eq!(unpack(&pack(&s)), Ok(s));
        }

        #[test]
        fn round_trip(s in ".{0,2000}") {
            prop_assert_eq!(unpack(&pack(&s)), Ok(s));
        }

        #[test]
        fn ids_round_trip(parts in proptest::collection::vec(("[a-z\\-\"{}:,\\x01]{0,12}", proptest::option::of("[0-9a-fA-F]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")), 0..8)) {
            let mut s = String::new();
            for (text, id) in parts {
                s.push_str(&text);
                if let Some(id) = id {
                    s.push_str("--");
                    s.push_str(&id);
                }
            }
            prop_assert_eq!(unpack(&pack(&s)), Ok(s));
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut b = b;
            for tag in [TAG_LZ4_V1, TAG_LZ4_V1_UUID] {
                if let Some(t) = b.first_mut() { *t = tag; }
                let _ = unpack(&b);
            }
        }
    }
}
