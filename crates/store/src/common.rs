//! What every backend does the same way once its rows are read: turning rows into search hits and graph edges,
//! and resolving what an analyst typed. Kept here so that the backends differ only in their SQL.

use serde_json::Value;
use vigil_model::StixObject;

use crate::{PutMode, Related, SearchHit, Store, StoreError, StoredObject};

/// What storing a version does, given the id's latest stored version: the rules of [`PutMode`], one place for
/// every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionStep {
    /// The same version, or an object Vigil derived (version "") that a source now supplies: the stored one stays
    /// and gains the provenance.
    Keep,
    /// Newer: it becomes the latest version.
    Replace,
    /// Older: it goes into the history, unless that version is stored already.
    History,
}

pub(crate) fn version_step(latest: &str, version: &str, mode: PutMode) -> VersionStep {
    if latest == version || (latest.is_empty() && mode != PutMode::Supersede) {
        VersionStep::Keep
    } else if version > latest {
        VersionStep::Replace
    } else {
        VersionStep::History
    }
}

/// A search hit from a row: `rank` is the backend's relevance (higher is better). An exact name or alias match
/// outranks a mention in a description; a revoked or deprecated object ranks last.
pub(crate) fn search_hit(
    id: String,
    type_: String,
    json: &str,
    rank: f64,
    retired: bool,
    needle: &str,
) -> SearchHit {
    let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    let name = v.get("name").and_then(Value::as_str).map(str::to_string);
    let mut score = rank;
    if retired {
        score -= 50.0;
    }
    let exact = name.as_deref().is_some_and(|n| n.to_lowercase() == needle)
        || v.get("aliases").and_then(Value::as_array).is_some_and(|a| {
            a.iter()
                .any(|x| x.as_str().is_some_and(|x| x.to_lowercase() == needle))
        });
    if exact {
        score += 100.0;
    }
    let external_id = StixObject::from_value(v)
        .ok()
        .and_then(|o| o.external_id().map(str::to_string));
    SearchHit {
        id,
        type_,
        name,
        external_id,
        score: (score * 1000.0).round() / 1000.0,
        retired,
    }
}

/// Best hits first, at most `limit`.
pub(crate) fn rank_hits(mut hits: Vec<SearchHit>, limit: usize) -> Vec<SearchHit> {
    hits.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    hits.truncate(limit);
    hits
}

/// The edge a relationship or sighting row makes for object `id` seen in direction `dir` (`out`: the row was
/// found by its source; `in`: by its target): (relationship type, the far end's id, the row's id). None when the
/// row is not an edge of `id` (a hash collision in a backend that indexes hashed ends).
pub(crate) fn edge_of(
    id: &str,
    dir: &str,
    row_id: &str,
    type_: &str,
    json: &str,
) -> Result<Option<(String, String, String)>, StoreError> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("{row_id}: {e}")))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Ok(match (type_, dir) {
        ("relationship", "out") if s("source_ref") == id => {
            Some((s("relationship_type"), s("target_ref"), row_id.to_string()))
        }
        ("relationship", "in") if s("target_ref") == id => {
            Some((s("relationship_type"), s("source_ref"), row_id.to_string()))
        }
        ("sighting", "in") if s("sighting_of_ref") == id => Some((
            "sighting-of".to_string(),
            row_id.to_string(),
            row_id.to_string(),
        )),
        _ => None,
    })
}

/// A `Related` entry for an edge whose far end `other` is stored as `far` (its JSON and whether it is retired),
/// or not stored at all. None when the far end is retired or unreadable: the edge is not shown.
pub(crate) fn related_entry(
    dir: &str,
    (relationship_type, other, relationship_id): (String, String, String),
    far: Option<(&str, bool)>,
) -> Option<Related> {
    let (type_, name, external_id) = match far {
        Some((_, true)) => return None,
        Some((json, false)) => {
            let o = serde_json::from_str::<Value>(json)
                .ok()
                .and_then(|v| StixObject::from_value(v).ok())?;
            (
                o.type_().to_string(),
                o.name().map(str::to_string),
                o.external_id().map(str::to_string),
            )
        }
        None => (
            other.split("--").next().unwrap_or("").to_string(),
            None,
            None,
        ),
    };
    Some(Related {
        relationship_type,
        direction: dir.to_string(),
        id: other,
        type_,
        name,
        external_id,
        relationship_id,
    })
}

/// `Store::resolve` given the backend's key look-up (`ids_of`: ids whose keys equal a text, best first): a value
/// also finds the indicator Vigil derived from it, and a value as an analyst types it (defanged, upper-case,
/// trailing dot) is tried again in its stored form.
pub(crate) fn resolve_with(
    store: &dyn Store,
    key: &str,
    ids_of: &dyn Fn(&str) -> Result<Vec<String>, StoreError>,
) -> Result<Vec<StoredObject>, StoreError> {
    let mut ids = ids_of(key)?;
    if let Some(o) = vigil_model::Observable::detect(key) {
        let derived = o.indicator_id();
        if !ids.contains(&derived) && store.get(&derived)?.is_some() {
            ids.push(derived);
        }
    }
    if ids.is_empty() {
        if let Some(o) = vigil_model::Observable::detect(key) {
            if o.value != key {
                ids = ids_of(&o.value)?;
            }
        }
    }
    let mut out = Vec::new();
    for id in ids {
        if let Some(o) = store.get(&id)? {
            out.push(o);
        }
    }
    Ok(out)
}

/// Parses a stored row's JSON into an object. Stored objects were validated on the way in, so they are not
/// validated again; a row a later Vigil validates more strictly is still read.
pub(crate) fn stored_object(
    seq: i64,
    added_at: String,
    tlp: Option<vigil_model::Tlp>,
    json: &str,
) -> Result<StoredObject, StoreError> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("seq {seq}: {e}")))?;
    let Value::Object(mut m) = v else {
        return Err(StoreError::Corrupt(format!("seq {seq}: not an object")));
    };
    let sco = match (m.get("type").and_then(Value::as_str), m.get("id")) {
        (Some(ty), Some(Value::String(_))) => vigil_model::object::is_sco_type(ty),
        _ => {
            return Err(StoreError::Corrupt(format!(
                "seq {seq}: an object without a type or id"
            )))
        }
    };
    // Rows of early versions may lack `spec_version`, which STIX 2.1 requires of everything but cyber-observables
    // (where 2.1 is the default): what reads the object back gets it.
    if !sco && !m.contains_key("spec_version") {
        m.insert("spec_version".into(), Value::String("2.1".into()));
    }
    let object = StixObject::from_stored_map(m);
    Ok(StoredObject {
        object,
        seq,
        added_at,
        tlp,
    })
}
