//! The profile model: weighted stack samples over interned tables.
//!
//! A [`Profile`] owns five tables — strings, mappings, functions, locations and stacks — and
//! a list of samples. Every cross reference is a small `Copy` handle (an index into a table),
//! so a million samples of the same hot stack cost one stack entry and a million small
//! sample records, and converting to pprof is a direct walk of the tables. The layout mirrors
//! `profile.proto` closely enough that pprof converts both ways without loss:
//! a [`Location`] holds one line per frame, innermost inlined function first, exactly like a
//! pprof `Location`.
//!
//! Producers call [`Profile::add_sample`] with symbolized [`Frame`]s (leaf first); identical
//! stacks with identical labels are merged by adding their values.

use crate::run::RunStats;
use std::collections::HashMap;

/// One frame of a stack, as symbolized.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Frame {
    /// Function name, demangled. An unsymbolized frame carries its address as `0x…`.
    pub function: String,
    /// Source file, when debug info gave one.
    pub file: Option<String>,
    /// Source line, when debug info gave one.
    pub line: Option<u32>,
    /// Binary or shared object the address belongs to, or `"[kernel]"`.
    pub module: Option<String>,
    /// Instruction address (or the address of the call for non-leaf frames).
    pub address: u64,
    /// `true` when this frame was inlined into the next (outer) frame of the stack.
    pub inlined: bool,
}

impl Frame {
    /// A frame that only has a function name (as read from folded stacks).
    pub fn named(function: impl Into<String>) -> Frame {
        Frame {
            function: function.into(),
            ..Frame::default()
        }
    }
}

/// A sample type, e.g. `("cpu","nanoseconds")`, `("off_cpu","nanoseconds")`,
/// `("samples","count")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ValueType {
    /// What is measured (`cpu`, `off_cpu`, `samples`, `wall`, `alloc_space`, …).
    pub kind: String,
    /// Its unit (`nanoseconds`, `count`, `bytes`, …).
    pub unit: String,
}

impl ValueType {
    /// Builds a value type from two string slices.
    pub fn new(kind: &str, unit: &str) -> ValueType {
        ValueType {
            kind: kind.to_owned(),
            unit: unit.to_owned(),
        }
    }
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub(crate) u32);

        impl $name {
            /// The position of the entry in its table.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

handle!(
    /// A string in the profile's string table (index 0 is always the empty string).
    StringId
);
handle!(
    /// A binary mapping in the profile's mapping table.
    MappingId
);
handle!(
    /// A function in the profile's function table.
    FunctionId
);
handle!(
    /// A location (an address with its inline chain) in the location table.
    LocationId
);
handle!(
    /// A stack (locations, leaf first) in the stack table.
    StackId
);

/// A binary or shared object that addresses belong to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Mapping {
    /// Start of the mapped address range (0 when unknown).
    pub memory_start: u64,
    /// End of the mapped address range, exclusive (0 when unknown).
    pub memory_limit: u64,
    /// File offset of `memory_start`.
    pub file_offset: u64,
    /// Path of the binary, or `[kernel]`.
    pub filename: StringId,
    /// Build id (hex), or the empty string.
    pub build_id: StringId,
    /// Whether function names were resolved for this mapping.
    pub has_functions: bool,
    /// Whether file names were resolved.
    pub has_filenames: bool,
    /// Whether line numbers were resolved.
    pub has_line_numbers: bool,
    /// Whether inline frames were resolved.
    pub has_inline_frames: bool,
}

/// A function: name and where it is defined.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Function {
    /// Human-readable (demangled) name.
    pub name: StringId,
    /// Name as in the binary (mangled), often equal to `name`.
    pub system_name: StringId,
    /// Source file, or the empty string.
    pub filename: StringId,
    /// First line of the function, 0 when unknown.
    pub start_line: i64,
}

/// One source line within a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Line {
    /// The function executing at this line.
    pub function: FunctionId,
    /// Line number, 0 when unknown.
    pub line: i64,
    /// Column, 0 when unknown.
    pub column: i64,
}

/// An address with the chain of functions inlined at it (innermost first; the last line is
/// the physical frame).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Location {
    /// The mapping of the address, if known.
    pub mapping: Option<MappingId>,
    /// Instruction address, 0 when unknown.
    pub address: u64,
    /// Lines, innermost inlined function first.
    pub lines: Vec<Line>,
    /// Whether several inline frames were folded into one (pprof `is_folded`).
    pub is_folded: bool,
}

/// The value of a label: a string or a number with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LabelValue {
    /// A string value.
    Str(StringId),
    /// A numeric value with its unit (the unit may be the empty string).
    Num {
        /// The number.
        value: i64,
        /// Its unit.
        unit: StringId,
    },
}

/// A key/value label attached to a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// The key.
    pub key: StringId,
    /// The value.
    pub value: LabelValue,
}

/// One weighted stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The stack, leaf first.
    pub stack: StackId,
    /// One value per sample type of the profile.
    pub values: Vec<i64>,
    /// Labels (thread, off-CPU reason, truncation, …).
    pub labels: Vec<Label>,
}

/// Weighted stack samples over interned strings, functions, locations, mappings and stacks.
#[derive(Debug, Clone)]
pub struct Profile {
    strings: Vec<String>,
    string_index: HashMap<String, StringId>,
    mappings: Vec<Mapping>,
    mapping_by_name: HashMap<StringId, MappingId>,
    functions: Vec<Function>,
    function_index: HashMap<Function, FunctionId>,
    locations: Vec<Location>,
    location_index: HashMap<Location, LocationId>,
    stacks: Vec<Vec<LocationId>>,
    stack_index: HashMap<Vec<LocationId>, StackId>,
    sample_types: Vec<ValueType>,
    samples: Vec<Sample>,
    sample_index: HashMap<(StackId, Vec<Label>), usize>,
    /// Start of the recording, nanoseconds since the Unix epoch (0 when unknown).
    pub time_nanos: i64,
    /// Length of the recording in nanoseconds (0 when unknown).
    pub duration_nanos: i64,
    /// What one sampling period measures, e.g. `cpu/nanoseconds`.
    pub period_type: Option<ValueType>,
    /// Length of one sampling period in `period_type` units (0 when unknown).
    pub period: i64,
    /// Free-form comments carried in pprof.
    pub comments: Vec<String>,
    /// The profiled command line, if known.
    pub command: Option<String>,
    /// Preferred sample type kind for viewers, if any.
    pub default_sample_type: Option<String>,
    /// pprof `drop_frames` regular expression (empty when unset).
    pub drop_frames: String,
    /// pprof `keep_frames` regular expression (empty when unset).
    pub keep_frames: String,
    /// pprof `doc_url` (empty when unset).
    pub doc_url: String,
    /// Run-level measurements (wall, CPU, RSS, I/O, quality counters), when recorded.
    pub run: Option<RunStats>,
}

/// Well-known label keys and values shared with the sampler.
pub mod labels {
    /// Thread name label key.
    pub const THREAD: &str = "thread";
    /// Off-CPU reason label key; values are the [`crate::OffCpuReason`] names.
    pub const OFF_CPU_REASON: &str = "off_cpu_reason";
    /// Stack state label key; the value [`TRUNCATED`] marks a stack that did not unwind fully.
    pub const STACK: &str = "stack";
    /// Value of [`STACK`] for a truncated stack.
    pub const TRUNCATED: &str = "truncated";
}

impl Profile {
    /// An empty profile with these sample types (one value per type in every sample).
    /// When one of them is `cpu`, it becomes the default sample type viewers show first.
    pub fn new(sample_types: Vec<ValueType>) -> Profile {
        let default_sample_type = sample_types
            .iter()
            .any(|t| t.kind == "cpu")
            .then(|| "cpu".to_owned());
        let mut profile = Profile {
            strings: Vec::new(),
            string_index: HashMap::new(),
            mappings: Vec::new(),
            mapping_by_name: HashMap::new(),
            functions: Vec::new(),
            function_index: HashMap::new(),
            locations: Vec::new(),
            location_index: HashMap::new(),
            stacks: Vec::new(),
            stack_index: HashMap::new(),
            sample_types,
            samples: Vec::new(),
            sample_index: HashMap::new(),
            time_nanos: 0,
            duration_nanos: 0,
            period_type: None,
            period: 0,
            comments: Vec::new(),
            command: None,
            default_sample_type,
            drop_frames: String::new(),
            keep_frames: String::new(),
            doc_url: String::new(),
            run: None,
        };
        profile.intern("");
        profile
    }

    /// Interns a string and returns its handle.
    pub fn intern(&mut self, s: &str) -> StringId {
        if let Some(&id) = self.string_index.get(s) {
            return id;
        }
        let id = StringId(self.strings.len() as u32);
        self.strings.push(s.to_owned());
        self.string_index.insert(s.to_owned(), id);
        id
    }

    /// The string behind a handle.
    pub fn string(&self, id: StringId) -> &str {
        &self.strings[id.index()]
    }

    /// The handle of a string, if it is interned.
    pub fn lookup_string(&self, s: &str) -> Option<StringId> {
        self.string_index.get(s).copied()
    }

    /// The whole string table (index 0 is `""`).
    pub fn strings(&self) -> &[String] {
        &self.strings
    }

    /// The sample types, in value order.
    pub fn sample_types(&self) -> &[ValueType] {
        &self.sample_types
    }

    /// The index of the sample type with this kind, if present.
    pub fn sample_type_index(&self, kind: &str) -> Option<usize> {
        self.sample_types.iter().position(|t| t.kind == kind)
    }

    /// All samples.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The mapping table.
    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// The function table.
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    /// The location table.
    pub fn locations(&self) -> &[Location] {
        &self.locations
    }

    /// A mapping by handle.
    pub fn mapping(&self, id: MappingId) -> &Mapping {
        &self.mappings[id.index()]
    }

    /// A function by handle.
    pub fn function(&self, id: FunctionId) -> &Function {
        &self.functions[id.index()]
    }

    /// A location by handle.
    pub fn location(&self, id: LocationId) -> &Location {
        &self.locations[id.index()]
    }

    /// The locations of a stack, leaf first.
    pub fn stack(&self, id: StackId) -> &[LocationId] {
        &self.stacks[id.index()]
    }

    /// Number of distinct stacks.
    pub fn stack_count(&self) -> usize {
        self.stacks.len()
    }

    /// Sets the recording duration.
    pub fn set_duration(&mut self, duration: std::time::Duration) {
        self.duration_nanos = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
    }

    /// Sets the recording start time.
    pub fn set_start_time(&mut self, start: std::time::SystemTime) {
        self.time_nanos = start
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
    }

    /// Sets the sampling period, e.g. `("cpu","nanoseconds")` and 1 001 001 ns at 999 Hz.
    pub fn set_period(&mut self, period_type: ValueType, period: i64) {
        self.period_type = Some(period_type);
        self.period = period;
    }

    /// Sets the profiled command line (shown in titles and reports).
    pub fn set_command(&mut self, command: impl Into<String>) {
        self.command = Some(command.into());
    }

    /// Adds a free-form comment.
    pub fn add_comment(&mut self, comment: impl Into<String>) {
        self.comments.push(comment.into());
    }

    /// Attaches run-level measurements (used by the performance map and the report).
    pub fn set_run_stats(&mut self, run: RunStats) {
        self.run = Some(run);
    }

    /// Interns a mapping by file name (the first mapping with a name wins).
    pub fn intern_mapping_name(&mut self, filename: &str) -> MappingId {
        let name = self.intern(filename);
        if let Some(&id) = self.mapping_by_name.get(&name) {
            return id;
        }
        self.push_mapping(Mapping {
            filename: name,
            has_functions: true,
            ..Mapping::default()
        })
    }

    /// Appends a mapping (no deduplication; pprof may hold several per file).
    pub fn push_mapping(&mut self, mapping: Mapping) -> MappingId {
        let id = MappingId(self.mappings.len() as u32);
        self.mapping_by_name.entry(mapping.filename).or_insert(id);
        self.mappings.push(mapping);
        id
    }

    /// Replaces a mapping's details (range, offset, build id) keeping its handle.
    pub fn update_mapping(&mut self, id: MappingId, mapping: Mapping) {
        self.mappings[id.index()] = mapping;
    }

    /// Interns a function.
    pub fn intern_function(&mut self, function: Function) -> FunctionId {
        if let Some(&id) = self.function_index.get(&function) {
            return id;
        }
        let id = FunctionId(self.functions.len() as u32);
        self.function_index.insert(function.clone(), id);
        self.functions.push(function);
        id
    }

    /// Interns a location.
    pub fn intern_location(&mut self, location: Location) -> LocationId {
        if let Some(&id) = self.location_index.get(&location) {
            return id;
        }
        let id = LocationId(self.locations.len() as u32);
        self.location_index.insert(location.clone(), id);
        self.locations.push(location);
        id
    }

    /// Interns a stack of locations (leaf first).
    pub fn intern_stack(&mut self, stack: &[LocationId]) -> StackId {
        if let Some(&id) = self.stack_index.get(stack) {
            return id;
        }
        let id = StackId(self.stacks.len() as u32);
        self.stack_index.insert(stack.to_vec(), id);
        self.stacks.push(stack.to_vec());
        id
    }

    /// Interns the frames of a stack (leaf first) into locations: each run of inlined
    /// frames ends with the physical frame it was inlined into and becomes one location.
    pub fn intern_frames(&mut self, stack: &[Frame]) -> StackId {
        let mut locations = Vec::with_capacity(stack.len());
        // One scratch location is refilled per frame; it is cloned only when new.
        let mut scratch = Location::default();
        let mut pending_file = false;
        for (i, frame) in stack.iter().enumerate() {
            pending_file |= frame.file.is_some();
            let filename = self.intern(frame.file.as_deref().unwrap_or(""));
            let name = self.intern(&frame.function);
            let function = self.intern_function(Function {
                name,
                system_name: name,
                filename,
                start_line: 0,
            });
            scratch.lines.push(Line {
                function,
                line: frame.line.map_or(0, i64::from),
                column: 0,
            });
            let last = i + 1 == stack.len();
            if !frame.inlined || last {
                let mapping = frame.module.as_deref().map(|m| self.intern_mapping_name(m));
                if let Some(m) = mapping {
                    let m = &mut self.mappings[m.index()];
                    m.has_filenames |= pending_file;
                    m.has_line_numbers |= scratch.lines.iter().any(|l| l.line > 0);
                    m.has_inline_frames |= scratch.lines.len() > 1;
                }
                scratch.mapping = mapping;
                scratch.address = frame.address;
                let id = match self.location_index.get(&scratch) {
                    Some(&id) => id,
                    None => self.intern_location(scratch.clone()),
                };
                locations.push(id);
                scratch.lines.clear();
                pending_file = false;
            }
        }
        self.intern_stack(&locations)
    }

    /// Adds one sample. `stack` is leaf first; `values` has one entry per sample type
    /// (missing entries count as 0, extra entries are ignored); labels are string pairs,
    /// e.g. `("thread","worker-1")`, `("off_cpu_reason","lock")`, `("stack","truncated")`.
    /// A sample with the same stack and labels as an earlier one is merged into it.
    /// An inlined frame is stored with the physical frame it was inlined into (the next
    /// non-inlined frame), so it takes that frame's address and module.
    pub fn add_sample(&mut self, stack: &[Frame], values: &[i64], labels: &[(&str, &str)]) {
        let stack = self.intern_frames(stack);
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label {
                key: self.intern(k),
                value: LabelValue::Str(self.intern(v)),
            })
            .collect();
        self.add_interned_sample(stack, values, labels);
    }

    /// Adds a sample over an already interned stack, merging it with an identical one.
    pub fn add_interned_sample(&mut self, stack: StackId, values: &[i64], labels: Vec<Label>) {
        let mut key_labels = labels.clone();
        key_labels.sort_unstable();
        let key = (stack, key_labels);
        let n = self.sample_types.len();
        match self.sample_index.get(&key) {
            Some(&i) => {
                for (slot, v) in self.samples[i].values.iter_mut().zip(values) {
                    *slot = slot.saturating_add(*v);
                }
            }
            None => {
                let mut v = vec![0; n];
                for (slot, value) in v.iter_mut().zip(values) {
                    *slot = *value;
                }
                self.sample_index.insert(key, self.samples.len());
                self.samples.push(Sample {
                    stack,
                    values: v,
                    labels,
                });
            }
        }
    }

    /// Appends a sample as is, without merging (used when decoding pprof, which may hold
    /// duplicate samples).
    pub fn push_sample(&mut self, sample: Sample) {
        let mut key_labels = sample.labels.clone();
        key_labels.sort_unstable();
        self.sample_index
            .entry((sample.stack, key_labels))
            .or_insert(self.samples.len());
        self.samples.push(sample);
    }

    /// The frames of a stack, leaf first, with inline chains expanded.
    pub fn frames(&self, stack: StackId) -> Vec<Frame> {
        let mut out = Vec::new();
        for &loc in self.stack(stack) {
            let location = self.location(loc);
            let module = location
                .mapping
                .map(|m| self.string(self.mapping(m).filename).to_owned());
            let n = location.lines.len();
            for (i, line) in location.lines.iter().enumerate() {
                let function = self.function(line.function);
                let file = self.string(function.filename);
                out.push(Frame {
                    function: self.string(function.name).to_owned(),
                    file: (!file.is_empty()).then(|| file.to_owned()),
                    line: (line.line > 0).then(|| u32::try_from(line.line).unwrap_or(u32::MAX)),
                    module: module.clone(),
                    address: location.address,
                    inlined: i + 1 < n,
                });
            }
            if n == 0 {
                out.push(Frame {
                    function: format!("{:#x}", location.address),
                    module,
                    address: location.address,
                    ..Frame::default()
                });
            }
        }
        out
    }

    /// The function names of a stack, leaf first, inline chains expanded. Locations without
    /// lines yield `None` (the caller may print their address).
    pub fn frame_functions(&self, stack: StackId) -> impl Iterator<Item = FrameRef> + '_ {
        self.stack(stack).iter().flat_map(move |&loc| {
            let location = self.location(loc);
            let lines: Vec<FrameRef> = if location.lines.is_empty() {
                vec![FrameRef::Address(location.address)]
            } else {
                location
                    .lines
                    .iter()
                    .map(|l| FrameRef::Function(l.function, l.line))
                    .collect()
            };
            lines
        })
    }

    /// The display name of a frame reference.
    pub fn frame_name(&self, frame: FrameRef) -> String {
        match frame {
            FrameRef::Function(f, _) => self.string(self.function(f).name).to_owned(),
            FrameRef::Address(a) => format!("{a:#x}"),
        }
    }

    /// The string value of a label key on a sample, if present.
    pub fn label<'a>(&'a self, sample: &Sample, key: &str) -> Option<&'a str> {
        let key = self.lookup_string(key)?;
        sample.labels.iter().find_map(|l| match l.value {
            LabelValue::Str(v) if l.key == key => Some(self.string(v)),
            _ => None,
        })
    }

    /// Sum of one value column over all samples.
    pub fn total(&self, index: usize) -> i64 {
        self.samples
            .iter()
            .map(|s| s.values.get(index).copied().unwrap_or(0))
            .fold(0i64, i64::saturating_add)
    }
}

/// A frame of an interned stack: a function at a line, or a bare address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameRef {
    /// A symbolized frame: function and line (0 when unknown).
    Function(FunctionId, i64),
    /// An unsymbolized location.
    Address(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(name: &str, inlined: bool, address: u64) -> Frame {
        Frame {
            function: name.into(),
            file: Some("src/main.rs".into()),
            line: Some(7),
            module: Some("/bin/app".into()),
            address,
            inlined,
        }
    }

    #[test]
    fn identical_samples_merge_and_inline_chains_share_a_location() {
        let mut p = Profile::new(vec![ValueType::new("cpu", "nanoseconds")]);
        let stack = [
            frame("inner", true, 0x10),
            frame("outer", false, 0x10),
            frame("main", false, 0x20),
        ];
        p.add_sample(&stack, &[5], &[("thread", "main")]);
        p.add_sample(&stack, &[7], &[("thread", "main")]);
        p.add_sample(&stack, &[1], &[("thread", "other")]);
        assert_eq!(p.samples().len(), 2);
        assert_eq!(p.samples()[0].values, vec![12]);
        assert_eq!(p.locations().len(), 2);
        assert_eq!(p.location(p.stack(p.samples()[0].stack)[0]).lines.len(), 2);
        assert_eq!(p.frames(p.samples()[0].stack), stack.to_vec());
        assert_eq!(p.label(&p.samples()[1], "thread"), Some("other"));
        assert_eq!(p.total(0), 13);
    }
}
