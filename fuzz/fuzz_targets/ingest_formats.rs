//! Every `vigil ingest` reader (STIX, MISP event, galaxy, warning list, IOC list) on arbitrary bytes: the first
//! byte picks the reader, the rest is the input. Readers may reject; they must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_formats::{Format, ParseCtx};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let format = match sel % 6 {
        0 => Format::Stix,
        1 => Format::Misp,
        2 => Format::Galaxy,
        3 => Format::WarningList,
        4 => Format::Iocs,
        _ => match vigil_formats::detect("fuzz", body) {
            Some(f) if f != Format::MispFeed => f,
            _ => return,
        },
    };
    let ctx = ParseCtx {
        source: "fuzz".into(),
        file: "fuzz".into(),
        confidence: None,
        now: "2026-11-29T00:00:00.000Z".into(),
    };
    let mut r = std::io::BufReader::new(body);
    let _ = vigil_formats::parse(format, &mut r, &ctx, &mut |_item| Ok(()));
});
