//! The PostgreSQL side of [`crate::MemberStore`].

use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::types::ToSql;
use ::postgres::Row;
use serde_json::{json, Value};
use vigil_model::{ids, Provenance, StixObject, Tlp};

use super::{json_at, row_to_stored, tlp_from_rank, Conn, PostgresStore};
use crate::members::{
    AuditEntry, Member, MemberStore, Page, PageQuery, PageRow, PageSource, ReadScope, TokenRecord,
    VersionSel,
};
use crate::prepared::version_key;
use crate::{PutMode, StoreError, StoredObject, WriteTx};

/// Migration 4: members and their tokens, sharing, member inboxes and own collections, TAXII status resources, the
/// audit trail and the administrator's additions to the eligibility policy. Inbox and member-feed rows have
/// sequences of their own (identity columns never reuse a number), which their TAXII cursors key on.
pub(super) const SCHEMA: &str = r#"
    CREATE TABLE members (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL,
        country TEXT NOT NULL,
        kind TEXT NOT NULL,
        identity_id TEXT NOT NULL UNIQUE,
        operator BOOLEAN NOT NULL DEFAULT FALSE,
        created_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX members_one_operator ON members (operator) WHERE operator;
    CREATE TABLE tokens (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        member_id BIGINT NOT NULL,
        role TEXT NOT NULL,
        lookup TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        revoked_at TEXT
    );
    CREATE INDEX tokens_member ON tokens (member_id);
    CREATE TABLE shares (
        object_id TEXT NOT NULL,
        member_id BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (object_id, member_id)
    );
    CREATE INDEX shares_member ON shares (member_id);
    CREATE TABLE inbox (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        member_id BIGINT NOT NULL,
        stix_id TEXT NOT NULL,
        type TEXT NOT NULL,
        version TEXT NOT NULL,
        added_at TEXT NOT NULL,
        json TEXT NOT NULL,
        promoted_at TEXT,
        UNIQUE (member_id, stix_id, version)
    );
    CREATE INDEX inbox_member_seq ON inbox (member_id, seq);
    CREATE INDEX inbox_id ON inbox (stix_id);
    CREATE TABLE member_feed (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        member_id BIGINT NOT NULL,
        stix_id TEXT NOT NULL,
        type TEXT NOT NULL,
        version TEXT NOT NULL,
        added_at TEXT NOT NULL,
        json TEXT NOT NULL,
        UNIQUE (member_id, stix_id, version)
    );
    CREATE INDEX member_feed_member_seq ON member_feed (member_id, seq);
    CREATE TABLE taxii_status (
        id TEXT PRIMARY KEY,
        member_id BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        json TEXT NOT NULL
    );
    CREATE TABLE audit (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE TABLE eligibility_extra (country TEXT PRIMARY KEY, note TEXT NOT NULL, added_at TEXT NOT NULL);
"#;

/// Timestamps of these tables, in the same sortable form as `objects.added_at`, so that `added_after` compares
/// alike on every table.
fn now() -> String {
    vigil_model::time::sort_key(&chrono::Utc::now())
}

fn rank(t: Tlp) -> i16 {
    t as i16
}

fn member_row(r: &Row) -> Result<Member, StoreError> {
    Ok(Member {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        country: r.try_get(2)?,
        kind: r.try_get(3)?,
        identity_id: r.try_get(4)?,
        operator: r.try_get(5)?,
        created_at: r.try_get(6)?,
    })
}

fn token_row(r: &Row) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: r.try_get(0)?,
        member_id: r.try_get(1)?,
        role: r.try_get(2)?,
        lookup: r.try_get(3)?,
        hash: r.try_get(4)?,
        created_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        revoked_at: r.try_get(7)?,
    })
}

/// The SQL form of [`ReadScope::allows`] over the `objects` row aliased `o`: the same three clauses. Only numbers
/// are spliced in, so the text is safe to embed.
pub(super) fn visibility_sql(scope: &ReadScope) -> String {
    if scope.all {
        return "TRUE".into();
    }
    let d = rank(scope.default_tlp);
    let mut parts = Vec::new();
    if let Some(max) = scope.open_max {
        parts.push(format!("COALESCE(o.tlp, {d}) <= {}", rank(max)));
    }
    if let Some(m) = scope.member {
        parts.push(format!(
            "(COALESCE(o.tlp, {d}) >= {} AND EXISTS (SELECT 1 FROM shares s WHERE s.object_id = o.stix_id AND s.member_id = {m}))",
            rank(Tlp::Amber)
        ));
    }
    if parts.is_empty() {
        "FALSE".into()
    } else {
        format!("({})", parts.join(" OR "))
    }
}

/// Stores each object's version once in a member's inbox or own collection (`sql` names the table: both have the
/// same columns); returns how many were new.
fn put_rows(
    c: &mut Conn,
    sql: &'static str,
    member_id: i64,
    objects: &[StixObject],
) -> Result<u64, StoreError> {
    let now = now();
    let mut added = 0;
    for o in objects {
        added += c.execute(
            sql,
            &[
                &member_id,
                &o.id(),
                &o.type_(),
                &version_key(o),
                &now,
                &o.to_json(),
            ],
        )?;
    }
    Ok(added)
}

fn is_shared(c: &mut Conn, id: &str, member: Option<i64>) -> Result<bool, StoreError> {
    let Some(m) = member else { return Ok(false) };
    Ok(c.query_opt(
        "SELECT 1 FROM shares WHERE object_id = $1 AND member_id = $2",
        &[&id, &m],
    )?
    .is_some())
}

impl MemberStore for PostgresStore {
    fn add_member(
        &self,
        name: &str,
        country: &str,
        kind: &str,
        operator: bool,
    ) -> Result<Member, StoreError> {
        self.write_raw(|w| {
            let now = now();
            let identity_id = ids::vigil_id("identity", &["vigil-member", name, country, &now]);
            let id: i64 = w
                .conn
                .query_opt(
                    "INSERT INTO members (name, country, kind, identity_id, operator, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    &[&name, &country, &kind, &identity_id, &operator, &now],
                )?
                .ok_or_else(|| StoreError::Db("member insert returned no id".into()))?
                .try_get(0)?;
            let stamp = vigil_model::time::format(&chrono::Utc::now());
            // Members know who else is in the community (TLP:GREEN), as they need to for TLP and sightings.
            let identity = json!({
                "type": "identity", "spec_version": "2.1", "id": identity_id, "created": stamp, "modified": stamp,
                "name": name, "identity_class": "organization", "sectors": ["government-national"],
                "description": format!("Vigil member {id}: {kind}, {country}"),
                "object_marking_refs": [Tlp::Green.marking_id()],
            });
            let obj = StixObject::from_value(identity)
                .map_err(|e| StoreError::Aborted(format!("member identity: {e}")))?;
            let prov = Provenance {
                source: "vigil-members".into(),
                ingested_at: stamp.clone(),
                original_id: None,
                file: None,
            };
            w.put(&obj, &prov, PutMode::Source)?;
            Ok(Member {
                id,
                name: name.into(),
                country: country.into(),
                kind: kind.into(),
                identity_id,
                operator,
                created_at: now,
            })
        })
    }

    fn members(&self) -> Result<Vec<Member>, StoreError> {
        self.with_reader(|c| {
            c.query(
                "SELECT id, name, country, kind, identity_id, operator, created_at FROM members ORDER BY id",
                &[],
            )?
            .iter()
            .map(member_row)
            .collect()
        })
    }

    fn member(&self, id: i64) -> Result<Option<Member>, StoreError> {
        self.with_reader(|c| {
            c.query_opt(
                "SELECT id, name, country, kind, identity_id, operator, created_at FROM members WHERE id = $1",
                &[&id],
            )?
            .as_ref()
            .map(member_row)
            .transpose()
        })
    }

    fn operator_member(&self) -> Result<Option<Member>, StoreError> {
        self.with_reader(|c| {
            c.query_opt(
                "SELECT id, name, country, kind, identity_id, operator, created_at FROM members WHERE operator",
                &[],
            )?
            .as_ref()
            .map(member_row)
            .transpose()
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
            let now = now();
            let id: i64 = c
                .query_opt(
                    "INSERT INTO tokens (member_id, role, lookup, hash, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    &[&member_id, &role, &lookup, &hash, &now, &expires_at],
                )?
                .ok_or_else(|| StoreError::Db("token insert returned no id".into()))?
                .try_get(0)?;
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
            c.query_opt(
                "SELECT id, member_id, role, lookup, hash, created_at, expires_at, revoked_at FROM tokens
                 WHERE lookup = $1",
                &[&lookup],
            )?
            .as_ref()
            .map(token_row)
            .transpose()
        })
    }

    fn token(&self, id: i64) -> Result<Option<TokenRecord>, StoreError> {
        self.with_reader(|c| {
            c.query_opt(
                "SELECT id, member_id, role, lookup, hash, created_at, expires_at, revoked_at FROM tokens
                 WHERE id = $1",
                &[&id],
            )?
            .as_ref()
            .map(token_row)
            .transpose()
        })
    }

    fn tokens(&self, member_id: Option<i64>) -> Result<Vec<TokenRecord>, StoreError> {
        self.with_reader(|c| {
            c.query(
                "SELECT id, member_id, role, lookup, hash, created_at, expires_at, revoked_at FROM tokens
                 WHERE $1::BIGINT IS NULL OR member_id = $1 ORDER BY id",
                &[&member_id],
            )?
            .iter()
            .map(token_row)
            .collect()
        })
    }

    fn revoke_token(&self, id: i64) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(c.execute(
                "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&id, &now()],
            )? > 0)
        })
    }

    fn share(&self, object_id: &str, member_id: i64) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(c.execute(
                "INSERT INTO shares (object_id, member_id, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&object_id, &member_id, &now()],
            )? > 0)
        })
    }

    fn shares_of(&self, object_id: &str) -> Result<Vec<i64>, StoreError> {
        self.with_reader(|c| {
            c.query(
                "SELECT member_id FROM shares WHERE object_id = $1 ORDER BY member_id",
                &[&object_id],
            )?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
        })
    }

    fn share_added_since(
        &self,
        after_seq: i64,
        member_id: i64,
        default_tlp: Tlp,
    ) -> Result<u64, StoreError> {
        self.simple_write(|c| {
            c.execute(
                "INSERT INTO shares (object_id, member_id, created_at)
                 SELECT DISTINCT stix_id, $2::BIGINT, $3::TEXT FROM objects
                 WHERE seq > $1 AND COALESCE(tlp, $4) >= $5
                 ON CONFLICT DO NOTHING",
                &[
                    &after_seq,
                    &member_id,
                    &now(),
                    &rank(default_tlp),
                    &rank(Tlp::Amber),
                ],
            )
        })
    }

    fn max_seq(&self) -> Result<i64, StoreError> {
        PostgresStore::max_seq(self)
    }

    fn eligibility_extra(&self) -> Result<Vec<String>, StoreError> {
        self.with_reader(|c| {
            c.query(
                "SELECT country FROM eligibility_extra ORDER BY country",
                &[],
            )?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
        })
    }

    fn add_eligible(&self, country: &str, note: &str) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(c.execute(
                "INSERT INTO eligibility_extra (country, note, added_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&country, &note, &now()],
            )? > 0)
        })
    }

    fn remove_eligible(&self, country: &str) -> Result<bool, StoreError> {
        self.simple_write(|c| {
            Ok(c.execute(
                "DELETE FROM eligibility_extra WHERE country = $1",
                &[&country],
            )? > 0)
        })
    }

    fn get_visible(&self, id: &str, scope: &ReadScope) -> Result<Option<StoredObject>, StoreError> {
        self.with_reader(|c| {
            let Some(row) = c.query_opt(
                "SELECT seq, added_at, tlp, json FROM objects WHERE stix_id = $1 AND latest",
                &[&id],
            )?
            else {
                return Ok(None);
            };
            let tlp = tlp_from_rank(row.try_get(2)?);
            if !scope.allows(tlp, is_shared(c, id, scope.member)?) {
                return Ok(None);
            }
            row_to_stored(&row).map(Some)
        })
    }

    fn page(&self, q: &PageQuery) -> Result<Page, StoreError> {
        let (table, mut clauses) = match &q.source {
            PageSource::Empty => return Ok(Page::default()),
            PageSource::Shared { tlp_min, tlp_max } => {
                let d = rank(q.scope.default_tlp);
                (
                    "objects",
                    vec![
                        format!(
                            "COALESCE(o.tlp, {d}) BETWEEN {} AND {}",
                            rank(*tlp_min),
                            rank(*tlp_max)
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
        let objects = table == "objects";
        let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
        clauses.push(format!("o.seq > {}", q.after_seq));
        // Every table holds `added_at` as the same sortable text, so the cursor compares as text.
        if let Some(a) = &q.added_after {
            args.push(a);
            clauses.push(format!("o.added_at > ${}", args.len()));
        }
        if !q.types.is_empty() {
            args.push(&q.types);
            clauses.push(format!("o.type = ANY(${}::TEXT[])", args.len()));
        }
        if !q.ids.is_empty() {
            args.push(&q.ids);
            clauses.push(format!("o.stix_id = ANY(${}::TEXT[])", args.len()));
        }
        let same = if objects {
            "p.stix_id = o.stix_id"
        } else {
            "p.member_id = o.member_id AND p.stix_id = o.stix_id"
        };
        match &q.versions {
            VersionSel::Last if objects => clauses.push("o.latest".into()),
            VersionSel::Last => clauses.push(format!(
                "NOT EXISTS (SELECT 1 FROM {table} p WHERE {same} AND p.version > o.version)"
            )),
            VersionSel::First => clauses.push(format!(
                "NOT EXISTS (SELECT 1 FROM {table} p WHERE {same} AND p.version < o.version)"
            )),
            VersionSel::All => {}
            VersionSel::Exact(v) => {
                args.push(v);
                clauses.push(format!("o.version = ANY(${}::TEXT[])", args.len()));
            }
        }
        let limit = q.limit.max(1);
        let sql = format!(
            "SELECT o.seq, o.stix_id, o.added_at, o.version, o.json FROM {table} o WHERE {} ORDER BY o.seq LIMIT {}",
            clauses.join(" AND "),
            limit + 1
        );
        self.with_reader(|c| {
            // Streamed, so that the rows past the page's byte budget are never held.
            let rows = c.client.query_raw(sql.as_str(), args.iter().copied())?;
            let rows = rows.iterator().map(|r| -> Result<PageRow, StoreError> {
                let r = r?;
                let added_at: String = r.try_get(2)?;
                let version: String = r.try_get(3)?;
                // Knowledge-base rows hold the JSON packed; inbox and member-feed rows as text.
                let json = if objects {
                    json_at(&r, 4)?
                } else {
                    r.try_get(4)?
                };
                Ok(PageRow {
                    seq: r.try_get(0)?,
                    id: r.try_get(1)?,
                    version: if version.is_empty() {
                        added_at.clone()
                    } else {
                        version
                    },
                    added_at,
                    json,
                })
            });
            crate::members::collect_page(rows, limit)
        })
    }

    fn inbox_put(
        &self,
        member_id: i64,
        objects: &[StixObject],
    ) -> Result<Vec<Result<(), String>>, StoreError> {
        self.simple_write(|c| {
            put_rows(
                c,
                "INSERT INTO inbox (member_id, stix_id, type, version, added_at, json)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (member_id, stix_id, version) DO NOTHING",
                member_id,
                objects,
            )?;
            Ok(objects.iter().map(|_| Ok(())).collect())
        })
    }

    fn member_feed_put(&self, member_id: i64, objects: &[StixObject]) -> Result<usize, StoreError> {
        self.simple_write(|c| {
            let added = put_rows(
                c,
                "INSERT INTO member_feed (member_id, stix_id, type, version, added_at, json)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (member_id, stix_id, version) DO NOTHING",
                member_id,
                objects,
            )?;
            usize::try_from(added).map_err(|e| StoreError::Db(e.to_string()))
        })
    }

    fn inbox_holders(&self, id: &str) -> Result<Vec<(i64, bool)>, StoreError> {
        self.with_reader(|c| {
            c.query(
                "SELECT member_id, bool_or(promoted_at IS NOT NULL) FROM inbox WHERE stix_id = $1
                 GROUP BY member_id ORDER BY member_id",
                &[&id],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }

    fn inbox_promote(&self, id: &str) -> Result<Option<i64>, StoreError> {
        // Read before taking the writer: an id no inbox holds costs no write (and moves no change counter).
        let row: Option<(i64, String)> = self.with_reader(|c| {
            c.query_opt(
                "SELECT member_id, json FROM inbox WHERE stix_id = $1 ORDER BY version DESC, seq DESC LIMIT 1",
                &[&id],
            )?
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .transpose()
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
        // The new version and the promotion mark commit together, so an inbox row is never marked promoted
        // without the knowledge base holding it (SQLite commits them one after the other).
        self.write_raw(|w| {
            w.put(&obj, &prov, PutMode::Source)?;
            w.conn.execute(
                "UPDATE inbox SET promoted_at = $2 WHERE stix_id = $1 AND promoted_at IS NULL",
                &[&id, &now()],
            )?;
            Ok(())
        })?;
        Ok(Some(member))
    }

    fn put_status(&self, id: &str, member_id: i64, json: &str) -> Result<(), StoreError> {
        self.simple_write(|c| {
            c.execute(
                "INSERT INTO taxii_status (id, member_id, created_at, json) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE
                 SET member_id = EXCLUDED.member_id, created_at = EXCLUDED.created_at, json = EXCLUDED.json",
                &[&id, &member_id, &now(), &json],
            )?;
            Ok(())
        })
    }

    fn status(&self, id: &str) -> Result<Option<(i64, String)>, StoreError> {
        self.with_reader(|c| {
            c.query_opt(
                "SELECT member_id, json FROM taxii_status WHERE id = $1",
                &[&id],
            )?
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .transpose()
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
            c.execute(
                "INSERT INTO audit (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &now(),
                    &super::pg_text(actor),
                    &super::pg_text(action),
                    &super::pg_text(target),
                    &super::pg_text(detail),
                ],
            )?;
            Ok(())
        })
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_reader(|c| {
            c.query(
                "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT $1",
                &[&limit],
            )?
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    action: r.try_get(3)?,
                    target: r.try_get(4)?,
                    detail: r.try_get(5)?,
                })
            })
            .collect()
        })
    }

    fn change_counter(&self) -> Result<i64, StoreError> {
        self.change_count()
    }
}
