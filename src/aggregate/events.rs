//! `--events FILE`: every classified event as one row of a table (Parquet, CSV or NDJSON),
//! written through polars' writers while the run goes on.
//!
//! Each worker gathers its rows in column builders ([`EventRows`]). Once it holds
//! [`ROW_GROUP`] rows (and at the end of its work, whatever it holds) they become one polars
//! frame, which the worker itself encodes (a Parquet row group: polars' batched writer, whose
//! encoding needs no lock; CSV or NDJSON bytes) before the shared [`EventsSink`] writes it in
//! turn. Memory is a row group and a batch per worker, whatever the input's size. Rows are in
//! the order row groups are written, not sorted: sort by `input` and `line` for the input's
//! order. The message is redacted as the report's evidence is (SQL text unless `--show-sql`,
//! credentials always). The writer is given a `Write`: this module opens no file.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use polars::prelude::*;

use crate::classify::Classifier;
use crate::model::{Event, field};

/// The table's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsFormat {
    Parquet,
    Csv,
    Ndjson,
}

impl EventsFormat {
    /// From the file's extension: `.csv`, `.ndjson`/`.jsonl`, else Parquet.
    pub fn for_path(path: &std::path::Path) -> EventsFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => EventsFormat::Csv,
            Some("ndjson" | "jsonl") => EventsFormat::Ndjson,
            _ => EventsFormat::Parquet,
        }
    }
}

/// Rows written at once: a Parquet row group.
const ROW_GROUP: usize = 65_536;

/// The columns, in order: the contract the README documents.
pub const COLUMNS: [&str; 18] = [
    "time",
    "input",
    "line",
    "stream",
    "kind",
    "cause",
    "pattern",
    "severity",
    "endpoint",
    "user",
    "client_ip",
    "client_port",
    "client_connection",
    "db_connection",
    "reason",
    "digest",
    "level",
    "message",
];

/// One worker's rows not yet written: at most a row group and a batch. Text goes straight
/// into polars' string builders (one copy, no allocation per value); the message is redacted
/// only when it holds something to mask.
pub struct EventRows {
    time: Vec<Option<i64>>,
    input: Vec<u32>,
    line: Vec<u64>,
    kind: Vec<&'static str>,
    severity: Vec<Option<&'static str>>,
    client_port: Vec<Option<u32>>,
    client_connection: Vec<Option<u64>>,
    db_connection: Vec<Option<u64>>,
    stream: StringChunkedBuilder,
    cause: StringChunkedBuilder,
    pattern: StringChunkedBuilder,
    endpoint: StringChunkedBuilder,
    user: StringChunkedBuilder,
    client_ip: StringChunkedBuilder,
    reason: StringChunkedBuilder,
    digest: StringChunkedBuilder,
    level: StringChunkedBuilder,
    message: StringChunkedBuilder,
}

impl Default for EventRows {
    fn default() -> EventRows {
        let text = |name: &str| StringChunkedBuilder::new(name.into(), 1024);
        EventRows {
            time: Vec::new(),
            input: Vec::new(),
            line: Vec::new(),
            kind: Vec::new(),
            severity: Vec::new(),
            client_port: Vec::new(),
            client_connection: Vec::new(),
            db_connection: Vec::new(),
            stream: text("stream"),
            cause: text("cause"),
            pattern: text("pattern"),
            endpoint: text("endpoint"),
            user: text("user"),
            client_ip: text("client_ip"),
            reason: text("reason"),
            digest: text("digest"),
            level: text("level"),
            message: text("message"),
        }
    }
}

impl std::fmt::Debug for EventRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRows")
            .field("rows", &self.len())
            .finish_non_exhaustive()
    }
}

impl EventRows {
    pub fn len(&self) -> usize {
        self.kind.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kind.is_empty()
    }

    /// Adds `event`, the `line`-th record of input `input`; `clean`: whether redaction would
    /// mask nothing in its message (`Classifier::last_message_is_clean`).
    pub fn push(
        &mut self,
        event: &Event<'_>,
        classifier: &Classifier,
        input: u32,
        line: u64,
        show_sql: bool,
        clean: bool,
    ) {
        let pattern = event.pattern.and_then(|p| classifier.pattern(p));
        self.time.push(event.ts);
        self.input.push(input);
        self.line.push(line);
        self.kind.push(event.kind.as_str());
        self.severity.push(pattern.map(|p| p.severity.as_str()));
        self.client_port
            .push(event.field(field::CLIENT_PORT).and_then(|p| p.parse().ok()));
        self.client_connection.push(event.client_conn);
        self.db_connection.push(event.db_conn);
        self.stream.append_option(event.line.stream);
        self.cause
            .append_option(pattern.and_then(|p| p.cause.as_deref()));
        self.pattern.append_option(pattern.map(|p| p.id.as_str()));
        self.endpoint.append_option(event.endpoint);
        self.user.append_option(event.field(field::USER));
        self.client_ip.append_option(event.field(field::CLIENT_IP));
        // Reasons and digests are mostly parts of the message: a clean message makes them
        // clean too, without a search of their own.
        let message = event.line.message;
        let within = |part: &str| {
            let (start, end) = (
                message.as_ptr() as usize,
                message.as_ptr() as usize + message.len(),
            );
            let at = part.as_ptr() as usize;
            at >= start && at + part.len() <= end
        };
        for (builder, name) in [
            (&mut self.reason, field::REASON),
            (&mut self.digest, field::DIGEST),
        ] {
            builder.append_option(event.field(name).map(|t| {
                if clean && within(t) {
                    std::borrow::Cow::Borrowed(t)
                } else {
                    crate::redact::redact_cow(t, show_sql)
                }
            }));
        }
        self.level.append_option(event.line.level);
        if clean {
            self.message.append_value(message);
        } else {
            self.message
                .append_value(crate::redact::redact_full(message, show_sql));
        }
    }

    /// The rows as a frame (the input's index named through `inputs`), leaving this empty;
    /// times as RFC 3339 text for the text formats, as timestamps for Parquet.
    fn take_frame(&mut self, inputs: &[String], format: EventsFormat) -> PolarsResult<DataFrame> {
        let rows = std::mem::take(self);
        let height = rows.kind.len();
        let mut names = StringChunkedBuilder::new("input".into(), height);
        for i in &rows.input {
            names.append_option(inputs.get(*i as usize));
        }
        let time = if format == EventsFormat::Parquet {
            Column::new("time".into(), rows.time)
                .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))?
        } else {
            let text: Vec<Option<String>> = rows
                .time
                .iter()
                .map(|t| t.map(crate::timefmt::rfc3339))
                .collect();
            Column::new("time".into(), text)
        };
        let columns = vec![
            time,
            names.finish().into_column(),
            Column::new("line".into(), rows.line),
            rows.stream.finish().into_column(),
            Column::new("kind".into(), rows.kind),
            rows.cause.finish().into_column(),
            rows.pattern.finish().into_column(),
            Column::new("severity".into(), rows.severity),
            rows.endpoint.finish().into_column(),
            rows.user.finish().into_column(),
            rows.client_ip.finish().into_column(),
            Column::new("client_port".into(), rows.client_port),
            Column::new("client_connection".into(), rows.client_connection),
            Column::new("db_connection".into(), rows.db_connection),
            rows.reason.finish().into_column(),
            rows.digest.finish().into_column(),
            rows.level.finish().into_column(),
            rows.message.finish().into_column(),
        ];
        DataFrame::new(height, columns)
    }
}

/// How rows reach the output: Parquet row groups are encoded and compressed by the worker
/// that gathered them, then written in turn under the writer's own lock; the text formats
/// are serialized by the worker and their bytes written in turn.
enum Writer {
    Parquet(Box<polars::io::parquet::write::BatchedWriter<Shared>>),
    Text,
}

/// Where every worker's rows go; see the module docs.
pub struct EventsSink {
    writer: Writer,
    /// Input names by index; CloudWatch groups are named once found.
    inputs: std::sync::RwLock<Vec<String>>,
    show_sql: bool,
    format: EventsFormat,
    /// The output, shared with the polars writer so that it can be flushed at the end.
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    written: AtomicU64,
    /// The first failure: later rows are dropped, and `finish` reports it.
    failed: Mutex<Option<String>>,
}

/// The output as the polars writers see it.
struct Shared(Arc<Mutex<Box<dyn Write + Send>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("the events file's writer was poisoned"))?
            .write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("the events file's writer was poisoned"))?
            .flush()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("writing the events table failed: {0}")]
pub struct EventsError(String);

/// The table's schema (the frame of no rows).
fn schema(format: EventsFormat) -> PolarsResult<Schema> {
    let mut empty = EventRows::default();
    Ok(empty.take_frame(&[], format)?.schema().as_ref().clone())
}

impl EventsSink {
    /// A sink writing `format` to `out`; `inputs` names the inputs by index (files, log
    /// groups).
    pub fn new(
        out: Box<dyn Write + Send>,
        format: EventsFormat,
        inputs: Vec<String>,
        show_sql: bool,
    ) -> Result<EventsSink, EventsError> {
        let fail = |e: PolarsError| EventsError(e.to_string());
        let out = Arc::new(Mutex::new(out));
        let writer = match format {
            EventsFormat::Parquet => Writer::Parquet(Box::new(
                ParquetWriter::new(Shared(Arc::clone(&out)))
                    .with_compression(ParquetCompression::Zstd(None))
                    .set_parallel(false)
                    .batched(&schema(format).map_err(fail)?)
                    .map_err(fail)?,
            )),
            EventsFormat::Csv => {
                // The header, from the frame of no rows.
                let mut empty = EventRows::default().take_frame(&[], format).map_err(fail)?;
                CsvWriter::new(Shared(Arc::clone(&out)))
                    .include_header(true)
                    .finish(&mut empty)
                    .map_err(fail)?;
                Writer::Text
            }
            EventsFormat::Ndjson => Writer::Text,
        };
        Ok(EventsSink {
            writer,
            inputs: std::sync::RwLock::new(inputs),
            show_sql,
            format,
            out,
            written: AtomicU64::new(0),
            failed: Mutex::new(None),
        })
    }

    /// Names input `index` (a CloudWatch group, once found).
    pub fn name_input(&self, index: u32, name: String) {
        if let Ok(mut inputs) = self.inputs.write() {
            let index = index as usize;
            if inputs.len() <= index {
                inputs.resize(index + 1, String::new());
            }
            inputs[index] = name;
        }
    }

    pub fn show_sql(&self) -> bool {
        self.show_sql
    }

    /// Writes a worker's rows as a row group once there are enough of them (leaving them
    /// empty); fewer stay with the worker.
    pub fn append(&self, rows: &mut EventRows) {
        if rows.len() >= ROW_GROUP {
            self.write(rows);
        }
    }

    /// Writes a worker's rows, however few: at the end of its work.
    pub fn flush(&self, rows: &mut EventRows) {
        if !rows.is_empty() {
            self.write(rows);
        }
    }

    fn write(&self, rows: &mut EventRows) {
        if self.failed.lock().map_or(true, |failed| failed.is_some()) {
            *rows = EventRows::default();
            return;
        }
        let frame = match self.inputs.read() {
            Ok(inputs) => rows.take_frame(&inputs, self.format),
            Err(_) => rows.take_frame(&[], self.format),
        };
        let result = frame.and_then(|mut frame| {
            let height = frame.height() as u64;
            match &self.writer {
                Writer::Parquet(writer) => {
                    let groups = writer
                        .encode_and_compress(&frame)
                        .collect::<PolarsResult<Vec<_>>>()?;
                    writer.write_row_groups(groups)?;
                }
                Writer::Text => {
                    let mut bytes = Vec::new();
                    if self.format == EventsFormat::Csv {
                        CsvWriter::new(&mut bytes)
                            .include_header(false)
                            .n_threads(1)
                            .finish(&mut frame)?;
                    } else {
                        JsonWriter::new(&mut bytes)
                            .with_json_format(JsonFormat::JsonLines)
                            .finish(&mut frame)?;
                    }
                    self.out
                        .lock()
                        .map_err(|_| {
                            PolarsError::ComputeError(
                                "the events file's writer was poisoned".into(),
                            )
                        })?
                        .write_all(&bytes)?;
                }
            }
            self.written.fetch_add(height, Ordering::Relaxed);
            Ok(())
        });
        if let Err(e) = result
            && let Ok(mut failed) = self.failed.lock()
        {
            failed.get_or_insert(e.to_string());
        }
    }

    /// Writes the file's end; returns the rows written. Every worker has flushed its rows.
    pub fn finish(&self) -> Result<u64, EventsError> {
        let failed = self
            .failed
            .lock()
            .map_err(|_| EventsError("a worker stopped while writing".to_string()))?
            .take();
        if let Some(failed) = failed {
            return Err(EventsError(failed));
        }
        if let Writer::Parquet(writer) = &self.writer {
            writer.finish().map_err(|e| EventsError(e.to_string()))?;
        }
        self.out
            .lock()
            .map_err(|_| EventsError("the events file's writer was poisoned".to_string()))?
            .flush()
            .map_err(|e| EventsError(e.to_string()))?;
        Ok(self.written.load(Ordering::Relaxed))
    }
}
