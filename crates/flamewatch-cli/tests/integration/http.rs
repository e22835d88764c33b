//! `flamewatch status` and `flamewatch gate` against a live service on loopback: the service
//! (an axum app with the request layer and the management API) runs in this test process.

use axum::Router;
use axum::routing::get;
use flamewatch::{Mode, Settings};
use flamewatch_core::window::WindowConfig;
use flamewatch_http::{ApiConfig, HttpConfig, HttpProfiler};
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static DELAY_US: AtomicU64 = AtomicU64::new(4_000);

#[flamewatch::profiled("fwcli.http.checkout")]
fn checkout() {
    std::thread::sleep(Duration::from_micros(DELAY_US.load(Ordering::Relaxed)));
}

fn flamewatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flamewatch"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn gate_exits_1_after_an_injected_slowdown_against_a_frozen_baseline() {
    let window = WindowConfig {
        window_ns: 400_000_000,
        windows: 100,
        recent_windows: 2,
    };
    flamewatch::init(
        Settings::default()
            .breaker(flamewatch::BreakerSettings::off())
            .mode(Mode::Full)
            .window(window),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let http = HttpProfiler::new(HttpConfig::default());
    let config = ApiConfig::default()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .token("t0ken");
    let server = rt.block_on(http.serve(config.clone())).unwrap();
    let api_root = format!("http://{}", server.local_addr());
    let app = Router::new()
        .route("/checkout", get(|| async { checkout() }))
        .layer(http.layer());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let app_url = format!("http://{}/checkout", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let load = |delay_us: u64, n: usize| {
        DELAY_US.store(delay_us, Ordering::Relaxed);
        for _ in 0..n {
            assert_eq!(ureq::get(&app_url).call().unwrap().status().as_u16(), 200);
        }
    };

    load(4_000, 80);
    let freeze = ureq::post(format!("{}/baselines/before-deploy", server.url(&config)))
        .header("authorization", "Bearer t0ken")
        .send_empty()
        .unwrap();
    assert_eq!(freeze.status().as_u16(), 200);

    let out = flamewatch(&["status", &api_root, "--token", "t0ken"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Profiling Summary:") && stdout.contains("fwcli.http.checkout"),
        "{stdout}"
    );
    assert!(stdout.contains("GET /checkout: 80 requests"), "{stdout}");

    let out = flamewatch(&[
        "gate",
        &api_root,
        "--baseline",
        "before-deploy",
        "--token",
        "t0ken",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).starts_with("gate: PASS"),
        "{}",
        text(&out.stdout)
    );

    // +50 %: the deploy made checkout slower.
    load(6_000, 150);
    let out = flamewatch(&[
        "gate",
        &api_root,
        "--baseline",
        "before-deploy",
        "--wait",
        "100ms",
        "--token",
        "t0ken",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.starts_with("gate: BLOCK"), "{stdout}");
    assert!(
        stdout.contains("function fwcli.http.checkout") && stdout.contains("blocks"),
        "{stdout}"
    );
    assert!(stdout.contains("endpoint GET /checkout"), "{stdout}");

    // Blocking only on CRITICAL turns a HIGH change into a warning (exit 3) — or still
    // blocks when the change is CRITICAL; either way the exit code follows the verdict.
    let out = flamewatch(&[
        "gate",
        &api_root,
        "--baseline",
        "before-deploy",
        "--block-on",
        "critical",
        "--token",
        "t0ken",
    ]);
    let stdout = text(&out.stdout);
    let expected = if stdout.starts_with("gate: WARN") {
        3
    } else {
        1
    };
    assert_eq!(out.status.code(), Some(expected), "{stdout}");

    let out = flamewatch(&[
        "gate",
        &api_root,
        "--baseline",
        "never-made",
        "--token",
        "t0ken",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no baseline named `never-made`"),
        "{}",
        text(&out.stderr)
    );
    let out = flamewatch(&["gate", &api_root, "--baseline", "before-deploy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("401"), "{}", text(&out.stderr));
    drop(server);
    let out = flamewatch(&["status", &api_root, "--timeout", "2s"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("flamewatch: cannot reach the management API"),
        "{}",
        text(&out.stderr)
    );
}
