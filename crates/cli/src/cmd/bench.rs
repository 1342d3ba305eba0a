pub fn ingest(_a: &crate::args::BenchIngestArgs) -> anyhow::Result<u8> { Ok(0) }
