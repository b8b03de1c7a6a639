//! The report: the `proxydoc.report/v1` document and its three renderings.
//!
//! [`Report`] is built from the aggregated [`Summary`] and the rules' findings; it is what the
//! JSON output serialises, field for field, and what the table and Markdown renderers read.
//! Renderers write only to the writer they are given. Timestamps are RFC 3339 UTC.

pub mod html;
pub mod markdown;
pub use crate::redact;
pub mod table;

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::aggregate::{DimCount, Summary};
use crate::model::{
    CheckResult, CheckStatus, EventKind, Finding, InputError, InputStats, Millis, Severity,
};
use crate::timefmt::rfc3339;

mod v1;

pub use v1::*;

pub const SCHEMA: &str = "proxydoc.report/v1";

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Markdown,
    Html,
}

/// What the report is built from besides the summary.
pub struct BuildInput<'a> {
    pub now: Millis,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub show_sql: bool,
    pub inputs: &'a [InputStats],
    pub errors: &'a [InputError],
}

/// Rows of the top-N tables kept in the report.
const TOP: usize = 10;

impl Report {
    /// Whether any log was read or asked for: a `check` report has control-plane checks only,
    /// and says nothing about log input it never had.
    pub fn has_log_input(&self) -> bool {
        self.checks.is_none()
            || !self.input.files.is_empty()
            || self.input.lines > 0
            || !self.input.errors.is_empty()
    }

    pub fn build(summary: &Summary, findings: &[Finding], build: &BuildInput<'_>) -> Report {
        let redact = |text: &str| redact::redact(text, build.show_sql);
        let ts = |t: Option<Millis>| t.map(rfc3339);
        let window = Window {
            start: ts(build.since.or(summary.window.map(|w| w.0))),
            end: ts(build.until.or(summary.window.map(|w| w.1))),
        };
        let sum = |f: fn(&InputStats) -> u64| build.inputs.iter().map(f).sum();
        let input = InputSection {
            files: build.inputs.iter().map(|i| i.path.clone()).collect(),
            lines: summary.lines.lines,
            events: summary.lines.events,
            unparsed: summary.lines.unparsed,
            filtered: summary.lines.filtered,
            untimed: summary.lines.untimed,
            invalid_utf8: sum(|i| i.invalid_utf8),
            truncated_lines: sum(|i| i.truncated_lines),
            malformed: sum(|i| i.malformed),
            errors: build
                .errors
                .iter()
                .map(|e| InputErrorOut {
                    path: e.path.clone(),
                    error: e.error.clone(),
                })
                .collect(),
            warnings: build
                .inputs
                .iter()
                .flat_map(|i| i.warnings.iter().map(move |w| format!("{}: {w}", i.path)))
                .collect(),
            details: build.inputs.iter().map(input_out).collect(),
            repeats: summary
                .repeats
                .iter()
                .filter_map(|r| {
                    let name = |i: u32| build.inputs.get(i as usize).map(|s| s.path.clone());
                    Some(RepeatOut {
                        input: name(r.input)?,
                        earlier: name(r.earlier)?,
                        events: r.events,
                        exact: r.exact,
                        first: rfc3339(r.first),
                        last: rfc3339(r.last),
                        others: r.others,
                    })
                })
                .collect(),
        };
        let counts = EventKind::ALL
            .iter()
            .map(|&k| (k, summary.count(k)))
            .collect();
        let findings = findings
            .iter()
            .map(|f| FindingOut {
                cause: f.cause.clone(),
                title: f.title.clone(),
                severity: f.severity,
                confidence: f.confidence,
                why: f.why.clone(),
                events: f.events,
                failed_connections: f.failed_connections,
                first_seen: ts(f.first_seen),
                last_seen: ts(f.last_seen),
                users: f.users.clone(),
                clients: f.clients.clone(),
                endpoints: f.endpoints.clone(),
                evidence: f.evidence.iter().map(|e| redact(&e.text)).collect(),
                remediation: f.remediation.clone(),
                onset: f.onset.as_ref().map(|o| OnsetOut {
                    at: rfc3339(o.at),
                    summary: o.summary.clone(),
                    changes: o
                        .changes
                        .iter()
                        .map(|c| RateChangeOut {
                            kind: c.kind,
                            before_per_minute: c.before_per_minute.map(round2),
                            after_per_minute: round2(c.after_per_minute),
                        })
                        .collect(),
                }),
                alternatives: f
                    .alternatives
                    .iter()
                    .map(|a| AlternativeOut {
                        cause: a.cause.clone(),
                        why: a.why.clone(),
                        check: a.check.clone(),
                    })
                    .collect(),
            })
            .collect();
        let timeline_resolution_minutes = summary.timeline_minutes.max(1);
        let (timeline_bucket_minutes, timeline) =
            bucketed(&summary.timeline, timeline_resolution_minutes);
        let top = Top {
            users: top_rows(&summary.users),
            clients: top_rows(&summary.clients),
            endpoints: top_rows(&summary.endpoints),
            details: summary
                .details
                .iter()
                .take(TOP)
                .map(|d| DetailOut {
                    kind: d.kind,
                    detail: redact(&d.detail),
                    events: d.events,
                })
                .collect(),
        };
        let unparsed = Unparsed {
            samples: summary.unparsed_samples.iter().map(|s| redact(s)).collect(),
            shapes: summary
                .unparsed_shapes
                .iter()
                .map(|(shape, count)| ShapeOut {
                    shape: redact(shape),
                    count: *count,
                })
                .collect(),
        };
        let c = &summary.context;
        let list = |set: &std::collections::BTreeSet<String>| set.iter().cloned().collect();
        let context = ContextOut {
            regions: list(&c.regions),
            accounts: list(&c.accounts),
            proxy_hosts: list(&c.proxy_hosts),
            engines: list(&c.engines),
            role_arns: list(&c.role_arns),
            secret_arns: list(&c.secret_arns),
            db_addresses: list(&c.db_addresses),
        };
        Report {
            schema: SCHEMA,
            generated_at: rfc3339(build.now),
            window,
            input,
            counts,
            findings,
            timeline,
            timeline_bucket_minutes,
            timeline_resolution_minutes: u32::try_from(timeline_resolution_minutes)
                .unwrap_or(u32::MAX),
            sessions: sessions_out(&summary.sessions),
            top,
            unparsed,
            context,
            checks: None,
            insights: None,
        }
    }

    /// The control-plane checks, as the report lists them.
    pub fn set_checks(&mut self, checks: &[CheckResult]) {
        self.checks = Some(checks.iter().map(check_out).collect());
    }

    /// The most severe finding, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether a finding is at or above `--fail-on` (never without one).
    pub fn trips(&self, fail_on: Option<Severity>) -> bool {
        matches!((fail_on, self.worst()), (Some(threshold), Some(worst)) if worst >= threshold)
    }
}

fn top_rows(rows: &[DimCount]) -> Vec<DimOut> {
    rows.iter()
        .take(TOP)
        .map(|d| DimOut {
            value: d.value.clone(),
            events: d.events,
            failures: d.failures,
        })
        .collect()
}

fn sessions_out(s: &crate::aggregate::Sessions) -> SessionsOut {
    SessionsOut {
        sessions: s.sessions,
        connected: s.with.connected,
        authenticated: s.with.authenticated,
        auth_failed: s.with.auth_failed,
        failed: s.with.failed,
        pinned: s.with.pinned,
        closed: s.with.closed,
        closed_without_auth: s.closed_without_auth,
        db_opened_while_clients_arrived: s.db_opened_while_clients_arrived,
        folded_early: s.folded_early,
        most_open: s.most_open,
        most_open_minutes: u32::try_from(s.most_open_minutes.max(1)).unwrap_or(u32::MAX),
    }
}

fn input_out(i: &InputStats) -> InputOut {
    InputOut {
        path: i.path.clone(),
        format: i.format.map(|f| f.as_str().to_string()),
        gzip: i.gzip,
        records: i.records,
        bytes: i.bytes,
        invalid_utf8: i.invalid_utf8,
        truncated_lines: i.truncated_lines,
        malformed: i.malformed,
        pages: i.pages,
        throttles: i.throttles,
        error: i.error.clone(),
        warnings: i.warnings.clone(),
    }
}

fn check_out(c: &CheckResult) -> CheckOut {
    CheckOut {
        check: c.check.clone(),
        status: match c.status {
            CheckStatus::Pass => CheckStatusOut::Pass,
            CheckStatus::Fail => CheckStatusOut::Fail,
            CheckStatus::Warn => CheckStatusOut::Warn,
            CheckStatus::Skipped => CheckStatusOut::Skipped,
        },
        detail: c.detail.clone(),
    }
}

/// Renders `report` in `format` to `out`.
pub fn render(report: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
            writeln!(out)
        }
        Format::Table => table::render(report, out),
        Format::Markdown => markdown::render(report, out),
        Format::Html => html::render(report, out),
    }
}

/// A one-line text for a count of events per minute: `▁▂▅█` blocks, `·` for none.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if v == 0 || max == 0 {
                '·'
            } else {
                let level = ((v * 8).div_ceil(max) - 1) as usize;
                BARS[level.min(7)]
            }
        })
        .collect()
}

/// What the report says when the timeline was counted in buckets wider than a minute (the
/// input's lines fall in more minutes than a table keyed by minute keeps): `None` otherwise.
pub fn resolution_note(report: &Report) -> Option<String> {
    let width = report.timeline_resolution_minutes;
    (width > 1).then(|| {
        format!(
            "the lines fall in more than 300,000 distinct minutes, so the timeline was counted in {width}-minute buckets: onsets and the rates around them are to {width} minutes"
        )
    })
}

/// The most buckets the report's timeline has: a day of minutes.
pub const MAX_BUCKETS: i64 = 1440;

/// Bucket widths in minutes, the narrowest that gives at most [`MAX_BUCKETS`] (and is whole
/// buckets of the timeline's own) is used.
const BUCKET_MINUTES: [i64; 12] = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];

/// The summary's per-minute timeline as the report gives it: per minute over a day or less,
/// in wider buckets (aligned to UTC: 10-minute buckets start at :00, :10, …; day buckets at
/// midnight) over longer spans, so that the report of a month of logs is as long as a day's.
/// `resolution` is the timeline's own bucket (minutes): the width is a multiple of it.
/// Returns the bucket width in minutes and the buckets that have events.
fn bucketed(minutes: &[crate::aggregate::Bucket], resolution: i64) -> (u32, Vec<MinuteOut>) {
    const MINUTE: i64 = 60_000;
    let resolution = resolution.max(1);
    let (Some(first), Some(last)) = (minutes.first(), minutes.last()) else {
        return (u32::try_from(resolution).unwrap_or(u32::MAX), Vec::new());
    };
    let fits = |width: i64| {
        let size = width * MINUTE;
        width % resolution == 0
            && (last.minute.div_euclid(size) - first.minute.div_euclid(size)) < MAX_BUCKETS
    };
    let span = (last.minute - first.minute) / MINUTE + 1;
    let width = BUCKET_MINUTES
        .into_iter()
        .find(|w| fits(*w))
        .unwrap_or_else(|| {
            round_up(
                round_up((span + MAX_BUCKETS - 2) / (MAX_BUCKETS - 1), 1440),
                resolution,
            )
        });
    let size = width * MINUTE;
    // Summed in u64: a day's bucket can hold more than a minute's u32 counts.
    let mut out: Vec<MinuteOut> = Vec::new();
    let mut current = None;
    for bucket in minutes {
        let start = bucket.minute.div_euclid(size) * size;
        if current != Some(start) {
            current = Some(start);
            out.push(MinuteOut {
                minute: rfc3339(start),
                events: 0,
                failures: 0,
                counts: BTreeMap::new(),
            });
        }
        if let Some(into) = out.last_mut() {
            for (kind, n) in bucket.counts.iter() {
                *into.counts.entry(kind).or_default() += n;
                into.events += n;
            }
            into.failures += bucket.failures;
        }
    }
    (u32::try_from(width).unwrap_or(u32::MAX), out)
}

/// Buckets the timeline into at most `width` columns; returns (bucket minutes, start, totals,
/// failures).
pub fn timeline_columns(
    report: &Report,
    width: usize,
) -> Option<(i64, Millis, Vec<u64>, Vec<u64>)> {
    let minutes: Vec<(Millis, u64, u64)> = report
        .timeline
        .iter()
        .filter_map(|m| {
            let ts = crate::timefmt::timestamp(&m.minute).ok()?.1.0;
            Some((ts, m.events, m.failures))
        })
        .collect();
    let first = minutes.first()?.0;
    let last = minutes.last()?.0;
    let bucket = i64::from(report.timeline_bucket_minutes.max(1));
    let span = (last - first) / 60_000 + bucket;
    let width = i64::try_from(width.max(1)).unwrap_or(60);
    // A column is a whole number of the report's buckets.
    let per = round_up(((span + width - 1) / width).max(1), bucket);
    let columns = usize::try_from((span + per - 1) / per).unwrap_or(1);
    let mut totals = vec![0; columns];
    let mut failures = vec![0; columns];
    for (ts, events, failed) in minutes {
        let index = usize::try_from((ts - first) / 60_000 / per)
            .unwrap_or(0)
            .min(columns - 1);
        totals[index] += events;
        failures[index] += failed;
    }
    Some((per, first, totals, failures))
}

/// `value` rounded up to a multiple of `step` (both positive).
fn round_up(value: i64, step: i64) -> i64 {
    (value + step - 1) / step * step
}

/// A rate rounded to two decimals for the JSON report.
fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::aggregate::{Bucket, KindCounts};

    fn minutes(range: std::ops::Range<i64>, step: usize) -> Vec<Bucket> {
        range
            .step_by(step)
            .map(|m| Bucket {
                minute: m * 60_000,
                counts: [(EventKind::ClientConnected, 2), (EventKind::AuthFailed, 1)]
                    .into_iter()
                    .collect::<KindCounts>(),
                failures: 1,
            })
            .collect()
    }

    /// A timeline counted in buckets wider than a minute: the report's buckets are whole
    /// ones of them, and every format says how wide they were.
    #[test]
    fn every_format_says_when_the_timeline_was_counted_in_wider_buckets() {
        let summary = Summary {
            window: Some((0, 4 * 1440 * 60_000)),
            // Four days, an hour apart: a per-minute timeline's report would take 5-minute
            // buckets, which are not whole half-hours.
            timeline: minutes(0..4 * 1440, 60),
            timeline_minutes: 30,
            ..Summary::default()
        };
        let build = BuildInput {
            now: 0,
            since: None,
            until: None,
            show_sql: false,
            inputs: &[],
            errors: &[],
        };
        let report = Report::build(&summary, &[], &build);
        assert_eq!(report.timeline_resolution_minutes, 30);
        assert_eq!(report.timeline_bucket_minutes, 30);
        assert_eq!(report.timeline.len(), 96);
        let note = "counted in 30-minute buckets";
        for format in [Format::Table, Format::Markdown, Format::Html] {
            let mut out = Vec::new();
            render(&report, format, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(note), "{format:?}:\n{text}");
        }
        let per_minute = Report::build(
            &Summary {
                timeline_minutes: 1,
                ..summary
            },
            &[],
            &build,
        );
        assert_eq!(per_minute.timeline_bucket_minutes, 5);
        let mut out = Vec::new();
        render(&per_minute, Format::Table, &mut out).unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("buckets:"));
    }

    #[test]
    fn a_day_stays_per_minute() {
        // 1,440 minutes from 10:00: one bucket each.
        let day = minutes(600..600 + 1440, 1);
        let (width, out) = bucketed(&day, 1);
        assert_eq!((width, out.len()), (1, 1440));
        assert_eq!(out[0].minute, "1970-01-01T10:00:00.000Z");
        assert_eq!((out[0].events, out[0].failures), (3, 1));
        assert_eq!(bucketed(&[], 1), (1, Vec::new()));
    }

    #[test]
    fn long_spans_come_in_aligned_buckets_with_every_event() {
        // Five and a half days of minutes, every third one with events, from 00:07.
        let days = minutes(7..7 + 7920, 3);
        let (width, out) = bucketed(&days, 1);
        assert_eq!(width, 10);
        assert!(out.len() <= MAX_BUCKETS as usize);
        assert_eq!(out[0].minute, "1970-01-01T00:00:00.000Z", "aligned to :00");
        assert_eq!(out[1].minute, "1970-01-01T00:10:00.000Z");
        let events: u64 = out.iter().map(|b| b.events).sum();
        let failures: u64 = out.iter().map(|b| b.failures).sum();
        assert_eq!((events, failures), (3 * 2640, 2640));
        assert_eq!(
            out.iter()
                .map(|b| b.counts[&EventKind::AuthFailed])
                .sum::<u64>(),
            2640
        );
        // Three months with a gap: two-hour buckets, only those with events.
        let mut months = minutes(0..8000, 1);
        months.extend(minutes(120_000..128_000, 1));
        let (width, out) = bucketed(&months, 1);
        assert_eq!(width, 120);
        assert_eq!(out.len(), 2 * 8000usize.div_ceil(120));
        // Years: day buckets or wider, never more than the cap.
        let years = minutes(0..3_000_000, 997);
        let (width, out) = bucketed(&years, 1);
        assert!(width >= 2880 && width % 1440 == 0, "{width}");
        assert!(out.len() <= MAX_BUCKETS as usize);
    }

    #[test]
    fn wide_buckets_add_past_a_minutes_counts() {
        let full = |minute: i64| Bucket {
            minute: minute * 60_000,
            counts: [(EventKind::AuthFailed, u64::from(u32::MAX))]
                .into_iter()
                .collect::<KindCounts>(),
            failures: u64::from(u32::MAX),
        };
        let (width, out) = bucketed(&[full(0), full(1), full(3000)], 1);
        assert_eq!(width, 5);
        assert_eq!(
            out[0].counts[&EventKind::AuthFailed],
            2 * u64::from(u32::MAX)
        );
        assert_eq!(
            (out[0].events, out[0].failures),
            (2 * u64::from(u32::MAX), 2 * u64::from(u32::MAX))
        );
    }

    #[test]
    fn sparkline_levels() {
        assert_eq!(sparkline(&[0, 1, 7, 14]), "·▁▄█");
        assert_eq!(sparkline(&[5, 5]), "██");
        assert_eq!(sparkline(&[]), "");
    }
}
