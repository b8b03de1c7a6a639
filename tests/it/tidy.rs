//! Source hygiene: every `src/**/*.rs` starts with a `//!` module doc saying what it does.

use std::path::Path;

fn visit(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            if !text.trim_start().starts_with("//!") {
                out.push(path.display().to_string());
            }
        }
    }
}

#[test]
fn every_source_file_has_a_module_doc() {
    let mut missing = Vec::new();
    visit(&crate::common::root().join("src"), &mut missing);
    assert!(
        missing.is_empty(),
        "files without a //! module doc: {missing:?}"
    );
}

#[test]
fn no_unwrap_or_expect_outside_tests() {
    // Clippy enforces this too (clippy::unwrap_used in lib.rs); this keeps main.rs honest.
    let text = std::fs::read_to_string(crate::common::root().join("src/main.rs")).unwrap();
    assert!(!text.contains(".unwrap()") && !text.contains(".expect("));
}
