//! Notices: one per member and vulnerability, written for people without a security background ("what is it,
//! why it matters to you, what to do, by when"), with the affected assets, the explained priority and deadline,
//! remediation (fixed versions, CSAF remediations, KEV required action) and references; rendered as JSON,
//! Markdown, HTML (escaped) and CSAF 2.0.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use vigil_model::{ids::vigil_id, Tlp};

use crate::advisory::is_cve;
use crate::index::Index;
use crate::matcher::{Confidence, Finding, ScanResult};
use crate::priority::{Decision, Timeline};

/// Lifecycle state of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeStatus {
    /// Not yet seen by the member.
    New,
    /// The member has seen it.
    Acknowledged,
    /// The member has acted.
    Resolved,
}

/// One affected asset in a notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeAsset {
    /// Component name.
    pub name: String,
    /// Installed version.
    pub version: Option<String>,
    /// Package URL.
    pub purl: Option<String>,
    /// Host, if known.
    pub host: Option<String>,
    /// Where the inventory lists it.
    pub location: String,
    /// How sure the match is.
    pub confidence: Confidence,
    /// One line per source that matched.
    pub evidence: Vec<String>,
}

/// A remediation step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationStep {
    /// `vendor_fix`, `workaround`, `mitigation`, `no_fix_planned`, `none_available` or `required_action`.
    pub category: String,
    /// What to do.
    pub details: String,
    /// More information.
    pub url: Option<String>,
}

/// The plain-language summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// What is it.
    pub what: String,
    /// Why it matters to you.
    pub why: String,
    /// What to do.
    pub action: String,
    /// By when.
    pub by_when: String,
}

/// A notice for one member and one vulnerability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// Stable id over (member, vulnerability).
    pub id: String,
    /// Id over the facts that decide the notice (priority, deadline rule, KEV, EPSS band, assets, fixes): a new
    /// fingerprint means a new notice version; the same fingerprint must not be sent twice.
    pub fingerprint: String,
    /// Member id.
    pub member: String,
    /// Canonical vulnerability id.
    pub vulnerability: String,
    /// Other ids.
    pub aliases: Vec<String>,
    /// Title.
    pub title: String,
    /// SSVC outcome (the most urgent over the member's assets).
    pub priority: Decision,
    /// Deadline (RFC 3339 date), None for "fix on system upgrade".
    pub deadline: Option<String>,
    /// BOD 26-04 row that set the deadline.
    pub deadline_rule: String,
    /// Why this priority.
    pub reasons: Vec<String>,
    /// The member's affected assets.
    pub assets: Vec<NoticeAsset>,
    /// Versions that fix it.
    pub fixed: Vec<String>,
    /// What to do.
    pub remediation: Vec<RemediationStep>,
    /// Plain-language summary.
    pub summary: Summary,
    /// Reference URLs.
    pub references: Vec<String>,
    /// In CISA KEV.
    pub in_kev: bool,
    /// EPSS probability.
    pub epss: Option<f64>,
    /// Highest CVSS base score.
    pub cvss_score: Option<f64>,
    /// Lifecycle state.
    pub status: NoticeStatus,
    /// Sharing restriction.
    pub tlp: Tlp,
    /// When it was written (RFC 3339).
    pub created: String,
}

/// Publisher facts for CSAF output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsafPublisher {
    /// Organisation name.
    pub name: String,
    /// Its namespace URI (`https://csirt.example.gov`).
    pub namespace: String,
}

fn first_sentence(s: &str) -> String {
    let t = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut = t.find(". ").map(|k| k + 1).unwrap_or(t.len());
    let mut out: String = t[..cut].chars().take(300).collect();
    if out.len() < t[..cut].len() {
        out.push('…');
    }
    out
}

/// Builds the notices of one member from a scan of its inventory: findings are grouped by vulnerability, the
/// most urgent asset sets priority and deadline. `now` is the RFC 3339 creation time.
pub fn build_notices(
    member: &str,
    scan: &ScanResult,
    index: &Index,
    tlp: Tlp,
    now: &str,
) -> Vec<Notice> {
    let mut groups: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in &scan.findings {
        groups.entry(f.vulnerability.as_str()).or_default().push(f);
    }
    let mut out = Vec::new();
    for (vuln, fs) in groups {
        let Some(top) = fs
            .iter()
            .min_by(|a, b| a.detail.urgency_cmp(&b.detail))
            .copied()
        else {
            continue;
        };
        let advs = index.advisories_of(vuln);
        let title = advs
            .iter()
            .find_map(|a| a.title.clone())
            .or_else(|| {
                advs.iter()
                    .find_map(|a| a.description.as_deref().map(first_sentence))
            })
            .unwrap_or_else(|| vuln.to_string());
        let description = advs.iter().find_map(|a| a.description.clone());
        let mut fixed: Vec<String> = fs.iter().flat_map(|f| f.fixed.iter().cloned()).collect();
        fixed.sort();
        fixed.dedup();
        let assets: Vec<NoticeAsset> = fs
            .iter()
            .map(|f| NoticeAsset {
                name: f.component.name.clone(),
                version: f.component.version.clone(),
                purl: f.component.purl.clone(),
                host: f.component.host.clone(),
                location: f.component.location.clone(),
                confidence: f.confidence,
                evidence: f
                    .evidence
                    .iter()
                    .map(|e| {
                        // CPE and vendor/product identifiers already name their kind; a bare purl does not.
                        let kind = if e.matched_by == "purl" {
                            "package URL "
                        } else {
                            ""
                        };
                        format!(
                            "{} {} ({}): matched by {kind}{}, {}; {}",
                            e.source,
                            e.advisory,
                            source_place(&e.location),
                            e.identifier,
                            e.range,
                            e.note
                        )
                    })
                    .collect(),
            })
            .collect();
        let mut remediation = Vec::new();
        for f in &fs {
            if !f.fixed.is_empty() {
                let step = RemediationStep {
                    category: "vendor_fix".into(),
                    details: format!(
                        "Upgrade {} from {} to {} or later.",
                        f.component.name,
                        f.component
                            .version
                            .as_deref()
                            .unwrap_or("its current version"),
                        f.fixed.join(" / ")
                    ),
                    url: None,
                };
                if !remediation.contains(&step) {
                    remediation.push(step);
                }
            }
        }
        for a in &advs {
            for r in &a.remediations {
                let step = RemediationStep {
                    category: r.category.clone(),
                    details: r.details.clone(),
                    url: r.url.clone(),
                };
                if !step.details.is_empty()
                    && !remediation.contains(&step)
                    && remediation.len() < 20
                {
                    remediation.push(step);
                }
            }
        }
        let mut references: Vec<String> = Vec::new();
        for a in &advs {
            for r in &a.references {
                if (r.url.starts_with("https://") || r.url.starts_with("http://"))
                    && !r.url.contains(char::is_whitespace)
                    && !references.contains(&r.url)
                    && references.len() < 15
                {
                    references.push(r.url.clone());
                }
            }
        }
        let p = &top.detail;
        let asset_list: Vec<String> = assets
            .iter()
            .map(|a| {
                format!(
                    "{}{}{}",
                    a.name,
                    a.version
                        .as_deref()
                        .map(|v| format!(" {v}"))
                        .unwrap_or_default(),
                    a.host
                        .as_deref()
                        .map(|h| format!(" on {h}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        let aliases: Vec<String> = top.aliases.to_vec();
        let what = format!(
            "{} is a security weakness{}: {}",
            vuln,
            if aliases.is_empty() {
                String::new()
            } else {
                format!(
                    " (also known as {})",
                    aliases
                        .iter()
                        .take(4)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            description
                .as_deref()
                .map(first_sentence)
                .unwrap_or_else(|| title.clone())
        );
        let mut why = format!(
            "Your inventory lists {}, which {} affected.",
            asset_list.join(", "),
            if assets.len() == 1 { "is" } else { "are" }
        );
        if p.in_kev {
            why.push_str(" Attackers are already exploiting it: it is in CISA's catalogue of known exploited vulnerabilities.");
        }
        if index.facts(vuln).ransomware {
            why.push_str(" Ransomware groups are known to use it.");
        }
        if p.exposed {
            why.push_str(" At least one affected system is reachable from the internet.");
        }
        if assets.iter().all(|a| a.confidence == Confidence::Low) {
            why.push_str(" The match rests on product names only: check the installed version before acting.");
        }
        let action = match (fixed.is_empty(), remediation.iter().find(|r| r.category == "required_action")) {
            (false, _) => format!("Update to a fixed version ({}) or later.", fixed.join(", ")),
            (true, Some(r)) => r.details.clone(),
            (true, None) => match remediation.first() {
                Some(r) => r.details.clone(),
                None => "Apply the vendor's update or mitigation; no fixed version is named by the sources yet.".into(),
            },
        };
        let by_when = match (&p.deadline, p.timeline) {
            (Some(d), Timeline::Days3Forensic) => format!(
                "By {d} (within 3 days), and check the affected systems for signs of compromise."
            ),
            (Some(d), t) => format!("By {d} (within {}).", t.label()),
            (None, _) => "At the next planned upgrade of the affected systems.".to_string(),
        };
        let epss_band = p.epss.map(|e| format!("{:.1}", e)).unwrap_or_default();
        let mut fp_parts: Vec<String> = vec![
            p.decision.as_str().into(),
            p.deadline_rule.clone(),
            p.in_kev.to_string(),
            epss_band,
            fixed.join(","),
        ];
        fp_parts.extend(
            assets
                .iter()
                .map(|a| format!("{}@{}", a.name, a.version.as_deref().unwrap_or(""))),
        );
        let fp_refs: Vec<&str> = fp_parts.iter().map(String::as_str).collect();
        out.push(Notice {
            id: vigil_id("notice", &[member, vuln])
                .trim_start_matches("notice--")
                .to_string(),
            fingerprint: vigil_id("notice-facts", &fp_refs)
                .trim_start_matches("notice-facts--")
                .to_string(),
            member: member.to_string(),
            vulnerability: vuln.to_string(),
            aliases,
            title,
            priority: p.decision,
            deadline: p.deadline.clone(),
            deadline_rule: p.deadline_rule.clone(),
            reasons: p.reasons.clone(),
            assets,
            fixed,
            remediation,
            summary: Summary {
                what,
                why,
                action,
                by_when,
            },
            references,
            in_kev: p.in_kev,
            epss: p.epss,
            cvss_score: p.cvss_score,
            status: NoticeStatus::New,
            tlp,
            created: now.to_string(),
        });
    }
    out.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then_with(|| a.deadline.cmp(&b.deadline))
            .then_with(|| a.vulnerability.cmp(&b.vulnerability))
    });
    out
}

/// Where an advisory was read, as the member may see it: a URL whole (the provider's public address), a file by its
/// name and position only (`known_exploited_vulnerabilities.json: vulnerabilities[1107]`): the directories are the
/// CSIRT's own server layout, which notices must not carry to members.
fn source_place(location: &str) -> &str {
    if location.starts_with("https://") || location.starts_with("http://") {
        return location;
    }
    let path_end = location.find(": ").unwrap_or(location.len());
    let name_start = location[..path_end].rfind(['/', '\\']).map_or(0, |k| k + 1);
    &location[name_start..]
}

/// The id over the facts that decide a notice: outcome, deadline rule and date, KEV, whether EPSS is at or above
/// `epss_threshold`, fixed versions and the affected assets. A new fingerprint is a new notice version; the same
/// fingerprint must not be sent again (so an EPSS wobble below the threshold sends nothing).
pub fn fingerprint(n: &Notice, epss_threshold: f64) -> String {
    let mut parts: Vec<String> = vec![
        n.priority.as_str().into(),
        n.deadline_rule.clone(),
        n.deadline.clone().unwrap_or_default(),
        n.in_kev.to_string(),
        n.epss.is_some_and(|e| e >= epss_threshold).to_string(),
        n.fixed.join(","),
        n.tlp.to_string(),
    ];
    let mut assets: Vec<String> = n
        .assets
        .iter()
        .map(|a| {
            format!(
                "{}@{}@{}",
                a.name,
                a.version.as_deref().unwrap_or(""),
                a.host.as_deref().unwrap_or("")
            )
        })
        .collect();
    assets.sort();
    parts.extend(assets);
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    vigil_id("notice-facts", &refs)
        .trim_start_matches("notice-facts--")
        .to_string()
}

/// Says in words what changed between two versions of a notice (for the version history and the member).
pub fn what_changed(old: &Notice, new: &Notice, epss_threshold: f64) -> String {
    let mut out = Vec::new();
    if !old.in_kev && new.in_kev {
        out.push("entered the CISA KEV catalogue (exploited in the wild)".to_string());
    }
    if old.priority != new.priority {
        out.push(format!(
            "priority {} -> {}",
            old.priority.as_str(),
            new.priority.as_str()
        ));
    }
    if old.deadline != new.deadline || old.deadline_rule != new.deadline_rule {
        out.push(format!(
            "deadline {} -> {} ({})",
            old.deadline.as_deref().unwrap_or("next upgrade"),
            new.deadline.as_deref().unwrap_or("next upgrade"),
            new.deadline_rule
        ));
    }
    let hi = |n: &Notice| n.epss.is_some_and(|e| e >= epss_threshold);
    if hi(old) != hi(new) {
        out.push(format!(
            "EPSS {} -> {} ({} the {epss_threshold} threshold)",
            old.epss.map(|e| format!("{e:.3}")).unwrap_or("none".into()),
            new.epss.map(|e| format!("{e:.3}")).unwrap_or("none".into()),
            if hi(new) { "past" } else { "back below" }
        ));
    }
    if old.fixed != new.fixed {
        out.push(format!("fixed versions: {}", new.fixed.join(", ")));
    }
    let names = |n: &Notice| {
        let mut v: Vec<String> = n
            .assets
            .iter()
            .map(|a| format!("{} {}", a.name, a.version.as_deref().unwrap_or("")))
            .collect();
        v.sort();
        v
    };
    if names(old) != names(new) {
        out.push(format!("affected assets now: {}", names(new).join(", ")));
    }
    if old.tlp != new.tlp {
        out.push(format!("marking {} -> {}", old.tlp, new.tlp));
    }
    if out.is_empty() {
        "the deciding facts changed".into()
    } else {
        out.join("; ")
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn md_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#'
        ) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

impl Notice {
    /// True when the deadline has passed and the notice is not resolved (notices without a deadline, "fix on
    /// system upgrade", are never overdue).
    pub fn is_overdue(&self, today: chrono::NaiveDate) -> bool {
        self.status != NoticeStatus::Resolved
            && self
                .deadline
                .as_deref()
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .is_some_and(|d| d < today)
    }

    /// JSON value of the notice.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Markdown rendering (user text escaped).
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# {}: {}\n",
            md_escape(&self.vulnerability),
            md_escape(&self.title)
        );
        let _ = writeln!(
            s,
            "**{}** · priority **{}** · deadline **{}** · member {}\n",
            self.tlp.label(),
            self.priority.as_str(),
            self.deadline.as_deref().unwrap_or("next system upgrade"),
            md_escape(&self.member)
        );
        let _ = writeln!(s, "## What is it\n{}\n", md_escape(&self.summary.what));
        let _ = writeln!(
            s,
            "## Why it matters to you\n{}\n",
            md_escape(&self.summary.why)
        );
        let _ = writeln!(s, "## What to do\n{}\n", md_escape(&self.summary.action));
        let _ = writeln!(s, "## By when\n{}\n", md_escape(&self.summary.by_when));
        let _ = writeln!(s, "## Affected assets");
        for a in &self.assets {
            let _ = writeln!(
                s,
                "- {} {} ({} confidence){}",
                md_escape(&a.name),
                md_escape(a.version.as_deref().unwrap_or("version unknown")),
                serde_json::to_value(a.confidence)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                a.host
                    .as_deref()
                    .map(|h| format!(" on {}", md_escape(h)))
                    .unwrap_or_default()
            );
            for e in &a.evidence {
                let _ = writeln!(s, "  - {}", md_escape(e));
            }
        }
        let _ = writeln!(s, "\n## Remediation");
        for r in &self.remediation {
            let _ = writeln!(
                s,
                "- *{}*: {}{}",
                md_escape(&r.category),
                md_escape(&r.details),
                r.url
                    .as_deref()
                    .map(|u| format!(" <{u}>"))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(s, "\n## Why this priority\n- {}", self.deadline_rule);
        for r in &self.reasons {
            let _ = writeln!(s, "- {}", md_escape(r));
        }
        if !self.references.is_empty() {
            let _ = writeln!(s, "\n## References");
            for r in &self.references {
                let _ = writeln!(s, "- <{r}>");
            }
        }
        s
    }

    /// A self-contained HTML page; every piece of source text is escaped.
    pub fn to_html(&self) -> String {
        let e = html_escape;
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} {}</title></head><body>\n",
            e(&self.vulnerability),
            e(&self.title)
        );
        let _ = writeln!(s, "<p><strong>{}</strong></p>", e(self.tlp.label()));
        let _ = writeln!(s, "<h1>{}: {}</h1>", e(&self.vulnerability), e(&self.title));
        let _ = writeln!(
            s,
            "<p>Priority <strong>{}</strong>, deadline <strong>{}</strong></p>",
            e(self.priority.as_str()),
            e(self.deadline.as_deref().unwrap_or("next system upgrade"))
        );
        for (h, t) in [
            ("What is it", &self.summary.what),
            ("Why it matters to you", &self.summary.why),
            ("What to do", &self.summary.action),
            ("By when", &self.summary.by_when),
        ] {
            let _ = writeln!(s, "<h2>{h}</h2><p>{}</p>", e(t));
        }
        let _ = writeln!(s, "<h2>Affected assets</h2><ul>");
        for a in &self.assets {
            let _ = writeln!(
                s,
                "<li>{} {}<ul>",
                e(&a.name),
                e(a.version.as_deref().unwrap_or("version unknown"))
            );
            for x in &a.evidence {
                let _ = writeln!(s, "<li>{}</li>", e(x));
            }
            let _ = writeln!(s, "</ul></li>");
        }
        let _ = writeln!(s, "</ul><h2>Remediation</h2><ul>");
        for r in &self.remediation {
            let _ = writeln!(s, "<li><em>{}</em>: {}</li>", e(&r.category), e(&r.details));
        }
        let _ = writeln!(
            s,
            "</ul><h2>Why this priority</h2><ul><li>{}</li>",
            e(&self.deadline_rule)
        );
        for r in &self.reasons {
            let _ = writeln!(s, "<li>{}</li>", e(r));
        }
        let _ = writeln!(s, "</ul><h2>References</h2><ul>");
        for r in &self.references {
            let _ = writeln!(s, "<li><a href=\"{0}\">{0}</a></li>", e(r));
        }
        let _ = writeln!(s, "</ul></body></html>");
        s
    }

    /// A CSAF 2.0 `csaf_security_advisory` document for this notice. CSAF 2.0 knows only TLP 1.0 labels:
    /// CLEAR is written as WHITE, and AMBER+STRICT as AMBER with the restriction stated in
    /// `distribution.text`.
    pub fn to_csaf(&self, publisher: &CsafPublisher) -> Value {
        let (label, text) = match self.tlp {
            Tlp::Clear => ("WHITE", None),
            Tlp::Green => ("GREEN", None),
            Tlp::Amber => ("AMBER", None),
            Tlp::AmberStrict => (
                "AMBER",
                Some("TLP:AMBER+STRICT: share only within the recipient's own organisation, on a need-to-know basis (written as AMBER because CSAF 2.0 has no AMBER+STRICT)."),
            ),
            Tlp::Red => ("RED", None),
        };
        let mut distribution =
            json!({"tlp": {"label": label, "url": "https://www.first.org/tlp/"}});
        if let Some(t) = text {
            distribution["text"] = json!(t);
        }
        let mut branches: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut pids = Vec::new();
        for (i, a) in self.assets.iter().enumerate() {
            let pid = format!("CSAFPID-{:04}", i + 1);
            let vendor = a
                .purl
                .as_deref()
                .and_then(|p| p.strip_prefix("pkg:"))
                .and_then(|p| p.split('/').next())
                .map(|t| format!("{t} ecosystem"))
                .unwrap_or_else(|| "inventory".to_string());
            let version = a.version.clone().unwrap_or_else(|| "unknown".into());
            let mut product = json!({"name": format!("{} {}", a.name, version), "product_id": pid});
            let mut helper = serde_json::Map::new();
            if let Some(p) = &a.purl {
                helper.insert("purl".into(), json!(p));
            }
            if !helper.is_empty() {
                product["product_identification_helper"] = Value::Object(helper);
            }
            branches.entry(vendor).or_default().push(json!({
                "category": "product_name",
                "name": a.name,
                "branches": [{"category": "product_version", "name": version, "product": product}]
            }));
            pids.push(pid);
        }
        let tree_branches: Vec<Value> = branches
            .into_iter()
            .map(|(v, b)| json!({"category": "vendor", "name": v, "branches": b}))
            .collect();
        let mut vuln = serde_json::Map::new();
        if is_cve(&self.vulnerability) {
            vuln.insert("cve".into(), json!(self.vulnerability));
        }
        let mut ids: Vec<Value> = Vec::new();
        for a in std::iter::once(&self.vulnerability).chain(self.aliases.iter()) {
            if is_cve(a) && a == &self.vulnerability {
                continue;
            }
            if is_cve(a) {
                continue;
            }
            let sys = a.split('-').next().unwrap_or("id").to_string();
            ids.push(json!({"system_name": sys, "text": a}));
        }
        if !ids.is_empty() {
            vuln.insert("ids".into(), json!(ids));
        }
        vuln.insert("title".into(), json!(self.title));
        vuln.insert(
            "notes".into(),
            json!([
                {"category": "description", "title": "What is it", "text": self.summary.what},
                {"category": "general", "title": "Why it matters to you", "text": self.summary.why},
                {"category": "details", "title": "Why this priority", "text": format!("{}. {}", self.deadline_rule, self.reasons.join("; "))}
            ]),
        );
        vuln.insert("product_status".into(), json!({"known_affected": pids}));
        let mut rems: Vec<Value> = Vec::new();
        for r in &self.remediation {
            let cat = match r.category.as_str() {
                c @ ("vendor_fix" | "workaround" | "mitigation" | "no_fix_planned"
                | "none_available") => c,
                _ => "mitigation",
            };
            let mut x = json!({"category": cat, "details": r.details, "product_ids": pids});
            if let Some(u) = &r.url {
                if u.starts_with("http") && !u.contains(char::is_whitespace) {
                    x["url"] = json!(u);
                }
            }
            if cat == "vendor_fix" || cat == "mitigation" {
                if let Some(d) = &self.deadline {
                    x["date"] = json!(format!("{d}T00:00:00Z"));
                }
            }
            rems.push(x);
        }
        if rems.is_empty() {
            rems.push(json!({"category": "none_available", "details": self.summary.action, "product_ids": pids}));
        }
        vuln.insert("remediations".into(), json!(rems));
        let mut threats = vec![
            json!({"category": "impact", "details": format!("SSVC {}: {}. Deadline: {}", self.priority.as_str(), self.priority.meaning(), self.summary.by_when), "product_ids": pids}),
        ];
        if self.in_kev {
            threats.push(json!({"category": "exploit_status", "details": "Exploited in the wild: listed in the CISA Known Exploited Vulnerabilities catalogue.", "product_ids": pids}));
        }
        vuln.insert("threats".into(), json!(threats));
        let refs: Vec<Value> = self
            .references
            .iter()
            .map(|u| json!({"category": "external", "summary": "source reference", "url": u}))
            .collect();
        if !refs.is_empty() {
            vuln.insert("references".into(), json!(refs));
        }
        let created = self.created.clone();
        json!({
            "document": {
                "category": "csaf_security_advisory",
                "csaf_version": "2.0",
                "lang": "en",
                "title": format!("{}: {} — notice for {}", self.vulnerability, self.title, self.member),
                "publisher": {"category": "coordinator", "name": publisher.name, "namespace": publisher.namespace},
                "distribution": distribution,
                "aggregate_severity": {"text": self.priority.as_str()},
                "notes": [
                    {"category": "summary", "title": "What to do", "text": format!("{} {}", self.summary.action, self.summary.by_when)},
                    {"category": "legal_disclaimer", "title": "Basis", "text": "Prioritised with the CISA SSVC coordinator tree and the CISA BOD 26-04 timeline table from the facts listed in the vulnerability notes."}
                ],
                "tracking": {
                    "id": format!("VIGIL-{}", self.id),
                    "status": "final",
                    "version": "1",
                    "revision_history": [{"date": created, "number": "1", "summary": "Initial notice."}],
                    "initial_release_date": created,
                    "current_release_date": created,
                    "generator": {"engine": {"name": "Vigil", "version": env!("CARGO_PKG_VERSION")}}
                }
            },
            "product_tree": {"branches": tree_branches},
            "vulnerabilities": [Value::Object(vuln)]
        })
    }
}

/// Where a notice goes in STIX: the member it is addressed to and the organisation that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StixAddress<'a> {
    /// The member's STIX identity.
    pub member_identity: &'a str,
    /// The operator's STIX identity (`created_by_ref`).
    pub author_identity: &'a str,
}

/// The STIX id of the report that carries a notice (stable over its versions: each version is a new `modified`).
pub fn stix_report_id(notice_id: &str) -> String {
    vigil_id("report", &["vigil-notice", notice_id])
}

/// One version of a notice as a STIX 2.1 `report` for the member's own collection: the plain-language summary
/// as `description` (Markdown), the priority and deadline as labels, the notice itself under `x_vigil_notice`,
/// marked with the notice's TLP. `first_sent` and `sent` are STIX timestamps (first version, this version).
pub fn stix_report(
    n: &Notice,
    notice_id: &str,
    version: i64,
    first_sent: &str,
    sent: &str,
    to: &StixAddress<'_>,
) -> Value {
    let mut refs = vec![to.member_identity.to_string()];
    if to.author_identity != to.member_identity {
        refs.push(to.author_identity.to_string());
    }
    let mut ext = Vec::new();
    for id in std::iter::once(&n.vulnerability).chain(n.aliases.iter()) {
        if is_cve(id) {
            ext.push(json!({"source_name": "cve", "external_id": id,
                "url": format!("https://www.cve.org/CVERecord?id={id}")}));
        }
    }
    for u in n.references.iter().take(20) {
        ext.push(json!({"source_name": "reference", "url": u}));
    }
    let mut labels = vec![
        format!("priority:{}", n.priority.as_str()),
        format!("notice-version:{version}"),
    ];
    if n.in_kev {
        labels.push("kev".into());
    }
    if let Some(d) = &n.deadline {
        labels.push(format!("deadline:{d}"));
    }
    let mut v = json!({
        "type": "report", "spec_version": "2.1", "id": stix_report_id(notice_id),
        "created": first_sent, "modified": sent, "published": sent,
        "name": format!("Vigil notice: {} — {}", n.vulnerability, n.title),
        "description": n.to_markdown(),
        "report_types": ["vulnerability"],
        "object_refs": refs,
        "created_by_ref": to.author_identity,
        "labels": labels,
        "object_marking_refs": [n.tlp.marking_id()],
        "x_vigil_notice": {
            "id": notice_id, "version": version, "priority": n.priority.as_str(),
            "deadline": n.deadline, "summary": n.summary, "fingerprint": n.fingerprint,
        },
    });
    if !ext.is_empty() {
        v["external_references"] = Value::Array(ext);
    }
    v
}

/// A change of a notice's status (`acknowledged`, `resolved`, `new` when reopened) as a STIX `note` on the
/// notice's report, with the same marking; `at` is a STIX timestamp.
pub fn stix_status_note(
    notice_id: &str,
    status: &str,
    why: &str,
    at: &str,
    tlp: Tlp,
    to: &StixAddress<'_>,
) -> Value {
    let abstract_ = match status {
        "acknowledged" => "Notice acknowledged".to_string(),
        "resolved" => "Notice resolved".to_string(),
        "new" => "Notice reopened".to_string(),
        other => format!("Notice status: {other}"),
    };
    json!({
        "type": "note", "spec_version": "2.1",
        "id": vigil_id("note", &["vigil-notice-status", notice_id, status, at]),
        "created": at, "modified": at,
        "abstract": abstract_,
        "content": if why.is_empty() { abstract_.clone() } else { format!("{abstract_}: {why}") },
        "object_refs": [stix_report_id(notice_id), to.member_identity],
        "created_by_ref": to.author_identity,
        "object_marking_refs": [tlp.marking_id()],
        "x_vigil_notice": {"id": notice_id, "status": status},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            html_escape("<script>alert('x')&\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;&lt;/script&gt;"
        );
        assert_eq!(md_escape("a*b_[c]"), "a\\*b\\_\\[c\\]");
    }

    #[test]
    fn sources_are_named_without_the_servers_directories() {
        for (stored, shown) in [
            (
                "/var/lib/vigil/feeds/kev/known_exploited_vulnerabilities.json: vulnerabilities[1107]",
                "known_exploited_vulnerabilities.json: vulnerabilities[1107]",
            ),
            ("/srv/osv/PYSEC-2021-1.json", "PYSEC-2021-1.json"),
            (
                "C:\\vigil\\csaf\\rhsa-2024_1.json: vulnerabilities[0]",
                "rhsa-2024_1.json: vulnerabilities[0]",
            ),
            ("cve5-demo.json: containers.cna", "cve5-demo.json: containers.cna"),
            // A pointer that holds a slash keeps it: only the path before it is cut.
            ("/d/x.json: a/b", "x.json: a/b"),
            (
                "https://psirt.example/.well-known/csaf/white/2024/a.json",
                "https://psirt.example/.well-known/csaf/white/2024/a.json",
            ),
        ] {
            assert_eq!(source_place(stored), shown, "{stored}");
        }
    }
}
