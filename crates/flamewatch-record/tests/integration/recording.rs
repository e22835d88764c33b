//! Real recordings of real programs with known ground truth.

use crate::programs;
use flamewatch_profile::{Profile, labels};
use flamewatch_record::{RecordConfig, Recording, record};
use std::time::Duration;

/// Sums values of type `index` over samples whose stack has a frame named `function` and
/// whose labels satisfy `keep`.
fn sum_where(
    profile: &Profile,
    index: usize,
    function: &str,
    keep: impl Fn(Option<&str>) -> bool,
) -> i64 {
    profile
        .samples()
        .iter()
        .filter(|s| keep(profile.label(s, labels::OFF_CPU_REASON)))
        .filter(|s| {
            profile
                .frames(s.stack)
                .iter()
                .any(|f| f.function == function)
        })
        .map(|s| s.values[index])
        .sum()
}

fn complete_ratio(rec: &Recording) -> f64 {
    let c = rec.summary.counters;
    c.complete as f64 / (c.complete + c.truncated).max(1) as f64
}

/// Removes the `/tmp/perf-PID.map` the JIT test program wrote.
fn remove_perf_map(rec: &Recording) {
    for sample in rec.profile.samples() {
        for frame in rec.profile.frames(sample.stack) {
            if let Some(pid) = frame
                .module
                .as_deref()
                .and_then(|m| m.strip_prefix("perf-")?.strip_suffix(".map"))
            {
                let _ = std::fs::remove_file(format!("/tmp/perf-{pid}.map"));
                return;
            }
        }
    }
}

fn launch(program: &std::path::Path, args: &[&str]) -> RecordConfig {
    RecordConfig::launch(
        program.to_string_lossy(),
        args.iter().map(|a| a.to_string()).collect(),
    )
}

#[test]
fn cpu_split_of_two_functions_is_three_to_one_and_exit_code_passes_through() {
    let bin = programs::build("split");
    let mut config = launch(&bin, &["800", "7"]);
    config.off_cpu = false;
    let rec = record(&config).expect("record");
    assert_eq!(rec.exit_code, Some(7));
    let heavy = sum_where(&rec.profile, 0, "heavy", |_| true) as f64;
    let light = sum_where(&rec.profile, 0, "light", |_| true) as f64;
    let share = heavy / (heavy + light);
    assert!(
        (0.70..=0.80).contains(&share),
        "heavy share {share:.3} is not 75 % ± 5 points (heavy {heavy}, light {light})"
    );
    assert!(rec.summary.counters.cpu_samples > 300);
    assert!(complete_ratio(&rec) >= 0.95, "{:?}", rec.summary.counters);
    assert_eq!(
        rec.profile.total(1),
        0,
        "--cpu-only records no off-CPU time"
    );
    // The profile survives a pprof round trip with its sample types and totals.
    let bytes = flamewatch_profile::pprof::encode(&rec.profile);
    let back = flamewatch_profile::pprof::decode(&bytes).expect("pprof decodes");
    assert_eq!(back.sample_types(), rec.profile.sample_types());
    assert_eq!(back.total(0), rec.profile.total(0));
    assert_eq!(back.samples().len(), rec.profile.samples().len());
}

#[test]
fn rust_binary_without_frame_pointers_unwinds_fully() {
    let bin = programs::build_rust("deep");
    let mut config = launch(&bin, &["1200"]);
    config.off_cpu = false;
    let rec = record(&config).expect("record");
    let ratio = complete_ratio(&rec);
    assert!(
        ratio >= 0.95,
        "only {:.1} % complete: {:?}",
        ratio * 100.0,
        rec.summary.counters
    );
    // The hottest stack goes through the 24 recursion levels (the 25th call to leaf is a
    // tail call) down from main.
    let hottest = rec
        .profile
        .samples()
        .iter()
        .max_by_key(|s| s.values[0])
        .expect("samples");
    let frames = rec.profile.frames(hottest.stack);
    let depth = frames
        .iter()
        .filter(|f| f.function.ends_with("descend"))
        .count();
    assert!(depth >= 24, "descend depth {depth}: {frames:?}");
    assert!(frames.iter().any(|f| f.function.ends_with("leaf")));
    assert!(frames.iter().any(|f| f.function == "main"));
    assert!(
        frames
            .iter()
            .any(|f| f.file.as_deref().is_some_and(|p| p.ends_with("deep.rs")))
    );
}

#[test]
fn sleeping_thread_shows_its_sleep_as_off_cpu_time() {
    let bin = programs::build("sleeper");
    let rec = record(&launch(&bin, &["25"])).expect("record");
    assert_eq!(rec.exit_code, Some(0));
    // 25 naps of 20 ms: 500 ms of sleep, seen from the switch-out to the switch-in.
    let sleep = sum_where(&rec.profile, 1, "worker", |r| r == Some("sleep"));
    let cpu = sum_where(&rec.profile, 0, "worker", |_| true);
    let sleep_ms = sleep as f64 / 1e6;
    assert!(
        (475.0..=800.0).contains(&sleep_ms),
        "sleep off-CPU {sleep_ms:.1} ms, expected about 500"
    );
    // Half of the worker's time is sleep. Its busy half is CPU plus, on a loaded machine,
    // time preempted, so the share is taken of all its time.
    let off_cpu = sum_where(&rec.profile, 1, "worker", |_| true);
    let share = sleep as f64 / (cpu + off_cpu) as f64;
    assert!((0.3..=0.7).contains(&share), "sleep share {share:.2}");
    // The sleep stacks carry their kernel reason and the user function that slept.
    assert!(sum_where(&rec.profile, 1, "do_nanosleep", |r| r == Some("sleep")) > 0);
    assert!(sum_where(&rec.profile, 1, "usleep", |r| r == Some("sleep")) > 0);
}

#[test]
fn contended_mutex_is_classified_as_lock_wait() {
    let bin = programs::build("contend");
    let rec = record(&launch(&bin, &["40"])).expect("record");
    let lock = sum_where(&rec.profile, 1, "worker", |r| r == Some("lock"));
    let waiting = sum_where(&rec.profile, 1, "worker", |r| {
        r.is_some_and(|r| r != "preempted")
    });
    assert!(lock > 0, "no lock wait recorded");
    let share = lock as f64 / waiting as f64;
    assert!(
        share >= 0.8,
        "lock is {share:.2} of the workers' blocked time"
    );
    // DWARF unwinding through glibc recovers the caller of the lock.
    let via_mutex = rec
        .profile
        .samples()
        .iter()
        .filter(|s| rec.profile.label(s, labels::OFF_CPU_REASON) == Some("lock"))
        .any(|s| {
            let frames = rec.profile.frames(s.stack);
            frames.iter().any(|f| f.function.contains("mutex_lock"))
                && frames.iter().any(|f| f.function == "worker")
        });
    assert!(
        via_mutex,
        "no lock stack goes through pthread_mutex_lock to worker"
    );
}

#[test]
fn attach_to_a_running_process_by_pid() {
    let bin = programs::build("sleeper");
    let mut child = std::process::Command::new(&bin)
        .arg("200")
        .spawn()
        .expect("start sleeper");
    std::thread::sleep(Duration::from_millis(200));
    let mut config = RecordConfig::attach(child.id() as i32);
    config.duration = Some(Duration::from_millis(1000));
    let result = record(&config);
    let _ = child.kill();
    let _ = child.wait();
    let rec = result.expect("record --pid");
    assert_eq!(rec.exit_code, None);
    assert!(
        rec.summary.counters.cpu_samples > 100,
        "{:?}",
        rec.summary.counters
    );
    assert!(sum_where(&rec.profile, 0, "burn_ms", |_| true) > 0);
    assert!(sum_where(&rec.profile, 1, "usleep", |r| r == Some("sleep")) > 0);
    let wall = rec
        .profile
        .run
        .as_ref()
        .and_then(|r| r.wall_ns)
        .unwrap_or(0);
    assert!((900_000_000..3_000_000_000).contains(&wall), "wall {wall}");
}

#[test]
fn errors_name_what_to_fix() {
    let err = record(&RecordConfig::launch(
        "definitely-not-a-command-xyz",
        vec![],
    ))
    .expect_err("missing command");
    assert!(
        err.to_string()
            .starts_with("command not found: definitely-not-a-command-xyz")
    );
    let err = record(&RecordConfig::attach(999_999_999)).expect_err("missing pid");
    assert!(err.to_string().contains("no such process: --pid 999999999"));
    let mut config = RecordConfig::launch("true", vec![]);
    config.frequency = 50_000_000;
    let err = record(&config).expect_err("frequency too high");
    assert!(
        err.to_string().contains("perf_event_max_sample_rate"),
        "{err}"
    );
    let mut config = RecordConfig::launch("true", vec![]);
    config.stack_size = 70_000;
    assert!(
        record(&config)
            .expect_err("stack")
            .to_string()
            .contains("--stack-size")
    );
}

#[test]
fn attach_shows_a_thread_blocked_for_the_whole_window() {
    let mut child = std::process::Command::new("sleep")
        .arg("20")
        .spawn()
        .expect("start sleep");
    std::thread::sleep(Duration::from_millis(100));
    let mut config = RecordConfig::attach(child.id() as i32);
    config.duration = Some(Duration::from_millis(500));
    let result = record(&config);
    let _ = child.kill();
    let _ = child.wait();
    let rec = result.expect("record --pid");
    // No CPU at all, yet the 500 ms blocked in nanosleep are there, with their stack.
    let sleep: i64 = rec
        .profile
        .samples()
        .iter()
        .filter(|s| rec.profile.label(s, labels::OFF_CPU_REASON) == Some("sleep"))
        .map(|s| s.values[1])
        .sum();
    assert!(
        (400_000_000..2_000_000_000).contains(&sleep),
        "sleep {sleep} ns"
    );
    assert!(sum_where(&rec.profile, 1, "do_nanosleep", |r| r == Some("sleep")) > 0);
}

#[test]
fn jit_code_is_named_from_the_perf_map() {
    let bin = programs::build("jit");
    let mut config = launch(&bin, &["300"]);
    config.off_cpu = false;
    let rec = record(&config).expect("record");
    remove_perf_map(&rec);
    let mut jit_ns = 0;
    let mut map_module = None;
    for sample in rec.profile.samples() {
        let frames = rec.profile.frames(sample.stack);
        if let Some(leaf) = frames.iter().find(|f| f.function == "jit_spin") {
            jit_ns += sample.values[0];
            map_module = leaf.module.clone();
            // Frame-less JIT code in a program without frame pointers cannot be unwound
            // further; the sample says so instead of pretending.
            assert_eq!(
                rec.profile.label(sample, labels::STACK),
                Some(labels::TRUNCATED)
            );
        }
    }
    assert!(
        map_module
            .as_deref()
            .is_some_and(|m| m.starts_with("perf-")),
        "jit_spin comes from a perf map: {map_module:?}"
    );
    let share = jit_ns as f64 / rec.profile.total(0) as f64;
    assert!(share > 0.8, "jit_spin has {share:.2} of the CPU time");
}

#[test]
fn jit_code_in_a_frame_pointer_build_unwinds_to_start() {
    // The JIT code has no unwind information; with frame pointers the walk goes on through
    // the frame chain to _start.
    let bin = programs::build_with_frame_pointers("jit");
    let mut config = launch(&bin, &["300"]);
    config.off_cpu = false;
    let rec = record(&config).expect("record");
    remove_perf_map(&rec);
    let c = rec.summary.counters;
    assert!(complete_ratio(&rec) >= 0.95, "{c:?}");
    let through_jit_to_start = rec.profile.samples().iter().any(|s| {
        let frames = rec.profile.frames(s.stack);
        frames.first().is_some_and(|f| f.function == "jit_spin")
            && frames.last().is_some_and(|f| f.function == "_start")
    });
    assert!(through_jit_to_start);
}
