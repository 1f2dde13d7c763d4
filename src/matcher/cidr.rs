//! Longest-prefix match for IPv4 and IPv6, compiled into flat interval tables.
//!
//! Prefixes nest or are disjoint, so at build time they are swept into the sorted boundaries
//! of the address ranges where the innermost covering prefix changes. A lookup is then a range
//! check, one read of a 65 536-entry bucket index over the catalogue's address span, and a
//! binary search over the few boundaries in that bucket: a handful of cache lines, no
//! pointer chasing, whatever the number of prefixes.
//!
//! Each rule also records its parent (the next shorter prefix covering it), so a port filter
//! walks outwards from the innermost prefix until one is accepted.

use std::net::IpAddr;

use ipnet::IpNet;

use super::RuleId;

const NONE: u32 = u32::MAX;
/// Bits of the bucket index: 2^16 buckets.
const INDEX_BITS: u32 = 16;

/// An address family's key: `u32` for IPv4, `u128` for IPv6.
trait Key: Copy + Ord + Default {
    const BITS: u32;
    /// The largest address, as u128.
    const MAX: u128;
    fn to_u128(self) -> u128;
    fn from_u128(v: u128) -> Self;
}

impl Key for u32 {
    const BITS: u32 = 32;
    const MAX: u128 = u32::MAX as u128;
    fn to_u128(self) -> u128 {
        u128::from(self)
    }
    fn from_u128(v: u128) -> Self {
        v as u32
    }
}

impl Key for u128 {
    const BITS: u32 = 128;
    const MAX: u128 = u128::MAX;
    fn to_u128(self) -> u128 {
        self
    }
    fn from_u128(v: u128) -> Self {
        v
    }
}

/// One family's compiled prefixes.
struct Intervals<K: Key> {
    /// Positions where the innermost prefix changes, ascending; `starts[0]` is `lo`.
    starts: Vec<K>,
    /// Innermost rule from `starts[i]` up to `starts[i + 1]` (or `NONE`).
    rules: Vec<u32>,
    /// Lowest and highest address any prefix covers.
    lo: K,
    hi: K,
    /// `lo` with the bits below the index window cleared, and the window's shift.
    base: u128,
    shift: u32,
    /// `bucket[k]`: number of boundaries below the start of bucket `k`.
    bucket: Vec<u32>,
}

impl<K: Key> Intervals<K> {
    /// `prefixes`: (first address, prefix length, rule). Fills `parent`; a prefix listed again
    /// under a later rule is recorded in `aliases` as (later, first).
    fn build(
        mut prefixes: Vec<(K, u8, RuleId)>,
        parent: &mut [u32],
        aliases: &mut Vec<(RuleId, RuleId)>,
    ) -> Self {
        prefixes.sort_unstable();
        prefixes.dedup_by(|later, first| {
            let same = (later.0, later.1) == (first.0, first.1);
            if same {
                aliases.push((later.2, first.2));
            }
            same
        });
        let end_of = |start: K, len: u8| -> u128 {
            let host_bits = K::BITS - u32::from(len);
            if host_bits == 128 {
                u128::MAX
            } else {
                start.to_u128() | ((1u128 << host_bits) - 1)
            }
        };
        let mut starts: Vec<K> = Vec::with_capacity(prefixes.len() * 2);
        let mut rules: Vec<u32> = Vec::with_capacity(prefixes.len() * 2);
        let push = |pos: u128, rule: u32, starts: &mut Vec<K>, rules: &mut Vec<u32>| {
            let pos = K::from_u128(pos);
            if starts.last() == Some(&pos) {
                // Several changes at one address: the last one stands.
                starts.pop();
                rules.pop();
            }
            if rules.last() != Some(&rule) {
                starts.push(pos);
                rules.push(rule);
            }
        };
        // Open prefixes, innermost last: (last address, rule).
        let mut open: Vec<(u128, u32)> = Vec::new();
        let close_until = |limit: Option<u128>,
                           open: &mut Vec<(u128, u32)>,
                           starts: &mut Vec<K>,
                           rules: &mut Vec<u32>| {
            while let Some(&(end, _)) = open.last() {
                if limit.is_some_and(|l| end >= l) {
                    break;
                }
                open.pop();
                if let Some(next) = end.checked_add(1) {
                    if next <= K::MAX {
                        push(next, open.last().map_or(NONE, |&(_, r)| r), starts, rules);
                    }
                }
            }
        };
        for &(start, len, rule) in &prefixes {
            close_until(Some(start.to_u128()), &mut open, &mut starts, &mut rules);
            parent[rule as usize] = open.last().map_or(NONE, |&(_, r)| r);
            push(start.to_u128(), rule, &mut starts, &mut rules);
            open.push((end_of(start, len), rule));
        }
        close_until(None, &mut open, &mut starts, &mut rules);

        let lo = prefixes.first().map_or(K::default(), |p| p.0);
        let hi = prefixes
            .iter()
            .map(|&(s, l, _)| end_of(s, l))
            .max()
            .map_or(K::default(), K::from_u128);
        // Index the bits just below the span's common leading bits.
        let span_bits = 128 - (lo.to_u128() ^ hi.to_u128()).leading_zeros();
        let shift = span_bits.saturating_sub(INDEX_BITS);
        let base = if span_bits >= 128 {
            0
        } else {
            lo.to_u128() & !((1u128 << span_bits) - 1)
        };
        let buckets = if prefixes.is_empty() {
            0
        } else {
            ((hi.to_u128() - base) >> shift) as usize + 1
        };
        let mut bucket = Vec::with_capacity(buckets + 1);
        let mut j = 0usize;
        for k in 0..=buckets as u128 {
            // Past the end of the address space, every boundary is below the bucket start.
            match k
                .checked_shl(shift)
                .filter(|v| v >> shift == k)
                .and_then(|v| base.checked_add(v))
            {
                Some(at) => {
                    while j < starts.len() && starts[j].to_u128() < at {
                        j += 1;
                    }
                }
                None => j = starts.len(),
            }
            bucket.push(j as u32);
        }
        Intervals {
            starts,
            rules,
            lo,
            hi,
            base,
            shift,
            bucket,
        }
    }

    /// The innermost rule covering `ip`, or `NONE`.
    #[inline]
    fn innermost(&self, ip: K) -> u32 {
        if self.starts.is_empty() || ip < self.lo || ip > self.hi {
            return NONE;
        }
        let k = ((ip.to_u128() - self.base) >> self.shift) as usize;
        let (a, b) = (self.bucket[k] as usize, self.bucket[k + 1] as usize);
        let j = a + self.starts[a..b].partition_point(|&s| s <= ip);
        // `starts[0] == lo <= ip`, so j >= 1.
        self.rules[j - 1]
    }
}

/// Compiled prefixes, one table per family.
pub struct PrefixTable {
    v4: Intervals<u32>,
    v6: Intervals<u128>,
    /// (duplicate, canonical) rules for prefixes listed more than once.
    aliases: Vec<(RuleId, RuleId)>,
    /// Next shorter covering prefix of each rule (`NONE` at the outermost, or for non-prefix
    /// rules).
    parent: Vec<u32>,
}

impl PrefixTable {
    /// Compiles `(prefix, rule)` pairs; host bits must already be cleared. A prefix listed
    /// again keeps its lowest rule (see [`PrefixTable::aliases`]). `rule_count` sizes the
    /// parent table (rule ids are below it).
    pub fn build(prefixes: &[(IpNet, RuleId)], rule_count: usize) -> PrefixTable {
        let mut parent = vec![NONE; rule_count];
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for &(net, rule) in prefixes {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), n.prefix_len(), rule)),
                IpNet::V6(n) => v6.push((u128::from(n.network()), n.prefix_len(), rule)),
            }
        }
        let mut aliases = Vec::new();
        PrefixTable {
            v4: Intervals::build(v4, &mut parent, &mut aliases),
            v6: Intervals::build(v6, &mut parent, &mut aliases),
            parent,
            aliases,
        }
    }

    /// (duplicate, canonical) rule pairs for prefixes listed more than once.
    pub fn aliases(&self) -> &[(RuleId, RuleId)] {
        &self.aliases
    }

    /// The longest prefix containing `ip`. `ip` must be canonical (IPv4-mapped IPv6 already
    /// turned into IPv4, which [`crate::host::normalize`] does).
    #[inline]
    pub fn longest(&self, ip: IpAddr) -> Option<RuleId> {
        let r = match ip {
            IpAddr::V4(a) => self.v4.innermost(u32::from(a)),
            IpAddr::V6(a) => self.v6.innermost(u128::from(a)),
        };
        (r != NONE).then_some(r)
    }

    /// The longest prefix containing `ip` whose rule `accept` lets through (the port filter).
    #[inline]
    pub fn longest_accepted(&self, ip: IpAddr, accept: impl Fn(RuleId) -> bool) -> Option<RuleId> {
        let mut r = self.longest(ip)?;
        while !accept(r) {
            r = self.parent[r as usize];
            if r == NONE {
                return None;
            }
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(nets: &[&str]) -> PrefixTable {
        let p: Vec<(IpNet, RuleId)> = nets
            .iter()
            .enumerate()
            .map(|(i, n)| (n.parse().unwrap(), i as RuleId))
            .collect();
        PrefixTable::build(&p, p.len())
    }

    #[test]
    fn nested_and_edge_prefixes() {
        let t = table(&[
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.0/24",
            "10.1.2.128/25",
            "10.255.255.255/32",
            "0.0.0.0/0",
            "255.255.255.255/32",
            "::/0",
            "2603:1006::/40",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
        ]);
        let q = |ip: &str| t.longest(ip.parse().unwrap());
        assert_eq!(q("10.1.2.200"), Some(3));
        assert_eq!(q("10.1.2.127"), Some(2));
        assert_eq!(q("10.1.3.0"), Some(1));
        assert_eq!(q("10.2.0.0"), Some(0));
        assert_eq!(q("10.255.255.255"), Some(4));
        assert_eq!(q("10.255.255.254"), Some(0));
        assert_eq!(q("11.0.0.0"), Some(5));
        assert_eq!(q("9.255.255.255"), Some(5));
        assert_eq!(q("255.255.255.255"), Some(6));
        assert_eq!(q("255.255.255.254"), Some(5));
        assert_eq!(q("2603:1006::1"), Some(8));
        assert_eq!(q("2603:1007::1"), Some(7));
        assert_eq!(q("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), Some(9));
        // Parents walk outwards.
        assert_eq!(t.parent[3], 2);
        assert_eq!(t.parent[2], 1);
        assert_eq!(t.parent[0], 5);
        assert_eq!(t.parent[5], NONE);
        assert_eq!(t.parent[8], 7);
    }

    #[test]
    fn empty_and_disjoint() {
        let t = table(&[]);
        assert_eq!(t.longest("1.2.3.4".parse().unwrap()), None);
        let t = table(&["192.0.2.0/24", "198.51.100.0/24"]);
        assert_eq!(t.longest("192.0.2.9".parse().unwrap()), Some(0));
        assert_eq!(t.longest("192.0.3.0".parse().unwrap()), None);
        assert_eq!(t.longest("198.51.100.255".parse().unwrap()), Some(1));
        assert_eq!(t.longest("198.51.101.0".parse().unwrap()), None);
        assert_eq!(t.longest("2001:db8::1".parse().unwrap()), None);
    }
}
