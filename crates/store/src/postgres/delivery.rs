//! The PostgreSQL side of [`crate::DeliveryStore`] (its tables are created by `vuln.rs`'s migration).
