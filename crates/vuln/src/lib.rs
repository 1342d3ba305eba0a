//! Vulnerability matching for Vigil: package identities (purl, CPE), version schemes, affected ranges, advisory
//! readers, inventories, the advisory index and matcher, SSVC / BOD 26-04 prioritisation and notices.
//!
//! Invariant: this crate does no IO of its own, no SQL and no printing. Readers take bytes and a location name
//! (for error messages) and return values plus per-record [`Diagnostic`]s; everything else is pure functions.
//!
//! Typical use (the caller reads the files):
//! ```no_run
//! use vigil_vuln::{advisory, inventory, index::IndexBuilder, matcher::{scan, ScanOptions}};
//! let mut b = IndexBuilder::new();
//! let kev = std::fs::read("known_exploited_vulnerabilities.json").unwrap();
//! b.add_batch(advisory::read_advisories("known_exploited_vulnerabilities.json", &kev));
//! let index = b.build();
//! let sbom = std::fs::read("bom.json").unwrap();
//! let inv = inventory::read_inventory("bom.json", &sbom);
//! let result = scan(&index, &inv.items, &ScanOptions::default());
//! let json = serde_json::to_string_pretty(&result).unwrap();
//! ```

// Tests may unwrap: a panic there is a failed test, not a crash on user input.
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![warn(missing_docs)]

pub mod advisory;
pub mod cpe;
pub mod index;
pub mod inventory;
pub mod matcher;
pub mod notice;
pub mod priority;
pub mod purl;
pub mod range;
pub mod version;

pub use advisory::{read_advisories, Advisory, Feed};
pub use cpe::Cpe;
pub use index::{Index, IndexBuilder};
pub use inventory::{read_inventory, Component, Inventory};
pub use matcher::{scan, Finding, ScanOptions, ScanResult};
pub use notice::{build_notices, Notice};
pub use priority::{Decision, Priority};
pub use purl::Purl;
pub use version::{Scheme, Version, VersionError};

use serde::Serialize;

/// A problem with one record of an input, named by location (`file: path[index]` or `file:line`), reported
/// while the rest of the input is still processed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Where: file and record (JSON path, line number, advisory id).
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}
