//! Retraction: an analyst withdraws what a source said, or single objects, when they turn out wrong (a list that
//! swept up a vendor's blog links, a false positive that blocked a ministry's mail relay).
//!
//! A retraction writes, for each object, a new version marked `revoked: true` with `x_vigil_retraction` naming who,
//! when and why. Every version stays in the store (the history shows what was believed and when), every path out
//! that serves live knowledge (hunting snapshots, exports, search, REST) leaves revoked objects out, and TAXII
//! consumers receive the revoked version like any other, so members who pulled the object learn it was withdrawn.
//! STIX makes a revocation final: a later feed run that repeats a value Vigil derived (an IOC list line) keeps the
//! same id and only adds provenance, so the retraction holds; a producer's own newer version of a STIX object
//! replaces it, as the producer outranks a local decision about its object.
//!
//! Observables (SCOs) are facts (a domain exists) rather than claims, and STIX gives them no `revoked`: they are
//! never retracted. Marking definitions are fixed by the standard. Relationships and sightings that touch a
//! retracted object are retracted with it: an `indicates` edge from a withdrawn indicator would still name it.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use globset::{Glob, GlobMatcher};
use serde::Serialize;
use serde_json::json;
use vigil_model::object::is_sco_type;
use vigil_model::{time, Provenance, StixObject};
use vigil_store::{PutMode, Store, StoreError, StoredObject};

/// The provenance source of the versions a retraction writes.
pub const RETRACTION_SOURCE: &str = "vigil-analyst";

/// Objects listed by id in a report (the counts are always complete).
const MAX_LISTED: usize = 1000;

/// What to retract.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Objects by STIX id, indicator value, name or external id (each must name exactly one object, or only
    /// indicators and observables of one value).
    pub keys: Vec<String>,
    /// Every live object this source reports, unless another source reports it too.
    pub source: Option<String>,
    /// With `source`: only what came from files matching this glob (`*` crosses `/`).
    pub file: Option<String>,
    /// Only these object types (all when empty).
    pub types: Vec<String>,
}

impl Selection {
    /// What an audit entry names: the source (and file pattern), else the first ids retracted; never the keys as
    /// typed, which may be indicator values (the audit trail holds no object contents).
    pub fn audit_target(&self, report: &RetractReport) -> String {
        match (&self.source, &self.file) {
            (Some(s), Some(f)) => format!("source {s} files {f}"),
            (Some(s), None) => format!("source {s}"),
            (None, _) => report
                .ids
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// Who retracts and why.
#[derive(Debug, Clone)]
pub struct Retraction {
    pub by: String,
    pub reason: Option<String>,
    pub now: DateTime<Utc>,
    /// Work out and report what would be retracted, write nothing.
    pub dry_run: bool,
}

/// An object of the source that stays because other sources report it too.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    pub id: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub other_sources: Vec<String>,
}

/// What a retraction did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetractReport {
    pub dry_run: bool,
    /// Objects retracted, the relationships and sightings that went with them included.
    pub retracted: usize,
    pub by_type: BTreeMap<String, usize>,
    /// Of `retracted`, relationships and sightings retracted because an end of theirs was.
    pub cascaded: usize,
    /// The retracted ids, first `MAX_LISTED`.
    pub ids: Vec<String>,
    /// Objects of the source that other sources report too, left live.
    pub kept: usize,
    /// The first `MAX_LISTED` of them.
    pub kept_objects: Vec<Kept>,
    /// Observables the selection named, left live (facts, not claims).
    pub observables_left: usize,
    /// Objects of the source whose file did not match `--file`.
    pub other_files: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RetractError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("bad file pattern {pattern:?}: {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("nothing to select: name objects or a source")]
    NothingSelected,
    #[error("a file pattern needs a source (--source)")]
    FileWithoutSource,
    #[error("no live object found for {0:?}")]
    NotFound(String),
    #[error("{key:?} names {} objects ({}); retract one by its id", .candidates.len(), .candidates.join(", "))]
    Ambiguous {
        key: String,
        candidates: Vec<String>,
    },
    #[error("{id}: {reason}")]
    Object { id: String, reason: String },
}

/// Retracts the selection (see the module documentation). One transaction: all of it is written or none.
pub fn retract(
    store: &dyn Store,
    sel: &Selection,
    how: &Retraction,
) -> Result<RetractReport, RetractError> {
    if sel.keys.is_empty() && sel.source.is_none() {
        return Err(RetractError::NothingSelected);
    }
    if sel.file.is_some() && sel.source.is_none() {
        return Err(RetractError::FileWithoutSource);
    }
    let matcher = sel.file.as_deref().map(file_matcher).transpose()?;
    let type_ok = |t: &str| sel.types.is_empty() || sel.types.iter().any(|x| x == t);
    let mut report = RetractReport {
        dry_run: how.dry_run,
        ..RetractReport::default()
    };
    // Chosen objects (id, type) in order, without repeats. Only ids are held: a source can have a million
    // objects, and each is read again when its revoked version is written.
    let mut chosen: Vec<(String, String)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    // Every candidate is live here (`resolve_key` and `sourced` leave revoked objects out).
    let mut choose = |id: String, ty: String, report: &mut RetractReport| {
        if !retractable_type(&ty) {
            if is_sco_type(&ty) {
                report.observables_left += 1;
            }
        } else if seen.insert(id.clone()) {
            chosen.push((id, ty));
        }
    };
    for key in &sel.keys {
        for o in resolve_key(store, key)? {
            if type_ok(o.object.type_()) {
                choose(
                    o.object.id().to_string(),
                    o.object.type_().to_string(),
                    &mut report,
                );
            }
        }
    }
    if let Some(source) = &sel.source {
        for s in store.sourced(source)? {
            if !type_ok(&s.type_) {
                continue;
            }
            if let Some(m) = &matcher {
                if !s.files.iter().any(|f| m.is_match(f)) {
                    report.other_files += 1;
                    continue;
                }
            }
            if !s.other_sources.is_empty() {
                report.kept += 1;
                if report.kept_objects.len() < MAX_LISTED {
                    report.kept_objects.push(Kept {
                        id: s.id,
                        type_: s.type_,
                        other_sources: s.other_sources,
                    });
                }
                continue;
            }
            choose(s.id, s.type_, &mut report);
        }
    }
    // Edges of what goes: found before anything is written, while every end is still live (`related` lists the
    // live relationships and sightings of an object whose far end is live).
    let direct = chosen.len();
    for i in 0..direct {
        // STIX relationships and sightings point at SDOs and SCOs, never at each other: an edge has no edges.
        if matches!(chosen[i].1.as_str(), "relationship" | "sighting") {
            continue;
        }
        for r in store.related(&chosen[i].0)? {
            if seen.insert(r.relationship_id.clone()) {
                let ty = r
                    .relationship_id
                    .split("--")
                    .next()
                    .unwrap_or("")
                    .to_string();
                chosen.push((r.relationship_id, ty));
            }
        }
    }
    report.cascaded = chosen.len() - direct;
    report.retracted = chosen.len();
    for (id, ty) in &chosen {
        *report.by_type.entry(ty.clone()).or_default() += 1;
        if report.ids.len() < MAX_LISTED {
            report.ids.push(id.clone());
        }
    }
    if how.dry_run || chosen.is_empty() {
        return Ok(report);
    }
    let prov = Provenance {
        source: RETRACTION_SOURCE.into(),
        ingested_at: time::format(&how.now),
        original_id: None,
        file: None,
    };
    // One transaction: a failure half-way leaves nothing retracted. Reads go through the store's reader,
    // which sees the state before this write: the versions being revoked.
    let mut failure: Option<RetractError> = None;
    let res = store.write(&mut |tx| {
        for (id, _) in &chosen {
            let Some(cur) = store.get(id)? else { continue };
            if cur.object.revoked() {
                continue;
            }
            match revoked_version(&cur.object, how) {
                Ok(o) => {
                    tx.put(&o, &prov, PutMode::Supersede)?;
                }
                Err(e) => {
                    failure = Some(e);
                    return Err(StoreError::Db("retraction stopped".into()));
                }
            }
        }
        Ok(())
    });
    if let Some(e) = failure {
        return Err(e);
    }
    res?;
    Ok(report)
}

/// True for types STIX lets a producer revoke: not observables, not marking definitions.
pub fn retractable_type(ty: &str) -> bool {
    !is_sco_type(ty) && ty != "marking-definition"
}

fn file_matcher(pattern: &str) -> Result<GlobMatcher, RetractError> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| RetractError::BadPattern {
            pattern: pattern.to_string(),
            reason: e.kind().to_string(),
        })
}

/// The objects a key names: an id names one; a value may name its indicator and observable together; a name
/// shared by several objects (a malware family and a tool called alike) is refused, so a typo cannot withdraw
/// the wrong thing.
fn resolve_key(store: &dyn Store, key: &str) -> Result<Vec<StoredObject>, RetractError> {
    let found: Vec<StoredObject> = store
        .resolve(key)?
        .into_iter()
        .filter(|o| !o.object.revoked() && !o.object.deprecated())
        .collect();
    if found.is_empty() {
        return Err(RetractError::NotFound(key.to_string()));
    }
    let exact_id = found.iter().position(|o| o.object.id() == key.trim());
    if let Some(i) = exact_id {
        return Ok(vec![found[i].clone()]);
    }
    let value_like = found
        .iter()
        .all(|o| o.object.type_() == "indicator" || o.object.is_sco());
    let claims = found.iter().filter(|o| !o.object.is_sco()).count();
    if found.len() == 1 || (value_like && claims <= 1) {
        return Ok(found);
    }
    Err(RetractError::Ambiguous {
        key: key.to_string(),
        candidates: found
            .iter()
            .map(|o| match o.object.name() {
                Some(n) => format!("{} {n:?}", o.object.id()),
                None => o.object.id().to_string(),
            })
            .collect(),
    })
}

/// The object's next version: revoked, `modified` later than the current one, with who retracted it and why.
fn revoked_version(o: &StixObject, how: &Retraction) -> Result<StixObject, RetractError> {
    let mut note = json!({"by": how.by, "at": time::format(&how.now)});
    if let Some(r) = &how.reason {
        note["reason"] = json!(r);
    }
    revoked_at(o, how.now, "x_vigil_retraction", note)
}

/// A revoked version of `o`, newer than it and than `now`, carrying `why` under `note_key`. Retraction and ingest
/// (a list family's `duplicate-of` that a better cluster replaced) both revoke so.
pub(crate) fn revoked_at(
    o: &StixObject,
    now: DateTime<Utc>,
    note_key: &str,
    why: serde_json::Value,
) -> Result<StixObject, RetractError> {
    let current = o.version();
    let mut modified = now;
    if !current.is_empty() {
        let cur = time::parse("modified", current).map_err(|e| RetractError::Object {
            id: o.id().to_string(),
            reason: e.to_string(),
        })?;
        // A producer's clock ahead of ours, or a current version in the same millisecond (Vigil writes
        // milliseconds, producers may write finer), must still give a newer version.
        while time::parse("modified", &time::format(&modified)).map_or(true, |m| m <= cur) {
            modified = modified.max(cur) + Duration::milliseconds(1);
        }
    }
    let mut v = o.to_value();
    v["modified"] = json!(time::format(&modified));
    v["revoked"] = json!(true);
    v[note_key] = why;
    StixObject::from_value(v).map_err(|e| RetractError::Object {
        id: o.id().to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_store::sqlite::SqliteStore;

    fn obj(v: serde_json::Value) -> StixObject {
        StixObject::from_value(v).expect("valid fixture")
    }

    fn how(dry_run: bool) -> Retraction {
        Retraction {
            by: "CERT-Test".into(),
            reason: Some("false positive".into()),
            now: time::parse("now", "2026-12-02T10:00:00.000Z").expect("time"),
            dry_run,
        }
    }

    fn put(store: &dyn Store, o: &StixObject, source: &str) {
        let prov = Provenance {
            source: source.into(),
            ingested_at: "2026-12-01T00:00:00Z".into(),
            original_id: None,
            file: Some(format!("{source}.json")),
        };
        store
            .write(&mut |tx| tx.put(o, &prov, PutMode::Source).map(|_| ()))
            .expect("put");
    }

    fn tool(n: u8, name: &str) -> StixObject {
        obj(
            json!({"type": "tool", "spec_version": "2.1", "id": format!("tool--00000000-0000-4000-8000-0000000000{n:02}"),
            "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": name}),
        )
    }

    #[test]
    fn the_revoked_version_is_always_newer() {
        let h = how(false);
        // A producer writing microseconds in the same millisecond as our clock, and one whose clock runs ahead.
        for cur in [
            "2026-12-02T10:00:00.000400Z",
            "2026-12-03T00:00:00Z",
            "2020-01-01T00:00:00Z",
        ] {
            let o = obj(
                json!({"type": "malware", "spec_version": "2.1", "id": "malware--00000000-0000-4000-8000-000000000001",
                "created": "2019-01-01T00:00:00Z", "modified": cur, "name": "x", "is_family": true}),
            );
            let r = revoked_version(&o, &h).expect("revoked");
            let new = time::parse("modified", r.version()).expect("time");
            assert!(
                new > time::parse("modified", cur).expect("time"),
                "{cur} -> {}",
                r.version()
            );
            assert!(r.revoked());
            assert_eq!(
                r.get("x_vigil_retraction")
                    .and_then(|v| v["reason"].as_str()),
                Some("false positive")
            );
        }
    }

    #[test]
    fn keys_must_name_one_claim_and_sources_keep_what_others_report() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("store");
        put(&store, &tool(1, "Twin"), "a");
        put(
            &store,
            &obj(
                json!({"type": "malware", "spec_version": "2.1", "id": "malware--00000000-0000-4000-8000-000000000002",
            "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": "Twin", "is_family": true}),
            ),
            "a",
        );
        put(&store, &tool(3, "Solo"), "a");
        put(&store, &tool(3, "Solo"), "b");
        let by_key = |k: &str| Selection {
            keys: vec![k.into()],
            ..Selection::default()
        };
        let err =
            retract(&store, &by_key("twin"), &how(true)).expect_err("two objects share the name");
        assert!(
            matches!(err, RetractError::Ambiguous { ref candidates, .. } if candidates.len() == 2),
            "{err}"
        );
        assert!(matches!(
            retract(&store, &by_key("nobody"), &how(true)),
            Err(RetractError::NotFound(_))
        ));
        assert!(matches!(
            retract(&store, &Selection::default(), &how(true)),
            Err(RetractError::NothingSelected)
        ));
        let bad_glob = Selection {
            source: Some("a".into()),
            file: Some("[".into()),
            ..Selection::default()
        };
        assert!(matches!(
            retract(&store, &bad_glob, &how(true)),
            Err(RetractError::BadPattern { .. })
        ));

        let from_a = Selection {
            source: Some("a".into()),
            types: vec!["tool".into()],
            ..Selection::default()
        };
        let r = retract(&store, &from_a, &how(false)).expect("retract");
        assert_eq!((r.retracted, r.kept), (1, 1), "{r:?}");
        assert_eq!(r.kept_objects[0].other_sources, vec!["b".to_string()]);
        assert!(store
            .get(tool(1, "").id())
            .expect("get")
            .expect("kept in history")
            .object
            .revoked());
        assert!(!store
            .get(tool(3, "").id())
            .expect("get")
            .expect("stored")
            .object
            .revoked());
        // The malware of source a was left out by --type; the name now names one live object.
        let r = retract(&store, &by_key("twin"), &how(false)).expect("one object left");
        assert_eq!(r.by_type.get("malware"), Some(&1));
        assert_eq!(
            store
                .versions("malware--00000000-0000-4000-8000-000000000002")
                .expect("versions")
                .len(),
            2
        );
        // A file glob narrows a source to what came from matching files.
        let r = retract(
            &store,
            &Selection {
                source: Some("b".into()),
                file: Some("*.txt".into()),
                ..Selection::default()
            },
            &how(true),
        )
        .expect("dry run");
        assert_eq!((r.retracted, r.other_files), (0, 1), "{r:?}");
        assert!(store.check().expect("check").is_empty());
    }
}
