//! Renders a [`Config`] back to YAML, one commented line per key.
//!
//! `flamewatch.yml` files are best started from the documented defaults
//! ([`Config::documented_defaults`]); the output parses back to the same configuration (the
//! API token excepted, which is never written in clear).

use super::Config;
use super::schema::FIELDS;
use std::fmt::Write as _;

/// One-line description of each key, written as a YAML comment.
fn doc(key: &str) -> &'static str {
    match key {
        "enabled" => "off = NoOp: no clock reads, no allocation",
        "mode" => "sampling | full (every request traced)",
        "level" => "basic timing | detailed (timing + allocation bytes and peak per span)",
        "targets" => "dotted name prefixes to profile; empty = everything",
        "sample_rate" => "fraction of requests traced in sampling mode, 0..1",
        "thresholds.slow_call_ms" => "only calls slower than this are emitted as records",
        "thresholds.memory_mb" => "at detailed level, also emit calls allocating more than this",
        "output.type" => "log (JSON on stderr) | file (JSONL) | prometheus | none",
        "output.path" => "JSONL file for output.type file",
        "output.max_bytes" => "rotate the JSONL file at this size (bytes, or 64MiB, 1GB…)",
        "output.max_files" => "rotated files kept: path.1 … path.N",
        "max_records_per_minute" => "rate limit on emitted records (statistics are never limited)",
        "include_metadata" => "attach metadata to records",
        "include_stack_trace" => "attach the span stack to records",
        "anomaly.sigma" => "a call above mean + sigma·σ is an anomaly",
        "anomaly.min_samples" => "calibration: nothing is reported for a key with fewer samples",
        "regression.threshold_pct" => {
            "slowdown (%) beyond which a significant change is a regression"
        }
        "regression.severity.low" => "LOW from this slowdown (%)",
        "regression.severity.medium" => "MEDIUM from this slowdown (%)",
        "regression.severity.high" => "HIGH from this slowdown (%)",
        "regression.severity.critical" => "CRITICAL above this slowdown (%)",
        "api.bind" => "management API address (loopback by default)",
        "api.prefix" => "path prefix of the management API",
        "api.token" => "bearer token required by the API (~ = none)",
        "overhead.max_pct" => "back off deep tracing above this self-overhead (%)",
        "trigger.p95_ms" => "trace 100% when an endpoint's P95 exceeds this (~ = off)",
        "trigger.duration_s" => "how long a triggered capture lasts",
        "trigger.cooldown_s" => "quiet time between triggered captures",
        "limits.max_keys" => "most distinct keys; more are folded into _other",
        "window.seconds" => "length of one statistics window",
        "window.count" => "windows kept in the ring",
        _ => "",
    }
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "~".to_owned(),
        // JSON strings, numbers, booleans and arrays of strings are valid YAML flow values.
        other => other.to_string(),
    }
}

/// Renders `config` as YAML with a comment on every key.
pub(crate) fn to_yaml(config: &Config) -> String {
    let value = serde_json::to_value(config).unwrap_or(serde_json::Value::Null);
    let mut out = String::new();
    let mut open: Vec<&str> = Vec::new();
    for field in FIELDS {
        let parts: Vec<&str> = field.key.split('.').collect();
        let (sections, leaf) = parts.split_at(parts.len() - 1);
        let common = open
            .iter()
            .zip(sections)
            .take_while(|(a, b)| a == b)
            .count();
        open.truncate(common);
        for (depth, section) in sections.iter().enumerate().skip(common) {
            let _ = writeln!(out, "{}{section}:", "  ".repeat(depth));
            open.push(section);
        }
        let mut v = &value;
        for p in &parts {
            v = v.get(p).unwrap_or(&serde_json::Value::Null);
        }
        let _ = writeln!(
            out,
            "{}{}: {}  # {}",
            "  ".repeat(sections.len()),
            leaf[0],
            scalar(v),
            doc(field.key)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_defaults_parse_back_and_document_every_key() {
        let text = Config::documented_defaults();
        assert_eq!(
            Config::from_yaml_str("defaults.yml", &text).unwrap(),
            Config::default()
        );
        for f in FIELDS {
            assert!(!doc(f.key).is_empty(), "{} has no description", f.key);
        }
        assert_eq!(
            text.lines().filter(|l| l.contains("  # ")).count(),
            FIELDS.len()
        );
        assert!(text.contains("regression:\n  threshold_pct: 20.0  # "));
        assert!(text.contains("  severity:\n    low: 10.0  # "));
    }
}
