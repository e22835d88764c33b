//! `flamewatch record`: a sampling profiler for any Linux program, on and off CPU.
//!
//! Data flow: [`linux`] opens `perf_event_open` events (software `cpu-clock` at `-F` Hz and
//! `context-switches` with period 1, each with the kernel call chain, user registers and a
//! copy of the user stack), launches or attaches to the target and drains the ring buffers on
//! a reader thread; [`decode`] turns record bytes into [`decode::Record`]s (portable, tested on
//! captured bytes); [`process`] tracks address spaces, unwinds user stacks with framehop and
//! measures off-CPU intervals; after recording, [`symbolize`] resolves every unique address
//! once and [`classify`] names the reason of each off-CPU interval. The result is a
//! [`flamewatch_profile::Profile`] with `cpu` and `off_cpu` nanoseconds per stack, plus the
//! run's [`RunStats`].
//!
//! Invariant: only [`linux`] makes perf or process-control system calls; everything else
//! reads bytes and files.

pub mod classify;
pub mod decode;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub mod linux;
pub mod module;
pub mod process;
pub mod symbolize;

use flamewatch_profile::{Frame, Profile, RunStats, ValueType, labels};
use process::{Kind, Processor, RawFrame};
use std::collections::BTreeSet;
use std::time::Duration;

/// Default sampling frequency. 999 Hz rather than 1000 so sampling does not run in lock-step
/// with periodic work on millisecond timers, which would bias what is seen.
pub const DEFAULT_FREQUENCY: u32 = 999;
/// Default bytes of user stack copied per sample (enough for full stacks in typical Rust and
/// C++ programs; 8 KiB leaves most Rust stacks truncated).
pub const DEFAULT_STACK_SIZE: u32 = 32 * 1024;

/// What to profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Start this command and follow it and all its threads and children.
    Launch {
        /// Program name or path.
        program: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// Attach to a running process and all its threads.
    Attach {
        /// The process id.
        pid: i32,
    },
}

/// Recording options. Construct with [`RecordConfig::launch`] or [`RecordConfig::attach`]
/// and adjust the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordConfig {
    /// The target.
    pub target: Target,
    /// Samples per second per thread (default [`DEFAULT_FREQUENCY`]).
    pub frequency: u32,
    /// Stop after this long (default: when the target exits).
    pub duration: Option<Duration>,
    /// Bytes of user stack copied per sample (default [`DEFAULT_STACK_SIZE`], at most 65528,
    /// a multiple of 8).
    pub stack_size: u32,
    /// Record off-CPU time (default true; `--cpu-only` turns it off).
    pub off_cpu: bool,
    /// Function names only, no file/line or inline frames (fast on huge binaries).
    pub names_only: bool,
    /// Also write every raw ring-buffer record, merged in time order, to this file (records
    /// are self-delimiting), so a recording can be replayed through [`decode`].
    pub dump_records: Option<std::path::PathBuf>,
}

impl RecordConfig {
    /// Launch `program args` with default options.
    pub fn launch(program: impl Into<String>, args: Vec<String>) -> RecordConfig {
        RecordConfig::new(Target::Launch {
            program: program.into(),
            args,
        })
    }

    /// Attach to `pid` with default options.
    pub fn attach(pid: i32) -> RecordConfig {
        RecordConfig::new(Target::Attach { pid })
    }

    fn new(target: Target) -> RecordConfig {
        RecordConfig {
            target,
            frequency: DEFAULT_FREQUENCY,
            duration: None,
            stack_size: DEFAULT_STACK_SIZE,
            off_cpu: true,
            names_only: false,
            dump_records: None,
        }
    }

    /// A short name for output files and titles: the program's file name or `pid-N`.
    pub fn name(&self) -> String {
        match &self.target {
            Target::Launch { program, .. } => std::path::Path::new(program)
                .file_name()
                .map_or_else(|| program.clone(), |n| n.to_string_lossy().into_owned()),
            Target::Attach { pid } => format!("pid-{pid}"),
        }
    }

    /// The command line (or `--pid N`) as text.
    pub fn command_line(&self) -> String {
        match &self.target {
            Target::Launch { program, args } => std::iter::once(program.as_str())
                .chain(args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            Target::Attach { pid } => format!("--pid {pid}"),
        }
    }
}

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The kernel refused perf events.
    #[error(
        "permission denied opening perf events: kernel.perf_event_paranoid is {}; run as root or allow it with `sudo sysctl -w kernel.perf_event_paranoid=1`",
        paranoid.map_or_else(|| "unknown".to_string(), |p| p.to_string())
    )]
    PermissionDenied {
        /// `/proc/sys/kernel/perf_event_paranoid`, if readable.
        paranoid: Option<i64>,
    },
    /// `-F` above `kernel.perf_event_max_sample_rate`.
    #[error(
        "-F {hz} is above the kernel limit kernel.perf_event_max_sample_rate={max}; use -F {} or lower",
        suggest_frequency(*max)
    )]
    FrequencyTooHigh {
        /// Requested.
        hz: u32,
        /// Allowed.
        max: u32,
    },
    /// `-F 0`.
    #[error("-F must be at least 1 (samples per second); the default is 999")]
    BadFrequency,
    /// Bad `--stack-size`.
    #[error("--stack-size {bytes} is invalid: use a multiple of 8 between 8 and 65528 bytes")]
    BadStackSize {
        /// Requested.
        bytes: u32,
    },
    /// `--pid` names no process.
    #[error("no such process: --pid {pid} does not exist (check `ps -p {pid}`)")]
    NoSuchProcess {
        /// The pid.
        pid: i32,
    },
    /// The command cannot be found or executed.
    #[error("command not found: {command} (check the name, PATH, and that it is executable)")]
    CommandNotFound {
        /// The program.
        command: String,
    },
    /// Forking or executing failed.
    #[error("cannot start {command}: {source}")]
    Spawn {
        /// The program.
        command: String,
        /// The error.
        source: std::io::Error,
    },
    /// Mapping a ring buffer failed.
    #[error(
        "cannot map a {bytes}-byte perf ring buffer: {source} (raise `ulimit -l` or kernel.perf_event_mlock_kb, or use a smaller --stack-size)"
    )]
    Mmap {
        /// The error.
        source: std::io::Error,
        /// Size asked for.
        bytes: usize,
    },
    /// Out of file descriptors.
    #[error("too many open files for perf events ({source}); raise `ulimit -n`")]
    TooManyFiles {
        /// The error.
        source: std::io::Error,
    },
    /// Another perf call failed.
    #[error("perf_event_open failed while {what}: {source}")]
    Perf {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The raw-record dump file cannot be created.
    #[error("cannot create the record dump {}: {source}", path.display())]
    Dump {
        /// The path.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The reader thread panicked.
    #[error("the ring-buffer reader stopped unexpectedly; the recording is lost")]
    ReaderPanicked,
    /// Not Linux on x86_64.
    #[error("flamewatch record needs Linux on x86_64")]
    Unsupported,
}

/// A frequency comfortably under the kernel's limit (at most half of it, and not a round
/// number).
///
/// ```
/// assert_eq!(flamewatch_record::suggest_frequency(100_000), 4999);
/// assert_eq!(flamewatch_record::suggest_frequency(1_000), 499);
/// ```
pub fn suggest_frequency(max: u32) -> u32 {
    let target = max / 2;
    [4999, 1999, 999, 499, 199, 99, 49, 19, 9]
        .into_iter()
        .find(|&f| f <= target.max(1))
        .unwrap_or(1)
}

/// Quality and volume figures of a recording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSummary {
    /// Counters from the processor.
    pub counters: process::Counters,
    /// Whether off-CPU time was recorded.
    pub off_cpu: bool,
    /// Non-fatal problems (fallbacks taken).
    pub warnings: Vec<String>,
    /// True when Ctrl-C ended the recording.
    pub interrupted: bool,
    /// Time spent symbolizing.
    pub symbolize_time: Duration,
}

/// The result of a recording.
#[derive(Debug)]
pub struct Recording {
    /// Stacks with `cpu` and `off_cpu` nanoseconds; its run statistics are set.
    pub profile: Profile,
    /// The launched command's exit code (128 + signal when killed).
    pub exit_code: Option<i32>,
    /// Quality and volume figures.
    pub summary: RecordSummary,
}

/// Records the target until it exits, the duration ends, or Ctrl-C.
pub fn record(config: &RecordConfig) -> Result<Recording, RecordError> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        // /proc/kallsyms is slow to read: load it while the target runs.
        let kernel_symbols = std::thread::spawn(symbolize::KernelSymbols::load);
        let captured = linux::record(config)?;
        let started = std::time::Instant::now();
        let kernel_symbols = kernel_symbols.join().unwrap_or_default();
        let mut recording = build(
            &captured.processor,
            config,
            Some(&kernel_symbols),
            symbolize::SymbolOptions {
                names_only: config.names_only,
            },
        );
        recording.summary.symbolize_time = started.elapsed();
        recording.summary.off_cpu = captured.off_cpu;
        recording.summary.warnings = captured.warnings;
        recording.summary.interrupted = captured.interrupted;
        recording.exit_code = captured.exit_code;
        let u = captured.usage;
        let mut run = recording.profile.run.clone().unwrap_or_default();
        run.wall_ns = Some(captured.wall.as_nanos() as u64);
        run.cpu_user_ns = Some(u.user_ns);
        run.cpu_sys_ns = Some(u.sys_ns);
        run.peak_rss_bytes = Some(u.max_rss);
        run.io_read_bytes = Some(u.read_bytes);
        run.io_write_bytes = Some(u.write_bytes);
        run.exit_code = captured.exit_code;
        recording.profile.set_duration(captured.wall);
        recording.profile.set_run_stats(run);
        Ok(recording)
    }
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    {
        let _ = config;
        Err(RecordError::Unsupported)
    }
}

/// Symbolizes the processor's stacks and builds the profile (portable; used after recording).
pub fn build(
    processor: &Processor,
    config: &RecordConfig,
    kernel_symbols: Option<&symbolize::KernelSymbols>,
    options: symbolize::SymbolOptions,
) -> Recording {
    let raw: BTreeSet<RawFrame> = processor
        .stacks
        .keys()
        .flat_map(|k| k.frames.iter().copied())
        .collect();
    let symbols = symbolize::symbolize(&raw, &processor.modules, kernel_symbols, options);
    let mut profile = Profile::new(vec![
        ValueType::new("cpu", "nanoseconds"),
        ValueType::new("off_cpu", "nanoseconds"),
    ]);
    profile.set_command(config.command_line());
    // pprof shows the first mapping as the profiled file: make it the main executable (the
    // first module mapped), not whatever the first sampled frame belongs to.
    if let Some(main) = processor.modules.iter().find(|m| m.path.starts_with('/')) {
        profile.intern_mapping_name(&symbolize::module_name(&main.path));
    }
    profile.set_period(
        ValueType::new("cpu", "nanoseconds"),
        1_000_000_000 / i64::from(config.frequency.max(1)),
    );
    let mut total_frames = 0u64;
    let mut unsymbolized = 0u64;
    let mut keys: Vec<_> = processor.stacks.iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (key, weight) in keys {
        let mut frames: Vec<Frame> = Vec::with_capacity(key.frames.len());
        for raw in &key.frames {
            let resolved = symbols.frames(raw);
            total_frames += weight.count;
            if resolved.first().is_none_or(|f| f.function.contains("0x")) {
                unsymbolized += weight.count;
            }
            frames.extend(resolved.iter().cloned());
        }
        let mut label_list: Vec<(&str, &str)> = vec![(labels::THREAD, key.thread.as_str())];
        if key.truncated {
            label_list.push((labels::STACK, labels::TRUNCATED));
        }
        let nanos = weight.nanos.min(i64::MAX as u64) as i64;
        match key.kind {
            Kind::Cpu => profile.add_sample(&frames, &[nanos, 0], &label_list),
            Kind::OffCpu { preempted } => {
                let kernel: Vec<&str> = frames
                    .iter()
                    .filter(|f| f.module.as_deref() == Some("[kernel]"))
                    .map(|f| f.function.as_str())
                    .collect();
                let user: Vec<&str> = frames
                    .iter()
                    .filter(|f| f.module.as_deref() != Some("[kernel]"))
                    .map(|f| f.function.as_str())
                    .collect();
                let reason = classify::classify(preempted, &kernel, &user);
                label_list.push((labels::OFF_CPU_REASON, reason.as_str()));
                profile.add_sample(&frames, &[0, nanos], &label_list);
            }
        }
    }
    let c = processor.counters;
    profile.set_run_stats(RunStats {
        samples: c.cpu_samples + c.switch_samples,
        lost_records: c.lost,
        throttled: c.throttled,
        truncated_stacks: c.truncated,
        unsymbolized_frames: unsymbolized,
        total_frames,
        frequency_hz: u64::from(config.frequency),
        ..RunStats::default()
    });
    Recording {
        profile,
        exit_code: None,
        summary: RecordSummary {
            counters: c,
            ..RecordSummary::default()
        },
    }
}
