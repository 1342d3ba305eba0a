//! The input layer's legacy-encoding reader (`Utf8OrLegacy`) on arbitrary bytes read in arbitrary pieces: never a
//! panic; input it does not decode comes out byte for byte; input it decodes comes out as the bytes before the
//! switch, unchanged, then UTF-8, the same whatever the pieces.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|input: &[u8]| {
    let Some((&k, data)) = input.split_first() else {
        return;
    };
    let step = usize::from(k % 64) + 1;
    let read = usize::from(k / 64) * 17 + 1;
    let mut r =
        vigil_model::encoding::Utf8OrLegacy::new(vigil_model::encoding::InPieces(data, step));
    let note = r.note();
    let mut out = Vec::new();
    let mut buf = vec![0u8; read];
    loop {
        let n = r.read(&mut buf).expect("reading a slice never fails");
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    match note.get() {
        None => assert_eq!(out, data),
        Some(s) => {
            let at = usize::try_from(s.offset).expect("offset");
            assert_eq!(&out[..at], &data[..at]);
            assert!(std::str::from_utf8(&out[at..]).is_ok());
            // The same as one whole read.
            let mut whole = Vec::new();
            vigil_model::encoding::Utf8OrLegacy::new(data)
                .read_to_end(&mut whole)
                .expect("read");
            assert_eq!(out, whole);
        }
    }
});
