//! The `flamewatch` command-line tool.
//!
//! This binary is glue: it parses arguments with clap (one args struct per subcommand, in
//! `commands/`), turns them into the plain configuration structs of the library crates, calls
//! those libraries, prints, and chooses the exit code. Only `main` picks exit codes:
//! `0` pass, `1` regression or blocked, `2` error, `3` inconclusive or needs acknowledgment.

mod commands;

use clap::Parser;
use std::process::ExitCode;

/// Exit statuses shared by every subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything passed (exit 0).
    Pass,
    /// A regression was found or a gate blocked (exit 1).
    Regression,
    /// The answer is not known yet, or a warning needs acknowledgment (exit 3).
    Inconclusive,
    /// A profiled child exited with this code; it is passed through.
    Child(u8),
}

#[derive(Debug, Parser)]
#[command(name = "flamewatch", version, about = "Find where time and memory go, and catch performance regressions.", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli.command) {
        Ok(Outcome::Pass) => ExitCode::SUCCESS,
        Ok(Outcome::Regression) => ExitCode::from(1),
        Ok(Outcome::Inconclusive) => ExitCode::from(3),
        Ok(Outcome::Child(code)) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("flamewatch: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// A closed stdout (`flamewatch report x | head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
