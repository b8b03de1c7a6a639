//! Where reports and saved events go: a file (`--output`, `--save`) or stdout, buffered; the
//! renderers in [`crate::report`] only write to the writer given here.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use anyhow::{Context as _, Result};

use crate::config::AnalyzeConfig;
use crate::report::{self, Format, Report};

/// The report in the format and to the place (`--output`, else stdout) `analyze` and
/// `diagnose` were given.
pub fn write_report(config: &AnalyzeConfig, report: &Report) -> Result<()> {
    write_report_to(config.output.as_deref(), config.format, report)
}

/// The report in `format` to `output` (created or truncated), else to stdout.
pub fn write_report_to(
    output: Option<&std::path::Path>,
    format: Format,
    report: &Report,
) -> Result<()> {
    match output {
        Some(path) => {
            let file = File::create(path)
                .with_context(|| format!("cannot create the report file {}", path.display()))?;
            let mut out = BufWriter::new(file);
            report::render(report, format, &mut out)
                .and_then(|()| out.flush())
                .with_context(|| format!("cannot write the report to {}", path.display()))
        }
        None => {
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            report::render(report, format, &mut out)
                .and_then(|()| out.flush())
                .context("cannot write the report to stdout")
        }
    }
}

/// The `--events` table (`flag` names the option in errors): FILE created, its format from
/// the extension, `inputs` naming the inputs by index.
pub fn events_sink(
    path: &std::path::Path,
    flag: &str,
    inputs: Vec<String>,
    show_sql: bool,
) -> Result<std::sync::Arc<crate::aggregate::events::EventsSink>> {
    use crate::aggregate::events::{EventsFormat, EventsSink};
    let file = File::create(path)
        .with_context(|| format!("cannot create the {flag} file {}", path.display()))?;
    let sink = EventsSink::new(
        Box::new(BufWriter::with_capacity(1 << 20, file)),
        EventsFormat::for_path(path),
        inputs,
        show_sql,
    )
    .with_context(|| format!("cannot write the {flag} file {}", path.display()))?;
    Ok(std::sync::Arc::new(sink))
}

/// One fetched event as an NDJSON line, in the shape `filter-log-events` prints.
pub fn write_saved_event(
    out: &mut dyn Write,
    group: &str,
    event: &crate::aws::logs::LogEvent,
) -> io::Result<()> {
    // Keys in alphabetical order, as earlier versions wrote them.
    let line = serde_json::json!({
        "eventId": event.id,
        "ingestionTime": event.ingestion_time,
        "logGroupName": group,
        "logStreamName": event.stream,
        "message": event.message,
        "timestamp": event.timestamp,
    });
    serde_json::to_writer(&mut *out, &line).map_err(io::Error::other)?;
    writeln!(out)
}
