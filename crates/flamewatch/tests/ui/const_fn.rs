#[flamewatch::profiled]
const fn work() -> u8 {
    1
}

fn main() {
    work();
}
