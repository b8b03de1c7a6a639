//! Sources: files, directories and stdin, turned into [`RawRecord`]s.
//!
//! Each file's layout is detected from its content, never its name: gzip by magic bytes (any
//! number of concatenated members), then JSON documents (`filter-log-events`, `get-log-events`,
//! Logs Insights `get-query-results`, subscription payloads), NDJSON (one event per line, as
//! `aws logs tail --format none` and `--save` write), the Logs Insights CSV export, or text
//! lines (proxy logs, S3 export objects, `aws logs tail` output, application logs). A read error
//! stops that input only; what was read before it is kept and the error is reported. A byte
//! order mark is honoured: UTF-16 input (Windows PowerShell's redirections) is read as UTF-8.

pub mod cloudwatch;
mod event_scan;
mod inflate;
pub mod lines;
pub mod structured;
mod utf16;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::{InputError, InputStats, Layout, RawRecord};
pub use inflate::Inflater;
use lines::{LineReader, Piece, lent_from};

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

/// Where a reader hands its records.
pub trait RecordSink {
    /// One record; its text is lent for the call only.
    fn record(&mut self, record: RawRecord<'_>);

    /// Untimed records of input `input` without a log stream, in order: the lines
    /// `text[start..end]` for each range of `lines` (ascending, within `text`). A sink that
    /// copies the text may copy the part of `text` they span at once.
    fn lines(&mut self, input: u32, text: &str, lines: &[(usize, usize)]) {
        for &(start, end) in lines {
            self.record(RawRecord {
                text: text.get(start..end).unwrap_or_default(),
                ts: None,
                input,
                stream: None,
            });
        }
    }

    /// [`RecordSink::lines`] of `shared[offset..]`, a text the sink may keep (a gzip object
    /// inflated whole): a sink that would copy the lines may lend them from it instead.
    fn shared_lines(
        &mut self,
        input: u32,
        shared: &Arc<String>,
        offset: usize,
        lines: &[(usize, usize)],
    ) {
        self.lines(input, shared.get(offset..).unwrap_or_default(), lines);
    }
}

impl<F: FnMut(RawRecord<'_>)> RecordSink for F {
    fn record(&mut self, record: RawRecord<'_>) {
        self(record);
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

/// For each input, an earlier input that holds the same bytes, if any: a file given twice (by
/// two paths, inside a directory that is also given, or downloaded twice) would have its events
/// counted twice. Files are compared only when their sizes and their first 64 KiB are equal
/// (read for files that share their size, so that `split`'s equal chunks cost a block each),
/// then whole; a file that cannot be read is never a copy (its error comes when it is read).
pub fn same_as_earlier(inputs: &[Input]) -> Vec<Option<usize>> {
    use std::collections::HashMap;
    use std::hash::{DefaultHasher, Hash, Hasher};
    let sizes: Vec<Option<u64>> = inputs
        .iter()
        .map(|input| match input {
            Input::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Input::Stdin => None,
        })
        .map(|size| size.filter(|&n| n > 0))
        .collect();
    let mut shared: HashMap<u64, usize> = HashMap::new();
    for size in sizes.iter().flatten() {
        *shared.entry(*size).or_default() += 1;
    }
    let head = |path: &Path| -> Option<u64> {
        let mut block = vec![0u8; 1 << 16];
        let n = read_full(&mut File::open(path).ok()?, &mut block).ok()?;
        let mut hasher = DefaultHasher::new();
        block.get(..n).hash(&mut hasher);
        Some(hasher.finish())
    };
    let mut seen: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
    let mut earlier = vec![None; inputs.len()];
    for (i, input) in inputs.iter().enumerate() {
        let (Input::File(path), Some(size)) = (input, sizes.get(i).copied().flatten()) else {
            continue;
        };
        if shared.get(&size).is_none_or(|&n| n < 2) {
            continue;
        }
        let Some(head) = head(path) else { continue };
        let alike = seen.entry((size, head)).or_default();
        earlier[i] = alike.iter().copied().find(|&k| match inputs.get(k) {
            Some(Input::File(other)) => same_bytes(other, path).unwrap_or(false),
            _ => false,
        });
        if earlier[i].is_none() {
            alike.push(i);
        }
    }
    earlier
}

/// Whether two files hold the same bytes.
fn same_bytes(a: &Path, b: &Path) -> io::Result<bool> {
    if let (Ok(a), Ok(b)) = (a.canonicalize(), b.canonicalize())
        && a == b
    {
        return Ok(true);
    }
    let (mut a, mut b) = (File::open(a)?, File::open(b)?);
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut a, &mut x)?;
        let m = read_full(&mut b, &mut y)?;
        if n != m || x.get(..n) != y.get(..m) {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// An archive or a compression proxydoc does not read (only gzip), known by its first bytes:
/// what it is and how to give proxydoc its text. Read as text, it would be binary noise
/// counted as unparsed lines, and the logs inside it would seem to be missing.
fn unread_archive(head: &[u8], path: &str) -> Option<String> {
    let (what, how) = if head.starts_with(b"PK\x03\x04") {
        (
            "a zip archive",
            format!("extract it (`unzip {path}`) and pass the files or their directory"),
        )
    } else if head.starts_with(b"BZh") && head.get(4..10) == Some(b"\x31\x41\x59\x26\x53\x59") {
        (
            "bzip2-compressed",
            format!("decompress it: `bzcat {path} | proxydoc analyze -`"),
        )
    } else if head.starts_with(b"\xFD7zXZ\x00") {
        (
            "xz-compressed",
            format!("decompress it: `xzcat {path} | proxydoc analyze -`"),
        )
    } else if head.starts_with(b"\x28\xB5\x2F\xFD") {
        (
            "zstd-compressed",
            format!("decompress it: `zstdcat {path} | proxydoc analyze -`"),
        )
    } else if head.starts_with(b"7z\xBC\xAF\x27\x1C") {
        (
            "a 7-Zip archive",
            format!("extract it (`7z x {path}`) and pass the files or their directory"),
        )
    } else {
        return None;
    };
    Some(format!(
        "{what}, which proxydoc does not read (it reads plain and gzip files): {how}"
    ))
}

/// Fills `buf` as far as the reader goes: fewer bytes only at its end.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    read_up_to(reader, buf).map_err(|(_, error)| error)
}

/// [`read_full`], also saying how many bytes were read before an error.
fn read_up_to<R: Read + ?Sized>(
    reader: &mut R,
    buf: &mut [u8],
) -> Result<usize, (usize, io::Error)> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((filled, e)),
        }
    }
    Ok(filled)
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
    read_counted(input, index, forced, None, sink)
}

/// [`read`], adding the bytes it reads (compressed, for gzip) to `progress` as it goes.
pub fn read_counted(
    input: &Input,
    index: u32,
    forced: Option<InputFormat>,
    progress: Option<&std::sync::atomic::AtomicU64>,
    mut sink: &mut dyn FnMut(RawRecord<'_>),
) -> InputStats {
    let mut inflater = Inflater::default();
    read_into(input, index, forced, progress, &mut inflater, &mut sink)
}

/// [`read_counted`] into a [`RecordSink`]: the lines of a text input come in runs. A gzip file
/// is inflated whole with `inflater`'s buffers when it fits them.
pub fn read_into(
    input: &Input,
    index: u32,
    forced: Option<InputFormat>,
    progress: Option<&std::sync::atomic::AtomicU64>,
    inflater: &mut Inflater,
    sink: &mut dyn RecordSink,
) -> InputStats {
    let mut stats = InputStats {
        path: input.name(),
        ..InputStats::default()
    };
    // A regular file's length, for reading a small gzip file whole.
    let mut length = None;
    let opened: io::Result<Box<dyn Read>> = match input {
        Input::File(path) => File::open(path).map(|f| {
            length = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
            Box::new(f) as Box<dyn Read>
        }),
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
        READ_BYTES,
        CountingReader {
            inner: raw,
            bytes: 0,
            progress,
        },
    );
    let gzip = match counting.fill_buf() {
        Ok(head) => {
            if let Some(error) = unread_archive(head, &stats.path) {
                stats.error = Some(error);
                return stats;
            }
            head.starts_with(&[0x1f, 0x8b])
        }
        Err(e) => {
            stats.error = Some(describe_io(&e));
            return stats;
        }
    };
    stats.gzip = gzip;
    let (mut reader, shared): (Box<dyn BufRead + '_>, _) = if gzip {
        inflater.open(&mut counting, length)
    } else {
        (Box::new(&mut counting), None)
    };
    let shared = shared.as_ref();
    // A byte order mark: UTF-8's is skipped; UTF-16's (Windows PowerShell 5.1 writes UTF-16
    // when output is redirected with `>`) makes the input read as UTF-8 through `Utf16`.
    let bom = match reader.fill_buf() {
        Ok(head) if head.starts_with(b"\xEF\xBB\xBF") => Some(None),
        Ok(head) => utf16::Utf16::<&[u8]>::detect(head).map(Some),
        Err(_) => None,
    };
    match bom {
        Some(None) => {
            reader.consume(3);
            read_layout(&mut reader, gzip, index, forced, &mut stats, sink, shared);
        }
        Some(Some(little_endian)) => {
            reader.consume(2);
            let mut utf8 = utf16::Utf16::new(&mut reader, little_endian);
            read_layout(&mut utf8, gzip, index, forced, &mut stats, sink, None);
            stats.invalid_utf8 += utf8.replaced;
        }
        None => read_layout(&mut reader, gzip, index, forced, &mut stats, sink, shared),
    }
    drop(reader);
    stats.bytes = counting.get_ref().bytes;
    stats
}

/// Reads one input's (decoded) text into `sink`: its layout sniffed unless `forced`. What
/// `reader` lends from within `shared` (a gzip object inflated whole) is lent on to the sink.
fn read_layout(
    reader: &mut dyn BufRead,
    gzip: bool,
    index: u32,
    forced: Option<InputFormat>,
    stats: &mut InputStats,
    sink: &mut dyn RecordSink,
    shared: Option<&Arc<String>>,
) {
    // The layout is told by the first line: one longer than a read is gathered first (an
    // NDJSON record with a long SQL text), then read again ahead of the rest.
    // A read error while gathering it keeps what came before (told and read as any input's
    // start) and is reported once that is read.
    let mut first_line = Vec::new();
    let mut gather_error = None;
    let format = match forced {
        Some(format) => format,
        None => match reader.fill_buf() {
            Ok(head) if first_line_is_cut(head) => {
                gather_error = gather_first_line(reader, &mut first_line).err();
                sniff(&first_line)
            }
            Ok(head) => sniff(head),
            Err(e) => {
                stats.error = Some(read_error(gzip, &e));
                InputFormat::Text
            }
        },
    };
    let mut again = io::Cursor::new(first_line).chain(reader);
    let reader: &mut dyn BufRead = &mut again;
    stats.format = Some(format.layout());
    if stats.error.is_none() {
        let result = match format {
            InputFormat::Text => read_text(reader, index, stats, sink, shared),
            InputFormat::Ndjson => {
                structured::read_ndjson(reader, index, stats, &mut |r| sink.record(r))
            }
            InputFormat::Json => {
                structured::read_json(reader, index, stats, &mut |r| sink.record(r))
            }
            InputFormat::InsightsCsv => {
                structured::read_csv(reader, index, stats, &mut |r| sink.record(r))
            }
        };
        if let Err(e) = result {
            stats.error = Some(read_error(gzip, &e));
        }
    }
    if let Some(e) = gather_error
        && stats.error.is_none()
    {
        stats.error = Some(read_error(gzip, &e));
    }
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
    let body = after_blanks(head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head));
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

/// Bytes of an input's start gathered at most to find its first line.
const SNIFF_BYTES: usize = 1 << 18;

/// Whether `head`, what one read gave of an input's start, ends before its first line (after
/// blanks) does.
fn first_line_is_cut(head: &[u8]) -> bool {
    !head.is_empty() && memchr::memchr(b'\n', after_blanks(head)).is_none()
}

/// `head` from its first byte that is not ASCII whitespace (empty when all are).
fn after_blanks(head: &[u8]) -> &[u8] {
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    head.get(start..).unwrap_or_default()
}

/// Reads `reader`'s start into `out` until its first line (after blanks) is whole, the input
/// ends, or [`SNIFF_BYTES`] are read.
fn gather_first_line(reader: &mut dyn BufRead, out: &mut Vec<u8>) -> io::Result<()> {
    while out.len() < SNIFF_BYTES {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        let n = available.len().min(SNIFF_BYTES - out.len());
        out.extend_from_slice(available.get(..n).unwrap_or_default());
        reader.consume(n);
        if !first_line_is_cut(out) {
            break;
        }
    }
    Ok(())
}

/// A line that starts with `[` may be a proxy line without timestamp (`[INFO] ...`).
fn looks_like_proxy_line(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    crate::parse::combinators::level(&text).is_ok()
        || crate::parse::combinators::tag_pair(&text).is_ok()
}

/// Bytes a file (or its inflated text) is read at a time. Small enough that what a read
/// brings is still in the core's nearest caches when its lines are split and copied into a
/// batch: reading 256 KiB at a time, the kernel's copy out of the page cache alone was two
/// thirds of the reading thread's time, and a run of the benchmark's 512 MiB files took 12%
/// longer (session 30, alternating runs: 32 KiB beat 16, 64 and 256 KiB).
const READ_BYTES: usize = 1 << 15;

fn read_text(
    reader: &mut dyn BufRead,
    index: u32,
    stats: &mut InputStats,
    sink: &mut dyn RecordSink,
    shared: Option<&Arc<String>>,
) -> io::Result<()> {
    let mut lines = LineReader::new(reader);
    let mut block = JsonBlock::default();
    // The lines of the current run to hand on, as ranges of it.
    let mut kept: Vec<(usize, usize)> = Vec::new();
    let valid = shared.map(|text| text.as_str());
    lines.for_each_piece_in(valid, &mut |piece| match piece {
        Piece::Run(run) => {
            // Lent from the shared text when the run lies within it (and where).
            let lent = shared.and_then(|text| {
                let (offset, _) = lent_from(text, run.as_bytes())?;
                Some((text, offset))
            });
            let hand_on = |sink: &mut dyn RecordSink, kept: &[(usize, usize)]| match lent {
                Some((text, offset)) => sink.shared_lines(index, text, offset, kept),
                None => sink.lines(index, run, kept),
            };
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', run.as_bytes()) {
                let mut line_end = end;
                if end > start && run.as_bytes().get(end - 1) == Some(&b'\r') {
                    line_end -= 1;
                }
                let text = run.get(start..line_end).unwrap_or_default();
                let at = start;
                start = end + 1;
                match text_line(text, &mut block) {
                    TextLine::Keep => {
                        stats.records += 1;
                        kept.push((at, line_end));
                    }
                    TextLine::Skip => {}
                    TextLine::Emit(done) => {
                        // What came before it in the run goes first.
                        hand_on(sink, &kept);
                        kept.clear();
                        emit_block(done, index, stats, sink);
                    }
                }
            }
            hand_on(sink, &kept);
            kept.clear();
        }
        Piece::Line(line) => {
            stats.invalid_utf8 += u64::from(line.invalid_utf8);
            stats.truncated_lines += u64::from(line.truncated);
            match text_line(&line.text, &mut block) {
                TextLine::Keep => {
                    stats.records += 1;
                    sink.record(RawRecord {
                        text: &line.text,
                        ts: None,
                        input: index,
                        stream: None,
                    });
                }
                TextLine::Skip => {}
                TextLine::Emit(done) => emit_block(done, index, stats, sink),
            }
        }
    })?;
    if let Some(done) = block.finish() {
        emit_block(done, index, stats, sink);
    }
    Ok(())
}

/// What becomes of one line of a text input.
enum TextLine {
    /// A record of its own.
    Keep,
    /// Blank, or taken into a multi-line JSON object still open.
    Skip,
    /// It closed a multi-line JSON object (or the object grew past its bounds).
    Emit(Block),
}

fn text_line(text: &str, block: &mut JsonBlock) -> TextLine {
    if block.open() {
        return match block.push(text) {
            Some(done) => TextLine::Emit(done),
            None => TextLine::Skip,
        };
    }
    // Most lines start with a visible ASCII byte: no need to trim them.
    let visible = text.as_bytes().first().is_some_and(u8::is_ascii_graphic);
    if !visible && text.trim().is_empty() {
        return TextLine::Skip;
    }
    // A JSON object printed over several lines (an error logged with indentation) starts
    // with a line that ends in `{`: it is read whole, as one record.
    if text.as_bytes().last() == Some(&b'{') && block.start(text) {
        return TextLine::Skip;
    }
    TextLine::Keep
}

/// The most lines and bytes a multi-line JSON object may span; a longer one is read as lines.
const BLOCK_LINES: usize = 1_000;
const BLOCK_BYTES: usize = 256 << 10;

/// A JSON object being gathered from several lines: the text before its `{` (a timestamp, a
/// level), the lines so far, and the brace depth outside strings.
#[derive(Default)]
struct JsonBlock {
    prefix: String,
    lines: Vec<String>,
    bytes: usize,
    depth: i64,
    in_string: bool,
    escaped: bool,
}

/// What a finished block gives: one record (the object read) or its lines as they were.
enum Block {
    Record(String),
    Lines(Vec<String>),
}

impl JsonBlock {
    fn open(&self) -> bool {
        !self.lines.is_empty()
    }

    /// Starts a block at a line ending in `{` whose brace is the start of an object: alone on
    /// the line, or after a space, tab or `=`/`:` (`ERROR Invoke Error {`, `err={`).
    fn start(&mut self, line: &str) -> bool {
        let body = &line[..line.len() - 1];
        let standalone = body.trim().is_empty()
            || body.ends_with([' ', '\t', '=', ':']) && !body.trim_end().ends_with(['{', '[', ',']);
        if !standalone {
            return false;
        }
        self.prefix = body.trim().to_string();
        self.lines = vec![line.to_string()];
        self.bytes = line.len();
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
        self.scan("{");
        true
    }

    /// Adds a line; returns the block when it closed or grew past its bounds.
    fn push(&mut self, line: &str) -> Option<Block> {
        self.lines.push(line.to_string());
        self.bytes += line.len() + 1;
        self.scan(line);
        if self.depth <= 0 {
            return self.finish();
        }
        if self.lines.len() >= BLOCK_LINES || self.bytes >= BLOCK_BYTES {
            return Some(Block::Lines(std::mem::take(&mut self.lines)));
        }
        None
    }

    /// Brace depth, outside JSON strings.
    fn scan(&mut self, text: &str) {
        for b in text.bytes() {
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' => self.depth += 1,
                b'}' => self.depth -= 1,
                _ => {}
            }
        }
    }

    /// The block as it stands: one record when it is a whole JSON object, else its lines.
    fn finish(&mut self) -> Option<Block> {
        if self.lines.is_empty() {
            return None;
        }
        let lines = std::mem::take(&mut self.lines);
        let mut json = String::with_capacity(self.bytes);
        json.push('{');
        for line in &lines[1..] {
            json.push('\n');
            json.push_str(line);
        }
        if self.depth == 0
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(&json)
        {
            let text = structured::json_text(&value);
            let record = if self.prefix.is_empty() {
                text
            } else {
                format!("{} {text}", self.prefix)
            };
            return Some(Block::Record(record));
        }
        Some(Block::Lines(lines))
    }
}

fn emit_block(block: Block, index: u32, stats: &mut InputStats, sink: &mut dyn RecordSink) {
    let lines = match block {
        Block::Record(text) => vec![text],
        Block::Lines(lines) => lines,
    };
    for text in lines.iter().filter(|l| !l.trim().is_empty()) {
        stats.records += 1;
        sink.record(RawRecord {
            text,
            ts: None,
            input: index,
            stream: None,
        });
    }
}

struct CountingReader<'p, R> {
    inner: R,
    bytes: u64,
    /// Every input's bytes read so far, for a progress bar.
    progress: Option<&'p std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if let Some(progress) = self.progress {
            progress.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
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

    /// A reader that gives its bytes (as many as fit) in one read, then fails every read.
    pub(super) struct Failing(pub(super) Vec<u8>, pub(super) bool);

    impl io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.1 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated"));
            }
            self.1 = true;
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            Ok(n)
        }
    }

    fn text_records(input: &str) -> (Vec<String>, InputStats) {
        let mut out = Vec::new();
        let mut stats = InputStats::default();
        let mut reader = input.as_bytes();
        read_text(
            &mut reader,
            0,
            &mut stats,
            &mut |r: RawRecord<'_>| out.push(r.text.to_string()),
            None,
        )
        .unwrap();
        (out, stats)
    }

    /// The records of a file holding `bytes`, read as a run reads it (gzip, byte order mark and
    /// layout found from the content).
    fn file_records(bytes: &[u8]) -> (Vec<String>, InputStats) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input");
        std::fs::write(&path, bytes).unwrap();
        let mut out = Vec::new();
        let stats = read(&Input::File(path), 0, None, &mut |r| {
            out.push(r.text.to_string())
        });
        (out, stats)
    }

    #[test]
    fn archives_and_other_compressions_say_how_to_read_them() {
        let cases: [(&[u8], &str, &str); 5] = [
            (b"PK\x03\x04\x14\x00rest", "a zip archive", "`unzip "),
            (b"BZh91AY&SYrest", "bzip2-compressed", "`bzcat "),
            (b"\xFD7zXZ\x00\x00\x04", "xz-compressed", "`xzcat "),
            (b"\x28\xB5\x2F\xFD\x04\x00", "zstd-compressed", "`zstdcat "),
            (b"7z\xBC\xAF\x27\x1C\x00\x04", "a 7-Zip archive", "`7z x "),
        ];
        for (bytes, what, command) in cases {
            let (out, stats) = file_records(bytes);
            assert!(out.is_empty());
            let error = stats.error.unwrap();
            assert!(
                error.starts_with(&format!(
                    "{what}, which proxydoc does not read (it reads plain and gzip files): "
                )) && error.contains(command)
                    && error.contains(&stats.path),
                "{error}"
            );
        }
        // Text that merely starts like one is read.
        let (out, stats) = file_records(b"BZh is not bzip2 here\nPK too\n");
        assert_eq!((out.len(), stats.error), (2, None));
    }

    #[test]
    fn copies_of_earlier_inputs_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            Input::File(path)
        };
        let mut big = vec![b'x'; 200_000];
        let a = write("a.log", &big);
        let copy = write("copy.log", &big);
        // The same size, one byte different, past the first block.
        *big.last_mut().unwrap() = b'y';
        let near = write("near.log", &big);
        let other = write("other.log", b"short");
        let empty = write("empty.log", b"");
        let empty_too = write("empty-too.log", b"");
        let inputs = [
            a.clone(),
            copy,
            near,
            other,
            Input::Stdin,
            a,
            empty,
            empty_too,
            Input::File(dir.path().join("missing.log")),
        ];
        assert_eq!(
            same_as_earlier(&inputs),
            [None, Some(0), None, None, None, Some(0), None, None, None]
        );
    }

    #[test]
    fn byte_order_marks_are_honoured() {
        let text = "2026-11-24T10:00:00.000Z [INFO] caf\u{e9} \u{1F600}\r\nsecond line\r\n";
        let want = (
            vec![
                "2026-11-24T10:00:00.000Z [INFO] caf\u{e9} \u{1F600}".to_string(),
                "second line".to_string(),
            ],
            Some(Layout::Text),
        );
        let utf16 = |little: bool| utf16::encode(&format!("\u{feff}{text}"), little);
        let utf8_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        for bytes in [utf8_bom, utf16(true), utf16(false)] {
            let (out, stats) = file_records(&bytes);
            assert_eq!((out, stats.format), want);
            assert_eq!(stats.invalid_utf8, 0);
        }
        // And a JSON document in UTF-16, gzipped.
        let doc = "{\n    \"events\": [{\"timestamp\": 1, \"message\": \"m\"}]\n}\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let bytes = utf16::encode(&format!("\u{feff}{doc}"), true);
        std::io::Write::write_all(&mut gz, &bytes).unwrap();
        let (out, stats) = file_records(&gz.finish().unwrap());
        assert_eq!(
            (out, stats.format, stats.gzip),
            (vec!["m".to_string()], Some(Layout::Json), true)
        );
    }

    proptest::proptest! {
        /// Any text: reading never panics, no record is invented (a joined object is one
        /// record for several lines), and text without a line ending in `{` is read line for
        /// line.
        #[test]
        fn text_reading_keeps_every_line(lines in proptest::collection::vec("[ -~{}\"\\\\]{0,30}", 0..40)) {
            let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let (out, stats) = text_records(&input);
            let non_empty = lines.iter().filter(|l| !l.trim().is_empty()).count();
            proptest::prop_assert!(out.len() <= non_empty);
            proptest::prop_assert_eq!(stats.records as usize, out.len());
            if !lines.iter().any(|l| l.ends_with('{')) {
                let expected: Vec<&String> = lines.iter().filter(|l| !l.trim().is_empty()).collect();
                proptest::prop_assert_eq!(out.iter().collect::<Vec<_>>(), expected);
            }
        }
    }

    use proptest::strategy::Strategy as _;

    /// A sink that takes runs of lines, as the run's batches do.
    #[derive(Default)]
    struct RunSink {
        records: Vec<String>,
        runs: usize,
        /// Runs lent from a shared text.
        lent: usize,
    }

    impl RecordSink for RunSink {
        fn record(&mut self, record: RawRecord<'_>) {
            self.records.push(record.text.to_string());
        }

        fn lines(&mut self, input: u32, text: &str, lines: &[(usize, usize)]) {
            assert_eq!(input, 7);
            assert!(lines.windows(2).all(|w| w[0].1 < w[1].0), "{lines:?}");
            self.runs += usize::from(!lines.is_empty());
            for &(start, end) in lines {
                self.records.push(text[start..end].to_string());
            }
        }

        fn shared_lines(
            &mut self,
            input: u32,
            shared: &Arc<String>,
            offset: usize,
            lines: &[(usize, usize)],
        ) {
            self.lent += usize::from(!lines.is_empty());
            self.lines(input, &shared[offset..], lines);
        }
    }

    /// The layout is told by the whole first line even when one read gives only part of it,
    /// and the bytes read to tell it are read again as the input: an NDJSON record longer
    /// than a read, a long text line, a file without a line end, blanks before the first line.
    #[test]
    fn a_first_line_longer_than_a_read_tells_the_layout() {
        let long = "x".repeat(1000);
        let ndjson = format!(
            "{{\"timestamp\":1,\"message\":\"first {long}\"}}\n{{\"timestamp\":2,\"message\":\"second\"}}\n"
        );
        let text = format!("2022-10-21T17:25:29.482Z [INFO] {long}\nnext line\n");
        let blanks = format!(
            "{}\n\n{{\"timestamp\":1,\"message\":\"one\"}}",
            " ".repeat(300)
        );
        let cases: [(&str, InputFormat, Vec<String>); 4] = [
            (
                &ndjson,
                InputFormat::Ndjson,
                vec![format!("first {long}"), "second".into()],
            ),
            (
                &text,
                InputFormat::Text,
                text.lines().map(str::to_string).collect(),
            ),
            ("no line end", InputFormat::Text, vec!["no line end".into()]),
            (&blanks, InputFormat::Ndjson, vec!["one".into()]),
        ];
        for (input, format, records) in cases {
            for capacity in [7, 64, 1 << 15] {
                let mut reader = io::BufReader::with_capacity(capacity, input.as_bytes());
                let mut stats = InputStats::default();
                let mut got = RunSink::default();
                read_layout(&mut reader, false, 7, None, &mut stats, &mut got, None);
                assert_eq!(
                    stats.format,
                    Some(format.layout()),
                    "{capacity}: {input:.40}"
                );
                assert_eq!(got.records, records, "{capacity}: {input:.40}");
                assert_eq!(stats.error, None);
            }
        }

        // A read error while the first line is gathered: what came before it is read, and
        // the error is reported.
        let mut reader = io::BufReader::with_capacity(16, Failing(text.into_bytes(), false));
        let mut stats = InputStats::default();
        let mut got = RunSink::default();
        read_layout(&mut reader, false, 7, None, &mut stats, &mut got, None);
        assert_eq!(stats.format, Some(InputFormat::Text.layout()));
        assert_eq!(got.records, ["2022-10-21T17:25"]);
        assert!(stats.error.is_some());
    }

    proptest::proptest! {
        /// Lines lent in runs give the same records, in the same order, with the same counts,
        /// as the lines read one at a time: any bytes (CR, invalid UTF-8, blank lines, JSON
        /// objects over several lines), any buffer size.
        #[test]
        fn runs_give_the_lines_one_at_a_time_would(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b"\n".to_vec()),
                    proptest::strategy::Just(b"\r\n".to_vec()),
                    proptest::strategy::Just(b"  \n".to_vec()),
                    proptest::strategy::Just(b"err {\n".to_vec()),
                    proptest::strategy::Just(b"\"a\": 1\n".to_vec()),
                    proptest::strategy::Just(b"}\n".to_vec()),
                    proptest::strategy::Just(vec![0xff, b'x']),
                    proptest::strategy::Just(b"\x1b[31mred\x1b[0m".to_vec()),
                    proptest::strategy::Just("caf\u{e9}".as_bytes().to_vec()),
                    "[a-z ]{1,12}".prop_map(String::into_bytes),
                ],
                0..60,
            ),
            capacity in 1usize..64,
        ) {
            use proptest::prelude::*;
            let input: Vec<u8> = pieces.concat();
            let mut expected = Vec::new();
            let mut expected_stats = InputStats::default();
            {
                let mut lines = LineReader::new(io::BufReader::with_capacity(capacity, &input[..]));
                let mut block = JsonBlock::default();
                let mut sink = |r: RawRecord<'_>| expected.push(r.text.to_string());
                while let Some(line) = lines.next_line().unwrap() {
                    expected_stats.invalid_utf8 += u64::from(line.invalid_utf8);
                    match text_line(&line.text, &mut block) {
                        TextLine::Keep => {
                            expected_stats.records += 1;
                            sink(RawRecord { text: &line.text, ts: None, input: 7, stream: None });
                        }
                        TextLine::Skip => {}
                        TextLine::Emit(done) => emit_block(done, 7, &mut expected_stats, &mut sink),
                    }
                }
                if let Some(done) = block.finish() {
                    emit_block(done, 7, &mut expected_stats, &mut sink);
                }
            }
            let mut got = RunSink::default();
            let mut stats = InputStats::default();
            let mut reader = io::BufReader::with_capacity(capacity, &input[..]);
            read_text(&mut reader, 7, &mut stats, &mut got, None).unwrap();
            prop_assert_eq!(&got.records, &expected);
            prop_assert_eq!(stats.records, expected_stats.records);
            prop_assert_eq!(stats.invalid_utf8, expected_stats.invalid_utf8);
            prop_assert_eq!(got.lent, 0);

            // The same text shared (a gzip object inflated whole), lent a piece at a time:
            // the same records, the runs' lines lent from it.
            if let Ok(text) = String::from_utf8(input.clone()) {
                let shared = Arc::new(text);
                let mut got = RunSink::default();
                let mut stats = InputStats::default();
                let mut reader = Lend { bytes: shared.as_bytes(), piece: capacity };
                read_text(&mut reader, 7, &mut stats, &mut got, Some(&shared)).unwrap();
                prop_assert_eq!(&got.records, &expected);
                prop_assert_eq!(stats.records, expected_stats.records);
                prop_assert_eq!(stats.invalid_utf8, 0);
                prop_assert_eq!(got.lent, got.runs);
            }
        }
    }

    /// A reader that lends its bytes `piece` at a time, as a gzip object inflated whole is
    /// read.
    struct Lend<'a> {
        bytes: &'a [u8],
        piece: usize,
    }

    impl io::Read for Lend<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.fill_buf()?.len().min(buf.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.consume(n);
            Ok(n)
        }
    }

    impl BufRead for Lend<'_> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            Ok(&self.bytes[..self.piece.min(self.bytes.len())])
        }

        fn consume(&mut self, amount: usize) {
            self.bytes = &self.bytes[amount..];
        }
    }

    #[test]
    fn plain_lines_come_as_one_run() {
        let mut got = RunSink::default();
        let mut stats = InputStats::default();
        let mut reader = "a\r\n\nb c\n  \nd".as_bytes();
        read_text(&mut reader, 7, &mut stats, &mut got, None).unwrap();
        assert_eq!(got.records, ["a", "b c", "d"]);
        // The complete lines in one run, the last line (no line end) on its own.
        assert_eq!(got.runs, 1);
        assert_eq!(stats.records, 3);
    }

    /// An error object logged with indentation is one record, its prefix (time, level) kept;
    /// what is not a JSON object stays as the lines it was.
    #[test]
    fn json_printed_over_several_lines_is_one_record() {
        let (out, stats) = text_records(concat!(
            "2026-11-24T02:12:31.120Z ERROR checkout failed {\n",
            "  \"errorType\": \"Error\",\n",
            "  \"errorMessage\": \"Timed-out waiting to acquire database connection\",\n",
            "  \"note\": \"a } and a { inside a string\",\n",
            "  \"stack\": [\n",
            "    \"Error: Timed-out waiting to acquire database connection\",\n",
            "    \"    at /app/node_modules/pg/lib/client.js:526:17\"\n",
            "  ]\n",
            "}\n",
            "2026-11-24T02:12:32.000Z INFO next line\n",
        ));
        assert_eq!(
            out,
            [
                "2026-11-24T02:12:31.120Z ERROR checkout failed Error: Timed-out waiting to acquire database connection",
                "2026-11-24T02:12:32.000Z INFO next line",
            ]
        );
        assert_eq!(stats.records, 2);

        // A JavaScript object literal is not JSON: its lines are read as they were.
        let literal = "query failed {\n  code: 'ETIMEDOUT',\n  errno: -110\n}\nafter\n";
        let (out, _) = text_records(literal);
        assert_eq!(
            out,
            [
                "query failed {",
                "  code: 'ETIMEDOUT',",
                "  errno: -110",
                "}",
                "after"
            ]
        );

        // Never closed: the lines come out at the end of the input, in order.
        let (out, _) = text_records("open {\n  \"a\": 1,\n");
        assert_eq!(out, ["open {", "  \"a\": 1,"]);

        // A brace that does not open an object (`${`, `[{`) starts nothing.
        let (out, _) = text_records("template ${\nx\n");
        assert_eq!(out, ["template ${", "x"]);
    }

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
