//! The one severity scale used by every part of flamewatch.
//!
//! A slowdown is expressed as a change in percent (`+45.0` means 45 % slower). The default
//! bounds follow the product specification: `CRITICAL` above 50 %, `HIGH` from 35 % to 50 %,
//! `MEDIUM` from 20 % to 35 %, `LOW` from 10 % to 20 %, `NONE` below 10 %. Every component
//! (in-process detection, the deploy gate, the bench gate) calls [`SeverityBounds::classify`]
//! so a given change never gets two different labels.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad a slowdown is, ordered from harmless to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Below the `low` bound: not worth reporting.
    None,
    /// At least the `low` bound (default 10 %): reported.
    Low,
    /// At least the `medium` bound (default 20 %): warns and needs acknowledgment.
    Medium,
    /// At least the `high` bound (default 35 %): blocks.
    High,
    /// Above the `critical` bound (default 50 %): blocks.
    Critical,
}

impl Severity {
    /// Upper-case name as printed in reports (`"HIGH"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "NONE",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// Whether a deploy gate blocks on this severity (`HIGH` and `CRITICAL`).
    pub fn blocks(self) -> bool {
        self >= Severity::High
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "NONE" => Ok(Severity::None),
            "LOW" => Ok(Severity::Low),
            "MEDIUM" => Ok(Severity::Medium),
            "HIGH" => Ok(Severity::High),
            "CRITICAL" => Ok(Severity::Critical),
            _ => Err(crate::Error::InvalidSeverity(s.to_owned())),
        }
    }
}

/// Lower bounds, in percent, of each severity above `NONE`.
///
/// ```
/// use flamewatch_core::severity::{Severity, SeverityBounds};
/// let b = SeverityBounds::default();
/// assert_eq!(b.classify(45.6), Severity::High);
/// assert_eq!(b.classify(50.0), Severity::High);
/// assert_eq!(b.classify(50.1), Severity::Critical);
/// assert_eq!(b.classify(9.9), Severity::None);
/// assert_eq!(b.classify(-30.0), Severity::None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeverityBounds {
    /// `LOW` from this change (inclusive). Default 10.
    pub low: f64,
    /// `MEDIUM` from this change (inclusive). Default 20.
    pub medium: f64,
    /// `HIGH` from this change (inclusive). Default 35.
    pub high: f64,
    /// `CRITICAL` above this change (exclusive). Default 50.
    pub critical: f64,
}

impl Default for SeverityBounds {
    fn default() -> Self {
        SeverityBounds {
            low: 10.0,
            medium: 20.0,
            high: 35.0,
            critical: 50.0,
        }
    }
}

impl SeverityBounds {
    /// Checks that the bounds are finite, non-negative and strictly increasing.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let all = [self.low, self.medium, self.high, self.critical];
        if all.iter().any(|b| !b.is_finite() || *b < 0.0) {
            return Err(crate::Error::InvalidBounds(
                "severity bounds must be finite and non-negative".into(),
            ));
        }
        if !(self.low < self.medium && self.medium < self.high && self.high < self.critical) {
            return Err(crate::Error::InvalidBounds(format!(
                "severity bounds must increase: low {} < medium {} < high {} < critical {}",
                self.low, self.medium, self.high, self.critical
            )));
        }
        Ok(())
    }

    /// Classifies a slowdown given in percent (positive = slower).
    pub fn classify(&self, change_pct: f64) -> Severity {
        if change_pct.is_nan() {
            Severity::None
        } else if change_pct > self.critical {
            Severity::Critical
        } else if change_pct >= self.high {
            Severity::High
        } else if change_pct >= self.medium {
            Severity::Medium
        } else if change_pct >= self.low {
            Severity::Low
        } else {
            Severity::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_follow_the_spec() {
        let b = SeverityBounds::default();
        assert_eq!(b.classify(0.0), Severity::None);
        assert_eq!(b.classify(10.0), Severity::Low);
        assert_eq!(b.classify(19.99), Severity::Low);
        assert_eq!(b.classify(20.0), Severity::Medium);
        assert_eq!(b.classify(34.9), Severity::Medium);
        assert_eq!(b.classify(35.0), Severity::High);
        assert_eq!(b.classify(50.0), Severity::High);
        assert_eq!(b.classify(50.01), Severity::Critical);
        assert_eq!(b.classify(f64::NAN), Severity::None);
    }

    #[test]
    fn parse_and_order() {
        assert_eq!("high".parse::<Severity>().unwrap(), Severity::High);
        assert!("urgent".parse::<Severity>().is_err());
        assert!(Severity::Critical > Severity::High && Severity::High.blocks());
        assert!(!Severity::Medium.blocks());
        assert_eq!(
            serde_json::to_string(&Severity::Medium).unwrap(),
            "\"MEDIUM\""
        );
    }

    #[test]
    fn rejects_unordered_bounds() {
        let b = SeverityBounds {
            low: 30.0,
            ..Default::default()
        };
        assert!(b.validate().is_err());
        assert!(SeverityBounds::default().validate().is_ok());
    }
}
