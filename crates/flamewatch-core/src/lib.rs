//! `flamewatch-core`: the data model every part of flamewatch shares.
//!
//! This crate owns the pieces that must mean the same thing everywhere: duration statistics
//! (exact counts, Welford mean/σ, a mergeable quantile sketch), bounded rings of time windows,
//! the severity scale, and the anomaly and regression detectors. It has no async runtime and
//! does no I/O; time comes from a [`clock::Clock`] so tests can drive it with a fake clock.

pub mod clock;
pub mod detect;
pub mod ring;
pub mod severity;
pub mod significance;
pub mod sketch;
pub mod stats;
pub mod welford;
pub mod window;

/// Errors raised by the core data model.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// A severity name that is not one of NONE, LOW, MEDIUM, HIGH, CRITICAL.
    #[error("unknown severity `{0}`: expected one of none, low, medium, high, critical")]
    InvalidSeverity(String),
    /// Severity bounds that are not finite, non-negative and increasing.
    #[error("invalid severity bounds: {0}")]
    InvalidBounds(String),
}
