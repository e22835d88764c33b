//! Output formats, one module each behind the [`Exporter`] trait.
//!
//! The JSON document ([`Document`], `"version": 1`) is also the baseline format read back by
//! `--compare`: it keeps every raw per-run value, the summaries derived from them, the
//! environment fingerprint and the harness overhead. Markdown and CSV are views of it.

pub mod csv;
pub mod json;
pub mod markdown;

use crate::Metric;
use crate::ab::PairedChange;
use crate::compare::Comparison;
use crate::env::Environment;
use crate::runner::{BenchResult, Overhead, Session};
use crate::stats::Summary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Current schema version of [`Document`].
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON document: a session plus any comparisons made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    /// Schema version (1).
    pub version: u32,
    /// Always `"flamewatch bench"`.
    pub tool: String,
    /// Machine and repository fingerprint.
    pub environment: Environment,
    /// Harness overhead.
    #[serde(default)]
    pub overhead: Option<Overhead>,
    /// One entry per command.
    pub benchmarks: Vec<BenchEntry>,
    /// Baseline comparisons (`--compare`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comparisons: Vec<Comparison>,
    /// Paired A/B changes against the first command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ab: Vec<PairedChange>,
}

/// One benchmark: its raw result plus derived summaries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchEntry {
    /// Raw result (name, command, runs…).
    #[serde(flatten)]
    pub result: BenchResult,
    /// Per-metric summary of the counted runs.
    #[serde(default)]
    pub summary: BTreeMap<Metric, Summary>,
}

impl Document {
    /// Builds a document from a session.
    pub fn new(session: &Session) -> Document {
        Document {
            version: SCHEMA_VERSION,
            tool: "flamewatch bench".into(),
            environment: session.environment.clone(),
            overhead: session.overhead.clone(),
            benchmarks: session
                .benchmarks
                .iter()
                .map(|r| BenchEntry {
                    summary: Metric::ALL
                        .into_iter()
                        .filter_map(|m| r.summary(m).map(|s| (m, s)))
                        .collect(),
                    result: r.clone(),
                })
                .collect(),
            comparisons: Vec::new(),
            ab: Vec::new(),
        }
    }

    /// The benchmark called `name`, or the only one when there is exactly one.
    pub fn find(&self, name: &str) -> Option<&BenchResult> {
        self.benchmarks
            .iter()
            .map(|b| &b.result)
            .find(|b| b.name == name)
            .or_else(|| (self.benchmarks.len() == 1).then(|| &self.benchmarks[0].result))
    }
}

/// Renders a document in one format.
pub trait Exporter {
    /// File extension without the dot.
    fn extension(&self) -> &'static str;
    /// The rendered text.
    fn render(&self, doc: &Document) -> String;
}

/// Picks the exporter for a file name by extension (`.json`, `.md`, `.csv`).
pub fn exporter_for(path: &std::path::Path) -> Option<Box<dyn Exporter>> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("json") => Some(Box::new(json::Json)),
        Some("md" | "markdown") => Some(Box::new(markdown::Markdown)),
        Some("csv") => Some(Box::new(csv::Csv)),
        _ => None,
    }
}

/// Writes `doc` to `path` with `exporter`, atomically (temporary file then rename).
pub fn write(doc: &Document, exporter: &dyn Exporter, path: &std::path::Path) -> crate::Result<()> {
    let text = exporter.render(doc);
    let err = |e: std::io::Error| crate::Error::File {
        path: path.display().to_string(),
        reason: format!("cannot write: {e}"),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension(format!("{}.tmp", exporter.extension()));
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Reads a JSON document (a baseline).
pub fn read(path: &std::path::Path) -> crate::Result<Document> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::Error::File {
        path: path.display().to_string(),
        reason: format!("cannot read baseline: {e} (create one with --save)"),
    })?;
    json::parse(&text).map_err(|reason| crate::Error::File {
        path: path.display().to_string(),
        reason,
    })
}
