#[flamewatch::profiled("")]
fn work() {}

fn main() {
    work();
}
