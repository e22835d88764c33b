//! Configuration: real files, nested sections, environment overrides, every validation error,
//! hot reload of a file changed on disk, and a deterministic fuzz of the YAML reader.

use flamewatch::config::{
    Config, ConfigError, ConfigHandle, ErrorKind, Level, Mode, Origin, OutputKind, SeverityBounds,
    WatchOptions,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "flamewatch-config-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const FULL: &str = "\
# every key of the specification
enabled: true
mode: full
level: detailed
targets: [semantic_search, db.query]
sample_rate: 0.25
thresholds:
  slow_call_ms: 120.5
  memory_mb: 8
output:
  type: file
  path: /var/log/app/profile.jsonl
  max_bytes: 1MiB
  max_files: 3
max_records_per_minute: 40
include_metadata: false
include_stack_trace: true
anomaly:
  sigma: 2.5
  min_samples: 50
regression:
  threshold_pct: 15
  severity:
    low: 5
    medium: 15
    high: 30
    critical: 60
api:
  bind: 0.0.0.0:7070
  prefix: /internal/profiling
  token: abc123
overhead:
  max_pct: 1.5
trigger:
  p95_ms: 800
  duration_s: 30
  cooldown_s: 600
limits:
  max_keys: 2000
window:
  seconds: 30
  count: 10
";

#[test]
fn a_real_file_sets_every_key() {
    let dir = TempDir::new("full");
    let path = dir.write("flamewatch.yml", FULL);
    let c = Config::from_file(&path).unwrap();
    assert!(c.enabled);
    assert_eq!(c.mode, Mode::Full);
    assert_eq!(c.level, Level::Detailed);
    assert_eq!(
        c.targets,
        vec!["semantic_search".to_owned(), "db.query".to_owned()]
    );
    assert_eq!(c.sample_rate, 0.25);
    assert_eq!(c.thresholds.slow_call_ms, 120.5);
    assert_eq!(c.thresholds.memory_mb, 8.0);
    assert_eq!(c.output.kind, OutputKind::File);
    assert_eq!(
        c.output.path.as_deref(),
        Some(Path::new("/var/log/app/profile.jsonl"))
    );
    assert_eq!(c.output.max_bytes, 1 << 20);
    assert_eq!(c.output.max_files, 3);
    assert_eq!(c.max_records_per_minute, 40);
    assert!(!c.include_metadata);
    assert!(c.include_stack_trace);
    assert_eq!(c.anomaly.sigma, 2.5);
    assert_eq!(c.anomaly.min_samples, 50);
    assert_eq!(c.regression.threshold_pct, 15.0);
    assert_eq!(
        c.regression.severity,
        SeverityBounds {
            low: 5.0,
            medium: 15.0,
            high: 30.0,
            critical: 60.0
        }
    );
    assert_eq!(c.api.bind.to_string(), "0.0.0.0:7070");
    assert_eq!(c.api.prefix, "/internal/profiling");
    assert_eq!(c.api.token.as_deref(), Some("abc123"));
    assert_eq!(c.overhead.max_pct, 1.5);
    assert_eq!(c.trigger.p95_ms, Some(800.0));
    assert_eq!(c.trigger.duration_s, 30.0);
    assert_eq!(c.trigger.cooldown_s, 600.0);
    assert_eq!(c.limits.max_keys, 2000);
    assert_eq!(c.window.seconds, 30);
    assert_eq!(c.window.count, 10);
    assert_eq!(c.slow_call(), Duration::from_micros(120_500));
}

#[test]
fn an_empty_file_gives_the_defaults() {
    let dir = TempDir::new("empty");
    let path = dir.write("flamewatch.yml", "# nothing configured yet\n");
    assert_eq!(Config::from_file(&path).unwrap(), Config::default());
}

#[test]
fn a_nested_section_of_an_application_file() {
    let dir = TempDir::new("section");
    let app = "\
server:
  port: 8080
runtime:
  workers: 4
  profiling:
    enabled: true
    sample_rate: 0.5
    output:
      type: none
";
    let path = dir.write("app.yml", app);
    let c = Config::from_file_section(&path, "runtime.profiling").unwrap();
    assert!(c.enabled);
    assert_eq!(c.sample_rate, 0.5);
    assert_eq!(c.output.kind, OutputKind::None);

    // Keys unknown to flamewatch are reported with their full path in the application file.
    let bad = dir.write(
        "bad.yml",
        &app.replace("    sample_rate: 0.5", "    sample_rat: 0.5"),
    );
    let e = Config::from_file_section(&bad, "runtime.profiling").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:7: key `runtime.profiling.sample_rat`: unknown key; did you mean `sample_rate`?",
            bad.display()
        )
    );
    assert_eq!(e.line(), Some(7));
    assert_eq!(e.kind(), Some(ErrorKind::UnknownKey));

    let missing = Config::from_file_section(&path, "runtime.profiler").unwrap_err();
    assert_eq!(missing.kind(), Some(ErrorKind::Section));
    assert_eq!(
        missing.to_string(),
        format!(
            "{}: key `runtime.profiler`: section not found: no key `profiler` under `runtime`; fix the section path or add the section to the file",
            path.display()
        )
    );
}

#[test]
fn real_world_yaml_shapes_are_understood() {
    let dir = TempDir::new("shapes");
    // Anchors and merge keys across environments, flow mappings, quoting, nulls, comments.
    let app = "\
defaults: &profiling
  enabled: true
  sample_rate: 0.05
  output: {type: file, path: 'logs/profile.jsonl', max_bytes: \"10 MB\"}
  trigger:
    p95_ms: ~   # off
production:
  profiling:
    <<: *profiling
    sample_rate: 0.01
    targets:
      - search
      - \"db.query\"
";
    let path = dir.write("app.yml", app);
    let c = Config::from_file_section(&path, "production.profiling").unwrap();
    assert!(c.enabled);
    assert_eq!(c.sample_rate, 0.01, "local keys win over merged ones");
    assert_eq!(c.output.kind, OutputKind::File);
    assert_eq!(
        c.output.path.as_deref(),
        Some(Path::new("logs/profile.jsonl"))
    );
    assert_eq!(c.output.max_bytes, 10_000_000);
    assert_eq!(c.trigger.p95_ms, None);
    assert_eq!(c.targets, vec!["search".to_owned(), "db.query".to_owned()]);

    // Windows line endings and a byte-order mark keep line numbers right.
    let crlf = dir.write(
        "crlf.yml",
        "\u{feff}enabled: true\r\n\r\nsample_rate: 2\r\n",
    );
    let e = Config::from_file(&crlf).unwrap_err();
    assert_eq!(e.line(), Some(3), "{e}");
    assert_eq!(e.key(), Some("sample_rate"));
}

#[test]
fn environment_overrides_the_file_and_code_overrides_the_environment() {
    let dir = TempDir::new("env");
    let path = dir.write(
        "flamewatch.yml",
        "enabled: false\nsample_rate: 0.1\nanomaly:\n  sigma: 4\n",
    );
    let env = [
        ("FLAMEWATCH_ENABLED", "1"),
        ("FLAMEWATCH_SAMPLE_RATE", "0.3"),
        ("FLAMEWATCH_OUTPUT_TYPE", "prometheus"),
        ("FLAMEWATCH_ANOMALY_SIGMA", "2"),
        ("FLAMEWATCH_TARGETS", "search, db.query"),
        ("FLAMEWATCH_REGRESSION_SEVERITY_CRITICAL", "70"),
        ("FLAMEWATCH_API_TOKEN", "t0ken"),
        // Not configuration keys: left to their owners.
        ("FLAMEWATCH_CONFIG", "/etc/flamewatch.yml"),
        ("FLAMEWATCH_API_URL", "http://collector:4040"),
        ("FLAMEWATCH_LOG", "debug"),
        ("PATH", "/usr/bin"),
    ];
    let c = Config::builder()
        .file(&path)
        .env(env)
        .sample_rate(0.9)
        .build()
        .unwrap();
    assert!(c.enabled);
    assert_eq!(c.sample_rate, 0.9, "code wins over environment");
    assert_eq!(c.anomaly.sigma, 2.0, "environment wins over file");
    assert_eq!(c.output.kind, OutputKind::Prometheus);
    assert_eq!(c.targets, vec!["search".to_owned(), "db.query".to_owned()]);
    assert_eq!(c.regression.severity.critical, 70.0);
    assert_eq!(c.api.token.as_deref(), Some("t0ken"));

    let env_only = Config::from_env([
        ("FLAMEWATCH_MODE", "full"),
        ("FLAMEWATCH_LEVEL", "detailed"),
    ])
    .unwrap();
    assert_eq!(
        (env_only.mode, env_only.level),
        (Mode::Full, Level::Detailed)
    );

    let names: Vec<(&str, String)> = Config::env_vars().collect();
    assert!(names.contains(&(
        "thresholds.slow_call_ms",
        "FLAMEWATCH_THRESHOLDS_SLOW_CALL_MS".to_owned()
    )));
}

#[test]
fn environment_errors_name_the_variable() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "FLAMEWATCH_SAMPLE_RATE",
            "fast",
            "environment variable FLAMEWATCH_SAMPLE_RATE: key `sample_rate`: expected a number, found `fast`",
        ),
        (
            "FLAMEWATCH_SAMPLE_RATE",
            "1.5",
            "environment variable FLAMEWATCH_SAMPLE_RATE: key `sample_rate`: must be between 0 and 1, found 1.5",
        ),
        (
            "FLAMEWATCH_SAMPLE_RAT",
            "0.1",
            "environment variable FLAMEWATCH_SAMPLE_RAT: unknown configuration variable; did you mean FLAMEWATCH_SAMPLE_RATE?",
        ),
        (
            "FLAMEWATCH_ENABLED",
            "maybe",
            "environment variable FLAMEWATCH_ENABLED: key `enabled`: expected true or false, found `maybe`",
        ),
        (
            "FLAMEWATCH_OUTPUT_TYPE",
            "files",
            "environment variable FLAMEWATCH_OUTPUT_TYPE: key `output.type`: must be one of `log`, `file`, `prometheus`, `none`, found `files`; did you mean `file`?",
        ),
        (
            "FLAMEWATCH_OUTPUT_TYPE",
            "file",
            "environment variable FLAMEWATCH_OUTPUT_TYPE: key `output.path`: `output.type: file` needs `output.path`; add the path of the JSONL file, e.g. `output.path: /var/log/app/flamewatch.jsonl`",
        ),
    ];
    for (var, value, expected) in cases {
        let e = Config::from_env([(*var, *value)]).unwrap_err();
        assert_eq!(e.to_string(), *expected, "{var}={value}");
        assert_eq!(e.origin(), Some(&Origin::Env((*var).to_owned())));
        assert_eq!(e.line(), None);
    }
}

/// Every kind of mistake, each checked for file, key, line and reason.
#[test]
fn every_validation_error_names_file_key_line_and_reason() {
    let dir = TempDir::new("errors");
    let cases: &[(&str, Option<&str>, usize, ErrorKind, &str)] = &[
        (
            "enabled: true\nsampel_rate: 0.1\n",
            Some("sampel_rate"),
            2,
            ErrorKind::UnknownKey,
            "unknown key; did you mean `sample_rate`?",
        ),
        (
            "thresholds:\n  slow_call: 5\n",
            Some("thresholds.slow_call"),
            2,
            ErrorKind::UnknownKey,
            "unknown key; did you mean `slow_call_ms`?",
        ),
        (
            "colour: blue\n",
            Some("colour"),
            1,
            ErrorKind::UnknownKey,
            "unknown key; valid keys here are enabled, mode, level, targets, sample_rate, thresholds, output, max_records_per_minute, include_metadata, include_stack_trace, anomaly, regression, api, overhead, trigger, limits, window",
        ),
        (
            "sample_rate: fast\n",
            Some("sample_rate"),
            1,
            ErrorKind::Type,
            "expected a number, found `fast`",
        ),
        (
            "sample_rate: \"0.5\"\n",
            Some("sample_rate"),
            1,
            ErrorKind::Type,
            "expected a number, found the string \"0.5\"",
        ),
        (
            "\n\nsample_rate: 1.5\n",
            Some("sample_rate"),
            3,
            ErrorKind::Value,
            "must be between 0 and 1, found 1.5",
        ),
        (
            "thresholds:\n  memory_mb: 4\n  slow_call_ms: -5\n",
            Some("thresholds.slow_call_ms"),
            3,
            ErrorKind::Value,
            "must be a non-negative number of milliseconds, found -5",
        ),
        (
            "window:\n  count: 0\n",
            Some("window.count"),
            2,
            ErrorKind::Value,
            "must be between 1 and 10000, found 0",
        ),
        (
            "window:\n  seconds: -1\n",
            Some("window.seconds"),
            2,
            ErrorKind::Type,
            "must not be negative, found -1",
        ),
        (
            "api:\n  bind: localhost\n",
            Some("api.bind"),
            2,
            ErrorKind::Value,
            "`localhost` is not a socket address; write an ip and a port such as `127.0.0.1:6060`",
        ),
        (
            "output:\n  type: file\n",
            Some("output.path"),
            2,
            ErrorKind::Missing,
            "`output.type: file` needs `output.path`; add the path of the JSONL file, e.g. `output.path: /var/log/app/flamewatch.jsonl`",
        ),
        (
            "regression:\n  severity:\n    high: 60\n",
            Some("regression.severity"),
            3,
            ErrorKind::Value,
            "invalid severity bounds: severity bounds must increase: low 10 < medium 20 < high 60 < critical 50",
        ),
        (
            "regression:\n  severity:\n    hgih: 40\n",
            Some("regression.severity.hgih"),
            3,
            ErrorKind::UnknownKey,
            "unknown key; did you mean `high`?",
        ),
        (
            "mode: sampled\n",
            Some("mode"),
            1,
            ErrorKind::Value,
            "must be one of `sampling`, `full`, found `sampled`; did you mean `sampling`?",
        ),
        (
            "enabled: yes\n",
            Some("enabled"),
            1,
            ErrorKind::Type,
            "expected true or false, found `yes`; YAML 1.2 booleans are spelled `true` and `false`",
        ),
        (
            "limits:\n  max_keys: 5000000\n",
            Some("limits.max_keys"),
            2,
            ErrorKind::Value,
            "must be between 1 and 1000000, found 5000000",
        ),
        (
            "targets: [search, \"db..query\"]\n",
            Some("targets"),
            1,
            ErrorKind::Value,
            "`db..query` is not a dotted name; write prefixes such as `search` or `db.query`",
        ),
        (
            "targets: search\n",
            Some("targets"),
            1,
            ErrorKind::Type,
            "expected a list such as `[search, db.query]`, found `search`",
        ),
        (
            "thresholds: 5\n",
            Some("thresholds"),
            1,
            ErrorKind::Type,
            "expected a mapping of slow_call_ms/memory_mb settings, found `5`",
        ),
        (
            "anomaly:\n  min_samples: 1.5\n",
            Some("anomaly.min_samples"),
            2,
            ErrorKind::Type,
            "expected a whole number, found 1.5",
        ),
        (
            "overhead:\n  max_pct: -1\n",
            Some("overhead.max_pct"),
            2,
            ErrorKind::Value,
            "must be a percentage from 0 (circuit breaker off) to 100, found -1",
        ),
        (
            "api:\n  prefix: profiling/\n",
            Some("api.prefix"),
            2,
            ErrorKind::Value,
            "`profiling/` is not a path prefix; start it with `/`, without a trailing `/`, spaces, `?` or `#`",
        ),
        (
            "output:\n  max_bytes: 12 parsecs\n",
            Some("output.max_bytes"),
            2,
            ErrorKind::Type,
            "`12 parsecs` is not a size; write bytes or a number with a unit such as `64MiB`",
        ),
        (
            "trigger:\n  p95_ms: -3\n",
            Some("trigger.p95_ms"),
            2,
            ErrorKind::Value,
            "must be a positive number of milliseconds, found -3",
        ),
        (
            "enabled: true\nenabled: false\n",
            None,
            2,
            ErrorKind::Syntax,
            "duplicate key `enabled` (first defined at line 1); keep only one",
        ),
        (
            "- just\n- a list\n",
            None,
            1,
            ErrorKind::Type,
            "expected a mapping of flamewatch settings, found a list",
        ),
        ("output: {type: log\n", None, 2, ErrorKind::Syntax, ""),
    ];
    for (i, (yaml, key, line, kind, reason)) in cases.iter().enumerate() {
        let path = dir.write(&format!("case{i}.yml"), yaml);
        let e = Config::from_file(&path).unwrap_err();
        let shown = e.to_string();
        assert!(!shown.contains('\n'), "error is one line: {shown}");
        assert_eq!(
            e.origin(),
            Some(&Origin::File {
                path: path.clone(),
                section: None
            }),
            "{shown}"
        );
        assert_eq!(e.key(), *key, "{shown}");
        assert_eq!(e.kind(), Some(*kind), "{shown}");
        if *kind == ErrorKind::Syntax && reason.is_empty() {
            assert!(
                shown.starts_with(&format!("{}:", path.display())),
                "{shown}"
            );
            assert!(e.reason().starts_with("invalid YAML"), "{shown}");
            continue;
        }
        assert_eq!(e.line(), Some(*line), "{shown}");
        let expected = match key {
            Some(k) => format!("{}:{line}: key `{k}`: {reason}", path.display()),
            None => format!("{}:{line}: {reason}", path.display()),
        };
        assert_eq!(shown, expected);
    }
}

#[test]
fn unreadable_files_and_builder_values_are_rejected_too() {
    let e = Config::from_file("/nonexistent/flamewatch.yml").unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(
        e.to_string()
            .starts_with("cannot read config file /nonexistent/flamewatch.yml: "),
        "{e}"
    );

    let e = Config::builder().window_count(0).build().unwrap_err();
    assert_eq!(
        e.to_string(),
        "configuration set in code: key `window.count`: must be between 1 and 10000, found 0"
    );
    let e = Config::builder()
        .severity_bounds(SeverityBounds {
            low: 30.0,
            medium: 20.0,
            high: 35.0,
            critical: 50.0,
        })
        .build()
        .unwrap_err();
    assert_eq!(e.key(), Some("regression.severity"));
    assert_eq!(e.origin(), Some(&Origin::Code));

    // A hand-assembled config is checked by `validate`.
    let mut c = Config::default();
    c.anomaly.sigma = f64::NAN;
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        "configuration set in code: key `anomaly.sigma`: must be a positive number of standard deviations, found .nan"
    );
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Replaces the file's content atomically, as editors and config management tools do.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn hot_reload_follows_the_file_and_keeps_the_last_good_config() {
    let dir = TempDir::new("reload");
    let path = dir.write("flamewatch.yml", "enabled: false\nsample_rate: 0.01\n");
    let handle = Config::builder()
        .file(&path)
        .env([("FLAMEWATCH_MAX_RECORDS_PER_MINUTE", "7")])
        .watch(WatchOptions::every(Duration::from_millis(10)).log_errors(false))
        .unwrap();
    assert!(handle.is_watching());
    assert!(!handle.load().enabled);
    let notified = Arc::new(AtomicU64::new(0));
    let seen_rate = Arc::new(AtomicU64::new(0));
    {
        let notified = Arc::clone(&notified);
        let seen_rate = Arc::clone(&seen_rate);
        handle.on_change(move |c| {
            seen_rate.store(c.sample_rate.to_bits(), Ordering::SeqCst);
            notified.fetch_add(1, Ordering::SeqCst);
        });
    }
    // A listener that panics does not stop the others or the watcher.
    handle.on_change(|_| panic!("listener failure"));

    // 1. A valid change, written in place (the watcher waits for the file to settle).
    std::fs::write(&path, "enabled: true\nsample_rate: 0.5\n").unwrap();
    wait_until("the first reload", || handle.load().sample_rate == 0.5);
    let g1 = handle.generation();
    assert!(g1 >= 1);
    let c = handle.load();
    assert!(c.enabled);
    assert_eq!(
        c.max_records_per_minute, 7,
        "environment overrides survive a reload"
    );
    wait_until("the listener", || notified.load(Ordering::SeqCst) == g1);
    assert_eq!(f64::from_bits(seen_rate.load(Ordering::SeqCst)), 0.5);

    // 2. An invalid change keeps the last good configuration and is reported.
    replace_file(&path, "enabled: true\nsample_rate: 1.5\n");
    wait_until("the rejected reload", || handle.reload_errors() == 1);
    assert_eq!(handle.load().sample_rate, 0.5);
    assert_eq!(handle.generation(), g1);
    assert_eq!(
        handle.last_error().unwrap(),
        format!(
            "{}:2: key `sample_rate`: must be between 0 and 1, found 1.5",
            path.display()
        )
    );
    // The same bad file is not re-reported while it does not change.
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(handle.reload_errors(), 1);

    // 3. Fixing the file applies it.
    replace_file(&path, "enabled: true\nsample_rate: 0.25\nmode: full\n");
    wait_until("the second reload", || handle.generation() == g1 + 1);
    assert_eq!(handle.load().sample_rate, 0.25);
    assert_eq!(handle.load().mode, Mode::Full);
    assert_eq!(handle.last_error(), None);

    // 4. A deleted file is an error too, and its return is picked up.
    std::fs::remove_file(&path).unwrap();
    wait_until("the missing file", || handle.reload_errors() == 2);
    assert!(
        handle
            .last_error()
            .unwrap()
            .starts_with("cannot read config file")
    );
    assert_eq!(handle.load().sample_rate, 0.25);
    replace_file(&path, "enabled: false\n");
    wait_until("the third reload", || handle.generation() == g1 + 2);
    assert!(!handle.load().enabled);

    // Dropping the last handle stops the watcher and frees the listeners.
    let probe = Arc::clone(&notified);
    assert!(Arc::strong_count(&probe) > 2);
    drop(handle);
    wait_until("the watcher to release the listeners", || {
        Arc::strong_count(&probe) == 2
    });
}

#[test]
fn reload_now_and_replace() {
    let dir = TempDir::new("reload-now");
    let path = dir.write("flamewatch.yml", "enabled: true\n");
    // A long interval: only explicit reloads happen during this test.
    let handle = Config::builder()
        .file(&path)
        .watch(WatchOptions::every(Duration::from_secs(3600)).log_errors(false))
        .unwrap();
    std::fs::write(&path, "enabled: true\nsample_rate: 0.2\n").unwrap();
    assert!(handle.reload_now().unwrap());
    assert_eq!(handle.load().sample_rate, 0.2);
    assert!(
        !handle.reload_now().unwrap(),
        "an unchanged file publishes nothing new"
    );

    std::fs::write(&path, "enabled: maybe\n").unwrap();
    let e = handle.reload_now().unwrap_err();
    assert_eq!(e.key(), Some("enabled"));
    assert_eq!(handle.reload_errors(), 1);
    assert_eq!(handle.load().sample_rate, 0.2);

    let mut next = (*handle.get()).clone();
    next.sample_rate = 3.0;
    assert!(handle.replace(next).is_err(), "replace validates");
    let fixed = ConfigHandle::new(Config::default());
    assert!(!fixed.is_watching());
    assert!(!fixed.reload_now().unwrap());
}

/// splitmix64: a small deterministic generator for the fuzz loop.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    ":",
    " ",
    "\n",
    "  ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "<<: ",
    "!!str ",
    "!tag ",
    "\"",
    "'",
    "|",
    ">",
    "#",
    "---\n",
    "...\n",
    "~",
    "null",
    "true",
    "yes",
    "1.5",
    "-3",
    ".inf",
    ".nan",
    "1e999",
    "18446744073709551616",
    "enabled",
    "sample_rate",
    "output",
    "type",
    "file",
    "thresholds",
    "regression",
    "severity",
    "\t",
    "\u{feff}",
    "é",
    "%YAML 1.2\n",
    "? ",
    "\\",
    "\r\n",
];

#[test]
fn fuzzed_yaml_never_panics_and_errors_stay_one_line() {
    let mut rng = Rng(0x00F1_A3E0_2026);
    let mut parsed = 0usize;
    for round in 0..4000 {
        let text = if round % 2 == 0 {
            // Mutate a valid configuration: flip, insert, delete or splice bytes.
            let mut bytes = FULL.as_bytes().to_vec();
            for _ in 0..1 + rng.below(6) {
                let at = rng.below(bytes.len().max(1));
                match rng.below(4) {
                    0 if !bytes.is_empty() => bytes[at] = rng.next() as u8,
                    1 => {
                        let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                        bytes.splice(at..at, t.iter().copied());
                    }
                    2 => {
                        let end = (at + rng.below(40)).min(bytes.len());
                        bytes.drain(at..end);
                    }
                    3 => bytes.truncate(at),
                    _ => bytes.clear(),
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            (0..rng.below(60))
                .map(|_| TOKENS[rng.below(TOKENS.len())])
                .collect()
        };
        match Config::from_yaml_str("fuzz.yml", &text) {
            Ok(mut c) => {
                parsed += 1;
                c.validate().expect("a loaded configuration is valid");
                // Whatever was accepted renders back to YAML that reads the same.
                c.api.token = None;
                let again = Config::from_yaml_str("rendered.yml", &c.to_yaml())
                    .unwrap_or_else(|e| panic!("rendered config rejected: {e}\n{}", c.to_yaml()));
                assert_eq!(again, c);
            }
            Err(e) => {
                let shown = e.to_string();
                assert!(
                    !shown.contains('\n'),
                    "multi-line error for {text:?}: {shown}"
                );
                assert!(shown.starts_with("fuzz.yml"), "{shown}");
            }
        }
        // Sections and environment values go through the same reader.
        let _ = Config::builder()
            .yaml_str("fuzz.yml", &text)
            .section("output")
            .build();
        let _ = Config::from_env([("FLAMEWATCH_SAMPLE_RATE", text.as_str())]);
    }
    assert!(parsed > 0, "some mutations stay valid");
}
