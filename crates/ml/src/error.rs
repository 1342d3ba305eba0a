//! The one error type of vigil-ml: what went wrong, on which file or artifact, and what to do about it.

use std::path::PathBuf;

use thiserror::Error;

/// The hint every artifact error carries, so the operator knows the fix.
pub const TRAIN_HINT: &str = "run `vigil ml train` to rebuild the model artifacts";

/// Errors of the ML library. Each names the file, artifact or record at fault.
#[derive(Debug, Error)]
pub enum MlError {
    /// A model artifact is missing, truncated, corrupt or of another format version.
    #[error("model artifact `{model}`: {reason}; {hint}", hint = TRAIN_HINT)]
    Artifact { model: String, reason: String },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A stream could not be read (no path known).
    #[error("read error: {0}")]
    Read(#[from] std::io::Error),
    /// A corpus file is not laid out as expected.
    #[error("corpus file {path}: {reason}")]
    Corpus { path: PathBuf, reason: String },
    /// The training or evaluation corpus lacks data a task needs.
    #[error("corpus at {path} has no usable data for task `{task}`: {reason}")]
    EmptyCorpus {
        path: PathBuf,
        task: String,
        reason: String,
    },
    /// An argument is not valid (unknown task name, empty input, ...).
    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl MlError {
    pub(crate) fn artifact(model: &str, reason: impl Into<String>) -> Self {
        MlError::Artifact {
            model: model.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn corpus(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        MlError::Corpus {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MlError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, MlError>;
