//! The SQLite side of [`FeedStore`].

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use vigil_model::time::sort_key;

use super::SqliteStore;
use crate::feeds::{
    FeedClaim, FeedCursor, FeedLease, FeedPullRecord, FeedRecord, FeedStatus, FeedStore,
};
use crate::StoreError;

/// Feeds and their cursors (appended to `schema::MIGRATIONS`).
pub const FEEDS_MIGRATION: &str = r#"
    CREATE TABLE feeds (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        url TEXT NOT NULL,
        format TEXT,
        token TEXT,
        interval_secs INTEGER NOT NULL,
        tlp TEXT,
        collection TEXT,
        source TEXT,
        origin TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_attempt TEXT,
        last_success TEXT,
        last_error TEXT,
        last_error_at TEXT,
        last_added INTEGER NOT NULL DEFAULT 0,
        objects_added INTEGER NOT NULL DEFAULT 0,
        objects_updated INTEGER NOT NULL DEFAULT 0,
        pulls INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE feed_cursors (
        feed TEXT NOT NULL,
        key TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        value TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (feed, key)
    ) WITHOUT ROWID;
"#;

/// A CSAF feed's trusted OpenPGP keys and whether it requires signatures (appended to `schema::MIGRATIONS`), in a
/// table of their own (one row per feed that has either) so that the migration can run again on a store set back
/// to an older version (`ALTER TABLE ... ADD COLUMN` cannot). The fingerprints are one space-separated string: a
/// handful per feed, always read and written whole.
pub const FEED_KEYS_MIGRATION: &str = r#"
    CREATE TABLE IF NOT EXISTS feed_keys (
        feed TEXT PRIMARY KEY,
        openpgp_keys TEXT,
        require_signature INTEGER NOT NULL DEFAULT 0
    );
"#;

/// Who is pulling a feed (`FeedStore::claim_feed`; appended to `schema::MIGRATIONS`). A table of its own, like
/// `feed_keys`, so that the migration can run again on a store set back to an older version. `until` is a
/// `time::sort_key`, compared as text.
pub const FEED_LEASES_MIGRATION: &str = r#"
    CREATE TABLE IF NOT EXISTS feed_leases (
        feed TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until TEXT NOT NULL
    ) WITHOUT ROWID;
"#;

const FEED_COLS: &str = "name, kind, url, format, token, interval_secs, tlp, collection, source, origin, created_at, \
     last_attempt, last_success, last_error, last_error_at, last_added, objects_added, objects_updated, pulls, bytes, \
     k.openpgp_keys, coalesce(k.require_signature, 0), l.holder, l.until \
     FROM feeds LEFT JOIN feed_keys k ON k.feed = feeds.name LEFT JOIN feed_leases l ON l.feed = feeds.name";

fn feed_row(r: &rusqlite::Row) -> rusqlite::Result<FeedRecord> {
    Ok(FeedRecord {
        name: r.get(0)?,
        kind: r.get(1)?,
        url: r.get(2)?,
        format: r.get(3)?,
        token: r.get(4)?,
        interval_secs: r.get(5)?,
        tlp: r.get(6)?,
        collection: r.get(7)?,
        source: r.get(8)?,
        origin: r.get(9)?,
        created_at: r.get(10)?,
        openpgp_keys: r
            .get::<_, Option<String>>(20)?
            .map(|k| k.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        require_signature: r.get(21)?,
        status: FeedStatus {
            last_attempt: r.get(11)?,
            last_success: r.get(12)?,
            last_error: r.get(13)?,
            last_error_at: r.get(14)?,
            last_added: r.get(15)?,
            objects_added: r.get(16)?,
            objects_updated: r.get(17)?,
            pulls: r.get(18)?,
            bytes: r.get(19)?,
        },
        lease: match (r.get(22)?, r.get(23)?) {
            (Some(holder), Some(until)) => Some(FeedLease { holder, until }),
            _ => None,
        },
    })
}

impl FeedStore for SqliteStore {
    fn put_feed(&self, f: &FeedRecord) -> Result<(), StoreError> {
        self.simple_write(|c| {
            c.prepare_cached(
                "INSERT INTO feeds (name, kind, url, format, token, interval_secs, tlp, collection, source, origin, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, url = excluded.url, format = excluded.format,
                   token = excluded.token, interval_secs = excluded.interval_secs, tlp = excluded.tlp,
                   collection = excluded.collection, source = excluded.source, origin = excluded.origin",
            )?
            .execute(params![
                f.name,
                f.kind,
                f.url,
                f.format,
                f.token,
                f.interval_secs,
                f.tlp,
                f.collection,
                f.source,
                f.origin,
                f.created_at
            ])?;
            c.prepare_cached("DELETE FROM feed_keys WHERE feed = ?1")?
                .execute([&f.name])?;
            if !f.openpgp_keys.is_empty() || f.require_signature {
                c.prepare_cached(
                    "INSERT INTO feed_keys (feed, openpgp_keys, require_signature) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![
                    f.name,
                    (!f.openpgp_keys.is_empty()).then(|| f.openpgp_keys.join(" ")),
                    f.require_signature
                ])?;
            }
            Ok(())
        })
    }

    fn feed(&self, name: &str) -> Result<Option<FeedRecord>, StoreError> {
        self.with_reader(|c| {
            Ok(
                c.prepare_cached(&format!("SELECT {FEED_COLS} WHERE name = ?1"))?
                    .query_row([name], feed_row)
                    .optional()?,
            )
        })
    }

    fn feeds(&self) -> Result<Vec<FeedRecord>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!("SELECT {FEED_COLS} ORDER BY name"))?;
            let rows = st.query_map([], feed_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn remove_feed(&self, name: &str) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            c.execute("DELETE FROM feed_cursors WHERE feed = ?1", [name])?;
            c.execute("DELETE FROM feed_keys WHERE feed = ?1", [name])?;
            c.execute("DELETE FROM feed_leases WHERE feed = ?1", [name])?;
            Ok(c.execute("DELETE FROM feeds WHERE name = ?1", [name])? > 0)
        })
    }

    fn feed_cursors(&self, feed: &str) -> Result<Vec<FeedCursor>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT key, etag, last_modified, value, updated_at FROM feed_cursors WHERE feed = ?1 ORDER BY key",
            )?;
            let rows = st.query_map([feed], |r| {
                Ok(FeedCursor {
                    key: r.get(0)?,
                    etag: r.get(1)?,
                    last_modified: r.get(2)?,
                    value: r.get(3)?,
                    updated_at: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn put_feed_cursor(&self, feed: &str, k: &FeedCursor) -> Result<(), StoreError> {
        self.simple_write(|c| {
            c.prepare_cached(
                "INSERT INTO feed_cursors (feed, key, etag, last_modified, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (feed, key) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,
                   value = excluded.value, updated_at = excluded.updated_at",
            )?
            .execute(params![feed, k.key, k.etag, k.last_modified, k.value, k.updated_at])?;
            Ok(())
        })
    }

    fn record_feed_pull(&self, feed: &str, p: &FeedPullRecord) -> Result<(), StoreError> {
        self.simple_write(|c| {
            let n = match &p.error {
                None => c.execute(
                    "UPDATE feeds SET last_attempt = ?2, last_success = ?2, last_added = ?3,
                       objects_added = objects_added + ?3, objects_updated = objects_updated + ?4,
                       pulls = pulls + 1, bytes = bytes + ?5 WHERE name = ?1",
                    params![feed, p.at, p.added, p.updated, p.bytes],
                )?,
                Some(e) => c.execute(
                    "UPDATE feeds SET last_attempt = ?2, last_error = ?6, last_error_at = ?2,
                       objects_added = objects_added + ?3, objects_updated = objects_updated + ?4,
                       pulls = pulls + 1, bytes = bytes + ?5 WHERE name = ?1",
                    params![feed, p.at, p.added, p.updated, p.bytes, e],
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
        // `simple_write` begins IMMEDIATE: the database's write lock, which other processes on the same file wait
        // for too, makes the look and the take one step.
        self.simple_write(|c| {
            let exists = c
                .prepare_cached("SELECT 1 FROM feeds WHERE name = ?1")?
                .exists([name])?;
            if !exists {
                return Ok(FeedClaim::Missing);
            }
            let held = c
                .prepare_cached(
                    "SELECT holder, until FROM feed_leases WHERE feed = ?1 AND until > ?2",
                )?
                .query_row(params![name, sort_key(&now)], |r| {
                    Ok(FeedLease {
                        holder: r.get(0)?,
                        until: r.get(1)?,
                    })
                })
                .optional()?;
            if let Some(lease) = held {
                return Ok(FeedClaim::Held(lease));
            }
            c.prepare_cached(
                "INSERT INTO feed_leases (feed, holder, until) VALUES (?1, ?2, ?3)
                 ON CONFLICT (feed) DO UPDATE SET holder = excluded.holder, until = excluded.until",
            )?
            .execute(params![name, holder, sort_key(&until)])?;
            let feed = c
                .prepare_cached(&format!("SELECT {FEED_COLS} WHERE name = ?1"))?
                .query_row([name], feed_row)?;
            Ok(FeedClaim::Taken(Box::new(feed)))
        })
    }

    fn renew_feed(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(c.prepare_cached(
                "UPDATE feed_leases SET until = ?3 WHERE feed = ?1 AND holder = ?2",
            )?
            .execute(params![name, holder, sort_key(&until)])?
                > 0)
        })
    }

    fn release_feed(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(
                c.prepare_cached("DELETE FROM feed_leases WHERE feed = ?1 AND holder = ?2")?
                    .execute(params![name, holder])?
                    > 0,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str) -> FeedRecord {
        FeedRecord {
            name: name.into(),
            kind: "url".into(),
            url: "https://example.org/x.json".into(),
            format: None,
            token: Some("secret".into()),
            interval_secs: 3600,
            tlp: Some("green".into()),
            collection: None,
            source: None,
            origin: "cli".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            openpgp_keys: Vec::new(),
            require_signature: false,
            status: FeedStatus::default(),
            lease: None,
        }
    }

    #[test]
    fn feeds_roundtrip() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()))?;
        let s = SqliteStore::open(dir.path())?;
        s.put_feed(&rec("a"))?;
        s.put_feed(&rec("b"))?;
        assert_eq!(s.feeds()?.len(), 2);
        s.record_feed_pull(
            "a",
            &FeedPullRecord {
                at: "t1".into(),
                error: None,
                added: 5,
                updated: 1,
                bytes: 100,
            },
        )?;
        s.record_feed_pull(
            "a",
            &FeedPullRecord {
                at: "t2".into(),
                error: Some("boom".into()),
                added: 0,
                updated: 0,
                bytes: 0,
            },
        )?;
        let a = s.feed("a")?.ok_or(StoreError::Db("missing".into()))?;
        assert_eq!(a.status.objects_added, 5);
        assert_eq!(a.status.pulls, 2);
        assert_eq!(a.status.last_success.as_deref(), Some("t1"));
        assert_eq!(a.status.last_error.as_deref(), Some("boom"));
        // Redefining keeps the status; a CSAF feed's trusted keys and signature rule are kept and replaced whole.
        let keyed = FeedRecord {
            kind: "csaf".into(),
            openpgp_keys: vec!["A".repeat(40), "B".repeat(64)],
            require_signature: true,
            ..rec("a")
        };
        s.put_feed(&keyed)?;
        let got = s
            .feed("a")?
            .ok_or(StoreError::Aborted("no feed a".into()))?;
        assert_eq!(got.status.objects_added, 5);
        assert_eq!(
            (got.openpgp_keys, got.require_signature),
            (keyed.openpgp_keys, true)
        );
        s.put_feed(&rec("a"))?;
        let got = s
            .feed("a")?
            .ok_or(StoreError::Aborted("no feed a".into()))?;
        assert_eq!(got.status.objects_added, 5);
        assert!(got.openpgp_keys.is_empty() && !got.require_signature);
        let k = FeedCursor {
            key: "u".into(),
            etag: Some("\"x\"".into()),
            last_modified: None,
            value: None,
            updated_at: "t".into(),
        };
        s.put_feed_cursor("a", &k)?;
        s.put_feed_cursor(
            "a",
            &FeedCursor {
                value: Some("v".into()),
                ..k.clone()
            },
        )?;
        assert_eq!(s.feed_cursors("a")?.len(), 1);
        assert_eq!(s.feed_cursors("a")?[0].value.as_deref(), Some("v"));
        assert!(s.remove_feed("a")?);
        assert!(!s.remove_feed("a")?);
        assert!(s.feed_cursors("a")?.is_empty());
        assert!(s.record_feed_pull("a", &FeedPullRecord::default()).is_err());
        // JSON never carries the token.
        let j = serde_json::to_string(&rec("c")).map_err(|e| StoreError::Db(e.to_string()))?;
        assert!(!j.contains("secret"));
        Ok(())
    }
}
