//! The report: the `proxydoc.report/v1` document and its three renderings.
//!
//! [`Report`] is built from the aggregated [`Summary`] and the rules' findings; it is what the
//! JSON output serialises, field for field, and what the table and Markdown renderers read.
//! Renderers write only to the writer they are given. Timestamps are RFC 3339 UTC.

pub mod markdown;
pub mod redact;
pub mod table;

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
        let timeline = summary
            .timeline
            .iter()
            .map(|b| MinuteOut {
                minute: rfc3339(b.minute),
                events: b.counts.values().sum(),
                failures: b.failures,
                counts: b.counts.clone(),
            })
            .collect();
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
    let span = (last - first) / 60_000 + 1;
    let width = i64::try_from(width.max(1)).unwrap_or(60);
    let per = ((span + width - 1) / width).max(1);
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

/// A rate rounded to two decimals for the JSON report.
fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_levels() {
        assert_eq!(sparkline(&[0, 1, 7, 14]), "·▁▄█");
        assert_eq!(sparkline(&[5, 5]), "██");
        assert_eq!(sparkline(&[]), "");
    }
}
