//! The performance map: golden JSON/YAML of the fixture and the classification rules.

use crate::fixture;
use flamewatch_profile::map::{self, MapOptions};
use flamewatch_profile::{Frame, Profile, RunStats, ValueType};

#[test]
fn fixture_map_matches_golden() {
    let m = map::build(&fixture::profile(), MapOptions::default());
    crate::golden("map", "fixture.json", &m.to_json().unwrap());
    crate::golden("map", "fixture.yaml", &m.to_yaml().unwrap());
}

fn time_profile() -> Profile {
    Profile::new(vec![
        ValueType::new("cpu", "nanoseconds"),
        ValueType::new("off_cpu", "nanoseconds"),
    ])
}

fn stack(names: &[&str]) -> Vec<Frame> {
    // given root first, returned leaf first
    names.iter().rev().map(|n| Frame::named(*n)).collect()
}

const MS: i64 = 1_000_000;

fn indicators(m: &map::PerformanceMap) -> Vec<&str> {
    m.wrong_tool_indicators
        .iter()
        .map(|i| i.indicator.as_str())
        .collect()
}

#[test]
fn sleeping_program_is_sleep_bound_and_flags_the_wrong_tool() {
    let mut p = time_profile();
    p.add_sample(
        &stack(&["main", "poll_loop", "nanosleep"]),
        &[0, 900 * MS],
        &[("off_cpu_reason", "sleep")],
    );
    p.add_sample(&stack(&["main", "poll_loop", "check"]), &[100 * MS, 0], &[]);
    let m = map::build(&p, MapOptions::default());
    assert_eq!(m.bottleneck_classification, "sleep-bound");
    assert_eq!(m.time_shares_pct["Sleep"], 90.0);
    assert_eq!(m.top_bottlenecks[0].kind, "Sleep");
    assert_eq!(m.top_bottlenecks[0].function, "nanosleep");
    assert!(
        indicators(&m).contains(&"sleep_dominated"),
        "{:?}",
        m.wrong_tool_indicators
    );
}

#[test]
fn network_wait_is_io_bound_and_external() {
    let mut p = time_profile();
    p.add_sample(
        &stack(&["main", "fetch", "recv"]),
        &[0, 950 * MS],
        &[("off_cpu_reason", "io_network")],
    );
    p.add_sample(&stack(&["main", "parse"]), &[50 * MS, 0], &[]);
    let m = map::build(&p, MapOptions::default());
    assert_eq!(m.bottleneck_classification, "I/O-bound (network)");
    assert_eq!(m.steps[0].function, "main");
    assert_eq!(m.steps[0].children[0].kind, "I/O-Network");
    assert!(indicators(&m).contains(&"external_service_no_alternative"));
}

#[test]
fn cpu_only_profile_of_a_mostly_waiting_run_says_off_cpu_was_not_recorded() {
    let mut p = Profile::new(vec![ValueType::new("cpu", "nanoseconds")]);
    p.add_sample(&stack(&["main", "work"]), &[300 * MS], &[]);
    p.set_run_stats(RunStats {
        wall_ns: Some(1_000_000_000),
        cpu_user_ns: Some(300_000_000),
        cpu_sys_ns: Some(0),
        samples: 300,
        ..RunStats::default()
    });
    let m = map::build(&p, MapOptions::default());
    assert_eq!(m.bottleneck_classification, "CPU-bound");
    assert_eq!(m.baseline.cpu_utilization, Some(0.3));
    assert!(!m.sampled.off_cpu_recorded);
    assert!(indicators(&m).contains(&"off_cpu_time_not_recorded"));
}

fn depth(steps: &[map::Step]) -> usize {
    steps
        .iter()
        .map(|s| 1 + depth(&s.children))
        .max()
        .unwrap_or(0)
}

#[test]
fn deep_and_wide_trees_are_cut_at_depth_five_and_small_steps_folded() {
    let mut p = time_profile();
    let deep: Vec<String> = (0..12).map(|i| format!("level{i}")).collect();
    for branch in 0..4 {
        // four big branches at every level below level2, each 12 levels deep
        let mut names: Vec<&str> = vec!["main", "dispatch"];
        let tagged: Vec<String> = deep.iter().map(|d| format!("{d}_{branch}")).collect();
        names.extend(tagged.iter().map(String::as_str));
        p.add_sample(&stack(&names), &[200 * MS, 0], &[]);
        let mut side = names[..4].to_vec();
        side.push("side");
        p.add_sample(&stack(&side), &[30 * MS, 0], &[]);
    }
    for i in 0..30 {
        let name = format!("tiny{i}");
        p.add_sample(&stack(&["main", "dispatch", &name]), &[MS, 0], &[]);
    }
    let m = map::build(&p, MapOptions::default());
    assert!(depth(&m.steps) <= 5, "depth {}", depth(&m.steps));
    let top = &m.steps[0];
    assert_eq!(top.function, "dispatch", "pass-through `main` collapsed");
    assert_eq!(top.via, ["main"]);
    let other = top.children.last().unwrap();
    assert_eq!(other.function, "other (30 functions)");
    assert_eq!(other.wall_time_ms, 30.0);
    assert_eq!(top.children.len(), 5);
    let sum: f64 = top.children.iter().map(|c| c.time_share_pct).sum();
    assert!(
        (sum - top.time_share_pct).abs() < 0.1,
        "{sum} vs {}",
        top.time_share_pct
    );
}

#[test]
fn lock_wait_inside_libc_is_attributed_to_the_calling_function() {
    let in_module = |name: &str, module: &str| Frame {
        function: name.into(),
        module: Some(module.into()),
        ..Frame::default()
    };
    let mut p = time_profile();
    let leaf_first = vec![
        in_module("futex_wait", "[kernel]"),
        in_module("futex_wait", "/usr/lib/x86_64-linux-gnu/libc.so.6"),
        in_module(
            "__GI___lll_lock_wait",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
        ),
        in_module(
            "___pthread_mutex_lock",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
        ),
        in_module("update_counter", "/opt/app"),
        in_module("worker", "/opt/app"),
    ];
    p.add_sample(&leaf_first, &[0, 800 * MS], &[("off_cpu_reason", "lock")]);
    p.add_sample(&stack(&["worker", "compute"]), &[200 * MS, 0], &[]);
    let m = map::build(&p, MapOptions::default());
    let b = &m.top_bottlenecks[0];
    assert_eq!(
        (b.function.as_str(), b.kind.as_str()),
        ("update_counter", "Lock")
    );
    assert_eq!(b.blocked_in.as_deref(), Some("futex_wait"));
    assert_eq!(m.bottleneck_classification, "lock-bound");
    // the kernel's and glibc's `futex_wait` are different functions
    let functions = flamewatch_profile::analysis::functions(&p);
    let futex: Vec<bool> = functions
        .iter()
        .filter(|f| f.name == "futex_wait")
        .map(|f| f.kernel)
        .collect();
    assert_eq!(futex.len(), 2, "{functions:?}");
}

#[test]
fn empty_profile_is_unknown_not_cpu_bound() {
    let p = time_profile();
    let m = map::build(&p, MapOptions::default());
    assert_eq!(m.bottleneck_classification, "unknown (no samples)");
    assert!(m.steps.is_empty() && m.top_bottlenecks.is_empty());
    assert!(indicators(&m).contains(&"too_few_samples"));
    let text = flamewatch_profile::report::render(&p, &m);
    assert!(text.contains("(none: the profile is empty)"), "{text}");
}
