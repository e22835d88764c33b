//! `flamewatch diff`: a differential flamegraph and a per-function delta table of two
//! saved profiles.

use crate::Outcome;
use crate::commands::report::{UnitArg, load_profile};
use anyhow::Context;
use clap::Args;
use flamewatch_profile::output::timestamp;
use flamewatch_profile::{diff, flamegraph};
use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

/// Arguments of `flamewatch diff`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flamewatch diff before.pb.gz after.pb.gz
  flamewatch diff --normalize -o change.svg old.folded new.folded --unit nanoseconds")]
pub struct DiffArgs {
    /// The baseline profile (pprof or folded).
    #[arg(value_name = "BEFORE")]
    pub before: PathBuf,
    /// The profile to compare (pprof or folded).
    #[arg(value_name = "AFTER")]
    pub after: PathBuf,
    /// Where to write the differential SVG; default `flamewatch-out/diff_<YYYYmmdd_HHMMSS>.svg`.
    #[arg(short = 'o', long = "output", value_name = "SVG")]
    pub output: Option<PathBuf>,
    /// Scale BEFORE to AFTER's total first (for runs of different length).
    #[arg(long)]
    pub normalize: bool,
    /// Rows in the delta table.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub top: usize,
    /// Unit of folded weights (`flamewatch record` writes nanoseconds).
    #[arg(long, value_enum, default_value = "auto", value_name = "UNIT")]
    pub unit: UnitArg,
}

/// Runs `flamewatch diff`.
pub fn run(args: DiffArgs) -> anyhow::Result<Outcome> {
    let before = load_profile(&args.before, args.unit)?;
    let after = load_profile(&args.after, args.unit)?;
    let path = match args.output {
        Some(p) => p,
        None => {
            let dir = PathBuf::from("flamewatch-out");
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create output directory {}", dir.display()))?;
            dir.join(format!("diff_{}.svg", timestamp(SystemTime::now())))
        }
    };
    let mut svg = Vec::new();
    flamegraph::write_diff_svg(&before, &after, args.normalize, &mut svg)
        .context("cannot render the differential flamegraph")?;
    std::fs::write(&path, svg).with_context(|| format!("cannot write -o {}", path.display()))?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(diff::render_table(&before, &after, args.top).as_bytes())?;
    writeln!(stdout, "\ndifferential flamegraph: {}", path.display())?;
    stdout.flush()?;
    Ok(Outcome::Pass)
}
