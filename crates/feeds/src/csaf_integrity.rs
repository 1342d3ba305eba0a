//! Integrity of CSAF documents fetched from a provider (CSAF 2.0 section 7.1, requirements 18 and 19): each
//! document's hash file (`.sha512` or `.sha256`) and detached OpenPGP signature (`.asc`), checked against the
//! public keys the provider's `provider-metadata.json` names (`public_openpgp_keys`), each fetched and held to the
//! fingerprint the metadata gives.
//!
//! A document whose hash differs or whose signature does not verify is refused: it was altered after the provider
//! published it, or is not the provider's. One that comes without a hash or signature is taken (many providers
//! publish neither) and said to be unchecked, unless the caller requires signatures.

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::types::KeyDetails;
use serde_json::Value;
use sha2::Digest;
use url::Url;

/// Why a document or a provider key was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IntegrityError {
    #[error(
        "{algo} hash mismatch: the hash file says {expected}, the document hashes to {actual}"
    )]
    HashMismatch {
        algo: &'static str,
        expected: String,
        actual: String,
    },
    #[error("hash file {url}: {reason}")]
    HashFile { url: String, reason: String },
    #[error("OpenPGP signature {url}: {reason}")]
    BadSignature { url: String, reason: String },
    #[error("no OpenPGP signature could be checked ({reason}), and signatures are required")]
    Unsigned { reason: String },
    #[error("OpenPGP key {url}: {reason}")]
    Key { url: String, reason: String },
}

/// A hash algorithm CSAF names for hash files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgo {
    Sha256,
    Sha512,
}

impl HashAlgo {
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }

    fn of_url(u: &Url) -> Option<HashAlgo> {
        let p = u.path().to_ascii_lowercase();
        if p.ends_with(".sha512") {
            Some(HashAlgo::Sha512)
        } else if p.ends_with(".sha256") {
            Some(HashAlgo::Sha256)
        } else {
            None
        }
    }

    fn digest_hex(self, data: &[u8]) -> String {
        let bytes: Vec<u8> = match self {
            HashAlgo::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlgo::Sha512 => sha2::Sha512::digest(data).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn hex_len(self) -> usize {
        match self {
            HashAlgo::Sha256 => 64,
            HashAlgo::Sha512 => 128,
        }
    }
}

/// Checks a document against the text of its hash file: `HEX  FILENAME` as `sha512sum` writes it (CSAF's form),
/// or the bare digest. The digest is compared case-insensitively.
pub fn check_hash(
    algo: HashAlgo,
    doc: &[u8],
    hash_file: &[u8],
    url: &str,
) -> Result<(), IntegrityError> {
    let bad = |reason: String| IntegrityError::HashFile {
        url: url.to_string(),
        reason,
    };
    let text = std::str::from_utf8(hash_file).map_err(|_| bad("not UTF-8 text".into()))?;
    let first = text
        .split_whitespace()
        .next()
        .ok_or_else(|| bad("empty".into()))?;
    // `sha512sum --tag` writes `SHA512 (name) = HEX`.
    let expected = if first.eq_ignore_ascii_case(algo.name()) {
        text.rsplit('=').next().unwrap_or("").trim()
    } else {
        first.trim_start_matches('\\')
    }
    .to_ascii_lowercase();
    if expected.len() != algo.hex_len() || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
        let shown: String = expected.chars().take(40).collect();
        return Err(bad(format!(
            "`{shown}` is not a {} digest ({} hex digits)",
            algo.name(),
            algo.hex_len()
        )));
    }
    let actual = algo.digest_hex(doc);
    if actual != expected {
        return Err(IntegrityError::HashMismatch {
            algo: algo.name(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// A provider key: its fingerprint (upper-case hex, as CSAF writes it) and the certificate.
struct ProviderKey {
    fingerprint: String,
    cert: SignedPublicKey,
}

/// The provider's OpenPGP keys that passed their checks.
#[derive(Default)]
pub struct ProviderKeys {
    keys: Vec<ProviderKey>,
    /// The metadata lists keys: the provider signs, so every document must carry a signature that verifies (else an
    /// attacker could strip signatures), whether or not the keys could be fetched.
    listed: bool,
}

/// Upper-case hex without spaces or a `0x` prefix.
fn norm_fingerprint(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    s.trim_start_matches("0x")
        .trim_start_matches("0X")
        .to_ascii_uppercase()
}

impl ProviderKeys {
    /// The fingerprints of the keys held.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.fingerprint.clone()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Signatures are required of this provider's documents (its metadata lists keys).
    pub fn signatures_required(&self) -> bool {
        self.listed
    }

    /// Adds a certificate (armored or binary) fetched from `url`, refusing it when it does not parse, its
    /// self-signatures do not hold, or its fingerprint is not the one the metadata gives.
    pub fn add(
        &mut self,
        bytes: &[u8],
        expected: Option<&str>,
        url: &str,
    ) -> Result<String, IntegrityError> {
        let bad = |reason: String| IntegrityError::Key {
            url: url.to_string(),
            reason,
        };
        let (cert, _) = SignedPublicKey::from_reader_single(bytes)
            .map_err(|e| bad(format!("not an OpenPGP public key: {e}")))?;
        cert.verify_bindings()
            .map_err(|e| bad(format!("its self-signatures do not verify: {e}")))?;
        let fingerprint = format!("{:X}", cert.fingerprint());
        if let Some(exp) = expected.map(norm_fingerprint).filter(|e| !e.is_empty()) {
            if exp != fingerprint {
                return Err(bad(format!(
                    "fingerprint {fingerprint}, but the provider metadata names {exp}"
                )));
            }
        }
        if !self.keys.iter().any(|k| k.fingerprint == fingerprint) {
            self.keys.push(ProviderKey {
                fingerprint: fingerprint.clone(),
                cert,
            });
        }
        Ok(fingerprint)
    }

    /// Reads `public_openpgp_keys` of a provider's metadata and fetches each key (`fetch` returns the body). Keys
    /// that cannot be fetched or fail their checks are returned as errors beside the keys that passed.
    pub fn from_metadata(
        meta: &Value,
        base: &Url,
        fetch: &mut dyn FnMut(&Url) -> Result<Vec<u8>, String>,
    ) -> (ProviderKeys, Vec<IntegrityError>) {
        let listed = meta
            .get("public_openpgp_keys")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut keys = ProviderKeys {
            keys: Vec::new(),
            listed: !listed.is_empty(),
        };
        let mut errors = Vec::new();
        for k in listed {
            let fpr = k.get("fingerprint").and_then(Value::as_str);
            let Some(u) = k.get("url").and_then(Value::as_str) else {
                errors.push(IntegrityError::Key {
                    url: fpr.unwrap_or("?").to_string(),
                    reason: "listed without a url".into(),
                });
                continue;
            };
            let url = match base.join(u) {
                Ok(x) => x,
                Err(e) => {
                    errors.push(IntegrityError::Key {
                        url: u.to_string(),
                        reason: format!("not a URL: {e}"),
                    });
                    continue;
                }
            };
            let shown = crate::http::redact(&url);
            match fetch(&url) {
                Ok(bytes) => {
                    if let Err(e) = keys.add(&bytes, fpr, &shown) {
                        errors.push(e);
                    }
                }
                Err(reason) => errors.push(IntegrityError::Key { url: shown, reason }),
            }
        }
        (keys, errors)
    }

    /// Verifies a detached signature (armored or binary) of `doc` with the primary key or a subkey of any held
    /// key; returns the fingerprint of the certificate that made it.
    pub fn verify(&self, doc: &[u8], sig: &[u8], url: &str) -> Result<String, IntegrityError> {
        let bad = |reason: String| IntegrityError::BadSignature {
            url: url.to_string(),
            reason,
        };
        let (sig, _) = DetachedSignature::from_reader_single(sig)
            .map_err(|e| bad(format!("not an OpenPGP signature: {e}")))?;
        for k in &self.keys {
            if sig.verify(&k.cert, doc).is_ok() {
                return Ok(k.fingerprint.clone());
            }
            for sub in &k.cert.public_subkeys {
                // A subkey counts only with a valid binding to this certificate.
                if sub.verify_bindings(&k.cert.primary_key).is_ok() && sig.verify(sub, doc).is_ok()
                {
                    return Ok(k.fingerprint.clone());
                }
            }
        }
        let issuers: Vec<String> = sig
            .signature
            .issuer_fingerprint()
            .iter()
            .map(|f| format!("{f:X}"))
            .chain(sig.signature.issuer_key_id().iter().map(|k| {
                k.as_ref()
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<String>()
            }))
            .collect();
        let issuer = issuers.first().cloned().unwrap_or_else(|| "unnamed".into());
        Err(bad(if self.keys.is_empty() {
            format!("made by {issuer}; no usable provider key to check it with (the metadata lists none, or they could not be fetched or failed their checks)")
        } else {
            format!(
                "does not verify with the provider's key(s) {} (made by {issuer}): the document was altered or is not the provider's",
                self.fingerprints().join(", ")
            )
        }))
    }
}

/// Where a document's hash files and signature are: the links of its ROLIE entry (`rel` `hash` and `signature`)
/// when it has them, else the document's URL with `.sha512`, `.sha256` and `.asc` appended (CSAF 7.1.18-19).
#[derive(Debug, Clone, PartialEq)]
pub struct Companions {
    pub hashes: Vec<(HashAlgo, Url)>,
    pub signature: Option<Url>,
}

/// A ROLIE entry with its links' `href`s made absolute against the feed's URL (Atom resolves relative links from
/// the feed document, not from the CSAF document they sit beside).
pub fn absolute_links(entry: &Value, feed: &Url) -> Value {
    let mut e = entry.clone();
    if let Some(links) = e.get_mut("link").and_then(Value::as_array_mut) {
        for l in links {
            let abs = l
                .get("href")
                .and_then(Value::as_str)
                .and_then(|h| feed.join(h).ok());
            if let (Some(abs), Some(m)) = (abs, l.as_object_mut()) {
                m.insert("href".into(), Value::String(abs.to_string()));
            }
        }
    }
    e
}

/// `entry`'s links must be absolute (`absolute_links`); a relative one is taken from the document's URL.
pub fn companions(doc: &Url, entry: Option<&Value>) -> Companions {
    let mut hashes = Vec::new();
    let mut signature = None;
    let links = entry
        .and_then(|e| e.get("link"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for l in &links {
        let (Some(rel), Some(href)) = (
            l.get("rel").and_then(Value::as_str),
            l.get("href").and_then(Value::as_str),
        ) else {
            continue;
        };
        let Ok(u) = doc.join(href) else { continue };
        match rel {
            "hash" => {
                if let Some(a) = HashAlgo::of_url(&u) {
                    hashes.push((a, u));
                }
            }
            "signature" => signature = Some(u),
            _ => {}
        }
    }
    // The stronger hash first: one that matches is enough.
    hashes.sort_by_key(|(a, _)| *a != HashAlgo::Sha512);
    if hashes.is_empty() && signature.is_none() {
        let with = |ext: &str| Url::parse(&format!("{doc}{ext}")).ok();
        hashes.extend(with(".sha512").map(|u| (HashAlgo::Sha512, u)));
        hashes.extend(with(".sha256").map(|u| (HashAlgo::Sha256, u)));
        signature = with(".asc");
    }
    Companions { hashes, signature }
}

/// What a fetch of a companion file found.
pub enum Fetch {
    Body(Vec<u8>),
    /// 404 or 410: the provider does not publish it.
    Absent,
    Failed(String),
}

/// What was checked of a document that was accepted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checked {
    /// The hash that matched.
    pub hash: Option<HashAlgo>,
    /// The fingerprint of the provider key whose signature verified.
    pub signed_by: Option<String>,
    /// What could not be checked, and why (the document was still taken).
    pub unchecked: Vec<String>,
}

/// Fetches a document's hash file and signature and checks them. `Err` refuses the document. Signatures are
/// required when the caller says so or the provider lists keys (`ProviderKeys::signatures_required`).
pub fn check_document(
    doc_url: &Url,
    doc: &[u8],
    entry: Option<&Value>,
    keys: &ProviderKeys,
    require_signature: bool,
    fetch: &mut dyn FnMut(&Url) -> Fetch,
) -> Result<Checked, IntegrityError> {
    let require_signature = require_signature || keys.signatures_required();
    let c = companions(doc_url, entry);
    let mut out = Checked::default();
    let mut hash_notes = Vec::new();
    for (algo, u) in &c.hashes {
        let shown = crate::http::redact(u);
        match fetch(u) {
            Fetch::Body(b) => {
                check_hash(*algo, doc, &b, &shown)?;
                out.hash = Some(*algo);
                break;
            }
            Fetch::Absent => {}
            Fetch::Failed(e) => hash_notes.push(format!("hash file {shown}: {e}")),
        }
    }
    if out.hash.is_none() {
        if hash_notes.is_empty() {
            hash_notes.push("no hash file published".into());
        }
        out.unchecked.extend(hash_notes);
    }
    let why_unsigned = match &c.signature {
        None => Some("no signature published".to_string()),
        // Nothing to check it with: not a sign of tampering, but not a verified document either (and not fetched).
        Some(_) if keys.is_empty() && !require_signature => {
            Some("signature not checked: the provider metadata names no usable OpenPGP key".into())
        }
        Some(u) => {
            let shown = crate::http::redact(u);
            match fetch(u) {
                Fetch::Body(b) => {
                    out.signed_by = Some(keys.verify(doc, &b, &shown)?);
                    None
                }
                Fetch::Absent => Some(format!("no signature at {shown}")),
                Fetch::Failed(e) => Some(format!("signature {shown}: {e}")),
            }
        }
    };
    if let Some(reason) = why_unsigned {
        if require_signature {
            return Err(IntegrityError::Unsigned { reason });
        }
        out.unchecked.push(reason);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/csaf-signed")
            .join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn provider_keys() -> (ProviderKeys, String) {
        let mut keys = ProviderKeys::default();
        let fpr = String::from_utf8(fixture("provider.fpr")).unwrap();
        let got = keys
            .add(&fixture("provider.asc"), Some(fpr.trim()), "provider.asc")
            .unwrap();
        (keys, got)
    }

    #[test]
    fn hash_files_in_every_form() {
        let doc = b"{\"document\":{}}\n";
        let hex = HashAlgo::Sha512.digest_hex(doc);
        for form in [
            format!("{hex}  doc.json\n"),
            format!("{}  doc.json", hex.to_uppercase()),
            hex.clone(),
            format!("SHA512 (doc.json) = {hex}\n"),
        ] {
            assert_eq!(
                check_hash(HashAlgo::Sha512, doc, form.as_bytes(), "h"),
                Ok(()),
                "{form}"
            );
        }
        let e = check_hash(
            HashAlgo::Sha512,
            b"other",
            format!("{hex}  doc.json").as_bytes(),
            "h",
        );
        assert!(
            matches!(e, Err(IntegrityError::HashMismatch { .. })),
            "{e:?}"
        );
        // A SHA-256 digest in a .sha512 file, an empty file, binary garbage: refused with a reason.
        let short = HashAlgo::Sha256.digest_hex(doc);
        for bad in [short.as_bytes(), b"" as &[u8], &[0xff, 0xfe, 0x00]] {
            let e = check_hash(HashAlgo::Sha512, doc, bad, "h.sha512");
            assert!(matches!(e, Err(IntegrityError::HashFile { .. })), "{e:?}");
        }
    }

    /// Fixtures made by `scripts/make-csaf-signed-fixtures.sh` with GnuPG: a provider key whose signing subkey
    /// signed `doc.json` (armored and binary), and another key's signature of the same document.
    #[test]
    fn signatures_made_by_gnupg() {
        let (keys, fpr) = provider_keys();
        let doc = fixture("doc.json");
        assert_eq!(
            keys.verify(&doc, &fixture("doc.json.asc"), "a"),
            Ok(fpr.clone())
        );
        assert_eq!(
            keys.verify(&doc, &fixture("doc.json.sig"), "b"),
            Ok(fpr.clone())
        );
        // One byte changed.
        let mut altered = doc.clone();
        altered[10] ^= 1;
        let e = keys.verify(&altered, &fixture("doc.json.asc"), "a");
        assert!(
            matches!(&e, Err(IntegrityError::BadSignature { reason, .. }) if reason.contains("altered")),
            "{e:?}"
        );
        // Signed by a key the provider does not name.
        let e = keys.verify(&doc, &fixture("doc.json.other.asc"), "c");
        assert!(
            matches!(e, Err(IntegrityError::BadSignature { .. })),
            "{e:?}"
        );
        // Garbage and truncation.
        for bad in [
            b"not a signature".to_vec(),
            fixture("doc.json.asc")[..200].to_vec(),
        ] {
            let e = keys.verify(&doc, &bad, "d");
            assert!(
                matches!(e, Err(IntegrityError::BadSignature { .. })),
                "{e:?}"
            );
        }
    }

    #[test]
    fn a_key_must_have_the_fingerprint_the_metadata_names() {
        let mut keys = ProviderKeys::default();
        let e = keys.add(
            &fixture("provider.asc"),
            Some("0123 4567 89AB CDEF 0123 4567 89AB CDEF 0123 4567"),
            "k",
        );
        assert!(
            matches!(&e, Err(IntegrityError::Key { reason, .. }) if reason.contains("metadata names")),
            "{e:?}"
        );
        assert!(keys.is_empty());
        let e = keys.add(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n", None, "k");
        assert!(matches!(e, Err(IntegrityError::Key { .. })), "{e:?}");
        // Spaced, lower-case fingerprints as some metadata writes them.
        let fpr = String::from_utf8(fixture("provider.fpr"))
            .unwrap()
            .trim()
            .to_lowercase();
        let spaced: String = fpr
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(keys
            .add(&fixture("provider.asc"), Some(&spaced), "k")
            .is_ok());
    }

    #[test]
    fn companions_from_rolie_links_or_beside_the_document() -> Result<(), url::ParseError> {
        let doc = Url::parse("https://p.example/csaf/white/2024/a.json")?;
        let c = companions(&doc, None);
        assert_eq!(
            c.hashes[0].1.as_str(),
            "https://p.example/csaf/white/2024/a.json.sha512"
        );
        assert_eq!(c.hashes[1].0, HashAlgo::Sha256);
        assert_eq!(
            c.signature.map(|u| u.to_string()).as_deref(),
            Some("https://p.example/csaf/white/2024/a.json.asc")
        );
        let entry = serde_json::json!({"link": [
            {"rel": "self", "href": "a.json"},
            {"rel": "hash", "href": "a.json.sha256"},
            {"rel": "hash", "href": "https://mirror.example/a.json.sha512"},
            {"rel": "signature", "href": "a.json.asc"}
        ]});
        let c = companions(&doc, Some(&entry));
        assert_eq!(c.hashes.len(), 2);
        assert_eq!(c.hashes[0].0, HashAlgo::Sha512, "the stronger hash first");
        assert_eq!(
            c.hashes[1].1.as_str(),
            "https://p.example/csaf/white/2024/a.json.sha256"
        );
        Ok(())
    }

    #[test]
    fn check_document_policy() {
        let (keys, fpr) = provider_keys();
        let doc = fixture("doc.json");
        let url = Url::parse("https://p.example/a.json").unwrap();
        let sha = format!("{}  a.json\n", HashAlgo::Sha512.digest_hex(&doc));
        let asc = fixture("doc.json.asc");
        let serve = |hash: Option<&str>, sig: Option<&[u8]>| {
            let hash = hash.map(|h| h.as_bytes().to_vec());
            let sig = sig.map(<[u8]>::to_vec);
            move |u: &Url| -> Fetch {
                let p = u.path();
                let body = if p.ends_with(".sha512") {
                    hash.clone()
                } else if p.ends_with(".asc") {
                    sig.clone()
                } else {
                    None
                };
                body.map_or(Fetch::Absent, Fetch::Body)
            }
        };
        let ok = check_document(
            &url,
            &doc,
            None,
            &keys,
            true,
            &mut serve(Some(&sha), Some(&asc)),
        )
        .unwrap();
        assert_eq!(ok.hash, Some(HashAlgo::Sha512));
        assert_eq!(ok.signed_by, Some(fpr));
        assert!(ok.unchecked.is_empty(), "{:?}", ok.unchecked);
        // Neither published: taken, said to be unchecked; refused when signatures are required.
        let none = check_document(&url, &doc, None, &keys, false, &mut serve(None, None)).unwrap();
        assert_eq!((none.hash, none.signed_by.as_deref()), (None, None));
        assert_eq!(none.unchecked.len(), 2, "{:?}", none.unchecked);
        let e = check_document(&url, &doc, None, &keys, true, &mut serve(None, None));
        assert!(matches!(e, Err(IntegrityError::Unsigned { .. })), "{e:?}");
        // A hash that does not match refuses the document whatever the signature says.
        let wrong = format!("{}  a.json\n", HashAlgo::Sha512.digest_hex(b"x"));
        let e = check_document(
            &url,
            &doc,
            None,
            &keys,
            false,
            &mut serve(Some(&wrong), Some(&asc)),
        );
        assert!(
            matches!(e, Err(IntegrityError::HashMismatch { .. })),
            "{e:?}"
        );
        // A signature and no key to check it with: taken as unchecked, refused when required.
        let nokeys = ProviderKeys::default();
        let u = check_document(
            &url,
            &doc,
            None,
            &nokeys,
            false,
            &mut serve(Some(&sha), Some(&asc)),
        )
        .unwrap();
        assert!(
            u.unchecked
                .iter()
                .any(|n| n.contains("no usable OpenPGP key")),
            "{:?}",
            u.unchecked
        );
        let e = check_document(
            &url,
            &doc,
            None,
            &nokeys,
            true,
            &mut serve(Some(&sha), Some(&asc)),
        );
        assert!(
            matches!(e, Err(IntegrityError::BadSignature { .. })),
            "{e:?}"
        );
    }
}
