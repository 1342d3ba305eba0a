//! The PostgreSQL side of [`crate::MemberStore`].
