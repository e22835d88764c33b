//! The management API over real loopback HTTP: auth, errors, endpoints breakdowns, clearing,
//! metrics, baselines and the gate.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use flamewatch::{Mode, Settings};
use flamewatch_core::window::WindowConfig;
use flamewatch_http::{ApiConfig, ApiServer, HttpConfig, HttpProfiler};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// An application and its management API, both on loopback.
struct Service {
    api: String,
    app: String,
    token: Option<String>,
    agent: ureq::Agent,
    _server: ApiServer,
    _rt: tokio::runtime::Runtime,
}

static DELAY_US: AtomicU64 = AtomicU64::new(10_000);

#[flamewatch::profiled("fwhttp.api.gate_work")]
fn gate_work() {
    std::thread::sleep(Duration::from_micros(DELAY_US.load(Ordering::Relaxed)));
}

async fn user_items(headers: HeaderMap) -> &'static str {
    let slow = headers.get("x-user-id").is_some_and(|v| v == "mallory");
    tokio::time::sleep(Duration::from_millis(if slow { 15 } else { 1 })).await;
    "items"
}

impl Service {
    fn start(token: Option<&str>) -> Service {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let http = HttpProfiler::new(HttpConfig::default().user_header("x-user-id"));
        let mut config = ApiConfig::default().bind(SocketAddr::from(([127, 0, 0, 1], 0)));
        if let Some(t) = token {
            config = config.token(t);
        }
        let server = rt.block_on(http.serve(config.clone())).unwrap();
        let app = Router::new()
            .route("/api/items/{id}", get(user_items))
            .route("/gate/work", get(|| async { gate_work() }))
            .layer(http.layer());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let app_addr = listener.local_addr().unwrap();
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Service {
            api: server.url(&config),
            app: format!("http://{app_addr}"),
            token: token.map(str::to_string),
            agent,
            _server: server,
            _rt: rt,
        }
    }

    /// One API call: `(status, body)`.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (u16, String) {
        let url = format!("{}{path}", self.api);
        let auth = token.map(|t| format!("Bearer {t}"));
        let resp = match method {
            "GET" | "DELETE" => {
                let mut r = if method == "GET" {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.call()
            }
            _ => {
                let mut r = self
                    .agent
                    .post(&url)
                    .header("content-type", "application/json");
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.send(body.unwrap_or(""))
            }
        };
        let mut resp = resp.unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap())
    }

    /// An authorized call expected to succeed, parsed as JSON.
    fn json(&self, method: &str, path: &str, body: Option<&str>) -> Value {
        let (status, text) = self.call(method, path, body, self.token.as_deref());
        assert_eq!(status, 200, "{method} {path}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["version"], 1, "{text}");
        v
    }

    fn hit(&self, path: &str, user: Option<&str>) {
        let mut r = self.agent.get(format!("{}{path}", self.app));
        if let Some(u) = user {
            r = r.header("x-user-id", u);
        }
        assert_eq!(r.call().unwrap().status().as_u16(), 200);
    }
}

fn error_code(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{text}"
    );
    v["error"]["code"].as_str().unwrap().to_string()
}

#[test]
fn token_errors_breakdowns_metrics_and_clear() {
    let _serial = crate::serial();
    // Other tests' functions (same process-wide profiler) must not reach this gate.
    flamewatch::init(
        Settings::default()
            .breaker(flamewatch::BreakerSettings::off())
            .mode(Mode::Sampling)
            .sample_rate(0.01),
    )
    .clear();
    let s = Service::start(Some("s3cret"));

    let (status, text) = s.call("GET", "/stats", None, None);
    assert_eq!((status, error_code(&text).as_str()), (401, "unauthorized"));
    let (status, _) = s.call("GET", "/stats", None, Some("wrong"));
    assert_eq!(status, 401);
    let (status, _) = s.call("GET", "/metrics", None, None);
    assert_eq!(status, 401);

    for (method, path, body) in [
        ("GET", "/functions?sort=bogus", None),
        ("GET", "/functions?limit=abc", None),
        ("GET", "/endpoints?group_by=planet", None),
        ("GET", "/endpoints?status=abc", None),
        ("GET", "/stats?format=xml", None),
        ("GET", "/stats?colour=red", None),
        ("GET", "/gate?block_on=severe", None),
        ("POST", "/start", Some(r#"{"sample_rate": 2}"#)),
        ("POST", "/start", Some(r#"{"mode": "sometimes"}"#)),
        ("POST", "/start", Some("not json")),
        ("POST", "/baselines/bad%20name", None),
    ] {
        let (status, text) = s.call(method, path, body, Some("s3cret"));
        assert_eq!(
            (status, error_code(&text).as_str()),
            (400, "bad_request"),
            "{method} {path}"
        );
    }
    for path in [
        "/nope",
        "/baselines/never-made",
        "/gate?baseline=never-made",
    ] {
        let (status, text) = s.call("GET", path, None, Some("s3cret"));
        assert_eq!(
            (status, error_code(&text).as_str()),
            (404, "not_found"),
            "{path}"
        );
    }

    // A user made slower than the population shows through /endpoints.
    for i in 0..12 {
        for user in ["alice", "bob", "carol", "mallory"] {
            s.hit(&format!("/api/items/{i}"), Some(user));
        }
    }
    let v = s.json(
        "GET",
        "/endpoints?group_by=user&route=/api/items/%7Bid%7D",
        None,
    );
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 4, "{v}");
    assert_eq!(groups[0]["key"], "mallory", "slowest first: {v}");
    let mean = |g: &Value| g["mean_ms"].as_f64().unwrap();
    assert!(mean(&groups[0]) >= 14.0, "{v}");
    for g in &groups[1..] {
        assert_eq!(g["requests"], 12);
        assert!(mean(g) * 3.0 < mean(&groups[0]), "{v}");
    }
    let v = s.json("GET", "/endpoints?user=mallory&group_by=method", None);
    assert_eq!(v["groups"][0]["key"], "GET");
    assert_eq!(v["groups"][0]["requests"], 12);
    let v = s.json("GET", "/endpoints?method=get", None);
    let e = &v["endpoints"][0];
    assert_eq!(
        (e["endpoint"].as_str(), e["requests"].as_u64()),
        (Some("GET /api/items/{id}"), Some(48))
    );

    let v = s.json("GET", "/stats", None);
    assert_eq!(v["http"]["requests"], 48);
    let (status, text) = s.call("GET", "/stats?format=text", None, Some("s3cret"));
    assert_eq!(status, 200);
    assert!(
        text.starts_with("Profiling Summary:") && text.contains("GET /api/items/{id}: 48 requests"),
        "{text}"
    );
    let (status, text) = s.call("GET", "/metrics", None, Some("s3cret"));
    assert_eq!(status, 200);
    assert!(
        text.contains(r#"flamewatch_http_requests_total{method="GET",route="/api/items/{id}"} 48"#),
        "{text}"
    );
    assert!(
        text.contains("flamewatch_http_dropped_measurements_total 0"),
        "{text}"
    );
    let root = s.api.rsplit_once("/api/").unwrap().0;
    let resp = s
        .agent
        .get(format!("{root}/metrics"))
        .header("authorization", "Bearer s3cret")
        .call();
    assert_eq!(resp.unwrap().status().as_u16(), 200);

    // Against the calibrated history: nothing has shifted, so the gate passes.
    let v = s.json("GET", "/gate", None);
    assert_eq!(
        (v["verdict"].as_str(), v["baseline"].as_str()),
        (Some("pass"), None),
        "{v}"
    );
    let v = s.json("GET", "/regressions", None);
    assert!(v["regressions"].as_array().unwrap().is_empty(), "{v}");
    let v = s.json("GET", "/anomalies?limit=5", None);
    assert!(v["functions"].is_array() && v["requests"].is_array(), "{v}");
    let v = s.json("GET", "/functions?sort=calls&limit=1", None);
    assert!(v["functions"].as_array().unwrap().len() <= 1, "{v}");

    let v = s.json("DELETE", "/data", None);
    assert_eq!(v["cleared"], true);
    let v = s.json("GET", "/endpoints", None);
    assert_eq!(v["endpoints"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(s.json("GET", "/stats", None)["http"]["requests"], 0);

    let v = s.json("POST", "/stop", None);
    assert_eq!(v["running"], false);
    let v = s.json(
        "POST",
        "/start",
        Some(r#"{"sample_rate": 0.05, "mode": "sampling"}"#),
    );
    assert_eq!(
        (v["running"].as_bool(), v["sample_rate"].as_f64()),
        (Some(true), Some(0.05))
    );
    assert_eq!(flamewatch::profiler().unwrap().settings().sample_rate, 0.05);
}

fn load(s: &Service, delay_us: u64, requests: usize) {
    DELAY_US.store(delay_us, Ordering::Relaxed);
    for _ in 0..requests {
        s.hit("/gate/work", None);
    }
}

#[test]
fn gate_warns_on_medium_until_acknowledged_and_blocks_on_high() {
    let _serial = crate::serial();
    let window = WindowConfig {
        window_ns: 500_000_000,
        windows: 100,
        recent_windows: 2,
    };
    flamewatch::init(
        Settings::default()
            .breaker(flamewatch::BreakerSettings::off())
            .mode(Mode::Full)
            .window(window),
    );
    let s = Service::start(None);
    s.json("DELETE", "/data", None);

    load(&s, 10_000, 80);
    let v = s.json("POST", "/baselines/before-deploy", None);
    assert!(
        v["endpoints"].as_u64().unwrap() >= 1 && v["functions"].as_u64().unwrap() >= 1,
        "{v}"
    );
    let v = s.json("GET", "/baselines", None);
    assert!(
        v["baselines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "before-deploy"),
        "{v}"
    );
    let v = s.json("GET", "/gate?baseline=before-deploy", None);
    assert_eq!(v["verdict"], "pass", "{v}");

    // +27 %: MEDIUM warns until acknowledged.
    load(&s, 12_700, 110);
    let v = s.json("GET", "/gate?baseline=before-deploy", None);
    assert_eq!(v["verdict"], "warn", "{v}");
    let findings = v["findings"].as_array().unwrap().clone();
    assert!(
        findings
            .iter()
            .all(|f| f["severity"] == "MEDIUM" || f["severity"] == "LOW"),
        "{v}"
    );
    assert!(
        findings.iter().any(|f| f["key"] == "fwhttp.api.gate_work"),
        "{v}"
    );
    for f in findings.iter().filter(|f| f["action"] == "warn") {
        let key = f["key"]
            .as_str()
            .unwrap()
            .replace(' ', "%20")
            .replace('/', "%2F");
        s.json("POST", &format!("/regressions/{key}/ack"), None);
    }
    let v = s.json("GET", "/gate?baseline=before-deploy", None);
    assert_eq!(v["verdict"], "pass", "{v}");
    let v = s.json("GET", "/regressions?baseline=before-deploy", None);
    assert!(
        v["regressions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["acknowledged"] == true),
        "{v}"
    );

    // HIGH blocks, acknowledged or not. The gate compares every request since the freeze,
    // so the 110 requests at +27 % stay in "after": 220 more at +58 % bring it to ≈ +47 %.
    load(&s, 16_000, 220);
    let v = s.json("GET", "/gate?baseline=before-deploy", None);
    assert_eq!(v["verdict"], "block", "{v}");
    let first = &v["findings"][0];
    assert!(
        first["severity"] == "HIGH" || first["severity"] == "CRITICAL",
        "{v}"
    );
    assert!(v["reasons"][0].as_str().unwrap().contains("blocks"), "{v}");

    let v = s.json("DELETE", "/baselines/before-deploy", None);
    assert_eq!(v["deleted"], "before-deploy");
    let (status, _) = s.call("GET", "/baselines/before-deploy", None, None);
    assert_eq!(status, 404);
}
