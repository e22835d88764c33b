//! The example service's HTTP surface: an axum [`Router`] over [`AppState`].
//!
//! | route | work |
//! |---|---|
//! | `GET /fast?order=N&delay_ms=D` | `fastFunction` (≈ 5 ms; `delay_ms`, at most 2000, injects an outlier) |
//! | `GET /slow` | `slowFunction` (≈ 100 ms) |
//! | `GET /regression` | `regressionTest` (≈ 108 ms, ≈ 157 ms while the slowdown is on) |
//! | `GET /ping` | `ping`: hashes 64 bytes (the cheap endpoint of the overhead benchmark) |
//! | `GET /hash?kib=N` | `hashBlocks`: hashes a fixed N KiB (default 64, at most 1024) — fixed CPU work |
//! | `POST /admin/slow?on=BOOL` | switches the `regressionTest` slowdown on (default) or off |
//!
//! Requests carrying the configured slow user in `x-user-id` take
//! [`AppState::slow_user_extra`] longer (an extra lookup outside the profiled functions), so
//! the management API's per-user view has something to find.

use crate::{db, work};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The header carrying the user id.
pub const USER_HEADER: &str = "x-user-id";
/// The largest injectable delay of `GET /fast`, in milliseconds.
pub const MAX_DELAY_MS: u64 = 2_000;

/// Shared state of the service.
#[derive(Debug)]
pub struct AppState {
    /// Whether `regressionTest` is slowed down.
    pub slow: AtomicBool,
    /// The user whose requests are slower, if any.
    pub slow_user: Option<String>,
    /// How much slower that user's requests are.
    pub slow_user_extra: Duration,
}

impl AppState {
    /// State with the slowdown off and `slow_user` taking `extra` longer per request.
    pub fn new(slow_user: Option<String>, extra: Duration) -> Arc<Self> {
        Arc::new(AppState {
            slow: AtomicBool::new(false),
            slow_user,
            slow_user_extra: extra,
        })
    }
}

/// The service's routes (without the profiling layer, which the caller adds).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/fast", get(fast))
        .route("/slow", get(slow))
        .route("/regression", get(regression))
        .route("/ping", get(ping))
        .route("/hash", get(hash))
        .route("/admin/slow", post(switch_slow))
        .with_state(state)
}

/// An error answered as `500` with a one-line JSON body.
#[derive(Debug)]
pub struct AppError(String);

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        AppError(format!("database query failed: {e}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.0 });
        (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
    }
}

/// A numeric user id derived from the `x-user-id` header (0 without one).
fn user_number(headers: &HeaderMap) -> i64 {
    headers
        .get(USER_HEADER)
        .map(|v| {
            v.as_bytes().iter().fold(0i64, |acc, b| {
                acc.wrapping_mul(31).wrapping_add(i64::from(*b))
            })
        })
        .unwrap_or(0)
}

/// The extra lookup slow users pay: a query and a longer stand-in remote call.
async fn user_lookup(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    let Some(slow) = state.slow_user.as_deref() else {
        return Ok(());
    };
    if headers
        .get(USER_HEADER)
        .is_some_and(|u| u.as_bytes() == slow.as_bytes())
    {
        db::user_total(user_number(headers))?;
        tokio::time::sleep(state.slow_user_extra).await;
    }
    Ok(())
}

/// Query of `GET /fast`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FastQuery {
    order: Option<i64>,
    delay_ms: Option<u64>,
}

async fn fast(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<FastQuery>,
) -> Result<Response, AppError> {
    let delay = q.delay_ms.unwrap_or(0);
    if delay > MAX_DELAY_MS {
        let body = serde_json::json!({
            "error": format!("invalid `delay_ms` {delay}: expected at most {MAX_DELAY_MS}")
        });
        return Ok((StatusCode::BAD_REQUEST, Json(body)).into_response());
    }
    user_lookup(&state, &headers).await?;
    let order = q.order.unwrap_or_else(|| user_number(&headers));
    let digest = work::fast_function(order, Duration::from_millis(delay)).await?;
    Ok(format!("fast {digest:016x}\n").into_response())
}

async fn slow(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<String, AppError> {
    user_lookup(&state, &headers).await?;
    let digest = work::slow_function(user_number(&headers)).await?;
    Ok(format!("slow {digest:016x}\n"))
}

async fn regression(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<String, AppError> {
    user_lookup(&state, &headers).await?;
    let slow = state.slow.load(Ordering::Relaxed);
    let digest = work::regression_test(user_number(&headers), slow).await?;
    Ok(format!("regression {digest:016x}\n"))
}

async fn ping() -> String {
    format!("pong {:016x}\n", work::ping(64))
}

/// The largest `kib` of `GET /hash`.
pub const MAX_HASH_KIB: u32 = 1_024;

/// Query of `GET /hash`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HashQuery {
    kib: Option<u32>,
}

async fn hash(Query(q): Query<HashQuery>) -> Response {
    let kib = q.kib.unwrap_or(64);
    if kib > MAX_HASH_KIB {
        let body = serde_json::json!({
            "error": format!("invalid `kib` {kib}: expected at most {MAX_HASH_KIB}")
        });
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    format!("hash {:016x}\n", work::hash_blocks(kib)).into_response()
}

/// Query of `POST /admin/slow`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlowQuery {
    on: Option<bool>,
}

async fn switch_slow(
    State(state): State<Arc<AppState>>,
    Query(q): Query<SlowQuery>,
) -> Json<serde_json::Value> {
    let on = q.on.unwrap_or(true);
    state.slow.store(on, Ordering::Relaxed);
    Json(serde_json::json!({ "slow": on }))
}
