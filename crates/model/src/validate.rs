//! Structural validation of STIX 2.1 objects: the common properties, each type's required properties (from the
//! OASIS JSON schemas), property types, timestamps, and the syntax of STIX patterns.

use serde_json::{Map, Value};

use crate::{ids, object::is_sco_type, pattern::Pattern, time, ModelError};

/// SDO types defined by STIX 2.1.
pub const SDO_TYPES: &[&str] = &[
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
];

fn req<'a>(m: &'a Map<String, Value>, k: &str) -> Result<&'a Value, ModelError> {
    m.get(k).ok_or_else(|| ModelError::Missing(k.to_string()))
}

fn req_str<'a>(m: &'a Map<String, Value>, k: &str) -> Result<&'a str, ModelError> {
    match req(m, k)? {
        Value::String(s) => Ok(s),
        _ => Err(ModelError::invalid(k, "must be a string")),
    }
}

fn opt_str(m: &Map<String, Value>, k: &str) -> Result<(), ModelError> {
    match m.get(k) {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => Err(ModelError::invalid(k, "must be a string")),
    }
}

fn ts(
    m: &Map<String, Value>,
    k: &str,
    required: bool,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ModelError> {
    match m.get(k) {
        None if required => Err(ModelError::Missing(k.to_string())),
        None => Ok(None),
        Some(Value::String(s)) => time::parse(k, s).map(Some),
        Some(_) => Err(ModelError::invalid(k, "must be a timestamp string")),
    }
}

fn id_ref(k: &str, v: &Value) -> Result<(), ModelError> {
    match v.as_str() {
        Some(s) if ids::is_valid_id(s) => Ok(()),
        _ => Err(ModelError::invalid(
            k,
            format!("not a STIX identifier: {}", clip(v)),
        )),
    }
}

fn non_empty_refs(m: &Map<String, Value>, k: &str) -> Result<(), ModelError> {
    match req(m, k)? {
        Value::Array(a) if !a.is_empty() => a.iter().try_for_each(|x| id_ref(k, x)),
        _ => Err(ModelError::invalid(
            k,
            "must be a non-empty list of identifiers",
        )),
    }
}

fn clip(v: &Value) -> String {
    v.to_string().chars().take(80).collect()
}

/// Validates one object. The error names the property at fault.
pub fn validate(m: &Map<String, Value>) -> Result<(), ModelError> {
    let ty = req_str(m, "type")?;
    if ty.len() < 3
        || ty.len() > 250
        || !ty
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ModelError::invalid(
            "type",
            format!("`{ty}` is not a valid STIX type name"),
        ));
    }
    let id = req_str(m, "id")?;
    match ids::split_id(id) {
        Some((t, _)) if t == ty => {}
        _ => return Err(ModelError::BadId(id.chars().take(120).collect())),
    }
    let sco = is_sco_type(ty);
    if let Some(sv) = m.get("spec_version") {
        if sv.as_str() != Some("2.1") {
            return Err(ModelError::invalid(
                "spec_version",
                "must be \"2.1\" (2.0 input is upgraded before validation)",
            ));
        }
    } else if !sco {
        return Err(ModelError::Missing("spec_version".into()));
    }
    let meta = matches!(
        ty,
        "marking-definition" | "language-content" | "extension-definition"
    );
    if !sco {
        let created = ts(m, "created", true)?;
        let modified = ts(m, "modified", ty != "marking-definition")?;
        if let (Some(c), Some(md)) = (created, modified) {
            if md < c {
                return Err(ModelError::invalid("modified", "is earlier than created"));
            }
        }
    }
    if let Some(c) = m.get("confidence") {
        match c.as_u64() {
            Some(n) if n <= 100 => {}
            _ => {
                return Err(ModelError::invalid(
                    "confidence",
                    "must be an integer from 0 to 100",
                ))
            }
        }
    }
    for k in ["revoked", "is_family"] {
        if let Some(v) = m.get(k) {
            if !v.is_boolean() {
                return Err(ModelError::invalid(k, "must be a boolean"));
            }
        }
    }
    for (k, v) in m {
        if k.ends_with("_ref") && !k.starts_with("x_") && ty != "marking-definition" {
            id_ref(k, v)?;
        } else if k.ends_with("_refs") && !k.starts_with("x_") {
            match v {
                Value::Array(a) => a.iter().try_for_each(|x| id_ref(k, x))?,
                _ => return Err(ModelError::invalid(k, "must be a list of identifiers")),
            }
        }
    }
    for k in ["labels", "aliases"] {
        if let Some(v) = m.get(k) {
            match v {
                Value::Array(a) if a.iter().all(Value::is_string) => {}
                _ => return Err(ModelError::invalid(k, "must be a list of strings")),
            }
        }
    }
    if let Some(v) = m.get("external_references") {
        match v {
            Value::Array(a) => {
                for r in a {
                    match r.as_object() {
                        Some(o) if o.get("source_name").is_some_and(Value::is_string) => {}
                        _ => {
                            return Err(ModelError::invalid(
                                "external_references",
                                "each entry needs a string source_name",
                            ))
                        }
                    }
                }
            }
            _ => return Err(ModelError::invalid("external_references", "must be a list")),
        }
    }
    opt_str(m, "description")?;
    if meta {
        return Ok(());
    }
    match ty {
        "indicator" => {
            let pattern = req_str(m, "pattern")?;
            let pt = req_str(m, "pattern_type")?;
            let from = ts(m, "valid_from", true)?;
            let until = ts(m, "valid_until", false)?;
            if let (Some(f), Some(u)) = (from, until) {
                if u <= f {
                    return Err(ModelError::invalid(
                        "valid_until",
                        "must be later than valid_from",
                    ));
                }
            }
            if pt == "stix" {
                Pattern::parse(pattern)?;
            }
        }
        "malware" => {
            let fam = req(m, "is_family")?;
            if fam.as_bool() == Some(true) {
                req_str(m, "name")?;
            }
            opt_str(m, "name")?;
        }
        "relationship" => {
            req_str(m, "relationship_type")?;
            id_ref("source_ref", req(m, "source_ref")?)?;
            id_ref("target_ref", req(m, "target_ref")?)?;
        }
        "sighting" => {
            id_ref("sighting_of_ref", req(m, "sighting_of_ref")?)?;
            let first = ts(m, "first_seen", false)?;
            let last = ts(m, "last_seen", false)?;
            if let (Some(f), Some(l)) = (first, last) {
                if l < f {
                    return Err(ModelError::invalid(
                        "last_seen",
                        "is earlier than first_seen",
                    ));
                }
            }
        }
        "report" => {
            req_str(m, "name")?;
            ts(m, "published", true)?;
            non_empty_refs(m, "object_refs")?;
        }
        "note" => {
            req_str(m, "content")?;
            non_empty_refs(m, "object_refs")?;
        }
        "opinion" => {
            req_str(m, "opinion")?;
            non_empty_refs(m, "object_refs")?;
        }
        "grouping" => {
            req_str(m, "context")?;
            non_empty_refs(m, "object_refs")?;
        }
        "observed-data" => {
            ts(m, "first_observed", true)?;
            ts(m, "last_observed", true)?;
            match req(m, "number_observed")?.as_u64() {
                Some(n) if (1..=999_999_999).contains(&n) => {}
                _ => {
                    return Err(ModelError::invalid(
                        "number_observed",
                        "must be an integer from 1 to 999999999",
                    ))
                }
            }
            if m.contains_key("objects") == m.contains_key("object_refs") {
                return Err(ModelError::invalid(
                    "objects",
                    "exactly one of objects and object_refs is required",
                ));
            }
        }
        "location" => {
            let has = |k| m.contains_key(k);
            if !(has("region") || has("country") || (has("latitude") && has("longitude"))) {
                return Err(ModelError::Missing(
                    "region, country or latitude+longitude".into(),
                ));
            }
        }
        "attack-pattern" | "campaign" | "course-of-action" | "identity" | "incident"
        | "infrastructure" | "intrusion-set" | "threat-actor" | "tool" | "vulnerability" => {
            req_str(m, "name")?;
        }
        "domain-name" | "ipv4-addr" | "ipv6-addr" | "url" | "email-addr" | "mac-addr" => {
            req_str(m, "value")?;
        }
        "autonomous-system" => match req(m, "number")?.as_u64() {
            Some(_) => {}
            None => {
                return Err(ModelError::invalid(
                    "number",
                    "must be a non-negative integer",
                ))
            }
        },
        "file" => {
            if !(m.contains_key("hashes") || m.contains_key("name")) {
                return Err(ModelError::Missing("hashes or name".into()));
            }
            if let Some(h) = m.get("hashes") {
                if !h
                    .as_object()
                    .is_some_and(|o| !o.is_empty() && o.values().all(Value::is_string))
                {
                    return Err(ModelError::invalid(
                        "hashes",
                        "must be a non-empty map of strings",
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base(ty: &str) -> Map<String, Value> {
        let v = json!({"type": ty, "spec_version": "2.1", "id": format!("{ty}--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
            "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z"});
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn required_properties() {
        let mut m = base("indicator");
        assert_eq!(validate(&m), Err(ModelError::Missing("pattern".into())));
        m.insert("pattern".into(), json!("[domain-name:value = 'x.com']"));
        m.insert("pattern_type".into(), json!("stix"));
        m.insert("valid_from".into(), json!("2016-01-01T00:00:00Z"));
        assert_eq!(validate(&m), Ok(()));
        m.insert("pattern".into(), json!("[domain-name:value = "));
        assert!(matches!(validate(&m), Err(ModelError::BadPattern(_))));
    }

    #[test]
    fn id_must_match_type() {
        let mut m = base("malware");
        m.insert(
            "id".into(),
            json!("tool--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
        );
        assert!(matches!(validate(&m), Err(ModelError::BadId(_))));
    }

    #[test]
    fn bad_timestamp_and_types() {
        let mut m = base("tool");
        m.insert("name".into(), json!("x"));
        m.insert("created".into(), json!("last tuesday"));
        assert!(matches!(validate(&m), Err(ModelError::BadTimestamp { .. })));
        let mut m = base("tool");
        m.insert("name".into(), json!(42));
        assert!(validate(&m).is_err());
        let mut m = base("tool");
        m.insert("name".into(), json!("x"));
        m.insert("created_by_ref".into(), json!("nope"));
        assert!(validate(&m).is_err());
    }
}
