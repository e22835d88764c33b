//! The load generator is bounded (request count and time limit) and refuses non-loopback
//! targets; the 1 % sampler's fraction over 20,000 requests is binomially plausible.

use crate::{Service, call, load};
use std::process::Command;

#[test]
fn load_generator_refuses_non_loopback_targets() {
    let out = Command::new(env!("CARGO_BIN_EXE_flamewatch-load"))
        .args(["http://192.0.2.1:80/", "-n", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only loopback targets"), "{err}");
}

#[test]
fn load_stops_at_request_count_and_sampled_fraction_is_binomial() {
    let svc = Service::start(&["--sample-rate", "0.01"]);
    let report = load(
        &format!("{}/ping", svc.app),
        &["-n", "20000", "-d", "20s", "-c", "8"],
    );
    assert_eq!(report["ok"], 20_000, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    let endpoints = call("GET", &format!("{}/endpoints", svc.api), &[]).json();
    let e = endpoints["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == "GET /ping")
        .unwrap_or_else(|| panic!("{endpoints}"))
        .clone();
    assert_eq!(e["requests"], 20_000, "{e}");
    // Guaranteed and triggered samples skip the random draw.
    let drawn = 20_000
        - e["sampled_guaranteed"].as_u64().unwrap()
        - e["sampled_triggered"].as_u64().unwrap();
    let random = e["sampled_random"].as_u64().unwrap() as f64;
    let (n, p) = (drawn as f64, 0.01);
    let half = 3.2905 * (n * p * (1.0 - p)).sqrt(); // 99.9 % two-sided
    assert!(
        (random - n * p).abs() <= half,
        "{random} sampled of {n}: outside {:.0} ± {half:.1}",
        n * p
    );
    // Only the sampled requests ran `ping` under the profiler's measurement.
    let functions = call("GET", &format!("{}/functions", svc.api), &[]).json();
    let ping = &functions["functions"][0];
    assert_eq!(ping["name"], "ping", "{functions}");
    assert_eq!(ping["stats"]["calls"], 20_000, "{ping}");
    assert_eq!(ping["stats"]["sampled"], e["sampled"], "{ping} vs {e}");
}
