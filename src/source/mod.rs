//! Sources: files, directories and stdin, turned into [`RawRecord`]s.
//!
//! Each file's layout is detected from its content, never its name: gzip by magic bytes (any
//! number of concatenated members), then JSON documents (`filter-log-events`, `get-log-events`,
//! Logs Insights `get-query-results`, subscription payloads), NDJSON (one event per line, as
//! `aws logs tail --format none` and `--save` write), the Logs Insights CSV export, or text
//! lines (proxy logs, S3 export objects, `aws logs tail` output, application logs). A read error
//! stops that input only; what was read before it is kept and the error is reported.

pub mod cloudwatch;
pub mod lines;
pub mod structured;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use crate::model::{InputError, InputStats, Layout, RawRecord};
use lines::LineReader;

/// A layout that can be forced with `--input-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Text lines: proxy log, S3 export object, `aws logs tail`, application log.
    Text,
    /// One JSON document: `filter-log-events`, `get-log-events`, `get-query-results`.
    Json,
    /// One JSON event per line.
    Ndjson,
    /// Logs Insights CSV export (`@timestamp,@message,...`).
    InsightsCsv,
}

impl InputFormat {
    pub fn layout(self) -> Layout {
        match self {
            InputFormat::Text => Layout::Text,
            InputFormat::Json => Layout::Json,
            InputFormat::Ndjson => Layout::Ndjson,
            InputFormat::InsightsCsv => Layout::InsightsCsv,
        }
    }
}

/// One input of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    Stdin,
}

impl Input {
    pub fn name(&self) -> String {
        match self {
            Input::File(path) => path.display().to_string(),
            Input::Stdin => "-".to_string(),
        }
    }
}

/// Files whose names are never logs (the marker an S3 export task writes).
const SKIPPED_NAMES: [&str; 1] = ["aws-logs-write-test"];

/// Expands the command-line paths: files as given, directories walked recursively in sorted
/// order, `-` as stdin. Paths that do not exist or directories without files are errors.
pub fn expand(paths: &[String]) -> (Vec<Input>, Vec<InputError>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let path = Path::new(path);
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let before = inputs.len();
                if let Err(error) = walk(path, &mut inputs) {
                    errors.push(InputError {
                        path: path.display().to_string(),
                        error,
                    });
                } else if inputs.len() == before {
                    errors.push(InputError {
                        path: path.display().to_string(),
                        error: "directory contains no log files".to_string(),
                    });
                }
            }
            Ok(_) => inputs.push(Input::File(path.to_path_buf())),
            Err(e) => errors.push(InputError {
                path: path.display().to_string(),
                error: describe_io(&e),
            }),
        }
    }
    (inputs, errors)
}

/// The files under `dir`, depth first in file-name order, hidden entries and the export
/// marker skipped. Symbolic links are followed; a link that leads back to one of its own
/// ancestors is an error rather than an endless walk.
fn walk(dir: &Path, out: &mut Vec<Input>) -> Result<(), String> {
    let entries = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            let name = entry.file_name().to_str().unwrap_or_default();
            entry.depth() == 0 || !(name.starts_with('.') || SKIPPED_NAMES.contains(&name))
        });
    for entry in entries {
        let entry = entry.map_err(|e| match (e.loop_ancestor(), e.path(), e.io_error()) {
            (Some(ancestor), Some(path), _) => format!(
                "{} is a symbolic link back to {}: remove the link or pass the files directly",
                path.display(),
                ancestor.display()
            ),
            (_, _, Some(io)) => describe_io(io),
            _ => e.to_string(),
        })?;
        if entry.file_type().is_file() {
            out.push(Input::File(entry.into_path()));
        }
    }
    Ok(())
}

/// An I/O error in words a user can act on.
pub fn describe_io(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    }
}

/// Reads one input, handing each record to `sink`. Never panics on content; I/O errors end
/// this input and are returned in the stats.
pub fn read(
    input: &Input,
    index: u32,
    forced: Option<InputFormat>,
    sink: &mut dyn FnMut(RawRecord<'_>),
) -> InputStats {
    let mut stats = InputStats {
        path: input.name(),
        ..InputStats::default()
    };
    let opened: io::Result<Box<dyn Read>> = match input {
        Input::File(path) => File::open(path).map(|f| Box::new(f) as Box<dyn Read>),
        Input::Stdin => Ok(Box::new(io::stdin())),
    };
    let raw = match opened {
        Ok(raw) => raw,
        Err(e) => {
            stats.error = Some(describe_io(&e));
            return stats;
        }
    };
    let mut counting = BufReader::with_capacity(
        1 << 18,
        CountingReader {
            inner: raw,
            bytes: 0,
        },
    );
    let gzip = match counting.fill_buf() {
        Ok(head) => head.starts_with(&[0x1f, 0x8b]),
        Err(e) => {
            stats.error = Some(describe_io(&e));
            return stats;
        }
    };
    stats.gzip = gzip;
    let mut reader: Box<dyn BufRead + '_> = if gzip {
        Box::new(BufReader::with_capacity(
            1 << 18,
            MultiGzDecoder::new(&mut counting),
        ))
    } else {
        Box::new(&mut counting)
    };
    let format = match forced {
        Some(format) => format,
        None => match reader.fill_buf() {
            Ok(head) => sniff(head),
            Err(e) => {
                stats.error = Some(read_error(gzip, &e));
                InputFormat::Text
            }
        },
    };
    stats.format = Some(format.layout());
    if stats.error.is_none() {
        let result = match format {
            InputFormat::Text => read_text(&mut reader, index, &mut stats, sink),
            InputFormat::Ndjson => structured::read_ndjson(&mut reader, index, &mut stats, sink),
            InputFormat::Json => structured::read_json(&mut reader, index, &mut stats, sink),
            InputFormat::InsightsCsv => structured::read_csv(&mut reader, index, &mut stats, sink),
        };
        if let Err(e) = result {
            stats.error = Some(read_error(gzip, &e));
        }
    }
    drop(reader);
    stats.bytes = counting.get_ref().bytes;
    stats
}

fn read_error(gzip: bool, error: &io::Error) -> String {
    let what = describe_io(error);
    if gzip {
        format!(
            "gzip data is truncated or corrupt ({what}); the data before the damage was analysed"
        )
    } else {
        format!("read failed ({what}); the data before the failure was analysed")
    }
}

/// Guesses the layout from the first buffered bytes.
pub fn sniff(head: &[u8]) -> InputFormat {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let body = &head[start..];
    let first_line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    match body.first() {
        Some(b'{') => {
            if serde_json::from_slice::<serde_json::Value>(first_line).is_ok_and(|v| v.is_object())
            {
                InputFormat::Ndjson
            } else {
                InputFormat::Json
            }
        }
        Some(b'[') if !looks_like_proxy_line(first_line) => InputFormat::Json,
        _ if memchr::memmem::find(first_line, b"@message").is_some()
            && first_line.contains(&b',') =>
        {
            InputFormat::InsightsCsv
        }
        _ => InputFormat::Text,
    }
}

/// A line that starts with `[` may be a proxy line without timestamp (`[INFO] ...`).
fn looks_like_proxy_line(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    crate::parse::combinators::level(&text).is_ok()
        || crate::parse::combinators::tag_pair(&text).is_ok()
}

fn read_text(
    reader: &mut dyn BufRead,
    index: u32,
    stats: &mut InputStats,
    sink: &mut dyn FnMut(RawRecord<'_>),
) -> io::Result<()> {
    let mut lines = LineReader::new(reader);
    while let Some(line) = lines.next_line()? {
        stats.invalid_utf8 += u64::from(line.invalid_utf8);
        stats.truncated_lines += u64::from(line.truncated);
        // Most lines start with a visible ASCII byte: no need to trim them.
        let visible = line
            .text
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_graphic);
        if !visible && line.text.trim().is_empty() {
            continue;
        }
        stats.records += 1;
        sink(RawRecord {
            text: &line.text,
            ts: None,
            input: index,
        });
    }
    Ok(())
}

struct CountingReader<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The inputs that failed, as the report lists them.
pub fn input_errors(stats: &[InputStats]) -> Vec<InputError> {
    stats
        .iter()
        .filter_map(|s| {
            s.error.as_ref().map(|e| InputError {
                path: s.path.clone(),
                error: e.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_layouts() {
        assert_eq!(sniff(b"{\n  \"events\": ["), InputFormat::Json);
        assert_eq!(
            sniff(b"{\"message\":\"x\",\"timestamp\":1}\n{"),
            InputFormat::Ndjson
        );
        assert_eq!(sniff(b"[{\"message\":\"x\"}]"), InputFormat::Json);
        assert_eq!(
            sniff(b"[INFO] [proxyEndpoint=default] x"),
            InputFormat::Text
        );
        assert_eq!(sniff(b"@timestamp,@message\n"), InputFormat::InsightsCsv);
        assert_eq!(
            sniff(b"\"@timestamp\",\"@message\",\"@logStream\"\n"),
            InputFormat::InsightsCsv
        );
        assert_eq!(
            sniff(b"2022-10-21T17:25:29.482Z [INFO] x"),
            InputFormat::Text
        );
        assert_eq!(sniff(b"\x00\x01\x02binary"), InputFormat::Text);
        assert_eq!(sniff(b""), InputFormat::Text);
    }

    #[test]
    fn expand_reports_missing_paths_and_empty_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let file = dir.path().join("a.log");
        std::fs::write(&file, "x\n").unwrap();
        std::fs::write(dir.path().join("aws-logs-write-test"), "").unwrap();
        let paths = [
            dir.path().display().to_string(),
            empty.display().to_string(),
            "/nonexistent/proxydoc".to_string(),
        ];
        let (inputs, errors) = expand(&paths);
        assert_eq!(inputs, [Input::File(file)]);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].error, "directory contains no log files");
        assert_eq!(errors[1].error, "no such file or directory");
    }
}
