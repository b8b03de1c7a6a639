//! Structured exports: CloudWatch JSON documents, NDJSON events, the Logs Insights CSV export.
//!
//! All of them reduce to `(timestamp, message)` pairs. A JSON document that does not parse is
//! read again as text lines (counted as malformed) so that a truncated download still yields
//! what it holds; an NDJSON line that does not parse is handed on as a text record. JSON that
//! is not a CloudWatch shape is never dropped: a logger's record (pino, bunyan, zap, structlog,
//! winston, logback) or an error object (Lambda's `errorType`/`errorMessage`) becomes one line
//! of its message and error fields, and anything else its own JSON text on one line.

use std::io::{self, BufRead};

use serde_json::Value;

use super::InputStats;
use super::lines::LineReader;
use crate::model::{Millis, RawRecord};

/// Reads a whole JSON document: `{"events":[...]}` (filter-log-events, get-log-events),
/// `{"logEvents":[...]}` (subscription payload), `{"results":[[{field,value}...]]}`
/// (get-query-results), or a bare array of events or result rows.
pub fn read_json(
    reader: &mut dyn BufRead,
    index: u32,
    stats: &mut InputStats,
    sink: &mut dyn FnMut(RawRecord<'_>),
) -> io::Result<()> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(doc) => {
            let mut found = 0u64;
            emit_value(&doc, index, &mut found, sink);
            stats.records += found;
            if found == 0 {
                stats.malformed += 1;
            }
        }
        Err(_) => {
            // Not one valid document: maybe concatenated objects (Firehose), maybe truncated.
            let mut stream = serde_json::Deserializer::from_slice(&bytes).into_iter::<Value>();
            let mut found = 0u64;
            let mut consumed = 0usize;
            while let Some(value) = stream.next() {
                match value {
                    Ok(value) => {
                        emit_value(&value, index, &mut found, sink);
                        consumed = stream.byte_offset();
                    }
                    Err(_) => break,
                }
            }
            stats.records += found;
            let rest = &bytes[consumed.min(bytes.len())..];
            let mut lines = LineReader::new(rest);
            while let Some(line) = lines.next_line()? {
                if line.text.trim().is_empty() {
                    continue;
                }
                stats.malformed += 1;
                stats.records += 1;
                sink(RawRecord {
                    text: &line.text,
                    ts: None,
                    input: index,
                    stream: None,
                });
            }
        }
    }
    Ok(())
}

/// Reads one JSON value per line; lines that are not JSON are passed on as text.
pub fn read_ndjson(
    reader: &mut dyn BufRead,
    index: u32,
    stats: &mut InputStats,
    sink: &mut dyn FnMut(RawRecord<'_>),
) -> io::Result<()> {
    let mut lines = LineReader::new(reader);
    while let Some(line) = lines.next_line()? {
        stats.invalid_utf8 += u64::from(line.invalid_utf8);
        stats.truncated_lines += u64::from(line.truncated);
        let text = line.text.trim();
        if text.is_empty() {
            continue;
        }
        let mut found = 0u64;
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            emit_value(&value, index, &mut found, sink);
        }
        if found == 0 {
            stats.malformed += 1;
            found = 1;
            sink(RawRecord {
                text,
                ts: None,
                input: index,
                stream: None,
            });
        }
        stats.records += found;
    }
    Ok(())
}

/// Reads the Logs Insights CSV export: a header row naming `@message` (and usually
/// `@timestamp`), quoted fields, messages possibly spanning lines.
pub fn read_csv(
    reader: &mut dyn BufRead,
    index: u32,
    stats: &mut InputStats,
    sink: &mut dyn FnMut(RawRecord<'_>),
) -> io::Result<()> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(reader);
    let headers = match csv.byte_headers() {
        Ok(headers) => headers.clone(),
        Err(e) => return Err(csv_io(e)),
    };
    let column = |name: &[u8]| headers.iter().position(|h| trim_bom(h) == name);
    let stream_col = column(b"@logStream");
    let (Some(message_col), ts_col) = (column(b"@message"), column(b"@timestamp")) else {
        stats.malformed += 1;
        return Ok(());
    };
    let mut record = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) if e.is_io_error() => return Err(csv_io(e)),
            Err(_) => {
                stats.malformed += 1;
                continue;
            }
        }
        let Some(message) = record.get(message_col) else {
            stats.malformed += 1;
            continue;
        };
        let message = String::from_utf8_lossy(message);
        let ts = ts_col
            .and_then(|c| record.get(c))
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(parse_ts_text);
        let stream = stream_col
            .and_then(|c| record.get(c))
            .and_then(|s| std::str::from_utf8(s).ok());
        for line in message.lines().filter(|l| !l.trim().is_empty()) {
            stats.records += 1;
            sink(RawRecord {
                text: line.trim_end(),
                ts,
                input: index,
                stream,
            });
        }
    }
    Ok(())
}

fn trim_bom(header: &[u8]) -> &[u8] {
    header.strip_prefix(b"\xef\xbb\xbf").unwrap_or(header)
}

fn csv_io(error: csv::Error) -> io::Error {
    match error.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, format!("{other:?}")),
    }
}

/// Emits every log event found in a JSON value.
fn emit_value(value: &Value, index: u32, found: &mut u64, sink: &mut dyn FnMut(RawRecord<'_>)) {
    match value {
        Value::Object(map) => {
            // CloudWatch's (events, logEvents, results) and RDS DescribeEvents' (Events).
            for key in ["events", "logEvents", "results", "Events"] {
                if let Some(Value::Array(items)) = map.get(key) {
                    for item in items {
                        emit_value(item, index, found, sink);
                    }
                    return;
                }
            }
            // A CloudWatch event: its message is a log line, perhaps several.
            if let Some(Value::String(message)) = map.get("message").or_else(|| map.get("@message"))
                && error_fields(map).is_empty()
            {
                let ts = map
                    .get("timestamp")
                    .or_else(|| map.get("@timestamp"))
                    .and_then(cloudwatch_ts);
                let stream = map
                    .get("logStreamName")
                    .or_else(|| map.get("@logStream"))
                    .and_then(Value::as_str);
                emit_message(message, ts, stream, index, found, sink);
                return;
            }
            // Anything else is a record of its own: a logger's JSON line, an error object.
            let text = record_text(map).unwrap_or_else(|| one_line(&value.to_string()));
            *found += 1;
            sink(RawRecord {
                text: &text,
                ts: record_ts(map),
                input: index,
                stream: None,
            });
        }
        Value::Array(items) => {
            // A Logs Insights result row is an array of {"field","value"} objects.
            if items.iter().all(|i| i.get("field").is_some()) && !items.is_empty() {
                let get = |name: &str| {
                    items
                        .iter()
                        .find(|i| i.get("field").and_then(Value::as_str) == Some(name))
                };
                let message = get("@message")
                    .and_then(|i| i.get("value"))
                    .and_then(Value::as_str);
                let ts = get("@timestamp")
                    .and_then(|i| i.get("value"))
                    .and_then(json_ts);
                let stream = get("@logStream")
                    .and_then(|i| i.get("value"))
                    .and_then(Value::as_str);
                if let Some(message) = message {
                    emit_message(message, ts, stream, index, found, sink);
                }
                return;
            }
            for item in items {
                emit_value(item, index, found, sink);
            }
        }
        Value::String(text) => emit_message(text, None, None, index, found, sink),
        _ => {}
    }
}

/// One line of text for a JSON value read from a text log: its message and error fields, or
/// its own JSON on one line.
pub(super) fn json_text(value: &Value) -> String {
    match value {
        Value::Object(map) => record_text(map).unwrap_or_else(|| one_line(&value.to_string())),
        other => one_line(&other.to_string()),
    }
}

/// Fields where loggers put the message, in the order they are tried: winston and most
/// (`message`), pino, bunyan and zap (`msg`), structlog (`event`), Docker and Fluent Bit
/// (`log`), Lambda (`errorMessage`), Google Cloud (`textPayload`), and
/// RDS events (`Message` in DescribeEvents, inside `detail` in EventBridge).
const MESSAGE_FIELDS: [&str; 9] = [
    "message",
    "msg",
    "event",
    "log",
    "errorMessage",
    "textPayload",
    "@message",
    "Message",
    "detail",
];

/// Fields that hold an error: pino and bunyan (`err`), many (`error`, `exception`), logback's
/// JSON encoder (`stack_trace`), Node (`stack`), Lambda's invocation error (`trace`,
/// `stackTrace`), and `cause`.
const ERROR_FIELDS: [&str; 7] = [
    "err",
    "error",
    "exception",
    "stack_trace",
    "stack",
    "trace",
    "cause",
];

fn error_fields(map: &serde_json::Map<String, Value>) -> Vec<&Value> {
    ERROR_FIELDS.iter().filter_map(|k| map.get(*k)).collect()
}

/// One line of text for a JSON record that is not a CloudWatch event: its message, the error
/// type and message, and from a stack trace its first line and every `Caused by:` line, joined
/// with ` | `. `None` when no known field holds text.
fn record_text(map: &serde_json::Map<String, Value>) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    // A part already said (or said within a longer one) is not repeated; a longer one that
    // says more replaces it.
    let push = |text: &str, parts: &mut Vec<String>| {
        let text = one_line(text.trim());
        if text.is_empty() || parts.iter().any(|p| p.contains(&text)) {
            return;
        }
        match parts.iter().position(|p| text.contains(p.as_str())) {
            Some(at) => parts[at] = text,
            None => parts.push(text),
        }
    };
    if let (Some(Value::String(kind)), Some(Value::String(message))) =
        (map.get("errorType"), map.get("errorMessage"))
    {
        push(&format!("{kind}: {message}"), &mut parts);
    }
    for field in MESSAGE_FIELDS {
        match map.get(field) {
            Some(Value::String(text)) => push(text, &mut parts),
            Some(Value::Object(inner)) => {
                if let Some(text) = record_text(inner) {
                    push(&text, &mut parts);
                }
            }
            _ => {}
        }
    }
    for value in error_fields(map) {
        match value {
            Value::String(text) => push(&stack_summary(text), &mut parts),
            Value::Object(inner) => {
                if let Some(text) = record_text(inner) {
                    push(&text, &mut parts);
                }
                for key in ["type", "name", "code"] {
                    if let Some(Value::String(kind)) = inner.get(key)
                        && !parts.iter().any(|p| p.contains(kind.as_str()))
                    {
                        push(kind, &mut parts);
                    }
                }
            }
            Value::Array(frames) => {
                let text: Vec<&str> = frames.iter().filter_map(Value::as_str).collect();
                push(&stack_summary(&text.join("\n")), &mut parts);
            }
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join(" | "))
}

/// A stack trace's first line (the error) and its `Caused by:` lines: where the cause is.
fn stack_summary(stack: &str) -> String {
    let mut lines = stack.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut out: Vec<&str> = lines.next().into_iter().collect();
    out.extend(lines.filter(|l| l.starts_with("Caused by:")));
    out.join(" | ")
}

/// The text on one line: line breaks become ` | `.
fn one_line(text: &str) -> String {
    if !text.contains(['\n', '\r']) {
        return text.to_string();
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A JSON record's time: `timestamp`, `@timestamp`, `time` (pino: epoch milliseconds;
/// bunyan: RFC 3339), `ts` (zap: epoch seconds), `timeMillis` (log4j2), `date`, `Date` (RDS
/// DescribeEvents).
fn record_ts(map: &serde_json::Map<String, Value>) -> Option<Millis> {
    [
        "timestamp",
        "@timestamp",
        "time",
        "ts",
        "timeMillis",
        "date",
        "datetime",
        "Date",
    ]
    .iter()
    .find_map(|k| map.get(*k).and_then(json_ts))
}

fn emit_message(
    message: &str,
    ts: Option<Millis>,
    stream: Option<&str>,
    index: u32,
    found: &mut u64,
    sink: &mut dyn FnMut(RawRecord<'_>),
) {
    // CloudWatch keeps a message's trailing newline; a multi-line message is several lines.
    for line in message.lines().filter(|l| !l.trim().is_empty()) {
        *found += 1;
        sink(RawRecord {
            text: line.trim_end(),
            ts,
            input: index,
            stream,
        });
    }
}

fn json_ts(value: &Value) -> Option<Millis> {
    match value {
        Value::Number(n) => n.as_f64().and_then(epoch_millis),
        Value::String(s) => parse_ts_text(s),
        _ => None,
    }
}

/// CloudWatch's own timestamps: epoch milliseconds, or text.
fn cloudwatch_ts(value: &Value) -> Option<Millis> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => parse_ts_text(s),
        _ => None,
    }
}

/// An epoch number in seconds, milliseconds, microseconds or nanoseconds (told apart by size:
/// any of them for a date between 1973 and 5138), in milliseconds.
fn epoch_millis(value: f64) -> Option<Millis> {
    let ms = match value.abs() {
        v if v < 1e11 => value * 1e3,
        v if v < 1e14 => value,
        v if v < 1e17 => value / 1e3,
        _ => value / 1e6,
    };
    ms.is_finite().then_some(ms as Millis)
}

fn parse_ts_text(text: &str) -> Option<Millis> {
    let text = text.trim();
    if let Ok(number) = text.parse::<f64>() {
        return epoch_millis(number);
    }
    crate::timefmt::timestamp(text).ok().map(|(_, (ts, _))| ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Reader =
        fn(&mut dyn BufRead, u32, &mut InputStats, &mut dyn FnMut(RawRecord<'_>)) -> io::Result<()>;

    fn collect(read: Reader, input: &str) -> (Vec<(String, Option<Millis>)>, InputStats) {
        let mut out = Vec::new();
        let mut stats = InputStats::default();
        let mut reader = input.as_bytes();
        read(&mut reader, 0, &mut stats, &mut |r| {
            out.push((r.text.to_string(), r.ts))
        })
        .unwrap();
        (out, stats)
    }

    #[test]
    fn filter_log_events_document() {
        let (out, stats) = collect(
            read_json,
            r#"{"events":[{"logStreamName":"s","timestamp":1712567843827,"message":"Test MESSAGE1\n","ingestionTime":1,"eventId":"1"}],"searchedLogStreams":[]}"#,
        );
        assert_eq!(
            out,
            [("Test MESSAGE1".to_string(), Some(1_712_567_843_827))]
        );
        assert_eq!(stats.records, 1);
    }

    #[test]
    fn insights_results_document() {
        let (out, _) = collect(
            read_json,
            r#"{"results":[[{"field":"@timestamp","value":"2024-05-19 06:10:35.743"},{"field":"@message","value":"m"}]],"status":"Complete"}"#,
        );
        assert_eq!(out, [("m".to_string(), Some(1_716_099_035_743))]);
    }

    #[test]
    fn truncated_document_falls_back_to_text() {
        let (out, stats) = collect(read_json, "{\"events\":[{\"message\":\"a\"},\n{\"mess");
        assert_eq!(out.len(), 2);
        assert_eq!(stats.malformed, 2);
    }

    #[test]
    fn concatenated_objects_are_all_read() {
        let (out, stats) = collect(
            read_json,
            r#"{"logEvents":[{"message":"a"}]}{"logEvents":[{"message":"b"}]}"#,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(stats.malformed, 0);
    }

    #[test]
    fn ndjson_with_a_bad_line() {
        let (out, stats) = collect(
            read_ndjson,
            "{\"message\":\"a\",\"timestamp\":5}\nnot json\n\n{\"x\":1}\n",
        );
        assert_eq!(out[0], ("a".to_string(), Some(5)));
        assert_eq!(out[1].0, "not json");
        // A JSON line of unknown shape is read as its text, not counted as malformed.
        assert_eq!(out[2].0, "{\"x\":1}");
        assert_eq!(stats.malformed, 1);
        assert_eq!(stats.records, 3);
    }

    #[test]
    fn insights_csv_with_quotes_and_newlines() {
        let (out, _) = collect(
            read_csv,
            "@timestamp,@message,@logStream\n\"2024-05-19 06:10:35.743\",\"say \"\"hi\"\"\",s\n2024-05-19 06:10:36.000,\"two\nlines\",s\nbroken\n",
        );
        assert_eq!(out[0], ("say \"hi\"".to_string(), Some(1_716_099_035_743)));
        assert_eq!(out[1].0, "two");
        assert_eq!(out[2].0, "lines");
        assert_eq!(out.len(), 3);
    }

    /// JSON that is not a CloudWatch export is read by its fields, never dropped: Lambda's
    /// error object (pretty-printed), pino, zap, structlog and logback lines, and a document
    /// of unknown shape as one line of text.
    #[test]
    fn json_records_that_are_not_cloudwatch_events() {
        let lambda = r#"{
  "errorType": "error",
  "errorMessage": "This RDS Proxy requires TLS connections",
  "trace": [
    "error: This RDS Proxy requires TLS connections",
    "    at Parser.parseErrorMessage (/var/task/node_modules/pg-protocol/dist/parser.js:287:98)"
  ]
}"#;
        let (out, stats) = collect(read_json, lambda);
        assert_eq!(
            out,
            [(
                "error: This RDS Proxy requires TLS connections".to_string(),
                None
            )]
        );
        assert_eq!((stats.records, stats.malformed), (1, 0));

        let pino = r#"{"level":50,"time":1764036750123,"pid":8,"hostname":"api-7d9","err":{"type":"Error","message":"Timed-out waiting to acquire database connection","stack":"Error: Timed-out waiting to acquire database connection\n    at /app/node_modules/pg/lib/client.js:526:17"},"msg":"checkout failed"}"#;
        let zap = r#"{"level":"error","ts":1764036750.5,"caller":"repo/orders.go:57","msg":"query failed","error":"failed to connect to `host=orders.proxy-abc.us-east-1.rds.amazonaws.com user=app database=orders`: server error (FATAL: This RDS Proxy requires TLS connections (SQLSTATE 08004))"}"#;
        let structlog = r#"{"event": "db connect failed", "exc_info": true, "error": "FATAL:  The IAM authentication failed for the role app_iam. Check the IAM token for this role and try again.", "timestamp": "2026-11-25T02:12:31.120Z", "level": "error"}"#;
        let logback = r#"{"@timestamp":"2026-11-25T02:12:31.120+00:00","level":"ERROR","logger_name":"com.zaxxer.hikari.pool.HikariPool","message":"HikariPool-1 - Exception during pool initialization.","stack_trace":"org.postgresql.util.PSQLException: FATAL: This RDS proxy has no credentials for the role reporting. Check the credentials for this role and try again.\n\tat org.postgresql.core.v3.ConnectionFactoryImpl.doAuthentication(ConnectionFactoryImpl.java:646)\nCaused by: java.io.EOFException: null"}"#;
        let text = format!("{pino}\n{zap}\n{structlog}\n{logback}\n");
        let (out, stats) = collect(read_ndjson, &text);
        assert_eq!(stats.malformed, 0);
        assert_eq!(
            out[0],
            (
                "checkout failed | Error: Timed-out waiting to acquire database connection"
                    .to_string(),
                Some(1_764_036_750_123)
            )
        );
        assert_eq!(out[1].1, Some(1_764_036_750_500));
        assert!(
            out[1]
                .0
                .contains("This RDS Proxy requires TLS connections (SQLSTATE 08004)")
        );
        assert!(
            out[2]
                .0
                .starts_with("db connect failed | FATAL:  The IAM authentication failed")
        );
        assert_eq!(out[2].1, Some(1_795_572_751_120));
        assert!(
            out[3]
                .0
                .contains("This RDS proxy has no credentials for the role reporting")
                && out[3].0.contains("Caused by: java.io.EOFException"),
            "{}",
            out[3].0
        );

        // No field proxydoc knows: the whole document as one line, not nothing.
        let (out, stats) = collect(
            read_json,
            "{\n  \"detail\": {\"reason\": \"Timed-out waiting to acquire database connection\"}\n}",
        );
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .0
                .contains("Timed-out waiting to acquire database connection")
        );
        assert_eq!(stats.records, 1);
    }

    #[test]
    fn epoch_numbers_of_every_unit() {
        for value in [
            1_764_036_750.0,
            1_764_036_750_000.0,
            1_764_036_750_000_000.0,
            1.76403675e18,
        ] {
            assert_eq!(epoch_millis(value), Some(1_764_036_750_000), "{value}");
        }
    }
}
