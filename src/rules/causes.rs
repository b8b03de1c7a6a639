//! The built-in causes: title, severity and remediation steps with the values found filled in.
//!
//! Steps follow the manual checklist (`checklist.md`). Where the logs do not hold a value (the
//! proxy's resource id, security group ids) the step names a placeholder in capitals and the
//! command that finds it.

use serde_json::json;

use crate::aggregate::{CauseStats, Summary};
use crate::model::Severity;
use crate::rules::id;

/// A built-in cause.
pub struct Cause {
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub remediation: fn(&Fill, &CauseStats) -> Vec<String>,
}

pub const CAUSES: &[Cause] = &[
    Cause {
        id: id::IAM_AUTH_FAILED,
        title: "IAM database authentication refused",
        severity: Severity::Critical,
        remediation: iam_auth_failed,
    },
    Cause {
        id: id::PASSWORD_AUTH_FAILED,
        title: "Wrong password for the proxy's secret",
        severity: Severity::Critical,
        remediation: password_auth_failed,
    },
    Cause {
        id: id::NO_SECRET_FOR_USER,
        title: "The proxy has no secret for this database user",
        severity: Severity::Critical,
        remediation: no_secret_for_user,
    },
    Cause {
        id: id::SECRET_ACCESS_DENIED,
        title: "The proxy's IAM role cannot read its secret",
        severity: Severity::Critical,
        remediation: secret_access_denied,
    },
    Cause {
        id: id::DUPLICATE_AUTH_USER,
        title: "Two proxy auth entries for one database user",
        severity: Severity::Critical,
        remediation: duplicate_auth_user,
    },
    Cause {
        id: id::TLS_REQUIRED,
        title: "TLS required but the client connected without it",
        severity: Severity::Critical,
        remediation: tls_required,
    },
    Cause {
        id: id::TLS_HANDSHAKE_FAILED,
        title: "TLS handshake with the proxy failed",
        severity: Severity::Critical,
        remediation: tls_handshake_failed,
    },
    Cause {
        id: id::TLS_CERTIFICATE_UNTRUSTED,
        title: "The client does not trust the proxy's TLS certificate",
        severity: Severity::Critical,
        remediation: tls_certificate_untrusted,
    },
    Cause {
        id: id::PROXY_ENDPOINT_UNRESOLVED,
        title: "The proxy endpoint's name does not resolve",
        severity: Severity::Critical,
        remediation: proxy_endpoint_unresolved,
    },
    Cause {
        id: id::PROXY_SUBNETS_FULL,
        title: "The proxy's subnets have too few free IP addresses",
        severity: Severity::Critical,
        remediation: proxy_subnets_full,
    },
    Cause {
        id: id::TARGET_UNREACHABLE,
        title: "The proxy cannot reach its database",
        severity: Severity::Critical,
        remediation: target_unreachable,
    },
    Cause {
        id: id::POOL_EXHAUSTED,
        title: "Connection pool exhausted (borrow timeouts)",
        severity: Severity::Critical,
        remediation: pool_exhausted,
    },
    Cause {
        id: id::CLIENT_CONNECTION_LIMIT,
        title: "Client connection limit or rate exceeded",
        severity: Severity::Critical,
        remediation: client_connection_limit,
    },
    Cause {
        id: id::CLIENT_NETWORK_BLOCKED,
        title: "Clients cannot reach the proxy (network)",
        severity: Severity::Critical,
        remediation: client_network_blocked,
    },
    Cause {
        id: id::SESSION_PINNING,
        title: "Sessions pinned to database connections",
        severity: Severity::Warning,
        remediation: session_pinning,
    },
    Cause {
        id: id::UNSUPPORTED_CLIENT,
        title: "Client uses something the proxy does not support",
        severity: Severity::Critical,
        remediation: unsupported_client,
    },
    Cause {
        id: id::DB_ERROR,
        title: "The database behind the proxy returned an error",
        severity: Severity::Critical,
        remediation: db_error,
    },
    Cause {
        id: id::APP_POOL_EXHAUSTED,
        title: "The application's own connection pool ran out",
        severity: Severity::Warning,
        remediation: app_pool_exhausted,
    },
];

pub fn lookup(cause: &str) -> Option<&'static Cause> {
    CAUSES.iter().find(|c| c.id == cause)
}

/// Values from the logs used in remediation text, with placeholders for what is unknown.
pub struct Fill {
    pub region: String,
    pub account: String,
    pub proxy: String,
    pub proxy_host: String,
    pub port: String,
    pub role_arns: Vec<String>,
    pub secret_arns: Vec<String>,
}

impl Fill {
    pub fn new(summary: &Summary) -> Fill {
        let context = &summary.context;
        let proxy_host = context.proxy_hosts.iter().next().cloned();
        // `name.proxy-id.region…` names the proxy; `endpoint.endpoint.proxy-…` does not.
        let proxy = proxy_host
            .as_deref()
            .filter(|h| !h.contains(".endpoint.proxy-"))
            .and_then(|h| h.split('.').next())
            .map_or_else(|| "PROXY_NAME".to_string(), str::to_string);
        let port = match context.db_ports.iter().next() {
            Some(port) => port.clone(),
            None => match context.engines.iter().next().map(String::as_str) {
                Some("mysql") => "3306".to_string(),
                Some("postgresql") => "5432".to_string(),
                _ => "DB_PORT".to_string(),
            },
        };
        Fill {
            region: context
                .regions
                .iter()
                .next()
                .cloned()
                .unwrap_or_else(|| "REGION".into()),
            account: context
                .accounts
                .iter()
                .next()
                .cloned()
                .unwrap_or_else(|| "ACCOUNT_ID".into()),
            proxy,
            proxy_host: proxy_host.unwrap_or_else(|| "PROXY_ENDPOINT".to_string()),
            port,
            role_arns: context.role_arns.iter().cloned().collect(),
            secret_arns: context.secret_arns.iter().cloned().collect(),
        }
    }

    fn port_note(&self) -> String {
        if self.port == "DB_PORT" {
            " (DB_PORT: 3306 for MySQL, 5432 for PostgreSQL, or the database's custom port)".into()
        } else {
            String::new()
        }
    }
}

/// The users a fix names: the ten with the most events (a fleet's thousands of users would
/// make a policy statement longer than IAM accepts), or `DB_USER` when no line named one.
fn users(stats: &CauseStats) -> Vec<String> {
    let mut users: Vec<String> = stats
        .users
        .iter()
        .take(FIX_USERS)
        .map(|(u, _)| u.clone())
        .collect();
    if users.is_empty() {
        users.push("DB_USER".to_string());
    }
    users
}

/// The most users a fix names.
const FIX_USERS: usize = 10;

/// The users a fix names, joined, with how many more the cause had.
fn users_text(stats: &CauseStats) -> String {
    let users = users(stats);
    let more = stats.user_count.saturating_sub(users.len());
    if more > 0 {
        format!(
            "{} (and {more} more user{})",
            users.join(", "),
            if more == 1 { "" } else { "s" }
        )
    } else {
        users.join(", ")
    }
}

fn describe_auth(fill: &Fill) -> String {
    format!(
        "aws rds describe-db-proxies --db-proxy-name {} --query 'DBProxies[0].Auth[].[UserName,SecretArn,IAMAuth,ClientPasswordAuthType]'",
        fill.proxy
    )
}

fn iam_auth_failed(fill: &Fill, stats: &CauseStats) -> Vec<String> {
    let users = users(stats);
    let resources: Vec<String> = users
        .iter()
        .map(|u| {
            format!(
                "arn:aws:rds-db:{}:{}:dbuser:PROXY_RESOURCE_ID/{u}",
                fill.region, fill.account
            )
        })
        .collect();
    let tls_off = stats
        .evidence
        .iter()
        .any(|e| e.text.contains("with TLS off"));
    let mut steps = vec![
        format!(
            "Find the proxy's resource id (the `prx-…` last part of its ARN; IAM policies use it, not the database's id): `aws rds describe-db-proxies --db-proxy-name {} --query 'DBProxies[0].DBProxyArn' --output text`",
            fill.proxy
        ),
        format!(
            "Allow the client's IAM user or role to connect as {}: add the statement {} to its policy",
            users_text(stats),
            json!({"Effect": "Allow", "Action": "rds-db:connect", "Resource": resources})
        ),
        format!(
            "Generate the token for the proxy endpoint, port and region, with the same user name the client logs in with (tokens last 15 minutes): `aws rds generate-db-auth-token --hostname {} --port {} --username {} --region {}`",
            fill.proxy_host, fill.port, users[0], fill.region
        ),
        "Connect with TLS: IAM authentication through RDS Proxy is refused on plaintext connections".to_string(),
        format!(
            "If the client meant to use a password, its user has an Auth entry with IAMAuth=REQUIRED; check with `{}`",
            describe_auth(fill)
        ),
    ];
    if tls_off {
        steps.insert(
            0,
            "The failing attempts used TLS off: enable TLS in the client first".to_string(),
        );
    }
    steps
}

fn password_auth_failed(fill: &Fill, stats: &CauseStats) -> Vec<String> {
    let users = users_text(stats);
    vec![
        format!(
            "The password the client sends for {users} must equal the `password` in the Secrets Manager secret the proxy uses for that user; find the secret with `{}`",
            describe_auth(fill)
        ),
        "After a rotation the proxy reads only the AWSCURRENT version: update the clients' password (or have them read the secret) instead of using the previous one".to_string(),
        format!(
            "Check that the secret also matches the database's own password for the user, or the proxy cannot log in to the database either (target health AUTH_FAILURE): `aws rds describe-db-proxy-targets --db-proxy-name {} --query 'Targets[].TargetHealth'`",
            fill.proxy
        ),
        "MySQL clients see ERROR 1045 also when the proxy cannot read its secret: if the proxy log has `Credentials couldn't be retrieved`, fix secret-access-denied first".to_string(),
    ]
}

fn no_secret_for_user(fill: &Fill, stats: &CauseStats) -> Vec<String> {
    let users = users(stats);
    vec![
        format!(
            "Create a Secrets Manager secret for {} holding {} (the username must match exactly, including case)",
            users_text(stats),
            json!({"username": users[0], "password": "…"})
        ),
        format!(
            "Register it with the proxy; `--auth` replaces the whole list, so repeat the existing entries (see `{}`): `aws rds modify-db-proxy --db-proxy-name {} --auth '[…existing entries…,{}]'`",
            describe_auth(fill),
            fill.proxy,
            json!({
                "AuthScheme": "SECRETS",
                "SecretArn": format!("arn:aws:secretsmanager:{}:{}:secret:NAME", fill.region, fill.account),
                "IAMAuth": "DISABLED",
            })
        ),
        "Allow the proxy's IAM role to read the new secret (secretsmanager:GetSecretValue, and kms:Decrypt on its key)".to_string(),
        "With alternating-users rotation the user name in AWSCURRENT changes: register a secret for each user, or use single-user rotation".to_string(),
    ]
}

fn secret_access_denied(fill: &Fill, _stats: &CauseStats) -> Vec<String> {
    let role = fill
        .role_arns
        .first()
        .cloned()
        .unwrap_or_else(|| "PROXY_ROLE_ARN".into());
    let role_name = role
        .rsplit('/')
        .next()
        .unwrap_or("PROXY_ROLE_NAME")
        .to_string();
    let secrets = if fill.secret_arns.is_empty() {
        vec![format!(
            "arn:aws:secretsmanager:{}:{}:secret:NAME",
            fill.region, fill.account
        )]
    } else {
        fill.secret_arns.clone()
    };
    vec![
        format!(
            "Give the proxy's role {role} read access to {}: `aws iam put-role-policy --role-name {role_name} --policy-name proxydoc-read-proxy-secret --policy-document '{}'`",
            secrets.join(", "),
            json!({
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secrets},
                    {
                        "Effect": "Allow",
                        "Action": "kms:Decrypt",
                        "Resource": format!("arn:aws:kms:{}:{}:key/KMS_KEY_ID", fill.region, fill.account),
                        "Condition": {"StringEquals": {"kms:ViaService": format!("secretsmanager.{}.amazonaws.com", fill.region)}},
                    },
                ],
            })
        ),
        format!(
            "Find KMS_KEY_ID: `aws secretsmanager describe-secret --secret-id {} --query KmsKeyId` (none means the AWS managed key aws/secretsmanager, which needs no grant); a customer managed key's key policy must allow the role too",
            secrets[0]
        ),
        format!(
            "The role must trust RDS: `aws iam get-role --role-name {role_name} --query Role.AssumeRolePolicyDocument` must allow {}",
            json!({
                "Effect": "Allow",
                "Principal": {"Service": "rds.amazonaws.com"},
                "Action": "sts:AssumeRole",
            })
        ),
        format!(
            "If the proxy's subnets have no route to Secrets Manager (no NAT gateway), add an interface VPC endpoint for com.amazonaws.{}.secretsmanager that accepts HTTPS (443) from the proxy's security group",
            fill.region
        ),
        format!(
            "Then check the targets turn AVAILABLE: `aws rds describe-db-proxy-targets --db-proxy-name {} --query 'Targets[].TargetHealth'`",
            fill.proxy
        ),
    ]
}

fn duplicate_auth_user(fill: &Fill, stats: &CauseStats) -> Vec<String> {
    vec![
        format!(
            "More than one Auth entry resolves to user {}; list them with `{}`",
            users_text(stats),
            describe_auth(fill)
        ),
        format!(
            "Keep one secret per database user: `aws rds modify-db-proxy --db-proxy-name {} --auth '[…]'` with the duplicate removed (the list replaces the existing one)",
            fill.proxy
        ),
    ]
}

fn tls_required(fill: &Fill, stats: &CauseStats) -> Vec<String> {
    let iam = stats.details.iter().any(|(d, _)| d.contains("IAM"));
    let mut steps = vec![
        "Connect with TLS. PostgreSQL: `sslmode=require` (or `verify-full`); MySQL: `--ssl-mode=REQUIRED` (or `VERIFY_IDENTITY`); JDBC: `sslmode=require` / `sslMode=REQUIRED`".to_string(),
        "To verify the certificate, trust the Amazon Root CAs (RDS Proxy uses ACM certificates, not the RDS CA bundle)".to_string(),
    ];
    if iam {
        steps.push(
            "IAM authentication always needs TLS, whatever the proxy's RequireTLS says".into(),
        );
    }
    steps.push(format!(
        "Only if plaintext is acceptable for this proxy: `aws rds modify-db-proxy --db-proxy-name {} --no-require-tls`",
        fill.proxy
    ));
    steps
}

fn tls_handshake_failed(_fill: &Fill, _stats: &CauseStats) -> Vec<String> {
    vec![
        "Use a client TLS library that supports TLS 1.2 or later".to_string(),
        "Trust the Amazon Root CAs: RDS Proxy presents ACM certificates, not ones from the RDS CA bundle".to_string(),
        "Connect to the proxy's DNS name (certificate verification fails on IP addresses or CNAMEs the certificate does not cover)".to_string(),
    ]
}

fn tls_certificate_untrusted(fill: &Fill, _stats: &CauseStats) -> Vec<String> {
    vec![
        "RDS Proxy presents certificates from AWS Certificate Manager, signed by Amazon's public root CAs, not by the RDS CA bundle (rds-ca-*): trust Amazon Root CA 1 (https://www.amazontrust.com/repository/AmazonRootCA1.pem) or the system's store".to_string(),
        format!(
            "PostgreSQL clients: `sslmode=verify-full sslrootcert=/path/to/AmazonRootCA1.pem` (or `sslrootcert=system` with libpq 16+); MySQL clients: `--ssl-mode=VERIFY_IDENTITY --ssl-ca=/path/to/AmazonRootCA1.pem`; Node: pass `ssl: {{ ca: fs.readFileSync('AmazonRootCA1.pem') }}` instead of the RDS bundle; Java: the JDK's default truststore already holds Amazon's roots, so drop a truststore that has only the RDS CAs"
        ),
        format!(
            "Connect to the proxy's own DNS name{}: the certificate covers `*.proxy-….rds.amazonaws.com`, not an IP address or a CNAME of your own",
            if fill.proxy_host.is_empty() {
                String::new()
            } else {
                format!(" ({})", fill.proxy_host)
            }
        ),
    ]
}

fn proxy_endpoint_unresolved(fill: &Fill, stats: &CauseStats) -> Vec<String> {
    let host = if fill.proxy_host.is_empty() {
        "PROXY_ENDPOINT".to_string()
    } else {
        fill.proxy_host.clone()
    };
    let mut steps = vec![
        format!(
            "Check the name against the proxy's real endpoints: `aws rds describe-db-proxies --query 'DBProxies[].[DBProxyName,Endpoint]'` and `aws rds describe-db-proxy-endpoints --db-proxy-name {} --query 'DBProxyEndpoints[].[DBProxyEndpointName,Endpoint,Status]'` (a deleted or renamed proxy, a typo, or another Region)",
            if fill.proxy.is_empty() { "PROXY_NAME" } else { &fill.proxy }
        ),
        format!(
            "Resolve it from the client: `dig +short {host}` (or `nslookup {host}`); a proxy endpoint resolves only to private addresses in its VPC"
        ),
        "From another VPC or on premises: resolve through the proxy's VPC (VPC DNS with enableDnsSupport and enableDnsHostnames, a Route 53 Resolver inbound endpoint for an on-premises resolver, DNS resolution across the peering); a public resolver cannot help".to_string(),
    ];
    if stats.details.iter().any(|(d, _)| {
        d.to_lowercase().contains("eai_again") || d.to_lowercase().contains("temporary failure")
    }) {
        steps.push("A temporary failure (EAI_AGAIN) is the resolver itself not answering: check the client's DNS settings and the VPC's resolver (the .2 address of the VPC CIDR)".to_string());
    }
    steps
}

fn proxy_subnets_full(fill: &Fill, _stats: &CauseStats) -> Vec<String> {
    vec![
        format!(
            "Find the proxy's subnets and their free addresses: `aws rds describe-db-proxies --db-proxy-name {} --query 'DBProxies[0].VpcSubnetIds'`, then `aws ec2 describe-subnets --subnet-ids SUBNET_IDS --query 'Subnets[].[SubnetId,AvailableIpAddressCount]'`",
            if fill.proxy.is_empty() { "PROXY_NAME" } else { &fill.proxy }
        ),
        "RDS Proxy scales its capacity by adding network interfaces in its subnets: free addresses there (remove unused interfaces), or give the proxy subnets with more free addresses (`aws rds modify-db-proxy` cannot change subnets; create the proxy again or add a proxy endpoint in larger subnets)".to_string(),
    ]
}

fn target_unreachable(fill: &Fill, _stats: &CauseStats) -> Vec<String> {
    let port = &fill.port;
    vec![
        format!(
            "Check target health: `aws rds describe-db-proxy-targets --db-proxy-name {}`; TargetHealth.State must be AVAILABLE, Reason and Description say why not",
            fill.proxy
        ),
        "Check the database is `available`: `aws rds describe-db-instances --db-instance-identifier DB_INSTANCE_ID --query 'DBInstances[0].DBInstanceStatus'` (Aurora: `aws rds describe-db-clusters --db-cluster-identifier DB_CLUSTER_ID --query 'DBClusters[0].Status'`)".to_string(),
        format!(
            "The database's security group must allow inbound TCP {port} from the proxy's security group{}: `aws ec2 authorize-security-group-ingress --group-id DB_SG_ID --protocol tcp --port {port} --source-group PROXY_SG_ID` (one shared group needs this rule referencing itself)",
            fill.port_note()
        ),
        format!(
            "The proxy's security group must allow outbound TCP {port} to the database (an all-traffic 0.0.0.0/0 outbound rule covers it): `aws ec2 authorize-security-group-egress --group-id PROXY_SG_ID --ip-permissions 'IpProtocol=tcp,FromPort={port},ToPort={port},UserIdGroupPairs=[{{GroupId=DB_SG_ID}}]'`"
        ),
        format!(
            "PROXY_SG_ID: `aws rds describe-db-proxies --db-proxy-name {} --query 'DBProxies[0].VpcSecurityGroupIds'`; DB_SG_ID: `aws rds describe-db-instances --db-instance-identifier DB_INSTANCE_ID --query 'DBInstances[0].VpcSecurityGroups'`",
            fill.proxy
        ),
    ]
}

fn pool_exhausted(fill: &Fill, _stats: &CauseStats) -> Vec<String> {
    vec![
        "Compare DatabaseConnections with MaxDatabaseConnectionsAllowed, and DatabaseConnectionsBorrowLatency, in the proxy's CloudWatch metrics for the same minutes".to_string(),
        format!(
            "Give the pool room: `aws rds modify-db-proxy-target-group --db-proxy-name {} --target-group-name default --connection-pool-config MaxConnectionsPercent=90` (or a larger instance / higher max_connections)",
            fill.proxy
        ),
        "Reduce pinning: a pinned session holds its database connection until it ends (see session-pinning)".to_string(),
        "Keep transactions short and client pools smaller than the proxy's pool; close idle sessions".to_string(),
        format!(
            "Rule out an unavailable database at the same time: `aws rds describe-db-proxy-targets --db-proxy-name {}`",
            fill.proxy
        ),
    ]
}

fn client_connection_limit(fill: &Fill, stats: &CauseStats) -> Vec<String> {
    let kinds: Vec<&str> = stats.details.iter().map(|(d, _)| d.as_str()).collect();
    let mut steps = vec![format!(
        "The proxy refused clients over its limits ({}): spread connection attempts with client-side pooling and exponential backoff with jitter; avoid connection storms on deploys and Lambda scale-out",
        if kinds.is_empty() {
            "connections".to_string()
        } else {
            kinds.join(", ")
        }
    )];
    if kinds.iter().any(|k| k.contains("IAM")) {
        steps.push("Reuse IAM tokens for their 15 minutes instead of generating one per connection, and keep connections open".into());
    }
    steps.push(format!(
        "Look for throttling events (RDS-EVENT-0275): `aws rds describe-events --source-type db-proxy --source-identifier {} --duration 1440`",
        fill.proxy
    ));
    steps
}

fn app_pool_exhausted(_fill: &Fill, stats: &CauseStats) -> Vec<String> {
    // The patterns set `reason` to the pool's library.
    let pools: Vec<String> = stats
        .details
        .iter()
        .map(|(library, n)| format!("{library} ×{n}"))
        .collect();
    let pools = if pools.is_empty() {
        String::new()
    } else {
        format!(" ({})", pools.join(", "))
    };
    vec![
        format!(
            "This is the application's own pool{pools}, not the proxy's: no connection to the proxy was attempted. Proxy findings ranked above this one (borrow timeouts, a database that is not available, pinning) make every pooled connection wait: fix those first"
        ),
        "Find what holds the pool's connections: long transactions, and connections never returned (HikariCP `leakDetectionThreshold`; SQLAlchemy sessions not closed; Knex queries outside their transaction's `.transacting(trx)`; .NET connections not disposed)".to_string(),
        "Compare the pool's size with the requests in flight at the peak: behind RDS Proxy a larger application pool is cheap, as the proxy multiplexes client connections onto its own database connections (watch the proxy's `ClientConnections` metric and its target group's `MaxConnectionsPercent`)".to_string(),
    ]
}

fn client_network_blocked(fill: &Fill, _stats: &CauseStats) -> Vec<String> {
    let port = &fill.port;
    vec![
        format!(
            "RDS Proxy has no public endpoint: run the client inside the proxy's VPC, or reach it through VPC peering, a transit gateway, a VPN or Direct Connect ({})",
            fill.proxy_host
        ),
        format!(
            "The proxy's security group must allow inbound TCP {port} from the client{}: `aws ec2 authorize-security-group-ingress --group-id PROXY_SG_ID --protocol tcp --port {port} --source-group CLIENT_SG_ID` (or `--cidr CLIENT_CIDR`)",
            fill.port_note()
        ),
        format!(
            "Check the NACLs and route tables of both subnets, then test from the client host: `nc -zv {} {port}`",
            fill.proxy_host
        ),
        "No `A new client connected` line for this client in the proxy log confirms the traffic is dropped before the proxy".to_string(),
    ]
}

fn session_pinning(fill: &Fill, stats: &CauseStats) -> Vec<String> {
    let mut steps = Vec::new();
    let details: Vec<&str> = stats.details.iter().map(|(d, _)| d.as_str()).collect();
    if details
        .iter()
        .any(|d| d.contains("parse message") || d.contains("prepared statement"))
    {
        steps.push("Prepared statements pin the session: turn off server-side prepared statements in the driver (for example pgJDBC `prepareThreshold=0`, pgx simple protocol, Prisma `pgbouncer=true`)".to_string());
    }
    let digests: Vec<&str> = details
        .iter()
        .copied()
        .filter(|d| {
            !d.contains("parse message")
                && !d.contains(" was detected")
                && !d.contains("exceeded the")
        })
        .take(3)
        .collect();
    if details.iter().any(|d| d.contains("session settings")) || !digests.is_empty() {
        steps.push(format!(
            "Move session settings{} into the proxy's initialization query: `aws rds modify-db-proxy-target-group --db-proxy-name {} --target-group-name default --connection-pool-config 'InitQuery=SET …'`; on MySQL, SessionPinningFilters=EXCLUDE_VARIABLE_SETS stops variable SETs from pinning",
            if digests.is_empty() { String::new() } else { format!(" ({})", digests.join("; ")) },
            fill.proxy
        ));
    }
    if details.iter().any(|d| d.contains("16384")) {
        steps.push(
            "Keep statements under 16 KB: longer statement text pins the session".to_string(),
        );
    }
    steps.push("Watch DatabaseConnectionsCurrentlySessionPinned; pinned sessions each hold a database connection, which leads to borrow timeouts under load".to_string());
    steps
}

fn unsupported_client(fill: &Fill, stats: &CauseStats) -> Vec<String> {
    let details: Vec<&str> = stats.details.iter().map(|(d, _)| d.as_str()).collect();
    let mut steps = Vec::new();
    if details.is_empty()
        || details.iter().any(|d| {
            d.contains("MD5") || d.contains("SCRAM") || d.starts_with(',') || d.starts_with(" or")
        })
    {
        steps.push(format!(
            "Match the client's password mechanism to the Auth entry's ClientPasswordAuthType (POSTGRES_SCRAM_SHA_256 or POSTGRES_MD5; MySQL: MYSQL_NATIVE_PASSWORD or MYSQL_CACHING_SHA2_PASSWORD); check with `{}`",
            describe_auth(fill)
        ));
    }
    if details
        .iter()
        .any(|d| d.contains("replication") || d.contains("option") || d.contains("protocol"))
    {
        steps.push("Remove the unsupported startup option, or connect replication and old-protocol clients to the database endpoint instead of the proxy".to_string());
    }
    if details.iter().any(|d| d.contains("user name")) {
        steps.push("Set a user name in the client's connection settings".to_string());
    }
    if details
        .iter()
        .any(|d| d.contains("ucs2") || d.contains("utf"))
    {
        steps.push("Use a supported character_set_client (utf8mb4)".to_string());
    }
    steps
}

fn db_error(_fill: &Fill, stats: &CauseStats) -> Vec<String> {
    let mut steps = Vec::new();
    if stats
        .details
        .iter()
        .any(|(d, _)| d.contains("does not exist"))
    {
        steps.push("Check the database name in the client's connection settings (PostgreSQL uses the user name when none is given); list databases on the instance directly".to_string());
    }
    if stats.evidence.iter().any(|e| e.text.contains("pg_hba")) {
        steps.push("The database rejected the proxy's connection in pg_hba: check the parameter group (for example rds.force_ssl) and that the secret's user may connect to that database".to_string());
    }
    steps.push(
        "Read the database's own log for the same minutes: the proxy passes these errors through"
            .to_string(),
    );
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill() -> Fill {
        Fill {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            proxy: "orders".into(),
            proxy_host: "orders.proxy-abc.us-east-1.rds.amazonaws.com".into(),
            port: "5432".into(),
            role_arns: Vec::new(),
            secret_arns: Vec::new(),
        }
    }

    fn stats(users: usize) -> CauseStats {
        CauseStats {
            cause: "iam-auth-failed".into(),
            events: 100,
            first: None,
            last: None,
            users: (0..users.min(100))
                .map(|i| (format!("svc_{i}"), 100 - i as u64))
                .collect(),
            clients: Vec::new(),
            endpoints: Vec::new(),
            details: Vec::new(),
            user_count: users,
            user_first: Vec::new(),
            patterns: Vec::new(),
            evidence: Vec::new(),
        }
    }

    /// A fleet's thousands of failing users make a fix naming ten of them and counting the
    /// rest: a policy statement of every user would exceed what IAM accepts.
    #[test]
    fn fixes_name_ten_users_and_count_the_rest() {
        let steps = iam_auth_failed(&fill(), &stats(4_901));
        let allow = steps
            .iter()
            .find(|s| s.starts_with("Allow the client's IAM user"))
            .expect("the rds-db:connect step");
        assert!(allow.contains("svc_0, svc_1,"), "{allow}");
        assert!(allow.contains("svc_9 (and 4891 more users)"), "{allow}");
        assert!(!allow.contains("svc_10"), "{allow}");
        assert_eq!(allow.matches("dbuser:PROXY_RESOURCE_ID/").count(), 10);

        let steps = password_auth_failed(&fill(), &stats(11));
        assert!(
            steps[0].contains("svc_9 (and 1 more user) must"),
            "{}",
            steps[0]
        );

        let steps = password_auth_failed(&fill(), &stats(2));
        assert!(steps[0].contains("for svc_0, svc_1 must"), "{}", steps[0]);
        let steps = password_auth_failed(&fill(), &stats(0));
        assert!(steps[0].contains("for DB_USER must"), "{}", steps[0]);
    }
}
