//! `flamewatch record` run as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn flamewatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flamewatch"))
}

fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("record-cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn files_with(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A shell loop burning CPU for a few hundred milliseconds, then exiting with `code`.
fn busy_shell(code: i32) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done; exit {code}"),
    ]
}

#[test]
fn record_writes_the_profile_and_passes_the_exit_code_through() {
    let dir = out_dir("exit-code");
    let out = flamewatch()
        .args(["record", "-o"])
        .arg(&dir)
        .args(["--format", "pprof,folded"])
        .arg("--")
        .args(busy_shell(3))
        .output()
        .expect("run flamewatch");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let folded = files_with(&dir, ".folded");
    assert_eq!(folded.len(), 1, "{}", stderr(&out));
    let name = folded[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("sh_") && name.len() == "sh_20260101_000000.folded".len());
    let text = std::fs::read_to_string(&folded[0]).unwrap();
    assert!(text.lines().count() > 3, "{text}");
    let pprof = files_with(&dir, ".pb.gz");
    assert_eq!(pprof.len(), 1);
    // Readable by Go's pprof when it is installed (Debian's golang-go).
    if let Ok(go) = Command::new("go")
        .args(["tool", "pprof", "-top", "-sample_index=cpu"])
        .arg(&pprof[0])
        .env("HOME", env!("CARGO_TARGET_TMPDIR"))
        .output()
    {
        let text = String::from_utf8_lossy(&go.stdout);
        assert!(
            go.status.success(),
            "{}",
            String::from_utf8_lossy(&go.stderr)
        );
        assert!(text.contains("Type: cpu"), "{text}");
        assert!(
            text.contains("File: dash") || text.contains("File: sh"),
            "{text}"
        );
    }
}

#[test]
fn a_crashing_target_still_gets_its_profile() {
    let dir = out_dir("crash");
    let out = flamewatch()
        .args(["record", "--cpu-only", "--format", "folded", "-o"])
        .arg(&dir)
        .args([
            "--",
            "sh",
            "-c",
            "i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done; kill -SEGV $$",
        ])
        .output()
        .expect("run flamewatch");
    assert_eq!(out.status.code(), Some(128 + 11), "{}", stderr(&out));
    assert_eq!(files_with(&dir, ".folded").len(), 1, "{}", stderr(&out));
}

#[test]
fn ctrl_c_ends_the_recording_and_still_writes_everything() {
    let dir = out_dir("ctrl-c");
    let child = flamewatch()
        .args(["record", "--format", "folded", "-o"])
        .arg(&dir)
        .args(["--", "sleep", "30"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run flamewatch");
    std::thread::sleep(Duration::from_millis(700));
    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert!(started.elapsed() < Duration::from_secs(10));
    // sleep dies of the forwarded SIGINT: 128 + 2.
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let folded = files_with(&dir, ".folded");
    assert_eq!(folded.len(), 1, "{}", stderr(&out));
    let text = std::fs::read_to_string(&folded[0]).unwrap();
    assert!(text.contains("sleep"), "off-CPU sleep recorded: {text}");
}

fn one_line_error(args: &[&str]) -> String {
    let out = flamewatch().args(args).output().expect("run flamewatch");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("flamewatch: "), "{err}");
    err
}

#[test]
fn errors_are_one_line_naming_what_to_fix() {
    let dir = out_dir("errors");
    let dir = dir.to_string_lossy();
    let err = one_line_error(&["record", "-o", &dir, "--", "no-such-command-qq"]);
    assert!(
        err.contains("command not found: no-such-command-qq"),
        "{err}"
    );
    let err = one_line_error(&["record", "-o", &dir, "--pid", "999999999"]);
    assert!(err.contains("no such process: --pid 999999999"), "{err}");
    let err = one_line_error(&["record", "-o", &dir, "-F", "10000000", "--", "true"]);
    assert!(
        err.contains("perf_event_max_sample_rate") && err.contains("use -F"),
        "{err}"
    );
    let err = one_line_error(&["record", "-o", &dir, "--format", "png", "--", "true"]);
    assert!(err.contains("--format") && err.contains("png"), "{err}");
    let err = one_line_error(&["record", "-o", &dir]);
    assert!(err.contains("nothing to record"), "{err}");
}

#[test]
fn an_unprivileged_user_falls_back_to_user_stacks_with_a_warning() {
    // Only meaningful when the tests run as root and can drop to `nobody`.
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    if !is_root || paranoid != Some(2) || Command::new("setpriv").arg("--version").output().is_err()
    {
        return;
    }
    let dir = out_dir("unprivileged");
    std::fs::create_dir_all(&dir).unwrap();
    let _ = Command::new("chmod").arg("777").arg(&dir).status();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_flamewatch"))
        .args(["record", "--format", "folded", "-o"])
        .arg(&dir)
        .arg("--")
        .args(busy_shell(0))
        .output()
        .expect("run flamewatch as nobody");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("kernel stacks are not allowed here"), "{err}");
    assert!(err.contains("perf_event_paranoid=1"), "{err}");
    assert_eq!(files_with(&dir, ".folded").len(), 1, "{err}");
}

#[test]
fn duration_ends_a_launched_command_like_ctrl_c() {
    let dir = out_dir("duration");
    let started = Instant::now();
    let out = flamewatch()
        .args(["record", "--duration", "300ms", "--format", "folded", "-o"])
        .arg(&dir)
        .args(["--", "sleep", "20"])
        .output()
        .expect("run flamewatch");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(files_with(&dir, ".folded").len(), 1, "{}", stderr(&out));
}
