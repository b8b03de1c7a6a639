//! `--events FILE`: every classified event as one row of a table (Parquet, CSV or NDJSON),
//! written through polars' batched writers while the run goes on.
//!
//! Each worker gathers the rows of the batch it reads in plain vectors ([`EventRows`]); at the
//! end of the batch they become one polars frame and go to the shared [`EventsSink`], which
//! writes a row group whenever [`ROW_GROUP`] rows are pending. Memory is a batch per worker
//! plus one row group, whatever the input's size. Rows are in the order batches finish, not
//! sorted: sort by `input` and `line` for the input's order. The message is redacted as the
//! report's evidence is (SQL text unless `--show-sql`, credentials always). The writer is given
//! a `Write`: this module opens no file.

use std::io::Write;
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

/// One worker's rows of the batch it is reading.
#[derive(Debug, Default, Clone)]
pub struct EventRows {
    time: Vec<Option<i64>>,
    input: Vec<u32>,
    line: Vec<u64>,
    stream: Vec<Option<String>>,
    kind: Vec<&'static str>,
    cause: Vec<Option<String>>,
    pattern: Vec<Option<String>>,
    severity: Vec<Option<&'static str>>,
    endpoint: Vec<Option<String>>,
    user: Vec<Option<String>>,
    client_ip: Vec<Option<String>>,
    client_port: Vec<Option<u32>>,
    client_connection: Vec<Option<u64>>,
    db_connection: Vec<Option<u64>>,
    reason: Vec<Option<String>>,
    digest: Vec<Option<String>>,
    level: Vec<Option<String>>,
    message: Vec<String>,
}

impl EventRows {
    pub fn len(&self) -> usize {
        self.kind.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kind.is_empty()
    }

    /// Adds `event`, the `line`-th record of input `input`.
    pub fn push(
        &mut self,
        event: &Event<'_>,
        classifier: &Classifier,
        input: u32,
        line: u64,
        show_sql: bool,
    ) {
        let owned = |v: Option<&str>| v.map(str::to_string);
        let pattern = event.pattern.and_then(|p| classifier.pattern(p));
        self.time.push(event.ts);
        self.input.push(input);
        self.line.push(line);
        self.stream.push(owned(event.line.stream));
        self.kind.push(event.kind.as_str());
        self.cause.push(pattern.and_then(|p| p.cause.clone()));
        self.pattern.push(pattern.map(|p| p.id.clone()));
        self.severity.push(pattern.map(|p| p.severity.as_str()));
        self.endpoint.push(owned(event.endpoint));
        self.user.push(owned(event.field(field::USER)));
        self.client_ip.push(owned(event.field(field::CLIENT_IP)));
        self.client_port
            .push(event.field(field::CLIENT_PORT).and_then(|p| p.parse().ok()));
        self.client_connection.push(event.client_conn);
        self.db_connection.push(event.db_conn);
        self.reason.push(
            event
                .field(field::REASON)
                .map(|r| crate::redact::redact(r, show_sql)),
        );
        self.digest.push(
            event
                .field(field::DIGEST)
                .map(|d| crate::redact::redact(d, show_sql)),
        );
        self.level.push(owned(event.line.level));
        self.message
            .push(crate::redact::redact(event.line.message, show_sql));
    }

    /// The rows as a frame (the input's index named through `inputs`), leaving this empty;
    /// times as RFC 3339 text for the text formats, as timestamps for Parquet.
    fn take_frame(&mut self, inputs: &[String], format: EventsFormat) -> PolarsResult<DataFrame> {
        let rows = std::mem::take(self);
        let height = rows.kind.len();
        let names: Vec<Option<&str>> = rows
            .input
            .iter()
            .map(|i| inputs.get(*i as usize).map(String::as_str))
            .collect();
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
            Column::new("input".into(), names),
            Column::new("line".into(), rows.line),
            Column::new("stream".into(), rows.stream),
            Column::new("kind".into(), rows.kind),
            Column::new("cause".into(), rows.cause),
            Column::new("pattern".into(), rows.pattern),
            Column::new("severity".into(), rows.severity),
            Column::new("endpoint".into(), rows.endpoint),
            Column::new("user".into(), rows.user),
            Column::new("client_ip".into(), rows.client_ip),
            Column::new("client_port".into(), rows.client_port),
            Column::new("client_connection".into(), rows.client_connection),
            Column::new("db_connection".into(), rows.db_connection),
            Column::new("reason".into(), rows.reason),
            Column::new("digest".into(), rows.digest),
            Column::new("level".into(), rows.level),
            Column::new("message".into(), rows.message),
        ];
        DataFrame::new(height, columns)
    }
}

enum Writer {
    Parquet(Box<polars::io::parquet::write::BatchedWriter<Shared>>),
    Csv(polars::io::csv::write::BatchedWriter<Shared>),
    Ndjson(polars::io::json::BatchedWriter<Shared>),
}

struct State {
    writer: Option<Writer>,
    pending: Option<DataFrame>,
    written: u64,
    /// The first failure: later batches are dropped, and `finish` reports it.
    failed: Option<String>,
}

/// Where every worker's rows go; see the module docs.
pub struct EventsSink {
    state: Mutex<State>,
    /// Input names by index; CloudWatch groups are named once found.
    inputs: std::sync::RwLock<Vec<String>>,
    show_sql: bool,
    format: EventsFormat,
    /// The output, shared with the polars writer so that it can be flushed at the end.
    out: Arc<Mutex<Box<dyn Write + Send>>>,
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
        let schema = schema(format).map_err(fail)?;
        let out = Arc::new(Mutex::new(out));
        let shared = Shared(Arc::clone(&out));
        let writer = match format {
            EventsFormat::Parquet => Writer::Parquet(Box::new(
                ParquetWriter::new(shared)
                    .with_compression(ParquetCompression::Zstd(None))
                    .batched(&schema)
                    .map_err(fail)?,
            )),
            EventsFormat::Csv => Writer::Csv(
                CsvWriter::new(shared)
                    .include_header(true)
                    .batched(&schema)
                    .map_err(fail)?,
            ),
            EventsFormat::Ndjson => Writer::Ndjson(polars::io::json::BatchedWriter::new(shared)),
        };
        Ok(EventsSink {
            state: Mutex::new(State {
                writer: Some(writer),
                pending: None,
                written: 0,
                failed: None,
            }),
            inputs: std::sync::RwLock::new(inputs),
            show_sql,
            format,
            out,
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

    /// Takes a worker's rows (leaving them empty); writes a row group when enough are
    /// pending.
    pub fn append(&self, rows: &mut EventRows) {
        if rows.is_empty() {
            return;
        }
        let frame = match self.inputs.read() {
            Ok(inputs) => rows.take_frame(&inputs, self.format),
            Err(_) => rows.take_frame(&[], self.format),
        };
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.failed.is_some() {
            return;
        }
        let result = frame.and_then(|frame| {
            let pending = match state.pending.take() {
                Some(mut pending) => {
                    pending.vstack_mut_owned(frame)?;
                    pending
                }
                None => frame,
            };
            if pending.height() >= ROW_GROUP {
                state.write(pending)
            } else {
                state.pending = Some(pending);
                Ok(())
            }
        });
        if let Err(e) = result {
            state.failed = Some(e.to_string());
        }
    }

    /// Writes what is pending and the file's end; returns the rows written.
    pub fn finish(&self) -> Result<u64, EventsError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| EventsError("a worker stopped while writing".to_string()))?;
        if let Some(failed) = state.failed.take() {
            return Err(EventsError(failed));
        }
        let result = (|| -> PolarsResult<()> {
            if let Some(pending) = state.pending.take() {
                state.write(pending)?;
            }
            match state.writer.take() {
                Some(Writer::Parquet(writer)) => writer.finish().map(|_| ()),
                Some(Writer::Csv(mut writer)) => writer.finish(),
                Some(Writer::Ndjson(_)) | None => Ok(()),
            }
        })();
        result.map_err(|e| EventsError(e.to_string()))?;
        self.out
            .lock()
            .map_err(|_| EventsError("the events file's writer was poisoned".to_string()))?
            .flush()
            .map_err(|e| EventsError(e.to_string()))?;
        Ok(state.written)
    }
}

impl State {
    fn write(&mut self, mut frame: DataFrame) -> PolarsResult<()> {
        // The writers want one chunk per column.
        frame.rechunk_mut();
        match self.writer.as_mut() {
            Some(Writer::Parquet(writer)) => writer.write_batch(&frame)?,
            Some(Writer::Csv(writer)) => writer.write_batch(&frame)?,
            Some(Writer::Ndjson(writer)) => writer.write_batch(&frame)?,
            None => {}
        }
        self.written += frame.height() as u64;
        Ok(())
    }
}
