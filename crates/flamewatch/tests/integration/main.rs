//! Integration tests of the `flamewatch` library, one module per component.

mod config;
mod macros;
mod output;
mod profiling;

/// Allocation tracking for `level: detailed` tests.
#[global_allocator]
static ALLOC: flamewatch::alloc::TrackingAllocator<std::alloc::System> =
    flamewatch::alloc::TrackingAllocator::new(std::alloc::System);
