//! The metrics measured for every run, their units and the names users type for them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One per-run measurement. All are "lower is better".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Elapsed time from spawn to exit, seconds.
    WallTime,
    /// User plus system CPU time of the process tree, seconds.
    CpuTime,
    /// User CPU time, seconds.
    UserTime,
    /// System CPU time, seconds.
    SysTime,
    /// Peak resident set size, bytes.
    PeakRss,
    /// Bytes passed to read-like system calls (`rchar`).
    IoRead,
    /// Bytes passed to write-like system calls (`wchar`).
    IoWrite,
    /// Bytes fetched from the storage layer (`read_bytes`).
    DiskRead,
    /// Bytes sent to the storage layer (`write_bytes`).
    DiskWrite,
    /// Voluntary context switches.
    CtxVoluntary,
    /// Involuntary context switches.
    CtxInvoluntary,
    /// Minor page faults.
    FaultsMinor,
    /// Major page faults.
    FaultsMajor,
}

/// How a metric's values are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Seconds.
    Seconds,
    /// Bytes.
    Bytes,
    /// A plain count.
    Count,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 13] = [
        Metric::WallTime,
        Metric::CpuTime,
        Metric::UserTime,
        Metric::SysTime,
        Metric::PeakRss,
        Metric::IoRead,
        Metric::IoWrite,
        Metric::DiskRead,
        Metric::DiskWrite,
        Metric::CtxVoluntary,
        Metric::CtxInvoluntary,
        Metric::FaultsMinor,
        Metric::FaultsMajor,
    ];

    /// Metrics gated by default: CPU time and peak RSS (wall time is too noisy on shared
    /// machines to gate on without being asked).
    pub const DEFAULT_GATE: [Metric; 2] = [Metric::CpuTime, Metric::PeakRss];

    /// Stable snake_case key used in JSON, CSV and the history database.
    pub fn key(self) -> &'static str {
        match self {
            Metric::WallTime => "wall_time",
            Metric::CpuTime => "cpu_time",
            Metric::UserTime => "user_time",
            Metric::SysTime => "sys_time",
            Metric::PeakRss => "peak_rss",
            Metric::IoRead => "io_read",
            Metric::IoWrite => "io_write",
            Metric::DiskRead => "disk_read",
            Metric::DiskWrite => "disk_write",
            Metric::CtxVoluntary => "ctx_voluntary",
            Metric::CtxInvoluntary => "ctx_involuntary",
            Metric::FaultsMinor => "faults_minor",
            Metric::FaultsMajor => "faults_major",
        }
    }

    /// The unit of the metric's values.
    pub fn unit(self) -> Unit {
        match self {
            Metric::WallTime | Metric::CpuTime | Metric::UserTime | Metric::SysTime => {
                Unit::Seconds
            }
            Metric::PeakRss
            | Metric::IoRead
            | Metric::IoWrite
            | Metric::DiskRead
            | Metric::DiskWrite => Unit::Bytes,
            _ => Unit::Count,
        }
    }

    /// Parses a metric key (`cpu_time`).
    pub fn from_key(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.key() == key)
    }

    /// Parses a user-facing name or group, e.g. `cpu`, `wall`, `rss`, `io` (read and write),
    /// `ctx`, `faults`, or any exact key.
    pub fn parse_group(name: &str) -> Option<Vec<Metric>> {
        let name = name.trim().to_ascii_lowercase().replace('-', "_");
        let one = |m| Some(vec![m]);
        match name.as_str() {
            "wall" | "time" => one(Metric::WallTime),
            "cpu" => one(Metric::CpuTime),
            "user" => one(Metric::UserTime),
            "sys" | "system" => one(Metric::SysTime),
            "rss" | "mem" | "memory" | "peak_rss" | "maxrss" => one(Metric::PeakRss),
            "io" => Some(vec![Metric::IoRead, Metric::IoWrite]),
            "disk" => Some(vec![Metric::DiskRead, Metric::DiskWrite]),
            "ctx" | "context_switches" => Some(vec![Metric::CtxVoluntary, Metric::CtxInvoluntary]),
            "faults" | "page_faults" => Some(vec![Metric::FaultsMinor, Metric::FaultsMajor]),
            other => Metric::from_key(other).map(|m| vec![m]),
        }
    }

    /// Parses a comma-separated list of names (`cpu,rss,wall`), deduplicated in report order.
    pub fn parse_list(list: &str) -> crate::Result<Vec<Metric>> {
        let mut out = Vec::new();
        for part in list.split(',').filter(|p| !p.trim().is_empty()) {
            let ms = Metric::parse_group(part).ok_or_else(|| {
                crate::Error::Config(format!(
                    "unknown metric `{}`: expected wall, cpu, user, sys, rss, io, disk, ctx, faults \
                     or a key such as cpu_time",
                    part.trim()
                ))
            })?;
            out.extend(ms);
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err(crate::Error::Config("empty metric list".into()));
        }
        Ok(out)
    }

    /// Formats a value of this metric for humans (`81.2 ms`, `200.4 MiB`, `1,234`).
    pub fn format(self, value: f64) -> String {
        format_value(self.unit(), value)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Formats a value in a unit with a readable scale.
pub fn format_value(unit: Unit, value: f64) -> String {
    if !value.is_finite() {
        return format!("{value}");
    }
    match unit {
        Unit::Seconds => {
            let a = value.abs();
            if a >= 1.0 {
                format!("{value:.3} s")
            } else if a >= 1e-3 {
                format!("{:.2} ms", value * 1e3)
            } else {
                format!("{:.1} µs", value * 1e6)
            }
        }
        Unit::Bytes => {
            let a = value.abs();
            if a >= 1024.0 * 1024.0 * 1024.0 {
                format!("{:.2} GiB", value / (1024.0 * 1024.0 * 1024.0))
            } else if a >= 1024.0 * 1024.0 {
                format!("{:.1} MiB", value / (1024.0 * 1024.0))
            } else if a >= 1024.0 {
                format!("{:.1} KiB", value / 1024.0)
            } else {
                format!("{value:.0} B")
            }
        }
        Unit::Count => {
            if value.fract() == 0.0 {
                format!("{value:.0}")
            } else {
                format!("{value:.1}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_parse_and_dedup() {
        let m = Metric::parse_list("rss, cpu,io,cpu_time").unwrap();
        assert_eq!(
            m,
            vec![
                Metric::CpuTime,
                Metric::PeakRss,
                Metric::IoRead,
                Metric::IoWrite
            ]
        );
        assert!(Metric::parse_list("cpu,bogus").is_err());
        for m in Metric::ALL {
            assert_eq!(Metric::from_key(m.key()), Some(m));
        }
    }

    #[test]
    fn values_format_with_units() {
        assert_eq!(Metric::WallTime.format(0.0812), "81.20 ms");
        assert_eq!(Metric::PeakRss.format(200.0 * 1024.0 * 1024.0), "200.0 MiB");
        assert_eq!(Metric::FaultsMinor.format(12.0), "12");
    }
}
