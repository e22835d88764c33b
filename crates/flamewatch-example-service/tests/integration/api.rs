//! The management API over the example service: a slower user shows through `/endpoints`,
//! `DELETE /data` clears, a missing token is a 401 and a bad parameter a 400, both JSON.

use crate::{Service, call, timed_get};

#[test]
fn slow_user_visible_data_cleared_token_and_parameters_checked() {
    let svc = Service::start(&[
        "--mode",
        "full",
        "--token",
        "s3cret",
        "--slow-user-ms",
        "20",
        "--overhead-max-pct",
        "0",
    ]);
    let auth = [("authorization", "Bearer s3cret")];
    let url = format!("{}/fast", svc.app);
    for _ in 0..10 {
        for user in ["alice", "bob", "mallory"] {
            timed_get(&url, &[("x-user-id", user)]);
        }
    }
    let by_user = call(
        "GET",
        &format!("{}/endpoints?group_by=user&route=/fast", svc.api),
        &auth,
    )
    .json();
    let groups = by_user["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3, "{by_user}");
    assert_eq!(groups[0]["key"], "mallory", "{by_user}");
    let slowest = groups[0]["mean_ms"].as_f64().unwrap();
    let next = groups[1]["mean_ms"].as_f64().unwrap();
    assert!(slowest >= next + 15.0, "{by_user}");

    let anonymous = call("GET", &format!("{}/stats", svc.api), &[]);
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["error"]["code"], "unauthorized");
    let bad = call("GET", &format!("{}/functions?sort=fastest", svc.api), &auth);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], "bad_request");
    let bad_app = call("GET", &format!("{url}?delay_ms=99999"), &[]);
    assert_eq!(bad_app.status, 400);
    assert!(
        bad_app.json()["error"]
            .as_str()
            .unwrap()
            .contains("delay_ms")
    );

    let functions = call("GET", &format!("{}/functions", svc.api), &auth).json();
    assert_eq!(functions["functions"].as_array().unwrap().len(), 1);
    let cleared = call("DELETE", &format!("{}/data", svc.api), &auth);
    assert_eq!(cleared.json()["cleared"], true);
    let functions = call("GET", &format!("{}/functions", svc.api), &auth).json();
    assert!(
        functions["functions"].as_array().unwrap().is_empty(),
        "{functions}"
    );
    let endpoints = call("GET", &format!("{}/endpoints", svc.api), &auth).json();
    let requests: u64 = endpoints["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(requests, 0, "{endpoints}");
}
