//! The `proxydoc.report/v1` JSON document, as its own types: every field here is a contract
//! that users' scripts read (add fields freely, rename none). They are filled from the internal
//! types in [`super::Report::build`], so renaming an internal field cannot change the JSON; the
//! snapshot test at the bottom lists every field path and fails on any change.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{EventKind, Severity};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub generated_at: String,
    pub window: Window,
    pub input: InputSection,
    pub counts: BTreeMap<EventKind, u64>,
    pub findings: Vec<FindingOut>,
    /// Per minute over a day or less; over longer spans each entry of `timeline` is a bucket
    /// of this many minutes starting at its `minute` (at most 1,440 buckets).
    pub timeline_bucket_minutes: u32,
    /// The narrowest bucket the timeline was counted in: 1 (per minute), or wider when the
    /// input's lines fall in more than 300,000 distinct minutes (208 days of them): a table
    /// keyed by minute keeps at most that many, so the run's memory does not grow with the
    /// span. Onsets, the rates around them and `timeline` are then to this many minutes.
    pub timeline_resolution_minutes: u32,
    pub timeline: Vec<MinuteOut>,
    pub sessions: SessionsOut,
    pub top: Top,
    pub unparsed: Unparsed,
    pub context: ContextOut,
    /// The control-plane checks (`check`, `diagnose`); absent for log analysis alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<CheckOut>>,
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
    pub errors: Vec<InputErrorOut>,
    /// `path: warning` for every input warning (e.g. Live Tail sampled events away).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub details: Vec<InputOut>,
    /// Inputs that hold events an earlier input holds too: counted twice.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<RepeatOut>,
}

/// An input holding events an earlier one holds too (the same times and messages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepeatOut {
    pub input: String,
    pub earlier: String,
    /// The events the two share: exact when `exact`, else estimated from a sample.
    pub events: u64,
    pub exact: bool,
    /// The time range of the shared events (RFC 3339).
    pub first: String,
    pub last: String,
    /// Other earlier inputs that share events with `input` too (fewer).
    pub others: u32,
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
    /// When the incident behind the finding began and the rates that changed then; null
    /// when the input has no onset for it (too few timed failures).
    pub onset: Option<OnsetOut>,
    /// Other causes the same evidence fits as well, each with what tells them apart.
    pub alternatives: Vec<AlternativeOut>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnsetOut {
    /// The first minute of the incident (RFC 3339).
    pub at: String,
    /// "started 02:12 UTC; database connections opened: 6/min before, 0 after".
    pub summary: String,
    pub changes: Vec<RateChangeOut>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateChangeOut {
    pub kind: EventKind,
    /// Null when the input starts at the onset.
    pub before_per_minute: Option<f64>,
    pub after_per_minute: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlternativeOut {
    pub cause: String,
    pub why: String,
    /// The check, metric or log that separates the two.
    pub check: String,
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
    pub users: Vec<DimOut>,
    pub clients: Vec<DimOut>,
    pub endpoints: Vec<DimOut>,
    pub details: Vec<DetailOut>,
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

/// Sessions joined on `clientConnection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SessionsOut {
    pub sessions: u64,
    pub connected: u64,
    pub authenticated: u64,
    pub auth_failed: u64,
    pub failed: u64,
    pub pinned: u64,
    pub closed: u64,
    pub closed_without_auth: u64,
    /// Whether a database connection was opened between the first and the last client
    /// connection (`null` when either is absent).
    pub db_opened_while_clients_arrived: Option<bool>,
    /// Connections folded into the totals before the end because too many were open at once;
    /// absent when none were.
    #[serde(skip_serializing_if = "is_zero")]
    pub folded_early: u64,
    /// The most sessions open at once within the 15-minute horizon (what the session table
    /// held at its largest; past 262,144 the oldest fold early).
    pub most_open: u64,
    /// `most_open` is the most in one span of this many minutes: 1, or wider when the
    /// sessions' first and last lines fall in more than 300,000 distinct minutes.
    pub most_open_minutes: u32,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One row of a top-N table (users, clients, endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DimOut {
    pub value: String,
    pub events: u64,
    pub failures: u64,
}

/// A (kind, reason-or-digest) pair with its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetailOut {
    pub kind: EventKind,
    pub detail: String,
    pub events: u64,
}

/// An input that could not be read (or only partly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputErrorOut {
    pub path: String,
    pub error: String,
}

/// What reading one input produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputOut {
    pub path: String,
    /// `text`, `json`, `ndjson`, `insights-csv`, `cloudwatch`, ...; `null` when nothing was read.
    pub format: Option<String>,
    pub gzip: bool,
    pub records: u64,
    pub bytes: u64,
    pub invalid_utf8: u64,
    pub truncated_lines: u64,
    pub malformed: u64,
    pub pages: u64,
    pub throttles: u64,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One control-plane check and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckOut {
    pub check: String,
    pub status: CheckStatusOut,
    pub detail: String,
}

/// `pass`, `fail`, `warn` or `skipped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatusOut {
    Pass,
    Fail,
    Warn,
    Skipped,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use crate::aggregate::{Bucket, DetailCount, DimCount, Summary};
    use crate::model::{
        CheckResult, CheckStatus, EventKind, Evidence, Finding, InputError, InputStats, Severity,
    };
    use crate::report::{BuildInput, InsightsOut, Report};

    /// Every field path of a JSON value: objects by key, arrays as `[]`.
    fn paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    out.insert(path.clone());
                    paths(child, &path, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    paths(item, &format!("{prefix}[]"), out);
                }
            }
            _ => {}
        }
    }

    /// A report with every optional part present.
    fn full_report() -> Report {
        let mut summary = Summary {
            window: Some((0, 60_000)),
            ..Summary::default()
        };
        summary.timeline.push(Bucket {
            minute: 0,
            counts: [(EventKind::AuthFailed, 2)].into_iter().collect(),
            failures: 2,
        });
        let dim = DimCount {
            value: "v".into(),
            events: 1,
            failures: 1,
        };
        summary.users.push(dim.clone());
        summary.clients.push(dim.clone());
        summary.endpoints.push(dim);
        summary.details.push(DetailCount {
            kind: EventKind::AuthFailed,
            detail: "d".into(),
            events: 1,
        });
        summary.unparsed_samples.push("x".into());
        summary.unparsed_shapes.push(("x".into(), 1));
        summary.sessions.folded_early = 1;
        summary.sessions.db_opened_while_clients_arrived = Some(true);
        let finding = Finding {
            cause: "c".into(),
            title: "t".into(),
            severity: Severity::Critical,
            confidence: 1.0,
            why: "w".into(),
            events: 1,
            failed_connections: 1,
            first_seen: Some(0),
            last_seen: Some(0),
            users: vec!["u".into()],
            clients: vec!["c".into()],
            endpoints: vec!["e".into()],
            evidence: vec![Evidence::new(Some(0), "line".into())],
            remediation: vec!["r".into()],
            onset: Some(crate::model::FindingOnset {
                at: 0,
                summary: "started 00:00 UTC".into(),
                changes: vec![crate::model::RateChange {
                    kind: EventKind::AuthFailed,
                    before_per_minute: Some(0.0),
                    after_per_minute: 2.0,
                }],
            }),
            alternatives: vec![crate::model::Alternative {
                cause: "a".into(),
                why: "w".into(),
                check: "c".into(),
            }],
        };
        let inputs = [InputStats {
            path: "p".into(),
            format: Some(crate::model::Layout::Text),
            error: Some("e".into()),
            warnings: vec!["w".into()],
            ..InputStats::default()
        }];
        let errors = [InputError {
            path: "p".into(),
            error: "e".into(),
        }];
        let build = BuildInput {
            now: 0,
            since: None,
            until: None,
            show_sql: false,
            inputs: &inputs,
            errors: &errors,
        };
        let mut report = Report::build(&summary, &[finding], &build);
        report.set_checks(&[CheckResult {
            check: "c".into(),
            status: CheckStatus::Skipped,
            detail: "d".into(),
        }]);
        report.insights = Some(InsightsOut {
            queries: 1,
            splits: 0,
            bytes_scanned: 0.0,
            records_scanned: 0.0,
            records_matched: 0.0,
            cost_usd: 0.0,
            usd_per_gb: 0.0,
            expected_bytes: 0.0,
            sampled_lines: 0,
            not_computed: vec!["n".into()],
        });
        report
    }

    /// The field names of `proxydoc.report/v1` are a contract: this fails on any rename or
    /// removal (and on an addition, which is fine: accept the new snapshot).
    #[test]
    fn the_field_names_of_the_contract() {
        let json = serde_json::to_value(full_report()).unwrap();
        let mut all = BTreeSet::new();
        paths(&json, "", &mut all);
        insta::assert_snapshot!(all.into_iter().collect::<Vec<_>>().join("\n"));
    }

    #[test]
    fn status_and_severity_values() {
        let json = serde_json::to_value(full_report()).unwrap();
        assert_eq!(json["checks"][0]["status"], "skipped");
        assert_eq!(json["findings"][0]["severity"], "critical");
        assert_eq!(json["schema"], "proxydoc.report/v1");
    }
}
