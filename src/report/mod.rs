//! The report: the `proxydoc.report/v1` document and its three renderings.
//!
//! [`Report`] is built from the aggregated [`Summary`] and the rules' findings; it is what the
//! JSON output serialises, field for field, and what the table and Markdown renderers read.
//! Renderers write only to the writer they are given. Timestamps are RFC 3339 UTC.

pub mod markdown;
pub mod redact;
pub mod table;

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::aggregate::{DetailCount, DimCount, Sessions, Summary};
use crate::model::{EventKind, Finding, InputError, InputStats, Millis, Severity};
use crate::timefmt::rfc3339;

pub const SCHEMA: &str = "proxydoc.report/v1";

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub generated_at: String,
    pub window: Window,
    pub input: InputSection,
    pub counts: BTreeMap<EventKind, u64>,
    pub findings: Vec<FindingOut>,
    pub timeline: Vec<MinuteOut>,
    pub sessions: Sessions,
    pub top: Top,
    pub unparsed: Unparsed,
    pub context: ContextOut,
    /// The control-plane checks (`check`, `diagnose`); absent for log analysis alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<crate::model::CheckResult>>,
    /// What `analyze --engine insights` ran and scanned; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insights: Option<InsightsOut>,
}

/// The Logs Insights side of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InsightsOut {
    pub queries: u32,
    /// Time ranges run again in halves because a result reached 10,000 rows.
    pub splits: u32,
    pub bytes_scanned: f64,
    pub records_scanned: f64,
    pub records_matched: f64,
    /// `bytes_scanned` at `usd_per_gb` (list price; check your Region's).
    pub cost_usd: f64,
    pub usd_per_gb: f64,
    /// The scan expected before running, from the groups' stored bytes.
    pub expected_bytes: f64,
    /// Lines fetched with FilterLogEvents for the evidence of the top findings.
    pub sampled_lines: u64,
    /// What the counts do not include (session joins, per-client failure attribution).
    pub not_computed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    pub start: Option<String>,
    pub end: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSection {
    pub files: Vec<String>,
    pub lines: u64,
    pub events: u64,
    pub unparsed: u64,
    pub filtered: u64,
    pub untimed: u64,
    pub invalid_utf8: u64,
    pub truncated_lines: u64,
    pub malformed: u64,
    pub errors: Vec<InputError>,
    /// `path: warning` for every input warning (e.g. Live Tail sampled events away).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub details: Vec<InputStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingOut {
    pub cause: String,
    pub title: String,
    pub severity: Severity,
    pub confidence: f64,
    pub why: String,
    pub events: u64,
    pub failed_connections: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub users: Vec<String>,
    pub clients: Vec<String>,
    pub endpoints: Vec<String>,
    pub evidence: Vec<String>,
    pub remediation: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinuteOut {
    pub minute: String,
    pub events: u64,
    pub failures: u64,
    pub counts: BTreeMap<EventKind, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Top {
    pub users: Vec<DimCount>,
    pub clients: Vec<DimCount>,
    pub endpoints: Vec<DimCount>,
    pub details: Vec<DetailCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unparsed {
    pub samples: Vec<String>,
    pub shapes: Vec<ShapeOut>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShapeOut {
    pub shape: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContextOut {
    pub regions: Vec<String>,
    pub accounts: Vec<String>,
    pub proxy_hosts: Vec<String>,
    pub engines: Vec<String>,
    pub role_arns: Vec<String>,
    pub secret_arns: Vec<String>,
    pub db_addresses: Vec<String>,
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
            errors: build.errors.to_vec(),
            warnings: build
                .inputs
                .iter()
                .flat_map(|i| i.warnings.iter().map(move |w| format!("{}: {w}", i.path)))
                .collect(),
            details: build.inputs.to_vec(),
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
            users: summary.users.iter().take(TOP).cloned().collect(),
            clients: summary.clients.iter().take(TOP).cloned().collect(),
            endpoints: summary.endpoints.iter().take(TOP).cloned().collect(),
            details: summary
                .details
                .iter()
                .take(TOP)
                .map(|d| DetailCount {
                    detail: redact(&d.detail),
                    ..d.clone()
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
            sessions: summary.sessions,
            top,
            unparsed,
            context,
            checks: None,
            insights: None,
        }
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
