//! What a CSAF provider serves beside its documents, on arbitrary bytes: hash files, OpenPGP certificates and
//! detached signatures (the latter two parsed by rpgp), ROLIE entries' links, and aggregators' lists.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_feeds::csaf_integrity::{
    absolute_links, check_hash, companions, parse_fingerprint, HashAlgo, ProviderKeys,
};

/// A real provider certificate, so that signatures are also checked against a key, not only parsed.
const KEY: &[u8] = include_bytes!("../../crates/feeds/tests/fixtures/csaf-signed/provider.asc");
const DOC: &[u8] = include_bytes!("../../crates/feeds/tests/fixtures/csaf-signed/doc.json");
const SIG: &[u8] = include_bytes!("../../crates/feeds/tests/fixtures/csaf-signed/doc.json.asc");

fuzz_target!(|data: &[u8]| {
    let _ = check_hash(HashAlgo::Sha512, DOC, data, "fuzz.sha512");
    let _ = check_hash(HashAlgo::Sha256, data, data, "fuzz.sha256");
    let mut keys = ProviderKeys::default();
    // A certificate from the input (its self-signatures, revocations, expiry and subkeys read), then used.
    if keys.add(data, None, "fuzz.asc").is_ok() {
        let _ = keys.verify(DOC, SIG, "doc.json.asc");
        let _ = keys.restrict(&keys.fingerprints());
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_fingerprint(s);
    }
    let mut real = ProviderKeys::default();
    if real.add(KEY, None, "provider.asc").is_ok() {
        let _ = real.verify(DOC, data, "fuzz.asc");
        let _ = real.verify(data, data, "fuzz.asc");
    }
    if let Ok(at) = url::Url::parse("https://cert.example/.well-known/csaf-aggregator/aggregator.json") {
        if let Ok(a) = vigil_feeds::csaf_aggregator::read_aggregator(data, &at) {
            let taken = std::collections::HashSet::new();
            for p in &a.providers {
                let name = vigil_feeds::csaf_aggregator::feed_name("csaf-", p, &taken);
                assert!(!name.is_empty() && name.len() <= 64);
            }
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let (Ok(feed), Ok(doc)) = (
            url::Url::parse("https://p.example/white/feed.json"),
            url::Url::parse("https://p.example/white/2024/a.json"),
        ) {
            let _ = companions(&doc, Some(&absolute_links(&v, &feed)));
        }
    }
});
