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
        // 2.1 keeps the embedded `objects` dictionary (deprecated) but gives every cyber-observable an id, and the
        // OASIS validator refuses 2.1 observed-data whose embedded objects have none. The id is the SCO's own
        // deterministic one where its type defines contributing properties, else derived from the parent and key.
        "observed-data" => {
            let parent = m
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some(Value::Object(objects)) = m.get_mut("objects") {
                for (key, sco) in objects.iter_mut() {
                    let Value::Object(sco) = sco else { continue };
                    let Some(t) = sco.get("type").and_then(Value::as_str).map(str::to_string)
                    else {
                        continue;
                    };
                    if sco.contains_key("id") {
                        continue;
                    }
                    let id = crate::ids::sco_id(&t, sco)
                        .unwrap_or_else(|| crate::ids::vigil_id(&t, &[&parent, key]));
                    sco.insert("id".into(), json!(id));
                }
            }
        }
        _ => {}
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_data_objects_get_ids() {
        let mut m = json!({"type": "observed-data", "id": "observed-data--0853d51f-0fe7-4d35-b3cb-b96bdbc1f0ee",
            "created": "2021-08-24T10:53:13.000Z", "modified": "2021-08-24T10:53:13.000Z",
            "first_observed": "2021-08-24T10:53:13Z", "last_observed": "2021-08-24T10:53:13Z", "number_observed": 1,
            "objects": {"0": {"type": "ipv4-addr", "value": "8.8.8.8"},
                        "1": {"type": "network-traffic", "src_ref": "0", "protocols": ["ipv4"]}}});
        let Some(map) = m.as_object_mut() else {
            panic!("object")
        };
        assert!(upgrade_to_21(map));
        let objs = &m["objects"];
        let ip = objs["0"]["id"].as_str().unwrap_or("");
        assert!(ip.starts_with("ipv4-addr--"), "{objs}");
        assert_eq!(
            Some(ip.to_string()),
            crate::ids::sco_id("ipv4-addr", objs["0"].as_object().unwrap_or(&Map::new()))
        );
        assert!(
            objs["1"]["id"]
                .as_str()
                .unwrap_or("")
                .starts_with("network-traffic--"),
            "{objs}"
        );
        let mut again = m.clone();
        let before = again.clone();
        if let Some(map) = again.as_object_mut() {
            assert!(!upgrade_to_21(map), "a 2.1 object is left alone");
        }
        assert_eq!(again, before);
    }

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
