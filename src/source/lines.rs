//! A line reader for untrusted input: bounded line length, CRLF, lossy UTF-8, read errors kept.
//!
//! `BufRead::read_until` would grow a buffer to the size of a file without newlines (a binary
//! blob, a multi-gigabyte single line). This reader keeps at most [`MAX_LINE`] bytes of a line,
//! skips the rest, and tells the caller the line was cut.

use std::borrow::Cow;
use std::io::{self, BufRead};

/// Longest line kept, in bytes; the rest of a longer line is skipped (and counted).
pub const MAX_LINE: usize = 1 << 20;

/// One line as read: text (lossily decoded), and what was wrong with it.
#[derive(Debug)]
pub struct Line<'a> {
    pub text: Cow<'a, str>,
    pub invalid_utf8: bool,
    pub truncated: bool,
}

pub struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    max: usize,
    /// Bytes of the reader's buffer lent out by the last call, consumed on the next one.
    pending: usize,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(reader: R) -> LineReader<R> {
        LineReader::with_max(reader, MAX_LINE)
    }

    pub fn with_max(reader: R, max: usize) -> LineReader<R> {
        LineReader {
            reader,
            buf: Vec::with_capacity(4096),
            max,
            pending: 0,
        }
    }

    /// The next line, `Ok(None)` at the end, or the read error (the reader should then stop;
    /// whatever was read of a partial line is returned first).
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.reader.consume(std::mem::take(&mut self.pending));
        // A whole line inside the reader's buffer (nearly every line) is lent, not copied.
        let whole = match self.reader.fill_buf() {
            Ok(available) => memchr::memchr(b'\n', available).filter(|&at| at <= self.max),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
            Err(e) => return Err(e),
        };
        if let Some(at) = whole {
            // The same buffer again: nothing is read.
            let available = self.reader.fill_buf()?;
            let mut bytes = available.get(..at).unwrap_or_default();
            if let [rest @ .., b'\r'] = bytes {
                bytes = rest;
            }
            self.pending = at + 1;
            return Ok(Some(decode(bytes, false)));
        }
        self.buf.clear();
        let mut truncated = false;
        let mut saw_any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if saw_any {
                        // Hand out the partial line now; the error repeats on the next call.
                        break;
                    }
                    return Err(e);
                }
            };
            if available.is_empty() {
                if !saw_any {
                    return Ok(None);
                }
                break;
            }
            saw_any = true;
            let (chunk, consumed, done) = match memchr::memchr(b'\n', available) {
                Some(at) => (&available[..at], at + 1, true),
                None => (available, available.len(), false),
            };
            let room = self.max.saturating_sub(self.buf.len());
            if chunk.len() > room {
                truncated = true;
            }
            self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            self.reader.consume(consumed);
            if done {
                break;
            }
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(decode(&self.buf, truncated)))
    }
}

/// What [`LineReader::for_each_piece`] hands out.
#[derive(Debug)]
pub enum Piece<'a> {
    /// Whole lines lent from the reader's buffer: each ends in `\n` (a `\r` before it is
    /// part of the run), none is longer than the limit, all of it is valid UTF-8.
    Run(&'a str),
    /// One line on its own: cut by the buffer's end, longer than the limit, or not valid UTF-8.
    Line(Line<'a>),
}

impl<R: BufRead> LineReader<R> {
    /// Calls `each` with every line to the end: the same lines as [`LineReader::next_line`],
    /// from [`LineReader::for_each_piece`]'s runs. A read error is returned after the lines
    /// before it. Text inputs are read by runs; this is for the tests, which compare the
    /// lines of the runs with those read one at a time.
    #[cfg(test)]
    pub fn for_each_line(&mut self, each: &mut dyn FnMut(Line<'_>)) -> io::Result<()> {
        self.for_each_piece(&mut |piece| match piece {
            Piece::Run(run) => {
                for line in run.split_terminator('\n') {
                    each(Line {
                        text: Cow::Borrowed(line.strip_suffix('\r').unwrap_or(line)),
                        invalid_utf8: false,
                        truncated: false,
                    });
                }
            }
            Piece::Line(line) => each(line),
        })
    }

    /// Calls `each` with every line to the end, lent in runs: the complete lines of the
    /// reader's buffer are checked as UTF-8 once, as one block, and lent as one run (a sink
    /// that copies them copies the run at once); a line that is cut by the buffer's end, longer
    /// than the limit or not valid UTF-8 goes through `next_line` and comes on its own. A read
    /// error is returned after the lines before it.
    pub fn for_each_piece(&mut self, each: &mut dyn FnMut(Piece<'_>)) -> io::Result<()> {
        self.for_each_piece_in(None, each)
    }

    /// [`LineReader::for_each_piece`], where what the reader gives from within `valid` (text
    /// the reader's buffer lends, already known to be UTF-8) is not checked again.
    pub fn for_each_piece_in(
        &mut self,
        valid: Option<&str>,
        each: &mut dyn FnMut(Piece<'_>),
    ) -> io::Result<()> {
        loop {
            self.reader.consume(std::mem::take(&mut self.pending));
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let complete = memchr::memrchr(b'\n', available)
                .and_then(|last| available.get(..=last))
                .unwrap_or_default();
            // simdutf8 checks a valid block several times faster than the standard library
            // (the same answer: property-tested below); where it finds an error, the standard
            // library says where.
            let known = valid
                .and_then(|valid| lent_from(valid, complete))
                .map(|(_, text)| text);
            let checked = match known {
                Some(text) => Ok(text),
                None => simdutf8::basic::from_utf8(complete)
                    .ok()
                    .map_or_else(|| std::str::from_utf8(complete), Ok),
            };
            let valid = match checked {
                Ok(text) => text,
                Err(e) => {
                    let upto = complete.get(..e.valid_up_to()).unwrap_or_default();
                    let last = memchr::memrchr(b'\n', upto).map_or(0, |last| last + 1);
                    std::str::from_utf8(upto.get(..last).unwrap_or_default()).unwrap_or_default()
                }
            };
            // The run ends before the first line longer than the limit (none is when the whole
            // run is not: the limit is larger than the reader's buffer).
            let mut done = valid.len();
            if done > self.max {
                done = 0;
                for end in memchr::memchr_iter(b'\n', valid.as_bytes()) {
                    if end - done > self.max {
                        break;
                    }
                    done = end + 1;
                }
            }
            if done > 0 {
                each(Piece::Run(valid.get(..done).unwrap_or_default()));
                self.reader.consume(done);
                continue;
            }
            // The line at the start of the buffer is not whole in it, too long, or invalid.
            match self.next_line()? {
                Some(line) => each(Piece::Line(line)),
                None => return Ok(()),
            }
        }
    }
}

/// Where `bytes` lie in `text`, and they as its part, when they lie within it (at char
/// boundaries).
pub fn lent_from<'t>(text: &'t str, bytes: &[u8]) -> Option<(usize, &'t str)> {
    let start = (bytes.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let part = text.get(start..start.checked_add(bytes.len())?)?;
    Some((start, part))
}

fn decode(bytes: &[u8], truncated: bool) -> Line<'_> {
    let (text, invalid_utf8) = match std::str::from_utf8(bytes) {
        Ok(text) => (Cow::Borrowed(text), false),
        Err(_) => (String::from_utf8_lossy(bytes), true),
    };
    Line {
        text,
        invalid_utf8,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<(String, bool, bool)> {
        let mut reader = LineReader::with_max(io::BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push((line.text.into_owned(), line.invalid_utf8, line.truncated));
        }
        out
    }

    #[test]
    fn crlf_and_last_line_without_newline() {
        assert_eq!(
            lines(b"a\r\nbb\nccc", 100),
            [
                ("a".into(), false, false),
                ("bb".into(), false, false),
                ("ccc".into(), false, false)
            ]
        );
        assert_eq!(lines(b"", 100), []);
        assert_eq!(lines(b"\n", 100), [(String::new(), false, false)]);
    }

    #[test]
    fn long_lines_are_cut_not_buffered() {
        let mut input = vec![b'x'; 50];
        input.extend_from_slice(b"\nnext\n");
        let out = lines(&input, 10);
        assert_eq!(out[0], ("x".repeat(10), false, true));
        assert_eq!(out[1], ("next".into(), false, false));
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        let out = lines(b"ok\xff\xfe\n", 100);
        assert_eq!(out[0], ("ok\u{fffd}\u{fffd}".into(), true, false));
    }

    proptest::proptest! {
        /// The reader's UTF-8 check (simdutf8, then the standard library where it finds an
        /// error) accepts exactly what the standard library accepts: long runs of ASCII
        /// (its vector path) with characters of two to four bytes, cut sequences and bytes
        /// that are never UTF-8 anywhere among them.
        #[test]
        fn the_utf8_check_accepts_what_the_standard_library_accepts(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Strategy::prop_map("[ -~\n]{0,80}", String::into_bytes),
                    proptest::strategy::Strategy::prop_map(
                        "[\u{80}-\u{7ff}\u{800}-\u{ffff}\u{10000}-\u{10ffff}]{1,3}",
                        String::into_bytes,
                    ),
                    proptest::collection::vec(0x80u8..=0xff, 1..3),
                ],
                0..12,
            ),
        ) {
            let bytes: Vec<u8> = parts.concat();
            let fast = simdutf8::basic::from_utf8(&bytes).ok();
            proptest::prop_assert_eq!(fast, std::str::from_utf8(&bytes).ok());
        }
    }

    /// Against a plain split, for any buffer size (lines lent from the buffer, or copied
    /// across refills) and any length limit.
    #[test]
    fn agrees_with_a_plain_split() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let bytes = proptest::collection::vec(
            prop_oneof![
                Just(b'\n'),
                Just(b'\r'),
                Just(0xffu8),
                Just(0xc3),
                Just(0xa9),
                b'a'..b'e'
            ],
            0..200,
        );
        TestRunner::new(Config::with_cases(800))
            .run(
                &(bytes, 1usize..40, 1usize..30),
                |(input, capacity, max)| {
                    let mut expected = Vec::new();
                    let mut pieces: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
                    if pieces.last().is_some_and(|p| p.is_empty()) {
                        pieces.pop();
                    }
                    for piece in pieces {
                        let mut kept = &piece[..piece.len().min(max)];
                        if let [rest @ .., b'\r'] = kept {
                            kept = rest;
                        }
                        let text = String::from_utf8_lossy(kept).into_owned();
                        let invalid = std::str::from_utf8(kept).is_err();
                        expected.push((text, invalid, piece.len() > max));
                    }
                    let mut reader = LineReader::with_max(
                        io::BufReader::with_capacity(capacity, &input[..]),
                        max,
                    );
                    let mut got = Vec::new();
                    while let Some(line) = reader.next_line().unwrap() {
                        got.push((line.text.into_owned(), line.invalid_utf8, line.truncated));
                    }
                    prop_assert_eq!(&got, &expected);
                    let mut reader = LineReader::with_max(
                        io::BufReader::with_capacity(capacity, &input[..]),
                        max,
                    );
                    let mut each = Vec::new();
                    reader
                        .for_each_line(&mut |line| {
                            each.push((line.text.into_owned(), line.invalid_utf8, line.truncated))
                        })
                        .unwrap();
                    prop_assert_eq!(each, expected);
                    Ok(())
                },
            )
            .unwrap();
    }

    use crate::source::tests::Failing;

    #[test]
    fn read_error_after_partial_line_keeps_the_data() {
        let mut reader = LineReader::new(io::BufReader::new(Failing(b"one\ntw".to_vec(), false)));
        assert_eq!(reader.next_line().unwrap().unwrap().text, "one");
        assert_eq!(reader.next_line().unwrap().unwrap().text, "tw");
        assert!(reader.next_line().is_err());
    }

    #[test]
    fn each_line_keeps_the_data_before_a_read_error() {
        let mut reader = LineReader::new(io::BufReader::new(Failing(b"one\ntw".to_vec(), false)));
        let mut got = Vec::new();
        let result = reader.for_each_line(&mut |line| got.push(line.text.into_owned()));
        assert!(result.is_err());
        assert_eq!(got, ["one", "tw"]);
    }
}
