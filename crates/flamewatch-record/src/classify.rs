//! Why a thread was off-CPU, read from the stack it was switched out with.
//!
//! Kernel frames give the reason directly (`do_nanosleep` is a sleep, `futex_wait` a lock or
//! condition variable, `io_schedule` disk I/O, `do_epoll_wait` an event loop waiting on the
//! network); when the kernel chain is missing the user leaf (the libc wrapper) decides. A
//! switch-out while still runnable is preemption whatever the stack says, and a thread
//! waiting in `pthread_join` is idle rather than contending for a lock.

pub use flamewatch_profile::OffCpuReason;

fn kernel_reason(name: &str) -> Option<OffCpuReason> {
    const RULES: &[(&str, OffCpuReason)] = &[
        ("futex", OffCpuReason::Lock),
        ("nanosleep", OffCpuReason::Sleep),
        ("do_sleep", OffCpuReason::Sleep),
        ("msleep", OffCpuReason::Sleep),
        ("epoll", OffCpuReason::NetworkIo),
        ("do_sys_poll", OffCpuReason::NetworkIo),
        ("do_select", OffCpuReason::NetworkIo),
        ("core_sys_select", OffCpuReason::NetworkIo),
        ("sock_", OffCpuReason::NetworkIo),
        ("tcp_", OffCpuReason::NetworkIo),
        ("udp_", OffCpuReason::NetworkIo),
        ("unix_stream", OffCpuReason::NetworkIo),
        ("inet_", OffCpuReason::NetworkIo),
        ("sk_wait", OffCpuReason::NetworkIo),
        ("io_schedule", OffCpuReason::FileIo),
        ("folio_wait", OffCpuReason::FileIo),
        ("wait_on_page", OffCpuReason::FileIo),
        ("blk_", OffCpuReason::FileIo),
        ("bio_", OffCpuReason::FileIo),
        ("filemap_", OffCpuReason::FileIo),
        ("ext4_", OffCpuReason::FileIo),
        ("xfs_", OffCpuReason::FileIo),
        ("btrfs_", OffCpuReason::FileIo),
        ("jbd2", OffCpuReason::FileIo),
        ("pipe_read", OffCpuReason::FileIo),
        ("pipe_write", OffCpuReason::FileIo),
        ("vfs_fsync", OffCpuReason::FileIo),
        ("irqentry_exit", OffCpuReason::Preempted),
        ("preempt_schedule", OffCpuReason::Preempted),
        ("exit_to_user_mode", OffCpuReason::Preempted),
    ];
    RULES
        .iter()
        .find(|(needle, _)| name.contains(needle))
        .map(|(_, r)| *r)
}

fn user_reason(name: &str) -> Option<OffCpuReason> {
    const RULES: &[(&str, OffCpuReason)] = &[
        ("lll_lock", OffCpuReason::Lock),
        ("mutex_lock", OffCpuReason::Lock),
        ("futex", OffCpuReason::Lock),
        ("cond_wait", OffCpuReason::Lock),
        ("nanosleep", OffCpuReason::Sleep),
        ("usleep", OffCpuReason::Sleep),
        ("sleep", OffCpuReason::Sleep),
        ("epoll_wait", OffCpuReason::NetworkIo),
        ("poll", OffCpuReason::NetworkIo),
        ("select", OffCpuReason::NetworkIo),
        ("recv", OffCpuReason::NetworkIo),
        ("accept", OffCpuReason::NetworkIo),
        ("connect", OffCpuReason::NetworkIo),
        ("fsync", OffCpuReason::FileIo),
        ("read", OffCpuReason::FileIo),
        ("write", OffCpuReason::FileIo),
    ];
    RULES
        .iter()
        .find(|(needle, _)| name.contains(needle))
        .map(|(_, r)| *r)
}

/// User functions that mean "waiting for other threads to finish": the futex underneath is
/// not lock contention, the thread is idle.
const IDLE_WAITS: &[&str] = &["pthread_join", "pthread_clockjoin", "pthread_timedjoin"];

/// Classifies an off-CPU interval from symbolized frame names (leaf first): `kernel` are the
/// kernel frames, `user` the user frames.
pub fn classify(preempted: bool, kernel: &[&str], user: &[&str]) -> OffCpuReason {
    if preempted {
        return OffCpuReason::Preempted;
    }
    if user
        .iter()
        .take(8)
        .any(|f| IDLE_WAITS.iter().any(|w| f.contains(w)))
    {
        return OffCpuReason::Idle;
    }
    let user_leaf = user.first().copied();
    // The scheduler's own frames say nothing; the first frame outside it does.
    for name in kernel {
        if let Some(reason) = kernel_reason(name) {
            return reason;
        }
    }
    user_leaf
        .and_then(user_reason)
        .unwrap_or(OffCpuReason::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_frames_decide_the_reason() {
        let futex = [
            "__schedule",
            "schedule",
            "futex_wait_queue",
            "futex_wait",
            "do_futex",
        ];
        assert_eq!(
            classify(false, &futex, &["__lll_lock_wait"]),
            OffCpuReason::Lock
        );
        let join = [
            "__futex_abstimed_wait_common",
            "__pthread_clockjoin_ex",
            "main",
        ];
        assert_eq!(classify(false, &futex, &join), OffCpuReason::Idle);
        let sleep = [
            "__schedule",
            "schedule",
            "do_nanosleep",
            "hrtimer_nanosleep",
        ];
        assert_eq!(classify(false, &sleep, &[]), OffCpuReason::Sleep);
        let epoll = ["__schedule", "schedule_hrtimeout_range", "do_epoll_wait"];
        assert_eq!(classify(false, &epoll, &[]), OffCpuReason::NetworkIo);
        let io = [
            "__schedule",
            "io_schedule",
            "folio_wait_bit_common",
            "filemap_fault",
        ];
        assert_eq!(classify(false, &io, &[]), OffCpuReason::FileIo);
    }

    #[test]
    fn preemption_wins_and_user_leaf_is_the_fallback() {
        assert_eq!(
            classify(true, &["do_nanosleep"], &[]),
            OffCpuReason::Preempted
        );
        assert_eq!(
            classify(false, &[], &["clock_nanosleep"]),
            OffCpuReason::Sleep
        );
        assert_eq!(classify(false, &[], &["main"]), OffCpuReason::Other);
    }
}
