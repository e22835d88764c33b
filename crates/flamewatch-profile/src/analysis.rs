//! Aggregations shared by the report, the performance map and diffs: per-function self and
//! total time, and the call tree, each split into on-CPU time and off-CPU time by reason.
//!
//! Everything here works on interned ids: frames are resolved once per location (a profile
//! has far fewer locations than samples), functions are keyed by their interned name, and
//! names become strings only for what is returned.

use crate::folded::KERNEL_MODULE;
use crate::model::{FunctionId, Profile, StackId};
use crate::run::OffCpuReason;
use crate::weights::Weights;
use std::borrow::Cow;
use std::collections::HashMap;

/// A weight split into on-CPU time and off-CPU time per reason (profile units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Split {
    /// On-CPU weight.
    pub on_cpu: i64,
    /// Off-CPU weight per reason, indexed like [`OffCpuReason::ALL`].
    pub off_cpu: [i64; 7],
}

impl Split {
    /// Adds on-CPU and off-CPU weight.
    pub fn add(&mut self, on_cpu: i64, off_cpu: i64, reason: Option<OffCpuReason>) {
        self.on_cpu = self.on_cpu.saturating_add(on_cpu);
        if off_cpu > 0 {
            let i = reason_index(reason.unwrap_or(OffCpuReason::Other));
            self.off_cpu[i] = self.off_cpu[i].saturating_add(off_cpu);
        }
    }

    /// Adds another split.
    pub fn merge(&mut self, other: &Split) {
        self.on_cpu = self.on_cpu.saturating_add(other.on_cpu);
        for (a, b) in self.off_cpu.iter_mut().zip(other.off_cpu) {
            *a = a.saturating_add(b);
        }
    }

    /// Total off-CPU weight.
    pub fn off_total(&self) -> i64 {
        self.off_cpu.iter().copied().fold(0, i64::saturating_add)
    }

    /// On plus off CPU.
    pub fn total(&self) -> i64 {
        self.on_cpu.saturating_add(self.off_total())
    }

    /// Off-CPU weight for one reason.
    pub fn off(&self, reason: OffCpuReason) -> i64 {
        self.off_cpu[reason_index(reason)]
    }

    /// The class holding the most weight: `CPU` or an off-CPU class (`Lock`, `Sleep`, …).
    pub fn dominant_class(&self) -> &'static str {
        let mut best = ("CPU", self.on_cpu);
        for r in OffCpuReason::ALL {
            if self.off(r) > best.1 {
                best = (r.class(), self.off(r));
            }
        }
        best.0
    }

    /// Weight per class, `CPU` first, then the off-CPU classes, skipping zeros.
    pub fn classes(&self) -> Vec<(&'static str, i64)> {
        let mut out = vec![("CPU", self.on_cpu)];
        out.extend(OffCpuReason::ALL.iter().map(|r| (r.class(), self.off(*r))));
        out.retain(|(_, w)| *w > 0);
        out
    }
}

fn reason_index(reason: OffCpuReason) -> usize {
    OffCpuReason::ALL
        .iter()
        .position(|r| *r == reason)
        .unwrap_or(6)
}

/// Whether a frame name is an unsymbolized address (or empty).
pub fn is_unsymbolized(name: &str) -> bool {
    name.is_empty()
        || name == "[unknown]"
        || (name.len() > 2
            && name.starts_with("0x")
            && name[2..].chars().all(|c| c.is_ascii_hexdigit()))
}

/// A fast non-cryptographic hasher for integer keys (multiply-rotate), used for the
/// per-frame maps of the call tree where SipHash dominated the run time.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// A `HashMap` keyed by small integers, hashed with [`IdHasher`].
pub(crate) type IdMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Key bit that marks an address-only frame (the low bits are its location index).
const ADDRESS_KEY: u64 = 1 << 40;
/// Key bit that marks a kernel frame, so `futex_wait` in the kernel and glibc's inline
/// `futex_wait` stay apart.
const KERNEL_KEY: u64 = 1 << 41;

/// Whether a frame belongs to the language runtime or the C library rather than to the
/// program: Rust `std`/`core`/`alloc`, glibc/musl internals, the dynamic loader, the vDSO.
fn is_runtime(module: &str, name: &str) -> bool {
    let base = module.rsplit('/').next().unwrap_or(module);
    const MODULES: [&str; 8] = [
        "libc.so",
        "libc-",
        "libpthread",
        "ld-linux",
        "ld-musl",
        "libstdc++",
        "libgcc_s",
        "[vdso]",
    ];
    const PREFIXES: [&str; 11] = [
        "std::",
        "core::",
        "alloc::",
        "<std::",
        "<core::",
        "<alloc::",
        "__GI_",
        "__libc_",
        "___pthread",
        "__pthread",
        "_dl_",
    ];
    MODULES.iter().any(|m| base.starts_with(m))
        || base.starts_with("linux-vdso")
        || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// One frame of a location, resolved to ids.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameInfo {
    /// Identity for aggregation: the interned function name, or [`ADDRESS_KEY`] | location.
    pub key: u64,
    /// The function, when symbolized.
    pub function: Option<FunctionId>,
    /// Line number (0 when unknown).
    pub line: i64,
    /// Instruction address of the location.
    pub address: u64,
    /// Kernel frame.
    pub kernel: bool,
    /// No symbol.
    pub unsymbolized: bool,
    /// Language runtime or C library code (see `is_runtime`).
    pub runtime: bool,
}

/// Frames of every location of a profile, resolved once.
pub(crate) struct Resolver<'p> {
    profile: &'p Profile,
    by_location: Vec<Vec<FrameInfo>>,
}

impl<'p> Resolver<'p> {
    /// Resolves every location of the profile.
    pub fn new(profile: &'p Profile) -> Resolver<'p> {
        let by_location = profile
            .locations()
            .iter()
            .enumerate()
            .map(|(i, location)| {
                let module = location
                    .mapping
                    .map_or("", |m| profile.string(profile.mapping(m).filename));
                let kernel = module == KERNEL_MODULE;
                let kernel_bit = if kernel { KERNEL_KEY } else { 0 };
                if location.lines.is_empty() {
                    return vec![FrameInfo {
                        key: ADDRESS_KEY | kernel_bit | i as u64,
                        function: None,
                        line: 0,
                        address: location.address,
                        kernel,
                        unsymbolized: true,
                        runtime: is_runtime(module, ""),
                    }];
                }
                location
                    .lines
                    .iter()
                    .map(|line| {
                        let name = profile.function(line.function).name;
                        let text = profile.string(name);
                        FrameInfo {
                            key: kernel_bit | name.index() as u64,
                            function: Some(line.function),
                            line: line.line,
                            address: location.address,
                            kernel,
                            unsymbolized: is_unsymbolized(text),
                            runtime: is_runtime(module, text),
                        }
                    })
                    .collect()
            })
            .collect();
        Resolver {
            profile,
            by_location,
        }
    }

    /// The frames of a stack, leaf first.
    pub fn frames(&self, stack: StackId) -> impl DoubleEndedIterator<Item = &FrameInfo> + '_ {
        self.profile
            .stack(stack)
            .iter()
            .flat_map(move |loc| self.by_location[loc.index()].iter())
    }

    /// The display name of a frame.
    pub fn name(&self, frame: &FrameInfo) -> Cow<'p, str> {
        match frame.function {
            Some(f) => Cow::Borrowed(self.profile.string(self.profile.function(f).name)),
            None => Cow::Owned(format!("{:#x}", frame.address)),
        }
    }

    /// `file:line` of a frame, when its function has a file.
    pub fn location(&self, frame: &FrameInfo, line: Option<i64>) -> Option<String> {
        location_of(self.profile, frame.function, line)
    }
}

fn location_of(
    profile: &Profile,
    function: Option<FunctionId>,
    line: Option<i64>,
) -> Option<String> {
    let f = profile.function(function?);
    let file = profile.string(f.filename);
    if file.is_empty() {
        return None;
    }
    match line
        .filter(|l| *l > 0)
        .or((f.start_line > 0).then_some(f.start_line))
    {
        Some(line) => Some(format!("{file}:{line}")),
        None => Some(file.to_owned()),
    }
}

/// Picks the line carrying the most weight (ties: the lowest line).
#[derive(Debug, Default)]
struct LineVotes(IdMap<(u32, i64), i64>);

impl LineVotes {
    fn vote(&mut self, owner: u32, line: i64, w: i64) {
        if line > 0 {
            *self.0.entry((owner, line)).or_default() += w;
        }
    }

    fn best(self) -> IdMap<u32, i64> {
        let mut best: IdMap<u32, (i64, i64)> = IdMap::default();
        for ((owner, line), w) in self.0 {
            let e = best.entry(owner).or_insert((line, w));
            if w > e.1 || (w == e.1 && line < e.0) {
                *e = (line, w);
            }
        }
        best.into_iter().map(|(o, (l, _))| (o, l)).collect()
    }
}

/// One function's self and total time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionStat {
    /// Display name.
    pub name: String,
    /// `file:line` of its hottest line, when known.
    pub location: Option<String>,
    /// Whether the function is in the kernel.
    pub kernel: bool,
    /// Weight with this function as the leaf.
    pub self_weight: Split,
    /// Weight with this function anywhere on the stack (counted once per stack).
    pub total_weight: Split,
}

/// Self and total weight per function, sorted by total weight (descending, then name).
pub fn functions(profile: &Profile) -> Vec<FunctionStat> {
    let weights = Weights::of(profile);
    let resolver = Resolver::new(profile);
    struct Acc {
        frame: FrameInfo,
        self_w: Split,
        total_w: Split,
        last_sample: usize,
    }
    let mut accs: Vec<Acc> = Vec::new();
    let mut index: IdMap<u64, u32> = IdMap::default();
    let mut votes = LineVotes::default();
    for (n, sample) in profile.samples().iter().enumerate() {
        let w = weights.sample(profile, sample);
        for (i, frame) in resolver.frames(sample.stack).enumerate() {
            let id = *index.entry(frame.key).or_insert_with(|| {
                accs.push(Acc {
                    frame: *frame,
                    self_w: Split::default(),
                    total_w: Split::default(),
                    last_sample: usize::MAX,
                });
                (accs.len() - 1) as u32
            });
            let acc = &mut accs[id as usize];
            if i == 0 {
                acc.self_w.add(w.on_cpu, w.off_cpu, w.reason);
            }
            if acc.last_sample != n {
                acc.last_sample = n;
                acc.total_w.add(w.on_cpu, w.off_cpu, w.reason);
                votes.vote(id, frame.line, w.total());
            }
        }
    }
    let best = votes.best();
    let mut out: Vec<FunctionStat> = accs
        .iter()
        .enumerate()
        .map(|(i, acc)| FunctionStat {
            name: resolver.name(&acc.frame).into_owned(),
            location: resolver.location(&acc.frame, best.get(&(i as u32)).copied()),
            kernel: acc.frame.kernel,
            self_weight: acc.self_w,
            total_weight: acc.total_w,
        })
        .collect();
    out.sort_by(|a, b| {
        b.total_weight
            .total()
            .cmp(&a.total_weight.total())
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

/// A node of the call tree (root first), merged by function name.
#[derive(Debug, Clone, Default)]
pub struct TreeNode {
    /// Function name (empty for the virtual root).
    pub name: String,
    /// `file:line` of the hottest line, when known.
    pub location: Option<String>,
    /// Whether this is a kernel frame.
    pub kernel: bool,
    /// Weight of every stack through this node.
    pub total: Split,
    /// Weight of stacks ending here.
    pub self_weight: Split,
    /// Children, sorted by total weight descending then name.
    pub children: Vec<TreeNode>,
    /// Weight of the children left out because they were below the pruning threshold.
    pub pruned: Split,
    /// How many children were left out.
    pub pruned_count: usize,
}

/// Builds the full call tree of a profile (a virtual root whose children are the root
/// frames).
pub fn call_tree(profile: &Profile) -> TreeNode {
    call_tree_pruned(profile, 0.0)
}

/// Builds the call tree, leaving out user-space subtrees that carry less than
/// `min_fraction` of the total weight (their weight is kept in the parent's `pruned`).
///
/// The tree is grown top down by partitioning the samples on their next frame, so the
/// work is proportional to the samples times the depth of the shown part of the tree, not
/// to the number of distinct paths.
pub fn call_tree_pruned(profile: &Profile, min_fraction: f64) -> TreeNode {
    let weights = Weights::of(profile);
    let resolver = Resolver::new(profile);
    let mut paths: IdMap<u32, Vec<&FrameInfo>> = IdMap::default();
    for sample in profile.samples() {
        paths
            .entry(sample.stack.0)
            .or_insert_with(|| resolver.frames(sample.stack).rev().collect());
    }
    let items: Vec<Item<'_>> = profile
        .samples()
        .iter()
        .map(|s| Item {
            path: &paths[&s.stack.0],
            weight: weights.sample(profile, s),
        })
        .collect();
    let all: Vec<&Item<'_>> = items.iter().collect();
    let total = items
        .iter()
        .fold(0i64, |t, i| t.saturating_add(i.weight.total()));
    let threshold = (min_fraction.max(0.0) * total as f64).ceil() as i64;
    grow(None, &all, 0, threshold, &resolver)
}

struct Item<'a> {
    /// Frames, root first.
    path: &'a [&'a FrameInfo],
    weight: crate::weights::SampleWeight,
}

fn grow(
    frame: Option<&FrameInfo>,
    items: &[&Item<'_>],
    depth: usize,
    threshold: i64,
    resolver: &Resolver<'_>,
) -> TreeNode {
    let mut node = TreeNode::default();
    let mut votes: IdMap<i64, i64> = IdMap::default();
    let mut groups: IdMap<u64, (Vec<&Item<'_>>, i64)> = IdMap::default();
    for item in items {
        let w = item.weight;
        node.total.add(w.on_cpu, w.off_cpu, w.reason);
        if depth > 0 {
            let line = item.path[depth - 1].line;
            if line > 0 {
                *votes.entry(line).or_default() += w.total();
            }
        }
        match item.path.get(depth) {
            None => node.self_weight.add(w.on_cpu, w.off_cpu, w.reason),
            Some(next) => {
                let g = groups.entry(next.key).or_default();
                g.0.push(item);
                g.1 = g.1.saturating_add(w.total());
            }
        }
    }
    if let Some(frame) = frame {
        let best = votes
            .into_iter()
            .max_by_key(|(line, w)| (*w, -*line))
            .map(|(line, _)| line);
        node.name = resolver.name(frame).into_owned();
        node.location = resolver.location(frame, best);
        node.kernel = frame.kernel;
    }
    for (group, weight) in groups.into_values() {
        let next = group[0].path[depth];
        if weight >= threshold || next.kernel {
            node.children
                .push(grow(Some(next), &group, depth + 1, threshold, resolver));
        } else {
            for item in &group {
                let w = item.weight;
                node.pruned.add(w.on_cpu, w.off_cpu, w.reason);
            }
            node.pruned_count += 1;
        }
    }
    node.children.sort_by(|x, y| {
        y.total
            .total()
            .cmp(&x.total.total())
            .then_with(|| x.name.cmp(&y.name))
    });
    node
}

/// Profile-wide totals.
pub fn totals(profile: &Profile) -> Split {
    let weights = Weights::of(profile);
    let mut total = Split::default();
    for s in profile.samples() {
        let w = weights.sample(profile, s);
        total.add(w.on_cpu, w.off_cpu, w.reason);
    }
    total
}

/// Recording quality measured from the profile itself (used when no [`crate::RunStats`]
/// came with it): sample count, truncated stacks, unsymbolized frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MeasuredQuality {
    /// Samples (the `samples/count` column when present, else sample records).
    pub samples: u64,
    /// Samples labelled `stack=truncated`.
    pub truncated_stacks: u64,
    /// Frames without a symbol, counted per sample.
    pub unsymbolized_frames: u64,
    /// All frames, counted per sample.
    pub total_frames: u64,
    /// Whether `samples` comes from a `samples/count` column (otherwise it counts distinct
    /// sample records, e.g. the lines of a folded file).
    pub counted: bool,
}

/// Measures quality counters from the samples.
pub fn measured_quality(profile: &Profile) -> MeasuredQuality {
    let count_col = profile
        .sample_types()
        .iter()
        .position(|t| t.unit == "count" && (t.kind == "samples" || t.kind == "sample"));
    let resolver = Resolver::new(profile);
    let truncated = match (
        profile.lookup_string(crate::labels::STACK),
        profile.lookup_string(crate::labels::TRUNCATED),
    ) {
        (Some(k), Some(v)) => Some(crate::Label {
            key: k,
            value: crate::LabelValue::Str(v),
        }),
        _ => None,
    };
    let mut q = MeasuredQuality {
        counted: count_col.is_some(),
        ..MeasuredQuality::default()
    };
    for s in profile.samples() {
        let n = count_col
            .and_then(|i| s.values.get(i).copied())
            .map_or(1, |v| v.max(0) as u64);
        q.samples += n;
        if truncated.is_some_and(|t| s.labels.contains(&t)) {
            q.truncated_stacks += n;
        }
        for f in resolver.frames(s.stack) {
            q.total_frames += n;
            if f.unsymbolized {
                q.unsymbolized_frames += n;
            }
        }
    }
    q
}
