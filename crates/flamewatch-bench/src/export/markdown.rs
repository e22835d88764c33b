//! Markdown export: a table per benchmark, comparisons and A/B sentences.

use super::{Document, Exporter};
use crate::Metric;

/// The Markdown exporter.
pub struct Markdown;

impl Exporter for Markdown {
    fn extension(&self) -> &'static str {
        "md"
    }

    fn render(&self, doc: &Document) -> String {
        let mut s = String::new();
        for b in &doc.benchmarks {
            let r = &b.result;
            s.push_str(&format!("## `{}`\n\n", r.name.replace('`', "'")));
            s.push_str(&format!(
                "{} counted runs, {} warm-up.\n\n",
                r.runs.len(),
                r.warmup
            ));
            s.push_str("| metric | median | mean ± σ | min | max |\n|---|---:|---:|---:|---:|\n");
            for m in Metric::ALL {
                if let Some(sm) = b.summary.get(&m) {
                    s.push_str(&format!(
                        "| {} | {} | {} ± {} | {} | {} |\n",
                        m,
                        m.format(sm.median),
                        m.format(sm.mean),
                        m.format(sm.stddev),
                        m.format(sm.min),
                        m.format(sm.max)
                    ));
                }
            }
            s.push('\n');
        }
        for c in &doc.comparisons {
            s.push_str(&format!(
                "## Comparison of `{}` with the baseline\n\n| metric | gated | change | CI | verdict |\n|---|---|---:|---:|---|\n",
                c.name
            ));
            for m in &c.metrics {
                s.push_str(&format!(
                    "| {} | {} | {:+.1} % | {} | {} |\n",
                    m.metric,
                    if m.gated { "yes" } else { "no" },
                    m.change_pct.estimate,
                    crate::report::ci_text(&m.change_pct),
                    crate::report::verdict_text(&m.verdict)
                ));
            }
            s.push('\n');
        }
        if !doc.ab.is_empty() {
            s.push_str("## A/B\n\n");
            for c in doc.ab.iter().filter(|c| {
                matches!(
                    c.metric,
                    Metric::WallTime | Metric::CpuTime | Metric::PeakRss
                )
            }) {
                s.push_str(&format!("- {}\n", c.sentence()));
            }
            s.push('\n');
        }
        s
    }
}
