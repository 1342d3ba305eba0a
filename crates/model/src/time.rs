//! STIX timestamps: RFC 3339 in UTC (`Z`), with optional sub-second precision.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::ModelError;

/// Parses a STIX timestamp. STIX requires UTC with a `Z` suffix; an explicit `+00:00` is accepted on input
/// because real feeds emit it, any other offset is an error.
pub fn parse(prop: &str, s: &str) -> Result<DateTime<Utc>, ModelError> {
    let bad = || ModelError::BadTimestamp {
        prop: prop.to_string(),
        value: s.chars().take(64).collect(),
    };
    let dt = DateTime::parse_from_rfc3339(s).map_err(|_| bad())?;
    if dt.offset().local_minus_utc() != 0 {
        return Err(bad());
    }
    Ok(dt.with_timezone(&Utc))
}

/// A fixed-width, lexically sortable key (microsecond precision) used to order versions in the store.
pub fn sort_key(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The STIX form Vigil writes: millisecond precision, `Z`.
pub fn format(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Now, in Vigil's STIX form.
pub fn now() -> String {
    format(&Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_z_and_rejects_offsets() {
        assert!(parse("created", "2020-01-14T17:18:32.126Z").is_ok());
        assert!(parse("created", "2020-01-14T17:18:32Z").is_ok());
        assert!(parse("created", "2020-01-14T17:18:32+02:00").is_err());
        assert!(parse("created", "yesterday").is_err());
    }

    #[test]
    fn sort_key_orders_by_instant() {
        let a = parse("m", "2020-01-14T17:18:32.1Z").unwrap();
        let b = parse("m", "2020-01-14T17:18:32.09Z").unwrap();
        assert!(sort_key(&b) < sort_key(&a));
    }
}
