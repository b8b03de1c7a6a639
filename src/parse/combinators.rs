//! Small nom combinators shared by the envelope parser: timestamps, numbers, bracketed tags.
//!
//! Every combinator works on `&str` and fails cleanly (a nom `Err::Error`) on anything it does
//! not recognise, so callers can try them in turn without ever aborting on a bad line.

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{tag, take_while_m_n, take_while1},
    character::complete::{char, one_of},
    combinator::opt,
};

use crate::model::Millis;
use crate::timefmt::{DateTimeParts, to_millis};

/// How a timestamp was written; the envelope parser uses it to recognise `aws logs tail` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TsStyle {
    /// Written with a numeric offset such as `+00:00` (Python's `isoformat`).
    pub numeric_offset: bool,
    /// Number of fraction digits (0 when none).
    pub fraction_digits: usize,
}

fn digits<const N: usize>(input: &str) -> IResult<&str, u32> {
    take_while_m_n(N, N, |c: char| c.is_ascii_digit())
        .map(|d: &str| d.bytes().fold(0u32, |n, b| n * 10 + u32::from(b - b'0')))
        .parse(input)
}

fn fraction(input: &str) -> IResult<&str, (u32, usize)> {
    let (rest, _) = one_of(".,").parse(input)?;
    let (rest, frac) = take_while_m_n(1, 9, |c: char| c.is_ascii_digit()).parse(rest)?;
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
pub fn timestamp(input: &str) -> IResult<&str, (Millis, TsStyle)> {
    let (rest, year) = digits::<4>(input)?;
    let (rest, sep) = one_of("-/").parse(rest)?;
    let (rest, month) = digits::<2>(rest)?;
    let (rest, _) = char(sep).parse(rest)?;
    let (rest, day) = digits::<2>(rest)?;
    let (rest, _) = one_of("T ").parse(rest)?;
    let (rest, hour) = digits::<2>(rest)?;
    let (rest, _) = char(':').parse(rest)?;
    let (rest, minute) = digits::<2>(rest)?;
    let (rest, _) = char(':').parse(rest)?;
    let (rest, second) = digits::<2>(rest)?;
    let (rest, frac) = opt(fraction).parse(rest)?;
    let (rest, zone) = opt(zone).parse(rest)?;
    let (millis, fraction_digits) = frac.unwrap_or((0, 0));
    let (offset_minutes, numeric) = zone.unwrap_or((0, false));
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
        Some(ts) => Ok((
            rest,
            (
                ts,
                TsStyle {
                    numeric_offset: numeric,
                    fraction_digits,
                },
            ),
        )),
        None => Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Verify,
        ))),
    }
}

/// `[LEVEL]` with an upper-case word; returns the word.
pub fn level(input: &str) -> IResult<&str, &str> {
    let (rest, _) = char('[').parse(input)?;
    let (rest, word) = take_while1(|c: char| c.is_ascii_uppercase()).parse(rest)?;
    let (rest, _) = char(']').parse(rest)?;
    Ok((rest, word))
}

/// `[key=value]` with an alphabetic key and a value without `]`.
pub fn tag_pair(input: &str) -> IResult<&str, (&str, &str)> {
    let (rest, _) = char('[').parse(input)?;
    let (rest, key) = take_while1(|c: char| c.is_ascii_alphabetic()).parse(rest)?;
    let (rest, _) = char('=').parse(rest)?;
    let (rest, value) = take_while1(|c: char| c != ']' && c != '[').parse(rest)?;
    let (rest, _) = char(']').parse(rest)?;
    Ok((rest, (key, value)))
}

/// Spaces and tabs (at least one).
pub fn blanks(input: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c == ' ' || c == '\t').parse(input)
}

/// A run of characters up to the next blank, for the `aws logs tail` stream-name token.
pub fn token(input: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c != ' ' && c != '\t').parse(input)
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

    #[test]
    fn tags() {
        assert_eq!(level("[INFO] x"), Ok((" x", "INFO")));
        assert!(level("[info]").is_err());
        assert_eq!(
            tag_pair("[proxyEndpoint=default] m"),
            Ok((" m", ("proxyEndpoint", "default")))
        );
        assert!(tag_pair("[proxyEndpoint=]").is_err());
        assert!(tag_pair("[a=b").is_err());
    }
}
