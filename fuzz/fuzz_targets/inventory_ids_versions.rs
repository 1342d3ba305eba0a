//! Inventories (CycloneDX, SPDX, purl and CPE lists, CSV), package URLs, CPE names and every version scheme.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vigil_vuln::read_inventory("fuzz", data);
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = vigil_vuln::Purl::parse(s);
    let _ = vigil_vuln::Cpe::parse(s);
    let (a, b) = s.split_once('|').unwrap_or((s, "0"));
    for scheme in vigil_vuln::Scheme::ALL {
        if let (Ok(x), Ok(y)) = (scheme.parse(a), scheme.parse(b)) {
            // Orders must be total and antisymmetric.
            assert_eq!(x.cmp(&y), y.cmp(&x).reverse());
        }
    }
});
