//! Small nom combinators for the envelope parser: `[LEVEL]`, `[key=value]` tags, blanks and
//! tokens. Timestamps are read by [`crate::timefmt::timestamp`].
//!
//! Every combinator works on `&str` and fails cleanly (a nom `Err::Error`) on anything it does
//! not recognise, so callers can try them in turn without ever aborting on a bad line.

use nom::{IResult, Parser, bytes::complete::take_while1};

fn fail(input: &str, kind: nom::error::ErrorKind) -> nom::Err<nom::error::Error<&str>> {
    nom::Err::Error(nom::error::Error::new(input, kind))
}

/// The length of the leading run of bytes that satisfy `keep` (ASCII predicates only, so the
/// length is a character boundary).
fn ascii_run(input: &str, keep: impl Fn(u8) -> bool) -> usize {
    input.bytes().position(|b| !keep(b)).unwrap_or(input.len())
}

/// The bytes of `word` (eight, little-endian) that are ASCII in `lo..=hi` (ASCII bounds):
/// `0x80` in each such byte, 0 elsewhere. Per byte, without carries into the next (a byte's
/// low seven bits plus at most `0x80`): the high bit is set when the byte is at least `lo`,
/// and when it is past `hi`; bytes with their own high bit set (UTF-8) are never in range.
#[inline]
pub fn ascii_in_range(word: u64, lo: u8, hi: u8) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low = word & !HIGH;
    let at_least_lo = low + ONES * u64::from(0x80u8.saturating_sub(lo));
    let past_hi = low + ONES * u64::from(0x7fu8.saturating_sub(hi));
    at_least_lo & !past_hi & !word & HIGH
}

/// The bytes of `word` equal to `byte`: `0x80` in the lowest such byte, and possibly in
/// bytes above it (a borrow), 0 in every byte below it. So the lowest set bit, when there is
/// one, is the first byte equal to `byte`, and a word without it gives 0.
#[inline]
fn bytes_equal(word: u64, byte: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let diff = word ^ (ONES * u64::from(byte));
    diff.wrapping_sub(ONES) & !diff & 0x8080_8080_8080_8080
}

/// A tag's value: the length of the leading run of bytes that are not `]` or `[`, and
/// whether an `x` is among them (every proxy host holds one, in `.proxy-`: a value without
/// one need not be searched for it). Eight bytes at a time: the values are short, and a
/// `memchr` call costs more to set up than such a value takes to read.
pub fn tag_value(input: &[u8]) -> (usize, bool) {
    let mut done = 0;
    let mut x = false;
    while let Some(chunk) = input.get(done..done + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let ends = bytes_equal(word, b']') | bytes_equal(word, b'[');
        let xs = bytes_equal(word, b'x');
        if ends != 0 {
            // The lowest set bits are true matches: an `x` before the end is below it.
            let end = ends.trailing_zeros();
            return (
                done + (end / 8) as usize,
                x || (xs != 0 && xs.trailing_zeros() < end),
            );
        }
        x |= xs != 0;
        done += 8;
    }
    for (i, &b) in input.get(done..).unwrap_or_default().iter().enumerate() {
        if b == b']' || b == b'[' {
            return (done + i, x);
        }
        x |= b == b'x';
    }
    (input.len(), x)
}

/// The length of the leading run of ASCII letters, eight bytes at a time (a tag's key,
/// `proxyEndpoint`, `clientConnection`, is read on every line).
pub fn letter_run(input: &str) -> usize {
    let bytes = input.as_bytes();
    let mut done = 0;
    while let Some(chunk) = bytes.get(done..done + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // Lower case: a no-op for the bytes that are not letters in `a..=z` after it.
        let folded = u64::from_le_bytes(word) | 0x2020_2020_2020_2020;
        let others = !ascii_in_range(folded, b'a', b'z') & 0x8080_8080_8080_8080;
        if others != 0 {
            return done + (others.trailing_zeros() / 8) as usize;
        }
        done += 8;
    }
    done + ascii_run(input.get(done..).unwrap_or_default(), |b| {
        b.is_ascii_alphabetic()
    })
}

/// One ASCII byte, as nom's `char` (which decodes a whole character first: this runs several
/// times per line).
fn byte(expected: u8) -> impl Fn(&str) -> IResult<&str, ()> {
    move |input: &str| match input.as_bytes().first() {
        // ASCII, so 1 is a character boundary.
        Some(&b) if b == expected => Ok((input.get(1..).unwrap_or_default(), ())),
        _ => Err(fail(input, nom::error::ErrorKind::Char)),
    }
}

/// `[LEVEL]` with an upper-case word; returns the word.
pub fn level(input: &str) -> IResult<&str, &str> {
    let (rest, ()) = byte(b'[')(input)?;
    let len = ascii_run(rest, |b| b.is_ascii_uppercase());
    if len == 0 {
        return Err(fail(rest, nom::error::ErrorKind::TakeWhile1));
    }
    let (word, rest) = rest.split_at(len);
    let (rest, ()) = byte(b']')(rest)?;
    Ok((rest, word))
}

/// `[key=value]` with an alphabetic key and a value without `]` or `[`.
pub fn tag_pair(input: &str) -> IResult<&str, (&str, &str)> {
    let (rest, ()) = byte(b'[')(input)?;
    let len = letter_run(rest);
    if len == 0 {
        return Err(fail(rest, nom::error::ErrorKind::TakeWhile1));
    }
    let (key, rest) = rest.split_at(len);
    let (rest, ()) = byte(b'=')(rest)?;
    // `]` and `[` are ASCII, so the value ends at a character boundary.
    let len = memchr::memchr2(b']', b'[', rest.as_bytes()).unwrap_or(rest.len());
    if len == 0 {
        return Err(fail(rest, nom::error::ErrorKind::TakeWhile1));
    }
    let (value, rest) = rest.split_at(len);
    let (rest, ()) = byte(b']')(rest)?;
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

    /// The byte-level combinators against the plain nom formulation they replace.
    mod reference {
        use super::super::*;
        use nom::character::complete::char;
        use proptest::prelude::*;

        fn nom_tag_pair(input: &str) -> IResult<&str, (&str, &str)> {
            let (rest, _) = char('[').parse(input)?;
            let (rest, key) = take_while1(|c: char| c.is_ascii_alphabetic()).parse(rest)?;
            let (rest, _) = char('=').parse(rest)?;
            let (rest, value) = take_while1(|c: char| c != ']' && c != '[').parse(rest)?;
            let (rest, _) = char(']').parse(rest)?;
            Ok((rest, (key, value)))
        }

        fn nom_level(input: &str) -> IResult<&str, &str> {
            let (rest, _) = char('[').parse(input)?;
            let (rest, word) = take_while1(|c: char| c.is_ascii_uppercase()).parse(rest)?;
            let (rest, _) = char(']').parse(rest)?;
            Ok((rest, word))
        }

        fn ok<T>(result: IResult<&str, T>) -> Option<(&str, T)> {
            result.ok()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4000))]
            #[test]
            fn letter_run_counts_letters(text in "[a-zA-Z@\\[`{\u{e9}\u{c1}0-9=]{0,40}(?s).{0,4}") {
                let want = text.bytes().position(|b| !b.is_ascii_alphabetic()).unwrap_or(text.len());
                prop_assert_eq!(letter_run(&text), want);
            }

            #[test]
            fn tag_value_finds_the_end_and_the_x(text in "[a-z0-9x\\[\\]\\-.=\u{e9}]{0,40}") {
                let bytes = text.as_bytes();
                let end = memchr::memchr2(b']', b'[', bytes).unwrap_or(bytes.len());
                prop_assert_eq!(tag_value(bytes), (end, bytes[..end].contains(&b'x')));
            }

            #[test]
            fn agree_with_nom(text in "[0-9\\-/T :.,Z+\\[\\]=a-zA-Z\u{e9}\u{2603}]{0,40}") {
                prop_assert_eq!(ok(tag_pair(&text)), ok(nom_tag_pair(&text)));
                prop_assert_eq!(ok(level(&text)), ok(nom_level(&text)));
            }
        }
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
