//! The PostgreSQL side of [`crate::WebStore`].
