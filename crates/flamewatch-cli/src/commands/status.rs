//! `flamewatch status`: prints the human summary of a running service (its management API's
//! `GET /stats?format=text`).

use crate::Outcome;
use crate::commands::gate::{ApiArgs, get};
use clap::Args;
use std::io::Write;

/// Arguments of `flamewatch status`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flamewatch status http://127.0.0.1:6060
  flamewatch status http://10.0.0.5:6060/custom/prefix --token \"$TOKEN\"")]
pub struct StatusArgs {
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Runs `flamewatch status`.
pub fn run(args: StatusArgs) -> anyhow::Result<Outcome> {
    let text = get(&args.api, "/stats?format=text")?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(Outcome::Pass)
}
