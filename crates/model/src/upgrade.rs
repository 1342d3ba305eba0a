//! STIX 2.0 to 2.1: the changes needed for 2.0 objects (ATT&CK's mitre/cti bundle among them) to be valid 2.1.

use serde_json::{json, Map, Value};

use crate::object::is_sco_type;

/// Upgrades a 2.0 object in place; a 2.1 object is left as it is. Returns true when something changed.
pub fn upgrade_to_21(m: &mut Map<String, Value>) -> bool {
    let ty = m
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if m.get("spec_version").and_then(Value::as_str) == Some("2.1") {
        return false;
    }
    if is_sco_type(&ty) {
        return false;
    }
    let was_20 = matches!(
        m.get("spec_version").and_then(Value::as_str),
        None | Some("2.0")
    );
    if !was_20 {
        return false;
    }
    m.insert("spec_version".into(), json!("2.1"));
    match ty.as_str() {
        // 2.1 requires is_family; 2.0 malware objects describe families (ATT&CK software entries are families).
        "malware" if !m.contains_key("is_family") => {
            m.insert("is_family".into(), json!(true));
        }
        "indicator" if !m.contains_key("pattern_type") => {
            m.insert("pattern_type".into(), json!("stix"));
        }
        "marking-definition" => {
            // 2.0 markings carry no `modified`; 2.1 does not require one either.
        }
        _ => {}
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malware_gets_is_family() {
        let mut m = json!({"type": "malware", "id": "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "name": "x",
            "created": "2017-01-01T00:00:00Z", "modified": "2017-01-01T00:00:00Z", "labels": ["malware"]})
        .as_object()
        .cloned()
        .unwrap();
        assert!(upgrade_to_21(&mut m));
        assert_eq!(m["is_family"], json!(true));
        assert_eq!(m["spec_version"], json!("2.1"));
        crate::validate::validate(&m).unwrap();
        assert!(!upgrade_to_21(&mut m));
    }
}
