//! The request layer's own cost: a trivial `tower` service called with and without
//! [`flamewatch_http::ProfilingLayer`] (profiler at 1 % sampling, a static route template,
//! a user header). The difference is what the layer adds per request: route lookup,
//! sampling decision, two clock reads, statistics update. A third case routes through axum
//! (`MatchedPath`), as an application would; a fourth serves the same endpoint from two
//! threads at once (what a multi-core server does), where any per-request write to shared
//! endpoint state would bounce its cache line between the cores.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use flamewatch::{Mode, Settings};
use flamewatch_http::{HttpConfig, HttpProfiler};
use std::borrow::Cow;
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::task::{Context, Poll, Waker};
use tower::{Layer, Service, service_fn};

fn call<S>(svc: &mut S)
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Error: std::fmt::Debug,
{
    let req = Request::get("/users/42")
        .header("x-user-id", "alice")
        .body(Body::empty())
        .unwrap();
    let mut fut = std::pin::pin!(svc.call(req));
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(r) => {
            black_box(r.unwrap());
        }
        Poll::Pending => panic!("the handler completes on first poll"),
    }
}

fn handler(_: Request<Body>) -> Ready<Result<Response<Body>, Infallible>> {
    ready(Ok(Response::new(Body::empty())))
}

fn bench(c: &mut Criterion) {
    flamewatch::init(
        Settings::default()
            .mode(Mode::Sampling)
            .sample_rate(0.01)
            .breaker(flamewatch::BreakerSettings::off()),
    );
    let http = HttpProfiler::new(
        HttpConfig::default()
            .user_header("x-user-id")
            .route_extractor(|_, _, _| Some(Cow::Borrowed("/users/{id}"))),
    );
    let mut bare = service_fn(handler);
    let mut layered = http.layer().layer(service_fn(handler));
    c.bench_function("service_without_layer", |b| b.iter(|| call(&mut bare)));
    c.bench_function("service_with_layer_1pct", |b| b.iter(|| call(&mut layered)));
    let layer = http.layer();
    c.bench_function("service_with_layer_1pct_2_threads", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        let mut svc = layer.layer(service_fn(handler));
                        for _ in 0..iters {
                            call(&mut svc);
                        }
                    });
                }
            });
            // two requests complete per iteration: report the cost of one
            start.elapsed() / 2
        })
    });
    let axum_http = HttpProfiler::new(HttpConfig::default().user_header("x-user-id"));
    let mut router = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .layer(axum_http.layer());
    c.bench_function("axum_router_with_layer_1pct", |b| {
        b.iter(|| call(&mut router))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
