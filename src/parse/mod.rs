//! The line envelope parser: splits a record into timestamps, level, context tags and message.
//!
//! Grammar, every part optional (see `rds-proxy-logs.md` §1 and §7):
//!
//! ```text
//! [outer-ts [stream]] [message-ts] ["[" LEVEL "]"] {"[" key "=" value "]"} message
//! ```
//!
//! The outer timestamp is the one an S3 export or `aws logs tail` puts in front of the
//! message; `aws logs tail --format detailed` adds a stream-name token after it. The parser is
//! built from nom combinators only (no regex on this path) and cannot fail: whatever it does not
//! recognise stays in `message`, and the classifier decides what the line is.

pub mod combinators;

use crate::model::{LogLine, has_proxy_mark};
use crate::timefmt::timestamp;
use combinators::{blanks, level, tag_pair, token};

/// Parses the envelope of one line. Never fails; see the module docs for the grammar.
pub fn parse_line(text: &str) -> LogLine<'_> {
    let mut line = LogLine::default();
    let mut rest = skip_blanks(text.strip_prefix('\u{feff}').unwrap_or(text));

    if let Ok((after, (first, style))) = timestamp(rest) {
        line.ts = Some(first);
        rest = skip_blanks(after);
        if style.numeric_offset
            && let Some((stream, after_stream)) = tail_stream_token(rest, style.fraction_digits)
        {
            line.stream = Some(stream);
            line.envelope_mark = has_proxy_mark(stream);
            rest = after_stream;
        }
        // Every timestamp starts with a digit: a line whose envelope goes on with `[LEVEL]`
        // is not searched for a second one.
        if rest.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && let Ok((after, (second, _))) = timestamp(rest)
        {
            line.outer_ts = line.ts;
            line.ts = Some(second);
            rest = skip_blanks(after);
        }
    }

    if let Ok((after, word)) = level(rest) {
        line.level = Some(word);
        line.has_envelope = true;
        rest = skip_blanks(after);
    }

    while let Ok((after, (key, value))) = tag_pair(rest) {
        // A value read as a connection id is digits: it holds no proxy host.
        let id = match key {
            "proxyEndpoint" => {
                line.endpoint = Some(value);
                None
            }
            "clientConnection" => {
                line.client_conn = connection_id(value);
                line.client_conn
            }
            "dbConnection" => {
                line.db_conn = connection_id(value);
                line.db_conn
            }
            _ => None,
        };
        if id.is_none() && !line.envelope_mark {
            line.envelope_mark = has_proxy_mark(value);
        }
        line.has_envelope = true;
        rest = skip_blanks(after);
    }

    line.message = rest.trim_end();
    if line.ts.is_none() && !line.has_envelope {
        line.ts = embedded_timestamp(line.message);
    }
    line
}

/// How far into a line without envelope a timestamp is looked for (`time="…"`, `[…]`).
const TIMESTAMP_SCAN: usize = 48;

/// Application logs put their timestamp after a key or a bracket (`time="2024-…"`,
/// `[2024-…]`, `I 2024-…`): the first timestamp starting within [`TIMESTAMP_SCAN`] bytes at
/// a digit that follows a non-digit.
fn embedded_timestamp(message: &str) -> Option<crate::model::Millis> {
    let bytes = message.as_bytes();
    let end = bytes.len().min(TIMESTAMP_SCAN);
    (1..end)
        .filter(|&i| bytes[i].is_ascii_digit() && !bytes[i - 1].is_ascii_digit())
        .filter(|&i| message.is_char_boundary(i))
        .find_map(|i| timestamp(&message[i..]).ok().map(|(_, (ts, _))| ts))
}

/// After a timestamp with a numeric offset (`aws logs tail --format detailed`), the next token
/// is the log stream name when the timestamp has the CLI's six fraction digits, or when the
/// token is followed by another timestamp or a `[` tag.
fn tail_stream_token(rest: &str, fraction_digits: usize) -> Option<(&str, &str)> {
    let (after, stream) = token(rest).ok()?;
    if stream.starts_with('[') {
        return None;
    }
    let (after, _) = blanks(after).ok()?;
    let followed_by_envelope = after.starts_with('[') || timestamp(after).is_ok();
    (fraction_digits == 6 || followed_by_envelope).then_some((stream, after))
}

fn skip_blanks(text: &str) -> &str {
    // Byte by byte: `trim_start_matches` with a set of characters decodes each one first.
    let blanks = text
        .bytes()
        .position(|b| b != b' ' && b != b'\t')
        .unwrap_or(text.len());
    // Spaces and tabs are ASCII, so `blanks` is a character boundary.
    text.get(blanks..).unwrap_or_default()
}

/// A connection id (`clientConnection=…`, `dbConnection=…`): the proxy's are up to ten
/// digits, read in one pass; anything else is left to `str::parse`, so the result is its own
/// (a `+` sign, leading zeros past 19 digits, an overflow).
fn connection_id(value: &str) -> Option<u64> {
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 19 {
        return value.parse().ok();
    }
    let mut n = 0u64;
    for &b in bytes {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return value.parse().ok();
        }
        // At most 19 digits: no overflow.
        n = n * 10 + u64::from(digit);
    }
    Some(n)
}

/// Removes ANSI escape sequences (`ESC [ ... final-byte`, and lone `ESC x`) into `out`.
/// Returns false, leaving `out` untouched, when the text has none.
pub fn strip_ansi(text: &str, out: &mut String) -> bool {
    // The `memchr` crate's search: `str::contains` on a char is a slow generic loop here.
    if memchr::memchr(0x1b, text.as_bytes()).is_none() {
        return false;
    }
    out.clear();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        // `ESC [` starts a CSI sequence: parameter and intermediate bytes, then one final
        // byte in '@'..='~'. Any other escape drops just the next character.
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The one-pass reading of a connection id gives what `str::parse` gives, and blanks
        /// are skipped as `trim_start_matches` skips them.
        #[test]
        fn connection_ids_and_blanks_read_as_the_standard_library_reads_them(
            value in proptest::prop_oneof![
                "[0-9]{0,22}",
                "[+\\-]?[0-9]{0,20}[a-z ]?",
                "0{0,10}[0-9]{0,12}",
                "(?s).{0,6}",
            ],
            blanks in "[ \t]{0,4}(?s).{0,4}",
        ) {
            proptest::prop_assert_eq!(connection_id(&value), value.parse::<u64>().ok());
            proptest::prop_assert_eq!(skip_blanks(&blanks), blanks.trim_start_matches([' ', '\t']));
        }
    }

    fn check(text: &str) -> LogLine<'_> {
        parse_line(text)
    }

    #[test]
    fn current_proxy_line() {
        let line = check(
            "2022-10-21T17:25:29.482Z [INFO] [proxyEndpoint=default] [clientConnection=94296180] A new client connected from 10.0.0.5:55392.",
        );
        assert_eq!(line.ts, Some(1_666_373_129_482));
        assert_eq!(line.outer_ts, None);
        assert_eq!(line.level, Some("INFO"));
        assert_eq!(line.endpoint, Some("default"));
        assert_eq!(line.client_conn, Some(94_296_180));
        assert_eq!(line.message, "A new client connected from 10.0.0.5:55392.");
        assert!(line.has_envelope);
    }

    #[test]
    fn older_line_without_endpoint_and_db_side_line() {
        let line = check(
            "2020-08-04T11:47:24.251Z [WARN] [clientConnection=3888679423] The client session was pinned",
        );
        assert_eq!(line.endpoint, None);
        assert_eq!(line.client_conn, Some(3_888_679_423));
        let line = check(
            "[dbConnection=4173595554] A TCP connection was established from the proxy at 10.0.11.38:15569 to the database at 10.0.10.246:5432",
        );
        assert_eq!(line.db_conn, Some(4_173_595_554));
        assert!(line.message.starts_with("A TCP connection"));
    }

    #[test]
    fn the_envelope_mark_is_in_tag_values_and_the_stream_token() {
        let host = "orders.proxy-c9ak.us-east-1.rds.amazonaws.com";
        for (text, marked) in [
            (
                format!("2023-06-01T12:00:00.000Z [INFO] [proxyEndpoint={host}] m"),
                true,
            ),
            (
                format!("2023-06-01T12:00:00.000Z [INFO] [host={host}] [clientConnection=1] m"),
                true,
            ),
            (
                format!("2023-06-01T12:00:00.000Z [INFO] [clientConnection={host}] m"),
                true,
            ),
            (format!("2023-06-01T12:00:00.000000+00:00 {host} m"), true),
            (
                format!("2023-06-01T12:00:00.000Z [INFO] [clientConnection=1] {host}"),
                false,
            ),
            (
                "2023-06-01T12:00:00.000Z [INFO] [proxyEndpoint=default] [dbConnection=7] m"
                    .to_string(),
                false,
            ),
        ] {
            assert_eq!(check(&text).envelope_mark, marked, "{text}");
        }
    }

    #[test]
    fn bare_message() {
        let line = check("Credentials couldn't be retrieved. The IAM role \"x\"");
        assert_eq!(line.ts, None);
        assert!(!line.has_envelope);
        assert_eq!(
            line.message,
            "Credentials couldn't be retrieved. The IAM role \"x\""
        );
    }

    #[test]
    fn s3_export_has_two_timestamps() {
        let line = check(
            "2022-10-21T17:25:30.000Z 2022-10-21T17:25:29.482Z [INFO] [proxyEndpoint=ro] m.\r",
        );
        assert_eq!(line.outer_ts, Some(1_666_373_130_000));
        assert_eq!(line.ts, Some(1_666_373_129_482));
        assert_eq!(line.endpoint, Some("ro"));
        assert_eq!(line.message, "m.");
    }

    #[test]
    fn tail_detailed_and_short() {
        let line = check(
            "2022-10-21T17:25:29.482000+00:00 0a1b2c3d4e 2022-10-21T17:25:29.482Z [INFO] [clientConnection=1] m",
        );
        assert_eq!(line.stream, Some("0a1b2c3d4e"));
        assert_eq!(line.ts, Some(1_666_373_129_482));
        assert_eq!(line.client_conn, Some(1));
        let line = check("2022-10-21T17:25:29.482000+00:00 0a1b2c3d4e Credentials couldn't be");
        assert_eq!(line.stream, Some("0a1b2c3d4e"));
        assert_eq!(line.message, "Credentials couldn't be");
        let line = check("2022-10-21T17:25:29 2022-10-21T17:25:29.482Z [INFO] m");
        assert_eq!(line.outer_ts, Some(1_666_373_129_000));
        assert_eq!(line.ts, Some(1_666_373_129_482));
    }

    #[test]
    fn application_log_keeps_text_after_timestamp() {
        let line = check(
            "2024-05-19 06:10:35,743 ERROR [main] HikariPool - FATAL: This RDS proxy has no credentials",
        );
        assert_eq!(line.ts, Some(1_716_099_035_743));
        assert!(!line.has_envelope);
        assert!(line.message.starts_with("ERROR [main]"));
    }

    #[test]
    fn timestamp_after_a_key_or_bracket() {
        let line = check("time=\"2026-11-24T09:58:04.000Z\" level=error msg=x");
        assert_eq!(line.ts, Some(1_795_514_284_000));
        assert_eq!(
            line.message,
            "time=\"2026-11-24T09:58:04.000Z\" level=error msg=x"
        );
        assert_eq!(
            check("[2026-11-24 09:58:04] ERROR x").ts,
            Some(1_795_514_284_000)
        );
        assert_eq!(check("no time here 12:00").ts, None);
        assert_eq!(
            check(&format!("{} 2026-11-24 09:58:04", "x".repeat(60))).ts,
            None
        );
    }

    #[test]
    fn unknown_tags_and_bad_ids_do_not_fail() {
        let line = check("[INFO] [proxyEndpoint=x] [clientConnection=notanumber] [other=1] m");
        assert_eq!(line.client_conn, None);
        assert_eq!(line.endpoint, Some("x"));
        assert_eq!(line.message, "m");
    }

    #[test]
    fn ansi_is_stripped() {
        let mut out = String::new();
        assert!(strip_ansi(
            "\u{1b}[32m2022-10-21T17:25:29\u{1b}[0m msg",
            &mut out
        ));
        assert_eq!(out, "2022-10-21T17:25:29 msg");
        assert!(!strip_ansi("plain", &mut out));
        assert!(strip_ansi("dangling \u{1b}", &mut out));
        assert_eq!(out, "dangling ");
    }
}
