//! Integration tests of the profile model and its formats, one module per component.
//!
//! Golden files live under `tests/data/<component>/`; run with `FLAMEWATCH_BLESS=1` to
//! rewrite them after an intended change.

mod fixture;
mod folded;
mod map;
mod pprof;
mod render;

/// Compares `actual` with the golden file `tests/data/<component>/<name>`, or rewrites the
/// file when `FLAMEWATCH_BLESS=1`.
pub fn golden(component: &str, name: &str, actual: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(component);
    let path = dir.join(name);
    if std::env::var_os("FLAMEWATCH_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {} is missing ({e}); run with FLAMEWATCH_BLESS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {} (run with FLAMEWATCH_BLESS=1 to accept):\n\
             expected: {:?}\n  actual: {:?}",
            path.display(),
            first + 1,
            expected.lines().nth(first).map(clip),
            actual.lines().nth(first).map(clip)
        );
    }
}

/// The first 300 characters of a line (SVG lines are long).
fn clip(line: &str) -> String {
    line.chars().take(300).collect()
}
