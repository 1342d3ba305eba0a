//! The PostgreSQL side of [`crate::FeedStore`].
