//! Compile-fail tests: each misuse of `#[magpie::main]` / `#[magpie::test]`
//! in `tests/ui/` must fail with the error pinned in its `.stderr`
//! (written on the toolchain this project pins for CI: stable 1.95).
//! Regenerate after an intended change with
//! `TRYBUILD=overwrite cargo test -p magpie-macros --test ui`.

#[test]
fn misuse_is_a_clear_compile_error() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
