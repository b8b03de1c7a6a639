//! Correlation for `diagnose`: log findings and control-plane findings that are the same
//! problem seen from two sides become one finding with both as evidence.
//!
//! The control-plane finding names the precise cause (which permission, which rule, which
//! state), so it keeps its id and remediation; the log finding adds what users felt (events,
//! failed connections, first and last seen, users, clients, its evidence lines). Pairs:
//!
//! | log | control plane | result |
//! |---|---|---|
//! | `secret-access-denied` | `proxy-role-cannot-read-secret`, `proxy-role-trust-missing`, `target-unavailable` | the control-plane finding |
//! | `target-unreachable`, `pool-exhausted` | `db-not-available` | the database, not the network |
//! | `pool-exhausted` seen by clients only (its alternative is `target-unreachable`) | `db-security-group-blocks-proxy`, `proxy-egress-blocked`, `target-unavailable` | the control-plane finding: the target, not the pool |
//! | `target-unreachable` | `db-security-group-blocks-proxy`, `proxy-egress-blocked`, `target-unavailable` | the control-plane finding |
//! | `iam-auth-failed` | `client-iam-not-allowed` | the control-plane finding |
//! | `client-network-blocked` | `client-outside-vpc`, `client-route-missing`, `proxy-security-group-blocks-client`, `client-egress-blocked`, `network-acl-blocks-client` (`--client`) | the control-plane finding |
//!
//! A `pool-exhausted` finding that is still ambiguous after that is settled by the target's
//! health ([`settle_borrow_timeouts`]). Every other finding is kept as it is. `pool-exhausted` and `session-pinning` also get the
//! proxy's pool settings and fixes computed from them ([`with_pool_settings`]).

use crate::audit::PoolSettings;
use crate::audit::client::id as client_id;
use crate::audit::id as check_id;
use crate::model::Finding;
use crate::rules::id as log_id;

/// (log cause, control-plane causes it folds into, in order of preference).
const PAIRS: &[(&str, &[&str])] = &[
    (
        log_id::SECRET_ACCESS_DENIED,
        &[
            check_id::PROXY_ROLE_CANNOT_READ_SECRET,
            check_id::PROXY_ROLE_TRUST_MISSING,
            check_id::TARGET_UNAVAILABLE,
        ],
    ),
    (
        log_id::TARGET_UNREACHABLE,
        &[
            check_id::DB_NOT_AVAILABLE,
            check_id::DB_SECURITY_GROUP_BLOCKS_PROXY,
            check_id::PROXY_EGRESS_BLOCKED,
            check_id::TARGET_UNAVAILABLE,
        ],
    ),
    (log_id::POOL_EXHAUSTED, &[check_id::DB_NOT_AVAILABLE]),
    // Borrow timeouts the log alone could not place (the finding names target-unreachable as
    // its alternative): a target problem the control plane proves is their cause. Used only
    // for such findings (see `merge`).
    (
        AMBIGUOUS_POOL,
        &[
            check_id::DB_SECURITY_GROUP_BLOCKS_PROXY,
            check_id::PROXY_EGRESS_BLOCKED,
            check_id::TARGET_UNAVAILABLE,
        ],
    ),
    (log_id::IAM_AUTH_FAILED, &[check_id::CLIENT_IAM_NOT_ALLOWED]),
    (
        log_id::CLIENT_NETWORK_BLOCKED,
        &[
            client_id::CLIENT_OUTSIDE_VPC,
            client_id::CLIENT_ROUTE_MISSING,
            client_id::PROXY_SECURITY_GROUP_BLOCKS_CLIENT,
            client_id::CLIENT_EGRESS_BLOCKED,
            client_id::NETWORK_ACL_BLOCKS_CLIENT,
        ],
    ),
];

/// The pairing key of a `pool-exhausted` finding that names `target-unreachable` as an
/// alternative.
const AMBIGUOUS_POOL: &str = "pool-exhausted or target-unreachable";

/// Merges `logs` and `checks` into one ranked list.
pub fn merge(logs: Vec<Finding>, checks: Vec<Finding>) -> Vec<Finding> {
    let mut checks = checks;
    let mut out = Vec::new();
    for log in logs {
        let ambiguous = log.cause == log_id::POOL_EXHAUSTED
            && log
                .alternatives
                .iter()
                .any(|a| a.cause == log_id::TARGET_UNREACHABLE);
        let targets = PAIRS
            .iter()
            .filter(|(cause, _)| *cause == log.cause || (ambiguous && *cause == AMBIGUOUS_POOL))
            .flat_map(|(_, t)| t.iter());
        let slot = targets
            .into_iter()
            .find_map(|target| checks.iter().position(|c| c.cause == *target));
        match slot {
            Some(index) => {
                let check = &mut checks[index];
                fold(check, log);
            }
            None => out.push(log),
        }
    }
    out.extend(checks);
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.failed_connections.cmp(&a.failed_connections))
            .then(b.confidence.total_cmp(&a.confidence))
            .then(a.cause.cmp(&b.cause))
    });
    out
}

/// Adds the log side of a problem to its control-plane finding.
fn fold(check: &mut Finding, log: Finding) {
    check.severity = check.severity.max(log.severity);
    check.confidence =
        ((check.confidence.max(log.confidence) + 0.04).min(0.99) * 100.0).round() / 100.0;
    check.why = format!(
        "{}; the proxy log agrees ({}: {})",
        check.why, log.cause, log.why
    );
    check.events += log.events;
    check.failed_connections += log.failed_connections;
    check.first_seen = log.first_seen.or(check.first_seen);
    check.last_seen = log.last_seen.or(check.last_seen);
    // The control plane settled what the log could not tell: no alternatives remain.
    check.onset = log.onset.or(check.onset.take());
    for (into, from) in [
        (&mut check.users, log.users),
        (&mut check.clients, log.clients),
        (&mut check.endpoints, log.endpoints),
    ] {
        for value in from {
            if !into.contains(&value) {
                into.push(value);
            }
        }
    }
    // Up to three lines: the control plane's first, then the log's.
    let mut evidence: Vec<_> = check.evidence.iter().take(1).cloned().collect();
    evidence.extend(log.evidence.into_iter().take(3 - evidence.len()));
    check.evidence = evidence;
}

/// A `pool-exhausted` finding the log could not tell from `target-unreachable`, once the
/// control plane found every target AVAILABLE and no target-side problem: the pool it is.
/// `targets_healthy` is that check's result.
pub fn settle_borrow_timeouts(findings: &mut [Finding], targets_healthy: bool) {
    let target_side = [
        check_id::DB_NOT_AVAILABLE,
        check_id::DB_SECURITY_GROUP_BLOCKS_PROXY,
        check_id::PROXY_EGRESS_BLOCKED,
        check_id::TARGET_UNAVAILABLE,
    ];
    if !targets_healthy
        || findings
            .iter()
            .any(|f| target_side.contains(&f.cause.as_str()))
    {
        return;
    }
    for finding in findings
        .iter_mut()
        .filter(|f| f.cause == log_id::POOL_EXHAUSTED && !f.alternatives.is_empty())
    {
        finding.alternatives.clear();
        finding.confidence = finding.confidence.max(0.7);
        finding.why.push_str(
            "; the proxy's targets are AVAILABLE and no target-side check failed, so it is the pool, not the target",
        );
    }
}

/// Pool exhaustion and pinning seen in the log, weighed against the proxy's pool settings:
/// the values go into the why, and the fixes are computed from them.
pub fn with_pool_settings(
    findings: &mut [Finding],
    pool: &PoolSettings,
    proxy: &str,
    engine: &str,
) {
    let modify = |config: String| {
        format!(
            "`aws rds modify-db-proxy-target-group --db-proxy-name {proxy} --target-group-name default --connection-pool-config {config}`"
        )
    };
    for finding in findings.iter_mut() {
        let mut steps = Vec::new();
        if finding.cause == log_id::POOL_EXHAUSTED {
            match pool.max_connections_percent {
                Some(percent) if percent < 100 => steps.push(format!(
                    "The proxy may open {percent}% of the database's max_connections (MaxConnectionsPercent): let it use more: {}",
                    modify(format!("MaxConnectionsPercent={}", (percent * 2).min(100)))
                )),
                Some(_) => steps.push("The proxy may already open all of the database's max_connections (MaxConnectionsPercent=100): raise max_connections (a larger instance class, or the parameter group) or shorten what each client holds (pinned sessions, long transactions)".to_string()),
                None => {}
            }
            if let Some(timeout) = pool.connection_borrow_timeout {
                steps.push(format!(
                    "Clients give up after ConnectionBorrowTimeout={timeout} s waiting for a free database connection; a longer wait hides the shortage, it does not fix it"
                ));
            }
        } else if finding.cause == log_id::SESSION_PINNING {
            if engine.eq_ignore_ascii_case("MYSQL")
                && !pool
                    .session_pinning_filters
                    .iter()
                    .any(|f| f == "EXCLUDE_VARIABLE_SETS")
            {
                steps.push(format!(
                    "If the application does not depend on session variables it sets, stop them from pinning: {}",
                    modify("SessionPinningFilters=EXCLUDE_VARIABLE_SETS".to_string())
                ));
            }
            if pool.init_query.as_deref().unwrap_or_default().is_empty() {
                steps.push(format!(
                    "Move the SET statements every session runs into the proxy's InitQuery (none is set), so they no longer pin: {}",
                    modify("InitQuery='SET ...'".to_string())
                ));
            }
        } else {
            continue;
        }
        finding.why = format!("{}; pool settings: {}", finding.why, pool.describe());
        finding.remediation.splice(0..0, steps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Evidence;
    use crate::model::Severity;

    fn finding(cause: &str, severity: Severity, failed: u64) -> Finding {
        Finding {
            cause: cause.into(),
            title: cause.into(),
            severity,
            confidence: 0.8,
            why: format!("{cause} why"),
            events: failed,
            failed_connections: failed,
            first_seen: Some(1),
            last_seen: Some(2),
            users: vec!["app".into()],
            clients: vec![],
            endpoints: vec![],
            evidence: vec![Evidence::new(None, format!("{cause} line"))],
            remediation: vec![format!("fix {cause}")],
            onset: None,
            alternatives: Vec::new(),
        }
    }

    #[test]
    fn secret_denied_and_missing_decrypt_become_one_finding() {
        let merged = merge(
            vec![
                finding("secret-access-denied", Severity::Critical, 45),
                finding("session-pinning", Severity::Warning, 0),
            ],
            vec![
                finding("proxy-role-cannot-read-secret", Severity::Critical, 0),
                finding("enhanced-logging-off", Severity::Info, 0),
            ],
        );
        let causes: Vec<_> = merged.iter().map(|f| f.cause.as_str()).collect();
        assert_eq!(
            causes,
            [
                "proxy-role-cannot-read-secret",
                "session-pinning",
                "enhanced-logging-off"
            ]
        );
        let top = &merged[0];
        assert_eq!(top.failed_connections, 45);
        assert_eq!(top.evidence.len(), 2);
        assert!(
            top.why
                .contains("the proxy log agrees (secret-access-denied")
        );
        assert_eq!(top.remediation, ["fix proxy-role-cannot-read-secret"]);
    }

    #[test]
    fn unreachable_target_with_a_stopped_database_is_the_database() {
        let merged = merge(
            vec![finding("target-unreachable", Severity::Warning, 0)],
            vec![
                finding("db-not-available", Severity::Critical, 0),
                finding("db-security-group-blocks-proxy", Severity::Critical, 0),
            ],
        );
        assert_eq!(merged[0].cause, "db-not-available");
        assert!(merged[0].why.contains("target-unreachable"));
        assert!(!merged[1].why.contains("target-unreachable"), "folded once");
    }

    #[test]
    fn unrelated_findings_are_kept_apart() {
        let merged = merge(
            vec![finding("tls-required", Severity::Critical, 3)],
            vec![finding("db-not-available", Severity::Critical, 0)],
        );
        assert_eq!(merged.len(), 2);
        assert_eq!(
            merged[0].cause, "tls-required",
            "more failed connections first"
        );
    }

    #[test]
    fn client_timeouts_in_the_app_log_fold_into_the_blocking_rule() {
        let merged = merge(
            vec![finding("client-network-blocked", Severity::Critical, 12)],
            vec![finding(
                "proxy-security-group-blocks-client",
                Severity::Critical,
                0,
            )],
        );
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].cause, "proxy-security-group-blocks-client");
        assert_eq!(merged[0].failed_connections, 12);
        assert_eq!(
            merged[0].remediation,
            ["fix proxy-security-group-blocks-client"]
        );
    }

    #[test]
    fn pool_findings_carry_the_settings_and_fixes_computed_from_them() {
        let pool = PoolSettings {
            max_connections_percent: Some(40),
            max_idle_connections_percent: Some(20),
            connection_borrow_timeout: Some(120),
            session_pinning_filters: vec![],
            init_query: None,
        };
        let mut findings = vec![
            finding("pool-exhausted", Severity::Critical, 30),
            finding("session-pinning", Severity::Warning, 0),
            finding("tls-required", Severity::Critical, 3),
        ];
        with_pool_settings(&mut findings, &pool, "orders", "MYSQL");
        assert!(findings[0].why.contains("MaxConnectionsPercent=40"));
        assert!(findings[0].remediation[0].contains(
            "--db-proxy-name orders --target-group-name default --connection-pool-config MaxConnectionsPercent=80"
        ));
        assert!(findings[0].remediation[1].contains("ConnectionBorrowTimeout=120 s"));
        assert_eq!(findings[0].remediation[2], "fix pool-exhausted");
        assert!(findings[1].remediation[0].contains("SessionPinningFilters=EXCLUDE_VARIABLE_SETS"));
        assert!(findings[1].remediation[1].contains("InitQuery"));
        assert_eq!(findings[2].remediation, ["fix tls-required"]);
        assert!(!findings[2].why.contains("pool settings"));
    }

    #[test]
    fn borrow_timeouts_the_log_could_not_place_are_settled_by_the_control_plane() {
        let ambiguous = || {
            let mut f = finding(log_id::POOL_EXHAUSTED, Severity::Critical, 24);
            f.alternatives = vec![crate::model::Alternative {
                cause: log_id::TARGET_UNREACHABLE.into(),
                why: "w".into(),
                check: "c".into(),
            }];
            f
        };
        // A blocked security group explains them: one finding, the control plane's.
        let merged = merge(
            vec![ambiguous()],
            vec![finding(
                check_id::DB_SECURITY_GROUP_BLOCKS_PROXY,
                Severity::Critical,
                0,
            )],
        );
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].cause, check_id::DB_SECURITY_GROUP_BLOCKS_PROXY);
        assert_eq!(merged[0].failed_connections, 24);
        assert!(merged[0].alternatives.is_empty());
        // A pool-exhausted finding the proxy log confirmed does not pair with it.
        let merged = merge(
            vec![finding(log_id::POOL_EXHAUSTED, Severity::Critical, 24)],
            vec![finding(
                check_id::DB_SECURITY_GROUP_BLOCKS_PROXY,
                Severity::Critical,
                0,
            )],
        );
        assert_eq!(merged.len(), 2);
        // Healthy targets: the pool it is.
        let mut findings = vec![ambiguous()];
        settle_borrow_timeouts(&mut findings, true);
        assert!(findings[0].alternatives.is_empty());
        assert!(findings[0].why.contains("it is the pool, not the target"));
        // Unhealthy or unknown targets: still both.
        let mut findings = vec![ambiguous()];
        settle_borrow_timeouts(&mut findings, false);
        assert_eq!(findings[0].alternatives.len(), 1);
    }
}
