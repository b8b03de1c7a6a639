//! Reads what `check --client` judges: each client resolved to its VPC, subnets, groups and
//! addresses (DescribeSubnets, DescribeSecurityGroups, DescribeInstances,
//! DescribeNetworkInterfaces), and the route tables, network ACLs and peering connections of
//! the client's and the proxy's VPCs (DescribeRouteTables, DescribeNetworkAcls,
//! DescribeVpcPeeringConnections, and DescribeTransitGatewayAttachments for the Transit
//! Gateways a route names). Read-only; a call that fails leaves its part as `Err` with
//! the call, the object and the IAM action.

use super::actions;

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;

use super::control::{explain, read_security_groups};
use crate::audit::cidr::Cidr;
use crate::audit::client::{
    ClientSpec, PathSnapshot, Peering, ProxyEndpoint, ResolvedClient, TgwAttachment,
};
use crate::audit::network::{AclEntry, NetworkAcl, Route, RouteTable, Target};
use crate::audit::{ProxyInfo, SecurityGroup};

/// Resolves `specs` and reads the path between them and `proxy`.
pub(super) async fn read_path(
    config: &aws_config::SdkConfig,
    proxy: &ProxyInfo,
    specs: &[ClientSpec],
    wanted_endpoint: Option<&str>,
    known_groups: &Result<BTreeMap<String, SecurityGroup>, String>,
) -> PathSnapshot {
    let ec2 = &aws_sdk_ec2::Client::new(config);
    let endpoints = proxy_endpoints(&aws_sdk_rds::Client::new(config), &proxy.name).await;
    let lambda = aws_sdk_lambda::Client::new(config);
    let subnets = all_subnets(ec2).await;
    let mut clients = Vec::new();
    for spec in specs {
        clients.push(match spec {
            ClientSpec::Lambda(name) => resolve_lambda(&lambda, spec, name, &subnets).await,
            _ => resolve(ec2, spec, &subnets).await,
        });
    }
    let mut vpcs: Vec<String> = proxy.vpc_id.iter().cloned().collect();
    let mut group_ids: Vec<String> = proxy.security_groups.clone();
    for endpoint in endpoints.iter().flatten() {
        group_ids.extend(endpoint.security_groups.iter().cloned());
        if !vpcs.contains(&endpoint.vpc_id) {
            vpcs.push(endpoint.vpc_id.clone());
        }
    }
    group_ids.sort();
    group_ids.dedup();
    for client in clients.iter().flatten() {
        if let Some(vpc) = &client.vpc_id
            && !vpcs.contains(vpc)
        {
            vpcs.push(vpc.clone());
        }
        for group in &client.security_groups {
            if !group_ids.contains(group) {
                group_ids.push(group.clone());
            }
        }
    }
    let mut security_groups = known_groups.clone().unwrap_or_default();
    group_ids.retain(|g| !security_groups.contains_key(g));
    if let Ok(more) = read_security_groups(ec2, &group_ids).await {
        security_groups.extend(more);
    }
    let route_tables = route_tables(ec2, &vpcs).await;
    let mut gateways: Vec<String> = route_tables
        .iter()
        .flatten()
        .flat_map(|t| &t.routes)
        .filter_map(|r| match &r.target {
            Target::TransitGateway(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    gateways.sort();
    gateways.dedup();
    let tgw_attachments = if gateways.is_empty() {
        Ok(Vec::new())
    } else {
        tgw_attachments(ec2, &gateways).await
    };
    PathSnapshot {
        clients,
        route_tables,
        acls: network_acls(ec2, &vpcs).await,
        peerings: peerings(ec2).await,
        tgw_attachments,
        security_groups,
        endpoints,
        subnet_cidrs: subnets
            .iter()
            .flatten()
            .map(|(id, _, cidr)| (id.clone(), cidr.clone()))
            .collect(),
        wanted_endpoint: wanted_endpoint.map(str::to_string),
    }
}

/// The proxy's user-defined endpoints.
async fn proxy_endpoints(
    rds: &aws_sdk_rds::Client,
    proxy: &str,
) -> Result<Vec<ProxyEndpoint>, String> {
    let output = rds
        .describe_db_proxy_endpoints()
        .db_proxy_name(proxy)
        .send()
        .await
        .map_err(|e| explain(&actions::DESCRIBE_DB_PROXY_ENDPOINTS, proxy, &e))?;
    Ok(output
        .db_proxy_endpoints()
        .iter()
        .filter(|e| e.is_default() != Some(true))
        .filter_map(|e| {
            Some(ProxyEndpoint {
                name: e.db_proxy_endpoint_name()?.to_string(),
                vpc_id: e.vpc_id()?.to_string(),
                subnets: e.vpc_subnet_ids().to_vec(),
                security_groups: e.vpc_security_group_ids().to_vec(),
                host: e.endpoint().unwrap_or_default().to_string(),
                available: e.status().is_some_and(|s| s.as_str() == "available"),
            })
        })
        .collect())
}

/// Every subnet of the Region: (id, VPC, CIDR).
async fn all_subnets(ec2: &aws_sdk_ec2::Client) -> Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    let mut pages = ec2.describe_subnets().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| explain(&actions::DESCRIBE_SUBNETS, "the Region's subnets", &e))?;
        for subnet in page.subnets() {
            if let (Some(id), Some(vpc), Some(cidr)) =
                (subnet.subnet_id(), subnet.vpc_id(), subnet.cidr_block())
            {
                out.push((id.to_string(), vpc.to_string(), cidr.to_string()));
            }
        }
    }
    Ok(out)
}

async fn resolve(
    ec2: &aws_sdk_ec2::Client,
    spec: &ClientSpec,
    subnets: &Result<Vec<(String, String, String)>, String>,
) -> Result<ResolvedClient, String> {
    let subnets = subnets.as_ref().map_err(Clone::clone)?;
    let cidr_of = |subnet: &str| {
        subnets
            .iter()
            .find(|(id, _, _)| id == subnet)
            .map(|(id, _, cidr)| (id.clone(), cidr.clone()))
    };
    let placed = |vpc: Option<String>,
                  subnet: Option<String>,
                  groups: Vec<String>,
                  address: Option<String>| ResolvedClient {
        spec: spec.clone(),
        vpc_id: vpc,
        subnets: subnet.and_then(|s| cidr_of(&s)).into_iter().collect(),
        security_groups: groups,
        addresses: address.into_iter().collect(),
        role: None,
        instance_profile: None,
    };
    match spec {
        ClientSpec::Address(text) => {
            let address = Cidr::parse(text).ok_or_else(|| format!("`{text}` is not an address"))?;
            let found = subnets
                .iter()
                .find(|(_, _, cidr)| Cidr::parse(cidr).is_some_and(|c| c.contains(address)));
            // A range wider than a subnet: the subnets it spans, when they are in one VPC.
            let spanned: Vec<&(String, String, String)> = subnets
                .iter()
                .filter(|(_, _, cidr)| Cidr::parse(cidr).is_some_and(|c| address.contains(c)))
                .collect();
            if found.is_none()
                && let Some((_, vpc, _)) = spanned.first()
                && spanned.iter().all(|(_, v, _)| v == vpc)
            {
                return Ok(ResolvedClient {
                    spec: spec.clone(),
                    vpc_id: Some(vpc.clone()),
                    subnets: spanned
                        .iter()
                        .map(|(id, _, cidr)| (id.clone(), cidr.clone()))
                        .collect(),
                    security_groups: Vec::new(),
                    addresses: vec![text.clone()],
                    role: None,
                    instance_profile: None,
                });
            }
            Ok(match found {
                Some((id, vpc, cidr)) => ResolvedClient {
                    spec: spec.clone(),
                    vpc_id: Some(vpc.clone()),
                    subnets: vec![(id.clone(), cidr.clone())],
                    security_groups: Vec::new(),
                    addresses: vec![text.clone()],
                    role: None,
                    instance_profile: None,
                },
                None => placed(None, None, Vec::new(), Some(text.clone())),
            })
        }
        ClientSpec::SecurityGroup(id) => {
            let output = ec2
                .describe_security_groups()
                .group_ids(id)
                .send()
                .await
                .map_err(|e| explain(&actions::DESCRIBE_SECURITY_GROUPS, id, &e))?;
            let group = output
                .security_groups()
                .first()
                .ok_or_else(|| format!("security group {id} not found in this Region"))?;
            Ok(placed(
                group.vpc_id().map(str::to_string),
                None,
                vec![id.clone()],
                None,
            ))
        }
        ClientSpec::Instance(id) => {
            let output = ec2
                .describe_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(|e| explain(&actions::DESCRIBE_INSTANCES, id, &e))?;
            let instance = output
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .next()
                .ok_or_else(|| format!("instance {id} not found in this Region"))?;
            Ok(ResolvedClient {
                instance_profile: instance
                    .iam_instance_profile()
                    .and_then(|p| p.arn())
                    .map(str::to_string),
                ..placed(
                    instance.vpc_id().map(str::to_string),
                    instance.subnet_id().map(str::to_string),
                    instance
                        .security_groups()
                        .iter()
                        .filter_map(|g| g.group_id().map(str::to_string))
                        .collect(),
                    instance.private_ip_address().map(str::to_string),
                )
            })
        }
        ClientSpec::Interface(id) => {
            let output = ec2
                .describe_network_interfaces()
                .network_interface_ids(id)
                .send()
                .await
                .map_err(|e| explain(&actions::DESCRIBE_NETWORK_INTERFACES, id, &e))?;
            let interface = output
                .network_interfaces()
                .first()
                .ok_or_else(|| format!("network interface {id} not found in this Region"))?;
            Ok(placed(
                interface.vpc_id().map(str::to_string),
                interface.subnet_id().map(str::to_string),
                interface
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect(),
                interface.private_ip_address().map(str::to_string),
            ))
        }
        ClientSpec::Lambda(name) => Err(format!(
            "Lambda function {name} is resolved by GetFunctionConfiguration"
        )),
    }
}

/// A Lambda function: its `VpcConfig` subnets and groups (the VPC is the subnets' own:
/// `VpcConfig.VpcId` is not always filled in), or no VPC at all.
async fn resolve_lambda(
    lambda: &aws_sdk_lambda::Client,
    spec: &ClientSpec,
    name: &str,
    subnets: &Result<Vec<(String, String, String)>, String>,
) -> Result<ResolvedClient, String> {
    let subnets = subnets.as_ref().map_err(Clone::clone)?;
    let output = lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .map_err(|e| explain(&actions::GET_FUNCTION_CONFIGURATION, name, &e))?;
    let (subnet_ids, groups) = output
        .vpc_config()
        .map(|v| (v.subnet_ids().to_vec(), v.security_group_ids().to_vec()))
        .unwrap_or_default();
    let placed: Vec<&(String, String, String)> = subnets
        .iter()
        .filter(|(id, _, _)| subnet_ids.contains(id))
        .collect();
    Ok(ResolvedClient {
        spec: spec.clone(),
        vpc_id: placed.first().map(|(_, vpc, _)| vpc.clone()),
        subnets: placed
            .iter()
            .map(|(id, _, cidr)| (id.clone(), cidr.clone()))
            .collect(),
        security_groups: groups,
        addresses: Vec::new(),
        role: output.role().map(str::to_string),
        instance_profile: None,
    })
}

fn vpc_filter(vpcs: &[String]) -> Filter {
    Filter::builder()
        .name("vpc-id")
        .set_values(Some(vpcs.to_vec()))
        .build()
}

async fn route_tables(
    ec2: &aws_sdk_ec2::Client,
    vpcs: &[String],
) -> Result<Vec<RouteTable>, String> {
    let output = ec2
        .describe_route_tables()
        .filters(vpc_filter(vpcs))
        .send()
        .await
        .map_err(|e| explain(&actions::DESCRIBE_ROUTE_TABLES, &vpcs.join(","), &e))?;
    Ok(output
        .route_tables()
        .iter()
        .map(|t| RouteTable {
            id: t.route_table_id().unwrap_or_default().to_string(),
            vpc_id: t.vpc_id().unwrap_or_default().to_string(),
            main: t.associations().iter().any(|a| a.main() == Some(true)),
            subnets: t
                .associations()
                .iter()
                .filter_map(|a| a.subnet_id().map(str::to_string))
                .collect(),
            routes: t
                .routes()
                .iter()
                .filter_map(|r| {
                    let destination = r
                        .destination_cidr_block()
                        .or(r.destination_ipv6_cidr_block())?
                        .to_string();
                    let target = if r.gateway_id() == Some("local") {
                        Target::Local
                    } else if let Some(pcx) = r.vpc_peering_connection_id() {
                        Target::Peering(pcx.to_string())
                    } else if let Some(tgw) = r.transit_gateway_id() {
                        Target::TransitGateway(tgw.to_string())
                    } else if let Some(vgw) = r.gateway_id().filter(|g| g.starts_with("vgw-")) {
                        Target::VpnGateway(vgw.to_string())
                    } else {
                        Target::Other(
                            r.gateway_id()
                                .or(r.nat_gateway_id())
                                .or(r.network_interface_id())
                                .or(r.instance_id())
                                .unwrap_or("other")
                                .to_string(),
                        )
                    };
                    Some(Route {
                        destination,
                        target,
                        blackhole: r.state().is_some_and(|s| s.as_str() == "blackhole"),
                    })
                })
                .collect(),
        })
        .collect())
}

async fn network_acls(
    ec2: &aws_sdk_ec2::Client,
    vpcs: &[String],
) -> Result<Vec<NetworkAcl>, String> {
    let output = ec2
        .describe_network_acls()
        .filters(vpc_filter(vpcs))
        .send()
        .await
        .map_err(|e| explain(&actions::DESCRIBE_NETWORK_ACLS, &vpcs.join(","), &e))?;
    Ok(output
        .network_acls()
        .iter()
        .map(|acl| NetworkAcl {
            id: acl.network_acl_id().unwrap_or_default().to_string(),
            vpc_id: acl.vpc_id().unwrap_or_default().to_string(),
            default: acl.is_default().unwrap_or(false),
            subnets: acl
                .associations()
                .iter()
                .filter_map(|a| a.subnet_id().map(str::to_string))
                .collect(),
            entries: acl
                .entries()
                .iter()
                .filter_map(|e| {
                    let port = |p: Option<i32>| p.and_then(|p| u16::try_from(p).ok());
                    Some(AclEntry {
                        number: e.rule_number()?,
                        egress: e.egress().unwrap_or(false),
                        protocol: e.protocol().unwrap_or("-1").to_string(),
                        ports: e
                            .port_range()
                            .and_then(|r| Some((port(r.from())?, port(r.to())?))),
                        cidr: e.cidr_block().or(e.ipv6_cidr_block())?.to_string(),
                        allow: e.rule_action().is_some_and(|a| a.as_str() == "allow"),
                    })
                })
                .collect(),
        })
        .collect())
}

/// The VPC attachments of `gateways` (DescribeTransitGatewayAttachments).
async fn tgw_attachments(
    ec2: &aws_sdk_ec2::Client,
    gateways: &[String],
) -> Result<Vec<TgwAttachment>, String> {
    let mut attachments = Vec::new();
    let mut pages = ec2
        .describe_transit_gateway_attachments()
        .filters(
            Filter::builder()
                .name("transit-gateway-id")
                .set_values(Some(gateways.to_vec()))
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            explain(
                &actions::DESCRIBE_TRANSIT_GATEWAY_ATTACHMENTS,
                &gateways.join(","),
                &e,
            )
        })?;
        attachments.extend(page.transit_gateway_attachments().iter().filter_map(|a| {
            (a.resource_type().map(|t| t.as_str()) == Some("vpc")).then_some(())?;
            Some(TgwAttachment {
                id: a.transit_gateway_attachment_id()?.to_string(),
                transit_gateway: a.transit_gateway_id()?.to_string(),
                vpc_id: a.resource_id()?.to_string(),
                state: a
                    .state()
                    .map_or("unknown".to_string(), |s| s.as_str().to_string()),
            })
        }));
    }
    Ok(attachments)
}

async fn peerings(ec2: &aws_sdk_ec2::Client) -> Result<Vec<Peering>, String> {
    let output = ec2
        .describe_vpc_peering_connections()
        .send()
        .await
        .map_err(|e| {
            explain(
                &actions::DESCRIBE_VPC_PEERING_CONNECTIONS,
                "the Region's peering connections",
                &e,
            )
        })?;
    Ok(output
        .vpc_peering_connections()
        .iter()
        .filter_map(|p| {
            Some(Peering {
                id: p.vpc_peering_connection_id()?.to_string(),
                requester_vpc: p.requester_vpc_info()?.vpc_id()?.to_string(),
                accepter_vpc: p.accepter_vpc_info()?.vpc_id()?.to_string(),
                status: p
                    .status()
                    .and_then(|s| s.code())
                    .map_or("unknown".to_string(), |c| c.as_str().to_string()),
            })
        })
        .collect())
}
