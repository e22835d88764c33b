//! `flamewatch record`: profile a command or a running process, on and off CPU.
//!
//! Glue only: the arguments become a [`RecordConfig`], `flamewatch-record` records and
//! symbolizes, `flamewatch-profile` writes the files and the report.

use crate::Outcome;
use anyhow::{Context, anyhow, bail};
use clap::Args;
use flamewatch_profile::output::stem_for;
use flamewatch_profile::{Format, OutputRequest, Written, map, report, write_all};
use flamewatch_record::{DEFAULT_FREQUENCY, DEFAULT_STACK_SIZE, RecordConfig, Recording, record};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Arguments of `flamewatch record`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  flamewatch record -- ./my-program --its-args
  flamewatch record -F 499 --format svg,pprof -o prof -- cargo test
  flamewatch record --pid 1234 --duration 30s
  flamewatch record --cpu-only --stack-size 65528 -- ./deep-recursion")]
pub struct RecordArgs {
    /// Samples per second per thread (999 by default: not 1000, to avoid lock-step with
    /// millisecond timers).
    #[arg(short = 'F', long = "frequency", value_name = "HZ", default_value_t = DEFAULT_FREQUENCY)]
    pub frequency: u32,
    /// Attach to this running process (and all its threads) instead of launching a command.
    #[arg(long, value_name = "PID", conflicts_with = "command")]
    pub pid: Option<i32>,
    /// Stop after this long (e.g. 30s, 500ms, 2m); default: until the program exits or Ctrl-C.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Directory for the output files.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        default_value = "flamewatch-out"
    )]
    pub output: PathBuf,
    /// Comma-separated outputs: svg, pprof, folded, speedscope, map (JSON and YAML), all.
    /// Folded stacks are always written so `flamewatch diff` works on any run.
    #[arg(long, value_name = "LIST", default_value = "svg,pprof,folded,map")]
    pub format: String,
    /// Record on-CPU samples only (no context-switch events, no off-CPU time).
    #[arg(long)]
    pub cpu_only: bool,
    /// Bytes of user stack copied per sample, a multiple of 8 up to 65528; larger unwinds
    /// deeper stacks, smaller costs less.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_STACK_SIZE)]
    pub stack_size: u32,
    /// Resolve function names only (no file:line, no inline frames): fast on huge binaries.
    #[arg(long)]
    pub names_only: bool,
    /// The command to run, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Parses `30s`, `500ms`, `2m`, `1h` or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: use e.g. 30s, 500ms, 2m"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {text:?}: use ms, s, m or h"
            ));
        }
    };
    if !(seconds > 0.0 && seconds.is_finite()) {
        return Err(format!("invalid duration {text:?}: must be positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

impl RecordArgs {
    fn config(&self) -> anyhow::Result<RecordConfig> {
        let mut config = match (self.pid, self.command.split_first()) {
            (Some(pid), _) => RecordConfig::attach(pid),
            (None, Some((program, args))) => RecordConfig::launch(program.clone(), args.to_vec()),
            (None, None) => bail!(
                "nothing to record: give a command after `--` (flamewatch record -- ./program) or --pid PID"
            ),
        };
        config.frequency = self.frequency;
        config.duration = self.duration;
        config.off_cpu = !self.cpu_only;
        config.stack_size = self.stack_size;
        config.names_only = self.names_only;
        Ok(config)
    }
}

/// Records `config` and writes `formats` (folded always included) into `dir`.
pub(crate) fn record_into(
    config: &RecordConfig,
    dir: &Path,
    formats: Vec<Format>,
) -> anyhow::Result<(Recording, OutputRequest, Vec<Written>)> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    let started = SystemTime::now();
    let recording = record(config)?;
    for warning in &recording.summary.warnings {
        eprintln!("flamewatch: warning: {warning}");
    }
    let request = OutputRequest::new(dir, stem_for(&config.name()), started).with_formats(formats);
    let written = write_all(&recording.profile, &request)
        .with_context(|| format!("cannot write the profile into {}", dir.display()))?;
    Ok((recording, request, written))
}

/// Runs `flamewatch record`.
pub fn run(args: RecordArgs) -> anyhow::Result<Outcome> {
    let formats = Format::parse_list(&args.format).map_err(|e| anyhow!("--format: {e}"))?;
    let config = args.config()?;
    let (recording, request, written) = record_into(&config, &args.output, formats)?;
    let map = map::build(&recording.profile, request.map);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(report::render(&recording.profile, &map).as_bytes())?;
    stdout.flush()?;
    let c = &recording.summary.counters;
    eprintln!(
        "flamewatch: {} CPU samples, {} off-CPU intervals{}, {} lost records, {} throttled; symbolized in {:.2}s",
        c.cpu_samples,
        c.off_cpu_intervals,
        if recording.summary.off_cpu {
            ""
        } else {
            " (off-CPU off)"
        },
        c.lost,
        c.throttled,
        recording.summary.symbolize_time.as_secs_f64()
    );
    if c.lost > 0 {
        eprintln!(
            "flamewatch: warning: the kernel dropped {} records (ring buffer full); use a smaller --stack-size or a lower -F",
            c.lost
        );
    }
    if c.throttled > 0 {
        eprintln!(
            "flamewatch: warning: the kernel throttled sampling {} times; use -F {} or lower",
            c.throttled,
            flamewatch_record::suggest_frequency(args.frequency)
        );
    }
    for file in &written {
        eprintln!("flamewatch: wrote {}", file.path.display());
    }
    Ok(match recording.exit_code {
        Some(code) if code != 0 => Outcome::Child(code.clamp(1, 255) as u8),
        _ => Outcome::Pass,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
