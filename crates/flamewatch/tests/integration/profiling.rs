//! End-to-end profiling through real work: real sleeps, real CPU loops, real threads and a
//! real multi-threaded tokio runtime.
//!
//! The profiler is process-wide, so tests that change its settings hold [`exclusive`] and
//! use names no other test uses.

use flamewatch::snapshot::{FunctionStats, Snapshot};
use flamewatch::{BreakerSettings, BreakerState, Level, Mode, Profiler, Settings, profiled};
use std::hint::black_box;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static EXCLUSIVE: Mutex<()> = Mutex::new(());

/// Takes the profiler for one test. The circuit breaker is off: debug-build loops of trivial
/// calls would trip it and change what the test measures (it has its own test).
fn exclusive(settings: Settings) -> (MutexGuard<'static, ()>, Profiler) {
    let guard = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    (
        guard,
        flamewatch::init(settings.breaker(BreakerSettings::off())),
    )
}

fn function<'a>(snap: &'a Snapshot, name: &str) -> Option<&'a FunctionStats> {
    snap.functions.iter().find(|f| f.name == name)
}

fn spin(d: Duration) {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < d {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

#[profiled("e2e.sync.fast")]
fn fast_function() {
    std::thread::sleep(Duration::from_millis(5));
}

#[profiled("e2e.sync.cpu")]
fn cpu_function() -> u64 {
    spin(Duration::from_millis(3));
    7
}

#[profiled]
fn default_named() -> u32 {
    1
}

#[test]
fn sync_functions_on_several_threads_are_measured() {
    let (_g, profiler) = exclusive(Settings::default().mode(Mode::Full));
    // The test times each call itself too: on a loaded machine a 5 ms sleep can take longer,
    // and the profiler must report what really happened.
    let observed_ns = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let observed_ns = observed_ns.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let t = Instant::now();
                    fast_function();
                    observed_ns.fetch_add(
                        t.elapsed().as_nanos() as u64,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    assert_eq!(cpu_function(), 7);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    default_named();
    let snap = profiler.snapshot();
    let fast = function(&snap, "e2e.sync.fast").expect("fast function recorded");
    assert_eq!((fast.stats.calls, fast.stats.sampled), (40, 40));
    let observed_mean = observed_ns.load(std::sync::atomic::Ordering::Relaxed) as f64 / 40.0;
    let error = (fast.stats.mean_ns - observed_mean).abs();
    assert!(
        error < observed_mean * 0.02 + 50_000.0,
        "profiler mean {:.3} ms vs observed {:.3} ms",
        fast.stats.mean_ns / 1e6,
        observed_mean / 1e6
    );
    assert!(
        fast.stats.min_ns >= 5_000_000,
        "a 5 ms sleep is never shorter"
    );
    assert!(
        fast.stats.p50_ns >= fast.stats.min_ns
            && fast.stats.p99_ns <= fast.stats.max_ns + fast.stats.max_ns / 100
    );
    let cpu = function(&snap, "e2e.sync.cpu").unwrap();
    assert_eq!(cpu.stats.calls, 40);
    assert!(cpu.stats.min_ns >= 3_000_000, "{:?}", cpu.stats);
    assert!(
        function(&snap, "integration.profiling.default_named").is_some(),
        "path-derived name"
    );
    assert!(snap.summary_text().starts_with("Profiling Summary:\n"));
}

#[profiled("e2e.sampled.call")]
fn sampled_call(x: u64) -> u64 {
    black_box(x) + 1
}

#[test]
fn one_percent_sampling_counts_every_call_and_measures_about_one_percent() {
    let (_g, profiler) = exclusive(Settings::default().sample_rate(0.01));
    let n = 200_000u64;
    for i in 0..n {
        black_box(sampled_call(i));
    }
    let snap = profiler.snapshot();
    let f = function(&snap, "e2e.sampled.call").unwrap();
    assert_eq!(f.stats.calls, n, "every call is counted");
    // 99.9 % binomial interval around 2,000 expected samples: ± 3.29 σ, σ = √(n p (1 − p)) ≈ 44.5
    let sampled = f.stats.sampled as f64;
    assert!(
        (2000.0 - 147.0..=2000.0 + 147.0).contains(&sampled),
        "sampled {sampled}"
    );
}

#[profiled("e2e.disabled.call")]
fn disabled_call() -> u8 {
    3
}

#[test]
fn disabled_profiler_records_nothing() {
    let (_g, profiler) = exclusive(Settings::default().enabled(false).mode(Mode::Full));
    for _ in 0..1000 {
        black_box(disabled_call());
        let _s = flamewatch::span("e2e.disabled.span");
        flamewatch::start("e2e.disabled.manual");
        assert!(!flamewatch::stop("e2e.disabled.manual"));
    }
    let snap = profiler.snapshot();
    for name in [
        "e2e.disabled.call",
        "e2e.disabled.span",
        "e2e.disabled.manual",
    ] {
        assert!(
            function(&snap, name).is_none_or(|f| f.stats.calls == 0),
            "{name} recorded while disabled"
        );
    }
    profiler.set_enabled(true);
    black_box(disabled_call());
    assert_eq!(
        function(&profiler.snapshot(), "e2e.disabled.call")
            .unwrap()
            .stats
            .calls,
        1
    );
}

#[test]
fn spans_manual_measurements_and_targets() {
    let (_g, profiler) = exclusive(
        Settings::default()
            .mode(Mode::Full)
            .targets(["e2e.targets.kept"]),
    );
    for _ in 0..3 {
        let _a = flamewatch::span("e2e.targets.kept.span");
        let _b = flamewatch::span!("e2e.targets.kept_not");
        let _c = flamewatch::span("e2e.targets.kept");
    }
    flamewatch::start("e2e.targets.kept.manual");
    std::thread::sleep(Duration::from_millis(2));
    assert!(flamewatch::stop("e2e.targets.kept.manual"));
    assert!(
        !flamewatch::stop("e2e.targets.kept.manual"),
        "already stopped"
    );
    let snap = profiler.snapshot();
    assert_eq!(
        function(&snap, "e2e.targets.kept.span")
            .unwrap()
            .stats
            .calls,
        3
    );
    assert_eq!(function(&snap, "e2e.targets.kept").unwrap().stats.calls, 3);
    assert!(
        function(&snap, "e2e.targets.kept_not").is_none_or(|f| f.stats.calls == 0),
        "not a whole-segment match"
    );
    let manual = function(&snap, "e2e.targets.kept.manual").unwrap();
    assert!(manual.stats.min_ns >= 2_000_000);
}

#[profiled("e2e.async.io")]
async fn async_io() -> Result<u32, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    spin(Duration::from_millis(2));
    tokio::task::yield_now().await;
    let parsed: u32 = "41".parse().map_err(std::io::Error::other)?;
    Ok(parsed + 1)
}

#[profiled("e2e.async.cancelled")]
async fn never_finishes() {
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[async_trait::async_trait]
trait Store {
    async fn load(&self, key: u32) -> u32;
}

struct Slow;

#[async_trait::async_trait]
impl Store for Slow {
    #[profiled("e2e.async.trait_load")]
    async fn load(&self, key: u32) -> u32 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        key * 2
    }
}

#[test]
fn async_functions_on_a_multi_thread_runtime() {
    let (_g, profiler) = exclusive(Settings::default().mode(Mode::Full));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..8).map(|_| tokio::spawn(async_io())).collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 42);
        }
        for _ in 0..3 {
            let r = tokio::time::timeout(Duration::from_millis(5), never_finishes()).await;
            assert!(r.is_err());
        }
        let store: Box<dyn Store + Send + Sync> = Box::new(Slow);
        assert_eq!(store.load(21).await, 42);
    });
    let snap = profiler.snapshot();
    let io = function(&snap, "e2e.async.io").unwrap();
    assert_eq!(io.stats.sampled, 8);
    let wall_ms = io.stats.mean_ns / 1e6;
    let busy_ms = io.stats.busy_mean_ns.unwrap() / 1e6;
    assert!(wall_ms >= 22.0, "wall covers the sleep: {wall_ms:.2} ms");
    assert!(
        busy_ms >= 2.0 && busy_ms < wall_ms / 2.0,
        "busy {busy_ms:.2} ms vs wall {wall_ms:.2} ms"
    );
    let cancelled = function(&snap, "e2e.async.cancelled").unwrap();
    assert_eq!(
        (
            cancelled.cancelled,
            cancelled.stats.sampled,
            cancelled.stats.calls
        ),
        (3, 0, 3)
    );
    let load = function(&snap, "e2e.async.trait_load").unwrap();
    assert_eq!(load.stats.sampled, 1);
    assert!(
        load.stats.mean_ns >= 10e6,
        "the boxed future is measured, not its construction"
    );
}

#[profiled("e2e.anomaly.work")]
fn maybe_slow(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn outlier_is_reported_as_anomaly_and_panicking_hook_is_contained() {
    let (_g, profiler) = exclusive(Settings::default().mode(Mode::Full));
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    profiler.on_anomaly(move |a| {
        if a.name == "e2e.anomaly.work" {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            panic!("a user hook that panics must not take the host down");
        }
    });
    for i in 0..40 {
        maybe_slow(2 + i % 2);
    }
    let before = profiler.snapshot().health.contained_panics;
    maybe_slow(40);
    let snap = profiler.snapshot();
    let anomaly = snap
        .anomalies
        .iter()
        .rev()
        .find(|a| a.name == "e2e.anomaly.work")
        .expect("anomaly reported");
    assert!(
        anomaly.duration_ms >= 40.0 && anomaly.sigmas > 3.0,
        "{anomaly:?}"
    );
    assert!(seen.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert!(
        snap.health.contained_panics > before,
        "the hook's panic was contained and counted"
    );
    // the host keeps working and the profiler keeps recording
    maybe_slow(2);
    assert_eq!(
        function(&profiler.snapshot(), "e2e.anomaly.work")
            .unwrap()
            .stats
            .calls,
        42
    );
}

#[profiled("e2e.detailed.alloc")]
fn allocates(n: usize) -> usize {
    let v: Vec<u8> = vec![1; n];
    black_box(&v).len()
}

#[test]
fn detailed_level_reports_bytes_per_span() {
    let (_g, profiler) = exclusive(Settings::default().mode(Mode::Full).level(Level::Detailed));
    for _ in 0..5 {
        allocates(1 << 20);
    }
    let snap = profiler.snapshot();
    let m = function(&snap, "e2e.detailed.alloc")
        .unwrap()
        .memory
        .expect("memory figures at detailed level");
    assert!(m.alloc_bytes_mean >= (1 << 20) as f64, "{m:?}");
    assert!(
        m.peak_bytes_max >= 1 << 20 && m.peak_bytes_max < 2 << 20,
        "{m:?}"
    );
    assert!(flamewatch::alloc::is_installed());
}

#[test]
fn cardinality_is_capped_with_other() {
    let (_g, profiler) = exclusive(Settings::default().mode(Mode::Full).max_keys(usize::MAX));
    let before = profiler.snapshot().health.keys;
    profiler.apply(Settings::default().mode(Mode::Full).max_keys(before + 5));
    for i in 0..20 {
        let name = format!("e2e.cardinality.key{i}");
        flamewatch::start(&name);
        flamewatch::stop(&name);
    }
    let snap = profiler.snapshot();
    assert!(
        snap.health.keys <= before + 6,
        "keys {} (before {before})",
        snap.health.keys
    );
    assert!(function(&snap, flamewatch::OTHER).is_some_and(|f| f.stats.calls >= 15));
    assert!(snap.health.keys_over_cap >= 15);
    profiler.apply(Settings::default());
}

#[profiled("e2e.baseline.work")]
fn baseline_work(ms: u64) {
    spin(Duration::from_millis(ms));
}

#[test]
fn frozen_baseline_catches_a_slowdown() {
    let (_g, profiler) = exclusive(Settings::default().mode(Mode::Full));
    for _ in 0..40 {
        baseline_work(1);
    }
    assert!(profiler.freeze_baseline("before-deploy") >= 1);
    assert!(profiler.baselines().contains(&"before-deploy".to_string()));
    for _ in 0..40 {
        baseline_work(4);
    }
    let cmp = profiler.compare_to_baseline("before-deploy").unwrap();
    let (_, c) = cmp
        .iter()
        .find(|(n, _)| n == "e2e.baseline.work")
        .expect("compared");
    assert!(c.regressed && c.change_pct > 50.0, "{c:?}");
    assert_eq!(c.severity, flamewatch::Severity::Critical);
    assert!(profiler.compare_to_baseline("missing").is_none());
    assert!(profiler.drop_baseline("before-deploy"));
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("flamewatch-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[profiled("e2e.reload.work")]
fn reload_work() {
    std::thread::sleep(Duration::from_millis(2));
}

#[test]
fn configuration_file_drives_the_profiler_and_reloads_on_change() {
    let _g = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("reload");
    let app = dir.join("app.yml");
    let jsonl = dir.join("calls.jsonl");
    let write = |enabled: bool, slow_ms: u32| {
        let yaml = format!(
            "server:\n  port: 8080\nruntime:\n  profiling:\n    enabled: {enabled}\n    mode: full\n    \
             thresholds:\n      slow_call_ms: {slow_ms}\n    output:\n      type: file\n      path: {}\n    \
             include_stack_trace: true\n",
            jsonl.display()
        );
        // write-then-rename, as editors and config managers do
        let tmp = dir.join("app.yml.tmp");
        std::fs::write(&tmp, yaml).unwrap();
        std::fs::rename(&tmp, &app).unwrap();
    };
    write(true, 1);
    let builder = flamewatch::config::Config::builder().file(&app);
    let watch = flamewatch::config::WatchOptions::every(Duration::from_millis(20));
    let profiler =
        flamewatch::init_from_builder(builder, Some("runtime.profiling"), watch).unwrap();
    assert_eq!(profiler.settings().mode, Mode::Full);
    for _ in 0..5 {
        let _outer = flamewatch::span("e2e.reload.outer");
        reload_work();
    }
    let calls =
        |p: &Profiler| function(&p.snapshot(), "e2e.reload.work").map_or(0, |f| f.stats.calls);
    assert_eq!(calls(&profiler), 5);

    // JSONL records were written for the slow calls and parse back whole
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let work: Vec<_> = records
        .iter()
        .filter(|r| r["name"] == "e2e.reload.work")
        .collect();
    assert_eq!(work.len(), 5, "{text}");
    for r in &work {
        assert!(r["duration_ms"].as_f64().unwrap() >= 2.0);
        assert!(r["timestamp"].as_f64().unwrap() > 1.7e9);
        assert_eq!(
            r["stack"],
            serde_json::json!(["e2e.reload.outer", "e2e.reload.work"])
        );
        assert_eq!(r["metadata"]["anomaly"], false);
    }

    // turn profiling off by editing the file: the watcher applies it without a restart
    write(false, 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while profiler.settings().enabled && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!profiler.settings().enabled, "reload applied");
    reload_work();
    assert_eq!(
        calls(&profiler),
        5,
        "nothing recorded once disabled by the file"
    );

    // an invalid edit keeps the last good configuration
    std::fs::write(&app, "runtime:\n  profiling:\n    sample_rate: 1.5\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!profiler.settings().enabled);
    flamewatch::init(Settings::default());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn prometheus_exposition_passes_promtool() {
    let (_g, profiler) = exclusive(Settings::default().mode(Mode::Full));
    for i in 0..50 {
        maybe_slow(1 + i % 2);
        let _s = flamewatch::span("e2e.prom.label\"quoted\\name");
    }
    let text = profiler.prometheus();
    assert!(
        text.contains("flamewatch_function_calls_total{function=\"e2e.anomaly.work\"}"),
        "{text}"
    );
    assert!(text.contains(
        "flamewatch_function_duration_seconds{function=\"e2e.anomaly.work\",quantile=\"0.99\"}"
    ));
    let Some(promtool) = which("promtool") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is required in CI (scripts/setup.sh installs it)"
        );
        eprintln!("promtool not installed; exposition checked by content only");
        return;
    };
    let dir = temp_dir("prom");
    let path = dir.join("metrics.txt");
    std::fs::write(&path, &text).unwrap();
    let out = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool rejected the exposition:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(tool))
        .find(|p| p.is_file())
}

#[profiled("e2e.breaker.call")]
fn breaker_call(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[test]
fn circuit_breaker_stops_deep_tracing_when_overhead_is_too_high_and_retries() {
    let (_g, profiler) = exclusive(Settings::default());
    let mut strict = BreakerSettings::default();
    strict.max_pct = 0.000_001; // any measurable overhead is too much
    strict.consecutive = 2;
    strict.period = Duration::from_millis(50);
    strict.cooldown = Duration::from_millis(300);
    profiler.apply(Settings::default().mode(Mode::Full).breaker(strict));
    let state = |p: &Profiler| p.snapshot().health.breaker.map(|b| b.state);
    let deadline = Instant::now() + Duration::from_secs(10);
    while state(&profiler) != Some(BreakerState::Open) && Instant::now() < deadline {
        for i in 0..10_000 {
            breaker_call(i);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let snap = profiler.snapshot();
    let status = snap.health.breaker.expect("breaker status");
    assert_eq!(status.state, BreakerState::Open, "{status:?}");
    assert!(status.trips >= 1 && status.overhead_pct > strict.max_pct);
    assert!(profiler.prometheus().contains("flamewatch_breaker_open 1"));
    // open: calls are still counted, none is measured
    let before = function(&snap, "e2e.breaker.call").unwrap().stats.clone();
    for i in 0..1_000 {
        breaker_call(i);
    }
    let after = function(&profiler.snapshot(), "e2e.breaker.call")
        .unwrap()
        .stats
        .clone();
    if profiler.snapshot().health.breaker.unwrap().state == BreakerState::Open {
        assert_eq!(after.sampled, before.sampled, "no deep tracing while open");
    }
    assert_eq!(after.calls, before.calls + 1_000, "calls are still counted");
    // a generous limit: after the cooldown the breaker retries and closes
    let mut lenient = strict;
    lenient.max_pct = 100.0;
    profiler.apply(Settings::default().mode(Mode::Full).breaker(lenient));
    let deadline = Instant::now() + Duration::from_secs(10);
    while state(&profiler) != Some(BreakerState::Closed) && Instant::now() < deadline {
        breaker_call(1);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(state(&profiler), Some(BreakerState::Closed));
    let sampled = function(&profiler.snapshot(), "e2e.breaker.call")
        .unwrap()
        .stats
        .sampled;
    for i in 0..100 {
        breaker_call(i);
    }
    let now = function(&profiler.snapshot(), "e2e.breaker.call")
        .unwrap()
        .stats
        .sampled;
    assert_eq!(now, sampled + 100, "deep tracing resumed");
}

#[profiled("e2e.request.handler")]
async fn request_handler(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    request_step();
}

#[profiled("e2e.request.step")]
fn request_step() {
    std::thread::sleep(Duration::from_millis(1));
}

#[test]
fn request_context_reaches_records_and_anomalies_across_await_and_spawned_tasks() {
    use flamewatch::config::{Config, OutputKind, WatchOptions};
    use flamewatch::{Request, Scope};
    use std::sync::Arc;
    let _g = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = temp_dir("request");
    let jsonl = dir.join("calls.jsonl");
    // Sampling at rate 0: only calls inside a sampled request scope are measured.
    let builder = Config::builder()
        .enabled(true)
        .mode(Mode::Sampling)
        .sample_rate(0.0)
        .overhead_max_pct(0.0)
        .slow_call_ms(30.0)
        .output(OutputKind::File)
        .output_path(&jsonl);
    let profiler = flamewatch::init_from_builder(builder, None, WatchOptions::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Outside any request: counted, not measured.
    rt.block_on(request_handler(1));
    for i in 0..40 {
        let request = Arc::new(Request::new("GET", "/items/{id}").with_user(&format!("u{i}")));
        rt.block_on(Scope::request(request).wrap(request_handler(2 + i % 2)));
    }
    let slow = Arc::new(
        Request::new("POST", "/items/{id}")
            .with_user("slowpoke")
            .with_id("abc-123"),
    );
    rt.block_on(Scope::request(slow.clone()).wrap(async {
        // The spawned task inherits the request through `propagate`.
        tokio::spawn(flamewatch::propagate(request_handler(60)))
            .await
            .unwrap();
    }));
    slow.set_status(503);
    let snap = profiler.snapshot();
    let handler = function(&snap, "e2e.request.handler").expect("handler tracked");
    assert_eq!(handler.stats.calls, 42, "every call counted");
    assert_eq!(
        handler.stats.sampled, 41,
        "only the calls inside requests measured"
    );
    let anomaly = snap
        .anomalies
        .iter()
        .rev()
        .find(|a| a.name == "e2e.request.handler")
        .expect("the slow request's handler is an anomaly");
    let ctx = anomaly
        .request
        .as_ref()
        .expect("anomaly carries its request");
    assert_eq!(ctx.method.as_deref(), Some("POST"));
    assert_eq!(ctx.route.as_deref(), Some("/items/{id}"));
    assert_eq!(ctx.user.as_deref(), Some("slowpoke"));
    assert_eq!(ctx.request_id.as_deref(), Some("abc-123"));
    assert_eq!(
        ctx.status,
        Some(503),
        "status known when the collector processed it"
    );
    assert!(ctx.sampled);

    // The slow call's JSONL record carries the same context.
    profiler.flush();
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let record: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["name"] == "e2e.request.handler")
        .unwrap_or_else(|| panic!("no record of the slow handler in {text}"));
    assert_eq!(record["request"]["user"], "slowpoke");
    assert_eq!(record["request"]["request_id"], "abc-123");
    assert_eq!(record["request"]["route"], "/items/{id}");
    assert_eq!(
        Arc::strong_count(&slow),
        1,
        "no reference kept once processed"
    );
}

#[profiled("e2e.rate_change.call")]
fn rate_change_call() -> u8 {
    black_box(3)
}

#[test]
fn a_new_sample_rate_applies_at_once_even_after_a_rate_of_zero() {
    let (_g, profiler) = exclusive(Settings::default().mode(Mode::Sampling).sample_rate(0.0));
    let sampled = |p: &Profiler| {
        function(&p.snapshot(), "e2e.rate_change.call")
            .map_or((0, 0), |f| (f.stats.calls, f.stats.sampled))
    };
    for _ in 0..1_000 {
        rate_change_call();
    }
    assert_eq!(
        sampled(&profiler),
        (1_000, 0),
        "a rate of 0 measures nothing"
    );
    // The countdown drawn at rate 0 ("never") must not outlive the settings it came from.
    profiler.apply(
        Settings::default()
            .mode(Mode::Full)
            .breaker(BreakerSettings::off()),
    );
    for _ in 0..10 {
        rate_change_call();
    }
    assert_eq!(
        sampled(&profiler),
        (1_010, 10),
        "full mode measures every call at once"
    );
}
