//! A tour of the management API: serves a small axum app with the request layer and the API
//! on loopback ports, drives some traffic (one user slower than the others, then a slowdown
//! after a frozen baseline), and prints each API call with its answer — the examples in
//! `docs/api.md` come from this program.
//!
//! `cargo run -p flamewatch-http --example tour`

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use flamewatch::{Mode, Settings};
use flamewatch_core::window::WindowConfig;
use flamewatch_http::{ApiConfig, HttpConfig, HttpProfiler};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static DELAY_US: AtomicU64 = AtomicU64::new(4_000);

#[flamewatch::profiled("shop.checkout")]
fn checkout() {
    std::thread::sleep(Duration::from_micros(DELAY_US.load(Ordering::Relaxed)));
}

#[flamewatch::profiled("shop.lookup")]
async fn lookup(slow: bool) {
    tokio::time::sleep(Duration::from_millis(if slow { 12 } else { 2 })).await;
}

async fn item(headers: HeaderMap) -> &'static str {
    lookup(headers.get("x-user-id").is_some_and(|u| u == "mallory")).await;
    "item"
}

fn main() {
    let window = WindowConfig {
        window_ns: 500_000_000,
        windows: 100,
        recent_windows: 2,
    };
    flamewatch::init(Settings::default().mode(Mode::Full).window(window));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = HttpProfiler::new(HttpConfig::default().user_header("x-user-id"));
    let config = ApiConfig::default()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .token("s3cret");
    let server = rt.block_on(http.serve(config.clone())).unwrap();
    let app = Router::new()
        .route("/items/{id}", get(item))
        .route("/checkout", post(|| async { checkout() }))
        .layer(http.layer());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let app_url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = server.url(&config);
    let show = |method: &str, path: &str, body: Option<&str>, token: bool| {
        let url = format!("{base}{path}");
        let auth = "Bearer s3cret";
        let resp = match (method, token) {
            ("GET", true) => agent.get(&url).header("authorization", auth).call(),
            ("GET", false) => agent.get(&url).call(),
            ("DELETE", _) => agent.delete(&url).header("authorization", auth).call(),
            _ => agent
                .post(&url)
                .header("authorization", auth)
                .header("content-type", "application/json")
                .send(body.unwrap_or("")),
        };
        let mut resp = resp.unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        let pretty = serde_json::from_str::<serde_json::Value>(&text)
            .map_or(text.clone(), |v| serde_json::to_string_pretty(&v).unwrap());
        println!(
            "### {method} {path} {}\n{status}\n{pretty}\n",
            body.unwrap_or("")
        );
    };
    for i in 0..10 {
        for user in ["alice", "bob", "mallory"] {
            agent
                .get(format!("{app_url}/items/{i}"))
                .header("x-user-id", user)
                .call()
                .unwrap();
        }
    }
    let checkout_load = |delay_us: u64, n: usize| {
        DELAY_US.store(delay_us, Ordering::Relaxed);
        for _ in 0..n {
            agent
                .post(format!("{app_url}/checkout"))
                .send_empty()
                .unwrap();
        }
    };
    checkout_load(4_000, 80);
    show("GET", "/stats", None, false);
    show("GET", "/stats", None, true);
    show("GET", "/stats?format=text", None, true);
    show("GET", "/functions?sort=p95&limit=2", None, true);
    show("GET", "/functions?sort=fastest", None, true);
    show("GET", "/endpoints", None, true);
    show(
        "GET",
        "/endpoints?group_by=user&route=/items/%7Bid%7D",
        None,
        true,
    );
    show("GET", "/endpoints?user=mallory&group_by=method", None, true);
    show("POST", "/baselines/v41", None, true);
    show("POST", "/baselines", Some(r#"{"name": "v41-copy"}"#), true);
    show("GET", "/baselines", None, true);
    show("GET", "/baselines/v41", None, true);
    show("DELETE", "/baselines/v41-copy", None, true);
    checkout_load(5_000, 120);
    show("GET", "/gate?baseline=v41", None, true);
    show("GET", "/regressions?baseline=v41", None, true);
    show("POST", "/regressions/shop.checkout/ack", None, true);
    show("POST", "/regressions/POST%20%2Fcheckout/ack", None, true);
    show("GET", "/gate?baseline=v41", None, true);
    checkout_load(6_000, 120);
    show("GET", "/gate?baseline=v41", None, true);
    show("GET", "/anomalies?limit=2", None, true);
    show("GET", "/metrics", None, true);
    show(
        "POST",
        "/start",
        Some(r#"{"sample_rate": 0.05, "mode": "sampling"}"#),
        true,
    );
    show("POST", "/start", Some(r#"{"sample_rate": 5}"#), true);
    show("POST", "/stop", None, true);
    show("DELETE", "/data", None, true);
    show("GET", "/nope", None, true);
}
