//! Folded stacks: `root;caller;leaf weight`, one stack per line.
//!
//! This is the interchange format of FlameGraph and inferno (`perf script | stackcollapse-perf`
//! writes it) and the canonical intermediate that diffs work on. Conventions:
//!
//! - frames are root first, separated by `;`, and the weight is the last whitespace-separated
//!   field (a non-negative integer);
//! - kernel frames carry FlameGraph's `_[k]` annotation (module `[kernel]` when read back);
//! - off-CPU time ends with a leaf marker frame `[off-cpu:REASON]` (e.g. `[off-cpu:lock]`), so
//!   the off-CPU reason survives the round trip;
//! - `;` and line breaks inside a function name are written as `:` and a space;
//! - empty lines and lines starting with `#` are skipped when reading.
//!
//! The weight written is on-CPU plus off-CPU time in the profile's unit (nanoseconds for
//! profiles from `flamewatch record`).

use crate::error::ProfileError;
use crate::model::{Frame, Profile, StackId, ValueType, labels};
use crate::run::OffCpuReason;
use crate::weights::Weights;
use std::collections::BTreeMap;
use std::io::Write;

/// Prefix of the leaf marker frame of off-CPU stacks.
pub const OFF_CPU_MARKER: &str = "[off-cpu:";
/// FlameGraph's annotation for kernel frames.
pub const KERNEL_SUFFIX: &str = "_[k]";
/// Module name that marks kernel frames.
pub const KERNEL_MODULE: &str = "[kernel]";

/// What the weights of a folded file measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FoldedUnit {
    /// Sample counts (what `stackcollapse-perf` writes): one `samples/count` column.
    #[default]
    Samples,
    /// Nanoseconds (what `flamewatch record` writes): `cpu/nanoseconds` and
    /// `off_cpu/nanoseconds` columns, split by the off-CPU marker frame.
    Nanoseconds,
}

/// The folded text of one location: its frames root first, joined with `;`, with `_[k]`
/// on kernel frames.
fn location_text(profile: &Profile, location: &crate::model::Location) -> String {
    let kernel = location
        .mapping
        .is_some_and(|m| profile.string(profile.mapping(m).filename) == KERNEL_MODULE);
    let suffix = if kernel { KERNEL_SUFFIX } else { "" };
    if location.lines.is_empty() {
        return format!("{:#x}{suffix}", location.address);
    }
    let names: Vec<String> = location
        .lines
        .iter()
        .rev()
        .map(|line| {
            let name = profile.string(profile.function(line.function).name);
            format!("{}{suffix}", sanitize(name))
        })
        .collect();
    names.join(";")
}

impl FoldedUnit {
    /// Guesses the unit of folded text: nanoseconds when it holds off-CPU marker frames
    /// (only `flamewatch record` writes them, always in nanoseconds), samples otherwise.
    pub fn detect(text: &str) -> FoldedUnit {
        if text.contains(OFF_CPU_MARKER) {
            FoldedUnit::Nanoseconds
        } else {
            FoldedUnit::Samples
        }
    }
}

/// The frame names of a stack, root first, with `_[k]` on kernel frames.
pub fn stack_names(profile: &Profile, stack: StackId) -> Vec<String> {
    profile
        .stack(stack)
        .iter()
        .rev()
        .flat_map(|&loc| {
            location_text(profile, profile.location(loc))
                .split(';')
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn sanitize(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains([';', '\n', '\r']) || name.is_empty() {
        let s = name.replace(';', ":").replace(['\n', '\r'], " ");
        if s.is_empty() {
            "[unknown]".into()
        } else {
            s.into()
        }
    } else {
        name.into()
    }
}

/// Folds a profile into `stack -> weight` (root-first stacks, off-CPU marker included),
/// sorted by stack.
pub fn fold(profile: &Profile) -> BTreeMap<String, i64> {
    let weights = Weights::of(profile);
    let mut out: BTreeMap<String, i64> = BTreeMap::new();
    let texts: Vec<String> = profile
        .locations()
        .iter()
        .map(|l| location_text(profile, l))
        .collect();
    let mut names_cache: std::collections::HashMap<StackId, String> =
        std::collections::HashMap::new();
    for sample in profile.samples() {
        let w = weights.sample(profile, sample);
        let base = names_cache.entry(sample.stack).or_insert_with(|| {
            let mut s = String::new();
            for (i, loc) in profile.stack(sample.stack).iter().rev().enumerate() {
                if i > 0 {
                    s.push(';');
                }
                s.push_str(&texts[loc.index()]);
            }
            s
        });
        if w.on_cpu > 0 || w.total() == 0 {
            let slot = out.entry(base.clone()).or_default();
            *slot = slot.saturating_add(w.on_cpu);
        }
        if w.off_cpu > 0 {
            let reason = w.reason.unwrap_or(OffCpuReason::Other).as_str();
            let key = if base.is_empty() {
                format!("{OFF_CPU_MARKER}{reason}]")
            } else {
                format!("{base};{OFF_CPU_MARKER}{reason}]")
            };
            let slot = out.entry(key).or_default();
            *slot = slot.saturating_add(w.off_cpu);
        }
    }
    out.retain(|k, _| !k.is_empty());
    out
}

/// Writes a profile as folded stacks.
pub fn write(profile: &Profile, mut out: impl Write) -> Result<(), ProfileError> {
    for (stack, weight) in fold(profile) {
        writeln!(out, "{stack} {weight}")?;
    }
    Ok(())
}

/// Writes a profile as folded stacks to a string.
pub fn to_string(profile: &Profile) -> String {
    let mut s = String::new();
    for (stack, weight) in fold(profile) {
        s.push_str(&stack);
        s.push(' ');
        s.push_str(&weight.to_string());
        s.push('\n');
    }
    s
}

/// One parsed folded line: root-first frame names and the weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldedLine<'a> {
    /// Frames, root first.
    pub frames: Vec<&'a str>,
    /// The weight.
    pub weight: i64,
}

/// Parses one folded line (1-based `number` for the error message). Returns `None` for
/// blank and comment lines.
pub fn parse_line(line: &str, number: usize) -> Result<Option<FoldedLine<'_>>, ProfileError> {
    let err = |reason: String| ProfileError::Folded {
        line: number,
        reason,
    };
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let Some(split) = line.rfind(|c: char| c.is_ascii_whitespace()) else {
        return Err(err(
            "expected `frame;frame;... WEIGHT`, found no weight after the stack".into(),
        ));
    };
    let (stack, weight) = (line[..split].trim_end(), &line[split + 1..]);
    let weight: i64 = weight.parse().map_err(|_| {
        err(format!(
            "weight `{}` is not a non-negative integer",
            weight.chars().take(40).collect::<String>()
        ))
    })?;
    if weight < 0 {
        return Err(err(format!("weight {weight} is negative")));
    }
    if stack.is_empty() {
        return Err(err("the stack before the weight is empty".into()));
    }
    let frames: Vec<&str> = stack.split(';').collect();
    if let Some(i) = frames.iter().position(|f| f.trim().is_empty()) {
        return Err(err(format!("frame {} of the stack is empty", i + 1)));
    }
    Ok(Some(FoldedLine { frames, weight }))
}

/// Reads folded stacks into a profile.
///
/// With [`FoldedUnit::Samples`] the profile has one `samples/count` column and off-CPU
/// stacks carry an `off_cpu_reason` label; with [`FoldedUnit::Nanoseconds`] it has
/// `cpu/nanoseconds` and `off_cpu/nanoseconds` columns.
pub fn read(text: &str, unit: FoldedUnit) -> Result<Profile, ProfileError> {
    let mut profile = match unit {
        FoldedUnit::Samples => Profile::new(vec![ValueType::new("samples", "count")]),
        FoldedUnit::Nanoseconds => Profile::new(vec![
            ValueType::new("cpu", "nanoseconds"),
            ValueType::new("off_cpu", "nanoseconds"),
        ]),
    };
    let mut frames: Vec<Frame> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(parsed) = parse_line(line, i + 1)? else {
            continue;
        };
        let mut names = parsed.frames;
        let mut reason = None;
        if let Some(last) = names.last()
            && let Some(r) = last
                .strip_prefix(OFF_CPU_MARKER)
                .and_then(|r| r.strip_suffix(']'))
        {
            reason = Some(OffCpuReason::parse(r).as_str());
            names.pop();
        }
        frames.clear();
        for name in names.iter().rev() {
            let (function, module) = match name.strip_suffix(KERNEL_SUFFIX) {
                Some(f) => (f, Some(KERNEL_MODULE.to_owned())),
                None => (*name, None),
            };
            frames.push(Frame {
                function: function.to_owned(),
                module,
                ..Frame::default()
            });
        }
        let label_pairs: Vec<(&str, &str)> = reason
            .map(|r| vec![(labels::OFF_CPU_REASON, r)])
            .unwrap_or_default();
        let values: Vec<i64> = match (unit, reason) {
            (FoldedUnit::Samples, _) => vec![parsed.weight],
            (FoldedUnit::Nanoseconds, None) => vec![parsed.weight, 0],
            (FoldedUnit::Nanoseconds, Some(_)) => vec![0, parsed.weight],
        };
        profile.add_sample(&frames, &values, &label_pairs);
    }
    if profile.samples().is_empty() {
        return Err(ProfileError::Empty(
            "the folded input holds no stacks (expected lines like `main;work 42`)".into(),
        ));
    }
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_the_line() {
        let e = read("a;b 1\nfoo\n", FoldedUnit::Samples).unwrap_err();
        assert_eq!(
            e.to_string().split(':').next(),
            Some("folded stacks line 2")
        );
        let e = read("a;;b 1", FoldedUnit::Samples).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = read("a;b -3", FoldedUnit::Samples).unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn perf_collapse_output_is_accepted() {
        let text = "prog;_start;main;work 30\nprog;_start;main;entry_SYSCALL_64_[k];do_nanosleep_[k] 10\n\n";
        let p = read(text, FoldedUnit::Samples).unwrap();
        assert_eq!(p.total(0), 40);
        assert_eq!(to_string(&p), {
            let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
            lines.sort();
            lines.join("\n") + "\n"
        });
    }
}
