//! Indicator scores: confidence x source reliability, decayed by age with a half-life per indicator type, and
//! analyst overrides that no later source can reset.
//!
//! Formula: `score = confidence x reliability_factor x 0.5^(age_days / half_life_days)`, in 0..=100, where
//! `confidence` is the STIX confidence (0..=100; [`DecayConfig::default_confidence`] when absent),
//! `reliability_factor` comes from the source's Admiralty reliability letter (A 1.0, B 0.9, C 0.75, D 0.5,
//! E 0.25, F 0.5 = "cannot be judged"), and `age_days` counts from the indicator's last confirmation
//! (`modified`/last seen) to now. An analyst-set score replaces the formula and does not decay.
//!
//! Default half-lives (configurable): IP addresses 14 days (they are reassigned fast), CIDR blocks 30, domains
//! 60, URLs 45, e-mail addresses 180, file hashes 3650 (a hash never stops meaning that file). Default
//! `min_score` for hunts, snapshots and exports: 20.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::set::HitType;

/// Admiralty-code source reliability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reliability {
    /// Completely reliable.
    A,
    /// Usually reliable.
    B,
    /// Fairly reliable.
    C,
    /// Not usually reliable.
    D,
    /// Unreliable.
    E,
    /// Reliability cannot be judged.
    F,
}

impl Reliability {
    /// Multiplier applied to the confidence.
    pub fn factor(self) -> f64 {
        match self {
            Reliability::A => 1.0,
            Reliability::B => 0.9,
            Reliability::C => 0.75,
            Reliability::D => 0.5,
            Reliability::E => 0.25,
            Reliability::F => 0.5,
        }
    }

    /// Parses `A`..`F` (case-insensitive).
    pub fn parse(s: &str) -> Option<Reliability> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "A" => Reliability::A,
            "B" => Reliability::B,
            "C" => Reliability::C,
            "D" => Reliability::D,
            "E" => Reliability::E,
            "F" => Reliability::F,
            _ => return None,
        })
    }
}

/// Decay settings. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecayConfig {
    /// Half-life of IPv4/IPv6 addresses, days.
    pub ip_days: f64,
    /// Half-life of CIDR blocks, days.
    pub cidr_days: f64,
    /// Half-life of domains, days.
    pub domain_days: f64,
    /// Half-life of URLs, days.
    pub url_days: f64,
    /// Half-life of e-mail addresses, days.
    pub email_days: f64,
    /// Half-life of file hashes, days.
    pub hash_days: f64,
    /// Half-life of other patterns, days.
    pub other_days: f64,
    /// Confidence assumed when an indicator has none.
    pub default_confidence: f64,
    /// Default `--min-score`.
    pub min_score: f32,
}

impl Default for DecayConfig {
    fn default() -> Self {
        DecayConfig {
            ip_days: 14.0,
            cidr_days: 30.0,
            domain_days: 60.0,
            url_days: 45.0,
            email_days: 180.0,
            hash_days: 3650.0,
            other_days: 90.0,
            default_confidence: 50.0,
            min_score: 20.0,
        }
    }
}

impl DecayConfig {
    /// Half-life for an indicator type (None = a general pattern).
    pub fn half_life_days(&self, kind: Option<HitType>) -> f64 {
        match kind {
            Some(HitType::Ipv4 | HitType::Ipv6) => self.ip_days,
            Some(HitType::Cidr) => self.cidr_days,
            Some(HitType::Domain) => self.domain_days,
            Some(HitType::Url) => self.url_days,
            Some(HitType::Email) => self.email_days,
            Some(HitType::Md5 | HitType::Sha1 | HitType::Sha256 | HitType::Sha512) => {
                self.hash_days
            }
            None => self.other_days,
        }
    }
}

/// An analyst's score, which overrides the formula.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalystScore {
    /// The score, 0..=100.
    pub score: f32,
    /// Who set it.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Everything a score depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreState {
    /// Indicator type (None for a general pattern).
    pub kind: Option<HitType>,
    /// Source confidence 0..=100.
    pub confidence: Option<u8>,
    /// Source reliability.
    pub reliability: Reliability,
    /// Last time a source confirmed the indicator.
    pub last_seen: DateTime<Utc>,
    /// Analyst override; [`ScoreState::merge_source`] never touches it.
    pub analyst: Option<AnalystScore>,
}

impl ScoreState {
    /// The effective score at `now`: the analyst's when set, else the decayed formula.
    pub fn score(&self, now: DateTime<Utc>, cfg: &DecayConfig) -> f32 {
        if let Some(a) = &self.analyst {
            return a.score.clamp(0.0, 100.0);
        }
        let conf = self
            .confidence
            .map_or(cfg.default_confidence, f64::from)
            .clamp(0.0, 100.0);
        let age_days = ((now - self.last_seen).num_seconds() as f64 / 86_400.0).max(0.0);
        let hl = cfg.half_life_days(self.kind).max(1e-6);
        (conf * self.reliability.factor() * 0.5f64.powf(age_days / hl)).clamp(0.0, 100.0) as f32
    }

    /// Folds in a new report of the same indicator from a source: the most recent sighting and the better
    /// (confidence x reliability) source win. The analyst override is kept as it is: a feed cannot silently
    /// reset an analyst's decision.
    pub fn merge_source(
        &mut self,
        confidence: Option<u8>,
        reliability: Reliability,
        seen: DateTime<Utc>,
    ) {
        let strength = |c: Option<u8>, r: Reliability| f64::from(c.unwrap_or(50)) * r.factor();
        if strength(confidence, reliability) >= strength(self.confidence, self.reliability) {
            self.confidence = confidence;
            self.reliability = reliability;
        }
        if seen > self.last_seen {
            self.last_seen = seen;
        }
    }

    /// Sets (or clears) the analyst override.
    pub fn set_analyst(&mut self, analyst: Option<AnalystScore>) {
        self.analyst = analyst;
    }
}

/// True when an indicator with this score is kept under `min_score`.
pub fn passes(score: f32, min_score: f32) -> bool {
    score >= min_score
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn state(kind: HitType, age_days: i64, now: DateTime<Utc>) -> ScoreState {
        ScoreState {
            kind: Some(kind),
            confidence: Some(80),
            reliability: Reliability::A,
            last_seen: now - Duration::days(age_days),
            analyst: None,
        }
    }

    #[test]
    fn ips_decay_faster_than_hashes() {
        let now = Utc::now();
        let cfg = DecayConfig::default();
        assert!((state(HitType::Ipv4, 0, now).score(now, &cfg) - 80.0).abs() < 0.01);
        assert!((state(HitType::Ipv4, 14, now).score(now, &cfg) - 40.0).abs() < 0.01);
        assert!(state(HitType::Sha256, 14, now).score(now, &cfg) > 79.0);
        assert!(!passes(
            state(HitType::Ipv4, 60, now).score(now, &cfg),
            cfg.min_score
        ));
        assert!(passes(
            state(HitType::Sha256, 60, now).score(now, &cfg),
            cfg.min_score
        ));
    }

    #[test]
    fn analyst_score_survives_later_sources() {
        let now = Utc::now();
        let cfg = DecayConfig::default();
        let mut s = state(HitType::Domain, 300, now);
        s.set_analyst(Some(AnalystScore {
            score: 95.0,
            by: "analyst@csirt".into(),
            at: now,
        }));
        s.merge_source(Some(10), Reliability::E, now);
        assert_eq!(s.score(now, &cfg), 95.0);
        assert!(s.analyst.is_some());
        s.set_analyst(None);
        // Without the override the merged source applies: the stronger old one (80 x A) is kept, refreshed.
        assert!((s.score(now, &cfg) - 80.0).abs() < 0.01);
    }
}
