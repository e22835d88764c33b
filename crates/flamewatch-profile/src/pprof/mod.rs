//! pprof (`profile.proto`) encoding and decoding, gzip-compressed as `go tool pprof` expects.
//!
//! The model's tables map one to one onto pprof's: handles become 1-based ids, the model's
//! string table becomes the pprof string table (index 0 is `""`). Two model fields have no
//! pprof field and travel as comments so that a saved profile is self-contained:
//! the command line (`flamewatch.command: …`) and the run statistics
//! (`flamewatch.run: {json}`). Decoding accepts gzip-compressed or plain messages.

pub mod proto;

use crate::error::ProfileError;
use crate::model::{
    Function, FunctionId, Label, LabelValue, Line, Location, LocationId, Mapping, MappingId,
    Profile, Sample, ValueType,
};
use crate::run::RunStats;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use prost::Message;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

const COMMAND_PREFIX: &str = "flamewatch.command: ";
const RUN_PREFIX: &str = "flamewatch.run: ";

/// Upper bound on the decompressed size of a pprof message (protects against gzip bombs).
pub const MAX_DECODED_BYTES: u64 = 1 << 30;

/// Converts a profile to the pprof message (not compressed).
pub fn to_proto(profile: &Profile) -> proto::Profile {
    let mut strings: Vec<String> = profile.strings().to_vec();
    let mut extra: HashMap<String, i64> = HashMap::new();
    let mut idx = |s: &str| -> i64 {
        if let Some(id) = profile.lookup_string(s) {
            return id.index() as i64;
        }
        if let Some(&i) = extra.get(s) {
            return i;
        }
        let i = strings.len() as i64;
        strings.push(s.to_owned());
        extra.insert(s.to_owned(), i);
        i
    };
    let sample_type = profile
        .sample_types()
        .iter()
        .map(|t| proto::ValueType {
            r#type: idx(&t.kind),
            unit: idx(&t.unit),
        })
        .collect();
    let period_type = profile.period_type.as_ref().map(|t| proto::ValueType {
        r#type: idx(&t.kind),
        unit: idx(&t.unit),
    });
    let mut comment: Vec<i64> = Vec::new();
    if let Some(command) = &profile.command {
        comment.push(idx(&format!("{COMMAND_PREFIX}{command}")));
    }
    if let Some(run) = &profile.run {
        let json = serde_json::to_string(run).unwrap_or_default();
        comment.push(idx(&format!("{RUN_PREFIX}{json}")));
    }
    for c in &profile.comments {
        comment.push(idx(c));
    }
    let default_sample_type = profile.default_sample_type.as_deref().map_or(0, &mut idx);
    let drop_frames = idx(&profile.drop_frames);
    let keep_frames = idx(&profile.keep_frames);
    let doc_url = idx(&profile.doc_url);

    let mapping = profile
        .mappings()
        .iter()
        .enumerate()
        .map(|(i, m)| proto::Mapping {
            id: i as u64 + 1,
            memory_start: m.memory_start,
            memory_limit: m.memory_limit,
            file_offset: m.file_offset,
            filename: m.filename.index() as i64,
            build_id: m.build_id.index() as i64,
            has_functions: m.has_functions,
            has_filenames: m.has_filenames,
            has_line_numbers: m.has_line_numbers,
            has_inline_frames: m.has_inline_frames,
        })
        .collect();
    let function = profile
        .functions()
        .iter()
        .enumerate()
        .map(|(i, f)| proto::Function {
            id: i as u64 + 1,
            name: f.name.index() as i64,
            system_name: f.system_name.index() as i64,
            filename: f.filename.index() as i64,
            start_line: f.start_line,
        })
        .collect();
    let location = profile
        .locations()
        .iter()
        .enumerate()
        .map(|(i, l)| proto::Location {
            id: i as u64 + 1,
            mapping_id: l.mapping.map_or(0, |m| m.index() as u64 + 1),
            address: l.address,
            line: l
                .lines
                .iter()
                .map(|line| proto::Line {
                    function_id: line.function.index() as u64 + 1,
                    line: line.line,
                    column: line.column,
                })
                .collect(),
            is_folded: l.is_folded,
        })
        .collect();
    let sample = profile
        .samples()
        .iter()
        .map(|s| proto::Sample {
            location_id: profile
                .stack(s.stack)
                .iter()
                .map(|l| l.index() as u64 + 1)
                .collect(),
            value: s.values.clone(),
            label: s
                .labels
                .iter()
                .map(|l| match l.value {
                    LabelValue::Str(v) => proto::Label {
                        key: l.key.index() as i64,
                        str: v.index() as i64,
                        num: 0,
                        num_unit: 0,
                    },
                    LabelValue::Num { value, unit } => proto::Label {
                        key: l.key.index() as i64,
                        str: 0,
                        num: value,
                        num_unit: unit.index() as i64,
                    },
                })
                .collect(),
        })
        .collect();
    proto::Profile {
        sample_type,
        sample,
        mapping,
        location,
        function,
        string_table: strings,
        drop_frames,
        keep_frames,
        time_nanos: profile.time_nanos,
        duration_nanos: profile.duration_nanos,
        period_type,
        period: profile.period,
        comment,
        default_sample_type,
        doc_url,
    }
}

/// Encodes a profile as a gzip-compressed pprof message.
pub fn encode(profile: &Profile) -> Vec<u8> {
    let raw = to_proto(profile).encode_to_vec();
    let mut gz = GzEncoder::new(
        Vec::with_capacity(raw.len() / 4 + 64),
        Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = gz.write_all(&raw);
    gz.finish().unwrap_or_default()
}

/// Writes a profile as `.pb.gz`.
pub fn write_file(profile: &Profile, path: &Path) -> Result<(), ProfileError> {
    std::fs::write(path, encode(profile)).map_err(|source| ProfileError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads a `.pb.gz` (or uncompressed `.pb`) file.
pub fn read_file(path: &Path) -> Result<Profile, ProfileError> {
    let bytes = std::fs::read(path).map_err(|source| ProfileError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode(&bytes)
}

/// Decodes gzip-compressed or plain pprof bytes.
pub fn decode(bytes: &[u8]) -> Result<Profile, ProfileError> {
    let raw;
    let message = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(bytes)
            .take(MAX_DECODED_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| ProfileError::Pprof(format!("gzip: {e}")))?;
        if out.len() as u64 > MAX_DECODED_BYTES {
            return Err(ProfileError::Pprof(format!(
                "decompressed size exceeds {MAX_DECODED_BYTES} bytes"
            )));
        }
        raw = out;
        &raw[..]
    } else {
        bytes
    };
    let message = proto::Profile::decode(message)
        .map_err(|e| ProfileError::Pprof(format!("protobuf: {e}")))?;
    from_proto(&message)
}

/// Converts a decoded pprof message into a profile, checking every reference.
pub fn from_proto(message: &proto::Profile) -> Result<Profile, ProfileError> {
    let table = &message.string_table;
    if table.first().is_some_and(|s| !s.is_empty()) {
        return Err(ProfileError::Pprof(
            "string_table[0] must be the empty string".into(),
        ));
    }
    let text = |i: i64, what: &str| -> Result<&str, ProfileError> {
        if i == 0 && table.is_empty() {
            return Ok("");
        }
        usize::try_from(i)
            .ok()
            .and_then(|i| table.get(i))
            .map(String::as_str)
            .ok_or_else(|| {
                ProfileError::Pprof(format!(
                    "{what} refers to string {i}, but the string table has {} entries",
                    table.len()
                ))
            })
    };
    let value_type = |t: &proto::ValueType| -> Result<ValueType, ProfileError> {
        Ok(ValueType::new(
            text(t.r#type, "sample type")?,
            text(t.unit, "sample unit")?,
        ))
    };
    let sample_types = message
        .sample_type
        .iter()
        .map(value_type)
        .collect::<Result<Vec<_>, _>>()?;
    let mut p = Profile::new(sample_types);
    p.default_sample_type = None;
    p.time_nanos = message.time_nanos;
    p.duration_nanos = message.duration_nanos;
    p.period = message.period;
    p.period_type = message.period_type.as_ref().map(value_type).transpose()?;
    for &c in &message.comment {
        let c = text(c, "comment")?;
        if let Some(command) = c.strip_prefix(COMMAND_PREFIX) {
            p.command = Some(command.to_owned());
        } else if let Some(run) = c
            .strip_prefix(RUN_PREFIX)
            .and_then(|json| serde_json::from_str::<RunStats>(json).ok())
        {
            p.run = Some(run);
        } else {
            p.comments.push(c.to_owned());
        }
    }
    if message.default_sample_type != 0 {
        p.default_sample_type =
            Some(text(message.default_sample_type, "default_sample_type")?.into());
    }
    p.drop_frames = text(message.drop_frames, "drop_frames")?.to_owned();
    p.keep_frames = text(message.keep_frames, "keep_frames")?.to_owned();
    p.doc_url = text(message.doc_url, "doc_url")?.to_owned();

    let mut mappings: HashMap<u64, MappingId> = HashMap::new();
    for m in &message.mapping {
        let filename = p.intern(text(m.filename, "mapping filename")?);
        let build_id = p.intern(text(m.build_id, "mapping build_id")?);
        let id = p.push_mapping(Mapping {
            memory_start: m.memory_start,
            memory_limit: m.memory_limit,
            file_offset: m.file_offset,
            filename,
            build_id,
            has_functions: m.has_functions,
            has_filenames: m.has_filenames,
            has_line_numbers: m.has_line_numbers,
            has_inline_frames: m.has_inline_frames,
        });
        mappings.insert(m.id, id);
    }
    let mut functions: HashMap<u64, FunctionId> = HashMap::new();
    for f in &message.function {
        let name = p.intern(text(f.name, "function name")?);
        let system_name = p.intern(text(f.system_name, "function system_name")?);
        let filename = p.intern(text(f.filename, "function filename")?);
        let id = p.intern_function(Function {
            name,
            system_name,
            filename,
            start_line: f.start_line,
        });
        functions.insert(f.id, id);
    }
    let mut locations: HashMap<u64, LocationId> = HashMap::new();
    for l in &message.location {
        let mapping = match l.mapping_id {
            0 => None,
            id => Some(*mappings.get(&id).ok_or_else(|| {
                ProfileError::Pprof(format!("location {} refers to unknown mapping {id}", l.id))
            })?),
        };
        let lines = l
            .line
            .iter()
            .map(|line| {
                let function = *functions.get(&line.function_id).ok_or_else(|| {
                    ProfileError::Pprof(format!(
                        "location {} refers to unknown function {}",
                        l.id, line.function_id
                    ))
                })?;
                Ok(Line {
                    function,
                    line: line.line,
                    column: line.column,
                })
            })
            .collect::<Result<Vec<_>, ProfileError>>()?;
        let id = p.intern_location(Location {
            mapping,
            address: l.address,
            lines,
            is_folded: l.is_folded,
        });
        locations.insert(l.id, id);
    }
    let n = p.sample_types().len();
    for (i, s) in message.sample.iter().enumerate() {
        if s.value.len() != n {
            return Err(ProfileError::Pprof(format!(
                "sample {i} has {} values but the profile has {n} sample types",
                s.value.len()
            )));
        }
        let stack = s
            .location_id
            .iter()
            .map(|id| {
                locations.get(id).copied().ok_or_else(|| {
                    ProfileError::Pprof(format!("sample {i} refers to unknown location {id}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stack = p.intern_stack(&stack);
        let mut labels = Vec::with_capacity(s.label.len());
        for l in &s.label {
            let key = p.intern(text(l.key, "label key")?);
            let value = if l.num != 0 || l.num_unit != 0 {
                LabelValue::Num {
                    value: l.num,
                    unit: p.intern(text(l.num_unit, "label unit")?),
                }
            } else {
                LabelValue::Str(p.intern(text(l.str, "label value")?))
            };
            labels.push(Label { key, value });
        }
        p.push_sample(Sample {
            stack,
            values: s.value.clone(),
            labels,
        });
    }
    Ok(p)
}
