//! A hunt's sightings aggregated per indicator ([`Aggregate`]: first and last seen, count), and the versioned
//! message that carries one aggregate from a sensor to the central knowledge base ([`SightingReport`], JSON with
//! `"v": 1`).
//!
//! The format lives here, beside [`crate::hunt::Sighting`] whose aggregate it is, rather than in the transport:
//! the bus moves bytes and knows no sighting, and both ends of the path (`vigil hunt --publish` on a sensor,
//! `vigil sightings pull` at the centre) already depend on this crate.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use vigil_model::Tlp;

use crate::hunt::Sighting;

/// The message format's version; a reader refuses any other.
pub const REPORT_VERSION: u64 = 1;
/// The largest message a reader accepts (an aggregate is a few hundred bytes).
pub const MAX_REPORT_BYTES: usize = 64 * 1024;
/// How many distinct observed values and files an aggregate keeps as examples.
pub const MAX_EXAMPLES: usize = 5;
const MAX_EXAMPLE_CHARS: usize = 2048;
/// The highest count a sighting records (STIX: at most 999,999,999).
pub const MAX_COUNT: u64 = 999_999_999;

/// What a hunt saw of one indicator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// STIX id of the indicator.
    pub indicator_id: String,
    /// The indicator's value (or pattern) as the hunt reported it.
    pub indicator: String,
    /// The earliest log timestamp of its hits (lines without one count as the hunt's start).
    pub first_seen: DateTime<Utc>,
    /// The latest.
    pub last_seen: DateTime<Utc>,
    /// Hits.
    pub count: u64,
    /// The indicator's TLP as the hunt's indicator set had it (the strictest seen).
    pub tlp: Tlp,
    /// Up to [`MAX_EXAMPLES`] distinct values as they appeared in the logs, sorted.
    #[serde(default)]
    pub observed: Vec<String>,
    /// Up to [`MAX_EXAMPLES`] distinct log files, sorted.
    #[serde(default)]
    pub files: Vec<String>,
}

struct Acc {
    indicator: String,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    count: u64,
    tlp: Tlp,
    observed: BTreeSet<String>,
    files: BTreeSet<String>,
}

/// Folds a hunt's sightings into one [`Aggregate`] per indicator.
#[derive(Default)]
pub struct Aggregator {
    by_indicator: BTreeMap<String, Acc>,
}

impl Aggregator {
    /// Adds one sighting; `undated` stands for the time of a line without a timestamp.
    pub fn add(&mut self, s: &Sighting, undated: DateTime<Utc>) {
        let t =
            s.ts.as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map_or(undated, |d| d.with_timezone(&Utc));
        let a = self
            .by_indicator
            .entry(s.indicator_id.clone())
            .or_insert_with(|| Acc {
                indicator: s.indicator.clone(),
                first: t,
                last: t,
                count: 0,
                tlp: s.tlp,
                observed: BTreeSet::new(),
                files: BTreeSet::new(),
            });
        a.count += 1;
        a.first = a.first.min(t);
        a.last = a.last.max(t);
        a.tlp = a.tlp.max(s.tlp);
        if a.observed.len() < MAX_EXAMPLES {
            a.observed.insert(s.observed.clone());
        }
        if a.files.len() < MAX_EXAMPLES {
            a.files.insert(s.file.clone());
        }
    }

    /// Whether no sighting was added.
    pub fn is_empty(&self) -> bool {
        self.by_indicator.is_empty()
    }

    /// One aggregate per indicator, in the order of their ids.
    pub fn finish(self) -> Vec<Aggregate> {
        self.by_indicator
            .into_iter()
            .map(|(id, a)| Aggregate {
                indicator_id: id,
                indicator: a.indicator,
                first_seen: a.first,
                last_seen: a.last,
                count: a.count.min(MAX_COUNT),
                tlp: a.tlp,
                observed: a.observed.into_iter().collect(),
                files: a.files.into_iter().collect(),
            })
            .collect()
    }
}

/// One indicator's aggregate from one hunt on one sensor: the message `vigil hunt --publish` sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SightingReport {
    /// The format's version, [`REPORT_VERSION`].
    pub v: u64,
    /// The hunt's run id: with the indicator id, the message's de-duplication id.
    pub run: String,
    /// The sensor that hunted (its host name unless named otherwise).
    pub sensor: String,
    /// The member whose telemetry this is (`vigil members list`); absent for the operator's own.
    pub member: Option<i64>,
    /// What was seen.
    #[serde(flatten)]
    pub sighting: Aggregate,
}

/// Why a message is not a usable [`SightingReport`].
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReportError {
    /// Larger than [`MAX_REPORT_BYTES`].
    #[error("message of {0} bytes (at most {MAX_REPORT_BYTES})")]
    TooLarge(usize),
    /// Not JSON, or a field of the wrong type.
    #[error("not a JSON sighting report: {0}")]
    NotJson(String),
    /// No `v`.
    #[error("no format version (field \"v\")")]
    NoVersion,
    /// A version this build does not read.
    #[error("format version {0} (this Vigil reads version {REPORT_VERSION})")]
    Version(u64),
    #[error("field {field}: {reason}")]
    /// A field out of its bounds.
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Whether a run id or sensor name is usable in a message id and a log line: 1-128 printable ASCII characters
/// without spaces or `/` (the separator of the message id).
pub fn valid_name(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
}

impl SightingReport {
    /// A report of version [`REPORT_VERSION`].
    pub fn new(run: &str, sensor: &str, member: Option<i64>, sighting: Aggregate) -> Self {
        SightingReport {
            v: REPORT_VERSION,
            run: run.to_string(),
            sensor: sensor.to_string(),
            member,
            sighting,
        }
    }

    /// The de-duplication id: the same run's report of the same indicator is the same message, however often it
    /// is published.
    pub fn msg_id(&self) -> String {
        format!("{}/{}", self.run, self.sighting.indicator_id)
    }

    /// The message body.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings, numbers and times always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads and checks a message body.
    pub fn from_json(bytes: &[u8]) -> Result<SightingReport, ReportError> {
        if bytes.len() > MAX_REPORT_BYTES {
            return Err(ReportError::TooLarge(bytes.len()));
        }
        #[derive(Deserialize)]
        struct Probe {
            v: Option<serde_json::Value>,
        }
        // The version first: a newer sensor's message should be named as such, not as a field error.
        let p: Probe =
            serde_json::from_slice(bytes).map_err(|e| ReportError::NotJson(e.to_string()))?;
        match p.v {
            None => return Err(ReportError::NoVersion),
            Some(v) => match v.as_u64() {
                Some(REPORT_VERSION) => {}
                Some(n) => return Err(ReportError::Version(n)),
                None => {
                    return Err(ReportError::Invalid {
                        field: "v",
                        reason: format!("{v} is not a version number"),
                    })
                }
            },
        }
        let r: SightingReport =
            serde_json::from_slice(bytes).map_err(|e| ReportError::NotJson(e.to_string()))?;
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), ReportError> {
        let bad = |field, reason: &str| {
            Err(ReportError::Invalid {
                field,
                reason: reason.to_string(),
            })
        };
        let s = &self.sighting;
        if !valid_name(&self.run) {
            return bad(
                "run",
                "1-128 printable characters without spaces or '/' expected",
            );
        }
        if !valid_name(&self.sensor) {
            return bad(
                "sensor",
                "1-128 printable characters without spaces or '/' expected",
            );
        }
        if self.member.is_some_and(|m| m <= 0) {
            return bad("member", "member ids are positive");
        }
        let uuid_ok = s.indicator_id.strip_prefix("indicator--").is_some_and(|u| {
            u.len() == 36
                && u.bytes().enumerate().all(|(i, b)| {
                    matches!(i, 8 | 13 | 18 | 23) == (b == b'-')
                        && (b == b'-' || b.is_ascii_hexdigit())
                })
        });
        if !uuid_ok {
            return bad("indicator_id", "not a STIX indicator id (indicator--UUID)");
        }
        if s.count == 0 || s.count > MAX_COUNT {
            return bad("count", "between 1 and 999,999,999 expected");
        }
        if s.first_seen > s.last_seen {
            return bad("first_seen", "later than last_seen");
        }
        for (field, list) in [("observed", &s.observed), ("files", &s.files)] {
            if list.len() > MAX_EXAMPLES
                || list.iter().any(|x| x.chars().count() > MAX_EXAMPLE_CHARS)
            {
                return bad(
                    field,
                    "at most 5 examples of at most 2048 characters expected",
                );
            }
        }
        if s.indicator.chars().count() > 8192 {
            return bad("indicator", "longer than 8192 characters");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HitType;

    fn sighting(id: &str, ts: Option<&str>, observed: &str, tlp: Tlp) -> Sighting {
        Sighting {
            indicator: "evil.com".into(),
            indicator_id: id.into(),
            kind: HitType::Domain,
            observed: observed.into(),
            field: "query".into(),
            file: "dns.log".into(),
            line: 1,
            ts: ts.map(str::to_string),
            malware: vec![],
            actors: vec![],
            tlp,
            score: 50.0,
        }
    }

    const ID: &str = "indicator--aaaaaaaa-0000-4000-8000-000000000001";

    fn report() -> SightingReport {
        let mut a = Aggregator::default();
        let start = DateTime::parse_from_rfc3339("2024-05-02T00:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .expect("time");
        a.add(
            &sighting(ID, Some("2024-05-01T10:00:05Z"), "evil.com", Tlp::Green),
            start,
        );
        a.add(
            &sighting(
                ID,
                Some("2024-05-01T10:00:00.500Z"),
                "a.evil.com",
                Tlp::Amber,
            ),
            start,
        );
        a.add(&sighting(ID, None, "a.evil.com", Tlp::Green), start);
        let mut all = a.finish();
        assert_eq!(all.len(), 1);
        SightingReport::new("run-1", "sensor-a", Some(3), all.remove(0))
    }

    #[test]
    fn aggregates_count_span_and_strictest_tlp() {
        let r = report();
        let s = &r.sighting;
        assert_eq!(s.count, 3);
        assert_eq!(s.first_seen.to_rfc3339(), "2024-05-01T10:00:00.500+00:00");
        // The undated line counts as the hunt's start.
        assert_eq!(s.last_seen.to_rfc3339(), "2024-05-02T00:00:00+00:00");
        assert_eq!(s.tlp, Tlp::Amber);
        assert_eq!(s.observed, vec!["a.evil.com", "evil.com"]);
        assert_eq!(r.msg_id(), format!("run-1/{ID}"));
    }

    #[test]
    fn the_format_is_versioned_json_that_round_trips() {
        let r = report();
        let bytes = r.to_json();
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["v"], 1);
        assert_eq!(v["indicator_id"], ID);
        assert_eq!(v["member"], 3);
        assert_eq!(v["sensor"], "sensor-a");
        assert_eq!(v["tlp"], "amber");
        assert_eq!(v["first_seen"], "2024-05-01T10:00:00.500Z");
        assert_eq!(SightingReport::from_json(&bytes), Ok(r.clone()));
        // Fields a later version 1 writer adds are ignored.
        let mut extra = v.clone();
        extra["x_note"] = serde_json::json!("later");
        let back = SightingReport::from_json(&serde_json::to_vec(&extra).expect("json"));
        assert_eq!(back, Ok(r));
    }

    #[test]
    fn bad_messages_are_named() {
        let good: serde_json::Value = serde_json::from_slice(&report().to_json()).expect("json");
        let with = |k: &str, x: serde_json::Value| {
            let mut v = good.clone();
            v[k] = x;
            SightingReport::from_json(&serde_json::to_vec(&v).expect("json"))
        };
        assert!(matches!(
            SightingReport::from_json(b"not json"),
            Err(ReportError::NotJson(_))
        ));
        assert!(matches!(
            SightingReport::from_json(b"[1,2]"),
            Err(ReportError::NotJson(_))
        ));
        assert_eq!(
            SightingReport::from_json(b"{}"),
            Err(ReportError::NoVersion)
        );
        assert_eq!(with("v", 2.into()), Err(ReportError::Version(2)));
        assert!(matches!(
            with("v", "1".into()),
            Err(ReportError::Invalid { field: "v", .. })
        ));
        assert!(matches!(
            with("indicator_id", "malware--x".into()),
            Err(ReportError::Invalid {
                field: "indicator_id",
                ..
            })
        ));
        assert!(matches!(
            with(
                "indicator_id",
                "indicator--zzzzzzzz-0000-4000-8000-000000000001".into()
            ),
            Err(ReportError::Invalid {
                field: "indicator_id",
                ..
            })
        ));
        assert!(matches!(
            with("count", 0.into()),
            Err(ReportError::Invalid { field: "count", .. })
        ));
        assert!(matches!(
            with("count", (-1).into()),
            Err(ReportError::NotJson(_))
        ));
        assert!(matches!(
            with("run", "a/b".into()),
            Err(ReportError::Invalid { field: "run", .. })
        ));
        assert!(matches!(
            with("sensor", "".into()),
            Err(ReportError::Invalid {
                field: "sensor",
                ..
            })
        ));
        assert!(matches!(
            with("member", 0.into()),
            Err(ReportError::Invalid {
                field: "member",
                ..
            })
        ));
        assert!(matches!(
            with("first_seen", "2030-01-01T00:00:00Z".into()),
            Err(ReportError::Invalid {
                field: "first_seen",
                ..
            })
        ));
        assert!(matches!(
            with("tlp", "purple".into()),
            Err(ReportError::NotJson(_))
        ));
        assert!(matches!(
            with(
                "observed",
                serde_json::json!(["a", "b", "c", "d", "e", "f"])
            ),
            Err(ReportError::Invalid {
                field: "observed",
                ..
            })
        ));
        let big = vec![b' '; MAX_REPORT_BYTES + 1];
        assert_eq!(
            SightingReport::from_json(&big),
            Err(ReportError::TooLarge(MAX_REPORT_BYTES + 1))
        );
    }

    #[test]
    fn run_and_sensor_names() {
        assert!(valid_name("0f8e2c1a-4b7d-4e0a-9c3f-1d2e3f4a5b6c"));
        assert!(valid_name("ids-01.ministry.example"));
        for bad in ["", "a b", "a/b", "é", &"x".repeat(129)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
