//! The classifier: turns a parsed line into a typed [`Event`] using the pattern catalogue.
//!
//! Every pattern names literal phrases it needs (`contains`). One Aho-Corasick automaton over
//! all of them (ASCII case-insensitive) finds the candidate patterns of a message in one pass;
//! only candidates run their exact-case check and their regex, in catalogue order, and the first
//! that matches wins. A line no pattern matches becomes an `unclassified` event. Nothing here
//! does I/O or fails.

pub mod catalogue;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::model::{Event, EventKind, LogLine, field};
pub use catalogue::{CatalogueError, Pattern, Side};

/// The compiled catalogue.
#[derive(Debug)]
pub struct Classifier {
    patterns: Vec<Pattern>,
    automaton: AhoCorasick,
    /// For each automaton literal, the (pattern, role) pairs that use it.
    owners: Vec<Vec<(u32, Role)>>,
    /// Per pattern, compiled searchers for its exact-case `contains` and `not_contains`.
    exact: Vec<(
        Vec<memchr::memmem::Finder<'static>>,
        Vec<memchr::memmem::Finder<'static>>,
    )>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Required,
    Excluded,
}

/// Per-caller scratch space, so classification allocates nothing per line.
#[derive(Debug, Default)]
pub struct Scratch {
    hits: Vec<u16>,
    excluded: Vec<bool>,
    touched: Vec<u32>,
    literal_seen: Vec<bool>,
    touched_literals: Vec<usize>,
}

impl Classifier {
    pub fn new(patterns: Vec<Pattern>) -> Result<Classifier, CatalogueError> {
        let mut literals: Vec<String> = Vec::new();
        let mut owners: Vec<Vec<(u32, Role)>> = Vec::new();
        for (index, pattern) in patterns.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let roles = pattern
                .contains
                .iter()
                .map(|l| (l, Role::Required))
                .chain(pattern.not_contains.iter().map(|l| (l, Role::Excluded)));
            for (literal, role) in roles {
                let key = literal.to_ascii_lowercase();
                let slot = match literals.iter().position(|l| *l == key) {
                    Some(slot) => slot,
                    None => {
                        literals.push(key);
                        owners.push(Vec::new());
                        owners.len() - 1
                    }
                };
                owners[slot].push((index, role));
            }
        }
        let exact = patterns
            .iter()
            .map(|p| {
                let finders = |literals: &[String]| {
                    literals
                        .iter()
                        .map(|l| memchr::memmem::Finder::new(l.as_bytes()).into_owned())
                        .collect()
                };
                (finders(&p.contains), finders(&p.not_contains))
            })
            .collect();
        // A DFA: the fastest overlapping search, and the catalogue's few hundred literals keep
        // it small.
        let automaton = AhoCorasickBuilder::new()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&literals)
            .map_err(|e| CatalogueError::Invalid {
                origin: "catalogue".to_string(),
                id: "*".to_string(),
                message: format!("cannot build the literal prefilter: {e}"),
            })?;
        Ok(Classifier {
            patterns,
            automaton,
            owners,
            exact,
        })
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    pub fn pattern(&self, index: u32) -> Option<&Pattern> {
        self.patterns.get(usize::try_from(index).ok()?)
    }

    /// Classifies one parsed line (first matching pattern in catalogue order).
    pub fn classify<'a>(&'a self, line: LogLine<'a>, scratch: &mut Scratch) -> Event<'a> {
        let mut fields = Vec::new();
        let matched = self
            .candidates(line.message, scratch)
            .into_iter()
            .find(|&index| {
                fields.clear();
                self.pattern_matches(index, line.message, &mut fields)
            });
        let mut event = Event {
            ts: line.ts,
            kind: EventKind::Unclassified,
            pattern: None,
            endpoint: line.endpoint,
            client_conn: line.client_conn,
            db_conn: line.db_conn,
            fields: Vec::new(),
            line,
        };
        if let Some(index) = matched {
            let pattern = &self.patterns[index as usize];
            event.kind = pattern.kind;
            event.pattern = Some(index);
            for (name, value) in &fields {
                match *name {
                    field::DB_CONNECTION if event.db_conn.is_none() => {
                        event.db_conn = value.parse().ok();
                    }
                    field::CLIENT_CONNECTION if event.client_conn.is_none() => {
                        event.client_conn = value.parse().ok();
                    }
                    _ => {}
                }
            }
            for (name, value) in &pattern.set {
                fields.push((name.as_str(), value.as_str()));
            }
            event.fields = fields;
        }
        event
    }

    /// Every pattern that matches `message` on its own, ignoring catalogue order. Used by the
    /// catalogue lint ("each example matches its own pattern and no other").
    pub fn all_matches(&self, message: &str) -> Vec<u32> {
        let mut scratch = Scratch::default();
        let mut fields = Vec::new();
        self.candidates(message, &mut scratch)
            .into_iter()
            .filter(|&index| self.pattern_matches(index, message, &mut fields))
            .collect()
    }

    /// Pattern indexes whose required literals all occur (case-insensitively) and whose
    /// excluded literals do not, in catalogue order.
    fn candidates(&self, message: &str, scratch: &mut Scratch) -> Vec<u32> {
        if scratch.hits.len() != self.patterns.len()
            || scratch.literal_seen.len() != self.owners.len()
        {
            scratch.hits = vec![0; self.patterns.len()];
            scratch.excluded = vec![false; self.patterns.len()];
            scratch.literal_seen = vec![false; self.owners.len()];
        }
        scratch.touched.clear();
        scratch.touched_literals.clear();
        for found in self.automaton.find_overlapping_iter(message) {
            let literal = found.pattern().as_usize();
            // A literal can occur several times in a message; count it once.
            if scratch.literal_seen[literal] {
                continue;
            }
            scratch.literal_seen[literal] = true;
            scratch.touched_literals.push(literal);
            for &(index, role) in &self.owners[literal] {
                let slot = index as usize;
                if scratch.hits[slot] == 0 && !scratch.excluded[slot] {
                    scratch.touched.push(index);
                }
                match role {
                    Role::Required => scratch.hits[slot] = scratch.hits[slot].saturating_add(1),
                    Role::Excluded => scratch.excluded[slot] = true,
                }
            }
        }
        let mut out: Vec<u32> = scratch
            .touched
            .iter()
            .copied()
            .filter(|&index| {
                let slot = index as usize;
                !scratch.excluded[slot]
                    && usize::from(scratch.hits[slot]) >= self.patterns[slot].contains.len()
            })
            .collect();
        for &index in &scratch.touched {
            scratch.hits[index as usize] = 0;
            scratch.excluded[index as usize] = false;
        }
        for &literal in &scratch.touched_literals {
            scratch.literal_seen[literal] = false;
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn pattern_matches<'a>(
        &'a self,
        index: u32,
        message: &'a str,
        fields: &mut Vec<(&'a str, &'a str)>,
    ) -> bool {
        let pattern = &self.patterns[index as usize];
        if !pattern.ignore_case
            && let Some((required, excluded)) = self.exact.get(index as usize)
        {
            let bytes = message.as_bytes();
            if !required.iter().all(|f| f.find(bytes).is_some())
                || excluded.iter().any(|f| f.find(bytes).is_some())
            {
                return false;
            }
        }
        let Some(regex) = &pattern.regex else {
            return true;
        };
        let Some(captures) = regex.captures(message) else {
            return false;
        };
        for name in regex.capture_names().flatten() {
            if let Some(value) = captures.name(name) {
                let value = value.as_str().trim();
                if !value.is_empty() {
                    fields.push((name, value));
                }
            }
        }
        true
    }
}

/// Checks the catalogue the way `proxydoc patterns lint` and the test suite do: every `match`
/// example is classified as its own pattern and matches no other pattern at all; no
/// `no_match` example matches its own pattern. Returns one message per problem.
pub fn lint(classifier: &Classifier) -> Vec<String> {
    let mut problems = Vec::new();
    let mut scratch = Scratch::default();
    for (index, pattern) in classifier.patterns().iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        for example in &pattern.examples_match {
            let line = crate::parse::parse_line(example);
            let event = classifier.classify(line, &mut scratch);
            if event.pattern != Some(index) {
                let got = event
                    .pattern
                    .and_then(|p| classifier.pattern(p))
                    .map_or("no pattern".to_string(), |p| format!("`{}`", p.id));
                problems.push(format!(
                    "{}: `{}`: example is classified as {got}: {example}",
                    pattern.origin, pattern.id
                ));
            }
            let others: Vec<String> = classifier
                .all_matches(line.message)
                .into_iter()
                .filter(|&p| p != index)
                .filter_map(|p| classifier.pattern(p).map(|p| format!("`{}`", p.id)))
                .collect();
            if !others.is_empty() {
                problems.push(format!(
                    "{}: `{}`: example also matches {}: {example}",
                    pattern.origin,
                    pattern.id,
                    others.join(", ")
                ));
            }
        }
        for example in &pattern.examples_no_match {
            let line = crate::parse::parse_line(example);
            if classifier.all_matches(line.message).contains(&index) {
                problems.push(format!(
                    "{}: `{}`: no_match example matches: {example}",
                    pattern.origin, pattern.id
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_line;

    fn classifier() -> Classifier {
        Classifier::new(catalogue::builtin().unwrap()).unwrap()
    }

    fn check(text: &str) -> (String, Vec<(String, String)>) {
        let classifier = classifier();
        let mut scratch = Scratch::default();
        let event = classifier.classify(parse_line(text), &mut scratch);
        let id = event
            .pattern
            .and_then(|p| classifier.pattern(p))
            .map_or("-".to_string(), |p| p.id.clone());
        let fields = event
            .fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        (id, fields)
    }

    fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn iam_auth_failure_fields() {
        let (id, fields) = check(
            "2022-10-21T17:25:29.601Z [INFO] [proxyEndpoint=default] [clientConnection=94296180] Proxy authentication with IAM authentication failed for user \"root\" with TLS on. Reason: Invalid credentials. If you provide an IAM token, make sure to either use the correct password or enable IAM authentication.",
        );
        assert_eq!(id, "proxy-auth-failed-iam");
        assert_eq!(field(&fields, "user"), Some("root"));
        assert_eq!(field(&fields, "tls"), Some("on"));
        assert!(
            field(&fields, "reason")
                .unwrap()
                .starts_with("Invalid credentials.")
        );
    }

    #[test]
    fn pinning_digest_and_inline_db_connection() {
        let classifier = classifier();
        let mut scratch = Scratch::default();
        let event = classifier.classify(
            parse_line(
                "2024-10-12T17:20:40 [WARN] [proxyEndpoint=default] [clientConnection=2125203372] The client session was pinned to the database connection [dbConnection=1953961465] for the remainder of the session. The proxy can't reuse this connection until the session ends. Reason: SQL changed session settings that the proxy doesn't track. Consider moving session configuration to the proxy's initialization query. Digest: \"set search_path to $1,$2,$3\".",
            ),
            &mut scratch,
        );
        assert_eq!(event.kind, EventKind::Pinned);
        assert_eq!(event.db_conn, Some(1_953_961_465));
        assert_eq!(event.field("digest"), Some("set search_path to $1,$2,$3"));
    }

    #[test]
    fn unknown_line_is_unclassified() {
        assert_eq!(check("nothing to see here").0, "-");
        assert_eq!(check("").0, "-");
    }

    #[test]
    fn client_error_found_anywhere_in_line() {
        let (id, fields) = check(
            "2024-05-19 06:10:35,743 ERROR [main] org.postgresql.util.PSQLException: FATAL: This RDS proxy has no credentials for the role reporting. Check the credentials for this role and try again.",
        );
        assert_eq!(id, "pg-no-credentials-for-role");
        assert_eq!(field(&fields, "user"), Some("reporting"));
    }
}
