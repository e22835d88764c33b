//! The runner against real processes: every metric, failures, timeouts and hooks.

use crate::fixtures::{BURN_M, TempDir, programs, spawn_lock};
use flamewatch_bench::command::CommandSpec;
use flamewatch_bench::runner::{BenchConfig, Quiet, RssSource, Runner};
use flamewatch_bench::{Error, Metric};
use std::time::{Duration, Instant};

const MIB: f64 = 1024.0 * 1024.0;

fn cfg(argv: &[&str]) -> BenchConfig {
    BenchConfig::new(CommandSpec::from_argv(argv.iter().map(|s| s.to_string()).collect()).unwrap())
}

#[test]
fn cpu_burner_reports_cpu_time_proportional_to_work() {
    let _g = spawn_lock();
    let p = programs();
    let mut runner = Runner::new();
    let mut small = cfg(&[&p.burn, &BURN_M.to_string()]);
    small.warmup = 0;
    let mut big = cfg(&[&p.burn, &(BURN_M * 2).to_string()]);
    big.warmup = 0;
    let a = runner.bench(&small, &mut Quiet).unwrap();
    let b = runner.bench(&big, &mut Quiet).unwrap();
    let (ca, cb) = (
        a.summary(Metric::CpuTime).unwrap(),
        b.summary(Metric::CpuTime).unwrap(),
    );
    assert!(ca.median > 0.005, "cpu {}", ca.median);
    let ratio = cb.median / ca.median;
    assert!(
        (1.6..2.5).contains(&ratio),
        "double work gave cpu ratio {ratio}"
    );
    // CPU time of a single-threaded burner cannot exceed its wall time by much.
    let wall = a.summary(Metric::WallTime).unwrap().median;
    assert!(ca.median <= wall * 1.05, "cpu {} > wall {wall}", ca.median);
    assert_eq!(a.runs.len(), 3);
    assert!(a.runs.iter().all(|r| r.exit_code == Some(0)));
}

#[test]
fn peak_rss_of_200_mib_child_reads_200_mib() {
    let _g = spawn_lock();
    let p = programs();
    let mut runner = Runner::new();
    let mut c = cfg(&[&p.alloc, "200"]);
    c.runs = 2;
    let r = runner.bench(&c, &mut Quiet).unwrap();
    let rss = r.summary(Metric::PeakRss).unwrap().median;
    assert!(
        (200.0 * MIB..215.0 * MIB).contains(&rss),
        "peak RSS {:.1} MiB",
        rss / MIB
    );
    // 200 MiB touched page by page: at least 51,200 minor faults.
    assert!(r.summary(Metric::FaultsMinor).unwrap().median >= 51_200.0);
}

/// Regression test for the `ru_maxrss` inheritance bug: a harness that once held 256 MiB must
/// not report 256 MiB for `true`.
#[test]
fn peak_rss_does_not_inherit_the_harness_high_water_mark() {
    let _g = spawn_lock();
    let mut big = vec![0u8; 256 << 20];
    for i in (0..big.len()).step_by(4096) {
        big[i] = i as u8;
    }
    std::hint::black_box(&big);
    drop(big);
    let mut runner = Runner::new();
    let mut c = cfg(&["true"]);
    c.runs = 2;
    let r = runner.bench(&c, &mut Quiet).unwrap();
    let rss = r.summary(Metric::PeakRss).unwrap().median;
    // Inheriting the harness's peak would read at least 256 MiB; the fork floor is the
    // harness's current resident memory (a few MiB, more while other tests run).
    assert!(
        rss < 64.0 * MIB,
        "`true` read {:.1} MiB: inherited the harness's peak",
        rss / MIB
    );
    match r.rss_source {
        RssSource::Wait4 => assert!(r.rss_floor.is_some()),
        RssSource::CgroupV2 => assert!(r.rss_floor.is_none()),
    }
}

#[test]
fn writer_io_bytes_match_bytes_written() {
    let _g = spawn_lock();
    let p = programs();
    let dir = TempDir::new("io");
    let out = dir.path().join("out.bin");
    let n: u64 = 8 << 20;
    let mut runner = Runner::new();
    let mut c = cfg(&[&p.writer, out.to_str().unwrap(), &n.to_string()]);
    c.runs = 2;
    let r = runner.bench(&c, &mut Quiet).unwrap();
    let w = r.summary(Metric::IoWrite).unwrap().median;
    assert!(
        (n as f64..n as f64 + 65536.0).contains(&w),
        "io_write {w} for {n} bytes"
    );
    assert_eq!(std::fs::metadata(&out).unwrap().len(), n);
}

#[test]
fn failures_stop_the_bench_unless_ignored() {
    let _g = spawn_lock();
    let mut runner = Runner::new();
    let c = cfg(&["false"]);
    match runner.bench(&c, &mut Quiet) {
        Err(Error::CommandFailed { run, status, .. }) => {
            assert_eq!(run, 1);
            assert_eq!(status, "exit code 1");
        }
        other => panic!("expected failure, got {other:?}"),
    }
    let mut c = cfg(&["false"]);
    c.ignore_failure = true;
    let r = runner.bench(&c, &mut Quiet).unwrap();
    assert_eq!(r.failures(), 3);
    assert!(r.warnings.iter().any(|w| w.contains("3 of 3 runs failed")));
    assert!(matches!(
        runner.bench(&cfg(&["/nonexistent/program"]), &mut Quiet),
        Err(Error::Spawn { .. })
    ));
}

#[test]
fn timeout_kills_the_process_group() {
    let _g = spawn_lock();
    let mut runner = Runner::new();
    let mut c =
        BenchConfig::new(CommandSpec::from_line("sleep 10 & sleep 10; wait", Some("sh")).unwrap());
    c.warmup = 0;
    c.timeout = Some(Duration::from_millis(200));
    let t = Instant::now();
    let err = runner.bench(&c, &mut Quiet).unwrap_err();
    assert!(matches!(err, Error::Timeout { run: 1, .. }), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn prepare_runs_before_every_run_and_cleanup_once() {
    let _g = spawn_lock();
    let dir = TempDir::new("hooks");
    let log = dir.path().join("log");
    let mut c = cfg(&["true"]);
    c.warmup = 2;
    c.runs = 3;
    c.prepare = Some(format!("echo p >> '{}'", log.display()));
    c.cleanup = Some(format!("echo c >> '{}'", log.display()));
    Runner::new().bench(&c, &mut Quiet).unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().filter(|l| *l == "p").count(), 5);
    assert_eq!(text.lines().filter(|l| *l == "c").count(), 1);
    assert_eq!(text.lines().last(), Some("c"));
}

#[test]
fn short_commands_warn_and_overhead_is_measured() {
    let _g = spawn_lock();
    let mut runner = Runner::new();
    let o = runner.calibrate(None, 5).expect("true on PATH");
    assert!(o.wall > 0.0 && o.wall < 0.05, "overhead {}", o.wall);
    assert!(o.rss_floor > 0.0);
    let mut r = runner.bench(&cfg(&["true"]), &mut Quiet).unwrap();
    let short = r.summary(Metric::WallTime).unwrap().median < 5e-3;
    assert_eq!(
        r.warnings.iter().any(|w| w.contains("< 5 ms")),
        short,
        "{:?}",
        r.warnings
    );
    // the rule itself, on fixed values
    for (run, wall) in r.runs.iter_mut().zip([0.001, 0.002, 0.003]) {
        run.values.insert(Metric::WallTime, wall);
    }
    flamewatch_bench::runner::refresh_warnings(&mut r);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("takes 2.00 ms (< 5 ms)")),
        "{:?}",
        r.warnings
    );
    for run in r.runs.iter_mut() {
        run.values.insert(Metric::WallTime, 0.050);
    }
    flamewatch_bench::runner::refresh_warnings(&mut r);
    assert!(
        !r.warnings.iter().any(|w| w.contains("< 5 ms")),
        "{:?}",
        r.warnings
    );
}
