//! The `vigil` command line: argument parsing, settings, and one module per subcommand. The only crate that
//! prints or reads the environment; all domain logic lives in the library crates.

mod args;
mod cmd;
mod output;
mod settings;

use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;

/// Parses the command line, runs the command, and maps the outcome to the process exit status.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cmd::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("vigil: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
