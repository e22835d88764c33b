//! `flamewatch history`: the stored runs of `bench --history` as a table and a trend plot.

use crate::Outcome;
use anyhow::{Context, bail};
use clap::Args;
use flamewatch_bench::Metric;
use flamewatch_bench::changepoint::{self, ChangePointConfig};
use flamewatch_bench::history::History;
use flamewatch_bench::plot::{self, Trend, TrendPoint};
use std::path::PathBuf;

/// Arguments of `flamewatch history`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    flamewatch history\n  \
    flamewatch history --name build --metric cpu --plot trend.svg\n  \
    flamewatch history --db ci/history.db --metric rss --plot rss.png")]
pub struct HistoryArgs {
    /// History database written by `flamewatch bench --history`.
    #[arg(long, default_value = History::DEFAULT_PATH, value_name = "DB")]
    pub db: PathBuf,
    /// Only this benchmark.
    #[arg(short, long, value_name = "NAME")]
    pub name: Option<String>,
    /// Metric to show: wall, cpu, user, sys, rss, … or a key such as cpu_time.
    #[arg(short, long, default_value = "cpu", value_name = "METRIC")]
    pub metric: String,
    /// Draw a trend plot (`.svg` or `.png`) with the baseline and change points.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
}

/// Runs `flamewatch history`.
pub fn run(args: HistoryArgs) -> anyhow::Result<Outcome> {
    let metric = match Metric::parse_group(&args.metric).as_deref() {
        Some([m]) => *m,
        _ => bail!(
            "--metric `{}` must name one metric, e.g. cpu, wall, rss or io_write",
            args.metric
        ),
    };
    if !args.db.exists() {
        bail!(
            "history database {} does not exist: record runs with `flamewatch bench --history`",
            args.db.display()
        );
    }
    let db = History::open(&args.db)?;
    let names = match &args.name {
        Some(n) => vec![n.clone()],
        None => db.names()?,
    };
    if names.is_empty() {
        bail!("history database {} holds no runs yet", args.db.display());
    }
    if args.plot.is_some() && names.len() > 1 {
        bail!(
            "--plot needs --name: the history holds {} benchmarks ({})",
            names.len(),
            names.join(", ")
        );
    }
    let mut out = String::new();
    for name in &names {
        let runs = db.runs(Some(name))?;
        if runs.is_empty() {
            bail!(
                "no runs named `{name}` in {} (names: {})",
                args.db.display(),
                db.names()?.join(", ")
            );
        }
        let points: Vec<TrendPoint> = runs
            .iter()
            .filter_map(|r| {
                r.result.summary(metric).map(|s| TrendPoint {
                    median: s.median,
                    min: s.min,
                    max: s.max,
                    eligible: r.eligible,
                })
            })
            .collect();
        let medians: Vec<f64> = points.iter().map(|p| p.median).collect();
        let cps = changepoint::e_divisive(&medians, &ChangePointConfig::default());
        let baseline = runs.iter().rposition(|r| r.eligible);
        out.push_str(&format!(
            "History: {name}  ({metric}, {} executions)\n",
            runs.len()
        ));
        out.push_str(&format!(
            "  {:>4}  {:<19}  {:<10}  {:<12}  {:>5}  {:>12}  {:>8}\n",
            "id", "time (UTC)", "commit", "status", "runs", "median", "change"
        ));
        let mut prev: Option<f64> = None;
        for (i, r) in runs.iter().enumerate() {
            let med = r.result.summary(metric).map(|s| s.median);
            let change = match (prev, med) {
                (Some(p), Some(m)) if p != 0.0 => format!("{:+.1}%", 100.0 * (m - p) / p),
                _ => String::new(),
            };
            let commit = r.git_commit.as_deref().map_or("-".to_string(), |c| {
                format!(
                    "{}{}",
                    &c[..c.len().min(8)],
                    if r.git_dirty { "*" } else { "" }
                )
            });
            let mut marks = Vec::new();
            if Some(i) == baseline {
                marks.push("◀ baseline");
            }
            if cps.contains(&i) {
                marks.push("▲ change point");
            }
            out.push_str(&format!(
                "  {:>4}  {:<19}  {:<10}  {:<12}  {:>5}  {:>12}  {:>8}  {}\n",
                r.id,
                format_time(r.time),
                commit,
                r.status,
                r.result.runs.len(),
                med.map_or("-".into(), |m| metric.format(m)),
                change,
                marks.join("  ")
            ));
            if med.is_some() {
                prev = med;
            }
        }
        out.push('\n');
        if let Some(path) = &args.plot {
            let trend = Trend {
                name: name.clone(),
                metric,
                baseline: baseline
                    .and_then(|b| runs[b].result.summary(metric))
                    .map(|s| s.median),
                points,
                change_points: cps,
            };
            plot::draw(&trend, path).with_context(|| format!("--plot {}", path.display()))?;
            out.push_str(&format!("trend plot written to {}\n", path.display()));
        }
    }
    super::bench::print_stdout(&out)?;
    Ok(Outcome::Pass)
}

/// `YYYY-MM-DD HH:MM:SS` in UTC from Unix seconds (civil-from-days, proleptic Gregorian).
fn format_time(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_time() {
        assert_eq!(super::format_time(0), "1970-01-01 00:00:00");
        assert_eq!(super::format_time(1_700_000_000), "2023-11-14 22:13:20");
    }
}
