//! History database, baseline eligibility, change points and plots.

use crate::fixtures::{TempDir, spawn_lock};
use flamewatch_bench::Metric;
use flamewatch_bench::changepoint::{ChangePointConfig, e_divisive};
use flamewatch_bench::command::CommandSpec;
use flamewatch_bench::env::Environment;
use flamewatch_bench::history::{History, RunStatus, learned_noise_pct};
use flamewatch_bench::plot::{Trend, TrendPoint, draw};
use flamewatch_bench::runner::{BenchConfig, Quiet, Runner};

#[test]
fn failing_and_noisy_runs_never_become_baseline() {
    let _g = spawn_lock();
    let dir = TempDir::new("hist");
    let db_path = dir.path().join("h.db");
    let mut db = History::open(&db_path).unwrap();
    let env = Environment::capture();
    let mut runner = Runner::new();
    let mut ok = BenchConfig::new(CommandSpec::from_argv(vec!["true".into()]).unwrap());
    ok.name = "t".into();
    let good = runner.bench(&ok, &mut Quiet).unwrap();
    let first = db.record(&good, &env, RunStatus::Ok).unwrap();
    let mut bad = ok.clone();
    bad.command = CommandSpec::from_argv(vec!["false".into()]).unwrap();
    bad.ignore_failure = true;
    let failed = runner.bench(&bad, &mut Quiet).unwrap();
    assert_eq!(
        RunStatus::assess(&failed, &Metric::DEFAULT_GATE),
        RunStatus::Failed
    );
    db.record(&failed, &env, RunStatus::Failed).unwrap();
    db.record(&good, &env, RunStatus::Noisy).unwrap();
    let base = db.baseline("t").unwrap().unwrap();
    assert_eq!(base.id, first);
    let runs = db.runs(Some("t")).unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[1].status, "failed");
    assert_eq!(runs[1].result.runs.len(), 3);
    drop(db);
    // reopening keeps everything
    assert_eq!(
        History::open(&db_path).unwrap().names().unwrap(),
        vec!["t".to_string()]
    );
}

#[test]
fn learned_noise_and_change_points_from_history() {
    let dir = TempDir::new("noise");
    let mut db = History::open(&dir.path().join("h.db")).unwrap();
    let env = Environment::capture();
    let _g = spawn_lock();
    let mut runner = Runner::new();
    let mut c = BenchConfig::new(CommandSpec::from_argv(vec!["true".into()]).unwrap());
    c.warmup = 0;
    c.runs = 1;
    let template = runner.bench(&c, &mut Quiet).unwrap();
    // synthetic CPU history: 12 runs around 100 ms (±1 %), then 8 runs around 130 ms
    for i in 0..20 {
        let mut r = template.clone();
        let v = if i < 12 {
            0.100 * (1.0 + 0.01 * ((i % 3) as f64 - 1.0))
        } else {
            0.130
        };
        r.runs[0].values.insert(Metric::CpuTime, v);
        db.record(&r, &env, RunStatus::Ok).unwrap();
    }
    let runs = db.runs(None).unwrap();
    let noise = learned_noise_pct(&runs[..12], Metric::CpuTime).unwrap();
    assert!(noise > 0.5 && noise < 10.0, "noise {noise}");
    let medians: Vec<f64> = runs
        .iter()
        .map(|r| r.result.summary(Metric::CpuTime).unwrap().median)
        .collect();
    assert_eq!(
        e_divisive(&medians, &ChangePointConfig::default()),
        vec![12]
    );
}

#[test]
fn trend_plots_render_as_svg_and_png() {
    let dir = TempDir::new("plot");
    let trend = Trend {
        name: "burn".into(),
        metric: Metric::CpuTime,
        points: (0..12)
            .map(|i| {
                let m = if i < 6 { 0.1 } else { 0.13 };
                TrendPoint {
                    median: m,
                    min: m * 0.98,
                    max: m * 1.02,
                    eligible: i != 3,
                }
            })
            .collect(),
        baseline: Some(0.13),
        change_points: vec![6],
    };
    let svg = dir.path().join("t.svg");
    if !flamewatch_bench::plot::font_available() {
        // Without any TrueType font on the machine the plot is refused with the fix named.
        let err = draw(&trend, &svg).unwrap_err().to_string();
        assert!(err.contains("fonts-dejavu-core"), "{err}");
        return;
    }
    draw(&trend, &svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.contains("<svg") && text.contains("burn — cpu_time") && text.contains("change point")
    );
    let png = dir.path().join("t.png");
    draw(&trend, &png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(draw(&trend, &dir.path().join("t.gif")).is_err());
}
