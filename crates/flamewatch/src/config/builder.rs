//! [`ConfigBuilder`]: layers defaults, a YAML file, environment variables and values set in code.
//!
//! Precedence, lowest to highest: defaults < file < environment < builder setters. A builder is
//! a recipe, not a snapshot: [`ConfigBuilder::watch`] re-runs it whenever the file changes, so
//! environment and code overrides keep winning over a reloaded file.

use super::error::{ConfigError, ErrorKind, Origin};
use super::schema::{self, Provenance, Value};
use super::watch::{ConfigHandle, WatchOptions};
use super::{Config, Level, Mode, OutputKind, SeverityBounds, yaml};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Largest configuration file read, in bytes.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Text { name: String, text: String },
}

/// Builds a [`Config`] from layered sources; see the [module docs](super) for the precedence.
///
/// ```
/// use flamewatch::config::{Config, OutputKind};
/// let cfg = Config::builder()
///     .enabled(true)
///     .sample_rate(0.05)
///     .output(OutputKind::None)
///     .build()
///     .unwrap();
/// assert!(cfg.enabled);
/// assert_eq!(cfg.sample_rate, 0.05);
/// assert!(Config::builder().sample_rate(2.0).build().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    source: Option<Source>,
    section: Option<String>,
    env: Vec<(String, String)>,
    overrides: Vec<(&'static str, Value)>,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($ty:ty) => $key:literal, $conv:expr;)+) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                #[allow(clippy::redundant_closure_call)]
                let v = ($conv)(value);
                self.overrides.push(($key, v));
                self
            }
        )+
    };
}

impl ConfigBuilder {
    /// Reads the YAML file at `path` (replaces any earlier [`yaml_str`](Self::yaml_str)).
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = Some(Source::File(path.into()));
        self
    }

    /// Reads YAML text; `name` stands for the file name in error messages.
    pub fn yaml_str(mut self, name: &str, text: &str) -> Self {
        self.source = Some(Source::Text {
            name: name.to_owned(),
            text: text.to_owned(),
        });
        self
    }

    /// Reads the settings nested at a dotted path of the file, e.g. `runtime.profiling`.
    pub fn section(mut self, dotted: &str) -> Self {
        let dotted = dotted.trim().trim_matches('.');
        self.section = (!dotted.is_empty()).then(|| dotted.to_owned());
        self
    }

    /// Overrides from environment variables: every `FLAMEWATCH_*` pair of `vars` is considered
    /// (pass `std::env::vars()` for the process environment; tests pass a list).
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        self.env = vars
            .into_iter()
            .filter(|(k, _)| k.as_ref().starts_with("FLAMEWATCH_"))
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        self
    }

    setters! {
        /// `enabled`.
        enabled(bool) => "enabled", Value::Bool;
        /// `mode`.
        mode(Mode) => "mode", |m: Mode| Value::Str(m.as_str().to_owned());
        /// `level`.
        level(Level) => "level", |l: Level| Value::Str(l.as_str().to_owned());
        /// `sample_rate` (0..=1).
        sample_rate(f64) => "sample_rate", Value::Float;
        /// `thresholds.slow_call_ms`.
        slow_call_ms(f64) => "thresholds.slow_call_ms", Value::Float;
        /// `thresholds.memory_mb`.
        memory_mb(f64) => "thresholds.memory_mb", Value::Float;
        /// `output.type`.
        output(OutputKind) => "output.type", |k: OutputKind| Value::Str(k.as_str().to_owned());
        /// `output.max_bytes`.
        output_max_bytes(u64) => "output.max_bytes", Value::Uint;
        /// `output.max_files`.
        output_max_files(u32) => "output.max_files", |n: u32| Value::Uint(u64::from(n));
        /// `max_records_per_minute`.
        max_records_per_minute(u32) => "max_records_per_minute", |n: u32| Value::Uint(u64::from(n));
        /// `include_metadata`.
        include_metadata(bool) => "include_metadata", Value::Bool;
        /// `include_stack_trace`.
        include_stack_trace(bool) => "include_stack_trace", Value::Bool;
        /// `anomaly.sigma`.
        anomaly_sigma(f64) => "anomaly.sigma", Value::Float;
        /// `anomaly.min_samples`.
        anomaly_min_samples(u64) => "anomaly.min_samples", Value::Uint;
        /// `regression.threshold_pct`.
        regression_threshold_pct(f64) => "regression.threshold_pct", Value::Float;
        /// `api.bind`.
        api_bind(SocketAddr) => "api.bind", |a: SocketAddr| Value::Str(a.to_string());
        /// `overhead.max_pct`.
        overhead_max_pct(f64) => "overhead.max_pct", Value::Float;
        /// `trigger.duration_s`.
        trigger_duration_s(f64) => "trigger.duration_s", Value::Float;
        /// `trigger.cooldown_s`.
        trigger_cooldown_s(f64) => "trigger.cooldown_s", Value::Float;
        /// `limits.max_keys`.
        max_keys(usize) => "limits.max_keys", |n: usize| Value::Uint(n as u64);
        /// `window.seconds`.
        window_seconds(u64) => "window.seconds", Value::Uint;
        /// `window.count`.
        window_count(usize) => "window.count", |n: usize| Value::Uint(n as u64);
    }

    /// `targets`: name prefixes to profile (empty = everything).
    pub fn targets<I, S>(mut self, targets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.overrides.push((
            "targets",
            Value::List(targets.into_iter().map(Into::into).collect()),
        ));
        self
    }

    /// `output.path`.
    pub fn output_path(mut self, path: impl Into<PathBuf>) -> Self {
        let path: PathBuf = path.into();
        self.overrides.push((
            "output.path",
            Value::OptStr(Some(path.to_string_lossy().into_owned())),
        ));
        self
    }

    /// `api.prefix`.
    pub fn api_prefix(mut self, prefix: &str) -> Self {
        self.overrides
            .push(("api.prefix", Value::Str(prefix.to_owned())));
        self
    }

    /// `api.token` (`None` removes a token set by the file or environment).
    pub fn api_token(mut self, token: Option<&str>) -> Self {
        self.overrides
            .push(("api.token", Value::OptStr(token.map(str::to_owned))));
        self
    }

    /// `trigger.p95_ms` (`None` turns triggered capture off).
    pub fn trigger_p95_ms(mut self, p95_ms: Option<f64>) -> Self {
        self.overrides
            .push(("trigger.p95_ms", Value::OptFloat(p95_ms)));
        self
    }

    /// `regression.severity.*`, all four bounds.
    pub fn severity_bounds(mut self, b: SeverityBounds) -> Self {
        self.overrides
            .push(("regression.severity.low", Value::Float(b.low)));
        self.overrides
            .push(("regression.severity.medium", Value::Float(b.medium)));
        self.overrides
            .push(("regression.severity.high", Value::Float(b.high)));
        self.overrides
            .push(("regression.severity.critical", Value::Float(b.critical)));
        self
    }

    /// Assembles and validates the configuration.
    pub fn build(&self) -> Result<Config, ConfigError> {
        let text = match &self.source {
            Some(Source::File(path)) => Some(read_file(path)?),
            Some(Source::Text { text, .. }) => Some(text.clone()),
            None => None,
        };
        self.build_with_text(text.as_deref())
    }

    /// Builds the configuration and starts a thread that reloads it when the file changes.
    /// Fails if the initial configuration is invalid. Without a file, the handle never
    /// changes on its own.
    pub fn watch(self, options: WatchOptions) -> Result<ConfigHandle, ConfigError> {
        ConfigHandle::watch(self, options)
    }

    /// The file this builder reads, if any.
    pub(crate) fn file_path(&self) -> Option<&Path> {
        match &self.source {
            Some(Source::File(p)) => Some(p),
            _ => None,
        }
    }

    fn origin(&self) -> Option<Origin> {
        match &self.source {
            Some(Source::File(path)) => Some(Origin::File {
                path: path.clone(),
                section: self.section.clone(),
            }),
            Some(Source::Text { name, .. }) => Some(Origin::Text {
                name: name.clone(),
                section: self.section.clone(),
            }),
            None => None,
        }
    }

    /// Builds from already-read file text (`None`: no file layer).
    pub(crate) fn build_with_text(&self, text: Option<&str>) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        let mut prov = Provenance::default();
        if let (Some(text), Some(origin)) = (text, self.origin()) {
            let file_origin = match &origin {
                Origin::File { path, .. } => Origin::File {
                    path: path.clone(),
                    section: None,
                },
                Origin::Text { name, .. } => Origin::Text {
                    name: name.clone(),
                    section: None,
                },
                other => other.clone(),
            };
            let root = yaml::parse(text).map_err(|e| {
                ConfigError::invalid(
                    &file_origin,
                    None,
                    Some(e.line),
                    ErrorKind::Syntax,
                    e.reason,
                )
            })?;
            let node = match &self.section {
                Some(section) => schema::find_section(&root, section, &file_origin)?,
                None => &root,
            };
            schema::apply_tree(&mut cfg, &mut prov, node, &origin)?;
        }
        schema::apply_env(&mut cfg, &mut prov, &self.env)?;
        schema::apply_overrides(&mut cfg, &mut prov, &self.overrides)?;
        schema::validate(&cfg, &prov)?;
        Ok(cfg)
    }
}

/// Reads a configuration file as UTF-8 text, refusing absurdly large files.
pub(crate) fn read_file(path: &Path) -> Result<String, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ConfigError::invalid(
            &Origin::File {
                path: path.to_owned(),
                section: None,
            },
            None,
            None,
            ErrorKind::Value,
            format!(
                "file is {} bytes; configuration files are limited to {MAX_FILE_BYTES} bytes",
                meta.len()
            ),
        ));
    }
    std::fs::read_to_string(path).map_err(read_err)
}
