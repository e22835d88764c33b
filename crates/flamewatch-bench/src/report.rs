//! Human-readable terminal output: the result table and the gate report.

use crate::Metric;
use crate::compare::{Comparison, GateOutcome, Verdict};
use crate::runner::{BenchResult, Overhead};
use crate::stats::Interval;

/// Metrics shown in the terminal table (the JSON export has all of them).
pub const TABLE_METRICS: [Metric; 10] = [
    Metric::WallTime,
    Metric::CpuTime,
    Metric::UserTime,
    Metric::SysTime,
    Metric::PeakRss,
    Metric::IoRead,
    Metric::IoWrite,
    Metric::CtxVoluntary,
    Metric::CtxInvoluntary,
    Metric::FaultsMinor,
];

/// The per-metric table of one benchmark: median, mean ± σ, min, max.
pub fn result_table(r: &BenchResult) -> String {
    let mut rows = vec![[
        "metric".to_string(),
        "median".into(),
        "mean ± σ".into(),
        "min".into(),
        "max".into(),
    ]];
    for m in TABLE_METRICS {
        if let Some(s) = r.summary(m) {
            rows.push([
                m.key().into(),
                m.format(s.median),
                format!("{} ± {}", m.format(s.mean), m.format(s.stddev)),
                m.format(s.min),
                m.format(s.max),
            ]);
        }
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = format!(
        "Benchmark: {}  ({} runs, {} warm-up)\n",
        r.name,
        r.runs.len(),
        r.warmup
    );
    for (i, row) in rows.iter().enumerate() {
        out.push_str("  ");
        for (j, (w, c)) in widths.iter().zip(row).enumerate() {
            let pad = w - c.chars().count();
            if j == 0 {
                out.push_str(c);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str("  ");
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            }
        }
        out.push('\n');
        if i == 0 {
            out.push_str(&format!(
                "  {}\n",
                "─".repeat(widths.iter().sum::<usize>() + 8)
            ));
        }
    }
    for w in &r.warnings {
        out.push_str(&format!("  warning: {w}\n"));
    }
    out
}

/// One line about the harness's own cost.
pub fn overhead_line(o: &Overhead) -> String {
    format!(
        "Harness overhead: {} wall, {} CPU per run (median of {} runs of `{}`); peak RSS floor {}",
        Metric::WallTime.format(o.wall),
        Metric::CpuTime.format(o.cpu),
        o.runs,
        o.program,
        Metric::PeakRss.format(o.rss_floor)
    )
}

/// Interval text like `95 % CI +1.2…+3.4 %`, or `unbounded` when too few runs.
pub fn ci_text(c: &Interval) -> String {
    let conf = c.confidence * 100.0;
    let conf = if (conf - conf.round()).abs() < 1e-9 {
        format!("{conf:.0}")
    } else {
        format!("{conf:.1}")
    };
    if c.is_bounded() {
        format!("{conf} % CI {:+.1}…{:+.1} %", c.lo, c.hi)
    } else {
        format!("{conf} % CI unbounded (too few runs)")
    }
}

/// Verdict text with severity (`regressed HIGH`).
pub fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Regressed(s) => format!("regressed {s}"),
        other => other.as_str().into(),
    }
}

/// The gate report, e.g. `Performance Check: ❌ REGRESSION` followed by one line per metric.
pub fn gate_report(c: &Comparison) -> String {
    let head = match c.outcome {
        GateOutcome::Pass => "✅ NO REGRESSIONS",
        GateOutcome::Regression => "❌ REGRESSION",
        GateOutcome::Inconclusive => "⚠️  INCONCLUSIVE",
    };
    let mut out = format!("Performance Check: {head}\n{}\n", "─".repeat(80));
    for m in &c.metrics {
        let t = m.threshold_pct;
        let ci = ci_text(&m.change_pct);
        let est = m.change_pct.estimate;
        let line = match (m.gated, m.verdict) {
            (true, Verdict::Regressed(sev)) => {
                if est >= t {
                    format!(
                        "  ❌ {}: {est:+.1}% (beyond {t:.1}%, {sev}; {ci})",
                        m.metric
                    )
                } else {
                    format!(
                        "  ❌ {}: {est:+.1}% (slower beyond the {:.1}% noise floor and {t:.1}% not ruled out, {sev}; {ci})",
                        m.metric, m.floor_pct
                    )
                }
            }
            (true, Verdict::Inconclusive) => format!(
                "  ⚠️  {}: {est:+.1}% (inconclusive: cannot rule out {t:.1}% nor confirm a slowdown; {ci})",
                m.metric
            ),
            (true, Verdict::Improved) => {
                format!(
                    "  ✅ {}: {est:+.1}% (improved beyond {t:.1}%; {ci})",
                    m.metric
                )
            }
            (true, Verdict::Pass) if t > c.threshold_pct => format!(
                "  ✅ {}: {est:+.1}% (within {t:.1}%, widened to the {} resolution; {ci})",
                m.metric,
                m.metric.format(crate::compare::resolution(m.metric))
            ),
            (true, Verdict::Pass) => {
                format!("  ✅ {}: {est:+.1}% (within {t:.1}%; {ci})", m.metric)
            }
            (false, v)
                if matches!(
                    m.metric,
                    Metric::WallTime | Metric::IoRead | Metric::IoWrite
                ) =>
            {
                format!(
                    "  ·  {}: {est:+.1}% ({}, not gated; {ci})",
                    m.metric,
                    verdict_text(&v)
                )
            }
            _ => continue,
        };
        out.push_str(&line);
        out.push('\n');
    }
    if c.drift_pct > 0.0 {
        out.push_str(&format!(
            "  (verdicts allow ±{:.1}% drift between the baseline's session and this one)\n",
            c.drift_pct
        ));
    }
    for w in &c.environment_mismatches {
        out.push_str(&format!(
            "  warning: environment differs from the baseline: {w}\n"
        ));
    }
    out
}
