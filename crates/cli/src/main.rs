//! The `vigil` binary: all logic lives in the library crates; this only hands over to `vigil_cli::run`.
fn main() -> std::process::ExitCode {
    vigil_cli::run()
}
