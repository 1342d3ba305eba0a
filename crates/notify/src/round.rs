//! One delivery round: queue what is new, claim what is due, send one message per delivery (or one digest per
//! channel), record each outcome. Channels are independent: a failed send is recorded on its own deliveries and
//! the round goes on with the next channel.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use serde::Serialize;
use vigil_store::{AttemptOutcome, DeliveryStore, DueDelivery};
use vigil_vuln::Notice;

use crate::config::{DeliveryConfig, SmtpConfig};
use crate::email::Mailer;
use crate::message::{Item, Message};
use crate::webhook::Hooks;
use crate::NotifyError;

/// What a round did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Deliveries queued (notice versions newly paired with a channel).
    pub queued: u64,
    /// Deliveries that were due and attempted.
    pub attempted: u64,
    /// Messages sent (a digest is one message for several deliveries).
    pub messages_sent: u64,
    /// Deliveries carried by those messages.
    pub delivered: u64,
    /// Deliveries that failed and will be retried.
    pub retrying: u64,
    /// Deliveries that failed for the last time (see the delivery log).
    pub failed: u64,
    /// What went wrong, per channel (no credentials).
    pub failures: Vec<ChannelFailure>,
}

/// One failed message.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelFailure {
    pub channel: i64,
    pub member: i64,
    pub kind: String,
    pub deliveries: Vec<i64>,
    pub attempt: i64,
    pub error: String,
    /// When it is tried again; None when it will not be.
    pub next_attempt: Option<String>,
}

/// The wait after the `attempt`-th failed attempt (1-based): `base * 2^(attempt-1)`, at most `max`.
pub fn backoff(cfg: &DeliveryConfig, attempt: u32) -> Duration {
    let shift = attempt.saturating_sub(1).min(40);
    let secs = cfg
        .backoff_base_secs
        .saturating_mul(1u64 << shift)
        .min(cfg.backoff_max_secs);
    Duration::from_secs(secs)
}

/// When a digest queued at `now` goes out: the next `digest_hour` o'clock (UTC) strictly after `now`.
pub fn next_digest_time(now: DateTime<Utc>, digest_hour: u32) -> DateTime<Utc> {
    let at = NaiveTime::from_hms_opt(digest_hour.min(23), 0, 0).unwrap_or(NaiveTime::MIN);
    let today = Utc.from_utc_datetime(&now.date_naive().and_time(at));
    if today > now {
        today
    } else {
        today.checked_add_days(Days::new(1)).unwrap_or(today)
    }
}

fn plus(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(now)
}

/// A message id stable over retries: derived from the deliveries it carries.
fn message_id(ids: &[i64]) -> String {
    let key = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let ns = uuid::Uuid::from_u128(0x5b1c_7a2e_9f0d_4c3b_8e6a_1d2f_3c4b_5a69);
    format!("vigil-delivery-{}", uuid::Uuid::new_v5(&ns, key.as_bytes()))
}

/// One round at `now`: queues, then attempts every due delivery. `smtp` None means e-mail channels cannot be
/// served: their deliveries fail (and are retried) with a message saying so, while webhooks go on.
///
/// Blocking (SMTP and HTTP clients are synchronous): inside an async runtime, call it from `spawn_blocking`.
pub fn deliver_round<S: DeliveryStore + ?Sized>(
    store: &S,
    smtp: Option<&SmtpConfig>,
    cfg: &DeliveryConfig,
    now: DateTime<Utc>,
) -> Result<Report, NotifyError> {
    let mut rep = Report {
        queued: store.queue_deliveries(now, next_digest_time(now, cfg.digest_hour))?,
        ..Report::default()
    };
    let lease = plus(now, Duration::from_secs(cfg.lease_secs.max(60)));
    let due = store.claim_due(now, lease, cfg.batch.max(1))?;
    if due.is_empty() {
        return Ok(rep);
    }
    rep.attempted = due.len() as u64;
    // Built lazily and once per round; a setup error becomes every e-mail delivery's error.
    let mut mailer: Option<Result<Mailer, String>> = None;
    let hooks = Hooks::new(Duration::from_secs(cfg.timeout_secs.max(1)))
        .map_err(|e| NotifyError::Config(e.to_string()))?;
    let mut by_channel: BTreeMap<i64, Vec<DueDelivery>> = BTreeMap::new();
    for d in due {
        by_channel.entry(d.channel.id).or_default().push(d);
    }
    for (_, ds) in by_channel {
        let digest = ds.first().is_some_and(|d| d.channel.digest.is_some());
        let groups: Vec<Vec<DueDelivery>> = if digest {
            vec![ds]
        } else {
            ds.into_iter().map(|d| vec![d]).collect()
        };
        for g in groups {
            send_group(
                store,
                smtp,
                cfg,
                now,
                &hooks,
                &mut mailer,
                digest,
                g,
                &mut rep,
            )?;
        }
    }
    Ok(rep)
}

#[allow(clippy::too_many_arguments)]
fn send_group<S: DeliveryStore + ?Sized>(
    store: &S,
    smtp: Option<&SmtpConfig>,
    cfg: &DeliveryConfig,
    now: DateTime<Utc>,
    hooks: &Hooks,
    mailer: &mut Option<Result<Mailer, String>>,
    digest: bool,
    group: Vec<DueDelivery>,
    rep: &mut Report,
) -> Result<(), NotifyError> {
    let Some(first) = group.first() else {
        return Ok(());
    };
    let channel = first.channel.clone();
    let ids: Vec<i64> = group.iter().map(|d| d.delivery.id).collect();
    let attempt = group.iter().map(|d| d.delivery.attempts).max().unwrap_or(0) + 1;
    let mut items = Vec::new();
    let mut problem: Option<String> = None;
    for d in &group {
        match serde_json::from_str::<Notice>(&d.notice_json) {
            // Defence in depth for TLP:RED and tenancy: the store pairs by member; refuse anything else here too.
            Ok(n)
                if n.member != d.channel.member_id.to_string()
                    || d.delivery.member_id != d.channel.member_id =>
            {
                problem = Some(format!(
                    "refused: notice {} is not member {}'s",
                    d.delivery.notice_id, d.channel.member_id
                ));
            }
            Ok(n) => items.push(Item {
                tlp: d.notice_tlp.unwrap_or(n.tlp).max(n.tlp),
                version: d.delivery.notice_version,
                notice: n,
            }),
            Err(e) => {
                problem = Some(format!(
                    "stored notice {} cannot be read: {e}",
                    d.delivery.notice_id
                ))
            }
        }
    }
    let msg = Message {
        id: message_id(&ids),
        member_id: channel.member_id,
        digest,
        items,
    };
    let result = match problem {
        Some(p) => Err(p),
        None => match channel.kind.as_str() {
            "email" => {
                let m = mailer.get_or_insert_with(|| match smtp {
                    Some(c) => Mailer::new(c).map_err(|e| e.to_string()),
                    None => Err("no usable [smtp] relay in vigil.toml (absent, or refused: see the settings error)".to_string()),
                });
                match m {
                    Ok(m) => m.send(&channel.target, &msg),
                    Err(e) => Err(e.clone()),
                }
            }
            "webhook" => match &channel.secret {
                Some(s) => hooks.send(&channel.target, s, &msg),
                None => Err("the webhook has no signing secret".into()),
            },
            k => Err(format!("unknown channel kind `{k}`")),
        },
    };
    match result {
        Ok(()) => {
            store.record_attempt(
                &ids,
                now,
                &AttemptOutcome::Sent {
                    message_id: msg.id.clone(),
                },
            )?;
            rep.messages_sent += 1;
            rep.delivered += ids.len() as u64;
        }
        Err(error) => {
            let give_up = attempt >= i64::from(cfg.max_attempts.max(1));
            let next = (!give_up).then(|| {
                plus(
                    now,
                    backoff(cfg, u32::try_from(attempt).unwrap_or(u32::MAX)),
                )
            });
            tracing::warn!(channel = channel.id, member = channel.member_id, kind = %channel.kind, attempt, %error, "notice delivery failed");
            let outcome = match next {
                Some(next) => {
                    rep.retrying += ids.len() as u64;
                    AttemptOutcome::Retry {
                        error: error.clone(),
                        next,
                    }
                }
                None => {
                    rep.failed += ids.len() as u64;
                    AttemptOutcome::Failed {
                        error: error.clone(),
                    }
                }
            };
            store.record_attempt(&ids, now, &outcome)?;
            rep.failures.push(ChannelFailure {
                channel: channel.id,
                member: channel.member_id,
                kind: channel.kind.clone(),
                deliveries: ids,
                attempt,
                error,
                next_attempt: next.map(|n| vigil_model::time::sort_key(&n)),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let cfg = DeliveryConfig {
            backoff_base_secs: 60,
            backoff_max_secs: 3600,
            ..DeliveryConfig::default()
        };
        let s: Vec<u64> = (1..=8).map(|a| backoff(&cfg, a).as_secs()).collect();
        assert_eq!(s, vec![60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(&cfg, u32::MAX).as_secs(), 3600, "no overflow");
        assert_eq!(backoff(&cfg, 0).as_secs(), 60);
    }

    #[test]
    fn digest_time_is_the_next_digest_hour() {
        assert_eq!(
            next_digest_time(t("2026-03-01T06:59:00Z"), 7),
            t("2026-03-01T07:00:00Z")
        );
        assert_eq!(
            next_digest_time(t("2026-03-01T07:00:00Z"), 7),
            t("2026-03-02T07:00:00Z")
        );
        assert_eq!(
            next_digest_time(t("2026-12-31T23:00:00Z"), 7),
            t("2027-01-01T07:00:00Z")
        );
        assert_eq!(
            next_digest_time(t("2026-03-01T10:00:00Z"), 99),
            t("2026-03-01T23:00:00Z")
        );
    }

    #[test]
    fn message_ids_are_stable() {
        assert_eq!(message_id(&[1, 2]), message_id(&[1, 2]));
        assert_ne!(message_id(&[1, 2]), message_id(&[1, 3]));
    }
}
