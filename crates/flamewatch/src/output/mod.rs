//! Outputs: the per-call [`Record`], the sinks records are written to, the [`Emitter`] that
//! filters and rate-limits them, and the Prometheus text exposition encoder.
//!
//! # Record schema (version 1)
//!
//! One JSON object per line (SPEC §2.4). Fields, in order:
//!
//! | field | type | when |
//! |---|---|---|
//! | `name` | string | always: dotted function or span name |
//! | `duration_ms` | number | always: wall time in milliseconds |
//! | `timestamp` | number | always: end of the call, Unix seconds from the system clock |
//! | `metadata` | object | when `include_metadata` is true and metadata was attached |
//! | `request` | object | inside a sampled request: see [`RequestContext`] |
//! | `memory_bytes`, `peak_bytes` | integers | at `level: detailed` |
//! | `stack` | array of strings | when `include_stack_trace`: enclosing spans, outermost first |
//!
//! ```json
//! {"name":"search.embed","duration_ms":612.5,"timestamp":1767225600.25,"metadata":{"shard":3}}
//! ```
//!
//! # Sinks
//!
//! Each `output.type` is one module behind the [`Sink`] trait: [`log`] writes lines to
//! standard error (or any writer), [`file`](mod@file) appends JSONL with size-based rotation,
//! and `prometheus` / `none` write no records ([`Discard`]); for `prometheus` the application
//! serves the text produced by [`prometheus::encode`].

pub mod emitter;
pub mod file;
pub mod log;
pub mod prometheus;

pub use emitter::{EmitSettings, Emitted, Emitter, EmitterStats};
pub use file::RotatingFile;
pub use log::LogSink;

use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One profiled call as emitted to the `log` and `file` outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Dotted name of the function or span (`search.embed`).
    pub name: String,
    /// Wall time of the call in milliseconds.
    pub duration_ms: f64,
    /// When the call ended, in Unix seconds (fractional), from [`SystemTime`].
    pub timestamp: f64,
    /// Free-form metadata; dropped when `include_metadata` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Context of the request the call ran in, when it ran inside a sampled request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestContext>,
    /// Bytes allocated during the call (`level: detailed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Peak bytes live during the call (`level: detailed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_bytes: Option<u64>,
    /// Enclosing span names, outermost first, ending with this call (`include_stack_trace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Vec<String>>,
}

impl Record {
    /// A record for a call named `name` that took `duration` and ended at `ended`.
    ///
    /// ```
    /// use flamewatch::output::Record;
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let r = Record::new("db.query", Duration::from_micros(1500), UNIX_EPOCH + Duration::from_millis(2500));
    /// assert_eq!(r.duration_ms, 1.5);
    /// assert_eq!(r.timestamp, 2.5);
    /// assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"name":"db.query","duration_ms":1.5,"timestamp":2.5}"#);
    /// ```
    pub fn new(name: impl Into<String>, duration: Duration, ended: SystemTime) -> Self {
        Record {
            name: name.into(),
            duration_ms: duration.as_secs_f64() * 1000.0,
            timestamp: unix_seconds(ended),
            metadata: None,
            request: None,
            memory_bytes: None,
            peak_bytes: None,
            stack: None,
        }
    }
}

/// Unix time in fractional seconds; negative before 1970.
pub fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The request a recorded call ran in (SPEC §2.2): route template, never the raw path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestContext {
    /// HTTP method (`GET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Route template (`/users/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Response status code, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// User id from the configured header or request extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Request id, for correlation with logs and traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Whether the request was sampled for deep tracing.
    #[serde(default)]
    pub sampled: bool,
}

/// Where emitted records go: one implementation per `output.type`.
///
/// The [`Emitter`] serializes each record once and hands the sink a complete line ending in
/// `\n`; a sink must write it with a single `write_all` so that a line is never interleaved
/// with another.
pub trait Sink: Send {
    /// The `output.type` name of this sink (`"file"`).
    fn kind(&self) -> &'static str;
    /// Writes one complete JSON line, newline included.
    fn write_line(&mut self, line: &[u8]) -> io::Result<()>;
    /// Flushes buffered data, if any.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Whether this sink throws records away (then the emitter skips serializing them).
    fn discards(&self) -> bool {
        false
    }
}

/// The `prometheus` and `none` outputs: records are not written anywhere.
#[derive(Debug, Clone, Copy)]
pub struct Discard {
    kind: &'static str,
}

impl Discard {
    /// The `none` output.
    pub fn none() -> Self {
        Discard { kind: "none" }
    }

    /// The `prometheus` output (records are not written; the application serves metrics).
    pub fn prometheus() -> Self {
        Discard { kind: "prometheus" }
    }
}

impl Sink for Discard {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn write_line(&mut self, _line: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn discards(&self) -> bool {
        true
    }
}

/// Errors setting up an output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The JSONL file (or its directory) could not be opened or created.
    #[error("cannot open output file {}: {source}; check `output.path` and its directory's permissions", path.display())]
    Open {
        /// The file at fault.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// `output.type: file` without `output.path`.
    #[error("`output.type: file` needs `output.path`")]
    MissingPath,
    /// A Prometheus metric family or label that cannot be written in the text format.
    #[error("invalid metric {what} `{name}`: {reason}")]
    InvalidMetric {
        /// `"name"` or `"label name"`.
        what: &'static str,
        /// The offending name.
        name: String,
        /// Why it is rejected.
        reason: String,
    },
}
