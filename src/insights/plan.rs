//! `analyze --engine insights`: the pattern catalogue as CloudWatch Logs Insights queries (as
//! many as the service's 10,000-character limit needs, each a contiguous run of the catalogue),
//! and their result rows folded into the same aggregator as local analysis. Pure: the
//! calls are in `source/insights.rs` (driver) and `aws/logs.rs`.
//!
//! The query classifies every line the way [`crate::classify::Classifier`] does, as far as the
//! Logs Insights language allows:
//!
//! ```text
//! fields @timestamp, @message
//! | filter @message like /(?i)literal|literal|…/          every pattern's `contains` phrases
//! | parse @message /\[proxyEndpoint=(?<pdend>[^\]\[]+)\]/
//! | parse @message /(?<pdm3>… pattern 3's regex, groups renamed pd3_user …)/
//! | parse @message /(?<pdc7>literal 7)/                    exact-case `contains`/`not_contains`
//! | fields (ispresent(pdm3) and ispresent(pdc7) and not ispresent(pdc9)) as pdh3, …
//! | fields coalesce(pd1_user, pd3_user, …) as pduser, … client, detail (digest, else reason)
//! | stats count(*) as n, min(@timestamp) as first, max(@timestamp) as last
//!     by bin(1m) as minute, pdend, pduser, pdclient, pddetail, pdh0, pdh1, …
//! ```
//!
//! Locally, a row's pattern is the first (in catalogue order) whose `pdh` flag is true: the
//! catalogue's first-match rule. What only a line-by-line read can give (evidence lines,
//! session joins) is not in the rows; the caller fetches a small sample for the top findings.
//! A row's user, client and detail are the first non-null over all patterns that matched, in
//! catalogue order: the winning pattern's own value unless it has no such field and a later
//! pattern that also matched has one (the catalogue lint keeps patterns from overlapping).

use std::fmt::Write as _;

use crate::aggregate::{Aggregator, Counted};
use crate::classify::Classifier;
use crate::model::{Millis, field};

/// Logs Insights refuses longer query strings.
pub const MAX_QUERY_CHARS: usize = 10_000;
/// The most rows one query returns; a result that reaches it is incomplete.
pub const MAX_ROWS: usize = 10_000;
/// The most log groups one StartQuery takes.
pub const MAX_GROUPS_PER_QUERY: usize = 50;
/// List price per GB scanned (us-east-1; most Regions charge the same, a few more).
pub const USD_PER_GB: f64 = 0.005;

/// The generated queries and what their flag columns mean.
#[derive(Debug, Clone)]
pub struct Plan {
    /// One query per group of patterns, in catalogue order.
    pub parts: Vec<Part>,
    /// Patterns the query cannot classify (no literal to look for); reported, not counted.
    pub skipped: Vec<String>,
}

/// One query: a contiguous group of the catalogue's patterns.
#[derive(Debug, Clone)]
pub struct Part {
    pub query: String,
    /// Pattern index of each `pdh<i>` flag column, in the order they are tested.
    flags: Vec<(String, u32)>,
}

/// Why no query could be built.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the Logs Insights query for pattern `{0}` alone is {1} characters, over the service's limit of {MAX_QUERY_CHARS}: shorten its regex (--patterns) or use the local engine"
    )]
    TooLong(String, usize),
    #[error("no pattern of the catalogue can be searched for in Logs Insights")]
    Empty,
}

impl Plan {
    /// The catalogue as few queries as the service's length limit allows: patterns are added
    /// in catalogue order to the current query while it stays within [`MAX_QUERY_CHARS`], so
    /// each query is a contiguous run of the catalogue and first-match order holds within it.
    /// Across queries it cannot: a line that patterns of two queries both match is counted by
    /// each. The catalogue lint keeps the built-in patterns from overlapping (every example
    /// matches its own pattern only), and the tests compare the split queries with local
    /// analysis over the samples.
    pub fn new(classifier: &Classifier) -> Result<Plan, PlanError> {
        let patterns = classifier.patterns();
        let skipped: Vec<String> = patterns
            .iter()
            .filter(|p| p.contains.is_empty())
            .map(|p| p.id.clone())
            .collect();
        let usable: Vec<usize> = (0..patterns.len())
            .filter(|&i| !patterns[i].contains.is_empty())
            .collect();
        if usable.is_empty() {
            return Err(PlanError::Empty);
        }
        let mut parts = Vec::new();
        let mut group: Vec<usize> = Vec::new();
        let mut built: Option<Part> = None;
        for index in usable {
            group.push(index);
            let candidate = build_part(classifier, &group);
            if candidate.query.chars().count() <= MAX_QUERY_CHARS {
                built = Some(candidate);
                continue;
            }
            group.pop();
            match built.take() {
                Some(part) => parts.push(part),
                None => {
                    return Err(PlanError::TooLong(
                        patterns[index].id.clone(),
                        candidate.query.chars().count(),
                    ));
                }
            }
            group = vec![index];
            let alone = build_part(classifier, &group);
            if alone.query.chars().count() > MAX_QUERY_CHARS {
                return Err(PlanError::TooLong(
                    patterns[index].id.clone(),
                    alone.query.chars().count(),
                ));
            }
            built = Some(alone);
        }
        parts.extend(built);
        Ok(Plan { parts, skipped })
    }

    /// Folds each part's result rows (`rows[i]` for `parts[i]`) into `aggregator`; returns
    /// the events they count. A row whose lines no pattern of its query claims is left out:
    /// its lines may be another query's, and the caller counts whatever no query claimed as
    /// unclassified (the lines scanned less the events returned here).
    pub fn fold(
        &self,
        rows: &[Vec<Vec<(String, String)>>],
        aggregator: &mut Aggregator<'_>,
    ) -> u64 {
        self.parts
            .iter()
            .zip(rows)
            .map(|(part, rows)| part.fold(rows, aggregator))
            .sum()
    }

    /// Every query's text, for `--emit-query`.
    pub fn text(&self) -> String {
        let total = self.parts.len();
        self.parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                if total == 1 {
                    part.query.clone()
                } else {
                    format!("# query {} of {total}\n{}", i + 1, part.query)
                }
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// The query for the patterns `group` (indices into the catalogue, in order).
fn build_part(classifier: &Classifier, group: &[usize]) -> Part {
    let patterns = classifier.patterns();
    let mut prefilter: Vec<String> = Vec::new();
    let mut parses = String::new();
    let mut literals: Vec<(String, bool)> = Vec::new();
    let mut literal_field = |literal: &str, ignore_case: bool, parses: &mut String| {
        let key = (literal.to_string(), ignore_case);
        let index = match literals.iter().position(|l| *l == key) {
            Some(index) => index,
            None => {
                literals.push(key);
                let flags = if ignore_case { "(?i)" } else { "" };
                let _ = write!(
                    parses,
                    "\n| parse @message /(?<pdc{}>{flags}{})/",
                    literals.len() - 1,
                    delimit(&regex_syntax::escape(literal))
                );
                literals.len() - 1
            }
        };
        format!("pdc{index}")
    };
    let mut flags = Vec::new();
    let mut flag_exprs = Vec::new();
    let mut users = Vec::new();
    let mut clients = Vec::new();
    let mut details = Vec::new();
    for &index in group {
        let pattern = &patterns[index];
        let Ok(code) = u32::try_from(index) else {
            continue;
        };
        // Any one of the pattern's phrases is a necessary condition: the shortest keeps
        // the query short.
        if let Some(literal) = pattern.contains.iter().min_by_key(|l| l.len()) {
            let escaped = regex_syntax::escape(&literal.to_ascii_lowercase());
            if !prefilter.contains(&escaped) {
                prefilter.push(escaped);
            }
        }
        let implied = pattern
            .regex
            .as_ref()
            .filter(|_| !pattern.ignore_case)
            .map(|r| mandatory_literals(r.as_str()))
            .unwrap_or_default();
        let mut terms = Vec::new();
        if let Some(regex) = &pattern.regex {
            let (source, names) = rename_groups(regex.as_str(), index);
            let flags = if pattern.ignore_case { "(?i)" } else { "" };
            let _ = write!(
                parses,
                "\n| parse @message /(?<pdm{index}>{flags}{})/",
                delimit(&source)
            );
            terms.push(format!("ispresent(pdm{index})"));
            for name in names {
                let column = format!("pd{index}_{name}");
                match name.as_str() {
                    field::USER => users.push(column),
                    field::CLIENT_IP => clients.push(column),
                    field::DIGEST => details.push((0, index, column)),
                    field::REASON => details.push((1, index, column)),
                    _ => {}
                }
            }
        }
        for literal in &pattern.contains {
            // A phrase the regex itself requires needs no column of its own.
            if implied.iter().any(|run| run.contains(literal.as_str())) {
                continue;
            }
            let column = literal_field(literal, pattern.ignore_case, &mut parses);
            terms.push(format!("ispresent({column})"));
        }
        for literal in &pattern.not_contains {
            let column = literal_field(literal, pattern.ignore_case, &mut parses);
            terms.push(format!("not ispresent({column})"));
        }
        let name = format!("pdh{index}");
        flag_exprs.push(format!("({}) as {name}", terms.join(" and ")));
        flags.push((name, code));
    }
    // Digest before reason within a pattern, patterns in catalogue order.
    details.sort_by_key(|(rank, index, _)| (*index, *rank));
    let details: Vec<String> = details.into_iter().map(|(_, _, c)| c).collect();
    let mut query = String::from("fields @timestamp, @message");
    let _ = write!(
        query,
        "\n| filter @message like /(?i){}/",
        delimit(&prefilter.join("|"))
    );
    query.push_str("\n| parse @message /\\[proxyEndpoint=(?<pdend>[^\\]\\[]+)\\]/");
    query.push_str(&parses);
    let _ = write!(query, "\n| fields {}", flag_exprs.join(", "));
    let coalesce = |columns: &[String], name: &str| match columns {
        [] => None,
        [one] => Some(format!("{one} as {name}")),
        many => Some(format!("coalesce({}) as {name}", many.join(", "))),
    };
    let derived: Vec<String> = [
        coalesce(&users, "pduser"),
        coalesce(&clients, "pdclient"),
        coalesce(&details, "pddetail"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !derived.is_empty() {
        let _ = write!(query, "\n| fields {}", derived.join(", "));
    }
    let mut by = vec!["bin(1m) as minute".to_string(), "pdend".to_string()];
    for (present, name) in [
        (!users.is_empty(), "pduser"),
        (!clients.is_empty(), "pdclient"),
        (!details.is_empty(), "pddetail"),
    ] {
        if present {
            by.push(name.to_string());
        }
    }
    by.extend(flags.iter().map(|(name, _)| name.clone()));
    let _ = write!(
        query,
        "\n| stats count(*) as n, min(@timestamp) as first, max(@timestamp) as last by {}",
        by.join(", ")
    );
    let _ = write!(query, "\n| limit {MAX_ROWS}");
    Part { query, flags }
}

impl Part {
    /// Folds this query's result rows into `aggregator`; returns the events they count. A row
    /// no pattern of this query claims (it passed the literal prefilter only) is left out.
    pub fn fold(&self, rows: &[Vec<(String, String)>], aggregator: &mut Aggregator<'_>) -> u64 {
        let mut events = 0;
        for row in rows {
            let get = |name: &str| {
                row.iter()
                    .find(|(field, _)| field == name)
                    .map(|(_, value)| value.trim())
                    .filter(|value| !value.is_empty())
            };
            let Some(n) = get("n").and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            let pattern = self
                .flags
                .iter()
                .find(|(name, _)| get(name).is_some_and(is_true))
                .map(|(_, pattern)| *pattern);
            let Some(pattern) = pattern else {
                // Another query's, or nobody's: the caller counts it from the total.
                continue;
            };
            let first = get("first").and_then(parse_insights_time);
            let last = get("last").and_then(parse_insights_time).or(first);
            aggregator.push_counted(&Counted {
                pattern,
                n,
                minute: get("minute").and_then(parse_insights_time),
                first,
                last,
                endpoint: get("pdend"),
                user: get("pduser"),
                client: get("pdclient"),
                detail: get("pddetail"),
            });
            events += n;
        }
        events
    }
}

/// The lines the rows count (those that passed the query's filter).
pub fn rows_total(rows: &[Vec<(String, String)>]) -> u64 {
    rows.iter()
        .filter_map(|row| row.iter().find(|(f, _)| f == "n"))
        .filter_map(|(_, n)| n.trim().parse::<u64>().ok())
        .sum()
}

/// Logs Insights writes booleans as `1`/`0` or `true`/`false`.
fn is_true(value: &str) -> bool {
    matches!(value, "1" | "true" | "TRUE" | "True")
}

/// A Logs Insights time value: `2024-05-19 06:10:35.743` (UTC, no zone) or epoch
/// milliseconds.
pub fn parse_insights_time(value: &str) -> Option<Millis> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok();
    }
    crate::timefmt::timestamp(value)
        .ok()
        .filter(|(rest, _)| rest.trim().is_empty())
        .map(|(_, (ts, _))| ts)
}

/// Renames the named groups of a catalogue regex to `pd<pattern>_<name>` (field names are
/// global in a query) in the `(?<name>…)` syntax; returns the source and the original names.
fn rename_groups(source: &str, pattern: usize) -> (String, Vec<String>) {
    let mut out = String::with_capacity(source.len() + 32);
    let mut names = Vec::new();
    let mut rest = source;
    while let Some(c) = rest.chars().next() {
        if c == '\\' {
            let escaped: String = rest.chars().take(2).collect();
            out.push_str(&escaped);
            rest = &rest[escaped.len()..];
            continue;
        }
        let open = ["(?P<", "(?<"].into_iter().find(|o| rest.starts_with(o));
        if let Some(open) = open {
            let after = &rest[open.len()..];
            // `(?<=` and `(?<!` are look-behinds, not names.
            if let Some(end) = after.find('>').filter(|_| !after.starts_with(['=', '!'])) {
                let name = &after[..end];
                let _ = write!(out, "(?<pd{pattern}_{name}>");
                names.push(name.to_string());
                rest = &after[end + 1..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    (out, names)
}

/// The literal text every match of `source` contains: the runs of literals at the top level
/// of the regex (not inside a group, an alternation or a repetition).
fn mandatory_literals(source: &str) -> Vec<String> {
    use regex_syntax::hir::HirKind;
    let Ok(hir) = regex_syntax::Parser::new().parse(source) else {
        return Vec::new();
    };
    let parts = match hir.kind() {
        HirKind::Concat(parts) => parts.as_slice(),
        _ => std::slice::from_ref(&hir),
    };
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for part in parts {
        match part.kind() {
            HirKind::Literal(literal) => run.extend_from_slice(&literal.0),
            _ => {
                if !run.is_empty() {
                    runs.push(String::from_utf8_lossy(&run).into_owned());
                    run.clear();
                }
            }
        }
    }
    if !run.is_empty() {
        runs.push(String::from_utf8_lossy(&run).into_owned());
    }
    runs
}

/// Escapes the query's regex delimiter.
fn delimit(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut escaped = false;
    for c in source.chars() {
        if c == '/' && !escaped {
            out.push('\\');
        }
        escaped = c == '\\' && !escaped;
        out.push(c);
    }
    out
}

/// Bytes for people: `512 B`, `3.2 KB`, `1.50 MB`, `2.31 GB` (powers of 1000, as billed).
pub fn human_bytes(bytes: f64) -> String {
    let bytes = bytes.max(0.0);
    if bytes < 1e3 {
        format!("{bytes:.0} B")
    } else if bytes < 1e6 {
        format!("{:.1} KB", bytes / 1e3)
    } else if bytes < 1e9 {
        format!("{:.2} MB", bytes / 1e6)
    } else {
        format!("{:.2} GB", bytes / 1e9)
    }
}

/// The query's cost at list price.
pub fn cost_usd(bytes: f64) -> f64 {
    bytes / 1e9 * USD_PER_GB
}

#[cfg(test)]
mod tests;
