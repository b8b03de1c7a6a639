//! A hand-written reader of the one JSON shape that fills a day of exported logs: a plain
//! CloudWatch event, as `aws logs filter-log-events` prints each element of its `events`
//! array (`logStreamName`, `timestamp`, `message`, `ingestionTime`, `eventId`).
//!
//! serde_json's derived reader of that event (`structured::CloudWatchEvent`) was the one
//! reader thread's whole run on a large document, while the workers waited for it. This reads
//! the same objects in one pass over their bytes: keys compared by length and as words, a
//! string found with `memchr` and borrowed when it holds no escape, a timestamp's digits read
//! as they come, the CLI's indentation stepped over a word at a time. It
//! takes only what it is sure of, a subset of what serde accepts: anything else (a key it does
//! not know or has seen already, an escaped key, a value of another type, a number with a
//! sign, a fraction or 19 digits, an object cut short) gives `None`, and the caller reads the
//! element with serde as before. A property test holds it to serde's reading of any object.

use std::borrow::Cow;

use crate::model::Millis;

/// The fields of a plain CloudWatch event that are handed on; the others are skipped.
#[derive(Debug, PartialEq)]
pub(super) struct PlainEvent<'a> {
    pub message: Cow<'a, str>,
    /// `timestamp`, in epoch milliseconds, when the event has one.
    pub ts: Option<Millis>,
    pub stream: Option<Cow<'a, str>>,
}

/// Reads the plain CloudWatch event that `bytes` starts with (its `{` first): the event and
/// the offset just past its `}`. `None` when it is not one this reader is sure of, or is cut
/// short: then serde decides.
pub(super) fn plain_event(bytes: &[u8]) -> Option<(PlainEvent<'_>, usize)> {
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let mut at = blanks(bytes, 1);
    let mut seen = 0u8;
    let mut message = None;
    let mut ts = None;
    let mut stream = None;
    loop {
        if bytes.get(at) != Some(&b'"') {
            return None;
        }
        // A key with an escape is left to serde.
        let (key, next) = unescaped(bytes, at + 1)?;
        at = blanks(bytes, next);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at = blanks(bytes, at + 1);
        let bit = field_bit(key)?;
        // serde refuses a field given twice.
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        at = match bit {
            MESSAGE => {
                let (value, next) = string_value(bytes, at)?;
                message = Some(value);
                next
            }
            STREAM => {
                let (value, next) = string_value(bytes, at)?;
                stream = Some(value);
                next
            }
            TIMESTAMP => {
                let (value, next) = integer(bytes, at)?;
                ts = Some(value);
                next
            }
            // Skipped, as serde's `IgnoredAny` skips them: a string or an integer only here.
            _ if bytes.get(at) == Some(&b'"') => skip_string(bytes, at)?,
            _ => integer(bytes, at)?.1,
        };
        at = blanks(bytes, at);
        match bytes.get(at) {
            Some(b',') => at = blanks(bytes, at + 1),
            Some(b'}') => break,
            _ => return None,
        }
    }
    let event = PlainEvent {
        message: message?,
        ts,
        stream,
    };
    Some((event, at + 1))
}

/// The bits of the keys handed on (the others are skipped).
const MESSAGE: u8 = 1;
const TIMESTAMP: u8 = 2;
const STREAM: u8 = 4;

/// The bit of a known key (one each, to find a key given twice), compared as words rather
/// than through `memcmp`.
fn field_bit(key: &[u8]) -> Option<u8> {
    fn is<const N: usize>(key: &[u8], name: &[u8; N]) -> bool {
        <&[u8; N]>::try_from(key).is_ok_and(|key| key == name)
    }
    let bit = match key.len() {
        7 if is(key, b"message") => MESSAGE,
        9 if is(key, b"timestamp") => TIMESTAMP,
        13 if is(key, b"logStreamName") => STREAM,
        13 if is(key, b"ingestionTime") => 8,
        7 if is(key, b"eventId") => 16,
        2 if is(key, b"id") => 32,
        12 if is(key, b"logGroupName") => 64,
        _ => return None,
    };
    Some(bit)
}

/// The offset of the first byte from `at` that is not JSON whitespace. Most calls find a
/// token right there, or one space before it; the CLI indents each field by 12 spaces after a
/// line break, and a run of spaces is counted eight bytes at a time.
fn blanks(bytes: &[u8], mut at: usize) -> usize {
    const SPACES: u64 = u64::from_le_bytes(*b"        ");
    const BLANKS: u64 = 1 << b' ' | 1 << b'\n' | 1 << b'\r' | 1 << b'\t';
    loop {
        let Some(&byte) = bytes.get(at) else {
            return at;
        };
        // A mask, not a jump table (whose target was mispredicted).
        if byte > b' ' || BLANKS & (1 << byte) == 0 {
            return at;
        }
        at += 1;
        if byte != b' ' {
            continue;
        }
        match bytes
            .get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
        {
            // The spaces among the next eight bytes, up to the first other byte.
            Some(word) => at += ((u64::from_le_bytes(word) ^ SPACES).trailing_zeros() / 8) as usize,
            None => {
                while bytes.get(at) == Some(&b' ') {
                    at += 1;
                }
            }
        }
    }
}

/// The bytes of the string whose opening quote is just before `from`, up to its closing
/// quote, when it holds no escape (nothing of them is checked); with the offset past that
/// quote. `None` at an escape, or when the string is cut short.
fn unescaped(bytes: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let rest = bytes.get(from..)?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest.get(end) != Some(&b'"') {
        return None;
    }
    Some((rest.get(..end)?, from + end + 1))
}

/// Steps over the string value at `at` (its opening quote), as serde's `IgnoredAny` does:
/// without an escape, only control characters refuse it (serde does not check a skipped
/// string's UTF-8); with one, it is read as a value is (which checks more than skipping would:
/// a refusal only leaves the element to serde). The offset past its closing quote.
fn skip_string(bytes: &[u8], at: usize) -> Option<usize> {
    match unescaped(bytes, at + 1) {
        Some((text, next)) => plain_text(text).then_some(next),
        None => string_value(bytes, at).map(|(_, next)| next),
    }
}

/// No control character (which JSON refuses unescaped in a string). Written as a fold over
/// every byte so that it is checked a vector at a time.
fn plain_text(text: &[u8]) -> bool {
    !text.iter().fold(false, |control, &b| control | (b < 0x20))
}

/// The string value at `at`: borrowed when it holds no escape, else unescaped ([`unescape`],
/// or serde_json for what that is not sure of); with the offset past its closing quote.
fn string_value(bytes: &[u8], at: usize) -> Option<(Cow<'_, str>, usize)> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let from = at + 1;
    if let Some((text, next)) = unescaped(bytes, from) {
        if !plain_text(text) {
            return None;
        }
        let text = simdutf8::basic::from_utf8(text).ok()?;
        return Some((Cow::Borrowed(text), next));
    }
    // Escapes: find the closing quote (an escaped character is stepped over), then unescape;
    // what `unescape` is not sure of, serde reads.
    let rest = bytes.get(from..)?;
    let mut end = 0;
    loop {
        end += memchr::memchr2(b'"', b'\\', rest.get(end..)?)?;
        match rest.get(end) {
            Some(b'\\') => end += 2,
            _ => break,
        }
    }
    let text = match unescape(rest.get(..end)?) {
        Some(text) => text,
        None => serde_json::from_slice(bytes.get(at..from + end + 1)?).ok()?,
    };
    Some((Cow::Owned(text), from + end + 1))
}

/// The text of a string's escaped content (between its quotes): PostgreSQL's and MySQL's
/// messages quote names (`for user \"app\"`), which the CLI escapes. `None` for a control
/// character, bytes that are not UTF-8, an unknown escape or one cut short, and a `\u`
/// escape of a surrogate that is not the first of a pair followed by the second (which serde
/// refuses or reads its own way).
fn unescape(raw: &[u8]) -> Option<String> {
    if !plain_text(raw) {
        return None;
    }
    // Escapes are ASCII: the bytes between them are UTF-8 when the whole is.
    let raw = simdutf8::basic::from_utf8(raw).ok()?;
    let mut text = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = memchr::memchr(b'\\', rest.as_bytes()) {
        text.push_str(rest.get(..at)?);
        let escape = rest.get(at + 1..)?;
        let (ch, len) = match escape.as_bytes().first()? {
            b'"' => ('"', 1),
            b'\\' => ('\\', 1),
            b'/' => ('/', 1),
            b'b' => ('\u{8}', 1),
            b'f' => ('\u{c}', 1),
            b'n' => ('\n', 1),
            b'r' => ('\r', 1),
            b't' => ('\t', 1),
            b'u' => {
                let unit = hex4(escape.get(1..5)?)?;
                match unit {
                    0xD800..=0xDBFF => {
                        let low = escape
                            .get(5..7)
                            .filter(|s| *s == "\\u")
                            .and(escape.get(7..11));
                        let low = hex4(low?)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return None;
                        }
                        let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        (char::from_u32(code)?, 11)
                    }
                    0xDC00..=0xDFFF => return None,
                    _ => (char::from_u32(unit)?, 5),
                }
            }
            _ => return None,
        };
        text.push(ch);
        rest = escape.get(len..)?;
    }
    text.push_str(rest);
    Some(text)
}

/// Four hexadecimal digits, either case.
fn hex4(digits: &str) -> Option<u32> {
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

/// The integer at `at`, of at most 18 digits (so that it is an `i64` whatever they are) and
/// without a sign or a leading zero (which JSON refuses); with the offset past it. What
/// follows is the caller's to check: a fraction or an exponent is then no `,` or `}`.
fn integer(bytes: &[u8], at: usize) -> Option<(Millis, usize)> {
    let mut end = at;
    let mut value: Millis = 0;
    while let Some(&digit @ b'0'..=b'9') = bytes.get(end) {
        value = value * 10 + Millis::from(digit - b'0');
        end += 1;
        if end - at > 18 {
            return None;
        }
    }
    let digits = end - at;
    if digits == 0 || (digits > 1 && bytes.get(at) == Some(&b'0')) {
        return None;
    }
    Some((value, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// What serde's reading of the event gives, as the fast reader gives it, with the offset
    /// past the object.
    fn by_serde(bytes: &[u8]) -> Option<(PlainEvent<'_>, usize)> {
        let mut events = serde_json::Deserializer::from_slice(bytes)
            .into_iter::<crate::source::structured::CloudWatchEvent>();
        let event = events.next()?.ok()?;
        Some((event.into_plain(), events.byte_offset()))
    }

    #[test]
    fn reads_what_the_aws_cli_prints() {
        let element = br#"{
            "logStreamName": "proxy-stream-00",
            "timestamp": 1793491200031,
            "message": "2026-11-01T00:00:00.031Z [INFO] [proxyEndpoint=endpoint-65] [clientConnection=612006409] A new client connected from 10.3.185.50:59813.",
            "ingestionTime": 1793491200931,
            "eventId": "00000000000000000000000000000000000000000000000000000000"
        },
        {"#;
        let (event, end) = plain_event(element).expect("a plain event");
        assert!(matches!(event.message, Cow::Borrowed(_)));
        assert!(event.message.ends_with("10.3.185.50:59813."));
        assert_eq!(event.ts, Some(1_793_491_200_031));
        assert_eq!(event.stream.as_deref(), Some("proxy-stream-00"));
        assert_eq!(&element[end - 1..end], b"}");
        assert_eq!(Some((event, end)), by_serde(element));
    }

    #[test]
    fn unescapes_what_serde_would() {
        let element = br#"{"message":"FATAL: password authentication failed for user \"app\"\n\u00e9\ud83d\ude00","timestamp":0}"#;
        let (event, end) = plain_event(element).expect("a plain event");
        assert_eq!(
            event.message,
            "FATAL: password authentication failed for user \"app\"\n\u{e9}\u{1f600}"
        );
        assert_eq!(event.ts, Some(0));
        assert_eq!(end, element.len());
    }

    #[test]
    fn leaves_to_serde_what_it_is_not_sure_of() {
        for element in [
            &br#"{"message":"m","extra":1}"#[..],
            br#"{"message":"m","message":"n"}"#,
            br#"{"mess\u0061ge":"m"}"#,
            br#"{"message":"m","timestamp":-1}"#,
            br#"{"message":"m","timestamp":1.5}"#,
            br#"{"message":"m","timestamp":1e3}"#,
            br#"{"message":"m","timestamp":0123}"#,
            br#"{"message":"m","timestamp":1234567890123456789}"#,
            br#"{"message":"m","timestamp":"2024-05-19T06:10:35Z"}"#,
            br#"{"message":"m","logStreamName":null}"#,
            br#"{"message":null}"#,
            br#"{"timestamp":1}"#,
            br#"{"message":"m",}"#,
            br#"{"message":"m""#,
            br#"{"message":"m"#,
            b"{\"message\":\"a\tb\"}",
            b"{\"message\":\"\xff\"}",
            br#"{"message":"\x"}"#,
            br#"{"message":"\ud800"}"#,
        ] {
            assert_eq!(
                plain_event(element),
                None,
                "{}",
                String::from_utf8_lossy(element)
            );
        }
    }

    /// A value the fast reader takes for `key`, or now and then one it must leave to serde.
    fn value(key: &str) -> BoxedStrategy<Value> {
        let text = prop_oneof![
            "(?s).{0,12}".prop_map(Value::from),
            "[a-z\\\\\"\t\n\u{e9}\u{1f600}\u{7f}]{0,12}".prop_map(Value::from),
        ];
        let number = (0i64..10_000_000_000_000).prop_map(Value::from);
        let good = match key {
            "timestamp" | "ingestionTime" => number.boxed(),
            "message" | "logStreamName" => text.boxed(),
            _ => prop_oneof![text, number].boxed(),
        };
        prop_oneof![
            30 => good,
            1 => any::<i64>().prop_map(Value::from),
            1 => any::<f64>().prop_map(Value::from),
            1 => "[0-9]{0,3}".prop_map(Value::from),
            1 => Just(Value::Null),
            1 => Just(serde_json::json!({"a": [1, "b"]})),
        ]
        .boxed()
    }

    const KEYS: [&str; 7] = [
        "message",
        "timestamp",
        "logStreamName",
        "ingestionTime",
        "eventId",
        "id",
        "logGroupName",
    ];

    /// An object's text: a plain event's fields (its message and some of the others, in any
    /// order), pretty or compact, then perhaps spoilt: a key given twice, a key of another
    /// name, or bytes put in anywhere (a raw byte, an escape, a number's sign or fraction).
    fn object() -> impl Strategy<Value = Vec<u8>> {
        let fields = proptest::sample::subsequence(KEYS[1..].to_vec(), 0..=6)
            .prop_map(|mut keys| {
                keys.insert(0, "message");
                keys
            })
            .prop_shuffle()
            .prop_flat_map(|keys| {
                keys.into_iter()
                    .map(|k| value(k).prop_map(move |v| (k.to_string(), v)))
                    .collect::<Vec<_>>()
            });
        let extra = prop_oneof![
            proptest::sample::select(KEYS.to_vec()).prop_map(str::to_string),
            "[a-zA-Z\\\\\"]{0,8}",
        ];
        let insert = proptest::sample::select(vec![
            &b"\\u0041"[..],
            b"\\ud83d\\ude00",
            b"\\ud800",
            b"\\",
            b"\xff",
            b"\x01",
            b"\"",
            b"0",
            b"-",
            b".5",
            b"e9",
            b",",
            b" ",
            b"}",
        ]);
        (
            fields,
            proptest::option::weighted(0.2, (any::<proptest::sample::Index>(), extra, value("id"))),
            any::<bool>(),
            proptest::option::weighted(0.3, (any::<proptest::sample::Index>(), insert)),
        )
            .prop_map(|(mut fields, extra, pretty, insert)| {
                if let Some((at, k, v)) = extra {
                    fields.insert(at.index(fields.len() + 1), (k, v));
                }
                let sep = if pretty { ",\n    " } else { "," };
                let mut text = String::from(if pretty { "{\n    " } else { "{" });
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        text.push_str(sep);
                    }
                    text.push_str(&serde_json::to_string(k).unwrap_or_default());
                    text.push_str(if pretty { ": " } else { ":" });
                    text.push_str(&v.to_string());
                }
                text.push_str(if pretty { "\n}" } else { "}" });
                let mut bytes = text.into_bytes();
                if let Some((at, what)) = insert {
                    let at = at.index(bytes.len() + 1);
                    bytes.splice(at..at, what.iter().copied());
                }
                bytes
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Whatever it reads, it reads as serde does: the same message, time and stream, and
        /// the same end.
        #[test]
        fn what_it_reads_serde_reads_the_same(
            bytes in object(),
            cut in any::<proptest::sample::Index>(),
            tail in "[ ,\\]}\n]{0,3}",
        ) {
            let mut bytes = bytes;
            bytes.extend_from_slice(tail.as_bytes());
            for input in [&bytes[..], &bytes[..cut.index(bytes.len() + 1)]] {
                if let Some((event, end)) = plain_event(input) {
                    let serde = by_serde(input);
                    prop_assert_eq!(
                        Some((event, end)),
                        serde,
                        "{}",
                        String::from_utf8_lossy(input)
                    );
                }
            }
        }

        /// A string's escapes are read as serde reads them: any text, its characters escaped
        /// as the CLI or `jq` escape them (`\\\"`, `\\n`, `\\uXXXX`, a pair for a character past
        /// the first plane) or left as they are, and bad escapes put in anywhere.
        #[test]
        fn unescapes_as_serde_does(
            chars in proptest::collection::vec(
                (prop_oneof![any::<char>(), "[\"/\\\\\u{8}\u{c}\n\r\t\u{1}]"
                    .prop_map(|c: String| c.chars().next().unwrap_or('a'))], 0u8..4),
                0..40,
            ),
            bad in proptest::option::of((any::<proptest::sample::Index>(), proptest::sample::select(vec![
                "\\x", "\\u12", "\\ud800", "\\udc00", "\\ud800\\u0041", "\\", "\\U0041", "\u{1}",
            ]))),
        ) {
            let mut raw = String::new();
            for (ch, how) in chars {
                match (ch, how) {
                    ('"' | '\\', _) | ('\u{0}'..='\u{1f}', _) | (_, 1) => {
                        // As serde_json writes it.
                        let quoted = serde_json::to_string(&ch.to_string()).unwrap_or_default();
                        raw.push_str(quoted.get(1..quoted.len() - 1).unwrap_or_default());
                    }
                    ('/', 3) => raw.push_str("\\/"),
                    (_, 2) => {
                        let mut units = [0u16; 2];
                        for unit in ch.encode_utf16(&mut units) {
                            raw.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                    _ => raw.push(ch),
                }
            }
            if let Some((at, what)) = bad {
                let mut at = at.index(raw.len() + 1);
                while !raw.is_char_boundary(at) {
                    at -= 1;
                }
                raw.insert_str(at, what);
            }
            // The string as the element holds it: read by `string_value` (which finds its end,
            // then unescapes) and by serde, which must agree on the text and the end.
            let quoted = format!("\"{raw}\"");
            let mut strings = serde_json::Deserializer::from_str(&quoted).into_iter::<String>();
            let serde = strings.next().and_then(Result::ok).map(|text| (text, strings.byte_offset()));
            let read = string_value(quoted.as_bytes(), 0).map(|(text, end)| (text.into_owned(), end));
            prop_assert_eq!(&read, &serde, "{:?}", raw);
            // Without a bad escape, serde's fallback is not what read it.
            if bad.is_none() {
                prop_assert!(unescape(raw.as_bytes()).is_some(), "{:?}", raw);
            }
        }

        /// Whitespace is stepped over as a byte at a time would.
        #[test]
        fn blanks_stop_where_whitespace_ends(text in "[ \n\r\tx\u{a0}]{0,40}", from in 0usize..41) {
            let bytes = text.as_bytes();
            let from = from.min(bytes.len());
            let naive = from
                + bytes[from..]
                    .iter()
                    .take_while(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
                    .count();
            prop_assert_eq!(blanks(bytes, from), naive);
        }

        /// Every event the CLI could print is read by this reader, not left to serde.
        #[test]
        fn plain_events_are_all_read(
            message in "(?s)[^\u{0}-\u{1f}]{0,40}|[a-z \"\\\\\n\t]{0,40}",
            ts in proptest::option::of(0i64..10_000_000_000_000),
            stream in proptest::option::of("[a-zA-Z0-9/_.-]{1,20}"),
            pretty in any::<bool>(),
        ) {
            let mut event = serde_json::json!({"message": message, "ingestionTime": 1, "eventId": "3"});
            if let Some(ts) = ts { event["timestamp"] = ts.into(); }
            if let Some(stream) = &stream { event["logStreamName"] = stream.as_str().into(); }
            let text = if pretty { serde_json::to_string_pretty(&event) } else { serde_json::to_string(&event) };
            let text = text.unwrap_or_default();
            let (read, end) = plain_event(text.as_bytes()).expect("a plain event");
            prop_assert_eq!(end, text.len());
            prop_assert_eq!(read.message, message);
            prop_assert_eq!(read.ts, ts);
            prop_assert_eq!(read.stream.as_deref(), stream.as_deref());
        }
    }
}
