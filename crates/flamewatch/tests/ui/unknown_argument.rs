#[flamewatch::profiled(label = "x")]
fn work() {}

fn main() {
    work();
}
