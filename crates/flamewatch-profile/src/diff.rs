//! Per-function comparison of two profiles: self and total time before and after, sorted
//! by the absolute change of self time.

use crate::analysis;
use crate::model::Profile;
use crate::weights::Weights;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One function's change.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDelta {
    /// Function name.
    pub name: String,
    /// Self weight before (profile units).
    pub self_before: i64,
    /// Self weight after.
    pub self_after: i64,
    /// Total weight before.
    pub total_before: i64,
    /// Total weight after.
    pub total_after: i64,
}

impl FunctionDelta {
    /// After minus before, self weight.
    pub fn self_delta(&self) -> i64 {
        self.self_after - self.self_before
    }

    /// After minus before, total weight.
    pub fn total_delta(&self) -> i64 {
        self.total_after - self.total_before
    }
}

/// Computes per-function deltas, sorted by absolute self-time change (then total change,
/// then name). Functions that did not change are left out.
pub fn function_deltas(before: &Profile, after: &Profile) -> Vec<FunctionDelta> {
    let mut map: BTreeMap<String, FunctionDelta> = BTreeMap::new();
    let blank = |name: &str| FunctionDelta {
        name: name.to_owned(),
        self_before: 0,
        self_after: 0,
        total_before: 0,
        total_after: 0,
    };
    for f in analysis::functions(before) {
        let e = map.entry(f.name.clone()).or_insert_with(|| blank(&f.name));
        e.self_before = f.self_weight.total();
        e.total_before = f.total_weight.total();
    }
    for f in analysis::functions(after) {
        let e = map.entry(f.name.clone()).or_insert_with(|| blank(&f.name));
        e.self_after = f.self_weight.total();
        e.total_after = f.total_weight.total();
    }
    let mut out: Vec<FunctionDelta> = map
        .into_values()
        .filter(|d| d.self_delta() != 0 || d.total_delta() != 0)
        .collect();
    out.sort_by(|a, b| {
        b.self_delta()
            .unsigned_abs()
            .cmp(&a.self_delta().unsigned_abs())
            .then(
                b.total_delta()
                    .unsigned_abs()
                    .cmp(&a.total_delta().unsigned_abs()),
            )
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

fn change_pct(before: i64, after: i64) -> String {
    if before == 0 {
        if after == 0 {
            "0%".into()
        } else {
            "new".into()
        }
    } else if after == 0 {
        "gone".into()
    } else {
        format!("{:+.1}%", 100.0 * (after - before) as f64 / before as f64)
    }
}

/// Renders the delta table (at most `limit` rows).
pub fn render_table(before: &Profile, after: &Profile, limit: usize) -> String {
    let wb = Weights::of(before);
    let wa = Weights::of(after);
    let time = wb.is_time() && wa.is_time();
    let unit = if time { "ms" } else { "samples" };
    let fmt = |w: &Weights, v: i64| match (time, w.to_ms(v)) {
        (true, Some(ms)) => format!("{ms:.1}"),
        _ => v.to_string(),
    };
    let fmt_delta = |v: i64| match (time, wa.to_ms(v)) {
        (true, Some(ms)) => format!("{ms:+.1}"),
        _ => format!("{v:+}"),
    };
    let tb = analysis::totals(before).total();
    let ta = analysis::totals(after).total();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "total: {} → {} {unit} ({})",
        fmt(&wb, tb),
        fmt(&wa, ta),
        change_pct(tb, ta)
    );
    let deltas = function_deltas(before, after);
    let _ = writeln!(
        out,
        "\n{:>12} {:>12} {:>12} {:>8}  {:>12}  function",
        format!("self before"),
        "self after",
        format!("Δ self {unit}"),
        "Δ%",
        format!("Δ total {unit}")
    );
    for d in deltas.iter().take(limit) {
        let _ = writeln!(
            out,
            "{:>12} {:>12} {:>12} {:>8}  {:>12}  {}",
            fmt(&wb, d.self_before),
            fmt(&wa, d.self_after),
            fmt_delta(d.self_delta()),
            change_pct(d.self_before, d.self_after),
            fmt_delta(d.total_delta()),
            d.name
        );
    }
    if deltas.len() > limit {
        let _ = writeln!(out, "… {} more functions changed", deltas.len() - limit);
    }
    if deltas.is_empty() {
        let _ = writeln!(out, "(no function changed)");
    }
    out
}
