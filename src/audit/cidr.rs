//! Address ranges (IPv4 and IPv6 CIDR blocks) and containment, as security group rules,
//! network ACL entries, route tables and subnets use them.

use std::net::IpAddr;

/// A CIDR block: an address and a prefix length. A bare address is a /32 (IPv4) or /128
/// (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address bits, IPv4 in the low 32 bits.
    bits: u128,
    prefix: u8,
    v6: bool,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (text, None),
        };
        match address.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) => {
                let prefix = prefix.unwrap_or(32);
                (prefix <= 32).then(|| Cidr {
                    bits: u128::from(u32::from(v4)),
                    prefix,
                    v6: false,
                })
            }
            IpAddr::V6(v6) => {
                let prefix = prefix.unwrap_or(128);
                (prefix <= 128).then(|| Cidr {
                    bits: u128::from(v6),
                    prefix,
                    v6: true,
                })
            }
        }
    }

    /// The prefix length: the longer, the more specific (route choice).
    pub fn prefix(self) -> u8 {
        self.prefix
    }

    pub fn is_v6(self) -> bool {
        self.v6
    }

    fn width(self) -> u8 {
        if self.v6 { 128 } else { 32 }
    }

    fn mask(self, prefix: u8) -> u128 {
        let width = self.width();
        if prefix == 0 {
            0
        } else {
            let all = if width == 128 {
                u128::MAX
            } else {
                u128::from(u32::MAX)
            };
            (all << (width - prefix)) & all
        }
    }

    /// Whether every address of `inner` is in `self` (same family only).
    pub fn contains(self, inner: Cidr) -> bool {
        self.v6 == inner.v6
            && inner.prefix >= self.prefix
            && self.bits & self.mask(self.prefix) == inner.bits & self.mask(self.prefix)
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
