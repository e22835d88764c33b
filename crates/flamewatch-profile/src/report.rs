//! The text report: a summary line, the top functions by self and by total time, the top
//! bottlenecks with their class, measured wrong-tool indicators and the quality line.

use crate::analysis::{self, FunctionStat, Split};
use crate::map::PerformanceMap;
use crate::model::Profile;
use crate::weights::Weights;
use std::fmt::Write as _;

/// How many functions each table lists.
pub const TOP_FUNCTIONS: usize = 20;

fn fmt_weight(weights: &Weights, w: i64) -> String {
    match weights.to_ms(w) {
        Some(ms) => format!("{ms:.1}"),
        None => w.to_string(),
    }
}

fn fmt_pct(part: i64, whole: i64) -> String {
    if whole <= 0 {
        "0.0%".into()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

/// The quality line, e.g. `quality: 507 samples, 0 lost (0.00%), 0.39% truncated stacks,
/// 0.08% unsymbolized frames`.
pub fn quality_line(map: &PerformanceMap) -> String {
    let q = &map.quality;
    format!(
        "quality: {} samples, {} lost ({:.2}%), {:.2}% truncated stacks, {:.2}% unsymbolized frames",
        q.samples, q.lost_records, q.lost_pct, q.truncated_stacks_pct, q.unsymbolized_frames_pct
    )
}

fn table(
    out: &mut String,
    weights: &Weights,
    total: i64,
    title: &str,
    rows: &[&FunctionStat],
    unit: &str,
) {
    let _ = writeln!(out, "\n{title}");
    let _ = writeln!(
        out,
        "  {:>13} {:>6}  {:>13} {:>6}  {:<11} function",
        format!("self {unit}"),
        "self%",
        format!("total {unit}"),
        "total%",
        "class"
    );
    for f in rows {
        let s: &Split = &f.self_weight;
        let t: &Split = &f.total_weight;
        let location = f
            .location
            .as_deref()
            .map(|l| format!("  ({l})"))
            .unwrap_or_default();
        let kernel = if f.kernel { " [kernel]" } else { "" };
        let _ = writeln!(
            out,
            "  {:>13} {:>6}  {:>13} {:>6}  {:<11} {}{}{}",
            fmt_weight(weights, s.total()),
            fmt_pct(s.total(), total),
            fmt_weight(weights, t.total()),
            fmt_pct(t.total(), total),
            t.dominant_class(),
            f.name,
            kernel,
            location
        );
    }
}

/// One line with the recording's duration, sample count, and on- and off-CPU time.
pub fn summary_line(profile: &Profile) -> String {
    let weights = Weights::of(profile);
    let totals = analysis::totals(profile);
    let quality = analysis::measured_quality(profile);
    let mut parts = Vec::new();
    if profile.duration_nanos > 0 {
        parts.push(format!(
            "duration {:.2} s",
            profile.duration_nanos as f64 / 1e9
        ));
    }
    match &profile.run {
        Some(run) => parts.push(format!("{} samples", run.samples)),
        None if quality.counted => parts.push(format!("{} samples", quality.samples)),
        None => parts.push(format!("{} stacks", quality.samples)),
    }
    if let (Some(on), Some(off)) = (
        weights.to_ms(totals.on_cpu),
        weights.to_ms(totals.off_total()),
    ) {
        parts.push(format!("on-CPU {on:.1} ms"));
        if totals.off_total() > 0 {
            parts.push(format!("off-CPU {off:.1} ms"));
        }
    }
    parts.join(" · ")
}

/// Renders the report of a profile with its performance map.
pub fn render(profile: &Profile, map: &PerformanceMap) -> String {
    let weights = Weights::of(profile);
    let totals = analysis::totals(profile);
    let total = totals.total();
    let unit = if weights.is_time() { "ms" } else { "samples" };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "flamewatch report · {}",
        profile.command.as_deref().unwrap_or("(command unknown)")
    );
    let mut summary = vec![summary_line(profile)];
    if let Some(wall) = map.baseline.wall_time_ms {
        let mut s = format!("wall {wall:.1} ms");
        if let Some(cpu) = map.baseline.cpu_time_ms {
            let _ = write!(s, ", CPU {cpu:.1} ms");
        }
        if let Some(rss) = map.baseline.memory_peak_mb {
            let _ = write!(s, ", peak RSS {rss:.1} MiB");
        }
        summary.push(s);
    }
    let _ = writeln!(out, "{}", summary.join(" · "));
    if !map.sampled.off_cpu_by_reason_ms.is_empty() {
        let reasons: Vec<String> = map
            .sampled
            .off_cpu_by_reason_ms
            .iter()
            .map(|(r, ms)| format!("{r} {ms:.1}"))
            .collect();
        let _ = writeln!(out, "off-CPU by reason ({unit}): {}", reasons.join(", "));
    }
    let _ = writeln!(
        out,
        "classification: {} — {}",
        map.bottleneck_classification, map.bottleneck_detail
    );

    let functions = analysis::functions(profile);
    let mut by_self: Vec<&FunctionStat> = functions
        .iter()
        .filter(|f| f.self_weight.total() > 0)
        .collect();
    by_self.sort_by(|a, b| {
        b.self_weight
            .total()
            .cmp(&a.self_weight.total())
            .then_with(|| a.name.cmp(&b.name))
    });
    by_self.truncate(TOP_FUNCTIONS);
    let by_total: Vec<&FunctionStat> = functions.iter().take(TOP_FUNCTIONS).collect();
    table(
        &mut out,
        &weights,
        total,
        &format!("Top {TOP_FUNCTIONS} functions by self time"),
        &by_self,
        unit,
    );
    table(
        &mut out,
        &weights,
        total,
        &format!("Top {TOP_FUNCTIONS} functions by total time"),
        &by_total,
        unit,
    );

    let _ = writeln!(out, "\nTop bottlenecks");
    if map.top_bottlenecks.is_empty() {
        let _ = writeln!(out, "  (none: the profile is empty)");
    }
    for (i, b) in map.top_bottlenecks.iter().enumerate() {
        let step = b
            .step
            .as_deref()
            .map(|s| format!(" [step {s}]"))
            .unwrap_or_default();
        let location = b
            .location
            .as_deref()
            .map(|l| format!(" at {l}"))
            .unwrap_or_default();
        let location = match &b.blocked_in {
            Some(blocked) => format!("{location}, blocked in {blocked}"),
            None => location,
        };
        let _ = writeln!(
            out,
            "  {}. {:<11} {:>5.1}%  {:>9.1} {unit}  {}{}{}",
            i + 1,
            b.kind,
            b.share_pct,
            b.time_ms,
            b.function,
            location,
            step
        );
    }
    if !map.steps.is_empty() {
        let _ = writeln!(out, "\nSteps (performance map, depth ≤ 5)");
        render_steps(&mut out, &map.steps, &map.unit, 1);
    }
    if !map.wrong_tool_indicators.is_empty() {
        let _ = writeln!(out, "\nWrong-tool indicators");
        for w in &map.wrong_tool_indicators {
            let _ = writeln!(
                out,
                "  {}: {} (measured: {})",
                w.indicator, w.condition, w.measured
            );
        }
    }
    let _ = writeln!(out, "\n{}", quality_line(map));
    out
}

/// Writes the step tree, one indented line per step.
fn render_steps(out: &mut String, steps: &[crate::map::Step], unit: &str, depth: usize) {
    for step in steps {
        let location = step
            .location
            .as_deref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:indent$}{} {}{}  {:.1} {unit} {:.1}% {}",
            "",
            step.id,
            step.function,
            location,
            step.wall_time_ms,
            step.time_share_pct,
            step.kind,
            indent = 2 * (depth - 1)
        );
        render_steps(out, &step.children, unit, depth + 1);
    }
}
