//! Everything that talks to the Linux kernel: perf events, ring buffers, the target process.
//!
//! One `cpu-clock` sampling event per CPU (launch mode: on the child with `inherit` and
//! `enable_on_exec`; attach mode: per existing thread, with `inherit` for new ones), plus a
//! `context-switches` event with period 1 for off-CPU stacks. All cpu-clock events of a CPU write
//! into one ring buffer and all its context-switch events into a second one
//! (`PERF_EVENT_IOC_SET_OUTPUT`), so a switch storm cannot crowd out CPU samples. A reader thread drains the
//! buffers on `poll` wake-ups, merges records by timestamp and feeds them to the
//! [`Processor`], which unwinds each sample immediately so the
//! stack copies are not kept.

pub mod sys;
pub mod target;

use crate::decode::{self, Layout};
use crate::process::Processor;
use crate::{RecordConfig, RecordError, Target};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use sys::{PerfEventAttr, RingBuffer, flag};

/// The kernel's upper bound for `sample_stack_user` (the record size is a u16).
pub const MAX_STACK_SIZE: u32 = 65528;

/// What the Linux side hands back.
pub struct Captured {
    /// The processor with all stacks.
    pub processor: Processor,
    /// Child or target usage.
    pub usage: target::ChildUsage,
    /// Wall time recorded.
    pub wall: Duration,
    /// Whether off-CPU recording was active.
    pub off_cpu: bool,
    /// Non-fatal problems.
    pub warnings: Vec<String>,
    /// The launched child's exit code.
    pub exit_code: Option<i32>,
    /// Pid of the target.
    pub pid: i32,
    /// True when recording was ended by SIGINT.
    pub interrupted: bool,
}

fn read_proc_i64(path: &str) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The kernel's `perf_event_paranoid` value.
pub fn paranoid() -> Option<i64> {
    read_proc_i64("/proc/sys/kernel/perf_event_paranoid")
}

struct Events {
    rings: Vec<RingBuffer>,
    others: Vec<OwnedFd>,
    cpu_ids: Vec<u64>,
    switch_ids: Vec<u64>,
    off_cpu: bool,
    kernel_stacks: bool,
}

impl Events {
    fn all_fds(&self) -> impl Iterator<Item = &OwnedFd> {
        self.rings
            .iter()
            .map(RingBuffer::fd)
            .chain(self.others.iter())
    }
}

fn base_attr(config: &RecordConfig) -> PerfEventAttr {
    PerfEventAttr {
        kind: sys::TYPE_SOFTWARE,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        sample_type: decode::SAMPLE_TYPE,
        sample_regs_user: decode::REGS_MASK_X86_64,
        sample_stack_user: config.stack_size,
        clockid: libc::CLOCK_MONOTONIC,
        ..Default::default()
    }
}

fn data_pages(stack_size: u32) -> usize {
    if stack_size >= 16 * 1024 { 1024 } else { 256 }
}

/// Opens every event; `tids` are the tasks to follow (launch mode: just the child).
fn open_events(
    config: &RecordConfig,
    tids: &[i32],
    launch: bool,
    warnings: &mut Vec<String>,
) -> Result<Events, RecordError> {
    let cpus = sys::online_cpus();
    let mut clock = base_attr(config);
    clock.config = sys::SW_CPU_CLOCK;
    clock.sample_period_or_freq = u64::from(config.frequency);
    let pages = data_pages(config.stack_size);
    let page = 4096u32;
    clock.wakeup_events_or_watermark = (pages as u32 * page) / 4;
    clock.flags = flag::DISABLED
        | flag::INHERIT
        | flag::FREQ
        | flag::MMAP
        | flag::MMAP2
        | flag::COMM
        | flag::TASK
        | flag::SAMPLE_ID_ALL
        | flag::USE_CLOCKID
        | flag::WATERMARK
        | flag::BUILD_ID;
    if config.off_cpu {
        clock.flags |= flag::CONTEXT_SWITCH;
    }
    if launch {
        clock.flags |= flag::ENABLE_ON_EXEC;
    }
    let mut switches = base_attr(config);
    switches.config = sys::SW_CONTEXT_SWITCHES;
    switches.sample_period_or_freq = 1;
    switches.flags =
        flag::DISABLED | flag::INHERIT | flag::SAMPLE_ID_ALL | flag::USE_CLOCKID | flag::WATERMARK;
    switches.wakeup_events_or_watermark = clock.wakeup_events_or_watermark;
    if launch {
        switches.flags |= flag::ENABLE_ON_EXEC;
    }

    let mut events = Events {
        rings: Vec::new(),
        others: Vec::new(),
        cpu_ids: Vec::new(),
        switch_ids: Vec::new(),
        off_cpu: config.off_cpu,
        kernel_stacks: true,
    };
    for &cpu in &cpus {
        // Context-switch samples get their own ring buffer per CPU: a program that switches
        // tens of thousands of times a second may overflow it, but then only off-CPU stacks
        // are lost, never the CPU samples.
        let mut ring_index: Option<usize> = None;
        let mut switch_ring_index: Option<usize> = None;
        for &tid in tids {
            let fd = match open_clock(&mut clock, tid, cpu, warnings) {
                Ok(fd) => fd,
                Err(RecordError::NoSuchProcess { .. }) if !launch && tid != tids[0] => continue,
                Err(e) => return Err(e),
            };
            events
                .cpu_ids
                .push(sys::event_id(&fd).map_err(|e| perf_err("event id", e))?);
            match ring_index {
                Some(i) => {
                    sys::set_output(&fd, events.rings[i].fd())
                        .map_err(|e| perf_err("redirecting output", e))?;
                    events.others.push(fd);
                }
                None => {
                    events.rings.push(map_ring(fd, pages, warnings)?);
                    ring_index = Some(events.rings.len() - 1);
                }
            }
            if events.off_cpu {
                if !events.kernel_stacks {
                    switches.flags |= flag::EXCLUDE_KERNEL | flag::EXCLUDE_HV;
                }
                match sys::perf_event_open(&switches, tid, cpu, -1) {
                    Ok(sw) => {
                        events
                            .switch_ids
                            .push(sys::event_id(&sw).map_err(|e| perf_err("event id", e))?);
                        match switch_ring_index {
                            Some(i) => {
                                sys::set_output(&sw, events.rings[i].fd())
                                    .map_err(|e| perf_err("redirecting output", e))?;
                                events.others.push(sw);
                            }
                            None => {
                                events.rings.push(map_ring(sw, pages, warnings)?);
                                switch_ring_index = Some(events.rings.len() - 1);
                            }
                        }
                    }
                    Err(e) => {
                        let fix = if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) {
                            format!(
                                "; it needs kernel samples: run as root or `sudo sysctl -w kernel.perf_event_paranoid=1` (now {})",
                                paranoid().map_or_else(|| "unknown".into(), |p| p.to_string())
                            )
                        } else {
                            String::new()
                        };
                        warnings.push(format!(
                            "off-CPU recording is off: the context-switches event is unavailable ({e}){fix}"
                        ));
                        events.off_cpu = false;
                    }
                }
            }
        }
    }
    if events.rings.is_empty() {
        return Err(RecordError::NoSuchProcess { pid: tids[0] });
    }
    Ok(events)
}

/// Maps a ring buffer, halving its size while the kernel refuses for lack of locked memory
/// (non-root users are limited by kernel.perf_event_mlock_kb).
fn map_ring(
    fd: OwnedFd,
    pages: usize,
    warnings: &mut Vec<String>,
) -> Result<RingBuffer, RecordError> {
    let mut pages = pages;
    let mut fd = fd;
    loop {
        match RingBuffer::map(fd, pages) {
            Ok(ring) => return Ok(ring),
            Err((e, back)) if e.raw_os_error() == Some(libc::EPERM) && pages > 16 => {
                fd = back;
                pages /= 2;
                warnings.push(format!(
                    "perf ring buffer reduced to {} KiB per CPU by the locked-memory limit; samples may be lost",
                    pages * 4
                ));
            }
            Err((e, _)) => {
                return Err(RecordError::Mmap {
                    source: e,
                    bytes: pages * 4096,
                });
            }
        }
    }
}

fn perf_err(what: &'static str, source: io::Error) -> RecordError {
    RecordError::Perf { what, source }
}

/// Opens the cpu-clock event, falling back on the real errno: without kernel samples when
/// kernel profiling is not allowed, without build ids on older kernels, and on `task-clock`
/// when `cpu-clock` does not exist.
fn open_clock(
    attr: &mut PerfEventAttr,
    tid: i32,
    cpu: i32,
    warnings: &mut Vec<String>,
) -> Result<OwnedFd, RecordError> {
    loop {
        match sys::perf_event_open(attr, tid, cpu, -1) {
            Ok(fd) => return Ok(fd),
            Err(e) => match e.raw_os_error() {
                Some(libc::EACCES) | Some(libc::EPERM)
                    if attr.flags & flag::EXCLUDE_KERNEL == 0 =>
                {
                    attr.flags |= flag::EXCLUDE_KERNEL | flag::EXCLUDE_HV;
                    warnings.push(
                        "kernel stacks are not allowed here; recording user stacks only".into(),
                    );
                }
                Some(libc::EACCES) | Some(libc::EPERM) => {
                    return Err(RecordError::PermissionDenied {
                        paranoid: paranoid(),
                    });
                }
                Some(libc::EINVAL) if attr.flags & flag::BUILD_ID != 0 => {
                    attr.flags &= !flag::BUILD_ID;
                }
                Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) if attr.config == sys::SW_CPU_CLOCK => {
                    attr.config = sys::SW_TASK_CLOCK;
                    warnings.push(format!(
                        "the cpu-clock event is unavailable ({e}); using task-clock"
                    ));
                }
                Some(libc::ESRCH) => return Err(RecordError::NoSuchProcess { pid: tid }),
                Some(libc::EMFILE) | Some(libc::ENFILE) => {
                    return Err(RecordError::TooManyFiles { source: e });
                }
                _ => return Err(perf_err("opening the cpu-clock event", e)),
            },
        }
    }
}

/// Drains the ring buffers until `stop` is set, then once more.
fn reader(
    mut rings: Vec<RingBuffer>,
    mut processor: Processor,
    stop: Arc<AtomicBool>,
    waker: Arc<sys::Waker>,
    mut dump: Option<std::io::BufWriter<std::fs::File>>,
) -> Processor {
    let layout = Layout::X86_64;
    let mut fds: Vec<i32> = rings.iter().map(|r| r.fd().as_raw_fd()).collect();
    fds.push(waker.fd());
    let mut pending: Vec<(u64, Vec<u8>)> = Vec::new();
    loop {
        let stopping = stop.load(Ordering::Acquire);
        if !stopping {
            sys::poll_readable(&fds, 50);
        }
        let now = sys::monotonic_ns();
        for ring in &mut rings {
            ring.drain(|bytes| pending.push((decode::record_time(bytes), bytes.to_vec())));
        }
        pending.sort_by_key(|(t, _)| *t);
        // Records older than this are all in the buffers already; later ones may still
        // arrive from another CPU, so they wait for the next round.
        let horizon = if stopping {
            u64::MAX
        } else {
            now.saturating_sub(5_000_000)
        };
        let ready = pending.partition_point(|(t, _)| *t <= horizon);
        for (_, bytes) in pending.drain(..ready) {
            if let Some(out) = dump.as_mut() {
                use std::io::Write;
                if out.write_all(&bytes).is_err() {
                    dump = None;
                }
            }
            match decode::decode(&layout, &bytes) {
                Ok(record) => processor.handle(record),
                Err(_) => processor.counters.malformed += 1,
            }
        }
        if stopping {
            processor.finish(now);
            return processor;
        }
    }
}

fn open_dump(
    config: &RecordConfig,
) -> Result<Option<std::io::BufWriter<std::fs::File>>, RecordError> {
    let Some(path) = &config.dump_records else {
        return Ok(None);
    };
    let file = std::fs::File::create(path).map_err(|source| RecordError::Dump {
        path: path.clone(),
        source,
    })?;
    Ok(Some(std::io::BufWriter::new(file)))
}

/// Checks the sampling frequency against the kernel's limit.
fn check_frequency(hz: u32) -> Result<(), RecordError> {
    if hz == 0 {
        return Err(RecordError::BadFrequency);
    }
    if let Some(max) = read_proc_i64("/proc/sys/kernel/perf_event_max_sample_rate")
        && i64::from(hz) > max
    {
        return Err(RecordError::FrequencyTooHigh {
            hz,
            max: max.max(1) as u32,
        });
    }
    Ok(())
}

/// Records the configured target.
pub fn record(config: &RecordConfig) -> Result<Captured, RecordError> {
    check_frequency(config.frequency)?;
    if config.stack_size == 0
        || config.stack_size > MAX_STACK_SIZE
        || !config.stack_size.is_multiple_of(8)
    {
        return Err(RecordError::BadStackSize {
            bytes: config.stack_size,
        });
    }
    let mut dump = open_dump(config)?;
    let waker = Arc::new(sys::Waker::new().map_err(|e| perf_err("creating an eventfd", e))?);
    sys::raise_fd_limit();
    let mut warnings = Vec::new();
    let interrupts = target::InterruptGuard::install();
    match &config.target {
        Target::Launch { program, args } => {
            if target::resolve_command(program).is_none() {
                return Err(RecordError::CommandNotFound {
                    command: program.clone(),
                });
            }
            let child = target::spawn_suspended(program, args).map_err(|e| RecordError::Spawn {
                command: program.clone(),
                source: e,
            })?;
            let pid = child.pid;
            let events = match open_events(config, &[pid], true, &mut warnings) {
                Ok(events) => events,
                Err(e) => {
                    child.abort();
                    return Err(e);
                }
            };
            let mut processor = Processor::new();
            processor.cpu_ids.extend(&events.cpu_ids);
            processor.switch_ids.extend(&events.switch_ids);
            let off_cpu = events.off_cpu;
            let stop = Arc::new(AtomicBool::new(false));
            let Events { rings, others, .. } = events;
            let reader_stop = stop.clone();
            let dump = dump.take();
            let reader_waker = waker.clone();
            let reader = std::thread::spawn(move || {
                reader(rings, processor, reader_stop, reader_waker, dump)
            });
            let started = Instant::now();
            if let Err(e) = child.release() {
                stop.store(true, Ordering::Release);
                let _ = reader.join();
                return Err(match e.kind() {
                    io::ErrorKind::NotFound => RecordError::CommandNotFound {
                        command: program.clone(),
                    },
                    _ => RecordError::Spawn {
                        command: program.clone(),
                        source: e,
                    },
                });
            }
            // Ctrl-C or the end of `--duration` ends the program as Ctrl-C would (SIGINT);
            // a second Ctrl-C, or a program still running 2 s after its SIGINT, is killed.
            let mut sent = 0u32;
            let mut sent_at = started;
            let pidfd = sys::pidfd_open(pid);
            let usage = loop {
                if let Some(usage) = target::try_reap(pid) {
                    break usage;
                }
                // Sleep until the child exits, a signal arrives, or 100 ms pass.
                match &pidfd {
                    Some(fd) => sys::poll_readable(&[fd.as_raw_fd()], 100),
                    None => std::thread::sleep(Duration::from_millis(5)),
                }
                if let Some(usage) = target::try_reap(pid) {
                    break usage;
                }
                let count = interrupts.count();
                let expired = config.duration.is_some_and(|d| started.elapsed() >= d);
                let mut wanted = if count >= 2 {
                    2
                } else {
                    u32::from(count == 1 || expired)
                };
                if sent == 1 && sent_at.elapsed() >= Duration::from_secs(2) {
                    wanted = 2;
                }
                if wanted > sent {
                    let signal = if wanted == 1 {
                        libc::SIGINT
                    } else {
                        libc::SIGKILL
                    };
                    sys::send_signal(pid, signal);
                    sent = wanted;
                    sent_at = Instant::now();
                }
            };
            let interrupted = interrupts.count() > 0;
            let wall = started.elapsed();
            stop.store(true, Ordering::Release);
            waker.wake();
            let processor = reader.join().map_err(|_| RecordError::ReaderPanicked)?;
            drop(others);
            Ok(Captured {
                processor,
                exit_code: Some(usage.code),
                usage,
                wall,
                off_cpu,
                warnings,
                pid,
                interrupted,
            })
        }
        Target::Attach { pid } => {
            let pid = *pid;
            if pid <= 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return Err(RecordError::NoSuchProcess { pid });
            }
            let mut processor = Processor::new();
            // Hold the process still while events are opened on each thread, unless it is
            // already stopped (a debugger's, or the user's): then leave it as it was.
            let hold = !target::is_stopped(pid);
            let stop_process = |stop: bool| {
                if hold {
                    target::stop_process(pid, stop);
                }
            };
            stop_process(true);
            let tids = target::threads(pid);
            processor.seed_from_proc(pid as u32);
            let opened = if tids.is_empty() {
                Err(RecordError::NoSuchProcess { pid })
            } else {
                open_events(config, &tids, false, &mut warnings)
            };
            let events = match opened {
                Ok(events) => events,
                Err(e) => {
                    stop_process(false);
                    return Err(e);
                }
            };
            for fd in events.all_fds() {
                if let Err(e) = sys::enable(fd) {
                    stop_process(false);
                    return Err(perf_err("enabling events", e));
                }
            }
            let (cpu0, read0, write0) = target::proc_usage(pid);
            stop_process(false);
            processor.cpu_ids.extend(&events.cpu_ids);
            processor.switch_ids.extend(&events.switch_ids);
            let off_cpu = events.off_cpu;
            let stop = Arc::new(AtomicBool::new(false));
            let Events { rings, others, .. } = events;
            let reader_stop = stop.clone();
            let dump = dump.take();
            let reader_waker = waker.clone();
            let reader = std::thread::spawn(move || {
                reader(rings, processor, reader_stop, reader_waker, dump)
            });
            let started = Instant::now();
            let mut last = (cpu0, read0, write0, 0u64);
            let mut interrupted = false;
            loop {
                if target::process_finished(pid) {
                    break;
                }
                let (c, r, w) = target::proc_usage(pid);
                last = (c, r, w, target::proc_peak_rss(pid));
                if interrupts.count() > 0 {
                    interrupted = true;
                    break;
                }
                if config.duration.is_some_and(|d| started.elapsed() >= d) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let wall = started.elapsed();
            for fd in others.iter() {
                let _ = sys::disable(fd);
            }
            stop.store(true, Ordering::Release);
            waker.wake();
            let processor = reader.join().map_err(|_| RecordError::ReaderPanicked)?;
            drop(others);
            let cpu = last.0.saturating_sub(cpu0);
            Ok(Captured {
                processor,
                usage: target::ChildUsage {
                    code: 0,
                    signaled: false,
                    user_ns: cpu,
                    sys_ns: 0,
                    max_rss: last.3,
                    read_bytes: last.1.saturating_sub(read0),
                    write_bytes: last.2.saturating_sub(write0),
                },
                wall,
                off_cpu,
                warnings,
                exit_code: None,
                pid,
                interrupted,
            })
        }
    }
}
