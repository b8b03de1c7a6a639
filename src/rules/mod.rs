//! Rules: from a [`Summary`] to ranked findings (root causes with evidence and the fix).
//!
//! Most findings come straight from the cause a pattern names; a few rules look across causes
//! and counts: borrow timeouts become `target-unreachable` when the proxy log shows clients but
//! no database connection at all, and `pool-exhausted` otherwise; MySQL `ERROR 1045` counts
//! towards `secret-access-denied` when the proxy log says it cannot read its secret. Ordering:
//! severity, then failed connections, then confidence, then cause id.

pub mod causes;

use crate::aggregate::{CauseStats, Summary};
use crate::classify::{Classifier, Side};
use crate::model::{EventKind, Evidence, Finding, Millis, Severity};
use causes::Fill;

/// Names of the built-in cause ids. Part of the report contract: add, never rename.
pub mod id {
    pub const IAM_AUTH_FAILED: &str = "iam-auth-failed";
    pub const PASSWORD_AUTH_FAILED: &str = "password-auth-failed";
    pub const NO_SECRET_FOR_USER: &str = "no-secret-for-user";
    pub const SECRET_ACCESS_DENIED: &str = "secret-access-denied";
    pub const TLS_REQUIRED: &str = "tls-required";
    pub const TARGET_UNREACHABLE: &str = "target-unreachable";
    pub const POOL_EXHAUSTED: &str = "pool-exhausted";
    pub const CLIENT_CONNECTION_LIMIT: &str = "client-connection-limit";
    pub const CLIENT_NETWORK_BLOCKED: &str = "client-network-blocked";
    pub const SESSION_PINNING: &str = "session-pinning";
    pub const UNSUPPORTED_CLIENT: &str = "unsupported-client";
    pub const DB_ERROR: &str = "db-error";
    pub const DUPLICATE_AUTH_USER: &str = "duplicate-auth-user";
    pub const TLS_HANDSHAKE_FAILED: &str = "tls-handshake-failed";
}

/// Values listed per finding (users, clients, endpoints).
const MAX_LISTED: usize = 10;

/// Evaluates every rule and returns the findings, most important first.
pub fn evaluate(summary: &Summary, classifier: &Classifier) -> Vec<Finding> {
    let fill = Fill::new(summary);
    let mut findings = Vec::new();
    let secret_denied = summary.cause(id::SECRET_ACCESS_DENIED).is_some();
    for stats in &summary.causes {
        let finding = match stats.cause.as_str() {
            id::POOL_EXHAUSTED => borrow_timeouts(summary, stats, classifier, &fill),
            id::PASSWORD_AUTH_FAILED if secret_denied && only_mysql_1045(stats, classifier) => {
                // ERROR 1045 is what MySQL clients see when the proxy cannot read its secret:
                // counted under secret-access-denied below.
                continue;
            }
            _ => from_cause(stats, classifier, &fill, summary),
        };
        findings.push(finding);
    }
    if let Some(secret) = findings
        .iter_mut()
        .find(|f| f.cause == id::SECRET_ACCESS_DENIED)
        && let Some(stats) = summary.cause(id::PASSWORD_AUTH_FAILED)
        && only_mysql_1045(stats, classifier)
    {
        secret.failed_connections += stats.events;
        secret.events += stats.events;
        secret.why.push_str(&format!(
                    "; {} MySQL ERROR 1045 on the client side are the same failure as seen by the application",
                    stats.events
                ));
        secret.users = merge_names(&secret.users, &stats.users);
        secret.first_seen = min_opt(secret.first_seen, stats.first);
        secret.last_seen = max_opt(secret.last_seen, stats.last);
        if secret.evidence.len() < 3 {
            secret.evidence.extend(
                stats
                    .evidence
                    .iter()
                    .take(3 - secret.evidence.len())
                    .cloned(),
            );
        }
    }
    // A silent database side is only a lead of its own when nothing else explains failures
    // (a proxy that cannot read its secret looks the same).
    let explained = findings.iter().any(|f| f.severity == Severity::Critical);
    if !explained && let Some(finding) = silent_target(summary, &fill) {
        findings.push(finding);
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.failed_connections.cmp(&a.failed_connections))
            .then(b.confidence.total_cmp(&a.confidence))
            .then(a.cause.cmp(&b.cause))
    });
    findings
}

/// A finding for a cause named by patterns, with the catalogue's remediation for it.
fn from_cause(
    stats: &CauseStats,
    classifier: &Classifier,
    fill: &Fill,
    summary: &Summary,
) -> Finding {
    let known = causes::lookup(&stats.cause);
    let top = stats
        .patterns
        .first()
        .and_then(|(p, _)| classifier.pattern(*p));
    let severity = match known {
        Some(cause) => cause.severity,
        None => stats
            .patterns
            .iter()
            .filter_map(|(p, _)| classifier.pattern(*p))
            .map(|p| p.severity)
            .max()
            .unwrap_or(Severity::Warning),
    };
    let confidence = confidence(stats, classifier);
    let mut why = match top {
        Some(pattern) => format!(
            "{} {} ({}): {}",
            stats.events,
            plural(stats.events, "line", "lines"),
            pattern_list(stats, classifier),
            pattern.description
        ),
        None => format!("{} events", stats.events),
    };
    if stats.cause == id::SESSION_PINNING && summary.sessions.sessions > 0 {
        let share = 100.0 * summary.sessions.with.pinned as f64 / summary.sessions.sessions as f64;
        why = format!(
            "{} of {} client sessions ({share:.0}%) were pinned; {why}",
            summary.sessions.with.pinned, summary.sessions.sessions
        );
    }
    let remediation = match known {
        Some(cause) => (cause.remediation)(fill, stats),
        None => {
            let mut steps: Vec<String> = stats
                .patterns
                .iter()
                .filter_map(|(p, _)| classifier.pattern(*p))
                .flat_map(|p| p.remediation.iter().cloned())
                .collect();
            steps.dedup();
            steps
        }
    };
    let failed = if severity == Severity::Critical {
        stats.events
    } else {
        0
    };
    Finding {
        cause: stats.cause.clone(),
        title: known.map_or_else(|| stats.cause.clone(), |c| c.title.to_string()),
        severity,
        confidence,
        why,
        events: stats.events,
        failed_connections: failed,
        first_seen: stats.first,
        last_seen: stats.last,
        users: names(&stats.users),
        clients: names(&stats.clients),
        endpoints: names(&stats.endpoints),
        evidence: stats.evidence.clone(),
        remediation,
    }
}

/// Borrow timeouts: the pool (`pool-exhausted`) or a target the proxy cannot reach.
fn borrow_timeouts(
    summary: &Summary,
    stats: &CauseStats,
    classifier: &Classifier,
    fill: &Fill,
) -> Finding {
    let mut finding = from_cause(stats, classifier, fill, summary);
    let db_activity = db_side_lines(summary);
    let clients = summary.count(EventKind::ClientConnected);
    if summary.proxy_lines > 0 && db_activity == 0 {
        let target = causes::lookup(id::TARGET_UNREACHABLE);
        finding.cause = id::TARGET_UNREACHABLE.to_string();
        finding.title = target.map_or_else(String::new, |c| c.title.to_string());
        finding.confidence = 0.8;
        finding.why = format!(
            "{} borrow timeouts while the proxy log shows {clients} client {} and not one database connection opened, closed or released: the proxy cannot reach its target (security group, port, or a database that is not available)",
            stats.events,
            plural(clients, "connection", "connections"),
        );
        if let Some(target) = target {
            finding.remediation = (target.remediation)(fill, stats);
        }
        finding.evidence =
            with_kind_evidence(&finding.evidence, summary, EventKind::ClientConnected);
        return finding;
    }
    if summary.proxy_lines > 0 {
        finding.confidence = 0.75;
        let pinned = summary.sessions.with.pinned;
        finding.why = format!(
            "{} borrow timeouts while the proxy did open database connections ({db_activity} database-side lines): the pool is at its limit{}",
            stats.events,
            if pinned > 0 {
                format!(", and {pinned} pinned sessions each hold a database connection")
            } else {
                String::new()
            }
        );
    } else {
        finding.confidence = 0.5;
        finding.why = format!(
            "{} borrow timeouts seen by clients only; without the proxy's own log a full pool and an unreachable or unavailable database look the same (add the proxy log to tell them apart)",
            stats.events
        );
    }
    finding
}

/// No client errors, but clients connect and the database side is silent.
fn silent_target(summary: &Summary, fill: &Fill) -> Option<Finding> {
    let connected = summary.count(EventKind::ClientConnected);
    if summary.proxy_lines == 0 || connected < 5 || db_side_lines(summary) > 0 {
        return None;
    }
    if summary.sessions.closed_without_auth == 0 && summary.count(EventKind::AuthSucceeded) > 0 {
        return None;
    }
    let target = causes::lookup(id::TARGET_UNREACHABLE)?;
    let stats = summary.kinds.get(&EventKind::ClientConnected)?;
    let empty = CauseStats {
        cause: id::TARGET_UNREACHABLE.to_string(),
        events: connected,
        first: stats.first,
        last: stats.last,
        users: Vec::new(),
        clients: Vec::new(),
        endpoints: Vec::new(),
        details: Vec::new(),
        patterns: Vec::new(),
        evidence: Vec::new(),
    };
    Some(Finding {
        cause: id::TARGET_UNREACHABLE.to_string(),
        title: target.title.to_string(),
        severity: Severity::Warning,
        confidence: 0.4,
        why: format!(
            "{connected} client connections reached the proxy but the log has no database connection opened, closed or released, and {} sessions closed without authenticating; the proxy may be unable to reach its target",
            summary.sessions.closed_without_auth
        ),
        events: connected,
        failed_connections: 0,
        first_seen: stats.first,
        last_seen: stats.last,
        users: Vec::new(),
        clients: summary
            .clients
            .iter()
            .take(MAX_LISTED)
            .map(|c| c.value.clone())
            .collect(),
        endpoints: summary
            .endpoints
            .iter()
            .take(MAX_LISTED)
            .map(|c| c.value.clone())
            .collect(),
        evidence: with_kind_evidence(&[], summary, EventKind::ClientConnected),
        remediation: (target.remediation)(fill, &empty),
    })
}

fn db_side_lines(summary: &Summary) -> u64 {
    [
        EventKind::DbConnectionOpened,
        EventKind::DbConnectionClosed,
        EventKind::DbConnectionReleased,
        EventKind::Pinned,
        EventKind::WillPin,
    ]
    .into_iter()
    .map(|k| summary.count(k))
    .sum()
}

fn with_kind_evidence(existing: &[Evidence], summary: &Summary, kind: EventKind) -> Vec<Evidence> {
    let mut out: Vec<Evidence> = existing.iter().take(2).cloned().collect();
    if let Some(samples) = summary.kind_evidence.get(&kind) {
        out.extend(samples.iter().take(3 - out.len()).cloned());
    }
    out
}

fn only_mysql_1045(stats: &CauseStats, classifier: &Classifier) -> bool {
    !stats.patterns.is_empty()
        && stats.patterns.iter().all(|(p, _)| {
            classifier
                .pattern(*p)
                .is_some_and(|p| p.id == "mysql-access-denied")
        })
}

/// The strongest pattern's confidence, a little higher when proxy and client sides agree.
fn confidence(stats: &CauseStats, classifier: &Classifier) -> f64 {
    let patterns: Vec<_> = stats
        .patterns
        .iter()
        .filter_map(|(p, _)| classifier.pattern(*p))
        .collect();
    let best = patterns.iter().map(|p| p.confidence).fold(0.0, f64::max);
    let both_sides = patterns.iter().any(|p| p.side == Side::Proxy)
        && patterns.iter().any(|p| p.side == Side::Client);
    let value = if both_sides {
        (best + 0.05).min(0.99)
    } else {
        best
    };
    (value * 100.0).round() / 100.0
}

fn pattern_list(stats: &CauseStats, classifier: &Classifier) -> String {
    stats
        .patterns
        .iter()
        .filter_map(|(p, n)| classifier.pattern(*p).map(|p| format!("{} ×{n}", p.id)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn names(values: &[(String, u64)]) -> Vec<String> {
    values
        .iter()
        .take(MAX_LISTED)
        .map(|(v, _)| v.clone())
        .collect()
}

fn merge_names(existing: &[String], more: &[(String, u64)]) -> Vec<String> {
    let mut out = existing.to_vec();
    for (value, _) in more {
        if out.len() < MAX_LISTED && !out.contains(value) {
            out.push(value.clone());
        }
    }
    out
}

fn min_opt(a: Option<Millis>, b: Option<Millis>) -> Option<Millis> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<Millis>, b: Option<Millis>) -> Option<Millis> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

pub fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}
