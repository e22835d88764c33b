//! One module per subcommand; each owns its clap args struct and a `run` function.

mod bench;
mod diff;
mod gate;
mod history;
mod record;
mod report;
mod status;

use crate::Outcome;
use clap::Subcommand;

/// All subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Benchmark commands: wall, CPU, peak RSS, I/O, context switches and faults per run; baseline gate, A/B, history.
    Bench(Box<bench::BenchArgs>),
    /// Compare two saved profiles: differential flamegraph and per-function delta table.
    Diff(diff::DiffArgs),
    /// Ask a running service's management API for its deploy verdict (exit 0 pass, 1 block, 3 warn).
    Gate(gate::GateArgs),
    /// Show the stored benchmark history as a table and a trend plot with change points.
    History(history::HistoryArgs),
    /// Profile a command or a running process, on and off CPU (flamegraph, pprof, map).
    Record(record::RecordArgs),
    /// Print the report and performance map of a saved pprof or folded profile.
    Report(report::ReportArgs),
    /// Print the human profiling summary of a running service.
    Status(status::StatusArgs),
}

/// Runs one subcommand.
pub fn run(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Bench(args) => bench::run(*args),
        Command::Diff(args) => diff::run(args),
        Command::Gate(args) => gate::run(args),
        Command::History(args) => history::run(args),
        Command::Record(args) => record::run(args),
        Command::Report(args) => report::run(args),
        Command::Status(args) => status::run(args),
    }
}
