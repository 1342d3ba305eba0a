//! Vigil's measured AI: IOC extraction, ATT&CK technique tagging, malicious-domain scoring and group
//! attribution, with the code that trains and evaluates each model from the public data in `shared/data`.
//!
//! Architecture invariant: pure library. No SQL, no store, no printing, no network, no Python at run time.
//! Models are small versioned artifacts ([`artifact`]) committed under `crates/ml/models/` and embedded in
//! the binary; [`train`] rebuilds them byte for byte from a corpus directory laid out like `shared/data`.

pub mod artifact;
pub mod attack;
pub mod attribute;
pub mod corpus;
pub mod domain;
pub mod error;
pub mod eval;
pub mod extract;
pub mod tag;
pub mod text;

pub use error::{MlError, Result};
pub use extract::{extract, ExtractOptions, Extraction, Extractor, Indicator, IndicatorType};
