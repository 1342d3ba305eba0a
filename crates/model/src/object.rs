//! A STIX object as Vigil holds it: the full property map (so unknown and custom properties survive a round trip
//! unchanged) behind typed accessors for what Vigil reasons about.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{tlp::Tlp, validate, ModelError};

/// One STIX object (SDO, SRO, SCO or meta object), validated.
#[derive(Debug, Clone, PartialEq)]
pub struct StixObject {
    props: Map<String, Value>,
}

/// Where a version of an object came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The source name (`--source`, or the one derived from the file).
    pub source: String,
    /// When Vigil stored it (RFC 3339).
    pub ingested_at: String,
    /// The id the source gave the object, when Vigil re-identified it (e.g. a MISP attribute uuid).
    pub original_id: Option<String>,
    /// The file (or archive member) it was read from.
    pub file: Option<String>,
}

/// Most text one object may hold (keys and string values, a lower bound of its JSON size). Real objects are
/// far smaller (the largest of ATT&CK is ~60 KB; an `artifact` carrying a 40 MB sample in `payload_bin` fits); an
/// object beyond this is refused on the way in, naming it, rather than break the stores' limits (SQLite and
/// PostgreSQL refuse a value of 1 GB and more; the full-text index takes the description as well) and with them
/// the whole file it came in.
pub const MAX_OBJECT_BYTES: usize = 64 << 20;

/// Refuses an object holding more than [`MAX_OBJECT_BYTES`] of text, naming its largest top-level property.
fn check_size(props: &Map<String, Value>) -> Result<(), ModelError> {
    fn text(v: &Value) -> usize {
        match v {
            Value::String(s) => s.len(),
            Value::Array(a) => a.iter().map(text).sum(),
            Value::Object(m) => m.iter().map(|(k, v)| k.len() + text(v)).sum(),
            // Numbers, booleans and null are a few bytes each; what can grow without bound is text.
            _ => 0,
        }
    }
    let mut total = 0usize;
    let mut largest = ("", 0usize);
    for (k, v) in props {
        let n = k.len() + text(v);
        total += n;
        if n > largest.1 {
            largest = (k, n);
        }
    }
    if total > MAX_OBJECT_BYTES {
        return Err(ModelError::TooLarge {
            mib: total.div_ceil(1 << 20),
            max_mib: MAX_OBJECT_BYTES >> 20,
            prop: largest.0.to_string(),
        });
    }
    Ok(())
}

/// SCO types defined by STIX 2.1.
pub const SCO_TYPES: &[&str] = &[
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// True for the cyber-observable types of STIX 2.1.
pub fn is_sco_type(ty: &str) -> bool {
    SCO_TYPES.contains(&ty)
}

impl StixObject {
    /// Validates a JSON value as a STIX 2.1 object.
    pub fn from_value(v: Value) -> Result<Self, ModelError> {
        match v {
            Value::Object(props) => Self::from_map(props),
            _ => Err(ModelError::NotAnObject),
        }
    }

    /// Validates a property map as a STIX 2.1 object.
    pub fn from_map(props: Map<String, Value>) -> Result<Self, ModelError> {
        check_size(&props)?;
        validate::validate(&props)?;
        Ok(StixObject { props })
    }

    /// Wraps a property map read back from Vigil's own store, where it was validated on the way in. Not validated
    /// again, in any build: reading is not the place to refuse an object, and a row that a later Vigil would
    /// validate more strictly must still be read (and revoked, exported or replaced) rather than turn the store
    /// unreadable after an upgrade. A row that is not even JSON is the store's to report as corrupt.
    pub fn from_stored_map(props: Map<String, Value>) -> Self {
        StixObject { props }
    }

    /// Wraps a property map Vigil built itself from already-normalised values (derived indicators,
    /// relationships): validated only in debug builds, since bulk lists build millions of them.
    pub fn from_map_trusted(props: Map<String, Value>) -> Result<Self, ModelError> {
        if cfg!(debug_assertions) {
            validate::validate(&props)?;
        }
        Ok(StixObject { props })
    }

    pub fn id(&self) -> &str {
        self.str("id").unwrap_or_default()
    }

    pub fn type_(&self) -> &str {
        self.str("type").unwrap_or_default()
    }

    /// A string property.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.props.get(key).and_then(Value::as_str)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.props.get(key)
    }

    pub fn props(&self) -> &Map<String, Value> {
        &self.props
    }

    /// Changes a property. The caller keeps the object valid (used for markings and confidence defaults).
    pub fn set(&mut self, key: &str, v: Value) {
        self.props.insert(key.to_string(), v);
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.props.shift_remove(key)
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.props)
    }

    pub fn to_value(&self) -> Value {
        Value::Object(self.props.clone())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.props).unwrap_or_default()
    }

    pub fn is_sco(&self) -> bool {
        is_sco_type(self.type_())
    }

    /// `modified`, else `created`, else empty: the key that orders versions of one id. SCOs and marking
    /// definitions have a single version.
    pub fn version(&self) -> &str {
        self.str("modified")
            .or_else(|| self.str("created"))
            .unwrap_or("")
    }

    pub fn name(&self) -> Option<&str> {
        self.str("name")
    }

    pub fn revoked(&self) -> bool {
        self.props
            .get("revoked")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// ATT&CK marks retired objects as deprecated rather than revoked.
    pub fn deprecated(&self) -> bool {
        self.props
            .get("x_mitre_deprecated")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn confidence(&self) -> Option<u8> {
        self.props
            .get("confidence")
            .and_then(Value::as_u64)
            .and_then(|c| u8::try_from(c).ok())
    }

    pub fn marking_refs(&self) -> Vec<&str> {
        self.props
            .get("object_marking_refs")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The TLP level the object's own markings give it (most restrictive wins).
    pub fn tlp(&self) -> Option<Tlp> {
        Tlp::from_refs(self.marking_refs())
    }

    /// The ATT&CK (or other well-known catalogue) id from `external_references`: T1059, G0007, S0154, CVE-...
    pub fn external_id(&self) -> Option<&str> {
        let refs = self.props.get("external_references")?.as_array()?;
        let pick = |want: &dyn Fn(&str) -> bool| {
            refs.iter().find_map(|r| {
                let src = r.get("source_name")?.as_str()?;
                if want(src) {
                    r.get("external_id")?.as_str()
                } else {
                    None
                }
            })
        };
        pick(&|s| s == "mitre-attack" || s == "mitre-ics-attack" || s == "mitre-mobile-attack")
            .or_else(|| pick(&|s| s == "cve"))
            .or_else(|| pick(&|_| true))
    }

    /// Aliases from `aliases` and `x_mitre_aliases`.
    pub fn aliases(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for k in ["aliases", "x_mitre_aliases"] {
            if let Some(a) = self.props.get(k).and_then(Value::as_array) {
                out.extend(a.iter().filter_map(Value::as_str));
            }
        }
        out
    }

    /// Every identifier this object references through `*_ref` / `*_refs` properties (top level only, which
    /// is where the graph edges of SDOs and SROs live), with the property name.
    pub fn references(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        for (k, v) in &self.props {
            if k.ends_with("_ref") {
                if let Some(s) = v.as_str() {
                    out.push((k.as_str(), s));
                }
            } else if k.ends_with("_refs") {
                if let Some(a) = v.as_array() {
                    out.extend(a.iter().filter_map(Value::as_str).map(|s| (k.as_str(), s)));
                }
            }
        }
        out
    }

    /// The text the full-text index holds for this object: names, aliases, descriptions, values, external ids.
    pub fn search_text(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        for k in [
            "name",
            "value",
            "pattern",
            "description",
            "content",
            "abstract",
            "x_mitre_shortname",
        ] {
            if let Some(s) = self.str(k) {
                parts.push(s);
            }
        }
        parts.extend(self.aliases());
        if let Some(id) = self.external_id() {
            parts.push(id);
        }
        if let Some(l) = self.props.get("labels").and_then(Value::as_array) {
            parts.extend(l.iter().filter_map(Value::as_str));
        }
        if let Some(h) = self.props.get("hashes").and_then(Value::as_object) {
            parts.extend(h.values().filter_map(Value::as_str));
        }
        let mut text = parts.join("\n");
        // Descriptions can be long; the index needs words, not whole essays.
        if text.len() > 16 * 1024 {
            let mut cut = 16 * 1024;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        text
    }
}

impl Serialize for StixObject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.props.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn custom_properties_round_trip() {
        let v = json!({
            "type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
            "pattern": "[domain-name:value = 'evil.com']", "pattern_type": "stix", "valid_from": "2016-01-01T00:00:00Z",
            "x_acme_score": {"nested": [1, 2, {"deep": true}]}, "unknown_field": "kept"
        });
        let o = StixObject::from_value(v.clone()).unwrap();
        assert_eq!(o.to_value(), v);
        assert_eq!(serde_json::to_value(&o).unwrap(), v);
    }

    #[test]
    fn an_object_beyond_the_size_limit_is_refused_naming_its_largest_property() {
        let mal = |description: String, notes: Vec<String>| {
            json!({
                "type": "malware", "spec_version": "2.1", "id": "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z",
                "name": "Big", "is_family": true, "description": description, "x_notes": notes,
            })
        };
        // Just under the limit with the other properties: accepted.
        let other = 400;
        let ok = StixObject::from_value(mal("a".repeat(MAX_OBJECT_BYTES - other), Vec::new()));
        assert!(ok.is_ok(), "{ok:?}");
        // Past it through a list of small strings, nested: refused, naming the property.
        let e = StixObject::from_value(mal(
            String::new(),
            vec!["b".repeat(1 << 20); (MAX_OBJECT_BYTES >> 20) + 1],
        ))
        .expect_err("too large");
        assert!(
            matches!(&e, ModelError::TooLarge { prop, mib, max_mib: 64 } if prop == "x_notes" && *mib > 64),
            "{e}"
        );
        assert!(e.to_string().contains("more than the 64 MiB"), "{e}");
    }
}
