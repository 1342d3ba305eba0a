//! Matching an inventory against the advisory index: one [`Finding`] per (component, vulnerability) with the
//! same vulnerability from several sources merged, the evidence of each source, fixed versions, a confidence
//! that says how the component was identified, and the explained priority; components whose version cannot be
//! evaluated are listed as unknown, never silently dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;

use crate::advisory::Target;
use crate::index::{normalise_name, Eval, Index};
use crate::inventory::Component;
use crate::priority::{decide, AssetContext, Criticality, Decision, Priority};
use crate::purl::{ecosystem_key, normalise_package_name};

/// How a component was tied to an advisory.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Vendor/product names only, and the source gives no affected versions (KEV).
    Low,
    /// CPE vendor:product, or vendor/product names with the version inside a stated range.
    Medium,
    /// Package URL (ecosystem + package name) with the version inside the range.
    High,
}

/// One source's reason for a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The advisory id in that source.
    pub advisory: String,
    /// Source kind (`osv`, `rustsec`, `cve5`, `csaf`, `kev`).
    pub source: &'static str,
    /// File/record the advisory was read from.
    pub location: String,
    /// `purl`, `cpe` or `vendor/product`.
    pub matched_by: &'static str,
    /// The identifier that matched (`pkg:pypi/django`, `cpe vendor:product apache:tomcat`, ...).
    pub identifier: String,
    /// Which range or listing made the version affected.
    pub range: String,
    /// Confidence of this piece of evidence.
    pub confidence: Confidence,
    /// Plain note on the confidence (CPE and name matches say they are weaker than purl matches).
    pub note: &'static str,
}

/// The component part of a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentRef {
    /// Name.
    pub name: String,
    /// Version (None when unknown).
    pub version: Option<String>,
    /// Canonical purl, if any.
    pub purl: Option<String>,
    /// CPE, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpe: Option<String>,
    /// Host, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Where it was read.
    pub location: String,
}

impl ComponentRef {
    fn of(c: &Component) -> ComponentRef {
        ComponentRef {
            name: c.name.clone(),
            version: c.effective_version(),
            purl: c.purl.as_ref().map(|p| p.canonical()),
            cpe: c.cpe.as_ref().map(|p| p.to_fs()),
            host: c.host.clone(),
            location: c.location.clone(),
        }
    }
}

/// One (component, vulnerability) finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The component (shared by all findings of one component).
    #[serde(serialize_with = "serialize_arc")]
    pub component: Arc<ComponentRef>,
    /// Canonical vulnerability id (the CVE when known).
    pub vulnerability: String,
    /// Every other id of the vulnerability (GHSA, PYSEC, GO, RUSTSEC, CSAF tracking ids, ...).
    #[serde(serialize_with = "serialize_arc")]
    pub aliases: Arc<Vec<String>>,
    /// Versions that fix it.
    pub fixed: Vec<String>,
    /// One entry per source that matched.
    pub evidence: Vec<Evidence>,
    /// Best confidence among the evidence.
    pub confidence: Confidence,
    /// SSVC outcome: `track`, `track*`, `attend` or `act`.
    pub priority: Decision,
    /// Remediation deadline (RFC 3339 date), null for "fix on system upgrade".
    pub deadline: Option<String>,
    /// The BOD 26-04 row that set the deadline.
    pub deadline_rule: String,
    /// The full priority computation, shared by the findings of one vulnerability and asset context;
    /// serialised as `reasons` (why this priority: inputs, derivations, assumptions, tie-breakers).
    #[serde(rename = "reasons", serialize_with = "serialize_reasons")]
    pub detail: Arc<Priority>,
    /// Index of the component in the scanned slice.
    #[serde(skip)]
    pub component_index: usize,
    /// The vulnerability's group number in the index.
    #[serde(skip)]
    pub(crate) group: u32,
}

impl Finding {
    /// Why this priority: inputs, derivations, assumptions, tie-breakers.
    pub fn reasons(&self) -> &[String] {
        &self.detail.reasons
    }
}

fn serialize_arc<S: serde::Serializer, T: Serialize>(v: &Arc<T>, s: S) -> Result<S::Ok, S::Error> {
    (**v).serialize(s)
}

fn serialize_reasons<S: serde::Serializer>(p: &Arc<Priority>, s: S) -> Result<S::Ok, S::Error> {
    p.reasons.serialize(s)
}

/// A component whose version could not be evaluated against an advisory that names its package/product.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unknown {
    /// The component.
    pub component: ComponentRef,
    /// The vulnerability whose range could not be evaluated.
    pub vulnerability: String,
    /// Why (unparseable version under the scheme, no version, uninterpretable range).
    pub reason: String,
}

/// The result of a scan: the JSON contract of `vigil scan SBOM --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanResult {
    /// Number of components scanned.
    pub components: usize,
    /// Findings, most urgent first.
    pub findings: Vec<Finding>,
    /// Components that could not be evaluated.
    pub unknown: Vec<Unknown>,
    /// The asset assumption applied to components whose inventory does not state exposure or criticality.
    pub assumptions: String,
}

/// Scan parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanOptions {
    /// The date deadlines count from.
    pub today: NaiveDate,
    /// Exposure/criticality for components that do not state them (standalone scan: not internet-facing,
    /// medium criticality).
    pub default_asset: AssetContext,
}

impl Default for ScanOptions {
    /// Today (UTC) and the standalone-scan assumption: not internet-facing, medium criticality.
    fn default() -> Self {
        ScanOptions {
            today: chrono::Utc::now().date_naive(),
            default_asset: AssetContext {
                internet_facing: Some(false),
                criticality: Some(Criticality::Medium),
            },
        }
    }
}

struct Acc {
    evidence: Vec<Evidence>,
    fixed: BTreeSet<String>,
    unknown: Option<String>,
}

/// Matches every component against the index.
pub fn scan(index: &Index, components: &[Component], opts: &ScanOptions) -> ScanResult {
    let mut findings = Vec::new();
    let mut unknown = Vec::new();
    let mut priorities: HashMap<(u32, AssetContext, bool, bool), Arc<Priority>> = HashMap::new();
    let mut aliases_of: HashMap<u32, Arc<Vec<String>>> = HashMap::new();
    for (ci, c) in components.iter().enumerate() {
        let version = c.effective_version();
        // (entry, matched_by, index into `idents`, base confidence)
        let mut cands: Vec<(usize, &'static str, usize, Confidence)> = Vec::new();
        let mut idents: Vec<String> = Vec::new();
        if let Some(p) = &c.purl {
            if let Some(eco) = p.ecosystem() {
                let name = normalise_package_name(eco, &p.osv_name());
                if let Some(es) = index.by_package.get(&(ecosystem_key(eco), name)) {
                    idents.push(p.package());
                    cands.extend(
                        es.iter()
                            .map(|e| (*e, "purl", idents.len() - 1, Confidence::High)),
                    );
                }
            }
        }
        if let Some(cpe) = &c.cpe {
            if let (Some(v), Some(pr)) = (cpe.vendor_str(), cpe.product_str()) {
                for key in [(v.clone(), pr.clone()), ("*".to_string(), pr.clone())] {
                    let Some(es) = index.by_cpe.get(&key) else {
                        continue;
                    };
                    idents.push(format!("cpe vendor:product {v}:{pr}"));
                    for e in es {
                        let en = &index.entries[*e];
                        if let Target::Cpe(pat) = &index.advisories[en.adv].affected[en.aff].target
                        {
                            if pat.matches_ignoring_version(cpe) {
                                cands.push((*e, "cpe", idents.len() - 1, Confidence::Medium));
                            }
                        }
                    }
                }
            }
        }
        if c.cpe.is_none() {
            // Inventories without CPEs (the CSV) still meet CPE-only advisories: vendor and product are
            // turned into CPE vendor/product form (`Apache Tomcat` -> `apache:tomcat`).
            if let Some(v) = &c.vendor {
                let form = |s: &str| normalise_name(s).replace(' ', "_");
                let (v, pr) = (form(v), form(&c.name));
                for key in [(v.clone(), pr.clone()), ("*".to_string(), pr.clone())] {
                    let Some(es) = index.by_cpe.get(&key) else {
                        continue;
                    };
                    idents.push(format!(
                        "cpe vendor:product {v}:{pr} (formed from the inventory's vendor and product)"
                    ));
                    cands.extend(
                        es.iter()
                            .map(|e| (*e, "cpe", idents.len() - 1, Confidence::Medium)),
                    );
                }
            }
        }
        let mut vp_keys: Vec<(String, String)> = Vec::new();
        if let Some(v) = &c.vendor {
            vp_keys.push((normalise_name(v), normalise_name(&c.name)));
        }
        if let Some(cpe) = &c.cpe {
            if let (Some(v), Some(pr)) = (cpe.vendor_str(), cpe.product_str()) {
                vp_keys.push((normalise_name(&v), normalise_name(&pr)));
            }
        }
        vp_keys.sort();
        vp_keys.dedup();
        for k in &vp_keys {
            if let Some(es) = index.by_product.get(k) {
                idents.push(format!("vendor/product {} / {}", k.0, k.1));
                cands.extend(
                    es.iter()
                        .map(|e| (*e, "vendor/product", idents.len() - 1, Confidence::Medium)),
                );
            }
        }
        let mut per_vuln: BTreeMap<u32, Acc> = BTreeMap::new();
        let mut vcache = Vec::new();
        // The same entry reached twice by the same route (an ANY-vendor CPE key and the exact key) counts once.
        cands.sort_unstable_by_key(|c| (c.0, c.1));
        cands.dedup_by_key(|c| (c.0, c.1));
        for (e, by, ident, base) in cands {
            let entry = &index.entries[e];
            let adv = &index.advisories[entry.adv];
            let af = &adv.affected[entry.aff];
            let acc = per_vuln
                .entry(index.adv_group[entry.adv])
                .or_insert_with(|| Acc {
                    evidence: Vec::new(),
                    fixed: BTreeSet::new(),
                    unknown: None,
                });
            match index.evaluate(entry, version.as_deref(), &mut vcache) {
                Eval::Affected(range) => {
                    let (conf, note) = match (by, af.any_version) {
                        ("purl", _) => (base, "package URL match (ecosystem and package name)"),
                        ("cpe", false) => (
                            Confidence::Medium,
                            "CPE vendor:product match: lower confidence than a package URL match",
                        ),
                        (_, true) => (
                            Confidence::Low,
                            "vendor/product name match only and the source gives no affected versions: low confidence; check the installed version",
                        ),
                        _ => (
                            Confidence::Medium,
                            "vendor/product name match with the version inside a stated range: lower confidence than a package URL match",
                        ),
                    };
                    acc.fixed.extend(af.fixed.iter().cloned());
                    acc.evidence.push(Evidence {
                        advisory: adv.id.clone(),
                        source: adv.source.as_str(),
                        location: adv.location.clone(),
                        matched_by: by,
                        identifier: idents[ident].clone(),
                        range,
                        confidence: conf,
                        note,
                    });
                }
                Eval::NotAffected => {}
                Eval::Unknown(reason) => {
                    if acc.unknown.is_none() {
                        acc.unknown =
                            Some(format!("{} ({}): {reason}", adv.id, adv.source.as_str()));
                    }
                }
            }
        }
        let asset = AssetContext {
            internet_facing: c.internet_facing.or(opts.default_asset.internet_facing),
            criticality: c.criticality.or(opts.default_asset.criticality),
        };
        if per_vuln.is_empty() {
            continue;
        }
        let cref = Arc::new(ComponentRef::of(c));
        for (group, acc) in per_vuln {
            let canon = index.group_name[group as usize].as_str();
            if acc.evidence.is_empty() {
                if let Some(reason) = acc.unknown {
                    unknown.push(Unknown {
                        component: (*cref).clone(),
                        vulnerability: canon.to_string(),
                        reason,
                    });
                }
                continue;
            }
            // Facts and priority depend only on the vulnerability and the asset context.
            let key = (
                group,
                asset,
                c.internet_facing.is_none(),
                c.criticality.is_none(),
            );
            let pr = priorities
                .entry(key)
                .or_insert_with(|| {
                    Arc::new(explain_assumptions(
                        decide(&index.group_assessment[group as usize], &asset, opts.today),
                        c,
                        opts,
                    ))
                })
                .clone();
            let confidence = acc
                .evidence
                .iter()
                .map(|e| e.confidence)
                .max()
                .unwrap_or(Confidence::Low);
            let aliases = aliases_of
                .entry(group)
                .or_insert_with(|| {
                    Arc::new(
                        index
                            .ids_of(canon)
                            .into_iter()
                            .filter(|i| i != canon)
                            .collect(),
                    )
                })
                .clone();
            let mut fixed: Vec<String> = acc.fixed.into_iter().collect();
            fixed.sort();
            findings.push(Finding {
                component: cref.clone(),
                vulnerability: canon.to_string(),
                aliases,
                fixed,
                evidence: acc.evidence,
                confidence,
                priority: pr.decision,
                deadline: pr.deadline.clone(),
                deadline_rule: pr.deadline_rule.clone(),
                component_index: ci,
                group,
                detail: pr,
            });
        }
    }
    // Most urgent first (SSVC outcome, BOD timeline, KEV, actors, EPSS, CVSS), then vulnerability id and
    // inventory order; one integer key per finding keeps sorting cheap for large inventories.
    findings.sort_by_cached_key(|f| {
        let p = &f.detail;
        let score = |x: Option<f64>| std::cmp::Reverse((x.unwrap_or(-1.0) * 1e6) as i64);
        (
            std::cmp::Reverse(p.decision),
            std::cmp::Reverse(p.timeline),
            std::cmp::Reverse(p.in_kev),
            std::cmp::Reverse(!p.actors.is_empty()),
            score(p.epss),
            score(p.cvss_score),
            index.group_rank[f.group as usize],
            f.component_index,
        )
    });
    let assumptions = match (opts.default_asset.internet_facing, opts.default_asset.criticality) {
        (Some(f), Some(c)) => format!(
            "components whose inventory does not state exposure or criticality are assumed {} and of {} mission criticality",
            if f { "internet-facing" } else { "not internet-facing" },
            serde_json::to_value(c).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
        ),
        _ => "no default asset assumption; unknown exposure is treated as not internet-facing and unknown criticality as medium, as each finding's reasons say".to_string(),
    };
    ScanResult {
        components: components.len(),
        findings,
        unknown,
        assumptions,
    }
}

/// Rewrites the exposure/criticality reasons when the standalone-scan defaults stood in for missing inventory
/// facts, so the output says which values were assumed.
fn explain_assumptions(mut pr: Priority, c: &Component, opts: &ScanOptions) -> Priority {
    let exposed = if pr.exposed { "yes" } else { "no" };
    let mission = serde_json::to_value(pr.mission)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    for r in pr.reasons.iter_mut() {
        if c.internet_facing.is_none()
            && opts.default_asset.internet_facing.is_some()
            && r.starts_with("publicly exposed")
        {
            *r = format!("publicly exposed: {exposed} (assumed for a standalone scan)");
        }
        if c.criticality.is_none()
            && opts.default_asset.criticality.is_some()
            && r.starts_with("mission criticality")
        {
            *r = format!("mission criticality: {mission} (assumed for a standalone scan)");
        }
    }
    pr
}
