//! `flamewatch-example-service`: serves the example app with flamewatch request profiling and
//! its management API on loopback.
//!
//! Prints `app URL` and `api URL` on stdout once both listen (ports 0 are resolved), then
//! serves until killed.

use anyhow::Context;
use clap::{Parser, ValueEnum};
use flamewatch_core::window::WindowConfig;
use flamewatch_example_service::app;
use flamewatch_http::{ApiConfig, HttpConfig, HttpProfiler};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Profiling mode.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    /// Trace a sampled fraction of requests in depth.
    Sampling,
    /// Trace every request.
    Full,
}

/// The example service profiled by flamewatch.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Examples:\n  flamewatch-example-service --bind 127.0.0.1:8080 --api-bind 127.0.0.1:6060\n  flamewatch-example-service --mode full --window-ms 500\n  flamewatch-example-service --config flamewatch.yml\n  flamewatch-example-service --off            # no profiling at all (overhead baseline)\n  curl -X POST http://127.0.0.1:8080/admin/slow   # regressionTest becomes ~45% slower"
)]
struct Args {
    /// Address of the application.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Address of the management API [default: 127.0.0.1:6060, or `api.bind` of --config].
    #[arg(long)]
    api_bind: Option<SocketAddr>,
    /// A flamewatch YAML configuration: profiler settings (reloaded when the file changes),
    /// `api.*` and `trigger.*`. Replaces --mode, --sample-rate, --window-ms and
    /// --overhead-max-pct; --api-bind and --token still override the file.
    #[arg(long, conflicts_with_all = ["off", "mode", "sample_rate", "window_ms", "overhead_max_pct"])]
    config: Option<PathBuf>,
    /// Dotted path of the flamewatch settings inside --config (e.g. `runtime.profiling`).
    #[arg(long, requires = "config")]
    config_section: Option<String>,
    /// Fraction of requests traced in depth in sampling mode (0 to 1).
    #[arg(long, default_value_t = 0.01)]
    sample_rate: f64,
    /// Sampling or full.
    #[arg(long, value_enum, default_value = "sampling")]
    mode: ModeArg,
    /// Disable profiling: no profiler, no request layer, no management API.
    #[arg(long)]
    off: bool,
    /// Length of one statistics window in milliseconds (short windows for tests).
    #[arg(long, default_value_t = 60_000)]
    window_ms: u64,
    /// The profiler's self-overhead limit in percent of process CPU time before its circuit
    /// breaker stops deep tracing; 0 disables the breaker.
    #[arg(long, default_value_t = 2.0)]
    overhead_max_pct: f64,
    /// Bearer token required by the management API.
    #[arg(long)]
    token: Option<String>,
    /// The user (`x-user-id`) whose requests are slower.
    #[arg(long, default_value = "mallory")]
    slow_user: String,
    /// How much slower that user's requests are, in milliseconds.
    #[arg(long, default_value_t = 20)]
    slow_user_ms: u64,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("flamewatch-example-service: {e:#}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.sample_rate) {
        anyhow::bail!(
            "invalid --sample-rate {}: expected a number from 0 to 1",
            args.sample_rate
        );
    }
    if args.overhead_max_pct.is_nan() || args.overhead_max_pct < 0.0 {
        anyhow::bail!(
            "invalid --overhead-max-pct {}: expected a percentage, 0 to disable the breaker",
            args.overhead_max_pct
        );
    }
    if args.window_ms == 0 {
        anyhow::bail!("invalid --window-ms 0: expected at least 1");
    }
    let workers = args.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n.max(1),
    );
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all().worker_threads(workers);
    // Seed each worker's database as it starts; `serve` listens once all are seeded, so no
    // request pays for it.
    rt.on_thread_start(|| {
        let _ = flamewatch_example_service::db::with_conn(|_| Ok(()));
        SEEDED.fetch_add(1, Ordering::Relaxed);
    });
    let rt = rt.build().context("cannot start the tokio runtime")?;
    rt.block_on(serve(args, workers))
}

/// Starts the profiler from `path` (watched for changes) and returns the request profiling
/// and API settings it asks for.
fn start_from_file(
    path: &std::path::Path,
    section: Option<&str>,
) -> anyhow::Result<(HttpConfig, ApiConfig)> {
    let mut builder = flamewatch::config::Config::builder().file(path);
    if let Some(s) = section {
        builder = builder.section(s);
    }
    let config = builder.clone().env(std::env::vars()).build()?;
    flamewatch::init_from_builder(builder, None, flamewatch::config::WatchOptions::default())?;
    Ok((
        HttpConfig::from_config(&config),
        ApiConfig::from_config(&config),
    ))
}

/// Starts the profiler from the command-line flags.
fn start_from_flags(args: &Args) -> (HttpConfig, ApiConfig) {
    let window = WindowConfig {
        window_ns: args.window_ms.saturating_mul(1_000_000),
        windows: 100,
        recent_windows: 2,
    };
    let mode = match args.mode {
        ModeArg::Sampling => flamewatch::Mode::Sampling,
        ModeArg::Full => flamewatch::Mode::Full,
    };
    let breaker = if args.overhead_max_pct == 0.0 {
        flamewatch::BreakerSettings::off()
    } else {
        let mut b = flamewatch::BreakerSettings::default();
        b.max_pct = args.overhead_max_pct;
        b
    };
    flamewatch::init(
        flamewatch::Settings::default()
            .mode(mode)
            .sample_rate(args.sample_rate)
            .window(window)
            .breaker(breaker),
    );
    (HttpConfig::default(), ApiConfig::default())
}

/// Threads whose database is seeded.
static SEEDED: AtomicUsize = AtomicUsize::new(0);

async fn serve(args: Args, workers: usize) -> anyhow::Result<()> {
    let ready = tokio::time::Instant::now() + Duration::from_secs(60);
    while SEEDED.load(Ordering::Relaxed) < workers {
        anyhow::ensure!(
            tokio::time::Instant::now() < ready,
            "the worker threads did not open their databases within 60s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let state = app::AppState::new(
        Some(args.slow_user.clone()),
        Duration::from_millis(args.slow_user_ms),
    );
    let mut router = app::router(state);
    let mut out = std::io::stdout().lock();
    let mut _api = None;
    if !args.off {
        let (http_config, mut api_config) = match &args.config {
            Some(path) => start_from_file(path, args.config_section.as_deref())?,
            None => start_from_flags(&args),
        };
        let http = HttpProfiler::new(http_config.user_header(app::USER_HEADER));
        router = router.layer(http.layer());
        if let Some(bind) = args.api_bind {
            api_config = api_config.bind(bind);
        }
        if let Some(t) = &args.token {
            api_config = api_config.token(t);
        }
        let api = http
            .serve(api_config.clone())
            .await
            .with_context(|| format!("cannot listen on the API address {}", api_config.bind))?;
        writeln!(out, "api {}", api.url(&api_config))?;
        _api = Some(api);
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on --bind {}", args.bind))?;
    writeln!(out, "app http://{}", listener.local_addr()?)?;
    out.flush()?;
    drop(out);
    axum::serve(listener, router)
        .await
        .context("the application server failed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Args::command().debug_assert();
    }
}
