#[flamewatch::profiled(123)]
fn work() {}

fn main() {
    work();
}
