//! Notice delivery: members receive their vulnerability notices over the channels they choose, namely e-mail over
//! SMTP (STARTTLS, plain text and HTML), signed webhooks (JSON, HMAC-SHA256 with a timestamp against replays) and
//! an Atom feed per member, with retries and exponential back-off, a delivery log, and a daily digest option.
//!
//! [`deliver_round`] is one round: it queues every notice version not yet queued on each of its member's channels,
//! then attempts every delivery that is due (first attempts and retries). The store's unique key (notice,
//! fingerprint, channel) means the same facts are never delivered twice on a channel; each channel's message is
//! sent and recorded on its own, so a failing channel never blocks the others.
//!
//! TLP: every message states the notice's TLP (subject or header, and body). Notices only ever meet channels of
//! their own member (the pairing is done in SQL, checked again here before sending), so a TLP:RED notice goes to
//! the member's own configured addresses and endpoints and nowhere else. Webhooks must use HTTPS unless they point
//! at a loopback address (a relay on the same host).
//!
//! The library neither prints nor reads the environment: the caller hands it the settings (with
//! [`SmtpConfig::resolve`] reading `password_file` and `ca_file`) and the time.

pub mod atom;
pub mod config;
pub mod email;
pub mod message;
pub mod round;
pub mod sign;
pub mod webhook;

pub use atom::{atom_feed, AtomFeed};
pub use config::{DeliveryConfig, SmtpConfig};
pub use round::{backoff, deliver_round, next_digest_time, ChannelFailure, Report};
pub use sign::{sign, verify, VerifyError};

use thiserror::Error;
use vigil_store::StoreError;

/// Errors of the delivery machinery (a failed send is not one: it is recorded on the delivery and retried).
#[derive(Debug, Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Settings that cannot work (the message never contains a password).
    #[error("notice delivery settings: {0}")]
    Config(String),
    /// A channel definition that is refused.
    #[error("{0}")]
    Channel(String),
}

/// Channel kinds.
pub const KINDS: [&str; 2] = ["email", "webhook"];

/// Checks a channel before it is stored: a single valid e-mail address, or a webhook URL that is HTTPS (plain
/// HTTP only to a loopback address) without user information; a webhook needs a signing secret.
pub fn validate_channel(
    kind: &str,
    target: &str,
    secret: Option<&str>,
    digest: Option<&str>,
) -> Result<(), NotifyError> {
    if let Some(d) = digest {
        if d != "daily" {
            return Err(NotifyError::Channel(format!(
                "unknown digest `{d}` (only `daily`)"
            )));
        }
    }
    match kind {
        "email" => {
            email::parse_address(target)?;
            Ok(())
        }
        "webhook" => {
            webhook::check_url(target)?;
            match secret {
                Some(s) if s.len() >= 16 => Ok(()),
                Some(_) => Err(NotifyError::Channel(
                    "a webhook signing secret needs at least 16 characters".into(),
                )),
                None => Err(NotifyError::Channel(
                    "a webhook needs a signing secret".into(),
                )),
            }
        }
        k => Err(NotifyError::Channel(format!(
            "unknown channel kind `{k}` (email or webhook)"
        ))),
    }
}

/// A new random webhook signing secret (64 hex digits, 244 random bits from two v4 UUIDs).
pub fn generate_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
