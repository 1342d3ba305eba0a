//! Webhook signatures: `X-Vigil-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>` with
//! `X-Vigil-Timestamp: <unix seconds>`.
//!
//! A receiver verifies by recomputing the HMAC over the timestamp header, a dot and the raw body bytes (before any
//! JSON parsing), comparing in constant time, and rejecting a timestamp more than a few minutes from its own clock
//! (this crate's [`verify`] uses the tolerance it is given; 300 s is usual). Signing the timestamp with the body
//! means an old request cannot be replayed with a fresh timestamp; within the tolerance, `X-Vigil-Delivery` (the
//! same on every retry of a message) lets the receiver drop duplicates.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// Why a signed request is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the timestamp is not a number of seconds")]
    BadTimestamp,
    #[error(
        "the timestamp is {0} s away from now, beyond the tolerance (a replay or a wrong clock)"
    )]
    Stale(i64),
    #[error("the signature header is not `sha256=<64 hex digits>`")]
    BadHeader,
    #[error("the signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps the no-panic rule.
    let mut m = HmacSha256::new_from_slice(secret)
        .unwrap_or_else(|_| <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default()));
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(body);
    m
}

fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(H[usize::from(b >> 4)]));
        s.push(char::from(H[usize::from(b & 15)]));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [h, l] => {
                Some((char::from(*h).to_digit(16)? * 16 + char::from(*l).to_digit(16)?) as u8)
            }
            _ => None,
        })
        .collect()
}

/// The `X-Vigil-Signature` value for a body sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("sha256={}", hex(&tag))
}

/// Checks a received webhook: the signature over `timestamp + "." + body` in constant time, and the timestamp
/// within `tolerance_secs` of `now` (unix seconds).
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let skew = now.saturating_sub(ts);
    if skew.saturating_abs() > tolerance_secs {
        return Err(VerifyError::Stale(skew));
    }
    let tag = signature
        .trim()
        .strip_prefix("sha256=")
        .and_then(unhex)
        .filter(|t| t.len() == 32)
        .ok_or(VerifyError::BadHeader)?;
    mac(secret, timestamp.trim(), body)
        .verify_slice(&tag)
        .map_err(|_| VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // From `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key`.
        assert_eq!(
            sign(b"key", 1_700_000_000, br#"{"a":1}"#),
            "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
    }

    #[test]
    fn verify_accepts_and_rejects() {
        let body = br#"{"notices":[]}"#;
        let sig = sign(b"secret-secret-16", 1000, body);
        assert_eq!(
            verify(b"secret-secret-16", "1000", &sig, body, 1100, 300),
            Ok(())
        );
        assert_eq!(
            verify(
                b"secret-secret-16",
                "1000",
                &sig,
                b"{\"notices\":[1]}",
                1000,
                300
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"other-secret-123", "1000", &sig, body, 1000, 300),
            Err(VerifyError::Mismatch)
        );
        // The same signature with a fresh timestamp does not verify: the timestamp is signed.
        assert_eq!(
            verify(b"secret-secret-16", "2000", &sig, body, 2000, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"secret-secret-16", "1000", &sig, body, 1301, 300),
            Err(VerifyError::Stale(301))
        );
        assert_eq!(
            verify(b"secret-secret-16", "x", &sig, body, 1000, 300),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            verify(b"secret-secret-16", "1000", "sha1=ab", body, 1000, 300),
            Err(VerifyError::BadHeader)
        );
        assert_eq!(
            verify(b"secret-secret-16", "1000", "sha256=zz", body, 1000, 300),
            Err(VerifyError::BadHeader)
        );
        assert_eq!(
            verify(b"secret-secret-16", "1000", "sha256=é", body, 1000, 300),
            Err(VerifyError::BadHeader)
        );
    }
}
