//! The SQLite side of [`WebStore`]: dashboard users, sessions, and visibility-scoped counts and scans.

use rusqlite::{params, params_from_iter, types::Value as SqlValue, OptionalExtension};

use super::members::visibility_sql;
use super::{now_micros, row_to_stored, tlp_from_rank, tlp_rank, SqliteStore};
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
            let base = format!("FROM objects o WHERE o.lk = 0 AND o.retired = 0 AND {vis}");
            let mut st = c.prepare(&format!("SELECT o.type, count(*) {base} GROUP BY o.type"))?;
            for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (k, n) = row?;
                out.total += n as u64;
                out.by_type.insert(k, n as u64);
            }
            let mut st = c.prepare(&format!(
                "SELECT o.source, count(*) {base} GROUP BY o.source"
            ))?;
            for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (k, n) = row?;
                out.by_source.insert(k, n as u64);
            }
            let mut st = c.prepare(&format!(
                "SELECT COALESCE(o.tlp, {d}), count(*) {base} GROUP BY COALESCE(o.tlp, {d})"
            ))?;
            for row in st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
                let (t, n) = row?;
                let name = tlp_from_rank(Some(t))
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| "unmarked".into());
                out.by_tlp.insert(name, n as u64);
            }
            // `version` holds `modified` as a normalised RFC 3339 key: comparing text against cut-offs in the same
            // form is comparing instants. Objects without a version fall in "older".
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
            let mut st = c.prepare(&format!("SELECT {case} AS b, count(*) {base} GROUP BY b"))?;
            let mut buckets = vec![0u64; AGES.len() + 1];
            let rows = st.query_map(params_from_iter(cuts.iter()), |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (b, n) = row?;
                if let Some(slot) = usize::try_from(b).ok().and_then(|b| buckets.get_mut(b)) {
                    *slot = n as u64;
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
                "SELECT o.seq, o.added_at, o.tlp, o.json FROM objects o WHERE o.lk = 0 AND o.retired = 0 AND {vis}"
            );
            let mut args: Vec<SqlValue> = Vec::new();
            if !types.is_empty() {
                let marks: Vec<String> = (1..=types.len()).map(|i| format!("?{i}")).collect();
                sql.push_str(&format!(" AND o.type IN ({})", marks.join(",")));
                args.extend(types.iter().map(|t| SqlValue::Text((*t).to_string())));
            }
            sql.push_str(if newest_first {
                " ORDER BY o.version DESC, o.seq DESC"
            } else {
                " ORDER BY o.seq"
            });
            if let Some(l) = limit {
                sql.push_str(&format!(" LIMIT {l}"));
            }
            let mut st = c.prepare(&sql)?;
            let mut rows = st.query(params_from_iter(args))?;
            while let Some(r) = rows.next()? {
                let json: String = r.get(3)?;
                f(row_to_stored(r.get(0)?, r.get(1)?, r.get(2)?, &json)?)?;
            }
            Ok(())
        })
    }
}
