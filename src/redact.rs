//! Redaction of evidence lines: SQL text (which enhanced logging may write) and credentials.
//!
//! The proxy's own pinning digests (`Digest: "set search_path to $1"`) are placeholders, not
//! data, and are kept; quoted literals inside them are masked. Statement text elsewhere is
//! replaced unless `--show-sql`. Credentials (passwords, IAM token signatures) are always
//! masked: proxydoc never prints them.

use std::sync::LazyLock;

use regex::Regex;

const SQL_MASK: &str = "<SQL redacted; --show-sql shows it>";

#[allow(clippy::expect_used)] // Constant patterns, covered by the tests below.
static SQL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?x)
        (?i:\bselect\s[^;]*?\bfrom\s)
        | (?i:\binsert\s+into\s)
        | (?i:\bupdate\s+\S+\s+set\s)
        | (?i:\bdelete\s+from\s)
        | (?i:\bwith\s+\w+\s+as\s*\()
        | \b(?:SELECT|INSERT|UPDATE|DELETE|MERGE|CALL|EXECUTE|EXEC|PREPARE|COPY|ALTER|CREATE|DROP|GRANT|REVOKE|TRUNCATE)\b\s+\S
        "#,
    )
    .expect("SQL redaction pattern compiles")
});

#[allow(clippy::expect_used)]
static CREDENTIALS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?ix)
        (?P<key>
            \b(?:password|passwd|pwd)\b\s*[=:]\s*
          | \b(?:x-amz-signature|x-amz-security-token|x-amz-credential|aws_secret_access_key|aws_session_token|secret_access_key|session_token|token|secret)\b\s*=\s*
        )
        (?P<value>"[^"]*"|'[^']*'|[^\s&;,)]+)
        "#,
    )
    .expect("credential pattern compiles")
});

#[allow(clippy::expect_used)]
static URL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?P<head>://[^:/@\s]+:)[^@\s/]+@").expect("URL credential pattern compiles")
});

#[allow(clippy::expect_used)]
static LITERAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"'(?:[^']|'')*'").expect("literal pattern compiles"));

/// Literals at least one of which every pattern above needs to match, in any case: a line
/// with none of them is returned as it is, without a search of each pattern or a copy. The
/// SQL keywords' list is a superset (the regex wants some of them upper case only). The
/// patterns fold case by Unicode's rules (`ſelect` is `select` to them), so a line that is not
/// ASCII always takes the full path.
const TRIGGERS: [&str; 24] = [
    "passw",
    "pwd",
    "token",
    "secret",
    "x-amz-credential",
    "x-amz-signature",
    "://",
    "digest: \"",
    "select",
    "insert",
    "update",
    "delete",
    "with",
    "merge",
    "call",
    "exec",
    "prepare",
    "copy",
    "alter",
    "create",
    "drop",
    "grant",
    "revoke",
    "truncate",
];

#[allow(clippy::expect_used)] // Constant literals, covered by the tests below.
static TRIGGER: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(TRIGGERS)
        .expect("redaction triggers build")
});

/// Redacts one evidence line. `show_sql` keeps statement text; credentials are always masked.
pub fn redact(line: &str, show_sql: bool) -> String {
    redact_cow(line, show_sql).into_owned()
}

/// [`redact`], borrowing `line` when there is nothing to mask (most lines): the `--events`
/// table redacts every event's message.
pub fn redact_cow(line: &str, show_sql: bool) -> std::borrow::Cow<'_, str> {
    if is_clean(line) {
        std::borrow::Cow::Borrowed(line)
    } else {
        std::borrow::Cow::Owned(redact_full(line, show_sql))
    }
}

/// Whether `text` holds nothing redaction would mask (then neither does any part of it). The
/// same for any two texts that differ only in their digits (no trigger holds one, a test
/// checks): the classifier remembers it per message shape.
pub fn is_clean(text: &str) -> bool {
    text.is_ascii() && !TRIGGER.is_match(text)
}

pub(crate) fn redact_full(line: &str, show_sql: bool) -> String {
    let mut out = mask_credentials(line);
    if show_sql {
        return out;
    }
    // Keep the digest, masking literals inside it; redact statement text outside it.
    let (before, digest, after) = match find_digest(&out) {
        Some((start, end)) => (
            out[..start].to_string(),
            Some(LITERAL.replace_all(&out[start..end], "'?'").into_owned()),
            out[end..].to_string(),
        ),
        None => (out.clone(), None, String::new()),
    };
    let before = mask_sql(&before);
    out = match digest {
        Some(digest) => format!("{before}{digest}{}", mask_sql(&after)),
        None => before,
    };
    out
}

/// Where the pattern `Digest: "(.*)"` matches in `text` (a test compares them), by a byte
/// search: the first `Digest: "` followed on its line by a quote, to the last quote of that
/// line (`.` stops at a line feed, `.*` is greedy).
fn find_digest(text: &str) -> Option<(usize, usize)> {
    const HEAD: &[u8] = b"Digest: \"";
    let bytes = text.as_bytes();
    memchr::memmem::find_iter(bytes, HEAD).find_map(|start| {
        let from = start + HEAD.len();
        let line_end = memchr::memchr(b'\n', &bytes[from..]).map_or(bytes.len(), |i| from + i);
        memchr::memrchr(b'"', &bytes[from..line_end]).map(|quote| (start, from + quote + 1))
    })
}

fn mask_sql(text: &str) -> String {
    match SQL.find(text) {
        Some(m) => format!("{}{SQL_MASK}", &text[..m.start()]),
        None => text.to_string(),
    }
}

/// The credential patterns' keys ([`TRIGGERS`]' first six): an ASCII text without any of them
/// (in any case) holds nothing [`CREDENTIALS`] matches, and without `://` nothing
/// [`URL_PASSWORD`] does. Pinning messages with a digest, the most common lines to redact,
/// are such texts.
const CREDENTIAL_KEYS: usize = 6;

#[allow(clippy::expect_used)] // Constant literals, covered by the tests below.
static CREDENTIAL_KEY: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(&TRIGGERS[..CREDENTIAL_KEYS])
        .expect("credential keys build")
});

fn mask_credentials(text: &str) -> String {
    // The patterns fold case by Unicode's rules: a text that is not ASCII takes them.
    if text.is_ascii()
        && !CREDENTIAL_KEY.is_match(text)
        && memchr::memmem::find(text.as_bytes(), b"://").is_none()
    {
        return text.to_string();
    }
    mask_credentials_by_patterns(text)
}

fn mask_credentials_by_patterns(text: &str) -> String {
    let text = URL_PASSWORD.replace_all(text, "${head}<redacted>@");
    CREDENTIALS
        .replace_all(&text, |caps: &regex::Captures<'_>| {
            let value = caps.name("value").map_or("", |v| v.as_str());
            let key = caps.name("key").map_or("", |k| k.as_str());
            // MySQL's "(using password: YES)" says whether a password was sent; keep it.
            if value.eq_ignore_ascii_case("YES") || value.eq_ignore_ascii_case("NO") {
                format!("{key}{value}")
            } else {
                format!("{key}<redacted>")
            }
        })
        .into_owned()
}

/// What redaction's steps see of a text: its regexes' sources and the literals it searches
/// for, writes or keeps. Whether redaction gives a message back as it is is remembered per
/// message shape (`Classifier::last_message_redacted`), so every step must treat all digits
/// alike: the patterns digit-blind, the literals without a digit (the classifier's tests
/// check both). Then two messages of one shape are cut at the same places, and a mask,
/// holding no digit, gives back what it replaces in one message of a shape only when that
/// held no digit either, and so in all of them.
#[cfg(test)]
pub(crate) fn digit_sensitive_parts() -> (Vec<&'static str>, Vec<&'static str>) {
    let patterns = [&*SQL, &*CREDENTIALS, &*URL_PASSWORD, &*LITERAL].map(|r| r.as_str());
    let mut literals = vec![
        SQL_MASK,
        "<redacted>",
        "'?'",
        "YES",
        "NO",
        "Digest: \"",
        "://",
    ];
    literals.extend(TRIGGERS);
    (patterns.to_vec(), literals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What [`find_digest`] finds.
    static DIGEST: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"Digest: "(.*)""#).unwrap());

    /// `is_clean` is remembered per message shape (digits as `0`): no trigger may hold a digit.
    #[test]
    fn triggers_hold_no_digit() {
        assert!(
            TRIGGERS
                .iter()
                .all(|t| !t.bytes().any(|b| b.is_ascii_digit()))
        );
    }

    /// Messages of one shape (digits changed), masked or not, alike; see
    /// [`digit_sensitive_parts`], which the classifier's tests hold to treating all digits
    /// alike.
    #[test]
    fn messages_of_one_shape_are_redacted_alike() {
        for (a, b) in [
            ("password=1234 x", "password=9876 x"),
            (
                "Digest: \"select '12' from t\"",
                "Digest: \"select '98' from t\"",
            ),
            ("postgres://u1:p2@h:5432/db", "postgres://u9:p8@h:6543/db"),
            ("The IAM token 12 expired", "The IAM token 34 expired"),
        ] {
            for show_sql in [false, true] {
                let (ra, rb) = (redact_full(a, show_sql), redact_full(b, show_sql));
                assert_eq!(ra == a, rb == b, "{a} {b}");
            }
        }
    }

    /// Pieces of lines: proxy messages, the triggers' words in several cases, SQL, credentials.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(
                "Proxy authentication with IAM authentication failed for user \"app\" with TLS on."
                    .to_string()
            ),
            Just(" Reason: SQL changed session settings. Digest: \"set x to 'a'\".".to_string()),
            Just(
                "The client session was pinned to the database connection [dbConnection=1]."
                    .to_string()
            ),
            Just("postgres://app:pw@host/db?password=hunter2&sslmode=require".to_string()),
            Just("X-Amz-Signature=abcdef0123 X-Amz-Security-Token=FQoG".to_string()),
            Just("(using password: YES)".to_string()),
            Just("WITH t AS (select 1) ".to_string()),
            Just("with recent as (".to_string()),
            Just("Digest: \"x = '1'\"".to_string()),
            Just("update users set a = 1".to_string()),
            Just("DROP TABLE x".to_string()),
            Just("Select * From t".to_string()),
            Just(" pwd: 'x y' ".to_string()),
            Just("secret=\"abc\"".to_string()),
            "[ -~]{0,24}",
            Just("\u{17f}elect * from t".to_string()),
            Just("password\u{a0}= x".to_string()),
            prop::sample::select(TRIGGERS.to_vec()).prop_map(|t| t.to_string()),
            prop::sample::select(TRIGGERS.to_vec()).prop_map(|t| t.to_uppercase()),
        ]
    }

    proptest! {
        /// The fast path gives what the full redaction gives, on any mix of the pieces.
        #[test]
        fn fast_path_agrees_with_the_full_redaction(
            pieces in prop::collection::vec(piece(), 0..6),
            show_sql in any::<bool>(),
        ) {
            let line = pieces.concat();
            let fast = redact_cow(&line, show_sql);
            prop_assert_eq!(fast.as_ref(), redact_full(&line, show_sql));
        }

        /// The digest's byte search finds what its pattern finds.
        #[test]
        fn digest_search_agrees_with_its_pattern(
            pieces in prop::collection::vec(
                prop_oneof![
                    piece(),
                    Just("Digest: \"".to_string()),
                    Just("\"".to_string()),
                    Just("\n".to_string()),
                    Just("digest: \"".to_string()),
                    Just("Digest: ".to_string()),
                    Just("é\"ſ".to_string()),
                ],
                0..8,
            ),
        ) {
            let line = pieces.concat();
            let by_pattern = DIGEST.find(&line).map(|m| (m.start(), m.end()));
            prop_assert_eq!(find_digest(&line), by_pattern);
        }

        /// Skipping the credential patterns when their keys are absent masks what they mask.
        #[test]
        fn credential_keys_guard_the_patterns_exactly(
            pieces in prop::collection::vec(piece(), 0..6),
        ) {
            let line = pieces.concat();
            prop_assert_eq!(mask_credentials(&line), mask_credentials_by_patterns(&line));
        }
    }

    /// Each credential key, in any case, still reaches the patterns.
    #[test]
    fn every_credential_key_is_masked_in_any_case() {
        for line in [
            "PASSWORD=hunter2",
            "Passwd: hunter2",
            "pwd=hunter2",
            "X-Amz-Signature=hunter2",
            "x-amz-security-token=hunter2",
            "X-AMZ-CREDENTIAL=hunter2",
            "aws_secret_access_key=hunter2",
            "AWS_SESSION_TOKEN=hunter2",
            "Secret=hunter2",
            "token=hunter2",
            "postgres://app:hunter2@db/x",
        ] {
            let masked = mask_credentials(line);
            assert!(!masked.contains("hunter2"), "{line} -> {masked}");
        }
    }

    #[test]
    fn lines_without_a_trigger_are_borrowed() {
        let line = "[proxyEndpoint=default] [clientConnection=42] A new client connected from 10.0.0.1:5432.";
        assert!(matches!(
            redact_cow(line, false),
            std::borrow::Cow::Borrowed(_)
        ));
        let line = "Executing query: select 1 from t";
        assert!(matches!(
            redact_cow(line, false),
            std::borrow::Cow::Owned(_)
        ));
    }

    #[test]
    fn keeps_proxy_messages_and_digests() {
        let line = r#"The client session was pinned to the database connection [dbConnection=1]. Reason: SQL changed session settings that the proxy doesn't track. Digest: "set search_path to $1"."#;
        assert_eq!(redact(line, false), line);
        let line =
            "Proxy authentication with IAM authentication failed for user \"root\" with TLS on.";
        assert_eq!(redact(line, false), line);
        let line = "ERROR 1045 (28000): Access denied for user 'app'@'%' (using password: YES)";
        assert_eq!(redact(line, false), line);
        let line = r#"read the AWS Secrets Manager secret with the ARN "arn:aws:secretsmanager:us-east-1:1:secret:orders/app-AbC""#;
        assert_eq!(redact(line, false), line);
    }

    #[test]
    fn masks_statement_text() {
        let out = redact(
            "[INFO] Executing query: select * from users where email = 'a@b.c'",
            false,
        );
        assert_eq!(out, format!("[INFO] Executing query: {SQL_MASK}"));
        assert!(redact("INSERT INTO t VALUES (1)", true).contains("VALUES"));
        let out = redact(r#"Digest: "SET x = 'secret value'"."#, false);
        assert_eq!(out, r#"Digest: "SET x = '?'"."#);
    }

    #[test]
    fn masks_credentials_always() {
        let out = redact(
            "postgres://app:pw@host/db?password=hunter2&sslmode=require",
            true,
        );
        assert!(out.contains("password=<redacted>"), "{out}");
        assert!(!out.contains("hunter2") && !out.contains(":pw@"), "{out}");
        let out = redact(
            "X-Amz-Signature=abcdef0123 X-Amz-Security-Token=FQoG",
            false,
        );
        assert!(
            !out.contains("abcdef0123") && !out.contains("FQoG"),
            "{out}"
        );
    }
}
