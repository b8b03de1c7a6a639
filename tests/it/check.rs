//! `proxydoc check` against moto over HTTP: each control-plane finding fires on a setup built
//! with that one thing wrong, and a good setup passes every check.

use serde_json::Value;

use crate::common::run_cmd;
use crate::moto::{moto, proxydoc_aws, runtime};

/// What to get wrong in a setup.
#[derive(Clone, Copy, Default)]
pub struct Faults {
    pub no_db_rule: bool,
    pub no_egress: bool,
    pub trust_ec2: bool,
    pub no_decrypt: bool,
    /// The secret's key policy names only another role (not the account, not the proxy's).
    pub key_policy_other_role: bool,
    pub stop_db: bool,
    pub target_health: Option<&'static str>,
    pub no_logging: bool,
}

pub async fn sdk_config(region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto().url)
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// Builds a proxy `name` in front of a PostgreSQL instance in `region`, with `faults`.
pub fn build(region: &str, name: &str, faults: Faults) {
    runtime().block_on(async {
        let config = sdk_config(region).await;
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let rds = aws_sdk_rds::Client::new(&config);
        let iam = aws_sdk_iam::Client::new(&config);
        let secrets = aws_sdk_secretsmanager::Client::new(&config);

        let vpc = ec2.create_vpc().cidr_block("10.20.0.0/16").send().await.unwrap();
        let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
        let mut subnets = Vec::new();
        for (i, zone) in ["a", "c"].iter().enumerate() {
            let subnet = ec2
                .create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(format!("10.20.{i}.0/24"))
                .availability_zone(format!("{region}{zone}"))
                .send()
                .await
                .unwrap();
            subnets.push(subnet.subnet().unwrap().subnet_id().unwrap().to_string());
        }
        let group = |label: &str| {
            let ec2 = ec2.clone();
            let vpc_id = vpc_id.clone();
            let label = format!("{name}-{label}");
            async move {
                ec2.create_security_group().group_name(&label).description(&label).vpc_id(vpc_id).send().await.unwrap().group_id().unwrap().to_string()
            }
        };
        let sg_proxy = group("proxy").await;
        let sg_db = group("db").await;
        if !faults.no_db_rule {
            admit(&ec2, &sg_db, Source::Group(&sg_proxy)).await;
        }
        if faults.no_egress {
            ec2.revoke_security_group_egress()
                .group_id(&sg_proxy)
                .ip_permissions(
                    aws_sdk_ec2::types::IpPermission::builder()
                        .ip_protocol("-1")
                        .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }

        let db = format!("{name}-db");
        let instance = rds
            .create_db_instance()
            .db_instance_identifier(&db)
            .engine("postgres")
            .engine_version("16.3")
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .master_username("postgres")
            .master_user_password("not-a-real-password")
            .vpc_security_group_ids(&sg_db)
            .send()
            .await
            .unwrap();
        let db_arn = instance.db_instance().unwrap().db_instance_arn().unwrap().to_string();
        if faults.stop_db {
            rds.stop_db_instance().db_instance_identifier(&db).send().await.unwrap();
        }
        if let Some(health) = faults.target_health {
            rds.add_tags_to_resource()
                .resource_name(&db_arn)
                .tags(aws_sdk_rds::types::Tag::builder().key("proxydoc:target-health").value(health).build())
                .send()
                .await
                .unwrap();
        }

        let kms = aws_sdk_kms::Client::new(&config);
        let mut key = kms.create_key().description(format!("{name} secrets"));
        if faults.key_policy_other_role {
            key = key.policy(r#"{"Version":"2012-10-17","Statement":[{"Sid":"AdminOnly","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/admin"},"Action":"kms:*","Resource":"*"}]}"#);
        }
        let key = key.send().await.unwrap();
        let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
        let secret = secrets
            .create_secret()
            .name(format!("{name}/app"))
            .kms_key_id(&key_arn)
            .secret_string(r#"{"username":"app","password":"not-a-real-password"}"#)
            .send()
            .await
            .unwrap();
        let secret_arn = secret.arn().unwrap().to_string();

        let service = if faults.trust_ec2 { "ec2.amazonaws.com" } else { "rds.amazonaws.com" };
        let role = iam
            .create_role()
            .role_name(format!("{name}-role"))
            .assume_role_policy_document(format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"{service}"}},"Action":"sts:AssumeRole"}}]}}"#
            ))
            .send()
            .await
            .unwrap();
        let role_arn = role.role().unwrap().arn().to_string();
        let decrypt = if faults.no_decrypt {
            String::new()
        } else {
            format!(r#",{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"{key_arn}","Condition":{{"StringEquals":{{"kms:ViaService":"secretsmanager.{region}.amazonaws.com"}}}}}}"#)
        };
        iam.put_role_policy()
            .role_name(format!("{name}-role"))
            .policy_name("read-secret")
            .policy_document(format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"{secret_arn}"}}{decrypt}]}}"#
            ))
            .send()
            .await
            .unwrap();

        rds.create_db_proxy()
            .db_proxy_name(name)
            .engine_family(aws_sdk_rds::types::EngineFamily::Postgresql)
            .auth(
                aws_sdk_rds::types::UserAuthConfig::builder()
                    .auth_scheme(aws_sdk_rds::types::AuthScheme::Secrets)
                    .secret_arn(&secret_arn)
                    .iam_auth(aws_sdk_rds::types::IamAuthMode::Disabled)
                    .build(),
            )
            .role_arn(&role_arn)
            .set_vpc_subnet_ids(Some(subnets))
            .vpc_security_group_ids(&sg_proxy)
            .debug_logging(!faults.no_logging)
            .send()
            .await
            .unwrap();
        rds.register_db_proxy_targets().db_proxy_name(name).db_instance_identifiers(&db).send().await.unwrap();
    });
}

fn check(region: &str, name: &str) -> (i32, Value, String) {
    let out = run_cmd(proxydoc_aws(region).args(["check", "--proxy", name, "--format", "json"]));
    let json = if out.stdout.trim().is_empty() {
        Value::Null
    } else {
        out.json()
    };
    (out.code, json, out.stderr)
}

fn causes(report: &Value) -> Vec<String> {
    crate::common::causes(report)
}

#[test]
fn a_good_setup_passes_every_check() {
    build("eu-north-1", "good", Faults::default());
    // The first describe after registering reports REGISTERING once (moto); read twice.
    let _ = check("eu-north-1", "good");
    let (code, report, stderr) = check("eu-north-1", "good");
    assert_eq!(code, 0, "{stderr}");
    assert!(causes(&report).is_empty(), "{:?}", report["findings"]);
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 8, "{checks:?}");
    for check in checks {
        assert_eq!(check["status"], "pass", "{check}");
    }
    // The secret's customer managed key was described and its key policy read.
    assert!(
        checks.iter().any(|c| c["check"] == "secret-key-policy"),
        "{checks:?}"
    );
    assert_eq!(report["schema"], "proxydoc.report/v1");
}

#[test]
fn each_fault_has_its_finding() {
    let cases: [(&str, &str, Faults, &str); 8] = [
        (
            "sa-east-1",
            "nodbrule",
            Faults {
                no_db_rule: true,
                ..Faults::default()
            },
            "db-security-group-blocks-proxy",
        ),
        (
            "sa-east-1",
            "noegress",
            Faults {
                no_egress: true,
                ..Faults::default()
            },
            "proxy-egress-blocked",
        ),
        (
            "ap-northeast-1",
            "trustec2",
            Faults {
                trust_ec2: true,
                ..Faults::default()
            },
            "proxy-role-trust-missing",
        ),
        (
            "ap-northeast-1",
            "nodecrypt",
            Faults {
                no_decrypt: true,
                ..Faults::default()
            },
            "proxy-role-cannot-read-secret",
        ),
        (
            "ap-south-1",
            "keypolicy",
            Faults {
                key_policy_other_role: true,
                ..Faults::default()
            },
            "proxy-role-cannot-read-secret",
        ),
        (
            "ap-northeast-2",
            "stopped",
            Faults {
                stop_db: true,
                ..Faults::default()
            },
            "db-not-available",
        ),
        (
            "ap-northeast-2",
            "authfail",
            Faults {
                target_health: Some(
                    "UNAVAILABLE:AUTH_FAILURE:Proxy does not have any registered credentials",
                ),
                ..Faults::default()
            },
            "target-unavailable",
        ),
        (
            "ap-south-1",
            "nolog",
            Faults {
                no_logging: true,
                ..Faults::default()
            },
            "enhanced-logging-off",
        ),
    ];
    for (region, name, faults, expected) in cases {
        build(region, name, faults);
        let _ = check(region, name);
        let (code, report, stderr) = check(region, name);
        assert_eq!(code, 0, "{name}: {stderr}");
        assert_eq!(
            causes(&report),
            [expected],
            "{name}: {:?}",
            report["findings"]
        );
        let finding = &report["findings"][0];
        assert!(
            !finding["remediation"].as_array().unwrap().is_empty(),
            "{name}"
        );
        if expected == "target-unavailable" {
            assert!(
                finding["why"]
                    .as_str()
                    .unwrap()
                    .contains("Proxy does not have any registered credentials")
            );
        }
        if expected == "proxy-role-cannot-read-secret" {
            assert!(finding["why"].as_str().unwrap().contains("kms:Decrypt"));
            let fix = finding["remediation"][0].as_str().unwrap();
            assert!(
                fix.contains(&format!("arn:aws:kms:{region}:123456789012:key/")),
                "{fix}"
            );
            if name == "keypolicy" {
                // The IAM policy allows kms:Decrypt; the key policy is what refuses.
                assert!(fix.contains("aws kms create-grant"), "{fix}");
                let check = report["checks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["check"] == "secret-key-policy")
                    .unwrap();
                assert_eq!(check["status"], "fail", "{check}");
            }
        }
        if name == "nolog" {
            // A report without log input says nothing about logs it never had.
            for format in ["table", "markdown"] {
                let out = run_cmd(
                    proxydoc_aws(region).args(["check", "--proxy", name, "--format", format]),
                );
                assert!(
                    out.stdout
                        .contains("Control-plane checks only: no logs were read.")
                        && !out.stdout.contains("Window:")
                        && !out.stdout.contains("Input:")
                        && !out.stdout.contains("seen:")
                        && out.stdout.contains("enhanced-logging-off"),
                    "{format}:\n{}",
                    out.stdout
                );
            }
            let out =
                run_cmd(proxydoc_aws(region).args(["check", "--proxy", name, "--format", "html"]));
            let page = &out.stdout;
            assert!(
                page.contains("Control-plane checks only: no logs were read.")
                    && page.contains("<section id=\"checks\">")
                    && page.contains("data-cause=\"enhanced-logging-off\"")
                    && !page.contains("id=\"timeline\"")
                    && !page.contains("id=\"input\"")
                    && !page.contains("id=\"kinds\"")
                    && !page.contains("<dt>seen</dt>"),
                "html:\n{page}"
            );
        }
        if expected == "db-security-group-blocks-proxy" {
            assert!(
                finding["remediation"][0]
                    .as_str()
                    .unwrap()
                    .contains("authorize-security-group-ingress")
            );
        }
    }
}

#[test]
fn unknown_proxy_names_it_and_the_region() {
    let (code, _, stderr) = check("us-east-2", "ghost");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("proxy ghost not found in us-east-2"),
        "{stderr}"
    );
}

fn diagnose(region: &str, name: &str) -> (i32, Value, String) {
    let out = run_cmd(proxydoc_aws(region).args([
        "diagnose", "--proxy", name, "--since", "3h", "--format", "json",
    ]));
    let json = if out.stdout.trim().is_empty() {
        Value::Null
    } else {
        out.json()
    };
    (out.code, json, out.stderr)
}

#[test]
fn diagnose_folds_the_log_and_the_control_plane_into_one_finding() {
    let region = "eu-south-1";
    build(
        region,
        "diag-secret",
        Faults {
            no_decrypt: true,
            ..Faults::default()
        },
    );
    let (_, events) = crate::cloudwatch::shifted("layouts/plain.log", 3_600_000);
    crate::moto::seed(
        region,
        "/aws/rds/proxy/diag-secret",
        &crate::cloudwatch::split_streams(&events),
    );
    let _ = check(region, "diag-secret");
    let (code, report, stderr) = diagnose(region, "diag-secret");
    assert_eq!(code, 0, "{stderr}");
    let causes = causes(&report);
    assert_eq!(causes[0], "proxy-role-cannot-read-secret", "{causes:?}");
    assert!(
        !causes.contains(&"secret-access-denied".to_string()),
        "folded: {causes:?}"
    );
    assert!(
        causes.contains(&"session-pinning".to_string()),
        "{causes:?}"
    );
    let top = &report["findings"][0];
    assert_eq!(top["failed_connections"], 45);
    assert!(
        top["why"]
            .as_str()
            .unwrap()
            .contains("the proxy log agrees (secret-access-denied")
    );
    let evidence = top["evidence"].to_string();
    assert!(
        evidence.contains("kms:Decrypt") && evidence.contains("Credentials couldn't be retrieved"),
        "{evidence}"
    );
    assert!(report["checks"].as_array().unwrap().len() >= 8);
    assert_eq!(report["counts"]["credentials_error"], 45);
}

#[test]
fn diagnose_blames_the_database_not_the_network() {
    let region = "eu-south-2";
    build(
        region,
        "diag-stopped",
        Faults {
            stop_db: true,
            ..Faults::default()
        },
    );
    let (_, events) =
        crate::cloudwatch::shifted("incidents/target-unreachable/proxy.log", 3_600_000);
    crate::moto::seed(
        region,
        "/aws/rds/proxy/diag-stopped",
        &crate::cloudwatch::split_streams(&events),
    );
    let (code, report, stderr) = diagnose(region, "diag-stopped");
    assert_eq!(code, 0, "{stderr}");
    let causes = causes(&report);
    assert_eq!(causes, ["db-not-available"], "{:?}", report["findings"]);
    assert!(
        report["findings"][0]["why"]
            .as_str()
            .unwrap()
            .contains("target-unreachable")
    );
}

#[test]
fn diagnose_without_logs_still_audits() {
    let region = "il-central-1";
    build(region, "diag-quiet", Faults::default());
    let _ = check(region, "diag-quiet");
    let (code, report, stderr) = diagnose(region, "diag-quiet");
    assert_eq!(code, 1, "the missing log group is an unreadable input");
    assert!(
        stderr.contains("log group /aws/rds/proxy/diag-quiet not found in il-central-1"),
        "{stderr}"
    );
    assert!(causes(&report).is_empty());
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "pass")
    );
}

#[test]
fn the_launcher_implements_modify_db_proxy() {
    build(
        "me-central-1",
        "modifiable",
        Faults {
            no_logging: true,
            ..Faults::default()
        },
    );
    runtime().block_on(async {
        let rds = aws_sdk_rds::Client::new(&sdk_config("me-central-1").await);
        let out = rds
            .modify_db_proxy()
            .db_proxy_name("modifiable")
            .debug_logging(true)
            .send()
            .await
            .unwrap();
        assert_eq!(out.db_proxy().unwrap().debug_logging(), Some(true));
        let missing = rds
            .modify_db_proxy()
            .db_proxy_name("absent")
            .debug_logging(true)
            .send()
            .await
            .unwrap_err();
        assert!(
            missing
                .as_service_error()
                .unwrap()
                .is_db_proxy_not_found_fault(),
            "{missing:?}"
        );
    });
    let (_, report, _) = check("me-central-1", "modifiable");
    assert!(
        !causes(&report).contains(&"enhanced-logging-off".to_string()),
        "DebugLogging now reads true"
    );
}

/// The proxy's VPC, subnets and security groups, as DescribeDBProxies reports them.
fn proxy_network(region: &str, name: &str) -> (String, Vec<String>, Vec<String>) {
    runtime().block_on(async {
        let rds = aws_sdk_rds::Client::new(&sdk_config(region).await);
        let out = rds
            .describe_db_proxies()
            .db_proxy_name(name)
            .send()
            .await
            .unwrap();
        let proxy = &out.db_proxies()[0];
        (
            proxy.vpc_id().unwrap_or_default().to_string(),
            proxy.vpc_subnet_ids().to_vec(),
            proxy.vpc_security_group_ids().to_vec(),
        )
    })
}

fn check_client(region: &str, name: &str, client: &str) -> (i32, Value, String) {
    let out = run_cmd(proxydoc_aws(region).args([
        "check", "--proxy", name, "--client", client, "--format", "json",
    ]));
    let json = if out.stdout.trim().is_empty() {
        Value::Null
    } else {
        out.json()
    };
    (out.code, json, out.stderr)
}

/// A security group `name` in `vpc`.
async fn security_group(ec2: &aws_sdk_ec2::Client, vpc: &str, name: &str) -> String {
    ec2.create_security_group()
        .group_name(name)
        .description(name)
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string()
}

/// A new VPC with one subnet: (VPC id, subnet id).
/// The `client-iam-not-allowed` finding of a `check --format json` run.
fn client_iam_finding(out: &crate::common::Run) -> Value {
    let report = out.json();
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["cause"] == "client-iam-not-allowed")
        .cloned()
        .unwrap_or_else(|| panic!("{} {}", report["findings"], out.stderr))
}

/// A role `name` that `service` may assume; its ARN.
async fn service_role(iam: &aws_sdk_iam::Client, name: &str, service: &str) -> String {
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"{service}"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let out = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    out.role().unwrap().arn().to_string()
}

/// A good setup `name` in `region`, described once (moto reports REGISTERING on the first
/// read): its VPC, subnets and security groups.
fn good_proxy(region: &str, name: &str) -> (String, Vec<String>, Vec<String>) {
    build(region, name, Faults::default());
    let _ = check(region, name);
    proxy_network(region, name)
}

/// `check --client CLIENT` finds nothing and the route passes; returns the route's result.
fn quiet_route(region: &str, name: &str, client: &str) -> Value {
    let (_, report, stderr) = check_client(region, name, client);
    assert!(
        causes(&report).is_empty(),
        "{stderr} {}",
        report["findings"]
    );
    let route = client_check(&report, "client-route");
    assert_eq!(route["status"], "pass", "{route}");
    route.clone()
}

/// The (main) route table of `vpc`.
async fn main_route_table(ec2: &aws_sdk_ec2::Client, vpc: &str) -> String {
    let out = ec2
        .describe_route_tables()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.route_tables()[0].route_table_id().unwrap().to_string()
}

/// Who an inbound rule admits.
enum Source<'a> {
    Group(&'a str),
    Cidr(&'a str),
}

/// Adds an inbound rule to `group` admitting `source` on TCP 5432.
async fn admit(ec2: &aws_sdk_ec2::Client, group: &str, source: Source<'_>) {
    use aws_sdk_ec2::types::{IpPermission, IpRange, UserIdGroupPair};
    let rule = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(5432)
        .to_port(5432);
    let rule = match source {
        Source::Group(id) => {
            rule.user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build())
        }
        Source::Cidr(cidr) => rule.ip_ranges(IpRange::builder().cidr_ip(cidr).build()),
    };
    ec2.authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(rule.build())
        .send()
        .await
        .unwrap();
}

/// A VPC with a subnet and a network interface in it, whose range the proxy's group `proxy_sg`
/// admits on 5432: (VPC, subnet, interface).
async fn admitted_interface(
    ec2: &aws_sdk_ec2::Client,
    vpc_cidr: &str,
    subnet_cidr: &str,
    proxy_sg: &str,
) -> (String, String, String) {
    let (vpc, subnet) = vpc_with_subnet(ec2, vpc_cidr, subnet_cidr).await;
    let eni = ec2
        .create_network_interface()
        .subnet_id(&subnet)
        .send()
        .await
        .unwrap();
    let eni = eni
        .network_interface()
        .unwrap()
        .network_interface_id()
        .unwrap()
        .to_string();
    admit(ec2, proxy_sg, Source::Cidr(vpc_cidr)).await;
    (vpc, subnet, eni)
}

async fn vpc_with_subnet(
    ec2: &aws_sdk_ec2::Client,
    vpc_cidr: &str,
    subnet_cidr: &str,
) -> (String, String) {
    let vpc = ec2.create_vpc().cidr_block(vpc_cidr).send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block(subnet_cidr)
        .send()
        .await
        .unwrap();
    (
        vpc,
        subnet.subnet().unwrap().subnet_id().unwrap().to_string(),
    )
}

/// `check --client CLIENT` finds exactly that the proxy's group does not admit the client's
/// group, with the rule to add; returns the report.
fn assert_not_admitted(
    region: &str,
    name: &str,
    client: &str,
    proxy_group: &str,
    client_group: &str,
) -> Value {
    let (code, report, stderr) = check_client(region, name, client);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        causes(&report),
        ["proxy-security-group-blocks-client"],
        "{}",
        report["checks"]
    );
    let fix = report["findings"][0]["remediation"][0].as_str().unwrap();
    assert!(
        fix.contains(&format!(
            "--group-id {proxy_group} --protocol tcp --port 5432 --source-group {client_group}"
        )),
        "{fix}"
    );
    report
}

fn client_check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {}", report["checks"]))
}

#[test]
fn client_path_security_groups_and_placement() {
    let (region, name) = ("eu-south-1", "client-path");
    let (vpc, subnets, proxy_groups) = good_proxy(region, name);
    // An application's network interface in the proxy's VPC, in its own group.
    let (eni, app_group) = runtime().block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&sdk_config(region).await);
        let group = security_group(&ec2, &vpc, "client-path-app").await;
        let eni = ec2
            .create_network_interface()
            .subnet_id(&subnets[1])
            .groups(&group)
            .send()
            .await
            .unwrap()
            .network_interface()
            .unwrap()
            .network_interface_id()
            .unwrap()
            .to_string();
        (eni, group)
    });

    // The proxy's group does not admit the app yet.
    let report = assert_not_admitted(region, name, &eni, &proxy_groups[0], &app_group);
    assert_eq!(client_check(&report, "client-placement")["status"], "pass");

    // Admitted by its group: every client check passes (moto's default network ACL allows all).
    runtime().block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&sdk_config(region).await);
        admit(&ec2, &proxy_groups[0], Source::Group(&app_group)).await;
    });
    let (code, report, stderr) = check_client(region, name, &eni);
    assert_eq!(code, 0, "{stderr}");
    assert!(causes(&report).is_empty(), "{}", report["findings"]);
    for check in [
        "client-placement",
        "proxy-ingress-from-client",
        "client-egress-to-proxy",
        "network-acls",
    ] {
        assert_eq!(
            client_check(&report, check)["status"],
            "pass",
            "{check}: {}",
            report["checks"]
        );
    }

    // A network ACL on the proxy's first subnet turns the app's subnet away on the port.
    let acl = runtime().block_on(async {
        let ec2 = aws_sdk_ec2::Client::new(&sdk_config(region).await);
        let acl = ec2
            .create_network_acl()
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap()
            .network_acl()
            .unwrap()
            .network_acl_id()
            .unwrap()
            .to_string();
        for (number, egress, allow, ports) in [
            (90, false, false, Some(5432)),
            (100, false, true, None),
            (100, true, true, None),
        ] {
            let mut entry = ec2
                .create_network_acl_entry()
                .network_acl_id(&acl)
                .rule_number(number)
                .egress(egress)
                .rule_action(if allow {
                    aws_sdk_ec2::types::RuleAction::Allow
                } else {
                    aws_sdk_ec2::types::RuleAction::Deny
                })
                .cidr_block(if ports.is_some() {
                    "10.20.1.0/24"
                } else {
                    "0.0.0.0/0"
                });
            entry = match ports {
                Some(port) => entry.protocol("6").port_range(
                    aws_sdk_ec2::types::PortRange::builder()
                        .from(port)
                        .to(port)
                        .build(),
                ),
                None => entry.protocol("-1"),
            };
            entry.send().await.unwrap();
        }
        let current = ec2
            .describe_network_acls()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("association.subnet-id")
                    .values(&subnets[0])
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let association = current.network_acls()[0]
            .associations()
            .iter()
            .find(|a| a.subnet_id() == Some(subnets[0].as_str()))
            .unwrap()
            .network_acl_association_id()
            .unwrap()
            .to_string();
        ec2.replace_network_acl_association()
            .association_id(association)
            .network_acl_id(&acl)
            .send()
            .await
            .unwrap();
        acl
    });
    let (_, report, stderr) = check_client(region, name, &eni);
    assert_eq!(causes(&report), ["network-acl-blocks-client"], "{stderr}");
    let why = report["findings"][0]["why"].as_str().unwrap();
    assert!(
        why.contains(&format!("{acl} on {}: inbound from", subnets[0]))
            && why.contains("rule 90 denies port 5432"),
        "{why}"
    );

    // A laptop on the internet: outside any VPC, with the tunnel in the fix.
    let (_, report, stderr) = check_client(region, name, "203.0.113.9");
    assert_eq!(causes(&report), ["client-outside-vpc"], "{stderr}");
    let fixes = report["findings"][0]["remediation"].to_string();
    assert!(fixes.contains("ssh -N -L 5432:"), "{fixes}");

    // Not a client.
    let out = run_cmd(proxydoc_aws(region).args(["check", "--proxy", name, "--client", "laptop"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn lambda_clients_outside_a_vpc_or_not_admitted() {
    let (region, name) = ("af-south-1", "lambda-path");
    let (vpc, subnets, proxy_groups) = good_proxy(region, name);
    let app_group = runtime().block_on(async {
        let config = sdk_config(region).await;
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let iam = aws_sdk_iam::Client::new(&config);
        let lambda = aws_sdk_lambda::Client::new(&config);
        let group = security_group(&ec2, &vpc, "lambda-path-fn").await;
        let role = service_role(&iam, "lambda-path-exec", "lambda.amazonaws.com").await;
        // An empty zip archive: moto stores the code without running it.
        let zip =
            aws_sdk_lambda::primitives::Blob::new([b"PK\x05\x06".as_slice(), &[0u8; 18]].concat());
        for (function, in_vpc) in [("orders-api", false), ("orders-api-vpc", true)] {
            let mut create = lambda
                .create_function()
                .function_name(function)
                .runtime(aws_sdk_lambda::types::Runtime::Nodejs20x)
                .role(&role)
                .handler("index.handler")
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(zip.clone())
                        .build(),
                );
            if in_vpc {
                create = create.vpc_config(
                    aws_sdk_lambda::types::VpcConfig::builder()
                        .subnet_ids(&subnets[1])
                        .security_group_ids(&group)
                        .build(),
                );
            }
            create.send().await.unwrap();
        }
        group
    });

    // No VPC configuration: the fix puts the function in the proxy's subnets.
    let (_, report, stderr) = check_client(region, name, "lambda:orders-api");
    assert_eq!(causes(&report), ["client-outside-vpc"], "{stderr}");
    let fixes = report["findings"][0]["remediation"].to_string();
    assert!(
        fixes.contains(&format!(
            "update-function-configuration --function-name orders-api --vpc-config SubnetIds={}",
            subnets.join(",")
        )),
        "{fixes}"
    );
    assert!(!fixes.contains("ssh -N"), "{fixes}");

    // In the VPC (placed by its subnet, whatever VpcId moto reports), its group not admitted.
    assert_not_admitted(
        region,
        name,
        "lambda:orders-api-vpc",
        &proxy_groups[0],
        &app_group,
    );

    // With --db-user, the function's execution role is the principal whose rds-db:connect
    // is checked.
    let out = run_cmd(proxydoc_aws(region).args([
        "check",
        "--proxy",
        name,
        "--client",
        "lambda:orders-api-vpc",
        "--db-user",
        "app",
        "--format",
        "json",
    ]));
    let iam = client_iam_finding(&out);
    assert!(
        iam["why"].as_str().unwrap().contains("lambda-path-exec"),
        "{iam}"
    );
    // --db-user alone names no principal: a usage error.
    let out = run_cmd(proxydoc_aws(region).args(["check", "--proxy", name, "--db-user", "app"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// An instance's applications sign IAM tokens as its instance profile's role: that role is
/// the principal checked for rds-db:connect.
#[test]
fn an_instance_is_checked_as_its_instance_profile_role() {
    let (region, name) = ("mx-central-1", "profile-path");
    let (_, subnets, _) = good_proxy(region, name);
    let instance = runtime().block_on(async {
        let config = sdk_config(region).await;
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let iam = aws_sdk_iam::Client::new(&config);
        service_role(&iam, "orders-app-instance", "ec2.amazonaws.com").await;
        iam.create_instance_profile()
            .instance_profile_name("orders-app")
            .send()
            .await
            .unwrap();
        iam.add_role_to_instance_profile()
            .instance_profile_name("orders-app")
            .role_name("orders-app-instance")
            .send()
            .await
            .unwrap();
        let images = ec2.describe_images().send().await.unwrap();
        let image = images.images()[0].image_id().unwrap().to_string();
        let out = ec2
            .run_instances()
            .image_id(image)
            .min_count(1)
            .max_count(1)
            .subnet_id(&subnets[0])
            .iam_instance_profile(
                aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                    .name("orders-app")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        out.instances()[0].instance_id().unwrap().to_string()
    });
    let out = run_cmd(proxydoc_aws(region).args([
        "check",
        "--proxy",
        name,
        "--client",
        &instance,
        "--db-user",
        "app",
        "--format",
        "json",
    ]));
    let iam = client_iam_finding(&out);
    assert!(
        iam["why"]
            .as_str()
            .unwrap()
            .contains("role/orders-app-instance"),
        "{iam}"
    );
}

#[test]
fn a_client_in_a_peered_vpc_needs_routes_both_ways() {
    let (region, name) = ("ap-northeast-3", "peered-path");
    let (proxy_vpc, _, proxy_groups) = good_proxy(region, name);
    let config = runtime().block_on(sdk_config(region));
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let (client_vpc, _, eni) = runtime().block_on(admitted_interface(
        &ec2,
        "10.30.0.0/16",
        "10.30.1.0/24",
        &proxy_groups[0],
    ));

    // No peering: outside, with a proxy endpoint in the client's VPC among the fixes.
    let (_, report, stderr) = check_client(region, name, &eni);
    assert_eq!(causes(&report), ["client-outside-vpc"], "{stderr}");
    assert!(
        report["findings"][0]["remediation"]
            .to_string()
            .contains("create-db-proxy-endpoint")
    );

    // Peered, but no routes yet.
    let (pcx, tables) = runtime().block_on(async {
        let pcx = ec2
            .create_vpc_peering_connection()
            .vpc_id(&client_vpc)
            .peer_vpc_id(&proxy_vpc)
            .send()
            .await
            .unwrap();
        let pcx = pcx
            .vpc_peering_connection()
            .unwrap()
            .vpc_peering_connection_id()
            .unwrap()
            .to_string();
        ec2.accept_vpc_peering_connection()
            .vpc_peering_connection_id(&pcx)
            .send()
            .await
            .unwrap();
        let tables = vec![
            main_route_table(&ec2, &client_vpc).await,
            main_route_table(&ec2, &proxy_vpc).await,
        ];
        (pcx, tables)
    });
    let (_, report, stderr) = check_client(region, name, &eni);
    assert_eq!(causes(&report), ["client-route-missing"], "{stderr}");
    let fixes = report["findings"][0]["remediation"].to_string();
    assert!(
        fixes.contains(&format!("create-route --route-table-id {} --destination-cidr-block 10.20.0.0/24 --vpc-peering-connection-id {pcx}", tables[0]))
            && fixes.contains(&format!("create-route --route-table-id {} --destination-cidr-block 10.30.1.0/24 --vpc-peering-connection-id {pcx}", tables[1])),
        "{fixes}"
    );

    // Routes both ways: quiet.
    runtime().block_on(async {
        for (table, destination) in [(&tables[0], "10.20.0.0/16"), (&tables[1], "10.30.0.0/16")] {
            ec2.create_route()
                .route_table_id(table)
                .destination_cidr_block(destination)
                .vpc_peering_connection_id(&pcx)
                .send()
                .await
                .unwrap();
        }
    });
    quiet_route(region, name, &eni);
}

#[test]
fn a_client_through_a_transit_gateway_needs_both_vpcs_attached() {
    let (region, name) = ("il-central-1", "tgw-path");
    let (proxy_vpc, proxy_subnets, proxy_groups) = good_proxy(region, name);
    let config = runtime().block_on(sdk_config(region));
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let (eni, tgw) = runtime().block_on(async {
        let (vpc, subnet, eni) =
            admitted_interface(&ec2, "10.40.0.0/16", "10.40.1.0/24", &proxy_groups[0]).await;
        let tgw = ec2.create_transit_gateway().send().await.unwrap();
        let tgw = tgw
            .transit_gateway()
            .unwrap()
            .transit_gateway_id()
            .unwrap()
            .to_string();
        ec2.create_transit_gateway_vpc_attachment()
            .transit_gateway_id(&tgw)
            .vpc_id(&vpc)
            .subnet_ids(&subnet)
            .send()
            .await
            .unwrap();
        for (vpc, destination) in [(&vpc, "10.20.0.0/16"), (&proxy_vpc, "10.40.0.0/16")] {
            ec2.create_route()
                .route_table_id(main_route_table(&ec2, vpc).await)
                .destination_cidr_block(destination)
                .transit_gateway_id(&tgw)
                .send()
                .await
                .unwrap();
        }
        (eni, tgw)
    });

    // Routes both ways, but only the client's VPC is attached.
    let (_, report, stderr) = check_client(region, name, &eni);
    assert_eq!(
        causes(&report),
        ["client-route-missing"],
        "{stderr} {}",
        report["checks"]
    );
    let fixes = report["findings"][0]["remediation"].to_string();
    assert!(
        fixes.contains(&format!(
            "create-transit-gateway-vpc-attachment --transit-gateway-id {tgw} --vpc-id {proxy_vpc}"
        )),
        "{fixes}"
    );

    // Both attached: quiet.
    runtime().block_on(async {
        ec2.create_transit_gateway_vpc_attachment()
            .transit_gateway_id(&tgw)
            .vpc_id(&proxy_vpc)
            .set_subnet_ids(Some(proxy_subnets.clone()))
            .send()
            .await
            .unwrap();
    });
    let route = quiet_route(region, name, &eni);
    assert!(route["detail"].as_str().unwrap().contains(&tgw), "{route}");
}

#[test]
fn a_client_in_another_vpc_reaches_an_endpoint_in_its_own() {
    let (region, name) = ("ap-southeast-4", "endpoint-path");
    let _ = good_proxy(region, name);
    let config = runtime().block_on(sdk_config(region));
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let rds = aws_sdk_rds::Client::new(&config);
    let eni = runtime().block_on(async {
        let (vpc, subnet) = vpc_with_subnet(&ec2, "10.40.0.0/16", "10.40.1.0/24").await;
        let app = security_group(&ec2, &vpc, "endpoint-path-app").await;
        let endpoint_group = security_group(&ec2, &vpc, "endpoint-path-endpoint").await;
        admit(&ec2, &endpoint_group, Source::Group(&app)).await;
        rds.create_db_proxy_endpoint()
            .db_proxy_name(name)
            .db_proxy_endpoint_name("apps")
            .vpc_subnet_ids(&subnet)
            .vpc_security_group_ids(&endpoint_group)
            .send()
            .await
            .unwrap();
        let eni = ec2
            .create_network_interface()
            .subnet_id(&subnet)
            .groups(&app)
            .send()
            .await
            .unwrap();
        eni.network_interface()
            .unwrap()
            .network_interface_id()
            .unwrap()
            .to_string()
    });

    // The endpoint in its own VPC is the one it uses: no peering needed, quiet.
    let (code, report, stderr) = check_client(region, name, &eni);
    assert_eq!(code, 0, "{stderr}");
    assert!(causes(&report).is_empty(), "{}", report["findings"]);
    let endpoint = client_check(&report, "proxy-endpoint");
    assert!(
        endpoint["detail"]
            .as_str()
            .unwrap()
            .contains("endpoint apps"),
        "{endpoint}"
    );

    // Forced to the proxy's own endpoint, it is outside (no peering).
    let out = run_cmd(proxydoc_aws(region).args([
        "check",
        "--proxy",
        name,
        "--client",
        &eni,
        "--endpoint",
        "default",
        "--format",
        "json",
    ]));
    assert_eq!(
        causes(&out.json()),
        ["client-outside-vpc"],
        "{}",
        out.stderr
    );
}
