//! The same incident (samples/layouts, written by samples/generate.py) in every layout proxydoc
//! reads must give identical findings and event counts.
//!
//! Layouts differ in one way that matters: a bare proxy line (no timestamp of its own) gets its
//! time from the container. JSON, NDJSON, Insights, S3 export and `tail --format detailed`
//! carry the event's millisecond timestamp; `tail --format short` only whole seconds; a plain
//! text log none at all, so the line takes the time of the line before it (a few ms earlier).
//! First/last seen are therefore compared exactly for the first group and within a second for
//! the others; everything else must be equal.

use serde_json::Value;

use crate::common::{analyze_json, sample};

const EXACT: &[&str] = &[
    "layouts/filter-log-events.json",
    "layouts/powershell/filter-log-events.json",
    "layouts/powershell/events.ndjson",
    "layouts/get-log-events",
    "layouts/events.ndjson",
    "layouts/insights-results.json",
    "layouts/insights-export.csv",
    "layouts/s3-export",
    "layouts/tail-detailed.txt",
];
const COARSE: &[&str] = &[
    "layouts/plain.log",
    "layouts/plain.log.gz",
    "layouts/tail-short.txt",
];

fn millis(value: &Value) -> i64 {
    let text = value.as_str().expect("timestamp string");
    let (_, (ms, _)) = proxydoc::timefmt::timestamp(text).expect("RFC 3339");
    ms
}

/// The parts of a report that must not depend on the layout.
fn invariant(report: &Value) -> Value {
    let findings: Vec<Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            serde_json::json!({
                "cause": f["cause"], "severity": f["severity"], "confidence": f["confidence"],
                "why": f["why"], "events": f["events"], "failed_connections": f["failed_connections"],
                "users": f["users"], "clients": f["clients"], "endpoints": f["endpoints"],
                "evidence": f["evidence"].as_array().unwrap().len(), "remediation": f["remediation"],
            })
        })
        .collect();
    serde_json::json!({
        "counts": report["counts"],
        "lines": report["input"]["lines"],
        "events": report["input"]["events"],
        "unparsed": report["input"]["unparsed"],
        "sessions": report["sessions"],
        "findings": findings,
        "top": report["top"],
        "context": report["context"],
    })
}

#[test]
fn every_layout_gives_the_same_findings_and_counts() {
    let reference = analyze_json(&[&sample(EXACT[0])], 0);
    assert_eq!(reference["findings"][0]["cause"], "secret-access-denied");
    assert_eq!(reference["input"]["unparsed"], 0);
    for layout in EXACT.iter().chain(COARSE) {
        let report = analyze_json(&[&sample(layout)], 0);
        assert_eq!(
            invariant(&report),
            invariant(&reference),
            "{layout} differs from {}",
            EXACT[0]
        );
        let exact = EXACT.contains(layout);
        for (got, want) in report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .zip(reference["findings"].as_array().unwrap())
        {
            for key in ["first_seen", "last_seen"] {
                let (got, want) = (millis(&got[key]), millis(&want[key]));
                if exact {
                    assert_eq!(got, want, "{layout} {key}");
                } else {
                    assert!((got - want).abs() < 1000, "{layout} {key}: {got} vs {want}");
                }
            }
        }
        if exact {
            assert_eq!(
                report["timeline"], reference["timeline"],
                "{layout} timeline"
            );
            assert_eq!(report["window"], reference["window"], "{layout} window");
        }
    }
}

#[test]
fn detected_formats_and_compression() {
    let formats = [
        ("layouts/plain.log", "text", false),
        ("layouts/plain.log.gz", "text", true),
        ("layouts/filter-log-events.json", "json", false),
        ("layouts/events.ndjson", "ndjson", false),
        ("layouts/insights-results.json", "json", false),
        ("layouts/insights-export.csv", "insights-csv", false),
        ("layouts/tail-detailed.txt", "text", false),
    ];
    for (path, format, gzip) in formats {
        let report = analyze_json(&[&sample(path)], 0);
        let details = &report["input"]["details"][0];
        assert_eq!(details["format"], format, "{path}");
        assert_eq!(details["gzip"], gzip, "{path}");
    }
    let report = analyze_json(&[&sample("layouts/s3-export")], 0);
    let files = report["input"]["files"].as_array().unwrap();
    assert_eq!(
        files.len(),
        2,
        "the aws-logs-write-test marker is skipped: {files:?}"
    );
    assert!(
        files
            .iter()
            .all(|f| f.as_str().unwrap().ends_with("/000000.gz"))
    );
}

#[test]
fn all_layouts_together_count_every_copy() {
    let one = analyze_json(&[&sample("layouts/plain.log")], 0);
    let both = analyze_json(
        &[
            &sample("layouts/plain.log"),
            &sample("layouts/events.ndjson"),
        ],
        0,
    );
    let n = |r: &Value| r["findings"][0]["events"].as_u64().unwrap();
    assert_eq!(n(&both), 2 * n(&one));
}
