//! `flamewatch-example-service`: a small axum service profiled by flamewatch, and the bounded
//! loopback load generator that drives it.
//!
//! The service ([`app`]) does real work in each request: hashing on the CPU ([`work`]), sleeps
//! standing for calls to remote services, and SQLite queries ([`db`]). Its three profiled
//! functions are `fastFunction` (≈ 5 ms), `slowFunction` (≈ 100 ms) and `regressionTest`
//! (≈ 108 ms, ≈ 157 ms once `POST /admin/slow` is called). [`load`] is the load generator:
//! keep-alive HTTP/1.1 over loopback with a fixed request count and a time limit.
//!
//! The binaries `flamewatch-example-service` and `flamewatch-load` are thin glue over these
//! modules; the end-to-end tests and `scripts/bench-http.sh` run them.

pub mod app;
pub mod db;
pub mod load;
pub mod work;
