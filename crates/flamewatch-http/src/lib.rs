//! `flamewatch-http`: HTTP request profiling and the flamewatch management API.
//!
//! Two lines in an axum service measure every request and expose the profiler:
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! # async fn run() -> std::io::Result<()> {
//! flamewatch::init(flamewatch::Settings::default());
//! let http = flamewatch_http::HttpProfiler::new(flamewatch_http::HttpConfig::default());
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "hi" }))
//!     .layer(http.layer());
//! let api = http.serve(flamewatch_http::ApiConfig::default()).await?; // 127.0.0.1:6060
//! # let _ = (app, api); Ok(()) }
//! ```
//!
//! [`ProfilingLayer`] records the latency, status and user of **every** request against its
//! endpoint `METHOD route-template` (axum's `MatchedPath`, or a route extractor you supply;
//! never the raw path) and decides once, at the edge, whether the request is traced in depth:
//! at the profiler's sample rate, with guarantees for low-traffic endpoints. The decision
//! follows the request's future across `.await` and worker threads, so `#[profiled]`
//! functions inside a sampled request are measured and those inside others are not.
//! [`api::router`] is the management API (JSON, versioned, documented in `docs/api.md`).

mod aggregate;
pub mod api;
pub mod gate;
mod layer;
pub mod record;

pub use api::{ApiConfig, ApiServer};
pub use flamewatch::{Scope, Scoped, propagate};
pub use layer::{CANCELLED_STATUS, ProfilingLayer, ProfilingService, ResponseFuture};
pub use record::{Recorder, RecorderConfig};

use axum::http::{Extensions, Method, Request, Uri};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Maps a request to its route template; `None` files it under `_unmatched`. Return
/// `Cow::Borrowed` for static templates to keep the request path allocation-free.
pub type RouteFn = dyn Fn(&Method, &Uri, &Extensions) -> Option<Cow<'static, str>> + Send + Sync;
/// Reads a user id from a request extension (or anything else in it).
pub type UserFn = dyn Fn(&Extensions) -> Option<String> + Send + Sync;

/// How requests are keyed. Defaults: route from axum's `MatchedPath`, no user id.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Custom route extractor, replacing `MatchedPath`.
    pub route: Option<Arc<RouteFn>>,
    /// Header carrying the user id (e.g. `x-user-id`).
    pub user_header: Option<axum::http::HeaderName>,
    /// Custom user extractor, consulted when the header is absent.
    pub user: Option<Arc<UserFn>>,
    /// When set, user ids are replaced by a 16-hex-digit keyed hash with this salt.
    pub hash_users: Option<u64>,
    /// Header whose value becomes the request id of sampled requests (default
    /// `x-request-id`; without it an id is generated).
    pub request_id_header: axum::http::HeaderName,
    /// Caps and sampling guarantees.
    pub recorder: RecorderConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            route: None,
            user_header: None,
            user: None,
            hash_users: None,
            request_id_header: axum::http::HeaderName::from_static("x-request-id"),
            recorder: RecorderConfig::default(),
        }
    }
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("custom_route", &self.route.is_some())
            .field("user_header", &self.user_header)
            .field("custom_user", &self.user.is_some())
            .field("hash_users", &self.hash_users.is_some())
            .field("request_id_header", &self.request_id_header)
            .field("recorder", &self.recorder)
            .finish()
    }
}

impl HttpConfig {
    /// Request profiling as a flamewatch configuration asks: triggered capture from
    /// `trigger.p95_ms`, `trigger.duration_s` and `trigger.cooldown_s` (off while `p95_ms` is
    /// absent); everything else at its default. Read once: a reloaded file changes the
    /// profiler's settings, not an `HttpProfiler` already built.
    pub fn from_config(config: &flamewatch::config::Config) -> Self {
        let mut http = HttpConfig::default();
        if let Some(p95_ms) = config.trigger.p95_ms {
            let ns = |secs: f64| (secs * 1e9) as u64;
            http.recorder.trigger = Some(record::TriggerConfig {
                p95_ns: ns(p95_ms / 1e3),
                duration_ns: ns(config.trigger.duration_s),
                cooldown_ns: ns(config.trigger.cooldown_s),
            });
        }
        http
    }

    /// Uses `f` instead of axum's `MatchedPath` to find the route template.
    pub fn route_extractor(
        mut self,
        f: impl Fn(&Method, &Uri, &Extensions) -> Option<Cow<'static, str>> + Send + Sync + 'static,
    ) -> Self {
        self.route = Some(Arc::new(f));
        self
    }

    /// Reads user ids from header `name`.
    ///
    /// # Panics
    /// If `name` is not a valid header name.
    pub fn user_header(mut self, name: &str) -> Self {
        self.user_header = Some(
            axum::http::HeaderName::try_from(name)
                .expect("user header must be a valid header name"),
        );
        self
    }

    /// Takes request ids from header `name` instead of `x-request-id`.
    ///
    /// # Panics
    /// If `name` is not a valid header name.
    pub fn request_id_header(mut self, name: &str) -> Self {
        self.request_id_header = axum::http::HeaderName::try_from(name)
            .expect("request id header must be a valid header name");
        self
    }

    /// Reads user ids with `f` when the header is absent.
    pub fn user_extractor(
        mut self,
        f: impl Fn(&Extensions) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.user = Some(Arc::new(f));
        self
    }

    /// Replaces user ids by a 16-hex-digit keyed hash (salt `salt`), so no raw id is kept.
    /// The hash is std's `DefaultHasher` (SipHash): stable within one build, not guaranteed
    /// across Rust releases, and a pseudonym rather than cryptographic protection.
    pub fn hash_users(mut self, salt: u64) -> Self {
        self.hash_users = Some(salt);
        self
    }

    /// Sets caps and sampling guarantees.
    pub fn recorder(mut self, recorder: RecorderConfig) -> Self {
        self.recorder = recorder;
        self
    }

    pub(crate) fn user_of<B>(&self, req: &Request<B>) -> Option<UserId> {
        let raw = match self.user_header.as_ref().and_then(|h| req.headers().get(h)) {
            Some(v) => UserId::inline(v.as_bytes()),
            None => UserId::Owned(self.user.as_ref()?(req.extensions())?),
        };
        Some(match self.hash_users {
            Some(salt) => {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                salt.hash(&mut h);
                raw.as_str().hash(&mut h);
                UserId::Hashed(hex16(h.finish()))
            }
            None => raw,
        })
    }
}

fn hex16(v: u64) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = DIGITS[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// A request's user id, held without allocating in the common cases.
pub(crate) enum UserId {
    /// Up to 32 bytes, copied inline.
    Inline([u8; 32], u8),
    Owned(String),
    Hashed([u8; 16]),
}

impl UserId {
    fn inline(bytes: &[u8]) -> UserId {
        if bytes.len() <= 32 {
            let mut buf = [0u8; 32];
            buf[..bytes.len()].copy_from_slice(bytes);
            UserId::Inline(buf, bytes.len() as u8)
        } else {
            UserId::Owned(String::from_utf8_lossy(bytes).into_owned())
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            UserId::Inline(buf, len) => {
                std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or("_invalid")
            }
            UserId::Owned(s) => s,
            UserId::Hashed(h) => std::str::from_utf8(h).unwrap_or("_invalid"),
        }
    }
}

/// Hashes `user` the way [`HttpConfig::hash_users`] with `salt` does (to filter by user).
pub fn hash_user(salt: u64, user: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    salt.hash(&mut h);
    user.hash(&mut h);
    String::from_utf8_lossy(&hex16(h.finish())).into_owned()
}

/// Requests (per thread) between two reads of the profiler's settings by the layer.
const REFRESH_EVERY: u64 = 1024;

/// State shared by the layer and the API.
pub(crate) struct Shared {
    pub(crate) config: HttpConfig,
    pub(crate) recorder: Recorder,
    threshold: AtomicU64,
    enabled: AtomicBool,
    /// Acknowledged regression keys.
    pub(crate) acks: Mutex<BTreeSet<String>>,
}

impl Shared {
    /// The sampling threshold and whether deep tracing is on, re-read from the profiler's
    /// settings every [`REFRESH_EVERY`] requests (and whenever the API changes them).
    fn sampling(&self) -> (u64, bool) {
        thread_local! {
            static TICKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
        }
        let tick = TICKS.try_with(|t| {
            let n = t.get().wrapping_add(1);
            t.set(n);
            n
        });
        if tick.is_ok_and(|n| n.is_multiple_of(REFRESH_EVERY)) {
            self.refresh();
        }
        (
            self.threshold.load(Ordering::Relaxed),
            self.enabled.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn refresh(&self) {
        match flamewatch::profiler() {
            Some(p) => {
                let s = p.settings();
                self.threshold.store(
                    record::rate_threshold(s.effective_rate()),
                    Ordering::Relaxed,
                );
                self.enabled.store(s.enabled, Ordering::Relaxed);
                self.recorder.set_detection(record::Detection {
                    window: s.window,
                    anomaly: s.anomaly,
                    regression: s.regression,
                });
            }
            None => self.enabled.store(false, Ordering::Relaxed),
        }
    }
}

/// Request profiling for one service: hands out the [`ProfilingLayer`] and the management
/// API, which share the same endpoint statistics. Cheap to copy.
///
/// Like the process-wide profiler, an `HttpProfiler` lives until the process exits: its state
/// is allocated once and never freed, so the layer (which axum clones for every request)
/// holds a plain reference instead of a reference count, and its drain thread runs for good.
/// Create one per service, not one per request or per test iteration.
#[derive(Clone, Copy)]
pub struct HttpProfiler {
    pub(crate) shared: &'static Shared,
}

impl std::fmt::Debug for HttpProfiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpProfiler")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl HttpProfiler {
    /// Request profiling with `config`; sampling follows the process-wide profiler's
    /// settings (`flamewatch::init`). Without a profiler, requests are counted and timed but
    /// none is traced.
    pub fn new(config: HttpConfig) -> Self {
        let shared = Shared {
            recorder: Recorder::new(config.recorder.clone()),
            config,
            threshold: AtomicU64::new(0),
            enabled: AtomicBool::new(false),
            acks: Mutex::default(),
        };
        shared.refresh();
        let shared: &'static Shared = Box::leak(Box::new(shared));
        // Without the thread, reads and half-full rings still aggregate on demand.
        let _ = shared.recorder.spawn_drain();
        HttpProfiler { shared }
    }

    /// The layer that measures every request.
    pub fn layer(&self) -> ProfilingLayer {
        ProfilingLayer {
            shared: self.shared,
        }
    }

    /// The endpoint statistics.
    pub fn recorder(&self) -> &Recorder {
        &self.shared.recorder
    }

    /// Re-reads the profiler's settings now (the layer does so every 1024 requests).
    pub fn refresh(&self) {
        self.shared.refresh();
    }

    /// The management API as a router to mount in the application (paths under
    /// `config.prefix`).
    pub fn router(&self, config: &ApiConfig) -> axum::Router {
        api::router(*self, config)
    }

    /// Serves the management API on its own port (`config.bind`, `127.0.0.1:6060` by
    /// default) in a tokio task.
    pub async fn serve(&self, config: ApiConfig) -> std::io::Result<ApiServer> {
        api::serve(*self, config).await
    }
}
