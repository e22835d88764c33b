//! The three profiled functions are tracked with their true averages, and an injected outlier
//! is reported as an anomaly.

use crate::{Service, call, rel, timed_get};
use std::time::Duration;

#[test]
fn three_functions_tracked_with_their_averages() {
    // The circuit breaker runs at its default limit: a mostly idle service must not trip it.
    let svc = Service::start(&["--mode", "full", "--window-ms", "500"]);
    let cases = [
        ("fastFunction", "/fast", 40u64, 5.0),
        ("slowFunction", "/slow", 10, 100.0),
        ("regressionTest", "/regression", 10, 108.0),
    ];
    // What a client sees of a function is its request's mean latency minus that of a bare
    // request (`/ping`). The two are timed alternately on one keep-alive connection, so both
    // see the same machine load (timing them one after the other let a busy CI machine charge
    // a load change to the profiler).
    let mut observed = Vec::new();
    for (_, path, n, _) in cases {
        let (url, ping) = (format!("{}{path}", svc.app), format!("{}/ping", svc.app));
        let (mut client, mut bare) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..n {
            client += timed_get(&url, &[]);
            bare += timed_get(&ping, &[]);
        }
        let client_ms = client.as_secs_f64() * 1e3 / n as f64;
        observed.push((client_ms, client_ms - bare.as_secs_f64() * 1e3 / n as f64));
    }
    let functions = call("GET", &format!("{}/functions", svc.api), &[]).json();
    let list = functions["functions"].as_array().expect("functions list");
    // The three, and `ping` from the bare requests.
    assert_eq!(list.len(), 4, "{functions}");
    for ((name, _, n, nominal), (client_ms, net_ms)) in cases.iter().zip(observed) {
        let f = list
            .iter()
            .find(|f| f["name"] == *name)
            .unwrap_or_else(|| panic!("{name} not tracked: {functions}"));
        assert_eq!(f["stats"]["calls"], *n, "{name}");
        let mean = f["stats"]["mean_ns"].as_f64().unwrap() / 1e6;
        // The function runs inside the request the client timed.
        assert!(
            mean <= client_ms,
            "{name}: {mean:.2}ms > client {client_ms:.2}ms"
        );
        assert!(
            rel(mean, net_ms) <= 0.15,
            "{name}: profiler {mean:.2}ms vs client {net_ms:.2}ms net of a bare request"
        );
        // Budgets and sleeps keep a function near its nominal duration (fastFunction ≈ 4.6–5.2 ms
        // when idle); on a loaded machine the timer wakes late and it is slower, which the
        // client sees too, so only the comparison with the client is tight.
        assert!(
            (0.85 * nominal..=1.5 * nominal).contains(&mean),
            "{name}: profiler {mean:.2}ms vs nominal {nominal}ms"
        );
    }
}

#[test]
fn a_mostly_idle_service_keeps_deep_tracing_under_the_default_breaker() {
    // Sequential 100 ms requests leave the process nearly idle: the collector's small fixed
    // cost is a large share of its CPU time (≈ 3 % here), but far too little CPU to matter.
    // Without the breaker's absolute floor this tripped it within a few seconds.
    let svc = Service::start(&["--mode", "full", "--window-ms", "500"]);
    let url = format!("{}/slow", svc.app);
    for _ in 0..50 {
        timed_get(&url, &[]);
    }
    let stats = call("GET", &format!("{}/stats", svc.api), &[]).json();
    let breaker = &stats["health"]["breaker"];
    assert_eq!(breaker["state"], "closed", "{breaker}");
    assert_eq!(breaker["trips"], 0, "{breaker}");
    let functions = call("GET", &format!("{}/functions", svc.api), &[]).json();
    let slow = functions["functions"]
        .as_array()
        .and_then(|l| l.iter().find(|f| f["name"] == "slowFunction"))
        .unwrap_or_else(|| panic!("slowFunction not tracked: {functions}"));
    assert_eq!(slow["stats"]["sampled"], 50, "every call traced: {slow}");
}

#[test]
fn injected_outlier_reported_as_anomaly() {
    let svc = Service::start(&[
        "--mode",
        "full",
        "--window-ms",
        "500",
        "--overhead-max-pct",
        "0",
    ]);
    let url = format!("{}/fast", svc.app);
    for _ in 0..40 {
        timed_get(&url, &[]);
    }
    let took = timed_get(
        &format!("{url}?delay_ms=80"),
        &[("x-user-id", "carol"), ("x-request-id", "outlier-1")],
    );
    let anomalies = call("GET", &format!("{}/anomalies", svc.api), &[]).json();
    let hit = anomalies["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "fastFunction" && a["duration_ms"].as_f64().unwrap() >= 80.0)
        .unwrap_or_else(|| panic!("no fastFunction outlier: {anomalies}"));
    let ms = hit["duration_ms"].as_f64().unwrap();
    assert!(ms <= took.as_secs_f64() * 1e3, "{hit}");
    assert!(hit["sigmas"].as_f64().unwrap() >= 3.0, "{hit}");
    // The function's anomaly carries the request it ran in.
    let ctx = &hit["request"];
    assert_eq!(ctx["method"], "GET", "{hit}");
    assert_eq!(ctx["route"], "/fast", "{hit}");
    assert_eq!(ctx["user"], "carol", "{hit}");
    assert_eq!(ctx["request_id"], "outlier-1", "{hit}");
    assert_eq!(ctx["sampled"], true, "{hit}");
    assert_eq!(ctx["status"], 200, "{hit}");
    let request = anomalies["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["endpoint"] == "GET /fast" && a["duration_ms"].as_f64().unwrap() >= 80.0);
    assert!(request.is_some(), "no request anomaly: {anomalies}");
}
