//! IOC extraction from report text (HTML, Markdown, plain, defanged) on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vigil_ml::extract::extract(data);
});
