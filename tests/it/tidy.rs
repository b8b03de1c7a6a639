//! Source hygiene: every `src/**/*.rs` starts with a `//!` module doc saying what it does, and
//! every `crate::` path respects the layering table of ARCHITECTURE.md (which top-level module
//! may import which), as rust-analyzer's tidy tests do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let src = crate::common::root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(&src).unwrap().display().to_string();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

#[test]
fn every_source_file_has_a_module_doc() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(name, _)| name)
        .collect();
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

/// The layering table of ARCHITECTURE.md: module → the modules it may import.
fn layering() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(crate::common::root().join("ARCHITECTURE.md")).unwrap();
    let section = doc
        .split("## Layering")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Layering` section");
    let mut table = BTreeMap::new();
    for line in section.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| `module` | `a`, `b` | why |`
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let names = |cell: &str| -> BTreeSet<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        };
        let module = names(cells[1]).into_iter().next().unwrap();
        table.insert(module, names(cells[2]));
    }
    assert!(!table.is_empty(), "the layering table is empty");
    table
}

/// The top-level module a source file belongs to (`tail/view.rs` → `tail`, `cli.rs` → `cli`).
fn top_module(file: &str) -> String {
    let first = file.split('/').next().unwrap();
    first.trim_end_matches(".rs").to_string()
}

/// Every `crate::name` a file mentions outside comments, with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let code = code.split(" //").next().unwrap();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                // `use crate::{a, b::c}`
                if let Some(group) = rest.strip_prefix('{') {
                    if !group.contains('}') {
                        // A group over several lines would hide its names from this check.
                        found.push((n + 1, "{ group over several lines }".to_string()));
                    }
                    for part in group.split(',') {
                        let name: String = part
                            .trim()
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if !name.is_empty() {
                            found.push((n + 1, name));
                        }
                    }
                }
                continue;
            }
            found.push((n + 1, name));
        }
    }
    found
}

#[test]
fn imports_follow_the_layering_table() {
    let table = layering();
    let sources = sources();
    let mut modules: BTreeSet<String> = sources.iter().map(|(file, _)| top_module(file)).collect();
    modules.remove("lib");
    modules.remove("main");
    let undocumented: Vec<&String> = modules.iter().filter(|m| !table.contains_key(*m)).collect();
    assert!(
        undocumented.is_empty(),
        "modules missing from ARCHITECTURE.md's layering table: {undocumented:?}"
    );
    let mut broken = Vec::new();
    for (file, text) in &sources {
        let module = top_module(file);
        let Some(allowed) = table.get(&module) else {
            continue;
        };
        for (line, target) in crate_paths(text) {
            if target != module && !allowed.contains(&target) {
                broken.push(format!("src/{file}:{line}: `{module}` imports `{target}`"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports that break the layering table of ARCHITECTURE.md:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_layering_table_has_no_cycles() {
    let table = layering();
    // Kahn's algorithm: repeatedly remove modules whose allowed imports are all removed.
    let mut left = table.clone();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| !left.contains_key(d)))
            .map(|(m, _)| m.clone())
            .collect();
        assert!(
            !ready.is_empty(),
            "the layering table has a cycle among {:?}",
            left.keys().collect::<Vec<_>>()
        );
        for module in ready {
            left.remove(&module);
        }
    }
    for (module, deps) in &table {
        for dep in deps {
            assert!(
                table.contains_key(dep),
                "`{module}` may import `{dep}`, which is not in the table"
            );
        }
    }
}

#[test]
fn crate_paths_are_found_in_use_lists_and_inline() {
    let text = "use crate::{model::Millis, timefmt};\n// crate::cli\nlet x = crate::aws::f(); // crate::tail\nuse super::x;";
    let found: Vec<String> = crate_paths(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(found, ["model", "timefmt", "aws"]);
}

/// The operations of the AWS SDK crates proxydoc depends on, read from the crates themselves
/// (`src/operation/<name>/` in each `aws-sdk-*` package that `cargo metadata` resolves).
fn sdk_operations() -> BTreeMap<String, BTreeSet<String>> {
    // Only this machine's platform: other platforms' crates are not downloaded.
    let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc names its host");
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(crate::common::root())
        .output()
        .expect("cargo metadata");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut operations = BTreeMap::new();
    for package in metadata["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        let Some(service) = name.strip_prefix("aws-sdk-") else {
            continue;
        };
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap());
        let dir = manifest.parent().unwrap().join("src/operation");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                let op = path.file_name().unwrap().to_string_lossy().into_owned();
                operations
                    .entry(op)
                    .or_insert_with(BTreeSet::new)
                    .insert(service.to_string());
            }
        }
    }
    assert!(
        operations.len() > 500,
        "found {} SDK operations",
        operations.len()
    );
    operations
}

/// One source of truth for IAM: every SDK operation called outside tests is in the table of
/// `aws::actions` (which error messages, `iam-policy` and the README use), with an action of
/// its own service, and every operation the table lists is called somewhere.
#[test]
fn every_aws_call_has_its_iam_action() {
    use proxydoc::aws::actions::CALLS;
    let operations = sdk_operations();
    let mut called = BTreeSet::new();
    for (name, text) in sources() {
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (i, _) in code.match_indices('.') {
            let rest = &code[i + 1..];
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if ident.is_empty() || !rest[ident.len()..].starts_with("()") {
                continue;
            }
            if let Some(services) = operations.get(&ident) {
                called.insert((ident, services.clone(), name.clone()));
            }
        }
    }
    assert!(
        called.len() > 30,
        "found {} calls: {called:?}",
        called.len()
    );
    for (op, services, file) in &called {
        assert!(
            file.starts_with("aws/"),
            "{file} calls the SDK's {op}: AWS calls belong in src/aws/"
        );
        let call = CALLS.iter().find(|c| c.operation == op);
        let Some(call) = call else {
            panic!("{file} calls {op} ({services:?}), which aws::actions::CALLS does not list");
        };
        let prefix = |service: &str| match service {
            "cloudwatchlogs" => "logs".to_string(),
            other => other.to_string(),
        };
        assert!(
            services
                .iter()
                .any(|s| call.action.starts_with(&format!("{}:", prefix(s)))),
            "{op} is an operation of {services:?} but the table says {}",
            call.action
        );
    }
    for call in CALLS {
        assert!(
            called.iter().any(|(op, _, _)| op == call.operation),
            "aws::actions lists {} ({}), which no code calls",
            call.operation,
            call.action
        );
    }
}

/// The README's permission table is the table's own rendering (`proxydoc iam-policy --table`).
#[test]
fn readme_permissions_come_from_the_table() {
    let readme = std::fs::read_to_string(crate::common::root().join("README.md")).unwrap();
    let begin = "<!-- iam-actions:begin (proxydoc iam-policy --table) -->\n";
    let end = "<!-- iam-actions:end -->";
    let start = readme
        .find(begin)
        .expect("README has the IAM table's begin marker")
        + begin.len();
    let stop = readme[start..].find(end).expect("and its end marker") + start;
    assert_eq!(
        &readme[start..stop],
        proxydoc::aws::actions::markdown(),
        "README's IAM table is out of date: paste `proxydoc iam-policy --table` between the markers"
    );
}
