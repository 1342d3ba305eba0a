//! The in-memory advisory index: advisories grouped by ecosystem + normalised package name, by CPE
//! vendor:product and by normalised vendor/product (KEV, CVE, CSAF), with ranges compiled once, alias groups
//! (one vulnerability known under several ids) and the facts used for prioritisation (KEV, SSVC, CVSS, EPSS).
//!
//! Build it with [`IndexBuilder`]; the built [`Index`] is immutable and `Send + Sync`.

use std::collections::{BTreeSet, HashMap};

use crate::advisory::{Advisory, AffectedRange, EpssScore, Feed, SourceKind, Target};
use crate::cpe::CpeValue;
use crate::priority::VulnFacts;
use crate::purl::{ecosystem_key, normalise_package_name};
use crate::range::CompiledRange;
use crate::version::{Scheme, Version};
use crate::Diagnostic;

/// Normalises a vendor or product name for loose matching: lower case, runs of non-alphanumerics become one
/// space, corporate suffixes dropped (`Microsoft Corporation` = `microsoft`, `internet_explorer` =
/// `Internet Explorer`).
pub fn normalise_name(s: &str) -> String {
    let lower = s.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .filter(|w| {
            !matches!(
                *w,
                "inc"
                    | "corp"
                    | "corporation"
                    | "ltd"
                    | "llc"
                    | "gmbh"
                    | "co"
                    | "ag"
                    | "limited"
                    | "the"
            )
        })
        .collect();
    words.join(" ")
}

/// A compiled range, or why it could not be compiled.
#[derive(Debug, Clone)]
pub(crate) enum Compiled {
    Osv(CompiledRange, String),
    Other(AffectedRange),
    Broken(String),
}

/// One affected entry of one advisory, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub adv: usize,
    pub aff: usize,
    pub ranges: Vec<Compiled>,
    pub unaffected: Vec<Compiled>,
    /// The explicitly listed versions, parsed once (PyPI OSV records list hundreds).
    pub versions: Vec<Version>,
}

/// The immutable advisory index.
#[derive(Debug, Default)]
pub struct Index {
    pub(crate) advisories: Vec<Advisory>,
    pub(crate) entries: Vec<Entry>,
    pub(crate) by_package: HashMap<(String, String), Vec<usize>>,
    pub(crate) by_cpe: HashMap<(String, String), Vec<usize>>,
    pub(crate) by_product: HashMap<(String, String), Vec<usize>>,
    /// id (any alias) -> canonical vulnerability id.
    pub(crate) canonical: HashMap<String, String>,
    /// canonical id -> every id of the group, sorted.
    pub(crate) group_ids: HashMap<String, BTreeSet<String>>,
    /// canonical id -> advisories in the group.
    pub(crate) group_advisories: HashMap<String, Vec<usize>>,
    /// Per advisory, the number of its vulnerability group (so matching compares integers, not ids).
    pub(crate) adv_group: Vec<u32>,
    /// Per group number, the canonical id.
    pub(crate) group_name: Vec<String>,
    /// Per group number, the merged prioritisation facts (computed once at build).
    pub(crate) group_facts: Vec<VulnFacts>,
    /// Per group number, the position of its canonical id in sorted order (for cheap, stable output order).
    pub(crate) group_rank: Vec<u32>,
    /// Per group number, the asset-independent SSVC assessment (computed once at build).
    pub(crate) group_assessment: Vec<crate::priority::Assessment>,
    pub(crate) epss: HashMap<String, (f64, f64)>,
    pub(crate) actors: HashMap<String, Vec<String>>,
    /// Problems met while building (uncompilable ranges, over-broad CPEs, withdrawn advisories skipped).
    pub diagnostics: Vec<Diagnostic>,
}

/// Collects advisories, EPSS scores and actor links, then builds an [`Index`].
#[derive(Debug, Default)]
pub struct IndexBuilder {
    advisories: Vec<Advisory>,
    epss: HashMap<String, (f64, f64)>,
    actors: HashMap<String, Vec<String>>,
    diagnostics: Vec<Diagnostic>,
}

impl IndexBuilder {
    /// An empty builder.
    pub fn new() -> IndexBuilder {
        IndexBuilder::default()
    }

    /// Adds one advisory.
    pub fn add(&mut self, a: Advisory) -> &mut Self {
        self.advisories.push(a);
        self
    }

    /// Adds everything a [`Feed`] holds (advisories, EPSS scores) and keeps its errors as diagnostics.
    pub fn add_batch(&mut self, feed: Feed) -> &mut Self {
        self.advisories.extend(feed.advisories);
        self.add_epss(&feed.epss);
        self.diagnostics.extend(feed.errors);
        self
    }

    /// Adds EPSS scores (a later score for the same CVE replaces an earlier one).
    pub fn add_epss(&mut self, scores: &[EpssScore]) -> &mut Self {
        for s in scores {
            self.epss
                .insert(s.cve.to_ascii_uppercase(), (s.epss, s.percentile));
        }
        self
    }

    /// Records that a threat actor or malware (by name) is known to exploit a vulnerability (CVE or other id),
    /// e.g. from ATT&CK/MISP relationships in the knowledge base.
    pub fn add_actor(&mut self, vuln_id: &str, actor: &str) -> &mut Self {
        let v = self.actors.entry(vuln_id.to_string()).or_default();
        if !v.iter().any(|a| a == actor) {
            v.push(actor.to_string());
        }
        self
    }

    /// Number of advisories added so far.
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    /// True when nothing has been added.
    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// Builds the index: groups aliases, compiles every range once under its scheme, and fills the lookup
    /// tables. Withdrawn and informational (RustSec `unmaintained`, ...) advisories are kept out of matching.
    pub fn build(self) -> Index {
        let mut ix = Index {
            epss: self.epss,
            actors: self.actors,
            diagnostics: self.diagnostics,
            ..Default::default()
        };
        let advisories: Vec<Advisory> = self
            .advisories
            .into_iter()
            .filter(|a| {
                a.withdrawn.is_none() && a.informational.as_deref().is_none_or(|i| i == "unsound")
            })
            .collect();
        // Alias groups with union-find over all ids of every advisory.
        let mut uf = UnionFind::default();
        // A CSAF document's tracking id names the document, not one vulnerability: grouping by it would merge
        // every CVE of a multi-vulnerability advisory into one.
        for a in &advisories {
            let first = uf.id(&a.id);
            for al in &a.aliases {
                if a.document.as_deref() == Some(al.as_str()) {
                    continue;
                }
                let k = uf.id(al);
                uf.union(first, k);
            }
        }
        let mut members: HashMap<usize, BTreeSet<String>> = HashMap::new();
        for name in uf.names.clone() {
            let k = uf.id(&name);
            let r = uf.find(k);
            members.entry(r).or_default().insert(name);
        }
        for ids in members.into_values() {
            let canon = ids
                .iter()
                .find(|i| crate::advisory::is_cve(i))
                .or_else(|| ids.iter().next())
                .cloned()
                .unwrap_or_default();
            for i in &ids {
                ix.canonical.insert(i.clone(), canon.clone());
            }
            ix.group_ids.insert(canon, ids);
        }
        // The document ids are still shown among a vulnerability's other ids.
        for a in &advisories {
            if let (Some(d), Some(c)) = (&a.document, ix.canonical.get(&a.id)) {
                if let Some(g) = ix.group_ids.get_mut(c) {
                    g.insert(d.clone());
                }
            }
        }
        let mut group_numbers: HashMap<String, u32> = HashMap::new();
        for (ai, a) in advisories.iter().enumerate() {
            let canon = ix
                .canonical
                .get(&a.id)
                .cloned()
                .unwrap_or_else(|| a.id.clone());
            let next = ix.group_name.len() as u32;
            let g = *group_numbers.entry(canon.clone()).or_insert(next);
            if g == next {
                ix.group_name.push(canon.clone());
            }
            ix.adv_group.push(g);
            ix.group_advisories.entry(canon).or_default().push(ai);
            for (fi, af) in a.affected.iter().enumerate() {
                let compile = |r: &AffectedRange| -> Compiled {
                    match (r, af.scheme) {
                        (AffectedRange::Osv(o), Some(s)) => match o.compile(s) {
                            Ok(c) => Compiled::Osv(c, format!("in range {}", o.describe())),
                            Err(e) => Compiled::Broken(format!("{}: {e}", o.describe())),
                        },
                        (AffectedRange::Osv(o), None) => Compiled::Broken(format!(
                            "{}: no version ordering known for this ecosystem",
                            o.describe()
                        )),
                        (AffectedRange::Unparsed(t), _) => {
                            Compiled::Broken(format!("uninterpretable range `{t}`"))
                        }
                        (other, _) => Compiled::Other(other.clone()),
                    }
                };
                let ranges: Vec<Compiled> = af.ranges.iter().map(compile).collect();
                let unaffected: Vec<Compiled> = af.unaffected.iter().map(compile).collect();
                for r in &ranges {
                    if let Compiled::Broken(m) = r {
                        if matches!(a.source, SourceKind::Osv | SourceKind::Rustsec) {
                            ix.diagnostics.push(Diagnostic {
                                location: a.location.clone(),
                                message: m.clone(),
                            });
                        }
                    }
                }
                let entry = ix.entries.len();
                let scheme = af.scheme.unwrap_or(Scheme::Generic);
                let mut versions: Vec<Version> = af
                    .versions
                    .iter()
                    .filter_map(|v| scheme.parse(v).ok())
                    .collect();
                // Sorted for binary search: PyPI records list hundreds of versions.
                versions.sort();
                ix.entries.push(Entry {
                    adv: ai,
                    aff: fi,
                    ranges,
                    unaffected,
                    versions,
                });
                match &af.target {
                    Target::Package { ecosystem, name } => {
                        let k = (
                            ecosystem_key(ecosystem),
                            normalise_package_name(ecosystem, name),
                        );
                        ix.by_package.entry(k).or_default().push(entry);
                    }
                    Target::Cpe(c) => {
                        let product = match &c.product {
                            CpeValue::Value(_) => c.product_str().unwrap_or_default(),
                            _ => {
                                // A CPE with ANY product would match every product of its vendor (or everything).
                                ix.diagnostics.push(Diagnostic {
                                    location: a.location.clone(),
                                    message: format!(
                                        "CPE `{c}` names no product; not indexed (too broad)"
                                    ),
                                });
                                continue;
                            }
                        };
                        let vendor = c.vendor_str().unwrap_or_else(|| "*".into());
                        ix.by_cpe
                            .entry((vendor.clone(), product.clone()))
                            .or_default()
                            .push(entry);
                        ix.by_product
                            .entry((normalise_name(&vendor), normalise_name(&product)))
                            .or_default()
                            .push(entry);
                    }
                    Target::Product { vendor, product } => {
                        ix.by_product
                            .entry((normalise_name(vendor), normalise_name(product)))
                            .or_default()
                            .push(entry);
                    }
                }
            }
        }
        ix.advisories = advisories;
        ix.group_facts = (0..ix.group_name.len())
            .map(|g| ix.compute_facts(&ix.group_name[g]))
            .collect();
        let mut order: Vec<u32> = (0..ix.group_name.len() as u32).collect();
        order.sort_by(|a, b| ix.group_name[*a as usize].cmp(&ix.group_name[*b as usize]));
        ix.group_rank = vec![0; order.len()];
        for (rank, g) in order.into_iter().enumerate() {
            ix.group_rank[g as usize] = rank as u32;
        }
        ix.group_assessment = ix.group_facts.iter().map(crate::priority::assess).collect();
        ix
    }
}

#[derive(Default)]
struct UnionFind {
    ids: HashMap<String, usize>,
    names: Vec<String>,
    parent: Vec<usize>,
}

impl UnionFind {
    fn id(&mut self, s: &str) -> usize {
        if let Some(k) = self.ids.get(s) {
            return *k;
        }
        let k = self.parent.len();
        self.parent.push(k);
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), k);
        k
    }
    fn find(&mut self, mut k: usize) -> usize {
        while self.parent[k] != k {
            self.parent[k] = self.parent[self.parent[k]];
            k = self.parent[k];
        }
        k
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[rb] = ra;
        }
    }
}

/// Result of evaluating one version against one affected entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Eval {
    Affected(String),
    NotAffected,
    Unknown(String),
}

impl Index {
    /// Number of advisories indexed.
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    /// True when no advisory is indexed.
    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// The indexed advisories.
    pub fn advisories(&self) -> &[Advisory] {
        &self.advisories
    }

    /// The canonical vulnerability id for any id or alias (a CVE when the group has one).
    pub fn canonical_id<'a>(&'a self, id: &'a str) -> &'a str {
        self.canonical.get(id).map(String::as_str).unwrap_or(id)
    }

    /// Every id known for the vulnerability (including the canonical one).
    pub fn ids_of(&self, canonical: &str) -> Vec<String> {
        self.group_ids
            .get(canonical)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_else(|| vec![canonical.to_string()])
    }

    /// The advisories (all sources) of a vulnerability.
    pub fn advisories_of(&self, canonical: &str) -> Vec<&Advisory> {
        self.group_advisories
            .get(canonical)
            .map(|v| v.iter().map(|i| &self.advisories[*i]).collect())
            .unwrap_or_default()
    }

    /// The prioritisation facts for a vulnerability, merged over its sources: KEV membership and ransomware use,
    /// SSVC points (vulnrichment), CVSS vectors, EPSS (by any CVE id of the group), public exploit evidence and
    /// known actors.
    pub fn facts(&self, canonical: &str) -> VulnFacts {
        match self.group_advisories.get(canonical).and_then(|v| v.first()) {
            Some(a) => self.group_facts[self.adv_group[*a] as usize].clone(),
            None => self.compute_facts(canonical),
        }
    }

    fn compute_facts(&self, canonical: &str) -> VulnFacts {
        let mut f = VulnFacts::default();
        for a in self.advisories_of(canonical) {
            if let Some(k) = &a.kev {
                f.in_kev = true;
                f.ransomware |= k.ransomware;
            }
            if let Some(s) = &a.ssvc {
                if f.ssvc.is_none() {
                    f.ssvc = Some(s.clone());
                }
            }
            for c in &a.cvss {
                if !f.cvss.iter().any(|x| x.vector == c.vector) {
                    f.cvss.push(c.clone());
                }
            }
            if a.references.iter().any(|r| {
                r.kind
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case("exploit"))
            }) || a
                .threats
                .iter()
                .any(|(c, d)| c == "exploit_status" && d.to_ascii_lowercase().contains("exploit"))
            {
                f.public_exploit = true;
            }
        }
        let single = BTreeSet::from([canonical.to_string()]);
        for id in self.group_ids.get(canonical).unwrap_or(&single) {
            if f.epss.is_none() {
                f.epss = self
                    .epss
                    .get(id.as_str())
                    .or_else(|| self.epss.get(&id.to_ascii_uppercase()))
                    .copied();
            }
            if let Some(ac) = self.actors.get(id.as_str()) {
                for x in ac {
                    if !f.actors.contains(x) {
                        f.actors.push(x.clone());
                    }
                }
            }
        }
        f
    }

    /// Evaluates a component version against one entry; `cache` keeps the component version parsed per
    /// scheme across the entries of one component.
    pub(crate) fn evaluate(
        &self,
        entry: &Entry,
        version: Option<&str>,
        cache: &mut Vec<(Scheme, Result<Version, crate::version::VersionError>)>,
    ) -> Eval {
        let af = &self.advisories[entry.adv].affected[entry.aff];
        if af.any_version {
            return Eval::Affected("all versions (the source names no affected versions)".into());
        }
        let Some(v) = version else {
            return Eval::Unknown("the component has no version".into());
        };
        let scheme = af.scheme.unwrap_or(Scheme::Generic);
        let slot = match cache.iter().position(|(s, _)| *s == scheme) {
            Some(k) => k,
            None => {
                cache.push((scheme, scheme.parse(v)));
                cache.len() - 1
            }
        };
        let pv = match &cache[slot].1 {
            Ok(p) => p,
            Err(e) => {
                // Unparseable under the scheme: only a literal listing can still say "affected".
                if af.versions.iter().any(|x| x == v) {
                    return Eval::Affected(format!("version {v} is listed as affected"));
                }
                if af.ranges.is_empty() {
                    return Eval::NotAffected;
                }
                return Eval::Unknown(e.to_string());
            }
        };
        if entry.versions.binary_search(pv).is_ok() {
            return Eval::Affected(format!("version {v} is listed as affected"));
        }
        for u in &entry.unaffected {
            if let Ok(true) = eval_compiled(u, pv) {
                return Eval::NotAffected;
            }
        }
        let mut unknown = None;
        for r in &entry.ranges {
            match eval_compiled(r, pv) {
                Ok(true) => return Eval::Affected(describe(r)),
                Ok(false) => {}
                Err(m) => unknown = Some(m),
            }
        }
        match unknown {
            Some(m) => Eval::Unknown(m),
            None => Eval::NotAffected,
        }
    }
}

fn describe(c: &Compiled) -> String {
    match c {
        Compiled::Osv(_, d) => d.clone(),
        Compiled::Other(r) => format!("in range {}", r.describe()),
        Compiled::Broken(m) => m.clone(),
    }
}

fn eval_compiled(c: &Compiled, v: &Version) -> Result<bool, String> {
    match c {
        Compiled::Osv(r, _) => Ok(r.contains(v)),
        Compiled::Broken(m) => Err(m.clone()),
        Compiled::Other(AffectedRange::Vers(vr)) => {
            let scheme = vr.scheme.unwrap_or(v.scheme());
            let v2 = if scheme == v.scheme() {
                v.clone()
            } else {
                scheme.parse(v.as_str()).map_err(|e| e.to_string())?
            };
            vr.contains_version(&v2).map_err(|e| format!("{vr}: {e}"))
        }
        Compiled::Other(AffectedRange::Cargo {
            patched,
            unaffected,
        }) => {
            for r in patched.iter().chain(unaffected) {
                if r.matches(v).map_err(|e| e.to_string())? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Compiled::Other(AffectedRange::Unparsed(t)) => Err(format!("uninterpretable range `{t}`")),
        Compiled::Other(AffectedRange::Osv(_)) => Err("range not compiled".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise() {
        assert_eq!(normalise_name("Microsoft Corporation"), "microsoft");
        assert_eq!(
            normalise_name("internet_explorer"),
            normalise_name("Internet Explorer")
        );
        assert_eq!(normalise_name("Fortinet, Inc."), "fortinet");
    }
}
