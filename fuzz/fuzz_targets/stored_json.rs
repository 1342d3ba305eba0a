//! The store's packed JSON reader (`vigil_store::packed::unpack`): a damaged database file must give an error for
//! the row, never a panic or a huge allocation. Also checks that packing round-trips any text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vigil_store::packed::unpack(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let packed = vigil_store::packed::pack(text);
        assert_eq!(vigil_store::packed::unpack(&packed).as_deref(), Ok(text));
    }
});
