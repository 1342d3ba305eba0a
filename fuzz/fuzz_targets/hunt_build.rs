//! Building an indicator set from arbitrary STIX patterns, one per line, as `vigil hunt` and `vigil snapshot`
//! compile a store's indicators: every pattern is added or refused with a reason, never a panic; a refused one
//! leaves the builder as it was; an `OR` keeps its valid values; the built set round-trips through a snapshot.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_hunt::{snapshot, IndicatorInput, IndicatorSetBuilder, IndicatorSource};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut b = IndicatorSetBuilder::new();
    for (i, line) in text.lines().take(64).enumerate() {
        let mut input = IndicatorInput::new(
            format!("indicator--{i}"),
            IndicatorSource::Pattern(line.to_string()),
        );
        input.subdomains = i % 2 == 0;
        let before = b.len();
        match b.add_reporting(&input) {
            Ok(a) => assert_eq!(a.index as usize, before, "{line}"),
            Err(e) => {
                assert_eq!(
                    b.len(),
                    before,
                    "a refused pattern changed the builder: {line}"
                );
                assert!(!e.to_string().is_empty());
            }
        }
    }
    let n = b.len();
    let set = b.build().expect("a set of accepted indicators builds");
    assert_eq!(set.len(), n);
    let mut bytes = Vec::new();
    snapshot::write_to(&set, &mut bytes).expect("writes to memory");
    let back = snapshot::read_from(&bytes[..], bytes.len() as u64, "fuzz")
        .expect("its own snapshot reads back");
    assert_eq!(back.len(), n);
    for i in 0..n as u32 {
        assert_eq!(back.id(i), set.id(i));
    }
});
