//! Trend plots of a benchmark's history (SVG or PNG by file extension) with plotters.
//!
//! The plot shows the per-execution median of one metric (with min–max whiskers), the baseline
//! (latest eligible run) as a horizontal dashed line, detected change points as vertical red
//! lines, and executions that are not baseline-eligible (failed, noisy, regressed) as hollow
//! points. Text needs a TrueType font: the first of `$FLAMEWATCH_FONT` and the usual DejaVu /
//! Liberation locations is loaded at run time.

use crate::Metric;
use crate::metric::Unit;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// One point of a trend.
#[derive(Debug, Clone)]
pub struct TrendPoint {
    /// Median of the execution's runs.
    pub median: f64,
    /// Smallest run value.
    pub min: f64,
    /// Largest run value.
    pub max: f64,
    /// Whether the execution may be a baseline.
    pub eligible: bool,
}

/// Everything drawn on a trend plot.
#[derive(Debug, Clone)]
pub struct Trend {
    /// Benchmark name.
    pub name: String,
    /// Metric plotted.
    pub metric: Metric,
    /// Points, oldest first.
    pub points: Vec<TrendPoint>,
    /// Baseline value, if any.
    pub baseline: Option<f64>,
    /// Indices where a new segment starts.
    pub change_points: Vec<usize>,
}

const FONT_CANDIDATES: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
];

fn ensure_font() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let env = std::env::var("FLAMEWATCH_FONT").ok();
            let paths = env.iter().map(String::as_str).chain(FONT_CANDIDATES);
            for p in paths {
                if let Ok(bytes) = std::fs::read(p) {
                    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                    if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                        .is_ok()
                    {
                        return Ok(());
                    }
                }
            }
            Err("no TrueType font found; install fonts-dejavu-core or set FLAMEWATCH_FONT to a .ttf file".into())
        })
        .clone()
}

/// Whether a TrueType font for plot text was found (`$FLAMEWATCH_FONT` or a usual location).
pub fn font_available() -> bool {
    ensure_font().is_ok()
}

/// Scale factor and unit label so axis numbers are readable.
fn axis_scale(metric: Metric, max: f64) -> (f64, &'static str) {
    match metric.unit() {
        Unit::Seconds if max < 1e-3 => (1e6, "µs"),
        Unit::Seconds if max < 1.0 => (1e3, "ms"),
        Unit::Seconds => (1.0, "s"),
        Unit::Bytes if max >= 1024.0 * 1024.0 * 1024.0 => (1.0 / (1024.0 * 1024.0 * 1024.0), "GiB"),
        Unit::Bytes if max >= 1024.0 * 1024.0 => (1.0 / (1024.0 * 1024.0), "MiB"),
        Unit::Bytes if max >= 1024.0 => (1.0 / 1024.0, "KiB"),
        Unit::Bytes => (1.0, "B"),
        Unit::Count => (1.0, "count"),
    }
}

/// Draws `trend` to `path` (`.svg` or `.png`).
pub fn draw(trend: &Trend, path: &Path) -> crate::Result<()> {
    let fail = |reason: String| crate::Error::Plot {
        path: path.display().to_string(),
        reason,
    };
    if trend.points.is_empty() {
        return Err(fail("no history to plot for this benchmark".into()));
    }
    ensure_font().map_err(fail)?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let size = (1000, 500);
    match ext.as_deref() {
        Some("svg") => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            render(trend, &root).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
        Some("png") => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            render(trend, &root).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
        _ => Err(fail("unsupported extension: use .svg or .png".into())),
    }
}

fn render<DB: DrawingBackend>(
    trend: &Trend,
    root: &DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let raw_max = trend.points.iter().map(|p| p.max).fold(f64::MIN, f64::max);
    let (k, unit) = axis_scale(trend.metric, raw_max);
    let lo = trend
        .points
        .iter()
        .map(|p| p.min)
        .fold(f64::MAX, f64::min)
        .min(trend.baseline.unwrap_or(f64::MAX))
        * k;
    let hi = raw_max.max(trend.baseline.unwrap_or(f64::MIN)) * k;
    let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.01).max(1e-9);
    let n = trend.points.len();
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{} — {}", trend.name, trend.metric),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            -0.5f64..(n as f64 - 0.5).max(0.5),
            (lo - pad).max(0.0)..hi + pad,
        )
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("execution (oldest → newest)")
        .y_desc(format!("{} ({unit})", trend.metric))
        .x_label_formatter(&|v| format!("{}", v.round() as i64 + 1))
        .draw()
        .map_err(e)?;
    let blue = RGBColor(31, 119, 180);
    chart
        .draw_series(trend.points.iter().enumerate().map(|(i, p)| {
            PathElement::new(
                vec![(i as f64, p.min * k), (i as f64, p.max * k)],
                blue.mix(0.4).stroke_width(1),
            )
        }))
        .map_err(e)?;
    chart
        .draw_series(LineSeries::new(
            trend
                .points
                .iter()
                .enumerate()
                .map(|(i, p)| (i as f64, p.median * k)),
            blue.stroke_width(2),
        ))
        .map_err(e)?
        .label("median")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(2)));
    chart
        .draw_series(trend.points.iter().enumerate().map(|(i, p)| {
            let style = if p.eligible {
                blue.filled()
            } else {
                blue.stroke_width(2)
            };
            Circle::new((i as f64, p.median * k), 4, style)
        }))
        .map_err(e)?;
    if let Some(b) = trend.baseline {
        let green = RGBColor(44, 160, 44);
        let y = b * k;
        let dashes: Vec<PathElement<(f64, f64)>> = (0..(n * 4).max(4))
            .step_by(2)
            .map(|j| {
                let x0 = -0.5 + j as f64 * 0.25;
                PathElement::new(
                    vec![(x0, y), ((x0 + 0.25).min(n as f64 - 0.5), y)],
                    green.stroke_width(2),
                )
            })
            .collect();
        chart
            .draw_series(dashes)
            .map_err(e)?
            .label("baseline")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], green.stroke_width(2))
            });
    }
    if !trend.change_points.is_empty() {
        chart
            .draw_series(trend.change_points.iter().map(|&c| {
                let x = c as f64 - 0.5;
                PathElement::new(vec![(x, lo - pad), (x, hi + pad)], RED.stroke_width(2))
            }))
            .map_err(e)?
            .label("change point")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(e)?;
    Ok(())
}
