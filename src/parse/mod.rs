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
use combinators::{blanks, letter_run, tag_value, token};

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

    let rest = envelope_tags(rest, &mut line);
    line.message = rest.trim_end();
    if line.ts.is_none() && !line.has_envelope {
        line.ts = embedded_timestamp(line.message);
    }
    line
}

/// The first eight bytes of the keys of the proxy's own tags, as one little-endian word: a
/// tag's key is told by one comparison of a word instead of by its letters read one by one.
const PROXY_ENDPOINT: u64 = u64::from_le_bytes(*b"proxyEnd");
const CLIENT_CONNECTION: u64 = u64::from_le_bytes(*b"clientCo");
const DB_CONNECTION: u64 = u64::from_le_bytes(*b"dbConnec");

/// Which of the proxy's tags a key is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Endpoint,
    ClientConnection,
    DbConnection,
    Other,
}

/// Reads `[LEVEL]` and the `[key=value]` tags that follow it into `line`, in one pass over
/// the bytes, and returns what is left: the message. The same grammar as
/// [`combinators::level`] and [`combinators::tag_pair`] tried in turn with blanks skipped
/// after each (the property test `envelope_tags_read_as_the_combinators_read_them` holds
/// the two to the same `LogLine`), with the proxy's own keys told by their first eight bytes
/// and its connection ids read from words.
fn envelope_tags<'a>(rest: &'a str, line: &mut LogLine<'a>) -> &'a str {
    let bytes = rest.as_bytes();
    let mut at = 0;
    if bytes.first() == Some(&b'[') {
        let end = 1 + bytes
            .get(1..)
            .unwrap_or_default()
            .iter()
            .position(|b| !b.is_ascii_uppercase())
            .unwrap_or(bytes.len() - 1);
        if end > 1 && bytes.get(end) == Some(&b']') {
            // Upper-case ASCII letters: `1..end` are character boundaries.
            line.level = rest.get(1..end);
            line.has_envelope = true;
            at = blanks_from(bytes, end + 1);
        }
    }
    while bytes.get(at) == Some(&b'[') {
        let Some((key, value, id, x, end)) = tag_at(rest, at + 1) else {
            break;
        };
        match key {
            Key::Endpoint => line.endpoint = Some(value),
            Key::ClientConnection => line.client_conn = id,
            Key::DbConnection => line.db_conn = id,
            Key::Other => {}
        }
        // A value read as a connection id is digits, and a value without an `x` has no
        // `.proxy-`: neither holds a proxy host.
        if x && id.is_none() && !line.envelope_mark {
            line.envelope_mark = has_proxy_mark(value);
        }
        line.has_envelope = true;
        at = blanks_from(bytes, end + 1);
    }
    // Everything before `at` is ASCII (brackets, letters, `=`, blanks) or a value that ends
    // before an ASCII `]`: a character boundary.
    rest.get(at..).unwrap_or_default()
}

/// The tag whose key starts at `start` (just after its `[`): its key, its value, the value
/// as a connection id when the key is one of the proxy's connections, whether the value holds
/// an `x` (so may hold a proxy host), and the place of its closing `]`. `None` when the text
/// there is not a tag (`key=value]` with an ASCII letter key and a value of at least one
/// byte without `[` or `]`).
fn tag_at(rest: &str, start: usize) -> Option<(Key, &str, Option<u64>, bool, usize)> {
    let bytes = rest.as_bytes();
    let word = bytes
        .get(start..start + 8)
        .and_then(|word| word.try_into().ok())
        .map_or(0, u64::from_le_bytes);
    let tail = |suffix: &[u8]| bytes.get(start + 8..start + 8 + suffix.len()) == Some(suffix);
    let (key, value_start) = match word {
        PROXY_ENDPOINT if tail(b"point=") => (Key::Endpoint, start + 14),
        CLIENT_CONNECTION if tail(b"nnection=") => (Key::ClientConnection, start + 17),
        DB_CONNECTION if tail(b"tion=") => (Key::DbConnection, start + 13),
        _ => {
            let len = letter_run(rest.get(start..).unwrap_or_default());
            if len == 0 || bytes.get(start + len) != Some(&b'=') {
                return None;
            }
            (Key::Other, start + len + 1)
        }
    };
    if key == Key::ClientConnection || key == Key::DbConnection {
        // The proxy's ids: up to ten digits, then `]`, read from two words where the line
        // has the bytes for them; anything else (a short line's end, more digits, a sign, a
        // letter) is read as any value below, then as a connection id.
        if let Some((n, end)) = id_words(bytes, value_start) {
            // Digits: `value_start..end` are character boundaries.
            return Some((key, rest.get(value_start..end)?, Some(n), false, end));
        }
    }
    let (len, x) = tag_value(bytes.get(value_start..)?);
    let end = value_start + len;
    if len == 0 || bytes.get(end) != Some(&b']') {
        return None;
    }
    // `]` and `[` are ASCII, so the value ends at a character boundary.
    let value = rest.get(value_start..end)?;
    let id = match key {
        Key::ClientConnection | Key::DbConnection => connection_id(value),
        Key::Endpoint | Key::Other => None,
    };
    Some((key, value, id, x, end))
}

/// A connection id of 1 to 15 digits at `start`, followed by `]`: its value and the place
/// of the `]`, read from two words of eight bytes. `None` when it is not one, or the text
/// after `start` is too short for the words (the caller reads such an id byte by byte).
fn id_words(bytes: &[u8], start: usize) -> Option<(u64, usize)> {
    let word = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|word| word.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (first, first_values) = digit_prefix(word(start)?);
    let (n, end) = match first {
        0 => return None,
        1..=7 => (eight_digits(first_values, first), start + first as usize),
        _ => {
            let (second, second_values) = digit_prefix(word(start + 8)?);
            if second == 8 {
                return None;
            }
            let high = eight_digits(first_values, 8);
            let n = match second {
                0 => high,
                _ => high * 10u64.pow(second) + eight_digits(second_values, second),
            };
            (n, start + 8 + second as usize)
        }
    };
    (bytes.get(end) == Some(&b']')).then_some((n, end))
}

/// How many of `word`'s bytes (little-endian: the text's first byte lowest) are ASCII digits
/// before the first that is not, and every byte `^ b'0'` (a digit's value where it is one).
#[inline]
fn digit_prefix(word: u64) -> (u32, u64) {
    let values = word ^ 0x3030_3030_3030_3030;
    // A byte is a digit when its value's high nibble is 0 and 6 added to it does not reach
    // 16. A carry out of a byte over 0xf9 (not a digit) can only spoil the bytes above it, so
    // the lowest byte marked is the first that is not a digit.
    let others = (values & 0xf0f0_f0f0_f0f0_f0f0)
        | (values.wrapping_add(0x0606_0606_0606_0606) & 0x1010_1010_1010_1010);
    (others.trailing_zeros() / 8, values)
}

/// The number written by the first `count` (1 to 8) digit values of `values` (the first
/// digit in the lowest byte), in three multiplications (the bytes past `count` are shifted
/// out; the places they leave are leading zeros).
#[inline]
fn eight_digits(values: u64, count: u32) -> u64 {
    let v = values << (8 * (8 - count.clamp(1, 8)));
    // Pairs of digits, then fours, then the eight: each byte at most 99, each half at most
    // 9999, no carry between them.
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    ((v & 0x0000_00ff_0000_00ff)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((v >> 16) & 0x0000_00ff_0000_00ff).wrapping_mul(1 + (10_000 << 32))))
        >> 32
}

/// The place of the first byte at or after `at` that is not a space or a tab.
fn blanks_from(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    at
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
    // Spaces and tabs are ASCII, so the first other byte is at a character boundary.
    text.get(blanks_from(text.as_bytes(), 0)..)
        .unwrap_or_default()
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

    /// The level and tags as read before `envelope_tags`: the nom combinators tried in turn.
    fn reference_tags<'a>(mut rest: &'a str, line: &mut LogLine<'a>) -> &'a str {
        use combinators::{level, tag_pair};
        if let Ok((after, word)) = level(rest) {
            line.level = Some(word);
            line.has_envelope = true;
            rest = skip_blanks(after);
        }
        while let Ok((after, (key, value))) = tag_pair(rest) {
            let id = match key {
                "proxyEndpoint" => {
                    line.endpoint = Some(value);
                    None
                }
                "clientConnection" => {
                    line.client_conn = value.parse().ok();
                    line.client_conn
                }
                "dbConnection" => {
                    line.db_conn = value.parse().ok();
                    line.db_conn
                }
                _ => None,
            };
            if id.is_none() && !line.envelope_mark {
                line.envelope_mark = value.contains(crate::model::PROXY_MARK);
            }
            line.has_envelope = true;
            rest = skip_blanks(after);
        }
        rest
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// The one-pass reading of the level and tags gives the `LogLine` the combinators give,
        /// on the proxy's envelopes and on near misses of them: keys that share the proxy's
        /// first eight bytes, ids too long or not numbers, brackets and blanks out of place,
        /// text cut anywhere.
        #[test]
        fn envelope_tags_read_as_the_combinators_read_them(
            level in proptest::prop_oneof!["", "\\[(INFO|WARN|ERROR|DEBUG)\\]", "\\[[A-Za-z]{0,3}\\]?"],
            tags in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        "[ \t]{0,2}",
                        "[ \t]{0,2}\\[",
                    ],
                    proptest::prop_oneof![
                        proptest::strategy::Just("proxyEndpoint".to_string()),
                        proptest::strategy::Just("clientConnection".to_string()),
                        proptest::strategy::Just("dbConnection".to_string()),
                        "(proxyEnd|clientCo|dbConnec)[a-zA-Z]{0,9}",
                        "[a-zA-Z]{0,10}",
                        "(?s).{0,3}",
                    ],
                    proptest::prop_oneof!["=", "", "=="],
                    proptest::prop_oneof![
                        "[0-9]{0,22}",
                        "[+\\-]?[0-9]{1,10}[a-z]?",
                        "[a-z0-9.\\-]{0,12}(\\.proxy-[a-z0-9]{2}\\.[a-z]{2})?",
                        "(?s)[^\\]\\[]{0,4}",
                    ],
                    proptest::prop_oneof!["\\]", "", "\\]\\]", "\\["],
                ),
                0..5,
            ),
            message in "[ \t]{0,2}(?s).{0,12}",
            cut in proptest::option::of(0usize..80),
        ) {
            let mut text = level;
            for (before, key, equals, value, after) in tags {
                text.push_str(&before);
                text.push('[');
                text.push_str(&key);
                text.push_str(&equals);
                text.push_str(&value);
                text.push_str(&after);
            }
            text.push_str(&message);
            if let Some(cut) = cut {
                let mut cut = cut.min(text.len());
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            let mut want = LogLine::default();
            let want_rest = reference_tags(&text, &mut want);
            let mut got = LogLine::default();
            let got_rest = envelope_tags(&text, &mut got);
            proptest::prop_assert_eq!(got_rest, want_rest);
            proptest::prop_assert_eq!(got, want);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// An id read from words is the number its digits write, ends at its `]`, and is
        /// read only when the digits (1 to 15) are followed by `]`.
        #[test]
        fn ids_read_from_words_are_the_numbers_their_digits_write(
            before in "[0-9a-z]{0,3}",
            digits in "[0-9]{0,18}",
            after in "(?s)([\\]/:a\u{e9}][\\]0-9/:a\u{e9}]{0,11})?",
        ) {
            let text = format!("{before}{digits}{after}");
            let start = before.len();
            let want = (!digits.is_empty() && digits.len() <= 15 && after.starts_with(']'))
                .then(|| (digits.parse::<u64>().ok(), start + digits.len()));
            let enough = text.len() >= start + 16 || (digits.len() < 8 && text.len() >= start + 8);
            match id_words(text.as_bytes(), start) {
                Some((n, end)) => proptest::prop_assert_eq!(Some((Some(n), end)), want),
                None => proptest::prop_assert!(want.is_none() || !enough, "{}", text),
            }
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
