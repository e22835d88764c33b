//! The management API: an axum [`Router`] over the profiler and the request statistics.
//!
//! Every JSON response carries `"version": 1`; field names are stable within a version.
//! Errors are one JSON body, `{"version":1,"error":{"code":"bad_request","message":"…"}}`,
//! with status 400 (bad parameter or body), 401 (missing or wrong bearer token) or 404
//! (unknown path or baseline). Handlers are thin: they parse parameters into plain values and
//! call the functions below them. The endpoints are documented with examples in
//! `docs/api.md`.

use crate::HttpProfiler;
use crate::gate::{self, GateReport, Kind};
use crate::record::{Filter, GroupBy};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use flamewatch::snapshot::Snapshot;
use flamewatch::{Mode, Settings};
use flamewatch_core::detect::Comparison;
use flamewatch_core::severity::Severity;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

/// Acknowledged regression keys kept at most.
pub const MAX_ACKS: usize = 10_000;

/// The default path prefix.
pub const DEFAULT_PREFIX: &str = "/api/code-intelligence/dynamic-profiling";

/// Where and how the API is served.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApiConfig {
    /// Address of the standalone server. Default `127.0.0.1:6060`.
    pub bind: SocketAddr,
    /// Path prefix of every endpoint. Default [`DEFAULT_PREFIX`].
    pub prefix: String,
    /// Bearer token required on every request when set.
    pub token: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 6060)),
            prefix: DEFAULT_PREFIX.to_string(),
            token: None,
        }
    }
}

impl ApiConfig {
    /// The `api.*` keys of a flamewatch configuration (`api.bind`, `api.prefix`, `api.token`).
    ///
    /// ```
    /// let config = flamewatch::config::Config::builder()
    ///     .yaml_str("flamewatch.yml", "api:\n  bind: 127.0.0.1:7070\n  token: s3cret\n")
    ///     .build()
    ///     .unwrap();
    /// let api = flamewatch_http::ApiConfig::from_config(&config);
    /// assert_eq!(api.bind.port(), 7070);
    /// assert_eq!(api.token.as_deref(), Some("s3cret"));
    /// ```
    pub fn from_config(config: &flamewatch::config::Config) -> Self {
        ApiConfig {
            bind: config.api.bind,
            prefix: config.api.prefix.clone(),
            token: config.api.token.clone(),
        }
    }

    /// Sets the standalone address.
    pub fn bind(mut self, bind: SocketAddr) -> Self {
        self.bind = bind;
        self
    }

    /// Sets the path prefix.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    /// Requires `Authorization: Bearer <token>`.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }
}

/// The one error type of the API, mapped to a status and the JSON error body.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ApiError {
    /// A bad parameter or body (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong bearer token (401).
    #[error("missing or invalid bearer token: send `Authorization: Bearer <token>`")]
    Unauthorized,
    /// Unknown path or object (404).
    #[error("{0}")]
    NotFound(String),
    /// The response could not be produced (500).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let body = json!({"version": 1, "error": {"code": code, "message": self.to_string()}});
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::BadRequest(format!("invalid query string: {}", e.body_text()))
    }
}

type ApiResult = Result<Response, ApiError>;

#[derive(Clone)]
struct Api {
    http: HttpProfiler,
    token: Option<Arc<str>>,
}

/// Query parameters, consumed one by one; leftovers are an error.
struct Params(Vec<(String, String)>);

impl Params {
    fn take(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(i).1)
    }

    fn parse<T: std::str::FromStr>(
        &mut self,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::BadRequest(format!("invalid `{name}` value `{v}`: expected {expected}"))
            }),
        }
    }

    fn finish(self) -> Result<(), ApiError> {
        match self.0.first() {
            None => Ok(()),
            Some((k, _)) => Err(ApiError::BadRequest(format!("unknown parameter `{k}`"))),
        }
    }
}

fn params(q: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Result<Params, ApiError> {
    Ok(Params(q?.0))
}

type Q = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The management API, with every path under `config.prefix`, for mounting into an
/// application router (`app.merge(router)`).
pub fn router(http: HttpProfiler, config: &ApiConfig) -> Router {
    let api = Api {
        http,
        token: config.token.as_deref().map(Arc::from),
    };
    let inner = Router::new()
        .route("/start", post(start))
        .route("/stop", post(stop))
        .route("/stats", get(stats))
        .route("/anomalies", get(anomalies))
        .route("/functions", get(functions))
        .route("/endpoints", get(endpoints))
        .route("/regressions", get(regressions))
        .route("/regressions/{key}/ack", post(ack))
        .route("/data", axum::routing::delete(clear))
        .route("/baselines", get(list_baselines).post(create_baseline_body))
        .route(
            "/baselines/{name}",
            get(show_baseline)
                .post(create_baseline)
                .delete(delete_baseline),
        )
        .route("/gate", get(gate_handler))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .route_layer(middleware::from_fn_with_state(api.clone(), auth))
        .with_state(api);
    let prefix = config.prefix.trim_end_matches('/');
    if prefix.is_empty() {
        inner
    } else {
        Router::new().nest(prefix, inner)
    }
}

/// A running standalone API server; stops when dropped.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl ApiServer {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the API, prefix included.
    pub fn url(&self, config: &ApiConfig) -> String {
        format!(
            "http://{}{}",
            self.addr,
            config.prefix.trim_end_matches('/')
        )
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn serve(http: HttpProfiler, config: ApiConfig) -> std::io::Result<ApiServer> {
    let api = Api {
        http,
        token: config.token.as_deref().map(Arc::from),
    };
    let root_metrics = Router::new()
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(api.clone(), auth))
        .with_state(api);
    let app = router(http, &config)
        .merge(root_metrics)
        .fallback(not_found);
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(ApiServer { addr, task })
}

async fn auth(State(api): State<Api>, req: Request, next: Next) -> Response {
    if let Some(token) = &api.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no such endpoint: {} {}",
        req.method(),
        req.uri().path()
    ))
}

fn ok(v: Value) -> ApiResult {
    Ok(Json(v).into_response())
}

fn profiler() -> flamewatch::Profiler {
    flamewatch::profiler().unwrap_or_else(|| flamewatch::init(Settings::default()))
}

fn snapshot() -> Option<Snapshot> {
    flamewatch::profiler().map(|p| p.snapshot())
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StartBody {
    sample_rate: Option<f64>,
    mode: Option<String>,
}

/// `POST /start`: turns profiling on, optionally with a new rate and mode.
pub fn start_profiling(http: &HttpProfiler, sample_rate: Option<f64>, mode: Option<Mode>) -> Value {
    let p = profiler();
    let mut s = p.settings().enabled(true);
    if let Some(rate) = sample_rate {
        s = s.sample_rate(rate);
    }
    if let Some(mode) = mode {
        s = s.mode(mode);
    }
    p.apply(s.clone());
    http.refresh();
    json!({"version": 1, "running": true, "mode": s.mode, "sample_rate": s.sample_rate})
}

async fn start(State(api): State<Api>, body: Bytes) -> ApiResult {
    let body: StartBody = if body.iter().all(u8::is_ascii_whitespace) {
        StartBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
    };
    if let Some(r) = body.sample_rate
        && !(0.0..=1.0).contains(&r)
    {
        return Err(ApiError::BadRequest(format!(
            "invalid `sample_rate` {r}: expected a number from 0 to 1"
        )));
    }
    let mode = match body.mode.as_deref() {
        None => None,
        Some(m) => Some(
            m.parse::<Mode>()
                .map_err(|e| ApiError::BadRequest(format!("invalid `mode`: {e}")))?,
        ),
    };
    ok(start_profiling(&api.http, body.sample_rate, mode))
}

async fn stop(State(api): State<Api>) -> ApiResult {
    if let Some(p) = flamewatch::profiler() {
        p.set_enabled(false);
    }
    api.http.refresh();
    ok(json!({"version": 1, "running": false}))
}

/// The `/stats` body.
pub fn stats_json(http: &HttpProfiler) -> Value {
    let t = http.recorder().totals();
    let http_part = json!({
        "requests": t.requests,
        "sampled": t.sampled(),
        "sampled_random": t.sampled_random,
        "sampled_guaranteed": t.sampled_guaranteed,
        "sampled_triggered": t.sampled_triggered,
        "effective_sample_rate": t.effective_sample_rate(),
        "endpoints": http.recorder().endpoints().len(),
        "anomalies_total": http.recorder().anomalies_total(),
        "dropped_measurements": http.recorder().dropped(),
        "capturing": http.recorder().capturing(),
        "captures": http.recorder().captures(),
    });
    match snapshot() {
        None => json!({"version": 1, "running": false, "profiler": null, "http": http_part}),
        Some(s) => {
            let top: Vec<Value> = s
                .functions
                .iter()
                .filter(|f| f.stats.sampled > 0)
                .take(5)
                .map(|f| json!({"name": f.name, "mean_ms": f.stats.mean_ns / 1e6, "p95_ms": f.stats.p95_ns as f64 / 1e6, "calls": f.stats.calls}))
                .collect();
            json!({
                "version": 1,
                "running": s.session.enabled,
                "session": s.session,
                "http": http_part,
                "top_slow_functions": top,
                "health": s.health,
            })
        }
    }
}

/// The `/stats?format=text` body: the profiler's human summary plus request figures.
pub fn stats_text(http: &HttpProfiler) -> String {
    let mut out = snapshot().map_or_else(
        || "Profiling Summary:\n  (profiler not started)\n".to_string(),
        |s| s.summary_text(),
    );
    let t = http.recorder().totals();
    out.push_str(&format!(
        "\nHTTP Requests:\n  Requests: {}\n  Sampled: {} ({:.2}%)\n",
        t.requests,
        t.sampled(),
        t.effective_sample_rate() * 100.0
    ));
    for e in http.recorder().endpoints().iter().take(10) {
        out.push_str(&format!(
            "  {}: {} requests, {:.2}ms avg, p95 {:.2}ms\n",
            e.endpoint,
            e.requests,
            e.latency.mean_ns / 1e6,
            e.latency.p95_ns as f64 / 1e6
        ));
    }
    for c in http.recorder().captures().iter().rev().take(5) {
        out.push_str(&format!(
            "  capture: {} p95 {:.2}ms ≥ {:.2}ms, every request traced for {:.0}s\n",
            c.endpoint, c.p95_ms, c.threshold_ms, c.duration_s
        ));
    }
    out
}

async fn stats(State(api): State<Api>, q: Q) -> ApiResult {
    let mut p = params(q)?;
    let format = p.take("format");
    p.finish()?;
    match format.as_deref() {
        None | Some("json") => ok(stats_json(&api.http)),
        Some("text") => Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            stats_text(&api.http),
        )
            .into_response()),
        Some(other) => Err(ApiError::BadRequest(format!(
            "invalid `format` value `{other}`: expected json or text"
        ))),
    }
}

async fn anomalies(State(api): State<Api>, q: Q) -> ApiResult {
    let mut p = params(q)?;
    let limit: usize = p.parse("limit", "a non-negative integer")?.unwrap_or(100);
    p.finish()?;
    let mut functions = snapshot().map(|s| s.anomalies).unwrap_or_default();
    functions.reverse();
    functions.truncate(limit);
    let mut requests = api.http.recorder().anomalies();
    requests.reverse();
    requests.truncate(limit);
    ok(json!({"version": 1, "functions": functions, "requests": requests}))
}

async fn functions(q: Q) -> ApiResult {
    let mut p = params(q)?;
    let sort = p.take("sort").unwrap_or_else(|| "mean".to_string());
    let limit: usize = p.parse("limit", "a non-negative integer")?.unwrap_or(100);
    p.finish()?;
    let mut list = snapshot().map(|s| s.functions).unwrap_or_default();
    let key = |f: &flamewatch::snapshot::FunctionStats| -> f64 {
        match sort.as_str() {
            "p95" => f.stats.p95_ns as f64,
            "p99" => f.stats.p99_ns as f64,
            "max" => f.stats.max_ns as f64,
            "calls" => f.stats.calls as f64,
            "total" => f.stats.sum_ns as f64,
            _ => f.stats.mean_ns,
        }
    };
    match sort.as_str() {
        "name" => list.sort_by(|a, b| a.name.cmp(&b.name)),
        "mean" | "p95" | "p99" | "max" | "calls" | "total" => {
            list.sort_by(|a, b| key(b).total_cmp(&key(a)));
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "invalid `sort` value `{other}`: expected one of mean, p95, p99, max, calls, total, name"
            )));
        }
    }
    list.truncate(limit);
    ok(json!({"version": 1, "sort": sort, "functions": list}))
}

async fn endpoints(State(api): State<Api>, q: Q) -> ApiResult {
    let mut p = params(q)?;
    let group_by: Option<GroupBy> = match p.take("group_by") {
        None => None,
        Some(g) => Some(g.parse().map_err(ApiError::BadRequest)?),
    };
    let filter = Filter {
        method: p.take("method"),
        route: p.take("route"),
        status: p.parse("status", "an HTTP status code")?,
        user: p.take("user"),
    };
    let limit: usize = p.parse("limit", "a non-negative integer")?.unwrap_or(1000);
    p.finish()?;
    let rec = api.http.recorder();
    if group_by.is_none() && filter.status.is_none() && filter.user.is_none() {
        let mut list: Vec<_> = rec
            .endpoints()
            .into_iter()
            .filter(|e| {
                filter
                    .method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(&e.method))
            })
            .filter(|e| filter.route.as_deref().is_none_or(|r| r == e.route))
            .collect();
        list.truncate(limit);
        return ok(json!({"version": 1, "endpoints": list}));
    }
    let by = group_by.unwrap_or(GroupBy::Route);
    let mut groups = rec.grouped(by, &filter);
    groups.sort_by(|a, b| b.mean_ms.total_cmp(&a.mean_ms));
    groups.truncate(limit);
    let by_name = match by {
        GroupBy::Route => "route",
        GroupBy::Method => "method",
        GroupBy::Status => "status",
        GroupBy::User => "user",
    };
    ok(json!({
        "version": 1,
        "group_by": by_name,
        "filters": {"method": filter.method, "route": filter.route, "status": filter.status, "user": filter.user},
        "groups": groups,
    }))
}

fn regression_to_comparison(r: &flamewatch::snapshot::Regression) -> Comparison {
    Comparison {
        change_pct: r.change_pct,
        baseline_mean_ns: r.baseline_mean_ms * 1e6,
        recent_mean_ns: r.recent_mean_ms * 1e6,
        baseline_samples: r.baseline_samples,
        recent_samples: r.recent_samples,
        p_value: r.p_value,
        confidence: r.confidence,
        severity: r.severity,
        regressed: true,
    }
}

fn baseline_exists(http: &HttpProfiler, name: &str) -> bool {
    http.recorder().baseline_len(name).is_some()
        || flamewatch::profiler().is_some_and(|p| p.baselines().iter().any(|b| b == name))
}

/// Every comparison the gate judges: against the frozen baseline `name`, or against each
/// key's calibrated history.
pub fn comparisons(
    http: &HttpProfiler,
    baseline: Option<&str>,
) -> Result<Vec<(Kind, String, Comparison)>, ApiError> {
    let mut out = Vec::new();
    match baseline {
        Some(name) => {
            if !baseline_exists(http, name) {
                return Err(ApiError::NotFound(format!(
                    "no baseline named `{name}`: create it with POST /baselines/{name}"
                )));
            }
            if let Some(list) = flamewatch::profiler().and_then(|p| p.compare_to_baseline(name)) {
                out.extend(list.into_iter().map(|(k, c)| (Kind::Function, k, c)));
            }
            if let Some(list) = http.recorder().compare_to_baseline(name) {
                out.extend(list.into_iter().map(|(k, c)| (Kind::Endpoint, k, c)));
            }
        }
        None => {
            if let Some(s) = snapshot() {
                out.extend(
                    s.regressions
                        .iter()
                        .map(|r| (Kind::Function, r.name.clone(), regression_to_comparison(r))),
                );
            }
            out.extend(
                http.recorder()
                    .regressions()
                    .into_iter()
                    .map(|(k, c)| (Kind::Endpoint, k, c)),
            );
        }
    }
    Ok(out)
}

/// The gate's verdict against `baseline` (or the calibrated history).
pub fn gate_report(
    http: &HttpProfiler,
    baseline: Option<&str>,
    block_on: Severity,
) -> Result<GateReport, ApiError> {
    let list = comparisons(http, baseline)?;
    let alpha = flamewatch::profiler().map_or(0.001, |p| p.settings().regression.alpha);
    let acks: BTreeSet<String> = http
        .shared
        .acks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(gate::evaluate(&list, baseline, block_on, alpha, &acks))
}

async fn regressions(State(api): State<Api>, q: Q) -> ApiResult {
    let mut p = params(q)?;
    let baseline = p.take("baseline");
    p.finish()?;
    let report = gate_report(&api.http, baseline.as_deref(), Severity::High)?;
    ok(
        json!({"version": 1, "baseline": report.baseline, "compared": report.compared, "regressions": report.findings}),
    )
}

async fn gate_handler(State(api): State<Api>, q: Q) -> ApiResult {
    let mut p = params(q)?;
    let baseline = p.take("baseline");
    let block_on: Severity = p
        .parse("block_on", "one of low, medium, high, critical")?
        .unwrap_or(Severity::High);
    p.finish()?;
    let report = gate_report(&api.http, baseline.as_deref(), block_on)?;
    Ok(Json(report).into_response())
}

async fn ack(State(api): State<Api>, Path(key): Path<String>) -> ApiResult {
    if key.trim().is_empty() || key.len() > 1024 {
        return Err(ApiError::BadRequest(
            "invalid regression key: expected 1 to 1024 bytes".to_string(),
        ));
    }
    let mut acks = api
        .http
        .shared
        .acks
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if acks.len() >= MAX_ACKS && !acks.contains(&key) {
        return Err(ApiError::BadRequest(format!(
            "too many acknowledgments ({MAX_ACKS}): clear them with DELETE /data"
        )));
    }
    acks.insert(key.clone());
    drop(acks);
    ok(json!({"version": 1, "acknowledged": key}))
}

async fn clear(State(api): State<Api>) -> ApiResult {
    if let Some(p) = flamewatch::profiler() {
        p.clear();
    }
    api.http.recorder().clear();
    api.http
        .shared
        .acks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    ok(json!({"version": 1, "cleared": true}))
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid baseline name `{name}`: use 1 to 128 letters, digits, `.`, `_` or `-`"
        )))
    }
}

/// Freezes baseline `name` for functions and endpoints.
pub fn freeze(http: &HttpProfiler, name: &str) -> Result<Value, ApiError> {
    check_name(name)?;
    let endpoints = http.recorder().freeze_baseline(name).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "too many baselines ({}): delete one with DELETE /baselines/{{name}} first",
            crate::record::MAX_BASELINES
        ))
    })?;
    let functions = flamewatch::profiler().map_or(0, |p| p.freeze_baseline(name));
    Ok(json!({"version": 1, "name": name, "functions": functions, "endpoints": endpoints}))
}

async fn create_baseline(State(api): State<Api>, Path(name): Path<String>) -> ApiResult {
    ok(freeze(&api.http, &name)?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineBody {
    name: String,
}

async fn create_baseline_body(State(api): State<Api>, body: Bytes) -> ApiResult {
    let body: BaselineBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!("invalid JSON body (expected {{\"name\": …}}): {e}"))
    })?;
    ok(freeze(&api.http, &body.name)?)
}

async fn list_baselines(State(api): State<Api>) -> ApiResult {
    let mut names: BTreeSet<String> = flamewatch::profiler()
        .map(|p| p.baselines())
        .unwrap_or_default()
        .into_iter()
        .collect();
    names.extend(api.http.recorder().baseline_names());
    let list: Vec<Value> = names
        .iter()
        .map(|n| json!({"name": n, "endpoints": api.http.recorder().baseline_len(n).unwrap_or(0)}))
        .collect();
    ok(json!({"version": 1, "baselines": list}))
}

async fn show_baseline(State(api): State<Api>, Path(name): Path<String>) -> ApiResult {
    if !baseline_exists(&api.http, &name) {
        return Err(ApiError::NotFound(format!("no baseline named `{name}`")));
    }
    let functions = flamewatch::profiler()
        .and_then(|p| p.compare_to_baseline(&name))
        .map_or(0, |v| v.len());
    ok(json!({
        "version": 1,
        "name": name,
        "endpoints": api.http.recorder().baseline_len(&name).unwrap_or(0),
        "functions_comparable": functions,
    }))
}

async fn delete_baseline(State(api): State<Api>, Path(name): Path<String>) -> ApiResult {
    let a = flamewatch::profiler().is_some_and(|p| p.drop_baseline(&name));
    let b = api.http.recorder().drop_baseline(&name);
    if !(a || b) {
        return Err(ApiError::NotFound(format!("no baseline named `{name}`")));
    }
    ok(json!({"version": 1, "deleted": name}))
}

/// The Prometheus text exposition of functions and endpoints.
pub fn metrics_text(http: &HttpProfiler) -> Result<String, ApiError> {
    use flamewatch::output::prometheus::{MetricFamily, encode};
    let mut families = flamewatch::profiler()
        .map(|p| p.metric_families())
        .unwrap_or_default();
    let mut requests = MetricFamily::counter(
        "flamewatch_http_requests_total",
        "HTTP requests finished, per endpoint.",
    );
    let mut sampled = MetricFamily::counter(
        "flamewatch_http_sampled_requests_total",
        "HTTP requests traced in depth, per endpoint.",
    );
    let mut latency = MetricFamily::summary(
        "flamewatch_http_request_duration_seconds",
        "Latency of every HTTP request, per endpoint, in seconds.",
    );
    for e in http.recorder().endpoints() {
        let labels = [("method", e.method.as_str()), ("route", e.route.as_str())];
        requests = requests.with_value(&labels, e.requests as f64);
        sampled = sampled.with_value(&labels, e.sampled as f64);
        let s = &e.latency;
        latency = latency.with_summary(
            &labels,
            &[
                (0.5, s.p50_ns as f64 / 1e9),
                (0.95, s.p95_ns as f64 / 1e9),
                (0.99, s.p99_ns as f64 / 1e9),
            ],
            s.sum_ns as f64 / 1e9,
            s.sampled,
        );
    }
    let dropped = MetricFamily::counter(
        "flamewatch_http_dropped_measurements_total",
        "Request latencies lost to a full per-thread ring (the requests are still counted).",
    )
    .with_value(&[], http.recorder().dropped() as f64);
    families.extend([requests, sampled, latency, dropped]);
    encode(&families).map_err(|e| ApiError::Internal(format!("cannot encode metrics: {e}")))
}

async fn metrics(State(api): State<Api>) -> ApiResult {
    let text = metrics_text(&api.http)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            flamewatch::output::prometheus::CONTENT_TYPE,
        )],
        text,
    )
        .into_response())
}
