//! The PostgreSQL side of [`crate::FeedStore`].

use ::postgres::Row;
use chrono::{DateTime, Utc};
use vigil_model::time::sort_key;

use super::{pg_opt, pg_text, PostgresStore};
use crate::feeds::{
    FeedClaim, FeedCursor, FeedLease, FeedPullRecord, FeedRecord, FeedStatus, FeedStore,
};
use crate::StoreError;

/// Migration 7: scheduled feeds and their cursors. Names and keys compare in byte order (`COLLATE "C"`), as in
/// SQLite, so that listings come out in the same order whatever the database's locale. A CSAF feed's trusted keys
/// and signature rule sit in the feed's row: SQLite keeps them in a table of their own only because its migration
/// had to be re-runnable on an older store, which a fresh PostgreSQL migration need not be. The fingerprints are
/// kept as SQLite keeps them, one space-separated string (NULL when there are none), so both read back alike.
pub(super) const SCHEMA: &str = r#"
    CREATE TABLE feeds (
        name TEXT COLLATE "C" PRIMARY KEY,
        kind TEXT NOT NULL,
        url TEXT NOT NULL,
        format TEXT,
        token TEXT,
        interval_secs BIGINT NOT NULL,
        tlp TEXT,
        collection TEXT,
        source TEXT,
        openpgp_keys TEXT,
        require_signature BOOLEAN NOT NULL DEFAULT FALSE,
        origin TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_attempt TEXT,
        last_success TEXT,
        last_error TEXT,
        last_error_at TEXT,
        last_added BIGINT NOT NULL DEFAULT 0,
        objects_added BIGINT NOT NULL DEFAULT 0,
        objects_updated BIGINT NOT NULL DEFAULT 0,
        pulls BIGINT NOT NULL DEFAULT 0,
        bytes BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE feed_cursors (
        feed TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        etag TEXT,
        last_modified TEXT,
        value TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (feed, key)
    );
"#;

/// Migration 8: who is pulling a feed (`FeedStore::claim_feed`), in the feed's row so that a claim is one `UPDATE`.
/// `lease_until` is a `time::sort_key`, compared as text in byte order.
pub(super) const LEASE_SCHEMA: &str = r#"
    ALTER TABLE feeds ADD COLUMN lease_holder TEXT, ADD COLUMN lease_until TEXT COLLATE "C";
"#;

macro_rules! feed_cols {
    () => {
        "name, kind, url, format, token, interval_secs, tlp, collection, source, origin, created_at, last_attempt, \
         last_success, last_error, last_error_at, last_added, objects_added, objects_updated, pulls, bytes, \
         openpgp_keys, require_signature, lease_holder, lease_until"
    };
}

fn feed_row(r: &Row) -> Result<FeedRecord, StoreError> {
    Ok(FeedRecord {
        name: r.try_get(0)?,
        kind: r.try_get(1)?,
        url: r.try_get(2)?,
        format: r.try_get(3)?,
        token: r.try_get(4)?,
        interval_secs: r.try_get(5)?,
        tlp: r.try_get(6)?,
        collection: r.try_get(7)?,
        source: r.try_get(8)?,
        origin: r.try_get(9)?,
        created_at: r.try_get(10)?,
        openpgp_keys: r
            .try_get::<_, Option<String>>(20)?
            .map(|k| k.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        require_signature: r.try_get(21)?,
        status: FeedStatus {
            last_attempt: r.try_get(11)?,
            last_success: r.try_get(12)?,
            last_error: r.try_get(13)?,
            last_error_at: r.try_get(14)?,
            last_added: r.try_get(15)?,
            objects_added: r.try_get(16)?,
            objects_updated: r.try_get(17)?,
            pulls: r.try_get(18)?,
            bytes: r.try_get(19)?,
        },
        lease: match (r.try_get(22)?, r.try_get(23)?) {
            (Some(holder), Some(until)) => Some(FeedLease { holder, until }),
            _ => None,
        },
    })
}

fn cursor_row(r: &Row) -> Result<FeedCursor, StoreError> {
    Ok(FeedCursor {
        key: r.try_get(0)?,
        etag: r.try_get(1)?,
        last_modified: r.try_get(2)?,
        value: r.try_get(3)?,
        updated_at: r.try_get(4)?,
    })
}

impl FeedStore for PostgresStore {
    fn put_feed(&self, f: &FeedRecord) -> Result<(), StoreError> {
        // Joined before `pg_text`, as SQLite joins them; `None` when there are none, which reads back as empty.
        let keys = (!f.openpgp_keys.is_empty()).then(|| f.openpgp_keys.join(" "));
        self.simple_write(|c| {
            // `created_at` stays as first recorded, like the status columns: a redefinition is not a new feed.
            c.execute(
                "INSERT INTO feeds (name, kind, url, format, token, interval_secs, tlp, collection, source,
                   openpgp_keys, require_signature, origin, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, url = excluded.url, format = excluded.format,
                   token = excluded.token, interval_secs = excluded.interval_secs, tlp = excluded.tlp,
                   collection = excluded.collection, source = excluded.source,
                   openpgp_keys = excluded.openpgp_keys, require_signature = excluded.require_signature,
                   origin = excluded.origin",
                &[
                    &pg_text(&f.name),
                    &pg_text(&f.kind),
                    &pg_text(&f.url),
                    &pg_opt(&f.format),
                    &pg_opt(&f.token),
                    &f.interval_secs,
                    &pg_opt(&f.tlp),
                    &pg_opt(&f.collection),
                    &pg_opt(&f.source),
                    &pg_opt(&keys),
                    &f.require_signature,
                    &pg_text(&f.origin),
                    &pg_text(&f.created_at),
                ],
            )?;
            Ok(())
        })
    }

    fn feed(&self, name: &str) -> Result<Option<FeedRecord>, StoreError> {
        self.with_reader(|c| {
            c.query_opt(
                concat!("SELECT ", feed_cols!(), " FROM feeds WHERE name = $1"),
                &[&pg_text(name)],
            )?
            .as_ref()
            .map(feed_row)
            .transpose()
        })
    }

    fn feeds(&self) -> Result<Vec<FeedRecord>, StoreError> {
        self.with_reader(|c| {
            c.query(
                concat!("SELECT ", feed_cols!(), " FROM feeds ORDER BY name"),
                &[],
            )?
            .iter()
            .map(feed_row)
            .collect()
        })
    }

    fn remove_feed(&self, name: &str) -> Result<bool, StoreError> {
        let name = pg_text(name);
        self.simple_write(|c| {
            c.execute("DELETE FROM feed_cursors WHERE feed = $1", &[&name])?;
            Ok(c.execute("DELETE FROM feeds WHERE name = $1", &[&name])? > 0)
        })
    }

    fn feed_cursors(&self, feed: &str) -> Result<Vec<FeedCursor>, StoreError> {
        self.with_reader(|c| {
            c.query(
                "SELECT key, etag, last_modified, value, updated_at FROM feed_cursors WHERE feed = $1 ORDER BY key",
                &[&pg_text(feed)],
            )?
            .iter()
            .map(cursor_row)
            .collect()
        })
    }

    fn put_feed_cursor(&self, feed: &str, k: &FeedCursor) -> Result<(), StoreError> {
        self.simple_write(|c| {
            c.execute(
                "INSERT INTO feed_cursors (feed, key, etag, last_modified, value, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (feed, key) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,
                   value = excluded.value, updated_at = excluded.updated_at",
                &[
                    &pg_text(feed),
                    &pg_text(&k.key),
                    &pg_opt(&k.etag),
                    &pg_opt(&k.last_modified),
                    &pg_opt(&k.value),
                    &pg_text(&k.updated_at),
                ],
            )?;
            Ok(())
        })
    }

    fn record_feed_pull(&self, feed: &str, p: &FeedPullRecord) -> Result<(), StoreError> {
        let (name, at) = (pg_text(feed), pg_text(&p.at));
        self.simple_write(|c| {
            let n = match &p.error {
                None => c.execute(
                    "UPDATE feeds SET last_attempt = $2, last_success = $2, last_added = $3,
                       objects_added = objects_added + $3, objects_updated = objects_updated + $4,
                       pulls = pulls + 1, bytes = bytes + $5 WHERE name = $1",
                    &[&name, &at, &p.added, &p.updated, &p.bytes],
                )?,
                Some(e) => c.execute(
                    "UPDATE feeds SET last_attempt = $2, last_error = $6, last_error_at = $2,
                       objects_added = objects_added + $3, objects_updated = objects_updated + $4,
                       pulls = pulls + 1, bytes = bytes + $5 WHERE name = $1",
                    &[&name, &at, &p.added, &p.updated, &p.bytes, &pg_text(e)],
                )?,
            };
            if n == 0 {
                return Err(StoreError::Aborted(format!("no feed named `{feed}`")));
            }
            Ok(())
        })
    }

    fn claim_feed(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<FeedClaim, StoreError> {
        let (name, holder) = (pg_text(name), pg_text(holder));
        // One statement, so a claim is atomic by itself (a concurrent one waits for the row and then finds the
        // lease taken); `simple_write`'s advisory lock lets claims of all processes run one after another anyway.
        self.simple_write(|c| {
            let taken = c.query_opt(
                concat!(
                    "UPDATE feeds SET lease_holder = $2, lease_until = $4
                     WHERE name = $1 AND (lease_until IS NULL OR lease_until <= $3)
                     RETURNING ",
                    feed_cols!()
                ),
                &[&name, &holder, &sort_key(&now), &sort_key(&until)],
            )?;
            if let Some(r) = taken {
                return Ok(FeedClaim::Taken(Box::new(feed_row(&r)?)));
            }
            let Some(r) = c.query_opt(
                "SELECT lease_holder, lease_until FROM feeds WHERE name = $1",
                &[&name],
            )?
            else {
                return Ok(FeedClaim::Missing);
            };
            match (r.try_get(0)?, r.try_get(1)?) {
                (Some(holder), Some(until)) => Ok(FeedClaim::Held(FeedLease { holder, until })),
                // Not reachable under the writers' lock: the UPDATE above would have taken a free lease.
                _ => Err(StoreError::Aborted(format!(
                    "the lease of feed `{name}` changed while it was claimed"
                ))),
            }
        })
    }

    fn renew_feed(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (name, holder) = (pg_text(name), pg_text(holder));
        self.simple_write(|c| {
            Ok(c.execute(
                "UPDATE feeds SET lease_until = $3 WHERE name = $1 AND lease_holder = $2",
                &[&name, &holder, &sort_key(&until)],
            )? > 0)
        })
    }

    fn release_feed(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let (name, holder) = (pg_text(name), pg_text(holder));
        self.simple_write(|c| {
            Ok(c.execute(
                "UPDATE feeds SET lease_holder = NULL, lease_until = NULL WHERE name = $1 AND lease_holder = $2",
                &[&name, &holder],
            )? > 0)
        })
    }
}
