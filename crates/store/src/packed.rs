//! The stored form of an object's JSON: LZ4 with a fixed dictionary of STIX boilerplate.
//!
//! A bulk list row is ~350 bytes of JSON of which only the id, the value and a timestamp vary: packed against a
//! dictionary that holds the rest, it is ~85 bytes. The database, its WAL, and the checkpoint that copies one into
//! the other all shrink by about half, and that copying was the largest single cost of a 1M-line ingest.
//!
//! Layout: one tag byte (the codec and dictionary), then an LZ4 block with its decoded length prepended (u32 LE).
//! Rows written before packing existed hold their JSON as TEXT; readers accept both (see [`unpack`]). A tag names its
//! dictionary forever: a better dictionary gets a new tag, and [`unpack`] keeps reading the old ones.

use thiserror::Error;

/// Tag 0: the JSON as it is (for a value that packing would not shrink).
const TAG_PLAIN: u8 = 0;
/// Tag 1: LZ4 block against [`DICT_V1`].
const TAG_LZ4_V1: u8 = 1;

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
    if raw.len() <= MAX_DECODED {
        // One allocation, compressed in place: the parsing thread of a bulk ingest packs two objects per line.
        let mut out = vec![0u8; 5 + lz4_flex::block::get_maximum_output_size(raw.len())];
        out[0] = TAG_LZ4_V1;
        out[1..5].copy_from_slice(&(raw.len() as u32).to_le_bytes());
        if let Ok(n) = lz4_flex::block::compress_into_with_dict(raw, &mut out[5..], DICT_V1) {
            if 5 + n < 1 + raw.len() {
                out.truncate(5 + n);
                return out;
            }
        }
    }
    let mut out = Vec::with_capacity(1 + raw.len());
    out.push(TAG_PLAIN);
    out.extend_from_slice(raw);
    out
}

/// The JSON text of a packed value.
pub fn unpack(packed: &[u8]) -> Result<String, UnpackError> {
    let (&tag, body) = packed.split_first().ok_or(UnpackError::Empty)?;
    match tag {
        TAG_LZ4_V1 => {}
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

    proptest! {
        #[test]
        fn round_trip(s in ".{0,2000}") {
            prop_assert_eq!(unpack(&pack(&s)), Ok(s));
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut b = b;
            if let Some(t) = b.first_mut() { *t = TAG_LZ4_V1; }
            let _ = unpack(&b);
        }
    }
}
