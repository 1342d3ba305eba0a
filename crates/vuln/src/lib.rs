//! Vulnerability matching for Vigil: package identities (purl, CPE), version schemes, affected ranges, advisory
//! readers, inventories, the advisory index and matcher, SSVC / BOD 26-04 prioritisation and notices.
//!
//! Invariant: this crate does no IO of its own, no SQL and no printing. Readers take bytes and a location name
//! (for error messages) and return values plus per-record diagnostics; everything else is pure functions.
//!
//! Typical use:
//! ```no_run
//! use vigil_vuln::{advisory, inventory, index::IndexBuilder, matcher::{scan, ScanOptions}};
//! let mut b = IndexBuilder::new();
//! let kev = std::fs::read("known_exploited_vulnerabilities.json").unwrap();
//! let parsed = advisory::read_advisories("known_exploited_vulnerabilities.json", &kev);
//! b.add_batch(parsed);
//! let index = b.build();
//! let sbom = std::fs::read("bom.json").unwrap();
//! let inv = inventory::read_inventory("bom.json", &sbom);
//! let result = scan(&index, &inv.items, &ScanOptions::default());
//! println!("{}", serde_json::to_string_pretty(&result).unwrap());
//! ```

pub mod cpe;
pub mod purl;
pub mod range;
pub mod version;

pub use cpe::Cpe;
pub use purl::Purl;
pub use version::{Scheme, Version, VersionError};
