//! Snapshots of the four report formats over one incident, with the clock fixed
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
fn html_report() {
    insta::assert_snapshot!("html", render("html"));
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

/// Three healthy days, then an IAM authentication storm: the report's timeline comes in
/// 5-minute buckets (a month of logs is as long a report as a day), every event is in it,
/// and the onset is still found to the minute.
#[test]
fn long_spans_are_bucketed_without_losing_the_onset() {
    use crate::common::{analyze_json, temp_file};
    // Milliseconds from 2025-11-24T00:00Z as a timestamp (the test stays within the month).
    let stamp = |ms: i64| {
        let secs = ms / 1000;
        let (days, rest) = (secs / 86_400, secs % 86_400);
        format!(
            "2025-11-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            24 + days,
            rest / 3600,
            rest % 3600 / 60,
            rest % 60,
            ms % 1000
        )
    };
    let mut log = String::new();
    let mut id = 1000u64;
    let mut lines = 0u64;
    // One session every 7 minutes for three days (4,320 minutes).
    for minute in (0..4_320i64).step_by(7) {
        let t = minute * 60_000 + 1_234;
        id += 1;
        for (dt, text) in [
            (0, "A new client connected from 10.0.3.7:41234."),
            (
                400,
                "The client connection closed. Reason: The client requested that the connection close.",
            ),
        ] {
            log.push_str(&format!(
                "{} [INFO] [proxyEndpoint=default] [clientConnection={id}] {text}\n",
                stamp(t + dt)
            ));
            lines += 1;
        }
    }
    // From 2025-11-27T01:03Z, an IAM failure every 10 seconds for 20 minutes.
    let storm = 3 * 86_400_000 + 63 * 60_000;
    for i in 0..120i64 {
        id += 1;
        log.push_str(&format!(
            "{} [INFO] [proxyEndpoint=default] [clientConnection={id}] Proxy authentication with IAM authentication failed for user \"ledger_svc\" with TLS on. Reason: Invalid credentials. If you provide an IAM token, make sure to either use the correct password or enable IAM authentication.\n",
            stamp(storm + i * 10_000)
        ));
        lines += 1;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = temp_file(dir.path(), "proxy.log", log.as_bytes());
    let report = analyze_json(&[&path], 0);
    assert_eq!(report["input"]["events"], lines, "{}", report["input"]);
    assert_eq!(report["timeline_bucket_minutes"], 5);
    let timeline = report["timeline"].as_array().unwrap();
    assert!(timeline.len() <= 1440, "{}", timeline.len());
    let sum = |field: &str| -> u64 { timeline.iter().map(|b| b[field].as_u64().unwrap()).sum() };
    assert_eq!(sum("events"), lines);
    assert_eq!(sum("failures"), 120);
    assert!(
        timeline
            .iter()
            .all(|b| b["minute"].as_str().unwrap()[14..16]
                .parse::<u32>()
                .unwrap()
                % 5
                == 0),
        "buckets start on a multiple of 5 minutes"
    );
    let first = &report["findings"][0];
    assert_eq!(first["onset"]["at"], "2025-11-27T01:03:00.000Z", "{first}");
    // The table says what a column is.
    let table = run(&["analyze", "--format", "table", &path]);
    assert!(
        table.stdout.contains("one column = 75 min")
            && table
                .stdout
                .contains("first failure in the 5 minutes from 2025-11-27T01:00"),
        "{}",
        table.stdout
    );
}

/// 300 client addresses: the summary keeps the ones with the most failures, then events, then
/// by address; a client whose failure line does not name it (joined through its session)
/// still comes first.
#[test]
fn the_top_clients_of_many() {
    use crate::common::{analyze_json, temp_file};
    let mut log = String::new();
    for i in 0..300u32 {
        let id = 5000 + i;
        let (a, b) = (i / 250, i % 250 + 2);
        log.push_str(&format!(
            "2026-11-24T09:{:02}:00.000Z [INFO] [proxyEndpoint=default] [clientConnection={id}] A new client connected from 10.0.{a}.{b}:41000.\n",
            i % 60
        ));
        // Every tenth address connects twice: more events.
        if i % 10 == 0 {
            log.push_str(&format!(
                "2026-11-24T09:{:02}:30.000Z [INFO] [proxyEndpoint=default] [clientConnection={}] A new client connected from 10.0.{a}.{b}:41001.\n",
                i % 60,
                id + 100_000
            ));
        }
    }
    log.push_str("2026-11-24T10:00:00.000Z [INFO] [proxyEndpoint=default] [clientConnection=77] A new client connected from 10.9.9.9:41000.\n");
    log.push_str("2026-11-24T10:00:00.100Z [INFO] [proxyEndpoint=default] [clientConnection=77] Proxy authentication with IAM authentication failed for user \"ledger_svc\" with TLS on. Reason: Invalid credentials. If you provide an IAM token, make sure to either use the correct password or enable IAM authentication.\n");
    let dir = tempfile::tempdir().unwrap();
    let path = temp_file(dir.path(), "proxy.log", log.as_bytes());
    let report = analyze_json(&[&path], 0);
    let top: Vec<(String, u64, u64)> = report["top"]["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["value"].as_str().unwrap().to_string(),
                c["events"].as_u64().unwrap(),
                c["failures"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(top.len(), 10);
    assert_eq!(top[0], ("10.9.9.9".to_string(), 1, 1), "{top:?}");
    // Then the 30 addresses with two connects, by address.
    let twice: Vec<&str> = top[1..].iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        twice,
        [
            "10.0.0.102",
            "10.0.0.112",
            "10.0.0.12",
            "10.0.0.122",
            "10.0.0.132",
            "10.0.0.142",
            "10.0.0.152",
            "10.0.0.162",
            "10.0.0.172"
        ]
    );
    assert!(top[1..].iter().all(|c| c.1 == 2 && c.2 == 0), "{top:?}");
}

/// A span longer than a timeline keeps a minute at a time (300,000 minutes with lines): here a
/// client connection every minute for 301,000 minutes (209 days), then an hour of refused
/// passwords. The report says the timeline was counted in 2-minute buckets; the counts are
/// whole, the onset is the bucket of the incident's first minute, and
/// `--threads 1` gives the same report as the default.
#[test]
fn a_span_longer_than_the_timeline_keeps_is_counted_in_wider_buckets() {
    use std::fmt::Write as _;
    const MINUTE: i64 = 60_000;
    const QUIET: i64 = 301_000;
    // 2020-01-01T00:00:00Z, a multiple of every bucket width.
    let base: i64 = 1_577_836_800_000;
    let mut text = String::with_capacity(40 << 20);
    for i in 0..QUIET {
        let at = proxydoc::timefmt::rfc3339(base + i * MINUTE + 7_000);
        let _ = writeln!(
            text,
            "{at} [INFO] [proxyEndpoint=default] [clientConnection={}] A new client connected from 10.0.{}.{}:5{:04}.",
            1_000_000 + i,
            i % 7,
            i % 200,
            i % 9_999
        );
    }
    for minute in QUIET..QUIET + 60 {
        for k in 0..10 {
            let at = proxydoc::timefmt::rfc3339(base + minute * MINUTE + 1_000 * (k + 10));
            let _ = writeln!(
                text,
                "{at} [INFO] [proxyEndpoint=default] [clientConnection={}] Proxy authentication with PostgreSQL native password authentication failed for user \"billing\" with TLS on. Reason: Invalid credentials.",
                5_000_000 + minute * 10 + k
            );
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = crate::common::temp_file(dir.path(), "long.log", text.as_bytes());
    drop(text);

    let json = |threads: &str| {
        let out = run(&["analyze", "--format", "json", "--threads", threads, &path]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let mut report = out.json();
        report
            .as_object_mut()
            .expect("a JSON object")
            .remove("generated_at");
        report
    };
    let report = json("2");
    assert_eq!(report["timeline_resolution_minutes"], 2);
    assert_eq!(report["sessions"]["most_open_minutes"], 2);
    assert_eq!(report["counts"]["client_connected"], QUIET);
    assert_eq!(report["counts"]["auth_failed"], 600);
    // The report's own buckets are whole buckets of the timeline's, and hold every event.
    let bucket = report["timeline_bucket_minutes"].as_i64().expect("a width");
    assert!(bucket >= 2 && bucket % 2 == 0, "{bucket}");
    let events: i64 = report["timeline"]
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|m| m["events"].as_i64().expect("events"))
        .sum();
    assert_eq!(events, QUIET + 600);
    let failed = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["cause"] == "password-auth-failed")
        .expect("the refused passwords are a finding");
    assert_eq!(
        failed["onset"]["at"],
        proxydoc::timefmt::rfc3339(base + QUIET * MINUTE)
    );
    assert_eq!(json("1"), report, "--threads 1 and 2");

    // Every format says so (unit-tested for each in `report`): the table here.
    let out = run(&["analyze", "--format", "table", &path]);
    assert!(
        out.stdout.contains("counted in 2-minute buckets"),
        "{}",
        out.stdout
    );
}
