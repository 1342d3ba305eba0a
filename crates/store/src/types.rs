use serde::Serialize;
use vigil_model::{StixObject, Tlp};

/// How `put` treats an id that is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// A source object: a different `modified` is a new version.
    Source,
    /// An object Vigil derived (deterministic id over its content, timestamps = ingest time): an existing id means
    /// the same fact, so nothing changes but the provenance.
    Derived,
    /// An analyst's decision about an object (a retraction): like `Source`, and a newer version also replaces an
    /// object Vigil derived, which `Source` leaves as it is. A later `Derived` put of the same id only adds
    /// provenance, so the decision holds against feeds that repeat the value.
    Supersede,
}

/// What a `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Added,
    Updated,
    /// An older version than the latest: stored in the history.
    Historical,
    Unchanged,
}

/// An object as stored, with what the store knows about it.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub object: StixObject,
    /// Insertion sequence number: strictly increasing, never reused (TAXII pagination keys on it).
    pub seq: i64,
    /// When this version was added to the store (RFC 3339, microseconds).
    pub added_at: String,
    /// The object's own TLP marking, if any (unmarked objects take the operator's default where read).
    pub tlp: Option<Tlp>,
}

/// A full-text search hit.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub id: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub score: f64,
    /// Revoked (retracted) or deprecated: still found, so an analyst learns what became of it, and ranked last.
    pub retired: bool,
}

/// One relationship of an object, seen from that object.
#[derive(Debug, Clone, Serialize)]
pub struct Related {
    pub relationship_type: String,
    /// `out` when the object is the relationship's source.
    pub direction: String,
    /// The object at the other end.
    pub id: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub name: Option<String>,
    pub external_id: Option<String>,
    /// The relationship object's id.
    pub relationship_id: String,
}

/// Counts of live objects.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub objects: std::collections::BTreeMap<String, u64>,
    pub sources: std::collections::BTreeMap<String, u64>,
    pub tlp: std::collections::BTreeMap<String, u64>,
    pub versions: u64,
    pub warninglists: u64,
    /// Links read from inputs whose targets are not stored yet (a MISP event's ATT&CK techniques before ATT&CK is
    /// loaded, say), by the types they wait for (`/`-joined): each is made when an object its keys name arrives.
    /// Links that keep following their best target (maltrail's actor lists) stay pending by design and are not
    /// counted.
    pub pending_links: std::collections::BTreeMap<String, PendingLinks>,
}

/// Links waiting for one kind of target (see [`Stats::pending_links`]).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PendingLinks {
    pub count: u64,
    /// A few of the names or ATT&CK ids they look for (never a STIX id), so that an analyst sees which
    /// intelligence is missing.
    pub examples: Vec<String>,
}

/// A live object that one source reports, as `Store::sourced` finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced {
    pub id: String,
    pub type_: String,
    /// The files this source's provenance of the latest version names (none when it named no file).
    pub files: Vec<String>,
    /// The other sources of the latest version, sorted.
    pub other_sources: Vec<String>,
}

/// Which objects a scan returns.
#[derive(Debug, Clone, Default)]
pub struct ScanFilter {
    /// Only these types (all when empty).
    pub types: Vec<String>,
    /// Leave out objects above this TLP; unmarked objects count as `default_tlp`.
    pub tlp_max: Option<Tlp>,
    pub default_tlp: Option<Tlp>,
    /// Include revoked and deprecated objects.
    pub include_retired: bool,
    /// Only objects added after this sequence number.
    pub after_seq: Option<i64>,
    pub limit: Option<usize>,
}

pub use vigil_model::warninglist::WarningList;
