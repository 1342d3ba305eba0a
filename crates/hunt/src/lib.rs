//! Hunting: a compiled, immutable indicator set (one strategy per indicator shape), its snapshot file, log readers
//! for Zeek, Suricata EVE, BIND, unbound, Squid and mapped JSON-lines/CSV, and a parallel matcher that turns hits
//! into sightings. Pure library: no SQL, no store access, no printing.
//!
//! Typical use: build an [`IndicatorSet`] with [`IndicatorSetBuilder`] (or [`snapshot::load`] one), then call
//! [`hunt::hunt`] with a list of [`logs::LogInput`]s and a sink for [`hunt::Sighting`]s; it returns a
//! [`hunt::Summary`].

#![warn(missing_docs)]

pub mod set;
pub mod stix;
mod table;

pub use set::{
    HitType, IndicatorInput, IndicatorMeta, IndicatorSet, IndicatorSetBuilder, IndicatorSource,
    Role,
};
pub mod gen;
pub mod hunt;
mod json;
pub mod logs;
pub mod score;
pub mod snapshot;
