//! The input layer's UTF-16 detection and transcoding on arbitrary bytes: never a panic, and what comes out of a
//! transcoded input is UTF-8.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    // Judged on the start the input layer reads, as it judges.
    let head = &data[..data.len().min(vigil_formats::input::UTF16_HEAD)];
    let detected = vigil_model::encoding::detect_utf16(head).is_some();
    let Ok(mut r) = vigil_formats::input::utf16_as_utf8(Box::new(data)) else {
        return;
    };
    let mut out = Vec::new();
    if r.read_to_end(&mut out).is_ok() && detected {
        assert!(std::str::from_utf8(&out).is_ok());
    }
});
