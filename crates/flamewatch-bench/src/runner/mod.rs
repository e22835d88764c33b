//! Runs a command repeatedly and measures every run.
//!
//! A benchmark is `warmup` discarded runs followed by counted runs. `--prepare` runs (through
//! `sh -c`) before every run, warm-ups included; `--cleanup` runs once after the benchmark's
//! runs. Every run is measured by [`linux::run_once`]; a non-zero exit fails the benchmark
//! unless failures are ignored. Before the first benchmark the runner measures its own
//! overhead: the spawn-to-exit time of a trivial program through the same code path.

pub mod linux;

use crate::Metric;
use crate::command::CommandSpec;
use crate::env::Environment;
use crate::stats::Summary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Configuration of one benchmarked command.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BenchConfig {
    /// Name used in reports, baselines and history (defaults to the command line).
    pub name: String,
    /// What to run.
    pub command: CommandSpec,
    /// Discarded warm-up runs (default 1).
    pub warmup: usize,
    /// Counted runs (default 3).
    pub runs: usize,
    /// Run before every run through `sh -c`.
    pub prepare: Option<String>,
    /// Run once after all runs through `sh -c`.
    pub cleanup: Option<String>,
    /// Kill a run after this long.
    pub timeout: Option<Duration>,
    /// Keep going when the command exits non-zero.
    pub ignore_failure: bool,
    /// Show the command's stdout/stderr instead of discarding them.
    pub show_output: bool,
}

impl BenchConfig {
    /// A configuration with the documented defaults (1 warm-up, 3 runs).
    pub fn new(command: CommandSpec) -> Self {
        BenchConfig {
            name: command.display.clone(),
            command,
            warmup: 1,
            runs: 3,
            prepare: None,
            cleanup: None,
            timeout: None,
            ignore_failure: false,
            show_output: false,
        }
    }
}

/// Every metric of one run, in base units (seconds, bytes, counts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Metric values keyed by metric.
    pub values: BTreeMap<Metric, f64>,
    /// Exit code (None when killed by a signal).
    pub exit_code: Option<i32>,
    /// Terminating signal, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
}

impl Measurement {
    /// Value of one metric (NaN when missing, e.g. I/O counters unavailable).
    pub fn get(&self, m: Metric) -> f64 {
        self.values.get(&m).copied().unwrap_or(f64::NAN)
    }

    /// Whether the run succeeded.
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0) && self.signal.is_none()
    }

    fn from_raw(raw: &linux::RawRun) -> Measurement {
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        let ru = &raw.rusage;
        let user = tv(ru.ru_utime);
        let sys = tv(ru.ru_stime);
        let mut v = BTreeMap::new();
        v.insert(Metric::WallTime, raw.wall.as_secs_f64());
        v.insert(Metric::CpuTime, user + sys);
        v.insert(Metric::UserTime, user);
        v.insert(Metric::SysTime, sys);
        let peak = raw.cgroup_peak.unwrap_or(ru.ru_maxrss as u64 * 1024);
        v.insert(Metric::PeakRss, peak as f64);
        if let Some(io) = raw.io {
            v.insert(Metric::IoRead, io.rchar as f64);
            v.insert(Metric::IoWrite, io.wchar as f64);
            v.insert(Metric::DiskRead, io.read_bytes as f64);
            v.insert(Metric::DiskWrite, io.write_bytes as f64);
        }
        v.insert(Metric::CtxVoluntary, ru.ru_nvcsw as f64);
        v.insert(Metric::CtxInvoluntary, ru.ru_nivcsw as f64);
        v.insert(Metric::FaultsMinor, ru.ru_minflt as f64);
        v.insert(Metric::FaultsMajor, ru.ru_majflt as f64);
        let (exit_code, signal) = match raw.exit {
            linux::ExitKind::Code(c) => (Some(c), None),
            linux::ExitKind::Signal(s) => (None, Some(s)),
        };
        Measurement {
            values: v,
            exit_code,
            signal,
        }
    }

    fn status_text(&self) -> String {
        match (self.exit_code, self.signal) {
            (_, Some(s)) => format!("signal {s}"),
            (Some(c), None) => format!("exit code {c}"),
            (None, None) => "unknown status".into(),
        }
    }
}

/// How peak RSS was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RssSource {
    /// `memory.peak` of a per-run cgroup v2.
    CgroupV2,
    /// `ru_maxrss` from `wait4` of a forked child.
    Wait4,
}

/// The harness's measured cost per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overhead {
    /// Median wall time of spawning and reaping a trivial program, seconds.
    pub wall: f64,
    /// Median CPU time charged to that trivial program, seconds.
    pub cpu: f64,
    /// Number of calibration runs.
    pub runs: usize,
    /// The calibration program.
    pub program: String,
    /// Median peak RSS reported for the calibration program, bytes: the smallest peak this
    /// harness can report on this machine (with `wait4`, a forked child starts from a copy of
    /// the harness's resident anonymous pages).
    #[serde(default)]
    pub rss_floor: f64,
}

/// Everything measured for one command.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchResult {
    /// Benchmark name.
    pub name: String,
    /// The command.
    pub command: CommandSpec,
    /// Warm-up runs performed (discarded).
    pub warmup: usize,
    /// Counted runs, raw.
    pub runs: Vec<Measurement>,
    /// How peak RSS was measured.
    pub rss_source: RssSource,
    /// With `wait4`, the smallest peak RSS this harness can report (the calibration program's
    /// peak, or else the harness's resident anonymous memory): a forked child inherits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_floor: Option<f64>,
    /// Warnings about the measurement (short command, failures, RSS floor…).
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl BenchResult {
    /// All values of one metric over the counted runs (missing values skipped).
    pub fn values(&self, m: Metric) -> Vec<f64> {
        self.runs
            .iter()
            .map(|r| r.get(m))
            .filter(|v| v.is_finite())
            .collect()
    }

    /// Summary of one metric, when it has values.
    pub fn summary(&self, m: Metric) -> Option<Summary> {
        let v = self.values(m);
        (!v.is_empty()).then(|| Summary::of(&v))
    }

    /// Number of failed runs (non-zero exit or signal).
    pub fn failures(&self) -> usize {
        self.runs.iter().filter(|r| !r.ok()).count()
    }
}

/// A full benchmark session: one result per command plus shared context.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Per-command results.
    pub benchmarks: Vec<BenchResult>,
    /// Machine and repository fingerprint at start.
    pub environment: Environment,
    /// Harness overhead, when measured.
    pub overhead: Option<Overhead>,
}

/// Progress notifications, e.g. for a progress bar.
pub trait Observer {
    /// A benchmark starts with this many runs planned (warm-ups included).
    fn start(&mut self, _name: &str, _planned: usize) {}
    /// The plan grew (adaptive runs).
    fn extend(&mut self, _planned: usize) {}
    /// One run finished.
    fn run_done(&mut self, _name: &str, _m: &Measurement, _warmup: bool) {}
    /// A benchmark finished.
    fn finish(&mut self, _name: &str) {}
}

/// An observer that does nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// Commands faster than this get a warning: spawn cost and its jitter dominate.
pub const SHORT_COMMAND_S: f64 = 5e-3;

/// Executes benchmarks.
pub struct Runner {
    cgroup: Option<linux::CgroupV2>,
    rss_floor: Option<f64>,
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}

impl Runner {
    /// A runner using a per-run cgroup v2 when the machine offers one, `wait4` otherwise.
    pub fn new() -> Self {
        Runner {
            cgroup: linux::CgroupV2::detect(),
            rss_floor: None,
        }
    }

    /// A runner that never uses cgroups.
    pub fn without_cgroup() -> Self {
        Runner {
            cgroup: None,
            rss_floor: None,
        }
    }

    /// How peak RSS will be measured.
    pub fn rss_source(&self) -> RssSource {
        if self.cgroup.is_some() {
            RssSource::CgroupV2
        } else {
            RssSource::Wait4
        }
    }

    /// Runs one measured execution of `cfg`'s command (no prepare/cleanup, no failure check).
    pub fn measure(&mut self, cfg: &BenchConfig) -> crate::Result<Measurement> {
        let output = if cfg.show_output {
            linux::Output::Inherit
        } else {
            linux::Output::Null
        };
        let raw = linux::run_once(&cfg.command.argv, output, cfg.timeout, self.cgroup.as_mut())
            .map_err(|source| crate::Error::Spawn {
                command: cfg.command.display.clone(),
                source,
            })?;
        let mut m = Measurement::from_raw(&raw);
        if raw.timed_out {
            m.exit_code = None;
            m.signal = Some(libc::SIGKILL);
        }
        if raw.timed_out {
            return Err(crate::Error::Timeout {
                command: cfg.command.display.clone(),
                run: 0,
                timeout_s: cfg.timeout.map_or(0.0, |t| t.as_secs_f64()),
            });
        }
        Ok(m)
    }

    /// Runs prepare + one execution and checks the exit status. `run_no` is 1-based and
    /// counts warm-ups.
    pub fn run_checked(&mut self, cfg: &BenchConfig, run_no: usize) -> crate::Result<Measurement> {
        if let Some(p) = &cfg.prepare {
            run_hook("--prepare", p)?;
        }
        let m = self.measure(cfg).map_err(|e| match e {
            crate::Error::Timeout {
                command, timeout_s, ..
            } => crate::Error::Timeout {
                command,
                run: run_no,
                timeout_s,
            },
            other => other,
        })?;
        if !m.ok() && !cfg.ignore_failure {
            return Err(crate::Error::CommandFailed {
                command: cfg.command.display.clone(),
                run: run_no,
                status: m.status_text(),
            });
        }
        Ok(m)
    }

    /// Runs a whole benchmark: warm-ups, counted runs, cleanup.
    pub fn bench(
        &mut self,
        cfg: &BenchConfig,
        observer: &mut dyn Observer,
    ) -> crate::Result<BenchResult> {
        if cfg.runs == 0 {
            return Err(crate::Error::Config("--runs must be at least 1".into()));
        }
        observer.start(&cfg.name, cfg.warmup + cfg.runs);
        let mut result = self.empty_result(cfg);
        for i in 0..cfg.warmup {
            let m = self.run_checked(cfg, i + 1)?;
            observer.run_done(&cfg.name, &m, true);
        }
        for i in 0..cfg.runs {
            let m = self.run_checked(cfg, cfg.warmup + i + 1)?;
            observer.run_done(&cfg.name, &m, false);
            result.runs.push(m);
        }
        self.finish(cfg, &mut result)?;
        observer.finish(&cfg.name);
        Ok(result)
    }

    /// Adds `extra` counted runs to an existing result (adaptive sampling).
    pub fn extend(
        &mut self,
        cfg: &BenchConfig,
        result: &mut BenchResult,
        extra: usize,
        observer: &mut dyn Observer,
    ) -> crate::Result<()> {
        for _ in 0..extra {
            let no = result.warmup + result.runs.len() + 1;
            let m = self.run_checked(cfg, no)?;
            observer.run_done(&cfg.name, &m, false);
            result.runs.push(m);
        }
        Ok(())
    }

    /// A result with no runs yet, for callers that schedule runs themselves (A/B).
    pub fn empty_result(&self, cfg: &BenchConfig) -> BenchResult {
        BenchResult {
            name: cfg.name.clone(),
            command: cfg.command.clone(),
            warmup: cfg.warmup,
            runs: Vec::new(),
            rss_source: self.rss_source(),
            rss_floor: match self.rss_source() {
                RssSource::Wait4 => self
                    .rss_floor
                    .or_else(|| linux::harness_rss_anon().map(|b| b as f64)),
                RssSource::CgroupV2 => None,
            },
            warnings: Vec::new(),
        }
    }

    /// Runs cleanup and computes warnings for a finished benchmark.
    pub fn finish(&mut self, cfg: &BenchConfig, result: &mut BenchResult) -> crate::Result<()> {
        if let Some(c) = &cfg.cleanup {
            run_hook("--cleanup", c)?;
        }
        refresh_warnings(result);
        Ok(())
    }

    /// Measures the harness's own per-run cost with `true` (or `sh -c ''` in shell mode).
    pub fn calibrate(&mut self, shell: Option<&str>, runs: usize) -> Option<Overhead> {
        let argv: Vec<String> = match shell {
            Some(sh) => vec![sh.into(), "-c".into(), String::new()],
            None => vec![find_in_path("true")?],
        };
        let spec = CommandSpec::from_argv(argv).ok()?;
        let program = spec.display.clone();
        let cfg = BenchConfig::new(spec);
        let mut wall = Vec::new();
        let mut cpu = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..runs.max(1) {
            let m = self.measure(&cfg).ok()?;
            wall.push(m.get(Metric::WallTime));
            cpu.push(m.get(Metric::CpuTime));
            rss.push(m.get(Metric::PeakRss));
        }
        let rss_floor = crate::stats::median(&rss);
        if self.cgroup.is_none() {
            self.rss_floor = Some(rss_floor);
        }
        Some(Overhead {
            wall: crate::stats::median(&wall),
            cpu: crate::stats::median(&cpu),
            runs: wall.len(),
            program,
            rss_floor,
        })
    }
}

/// Recomputes the measurement warnings of a result from its runs.
pub fn refresh_warnings(result: &mut BenchResult) {
    result.warnings.clear();
    let failures = result.failures();
    if failures > 0 {
        result.warnings.push(format!(
            "{failures} of {} runs failed (non-zero exit ignored by --ignore-failure)",
            result.runs.len()
        ));
    }
    if let Some(s) = result.summary(Metric::WallTime)
        && s.median < SHORT_COMMAND_S
    {
        result.warnings.push(format!(
            "command takes {} (< 5 ms): spawn overhead and its jitter dominate; measure a \
             longer workload for meaningful results",
            Metric::WallTime.format(s.median)
        ));
    }
    if let (Some(floor), Some(s)) = (result.rss_floor, result.summary(Metric::PeakRss))
        && s.median <= floor * 1.1
    {
        result.warnings.push(format!(
            "peak RSS {} is at the floor this harness can measure ({} for `true`): the \
             command's own peak may be lower",
            Metric::PeakRss.format(s.median),
            Metric::PeakRss.format(floor)
        ));
    }
}

/// Runs a `--prepare`/`--cleanup` command through `sh -c`.
fn run_hook(flag: &'static str, line: &str) -> crate::Result<()> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(line)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|source| crate::Error::Sys {
            what: format!("cannot run {flag} `{line}`"),
            source,
        })?;
    if !status.success() {
        return Err(crate::Error::HookFailed {
            flag,
            command: line.into(),
            status: status.to_string(),
        });
    }
    Ok(())
}

/// Finds an executable on PATH.
pub fn find_in_path(prog: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
}
