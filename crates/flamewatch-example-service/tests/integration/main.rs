//! End-to-end tests of the example service: the real `flamewatch-example-service` and
//! `flamewatch-load` binaries on loopback, each test with its own service process (the
//! profiler is process-wide), read back through the management API and the real `flamewatch`
//! CLI.
//!
//! Tests about what deep tracing measures pass `--overhead-max-pct 0`: the profiler's circuit
//! breaker judges its cost against the process's CPU time, and a service that mostly sleeps
//! uses so little CPU that the collector's periodic work alone can exceed the 2 % default and
//! stop deep tracing mid-test (seen with sequential `/slow` traffic).
//!
//! The CLI binary belongs to another package, so cargo does not build it for these tests:
//! [`flamewatch_cli`] uses `target/debug/flamewatch` when present (next to this package's
//! binaries, or `CARGO_MANIFEST_DIR/../../target/debug/flamewatch`) and otherwise runs
//! `cargo build -p flamewatch-cli` into the separate target directory
//! `target/example-service-cli`, so the nested build never waits on the running `cargo
//! test`'s lock. Run `cargo build -p flamewatch-cli` first after changing the CLI.

mod api;
mod config;
mod functions;
mod load;
mod regression;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `flamewatch-example-service`, killed when dropped.
pub struct Service {
    child: Child,
    /// Base URL of the application.
    pub app: String,
    /// Base URL of the management API, prefix included.
    pub api: String,
}

impl Service {
    /// Starts the service on loopback ports chosen by the kernel, with `args` added.
    pub fn start(args: &[&str]) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flamewatch-example-service"))
            .args(["--bind", "127.0.0.1:0", "--api-bind", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("service starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (mut app, mut api) = (String::new(), String::new());
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("service stdout");
            if let Some(u) = line.strip_prefix("api ") {
                api = u.to_string();
            } else if let Some(u) = line.strip_prefix("app ") {
                app = u.to_string();
                break;
            }
        }
        assert!(
            app.starts_with("http://127.0.0.1:"),
            "service printed no app URL"
        );
        Service { child, app, api }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status and body.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body text.
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One keep-alive agent per test thread, so timed requests do not pay for a connection.
fn agent() -> ureq::Agent {
    thread_local! {
        static AGENT: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
    }
    AGENT.with(Clone::clone)
}

/// Sends `method url` with optional headers; only loopback URLs are allowed.
pub fn call(method: &str, url: &str, headers: &[(&str, &str)]) -> Answer {
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "{url} is not loopback"
    );
    let agent = agent();
    let mut resp = match method {
        "GET" => {
            let mut r = agent.get(url);
            for (n, v) in headers {
                r = r.header(*n, *v);
            }
            r.call()
        }
        "DELETE" => {
            let mut r = agent.delete(url);
            for (n, v) in headers {
                r = r.header(*n, *v);
            }
            r.call()
        }
        _ => {
            let mut r = agent.post(url);
            for (n, v) in headers {
                r = r.header(*n, *v);
            }
            r.send_empty()
        }
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().expect("body");
    Answer { status, body }
}

/// `GET url`, timed by the client; panics unless 200.
pub fn timed_get(url: &str, headers: &[(&str, &str)]) -> Duration {
    let t0 = Instant::now();
    let a = call("GET", url, headers);
    let took = t0.elapsed();
    assert_eq!(a.status, 200, "GET {url}: {}", a.body);
    took
}

/// Runs `flamewatch-load` with `args` and returns its JSON report.
pub fn load(url: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_flamewatch-load"))
        .arg(url)
        .args(args)
        .arg("--json")
        .output()
        .expect("flamewatch-load runs");
    assert!(
        out.status.success(),
        "flamewatch-load failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("flamewatch-load prints JSON")
}

/// The `flamewatch` CLI binary, built if missing (see the module docs).
pub fn flamewatch_cli() -> PathBuf {
    let beside = PathBuf::from(env!("CARGO_BIN_EXE_flamewatch-example-service"))
        .with_file_name("flamewatch");
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let in_target = manifest.join("target/debug/flamewatch");
    for p in [&beside, &in_target] {
        if p.is_file() {
            return p.clone();
        }
    }
    let target_dir = manifest.join("target/example-service-cli");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args(["build", "-p", "flamewatch-cli", "--target-dir"])
        .arg(&target_dir)
        .current_dir(&manifest)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p flamewatch-cli failed");
    target_dir.join("debug/flamewatch")
}

/// The relative difference `|a − b| / b`.
pub fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b
}
