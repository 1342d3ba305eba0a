//! The PostgreSQL side of [`crate::DeliveryStore`] (its tables are created by `vuln.rs`'s migration).

use chrono::{DateTime, Utc};
use postgres::Row;
use vigil_model::time::sort_key;

use super::{pg_opt, pg_text, tlp_from_rank, PostgresStore};
use crate::delivery::{
    AttemptOutcome, ChannelRecord, DeliveryFilter, DeliveryRecord, DeliveryStore, DueDelivery,
    NewChannel,
};
use crate::StoreError;

macro_rules! channel_cols {
    () => {
        "id, member_id, kind, target, secret, digest, created_at"
    };
}

macro_rules! delivery_cols {
    () => {
        "d.id, d.channel_id, d.member_id, d.notice_id, d.notice_version, d.fingerprint, d.status, d.attempts, \
         d.next_attempt_at, d.last_attempt_at, d.last_error, d.message_id, d.created_at, d.sent_at"
    };
}

const DELIVERY_NCOLS: usize = 14;

fn channel_row(r: &Row, o: usize) -> Result<ChannelRecord, StoreError> {
    Ok(ChannelRecord {
        id: r.try_get(o)?,
        member_id: r.try_get(o + 1)?,
        kind: r.try_get(o + 2)?,
        target: r.try_get(o + 3)?,
        secret: r.try_get(o + 4)?,
        digest: r.try_get(o + 5)?,
        created_at: r.try_get(o + 6)?,
    })
}

fn delivery_row(r: &Row) -> Result<DeliveryRecord, StoreError> {
    Ok(DeliveryRecord {
        id: r.try_get(0)?,
        channel_id: r.try_get(1)?,
        member_id: r.try_get(2)?,
        notice_id: r.try_get(3)?,
        notice_version: r.try_get(4)?,
        fingerprint: r.try_get(5)?,
        status: r.try_get(6)?,
        attempts: r.try_get(7)?,
        next_attempt_at: r.try_get(8)?,
        last_attempt_at: r.try_get(9)?,
        last_error: r.try_get(10)?,
        message_id: r.try_get(11)?,
        created_at: r.try_get(12)?,
        sent_at: r.try_get(13)?,
    })
}

impl DeliveryStore for PostgresStore {
    fn add_channel(&self, ch: &NewChannel) -> Result<ChannelRecord, StoreError> {
        self.simple_write(|c| {
            let now = sort_key(&Utc::now());
            let r = c.query_opt(
                concat!(
                    "INSERT INTO notify_channels (member_id, kind, target, secret, digest, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
                    channel_cols!()
                ),
                &[
                    &ch.member_id,
                    &pg_text(&ch.kind),
                    &pg_text(&ch.target),
                    &pg_opt(&ch.secret),
                    &pg_opt(&ch.digest),
                    &now,
                ],
            )?;
            r.map(|r| channel_row(&r, 0))
                .transpose()?
                .ok_or_else(|| StoreError::Corrupt("a new channel returned no row".into()))
        })
    }

    fn channels(&self, member: Option<i64>) -> Result<Vec<ChannelRecord>, StoreError> {
        self.with_reader(|c| {
            c.query(
                concat!(
                    "SELECT ",
                    channel_cols!(),
                    " FROM notify_channels WHERE removed_at IS NULL AND ($1::BIGINT IS NULL OR member_id = $1)
                     ORDER BY id"
                ),
                &[&member],
            )?
            .iter()
            .map(|r| channel_row(r, 0))
            .collect()
        })
    }

    fn channel(&self, id: i64) -> Result<Option<ChannelRecord>, StoreError> {
        self.with_reader(|c| {
            c.query_opt(
                concat!(
                    "SELECT ",
                    channel_cols!(),
                    " FROM notify_channels WHERE id = $1 AND removed_at IS NULL"
                ),
                &[&id],
            )?
            .map(|r| channel_row(&r, 0))
            .transpose()
        })
    }

    fn remove_channel(&self, id: i64) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(c.execute(
                "UPDATE notify_channels SET removed_at = $2 WHERE id = $1 AND removed_at IS NULL",
                &[&id, &sort_key(&Utc::now())],
            )? > 0)
        })
    }

    fn queue_deliveries(
        &self,
        now: DateTime<Utc>,
        digest_due: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.simple_write(|c| {
            // The join on member_id is the tenancy rule: a notice only ever meets its own member's channels. The
            // order gives ids as SQLite does (claims and the log are ordered by id).
            c.execute(
                "INSERT INTO notify_deliveries
                   (channel_id, member_id, notice_id, notice_version, fingerprint, status, attempts, next_attempt_at,
                    created_at)
                 SELECT ch.id, n.member_id, n.id, n.version, n.fingerprint, 'pending', 0,
                        CASE WHEN ch.digest IS NULL THEN $1::TEXT ELSE $2::TEXT END, $1::TEXT
                 FROM notify_channels ch JOIN notices n ON n.member_id = ch.member_id
                 WHERE ch.removed_at IS NULL AND n.status != 'resolved'
                 ORDER BY ch.id, n.id
                 ON CONFLICT (notice_id, fingerprint, channel_id) DO NOTHING",
                &[&sort_key(&now), &sort_key(&digest_due)],
            )
        })
    }

    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.simple_write(|c| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = c.query(
                concat!(
                    "SELECT ",
                    delivery_cols!(),
                    ", ch.id, ch.member_id, ch.kind, ch.target, ch.secret, ch.digest, ch.created_at,
                        n.json, n.tlp, n.status, n.fingerprint
                     FROM notify_deliveries d
                     JOIN notify_channels ch ON ch.id = d.channel_id
                     LEFT JOIN notices n ON n.id = d.notice_id AND n.member_id = d.member_id
                     WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND ch.removed_at IS NULL
                     ORDER BY d.channel_id, d.id LIMIT $2"
                ),
                &[&sort_key(&now), &limit],
            )?;
            let lease = sort_key(&lease_until);
            let (mut claimed, mut superseded) = (Vec::new(), Vec::new());
            let mut out = Vec::new();
            for r in &rows {
                let o = DELIVERY_NCOLS;
                let d = delivery_row(r)?;
                let ch = channel_row(r, o)?;
                let json: Option<String> = r.try_get(o + 7)?;
                let tlp: Option<i16> = r.try_get(o + 8)?;
                let status: Option<String> = r.try_get(o + 9)?;
                let fp: Option<String> = r.try_get(o + 10)?;
                match (json, status, fp) {
                    (Some(json), Some(status), Some(fp))
                        if fp == d.fingerprint && status != "resolved" =>
                    {
                        claimed.push(d.id);
                        out.push(DueDelivery {
                            delivery: DeliveryRecord {
                                next_attempt_at: Some(lease.clone()),
                                ..d
                            },
                            channel: ch,
                            notice_json: json,
                            notice_tlp: tlp_from_rank(tlp),
                            notice_status: status,
                        });
                    }
                    // The facts this delivery carries are no longer the notice's: the newer version has its own
                    // delivery, and a resolved notice needs no message.
                    _ => superseded.push(d.id),
                }
            }
            if !claimed.is_empty() {
                c.execute(
                    "UPDATE notify_deliveries SET next_attempt_at = $2 WHERE id = ANY($1::BIGINT[])",
                    &[&claimed, &lease],
                )?;
            }
            if !superseded.is_empty() {
                c.execute(
                    "UPDATE notify_deliveries SET status = 'superseded', next_attempt_at = NULL
                     WHERE id = ANY($1::BIGINT[])",
                    &[&superseded],
                )?;
            }
            Ok(out)
        })
    }

    fn record_attempt(
        &self,
        ids: &[i64],
        at: DateTime<Utc>,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError> {
        let at = sort_key(&at);
        let ids = ids.to_vec();
        self.simple_write(|c| {
            match outcome {
                AttemptOutcome::Sent { message_id } => c.execute(
                    "UPDATE notify_deliveries SET status = 'sent', attempts = attempts + 1, last_attempt_at = $2,
                       sent_at = $2, message_id = $3, next_attempt_at = NULL WHERE id = ANY($1::BIGINT[])",
                    &[&ids, &at, &pg_text(message_id)],
                )?,
                AttemptOutcome::Retry { error, next } => c.execute(
                    "UPDATE notify_deliveries SET attempts = attempts + 1, last_attempt_at = $2, last_error = $3,
                       next_attempt_at = $4 WHERE id = ANY($1::BIGINT[])",
                    &[&ids, &at, &pg_text(error), &sort_key(next)],
                )?,
                AttemptOutcome::Failed { error } => c.execute(
                    "UPDATE notify_deliveries SET status = 'failed', attempts = attempts + 1, last_attempt_at = $2,
                       last_error = $3, next_attempt_at = NULL WHERE id = ANY($1::BIGINT[])",
                    &[&ids, &at, &pg_text(error)],
                )?,
            };
            Ok(())
        })
    }

    fn deliveries(&self, f: &DeliveryFilter) -> Result<Vec<DeliveryRecord>, StoreError> {
        let limit = f
            .limit
            .and_then(|l| i64::try_from(l).ok())
            .unwrap_or(i64::MAX);
        self.with_reader(|c| {
            c.query(
                concat!(
                    "SELECT ",
                    delivery_cols!(),
                    " FROM notify_deliveries d
                     WHERE ($1::BIGINT IS NULL OR d.member_id = $1) AND ($2::TEXT IS NULL OR d.status = $2)
                     ORDER BY d.id DESC LIMIT $3"
                ),
                &[&f.member, &f.status, &limit],
            )?
            .iter()
            .map(delivery_row)
            .collect()
        })
    }
}
