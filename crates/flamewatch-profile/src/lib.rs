//! The flamewatch profile model and its file formats.
//!
//! A [`Profile`] is a set of weighted stack samples over interned tables (strings, mappings,
//! functions, locations, stacks) referenced by small `Copy` handles. It converts without loss
//! to and from pprof (`profile.proto`, gzip; [`pprof`]), to and from folded stacks (names and
//! weights; [`folded`]), and renders as an SVG flamegraph (`flamegraph`), speedscope JSON
//! ([`speedscope`]), a performance map in JSON/YAML ([`map`]) and a text report
//! ([`report`]). `write_all` writes every requested format of one profile into a
//! directory with `<name>_<YYYYmmdd_HHMMSS>.<ext>` names. The SVG renderer, the YAML map
//! and `write_all` need the default `render` feature; without it the crate is light
//! enough for the in-process library and the server.
//!
//! Producers call [`Profile::add_sample`] with symbolized frames, leaf first. When the same
//! stack recurs many times, [`Profile::intern_frames`] once per distinct stack plus
//! [`Profile::add_interned_sample`] per sample avoids hashing the frames again.
//!
//! ```
//! use flamewatch_profile::{Frame, MapOptions, Profile, ValueType, map, report};
//!
//! let mut profile = Profile::new(vec![
//!     ValueType::new("cpu", "nanoseconds"),
//!     ValueType::new("off_cpu", "nanoseconds"),
//! ]);
//! let stack = [Frame::named("work"), Frame::named("main")]; // leaf first
//! profile.add_sample(&stack, &[1_000_000, 0], &[("thread", "main")]);
//! profile.add_sample(&stack, &[2_000_000, 0], &[("thread", "main")]);
//! let wait = [Frame::named("recv"), Frame::named("main")];
//! profile.add_sample(&wait, &[0, 9_000_000], &[("thread", "main"), ("off_cpu_reason", "io_network")]);
//! assert_eq!(profile.samples().len(), 2);
//! assert_eq!(profile.total(0), 3_000_000);
//!
//! let perf_map = map::build(&profile, MapOptions::default());
//! assert_eq!(perf_map.bottleneck_classification, "I/O-bound (network)");
//! assert_eq!(perf_map.top_bottlenecks[0].function, "recv");
//! assert!(report::render(&profile, &perf_map).contains("Top bottlenecks"));
//! ```

pub mod analysis;
pub mod diff;
mod error;
#[cfg(feature = "render")]
pub mod flamegraph;
pub mod folded;
pub mod map;
mod model;
#[cfg(feature = "render")]
pub mod output;
pub mod pprof;
pub mod report;
mod run;
pub mod speedscope;
pub mod weights;

pub use error::ProfileError;
pub use map::{MapOptions, PerformanceMap};
pub use model::{
    Frame, FrameRef, Function, FunctionId, Label, LabelValue, Line, Location, LocationId, Mapping,
    MappingId, Profile, Sample, StackId, StringId, ValueType, labels,
};
#[cfg(feature = "render")]
pub use output::{Format, OutputRequest, Written, write_all};
pub use run::{OffCpuReason, RunStats};
