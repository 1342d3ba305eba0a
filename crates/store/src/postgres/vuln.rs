//! The PostgreSQL side of [`crate::VulnStore`].

use std::collections::{HashMap, HashSet};

use postgres::Row;
use vigil_model::time;

use super::{pg_opt, pg_text, tlp_from_rank, tlp_rank, Conn, PostgresStore};
use crate::vuln::{
    AdvisoryRow, InventoryRecord, NoticeFilter, NoticeRecord, NoticeVersion, VulnStore,
};
use crate::{PutOutcome, StoreError};

/// The tables of vulnerability notices and of their delivery (`delivery.rs`), as in the SQLite backend. Every text
/// column is `COLLATE "C"`: SQLite compares and sorts bytes, and so must these, whatever the database's collation,
/// for both backends to list in the same order and for the `sort_key` times to compare as text. (`lower()` under
/// "C" folds ASCII only, as SQLite's `NOCASE` does.) Channels are never deleted, only marked removed, so the
/// delivery log keeps naming them.
pub(super) const SCHEMA: &str = r#"
    CREATE TABLE vuln_advisories (
        key TEXT COLLATE "C" PRIMARY KEY,
        source TEXT COLLATE "C" NOT NULL,
        canonical TEXT COLLATE "C" NOT NULL,
        tlp SMALLINT,
        json TEXT COLLATE "C" NOT NULL,
        updated_at TEXT COLLATE "C" NOT NULL
    );
    CREATE INDEX vuln_advisories_canonical ON vuln_advisories (canonical);
    CREATE TABLE vuln_epss (
        cve TEXT COLLATE "C" PRIMARY KEY,
        epss DOUBLE PRECISION NOT NULL,
        percentile DOUBLE PRECISION NOT NULL,
        score_date TEXT COLLATE "C",
        updated_at TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE inventories (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        member_id BIGINT NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        format TEXT COLLATE "C" NOT NULL,
        components BIGINT NOT NULL,
        errors BIGINT NOT NULL,
        imported_at TEXT COLLATE "C" NOT NULL,
        content BYTEA NOT NULL,
        UNIQUE (member_id, name)
    );
    CREATE TABLE notices (
        id TEXT COLLATE "C" PRIMARY KEY,
        member_id BIGINT NOT NULL,
        vulnerability TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        status TEXT COLLATE "C" NOT NULL,
        priority TEXT COLLATE "C" NOT NULL,
        deadline TEXT COLLATE "C",
        fingerprint TEXT COLLATE "C" NOT NULL,
        tlp SMALLINT,
        json TEXT COLLATE "C" NOT NULL,
        created_at TEXT COLLATE "C" NOT NULL,
        updated_at TEXT COLLATE "C" NOT NULL,
        acknowledged_at TEXT COLLATE "C",
        resolved_at TEXT COLLATE "C",
        status_note TEXT COLLATE "C",
        UNIQUE (member_id, vulnerability)
    );
    CREATE INDEX notices_member ON notices (member_id, status);
    CREATE INDEX notices_vulnerability ON notices (lower(vulnerability));
    CREATE TABLE notice_versions (
        notice_id TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        fingerprint TEXT COLLATE "C" NOT NULL,
        priority TEXT COLLATE "C" NOT NULL,
        deadline TEXT COLLATE "C",
        reason TEXT COLLATE "C" NOT NULL,
        created_at TEXT COLLATE "C" NOT NULL,
        json TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (notice_id, version)
    );
    CREATE TABLE notify_channels (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        member_id BIGINT NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        target TEXT COLLATE "C" NOT NULL,
        secret TEXT COLLATE "C",
        digest TEXT COLLATE "C",
        created_at TEXT COLLATE "C" NOT NULL,
        removed_at TEXT COLLATE "C"
    );
    CREATE INDEX notify_channels_member ON notify_channels (member_id) WHERE removed_at IS NULL;
    CREATE TABLE notify_deliveries (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        channel_id BIGINT NOT NULL,
        member_id BIGINT NOT NULL,
        notice_id TEXT COLLATE "C" NOT NULL,
        notice_version BIGINT NOT NULL,
        fingerprint TEXT COLLATE "C" NOT NULL,
        status TEXT COLLATE "C" NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        next_attempt_at TEXT COLLATE "C",
        last_attempt_at TEXT COLLATE "C",
        last_error TEXT COLLATE "C",
        message_id TEXT COLLATE "C",
        created_at TEXT COLLATE "C" NOT NULL,
        sent_at TEXT COLLATE "C",
        UNIQUE (notice_id, fingerprint, channel_id)
    );
    CREATE INDEX notify_deliveries_due ON notify_deliveries (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX notify_deliveries_member ON notify_deliveries (member_id, id);
"#;

/// Rows sent per statement by the bulk writes (advisories, EPSS scores): one round trip each rather than one per
/// row, which over a network is most of a daily EPSS import (~250,000 rows).
const BATCH: usize = 1000;

macro_rules! notice_cols {
    () => {
        "id, member_id, vulnerability, version, status, priority, deadline, fingerprint, tlp, json, created_at, \
         updated_at, acknowledged_at, resolved_at, status_note"
    };
}

macro_rules! inventory_cols {
    () => {
        "id, member_id, name, format, components, errors, imported_at, content"
    };
}

fn notice_row(r: &Row) -> Result<NoticeRecord, StoreError> {
    Ok(NoticeRecord {
        id: r.try_get(0)?,
        member_id: r.try_get(1)?,
        vulnerability: r.try_get(2)?,
        version: r.try_get(3)?,
        status: r.try_get(4)?,
        priority: r.try_get(5)?,
        deadline: r.try_get(6)?,
        fingerprint: r.try_get(7)?,
        tlp: tlp_from_rank(r.try_get(8)?),
        json: r.try_get(9)?,
        created_at: r.try_get(10)?,
        updated_at: r.try_get(11)?,
        acknowledged_at: r.try_get(12)?,
        resolved_at: r.try_get(13)?,
        status_note: r.try_get(14)?,
    })
}

fn inventory_row(r: &Row) -> Result<InventoryRecord, StoreError> {
    Ok(InventoryRecord {
        id: r.try_get(0)?,
        member_id: r.try_get(1)?,
        name: r.try_get(2)?,
        format: r.try_get(3)?,
        components: r.try_get(4)?,
        errors: r.try_get(5)?,
        imported_at: r.try_get(6)?,
        content: r.try_get(7)?,
    })
}

fn notice_by_id(
    c: &mut Conn,
    id: &str,
    member: Option<i64>,
) -> Result<Option<NoticeRecord>, StoreError> {
    c.query_opt(
        concat!(
            "SELECT ",
            notice_cols!(),
            " FROM notices WHERE id = $1 AND ($2::BIGINT IS NULL OR member_id = $2)"
        ),
        &[&id, &member],
    )?
    .map(|r| notice_row(&r))
    .transpose()
}

/// The time a write records, in the format the SQLite backend writes (`sort_key`: RFC 3339, microseconds, `Z`).
fn now() -> String {
    time::sort_key(&chrono::Utc::now())
}

/// Upserts advisories (at most one row per key).
fn write_advisories(c: &mut Conn, rows: &[&AdvisoryRow], now: &str) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    let sources: Vec<&str> = rows.iter().map(|r| r.source.as_str()).collect();
    let canon: Vec<&str> = rows.iter().map(|r| r.canonical.as_str()).collect();
    let tlps: Vec<Option<i16>> = rows.iter().map(|r| tlp_rank(r.tlp)).collect();
    let jsons: Vec<std::borrow::Cow<'_, str>> = rows.iter().map(|r| pg_text(&r.json)).collect();
    let jsons: Vec<&str> = jsons.iter().map(|j| j.as_ref()).collect();
    c.execute(
        "INSERT INTO vuln_advisories (key, source, canonical, tlp, json, updated_at)
         SELECT k, s, c, t, j, $6 FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::SMALLINT[], $5::TEXT[])
           AS x (k, s, c, t, j)
         ON CONFLICT (key) DO UPDATE SET source = excluded.source, canonical = excluded.canonical, tlp = excluded.tlp,
           json = excluded.json, updated_at = excluded.updated_at",
        &[&keys, &sources, &canon, &tlps, &jsons, &now],
    )?;
    Ok(())
}

impl VulnStore for PostgresStore {
    fn put_advisories(&self, rows: &[AdvisoryRow]) -> Result<Vec<PutOutcome>, StoreError> {
        self.simple_write(|c| {
            let now = now();
            let mut out = Vec::with_capacity(rows.len());
            for chunk in rows.chunks(BATCH) {
                let keys: Vec<&str> = chunk.iter().map(|r| r.key.as_str()).collect();
                // What each key holds as the rows are taken in order, as SQLite's row-by-row writes see it: a key
                // given twice compares its second row with its first.
                let mut held: HashMap<String, String> = HashMap::new();
                for r in c.query(
                    "SELECT key, json FROM vuln_advisories WHERE key = ANY($1::TEXT[])",
                    &[&keys],
                )? {
                    held.insert(r.try_get(0)?, r.try_get(1)?);
                }
                // The last written row of each key, in first-written order.
                let mut order: Vec<&str> = Vec::new();
                let mut last: HashMap<&str, &AdvisoryRow> = HashMap::new();
                for r in chunk {
                    let stored = pg_text(&r.json);
                    let outcome = match held.get(&r.key) {
                        Some(o) if *o == stored => {
                            out.push(PutOutcome::Unchanged);
                            continue;
                        }
                        Some(_) => PutOutcome::Updated,
                        None => PutOutcome::Added,
                    };
                    held.insert(r.key.clone(), stored.into_owned());
                    if last.insert(r.key.as_str(), r).is_none() {
                        order.push(r.key.as_str());
                    }
                    out.push(outcome);
                }
                let writes: Vec<&AdvisoryRow> =
                    order.iter().filter_map(|k| last.get(k).copied()).collect();
                write_advisories(c, &writes, &now)?;
            }
            Ok(out)
        })
    }

    fn advisories(
        &self,
        f: &mut dyn FnMut(AdvisoryRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.with_reader(|c| {
            // A portal streams the rows: the whole table would otherwise arrive at once.
            let mut tx = c.client.build_transaction().read_only(true).start()?;
            let portal = tx.bind(
                "SELECT key, source, canonical, tlp, json FROM vuln_advisories ORDER BY key",
                &[],
            )?;
            loop {
                let rows = tx.query_portal(&portal, BATCH as i32)?;
                if rows.is_empty() {
                    break;
                }
                for r in &rows {
                    f(AdvisoryRow {
                        key: r.try_get(0)?,
                        source: r.try_get(1)?,
                        canonical: r.try_get(2)?,
                        tlp: tlp_from_rank(r.try_get(3)?),
                        json: r.try_get(4)?,
                    })?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn advisory_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.with_reader(|c| {
            c.query(
                "SELECT source, count(*) FROM vuln_advisories GROUP BY source ORDER BY source",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u64)))
            .collect()
        })
    }

    fn put_epss(
        &self,
        scores: &[(String, f64, f64)],
        score_date: Option<&str>,
    ) -> Result<u64, StoreError> {
        self.simple_write(|c| {
            let now = now();
            let mut n = 0;
            for chunk in scores.chunks(BATCH) {
                let mut seen = HashSet::new();
                if chunk.iter().all(|(cve, _, _)| seen.insert(cve.as_str())) {
                    let cves: Vec<&str> = chunk.iter().map(|s| s.0.as_str()).collect();
                    let epss: Vec<f64> = chunk.iter().map(|s| s.1).collect();
                    let pct: Vec<f64> = chunk.iter().map(|s| s.2).collect();
                    n += c.execute(
                        "INSERT INTO vuln_epss (cve, epss, percentile, score_date, updated_at)
                         SELECT cve, e, p, $4, $5 FROM unnest($1::TEXT[], $2::FLOAT8[], $3::FLOAT8[]) AS x (cve, e, p)
                         ON CONFLICT (cve) DO UPDATE SET epss = excluded.epss, percentile = excluded.percentile,
                           score_date = excluded.score_date, updated_at = excluded.updated_at
                         WHERE vuln_epss.epss != excluded.epss OR vuln_epss.percentile != excluded.percentile",
                        &[&cves, &epss, &pct, &score_date, &now],
                    )?;
                } else {
                    // One statement cannot update a row twice: a CVE given twice goes row by row, as in SQLite.
                    for (cve, e, p) in chunk {
                        n += c.execute(
                            "INSERT INTO vuln_epss (cve, epss, percentile, score_date, updated_at)
                             VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT (cve) DO UPDATE SET epss = excluded.epss, percentile = excluded.percentile,
                               score_date = excluded.score_date, updated_at = excluded.updated_at
                             WHERE vuln_epss.epss != excluded.epss OR vuln_epss.percentile != excluded.percentile",
                            &[cve, e, p, &score_date, &now],
                        )?;
                    }
                }
            }
            Ok(n)
        })
    }

    fn epss(&self) -> Result<Vec<(String, f64, f64)>, StoreError> {
        self.with_reader(|c| {
            c.query("SELECT cve, epss, percentile FROM vuln_epss", &[])?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect()
        })
    }

    fn epss_of(&self, cve: &str) -> Result<Option<(f64, f64, Option<String>)>, StoreError> {
        self.with_reader(|c| {
            c.query_opt(
                "SELECT epss, percentile, score_date FROM vuln_epss WHERE cve = $1",
                &[&cve.to_ascii_uppercase()],
            )?
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .transpose()
        })
    }

    fn put_inventory(
        &self,
        member_id: i64,
        name: &str,
        format: &str,
        components: i64,
        errors: i64,
        content: &[u8],
    ) -> Result<InventoryRecord, StoreError> {
        self.simple_write(|c| {
            let r = c.query_opt(
                concat!(
                    "INSERT INTO inventories (member_id, name, format, components, errors, imported_at, content)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (member_id, name) DO UPDATE SET format = excluded.format,
                       components = excluded.components, errors = excluded.errors, imported_at = excluded.imported_at,
                       content = excluded.content
                     RETURNING ",
                    inventory_cols!()
                ),
                &[
                    &member_id,
                    &pg_text(name),
                    &pg_text(format),
                    &components,
                    &errors,
                    &now(),
                    &content,
                ],
            )?;
            r.map(|r| inventory_row(&r)).transpose()?.ok_or_else(|| {
                StoreError::Corrupt(format!("inventory {name} of member {member_id} vanished"))
            })
        })
    }

    fn inventories(&self, member: Option<i64>) -> Result<Vec<InventoryRecord>, StoreError> {
        self.with_reader(|c| {
            c.query(
                concat!(
                    "SELECT ",
                    inventory_cols!(),
                    " FROM inventories WHERE $1::BIGINT IS NULL OR member_id = $1 ORDER BY member_id, name"
                ),
                &[&member],
            )?
            .iter()
            .map(inventory_row)
            .collect()
        })
    }

    fn remove_inventory(&self, member_id: i64, name: &str) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(c.execute(
                "DELETE FROM inventories WHERE member_id = $1 AND name = $2",
                &[&member_id, &pg_text(name)],
            )? > 0)
        })
    }

    fn notices(&self, filter: &NoticeFilter) -> Result<Vec<NoticeRecord>, StoreError> {
        self.with_reader(|c| {
            c.query(
                concat!(
                    "SELECT ",
                    notice_cols!(),
                    " FROM notices WHERE ($1::BIGINT IS NULL OR member_id = $1) AND ($2::TEXT IS NULL OR status = $2)
                     ORDER BY updated_at DESC, id"
                ),
                &[&filter.member, &filter.status],
            )?
            .iter()
            .map(notice_row)
            .collect()
        })
    }

    fn notice_counts(&self, vulnerability: &str) -> Result<(u64, u64), StoreError> {
        self.with_reader(|c| {
            let r = c.query_opt(
                "SELECT count(DISTINCT member_id), count(*) FILTER (WHERE status != 'resolved')
                 FROM notices WHERE lower(vulnerability) = lower($1::TEXT COLLATE \"C\")",
                &[&vulnerability],
            )?;
            match r {
                Some(r) => Ok((
                    r.try_get::<_, i64>(0)? as u64,
                    r.try_get::<_, i64>(1)? as u64,
                )),
                None => Ok((0, 0)),
            }
        })
    }

    fn notice(&self, id: &str, member: Option<i64>) -> Result<Option<NoticeRecord>, StoreError> {
        self.with_reader(|c| notice_by_id(c, id, member))
    }

    fn notice_versions(&self, id: &str) -> Result<Vec<NoticeVersion>, StoreError> {
        self.with_reader(|c| {
            c.query(
                "SELECT notice_id, version, fingerprint, priority, deadline, reason, created_at, json
                 FROM notice_versions WHERE notice_id = $1 ORDER BY version",
                &[&id],
            )?
            .iter()
            .map(|r| {
                Ok(NoticeVersion {
                    notice_id: r.try_get(0)?,
                    version: r.try_get(1)?,
                    fingerprint: r.try_get(2)?,
                    priority: r.try_get(3)?,
                    deadline: r.try_get(4)?,
                    reason: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                    json: r.try_get(7)?,
                })
            })
            .collect()
        })
    }

    fn put_notice_version(
        &self,
        rec: &NoticeRecord,
        reason: &str,
    ) -> Result<NoticeRecord, StoreError> {
        self.simple_write(|c| {
            let now = now();
            let prev: Option<(i64, i64)> = c
                .query_opt(
                    "SELECT version, member_id FROM notices WHERE id = $1",
                    &[&rec.id],
                )?
                .map(|r| Ok::<_, StoreError>((r.try_get(0)?, r.try_get(1)?)))
                .transpose()?;
            if let Some((_, m)) = prev {
                if m != rec.member_id {
                    return Err(StoreError::Aborted(format!(
                        "notice {} belongs to member {m}, not {}",
                        rec.id, rec.member_id
                    )));
                }
            }
            let version = prev.map(|p| p.0 + 1).unwrap_or(1);
            let reason = pg_text(reason);
            let json = pg_text(&rec.json);
            let tlp = tlp_rank(rec.tlp);
            c.execute(
                "INSERT INTO notices (id, member_id, vulnerability, version, status, priority, deadline, fingerprint, tlp,
                   json, created_at, updated_at, acknowledged_at, resolved_at, status_note)
                 VALUES ($1, $2, $3, $4, 'new', $5, $6, $7, $8, $9, $10, $10, NULL, NULL, $11)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version, status = 'new', priority = excluded.priority,
                   deadline = excluded.deadline, fingerprint = excluded.fingerprint, tlp = excluded.tlp,
                   json = excluded.json, updated_at = excluded.updated_at, acknowledged_at = NULL, resolved_at = NULL,
                   status_note = excluded.status_note",
                &[
                    &rec.id,
                    &rec.member_id,
                    &pg_text(&rec.vulnerability),
                    &version,
                    &rec.priority,
                    &pg_opt(&rec.deadline),
                    &rec.fingerprint,
                    &tlp,
                    &json,
                    &now,
                    &reason,
                ],
            )?;
            c.execute(
                "INSERT INTO notice_versions (notice_id, version, fingerprint, priority, deadline, reason, created_at, json)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &rec.id,
                    &version,
                    &rec.fingerprint,
                    &rec.priority,
                    &pg_opt(&rec.deadline),
                    &reason,
                    &now,
                    &json,
                ],
            )?;
            notice_by_id(c, &rec.id, None)?
                .ok_or_else(|| StoreError::Corrupt(format!("notice {} vanished", rec.id)))
        })
    }

    fn refresh_notice(&self, id: &str, member_id: i64, json: &str) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            let json = pg_text(json);
            let n = c.execute(
                "UPDATE notices SET json = $3 WHERE id = $1 AND member_id = $2",
                &[&id, &member_id, &json],
            )?;
            // The version's copy only when the notice is the caller's member's: ids are not secrets.
            if n > 0 {
                c.execute(
                    "UPDATE notice_versions SET json = $2
                     WHERE notice_id = $1 AND version = (SELECT version FROM notices WHERE id = $1)",
                    &[&id, &json],
                )?;
            }
            Ok(n > 0)
        })
    }

    fn set_notice_status(
        &self,
        id: &str,
        member: Option<i64>,
        status: &str,
        note: &str,
    ) -> Result<Option<NoticeRecord>, StoreError> {
        self.simple_write(|c| {
            if notice_by_id(c, id, member)?.is_none() {
                return Ok(None);
            }
            let sql = match status {
                "acknowledged" => "UPDATE notices SET status = $2, acknowledged_at = COALESCE(acknowledged_at, $3),
                    resolved_at = NULL, status_note = $4, updated_at = $3 WHERE id = $1",
                "resolved" => "UPDATE notices SET status = $2, resolved_at = $3, status_note = $4, updated_at = $3
                    WHERE id = $1",
                "new" => "UPDATE notices SET status = $2, acknowledged_at = NULL, resolved_at = NULL, status_note = $4,
                    updated_at = $3 WHERE id = $1",
                other => {
                    return Err(StoreError::Aborted(format!(
                        "unknown notice status `{other}` (new, acknowledged, resolved)"
                    )))
                }
            };
            c.execute(sql, &[&id, &status, &now(), &pg_text(note)])?;
            notice_by_id(c, id, member)
        })
    }
}
