//! The STIX pattern grammar and observable detection/normalisation on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = vigil_model::pattern::Pattern::parse(s) {
        let _ = p.simple_equalities();
    }
    if let Some(o) = vigil_model::Observable::detect(s) {
        let _ = o.to_pattern();
        let _ = o.indicator_id();
    }
});
