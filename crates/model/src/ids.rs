//! STIX identifiers: parsing, and the deterministic UUIDv5 ids that STIX 2.1 defines for cyber-observables
//! (and that Vigil also uses for objects it creates itself, so that the same fact from two sources is one object).

use serde_json::{Map, Value};
use uuid::Uuid;

/// The namespace STIX 2.1 (section 2.9) fixes for deterministic SCO identifiers.
pub const STIX_SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00abedb4_aa42_466c_9c01_fed23315a9b7);

/// Namespace for ids Vigil mints for SDOs/SROs it derives itself (indicators from IOC lists, relationships
/// from MISP galaxies, ...). Fixed forever: changing it would duplicate every derived object.
pub const VIGIL_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2b9e_4d1a_5c3e_9a7b_2e8f_0c4d_1a6b);

/// Checks `type--uuid` and returns the type part.
pub fn split_id(id: &str) -> Option<(&str, Uuid)> {
    let (ty, rest) = id.split_once("--")?;
    if ty.is_empty()
        || !ty
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return None;
    }
    let uuid = Uuid::parse_str(rest).ok()?;
    // STIX wants the canonical hyphenated lowercase form.
    if rest.len() != 36 {
        return None;
    }
    Some((ty, uuid))
}

/// True when `id` is a well-formed STIX identifier.
pub fn is_valid_id(id: &str) -> bool {
    split_id(id).is_some()
}

/// `type--uuid5(namespace, name)`.
pub fn derived_id(ty: &str, namespace: Uuid, name: &str) -> String {
    format!("{ty}--{}", Uuid::new_v5(&namespace, name.as_bytes()))
}

/// A Vigil-minted id for an object derived from the given key parts.
pub fn vigil_id(ty: &str, parts: &[&str]) -> String {
    derived_id(ty, VIGIL_NAMESPACE, &parts.join("\u{1f}"))
}

/// The id-contributing properties of each SCO type (STIX 2.1, section 6 per type).
pub fn sco_id_properties(ty: &str) -> Option<&'static [&'static str]> {
    Some(match ty {
        "artifact" => &["hashes", "payload_bin"],
        "autonomous-system" => &["number"],
        "directory" => &["path"],
        "domain-name" | "email-addr" | "ipv4-addr" | "ipv6-addr" | "mac-addr" | "url" => &["value"],
        "email-message" => &["from_ref", "subject", "body"],
        "file" => &["hashes", "name", "extensions", "parent_directory_ref"],
        "mutex" => &["name"],
        "network-traffic" => &[
            "start",
            "end",
            "src_ref",
            "dst_ref",
            "src_port",
            "dst_port",
            "protocols",
            "extensions",
        ],
        "process" => &[],
        "software" => &["name", "cpe", "swid", "vendor", "version"],
        "user-account" => &["account_type", "user_id", "account_login"],
        "windows-registry-key" => &["key", "values"],
        "x509-certificate" => &["hashes", "serial_number"],
        _ => return None,
    })
}

/// Hash algorithms in the order STIX prefers them when one is chosen for an id.
const HASH_PREFERENCE: [&str; 4] = ["MD5", "SHA-1", "SHA-256", "SHA-512"];

/// Deterministic id of an SCO from its properties, or None when it has no contributing property set
/// (the spec then falls back to a random UUIDv4, which the caller decides).
pub fn sco_id(ty: &str, props: &Map<String, Value>) -> Option<String> {
    let keys = sco_id_properties(ty)?;
    let mut contributing = Map::new();
    for k in keys {
        let Some(v) = props.get(*k) else { continue };
        if *k == "hashes" {
            if let Value::Object(h) = v {
                let chosen = HASH_PREFERENCE
                    .iter()
                    .find_map(|alg| h.get(*alg).map(|x| (alg.to_string(), x.clone())))
                    .or_else(|| h.iter().next().map(|(a, x)| (a.clone(), x.clone())));
                if let Some((alg, x)) = chosen {
                    let mut m = Map::new();
                    m.insert(alg, x);
                    contributing.insert("hashes".into(), Value::Object(m));
                }
            }
        } else {
            contributing.insert((*k).to_string(), v.clone());
        }
    }
    if contributing.is_empty() {
        return None;
    }
    Some(derived_id(
        ty,
        STIX_SCO_NAMESPACE,
        &canonical_json(&Value::Object(contributing)),
    ))
}

/// RFC 8785 (JCS) canonical JSON for the value shapes that occur in id-contributing properties:
/// object keys sorted by UTF-16 code units, no whitespace, serde_json's shortest number form.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&m[*k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_python_stix2_for_domain() {
        // Reference value computed by the OASIS python-stix2 library:
        // DomainName(value="example.com").id
        let m = json!({"value": "example.com"});
        let id = sco_id("domain-name", m.as_object().unwrap()).unwrap();
        assert_eq!(id, "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7");
    }

    #[test]
    fn split_rejects_junk() {
        assert!(split_id("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").is_some());
        assert!(split_id("indicator--8e2e2d2b17d44cbf938f98ee46b3cd3f").is_none());
        assert!(split_id("Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").is_none());
        assert!(split_id("nonsense").is_none());
    }

    #[test]
    fn canonical_sorts_keys() {
        assert_eq!(
            canonical_json(&json!({"b":1,"a":{"d":"x","c":[1,2]}})),
            r#"{"a":{"c":[1,2],"d":"x"},"b":1}"#
        );
    }
}
