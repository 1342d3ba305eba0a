//! Traffic Light Protocol 2.0 markings, and the TLP 1.0 marking ids that STIX 2.1 predefines, which map onto them.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A TLP 2.0 level, ordered from least to most restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tlp {
    Clear,
    Green,
    Amber,
    #[serde(rename = "amber+strict")]
    AmberStrict,
    Red,
}

/// The TLP 2.0 extension definition through which the TLP 2.0 marking objects are defined.
pub const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

impl Tlp {
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// The TLP 2.0 marking-definition id (oasis-open/cti-stix-common-objects).
    pub fn marking_id(self) -> &'static str {
        match self {
            Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        }
    }

    /// Lower-case name as used on the command line and in MISP tags (`tlp:amber+strict`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// The name as written in TLP 2.0 marking objects (`TLP:AMBER+STRICT`).
    pub fn label(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }

    /// Parses `clear|white|green|amber|amber+strict|red`, case-insensitive, with or without a `tlp:` prefix.
    pub fn parse(s: &str) -> Option<Tlp> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_prefix("tlp:").unwrap_or(&s).trim();
        Some(match s {
            "clear" | "white" => Tlp::Clear,
            "green" => Tlp::Green,
            "amber" => Tlp::Amber,
            "amber+strict" | "amber-strict" | "amber_strict" => Tlp::AmberStrict,
            "red" => Tlp::Red,
            _ => return None,
        })
    }

    /// The TLP level a marking-definition id stands for: TLP 2.0 ids and the TLP 1.0 ids predefined by STIX 2.1.
    pub fn from_marking_id(id: &str) -> Option<Tlp> {
        Some(match id {
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9" => Tlp::Clear,
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da" => Tlp::Green,
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82" => Tlp::Amber,
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed" => Tlp::Red,
            _ => return Tlp::ALL.into_iter().find(|t| t.marking_id() == id),
        })
    }

    /// The most restrictive TLP among marking refs, or None when none is a TLP marking.
    pub fn from_refs<'a>(refs: impl IntoIterator<Item = &'a str>) -> Option<Tlp> {
        refs.into_iter().filter_map(Tlp::from_marking_id).max()
    }

    /// The TLP 2.0 marking-definition object, which must travel in every bundle that references it.
    pub fn marking_object(self) -> Value {
        let name = self.label();
        let tlp = self.as_str();
        json!({
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": self.marking_id(),
            "created": "2022-10-01T00:00:00.000Z",
            "name": name,
            "extensions": {
                TLP2_EXTENSION: {
                    "extension_type": "property-extension",
                    "tlp_2_0": tlp
                }
            }
        })
    }
}

impl std::fmt::Display for Tlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Tlp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tlp::parse(s).ok_or_else(|| {
            format!("unknown TLP level `{s}` (clear, green, amber, amber+strict, red)")
        })
    }
}

/// The TLP 2.0 extension-definition object (needed in a bundle beside TLP 2.0 markings).
pub fn tlp2_extension_definition() -> Value {
    json!({
        "id": TLP2_EXTENSION,
        "type": "extension-definition",
        "spec_version": "2.1",
        "name": "TLP 2.0",
        "description": "This extension defines the TLP 2.0 marking definitions.",
        "created": "2022-10-01T00:00:00.000Z",
        "modified": "2022-10-01T00:00:00.000Z",
        "created_by_ref": "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01",
        "schema": "https://github.com/oasis-open/cti-stix-common-objects/tree/main/extension-definition-specifications/tlp-2.0/schema.json",
        "version": "1.0.0",
        "extension_types": ["property-extension"]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlp1_maps_onto_tlp2() {
        assert_eq!(
            Tlp::from_marking_id("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
            Some(Tlp::Clear)
        );
        assert_eq!(
            Tlp::from_marking_id(Tlp::AmberStrict.marking_id()),
            Some(Tlp::AmberStrict)
        );
        assert_eq!(
            Tlp::from_marking_id("marking-definition--00000000-0000-4000-8000-000000000000"),
            None
        );
    }

    #[test]
    fn order_and_parse() {
        assert!(
            Tlp::Clear < Tlp::Green && Tlp::Amber < Tlp::AmberStrict && Tlp::AmberStrict < Tlp::Red
        );
        assert_eq!(Tlp::parse("TLP:WHITE"), Some(Tlp::Clear));
        assert_eq!(Tlp::parse("amber+strict"), Some(Tlp::AmberStrict));
        assert_eq!(Tlp::parse("purple"), None);
        let refs = [Tlp::Green.marking_id(), Tlp::Red.marking_id()];
        assert_eq!(Tlp::from_refs(refs), Some(Tlp::Red));
    }
}
