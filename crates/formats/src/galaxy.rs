//! MISP galaxy cluster files (`threat-actor.json`, `mitre-*.json`, malware families, countries, regions) turned into
//! STIX objects, and the cluster logic MISP events share: which STIX type a galaxy means, the keys that find the same
//! actor, malware or technique in ATT&CK, and the object to create when nothing is found.
//!
//! Merging with ATT&CK: `mitre-*` clusters carry the ATT&CK STIX uuid, so their objects take the ATT&CK id itself and
//! are emitted as derived (an ATT&CK object already stored is left as it is) with timestamps older than any ATT&CK
//! version (ATT&CK ingested later supersedes them). Other actors become `threat-actor`s linked from the ATT&CK
//! `intrusion-set` they name by `attributed-to`, which is how STIX 2.1 models "this activity group is that actor".

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};
use vigil_model::{ids, ModelError, StixObject};

use crate::{Emit, FormatError, Item, Link, ParseCtx};

/// 2000-01-01T00:00:00Z. Galaxies carry a file `version`, not dates: a galaxy object of version N gets
/// `modified` = this + N seconds, so a newer galaxy file makes a new version, re-ingesting the same one changes
/// nothing, and every ATT&CK version of a shared id (2017 onwards) is newer than Vigil's.
pub const GALAXY_EPOCH: i64 = 946_684_800;

/// The timestamp standing for galaxy version `version` (see [`GALAXY_EPOCH`]).
pub fn galaxy_time(version: i64) -> String {
    let secs = GALAXY_EPOCH.saturating_add(version.clamp(0, 100_000_000));
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| vigil_model::time::format(&d))
        .unwrap_or_else(|| "2000-01-01T00:00:00.000Z".into())
}

/// What a galaxy's clusters stand for in STIX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GalaxyKind {
    /// A MISP actor (threat-actor, microsoft-activity-group, 360net, ...): a `threat-actor`.
    Actor,
    /// ATT&CK groups: an `intrusion-set`.
    IntrusionSet,
    /// Malware families: `malware` with `is_family`.
    Malware,
    Tool,
    AttackPattern,
    Country,
    Region,
    /// Sectors, RSIT, branded vulnerabilities, guidelines, ...: no STIX object of their own.
    Other,
}

impl GalaxyKind {
    /// The kind of a galaxy from its `type` (and the cluster file's `category` for types Vigil does not know).
    pub fn of(galaxy_type: &str, category: Option<&str>) -> GalaxyKind {
        let t = galaxy_type.trim().to_ascii_lowercase();
        if t.contains("intrusion-set") {
            return GalaxyKind::IntrusionSet;
        }
        if t.contains("attack-pattern") {
            return GalaxyKind::AttackPattern;
        }
        if t.starts_with("mitre-") {
            if t.ends_with("malware") {
                return GalaxyKind::Malware;
            }
            if t.ends_with("tool") {
                return GalaxyKind::Tool;
            }
            return GalaxyKind::Other;
        }
        match t.as_str() {
            "threat-actor"
            | "microsoft-activity-group"
            | "360net-threat-actor"
            | "360net"
            | "threat-actor-group" => GalaxyKind::Actor,
            "malpedia"
            | "ransomware"
            | "rat"
            | "stealer"
            | "backdoor"
            | "banker"
            | "botnet"
            | "android"
            | "ios"
            | "exploit-kit"
            | "malware"
            | "ms-caro-malware"
            | "ms-caro-malware-full" => GalaxyKind::Malware,
            "tool" => GalaxyKind::Tool,
            "country" => GalaxyKind::Country,
            "region" => GalaxyKind::Region,
            _ if t.ends_with("threat-actor") || t.ends_with("activity-group") => GalaxyKind::Actor,
            _ => match category.map(|c| c.trim().to_ascii_lowercase()).as_deref() {
                Some("actor") => GalaxyKind::Actor,
                Some("malware") => GalaxyKind::Malware,
                _ => GalaxyKind::Other,
            },
        }
    }

    /// Acceptable types of an existing object that stands for a cluster of this kind, best first.
    pub fn target_types(self) -> &'static [&'static str] {
        match self {
            GalaxyKind::Actor | GalaxyKind::IntrusionSet => &["intrusion-set", "threat-actor"],
            GalaxyKind::Malware => &["malware", "tool"],
            GalaxyKind::Tool => &["tool", "malware"],
            GalaxyKind::AttackPattern => &["attack-pattern"],
            GalaxyKind::Country | GalaxyKind::Region => &["location"],
            GalaxyKind::Other => &[],
        }
    }

    /// The ATT&CK id prefixes that name objects of this kind.
    fn attack_prefixes(self) -> &'static [&'static str] {
        match self {
            GalaxyKind::Actor | GalaxyKind::IntrusionSet => &["G"],
            GalaxyKind::Malware | GalaxyKind::Tool => &["S"],
            GalaxyKind::AttackPattern => &["T"],
            _ => &[],
        }
    }
}

/// True when `s` has the shape of an ATT&CK id: T1059, T1566.001, G0007, S0154, C0001, M1036, TA0001, DS0017.
pub fn is_attack_id(s: &str) -> bool {
    let (prefix, rest) = match s.as_bytes() {
        [b'T', b'A', ..] | [b'D', b'S', ..] => s.split_at(2),
        [b'T' | b'G' | b'S' | b'C' | b'M', ..] => s.split_at(1),
        _ => return false,
    };
    let (num, sub) = match rest.split_once('.') {
        Some((n, sub)) => (n, Some(sub)),
        None => (rest, None),
    };
    let digits4 = num.len() == 4 && num.bytes().all(|b| b.is_ascii_digit());
    match sub {
        None => digits4,
        Some(sub) => {
            prefix == "T" && digits4 && sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit())
        }
    }
}

/// ATT&CK ids appearing as words in `text` ("APT28 - G0007", "https://attack.mitre.org/groups/G0007/").
pub fn attack_ids_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.')) {
        let w = word.trim_matches('.');
        if is_attack_id(w) && !out.iter().any(|x| x == w) {
            out.push(w.to_string());
        }
    }
    out
}

fn attack_url(id: &str) -> String {
    let path = match id.as_bytes().first() {
        Some(b'G') => "groups",
        Some(b'S') => "software",
        Some(b'C') => "campaigns",
        Some(b'M') => "mitigations",
        _ => "techniques",
    };
    format!("https://attack.mitre.org/{path}/{}", id.replace('.', "/"))
}

fn valid_uuid(s: &str) -> Option<String> {
    let s = s.trim();
    if s.len() == 36 && uuid::Uuid::parse_str(s).is_ok() {
        Some(s.to_ascii_lowercase())
    } else {
        None
    }
}

/// The `misp-galaxy:TYPE="VALUE"` tag of the cluster an object stands for, the inverse of [`Cluster::from_tag`],
/// so a MISP instance that imports Vigil's exports attaches its own galaxy cluster (MISP resolves such tags by
/// type and value). Objects read from a galaxy keep their galaxy (`x_misp_galaxy`); ATT&CK objects map to MISP's
/// ATT&CK mirrors, whose values are `NAME - ID`. Anything else (a family only an IOC list named) has no tag: a tag
/// must not point at a cluster no galaxy holds.
pub fn tag_of(obj: &StixObject) -> Option<String> {
    let name = obj.name()?.trim();
    // A quote would end MISP's quoted value (and `=` in the type move the split); names come from feeds, so
    // control characters are refused too.
    if name.is_empty() || name.contains(|c: char| c == '"' || c.is_control()) {
        return None;
    }
    let attack_id = obj
        .external_id()
        .map(str::trim)
        .filter(|id| is_attack_id(id));
    let galaxy = match obj.str("x_misp_galaxy").map(str::trim) {
        Some(t)
            if !t.is_empty()
                && !t.contains(|c: char| {
                    c == '"' || c == '=' || c.is_whitespace() || c.is_control()
                }) =>
        {
            t.to_string()
        }
        _ => match obj.type_() {
            "intrusion-set" => "mitre-intrusion-set",
            "malware" => "mitre-malware",
            "tool" => "mitre-tool",
            "attack-pattern" => "mitre-attack-pattern",
            _ => return None,
        }
        .to_string(),
    };
    let value = if galaxy.to_ascii_lowercase().starts_with("mitre-") {
        format!("{name} - {}", attack_id?)
    } else {
        name.to_string()
    };
    let tag = format!("misp-galaxy:{galaxy}=\"{value}\"");
    // MISP keeps tag names of up to 255 characters.
    (tag.chars().count() <= 255).then_some(tag)
}

/// Strings of a value that may be a string or a list of strings.
fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// One cluster value: from a galaxy file's `values`, an event's `Galaxy[].GalaxyCluster[]`, or a
/// `misp-galaxy:TYPE="VALUE"` tag (which gives only the type and the value).
#[derive(Debug, Clone)]
pub struct Cluster {
    pub galaxy_type: String,
    pub value: String,
    /// The cluster value's uuid when it is a valid one (lower-case).
    pub uuid: Option<String>,
    pub description: Option<String>,
    pub meta: Map<String, Value>,
    /// `related[].dest-uuid` (valid uuids only) with the relation type.
    pub related: Vec<(String, String)>,
}

impl Cluster {
    /// Reads a cluster value object. Err says why it is unusable (no `value`).
    pub fn from_json(galaxy_type: &str, v: &Value) -> Result<Cluster, String> {
        let m = v
            .as_object()
            .ok_or_else(|| "cluster value is not a JSON object".to_string())?;
        let value = match m.get("value") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::String(_)) => return Err("empty `value`".into()),
            Some(_) => return Err("`value` is not a string".into()),
            None => return Err("missing `value`".into()),
        };
        let ty = m
            .get("type")
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .unwrap_or(galaxy_type);
        let related = m
            .get("related")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| {
                        let dest = valid_uuid(r.get("dest-uuid")?.as_str()?)?;
                        let t = r
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("related")
                            .to_string();
                        Some((dest, t))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Cluster {
            galaxy_type: ty.trim().to_string(),
            value,
            uuid: m.get("uuid").and_then(Value::as_str).and_then(valid_uuid),
            description: m
                .get("description")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            meta: m
                .get("meta")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            related,
        })
    }

    /// A cluster known only by a `misp-galaxy:TYPE="VALUE"` tag.
    pub fn from_tag(tag: &str) -> Option<Cluster> {
        let rest = tag.trim().strip_prefix("misp-galaxy:")?;
        let (ty, value) = rest.split_once('=')?;
        let value = value.trim().trim_matches('"').trim();
        if ty.trim().is_empty() || value.is_empty() {
            return None;
        }
        Some(Cluster {
            galaxy_type: ty.trim().to_string(),
            value: value.to_string(),
            uuid: None,
            description: None,
            meta: Map::new(),
            related: Vec::new(),
        })
    }

    pub fn kind(&self) -> GalaxyKind {
        GalaxyKind::of(&self.galaxy_type, None)
    }

    /// True for MISP's mirrors of ATT&CK, whose uuids are the ATT&CK STIX uuids.
    pub fn is_mitre(&self) -> bool {
        self.galaxy_type.to_ascii_lowercase().starts_with("mitre-")
    }

    /// The name without the ` - T1566.001` / ` - G0007` suffix MISP appends to ATT&CK values.
    pub fn name(&self) -> &str {
        match self.value.rsplit_once(" - ") {
            Some((head, tail)) if is_attack_id(tail.trim()) && !head.trim().is_empty() => {
                head.trim()
            }
            _ => &self.value,
        }
    }

    /// The ATT&CK id the value itself carries (suffix or `meta.external_id`).
    pub fn own_attack_id(&self) -> Option<String> {
        if let Some((_, tail)) = self.value.rsplit_once(" - ") {
            if is_attack_id(tail.trim()) {
                return Some(tail.trim().to_string());
            }
        }
        strings(self.meta.get("external_id"))
            .into_iter()
            .map(str::trim)
            .find(|s| is_attack_id(s))
            .map(str::to_string)
    }

    /// Synonyms, trimmed, without the name itself and without duplicates. Spellings that differ only in case are
    /// both kept ("FANCY BEAR", "Fancy Bear"): they are what analysts will type and see.
    pub fn synonyms(&self) -> Vec<String> {
        let name = self.name().to_lowercase();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut out = Vec::new();
        for s in strings(self.meta.get("synonyms"))
            .into_iter()
            .chain(strings(self.meta.get("aliases")))
        {
            let s = s.trim();
            if s.is_empty() || s.to_lowercase() == name || s.len() > 200 || !seen.insert(s) {
                continue;
            }
            out.push(s.to_string());
            if out.len() >= 200 {
                break;
            }
        }
        out
    }

    /// Reference URLs from `meta.refs`, as valid URIs.
    pub fn refs(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in strings(self.meta.get("refs")) {
            let r = r.trim();
            if !(r.starts_with("http://") || r.starts_with("https://"))
                || r.contains(char::is_whitespace)
            {
                continue;
            }
            let r = uri_safe(r);
            if !out.contains(&r) {
                out.push(r);
                if out.len() >= 100 {
                    break;
                }
            }
        }
        out
    }

    /// Every ATT&CK id of this kind the cluster names: its own, in synonyms, in ATT&CK reference URLs, and in
    /// `meta.name-attribution` ("G0007:uuid").
    pub fn attack_ids(&self) -> Vec<String> {
        let prefixes = self.kind().attack_prefixes();
        let wanted = |id: &str| {
            prefixes
                .iter()
                .any(|p| id.starts_with(p) && !id.starts_with("TA"))
        };
        let mut out: Vec<String> = Vec::new();
        let mut add = |id: String| {
            if wanted(&id) && !out.contains(&id) {
                out.push(id);
            }
        };
        if let Some(id) = self.own_attack_id() {
            add(id);
        }
        for s in self.synonyms() {
            if is_attack_id(&s) {
                add(s);
            }
        }
        for r in self.refs() {
            if r.contains("attack.mitre.org/") {
                attack_ids_in(&r).into_iter().for_each(&mut add);
            }
        }
        for na in strings(self.meta.get("name-attribution")) {
            if let Some((head, _)) = na.split_once(':') {
                if is_attack_id(head.trim()) {
                    add(head.trim().to_string());
                }
            }
        }
        out
    }

    /// The STIX type of the object this cluster becomes, if any.
    pub fn stix_type(&self) -> Option<&'static str> {
        Some(match self.kind() {
            GalaxyKind::Actor => "threat-actor",
            GalaxyKind::IntrusionSet => "intrusion-set",
            GalaxyKind::Malware => "malware",
            GalaxyKind::Tool => "tool",
            GalaxyKind::AttackPattern => "attack-pattern",
            GalaxyKind::Country | GalaxyKind::Region | GalaxyKind::Other => return None,
        })
    }

    /// The id of the object this cluster becomes: the ATT&CK id for `mitre-*` clusters, else derived from the
    /// cluster uuid, else (tags) from the lower-cased name, the same way IOC lists name malware families.
    pub fn object_id(&self) -> Option<String> {
        let ty = self.stix_type()?;
        Some(match &self.uuid {
            Some(u) if self.is_mitre() => format!("{ty}--{u}"),
            Some(u) => ids::vigil_id(ty, &[u]),
            None => ids::vigil_id(ty, &[&self.name().to_lowercase()]),
        })
    }

    /// Keys that find the existing object standing for this cluster, best first: STIX ids, ATT&CK ids, names.
    pub fn lookup_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        let mut push = |k: String| {
            if !k.is_empty() && !keys.iter().any(|x| x.eq_ignore_ascii_case(&k)) {
                keys.push(k);
            }
        };
        if let (Some(u), Some(ty)) = (&self.uuid, self.stix_type()) {
            if self.is_mitre() {
                push(format!("{ty}--{u}"));
            }
        }
        for id in self.attack_ids() {
            push(id);
        }
        push(self.name().to_string());
        push(self.value.clone());
        for s in self.synonyms() {
            push(s);
        }
        if let (Some(_), false) = (&self.uuid, self.is_mitre()) {
            if let Some(id) = self.object_id() {
                push(id);
            }
        }
        keys
    }

    /// The STIX object for this cluster (actors, intrusion sets, malware, tools, attack patterns).
    pub fn to_object(
        &self,
        ctx: &ParseCtx,
        created: &str,
        modified: &str,
    ) -> Result<Option<StixObject>, ModelError> {
        let (Some(ty), Some(id)) = (self.stix_type(), self.object_id()) else {
            return Ok(None);
        };
        let mut m = Map::new();
        m.insert("type".into(), json!(ty));
        m.insert("spec_version".into(), json!("2.1"));
        m.insert("id".into(), json!(id));
        m.insert("created".into(), json!(created));
        m.insert("modified".into(), json!(modified));
        m.insert("name".into(), json!(self.name()));
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        let synonyms = self.synonyms();
        if !synonyms.is_empty() {
            m.insert("aliases".into(), json!(synonyms));
        }
        let mut refs: Vec<Value> = Vec::new();
        if self.is_mitre() {
            if let Some(ext) = self.own_attack_id() {
                refs.push(json!({"source_name": "mitre-attack", "external_id": ext, "url": attack_url(&ext)}));
            }
        }
        refs.extend(
            self.refs()
                .into_iter()
                .map(|u| json!({"source_name": "reference", "url": u})),
        );
        if !refs.is_empty() {
            m.insert("external_references".into(), Value::Array(refs));
        }
        if let Some(c) = ctx.confidence {
            m.insert("confidence".into(), json!(c));
        }
        match self.kind() {
            GalaxyKind::Malware => {
                m.insert("is_family".into(), json!(true));
                if let Some(t) = malware_type(&self.galaxy_type) {
                    m.insert("malware_types".into(), json!([t]));
                }
            }
            GalaxyKind::Actor => {
                if let Some(c) = self.meta.get("country").filter(|v| !v.is_null()) {
                    m.insert("x_misp_country".into(), c.clone());
                }
                if let Some(s) = self
                    .meta
                    .get("cfr-suspected-state-sponsor")
                    .filter(|v| !v.is_null())
                {
                    m.insert("x_misp_state_sponsor".into(), s.clone());
                }
            }
            GalaxyKind::AttackPattern => {
                // ATT&CK's own chains only: MISP adds per-platform ones ("attack-Linux:...") that ATT&CK has not.
                let phases: Vec<Value> = strings(self.meta.get("kill_chain"))
                    .into_iter()
                    .filter_map(|k| {
                        let (chain, phase) = k.split_once(':')?;
                        let (chain, phase) = (
                            chain.trim().to_ascii_lowercase(),
                            phase.trim().to_ascii_lowercase().replace([' ', '_'], "-"),
                        );
                        (chain.starts_with("mitre-") && !phase.is_empty())
                            .then(|| json!({"kill_chain_name": chain, "phase_name": phase}))
                    })
                    .collect();
                if !phases.is_empty() {
                    m.insert("kill_chain_phases".into(), Value::Array(phases));
                }
            }
            _ => {}
        }
        m.insert("x_misp_galaxy".into(), json!(self.galaxy_type));
        StixObject::from_map(m).map(Some)
    }

    /// Countries the actor is attributed to, each with what said so: `meta.country` and
    /// `meta.cfr-suspected-state-sponsor`, merged when they agree.
    pub fn countries(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
        for (key, basis) in [
            ("country", "country"),
            ("cfr-suspected-state-sponsor", "cfr-suspected-state-sponsor"),
        ] {
            for s in strings(self.meta.get(key)) {
                let Some(code) = country_code(s) else {
                    continue;
                };
                match out.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, bases)) if !bases.contains(&basis) => bases.push(basis),
                    Some(_) => {}
                    None => out.push((code, vec![basis])),
                }
            }
        }
        out
    }
}

/// A URL with every character RFC 3986 does not allow percent-encoded (feeds write `|`, spaces, non-ASCII), so that
/// it is a valid STIX `url`.
pub fn uri_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

fn malware_type(galaxy_type: &str) -> Option<&'static str> {
    Some(match galaxy_type {
        "ransomware" => "ransomware",
        "rat" => "remote-access-trojan",
        "backdoor" => "backdoor",
        "botnet" => "bot",
        "banker" => "trojan",
        "stealer" => "spyware",
        "exploit-kit" => "exploit-kit",
        _ => return None,
    })
}

/// The `location` for an ISO 3166-1 alpha-2 code, with a deterministic id over the code.
pub fn country_location(code: &str, ctx: &ParseCtx) -> Result<StixObject, ModelError> {
    let code = code.to_ascii_uppercase();
    let mut m = Map::new();
    m.insert("type".into(), json!("location"));
    m.insert("spec_version".into(), json!("2.1"));
    m.insert("id".into(), json!(ids::vigil_id("location", &[&code])));
    m.insert("created".into(), json!(ctx.now));
    m.insert("modified".into(), json!(ctx.now));
    if let Some(c) = ctx.confidence {
        m.insert("confidence".into(), json!(c));
    }
    m.insert("name".into(), json!(country_name(&code).unwrap_or(&code)));
    m.insert("country".into(), json!(code));
    StixObject::from_map(m)
}

fn region_location(region: &str, name: &str, ctx: &ParseCtx) -> Result<StixObject, ModelError> {
    let mut m = Map::new();
    m.insert("type".into(), json!("location"));
    m.insert("spec_version".into(), json!("2.1"));
    m.insert(
        "id".into(),
        json!(ids::vigil_id("location", &["region", region])),
    );
    m.insert("created".into(), json!(ctx.now));
    m.insert("modified".into(), json!(ctx.now));
    if let Some(c) = ctx.confidence {
        m.insert("confidence".into(), json!(c));
    }
    m.insert("name".into(), json!(name));
    m.insert("region".into(), json!(region));
    StixObject::from_map(m)
}

/// A relationship Vigil derives, with the id the ingest layer gives link relationships (over source|type|target).
pub fn derived_relationship(
    src: &str,
    rel: &str,
    dst: &str,
    ctx: &ParseCtx,
    extra: &[(&str, Value)],
) -> Result<StixObject, ModelError> {
    let mut m = Map::new();
    m.insert("type".into(), json!("relationship"));
    m.insert("spec_version".into(), json!("2.1"));
    m.insert(
        "id".into(),
        json!(ids::vigil_id("relationship", &[src, rel, dst])),
    );
    m.insert("created".into(), json!(ctx.now));
    m.insert("modified".into(), json!(ctx.now));
    if let Some(c) = ctx.confidence {
        m.insert("confidence".into(), json!(c));
    }
    m.insert("relationship_type".into(), json!(rel));
    m.insert("source_ref".into(), json!(src));
    m.insert("target_ref".into(), json!(dst));
    for (k, v) in extra {
        m.insert((*k).to_string(), v.clone());
    }
    StixObject::from_map(m)
}

/// UN M49 region codes (as MISP's region galaxy writes them, "150 - Europe") to the STIX region vocabulary.
fn m49_region(code: &str) -> Option<&'static str> {
    Some(match code {
        "002" => "africa",
        "014" => "eastern-africa",
        "017" => "middle-africa",
        "015" => "northern-africa",
        "018" => "southern-africa",
        "011" => "western-africa",
        "019" => "americas",
        "029" => "caribbean",
        "013" => "central-america",
        "419" => "latin-america-caribbean",
        "021" => "northern-america",
        "005" => "south-america",
        "142" => "asia",
        "143" => "central-asia",
        "030" => "eastern-asia",
        "034" => "southern-asia",
        "035" => "south-eastern-asia",
        "145" => "western-asia",
        "150" => "europe",
        "151" => "eastern-europe",
        "154" => "northern-europe",
        "039" => "southern-europe",
        "155" => "western-europe",
        "010" => "antarctica",
        "009" => "oceania",
        "053" => "australia-new-zealand",
        "054" => "melanesia",
        "057" => "micronesia",
        "061" => "polynesia",
        _ => return None,
    })
}

/// Reads one MISP galaxy cluster file (`{"type":..,"values":[..]}`).
pub fn parse(r: &mut dyn BufRead, ctx: &ParseCtx, emit: &mut Emit<'_>) -> Result<(), FormatError> {
    let doc = crate::misp::read_document(r, &ctx.file)?;
    let unreadable = |reason: String| FormatError::Unreadable {
        file: ctx.file.clone(),
        reason,
    };
    let Value::Object(top) = &doc else {
        return Err(unreadable(
            "not a MISP galaxy cluster file: the top level is not a JSON object".into(),
        ));
    };
    let Some(values) = top.get("values").and_then(Value::as_array) else {
        let keys: Vec<&str> = top.keys().take(10).map(String::as_str).collect();
        return Err(unreadable(format!(
            "not a MISP galaxy cluster file: no `values` list (top-level keys are {})",
            keys.join(", ")
        )));
    };
    let Some(galaxy_type) = top
        .get("type")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Err(unreadable(
            "not a MISP galaxy cluster file: no `type`".into(),
        ));
    };
    let version = match top.get("version") {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    };
    let kind = GalaxyKind::of(galaxy_type, top.get("category").and_then(Value::as_str));
    let created = galaxy_time(0);
    let modified = galaxy_time(version);
    let mut locations: HashSet<String> = HashSet::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, v) in values.iter().enumerate() {
        let location = format!("values[{i}]");
        let cluster = match Cluster::from_json(galaxy_type, v) {
            Ok(c) => Cluster {
                galaxy_type: galaxy_type.to_string(),
                ..c
            },
            Err(reason) => {
                emit(Item::Reject { location, reason })?;
                continue;
            }
        };
        let location = format!("{location} ({})", clip(&cluster.value));
        match kind {
            GalaxyKind::Other => continue,
            GalaxyKind::Country => {
                let iso = strings(cluster.meta.get("ISO"))
                    .into_iter()
                    .find_map(country_code)
                    .or_else(|| country_code(&cluster.value));
                if let Some(code) = iso {
                    emit_location(code, ctx, &mut locations, emit)?;
                }
                continue;
            }
            GalaxyKind::Region => {
                let code = cluster.value.split(" - ").next().unwrap_or("").trim();
                if let Some(region) = m49_region(code) {
                    let name = cluster
                        .value
                        .split_once(" - ")
                        .map(|(_, n)| n.trim())
                        .unwrap_or(region);
                    if locations.insert(format!("region:{region}")) {
                        match region_location(region, name, ctx) {
                            Ok(o) => emit(Item::Object {
                                object: o,
                                original_id: cluster.uuid.clone(),
                                derived: true,
                            })?,
                            Err(e) => emit(Item::Reject {
                                location,
                                reason: e.to_string(),
                            })?,
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        let object = match cluster.to_object(ctx, &created, &modified) {
            Ok(Some(o)) => o,
            Ok(None) => continue,
            Err(e) => {
                emit(Item::Reject {
                    location,
                    reason: e.to_string(),
                })?;
                continue;
            }
        };
        let id = object.id().to_string();
        if let Some(first) = seen.insert(id.clone(), i) {
            // Two values with one uuid (or, without uuids, one name): the first is kept.
            emit(Item::Reject {
                location,
                reason: format!("duplicate of values[{first}] (same uuid or name)"),
            })?;
            continue;
        }
        // ATT&CK mirrors take the ATT&CK id: derived, so an ATT&CK object already stored stays as it is.
        let derived = cluster.is_mitre();
        emit(Item::Object {
            object,
            original_id: cluster.uuid.clone(),
            derived,
        })?;
        match kind {
            GalaxyKind::Actor => {
                for (code, bases) in cluster.countries() {
                    let loc_id = emit_location(code, ctx, &mut locations, emit)?;
                    match derived_relationship(
                        &id,
                        "located-at",
                        &loc_id,
                        ctx,
                        &[("x_vigil_basis", json!(bases.join(", ")))],
                    ) {
                        Ok(rel) => emit(Item::Object {
                            object: rel,
                            original_id: None,
                            derived: true,
                        })?,
                        Err(e) => emit(Item::Reject {
                            location: location.clone(),
                            reason: e.to_string(),
                        })?,
                    }
                }
                let mut keys: Vec<String> = cluster
                    .related
                    .iter()
                    .map(|(u, _)| format!("intrusion-set--{u}"))
                    .collect();
                for k in cluster.lookup_keys() {
                    if !k.starts_with("threat-actor--") && !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                emit(Item::Link(Link {
                    from: id,
                    relationship_type: "attributed-to".into(),
                    reverse: true,
                    target_types: vec!["intrusion-set".into()],
                    keys,
                    fallback: None,
                    marking_refs: Vec::new(),
                    follow: false,
                }))?;
            }
            GalaxyKind::Malware | GalaxyKind::Tool if !cluster.is_mitre() => {
                // Families that MISP relates to ATT&CK software, by the ATT&CK uuid or an S-id in the references.
                let mut keys: Vec<String> = Vec::new();
                for (u, _) in &cluster.related {
                    keys.push(format!("malware--{u}"));
                    keys.push(format!("tool--{u}"));
                }
                keys.extend(cluster.attack_ids());
                if !keys.is_empty() {
                    emit(Item::Link(Link {
                        from: id,
                        relationship_type: "related-to".into(),
                        reverse: false,
                        target_types: vec!["malware".into(), "tool".into()],
                        keys,
                        fallback: None,
                        marking_refs: Vec::new(),
                        follow: false,
                    }))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Emits the location for a country once per file and returns its id.
fn emit_location(
    code: &str,
    ctx: &ParseCtx,
    done: &mut HashSet<String>,
    emit: &mut Emit<'_>,
) -> Result<String, FormatError> {
    let id = ids::vigil_id("location", &[&code.to_ascii_uppercase()]);
    if done.insert(id.clone()) {
        match country_location(code, ctx) {
            Ok(o) => emit(Item::Object {
                object: o,
                original_id: None,
                derived: true,
            })?,
            Err(e) => emit(Item::Reject {
                location: format!("country {code}"),
                reason: e.to_string(),
            })?,
        }
    }
    Ok(id)
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

/// ISO 3166-1 alpha-2 codes and English short names.
const COUNTRIES: &[(&str, &str)] = &[
    ("AD", "Andorra"),
    ("AE", "United Arab Emirates"),
    ("AF", "Afghanistan"),
    ("AG", "Antigua and Barbuda"),
    ("AI", "Anguilla"),
    ("AL", "Albania"),
    ("AM", "Armenia"),
    ("AO", "Angola"),
    ("AQ", "Antarctica"),
    ("AR", "Argentina"),
    ("AS", "American Samoa"),
    ("AT", "Austria"),
    ("AU", "Australia"),
    ("AW", "Aruba"),
    ("AX", "Åland Islands"),
    ("AZ", "Azerbaijan"),
    ("BA", "Bosnia and Herzegovina"),
    ("BB", "Barbados"),
    ("BD", "Bangladesh"),
    ("BE", "Belgium"),
    ("BF", "Burkina Faso"),
    ("BG", "Bulgaria"),
    ("BH", "Bahrain"),
    ("BI", "Burundi"),
    ("BJ", "Benin"),
    ("BL", "Saint Barthélemy"),
    ("BM", "Bermuda"),
    ("BN", "Brunei Darussalam"),
    ("BO", "Bolivia"),
    ("BQ", "Bonaire, Sint Eustatius and Saba"),
    ("BR", "Brazil"),
    ("BS", "Bahamas"),
    ("BT", "Bhutan"),
    ("BV", "Bouvet Island"),
    ("BW", "Botswana"),
    ("BY", "Belarus"),
    ("BZ", "Belize"),
    ("CA", "Canada"),
    ("CC", "Cocos (Keeling) Islands"),
    ("CD", "Democratic Republic of the Congo"),
    ("CF", "Central African Republic"),
    ("CG", "Congo"),
    ("CH", "Switzerland"),
    ("CI", "Côte d'Ivoire"),
    ("CK", "Cook Islands"),
    ("CL", "Chile"),
    ("CM", "Cameroon"),
    ("CN", "China"),
    ("CO", "Colombia"),
    ("CR", "Costa Rica"),
    ("CU", "Cuba"),
    ("CV", "Cabo Verde"),
    ("CW", "Curaçao"),
    ("CX", "Christmas Island"),
    ("CY", "Cyprus"),
    ("CZ", "Czechia"),
    ("DE", "Germany"),
    ("DJ", "Djibouti"),
    ("DK", "Denmark"),
    ("DM", "Dominica"),
    ("DO", "Dominican Republic"),
    ("DZ", "Algeria"),
    ("EC", "Ecuador"),
    ("EE", "Estonia"),
    ("EG", "Egypt"),
    ("EH", "Western Sahara"),
    ("ER", "Eritrea"),
    ("ES", "Spain"),
    ("ET", "Ethiopia"),
    ("FI", "Finland"),
    ("FJ", "Fiji"),
    ("FK", "Falkland Islands (Malvinas)"),
    ("FM", "Micronesia"),
    ("FO", "Faroe Islands"),
    ("FR", "France"),
    ("GA", "Gabon"),
    ("GB", "United Kingdom"),
    ("GD", "Grenada"),
    ("GE", "Georgia"),
    ("GF", "French Guiana"),
    ("GG", "Guernsey"),
    ("GH", "Ghana"),
    ("GI", "Gibraltar"),
    ("GL", "Greenland"),
    ("GM", "Gambia"),
    ("GN", "Guinea"),
    ("GP", "Guadeloupe"),
    ("GQ", "Equatorial Guinea"),
    ("GR", "Greece"),
    ("GS", "South Georgia and the South Sandwich Islands"),
    ("GT", "Guatemala"),
    ("GU", "Guam"),
    ("GW", "Guinea-Bissau"),
    ("GY", "Guyana"),
    ("HK", "Hong Kong"),
    ("HM", "Heard Island and McDonald Islands"),
    ("HN", "Honduras"),
    ("HR", "Croatia"),
    ("HT", "Haiti"),
    ("HU", "Hungary"),
    ("ID", "Indonesia"),
    ("IE", "Ireland"),
    ("IL", "Israel"),
    ("IM", "Isle of Man"),
    ("IN", "India"),
    ("IO", "British Indian Ocean Territory"),
    ("IQ", "Iraq"),
    ("IR", "Iran"),
    ("IS", "Iceland"),
    ("IT", "Italy"),
    ("JE", "Jersey"),
    ("JM", "Jamaica"),
    ("JO", "Jordan"),
    ("JP", "Japan"),
    ("KE", "Kenya"),
    ("KG", "Kyrgyzstan"),
    ("KH", "Cambodia"),
    ("KI", "Kiribati"),
    ("KM", "Comoros"),
    ("KN", "Saint Kitts and Nevis"),
    ("KP", "North Korea"),
    ("KR", "South Korea"),
    ("KW", "Kuwait"),
    ("KY", "Cayman Islands"),
    ("KZ", "Kazakhstan"),
    ("LA", "Laos"),
    ("LB", "Lebanon"),
    ("LC", "Saint Lucia"),
    ("LI", "Liechtenstein"),
    ("LK", "Sri Lanka"),
    ("LR", "Liberia"),
    ("LS", "Lesotho"),
    ("LT", "Lithuania"),
    ("LU", "Luxembourg"),
    ("LV", "Latvia"),
    ("LY", "Libya"),
    ("MA", "Morocco"),
    ("MC", "Monaco"),
    ("MD", "Moldova"),
    ("ME", "Montenegro"),
    ("MF", "Saint Martin (French part)"),
    ("MG", "Madagascar"),
    ("MH", "Marshall Islands"),
    ("MK", "North Macedonia"),
    ("ML", "Mali"),
    ("MM", "Myanmar"),
    ("MN", "Mongolia"),
    ("MO", "Macao"),
    ("MP", "Northern Mariana Islands"),
    ("MQ", "Martinique"),
    ("MR", "Mauritania"),
    ("MS", "Montserrat"),
    ("MT", "Malta"),
    ("MU", "Mauritius"),
    ("MV", "Maldives"),
    ("MW", "Malawi"),
    ("MX", "Mexico"),
    ("MY", "Malaysia"),
    ("MZ", "Mozambique"),
    ("NA", "Namibia"),
    ("NC", "New Caledonia"),
    ("NE", "Niger"),
    ("NF", "Norfolk Island"),
    ("NG", "Nigeria"),
    ("NI", "Nicaragua"),
    ("NL", "Netherlands"),
    ("NO", "Norway"),
    ("NP", "Nepal"),
    ("NR", "Nauru"),
    ("NU", "Niue"),
    ("NZ", "New Zealand"),
    ("OM", "Oman"),
    ("PA", "Panama"),
    ("PE", "Peru"),
    ("PF", "French Polynesia"),
    ("PG", "Papua New Guinea"),
    ("PH", "Philippines"),
    ("PK", "Pakistan"),
    ("PL", "Poland"),
    ("PM", "Saint Pierre and Miquelon"),
    ("PN", "Pitcairn"),
    ("PR", "Puerto Rico"),
    ("PS", "Palestine"),
    ("PT", "Portugal"),
    ("PW", "Palau"),
    ("PY", "Paraguay"),
    ("QA", "Qatar"),
    ("RE", "Réunion"),
    ("RO", "Romania"),
    ("RS", "Serbia"),
    ("RU", "Russia"),
    ("RW", "Rwanda"),
    ("SA", "Saudi Arabia"),
    ("SB", "Solomon Islands"),
    ("SC", "Seychelles"),
    ("SD", "Sudan"),
    ("SE", "Sweden"),
    ("SG", "Singapore"),
    ("SH", "Saint Helena, Ascension and Tristan da Cunha"),
    ("SI", "Slovenia"),
    ("SJ", "Svalbard and Jan Mayen"),
    ("SK", "Slovakia"),
    ("SL", "Sierra Leone"),
    ("SM", "San Marino"),
    ("SN", "Senegal"),
    ("SO", "Somalia"),
    ("SR", "Suriname"),
    ("SS", "South Sudan"),
    ("ST", "Sao Tome and Principe"),
    ("SV", "El Salvador"),
    ("SX", "Sint Maarten (Dutch part)"),
    ("SY", "Syria"),
    ("SZ", "Eswatini"),
    ("TC", "Turks and Caicos Islands"),
    ("TD", "Chad"),
    ("TF", "French Southern Territories"),
    ("TG", "Togo"),
    ("TH", "Thailand"),
    ("TJ", "Tajikistan"),
    ("TK", "Tokelau"),
    ("TL", "Timor-Leste"),
    ("TM", "Turkmenistan"),
    ("TN", "Tunisia"),
    ("TO", "Tonga"),
    ("TR", "Türkiye"),
    ("TT", "Trinidad and Tobago"),
    ("TV", "Tuvalu"),
    ("TW", "Taiwan"),
    ("TZ", "Tanzania"),
    ("UA", "Ukraine"),
    ("UG", "Uganda"),
    ("UM", "United States Minor Outlying Islands"),
    ("US", "United States"),
    ("UY", "Uruguay"),
    ("UZ", "Uzbekistan"),
    ("VA", "Holy See"),
    ("VC", "Saint Vincent and the Grenadines"),
    ("VE", "Venezuela"),
    ("VG", "Virgin Islands (British)"),
    ("VI", "Virgin Islands (U.S.)"),
    ("VN", "Viet Nam"),
    ("VU", "Vanuatu"),
    ("WF", "Wallis and Futuna"),
    ("WS", "Samoa"),
    ("YE", "Yemen"),
    ("YT", "Mayotte"),
    ("ZA", "South Africa"),
    ("ZM", "Zambia"),
    ("ZW", "Zimbabwe"),
];

/// Other names feeds use for countries (CFR's state-sponsor names, ISO's long forms, common short forms).
const COUNTRY_ALIASES: &[(&str, &str)] = &[
    ("russian federation", "RU"),
    ("iran islamic republic of", "IR"),
    ("islamic republic of iran", "IR"),
    ("korea democratic people s republic of", "KP"),
    ("democratic people s republic of korea", "KP"),
    ("dprk", "KP"),
    ("korea republic of", "KR"),
    ("republic of korea", "KR"),
    ("people s republic of china", "CN"),
    ("prc", "CN"),
    ("us", "US"),
    ("usa", "US"),
    ("united states of america", "US"),
    ("uk", "GB"),
    ("great britain", "GB"),
    ("united kingdom of great britain and northern ireland", "GB"),
    ("uae", "AE"),
    ("vietnam", "VN"),
    ("state of palestine", "PS"),
    ("palestine state of", "PS"),
    ("palestinian territories", "PS"),
    ("syrian arab republic", "SY"),
    ("lao people s democratic republic", "LA"),
    ("bolivia plurinational state of", "BO"),
    ("venezuela bolivarian republic of", "VE"),
    ("tanzania united republic of", "TZ"),
    ("united republic of tanzania", "TZ"),
    ("moldova republic of", "MD"),
    ("republic of moldova", "MD"),
    ("czech republic", "CZ"),
    ("turkey", "TR"),
    ("taiwan province of china", "TW"),
    ("macedonia", "MK"),
    ("the former yugoslav republic of macedonia", "MK"),
    ("ivory coast", "CI"),
    ("burma", "MM"),
    ("swaziland", "SZ"),
    ("cape verde", "CV"),
    ("east timor", "TL"),
    ("vatican", "VA"),
    ("vatican city", "VA"),
    ("brunei", "BN"),
    ("micronesia federated states of", "FM"),
    ("congo democratic republic of the", "CD"),
    ("drc", "CD"),
    ("republic of the congo", "CG"),
    ("congo republic of the", "CG"),
    ("macau", "MO"),
    ("hong kong sar", "HK"),
    ("netherlands the", "NL"),
    ("the netherlands", "NL"),
    ("holland", "NL"),
    ("south korea", "KR"),
    ("north korea", "KP"),
    ("cocos islands", "CC"),
    ("keeling islands", "CC"),
    ("falkland islands", "FK"),
    ("saint martin", "MF"),
    ("sint maarten", "SX"),
    ("saint helena", "SH"),
    ("bonaire saint eustatius and saba", "BQ"),
    ("palestinian territory", "PS"),
    ("british virgin islands", "VG"),
    ("us virgin islands", "VI"),
    ("u s virgin islands", "VI"),
];

/// Lower-case, accents folded, punctuation as spaces, spaces collapsed.
fn norm_country(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'á' | 'à' | 'â' | 'ä' | 'å' | 'ã' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    out.trim_end().to_string()
}

fn country_index() -> &'static HashMap<String, &'static str> {
    static INDEX: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut m = HashMap::new();
        for (code, name) in COUNTRIES {
            m.insert(norm_country(name), *code);
        }
        for (alias, code) in COUNTRY_ALIASES {
            m.insert(norm_country(alias), *code);
        }
        m
    })
}

/// The English short name of an ISO 3166-1 alpha-2 code.
pub fn country_name(code: &str) -> Option<&'static str> {
    let code = code.trim().to_ascii_uppercase();
    COUNTRIES
        .binary_search_by(|(c, _)| (*c).cmp(code.as_str()))
        .ok()
        .map(|i| COUNTRIES[i].1)
}

/// The ISO 3166-1 alpha-2 code for a code or a country name ("RU", "Russian Federation", "Iran (Islamic Republic
/// of)"). None for "Unknown" and anything not a country.
pub fn country_code(s: &str) -> Option<&'static str> {
    let t = s.trim();
    if t.len() == 2 && t.is_ascii() {
        let up = t.to_ascii_uppercase();
        if let Ok(i) = COUNTRIES.binary_search_by(|(c, _)| (*c).cmp(up.as_str())) {
            return Some(COUNTRIES[i].0);
        }
    }
    let n = norm_country(t);
    let index = country_index();
    if let Some(code) = index.get(&n) {
        return Some(code);
    }
    // "Iran (Islamic Republic of)" style names whose long form is not listed: drop the parenthesis, then "the".
    let short = match t.split_once('(') {
        Some((head, _)) => norm_country(head),
        None => n.clone(),
    };
    let short = short.strip_prefix("the ").unwrap_or(&short);
    if short == "korea" {
        return None;
    }
    index.get(short).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ParseCtx {
        ParseCtx {
            source: "misp-galaxy".into(),
            file: "clusters/threat-actor.json".into(),
            confidence: Some(60),
            now: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    fn run(input: &str) -> (Vec<Item>, Result<(), FormatError>) {
        let mut items = Vec::new();
        let res = parse(&mut input.as_bytes(), &ctx(), &mut |i| {
            items.push(i);
            Ok(())
        });
        (items, res)
    }

    fn objects(items: &[Item]) -> Vec<&StixObject> {
        items
            .iter()
            .filter_map(|i| {
                if let Item::Object { object, .. } = i {
                    Some(object)
                } else {
                    None
                }
            })
            .collect()
    }

    const ACTORS: &str = r#"{"authors":["x"],"category":"actor","name":"Threat Actor","type":"threat-actor","uuid":"7cdff317-a673-4474-84ec-4f1754947823","version":349,
      "values":[
        {"value":"APT28","uuid":"5b4ee3ea-eee3-4c8e-8323-85ae32658754","description":"Sofacy",
         "meta":{"synonyms":["Fancy Bear","G0007","APT28"],"country":"RU","cfr-suspected-state-sponsor":"Russian Federation",
                 "refs":["https://attack.mitre.org/groups/G0007/","not a url"]},
         "related":[{"dest-uuid":"bef4c620-0787-42a8-a96d-b7eb6e85917c","type":"similar"}]},
        {"value":"Charming Kitten","uuid":"1a8f1e56-0d5c-4e0e-9a52-0a5d1c0a8e01","meta":{"cfr-suspected-state-sponsor":"Iran (Islamic Republic of)","country":"IR"}},
        {"value":"Mystery","uuid":"2a8f1e56-0d5c-4e0e-9a52-0a5d1c0a8e01","meta":{"cfr-suspected-state-sponsor":"Unknown","country":"CN"}},
        {"uuid":"3a8f1e56-0d5c-4e0e-9a52-0a5d1c0a8e01"},
        "junk"
      ]}"#;

    #[test]
    fn threat_actor_with_country_and_attack_link() {
        let (items, res) = run(ACTORS);
        res.expect("parses");
        let objs = objects(&items);
        let apt28 = objs
            .iter()
            .find(|o| o.name() == Some("APT28"))
            .expect("APT28");
        assert_eq!(apt28.type_(), "threat-actor");
        assert_eq!(
            apt28.id(),
            ids::vigil_id("threat-actor", &["5b4ee3ea-eee3-4c8e-8323-85ae32658754"])
        );
        assert_eq!(apt28.aliases(), vec!["Fancy Bear", "G0007"]);
        assert_eq!(apt28.str("x_misp_country"), Some("RU"));
        assert_eq!(
            apt28.str("x_misp_state_sponsor"),
            Some("Russian Federation")
        );
        assert_eq!(apt28.confidence(), Some(60));
        assert_eq!(apt28.str("modified"), Some("2000-01-01T00:05:49.000Z"));
        // A threat actor must not claim the ATT&CK id (lookups by G0007 are for the intrusion set).
        assert!(apt28.external_id().is_none());
        let ru = objs
            .iter()
            .find(|o| o.str("country") == Some("RU"))
            .expect("location RU");
        assert_eq!(ru.name(), Some("Russia"));
        // country and state sponsor agree: one relationship naming both bases.
        let rels: Vec<_> = objs
            .iter()
            .filter(|o| o.type_() == "relationship" && o.str("source_ref") == Some(apt28.id()))
            .collect();
        assert_eq!(rels.len(), 1);
        assert_eq!(rels[0].str("relationship_type"), Some("located-at"));
        assert_eq!(rels[0].str("target_ref"), Some(ru.id()));
        assert_eq!(
            rels[0].str("x_vigil_basis"),
            Some("country, cfr-suspected-state-sponsor")
        );
        let link = items
            .iter()
            .find_map(|i| match i {
                Item::Link(l) if l.from == apt28.id() => Some(l),
                _ => None,
            })
            .expect("attributed-to link");
        assert_eq!(link.relationship_type, "attributed-to");
        assert!(link.reverse && link.fallback.is_none());
        assert_eq!(link.target_types, vec!["intrusion-set"]);
        assert_eq!(
            link.keys[0],
            "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c"
        );
        assert_eq!(link.keys[1], "G0007");
        assert!(
            link.keys.contains(&"APT28".to_string())
                && link.keys.contains(&"Fancy Bear".to_string())
        );
        // Iran by CFR name, and "Unknown" sponsor ignored while the country still counts.
        assert!(objs.iter().any(|o| o.str("country") == Some("IR")));
        let mystery = objs
            .iter()
            .find(|o| o.name() == Some("Mystery"))
            .expect("Mystery");
        let mrels: Vec<_> = objs
            .iter()
            .filter(|o| o.type_() == "relationship" && o.str("source_ref") == Some(mystery.id()))
            .collect();
        assert_eq!(mrels.len(), 1);
        assert_eq!(mrels[0].str("x_vigil_basis"), Some("country"));
        let rejects: Vec<&str> = items
            .iter()
            .filter_map(|i| {
                if let Item::Reject { location, .. } = i {
                    Some(location.as_str())
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(rejects, vec!["values[3]", "values[4]"]);
    }

    #[test]
    fn mitre_clusters_take_attack_ids() {
        let input = r#"{"type":"mitre-intrusion-set","category":"actor","version":30,"uuid":"1023f364-7831-11e7-8318-43b5531983ab","authors":["MITRE"],"values":[
          {"value":"APT28 - G0007","uuid":"bef4c620-0787-42a8-a96d-b7eb6e85917c","meta":{"external_id":"G0007","synonyms":["APT28","Sednit"]},
           "related":[{"dest-uuid":"5b4ee3ea-eee3-4c8e-8323-85ae32658754","type":"similar"}]}]}"#;
        let (items, res) = run(input);
        res.expect("parses");
        assert_eq!(items.len(), 1, "{items:?}");
        match &items[0] {
            Item::Object {
                object,
                derived,
                original_id,
            } => {
                assert!(*derived);
                assert_eq!(
                    original_id.as_deref(),
                    Some("bef4c620-0787-42a8-a96d-b7eb6e85917c")
                );
                assert_eq!(
                    object.id(),
                    "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c"
                );
                assert_eq!(object.name(), Some("APT28"));
                assert_eq!(object.external_id(), Some("G0007"));
                assert_eq!(object.aliases(), vec!["Sednit"]);
            }
            other => panic!("{other:?}"),
        }
        let ap = r#"{"type":"mitre-attack-pattern","category":"attack-pattern","version":5,"uuid":"c4e851fa-775f-11e7-8163-b774922098cd","authors":["MITRE"],"values":[
          {"value":"Spearphishing Attachment - T1566.001","uuid":"2e34237d-8574-43f6-aace-ae2915de8597","meta":{"kill_chain":["mitre-attack:initial-access"]}}]}"#;
        let (items, _) = run(ap);
        let o = objects(&items)[0];
        assert_eq!(
            o.id(),
            "attack-pattern--2e34237d-8574-43f6-aace-ae2915de8597"
        );
        assert_eq!(o.name(), Some("Spearphishing Attachment"));
        assert_eq!(o.external_id(), Some("T1566.001"));
        assert_eq!(
            o.get("kill_chain_phases"),
            Some(&json!([{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}]))
        );
    }

    #[test]
    fn objects_give_back_the_tag_of_their_cluster() {
        let t = "2020-01-01T00:00:00.000Z";
        // Clusters named by tags (what a MISP event carries) and by galaxy files: the object's tag is the tag.
        for tag in [
            r#"misp-galaxy:threat-actor="Vigil Test Actor""#,
            r#"misp-galaxy:malpedia="Emotet""#,
            r#"misp-galaxy:ransomware="LockBit 3.0""#,
        ] {
            let c = Cluster::from_tag(tag).expect("tag");
            let o = c.to_object(&ctx(), t, t).expect("valid").expect("object");
            assert_eq!(tag_of(&o).as_deref(), Some(tag));
        }
        let (items, _) = run(
            r#"{"type":"mitre-intrusion-set","category":"actor","version":30,"uuid":"1023f364-7831-11e7-8318-43b5531983ab","authors":["MITRE"],"values":[
          {"value":"APT28 - G0007","uuid":"bef4c620-0787-42a8-a96d-b7eb6e85917c","meta":{"external_id":"G0007"}}]}"#,
        );
        assert_eq!(
            tag_of(objects(&items)[0]).as_deref(),
            Some(r#"misp-galaxy:mitre-intrusion-set="APT28 - G0007""#)
        );
        // ATT&CK's own objects map to MISP's mirrors of ATT&CK.
        let attack = |ty: &str, name: &str, id: &str| {
            StixObject::from_value(json!({"type": ty, "spec_version": "2.1",
                "id": format!("{ty}--bef4c620-0787-42a8-a96d-b7eb6e85917c"), "created": t, "modified": t, "name": name,
                "is_family": true,
                "external_references": [{"source_name": "mitre-attack", "external_id": id}]}))
            .expect("valid")
        };
        assert_eq!(
            tag_of(&attack("malware", "X-Agent", "S0136")).as_deref(),
            Some(r#"misp-galaxy:mitre-malware="X-Agent - S0136""#)
        );
        assert_eq!(
            tag_of(&attack("intrusion-set", "APT29", "G0016")).as_deref(),
            Some(r#"misp-galaxy:mitre-intrusion-set="APT29 - G0016""#)
        );
        // No galaxy and no ATT&CK id (a family an IOC list named), or a name MISP's quoting cannot carry: no tag.
        let family = crate::iocs::family_object("amavaldo", &[], &[], &ctx()).expect("family");
        assert_eq!(tag_of(&family), None);
        assert_eq!(tag_of(&attack("malware", "X-Agent", "CVE-2020-1")), None);
        assert_eq!(tag_of(&attack("malware", "say \"hi\"", "S0136")), None);
        assert_eq!(tag_of(&attack("malware", "two\nlines", "S0136")), None);
        assert_eq!(tag_of(&attack("malware", &"x".repeat(300), "S0136")), None);
    }

    #[test]
    fn malware_families_link_to_attack_software() {
        let input = r#"{"type":"ransomware","category":"tool","version":2,"uuid":"10cf658b-5d32-4c4b-bb32-61760a640372","authors":["x"],"values":[
          {"value":"WannaCry","uuid":"d62f8d7b-1a0b-4b5e-8a79-6a1a5a5c3f11","meta":{"synonyms":["WCry"],"refs":["https://attack.mitre.org/software/S0366/"]},
           "related":[{"dest-uuid":"75ecdbf1-c2bb-4afc-a3f9-c8da4de8c661","type":"similar"}]}]}"#;
        let (items, res) = run(input);
        res.expect("parses");
        let o = objects(&items)[0];
        assert_eq!(o.type_(), "malware");
        assert_eq!(o.get("is_family"), Some(&json!(true)));
        assert_eq!(o.get("malware_types"), Some(&json!(["ransomware"])));
        let link = items
            .iter()
            .find_map(|i| if let Item::Link(l) = i { Some(l) } else { None })
            .expect("link");
        assert_eq!(
            link.keys,
            vec![
                "malware--75ecdbf1-c2bb-4afc-a3f9-c8da4de8c661",
                "tool--75ecdbf1-c2bb-4afc-a3f9-c8da4de8c661",
                "S0366"
            ]
        );
        assert_eq!(link.relationship_type, "related-to");
    }

    #[test]
    fn countries_regions_and_skipped_galaxies() {
        let c = r#"{"type":"country","category":"country","version":1,"uuid":"84668357-5a8c-4bdd-9f0f-6b50b2414e45","authors":["x"],"values":[
           {"value":"andorra","uuid":"84668357-5a8c-4bdd-9f0f-6b50b2414e44","meta":{"ISO":"AD"}},{"value":"germany","meta":{}}]}"#;
        let (items, res) = run(c);
        res.expect("parses");
        let countries: Vec<_> = objects(&items)
            .iter()
            .filter_map(|o| o.str("country"))
            .map(str::to_string)
            .collect();
        assert_eq!(countries, vec!["AD", "DE"]);
        let r = r#"{"type":"region","category":"location","version":1,"uuid":"84668357-5a8c-4bdd-9f0f-6b50b2414e46","authors":["x"],"values":[
           {"value":"001 - World"},{"value":"150 - Europe","uuid":"8d87018b-e8bb-472e-841b-4429fb6b9bc1"}]}"#;
        let (items, _) = run(r);
        let objs = objects(&items);
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0].str("region"), Some("europe"));
        let s = r#"{"type":"sector","category":"sector","version":1,"uuid":"84668357-5a8c-4bdd-9f0f-6b50b2414e47","authors":["x"],"values":[{"value":"Energy"}]}"#;
        let (items, res) = run(s);
        assert!(res.is_ok() && items.is_empty());
    }

    #[test]
    fn unreadable_files() {
        for bad in [
            "",
            "{",
            "[1,2]",
            r#"{"values":[]}"#,
            r#"{"type":"threat-actor"}"#,
            "\u{feff}nonsense",
        ] {
            let (items, res) = run(bad);
            assert!(
                matches!(res, Err(FormatError::Unreadable { .. })),
                "{bad}: {res:?}"
            );
            assert!(items.is_empty());
        }
    }

    #[test]
    fn attack_ids_and_tags() {
        assert!(
            is_attack_id("T1566.001")
                && is_attack_id("G0007")
                && is_attack_id("S0154")
                && is_attack_id("TA0001")
        );
        assert!(
            !is_attack_id("T15")
                && !is_attack_id("G00077")
                && !is_attack_id("S0154.001")
                && !is_attack_id("APT28")
                && !is_attack_id("")
        );
        assert_eq!(
            attack_ids_in("https://attack.mitre.org/techniques/T1059/ and T1566.001."),
            vec!["T1059", "T1566.001"]
        );
        let c = Cluster::from_tag(
            r#"misp-galaxy:mitre-attack-pattern="Spearphishing Attachment - T1566.001""#,
        )
        .expect("tag");
        assert_eq!(c.kind(), GalaxyKind::AttackPattern);
        assert_eq!(c.name(), "Spearphishing Attachment");
        assert_eq!(
            c.lookup_keys(),
            vec![
                "T1566.001",
                "Spearphishing Attachment",
                "Spearphishing Attachment - T1566.001"
            ]
        );
        assert!(Cluster::from_tag("tlp:green").is_none());
        assert!(Cluster::from_tag("misp-galaxy:x=\"\"").is_none());
        assert_eq!(
            GalaxyKind::of("mitre-enterprise-attack-intrusion-set", None),
            GalaxyKind::IntrusionSet
        );
        assert_eq!(
            GalaxyKind::of("mitre-mobile-attack-malware", None),
            GalaxyKind::Malware
        );
        assert_eq!(
            GalaxyKind::of("something-new", Some("actor")),
            GalaxyKind::Actor
        );
        assert_eq!(GalaxyKind::of("sector", Some("sector")), GalaxyKind::Other);
    }

    #[test]
    fn fixture_bad_values() {
        let (items, res) = run(include_str!("../tests/fixtures/galaxy/bad_values.json"));
        res.expect("the file is readable");
        let rejects: Vec<(&str, &str)> = items
            .iter()
            .filter_map(|i| {
                if let Item::Reject { location, reason } = i {
                    Some((location.as_str(), reason.as_str()))
                } else {
                    None
                }
            })
            .collect();
        let locs: Vec<&str> = rejects
            .iter()
            .map(|(l, _)| l.split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(
            locs,
            vec![
                "values[1]",
                "values[2]",
                "values[3]",
                "values[4]",
                "values[5]"
            ],
            "{rejects:?}"
        );
        assert!(
            rejects[0].1.contains("empty")
                && rejects[1].1.contains("not a string")
                && rejects[2].1.contains("missing")
        );
        assert!(
            rejects[3].1.contains("not a JSON object")
                && rejects[4].1.contains("duplicate of values[0]")
        );
        let objs = objects(&items);
        let vta = objs
            .iter()
            .find(|o| o.name() == Some("Vigil Test Actor"))
            .expect("first actor");
        // Neither ZZ nor Atlantis is a country: no location, the raw values kept.
        assert_eq!(vta.str("x_misp_country"), Some("ZZ"));
        assert_eq!(vta.str("x_misp_state_sponsor"), Some("Atlantis"));
        assert!(
            vta.get("external_references").is_none(),
            "a URL with a space is not kept"
        );
        assert!(!objs
            .iter()
            .any(|o| o.type_() == "relationship" && o.str("source_ref") == Some(vta.id())));
        let uuidless = objs
            .iter()
            .find(|o| o.name() == Some("Uuidless Actor"))
            .expect("actor without a valid uuid");
        assert_eq!(
            uuidless.id(),
            ids::vigil_id("threat-actor", &["uuidless actor"])
        );
        assert_eq!(uuidless.aliases(), vec!["Single Synonym"]);
        let fr = objs
            .iter()
            .find(|o| o.str("country") == Some("FR"))
            .expect("lower-case country code");
        assert_eq!(fr.name(), Some("France"));
    }

    #[test]
    fn uris() {
        assert_eq!(
            uri_safe("https://x.example/a#p-1|388"),
            "https://x.example/a#p-1%7C388"
        );
        assert_eq!(
            uri_safe("https://x.example/é b"),
            "https://x.example/%C3%A9%20b"
        );
        assert_eq!(
            uri_safe("https://x.example/a?b=c&d=%20"),
            "https://x.example/a?b=c&d=%20"
        );
    }

    #[test]
    fn country_table() {
        assert_eq!(COUNTRIES.len(), 249);
        assert!(
            COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted and unique"
        );
        for (code, name) in COUNTRIES {
            assert_eq!(country_code(code), Some(*code));
            assert_eq!(country_code(name), Some(*code), "{name}");
        }
        for (alias, code) in COUNTRY_ALIASES {
            assert_eq!(country_code(alias), Some(*code), "{alias}");
            assert!(country_name(code).is_some(), "{code}");
        }
        for (name, code) in [
            ("Russian Federation", "RU"),
            ("Iran (Islamic Republic of)", "IR"),
            ("Korea (Democratic People's Republic of)", "KP"),
            ("Korea (Republic of)", "KR"),
            ("People's Republic of China", "CN"),
            ("United States", "US"),
            ("US", "US"),
            ("Palestine", "PS"),
            ("Vietnam", "VN"),
            ("Türkiye", "TR"),
            ("Bolivia (Plurinational State of)", "BO"),
            ("cote d'ivoire", "CI"),
        ] {
            assert_eq!(country_code(name), Some(code), "{name}");
        }
        for none in ["Unknown", "Korea", "XX", "", "Atlantis", "ZZZ"] {
            assert_eq!(country_code(none), None, "{none}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = run(&s);
            let _ = country_code(&s);
            let _ = attack_ids_in(&s);
            let _ = Cluster::from_tag(&s);
        }

        #[test]
        fn values_of_any_shape(v in "[\\[\\]{}\",:a-z0-9 ]{0,120}") {
            let _ = run(&format!(r#"{{"type":"threat-actor","values":[{v}]}}"#));
            let _ = run(&format!(r#"{{"type":"threat-actor","values":[{{"value":"x","meta":{v}}}]}}"#));
        }

        /// A cluster named by a tag gives back that tag through its object, or no tag when MISP could not carry
        /// it; never a tag for another cluster.
        #[test]
        fn tags_round_trip_through_objects(
            ty in "(threat-actor|malpedia|ransomware|rat|tool|360net|microsoft-activity-group)",
            value in "(\\PC{1,300}|[ -~]{1,200})",
        ) {
            let tag = format!("misp-galaxy:{ty}=\"{value}\"");
            let t = "2020-01-01T00:00:00.000Z";
            // Plain names must come back (so the property is not met by never answering).
            let plain = !value.trim().is_empty()
                && value.len() <= 200
                && value.chars().all(|c| c == ' ' || (c.is_ascii_graphic() && c != '"'));
            if let Some(c) = Cluster::from_tag(&tag) {
                if let Ok(Some(o)) = c.to_object(&ctx(), t, t) {
                    let back = tag_of(&o);
                    proptest::prop_assert!(!plain || back.is_some(), "{tag}: no tag back");
                    if let Some(back) = back {
                        let again = Cluster::from_tag(&back).expect("a tag tag_of made parses");
                        proptest::prop_assert_eq!(&again.galaxy_type, &c.galaxy_type);
                        proptest::prop_assert_eq!(again.name(), c.name());
                        proptest::prop_assert!(back.chars().count() <= 255);
                    }
                }
            }
        }
    }
}
