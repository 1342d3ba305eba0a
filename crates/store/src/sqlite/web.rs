//! The SQLite side of [`WebStore`]: dashboard users, sessions, and visibility-scoped counts and scans.

use rusqlite::{params, params_from_iter, types::Value as SqlValue, OptionalExtension};

use super::members::visibility_sql;
use super::{added_at, h64, now_micros, row_to_stored, tlp_from_rank, tlp_rank, SqliteStore};
use crate::members::ReadScope;
use crate::web::{ScopedCounts, SessionRecord, UserRecord, WebStore};
use crate::{StoreError, StoredObject};

/// Users and sessions (appended to `schema::MIGRATIONS`). User names are unique without regard to case, so that
/// `Alice` and `alice` can never be two people.
pub const WEB_MIGRATION: &str = r#"
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        member_id INTEGER NOT NULL,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_login TEXT
    );
    CREATE TABLE sessions (
        digest TEXT PRIMARY KEY,
        user_id INTEGER,
        token_id INTEGER,
        member_id INTEGER NOT NULL,
        role TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_user ON sessions(user_id);
"#;

const USER_COLS: &str = "id, member_id, username, name, role, hash, created_at, last_login";

fn user_row(r: &rusqlite::Row) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: r.get(0)?,
        member_id: r.get(1)?,
        username: r.get(2)?,
        name: r.get(3)?,
        role: r.get(4)?,
        hash: r.get(5)?,
        created_at: r.get(6)?,
        last_login: r.get(7)?,
    })
}

/// Age buckets of the overview: label and the oldest age (in days) that still falls in it.
const AGES: &[(&str, i64)] = &[
    ("last 24 hours", 1),
    ("last 7 days", 7),
    ("last 30 days", 30),
    ("last year", 365),
];

/// The FROM and first WHERE terms of a query over relationships whose source (or target) hash is in the JSON
/// array `?1`: `edge_src` for sources, the partial index `objects_dst` for targets.
fn links_from(from_source: bool) -> &'static str {
    if from_source {
        "edge_src e CROSS JOIN objects o ON o.seq = e.seq WHERE e.src IN (SELECT value FROM json_each(?1))"
    } else {
        "objects o INDEXED BY objects_dst WHERE o.dst IN (SELECT value FROM json_each(?1)) AND o.dst IS NOT NULL"
    }
}

impl WebStore for SqliteStore {
    fn add_user(
        &self,
        member_id: i64,
        username: &str,
        name: &str,
        role: &str,
        hash: &str,
    ) -> Result<UserRecord, StoreError> {
        self.simple_write(|c| {
            let now = now_micros();
            c.prepare_cached(
                "INSERT INTO users (member_id, username, name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![member_id, username, name, role, hash, now])?;
            Ok(UserRecord {
                id: c.last_insert_rowid(),
                member_id,
                username: username.into(),
                name: name.into(),
                role: role.into(),
                hash: hash.into(),
                created_at: now,
                last_login: None,
            })
        })
    }

    fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {USER_COLS} FROM users WHERE username = ?1"
            ))?
            .query_row([username], user_row)
            .optional()?)
        })
    }

    fn user(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        self.with_reader(|c| {
            Ok(
                c.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))?
                    .query_row([id], user_row)
                    .optional()?,
            )
        })
    }

    fn users(&self, member: Option<i64>) -> Result<Vec<UserRecord>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {USER_COLS} FROM users WHERE ?1 IS NULL OR member_id = ?1 ORDER BY id"
            ))?;
            let rows = st.query_map([member], user_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn remove_user(&self, username: &str) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            let id: Option<i64> = c
                .prepare_cached("SELECT id FROM users WHERE username = ?1")?
                .query_row([username], |r| r.get(0))
                .optional()?;
            let Some(id) = id else { return Ok(false) };
            c.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
                .execute([id])?;
            c.prepare_cached("DELETE FROM users WHERE id = ?1")?
                .execute([id])?;
            Ok(true)
        })
    }

    fn record_login(&self, user_id: i64) -> Result<(), StoreError> {
        self.simple_write(|c| {
            c.prepare_cached("UPDATE users SET last_login = ?2 WHERE id = ?1")?
                .execute(params![user_id, now_micros()])?;
            Ok(())
        })
    }

    fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        self.simple_write(|c| {
            // Expiry instants are written in one RFC 3339 form (UTC, `Z`), so text order is time order.
            c.prepare_cached("DELETE FROM sessions WHERE expires_at < ?1")?
                .execute([&s.created_at])?;
            c.prepare_cached(
                "INSERT INTO sessions (digest, user_id, token_id, member_id, role, csrf, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                s.digest,
                s.user_id,
                s.token_id,
                s.member_id,
                s.role,
                s.csrf,
                s.created_at,
                s.expires_at
            ])?;
            Ok(())
        })
    }

    fn session(&self, digest: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.with_reader(|c| {
            Ok(c
                .prepare_cached(
                    "SELECT digest, user_id, token_id, member_id, role, csrf, created_at, expires_at FROM sessions WHERE digest = ?1",
                )?
                .query_row([digest], |r| {
                    Ok(SessionRecord {
                        digest: r.get(0)?,
                        user_id: r.get(1)?,
                        token_id: r.get(2)?,
                        member_id: r.get(3)?,
                        role: r.get(4)?,
                        csrf: r.get(5)?,
                        created_at: r.get(6)?,
                        expires_at: r.get(7)?,
                    })
                })
                .optional()?)
        })
    }

    fn remove_session(&self, digest: &str) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(c.prepare_cached("DELETE FROM sessions WHERE digest = ?1")?
                .execute([digest])?
                > 0)
        })
    }

    fn scoped_counts(&self, scope: &ReadScope, now: &str) -> Result<ScopedCounts, StoreError> {
        let vis = visibility_sql(scope);
        let d = tlp_rank(scope.default_tlp);
        let now_t = chrono::DateTime::parse_from_rfc3339(now)
            .map_err(|e| StoreError::Aborted(format!("bad instant {now}: {e}")))?
            .with_timezone(&chrono::Utc);
        self.with_reader(|c| {
            let mut out = ScopedCounts::default();
            // `version` holds `modified` as a normalised RFC 3339 key: comparing text against cut-offs in the same
            // form is comparing instants. Objects without a version fall in "older". One pass over the objects
            // groups by every dimension at once (four separate GROUP BYs cost four passes).
            let cuts: Vec<String> = AGES
                .iter()
                .map(|(_, days)| {
                    vigil_model::time::sort_key(&(now_t - chrono::Duration::days(*days)))
                })
                .collect();
            let mut case = String::from("CASE");
            for (i, _) in AGES.iter().enumerate() {
                case.push_str(&format!(" WHEN o.version >= ?{} THEN {i}", i + 1));
            }
            case.push_str(&format!(" ELSE {} END", AGES.len()));
            let mut st = c.prepare(&format!(
                "SELECT o.type, {}, COALESCE(o.tlp, {d}), {case} AS b, count(*) FROM objects o {}
                 WHERE o.lk = 0 AND o.retired = 0 AND {vis} GROUP BY 1, 2, 3, 4",
                super::row_source!(),
                super::prov_join!()
            ))?;
            let mut buckets = vec![0u64; AGES.len() + 1];
            let rows = st.query_map(params_from_iter(cuts.iter()), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            for row in rows {
                let (ty, source, t, b, n) = row?;
                let n = n as u64;
                out.total += n;
                *out.by_type.entry(ty).or_default() += n;
                *out.by_source.entry(source).or_default() += n;
                let name = tlp_from_rank(Some(t))
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| "unmarked".into());
                *out.by_tlp.entry(name).or_default() += n;
                if let Some(slot) = usize::try_from(b).ok().and_then(|b| buckets.get_mut(b)) {
                    *slot += n;
                }
            }
            out.by_age = AGES
                .iter()
                .map(|(l, _)| l.to_string())
                .chain(std::iter::once("older".to_string()))
                .zip(buckets)
                .collect();
            Ok(out)
        })
    }

    fn scan_visible(
        &self,
        scope: &ReadScope,
        types: &[&str],
        newest_first: bool,
        limit: Option<usize>,
        f: &mut dyn FnMut(StoredObject) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let vis = visibility_sql(scope);
        self.with_reader(|c| {
            let mut sql = format!(
                "SELECT o.seq, {}, o.tlp, o.json FROM objects o WHERE o.lk = 0 AND o.retired = 0 AND {vis}",
                added_at!()
            );
            let mut args: Vec<SqlValue> = Vec::new();
            if !types.is_empty() {
                let marks: Vec<String> = (1..=types.len()).map(|i| format!("?{i}")).collect();
                sql.push_str(&format!(" AND o.type IN ({})", marks.join(",")));
                args.extend(types.iter().map(|t| SqlValue::Text((*t).to_string())));
            }
            sql.push_str(if newest_first {
                " ORDER BY o.seq DESC"
            } else {
                " ORDER BY o.seq"
            });
            if let Some(l) = limit {
                sql.push_str(&format!(" LIMIT {l}"));
            }
            let mut st = c.prepare(&sql)?;
            let mut rows = st.query(params_from_iter(args))?;
            while let Some(r) = rows.next()? {
                let json: super::StoredJson = r.get(3)?;
                f(row_to_stored(r.get(0)?, r.get(1)?, r.get(2)?, &json)?)?;
            }
            Ok(())
        })
    }

    fn scan_links(
        &self,
        scope: &ReadScope,
        ends: &[&str],
        from_source: bool,
        f: &mut dyn FnMut(StoredObject) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let vis = visibility_sql(scope);
        let hashes = serde_json::to_string(&ends.iter().map(|e| h64(e)).collect::<Vec<_>>())
            .map_err(|e| StoreError::Aborted(e.to_string()))?;
        self.with_reader(|c| {
            // `edge_src` / `dst` hold hashed ends and answer the IN list (the planner would otherwise walk every
            // relationship through the type index: 1.1 s instead of 0.1 s for a million).
            let from = links_from(from_source);
            let mut st = c.prepare(&format!(
                "SELECT o.seq, {}, o.tlp, o.json FROM {from}
                   AND o.lk = 0 AND o.retired = 0 AND o.type = 'relationship' AND {vis} ORDER BY o.seq",
                added_at!()
            ))?;
            let mut rows = st.query([&hashes])?;
            let key = if from_source { "source_ref" } else { "target_ref" };
            while let Some(r) = rows.next()? {
                let json: super::StoredJson = r.get(3)?;
                let o = row_to_stored(r.get(0)?, r.get(1)?, r.get(2)?, &json)?;
                // The hash matched; the id must too (a collision is not a link of these ends).
                if o.object.str(key).is_some_and(|id| ends.contains(&id)) {
                    f(o)?;
                }
            }
            Ok(())
        })
    }

    fn link_counts(
        &self,
        scope: &ReadScope,
        ends: &[&str],
        from_source: bool,
        period_len: usize,
    ) -> Result<Vec<(String, String, u64)>, StoreError> {
        let vis = visibility_sql(scope);
        let col = if from_source { "src" } else { "dst" };
        let by_hash: std::collections::HashMap<i64, &str> =
            ends.iter().map(|e| (h64(e), *e)).collect();
        let hashes = serde_json::to_string(&by_hash.keys().collect::<Vec<_>>())
            .map_err(|e| StoreError::Aborted(e.to_string()))?;
        self.with_reader(|c| {
            let from = links_from(from_source);
            let mut st = c.prepare(&format!(
                "SELECT o.{col}, substr(o.version, 1, ?2) AS p, count(*) FROM {from}
                   AND o.lk = 0 AND o.retired = 0 AND o.type = 'relationship' AND {vis} GROUP BY o.{col}, p"
            ))?;
            let rows = st.query_map(params![hashes, period_len as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (h, p, n) = row?;
                if let Some(id) = by_hash.get(&h) {
                    out.push(((*id).to_string(), p, n as u64));
                }
            }
            Ok(out)
        })
    }
}
