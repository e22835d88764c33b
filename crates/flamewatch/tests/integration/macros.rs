//! `#[profiled]` misuse is a clear, spanned compile error (messages pinned in `tests/ui`).

#[test]
fn misuse_is_reported_at_compile_time() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
