//! Integration tests of `flamewatch-bench` with real processes built by the tests.

mod fixtures;
mod gate;
mod history;
mod runner;
