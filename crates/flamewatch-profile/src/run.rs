//! Run-level measurements and the classes of time.
//!
//! [`RunStats`] is what the sampler measured about the whole run besides the stacks: the
//! process's wall and CPU time, peak memory, I/O, and how good the recording was (lost
//! records, truncated stacks, unsymbolized frames). The performance map's `baseline` and
//! `quality` blocks are built from it. [`OffCpuReason`] names why a thread was not running.

use serde::{Deserialize, Serialize};

/// Run-level measurements, filled by the sampler after the target exits.
///
/// Every field is optional or a counter that defaults to 0, so a profile read back from a
/// file can carry a partial record. Times are nanoseconds, sizes bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunStats {
    /// Wall-clock time of the run, from start (or attach) to exit (or detach).
    pub wall_ns: Option<u64>,
    /// User-mode CPU time of the target and its children (`getrusage`/`wait4`).
    pub cpu_user_ns: Option<u64>,
    /// Kernel-mode CPU time of the target and its children.
    pub cpu_sys_ns: Option<u64>,
    /// Peak resident set size (`ru_maxrss`, converted to bytes).
    pub peak_rss_bytes: Option<u64>,
    /// Bytes read from storage (`/proc/PID/io` `read_bytes`).
    pub io_read_bytes: Option<u64>,
    /// Bytes written to storage (`/proc/PID/io` `write_bytes`).
    pub io_write_bytes: Option<u64>,
    /// Samples taken: on-CPU samples plus off-CPU (context-switch) samples.
    pub samples: u64,
    /// Records the kernel reported as lost (`PERF_RECORD_LOST` counts summed).
    pub lost_records: u64,
    /// Throttle events (`PERF_RECORD_THROTTLE`), 0 when none.
    pub throttled: u64,
    /// Samples whose stack did not unwind to the root.
    pub truncated_stacks: u64,
    /// Frames across all samples that have no symbol.
    pub unsymbolized_frames: u64,
    /// Frames across all samples (denominator of `unsymbolized_frames`).
    pub total_frames: u64,
    /// Sampling frequency in Hz, 0 when unknown.
    pub frequency_hz: u64,
    /// Exit code of the target, when it was launched by the recorder.
    pub exit_code: Option<i32>,
}

impl RunStats {
    /// User plus system CPU time, when both are known.
    pub fn cpu_ns(&self) -> Option<u64> {
        Some(self.cpu_user_ns?.saturating_add(self.cpu_sys_ns?))
    }
}

/// Why a thread was off CPU. The label value is [`OffCpuReason::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OffCpuReason {
    /// Sleeping on purpose (`nanosleep`, timers).
    Sleep,
    /// Waiting for a lock, futex or condition variable.
    Lock,
    /// Waiting for disk or file I/O.
    FileIo,
    /// Waiting on the network, `poll`/`epoll`/`select`.
    NetworkIo,
    /// Runnable but not running (preempted, CPU contention).
    Preempted,
    /// Idle (a worker waiting for work).
    Idle,
    /// Anything else.
    Other,
}

impl OffCpuReason {
    /// Every reason, in display order.
    pub const ALL: [OffCpuReason; 7] = [
        OffCpuReason::Sleep,
        OffCpuReason::Lock,
        OffCpuReason::FileIo,
        OffCpuReason::NetworkIo,
        OffCpuReason::Preempted,
        OffCpuReason::Idle,
        OffCpuReason::Other,
    ];

    /// The label value: `sleep`, `lock`, `io_file`, `io_network`, `preempted`, `idle`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            OffCpuReason::Sleep => "sleep",
            OffCpuReason::Lock => "lock",
            OffCpuReason::FileIo => "io_file",
            OffCpuReason::NetworkIo => "io_network",
            OffCpuReason::Preempted => "preempted",
            OffCpuReason::Idle => "idle",
            OffCpuReason::Other => "other",
        }
    }

    /// Parses a label value; unknown values (and common synonyms) map leniently, so labels
    /// written by other tools still classify.
    pub fn parse(s: &str) -> OffCpuReason {
        match s.to_ascii_lowercase().as_str() {
            "sleep" => OffCpuReason::Sleep,
            "lock" | "futex" | "mutex" | "lock_wait" => OffCpuReason::Lock,
            "io_file" | "io-file" | "file" | "disk" | "io" => OffCpuReason::FileIo,
            "io_network" | "io-network" | "network" | "net" | "poll" | "epoll" => {
                OffCpuReason::NetworkIo
            }
            "preempted" | "preempt" | "runnable" => OffCpuReason::Preempted,
            "idle" => OffCpuReason::Idle,
            _ => OffCpuReason::Other,
        }
    }

    /// The bottleneck class name used in the map and report (`Sleep`, `Lock`, `I/O-File`, …).
    pub fn class(self) -> &'static str {
        match self {
            OffCpuReason::Sleep => "Sleep",
            OffCpuReason::Lock => "Lock",
            OffCpuReason::FileIo => "I/O-File",
            OffCpuReason::NetworkIo => "I/O-Network",
            OffCpuReason::Preempted => "Preempted",
            OffCpuReason::Idle => "Idle",
            OffCpuReason::Other => "Off-CPU-Other",
        }
    }
}
