//! The `tower` Layer that measures every request, and the future wrappers that carry a
//! request's sampling decision into the code it runs.
//!
//! The decision is made once, when the request enters the service, and lives in the response
//! future: every poll runs inside [`flamewatch::with_sampling`], so whichever worker thread
//! polls it, the `#[profiled]` functions the handler calls are measured exactly when the
//! request is sampled. [`propagate`] gives a spawned task the decision of the request that
//! spawns it.

use crate::Shared;
use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use pin_project_lite::pin_project;
use std::borrow::Cow;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

thread_local! {
    /// The sampling decision of the request being polled on this thread.
    static CURRENT: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Polls `f` with this thread's request decision set to `sampled`.
fn in_scope<R>(sampled: bool, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<bool>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = CURRENT.try_with(|c| c.set(self.0));
        }
    }
    let previous = CURRENT
        .try_with(|c| c.replace(Some(sampled)))
        .ok()
        .flatten();
    let _restore = Restore(previous);
    flamewatch::with_sampling(sampled, f)
}

/// The sampling decision of the request being handled on this thread, if any.
pub fn current_sampled() -> Option<bool> {
    CURRENT.try_with(Cell::get).ok().flatten()
}

pin_project! {
    /// A future whose every poll runs with a fixed sampling decision.
    #[derive(Debug)]
    pub struct Sampled<F> {
        #[pin]
        inner: F,
        sampled: Option<bool>,
    }
}

impl<F: Future> Future for Sampled<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        match *this.sampled {
            Some(s) => in_scope(s, || this.inner.poll(cx)),
            None => this.inner.poll(cx),
        }
    }
}

/// Wraps `fut` (typically before `tokio::spawn`) so it inherits the sampling decision of the
/// request being handled where `propagate` is called; outside a request it is left alone.
///
/// ```
/// # async fn handler() {
/// let task = flamewatch_http::propagate(async { /* profiled work */ });
/// # let _ = task;
/// // tokio::spawn(task);
/// # }
/// ```
pub fn propagate<F: Future>(fut: F) -> Sampled<F> {
    Sampled {
        inner: fut,
        sampled: current_sampled(),
    }
}

/// Wraps `fut` so every profiled call inside it is measured (`true`) or skipped (`false`).
pub fn with_decision<F: Future>(sampled: bool, fut: F) -> Sampled<F> {
    Sampled {
        inner: fut,
        sampled: Some(sampled),
    }
}

/// Measures every request to the wrapped service. Build it with
/// [`crate::HttpProfiler::layer`].
#[derive(Clone)]
pub struct ProfilingLayer {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for ProfilingLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfilingLayer").finish_non_exhaustive()
    }
}

impl<S> tower::Layer<S> for ProfilingLayer {
    type Service = ProfilingService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ProfilingService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`ProfilingLayer`] produces.
#[derive(Clone)]
pub struct ProfilingService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for ProfilingService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfilingService").finish_non_exhaustive()
    }
}

impl<S, B, RB> tower::Service<Request<B>> for ProfilingService<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = &self.shared;
        let route: Cow<'_, str> = match &shared.config.route {
            Some(custom) => custom(req.method(), req.uri(), req.extensions())
                .unwrap_or(Cow::Borrowed(crate::record::UNMATCHED)),
            None => req
                .extensions()
                .get::<MatchedPath>()
                .map_or(Cow::Borrowed(crate::record::UNMATCHED), |m| {
                    Cow::Borrowed(m.as_str())
                }),
        };
        let endpoint = shared
            .recorder
            .endpoint_cached(req.method().as_str(), &route);
        let user = shared.config.user_of(&req);
        let (threshold, enabled) = shared.sampling();
        let start_ns = shared.recorder.now_ns();
        let sampled = shared
            .recorder
            .decide(&endpoint, threshold, enabled, start_ns)
            .sampled();
        let inner = in_scope(sampled, || self.inner.call(req));
        ResponseFuture {
            inner,
            done: Some(Done {
                shared: self.shared.clone(),
                endpoint,
                user,
                start_ns,
                sampled,
            }),
            sampled,
        }
    }
}

struct Done {
    shared: Arc<Shared>,
    endpoint: Arc<crate::record::Endpoint>,
    user: Option<crate::UserId>,
    start_ns: u64,
    sampled: bool,
}

impl Done {
    fn finish(self, status: u16) {
        let end = self.shared.recorder.now_ns();
        let user = self
            .user
            .as_ref()
            .map_or(crate::record::NO_USER, crate::UserId::as_str);
        self.shared.recorder.record(
            &self.endpoint,
            status,
            user,
            self.sampled,
            end,
            end.saturating_sub(self.start_ns),
        );
    }
}

/// The status recorded for a request whose response future was dropped before completing
/// (the client went away, or a timeout cancelled it).
pub const CANCELLED_STATUS: u16 = 499;

pin_project! {
    /// The response future of [`ProfilingService`]: polls the handler under the request's
    /// sampling decision and records the request when it completes, or with status
    /// [`CANCELLED_STATUS`] when it is dropped unfinished.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        done: Option<Done>,
        sampled: bool,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(done) = this.project().done.take() {
                done.finish(CANCELLED_STATUS);
            }
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("sampled", &self.sampled)
            .finish_non_exhaustive()
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = in_scope(*this.sampled, || this.inner.poll(cx));
        if let Poll::Ready(result) = &out
            && let Some(done) = this.done.take()
        {
            done.finish(result.as_ref().map_or(500, |r| r.status().as_u16()));
        }
        out
    }
}
