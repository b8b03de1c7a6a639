//! Bad input: what cannot be read is named and exits 1 while the rest is still reported;
//! damaged, binary and malformed content is counted, never fatal.

use std::io::Write;

use crate::common::{analyze_json, causes, run, sample, temp_file};

#[test]
fn missing_path_is_named_and_the_rest_is_reported() {
    let out = run(&[
        "analyze",
        "--format",
        "json",
        "/nonexistent/proxy.log",
        &sample("app/tls-required-psql.log"),
    ]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("/nonexistent/proxy.log: no such file or directory"),
        "{}",
        out.stderr
    );
    let report = out.json();
    assert_eq!(causes(&report), ["tls-required"]);
    assert_eq!(
        report["input"]["errors"][0]["path"],
        "/nonexistent/proxy.log"
    );
}

#[test]
fn directory_without_logs_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let path = dir.path().join("empty");
    let out = run(&["analyze", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("directory contains no log files"),
        "{}",
        out.stderr
    );
    assert_eq!(out.json()["input"]["lines"], 0);
}

#[test]
fn truncated_gzip_keeps_what_came_before_the_damage() {
    let report = analyze_json(&[&sample("bad/truncated.log.gz")], 1);
    let lines = report["input"]["lines"].as_u64().unwrap();
    assert!(lines > 50, "only {lines} lines recovered");
    let error = report["input"]["errors"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("gzip data is truncated or corrupt"),
        "{error}"
    );
    assert!(report["counts"]["client_connected"].as_u64().unwrap() > 10);
}

#[test]
fn binary_file_is_counted_as_unparsed() {
    let report = analyze_json(&[&sample("bad/garbage.bin")], 0);
    assert!(report["input"]["unparsed"].as_u64().unwrap() > 0);
    assert_eq!(report["input"]["events"], 0);
    assert!(causes(&report).is_empty());
}

#[test]
fn malformed_json_is_salvaged_as_text() {
    let report = analyze_json(&[&sample("bad/malformed.json")], 0);
    assert!(report["input"]["malformed"].as_u64().unwrap() > 0);
    assert_eq!(report["input"]["details"][0]["format"], "json");
    // The event before the damage is read as an event, not as a line of JSON text.
    assert_eq!(report["counts"]["client_connected"], 1);
}

#[test]
fn invalid_utf8_is_decoded_lossily_and_counted() {
    let report = analyze_json(&[&sample("bad/invalid-utf8.log")], 0);
    assert_eq!(report["input"]["invalid_utf8"], 1);
    assert_eq!(report["counts"]["client_connected"], 1);
    assert_eq!(
        report["counts"]["client_closed"], 1,
        "CRLF line ends are handled"
    );
    assert_eq!(report["input"]["unparsed"], 1);
}

#[test]
fn eight_megabyte_line_does_not_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"2026-11-24T10:00:00.000Z [INFO] [proxyEndpoint=default] [clientConnection=1] A new client connected from 10.0.0.1:4000.\n");
    bytes.extend(std::iter::repeat_n(b'x', 8 << 20));
    bytes.extend_from_slice(b"\nERROR 3159 (HY000): This RDS Proxy requires TLS connections.\n");
    let path = temp_file(dir.path(), "huge.log", &bytes);
    let report = analyze_json(&[&path], 0);
    assert_eq!(report["input"]["truncated_lines"], 1);
    assert_eq!(report["input"]["lines"], 3);
    assert_eq!(causes(&report), ["tls-required"]);
    let sample_line = report["unparsed"]["samples"][0].as_str().unwrap();
    assert!(
        sample_line.chars().count() < 400,
        "unparsed samples are clipped"
    );
}

#[test]
fn gzip_without_the_gz_name_and_concatenated_members() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read(crate::common::root().join("samples/app/tls-required-psql.log")).unwrap();
    let mut bytes = Vec::new();
    for half in [&text[..text.len() / 2], &text[text.len() / 2..]] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(half).unwrap();
        bytes.extend(gz.finish().unwrap());
    }
    let path = temp_file(dir.path(), "export-object", &bytes);
    let report = analyze_json(&[&path], 0);
    assert_eq!(report["input"]["details"][0]["gzip"], true);
    assert_eq!(report["findings"][0]["events"], 16);
}

#[test]
fn empty_file_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_file(dir.path(), "empty.log", b"");
    let report = analyze_json(&[&path], 0);
    assert_eq!(report["input"]["lines"], 0);
    assert_eq!(report["window"]["start"], serde_json::Value::Null);
    let out = run(&["analyze", "--format", "table", &path]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("No findings"));
}

/// The events of `samples/layouts/events.ndjson`, one NDJSON line each.
fn event_lines() -> Vec<String> {
    let text = std::fs::read_to_string(sample("layouts/events.ndjson")).unwrap();
    text.lines().map(str::to_string).collect()
}

/// The report's input warnings.
fn warnings(report: &serde_json::Value) -> Vec<&str> {
    let all = report["input"]["warnings"].as_array();
    all.into_iter()
        .flatten()
        .filter_map(|w| w.as_str())
        .collect()
}

/// Two downloads of overlapping windows, in two layouts (a `filter-log-events` document, then
/// NDJSON events), and an unrelated log: the second download is named as holding the first's
/// events, exactly how many and over which times, for any number of workers.
#[test]
fn downloads_of_overlapping_windows_are_named_with_their_shared_events() {
    let lines = event_lines();
    assert!(lines.len() > 250);
    let dir = tempfile::tempdir().unwrap();
    let first = format!(
        "{{\"events\": [{}], \"searchedLogStreams\": []}}",
        lines[..160].join(",\n")
    );
    let first = temp_file(dir.path(), "10h00-10h30.json", first.as_bytes());
    let second = temp_file(
        dir.path(),
        "10h20-11h00.ndjson",
        (lines[110..].join("\n") + "\n").as_bytes(),
    );
    let other = sample("proxy/iam-auth-failed-mysql.log");
    let time = |line: &str| {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        event["timestamp"].as_i64().unwrap()
    };
    let rfc3339 = proxydoc::timefmt::rfc3339;
    let mut seen = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = run(&[
            "analyze",
            "--format",
            "json",
            "--threads",
            threads,
            &first,
            &second,
            &other,
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let report = out.json();
        let repeats = report["input"]["repeats"].clone();
        assert_eq!(
            repeats,
            serde_json::json!([{
                "input": second,
                "earlier": first,
                "events": 50,
                "exact": true,
                "first": rfc3339(time(&lines[110])),
                "last": rfc3339(time(&lines[159])),
                "others": 0,
            }]),
            "--threads {threads}"
        );
        let warnings = report["input"]["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let warning = warnings[0].as_str().unwrap();
        assert!(
            warning.starts_with(&format!("{second}: holds 50 events that {first} holds too")),
            "{warning}"
        );
        assert!(warning.contains("counted twice"), "{warning}");
        seen.push(report["input"].clone());
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]));
    // Windows that only touch share nothing.
    let apart = temp_file(
        dir.path(),
        "10h30-11h00.ndjson",
        (lines[160..].join("\n") + "\n").as_bytes(),
    );
    let report = analyze_json(&[&first, &apart], 0);
    assert!(report["input"].get("repeats").is_none(), "{report}");
    assert!(report["input"].get("warnings").is_none(), "{report}");
}

/// Many inputs repeating an earlier one (an export tree of many objects) are each in
/// `input.repeats`, and the warnings tell the first ten in full and the rest at once.
#[test]
fn many_repeating_inputs_are_warned_of_in_few_lines() {
    let lines = event_lines();
    let dir = tempfile::tempdir().unwrap();
    // Fourteen downloads of the same window, each with one event of its own at the end
    // (so that none is the same bytes as another).
    let paths: Vec<String> = (0..14)
        .map(|k| {
            let own = format!(
                r#"{{"timestamp": {}, "message": "own {k}"}}"#,
                1_700_000_000_000i64 + k
            );
            let text = lines[..100].join("\n") + "\n" + &own + "\n";
            temp_file(
                dir.path(),
                &format!("download-{k:02}.ndjson"),
                text.as_bytes(),
            )
        })
        .collect();
    let args: Vec<&str> = paths.iter().map(String::as_str).collect();
    let report = analyze_json(&args, 0);
    let repeats = report["input"]["repeats"].as_array().unwrap();
    assert_eq!(repeats.len(), 13);
    assert!(
        repeats
            .iter()
            .all(|r| r["events"] == 100 && r["earlier"] == paths[0].as_str())
    );
    let warnings = warnings(&report);
    assert_eq!(warnings.len(), 11, "{warnings:?}");
    assert!(warnings[9].starts_with(&format!("{}: holds 100 events that", paths[10])));
    assert!(
        warnings[10].starts_with(&format!(
            "{}: this input and 2 more after it hold 300 events that earlier inputs hold too",
            paths[11]
        )),
        "{}",
        warnings[10]
    );
}

#[test]
fn a_file_given_twice_is_read_once() {
    let original = sample("proxy/iam-auth-failed-mysql.log");
    let once = analyze_json(&[&original], 0);
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(&original).unwrap();
    let copy = temp_file(dir.path(), "downloaded-again.log", &bytes);
    // The copy, the original by its own path again, and the copy inside its directory.
    let dir_path = dir.path().display().to_string();
    let report = analyze_json(&[&original, &copy, &original, &dir_path], 0);
    for part in ["counts", "sessions", "findings"] {
        assert_eq!(report[part], once[part], "{part}");
    }
    let warnings = warnings(&report);
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .all(|w| w.contains(&format!("the same bytes as {original}: not read again"))),
        "{warnings:?}"
    );
    assert_eq!(report["input"]["files"].as_array().unwrap().len(), 4);
}

/// A line dated thousands of years after the rest (a damaged or mistyped timestamp) stretches
/// the input over billions of minutes: the report still comes, with its findings, instead of
/// a count for every minute taking more memory than the machine has.
#[test]
fn a_timestamp_thousands_of_years_off_does_not_take_the_memory() {
    let text = std::fs::read_to_string(sample("layouts/plain.log")).unwrap();
    // A connection, then the proxy's bare message of the secret it cannot read (a line
    // without a time of its own takes the time of the line before).
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("Credentials couldn't be retrieved"))
        .unwrap();
    let far = format!("9999{}\n{}", &lines[at - 1][4..], lines[at]);
    let dir = tempfile::tempdir().unwrap();
    let path = temp_file(dir.path(), "proxy.log", format!("{text}{far}\n").as_bytes());
    let report = analyze_json(&[&path], 0);
    assert!(
        causes(&report).contains(&"secret-access-denied".to_string()),
        "{report}"
    );
    assert!(
        report["window"]["end"]
            .as_str()
            .is_some_and(|end| end.starts_with("9999-")),
        "{}",
        report["window"]
    );
}

/// Coloured lines (a terminal's log viewer, `kubectl logs` of a coloured logger) read as
/// their text: the same findings and sessions as the plain lines, in a plain file and in a
/// gzip object read whole (whose lines are lent to the batches), with two workers, when only
/// the second half is coloured (its batches hold escapes, the first half's do not).
#[test]
fn coloured_lines_read_as_their_text() {
    let plain = std::fs::read_to_string(
        crate::common::root().join("samples/incidents/pinning-builds-to-exhaustion/proxy.log"),
    )
    .unwrap();
    let half = plain.len() / 2;
    let cut = half + plain[half..].find('\n').unwrap() + 1;
    let coloured: String = plain[..cut].to_string()
        + &plain[cut..]
            .replace("[WARN]", "\u{1b}[33m[WARN]\u{1b}[0m")
            .replace("[INFO]", "\u{1b}[32m[INFO]\u{1b}[0m")
            .replace("[ERROR]", "\u{1b}[1;31m[ERROR]\u{1b}[0m");
    assert!(coloured.matches('\u{1b}').count() > 1000);
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(coloured.as_bytes()).unwrap();
    let paths = [
        temp_file(dir.path(), "plain.log", plain.as_bytes()),
        temp_file(dir.path(), "coloured.log", coloured.as_bytes()),
        temp_file(dir.path(), "coloured.log.gz", &gz.finish().unwrap()),
    ];
    let summary = |path: &str| {
        let out = run(&["analyze", "--format", "json", "--threads", "2", path]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let report = out.json();
        let findings: Vec<(String, serde_json::Value)> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["cause"].as_str().unwrap().to_string(),
                    f["events"].clone(),
                )
            })
            .collect();
        (
            findings,
            report["sessions"].clone(),
            report["counts"].clone(),
            report["input"]["lines"].clone(),
            report["input"]["unparsed"].clone(),
        )
    };
    let want = summary(&paths[0]);
    assert!(!want.0.is_empty());
    for path in &paths[1..] {
        assert_eq!(summary(path), want, "{path}");
    }
}
