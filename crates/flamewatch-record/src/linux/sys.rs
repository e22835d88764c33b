//! Raw `perf_event_open(2)` bindings: the attribute struct, the syscall, ioctls and the
//! memory-mapped ring buffer.
//!
//! This is the only module that talks to the kernel's perf interface. Every error keeps the
//! real `errno` (read right after the failing call), so callers can fall back correctly.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering, fence};

/// `PERF_TYPE_SOFTWARE`.
pub const TYPE_SOFTWARE: u32 = 1;
/// `PERF_COUNT_SW_CPU_CLOCK`.
pub const SW_CPU_CLOCK: u64 = 0;
/// `PERF_COUNT_SW_TASK_CLOCK`.
pub const SW_TASK_CLOCK: u64 = 1;
/// `PERF_COUNT_SW_CONTEXT_SWITCHES`.
pub const SW_CONTEXT_SWITCHES: u64 = 3;

/// Bits of the `perf_event_attr` flags word.
pub mod flag {
    /// Start disabled.
    pub const DISABLED: u64 = 1 << 0;
    /// Children (threads and processes) inherit the event.
    pub const INHERIT: u64 = 1 << 1;
    /// Do not count kernel mode.
    pub const EXCLUDE_KERNEL: u64 = 1 << 5;
    /// Do not count the hypervisor.
    pub const EXCLUDE_HV: u64 = 1 << 6;
    /// Emit MMAP records for executable mappings.
    pub const MMAP: u64 = 1 << 8;
    /// Emit COMM records.
    pub const COMM: u64 = 1 << 9;
    /// `sample_period` is a frequency.
    pub const FREQ: u64 = 1 << 10;
    /// Enable on `exec`.
    pub const ENABLE_ON_EXEC: u64 = 1 << 12;
    /// Emit FORK and EXIT records.
    pub const TASK: u64 = 1 << 13;
    /// `wakeup_events` is a byte watermark.
    pub const WATERMARK: u64 = 1 << 14;
    /// Put TID/TIME/CPU/IDENTIFIER on every record.
    pub const SAMPLE_ID_ALL: u64 = 1 << 18;
    /// Emit MMAP2 records.
    pub const MMAP2: u64 = 1 << 23;
    /// Use `clockid` for timestamps.
    pub const USE_CLOCKID: u64 = 1 << 25;
    /// Emit SWITCH records.
    pub const CONTEXT_SWITCH: u64 = 1 << 26;
    /// MMAP2 records carry build ids.
    pub const BUILD_ID: u64 = 1 << 34;
}

/// `struct perf_event_attr`, `PERF_ATTR_SIZE_VER8` (136 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PerfEventAttr {
    /// Major type.
    pub kind: u32,
    /// Size of this struct.
    pub size: u32,
    /// Type-specific configuration.
    pub config: u64,
    /// Period, or frequency when `FREQ` is set.
    pub sample_period_or_freq: u64,
    /// `PERF_SAMPLE_*` bits.
    pub sample_type: u64,
    /// `PERF_FORMAT_*` bits.
    pub read_format: u64,
    /// The flag bit field (see [`flag`]).
    pub flags: u64,
    /// Wake up every N events, or N bytes with `WATERMARK`.
    pub wakeup_events_or_watermark: u32,
    /// Breakpoint type.
    pub bp_type: u32,
    /// `config1`.
    pub config1: u64,
    /// `config2`.
    pub config2: u64,
    /// Branch sampling.
    pub branch_sample_type: u64,
    /// User registers to dump.
    pub sample_regs_user: u64,
    /// Bytes of user stack to dump.
    pub sample_stack_user: u32,
    /// Clock for timestamps.
    pub clockid: i32,
    /// Interrupt registers.
    pub sample_regs_intr: u64,
    /// AUX watermark.
    pub aux_watermark: u32,
    /// Maximum call-chain depth.
    pub sample_max_stack: u16,
    /// Reserved.
    pub reserved_2: u16,
    /// AUX sample size.
    pub aux_sample_size: u32,
    /// Reserved.
    pub reserved_3: u32,
    /// Signal data.
    pub sig_data: u64,
    /// `config3`.
    pub config3: u64,
}

const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == 136);

/// Opens one perf event; the error carries the real errno.
pub fn perf_event_open(
    attr: &PerfEventAttr,
    pid: i32,
    cpu: i32,
    group_fd: RawFd,
) -> io::Result<OwnedFd> {
    // SAFETY: `attr` points to a valid, fully initialized `perf_event_attr` whose `size`
    // field matches its layout; the kernel only reads it. The flags argument is
    // PERF_FLAG_FD_CLOEXEC (8).
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr as *const PerfEventAttr,
            pid,
            cpu,
            group_fd,
            8 as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

const IOC_ENABLE: libc::c_ulong = 0x2400;
const IOC_DISABLE: libc::c_ulong = 0x2401;
const IOC_SET_OUTPUT: libc::c_ulong = 0x2405;
const IOC_ID: libc::c_ulong = 0x8008_2407;

fn ioctl_arg(fd: &OwnedFd, request: libc::c_ulong, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: `fd` is an open perf event; ENABLE/DISABLE/SET_OUTPUT take an integer argument.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Enables an event.
pub fn enable(fd: &OwnedFd) -> io::Result<()> {
    ioctl_arg(fd, IOC_ENABLE, 0)
}

/// Disables an event.
pub fn disable(fd: &OwnedFd) -> io::Result<()> {
    ioctl_arg(fd, IOC_DISABLE, 0)
}

/// Sends `fd`'s records into `target`'s ring buffer.
pub fn set_output(fd: &OwnedFd, target: &OwnedFd) -> io::Result<()> {
    ioctl_arg(fd, IOC_SET_OUTPUT, target.as_raw_fd() as libc::c_ulong)
}

/// The kernel's id of an event (what `PERF_SAMPLE_IDENTIFIER` reports).
pub fn event_id(fd: &OwnedFd) -> io::Result<u64> {
    let mut id = 0u64;
    // SAFETY: PERF_EVENT_IOC_ID writes one u64 through the pointer, which is valid.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), IOC_ID as _, &mut id as *mut u64) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(id)
    }
}

/// A memory-mapped perf ring buffer (one metadata page plus `2^n` data pages).
pub struct RingBuffer {
    base: *mut u8,
    len: usize,
    data_offset: usize,
    data_size: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping is owned by this value and only read through `&mut self`; the kernel is
// the only other writer and synchronizes through `data_head`/`data_tail`.
unsafe impl Send for RingBuffer {}

impl RingBuffer {
    /// Maps the ring buffer of `fd` with `data_pages` (a power of two) data pages; on failure
    /// the descriptor is handed back with the error so a smaller size can be tried.
    pub fn map(fd: OwnedFd, data_pages: usize) -> Result<RingBuffer, (io::Error, OwnedFd)> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let len = page * (data_pages + 1);
        // SAFETY: mapping a perf event fd shared and read-write is the documented way to
        // get its ring buffer; the length is (1 + 2^n) pages as the kernel requires.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err((io::Error::last_os_error(), fd));
        }
        let base = base as *mut u8;
        // SAFETY: the first page is `struct perf_event_mmap_page`; data_offset and data_size
        // are u64 fields at offsets 1040 and 1048, inside the mapping.
        let (data_offset, data_size) = unsafe {
            (
                std::ptr::read_volatile(base.add(1040) as *const u64) as usize,
                std::ptr::read_volatile(base.add(1048) as *const u64) as usize,
            )
        };
        let (data_offset, data_size) = if data_size == 0 {
            (page, page * data_pages)
        } else {
            (data_offset, data_size)
        };
        Ok(RingBuffer {
            base,
            len,
            data_offset,
            data_size,
            fd,
        })
    }

    /// The event file descriptor that owns this buffer.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    fn head_tail(&self) -> (&AtomicU64, &AtomicU64) {
        // SAFETY: data_head and data_tail are naturally aligned u64 fields at offsets 1024
        // and 1032 of the metadata page, valid for the lifetime of the mapping; the kernel
        // updates data_head concurrently, so they are accessed atomically.
        unsafe {
            (
                AtomicU64::from_ptr(self.base.add(1024) as *mut u64),
                AtomicU64::from_ptr(self.base.add(1032) as *mut u64),
            )
        }
    }

    /// Copies every complete record out of the buffer, calling `each` with its bytes
    /// (header included), then releases the space to the kernel.
    pub fn drain(&mut self, mut each: impl FnMut(&[u8])) {
        let (head_ref, tail_ref) = self.head_tail();
        let head = head_ref.load(Ordering::Acquire);
        let mut tail = tail_ref.load(Ordering::Relaxed);
        // SAFETY: the data area [data_offset, data_offset + data_size) lies inside the mapping.
        let data =
            unsafe { std::slice::from_raw_parts(self.base.add(self.data_offset), self.data_size) };
        let mut scratch = Vec::new();
        while tail < head {
            let start = (tail % self.data_size as u64) as usize;
            let mut hdr = [0u8; 8];
            for (i, b) in hdr.iter_mut().enumerate() {
                *b = data[(start + i) % self.data_size];
            }
            let size = u16::from_ne_bytes([hdr[6], hdr[7]]) as usize;
            if size < 8 || tail + size as u64 > head {
                break;
            }
            if start + size <= self.data_size {
                each(&data[start..start + size]);
            } else {
                scratch.clear();
                scratch.extend_from_slice(&data[start..]);
                scratch.extend_from_slice(&data[..size - (self.data_size - start)]);
                each(&scratch);
            }
            tail += size as u64;
        }
        fence(Ordering::AcqRel);
        tail_ref.store(tail, Ordering::Release);
    }
}

impl Drop for RingBuffer {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what mmap returned and nothing borrows the
        // mapping any more.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
        }
    }
}

/// Current `CLOCK_MONOTONIC` time in nanoseconds (the clock the events use).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Waits up to `timeout_ms` for any of `fds` to become readable.
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32) {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structs.
    unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
}

/// Number of online CPUs (perf events are opened on each).
pub fn online_cpus() -> Vec<i32> {
    if let Ok(text) = std::fs::read_to_string("/sys/devices/system/cpu/online")
        && let Some(cpus) = parse_cpu_list(text.trim())
    {
        return cpus;
    }
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1);
    (0..n as i32).collect()
}

/// Parses a kernel CPU list such as `0-3,6`.
pub fn parse_cpu_list(text: &str) -> Option<Vec<i32>> {
    let mut out = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (i32, i32) = (a.parse().ok()?, b.parse().ok()?);
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// Whether a process exists (signal 0).
pub fn process_exists(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Sends `signal` to `pid`, ignoring errors (the process may already be gone).
pub fn send_signal(pid: i32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) };
}

/// Effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Raises the soft open-files limit to the hard limit (attach mode opens one event per
/// thread and CPU).
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid rlimit struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0
        && limit.rlim_cur < limit.rlim_max
    {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads the valid rlimit struct; raising the soft limit up to the
        // hard limit is always allowed.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    }
}

/// An eventfd used to wake a thread blocked in [`poll_readable`].
pub struct Waker(OwnedFd);

impl Waker {
    /// Creates the eventfd.
    pub fn new() -> io::Result<Waker> {
        // SAFETY: eventfd has no memory-safety preconditions.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor owned by nothing else.
        Ok(Waker(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Makes the eventfd readable.
    pub fn wake(&self) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from a valid u64 to the eventfd.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// A pidfd for `pid` (readable when the process exits), if the kernel supports it.
pub fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` is a new descriptor owned by nothing else.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A read-only, private memory mapping of a whole file.
pub struct MappedFile {
    base: *const u8,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value; sharing `&[u8]` views across
// threads is sound.
unsafe impl Send for MappedFile {}
// SAFETY: as above, the bytes are never written through this mapping.
unsafe impl Sync for MappedFile {}

impl MappedFile {
    /// Maps `file` read-only; `None` for empty or unmappable files.
    pub fn map(file: &std::fs::File) -> Option<MappedFile> {
        let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
        if len == 0 {
            return None;
        }
        // SAFETY: a private read-only mapping of an open file descriptor; the kernel checks
        // the length and the descriptor.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        Some(MappedFile {
            base: base as *const u8,
            len,
        })
    }
}

impl std::ops::Deref for MappedFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `base..base+len` is a live read-only mapping owned by `self`. (A file
        // truncated underneath would fault, as with any mapped file; executables being run
        // are not truncated in place.)
        unsafe { std::slice::from_raw_parts(self.base, self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region mapped in `map`, no longer borrowed.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
        }
    }
}
