//! API tokens: minted with the OS random source, stored as an Argon2id hash, shown once. A server verifies a token
//! with Argon2 once, then remembers an HMAC-SHA256 of it under a key that lives only in that process's memory, so
//! later requests cost one HMAC and a hash-map probe, and a memory dump does not reveal reusable secrets.

use std::collections::HashMap;
use std::sync::RwLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use vigil_store::{MemberStore, TokenRecord};

use crate::policy::{Principal, Role};

/// Token prefix: makes a leaked token recognisable to secret scanners.
pub const PREFIX: &str = "vgl_";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("randomness unavailable: {0}")]
    Random(String),
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] vigil_store::StoreError),
}

fn random(n: usize) -> Result<Vec<u8>, TokenError> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(b)
}

/// Splits `vgl_<lookup>_<secret>` and returns the lookup part, or None when the shape is wrong.
pub fn lookup_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(PREFIX)?;
    let (lookup, secret) = rest.split_once('_')?;
    (lookup.len() == 16 && lookup.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() >= 32).then_some(lookup)
}

/// Mints a token for a member; returns the clear token (to show once) and the stored record.
pub fn create(store: &dyn MemberStore, member_id: i64, role: Role, expires_at: Option<&str>) -> Result<(String, TokenRecord), TokenError> {
    let lookup: String = random(8)?.iter().map(|b| format!("{b:02x}")).collect();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random(32)?);
    let token = format!("{PREFIX}{lookup}_{secret}");
    let salt_bytes = random(16)?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| TokenError::Hash(e.to_string()))?;
    let hash = Argon2::default().hash_password(token.as_bytes(), &salt).map_err(|e| TokenError::Hash(e.to_string()))?.to_string();
    let rec = store.add_token(member_id, role.as_str(), &lookup, &hash, expires_at)?;
    Ok((token, rec))
}

/// Checks a token against its stored Argon2 hash (slow by design).
pub fn verify_slow(token: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(h) => Argon2::default().verify_password(token.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// `--expires 90d|12h|30m|never` -> an RFC 3339 instant (None for never).
pub fn parse_expiry(s: &str) -> Result<Option<String>, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().map_err(|_| format!("bad expiry `{s}` (e.g. 90d, 12h, 30m, never)"))?;
    let d = match unit {
        "d" => chrono::Duration::days(n),
        "h" => chrono::Duration::hours(n),
        "m" => chrono::Duration::minutes(n),
        _ => return Err(format!("bad expiry unit in `{s}` (d, h, m)")),
    };
    if n <= 0 || n > 36500 {
        return Err(format!("expiry `{s}` out of range"));
    }
    Ok(Some(vigil_model::time::format(&(chrono::Utc::now() + d))))
}

fn expired(expires_at: Option<&str>) -> bool {
    match expires_at {
        None => false,
        Some(e) => match chrono::DateTime::parse_from_rfc3339(e) {
            Ok(t) => t.with_timezone(&chrono::Utc) <= chrono::Utc::now(),
            // An unreadable expiry is treated as expired: fail closed.
            Err(_) => true,
        },
    }
}

#[derive(Clone)]
struct Cached {
    principal: Principal,
    expires_at: Option<String>,
    /// The store's change counter when the record's status was last read.
    checked: i64,
}

/// Verified tokens, keyed by HMAC-SHA256(process key, token).
pub struct TokenCache {
    key: [u8; 32],
    map: RwLock<HashMap<[u8; 32], Cached>>,
}

impl TokenCache {
    pub fn new() -> Result<Self, TokenError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| TokenError::Random(e.to_string()))?;
        Ok(TokenCache { key, map: RwLock::new(HashMap::new()) })
    }

    fn digest(&self, token: &str) -> [u8; 32] {
        // HMAC accepts keys of any length: new_from_slice cannot fail here.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => return [0u8; 32],
        };
        mac.update(token.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The fast path: a token verified before whose record has not changed since. `counter` is the store's
    /// change counter; when it moved, the caller must re-check the record with [`TokenCache::verify`].
    pub fn fast(&self, token: &str, counter: i64) -> Option<Principal> {
        let d = self.digest(token);
        let map = self.map.read().ok()?;
        let c = map.get(&d)?;
        (c.checked == counter && !expired(c.expires_at.as_deref())).then(|| c.principal.clone())
    }

    /// The full check (blocking: reads the store and may run Argon2): shape, record, revocation, expiry, hash.
    pub fn verify(&self, store: &dyn MemberStore, token: &str, counter: i64) -> Result<Option<Principal>, TokenError> {
        let d = self.digest(token);
        let Some(lookup) = lookup_of(token) else { return Ok(None) };
        let Some(rec) = store.token_by_lookup(lookup)? else { return Ok(None) };
        if rec.revoked_at.is_some() || expired(rec.expires_at.as_deref()) {
            if let Ok(mut m) = self.map.write() {
                m.remove(&d);
            }
            return Ok(None);
        }
        let known = self.map.read().ok().and_then(|m| m.get(&d).map(|c| c.principal.token_id == rec.id)).unwrap_or(false);
        if !known && !verify_slow(token, &rec.hash) {
            return Ok(None);
        }
        let Some(member) = store.member(rec.member_id)? else { return Ok(None) };
        let Some(role) = Role::parse(&rec.role) else { return Ok(None) };
        let principal =
            Principal { token_id: rec.id, member_id: member.id, identity_id: member.identity_id, operator: member.operator, role };
        if let Ok(mut m) = self.map.write() {
            // Bounded: a flood of distinct valid tokens cannot grow memory without limit.
            if m.len() > 100_000 {
                m.clear();
            }
            m.insert(d, Cached { principal: principal.clone(), expires_at: rec.expires_at.clone(), checked: counter });
        }
        Ok(Some(principal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_expiry() {
        assert_eq!(lookup_of("vgl_0123456789abcdef_abcdefghijabcdefghijabcdefghijabcdefghij"), Some("0123456789abcdef"));
        assert_eq!(lookup_of("not-a-token"), None);
        assert_eq!(lookup_of("vgl_xyz_abc"), None);
        assert!(parse_expiry("90d").expect("90d").is_some());
        assert!(parse_expiry("never").expect("never").is_none());
        assert!(parse_expiry("5y").is_err());
        assert!(expired(Some("2000-01-01T00:00:00Z")));
        assert!(!expired(Some("2999-01-01T00:00:00Z")));
    }

    #[test]
    fn create_verify_revoke() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = vigil_store::sqlite::SqliteStore::open(d.path()).expect("open");
        let m = s.add_member("CERT", "DE", "csirt", false).expect("member");
        let (tok, rec) = create(&s, m.id, Role::Member, None).expect("token");
        assert!(rec.hash.starts_with("$argon2id$") && !rec.hash.contains(&tok));
        let cache = TokenCache::new().expect("cache");
        let c0 = s.change_counter().expect("counter");
        assert!(cache.fast(&tok, c0).is_none());
        let p = cache.verify(&s, &tok, c0).expect("verify").expect("valid");
        assert_eq!(p.member_id, m.id);
        assert_eq!(cache.fast(&tok, c0), Some(p));
        let mut wrong = tok.clone();
        wrong.push('x');
        assert!(cache.verify(&s, &wrong, c0).expect("verify").is_none());
        s.revoke_token(rec.id).expect("revoke");
        let c1 = s.change_counter().expect("counter");
        assert!(cache.fast(&tok, c1).is_none(), "a store change forces a re-check");
        assert!(cache.verify(&s, &tok, c1).expect("verify").is_none(), "revoked");
    }
}
