//! Fixtures the PostgreSQL test binaries share.

use serde_json::json;
use vigil_model::{Provenance, StixObject};

pub fn prov(source: &str) -> Provenance {
    Provenance {
        source: source.into(),
        ingested_at: "2026-01-01T00:00:00Z".into(),
        original_id: None,
        file: None,
    }
}

pub fn tool(i: usize) -> StixObject {
    StixObject::from_value(json!({"type": "tool", "spec_version": "2.1",
        "id": format!("tool--00000000-0000-4000-8000-{i:012}"), "created": "2020-01-01T00:00:00.000Z",
        "modified": "2020-01-01T00:00:00.000Z", "name": format!("tool number {i}")}))
    .expect("fixture")
}
