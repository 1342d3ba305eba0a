//! A binary Windows event log (`.evtx`) as the hunt reads it: the `evtx` crate's rendering of its records on the
//! reader's thread, then each JSON line through the event parser. Seeded with the hunt crate's fixture
//! (`crates/hunt/tests/fixtures/sysmon.evtx`); run with `-max_len=70000` (a header and one 64 KiB chunk).
#![no_main]
use std::io::Read;

use libfuzzer_sys::fuzz_target;
use vigil_hunt::logs::{evtx_lines, Format, Parser, Record};

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = evtx_lines(data.to_vec()) else {
        return;
    };
    let mut text = Vec::new();
    if r.read_to_end(&mut text).is_err() {
        return;
    }
    let parser = Parser::new(&Format::Evtx);
    let mut rec = Record::default();
    for line in text.split(|&b| b == b'\n') {
        if parser.parse(line, &mut rec).is_ok() {
            let _ = parser.timestamp(line, &rec);
            let _ = parser.fields(line, &rec).count();
        }
    }
});
