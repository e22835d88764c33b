//! How much on-CPU and off-CPU time each sample stands for.
//!
//! Profiles come with different sample types: the recorder writes `cpu/nanoseconds` and
//! `off_cpu/nanoseconds`; Go writes `samples/count` + `cpu/nanoseconds`; folded files carry
//! one anonymous count. [`Weights`] picks the right columns once and then splits every
//! sample into on-CPU and off-CPU weight (with the off-CPU reason from the
//! `off_cpu_reason` label), in nanoseconds when the unit allows it.

use crate::model::{LabelValue, Profile, Sample, StringId, labels};
use crate::run::OffCpuReason;
use std::collections::HashMap;

/// The on-CPU and off-CPU weight of one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleWeight {
    /// On-CPU weight, in the profile's unit.
    pub on_cpu: i64,
    /// Off-CPU weight, in the profile's unit.
    pub off_cpu: i64,
    /// Why the thread was off CPU (set when `off_cpu > 0`).
    pub reason: Option<OffCpuReason>,
}

impl SampleWeight {
    /// On plus off CPU.
    pub fn total(&self) -> i64 {
        self.on_cpu.saturating_add(self.off_cpu)
    }
}

/// The columns of a profile that carry time, and how to turn them into nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    cpu: Option<usize>,
    off_cpu: Option<usize>,
    single: Option<usize>,
    ns_per_unit: Option<f64>,
    unit: String,
    /// The interned `off_cpu_reason` key, if any sample uses it.
    reason_key: Option<StringId>,
    /// Parsed reasons by label value.
    reasons: HashMap<StringId, OffCpuReason>,
}

impl Weights {
    /// Chooses the time columns of a profile.
    pub fn of(profile: &Profile) -> Weights {
        let types = profile.sample_types();
        let cpu = profile.sample_type_index("cpu");
        let off_cpu = profile.sample_type_index("off_cpu");
        let single = if cpu.is_some() || off_cpu.is_some() {
            None
        } else {
            profile
                .sample_type_index("wall")
                .or_else(|| (!types.is_empty()).then_some(0))
        };
        let unit = cpu
            .or(off_cpu)
            .or(single)
            .map(|i| types[i].unit.clone())
            .unwrap_or_else(|| "count".to_owned());
        let ns_per_unit = match unit.as_str() {
            "nanoseconds" => Some(1.0),
            "microseconds" => Some(1e3),
            "milliseconds" => Some(1e6),
            "seconds" => Some(1e9),
            _ => profile
                .period_type
                .as_ref()
                .filter(|t| t.unit == "nanoseconds" && profile.period > 0)
                .map(|_| profile.period as f64),
        };
        let reason_key = profile.lookup_string(labels::OFF_CPU_REASON);
        let mut reasons = HashMap::new();
        if let Some(key) = reason_key {
            for sample in profile.samples() {
                for label in &sample.labels {
                    if let (true, LabelValue::Str(v)) = (label.key == key, label.value) {
                        reasons
                            .entry(v)
                            .or_insert_with(|| OffCpuReason::parse(profile.string(v)));
                    }
                }
            }
        }
        Weights {
            cpu,
            off_cpu,
            single,
            ns_per_unit,
            unit,
            reason_key,
            reasons,
        }
    }

    /// The off-CPU reason label of a sample, if it has one.
    fn reason_label(&self, sample: &Sample) -> Option<OffCpuReason> {
        let key = self.reason_key?;
        sample.labels.iter().find_map(|l| match l.value {
            LabelValue::Str(v) if l.key == key => {
                Some(self.reasons.get(&v).copied().unwrap_or(OffCpuReason::Other))
            }
            _ => None,
        })
    }

    /// Splits a sample into on-CPU and off-CPU weight.
    pub fn sample(&self, _profile: &Profile, sample: &Sample) -> SampleWeight {
        let get = |i: Option<usize>| i.and_then(|i| sample.values.get(i).copied()).unwrap_or(0);
        let label = self.reason_label(sample);
        if self.cpu.is_some() || self.off_cpu.is_some() {
            let on_cpu = get(self.cpu).max(0);
            let off_cpu = get(self.off_cpu).max(0);
            SampleWeight {
                on_cpu,
                off_cpu,
                reason: (off_cpu > 0).then(|| label.unwrap_or(OffCpuReason::Other)),
            }
        } else {
            let w = get(self.single).max(0);
            if label.is_some() {
                SampleWeight {
                    on_cpu: 0,
                    off_cpu: w,
                    reason: label,
                }
            } else {
                SampleWeight {
                    on_cpu: w,
                    off_cpu: 0,
                    reason: None,
                }
            }
        }
    }

    /// Whether weights convert to time.
    pub fn is_time(&self) -> bool {
        self.ns_per_unit.is_some()
    }

    /// The raw unit of the weights (`nanoseconds`, `count`, …).
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// Converts a weight to milliseconds, when the unit is time (or counts of a known period).
    pub fn to_ms(&self, weight: i64) -> Option<f64> {
        self.ns_per_unit.map(|f| weight as f64 * f / 1e6)
    }

    /// Converts a weight to nanoseconds, when known.
    pub fn to_ns(&self, weight: i64) -> Option<f64> {
        self.ns_per_unit.map(|f| weight as f64 * f)
    }

    /// Whether the profile has an off-CPU column or off-CPU labels.
    pub fn has_off_cpu(&self, _profile: &Profile) -> bool {
        self.off_cpu.is_some() || !self.reasons.is_empty()
    }
}
