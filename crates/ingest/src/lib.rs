//! The ingestion pipeline.
