//! Log timestamps: the nom combinator that reads every timestamp layout proxydoc meets
//! (`2022-10-21T17:25:29.482Z`, `2022-10-21T17:25:29.482000+00:00`, `2024-05-19 06:10:35,743
//! UTC`, ...) into epoch milliseconds, with the style it was written in. The envelope parser,
//! the sources, the clock and the command line all read timestamps here.

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::tag,
    character::complete::{char, one_of},
    combinator::opt,
};

use super::{DateTimeParts, to_millis};
use crate::model::Millis;

/// How a timestamp was written; the envelope parser uses it to recognise `aws logs tail` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TsStyle {
    /// Written with a numeric offset such as `+00:00` (Python's `isoformat`).
    pub numeric_offset: bool,
    /// Number of fraction digits (0 when none).
    pub fraction_digits: usize,
}

/// Exactly `N` ASCII digits, as a number. Byte-level: this runs several times per line.
fn digits<const N: usize>(input: &str) -> IResult<&str, u32> {
    let bytes = input.as_bytes();
    match bytes.get(..N) {
        Some(head) if head.iter().all(u8::is_ascii_digit) => {
            let value = head.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
            // The digits are ASCII, so `N` is a character boundary.
            Ok((input.get(N..).unwrap_or_default(), value))
        }
        _ => Err(fail(input, nom::error::ErrorKind::Digit)),
    }
}

fn fail(input: &str, kind: nom::error::ErrorKind) -> nom::Err<nom::error::Error<&str>> {
    nom::Err::Error(nom::error::Error::new(input, kind))
}

/// The length of the leading run of bytes that satisfy `keep` (ASCII predicates only, so the
/// length is a character boundary).
fn ascii_run(input: &str, keep: impl Fn(u8) -> bool) -> usize {
    input.bytes().position(|b| !keep(b)).unwrap_or(input.len())
}

fn fraction(input: &str) -> IResult<&str, (u32, usize)> {
    // `.` or `,`, both ASCII: the rest starts at a character boundary.
    let rest = match input.as_bytes().first() {
        Some(b'.' | b',') => input.get(1..).unwrap_or_default(),
        _ => return Err(fail(input, nom::error::ErrorKind::OneOf)),
    };
    let len = ascii_run(rest, |b| b.is_ascii_digit()).min(9);
    if len == 0 {
        return Err(fail(rest, nom::error::ErrorKind::TakeWhileMN));
    }
    let (frac, rest) = rest.split_at(len);
    let mut millis = 0u32;
    for (i, b) in frac.bytes().take(3).enumerate() {
        millis += u32::from(b - b'0') * [100, 10, 1][i];
    }
    Ok((rest, (millis, frac.len())))
}

fn numeric_offset(input: &str) -> IResult<&str, i32> {
    let (rest, sign) = one_of("+-").parse(input)?;
    let (rest, hours) = digits::<2>(rest)?;
    let (rest, _) = opt(char(':')).parse(rest)?;
    let (rest, minutes) = opt(digits::<2>).parse(rest)?;
    let total = i32::try_from(hours * 60 + minutes.unwrap_or(0)).unwrap_or(0);
    Ok((rest, if sign == '-' { -total } else { total }))
}

/// A zone suffix: `Z`, `+hh:mm`, `+hhmm`, `+hh`, ` UTC`, ` GMT`. Returns offset minutes and
/// whether it was numeric.
fn zone(input: &str) -> IResult<&str, (i32, bool)> {
    // The proxy's own form, first and without the alternation.
    if let Some(rest) = input.strip_prefix('Z') {
        return Ok((rest, (0, false)));
    }
    alt((
        char('Z').map(|_| (0, false)),
        numeric_offset.map(|m| (m, true)),
        alt((tag(" UTC"), tag(" GMT"))).map(|_| (0, false)),
    ))
    .parse(input)
}

/// An ISO-8601-like timestamp: `2022-10-21T17:25:29.482Z`, `2024-10-12T17:20:40`,
/// `2022-10-21T17:25:29.482000+00:00`, `2024-05-19 06:10:35.743`, `2024/05/19 06:10:35`,
/// `2024-05-19 06:10:35,743 UTC`. A timestamp without a zone is taken as UTC.
///
/// Inlined where it is called: a line in the minute of the one before (nearly every line of a
/// proxy log) is read by [`same_minute`], and only the others call the rest.
#[inline]
pub fn timestamp(input: &str) -> IResult<&str, (Millis, TsStyle)> {
    if let Some(ts) = same_minute(input.as_bytes()) {
        // All 24 bytes are ASCII: a character boundary.
        return Ok((input.get(24..).unwrap_or_default(), (ts, PROXY_STYLE)));
    }
    other_minute(input)
}

/// [`timestamp`] of a line that is not in the minute of the last one read on this thread.
#[inline(never)]
fn other_minute(input: &str) -> IResult<&str, (Millis, TsStyle)> {
    // `YYYY?MM?DD?hh:mm:ss` is 19 bytes at fixed places: checked on bytes, one length test.
    let bytes = input.as_bytes();
    let layout = bytes.len() >= 19
        && matches!(bytes[4], b'-' | b'/')
        && bytes[7] == bytes[4]
        && matches!(bytes[10], b'T' | b' ')
        && bytes[13] == b':'
        && bytes[16] == b':';
    if !layout {
        return Err(fail(input, nom::error::ErrorKind::Tag));
    }
    let number = |at: usize, len: usize| -> Option<u32> {
        let field = bytes.get(at..at + len)?;
        field.iter().try_fold(0u32, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let fields = (
        number(0, 4),
        number(5, 2),
        number(8, 2),
        number(11, 2),
        number(14, 2),
        number(17, 2),
    );
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = fields
    else {
        return Err(fail(input, nom::error::ErrorKind::Digit));
    };
    let fields = [year, month, day, hour, minute, second];
    // The proxy's own `.mmmZ` (nearly every line of a proxy log): read on bytes, without the
    // alternations of `general` (the property test `fast_path_agrees` holds the two to the
    // same result).
    if let Some(&[b'.', a, b, c, b'Z']) = bytes.get(19..24)
        && [a, b, c].iter().all(u8::is_ascii_digit)
    {
        let millis = [a, b, c]
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        // All 24 bytes are ASCII: a character boundary.
        let rest = input.get(24..).unwrap_or_default();
        let read = finish(input, rest, fields, (millis, 0), PROXY_STYLE);
        if let (Ok((_, (ts, _))), Some(head)) = (&read, bytes.first_chunk::<16>()) {
            let minute = ts - i64::from(second) * 1000 - i64::from(millis);
            LAST_MINUTE.set(Some((*head, minute)));
        }
        return read;
    }
    general(input, fields)
}

/// How the proxy writes its timestamps: `.mmmZ`.
const PROXY_STYLE: TsStyle = TsStyle {
    numeric_offset: false,
    fraction_digits: 3,
};

thread_local! {
    /// The first 16 bytes (`YYYY-MM-DDThh:mm`) of the last valid timestamp of the proxy's
    /// form read on this thread, and the instant of that minute: a log's lines mostly share
    /// their minute with the line before.
    static LAST_MINUTE: std::cell::Cell<Option<([u8; 16], Millis)>> =
        const { std::cell::Cell::new(None) };
}

/// The instant of `bytes`' timestamp when it is of the proxy's form (`…:ss.mmmZ`) in the
/// minute of the last one read on this thread, which was valid: only the seconds and
/// milliseconds are read (and checked as [`to_millis`] checks them).
#[inline]
fn same_minute(bytes: &[u8]) -> Option<Millis> {
    // `:ss.mmmZ` as one little-endian word: the fixed bytes compared under a mask, and the
    // five digits checked and read at their places.
    const FIXED_MASK: u64 = 0xff00_0000_ff00_00ff;
    const FIXED: u64 = u64::from_le_bytes([b':', 0, 0, b'.', 0, 0, 0, b'Z']);
    const DIGITS: u64 = 0x00ff_ffff_00ff_ff00;
    const HIGH_NIBBLES: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    let (head, minute) = LAST_MINUTE.get()?;
    if bytes.first_chunk::<16>() != Some(&head) {
        return None;
    }
    let tail = u64::from_le_bytes(*bytes.get(16..24)?.first_chunk::<8>()?);
    if tail & FIXED_MASK != FIXED {
        return None;
    }
    // A byte is an ASCII digit when, `^ b'0'`, it is at most 9: its high nibble 0, and 6
    // added to it does not reach 16 (no carry between bytes: each is at most 15 by then).
    let values = (tail ^ 0x3030_3030_3030_3030) & DIGITS;
    if values & HIGH_NIBBLES != 0 || (values + 0x0606_0606_0606_0606) & 0x1010_1010_1010_1010 != 0 {
        return None;
    }
    let digit = |at: u32| ((values >> (8 * at)) & 0xff) as i64;
    let second = digit(1) * 10 + digit(2);
    // A leap second (60) is read, as `to_millis` reads it.
    (second <= 60).then(|| minute + second * 1000 + digit(4) * 100 + digit(5) * 10 + digit(6))
}

/// The rest of [`timestamp`] after the 19 bytes of date and time: fraction and zone, any form.
fn general(input: &str, fields: [u32; 6]) -> IResult<&str, (Millis, TsStyle)> {
    // All 19 bytes are ASCII, so 19 is a character boundary.
    let rest = input.get(19..).unwrap_or_default();
    let (rest, frac) = opt(fraction).parse(rest)?;
    let (rest, zone) = opt(zone).parse(rest)?;
    let (millis, fraction_digits) = frac.unwrap_or((0, 0));
    let (offset_minutes, numeric) = zone.unwrap_or((0, false));
    let style = TsStyle {
        numeric_offset: numeric,
        fraction_digits,
    };
    finish(input, rest, fields, (millis, offset_minutes), style)
}

/// The instant of `fields` (year to second) with `(millis, zone offset in minutes)`, written
/// in `style`, followed by `rest` in `input`; an error for an impossible date or time.
fn finish<'a>(
    input: &'a str,
    rest: &'a str,
    fields: [u32; 6],
    (millis, offset_minutes): (u32, i32),
    style: TsStyle,
) -> IResult<&'a str, (Millis, TsStyle)> {
    let [year, month, day, hour, minute, second] = fields;
    let parts = DateTimeParts {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
        millis,
        offset_minutes,
    };
    match to_millis(parts) {
        Some(ts) => Ok((rest, (ts, style))),
        None => Err(fail(input, nom::error::ErrorKind::Verify)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Option<(Millis, TsStyle, &str)> {
        timestamp(text)
            .ok()
            .map(|(rest, (ms, style))| (ms, style, rest))
    }

    #[test]
    fn proxy_timestamps() {
        let (ms, style, rest) = ts("2022-10-21T17:25:29.482Z [INFO]").unwrap();
        assert_eq!(ms, 1_666_373_129_482);
        assert_eq!(
            style,
            TsStyle {
                numeric_offset: false,
                fraction_digits: 3
            }
        );
        assert_eq!(rest, " [INFO]");
        assert_eq!(
            ts("2024-10-12T17:20:40 [WARN]").unwrap().0,
            1_728_753_640_000
        );
    }

    #[test]
    fn tail_and_insights_timestamps() {
        let (ms, style, _) = ts("2022-10-21T17:25:29.482000+00:00 stream").unwrap();
        assert_eq!(ms, 1_666_373_129_482);
        assert!(style.numeric_offset);
        assert_eq!(style.fraction_digits, 6);
        assert_eq!(ts("2024-05-19 06:10:35.743").unwrap().0, 1_716_099_035_743);
        assert_eq!(ts("2024/05/19 06:10:35 x").unwrap().0, 1_716_099_035_000);
        assert_eq!(
            ts("2024-05-19 08:10:35,743+0200").unwrap().0,
            1_716_099_035_743
        );
        assert_eq!(ts("2024-05-19 06:10:35 UTC:").unwrap().2, ":");
    }

    #[test]
    fn rejects_non_timestamps() {
        assert!(ts("2024-13-19T06:10:35Z").is_none());
        assert!(ts("2024-05-19").is_none());
        assert!(ts("20240519T061035Z").is_none());
        assert!(ts("").is_none());
        assert!(ts("2024-05-1906:10:35").is_none());
    }

    /// The byte-level date reading against the plain nom formulation it replaces.
    mod reference {
        use super::super::*;
        use nom::bytes::complete::take_while_m_n;
        use proptest::prelude::*;

        fn nom_digits<const N: usize>(input: &str) -> IResult<&str, u32> {
            take_while_m_n(N, N, |c: char| c.is_ascii_digit())
                .map(|d: &str| d.bytes().fold(0u32, |n, b| n * 10 + u32::from(b - b'0')))
                .parse(input)
        }

        fn nom_date(input: &str) -> IResult<&str, [u32; 6]> {
            let (rest, year) = nom_digits::<4>(input)?;
            let (rest, sep) = one_of("-/").parse(rest)?;
            let (rest, month) = nom_digits::<2>(rest)?;
            let (rest, _) = char(sep).parse(rest)?;
            let (rest, day) = nom_digits::<2>(rest)?;
            let (rest, _) = one_of("T ").parse(rest)?;
            let (rest, hour) = nom_digits::<2>(rest)?;
            let (rest, _) = char(':').parse(rest)?;
            let (rest, minute) = nom_digits::<2>(rest)?;
            let (rest, _) = char(':').parse(rest)?;
            let (rest, second) = nom_digits::<2>(rest)?;
            Ok((rest, [year, month, day, hour, minute, second]))
        }

        fn ok<T>(result: IResult<&str, T>) -> Option<(&str, T)> {
            result.ok()
        }

        /// The general reading of the fields `timestamp` read from `input`.
        fn slow(input: &str) -> Option<(&str, (Millis, TsStyle))> {
            let number = |at: usize, len: usize| input.get(at..at + len)?.parse::<u32>().ok();
            let fields = [
                number(0, 4)?,
                number(5, 2)?,
                number(8, 2)?,
                number(11, 2)?,
                number(14, 2)?,
                number(17, 2)?,
            ];
            general(input, fields).ok()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4000))]
            /// The `.mmmZ` fast path gives what the general path gives, impossible dates and
            /// times included, whatever follows.
            #[test]
            fn fast_path_agrees(
                input in "(19[0-9]{2}|20[0-9]{2}|9999)-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9]\\.[0-9]{3}Z( \\[INFO\\]|[0-9]|Z)?",
            ) {
                let fast = ok(timestamp(&input));
                prop_assert!(input.len() < 24 || input.as_bytes()[23] == b'Z');
                prop_assert_eq!(fast, slow(&input), "{}", input);
            }

            /// Timestamps read one after another in one minute (where the minute's instant is
            /// remembered) give what the general path gives each of them, whatever came
            /// before: impossible dates, hours and seconds included.
            #[test]
            fn timestamps_of_one_minute_agree(
                minute in "(19[0-9]{2}|20[0-9]{2})-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]",
                others in proptest::collection::vec(
                    (
                        "[0-6][0-9]|[/0-9:a]{2}",
                        "[0-9]{3}|[/0-9:a]{3}",
                        "[:.]|[,;\\-]",
                        "(Z|Z \\[INFO\\]|\\+00:00| UTC|Y|)",
                        proptest::bool::ANY,
                    ),
                    1..12,
                ),
            ) {
                for (second, millis, dot, zone, other_minute) in others {
                    let head = if other_minute { "2024-02-29T23:59" } else { minute.as_str() };
                    let input = format!("{head}:{second}{dot}{millis}{zone}");
                    prop_assert_eq!(ok(timestamp(&input)), slow(&input), "{}", input);
                }
            }

            #[test]
            fn agree_with_nom(text in "[0-9\\-/T :.,Z+\\[\\]=a-zA-Z\u{e9}\u{2603}]{0,40}",
                              valid in "20[0-9]{2}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-5][0-9]:[0-6][0-9][.,Z]{0,1}[0-9]{0,4}Z?") {
                prop_assert_eq!(ok(digits::<4>(&text)), ok(nom_digits::<4>(&text)));
                for input in [text.as_str(), valid.as_str()] {
                    // Where the nom version reads a date, `timestamp` reads the same one (or
                    // rejects an impossible calendar date); where it does not, neither does
                    // `timestamp`.
                    match (timestamp(input), nom_date(input)) {
                        (Ok(_), Err(_)) => prop_assert!(false, "{input}"),
                        (Err(_), Ok((_, [y, mo, d, h, mi, s]))) => {
                            let parts = DateTimeParts {
                                year: i64::from(y), month: mo, day: d, hour: h, minute: mi,
                                second: s, millis: 0, offset_minutes: 0,
                            };
                            prop_assert!(to_millis(parts).is_none(), "{input}");
                        }
                        (Ok((_, (ms, _))), Ok((_, [y, mo, d, h, mi, s]))) => {
                            let parts = DateTimeParts {
                                year: i64::from(y), month: mo, day: d, hour: h, minute: mi,
                                second: s, millis: 0, offset_minutes: 0,
                            };
                            let whole = to_millis(parts).unwrap();
                            prop_assert!(ms >= whole - 24 * 3_600_000 && ms < whole + 24 * 3_600_000 + 1000);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}
