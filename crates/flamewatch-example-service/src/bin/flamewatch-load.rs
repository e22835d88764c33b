//! `flamewatch-load`: a bounded loopback HTTP load generator (glue over
//! `flamewatch_example_service::load`).

use anyhow::Context;
use clap::Parser;
use flamewatch_example_service::load::{self, LoadConfig, Target};
use std::time::Duration;

/// Sends keep-alive HTTP/1.1 GETs to a loopback URL until a request count or a time limit is
/// reached, then prints throughput and latency percentiles.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Examples:\n  flamewatch-load http://127.0.0.1:8080/ping --requests 100000 --duration 10s --connections 16\n  flamewatch-load http://127.0.0.1:8080/fast -n 200 -H x-user-id:mallory --json"
)]
struct Args {
    /// Target URL (loopback only): http://127.0.0.1:PORT/PATH.
    url: String,
    /// Requests to send at most.
    #[arg(short = 'n', long, default_value_t = 10_000)]
    requests: u64,
    /// Time limit, e.g. 10s, 500ms, 2m.
    #[arg(short, long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Concurrent keep-alive connections.
    #[arg(short, long, default_value_t = 8)]
    connections: usize,
    /// Runtime threads of the generator.
    #[arg(short, long, default_value_t = 1)]
    threads: usize,
    /// Extra header `NAME:VALUE` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 10s, 500ms or 2m"))?;
    let secs = match unit {
        "ms" => v / 1e3,
        "s" => v,
        "m" => v * 60.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{s}` is out of range"))
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("flamewatch-load: {e:#}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let target = Target::parse(&args.url)?;
    let headers = args
        .headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("invalid --header `{h}`: expected NAME:VALUE"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = LoadConfig {
        target,
        requests: args.requests,
        duration: args.duration,
        connections: args.connections,
        headers,
    };
    config.validate()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let report = rt.block_on(load::run(config))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "requests: {} ok, {} errors in {:.2}s\nthroughput: {:.1} req/s\nlatency: mean {:.3}ms, p50 {:.3}ms, p99 {:.3}ms, max {:.3}ms",
            report.ok,
            report.errors,
            report.elapsed_s,
            report.throughput_rps,
            report.mean_ms,
            report.p50_ms,
            report.p99_ms,
            report.max_ms
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
    }
}
