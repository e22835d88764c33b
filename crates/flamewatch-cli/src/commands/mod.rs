//! One module per subcommand; each owns its clap args struct and a `run` function.

use crate::Outcome;
use clap::Subcommand;

/// All subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
}

/// Runs one subcommand.
pub fn run(command: Command) -> anyhow::Result<Outcome> {
    match command {
    }
}
