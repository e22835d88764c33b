//! Interactive SVG flamegraphs (rendered by inferno), including differential flamegraphs.
//!
//! On-CPU frames use the warm palette; off-CPU time is drawn in blue: every off-CPU stack
//! ends with a `[off-cpu:REASON]` frame whose width is the blocked time, and the kernel
//! frames of off-CPU stacks are blue as well. Frames shared by on- and off-CPU stacks stay
//! merged, so a frame's width is the thread time (on plus off CPU) spent under it. Weights
//! in nanoseconds are labelled in milliseconds. Output is deterministic (colours are hashed
//! from names), so it can be compared with golden files.

use crate::error::ProfileError;
use crate::folded::{self, KERNEL_SUFFIX, OFF_CPU_MARKER};
use crate::model::Profile;
use crate::weights::Weights;
use inferno::flamegraph::color::{BackgroundColor, PaletteMap, parse_hex_color};
use inferno::flamegraph::{self as ifg, Options};
use std::io::Write;

/// Annotation that inferno hides in labels; we use it to mark off-CPU frames.
const OFF_CPU_SUFFIX: &str = "_[w]";

/// Options for [`write_svg`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SvgOptions {
    /// Title; default `flamewatch: <command>`.
    pub title: Option<String>,
    /// Draw an icicle graph (root at the top) instead of a flame graph (default `false`).
    pub inverted: bool,
}

/// The subtitle line: duration, sample count, on- and off-CPU time.
pub fn subtitle(profile: &Profile) -> String {
    let line = crate::report::summary_line(profile);
    if crate::analysis::totals(profile).off_total() > 0 {
        format!("{line} · blue = off-CPU")
    } else {
        line
    }
}

/// Folded lines with off-CPU frames renamed so they can be coloured.
fn coloured_lines(profile: &Profile) -> (Vec<String>, Vec<String>) {
    let mut lines = Vec::new();
    let mut blue = Vec::new();
    for (stack, weight) in folded::fold(profile) {
        let off = stack
            .rsplit(';')
            .next()
            .is_some_and(|leaf| leaf.starts_with(OFF_CPU_MARKER));
        if off {
            let frames: Vec<String> = stack
                .split(';')
                .map(|f| {
                    if let Some(k) = f.strip_suffix(KERNEL_SUFFIX) {
                        format!("{k}{OFF_CPU_SUFFIX}")
                    } else if f.starts_with(OFF_CPU_MARKER) {
                        format!("{f}{OFF_CPU_SUFFIX}")
                    } else {
                        f.to_owned()
                    }
                })
                .collect();
            blue.extend(
                frames
                    .iter()
                    .filter(|f| f.ends_with(OFF_CPU_SUFFIX))
                    .cloned(),
            );
            lines.push(format!("{} {weight}", frames.join(";")));
        } else {
            lines.push(format!("{stack} {weight}"));
        }
    }
    (lines, blue)
}

fn blue_for(name: &str) -> inferno::flamegraph::color::Color {
    // FNV-1a of the name picks a shade, so colours are stable across runs.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let v = (h % 1000) as f64 / 1000.0;
    let r = (60.0 + 60.0 * v) as u8;
    let g = (110.0 + 60.0 * v) as u8;
    let hex = format!("#{r:02x}{g:02x}e6");
    parse_hex_color(&hex).unwrap_or_default()
}

fn base_options<'a>(profile: &Profile, title: Option<String>) -> Options<'a> {
    let weights = Weights::of(profile);
    let mut opts = Options::default();
    opts.title = title.unwrap_or_else(|| match &profile.command {
        Some(c) => format!("flamewatch: {c}"),
        None => "flamewatch".to_owned(),
    });
    opts.subtitle = Some(subtitle(profile));
    opts.deterministic = true;
    opts.bgcolors = Some(BackgroundColor::Yellow);
    if weights.unit() == "nanoseconds" {
        opts.factor = 1e-6;
        opts.count_name = "ms".to_owned();
    } else {
        opts.count_name = "samples".to_owned();
    }
    opts.name_type = "Function:".to_owned();
    opts
}

/// Renders the profile as an interactive SVG flamegraph.
pub fn write_svg(
    profile: &Profile,
    options: &SvgOptions,
    out: impl Write,
) -> Result<(), ProfileError> {
    let (lines, blue) = coloured_lines(profile);
    if lines.iter().all(|l| l.ends_with(" 0")) {
        return write_empty_svg(profile, options, out);
    }
    let mut palette = PaletteMap::default();
    for name in &blue {
        palette.insert(name, blue_for(name));
    }
    let mut opts = base_options(profile, options.title.clone());
    opts.palette_map = Some(&mut palette);
    if options.inverted {
        opts.direction = ifg::Direction::Inverted;
    }
    ifg::from_lines(&mut opts, lines.iter().map(String::as_str), out)
        .map_err(|e| ProfileError::Render(e.to_string()))
}

/// A valid SVG that says the profile is empty (a run that ended before the first sample
/// still gets every output file).
fn write_empty_svg(
    profile: &Profile,
    options: &SvgOptions,
    mut out: impl Write,
) -> Result<(), ProfileError> {
    let title = options
        .title
        .clone()
        .unwrap_or_else(|| match &profile.command {
            Some(c) => format!("flamewatch: {c}"),
            None => "flamewatch".to_owned(),
        });
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    write!(
        out,
        "<?xml version=\"1.0\" standalone=\"no\"?>\n\
         <svg version=\"1.1\" width=\"1200\" height=\"90\" xmlns=\"http://www.w3.org/2000/svg\">\n\
         <text x=\"600\" y=\"30\" text-anchor=\"middle\" font-family=\"Verdana\" font-size=\"17\">{}</text>\n\
         <text x=\"600\" y=\"60\" text-anchor=\"middle\" font-family=\"Verdana\" font-size=\"12\">\
         no samples were recorded ({}); record longer or check that the program ran</text>\n\
         </svg>\n",
        escape(&title),
        escape(&crate::report::summary_line(profile)),
    )?;
    Ok(())
}

/// Renders a differential flamegraph of `after` against `before`: frames are drawn with
/// `after`'s widths and coloured red where time grew and blue where it shrank.
/// With `normalize`, `before` is scaled to `after`'s total first (for runs of different
/// length).
pub fn write_diff_svg(
    before: &Profile,
    after: &Profile,
    normalize: bool,
    out: impl Write,
) -> Result<(), ProfileError> {
    let before_text = folded::to_string(before);
    let after_text = folded::to_string(after);
    let mut merged = Vec::new();
    let diff_opts = inferno::differential::Options {
        normalize,
        ..Default::default()
    };
    inferno::differential::from_readers(
        diff_opts,
        before_text.as_bytes(),
        after_text.as_bytes(),
        &mut merged,
    )
    .map_err(|e| ProfileError::Render(e.to_string()))?;
    let merged = String::from_utf8_lossy(&merged);
    if merged.trim().is_empty() {
        return Err(ProfileError::Empty(
            "both profiles are empty; nothing to compare".into(),
        ));
    }
    let mut opts = base_options(after, None);
    opts.title = match (&before.command, &after.command) {
        (Some(b), Some(a)) if a != b => format!("flamewatch diff: {b} → {a}"),
        (_, Some(a)) => format!("flamewatch diff: {a}"),
        _ => "flamewatch diff".to_owned(),
    };
    opts.subtitle =
        Some("widths: after · red: more time than before · blue: less time than before".to_owned());
    ifg::from_lines(&mut opts, merged.lines(), out).map_err(|e| ProfileError::Render(e.to_string()))
}
