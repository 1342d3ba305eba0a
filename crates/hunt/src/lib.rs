//! Hunting: a compiled, immutable indicator set (one strategy per indicator shape), its snapshot file, log readers
//! for Zeek, Suricata EVE, BIND, unbound, Squid and mapped JSON-lines/CSV, and a parallel matcher that turns hits
//! into sightings. Pure library: no SQL, no store access, no printing.
//!
//! - [`set`]: [`IndicatorSetBuilder`] -> immutable [`IndicatorSet`] (`Send + Sync`); per-shape strategies.
//! - [`snapshot`]: one-file serialisation of a set (`save`/`load`), versioned and checksummed.
//! - [`logs`]: framing (files, stdin, gzip, zstd, line chunks) and formats (one line -> typed fields).
//! - [`hunt`]: the parallel hunt producing [`hunt::Sighting`]s (the output contract) and a [`hunt::Summary`].
//! - [`report`]: sightings aggregated per indicator and the versioned message that carries them to the centre.
//! - [`score`]: confidence x reliability x per-type decay; analyst overrides.
//! - [`stix`]: STIX pattern evaluation (stix2-matcher semantics inside an observation).
//! - [`gen`]: deterministic log generator with planted hits, for tests and benchmarks.
//!
//! ```
//! use vigil_hunt::hunt::{hunt, HuntOptions, LogSource};
//! use vigil_hunt::{IndicatorInput, IndicatorSetBuilder, IndicatorSource};
//! use vigil_model::{Observable, ObservableKind};
//!
//! let mut b = IndicatorSetBuilder::new();
//! let mut ind = IndicatorInput::new(
//!     "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
//!     IndicatorSource::Observable(Observable::new(ObservableKind::Domain, "evil.com").unwrap()),
//! );
//! ind.subdomains = true;
//! ind.malware = vec!["LummaC2".into()];
//! b.add(&ind).unwrap();
//! b.add(&IndicatorInput::new("indicator--2", IndicatorSource::Pattern("[ipv4-addr:value ISSUBSET '198.51.100.0/24']".into()))).unwrap();
//! let set = b.build().unwrap();
//!
//! let log = "{\"_path\":\"dns\",\"ts\":1714557600.5,\"id.orig_h\":\"10.0.0.1\",\"id.resp_h\":\"198.51.100.7\",\"query\":\"a.evil.com\"}\n";
//! let mut lines = Vec::new();
//! let summary = hunt(&set, vec![LogSource::reader("dns.json", std::io::Cursor::new(log))], &HuntOptions::default(), &mut |s| {
//!     lines.push(serde_json::to_string(s).unwrap());
//!     Ok(())
//! })
//! .unwrap();
//! assert_eq!(summary.hits, 2);
//! assert!(lines[0].contains("\"type\":\"cidr\"") && lines[1].contains("\"observed\":\"a.evil.com\""));
//! ```

#![warn(missing_docs)]

pub mod gen;
pub mod hunt;
mod json;
pub mod logs;
pub mod report;
pub mod score;
pub mod set;
pub mod snapshot;
pub mod stix;
mod table;

pub use set::{
    Added, HitType, IndicatorInput, IndicatorMeta, IndicatorSet, IndicatorSetBuilder,
    IndicatorSource, Role,
};
