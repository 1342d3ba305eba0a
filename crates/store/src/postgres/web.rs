//! The PostgreSQL side of [`crate::WebStore`]: dashboard users, sessions, and visibility-scoped counts and scans.

use ::postgres::types::ToSql;
use ::postgres::Row;

use super::members::visibility_sql;
use super::{row_to_stored, tlp_from_rank, tlp_rank, Conn, PostgresStore, SCAN_BATCH};
use crate::members::ReadScope;
use crate::web::{ScopedCounts, SessionRecord, UserRecord, WebStore};
use crate::{StoreError, StoredObject};

/// Users and sessions (appended to `schema::MIGRATIONS`). User names are unique without regard to case, so that
/// `Alice` and `alice` can never be two people. The case is folded for ASCII letters only, as SQLite's `NOCASE`
/// folds it (`Émile` and `émile` are two names there, and must be here too), and with `translate` rather than
/// `lower`: `lower` follows the database's collation, which could change under the index.
pub(super) const SCHEMA: &str = r#"
    CREATE TABLE users (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        member_id BIGINT NOT NULL,
        username TEXT NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_login TEXT
    );
    CREATE UNIQUE INDEX users_username ON users
        (translate(username, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'));
    CREATE TABLE sessions (
        digest TEXT PRIMARY KEY,
        user_id BIGINT,
        token_id BIGINT,
        member_id BIGINT NOT NULL,
        role TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user_id);
"#;

/// The indexed form of a user name (the index's expression, which a query must repeat to use it), compared with
/// the name folded in Rust by [`fold`].
macro_rules! folded_username {
    () => {
        "translate(username, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
    };
}

macro_rules! user_cols {
    () => {
        "id, member_id, username, name, role, hash, created_at, last_login"
    };
}

/// A user name as the index holds it: ASCII letters in lower case, everything else as it is.
fn fold(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// Timestamps of these tables, in the same sortable form as SQLite writes them.
fn now() -> String {
    vigil_model::time::sort_key(&chrono::Utc::now())
}

fn user_row(r: &Row) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: r.try_get(0)?,
        member_id: r.try_get(1)?,
        username: r.try_get(2)?,
        name: r.try_get(3)?,
        role: r.try_get(4)?,
        hash: r.try_get(5)?,
        created_at: r.try_get(6)?,
        last_login: r.try_get(7)?,
    })
}

/// Age buckets of the overview: label and the oldest age (in days) that still falls in it.
const AGES: &[(&str, i64)] = &[
    ("last 24 hours", 1),
    ("last 7 days", 7),
    ("last 30 days", 30),
    ("last year", 365),
];

/// The column a link query matches ends against: relationship sources or targets, each with a partial index of
/// latest versions. The `IS NOT NULL` term lets the planner prove a query fits that index's predicate.
fn end_column(from_source: bool) -> &'static str {
    if from_source {
        "src"
    } else {
        "dst"
    }
}

/// Streams the objects a query over `objects o` selects (columns [`O_ROW_COLS`]) in batches: a dashboard list of
/// every indicator would otherwise arrive at once.
fn stream(
    c: &mut Conn,
    sql: &str,
    args: &[&(dyn ToSql + Sync)],
    f: &mut dyn FnMut(StoredObject) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut tx = c.client.build_transaction().read_only(true).start()?;
    let portal = tx.bind(sql, args)?;
    loop {
        let rows = tx.query_portal(&portal, SCAN_BATCH)?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            f(row_to_stored(r)?)?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The columns `row_to_stored` reads, of the row aliased `o`.
const O_ROW_COLS: &str = "o.seq, o.added_at, o.tlp, o.json";

impl WebStore for PostgresStore {
    fn add_user(
        &self,
        member_id: i64,
        username: &str,
        name: &str,
        role: &str,
        hash: &str,
    ) -> Result<UserRecord, StoreError> {
        self.simple_write(|c| {
            let now = now();
            let id: i64 = c
                .query_opt(
                    "INSERT INTO users (member_id, username, name, role, hash, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    &[&member_id, &username, &name, &role, &hash, &now],
                )?
                .ok_or_else(|| StoreError::Db("user insert returned no id".into()))?
                .try_get(0)?;
            Ok(UserRecord {
                id,
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
        // A login form's text reaches here as typed; PostgreSQL refuses NUL in a parameter (an error page), and
        // no stored name holds one.
        if username.contains('\0') {
            return Ok(None);
        }
        self.with_reader(|c| {
            c.query_opt(
                concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM users WHERE ",
                    folded_username!(),
                    " = $1"
                ),
                &[&fold(username)],
            )?
            .as_ref()
            .map(user_row)
            .transpose()
        })
    }

    fn user(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        self.with_reader(|c| {
            c.query_opt(
                concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(user_row)
            .transpose()
        })
    }

    fn users(&self, member: Option<i64>) -> Result<Vec<UserRecord>, StoreError> {
        self.with_reader(|c| {
            c.query(
                concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM users WHERE $1::BIGINT IS NULL OR member_id = $1 ORDER BY id"
                ),
                &[&member],
            )?
            .iter()
            .map(user_row)
            .collect()
        })
    }

    fn remove_user(&self, username: &str) -> Result<bool, StoreError> {
        if username.contains('\0') {
            return Ok(false);
        }
        self.simple_write(|c| {
            let Some(row) = c.query_opt(
                concat!(
                    "DELETE FROM users WHERE ",
                    folded_username!(),
                    " = $1 RETURNING id"
                ),
                &[&fold(username)],
            )?
            else {
                return Ok(false);
            };
            let id: i64 = row.try_get(0)?;
            c.execute("DELETE FROM sessions WHERE user_id = $1", &[&id])?;
            Ok(true)
        })
    }

    fn record_login(&self, user_id: i64) -> Result<(), StoreError> {
        self.simple_write(|c| {
            c.execute(
                "UPDATE users SET last_login = $2 WHERE id = $1",
                &[&user_id, &now()],
            )?;
            Ok(())
        })
    }

    fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        self.simple_write(|c| {
            // Expiry instants are written in one RFC 3339 form (UTC, `Z`), so text order is time order.
            c.execute(
                "DELETE FROM sessions WHERE expires_at < $1",
                &[&s.created_at],
            )?;
            c.execute(
                "INSERT INTO sessions (digest, user_id, token_id, member_id, role, csrf, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &s.digest,
                    &s.user_id,
                    &s.token_id,
                    &s.member_id,
                    &s.role,
                    &s.csrf,
                    &s.created_at,
                    &s.expires_at,
                ],
            )?;
            Ok(())
        })
    }

    fn session(&self, digest: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.with_reader(|c| {
            c.query_opt(
                "SELECT digest, user_id, token_id, member_id, role, csrf, created_at, expires_at FROM sessions
                 WHERE digest = $1",
                &[&digest],
            )?
            .map(|r| {
                Ok(SessionRecord {
                    digest: r.try_get(0)?,
                    user_id: r.try_get(1)?,
                    token_id: r.try_get(2)?,
                    member_id: r.try_get(3)?,
                    role: r.try_get(4)?,
                    csrf: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                    expires_at: r.try_get(7)?,
                })
            })
            .transpose()
        })
    }

    fn remove_session(&self, digest: &str) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(c.execute("DELETE FROM sessions WHERE digest = $1", &[&digest])? > 0)
        })
    }

    fn scoped_counts(&self, scope: &ReadScope, now: &str) -> Result<ScopedCounts, StoreError> {
        let vis = visibility_sql(scope);
        let d = tlp_rank(Some(scope.default_tlp)).unwrap_or_default();
        let now_t = chrono::DateTime::parse_from_rfc3339(now)
            .map_err(|e| StoreError::Aborted(format!("bad instant {now}: {e}")))?
            .with_timezone(&chrono::Utc);
        // `version` holds `modified` as a normalised RFC 3339 key: comparing text against cut-offs in the same form
        // is comparing instants. Objects without a version (derived ones: empty) fall in "older". One pass over the
        // objects groups by every dimension at once (four separate GROUP BYs cost four passes).
        let cuts: Vec<String> = AGES
            .iter()
            .map(|(_, days)| vigil_model::time::sort_key(&(now_t - chrono::Duration::days(*days))))
            .collect();
        let mut case = String::from("CASE");
        for (i, _) in AGES.iter().enumerate() {
            case.push_str(&format!(" WHEN o.version >= ${}::TEXT THEN {i}", i + 1));
        }
        case.push_str(&format!(" ELSE {} END", AGES.len()));
        // `source` is the row's first provenance, as SQLite's `row_source!()` reads it.
        let sql = format!(
            "SELECT o.type, o.source, COALESCE(o.tlp, {d})::SMALLINT, {case} AS b, count(*) FROM objects o
             WHERE o.latest AND NOT o.retired AND {vis} GROUP BY 1, 2, 3, 4"
        );
        let args: Vec<&(dyn ToSql + Sync)> =
            cuts.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
        self.with_reader(|c| {
            let mut out = ScopedCounts::default();
            let mut buckets = vec![0u64; AGES.len() + 1];
            for r in &c.client.query(sql.as_str(), &args)? {
                let ty: String = r.try_get(0)?;
                let source: String = r.try_get(1)?;
                let t: i16 = r.try_get(2)?;
                let b: i32 = r.try_get(3)?;
                let n = r.try_get::<_, i64>(4)? as u64;
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
        let mut sql = format!(
            "SELECT {O_ROW_COLS} FROM objects o WHERE o.latest AND NOT o.retired AND {vis}"
        );
        let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if !types.is_empty() {
            sql.push_str(" AND o.type = ANY($1::TEXT[])");
            args.push(&types);
        }
        sql.push_str(if newest_first {
            " ORDER BY o.seq DESC"
        } else {
            " ORDER BY o.seq"
        });
        if let Some(l) = limit {
            sql.push_str(&format!(" LIMIT {l}"));
        }
        self.with_reader(|c| stream(c, &sql, &args, f))
    }

    fn scan_links(
        &self,
        scope: &ReadScope,
        ends: &[&str],
        from_source: bool,
        f: &mut dyn FnMut(StoredObject) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let vis = visibility_sql(scope);
        let col = end_column(from_source);
        // Ends are indexed as text, so a match is the id itself (SQLite matches a hash and checks the id after).
        let sql = format!(
            "SELECT {O_ROW_COLS} FROM objects o WHERE o.{col} = ANY($1::TEXT[]) AND o.{col} IS NOT NULL
               AND o.latest AND NOT o.retired AND o.type = 'relationship' AND {vis} ORDER BY o.seq"
        );
        self.with_reader(|c| stream(c, &sql, &[&ends], f))
    }

    fn link_counts(
        &self,
        scope: &ReadScope,
        ends: &[&str],
        from_source: bool,
        period_len: usize,
    ) -> Result<Vec<(String, String, u64)>, StoreError> {
        let vis = visibility_sql(scope);
        let col = end_column(from_source);
        let len = i32::try_from(period_len).unwrap_or(i32::MAX);
        // Ordered by end and period, so that the answer does not depend on the plan (SQLite's follows its hashes).
        let sql = format!(
            "SELECT o.{col}, substr(o.version, 1, $2) AS p, count(*) FROM objects o
             WHERE o.{col} = ANY($1::TEXT[]) AND o.{col} IS NOT NULL AND o.latest AND NOT o.retired
               AND o.type = 'relationship' AND {vis} GROUP BY 1, 2 ORDER BY 1, 2"
        );
        self.with_reader(|c| {
            c.client
                .query(sql.as_str(), &[&ends, &len])?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get::<_, i64>(2)? as u64)))
                .collect()
        })
    }
}
