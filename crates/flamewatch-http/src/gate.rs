//! The deploy gate: turns comparisons of recent behaviour with a baseline into a verdict.
//!
//! A change counts when it is significant (one-sided Welch p-value below the regression
//! detector's `alpha`) and at least `LOW` on the shared severity scale. Then: severity at or
//! above `block_on` (default `HIGH`) → `block`; `MEDIUM` (below `block_on`) → `warn` unless
//! acknowledged; anything lower is reported only.

use flamewatch_core::detect::Comparison;
use flamewatch_core::severity::Severity;
use serde::Serialize;
use std::collections::BTreeSet;

/// The gate's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing blocks and nothing needs acknowledgment.
    Pass,
    /// A `MEDIUM` change needs acknowledgment.
    Warn,
    /// A change at or above `block_on`.
    Block,
}

/// What a finding does to the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Blocks.
    Block,
    /// Warns until acknowledged.
    Warn,
    /// Reported only (LOW, or acknowledged).
    Report,
}

/// Whether a finding is about a profiled function or an HTTP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A `#[profiled]` function or span.
    Function,
    /// An HTTP endpoint (`METHOD route`).
    Endpoint,
}

/// One significant change.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Function or endpoint.
    pub kind: Kind,
    /// Function name or `METHOD route`; the key to acknowledge.
    pub key: String,
    /// Severity on the shared scale.
    pub severity: Severity,
    /// Change of the mean in percent.
    pub change_pct: f64,
    /// Baseline mean.
    pub baseline_mean_ms: f64,
    /// Recent mean.
    pub recent_mean_ms: f64,
    /// Samples in the baseline.
    pub baseline_samples: u64,
    /// Samples in the recent window.
    pub recent_samples: u64,
    /// One-sided p-value of the slowdown.
    pub p_value: f64,
    /// Whether the key was acknowledged.
    pub acknowledged: bool,
    /// Its effect on the verdict.
    pub action: Action,
}

/// The gate's report (`GET /gate`), schema version 1.
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    /// Schema version.
    pub version: u32,
    /// `pass`, `warn` or `block`.
    pub verdict: Verdict,
    /// The frozen baseline compared against, or `null` for the calibrated history.
    pub baseline: Option<String>,
    /// Lowest severity that blocks.
    pub block_on: Severity,
    /// Functions and endpoints with enough samples on both sides to compare.
    pub compared: usize,
    /// One line per reason for the verdict.
    pub reasons: Vec<String>,
    /// Significant changes, worst first.
    pub findings: Vec<Finding>,
}

/// Classifies `comparisons` into a report.
pub fn evaluate(
    comparisons: &[(Kind, String, Comparison)],
    baseline: Option<&str>,
    block_on: Severity,
    alpha: f64,
    acks: &BTreeSet<String>,
) -> GateReport {
    let block_on = block_on.max(Severity::Low);
    let mut findings: Vec<Finding> = comparisons
        .iter()
        .filter(|(_, _, c)| c.p_value < alpha && c.severity >= Severity::Low)
        .map(|(kind, key, c)| {
            let acknowledged = acks.contains(key);
            let action = if c.severity >= block_on {
                Action::Block
            } else if c.severity >= Severity::Medium && !acknowledged {
                Action::Warn
            } else {
                Action::Report
            };
            Finding {
                kind: *kind,
                key: key.clone(),
                severity: c.severity,
                change_pct: c.change_pct,
                baseline_mean_ms: c.baseline_mean_ns / 1e6,
                recent_mean_ms: c.recent_mean_ns / 1e6,
                baseline_samples: c.baseline_samples,
                recent_samples: c.recent_samples,
                p_value: c.p_value,
                acknowledged,
                action,
            }
        })
        .collect();
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.change_pct.total_cmp(&a.change_pct))
    });
    let verdict = if findings.iter().any(|f| f.action == Action::Block) {
        Verdict::Block
    } else if findings.iter().any(|f| f.action == Action::Warn) {
        Verdict::Warn
    } else {
        Verdict::Pass
    };
    let mut reasons: Vec<String> = findings
        .iter()
        .map(|f| {
            let what = match f.action {
                Action::Block => "blocks",
                Action::Warn => "needs acknowledgment",
                Action::Report => {
                    if f.acknowledged {
                        "acknowledged"
                    } else {
                        "reported"
                    }
                }
            };
            format!(
                "[{}] {} {}: {:+.1}% ({:.2}ms → {:.2}ms, p={:.2e}) — {what}",
                f.severity,
                match f.kind {
                    Kind::Function => "function",
                    Kind::Endpoint => "endpoint",
                },
                f.key,
                f.change_pct,
                f.baseline_mean_ms,
                f.recent_mean_ms,
                f.p_value
            )
        })
        .collect();
    if comparisons.is_empty() {
        reasons.push(
            "nothing to compare yet: no function or endpoint has enough samples on both sides"
                .to_string(),
        );
    } else if findings.is_empty() {
        reasons.push(format!(
            "no significant slowdown in {} compared keys",
            comparisons.len()
        ));
    }
    GateReport {
        version: 1,
        verdict,
        baseline: baseline.map(str::to_string),
        block_on,
        compared: comparisons.len(),
        reasons,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flamewatch_core::severity::SeverityBounds;

    fn cmp(change_pct: f64, p_value: f64) -> Comparison {
        Comparison {
            change_pct,
            baseline_mean_ns: 100e6,
            recent_mean_ns: 100e6 * (1.0 + change_pct / 100.0),
            baseline_samples: 50,
            recent_samples: 50,
            p_value,
            confidence: 1.0 - p_value,
            severity: SeverityBounds::default().classify(change_pct),
            regressed: change_pct >= 20.0 && p_value < 0.001,
        }
    }

    #[test]
    fn high_blocks_medium_warns_until_acknowledged_low_is_reported() {
        let none = BTreeSet::new();
        let high = [(Kind::Function, "f".to_string(), cmp(45.0, 1e-9))];
        assert_eq!(
            evaluate(&high, None, Severity::High, 0.001, &none).verdict,
            Verdict::Block
        );
        let medium = [(Kind::Endpoint, "GET /x".to_string(), cmp(25.0, 1e-9))];
        assert_eq!(
            evaluate(&medium, None, Severity::High, 0.001, &none).verdict,
            Verdict::Warn
        );
        let acked: BTreeSet<String> = ["GET /x".to_string()].into();
        let r = evaluate(&medium, None, Severity::High, 0.001, &acked);
        assert_eq!(r.verdict, Verdict::Pass);
        assert!(r.findings[0].acknowledged);
        let low = [(Kind::Function, "f".to_string(), cmp(12.0, 1e-9))];
        let r = evaluate(&low, None, Severity::High, 0.001, &none);
        assert_eq!((r.verdict, r.findings.len()), (Verdict::Pass, 1));
    }

    #[test]
    fn insignificant_changes_and_block_on_are_respected() {
        let none = BTreeSet::new();
        let noisy = [(Kind::Function, "f".to_string(), cmp(60.0, 0.2))];
        assert_eq!(
            evaluate(&noisy, None, Severity::High, 0.001, &none).verdict,
            Verdict::Pass
        );
        let medium = [(Kind::Function, "f".to_string(), cmp(25.0, 1e-9))];
        assert_eq!(
            evaluate(&medium, None, Severity::Medium, 0.001, &none).verdict,
            Verdict::Block
        );
        let high = [(Kind::Function, "f".to_string(), cmp(40.0, 1e-9))];
        assert_eq!(
            evaluate(&high, None, Severity::Critical, 0.001, &none).verdict,
            Verdict::Warn
        );
    }
}
