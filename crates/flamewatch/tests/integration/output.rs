//! Outputs: JSONL through rotation from several threads, parsed back line by line; the rate
//! limit and its drop counter; the slow-call filter; record fields; write failures; and the
//! Prometheus exposition checked by `promtool`.

use flamewatch::config::{Config, Level, OutputKind};
use flamewatch::output::prometheus::{self, FunctionStats, MetricFamily};
use flamewatch::output::{
    EmitSettings, Emitted, Emitter, LogSink, Record, RequestContext, RotatingFile, Sink,
};
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "flamewatch-output-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn records(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("torn or invalid line {l:?}: {e}"))
            })
            .collect()
    }
}

fn record(name: &str, ms: u64) -> Record {
    Record::new(name, Duration::from_millis(ms), SystemTime::now())
}

fn file_config(path: &Path, max_bytes: u64, max_files: u32) -> Config {
    Config::builder()
        .output(OutputKind::File)
        .output_path(path)
        .output_max_bytes(max_bytes)
        .output_max_files(max_files)
        .slow_call_ms(0.0)
        .max_records_per_minute(1_000_000)
        .build()
        .unwrap()
}

/// Reads the active file and every rotated file, oldest first; every line must parse.
fn read_all(path: &Path, max_files: u32) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut files = 0;
    let mut paths: Vec<PathBuf> = (1..=max_files)
        .rev()
        .map(|n| PathBuf::from(format!("{}.{n}", path.display())))
        .collect();
    paths.push(path.to_owned());
    for p in paths {
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        files += 1;
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{} ends mid-line",
            p.display()
        );
        for line in text.lines() {
            let r: Record = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("torn line in {}: {line:?}: {e}", p.display()));
            records.push(r);
        }
    }
    (records, files)
}

#[test]
fn jsonl_from_several_threads_survives_rotation_without_loss_or_torn_lines() {
    let dir = TempDir::new("threads");
    let path = dir.0.join("logs/profile.jsonl");
    let max_bytes = 16 * 1024;
    let emitter = Arc::new(Emitter::from_config(&file_config(&path, max_bytes, 1000)).unwrap());
    assert_eq!(emitter.sink_kind(), "file");
    let threads = 4;
    let per_thread = 600;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let emitter = Arc::clone(&emitter);
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let mut r = record(&format!("worker{t}.step"), 1 + i % 50);
                    let mut meta = serde_json::Map::new();
                    meta.insert("thread".into(), t.into());
                    meta.insert("seq".into(), i.into());
                    meta.insert("payload".into(), "x".repeat((i as usize * 37) % 300).into());
                    r.metadata = Some(meta);
                    assert_eq!(emitter.emit(&r), Emitted::Written);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    emitter.flush();
    let stats = emitter.stats();
    assert_eq!(stats.emitted, threads * per_thread);
    assert_eq!((stats.dropped, stats.write_errors), (0, 0));

    let (records, files) = read_all(&path, 1000);
    assert!(files > 5, "expected several rotations, got {files} files");
    assert_eq!(records.len() as u64, threads * per_thread, "no record lost");
    let seen: BTreeSet<(u64, u64)> = records
        .iter()
        .map(|r| {
            let m = r.metadata.as_ref().unwrap();
            (m["thread"].as_u64().unwrap(), m["seq"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        seen.len() as u64,
        threads * per_thread,
        "every record exactly once"
    );
    // Per thread, records appear in emission order across files.
    for t in 0..threads {
        let seqs: Vec<u64> = records
            .iter()
            .filter(|r| r.metadata.as_ref().unwrap()["thread"] == t)
            .map(|r| r.metadata.as_ref().unwrap()["seq"].as_u64().unwrap())
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "thread {t} out of order"
        );
    }
    for n in 1..files as u32 {
        let len = std::fs::metadata(format!("{}.{n}", path.display()))
            .unwrap()
            .len();
        assert!(len <= max_bytes, "rotated file {n} is {len} bytes");
    }
}

#[test]
fn rotation_keeps_max_files_and_the_newest_records() {
    let dir = TempDir::new("retention");
    let path = dir.0.join("p.jsonl");
    let mut sink = RotatingFile::open(&path, 4096, 2).unwrap();
    for i in 0..200 {
        let line = format!("{{\"name\":\"n{i}\",\"duration_ms\":1.0,\"timestamp\":{i}.0}}\n");
        sink.write_line(line.as_bytes()).unwrap();
    }
    assert!(sink.rotations() >= 2);
    assert!(path.exists() && dir.0.join("p.jsonl.1").exists() && dir.0.join("p.jsonl.2").exists());
    assert!(
        !dir.0.join("p.jsonl.3").exists(),
        "only max_files rotated files are kept"
    );
    let (records, _) = read_all(&path, 2);
    let names: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.last(), Some(&"n199"));
    // What remains is a contiguous run ending with the newest record.
    let first: usize = names[0][1..].parse().unwrap();
    assert_eq!(names.len(), 200 - first);
}

#[test]
fn a_torn_last_line_left_by_a_crash_is_isolated() {
    let dir = TempDir::new("torn");
    let path = dir.0.join("p.jsonl");
    std::fs::write(
        &path,
        "{\"name\":\"ok\",\"duration_ms\":1.0,\"timestamp\":1.0}\n{\"name\":\"cut",
    )
    .unwrap();
    let mut sink = RotatingFile::open(&path, 1 << 20, 3).unwrap();
    sink.write_line(b"{\"name\":\"after\",\"duration_ms\":2.0,\"timestamp\":2.0}\n")
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1], "{\"name\":\"cut");
    let after: Record = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(after.name, "after");
}

#[test]
fn the_rate_limit_drops_and_counts() {
    let out = Shared::default();
    let settings = EmitSettings::from_config(
        &Config::builder()
            .slow_call_ms(0.0)
            .max_records_per_minute(10)
            .build()
            .unwrap(),
    );
    let emitter = Emitter::new(settings, Box::new(LogSink::new(out.clone())));
    let t0 = Instant::now();
    let outcomes: Vec<Emitted> = (0..25)
        .map(|i| emitter.emit_at(&record("burst", 5 + i), t0))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == Emitted::Written).count(),
        10
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Emitted::RateLimited)
            .count(),
        15
    );
    assert_eq!(emitter.dropped(), 15);
    // Half a minute later, half the bucket has refilled.
    let later = t0 + Duration::from_secs(30);
    let written = (0..10)
        .filter(|_| emitter.emit_at(&record("later", 9), later) == Emitted::Written)
        .count();
    assert_eq!(written, 5);
    assert_eq!(emitter.dropped(), 20);
    assert_eq!(out.records().len(), 15);
    assert_eq!(emitter.stats().emitted, 15);
}

#[test]
fn only_calls_slower_than_slow_call_ms_are_emitted() {
    let out = Shared::default();
    let cfg = Config::builder().slow_call_ms(100.0).build().unwrap();
    let emitter = Emitter::new(
        EmitSettings::from_config(&cfg),
        Box::new(LogSink::new(out.clone())),
    );
    assert_eq!(emitter.emit(&record("fast", 50)), Emitted::BelowThreshold);
    assert_eq!(emitter.emit(&record("edge", 100)), Emitted::BelowThreshold);
    assert_eq!(emitter.emit(&record("slow", 150)), Emitted::Written);
    let recs = out.records();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["name"], "slow");
    assert_eq!(recs[0]["duration_ms"], 150.0);
    assert_eq!(emitter.stats().below_threshold, 2);

    // At `detailed`, a fast call allocating more than `memory_mb` is emitted too.
    let cfg = Config::builder()
        .slow_call_ms(100.0)
        .level(Level::Detailed)
        .memory_mb(1.0)
        .build()
        .unwrap();
    let emitter = Emitter::new(
        EmitSettings::from_config(&cfg),
        Box::new(LogSink::new(out.clone())),
    );
    let mut big = record("alloc.heavy", 3);
    big.memory_bytes = Some(2 << 20);
    big.peak_bytes = Some(3 << 20);
    assert_eq!(emitter.emit(&big), Emitted::Written);
    let mut small = record("alloc.light", 3);
    small.memory_bytes = Some(1024);
    assert_eq!(emitter.emit(&small), Emitted::BelowThreshold);
}

#[test]
fn record_fields_follow_the_spec_and_the_include_switches() {
    let mut r = record("api.search", 700);
    let mut meta = serde_json::Map::new();
    meta.insert("shard".into(), 3.into());
    r.metadata = Some(meta);
    r.request = Some(RequestContext {
        method: Some("GET".into()),
        route: Some("/users/{id}".into()),
        status: Some(200),
        user: Some("u-42".into()),
        request_id: Some("req-1".into()),
        sampled: true,
    });
    r.memory_bytes = Some(4096);
    r.peak_bytes = Some(8192);
    r.stack = Some(vec!["http.request".into(), "api.search".into()]);

    let emit = |cfg: Config| {
        let out = Shared::default();
        let e = Emitter::new(
            EmitSettings::from_config(&cfg),
            Box::new(LogSink::new(out.clone())),
        );
        assert_eq!(e.emit(&r), Emitted::Written);
        let line = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        (out.records().remove(0), line)
    };
    // Top-level keys in the order they appear on the line.
    let keys = |(v, line): &(serde_json::Value, String)| {
        let mut k: Vec<(usize, String)> = v
            .as_object()
            .unwrap()
            .keys()
            .map(|k| (line.find(&format!("\"{k}\":")).unwrap(), k.clone()))
            .collect();
        k.sort();
        k.into_iter().map(|(_, k)| k).collect::<Vec<_>>()
    };

    let full = emit(
        Config::builder()
            .level(Level::Detailed)
            .include_stack_trace(true)
            .build()
            .unwrap(),
    );
    assert_eq!(
        keys(&full),
        [
            "name",
            "duration_ms",
            "timestamp",
            "metadata",
            "request",
            "memory_bytes",
            "peak_bytes",
            "stack"
        ]
    );
    let everything = &full.0;
    assert_eq!(everything["request"]["route"], "/users/{id}");
    assert_eq!(everything["request"]["status"], 200);
    assert_eq!(everything["request"]["sampled"], true);
    assert_eq!(everything["stack"][0], "http.request");
    assert_eq!(everything["metadata"]["shard"], 3);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let ts = everything["timestamp"].as_f64().unwrap();
    assert!(
        (now - ts).abs() < 60.0,
        "timestamp is Unix seconds from the system clock: {ts}"
    );

    // Defaults: basic level, metadata on, no stack.
    let defaults = emit(Config::default());
    assert_eq!(
        keys(&defaults),
        ["name", "duration_ms", "timestamp", "metadata", "request"]
    );
    let bare = emit(Config::builder().include_metadata(false).build().unwrap());
    assert_eq!(keys(&bare), ["name", "duration_ms", "timestamp", "request"]);

    // The full record round-trips through serde (the parser may round the last bit of a
    // float, hence the tolerance on the timestamp).
    let mut back: Record = serde_json::from_value(everything.clone()).unwrap();
    assert!((back.timestamp - r.timestamp).abs() < 1e-6);
    back.timestamp = r.timestamp;
    assert_eq!(back, r);
}

struct Failing {
    panics: bool,
}

impl Sink for Failing {
    fn kind(&self) -> &'static str {
        "log"
    }

    fn write_line(&mut self, _line: &[u8]) -> io::Result<()> {
        if self.panics {
            panic!("sink bug");
        }
        Err(io::Error::new(
            io::ErrorKind::StorageFull,
            "no space left on device",
        ))
    }
}

#[test]
fn write_failures_are_counted_never_raised() {
    for panics in [false, true] {
        let settings =
            EmitSettings::from_config(&Config::builder().slow_call_ms(0.0).build().unwrap());
        let emitter = Emitter::new(settings, Box::new(Failing { panics }));
        for _ in 0..3 {
            assert_eq!(emitter.emit(&record("x", 10)), Emitted::Failed);
        }
        assert_eq!(emitter.stats().write_errors, 3);
        assert_eq!(emitter.stats().emitted, 0);
        let last = emitter.last_error().unwrap();
        if panics {
            assert_eq!(last, "the log output panicked while writing a record");
        } else {
            assert!(
                last.starts_with("cannot write record to the log output: no space left"),
                "{last}"
            );
        }
    }
}

#[test]
fn prometheus_and_none_write_no_records_and_reconfigure_switches_sinks() {
    let dir = TempDir::new("reconfigure");
    let path = dir.0.join("p.jsonl");
    let cfg = Config::builder()
        .output(OutputKind::Prometheus)
        .slow_call_ms(0.0)
        .build()
        .unwrap();
    let emitter = Emitter::from_config(&cfg).unwrap();
    assert_eq!(emitter.emit(&record("a", 10)), Emitted::Discarded);
    assert_eq!(emitter.dropped(), 0, "discarding is not rate limiting");

    emitter
        .reconfigure(&file_config(&path, 1 << 20, 2))
        .unwrap();
    assert_eq!(emitter.sink_kind(), "file");
    assert_eq!(emitter.emit(&record("b", 10)), Emitted::Written);
    let (records, _) = read_all(&path, 2);
    assert_eq!(records.len(), 1);

    // A sink that cannot be opened leaves the current one in place.
    let blocked = dir.0.join("p.jsonl").join("under-a-file.jsonl");
    assert!(
        emitter
            .reconfigure(&file_config(&blocked, 1 << 20, 2))
            .is_err()
    );
    assert_eq!(emitter.emit(&record("c", 10)), Emitted::Written);
    assert_eq!(read_all(&path, 2).0.len(), 2);

    let none = Config::builder().output(OutputKind::None).build().unwrap();
    emitter.reconfigure(&none).unwrap();
    assert_eq!(emitter.sink_kind(), "none");
}

/// A realistic exposition: several functions with quantiles, counters for calls and drops,
/// gauges, a histogram, and label values that need escaping.
fn realistic_exposition() -> String {
    let q = |p50: f64, p99: f64| vec![(0.5, p50), (0.9, p50 * 1.4), (0.95, p50 * 1.7), (0.99, p99)];
    let search = q(0.0051, 0.0112);
    let slow = q(0.1002, 0.131);
    let weird = q(0.0004, 0.0009);
    let functions = [
        FunctionStats {
            name: "search.fast_function",
            calls: 12_000,
            sampled: 120,
            sum_seconds: 0.62,
            quantiles: &search,
        },
        FunctionStats {
            name: "search.slow_function",
            calls: 800,
            sampled: 80,
            sum_seconds: 8.1,
            quantiles: &slow,
        },
        FunctionStats {
            name: "odd \"name\" with \\ and\nnewline",
            calls: 3,
            sampled: 3,
            sum_seconds: 0.0012,
            quantiles: &weird,
        },
    ];
    let mut families = prometheus::function_families(&functions);
    families.push(
        MetricFamily::counter(
            "flamewatch_events_dropped_total",
            "Profiling events dropped because a buffer was full.",
        )
        .with_value(&[("reason", "queue_full")], 2.0)
        .with_value(&[("reason", "cardinality")], 0.0),
    );
    families.push(
        MetricFamily::gauge("flamewatch_sample_rate_ratio", "Configured sample rate.")
            .with_value(&[], 0.01),
    );
    families.push(
        MetricFamily::gauge(
            "flamewatch_overhead_ratio",
            "Estimated self-overhead as a fraction of CPU time.",
        )
        .with_value(&[], f64::NAN),
    );
    families.push(
        MetricFamily::histogram(
            "flamewatch_request_duration_seconds",
            "Request latency by route.",
        )
        .with_histogram(
            &[("route", "/users/{id}"), ("method", "GET")],
            &[(0.005, 10), (0.05, 40), (0.5, 49)],
            3.2,
            50,
        ),
    );
    let stats = flamewatch::output::EmitterStats {
        emitted: 120,
        below_threshold: 9000,
        dropped: 15,
        write_errors: 1,
    };
    families.extend(stats.metric_families());
    families.extend(flamewatch::config::ConfigHandle::new(Config::default()).metric_families());
    prometheus::encode(&families).unwrap()
}

#[test]
fn the_prometheus_exposition_passes_promtool() {
    let text = realistic_exposition();
    assert!(text.contains("flamewatch_function_duration_seconds{function=\"search.slow_function\",quantile=\"0.99\"} 0.131\n"));
    assert!(text.contains("flamewatch_function_calls_total{function=\"odd \\\"name\\\" with \\\\ and\\nnewline\"} 3.0\n"));
    assert!(text.contains("flamewatch_request_duration_seconds_bucket{route=\"/users/{id}\",method=\"GET\",le=\"+Inf\"} 50.0\n"));

    let dir = TempDir::new("promtool");
    let file = dir.0.join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output();
    let output = match promtool {
        Ok(output) => output,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool is required in CI (Debian package `prometheus`; scripts/setup.sh installs it)"
            );
            eprintln!(
                "notice: promtool not found; install the Debian package `prometheus` to validate the exposition"
            );
            return;
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    assert!(
        output.status.success(),
        "promtool check metrics failed:\nstdout: {}\nstderr: {}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // promtool also lints (naming conventions); it must have nothing to say.
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "",
        "promtool lint output"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "",
        "promtool lint output"
    );
}
