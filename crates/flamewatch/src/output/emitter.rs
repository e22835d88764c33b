//! The [`Emitter`]: decides which records are written, rate-limits them, and writes them to the
//! configured sink without ever panicking or failing into the host.
//!
//! It runs on the library's background thread, never on the instrumented call path. Order of
//! decisions for each record:
//!
//! 1. **threshold** — only calls slower than `thresholds.slow_call_ms` are emitted (and, at
//!    `level: detailed`, calls allocating more than `thresholds.memory_mb`); others are counted
//!    as below threshold;
//! 2. **discarding sinks** (`prometheus`, `none`) stop here;
//! 3. **rate limit** — a token bucket holding `max_records_per_minute` tokens, refilled
//!    continuously over a minute; a record finding it empty is dropped and counted in
//!    [`Emitter::dropped`] (statistics are never rate limited: this only concerns records);
//! 4. **write** — one serialized line through the [`Sink`]; a failure is counted, reported on
//!    standard error at most once a minute, and never propagated.

use super::prometheus::MetricFamily;
use super::{Discard, LogSink, OutputError, Record, RequestContext, RotatingFile, Sink};
use crate::config::{Config, Level, OutputKind};
use serde::Serialize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often write errors are reported on standard error, at most.
const ERROR_REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// The settings the emitter applies, taken from a [`Config`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EmitSettings {
    /// Calls at or below this many milliseconds are not emitted.
    pub slow_call_ms: f64,
    /// At `level: detailed`, calls allocating (or peaking) above this many bytes are emitted
    /// whatever their duration; `None` at `basic`.
    pub memory_bytes: Option<u64>,
    /// Token bucket size and refill per minute.
    pub max_records_per_minute: u32,
    /// Keep `metadata` in records.
    pub include_metadata: bool,
    /// Keep `stack` in records.
    pub include_stack_trace: bool,
    /// Keep `memory_bytes` / `peak_bytes` in records (`level: detailed`).
    pub detailed: bool,
}

impl EmitSettings {
    /// The emission settings of `config`.
    pub fn from_config(config: &Config) -> Self {
        let detailed = config.level == Level::Detailed;
        EmitSettings {
            slow_call_ms: config.thresholds.slow_call_ms,
            memory_bytes: detailed
                .then_some((config.thresholds.memory_mb * 1024.0 * 1024.0) as u64),
            max_records_per_minute: config.max_records_per_minute,
            include_metadata: config.include_metadata,
            include_stack_trace: config.include_stack_trace,
            detailed,
        }
    }

    /// Whether `record` passes the thresholds.
    pub fn selects(&self, record: &Record) -> bool {
        if record.duration_ms > self.slow_call_ms {
            return true;
        }
        match self.memory_bytes {
            Some(limit) => record
                .memory_bytes
                .max(record.peak_bytes)
                .is_some_and(|b| b > limit),
            None => false,
        }
    }
}

impl Default for EmitSettings {
    fn default() -> Self {
        EmitSettings::from_config(&Config::default())
    }
}

/// What happened to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emitted {
    /// Written to the sink.
    Written,
    /// Not slow (or large) enough to be emitted.
    BelowThreshold,
    /// The sink writes no records (`prometheus`, `none`).
    Discarded,
    /// Dropped by the rate limit.
    RateLimited,
    /// The sink failed; counted in [`EmitterStats::write_errors`].
    Failed,
}

/// Counters of an [`Emitter`], for self-metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmitterStats {
    /// Records written.
    pub emitted: u64,
    /// Records below the thresholds.
    pub below_threshold: u64,
    /// Records dropped by the rate limit.
    pub dropped: u64,
    /// Records lost to write errors.
    pub write_errors: u64,
}

impl EmitterStats {
    /// The counters as Prometheus families: `flamewatch_records_emitted_total`,
    /// `flamewatch_records_dropped_total` (by the rate limit),
    /// `flamewatch_records_below_threshold_total` and `flamewatch_record_write_errors_total`.
    pub fn metric_families(&self) -> Vec<MetricFamily> {
        vec![
            MetricFamily::counter(
                "flamewatch_records_emitted_total",
                "Records written to the output.",
            )
            .with_value(&[], self.emitted as f64),
            MetricFamily::counter(
                "flamewatch_records_dropped_total",
                "Records dropped by the max_records_per_minute rate limit.",
            )
            .with_value(&[], self.dropped as f64),
            MetricFamily::counter(
                "flamewatch_records_below_threshold_total",
                "Calls not emitted because they were faster than thresholds.slow_call_ms.",
            )
            .with_value(&[], self.below_threshold as f64),
            MetricFamily::counter(
                "flamewatch_record_write_errors_total",
                "Records lost because the output could not be written.",
            )
            .with_value(&[], self.write_errors as f64),
        ]
    }
}

/// Continuous token bucket: `capacity` tokens, refilled at `capacity` per minute.
#[derive(Debug)]
struct TokenBucket {
    capacity: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    fn new(per_minute: u32) -> Self {
        TokenBucket {
            capacity: f64::from(per_minute),
            tokens: f64::from(per_minute),
            last: None,
        }
    }

    fn resize(&mut self, per_minute: u32) {
        self.capacity = f64::from(per_minute);
        self.tokens = self.tokens.min(self.capacity);
    }

    fn take(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.capacity / 60.0).min(self.capacity);
        }
        if self.last.is_none_or(|l| now > l) {
            self.last = Some(now);
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Identifies the sink a configuration asks for, to reopen it only when it changes.
#[derive(Debug, Clone, PartialEq)]
struct SinkSpec {
    kind: OutputKind,
    path: Option<PathBuf>,
    max_bytes: u64,
    max_files: u32,
}

impl SinkSpec {
    fn of(config: &Config) -> Self {
        SinkSpec {
            kind: config.output.kind,
            path: config.output.path.clone(),
            max_bytes: config.output.max_bytes,
            max_files: config.output.max_files,
        }
    }

    fn open(&self) -> Result<Box<dyn Sink>, OutputError> {
        Ok(match self.kind {
            OutputKind::Log => Box::new(LogSink::stderr()),
            OutputKind::File => {
                let path = self.path.clone().ok_or(OutputError::MissingPath)?;
                Box::new(RotatingFile::open(path, self.max_bytes, self.max_files)?)
            }
            OutputKind::Prometheus => Box::new(Discard::prometheus()),
            OutputKind::None => Box::new(Discard::none()),
        })
    }
}

struct Inner {
    settings: EmitSettings,
    bucket: TokenBucket,
    sink: Box<dyn Sink>,
    spec: Option<SinkSpec>,
    buf: Vec<u8>,
    last_report: Option<Instant>,
    last_error: Option<String>,
}

/// Filters, rate-limits and writes records; safe to share between threads.
///
/// ```
/// use flamewatch::output::{EmitSettings, Emitted, Emitter, LogSink, Record};
/// use std::time::{Duration, SystemTime};
/// let emitter = Emitter::new(EmitSettings::default(), Box::new(LogSink::new(Vec::new())));
/// let fast = Record::new("a", Duration::from_millis(5), SystemTime::now());
/// let slow = Record::new("a", Duration::from_millis(900), SystemTime::now());
/// assert_eq!(emitter.emit(&fast), Emitted::BelowThreshold);
/// assert_eq!(emitter.emit(&slow), Emitted::Written);
/// assert_eq!(emitter.stats().emitted, 1);
/// ```
pub struct Emitter {
    inner: Mutex<Inner>,
    emitted: AtomicU64,
    below_threshold: AtomicU64,
    dropped: AtomicU64,
    write_errors: AtomicU64,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("stats", &self.stats())
            .finish()
    }
}

/// The serialized shape of a record once the settings are applied.
#[derive(Serialize)]
struct View<'a> {
    name: &'a str,
    duration_ms: f64,
    timestamp: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<&'a RequestContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stack: Option<&'a [String]>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Emitter {
    /// An emitter writing to `sink` with `settings`.
    pub fn new(settings: EmitSettings, sink: Box<dyn Sink>) -> Self {
        let bucket = TokenBucket::new(settings.max_records_per_minute);
        Emitter {
            inner: Mutex::new(Inner {
                settings,
                bucket,
                sink,
                spec: None,
                buf: Vec::with_capacity(512),
                last_report: None,
                last_error: None,
            }),
            emitted: AtomicU64::new(0),
            below_threshold: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
        }
    }

    /// The emitter `config` asks for: its thresholds, rate limit and `output.type` sink
    /// (opening the JSONL file for `file`).
    pub fn from_config(config: &Config) -> Result<Self, OutputError> {
        let spec = SinkSpec::of(config);
        let emitter = Emitter::new(EmitSettings::from_config(config), spec.open()?);
        lock(&emitter.inner).spec = Some(spec);
        Ok(emitter)
    }

    /// Applies a reloaded configuration. The sink is reopened only if the output settings
    /// changed (an emitter made with [`Emitter::new`] adopts the configured sink on its first
    /// reconfiguration); if the new sink cannot be opened, the old sink and settings stay in
    /// place.
    pub fn reconfigure(&self, config: &Config) -> Result<(), OutputError> {
        let spec = SinkSpec::of(config);
        let mut inner = lock(&self.inner);
        if inner.spec.as_ref() != Some(&spec) {
            let sink = spec.open()?;
            let _ = inner.sink.flush();
            inner.sink = sink;
            inner.spec = Some(spec);
        }
        let settings = EmitSettings::from_config(config);
        inner.bucket.resize(settings.max_records_per_minute);
        inner.settings = settings;
        Ok(())
    }

    /// Emits `record` now.
    pub fn emit(&self, record: &Record) -> Emitted {
        self.emit_at(record, Instant::now())
    }

    /// Emits `record` as if at `now` (drives the rate limit; tests use a synthetic clock).
    pub fn emit_at(&self, record: &Record, now: Instant) -> Emitted {
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        if !inner.settings.selects(record) {
            self.below_threshold.fetch_add(1, Ordering::Relaxed);
            return Emitted::BelowThreshold;
        }
        if inner.sink.discards() {
            return Emitted::Discarded;
        }
        if !inner.bucket.take(now) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Emitted::RateLimited;
        }
        let s = &inner.settings;
        let view = View {
            name: &record.name,
            duration_ms: record.duration_ms,
            timestamp: record.timestamp,
            metadata: record.metadata.as_ref().filter(|_| s.include_metadata),
            request: record.request.as_ref(),
            memory_bytes: record.memory_bytes.filter(|_| s.detailed),
            peak_bytes: record.peak_bytes.filter(|_| s.detailed),
            stack: record.stack.as_deref().filter(|_| s.include_stack_trace),
        };
        inner.buf.clear();
        let written = match serde_json::to_writer(&mut inner.buf, &view) {
            Ok(()) => {
                inner.buf.push(b'\n');
                let (sink, buf) = (&mut inner.sink, &inner.buf);
                match catch_unwind(AssertUnwindSafe(|| sink.write_line(buf))) {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(format!(
                        "cannot write record to the {} output: {e}",
                        sink.kind()
                    )),
                    Err(_) => Err(format!(
                        "the {} output panicked while writing a record",
                        sink.kind()
                    )),
                }
            }
            Err(e) => Err(format!("cannot serialize record `{}`: {e}", record.name)),
        };
        match written {
            Ok(()) => {
                self.emitted.fetch_add(1, Ordering::Relaxed);
                Emitted::Written
            }
            Err(message) => {
                let errors = self.write_errors.fetch_add(1, Ordering::Relaxed) + 1;
                if inner
                    .last_report
                    .is_none_or(|t| now.saturating_duration_since(t) >= ERROR_REPORT_INTERVAL)
                {
                    inner.last_report = Some(now);
                    eprintln!("flamewatch: {message} ({errors} records lost so far)");
                }
                inner.last_error = Some(message);
                Emitted::Failed
            }
        }
    }

    /// Flushes the sink; errors are counted like write errors.
    pub fn flush(&self) {
        let mut inner = lock(&self.inner);
        if inner.sink.flush().is_err() {
            self.write_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records dropped by the rate limit so far (lock-free read for self-metrics).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// All counters (lock-free reads).
    pub fn stats(&self) -> EmitterStats {
        EmitterStats {
            emitted: self.emitted.load(Ordering::Relaxed),
            below_threshold: self.below_threshold.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
        }
    }

    /// The last write error, if any.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.inner).last_error.clone()
    }

    /// The `output.type` of the current sink.
    pub fn sink_kind(&self) -> &'static str {
        lock(&self.inner).sink.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_over_a_minute() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(60);
        assert!((0..60).all(|_| b.take(t0)));
        assert!(!b.take(t0));
        assert!(!b.take(t0 + Duration::from_millis(500)));
        assert!(b.take(t0 + Duration::from_millis(1000)));
        assert!(!b.take(t0 + Duration::from_millis(1000)));
        // A long pause refills to capacity, not beyond.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..100).filter(|_| b.take(later)).count(), 60);
    }

    #[test]
    fn zero_rate_drops_everything() {
        let mut b = TokenBucket::new(0);
        assert!(!b.take(Instant::now()));
    }
}
