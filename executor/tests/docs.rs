//! Every guide in `docs/` (and the README) is compiled as a doc test: its
//! Rust snippets must build and run. A new guide that is not included in
//! `src/lib.rs` fails here, not silently.

use std::fs;
use std::path::Path;

#[test]
fn every_guide_is_included_as_a_doc_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lib = fs::read_to_string(root.join("executor/src/lib.rs")).unwrap();
    let mut guides: Vec<String> = fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    guides.push("README.md".to_string());
    assert!(guides.len() > 1, "no guide found in docs/");
    let missing: Vec<_> = guides
        .iter()
        .filter(|g| !lib.contains(&format!("#[doc = include_str!(\"../../{g}\")]")))
        .collect();
    assert!(
        missing.is_empty(),
        "not compiled as doc tests (add `#[doc = include_str!(..)] #[cfg(doctest)]` to \
         executor/src/lib.rs): {missing:?}"
    );
}

#[test]
fn the_loom_guides_example_is_the_file_the_loom_suite_runs() {
    // The example needs `--cfg loom`, so it cannot be a doc test: the loom
    // suite runs `loom-tests/tests/guide_example.rs`, and the guide must
    // show exactly that file.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guide = fs::read_to_string(root.join("docs/loom.md")).unwrap();
    let file = fs::read_to_string(root.join("loom-tests/tests/guide_example.rs")).unwrap();
    let start = guide
        .find("   ```rust,ignore\n")
        .expect("the loom guide's complete example")
        + "   ```rust,ignore\n".len();
    let len = guide[start..].find("   ```\n").expect("its closing fence");
    let shown: String = guide[start..start + len]
        .lines()
        .map(|line| line.strip_prefix("   ").unwrap_or(line))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        shown, file,
        "docs/loom.md's example differs from guide_example.rs"
    );
}
