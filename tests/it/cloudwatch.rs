//! `analyze --proxy` against moto over real HTTP: the CloudWatch analysis of a seeded incident
//! equals the offline analysis of the same lines; paging, slicing and merging lose and repeat
//! nothing; errors name the group, the region and what to do.

use std::collections::HashSet;

use serde_json::Value;

use crate::common::{Run, run_cmd, temp_file};
use crate::moto::{proxydoc_aws, seed};
use proxydoc::timefmt::rfc3339;

/// The lines of a sample moved to recent times (moto refuses events older than 14 days),
/// with the embedded timestamps rewritten too. Returns (text, events) where bare lines take
/// the time of the line before them, as the offline reader does.
pub fn shifted(sample: &str, end_ago_ms: i64) -> (String, Vec<(i64, String)>) {
    let text = std::fs::read_to_string(crate::common::root().join("samples").join(sample)).unwrap();
    let times: Vec<Option<i64>> = text
        .lines()
        .map(|l| proxydoc::parse::parse_line(l).ts)
        .collect();
    let last = times.iter().flatten().max().copied().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Whole minutes, so that per-minute buckets line up with the original.
    let offset = (now - end_ago_ms - last).div_euclid(60_000) * 60_000;
    let mut out = String::new();
    let mut events = Vec::new();
    let mut previous = None;
    for (line, ts) in text.lines().zip(times) {
        let line = match ts {
            Some(ts) => line.replacen(&rfc3339(ts), &rfc3339(ts + offset), 1),
            None => line.to_string(),
        };
        let ts = ts.map(|t| t + offset).or(previous).unwrap();
        previous = Some(ts);
        out.push_str(&line);
        out.push('\n');
        events.push((ts, line));
    }
    (out, events)
}

pub fn split_streams(events: &[(i64, String)]) -> Vec<(&'static str, Vec<(i64, String)>)> {
    let (a, b): (Vec<_>, Vec<_>) = events
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 3 == 0);
    vec![
        (
            "4c1b7e0a9d2f4e6b8a3c5d7e9f01",
            a.into_iter().map(|(_, e)| e).collect(),
        ),
        (
            "9f8e7d6c5b4a39281706f5e4d3c2",
            b.into_iter().map(|(_, e)| e).collect(),
        ),
    ]
}

pub fn window(events: &[(i64, String)]) -> (String, String) {
    let first = events.iter().map(|e| e.0).min().unwrap();
    let last = events.iter().map(|e| e.0).max().unwrap();
    (
        rfc3339((first / 60_000 - 1) * 60_000),
        rfc3339((last / 60_000 + 2) * 60_000),
    )
}

/// The report without the parts that name the inputs or the run.
fn comparable(report: &Value) -> Value {
    let mut report = report.clone();
    let object = report.as_object_mut().unwrap();
    object.remove("input");
    object.remove("generated_at");
    report
}

fn run_json(run: Run, code: i32) -> Value {
    assert_eq!(run.code, code, "stderr: {}", run.stderr);
    run.json()
}

#[test]
fn cloudwatch_analysis_equals_offline_analysis() {
    let region = "us-west-1";
    let (text, events) = shifted("layouts/plain.log", 3_600_000);
    seed(
        region,
        "/aws/rds/proxy/orders-proxy",
        &split_streams(&events),
    );
    let (since, until) = window(&events);

    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("events.csv");
    let online = run_json(
        run_cmd(
            proxydoc_aws(region)
                .args([
                    "analyze",
                    "--format",
                    "json",
                    "--proxy",
                    "orders-proxy",
                    "--since",
                    &since,
                    "--until",
                    &until,
                    "--events",
                ])
                .arg(&table),
        ),
        0,
    );
    // The events table names each event's log stream, as the API gave it.
    let streams: Vec<&str> = split_streams(&events).iter().map(|(s, _)| *s).collect();
    let rows = std::fs::read_to_string(&table).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for row in rows.lines().skip(1) {
        let stream = row.split(',').nth(3).unwrap_or_default();
        assert!(streams.contains(&stream), "{row}");
        seen.insert(stream.to_string());
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        rows.lines().count() as u64 - 1,
        online["input"]["events"].as_u64().unwrap()
    );
    let file = temp_file(dir.path(), "incident.log", text.as_bytes());
    let offline = run_json(
        run_cmd(crate::common::proxydoc().args([
            "analyze", "--format", "json", &file, "--since", &since, "--until", &until,
        ])),
        0,
    );
    assert_eq!(online["findings"][0]["cause"], "secret-access-denied");
    assert_eq!(comparable(&online), comparable(&offline));
    assert_eq!(online["input"]["lines"], offline["input"]["lines"]);
    assert_eq!(
        online["input"]["files"],
        serde_json::json!(["cloudwatch:/aws/rds/proxy/orders-proxy"])
    );
    assert_eq!(online["input"]["details"][0]["format"], "cloudwatch");

    // The download and the log group together, after a group that is not there: the group
    // is named as repeating the file's events, every one that has its own time in the file
    // (an untimed line's event has the API's time, which the file does not show).
    let both = run_cmd(
        proxydoc_aws(region)
            .args("analyze --format json --proxy gone-proxy --proxy orders-proxy".split(' '))
            .args(["--since", &since, "--until", &until, &file]),
    );
    assert_eq!(both.code, 1, "{}", both.stderr);
    let both = both.json();
    let group = "cloudwatch:/aws/rds/proxy/orders-proxy";
    assert_eq!(
        both["input"]["files"],
        serde_json::json!([file, "cloudwatch:/aws/rds/proxy/gone-proxy", group])
    );
    let repeats = &both["input"]["repeats"];
    assert_eq!(repeats.as_array().map(Vec::len), Some(1), "{repeats}");
    assert_eq!(repeats[0]["input"], group);
    assert_eq!(repeats[0]["earlier"], serde_json::json!(file));
    assert_eq!(repeats[0]["exact"], true);
    let timed = text
        .lines()
        .filter(|l| proxydoc::parse::parse_line(l).ts.is_some())
        .count();
    assert!(timed > 200, "{timed}");
    assert_eq!(repeats[0]["events"], timed);
    let warnings = both["input"]["details"][2]["warnings"].to_string();
    assert!(warnings.contains("counted twice"), "{warnings}");
}

#[test]
fn paging_and_slicing_lose_and_repeat_nothing() {
    let region = "eu-west-2";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = (now / 60_000 - 240) * 60_000;
    let total = 12_345i64;
    let mut streams: Vec<(&str, Vec<(i64, String)>)> =
        vec![("s-1", vec![]), ("s-2", vec![]), ("s-3", vec![])];
    for i in 0..total {
        // About 3 hours of traffic, several events per millisecond at times (same-ms events).
        let ts = start + i * 870 / 1000 * 1000 + (i % 3);
        let line = format!(
            "{} [INFO] [proxyEndpoint=default] [clientConnection={}] A new client connected from 10.0.{}.{}:{}.",
            rfc3339(ts),
            100_000 + i,
            i % 7,
            i % 200,
            30_000 + i % 20_000
        );
        streams[(i % 3) as usize].1.push((ts, line));
    }
    seed(region, "/aws/rds/proxy/busy", &streams);
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("busy.ndjson");
    let since = rfc3339(start - 60_000);
    let until = rfc3339(now + 60_000);
    let report = run_json(
        run_cmd(proxydoc_aws(region).args([
            "analyze",
            "--format",
            "json",
            "--proxy",
            "busy",
            "--since",
            &since,
            "--until",
            &until,
            "--page-limit",
            "700",
            "--save",
            save.to_str().unwrap(),
        ])),
        0,
    );
    assert_eq!(report["counts"]["client_connected"], total);
    let details = &report["input"]["details"][0];
    assert!(
        details["pages"].as_u64().unwrap() >= (total as u64) / 700,
        "{details}"
    );

    let saved = std::fs::read_to_string(&save).unwrap();
    let lines: Vec<Value> = saved
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as i64, total);
    let ids: HashSet<&str> = lines
        .iter()
        .map(|l| l["eventId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len() as i64, total, "no event twice");
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["timestamp"].as_i64() <= w[1]["timestamp"].as_i64()),
        "time-ordered"
    );
    assert_eq!(lines[0]["logGroupName"], "/aws/rds/proxy/busy");

    // The archive reads back offline with the same result.
    let offline = run_json(
        run_cmd(crate::common::proxydoc().args([
            "analyze",
            "--format",
            "json",
            save.to_str().unwrap(),
        ])),
        0,
    );
    assert_eq!(offline["counts"], report["counts"]);
    assert_eq!(offline["input"]["details"][0]["format"], "ndjson");
}

#[test]
fn several_proxies_merge_into_one_ordered_stream() {
    let region = "ap-southeast-2";
    let (_, orders) = shifted("layouts/plain.log", 7_200_000);
    let (_, ledger) = shifted("incidents/two-causes/proxy.log", 7_000_000);
    seed(region, "/aws/rds/proxy/orders", &split_streams(&orders));
    seed(region, "/aws/rds/proxy/ledger", &split_streams(&ledger));
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("both.ndjson");
    let report = run_json(
        run_cmd(proxydoc_aws(region).args([
            "analyze",
            "--format",
            "json",
            "--proxy",
            "orders",
            "--proxy",
            "ledger",
            "--since",
            "4h",
            "--save",
            save.to_str().unwrap(),
        ])),
        0,
    );
    let causes = crate::common::causes(&report);
    assert!(
        causes.contains(&"secret-access-denied".to_string())
            && causes.contains(&"iam-auth-failed".to_string()),
        "{causes:?}"
    );
    assert_eq!(
        report["input"]["lines"].as_u64().unwrap() as usize,
        orders.len() + ledger.len()
    );
    let saved = std::fs::read_to_string(&save).unwrap();
    let times: Vec<i64> = saved
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["timestamp"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "merged in time order"
    );
    let groups: HashSet<String> = saved
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["logGroupName"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(groups.len(), 2);
}

#[test]
fn unknown_proxy_names_the_group_and_region_and_files_are_still_read() {
    let region = "ca-central-1";
    let out = run_cmd(proxydoc_aws(region).args([
        "analyze",
        "--format",
        "json",
        "--proxy",
        "nope",
        &crate::common::sample("app/tls-required-psql.log"),
    ]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("log group /aws/rds/proxy/nope not found in ca-central-1"),
        "{}",
        out.stderr
    );
    assert_eq!(out.json()["findings"][0]["cause"], "tls-required");
}

#[test]
fn missing_credentials_and_region_say_how_to_provide_them() {
    let out = run_cmd(
        proxydoc_aws("us-east-1")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .args(["analyze", "--format", "json", "--proxy", "p"]),
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no AWS credentials found") && out.stderr.contains("--profile"),
        "{}",
        out.stderr
    );

    let out = run_cmd(
        proxydoc_aws("us-east-1")
            .env_remove("AWS_REGION")
            .args(["analyze", "--format", "json", "--proxy", "p"]),
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("no AWS region configured: pass --region"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_endpoint_that_does_not_answer_is_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run_cmd(
        proxydoc_aws("us-east-1")
            .env("AWS_MAX_ATTEMPTS", "1")
            .args([
                "analyze",
                "--format",
                "json",
                "--proxy",
                "p",
                "--endpoint-url",
                &format!("http://127.0.0.1:{port}"),
            ]),
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(
            "DescribeLogGroups on log group /aws/rds/proxy/p could not reach the endpoint"
        ),
        "{}",
        out.stderr
    );
}
