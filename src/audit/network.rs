//! The client's side of the path to a proxy endpoint, layer by layer, on plain data: which
//! route a subnet uses for a destination (longest prefix, the main table when the subnet has
//! no association of its own), what a network ACL does with a flow (stateless, ordered, first
//! matching rule number wins, implicit deny; a port range may be split between rules), and
//! whether security groups admit a client (stateful: inbound on the endpoint's groups,
//! outbound on the client's).
//!
//! Semantics in AWS's words are in `../shared/reference/network-path.md` §1.3. Nothing here
//! calls AWS: the EC2 reads that fill these types belong in `aws/`, and the checks and findings
//! built on these answers (issue 12: `--client`, `client-outside-vpc`, `client-route-missing`,
//! `network-acl-blocks-client`, ...) in `audit`.

use super::cidr::Cidr;
use super::snapshot::{Rule, SecurityGroup};

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Inside the VPC.
    Local,
    /// `pcx-…`
    Peering(String),
    /// `tgw-…`
    TransitGateway(String),
    /// `vgw-…` (Site-to-Site VPN or Direct Connect).
    VpnGateway(String),
    /// `igw-…`, `nat-…`, an instance or interface: not a way to a proxy in another VPC.
    Other(String),
}

impl Target {
    /// The id a route names (`local` inside the VPC).
    pub fn id(&self) -> &str {
        match self {
            Target::Local => "local",
            Target::Peering(id)
            | Target::TransitGateway(id)
            | Target::VpnGateway(id)
            | Target::Other(id) => id,
        }
    }
}

/// One route of a route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `DestinationCidrBlock` or `DestinationIpv6CidrBlock`.
    pub destination: String,
    pub target: Target,
    /// `State` is `blackhole` (the target is gone, or a peering not yet accepted).
    pub blackhole: bool,
}

/// A route table and the subnets explicitly associated with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    pub id: String,
    pub vpc_id: String,
    /// The VPC's main table: used by every subnet without an association of its own.
    pub main: bool,
    pub subnets: Vec<String>,
    pub routes: Vec<Route>,
}

/// The table `subnet` (in `vpc`) uses: its own association, else the VPC's main table.
pub fn table_of<'t>(tables: &'t [RouteTable], vpc: &str, subnet: &str) -> Option<&'t RouteTable> {
    tables
        .iter()
        .find(|t| t.subnets.iter().any(|s| s == subnet))
        .or_else(|| tables.iter().find(|t| t.main && t.vpc_id == vpc))
}

/// The route a table picks for `destination`: the most specific one that contains it.
/// Routes whose destination cannot be read (a prefix list) are not considered.
pub fn route_for<'t>(table: &'t RouteTable, destination: &str) -> Option<&'t Route> {
    let destination = Cidr::parse(destination)?;
    table
        .routes
        .iter()
        .filter_map(|r| Some((Cidr::parse(&r.destination)?, r)))
        .filter(|(cidr, _)| cidr.contains(destination))
        .max_by_key(|(cidr, _)| cidr.prefix())
        .map(|(_, r)| r)
}

/// One network ACL entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclEntry {
    pub number: i32,
    /// Outbound (`Egress: true`) or inbound.
    pub egress: bool,
    /// `-1` (all), `6` (TCP), `17`, ...
    pub protocol: String,
    /// The port range; `None` for all ports (protocol `-1`).
    pub ports: Option<(u16, u16)>,
    /// `CidrBlock` or `Ipv6CidrBlock`.
    pub cidr: String,
    pub allow: bool,
}

/// A network ACL and the subnets associated with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAcl {
    pub id: String,
    pub vpc_id: String,
    pub default: bool,
    pub subnets: Vec<String>,
    pub entries: Vec<AclEntry>,
}

/// The ACL of `subnet`: its association, else the VPC's default ACL.
pub fn acl_of<'a>(acls: &'a [NetworkAcl], vpc: &str, subnet: &str) -> Option<&'a NetworkAcl> {
    acls.iter()
        .find(|a| a.subnets.iter().any(|s| s == subnet))
        .or_else(|| acls.iter().find(|a| a.default && a.vpc_id == vpc))
}

/// Which way a flow crosses a subnet's edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// What a network ACL does with TCP to or from `peer` on a range of destination ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclVerdict {
    /// Every port of the range is allowed (the rule numbers that allowed them).
    Allowed(Vec<i32>),
    /// Some or all ports are denied: the first port denied and the rule that denied it
    /// (`None`: no rule matched, the implicit deny `*`).
    Denied { port: u16, rule: Option<i32> },
}

impl AclVerdict {
    pub fn allowed(&self) -> bool {
        matches!(self, AclVerdict::Allowed(_))
    }
}

/// Evaluates TCP with `peer` (the address on the other side) on destination ports
/// `ports.0..=ports.1`, as AWS does: rules in ascending number, the first that matches a port
/// decides it, ports no rule matches are denied. A rule matches when its direction is the
/// flow's, its protocol is TCP or all, its range contains the peer and its ports the port.
pub fn acl_verdict(
    acl: &NetworkAcl,
    direction: Direction,
    peer: &str,
    ports: (u16, u16),
) -> AclVerdict {
    let Some(peer) = Cidr::parse(peer) else {
        return AclVerdict::Denied {
            port: ports.0,
            rule: None,
        };
    };
    let mut entries: Vec<&AclEntry> = acl
        .entries
        .iter()
        .filter(|e| e.egress == (direction == Direction::Outbound))
        .filter(|e| e.protocol == "-1" || e.protocol == "6" || e.protocol == "tcp")
        .filter(|e| Cidr::parse(&e.cidr).is_some_and(|c| c.contains(peer)))
        .collect();
    entries.sort_by_key(|e| e.number);
    // Ports not decided yet, as disjoint ranges.
    let mut open = vec![ports];
    let mut allowed_by = Vec::new();
    for entry in entries {
        let (from, to) = entry.ports.unwrap_or((0, u16::MAX));
        let mut rest = Vec::new();
        for (lo, hi) in open {
            let (a, b) = (lo.max(from), hi.min(to));
            if a > b {
                rest.push((lo, hi));
                continue;
            }
            if !entry.allow {
                return AclVerdict::Denied {
                    port: a,
                    rule: Some(entry.number),
                };
            }
            if !allowed_by.contains(&entry.number) {
                allowed_by.push(entry.number);
            }
            if lo < a {
                rest.push((lo, a - 1));
            }
            if b < hi {
                rest.push((b + 1, hi));
            }
        }
        open = rest;
        if open.is_empty() {
            return AclVerdict::Allowed(allowed_by);
        }
    }
    AclVerdict::Denied {
        port: open.iter().map(|(lo, _)| *lo).min().unwrap_or(ports.0),
        rule: None,
    }
}

/// The ephemeral ports a client answers on, as AWS lists them, and which were assumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ephemeral {
    /// AWS Lambda, NAT gateways, load balancers, or an unknown client: 1024-65535.
    Wide,
    /// Linux (Amazon Linux and most kernels): 32768-60999.
    Linux,
}

impl Ephemeral {
    pub fn ports(self) -> (u16, u16) {
        match self {
            Ephemeral::Wide => (1024, 65535),
            Ephemeral::Linux => (32768, 60999),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Ephemeral::Wide => "1024-65535 (Lambda, NAT gateways; assumed for an unknown client)",
            Ephemeral::Linux => "32768-60999 (Linux)",
        }
    }
}

/// One leg of a stateless check, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclLeg {
    pub acl: String,
    pub subnet: String,
    pub direction: Direction,
    /// The other side's address.
    pub peer: String,
    pub ports: (u16, u16),
    pub verdict: AclVerdict,
}

/// The network ACLs of the client's and the proxy's VPCs.
#[derive(Debug, Clone, Copy)]
pub struct AclNetworkView<'a> {
    pub acls: &'a [NetworkAcl],
    pub client_vpc: &'a str,
    pub proxy_vpc: &'a str,
}

/// The four network ACL checks between a client and one proxy interface in different
/// subnets: the client's subnet out and the proxy's subnet in on `port`, then the way back
/// on the client's ephemeral ports. Traffic within one subnet is not subject to its ACL, so
/// a client in the proxy's subnet has no legs.
pub fn acl_legs(
    view: &AclNetworkView<'_>,
    client_subnet: &str,
    client_address: &str,
    proxy_subnet: &str,
    proxy_address: &str,
    port: u16,
    ephemeral: Ephemeral,
) -> Vec<AclLeg> {
    if client_subnet == proxy_subnet {
        return Vec::new();
    }
    let mut legs = Vec::new();
    let mut leg = |vpc: &str, subnet: &str, direction, peer: &str, ports: (u16, u16)| {
        if let Some(acl) = acl_of(view.acls, vpc, subnet) {
            legs.push(AclLeg {
                acl: acl.id.clone(),
                subnet: subnet.to_string(),
                direction,
                peer: peer.to_string(),
                ports,
                verdict: acl_verdict(acl, direction, peer, ports),
            });
        }
    };
    let back = ephemeral.ports();
    let (client_vpc, proxy_vpc) = (view.client_vpc, view.proxy_vpc);
    leg(
        client_vpc,
        client_subnet,
        Direction::Outbound,
        proxy_address,
        (port, port),
    );
    leg(
        proxy_vpc,
        proxy_subnet,
        Direction::Inbound,
        client_address,
        (port, port),
    );
    leg(
        proxy_vpc,
        proxy_subnet,
        Direction::Outbound,
        client_address,
        back,
    );
    leg(
        client_vpc,
        client_subnet,
        Direction::Inbound,
        proxy_address,
        back,
    );
    legs
}

/// Who the client is, as far as security groups can tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSide {
    /// The security groups on its interface (none for an address outside any VPC).
    pub security_groups: Vec<String>,
    /// Its addresses or its subnets' CIDRs: a CIDR rule must contain all of them.
    pub ranges: Vec<String>,
}

/// The inbound rule of the endpoint's groups that admits the client on TCP `port`: by a
/// reference to one of its groups, or by a range that contains all its addresses. Returns
/// the group and a description of the rule.
pub fn admitting_rule<'g>(
    endpoint_groups: impl Iterator<Item = &'g SecurityGroup>,
    client: &ClientSide,
    port: i32,
) -> Option<(String, String)> {
    for group in endpoint_groups {
        for rule in &group.ingress {
            if !rule.covers_tcp(port) {
                continue;
            }
            if let Some(g) = rule
                .groups
                .iter()
                .find(|g| client.security_groups.contains(g))
            {
                return Some((group.id.clone(), format!("TCP {port} from {g}")));
            }
            if let Some(cidr) = covering(rule, &client.ranges) {
                return Some((group.id.clone(), format!("TCP {port} from {cidr}")));
            }
        }
    }
    None
}

/// The outbound rule of the client's groups that lets it send TCP `port` to the endpoint:
/// to one of the endpoint's groups, or to a range that contains all the endpoint's subnets.
pub fn egress_rule<'g>(
    client_groups: impl Iterator<Item = &'g SecurityGroup>,
    endpoint_groups: &[String],
    endpoint_ranges: &[String],
    port: i32,
) -> Option<(String, String)> {
    for group in client_groups {
        for rule in &group.egress {
            if !rule.covers_tcp(port) {
                continue;
            }
            if let Some(g) = rule.groups.iter().find(|g| endpoint_groups.contains(g)) {
                return Some((group.id.clone(), format!("TCP {port} to {g}")));
            }
            if let Some(cidr) = covering(rule, endpoint_ranges) {
                return Some((group.id.clone(), format!("TCP {port} to {cidr}")));
            }
        }
    }
    None
}

/// A range of `rule` that contains every one of `targets` (none when there are no targets).
fn covering<'r>(rule: &'r Rule, targets: &[String]) -> Option<&'r str> {
    if targets.is_empty() {
        return None;
    }
    rule.ranges()
        .into_iter()
        .find(|c| targets.iter().all(|t| super::cidr::contains(c, t)))
}

/// A rule on TCP `port` among `rules` that names a prefix list proxydoc could not read: it
/// may admit what no readable rule does, so a block cannot be proven.
pub fn unread_rule<'r>(rules: impl Iterator<Item = &'r Rule>, port: i32) -> Option<String> {
    rules
        .filter(|r| r.covers_tcp(port))
        .find_map(|r| r.unread_prefix_lists().first().map(|l| l.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(destination: &str, target: Target) -> Route {
        Route {
            destination: destination.into(),
            target,
            blackhole: false,
        }
    }

    #[test]
    fn longest_prefix_wins_and_unassociated_subnets_use_the_main_table() {
        let main = RouteTable {
            id: "rtb-main".into(),
            vpc_id: "vpc-a".into(),
            main: true,
            subnets: vec![],
            routes: vec![route("10.0.0.0/16", Target::Local)],
        };
        let own = RouteTable {
            id: "rtb-own".into(),
            vpc_id: "vpc-a".into(),
            main: false,
            subnets: vec!["subnet-1".into()],
            routes: vec![
                route("10.0.0.0/16", Target::Local),
                route("10.1.0.0/16", Target::Peering("pcx-1".into())),
                route("10.1.5.0/24", Target::TransitGateway("tgw-1".into())),
                route("0.0.0.0/0", Target::Other("nat-1".into())),
            ],
        };
        let tables = [main, own];
        assert_eq!(
            table_of(&tables, "vpc-a", "subnet-1").unwrap().id,
            "rtb-own"
        );
        assert_eq!(
            table_of(&tables, "vpc-a", "subnet-2").unwrap().id,
            "rtb-main"
        );
        assert!(table_of(&tables, "vpc-b", "subnet-9").is_none());
        let own = &tables[1];
        // (destination, expected target)
        let cases = [
            ("10.1.7.9", Some(Target::Peering("pcx-1".into()))),
            ("10.1.5.9", Some(Target::TransitGateway("tgw-1".into()))),
            ("10.0.3.3", Some(Target::Local)),
            ("192.168.1.1", Some(Target::Other("nat-1".into()))),
        ];
        for (destination, expected) in cases {
            assert_eq!(
                route_for(own, destination).map(|r| r.target.clone()),
                expected,
                "{destination}"
            );
        }
        // The main table has no way out of the VPC.
        assert!(route_for(&tables[0], "10.1.7.9").is_none());
    }

    fn entry(
        number: i32,
        egress: bool,
        ports: Option<(u16, u16)>,
        cidr: &str,
        allow: bool,
    ) -> AclEntry {
        AclEntry {
            number,
            egress,
            protocol: if ports.is_some() { "6" } else { "-1" }.into(),
            ports,
            cidr: cidr.into(),
            allow,
        }
    }

    fn acl(entries: Vec<AclEntry>) -> NetworkAcl {
        NetworkAcl {
            id: "acl-1".into(),
            vpc_id: "vpc-a".into(),
            default: false,
            subnets: vec!["subnet-1".into()],
            entries,
        }
    }

    #[test]
    fn network_acl_order_ranges_and_implicit_deny() {
        use Direction::{Inbound, Outbound};
        let deny_all = entry(32767, false, None, "0.0.0.0/0", false);
        // (name, entries, direction, destination ports, verdict)
        type Case = (
            &'static str,
            Vec<AclEntry>,
            Direction,
            (u16, u16),
            AclVerdict,
        );
        let cases: Vec<Case> = vec![
            (
                "an allow on the port",
                vec![
                    entry(100, false, Some((5432, 5432)), "10.0.0.0/16", true),
                    deny_all.clone(),
                ],
                Inbound,
                (5432, 5432),
                AclVerdict::Allowed(vec![100]),
            ),
            (
                "a lower-numbered deny wins over a later allow",
                vec![
                    entry(90, false, Some((5432, 5432)), "10.0.1.0/24", false),
                    entry(100, false, Some((5432, 5432)), "10.0.0.0/16", true),
                ],
                Inbound,
                (5432, 5432),
                AclVerdict::Denied {
                    port: 5432,
                    rule: Some(90),
                },
            ),
            (
                "no matching rule: the implicit deny",
                vec![entry(100, false, Some((3306, 3306)), "10.0.0.0/16", true)],
                Inbound,
                (5432, 5432),
                AclVerdict::Denied {
                    port: 5432,
                    rule: None,
                },
            ),
            (
                "an outbound rule does not answer an inbound flow",
                vec![entry(100, true, None, "0.0.0.0/0", true)],
                Inbound,
                (5432, 5432),
                AclVerdict::Denied {
                    port: 5432,
                    rule: None,
                },
            ),
            (
                "a range split between two allows",
                vec![
                    entry(100, true, Some((1024, 40000)), "10.0.0.0/16", true),
                    entry(110, true, Some((40001, 65535)), "10.0.0.0/16", true),
                ],
                Outbound,
                (1024, 65535),
                AclVerdict::Allowed(vec![100, 110]),
            ),
            (
                "the Linux range only: a Lambda's return ports below it are denied",
                vec![entry(100, true, Some((32768, 60999)), "0.0.0.0/0", true)],
                Outbound,
                (1024, 65535),
                AclVerdict::Denied {
                    port: 1024,
                    rule: None,
                },
            ),
            (
                "a deny inside the range after an allow of its start",
                vec![
                    entry(100, true, Some((1024, 2000)), "0.0.0.0/0", true),
                    entry(110, true, Some((1500, 65535)), "0.0.0.0/0", false),
                ],
                Outbound,
                (1024, 65535),
                AclVerdict::Denied {
                    port: 2001,
                    rule: Some(110),
                },
            ),
            (
                "a rule for another range does not match",
                vec![entry(100, false, None, "192.168.0.0/16", true)],
                Inbound,
                (5432, 5432),
                AclVerdict::Denied {
                    port: 5432,
                    rule: None,
                },
            ),
        ];
        for (name, entries, direction, ports, expected) in cases {
            let verdict = acl_verdict(&acl(entries), direction, "10.0.1.25", ports);
            assert_eq!(verdict, expected, "{name}");
        }
    }

    #[test]
    fn four_legs_between_subnets_none_within_one() {
        let open = acl(vec![
            entry(100, false, None, "0.0.0.0/0", true),
            entry(100, true, None, "0.0.0.0/0", true),
        ]);
        let mut proxy_side = acl(vec![
            entry(100, false, Some((5432, 5432)), "10.0.1.0/24", true),
            entry(100, true, Some((32768, 60999)), "10.0.1.0/24", true),
        ]);
        proxy_side.id = "acl-proxy".into();
        proxy_side.subnets = vec!["subnet-p".into()];
        let acls = [open, proxy_side];
        let view = AclNetworkView {
            acls: &acls,
            client_vpc: "vpc-a",
            proxy_vpc: "vpc-a",
        };
        let legs = |ephemeral| {
            acl_legs(
                &view,
                "subnet-1",
                "10.0.1.25",
                "subnet-p",
                "10.0.2.9",
                5432,
                ephemeral,
            )
        };
        let linux = legs(Ephemeral::Linux);
        assert_eq!(linux.len(), 4);
        assert!(linux.iter().all(|l| l.verdict.allowed()), "{linux:?}");
        // A Lambda function answers on 1024-65535: the proxy subnet's way back is too narrow.
        let lambda = legs(Ephemeral::Wide);
        let blocked: Vec<_> = lambda.iter().filter(|l| !l.verdict.allowed()).collect();
        assert_eq!(blocked.len(), 1, "{lambda:?}");
        assert_eq!(
            (blocked[0].acl.as_str(), blocked[0].direction),
            ("acl-proxy", Direction::Outbound)
        );
        let same_subnet = acl_legs(
            &view,
            "subnet-p",
            "10.0.2.20",
            "subnet-p",
            "10.0.2.9",
            5432,
            Ephemeral::Wide,
        );
        assert!(same_subnet.is_empty());
    }

    fn group(id: &str, ingress: Vec<Rule>, egress: Vec<Rule>) -> SecurityGroup {
        SecurityGroup {
            id: id.into(),
            ingress,
            egress,
        }
    }

    fn tcp(port: i32, cidrs: &[&str], groups: &[&str]) -> Rule {
        Rule {
            protocol: "tcp".into(),
            from_port: Some(port),
            to_port: Some(port),
            cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Rule::default()
        }
    }

    #[test]
    fn security_groups_admit_by_reference_or_a_containing_range() {
        let client = ClientSide {
            security_groups: vec!["sg-lambda".into()],
            ranges: vec!["10.0.1.0/24".into(), "10.0.2.0/24".into()],
        };
        // (endpoint ingress rules, admitted)
        let cases = [
            (vec![tcp(5432, &[], &["sg-lambda"])], true),
            (vec![tcp(5432, &["10.0.0.0/16"], &[])], true),
            // Covers one of the client's subnets only.
            (vec![tcp(5432, &["10.0.1.0/24"], &[])], false),
            (vec![tcp(3306, &[], &["sg-lambda"])], false),
            (vec![tcp(5432, &[], &["sg-other"])], false),
            (vec![], false),
        ];
        for (rules, admitted) in cases {
            let groups = [group("sg-proxy", rules.clone(), vec![])];
            assert_eq!(
                admitting_rule(groups.iter(), &client, 5432).is_some(),
                admitted,
                "{rules:?}"
            );
        }
        let everything = Rule {
            protocol: "-1".into(),
            cidrs: vec!["0.0.0.0/0".into()],
            ..Rule::default()
        };
        let ranges = ["10.0.2.0/24".to_string()];
        let endpoint = ["sg-proxy".to_string()];
        // (client egress rules, allowed)
        let cases = [
            (vec![everything], true),
            (vec![tcp(5432, &[], &["sg-proxy"])], true),
            (vec![tcp(5432, &["10.0.0.0/16"], &[])], true),
            (vec![tcp(5432, &["10.9.0.0/16"], &[])], false),
            (vec![], false),
        ];
        for (rules, allowed) in cases {
            let groups = [group("sg-lambda", vec![], rules.clone())];
            assert_eq!(
                egress_rule(groups.iter(), &endpoint, &ranges, 5432).is_some(),
                allowed,
                "{rules:?}"
            );
        }
    }
}
