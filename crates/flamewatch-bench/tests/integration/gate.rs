//! The gate and A/B comparison on real CPU work, plus the JSON baseline round trip.

use crate::fixtures::{BURN_M, TempDir, programs, spawn_lock};
use flamewatch_bench::Metric;
use flamewatch_bench::ab::{self, AbConfig};
use flamewatch_bench::command::CommandSpec;
use flamewatch_bench::compare::{self, GateConfig, GateOutcome, Verdict};
use flamewatch_bench::env::Environment;
use flamewatch_bench::export::{self, Document};
use flamewatch_bench::runner::{BenchConfig, BenchResult, Quiet, Runner, Session};

fn burn(m: u64, runs: usize) -> BenchConfig {
    let p = programs();
    let mut c =
        BenchConfig::new(CommandSpec::from_argv(vec![p.burn.clone(), m.to_string()]).unwrap());
    c.name = "burn".into();
    c.runs = runs;
    c
}

/// Runs the candidate, adding runs while inconclusive, as the CLI does.
fn gate(
    runner: &mut Runner,
    base: &BenchResult,
    cand: &BenchConfig,
    max: usize,
) -> compare::Comparison {
    let cfg = GateConfig::default();
    let mut res = runner.bench(cand, &mut Quiet).unwrap();
    loop {
        let c = compare::compare(base, &res, &cfg);
        let extra = compare::next_batch(res.runs.len(), max);
        if c.outcome != GateOutcome::Inconclusive || extra == 0 {
            return c;
        }
        runner.extend(cand, &mut res, extra, &mut Quiet).unwrap();
    }
}

#[test]
fn injected_30_percent_cpu_regression_is_found() {
    let _g = spawn_lock();
    let mut runner = Runner::new();
    let base = runner.bench(&burn(BURN_M, 6), &mut Quiet).unwrap();
    let c = gate(&mut runner, &base, &burn(BURN_M * 13 / 10, 6), 20);
    assert_eq!(c.outcome, GateOutcome::Regression, "{c:#?}");
    let cpu = c
        .metrics
        .iter()
        .find(|m| m.metric == Metric::CpuTime)
        .unwrap();
    assert!(matches!(cpu.verdict, Verdict::Regressed(_)));
    assert!(
        (18.0..45.0).contains(&cpu.change_pct.estimate),
        "{:?}",
        cpu.change_pct
    );
    let text = flamewatch_bench::report::gate_report(&c);
    assert!(
        text.starts_with("Performance Check: ❌ REGRESSION"),
        "{text}"
    );
    assert!(text.contains("❌ cpu_time: +"), "{text}");
}

#[test]
fn identical_commands_pass_the_gate() {
    let _g = spawn_lock();
    let mut runner = Runner::new();
    let base = runner.bench(&burn(BURN_M, 6), &mut Quiet).unwrap();
    let c = gate(&mut runner, &base, &burn(BURN_M, 6), 24);
    assert_eq!(
        c.outcome,
        GateOutcome::Pass,
        "{}",
        flamewatch_bench::report::gate_report(&c)
    );
    let text = flamewatch_bench::report::gate_report(&c);
    assert!(
        text.starts_with("Performance Check: ✅ NO REGRESSIONS"),
        "{text}"
    );
}

#[test]
fn interleaved_ab_finds_the_faster_command() {
    let _g = spawn_lock();
    let mut runner = Runner::new();
    let mut a = burn(BURN_M, 8);
    a.name = "a".into();
    a.warmup = 0;
    let mut b = burn(BURN_M * 6 / 10, 8);
    b.name = "b".into();
    b.warmup = 0;
    let results =
        ab::run_interleaved(&mut runner, &[a, b], &AbConfig::default(), &mut Quiet).unwrap();
    assert_eq!(results[0].runs.len(), results[1].runs.len());
    let changes = ab::paired_changes(&results, 0.95);
    let cpu = changes
        .iter()
        .find(|c| c.metric == Metric::CpuTime)
        .unwrap();
    assert!(cpu.change_pct.hi < 0.0, "{:?}", cpu.change_pct);
    assert!(
        (-55.0..-25.0).contains(&cpu.change_pct.estimate),
        "{:?}",
        cpu.change_pct
    );
    let s = cpu.sentence();
    assert!(
        s.starts_with("b is ") && s.contains("faster than a on cpu_time (95 % CI"),
        "{s}"
    );
}

#[test]
fn json_baseline_round_trips_every_raw_value() {
    let _g = spawn_lock();
    let mut runner = Runner::new();
    let r = runner.bench(&burn(5, 3), &mut Quiet).unwrap();
    let session = Session {
        benchmarks: vec![r.clone()],
        environment: Environment::capture(),
        overhead: runner.calibrate(None, 3),
    };
    let dir = TempDir::new("json");
    let path = dir.path().join("base.json");
    export::write(&Document::new(&session), &export::json::Json, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], 1);
    assert!(v["environment"]["kernel"].is_string());
    assert!(v["environment"].get("git_dirty").is_some());
    assert_eq!(v["benchmarks"][0]["runs"].as_array().unwrap().len(), 3);
    assert!(v["benchmarks"][0]["runs"][0]["values"]["cpu_time"].is_number());
    let back = export::read(&path).unwrap();
    let b = back.find("burn").unwrap();
    assert_eq!(b.runs, r.runs);
    // CSV: header plus one row per run; Markdown: a table row per metric.
    let csv = export::csv::Csv;
    let md = export::markdown::Markdown;
    use flamewatch_bench::export::Exporter;
    let doc = Document::new(&session);
    assert_eq!(csv.render(&doc).lines().count(), 4);
    assert!(md.render(&doc).contains("| cpu_time |"));
    // A future schema is refused with a clear message.
    std::fs::write(&path, text.replacen("\"version\": 1", "\"version\": 9", 1)).unwrap();
    let err = export::read(&path).unwrap_err().to_string();
    assert!(err.contains("schema version 9"), "{err}");
}
