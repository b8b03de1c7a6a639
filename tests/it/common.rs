//! Helpers shared by the integration tests: running the binary, reading its JSON report.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The fixed clock every test run uses (`PROXYDOC_NOW`).
pub const NOW: &str = "2026-11-25T12:00:00Z";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample(path: &str) -> String {
    let full = root().join("samples").join(path);
    assert!(full.exists(), "missing sample {}", full.display());
    format!("samples/{path}")
}

/// `proxydoc` run from the repository root with the fixed clock.
pub fn proxydoc() -> Command {
    let mut cmd = Command::cargo_bin("proxydoc").expect("binary built");
    cmd.current_dir(root())
        .env("PROXYDOC_NOW", NOW)
        .env_remove("RUST_LOG");
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

pub fn run(args: &[&str]) -> Run {
    run_cmd(proxydoc().args(args))
}

pub fn run_cmd(cmd: &mut Command) -> Run {
    let output = cmd.output().expect("proxydoc runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `analyze --format json` over `paths`; asserts the exit code.
pub fn analyze_json(paths: &[&str], expect_code: i32) -> Value {
    let mut args = vec!["analyze", "--format", "json"];
    args.extend_from_slice(paths);
    let out = run(&args);
    assert_eq!(
        out.code, expect_code,
        "exit code for {paths:?}; stderr: {}",
        out.stderr
    );
    out.json()
}

pub fn causes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| f["cause"].as_str().expect("cause").to_string())
        .collect()
}

pub fn temp_file(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write temp file");
    path.display().to_string()
}

/// Whether `script(1)` is here to give a command a terminal; says loudly that `test`'s
/// terminal half is skipped when it is not.
pub fn has_script(test: &str) -> bool {
    let found = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        eprintln!("SKIPPED the terminal half of {test}: no `script`");
    }
    found
}
