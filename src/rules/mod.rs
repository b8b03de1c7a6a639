//! Rules: from a [`Summary`] to ranked findings (root causes with evidence and the fix).
//!
//! Most findings come straight from the cause a pattern names; a few rules look across causes
//! and counts: borrow timeouts become `target-unreachable` when the proxy log shows clients but
//! no database connection at all, and `pool-exhausted` otherwise; MySQL `ERROR 1045` counts
//! towards `secret-access-denied` when the proxy log says it cannot read its secret. Ordering:
//! severity, then failed connections, then confidence, then cause id.

pub mod causes;
pub mod onset;

use crate::aggregate::onset::{MINUTE, Onset};
use crate::aggregate::{CauseStats, DB_SIDE, Summary};
use crate::classify::{Classifier, Side};
use crate::model::{Alternative, EventKind, Evidence, Finding, Millis, Severity};
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
    pub const TLS_CERTIFICATE_UNTRUSTED: &str = "tls-certificate-untrusted";
    pub const PROXY_ENDPOINT_UNRESOLVED: &str = "proxy-endpoint-unresolved";
    pub const PROXY_SUBNETS_FULL: &str = "proxy-subnets-full";
    pub const APP_POOL_EXHAUSTED: &str = "app-pool-exhausted";
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
        findings.push(with_onset(finding, stats, classifier, summary));
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
        onset: None,
        alternatives: Vec::new(),
    }
}

/// A critical finding without an onset of its own gets the onset of its main kind of event
/// (the kind most of its lines are), with the rates that show the change.
fn with_onset(
    mut finding: Finding,
    stats: &CauseStats,
    classifier: &Classifier,
    summary: &Summary,
) -> Finding {
    if finding.onset.is_some() || finding.severity != Severity::Critical {
        return finding;
    }
    let Some(kind) = stats
        .patterns
        .first()
        .and_then(|(p, _)| classifier.pattern(*p))
        .map(|p| p.kind)
    else {
        return finding;
    };
    let Some(onset) = summary.kind_onsets.get(&kind) else {
        return finding;
    };
    let shown: Vec<EventKind> = match kind {
        EventKind::AuthFailed | EventKind::CredentialsError => {
            vec![kind, EventKind::AuthSucceeded, EventKind::ClientConnected]
        }
        _ => vec![kind, EventKind::ClientConnected],
    };
    finding.onset = Some(onset::describe(onset, &shown, summary.window));
    if matches!(kind, EventKind::AuthFailed | EventKind::CredentialsError)
        && let Some(moment) = all_at_once(stats, onset, summary)
    {
        finding.why.push_str(&format!("; {moment}"));
    }
    finding
}

/// Authentication failures that began in the same minute for every user that had been
/// authenticating before: one change behind all of them (a rotated or changed secret, a
/// changed role or key policy), not each user's own mistake.
fn all_at_once(stats: &CauseStats, onset: &Onset, summary: &Summary) -> Option<String> {
    let users = stats.user_first.len();
    let served = |kind| onset.rate(kind).early + onset.rate(kind).lead;
    let served_before: u64 = [EventKind::AuthSucceeded]
        .into_iter()
        .chain(DB_SIDE)
        .map(served)
        .sum();
    if users < 2 || served_before == 0 {
        return None;
    }
    let first = stats.user_first.first()?.1;
    let last = stats.user_first.last()?.1;
    (last - first < 2 * MINUTE && first >= onset.at - MINUTE).then(|| {
        format!(
            "the failures began at {} for all {users} users within two minutes, after clients had been served before: something they share changed then (a rotated or edited secret, a database restored with older passwords, the proxy's role or the key's policy)",
            onset::when(onset.at, summary.window)
        )
    })
}

/// Borrow timeouts: the pool (`pool-exhausted`) or a target the proxy cannot reach.
///
/// Decided at the moment things broke, not over the whole input (a real log starts healthy):
/// from the onset of the borrow timeouts, a proxy log that still shows database connections
/// opened, closed or released means a full pool; one that shows clients arriving and no
/// database-side line at all means an unreachable target, whatever happened before. Without
/// timestamps enough for an onset, the whole input decides. Without the proxy's log it cannot
/// be told, and the finding says so.
fn borrow_timeouts(
    summary: &Summary,
    stats: &CauseStats,
    classifier: &Classifier,
    fill: &Fill,
) -> Finding {
    let mut finding = from_cause(stats, classifier, fill, summary);
    let timed = summary.kind_onsets.get(&EventKind::BorrowTimeout);
    // A client that times out in minute M arrived up to ConnectionBorrowTimeout before (120 s
    // by default): the proxy's view of the failure window starts that much earlier.
    let in_window = |o: &Onset, kinds: &[EventKind]| {
        counts_between(summary, o.at - BORROW_LOOKBACK, o.end, kinds)
    };
    let window = timed.filter(|o| {
        in_window(o, &DB_SIDE)
            + in_window(o, &[EventKind::ClientConnected, EventKind::ClientClosed])
            > 0
    });
    // The silence explains the timeouts that came after it, while the proxy log still ran:
    // timeouts hours after its last line say nothing about it.
    let proxy_until = summary
        .timeline
        .iter()
        .rev()
        .find(|b| b.counts.sum(&PROXY_SIDE) > 0)
        .map(|b| b.minute);
    let silence = summary.db_silence.as_ref().filter(|s| {
        stats.first.is_some_and(|f| {
            f >= s.at - MINUTE
                && proxy_until.is_some_and(|until| f <= until + MINUTE + BORROW_LOOKBACK)
        })
    });
    let db_activity = db_side_lines(summary);
    let clients = summary.count(EventKind::ClientConnected);
    let unreachable = match (silence, window) {
        (Some(_), _) => true,
        (None, Some(window)) => {
            in_window(window, &[EventKind::ClientConnected]) > 0
                && target_went_dark(summary, window)
        }
        (None, None) => summary.proxy_lines > 0 && timed.is_none() && db_activity == 0,
    };
    if summary.proxy_lines > 0 && unreachable {
        let target = causes::lookup(id::TARGET_UNREACHABLE);
        finding.cause = id::TARGET_UNREACHABLE.to_string();
        finding.title = target.map_or_else(String::new, |c| c.title.to_string());
        finding.confidence = 0.8;
        // The borrow timeouts' onset is when clients began to fail; the silence's rates are
        // the ones to show when there is no such onset.
        let onset = window.or(silence);
        let (dark, arrived) = onset.map_or((0, 0), |o| dark_minutes(summary, o));
        // Minutes, or the timeline's wider buckets over a span longer than it keeps per minute.
        let minutes = match summary.timeline_minutes {
            ..=1 => "minutes".to_string(),
            width => format!("{width}-minute spans"),
        };
        finding.why = match onset {
            Some(onset)
                if onset.before_per_minute(&DB_SIDE).is_some_and(|r| r > 0.0) && dark < arrived =>
            {
                format!(
                    "from {}, {} borrow timeouts; in {dark} of the {arrived} {minutes} in which clients arrived, the proxy opened, closed or released no database connection ({}/min before): it lost its target for that time (a failover, a stopped database, a security group or port change)",
                    onset::when(onset.at, summary.window),
                    stats.events,
                    onset::rate(onset.before_per_minute(&DB_SIDE).unwrap_or(0.0)),
                )
            }
            Some(onset) if onset.before_per_minute(&DB_SIDE).is_some_and(|r| r > 0.0) => format!(
                "from {}, {} borrow timeouts while {} client {} reached the proxy and not one database connection was opened, closed or released (database-side lines: {}/min before, 0 after): the proxy lost its target (security group, port, or a database that stopped, failed over or is not available)",
                onset::when(onset.at, summary.window),
                stats.events,
                onset.after(&[EventKind::ClientConnected]),
                plural(
                    onset.after(&[EventKind::ClientConnected]),
                    "connection",
                    "connections"
                ),
                onset::rate(onset.before_per_minute(&DB_SIDE).unwrap_or(0.0)),
            ),
            _ => format!(
                "{} borrow timeouts while the proxy log shows {clients} client {} and not one database connection opened, closed or released: the proxy cannot reach its target (security group, port, or a database that is not available)",
                stats.events,
                plural(clients, "connection", "connections"),
            ),
        };
        finding.onset = onset.map(|o| {
            onset::describe(
                o,
                &[
                    EventKind::DbConnectionOpened,
                    EventKind::DbConnectionReleased,
                    EventKind::DbConnectionClosed,
                    EventKind::BorrowTimeout,
                    EventKind::ClientConnected,
                ],
                summary.window,
            )
        });
        if let Some(target) = target {
            finding.remediation = (target.remediation)(fill, stats);
        }
        finding.evidence =
            with_kind_evidence(&finding.evidence, summary, EventKind::ClientConnected);
        return finding;
    }
    if summary.proxy_lines > 0 && (window.is_some() || timed.is_none()) {
        finding.confidence = 0.75;
        let pinned = summary.sessions.with.pinned;
        let db_lines = window.map_or(db_activity, |w| db_in_window(summary, w));
        finding.why = format!(
            "{} borrow timeouts while the proxy {} database connections ({db_lines} database-side lines{}): the pool is at its limit{}",
            stats.events,
            if window.is_some() {
                "kept using"
            } else {
                "did open"
            },
            if window.is_some() {
                " in the same minutes"
            } else {
                ""
            },
            if pinned > 0 {
                format!(", and {pinned} pinned sessions each hold a database connection")
            } else {
                String::new()
            }
        );
        if let Some(window) = window {
            if let Some(growth) = pinning_growth(window) {
                finding
                    .why
                    .push_str(&format!("; {growth}: pinning is what filled the pool"));
            }
            finding.onset = Some(onset::describe(
                window,
                &[
                    EventKind::BorrowTimeout,
                    EventKind::Pinned,
                    EventKind::ClientConnected,
                    EventKind::DbConnectionOpened,
                ],
                summary.window,
            ));
        }
        return finding;
    }
    finding.confidence = 0.5;
    finding.why = format!(
        "{} borrow timeouts seen by clients only{}; a full pool and a database the proxy cannot reach (or that is not available) look the same from the client: proxydoc cannot tell which",
        stats.events,
        if summary.proxy_lines > 0 {
            " (the proxy's log does not cover those minutes)"
        } else {
            ""
        }
    );
    finding.onset = timed.map(|o| onset::describe(o, &[EventKind::BorrowTimeout], summary.window));
    let proxy = if fill.proxy.is_empty() {
        "PROXY_NAME".to_string()
    } else {
        fill.proxy.clone()
    };
    finding.alternatives = vec![Alternative {
        cause: id::TARGET_UNREACHABLE.to_string(),
        why: "the proxy cannot reach its database (security group, port, a database stopped, failing over or not available): clients wait out ConnectionBorrowTimeout the same way".to_string(),
        check: format!(
            "`aws rds describe-db-proxy-targets --db-proxy-name {proxy}`: TargetHealth AVAILABLE points at the pool, UNAVAILABLE (UNREACHABLE, CONNECTION_FAILED) at the target; or the DatabaseConnections and ClientConnections metrics of the proxy for those minutes; or the proxy's own log for them (`proxydoc diagnose --proxy {proxy}` reads both and decides)"
        ),
    }];
    finding
}

/// Kinds only the proxy's own log has.
const PROXY_SIDE: [EventKind; 7] = [
    EventKind::ClientConnected,
    EventKind::ClientClosed,
    EventKind::DbConnectionOpened,
    EventKind::DbConnectionClosed,
    EventKind::DbConnectionReleased,
    EventKind::Pinned,
    EventKind::WillPin,
];

/// How long before a borrow timeout its client may have arrived (the default
/// ConnectionBorrowTimeout).
const BORROW_LOOKBACK: Millis = 2 * MINUTE;

/// The database-side lines of a borrow-timeout window: while new clients arrive in it, the
/// timeouts' own minutes; when none arrive (the failing clients all came earlier), reaching
/// back one default borrow timeout to when they arrived.
fn db_in_window(summary: &Summary, window: &Onset) -> u64 {
    let arrivals = counts_between(
        summary,
        window.at,
        window.end,
        &[EventKind::ClientConnected],
    );
    let from = if arrivals > 0 {
        window.at
    } else {
        window.at - BORROW_LOOKBACK
    };
    counts_between(summary, from, window.end, &DB_SIDE)
}

/// Whether the proxy stopped reaching its target in a borrow-timeout window: in at least half
/// of the window's minutes where clients arrived, not one database-side line (a database lost,
/// or failing over and back within the window); or, when no client arrived in it, no
/// database-side line since the failing clients arrived. A full pool still shows database
/// lines for the sessions it serves, minute after minute.
fn target_went_dark(summary: &Summary, window: &Onset) -> bool {
    let (dark, arrived) = dark_minutes(summary, window);
    if arrived == 0 {
        return db_in_window(summary, window) == 0;
    }
    2 * dark >= arrived
}

/// (minutes with clients arriving and no database-side line, minutes with clients arriving)
/// from the onset to its end.
fn dark_minutes(summary: &Summary, window: &Onset) -> (usize, usize) {
    let minutes: Vec<(u64, u64)> = summary
        .timeline
        .iter()
        .filter(|b| b.minute >= window.at && b.minute <= window.end)
        .map(|b| {
            (
                b.counts.get(EventKind::ClientConnected),
                b.counts.sum(&DB_SIDE),
            )
        })
        .filter(|(arrived, _)| *arrived > 0)
        .collect();
    let dark = minutes.iter().filter(|(_, db)| *db == 0).count();
    (dark, minutes.len())
}

/// Events of `kinds` in the minutes `from..=to` of the timeline.
fn counts_between(summary: &Summary, from: Millis, to: Millis, kinds: &[EventKind]) -> u64 {
    summary
        .timeline
        .iter()
        .filter(|b| b.minute >= from && b.minute <= to)
        .map(|b| b.counts.sum(kinds))
        .sum()
}

/// "pinned sessions rose from 0.5/min to 6/min in the 10 minutes before": pinning that grew
/// ahead of an onset.
fn pinning_growth(onset: &Onset) -> Option<String> {
    let pinned = [EventKind::Pinned];
    let lead = onset.lead_per_minute(&pinned)?;
    // Growth needs a time before the lead-up to grow from.
    let early = onset.early_per_minute(&pinned)?;
    (lead > 0.0 && lead >= 1.5 * early && onset.rate(EventKind::Pinned).lead >= 3).then(|| {
        format!(
            "pinned sessions rose from {}/min to {}/min in the {} minutes before the borrow timeouts began",
            onset::rate(early),
            onset::rate(lead),
            onset.lead_minutes
        )
    })
}

/// No client errors, but clients connect and the database side is silent.
/// Or: the database side went quiet at some moment while clients kept arriving (a database
/// lost after a healthy period, seen in the proxy's log only).
fn silent_target(summary: &Summary, fill: &Fill) -> Option<Finding> {
    if let Some(silence) = &summary.db_silence {
        return went_silent(summary, fill, silence);
    }
    let connected = summary.count(EventKind::ClientConnected);
    if summary.proxy_lines == 0 || connected < 5 || db_side_lines(summary) > 0 {
        return None;
    }
    if summary.sessions.closed_without_auth == 0 && summary.count(EventKind::AuthSucceeded) > 0 {
        return None;
    }
    let target = causes::lookup(id::TARGET_UNREACHABLE)?;
    let stats = summary.kinds.get(&EventKind::ClientConnected)?;
    let empty = unreachable_stats(connected, stats.first, stats.last);
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
        clients: listed(&summary.clients),
        endpoints: listed(&summary.endpoints),
        onset: None,
        alternatives: Vec::new(),
        evidence: with_kind_evidence(&[], summary, EventKind::ClientConnected),
        remediation: (target.remediation)(fill, &empty),
    })
}

/// The database side stopped at `silence.at` while clients kept connecting.
fn went_silent(summary: &Summary, fill: &Fill, silence: &Onset) -> Option<Finding> {
    let target = causes::lookup(id::TARGET_UNREACHABLE)?;
    let clients = silence.after(&[EventKind::ClientConnected]);
    let authenticated = silence.after(&[EventKind::AuthSucceeded]);
    let before = silence.before_per_minute(&DB_SIDE).unwrap_or(0.0);
    let empty = unreachable_stats(clients, Some(silence.at), Some(silence.end + MINUTE - 1));
    let at = onset::when(silence.at, summary.window);
    Some(Finding {
        cause: id::TARGET_UNREACHABLE.to_string(),
        title: target.title.to_string(),
        severity: Severity::Warning,
        confidence: 0.6,
        why: format!(
            "from {at} the proxy's log has no database connection opened, closed or released ({}/min before, 0 after) while {clients} client {} arrived{}; the proxy may have lost its target (a database stopped, failing over or blocked)",
            onset::rate(before),
            plural(clients, "connection", "connections"),
            if authenticated > 0 {
                format!(" and {authenticated} authenticated")
            } else {
                String::new()
            }
        ),
        events: clients,
        failed_connections: 0,
        first_seen: Some(silence.at),
        last_seen: summary.window.map(|(_, last)| last),
        users: Vec::new(),
        clients: listed(&summary.clients),
        endpoints: listed(&summary.endpoints),
        evidence: with_kind_evidence(&[], summary, EventKind::ClientConnected),
        remediation: (target.remediation)(fill, &empty),
        onset: Some(onset::describe(
            silence,
            &[
                EventKind::DbConnectionOpened,
                EventKind::DbConnectionReleased,
                EventKind::DbConnectionClosed,
                EventKind::ClientConnected,
            ],
            summary.window,
        )),
        alternatives: Vec::new(),
    })
}

/// The stats a `target-unreachable` finding the rules make on their own hands its remediation:
/// `events` over `first..last`, nothing else known.
fn unreachable_stats(events: u64, first: Option<Millis>, last: Option<Millis>) -> CauseStats {
    CauseStats {
        cause: id::TARGET_UNREACHABLE.to_string(),
        events,
        first,
        last,
        users: Vec::new(),
        clients: Vec::new(),
        endpoints: Vec::new(),
        details: Vec::new(),
        user_count: 0,
        user_first: Vec::new(),
        patterns: Vec::new(),
        evidence: Vec::new(),
    }
}

fn db_side_lines(summary: &Summary) -> u64 {
    DB_SIDE.into_iter().map(|k| summary.count(k)).sum()
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

/// The most a finding seen only in application logs is given.
const CLIENT_ONLY_CONFIDENCE: f64 = 0.85;

/// The strongest pattern's confidence, a little higher when proxy and client sides agree, and
/// at most [`CLIENT_ONLY_CONFIDENCE`] when only clients saw it.
fn confidence(stats: &CauseStats, classifier: &Classifier) -> f64 {
    let patterns: Vec<_> = stats
        .patterns
        .iter()
        .filter_map(|(p, _)| classifier.pattern(*p))
        .collect();
    let best = patterns.iter().map(|p| p.confidence).fold(0.0, f64::max);
    let both_sides = patterns.iter().any(|p| p.side == Side::Proxy)
        && patterns.iter().any(|p| p.side == Side::Client);
    let client_only = patterns.iter().all(|p| p.side == Side::Client);
    let value = if both_sides {
        (best + 0.05).min(0.99)
    } else if client_only {
        // Inferred from application logs alone: below what the proxy's own log confirms.
        best.min(CLIENT_ONLY_CONFIDENCE)
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

/// The first values of a summary's dimension, as a finding lists them.
fn listed(values: &[crate::aggregate::DimCount]) -> Vec<String> {
    values
        .iter()
        .take(MAX_LISTED)
        .map(|c| c.value.clone())
        .collect()
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
