//! What the trainers need from the ATT&CK Enterprise bundle: techniques (names, descriptions, procedure
//! examples), groups with aliases, software, and the `uses` graph, with revoked and deprecated objects left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::corpus;
use crate::error::{MlError, Result};

/// A technique or sub-technique.
#[derive(Debug, Clone, Default)]
pub struct Technique {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Procedure examples: descriptions of `uses` relationships that point at this technique.
    pub procedures: Vec<String>,
}

/// A group or piece of software.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub id: String,
    pub name: String,
    pub aliases: Vec<String>,
    /// Technique ids the actor uses (sub-techniques as written).
    pub techniques: BTreeSet<String>,
    /// Software ids (groups only).
    pub software: BTreeSet<String>,
}

/// The parts of the bundle Vigil's models use, keyed by ATT&CK id.
#[derive(Debug, Clone, Default)]
pub struct Attack {
    pub techniques: BTreeMap<String, Technique>,
    pub groups: BTreeMap<String, Actor>,
    pub software: BTreeMap<String, Actor>,
    /// STIX id of the bundle's intrusion sets -> group id (for MISP galaxy links, which reuse the UUIDs).
    pub group_by_uuid: BTreeMap<String, String>,
}

fn attack_id(o: &Value) -> Option<String> {
    o.get("external_references")?
        .as_array()?
        .iter()
        .find(|r| r.get("source_name").and_then(Value::as_str) == Some("mitre-attack"))?
        .get("external_id")?
        .as_str()
        .map(str::to_string)
}

fn live(o: &Value) -> bool {
    !o.get("revoked").and_then(Value::as_bool).unwrap_or(false)
        && !o
            .get("x_mitre_deprecated")
            .and_then(Value::as_bool)
            .unwrap_or(false)
}

/// Strips ATT&CK's markdown links and citations: `[Name](url)` -> `Name`, `(Citation: X)` -> ``.
pub fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find(['[', '(']) {
        out.push_str(&rest[..p]);
        let r = &rest[p..];
        if r.starts_with("(Citation:") {
            match r.find(')') {
                Some(e) => {
                    rest = &r[e + 1..];
                    continue;
                }
                None => break,
            }
        }
        if r.starts_with('[') {
            if let Some(e) = r.find("](") {
                if let Some(c) = r[e..].find(')') {
                    out.push_str(&r[1..e]);
                    rest = &r[e + c + 1..];
                    continue;
                }
            }
        }
        out.push_str(&r[..1]);
        rest = &r[1..];
    }
    out.push_str(rest);
    out
}

/// `<corpus>/mitre-attack/enterprise-attack.json.gz`, else `.json`: the path, None when neither is there.
pub fn bundle_path(corpus: &Path) -> Option<PathBuf> {
    let gz = corpus.join("mitre-attack/enterprise-attack.json.gz");
    let plain = corpus.join("mitre-attack/enterprise-attack.json");
    [gz, plain].into_iter().find(|p| p.is_file())
}

/// The ATT&CK bundle of a corpus, parsed, and the file it came from (so that one read serves every use).
pub fn read_bundle(corpus: &Path) -> Result<(Value, PathBuf)> {
    // Neither there: reading the plain name gives the usual error naming it.
    let p =
        bundle_path(corpus).unwrap_or_else(|| corpus.join("mitre-attack/enterprise-attack.json"));
    Ok((parse_bundle(&p)?, p))
}

/// Parses the bundle file `p` (gzip when its name ends in `.gz`).
pub fn parse_bundle(p: &Path) -> Result<Value> {
    if p.extension().is_some_and(|x| x == "gz") {
        corpus::read_json_gz(p)
    } else {
        corpus::read_json(p)
    }
}

impl Attack {
    /// Reads `<corpus>/mitre-attack/enterprise-attack.json.gz` (or `.json`).
    pub fn load(corpus: &Path) -> Result<Self> {
        let (v, path) = read_bundle(corpus)?;
        Self::from_bundle(&v, &path)
    }

    /// From a parsed bundle; `path` names it in errors.
    pub fn from_bundle(v: &Value, path: &Path) -> Result<Self> {
        let objs = v
            .get("objects")
            .and_then(Value::as_array)
            .ok_or_else(|| MlError::corpus(path, "no `objects` array"))?;
        let mut a = Attack::default();
        let mut by_stix: BTreeMap<&str, (String, &str)> = BTreeMap::new();
        let mut campaign_group: BTreeMap<&str, &str> = BTreeMap::new();
        for o in objs {
            let ty = o.get("type").and_then(Value::as_str).unwrap_or("");
            let sid = o.get("id").and_then(Value::as_str).unwrap_or("");
            if ty == "relationship" || !live(o) {
                continue;
            }
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            match ty {
                "attack-pattern" => {
                    if let Some(id) = attack_id(o) {
                        let description =
                            plain(o.get("description").and_then(Value::as_str).unwrap_or(""));
                        by_stix.insert(sid, (id.clone(), ty));
                        a.techniques.insert(
                            id.clone(),
                            Technique {
                                id,
                                name,
                                description,
                                procedures: vec![],
                            },
                        );
                    }
                }
                "intrusion-set" | "malware" | "tool" => {
                    if let Some(id) = attack_id(o) {
                        let key = if ty == "intrusion-set" {
                            "aliases"
                        } else {
                            "x_mitre_aliases"
                        };
                        let mut aliases: Vec<String> = o
                            .get(key)
                            .and_then(Value::as_array)
                            .map(|x| {
                                x.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_string)
                                    .collect()
                            })
                            .unwrap_or_default();
                        aliases.sort();
                        aliases.dedup();
                        by_stix.insert(sid, (id.clone(), ty));
                        let actor = Actor {
                            id: id.clone(),
                            name,
                            aliases,
                            ..Default::default()
                        };
                        if ty == "intrusion-set" {
                            a.group_by_uuid.insert(
                                sid.trim_start_matches("intrusion-set--").to_string(),
                                id.clone(),
                            );
                            a.groups.insert(id, actor);
                        } else {
                            a.software.insert(id, actor);
                        }
                    }
                }
                "campaign" => {
                    by_stix.insert(sid, (String::new(), ty));
                }
                _ => {}
            }
        }
        for o in objs {
            if o.get("type").and_then(Value::as_str) != Some("relationship") || !live(o) {
                continue;
            }
            if o.get("relationship_type").and_then(Value::as_str) == Some("attributed-to") {
                if let (Some(s), Some(t)) = (
                    o.get("source_ref").and_then(Value::as_str),
                    o.get("target_ref").and_then(Value::as_str),
                ) {
                    campaign_group.insert(s, t);
                }
            }
        }
        for o in objs {
            if o.get("type").and_then(Value::as_str) != Some("relationship") || !live(o) {
                continue;
            }
            if o.get("relationship_type").and_then(Value::as_str) != Some("uses") {
                continue;
            }
            let (Some(src), Some(dst)) = (
                o.get("source_ref").and_then(Value::as_str),
                o.get("target_ref").and_then(Value::as_str),
            ) else {
                continue;
            };
            // A campaign's uses count for the group it is attributed to.
            let src = campaign_group.get(src).copied().unwrap_or(src);
            let (Some((sid, sty)), Some((did, dty))) = (by_stix.get(src), by_stix.get(dst)) else {
                continue;
            };
            if *dty == "attack-pattern" {
                if let Some(d) = o.get("description").and_then(Value::as_str) {
                    if let Some(t) = a.techniques.get_mut(did) {
                        t.procedures.push(plain(d));
                    }
                }
            }
            let actor = match *sty {
                "intrusion-set" => a.groups.get_mut(sid),
                "malware" | "tool" => a.software.get_mut(sid),
                _ => None,
            };
            let Some(actor) = actor else { continue };
            match *dty {
                "attack-pattern" => {
                    actor.techniques.insert(did.clone());
                }
                "malware" | "tool" if *sty == "intrusion-set" => {
                    actor.software.insert(did.clone());
                }
                _ => {}
            }
        }
        for t in a.techniques.values_mut() {
            t.procedures.sort();
            t.procedures.dedup();
        }
        if a.techniques.is_empty() || a.groups.is_empty() {
            return Err(MlError::corpus(
                path,
                "bundle holds no techniques or no groups",
            ));
        }
        Ok(a)
    }

    /// The display name of a technique, with its parent for sub-techniques ("Phishing: Spearphishing Attachment").
    pub fn technique_name(&self, id: &str) -> String {
        let Some(t) = self.techniques.get(id) else {
            return String::new();
        };
        match id.split_once('.') {
            Some((parent, _)) => match self.techniques.get(parent) {
                Some(p) => format!("{}: {}", p.name, t.name),
                None => t.name.clone(),
            },
            None => t.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text() {
        assert_eq!(
            plain("[APT1](https://attack.mitre.org/groups/G0006) used X.(Citation: Mandiant APT1)"),
            "APT1 used X."
        );
        assert_eq!(plain("a (b) [c] d"), "a (b) [c] d");
        assert_eq!(plain("(Citation: unterminated"), "(Citation: unterminated");
    }
}
