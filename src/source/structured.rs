//! Structured exports: CloudWatch JSON documents, NDJSON events, the Logs Insights CSV export.
//!
//! All of them reduce to `(timestamp, message)` pairs. A JSON document that does not parse is
//! read again as text lines (counted as malformed) so that a truncated download still yields
//! what it holds; an NDJSON line that does not parse is handed on as a text record.

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
        for line in message.lines().filter(|l| !l.trim().is_empty()) {
            stats.records += 1;
            sink(RawRecord {
                text: line.trim_end(),
                ts,
                input: index,
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
            for key in ["events", "logEvents", "results"] {
                if let Some(Value::Array(items)) = map.get(key) {
                    for item in items {
                        emit_value(item, index, found, sink);
                    }
                    return;
                }
            }
            let message = map.get("message").or_else(|| map.get("@message"));
            if let Some(Value::String(message)) = message {
                let ts = map
                    .get("timestamp")
                    .or_else(|| map.get("@timestamp"))
                    .and_then(json_ts);
                emit_message(message, ts, index, found, sink);
            }
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
                if let Some(message) = message {
                    emit_message(message, ts, index, found, sink);
                }
                return;
            }
            for item in items {
                emit_value(item, index, found, sink);
            }
        }
        _ => {}
    }
}

fn emit_message(
    message: &str,
    ts: Option<Millis>,
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
        });
    }
}

fn json_ts(value: &Value) -> Option<Millis> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => parse_ts_text(s),
        _ => None,
    }
}

fn parse_ts_text(text: &str) -> Option<Millis> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
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
        assert_eq!(stats.malformed, 2);
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
}
