//! The request layer: counting by route template, edge sampling and its propagation into
//! `#[profiled]` functions across `.await` and spawned tasks, caps and guarantees.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::routing::{get, post};
use flamewatch::{Mode, Settings};
use flamewatch_http::record::{EndpointReport, Filter, GroupBy, UNMATCHED};
use flamewatch_http::{HttpConfig, HttpProfiler, RecorderConfig};
use tower::ServiceExt;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn send(app: &Router, method: Method, uri: &str, user: Option<&str>) -> StatusCode {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(u) = user {
        req = req.header("x-user-id", u);
    }
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

fn endpoint<'a>(list: &'a [EndpointReport], key: &str) -> &'a EndpointReport {
    list.iter().find(|e| e.endpoint == key).unwrap_or_else(|| {
        panic!(
            "no endpoint {key} in {:?}",
            list.iter().map(|e| &e.endpoint).collect::<Vec<_>>()
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_counted_by_route_template_never_raw_path() {
    let http = HttpProfiler::new(HttpConfig::default().user_header("x-user-id"));
    let app = Router::new()
        .route("/count/users/{id}", get(|| async { "user" }))
        .route("/count/orders", post(|| async { StatusCode::CREATED }))
        .layer(http.layer());
    for i in 0..30 {
        assert_eq!(
            send(&app, Method::GET, &format!("/count/users/{i}"), None).await,
            StatusCode::OK
        );
    }
    for _ in 0..7 {
        assert_eq!(
            send(&app, Method::POST, "/count/orders", Some("u1")).await,
            StatusCode::CREATED
        );
    }
    for i in 0..3 {
        assert_eq!(
            send(&app, Method::GET, &format!("/count/missing/{i}"), None).await,
            StatusCode::NOT_FOUND
        );
    }
    // Invented methods cannot grow the table: they share the method `_other`.
    for m in ["BREW", "WHEN", "PROPFIND"] {
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        send(&app, method, "/count/users/7", None).await;
    }
    let list = http.recorder().endpoints();
    let invented: Vec<_> = list.iter().filter(|e| e.method == "_other").collect();
    assert_eq!(invented.len(), 1, "{invented:?}");
    assert_eq!(invented[0].requests, 3);
    let list: Vec<_> = list.into_iter().filter(|e| e.method != "_other").collect();
    assert_eq!(endpoint(&list, "GET /count/users/{id}").requests, 30);
    assert_eq!(endpoint(&list, "POST /count/orders").requests, 7);
    assert_eq!(endpoint(&list, &format!("GET {UNMATCHED}")).requests, 3);
    assert_eq!(list.len(), 3, "raw paths must never become endpoints");
    assert!(
        list.iter()
            .all(|e| e.latency.calls == e.requests && e.latency.sampled == e.requests)
    );
    let by_status = http.recorder().grouped(GroupBy::Status, &Filter::default());
    let count = |k: &str| {
        by_status
            .iter()
            .find(|g| g.key == k)
            .map_or(0, |g| g.requests)
    };
    assert_eq!((count("200"), count("201"), count("404")), (30, 7, 3));
    let by_user = http.recorder().grouped(GroupBy::User, &Filter::default());
    assert_eq!(
        by_user.iter().find(|g| g.key == "u1").map(|g| g.requests),
        Some(7)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_route_extractor_and_caps_fold_into_other() {
    let http = HttpProfiler::new(
        HttpConfig::default()
            .user_header("x-user-id")
            .hash_users(7)
            .route_extractor(|_, uri, _| {
                uri.path().split('/').nth(1).map(|s| format!("/{s}").into())
            })
            .recorder(
                RecorderConfig::default()
                    .max_endpoints(3)
                    .max_users_per_endpoint(2),
            ),
    );
    let app = Router::new()
        .fallback(|| async { "any" })
        .layer(http.layer());
    for seg in ["a", "b", "c", "d", "e"] {
        send(&app, Method::GET, &format!("/{seg}/x/y"), None).await;
    }
    let routes: Vec<String> = http
        .recorder()
        .endpoints()
        .into_iter()
        .map(|e| e.route)
        .collect();
    assert_eq!(routes, ["/a", "/b", "/c", "_other"]);
    assert_eq!(
        endpoint(&http.recorder().endpoints(), "GET _other").requests,
        2
    );
    // A frequent user keeps its row however many one-off users follow (top-K).
    for _ in 0..6 {
        send(&app, Method::GET, "/a/1", Some("big")).await;
    }
    for user in ["ann", "ben", "cy", "dee", "eve"] {
        send(&app, Method::GET, "/a/1", Some(user)).await;
    }
    let groups = http.recorder().grouped(
        GroupBy::User,
        &Filter {
            route: Some("/a".into()),
            ..Filter::default()
        },
    );
    let users: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
    let big = flamewatch_http::hash_user(7, "big");
    // Two user rows (the cap), `_other`, and `_none` for the anonymous request, which never
    // takes a user's row.
    assert_eq!(users.len(), 4, "{users:?}");
    assert!(users.contains(&"_other"), "{users:?}");
    let anonymous = groups.iter().find(|g| g.key == "_none");
    assert_eq!(anonymous.map(|g| g.requests), Some(1), "{users:?}");
    let big_row = groups.iter().find(|g| g.key == big);
    assert_eq!(big_row.map(|g| g.requests), Some(6), "{users:?}");
    // Ids are hashed, never kept raw; every request is still counted somewhere.
    assert!(
        !users.iter().any(|u| ["ann", "big", "eve"].contains(u)),
        "{users:?}"
    );
    assert_eq!(groups.iter().map(|g| g.requests).sum::<u64>(), 1 + 6 + 5);
}

#[flamewatch::profiled("fwhttp.layer.rate.sync_inner")]
fn sync_inner(n: u64) -> u64 {
    (0..n).fold(0u64, |a, b| a.wrapping_add(std::hint::black_box(b)))
}

#[flamewatch::profiled("fwhttp.layer.rate.async_inner")]
async fn async_inner() -> u64 {
    tokio::task::yield_now().await;
    std::hint::black_box(3)
}

#[flamewatch::profiled("fwhttp.layer.rate.spawned")]
fn spawned_inner() -> u64 {
    std::hint::black_box(5)
}

async fn rate_handler() -> String {
    let a = sync_inner(50);
    let b = async_inner().await;
    let c = tokio::spawn(flamewatch_http::propagate(async { spawned_inner() }))
        .await
        .unwrap();
    format!("{}", a + b + c)
}

#[test]
fn one_percent_sampling_is_binomial_and_reaches_profiled_functions() {
    let _serial = crate::serial();
    runtime().block_on(async {
        let profiler = flamewatch::init(
            Settings::default()
                .breaker(flamewatch::BreakerSettings::off())
                .mode(Mode::Sampling)
                .sample_rate(0.01),
        );
        let http = HttpProfiler::new(HttpConfig::default());
        let app = Router::new()
            .route("/rate/{id}", get(rate_handler))
            .layer(http.layer());
        const N: u64 = 20_000;
        let mut tasks = Vec::new();
        for t in 0..4u64 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..N / 4 {
                    let uri = format!("/rate/{}", t * N + i);
                    let resp = app
                        .clone()
                        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                        .await;
                    assert_eq!(resp.unwrap().status(), StatusCode::OK);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let list = http.recorder().endpoints();
        let e = endpoint(&list, "GET /rate/{id}");
        assert_eq!(e.requests, N);
        // The low-traffic guarantees are counted apart; the rest is a binomial draw at 1 %.
        let n = (e.requests - e.sampled_guaranteed) as f64;
        let (p, z) = (0.01, 3.2905);
        let (mean, sd) = (n * p, (n * p * (1.0 - p)).sqrt());
        let got = e.sampled_random as f64;
        assert!(
            (mean - z * sd..=mean + z * sd).contains(&got),
            "{got} random samples of {n}, expected {mean:.0} ± {:.0}",
            z * sd
        );
        assert!(
            e.sampled_guaranteed <= 10,
            "guaranteed {}",
            e.sampled_guaranteed
        );
        assert!((e.effective_sample_rate - e.sampled as f64 / N as f64).abs() < 1e-12);
        profiler.flush();
        let snap = profiler.snapshot();
        let f = |name: &str| {
            snap.functions
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("{name} not profiled"))
                .stats
                .clone()
        };
        for name in [
            "fwhttp.layer.rate.sync_inner",
            "fwhttp.layer.rate.async_inner",
            "fwhttp.layer.rate.spawned",
        ] {
            let s = f(name);
            assert_eq!(s.calls, N, "{name}: every call counted");
            assert_eq!(
                s.sampled, e.sampled,
                "{name}: measured exactly in the sampled requests"
            );
        }
    });
}

#[test]
fn low_traffic_endpoints_get_guaranteed_samples() {
    let _serial = crate::serial();
    runtime().block_on(async {
        flamewatch::init(
            Settings::default()
                .breaker(flamewatch::BreakerSettings::off())
                .mode(Mode::Sampling)
                .sample_rate(0.0),
        );
        let http = HttpProfiler::new(
            HttpConfig::default().recorder(RecorderConfig::default().min_sampled_per_window(3)),
        );
        let app = Router::new()
            .route("/guarantee/busy", get(|| async { "b" }))
            .route("/guarantee/idle", get(|| async { "i" }))
            .layer(http.layer());
        for _ in 0..50 {
            send(&app, Method::GET, "/guarantee/busy", None).await;
        }
        send(&app, Method::GET, "/guarantee/idle", None).await;
        let list = http.recorder().endpoints();
        let busy = endpoint(&list, "GET /guarantee/busy");
        assert_eq!(
            (busy.requests, busy.sampled, busy.sampled_random),
            (50, 3, 0)
        );
        let idle = endpoint(&list, "GET /guarantee/idle");
        assert_eq!((idle.requests, idle.sampled), (1, 1));
        assert_eq!(idle.effective_sample_rate, 1.0);

        // An endpoint idle for longer than the configured gap is sampled again.
        let http = HttpProfiler::new(
            HttpConfig::default().recorder(
                RecorderConfig::default()
                    .min_sampled_per_window(0)
                    .idle_sample_after_ns(30_000_000),
            ),
        );
        let app = Router::new()
            .route("/guarantee/rare", get(|| async { "r" }))
            .layer(http.layer());
        send(&app, Method::GET, "/guarantee/rare", None).await;
        send(&app, Method::GET, "/guarantee/rare", None).await;
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        send(&app, Method::GET, "/guarantee/rare", None).await;
        let list = http.recorder().endpoints();
        let rare = endpoint(&list, "GET /guarantee/rare");
        assert_eq!((rare.requests, rare.sampled_guaranteed), (3, 2));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_dropped_unfinished_is_recorded_as_cancelled() {
    let http = HttpProfiler::new(HttpConfig::default());
    let app = Router::new()
        .route(
            "/cancel/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                "late"
            }),
        )
        .layer(http.layer());
    let req = Request::get("/cancel/slow").body(Body::empty()).unwrap();
    let timed_out =
        tokio::time::timeout(std::time::Duration::from_millis(30), app.oneshot(req)).await;
    assert!(timed_out.is_err());
    let list = http.recorder().endpoints();
    let e = endpoint(&list, "GET /cancel/slow");
    assert_eq!(e.requests, 1);
    assert!(e.latency.min_ns >= 25_000_000, "{:?}", e.latency);
    let by_status = http.recorder().grouped(GroupBy::Status, &Filter::default());
    assert_eq!(
        by_status[0].key,
        flamewatch_http::CANCELLED_STATUS.to_string()
    );
}

#[test]
fn a_slow_endpoint_triggers_a_bounded_full_capture_then_cools_down() {
    let _serial = crate::serial();
    runtime().block_on(async {
        flamewatch::init(
            Settings::default()
                .breaker(flamewatch::BreakerSettings::off())
                .mode(Mode::Sampling)
                .sample_rate(0.0),
        );
        let trigger = flamewatch_http::record::TriggerConfig {
            p95_ns: 3_000_000,
            duration_ns: 150_000_000,
            cooldown_ns: 10_000_000_000,
        };
        let http = HttpProfiler::new(
            HttpConfig::default().recorder(
                RecorderConfig::default()
                    .min_sampled_per_window(0)
                    .trigger(trigger),
            ),
        );
        let app = Router::new()
            .route(
                "/trigger/slow",
                get(|| async {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    "slow"
                }),
            )
            .route("/trigger/fast", get(|| async { "fast" }))
            .layer(http.layer());
        for i in 0..20 {
            if i == 16 {
                // Requests are aggregated off the request path (every 25 ms in the background,
                // here at once): the 16th request's P95 check starts the capture.
                http.recorder().sync();
            }
            send(&app, Method::GET, "/trigger/slow", None).await;
            send(&app, Method::GET, "/trigger/fast", None).await;
        }
        let list = http.recorder().endpoints();
        let slow = endpoint(&list, "GET /trigger/slow");
        // The 16th request crossed the threshold: the following ones are all traced.
        assert!(slow.capture_active, "{slow:?}");
        assert_eq!(
            (slow.sampled_guaranteed, slow.sampled_triggered),
            (1, 4),
            "{slow:?}"
        );
        let fast = endpoint(&list, "GET /trigger/fast");
        assert_eq!((fast.sampled_triggered, fast.capture_active), (0, false));
        let events = http.recorder().captures();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].endpoint, "GET /trigger/slow");
        assert!(
            events[0].p95_ms >= 5.0 && events[0].threshold_ms == 3.0,
            "{events:?}"
        );
        // After the capture, the cooldown holds: nothing more is traced, no new capture.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        for _ in 0..40 {
            send(&app, Method::GET, "/trigger/slow", None).await;
        }
        let list = http.recorder().endpoints();
        let slow = endpoint(&list, "GET /trigger/slow");
        assert_eq!(
            (slow.sampled_triggered, slow.capture_active),
            (4, false),
            "{slow:?}"
        );
        assert_eq!(http.recorder().captures().len(), 1);
    });
}

/// Calls a tower service whose handler is ready at once, on this thread, without a runtime.
fn call_now<S>(svc: &mut S, uri: &str, user: &str)
where
    S: tower::Service<Request<Body>, Response = axum::http::Response<Body>>,
    S::Error: std::fmt::Debug,
{
    use std::future::Future;
    let req = Request::get(uri)
        .header("x-user-id", user)
        .body(Body::empty())
        .unwrap();
    let mut fut = std::pin::pin!(svc.call(req));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => drop(r.unwrap()),
        std::task::Poll::Pending => panic!("the handler completes on the first poll"),
    }
}

#[test]
fn concurrent_threads_readers_and_thread_exits_lose_no_request() {
    use std::borrow::Cow;
    use tower::Layer;
    let http = HttpProfiler::new(
        HttpConfig::default()
            .user_header("x-user-id")
            .route_extractor(|_, uri, _| {
                Some(Cow::Borrowed(if uri.path().starts_with("/stress/a") {
                    "/stress/a"
                } else {
                    "/stress/b"
                }))
            }),
    );
    let layer = http.layer();
    const THREADS: usize = 4;
    const PER_THREAD: usize = 30_000;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Readers drain and read while the writers run (they hold the aggregate lock, so writers'
    // rings fill and writers drain themselves or, rarely, drop a measurement).
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let list = http.recorder().endpoints();
                for e in &list {
                    assert!(e.latency.calls <= e.requests, "{e:?}");
                }
                reads += 1;
            }
            reads
        })
    };
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut svc = layer.layer(tower::service_fn(|_req: Request<Body>| async {
                    Ok::<_, std::convert::Infallible>(axum::http::Response::new(Body::empty()))
                }));
                for i in 0..PER_THREAD {
                    let path = if i % 3 == 0 {
                        "/stress/a/1"
                    } else {
                        "/stress/b/2"
                    };
                    call_now(&mut svc, path, &format!("user{}", (t * 7 + i) % 13));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap(); // each writer thread exits: its ring is drained one last time
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    let list = http.recorder().endpoints();
    let total: u64 = list.iter().map(|e| e.requests).sum();
    let measured: u64 = list.iter().map(|e| e.latency.calls).sum();
    assert_eq!(
        total,
        (THREADS * PER_THREAD) as u64,
        "every request counted"
    );
    assert_eq!(
        measured + http.recorder().dropped(),
        total,
        "every request measured or counted as dropped"
    );
    assert_eq!(
        endpoint(&list, "GET /stress/a").requests,
        (THREADS * 10_000) as u64
    );
    let users = http.recorder().grouped(GroupBy::User, &Filter::default());
    assert_eq!(users.len(), 13, "{users:?}");
    assert_eq!(users.iter().map(|g| g.requests).sum::<u64>(), measured);
}
