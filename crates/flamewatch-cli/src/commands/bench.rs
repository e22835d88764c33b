//! `flamewatch bench`: clap glue over `flamewatch-bench` (runner, gate, A/B, history, exports).

use crate::Outcome;
use anyhow::{Context, bail};
use clap::Args;
use flamewatch_bench::Metric;
use flamewatch_bench::ab::{self, AbConfig};
use flamewatch_bench::command::CommandSpec;
use flamewatch_bench::compare::{self, GateConfig, GateOutcome};
use flamewatch_bench::env::Environment;
use flamewatch_bench::export::{self, Document};
use flamewatch_bench::history::{self, History, RunStatus};
use flamewatch_bench::report;
use flamewatch_bench::runner::{BenchConfig, BenchResult, Measurement, Observer, Runner, Session};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

/// Baselines with fewer counted runs than this get a hint when a verdict stays inconclusive.
const SHARP_BASELINE_RUNS: usize = 10;

/// The hint for an inconclusive verdict whose baseline, not this run, is too small: once this
/// side has more runs than the baseline, adding more narrows the interval little.
fn small_baseline_hint(base_runs: usize, runs: usize) -> Option<String> {
    (base_runs < SHARP_BASELINE_RUNS && runs > base_runs).then(|| {
        format!(
            "the baseline has only {base_runs} runs: its own spread bounds the verdict however \
             many runs are added here; record it again with --runs {SHARP_BASELINE_RUNS} or more"
        )
    })
}

/// Arguments of `flamewatch bench`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    flamewatch bench --runs 10 -- ./target/release/app input.txt\n  \
    flamewatch bench --runs 10 --save base.json -- ./app\n  \
    flamewatch bench --compare base.json --threshold 10% --fail-on-regression -- ./app\n  \
    flamewatch bench --runs 10 'gzip -k -1 data.bin' 'zstd -q -1 data.bin'\n  \
    flamewatch bench --history --name build -- make -j2\n  \
    flamewatch bench --history --compare-history --fail-on-regression --name build -- make -j2\n\n\
    Exit codes: 0 pass, 1 regression, 2 error, 3 inconclusive (gate only with --fail-on-regression).")]
pub struct BenchArgs {
    /// Commands as quoted strings; two or more are compared A/B with interleaved runs.
    #[arg(value_name = "COMMAND")]
    pub commands: Vec<String>,
    /// The command as separate words, after `--` (executed directly, no shell).
    #[arg(last = true, value_name = "ARGV")]
    pub argv: Vec<String>,
    /// Discarded warm-up runs per command.
    #[arg(short, long, default_value_t = 1, value_name = "N")]
    pub warmup: usize,
    /// Counted runs per command (the median is quoted).
    #[arg(short, long, default_value_t = 3, value_name = "N")]
    pub runs: usize,
    /// Upper bound on runs when more are added because the answer is still inconclusive.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub max_runs: usize,
    /// Shell command run before every run (warm-ups included), through `sh -c`.
    #[arg(long, value_name = "CMD")]
    pub prepare: Option<String>,
    /// Shell command run once after a command's runs, through `sh -c`.
    #[arg(long, value_name = "CMD")]
    pub cleanup: Option<String>,
    /// Kill a run that takes longer than this (e.g. `30s`, `500ms`, `2m`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Benchmark name (repeat once per command); defaults to the command line.
    #[arg(short, long = "name", value_name = "NAME")]
    pub names: Vec<String>,
    /// Run the commands through `sh -c` instead of executing them directly.
    #[arg(long)]
    pub shell: bool,
    /// Keep going when the command exits non-zero (such results never become a baseline).
    #[arg(short = 'i', long)]
    pub ignore_failure: bool,
    /// Show the command's output instead of discarding it.
    #[arg(long)]
    pub show_output: bool,
    /// Save the result as a baseline JSON file.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Compare against a baseline JSON file.
    #[arg(long, value_name = "FILE")]
    pub compare: Option<PathBuf>,
    /// Compare against the latest clean run of this benchmark stored in the --history database.
    #[arg(long, conflicts_with = "compare", requires = "history")]
    pub compare_history: bool,
    /// Regression threshold, e.g. `10%`.
    #[arg(long, default_value = "10%", value_name = "PCT", value_parser = parse_pct)]
    pub threshold: f64,
    /// Noise floor a slowdown must clear to be called a regression (default: half the
    /// threshold).
    #[arg(long, value_name = "PCT", value_parser = parse_pct)]
    pub noise_floor: Option<f64>,
    /// Allowance for a systematic shift between the baseline's session and this one (default
    /// 2%, or learned from --history); verdict intervals are widened by it.
    #[arg(long, value_name = "PCT", value_parser = parse_pct_or_zero)]
    pub drift: Option<f64>,
    /// Exit 1 on a regression and 3 when inconclusive.
    #[arg(long)]
    pub fail_on_regression: bool,
    /// Metrics that decide the gate: wall, cpu, user, sys, rss, io, disk, ctx, faults.
    #[arg(long, default_value = "cpu,rss", value_name = "LIST")]
    pub gate: String,
    /// Family-wise confidence level in percent, split across gated metrics.
    #[arg(long, default_value = "95", value_name = "PCT", value_parser = parse_pct)]
    pub confidence: f64,
    /// Store every run in the history database.
    #[arg(long, value_name = "DB", num_args = 0..=1, default_missing_value = History::DEFAULT_PATH)]
    pub history: Option<PathBuf>,
    /// Write the full result (raw runs, environment) as JSON.
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,
    /// Write a Markdown report.
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,
    /// Write every run as CSV.
    #[arg(long, value_name = "FILE")]
    pub export_csv: Option<PathBuf>,
    /// Record one extra run of each command with `flamewatch record` (on- and off-CPU) and
    /// keep its flamegraph, pprof and folded stacks next to the JSON export (or in
    /// `flamewatch-out/`).
    #[arg(long)]
    pub profile: bool,
}

/// Parses `10%`, `10` or `0.5%`.
pub fn parse_pct(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a percentage such as 10%"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("`{s}` must be a positive percentage"));
    }
    Ok(v)
}

/// Parses a percentage that may be zero (`0%`, `2%`).
pub fn parse_pct_or_zero(s: &str) -> Result<f64, String> {
    if s.trim().trim_end_matches('%').trim().parse::<f64>() == Ok(0.0) {
        return Ok(0.0);
    }
    parse_pct(s)
}

/// Parses `30s`, `500ms`, `2m`, `1.5` (seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 30s"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!("`{s}` must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(0),
            if std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { bar }
    }
}

impl Observer for Progress {
    fn start(&mut self, name: &str, planned: usize) {
        self.bar.set_prefix(truncate(name, 30));
        self.bar.set_length(planned as u64);
        self.bar.set_position(0);
    }
    fn extend(&mut self, planned: usize) {
        self.bar.set_length(planned as u64);
        self.bar.set_message("adding runs (inconclusive)");
    }
    fn run_done(&mut self, _name: &str, m: &Measurement, warmup: bool) {
        let what = if warmup { "warm-up" } else { "run" };
        self.bar.set_message(format!(
            "{what}: {}",
            Metric::WallTime.format(m.get(Metric::WallTime))
        ));
        self.bar.inc(1);
    }
    fn finish(&mut self, _name: &str) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.into()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

/// Runs `flamewatch bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<Outcome> {
    let shell = args.shell.then_some("sh");
    let specs: Vec<CommandSpec> = match (args.commands.is_empty(), args.argv.is_empty()) {
        (true, true) => bail!(
            "no command given: put it after `--` or quote it, e.g. flamewatch bench -- ./app arg"
        ),
        (false, false) => {
            bail!("give the command either after `--` or as quoted strings, not both")
        }
        (true, false) => {
            if args.shell {
                vec![CommandSpec::from_line(&args.argv.join(" "), shell)?]
            } else {
                vec![CommandSpec::from_argv(args.argv.clone())?]
            }
        }
        (false, true) => args
            .commands
            .iter()
            .map(|c| CommandSpec::from_line(c, shell))
            .collect::<Result<_, _>>()?,
    };
    if !args.names.is_empty() && args.names.len() != specs.len() {
        bail!(
            "--name given {} times for {} commands: give one per command",
            args.names.len(),
            specs.len()
        );
    }
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let gate = Metric::parse_list(&args.gate).context("--gate")?;
    let mut gate_cfg = GateConfig::with_threshold(args.threshold);
    gate_cfg.gate = gate.clone();
    gate_cfg.confidence = args.confidence / 100.0;
    if let Some(f) = args.noise_floor {
        gate_cfg.floor_pct = f;
    }
    if let Some(d) = args.drift {
        gate_cfg.drift_pct = d;
    }
    gate_cfg.validate().context("invalid gate settings")?;
    let cfgs: Vec<BenchConfig> = specs
        .into_iter()
        .enumerate()
        .map(|(i, spec)| {
            let mut c = BenchConfig::new(spec);
            if let Some(n) = args.names.get(i) {
                c.name = n.clone();
            }
            c.warmup = args.warmup;
            c.runs = args.runs;
            c.prepare = args.prepare.clone();
            c.cleanup = args.cleanup.clone();
            c.timeout = args.timeout;
            c.ignore_failure = args.ignore_failure;
            c.show_output = args.show_output;
            c
        })
        .collect();
    if cfgs.len() > 1 && (args.compare.is_some() || args.compare_history || args.save.is_some()) {
        bail!(
            "--compare and --save work with one command; A/B runs compare the commands with each other"
        );
    }
    let baseline_doc = match &args.compare {
        Some(p) => Some(export::read(p)?),
        None => None,
    };

    let mut history = match &args.history {
        Some(p) => Some(History::open(p)?),
        None => None,
    };
    let environment = Environment::capture();
    let mut runner = Runner::new();
    let overhead = runner.calibrate(shell, 10);
    let mut progress = Progress::new();
    let mut doc_comparisons = Vec::new();
    let mut doc_ab = Vec::new();
    let mut outcome = Outcome::Pass;
    let mut statuses = Vec::new();
    let mut notes = Vec::new();

    let results: Vec<BenchResult> = if cfgs.len() > 1 {
        let mut ab_cfg = AbConfig::default();
        ab_cfg.max_runs = args.max_runs;
        let results = ab::run_interleaved(&mut runner, &cfgs, &ab_cfg, &mut progress)?;
        doc_ab = ab::paired_changes(&results, ab_cfg.confidence);
        for r in &results {
            statuses.push(RunStatus::assess(r, &gate));
        }
        results
    } else {
        let cfg = &cfgs[0];
        let mut result = runner.bench(cfg, &mut progress)?;
        let mut status = RunStatus::assess(&result, &gate);
        let baseline: Option<(BenchResult, Option<Environment>)> = if let Some(doc) = &baseline_doc
        {
            let base = doc.find(&cfg.name).with_context(|| {
                format!(
                    "baseline {} has no benchmark named `{}` (it has: {}); pass --name",
                    args.compare
                        .as_ref()
                        .map_or(String::new(), |p| p.display().to_string()),
                    cfg.name,
                    doc.benchmarks
                        .iter()
                        .map(|b| b.result.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            Some((base.clone(), Some(doc.environment.clone())))
        } else if args.compare_history {
            let h = history
                .as_ref()
                .context("--compare-history needs --history")?;
            match h.baseline(&cfg.name)? {
                Some(run) => {
                    notes.push(format!(
                        "baseline: history run {} (commit {}, {} runs)",
                        run.id,
                        run.git_commit
                            .as_deref()
                            .map_or("unknown", |c| &c[..c.len().min(8)]),
                        run.result.runs.len()
                    ));
                    Some((run.result, None))
                }
                None => {
                    notes.push(format!(
                        "no eligible baseline for `{}` in the history yet: nothing to compare; \
                         this run is stored and becomes the baseline if it is clean",
                        cfg.name
                    ));
                    None
                }
            }
        } else {
            None
        };
        if let Some((base, base_env)) = &baseline {
            if args.drift.is_none()
                && let Some(h) = &history
            {
                let runs = h.runs(Some(&cfg.name))?;
                let learned = gate
                    .iter()
                    .filter_map(|m| history::learned_noise_pct(&runs, *m))
                    .fold(None, |acc: Option<f64>, v| {
                        Some(acc.map_or(v, |a| a.max(v)))
                    });
                if let Some(noise) = learned {
                    let t = gate_cfg.threshold_pct;
                    gate_cfg.drift_pct = (noise / 2.0).clamp(0.5, t * 0.4);
                    notes.push(format!(
                        "drift allowance {:.1}% learned from {} stored runs (session-to-session \
                         change up to {:.1}%)",
                        gate_cfg.drift_pct,
                        runs.len(),
                        noise
                    ));
                }
            }
            let mut cmp = compare::compare(base, &result, &gate_cfg);
            loop {
                if cmp.outcome != GateOutcome::Inconclusive {
                    break;
                }
                let extra = compare::next_batch(result.runs.len(), args.max_runs);
                if extra == 0 {
                    break;
                }
                progress.extend(result.warmup + result.runs.len() + extra);
                runner.extend(cfg, &mut result, extra, &mut progress)?;
                flamewatch_bench::runner::refresh_warnings(&mut result);
                cmp = compare::compare(base, &result, &gate_cfg);
            }
            progress.finish(&cfg.name);
            cmp.environment_mismatches = base_env
                .as_ref()
                .map_or_else(Vec::new, |e| environment.mismatches(e));
            outcome = match cmp.outcome {
                GateOutcome::Pass => Outcome::Pass,
                GateOutcome::Regression => {
                    status = RunStatus::Regressed;
                    if args.fail_on_regression {
                        Outcome::Regression
                    } else {
                        Outcome::Pass
                    }
                }
                GateOutcome::Inconclusive => {
                    if status == RunStatus::Ok {
                        status = RunStatus::Inconclusive;
                    }
                    notes.extend(small_baseline_hint(base.runs.len(), result.runs.len()));
                    if args.fail_on_regression {
                        Outcome::Inconclusive
                    } else {
                        Outcome::Pass
                    }
                }
            };
            doc_comparisons.push(cmp);
        }
        statuses.push(status);
        vec![result]
    };
    drop(progress);

    // Print the report.
    let mut out = String::new();
    for r in &results {
        out.push_str(&report::result_table(r));
        out.push('\n');
    }
    if let Some(o) = &overhead {
        out.push_str(&report::overhead_line(o));
        out.push('\n');
    }
    for n in &notes {
        out.push_str(n);
        out.push('\n');
    }
    if !doc_ab.is_empty() {
        out.push('\n');
        for c in doc_ab.iter().filter(|c| {
            matches!(
                c.metric,
                Metric::WallTime | Metric::CpuTime | Metric::PeakRss
            )
        }) {
            out.push_str(&c.sentence());
            out.push('\n');
        }
    }
    for c in &doc_comparisons {
        out.push('\n');
        out.push_str(&report::gate_report(c));
    }
    print_stdout(&out)?;

    let session = Session {
        benchmarks: results.clone(),
        environment: environment.clone(),
        overhead,
    };
    let mut doc = Document::new(&session);
    doc.comparisons = doc_comparisons;
    doc.ab = doc_ab;

    if let Some(h) = history.as_mut() {
        for (r, s) in results.iter().zip(&statuses) {
            h.record(r, &environment, *s)?;
        }
    }
    if let Some(path) = &args.save {
        match statuses[0] {
            RunStatus::Ok => {
                export::write(&doc, &export::json::Json, path)?;
                eprintln!("baseline saved to {}", path.display());
            }
            other => {
                let why = match other {
                    RunStatus::Noisy => history::noisy_metrics(&results[0], &gate)
                        .iter()
                        .map(|(m, cv)| format!("{m} varies {:.1}% between runs", cv * 100.0))
                        .collect::<Vec<_>>()
                        .join(", "),
                    RunStatus::Failed => format!("{} runs failed", results[0].failures()),
                    _ => "the gate did not pass".into(),
                };
                bail!(
                    "not saving baseline {}: this run is {} ({why}, limit {:.0}%); a {} run never \
                     becomes a baseline: re-run on a quieter machine or with more --runs",
                    path.display(),
                    other.as_str(),
                    history::NOISY_CV * 100.0,
                    other.as_str()
                )
            }
        }
    }
    for (path, exporter) in [
        (
            &args.export_json,
            Box::new(export::json::Json) as Box<dyn export::Exporter>,
        ),
        (&args.export_markdown, Box::new(export::markdown::Markdown)),
        (&args.export_csv, Box::new(export::csv::Csv)),
    ] {
        if let Some(p) = path {
            export::write(&doc, exporter.as_ref(), p)?;
        }
    }
    if args.profile {
        let dir = args
            .export_json
            .as_deref()
            .and_then(std::path::Path::parent)
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(
                || PathBuf::from("flamewatch-out"),
                std::path::Path::to_path_buf,
            );
        for cfg in &cfgs {
            profile_one(&cfg.command, &dir)?;
        }
    }
    Ok(outcome)
}

/// Records one extra, uncounted run of `spec` and reports the files written.
fn profile_one(spec: &CommandSpec, dir: &std::path::Path) -> anyhow::Result<()> {
    let Some((program, rest)) = spec.argv.split_first() else {
        bail!("--profile: no command to record");
    };
    let config = flamewatch_record::RecordConfig::launch(program.clone(), rest.to_vec());
    let formats = flamewatch_profile::Format::parse_list("svg,pprof")
        .map_err(|e| anyhow::anyhow!("--profile: {e}"))?;
    let (recording, _, written) = super::record::record_into(&config, dir, formats)
        .with_context(|| format!("--profile: cannot record {}", spec.display))?;
    if let Some(code) = recording.exit_code.filter(|c| *c != 0) {
        eprintln!(
            "flamewatch: warning: the profiled run of {} exited with {code}",
            spec.display
        );
    }
    for file in &written {
        eprintln!(
            "flamewatch: profile of {}: wrote {}",
            spec.display,
            file.path.display()
        );
    }
    Ok(())
}

/// Prints to stdout; a closed pipe surfaces as an io error that `main` treats as success.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_percentages_and_durations() {
        assert_eq!(parse_pct_or_zero("0%").unwrap(), 0.0);
        assert_eq!(parse_pct_or_zero("2%").unwrap(), 2.0);
        assert_eq!(parse_pct("10%").unwrap(), 10.0);
        assert_eq!(parse_pct(" 2.5 ").unwrap(), 2.5);
        assert!(parse_pct("-3%").is_err() && parse_pct("ten").is_err());
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn a_small_baseline_is_named_only_when_it_is_the_limit() {
        let hint = small_baseline_hint(3, 30).expect("3 runs against 30");
        assert!(
            hint.contains("only 3 runs") && hint.contains("--runs 10"),
            "{hint}"
        );
        // this side is still the smaller one: more runs here do help
        assert_eq!(small_baseline_hint(3, 3), None);
        // a baseline of 10 runs is not the problem
        assert_eq!(small_baseline_hint(10, 30), None);
    }
}
