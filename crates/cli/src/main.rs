//! The `vigil` binary: all logic lives in the library crates; this only hands over to `vigil_cli::run`.

// Measured: glibc's allocator spent 12% of the ingest writer thread freeing objects the parsing thread allocated.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vigil_cli::run()
}
