//! Linux process measurement: the only module that issues process and cgroup syscalls.
//!
//! One run is: fork (never `posix_spawn`/`vfork`, see below) and exec the command in its own
//! process group, wait for it to exit without reaping it (`waitid(WEXITED | WNOWAIT)`, via a
//! pidfd so `--timeout` can be enforced with `poll`), read `/proc/PID/io` from the zombie, then
//! reap it with `wait4` to get its resource usage (CPU, faults, context switches, max RSS of the
//! process and every descendant it waited for).
//!
//! Peak RSS and the inherited high-water mark: Linux folds the RSS high-water mark of the image
//! that calls `execve` into the new program's `ru_maxrss`. With `posix_spawn`/`vfork` that image
//! *is* the harness (its whole peak is inherited, so `/bin/true` reads as large as the harness
//! ever was). With `fork` it is a copy-on-write copy whose high-water mark is the harness's
//! *current* resident anonymous memory, which the runner measures and reports as the
//! `rss_floor`. When a cgroup v2 hierarchy with the memory controller is available and
//! writable, each run gets its own cgroup and peak RSS is read from `memory.peak`, which counts
//! only pages charged after the move and so inherits nothing (it does count page cache the run
//! creates, e.g. by writing files). On a hybrid cgroup v1/v2 host, where the memory controller
//! belongs to v1, the `wait4` path is used; the cgroup can also be disabled with
//! `FLAMEWATCH_BENCH_NO_CGROUP=1`.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Counters from `/proc/PID/io` (descendants that were reaped are included).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcIo {
    /// Bytes through read-like syscalls.
    pub rchar: u64,
    /// Bytes through write-like syscalls.
    pub wchar: u64,
    /// Bytes fetched from storage.
    pub read_bytes: u64,
    /// Bytes sent to storage (net of cancelled writes).
    pub write_bytes: u64,
}

/// How the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

/// Raw measurements of one finished child.
#[derive(Debug, Clone)]
pub struct RawRun {
    /// Time from just before fork to exit notification.
    pub wall: Duration,
    /// Exit status.
    pub exit: ExitKind,
    /// `wait4` resource usage.
    pub rusage: libc::rusage,
    /// I/O counters, when `/proc/PID/io` was readable.
    pub io: Option<ProcIo>,
    /// `memory.peak` of the run's cgroup, when one was used.
    pub cgroup_peak: Option<u64>,
    /// Whether the run was killed by the timeout.
    pub timed_out: bool,
}

/// Where stdout/stderr of the command go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Discarded (`/dev/null`).
    Null,
    /// Inherited from the harness.
    Inherit,
}

/// A per-run cgroup v2 provider (a parent directory in which run cgroups are created).
#[derive(Debug)]
pub struct CgroupV2 {
    parent: PathBuf,
    seq: u64,
}

impl CgroupV2 {
    /// Finds a cgroup v2 hierarchy with the memory controller where a parent cgroup can be
    /// created and runs moved into children. Returns `None` (use the `wait4` fallback) when
    /// there is none, e.g. on a hybrid v1 host where `memory` belongs to v1.
    pub fn detect() -> Option<CgroupV2> {
        if std::env::var_os("FLAMEWATCH_BENCH_NO_CGROUP").is_some() {
            return None;
        }
        let mount = cgroup2_mount()?;
        let has_memory = |p: &Path| {
            fs::read_to_string(p.join("cgroup.subtree_control"))
                .map(|s| s.split_whitespace().any(|c| c == "memory"))
                .unwrap_or(false)
        };
        if !has_memory(&mount) {
            return None;
        }
        let parent = mount.join("flamewatch-bench");
        match fs::create_dir(&parent) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(_) => return None,
        }
        // The parent holds no processes, so it may delegate the memory controller.
        let _ = fs::write(parent.join("cgroup.subtree_control"), "+memory");
        if !has_memory(&parent) {
            return None;
        }
        let probe = CgroupV2 { parent, seq: 0 };
        Some(probe)
    }

    /// Creates the cgroup for one run.
    fn create_run(&mut self) -> io::Result<RunCgroup> {
        self.seq += 1;
        let dir = self
            .parent
            .join(format!("run-{}-{}", std::process::id(), self.seq));
        fs::create_dir(&dir)?;
        if !dir.join("memory.peak").exists() {
            let _ = fs::remove_dir(&dir);
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "memory.peak missing",
            ));
        }
        let procs = OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))?;
        Ok(RunCgroup {
            dir,
            procs: OwnedFd::from(procs),
        })
    }
}

struct RunCgroup {
    dir: PathBuf,
    procs: OwnedFd,
}

impl RunCgroup {
    fn peak(&self) -> Option<u64> {
        fs::read_to_string(self.dir.join("memory.peak"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn remove(self) {
        let _ = fs::write(self.dir.join("cgroup.kill"), "1");
        for _ in 0..50 {
            if fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The mount point of the cgroup v2 hierarchy, from `/proc/self/mountinfo`.
fn cgroup2_mount() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        left.split_whitespace().nth(4).map(PathBuf::from)
    })
}

/// Resident anonymous memory of the harness itself (`RssAnon`), in bytes: the floor a forked
/// child inherits into `ru_maxrss`.
pub fn harness_rss_anon() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix("RssAnon:")?;
        rest.split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    })
}

/// Runs `argv` once and measures it.
pub fn run_once(
    argv: &[String],
    output: Output,
    timeout: Option<Duration>,
    cgroup: Option<&mut CgroupV2>,
) -> io::Result<RawRun> {
    let run_cg = match cgroup {
        Some(cg) => cg.create_run().ok(),
        None => None,
    };
    let mut cmd = Command::new(OsStr::new(&argv[0]));
    cmd.args(&argv[1..]).stdin(Stdio::null());
    match output {
        Output::Null => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        Output::Inherit => {}
    }
    let cg_fd: RawFd = run_cg.as_ref().map_or(-1, |c| c.procs.as_raw_fd());
    // SAFETY: the closure runs in the forked child before exec and only calls the
    // async-signal-safe `setpgid`, `prctl` and `write` (on a descriptor opened by the parent).
    // Having a pre_exec hook also makes std use fork+exec instead of posix_spawn, which keeps
    // the harness's historical RSS peak out of the child's ru_maxrss (see the module docs).
    unsafe {
        cmd.pre_exec(move || {
            // Own process group, so --timeout can kill the whole tree...
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // ...which also keeps the terminal's Ctrl-C away from it: die with the harness.
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            if cg_fd >= 0 {
                let b = b"0";
                if libc::write(cg_fd, b.as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let start = Instant::now();
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            if let Some(cg) = run_cg {
                cg.remove();
            }
            return Err(e);
        }
    };
    let pid = child.id() as libc::pid_t;
    // The `Child` is never waited through std: we reap it ourselves below.
    drop(child);

    let timed_out = wait_exit_no_reap(pid, timeout)?;
    let wall = start.elapsed();
    let io = read_proc_io(pid);
    let (status, rusage) = reap(pid)?;
    let cgroup_peak = run_cg.as_ref().and_then(RunCgroup::peak);
    if let Some(cg) = run_cg {
        cg.remove();
    }
    let exit = if libc::WIFSIGNALED(status) {
        ExitKind::Signal(libc::WTERMSIG(status))
    } else {
        ExitKind::Code(libc::WEXITSTATUS(status))
    };
    Ok(RawRun {
        wall,
        exit,
        rusage,
        io,
        cgroup_peak,
        timed_out,
    })
}

/// Waits until `pid` has exited, leaving it a zombie. Kills its process group when `timeout`
/// passes first; returns whether that happened.
fn wait_exit_no_reap(pid: libc::pid_t, timeout: Option<Duration>) -> io::Result<bool> {
    let mut timed_out = false;
    if let Some(limit) = timeout {
        match pidfd_open(pid) {
            Ok(fd) => {
                let mut pfd = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                let deadline = Instant::now() + limit;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let ms = left.as_millis().min(i32::MAX as u128) as i32;
                    // SAFETY: `pfd` is a valid pollfd for the duration of the call.
                    let r = unsafe { libc::poll(&mut pfd, 1, ms) };
                    if r > 0 {
                        break;
                    }
                    if r < 0 {
                        let e = io::Error::last_os_error();
                        if e.kind() == io::ErrorKind::Interrupted {
                            continue;
                        }
                        return Err(e);
                    }
                    if Instant::now() >= deadline {
                        kill_group(pid);
                        timed_out = true;
                        break;
                    }
                }
            }
            Err(_) => {
                // No pidfd (kernel < 5.3): poll with WNOHANG.
                let deadline = Instant::now() + limit;
                loop {
                    if waitid_nowait(pid, libc::WNOHANG)? {
                        break;
                    }
                    if Instant::now() >= deadline {
                        kill_group(pid);
                        timed_out = true;
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(500));
                }
            }
        }
    }
    while !waitid_nowait(pid, 0)? {}
    Ok(timed_out)
}

/// `waitid(P_PID, pid, WEXITED | WNOWAIT | extra)`; true when the child has exited.
fn waitid_nowait(pid: libc::pid_t, extra: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: siginfo_t is plain data; zeroed is a valid initial value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid out-pointer; pid is our own child.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT | extra,
            )
        };
        if r == 0 {
            // SAFETY: reading the pid field of a siginfo filled by waitid.
            return Ok(unsafe { info.si_pid() } != 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn reap(pid: libc::pid_t) -> io::Result<(libc::c_int, libc::rusage)> {
    loop {
        let mut status = 0;
        // SAFETY: rusage is plain data; zeroed is valid.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid out-pointers; pid is our exited child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            return Ok((status, ru));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn kill_group(pid: libc::pid_t) {
    // SAFETY: sending a signal to the process group we created for the child.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
}

fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Reads `/proc/PID/io`, which stays readable while the child is a zombie.
fn read_proc_io(pid: libc::pid_t) -> Option<ProcIo> {
    let mut s = String::new();
    File::open(format!("/proc/{pid}/io"))
        .ok()?
        .read_to_string(&mut s)
        .ok()?;
    Some(parse_proc_io(&s))
}

/// Parses the text of `/proc/PID/io`.
pub fn parse_proc_io(text: &str) -> ProcIo {
    let mut io = ProcIo::default();
    let mut cancelled = 0u64;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v: u64 = v.trim().parse().unwrap_or(0);
        match k {
            "rchar" => io.rchar = v,
            "wchar" => io.wchar = v,
            "read_bytes" => io.read_bytes = v,
            "write_bytes" => io.write_bytes = v,
            "cancelled_write_bytes" => cancelled = v,
            _ => {}
        }
    }
    io.write_bytes = io.write_bytes.saturating_sub(cancelled);
    io
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_io() {
        let io = parse_proc_io(
            "rchar: 100\nwchar: 2000\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 4096\n",
        );
        assert_eq!(
            io,
            ProcIo {
                rchar: 100,
                wchar: 2000,
                read_bytes: 4096,
                write_bytes: 4096
            }
        );
    }
}
