//! The PostgreSQL side of [`crate::VulnStore`].
