//! `--events FILE`: the classified events as a table, read back with polars: one row per event
//! of the report, the same counts per kind, the documented columns, messages redacted, in
//! Parquet, CSV and NDJSON, with any number of threads.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::common::{proxydoc, run_cmd, sample};

/// The table's text columns: all but its numbers and its time.
fn text_columns() -> impl Iterator<Item = &'static str> {
    const NOT_TEXT: [&str; 5] = [
        "time",
        "line",
        "client_port",
        "client_connection",
        "db_connection",
    ];
    proxydoc::aggregate::events::COLUMNS
        .into_iter()
        .filter(|name| !NOT_TEXT.contains(name))
}

fn analyze(args: &[&str], events: &std::path::Path) -> serde_json::Value {
    let out = run_cmd(
        proxydoc()
            .arg("analyze")
            .args(args)
            .arg("--events")
            .arg(events)
            .args(["--format", "json"]),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("wrote "), "{}", out.stderr);
    out.json()
}

fn read(path: &std::path::Path) -> DataFrame {
    let file = std::fs::File::open(path).unwrap();
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => CsvReadOptions::default()
            .with_has_header(true)
            .into_reader_with_file_handle(file)
            .finish()
            .unwrap(),
        // Types from every row: a column can be null for the first thousands.
        Some("ndjson") => JsonReader::new(file)
            .with_json_format(JsonFormat::JsonLines)
            .infer_schema_len(None)
            .finish()
            .unwrap(),
        _ => ParquetReader::new(file).finish().unwrap(),
    }
}

fn counts_per_kind(frame: &DataFrame) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for kind in frame.column("kind").unwrap().str().unwrap().iter() {
        *counts.entry(kind.unwrap().to_string()).or_default() += 1;
    }
    counts
}

fn report_counts(report: &serde_json::Value) -> BTreeMap<String, u64> {
    report["counts"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, n)| n.as_u64().unwrap() > 0)
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

#[test]
fn events_table_matches_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let incident = sample("incidents/two-causes");
    for name in ["events.parquet", "events.csv", "events.ndjson"] {
        let path = dir.path().join(name);
        let report = analyze(&[&incident], &path);
        let frame = read(&path);
        assert_eq!(
            frame.height() as u64,
            report["input"]["events"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(counts_per_kind(&frame), report_counts(&report), "{name}");
        let columns: Vec<&str> = frame
            .get_column_names()
            .into_iter()
            .map(|c| c.as_str())
            .collect();
        assert_eq!(columns, proxydoc::aggregate::events::COLUMNS, "{name}");
        // Every row names its input and its line there, once.
        let mut seen = std::collections::BTreeSet::new();
        let inputs = frame.column("input").unwrap().str().unwrap().clone();
        let lines = frame
            .column("line")
            .unwrap()
            .cast(&DataType::UInt64)
            .unwrap();
        for (input, line) in inputs.iter().zip(lines.u64().unwrap().iter()) {
            let (input, line) = (input.unwrap().to_string(), line.unwrap());
            assert!(
                input.ends_with("two-causes/proxy.log") || input.ends_with("two-causes/app.log")
            );
            assert!(line >= 1);
            assert!(seen.insert((input, line)), "{name}: a line twice");
        }
    }

    // The Parquet file has types: times, numbers and the causes of the findings.
    let path = dir.path().join("typed.parquet");
    let report = analyze(&[&incident], &path);
    let frame = read(&path);
    let schema = frame.schema();
    assert!(matches!(
        schema.get("time"),
        Some(DataType::Datetime(TimeUnit::Milliseconds, _))
    ));
    assert_eq!(schema.get("client_connection"), Some(&DataType::UInt64));
    assert_eq!(schema.get("client_port"), Some(&DataType::UInt32));
    assert_eq!(schema.get("db_connection"), Some(&DataType::UInt64));
    assert_eq!(schema.get("line"), Some(&DataType::UInt64));
    // Text is text, whether a row group stores it as a dictionary (kind, user, …) or not.
    for name in text_columns() {
        assert_eq!(schema.get(name), Some(&DataType::String), "{name}");
    }
    let causes: std::collections::BTreeSet<String> = frame
        .column("cause")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .map(str::to_string)
        .collect();
    for finding in report["findings"].as_array().unwrap() {
        let cause = finding["cause"].as_str().unwrap();
        if finding["events"].as_u64().unwrap() > 0 {
            assert!(causes.contains(cause), "{cause} in {causes:?}");
        }
    }
}

/// The Parquet file holds the values the NDJSON file spells out: its times and line numbers
/// are stored as deltas and its connection ids plainly, and read back the same, over every
/// incident sample (about 13,000 lines, several row pages).
#[test]
fn parquet_values_are_the_text_formats_values() {
    let dir = tempfile::tempdir().unwrap();
    let incidents = sample("incidents");
    // Lines without a time of their own before any timed line: rows whose time is null.
    let untimed = dir.path().join("untimed.log");
    std::fs::write(
        &untimed,
        "[INFO] [proxyEndpoint=default] [clientConnection=7] A new client connected from 10.0.0.7:5000.\n\
         [INFO] [proxyEndpoint=default] [clientConnection=7] The client connection closed. Reason: The client requested that the connection close.\n\
         2026-11-24T09:58:00.464Z [INFO] [proxyEndpoint=default] [clientConnection=8] A new client connected from 10.0.0.8:5001.\n",
    )
    .unwrap();
    let untimed = untimed.to_str().unwrap();
    let rows = parquet_is_ndjson(dir.path(), &[&incidents, untimed]);
    assert!(rows.rows > 10_000, "{}", rows.rows);
    assert_eq!(rows.untimed, 2);
    assert!(rows.text_with_nulls >= 5, "{rows:?}");
}

/// The same over many row groups, each worker's written as its rows come (the keys' and the
/// messages' pages, the dictionaries and the zstd context kept from one row group to the
/// next): the incident samples' lines eleven times over in one file, on two workers.
#[test]
fn parquet_values_are_the_text_formats_values_over_many_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    let mut files: Vec<_> = walk(&crate::common::root().join(sample("incidents")));
    files.sort();
    for file in &files {
        lines.push_str(&std::fs::read_to_string(file).unwrap());
    }
    let long = dir.path().join("long.log");
    std::fs::write(&long, lines.repeat(11)).unwrap();
    let rows = parquet_is_ndjson(dir.path(), &[long.to_str().unwrap(), "--threads", "2"]);
    assert!(rows.rows > 2 * 65_536 + 1, "{}", rows.rows);
    assert!(rows.text_with_nulls >= 5, "{rows:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// What [`parquet_is_ndjson`] saw.
#[derive(Debug)]
struct Compared {
    rows: usize,
    /// Rows without a time.
    untimed: usize,
    /// Text columns with both values and nulls.
    text_with_nulls: usize,
}

/// Writes the events of `args` as Parquet and as NDJSON in `dir` and checks that every column
/// reads back the same from both, row for row (sorted by input and line).
fn parquet_is_ndjson(dir: &std::path::Path, args: &[&str]) -> Compared {
    let tables: Vec<DataFrame> = ["events.parquet", "events.ndjson"]
        .iter()
        .map(|name| {
            let path = dir.join(name);
            analyze(args, &path);
            read(&path)
                .sort(["input", "line"], SortMultipleOptions::default())
                .unwrap()
        })
        .collect();
    let (parquet, ndjson) = (&tables[0], &tables[1]);
    assert_eq!(parquet.height(), ndjson.height());
    let numbers = |frame: &DataFrame, name: &str| -> Vec<Option<u64>> {
        let column = frame.column(name).unwrap().cast(&DataType::UInt64).unwrap();
        column.u64().unwrap().iter().collect()
    };
    for name in ["line", "client_port", "client_connection", "db_connection"] {
        let values = numbers(parquet, name);
        assert_eq!(values, numbers(ndjson, name), "{name}");
        assert!(values.iter().any(Option::is_some), "{name}: all null");
    }
    let times = parquet
        .column("time")
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap();
    let spelled: Vec<Option<String>> = times
        .i64()
        .unwrap()
        .iter()
        .map(|ms| ms.map(proxydoc::timefmt::rfc3339))
        .collect();
    let texts: Vec<Option<String>> = ndjson
        .column("time")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|t| t.map(str::to_string))
        .collect();
    assert_eq!(spelled, texts);
    assert!(spelled.iter().filter(|t| t.is_some()).count() > 10_000);

    // Text of few values is stored as dictionaries whose keys and null levels proxydoc
    // encodes itself, the message as pages it lays out: every value and every null read back.
    let strings = |frame: &DataFrame, name: &str| -> Vec<Option<String>> {
        // (NDJSON's reader types a column of nulls only as null.)
        let column = frame.column(name).unwrap().cast(&DataType::String).unwrap();
        let column = column.str().unwrap();
        column.iter().map(|t| t.map(str::to_string)).collect()
    };
    let mut text_with_nulls = 0;
    for name in text_columns() {
        let values = strings(parquet, name);
        assert_eq!(values, strings(ndjson, name), "{name}");
        let nulls = values.iter().filter(|v| v.is_none()).count();
        if nulls > 0 && nulls < values.len() {
            text_with_nulls += 1;
        }
    }
    Compared {
        rows: parquet.height(),
        untimed: spelled.iter().filter(|t| t.is_none()).count(),
        text_with_nulls,
    }
}

/// The same rows whatever the number of threads (in another order: sorted here).
#[test]
fn events_table_is_the_same_for_any_threads() {
    let dir = tempfile::tempdir().unwrap();
    let incident = sample("incidents/pinning-builds-to-exhaustion");
    let mut tables = Vec::new();
    for threads in ["1", "3"] {
        let path = dir.path().join(format!("t{threads}.parquet"));
        analyze(&[&incident, "--threads", threads], &path);
        let frame = read(&path)
            .sort(["input", "line"], SortMultipleOptions::default())
            .unwrap();
        tables.push(frame);
    }
    assert!(tables[0].equals_missing(&tables[1]));
}

/// Messages are redacted as evidence is: credentials always, SQL text unless --show-sql.
#[test]
fn events_table_redacts_messages() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("proxy.log");
    std::fs::write(
        &log,
        "2026-11-24T09:58:00.464Z [INFO] [proxyEndpoint=default] [clientConnection=1] A new client connected from 10.0.0.1:5000.\n\
         2026-11-24T09:58:01.000Z [INFO] [proxyEndpoint=default] [clientConnection=1] The client session was pinned to the database connection [dbConnection=2] for the remainder of the session. The proxy can't reuse this connection until the session ends. Reason: SQL changed session settings that the proxy doesn't track. Consider moving session configuration to the proxy's initialization query. Digest: \"SET app.password = 'hunter2'\".\n",
    )
    .unwrap();
    let path = dir.path().join("events.csv");
    analyze(&[log.to_str().unwrap()], &path);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("10.0.0.1"), "{text}");
}

/// A table that cannot be written (a full disk: `/dev/full`) costs the table, not the report:
/// the report is printed whole, stderr says what failed and the exit code is 1.
#[test]
fn a_full_disk_costs_the_table_not_the_report() {
    let full = std::path::Path::new("/dev/full");
    if !full.exists() {
        eprintln!("no /dev/full on this machine: skipped");
        return;
    }
    let log = sample("incidents/two-causes/proxy.log");
    let out = run_cmd(
        proxydoc()
            .args(["analyze", log.as_str(), "--format", "json", "--events"])
            .arg(full),
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cannot write the --events file /dev/full")
            && out.stderr.contains("No space left on device"),
        "{}",
        out.stderr
    );
    let complete = run_cmd(proxydoc().args(["analyze", log.as_str(), "--format", "json"]));
    let strip = |text: &str| {
        let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
        v.as_object_mut().unwrap().remove("generated_at");
        v
    };
    assert_eq!(strip(&out.stdout), strip(&complete.stdout));
}

/// Events read from CloudWatch's own exports (`filter-log-events` JSON, Logs Insights results
/// as JSON and as the console's CSV) carry their log stream, as the API's do: each stream has
/// as many rows as its events have message lines.
#[test]
fn events_table_names_each_events_log_stream() {
    let dir = tempfile::tempdir().unwrap();
    let streams_of = |path: &std::path::Path| {
        let mut rows: BTreeMap<String, u64> = BTreeMap::new();
        for stream in read(path).column("stream").unwrap().str().unwrap().iter() {
            *rows
                .entry(stream.expect("every row has its stream").to_string())
                .or_default() += 1;
        }
        rows
    };
    let count = |expected: &mut BTreeMap<String, u64>, stream: &str, message: &str| {
        *expected.entry(stream.to_string()).or_default() += message.lines().count() as u64;
    };

    let export = sample("layouts/filter-log-events.json");
    let path = dir.path().join("events.parquet");
    analyze(&[&export], &path);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    let mut expected = BTreeMap::new();
    for event in json["events"].as_array().unwrap() {
        let (stream, message) = (&event["logStreamName"], &event["message"]);
        count(
            &mut expected,
            stream.as_str().unwrap(),
            message.as_str().unwrap(),
        );
    }
    assert_eq!(streams_of(&path), expected);

    let results = sample("layouts/insights-results.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    let mut expected = BTreeMap::new();
    for row in json["results"].as_array().unwrap() {
        let field = |name: &str| {
            row.as_array()
                .unwrap()
                .iter()
                .find(|f| f["field"] == name)
                .and_then(|f| f["value"].as_str())
                .unwrap()
                .to_string()
        };
        count(&mut expected, &field("@logStream"), &field("@message"));
    }
    // The console's CSV export of the same results names the same streams.
    for (name, input) in [
        ("insights.parquet", results),
        (
            "insights-csv.parquet",
            sample("layouts/insights-export.csv"),
        ),
    ] {
        let path = dir.path().join(name);
        analyze(&[&input], &path);
        assert_eq!(streams_of(&path), expected, "{input}");
    }
}
