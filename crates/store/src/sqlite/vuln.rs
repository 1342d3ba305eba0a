//! The SQLite side of [`VulnStore`].

use rusqlite::{params, Connection, OptionalExtension};

use super::{now_micros, tlp_from_rank, tlp_rank, SqliteStore};
use crate::vuln::{
    AdvisoryRow, InventoryRecord, NoticeFilter, NoticeRecord, NoticeVersion, VulnStore,
};
use crate::{PutOutcome, StoreError};

const NOTICE_COLS: &str = "id, member_id, vulnerability, version, status, priority, deadline, fingerprint, tlp, json, created_at, updated_at, acknowledged_at, resolved_at, status_note";

fn notice_row(r: &rusqlite::Row) -> rusqlite::Result<NoticeRecord> {
    Ok(NoticeRecord {
        id: r.get(0)?,
        member_id: r.get(1)?,
        vulnerability: r.get(2)?,
        version: r.get(3)?,
        status: r.get(4)?,
        priority: r.get(5)?,
        deadline: r.get(6)?,
        fingerprint: r.get(7)?,
        tlp: tlp_from_rank(r.get(8)?),
        json: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        acknowledged_at: r.get(12)?,
        resolved_at: r.get(13)?,
        status_note: r.get(14)?,
    })
}

const INVENTORY_COLS: &str =
    "id, member_id, name, format, components, errors, imported_at, content";

fn inventory_row(r: &rusqlite::Row) -> rusqlite::Result<InventoryRecord> {
    Ok(InventoryRecord {
        id: r.get(0)?,
        member_id: r.get(1)?,
        name: r.get(2)?,
        format: r.get(3)?,
        components: r.get(4)?,
        errors: r.get(5)?,
        imported_at: r.get(6)?,
        content: r.get(7)?,
    })
}

impl SqliteStore {
    fn vuln_write<T>(
        &self,
        f: impl FnOnce(&Connection, &str) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.simple_write(|c| f(c, &now_micros()))
    }
}

fn notice_by_id(
    c: &Connection,
    id: &str,
    member: Option<i64>,
) -> Result<Option<NoticeRecord>, StoreError> {
    Ok(c.prepare_cached(&format!(
        "SELECT {NOTICE_COLS} FROM notices WHERE id = ?1 AND (?2 IS NULL OR member_id = ?2)"
    ))?
    .query_row(params![id, member], notice_row)
    .optional()?)
}

impl VulnStore for SqliteStore {
    fn put_advisories(&self, rows: &[AdvisoryRow]) -> Result<Vec<PutOutcome>, StoreError> {
        self.vuln_write(|c, now| {
            let mut out = Vec::with_capacity(rows.len());
            let mut get = c.prepare_cached("SELECT json FROM vuln_advisories WHERE key = ?1")?;
            let mut put = c.prepare_cached(
                "INSERT INTO vuln_advisories (key, source, canonical, tlp, json, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(key) DO UPDATE SET source = excluded.source, canonical = excluded.canonical, tlp = excluded.tlp,
                 json = excluded.json, updated_at = excluded.updated_at",
            )?;
            for r in rows {
                let old: Option<String> = get.query_row([&r.key], |x| x.get(0)).optional()?;
                let outcome = match old {
                    Some(o) if o == r.json => {
                        out.push(PutOutcome::Unchanged);
                        continue;
                    }
                    Some(_) => PutOutcome::Updated,
                    None => PutOutcome::Added,
                };
                put.execute(params![
                    r.key,
                    r.source,
                    r.canonical,
                    r.tlp.map(tlp_rank),
                    r.json,
                    now
                ])?;
                out.push(outcome);
            }
            Ok(out)
        })
    }

    fn advisories(
        &self,
        f: &mut dyn FnMut(AdvisoryRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT key, source, canonical, tlp, json FROM vuln_advisories ORDER BY key",
            )?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                f(AdvisoryRow {
                    key: r.get(0)?,
                    source: r.get(1)?,
                    canonical: r.get(2)?,
                    tlp: tlp_from_rank(r.get(3)?),
                    json: r.get(4)?,
                })?;
            }
            Ok(())
        })
    }

    fn advisory_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT source, COUNT(*) FROM vuln_advisories GROUP BY source ORDER BY source",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn put_epss(
        &self,
        scores: &[(String, f64, f64)],
        score_date: Option<&str>,
    ) -> Result<u64, StoreError> {
        self.vuln_write(|c, now| {
            let mut st = c.prepare_cached(
                "INSERT INTO vuln_epss (cve, epss, percentile, score_date, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(cve) DO UPDATE SET epss = excluded.epss, percentile = excluded.percentile,
                 score_date = excluded.score_date, updated_at = excluded.updated_at
                 WHERE vuln_epss.epss != excluded.epss OR vuln_epss.percentile != excluded.percentile",
            )?;
            let mut n = 0;
            for (cve, e, p) in scores {
                n += st.execute(params![cve, e, p, score_date, now])? as u64;
            }
            Ok(n)
        })
    }

    fn epss(&self) -> Result<Vec<(String, f64, f64)>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached("SELECT cve, epss, percentile FROM vuln_epss")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn epss_of(&self, cve: &str) -> Result<Option<(f64, f64, Option<String>)>, StoreError> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT epss, percentile, score_date FROM vuln_epss WHERE cve = ?1",
            )?
            .query_row([cve.to_ascii_uppercase()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?)
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
        self.vuln_write(|c, now| {
            c.prepare_cached(
                "INSERT INTO inventories (member_id, name, format, components, errors, imported_at, content)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(member_id, name) DO UPDATE SET format = excluded.format, components = excluded.components,
                 errors = excluded.errors, imported_at = excluded.imported_at, content = excluded.content",
            )?
            .execute(params![member_id, name, format, components, errors, now, content])?;
            Ok(c.prepare_cached(&format!(
                "SELECT {INVENTORY_COLS} FROM inventories WHERE member_id = ?1 AND name = ?2"
            ))?
            .query_row(params![member_id, name], inventory_row)?)
        })
    }

    fn inventories(&self, member: Option<i64>) -> Result<Vec<InventoryRecord>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {INVENTORY_COLS} FROM inventories WHERE ?1 IS NULL OR member_id = ?1 ORDER BY member_id, name"
            ))?;
            let rows = st.query_map([member], inventory_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn remove_inventory(&self, member_id: i64, name: &str) -> Result<bool, StoreError> {
        self.vuln_write(|c, _| {
            Ok(
                c.prepare_cached("DELETE FROM inventories WHERE member_id = ?1 AND name = ?2")?
                    .execute(params![member_id, name])?
                    > 0,
            )
        })
    }

    fn notices(&self, filter: &NoticeFilter) -> Result<Vec<NoticeRecord>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {NOTICE_COLS} FROM notices WHERE (?1 IS NULL OR member_id = ?1) AND (?2 IS NULL OR status = ?2)
                 ORDER BY updated_at DESC, id"
            ))?;
            let rows = st.query_map(params![filter.member, filter.status], notice_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn notice_counts(&self, vulnerability: &str) -> Result<(u64, u64), StoreError> {
        self.with_reader(|c| {
            Ok(c.prepare_cached(
                "SELECT count(DISTINCT member_id), coalesce(sum(status != 'resolved'), 0)
                 FROM notices WHERE vulnerability = ?1 COLLATE NOCASE",
            )?
            .query_row([vulnerability], |r| Ok((r.get(0)?, r.get(1)?)))?)
        })
    }

    fn notice(&self, id: &str, member: Option<i64>) -> Result<Option<NoticeRecord>, StoreError> {
        self.with_reader(|c| notice_by_id(c, id, member))
    }

    fn notice_versions(&self, id: &str) -> Result<Vec<NoticeVersion>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT notice_id, version, fingerprint, priority, deadline, reason, created_at, json
                 FROM notice_versions WHERE notice_id = ?1 ORDER BY version",
            )?;
            let rows = st.query_map([id], |r| {
                Ok(NoticeVersion {
                    notice_id: r.get(0)?,
                    version: r.get(1)?,
                    fingerprint: r.get(2)?,
                    priority: r.get(3)?,
                    deadline: r.get(4)?,
                    reason: r.get(5)?,
                    created_at: r.get(6)?,
                    json: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn put_notice_version(
        &self,
        rec: &NoticeRecord,
        reason: &str,
    ) -> Result<NoticeRecord, StoreError> {
        self.vuln_write(|c, now| {
            let prev: Option<(i64, i64)> = c
                .prepare_cached("SELECT version, member_id FROM notices WHERE id = ?1")?
                .query_row([&rec.id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((_, m)) = prev {
                if m != rec.member_id {
                    return Err(StoreError::Aborted(format!(
                        "notice {} belongs to member {m}, not {}",
                        rec.id, rec.member_id
                    )));
                }
            }
            let version = prev.map(|p| p.0 + 1).unwrap_or(1);
            c.prepare_cached(
                "INSERT INTO notices (id, member_id, vulnerability, version, status, priority, deadline, fingerprint, tlp, json,
                   created_at, updated_at, acknowledged_at, resolved_at, status_note)
                 VALUES (?1, ?2, ?3, ?4, 'new', ?5, ?6, ?7, ?8, ?9, ?10, ?10, NULL, NULL, ?11)
                 ON CONFLICT(id) DO UPDATE SET version = excluded.version, status = 'new', priority = excluded.priority,
                   deadline = excluded.deadline, fingerprint = excluded.fingerprint, tlp = excluded.tlp, json = excluded.json,
                   updated_at = excluded.updated_at, acknowledged_at = NULL, resolved_at = NULL, status_note = excluded.status_note",
            )?
            .execute(params![
                rec.id,
                rec.member_id,
                rec.vulnerability,
                version,
                rec.priority,
                rec.deadline,
                rec.fingerprint,
                rec.tlp.map(tlp_rank),
                rec.json,
                now,
                reason
            ])?;
            c.prepare_cached(
                "INSERT INTO notice_versions (notice_id, version, fingerprint, priority, deadline, reason, created_at, json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                rec.id,
                version,
                rec.fingerprint,
                rec.priority,
                rec.deadline,
                reason,
                now,
                rec.json
            ])?;
            notice_by_id(c, &rec.id, None)?
                .ok_or_else(|| StoreError::Corrupt(format!("notice {} vanished", rec.id)))
        })
    }

    fn refresh_notice(&self, id: &str, member_id: i64, json: &str) -> Result<bool, StoreError> {
        self.vuln_write(|c, _| {
            let n = c
                .prepare_cached("UPDATE notices SET json = ?3 WHERE id = ?1 AND member_id = ?2")?
                .execute(params![id, member_id, json])?;
            // The version's copy only when the notice is the caller's member's: ids are not secrets.
            if n > 0 {
                c.prepare_cached(
                    "UPDATE notice_versions SET json = ?2 WHERE notice_id = ?1 AND version = (SELECT version FROM notices WHERE id = ?1)",
                )?
                .execute(params![id, json])?;
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
        self.vuln_write(|c, now| {
            if notice_by_id(c, id, member)?.is_none() {
                return Ok(None);
            }
            let sql = match status {
                "acknowledged" => "UPDATE notices SET status = ?2, acknowledged_at = COALESCE(acknowledged_at, ?3), resolved_at = NULL, status_note = ?4, updated_at = ?3 WHERE id = ?1",
                "resolved" => "UPDATE notices SET status = ?2, resolved_at = ?3, status_note = ?4, updated_at = ?3 WHERE id = ?1",
                "new" => "UPDATE notices SET status = ?2, acknowledged_at = NULL, resolved_at = NULL, status_note = ?4, updated_at = ?3 WHERE id = ?1",
                other => {
                    return Err(StoreError::Aborted(format!(
                        "unknown notice status `{other}` (new, acknowledged, resolved)"
                    )))
                }
            };
            c.prepare_cached(sql)?
                .execute(params![id, status, now, note])?;
            notice_by_id(c, id, member)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::vuln::NoticeFilter;
    use vigil_model::Tlp;

    fn rec(id: &str, member: i64, fp: &str) -> NoticeRecord {
        NoticeRecord {
            id: id.into(),
            member_id: member,
            vulnerability: format!("CVE-2024-{id}"),
            version: 0,
            status: "new".into(),
            priority: "act".into(),
            deadline: Some("2026-12-01".into()),
            fingerprint: fp.into(),
            tlp: Some(Tlp::AmberStrict),
            json: "{}".into(),
            created_at: String::new(),
            updated_at: String::new(),
            acknowledged_at: None,
            resolved_at: None,
            status_note: None,
        }
    }

    #[test]
    fn notice_counts_per_vulnerability() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(s.notice_counts("CVE-2024-7").unwrap(), (0, 0));
        let with_cve = |id: &str, member: i64, cve: &str| NoticeRecord {
            vulnerability: cve.into(),
            ..rec(id, member, "f")
        };
        s.put_notice_version(&with_cve("a", 2, "CVE-2024-7"), "x")
            .unwrap();
        s.put_notice_version(&with_cve("b", 3, "cve-2024-7"), "x")
            .unwrap();
        s.put_notice_version(&with_cve("c", 4, "CVE-2024-8"), "x")
            .unwrap();
        assert_eq!(s.notice_counts("CVE-2024-7").unwrap(), (2, 2));
        s.set_notice_status("b", Some(3), "resolved", "patched")
            .unwrap();
        assert_eq!(s.notice_counts("cve-2024-7").unwrap(), (2, 1));
        assert_eq!(s.notice_counts("CVE-2024-8").unwrap(), (1, 1));
    }

    #[test]
    fn notices_versions_status_and_tenancy() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
        let a = s
            .put_notice_version(&rec("1", 2, "f1"), "first notice")
            .unwrap();
        assert_eq!((a.version, a.status.as_str()), (1, "new"));
        s.put_notice_version(&rec("2", 3, "g1"), "first notice")
            .unwrap();
        // Another member cannot see, acknowledge or overwrite it.
        assert!(s.notice("1", Some(3)).unwrap().is_none());
        assert!(s
            .set_notice_status("1", Some(3), "acknowledged", "x")
            .unwrap()
            .is_none());
        assert!(s.put_notice_version(&rec("1", 3, "f9"), "x").is_err());
        let only2 = s
            .notices(&NoticeFilter {
                member: Some(2),
                status: None,
            })
            .unwrap();
        assert_eq!(only2.len(), 1);
        assert_eq!(only2[0].member_id, 2);
        let acked = s
            .set_notice_status("1", Some(2), "acknowledged", "by member 2")
            .unwrap()
            .unwrap();
        assert_eq!(acked.status, "acknowledged");
        assert!(acked.acknowledged_at.is_some());
        // A new version reopens it.
        let v2 = s
            .put_notice_version(&rec("1", 2, "f2"), "entered KEV")
            .unwrap();
        assert_eq!((v2.version, v2.status.as_str()), (2, "new"));
        let vs = s.notice_versions("1").unwrap();
        assert_eq!(vs.len(), 2);
        assert_eq!(vs[1].reason, "entered KEV");
        assert!(s.set_notice_status("1", None, "bogus", "").is_err());
        // Inventories are per member and replaced by name.
        s.put_inventory(2, "bom.json", "cyclonedx", 3, 0, b"{}")
            .unwrap();
        s.put_inventory(2, "bom.json", "cyclonedx", 4, 1, b"{ }")
            .unwrap();
        s.put_inventory(3, "bom.json", "cyclonedx", 1, 0, b"{}")
            .unwrap();
        let inv = s.inventories(Some(2)).unwrap();
        assert_eq!((inv.len(), inv[0].components), (1, 4));
        assert_eq!(s.inventories(None).unwrap().len(), 2);
        // Advisories: added, unchanged, updated.
        let row = AdvisoryRow {
            key: "kev:CVE-1".into(),
            source: "kev".into(),
            canonical: "CVE-1".into(),
            tlp: None,
            json: "{\"a\":1}".into(),
        };
        let mut row2 = row.clone();
        row2.json = "{\"a\":2}".into();
        assert_eq!(
            s.put_advisories(std::slice::from_ref(&row)).unwrap(),
            vec![PutOutcome::Added]
        );
        assert_eq!(
            s.put_advisories(&[row, row2]).unwrap(),
            vec![PutOutcome::Unchanged, PutOutcome::Updated]
        );
        assert_eq!(s.put_epss(&[("CVE-1".into(), 0.5, 0.9)], None).unwrap(), 1);
        assert_eq!(s.put_epss(&[("CVE-1".into(), 0.5, 0.9)], None).unwrap(), 0);
    }
}
