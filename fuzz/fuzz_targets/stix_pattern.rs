//! The STIX pattern grammar and observable detection/normalisation on arbitrary text. A detected value must
//! normalise to itself again and its pattern must parse back; a URL path's pattern must give back that very path
//! (the hunt tables and the exporters read paths out of stored patterns this way).
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_model::pattern::Pattern;
use vigil_model::{Observable, ObservableKind};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = Pattern::parse(s) {
        let _ = p.simple_equalities();
        let _ = p.url_paths();
    }
    if let Some(o) = Observable::detect(s) {
        // A stored value is read back (from an export, a peer, a pattern) and must name the same indicator.
        let again = Observable::new(o.kind, &o.value).expect("a normalised value re-parses");
        assert_eq!(again.value, o.value, "normalising twice changes a {:?}", o.kind);
        let pattern = o.to_pattern();
        let _ = o.indicator_id();
        let parsed = Pattern::parse(&pattern).expect("a detected value's pattern parses");
        if o.kind == ObservableKind::UrlPath {
            assert_eq!(parsed.url_paths(), Some(vec![o.value.clone()]), "{pattern}");
        }
    }
    if let Ok(o) = Observable::new(ObservableKind::UrlPath, s) {
        let again = Observable::new(ObservableKind::UrlPath, &o.value).expect("a normalised path re-parses");
        assert_eq!(again.value, o.value, "normalising a path twice changes it");
        let parsed = Pattern::parse(&o.to_pattern()).expect("a path's pattern parses");
        assert_eq!(parsed.url_paths(), Some(vec![o.value.clone()]));
    }
});
