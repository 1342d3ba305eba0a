//! Integrity of CSAF documents fetched from a provider (CSAF 2.0 section 7.1, requirements 18 and 19): each
//! document's hash file (`.sha512` or `.sha256`) and detached OpenPGP signature (`.asc`), checked against the
//! public keys the provider's `provider-metadata.json` names (`public_openpgp_keys`), each fetched and held to the
//! fingerprint the metadata gives.
//!
//! A document whose hash differs or whose signature does not verify is refused: it was altered after the provider
//! published it, or is not the provider's. One that comes without a hash or signature is taken (many providers
//! publish neither) and said to be unchecked, unless the caller requires signatures.

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::packet::{RevocationCode, Signature, SignatureType, SubpacketData};
use pgp::types::{KeyDetails, Tag};
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

/// When a key stops being good for new signatures: it expired, or its owner retired it (a "soft" revocation:
/// superseded or retired, after which signatures made before stay good). Unix seconds.
#[derive(Debug, Clone, PartialEq)]
struct Limit {
    at: u32,
    why: &'static str,
}

impl Limit {
    /// The earlier of two limits.
    fn min(a: Option<Limit>, b: Option<Limit>) -> Option<Limit> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.at < a.at { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

/// A key that may have made a document's signature: the primary key, or a signing subkey bound to it.
#[derive(Debug, Clone)]
struct SignerKey {
    /// `None`: the primary key; else the index into the certificate's `public_subkeys`.
    subkey: Option<usize>,
    created: u32,
    limit: Option<Limit>,
    /// Revoked as compromised (or without a reason): every signature it made is refused, with this reason.
    revoked: Option<String>,
}

/// A provider key: its fingerprint (upper-case hex, as CSAF writes it), the certificate, and which of its keys
/// may sign and until when.
struct ProviderKey {
    fingerprint: String,
    cert: SignedPublicKey,
    signers: Vec<SignerKey>,
}

/// The provider's OpenPGP keys that passed their checks.
#[derive(Default)]
pub struct ProviderKeys {
    keys: Vec<ProviderKey>,
    /// The metadata lists keys (or the caller trusts some): the provider signs, so every document must carry a
    /// signature that verifies (else an attacker could strip signatures), whether or not the keys could be fetched.
    listed: bool,
}

/// Upper-case hex without spaces or a `0x` prefix.
fn norm_fingerprint(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    s.trim_start_matches("0x")
        .trim_start_matches("0X")
        .to_ascii_uppercase()
}

/// A fingerprint as an operator types it (spaces, `0x`, any case) in the form CSAF and Vigil write it: 40 (v4)
/// or 64 (v6) upper-case hex digits.
pub fn parse_fingerprint(s: &str) -> Result<String, String> {
    let f = norm_fingerprint(s);
    if (f.len() == 40 || f.len() == 64) && f.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(f)
    } else {
        Err(format!(
            "`{s}` is not an OpenPGP fingerprint (40 or 64 hex digits, as `gpg --fingerprint` prints them)"
        ))
    }
}

/// Fingerprints as typed (`--openpgp-key`, `openpgp_keys`, `--fingerprint`), each in the form `parse_fingerprint`
/// gives, without repeats.
pub fn parse_fingerprints(typed: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for t in typed {
        let f = parse_fingerprint(t)?;
        if !out.contains(&f) {
            out.push(f);
        }
    }
    Ok(out)
}

/// Now, as OpenPGP counts time (Unix seconds), for `ProviderKeys::notes`.
pub fn now_secs() -> u32 {
    u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(u32::MAX)
}

/// A Unix time as a reader wants it.
fn day(secs: u32) -> String {
    chrono::DateTime::from_timestamp(i64::from(secs), 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| secs.to_string())
}

/// The newest of some signatures, by creation time.
fn newest<'a>(sigs: impl Iterator<Item = &'a Signature>) -> Option<&'a Signature> {
    sigs.max_by_key(|s| s.created().map(|t| t.as_secs()).unwrap_or(0))
}

/// What a valid revocation signature means: `Err` for a hard revocation (compromised, or no reason given: no
/// signature of the key can be trusted, whenever it says it was made), `Ok(limit)` for a soft one.
fn revocation(sig: &Signature) -> Result<Limit, String> {
    let at = sig.created().map(|t| t.as_secs()).unwrap_or(0);
    let text = sig
        .revocation_reason_string()
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .filter(|t| !t.is_empty())
        .map(|t| format!(": \"{t}\""))
        .unwrap_or_default();
    match sig.revocation_reason_code() {
        Some(RevocationCode::KeySuperseded) => Ok(Limit {
            at,
            why: "was superseded",
        }),
        Some(RevocationCode::KeyRetired) => Ok(Limit {
            at,
            why: "was retired",
        }),
        Some(RevocationCode::KeyCompromised) => Err(format!(
            "revoked on {} as compromised{text}: none of its signatures can be trusted",
            day(at)
        )),
        _ => Err(format!(
            "revoked on {} without a reason that keeps earlier signatures good{text}",
            day(at)
        )),
    }
}

/// Limits from an expiry (`key_expiration_time` of the newest self-signature, counted from the key's creation).
fn expiry(created: u32, newest_self_sig: Option<&Signature>) -> Option<Limit> {
    let d = newest_self_sig?.key_expiration_time()?.as_secs();
    (d > 0).then(|| Limit {
        at: created.saturating_add(d),
        why: "expired",
    })
}

/// Checks a certificate the way a CSAF consumer needs: at least one self-signature (third parties' certifications
/// are ignored, not refused: keys fetched from key servers carry them), revocations and expiry of the primary key
/// and of each signing subkey. Returns the keys that may sign, each with its limit.
fn signers(cert: &SignedPublicKey) -> Result<Vec<SignerKey>, String> {
    let primary = &cert.primary_key;
    let mut self_sigs: Vec<&Signature> = Vec::new();
    for u in &cert.details.users {
        for s in &u.signatures {
            if matches!(
                s.typ(),
                Some(
                    SignatureType::CertGeneric
                        | SignatureType::CertPersona
                        | SignatureType::CertCasual
                        | SignatureType::CertPositive
                )
            ) && s.verify_certification(primary, Tag::UserId, &u.id).is_ok()
            {
                self_sigs.push(s);
            }
        }
    }
    for s in &cert.details.direct_signatures {
        if s.typ() == Some(SignatureType::Key) && s.verify_key(primary).is_ok() {
            self_sigs.push(s);
        }
    }
    if self_sigs.is_empty() {
        return Err("no self-signature of the key verifies".into());
    }
    let newest_self = newest(self_sigs.into_iter());
    let mut limit = expiry(primary.created_at().as_secs(), newest_self);
    // A primary key whose flags leave out signing (a certification key with signing subkeys, as GnuPG makes them
    // with `cert`) makes no valid data signature.
    let primary_signs = newest_self.is_none_or(may_sign);
    for r in &cert.details.revocation_signatures {
        // One that does not verify is not the owner's: ignored.
        if r.typ() == Some(SignatureType::KeyRevocation) && r.verify_key(primary).is_ok() {
            limit = Limit::min(limit, Some(revocation(r)?));
        }
    }
    let mut out = vec![SignerKey {
        subkey: None,
        created: primary.created_at().as_secs(),
        limit: limit.clone(),
        revoked: (!primary_signs).then(|| {
            "its primary key is for certification only (its key flags leave out signing)"
                .to_string()
        }),
    }];
    for (i, sub) in cert.public_subkeys.iter().enumerate() {
        let ok = |s: &&Signature| s.verify_subkey_binding(primary, &sub.key).is_ok();
        let Some(binding) = newest(
            sub.signatures
                .iter()
                .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
                .filter(ok),
        ) else {
            continue;
        };
        if !may_sign(binding) {
            continue;
        }
        let created = sub.key.created_at().as_secs();
        let mut sub_limit = Limit::min(limit.clone(), expiry(created, Some(binding)));
        let mut revoked = None;
        for r in sub
            .signatures
            .iter()
            .filter(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
            .filter(ok)
        {
            match revocation(r) {
                Ok(l) => sub_limit = Limit::min(sub_limit, Some(l)),
                Err(why) => revoked = Some(format!("its signing subkey was {why}")),
            }
        }
        out.push(SignerKey {
            subkey: Some(i),
            created,
            limit: sub_limit,
            revoked,
        });
    }
    Ok(out)
}

/// A self-signature allows its key to sign data: its key flags say so, or it carries none (older keys).
fn may_sign(sig: &Signature) -> bool {
    let has_flags = sig.config().is_some_and(|c| {
        c.hashed_subpackets()
            .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    });
    !has_flags || sig.key_flags().sign()
}

impl SignerKey {
    /// Why a signature this key made at `at` (None: the signature says not) is not good, if it is not.
    fn refuses(&self, at: Option<u32>) -> Option<String> {
        if let Some(r) = &self.revoked {
            return Some(r.clone());
        }
        match (at, &self.limit) {
            (None, Some(l)) => Some(format!(
                "the signature carries no creation time, and the key {} on {}",
                l.why,
                day(l.at)
            )),
            (Some(t), _) if t < self.created => Some(format!(
                "the signature is dated {}, before the key was made ({})",
                day(t),
                day(self.created)
            )),
            (Some(t), Some(l)) if t >= l.at => Some(format!(
                "it was made on {}, after the key {} on {}",
                day(t),
                l.why,
                day(l.at)
            )),
            _ => None,
        }
    }
}

/// How far ahead an expiry is worth saying.
const EXPIRY_NOTICE_SECS: u32 = 30 * 86_400;

impl ProviderKeys {
    /// The fingerprints of the keys held.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.fingerprint.clone()).collect()
    }

    /// What an operator should know of the held keys' life at `now` (Unix seconds): a key (or its only signing
    /// subkeys) that expired or was retired, whose new signatures are refused; one that expires within 30 days.
    pub fn notes(&self, now: u32) -> Vec<String> {
        let mut out = Vec::new();
        for k in &self.keys {
            // The latest time any of its keys may still sign: what matters is whether the provider can still sign.
            let usable: Vec<&SignerKey> =
                k.signers.iter().filter(|s| s.revoked.is_none()).collect();
            if usable.iter().any(|s| s.limit.is_none()) || usable.is_empty() {
                continue;
            }
            let Some(last) = usable
                .iter()
                .filter_map(|s| s.limit.as_ref())
                .max_by_key(|l| l.at)
            else {
                continue;
            };
            if last.at <= now {
                out.push(format!(
                    "key {} {} on {}: documents it signs from then on are refused (earlier signatures stay good)",
                    k.fingerprint,
                    last.why,
                    day(last.at)
                ));
            } else if last.at - now <= EXPIRY_NOTICE_SECS && last.why == "expired" {
                out.push(format!(
                    "key {} expires on {} (in {} days): the provider must extend or replace it",
                    k.fingerprint,
                    day(last.at),
                    (last.at - now).div_ceil(86_400)
                ));
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Signatures are required of this provider's documents (its metadata lists keys, or the caller trusts some).
    pub fn signatures_required(&self) -> bool {
        self.listed
    }

    /// Keeps only the keys whose fingerprints are in `trusted` (those the operator declared, or pinned at first
    /// use) and requires signatures from now on, whatever the metadata says: a provider that signed does not stop
    /// because its web server says so. Returns the fingerprints of the keys dropped.
    pub fn restrict(&mut self, trusted: &[String]) -> Vec<String> {
        let trusted: Vec<String> = trusted.iter().map(|t| norm_fingerprint(t)).collect();
        let mut dropped = Vec::new();
        self.keys.retain(|k| {
            let keep = trusted.contains(&k.fingerprint);
            if !keep {
                dropped.push(k.fingerprint.clone());
            }
            keep
        });
        self.listed = true;
        dropped
    }

    /// The trusted fingerprints that are not among the keys held (not listed by the provider, not fetched, or
    /// refused): documents they signed cannot be checked.
    pub fn missing<'a>(&self, trusted: &'a [String]) -> Vec<&'a String> {
        trusted
            .iter()
            .filter(|t| {
                !self
                    .keys
                    .iter()
                    .any(|k| k.fingerprint == norm_fingerprint(t))
            })
            .collect()
    }

    /// Adds a certificate (armored or binary) fetched from `url`, refusing it when it does not parse, no
    /// self-signature holds, it was revoked as compromised (or without a reason), or its fingerprint is not the
    /// one the metadata gives. An expired or retired key is kept: signatures it made before stay good.
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
        let fingerprint = format!("{:X}", cert.fingerprint());
        if let Some(exp) = expected.map(norm_fingerprint).filter(|e| !e.is_empty()) {
            if exp != fingerprint {
                return Err(bad(format!(
                    "fingerprint {fingerprint}, but the provider metadata names {exp}"
                )));
            }
        }
        let signers = signers(&cert).map_err(|e| bad(format!("{fingerprint}: {e}")))?;
        if !self.keys.iter().any(|k| k.fingerprint == fingerprint) {
            self.keys.push(ProviderKey {
                fingerprint: fingerprint.clone(),
                cert,
                signers,
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
        let made = sig.signature.created().map(|t| t.as_secs());
        for k in &self.keys {
            for s in &k.signers {
                let verified = match s.subkey {
                    None => sig.verify(&k.cert, doc).is_ok(),
                    Some(i) => k
                        .cert
                        .public_subkeys
                        .get(i)
                        .is_some_and(|sub| sig.verify(&sub.key, doc).is_ok()),
                };
                if verified {
                    return match s.refuses(made) {
                        None => Ok(k.fingerprint.clone()),
                        Some(why) => Err(bad(format!(
                            "made by the provider's key {}, but {why}",
                            k.fingerprint
                        ))),
                    };
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
            format!("made by {issuer}; no usable provider key to check it with (the metadata lists none, or they could not be fetched, failed their checks or are not trusted)")
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

    fn key_of(name: &str) -> (ProviderKeys, String) {
        let mut keys = ProviderKeys::default();
        let fpr = String::from_utf8(fixture(&format!("{name}.fpr"))).unwrap();
        let got = keys
            .add(&fixture(&format!("{name}.asc")), Some(fpr.trim()), name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        (keys, got)
    }

    /// Keys with a life (made by the fixture script at fixed times, T0 = 2026-01-01): an expiring key and an
    /// expiring signing subkey (both until 2026-01-06), a key retired on 2026-01-05, each with signatures of
    /// 2026-01-02 and 2026-01-11; and a key revoked as compromised on 2026-01-05.
    #[test]
    fn expired_and_revoked_keys() {
        let doc = fixture("doc.json");
        for (name, event) in [
            ("expiring", "expired on 2026-01-06 00:00 UTC"),
            ("subkey", "expired on 2026-01-06 00:00 UTC"),
            ("retired", "was superseded on 2026-01-05 00:00 UTC"),
        ] {
            let (keys, fpr) = key_of(name);
            // Made while the key was good: good still.
            assert_eq!(
                keys.verify(&doc, &fixture(&format!("doc.json.{name}-before.asc")), "b"),
                Ok(fpr.clone()),
                "{name}"
            );
            let e = keys.verify(&doc, &fixture(&format!("doc.json.{name}-after.asc")), "a");
            assert!(
                matches!(&e, Err(IntegrityError::BadSignature { reason, .. })
                    if reason.contains(event) && reason.contains("made on 2026-01-11") && reason.contains(&fpr)),
                "{name}: {e:?}"
            );
        }
        // Compromised: the key itself is refused, so nothing it signed verifies, not even what it signed before.
        let mut keys = ProviderKeys::default();
        let fpr = String::from_utf8(fixture("compromised.fpr")).unwrap();
        let e = keys.add(&fixture("compromised.asc"), Some(fpr.trim()), "c");
        assert!(
            matches!(&e, Err(IntegrityError::Key { reason, .. })
                if reason.contains("revoked on 2026-01-05 00:00 UTC as compromised") && reason.contains("revoked for the fixtures")),
            "{e:?}"
        );
        assert!(keys.is_empty());
        let e = keys.verify(&doc, &fixture("doc.json.compromised.asc"), "c");
        assert!(
            matches!(e, Err(IntegrityError::BadSignature { .. })),
            "{e:?}"
        );
        // A signing subkey revoked as compromised: the certificate stays, what the subkey signed does not verify.
        let (keys, fpr) = key_of("subrevoked");
        let e = keys.verify(&doc, &fixture("doc.json.subrevoked.asc"), "s");
        assert!(
            matches!(&e, Err(IntegrityError::BadSignature { reason, .. })
                if reason.contains(&fpr) && reason.contains("subkey was revoked on 2026-01-05 00:00 UTC as compromised")),
            "{e:?}"
        );
    }

    /// A provider key fetched from a key server carries other people's certifications, which do not verify with
    /// the provider's own key and must not make it unusable.
    #[test]
    fn notes_on_keys_life() {
        let day_secs = 86_400;
        let t0 = 1_767_225_600; // 2026-01-01, the fixtures' T0; the expiring keys end on day 5, retired on day 4.
        let (expiring, fpr) = key_of("expiring");
        assert_eq!(expiring.notes(t0 - 40 * day_secs), Vec::<String>::new());
        let soon = expiring.notes(t0 + 2 * day_secs);
        assert!(
            soon.len() == 1 && soon[0].contains(&fpr) && soon[0].contains("in 3 days"),
            "{soon:?}"
        );
        let gone = expiring.notes(t0 + 10 * day_secs);
        assert!(
            gone.len() == 1 && gone[0].contains("expired on 2026-01-06"),
            "{gone:?}"
        );
        let (subkey, _) = key_of("subkey");
        assert_eq!(subkey.notes(t0 + 10 * day_secs).len(), 1);
        let (retired, _) = key_of("retired");
        assert!(retired.notes(t0 + day_secs).is_empty());
        assert!(retired.notes(t0 + 10 * day_secs)[0].contains("was superseded on 2026-01-05"));
        // A key that never expires: nothing to say.
        let (provider, _) = provider_keys();
        assert!(provider.notes(t0).is_empty());
    }

    #[test]
    fn third_party_certifications_are_ignored() {
        let (_, fpr) = provider_keys();
        let mut keys = ProviderKeys::default();
        let got = keys
            .add(&fixture("provider-certified.asc"), Some(&fpr), "k")
            .unwrap();
        assert_eq!(got, fpr);
        assert_eq!(
            keys.verify(&fixture("doc.json"), &fixture("doc.json.asc"), "a"),
            Ok(fpr)
        );
    }

    #[test]
    fn restricted_to_trusted_keys() {
        let (mut keys, fpr) = provider_keys();
        let (_, other) = key_of("expiring");
        keys.add(&fixture("expiring.asc"), None, "x").unwrap();
        assert!(!keys.signatures_required());
        let doc = fixture("doc.json");
        assert!(keys
            .verify(&doc, &fixture("doc.json.expiring-before.asc"), "e")
            .is_ok());
        // Trusted as an operator may type it: lower case, spaced.
        let typed: String = fpr
            .to_lowercase()
            .chars()
            .enumerate()
            .flat_map(|(i, c)| (i > 0 && i % 4 == 0).then_some(' ').into_iter().chain([c]))
            .collect();
        assert_eq!(keys.restrict(&[typed]), vec![other]);
        assert!(keys.signatures_required());
        assert_eq!(keys.fingerprints(), vec![fpr.clone()]);
        assert!(keys
            .verify(&doc, &fixture("doc.json.expiring-before.asc"), "e")
            .is_err());
        assert_eq!(keys.verify(&doc, &fixture("doc.json.asc"), "a"), Ok(fpr));
        // Trusting nothing that is listed: no key left, signatures still required.
        let (mut keys, _) = provider_keys();
        assert_eq!(keys.restrict(&["00".repeat(20)]).len(), 1);
        assert!(keys.is_empty() && keys.signatures_required());
    }

    #[test]
    fn fingerprints_as_typed() {
        let f = "1CD9 3037 93E8 99AD 6235  4B43 61A2 B342 F9A3 EEF7";
        assert_eq!(
            parse_fingerprint(f),
            Ok("1CD9303793E899AD62354B4361A2B342F9A3EEF7".to_string())
        );
        assert_eq!(
            parse_fingerprint("0x1cd9303793e899ad62354b4361a2b342f9a3eef7").map(|f| f.len()),
            Ok(40)
        );
        assert!(parse_fingerprint(&"A".repeat(64)).is_ok());
        for bad in ["", "61A2B342F9A3EEF7", &"G".repeat(40), &"A".repeat(41)] {
            assert!(parse_fingerprint(bad).is_err(), "{bad}");
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
