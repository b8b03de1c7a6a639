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

use crate::model::LogLine;
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
            rest = after_stream;
        }
        if let Ok((after, (second, _))) = timestamp(rest) {
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
        match key {
            "proxyEndpoint" => line.endpoint = Some(value),
            "clientConnection" => line.client_conn = value.parse().ok(),
            "dbConnection" => line.db_conn = value.parse().ok(),
            _ => {}
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
    text.trim_start_matches([' ', '\t'])
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
