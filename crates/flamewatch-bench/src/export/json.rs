//! JSON export (schema version 1), the baseline format.
//!
//! Top level: `version`, `tool`, `environment` (host, kernel, cpu_model, cores, load_1m,
//! git_commit, git_dirty, git_branch, timestamp), `overhead` (median wall and CPU seconds of a
//! trivial spawn), `benchmarks[]` (name, command {argv, display, shell}, warmup, `runs[]` with
//! `values` (one key per metric in base units — seconds, bytes, counts) and `exit_code`, rss_source,
//! rss_floor, warnings, `summary` per metric), and optionally `comparisons[]` and `ab[]`.
//! Unbounded interval ends are `null`.

use super::{Document, Exporter, SCHEMA_VERSION};

/// The JSON exporter.
pub struct Json;

impl Exporter for Json {
    fn extension(&self) -> &'static str {
        "json"
    }

    fn render(&self, doc: &Document) -> String {
        let mut s = serde_json::to_string_pretty(doc).unwrap_or_else(|_| "{}".into());
        s.push('\n');
        s
    }
}

/// Parses a document, checking the schema version.
pub fn parse(text: &str) -> Result<Document, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    match v.get("version").and_then(|v| v.as_u64()) {
        Some(n) if n == u64::from(SCHEMA_VERSION) => {}
        Some(n) => {
            return Err(format!(
                "schema version {n} is not supported (this flamewatch reads version {SCHEMA_VERSION})"
            ));
        }
        None => return Err("not a flamewatch bench result (no \"version\")".into()),
    }
    serde_json::from_value(v).map_err(|e| format!("malformed flamewatch bench result: {e}"))
}
