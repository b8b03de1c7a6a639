//! Structured exports: CloudWatch JSON documents, NDJSON events, the Logs Insights CSV export.
//!
//! All of them reduce to `(timestamp, message)` pairs. A JSON document is read an event at a
//! time; from where it stops parsing (a truncated download), the rest is read as text lines
//! (counted as malformed), so it still yields what it holds; an NDJSON line that does not
//! parse is handed on as a text record. JSON that
//! is not a CloudWatch shape is never dropped: a logger's record (pino, bunyan, zap, structlog,
//! winston, logback) or an error object (Lambda's `errorType`/`errorMessage`) becomes one line
//! of its message and error fields, and anything else its own JSON text on one line.

use std::borrow::Cow;
use std::io::{self, BufRead, Read};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::InputStats;
use super::event_scan::{self, PlainEvent};
use super::lines::LineReader;
use crate::model::{Millis, RawRecord};

/// Reads JSON documents: `{"events":[...]}` (filter-log-events, get-log-events),
/// `{"logEvents":[...]}` (subscription payload), `{"results":[[{field,value}...]]}`
/// (get-query-results), a bare array of events or result rows, or several such values one
/// after another (Firehose).
///
/// The document is streamed, never held whole: the elements of its event array are parsed
/// and handed on one at a time from a window of the input ([`Chunks`]), so a day of
/// `filter-log-events` output takes the memory of its largest event. A document cut short or
/// damaged keeps the events before the damage; the rest, from the element that failed, is
/// read as text lines counted as malformed. When nothing was handed on yet, the lines start
/// at the input's beginning (kept up to [`REPLAY_MAX`] bytes), so a text file taken for JSON
/// loses nothing.
pub fn read_json(
    reader: &mut dyn BufRead,
    index: u32,
    stats: &mut InputStats,
    sink: &mut dyn FnMut(RawRecord<'_>),
) -> io::Result<()> {
    read_json_by(reader, CHUNK, index, stats, sink)
}

/// [`read_json`], reading `chunk` bytes at a time.
fn read_json_by(
    reader: &mut dyn BufRead,
    chunk: usize,
    index: u32,
    stats: &mut InputStats,
    sink: &mut dyn FnMut(RawRecord<'_>),
) -> io::Result<()> {
    let mut chunks = Chunks {
        reader,
        chunk: chunk.max(1),
        buf: Vec::new(),
        end: 0,
        pos: 0,
        at_end: false,
        from_start: true,
        committed: false,
    };
    let mut found = 0u64;
    let mut parsed = 0u64;
    let failed = loop {
        match read_document(&mut chunks, index, &mut found, sink) {
            Ok(true) => parsed += 1,
            Ok(false) => break false,
            Err(Failure::Io(e)) => {
                // The events before the error were handed on: they are counted.
                stats.records += found;
                return Err(e);
            }
            Err(Failure::Syntax) => break true,
        }
    };
    stats.records += found;
    if !failed {
        if found == 0 && parsed > 0 {
            stats.malformed += 1;
        }
        return Ok(());
    }
    // The rest, as text: from the element that failed, or from the start when nothing was
    // handed on and all of it is still here.
    let from = if found == 0 && chunks.from_start {
        0
    } else {
        chunks.pos
    };
    chunks.buf.truncate(chunks.end);
    let kept = chunks.buf.split_off(from.min(chunks.buf.len()));
    let mut lines = LineReader::new(io::Cursor::new(kept).chain(chunks.reader));
    let mut salvaged = 0u64;
    while let Some(line) = lines.next_line()? {
        if line.text.trim().is_empty() {
            continue;
        }
        salvaged += 1;
        sink(RawRecord {
            text: &line.text,
            ts: None,
            input: index,
            stream: None,
        });
    }
    stats.records += salvaged;
    stats.malformed += salvaged.max(1);
    Ok(())
}

/// Bytes of a JSON input kept, until its first record is handed on, to read them again as text
/// if it turns out not to be JSON.
const REPLAY_MAX: usize = 1 << 20;

/// Bytes read from the input at a time.
const CHUNK: usize = 1 << 20;

/// Why a JSON input stopped being read as JSON.
enum Failure {
    Io(io::Error),
    /// Not JSON there, or cut short.
    Syntax,
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        Failure::Io(error)
    }
}

/// A window of a JSON input: each element is parsed from it with `serde_json`'s slice reader
/// (several times faster than its reader of `io::Read`) and the window moves on; an element
/// that runs past the window's end is parsed again once more is read.
struct Chunks<'r> {
    reader: &'r mut dyn BufRead,
    /// Bytes read at a time ([`CHUNK`]; less in the tests).
    chunk: usize,
    /// The window, `..end`; the bytes after it were read into before and are kept, so that
    /// the next read does not fill them with zeros again.
    buf: Vec<u8>,
    end: usize,
    /// Where the next element starts.
    pos: usize,
    at_end: bool,
    /// `buf` still starts at the input's first byte.
    from_start: bool,
    /// A record was handed on: what was read need not be kept to be read again.
    committed: bool,
}

impl Chunks<'_> {
    /// Reads more of the input; false at its end. What was parsed is dropped first, unless it
    /// may have to be read again as text.
    fn more(&mut self) -> io::Result<bool> {
        if self.at_end {
            return Ok(false);
        }
        if self.pos > 0 && (self.committed || self.end > REPLAY_MAX) {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            self.from_start = false;
        }
        // An element longer than a chunk is parsed again after each read: reading as much as
        // it holds so far keeps that to a few times, whatever its size.
        let old = self.end;
        let want = self.chunk.max(old.saturating_sub(self.pos));
        if self.buf.len() < old + want {
            self.buf.resize(old + want, 0);
        }
        let n = loop {
            match self
                .reader
                .read(self.buf.get_mut(old..old + want).unwrap_or_default())
            {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.end = old + n;
        self.at_end = n == 0;
        Ok(n > 0)
    }

    /// What was read and not yet parsed.
    fn rest(&self) -> &[u8] {
        self.buf.get(self.pos..self.end).unwrap_or_default()
    }

    /// The next byte that is not JSON whitespace, not consumed; `None` at the input's end.
    fn peek(&mut self) -> io::Result<Option<u8>> {
        loop {
            let rest = self.rest();
            match rest.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(at) => {
                    let byte = rest.get(at).copied();
                    self.pos += at;
                    return Ok(byte);
                }
                None => {
                    self.pos = self.end;
                    if !self.more()? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Parses one `T` at the current position, reading more while it runs past the window.
    fn parse<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Failure> {
        loop {
            let rest = self.buf.get(self.pos..self.end).unwrap_or_default();
            let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<T>();
            let (next, end, whole) = (values.next(), values.byte_offset(), rest.len());
            match next {
                // A number at the window's end may go on past it: read on and parse it again.
                Some(Ok(_)) if end == whole && self.more()? => {}
                Some(Ok(value)) => {
                    self.pos += end;
                    return Ok(value);
                }
                Some(Err(e)) if e.is_eof() => {
                    if !self.more()? {
                        return Err(Failure::Syntax);
                    }
                }
                // Nothing but whitespace left in the window: the value is in what follows.
                None => {
                    if !self.more()? {
                        return Err(Failure::Syntax);
                    }
                }
                Some(Err(_)) => return Err(Failure::Syntax),
            }
        }
    }

    /// Hands on the element at the current position when it is a plain CloudWatch event
    /// ([`CloudWatchEvent`]) and `fast` (with `stream` when it names none); otherwise returns
    /// it as a value.
    fn element(
        &mut self,
        mut fast: bool,
        stream: Option<&str>,
        index: u32,
        found: &mut u64,
        sink: &mut dyn FnMut(RawRecord<'_>),
    ) -> Result<Option<Value>, Failure> {
        while fast {
            let rest = self.buf.get(self.pos..self.end).unwrap_or_default();
            // The CLI's own events are read by hand; anything else, by serde. `Err(true)`: cut
            // by the window's end.
            let read = match event_scan::plain_event(rest) {
                Some(read) => Ok(read),
                None => {
                    let mut events =
                        serde_json::Deserializer::from_slice(rest).into_iter::<CloudWatchEvent>();
                    match events.next() {
                        Some(Ok(event)) => Ok((event.into_plain(), events.byte_offset())),
                        Some(Err(e)) if e.is_eof() => Err(true),
                        // Not a plain event: read as a value.
                        _ => Err(false),
                    }
                }
            };
            match read {
                Ok((event, end)) => {
                    let before = *found;
                    event.emit(stream, index, found, sink);
                    self.committed |= *found > before;
                    self.pos += end;
                    return Ok(None);
                }
                Err(true) => {
                    if !self.more()? {
                        return Err(Failure::Syntax);
                    }
                }
                Err(false) => fast = false,
            }
        }
        self.parse::<Value>().map(Some)
    }
}

/// Reads the next top-level JSON value: false at the input's end. The array of a CloudWatch
/// document (`events`, `logEvents`, `results`, or DescribeEvents' `Events`) or a bare array is
/// read an element at a time, each handed on as [`emit_value`] would; any other value is read
/// whole and handed to [`emit_value`]. The array taken is the first of those keys in the
/// document's order that holds one (a document has only one of them); once it is read, the
/// other keys' values are read one at a time and dropped.
fn read_document(
    chunks: &mut Chunks<'_>,
    index: u32,
    found: &mut u64,
    sink: &mut dyn FnMut(RawRecord<'_>),
) -> Result<bool, Failure> {
    let before = *found;
    match chunks.peek()? {
        None => return Ok(false),
        Some(b'{') => {
            chunks.pos += 1;
            let mut rest = serde_json::Map::new();
            let mut held = Held::default();
            let read = read_object(chunks, &mut rest, &mut held, index, found, sink);
            // Events held for the payload's stream go on even when the rest is damaged.
            let stream = payload_stream(&rest);
            for item in held.items.drain(..) {
                emit_in(&item, stream, index, found, sink);
            }
            if !read? {
                emit_value(&Value::Object(rest), index, found, sink);
            }
        }
        Some(b'[') => read_array(chunks, true, None, index, found, sink)?,
        Some(_) => {
            let value: Value = chunks.parse()?;
            emit_value(&value, index, found, sink);
        }
    }
    chunks.committed |= *found > before;
    Ok(true)
}

/// The events of a subscription payload whose `logStream` has not come yet (its keys were
/// sorted, as `jq -S` or Python's `sort_keys` print them: `logEvents` comes first), held
/// until the payload ends to be given its stream; at most [`HELD_MAX`] bytes of messages,
/// then handed on without it.
#[derive(Default)]
struct Held {
    items: Vec<Value>,
    bytes: usize,
}

/// Messages held for a payload's stream: CloudWatch delivers at most 1 MB a payload.
const HELD_MAX: usize = 4 << 20;

/// Reads the keys of the object whose `{` was just read, through its `}`: the array of events
/// an element at a time (see [`read_document`]), the other keys into `rest` while no array was
/// read and dropped after. True when the events' array was read.
fn read_object(
    chunks: &mut Chunks<'_>,
    rest: &mut serde_json::Map<String, Value>,
    held: &mut Held,
    index: u32,
    found: &mut u64,
    sink: &mut dyn FnMut(RawRecord<'_>),
) -> Result<bool, Failure> {
    let mut streamed = false;
    loop {
        match chunks.peek()? {
            Some(b'}') => {
                chunks.pos += 1;
                return Ok(streamed);
            }
            Some(b',') => chunks.pos += 1,
            Some(b'"') => {
                let key: String = chunks.parse()?;
                if chunks.peek()? != Some(b':') {
                    return Err(Failure::Syntax);
                }
                chunks.pos += 1;
                if streamed && (held.items.is_empty() || key != "logStream") {
                    // Read to be skipped (serde_json's skipping reader does not tell a value
                    // cut by the window's end from a bad one).
                    chunks.parse::<Value>()?;
                } else if !streamed
                    && EVENT_ARRAYS.contains(&key.as_str())
                    && chunks.peek()? == Some(b'[')
                {
                    let stream = payload_stream(rest);
                    if key == "logEvents" && stream.is_none() {
                        read_held(chunks, held, index, found, sink)?;
                    } else {
                        read_array(chunks, false, stream, index, found, sink)?;
                    }
                    streamed = true;
                } else {
                    rest.insert(key, chunks.parse()?);
                }
            }
            _ => return Err(Failure::Syntax),
        }
    }
}

/// Reads a payload's `logEvents` array before its `logStream` is known: its elements are held
/// (see [`Held`]); past [`HELD_MAX`] they and the rest are handed on without a stream.
fn read_held(
    chunks: &mut Chunks<'_>,
    held: &mut Held,
    index: u32,
    found: &mut u64,
    sink: &mut dyn FnMut(RawRecord<'_>),
) -> Result<(), Failure> {
    chunks.pos += 1;
    let mut full = false;
    loop {
        match chunks.peek()? {
            Some(b']') => {
                chunks.pos += 1;
                return Ok(());
            }
            Some(b',') => chunks.pos += 1,
            Some(_) => {
                let item: Value = chunks.parse()?;
                if full {
                    emit_in(&item, None, index, found, sink);
                    continue;
                }
                held.bytes += item
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or(64, |m| m.len() + 64);
                held.items.push(item);
                if held.bytes > HELD_MAX {
                    full = true;
                    for item in held.items.drain(..) {
                        emit_in(&item, None, index, found, sink);
                    }
                }
            }
            None => return Err(Failure::Syntax),
        }
    }
}

/// The keys whose array holds a document's events, as [`emit_value`] looks for them.
const EVENT_ARRAYS: [&str; 4] = ["events", "logEvents", "results", "Events"];

/// Reads the array at the current position an element at a time. `bare`: a top-level array,
/// which may itself be one Logs Insights result row (all its elements `{field, value}`
/// objects): those are held until an element that is not one, as [`emit_value`] reads a row.
/// `stream`: the document's (a subscription payload's `logStream`, when it comes before the
/// array, as CloudWatch writes it), for the events that name none.
fn read_array(
    chunks: &mut Chunks<'_>,
    bare: bool,
    stream: Option<&str>,
    index: u32,
    found: &mut u64,
    sink: &mut dyn FnMut(RawRecord<'_>),
) -> Result<(), Failure> {
    chunks.pos += 1;
    let mut row: Vec<Value> = Vec::new();
    let mut only_fields = bare;
    loop {
        match chunks.peek()? {
            Some(b']') => {
                chunks.pos += 1;
                break;
            }
            Some(b',') => chunks.pos += 1,
            Some(_) => {
                // While fields are held, the next element is not handed on before them.
                let fast = row.is_empty();
                let Some(item) = chunks.element(fast, stream, index, found, sink)? else {
                    // A CloudWatch event, handed on: the array is not a row.
                    only_fields = false;
                    continue;
                };
                if only_fields && item.get("field").is_some() {
                    row.push(item);
                    continue;
                }
                if only_fields {
                    only_fields = false;
                    flush_row(&mut row, stream, index, found, sink);
                }
                emit_in(&item, stream, index, found, sink);
            }
            None => return Err(Failure::Syntax),
        }
    }
    if !row.is_empty() {
        emit_in(&Value::Array(row), stream, index, found, sink);
    }
    Ok(())
}

/// Hands on, each on its own, the `{field, value}` elements held for a result row that the
/// array turned out not to be.
fn flush_row(
    row: &mut Vec<Value>,
    stream: Option<&str>,
    index: u32,
    found: &mut u64,
    sink: &mut dyn FnMut(RawRecord<'_>),
) {
    for held in row.drain(..) {
        emit_in(&held, stream, index, found, sink);
    }
}

/// A CloudWatch event object with nothing else in it, read without building a `Value`: what
/// [`emit_value`] would read from it (the message, `timestamp`, `logStreamName`), and the
/// other fields CloudWatch writes, ignored. Any other field (an error field, a logger's) or a
/// value of another type fails this, and the object is read as a `Value` instead. Most events
/// never get here: [`event_scan::plain_event`] reads the CLI's own by hand first, and this
/// reads what it was not sure of (and is what its tests hold it to).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CloudWatchEvent<'a> {
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(default)]
    timestamp: Option<Value>,
    #[serde(default, borrow, rename = "logStreamName")]
    stream: Option<Cow<'a, str>>,
    #[serde(default, rename = "ingestionTime")]
    _ingestion_time: IgnoredAny,
    #[serde(default, rename = "eventId")]
    _event_id: IgnoredAny,
    #[serde(default, rename = "id")]
    _id: IgnoredAny,
    #[serde(default, rename = "logGroupName")]
    _log_group_name: IgnoredAny,
}

impl<'a> CloudWatchEvent<'a> {
    /// The fields handed on. serde borrows a message only when it holds no escape, so a
    /// borrowed message has no line break, as [`PlainEvent::emit`] expects.
    pub(super) fn into_plain(self) -> PlainEvent<'a> {
        PlainEvent {
            message: self.message,
            ts: self.timestamp.as_ref().and_then(cloudwatch_ts),
            stream: self.stream,
        }
    }
}

impl PlainEvent<'_> {
    /// Hands the event on (a line of its message at a time); `stream` for an event that names
    /// none.
    fn emit(
        &self,
        stream: Option<&str>,
        index: u32,
        found: &mut u64,
        sink: &mut dyn FnMut(RawRecord<'_>),
    ) {
        let stream = self.stream.as_deref().or(stream);
        match &self.message {
            // Borrowed, the message had no escape, so no line break (JSON refuses a raw one):
            // it is one line, which `emit_message` would not have to look for.
            Cow::Borrowed(text) => {
                if !text.trim().is_empty() {
                    *found += 1;
                    sink(RawRecord {
                        text: text.trim_end(),
                        ts: self.ts,
                        input: index,
                        stream,
                    });
                }
            }
            Cow::Owned(text) => emit_message(text, self.ts, stream, index, found, sink),
        }
    }
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
        if let Some((event, _)) =
            event_scan::plain_event(text.as_bytes()).filter(|(_, end)| *end == text.len())
        {
            event.emit(None, index, &mut found, sink);
        } else if let Ok(event) = serde_json::from_str::<CloudWatchEvent>(text) {
            event.into_plain().emit(None, index, &mut found, sink);
        } else if let Ok(value) = serde_json::from_str::<Value>(text) {
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
    emit_in(value, None, index, found, sink);
}

/// [`emit_value`] for a value inside a document that names its log stream (a subscription
/// payload's `logStream`): `stream`, for the events that do not name their own.
fn emit_in(
    value: &Value,
    stream: Option<&str>,
    index: u32,
    found: &mut u64,
    sink: &mut dyn FnMut(RawRecord<'_>),
) {
    match value {
        Value::Object(map) => {
            // CloudWatch's (events, logEvents, results) and RDS DescribeEvents' (Events).
            for key in EVENT_ARRAYS {
                if let Some(Value::Array(items)) = map.get(key) {
                    let stream = payload_stream(map).or(stream);
                    for item in items {
                        emit_in(item, stream, index, found, sink);
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
                    .and_then(Value::as_str)
                    .or(stream);
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
                    .and_then(Value::as_str)
                    .or(stream);
                if let Some(message) = message {
                    emit_message(message, ts, stream, index, found, sink);
                }
                return;
            }
            for item in items {
                emit_in(item, stream, index, found, sink);
            }
        }
        Value::String(text) => emit_message(text, None, stream, index, found, sink),
        _ => {}
    }
}

/// A subscription payload's log stream (`{"logStream": …, "logEvents": [...]}`): its events
/// name none of their own.
fn payload_stream(map: &serde_json::Map<String, Value>) -> Option<&str> {
    map.get("logStream").and_then(Value::as_str)
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
    use proptest::prelude::*;

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
    fn truncated_document_keeps_the_events_before_the_cut() {
        let (out, stats) = collect(
            read_json,
            "{\"events\":[{\"message\":\"a\",\"timestamp\":5},\n{\"message\":\"b\"},{\"mess",
        );
        assert_eq!(
            out,
            [
                ("a".to_string(), Some(5)),
                ("b".to_string(), None),
                ("{\"mess".to_string(), None)
            ]
        );
        assert_eq!((stats.records, stats.malformed), (3, 1));
        // Damage in the middle: the events before it, then the rest as text lines, from the
        // element that failed.
        let (out, stats) = collect(
            read_json,
            "{\"events\":[{\"message\":\"a\"},\n{\"message\": oops},\n{\"message\":\"c\"}]}\n",
        );
        assert_eq!(out[0].0, "a");
        assert_eq!(
            out[1..].iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
            ["{\"message\": oops},", "{\"message\":\"c\"}]}"]
        );
        assert_eq!((stats.records, stats.malformed), (3, 2));
    }

    #[test]
    fn an_event_far_longer_than_the_window_is_read_whole() {
        let message = "x".repeat(4 << 20);
        let input = format!(
            r#"{{"events":[{{"timestamp":9,"message":"{message}"}},{{"message":"next"}}]}}"#
        );
        let mut out = Vec::new();
        let mut stats = InputStats::default();
        read_json_by(&mut input.as_bytes(), 64, 0, &mut stats, &mut |r| {
            out.push((r.text.len(), r.ts))
        })
        .unwrap();
        assert_eq!(out, [(4 << 20, Some(9)), (4, None)]);
        assert_eq!(stats.malformed, 0);
    }

    #[test]
    fn a_read_error_keeps_the_events_before_it() {
        /// Its bytes, then an error.
        struct Broken<'a>(&'a [u8]);
        impl Read for Broken<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::Error::other("disk gone"));
                }
                self.0.read(buf)
            }
        }
        let doc = r#"{"events":[{"message":"a"},{"message":"b"},{"mess"#;
        let mut reader = io::BufReader::with_capacity(8, Broken(doc.as_bytes()));
        let mut out = Vec::new();
        let mut stats = InputStats::default();
        let error = read_json_by(&mut reader, 8, 0, &mut stats, &mut |r| {
            out.push(r.text.to_string())
        })
        .unwrap_err();
        assert_eq!(error.to_string(), "disk gone");
        assert_eq!(out, ["a", "b"]);
        assert_eq!(stats.records, 2);
    }

    #[test]
    fn text_taken_for_json_is_read_again_from_its_start() {
        let text = "[x] not json at all\nsecond line\n";
        let (out, stats) = collect(read_json, text);
        assert_eq!(
            out.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
            ["[x] not json at all", "second line"]
        );
        assert_eq!((stats.records, stats.malformed), (2, 2));
    }

    #[test]
    fn the_event_array_is_found_among_other_keys_in_any_order() {
        let (out, stats) = collect(
            read_json,
            r#"{"nextForwardToken":"f/1","events":[{"timestamp":1,"message":"a"},{"timestamp":2,"message":"b\nc"}],"searchedLogStreams":[{"logStreamName":"s","searchedCompletely":true}],"nextBackwardToken":"b/1"}"#,
        );
        assert_eq!(
            out,
            [
                ("a".to_string(), Some(1)),
                ("b".to_string(), Some(2)),
                ("c".to_string(), Some(2))
            ]
        );
        assert_eq!((stats.records, stats.malformed), (3, 0));
        // A key of that name that holds no array leaves the object what it is: here a record.
        let (out, _) = collect(read_json, r#"{"events":3,"message":"m","timestamp":7}"#);
        assert_eq!(out, [("m".to_string(), Some(7))]);
        // Nothing to read in a valid document is counted, once.
        let (out, stats) = collect(read_json, r#"{"events":[]} {"events":[]}"#);
        assert!(out.is_empty());
        assert_eq!(stats.malformed, 1);
    }

    /// The records as the whole document, parsed at once, gives them: the reference the
    /// streamed reading must equal.
    /// A record as the tests compare them: text, time, stream.
    type Record = (String, Option<Millis>, Option<String>);

    fn whole_document(input: &str) -> Vec<Record> {
        let mut out = Vec::new();
        let mut found = 0;
        for value in serde_json::Deserializer::from_str(input).into_iter::<Value>() {
            emit_value(&value.unwrap(), 0, &mut found, &mut |r| {
                out.push((r.text.to_string(), r.ts, r.stream.map(str::to_string)))
            });
        }
        out
    }

    fn streamed(input: &str, chunk: usize) -> Vec<Record> {
        let mut out = Vec::new();
        let mut stats = InputStats::default();
        read_json_by(&mut input.as_bytes(), chunk, 0, &mut stats, &mut |r| {
            out.push((r.text.to_string(), r.ts, r.stream.map(str::to_string)))
        })
        .unwrap();
        assert_eq!(stats.malformed, u64::from(out.is_empty()), "{input}");
        assert_eq!(stats.records, out.len() as u64);
        out
    }

    fn event() -> impl Strategy<Value = Value> + Clone {
        let text = "[a-z\\[\\] =.\n\"]{0,30}";
        prop_oneof![
            (text, proptest::option::of(0i64..2_000_000_000_000), proptest::option::of("[a-z0-9]{1,8}"))
                .prop_map(|(m, t, s)| {
                    let mut event = serde_json::json!({"message": m, "ingestionTime": 1});
                    if let Some(t) = t { event["timestamp"] = t.into(); }
                    if let Some(s) = s { event["logStreamName"] = s.into(); }
                    event
                }),
            (text, text).prop_map(|(m, e)| serde_json::json!({"msg": m, "err": {"message": e}})),
            text.prop_map(|m| serde_json::json!([{"field": "@message", "value": m}, {"field": "@timestamp", "value": "2024-05-19 06:10:35.743"}])),
            text.prop_map(|m| serde_json::json!({"field": "@message", "value": m})),
            text.prop_map(Value::String),
            (0u64..10).prop_map(Value::from),
        ]
    }

    fn document() -> impl Strategy<Value = Value> {
        let events = || proptest::collection::vec(event(), 0..6);
        prop_oneof![
            (
                events(),
                proptest::sample::select(EVENT_ARRAYS.to_vec()),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(events, key, token_first, stream_after)| {
                    let mut doc = serde_json::Map::new();
                    if token_first {
                        doc.insert("nextToken".into(), "t".into());
                        doc.insert("logStream".into(), "payload-stream".into());
                    }
                    doc.insert(key.into(), Value::Array(events));
                    doc.insert(
                        "searchedLogStreams".into(),
                        serde_json::json!([{"logStreamName": "s"}]),
                    );
                    // A subscription payload with sorted keys: its stream after its events.
                    if stream_after && !token_first && key == "logEvents" {
                        doc.insert("logStream".into(), "sorted-payload-stream".into());
                        doc.insert("messageType".into(), "DATA_MESSAGE".into());
                    }
                    Value::Object(doc)
                }),
            events().prop_map(Value::Array),
            event(),
        ]
    }

    proptest! {
        /// An event, read by hand or by serde, is handed on as every message was before the
        /// hand reader: a record per line (a borrowed message is taken as one line).
        #[test]
        fn a_plain_event_is_handed_on_as_serde_reads_it(
            message in "(?s).{0,30}|[ a-z\t\r\n\u{85}\u{2028}\u{3000}\"\\\\]{0,30}",
            ts in proptest::option::of(0i64..2_000_000_000_000),
        ) {
            let mut event = serde_json::json!({"message": message, "logStreamName": "s"});
            if let Some(ts) = ts {
                event["timestamp"] = ts.into();
            }
            let text = event.to_string();
            // 0: read by hand; 1: read by serde; 2: what every message was given before the
            // hand reader, a record per line of serde's message.
            let records = |how: u8| {
                let mut out: Vec<Record> = Vec::new();
                let mut found = 0;
                let mut sink = |r: RawRecord<'_>| {
                    out.push((r.text.to_string(), r.ts, r.stream.map(str::to_string)))
                };
                if how == 0 {
                    let (event, _) = event_scan::plain_event(text.as_bytes()).expect("read by hand");
                    event.emit(Some("other"), 0, &mut found, &mut sink);
                } else {
                    let event: CloudWatchEvent = serde_json::from_str(&text).expect("read by serde");
                    if how == 1 {
                        event.into_plain().emit(Some("other"), 0, &mut found, &mut sink);
                    } else {
                        let ts = event.timestamp.as_ref().and_then(cloudwatch_ts);
                        let stream = event.stream.as_deref().or(Some("other"));
                        emit_message(&event.message, ts, stream, 0, &mut found, &mut sink);
                    }
                }
                assert_eq!(found, out.len() as u64);
                out
            };
            prop_assert_eq!(records(0), records(2));
            prop_assert_eq!(records(1), records(2));
        }

        /// Streamed, a document (or several one after another) gives the records, times and
        /// streams that reading it whole gives.
        #[test]
        fn streaming_gives_what_the_whole_document_gives(
            docs in proptest::collection::vec(document(), 1..4),
            pretty in any::<bool>(),
            chunk in prop_oneof![1usize..40, Just(CHUNK)],
        ) {
            let input: Vec<String> = docs
                .iter()
                .map(|d| if pretty { serde_json::to_string_pretty(d).unwrap() } else { d.to_string() })
                .collect();
            let input = input.join("\n");
            prop_assert_eq!(streamed(&input, chunk), whole_document(&input));
        }

        /// Any bytes: never a panic, and every record counted.
        #[test]
        fn any_bytes_are_read_without_failing(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            chunk in 1usize..40,
        ) {
            let mut stats = InputStats::default();
            let mut records = 0u64;
            read_json_by(&mut &bytes[..], chunk, 0, &mut stats, &mut |_| records += 1).unwrap();
            prop_assert_eq!(stats.records, records);
        }

        /// A document cut anywhere: the events wholly before the cut are handed on as events,
        /// in order, and nothing of the input is lost (the rest comes as text).
        #[test]
        fn a_cut_document_keeps_what_came_before_the_cut(
            docs in proptest::collection::vec(document(), 1..3),
            cut in any::<proptest::sample::Index>(),
            chunk in 1usize..40,
        ) {
            let input: Vec<String> = docs.iter().map(|d| serde_json::to_string_pretty(d).unwrap()).collect();
            let input = input.join("\n");
            let cut = cut.index(input.len() + 1);
            let Some(head) = input.get(..cut) else { return Ok(()) };
            let whole = whole_document(&input);
            let mut out = Vec::new();
            let mut stats = InputStats::default();
            read_json_by(&mut head.as_bytes(), chunk, 0, &mut stats, &mut |r| {
                out.push((r.text.to_string(), r.ts, r.stream.map(str::to_string)))
            })
            .unwrap();
            prop_assert_eq!(stats.records, out.len() as u64);
            // What came as events is the whole document's records up to the cut, and what
            // came after them is lines of the input, as text. A payload with sorted keys cut
            // before its stream gives its events none.
            let same = |a: &Record, b: &Record| {
                a.0 == b.0
                    && a.1 == b.1
                    && (a.2 == b.2
                        || (a.2.is_none() && b.2.as_deref() == Some("sorted-payload-stream")))
            };
            let events = out.iter().zip(&whole).take_while(|(a, b)| same(a, b)).count();
            if stats.malformed == 0 {
                prop_assert_eq!(events, out.len());
            }
            for (text, ts, stream) in &out[events..] {
                prop_assert!(ts.is_none() && stream.is_none());
                // The first may start within a line: where the element that failed starts.
                prop_assert!(
                    head.lines().any(|l| l.trim_end().ends_with(text.trim())),
                    "{:?} is no line",
                    text
                );
            }
            prop_assert!(stats.malformed >= u64::from(events < out.len()));
        }
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
    fn subscription_payloads_give_their_events_the_payloads_stream() {
        // Two payloads one after another, as Firehose writes them to S3.
        let input = concat!(
            r#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"/aws/rds/proxy/p","logStream":"a1","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1,"message":"one"}]}"#,
            r#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"/aws/rds/proxy/p","logStream":"b2","subscriptionFilters":["f"],"logEvents":[{"id":"2","timestamp":2,"message":"two"},{"id":"3","timestamp":3,"message":"three","logStreamName":"own"}]}"#,
            // Keys sorted (`jq -S`, Python's sort_keys): the stream comes after the events.
            r#"{"logEvents":[{"id":"4","message":"four","timestamp":4}],"logGroup":"/aws/rds/proxy/p","logStream":"c3","messageType":"DATA_MESSAGE","owner":"1","subscriptionFilters":["f"]}"#,
        );
        let mut out = Vec::new();
        let mut stats = InputStats::default();
        read_json(&mut input.as_bytes(), 0, &mut stats, &mut |r| {
            out.push((r.text.to_string(), r.stream.map(str::to_string)))
        })
        .unwrap();
        let streams: Vec<_> = out
            .iter()
            .map(|(t, s)| (t.as_str(), s.as_deref()))
            .collect();
        assert_eq!(
            streams,
            [
                ("one", Some("a1")),
                ("two", Some("b2")),
                ("three", Some("own")),
                ("four", Some("c3"))
            ]
        );
        assert_eq!((stats.records, stats.malformed), (4, 0));
    }

    #[test]
    fn a_sorted_payload_too_large_to_hold_is_read_in_order_without_its_stream() {
        let message = "m".repeat(100_000);
        let events: Vec<String> = (0..60)
            .map(|i| format!(r#"{{"id":"{i}","message":"{i} {message}","timestamp":{i}}}"#))
            .collect();
        let input = format!(
            r#"{{"logEvents":[{}],"logStream":"late","messageType":"DATA_MESSAGE"}}"#,
            events.join(",")
        );
        let mut out = Vec::new();
        let mut stats = InputStats::default();
        read_json(&mut input.as_bytes(), 0, &mut stats, &mut |r| {
            out.push((r.ts, r.stream.map(str::to_string)))
        })
        .unwrap();
        let expected: Vec<_> = (0..60).map(|i| (Some(i), None)).collect();
        assert_eq!(out, expected);
        assert_eq!((stats.records, stats.malformed), (60, 0));
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
