//! IOC extraction from report text (HTML, Markdown, plain, defanged, UTF-16, legacy encodings) on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_ml::extract::{Encoding, LegacyText};

fuzz_target!(|data: &[u8]| {
    let e = vigil_ml::extract::extract(data);
    for i in &e.indicators {
        assert!((i.offset as usize) < data.len(), "offset {} past the input", i.offset);
    }
    // The rest of the bytes as any of the legacy encodings the detector guesses most: text offsets map into the
    // input, in order.
    if let Some((&k, rest)) = data.split_first() {
        let labels: [&[u8]; 6] = [b"gbk", b"shift_jis", b"windows-1252", b"euc-kr", b"big5", b"euc-jp"];
        let Some(enc) = Encoding::for_label(labels[usize::from(k) % labels.len()]) else {
            return;
        };
        let t = LegacyText::decode(rest, enc);
        let mut last = 0;
        for (at, _) in t.text.char_indices() {
            let s = t.source_offset(at as u64);
            assert!(s >= last && s <= rest.len() as u64, "{s} after {last}");
            last = s;
        }
    }
});
