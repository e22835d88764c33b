//! The service started from a flamewatch YAML file: the profiler settings, the API's prefix
//! and token, and triggered capture all come from the file.

use crate::{Service, call, timed_get};

#[test]
fn configuration_file_sets_api_prefix_token_and_triggered_capture() {
    let dir = std::env::temp_dir().join(format!("fw-example-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.yml");
    // Nested like an application's own file; sampling at 0 % so only the low-traffic
    // guarantee (5 per window) and the triggered capture trace anything.
    std::fs::write(
        &path,
        "server:\n  port: 8080\nruntime:\n  profiling:\n    enabled: true\n    mode: sampling\n    \
         sample_rate: 0.0\n    overhead:\n      max_pct: 0\n    api:\n      prefix: /ops/profiling\n      \
         token: t0ken\n    trigger:\n      p95_ms: 50\n      duration_s: 30\n      cooldown_s: 300\n",
    )
    .unwrap();
    let svc = Service::start(&[
        "--config",
        path.to_str().unwrap(),
        "--config-section",
        "runtime.profiling",
    ]);
    assert!(svc.api.ends_with("/ops/profiling"), "{}", svc.api);
    let auth = [("authorization", "Bearer t0ken")];
    assert_eq!(call("GET", &format!("{}/stats", svc.api), &[]).status, 401);

    // `/slow` takes ≈ 100 ms, over the 50 ms trigger: the P95 check on the 16th request starts
    // a capture (within one 25 ms aggregation pass), and the requests after it are traced.
    let url = format!("{}/slow", svc.app);
    for _ in 0..24 {
        timed_get(&url, &[]);
    }
    let stats = call("GET", &format!("{}/stats", svc.api), &auth).json();
    let captures = stats["http"]["captures"].as_array().expect("captures");
    assert_eq!(captures.len(), 1, "{stats}");
    assert_eq!(captures[0]["endpoint"], "GET /slow", "{stats}");
    assert_eq!(captures[0]["threshold_ms"], 50.0, "{stats}");
    let endpoints = call("GET", &format!("{}/endpoints?route=/slow", svc.api), &auth).json();
    let slow = &endpoints["endpoints"][0];
    assert_eq!(slow["requests"], 24, "{endpoints}");
    assert_eq!(slow["sampled_guaranteed"], 5, "{endpoints}");
    let triggered = slow["sampled_triggered"].as_u64().unwrap();
    assert!((6..=8).contains(&triggered), "{endpoints}");
    assert_eq!(slow["capture_active"], true, "{endpoints}");
    let _ = std::fs::remove_dir_all(&dir);
}
