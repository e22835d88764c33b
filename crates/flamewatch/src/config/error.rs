//! Configuration errors: where a bad setting came from, which key, which line, and why.
//!
//! Every failure to load or validate a configuration is one [`ConfigError`] whose `Display` is
//! a single lowercase line such as
//! `flamewatch.yml:4: key `sample_rate`: must be between 0 and 1, found 1.5`, so that a person
//! reading a log can go straight to the file and line at fault.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A YAML file on disk, optionally read from a nested section (`runtime.profiling`).
    File {
        /// Path of the file as given.
        path: PathBuf,
        /// Dotted path of the section inside the file, when the settings are nested.
        section: Option<String>,
    },
    /// YAML text that was not read from a file (tests, embedded defaults); the name is shown
    /// where a path would be.
    Text {
        /// Name shown in messages in place of a path.
        name: String,
        /// Dotted path of the section inside the text, when the settings are nested.
        section: Option<String>,
    },
    /// An environment variable such as `FLAMEWATCH_SAMPLE_RATE`.
    Env(String),
    /// A value set in code through [`ConfigBuilder`](super::ConfigBuilder) or a
    /// [`Config`](super::Config) checked with [`Config::validate`](super::Config::validate).
    Code,
}

impl Origin {
    /// The dotted section prefix under which keys of this origin live, if any.
    pub(crate) fn section(&self) -> Option<&str> {
        match self {
            Origin::File { section, .. } | Origin::Text { section, .. } => section.as_deref(),
            Origin::Env(_) | Origin::Code => None,
        }
    }

    /// The key as a user finds it in this origin: prefixed by the section for YAML sources.
    pub(crate) fn display_key(&self, key: &str) -> String {
        match self.section() {
            Some(section) if !section.is_empty() => format!("{section}.{key}"),
            _ => key.to_owned(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, .. } => write!(f, "{}", path.display()),
            Origin::Text { name, .. } => f.write_str(name),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Code => f.write_str("configuration set in code"),
        }
    }
}

/// What kind of mistake a [`ConfigError::Invalid`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not well-formed YAML.
    Syntax,
    /// A key that flamewatch does not know (often a typo; a suggestion is given when close).
    UnknownKey,
    /// A value of the wrong type (a string where a number is expected, a list for a mapping…).
    Type,
    /// A value of the right type outside its allowed range or set.
    Value,
    /// A setting required by another one is absent (`output.type: file` without `output.path`).
    Missing,
    /// The requested nested section does not exist in the file.
    Section,
}

/// A configuration that could not be read or is invalid. Invalid configuration is always
/// rejected, never replaced by defaults.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {}: {source}; check that the path exists and is readable", path.display())]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// The thread polling the configuration file could not be started.
    #[error("cannot start the configuration watcher thread: {source}")]
    Watcher {
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// The configuration is malformed or a value is not acceptable.
    #[error("{}", render(origin, key.as_deref(), *line, reason))]
    Invalid {
        /// Where the offending value came from.
        origin: Origin,
        /// Dotted key at fault as written in the source (`runtime.profiling.sample_rate`), when
        /// the error concerns one key.
        key: Option<String>,
        /// 1-based line in the file, when the source is a file or text.
        line: Option<usize>,
        /// What is wrong and, when known, how to fix it.
        reason: String,
        /// Category of the mistake.
        kind: ErrorKind,
    },
}

fn render(origin: &Origin, key: Option<&str>, line: Option<usize>, reason: &str) -> String {
    let mut out = origin.to_string();
    if let Some(line) = line {
        out.push_str(&format!(":{line}"));
    }
    if let Some(key) = key {
        out.push_str(&format!(": key `{key}`"));
    }
    out.push_str(": ");
    out.push_str(reason);
    one_line(&out)
}

/// Escapes line breaks and other control characters so a message stays on one line even when
/// it quotes text taken from the file.
fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

impl ConfigError {
    /// Builds an [`ConfigError::Invalid`] for a configuration key (given without any section
    /// prefix; the origin adds it).
    pub(crate) fn invalid(
        origin: &Origin,
        key: Option<&str>,
        line: Option<usize>,
        kind: ErrorKind,
        reason: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            origin: origin.clone(),
            key: key.map(|k| origin.display_key(k)),
            line: line.filter(|l| *l > 0),
            reason: reason.into(),
            kind,
        }
    }

    /// Where the error came from (`None` for a file that could not be read at all).
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            ConfigError::Read { .. } | ConfigError::Watcher { .. } => None,
            ConfigError::Invalid { origin, .. } => Some(origin),
        }
    }

    /// The dotted key at fault, as written in the source.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } | ConfigError::Watcher { .. } => None,
            ConfigError::Invalid { key, .. } => key.as_deref(),
        }
    }

    /// The 1-based line at fault, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Read { .. } | ConfigError::Watcher { .. } => None,
            ConfigError::Invalid { line, .. } => *line,
        }
    }

    /// The category of the mistake (`None` for a file that could not be read or a watcher
    /// that could not start).
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ConfigError::Read { .. } | ConfigError::Watcher { .. } => None,
            ConfigError::Invalid { kind, .. } => Some(*kind),
        }
    }

    /// The reason, without the location prefix.
    pub fn reason(&self) -> String {
        match self {
            ConfigError::Read { source, .. } | ConfigError::Watcher { source } => {
                source.to_string()
            }
            ConfigError::Invalid { reason, .. } => reason.clone(),
        }
    }
}

/// Returns the candidate closest to `word` when it is close enough to be a plausible typo.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    suggest_with(word, candidates, true)
}

/// Like [`suggest`]; `shared_stems` also accepts candidates sharing a long prefix with `word`
/// (`sampled` → `sampling`), otherwise only small edit distances count.
pub(crate) fn suggest_with<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    shared_stems: bool,
) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let word_n = norm(word);
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        let cand_n = norm(cand);
        let d = edit_distance(&word_n, &cand_n);
        let limit = (cand.len().max(word.len()) / 3).max(1);
        let prefix = word_n
            .chars()
            .zip(cand_n.chars())
            .take_while(|(a, b)| a == b)
            .count();
        let shared_stem =
            shared_stems && prefix >= 4 && 2 * prefix >= word_n.len().min(cand_n.len());
        if (d <= limit || shared_stem) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// Edit distance counting insertions, deletions, substitutions and swaps of adjacent
/// characters (optimal string alignment), so `hgih` is one edit from `high`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_but_not_unrelated_words() {
        let keys = ["sample_rate", "enabled", "targets", "mode"];
        assert_eq!(suggest("sample_rat", keys), Some("sample_rate"));
        assert_eq!(suggest("sample-rate", keys), Some("sample_rate"));
        assert_eq!(suggest("enable", keys), Some("enabled"));
        assert_eq!(suggest("Mode", keys), Some("mode"));
        assert_eq!(suggest("colour", keys), None);
        assert_eq!(suggest("sampled", ["sampling", "full"]), Some("sampling"));
        assert_eq!(
            suggest("hgih", ["low", "medium", "high", "critical"]),
            Some("high")
        );
    }

    #[test]
    fn invalid_errors_render_on_one_line() {
        let origin = Origin::File {
            path: "app.yml".into(),
            section: Some("runtime.profiling".into()),
        };
        let e = ConfigError::invalid(
            &origin,
            Some("sample_rate"),
            Some(4),
            ErrorKind::Value,
            "must be between 0 and 1, found 1.5",
        );
        assert_eq!(
            e.to_string(),
            "app.yml:4: key `runtime.profiling.sample_rate`: must be between 0 and 1, found 1.5"
        );
        assert_eq!(e.key(), Some("runtime.profiling.sample_rate"));
        assert_eq!(e.line(), Some(4));
        let env = ConfigError::invalid(
            &Origin::Env("FLAMEWATCH_MODE".into()),
            Some("mode"),
            None,
            ErrorKind::Value,
            "x",
        );
        assert_eq!(
            env.to_string(),
            "environment variable FLAMEWATCH_MODE: key `mode`: x"
        );
        let quoted = ConfigError::invalid(
            &origin,
            Some("a\nb"),
            Some(1),
            ErrorKind::UnknownKey,
            "bad\r\u{7}",
        );
        assert_eq!(
            quoted.to_string(),
            "app.yml:1: key `runtime.profiling.a\\nb`: bad\\r\\u{7}"
        );
    }
}
