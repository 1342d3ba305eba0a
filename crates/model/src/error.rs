//! Errors raised when a value does not make a valid model object.

use thiserror::Error;

/// Why a value could not become a model object. Each message names the property at fault.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// The value is not a JSON object.
    #[error("not a JSON object")]
    NotAnObject,
    /// A required property is absent.
    #[error("missing required property `{0}`")]
    Missing(String),
    /// A property has the wrong JSON type or an invalid value.
    #[error("invalid property `{prop}`: {reason}")]
    Invalid { prop: String, reason: String },
    /// The STIX id is malformed or does not match the object's type.
    #[error("invalid id `{0}`")]
    BadId(String),
    /// A timestamp is not RFC 3339 in UTC.
    #[error("invalid timestamp in `{prop}`: `{value}`")]
    BadTimestamp { prop: String, value: String },
    /// The STIX pattern does not parse.
    #[error("invalid STIX pattern: {0}")]
    BadPattern(String),
    /// An observable value is not valid for its type.
    #[error("invalid {kind} value `{value}`: {reason}")]
    BadObservable {
        kind: &'static str,
        value: String,
        reason: String,
    },
    /// The object is larger than one object may be ([`crate::object::MAX_OBJECT_BYTES`]).
    #[error(
        "the object holds {mib} MiB of text, more than the {max_mib} MiB one object may hold (largest property: `{prop}`)"
    )]
    TooLarge {
        mib: usize,
        max_mib: usize,
        prop: String,
    },
}

impl ModelError {
    pub(crate) fn invalid(prop: &str, reason: impl Into<String>) -> Self {
        ModelError::Invalid {
            prop: prop.to_string(),
            reason: reason.into(),
        }
    }
}
