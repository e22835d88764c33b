//! The `tower` Layer that measures every request and carries its sampling decision and
//! context into the code it runs.
//!
//! The decision is made once, when the request enters the service, and lives in the response
//! future as a [`flamewatch::Scope`]: every poll runs inside it, so whichever worker thread
//! polls it, the `#[profiled]` functions the handler calls are measured exactly when the
//! request is sampled, and each measured call carries the request's method, route template,
//! user, request id and (once known) status. [`flamewatch::propagate`] gives a spawned task
//! the scope of the request that spawns it.

use crate::Shared;
use crate::aggregate::RequestEvent;
use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use flamewatch::{Request as RequestScope, Scope};
use pin_project_lite::pin_project;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Measures every request to the wrapped service. Build it with
/// [`crate::HttpProfiler::layer`].
#[derive(Clone, Copy)]
pub struct ProfilingLayer {
    pub(crate) shared: &'static Shared,
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
            shared: self.shared,
        }
    }
}

/// The service [`ProfilingLayer`] produces.
#[derive(Clone)]
pub struct ProfilingService<S> {
    inner: S,
    shared: &'static Shared,
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
        let shared = self.shared;
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
        let user = shared.config.user_of(&req);
        let (threshold, enabled) = shared.sampling();
        let start_ns = shared.recorder.now_ns();
        let (index, epoch, sampled, request) =
            shared
                .recorder
                .with_endpoint(req.method().as_str(), &route, |endpoint| {
                    let sampled = shared
                        .recorder
                        .decide(endpoint, threshold, enabled, start_ns)
                        .sampled();
                    // Only sampled requests carry a context: unsampled calls are merely counted.
                    let request = sampled.then(|| {
                        RequestScope::new(endpoint.method.clone(), endpoint.route.clone())
                    });
                    (endpoint.index, endpoint.epoch, sampled, request)
                });
        let mut scope = match request {
            Some(mut r) => {
                if let Some(u) = &user {
                    r = r.with_user(u.as_str());
                }
                if let Some(id) = req
                    .headers()
                    .get(&shared.config.request_id_header)
                    .and_then(|v| v.to_str().ok())
                {
                    r = r.with_id(id);
                }
                Scope::request(Arc::new(r))
            }
            None => Scope::sampled(false),
        };
        let inner = scope.enter(|| self.inner.call(req));
        ResponseFuture {
            inner,
            done: Some(Done {
                shared,
                index,
                epoch,
                user,
                start_ns,
                sampled,
            }),
            scope,
        }
    }
}

struct Done {
    shared: &'static Shared,
    index: u32,
    epoch: u64,
    user: Option<crate::UserId>,
    start_ns: u64,
    sampled: bool,
}

impl Done {
    fn finish(self, status: u16, scope: &Scope) {
        if let Some(request) = scope.request_ref() {
            request.set_status(status);
        }
        let end_ns = self.shared.recorder.now_ns();
        self.shared.recorder.record(RequestEvent {
            epoch: self.epoch,
            index: self.index,
            status,
            sampled: self.sampled,
            end_ns,
            wall_ns: end_ns.saturating_sub(self.start_ns),
            user: self.user,
        });
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
        scope: Scope,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(done) = this.done.take() {
                done.finish(CANCELLED_STATUS, this.scope);
            }
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("sampled", &self.scope.is_sampled())
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
        let inner = this.inner;
        let out = this.scope.enter(|| inner.poll(cx));
        if let Poll::Ready(result) = &out
            && let Some(done) = this.done.take()
        {
            done.finish(
                result.as_ref().map_or(500, |r| r.status().as_u16()),
                this.scope,
            );
        }
        out
    }
}
