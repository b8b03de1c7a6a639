//! `analyze --engine insights` against moto over real HTTP: the call sequence (DescribeLogGroups
//! for the scan estimate, StartQuery over every group by name, GetQueryResults), the budget
//! refusal, a missing group, and `--emit-query`. Moto runs no `stats`, so the query's semantics
//! are tested by the unit tests in `src/insights/tests.rs`.

use crate::cloudwatch::{shifted, split_streams, window};
use crate::common::run_cmd;
use crate::moto::{proxydoc_aws, seed};

const REGION: &str = "eu-central-2";

#[test]
fn the_query_runs_over_every_group_and_a_missing_one_is_an_input_error() {
    let (_, events) = shifted("layouts/plain.log", 3_600_000);
    seed(REGION, "/aws/rds/proxy/fleet-a", &split_streams(&events));
    seed(REGION, "/aws/rds/proxy/fleet-b", &split_streams(&events));
    let (since, until) = window(&events);
    let run = run_cmd(proxydoc_aws(REGION).args([
        "analyze",
        "--engine",
        "insights",
        "--format",
        "json",
        "--proxy",
        "fleet-a",
        "--proxy",
        "fleet-b",
        "--proxy",
        "fleet-missing",
        "--since",
        &since,
        "--until",
        &until,
    ]));
    assert_eq!(run.code, 1, "stderr: {}", run.stderr);
    assert!(
        run.stderr
            .contains("/aws/rds/proxy/fleet-missing does not exist"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Logs Insights over 2 log group(s)"));
    let report = run.json();
    assert_eq!(report["schema"], "proxydoc.report/v1");
    let insights = &report["insights"];
    // One StartQuery per query of the plan (the catalogue is split to fit the length limit).
    assert_eq!(insights["queries"], queries_per_run());
    assert!(insights["expected_bytes"].as_f64().unwrap() > 0.0);
    assert_eq!(insights["usd_per_gb"], 0.005);
    assert_eq!(
        report["input"]["files"],
        serde_json::json!([
            "insights:/aws/rds/proxy/fleet-a",
            "insights:/aws/rds/proxy/fleet-b"
        ])
    );
    assert_eq!(
        report["input"]["errors"][0]["path"],
        "insights:/aws/rds/proxy/fleet-missing"
    );
    // Moto answers with raw events: said, and not counted as if they were statistics.
    let warnings = report["input"]["warnings"].to_string();
    assert!(warnings.contains("raw events"), "{warnings}");
    assert!(warnings.contains("not computed: sessions"), "{warnings}");
    assert_eq!(report["input"]["events"], 0);
}

#[test]
fn a_scan_over_the_budget_is_refused_without_yes() {
    let (_, events) = shifted("layouts/plain.log", 3_600_000);
    seed(REGION, "/aws/rds/proxy/fleet-big", &split_streams(&events));
    let (since, until) = window(&events);
    let args = |extra: &[&str]| {
        let mut cmd = proxydoc_aws(REGION);
        cmd.args([
            "analyze",
            "--engine",
            "insights",
            "--format",
            "json",
            "--proxy",
            "fleet-big",
            "--since",
            &since,
            "--until",
            &until,
            "--max-scan-gb",
            "0.0000001",
        ])
        .args(extra);
        cmd
    };
    let refused = run_cmd(&mut args(&[]));
    assert_eq!(refused.code, 2, "stderr: {}", refused.stderr);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--max-scan-gb"),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty());
    let confirmed = run_cmd(&mut args(&["--yes"]));
    assert_eq!(confirmed.code, 0, "stderr: {}", confirmed.stderr);
    assert_eq!(confirmed.json()["insights"]["queries"], queries_per_run());
}

/// The queries the built-in catalogue needs.
fn queries_per_run() -> usize {
    use proxydoc::classify::{Classifier, catalogue};
    let classifier = Classifier::new(catalogue::builtin().unwrap()).unwrap();
    proxydoc::insights::plan::Plan::new(&classifier)
        .unwrap()
        .parts
        .len()
}

#[test]
fn emit_query_prints_the_query_and_calls_nothing() {
    // An endpoint nothing listens on: any AWS call would fail.
    let run = run_cmd(
        crate::common::proxydoc()
            .args(["analyze", "--emit-query"])
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    // The catalogue is split over several queries, each headed by a comment.
    let queries = queries_per_run();
    assert!(queries >= 2);
    assert!(
        run.stdout.starts_with(&format!(
            "# query 1 of {queries}\nfields @timestamp, @message\n| filter @message like /(?i)"
        )),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.matches("fields @timestamp, @message").count(),
        queries
    );
    assert!(
        run.stdout
            .contains("| stats count(*) as n, min(@timestamp) as first")
    );
    assert!(run.stdout.trim_end().ends_with("| limit 10000"));
    let usage = run_cmd(crate::common::proxydoc().args(["analyze", "--engine", "insights"]));
    assert_eq!(usage.code, 2);
    assert!(
        usage.stderr.contains("--proxy or --log-group"),
        "{}",
        usage.stderr
    );
}

/// Progress of the queries (done of planned, bytes scanned and their cost) on a terminal's
/// stderr (through `script`, which gives the command a terminal); nothing when piped.
#[test]
fn query_progress_only_on_a_terminal() {
    let (_, events) = shifted("layouts/plain.log", 3_600_000);
    seed(REGION, "/aws/rds/proxy/fleet-bar", &split_streams(&events));
    let (since, until) = window(&events);
    let args = [
        "analyze",
        "--engine",
        "insights",
        "--format",
        "json",
        "-o",
        "/dev/null",
        "--proxy",
        "fleet-bar",
        "--since",
        &since,
        "--until",
        &until,
    ];
    let piped = run_cmd(proxydoc_aws(REGION).args(args));
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert!(
        !piped.stderr.contains("scanned (about $"),
        "{}",
        piped.stderr
    );

    if !crate::common::has_script("query_progress_only_on_a_terminal") {
        return;
    }
    let binary = assert_cmd::cargo::cargo_bin("proxydoc");
    let mut script = std::process::Command::new("script");
    script.args([
        "-qec",
        &format!("{} {}", binary.display(), args.join(" ")),
        "/dev/null",
    ]);
    for (key, value) in crate::moto::aws_env(REGION, &crate::moto::moto().url) {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let out = script.output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("insights")
            && shown.contains("queries")
            && shown.contains("scanned (about $"),
        "{shown:?}"
    );
}
