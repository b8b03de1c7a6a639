//! The control-plane snapshot the audit runs on: the proxy, its targets and databases, the
//! security groups and subnets, the proxy's role and its policies, the secrets' KMS keys and
//! the client principal's permission, as plain data. `aws/control.rs` fills it; a part that
//! could not be read is an `Err` with the reason, which skips its checks only.

use std::collections::BTreeMap;

use super::policy::{self, Decision, Policy};
use crate::model::RdsStatus;

/// One entry of the proxy's `Auth[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthEntry {
    pub user_name: Option<String>,
    pub secret_arn: Option<String>,
    pub iam_auth: Option<String>,
    pub client_password_auth_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyInfo {
    pub name: String,
    pub arn: String,
    pub status: RdsStatus,
    pub engine_family: String,
    pub endpoint: Option<String>,
    pub vpc_id: Option<String>,
    pub security_groups: Vec<String>,
    pub subnets: Vec<String>,
    pub role_arn: Option<String>,
    pub require_tls: bool,
    pub debug_logging: bool,
    pub idle_client_timeout: Option<i32>,
    pub auth: Vec<AuthEntry>,
}

impl ProxyInfo {
    /// The `prx-…` resource id (the last part of the ARN), used by `rds-db:connect`.
    pub fn resource_id(&self) -> &str {
        self.arn.rsplit(':').next().unwrap_or("PROXY_RESOURCE_ID")
    }

    pub fn engine_port(&self) -> i32 {
        if self.engine_family.eq_ignore_ascii_case("MYSQL") {
            3306
        } else if self.engine_family.eq_ignore_ascii_case("SQLSERVER") {
            1433
        } else {
            5432
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetInfo {
    pub rds_resource_id: Option<String>,
    pub tracked_cluster_id: Option<String>,
    pub endpoint: Option<String>,
    pub port: Option<i32>,
    pub kind: Option<String>,
    pub state: Option<String>,
    pub reason: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbInfo {
    pub id: String,
    pub is_cluster: bool,
    pub status: RdsStatus,
    pub port: Option<i32>,
    pub security_groups: Vec<String>,
    /// The subnets of its DB subnet group (instances; empty when unknown).
    pub subnets: Vec<String>,
    /// Their IPv4 CIDRs, when they could be read: what an address-range rule must cover.
    pub subnet_cidrs: Option<Vec<String>>,
}

/// A security group rule, flattened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    /// `-1` for all traffic, else `tcp`, `udp`, `icmp` or a number.
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidrs: Vec<String>,
    pub groups: Vec<String>,
    /// IPv6 ranges.
    pub ipv6_cidrs: Vec<String>,
    /// Managed prefix lists: the id, and its CIDRs when they could be read.
    pub prefix_lists: Vec<(String, Option<Vec<String>>)>,
}

impl Rule {
    /// Every address range the rule names: IPv4, IPv6 and the entries of its prefix lists.
    pub fn ranges(&self) -> Vec<&str> {
        self.cidrs
            .iter()
            .chain(&self.ipv6_cidrs)
            .chain(
                self.prefix_lists
                    .iter()
                    .flat_map(|(_, e)| e.iter().flatten()),
            )
            .map(String::as_str)
            .collect()
    }

    /// The prefix lists whose entries could not be read: the rule may match more than
    /// [`Rule::ranges`] says.
    pub fn unread_prefix_lists(&self) -> Vec<&str> {
        self.prefix_lists
            .iter()
            .filter(|(_, e)| e.is_none())
            .map(|(id, _)| id.as_str())
            .collect()
    }

    pub(super) fn covers_tcp(&self, port: i32) -> bool {
        match self.protocol.as_str() {
            "-1" | "all" => true,
            "tcp" | "6" => {
                self.from_port.is_none_or(|f| f <= port) && self.to_port.is_none_or(|t| t >= port)
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleInfo {
    pub arn: String,
    pub trust_policy: String,
    pub policies: Vec<Policy>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretInfo {
    pub arn: String,
    pub kms_key_id: Option<String>,
    /// The key behind `kms_key_id` (KMS DescribeKey and GetKeyPolicy); `None` when the secret
    /// names no key (the AWS managed `aws/secretsmanager`).
    pub key: Option<Result<KeyInfo, String>>,
}

/// A secret's KMS key as KMS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub arn: String,
    /// `KeyManager` is `CUSTOMER`: its key policy decides who may use it.
    pub customer_managed: bool,
    /// The key policy named `default` (GetKeyPolicy), for a customer managed key.
    pub policy: Result<String, String>,
}

/// The client principal to check for `rds-db:connect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCheck {
    pub principal: String,
    pub db_user: String,
    pub policies: Result<Vec<Policy>, String>,
}

/// IAM's own answer (SimulatePrincipalPolicy) for one principal, action and resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulation {
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub decision: Decision,
}

/// The ARN of the customer managed KMS key that encrypts `secret`; `None` for the AWS managed
/// key (`aws/secretsmanager`), which needs no grant.
pub fn secret_key_arn(secret: &SecretInfo, region: &str, account: &str) -> Option<String> {
    if let Some(Ok(key)) = &secret.key {
        return key.customer_managed.then(|| key.arn.clone());
    }
    let key = secret.kms_key_id.as_deref()?;
    if key.ends_with("alias/aws/secretsmanager") {
        return None;
    }
    Some(if key.starts_with("arn:") {
        key.to_string()
    } else if key.starts_with("alias/") {
        format!("arn:aws:kms:{region}:{account}:{key}")
    } else {
        format!("arn:aws:kms:{region}:{account}:key/{key}")
    })
}

/// The `rds-db:connect` resource for `db_user` through the proxy.
pub fn rds_db_resource(region: &str, account: &str, proxy: &ProxyInfo, db_user: &str) -> String {
    format!(
        "arn:aws:rds-db:{region}:{account}:dbuser:{}/{db_user}",
        proxy.resource_id()
    )
}

/// The connection pool of the proxy's default target group (`DescribeDBProxyTargetGroups`
/// `ConnectionPoolConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolSettings {
    /// The share of the database's `max_connections` the proxy may open.
    pub max_connections_percent: Option<i32>,
    pub max_idle_connections_percent: Option<i32>,
    /// Seconds a client waits for a free database connection before its borrow times out.
    pub connection_borrow_timeout: Option<i32>,
    pub session_pinning_filters: Vec<String>,
    pub init_query: Option<String>,
}

impl PoolSettings {
    /// `MaxConnectionsPercent=100, ...` for reports.
    pub fn describe(&self) -> String {
        let n = |v: Option<i32>| v.map_or("unset".to_string(), |v| v.to_string());
        format!(
            "MaxConnectionsPercent={}, MaxIdleConnectionsPercent={}, ConnectionBorrowTimeout={} s, SessionPinningFilters={}, InitQuery={}",
            n(self.max_connections_percent),
            n(self.max_idle_connections_percent),
            n(self.connection_borrow_timeout),
            if self.session_pinning_filters.is_empty() {
                "none".to_string()
            } else {
                self.session_pinning_filters.join(",")
            },
            if self.init_query.as_deref().unwrap_or_default().is_empty() {
                "none"
            } else {
                "set"
            }
        )
    }
}

/// Everything `check` read about one proxy. `Err` holds why a part could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlPlane {
    pub region: String,
    pub account: Option<String>,
    pub proxy: ProxyInfo,
    pub targets: Result<Vec<TargetInfo>, String>,
    pub databases: Vec<Result<DbInfo, String>>,
    pub security_groups: Result<BTreeMap<String, SecurityGroup>, String>,
    /// The proxy's subnets and their IPv4 CIDRs.
    pub subnet_cidrs: Result<Vec<(String, String)>, String>,
    pub role: Result<RoleInfo, String>,
    pub secrets: Vec<Result<SecretInfo, String>>,
    pub client: Option<ClientCheck>,
    /// IAM's simulations where SimulatePrincipalPolicy answered; the evaluator covers the rest.
    pub simulations: Vec<Simulation>,
    /// With `--client`: the clients and the network between them and the proxy.
    pub path: Option<super::client::PathSnapshot>,
    /// The default target group's connection pool.
    pub pool: Result<PoolSettings, String>,
}

impl ControlPlane {
    /// IAM's simulated decision when there is one, else proxydoc's evaluation of `policies`.
    pub(super) fn decide(
        &self,
        principal: &str,
        policies: &[Policy],
        action: &str,
        resource: &str,
        context: &[(&str, &str)],
    ) -> Decision {
        self.simulations
            .iter()
            .find(|s| s.principal == principal && s.action == action && s.resource == resource)
            .map(|s| s.decision.clone())
            .unwrap_or_else(|| policy::evaluate(policies, action, resource, context))
    }

    pub fn account(&self) -> String {
        self.account
            .clone()
            .or_else(|| self.proxy.arn.split(':').nth(4).map(str::to_string))
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "ACCOUNT_ID".into())
    }
}
