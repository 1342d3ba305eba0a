//! Shared helpers of the integration tests: where the shared data is, and a loud skip when it is absent.

use std::path::PathBuf;

/// `shared/data` next to the repository, or None (with a loud message) when it is not there.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if p.join("MANIFEST.md").is_file() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED {test}: shared data not found at {} (real-data test)",
            p.display()
        );
        None
    }
}
