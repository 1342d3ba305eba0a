//! Vigil's domain vocabulary: STIX 2.1 objects, cyber-observables, TLP markings, STIX patterns and identifiers.
//!
//! Invariant: this crate does no IO, knows nothing of SQL, HTTP or files. Everything here takes values and
//! returns values (the one reader, `encoding::Utf16ToUtf8`, adapts a reader its caller opened), so that every
//! parser in it can be fuzzed and property-tested on its own.

pub mod encoding;
pub mod error;
pub mod ids;
pub mod object;
pub mod observable;
pub mod pattern;
pub mod time;
pub mod tlp;
pub mod upgrade;
pub mod validate;
pub mod warninglist;

pub use error::ModelError;
pub use object::{Provenance, StixObject};
pub use observable::{Observable, ObservableKind};
pub use tlp::Tlp;
