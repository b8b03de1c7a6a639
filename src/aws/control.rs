//! Reads the control-plane snapshot `check` audits: the proxy, its targets and their
//! databases (RDS), security groups and subnets (EC2), the proxy's role and its policies (IAM),
//! its secrets (Secrets Manager `DescribeSecret` only: never a secret's value) and their
//! customer managed KMS keys (KMS `DescribeKey` and `GetKeyPolicy`: never the key itself), and
//! the account (STS). Read-only.
//!
//! Only an unknown proxy is fatal. Any other call that fails leaves its part of the snapshot
//! as `Err(reason)`, naming the call, the object and the IAM action, so the remaining checks
//! still run.

use super::actions;

use std::fmt::{Debug, Display};

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};

use super::AwsContext;
use crate::audit::client::ClientSpec;
use crate::audit::policy::{Decision, Policy};
use crate::audit::{
    AuthEntry, ClientCheck, ControlPlane, DbInfo, KeyInfo, PoolSettings, ProxyInfo, RoleInfo, Rule,
    SecretInfo, SecurityGroup, Simulation, TargetInfo, rds_db_resource, secret_key_arn,
};
use crate::model::RdsStatus;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "proxy {proxy} not found in {region}: check the name and the region (`aws rds describe-db-proxies --region {region}`)"
    )]
    UnknownProxy { proxy: String, region: String },
    #[error("{0}")]
    Call(String),
}

/// Describes a failed call: what, on which object, the service's code and message, and the
/// IAM action to grant when access was denied.
/// The role of the instance profile `arn` (GetInstanceProfile), the principal an instance's
/// applications run as.
async fn instance_profile_role(iam: &aws_sdk_iam::Client, arn: &str) -> Result<String, String> {
    let name = arn.rsplit('/').next().unwrap_or(arn);
    let output = iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(|e| explain(&actions::GET_INSTANCE_PROFILE, arn, &e))?;
    output
        .instance_profile()
        .and_then(|p| p.roles().first())
        .map(|r| r.arn().to_string())
        .ok_or_else(|| format!("instance profile {arn} has no role: the instance's applications have no IAM principal to sign tokens with"))
}

/// Describes a secret's KMS key and, for a customer managed key, reads its key policy. Never
/// uses the key.
async fn read_key(kms: &aws_sdk_kms::Client, key_id: &str) -> Result<KeyInfo, String> {
    let described = kms
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| explain(&actions::DESCRIBE_KEY, key_id, &e))?;
    let metadata = described
        .key_metadata()
        .ok_or_else(|| format!("DescribeKey on {key_id} returned no key metadata"))?;
    let arn = metadata.arn().unwrap_or(key_id).to_string();
    let customer_managed =
        metadata.key_manager() == Some(&aws_sdk_kms::types::KeyManagerType::Customer);
    let policy = if customer_managed {
        kms.get_key_policy()
            .key_id(&arn)
            .policy_name("default")
            .send()
            .await
            .map_err(|e| explain(&actions::GET_KEY_POLICY, &arn, &e))
            .and_then(|out| {
                out.policy()
                    .map(str::to_string)
                    .ok_or_else(|| format!("GetKeyPolicy on {arn} returned no policy"))
            })
    } else {
        Err("an AWS managed key: its key policy is AWS's".to_string())
    };
    Ok(KeyInfo {
        arn,
        customer_managed,
        policy,
    })
}

/// What a failed call says: the call, the object, AWS's code and message, and when denied the
/// action to grant (from the table of [`actions`]).
pub(crate) fn explain<E, R>(call: &actions::Call, object: &str, error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + Display + Debug,
    R: Debug,
{
    let (action, call) = (call.action, call.name());
    match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let code = err.code().unwrap_or("");
            let message = err
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| err.to_string());
            let denied = code.contains("AccessDenied")
                || code.contains("Unauthorized")
                || code == "AuthorizationError";
            let status = if code.is_empty() {
                format!(" (no error code; response {:?})", service.raw())
            } else {
                String::new()
            };
            let grant = if denied {
                format!("; grant {action} on {object}")
            } else {
                String::new()
            };
            format!(
                "{call} on {object} failed: {code}{}{message}{status}{grant}",
                if code.is_empty() { "" } else { ": " }
            )
        }
        SdkError::TimeoutError(_) => format!("{call} on {object} timed out"),
        SdkError::DispatchFailure(failure) => {
            format!("{call} on {object} could not reach the endpoint: {failure:?}")
        }
        _ => format!("{call} on {object} failed: {error:?}"),
    }
}

/// URL-decodes an IAM policy document (`%7B%22Version…`); plain JSON is returned as is.
pub fn decode_policy(text: &str) -> String {
    if !text.contains('%') || text.trim_start().starts_with('{') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(value) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whose `rds-db:connect` to check, as which database user: `--client-principal`, else the
/// execution role of a Lambda function given as `--client`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Principal<'a> {
    pub arn: Option<&'a str>,
    pub db_user: Option<&'a str>,
}

/// Reads the snapshot for `proxy`, with the `rds-db:connect` question for `client` and the
/// network path of `clients`.
pub async fn snapshot(
    ctx: &AwsContext,
    proxy: &str,
    client: Principal<'_>,
    clients: &[ClientSpec],
    endpoint: Option<&str>,
) -> Result<ControlPlane, ControlError> {
    let config = &ctx.config;
    let rds = aws_sdk_rds::Client::new(config);
    let ec2 = aws_sdk_ec2::Client::new(config);
    let iam = aws_sdk_iam::Client::new(config);
    let secrets = aws_sdk_secretsmanager::Client::new(config);
    let kms = aws_sdk_kms::Client::new(config);
    let sts = aws_sdk_sts::Client::new(config);
    let region = ctx.region().to_string();

    let proxy_info = read_proxy(&rds, proxy, &region).await?;
    let account = sts
        .get_caller_identity()
        .send()
        .await
        .ok()
        .and_then(|o| o.account().map(str::to_string));

    let targets = read_targets(&rds, proxy).await;
    let mut databases = Vec::new();
    if let Ok(targets) = &targets {
        for target in targets {
            match (
                target.kind.as_deref(),
                &target.rds_resource_id,
                &target.tracked_cluster_id,
            ) {
                (Some("TRACKED_CLUSTER"), _, Some(cluster)) => {
                    databases.push(read_cluster(&rds, cluster).await)
                }
                (_, Some(instance), _) => databases.push(read_instance(&rds, instance).await),
                _ => {}
            }
        }
    }
    let mut group_ids: Vec<String> = proxy_info.security_groups.clone();
    for db in databases.iter().flatten() {
        for group in &db.security_groups {
            if !group_ids.contains(group) {
                group_ids.push(group.clone());
            }
        }
    }
    let security_groups = read_security_groups(&ec2, &group_ids).await;
    for db in databases.iter_mut().flatten() {
        if !db.subnets.is_empty()
            && let Ok(subnets) = read_subnets(&ec2, &db.subnets).await
            && subnets.len() == db.subnets.len()
        {
            db.subnet_cidrs = Some(subnets.into_iter().map(|(_, cidr)| cidr).collect());
        }
    }
    let subnet_cidrs = read_subnets(&ec2, &proxy_info.subnets).await;
    let path = if clients.is_empty() {
        None
    } else {
        Some(super::path::read_path(config, &proxy_info, clients, endpoint, &security_groups).await)
    };
    let role = match &proxy_info.role_arn {
        Some(arn) => read_principal_policies(&iam, arn)
            .await
            .map(|(trust, policies)| RoleInfo {
                arn: arn.clone(),
                trust_policy: trust.unwrap_or_default(),
                policies,
            }),
        None => Err("the proxy has no RoleArn".to_string()),
    };
    let mut secret_infos = Vec::new();
    for entry in &proxy_info.auth {
        if let Some(arn) = &entry.secret_arn {
            let result = secrets.describe_secret().secret_id(arn).send().await;
            secret_infos.push(match result {
                Ok(output) => {
                    let kms_key_id = output.kms_key_id().map(str::to_string);
                    let key = match &kms_key_id {
                        Some(id) => Some(read_key(&kms, id).await),
                        None => None,
                    };
                    Ok(SecretInfo {
                        arn: output.arn().unwrap_or(arn).to_string(),
                        kms_key_id,
                        key,
                    })
                }
                Err(e) => Err(explain(&actions::DESCRIBE_SECRET, arn, &e)),
            });
        }
    }
    let resolved = path.as_ref().map(|p| p.clients.iter().flatten());
    let mut principal: Option<Result<String, String>> = client
        .arn
        .map(|a| Ok(a.to_string()))
        .or_else(|| resolved.clone()?.find_map(|c| c.role.clone()).map(Ok));
    if principal.is_none()
        && client.db_user.is_some()
        && let Some(profile) = resolved.and_then(|mut c| c.find_map(|c| c.instance_profile.clone()))
    {
        principal = Some(instance_profile_role(&iam, &profile).await);
    }
    let client = match (principal, client.db_user) {
        (Some(Ok(principal)), Some(db_user)) => Some(ClientCheck {
            db_user: db_user.to_string(),
            policies: read_principal_policies(&iam, &principal)
                .await
                .map(|(_, policies)| policies),
            principal,
        }),
        (Some(Err(e)), Some(db_user)) => Some(ClientCheck {
            principal: "the client".to_string(),
            db_user: db_user.to_string(),
            policies: Err(e),
        }),
        (None, Some(db_user)) => Some(ClientCheck {
            principal: "the client".to_string(),
            db_user: db_user.to_string(),
            policies: Err("no IAM principal to check: give --client-principal ARN, or as --client a Lambda function (its execution role) or an instance with an instance profile (its role)".to_string()),
        }),
        _ => None,
    };
    // Ask IAM itself where it answers (SimulatePrincipalPolicy also weighs permission
    // boundaries); proxydoc's evaluator covers whatever it does not.
    let account_or = account
        .clone()
        .or_else(|| proxy_info.arn.split(':').nth(4).map(str::to_string))
        .unwrap_or_default();
    let mut questions: Vec<Question> = Vec::new();
    if let Some(role) = &proxy_info.role_arn {
        for secret in secret_infos.iter().flatten() {
            questions.push((
                role.clone(),
                "secretsmanager:GetSecretValue".into(),
                secret.arn.clone(),
                Vec::new(),
            ));
            if let Some(key) = secret_key_arn(secret, &region, &account_or) {
                let via = vec![(
                    "kms:ViaService".to_string(),
                    format!("secretsmanager.{region}.amazonaws.com"),
                )];
                questions.push((role.clone(), "kms:Decrypt".into(), key, via));
            }
        }
    }
    if let Some(client) = &client {
        let resource = rds_db_resource(&region, &account_or, &proxy_info, &client.db_user);
        questions.push((
            client.principal.clone(),
            "rds-db:connect".into(),
            resource,
            Vec::new(),
        ));
    }
    let mut simulations = Vec::new();
    for (principal, action, resource, context) in questions {
        if let Some(decision) = simulate(&iam, &principal, &action, &resource, &context).await {
            simulations.push(Simulation {
                principal,
                action,
                resource,
                decision,
            });
        }
    }
    Ok(ControlPlane {
        region,
        account,
        proxy: proxy_info,
        targets,
        databases,
        security_groups,
        subnet_cidrs,
        role,
        secrets: secret_infos,
        client,
        simulations,
        path,
        pool: read_pool(&rds, proxy).await,
    })
}

/// (principal, action, resource, context keys) to ask IAM about.
type Question = (String, String, String, Vec<(String, String)>);

/// IAM's SimulatePrincipalPolicy for one question; `None` when it cannot answer (not
/// permitted, not implemented by the endpoint, a failure), so the evaluator decides instead.
pub async fn simulate(
    iam: &aws_sdk_iam::Client,
    principal: &str,
    action: &str,
    resource: &str,
    context: &[(String, String)],
) -> Option<Decision> {
    use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType};
    let mut request = iam
        .simulate_principal_policy()
        .policy_source_arn(principal)
        .action_names(action)
        .resource_arns(resource);
    for (key, value) in context {
        request = request.context_entries(
            ContextEntry::builder()
                .context_key_name(key)
                .context_key_values(value)
                .context_key_type(ContextKeyTypeEnum::String)
                .build(),
        );
    }
    // Best effort: one attempt (an endpoint without the call answers 500, which the SDK
    // would otherwise retry).
    let output = request
        .customize()
        .config_override(
            aws_sdk_iam::config::Builder::default()
                .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled()),
        )
        .send()
        .await
        .ok()?;
    let result = output.evaluation_results().first()?;
    let by = |fallback: &str| {
        let ids: Vec<&str> = result
            .matched_statements()
            .iter()
            .filter_map(|s| s.source_policy_id())
            .collect();
        if ids.is_empty() {
            fallback.to_string()
        } else {
            format!("{} (IAM simulation)", ids.join(", "))
        }
    };
    Some(match result.eval_decision() {
        PolicyEvaluationDecisionType::Allowed => Decision::Allowed {
            policy: by("IAM simulation"),
        },
        PolicyEvaluationDecisionType::ExplicitDeny => Decision::Denied {
            policy: by("IAM simulation"),
        },
        _ => Decision::NotAllowed,
    })
}

async fn read_proxy(
    rds: &aws_sdk_rds::Client,
    name: &str,
    region: &str,
) -> Result<ProxyInfo, ControlError> {
    let output = match rds.describe_db_proxies().db_proxy_name(name).send().await {
        Ok(output) => output,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_db_proxy_not_found_fault()) =>
        {
            return Err(ControlError::UnknownProxy {
                proxy: name.to_string(),
                region: region.to_string(),
            });
        }
        Err(e) => {
            return Err(ControlError::Call(explain(
                &actions::DESCRIBE_DB_PROXIES,
                name,
                &e,
            )));
        }
    };
    let Some(proxy) = output.db_proxies().first() else {
        return Err(ControlError::UnknownProxy {
            proxy: name.to_string(),
            region: region.to_string(),
        });
    };
    Ok(ProxyInfo {
        name: proxy.db_proxy_name().unwrap_or(name).to_string(),
        arn: proxy.db_proxy_arn().unwrap_or_default().to_string(),
        status: RdsStatus::parse(proxy.status().map_or("", |s| s.as_str())),
        engine_family: proxy.engine_family().unwrap_or_default().to_string(),
        endpoint: proxy.endpoint().map(str::to_string),
        vpc_id: proxy.vpc_id().map(str::to_string),
        security_groups: proxy.vpc_security_group_ids().to_vec(),
        subnets: proxy.vpc_subnet_ids().to_vec(),
        role_arn: proxy.role_arn().map(str::to_string),
        require_tls: proxy.require_tls().unwrap_or(false),
        debug_logging: proxy.debug_logging().unwrap_or(false),
        idle_client_timeout: proxy.idle_client_timeout(),
        auth: proxy
            .auth()
            .iter()
            .map(|a| AuthEntry {
                user_name: a.user_name().map(str::to_string),
                secret_arn: a.secret_arn().map(str::to_string),
                iam_auth: a.iam_auth().map(|m| m.as_str().to_string()),
                client_password_auth_type: a
                    .client_password_auth_type()
                    .map(|t| t.as_str().to_string()),
            })
            .collect(),
    })
}

async fn read_pool(rds: &aws_sdk_rds::Client, proxy: &str) -> Result<PoolSettings, String> {
    let output = rds
        .describe_db_proxy_target_groups()
        .db_proxy_name(proxy)
        .send()
        .await
        .map_err(|e| explain(&actions::DESCRIBE_DB_PROXY_TARGET_GROUPS, proxy, &e))?;
    let group = output
        .target_groups()
        .iter()
        .find(|g| g.is_default() == Some(true))
        .or(output.target_groups().first())
        .ok_or_else(|| format!("proxy {proxy} has no target group"))?;
    let config = group.connection_pool_config();
    Ok(PoolSettings {
        max_connections_percent: config.and_then(|c| c.max_connections_percent()),
        max_idle_connections_percent: config.and_then(|c| c.max_idle_connections_percent()),
        connection_borrow_timeout: config.and_then(|c| c.connection_borrow_timeout()),
        session_pinning_filters: config
            .map(|c| c.session_pinning_filters().to_vec())
            .unwrap_or_default(),
        init_query: config.and_then(|c| c.init_query()).map(str::to_string),
    })
}

async fn read_targets(rds: &aws_sdk_rds::Client, proxy: &str) -> Result<Vec<TargetInfo>, String> {
    let output = rds
        .describe_db_proxy_targets()
        .db_proxy_name(proxy)
        .send()
        .await
        .map_err(|e| explain(&actions::DESCRIBE_DB_PROXY_TARGETS, proxy, &e))?;
    Ok(output
        .targets()
        .iter()
        .map(|t| TargetInfo {
            rds_resource_id: t.rds_resource_id().map(str::to_string),
            tracked_cluster_id: t.tracked_cluster_id().map(str::to_string),
            endpoint: t.endpoint().map(str::to_string),
            port: t.port(),
            kind: t.r#type().map(|k| k.as_str().to_string()),
            state: t
                .target_health()
                .and_then(|h| h.state())
                .map(|s| s.as_str().to_string()),
            reason: t
                .target_health()
                .and_then(|h| h.reason())
                .map(|r| r.as_str().to_string()),
            description: t
                .target_health()
                .and_then(|h| h.description())
                .map(str::to_string),
        })
        .collect())
}

async fn read_instance(rds: &aws_sdk_rds::Client, id: &str) -> Result<DbInfo, String> {
    let output = rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .map_err(|e| explain(&actions::DESCRIBE_DB_INSTANCES, id, &e))?;
    let db = output
        .db_instances()
        .first()
        .ok_or_else(|| format!("DB instance {id} not found"))?;
    Ok(DbInfo {
        id: id.to_string(),
        is_cluster: false,
        status: RdsStatus::parse(db.db_instance_status().unwrap_or_default()),
        port: db.endpoint().and_then(|e| e.port()),
        security_groups: db
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
            .collect(),
        subnets: db
            .db_subnet_group()
            .map(|g| {
                g.subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        subnet_cidrs: None,
    })
}

async fn read_cluster(rds: &aws_sdk_rds::Client, id: &str) -> Result<DbInfo, String> {
    let output = rds
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
        .map_err(|e| explain(&actions::DESCRIBE_DB_CLUSTERS, id, &e))?;
    let db = output
        .db_clusters()
        .first()
        .ok_or_else(|| format!("DB cluster {id} not found"))?;
    Ok(DbInfo {
        id: id.to_string(),
        is_cluster: true,
        status: RdsStatus::parse(db.status().unwrap_or_default()),
        port: db.port(),
        security_groups: db
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
            .collect(),
        // A cluster names its subnet group only; its subnets stay unknown.
        subnets: Vec::new(),
        subnet_cidrs: None,
    })
}

pub(super) async fn read_security_groups(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
) -> Result<std::collections::BTreeMap<String, SecurityGroup>, String> {
    let mut out = std::collections::BTreeMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let output = ec2
        .describe_security_groups()
        .set_group_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| explain(&actions::DESCRIBE_SECURITY_GROUPS, &ids.join(","), &e))?;
    let rules = |permissions: &[aws_sdk_ec2::types::IpPermission]| -> Vec<Rule> {
        permissions
            .iter()
            .map(|p| Rule {
                protocol: p.ip_protocol().unwrap_or("-1").to_string(),
                from_port: p.from_port(),
                to_port: p.to_port(),
                cidrs: p
                    .ip_ranges()
                    .iter()
                    .filter_map(|r| r.cidr_ip().map(str::to_string))
                    .collect(),
                groups: p
                    .user_id_group_pairs()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect(),
                ipv6_cidrs: p
                    .ipv6_ranges()
                    .iter()
                    .filter_map(|r| r.cidr_ipv6().map(str::to_string))
                    .collect(),
                prefix_lists: p
                    .prefix_list_ids()
                    .iter()
                    .filter_map(|l| Some((l.prefix_list_id()?.to_string(), None)))
                    .collect(),
            })
            .collect()
    };
    for group in output.security_groups() {
        let Some(id) = group.group_id() else { continue };
        out.insert(
            id.to_string(),
            SecurityGroup {
                id: id.to_string(),
                ingress: rules(group.ip_permissions()),
                egress: rules(group.ip_permissions_egress()),
            },
        );
    }
    resolve_prefix_lists(ec2, &mut out).await;
    Ok(out)
}

/// Fills in the entries of the managed prefix lists the rules name; a list that cannot be
/// read stays `None`, which makes a check that depends on it undecided.
async fn resolve_prefix_lists(
    ec2: &aws_sdk_ec2::Client,
    groups: &mut std::collections::BTreeMap<String, SecurityGroup>,
) {
    let mut ids: Vec<String> = groups
        .values()
        .flat_map(|g| g.ingress.iter().chain(&g.egress))
        .flat_map(|r| r.prefix_lists.iter().map(|(id, _)| id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    let mut entries = std::collections::BTreeMap::new();
    for id in ids {
        let read = ec2
            .get_managed_prefix_list_entries()
            .prefix_list_id(&id)
            .send()
            .await
            .ok()
            .map(|out| {
                out.entries()
                    .iter()
                    .filter_map(|e| e.cidr().map(str::to_string))
                    .collect::<Vec<_>>()
            });
        entries.insert(id, read);
    }
    for group in groups.values_mut() {
        for rule in group.ingress.iter_mut().chain(group.egress.iter_mut()) {
            for (id, cidrs) in &mut rule.prefix_lists {
                *cidrs = entries.get(id.as_str()).cloned().flatten();
            }
        }
    }
}

async fn read_subnets(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
) -> Result<Vec<(String, String)>, String> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let output = ec2
        .describe_subnets()
        .set_subnet_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| explain(&actions::DESCRIBE_SUBNETS, &ids.join(","), &e))?;
    Ok(output
        .subnets()
        .iter()
        .filter_map(|s| Some((s.subnet_id()?.to_string(), s.cidr_block()?.to_string())))
        .collect())
}

/// The trust policy (roles only) and every inline and attached policy of a role or user.
async fn read_principal_policies(
    iam: &aws_sdk_iam::Client,
    arn: &str,
) -> Result<(Option<String>, Vec<Policy>), String> {
    let name = arn.rsplit('/').next().unwrap_or(arn).to_string();
    let mut policies = Vec::new();
    if arn.contains(":user/") {
        let names = iam
            .list_user_policies()
            .user_name(&name)
            .send()
            .await
            .map_err(|e| explain(&actions::LIST_USER_POLICIES, arn, &e))?;
        for policy in names.policy_names() {
            let doc = iam
                .get_user_policy()
                .user_name(&name)
                .policy_name(policy)
                .send()
                .await
                .map_err(|e| explain(&actions::GET_USER_POLICY, arn, &e))?;
            policies.push(Policy {
                name: format!("inline {policy}"),
                document: decode_policy(doc.policy_document()),
            });
        }
        let attached = iam
            .list_attached_user_policies()
            .user_name(&name)
            .send()
            .await
            .map_err(|e| explain(&actions::LIST_ATTACHED_USER_POLICIES, arn, &e))?;
        for policy in attached.attached_policies() {
            if let Some(policy_arn) = policy.policy_arn() {
                policies.push(read_managed_policy(iam, policy_arn).await?);
            }
        }
        return Ok((None, policies));
    }
    let role = iam
        .get_role()
        .role_name(&name)
        .send()
        .await
        .map_err(|e| explain(&actions::GET_ROLE, arn, &e))?;
    let trust = role
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .map(decode_policy);
    let names = iam
        .list_role_policies()
        .role_name(&name)
        .send()
        .await
        .map_err(|e| explain(&actions::LIST_ROLE_POLICIES, arn, &e))?;
    for policy in names.policy_names() {
        let doc = iam
            .get_role_policy()
            .role_name(&name)
            .policy_name(policy)
            .send()
            .await
            .map_err(|e| explain(&actions::GET_ROLE_POLICY, arn, &e))?;
        policies.push(Policy {
            name: format!("inline {policy}"),
            document: decode_policy(doc.policy_document()),
        });
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(&name)
        .send()
        .await
        .map_err(|e| explain(&actions::LIST_ATTACHED_ROLE_POLICIES, arn, &e))?;
    for policy in attached.attached_policies() {
        if let Some(policy_arn) = policy.policy_arn() {
            policies.push(read_managed_policy(iam, policy_arn).await?);
        }
    }
    Ok((trust, policies))
}

async fn read_managed_policy(iam: &aws_sdk_iam::Client, arn: &str) -> Result<Policy, String> {
    let policy = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| explain(&actions::GET_POLICY, arn, &e))?;
    let version = policy
        .policy()
        .and_then(|p| p.default_version_id())
        .unwrap_or("v1")
        .to_string();
    let document = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(&version)
        .send()
        .await
        .map_err(|e| explain(&actions::GET_POLICY_VERSION, arn, &e))?;
    let text = document
        .policy_version()
        .and_then(|v| v.document())
        .unwrap_or_default();
    Ok(Policy {
        name: arn.to_string(),
        document: decode_policy(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyOutput;
    use aws_sdk_iam::types::{EvaluationResult, PolicyEvaluationDecisionType, Statement};
    use aws_smithy_mocks::{mock, mock_client};

    #[tokio::test]
    async fn simulation_results_map_to_decisions() {
        let rule = mock!(aws_sdk_iam::Client::simulate_principal_policy)
            .match_requests(|r| {
                r.action_names() == ["kms:Decrypt"] && r.context_entries().len() == 1
            })
            .then_output(|| {
                SimulatePrincipalPolicyOutput::builder()
                    .evaluation_results(
                        EvaluationResult::builder()
                            .eval_action_name("kms:Decrypt")
                            .eval_decision(PolicyEvaluationDecisionType::ExplicitDeny)
                            .matched_statements(
                                Statement::builder().source_policy_id("deny-kms").build(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build()
            });
        let iam = mock_client!(aws_sdk_iam, [&rule]);
        let context = [(
            "kms:ViaService".to_string(),
            "secretsmanager.us-east-1.amazonaws.com".to_string(),
        )];
        let decision = simulate(
            &iam,
            "arn:aws:iam::1:role/r",
            "kms:Decrypt",
            "arn:aws:kms:us-east-1:1:key/k",
            &context,
        )
        .await;
        assert_eq!(
            decision,
            Some(Decision::Denied {
                policy: "deny-kms (IAM simulation)".into()
            })
        );
    }

    #[tokio::test]
    async fn a_denied_call_names_the_iam_action() {
        let rule = mock!(aws_sdk_iam::Client::get_role).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
                aws_smithy_types::body::SdkBody::from(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/oncall is not authorized to perform: iam:GetRole</Message></Error></ErrorResponse>",
                ),
            )
        });
        let iam = mock_client!(aws_sdk_iam, [&rule]);
        let error = read_principal_policies(&iam, "arn:aws:iam::1:role/proxy-role")
            .await
            .unwrap_err();
        assert!(
            error.starts_with(
                "GetRole on arn:aws:iam::1:role/proxy-role failed: AccessDenied: User"
            ),
            "{error}"
        );
        assert!(
            error.ends_with("; grant iam:GetRole on arn:aws:iam::1:role/proxy-role"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_unavailable_simulation_leaves_it_to_the_evaluator() {
        let rule = mock!(aws_sdk_iam::Client::simulate_principal_policy).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(500).unwrap(),
                aws_smithy_types::body::SdkBody::from("<html>Internal Server Error</html>"),
            )
        });
        let iam = mock_client!(
            aws_sdk_iam,
            aws_smithy_mocks::RuleMode::MatchAny,
            [&rule],
            |c| c.retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
        );
        assert_eq!(
            simulate(&iam, "arn:aws:iam::1:role/r", "rds-db:connect", "x", &[]).await,
            None
        );
    }

    #[test]
    fn decodes_url_encoded_policies() {
        assert_eq!(
            decode_policy("%7B%22Version%22%3A%222012-10-17%22%7D"),
            r#"{"Version":"2012-10-17"}"#
        );
        assert_eq!(decode_policy(r#"{"a":"50%"}"#), r#"{"a":"50%"}"#);
        assert_eq!(decode_policy("%7B%2"), "{%2");
    }
}
