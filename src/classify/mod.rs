//! The classifier: turns a parsed line into a typed [`Event`] using the pattern catalogue.
//!
//! Every pattern names literal phrases it needs (`contains`). One Aho-Corasick automaton over
//! all of them (ASCII case-insensitive) finds the candidate patterns of a message in one pass;
//! only candidates run their exact-case check and their regex, in catalogue order, and the first
//! that matches wins. A line no pattern matches becomes an `unclassified` event. Nothing here
//! does I/O or fails.

pub mod catalogue;
mod fast;
mod shape;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::error::UsageError;
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
    /// Per pattern, the name of each capture group (by group index).
    group_names: Vec<Vec<Option<String>>>,
    /// Per pattern, the fast matcher for its regex on ASCII text (`fast.rs`), when it has one.
    fast: Vec<Option<fast::Program>>,
    /// Per pattern, whether it cannot tell one digit from another (`shape.rs`).
    digit_blind: Vec<bool>,
    /// The patterns that are not digit-blind, in catalogue order, with the automaton slots of
    /// their digit-free phrases (what a message's shape already decides about them).
    sighted: Vec<Sighted>,
}

#[derive(Debug)]
struct Sighted {
    pattern: u32,
    required: Vec<usize>,
    excluded: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Required,
    Excluded,
}

/// Messages up to this long are remembered in the per-worker cache.
const CACHED_MESSAGE_MAX: usize = 512;
/// Slots of the direct-mapped cache of classified messages (a power of two).
const CACHE_SLOTS: usize = 4096;

/// What matching one message gave: the pattern and its captured fields as (capture group,
/// start, end) spans of the message, trimmed, empty ones left out.
#[derive(Debug, Clone, Default)]
struct Matched {
    pattern: Option<u32>,
    spans: Vec<(u16, u32, u32)>,
}

/// One cached shape: the first digit-blind pattern that matches its messages, with its group
/// spans, and the patterns that are not digit-blind that come before it and that the shape
/// does not rule out (checked on every message).
#[derive(Debug, Default)]
struct CacheSlot {
    hash: u64,
    shape: Vec<u8>,
    blind: Matched,
    sighted: Vec<u32>,
    /// Whether redaction would mask nothing in messages of this shape (asked by `--events`
    /// only, so found on first use): the same for every message of a shape, as redaction's
    /// triggers hold no digit (`redact::TRIGGERS`).
    clean: Option<bool>,
    /// Whether redaction gives its messages back as they are (`[show_sql]`; asked by
    /// `--events` of messages that are not clean, found on first use): the same for every
    /// message of a shape, as every step of the redaction is digit-blind (`redact.rs`'s tests).
    /// Pinning messages with a digest and the IAM failures' advice ("an IAM token") are such.
    redacted_as_is: [Option<bool>; 2],
    /// Whether its messages hold [`crate::model::PROXY_MARK`]: the same for every message of
    /// a shape, as the mark holds no digit.
    proxy_mark: bool,
}

/// Per-caller scratch space, so classification allocates nothing per line, and the cache of
/// recently classified message shapes. Classification depends on the message text alone; the
/// busiest proxy messages repeat verbatim ("The database connection was released to the
/// connection pool upon session reset.") or differ only in their numbers ("A new client
/// connected from 10.0.11.13:52816."), so such a message costs one pass over its bytes, a hash
/// and one comparison instead of the automaton and a regex (see `shape.rs`).
#[derive(Debug, Default)]
pub struct Scratch {
    hits: Vec<u16>,
    excluded: Vec<bool>,
    touched: Vec<u32>,
    literal_seen: Vec<bool>,
    touched_literals: Vec<usize>,
    candidates: Vec<u32>,
    locations: Vec<Option<regex::CaptureLocations>>,
    matched: Matched,
    cache: Vec<CacheSlot>,
    shape: Vec<u8>,
    fast: fast::Scratch,
    /// The cache slot of the last message classified (`None`: not cached, too long).
    last_slot: Option<usize>,
    /// The storage of an event's fields, handed back once the event is done with
    /// ([`Scratch::recycle`]): one allocation per pipeline instead of one per event.
    fields: Vec<(&'static str, &'static str)>,
}

impl Scratch {
    /// Takes back the storage of a finished event's fields for the next event's.
    pub fn recycle(&mut self, fields: Vec<(&str, &str)>) {
        if fields.capacity() > self.fields.capacity() {
            self.fields = empty_fields(fields);
        }
    }
}

/// `fields` emptied, as storage for fields of any lifetime: collecting the empty vector's own
/// iterator into the same element layout reuses its allocation.
fn empty_fields<'b>(mut fields: Vec<(&str, &str)>) -> Vec<(&'b str, &'b str)> {
    fields.clear();
    fields.into_iter().map(|_| ("", "")).collect()
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
        let group_names = patterns
            .iter()
            .map(|p| {
                p.regex.as_ref().map_or_else(Vec::new, |r| {
                    r.capture_names().map(|n| n.map(str::to_string)).collect()
                })
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
        let fast = patterns
            .iter()
            .map(|p| match &p.regex {
                Some(regex) if !p.ignore_case => fast::Program::compile(regex.as_str()),
                _ => None,
            })
            .collect();
        let digit_blind: Vec<bool> = patterns
            .iter()
            .map(|p| {
                p.contains
                    .iter()
                    .chain(&p.not_contains)
                    .all(|l| shape::digit_free(l))
                    && p.regex
                        .as_ref()
                        .is_none_or(|r| shape::regex_is_digit_blind(r.as_str(), p.ignore_case))
            })
            .collect();
        let slots_of = |phrases: &[String]| -> Vec<usize> {
            phrases
                .iter()
                .filter(|l| shape::digit_free(l))
                .filter_map(|l| {
                    let key = l.to_ascii_lowercase();
                    literals.iter().position(|k| *k == key)
                })
                .collect()
        };
        let sighted = patterns
            .iter()
            .enumerate()
            .filter(|&(index, _)| !digit_blind[index])
            .map(|(index, p)| Sighted {
                pattern: u32::try_from(index).unwrap_or(u32::MAX),
                required: slots_of(&p.contains),
                excluded: slots_of(&p.not_contains),
            })
            .collect();
        Ok(Classifier {
            patterns,
            automaton,
            owners,
            exact,
            group_names,
            fast,
            digit_blind,
            sighted,
        })
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    pub fn pattern(&self, index: u32) -> Option<&Pattern> {
        self.patterns.get(usize::try_from(index).ok()?)
    }

    /// Classifies one parsed line (first matching pattern in catalogue order).
    pub fn classify<'a>(&'a self, line: &'a LogLine<'a>, scratch: &mut Scratch) -> Event<'a> {
        let message = line.message;
        let mut event = Event {
            ts: line.ts,
            kind: EventKind::Unclassified,
            pattern: None,
            endpoint: line.endpoint,
            client_conn: line.client_conn,
            db_conn: line.db_conn,
            fields: Vec::new(),
            line,
            proxy_mark: false,
        };
        let spare = std::mem::take(&mut scratch.fields);
        let matched = self.matched(message, scratch);
        let Some(index) = matched.pattern else {
            scratch.fields = spare;
            event.proxy_mark = Self::last_proxy_mark(message, scratch);
            return event;
        };
        let pattern = &self.patterns[index as usize];
        let names = &self.group_names[index as usize];
        let mut fields = empty_fields(spare);
        fields.reserve(matched.spans.len() + pattern.set.len());
        for &(group, start, end) in &matched.spans {
            let name = names.get(usize::from(group)).and_then(Option::as_deref);
            let value = message.get(start as usize..end as usize);
            if let (Some(name), Some(value)) = (name, value) {
                fields.push((name, value));
            }
        }
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
        event.proxy_mark = Self::last_proxy_mark(message, scratch);
        event
    }

    /// Whether `message`, just classified with `scratch`, holds [`crate::model::PROXY_MARK`]:
    /// known from its shape's cache slot, searched for when it had none.
    fn last_proxy_mark(message: &str, scratch: &Scratch) -> bool {
        scratch
            .last_slot
            .and_then(|slot| scratch.cache.get(slot))
            .map_or_else(
                || crate::model::has_proxy_mark(message),
                |entry| entry.proxy_mark,
            )
    }

    /// Whether redaction would mask nothing in `message` ([`crate::redact::is_clean`]), the
    /// message of the line just classified with `scratch`: found once per message shape in
    /// the cache (the `--events` table asks it of every event).
    pub fn last_message_is_clean(&self, message: &str, scratch: &mut Scratch) -> bool {
        match Self::last_slot(message, scratch) {
            Some(entry) => *entry
                .clean
                .get_or_insert_with(|| crate::redact::is_clean(message)),
            None => crate::redact::is_clean(message),
        }
    }

    /// `message`, the message of the line just classified with `scratch`, redacted as the
    /// evidence is (`redact::redact_full`), or `None` when redaction gives it back as it is:
    /// known once per message shape from the cache, so such messages are redacted once per
    /// shape, not once per line.
    pub fn last_message_redacted(
        &self,
        message: &str,
        scratch: &mut Scratch,
        show_sql: bool,
    ) -> Option<String> {
        let slot = Self::last_slot(message, scratch)
            .map(|entry| &mut entry.redacted_as_is[usize::from(show_sql)]);
        if slot.as_deref() == Some(&Some(true)) {
            return None;
        }
        let redacted = crate::redact::redact_full(message, show_sql);
        let as_is = redacted == message;
        if let Some(slot) = slot {
            *slot = Some(as_is);
        }
        (!as_is).then_some(redacted)
    }

    /// The cache slot of `message`, the message of the line just classified with `scratch`
    /// (none when it was not cached): the slot holds its shape (same length), not another
    /// line's.
    fn last_slot<'s>(message: &str, scratch: &'s mut Scratch) -> Option<&'s mut CacheSlot> {
        scratch
            .last_slot
            .and_then(|slot| scratch.cache.get_mut(slot))
            .filter(|entry| entry.shape.len() == message.len())
    }

    /// The pattern and field spans of `message`, through the cache of message shapes.
    fn matched<'s>(&self, message: &str, scratch: &'s mut Scratch) -> &'s Matched {
        if message.len() > CACHED_MESSAGE_MAX {
            scratch.last_slot = None;
            self.match_uncached(message, scratch);
            return &scratch.matched;
        }
        if scratch.cache.is_empty() {
            scratch.cache.resize_with(CACHE_SLOTS, CacheSlot::default);
        }
        shape::shape_into(message, &mut scratch.shape);
        let hash = shape_hash(&scratch.shape);
        let slot = (hash % CACHE_SLOTS as u64) as usize;
        let hit = scratch.cache[slot].hash == hash && scratch.cache[slot].shape == scratch.shape;
        if !hit {
            self.fill_slot(message, scratch, slot, hash);
        }
        scratch.last_slot = Some(slot);
        let Scratch {
            cache,
            locations,
            fast,
            matched,
            ..
        } = scratch;
        let entry = &cache[slot];
        // A pattern that sees digits and comes first wins over the shape's digit-blind match.
        for &index in &entry.sighted {
            matched.spans.clear();
            let locations = locations.get_mut(index as usize);
            if self.pattern_matches(index, message, locations, fast, &mut matched.spans) {
                matched.pattern = Some(index);
                return matched;
            }
        }
        &entry.blind
    }

    /// Classifies the shape of `message` into cache slot `slot`: the first digit-blind
    /// candidate that matches, and the patterns that are not blind which the shape leaves open.
    fn fill_slot(&self, message: &str, scratch: &mut Scratch, slot: usize, hash: u64) {
        self.candidates(message, scratch);
        self.ensure_locations(scratch);
        let Scratch {
            cache,
            locations,
            fast,
            candidates,
            touched_literals,
            shape,
            ..
        } = scratch;
        let entry = &mut cache[slot];
        entry.hash = hash;
        entry.shape.clone_from(shape);
        entry.blind.pattern = None;
        entry.blind.spans.clear();
        entry.clean = None;
        entry.redacted_as_is = [None; 2];
        entry.proxy_mark = crate::model::has_proxy_mark(message);
        for &index in candidates.iter() {
            if !self.digit_blind[index as usize] {
                continue;
            }
            let locations = locations.get_mut(index as usize);
            if self.pattern_matches(index, message, locations, fast, &mut entry.blind.spans) {
                entry.blind.pattern = Some(index);
                break;
            }
            entry.blind.spans.clear();
        }
        let before = entry.blind.pattern.unwrap_or(u32::MAX);
        entry.sighted.clear();
        for sighted in &self.sighted {
            if sighted.pattern >= before {
                break;
            }
            let found = |slot: &usize| touched_literals.contains(slot);
            if sighted.required.iter().all(found) && !sighted.excluded.iter().any(found) {
                entry.sighted.push(sighted.pattern);
            }
        }
    }

    fn ensure_locations(&self, scratch: &mut Scratch) {
        if scratch.locations.len() != self.patterns.len() {
            // Made when a pattern's regex is first run (see `PatternRegex`).
            scratch.locations = self.patterns.iter().map(|_| None).collect();
        }
    }

    fn match_uncached(&self, message: &str, scratch: &mut Scratch) {
        self.candidates(message, scratch);
        self.ensure_locations(scratch);
        let mut spans = std::mem::take(&mut scratch.matched.spans);
        scratch.matched.pattern = None;
        for &index in &scratch.candidates {
            spans.clear();
            let locations = scratch.locations.get_mut(index as usize);
            if self.pattern_matches(index, message, locations, &mut scratch.fast, &mut spans) {
                scratch.matched.pattern = Some(index);
                break;
            }
        }
        if scratch.matched.pattern.is_none() {
            spans.clear();
        }
        scratch.matched.spans = spans;
    }

    /// Every pattern that matches `message` on its own, ignoring catalogue order. Used by the
    /// catalogue lint ("each example matches its own pattern and no other").
    pub fn all_matches(&self, message: &str) -> Vec<u32> {
        let mut scratch = Scratch::default();
        let mut spans = Vec::new();
        self.candidates(message, &mut scratch);
        scratch
            .candidates
            .iter()
            .copied()
            .filter(|&index| {
                self.pattern_matches(
                    index,
                    message,
                    Some(&mut None),
                    &mut fast::Scratch::default(),
                    &mut spans,
                )
            })
            .collect()
    }

    /// Pattern indexes whose required literals all occur (case-insensitively) and whose
    /// excluded literals do not, in catalogue order, into `scratch.candidates`.
    fn candidates(&self, message: &str, scratch: &mut Scratch) {
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
        scratch.candidates.clear();
        for &index in &scratch.touched {
            let slot = index as usize;
            if !scratch.excluded[slot]
                && usize::from(scratch.hits[slot]) >= self.patterns[slot].contains.len()
            {
                scratch.candidates.push(index);
            }
        }
        for &index in &scratch.touched {
            scratch.hits[index as usize] = 0;
            scratch.excluded[index as usize] = false;
        }
        for &literal in &scratch.touched_literals {
            scratch.literal_seen[literal] = false;
        }
        scratch.candidates.sort_unstable();
        scratch.candidates.dedup();
    }

    fn pattern_matches(
        &self,
        index: u32,
        message: &str,
        locations: Option<&mut Option<regex::CaptureLocations>>,
        fast_scratch: &mut fast::Scratch,
        spans: &mut Vec<(u16, u32, u32)>,
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
        let (Some(regex), Some(locations)) = (&pattern.regex, locations) else {
            return pattern.regex.is_none();
        };
        let fast = self.fast.get(index as usize).and_then(Option::as_ref);
        let outcome = fast.map_or(fast::Outcome::Unknown, |p| {
            p.captures(message, fast_scratch)
        });
        let mut located = None;
        let groups = match outcome {
            fast::Outcome::NoMatch => return false,
            fast::Outcome::Match => fast_scratch.slots.len() / 2,
            fast::Outcome::Unknown => {
                let Some(regex) = regex.regex() else {
                    return false;
                };
                let locations = locations.get_or_insert_with(|| regex.capture_locations());
                if regex.captures_read(locations, message).is_none() {
                    return false;
                }
                let groups = locations.len();
                located = Some(&*locations);
                groups
            }
        };
        let names = &self.group_names[index as usize];
        for group in 1..groups {
            let span = match outcome {
                fast::Outcome::Match => {
                    match (
                        fast_scratch.slots[group * 2],
                        fast_scratch.slots[group * 2 + 1],
                    ) {
                        (Some(start), Some(end)) => Some((start, end)),
                        _ => None,
                    }
                }
                _ => located.and_then(|locations| locations.get(group)),
            };
            let (Some(Some(_)), Some((start, end))) = (names.get(group), span) else {
                continue;
            };
            let Some(value) = message.get(start..end) else {
                continue;
            };
            let trimmed = value.trim_start();
            let start = start + (value.len() - trimmed.len());
            let end = start + trimmed.trim_end().len();
            if end > start {
                let span = (
                    u32::try_from(start),
                    u32::try_from(end),
                    u16::try_from(group),
                );
                if let (Ok(start), Ok(end), Ok(group)) = span {
                    spans.push((group, start, end));
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
            let event = classifier.classify(&line, &mut scratch);
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

/// The hash of a message's shape (with its length, so that a prefix hashes differently).
fn shape_hash(shape: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut hasher = rustc_hash::FxHasher::default();
    hasher.write(shape);
    hasher.write_usize(shape.len());
    hasher.finish()
}

/// The built-in catalogue plus `--patterns DIR`, as a classifier. A bad `--patterns`
/// directory is the user's to fix (a [`UsageError`], exit 2); a bad built-in catalogue is a
/// bug in this build.
pub fn load(dir: Option<&std::path::Path>) -> anyhow::Result<Classifier> {
    use anyhow::Context as _;
    let builtin = catalogue::builtin().context("the built-in pattern catalogue is invalid")?;
    let patterns = match dir {
        Some(dir) => {
            let user =
                catalogue::from_dir(dir).map_err(|e| UsageError(format!("--patterns: {e}")))?;
            catalogue::merge(builtin, user)
        }
        None => builtin,
    };
    Classifier::new(patterns).map_err(|e| UsageError(e.to_string()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::parse::parse_line;

    /// A pipeline's events reuse one vector of fields: emptied for a new lifetime, the
    /// vector keeps its allocation, and classifying with it gives the fields a fresh vector
    /// would.
    #[test]
    fn recycled_fields_keep_their_storage() {
        let text = String::from("kept");
        let mut fields: Vec<(&str, &str)> = Vec::with_capacity(8);
        fields.push((text.as_str(), text.as_str()));
        let at = fields.as_ptr() as usize;
        let empty = empty_fields(fields);
        assert!(empty.is_empty());
        assert_eq!(empty.as_ptr() as usize, at);
        assert!(empty.capacity() >= 8);

        let classifier = load(None).unwrap();
        let mut scratch = Scratch::default();
        let line = "2026-11-24T09:58:00.464Z [INFO] [proxyEndpoint=default] [clientConnection=1] A new client connected from 10.0.0.1:5000.";
        let owned = |fields: &[(&str, &str)]| -> Vec<(String, String)> {
            fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let parsed = parse_line(line);
        let event = classifier.classify(&parsed, &mut scratch);
        let first = owned(&event.fields);
        scratch.recycle(event.fields);
        assert!(scratch.fields.capacity() > 0);
        let again = owned(&classifier.classify(&parsed, &mut scratch).fields);
        assert!(!first.is_empty());
        assert_eq!(first, again);
    }

    fn classifier() -> Classifier {
        Classifier::new(catalogue::builtin().unwrap()).unwrap()
    }

    fn check(text: &str) -> (String, Vec<(String, String)>) {
        let classifier = classifier();
        let mut scratch = Scratch::default();
        let line = parse_line(text);
        let event = classifier.classify(&line, &mut scratch);
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
        let line = parse_line(
            "2024-10-12T17:20:40 [WARN] [proxyEndpoint=default] [clientConnection=2125203372] The client session was pinned to the database connection [dbConnection=1953961465] for the remainder of the session. The proxy can't reuse this connection until the session ends. Reason: SQL changed session settings that the proxy doesn't track. Consider moving session configuration to the proxy's initialization query. Digest: \"set search_path to $1,$2,$3\".",
        );
        let event = classifier.classify(&line, &mut scratch);
        assert_eq!(event.kind, EventKind::Pinned);
        assert_eq!(event.db_conn, Some(1_953_961_465));
        assert_eq!(event.field("digest"), Some("set search_path to $1,$2,$3"));
    }

    /// Redaction treats all digits alike, as remembering it per shape needs
    /// (`redact::digit_sensitive_parts`).
    #[test]
    fn redaction_treats_all_digits_alike() {
        let (patterns, literals) = crate::redact::digit_sensitive_parts();
        for pattern in patterns {
            assert!(shape::regex_is_digit_blind(pattern, false), "{pattern}");
        }
        for literal in literals {
            assert!(shape::digit_free(literal), "{literal}");
        }
    }

    /// The clean flag and the redaction remembered per shape are what the redaction says of
    /// each message: messages with and without credentials, statements and digests, digits
    /// changed, long messages past the cache, one scratch shared by all.
    #[test]
    fn clean_per_shape_agrees_with_the_redaction() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let classifier = classifier();
        let shared = std::cell::RefCell::new(Scratch::default());
        let mut runner = TestRunner::new(Config::with_cases(3000));
        let part = prop_oneof![
            Just("A new client connected from 10.0.1.2:5432.".to_string()),
            Just(" password=hunter2".to_string()),
            Just(" SELECT 1 FROM t".to_string()),
            Just(" Pwd: 12".to_string()),
            Just(" postgres://u:p@h:5432/db".to_string()),
            Just(" \u{e9}t\u{e9}".to_string()),
            Just(" Digest: \"set search_path to $1\"".to_string()),
            Just(" Digest: \"select '12' from t\" x".to_string()),
            Just(" If you provide an IAM token, make sure".to_string()),
            Just(" '0' <redacted> '?' YES".to_string()),
            "[a-z0-9 :=/\"']{0,12}",
            "[0-9]{1,4}",
            Just("x".repeat(600)),
        ];
        runner
            .run(&proptest::collection::vec(part, 1..5), |parts| {
                let message = parts.concat();
                let line = parse_line(&message);
                let text = line.message;
                let mut scratch = shared.borrow_mut();
                classifier.classify(&line, &mut scratch);
                let cached = classifier.last_message_is_clean(text, &mut scratch);
                prop_assert_eq!(cached, crate::redact::is_clean(text), "{}", text);
                for show_sql in [false, true] {
                    let redacted = crate::redact::redact_full(text, show_sql);
                    let expected = (redacted != text).then_some(redacted);
                    let cached = classifier.last_message_redacted(text, &mut scratch, show_sql);
                    prop_assert_eq!(cached, expected, "{} {}", text, show_sql);
                }
                Ok(())
            })
            .unwrap();
    }

    /// The cache of shapes answers exactly what classifying each message on its own does,
    /// also for patterns that tell digits apart (MySQL error codes) and when messages of one
    /// shape follow each other.
    #[test]
    fn shape_cache_agrees_with_uncached_classification() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let classifier = classifier();
        let messages: Vec<String> = classifier
            .patterns()
            .iter()
            .flat_map(|p| p.examples_match.iter().chain(&p.examples_no_match))
            .map(|e| parse_line(e).message.to_string())
            .chain([
                "ERROR 1045 (28000): Access denied for user 'app'@'10.0.0.1' (using password: YES)"
                    .to_string(),
                "ERROR 1046 (28000): Access denied for user 'app'@'10.0.0.1' (using password: YES)"
                    .to_string(),
                "Error 9501: Timed-out waiting to acquire database connection".to_string(),
                "Error 9502: Timed-out waiting to acquire database connection".to_string(),
            ])
            .collect();
        let shared = std::cell::RefCell::new(Scratch::default());
        let check = |message: &str| {
            let cached = classifier
                .matched(message, &mut shared.borrow_mut())
                .clone();
            let mut fresh = Scratch::default();
            classifier.match_uncached(message, &mut fresh);
            assert_eq!(cached.pattern, fresh.matched.pattern, "{message}");
            assert_eq!(cached.spans, fresh.matched.spans, "{message}");
        };
        for message in &messages {
            check(message);
            check(message);
        }
        // Every digit replaced by another (same shape), one at a time and then all at once.
        let mut runner = TestRunner::new(Config::with_cases(3000));
        let strategy = (0..messages.len(), any::<u64>());
        runner
            .run(&strategy, |(index, seed)| {
                let message = &messages[index];
                check(message);
                let mut state = seed;
                let changed: String = message
                    .chars()
                    .map(|c| {
                        state = state
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1);
                        if c.is_ascii_digit() && state >> 62 != 0 {
                            char::from(b'0' + ((state >> 33) % 10) as u8)
                        } else {
                            c
                        }
                    })
                    .collect();
                check(&changed);
                check(message);
                Ok(())
            })
            .unwrap();
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
