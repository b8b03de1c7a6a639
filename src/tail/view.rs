//! `proxydoc tail`'s presentation, as pure functions: which events to show (`--kinds`,
//! `--user`, `--client`), one line per event (coloured on a terminal), one NDJSON object per
//! event when piped, and the status line of the current top findings.
//!
//! A proxy line often names only its `clientConnection` id; the client address and user come
//! from an earlier line of the same connection. [`Connections`] remembers them (bounded) so
//! every shown line carries them.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::classify::Classifier;
use crate::model::{Event, EventKind, Finding, Millis, Severity, field};
use crate::report::redact::redact;
use crate::timefmt::rfc3339;

/// Connections remembered for filling in client and user.
const MAX_CONNECTIONS: usize = 100_000;

/// What `--kinds`, `--user` and `--client` select. The final report always covers every
/// event; the filters only choose what is printed while tailing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub kinds: Option<Vec<EventKind>>,
    pub user: Option<String>,
    /// An address or its prefix (`10.0.1.` matches 10.0.1.0/24).
    pub client: Option<String>,
}

impl Filter {
    /// Parses `--kinds auth_failed,borrow_timeout`; `failures` stands for every failure kind.
    pub fn parse_kinds(text: &str) -> Result<Vec<EventKind>, String> {
        let mut kinds = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "failures" {
                kinds.extend(EventKind::ALL.into_iter().filter(|k| k.is_failure()));
                continue;
            }
            match EventKind::parse(name) {
                Some(kind) => kinds.push(kind),
                None => {
                    let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                    return Err(format!(
                        "--kinds: unknown kind `{name}`; known kinds: failures, {}",
                        known.join(", ")
                    ));
                }
            }
        }
        if kinds.is_empty() {
            return Err("--kinds: name at least one kind".to_string());
        }
        Ok(kinds)
    }

    pub fn matches(&self, shown: &Shown) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&shown.kind))
            && self
                .user
                .as_ref()
                .is_none_or(|u| shown.user.as_deref() == Some(u.as_str()))
            && self.client.as_ref().is_none_or(|c| {
                shown
                    .client
                    .as_deref()
                    .is_some_and(|v| v.starts_with(c.as_str()))
            })
    }
}

/// Client address and user per `clientConnection` id, oldest forgotten first.
#[derive(Debug, Default)]
pub struct Connections {
    known: HashMap<u64, (Option<String>, Option<String>)>,
    order: VecDeque<u64>,
}

impl Connections {
    /// Records what this event says about its connection and returns the connection's
    /// (client, user) so far.
    fn learn(
        &mut self,
        conn: Option<u64>,
        client: Option<String>,
        user: Option<String>,
    ) -> (Option<String>, Option<String>) {
        let Some(conn) = conn else {
            return (client, user);
        };
        if !self.known.contains_key(&conn) {
            if self.order.len() >= MAX_CONNECTIONS
                && let Some(old) = self.order.pop_front()
            {
                self.known.remove(&old);
            }
            self.order.push_back(conn);
        }
        let entry = self.known.entry(conn).or_default();
        if client.is_some() {
            entry.0.clone_from(&client);
        }
        if user.is_some() {
            entry.1.clone_from(&user);
        }
        entry.clone()
    }
}

/// Where an event came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub group: &'a str,
    pub stream: &'a str,
    /// CloudWatch's event id (polling only; Live Tail events have none).
    pub event_id: Option<&'a str>,
}

/// One event as `tail` shows it: owned, redacted, with connection details filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shown {
    #[serde(rename = "type")]
    pub kind_of_record: &'static str,
    pub time: Option<String>,
    pub timestamp: Option<Millis>,
    pub log_group: String,
    pub log_stream: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub kind: EventKind,
    pub severity: Severity,
    pub cause: Option<String>,
    pub pattern: Option<String>,
    pub endpoint: Option<String>,
    pub user: Option<String>,
    pub client: Option<String>,
    pub client_connection: Option<u64>,
    pub db_connection: Option<u64>,
    /// The message (the text after the proxy's envelope), SQL redacted unless `--show-sql`,
    /// credentials always.
    pub message: String,
}

/// Builds the shown form of a classified event.
pub fn shown(
    event: &Event<'_>,
    classifier: &Classifier,
    origin: Origin<'_>,
    connections: &mut Connections,
    show_sql: bool,
) -> Shown {
    let pattern = event.pattern.and_then(|p| classifier.pattern(p));
    let client = event
        .field(field::CLIENT_IP)
        .map(|ip| match event.field(field::CLIENT_PORT) {
            Some(port) => format!("{ip}:{port}"),
            None => ip.to_string(),
        });
    let user = event.field(field::USER).map(str::to_string);
    let (client, user) = connections.learn(event.client_conn, client, user);
    let message = if event.line.message.is_empty() {
        event.line.message
    } else {
        event.line.message.trim()
    };
    Shown {
        kind_of_record: "event",
        time: event.ts.map(rfc3339),
        timestamp: event.ts,
        log_group: origin.group.to_string(),
        log_stream: origin.stream.to_string(),
        event_id: origin
            .event_id
            .filter(|i| !i.is_empty())
            .map(str::to_string),
        kind: event.kind,
        severity: pattern.map_or(Severity::Info, |p| p.severity),
        cause: pattern.and_then(|p| p.cause.clone()),
        pattern: pattern.map(|p| p.id.clone()),
        endpoint: event.endpoint.map(str::to_string),
        user,
        client,
        client_connection: event.client_conn,
        db_connection: event.db_conn,
        message: redact(message, show_sql),
    }
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";

/// One terminal line: time, endpoint, kind, `user@client`, message; cut to `width` columns.
pub fn line(shown: &Shown, colour: bool, width: usize) -> String {
    let time = shown
        .time
        .as_deref()
        .and_then(|t| t.get(11..23))
        .unwrap_or("--:--:--.---");
    let who = match (&shown.user, &shown.client) {
        (Some(user), Some(client)) => format!("{user}@{client}"),
        (Some(user), None) => user.clone(),
        (None, Some(client)) => client.clone(),
        (None, None) => "-".to_string(),
    };
    let endpoint = clip(shown.endpoint.as_deref().unwrap_or("-"), 8);
    let who = clip(&who, 26);
    let kind = shown.kind.as_str();
    // time(12) endpoint(8) kind(22) who(26) and four spaces.
    let used = 12 + 1 + 8 + 1 + 22 + 1 + 26 + 1;
    let message = clip(&shown.message, width.saturating_sub(used).max(24));
    if !colour {
        return format!("{time} {endpoint:<8} {kind:<22} {who:<26} {message}")
            .trim_end()
            .to_string();
    }
    let paint = match (shown.kind, shown.severity) {
        (EventKind::Unclassified, _) => DIM,
        (_, Severity::Critical) => RED,
        (_, Severity::Warning) => YELLOW,
        (kind, _) if kind.is_failure() => RED,
        _ => "",
    };
    format!(
        "{DIM}{time}{RESET} {CYAN}{endpoint:<8}{RESET} {paint}{kind:<22}{RESET} {who:<26} {paint}{message}{RESET}"
    )
}

/// The width of the terminal on stdout: `COLUMNS` when set, else the terminal's own size.
pub fn terminal_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(columns);
    }
    let (terminal_size::Width(columns), _) = terminal_size::terminal_size_of(std::io::stdout())?;
    (columns > 0).then_some(usize::from(columns))
}

/// One NDJSON line (without the newline).
pub fn ndjson(shown: &Shown) -> String {
    serde_json::to_string(shown).unwrap_or_default()
}

/// What the status line reports.
#[derive(Debug, Clone, Default)]
pub struct Status<'a> {
    pub now: Millis,
    /// `live`, `polling`, `waiting`...
    pub mode: &'a str,
    pub events: u64,
    pub failures: u64,
    pub shown: u64,
    /// Findings over everything seen, most important first.
    pub all: &'a [Finding],
    /// Findings over the last `recent_minutes`.
    pub recent: &'a [Finding],
    pub recent_minutes: i64,
    /// Enhanced logging, when proxydoc manages it (`on until 13:10`).
    pub logging: Option<String>,
    pub sampled: bool,
}

/// The one-line summary shown under the events on a terminal.
pub fn status_line(status: &Status<'_>, colour: bool, width: usize) -> String {
    let mut parts = vec![format!(
        "{} {} · {} events, {} failed",
        crate::timefmt::hh_mm(status.now),
        status.mode,
        status.events,
        status.failures
    )];
    if status.shown != status.events {
        parts.push(format!("{} shown", status.shown));
    }
    if status.all.is_empty() {
        parts.push("no findings yet".to_string());
    }
    for finding in status.all.iter().take(3) {
        let recent = status
            .recent
            .iter()
            .find(|f| f.cause == finding.cause)
            .map_or(0, count);
        // The onset says when it began: "since 02:12".
        let since = finding
            .onset
            .as_ref()
            .map(|o| format!(", since {}", crate::timefmt::hh_mm(o.at)))
            .unwrap_or_default();
        parts.push(format!(
            "{} {} ({} in {}m{since})",
            finding.cause,
            count(finding),
            recent,
            status.recent_minutes
        ));
    }
    if let Some(logging) = &status.logging {
        parts.push(format!("enhanced logging {logging}"));
    }
    if status.sampled {
        parts.push("SAMPLED: events missing".to_string());
    }
    let text = clip(&parts.join(" · "), width.saturating_sub(1).max(20));
    if colour {
        let paint = if status.all.iter().any(|f| f.severity == Severity::Critical) || status.sampled
        {
            RED
        } else if status.all.is_empty() {
            DIM
        } else {
            YELLOW
        };
        format!("{paint}{text}{RESET}")
    } else {
        text
    }
}

/// What a finding counts in the status line: failed connections, else events.
fn count(finding: &Finding) -> u64 {
    if finding.failed_connections > 0 {
        finding.failed_connections
    } else {
        finding.events
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Scratch, catalogue};
    use crate::parse::parse_line;

    fn classifier() -> Classifier {
        Classifier::new(catalogue::builtin().unwrap()).unwrap()
    }

    const ORIGIN: Origin<'static> = Origin {
        group: "/aws/rds/proxy/p",
        stream: "s",
        event_id: Some("e1"),
    };

    fn show(classifier: &Classifier, connections: &mut Connections, text: &str) -> Shown {
        let mut scratch = Scratch::default();
        let line = parse_line(text);
        let event = classifier.classify(&line, &mut scratch);
        shown(&event, classifier, ORIGIN, connections, false)
    }

    #[test]
    fn later_lines_of_a_connection_carry_its_client() {
        let classifier = classifier();
        let mut connections = Connections::default();
        let first = show(
            &classifier,
            &mut connections,
            "2026-11-25T10:00:00.123Z [INFO] [proxyEndpoint=default] [clientConnection=42] A new client connected from 10.0.1.5:51234.",
        );
        assert_eq!(first.kind, EventKind::ClientConnected);
        assert_eq!(first.client.as_deref(), Some("10.0.1.5:51234"));
        let later = show(
            &classifier,
            &mut connections,
            "2026-11-25T10:00:00.200Z [WARN] [proxyEndpoint=default] [clientConnection=42] The client session was pinned to the database connection [dbConnection=7] for the remainder of the session. The proxy can't reuse this connection until the session ends. Reason: SQL changed session settings that the proxy doesn't track. Consider moving session configuration to the proxy's initialization query. Digest: \"set search_path to $1\".",
        );
        assert_eq!(later.kind, EventKind::Pinned);
        assert_eq!(later.client.as_deref(), Some("10.0.1.5:51234"));
        assert_eq!(later.endpoint.as_deref(), Some("default"));
        assert_eq!(later.severity, Severity::Warning);

        let plain = line(&later, false, 120);
        assert!(
            plain.starts_with(
                "10:00:00.200 default  pinned                 10.0.1.5:51234             The client session"
            ),
            "{plain}"
        );
        assert!(plain.chars().count() <= 120, "{plain}");
        let coloured = line(&later, true, 120);
        assert!(coloured.contains(YELLOW) && coloured.contains(RESET));

        let json: serde_json::Value = serde_json::from_str(&ndjson(&later)).unwrap();
        assert_eq!(json["type"], "event");
        assert_eq!(json["kind"], "pinned");
        assert_eq!(json["client"], "10.0.1.5:51234");
        assert_eq!(json["client_connection"], 42);
        assert_eq!(json["event_id"], "e1");
        assert_eq!(json["time"], "2026-11-25T10:00:00.200Z");
    }

    #[test]
    fn sql_and_credentials_are_redacted_in_shown_messages() {
        let classifier = classifier();
        let shown = show(
            &classifier,
            &mut Connections::default(),
            "2026-11-25T10:00:00Z [INFO] [proxyEndpoint=default] [clientConnection=1] query: SELECT card FROM payments WHERE id = 4 password=hunter2",
        );
        assert!(!shown.message.contains("SELECT card"), "{}", shown.message);
        assert!(!shown.message.contains("hunter2"), "{}", shown.message);
    }

    #[test]
    fn filters_select_kinds_users_and_client_prefixes() {
        let classifier = classifier();
        let mut connections = Connections::default();
        let connected = show(
            &classifier,
            &mut connections,
            "2026-11-25T10:00:00Z [INFO] [proxyEndpoint=default] [clientConnection=9] A new client connected from 10.0.1.5:51234.",
        );
        let kinds = Filter {
            kinds: Some(Filter::parse_kinds("failures").unwrap()),
            ..Filter::default()
        };
        assert!(!kinds.matches(&connected));
        let client = Filter {
            client: Some("10.0.1.".into()),
            ..Filter::default()
        };
        assert!(client.matches(&connected));
        let other = Filter {
            client: Some("10.0.2.".into()),
            ..Filter::default()
        };
        assert!(!other.matches(&connected));
        let user = Filter {
            user: Some("alice".into()),
            ..Filter::default()
        };
        assert!(!user.matches(&connected));
        assert!(Filter::default().matches(&connected));

        let error = Filter::parse_kinds("auth_failed,nope").unwrap_err();
        assert!(error.contains("unknown kind `nope`") && error.contains("borrow_timeout"));
        assert_eq!(
            Filter::parse_kinds("auth_failed, pinned").unwrap(),
            [EventKind::AuthFailed, EventKind::Pinned]
        );
    }

    #[test]
    fn status_line_names_top_findings_with_recent_counts() {
        let finding = |cause: &str, failed: u64, severity: Severity| Finding {
            cause: cause.into(),
            title: String::new(),
            severity,
            confidence: 1.0,
            why: String::new(),
            events: failed,
            failed_connections: failed,
            first_seen: None,
            last_seen: None,
            users: vec![],
            clients: vec![],
            endpoints: vec![],
            evidence: vec![],
            remediation: vec![],
            onset: None,
            alternatives: Vec::new(),
        };
        let mut exhausted = finding("pool-exhausted", 34, Severity::Critical);
        exhausted.onset = Some(crate::model::FindingOnset {
            at: 1_764_064_320_000,
            summary: String::new(),
            changes: Vec::new(),
        });
        let all = [exhausted, finding("session-pinning", 3, Severity::Warning)];
        let recent = [finding("pool-exhausted", 12, Severity::Critical)];
        let status = Status {
            now: 1_764_064_980_000,
            mode: "live",
            events: 1234,
            failures: 34,
            shown: 1234,
            all: &all,
            recent: &recent,
            recent_minutes: 5,
            logging: Some("on until 11:03".into()),
            sampled: true,
        };
        let text = status_line(&status, false, 200);
        assert_eq!(
            text,
            "10:03 live · 1234 events, 34 failed · pool-exhausted 34 (12 in 5m, since 09:52) · session-pinning 3 (0 in 5m) · enhanced logging on until 11:03 · SAMPLED: events missing"
        );
        assert!(status_line(&status, false, 40).chars().count() <= 39);
        assert!(status_line(&status, true, 200).starts_with(RED));
    }

    proptest::proptest! {
        /// Whatever CloudWatch hands over, showing it never panics, a terminal line stays
        /// within its width, and NDJSON is one valid JSON line.
        #[test]
        fn any_message_shows_safely(text in "\\PC{0,400}", width in 40usize..200) {
            static CLASSIFIER: std::sync::LazyLock<Classifier> = std::sync::LazyLock::new(classifier);
            let classifier = &*CLASSIFIER;
            let mut connections = Connections::default();
            for candidate in [
                text.clone(),
                format!("2026-11-25T10:00:00.123Z [INFO] [proxyEndpoint=e] [clientConnection=3] {text}"),
                format!("A new client connected from {text}:1."),
            ] {
                let shown = show(classifier, &mut connections, &candidate);
                let plain = line(&shown, false, width);
                proptest::prop_assert!(plain.chars().count() <= width.max(96), "{}", plain);
                let json = ndjson(&shown);
                proptest::prop_assert!(!json.contains('\n'));
                proptest::prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
                let _ = line(&shown, true, width);
            }
        }
    }
}
