//! An object with everything a backend derives from it computed up front (serialised JSON, search text, lookup
//! keys, version key). Preparing needs no database, so the ingest pipeline does it on the parsing thread and the
//! writing thread only runs SQL.

use serde_json::Value;
use vigil_model::{pattern::Pattern, time, StixObject, Tlp};

use crate::PutMode;

/// Kinds of lookup keys.
pub const KEY_NAME: i64 = 0;
pub const KEY_ALIAS: i64 = 1;
pub const KEY_EXTERNAL_ID: i64 = 2;
pub const KEY_VALUE: i64 = 3;
/// A family's or actor's name or alias folded to letters and digits ([`name_fold`]): found after every exact key.
pub const KEY_FOLD: i64 = 4;

/// Types whose names and aliases also get folded keys: those IOC lists, galaxies and reports name by hand, each
/// spelling its own way (maltrail's `agenttesla` and `osx_shlayer`, malpedia's `Agent Tesla` and `OSX/Shlayer`).
const FOLDED_TYPES: &[&str] = &["malware", "tool", "intrusion-set", "threat-actor"];

/// A name folded for matching across spellings: lower case, letters and digits only (`Agent Tesla`, `agent-tesla`
/// and `AgentTesla` give `agenttesla`). None when that is the lower-cased name itself (the name's own key finds it)
/// or under four characters, too short to say that two spellings name one thing.
pub fn name_fold(name: &str) -> Option<String> {
    let lower = name.trim().to_lowercase();
    let fold: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
    (fold != lower && fold.chars().count() >= 4).then_some(fold)
}

/// An object ready to be written.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: String,
    pub type_: String,
    /// The references whose targets must exist (`source_ref`, `target_ref`, `sighting_of_ref`), with their key.
    pub refs: Vec<(&'static str, String)>,
    /// `modified` as a sortable key ("" for objects without one).
    pub version: String,
    /// The object's JSON as the SQLite backend stores it ([`crate::packed::pack`]; [`Prepared::json`] unpacks it),
    /// packed where the object is prepared: on the parsing thread of a bulk ingest, not the single writing thread,
    /// which then neither packs nor frees the text.
    pub packed: Vec<u8>,
    /// Full-text index input ("" when the object is not searched for).
    pub search: String,
    /// Lowercased lookup keys with their kind.
    pub keys: Vec<(String, i64)>,
    pub tlp: Option<Tlp>,
    pub retired: bool,
    /// `h64(id)`, and the hashed graph ends (relationships: source and target; sightings: the sighted object).
    /// The SQLite backend indexes by them; they are computed where the object is prepared (the parsing thread
    /// of a bulk ingest) rather than by the single writing thread. Build both with [`Prepared::hashes`].
    pub hid: i64,
    pub ends: (Option<i64>, Option<i64>),
}

/// 64-bit FNV-1a of a text: the hash the SQLite backend indexes ids, lookup keys and graph ends by.
pub fn h64(s: &str) -> i64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h as i64
}

impl Prepared {
    /// Consumes the object: the writing thread then frees only flat strings, not a JSON tree.
    pub fn new(obj: StixObject, mode: PutMode) -> Prepared {
        Prepared::from_ref(&obj, mode)
    }

    pub fn from_ref(obj: &StixObject, mode: PutMode) -> Prepared {
        // Relationship descriptions (ATT&CK procedure examples) are read through the graph, not searched for.
        let search = match obj.type_() {
            "relationship" => String::new(),
            // An indicator Vigil minted from a bare value is named by that value, and its pattern only repeats it
            // inside `[type:value = '...']`: indexing the name alone halves the full-text work of bulk lists.
            "indicator" if mode == PutMode::Derived && obj.name().is_some() => {
                let mut t = obj.name().unwrap_or_default().to_string();
                if let Some(d) = obj.str("description") {
                    t.push('\n');
                    t.push_str(d);
                }
                t
            }
            _ => obj.search_text(),
        };
        // A derived indicator is found from its value by recomputing its id (Observable::indicator_id): no keys.
        let keys = if mode == PutMode::Derived && obj.type_() == "indicator" {
            Vec::new()
        } else {
            object_keys(obj)
        };
        let ref_keys: &[&'static str] = match obj.type_() {
            "relationship" => &["source_ref", "target_ref"],
            "sighting" => &["sighting_of_ref"],
            _ => &[],
        };
        let refs: Vec<(&'static str, String)> = ref_keys
            .iter()
            .filter_map(|k| obj.str(k).map(|v| (*k, v.to_string())))
            .collect();
        let (hid, ends) = Prepared::hashes(obj.id(), obj.type_(), &refs);
        let json = obj.to_json();
        Prepared {
            id: obj.id().to_string(),
            type_: obj.type_().to_string(),
            refs,
            version: version_key(obj),
            packed: crate::packed::pack(&json),
            search,
            keys,
            tlp: obj.tlp(),
            retired: obj.revoked() || obj.deprecated(),
            hid,
            ends,
        }
    }

    /// `hid` and `ends` of an object with this id, type and references.
    pub fn hashes(
        id: &str,
        type_: &str,
        refs: &[(&'static str, String)],
    ) -> (i64, (Option<i64>, Option<i64>)) {
        let r = |key: &str| refs.iter().find(|(k, _)| *k == key).map(|(_, v)| h64(v));
        let ends = match type_ {
            "relationship" => (r("source_ref"), r("target_ref")),
            "sighting" => (None, r("sighting_of_ref")),
            _ => (None, None),
        };
        (h64(id), ends)
    }

    /// The object's JSON text.
    pub fn json(&self) -> Result<String, crate::packed::UnpackError> {
        crate::packed::unpack(&self.packed)
    }

    /// The target of reference `key`, if the object has it.
    pub fn reference(&self, key: &str) -> Option<&str> {
        self.refs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `modified` (or `created`) as a fixed-width sortable key.
pub fn version_key(obj: &StixObject) -> String {
    let v = obj.version();
    if v.is_empty() {
        return String::new();
    }
    time::parse("modified", v)
        .map(|t| time::sort_key(&t))
        .unwrap_or_else(|_| v.to_string())
}

/// Lookup keys of an object: names, aliases, external ids, and the values an indicator's pattern tests for.
pub fn object_keys(obj: &StixObject) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = Vec::new();
    if let Some(n) = obj.name() {
        out.push((n.to_lowercase(), KEY_NAME));
    }
    for a in obj.aliases() {
        out.push((a.to_lowercase(), KEY_ALIAS));
    }
    if FOLDED_TYPES.contains(&obj.type_()) {
        for n in obj.name().into_iter().chain(obj.aliases()) {
            if let Some(f) = name_fold(n) {
                out.push((f, KEY_FOLD));
            }
        }
    }
    if let Some(refs) = obj.get("external_references").and_then(Value::as_array) {
        for r in refs {
            if let Some(x) = r.get("external_id").and_then(Value::as_str) {
                out.push((x.to_lowercase(), KEY_EXTERNAL_ID));
            }
        }
    }
    if obj.type_() == "indicator" && obj.str("pattern_type") == Some("stix") {
        if let Some(p) = obj.str("pattern").and_then(|p| Pattern::parse(p).ok()) {
            let values = p
                .simple_equalities()
                .map(|eqs| eqs.into_iter().map(|(_, v)| v).collect::<Vec<_>>())
                .or_else(|| p.url_paths());
            for v in values.into_iter().flatten().take(64) {
                out.push((v.to_lowercase(), KEY_VALUE));
            }
        }
    }
    if let Some(v) = obj.str("value") {
        out.push((v.to_lowercase(), KEY_VALUE));
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

#[cfg(test)]
mod fold_tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spellings_of_one_name_fold_together() {
        for n in ["Agent Tesla", "agent-tesla", "Agent_Tesla", "AGENT.TESLA"] {
            assert_eq!(name_fold(n).as_deref(), Some("agenttesla"), "{n}");
        }
        assert_eq!(name_fold("OSX/Shlayer").as_deref(), Some("osxshlayer"));
        assert_eq!(name_fold("Gh0st RAT").as_deref(), Some("gh0strat"));
        // the name's own key finds these: no second key
        assert_eq!(name_fold("agenttesla"), None);
        assert_eq!(name_fold("AgentTesla"), None);
        // too short to say two spellings name one thing
        assert_eq!(name_fold("A-B"), None);
        assert_eq!(name_fold("--"), None);
    }

    proptest! {
        /// Case and separators do not change a fold, a fold has only lower-case letters and digits, and folding
        /// it again gives nothing new.
        #[test]
        fn folds_ignore_case_and_separators(words in proptest::collection::vec("[a-zA-Z0-9]{1,6}", 1..4),
                                            seps in proptest::collection::vec("[ ._/-]{0,2}", 3)) {
            let plain: String = words.concat();
            let spaced: String = words.iter().zip(seps.iter().cycle()).map(|(w, s)| format!("{w}{s}")).collect();
            let a = name_fold(&spaced).unwrap_or_else(|| spaced.trim().to_lowercase());
            let b = name_fold(&plain.to_uppercase()).unwrap_or_else(|| plain.to_lowercase());
            if plain.chars().count() >= 4 {
                prop_assert_eq!(&a, &b);
                prop_assert!(a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
                prop_assert_eq!(name_fold(&a), None);
            }
        }
    }
}
