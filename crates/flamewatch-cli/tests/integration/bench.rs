//! `flamewatch bench` and `flamewatch history` run as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

const BURN_C: &str = r#"
#include <stdlib.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]) * 1000000L;
    volatile unsigned long acc = 1;
    for (long i = 0; i < n; i++) acc = acc * 6364136223846793005UL + 1442695040888963407UL;
    return acc == 42 ? 1 : 0;
}
"#;

/// Benchmarks in parallel would disturb each other's CPU figures.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("fw-cli-bench-{tag}-{}-{n}", std::process::id()));
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

fn burn() -> &'static str {
    static P: OnceLock<String> = OnceLock::new();
    P.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fw-cli-burn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = dir.join("burn.c");
        std::fs::write(&c, BURN_C).unwrap();
        let exe = dir.join("burn");
        let st = Command::new("cc")
            .arg("-O2")
            .arg("-o")
            .arg(&exe)
            .arg(&c)
            .status()
            .unwrap();
        assert!(st.success());
        exe.to_string_lossy().into_owned()
    })
}

/// Whether plot text can be rendered here (the same font search as the plot module).
fn has_font() -> bool {
    std::env::var_os("FLAMEWATCH_FONT").is_some()
        || [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
            "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
        ]
        .iter()
        .any(|p| Path::new(p).exists())
}

fn flamewatch(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flamewatch"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run flamewatch")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bench_prints_every_metric_and_the_overhead() {
    let _g = serial();
    let d = Dir::new("plain");
    let o = flamewatch(&d.0, &["bench", "--runs", "3", "--", burn(), "20"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    for key in [
        "wall_time",
        "cpu_time",
        "peak_rss",
        "io_read",
        "ctx_voluntary",
        "faults_minor",
    ] {
        assert!(out.contains(key), "missing {key}:\n{out}");
    }
    assert!(out.contains("Harness overhead:"), "{out}");
}

#[test]
fn save_then_compare_passes_on_same_and_fails_on_30_percent_slower() {
    let _g = serial();
    let d = Dir::new("gate");
    let base = d.join("base.json");
    let b = base.to_str().unwrap();
    let o = flamewatch(
        &d.0,
        &[
            "bench",
            "--runs",
            "6",
            "--name",
            "burn",
            "--save",
            b,
            "--",
            burn(),
            "40",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(base.exists());

    let o = flamewatch(
        &d.0,
        &[
            "bench",
            "--name",
            "burn",
            "--compare",
            b,
            "--threshold",
            "10%",
            "--fail-on-regression",
            "--max-runs",
            "20",
            "--",
            burn(),
            "40",
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("Performance Check: ✅ NO REGRESSIONS"),
        "{out}"
    );

    let o = flamewatch(
        &d.0,
        &[
            "bench",
            "--name",
            "burn",
            "--compare",
            b,
            "--fail-on-regression",
            "--max-runs",
            "20",
            "--",
            burn(),
            "52",
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("Performance Check: ❌ REGRESSION"), "{out}");
    assert!(out.contains("❌ cpu_time: +"), "{out}");

    // without --fail-on-regression the report is informational
    let o = flamewatch(
        &d.0,
        &[
            "bench",
            "--name",
            "burn",
            "--compare",
            b,
            "--max-runs",
            "12",
            "--",
            burn(),
            "52",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}

#[test]
fn ab_interleaves_and_states_the_difference() {
    let _g = serial();
    let d = Dir::new("ab");
    let a = format!("{} 40", burn());
    let b = format!("{} 24", burn());
    let o = flamewatch(
        &d.0,
        &[
            "bench", "--runs", "8", "--warmup", "0", "-n", "a", "-n", "b", &a, &b,
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("b is ") && out.contains("faster than a on cpu_time (95 % CI"),
        "{out}"
    );
}

#[test]
fn history_records_runs_and_plots_the_trend() {
    let _g = serial();
    let d = Dir::new("hist");
    // The runs that become the baseline are given 10 counted runs each: a 3-run baseline of
    // a 5 ms program on a busy machine is too noisy to rule out a 10 % change, and the gate
    // (rightly) answers "inconclusive" to it however many runs the new side adds.
    for _ in 0..3 {
        let o = flamewatch(
            &d.0,
            &[
                "bench",
                "--history",
                "--name",
                "t",
                "--runs",
                "10",
                "--",
                burn(),
                "5",
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    }
    assert!(d.join(".flamewatch/history.db").exists());
    let o = flamewatch(&d.0, &["history", "--name", "t", "--metric", "cpu"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("History: t") && out.contains("◀ baseline"),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.contains(" ok ")).count(),
        3,
        "{out}"
    );
    let o = flamewatch(&d.0, &["history", "--name", "t", "--plot", "trend.svg"]);
    if has_font() {
        assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
        let svg = std::fs::read_to_string(d.join("trend.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("t — cpu_time"));
    } else {
        // no TrueType font on this machine: a clear error naming the fix
        assert_eq!(o.status.code(), Some(2));
        assert!(text(&o).1.contains("fonts-dejavu-core"), "{:?}", text(&o));
    }

    // gate against the history baseline: same work passes, 60 % more work regresses, and the
    // regressed run is stored but never becomes the baseline
    let gate = |work: &str| {
        flamewatch(
            &d.0,
            &[
                "bench",
                "--history",
                "--compare-history",
                "--fail-on-regression",
                "--name",
                "t",
                "--runs",
                "6",
                "--",
                burn(),
                work,
            ],
        )
    };
    let o = gate("5");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("baseline: history run 3"), "{out}");
    let o = gate("8");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let o = flamewatch(&d.0, &["history", "--name", "t"]);
    let (out, _) = text(&o);
    let baseline_line = out.lines().find(|l| l.contains("◀ baseline")).unwrap();
    assert!(baseline_line.trim_start().starts_with("4 "), "{out}");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("5 ") && l.contains("regressed")),
        "{out}"
    );
}

#[test]
fn exports_are_written() {
    let _g = serial();
    let d = Dir::new("export");
    let o = flamewatch(
        &d.0,
        &[
            "bench",
            "--export-json",
            "r.json",
            "--export-markdown",
            "r.md",
            "--export-csv",
            "r.csv",
            "--",
            burn(),
            "5",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    assert_eq!(json["version"], 1);
    assert!(json["environment"]["host"].is_string());
    assert!(
        std::fs::read_to_string(d.join("r.md"))
            .unwrap()
            .contains("| cpu_time |")
    );
    assert_eq!(
        std::fs::read_to_string(d.join("r.csv"))
            .unwrap()
            .lines()
            .count(),
        4
    );
}

#[test]
fn errors_exit_2_with_one_clear_line() {
    let _g = serial();
    let d = Dir::new("errors");
    let o = flamewatch(&d.0, &["bench", "--", "/nonexistent/prog"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.starts_with("flamewatch: cannot start `/nonexistent/prog`"),
        "{err}"
    );

    let o = flamewatch(&d.0, &["bench", "--", "false"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--ignore-failure"));

    // a failing run is never saved as a baseline
    let o = flamewatch(
        &d.0,
        &[
            "bench",
            "--ignore-failure",
            "--save",
            "b.json",
            "--",
            "false",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("not saving baseline"), "{:?}", text(&o));
    assert!(!d.join("b.json").exists());

    let o = flamewatch(&d.0, &["bench", "--compare", "missing.json", "--", "true"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("missing.json"));

    let o = flamewatch(&d.0, &["bench", "ls | wc"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--shell"));
}

#[test]
fn profile_keeps_a_flamegraph_and_pprof_next_to_the_json() {
    let _g = serial();
    let d = Dir::new("profile");
    let json = d.join("results/bench.json");
    std::fs::create_dir_all(d.join("results")).unwrap();
    let o = flamewatch(
        &d.0,
        &[
            "bench",
            "--warmup",
            "0",
            "--runs",
            "3",
            "--profile",
            "--export-json",
            json.to_str().unwrap(),
            "--",
            burn(),
            "60",
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let files: Vec<String> = std::fs::read_dir(d.join("results"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for ext in [".svg", ".pb.gz", ".folded", ".json"] {
        assert!(
            files.iter().any(|f| f.ends_with(ext)),
            "no {ext} in {files:?}\n{err}"
        );
    }
    let folded = files.iter().find(|f| f.ends_with(".folded")).unwrap();
    let stacks = std::fs::read_to_string(d.join("results").join(folded)).unwrap();
    assert!(
        stacks.lines().any(|l| l.contains("main")),
        "the profiled run has the program's stacks:\n{stacks}"
    );
    assert!(err.contains("profile of"), "{err}");
}
