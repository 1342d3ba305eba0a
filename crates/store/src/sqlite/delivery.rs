//! The SQLite side of [`DeliveryStore`].

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use vigil_model::time::sort_key;

use super::{now_micros, tlp_from_rank, SqliteStore};
use crate::delivery::{
    AttemptOutcome, ChannelRecord, DeliveryFilter, DeliveryRecord, DeliveryStore, DueDelivery,
    NewChannel,
};
use crate::StoreError;

/// Channels and deliveries (appended to `schema::MIGRATIONS`). Channels are never deleted, only marked removed,
/// so the delivery log keeps naming them. Times are `sort_key` strings (RFC 3339, microseconds, `Z`), so they
/// compare as text.
pub const DELIVERY_MIGRATION: &str = r#"
    CREATE TABLE notify_channels (
        id INTEGER PRIMARY KEY,
        member_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        secret TEXT,
        digest TEXT,
        created_at TEXT NOT NULL,
        removed_at TEXT
    );
    CREATE INDEX notify_channels_member ON notify_channels(member_id) WHERE removed_at IS NULL;
    CREATE TABLE notify_deliveries (
        id INTEGER PRIMARY KEY,
        channel_id INTEGER NOT NULL,
        member_id INTEGER NOT NULL,
        notice_id TEXT NOT NULL,
        notice_version INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_attempt_at TEXT,
        last_error TEXT,
        message_id TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        UNIQUE (notice_id, fingerprint, channel_id)
    );
    CREATE INDEX notify_deliveries_due ON notify_deliveries(next_attempt_at) WHERE status = 'pending';
    CREATE INDEX notify_deliveries_member ON notify_deliveries(member_id, id);
"#;

const CHANNEL_COLS: &str = "id, member_id, kind, target, secret, digest, created_at";

fn channel_row(r: &rusqlite::Row, o: usize) -> rusqlite::Result<ChannelRecord> {
    Ok(ChannelRecord {
        id: r.get(o)?,
        member_id: r.get(o + 1)?,
        kind: r.get(o + 2)?,
        target: r.get(o + 3)?,
        secret: r.get(o + 4)?,
        digest: r.get(o + 5)?,
        created_at: r.get(o + 6)?,
    })
}

const DELIVERY_COLS: &str = "d.id, d.channel_id, d.member_id, d.notice_id, d.notice_version, d.fingerprint, d.status, \
     d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_error, d.message_id, d.created_at, d.sent_at";
const DELIVERY_NCOLS: usize = 14;

fn delivery_row(r: &rusqlite::Row) -> rusqlite::Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: r.get(0)?,
        channel_id: r.get(1)?,
        member_id: r.get(2)?,
        notice_id: r.get(3)?,
        notice_version: r.get(4)?,
        fingerprint: r.get(5)?,
        status: r.get(6)?,
        attempts: r.get(7)?,
        next_attempt_at: r.get(8)?,
        last_attempt_at: r.get(9)?,
        last_error: r.get(10)?,
        message_id: r.get(11)?,
        created_at: r.get(12)?,
        sent_at: r.get(13)?,
    })
}

impl DeliveryStore for SqliteStore {
    fn add_channel(&self, c: &NewChannel) -> Result<ChannelRecord, StoreError> {
        self.simple_write(|tx| {
            let now = now_micros();
            tx.prepare_cached(
                "INSERT INTO notify_channels (member_id, kind, target, secret, digest, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                c.member_id,
                c.kind,
                c.target,
                c.secret,
                c.digest,
                now
            ])?;
            Ok(ChannelRecord {
                id: tx.last_insert_rowid(),
                member_id: c.member_id,
                kind: c.kind.clone(),
                target: c.target.clone(),
                secret: c.secret.clone(),
                digest: c.digest.clone(),
                created_at: now,
            })
        })
    }

    fn channels(&self, member: Option<i64>) -> Result<Vec<ChannelRecord>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {CHANNEL_COLS} FROM notify_channels
                 WHERE removed_at IS NULL AND (?1 IS NULL OR member_id = ?1) ORDER BY id"
            ))?;
            let rows = st.query_map([member], |r| channel_row(r, 0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn channel(&self, id: i64) -> Result<Option<ChannelRecord>, StoreError> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {CHANNEL_COLS} FROM notify_channels WHERE id = ?1 AND removed_at IS NULL"
            ))?
            .query_row([id], |r| channel_row(r, 0))
            .optional()?)
        })
    }

    fn remove_channel(&self, id: i64) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(c.execute(
                "UPDATE notify_channels SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
                params![id, now_micros()],
            )? > 0)
        })
    }

    fn queue_deliveries(
        &self,
        now: DateTime<Utc>,
        digest_due: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.simple_write(|c| {
            // The join on member_id is the tenancy rule: a notice only ever meets its own member's channels.
            let n = c
                .prepare_cached(
                    "INSERT INTO notify_deliveries
                       (channel_id, member_id, notice_id, notice_version, fingerprint, status, attempts, next_attempt_at, created_at)
                     SELECT ch.id, n.member_id, n.id, n.version, n.fingerprint, 'pending', 0,
                            CASE WHEN ch.digest IS NULL THEN ?1 ELSE ?2 END, ?1
                     FROM notify_channels ch JOIN notices n ON n.member_id = ch.member_id
                     WHERE ch.removed_at IS NULL AND n.status != 'resolved'
                     ORDER BY ch.id, n.id
                     ON CONFLICT (notice_id, fingerprint, channel_id) DO NOTHING",
                )?
                .execute(params![sort_key(&now), sort_key(&digest_due)])?;
            Ok(n as u64)
        })
    }

    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.simple_write(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {DELIVERY_COLS}, ch.id, ch.member_id, ch.kind, ch.target, ch.secret, ch.digest, ch.created_at,
                        n.json, n.tlp, n.status, n.fingerprint
                 FROM notify_deliveries d
                 JOIN notify_channels ch ON ch.id = d.channel_id
                 LEFT JOIN notices n ON n.id = d.notice_id AND n.member_id = d.member_id
                 WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND ch.removed_at IS NULL
                 ORDER BY d.channel_id, d.id LIMIT ?2"
            ))?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = st.query_map(params![sort_key(&now), limit], |r| {
                let o = DELIVERY_NCOLS;
                Ok((
                    delivery_row(r)?,
                    channel_row(r, o)?,
                    r.get::<_, Option<String>>(o + 7)?,
                    r.get::<_, Option<i64>>(o + 8)?,
                    r.get::<_, Option<String>>(o + 9)?,
                    r.get::<_, Option<String>>(o + 10)?,
                ))
            })?;
            let rows = rows.collect::<Result<Vec<_>, _>>()?;
            drop(st);
            let lease = sort_key(&lease_until);
            let mut out = Vec::new();
            for (d, ch, json, tlp, status, fp) in rows {
                match (json, status, fp) {
                    (Some(json), Some(status), Some(fp))
                        if fp == d.fingerprint && status != "resolved" =>
                    {
                        c.prepare_cached(
                            "UPDATE notify_deliveries SET next_attempt_at = ?2 WHERE id = ?1",
                        )?
                        .execute(params![d.id, lease])?;
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
                    _ => {
                        // The facts this delivery carries are no longer the notice's: the newer version has its
                        // own delivery, and a resolved notice needs no message.
                        c.prepare_cached(
                            "UPDATE notify_deliveries SET status = 'superseded', next_attempt_at = NULL WHERE id = ?1",
                        )?
                        .execute([d.id])?;
                    }
                }
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
        self.simple_write(|c| {
            for id in ids {
                match outcome {
                    AttemptOutcome::Sent { message_id } => c
                        .prepare_cached(
                            "UPDATE notify_deliveries SET status = 'sent', attempts = attempts + 1, last_attempt_at = ?2,
                               sent_at = ?2, message_id = ?3, next_attempt_at = NULL WHERE id = ?1",
                        )?
                        .execute(params![id, at, message_id])?,
                    AttemptOutcome::Retry { error, next } => c
                        .prepare_cached(
                            "UPDATE notify_deliveries SET attempts = attempts + 1, last_attempt_at = ?2,
                               last_error = ?3, next_attempt_at = ?4 WHERE id = ?1",
                        )?
                        .execute(params![id, at, error, sort_key(next)])?,
                    AttemptOutcome::Failed { error } => c
                        .prepare_cached(
                            "UPDATE notify_deliveries SET status = 'failed', attempts = attempts + 1, last_attempt_at = ?2,
                               last_error = ?3, next_attempt_at = NULL WHERE id = ?1",
                        )?
                        .execute(params![id, at, error])?,
                };
            }
            Ok(())
        })
    }

    fn deliveries(&self, f: &DeliveryFilter) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {DELIVERY_COLS} FROM notify_deliveries d
                 WHERE (?1 IS NULL OR d.member_id = ?1) AND (?2 IS NULL OR d.status = ?2)
                 ORDER BY d.id DESC LIMIT ?3"
            ))?;
            let limit = f
                .limit
                .and_then(|l| i64::try_from(l).ok())
                .unwrap_or(i64::MAX);
            let rows = st.query_map(params![f.member, f.status, limit], delivery_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}
