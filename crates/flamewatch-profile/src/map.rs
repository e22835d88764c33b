//! The performance map: a versioned, multi-metric summary of a run that classifies its
//! bottlenecks from measured data (JSON and YAML; schema `"version": 1`).
//!
//! Shape (fields with no measurement are omitted):
//!
//! ```yaml
//! version: 1
//! command: "app --input data.bin"
//! unit: ms                   # or "samples" when the profile's weights are not time
//! baseline:                  # the run as a whole (from the recorder's RunStats)
//!   wall_time_ms, cpu_time_ms, cpu_user_ms, cpu_sys_ms, memory_peak_mb,
//!   io_read_bytes, io_write_bytes, exit_code
//! sampled:                   # time seen in the samples, summed over threads
//!   thread_time_ms, on_cpu_ms, off_cpu_ms, off_cpu_by_reason_ms: {lock: …}
//! time_shares_pct: {CPU: 45.1, Lock: 39.9, …}
//! bottleneck_classification: lock-bound
//! bottleneck_detail: "…"
//! steps:                     # call tree, depth ≤ 5, pass-through frames collapsed
//!   - id: "1"
//!     function, location (file:line), via: [collapsed callers],
//!     wall_time_ms (on + off CPU), cpu_time_ms, off_cpu_ms: {reason: ms}, self_time_ms,
//!     time_share_pct, type (CPU | Lock | Sleep | I/O-File | I/O-Network | Preempted | …),
//!     children: [...]
//! top_bottlenecks: [{step, function, location, type, share_pct, time_ms}]   # top 3
//! wrong_tool_indicators: [{indicator, condition, measured}]   # empty = proceed
//! quality: {samples, lost_records, lost_pct, truncated_stacks_pct, unsymbolized_frames_pct, …}
//! ```
//!
//! `wall_time_ms` of a step is thread time: the on-CPU plus off-CPU time of every thread
//! whose stack passed through the step, so several threads can add up to more than the
//! run's wall time. Shares are relative to the sampled thread time of the whole profile.

use crate::analysis::{self, Split, TreeNode};
use crate::error::ProfileError;
use crate::model::Profile;
use crate::run::OffCpuReason;
use crate::weights::Weights;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Schema version of the map.
pub const VERSION: u32 = 1;

/// How the step tree is shaped.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct MapOptions {
    /// Maximum depth of the step tree (default 5).
    pub max_depth: usize,
    /// Steps below this share of the total (percent) are folded into an `other` step
    /// (default 2.0).
    pub min_share_pct: f64,
    /// Maximum children shown per step; the rest are folded into `other` (default 8).
    pub max_children: usize,
    /// A step whose single child carries at least this share of its time (percent) is
    /// collapsed into that child (default 98.0).
    pub pass_through_pct: f64,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            max_depth: 5,
            min_share_pct: 2.0,
            max_children: 8,
            pass_through_pct: 98.0,
        }
    }
}

/// The performance map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceMap {
    /// Schema version, always [`VERSION`].
    pub version: u32,
    /// The profiled command line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// `ms` when the weights are time, `samples` otherwise; every `*_ms` field then holds
    /// sample counts instead.
    pub unit: String,
    /// Whole-run measurements.
    pub baseline: Baseline,
    /// Time seen in the samples.
    pub sampled: Sampled,
    /// Share of sampled thread time per class (percent).
    pub time_shares_pct: BTreeMap<String, f64>,
    /// The overall class: `CPU-bound`, `lock-bound`, `sleep-bound`, `I/O-bound (file)`, …
    pub bottleneck_classification: String,
    /// One sentence with the numbers behind the classification.
    pub bottleneck_detail: String,
    /// The step tree.
    pub steps: Vec<Step>,
    /// The top three bottlenecks.
    pub top_bottlenecks: Vec<Bottleneck>,
    /// Measured signs that a CPU profiler is the wrong tool (empty = proceed).
    pub wrong_tool_indicators: Vec<Indicator>,
    /// How much to trust the profile.
    pub quality: Quality,
}

/// Whole-run measurements (from [`crate::RunStats`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Wall-clock time of the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_time_ms: Option<f64>,
    /// User plus system CPU time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_time_ms: Option<f64>,
    /// User CPU time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_user_ms: Option<f64>,
    /// System CPU time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_sys_ms: Option<f64>,
    /// CPU time over wall time (can exceed 1 with several threads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_utilization: Option<f64>,
    /// Peak resident set size in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_peak_mb: Option<f64>,
    /// Bytes read from storage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_read_bytes: Option<u64>,
    /// Bytes written to storage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_write_bytes: Option<u64>,
    /// Exit code of the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Profile duration (from the profile's own metadata).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_duration_ms: Option<f64>,
}

/// Time seen in the samples, summed over threads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sampled {
    /// On-CPU plus off-CPU time.
    pub thread_time_ms: f64,
    /// On-CPU time.
    pub on_cpu_ms: f64,
    /// Off-CPU time.
    pub off_cpu_ms: f64,
    /// Off-CPU time per reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub off_cpu_by_reason_ms: BTreeMap<String, f64>,
    /// Whether off-CPU time was recorded at all.
    pub off_cpu_recorded: bool,
}

/// One step of the tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Dotted position, `1`, `1.2`, `1.2.1`.
    pub id: String,
    /// Function name (or `other (N functions)` for a folded group).
    pub function: String,
    /// `file:line` of the hottest line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Callers collapsed into this step because they only passed time through.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
    /// On plus off CPU (thread time).
    pub wall_time_ms: f64,
    /// On-CPU time.
    pub cpu_time_ms: f64,
    /// Off-CPU time per reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub off_cpu_ms: BTreeMap<String, f64>,
    /// Time with this step as the leaf.
    pub self_time_ms: f64,
    /// Share of the profile's total thread time.
    pub time_share_pct: f64,
    /// Dominant class of the step's time.
    #[serde(rename = "type")]
    pub kind: String,
    /// Child steps.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Step>,
}

/// One of the top bottlenecks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bottleneck {
    /// Id of the step that contains it, when the step tree shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Where the time is spent: for CPU time the deepest non-kernel frame; for off-CPU
    /// time the deepest frame of the program itself (outside the kernel, the C library and
    /// the language runtime), i.e. the code that made the blocking call.
    pub function: String,
    /// For off-CPU time, the deepest user-space frame that blocked (e.g. `pthread_mutex_lock`),
    /// when it differs from `function`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_in: Option<String>,
    /// `file:line`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Class: `CPU`, `Lock`, `Sleep`, `I/O-File`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Share of the total thread time.
    pub share_pct: f64,
    /// Time (or samples, see `unit`).
    pub time_ms: f64,
}

/// A measured sign that profiling this way will not help.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    /// Stable identifier.
    pub indicator: String,
    /// The rule that fired.
    pub condition: String,
    /// The measured value.
    pub measured: String,
}

/// How much to trust the profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Samples taken.
    pub samples: u64,
    /// Records lost by the kernel.
    pub lost_records: u64,
    /// Lost records as a share of samples plus lost.
    pub lost_pct: f64,
    /// Samples with truncated stacks.
    pub truncated_stacks: u64,
    /// Truncated stacks as a share of samples.
    pub truncated_stacks_pct: f64,
    /// Frames without symbols.
    pub unsymbolized_frames: u64,
    /// Unsymbolized frames as a share of all frames.
    pub unsymbolized_frames_pct: f64,
    /// Throttle events.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled: u64,
    /// Sampling frequency.
    #[serde(skip_serializing_if = "is_zero")]
    pub frequency_hz: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        round2(100.0 * part / whole)
    } else {
        0.0
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn ns_ms(ns: Option<u64>) -> Option<f64> {
    ns.map(|n| round2(n as f64 / 1e6))
}

/// The overall class name for a dominant class.
pub fn classification_name(class: &str) -> &'static str {
    match class {
        "CPU" => "CPU-bound",
        "Lock" => "lock-bound",
        "Sleep" => "sleep-bound",
        "I/O-File" => "I/O-bound (file)",
        "I/O-Network" => "I/O-bound (network)",
        "Preempted" => "CPU-starved (preempted)",
        "Idle" => "idle",
        _ => "off-CPU (other)",
    }
}

struct Ctx<'a> {
    weights: &'a Weights,
    total: f64,
    opts: MapOptions,
}

impl Ctx<'_> {
    fn ms(&self, w: i64) -> f64 {
        round2(self.weights.to_ms(w).unwrap_or(w as f64))
    }

    fn off_map(&self, split: &Split) -> BTreeMap<String, f64> {
        OffCpuReason::ALL
            .iter()
            .filter(|r| split.off(**r) > 0)
            .map(|r| (r.as_str().to_owned(), self.ms(split.off(*r))))
            .collect()
    }

    fn step(&self, id: String, node: &TreeNode, via: Vec<String>, depth: usize) -> Step {
        let mut children = Vec::new();
        if depth < self.opts.max_depth {
            let mut other = Split::default();
            let mut other_self = Split::default();
            let mut other_n = 0usize;
            for child in node.children.iter().filter(|c| !c.kernel || node.kernel) {
                let share = 100.0 * child.total.total() as f64 / self.total;
                if children.len() < self.opts.max_children && share >= self.opts.min_share_pct {
                    let (shown, via) = self.collapse(child);
                    let child_id = format!("{id}.{}", children.len() + 1);
                    children.push(self.step(child_id, shown, via, depth + 1));
                } else if child.total.total() > 0 {
                    other.merge(&child.total);
                    other_self.merge(&child.self_weight);
                    other_n += 1;
                }
            }
            other.merge(&node.pruned);
            other_n += node.pruned_count;
            if other_n > 0 {
                let child_id = format!("{id}.{}", children.len() + 1);
                children.push(Step {
                    id: child_id,
                    function: format!(
                        "other ({other_n} function{})",
                        if other_n == 1 { "" } else { "s" }
                    ),
                    location: None,
                    via: Vec::new(),
                    wall_time_ms: self.ms(other.total()),
                    cpu_time_ms: self.ms(other.on_cpu),
                    off_cpu_ms: self.off_map(&other),
                    self_time_ms: 0.0,
                    time_share_pct: pct(other.total() as f64, self.total),
                    kind: other.dominant_class().to_owned(),
                    children: Vec::new(),
                });
            }
        }
        Step {
            id,
            function: node.name.clone(),
            location: node.location.clone(),
            via,
            wall_time_ms: self.ms(node.total.total()),
            cpu_time_ms: self.ms(node.total.on_cpu),
            off_cpu_ms: self.off_map(&node.total),
            self_time_ms: self.ms(self_with_kernel(node).total()),
            time_share_pct: pct(node.total.total() as f64, self.total),
            kind: node.total.dominant_class().to_owned(),
            children,
        }
    }

    /// Follows pass-through frames: a node whose only significant child carries nearly all
    /// of its time is replaced by that child; the skipped names are returned as `via`.
    fn collapse<'n>(&self, mut node: &'n TreeNode) -> (&'n TreeNode, Vec<String>) {
        let mut via = Vec::new();
        while let Some(first) = node.children.first() {
            let t = node.total.total();
            if t <= 0
                || (first.kernel && !node.kernel)
                || (first.total.total() as f64) < self.opts.pass_through_pct / 100.0 * t as f64
            {
                break;
            }
            via.push(node.name.clone());
            node = first;
        }
        (node, via)
    }
}

/// Self time of a user frame including the kernel frames it called (kernel frames below a
/// user frame are not shown as steps).
fn self_with_kernel(node: &TreeNode) -> Split {
    let mut split = node.self_weight;
    if !node.kernel {
        for child in node.children.iter().filter(|c| c.kernel) {
            split.merge(&child.total);
        }
    }
    split
}

fn find_step<'s>(steps: &'s [Step], function: &str) -> Option<&'s Step> {
    // deepest match wins
    for step in steps {
        if let Some(found) = find_step(&step.children, function) {
            return Some(found);
        }
        if step.function == function || step.via.iter().any(|v| v == function) {
            return Some(step);
        }
    }
    None
}

/// Builds the performance map of a profile.
pub fn build(profile: &Profile, opts: MapOptions) -> PerformanceMap {
    let weights = Weights::of(profile);
    let tree = analysis::call_tree_pruned(profile, opts.min_share_pct / 100.0);
    let totals = tree.total;
    let total = totals.total().max(1) as f64;
    let ctx = Ctx {
        weights: &weights,
        total,
        opts,
    };
    let run = profile.run.clone().unwrap_or_default();

    // steps: the roots (after collapsing pass-through frames from the virtual root)
    let root = {
        let (node, via) = ctx.collapse(&tree);
        (node, via.into_iter().skip(1).collect::<Vec<_>>())
    };
    let steps = if std::ptr::eq(root.0, &tree) {
        ctx.step("0".into(), &tree, Vec::new(), 0)
            .children
            .into_iter()
            .map(renumber_top)
            .collect()
    } else {
        vec![ctx.step("1".into(), root.0, root.1, 1)]
    };

    // shares and classification
    let classes = totals.classes();
    let time_shares_pct: BTreeMap<String, f64> = classes
        .iter()
        .map(|(c, w)| ((*c).to_owned(), pct(*w as f64, total)))
        .collect();
    let dominant = totals.dominant_class();
    let dominant_share = pct(
        classes
            .iter()
            .find(|(c, _)| *c == dominant)
            .map_or(0, |(_, w)| *w) as f64,
        total,
    );

    // bottlenecks: weight per (deepest non-kernel frame, class)
    let bottlenecks = bottlenecks(profile, &weights, &steps, &ctx);
    let unit = if weights.is_time() { "ms" } else { "samples" };
    let mut sorted = classes.clone();
    sorted.sort_by_key(|c| std::cmp::Reverse(c.1));
    let mut parts: Vec<String> = sorted
        .iter()
        .map(|(c, w)| format!("{c} {:.1}%", 100.0 * *w as f64 / total))
        .collect();
    parts.truncate(4);
    let lead = bottlenecks
        .first()
        .map(|b| {
            format!(
                "; top bottleneck: {} ({}, {} {unit}, {:.1}%)",
                b.function, b.kind, b.time_ms, b.share_pct
            )
        })
        .unwrap_or_default();
    let bottleneck_detail = if totals.total() == 0 {
        "the profile holds no weighted samples; record longer or check that the target ran"
            .to_owned()
    } else {
        format!(
            "{dominant_share:.1}% of sampled thread time is {dominant} ({}){lead}",
            parts.join(", ")
        )
    };

    // quality
    let has_run = profile.run.is_some();
    let measured = if has_run && run.total_frames > 0 {
        analysis::MeasuredQuality::default()
    } else {
        analysis::measured_quality(profile)
    };
    let samples = if has_run {
        run.samples
    } else {
        measured.samples
    };
    let truncated = if has_run {
        run.truncated_stacks
    } else {
        measured.truncated_stacks
    };
    let (unsym, frames) = if has_run && run.total_frames > 0 {
        (run.unsymbolized_frames, run.total_frames)
    } else {
        (measured.unsymbolized_frames, measured.total_frames)
    };
    let quality = Quality {
        samples,
        lost_records: run.lost_records,
        lost_pct: pct(run.lost_records as f64, (samples + run.lost_records) as f64),
        truncated_stacks: truncated,
        truncated_stacks_pct: pct(truncated as f64, samples as f64),
        unsymbolized_frames: unsym,
        unsymbolized_frames_pct: pct(unsym as f64, frames as f64),
        throttled: run.throttled,
        frequency_hz: run.frequency_hz,
    };

    let off_cpu_recorded = weights.has_off_cpu(profile);
    let sampled = Sampled {
        thread_time_ms: ctx.ms(totals.total()),
        on_cpu_ms: ctx.ms(totals.on_cpu),
        off_cpu_ms: ctx.ms(totals.off_total()),
        off_cpu_by_reason_ms: ctx.off_map(&totals),
        off_cpu_recorded,
    };
    let cpu_ms = ns_ms(run.cpu_ns());
    let wall_ms = ns_ms(run.wall_ns);
    let baseline = Baseline {
        wall_time_ms: wall_ms,
        cpu_time_ms: cpu_ms,
        cpu_user_ms: ns_ms(run.cpu_user_ns),
        cpu_sys_ms: ns_ms(run.cpu_sys_ns),
        cpu_utilization: match (cpu_ms, wall_ms) {
            (Some(c), Some(w)) if w > 0.0 => Some(round2(c / w)),
            _ => None,
        },
        memory_peak_mb: run
            .peak_rss_bytes
            .map(|b| round2(b as f64 / (1024.0 * 1024.0))),
        io_read_bytes: run.io_read_bytes,
        io_write_bytes: run.io_write_bytes,
        exit_code: run.exit_code,
        profile_duration_ms: (profile.duration_nanos > 0)
            .then(|| round2(profile.duration_nanos as f64 / 1e6)),
    };
    let wrong_tool_indicators = indicators(&time_shares_pct, &quality, &baseline, off_cpu_recorded);

    PerformanceMap {
        version: VERSION,
        command: profile.command.clone(),
        unit: unit.to_owned(),
        baseline,
        sampled,
        time_shares_pct,
        bottleneck_classification: if totals.total() > 0 {
            classification_name(dominant).to_owned()
        } else {
            "unknown (no samples)".to_owned()
        },
        bottleneck_detail,
        steps,
        top_bottlenecks: bottlenecks,
        wrong_tool_indicators,
        quality,
    }
}

fn renumber_top(mut step: Step) -> Step {
    fn strip(step: &mut Step) {
        if let Some(rest) = step.id.strip_prefix("0.") {
            step.id = rest.to_owned();
        }
        for c in &mut step.children {
            strip(c);
        }
    }
    strip(&mut step);
    step
}

fn bottlenecks(
    profile: &Profile,
    weights: &Weights,
    steps: &[Step],
    ctx: &Ctx<'_>,
) -> Vec<Bottleneck> {
    use std::collections::HashMap;
    let resolver = analysis::Resolver::new(profile);
    type Key = (u64, u64, &'static str);
    let mut acc: HashMap<Key, (i64, analysis::FrameInfo, Option<analysis::FrameInfo>)> =
        HashMap::new();
    for sample in profile.samples() {
        let w = weights.sample(profile, sample);
        let first = resolver.frames(sample.stack).next();
        let Some(leaf) = resolver.frames(sample.stack).find(|f| !f.kernel).or(first) else {
            continue;
        };
        if w.on_cpu > 0 {
            acc.entry((leaf.key, leaf.key, "CPU"))
                .or_insert((0, *leaf, None))
                .0 += w.on_cpu;
        }
        if w.off_cpu > 0 {
            let class = w.reason.unwrap_or(OffCpuReason::Other).class();
            let owner = resolver
                .frames(sample.stack)
                .find(|f| !f.kernel && !f.runtime)
                .unwrap_or(leaf);
            let blocked = (owner.key != leaf.key).then_some(*leaf);
            acc.entry((owner.key, leaf.key, class))
                .or_insert((0, *owner, blocked))
                .0 += w.off_cpu;
        }
    }
    let mut list: Vec<(
        i64,
        String,
        &'static str,
        analysis::FrameInfo,
        Option<String>,
    )> = acc
        .into_iter()
        .map(|((_, _, class), (w, frame, blocked))| {
            let name = resolver.name(&frame).into_owned();
            let blocked = blocked.map(|b| resolver.name(&b).into_owned());
            (w, name, class, frame, blocked)
        })
        .collect();
    list.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| a.1.cmp(&b.1))
            .then_with(|| a.2.cmp(b.2))
            .then_with(|| a.4.cmp(&b.4))
    });
    list.into_iter()
        .take(3)
        .map(|(w, function, class, frame, blocked_in)| Bottleneck {
            step: find_step(steps, &function).map(|s| s.id.clone()),
            location: resolver.location(&frame, Some(frame.line)),
            function,
            blocked_in,
            kind: class.to_owned(),
            share_pct: pct(w as f64, ctx.total),
            time_ms: ctx.ms(w),
        })
        .collect()
}

fn indicators(
    shares: &BTreeMap<String, f64>,
    quality: &Quality,
    baseline: &Baseline,
    off_cpu_recorded: bool,
) -> Vec<Indicator> {
    let share = |k: &str| shares.get(k).copied().unwrap_or(0.0);
    let mut out = Vec::new();
    let mut push = |indicator: &str, condition: &str, measured: String| {
        out.push(Indicator {
            indicator: indicator.to_owned(),
            condition: condition.to_owned(),
            measured,
        })
    };
    if share("I/O-Network") >= 90.0 {
        push(
            "external_service_no_alternative",
            "≥ 90% of thread time waiting on the network or poll/epoll",
            format!("{:.1}% network wait", share("I/O-Network")),
        );
    }
    if share("Sleep") >= 50.0 {
        push(
            "sleep_dominated",
            "≥ 50% of thread time in deliberate sleeps",
            format!("{:.1}% sleeping", share("Sleep")),
        );
    }
    if share("Idle") >= 50.0 {
        push(
            "idle_dominated",
            "≥ 50% of thread time idle, waiting for work",
            format!("{:.1}% idle", share("Idle")),
        );
    }
    if share("Preempted") >= 20.0 {
        push(
            "infrastructure_bound",
            "≥ 20% of thread time runnable but not running (CPU contention on the machine)",
            format!("{:.1}% preempted", share("Preempted")),
        );
    }
    if !off_cpu_recorded
        && let Some(u) = baseline.cpu_utilization
        && u < 0.8
    {
        push(
            "off_cpu_time_not_recorded",
            "CPU time < 80% of wall time but off-CPU time was not recorded",
            format!("CPU/wall = {u:.2}"),
        );
    }
    if quality.samples < 100 {
        push(
            "too_few_samples",
            "fewer than 100 samples: shares have large sampling error",
            format!("{} samples", quality.samples),
        );
    }
    if quality.lost_pct > 1.0 || quality.truncated_stacks_pct > 20.0 {
        push(
            "profile_incomplete",
            "> 1% records lost or > 20% stacks truncated",
            format!(
                "{:.1}% lost, {:.1}% truncated",
                quality.lost_pct, quality.truncated_stacks_pct
            ),
        );
    }
    if quality.unsymbolized_frames_pct > 20.0 {
        push(
            "symbols_missing",
            "> 20% of frames unsymbolized (stripped binaries or missing debug info)",
            format!("{:.1}% unsymbolized", quality.unsymbolized_frames_pct),
        );
    }
    out
}

impl PerformanceMap {
    /// The map as pretty JSON.
    pub fn to_json(&self) -> Result<String, ProfileError> {
        let mut s = serde_json::to_string_pretty(self)
            .map_err(|e| ProfileError::Serialize(e.to_string()))?;
        s.push('\n');
        Ok(s)
    }

    /// The map as YAML.
    #[cfg(feature = "render")]
    pub fn to_yaml(&self) -> Result<String, ProfileError> {
        serde_yaml_ng::to_string(self).map_err(|e| ProfileError::Serialize(e.to_string()))
    }
}
