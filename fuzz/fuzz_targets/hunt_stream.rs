//! A whole log input as `vigil hunt` reads it, on arbitrary bytes: decompression (gzip, zstd), UTF-16 detection
//! and transcoding, cutting into chunks of whole lines (lines past the limit dropped), format detection, parsing
//! and matching. The first byte picks how the rest is wrapped (as it is, gzipped, as UTF-16LE with or without a
//! byte-order mark, or UTF-16BE gzipped) and the chunk and line limits, so the fuzzer reaches every reader layer.
//! Never a panic; every sighting names a line that was counted; what is read is reported, not lost silently.
#![no_main]
use std::io::Write;

use libfuzzer_sys::fuzz_target;
use vigil_hunt::hunt::{hunt_collect, HuntOptions, LogSource};
use vigil_model::encoding::{encode_utf16, Utf16Order};

#[path = "shared/hunt_set.rs"]
mod hunt_set;
use hunt_set::set;

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(b);
    e.finish().unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    // UTF-16 wrappings take the body as text (lossily), as a Windows tool would have written it.
    let text = || String::from_utf8_lossy(body);
    let input = match sel % 6 {
        0 => body.to_vec(),
        1 => gzip(body),
        2 => encode_utf16(&text(), Utf16Order::Little, true),
        3 => encode_utf16(&text(), Utf16Order::Little, false),
        4 => gzip(&encode_utf16(&text(), Utf16Order::Big, false)),
        _ => zstd::encode_all(body, 1).unwrap_or_default(),
    };
    let opts = HuntOptions {
        threads: 1 + usize::from(sel >> 7),
        chunk_bytes: 64 << (sel >> 3 & 7),
        max_line: 32 << (sel >> 4 & 7),
        ..HuntOptions::default()
    };
    let Ok((hits, sum)) = hunt_collect(
        set(),
        vec![LogSource::reader("fuzz.log", std::io::Cursor::new(input))],
        &opts,
    ) else {
        return;
    };
    for h in &hits {
        assert!(h.line >= 1 && h.line <= sum.lines, "sighting on line {} of {}", h.line, sum.lines);
    }
    assert_eq!(sum.hits, hits.len() as u64);
});
