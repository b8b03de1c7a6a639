//! Digit-blind patterns and message shapes, for the classifier's cache.
//!
//! Most proxy messages that do not repeat verbatim differ only in their numbers ("A new client
//! connected from 10.0.11.13:52816."). A message's *shape* is its text with every ASCII digit
//! replaced by `0`: same length, same bytes elsewhere. A pattern is *digit-blind* when nothing
//! in it can tell one ASCII digit from another: its literal phrases have no digits, and every
//! literal and class of its regex either holds no digit or all ten. Such a pattern treats two
//! messages of the same shape identically, byte for byte, so it matches both or neither, with
//! the same group spans (the lengths are the same). The cache keys on the shape, remembers the
//! first digit-blind pattern that matched, and checks only the patterns that are not
//! digit-blind ("ERROR 1045", `not_contains = ["9501"]`) on each message.

use regex_syntax::hir::{Class, Hir, HirKind};

/// Whether `text` has no ASCII digit.
pub fn digit_free(text: &str) -> bool {
    !text.bytes().any(|b| b.is_ascii_digit())
}

/// Whether the regex `source` (as compiled with `ignore_case`) treats all ASCII digits alike.
/// A regex this cannot parse counts as not blind.
pub fn regex_is_digit_blind(source: &str, ignore_case: bool) -> bool {
    regex_syntax::ParserBuilder::new()
        .case_insensitive(ignore_case)
        .build()
        .parse(source)
        .is_ok_and(|hir| hir_is_digit_blind(&hir))
}

fn hir_is_digit_blind(hir: &Hir) -> bool {
    match hir.kind() {
        // Anchors and word boundaries: every digit is a word character, none is a line end.
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(literal) => !literal.0.iter().any(u8::is_ascii_digit),
        HirKind::Class(Class::Unicode(class)) => all_or_no_digits(|digit| {
            let digit = char::from(digit);
            class
                .ranges()
                .iter()
                .any(|r| r.start() <= digit && digit <= r.end())
        }),
        HirKind::Class(Class::Bytes(class)) => all_or_no_digits(|digit| {
            class
                .ranges()
                .iter()
                .any(|r| r.start() <= digit && digit <= r.end())
        }),
        HirKind::Repetition(repetition) => hir_is_digit_blind(&repetition.sub),
        HirKind::Capture(capture) => hir_is_digit_blind(&capture.sub),
        HirKind::Concat(parts) | HirKind::Alternation(parts) => {
            parts.iter().all(hir_is_digit_blind)
        }
    }
}

/// Whether a class (`holds`) holds all ten ASCII digits or none of them.
fn all_or_no_digits(holds: impl Fn(u8) -> bool) -> bool {
    let held = (b'0'..=b'9').filter(|&digit| holds(digit)).count();
    held == 0 || held == 10
}

/// Writes the shape of `message` (every ASCII digit as `0`) into `shape`. Eight bytes at a
/// time (this runs on every line): the message is copied whole, then each word's digits are
/// found with carry-free byte arithmetic and set to `0`. The words are read from the message,
/// not from the copy: the copy's stores overlap (a short copy writes its two halves over each
/// other), and a load across two of them waits until both have left the store buffer.
pub fn shape_into(message: &str, shape: &mut Vec<u8>) {
    shape.clear();
    shape.extend_from_slice(message.as_bytes());
    let mut words = shape.chunks_exact_mut(8);
    for (word, from) in (&mut words).zip(message.as_bytes().chunks_exact(8)) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(from);
        word.copy_from_slice(&zero_digits(u64::from_le_bytes(bytes)).to_le_bytes());
    }
    for b in words.into_remainder() {
        if b.is_ascii_digit() {
            *b = b'0';
        }
    }
}

/// `word` with every byte that is an ASCII digit set to `0`.
fn zero_digits(word: u64) -> u64 {
    let digits = crate::parse::combinators::ascii_in_range(word, b'0', b'9');
    // 0x80 → 0xff in each digit's byte.
    let mask = (digits >> 7) * 0xff;
    (word & !mask) | (0x3030_3030_3030_3030 & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The word-at-a-time shape is the byte-at-a-time one, for any bytes.
        #[test]
        fn shape_is_every_digit_as_zero(text in "(?s).{0,80}", raw in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let plain = |t: &str| -> Vec<u8> {
                t.bytes().map(|b| if b.is_ascii_digit() { b'0' } else { b }).collect()
            };
            let mut shape = Vec::new();
            shape_into(&text, &mut shape);
            proptest::prop_assert_eq!(&shape, &plain(&text));
            let lossy = String::from_utf8_lossy(&raw);
            shape_into(&lossy, &mut shape);
            proptest::prop_assert_eq!(&shape, &plain(&lossy));
        }
    }

    #[test]
    fn every_byte_value_in_every_place() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut word = [b'a'; 8];
                word[at] = b;
                let got = zero_digits(u64::from_le_bytes(word)).to_le_bytes();
                let mut want = word;
                if b.is_ascii_digit() {
                    want[at] = b'0';
                }
                assert_eq!(got, want, "byte {b:#x} at {at}");
            }
        }
    }

    #[test]
    fn blind_and_sighted_regexes() {
        for blind in [
            r"A new client connected from (?P<ip>\S+?):(?P<port>\d+)\.?\s*$",
            r"(?i)released to the connection pool",
            r"[^']*\b.{0,20}[a-z0-9]+",
            r"\w+ \W",
        ] {
            assert!(regex_is_digit_blind(blind, false), "{blind}");
        }
        for sighted in [
            r"(?P<code>1045)\b.{0,20}Access denied",
            r"[1-5]xx",
            r"x[0-8]",
            r"error 2026",
        ] {
            assert!(!regex_is_digit_blind(sighted, false), "{sighted}");
        }
        assert!(!regex_is_digit_blind("(", false));
    }

    #[test]
    fn shape_keeps_length_and_other_bytes() {
        let mut shape = Vec::new();
        shape_into("from 10.0.11.13:52816. é9", &mut shape);
        assert_eq!(shape, "from 00.0.00.00:00000. é0".as_bytes());
        assert!(digit_free("no digits here"));
        assert!(!digit_free("port 5432"));
    }
}
