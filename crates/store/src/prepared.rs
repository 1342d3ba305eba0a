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
/// A family's name or alias without the trailing word that says what kind of malware it is ([`name_stem`]:
/// `LummaC2 Stealer` gives `lummac2`): found after every other key, and taken by ingest only under the rules of
/// `resolve_keys` there (the link's own name, kinds that agree).
pub const KEY_STEM: i64 = 5;
/// What [`WriteTx::lookup_kinds`](crate::WriteTx::lookup_kinds) reports when the key was the object's id.
pub const KEY_ID: i64 = -1;

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

/// Types whose names and aliases also get stem keys: malware families and tools, which galaxies name with a
/// trailing kind word (`Lumma Stealer`, `Parallax RAT`) that IOC lists leave out (`lummac2`, `parallax`).
const STEMMED_TYPES: &[&str] = &["malware", "tool"];

/// Words that, last in a family's name, say what kind of malware it is rather than which, with the kind they
/// stand for (words of one kind name it alike: a `Ragnar Locker` is ransomware).
const KIND_WORDS: &[(&str, &str)] = &[
    ("ransomware", "ransomware"),
    ("locker", "ransomware"),
    ("stealer", "stealer"),
    ("infostealer", "stealer"),
    ("grabber", "stealer"),
    ("rat", "rat"),
    ("backdoor", "backdoor"),
    ("bot", "bot"),
    ("botnet", "bot"),
    ("loader", "loader"),
    ("downloader", "loader"),
    ("dropper", "loader"),
    ("miner", "miner"),
    ("banker", "banker"),
    ("keylogger", "keylogger"),
    ("wiper", "wiper"),
    ("worm", "worm"),
    ("rootkit", "rootkit"),
    ("crypter", "crypter"),
    ("clipper", "clipper"),
    ("trojan", "trojan"),
];

/// STIX `malware_types` (as the galaxy reader sets them) and the kind of [`KIND_WORDS`] they say.
const MALWARE_TYPE_KINDS: &[(&str, &str)] = &[
    ("ransomware", "ransomware"),
    ("remote-access-trojan", "rat"),
    ("backdoor", "backdoor"),
    ("bot", "bot"),
    ("spyware", "stealer"),
    ("keylogger", "keylogger"),
    ("dropper", "loader"),
    ("downloader", "loader"),
    ("resource-exploitation", "miner"),
    ("wiper", "wiper"),
    ("worm", "worm"),
    ("rootkit", "rootkit"),
];

/// Stems that name no family (the ransomware galaxy's `Unknown`, an IOC list's `unk_ransomware`).
const STEM_STOP: &[&str] = &["unknown", "unk", "generic", "unnamed", "other", "misc"];

/// The kind a word names ([`KIND_WORDS`]), if it is one.
pub fn kind_word(word: &str) -> Option<&'static str> {
    KIND_WORDS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(word))
        .map(|(_, k)| *k)
}

/// The kind a STIX `malware_types` value says, if it is one of [`KIND_WORDS`]' kinds.
pub fn malware_type_kind(t: &str) -> Option<&'static str> {
    MALWARE_TYPE_KINDS
        .iter()
        .find(|(m, _)| *m == t)
        .map(|(_, k)| *k)
}

/// The lower-cased words of a name: its runs of letters and digits.
fn words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The kind a name says it is: its last word, when that is a kind word after at least one other word
/// (`Parallax RAT`, `kazu_ransomware`; not `RAT` alone, nor `Quasarrat`, whose word is one).
pub fn name_kind(name: &str) -> Option<&'static str> {
    let w = words(name);
    (w.len() >= 2).then(|| kind_word(&w[w.len() - 1])).flatten()
}

/// A name without its trailing kind word, folded (`LummaC2 Stealer` -> `lummac2`, `kazu_ransomware` -> `kazu`),
/// with the kind that word says. None when the name has no such word, or what is left is under four characters
/// or names nothing (`unknown ransomware`).
pub fn name_stem(name: &str) -> Option<(String, &'static str)> {
    let w = words(name);
    let kind = name_kind(name)?;
    let stem: String = w[..w.len() - 1].concat();
    (stem.chars().count() >= 4 && !STEM_STOP.contains(&stem.as_str())).then_some((stem, kind))
}

/// The kinds an object says it is: by the trailing kind words of its name and aliases, and by its
/// `malware_types`.
pub fn object_kinds(obj: &StixObject) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = obj
        .name()
        .into_iter()
        .chain(obj.aliases())
        .filter_map(name_kind)
        .chain(
            obj.get("malware_types")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(malware_type_kind),
        )
        .collect();
    out.sort_unstable();
    out.dedup();
    out
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
        Prepared::with_pattern(obj, mode, None)
    }

    /// [`Prepared::from_ref`] for an indicator whose STIX pattern the caller has parsed already (`pattern`, used
    /// for its look-up keys instead of parsing the text again: bulk ingest parses each pattern once for its checks).
    pub fn with_pattern(obj: &StixObject, mode: PutMode, pattern: Option<&Pattern>) -> Prepared {
        let IndexParts { search, keys, refs } = IndexParts::of(obj, mode, pattern);
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
        let (src, dst) = ref_ends(type_, refs);
        (h64(id), (src.map(h64), dst.map(h64)))
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

/// What a store indexes an object by: its search text, look-up keys and the references whose targets must exist.
/// [`Prepared`] computes them with the rest; [`crate::copy`] needs them alone, for rows whose JSON it has packed.
pub(crate) struct IndexParts {
    /// Full-text index input ("" when the object is not searched for).
    pub search: String,
    pub keys: Vec<(String, i64)>,
    pub refs: Vec<(&'static str, String)>,
}

impl IndexParts {
    /// `pattern`: the indicator's STIX pattern already parsed, if the caller has it.
    pub(crate) fn of(obj: &StixObject, mode: PutMode, pattern: Option<&Pattern>) -> IndexParts {
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
            object_keys_with(obj, pattern)
        };
        let ref_keys: &[&'static str] = match obj.type_() {
            "relationship" => &["source_ref", "target_ref"],
            "sighting" => &["sighting_of_ref"],
            _ => &[],
        };
        let refs = ref_keys
            .iter()
            .filter_map(|k| obj.str(k).map(|v| (*k, v.to_string())))
            .collect();
        IndexParts { search, keys, refs }
    }
}

/// The graph ends a row is indexed by, from an object's references: a relationship's source and target, a
/// sighting's sighted object.
pub(crate) fn ref_ends<'a>(
    type_: &str,
    refs: &'a [(&'static str, String)],
) -> (Option<&'a str>, Option<&'a str>) {
    let r = |key: &str| {
        refs.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    };
    match type_ {
        "relationship" => (r("source_ref"), r("target_ref")),
        "sighting" => (None, r("sighting_of_ref")),
        _ => (None, None),
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
    object_keys_with(obj, None)
}

/// [`object_keys`], with the indicator's pattern already parsed when `parsed` is given (else it is parsed here).
pub fn object_keys_with(obj: &StixObject, parsed: Option<&Pattern>) -> Vec<(String, i64)> {
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
    if STEMMED_TYPES.contains(&obj.type_()) {
        for n in obj.name().into_iter().chain(obj.aliases()) {
            if let Some((stem, _)) = name_stem(n) {
                out.push((stem, KEY_STEM));
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
        let own;
        let pattern = match parsed {
            Some(p) => Some(p),
            None => {
                own = obj.str("pattern").and_then(|p| Pattern::parse(p).ok());
                own.as_ref()
            }
        };
        if let Some(p) = pattern {
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
mod stem_tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_trailing_kind_word_is_taken_off() {
        assert_eq!(
            name_stem("LummaC2 Stealer"),
            Some(("lummac2".into(), "stealer"))
        );
        assert_eq!(
            name_stem("kazu_ransomware"),
            Some(("kazu".into(), "ransomware"))
        );
        assert_eq!(
            name_stem("Ragnar Locker"),
            Some(("ragnar".into(), "ransomware"))
        );
        assert_eq!(
            name_stem("Black Basta Loader"),
            Some(("blackbasta".into(), "loader"))
        );
        // one word: the kind word may be part of the name (`Quasarrat`), and `RAT` alone is no family
        assert_eq!(name_stem("Quasarrat"), None);
        assert_eq!(name_stem("RAT"), None);
        // too short, or no family
        assert_eq!(name_stem("Zx RAT"), None);
        assert_eq!(name_stem("Unknown Ransomware"), None);
        // the kind word must come last
        assert_eq!(name_stem("Stealer Lumma"), None);
        assert_eq!(name_kind("Parallax RAT"), Some("rat"));
        assert_eq!(name_kind("parallax"), None);
    }

    #[test]
    fn kinds_come_from_names_and_malware_types() {
        let o = StixObject::from_value(json!({
            "type": "malware", "spec_version": "2.1", "id": "malware--3f9f4b1c-6a2e-4a53-9a57-2f0d0a1c0b11",
            "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "name": "Kazu",
            "aliases": ["Kazu Locker"], "is_family": true, "malware_types": ["ransomware", "spyware"]
        }))
        .expect("a valid malware object");
        assert_eq!(object_kinds(&o), vec!["ransomware", "stealer"]);
        let keys = object_keys(&o);
        assert!(keys.contains(&("kazu".into(), KEY_NAME)), "{keys:?}");
        // `Kazu Locker`'s stem is the name itself: one key, the better kind
        assert!(!keys.iter().any(|(_, k)| *k == KEY_STEM), "{keys:?}");
    }

    proptest! {
        /// A stem is folded, shorter than the name, and has no kind word of its own to take off.
        #[test]
        fn stems_are_folded_prefixes(words in proptest::collection::vec("[a-zA-Z0-9]{1,8}", 1..4),
                                     kind in proptest::sample::select(KIND_WORDS.iter().map(|(w, _)| *w).collect::<Vec<_>>()),
                                     sep in "[ ._/-]{1,2}") {
            let name = format!("{}{sep}{kind}", words.join(sep.as_str()));
            match name_stem(&name) {
                Some((stem, k)) => {
                    prop_assert_eq!(k, kind_word(kind).expect("a kind word"));
                    prop_assert_eq!(&stem, &words.concat().to_lowercase());
                    prop_assert!(stem.chars().count() >= 4);
                }
                None => prop_assert!(words.concat().chars().count() < 4
                    || STEM_STOP.contains(&words.concat().to_lowercase().as_str())),
            }
        }
    }
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

#[cfg(test)]
mod key_tests {
    use super::*;
    use serde_json::json;

    fn indicator(pattern: &str) -> StixObject {
        StixObject::from_value(json!({
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
            "name": "Bad Host", "pattern": pattern, "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z",
            "external_references": [{"source_name": "x", "external_id": "X-1"}]
        }))
        .expect("valid indicator")
    }

    #[test]
    fn keys_from_a_pattern_parsed_by_the_caller_are_those_parsed_here() {
        // (pattern, whether it yields value keys: a sequence of observations does not)
        for (p, valued) in [
            ("[domain-name:value = 'Evil.Example.com']", true),
            (
                "[ipv4-addr:value = '198.51.100.7' OR ipv4-addr:value = '198.51.100.8']",
                true,
            ),
            (
                "[file:hashes.'SHA-256' = 'AA00000000000000000000000000000000000000000000000000000000000000']",
                true,
            ),
            (
                "[url:value = 'http://a.example/x'] FOLLOWEDBY [url:value = 'http://b.example/y']",
                false,
            ),
        ] {
            let o = indicator(p);
            let parsed = Pattern::parse(p).expect("parses");
            let keys = object_keys(&o);
            assert_eq!(keys.iter().any(|k| k.1 == KEY_VALUE), valued, "{p}: {keys:?}");
            assert_eq!(object_keys_with(&o, Some(&parsed)), keys, "{p}");
            let (a, b) = (
                Prepared::from_ref(&o, PutMode::Source),
                Prepared::with_pattern(&o, PutMode::Source, Some(&parsed)),
            );
            assert_eq!((a.keys, a.search, a.packed), (b.keys, b.search, b.packed), "{p}");
        }
    }
}
