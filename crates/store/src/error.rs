use thiserror::Error;

/// Errors from a store backend.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database could not be opened, created or migrated.
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: String, reason: String },
    /// The database was written by a newer Vigil.
    #[error("the store has schema version {found}, newer than this Vigil understands ({supported}); upgrade Vigil")]
    TooNew { found: i64, supported: i64 },
    /// A backend error.
    #[error("database error: {0}")]
    Db(String),
    /// Stored data could not be decoded.
    #[error("corrupt record {0}")]
    Corrupt(String),
    /// The caller aborted a transaction or a scan.
    #[error("{0}")]
    Aborted(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        // The driver's own text is its error kind alone ("db error"); what the server said is in the source. Its
        // DETAIL is left out: it quotes row values (a unique key's), which messages and logs must not carry.
        if let Some(db) = e.as_db_error() {
            let mut out = format!(
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            );
            if let Some(hint) = db.hint() {
                out.push_str(&format!("; hint: {hint}"));
            }
            return StoreError::Db(out);
        }
        StoreError::Db(with_causes(&e))
    }
}

/// An error with what caused it (`error performing TLS handshake: invalid peer certificate: UnknownIssuer`): the
/// driver's own message leaves out the part an administrator needs.
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let m = c.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cause = c.source();
    }
    out
}
