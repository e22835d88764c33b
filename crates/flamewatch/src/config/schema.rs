//! The table of configuration keys and the code that reads, types and checks them.
//!
//! Every key of SPEC §2.4 is one [`Field`]: its dotted name, the type expected, and how to store
//! a typed value into a [`Config`]. The YAML reader, the environment reader and the builder all
//! go through this table, so a key is spelled, typed and checked the same way everywhere.
//! Where each value was set is remembered in a [`Provenance`] so that checks involving several
//! keys still point at the file and line that set them.

use super::error::{ConfigError, ErrorKind, Origin, suggest, suggest_with};
use super::yaml::{Data, Node};
use super::{Config, Level, Mode, OutputKind};
use std::collections::HashMap;
use std::path::PathBuf;

/// Largest accepted `limits.max_keys`.
pub(crate) const MAX_KEYS_CAP: usize = 1_000_000;
/// Largest accepted `window.count`.
pub(crate) const WINDOW_COUNT_CAP: usize = 10_000;
/// Largest accepted `max_records_per_minute`.
pub(crate) const RECORDS_PER_MINUTE_CAP: u32 = 1_000_000;

/// The type a key expects.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Bool,
    Float,
    Uint,
    Str,
    OptStr,
    OptFloat,
    List,
    Choice(&'static [&'static str]),
    Size,
}

/// A typed value for one key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    Float(f64),
    Uint(u64),
    Str(String),
    OptStr(Option<String>),
    OptFloat(Option<f64>),
    List(Vec<String>),
}

/// One configuration key.
pub(crate) struct Field {
    pub(crate) key: &'static str,
    pub(crate) kind: Kind,
    pub(crate) apply: fn(&mut Config, Value) -> Result<(), String>,
}

fn mismatch(v: &Value) -> String {
    format!("value {v:?} has the wrong type for this key")
}

fn as_bool(v: Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(b),
        other => Err(mismatch(&other)),
    }
}

fn as_f64(v: Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(f),
        other => Err(mismatch(&other)),
    }
}

fn as_opt_f64(v: Value) -> Result<Option<f64>, String> {
    match v {
        Value::OptFloat(f) => Ok(f),
        other => Err(mismatch(&other)),
    }
}

fn as_u64(v: Value) -> Result<u64, String> {
    match v {
        Value::Uint(u) => Ok(u),
        other => Err(mismatch(&other)),
    }
}

fn as_u32(v: Value) -> Result<u32, String> {
    let u = as_u64(v)?;
    u32::try_from(u).map_err(|_| format!("must be at most {}, found {u}", u32::MAX))
}

fn as_usize(v: Value) -> Result<usize, String> {
    let u = as_u64(v)?;
    usize::try_from(u).map_err(|_| format!("must be at most {}, found {u}", usize::MAX))
}

fn as_str(v: Value) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(mismatch(&other)),
    }
}

fn as_opt_str(v: Value) -> Result<Option<String>, String> {
    match v {
        Value::OptStr(s) => Ok(s),
        other => Err(mismatch(&other)),
    }
}

fn as_list(v: Value) -> Result<Vec<String>, String> {
    match v {
        Value::List(l) => Ok(l),
        other => Err(mismatch(&other)),
    }
}

/// Every configuration key, in documentation order.
pub(crate) static FIELDS: &[Field] = &[
    Field {
        key: "enabled",
        kind: Kind::Bool,
        apply: |c, v| {
            c.enabled = as_bool(v)?;
            Ok(())
        },
    },
    Field {
        key: "mode",
        kind: Kind::Choice(Mode::NAMES),
        apply: |c, v| {
            c.mode = as_str(v)?.parse::<Mode>()?;
            Ok(())
        },
    },
    Field {
        key: "level",
        kind: Kind::Choice(Level::NAMES),
        apply: |c, v| {
            c.level = as_str(v)?.parse::<Level>()?;
            Ok(())
        },
    },
    Field {
        key: "targets",
        kind: Kind::List,
        apply: |c, v| {
            c.targets = as_list(v)?;
            Ok(())
        },
    },
    Field {
        key: "sample_rate",
        kind: Kind::Float,
        apply: |c, v| {
            c.sample_rate = as_f64(v)?;
            Ok(())
        },
    },
    Field {
        key: "thresholds.slow_call_ms",
        kind: Kind::Float,
        apply: |c, v| {
            c.thresholds.slow_call_ms = as_f64(v)?;
            Ok(())
        },
    },
    Field {
        key: "thresholds.memory_mb",
        kind: Kind::Float,
        apply: |c, v| {
            c.thresholds.memory_mb = as_f64(v)?;
            Ok(())
        },
    },
    Field {
        key: "output.type",
        kind: Kind::Choice(OutputKind::NAMES),
        apply: |c, v| {
            c.output.kind = as_str(v)?.parse::<OutputKind>()?;
            Ok(())
        },
    },
    Field {
        key: "output.path",
        kind: Kind::OptStr,
        apply: |c, v| {
            c.output.path = as_opt_str(v)?.map(PathBuf::from);
            Ok(())
        },
    },
    Field {
        key: "output.max_bytes",
        kind: Kind::Size,
        apply: |c, v| {
            c.output.max_bytes = as_u64(v)?;
            Ok(())
        },
    },
    Field {
        key: "output.max_files",
        kind: Kind::Uint,
        apply: |c, v| {
            c.output.max_files = as_u32(v)?;
            Ok(())
        },
    },
    Field {
        key: "max_records_per_minute",
        kind: Kind::Uint,
        apply: |c, v| {
            c.max_records_per_minute = as_u32(v)?;
            Ok(())
        },
    },
    Field {
        key: "include_metadata",
        kind: Kind::Bool,
        apply: |c, v| {
            c.include_metadata = as_bool(v)?;
            Ok(())
        },
    },
    Field {
        key: "include_stack_trace",
        kind: Kind::Bool,
        apply: |c, v| {
            c.include_stack_trace = as_bool(v)?;
            Ok(())
        },
    },
    Field {
        key: "anomaly.sigma",
        kind: Kind::Float,
        apply: |c, v| {
            c.anomaly.sigma = as_f64(v)?;
            Ok(())
        },
    },
    Field {
        key: "anomaly.min_samples",
        kind: Kind::Uint,
        apply: |c, v| {
            c.anomaly.min_samples = as_u64(v)?;
            Ok(())
        },
    },
    Field {
        key: "regression.threshold_pct",
        kind: Kind::Float,
        apply: |c, v| {
            c.regression.threshold_pct = as_f64(v)?;
            Ok(())
        },
    },
    Field {
        key: "regression.severity.low",
        kind: Kind::Float,
        apply: |c, v| {
            c.regression.severity.low = as_f64(v)?;
            Ok(())
        },
    },
    Field {
        key: "regression.severity.medium",
        kind: Kind::Float,
        apply: |c, v| {
            c.regression.severity.medium = as_f64(v)?;
            Ok(())
        },
    },
    Field {
        key: "regression.severity.high",
        kind: Kind::Float,
        apply: |c, v| {
            c.regression.severity.high = as_f64(v)?;
            Ok(())
        },
    },
    Field {
        key: "regression.severity.critical",
        kind: Kind::Float,
        apply: |c, v| {
            c.regression.severity.critical = as_f64(v)?;
            Ok(())
        },
    },
    Field {
        key: "api.bind",
        kind: Kind::Str,
        apply: |c, v| {
            let s = as_str(v)?;
            c.api.bind = s.trim().parse().map_err(|_| {
                format!(
                    "`{s}` is not a socket address; write an ip and a port such as `127.0.0.1:6060`"
                )
            })?;
            Ok(())
        },
    },
    Field {
        key: "api.prefix",
        kind: Kind::Str,
        apply: |c, v| {
            c.api.prefix = as_str(v)?;
            Ok(())
        },
    },
    Field {
        key: "api.token",
        kind: Kind::OptStr,
        apply: |c, v| {
            c.api.token = as_opt_str(v)?;
            Ok(())
        },
    },
    Field {
        key: "overhead.max_pct",
        kind: Kind::Float,
        apply: |c, v| {
            c.overhead.max_pct = as_f64(v)?;
            Ok(())
        },
    },
    Field {
        key: "trigger.p95_ms",
        kind: Kind::OptFloat,
        apply: |c, v| {
            c.trigger.p95_ms = as_opt_f64(v)?;
            Ok(())
        },
    },
    Field {
        key: "trigger.duration_s",
        kind: Kind::Float,
        apply: |c, v| {
            c.trigger.duration_s = as_f64(v)?;
            Ok(())
        },
    },
    Field {
        key: "trigger.cooldown_s",
        kind: Kind::Float,
        apply: |c, v| {
            c.trigger.cooldown_s = as_f64(v)?;
            Ok(())
        },
    },
    Field {
        key: "limits.max_keys",
        kind: Kind::Uint,
        apply: |c, v| {
            c.limits.max_keys = as_usize(v)?;
            Ok(())
        },
    },
    Field {
        key: "window.seconds",
        kind: Kind::Uint,
        apply: |c, v| {
            c.window.seconds = as_u64(v)?;
            Ok(())
        },
    },
    Field {
        key: "window.count",
        kind: Kind::Uint,
        apply: |c, v| {
            c.window.count = as_usize(v)?;
            Ok(())
        },
    },
];

/// The field for a dotted key.
pub(crate) fn field(key: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.key == key)
}

/// Whether `key` names a section (a proper prefix of some field keys).
fn is_section(key: &str) -> bool {
    FIELDS.iter().any(|f| {
        f.key.len() > key.len() && f.key.starts_with(key) && f.key.as_bytes()[key.len()] == b'.'
    })
}

/// The names valid directly inside `section` ("" for the top level).
fn children(section: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for f in FIELDS {
        let rest = if section.is_empty() {
            Some(f.key)
        } else {
            f.key
                .strip_prefix(section)
                .and_then(|r| r.strip_prefix('.'))
        };
        if let Some(rest) = rest {
            let child = rest.split('.').next().unwrap_or(rest);
            if !out.contains(&child) {
                out.push(child);
            }
        }
    }
    out
}

/// The environment variable overriding `key`.
pub(crate) fn env_name(key: &str) -> String {
    format!("FLAMEWATCH_{}", key.to_ascii_uppercase().replace('.', "_"))
}

/// The reason given for a value outside a fixed set of names.
pub(crate) fn choice_error(found: &str, names: &[&str]) -> String {
    let list = names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match suggest(found, names.iter().copied()) {
        Some(s) => format!("must be one of {list}, found `{found}`; did you mean `{s}`?"),
        None => format!("must be one of {list}, found `{found}`"),
    }
}

/// Where each key got its current value: origin and 1-based line (0 when unknown).
#[derive(Debug, Clone, Default)]
pub(crate) struct Provenance {
    set: HashMap<&'static str, (Origin, usize)>,
}

impl Provenance {
    fn record(&mut self, key: &'static str, origin: &Origin, line: usize) {
        self.set.insert(key, (origin.clone(), line));
    }

    /// Builds the error for `key`, located where the key was last set.
    fn error(&self, key: &str, kind: ErrorKind, reason: impl Into<String>) -> ConfigError {
        match self.set.get(key) {
            Some((origin, line)) => {
                ConfigError::invalid(origin, Some(key), Some(*line), kind, reason)
            }
            None => ConfigError::invalid(&Origin::Code, Some(key), None, kind, reason),
        }
    }
}

/// Parses a YAML 1.2 core-schema float (`1`, `-2.5`, `1e3`, `.inf`, `.nan`).
fn parse_float(text: &str) -> Option<f64> {
    let t = text.trim();
    match t {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let ok = !t.is_empty()
        && t.chars().any(|c| c.is_ascii_digit())
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'));
    if ok { t.parse::<f64>().ok() } else { None }
}

/// Parses a byte size: a whole number of bytes or a number with a unit (`64MiB`, `1 GB`, `512k`).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "`{t}` is not a size; write bytes or a number with a unit such as `64MiB`"
            ));
        }
    };
    let value: f64 = num.parse().map_err(|_| {
        format!("`{t}` is not a size; write bytes or a number with a unit such as `64MiB`")
    })?;
    let bytes = value * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("size `{t}` is out of range"));
    }
    Ok(bytes.round() as u64)
}

fn parse_uint(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.strip_prefix('+').unwrap_or(t);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return digits
            .parse::<u64>()
            .map_err(|_| format!("must be at most {}, found {t}", u64::MAX));
    }
    match parse_float(t) {
        Some(f) if f < 0.0 => Err(format!("must not be negative, found {t}")),
        Some(_) => Err(format!("expected a whole number, found {t}")),
        None => Err(format!("expected a whole number, found `{t}`")),
    }
}

/// Types one node for a field. `env` relaxes lists (comma-separated) and booleans (`1`/`0`).
fn decode(node: &Node, kind: Kind, env: bool) -> Result<Value, (ErrorKind, String)> {
    let ty = |what: &str| {
        (
            ErrorKind::Type,
            format!("expected {what}, found {}", node.describe()),
        )
    };
    let scalar = match &node.data {
        Data::Scalar { text, plain } => Some((text.as_str(), *plain)),
        _ => None,
    };
    match kind {
        Kind::Bool => match scalar {
            Some((t, true)) => match t {
                "true" | "True" | "TRUE" => Ok(Value::Bool(true)),
                "false" | "False" | "FALSE" => Ok(Value::Bool(false)),
                _ if env && (t == "1" || t.eq_ignore_ascii_case("true")) => Ok(Value::Bool(true)),
                _ if env && (t == "0" || t.eq_ignore_ascii_case("false")) => Ok(Value::Bool(false)),
                "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "no" | "No" | "NO" | "off" | "Off"
                | "OFF" => Err((
                    ErrorKind::Type,
                    format!(
                        "expected true or false, found `{t}`; YAML 1.2 booleans are spelled `true` and `false`"
                    ),
                )),
                _ => Err(ty("true or false")),
            },
            _ => Err(ty("true or false")),
        },
        Kind::Float | Kind::OptFloat => {
            if matches!(kind, Kind::OptFloat)
                && (node.is_null() || (env && scalar.is_some_and(|(t, _)| t.trim().is_empty())))
            {
                return Ok(Value::OptFloat(None));
            }
            match scalar {
                Some((t, true)) => match parse_float(t) {
                    Some(f) if matches!(kind, Kind::OptFloat) => Ok(Value::OptFloat(Some(f))),
                    Some(f) => Ok(Value::Float(f)),
                    None => Err(ty("a number")),
                },
                _ => Err(ty("a number")),
            }
        }
        Kind::Uint => match scalar {
            Some((t, true)) if !node.is_null() => parse_uint(t)
                .map(Value::Uint)
                .map_err(|r| (ErrorKind::Type, r)),
            _ => Err(ty("a whole number")),
        },
        Kind::Size => match scalar {
            Some((t, _)) if !node.is_null() => parse_size(t)
                .map(Value::Uint)
                .map_err(|r| (ErrorKind::Type, r)),
            _ => Err(ty("a size in bytes")),
        },
        Kind::Str => match scalar {
            Some((t, _)) if !node.is_null() => Ok(Value::Str(t.to_owned())),
            _ => Err(ty("a string")),
        },
        Kind::OptStr => match scalar {
            _ if node.is_null() => Ok(Value::OptStr(None)),
            Some((t, _)) if env && t.is_empty() => Ok(Value::OptStr(None)),
            Some((t, _)) => Ok(Value::OptStr(Some(t.to_owned()))),
            None => Err(ty("a string")),
        },
        Kind::Choice(names) => match scalar {
            Some((t, _)) if !node.is_null() => {
                if names.contains(&t) {
                    Ok(Value::Str(t.to_owned()))
                } else {
                    Err((ErrorKind::Value, choice_error(t, names)))
                }
            }
            _ => Err(ty(&format!("one of {}", names.join(", ")))),
        },
        Kind::List => {
            if env {
                let text = scalar.map(|(t, _)| t).unwrap_or_default();
                return Ok(Value::List(
                    text.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                ));
            }
            if node.is_null() {
                return Ok(Value::List(Vec::new()));
            }
            let Data::Seq(items) = &node.data else {
                return Err(ty("a list such as `[search, db.query]`"));
            };
            items
                .iter()
                .map(|item| match &item.data {
                    Data::Scalar { text, .. } if !item.is_null() => Ok(text.clone()),
                    _ => Err((
                        ErrorKind::Type,
                        format!("list items must be names, found {}", item.describe()),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::List)
        }
    }
}

/// Applies a parsed YAML mapping (the whole document or the selected section) to `cfg`.
pub(crate) fn apply_tree(
    cfg: &mut Config,
    prov: &mut Provenance,
    root: &Node,
    origin: &Origin,
) -> Result<(), ConfigError> {
    if root.is_null() {
        return Ok(());
    }
    let Data::Map(_) = &root.data else {
        return Err(ConfigError::invalid(
            origin,
            origin.section(),
            Some(root.line),
            ErrorKind::Type,
            format!(
                "expected a mapping of flamewatch settings, found {}",
                root.describe()
            ),
        ))
        .map_err(|e| strip_section_key(e, origin));
    };
    walk(cfg, prov, root, "", origin)
}

/// Section errors name the section itself, not section + section.
fn strip_section_key(e: ConfigError, origin: &Origin) -> ConfigError {
    match e {
        ConfigError::Invalid {
            origin: o,
            line,
            reason,
            kind,
            ..
        } => ConfigError::Invalid {
            origin: o,
            key: origin.section().map(str::to_owned),
            line,
            reason,
            kind,
        },
        other => other,
    }
}

fn walk(
    cfg: &mut Config,
    prov: &mut Provenance,
    map: &Node,
    section: &str,
    origin: &Origin,
) -> Result<(), ConfigError> {
    let Data::Map(entries) = &map.data else {
        return Ok(());
    };
    for (k, v) in entries {
        let name = k.key_text().unwrap_or_default();
        let full = if section.is_empty() {
            name.to_owned()
        } else {
            format!("{section}.{name}")
        };
        if let Some(f) = field(&full) {
            let value = decode(v, f.kind, false).map_err(|(kind, reason)| {
                ConfigError::invalid(origin, Some(&full), Some(v.line.max(k.line)), kind, reason)
            })?;
            (f.apply)(cfg, value).map_err(|reason| {
                ConfigError::invalid(
                    origin,
                    Some(&full),
                    Some(v.line.max(k.line)),
                    ErrorKind::Value,
                    reason,
                )
            })?;
            prov.record(f.key, origin, k.line);
        } else if is_section(&full) {
            match &v.data {
                _ if v.is_null() => {}
                Data::Map(_) => walk(cfg, prov, v, &full, origin)?,
                _ => {
                    return Err(ConfigError::invalid(
                        origin,
                        Some(&full),
                        Some(v.line.max(k.line)),
                        ErrorKind::Type,
                        format!(
                            "expected a mapping of {} settings, found {}",
                            children(&full).join("/"),
                            v.describe()
                        ),
                    ));
                }
            }
        } else {
            let siblings = children(section);
            let reason = match suggest(name, siblings.iter().copied()) {
                Some(s) => format!("unknown key; did you mean `{s}`?"),
                None => format!("unknown key; valid keys here are {}", siblings.join(", ")),
            };
            return Err(ConfigError::invalid(
                origin,
                Some(&full),
                Some(k.line),
                ErrorKind::UnknownKey,
                reason,
            ));
        }
    }
    Ok(())
}

/// Finds the node at a dotted `section` path.
pub(crate) fn find_section<'a>(
    root: &'a Node,
    section: &str,
    origin: &Origin,
) -> Result<&'a Node, ConfigError> {
    let mut node = root;
    let mut walked = String::new();
    for part in section.split('.') {
        let found = match &node.data {
            Data::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.key_text() == Some(part))
                .map(|(_, v)| v),
            _ => None,
        };
        let Some(next) = found else {
            let at = if walked.is_empty() {
                "the top level".to_owned()
            } else {
                format!("`{walked}`")
            };
            return Err(ConfigError::Invalid {
                origin: origin.clone(),
                key: Some(section.to_owned()),
                line: None,
                kind: ErrorKind::Section,
                reason: format!(
                    "section not found: no key `{part}` under {at}; fix the section path or add the section to the file"
                ),
            });
        };
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(part);
        node = next;
    }
    Ok(node)
}

/// Applies `FLAMEWATCH_*` variables. Variables are handled in name order so the first error is
/// deterministic.
pub(crate) fn apply_env(
    cfg: &mut Config,
    prov: &mut Provenance,
    vars: &[(String, String)],
) -> Result<(), ConfigError> {
    let mut vars: Vec<&(String, String)> = vars
        .iter()
        .filter(|(k, _)| k.starts_with("FLAMEWATCH_"))
        .collect();
    vars.sort();
    let names: Vec<(String, &'static Field)> =
        FIELDS.iter().map(|f| (env_name(f.key), f)).collect();
    for (var, value) in vars {
        let origin = Origin::Env(var.clone());
        let Some((_, f)) = names.iter().find(|(n, _)| n == var) else {
            // A near miss of a configuration variable is a typo to report; anything else
            // (`FLAMEWATCH_CONFIG`, variables of other tools) is not ours to judge.
            let rest = &var["FLAMEWATCH_".len()..];
            let keys = names.iter().map(|(n, _)| &n["FLAMEWATCH_".len()..]);
            if let Some(s) = suggest_with(rest, keys, false) {
                return Err(ConfigError::invalid(
                    &origin,
                    None,
                    None,
                    ErrorKind::UnknownKey,
                    format!("unknown configuration variable; did you mean FLAMEWATCH_{s}?"),
                ));
            }
            continue;
        };
        let node = Node::plain(value);
        let typed = decode(&node, f.kind, true).map_err(|(kind, reason)| {
            ConfigError::invalid(&origin, Some(f.key), None, kind, reason)
        })?;
        (f.apply)(cfg, typed)
            .map_err(|r| ConfigError::invalid(&origin, Some(f.key), None, ErrorKind::Value, r))?;
        prov.record(f.key, &origin, 0);
    }
    Ok(())
}

/// Applies values set in code.
pub(crate) fn apply_overrides(
    cfg: &mut Config,
    prov: &mut Provenance,
    overrides: &[(&'static str, Value)],
) -> Result<(), ConfigError> {
    for (key, value) in overrides {
        let Some(f) = field(key) else {
            return Err(ConfigError::invalid(
                &Origin::Code,
                Some(key),
                None,
                ErrorKind::UnknownKey,
                "unknown key",
            ));
        };
        (f.apply)(cfg, value.clone()).map_err(|r| {
            ConfigError::invalid(&Origin::Code, Some(key), None, ErrorKind::Value, r)
        })?;
        prov.record(f.key, &Origin::Code, 0);
    }
    Ok(())
}

fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        ".nan".to_owned()
    } else {
        format!("{v}")
    }
}

/// Checks ranges and relations; errors point where the offending key was set.
pub(crate) fn validate(c: &Config, p: &Provenance) -> Result<(), ConfigError> {
    let value_err = |key: &str, reason: String| p.error(key, ErrorKind::Value, reason);
    let non_negative = |key: &str, v: f64, unit: &str| {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            Err(value_err(
                key,
                format!(
                    "must be a non-negative number of {unit}, found {}",
                    fmt_num(v)
                ),
            ))
        }
    };
    let positive = |key: &str, v: f64, what: &str| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(value_err(
                key,
                format!("must be a positive {what}, found {}", fmt_num(v)),
            ))
        }
    };
    let range_u = |key: &str, v: u64, lo: u64, hi: u64| {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(value_err(
                key,
                format!("must be between {lo} and {hi}, found {v}"),
            ))
        }
    };

    for t in &c.targets {
        if t.is_empty() || t.split('.').any(|s| s.is_empty()) || t.chars().any(char::is_whitespace)
        {
            return Err(value_err(
                "targets",
                format!(
                    "`{t}` is not a dotted name; write prefixes such as `search` or `db.query`"
                ),
            ));
        }
    }
    if !(c.sample_rate.is_finite() && (0.0..=1.0).contains(&c.sample_rate)) {
        return Err(value_err(
            "sample_rate",
            format!("must be between 0 and 1, found {}", fmt_num(c.sample_rate)),
        ));
    }
    non_negative(
        "thresholds.slow_call_ms",
        c.thresholds.slow_call_ms,
        "milliseconds",
    )?;
    non_negative("thresholds.memory_mb", c.thresholds.memory_mb, "MiB")?;
    if let Some(path) = &c.output.path {
        if path.as_os_str().is_empty() {
            return Err(value_err("output.path", "must not be empty".to_owned()));
        }
    } else if c.output.kind == OutputKind::File {
        let mut e = p.error(
            "output.type",
            ErrorKind::Missing,
            "`output.type: file` needs `output.path`; add the path of the JSONL file, e.g. `output.path: /var/log/app/flamewatch.jsonl`",
        );
        if let ConfigError::Invalid { key, origin, .. } = &mut e {
            *key = Some(origin.display_key("output.path"));
        }
        return Err(e);
    }
    if c.output.max_bytes < 4096 {
        return Err(value_err(
            "output.max_bytes",
            format!("must be at least 4096 bytes, found {}", c.output.max_bytes),
        ));
    }
    range_u("output.max_files", u64::from(c.output.max_files), 1, 1000)?;
    range_u(
        "max_records_per_minute",
        u64::from(c.max_records_per_minute),
        0,
        u64::from(RECORDS_PER_MINUTE_CAP),
    )?;
    positive(
        "anomaly.sigma",
        c.anomaly.sigma,
        "number of standard deviations",
    )?;
    range_u(
        "anomaly.min_samples",
        c.anomaly.min_samples,
        2,
        1_000_000_000,
    )?;
    positive(
        "regression.threshold_pct",
        c.regression.threshold_pct,
        "percentage",
    )?;
    if let Err(e) = c.regression.severity.validate() {
        let key = [
            "regression.severity.low",
            "regression.severity.medium",
            "regression.severity.high",
            "regression.severity.critical",
        ]
        .into_iter()
        .filter(|k| p.set.contains_key(k))
        .max_by_key(|k| p.set.get(k).map(|(_, l)| *l))
        .unwrap_or("regression.severity");
        let e = p.error(key, ErrorKind::Value, e.to_string());
        return Err(match e {
            ConfigError::Invalid {
                origin,
                line,
                reason,
                kind,
                ..
            } => ConfigError::Invalid {
                key: Some(origin.display_key("regression.severity")),
                origin,
                line,
                reason,
                kind,
            },
            other => other,
        });
    }
    let prefix = &c.api.prefix;
    if !prefix.starts_with('/')
        || (prefix.len() > 1 && prefix.ends_with('/'))
        || prefix
            .chars()
            .any(|ch| ch.is_whitespace() || matches!(ch, '?' | '#'))
    {
        return Err(value_err(
            "api.prefix",
            format!(
                "`{prefix}` is not a path prefix; start it with `/`, without a trailing `/`, spaces, `?` or `#`"
            ),
        ));
    }
    if let Some(token) = &c.api.token
        && (token.is_empty()
            || token
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control()))
    {
        return Err(value_err(
            "api.token",
            "must be a non-empty token without spaces".to_owned(),
        ));
    }
    if !(c.overhead.max_pct.is_finite() && c.overhead.max_pct >= 0.0 && c.overhead.max_pct <= 100.0)
    {
        return Err(value_err(
            "overhead.max_pct",
            format!(
                "must be a percentage from 0 (circuit breaker off) to 100, found {}",
                fmt_num(c.overhead.max_pct)
            ),
        ));
    }
    if let Some(p95) = c.trigger.p95_ms {
        positive("trigger.p95_ms", p95, "number of milliseconds")?;
    }
    positive(
        "trigger.duration_s",
        c.trigger.duration_s,
        "number of seconds",
    )?;
    non_negative("trigger.cooldown_s", c.trigger.cooldown_s, "seconds")?;
    range_u(
        "limits.max_keys",
        c.limits.max_keys as u64,
        1,
        MAX_KEYS_CAP as u64,
    )?;
    range_u("window.seconds", c.window.seconds, 1, 86_400)?;
    range_u(
        "window.count",
        c.window.count as u64,
        1,
        WINDOW_COUNT_CAP as u64,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_unique_and_round_trip() {
        let names: Vec<String> = FIELDS.iter().map(|f| env_name(f.key)).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[..i].contains(n), "duplicate env name {n}");
        }
        assert_eq!(
            env_name("thresholds.slow_call_ms"),
            "FLAMEWATCH_THRESHOLDS_SLOW_CALL_MS"
        );
    }

    #[test]
    fn numbers_follow_yaml_core_schema() {
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("-2.5"), Some(-2.5));
        assert_eq!(parse_float("inf"), None);
        assert_eq!(parse_float("0x10"), None);
        assert!(parse_float(".nan").unwrap().is_nan());
        assert_eq!(parse_uint("42"), Ok(42));
        assert_eq!(
            parse_uint("-5"),
            Err("must not be negative, found -5".into())
        );
        assert_eq!(
            parse_uint("1.5"),
            Err("expected a whole number, found 1.5".into())
        );
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1 GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12 parsecs").is_err());
    }

    #[test]
    fn children_list_section_members() {
        assert_eq!(children("thresholds"), vec!["slow_call_ms", "memory_mb"]);
        assert!(children("").contains(&"regression"));
        assert_eq!(children("regression"), vec!["threshold_pct", "severity"]);
        assert!(is_section("regression.severity"));
        assert!(!is_section("sample_rate"));
    }
}
