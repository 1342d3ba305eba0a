//! Prioritisation that explains itself: the CISA SSVC coordinator tree (Track / Track* / Attend / Act) and the
//! CISA BOD 26-04 remediation timeline table, with the inputs derived from KEV, CISA vulnrichment SSVC points
//! and CVSS vectors, every derivation and assumption written into `reasons`. EPSS, CVSS and known actor use
//! order findings within one outcome.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::advisory::{Cvss, SsvcFacts};

/// SSVC Exploitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exploitation {
    /// No evidence of exploitation.
    None,
    /// A public proof of concept exists.
    PublicPoc,
    /// Exploited in the wild (KEV).
    Active,
}

/// SSVC Technical Impact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TechnicalImpact {
    /// Limited control or information exposure.
    Partial,
    /// Total control of the component or total information disclosure.
    Total,
}

/// Mission and well-being impact of the asset (the member's mission criticality).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

impl Criticality {
    /// Parses `low|medium|high` (case-insensitive; `med` accepted).
    pub fn parse(s: &str) -> Option<Criticality> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Some(Criticality::Low),
            "medium" | "med" => Some(Criticality::Medium),
            "high" => Some(Criticality::High),
            _ => None,
        }
    }
}

/// The CISA SSVC outcome, ordered from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Decision {
    /// No action now; remediate within standard timelines.
    #[serde(rename = "track")]
    Track,
    /// Monitor closely; standard timelines.
    #[serde(rename = "track*")]
    TrackStar,
    /// Supervisory attention; remediate sooner than standard.
    #[serde(rename = "attend")]
    Attend,
    /// Leadership attention; remediate as soon as possible.
    #[serde(rename = "act")]
    Act,
}

impl Decision {
    /// `track`, `track*`, `attend` or `act`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Track => "track",
            Decision::TrackStar => "track*",
            Decision::Attend => "attend",
            Decision::Act => "act",
        }
    }

    /// CISA's plain-language definition of the outcome.
    pub fn meaning(self) -> &'static str {
        match self {
            Decision::Track => "no action needed now; remediate within standard update timelines",
            Decision::TrackStar => {
                "monitor closely for changes; remediate within standard update timelines"
            }
            Decision::Attend => {
                "needs attention from supervisors; remediate sooner than standard timelines"
            }
            Decision::Act => "needs leadership attention; remediate as soon as possible",
        }
    }
}

/// The CISA coordinator tree (`cisa_coordinator_2_0_3.csv`): rows of (exploitation, automatable, technical
/// impact) with the outcome for mission & well-being low, medium, high.
pub const CISA_TREE: [(Exploitation, bool, TechnicalImpact, [Decision; 3]); 12] = {
    use Decision::*;
    use Exploitation as E;
    use TechnicalImpact::*;
    [
        (E::None, false, Partial, [Track, Track, Track]),
        (E::None, false, Total, [Track, Track, TrackStar]),
        (E::None, true, Partial, [Track, Track, Attend]),
        (E::None, true, Total, [Track, Track, Attend]),
        (E::PublicPoc, false, Partial, [Track, Track, TrackStar]),
        (E::PublicPoc, false, Total, [Track, TrackStar, Attend]),
        (E::PublicPoc, true, Partial, [Track, Track, Attend]),
        (E::PublicPoc, true, Total, [Track, TrackStar, Attend]),
        (E::Active, false, Partial, [Track, Track, Attend]),
        (E::Active, false, Total, [Track, Attend, Act]),
        (E::Active, true, Partial, [Attend, Attend, Act]),
        (E::Active, true, Total, [Attend, Act, Act]),
    ]
};

/// The SSVC decision of the CISA tree.
pub fn cisa_decision(
    e: Exploitation,
    automatable: bool,
    impact: TechnicalImpact,
    mission: Criticality,
) -> Decision {
    let col = match mission {
        Criticality::Low => 0,
        Criticality::Medium => 1,
        Criticality::High => 2,
    };
    CISA_TREE
        .iter()
        .find(|(x, a, t, _)| *x == e && *a == automatable && *t == impact)
        .map(|r| r.3[col])
        .unwrap_or(Decision::Act)
}

/// A BOD 26-04 remediation timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timeline {
    /// Fix on the next system upgrade.
    FixOnUpgrade,
    /// 60 days.
    Days60,
    /// 14 days.
    Days14,
    /// 3 days.
    Days3,
    /// 3 days, and a forensic investigation.
    Days3Forensic,
}

impl Timeline {
    /// Days to the deadline (None: next system upgrade).
    pub fn days(self) -> Option<i64> {
        match self {
            Timeline::FixOnUpgrade => None,
            Timeline::Days60 => Some(60),
            Timeline::Days14 => Some(14),
            Timeline::Days3 | Timeline::Days3Forensic => Some(3),
        }
    }

    /// The table's wording.
    pub fn label(self) -> &'static str {
        match self {
            Timeline::FixOnUpgrade => "fix on system upgrade",
            Timeline::Days60 => "60 days",
            Timeline::Days14 => "14 days",
            Timeline::Days3 => "3 days",
            Timeline::Days3Forensic => "3 days & forensic investigation",
        }
    }
}

/// The BOD 26-04 table (`cisa_bod_26_04_1_0_0.csv`): (in KEV, publicly exposed, automatable, technical impact
/// or None for "partial/total", timeline).
pub const BOD_26_04: [(bool, bool, bool, Option<TechnicalImpact>, Timeline); 13] = {
    use TechnicalImpact::*;
    use Timeline::*;
    [
        (false, false, false, None, FixOnUpgrade),
        (false, false, true, None, Days60),
        (false, true, false, Some(Partial), Days60),
        (false, true, false, Some(Total), Days14),
        (false, true, true, Some(Partial), Days14),
        (false, true, true, Some(Total), Days3),
        (true, false, false, None, Days14),
        (true, false, true, Some(Partial), Days14),
        (true, false, true, Some(Total), Days3Forensic),
        (true, true, false, Some(Partial), Days14),
        (true, true, false, Some(Total), Days3Forensic),
        (true, true, true, Some(Partial), Days3),
        (true, true, true, Some(Total), Days3Forensic),
    ]
};

fn yn(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The BOD 26-04 timeline and the name of the table row that gave it.
pub fn bod_26_04(
    in_kev: bool,
    exposed: bool,
    automatable: bool,
    impact: TechnicalImpact,
) -> (Timeline, String) {
    let row = BOD_26_04.iter().find(|(k, e, a, t, _)| {
        *k == in_kev && *e == exposed && *a == automatable && t.is_none_or(|t| t == impact)
    });
    let (timeline, t_label) = match row {
        Some((_, _, _, t, tl)) => (
            *tl,
            t.map_or("partial/total", |t| {
                if t == TechnicalImpact::Total {
                    "total"
                } else {
                    "partial"
                }
            }),
        ),
        None => (Timeline::Days3Forensic, "?"),
    };
    let rule = format!(
        "BOD 26-04: in KEV={}, publicly exposed={}, automatable={}, technical impact={} -> {}",
        yn(in_kev),
        yn(exposed),
        yn(automatable),
        t_label,
        timeline.label()
    );
    (timeline, rule)
}

/// What is known about a vulnerability, gathered from all sources.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VulnFacts {
    /// Listed in CISA KEV.
    pub in_kev: bool,
    /// KEV says ransomware campaigns use it.
    pub ransomware: bool,
    /// SSVC decision points stated by a source (vulnrichment).
    pub ssvc: Option<SsvcFacts>,
    /// CVSS vectors.
    pub cvss: Vec<Cvss>,
    /// EPSS probability and percentile.
    pub epss: Option<(f64, f64)>,
    /// A source reports a public exploit (reference tagged `exploit`, CSAF exploit_status threat).
    pub public_exploit: bool,
    /// Threat actors or malware known to use it (names).
    pub actors: Vec<String>,
}

/// The asset side of the decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AssetContext {
    /// Internet-facing (None: unknown, assumed not).
    pub internet_facing: Option<bool>,
    /// Mission criticality (None: unknown, assumed medium).
    pub criticality: Option<Criticality>,
}

/// The explained priority of one finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Priority {
    /// SSVC outcome.
    pub decision: Decision,
    /// The SSVC inputs used.
    pub exploitation: Exploitation,
    /// Automatable input used.
    pub automatable: bool,
    /// Technical impact input used.
    pub technical_impact: TechnicalImpact,
    /// Mission criticality used.
    pub mission: Criticality,
    /// Publicly exposed input used for BOD 26-04.
    pub exposed: bool,
    /// In KEV.
    pub in_kev: bool,
    /// BOD 26-04 timeline.
    pub timeline: Timeline,
    /// Deadline (RFC 3339 full-date), None for "fix on system upgrade".
    pub deadline: Option<String>,
    /// The BOD 26-04 table row that set the deadline.
    pub deadline_rule: String,
    /// Why: each input's source, derivation or assumption.
    pub reasons: Vec<String>,
    /// EPSS probability (tie-breaker).
    pub epss: Option<f64>,
    /// EPSS percentile.
    pub epss_percentile: Option<f64>,
    /// Highest CVSS base score known (tie-breaker).
    pub cvss_score: Option<f64>,
    /// Known actors (tie-breaker).
    pub actors: Vec<String>,
}

impl Priority {
    /// Orders by urgency, most urgent first: SSVC outcome, then BOD timeline, then KEV, known actor use, EPSS,
    /// CVSS.
    pub fn urgency_cmp(&self, o: &Priority) -> std::cmp::Ordering {
        let f = |x: Option<f64>| x.unwrap_or(-1.0);
        o.decision
            .cmp(&self.decision)
            .then(o.timeline.cmp(&self.timeline))
            .then(o.in_kev.cmp(&self.in_kev))
            .then((!o.actors.is_empty()).cmp(&!self.actors.is_empty()))
            .then(f(o.epss).total_cmp(&f(self.epss)))
            .then(f(o.cvss_score).total_cmp(&f(self.cvss_score)))
    }
}

/// The vulnerability side of the decision: the SSVC inputs that do not depend on the asset, with the reasons
/// saying where each came from. Computed once per vulnerability (the index keeps one per vulnerability).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// Exploitation.
    pub exploitation: Exploitation,
    /// Automatable.
    pub automatable: bool,
    /// Technical impact.
    pub technical_impact: TechnicalImpact,
    /// In KEV.
    pub in_kev: bool,
    /// Reasons for the three inputs above.
    pub reasons: Vec<String>,
    /// Supporting facts (EPSS, ransomware, actors) as reasons.
    pub supporting: Vec<String>,
    /// EPSS probability and percentile.
    pub epss: Option<(f64, f64)>,
    /// Highest CVSS base score.
    pub cvss_score: Option<f64>,
    /// Known actors.
    pub actors: Vec<String>,
}

/// Derives the asset-independent SSVC inputs from the facts: KEV means active exploitation; otherwise stated
/// SSVC points, then CVSS (v4 threat metric, then the base vector), and where nothing is known the worse value,
/// each choice written into the reasons.
pub fn assess(facts: &VulnFacts) -> Assessment {
    let mut reasons = Vec::new();
    let ssvc = facts.ssvc.clone().unwrap_or_default();
    let cvss = best_cvss(&facts.cvss);
    let exploitation = if facts.in_kev {
        reasons.push("exploitation: active (listed in CISA KEV)".to_string());
        Exploitation::Active
    } else if let Some(e) = ssvc.exploitation {
        reasons.push(format!(
            "exploitation: {} (stated by {})",
            exploitation_label(e),
            ssvc.source
        ));
        e
    } else if let Some(e) = facts.cvss.iter().find_map(Cvss::exploitation) {
        reasons.push(format!(
            "exploitation: {} (CVSS v4 threat metric E)",
            exploitation_label(e)
        ));
        e
    } else if facts.public_exploit {
        reasons.push("exploitation: public PoC (a source references a public exploit)".to_string());
        Exploitation::PublicPoc
    } else {
        // SSVC's `none` means "no evidence": KEV, vulnrichment and references were all consulted.
        reasons.push(
            "exploitation: none (not in KEV, no report of exploitation or public exploit)"
                .to_string(),
        );
        Exploitation::None
    };
    let automatable = if let Some(a) = ssvc.automatable {
        reasons.push(format!(
            "automatable: {} (stated by {})",
            yn(a),
            ssvc.source
        ));
        a
    } else if let Some((c, a)) = cvss.and_then(|c| c.automatable().map(|a| (c, a))) {
        reasons.push(format!(
            "automatable: {} (derived from CVSS {}: {})",
            yn(a),
            c.vector,
            if a {
                "network, no privileges, no user interaction"
            } else {
                "not network/no-privilege/no-interaction"
            }
        ));
        a
    } else {
        reasons.push(
            "automatable: yes (unknown: no SSVC data or CVSS vector, the worse value is assumed)"
                .to_string(),
        );
        true
    };
    let technical_impact = if let Some(t) = ssvc.technical_impact {
        reasons.push(format!(
            "technical impact: {} (stated by {})",
            impact_label(t),
            ssvc.source
        ));
        t
    } else if let Some((c, t)) = cvss.and_then(|c| c.technical_impact().map(|t| (c, t))) {
        reasons.push(format!(
            "technical impact: {} (derived from CVSS {}: {})",
            impact_label(t),
            c.vector,
            if t == TechnicalImpact::Total {
                "high confidentiality, integrity and availability impact"
            } else {
                "not all of C/I/A high"
            }
        ));
        t
    } else {
        reasons.push("technical impact: total (unknown: no SSVC data or CVSS vector, the worse value is assumed)".to_string());
        TechnicalImpact::Total
    };
    let mut supporting = Vec::new();
    if let Some((e, p)) = facts.epss {
        supporting.push(format!(
            "EPSS {e:.3} (percentile {p:.3}) orders it among equal outcomes"
        ));
    }
    if facts.ransomware {
        supporting.push("KEV: known use in ransomware campaigns".to_string());
    }
    if !facts.actors.is_empty() {
        supporting.push(format!("known to be used by: {}", facts.actors.join(", ")));
    }
    Assessment {
        exploitation,
        automatable,
        technical_impact,
        in_kev: facts.in_kev,
        reasons,
        supporting,
        epss: facts.epss,
        cvss_score: facts
            .cvss
            .iter()
            .filter_map(|c| c.score)
            .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s)))),
        actors: facts.actors.clone(),
    }
}

/// Computes the priority of a vulnerability on an asset, as of `today`.
pub fn prioritise(facts: &VulnFacts, asset: &AssetContext, today: NaiveDate) -> Priority {
    decide(&assess(facts), asset, today)
}

/// The asset side of the decision: mission criticality and exposure (or their stated assumptions), the SSVC
/// outcome, and the BOD 26-04 deadline.
pub fn decide(a: &Assessment, asset: &AssetContext, today: NaiveDate) -> Priority {
    let (exploitation, automatable, technical_impact) =
        (a.exploitation, a.automatable, a.technical_impact);
    let mut reasons = Vec::with_capacity(a.reasons.len() + a.supporting.len() + 3);
    reasons.extend(a.reasons.iter().cloned());
    let mission = match asset.criticality {
        Some(c) => {
            reasons.push(format!(
                "mission criticality: {} (from the inventory)",
                crit_label(c)
            ));
            c
        }
        None => {
            reasons.push(
                "mission criticality: medium (assumed: the inventory does not say)".to_string(),
            );
            Criticality::Medium
        }
    };
    let exposed = match asset.internet_facing {
        Some(e) => {
            reasons.push(format!("publicly exposed: {} (from the inventory)", yn(e)));
            e
        }
        None => {
            reasons.push("publicly exposed: no (assumed: the inventory does not say the asset is internet-facing)".to_string());
            false
        }
    };
    let decision = cisa_decision(exploitation, automatable, technical_impact, mission);
    reasons.push(format!(
        "SSVC (CISA tree): {} — {}",
        decision.as_str(),
        decision.meaning()
    ));
    let (timeline, deadline_rule) = bod_26_04(a.in_kev, exposed, automatable, technical_impact);
    let deadline = timeline
        .days()
        .map(|d| (today + Duration::days(d)).format("%Y-%m-%d").to_string());
    reasons.extend(a.supporting.iter().cloned());
    Priority {
        decision,
        exploitation,
        automatable,
        technical_impact,
        mission,
        exposed,
        in_kev: a.in_kev,
        timeline,
        deadline,
        deadline_rule,
        reasons,
        epss: a.epss.map(|e| e.0),
        epss_percentile: a.epss.map(|e| e.1),
        cvss_score: a.cvss_score,
        actors: a.actors.clone(),
    }
}

/// The most informative CVSS vector: v3.1, then v4.0, v3.0, v2.
fn best_cvss(v: &[Cvss]) -> Option<&Cvss> {
    ["3.1", "4.0", "3.0", "2.0"]
        .iter()
        .find_map(|ver| v.iter().find(|c| c.version == *ver))
}

fn exploitation_label(e: Exploitation) -> &'static str {
    match e {
        Exploitation::None => "none",
        Exploitation::PublicPoc => "public PoC",
        Exploitation::Active => "active",
    }
}

fn impact_label(t: TechnicalImpact) -> &'static str {
    match t {
        TechnicalImpact::Partial => "partial",
        TechnicalImpact::Total => "total",
    }
}

fn crit_label(c: Criticality) -> &'static str {
    match c {
        Criticality::Low => "low",
        Criticality::Medium => "medium",
        Criticality::High => "high",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;

    /// Every row of the CISA coordinator tree, written out from reference.md independently of [`CISA_TREE`].
    #[test]
    fn cisa_tree_every_row() {
        let rows = "none,no,partial,track,track,track
none,no,total,track,track,track*
none,yes,partial,track,track,attend
none,yes,total,track,track,attend
public poc,no,partial,track,track,track*
public poc,no,total,track,track*,attend
public poc,yes,partial,track,track,attend
public poc,yes,total,track,track*,attend
active,no,partial,track,track,attend
active,no,total,track,attend,act
active,yes,partial,attend,attend,act
active,yes,total,attend,act,act";
        for line in rows.lines() {
            let f: Vec<&str> = line.split(',').collect();
            let e = match f[0] {
                "none" => Exploitation::None,
                "public poc" => Exploitation::PublicPoc,
                _ => Exploitation::Active,
            };
            let a = f[1] == "yes";
            let t = if f[2] == "total" {
                TechnicalImpact::Total
            } else {
                TechnicalImpact::Partial
            };
            for (k, m) in [Criticality::Low, Criticality::Medium, Criticality::High]
                .into_iter()
                .enumerate()
            {
                assert_eq!(
                    cisa_decision(e, a, t, m).as_str(),
                    f[3 + k],
                    "{line} / {m:?}"
                );
            }
        }
    }

    /// Every row of the BOD 26-04 table from reference.md; "partial/total" rows are checked for both impacts.
    #[test]
    fn bod_every_row() {
        let rows = "no,no,no,partial/total,fix on system upgrade
no,no,yes,partial/total,60 days
no,yes,no,partial,60 days
no,yes,no,total,14 days
no,yes,yes,partial,14 days
no,yes,yes,total,3 days
yes,no,no,partial/total,14 days
yes,no,yes,partial,14 days
yes,no,yes,total,3 days & forensic investigation
yes,yes,no,partial,14 days
yes,yes,no,total,3 days & forensic investigation
yes,yes,yes,partial,3 days
yes,yes,yes,total,3 days & forensic investigation";
        let mut covered = 0;
        for line in rows.lines() {
            let f: Vec<&str> = line.split(',').collect();
            let impacts: Vec<TechnicalImpact> = match f[3] {
                "partial" => vec![TechnicalImpact::Partial],
                "total" => vec![TechnicalImpact::Total],
                _ => vec![TechnicalImpact::Partial, TechnicalImpact::Total],
            };
            for t in impacts {
                let (tl, rule) = bod_26_04(f[0] == "yes", f[1] == "yes", f[2] == "yes", t);
                assert_eq!(tl.label(), f[4], "{line}");
                assert!(
                    rule.contains(&format!("in KEV={}", f[0])) && rule.ends_with(f[4]),
                    "{rule}"
                );
                covered += 1;
            }
        }
        assert_eq!(covered, 16, "all 16 input combinations");
    }

    #[test]
    fn derivations_and_assumptions_are_explained() {
        let today = NaiveDate::from_ymd_opt(2026, 1, 10).unwrap();
        let facts = VulnFacts {
            cvss: vec![Cvss::from_vector(
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                Some(9.8),
            )],
            ..Default::default()
        };
        let p = prioritise(&facts, &AssetContext::default(), today);
        assert_eq!(p.decision, Track);
        assert!(p.automatable && p.technical_impact == TechnicalImpact::Total);
        assert_eq!(p.timeline, Timeline::Days60);
        assert_eq!(p.deadline.as_deref(), Some("2026-03-11"));
        assert!(p.reasons.iter().any(|r| r.contains("derived from CVSS")));
        assert!(p.reasons.iter().any(|r| r.contains("assumed")));
        let kev = VulnFacts {
            in_kev: true,
            ..Default::default()
        };
        let asset = AssetContext {
            internet_facing: Some(true),
            criticality: Some(Criticality::High),
        };
        let p = prioritise(&kev, &asset, today);
        assert_eq!(p.decision, Act);
        assert_eq!(p.timeline, Timeline::Days3Forensic);
        assert_eq!(p.deadline.as_deref(), Some("2026-01-13"));
        assert!(p.reasons.iter().any(|r| r.contains("worse value")));
        assert!(p.deadline_rule.contains("3 days & forensic investigation"));
    }
}
