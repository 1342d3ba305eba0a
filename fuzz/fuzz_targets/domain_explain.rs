//! Domain scoring and its explanation on arbitrary names (the names in an agency's logs are untrusted): never a
//! panic, a score in [0, 1], and the explanation's score is the score.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static MODEL: OnceLock<Option<vigil_ml::domain::DomainModel>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some(m) = MODEL
        .get_or_init(|| vigil_ml::domain::DomainModel::embedded().ok())
        .as_ref()
    else {
        return;
    };
    let name = String::from_utf8_lossy(data);
    let s = m.score(&name);
    assert!((0.0..=1.0).contains(&s), "{name:?} scored {s}");
    let e = m.explain(&name);
    assert_eq!(e.score, s, "{name:?}");
    assert!(e.evidence.iter().all(|x| x.weight.is_finite()), "{name:?}");
});
