//! The vigil command line.
pub fn run() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
