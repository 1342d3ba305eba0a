//! Attribution: ranks ATT&CK groups (and MISP galaxy threat actors without an ATT&CK entry) by how much of
//! their known techniques, software and indicators a report or incident shares, with the overlap as evidence.
//!
//! The score is an IDF-weighted cosine between the query and each actor profile: a technique every group
//! uses (T1059) counts little, a rare one much; software counts double, as it is more specific than a
//! technique; a known indicator counts most. A sub-technique the actor is known for only at parent level
//! counts half.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::artifact::{self, Header, Reader, Writer};
use crate::attack::Attack;
use crate::corpus;
use crate::error::{MlError, Result};
use crate::extract::{ExtractOptions, Extractor, IndicatorType};

/// Artifact model name.
pub const MODEL: &str = "attribution";
/// Payload layout version.
pub const MODEL_VERSION: u32 = 1;
const SOFTWARE_WEIGHT: f64 = 2.0;
const INDICATOR_WEIGHT: f64 = 4.0;
/// Added to every profile's squared norm so that a profile of one or two items (a MISP actor known only for
/// Cobalt Strike) cannot outrank a group that shares much more with the query.
const NORM_PRIOR: f64 = 60.0;

static EMBEDDED: &[u8] = include_bytes!("../models/attribution.vgm");

/// One actor profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// ATT&CK id (G0007) or `misp:<uuid>` for galaxy actors without one.
    pub id: String,
    pub name: String,
    /// ATT&CK aliases and MISP galaxy names.
    pub aliases: Vec<String>,
    pub techniques: Vec<String>,
    pub software: Vec<String>,
}

/// What is known about an incident or report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// ATT&CK technique ids (T1566, T1059.001).
    pub techniques: Vec<String>,
    /// ATT&CK software ids (S0154).
    pub software: Vec<String>,
    /// Indicator values (domains, IPs, hashes, URLs), normalised as the extractor outputs them.
    pub indicators: Vec<String>,
    /// What the knowledge base already says of some of `indicators`: (value, the actor's ATT&CK id or name, what
    /// says so). Such a value counts as a known indicator of that actor (`vigil ml attribute` reads them from the
    /// store: maltrail's `apt_gamaredon` list makes its domains Gamaredon Group's).
    #[serde(default)]
    pub attributed: Vec<(String, String, String)>,
}

/// One piece of overlapping evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// `technique`, `software` or `indicator`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The id or value that overlaps.
    pub id: String,
    /// Human name (technique or software name, or the report the indicator came from).
    pub name: String,
}

/// One ranked actor, as the CLI prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMatch {
    pub id: String,
    pub name: String,
    /// Similarity in [0, 1].
    pub score: f64,
    pub evidence: Vec<Evidence>,
}

/// `{"groups":[...]}`, best first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    pub groups: Vec<GroupMatch>,
}

/// The attribution model: actor profiles, id -> name tables, and the indicator table.
#[derive(Debug, Clone)]
pub struct Attributor {
    header: Header,
    profiles: Vec<Profile>,
    technique_names: BTreeMap<String, String>,
    software_names: BTreeMap<String, String>,
    /// indicator value -> (profile index, source)
    indicators: BTreeMap<String, Vec<(u32, String)>>,
    idf: BTreeMap<String, f64>,
    norms: Vec<f64>,
    expanded: Vec<BTreeSet<String>>,
}

/// ATT&CK software names that are ordinary words in English prose (not matched in report text).
const COMMON_WORD_SOFTWARE: &[&str] = &[
    "Anchor",
    "Apostle",
    "Avenger",
    "Bazar",
    "Cannon",
    "Carbon",
    "Chaos",
    "Covenant",
    "Crimson",
    "Crutch",
    "Cuba",
    "Denis",
    "Disco",
    "Embargo",
    "Emissary",
    "Empire",
    "Epic",
    "Expand",
    "Explosive",
    "Ferocious",
    "Flame",
    "Havoc",
    "Kevin",
    "Lucifer",
    "Machete",
    "Mango",
    "Matryoshka",
    "Maze",
    "Meteor",
    "Milan",
    "Mori",
    "Mosquito",
    "Mythic",
    "Ninja",
    "Octopus",
    "Pandora",
    "Peppy",
    "Ping",
    "Pony",
    "Prestige",
    "Proton",
    "Reaver",
    "Responder",
    "Rover",
    "Royal",
    "Ruler",
    "Samurai",
    "Shark",
    "Sliver",
    "Solar",
    "Spark",
    "Wiper",
    "Systeminfo",
    "Tasklist",
    "Forfiles",
    "Wevtutil",
    "Nltest",
];

fn parent(t: &str) -> &str {
    t.split('.').next().unwrap_or(t)
}

fn norm_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(|c| c.to_lowercase())
        .collect()
}

impl Attributor {
    /// The model built into this binary.
    pub fn embedded() -> Result<Self> {
        Self::from_bytes(EMBEDDED)
    }

    /// Loads from a file.
    pub fn from_path(p: &Path) -> Result<Self> {
        let b = std::fs::read(p)
            .map_err(|e| MlError::artifact(MODEL, format!("cannot read {}: {e}", p.display())))?;
        Self::from_bytes(&b)
    }

    /// Loads from artifact bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (header, payload) = artifact::open(bytes, MODEL, MODEL_VERSION)?;
        let mut r = Reader::new(payload, MODEL);
        let n = r.u32()? as usize;
        let mut profiles = Vec::with_capacity(n.min(100_000));
        for _ in 0..n {
            profiles.push(Profile {
                id: r.str()?,
                name: r.str()?,
                aliases: r.strs()?,
                techniques: r.strs()?,
                software: r.strs()?,
            });
        }
        let pairs = |r: &mut Reader| -> Result<BTreeMap<String, String>> {
            let k = r.strs()?;
            let v = r.strs()?;
            if k.len() != v.len() {
                return Err(MlError::artifact(MODEL, "name table lengths differ"));
            }
            Ok(k.into_iter().zip(v).collect())
        };
        let technique_names = pairs(&mut r)?;
        let software_names = pairs(&mut r)?;
        let ni = r.u32()? as usize;
        let mut indicators: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
        for _ in 0..ni {
            let v = r.str()?;
            let p = r.u32()?;
            let src = r.str()?;
            if p as usize >= profiles.len() {
                return Err(MlError::artifact(
                    MODEL,
                    "indicator points past the profile table",
                ));
            }
            indicators.entry(v).or_default().push((p, src));
        }
        r.finish()?;
        Ok(Self::build(
            header,
            profiles,
            technique_names,
            software_names,
            indicators,
        ))
    }

    fn build(
        header: Header,
        profiles: Vec<Profile>,
        technique_names: BTreeMap<String, String>,
        software_names: BTreeMap<String, String>,
        indicators: BTreeMap<String, Vec<(u32, String)>>,
    ) -> Self {
        let expanded: Vec<BTreeSet<String>> = profiles
            .iter()
            .map(|p| {
                let mut s: BTreeSet<String> = BTreeSet::new();
                for t in &p.techniques {
                    s.insert(t.clone());
                    s.insert(parent(t).to_string());
                }
                s.extend(p.software.iter().cloned());
                s
            })
            .collect();
        let mut df: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &expanded {
            for k in s {
                *df.entry(k.as_str()).or_default() += 1;
            }
        }
        let n = profiles.len().max(1) as f64;
        let idf: BTreeMap<String, f64> = df
            .into_iter()
            .map(|(k, d)| (k.to_string(), (n / d as f64).ln() + 1.0))
            .collect();
        let norms = expanded
            .iter()
            .map(|s| {
                (s.iter()
                    .map(|k| {
                        let w = idf.get(k).copied().unwrap_or(1.0)
                            * if k.starts_with('S') {
                                SOFTWARE_WEIGHT
                            } else {
                                1.0
                            };
                        w * w
                    })
                    .sum::<f64>()
                    + NORM_PRIOR)
                    .sqrt()
            })
            .collect();
        Attributor {
            header,
            profiles,
            technique_names,
            software_names,
            indicators,
            idf,
            norms,
            expanded,
        }
    }

    /// Serialises into artifact bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.profiles.len() as u32);
        for p in &self.profiles {
            w.str(&p.id);
            w.str(&p.name);
            w.strs(&p.aliases);
            w.strs(&p.techniques);
            w.strs(&p.software);
        }
        for m in [&self.technique_names, &self.software_names] {
            w.strs(&m.keys().cloned().collect::<Vec<_>>());
            w.strs(&m.values().cloned().collect::<Vec<_>>());
        }
        let n: usize = self.indicators.values().map(Vec::len).sum();
        w.u32(n as u32);
        for (v, l) in &self.indicators {
            for (p, src) in l {
                w.str(v);
                w.u32(*p);
                w.str(src);
            }
        }
        artifact::seal(&self.header, &w.buf)
    }

    /// The artifact header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// All actor profiles.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// Technique display names by id (also used to label tags).
    pub fn technique_name(&self, id: &str) -> Option<&str> {
        self.technique_names.get(id).map(String::as_str)
    }

    /// Software id for a name or alias (case and punctuation ignored), so callers can accept `--software "Cobalt Strike"`.
    pub fn software_id(&self, name_or_id: &str) -> Option<String> {
        if self.software_names.contains_key(name_or_id) {
            return Some(name_or_id.to_string());
        }
        let n = norm_name(name_or_id);
        self.software_names
            .iter()
            .find(|(_, v)| norm_name(v) == n)
            .map(|(k, _)| k.clone())
    }

    /// Software name of an ATT&CK software id.
    pub fn software_name(&self, id: &str) -> Option<&str> {
        self.software_names.get(id).map(String::as_str)
    }

    /// ATT&CK software named in a text: a name of at least four characters, not all lower-case, found as a whole
    /// word with the same spelling (`Mimikatz`, `PlugX`, `Cobalt Strike`). Lower-case tool names (`cmd`, `at`,
    /// `ipconfig`) and names that are ordinary English words (`Ping`, `Empire`, `Responder`) are skipped: prose
    /// uses them without meaning the tool. Sorted by id.
    pub fn software_in_text(&self, text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (id, name) in &self.software_names {
            let n = name.trim();
            if n.len() < 4
                || !n.chars().any(|c| c.is_ascii_uppercase())
                || COMMON_WORD_SOFTWARE.contains(&n)
            {
                continue;
            }
            let mut from = 0;
            while let Some(pos) = text[from..].find(n) {
                let s = from + pos;
                let e = s + n.len();
                let before = text[..s].chars().next_back();
                let after = text[e..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                if !word(before) && !word(after) {
                    out.push((id.clone(), name.clone()));
                    break;
                }
                from = e;
            }
        }
        out
    }

    /// The profile an ATT&CK id (`G0047`) or an actor's name or alias names, ids first.
    fn profile_index(&self, key: &str) -> Option<usize> {
        let key = key.trim();
        self.profiles
            .iter()
            .position(|p| p.id.eq_ignore_ascii_case(key))
            .or_else(|| {
                self.profiles.iter().position(|p| {
                    p.name.eq_ignore_ascii_case(key)
                        || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(key))
                })
            })
    }

    /// Ranks actors for a query; returns at most `top` matches with a score above zero.
    pub fn rank(&self, q: &Query, top: usize) -> Attribution {
        let mut qt: BTreeSet<String> = q
            .techniques
            .iter()
            .map(|t| t.trim().to_ascii_uppercase())
            .filter(|t| !t.is_empty())
            .collect();
        let qs: BTreeSet<String> = q
            .software
            .iter()
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect();
        qt.retain(|t| !qs.contains(t));
        let qi: BTreeSet<String> = q
            .indicators
            .iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        let w = |k: &str| self.idf.get(k).copied().unwrap_or(1.0);
        let qnorm = {
            let t: f64 = qt.iter().map(|k| w(k).powi(2)).sum();
            let s: f64 = qs.iter().map(|k| (w(k) * SOFTWARE_WEIGHT).powi(2)).sum();
            (t + s + qi.len() as f64 * INDICATOR_WEIGHT.powi(2) * 4.0)
                .sqrt()
                .max(1e-9)
        };
        let mut ind_hits: BTreeMap<usize, Vec<(&str, &str)>> = BTreeMap::new();
        for v in &qi {
            if let Some(l) = self.indicators.get(v) {
                for (p, src) in l {
                    ind_hits
                        .entry(*p as usize)
                        .or_default()
                        .push((v.as_str(), src.as_str()));
                }
            }
        }
        for (v, actor, src) in &q.attributed {
            let Some(v) = qi.get(&v.trim().to_ascii_lowercase()) else {
                continue;
            };
            if let Some(p) = self.profile_index(actor) {
                let hits = ind_hits.entry(p).or_default();
                if !hits.iter().any(|(x, _)| *x == v.as_str()) {
                    hits.push((v.as_str(), src.as_str()));
                }
            }
        }
        let mut out: Vec<GroupMatch> = Vec::new();
        for (i, p) in self.profiles.iter().enumerate() {
            let set = &self.expanded[i];
            let mut dot = 0.0;
            let mut ev = Vec::new();
            for t in &qt {
                if set.contains(t) {
                    dot += w(t).powi(2);
                    ev.push(Evidence {
                        kind: "technique".into(),
                        id: t.clone(),
                        name: self.technique_names.get(t).cloned().unwrap_or_default(),
                    });
                } else if t.contains('.') && set.contains(parent(t)) {
                    dot += 0.5 * w(parent(t)).powi(2);
                    let pn = parent(t).to_string();
                    ev.push(Evidence {
                        kind: "technique".into(),
                        id: pn.clone(),
                        name: self.technique_names.get(&pn).cloned().unwrap_or_default(),
                    });
                }
            }
            for s in &qs {
                if set.contains(s) {
                    dot += (w(s) * SOFTWARE_WEIGHT).powi(2);
                    ev.push(Evidence {
                        kind: "software".into(),
                        id: s.clone(),
                        name: self.software_names.get(s).cloned().unwrap_or_default(),
                    });
                }
            }
            let mut inorm = 0.0;
            if let Some(h) = ind_hits.get(&i) {
                for (v, src) in h {
                    dot += INDICATOR_WEIGHT.powi(2) * 2.0;
                    inorm += INDICATOR_WEIGHT.powi(2) * 2.0;
                    ev.push(Evidence {
                        kind: "indicator".into(),
                        id: v.to_string(),
                        name: src.to_string(),
                    });
                }
            }
            if dot <= 0.0 {
                continue;
            }
            let score = dot / (qnorm * (self.norms[i].powi(2) + inorm).sqrt());
            out.push(GroupMatch {
                id: p.id.clone(),
                name: p.name.clone(),
                score: crate::extract::round4(score.min(1.0)),
                evidence: ev,
            });
        }
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        out.truncate(top);
        Attribution { groups: out }
    }
}

/// Resolves MISP galaxy threat actors onto ATT&CK groups (by UUID link, galaxy external id, or name/alias),
/// adding their names as aliases; actors with no ATT&CK group but with known tools become profiles of their own.
fn add_misp_actors(corpus: &Path, attack: &Attack, profiles: &mut Vec<Profile>) -> Result<()> {
    let dir = corpus.join("misp-galaxy/clusters");
    if !dir.is_dir() {
        return Ok(());
    }
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| MlError::io(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    // uuid -> (value, external id)
    let mut clusters: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    let mut actors: Vec<Value> = Vec::new();
    for f in &files {
        if !f.to_string_lossy().ends_with(".json") {
            continue;
        }
        let v = corpus::read_json(f)?;
        let is_actor = f.file_name().is_some_and(|n| n == "threat-actor.json");
        for x in v
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let uuid = x
                .get("uuid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let value = x
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let ext = x.pointer("/meta/external_id").and_then(|e| {
                e.as_str().map(str::to_string).or_else(|| {
                    e.as_array()
                        .and_then(|a| a.first())
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
            });
            clusters.insert(uuid, (value, ext));
            if is_actor {
                actors.push(x.clone());
            }
        }
    }
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for (i, p) in profiles.iter().enumerate() {
        for n in std::iter::once(&p.name).chain(p.aliases.iter()) {
            by_name.entry(norm_name(n)).or_insert(i);
        }
    }
    let sw_by_name: BTreeMap<String, String> = attack
        .software
        .values()
        .flat_map(|s| {
            std::iter::once(&s.name)
                .chain(s.aliases.iter())
                .map(move |n| (norm_name(n), s.id.clone()))
        })
        .collect();
    let idx: BTreeMap<String, usize> = profiles
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i))
        .collect();
    for a in actors {
        let value = a
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let uuid = a
            .get("uuid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let synonyms: Vec<String> = a
            .pointer("/meta/synonyms")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let related: Vec<(String, String)> = a
            .get("related")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|x| {
                        Some((
                            x.get("dest-uuid")?.as_str()?.to_string(),
                            x.get("type")?.as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut group: Option<usize> = None;
        for (d, _) in &related {
            let g = attack.group_by_uuid.get(d).cloned().or_else(|| {
                clusters
                    .get(d)
                    .and_then(|c| c.1.clone())
                    .filter(|e| e.starts_with('G'))
            });
            if let Some(g) = g.and_then(|g| idx.get(&g).copied()) {
                group = Some(g);
                break;
            }
        }
        if group.is_none() {
            group = std::iter::once(&value)
                .chain(synonyms.iter())
                .find_map(|n| by_name.get(&norm_name(n)).copied());
        }
        match group {
            Some(g) => {
                let p = &mut profiles[g];
                for n in std::iter::once(&value).chain(synonyms.iter()) {
                    if !p.aliases.contains(n) && &p.name != n {
                        p.aliases.push(n.clone());
                    }
                }
                p.aliases.sort();
            }
            None => {
                let mut software = BTreeSet::new();
                let mut techniques = BTreeSet::new();
                for (d, ty) in &related {
                    if ty != "uses" {
                        continue;
                    }
                    let Some((name, ext)) = clusters.get(d) else {
                        continue;
                    };
                    match ext {
                        Some(e) if e.starts_with('S') => {
                            software.insert(e.clone());
                        }
                        Some(e) if e.starts_with('T') => {
                            techniques.insert(e.clone());
                        }
                        _ => {
                            if let Some(s) = sw_by_name.get(&norm_name(name)) {
                                software.insert(s.clone());
                            }
                        }
                    }
                }
                if software.len() + techniques.len() >= 3 {
                    let mut aliases = synonyms.clone();
                    aliases.sort();
                    aliases.dedup();
                    profiles.push(Profile {
                        id: format!("misp:{uuid}"),
                        name: value,
                        aliases,
                        techniques: techniques.into_iter().collect(),
                        software: software.into_iter().collect(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Indicators of the ESET report folders whose name is an ATT&CK group name or alias (`turla`,
/// `winnti_group`, `mustang_panda`...), as (value, profile index, source).
fn eset_indicators(corpus: &Path, profiles: &[Profile]) -> Result<Vec<(String, u32, String)>> {
    let dir = corpus.join("eset-malware-ioc");
    if !dir.is_dir() {
        return Ok(vec![]);
    }
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for (i, p) in profiles.iter().enumerate() {
        if p.id.starts_with('G') {
            for n in std::iter::once(&p.name).chain(p.aliases.iter()) {
                by_name.entry(norm_name(n)).or_insert(i);
            }
        }
    }
    let mut folders: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| MlError::io(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    let ex = Extractor::new(ExtractOptions {
        min_confidence: 0.5,
        ..Default::default()
    });
    let keep = [
        IndicatorType::Domain,
        IndicatorType::Ipv4,
        IndicatorType::Ipv6,
        IndicatorType::Url,
        IndicatorType::Md5,
        IndicatorType::Sha1,
        IndicatorType::Sha256,
        IndicatorType::Email,
    ];
    let mut out = Vec::new();
    for f in folders {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(&g) = by_name.get(&norm_name(&name)) else {
            continue;
        };
        let readme = f.join("README.adoc");
        if !readme.is_file() {
            continue;
        }
        let text = corpus::read(&readme)?;
        let src = format!("ESET malware-ioc/{name}");
        for i in ex.extract_bytes(&text).indicators {
            if keep.contains(&i.kind) {
                out.push((i.value.to_ascii_lowercase(), g as u32, src.clone()));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Builds the attribution model from the corpus.
pub fn train(corpus: &Path) -> Result<Attributor> {
    let attack = Attack::load(corpus)?;
    let mut profiles: Vec<Profile> = attack
        .groups
        .values()
        .map(|g| Profile {
            id: g.id.clone(),
            name: g.name.clone(),
            aliases: g
                .aliases
                .iter()
                .filter(|a| **a != g.name)
                .cloned()
                .collect(),
            techniques: g.techniques.iter().cloned().collect(),
            software: g.software.iter().cloned().collect(),
        })
        .collect();
    add_misp_actors(corpus, &attack, &mut profiles)?;
    let inds = eset_indicators(corpus, &profiles)?;
    let technique_names: BTreeMap<String, String> = attack
        .techniques
        .keys()
        .map(|k| (k.clone(), attack.technique_name(k)))
        .collect();
    let software_names: BTreeMap<String, String> = attack
        .software
        .values()
        .map(|s| (s.id.clone(), s.name.clone()))
        .collect();
    let mut indicators: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
    for (v, p, s) in inds {
        indicators.entry(v).or_default().push((p, s));
    }
    let mut records: Vec<String> = Vec::new();
    for p in &profiles {
        records.push(format!(
            "{}\t{}\t{}\t{}\t{}",
            p.id,
            p.name,
            p.aliases.join(","),
            p.techniques.join(","),
            p.software.join(",")
        ));
    }
    for (v, l) in &indicators {
        for (p, s) in l {
            records.push(format!("{v}\t{p}\t{s}"));
        }
    }
    let header = Header {
        model: MODEL.into(),
        model_version: MODEL_VERSION,
        data_hash: corpus::data_hash(records.iter().map(String::as_str)),
    };
    Ok(Attributor::build(
        header,
        profiles,
        technique_names,
        software_names,
        indicators,
    ))
}

/// Top-k accuracy of attribution.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AttributionMetrics {
    /// Groups evaluated (ATT&CK groups with at least 10 techniques).
    pub groups: usize,
    /// Trials per group (different random halves).
    pub trials_per_group: usize,
    pub top1: f64,
    pub top5: f64,
    /// Mean reciprocal rank.
    pub mrr: f64,
}

/// The protocol of the issue: for every ATT&CK group with at least 10 techniques, give half of its
/// techniques and software (random, seeded) plus a quarter as many techniques it is not known to use, and
/// check where the group ranks.
pub fn evaluate(model: &Attributor, trials: usize) -> AttributionMetrics {
    let mut rng = crate::domain::Rng::new(0xa771_b075);
    let all_t: Vec<&String> = model.technique_names.keys().collect();
    let mut m = AttributionMetrics {
        trials_per_group: trials,
        ..Default::default()
    };
    let (mut n, mut t1, mut t5, mut rr) = (0usize, 0usize, 0usize, 0.0);
    for p in model
        .profiles
        .iter()
        .filter(|p| p.id.starts_with('G') && p.techniques.len() >= 10)
    {
        m.groups += 1;
        for _ in 0..trials {
            let mut items: Vec<(bool, &String)> = p
                .techniques
                .iter()
                .map(|t| (true, t))
                .chain(p.software.iter().map(|s| (false, s)))
                .collect();
            rng.shuffle(&mut items);
            let half = items.len().div_ceil(2);
            let given = &items[..half];
            let mut q = Query::default();
            for (is_t, v) in given {
                if *is_t {
                    q.techniques.push((*v).clone())
                } else {
                    q.software.push((*v).clone())
                }
            }
            let noise = ((half as f64) / 4.0).round() as usize;
            let known: BTreeSet<&str> = p.techniques.iter().map(String::as_str).collect();
            let mut added = 0;
            let mut guard = 0;
            while added < noise && guard < 10_000 {
                guard += 1;
                let t = all_t[(rng.next() % all_t.len() as u64) as usize];
                if !known.contains(t.as_str()) && !q.techniques.contains(t) {
                    q.techniques.push(t.clone());
                    added += 1;
                }
            }
            let r = model.rank(&q, usize::MAX);
            let pos = r
                .groups
                .iter()
                .position(|g| g.id == p.id)
                .map(|x| x + 1)
                .unwrap_or(usize::MAX);
            n += 1;
            if pos == 1 {
                t1 += 1;
            }
            if pos <= 5 {
                t5 += 1;
            }
            if pos != usize::MAX {
                rr += 1.0 / pos as f64;
            }
        }
    }
    let d = n.max(1) as f64;
    m.top1 = crate::extract::round4(t1 as f64 / d);
    m.top5 = crate::extract::round4(t5 as f64 / d);
    m.mrr = crate::extract::round4(rr / d);
    m
}
