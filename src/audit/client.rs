//! `check --client SPEC`: who the client is, where it sits, and whether each layer between it
//! and the proxy lets it through: placement (same VPC, a peered VPC, or nowhere the proxy can
//! be reached from), routes both ways, the proxy's security groups inbound, the client's
//! outbound, and the network ACLs of both subnets in both directions. Pure: `aws/control.rs`
//! resolves the client and reads the path into a [`PathSnapshot`]; [`audit_client`] judges it
//! with the layer evaluations of [`super::network`].

use std::collections::BTreeMap;

use serde_json::json;

use super::cidr::Cidr;
use super::network::{
    AclLeg, AclNetworkView, AclVerdict, ClientSide, Direction, Ephemeral, NetworkAcl, RouteTable,
    Target, acl_legs, acl_verdict, admitting_rule, egress_rule, route_for, table_of, unread_rule,
};
use super::snapshot::SecurityGroup;
use crate::model::{CheckResult, CheckStatus, Finding, Severity};

/// Cause ids of the client path. A contract: add, never rename.
pub mod id {
    pub const CLIENT_OUTSIDE_VPC: &str = "client-outside-vpc";
    pub const CLIENT_ROUTE_MISSING: &str = "client-route-missing";
    pub const PROXY_SECURITY_GROUP_BLOCKS_CLIENT: &str = "proxy-security-group-blocks-client";
    pub const CLIENT_EGRESS_BLOCKED: &str = "client-egress-blocked";
    pub const NETWORK_ACL_BLOCKS_CLIENT: &str = "network-acl-blocks-client";
}

/// `--client SPEC`, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSpec {
    /// An IPv4 address or CIDR block.
    Address(String),
    SecurityGroup(String),
    Instance(String),
    Interface(String),
    /// `lambda:NAME` or a function ARN.
    Lambda(String),
}

impl ClientSpec {
    /// Reads a `--client` value. A clap value parser.
    pub fn parse(text: &str) -> Result<ClientSpec, String> {
        let text = text.trim();
        if let Some(name) = text.strip_prefix("lambda:") {
            return Ok(ClientSpec::Lambda(name.to_string()));
        }
        if text.starts_with("arn:aws") && text.contains(":lambda:") {
            return Ok(ClientSpec::Lambda(text.to_string()));
        }
        for (prefix, make) in [
            ("sg-", ClientSpec::SecurityGroup as fn(String) -> ClientSpec),
            ("i-", ClientSpec::Instance),
            ("eni-", ClientSpec::Interface),
        ] {
            if text.starts_with(prefix) && text.len() > prefix.len() {
                return Ok(make(text.to_string()));
            }
        }
        match Cidr::parse(text) {
            Some(cidr) if !cidr.is_v6() => Ok(ClientSpec::Address(text.to_string())),
            _ => Err(format!(
                "`{text}` is not a client: give an IPv4 address or CIDR, sg-…, i-…, eni-…, or lambda:NAME"
            )),
        }
    }
}

impl std::fmt::Display for ClientSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientSpec::Address(text)
            | ClientSpec::SecurityGroup(text)
            | ClientSpec::Instance(text)
            | ClientSpec::Interface(text) => f.write_str(text),
            ClientSpec::Lambda(name) => write!(f, "lambda:{name}"),
        }
    }
}

/// A client resolved to its place in the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedClient {
    pub spec: ClientSpec,
    /// `None`: in no VPC of the account in this Region (a public or on-premises address).
    pub vpc_id: Option<String>,
    /// (subnet, its CIDR) the client sits in; empty when only its groups are known.
    pub subnets: Vec<(String, String)>,
    pub security_groups: Vec<String>,
    /// Its own addresses (an instance's or interface's private IP, or the address given).
    pub addresses: Vec<String>,
    /// The IAM role it runs as, when known (a Lambda function's execution role).
    pub role: Option<String>,
    /// An instance's instance profile (`IamInstanceProfile.Arn`), whose role it runs as.
    pub instance_profile: Option<String>,
}

impl ResolvedClient {
    /// What a CIDR rule or ACL entry must contain: the client's addresses, else its subnets.
    fn ranges(&self) -> Vec<String> {
        if self.addresses.is_empty() {
            self.subnets.iter().map(|(_, c)| c.clone()).collect()
        } else {
            self.addresses.clone()
        }
    }

    /// What was resolved: subnets, groups, addresses.
    fn describe(&self) -> String {
        let subnets: Vec<String> = self
            .subnets
            .iter()
            .map(|(s, c)| format!("{s} {c}"))
            .collect();
        format!(
            "subnets {}; security groups {}; addresses {}",
            none_if_empty(&subnets),
            none_if_empty(&self.security_groups),
            none_if_empty(&self.addresses)
        )
    }

    fn ephemeral(&self) -> Ephemeral {
        match self.spec {
            ClientSpec::Instance(_) => Ephemeral::Linux,
            _ => Ephemeral::Wide,
        }
    }

    /// An address, interface or group: its ephemeral range is not known (a Lambda function's
    /// is documented, an instance is taken as Linux).
    fn os_unknown(&self) -> bool {
        matches!(
            self.spec,
            ClientSpec::Address(_) | ClientSpec::Interface(_) | ClientSpec::SecurityGroup(_)
        )
    }
}

/// A VPC peering connection between two VPCs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peering {
    pub id: String,
    pub requester_vpc: String,
    pub accepter_vpc: String,
    /// `Status.Code`: only `active` carries traffic.
    pub status: String,
}

/// A VPC attached to a Transit Gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TgwAttachment {
    pub id: String,
    pub transit_gateway: String,
    pub vpc_id: String,
    /// `State`: only `available` carries traffic.
    pub state: String,
}

/// What `--client` needs read besides the proxy: the clients, and the route tables, network
/// ACLs, peering connections and security groups of the client's and the proxy's VPCs. `Err`
/// holds why a part could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct PathSnapshot {
    pub clients: Vec<Result<ResolvedClient, String>>,
    pub route_tables: Result<Vec<RouteTable>, String>,
    pub acls: Result<Vec<NetworkAcl>, String>,
    pub peerings: Result<Vec<Peering>, String>,
    /// The VPC attachments of the Transit Gateways the route tables name (none read when no
    /// route goes to one).
    pub tgw_attachments: Result<Vec<TgwAttachment>, String>,
    pub security_groups: BTreeMap<String, SecurityGroup>,
    /// The proxy's user-defined endpoints (DescribeDBProxyEndpoints).
    pub endpoints: Result<Vec<ProxyEndpoint>, String>,
    /// Every subnet's IPv4 CIDR, for the endpoints' subnets.
    pub subnet_cidrs: BTreeMap<String, String>,
    /// `--endpoint NAME`: the endpoint the clients connect to (`default`: the proxy's own).
    pub wanted_endpoint: Option<String>,
}

/// A user-defined proxy endpoint: its own VPC, subnets and security groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyEndpoint {
    pub name: String,
    pub vpc_id: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub host: String,
    pub available: bool,
}

/// The proxy's side: its VPC, subnets with their CIDRs, groups, endpoint and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySide {
    pub name: String,
    pub vpc_id: String,
    pub subnets: Vec<(String, String)>,
    pub security_groups: Vec<String>,
    pub endpoint: String,
    pub port: i32,
}

/// The results and findings of every client in `path`.
pub fn audit_client(path: &PathSnapshot, proxy: &ProxySide) -> (Vec<CheckResult>, Vec<Finding>) {
    let (mut results, mut findings) = (Vec::new(), Vec::new());
    for client in &path.clients {
        let client = match client {
            Ok(client) => client,
            Err(e) => {
                results.push(super::check_result(
                    "client-placement",
                    CheckStatus::Skipped,
                    e.clone(),
                ));
                continue;
            }
        };
        let (side, result) = endpoint_for(path, proxy, client);
        results.push(result);
        let mut out = ClientAudit {
            path,
            proxy: &side,
            results: Vec::new(),
            findings: Vec::new(),
        };
        out.one(client);
        results.extend(out.results);
        findings.extend(out.findings);
    }
    (results, findings)
}

/// The endpoint a client connects to: `--endpoint NAME`, else a user-defined endpoint in the
/// client's own VPC, else the proxy's default endpoint; and the result that says which.
fn endpoint_for(
    path: &PathSnapshot,
    default: &ProxySide,
    client: &ResolvedClient,
) -> (ProxySide, CheckResult) {
    let endpoints = path.endpoints.as_ref().ok();
    let chosen = match path.wanted_endpoint.as_deref() {
        Some("default") => None,
        Some(name) => match endpoints.and_then(|e| e.iter().find(|e| e.name == name)) {
            Some(endpoint) => Some(endpoint),
            None => {
                let why = match &path.endpoints {
                    Err(e) => format!("the endpoints could not be read ({e})"),
                    Ok(_) => format!("proxy {} has no endpoint named {name}", default.name),
                };
                let result = super::check_result(
                    "proxy-endpoint",
                    CheckStatus::Warn,
                    format!("{why}: checked against the default endpoint"),
                );
                return (default.clone(), result);
            }
        },
        None => endpoints.and_then(|e| {
            e.iter().find(|e| {
                e.available
                    && e.vpc_id != default.vpc_id
                    && client.vpc_id.as_deref() == Some(e.vpc_id.as_str())
            })
        }),
    };
    match chosen {
        Some(endpoint) => (
            ProxySide {
                name: default.name.clone(),
                vpc_id: endpoint.vpc_id.clone(),
                subnets: endpoint
                    .subnets
                    .iter()
                    .filter_map(|s| Some((s.clone(), path.subnet_cidrs.get(s)?.clone())))
                    .collect(),
                security_groups: endpoint.security_groups.clone(),
                endpoint: endpoint.host.clone(),
                port: default.port,
            },
            super::check_result(
                "proxy-endpoint",
                CheckStatus::Pass,
                format!(
                    "{} connects to endpoint {} ({}) in {}",
                    client.spec, endpoint.name, endpoint.host, endpoint.vpc_id
                ),
            ),
        ),
        None => (
            default.clone(),
            super::check_result(
                "proxy-endpoint",
                CheckStatus::Pass,
                format!(
                    "{} connects to the default endpoint {} in {}",
                    client.spec, default.endpoint, default.vpc_id
                ),
            ),
        ),
    }
}

/// What joins the client's VPC to the proxy's.
enum Link {
    Peering(Peering),
    TransitGateway(String),
}

struct ClientAudit<'a> {
    path: &'a PathSnapshot,
    proxy: &'a ProxySide,
    results: Vec<CheckResult>,
    findings: Vec<Finding>,
}

impl ClientAudit<'_> {
    fn result(&mut self, check: &str, status: CheckStatus, detail: String) {
        self.results
            .push(super::check_result(check, status, detail));
    }

    fn finding(
        &mut self,
        cause: &str,
        title: &str,
        why: String,
        evidence: Vec<String>,
        fix: Vec<String>,
    ) {
        self.findings.push(super::control_plane_finding(
            cause,
            title,
            Severity::Critical,
            why,
            evidence,
            fix,
            vec![self.proxy.endpoint.clone()],
        ));
    }

    fn one(&mut self, client: &ResolvedClient) {
        let Some(vpc) = client.vpc_id.clone() else {
            if !matches!(client.spec, ClientSpec::Lambda(_)) && self.on_premises(client) {
                return;
            }
            let why = match client.spec {
                ClientSpec::Lambda(_) => "has no VPC configuration, so it runs outside every VPC",
                _ => "is in no VPC of this account in this Region",
            };
            self.outside(client, why.to_string(), None);
            return;
        };
        if vpc != self.proxy.vpc_id && !self.routed(client, &vpc) {
            return;
        }
        self.result(
            "client-placement",
            CheckStatus::Pass,
            format!(
                "{} is in {vpc}{} ({})",
                client.spec,
                if vpc == self.proxy.vpc_id {
                    ", the VPC of the proxy's endpoint"
                } else {
                    ", peered with the proxy's VPC"
                },
                client.describe()
            ),
        );
        self.security_groups(client);
        self.acls(client, &vpc);
    }

    /// An address outside the account's VPCs that the proxy's subnets route to through a
    /// VPN gateway or a Transit Gateway (Site-to-Site VPN, Direct Connect): judged from the
    /// proxy's side, the far side being invisible. Returns false when no proxy subnet routes
    /// to it that way (the client is then outside).
    fn on_premises(&mut self, client: &ResolvedClient) -> bool {
        let proxy = self.proxy;
        let Ok(tables) = &self.path.route_tables else {
            return false;
        };
        let Some(range) = client.ranges().into_iter().next() else {
            return false;
        };
        let routes: Vec<(&str, Option<&RouteTable>, Option<Target>)> = proxy
            .subnets
            .iter()
            .map(|(subnet, _)| {
                let table = table_of(tables, &proxy.vpc_id, subnet);
                let target = table
                    .and_then(|t| route_for(t, &range))
                    .filter(|r| !r.blackhole)
                    .map(|r| r.target.clone())
                    .filter(|t| matches!(t, Target::VpnGateway(_) | Target::TransitGateway(_)));
                (subnet.as_str(), table, target)
            })
            .collect();
        let Some(gateway) = routes.iter().find_map(|(_, _, t)| t.clone()) else {
            return false;
        };
        let flag = match &gateway {
            Target::TransitGateway(id) => format!("--transit-gateway-id {id}"),
            other => format!("--gateway-id {}", other.id()),
        };
        let gaps: Vec<String> = routes
            .iter()
            .filter(|(_, _, t)| t.is_none())
            .map(|(subnet, table, _)| match table {
                Some(t) => format!(
                    "{} of {subnet} has no route to {range} through a VPN or Transit Gateway",
                    t.id
                ),
                None => format!("no route table found for {subnet}"),
            })
            .collect();
        self.result(
            "client-placement",
            CheckStatus::Pass,
            format!(
                "{} is outside the account's VPCs, reached from the proxy's VPC {} through {} (a VPN, Direct Connect or Transit Gateway: its far side is not visible to proxydoc)",
                client.spec,
                proxy.vpc_id,
                gateway.id()
            ),
        );
        if gaps.is_empty() {
            self.result(
                "client-route",
                CheckStatus::Pass,
                format!(
                    "every subnet of the proxy routes {range} through {}",
                    gateway.id()
                ),
            );
        } else {
            self.result("client-route", CheckStatus::Fail, gaps.join("; "));
            let fixes = routes
                .iter()
                .filter(|(_, _, t)| t.is_none())
                .filter_map(|(_, table, _)| *table)
                .map(|t| format!("`aws ec2 create-route --route-table-id {} --destination-cidr-block {range} {flag}`", t.id))
                .collect();
            self.finding(
                id::CLIENT_ROUTE_MISSING,
                "Not every subnet of the proxy routes back to the client's network",
                format!(
                    "{} is reached through {}, but {}: the proxy answers from an interface in that subnet and the reply is lost",
                    client.spec,
                    gateway.id(),
                    gaps[0]
                ),
                gaps.clone(),
                fixes,
            );
        }
        self.security_groups(client);
        self.acls(client, "");
        true
    }

    /// `client-outside-vpc`, with every way to reach the proxy from where the client is.
    fn outside(&mut self, client: &ResolvedClient, why: String, client_vpc: Option<&str>) {
        let proxy = self.proxy;
        self.result(
            "client-placement",
            CheckStatus::Fail,
            format!("{} {why}", client.spec),
        );
        let port = proxy.port;
        let subnets: Vec<&str> = proxy.subnets.iter().map(|(s, _)| s.as_str()).collect();
        let mut fix = Vec::new();
        if let ClientSpec::Lambda(name) = &client.spec {
            fix.push(format!(
                "Put the function in the proxy's VPC: `aws lambda update-function-configuration --function-name {name} --vpc-config SubnetIds={},SecurityGroupIds=LAMBDA_SG_ID` (its execution role needs AWSLambdaVPCAccessExecutionRole; admit LAMBDA_SG_ID on TCP {port} in {})",
                subnets.join(","),
                proxy.security_groups.join(", ")
            ));
        }
        let lambda = matches!(client.spec, ClientSpec::Lambda(_));
        if let Some(vpc) = client_vpc {
            fix.push(format!(
                "Create a proxy endpoint in the client's VPC: `aws rds create-db-proxy-endpoint --db-proxy-name {} --db-proxy-endpoint-name {}-{vpc} --vpc-subnet-ids CLIENT_SUBNET_IDS --vpc-security-group-ids CLIENT_SIDE_SG_ID`",
                proxy.name, proxy.name
            ));
            fix.push(format!(
                "Or peer the VPCs with routes both ways: `aws ec2 create-vpc-peering-connection --vpc-id {vpc} --peer-vpc-id {}`, accept it, then add a route to the other VPC's CIDR through the `pcx-…` id in the route tables of the client's subnets and of the proxy's subnets ({})",
                proxy.vpc_id,
                subnets.join(", ")
            ));
            fix.push(format!(
                "Or attach both VPCs to a Transit Gateway, with a route to {} in the client's subnets and back in the proxy's",
                proxy.vpc_id
            ));
        } else if !lambda {
            fix.push(format!(
                "From a corporate network: Site-to-Site VPN or Direct Connect into {}, with the proxy's security groups ({}) admitting your range on TCP {port}",
                proxy.vpc_id,
                proxy.security_groups.join(", ")
            ));
            fix.push(format!(
                "From a laptop: an SSH tunnel through a host in {}: `ssh -N -L {port}:{}:{port} USER@BASTION_HOST`, then connect to localhost:{port}",
                proxy.vpc_id, proxy.endpoint
            ));
        }
        fix.push(
            "RDS Proxy is never publicly accessible: a public address cannot reach it directly"
                .to_string(),
        );
        self.finding(
            id::CLIENT_OUTSIDE_VPC,
            "The client is outside the proxy's VPC and nothing routes to it",
            format!(
                "{} {why}; proxy {} is reachable only from inside {} (or what routes to it), so the client's connections time out",
                client.spec, proxy.name, proxy.vpc_id
            ),
            vec![format!(
                "client {}: VPC {}, subnets {}",
                client.spec,
                client.vpc_id.as_deref().unwrap_or("none"),
                client
                    .subnets
                    .iter()
                    .map(|(s, c)| format!("{s} ({c})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
            fix,
        );
    }

    /// A client in another VPC: an active peering connection, or a Transit Gateway both VPCs
    /// are attached to, and routes both ways through it. Returns whether the path is routed
    /// (findings made otherwise).
    fn routed(&mut self, client: &ResolvedClient, vpc: &str) -> bool {
        let proxy = self.proxy;
        let peerings = match &self.path.peerings {
            Ok(p) => p,
            Err(e) => {
                self.result("client-route", CheckStatus::Skipped, e.clone());
                return false;
            }
        };
        let peering = peerings.iter().find(|p| {
            (p.requester_vpc == vpc && p.accepter_vpc == proxy.vpc_id)
                || (p.accepter_vpc == vpc && p.requester_vpc == proxy.vpc_id)
        });
        if let Some(peering) = peering {
            return self.routed_through(client, vpc, &Link::Peering(peering.clone()));
        }
        match self.routed_elsewhere(client, vpc) {
            Some(Target::TransitGateway(tgw)) => {
                self.routed_through(client, vpc, &Link::TransitGateway(tgw))
            }
            Some(other) => {
                self.result(
                    "client-route",
                    CheckStatus::Warn,
                    format!("{vpc} routes to the proxy's subnets through {}, a VPN gateway: the far side of the VPN is not visible to proxydoc", other.id()),
                );
                true
            }
            None => {
                self.outside(
                    client,
                    format!(
                        "is in {vpc}, which has no peering connection with the proxy's VPC {} and no route to it through a Transit Gateway",
                        proxy.vpc_id
                    ),
                    Some(vpc),
                );
                false
            }
        }
    }

    /// The routes both ways through `link`, and its state.
    fn routed_through(&mut self, client: &ResolvedClient, vpc: &str, link: &Link) -> bool {
        let proxy = self.proxy;
        let tables = match &self.path.route_tables {
            Ok(t) => t,
            Err(e) => {
                self.result("client-route", CheckStatus::Skipped, e.clone());
                return false;
            }
        };
        let mut missing = Vec::new();
        let mut fixes = Vec::new();
        let mut unverified = None;
        let (linked, target, flag) = match link {
            Link::Peering(peering) => {
                if peering.status != "active" {
                    missing.push(format!(
                        "peering connection {} is `{}`, not `active`",
                        peering.id, peering.status
                    ));
                    fixes.push(format!("Accept the peering connection: `aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id {}`", peering.id));
                }
                (
                    format!("peered with {} by {}", proxy.vpc_id, peering.id),
                    Target::Peering(peering.id.clone()),
                    format!("--vpc-peering-connection-id {}", peering.id),
                )
            }
            Link::TransitGateway(tgw) => {
                match &self.path.tgw_attachments {
                    Err(e) => unverified = Some(e.clone()),
                    Ok(attachments) => {
                        let client_subnets: Vec<String> =
                            client.subnets.iter().map(|(s, _)| s.clone()).collect();
                        let proxy_subnets: Vec<String> =
                            proxy.subnets.iter().map(|(s, _)| s.clone()).collect();
                        for (side, side_vpc, subnets) in [
                            ("the client's", vpc, client_subnets),
                            ("the proxy's", proxy.vpc_id.as_str(), proxy_subnets),
                        ] {
                            match attachments
                                .iter()
                                .find(|a| a.transit_gateway == *tgw && a.vpc_id == side_vpc)
                            {
                                None => {
                                    missing.push(format!(
                                        "{side} VPC {side_vpc} is not attached to {tgw}"
                                    ));
                                    fixes.push(format!("Attach {side} VPC: `aws ec2 create-transit-gateway-vpc-attachment --transit-gateway-id {tgw} --vpc-id {side_vpc} --subnet-ids {}`", subnets.join(" ")));
                                }
                                Some(a) if a.state != "available" => {
                                    missing.push(format!(
                                        "attachment {} of {side_vpc} to {tgw} is `{}`, not `available`",
                                        a.id, a.state
                                    ));
                                    if a.state == "pendingAcceptance" {
                                        fixes.push(format!("Accept the attachment: `aws ec2 accept-transit-gateway-vpc-attachment --transit-gateway-attachment-id {}`", a.id));
                                    }
                                }
                                Some(_) => {}
                            }
                        }
                    }
                }
                (
                    format!("routed to {} through Transit Gateway {tgw}", proxy.vpc_id),
                    Target::TransitGateway(tgw.clone()),
                    format!("--transit-gateway-id {tgw}"),
                )
            }
        };
        if client.subnets.is_empty() {
            self.result(
                "client-route",
                CheckStatus::Warn,
                format!(
                    "{vpc} is {linked}, but the subnets of {} are not known, so the routes were not checked",
                    client.spec
                ),
            );
            return missing.is_empty();
        }
        let via = |table: Option<&RouteTable>, destination: &str| -> Result<(), String> {
            let Some(table) = table else {
                return Err(format!("no route table found for the way to {destination}"));
            };
            match route_for(table, destination) {
                Some(r) if r.target == target && !r.blackhole => Ok(()),
                Some(r) if r.blackhole => Err(format!(
                    "{}: the route to {destination} is a blackhole",
                    table.id
                )),
                Some(r) => Err(format!(
                    "{}: {destination} goes to {}, not to {}",
                    table.id,
                    r.target.id(),
                    target.id()
                )),
                None => Err(format!("{}: no route to {destination}", table.id)),
            }
        };
        let mut route_fixes = Vec::new();
        let legs = client
            .subnets
            .iter()
            .flat_map(|(subnet, _)| {
                proxy
                    .subnets
                    .iter()
                    .map(move |(_, proxy_cidr)| (vpc, subnet, proxy_cidr))
            })
            .chain(proxy.subnets.iter().flat_map(|(proxy_subnet, _)| {
                client
                    .subnets
                    .iter()
                    .map(move |(_, range)| (proxy.vpc_id.as_str(), proxy_subnet, range))
            }));
        for (table_vpc, subnet, destination) in legs {
            let table = table_of(tables, table_vpc, subnet);
            if let Err(e) = via(table, destination) {
                missing.push(e);
                if let Some(t) = table {
                    route_fixes.push(format!("`aws ec2 create-route --route-table-id {} --destination-cidr-block {destination} {flag}`", t.id));
                }
            }
        }
        route_fixes.sort();
        route_fixes.dedup();
        fixes.extend(route_fixes);
        if missing.is_empty() {
            match (link, unverified) {
                (Link::Peering(p), _) => self.result(
                    "client-route",
                    CheckStatus::Pass,
                    format!("{vpc} and {} route to each other through {}", proxy.vpc_id, p.id),
                ),
                (Link::TransitGateway(tgw), None) => self.result(
                    "client-route",
                    CheckStatus::Pass,
                    format!("{vpc} and {} are attached to {tgw} and route to each other through it (the Transit Gateway's own route tables were not read)", proxy.vpc_id),
                ),
                (Link::TransitGateway(tgw), Some(e)) => self.result(
                    "client-route",
                    CheckStatus::Warn,
                    format!("{vpc} and {} route to each other through {tgw}, but its attachments could not be read: {e}", proxy.vpc_id),
                ),
            }
            return true;
        }
        self.result("client-route", CheckStatus::Fail, missing.join("; "));
        self.finding(
            id::CLIENT_ROUTE_MISSING,
            "No route between the client's VPC and the proxy's",
            format!("{} is in {vpc}, {linked}, but {}", client.spec, missing[0]),
            missing.clone(),
            fixes,
        );
        false
    }

    /// A Transit Gateway or VPN gateway the client's subnets route the proxy's subnets to.
    fn routed_elsewhere(&self, client: &ResolvedClient, vpc: &str) -> Option<Target> {
        let tables = self.path.route_tables.as_ref().ok()?;
        client.subnets.iter().find_map(|(subnet, _)| {
            let table = table_of(tables, vpc, subnet)?;
            self.proxy
                .subnets
                .iter()
                .find_map(|(_, cidr)| match &route_for(table, cidr)?.target {
                    t @ (Target::TransitGateway(_) | Target::VpnGateway(_)) => Some(t.clone()),
                    _ => None,
                })
        })
    }

    fn security_groups(&mut self, client: &ResolvedClient) {
        let proxy = self.proxy;
        let port = proxy.port;
        let groups = &self.path.security_groups;
        let side = ClientSide {
            security_groups: client.security_groups.clone(),
            ranges: client.ranges(),
        };
        let endpoint_groups = proxy.security_groups.iter().filter_map(|g| groups.get(g));
        match admitting_rule(endpoint_groups, &side, port) {
            Some((group, rule)) => self.result(
                "proxy-ingress-from-client",
                CheckStatus::Pass,
                format!("{group} admits {}: {rule}", client.spec),
            ),
            None if unread_rule(
                proxy
                    .security_groups
                    .iter()
                    .filter_map(|g| groups.get(g))
                    .flat_map(|g| g.ingress.iter()),
                port,
            )
            .is_some() =>
            {
                self.result(
                    "proxy-ingress-from-client",
                    CheckStatus::Warn,
                    format!(
                        "no readable rule of {} admits {}, and a rule on TCP {port} names a prefix list that could not be read (ec2:GetManagedPrefixListEntries)",
                        proxy.security_groups.join(", "),
                        client.spec
                    ),
                );
            }
            None => {
                self.result(
                    "proxy-ingress-from-client",
                    CheckStatus::Fail,
                    format!(
                        "no inbound rule of {} admits {} on TCP {port}",
                        proxy.security_groups.join(", "),
                        client.spec
                    ),
                );
                let proxy_sg = proxy
                    .security_groups
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "PROXY_SG_ID".into());
                let source = match (client.security_groups.first(), side.ranges.first()) {
                    (Some(sg), _) => format!("--source-group {sg}"),
                    (None, Some(range)) => format!("--cidr {range}"),
                    (None, None) => "--cidr CLIENT_RANGE".to_string(),
                };
                let evidence = proxy
                    .security_groups
                    .iter()
                    .filter_map(|g| groups.get(g))
                    .map(|sg| format!("{} inbound: {}", sg.id, super::describe_rules(&sg.ingress)))
                    .collect();
                self.finding(
                    id::PROXY_SECURITY_GROUP_BLOCKS_CLIENT,
                    "The proxy's security group does not admit the client",
                    format!("no inbound rule of the proxy's security groups ({}) allows TCP {port} from {} (groups {}, addresses {}): its packets are dropped and connections time out", proxy.security_groups.join(", "), client.spec, none_if_empty(&client.security_groups), none_if_empty(&side.ranges)),
                    evidence,
                    vec![format!("Add the inbound rule: `aws ec2 authorize-security-group-ingress --group-id {proxy_sg} --protocol tcp --port {port} {source}`")],
                );
            }
        }
        if client.security_groups.is_empty() {
            return;
        }
        let proxy_ranges: Vec<String> = proxy.subnets.iter().map(|(_, c)| c.clone()).collect();
        let client_groups = client.security_groups.iter().filter_map(|g| groups.get(g));
        match egress_rule(client_groups, &proxy.security_groups, &proxy_ranges, port) {
            Some((group, rule)) => self.result(
                "client-egress-to-proxy",
                CheckStatus::Pass,
                format!("{group} lets {} send {rule}", client.spec),
            ),
            None => {
                self.result(
                    "client-egress-to-proxy",
                    CheckStatus::Fail,
                    format!(
                        "no outbound rule of {} allows TCP {port} to the proxy",
                        client.security_groups.join(", ")
                    ),
                );
                let proxy_sg = proxy
                    .security_groups
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "PROXY_SG_ID".into());
                let client_sg = &client.security_groups[0];
                let permission = json!([{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [{"GroupId": proxy_sg}]}]);
                self.finding(
                    id::CLIENT_EGRESS_BLOCKED,
                    "The client's security group does not let it reach the proxy",
                    format!("no outbound rule of {}'s security groups ({}) allows TCP {port} to the proxy's groups ({}) or subnets ({})", client.spec, client.security_groups.join(", "), proxy.security_groups.join(", "), proxy_ranges.join(", ")),
                    client.security_groups.iter().filter_map(|g| groups.get(g)).map(|sg| format!("{} outbound: {}", sg.id, super::describe_rules(&sg.egress))).collect(),
                    vec![format!("Add the outbound rule: `aws ec2 authorize-security-group-egress --group-id {client_sg} --ip-permissions '{permission}'`")],
                );
            }
        }
    }

    fn acls(&mut self, client: &ResolvedClient, vpc: &str) {
        let proxy = self.proxy;
        let acls = match &self.path.acls {
            Ok(acls) => acls,
            Err(e) => {
                self.result("network-acls", CheckStatus::Skipped, e.clone());
                return;
            }
        };
        // A client outside the account's VPCs: only the proxy's subnets' ACLs are visible.
        let outside: Vec<(String, String)> = if client.vpc_id.is_none() {
            client
                .ranges()
                .into_iter()
                .take(1)
                .map(|r| (String::new(), r))
                .collect()
        } else {
            Vec::new()
        };
        let client_subnets = if client.subnets.is_empty() {
            &outside
        } else {
            &client.subnets
        };
        if client_subnets.is_empty() {
            self.result(
                "network-acls",
                CheckStatus::Skipped,
                format!(
                    "the subnets of {} are not known (a security group alone names none)",
                    client.spec
                ),
            );
            return;
        }
        let ephemeral = client.ephemeral();
        let mut blocked: Vec<AclLeg> = Vec::new();
        let mut checked = 0;
        let view = AclNetworkView {
            acls,
            client_vpc: vpc,
            proxy_vpc: &proxy.vpc_id,
        };
        for (client_subnet, client_cidr) in client_subnets {
            let client_peer = client.addresses.first().unwrap_or(client_cidr);
            for (proxy_subnet, proxy_cidr) in &proxy.subnets {
                let legs = acl_legs(
                    &view,
                    client_subnet,
                    client_peer,
                    proxy_subnet,
                    proxy_cidr,
                    proxy.port_u16(),
                    ephemeral,
                );
                checked += legs.len();
                blocked.extend(legs.into_iter().filter(|l| !l.verdict.allowed()));
            }
        }
        if blocked.is_empty() {
            self.result(
                "network-acls",
                CheckStatus::Pass,
                format!(
                    "{checked} network ACL checks allow TCP {} and the return traffic on {}",
                    proxy.port,
                    ephemeral.describe()
                ),
            );
            return;
        }
        // A client whose operating system is unknown: when only the way back is refused on
        // part of 1024-65535 and the Linux range passes, it depends on the client.
        if client.os_unknown()
            && blocked
                .iter()
                .all(|leg| leg.ports != (proxy.port_u16(), proxy.port_u16()))
            && blocked.iter().all(|leg| {
                acls.iter()
                    .find(|acl| acl.id == leg.acl)
                    .is_some_and(|acl| {
                        acl_verdict(acl, leg.direction, &leg.peer, Ephemeral::Linux.ports())
                            .allowed()
                    })
            })
        {
            self.result(
                "network-acls",
                CheckStatus::Warn,
                format!(
                    "the return traffic is allowed on the Linux ephemeral ports {} but not on all of {}: it depends on the client's operating system",
                    Ephemeral::Linux.describe(),
                    Ephemeral::Wide.describe()
                ),
            );
            return;
        }
        let describe = |leg: &AclLeg| {
            let rule = match &leg.verdict {
                AclVerdict::Denied {
                    rule: Some(n),
                    port,
                } => format!("rule {n} denies port {port}"),
                AclVerdict::Denied { rule: None, port } => {
                    format!("no rule allows port {port} (the implicit deny)")
                }
                AclVerdict::Allowed(_) => "allowed".to_string(),
            };
            let way = match leg.direction {
                Direction::Inbound => "inbound from",
                Direction::Outbound => "outbound to",
            };
            format!(
                "{} on {}: {way} {} on ports {}-{}: {rule}",
                leg.acl, leg.subnet, leg.peer, leg.ports.0, leg.ports.1
            )
        };
        let evidence: Vec<String> = blocked.iter().map(describe).collect();
        self.result("network-acls", CheckStatus::Fail, evidence.join("; "));
        let fix = blocked
            .iter()
            .map(|leg| {
                let number = match leg.verdict {
                    AclVerdict::Denied { rule: Some(n), .. } => format!("{} (below the denying rule {n})", (n - 1).max(1)),
                    _ => "100 (any number not in use)".to_string(),
                };
                let way = match leg.direction { Direction::Inbound => "--ingress", Direction::Outbound => "--egress" };
                format!("`aws ec2 create-network-acl-entry --network-acl-id {} --rule-number N {way} --protocol tcp --port-range From={},To={} --cidr-block {} --rule-action allow` with N = {number}", leg.acl, leg.ports.0, leg.ports.1, leg.peer)
            })
            .collect();
        self.finding(
            id::NETWORK_ACL_BLOCKS_CLIENT,
            "A network ACL blocks the client's traffic to the proxy",
            format!("{} (network ACLs are stateless: the return traffic to the client's ephemeral ports, assumed {}, needs its own rules)", evidence[0], ephemeral.describe()),
            evidence,
            fix,
        );
    }
}

impl ProxySide {
    fn port_u16(&self) -> u16 {
        u16::try_from(self.port).unwrap_or(5432)
    }
}

fn none_if_empty(values: &[String]) -> String {
    if values.is_empty() {
        "none".to_string()
    } else {
        values.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::network::{AclEntry, Route};
    use crate::audit::snapshot::Rule;

    fn tcp(cidrs: &[&str], groups: &[&str]) -> Rule {
        Rule {
            protocol: "tcp".into(),
            from_port: Some(5432),
            to_port: Some(5432),
            cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Rule::default()
        }
    }

    fn all_out() -> Rule {
        Rule {
            protocol: "-1".into(),
            cidrs: vec!["0.0.0.0/0".into()],
            ..Rule::default()
        }
    }

    fn open_acl(id: &str, vpc: &str) -> NetworkAcl {
        let entry = |egress, allow, number| AclEntry {
            number,
            egress,
            protocol: "-1".into(),
            ports: None,
            cidr: "0.0.0.0/0".into(),
            allow,
        };
        NetworkAcl {
            id: id.into(),
            vpc_id: vpc.into(),
            default: true,
            subnets: vec![],
            entries: vec![
                entry(false, true, 100),
                entry(true, true, 100),
                entry(false, false, 32767),
                entry(true, false, 32767),
            ],
        }
    }

    fn table(id: &str, vpc: &str, routes: &[(&str, Target)]) -> RouteTable {
        RouteTable {
            id: id.into(),
            vpc_id: vpc.into(),
            main: true,
            subnets: vec![],
            routes: routes
                .iter()
                .map(|(d, t)| Route {
                    destination: d.to_string(),
                    target: t.clone(),
                    blackhole: false,
                })
                .collect(),
        }
    }

    fn proxy() -> ProxySide {
        ProxySide {
            name: "orders".into(),
            vpc_id: "vpc-p".into(),
            subnets: vec![("subnet-p1".into(), "10.0.1.0/24".into())],
            security_groups: vec!["sg-proxy".into()],
            endpoint: "orders.proxy-abc.us-east-1.rds.amazonaws.com".into(),
            port: 5432,
        }
    }

    fn instance(vpc: &str, subnet: (&str, &str), address: &str) -> ResolvedClient {
        ResolvedClient {
            spec: ClientSpec::Instance("i-1".into()),
            vpc_id: Some(vpc.into()),
            subnets: vec![(subnet.0.into(), subnet.1.into())],
            security_groups: vec!["sg-app".into()],
            addresses: vec![address.into()],
            role: None,
            instance_profile: None,
        }
    }

    /// A healthy path: the app in the proxy's VPC, admitted by its group.
    fn good() -> PathSnapshot {
        let mut groups = BTreeMap::new();
        groups.insert(
            "sg-proxy".to_string(),
            SecurityGroup {
                id: "sg-proxy".into(),
                ingress: vec![tcp(&[], &["sg-app"])],
                egress: vec![all_out()],
            },
        );
        groups.insert(
            "sg-app".to_string(),
            SecurityGroup {
                id: "sg-app".into(),
                ingress: vec![],
                egress: vec![all_out()],
            },
        );
        PathSnapshot {
            clients: vec![Ok(instance(
                "vpc-p",
                ("subnet-a1", "10.0.2.0/24"),
                "10.0.2.15",
            ))],
            route_tables: Ok(vec![table(
                "rtb-p",
                "vpc-p",
                &[("10.0.0.0/16", Target::Local)],
            )]),
            acls: Ok(vec![open_acl("acl-p", "vpc-p")]),
            peerings: Ok(vec![]),
            tgw_attachments: Ok(vec![]),
            security_groups: groups,
            endpoints: Ok(vec![]),
            subnet_cidrs: BTreeMap::new(),
            wanted_endpoint: None,
        }
    }

    fn result(path: &PathSnapshot, check: &str) -> CheckResult {
        let (results, _) = audit_client(path, &proxy());
        results
            .into_iter()
            .find(|r| r.check == check)
            .unwrap_or_else(|| panic!("no {check} result"))
    }

    fn causes(path: &PathSnapshot) -> Vec<String> {
        audit_client(path, &proxy())
            .1
            .into_iter()
            .map(|f| f.cause)
            .collect()
    }

    #[test]
    fn specs() {
        let cases = [
            ("10.0.2.15", Some(ClientSpec::Address("10.0.2.15".into()))),
            (
                "10.0.2.0/24",
                Some(ClientSpec::Address("10.0.2.0/24".into())),
            ),
            ("sg-0abc", Some(ClientSpec::SecurityGroup("sg-0abc".into()))),
            ("i-0abc", Some(ClientSpec::Instance("i-0abc".into()))),
            ("eni-0abc", Some(ClientSpec::Interface("eni-0abc".into()))),
            (
                "lambda:orders-api",
                Some(ClientSpec::Lambda("orders-api".into())),
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:orders-api",
                Some(ClientSpec::Lambda(
                    "arn:aws:lambda:us-east-1:123456789012:function:orders-api".into(),
                )),
            ),
            ("my-laptop", None),
            ("sg-", None),
            ("2600::1", None),
        ];
        for (text, expected) in cases {
            assert_eq!(ClientSpec::parse(text).ok(), expected, "{text}");
        }
    }

    #[test]
    fn a_good_path_is_quiet() {
        let (results, findings) = audit_client(&good(), &proxy());
        assert!(findings.is_empty(), "{findings:?}");
        assert!(
            results.iter().all(|r| r.status == CheckStatus::Pass),
            "{results:?}"
        );
    }

    #[test]
    fn each_fault_yields_exactly_its_finding() {
        // The proxy's group does not admit the app.
        let mut path = good();
        path.security_groups.get_mut("sg-proxy").unwrap().ingress =
            vec![tcp(&["10.9.0.0/16"], &[])];
        assert_eq!(causes(&path), [id::PROXY_SECURITY_GROUP_BLOCKS_CLIENT]);
        let (_, findings) = audit_client(&path, &proxy());
        assert!(findings[0].remediation[0].contains(
            "authorize-security-group-ingress --group-id sg-proxy --protocol tcp --port 5432 --source-group sg-app"
        ));

        // Admitted by a range that contains the app's address.
        path.security_groups.get_mut("sg-proxy").unwrap().ingress =
            vec![tcp(&["10.0.0.0/16"], &[])];
        assert!(causes(&path).is_empty());

        // The app's group sends nothing out.
        let mut path = good();
        path.security_groups
            .get_mut("sg-app")
            .unwrap()
            .egress
            .clear();
        assert_eq!(causes(&path), [id::CLIENT_EGRESS_BLOCKED]);

        // A network ACL on the proxy's subnet denies the port.
        let mut path = good();
        let mut acl = open_acl("acl-proxy", "vpc-p");
        acl.default = false;
        acl.subnets = vec!["subnet-p1".into()];
        acl.entries.insert(
            0,
            AclEntry {
                number: 50,
                egress: false,
                protocol: "6".into(),
                ports: Some((5432, 5432)),
                cidr: "10.0.2.0/24".into(),
                allow: false,
            },
        );
        path.acls.as_mut().unwrap().push(acl);
        assert_eq!(causes(&path), [id::NETWORK_ACL_BLOCKS_CLIENT]);
        let (_, findings) = audit_client(&path, &proxy());
        assert!(
            findings[0]
                .why
                .contains("acl-proxy on subnet-p1: inbound from 10.0.2.15"),
            "{}",
            findings[0].why
        );
        assert!(
            findings[0].remediation[0]
                .contains("--network-acl-id acl-proxy --rule-number N --ingress")
        );

        // An address in no VPC: a laptop.
        let mut path = good();
        path.clients = vec![Ok(ResolvedClient {
            spec: ClientSpec::Address("203.0.113.9".into()),
            vpc_id: None,
            subnets: vec![],
            security_groups: vec![],
            addresses: vec!["203.0.113.9".into()],
            role: None,
            instance_profile: None,
        })];
        assert_eq!(causes(&path), [id::CLIENT_OUTSIDE_VPC]);
        let (_, findings) = audit_client(&path, &proxy());
        assert!(findings[0].remediation.iter().any(|s| {
            s.contains("ssh -N -L 5432:orders.proxy-abc.us-east-1.rds.amazonaws.com:5432")
        }));
    }

    /// A corporate network behind Site-to-Site VPN: the proxy's subnets route it through a
    /// VPN gateway, so it is not "outside"; the proxy's side is judged.
    #[test]
    fn an_address_behind_a_vpn_is_judged_from_the_proxys_side() {
        let mut path = good();
        path.clients = vec![Ok(ResolvedClient {
            spec: ClientSpec::Address("192.168.7.20".into()),
            vpc_id: None,
            subnets: vec![],
            security_groups: vec![],
            addresses: vec!["192.168.7.20".into()],
            role: None,
            instance_profile: None,
        })];
        path.route_tables = Ok(vec![table(
            "rtb-p",
            "vpc-p",
            &[
                ("10.0.0.0/16", Target::Local),
                ("192.168.0.0/16", Target::VpnGateway("vgw-1".into())),
            ],
        )]);
        // The proxy's group admits only sg-app: the corporate range is refused.
        assert_eq!(causes(&path), [id::PROXY_SECURITY_GROUP_BLOCKS_CLIENT]);
        let placement = result(&path, "client-placement");
        assert_eq!(placement.status, CheckStatus::Pass);
        assert!(placement.detail.contains("vgw-1"), "{placement:?}");
        let (_, findings) = audit_client(&path, &proxy());
        assert!(
            findings[0].remediation[0].contains("--cidr 192.168.7.20"),
            "{:?}",
            findings[0].remediation
        );

        // Admitted by range: quiet, and the proxy subnet's ACL is judged on its own.
        if let Some(group) = path.security_groups.get_mut("sg-proxy") {
            group.ingress.push(tcp(&["192.168.0.0/16"], &[]));
        }
        assert!(
            causes(&path).is_empty(),
            "{:?}",
            audit_client(&path, &proxy())
        );
        assert_eq!(result(&path, "network-acls").status, CheckStatus::Pass);
        let mut denied = path.clone();
        denied.acls = Ok(vec![NetworkAcl {
            entries: vec![AclEntry {
                number: 100,
                egress: false,
                protocol: "6".into(),
                ports: Some((5432, 5432)),
                cidr: "10.0.0.0/8".into(),
                allow: true,
            }],
            ..open_acl("acl-p", "vpc-p")
        }]);
        assert_eq!(causes(&denied), [id::NETWORK_ACL_BLOCKS_CLIENT]);

        // A blackholed VPN route: outside after all.
        let mut blackhole = path.clone();
        if let Ok(tables) = &mut blackhole.route_tables {
            for route in &mut tables[0].routes {
                route.blackhole = route.destination.starts_with("192.168");
            }
        }
        assert_eq!(causes(&blackhole), [id::CLIENT_OUTSIDE_VPC]);
    }

    #[test]
    fn another_vpc_needs_an_active_peering_and_routes_both_ways() {
        let peered = |status: &str| Peering {
            id: "pcx-1".into(),
            requester_vpc: "vpc-c".into(),
            accepter_vpc: "vpc-p".into(),
            status: status.into(),
        };
        let client_table = table(
            "rtb-c",
            "vpc-c",
            &[
                ("10.1.0.0/16", Target::Local),
                ("10.0.0.0/16", Target::Peering("pcx-1".into())),
            ],
        );
        let proxy_table = table(
            "rtb-p",
            "vpc-p",
            &[
                ("10.0.0.0/16", Target::Local),
                ("10.1.0.0/16", Target::Peering("pcx-1".into())),
            ],
        );
        let mut path = good();
        path.clients = vec![Ok(instance(
            "vpc-c",
            ("subnet-c1", "10.1.4.0/24"),
            "10.1.4.20",
        ))];
        path.acls = Ok(vec![open_acl("acl-p", "vpc-p"), open_acl("acl-c", "vpc-c")]);

        // No peering at all.
        path.route_tables = Ok(vec![client_table.clone(), proxy_table.clone()]);
        assert_eq!(causes(&path), [id::CLIENT_OUTSIDE_VPC]);
        let (_, findings) = audit_client(&path, &proxy());
        assert!(
            findings[0]
                .remediation
                .iter()
                .any(|s| s.contains("create-db-proxy-endpoint --db-proxy-name orders"))
        );

        // No peering, but a Transit Gateway: attachments of both VPCs and routes both ways.
        let tgw = |vpc: &str, state: &str| TgwAttachment {
            id: format!("tgw-attach-{vpc}"),
            transit_gateway: "tgw-1".into(),
            vpc_id: vpc.into(),
            state: state.into(),
        };
        let mut via_tgw = path.clone();
        via_tgw.route_tables = Ok(vec![
            table(
                "rtb-c",
                "vpc-c",
                &[("10.0.0.0/16", Target::TransitGateway("tgw-1".into()))],
            ),
            table(
                "rtb-p",
                "vpc-p",
                &[
                    ("10.0.0.0/16", Target::Local),
                    ("10.1.0.0/8", Target::TransitGateway("tgw-1".into())),
                ],
            ),
        ]);
        via_tgw.tgw_attachments = Ok(vec![tgw("vpc-c", "available"), tgw("vpc-p", "available")]);
        assert!(
            causes(&via_tgw).is_empty(),
            "{:?}",
            audit_client(&via_tgw, &proxy())
        );
        let route = result(&via_tgw, "client-route");
        assert_eq!(route.status, CheckStatus::Pass, "{route:?}");
        assert!(route.detail.contains("tgw-1"), "{route:?}");

        // The proxy's VPC is not attached.
        let mut unattached = via_tgw.clone();
        unattached.tgw_attachments = Ok(vec![tgw("vpc-c", "available")]);
        assert_eq!(causes(&unattached), [id::CLIENT_ROUTE_MISSING]);
        let (_, findings) = audit_client(&unattached, &proxy());
        assert!(
            findings[0]
                .why
                .contains("the proxy's VPC vpc-p is not attached to tgw-1"),
            "{}",
            findings[0].why
        );
        assert!(findings[0].remediation.iter().any(|f| f.contains("aws ec2 create-transit-gateway-vpc-attachment --transit-gateway-id tgw-1 --vpc-id vpc-p --subnet-ids subnet-p1")), "{:?}", findings[0].remediation);

        // An attachment waiting for acceptance.
        let mut pending = via_tgw.clone();
        pending.tgw_attachments = Ok(vec![
            tgw("vpc-c", "pendingAcceptance"),
            tgw("vpc-p", "available"),
        ]);
        let (_, findings) = audit_client(&pending, &proxy());
        assert!(findings[0].remediation.iter().any(|f| f.contains("accept-transit-gateway-vpc-attachment --transit-gateway-attachment-id tgw-attach-vpc-c")), "{:?}", findings[0].remediation);

        // No route back from the proxy's subnets.
        let mut one_way = via_tgw.clone();
        one_way.route_tables = Ok(vec![
            table(
                "rtb-c",
                "vpc-c",
                &[("10.0.0.0/16", Target::TransitGateway("tgw-1".into()))],
            ),
            proxy_table.clone(),
        ]);
        assert_eq!(causes(&one_way), [id::CLIENT_ROUTE_MISSING]);
        let (_, findings) = audit_client(&one_way, &proxy());
        assert!(findings[0].remediation.iter().any(|f| f.contains("aws ec2 create-route --route-table-id rtb-p --destination-cidr-block 10.1.4.0/24 --transit-gateway-id tgw-1")), "{:?}", findings[0].remediation);

        // Attachments unreadable: routes fine both ways, so a warning, not a block.
        let mut unread = via_tgw.clone();
        unread.tgw_attachments = Err("DescribeTransitGatewayAttachments was denied".into());
        assert!(causes(&unread).is_empty());
        assert_eq!(result(&unread, "client-route").status, CheckStatus::Warn);

        // Peered, routes both ways: quiet (the group reference works across active peering).
        path.peerings = Ok(vec![peered("active")]);
        assert!(
            causes(&path).is_empty(),
            "{:?}",
            audit_client(&path, &proxy())
        );

        // Not accepted yet.
        path.peerings = Ok(vec![peered("pending-acceptance")]);
        assert_eq!(causes(&path), [id::CLIENT_ROUTE_MISSING]);

        // No way back from the proxy's subnets.
        path.peerings = Ok(vec![peered("active")]);
        path.route_tables = Ok(vec![
            client_table,
            table("rtb-p", "vpc-p", &[("10.0.0.0/16", Target::Local)]),
        ]);
        assert_eq!(causes(&path), [id::CLIENT_ROUTE_MISSING]);
        let (_, findings) = audit_client(&path, &proxy());
        assert_eq!(
            findings[0].remediation,
            [
                "`aws ec2 create-route --route-table-id rtb-p --destination-cidr-block 10.1.4.0/24 --vpc-peering-connection-id pcx-1`"
            ]
        );
    }

    #[test]
    fn prefix_lists_admit_by_their_entries_and_unread_ones_prove_nothing() {
        let mut path = good();
        let listed = |entries: Option<Vec<String>>| Rule {
            protocol: "tcp".into(),
            from_port: Some(5432),
            to_port: Some(5432),
            prefix_lists: vec![("pl-apps".into(), entries)],
            ..Rule::default()
        };
        path.security_groups.get_mut("sg-proxy").unwrap().ingress =
            vec![listed(Some(vec!["10.0.2.0/24".into()]))];
        assert!(causes(&path).is_empty());
        path.security_groups.get_mut("sg-proxy").unwrap().ingress = vec![listed(None)];
        assert!(
            causes(&path).is_empty(),
            "an unread list is no proof of a block"
        );
        let (results, _) = audit_client(&path, &proxy());
        assert!(
            results
                .iter()
                .any(|r| r.check == "proxy-ingress-from-client" && r.status == CheckStatus::Warn)
        );
        path.security_groups.get_mut("sg-proxy").unwrap().ingress =
            vec![listed(Some(vec!["192.168.0.0/16".into()]))];
        assert_eq!(causes(&path), [id::PROXY_SECURITY_GROUP_BLOCKS_CLIENT]);
    }

    #[test]
    fn an_unknown_client_os_makes_a_narrow_return_range_a_warning() {
        let mut path = good();
        let mut acl = open_acl("acl-proxy", "vpc-p");
        acl.default = false;
        acl.subnets = vec!["subnet-p1".into()];
        // The proxy's subnet answers only on the Linux ephemeral ports.
        acl.entries = vec![
            AclEntry {
                number: 100,
                egress: false,
                protocol: "-1".into(),
                ports: None,
                cidr: "0.0.0.0/0".into(),
                allow: true,
            },
            AclEntry {
                number: 100,
                egress: true,
                protocol: "6".into(),
                ports: Some((32768, 60999)),
                cidr: "0.0.0.0/0".into(),
                allow: true,
            },
        ];
        path.acls.as_mut().unwrap().push(acl);
        let status = |path: &PathSnapshot| {
            let (results, findings) = audit_client(path, &proxy());
            let acls = results
                .into_iter()
                .find(|r| r.check == "network-acls")
                .unwrap();
            (acls.status, findings.len())
        };
        // An instance is taken as Linux: allowed.
        assert_eq!(status(&path), (CheckStatus::Pass, 0));
        // An interface could be anything: it depends.
        if let Ok(client) = &mut path.clients[0] {
            client.spec = ClientSpec::Interface("eni-1".into());
        }
        assert_eq!(status(&path), (CheckStatus::Warn, 0));
        // A Lambda function answers on 1024-65535: blocked.
        if let Ok(client) = &mut path.clients[0] {
            client.spec = ClientSpec::Lambda("f".into());
        }
        assert_eq!(status(&path), (CheckStatus::Fail, 1));
    }

    #[test]
    fn the_endpoint_in_the_clients_vpc_unless_one_is_named() {
        let mut path = good();
        path.clients = vec![Ok(instance(
            "vpc-c",
            ("subnet-c1", "10.1.4.0/24"),
            "10.1.4.20",
        ))];
        path.endpoints = Ok(vec![ProxyEndpoint {
            name: "apps".into(),
            vpc_id: "vpc-c".into(),
            subnets: vec!["subnet-c2".into()],
            security_groups: vec!["sg-proxy".into()],
            host: "apps.endpoint.proxy-abc.us-east-1.rds.amazonaws.com".into(),
            available: true,
        }]);
        path.subnet_cidrs
            .insert("subnet-c2".into(), "10.1.5.0/24".into());
        path.acls = Ok(vec![open_acl("acl-c", "vpc-c")]);
        let client = path.clients[0].clone().unwrap();
        let (side, result) = endpoint_for(&path, &proxy(), &client);
        assert_eq!(side.vpc_id, "vpc-c");
        assert_eq!(
            side.subnets,
            [("subnet-c2".to_string(), "10.1.5.0/24".to_string())]
        );
        assert!(result.detail.contains("endpoint apps"));
        // Same VPC as the client: no peering needed.
        assert!(
            causes(&path).is_empty(),
            "{:?}",
            audit_client(&path, &proxy())
        );

        path.wanted_endpoint = Some("default".into());
        assert_eq!(causes(&path), [id::CLIENT_OUTSIDE_VPC]);

        path.wanted_endpoint = Some("nope".into());
        let (side, result) = endpoint_for(&path, &proxy(), &client);
        assert_eq!(side.vpc_id, "vpc-p");
        assert_eq!(result.status, CheckStatus::Warn);
    }
}
