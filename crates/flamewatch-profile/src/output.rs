//! Writing every requested format of one profile into a directory, with file names
//! `<name>_<YYYYmmdd_HHMMSS>.<ext>` (UTC).

use crate::error::ProfileError;
use crate::flamegraph::{self, SvgOptions};
use crate::map::{self, MapOptions, PerformanceMap};
use crate::model::Profile;
use crate::{folded, pprof, speedscope};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// One output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Interactive SVG flamegraph (`.svg`).
    Svg,
    /// gzip-compressed pprof (`.pb.gz`).
    Pprof,
    /// Folded stacks (`.folded`).
    Folded,
    /// speedscope JSON (`.speedscope.json`).
    Speedscope,
    /// Performance map as JSON (`.map.json`).
    MapJson,
    /// Performance map as YAML (`.map.yaml`).
    MapYaml,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 6] = [
        Format::Svg,
        Format::Pprof,
        Format::Folded,
        Format::Speedscope,
        Format::MapJson,
        Format::MapYaml,
    ];

    /// The formats written when none are asked for: svg, pprof, folded and the map
    /// (JSON and YAML).
    pub const DEFAULT: [Format; 5] = [
        Format::Svg,
        Format::Pprof,
        Format::Folded,
        Format::MapJson,
        Format::MapYaml,
    ];

    /// File extension, without the leading dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Pprof => "pb.gz",
            Format::Folded => "folded",
            Format::Speedscope => "speedscope.json",
            Format::MapJson => "map.json",
            Format::MapYaml => "map.yaml",
        }
    }

    /// Parses a `--format` value: `svg`, `pprof`, `folded`, `speedscope`, `map` (JSON and
    /// YAML), `map-json`, `map-yaml`, or `all`.
    pub fn parse_list(value: &str) -> Result<Vec<Format>, String> {
        let mut out = Vec::new();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.to_ascii_lowercase().as_str() {
                "svg" | "flamegraph" => out.push(Format::Svg),
                "pprof" | "pb.gz" | "pb" => out.push(Format::Pprof),
                "folded" | "collapsed" => out.push(Format::Folded),
                "speedscope" => out.push(Format::Speedscope),
                "map" => out.extend([Format::MapJson, Format::MapYaml]),
                "map-json" | "json" => out.push(Format::MapJson),
                "map-yaml" | "yaml" => out.push(Format::MapYaml),
                "all" => out.extend(Format::ALL),
                other => {
                    return Err(format!(
                        "unknown format `{other}`; use svg, pprof, folded, speedscope, map, map-json, map-yaml or all"
                    ));
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// `YYYYmmdd_HHMMSS` (UTC) of a time.
pub fn timestamp(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // civil-from-days (proleptic Gregorian)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}_{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A safe file-name stem from a command or program path: its base name with everything
/// outside `[A-Za-z0-9._-]` replaced by `_` (`profile` when nothing is left).
pub fn stem_for(command: &str) -> String {
    let program = command.split_whitespace().next().unwrap_or("");
    let base = program.rsplit('/').next().unwrap_or(program);
    let s: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('.').to_owned();
    if s.is_empty() { "profile".into() } else { s }
}

/// `<dir>/<name>_<YYYYmmdd_HHMMSS>.<ext>`.
pub fn output_path(dir: &Path, name: &str, time: SystemTime, format: Format) -> PathBuf {
    dir.join(format!("{name}_{}.{}", timestamp(time), format.extension()))
}

/// What to write.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OutputRequest {
    /// Directory (created if missing).
    pub dir: PathBuf,
    /// File-name stem, usually [`stem_for`] of the command.
    pub name: String,
    /// When the recording started (names the files).
    pub time: SystemTime,
    /// Formats to write.
    pub formats: Vec<Format>,
    /// Shape of the performance map.
    pub map: MapOptions,
}

impl OutputRequest {
    /// A request for the default formats in `dir`.
    pub fn new(dir: impl Into<PathBuf>, name: impl Into<String>, time: SystemTime) -> Self {
        OutputRequest {
            dir: dir.into(),
            name: name.into(),
            time,
            formats: Format::DEFAULT.to_vec(),
            map: MapOptions::default(),
        }
    }

    /// Replaces the formats.
    pub fn with_formats(mut self, formats: Vec<Format>) -> Self {
        self.formats = formats;
        self
    }
}

/// A file that was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Its format.
    pub format: Format,
    /// Its path.
    pub path: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ProfileError + '_ {
    move |source| ProfileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes one format of a profile to a path (the map is built when needed).
pub fn write_format(
    profile: &Profile,
    format: Format,
    path: &Path,
    map: Option<&PerformanceMap>,
) -> Result<(), ProfileError> {
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut out = std::io::BufWriter::new(file);
    match format {
        Format::Svg => flamegraph::write_svg(profile, &SvgOptions::default(), &mut out)?,
        Format::Pprof => out
            .write_all(&pprof::encode(profile))
            .map_err(io_err(path))?,
        Format::Folded => folded::write(profile, &mut out)?,
        Format::Speedscope => speedscope::write(profile, &mut out)?,
        Format::MapJson | Format::MapYaml => {
            let built;
            let map = match map {
                Some(m) => m,
                None => {
                    built = map::build(profile, MapOptions::default());
                    &built
                }
            };
            let text = if format == Format::MapJson {
                map.to_json()?
            } else {
                map.to_yaml()?
            };
            out.write_all(text.as_bytes()).map_err(io_err(path))?;
        }
    }
    out.flush().map_err(io_err(path))
}

/// Writes every requested format of one profile, plus folded stacks always (so that
/// `flamewatch diff` works on any run), and returns what was written. Existing files are
/// never overwritten: a `_2`, `_3`, … suffix is added to the stem instead. Each format is
/// attempted even when an earlier one failed; the first error is returned after all were
/// tried.
pub fn write_all(profile: &Profile, request: &OutputRequest) -> Result<Vec<Written>, ProfileError> {
    std::fs::create_dir_all(&request.dir).map_err(io_err(&request.dir))?;
    let mut formats = request.formats.clone();
    formats.push(Format::Folded);
    formats.sort();
    formats.dedup();
    let mut name = request.name.clone();
    for n in 2.. {
        let taken = formats
            .iter()
            .any(|f| output_path(&request.dir, &name, request.time, *f).exists());
        if !taken {
            break;
        }
        name = format!("{}_{n}", request.name);
    }
    // The SVG is written first and the map built only when asked for, so the flamegraph
    // appears as early as possible.
    let mut perf_map: Option<PerformanceMap> = None;
    let mut written = Vec::new();
    let mut first_err = None;
    for format in formats {
        let path = output_path(&request.dir, &name, request.time, format);
        let map = match format {
            Format::MapJson | Format::MapYaml => {
                Some(&*perf_map.get_or_insert_with(|| map::build(profile, request.map)))
            }
            _ => None,
        };
        match write_format(profile, format, &path, map) {
            Ok(()) => written.push(Written { format, path }),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(written),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_and_names() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(timestamp(t), "20231114_221320");
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "20000229_000000"
        );
        assert_eq!(stem_for("/usr/bin/my app --x"), "my");
        assert_eq!(stem_for("./target/release/fw-demo"), "fw-demo");
        assert_eq!(stem_for(""), "profile");
        assert_eq!(
            output_path(Path::new("out"), "app", t, Format::Pprof),
            PathBuf::from("out/app_20231114_221320.pb.gz")
        );
        assert_eq!(
            Format::parse_list("svg,map").unwrap(),
            vec![Format::Svg, Format::MapJson, Format::MapYaml]
        );
        assert!(Format::parse_list("png").unwrap_err().contains("`png`"));
    }
}
