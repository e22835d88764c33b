//! The profiled program: launched suspended, or attached by pid; signals and exit status.
//!
//! A launched command is forked and held right before `exec` (the child reports its pid on
//! one pipe and waits for a byte on another), so perf events can be opened on it with
//! `enable_on_exec` before it runs a single instruction of the command.

use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

fn pipe() -> io::Result<(std::fs::File, std::fs::File)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two new descriptors into the valid 2-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nothing else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((std::fs::File::from(r), std::fs::File::from(w)))
}

/// Finds `program` the way `execvp` would; `None` when it cannot be run.
pub fn resolve_command(program: &str) -> Option<PathBuf> {
    let is_exec = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_exec(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_exec(p))
}

/// A forked command waiting before `exec`.
pub struct Suspended {
    /// The child's pid.
    pub pid: i32,
    go: std::fs::File,
    spawner: JoinHandle<io::Result<Child>>,
}

/// Forks `program args`, holding it before `exec`.
pub fn spawn_suspended(program: &str, args: &[String]) -> io::Result<Suspended> {
    let (mut pid_r, pid_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let mut command = Command::new(program);
    command.args(args);
    let pid_w_fd = {
        use std::os::fd::AsRawFd;
        pid_w.as_raw_fd()
    };
    let go_r_fd = {
        use std::os::fd::AsRawFd;
        go_r.as_raw_fd()
    };
    // SAFETY: the closure runs in the forked child before exec and only calls the
    // async-signal-safe getpid, write and read on descriptors that stay open until exec
    // (they are CLOEXEC, so the command does not inherit them).
    unsafe {
        command.pre_exec(move || {
            let pid = libc::getpid() as u32;
            let bytes = pid.to_ne_bytes();
            if libc::write(pid_w_fd, bytes.as_ptr().cast(), 4) != 4 {
                return Err(io::Error::last_os_error());
            }
            let mut go = 0u8;
            let n = libc::read(go_r_fd, (&mut go as *mut u8).cast(), 1);
            if n != 1 || go != b'g' {
                return Err(io::Error::from_raw_os_error(libc::ECANCELED));
            }
            Ok(())
        });
    }
    let spawner = std::thread::spawn(move || {
        let child = command.spawn();
        // Closing our write end lets the parent see EOF if the fork never happened.
        drop(pid_w);
        drop(go_r);
        child
    });
    let mut buf = [0u8; 4];
    match pid_r.read_exact(&mut buf) {
        Ok(()) => Ok(Suspended {
            pid: u32::from_ne_bytes(buf) as i32,
            go: go_w,
            spawner,
        }),
        Err(_) => match spawner.join() {
            Ok(Err(e)) => Err(e),
            _ => Err(io::Error::other("the child did not start")),
        },
    }
}

impl Suspended {
    /// Lets the child `exec`; returns its handle or the exec error (e.g. not found).
    pub fn release(mut self) -> io::Result<Child> {
        self.go.write_all(b"g")?;
        self.spawner
            .join()
            .map_err(|_| io::Error::other("the spawning thread panicked"))?
    }

    /// Makes the child exit without running the command.
    pub fn abort(mut self) {
        let _ = self.go.write_all(b"x");
        if let Ok(Ok(mut child)) = self.spawner.join() {
            let _ = child.wait();
        }
    }
}

/// Resource usage of an exited child.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildUsage {
    /// Exit code (128 + signal number when killed by a signal).
    pub code: i32,
    /// True when killed by a signal.
    pub signaled: bool,
    /// User CPU nanoseconds.
    pub user_ns: u64,
    /// System CPU nanoseconds.
    pub sys_ns: u64,
    /// Peak resident set size in bytes.
    pub max_rss: u64,
    /// Bytes read from storage.
    pub read_bytes: u64,
    /// Bytes written to storage.
    pub write_bytes: u64,
}

/// Reaps `pid` if it has exited (non-blocking).
pub fn try_reap(pid: i32) -> Option<ChildUsage> {
    let mut status = 0;
    // SAFETY: rusage is plain data; zeroed is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 writes the status and usage into valid locations.
    let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
    if rc != pid {
        return None;
    }
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    let (code, signaled) = if libc::WIFEXITED(status) {
        (libc::WEXITSTATUS(status), false)
    } else if libc::WIFSIGNALED(status) {
        (128 + libc::WTERMSIG(status), true)
    } else {
        (1, false)
    };
    Some(ChildUsage {
        code,
        signaled,
        user_ns: tv(usage.ru_utime),
        sys_ns: tv(usage.ru_stime),
        max_rss: usage.ru_maxrss as u64 * 1024,
        read_bytes: usage.ru_inblock as u64 * 512,
        write_bytes: usage.ru_oublock as u64 * 512,
    })
}

static INTERRUPTS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

/// Counts SIGINTs while alive; restores the previous handler on drop.
pub struct InterruptGuard {
    old: libc::sigaction,
}

impl InterruptGuard {
    /// Installs the handler.
    pub fn install() -> InterruptGuard {
        INTERRUPTS.store(0, Ordering::SeqCst);
        // SAFETY: sigaction structs are plain data; zeroed is valid.
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        new.sa_sigaction = on_sigint as *const () as usize;
        new.sa_flags = libc::SA_RESTART;
        // SAFETY: the handler only touches an atomic, which is async-signal-safe; both
        // pointers are valid.
        unsafe { libc::sigaction(libc::SIGINT, &new, &mut old) };
        InterruptGuard { old }
    }

    /// How many SIGINTs arrived.
    pub fn count(&self) -> u32 {
        INTERRUPTS.load(Ordering::SeqCst)
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        // SAFETY: restores the handler saved at install time.
        unsafe { libc::sigaction(libc::SIGINT, &self.old, std::ptr::null_mut()) };
    }
}

/// Stops or continues a process (attach mode holds it still while events are opened).
pub fn stop_process(pid: i32, stop: bool) {
    super::sys::send_signal(pid, if stop { libc::SIGSTOP } else { libc::SIGCONT });
}

/// True when `pid` is stopped (job control or tracing).
pub fn is_stopped(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            Some(
                stat.rsplit_once(')')?
                    .1
                    .trim_start()
                    .starts_with(['T', 't']),
            )
        })
        .unwrap_or(false)
}

/// True when `pid` is gone or a zombie.
pub fn process_finished(pid: i32) -> bool {
    if !super::sys::process_exists(pid) {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

/// Thread ids of `pid`.
pub fn threads(pid: i32) -> Vec<i32> {
    let mut out: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
}

/// `(user+sys ns, read bytes, write bytes)` of a running process, from `/proc`.
pub fn proc_usage(pid: i32) -> (u64, u64, u64) {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let cpu = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ut: u64 = f.get(11)?.parse().ok()?;
            let st: u64 = f.get(12)?.parse().ok()?;
            Some((ut + st) * 1_000_000_000 / ticks)
        })
        .unwrap_or(0);
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let field = |name: &str| {
        io.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (cpu, field("read_bytes:"), field("write_bytes:"))
}

/// Peak RSS of a running process in bytes (`VmHWM`).
pub fn proc_peak_rss(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmHWM:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .map_or(0, |kb| kb * 1024)
}
