//! Snapshots of the three report formats over one incident, with the clock fixed
//! (`PROXYDOC_NOW`). Review changes with `cargo insta review`.

use crate::common::{run, sample};

fn render(format: &str) -> String {
    let out = run(&[
        "analyze",
        "--format",
        format,
        &sample("incidents/two-causes"),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
}

#[test]
fn table_report() {
    insta::assert_snapshot!("table", render("table"));
}

#[test]
fn markdown_report() {
    insta::assert_snapshot!("markdown", render("markdown"));
}

#[test]
fn json_report() {
    insta::assert_snapshot!("json", render("json"));
}

#[test]
fn secret_incident_table() {
    let out = run(&["analyze", "--format", "table", &sample("layouts/s3-export")]);
    insta::assert_snapshot!("secret_table", out.stdout);
}
