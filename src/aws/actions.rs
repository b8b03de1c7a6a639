//! Every AWS call proxydoc makes, with the IAM action it needs and what it is for: the one
//! table that error messages ("grant rds:DescribeDBProxies on …"), `proxydoc iam-policy` and
//! the README's permission lists are made from. A test reads `src/aws/` and fails when a call
//! is made that this table does not list, or listed that is never made.

use serde_json::{Value, json};

/// What a group of calls is for; a command needs one or more of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Purpose {
    /// Reading the proxy's CloudWatch log groups (`analyze --proxy`, `diagnose`, `tail --poll`).
    ReadLogs,
    /// Logs Insights queries (`analyze --engine insights`).
    Insights,
    /// Live Tail (`tail`).
    LiveTail,
    /// The control-plane audit (`check`, `diagnose`).
    Audit,
    /// The client's network path (`check --client`, `diagnose --client`).
    ClientPath,
    /// Turning enhanced logging on and off (`logging`, `tail --enable-logging`).
    Logging,
}

impl Purpose {
    /// The policy statement's `Sid`.
    pub fn sid(self) -> &'static str {
        match self {
            Purpose::ReadLogs => "ReadProxyLogs",
            Purpose::Insights => "LogsInsightsQueries",
            Purpose::LiveTail => "LiveTail",
            Purpose::Audit => "AuditControlPlane",
            Purpose::ClientPath => "AuditClientNetworkPath",
            Purpose::Logging => "ToggleEnhancedLogging",
        }
    }
}

/// One SDK operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The SDK method the code calls (`describe_db_proxies`).
    pub operation: &'static str,
    /// The IAM action (`rds:DescribeDBProxies`).
    pub action: &'static str,
    /// Whether IAM checks the action at all (`sts:GetCallerIdentity` is always allowed).
    pub needs_permission: bool,
    /// Whether proxydoc works without it (it says what it could not check instead).
    pub optional: bool,
    /// The resources the action can be limited to (`*` when it has no resource-level
    /// permissions).
    pub resource: &'static str,
    pub purposes: &'static [Purpose],
    pub why: &'static str,
}

impl Call {
    /// The API name (`DescribeDBProxies`), as error messages say it.
    pub fn name(&self) -> &'static str {
        self.action
            .split_once(':')
            .map_or(self.action, |(_, name)| name)
    }
}

const fn call(
    operation: &'static str,
    action: &'static str,
    purposes: &'static [Purpose],
    why: &'static str,
) -> Call {
    Call {
        operation,
        action,
        needs_permission: true,
        optional: false,
        resource: "*",
        purposes,
        why,
    }
}

use Purpose::{Audit, ClientPath, Insights, LiveTail, Logging, ReadLogs};

const PROXY_ARN: &str = "arn:aws:rds:*:*:db-proxy:*";

pub const FILTER_LOG_EVENTS: Call = call(
    "filter_log_events",
    "logs:FilterLogEvents",
    &[ReadLogs, Insights],
    "read the proxy's log lines (Insights: a sample of lines)",
);
pub const DESCRIBE_LOG_GROUPS: Call = call(
    "describe_log_groups",
    "logs:DescribeLogGroups",
    &[ReadLogs, Insights],
    "find the proxy's log group, its ARN and stored size",
);
pub const START_QUERY: Call = call(
    "start_query",
    "logs:StartQuery",
    &[Insights],
    "run the catalogue's Logs Insights queries",
);
pub const GET_QUERY_RESULTS: Call = call(
    "get_query_results",
    "logs:GetQueryResults",
    &[Insights],
    "read the queries' results",
);
pub const STOP_QUERY: Call = call(
    "stop_query",
    "logs:StopQuery",
    &[Insights],
    "stop queries that are no longer needed (budget, interrupt)",
);
pub const START_LIVE_TAIL: Call = call(
    "start_live_tail",
    "logs:StartLiveTail",
    &[LiveTail],
    "stream the proxy's log lines as they are written",
);
pub const DESCRIBE_DB_PROXIES: Call = call(
    "describe_db_proxies",
    "rds:DescribeDBProxies",
    &[Audit, Logging],
    "the proxy's status, VPC, subnets, security groups, auth, role and logging setting",
);
pub const DESCRIBE_DB_PROXY_TARGET_GROUPS: Call = call(
    "describe_db_proxy_target_groups",
    "rds:DescribeDBProxyTargetGroups",
    &[Audit],
    "the pool settings (MaxConnectionsPercent, borrow timeout, session pinning filters)",
);
pub const DESCRIBE_DB_PROXY_TARGETS: Call = call(
    "describe_db_proxy_targets",
    "rds:DescribeDBProxyTargets",
    &[Audit],
    "the targets and their TargetHealth",
);
pub const DESCRIBE_DB_PROXY_ENDPOINTS: Call = call(
    "describe_db_proxy_endpoints",
    "rds:DescribeDBProxyEndpoints",
    &[ClientPath],
    "the proxy's endpoints and their VPCs (a client may use a cross-VPC endpoint)",
);
pub const DESCRIBE_DB_INSTANCES: Call = call(
    "describe_db_instances",
    "rds:DescribeDBInstances",
    &[Audit],
    "the database's status, port and security groups",
);
pub const DESCRIBE_DB_CLUSTERS: Call = call(
    "describe_db_clusters",
    "rds:DescribeDBClusters",
    &[Audit],
    "an Aurora cluster's status, port and security groups",
);
pub const LIST_TAGS_FOR_RESOURCE: Call = Call {
    resource: PROXY_ARN,
    ..call(
        "list_tags_for_resource",
        "rds:ListTagsForResource",
        &[Logging],
        "the tags proxydoc leaves on a proxy whose logging it turned on (when to turn it off)",
    )
};
pub const MODIFY_DB_PROXY: Call = Call {
    resource: PROXY_ARN,
    ..call(
        "modify_db_proxy",
        "rds:ModifyDBProxy",
        &[Logging],
        "turn enhanced logging (DebugLogging) on and off",
    )
};
pub const ADD_TAGS_TO_RESOURCE: Call = Call {
    resource: PROXY_ARN,
    ..call(
        "add_tags_to_resource",
        "rds:AddTagsToResource",
        &[Logging],
        "record on the proxy when proxydoc turned logging on and until when",
    )
};
pub const REMOVE_TAGS_FROM_RESOURCE: Call = Call {
    resource: PROXY_ARN,
    ..call(
        "remove_tags_from_resource",
        "rds:RemoveTagsFromResource",
        &[Logging],
        "remove those tags when logging is turned off",
    )
};
pub const DESCRIBE_SECURITY_GROUPS: Call = call(
    "describe_security_groups",
    "ec2:DescribeSecurityGroups",
    &[Audit, ClientPath],
    "the rules between client, proxy and database",
);
pub const DESCRIBE_SUBNETS: Call = call(
    "describe_subnets",
    "ec2:DescribeSubnets",
    &[Audit, ClientPath],
    "the proxy's subnets and their VPC and zones; a client address's subnet",
);
pub const GET_MANAGED_PREFIX_LIST_ENTRIES: Call = call(
    "get_managed_prefix_list_entries",
    "ec2:GetManagedPrefixListEntries",
    &[Audit],
    "the addresses of a prefix list a security group rule names",
);
pub const DESCRIBE_INSTANCES: Call = call(
    "describe_instances",
    "ec2:DescribeInstances",
    &[ClientPath],
    "a --client instance's subnet, groups and instance profile",
);
pub const DESCRIBE_NETWORK_INTERFACES: Call = call(
    "describe_network_interfaces",
    "ec2:DescribeNetworkInterfaces",
    &[ClientPath],
    "a --client interface or address",
);
pub const DESCRIBE_ROUTE_TABLES: Call = call(
    "describe_route_tables",
    "ec2:DescribeRouteTables",
    &[ClientPath],
    "routes between the client's and the proxy's subnets",
);
pub const DESCRIBE_NETWORK_ACLS: Call = call(
    "describe_network_acls",
    "ec2:DescribeNetworkAcls",
    &[ClientPath],
    "the network ACLs of both subnets, both ways",
);
pub const DESCRIBE_VPC_PEERING_CONNECTIONS: Call = call(
    "describe_vpc_peering_connections",
    "ec2:DescribeVpcPeeringConnections",
    &[ClientPath],
    "a peering between the client's VPC and the proxy's",
);
pub const DESCRIBE_TRANSIT_GATEWAY_ATTACHMENTS: Call = call(
    "describe_transit_gateway_attachments",
    "ec2:DescribeTransitGatewayAttachments",
    &[ClientPath],
    "whether both VPCs are attached to a Transit Gateway a route names",
);
pub const GET_FUNCTION_CONFIGURATION: Call = call(
    "get_function_configuration",
    "lambda:GetFunctionConfiguration",
    &[ClientPath],
    "a --client Lambda function's VPC, subnets, groups and role",
);
pub const GET_INSTANCE_PROFILE: Call = call(
    "get_instance_profile",
    "iam:GetInstanceProfile",
    &[ClientPath],
    "the role of a --client instance's instance profile",
);
pub const GET_ROLE: Call = call(
    "get_role",
    "iam:GetRole",
    &[Audit],
    "the proxy role's trust policy (rds.amazonaws.com), a client role",
);
pub const LIST_ROLE_POLICIES: Call = call(
    "list_role_policies",
    "iam:ListRolePolicies",
    &[Audit],
    "a role's inline policies",
);
pub const GET_ROLE_POLICY: Call = call(
    "get_role_policy",
    "iam:GetRolePolicy",
    &[Audit],
    "an inline policy of a role",
);
pub const LIST_ATTACHED_ROLE_POLICIES: Call = call(
    "list_attached_role_policies",
    "iam:ListAttachedRolePolicies",
    &[Audit],
    "a role's managed policies",
);
pub const LIST_USER_POLICIES: Call = call(
    "list_user_policies",
    "iam:ListUserPolicies",
    &[Audit],
    "a --client-principal user's inline policies",
);
pub const GET_USER_POLICY: Call = call(
    "get_user_policy",
    "iam:GetUserPolicy",
    &[Audit],
    "an inline policy of that user",
);
pub const LIST_ATTACHED_USER_POLICIES: Call = call(
    "list_attached_user_policies",
    "iam:ListAttachedUserPolicies",
    &[Audit],
    "that user's managed policies",
);
pub const GET_POLICY: Call = call(
    "get_policy",
    "iam:GetPolicy",
    &[Audit],
    "a managed policy's default version",
);
pub const GET_POLICY_VERSION: Call = call(
    "get_policy_version",
    "iam:GetPolicyVersion",
    &[Audit],
    "a managed policy's document",
);
pub const SIMULATE_PRINCIPAL_POLICY: Call = Call {
    optional: true,
    ..call(
        "simulate_principal_policy",
        "iam:SimulatePrincipalPolicy",
        &[Audit],
        "ask IAM itself whether the proxy's role may read its secret and a client may rds-db:connect (with permission boundaries); without it proxydoc evaluates the policies it read",
    )
};
pub const DESCRIBE_SECRET: Call = call(
    "describe_secret",
    "secretsmanager:DescribeSecret",
    &[Audit],
    "the secret's KMS key and rotation (never its value)",
);
pub const DESCRIBE_KEY: Call = Call {
    optional: true,
    ..call(
        "describe_key",
        "kms:DescribeKey",
        &[Audit],
        "whether the secret's key is customer managed",
    )
};
pub const GET_KEY_POLICY: Call = Call {
    optional: true,
    ..call(
        "get_key_policy",
        "kms:GetKeyPolicy",
        &[Audit],
        "whether a customer managed key's policy lets the proxy's role decrypt",
    )
};
pub const GET_CALLER_IDENTITY: Call = Call {
    needs_permission: false,
    ..call(
        "get_caller_identity",
        "sts:GetCallerIdentity",
        &[Audit, Logging],
        "the account, and who turned logging on (always allowed)",
    )
};

/// Every call, in the order the README lists them.
pub const CALLS: &[Call] = &[
    FILTER_LOG_EVENTS,
    DESCRIBE_LOG_GROUPS,
    START_QUERY,
    GET_QUERY_RESULTS,
    STOP_QUERY,
    START_LIVE_TAIL,
    DESCRIBE_DB_PROXIES,
    DESCRIBE_DB_PROXY_TARGET_GROUPS,
    DESCRIBE_DB_PROXY_TARGETS,
    DESCRIBE_DB_INSTANCES,
    DESCRIBE_DB_CLUSTERS,
    DESCRIBE_SECURITY_GROUPS,
    DESCRIBE_SUBNETS,
    GET_MANAGED_PREFIX_LIST_ENTRIES,
    GET_ROLE,
    LIST_ROLE_POLICIES,
    GET_ROLE_POLICY,
    LIST_ATTACHED_ROLE_POLICIES,
    LIST_USER_POLICIES,
    GET_USER_POLICY,
    LIST_ATTACHED_USER_POLICIES,
    GET_POLICY,
    GET_POLICY_VERSION,
    SIMULATE_PRINCIPAL_POLICY,
    DESCRIBE_SECRET,
    DESCRIBE_KEY,
    GET_KEY_POLICY,
    GET_CALLER_IDENTITY,
    DESCRIBE_DB_PROXY_ENDPOINTS,
    DESCRIBE_INSTANCES,
    DESCRIBE_NETWORK_INTERFACES,
    DESCRIBE_ROUTE_TABLES,
    DESCRIBE_NETWORK_ACLS,
    DESCRIBE_VPC_PEERING_CONNECTIONS,
    DESCRIBE_TRANSIT_GATEWAY_ATTACHMENTS,
    GET_FUNCTION_CONFIGURATION,
    GET_INSTANCE_PROFILE,
    LIST_TAGS_FOR_RESOURCE,
    MODIFY_DB_PROXY,
    ADD_TAGS_TO_RESOURCE,
    REMOVE_TAGS_FROM_RESOURCE,
];

/// The commands `iam-policy` knows, with what each needs.
pub const COMMANDS: &[(&str, &[Purpose], &str)] = &[
    (
        "analyze",
        &[ReadLogs],
        "analyze --proxy/--log-group (files need nothing)",
    ),
    ("insights", &[Insights], "analyze --engine insights"),
    (
        "check",
        &[Audit, ClientPath],
        "check (ClientPath only with --client)",
    ),
    (
        "diagnose",
        &[ReadLogs, Audit, ClientPath],
        "diagnose (ClientPath only with --client)",
    ),
    ("logging", &[Logging], "logging enable/disable/status"),
    (
        "tail",
        &[LiveTail, ReadLogs, Logging],
        "tail (ReadLogs: --poll; Logging: --enable-logging)",
    ),
];

/// The purposes of `commands` (all commands when empty), or the unknown command's name.
pub fn purposes(commands: &[String]) -> Result<Vec<Purpose>, String> {
    let mut out = Vec::new();
    let all: Vec<&str> = COMMANDS.iter().map(|(name, _, _)| *name).collect();
    let asked: Vec<&str> = if commands.is_empty() {
        all
    } else {
        commands.iter().map(String::as_str).collect()
    };
    for name in asked {
        let (_, purposes, _) = COMMANDS
            .iter()
            .find(|(known, _, _)| *known == name)
            .ok_or_else(|| name.to_string())?;
        out.extend(purposes.iter().copied());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The least-privilege policy for `purposes`: a statement per purpose and resource, each
/// action once (in the first purpose that needs it), actions IAM does not check left out.
pub fn policy(purposes: &[Purpose]) -> Value {
    let mut taken: Vec<&str> = Vec::new();
    let mut statements = Vec::new();
    for &purpose in purposes {
        let mut by_resource: Vec<(&str, Vec<&str>)> = Vec::new();
        for call in CALLS.iter().filter(|c| c.needs_permission) {
            if !call.purposes.contains(&purpose) || taken.contains(&call.action) {
                continue;
            }
            taken.push(call.action);
            match by_resource.iter_mut().find(|(r, _)| *r == call.resource) {
                Some((_, actions)) => actions.push(call.action),
                None => by_resource.push((call.resource, vec![call.action])),
            }
        }
        for (resource, mut actions) in by_resource {
            actions.sort_unstable();
            // Actions limited to proxies get their own statement.
            let sid = if resource == "*" {
                purpose.sid().to_string()
            } else {
                format!("{}OnProxies", purpose.sid())
            };
            statements.push(json!({
                "Sid": sid,
                "Effect": "Allow",
                "Action": actions,
                "Resource": resource,
            }));
        }
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The README's permission table: per call, its action, what it is for and which commands
/// need it.
pub fn markdown() -> String {
    let mut out = String::from("| IAM action | needed by | for |\n|---|---|---|\n");
    for call in CALLS {
        let commands: Vec<&str> = COMMANDS
            .iter()
            .filter(|(_, purposes, _)| purposes.iter().any(|p| call.purposes.contains(p)))
            .map(|(name, _, _)| *name)
            .collect();
        let mut note = String::new();
        if call.optional {
            note.push_str(" (optional)");
        }
        if !call.needs_permission {
            note.push_str(" (needs no permission)");
        }
        if call.purposes.contains(&ClientPath) && !call.purposes.contains(&Audit) {
            note.push_str(" (with `--client`)");
        }
        out.push_str(&format!(
            "| `{}`{note} | {} | {} |\n",
            call.action,
            commands.join(", "),
            call.why
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_once_and_named() {
        for (i, call) in CALLS.iter().enumerate() {
            assert!(call.action.contains(':'), "{}", call.action);
            assert!(!call.purposes.is_empty(), "{}", call.action);
            assert!(
                CALLS[..i].iter().all(|c| c.operation != call.operation),
                "{} twice",
                call.operation
            );
        }
        assert_eq!(DESCRIBE_DB_PROXIES.name(), "DescribeDBProxies");
    }

    #[test]
    fn policies_are_least_privilege_per_command() {
        let policy = |commands: &[&str]| {
            let commands: Vec<String> = commands.iter().map(|c| c.to_string()).collect();
            super::policy(&purposes(&commands).unwrap())
        };
        let actions = |p: &Value| -> Vec<String> {
            p["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["Action"].as_array().unwrap().clone())
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        };
        let analyze = actions(&policy(&["analyze"]));
        assert_eq!(analyze, ["logs:DescribeLogGroups", "logs:FilterLogEvents"]);
        let logging = policy(&["logging"]);
        assert!(actions(&logging).contains(&"rds:ModifyDBProxy".to_string()));
        assert!(!actions(&logging).iter().any(|a| a.starts_with("logs:")));
        // Writes are limited to proxies; sts:GetCallerIdentity needs no permission.
        let statements = logging["Statement"].as_array().unwrap();
        let write = statements
            .iter()
            .find(|s| {
                s["Action"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("rds:ModifyDBProxy"))
            })
            .unwrap();
        assert_eq!(write["Resource"], PROXY_ARN);
        assert!(!actions(&policy(&[])).iter().any(|a| a.starts_with("sts:")));
        // No action twice, even when several commands need it.
        let all = actions(&policy(&[]));
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(all.len(), unique.len());
        assert_eq!(purposes(&["nope".to_string()]), Err("nope".to_string()));
        // Never the secret's value.
        assert!(!all.iter().any(|a| a == "secretsmanager:GetSecretValue"));
    }
}
