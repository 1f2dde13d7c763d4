//! Longest-prefix-match tables for IPv4 and IPv6 (prefix-trie's tree bitmap).

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;

use super::RuleId;

/// Compiled prefixes, one table per family.
#[derive(Default)]
pub struct PrefixTable {
    v4: PrefixMap<Ipv4Net, RuleId>,
    v6: PrefixMap<Ipv6Net, RuleId>,
}

impl PrefixTable {
    /// Inserts a prefix (host bits already cleared by the loader). The first rule for a prefix
    /// is kept.
    pub fn insert(&mut self, net: IpNet, rule: RuleId) {
        match net {
            IpNet::V4(n) => {
                if self.v4.get(&n).is_none() {
                    self.v4.insert(n, rule);
                }
            }
            IpNet::V6(n) => {
                if self.v6.get(&n).is_none() {
                    self.v6.insert(n, rule);
                }
            }
        }
    }

    /// The longest prefix containing `ip`. `ip` must be canonical (IPv4-mapped IPv6 already
    /// turned into IPv4, which [`crate::host::normalize`] does).
    #[inline]
    pub fn longest(&self, ip: IpAddr) -> Option<RuleId> {
        match ip {
            IpAddr::V4(a) => self.v4.get_lpm(&Ipv4Net::from(a)).map(|(_, &r)| r),
            IpAddr::V6(a) => self.v6.get_lpm(&Ipv6Net::from(a)).map(|(_, &r)| r),
        }
    }

    /// The longest prefix containing `ip` whose rule `accept` lets through (the port filter):
    /// covering prefixes come shortest first, so the last accepted one wins.
    pub fn longest_accepted(&self, ip: IpAddr, accept: impl Fn(RuleId) -> bool) -> Option<RuleId> {
        match ip {
            IpAddr::V4(a) => self
                .v4
                .cover(&Ipv4Net::from(a))
                .map(|(_, &r)| r)
                .filter(|&r| accept(r))
                .last(),
            IpAddr::V6(a) => self
                .v6
                .cover(&Ipv6Net::from(a))
                .map(|(_, &r)| r)
                .filter(|&r| accept(r))
                .last(),
        }
    }
}
