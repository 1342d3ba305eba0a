//! The audit trail: one JSON line per administrative action and per access to TLP:AMBER or above, appended to
//! `DATA/audit.jsonl` by the server and the CLI alike. Lines never hold tokens or object contents.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// An append-only audit log file.
pub struct Audit {
    path: std::path::PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl Audit {
    pub fn new(data: &Path) -> Self {
        Audit { path: data.join("audit.jsonl"), file: Mutex::new(None) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry. A failure to write is logged, and does not fail the request: the log line says so.
    pub fn record(&self, actor: &str, action: &str, target: &str, detail: serde_json::Value) {
        let line =
            serde_json::json!({"at": vigil_model::time::now(), "actor": actor, "action": action, "target": target, "detail": detail});
        tracing::info!(target: "audit", actor, action, target, "audit");
        let Ok(mut guard) = self.file.lock() else { return };
        if guard.is_none() {
            match std::fs::OpenOptions::new().create(true).append(true).open(&self.path) {
                Ok(f) => *guard = Some(f),
                Err(e) => {
                    tracing::error!(path = %self.path.display(), error = %e, "cannot open the audit log");
                    return;
                }
            }
        }
        if let Some(f) = guard.as_mut() {
            // One write call per line: O_APPEND keeps lines from the CLI and the server whole.
            let mut buf = line.to_string().into_bytes();
            buf.push(b'\n');
            if let Err(e) = f.write_all(&buf) {
                tracing::error!(error = %e, "cannot write the audit log");
            }
        }
    }
}
