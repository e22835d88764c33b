//! A dependency-free encoder for the Prometheus text exposition format (version 0.0.4).
//!
//! The caller describes [`MetricFamily`]s (counter, gauge, summary, histogram) and [`encode`]
//! renders them with `# HELP` and `# TYPE` lines, escaped label values, `quantile` labels plus
//! `_sum` / `_count` for summaries and cumulative `le` buckets for histograms. Names are checked
//! against the format's grammar, so a bad name is an error here rather than a scrape failure.
//! Conventions used by flamewatch: names start with `flamewatch_`, durations are in seconds
//! (`_seconds`), counters end in `_total`.
//!
//! ```
//! use flamewatch::output::prometheus::{MetricFamily, encode};
//! let calls = MetricFamily::counter("flamewatch_function_calls_total", "Calls of profiled functions.")
//!     .with_value(&[("function", "db.query")], 42.0);
//! let text = encode(&[calls]).unwrap();
//! let lines: Vec<&str> = text.lines().collect();
//! assert_eq!(lines, [
//!     "# HELP flamewatch_function_calls_total Calls of profiled functions.",
//!     "# TYPE flamewatch_function_calls_total counter",
//!     "flamewatch_function_calls_total{function=\"db.query\"} 42.0",
//! ]);
//! ```

use super::OutputError;
use std::collections::HashSet;
use std::fmt::Write as _;

/// The `Content-Type` of the text exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The four metric types flamewatch exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Monotonic total.
    Counter,
    /// Value that goes up and down.
    Gauge,
    /// Precomputed quantiles plus sum and count.
    Summary,
    /// Cumulative buckets plus sum and count (mergeable across instances).
    Histogram,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Summary => "summary",
            MetricType::Histogram => "histogram",
        }
    }
}

/// The value of one labelled metric.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// A counter or gauge value.
    Single(f64),
    /// A summary: `(quantile, value)` pairs, sum and count.
    Summary {
        /// `(quantile in 0..=1, value)` pairs.
        quantiles: Vec<(f64, f64)>,
        /// Sum of observations.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
    /// A histogram: `(upper bound, cumulative count)` pairs (the `+Inf` bucket is added from
    /// `count`), sum and count.
    Histogram {
        /// `(le, cumulative count)` in increasing `le`.
        buckets: Vec<(f64, u64)>,
        /// Sum of observations.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
}

/// One labelled metric of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Label pairs, in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: MetricValue,
}

/// A metric family: one name, help text, type, and its labelled metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// Family name (`flamewatch_function_duration_seconds`).
    pub name: String,
    /// One-line description.
    pub help: String,
    /// The type.
    pub kind: MetricType,
    /// The labelled metrics.
    pub metrics: Vec<Metric>,
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl MetricFamily {
    /// An empty family of type `kind`.
    pub fn new(name: &str, help: &str, kind: MetricType) -> Self {
        MetricFamily {
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            metrics: Vec::new(),
        }
    }

    /// An empty counter family.
    pub fn counter(name: &str, help: &str) -> Self {
        MetricFamily::new(name, help, MetricType::Counter)
    }

    /// An empty gauge family.
    pub fn gauge(name: &str, help: &str) -> Self {
        MetricFamily::new(name, help, MetricType::Gauge)
    }

    /// An empty summary family.
    pub fn summary(name: &str, help: &str) -> Self {
        MetricFamily::new(name, help, MetricType::Summary)
    }

    /// An empty histogram family.
    pub fn histogram(name: &str, help: &str) -> Self {
        MetricFamily::new(name, help, MetricType::Histogram)
    }

    /// Adds a counter or gauge value.
    pub fn with_value(mut self, label_pairs: &[(&str, &str)], value: f64) -> Self {
        self.metrics.push(Metric {
            labels: labels(label_pairs),
            value: MetricValue::Single(value),
        });
        self
    }

    /// Adds a summary.
    pub fn with_summary(
        mut self,
        label_pairs: &[(&str, &str)],
        quantiles: &[(f64, f64)],
        sum: f64,
        count: u64,
    ) -> Self {
        self.metrics.push(Metric {
            labels: labels(label_pairs),
            value: MetricValue::Summary {
                quantiles: quantiles.to_vec(),
                sum,
                count,
            },
        });
        self
    }

    /// Adds a histogram from cumulative buckets.
    pub fn with_histogram(
        mut self,
        label_pairs: &[(&str, &str)],
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) -> Self {
        self.metrics.push(Metric {
            labels: labels(label_pairs),
            value: MetricValue::Histogram {
                buckets: buckets.to_vec(),
                sum,
                count,
            },
        });
        self
    }
}

/// Per-function statistics to expose, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionStats<'a> {
    /// Dotted function name (the `function` label).
    pub name: &'a str,
    /// Exact number of calls.
    pub calls: u64,
    /// Number of timed (sampled) calls behind the quantiles and the sum.
    pub sampled: u64,
    /// Sum of the sampled durations, in seconds.
    pub sum_seconds: f64,
    /// `(quantile, seconds)` pairs such as `(0.5, 0.004)`, `(0.99, 0.120)`.
    pub quantiles: &'a [(f64, f64)],
}

/// The standard flamewatch families for per-function statistics:
/// `flamewatch_function_duration_seconds` (summary over sampled calls) and
/// `flamewatch_function_calls_total` (exact calls).
pub fn function_families(functions: &[FunctionStats<'_>]) -> Vec<MetricFamily> {
    let mut duration = MetricFamily::summary(
        "flamewatch_function_duration_seconds",
        "Wall time of sampled calls of profiled functions, in seconds.",
    );
    let mut calls = MetricFamily::counter(
        "flamewatch_function_calls_total",
        "Calls of profiled functions, sampled or not.",
    );
    for f in functions {
        duration = duration.with_summary(
            &[("function", f.name)],
            f.quantiles,
            f.sum_seconds,
            f.sampled,
        );
        calls = calls.with_value(&[("function", f.name)], f.calls as f64);
    }
    vec![duration, calls]
}

/// Renders `families` in the text exposition format.
pub fn encode(families: &[MetricFamily]) -> Result<String, OutputError> {
    let mut out = String::new();
    write_text(families, &mut out)?;
    Ok(out)
}

/// Appends `families` in the text exposition format to `out`. On error `out` may hold a
/// partial exposition and must not be served.
pub fn write_text(families: &[MetricFamily], out: &mut String) -> Result<(), OutputError> {
    let mut seen_names = HashSet::new();
    for family in families {
        check_metric_name(&family.name)?;
        if !seen_names.insert(family.name.as_str()) {
            return Err(invalid(
                "name",
                &family.name,
                "the family appears twice; merge its metrics",
            ));
        }
        let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(&family.help));
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.as_str());
        let mut seen_labels = HashSet::new();
        for metric in &family.metrics {
            for (name, _) in &metric.labels {
                check_label_name(name)?;
                let reserved = match family.kind {
                    MetricType::Summary => name == "quantile",
                    MetricType::Histogram => name == "le",
                    _ => false,
                };
                if reserved {
                    return Err(invalid(
                        "label name",
                        name,
                        "is reserved for this metric type",
                    ));
                }
            }
            let base = render_labels(&metric.labels, None);
            if !seen_labels.insert(base.clone()) {
                return Err(invalid(
                    "name",
                    &family.name,
                    &format!("two metrics have the same labels {{{base}}}"),
                ));
            }
            match (&metric.value, family.kind) {
                (MetricValue::Single(v), MetricType::Counter | MetricType::Gauge) => {
                    sample(out, &family.name, "", &base, *v);
                }
                (
                    MetricValue::Summary {
                        quantiles,
                        sum,
                        count,
                    },
                    MetricType::Summary,
                ) => {
                    for (q, v) in quantiles {
                        let l = render_labels(&metric.labels, Some(("quantile", format_value(*q))));
                        sample(out, &family.name, "", &l, *v);
                    }
                    sample(out, &family.name, "_sum", &base, *sum);
                    sample(out, &family.name, "_count", &base, *count as f64);
                }
                (
                    MetricValue::Histogram {
                        buckets,
                        sum,
                        count,
                    },
                    MetricType::Histogram,
                ) => {
                    for (le, c) in buckets.iter().filter(|(le, _)| le.is_finite()) {
                        let l = render_labels(&metric.labels, Some(("le", format_value(*le))));
                        sample(out, &family.name, "_bucket", &l, *c as f64);
                    }
                    let l = render_labels(&metric.labels, Some(("le", "+Inf".to_owned())));
                    sample(out, &family.name, "_bucket", &l, *count as f64);
                    sample(out, &family.name, "_sum", &base, *sum);
                    sample(out, &family.name, "_count", &base, *count as f64);
                }
                _ => {
                    return Err(invalid(
                        "name",
                        &family.name,
                        &format!(
                            "a {} family holds a value of another type",
                            family.kind.as_str()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn invalid(what: &'static str, name: &str, reason: &str) -> OutputError {
    OutputError::InvalidMetric {
        what,
        name: name.to_owned(),
        reason: reason.to_owned(),
    }
}

fn sample(out: &mut String, name: &str, suffix: &str, labels: &str, value: f64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name}{suffix} {}", format_value(value));
    } else {
        let _ = writeln!(out, "{name}{suffix}{{{labels}}} {}", format_value(value));
    }
}

fn render_labels(labels: &[(String, String)], extra: Option<(&str, String)>) -> String {
    let mut s = String::new();
    let extra = extra.map(|(k, v)| (k.to_owned(), v));
    for (k, v) in labels.iter().chain(extra.iter()) {
        if !s.is_empty() {
            s.push(',');
        }
        let _ = write!(s, "{k}=\"{}\"", escape_label_value(v));
    }
    s
}

/// Formats a sample value as Go's `ParseFloat` reads it (`NaN`, `+Inf`, `-Inf`, `1e-7`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v:?}")
    }
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn escape_help(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn check_metric_name(name: &str) -> Result<(), OutputError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(invalid("name", name, "must match [a-zA-Z_:][a-zA-Z0-9_:]*"))
    }
}

fn check_label_name(name: &str) -> Result<(), OutputError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__");
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "label name",
            name,
            "must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __",
        ))
    }
}

/// Turns an arbitrary name into a valid metric name fragment (`db.query-v2` → `db_query_v2`).
pub fn sanitize_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_renders_quantiles_sum_and_count() {
        let f = MetricFamily::summary("flamewatch_function_duration_seconds", "Wall time.")
            .with_summary(
                &[("function", "a\"b\\c\nd")],
                &[(0.5, 0.004), (0.99, 0.25)],
                1.5,
                300,
            );
        let text = encode(&[f]).unwrap();
        assert_eq!(
            text,
            "# HELP flamewatch_function_duration_seconds Wall time.\n\
             # TYPE flamewatch_function_duration_seconds summary\n\
             flamewatch_function_duration_seconds{function=\"a\\\"b\\\\c\\nd\",quantile=\"0.5\"} 0.004\n\
             flamewatch_function_duration_seconds{function=\"a\\\"b\\\\c\\nd\",quantile=\"0.99\"} 0.25\n\
             flamewatch_function_duration_seconds_sum{function=\"a\\\"b\\\\c\\nd\"} 1.5\n\
             flamewatch_function_duration_seconds_count{function=\"a\\\"b\\\\c\\nd\"} 300.0\n"
        );
    }

    #[test]
    fn histogram_adds_the_inf_bucket() {
        let f = MetricFamily::histogram("flamewatch_x_seconds", "x").with_histogram(
            &[],
            &[(0.1, 3), (1.0, 5)],
            2.0,
            6,
        );
        let text = encode(&[f]).unwrap();
        assert!(text.contains("flamewatch_x_seconds_bucket{le=\"0.1\"} 3.0\n"));
        assert!(text.contains("flamewatch_x_seconds_bucket{le=\"+Inf\"} 6.0\n"));
        assert!(text.ends_with("flamewatch_x_seconds_count 6.0\n"));
    }

    #[test]
    fn bad_names_and_duplicates_are_errors() {
        assert!(encode(&[MetricFamily::gauge("1bad", "h")]).is_err());
        assert!(
            encode(&[MetricFamily::gauge("ok", "h").with_value(&[("__x", "v")], 1.0)]).is_err()
        );
        assert!(
            encode(&[MetricFamily::gauge("ok", "h")
                .with_value(&[("a", "v")], 1.0)
                .with_value(&[("a", "v")], 2.0)])
            .is_err()
        );
        assert!(encode(&[MetricFamily::summary("ok", "h").with_value(&[], 1.0)]).is_err());
        assert!(
            encode(&[MetricFamily::summary("ok", "h").with_summary(
                &[("quantile", "x")],
                &[],
                0.0,
                0
            )])
            .is_err()
        );
        assert!(
            encode(&[
                MetricFamily::gauge("ok", "h"),
                MetricFamily::gauge("ok", "h")
            ])
            .is_err()
        );
    }

    #[test]
    fn values_use_prometheus_spellings() {
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(-f64::INFINITY), "-Inf");
        assert_eq!(format_value(1e-7), "1e-7");
        assert_eq!(sanitize_name("db.query-v2"), "db_query_v2");
        assert_eq!(sanitize_name("9x"), "_9x");
    }
}
