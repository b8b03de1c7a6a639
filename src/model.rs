//! Shared domain types that flow between the stages: raw records, parsed lines, typed events.
//!
//! Nothing here does I/O. Events borrow from the record they came from so that the hot path
//! allocates nothing for lines without extracted fields; a stage that must keep an event beyond
//! the current record (live tail, evidence samples) copies what it needs.

use std::fmt;

use serde::Serialize;

/// Epoch milliseconds, UTC.
pub type Millis = i64;

/// One unit of input as a source hands it over: a log line or one log event's message.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// The text of the line or event message, without its line end.
    pub text: &'a str,
    /// A timestamp the container knows for this record (CloudWatch event `timestamp`, Logs
    /// Insights `@timestamp`). Used when the text carries none.
    pub ts: Option<Millis>,
    /// Index of the input (file, stream) in the run's list of inputs.
    pub input: u32,
    /// The CloudWatch log stream the container names (an API event's, an export's
    /// `logStreamName`, an Insights row's `@logStream`).
    pub stream: Option<&'a str>,
}

/// The level token of a proxy line. RDS Proxy writes `INFO` and `WARN`; any upper-case word
/// is accepted because the format is documented as unstable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level<'a>(pub &'a str);

/// A line after the envelope parser: prefixes split off, message left for classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogLine<'a> {
    /// The message's own timestamp, or the export/tail timestamp in front of it.
    pub ts: Option<Millis>,
    /// An outer timestamp (S3 export, `aws logs tail`) when the message had its own as well.
    pub outer_ts: Option<Millis>,
    /// The `aws logs tail --format detailed` stream name token.
    pub stream: Option<&'a str>,
    pub level: Option<&'a str>,
    pub endpoint: Option<&'a str>,
    pub client_conn: Option<u64>,
    pub db_conn: Option<u64>,
    /// True when the line had the proxy's envelope (a `[LEVEL]` or a context tag).
    pub has_envelope: bool,
    /// True when a tag's value or the stream token holds [`PROXY_MARK`]: the only parts of
    /// the text before the message that may (timestamps, blanks and `[LEVEL]` cannot).
    pub envelope_mark: bool,
    /// The free-text message.
    pub message: &'a str,
}

/// The closed set of event kinds. Their snake_case names are part of the report contract
/// (`counts` in `proxydoc.report/v1`), so variants may be added but never renamed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ClientConnected,
    AuthSucceeded,
    AuthFailed,
    CredentialsError,
    DbConnectionOpened,
    DbConnectionClosed,
    DbConnectionReleased,
    ClientClosed,
    Pinned,
    WillPin,
    BorrowTimeout,
    ConnectionLimit,
    TlsError,
    UnsupportedClient,
    DbError,
    NetworkTimeout,
    /// The application's own connection pool had no free connection within its timeout
    /// (HikariCP, Npgsql, SQLAlchemy, Knex, Prisma): not a connection attempt to the proxy.
    AppPoolTimeout,
    Unclassified,
}

impl EventKind {
    pub const ALL: [EventKind; 18] = [
        EventKind::ClientConnected,
        EventKind::AuthSucceeded,
        EventKind::AuthFailed,
        EventKind::CredentialsError,
        EventKind::DbConnectionOpened,
        EventKind::DbConnectionClosed,
        EventKind::DbConnectionReleased,
        EventKind::ClientClosed,
        EventKind::Pinned,
        EventKind::WillPin,
        EventKind::BorrowTimeout,
        EventKind::ConnectionLimit,
        EventKind::TlsError,
        EventKind::UnsupportedClient,
        EventKind::DbError,
        EventKind::NetworkTimeout,
        EventKind::AppPoolTimeout,
        EventKind::Unclassified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ClientConnected => "client_connected",
            EventKind::AuthSucceeded => "auth_succeeded",
            EventKind::AuthFailed => "auth_failed",
            EventKind::CredentialsError => "credentials_error",
            EventKind::DbConnectionOpened => "db_connection_opened",
            EventKind::DbConnectionClosed => "db_connection_closed",
            EventKind::DbConnectionReleased => "db_connection_released",
            EventKind::ClientClosed => "client_closed",
            EventKind::Pinned => "pinned",
            EventKind::WillPin => "will_pin",
            EventKind::BorrowTimeout => "borrow_timeout",
            EventKind::ConnectionLimit => "connection_limit",
            EventKind::TlsError => "tls_error",
            EventKind::UnsupportedClient => "unsupported_client",
            EventKind::DbError => "db_error",
            EventKind::NetworkTimeout => "network_timeout",
            EventKind::AppPoolTimeout => "app_pool_timeout",
            EventKind::Unclassified => "unclassified",
        }
    }

    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Index used as a compact column value.
    pub const fn index(self) -> u32 {
        self as u32
    }

    pub fn from_index(index: u32) -> Option<EventKind> {
        EventKind::ALL.get(usize::try_from(index).ok()?).copied()
    }

    /// Kinds that mean a connection attempt failed.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            EventKind::AuthFailed
                | EventKind::CredentialsError
                | EventKind::BorrowTimeout
                | EventKind::ConnectionLimit
                | EventKind::TlsError
                | EventKind::UnsupportedClient
                | EventKind::DbError
                | EventKind::NetworkTimeout
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity of a pattern or a finding, ordered from least to most severe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(name: &str) -> Option<Severity> {
        match name {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified line. Borrowed from the record; fields are `(name, value)` with names from the
/// catalogue's field table.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    pub ts: Option<Millis>,
    pub kind: EventKind,
    /// Index of the matching pattern in the catalogue; `None` for unclassified lines.
    pub pattern: Option<u32>,
    pub endpoint: Option<&'a str>,
    pub client_conn: Option<u64>,
    pub db_conn: Option<u64>,
    pub fields: Vec<(&'a str, &'a str)>,
    /// The parsed line, borrowed: copying it into every event (136 bytes, read back right
    /// after the parser wrote it) cost 4 to 10% of a run's CPU.
    pub line: &'a LogLine<'a>,
    /// Whether the message holds [`PROXY_MARK`], so may name a proxy endpoint's host.
    pub proxy_mark: bool,
}

/// What every RDS Proxy endpoint's host holds (`name.proxy-id.region.rds.amazonaws.com`,
/// `name.endpoint.proxy-id.…`): a text without it names no proxy host.
pub const PROXY_MARK: &str = ".proxy-";

/// Whether `text` holds [`PROXY_MARK`].
///
/// Asked of the envelope of every line (the text around its message). The mark's `x`, four
/// bytes in, is rare in log lines (a proxy line's envelope holds one, in `proxyEndpoint`):
/// each `x` is found by `memchr` and the bytes around it compared, cheaper on a short text
/// than a substring search, which finds its candidates by two of the needle's bytes and is
/// set up anew for each text.
pub fn has_proxy_mark(text: &str) -> bool {
    const AT: usize = 4;
    let bytes = text.as_bytes();
    let mark = PROXY_MARK.as_bytes();
    memchr::memchr_iter(mark[AT], bytes).any(|x| {
        x.checked_sub(AT)
            .and_then(|start| bytes.get(start..start + mark.len()))
            == Some(mark)
    })
}

impl<'a> Event<'a> {
    pub fn field(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

/// Field names with a meaning to the rules. Patterns may capture any other name too; those are
/// shown by `patterns test` and kept as evidence but not interpreted.
pub mod field {
    pub const USER: &str = "user";
    pub const CLIENT_IP: &str = "client_ip";
    pub const CLIENT_PORT: &str = "client_port";
    pub const PROXY_IP: &str = "proxy_ip";
    pub const PROXY_PORT: &str = "proxy_port";
    pub const DB_IP: &str = "db_ip";
    pub const DB_PORT: &str = "db_port";
    pub const AUTH_METHOD: &str = "auth_method";
    pub const TLS: &str = "tls";
    pub const REASON: &str = "reason";
    pub const DIGEST: &str = "digest";
    pub const ROLE_ARN: &str = "role_arn";
    pub const SECRET_ARN: &str = "secret_arn";
    pub const LIMIT: &str = "limit";
    pub const DATABASE: &str = "database";
    pub const HOST: &str = "host";
    pub const PROXY_HOST: &str = "proxy_host";
    pub const ERROR_CODE: &str = "error_code";
    pub const DB_CONNECTION: &str = "db_connection";
    pub const CLIENT_CONNECTION: &str = "client_connection";
    pub const ENGINE: &str = "engine";
}

/// A line kept as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub ts: Option<Millis>,
    pub text: String,
    /// The line's place in the input, which orders lines of one timestamp; set by the
    /// aggregator that kept it.
    pub(crate) seq: u64,
}

impl Evidence {
    pub fn new(ts: Option<Millis>, text: String) -> Evidence {
        Evidence { ts, text, seq: 0 }
    }
}

/// One root cause.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub cause: String,
    pub title: String,
    pub severity: Severity,
    pub confidence: f64,
    pub why: String,
    pub events: u64,
    /// Connection attempts that failed because of this cause (0 for warnings).
    pub failed_connections: u64,
    pub first_seen: Option<Millis>,
    pub last_seen: Option<Millis>,
    pub users: Vec<String>,
    pub clients: Vec<String>,
    pub endpoints: Vec<String>,
    pub evidence: Vec<Evidence>,
    pub remediation: Vec<String>,
    /// When the incident behind this finding began and what changed then.
    pub onset: Option<FindingOnset>,
    /// Other causes the same evidence fits, each with what tells it apart.
    pub alternatives: Vec<Alternative>,
}

/// When a finding's incident began, and the rates that changed at that moment.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingOnset {
    pub at: Millis,
    /// One line for people: "started 02:12; database connections opened: 6/min before, 0 after".
    pub summary: String,
    pub changes: Vec<RateChange>,
}

/// The rate of one kind of event before and after an onset.
#[derive(Debug, Clone, PartialEq)]
pub struct RateChange {
    /// The event kind (`db-connection-opened`).
    pub kind: EventKind,
    /// Events per minute before the onset; `None` when the input starts at the onset.
    pub before_per_minute: Option<f64>,
    pub after_per_minute: f64,
}

/// Another cause that fits a finding's evidence as well, and the check that separates them.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    pub cause: String,
    pub why: String,
    /// What tells the two apart (a check, a metric, a log to add).
    pub check: String,
}

/// An input that could not be read (or only partly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub path: String,
    pub error: String,
}

/// A proxy's or a database's status as RDS reports it (`DBProxy.Status`,
/// `DBInstanceStatus`, `DBCluster.Status`). The values proxydoc acts on are variants; any other
/// is kept as written, so nothing RDS adds is lost or misread.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RdsStatus {
    Available,
    Modifying,
    Creating,
    Deleting,
    Stopped,
    IncompatibleNetwork,
    InsufficientResourceLimits,
    Suspended,
    Suspending,
    Reactivating,
    /// No status in the answer.
    #[default]
    Unknown,
    Other(String),
}

impl RdsStatus {
    pub fn parse(text: &str) -> RdsStatus {
        match text {
            "available" => RdsStatus::Available,
            "modifying" => RdsStatus::Modifying,
            "creating" => RdsStatus::Creating,
            "deleting" => RdsStatus::Deleting,
            "stopped" => RdsStatus::Stopped,
            "incompatible-network" => RdsStatus::IncompatibleNetwork,
            "insufficient-resource-limits" => RdsStatus::InsufficientResourceLimits,
            "suspended" => RdsStatus::Suspended,
            "suspending" => RdsStatus::Suspending,
            "reactivating" => RdsStatus::Reactivating,
            "" => RdsStatus::Unknown,
            other => RdsStatus::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            RdsStatus::Available => "available",
            RdsStatus::Modifying => "modifying",
            RdsStatus::Creating => "creating",
            RdsStatus::Deleting => "deleting",
            RdsStatus::Stopped => "stopped",
            RdsStatus::IncompatibleNetwork => "incompatible-network",
            RdsStatus::InsufficientResourceLimits => "insufficient-resource-limits",
            RdsStatus::Suspended => "suspended",
            RdsStatus::Suspending => "suspending",
            RdsStatus::Reactivating => "reactivating",
            RdsStatus::Unknown => "",
            RdsStatus::Other(text) => text,
        }
    }

    pub fn is_available(&self) -> bool {
        *self == RdsStatus::Available
    }
}

impl fmt::Display for RdsStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for RdsStatus {
    fn from(text: &str) -> RdsStatus {
        RdsStatus::parse(text)
    }
}

/// How an input was read: a file's layout, or the CloudWatch API that delivered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Text lines: proxy log, S3 export object, `aws logs tail`, application log.
    Text,
    /// One JSON document: `filter-log-events`, `get-log-events`, `get-query-results`.
    Json,
    /// One JSON event per line.
    Ndjson,
    /// Logs Insights CSV export.
    InsightsCsv,
    /// FilterLogEvents pages.
    CloudWatch,
    /// Live Tail sessions or polling (`tail`).
    CloudWatchLive,
    /// Logs Insights query results (`--engine insights`).
    Insights,
}

impl Layout {
    /// The name the report shows (`input.details[].format`).
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Text => "text",
            Layout::Json => "json",
            Layout::Ndjson => "ndjson",
            Layout::InsightsCsv => "insights-csv",
            Layout::CloudWatch => "cloudwatch",
            Layout::CloudWatchLive => "cloudwatch-live",
            Layout::Insights => "insights",
        }
    }
}

/// What reading one input produced, besides its records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputStats {
    pub path: String,
    /// `None` when the input could not be opened.
    pub format: Option<Layout>,
    pub gzip: bool,
    pub records: u64,
    pub bytes: u64,
    pub invalid_utf8: u64,
    pub truncated_lines: u64,
    /// Lines of a JSON or CSV input that were not valid and were read as text instead.
    pub malformed: u64,
    /// CloudWatch requests made and throttled (0 for files).
    pub pages: u64,
    pub throttles: u64,
    pub error: Option<String>,
    /// Things that make the counts incomplete without being errors (Live Tail sampling).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Pass,
    Fail,
    Warn,
    Skipped,
}

/// One check and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub check: String,
    pub status: CheckStatus,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The search by the mark's `x` finds the mark where a plain search does, on texts
        /// made of the mark's own pieces, envelopes and any characters.
        #[test]
        fn the_proxy_mark_is_found_where_it_is(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(".proxy-".to_string()),
                    Just("proxy".to_string()),
                    Just(".prox".to_string()),
                    Just("x".to_string()),
                    Just("-".to_string()),
                    Just("[proxyEndpoint=orders]".to_string()),
                    "[a-z.\\-]{0,6}",
                    "(?s).{0,3}",
                ],
                0..12,
            )
        ) {
            let text: String = parts.concat();
            prop_assert_eq!(has_proxy_mark(&text), text.contains(PROXY_MARK), "{:?}", text);
        }
    }

    #[test]
    fn the_proxy_mark_at_the_edges() {
        assert!(has_proxy_mark(".proxy-"));
        assert!(has_proxy_mark("a.proxy-"));
        assert!(!has_proxy_mark(".proxy"));
        assert!(!has_proxy_mark("proxy-"));
        assert!(!has_proxy_mark("x"));
        assert!(!has_proxy_mark(""));
        assert!(has_proxy_mark("xx.proxy-x"));
    }
}
