//! `flamewatch report`: the text report and performance map of a saved profile.
//!
//! Glue only: the file is read as pprof (`.pb.gz` or plain) or folded stacks,
//! `flamewatch-profile` builds the map and renders the report.

use crate::Outcome;
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use flamewatch_profile::folded::{self, FoldedUnit};
use flamewatch_profile::{Format, MapOptions, Profile, map, output, pprof, report};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What the weights of a folded file measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnitArg {
    /// Nanoseconds when the file has `[off-cpu:…]` frames (written by `flamewatch record`),
    /// sample counts otherwise.
    Auto,
    /// Sample counts (as `stackcollapse-perf` writes).
    Samples,
    /// Nanoseconds (as `flamewatch record` writes).
    Nanoseconds,
}

/// Arguments of `flamewatch report`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flamewatch report flamewatch-out/app_20260101_120000.pb.gz
  flamewatch report --map map.yaml --svg app.svg flamewatch-out/app_20260101_120000.folded
  perf script | stackcollapse-perf.pl | flamewatch report -")]
pub struct ReportArgs {
    /// A saved profile: pprof (`.pb.gz`/`.pb`) or folded stacks (`frame;frame weight`);
    /// `-` reads standard input.
    #[arg(value_name = "PROFILE")]
    pub profile: PathBuf,
    /// Also write the performance map here (`.yaml`/`.yml` for YAML, JSON otherwise).
    #[arg(long, value_name = "PATH")]
    pub map: Option<PathBuf>,
    /// Unit of folded weights (`flamewatch record` writes nanoseconds).
    #[arg(long, value_enum, default_value = "auto", value_name = "UNIT")]
    pub unit: UnitArg,
    /// Also render the profile as an interactive SVG flamegraph here.
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,
    /// Print the performance map as JSON instead of the text report.
    #[arg(long)]
    pub json: bool,
}

/// Reads a pprof or folded profile, telling them apart by content.
pub fn load_profile(path: &Path, unit: UnitArg) -> anyhow::Result<Profile> {
    let bytes = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
            .context("cannot read the profile from standard input")?;
        bytes
    } else {
        std::fs::read(path).with_context(|| format!("cannot read profile {}", path.display()))?
    };
    if bytes.is_empty() {
        bail!(
            "profile {} is empty; pass a .pb.gz written by `flamewatch record` or a folded-stacks file",
            path.display()
        );
    }
    let looks_binary = bytes.starts_with(&[0x1f, 0x8b]) || std::str::from_utf8(&bytes).is_err();
    if looks_binary {
        return pprof::decode(&bytes)
            .with_context(|| format!("profile {} is not valid pprof", path.display()));
    }
    let text = String::from_utf8_lossy(&bytes);
    let unit = match unit {
        UnitArg::Auto => FoldedUnit::detect(&text),
        UnitArg::Samples => FoldedUnit::Samples,
        UnitArg::Nanoseconds => FoldedUnit::Nanoseconds,
    };
    match folded::read(&text, unit) {
        Ok(p) => Ok(p),
        // an uncompressed pprof message can happen to be valid UTF-8
        Err(folded_err) => pprof::decode(&bytes).map_err(|_| {
            anyhow::anyhow!(
                "profile {} is neither pprof nor folded stacks: {folded_err}",
                path.display()
            )
        }),
    }
}

/// Runs `flamewatch report`.
pub fn run(args: ReportArgs) -> anyhow::Result<Outcome> {
    let profile = load_profile(&args.profile, args.unit)?;
    let perf_map = map::build(&profile, MapOptions::default());
    if let Some(path) = &args.map {
        let yaml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        let text = if yaml {
            perf_map.to_yaml()?
        } else {
            perf_map.to_json()?
        };
        std::fs::write(path, text)
            .with_context(|| format!("cannot write --map {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        output::write_format(&profile, Format::Svg, path, None)
            .with_context(|| format!("cannot write --svg {}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        stdout.write_all(perf_map.to_json()?.as_bytes())?;
    } else {
        stdout.write_all(report::render(&profile, &perf_map).as_bytes())?;
        if let Some(path) = &args.map {
            writeln!(stdout, "map: {}", path.display())?;
        }
        if let Some(path) = &args.svg {
            writeln!(stdout, "flamegraph: {}", path.display())?;
        }
    }
    stdout.flush()?;
    Ok(Outcome::Pass)
}
