//! speedscope JSON (<https://www.speedscope.app/file-format-schema.json>): one sampled
//! profile per thread, frames shared, weights in the profile's unit.
//!
//! Off-CPU time appears as a leaf frame `[off-cpu:REASON]`, as in folded stacks, so
//! speedscope's "left heavy" and "sandwich" views show blocked time next to CPU time.

use crate::error::ProfileError;
use crate::folded::OFF_CPU_MARKER;
use crate::model::{Profile, labels};
use crate::weights::Weights;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Builds the speedscope document.
pub fn to_json(profile: &Profile) -> Value {
    let weights = Weights::of(profile);
    let resolver = crate::analysis::Resolver::new(profile);
    let mut frames: Vec<Value> = Vec::new();
    let mut frame_index: HashMap<u64, usize> = HashMap::new();
    let mut marker_index: HashMap<&'static str, usize> = HashMap::new();
    // thread name -> (stacks, weights)
    let mut threads: BTreeMap<String, (Vec<Vec<usize>>, Vec<i64>)> = BTreeMap::new();
    for sample in profile.samples() {
        let w = weights.sample(profile, sample);
        let thread = profile
            .label(sample, labels::THREAD)
            .unwrap_or("all threads")
            .to_owned();
        let mut stack: Vec<usize> = Vec::new();
        for frame in resolver.frames(sample.stack).rev() {
            let i = *frame_index.entry(frame.key).or_insert_with(|| {
                let mut f = json!({ "name": resolver.name(frame) });
                if let Some(function) = frame.function {
                    let file = profile.string(profile.function(function).filename);
                    if !file.is_empty() {
                        f["file"] = json!(file);
                        if frame.line > 0 {
                            f["line"] = json!(frame.line);
                        }
                    }
                }
                frames.push(f);
                frames.len() - 1
            });
            stack.push(i);
        }
        let entry = threads.entry(thread).or_default();
        if w.on_cpu > 0 || w.total() == 0 {
            entry.0.push(stack.clone());
            entry.1.push(w.on_cpu);
        }
        if w.off_cpu > 0 {
            let reason = w.reason.map_or("other", |r| r.as_str());
            let i = *marker_index.entry(reason).or_insert_with(|| {
                frames.push(json!({ "name": format!("{OFF_CPU_MARKER}{reason}]") }));
                frames.len() - 1
            });
            let mut off = stack;
            off.push(i);
            entry.0.push(off);
            entry.1.push(w.off_cpu);
        }
    }
    let unit = match weights.unit() {
        "nanoseconds" => "nanoseconds",
        "microseconds" => "microseconds",
        "milliseconds" => "milliseconds",
        "seconds" => "seconds",
        "bytes" => "bytes",
        _ => "none",
    };
    let profiles: Vec<Value> = threads
        .into_iter()
        .map(|(name, (samples, weights))| {
            let end: i64 = weights.iter().copied().fold(0, i64::saturating_add);
            json!({
                "type": "sampled",
                "name": name,
                "unit": unit,
                "startValue": 0,
                "endValue": end,
                "samples": samples,
                "weights": weights,
            })
        })
        .collect();
    json!({
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "exporter": concat!("flamewatch ", env!("CARGO_PKG_VERSION")),
        "name": profile.command.clone().unwrap_or_else(|| "flamewatch profile".to_owned()),
        "activeProfileIndex": 0,
        "shared": { "frames": frames },
        "profiles": profiles,
    })
}

/// Writes the speedscope document as JSON.
pub fn write(profile: &Profile, out: impl std::io::Write) -> Result<(), ProfileError> {
    serde_json::to_writer(out, &to_json(profile))
        .map_err(|e| ProfileError::Serialize(e.to_string()))
}
