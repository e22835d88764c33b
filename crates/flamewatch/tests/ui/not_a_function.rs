#[flamewatch::profiled]
struct Work;

fn main() {}
