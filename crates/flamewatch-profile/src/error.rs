//! The error type of the profile crate: one enum for every parse and write failure.

use std::path::PathBuf;

/// Everything that can go wrong reading or writing a profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The pprof bytes are not a valid gzip-compressed or plain `profile.proto` message.
    #[error("invalid pprof data: {0}")]
    Pprof(String),
    /// A folded-stacks line could not be parsed.
    #[error("folded stacks line {line}: {reason}")]
    Folded {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Writing to an in-memory or stream sink failed.
    #[error("write failed: {0}")]
    Write(#[from] std::io::Error),
    /// Rendering a flamegraph failed.
    #[error("flamegraph rendering failed: {0}")]
    Render(String),
    /// Serializing JSON or YAML failed.
    #[error("serialization failed: {0}")]
    Serialize(String),
    /// The profile has nothing to show for the requested value.
    #[error("{0}")]
    Empty(String),
}
