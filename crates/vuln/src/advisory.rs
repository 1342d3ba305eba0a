//! Advisory readers: CISA KEV (JSON, CSV), EPSS CSV, CVE JSON 5 records (with CISA's ADP vulnrichment
//! container), OSV (JSON, YAML), RustSec (TOML front matter in Markdown) and CSAF 2.0, all producing one
//! normalised [`Advisory`] model; and the STIX `vulnerability` objects Vigil stores for them.
//!
//! Every reader isolates failures per record: a malformed record yields a [`Diagnostic`] naming the file and
//! the record, and the other records are still returned.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use vigil_model::{ids::vigil_id, Tlp};

use crate::cpe::Cpe;
use crate::priority::{Exploitation, TechnicalImpact};
use crate::purl::Purl;
use crate::range::{vers_from_native, CargoReq, Event, OsvRange, RangeKind, VersRange};
use crate::version::Scheme;
use crate::Diagnostic;

/// Which kind of source an advisory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// An OSV record (JSON or YAML).
    Osv,
    /// A RustSec advisory in its native format.
    Rustsec,
    /// A CVE JSON 5 record.
    Cve5,
    /// A CSAF 2.0 document (one advisory per vulnerability in it).
    Csaf,
    /// A CISA KEV catalogue entry.
    Kev,
}

impl SourceKind {
    /// Lower-case name (`osv`, `rustsec`, `cve5`, `csaf`, `kev`).
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Osv => "osv",
            SourceKind::Rustsec => "rustsec",
            SourceKind::Cve5 => "cve5",
            SourceKind::Csaf => "csaf",
            SourceKind::Kev => "kev",
        }
    }
}

/// What an affected entry names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Target {
    /// A package in an ecosystem (OSV ecosystem name, package name as the source writes it).
    Package {
        /// OSV ecosystem (`PyPI`, `Go`, `crates.io`, `Debian:12`, ...).
        ecosystem: String,
        /// Package name.
        name: String,
    },
    /// A CPE name (pattern).
    Cpe(Box<Cpe>),
    /// A vendor and product as free text (KEV, CVE `vendor`/`product`, CSAF branches).
    Product {
        /// Vendor as written.
        vendor: String,
        /// Product as written.
        product: String,
    },
}

/// A version constraint of an affected entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum AffectedRange {
    /// An OSV range (also used for CVE 5 `version`/`lessThan` spans).
    Osv(OsvRange),
    /// A `vers:` range (CSAF `product_version_range`).
    Vers(VersRange),
    /// RustSec: affected unless one of `patched` or `unaffected` matches.
    Cargo {
        /// Requirements met by patched versions.
        patched: Vec<CargoReq>,
        /// Requirements met by versions never affected.
        unaffected: Vec<CargoReq>,
    },
    /// Version text the source gives that Vigil cannot interpret (matching reports such components as
    /// unknown, never as not affected).
    Unparsed(String),
}

impl AffectedRange {
    /// Human description used as evidence.
    pub fn describe(&self) -> String {
        match self {
            AffectedRange::Osv(r) => r.describe(),
            AffectedRange::Vers(v) => v.to_string(),
            AffectedRange::Cargo {
                patched,
                unaffected,
            } => {
                let p: Vec<&str> = patched.iter().map(|r| r.text.as_str()).collect();
                let u: Vec<&str> = unaffected.iter().map(|r| r.text.as_str()).collect();
                format!(
                    "RustSec patched [{}] unaffected [{}]",
                    p.join("; "),
                    u.join("; ")
                )
            }
            AffectedRange::Unparsed(t) => format!("uninterpretable range `{t}`"),
        }
    }
}

/// One affected product/package of an advisory with its version constraints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// What is affected.
    pub target: Target,
    /// Version scheme to evaluate the constraints with (None: ecosystem unknown to Vigil).
    pub scheme: Option<Scheme>,
    /// Ranges; a version in any of them is affected.
    pub ranges: Vec<AffectedRange>,
    /// Explicitly listed affected versions.
    pub versions: Vec<String>,
    /// Ranges of versions stated as not affected (CVE 5 `unaffected` entries, CSAF `known_not_affected`).
    pub unaffected: Vec<AffectedRange>,
    /// True when the source gives no version information at all (KEV; CSAF product without version): every
    /// version is assumed affected, at lower confidence.
    pub any_version: bool,
    /// Versions that fix it, when the source names them.
    pub fixed: Vec<String>,
    /// CSAF product id, for remediations.
    pub product_id: Option<String>,
}

impl Affected {
    fn new(target: Target, scheme: Option<Scheme>) -> Affected {
        Affected {
            target,
            scheme,
            ranges: Vec::new(),
            versions: Vec::new(),
            unaffected: Vec::new(),
            any_version: false,
            fixed: Vec::new(),
            product_id: None,
        }
    }
}

/// A CVSS vector with its version and score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    /// `2.0`, `3.0`, `3.1` or `4.0`.
    pub version: String,
    /// The vector string.
    pub vector: String,
    /// Base score when the source states it.
    pub score: Option<f64>,
}

impl Cvss {
    /// From a vector string alone (version read from its prefix).
    pub fn from_vector(vector: &str, score: Option<f64>) -> Cvss {
        let version = if vector.starts_with("CVSS:4.0") {
            "4.0"
        } else if vector.starts_with("CVSS:3.1") {
            "3.1"
        } else if vector.starts_with("CVSS:3.0") {
            "3.0"
        } else {
            "2.0"
        };
        Cvss {
            version: version.into(),
            vector: vector.trim().to_string(),
            score,
        }
    }

    fn metric(&self, key: &str) -> Option<&str> {
        self.vector.split('/').find_map(|kv| {
            kv.split_once(':')
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| v)
        })
    }

    /// SSVC "automatable" derived from the vector: network attack vector, no privileges, no user interaction
    /// (and for v4, no attack requirements; for v2, no authentication).
    pub fn automatable(&self) -> Option<bool> {
        if self.version == "2.0" {
            return Some(
                self.metric("AV")? == "N" && self.metric("Au")? == "N" && self.metric("AC")? == "L",
            );
        }
        let av = self.metric("AV")?;
        let pr = self.metric("PR")?;
        let ui = self.metric("UI")?;
        let at_ok = if self.version == "4.0" {
            self.metric("AT").is_none_or(|a| a == "N")
        } else {
            true
        };
        Some(av == "N" && pr == "N" && ui == "N" && at_ok)
    }

    /// SSVC technical impact derived from the vector: total when confidentiality, integrity and availability
    /// impacts are all high (v4: on the vulnerable system).
    pub fn technical_impact(&self) -> Option<TechnicalImpact> {
        let (c, i, a) = match self.version.as_str() {
            "4.0" => (self.metric("VC")?, self.metric("VI")?, self.metric("VA")?),
            "2.0" => {
                let (c, i, a) = (self.metric("C")?, self.metric("I")?, self.metric("A")?);
                return Some(if c == "C" && i == "C" && a == "C" {
                    TechnicalImpact::Total
                } else {
                    TechnicalImpact::Partial
                });
            }
            _ => (self.metric("C")?, self.metric("I")?, self.metric("A")?),
        };
        Some(if c == "H" && i == "H" && a == "H" {
            TechnicalImpact::Total
        } else {
            TechnicalImpact::Partial
        })
    }

    /// Exploitation stated by a CVSS v4 threat metric (`E:A` attacked, `E:P` proof of concept).
    pub fn exploitation(&self) -> Option<Exploitation> {
        match self.metric("E")? {
            "A" => Some(Exploitation::Active),
            "P" => Some(Exploitation::PublicPoc),
            "U" if self.version == "4.0" => Some(Exploitation::None),
            _ => None,
        }
    }
}

/// A reference link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// The URL.
    pub url: String,
    /// Kind as the source labels it (`ADVISORY`, `FIX`, `exploit`, `self`, ...).
    pub kind: Option<String>,
}

/// A remediation (CSAF remediations, KEV required action, OSV/RustSec fixed versions are in [`Affected`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remediation {
    /// `vendor_fix`, `workaround`, `mitigation`, `no_fix_planned`, `none_available` or `required_action`.
    pub category: String,
    /// What to do.
    pub details: String,
    /// Where to read more.
    pub url: Option<String>,
    /// The CSAF product ids it applies to (empty: all).
    pub product_ids: Vec<String>,
}

/// Facts from the CISA KEV catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KevEntry {
    /// `vendorProject`.
    pub vendor: String,
    /// `product`.
    pub product: String,
    /// `dateAdded` (YYYY-MM-DD).
    pub date_added: String,
    /// `dueDate` for US federal agencies (YYYY-MM-DD).
    pub due_date: String,
    /// `requiredAction`.
    pub required_action: String,
    /// `knownRansomwareCampaignUse` is `Known`.
    pub ransomware: bool,
    /// `notes`.
    pub notes: String,
}

/// SSVC decision points stated by a source (CISA ADP vulnrichment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SsvcFacts {
    /// Exploitation.
    pub exploitation: Option<Exploitation>,
    /// Automatable.
    pub automatable: Option<bool>,
    /// Technical impact.
    pub technical_impact: Option<TechnicalImpact>,
    /// Who stated them (`CISA ADP vulnrichment`).
    pub source: String,
}

/// One advisory in Vigil's normalised model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    /// The source's id (`GHSA-...`, `PYSEC-...`, `GO-...`, `RUSTSEC-...`, `CVE-...`; for CSAF the CVE of the
    /// vulnerability, else `<tracking id>#<n>`).
    pub id: String,
    /// Source kind.
    pub source: SourceKind,
    /// File (and record) it was read from.
    pub location: String,
    /// Other ids for the same vulnerability (CVE, GHSA, ...), not including `id`.
    pub aliases: Vec<String>,
    /// Short title.
    pub title: Option<String>,
    /// Longer description.
    pub description: Option<String>,
    /// Publication time as given.
    pub published: Option<String>,
    /// Last modification time as given.
    pub modified: Option<String>,
    /// Withdrawal time; withdrawn advisories are not indexed.
    pub withdrawn: Option<String>,
    /// Informational kind (RustSec `unmaintained`, `unsound`, ...); not a vulnerability when set.
    pub informational: Option<String>,
    /// What is affected.
    pub affected: Vec<Affected>,
    /// CVSS vectors.
    pub cvss: Vec<Cvss>,
    /// CWE ids.
    pub cwes: Vec<String>,
    /// References.
    pub references: Vec<Reference>,
    /// Remediations.
    pub remediations: Vec<Remediation>,
    /// KEV facts, for KEV entries.
    pub kev: Option<KevEntry>,
    /// SSVC decision points (vulnrichment).
    pub ssvc: Option<SsvcFacts>,
    /// Threat statements (CSAF `threats`: category and details).
    pub threats: Vec<(String, String)>,
    /// TLP of the source document (CSAF distribution), if any.
    pub tlp: Option<Tlp>,
    /// The source document's own id when one document holds several advisories (CSAF tracking id).
    #[serde(default)]
    pub document: Option<String>,
}

impl Advisory {
    fn new(id: &str, source: SourceKind, location: &str) -> Advisory {
        Advisory {
            id: id.to_string(),
            source,
            location: location.to_string(),
            aliases: Vec::new(),
            title: None,
            description: None,
            published: None,
            modified: None,
            withdrawn: None,
            informational: None,
            affected: Vec::new(),
            cvss: Vec::new(),
            cwes: Vec::new(),
            references: Vec::new(),
            remediations: Vec::new(),
            kev: None,
            ssvc: None,
            threats: Vec::new(),
            tlp: None,
            document: None,
        }
    }

    /// The key one stored copy of this advisory is kept under: the same record from a newer download replaces
    /// the older one (`kev:CVE-...`, `osv:GHSA-...`, `csaf:<tracking id>:<vulnerability>`).
    pub fn store_key(&self) -> String {
        match &self.document {
            Some(d) => format!("{}:{}:{}", self.source.as_str(), d, self.id),
            None => format!("{}:{}", self.source.as_str(), self.id),
        }
    }

    /// The CVE id of this advisory (its id or first CVE alias), if any.
    pub fn cve(&self) -> Option<&str> {
        std::iter::once(&self.id)
            .chain(self.aliases.iter())
            .map(String::as_str)
            .find(|a| is_cve(a))
    }

    /// The id a vulnerability is known by across sources: the CVE when there is one, else the advisory id.
    pub fn canonical_id(&self) -> &str {
        self.cve().unwrap_or(&self.id)
    }

    /// STIX 2.1 `vulnerability` object for this advisory: deterministic id over the canonical id (so OSV, CVE
    /// and CSAF records of one CVE become one object), `external_references` with `source_name: "cve"` for the
    /// CVE and one entry per other id, and custom `x_vigil_*` properties for KEV, SSVC and CVSS facts.
    /// `now` (RFC 3339) is used when the source has no timestamps.
    pub fn to_stix(&self, now: &str) -> Vec<Value> {
        let cid = self.canonical_id();
        let mut refs = Vec::new();
        if let Some(cve) = self.cve() {
            refs.push(json!({"source_name": "cve", "external_id": cve, "url": format!("https://www.cve.org/CVERecord?id={cve}")}));
        }
        let mut ids: Vec<&str> = std::iter::once(self.id.as_str())
            .chain(self.aliases.iter().map(String::as_str))
            .collect();
        ids.dedup();
        for id in ids {
            if is_cve(id) {
                continue;
            }
            let src = id
                .split('-')
                .next()
                .unwrap_or("advisory")
                .to_ascii_lowercase();
            refs.push(json!({"source_name": src, "external_id": id}));
        }
        for r in self.references.iter().take(50) {
            refs.push(json!({"source_name": r.kind.clone().unwrap_or_else(|| "url".into()).to_ascii_lowercase(), "url": r.url}));
        }
        let created = self
            .published
            .as_deref()
            .and_then(stix_time)
            .unwrap_or_else(|| now.to_string());
        let modified = self
            .modified
            .as_deref()
            .and_then(stix_time)
            .unwrap_or_else(|| created.clone());
        let modified = if modified < created {
            created.clone()
        } else {
            modified
        };
        let mut o = Map::new();
        o.insert("type".into(), json!("vulnerability"));
        o.insert("spec_version".into(), json!("2.1"));
        o.insert("id".into(), json!(vigil_id("vulnerability", &[cid])));
        o.insert("created".into(), json!(created));
        o.insert("modified".into(), json!(modified));
        o.insert("name".into(), json!(cid));
        if let Some(d) = self.description.as_ref().or(self.title.as_ref()) {
            o.insert("description".into(), json!(d));
        }
        o.insert("external_references".into(), Value::Array(refs));
        o.insert("x_vigil_source".into(), json!(self.source.as_str()));
        if let Some(k) = &self.kev {
            o.insert(
                "x_vigil_kev".into(),
                json!({"date_added": k.date_added, "due_date": k.due_date, "required_action": k.required_action,
                       "known_ransomware_campaign_use": k.ransomware, "vendor": k.vendor, "product": k.product}),
            );
        }
        if let Some(s) = &self.ssvc {
            o.insert(
                "x_vigil_ssvc".into(),
                serde_json::to_value(s).unwrap_or(Value::Null),
            );
        }
        if !self.cvss.is_empty() {
            o.insert(
                "x_vigil_cvss".into(),
                serde_json::to_value(&self.cvss).unwrap_or(Value::Null),
            );
        }
        if !self.cwes.is_empty() {
            o.insert("x_vigil_cwes".into(), json!(self.cwes));
        }
        if let Some(t) = self.tlp {
            o.insert("object_marking_refs".into(), json!([t.marking_id()]));
        }
        vec![Value::Object(o)]
    }
}

/// STIX wants `Z` timestamps; sources write dates, `+00:00` or no zone.
fn stix_time(s: &str) -> Option<String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(vigil_model::time::format(&d.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(vigil_model::time::format(&d.and_utc()));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d") {
        return Some(vigil_model::time::format(
            &d.and_hms_opt(0, 0, 0)?.and_utc(),
        ));
    }
    None
}

/// True for `CVE-YYYY-NNNN...`.
pub fn is_cve(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 13
        && b[..4].eq_ignore_ascii_case(b"CVE-")
        && b[4..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'-'
        && b[9..].iter().all(u8::is_ascii_digit)
}

/// One EPSS score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpssScore {
    /// CVE id.
    pub cve: String,
    /// Probability of exploitation activity in the next 30 days (0..1).
    pub epss: f64,
    /// Percentile (0..1).
    pub percentile: f64,
}

/// The header facts of an EPSS file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EpssMeta {
    /// `model_version` (e.g. `v2025.03.14`).
    pub model_version: Option<String>,
    /// `score_date` (RFC 3339).
    pub score_date: Option<String>,
}

/// The format a file was detected as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedFormat {
    /// CISA KEV JSON catalogue.
    KevJson,
    /// CISA KEV CSV.
    KevCsv,
    /// EPSS CSV.
    Epss,
    /// CVE JSON 5 record.
    Cve5,
    /// OSV JSON.
    OsvJson,
    /// OSV YAML.
    OsvYaml,
    /// RustSec Markdown.
    Rustsec,
    /// CSAF 2.0 JSON.
    Csaf,
    /// Not recognised.
    Unknown,
}

/// What reading one file produced.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Feed {
    /// Detected format.
    pub format: Option<FeedFormat>,
    /// Advisories read.
    pub advisories: Vec<Advisory>,
    /// EPSS scores read (EPSS files only).
    pub epss: Vec<EpssScore>,
    /// EPSS header (EPSS files only).
    pub epss_meta: Option<EpssMeta>,
    /// One entry per record that could not be read.
    pub errors: Vec<Diagnostic>,
}

fn diag(location: &str, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        location: location.to_string(),
        message: message.into(),
    }
}

/// Tells, from a file's name and first bytes, whether it is an advisory file Vigil reads (and which), without
/// parsing it: `vigil ingest` uses it to route files to the advisory readers. None: not an advisory file.
pub fn sniff(name: &str, head: &[u8]) -> Option<FeedFormat> {
    let text = String::from_utf8_lossy(&head[..head.len().min(64 * 1024)]);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    let lower = name.to_ascii_lowercase();
    let base = lower.rsplit(['/', '!']).next().unwrap_or(&lower);
    if base.ends_with(".md") {
        return (t.starts_with("```toml") && t.contains("[advisory]"))
            .then_some(FeedFormat::Rustsec);
    }
    if t.starts_with("#model_version") || t.starts_with("cve,epss") {
        return Some(FeedFormat::Epss);
    }
    if t.starts_with("cveID,") || t.starts_with("\"cveID\"") {
        return Some(FeedFormat::KevCsv);
    }
    if base.ends_with(".yaml") || base.ends_with(".yml") {
        let has = |k: &str| t.lines().any(|l| l.starts_with(k));
        return (has("id:") && (has("affected:") || has("modified:")))
            .then_some(FeedFormat::OsvYaml);
    }
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    let compact: String = t
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(16 * 1024)
        .collect();
    if compact.contains("\"catalogVersion\"") || compact.contains("\"cveID\":") {
        Some(FeedFormat::KevJson)
    } else if compact.contains("\"cveMetadata\"") || compact.contains("\"dataType\":\"CVE_RECORD\"")
    {
        Some(FeedFormat::Cve5)
    } else if compact.contains("\"csaf_version\"") {
        Some(FeedFormat::Csaf)
    } else if compact.contains("\"id\":\"")
        && !compact.contains("\"type\":\"bundle\"")
        && (compact.contains("\"affected\":[")
            || (compact.contains("\"modified\":\"")
                && (compact.contains("\"schema_version\"")
                    || compact.contains("\"aliases\":[")
                    || compact.contains("\"details\":\"")
                    || compact.contains("\"withdrawn\":\""))))
    {
        Some(FeedFormat::OsvJson)
    } else {
        None
    }
}

/// Reads one advisory file of any supported format, detected from its content (and extension for YAML,
/// Markdown and CSV). `location` is the file name used in diagnostics.
pub fn read_advisories(location: &str, bytes: &[u8]) -> Feed {
    let mut feed = Feed::default();
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.trim_start_matches('\u{feff}'),
        Err(e) => {
            feed.format = Some(FeedFormat::Unknown);
            feed.errors.push(diag(
                location,
                format!("not UTF-8 (first bad byte at offset {})", e.valid_up_to()),
            ));
            return feed;
        }
    };
    let lower = location.to_ascii_lowercase();
    let head = text.trim_start();
    if head.starts_with("```toml") || lower.ends_with(".md") {
        feed.format = Some(FeedFormat::Rustsec);
        match read_rustsec(location, text) {
            Ok(a) => feed.advisories.push(a),
            Err(d) => feed.errors.push(d),
        }
        return feed;
    }
    if head.starts_with("#model_version") || head.starts_with("cve,epss") {
        feed.format = Some(FeedFormat::Epss);
        let (meta, scores, errors) = read_epss(location, text);
        feed.epss_meta = Some(meta);
        feed.epss = scores;
        feed.errors = errors;
        return feed;
    }
    if lower.ends_with(".csv") || head.starts_with("cveID,") || head.starts_with("\"cveID\"") {
        feed.format = Some(FeedFormat::KevCsv);
        let (a, e) = read_kev_csv(location, text);
        feed.advisories = a;
        feed.errors = e;
        return feed;
    }
    if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        feed.format = Some(FeedFormat::OsvYaml);
        match serde_yaml_ng::from_str::<Value>(text) {
            Ok(v) => read_osv_value(location, &v, &mut feed),
            Err(e) => feed.errors.push(diag(location, format!("YAML: {e}"))),
        }
        return feed;
    }
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            feed.format = Some(FeedFormat::Unknown);
            feed.errors.push(diag(location, format!("JSON: {e}")));
            return feed;
        }
    };
    if v.get("catalogVersion").is_some() || v.pointer("/vulnerabilities/0/cveID").is_some() {
        feed.format = Some(FeedFormat::KevJson);
        let (a, e) = read_kev_json(location, &v);
        feed.advisories = a;
        feed.errors = e;
    } else if v.get("cveMetadata").is_some()
        || v.get("dataType").and_then(Value::as_str) == Some("CVE_RECORD")
    {
        feed.format = Some(FeedFormat::Cve5);
        match read_cve5(location, &v) {
            Ok(a) => feed.advisories.push(a),
            Err(d) => feed.errors.push(d),
        }
    } else if v.pointer("/document/csaf_version").is_some() {
        feed.format = Some(FeedFormat::Csaf);
        let (a, e) = read_csaf(location, &v);
        feed.advisories = a;
        feed.errors = e;
    } else if v.get("id").is_some() && (v.get("affected").is_some() || v.get("modified").is_some())
        || v.is_array()
    {
        feed.format = Some(FeedFormat::OsvJson);
        read_osv_value(location, &v, &mut feed);
    } else {
        feed.format = Some(FeedFormat::Unknown);
        feed.errors
            .push(diag(location, "not a KEV, CVE 5, CSAF 2.0 or OSV document"));
    }
    feed
}

fn st(v: &Value, k: &str) -> Option<String> {
    match v.get(k)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

// ---------------------------------------------------------------- KEV

fn kev_advisory(location: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<Advisory, String> {
    let cve = get("cveID").ok_or("no cveID")?;
    if !is_cve(&cve) {
        return Err(format!("cveID `{cve}` is not a CVE id"));
    }
    let vendor = get("vendorProject").ok_or("no vendorProject")?;
    let product = get("product").ok_or("no product")?;
    let mut a = Advisory::new(&cve, SourceKind::Kev, location);
    a.title = get("vulnerabilityName");
    a.description = get("shortDescription");
    a.published = get("dateAdded");
    let required_action = get("requiredAction").unwrap_or_default();
    let kev = KevEntry {
        vendor: vendor.clone(),
        product: product.clone(),
        date_added: get("dateAdded").unwrap_or_default(),
        due_date: get("dueDate").unwrap_or_default(),
        required_action: required_action.clone(),
        ransomware: get("knownRansomwareCampaignUse")
            .is_some_and(|k| k.eq_ignore_ascii_case("known")),
        notes: get("notes").unwrap_or_default(),
    };
    for n in kev
        .notes
        .split(';')
        .map(str::trim)
        .filter(|n| n.starts_with("http"))
    {
        a.references.push(Reference {
            url: n.to_string(),
            kind: Some("kev-note".into()),
        });
    }
    if let Some(c) = get("cwes") {
        a.cwes = c
            .split([',', ' '])
            .filter(|x| x.starts_with("CWE-"))
            .map(String::from)
            .collect();
    }
    if !required_action.is_empty() {
        a.remediations.push(Remediation {
            category: "required_action".into(),
            details: required_action,
            url: None,
            product_ids: Vec::new(),
        });
    }
    let mut af = Affected::new(Target::Product { vendor, product }, None);
    af.any_version = true;
    a.affected.push(af);
    a.kev = Some(kev);
    Ok(a)
}

fn read_kev_json(location: &str, v: &Value) -> (Vec<Advisory>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let Some(list) = v.get("vulnerabilities").and_then(Value::as_array) else {
        return (
            out,
            vec![diag(
                location,
                "KEV catalogue without a `vulnerabilities` array",
            )],
        );
    };
    for (i, e) in list.iter().enumerate() {
        let get = |k: &str| match e.get(k) {
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => st(e, k),
        };
        match kev_advisory(&format!("{location}: vulnerabilities[{i}]"), &get) {
            Ok(a) => out.push(a),
            Err(m) => errs.push(diag(&format!("{location}: vulnerabilities[{i}]"), m)),
        }
    }
    (out, errs)
}

fn read_kev_csv(location: &str, text: &str) -> (Vec<Advisory>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => return (out, vec![diag(location, format!("CSV header: {e}"))]),
    };
    if !headers.iter().any(|h| h == "cveID") {
        return (
            out,
            vec![diag(
                location,
                "CSV without a `cveID` column: not a KEV file",
            )],
        );
    }
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let loc = format!("{location}:{line}");
        match rec {
            Ok(r) => {
                let get = |k: &str| {
                    headers
                        .iter()
                        .position(|h| h == k)
                        .and_then(|p| r.get(p))
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                };
                match kev_advisory(&loc, &get) {
                    Ok(a) => out.push(a),
                    Err(m) => errs.push(diag(&loc, m)),
                }
            }
            Err(e) => errs.push(diag(&loc, format!("CSV: {e}"))),
        }
    }
    (out, errs)
}

// ---------------------------------------------------------------- EPSS

/// Reads an EPSS CSV: an optional `#model_version:...,score_date:...` line, then `cve,epss,percentile`.
pub fn read_epss(location: &str, text: &str) -> (EpssMeta, Vec<EpssScore>, Vec<Diagnostic>) {
    let mut meta = EpssMeta::default();
    let mut scores = Vec::new();
    let mut errs = Vec::new();
    let mut header_seen = false;
    for (i, line) in text.lines().enumerate() {
        let loc = format!("{location}:{}", i + 1);
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        if let Some(h) = l.strip_prefix('#') {
            for kv in h.split(',') {
                match kv.split_once(':') {
                    Some(("model_version", v)) => meta.model_version = Some(v.trim().to_string()),
                    Some(("score_date", v)) => meta.score_date = Some(v.trim().to_string()),
                    _ => {}
                }
            }
            continue;
        }
        if !header_seen && l.starts_with("cve,") {
            header_seen = true;
            continue;
        }
        let f: Vec<&str> = l.split(',').collect();
        if f.len() < 3 {
            errs.push(diag(&loc, "expected cve,epss,percentile"));
            continue;
        }
        if !is_cve(f[0]) {
            errs.push(diag(
                &loc,
                format!(
                    "`{}` is not a CVE id",
                    f[0].chars().take(40).collect::<String>()
                ),
            ));
            continue;
        }
        match (f[1].trim().parse::<f64>(), f[2].trim().parse::<f64>()) {
            (Ok(e), Ok(p)) if (0.0..=1.0).contains(&e) && (0.0..=1.0).contains(&p) => {
                scores.push(EpssScore {
                    cve: f[0].to_string(),
                    epss: e,
                    percentile: p,
                })
            }
            _ => errs.push(diag(
                &loc,
                "epss and percentile must be numbers between 0 and 1",
            )),
        }
    }
    (meta, scores, errs)
}

// ---------------------------------------------------------------- OSV

fn read_osv_value(location: &str, v: &Value, feed: &mut Feed) {
    match v {
        Value::Array(items) => {
            for (i, it) in items.iter().enumerate() {
                let loc = format!("{location}[{i}]");
                match read_osv(&loc, it) {
                    Ok(a) => feed.advisories.push(a),
                    Err(d) => feed.errors.push(d),
                }
            }
        }
        _ => match read_osv(location, v) {
            Ok(a) => feed.advisories.push(a),
            Err(d) => feed.errors.push(d),
        },
    }
}

/// Reads one OSV record (already parsed from JSON or YAML).
pub fn read_osv(location: &str, v: &Value) -> Result<Advisory, Diagnostic> {
    let id = st(v, "id").ok_or_else(|| diag(location, "OSV record without `id`"))?;
    let loc = format!("{location} ({id})");
    let mut a = Advisory::new(&id, SourceKind::Osv, &loc);
    a.aliases = arr(v, "aliases")
        .iter()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    a.title = st(v, "summary");
    a.description = st(v, "details");
    a.published = st(v, "published");
    a.modified = st(v, "modified");
    a.withdrawn = st(v, "withdrawn");
    for s in arr(v, "severity") {
        if let Some(score) = st(s, "score") {
            if score.starts_with("CVSS:")
                || s.get("type").and_then(Value::as_str) == Some("CVSS_V2")
            {
                a.cvss.push(Cvss::from_vector(&score, None));
            }
        }
    }
    for r in arr(v, "references") {
        if let Some(url) = st(r, "url") {
            a.references.push(Reference {
                url,
                kind: st(r, "type"),
            });
        }
    }
    if let Some(cwes) = v
        .pointer("/database_specific/cwe_ids")
        .and_then(Value::as_array)
    {
        a.cwes = cwes
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect();
    }
    for (i, af) in arr(v, "affected").iter().enumerate() {
        let aloc = format!("{loc}: affected[{i}]");
        let pkg = af.get("package");
        let eco = pkg.and_then(|p| st(p, "ecosystem"));
        let name = pkg.and_then(|p| st(p, "name"));
        let purl = pkg.and_then(|p| st(p, "purl"));
        let (eco, name) = match (eco, name, purl) {
            (Some(e), Some(n), _) => (e, n),
            (_, _, Some(p)) => {
                let p = Purl::parse(&p).map_err(|e| diag(&aloc, e.to_string()))?;
                (p.ecosystem().unwrap_or("unknown").to_string(), p.osv_name())
            }
            _ => return Err(diag(&aloc, "affected entry without package ecosystem/name")),
        };
        let scheme = Scheme::from_ecosystem(&eco);
        let mut out = Affected::new(
            Target::Package {
                ecosystem: eco.clone(),
                name,
            },
            scheme,
        );
        for (j, r) in arr(af, "ranges").iter().enumerate() {
            let rloc = format!("{aloc}.ranges[{j}]");
            let kind = match r.get("type").and_then(Value::as_str) {
                Some("SEMVER") => RangeKind::Semver,
                Some("ECOSYSTEM") => RangeKind::Ecosystem,
                Some("GIT") => RangeKind::Git,
                other => return Err(diag(&rloc, format!("unknown range type {other:?}"))),
            };
            let mut events = Vec::new();
            for e in arr(r, "events") {
                let Some(obj) = e.as_object() else {
                    return Err(diag(&rloc, "event is not an object"));
                };
                for (k, val) in obj {
                    let ver = match val {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => return Err(diag(&rloc, format!("event `{k}` has no version string"))),
                    };
                    events.push(match k.as_str() {
                        "introduced" => Event::Introduced(ver),
                        "fixed" => Event::Fixed(ver),
                        "last_affected" => Event::LastAffected(ver),
                        "limit" => Event::Limit(ver),
                        other => return Err(diag(&rloc, format!("unknown event `{other}`"))),
                    });
                }
            }
            let range = OsvRange {
                kind,
                repo: st(r, "repo"),
                events,
            };
            range.validate().map_err(|e| diag(&rloc, e.to_string()))?;
            if kind != RangeKind::Git {
                out.fixed.extend(range.fixed_versions());
            }
            // SEMVER ranges in OSV carry no `v`; Go versions are compared with the Go scheme anyway.
            if kind == RangeKind::Semver && scheme.is_none() {
                out.scheme = Some(Scheme::Semver);
            }
            out.ranges.push(AffectedRange::Osv(range));
        }
        out.versions = arr(af, "versions")
            .iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect();
        if out.ranges.is_empty() && out.versions.is_empty() {
            // OSV: no ranges and no versions means every version is affected.
            out.any_version = true;
        }
        a.affected.push(out);
    }
    Ok(a)
}

// ---------------------------------------------------------------- RustSec

/// Reads a RustSec advisory: TOML front matter in a ```` ```toml ```` block, then Markdown (title = first `#`
/// heading).
pub fn read_rustsec(location: &str, text: &str) -> Result<Advisory, Diagnostic> {
    let start = text
        .find("```toml")
        .ok_or_else(|| diag(location, "no ```toml front matter"))?;
    let body = &text[start + 7..];
    let end = body
        .find("\n```")
        .ok_or_else(|| diag(location, "unterminated ```toml block"))?;
    let front = &body[..end];
    let rest = &body[end + 4..];
    let t: toml::Table = toml::from_str(front).map_err(|e| diag(location, format!("TOML: {e}")))?;
    let adv = t
        .get("advisory")
        .and_then(|x| x.as_table())
        .ok_or_else(|| diag(location, "no [advisory] table"))?;
    let gs = |k: &str| adv.get(k).and_then(|x| x.as_str()).map(String::from);
    let id = gs("id").ok_or_else(|| diag(location, "no advisory.id"))?;
    let loc = format!("{location} ({id})");
    let package = gs("package").ok_or_else(|| diag(&loc, "no advisory.package"))?;
    let mut a = Advisory::new(&id, SourceKind::Rustsec, &loc);
    let list = |tb: &toml::Table, k: &str| -> Vec<String> {
        tb.get(k)
            .and_then(|x| x.as_array())
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    a.aliases = list(adv, "aliases");
    a.published = gs("date");
    a.withdrawn = gs("withdrawn");
    a.informational = gs("informational");
    if let Some(c) = gs("cvss") {
        a.cvss.push(Cvss::from_vector(&c, None));
    }
    if let Some(u) = gs("url") {
        a.references.push(Reference {
            url: u,
            kind: Some("ADVISORY".into()),
        });
    }
    for u in list(adv, "references") {
        a.references.push(Reference {
            url: u,
            kind: Some("WEB".into()),
        });
    }
    let mut title = None;
    let mut desc = Vec::new();
    for line in rest.lines() {
        if title.is_none() {
            if let Some(h) = line.strip_prefix("# ") {
                title = Some(h.trim().to_string());
                continue;
            }
        }
        if title.is_some() {
            desc.push(line);
        }
    }
    a.title = title;
    let d = desc.join("\n").trim().to_string();
    a.description = (!d.is_empty()).then_some(d);
    let empty = toml::Table::new();
    let versions = t
        .get("versions")
        .and_then(|x| x.as_table())
        .unwrap_or(&empty);
    let parse = |k: &str| -> Result<Vec<CargoReq>, Diagnostic> {
        list(versions, k)
            .iter()
            .map(|r| {
                CargoReq::parse(r).map_err(|e| diag(&format!("{loc}: versions.{k}"), e.to_string()))
            })
            .collect()
    };
    let patched = parse("patched")?;
    let unaffected = parse("unaffected")?;
    let mut af = Affected::new(
        Target::Package {
            ecosystem: "crates.io".into(),
            name: package,
        },
        Some(Scheme::Cargo),
    );
    af.fixed = patched
        .iter()
        .filter_map(|r| {
            r.bounds
                .iter()
                .find(|b| matches!(b.op, crate::range::Comparator::Ge))
                .map(|b| b.version.clone())
        })
        .collect();
    af.ranges.push(AffectedRange::Cargo {
        patched,
        unaffected,
    });
    a.affected.push(af);
    Ok(a)
}

// ---------------------------------------------------------------- CVE JSON 5

fn cve5_scheme(version_type: Option<&str>) -> Scheme {
    // CNAs write `semver` for many versions that are not SemVer (`10.2`, `2.4.49`), so the lenient generic
    // scheme evaluates them; the stricter ecosystem schemes are used where the type names one.
    match version_type.map(str::to_ascii_lowercase).as_deref() {
        Some("python") | Some("pypi") => Scheme::Pypi,
        Some("maven") => Scheme::Maven,
        Some("rpm") => Scheme::Rpm,
        Some("deb") | Some("debian") => Scheme::Deb,
        Some("npm") => Scheme::Npm,
        Some("go") | Some("golang") => Scheme::Go,
        Some("nuget") => Scheme::Nuget,
        Some("gem") | Some("rubygems") => Scheme::Gem,
        _ => Scheme::Generic,
    }
}

fn is_placeholder(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "" | "n/a" | "na" | "unknown" | "unspecified" | "-" | "*" | "all" | "all versions"
    )
}

fn cve5_affected(entry: &Value, loc: &str, errs: &mut Vec<Diagnostic>) -> Vec<Affected> {
    let vendor = st(entry, "vendor").filter(|v| !is_placeholder(v));
    let product = st(entry, "product").filter(|v| !is_placeholder(v));
    let default_affected = st(entry, "defaultStatus").as_deref() == Some("affected");
    let mut targets = Vec::new();
    for c in arr(entry, "cpes").iter().filter_map(Value::as_str) {
        match Cpe::parse(c) {
            Ok(cpe) => targets.push(Target::Cpe(Box::new(cpe))),
            Err(e) => errs.push(diag(loc, e.to_string())),
        }
    }
    if let (Some(v), Some(p)) = (&vendor, &product) {
        targets.push(Target::Product {
            vendor: v.clone(),
            product: p.clone(),
        });
    }
    if let (Some(pkg), Some(coll)) = (st(entry, "packageName"), st(entry, "collectionURL")) {
        let eco = match coll.as_str() {
            c if c.contains("pypi.org") => Some("PyPI"),
            c if c.contains("npmjs") => Some("npm"),
            c if c.contains("maven") => Some("Maven"),
            c if c.contains("crates.io") => Some("crates.io"),
            c if c.contains("pkg.go.dev") || c.contains("proxy.golang.org") => Some("Go"),
            c if c.contains("rubygems") => Some("RubyGems"),
            c if c.contains("nuget") => Some("NuGet"),
            c if c.contains("packagist") => Some("Packagist"),
            _ => None,
        };
        if let Some(e) = eco {
            targets.push(Target::Package {
                ecosystem: e.into(),
                name: pkg,
            });
        }
    }
    if targets.is_empty() {
        return Vec::new();
    }
    // Matching ties a component to a CPE target by everything but the version (the entry's `versions` decide
    // which versions are affected), so CPEs that differ only in version are one target. CISA's ADP container
    // lists one CPE per version: CVE-2024-20433 names 2,437 of Cisco IOS, which made 2,437 copies of its
    // 2,037-version list.
    let mut seen_cpes = std::collections::HashSet::new();
    targets.retain_mut(|t| match t {
        Target::Cpe(c) => {
            let mut k = (**c).clone();
            k.version = crate::cpe::CpeValue::Any;
            seen_cpes.insert(k)
        }
        _ => true,
    });
    let mut scheme = None;
    let mut ranges = Vec::new();
    let mut versions = Vec::new();
    let mut unaffected = Vec::new();
    let mut fixed = Vec::new();
    let mut any = false;
    for (k, ver) in arr(entry, "versions").iter().enumerate() {
        let vt = st(ver, "versionType");
        if vt.as_deref() == Some("git") {
            continue;
        }
        let s = cve5_scheme(vt.as_deref());
        scheme.get_or_insert(s);
        let Some(base) = st(ver, "version") else {
            errs.push(diag(
                &format!("{loc}.versions[{k}]"),
                "version entry without `version`",
            ));
            continue;
        };
        let status = st(ver, "status").unwrap_or_default();
        let lt = st(ver, "lessThan");
        let le = st(ver, "lessThanOrEqual");
        let intro = if is_placeholder(&base) || base == "0" {
            "0".to_string()
        } else {
            base.clone()
        };
        let range = match (&lt, &le) {
            (Some(l), _) if !is_placeholder(l) => Some(OsvRange {
                kind: RangeKind::Ecosystem,
                repo: None,
                events: vec![Event::Introduced(intro.clone()), Event::Fixed(l.clone())],
            }),
            (_, Some(l)) if !is_placeholder(l) => Some(OsvRange {
                kind: RangeKind::Ecosystem,
                repo: None,
                events: vec![
                    Event::Introduced(intro.clone()),
                    Event::LastAffected(l.clone()),
                ],
            }),
            (Some(_), _) | (_, Some(_)) => Some(OsvRange {
                kind: RangeKind::Ecosystem,
                repo: None,
                events: vec![Event::Introduced(intro.clone())],
            }),
            _ => None,
        };
        match (status.as_str(), range) {
            ("affected", Some(r)) => {
                if let Some(l) = &lt {
                    if !is_placeholder(l) {
                        fixed.push(l.clone());
                    }
                }
                ranges.push(AffectedRange::Osv(r));
            }
            ("affected", None) if is_placeholder(&base) => any = true,
            ("affected", None) => versions.push(base.clone()),
            ("unaffected", Some(r)) => unaffected.push(AffectedRange::Osv(r)),
            ("unaffected", None) if !is_placeholder(&base) => {
                unaffected.push(AffectedRange::Osv(OsvRange {
                    kind: RangeKind::Ecosystem,
                    repo: None,
                    events: vec![
                        Event::Introduced(base.clone()),
                        Event::LastAffected(base.clone()),
                    ],
                }))
            }
            _ => {}
        }
    }
    if ranges.is_empty() && versions.is_empty() && (default_affected || !unaffected.is_empty()) {
        if default_affected && !unaffected.is_empty() {
            ranges.push(AffectedRange::Osv(OsvRange {
                kind: RangeKind::Ecosystem,
                repo: None,
                events: vec![Event::Introduced("0".into())],
            }));
        } else if default_affected {
            any = true;
        }
    }
    // CPE names with a concrete version are themselves an exact affected version.
    let mut out = Vec::new();
    for t in targets {
        let mut af = Affected::new(t.clone(), Some(scheme.unwrap_or(Scheme::Generic)));
        af.ranges = ranges.clone();
        af.versions = versions.clone();
        af.unaffected = unaffected.clone();
        af.fixed = fixed.clone();
        af.any_version = any;
        if let Target::Cpe(c) = &t {
            if af.ranges.is_empty() && af.versions.is_empty() && !af.any_version {
                match c.version_str() {
                    Some(v) => af.versions.push(v),
                    None => af.any_version = true,
                }
            }
        }
        if af.ranges.is_empty() && af.versions.is_empty() && !af.any_version {
            continue;
        }
        out.push(af);
    }
    out
}

fn ssvc_from(content: &Value) -> SsvcFacts {
    let mut s = SsvcFacts {
        source: "CISA ADP vulnrichment".into(),
        ..Default::default()
    };
    for o in arr(content, "options") {
        if let Some(obj) = o.as_object() {
            for (k, v) in obj {
                let v = v.as_str().unwrap_or("").to_ascii_lowercase();
                match k.as_str() {
                    "Exploitation" => {
                        s.exploitation = match v.as_str() {
                            "active" => Some(Exploitation::Active),
                            "poc" | "public poc" => Some(Exploitation::PublicPoc),
                            "none" => Some(Exploitation::None),
                            _ => None,
                        }
                    }
                    "Automatable" => {
                        s.automatable = matches!(v.as_str(), "yes" | "no").then(|| v == "yes")
                    }
                    "Technical Impact" => {
                        s.technical_impact = match v.as_str() {
                            "total" => Some(TechnicalImpact::Total),
                            "partial" => Some(TechnicalImpact::Partial),
                            _ => None,
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    s
}

fn cve5_metrics(metrics: &[Value], a: &mut Advisory) {
    for m in metrics {
        for (k, ver) in [
            ("cvssV4_0", "4.0"),
            ("cvssV3_1", "3.1"),
            ("cvssV3_0", "3.0"),
            ("cvssV2_0", "2.0"),
        ] {
            if let Some(c) = m.get(k) {
                if let Some(vec) = st(c, "vectorString") {
                    let mut cv =
                        Cvss::from_vector(&vec, c.get("baseScore").and_then(Value::as_f64));
                    cv.version = ver.into();
                    if !a.cvss.iter().any(|x| x.vector == cv.vector) {
                        a.cvss.push(cv);
                    }
                }
            }
        }
        if let Some(o) = m.get("other") {
            match o.get("type").and_then(Value::as_str) {
                Some("ssvc") => {
                    if let Some(c) = o.get("content") {
                        a.ssvc = Some(ssvc_from(c));
                    }
                }
                Some("kev") => a.references.push(Reference {
                    url: o
                        .pointer("/content/reference")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    kind: Some("kev".into()),
                }),
                _ => {}
            }
        }
    }
}

/// Reads one CVE JSON 5 record: the CNA container (descriptions, affected, metrics, references, problem
/// types) and the ADP containers, among them CISA's vulnrichment (SSVC decision points, CVSS, CPE, CWE).
pub fn read_cve5(location: &str, v: &Value) -> Result<Advisory, Diagnostic> {
    let id = v
        .pointer("/cveMetadata/cveId")
        .and_then(Value::as_str)
        .ok_or_else(|| diag(location, "CVE record without cveMetadata.cveId"))?;
    let loc = format!("{location} ({id})");
    let mut a = Advisory::new(id, SourceKind::Cve5, &loc);
    if v.pointer("/cveMetadata/state").and_then(Value::as_str) == Some("REJECTED") {
        a.withdrawn = v
            .pointer("/cveMetadata/dateRejected")
            .and_then(Value::as_str)
            .map(String::from)
            .or(Some("rejected".into()));
    }
    a.published = v
        .pointer("/cveMetadata/datePublished")
        .and_then(Value::as_str)
        .map(String::from);
    a.modified = v
        .pointer("/cveMetadata/dateUpdated")
        .and_then(Value::as_str)
        .map(String::from);
    let cna = v
        .pointer("/containers/cna")
        .ok_or_else(|| diag(&loc, "no containers.cna"))?;
    a.title = st(cna, "title");
    a.description = arr(cna, "descriptions")
        .iter()
        .find(|d| {
            d.get("lang")
                .and_then(Value::as_str)
                .is_some_and(|l| l.starts_with("en"))
        })
        .or_else(|| arr(cna, "descriptions").first())
        .and_then(|d| st(d, "value"));
    let mut errs = Vec::new();
    let mut containers: Vec<(&Value, String)> = vec![(cna, format!("{loc}: cna"))];
    for (i, adp) in arr(v.pointer("/containers").unwrap_or(&Value::Null), "adp")
        .iter()
        .enumerate()
    {
        containers.push((adp, format!("{loc}: adp[{i}]")));
    }
    for (c, cloc) in containers {
        for (i, e) in arr(c, "affected").iter().enumerate() {
            let found = cve5_affected(e, &format!("{cloc}.affected[{i}]"), &mut errs);
            for f in found {
                if !a.affected.contains(&f) {
                    a.affected.push(f);
                }
            }
        }
        cve5_metrics(arr(c, "metrics"), &mut a);
        for r in arr(c, "references") {
            if let Some(url) = st(r, "url") {
                let tags: Vec<&str> = arr(r, "tags").iter().filter_map(Value::as_str).collect();
                let kind = if tags.contains(&"exploit") {
                    Some("exploit".to_string())
                } else {
                    tags.first().map(|t| t.to_string())
                };
                if !a.references.iter().any(|x| x.url == url) {
                    a.references.push(Reference { url, kind });
                }
            }
        }
        for p in arr(c, "problemTypes") {
            for d in arr(p, "descriptions") {
                if let Some(cwe) = st(d, "cweId") {
                    if !a.cwes.contains(&cwe) {
                        a.cwes.push(cwe);
                    }
                }
            }
        }
    }
    // Per-entry problems (a bad CPE) do not lose the record; they are attached to the first message.
    if let Some(e) = errs.first() {
        if a.affected.is_empty() {
            return Err(e.clone());
        }
    }
    Ok(a)
}

// ---------------------------------------------------------------- CSAF 2.0

#[derive(Debug, Clone, Default)]
struct CsafProduct {
    name: String,
    vendor: Option<String>,
    product: Option<String>,
    version: Option<String>,
    range: Option<String>,
    purl: Option<String>,
    cpe: Option<String>,
}

fn csaf_walk(branch: &Value, ctx: &CsafProduct, out: &mut HashMap<String, CsafProduct>) {
    let mut here = ctx.clone();
    let name = st(branch, "name").unwrap_or_default();
    match branch.get("category").and_then(Value::as_str) {
        Some("vendor") => here.vendor = Some(name),
        Some("product_name") | Some("product_family") => {
            here.product = Some(
                match (&ctx.product, branch.get("category").and_then(Value::as_str)) {
                    // A family above a product name: the product name is the more specific.
                    (Some(_), Some("product_name")) | (None, _) => name,
                    (Some(p), _) => p.clone(),
                },
            )
        }
        Some("product_version") => here.version = Some(name),
        Some("product_version_range") => here.range = Some(name),
        _ => {}
    }
    if let Some(p) = branch.get("product") {
        if let Some(pid) = st(p, "product_id") {
            let mut prod = here.clone();
            prod.name = st(p, "name").unwrap_or_default();
            if let Some(h) = p.get("product_identification_helper") {
                prod.purl = st(h, "purl");
                prod.cpe = st(h, "cpe");
            }
            out.insert(pid, prod);
        }
    }
    for b in arr(branch, "branches") {
        csaf_walk(b, &here, out);
    }
}

fn csaf_products(doc: &Value) -> HashMap<String, CsafProduct> {
    let mut out = HashMap::new();
    let Some(tree) = doc.get("product_tree") else {
        return out;
    };
    for b in arr(tree, "branches") {
        csaf_walk(b, &CsafProduct::default(), &mut out);
    }
    for p in arr(tree, "full_product_names") {
        if let Some(pid) = st(p, "product_id") {
            let mut prod = CsafProduct {
                name: st(p, "name").unwrap_or_default(),
                ..Default::default()
            };
            if let Some(h) = p.get("product_identification_helper") {
                prod.purl = st(h, "purl");
                prod.cpe = st(h, "cpe");
            }
            out.entry(pid).or_insert(prod);
        }
    }
    // A relationship product (component installed on a platform) is matched through its component.
    for r in arr(tree, "relationships") {
        let comp = st(r, "product_reference");
        let Some(fpn) = r.get("full_product_name") else {
            continue;
        };
        if let (Some(pid), Some(comp)) = (st(fpn, "product_id"), comp) {
            if let Some(c) = out.get(&comp).cloned() {
                let mut p = c;
                p.name = st(fpn, "name").unwrap_or(p.name);
                out.entry(pid).or_insert(p);
            }
        }
    }
    out
}

fn csaf_affected(
    pid: &str,
    p: &CsafProduct,
    loc: &str,
    errs: &mut Vec<Diagnostic>,
) -> Option<Affected> {
    if let Some(pu) = &p.purl {
        match Purl::parse(pu) {
            Ok(purl) => {
                let eco = purl.ecosystem().unwrap_or("unknown").to_string();
                let mut af = Affected::new(
                    Target::Package {
                        ecosystem: eco,
                        name: purl.osv_name(),
                    },
                    Some(purl.scheme()),
                );
                af.product_id = Some(pid.to_string());
                match (&purl.version, &p.range) {
                    (Some(v), _) => af.versions.push(v.clone()),
                    (None, Some(r)) => match csaf_range(purl.scheme(), r) {
                        Some(x) => af.ranges.push(x),
                        None => af.any_version = true,
                    },
                    (None, None) => af.any_version = true,
                }
                return Some(af);
            }
            Err(e) => errs.push(diag(loc, format!("product {pid}: {e}"))),
        }
    }
    let target = match &p.cpe {
        Some(c) => match Cpe::parse(c) {
            Ok(cpe) => Some(Target::Cpe(Box::new(cpe))),
            Err(e) => {
                errs.push(diag(loc, format!("product {pid}: {e}")));
                None
            }
        },
        None => None,
    };
    let target = match target {
        Some(t) => t,
        None => match (&p.vendor, &p.product) {
            (Some(v), Some(pr)) => Target::Product {
                vendor: v.clone(),
                product: pr.clone(),
            },
            _ => return None,
        },
    };
    let mut af = Affected::new(target.clone(), Some(Scheme::Generic));
    af.product_id = Some(pid.to_string());
    match (&p.version, &p.range) {
        (_, Some(r)) => match csaf_range(Scheme::Generic, r) {
            Some(x) => af.ranges.push(x),
            None => af.any_version = true,
        },
        (Some(v), None) => af
            .versions
            .push(v.trim_start_matches(['v', 'V']).to_string()),
        (None, None) => match &target {
            Target::Cpe(c) => match c.version_str() {
                Some(v) => af.versions.push(v),
                None => af.any_version = true,
            },
            _ => af.any_version = true,
        },
    }
    Some(af)
}

/// Interprets CSAF `product_version_range` text: `vers:` strings (CISA writes `vers:all/...` with `V`-prefixed
/// versions and sometimes without `|`), native comparators (`< V4.1.3`, `>= 1.0 | <= 1.32`), or "all versions".
/// None means every version.
fn csaf_range(scheme: Scheme, text: &str) -> Option<AffectedRange> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    if is_placeholder(&lower)
        || lower == "vers:all/*"
        || lower.ends_with("/*") && lower.starts_with("vers:")
    {
        return None;
    }
    // Vendors write `V3.2`: a V before a digit is not part of the version.
    let strip_v = |s: &str| {
        let b: Vec<char> = s.chars().collect();
        let mut o = String::with_capacity(s.len());
        for (i, c) in b.iter().enumerate() {
            let at_start = i == 0 || !b[i - 1].is_ascii_alphanumeric();
            if (*c == 'V' || *c == 'v')
                && at_start
                && b.get(i + 1).is_some_and(|n| n.is_ascii_digit())
            {
                continue;
            }
            o.push(*c);
        }
        o
    };
    if let Some(rest) = t.strip_prefix("vers:") {
        if let Ok(v) = VersRange::parse(t) {
            if let Some(s) = v.scheme {
                if v.constraints.iter().all(|c| s.parse(&c.version).is_ok()) {
                    return Some(AffectedRange::Vers(v));
                }
            }
        }
        let native = rest.split_once('/').map_or(rest, |(_, r)| r);
        return Some(match vers_from_native(Scheme::Generic, &strip_v(native)) {
            Ok(v)
                if v.constraints
                    .iter()
                    .all(|c| Scheme::Generic.parse(&c.version).is_ok()) =>
            {
                AffectedRange::Vers(v)
            }
            _ => AffectedRange::Unparsed(t.to_string()),
        });
    }
    // "All versions < V2.14.0", ">= V2.3 and < V6.30.016": the words carry no constraint of their own.
    let mut native = t.to_string();
    for prefix in ["all bios versions", "all versions", "all"] {
        if lower.starts_with(prefix) && native.len() > prefix.len() {
            native = native[prefix.len()..].to_string();
            break;
        }
    }
    let native = native.replace(" and ", ",");
    Some(match vers_from_native(scheme, &strip_v(&native)) {
        Ok(v)
            if v.constraints
                .iter()
                .all(|c| scheme.parse(&c.version).is_ok()) =>
        {
            AffectedRange::Vers(v)
        }
        _ => AffectedRange::Unparsed(t.to_string()),
    })
}

/// Reads a CSAF 2.0 document: one [`Advisory`] per entry of `vulnerabilities`, with the affected products of
/// its `product_status` resolved through the product tree (branches, full product names, relationships,
/// `product_identification_helper` purl/cpe), fixed versions from `fixed`/`first_fixed`, remediations, CVSS
/// scores, threats, references and the document's TLP.
pub fn read_csaf(location: &str, doc: &Value) -> (Vec<Advisory>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let tracking = doc
        .pointer("/document/tracking/id")
        .and_then(Value::as_str)
        .unwrap_or("csaf");
    let title = doc
        .pointer("/document/title")
        .and_then(Value::as_str)
        .map(String::from);
    let tlp = doc
        .pointer("/document/distribution/tlp/label")
        .and_then(Value::as_str)
        .and_then(Tlp::parse);
    let published = doc
        .pointer("/document/tracking/initial_release_date")
        .and_then(Value::as_str)
        .map(String::from);
    let modified = doc
        .pointer("/document/tracking/current_release_date")
        .and_then(Value::as_str)
        .map(String::from);
    let products = csaf_products(doc);
    let doc_refs: Vec<Reference> = arr(doc.get("document").unwrap_or(&Value::Null), "references")
        .iter()
        .filter_map(|r| {
            Some(Reference {
                url: st(r, "url")?,
                kind: st(r, "category"),
            })
        })
        .collect();
    let vulns = arr(doc, "vulnerabilities");
    for (i, v) in vulns.iter().enumerate() {
        let loc = format!("{location}: vulnerabilities[{i}]");
        let id = st(v, "cve").unwrap_or_else(|| {
            arr(v, "ids")
                .first()
                .and_then(|x| st(x, "text"))
                .unwrap_or_else(|| format!("{tracking}#{i}"))
        });
        let mut a = Advisory::new(&id, SourceKind::Csaf, &loc);
        a.document = Some(tracking.to_string());
        if id != tracking {
            a.aliases.push(tracking.to_string());
        }
        for x in arr(v, "ids") {
            if let Some(t) = st(x, "text") {
                if t != id && !a.aliases.contains(&t) {
                    a.aliases.push(t);
                }
            }
        }
        a.title = st(v, "title").or_else(|| title.clone());
        a.description = arr(v, "notes")
            .iter()
            .find(|n| n.get("category").and_then(Value::as_str) == Some("description"))
            .or_else(|| arr(v, "notes").first())
            .and_then(|n| st(n, "text"));
        a.published = st(v, "release_date").or_else(|| published.clone());
        a.modified = modified.clone();
        a.tlp = tlp;
        if let Some(c) = v.pointer("/cwe/id").and_then(Value::as_str) {
            a.cwes.push(c.to_string());
        }
        a.references = doc_refs.clone();
        for r in arr(v, "references") {
            if let Some(url) = st(r, "url") {
                a.references.push(Reference {
                    url,
                    kind: st(r, "category"),
                });
            }
        }
        for s in arr(v, "scores") {
            for k in ["cvss_v3", "cvss_v2"] {
                if let Some(c) = s.get(k) {
                    if let Some(vec) = st(c, "vectorString") {
                        let cv =
                            Cvss::from_vector(&vec, c.get("baseScore").and_then(Value::as_f64));
                        if !a.cvss.iter().any(|x| x.vector == cv.vector) {
                            a.cvss.push(cv);
                        }
                    }
                }
            }
        }
        for t in arr(v, "threats") {
            if let (Some(c), Some(d)) = (st(t, "category"), st(t, "details")) {
                a.threats.push((c, d));
            }
        }
        for r in arr(v, "remediations") {
            let Some(category) = st(r, "category") else {
                errs.push(diag(&loc, "remediation without category"));
                continue;
            };
            a.remediations.push(Remediation {
                category,
                details: st(r, "details").unwrap_or_default(),
                url: st(r, "url"),
                product_ids: arr(r, "product_ids")
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect(),
            });
        }
        let status = v.get("product_status").cloned().unwrap_or(Value::Null);
        let ids_of = |k: &str| -> Vec<String> {
            arr(&status, k)
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        };
        let fixed_ids: BTreeSet<String> = ids_of("fixed")
            .into_iter()
            .chain(ids_of("first_fixed"))
            .collect();
        let not_affected: BTreeSet<String> = ids_of("known_not_affected").into_iter().collect();
        // The entries taken, by their JSON form (`Affected` has no `Hash`), so a document of many thousand products
        // is not searched once per product.
        let mut affected_seen: HashSet<String> = HashSet::new();
        let mut fixed_by_product: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pid in &fixed_ids {
            if let Some(p) = products.get(pid) {
                let key = format!("{:?}/{:?}", p.vendor, p.product);
                if let Some(v) = p.version.clone().or_else(|| {
                    p.purl
                        .as_deref()
                        .and_then(|x| Purl::parse(x).ok())
                        .and_then(|x| x.version)
                }) {
                    fixed_by_product.entry(key).or_default().push(v);
                }
            }
        }
        for k in [
            "known_affected",
            "first_affected",
            "last_affected",
            "under_investigation",
        ] {
            for pid in ids_of(k) {
                if not_affected.contains(&pid) {
                    continue;
                }
                let Some(p) = products.get(&pid) else {
                    errs.push(diag(&loc, format!("product_status.{k} names `{pid}`, which the product tree does not define")));
                    continue;
                };
                if let Some(mut af) = csaf_affected(&pid, p, &loc, &mut errs) {
                    if k == "first_affected" {
                        // first_affected: this version and later are affected (until a fixed version).
                        if let Some(v) = af.versions.pop() {
                            af.ranges.push(AffectedRange::Osv(OsvRange {
                                kind: RangeKind::Ecosystem,
                                repo: None,
                                events: vec![Event::Introduced(v)],
                            }));
                        }
                    }
                    if k == "last_affected" {
                        if let Some(v) = af.versions.pop() {
                            af.ranges.push(AffectedRange::Osv(OsvRange {
                                kind: RangeKind::Ecosystem,
                                repo: None,
                                events: vec![Event::Introduced("0".into()), Event::LastAffected(v)],
                            }));
                        }
                    }
                    let key = format!("{:?}/{:?}", p.vendor, p.product);
                    if let Some(f) = fixed_by_product.get(&key) {
                        af.fixed = f.clone();
                    }
                    let fresh =
                        serde_json::to_string(&af).map_or(true, |k| affected_seen.insert(k));
                    if fresh {
                        a.affected.push(af);
                    }
                }
            }
        }
        out.push(a);
    }
    if vulns.is_empty() {
        errs.push(diag(location, "CSAF document without vulnerabilities"));
    }
    (out, errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `advisories` fuzz target: a multi-byte character across byte 4 made `is_cve` slice inside it.
    #[test]
    fn is_cve_on_non_ascii_text_does_not_panic() {
        assert!(!is_cve("  \u{fffd}`tfml              "));
        assert!(!is_cve("CV\u{e9}-2024-12345"));
        assert!(is_cve("cve-2024-12345"));
    }

    #[test]
    fn epss_reader() {
        let text = "#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000\ncve,epss,percentile\nCVE-2021-44228,0.94358,0.99961\nCVE-2024-0001,abc,0.5\nnot-a-cve,0.1,0.1\n";
        let (meta, scores, errs) = read_epss("epss.csv", text);
        assert_eq!(meta.model_version.as_deref(), Some("v2025.03.14"));
        assert_eq!(meta.score_date.as_deref(), Some("2025-08-25T00:00:00+0000"));
        assert_eq!(scores.len(), 1);
        assert_eq!(scores[0].cve, "CVE-2021-44228");
        assert_eq!(errs.len(), 2);
        assert!(errs[0].location.ends_with(":4"), "{errs:?}");
    }

    #[test]
    fn osv_json_and_errors() {
        let good = r#"{"id":"GHSA-x","aliases":["CVE-2020-0001"],"modified":"2020-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"Foo_Bar"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1.0"},{"fixed":"1.5"},{"introduced":"2.0"},{"fixed":"2.3"}]}]}]}"#;
        let f = read_advisories("a.json", good.as_bytes());
        assert_eq!(f.format, Some(FeedFormat::OsvJson));
        assert_eq!(f.advisories.len(), 1, "{:?}", f.errors);
        assert_eq!(f.advisories[0].affected[0].fixed, vec!["1.5", "2.3"]);
        assert_eq!(f.advisories[0].canonical_id(), "CVE-2020-0001");
        let bad = r#"[{"id":"X-1","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"fixed":"1"}]}]}]}, {"id":"X-2","modified":"2020-01-01T00:00:00Z","affected":[]}]"#;
        let f = read_advisories("b.json", bad.as_bytes());
        assert_eq!(f.advisories.len(), 1);
        assert_eq!(f.errors.len(), 1);
        assert!(
            f.errors[0].location.contains("b.json[0]")
                && f.errors[0].location.contains("ranges[0]"),
            "{:?}",
            f.errors
        );
        let f = read_advisories("c.json", b"{\"id\": ");
        assert_eq!(f.errors.len(), 1);
        let f = read_advisories("d.json", &[0xff, 0xfe, 0x00]);
        assert!(f.errors[0].message.contains("UTF-8"));
    }

    #[test]
    fn cvss_derivations() {
        let c = Cvss::from_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", None);
        assert_eq!(c.automatable(), Some(true));
        assert_eq!(c.technical_impact(), Some(TechnicalImpact::Total));
        let c = Cvss::from_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", None);
        assert_eq!(c.automatable(), Some(false));
        let c = Cvss::from_vector(
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:L/VA:N/SC:N/SI:N/SA:N/E:A",
            None,
        );
        assert_eq!(c.automatable(), Some(true));
        assert_eq!(c.technical_impact(), Some(TechnicalImpact::Partial));
        assert_eq!(c.exploitation(), Some(Exploitation::Active));
    }
}
