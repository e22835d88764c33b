//! `flamewatch-bench`: multi-metric command benchmarking with a regression gate that does not
//! cry wolf.
//!
//! Data flow: a [`runner::BenchConfig`] describes one command; the [`runner::Runner`] executes it
//! directly (no shell unless asked), measuring every run with the kernel's own accounting
//! ([`runner`]), and produces a [`runner::BenchResult`] holding every raw per-run value plus the
//! [`env::Environment`] fingerprint. [`compare`] turns a baseline result and a candidate result
//! into per-metric verdicts using interval estimates ([`stats`]) and a magnitude threshold;
//! [`ab`] does the same for interleaved, paired A/B runs. [`export`] writes JSON (the baseline
//! format), Markdown and CSV; [`history`] keeps every run in SQLite, [`changepoint`] finds shifts
//! in that history and [`plot`] draws it.
//!
//! Invariants:
//! - raw per-run values are never altered; summaries are derived from them;
//! - a regression is only called from a confidence interval together with the threshold, never
//!   from a point estimate alone; every random choice is seeded so verdicts are reproducible;
//! - only [`runner::linux`] issues process and cgroup syscalls.

pub mod ab;
pub mod changepoint;
pub mod command;
pub mod compare;
pub mod env;
pub mod export;
pub mod history;
pub mod metric;
pub mod plot;
pub mod report;
pub mod runner;
pub mod stats;

pub use metric::Metric;

/// Errors raised by the benchmark library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line could not be parsed into words.
    #[error("cannot parse command `{command}`: {reason}")]
    BadCommand {
        /// The command as given.
        command: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The command could not be started.
    #[error("cannot start `{command}`: {source} (check the program name and PATH, or use --shell)")]
    Spawn {
        /// The command as given.
        command: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A run exited unsuccessfully.
    #[error(
        "`{command}` failed on run {run} with {status}; fix the command or pass --ignore-failure"
    )]
    CommandFailed {
        /// The command as given.
        command: String,
        /// 1-based run number (warm-ups included).
        run: usize,
        /// Exit description, e.g. `exit code 1` or `signal 9`.
        status: String,
    },
    /// A run exceeded `--timeout`.
    #[error("`{command}` exceeded --timeout {timeout_s:.3} s on run {run} and was killed")]
    Timeout {
        /// The command as given.
        command: String,
        /// 1-based run number.
        run: usize,
        /// The timeout in seconds.
        timeout_s: f64,
    },
    /// A `--prepare` or `--cleanup` command failed.
    #[error("{flag} command `{command}` failed with {status}")]
    HookFailed {
        /// `--prepare` or `--cleanup`.
        flag: &'static str,
        /// The hook command.
        command: String,
        /// Exit description.
        status: String,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A baseline or result file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file at fault.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The history database failed.
    #[error("history database {path}: {source}")]
    History {
        /// Database path.
        path: String,
        /// SQLite error.
        source: rusqlite::Error,
    },
    /// An invalid setting.
    #[error("{0}")]
    Config(String),
    /// A plot could not be drawn.
    #[error("cannot draw plot {path}: {reason}")]
    Plot {
        /// Output path.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
