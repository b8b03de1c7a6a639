//! Address ranges (IPv4 and IPv6 CIDR blocks, `ipnet`) and containment, as security group
//! rules, network ACL entries, route tables and subnets use them.

use std::net::IpAddr;

use ipnet::IpNet;

/// A CIDR block: an address and a prefix length. A bare address is a /32 (IPv4) or /128
/// (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let text = text.trim();
        text.parse::<IpNet>()
            .ok()
            .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
            .map(Cidr)
    }

    /// The prefix length: the longer, the more specific (route choice).
    pub fn prefix(self) -> u8 {
        self.0.prefix_len()
    }

    pub fn is_v6(self) -> bool {
        matches!(self.0, IpNet::V6(_))
    }

    /// Whether every address of `inner` is in `self` (same family only).
    pub fn contains(self, inner: Cidr) -> bool {
        self.0.contains(&inner.0)
    }

    /// Whether the two blocks share any address.
    pub fn overlaps(self, other: Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }
}

/// Whether the CIDR text `outer` contains `inner` (either may be IPv4 or IPv6; text that is
/// not a CIDR contains nothing).
pub fn contains(outer: &str, inner: &str) -> bool {
    matches!((Cidr::parse(outer), Cidr::parse(inner)), (Some(o), Some(i)) if o.contains(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_table() {
        // (outer, inner, contains)
        let cases = [
            ("10.0.0.0/16", "10.0.1.0/24", true),
            ("10.0.0.0/16", "10.0.1.7", true),
            ("10.0.0.0/16", "10.1.0.0/24", false),
            ("10.0.1.0/24", "10.0.0.0/16", false),
            ("0.0.0.0/0", "192.168.1.1/32", true),
            ("10.0.1.7", "10.0.1.7/32", true),
            ("2600:1f18:abcd::/56", "2600:1f18:abcd:12::/64", true),
            ("2600:1f18:abcd::/56", "2600:1f18:abce::/64", false),
            ("::/0", "2600:1f18::1", true),
            // Families never contain each other.
            ("::/0", "10.0.0.1", false),
            ("0.0.0.0/0", "::1", false),
            ("not a cidr", "10.0.0.1", false),
            ("10.0.0.0/33", "10.0.0.1", false),
        ];
        for (outer, inner, expected) in cases {
            assert_eq!(contains(outer, inner), expected, "{outer} ⊇ {inner}");
        }
        let a = Cidr::parse("10.0.0.0/16").unwrap();
        assert!(a.overlaps(Cidr::parse("10.0.3.0/24").unwrap()));
        assert!(!a.overlaps(Cidr::parse("10.1.0.0/16").unwrap()));
        assert_eq!(a.prefix(), 16);
    }
}
