//! What is known about a vulnerability, gathered at read time from every source that names it: the KEV entry
//! (with known ransomware use), EPSS, SSVC and CVSS from the advisories, the actors, intrusion sets, campaigns and
//! malware the knowledge base relates to it (ATT&CK, MISP galaxies and events, STIX feeds — under whichever id
//! each source gave the vulnerability), and how many members hold notices for it.
//!
//! Gathering at read time rather than writing links at ingest keeps the answer independent of the order in which
//! sources arrive (an actor report may come before or after the KEV entry), and it is cheap: one name lookup and
//! the relationships of a handful of objects. Everything listed passes the caller's TLP scope.

use serde_json::{json, Map, Value};
use vigil_store::{MemberStore, ReadScope, Store, StoreError, VulnStore};

const EXPLOITER_TYPES: [&str; 5] = [
    "threat-actor",
    "intrusion-set",
    "campaign",
    "malware",
    "tool",
];

/// The context of a vulnerability object (None for other objects or a name that is not a vulnerability id).
/// `notices` adds the count of members' notices (operator staff only: it says who is affected).
pub fn vulnerability<S: Store + MemberStore + VulnStore + ?Sized>(
    store: &S,
    object: &Value,
    scope: &ReadScope,
    notices: bool,
) -> Result<Option<Value>, StoreError> {
    if object.get("type").and_then(Value::as_str) != Some("vulnerability") {
        return Ok(None);
    }
    let Some(name) = object.get("name").and_then(Value::as_str) else {
        return Ok(None);
    };
    let cve = name.trim().to_ascii_uppercase();
    let mut out = Map::new();
    out.insert("name".into(), json!(cve));
    // Every vulnerability object any source keeps under this name, as far as the caller may see it.
    let mut same = Vec::new();
    for o in store.resolve(&cve)? {
        if o.object.type_() == "vulnerability"
            && o.object
                .name()
                .is_some_and(|n| n.eq_ignore_ascii_case(&cve))
            && store.get_visible(o.object.id(), scope)?.is_some()
        {
            same.push(o.object.into_value());
        }
    }
    if let Some(id) = object.get("id").and_then(Value::as_str) {
        if !same
            .iter()
            .any(|o| o.get("id").and_then(Value::as_str) == Some(id))
        {
            same.push(object.clone());
        }
    }
    out.insert(
        "objects".into(),
        json!(same
            .iter()
            .filter_map(|o| o.get("id").cloned())
            .collect::<Vec<_>>()),
    );
    for key in ["x_vigil_kev", "x_vigil_ssvc", "x_vigil_cvss"] {
        if let Some(v) = same.iter().find_map(|o| o.get(key)) {
            out.insert(key.trim_start_matches("x_vigil_").into(), v.clone());
        }
    }
    let ransomware = same.iter().any(|o| {
        // Stored as a boolean by Vigil's KEV reader; CISA's own field is the string "Known"/"Unknown".
        match o.pointer("/x_vigil_kev/known_ransomware_campaign_use") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("known"),
            _ => false,
        }
    });
    out.insert("in_kev".into(), json!(out.contains_key("kev")));
    out.insert("known_ransomware_use".into(), json!(ransomware));
    if let Some((score, percentile, date)) = store.epss_of(&cve)? {
        out.insert(
            "epss".into(),
            json!({"score": score, "percentile": percentile, "date": date}),
        );
    }
    let mut exploiters: Vec<Value> = Vec::new();
    for o in &same {
        let Some(id) = o.get("id").and_then(Value::as_str) else {
            continue;
        };
        for r in store.related(id)? {
            if !EXPLOITER_TYPES.contains(&r.type_.as_str())
                || exploiters.iter().any(|e| e["id"] == r.id.as_str())
            {
                continue;
            }
            if store.get_visible(&r.relationship_id, scope)?.is_none()
                || store.get_visible(&r.id, scope)?.is_none()
            {
                continue;
            }
            exploiters.push(json!({"id": r.id, "type": r.type_, "name": r.name,
                "relationship": r.relationship_type, "via": id}));
        }
    }
    out.insert("exploited_by".into(), Value::Array(exploiters));
    if notices {
        let (members, open) = store.notice_counts(&cve)?;
        out.insert("notices".into(), json!({"members": members, "open": open}));
    }
    Ok(Some(Value::Object(out)))
}
