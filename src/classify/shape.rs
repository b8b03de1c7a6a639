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

/// Writes the shape of `message` (every ASCII digit as `0`) into `shape`.
pub fn shape_into(message: &str, shape: &mut Vec<u8>) {
    shape.clear();
    shape.extend(
        message
            .bytes()
            .map(|b| if b.is_ascii_digit() { b'0' } else { b }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

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
