//! After the runtime switch, `regressionTest` is a `HIGH` regression and the real
//! `flamewatch gate` blocks the deploy (exit 1).

use crate::{Service, call, flamewatch_cli, load};
use std::process::Command;

#[test]
fn switched_slowdown_is_high_regression_and_gate_exits_1() {
    let cli = flamewatch_cli();
    // 1 s windows: the recent view (two windows) holds ~100 calls at 8 connections.
    let svc = Service::start(&[
        "--mode",
        "full",
        "--window-ms",
        "1000",
        "--overhead-max-pct",
        "0",
    ]);
    let url = format!("{}/regression", svc.app);
    let before = load(&url, &["-n", "400", "-d", "2500ms", "-c", "8"]);
    assert_eq!(before["errors"], 0, "{before}");
    let frozen = call("POST", &format!("{}/baselines/pre", svc.api), &[]);
    assert_eq!(frozen.status, 200, "{}", frozen.body);
    let gate = |expect: i32| {
        let out = Command::new(&cli)
            .args(["gate", &svc.api, "--baseline", "pre"])
            .output()
            .expect("flamewatch gate runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(expect),
            "gate: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    gate(0);

    let switched = call("POST", &format!("{}/admin/slow", svc.app), &[]);
    assert_eq!(switched.json()["slow"], true);
    let after = load(&url, &["-n", "400", "-d", "2500ms", "-c", "8"]);
    let client_change = after["mean_ms"].as_f64().unwrap() / before["mean_ms"].as_f64().unwrap();
    assert!((1.35..1.55).contains(&client_change), "{before} → {after}");

    let regressions = call("GET", &format!("{}/regressions?baseline=pre", svc.api), &[]).json();
    let r = regressions["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "function" && r["key"] == "regressionTest")
        .unwrap_or_else(|| panic!("regressionTest not regressed: {regressions}"));
    assert_eq!(r["severity"], "HIGH", "{r}");
    assert_eq!(r["action"], "block", "{r}");
    let change = r["change_pct"].as_f64().unwrap();
    assert!((35.0..=50.0).contains(&change), "{r}");
    let text = gate(1);
    assert!(text.contains("regressionTest"), "{text}");
}
