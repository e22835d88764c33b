//! CSV export: one row per counted run, one column per metric (base units).

use super::{Document, Exporter};
use crate::Metric;

/// The CSV exporter.
pub struct Csv;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.into()
    }
}

impl Exporter for Csv {
    fn extension(&self) -> &'static str {
        "csv"
    }

    fn render(&self, doc: &Document) -> String {
        let mut s = String::from("name,run,exit_code");
        for m in Metric::ALL {
            s.push(',');
            s.push_str(m.key());
        }
        s.push('\n');
        for b in &doc.benchmarks {
            for (i, r) in b.result.runs.iter().enumerate() {
                s.push_str(&format!(
                    "{},{},{}",
                    field(&b.result.name),
                    i + 1,
                    r.exit_code.map_or(String::new(), |c| c.to_string())
                ));
                for m in Metric::ALL {
                    s.push(',');
                    let v = r.get(m);
                    if v.is_finite() {
                        s.push_str(&format!("{v}"));
                    }
                }
                s.push('\n');
            }
        }
        s
    }
}
