//! A/B comparison of several commands with interleaved runs and paired statistics.
//!
//! Runs are interleaved round by round, in counterbalanced order (A B, B A, A B, …), so slow
//! drift of the machine (frequency, neighbours, caches) and any "runs second" effect hit every
//! command alike. Round `i` of each command forms a pair with
//! round `i` of the reference (the first command); the change is the paired Hodges–Lehmann
//! estimate (median of Walsh averages of the differences) with the exact Wilcoxon signed-rank
//! interval, in percent of the reference median. Rounds are added while a key metric's interval
//! is still unbounded (too few pairs for the confidence level), up to `max_runs`.

use crate::Metric;
use crate::compare::relative;
use crate::runner::{BenchConfig, BenchResult, Observer, Runner, refresh_warnings};
use crate::stats::{self, Interval};
use serde::{Deserialize, Serialize};

/// Paired change of one command against the reference on one metric.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairedChange {
    /// The metric.
    pub metric: Metric,
    /// Reference benchmark name.
    pub reference: String,
    /// Compared benchmark name.
    pub name: String,
    /// Change in percent of the reference median (negative = smaller/faster).
    pub change_pct: Interval,
    /// Number of pairs.
    pub pairs: usize,
}

impl PairedChange {
    /// One human sentence, e.g. "b is 23.1 % faster than a (95 % CI 19.8–26.0 %)".
    pub fn sentence(&self) -> String {
        let c = &self.change_pct;
        let conf = format!("{:.0} % CI", c.confidence * 100.0);
        let (better, worse) = match self.metric.unit() {
            crate::metric::Unit::Seconds => ("faster", "slower"),
            _ => ("lower", "higher"),
        };
        let what = if self.metric == Metric::WallTime {
            String::new()
        } else {
            format!(" on {}", self.metric)
        };
        if !c.is_bounded() {
            return format!(
                "{} vs {}{what}: {:+.1} % (too few runs for a {conf}; add --runs)",
                self.name, self.reference, c.estimate
            );
        }
        if c.hi < 0.0 {
            format!(
                "{} is {:.1} % {better} than {}{what} ({conf} {:.1}–{:.1} %)",
                self.name, -c.estimate, self.reference, -c.hi, -c.lo
            )
        } else if c.lo > 0.0 {
            format!(
                "{} is {:.1} % {worse} than {}{what} ({conf} {:.1}–{:.1} %)",
                self.name, c.estimate, self.reference, c.lo, c.hi
            )
        } else {
            format!(
                "no significant difference between {} and {}{what}: {:+.1} % ({conf} {:+.1} to {:+.1} %)",
                self.name, self.reference, c.estimate, c.lo, c.hi
            )
        }
    }
}

/// Settings for an A/B session.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AbConfig {
    /// Confidence level of each interval (default 0.95).
    pub confidence: f64,
    /// Metrics whose intervals must be bounded before adaptive rounds stop.
    pub key_metrics: Vec<Metric>,
    /// Upper bound on rounds.
    pub max_runs: usize,
}

impl Default for AbConfig {
    fn default() -> Self {
        AbConfig {
            confidence: 0.95,
            key_metrics: vec![Metric::WallTime, Metric::CpuTime],
            max_runs: 30,
        }
    }
}

/// Runs the commands interleaved and returns one result per command.
pub fn run_interleaved(
    runner: &mut Runner,
    cfgs: &[BenchConfig],
    ab: &AbConfig,
    observer: &mut dyn Observer,
) -> crate::Result<Vec<BenchResult>> {
    let warmup = cfgs.iter().map(|c| c.warmup).max().unwrap_or(0);
    let runs = cfgs.iter().map(|c| c.runs).max().unwrap_or(3).max(1);
    let mut results: Vec<BenchResult> = cfgs.iter().map(|c| runner.empty_result(c)).collect();
    observer.start("A/B", (warmup + runs) * cfgs.len());
    for round in 0..warmup {
        for cfg in cfgs {
            let m = runner.run_checked(cfg, round + 1)?;
            observer.run_done(&cfg.name, &m, true);
        }
    }
    let mut planned = runs;
    let mut done = 0;
    loop {
        while done < planned {
            // Counterbalanced order (A B, B A, A B, …) so neither command always runs first.
            let mut order: Vec<usize> = (0..cfgs.len()).collect();
            if done % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let m = runner.run_checked(&cfgs[i], warmup + done + 1)?;
                observer.run_done(&cfgs[i].name, &m, false);
                results[i].runs.push(m);
            }
            done += 1;
        }
        let unbounded = paired_changes(&results, ab.confidence)
            .iter()
            .any(|c| ab.key_metrics.contains(&c.metric) && !c.change_pct.is_bounded());
        let more = crate::compare::next_batch(done, ab.max_runs.max(runs));
        if !unbounded || more == 0 {
            break;
        }
        planned += more;
        observer.extend((warmup + planned) * cfgs.len());
    }
    for (cfg, res) in cfgs.iter().zip(results.iter_mut()) {
        runner.finish(cfg, res)?;
        refresh_warnings(res);
    }
    observer.finish("A/B");
    Ok(results)
}

/// Paired changes of every result against the first, per metric.
pub fn paired_changes(results: &[BenchResult], confidence: f64) -> Vec<PairedChange> {
    let mut out = Vec::new();
    let Some((reference, rest)) = results.split_first() else {
        return out;
    };
    for other in rest {
        for m in Metric::ALL {
            let pairs: Vec<(f64, f64)> = reference
                .runs
                .iter()
                .zip(&other.runs)
                .map(|(a, b)| (a.get(m), b.get(m)))
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .collect();
            if pairs.is_empty() {
                continue;
            }
            let d: Vec<f64> = pairs.iter().map(|(a, b)| b - a).collect();
            let base = stats::median(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
            let shift = stats::hodges_lehmann_paired(&d, confidence);
            out.push(PairedChange {
                metric: m,
                reference: reference.name.clone(),
                name: other.name.clone(),
                change_pct: relative(&shift, base),
                pairs: pairs.len(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_read_naturally() {
        let c = PairedChange {
            metric: Metric::WallTime,
            reference: "a".into(),
            name: "b".into(),
            change_pct: Interval {
                estimate: -23.1,
                lo: -26.0,
                hi: -19.8,
                confidence: 0.95,
            },
            pairs: 10,
        };
        assert_eq!(
            c.sentence(),
            "b is 23.1 % faster than a (95 % CI 19.8–26.0 %)"
        );
        let c = PairedChange {
            change_pct: Interval {
                estimate: 1.0,
                lo: -1.0,
                hi: 3.0,
                confidence: 0.95,
            },
            ..c
        };
        assert!(
            c.sentence()
                .starts_with("no significant difference between b and a")
        );
    }
}
