//! Advisory readers (KEV, EPSS, CVE 5, OSV, RustSec, CSAF), sniffing included, on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vigil_vuln::advisory::sniff("fuzz.json", data);
    let _ = vigil_vuln::read_advisories("fuzz", data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vigil_vuln::advisory::read_epss("fuzz.csv", text);
        let _ = vigil_vuln::advisory::read_rustsec("fuzz.md", text);
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = vigil_vuln::advisory::read_osv("fuzz", &v);
        let _ = vigil_vuln::advisory::read_cve5("fuzz", &v);
        let _ = vigil_vuln::advisory::read_csaf("fuzz", &v);
    }
});
