//! Validity checks for extracted values: top-level domains (public suffix list), Bitcoin address checksums,
//! and the built-in lists of values that are not indicators (example domains, reference sites, empty-file hashes).

use sha2::{Digest, Sha256};

/// True when `tld` (lower-case ASCII, no dot) is a top-level domain of the public suffix list.
pub fn known_tld(tld: &str) -> bool {
    if tld.is_empty() || tld.len() > 63 {
        return false;
    }
    let mut probe = Vec::with_capacity(tld.len() + 2);
    probe.extend_from_slice(b"x.");
    probe.extend_from_slice(tld.as_bytes());
    psl::suffix(&probe).is_some_and(|s| s.is_known())
}

/// True when the lower-case ASCII host has a registrable part under a known public suffix.
pub fn registrable(host: &str) -> bool {
    match psl::suffix(host.as_bytes()) {
        Some(s) if s.is_known() => s.as_bytes().len() < host.len(),
        _ => false,
    }
}

/// The registrable domain (eTLD+1) of a lower-case host, or the host itself.
pub(crate) fn registered_domain(host: &str) -> &str {
    match psl::domain(host.as_bytes()) {
        Some(d) => &host[host.len() - d.as_bytes().len()..],
        None => host,
    }
}

/// Documentation and test names (RFC 2606, RFC 6761): never indicators.
pub(crate) fn is_example_domain(host: &str) -> bool {
    let reg = registered_domain(host);
    matches!(
        reg,
        "example.com" | "example.net" | "example.org" | "example.edu"
    ) || [
        ".example",
        ".test",
        ".invalid",
        ".localhost",
        ".local",
        ".lan",
        ".internal",
    ]
    .iter()
    .any(|s| host.ends_with(s))
}

/// Sites that reports cite as references (vendors, ATT&CK, CVE, social networks). A mention that is not
/// defanged is a reference, not an indicator.
const REFERENCE_DOMAINS: &[&str] = &[
    "welivesecurity.com",
    "eset.com",
    "mitre.org",
    "nist.gov",
    "cisa.gov",
    "virustotal.com",
    "twitter.com",
    "x.com",
    "linkedin.com",
    "facebook.com",
    "youtube.com",
    "microsoft.com",
    "wikipedia.org",
    "w3.org",
    "schema.org",
    "securelist.com",
    "kaspersky.com",
    "symantec.com",
    "broadcom.com",
    "crowdstrike.com",
    "mandiant.com",
    "fireeye.com",
    "paloaltonetworks.com",
    "trendmicro.com",
    "talosintelligence.com",
    "cisco.com",
    "proofpoint.com",
    "sophos.com",
    "checkpoint.com",
    "fortinet.com",
    "bleepingcomputer.com",
    "zdnet.com",
    "misp-project.org",
    "circl.lu",
    "cert.europa.eu",
    "enisa.europa.eu",
    "google.com",
    "apple.com",
    "malpedia.caad.fkie.fraunhofer.de",
    "fraunhofer.de",
    "abuse.ch",
    "any.run",
    "hybrid-analysis.com",
];

pub(crate) fn is_reference_domain(host: &str) -> bool {
    let reg = registered_domain(host);
    REFERENCE_DOMAINS.contains(&reg)
        || REFERENCE_DOMAINS
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// Hashes of the empty input, which every sandbox report lists and no one should alert on.
pub(crate) fn is_benign_hash(h: &str) -> bool {
    matches!(
        h,
        "d41d8cd98f00b204e9800998ecf8427e"
            | "da39a3ee5e6b4b0d3255bfef95601890afd80709"
            | "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            | "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
    ) || h.bytes().all(|b| b == h.as_bytes()[0])
}

const B58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn base58_decode(s: &str) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(32);
    for c in s.bytes() {
        let mut carry = B58.iter().position(|&x| x == c)? as u32;
        for b in out.iter_mut().rev() {
            carry += (*b as u32) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            out.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = s.bytes().take_while(|&c| c == b'1').count();
    let mut v = vec![0u8; zeros];
    v.extend(out);
    Some(v)
}

fn bech32_polymod(values: &[u8]) -> u32 {
    const G: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    let mut chk: u32 = 1;
    for v in values {
        let b = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ (*v as u32);
        for (i, g) in G.iter().enumerate() {
            if (b >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// True for a Bitcoin mainnet address with a valid checksum: base58check P2PKH/P2SH (`1...`, `3...`) or
/// bech32/bech32m segwit (`bc1...`).
pub fn is_valid_btc(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if let Some(data_part) = lower.strip_prefix("bc1") {
        if s != lower && s != s.to_ascii_uppercase() {
            return false; // mixed case is invalid bech32
        }
        if !(14..=74).contains(&lower.len()) {
            return false;
        }
        const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
        let data: Option<Vec<u8>> = data_part
            .bytes()
            .map(|c| CHARSET.iter().position(|&x| x == c).map(|p| p as u8))
            .collect();
        let Some(data) = data else { return false };
        let mut v: Vec<u8> = b"bc".iter().map(|c| c >> 5).collect();
        v.push(0);
        v.extend(b"bc".iter().map(|c| c & 31));
        v.extend(&data);
        let pm = bech32_polymod(&v);
        let witver = data.first().copied().unwrap_or(255);
        return (pm == 1 && witver == 0) || (pm == 0x2bc830a3 && (1..=16).contains(&witver));
    }
    if !(26..=35).contains(&s.len()) || !(s.starts_with('1') || s.starts_with('3')) {
        return false;
    }
    let Some(raw) = base58_decode(s) else {
        return false;
    };
    if raw.len() != 25 || !(raw[0] == 0 || raw[0] == 5) {
        return false;
    }
    let h = Sha256::digest(Sha256::digest(&raw[..21]));
    h[..4] == raw[21..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlds() {
        assert!(known_tld("com"));
        assert!(known_tld("ru"));
        assert!(known_tld("xyz"));
        assert!(!known_tld("exe"));
        assert!(!known_tld("dll"));
        assert!(registrable("evil.co.uk"));
        assert!(!registrable("co.uk"));
        assert!(!registrable("file.exe"));
        assert_eq!(registered_domain("a.b.evil.co.uk"), "evil.co.uk");
    }

    #[test]
    fn btc() {
        assert!(is_valid_btc("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"));
        assert!(is_valid_btc("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"));
        assert!(is_valid_btc("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"));
        assert!(is_valid_btc(
            "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297"
        ));
        assert!(!is_valid_btc("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"));
        assert!(!is_valid_btc("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr"));
    }

    #[test]
    fn lists() {
        assert!(is_example_domain("www.example.com"));
        assert!(is_example_domain("foo.test"));
        assert!(!is_example_domain("examples.com"));
        assert!(is_reference_domain("www.welivesecurity.com"));
        assert!(is_reference_domain("attack.mitre.org"));
        assert!(is_benign_hash("d41d8cd98f00b204e9800998ecf8427e"));
    }
}
