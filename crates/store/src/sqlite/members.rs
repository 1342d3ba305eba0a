//! The SQLite side of [`MemberStore`]: members, tokens, shares, inboxes, status resources, audit, scoped paging.

use rusqlite::{params, params_from_iter, types::Value as SqlValue, Connection, OptionalExtension};
use serde_json::{json, Value};
use vigil_model::{ids, Provenance, StixObject, Tlp};

use super::{
    added_at, h64, now_micros, row_to_stored, tlp_from_rank, tlp_rank, SqliteStore, SqliteTx,
};
use crate::members::{
    AuditEntry, Member, MemberStore, Page, PageQuery, PageRow, PageSource, ReadScope, TokenRecord,
    VersionSel,
};
use crate::prepared::version_key;
use crate::{PutMode, Store, StoreError, StoredObject, WriteTx};

fn member_row(r: &rusqlite::Row) -> rusqlite::Result<Member> {
    Ok(Member {
        id: r.get(0)?,
        name: r.get(1)?,
        country: r.get(2)?,
        kind: r.get(3)?,
        identity_id: r.get(4)?,
        operator: r.get(5)?,
        created_at: r.get(6)?,
    })
}

const MEMBER_COLS: &str = "id, name, country, kind, identity_id, operator, created_at";
const TOKEN_COLS: &str = "id, member_id, role, lookup, hash, created_at, expires_at, revoked_at";

fn token_row(r: &rusqlite::Row) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get(0)?,
        member_id: r.get(1)?,
        role: r.get(2)?,
        lookup: r.get(3)?,
        hash: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

/// The SQL form of [`ReadScope::allows`] over the `objects` row aliased `o`: the same three clauses.
pub(super) fn visibility_sql(scope: &ReadScope) -> String {
    if scope.all {
        return "1".into();
    }
    let d = tlp_rank(scope.default_tlp);
    let mut parts = Vec::new();
    if let Some(max) = scope.open_max {
        parts.push(format!("COALESCE(o.tlp, {d}) <= {}", tlp_rank(max)));
    }
    if let Some(m) = scope.member {
        parts.push(format!(
            "(COALESCE(o.tlp, {d}) >= {} AND EXISTS (SELECT 1 FROM shares s WHERE s.hid = o.hid AND s.member_id = {m} AND s.object_id = o.stix_id))",
            tlp_rank(Tlp::Amber)
        ));
    }
    if parts.is_empty() {
        "0".into()
    } else {
        format!("({})", parts.join(" OR "))
    }
}

fn is_shared(c: &Connection, id: &str, member: Option<i64>) -> Result<bool, StoreError> {
    let Some(m) = member else { return Ok(false) };
    Ok(c.prepare_cached(
        "SELECT 1 FROM shares WHERE hid = ?1 AND member_id = ?2 AND object_id = ?3",
    )?
    .exists(params![h64(id), m, id])?)
}

impl SqliteStore {
    /// Runs `f` in one immediate write transaction with the knowledge-base writer, indexing as `Store::write` does.
    pub(super) fn write_raw<T>(
        &self,
        f: impl FnOnce(&mut SqliteTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let guard = self.writer.lock()?;
        let conn: &Connection = &guard;
        let tx =
            rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
        let mut w = SqliteTx {
            insert_stmt: None,
            derived_stmt: None,
            conn,
            path: &self.path,
            tx,
            now: super::now_us(),
            fts: Vec::new(),
            edges: Vec::new(),
            last_prov: None,
            bg: None,
        };
        let out = match f(&mut w) {
            Ok(out) => out,
            Err(e) => {
                // Rolled back when `w` drops; the writer connection checkpoints on its own again first.
                let _ = w.stop_bg();
                return Err(e);
            }
        };
        w.finish()?;
        Ok(out)
    }

    /// Runs `f` in one immediate write transaction on the writer connection (shared by the member, vuln and
    /// feed tables).
    pub(super) fn simple_write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.writer.lock()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

impl MemberStore for SqliteStore {
    fn add_member(
        &self,
        name: &str,
        country: &str,
        kind: &str,
        operator: bool,
    ) -> Result<Member, StoreError> {
        self.write_raw(|w| {
            let now = now_micros();
            let identity_id = ids::vigil_id("identity", &["vigil-member", name, country, &now]);
            w.tx.prepare_cached(
                "INSERT INTO members (name, country, kind, identity_id, operator, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![name, country, kind, identity_id, operator, now])?;
            let id = w.tx.last_insert_rowid();
            let stamp = vigil_model::time::format(&chrono::Utc::now());
            // Members know who else is in the community (TLP:GREEN), as they need to for TLP and sightings.
            let identity = json!({
                "type": "identity", "spec_version": "2.1", "id": identity_id, "created": stamp, "modified": stamp,
                "name": name, "identity_class": "organization", "sectors": ["government-national"],
                "description": format!("Vigil member {id}: {kind}, {country}"),
                "object_marking_refs": [Tlp::Green.marking_id()],
            });
            let obj = StixObject::from_value(identity).map_err(|e| StoreError::Aborted(format!("member identity: {e}")))?;
            let prov = Provenance { source: "vigil-members".into(), ingested_at: stamp.clone(), original_id: None, file: None };
            w.put(&obj, &prov, PutMode::Source)?;
            Ok(Member { id, name: name.into(), country: country.into(), kind: kind.into(), identity_id, operator, created_at: now })
        })
    }

    fn members(&self) -> Result<Vec<Member>, StoreError> {
        self.with_reader(|c| {
            let mut st =
                c.prepare_cached(&format!("SELECT {MEMBER_COLS} FROM members ORDER BY id"))?;
            let rows = st.query_map([], member_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn member(&self, id: i64) -> Result<Option<Member>, StoreError> {
        self.with_reader(|c| {
            Ok(
                c.prepare_cached(&format!("SELECT {MEMBER_COLS} FROM members WHERE id = ?1"))?
                    .query_row([id], member_row)
                    .optional()?,
            )
        })
    }

    fn operator_member(&self) -> Result<Option<Member>, StoreError> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {MEMBER_COLS} FROM members WHERE operator = 1"
            ))?
            .query_row([], member_row)
            .optional()?)
        })
    }

    fn add_token(
        &self,
        member_id: i64,
        role: &str,
        lookup: &str,
        hash: &str,
        expires_at: Option<&str>,
    ) -> Result<TokenRecord, StoreError> {
        self.simple_write(|c| {
            let now = now_micros();
            c.prepare_cached("INSERT INTO tokens (member_id, role, lookup, hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
                .execute(params![member_id, role, lookup, hash, now, expires_at])?;
            let id = c.last_insert_rowid();
            Ok(TokenRecord {
                id,
                member_id,
                role: role.into(),
                lookup: lookup.into(),
                hash: hash.into(),
                created_at: now,
                expires_at: expires_at.map(str::to_string),
                revoked_at: None,
            })
        })
    }

    fn token_by_lookup(&self, lookup: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {TOKEN_COLS} FROM tokens WHERE lookup = ?1"
            ))?
            .query_row([lookup], token_row)
            .optional()?)
        })
    }

    fn token(&self, id: i64) -> Result<Option<TokenRecord>, StoreError> {
        self.with_reader(|c| {
            Ok(
                c.prepare_cached(&format!("SELECT {TOKEN_COLS} FROM tokens WHERE id = ?1"))?
                    .query_row([id], token_row)
                    .optional()?,
            )
        })
    }

    fn tokens(&self, member_id: Option<i64>) -> Result<Vec<TokenRecord>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {TOKEN_COLS} FROM tokens WHERE ?1 IS NULL OR member_id = ?1 ORDER BY id"
            ))?;
            let rows = st.query_map([member_id], token_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn revoke_token(&self, id: i64) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(c.prepare_cached(
                "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![id, now_micros()])?
                > 0)
        })
    }

    fn share(&self, object_id: &str, member_id: i64) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(c.prepare_cached("INSERT OR IGNORE INTO shares (hid, object_id, member_id, created_at) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![h64(object_id), object_id, member_id, now_micros()])?
                > 0)
        })
    }

    fn shares_of(&self, object_id: &str) -> Result<Vec<i64>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT member_id FROM shares WHERE hid = ?1 AND object_id = ?2 ORDER BY member_id",
            )?;
            let rows = st.query_map(params![h64(object_id), object_id], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn share_added_since(
        &self,
        after_seq: i64,
        member_id: i64,
        default_tlp: Tlp,
    ) -> Result<u64, StoreError> {
        self.simple_write(|c| {
            let n = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO shares (hid, object_id, member_id, created_at)
                     SELECT DISTINCT hid, stix_id, ?2, ?3 FROM objects WHERE seq > ?1 AND COALESCE(tlp, ?4) >= ?5",
                )?
                .execute(params![after_seq, member_id, now_micros(), tlp_rank(default_tlp), tlp_rank(Tlp::Amber)])?;
            Ok(n as u64)
        })
    }

    fn max_seq(&self) -> Result<i64, StoreError> {
        self.with_reader(|c| {
            Ok(
                c.query_row("SELECT COALESCE(max(seq), 0) FROM objects", [], |r| {
                    r.get(0)
                })?,
            )
        })
    }

    fn eligibility_extra(&self) -> Result<Vec<String>, StoreError> {
        self.with_reader(|c| {
            let mut st =
                c.prepare_cached("SELECT country FROM eligibility_extra ORDER BY country")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn add_eligible(&self, country: &str, note: &str) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(c.prepare_cached("INSERT OR IGNORE INTO eligibility_extra (country, note, added_at) VALUES (?1, ?2, ?3)")?
                .execute(params![country, note, now_micros()])?
                > 0)
        })
    }

    fn remove_eligible(&self, country: &str) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(
                c.prepare_cached("DELETE FROM eligibility_extra WHERE country = ?1")?
                    .execute([country])?
                    > 0,
            )
        })
    }

    fn get_visible(&self, id: &str, scope: &ReadScope) -> Result<Option<StoredObject>, StoreError> {
        self.with_reader(|c| {
            let Some((seq, added, tlp, json)) = super::latest_row(c, id)? else {
                return Ok(None);
            };
            if !scope.allows(tlp_from_rank(tlp), is_shared(c, id, scope.member)?) {
                return Ok(None);
            }
            row_to_stored(seq, added, tlp, &json).map(Some)
        })
    }

    fn page(&self, q: &PageQuery) -> Result<Page, StoreError> {
        let (table, mut clauses) = match &q.source {
            PageSource::Empty => return Ok(Page::default()),
            PageSource::Shared { tlp_min, tlp_max } => {
                let d = tlp_rank(q.scope.default_tlp);
                (
                    "objects",
                    vec![
                        format!(
                            "COALESCE(o.tlp, {d}) BETWEEN {} AND {}",
                            tlp_rank(*tlp_min),
                            tlp_rank(*tlp_max)
                        ),
                        visibility_sql(&q.scope),
                    ],
                )
            }
            PageSource::Inbox { member } => ("inbox", vec![format!("o.member_id = {member}")]),
            PageSource::Member { member } => {
                ("member_feed", vec![format!("o.member_id = {member}")])
            }
        };
        let mut args: Vec<SqlValue> = Vec::new();
        clauses.push(format!("o.seq > {}", q.after_seq));
        if let Some(a) = &q.added_after {
            args.push(SqlValue::Text(a.clone()));
            let text = args.len();
            // `objects` rows hold the time as text (before schema 11) or as microseconds with the text empty.
            let micros = chrono::DateTime::parse_from_rfc3339(a)
                .ok()
                .map(|t| t.timestamp_micros());
            match micros {
                Some(us) if table == "objects" => {
                    args.push(SqlValue::Integer(us));
                    clauses.push(format!(
                        "(o.added > ?{} OR o.added_at > ?{text})",
                        args.len()
                    ));
                }
                _ if table == "objects" => clauses.push(format!("{} > ?{text}", added_at!())),
                _ => clauses.push(format!("o.added_at > ?{text}")),
            }
        }
        let list = |args: &mut Vec<SqlValue>, vals: &[String]| -> String {
            let mut marks = Vec::new();
            for v in vals {
                args.push(SqlValue::Text(v.clone()));
                marks.push(format!("?{}", args.len()));
            }
            marks.join(",")
        };
        if !q.types.is_empty() {
            clauses.push(format!("o.type IN ({})", list(&mut args, &q.types)));
        }
        if !q.ids.is_empty() {
            if table == "objects" {
                let hids: Vec<String> = q.ids.iter().map(|i| h64(i).to_string()).collect();
                clauses.push(format!("o.hid IN ({})", hids.join(",")));
            }
            clauses.push(format!("o.stix_id IN ({})", list(&mut args, &q.ids)));
        }
        let same = if table == "objects" {
            "p.hid = o.hid AND p.stix_id = o.stix_id"
        } else {
            "p.member_id = o.member_id AND p.stix_id = o.stix_id"
        };
        match &q.versions {
            VersionSel::Last if table == "objects" => clauses.push("o.lk = 0".into()),
            VersionSel::Last => clauses.push(format!(
                "NOT EXISTS (SELECT 1 FROM {table} p WHERE {same} AND p.version > o.version)"
            )),
            VersionSel::First => clauses.push(format!(
                "NOT EXISTS (SELECT 1 FROM {table} p WHERE {same} AND p.version < o.version)"
            )),
            VersionSel::All => {}
            VersionSel::Exact(v) => clauses.push(format!("o.version IN ({})", list(&mut args, v))),
        }
        let limit = q.limit.max(1);
        let sql = format!(
            "SELECT o.seq, o.stix_id, {}, o.version, o.json FROM {table} o WHERE {} ORDER BY o.seq LIMIT {}",
            if table == "objects" { added_at!() } else { "o.added_at" },
            clauses.join(" AND "),
            limit + 1
        );
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(params_from_iter(args.iter()), |r| {
                let added_at: String = r.get(2)?;
                let version: String = r.get(3)?;
                Ok(PageRow {
                    seq: r.get(0)?,
                    id: r.get(1)?,
                    version: if version.is_empty() {
                        added_at.clone()
                    } else {
                        version
                    },
                    added_at,
                    json: r.get::<_, super::StoredJson>(4)?.into(),
                })
            })?;
            Ok(crate::members::collect_page(rows, limit)?)
        })
    }

    fn inbox_put(
        &self,
        member_id: i64,
        objects: &[StixObject],
    ) -> Result<Vec<Result<(), String>>, StoreError> {
        self.simple_write(|c| {
            let now = now_micros();
            let mut out = Vec::with_capacity(objects.len());
            let mut st = c.prepare_cached(
                "INSERT INTO inbox (member_id, stix_id, type, version, added_at, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (member_id, stix_id, version) DO NOTHING",
            )?;
            for o in objects {
                st.execute(params![member_id, o.id(), o.type_(), version_key(o), now, o.to_json()])?;
                out.push(Ok(()));
            }
            Ok(out)
        })
    }

    fn member_feed_put(&self, member_id: i64, objects: &[StixObject]) -> Result<usize, StoreError> {
        self.simple_write(|c| {
            let now = now_micros();
            let mut st = c.prepare_cached(
                "INSERT INTO member_feed (member_id, stix_id, type, version, added_at, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (member_id, stix_id, version) DO NOTHING",
            )?;
            let mut added = 0;
            for o in objects {
                added += st.execute(params![member_id, o.id(), o.type_(), version_key(o), now, o.to_json()])?;
            }
            Ok(added)
        })
    }

    fn inbox_holders(&self, id: &str) -> Result<Vec<(i64, bool)>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT member_id, max(promoted_at IS NOT NULL) FROM inbox WHERE stix_id = ?1 GROUP BY member_id ORDER BY member_id",
            )?;
            let rows = st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn inbox_promote(&self, id: &str) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64, String)> = self.with_reader(|c| {
            Ok(c.prepare_cached("SELECT member_id, json FROM inbox WHERE stix_id = ?1 ORDER BY version DESC, seq DESC LIMIT 1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
        })?;
        let Some((member, json)) = row else {
            return Ok(None);
        };
        let v: Value = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("inbox {id}: {e}")))?;
        let obj = StixObject::from_value(v)
            .map_err(|e| StoreError::Corrupt(format!("inbox {id}: {e}")))?;
        let prov = Provenance {
            source: format!("inbox:member-{member}"),
            ingested_at: vigil_model::time::format(&chrono::Utc::now()),
            original_id: None,
            file: None,
        };
        Store::write(self, &mut |tx| {
            tx.put(&obj, &prov, PutMode::Source)?;
            Ok(())
        })?;
        self.simple_write(|c| {
            c.prepare_cached(
                "UPDATE inbox SET promoted_at = ?2 WHERE stix_id = ?1 AND promoted_at IS NULL",
            )?
            .execute(params![id, now_micros()])?;
            Ok(())
        })?;
        Ok(Some(member))
    }

    fn put_status(&self, id: &str, member_id: i64, json: &str) -> Result<(), StoreError> {
        self.simple_write(|c| {
            c.prepare_cached("INSERT OR REPLACE INTO taxii_status (id, member_id, created_at, json) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![id, member_id, now_micros(), json])?;
            Ok(())
        })
    }

    fn status(&self, id: &str) -> Result<Option<(i64, String)>, StoreError> {
        self.with_reader(|c| {
            Ok(
                c.prepare_cached("SELECT member_id, json FROM taxii_status WHERE id = ?1")?
                    .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?,
            )
        })
    }

    fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.simple_write(|c| {
            c.prepare_cached(
                "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![now_micros(), actor, action, target, detail])?;
            Ok(())
        })
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = st.query_map([limit as i64], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    detail: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn change_counter(&self) -> Result<i64, StoreError> {
        let mut guard = self
            .watch
            .lock()
            .map_err(|_| StoreError::Db("watch connection poisoned".into()))?;
        if guard.is_none() {
            *guard = Some(super::open_conn(&self.path)?);
        }
        let c = guard
            .as_ref()
            .ok_or_else(|| StoreError::Db("no watch connection".into()))?;
        // data_version moves when any other connection commits; this one never writes. Our own writer commits
        // count as "other" too, so one number covers the CLI, other servers and ourselves.
        Ok(c.query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }
}
