//! The control-plane audit behind `proxydoc check`: a snapshot of the proxy's setup in, the
//! results of every check and the findings out.
//!
//! The snapshot ([`ControlPlane`]) is plain data gathered by `aws/`; nothing here calls AWS,
//! so each rule is unit-tested on hand-built snapshots. A part of the snapshot that could not
//! be read (an access error, say) makes its checks `skipped` with the reason, and the other
//! checks still run. Findings use the same structure as the log findings.

pub mod cidr;
pub mod client;
pub mod network;
pub mod policy;
pub mod snapshot;

use std::collections::BTreeMap;

use serde_json::json;

use crate::model::{CheckResult, CheckStatus, Finding, RdsStatus, Severity};
use policy::{Decision, KeyGrant};
pub use snapshot::*;

/// Cause ids of the control-plane checks. A contract: add, never rename.
pub mod id {
    pub const PROXY_NOT_AVAILABLE: &str = "proxy-not-available";
    pub const TARGET_UNAVAILABLE: &str = "target-unavailable";
    pub const DB_NOT_AVAILABLE: &str = "db-not-available";
    pub const DB_SECURITY_GROUP_BLOCKS_PROXY: &str = "db-security-group-blocks-proxy";
    pub const PROXY_EGRESS_BLOCKED: &str = "proxy-egress-blocked";
    pub const PROXY_ROLE_TRUST_MISSING: &str = "proxy-role-trust-missing";
    pub const PROXY_ROLE_CANNOT_READ_SECRET: &str = "proxy-role-cannot-read-secret";
    pub const CLIENT_IAM_NOT_ALLOWED: &str = "client-iam-not-allowed";
    pub const ENHANCED_LOGGING_OFF: &str = "enhanced-logging-off";
    pub const DUPLICATE_AUTH_USER: &str = "duplicate-auth-user";
}

/// Runs every check; returns the results in order and the findings, most important first.
pub fn audit(plane: &ControlPlane) -> (Vec<CheckResult>, Vec<Finding>) {
    let mut audit = Audit {
        plane,
        results: Vec::new(),
        findings: Vec::new(),
    };
    audit.proxy_status();
    audit.settings();
    audit.logging();
    audit.auth_entries();
    audit.targets();
    audit.databases();
    audit.security_groups();
    audit.role_trust();
    audit.role_reads_secrets();
    audit.client_iam();
    audit.pool();
    let Audit {
        mut results,
        mut findings,
        ..
    } = audit;
    if let Some(path) = &plane.path {
        let (more_results, more_findings) = client::audit_client(path, &proxy_side(plane));
        results.extend(more_results);
        findings.extend(more_findings);
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.confidence.total_cmp(&a.confidence))
            .then(a.cause.cmp(&b.cause))
    });
    (results, findings)
}

/// The proxy as the client path sees it.
fn proxy_side(plane: &ControlPlane) -> client::ProxySide {
    let proxy = &plane.proxy;
    client::ProxySide {
        name: proxy.name.clone(),
        vpc_id: proxy.vpc_id.clone().unwrap_or_default(),
        subnets: plane.subnet_cidrs.clone().unwrap_or_default(),
        security_groups: proxy.security_groups.clone(),
        endpoint: proxy.endpoint.clone().unwrap_or_else(|| proxy.name.clone()),
        port: proxy.engine_port(),
    }
}

/// One check's result.
fn check_result(check: &str, status: CheckStatus, detail: String) -> CheckResult {
    CheckResult {
        check: check.to_string(),
        status,
        detail,
    }
}

/// A finding of the control plane: no log events, its evidence the settings that show it.
fn control_plane_finding(
    cause: &str,
    title: &str,
    severity: Severity,
    why: String,
    evidence: Vec<String>,
    remediation: Vec<String>,
    endpoints: Vec<String>,
) -> Finding {
    Finding {
        cause: cause.to_string(),
        title: title.to_string(),
        severity,
        confidence: 0.95,
        why,
        events: evidence.len() as u64,
        failed_connections: 0,
        first_seen: None,
        last_seen: None,
        users: Vec::new(),
        clients: Vec::new(),
        endpoints,
        evidence: evidence
            .into_iter()
            .map(|e| crate::model::Evidence::new(None, e))
            .collect(),
        remediation,
        onset: None,
        alternatives: Vec::new(),
    }
}

struct Audit<'a> {
    plane: &'a ControlPlane,
    results: Vec<CheckResult>,
    findings: Vec<Finding>,
}

impl Audit<'_> {
    fn result(&mut self, check: &str, status: CheckStatus, detail: String) {
        self.results.push(check_result(check, status, detail));
    }

    fn finding(
        &mut self,
        cause: &str,
        title: &str,
        severity: Severity,
        why: String,
        evidence: Vec<String>,
        remediation: Vec<String>,
    ) {
        let endpoints = self.plane.proxy.endpoint.iter().cloned().collect();
        self.findings.push(control_plane_finding(
            cause,
            title,
            severity,
            why,
            evidence,
            remediation,
            endpoints,
        ));
    }

    fn name(&self) -> &str {
        &self.plane.proxy.name
    }

    fn proxy_status(&mut self) {
        let proxy = &self.plane.proxy;
        let status = proxy.status.clone();
        if status.is_available() {
            self.result(
                "proxy-status",
                CheckStatus::Pass,
                format!("proxy {} is available", proxy.name),
            );
            return;
        }
        let hint = match status {
            RdsStatus::Modifying | RdsStatus::Creating => {
                "a change is in progress; connections may fail until it ends"
            }
            RdsStatus::IncompatibleNetwork => {
                "the proxy's VPC or subnets no longer fit (deleted subnet, missing DNS support)"
            }
            RdsStatus::InsufficientResourceLimits => {
                "the subnets are out of free IP addresses (RDS-EVENT-0243)"
            }
            RdsStatus::Suspended | RdsStatus::Suspending => {
                "the proxy is suspended (for example its role or KMS key became unusable)"
            }
            _ => "the proxy does not accept connections in this state",
        };
        self.result(
            "proxy-status",
            CheckStatus::Fail,
            format!("proxy {} is {status}", proxy.name),
        );
        self.finding(
            id::PROXY_NOT_AVAILABLE,
            "The proxy is not available",
            Severity::Critical,
            format!("DescribeDBProxies reports Status `{status}`: {hint}"),
            vec![format!("DBProxyName={} Status={status}", proxy.name)],
            vec![
                format!("Watch the status until it is `available`: `aws rds describe-db-proxies --db-proxy-name {} --query 'DBProxies[0].Status'`", proxy.name),
                format!("Read the proxy's events for the cause: `aws rds describe-events --source-type db-proxy --source-identifier {} --duration 1440`", proxy.name),
            ],
        );
    }

    /// The settings that shape client connections, for the record (no finding of their own).
    fn settings(&mut self) {
        let proxy = &self.plane.proxy;
        let auth: Vec<String> = proxy
            .auth
            .iter()
            .map(|a| {
                format!(
                    "{} (IAMAuth {}, {}, {})",
                    a.user_name.as_deref().unwrap_or("any user in the secret"),
                    a.iam_auth.as_deref().unwrap_or("-"),
                    a.client_password_auth_type
                        .as_deref()
                        .unwrap_or("default auth type"),
                    a.secret_arn.as_deref().unwrap_or("no secret")
                )
            })
            .collect();
        let detail = format!(
            "engine {}, RequireTLS {}, IdleClientTimeout {}, auth: {}",
            proxy.engine_family,
            proxy.require_tls,
            proxy
                .idle_client_timeout
                .map_or("-".to_string(), |t| format!("{t} s")),
            if auth.is_empty() {
                "none".to_string()
            } else {
                auth.join("; ")
            }
        );
        self.result("proxy-settings", CheckStatus::Pass, detail);
    }

    fn logging(&mut self) {
        let name = self.name().to_string();
        if self.plane.proxy.debug_logging {
            self.result(
                "enhanced-logging",
                CheckStatus::Pass,
                "enhanced logging is on (RDS turns it off 24 hours after it was enabled)".into(),
            );
            return;
        }
        self.result(
            "enhanced-logging",
            CheckStatus::Warn,
            "enhanced logging is off".into(),
        );
        self.finding(
            id::ENHANCED_LOGGING_OFF,
            "Enhanced logging is off",
            Severity::Info,
            "DebugLogging is false: authentication failures (such as the proxy's role being unable to read its secret) may not be logged in detail".into(),
            vec![format!("DBProxyName={name} DebugLogging=false")],
            vec![
                format!("For the reproduction only: `aws rds modify-db-proxy --db-proxy-name {name} --debug-logging` (it slows the proxy, costs CloudWatch ingestion, may log SQL text, and RDS turns it off after 24 hours); turn it off after with `--no-debug-logging`"),
            ],
        );
    }

    fn auth_entries(&mut self) {
        let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entry in &self.plane.proxy.auth {
            if let Some(user) = &entry.user_name {
                users
                    .entry(user.clone())
                    .or_default()
                    .push(entry.secret_arn.clone().unwrap_or_default());
            }
        }
        let duplicates: Vec<(String, Vec<String>)> =
            users.into_iter().filter(|(_, s)| s.len() > 1).collect();
        let entries = self.plane.proxy.auth.len();
        if duplicates.is_empty() {
            self.result(
                "auth-entries",
                CheckStatus::Pass,
                format!("{entries} auth entries, no user twice"),
            );
            return;
        }
        self.result(
            "auth-entries",
            CheckStatus::Fail,
            format!(
                "{} database users appear in more than one auth entry",
                duplicates.len()
            ),
        );
        let evidence = duplicates
            .iter()
            .map(|(u, s)| format!("UserName={u} SecretArn={}", s.join(", ")))
            .collect();
        let name = self.name().to_string();
        self.finding(
            id::DUPLICATE_AUTH_USER,
            "Two proxy auth entries for one database user",
            Severity::Critical,
            "the proxy cannot choose between two secrets for the same database user".into(),
            evidence,
            vec![format!("Keep one secret per user: `aws rds modify-db-proxy --db-proxy-name {name} --auth '[…]'` with the duplicate removed (the list replaces the existing one)")],
        );
    }

    fn targets(&mut self) {
        let targets = match &self.plane.targets {
            Ok(targets) => targets.clone(),
            Err(e) => {
                self.result("target-health", CheckStatus::Skipped, e.clone());
                return;
            }
        };
        if targets.is_empty() {
            self.result(
                "target-health",
                CheckStatus::Fail,
                "the proxy has no registered targets".into(),
            );
            let name = self.name().to_string();
            self.finding(
                id::TARGET_UNAVAILABLE,
                "The proxy has no target",
                Severity::Critical,
                "DescribeDBProxyTargets returned no target: the proxy has no database to connect to".into(),
                vec![format!("DBProxyName={name} Targets=[]")],
                vec![format!("Register the database: `aws rds register-db-proxy-targets --db-proxy-name {name} --db-instance-identifiers DB_INSTANCE_ID` (or `--db-cluster-identifiers`)")],
            );
            return;
        }
        let mut bad = Vec::new();
        for target in &targets {
            let state = target.state.clone().unwrap_or_else(|| "UNKNOWN".into());
            if state == "AVAILABLE" {
                continue;
            }
            bad.push(target.clone());
        }
        if bad.is_empty() {
            self.result(
                "target-health",
                CheckStatus::Pass,
                format!("{} targets AVAILABLE", targets.len()),
            );
            return;
        }
        let name = self.name().to_string();
        let port = self.plane.proxy.engine_port();
        for target in bad {
            let id = target
                .rds_resource_id
                .clone()
                .unwrap_or_else(|| "target".into());
            let state = target.state.clone().unwrap_or_else(|| "UNKNOWN".into());
            let reason = target.reason.clone().unwrap_or_default();
            let description = target.description.clone().unwrap_or_default();
            self.result(
                "target-health",
                CheckStatus::Fail,
                format!("{id}: {state} {reason} {description}")
                    .trim()
                    .to_string(),
            );
            let (meaning, steps) = explain_target(&name, &reason, &description, port);
            let severity = if state == "REGISTERING" || reason == "PENDING_PROXY_CAPACITY" {
                Severity::Warning
            } else {
                Severity::Critical
            };
            self.finding(
                id::TARGET_UNAVAILABLE,
                "A proxy target is not available",
                severity,
                format!(
                    "target {id} is {state}{}: {meaning}",
                    if reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({reason})")
                    }
                ),
                vec![format!(
                    "RdsResourceId={id} State={state} Reason={reason} Description={description}"
                )],
                steps,
            );
        }
    }

    fn databases(&mut self) {
        for db in &self.plane.databases {
            match db {
                Err(e) => self.result("db-status", CheckStatus::Skipped, e.clone()),
                Ok(db) if db.status.is_available() => {
                    self.result(
                        "db-status",
                        CheckStatus::Pass,
                        format!("{} is available", db.id),
                    );
                }
                Ok(db) => {
                    self.result(
                        "db-status",
                        CheckStatus::Fail,
                        format!("{} is {}", db.id, db.status),
                    );
                    let (kind, start) = if db.is_cluster {
                        (
                            "cluster",
                            format!("aws rds start-db-cluster --db-cluster-identifier {}", db.id),
                        )
                    } else {
                        (
                            "instance",
                            format!(
                                "aws rds start-db-instance --db-instance-identifier {}",
                                db.id
                            ),
                        )
                    };
                    let mut steps = vec![format!(
                        "The proxy can only connect to an `available` database; the {kind} {} is `{}`",
                        db.id, db.status
                    )];
                    if db.status == RdsStatus::Stopped {
                        steps.push(format!("Start it: `{start}` (a stopped database restarts by itself after 7 days)"));
                    } else {
                        steps.push(format!("Wait for `available`, or read why it is not: `aws rds describe-events --source-identifier {} --source-type db-{kind} --duration 1440`", db.id));
                    }
                    self.finding(
                        id::DB_NOT_AVAILABLE,
                        "The database is not available",
                        Severity::Critical,
                        format!(
                            "the target database {} is `{}`, not `available`",
                            db.id, db.status
                        ),
                        vec![format!(
                            "DB{}Identifier={} Status={}",
                            if db.is_cluster { "Cluster" } else { "Instance" },
                            db.id,
                            db.status
                        )],
                        steps,
                    );
                }
            }
        }
    }

    fn security_groups(&mut self) {
        let groups = match &self.plane.security_groups {
            Ok(groups) => groups,
            Err(e) => {
                self.result("db-ingress-from-proxy", CheckStatus::Skipped, e.clone());
                self.result("proxy-egress-to-db", CheckStatus::Skipped, e.clone());
                return;
            }
        };
        let proxy_sgs = self.plane.proxy.security_groups.clone();
        let subnet_cidrs: Vec<String> = match &self.plane.subnet_cidrs {
            Ok(subnets) => subnets.iter().map(|(_, c)| c.clone()).collect(),
            Err(_) => Vec::new(),
        };
        for db in self.plane.databases.iter().flatten() {
            let port = db.port.unwrap_or_else(|| self.plane.proxy.engine_port());
            // Inbound on the database.
            let allows = db
                .security_groups
                .iter()
                .filter_map(|g| groups.get(g))
                .any(|sg| {
                    sg.ingress.iter().any(|rule| {
                        rule.covers_tcp(port)
                            && (rule.groups.iter().any(|g| proxy_sgs.contains(g))
                                || (!subnet_cidrs.is_empty()
                                    && subnet_cidrs.iter().all(|s| {
                                        rule.ranges().iter().any(|c| cidr_contains(c, s))
                                    })))
                    })
                });
            let proxy_sg = proxy_sgs
                .first()
                .cloned()
                .unwrap_or_else(|| "PROXY_SG_ID".into());
            let db_sg = db
                .security_groups
                .first()
                .cloned()
                .unwrap_or_else(|| "DB_SG_ID".into());
            let unread = db
                .security_groups
                .iter()
                .filter_map(|g| groups.get(g))
                .flat_map(|sg| sg.ingress.iter())
                .filter(|rule| rule.covers_tcp(port))
                .flat_map(|rule| rule.unread_prefix_lists())
                .next();
            if allows {
                self.result(
                    "db-ingress-from-proxy",
                    CheckStatus::Pass,
                    format!("{} accepts TCP {port} from the proxy", db.id),
                );
            } else if let Some(list) = unread {
                self.result(
                    "db-ingress-from-proxy",
                    CheckStatus::Warn,
                    format!("no rule of {} admits the proxy by group or range, but a rule on TCP {port} names prefix list {list}, which could not be read (ec2:GetManagedPrefixListEntries)", db.id),
                );
            } else {
                self.result("db-ingress-from-proxy", CheckStatus::Fail, format!("no inbound rule of {} ({}) accepts TCP {port} from the proxy's groups {} or subnets", db.id, db.security_groups.join(", "), proxy_sgs.join(", ")));
                let evidence = db
                    .security_groups
                    .iter()
                    .filter_map(|g| groups.get(g))
                    .map(|sg| format!("{} inbound: {}", sg.id, describe_rules(&sg.ingress)))
                    .collect();
                let same = db.security_groups.iter().any(|g| proxy_sgs.contains(g));
                self.finding(
                    id::DB_SECURITY_GROUP_BLOCKS_PROXY,
                    "The database's security group does not admit the proxy",
                    Severity::Critical,
                    format!("no inbound rule on {} allows TCP {port} from the proxy's security groups ({}) or its subnets", db.security_groups.join(", "), proxy_sgs.join(", ")),
                    evidence,
                    vec![
                        format!("Add the inbound rule: `aws ec2 authorize-security-group-ingress --group-id {db_sg} --protocol tcp --port {port} --source-group {proxy_sg}`{}", if same { " (proxy and database share this group: the rule references the group itself)" } else { "" }),
                    ],
                );
            }
            // Outbound from the proxy: to the database's groups, or to address ranges that
            // cover all of its subnets (unknown subnets: only an all-addresses rule proves it).
            let mut unproven = None;
            let reaches = proxy_sgs.iter().filter_map(|g| groups.get(g)).any(|sg| {
                sg.egress.iter().any(|rule| {
                    if !rule.covers_tcp(port) {
                        return false;
                    }
                    if rule.groups.iter().any(|g| db.security_groups.contains(g)) {
                        return true;
                    }
                    match ranges_cover(&rule.ranges(), db.subnet_cidrs.as_deref()) {
                        Some(false) if !rule.unread_prefix_lists().is_empty() => {
                            unproven.get_or_insert_with(|| {
                                format!(
                                    "{} allows TCP {port} to prefix list {}, which could not be read",
                                    sg.id,
                                    rule.unread_prefix_lists().join(", ")
                                )
                            });
                            false
                        }
                        Some(covered) => covered,
                        None => {
                            unproven.get_or_insert_with(|| {
                                format!("{} allows TCP {port} to {}", sg.id, rule.cidrs.join(", "))
                            });
                            false
                        }
                    }
                })
            });
            if reaches {
                self.result(
                    "proxy-egress-to-db",
                    CheckStatus::Pass,
                    format!("the proxy may send TCP {port} to {}", db.id),
                );
            } else if let Some(rule) = unproven {
                self.result(
                    "proxy-egress-to-db",
                    CheckStatus::Warn,
                    format!(
                        "{rule}, but the subnets of {} could not be read to tell whether that covers it",
                        db.id
                    ),
                );
            } else {
                self.result(
                    "proxy-egress-to-db",
                    CheckStatus::Fail,
                    format!(
                        "no outbound rule of the proxy's groups ({}) allows TCP {port} to {}",
                        proxy_sgs.join(", "),
                        db.id
                    ),
                );
                let evidence = proxy_sgs
                    .iter()
                    .filter_map(|g| groups.get(g))
                    .map(|sg| format!("{} outbound: {}", sg.id, describe_rules(&sg.egress)))
                    .collect();
                self.finding(
                    id::PROXY_EGRESS_BLOCKED,
                    "The proxy's security group does not let it reach the database",
                    Severity::Critical,
                    format!("no outbound rule on {} allows TCP {port} to the database's security groups ({})", proxy_sgs.join(", "), db.security_groups.join(", ")),
                    evidence,
                    vec![format!("Add the outbound rule: `aws ec2 authorize-security-group-egress --group-id {proxy_sg} --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},UserIdGroupPairs=[{{GroupId={db_sg}}}]'`")],
                );
            }
        }
    }

    /// The pool settings, recorded for the report (diagnose weighs them against the log).
    fn pool(&mut self) {
        match &self.plane.pool {
            Ok(pool) => self.result("pool-settings", CheckStatus::Pass, pool.describe()),
            Err(e) => self.result("pool-settings", CheckStatus::Skipped, e.clone()),
        }
    }

    fn role_trust(&mut self) {
        let role = match &self.plane.role {
            Ok(role) => role.clone(),
            Err(e) => {
                self.result("role-trust", CheckStatus::Skipped, e.clone());
                return;
            }
        };
        if policy::trusts_service(&role.trust_policy, "rds.amazonaws.com") {
            self.result(
                "role-trust",
                CheckStatus::Pass,
                format!("{} trusts rds.amazonaws.com", role.arn),
            );
            return;
        }
        self.result(
            "role-trust",
            CheckStatus::Fail,
            format!("{} does not trust rds.amazonaws.com", role.arn),
        );
        let role_name = role
            .arn
            .rsplit('/')
            .next()
            .unwrap_or("ROLE_NAME")
            .to_string();
        self.finding(
            id::PROXY_ROLE_TRUST_MISSING,
            "The proxy's role does not trust RDS",
            Severity::Critical,
            format!("the trust policy of {} does not let rds.amazonaws.com assume it, so the proxy cannot read its secrets", role.arn),
            vec![format!("AssumeRolePolicyDocument={}", role.trust_policy)],
            vec![format!(
                "Trust RDS: `aws iam update-assume-role-policy --role-name {role_name} --policy-document '{}'`",
                json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {"Service": "rds.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }],
                })
            )],
        );
    }

    fn role_reads_secrets(&mut self) {
        let role = match &self.plane.role {
            Ok(role) => role.clone(),
            Err(e) => {
                self.result("role-reads-secrets", CheckStatus::Skipped, e.clone());
                return;
            }
        };
        let region = self.plane.region.clone();
        let account = self.plane.account();
        let role_name = role
            .arn
            .rsplit('/')
            .next()
            .unwrap_or("ROLE_NAME")
            .to_string();
        for secret in &self.plane.secrets {
            let secret = match secret {
                Ok(secret) => secret.clone(),
                Err(e) => {
                    self.result("role-reads-secrets", CheckStatus::Skipped, e.clone());
                    continue;
                }
            };
            let plane = self.plane;
            let get = plane.decide(
                &role.arn,
                &role.policies,
                "secretsmanager:GetSecretValue",
                &secret.arn,
                &[],
            );
            let key_arn = secret_key_arn(&secret, &region, &account);
            let via = format!("secretsmanager.{region}.amazonaws.com");
            let key_grant = key_arn
                .as_ref()
                .map(|key| self.key_policy(&secret, key, &role.arn, &via));
            let decrypt = key_arn.as_ref().map(|key| {
                let iam = plane.decide(
                    &role.arn,
                    &role.policies,
                    "kms:Decrypt",
                    key,
                    &[("kms:ViaService", via.as_str())],
                );
                let by_key = |what: &str| format!("the key policy of {key} ({what})");
                match (&key_grant, iam) {
                    (_, iam @ Decision::Denied { .. }) => iam,
                    (Some(Ok(KeyGrant::Denied { statement })), _) => Decision::Denied {
                        policy: by_key(statement),
                    },
                    (Some(Ok(KeyGrant::NotAllowed)), _) => Decision::Denied {
                        policy: by_key("it names neither the role nor its account"),
                    },
                    (Some(Ok(KeyGrant::Role { statement })), _) => Decision::Allowed {
                        policy: by_key(statement),
                    },
                    (
                        Some(Ok(KeyGrant::Undecided { statement, why })),
                        Decision::Allowed { .. },
                    ) => Decision::Undecided {
                        policy: by_key(statement),
                        why: why.clone(),
                    },
                    (_, iam) => iam,
                }
            });
            let key_blocks = matches!(
                key_grant,
                Some(Ok(KeyGrant::Denied { .. } | KeyGrant::NotAllowed))
            );
            let mut missing = Vec::new();
            let mut evidence = Vec::new();
            for (action, resource, decision) in [
                (
                    "secretsmanager:GetSecretValue",
                    secret.arn.clone(),
                    Some(get),
                ),
                ("kms:Decrypt", key_arn.clone().unwrap_or_default(), decrypt),
            ] {
                let Some(decision) = decision else { continue };
                match decision {
                    Decision::Allowed { policy } => {
                        evidence.push(format!("{action} on {resource}: allowed by {policy}"))
                    }
                    Decision::Denied { policy } => {
                        evidence.push(format!("{action} on {resource}: denied by {policy}"));
                        missing.push(action);
                    }
                    Decision::NotAllowed => {
                        evidence.push(format!(
                            "{action} on {resource}: no policy of {role_name} allows it"
                        ));
                        missing.push(action);
                    }
                    Decision::Undecided { policy, why } => {
                        evidence.push(format!(
                            "{action} on {resource}: could not decide ({policy}: {why})"
                        ));
                    }
                }
            }
            if missing.is_empty() {
                self.result(
                    "role-reads-secrets",
                    CheckStatus::Pass,
                    format!("{role_name} may read {}", secret.arn),
                );
                continue;
            }
            // What is missing comes first: it is the evidence that matters.
            evidence.sort_by_key(|line| line.contains(": allowed by "));
            self.result(
                "role-reads-secrets",
                CheckStatus::Fail,
                format!(
                    "{role_name} lacks {} for {}",
                    missing.join(" and "),
                    secret.arn
                ),
            );
            let key = key_arn
                .clone()
                .unwrap_or_else(|| format!("arn:aws:kms:{region}:{account}:key/KMS_KEY_ID"));
            let mut fix = Vec::new();
            if missing.contains(&"secretsmanager:GetSecretValue")
                || (missing.contains(&"kms:Decrypt") && !key_blocks)
            {
                fix.push(format!(
                    "Attach: `aws iam put-role-policy --role-name {role_name} --policy-name proxydoc-read-proxy-secret --policy-document '{}'`",
                    json!({
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret.arn},
                            {
                                "Effect": "Allow",
                                "Action": "kms:Decrypt",
                                "Resource": key,
                                "Condition": {"StringEquals": {"kms:ViaService": via}},
                            },
                        ],
                    })
                ));
            }
            if key_blocks {
                fix.push(format!(
                    "The key policy of {key} does not let the role use the key: grant it `aws kms create-grant --key-id {key} --grantee-principal {} --operations Decrypt`, or add to the key policy (`aws kms get-key-policy --key-id {key} --policy-name default`, edit, `aws kms put-key-policy`) a statement allowing {} kms:Decrypt, or one naming the account root so IAM policies decide; remove any Deny statement that names the role",
                    role.arn, role.arn
                ));
            }
            self.finding(
                id::PROXY_ROLE_CANNOT_READ_SECRET,
                "The proxy's role cannot read its secret",
                Severity::Critical,
                format!(
                    "{} may not {} for secret {}",
                    role.arn,
                    missing.join(" and "),
                    secret.arn
                ),
                evidence,
                fix,
            );
        }
    }

    /// The `secret-key-policy` result for the customer managed key `key` of `secret`: what its
    /// key policy says about `role` decrypting through Secrets Manager (`via`).
    fn key_policy(
        &mut self,
        secret: &SecretInfo,
        key: &str,
        role: &str,
        via: &str,
    ) -> Result<KeyGrant, String> {
        let account = self.plane.account();
        let grant = match &secret.key {
            Some(Ok(info)) => info.policy.as_ref().map_err(Clone::clone).map(|document| {
                policy::key_policy_grant(
                    document,
                    role,
                    &account,
                    "kms:Decrypt",
                    key,
                    &[
                        ("kms:ViaService", via),
                        ("kms:CallerAccount", account.as_str()),
                    ],
                )
            }),
            Some(Err(e)) => Err(e.clone()),
            None => Err(format!("{key} was not described")),
        };
        let (status, detail) = match &grant {
            Ok(KeyGrant::Role { statement }) => (
                CheckStatus::Pass,
                format!("the key policy of {key} lets {role} decrypt ({statement})"),
            ),
            Ok(KeyGrant::Account { statement }) => (
                CheckStatus::Pass,
                format!(
                    "the key policy of {key} lets the account's IAM policies decide ({statement})"
                ),
            ),
            Ok(KeyGrant::Denied { statement }) => (
                CheckStatus::Fail,
                format!("the key policy of {key} denies {role} kms:Decrypt ({statement})"),
            ),
            Ok(KeyGrant::NotAllowed) => (
                CheckStatus::Fail,
                format!(
                    "the key policy of {key} names neither {role} nor its account for kms:Decrypt"
                ),
            ),
            Ok(KeyGrant::Undecided { statement, why }) => (
                CheckStatus::Warn,
                format!("the key policy of {key} could not be judged ({statement}: {why})"),
            ),
            Err(e) => (
                CheckStatus::Warn,
                format!("unverified: the key policy of {key} could not be read ({e})"),
            ),
        };
        self.result("secret-key-policy", status, detail);
        grant
    }

    fn client_iam(&mut self) {
        let Some(client) = &self.plane.client else {
            return;
        };
        let resource = rds_db_resource(
            &self.plane.region,
            &self.plane.account(),
            &self.plane.proxy,
            &client.db_user,
        );
        let policies = match &client.policies {
            Ok(policies) => policies,
            Err(e) => {
                self.result("client-rds-db-connect", CheckStatus::Skipped, e.clone());
                return;
            }
        };
        let decision = self.plane.decide(
            &client.principal,
            policies,
            "rds-db:connect",
            &resource,
            &[],
        );
        if decision.is_allowed() {
            self.result(
                "client-rds-db-connect",
                CheckStatus::Pass,
                format!("{} may rds-db:connect to {resource}", client.principal),
            );
            return;
        }
        let detail = match &decision {
            Decision::Denied { policy } => format!("denied by {policy}"),
            Decision::Undecided { policy, why } => format!("could not decide ({policy}: {why})"),
            _ => "no policy allows it".to_string(),
        };
        if matches!(decision, Decision::Undecided { .. }) {
            self.result("client-rds-db-connect", CheckStatus::Warn, detail);
            return;
        }
        self.result(
            "client-rds-db-connect",
            CheckStatus::Fail,
            format!("{}: {detail}", client.principal),
        );
        self.finding(
            id::CLIENT_IAM_NOT_ALLOWED,
            "The client's IAM principal may not connect",
            Severity::Critical,
            format!("{} may not rds-db:connect to {resource} ({detail}); the resource is the proxy's id, not the database's", client.principal),
            vec![format!("rds-db:connect on {resource}: {detail}")],
            vec![format!(
                "Add to {}'s policy: {}",
                client.principal,
                json!({"Effect": "Allow", "Action": "rds-db:connect", "Resource": resource})
            )],
        );
    }
}

fn explain_target(
    proxy: &str,
    reason: &str,
    description: &str,
    port: i32,
) -> (String, Vec<String>) {
    let describe = format!(
        "aws rds describe-db-proxies --db-proxy-name {proxy} --query 'DBProxies[0].[RoleArn,Auth]'"
    );
    match reason {
        "AUTH_FAILURE" => (
            format!("the proxy cannot log in to the database{}: its role cannot read a secret, a secret's credentials do not match the database, or no secret is registered", if description.is_empty() { String::new() } else { format!(" (\"{description}\")") }),
            vec![
                format!("Check the registered secrets and the role: `{describe}`"),
                "Check the role may read each secret (secretsmanager:GetSecretValue, kms:Decrypt) and trusts rds.amazonaws.com (see the role checks)".to_string(),
                "Check each secret's username/password matches the database user's password".to_string(),
            ],
        ),
        "UNREACHABLE" | "CONNECTION_FAILED" => (
            "the proxy cannot open a connection to the database: security groups, network ACLs, a wrong port, or a database that is down".to_string(),
            vec![
                format!("Check the database's security group admits the proxy on TCP {port} and the proxy's outbound rules (see the security group checks)"),
                "Check the database is `available` (see db-status)".to_string(),
            ],
        ),
        "PENDING_PROXY_CAPACITY" => (
            "the proxy is scaling; retry when it has finished".to_string(),
            vec![format!("Watch `aws rds describe-db-proxy-targets --db-proxy-name {proxy}` until the target is AVAILABLE")],
        ),
        _ => (
            if description.is_empty() { "see the target's Reason and Description".to_string() } else { description.to_string() },
            vec![format!("Read the details: `aws rds describe-db-proxy-targets --db-proxy-name {proxy}`")],
        ),
    }
}

fn describe_rules(rules: &[Rule]) -> String {
    if rules.is_empty() {
        return "no rules".to_string();
    }
    rules
        .iter()
        .map(|r| {
            let ports = match (r.protocol.as_str(), r.from_port, r.to_port) {
                ("-1", _, _) => "all traffic".to_string(),
                (p, Some(f), Some(t)) if f == t => format!("{p} {f}"),
                (p, Some(f), Some(t)) => format!("{p} {f}-{t}"),
                (p, _, _) => p.to_string(),
            };
            let sources: Vec<String> = r.groups.iter().chain(&r.cidrs).cloned().collect();
            format!(
                "{ports} from/to {}",
                if sources.is_empty() {
                    "-".into()
                } else {
                    sources.join(",")
                }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether address ranges cover every one of `targets`: `Some(true)` or `Some(false)` when
/// that can be told, `None` when the targets are unknown and no range covers all addresses.
/// No ranges at all cover nothing.
fn ranges_cover(ranges: &[&str], targets: Option<&[String]>) -> Option<bool> {
    if ranges.is_empty() {
        return Some(false);
    }
    if ranges.iter().any(|r| r.ends_with("/0")) {
        return Some(true);
    }
    match targets {
        Some(targets) if !targets.is_empty() => Some(
            targets
                .iter()
                .all(|t| ranges.iter().any(|r| cidr_contains(r, t))),
        ),
        _ => None,
    }
}

/// Whether the CIDR block `outer` contains `inner` (IPv4 or IPv6).
pub fn cidr_contains(outer: &str, inner: &str) -> bool {
    cidr::contains(outer, inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy::Policy;

    const KEY_ARN: &str =
        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    /// The policy KMS gives a key by default: the account's IAM policies decide.
    const DEFAULT_KEY_POLICY: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]}"#;

    fn good() -> ControlPlane {
        let mut groups = BTreeMap::new();
        groups.insert(
            "sg-proxy".to_string(),
            SecurityGroup {
                id: "sg-proxy".into(),
                ingress: vec![],
                egress: vec![Rule {
                    protocol: "-1".into(),
                    cidrs: vec!["0.0.0.0/0".into()],
                    ..Rule::default()
                }],
            },
        );
        groups.insert(
            "sg-db".to_string(),
            SecurityGroup {
                id: "sg-db".into(),
                ingress: vec![Rule {
                    protocol: "tcp".into(),
                    from_port: Some(5432),
                    to_port: Some(5432),
                    groups: vec!["sg-proxy".into()],
                    ..Rule::default()
                }],
                egress: vec![],
            },
        );
        let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbC".to_string();
        ControlPlane {
            region: "us-east-1".into(),
            account: Some("123456789012".into()),
            proxy: ProxyInfo {
                name: "orders".into(),
                arn: "arn:aws:rds:us-east-1:123456789012:db-proxy:prx-0123456789abcdef0".into(),
                status: RdsStatus::Available,
                engine_family: "POSTGRESQL".into(),
                security_groups: vec!["sg-proxy".into()],
                role_arn: Some("arn:aws:iam::123456789012:role/proxy-role".into()),
                debug_logging: true,
                auth: vec![AuthEntry { user_name: Some("app".into()), secret_arn: Some(secret.clone()), ..AuthEntry::default() }],
                ..ProxyInfo::default()
            },
            targets: Ok(vec![TargetInfo { rds_resource_id: Some("db1".into()), state: Some("AVAILABLE".into()), ..TargetInfo::default() }]),
            databases: vec![Ok(DbInfo { id: "db1".into(), is_cluster: false, status: RdsStatus::Available, port: Some(5432), security_groups: vec!["sg-db".into()], subnets: vec!["subnet-db".into()], subnet_cidrs: Some(vec!["10.0.20.0/24".into()]) })],
            security_groups: Ok(groups),
            subnet_cidrs: Ok(vec![("subnet-1".into(), "10.0.1.0/24".into())]),
            role: Ok(RoleInfo {
                arn: "arn:aws:iam::123456789012:role/proxy-role".into(),
                trust_policy: r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"rds.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#.into(),
                policies: vec![Policy { name: "read".into(), document: format!(r#"{{"Statement":[{{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"{secret}"}},{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}}}}}]}}"#) }],
            }),
            secrets: vec![Ok(SecretInfo {
                arn: secret,
                kms_key_id: Some("1234abcd-12ab-34cd-56ef-1234567890ab".into()),
                key: Some(Ok(KeyInfo {
                    arn: KEY_ARN.into(),
                    customer_managed: true,
                    policy: Ok(DEFAULT_KEY_POLICY.into()),
                })),
            })],
            client: None,
            simulations: Vec::new(),
            path: None,
            pool: Ok(PoolSettings {
                max_connections_percent: Some(100),
                max_idle_connections_percent: Some(50),
                connection_borrow_timeout: Some(120),
                ..PoolSettings::default()
            }),
        }
    }

    fn causes(plane: &ControlPlane) -> Vec<String> {
        audit(plane).1.into_iter().map(|f| f.cause).collect()
    }

    #[test]
    fn a_good_setup_has_no_findings() {
        let (results, findings) = audit(&good());
        assert!(findings.is_empty(), "{findings:?}");
        assert!(
            results.iter().all(|r| r.status == CheckStatus::Pass),
            "{results:?}"
        );
    }

    #[test]
    fn each_misconfiguration_has_its_finding() {
        let mut plane = good();
        plane.proxy.status = RdsStatus::Modifying;
        assert_eq!(causes(&plane), [id::PROXY_NOT_AVAILABLE]);

        let mut plane = good();
        plane.targets = Ok(vec![TargetInfo {
            rds_resource_id: Some("db1".into()),
            state: Some("UNAVAILABLE".into()),
            reason: Some("AUTH_FAILURE".into()),
            description: Some("Proxy does not have any registered credentials".into()),
            ..TargetInfo::default()
        }]);
        let (_, findings) = audit(&plane);
        assert_eq!(findings[0].cause, id::TARGET_UNAVAILABLE);
        assert!(
            findings[0]
                .why
                .contains("Proxy does not have any registered credentials")
        );

        let mut plane = good();
        plane.databases = vec![Ok(DbInfo {
            status: "stopped".into(),
            ..plane.databases[0].clone().unwrap()
        })];
        assert_eq!(causes(&plane), [id::DB_NOT_AVAILABLE]);

        let mut plane = good();
        if let Ok(groups) = &mut plane.security_groups {
            groups.get_mut("sg-db").unwrap().ingress.clear();
        }
        let (_, findings) = audit(&plane);
        assert_eq!(findings[0].cause, id::DB_SECURITY_GROUP_BLOCKS_PROXY);
        assert!(
            findings[0].remediation[0]
                .contains("--group-id sg-db --protocol tcp --port 5432 --source-group sg-proxy")
        );

        let mut plane = good();
        if let Ok(groups) = &mut plane.security_groups {
            groups.get_mut("sg-proxy").unwrap().egress.clear();
        }
        assert_eq!(causes(&plane), [id::PROXY_EGRESS_BLOCKED]);

        let mut plane = good();
        if let Ok(role) = &mut plane.role {
            role.trust_policy = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#.into();
        }
        assert_eq!(causes(&plane), [id::PROXY_ROLE_TRUST_MISSING]);

        let mut plane = good();
        if let Ok(role) = &mut plane.role {
            role.policies = vec![Policy { name: "only-get".into(), document: r#"{"Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#.into() }];
        }
        let (_, findings) = audit(&plane);
        assert_eq!(findings[0].cause, id::PROXY_ROLE_CANNOT_READ_SECRET);
        assert!(
            findings[0].why.contains("kms:Decrypt"),
            "{}",
            findings[0].why
        );
        assert!(
            !findings[0].why.contains("GetSecretValue and"),
            "{}",
            findings[0].why
        );

        let mut plane = good();
        plane.proxy.debug_logging = false;
        let (_, findings) = audit(&plane);
        assert_eq!(findings[0].cause, id::ENHANCED_LOGGING_OFF);
        assert_eq!(findings[0].severity, Severity::Info);
    }

    fn with_key_policy(plane: &mut ControlPlane, policy: Result<&str, &str>) {
        if let Some(Ok(secret)) = plane.secrets.first_mut()
            && let Some(Ok(key)) = &mut secret.key
        {
            key.policy = policy.map(str::to_string).map_err(str::to_string);
        }
    }

    fn result_of(plane: &ControlPlane, check: &str) -> CheckResult {
        let (results, _) = audit(plane);
        results
            .into_iter()
            .find(|r| r.check == check)
            .unwrap_or_else(|| panic!("no {check} result"))
    }

    /// A customer managed key: its key policy, not only the role's IAM policies, decides.
    #[test]
    fn customer_managed_key_policy_table() {
        let plane = good();
        assert_eq!(
            result_of(&plane, "secret-key-policy").status,
            CheckStatus::Pass
        );

        // The key policy names another role only: the IAM policy's Allow is not enough.
        let mut other = good();
        with_key_policy(
            &mut other,
            Ok(
                r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/admin"},"Action":"kms:*","Resource":"*"}]}"#,
            ),
        );
        assert_eq!(
            result_of(&other, "secret-key-policy").status,
            CheckStatus::Fail
        );
        let (_, findings) = audit(&other);
        assert_eq!(findings[0].cause, id::PROXY_ROLE_CANNOT_READ_SECRET);
        assert!(
            findings[0].why.contains("kms:Decrypt"),
            "{}",
            findings[0].why
        );
        assert!(findings[0].remediation.iter().any(|f| f.contains(&format!("aws kms create-grant --key-id {KEY_ARN} --grantee-principal arn:aws:iam::123456789012:role/proxy-role --operations Decrypt"))), "{:?}", findings[0].remediation);
        // The role's IAM policy already allows the action: no put-role-policy to paste.
        assert!(
            !findings[0]
                .remediation
                .iter()
                .any(|f| f.contains("put-role-policy")),
            "{:?}",
            findings[0].remediation
        );

        // A Deny naming the role wins over the account's delegation.
        let mut denied = good();
        with_key_policy(&mut denied, Ok(&DEFAULT_KEY_POLICY.replace("]}", r#",{"Sid":"NoProxy","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/proxy-role"},"Action":"kms:Decrypt","Resource":"*"}]}"#)));
        let (_, findings) = audit(&denied);
        assert!(
            findings[0]
                .evidence
                .iter()
                .any(|e| e.text.contains("\"NoProxy\"")),
            "{:?}",
            findings[0].evidence
        );

        // The key policy names the role: no IAM statement for kms:Decrypt is needed.
        let mut direct = good();
        with_key_policy(
            &mut direct,
            Ok(
                r#"{"Statement":[{"Sid":"Proxy","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/proxy-role"},"Action":"kms:Decrypt","Resource":"*"}]}"#,
            ),
        );
        if let Ok(role) = &mut direct.role {
            role.policies = vec![Policy { name: "get".into(), document: r#"{"Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#.into() }];
        }
        assert!(causes(&direct).is_empty(), "{:?}", causes(&direct));

        // Unreadable: said to be unverified, never a finding.
        let mut unread = good();
        with_key_policy(
            &mut unread,
            Err("GetKeyPolicy on the key was denied; grant kms:GetKeyPolicy"),
        );
        let result = result_of(&unread, "secret-key-policy");
        assert_eq!(result.status, CheckStatus::Warn);
        assert!(result.detail.starts_with("unverified"), "{}", result.detail);
        assert!(causes(&unread).is_empty());

        // The AWS managed key: no key policy check at all.
        let mut managed = good();
        if let Some(Ok(secret)) = managed.secrets.first_mut() {
            secret.key = Some(Ok(KeyInfo {
                arn: KEY_ARN.into(),
                customer_managed: false,
                policy: Err("not read".into()),
            }));
        }
        let (results, _) = audit(&managed);
        assert!(!results.iter().any(|r| r.check == "secret-key-policy"));
    }

    #[test]
    fn aws_managed_key_needs_no_decrypt_grant() {
        let mut plane = good();
        plane.secrets = vec![Ok(SecretInfo {
            arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbC".into(),
            kms_key_id: None,
            key: None,
        })];
        if let Ok(role) = &mut plane.role {
            role.policies = vec![Policy { name: "get".into(), document: r#"{"Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#.into() }];
        }
        assert!(causes(&plane).is_empty());
    }

    #[test]
    fn client_rds_db_connect_uses_the_proxy_resource_id() {
        let mut plane = good();
        plane.client = Some(ClientCheck {
            principal: "arn:aws:iam::123456789012:role/app".into(),
            db_user: "app".into(),
            policies: Ok(vec![Policy { name: "db".into(), document: r#"{"Statement":[{"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFG/app"}]}"#.into() }]),
        });
        let (_, findings) = audit(&plane);
        assert_eq!(findings[0].cause, id::CLIENT_IAM_NOT_ALLOWED);
        assert!(findings[0].remediation[0].contains("dbuser:prx-0123456789abcdef0/app"));
        if let Some(client) = &mut plane.client {
            client.policies = Ok(vec![Policy { name: "db".into(), document: r#"{"Statement":[{"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/*"}]}"#.into() }]);
        }
        assert!(causes(&plane).is_empty());
    }

    #[test]
    fn unreadable_parts_skip_their_checks_only() {
        let mut plane = good();
        plane.role = Err("iam:GetRole denied".into());
        let (results, findings) = audit(&plane);
        assert!(findings.is_empty());
        assert!(
            results
                .iter()
                .any(|r| r.check == "role-trust" && r.status == CheckStatus::Skipped)
        );
        assert!(
            results
                .iter()
                .any(|r| r.check == "db-status" && r.status == CheckStatus::Pass)
        );
    }

    #[test]
    fn iam_simulation_wins_over_the_evaluator() {
        let mut plane = good();
        let key = secret_key_arn(
            plane.secrets[0].as_ref().unwrap(),
            "us-east-1",
            "123456789012",
        )
        .unwrap();
        plane.simulations.push(Simulation {
            principal: "arn:aws:iam::123456789012:role/proxy-role".into(),
            action: "kms:Decrypt".into(),
            resource: key,
            decision: Decision::Denied {
                policy: "permissions boundary".into(),
            },
        });
        let (_, findings) = audit(&plane);
        assert_eq!(findings[0].cause, id::PROXY_ROLE_CANNOT_READ_SECRET);
        assert!(
            findings[0]
                .evidence
                .iter()
                .any(|e| e.text.contains("denied by permissions boundary"))
        );
    }

    #[test]
    fn cidrs() {
        assert!(cidr_contains("10.0.0.0/16", "10.0.1.0/24"));
        assert!(cidr_contains("0.0.0.0/0", "192.168.1.1"));
        assert!(!cidr_contains("10.0.1.0/24", "10.0.0.0/16"));
        assert!(!cidr_contains("10.1.0.0/16", "10.0.1.0/24"));
        assert!(!cidr_contains("bad", "10.0.0.0/8"));
    }

    /// (proxy's outbound rule, database subnets' CIDRs, expected status, a finding or not).
    #[test]
    fn an_egress_rule_counts_only_when_it_covers_the_database() {
        let tcp = |cidrs: &[&str], groups: &[&str]| Rule {
            protocol: "tcp".into(),
            from_port: Some(5432),
            to_port: Some(5432),
            cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Rule::default()
        };
        let known = Some(vec!["10.0.20.0/24".to_string()]);
        let cases = [
            (
                tcp(&[], &["sg-db"]),
                known.clone(),
                CheckStatus::Pass,
                false,
            ),
            (tcp(&["0.0.0.0/0"], &[]), None, CheckStatus::Pass, false),
            (
                tcp(&["10.0.0.0/16"], &[]),
                known.clone(),
                CheckStatus::Pass,
                false,
            ),
            (
                tcp(&["10.0.99.0/24"], &[]),
                known.clone(),
                CheckStatus::Fail,
                true,
            ),
            (tcp(&["10.0.0.0/16"], &[]), None, CheckStatus::Warn, false),
            (tcp(&[], &["sg-other"]), None, CheckStatus::Fail, true),
            // A prefix list that could not be read proves nothing either way.
            (
                Rule {
                    prefix_lists: vec![("pl-1".into(), None)],
                    ..tcp(&[], &[])
                },
                known.clone(),
                CheckStatus::Warn,
                false,
            ),
            (
                Rule {
                    prefix_lists: vec![("pl-1".into(), Some(vec!["10.0.0.0/8".into()]))],
                    ..tcp(&[], &[])
                },
                known.clone(),
                CheckStatus::Pass,
                false,
            ),
            (
                Rule {
                    from_port: Some(3306),
                    to_port: Some(3306),
                    ..tcp(&["0.0.0.0/0"], &[])
                },
                known,
                CheckStatus::Fail,
                true,
            ),
        ];
        for (rule, cidrs, status, finding) in cases {
            let mut plane = good();
            if let Ok(groups) = &mut plane.security_groups {
                groups.get_mut("sg-proxy").unwrap().egress = vec![rule.clone()];
            }
            if let Ok(db) = &mut plane.databases[0] {
                db.subnet_cidrs = cidrs.clone();
            }
            let (results, findings) = audit(&plane);
            let egress = results
                .iter()
                .find(|r| r.check == "proxy-egress-to-db")
                .unwrap();
            assert_eq!(
                egress.status, status,
                "{rule:?} {cidrs:?}: {}",
                egress.detail
            );
            assert_eq!(
                findings.iter().any(|f| f.cause == id::PROXY_EGRESS_BLOCKED),
                finding,
                "{rule:?} {cidrs:?}"
            );
        }
    }
}
