//! `flamewatch report` and `flamewatch diff` run as a user would.

use flamewatch_profile::{Frame, Profile, RunStats, ValueType, pprof};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("fw-cli-profile-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn flamewatch(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flamewatch"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// `perf script | stackcollapse-perf.pl` output: 75 samples in `burn_a`, 25 in `burn_b`.
const PERF_FOLDED: &str = "\
burn;_start;__libc_start_main;main;burn_a 75
burn;_start;__libc_start_main;main;burn_b 25
";

fn frame(name: &str, file: &str, line: u32) -> Frame {
    Frame {
        function: name.into(),
        file: Some(file.into()),
        line: Some(line),
        module: Some("/opt/app".into()),
        address: 0x1000 + u64::from(line),
        inlined: false,
    }
}

/// A profile as `flamewatch record` writes it: CPU in `crunch`, lock wait in `wait_turn`.
fn recorded_profile() -> Profile {
    let ms = 1_000_000;
    let mut p = Profile::new(vec![
        ValueType::new("cpu", "nanoseconds"),
        ValueType::new("off_cpu", "nanoseconds"),
    ]);
    p.set_command("./app --fast");
    p.duration_nanos = 2_000 * ms;
    let main = frame("main", "main.c", 40);
    p.add_sample(
        &[frame("crunch", "work.c", 12), main.clone()],
        &[700 * ms, 0],
        &[("thread", "app")],
    );
    p.add_sample(
        &[frame("wait_turn", "sync.c", 8), main],
        &[0, 1_300 * ms],
        &[("thread", "app"), ("off_cpu_reason", "lock")],
    );
    p.set_run_stats(RunStats {
        wall_ns: Some(2_000_000_000),
        cpu_user_ns: Some(690_000_000),
        cpu_sys_ns: Some(10_000_000),
        peak_rss_bytes: Some(10 << 20),
        samples: 2000,
        total_frames: 4000,
        ..RunStats::default()
    });
    p
}

#[test]
fn report_of_perf_collapse_output_lists_functions_and_quality() {
    let dir = Dir::new("perf");
    std::fs::write(dir.join("perf.folded"), PERF_FOLDED).unwrap();
    let out = flamewatch(&dir.0, &["report", "perf.folded", "--map", "map.json"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(stdout.contains("Top 20 functions by self time"), "{stdout}");
    let a = stdout.lines().find(|l| l.ends_with(" burn_a")).unwrap();
    assert!(a.contains("75.0%"), "{a}");
    assert!(stdout.contains("classification: CPU-bound"), "{stdout}");
    assert!(stdout.contains("quality: 100 samples, 0 lost"), "{stdout}");
    let map: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("map.json")).unwrap()).unwrap();
    assert_eq!(map["version"], 1);
    assert_eq!(map["unit"], "samples");
    assert_eq!(map["top_bottlenecks"][0]["function"], "burn_a");
    assert_eq!(map["top_bottlenecks"][0]["share_pct"], 75.0);
}

#[test]
fn report_of_saved_pprof_classifies_lock_wait_and_writes_yaml_map() {
    let dir = Dir::new("pprof");
    pprof::write_file(&recorded_profile(), &dir.join("app.pb.gz")).unwrap();
    let out = flamewatch(
        &dir.0,
        &[
            "report",
            "app.pb.gz",
            "--map",
            "app.map.yaml",
            "--svg",
            "app.svg",
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(
        stdout.starts_with("flamewatch report · ./app --fast\n"),
        "{stdout}"
    );
    assert!(stdout.contains("classification: lock-bound"), "{stdout}");
    assert!(
        stdout.contains("wall 2000.0 ms, CPU 700.0 ms, peak RSS 10.0 MiB"),
        "{stdout}"
    );
    let first = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Top bottlenecks"))
        .nth(1)
        .unwrap();
    assert!(
        first.contains("Lock")
            && first.contains("65.0%")
            && first.contains("wait_turn at sync.c:8"),
        "{first}"
    );
    assert!(
        stdout.contains("quality: 2000 samples, 0 lost (0.00%), 0.00% truncated stacks"),
        "{stdout}"
    );
    let svg = std::fs::read_to_string(dir.join("app.svg")).unwrap();
    assert!(svg.contains("flamewatch: ./app --fast"), "svg title");
    assert!(
        svg.contains("[off-cpu:lock] (1,300 ms, 65.00%)"),
        "off-CPU frame in the svg"
    );
    let yaml = std::fs::read_to_string(dir.join("app.map.yaml")).unwrap();
    assert!(yaml.starts_with("version: 1\n"), "{yaml}");
    assert!(
        yaml.contains("bottleneck_classification: lock-bound"),
        "{yaml}"
    );
    // --json prints the same map
    let out = flamewatch(&dir.0, &["report", "--json", "app.pb.gz"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["sampled"]["off_cpu_by_reason_ms"]["lock"], 1300.0);
    assert_eq!(json["baseline"]["cpu_time_ms"], 700.0);
}

#[test]
fn report_errors_name_the_file_and_line() {
    let dir = Dir::new("errors");
    std::fs::write(dir.join("broken.folded"), "main;a 3\nmain;b three\n").unwrap();
    let out = flamewatch(&dir.0, &["report", "broken.folded"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("flamewatch: profile broken.folded"),
        "{stderr}"
    );
    assert!(stderr.contains("line 2"), "{stderr}");
    let out = flamewatch(&dir.0, &["report", "missing.pb.gz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.pb.gz"));
    std::fs::write(
        dir.join("trunc.pb.gz"),
        &pprof::encode(&recorded_profile())[..20],
    )
    .unwrap();
    let out = flamewatch(&dir.0, &["report", "trunc.pb.gz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("trunc.pb.gz is not valid pprof"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn diff_writes_a_differential_svg_and_a_sorted_delta_table() {
    let dir = Dir::new("diff");
    std::fs::write(dir.join("before.folded"), PERF_FOLDED).unwrap();
    std::fs::write(
        dir.join("after.folded"),
        "burn;_start;__libc_start_main;main;burn_a 30\nburn;_start;__libc_start_main;main;burn_b 35\nburn;_start;__libc_start_main;main;burn_c 5\n",
    )
    .unwrap();
    let out = flamewatch(
        &dir.0,
        &["diff", "before.folded", "after.folded", "-o", "d.svg"],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let rows: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.contains("function"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r.rsplit(' ').next().unwrap()).collect();
    assert_eq!(&names[..3], ["burn_a", "burn_b", "burn_c"], "{stdout}");
    assert!(
        rows[0].contains("-45") && rows[0].contains("-60.0%"),
        "{}",
        rows[0]
    );
    assert!(rows[2].contains("new"), "{}", rows[2]);
    assert!(
        stdout.contains("total: 100 → 70 samples (-30.0%)"),
        "{stdout}"
    );
    let svg = std::fs::read_to_string(dir.join("d.svg")).unwrap();
    assert!(svg.starts_with("<?xml"), "svg written");
    assert!(svg.contains("burn_c (5 samples"), "new frame drawn");
    // default output location
    let out = flamewatch(&dir.0, &["diff", "before.folded", "after.folded"]);
    assert!(out.status.success());
    let written: Vec<_> = std::fs::read_dir(dir.join("flamewatch-out"))
        .unwrap()
        .collect();
    assert_eq!(written.len(), 1);
}

#[test]
fn report_detects_nanosecond_folded_files_written_by_record() {
    let dir = Dir::new("auto-unit");
    let folded = flamewatch_profile::folded::to_string(&recorded_profile());
    assert!(folded.contains("[off-cpu:lock]"), "{folded}");
    std::fs::write(dir.join("app.folded"), folded).unwrap();
    let out = flamewatch(&dir.0, &["report", "app.folded"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(
        stdout.contains("off-CPU by reason (ms): lock 1300.0"),
        "{stdout}"
    );
    assert!(stdout.contains("classification: lock-bound"), "{stdout}");
    let step = stdout
        .lines()
        .find(|l| l.contains("1.1 wait_turn"))
        .unwrap();
    assert!(step.contains("1300.0 ms 65.0% Lock"), "{step}");
}

#[test]
fn report_reads_folded_stacks_from_standard_input() {
    use std::io::Write;
    let dir = Dir::new("stdin");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flamewatch"))
        .args(["report", "-"])
        .current_dir(&dir.0)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PERF_FOLDED.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("burn_a"), "{stdout}");
    assert!(stdout.contains("quality: 100 samples"), "{stdout}");
}
