//! The generated query is checked by running it: a small executor of exactly the Logs
//! Insights commands the plan writes (`filter … like`, `parse` with a regex, `fields` with
//! `ispresent`/`and`/`not`/`coalesce`, `stats count/min/max by bin(1m), …`), with the
//! service's documented semantics (a `parse` that does not match leaves its fields absent;
//! regexes run on the whole `@message`). Its rows, folded into an aggregator, must give the
//! same counts as local analysis of the same lines.

use std::collections::BTreeMap;

use super::*;
use crate::classify::catalogue;
use crate::model::{EventKind, RawRecord};
use crate::pipeline::{Pipeline, TimeWindow};

type Row = BTreeMap<String, String>;

enum Command {
    Filter(regex::Regex),
    Parse(regex::Regex),
    Fields(Vec<(Expr, String)>),
    Stats(Vec<String>),
}

enum Expr {
    Flag(Vec<(bool, String)>),
    Coalesce(Vec<String>),
    Field(String),
}

/// `/…/` → a regex (the query escapes `/` as `\/`).
fn regex_of(text: &str) -> regex::Regex {
    let inner = text
        .trim()
        .strip_prefix('/')
        .and_then(|t| t.strip_suffix('/'))
        .unwrap();
    regex::Regex::new(&inner.replace("\\/", "/")).unwrap()
}

fn split_top(text: &str) -> Vec<String> {
    let (mut depth, mut out, mut current) = (0, Vec::new(), String::new());
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(current.trim().to_string());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current.trim().to_string());
    out
}

fn compile(query: &str) -> Vec<Command> {
    let mut commands = Vec::new();
    for (i, line) in query.lines().enumerate() {
        let line = line.strip_prefix("| ").unwrap_or(line);
        if i == 0 {
            assert_eq!(line, "fields @timestamp, @message");
        } else if let Some(rest) = line.strip_prefix("filter @message like ") {
            commands.push(Command::Filter(regex_of(rest)));
        } else if let Some(rest) = line.strip_prefix("parse @message ") {
            commands.push(Command::Parse(regex_of(rest)));
        } else if let Some(rest) = line.strip_prefix("fields ") {
            let mut exprs = Vec::new();
            for item in split_top(rest) {
                let (expr, name) = item.rsplit_once(" as ").unwrap();
                let expr = if let Some(inner) = expr.strip_prefix("coalesce(") {
                    let inner = inner.strip_suffix(')').unwrap();
                    Expr::Coalesce(inner.split(", ").map(str::to_string).collect())
                } else if let Some(inner) = expr.strip_prefix('(') {
                    let inner = inner.strip_suffix(')').unwrap();
                    let terms = inner
                        .split(" and ")
                        .map(|term| {
                            let (negated, term) = match term.strip_prefix("not ") {
                                Some(t) => (true, t),
                                None => (false, term),
                            };
                            let name = term
                                .strip_prefix("ispresent(")
                                .and_then(|t| t.strip_suffix(')'))
                                .unwrap();
                            (negated, name.to_string())
                        })
                        .collect();
                    Expr::Flag(terms)
                } else {
                    Expr::Field(expr.to_string())
                };
                exprs.push((expr, name.to_string()));
            }
            commands.push(Command::Fields(exprs));
        } else if let Some(rest) = line.strip_prefix("stats ") {
            assert!(rest.starts_with(
                "count(*) as n, min(@timestamp) as first, max(@timestamp) as last by bin(1m) as minute, "
            ));
            let by = rest.split_once(" by ").unwrap().1;
            commands.push(Command::Stats(
                split_top(by)
                    .into_iter()
                    .filter(|b| b != "bin(1m) as minute")
                    .collect(),
            ));
        } else if line.starts_with("limit ") {
        } else {
            panic!("unexpected query line: {line}");
        }
    }
    commands
}

fn insights_time(ts: Millis) -> String {
    crate::timefmt::rfc3339(ts)
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string()
}

/// Runs the query over (timestamp, message) events; returns the result rows.
fn execute(query: &str, events: &[(Millis, String)]) -> Vec<Vec<(String, String)>> {
    let commands = compile(query);
    let mut groups: BTreeMap<Vec<Option<String>>, (u64, Millis, Millis)> = BTreeMap::new();
    let mut keys = Vec::new();
    'events: for (ts, message) in events {
        let mut row = Row::new();
        for command in &commands {
            match command {
                Command::Filter(regex) => {
                    if !regex.is_match(message) {
                        continue 'events;
                    }
                }
                Command::Parse(regex) => {
                    if let Some(captures) = regex.captures(message) {
                        for name in regex.capture_names().flatten() {
                            if let Some(m) = captures.name(name) {
                                row.insert(name.to_string(), m.as_str().to_string());
                            }
                        }
                    }
                }
                Command::Fields(exprs) => {
                    for (expr, name) in exprs {
                        let value = match expr {
                            Expr::Flag(terms) => Some(
                                if terms
                                    .iter()
                                    .all(|(negated, f)| row.contains_key(f) != *negated)
                                {
                                    "1"
                                } else {
                                    "0"
                                }
                                .to_string(),
                            ),
                            Expr::Coalesce(names) => names.iter().find_map(|n| row.get(n).cloned()),
                            Expr::Field(n) => row.get(n).cloned(),
                        };
                        if let Some(value) = value {
                            row.insert(name.clone(), value);
                        }
                    }
                }
                Command::Stats(by) => {
                    keys.clone_from(by);
                    let minute = ts.div_euclid(60_000) * 60_000;
                    let mut key = vec![Some(insights_time(minute))];
                    key.extend(by.iter().map(|b| row.get(b).cloned()));
                    let entry = groups.entry(key).or_insert((0, *ts, *ts));
                    entry.0 += 1;
                    entry.1 = entry.1.min(*ts);
                    entry.2 = entry.2.max(*ts);
                }
            }
        }
    }
    groups
        .into_iter()
        .map(|(key, (n, first, last))| {
            let mut row = vec![
                ("n".to_string(), n.to_string()),
                ("first".to_string(), insights_time(first)),
                ("last".to_string(), insights_time(last)),
            ];
            let mut names = vec!["minute".to_string()];
            names.extend(keys.iter().cloned());
            for (name, value) in names.into_iter().zip(key) {
                if let Some(value) = value {
                    row.push((name, value));
                }
            }
            row
        })
        .collect()
}

fn classifier() -> Classifier {
    Classifier::new(catalogue::builtin().unwrap()).unwrap()
}

/// The sample lines with a timestamp (CloudWatch gives every event one).
fn sample_events() -> Vec<(Millis, String)> {
    let mut events = Vec::new();
    for dir in ["samples/proxy", "samples/app", "samples/incidents"] {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut files = Vec::new();
        let mut stack = vec![root];
        while let Some(path) = stack.pop() {
            for entry in std::fs::read_dir(&path).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "log") {
                    files.push(path);
                }
            }
        }
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for line in text.lines() {
                if let Some(ts) = crate::parse::parse_line(line).ts {
                    events.push((ts, line.to_string()));
                }
            }
        }
    }
    // The client wordings exercise most patterns, across the split queries: one a second.
    let corpus =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/app/client-wordings.tsv");
    let corpus = std::fs::read_to_string(corpus).unwrap();
    let texts = corpus
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.splitn(3, '\t').nth(2));
    for (i, text) in texts.enumerate() {
        events.push((1_764_036_000_000 + i as Millis * 1000, text.to_string()));
    }
    events
}

#[test]
fn the_queries_are_within_the_service_limits() {
    let classifier = classifier();
    let plan = Plan::new(&classifier).unwrap();
    // The catalogue outgrew one query: it is split, and no more than it needs.
    assert!(plan.parts.len() >= 2, "{} queries", plan.parts.len());
    let mut covered = Vec::new();
    for (i, part) in plan.parts.iter().enumerate() {
        let chars = part.query.chars().count();
        assert!(chars <= MAX_QUERY_CHARS, "query {i}: {chars} characters");
        assert!(!part.query.contains("(?P<"), "Rust-only group syntax");
        assert!(part.query.ends_with("| limit 10000"));
        // Every pattern of the query has its flag in the `by` list.
        let by = part.query.lines().find(|l| l.contains("| stats ")).unwrap();
        for (name, pattern) in &part.flags {
            assert!(by.contains(name.as_str()), "{name} not grouped");
            covered.push(*pattern);
        }
        // Greedy: the next query's first pattern would not have fitted in this one.
        if let Some(next) = plan.parts.get(i + 1) {
            let mut group: Vec<usize> = part.flags.iter().map(|(_, p)| *p as usize).collect();
            group.push(next.flags[0].1 as usize);
            assert!(build_part(&classifier, &group).query.chars().count() > MAX_QUERY_CHARS);
        }
    }
    // Every pattern once, in catalogue order.
    let expected: Vec<u32> = (0..classifier.patterns().len() as u32).collect();
    assert_eq!(covered, expected);
    assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
    assert!(plan.text().contains("# query 2 of"));
}

#[test]
fn groups_are_renamed_and_delimiters_escaped() {
    let (source, names) = rename_groups(r#"a (?P<user>[^"]+) (?<x>\(?P<no>)) (?<=y)"#, 7);
    assert_eq!(source, r#"a (?<pd7_user>[^"]+) (?<pd7_x>\(?P<no>)) (?<=y)"#);
    assert_eq!(names, ["user", "x"]);
    assert_eq!(delimit(r"a/b\/c"), r"a\/b\/c");
}

#[test]
fn insights_times_are_read() {
    assert_eq!(
        parse_insights_time("2024-05-19 06:10:35.743"),
        Some(1_716_099_035_743)
    );
    assert_eq!(
        parse_insights_time("1716099035743"),
        Some(1_716_099_035_743)
    );
    assert_eq!(parse_insights_time("soon"), None);
}

#[test]
fn the_query_counts_what_local_analysis_counts() {
    let classifier = classifier();
    let plan = Plan::new(&classifier).unwrap();
    let events = sample_events();
    assert!(events.len() > 100, "{} sample events", events.len());

    let mut local = Pipeline::new(&classifier, TimeWindow::default());
    for (ts, message) in &events {
        local.push(RawRecord {
            text: message,
            ts: Some(*ts),
            input: 0,
            stream: None,
        });
    }
    let local = local.finish().unwrap();

    let rows: Vec<_> = plan
        .parts
        .iter()
        .map(|p| execute(&p.query, &events))
        .collect();
    let mut aggregator = Aggregator::new(&classifier);
    let counted = plan.fold(&rows, &mut aggregator);
    // Lines no query claimed are known only as a total.
    aggregator.count_unmatched(events.len() as u64 - counted);
    let remote = aggregator.finish().unwrap();

    assert_eq!(counted, local.lines.events);
    assert_eq!(remote.lines.lines, local.lines.lines);
    // Unclassified lines are only a total on the Insights side (no times).
    let mut kinds = local.kinds.clone();
    let unclassified = kinds
        .remove(&EventKind::Unclassified)
        .map_or(0, |k| k.events);
    assert_eq!(remote.kinds, kinds);
    assert_eq!(remote.lines.unparsed, unclassified);
    assert!(unclassified > 0);
    assert_eq!(remote.users, local.users);
    // Which client a failure belongs to comes from joining lines on their connection id, a
    // session join the rows cannot give: compare the event counts only.
    let events = |dims: &[crate::aggregate::DimCount]| {
        let mut v: Vec<(String, u64)> = dims.iter().map(|d| (d.value.clone(), d.events)).collect();
        v.sort();
        v
    };
    assert_eq!(events(&remote.clients), events(&local.clients));
    assert_eq!(remote.endpoints, local.endpoints);
    assert_eq!(remote.details, local.details);
    let mut timeline = local.timeline.clone();
    for bucket in &mut timeline {
        bucket.counts.take(EventKind::Unclassified);
    }
    timeline.retain(|b| !b.counts.is_empty());
    assert_eq!(remote.timeline, timeline);
    let strip = |causes: &[crate::aggregate::CauseStats]| {
        causes
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.evidence.clear();
                // Clients of a cause come from session joins, as above.
                c.clients.clear();
                c
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&remote.causes), strip(&local.causes));
    assert!(local.count(EventKind::AuthFailed) > 0);
}

#[test]
fn a_row_no_flag_claims_is_left_to_the_total() {
    let classifier = classifier();
    let plan = Plan::new(&classifier).unwrap();
    let mut aggregator = Aggregator::new(&classifier);
    let rows = vec![vec![
        ("n".to_string(), "4".to_string()),
        ("pdh0".to_string(), "0".to_string()),
    ]];
    // Its lines may be another query's: not counted here, but by the caller from the total.
    assert_eq!(plan.parts[0].fold(&rows, &mut aggregator), 0);
    aggregator.count_unmatched(4);
    let summary = aggregator.finish().unwrap();
    assert_eq!(summary.lines.unparsed, 4);
    assert_eq!(summary.lines.lines, 4);
}
