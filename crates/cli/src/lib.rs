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
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    match cmd::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        // A reader that stopped reading (`vigil show X --json | head`) is no error of ours.
        Err(e) if closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether an error is a write to a pipe whose reader has gone (`| head`), directly or inside JSON output.
pub(crate) fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Commands that print with `println!` panic when the reader of their output has gone ("failed printing to
/// stdout: Broken pipe"): end those quietly too, as the commands that return the error do. Done with a panic hook
/// rather than by restoring SIGPIPE's default action, which would also kill `vigil serve` and the notice senders
/// when a peer closes a socket.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
