//! The compiled matcher: host name or address in, deciding rule out.
//!
//! Built once per catalogue snapshot and immutable afterwards (`Send + Sync`, shared by every
//! request). Patterns are sorted into the cheapest strategy that can hold them, as globset does:
//! exact names and `*.suffix` wildcards go into a reversed-label trie ([`trie`]), prefixes into
//! longest-prefix-match tables ([`cidr`]), and only the rare patterns with a `*` elsewhere
//! become globs anchored in the trie by their fixed trailing labels ([`glob`]).
//!
//! The matcher knows rules and the (set, ports) members that list them; what a set means
//! (category, action, source) is the snapshot's business.

pub mod cidr;
pub mod glob;
pub mod trie;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use rustc_hash::FxHashMap;

use crate::catalogue::{HostPattern, Ports, Proto};

/// Index of a rule (one distinct pattern or prefix) in [`Matcher::rules`].
pub type RuleId = u32;

/// A port filter: only sets reachable on this port and protocol are candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortQuery {
    pub proto: Proto,
    pub port: u16,
}

/// One endpoint set listing a rule, with the ports it lists it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    /// Index of the set in the catalogue.
    pub set: u32,
    /// Index into the matcher's port table.
    ports: u32,
}

/// What a rule matches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Pattern(HostPattern),
    Prefix(IpNet),
}

impl fmt::Display for Target {
    /// The pattern (`*.sharepoint.com`) or prefix (`52.96.0.0/14`) as decisions report it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Pattern(p) => f.write_str(p.as_str()),
            Target::Prefix(n) => write!(f, "{n}"),
        }
    }
}

/// A distinct pattern or prefix and the sets that list it.
#[derive(Debug, Clone)]
pub struct Rule {
    pub target: Target,
    /// Range of this rule's members in [`Matcher::members`].
    members: (u32, u32),
    /// Some member lists no ports, so every port query accepts this rule.
    any_port: bool,
}

/// Collects rules, then compiles them.
///
/// Adding is only appending: every added pattern or prefix gets a provisional rule id, and
/// repeats are merged at build time by the tables themselves (the trie meets them at the same
/// node, the prefix sweep next to each other), which is far cheaper for large catalogues than
/// a hash map of every pattern.
#[derive(Default)]
pub struct MatcherBuilder {
    /// Provisional rule id → what it matches.
    targets: Vec<Target>,
    /// (rule, member) in insertion order.
    members: Vec<(RuleId, Member)>,
    ports: Vec<Ports>,
    port_ids: FxHashMap<Ports, u32>,
    /// The last ports seen: consecutive adds from one set share them.
    last_ports: Option<(Ports, u32)>,
}

impl MatcherBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder sized for about `rules` patterns and prefixes.
    pub fn with_capacity(rules: usize) -> Self {
        let mut b = Self::default();
        b.targets.reserve(rules);
        b.members.reserve(rules);
        b
    }

    fn port_id(&mut self, ports: &Ports) -> u32 {
        if let Some((last, id)) = &self.last_ports {
            if last == ports {
                return *id;
            }
        }
        let id = match self.port_ids.get(ports) {
            Some(&id) => id,
            None => {
                let id = self.ports.len() as u32;
                self.ports.push(ports.clone());
                self.port_ids.insert(ports.clone(), id);
                id
            }
        };
        self.last_ports = Some((ports.clone(), id));
        id
    }

    fn add(&mut self, target: Target, set: u32, ports: &Ports) {
        let rule = self.targets.len() as RuleId;
        self.targets.push(target);
        let ports = self.port_id(ports);
        self.members.push((rule, Member { set, ports }));
    }

    /// Adds `pattern` as listed by catalogue set `set` on `ports`.
    pub fn add_pattern(&mut self, pattern: &HostPattern, set: u32, ports: &Ports) {
        self.add(Target::Pattern(pattern.clone()), set, ports);
    }

    /// Adds `net` as listed by catalogue set `set` on `ports`.
    pub fn add_prefix(&mut self, net: IpNet, set: u32, ports: &Ports) {
        self.add(Target::Prefix(net), set, ports);
    }

    pub fn build(mut self) -> Matcher {
        let n = self.targets.len();
        let mut canonical: Vec<RuleId> = (0..n as RuleId).collect();
        let mut names = trie::NameTableBuilder::default();
        let mut prefixes = Vec::new();
        let mut globs: FxHashMap<&str, RuleId> = FxHashMap::default();
        for (id, t) in self.targets.iter().enumerate() {
            let id = id as RuleId;
            match t {
                Target::Pattern(HostPattern::Exact(n)) => names.insert_exact(n, id),
                Target::Pattern(p @ HostPattern::Suffix(_)) => {
                    names.insert_suffix(p.suffix().unwrap_or_default(), id)
                }
                Target::Pattern(p @ HostPattern::Glob(g)) => match globs.get(g.as_str()) {
                    Some(&first) => canonical[id as usize] = first,
                    None => {
                        globs.insert(g, id);
                        names.insert_glob(g, p.specificity(), id);
                    }
                },
                Target::Prefix(net) => prefixes.push((*net, id)),
            }
        }
        let built = names.build();
        let addrs = cidr::PrefixTable::build(&prefixes, n);
        for &(dup, first) in built.aliases.iter().chain(addrs.aliases()) {
            canonical[dup as usize] = first;
        }
        // Group members per canonical rule, keeping insertion (catalogue) order within one.
        for (rule, _) in &mut self.members {
            *rule = canonical[*rule as usize];
        }
        self.members.sort_by_key(|&(rule, _)| rule);
        self.members.dedup();
        let members: Vec<Member> = self.members.iter().map(|&(_, m)| m).collect();
        let mut rules = Vec::with_capacity(n);
        let mut at = 0;
        for (id, target) in self.targets.into_iter().enumerate() {
            let begin = at;
            while at < self.members.len() && self.members[at].0 == id as RuleId {
                at += 1;
            }
            let any_port = members[begin..at]
                .iter()
                .any(|m| self.ports[m.ports as usize].is_unrestricted());
            // A merged duplicate keeps its target but no members: nothing refers to it.
            rules.push(Rule {
                target,
                members: (begin as u32, at as u32),
                any_port,
            });
        }
        let live = rules.iter().filter(|r| r.members.0 != r.members.1).count();
        Matcher {
            names: built.table,
            addrs,
            rules,
            live,
            members,
            ports: self.ports,
        }
    }
}

/// The compiled, immutable matcher.
pub struct Matcher {
    names: trie::NameTable,
    addrs: cidr::PrefixTable,
    rules: Vec<Rule>,
    /// Rules that are not merged duplicates.
    live: usize,
    members: Vec<Member>,
    ports: Vec<Ports>,
}

impl Matcher {
    /// Whether the matcher has no rules at all.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether some member of `rule` is reachable on the queried port.
    #[inline]
    fn accepts(&self, rule: RuleId, q: PortQuery) -> bool {
        let r = &self.rules[rule as usize];
        r.any_port
            || self
                .rule_members(r)
                .iter()
                .any(|m| self.ports[m.ports as usize].allows(q.proto, q.port))
    }

    fn rule_members(&self, r: &Rule) -> &[Member] {
        &self.members[r.members.0 as usize..r.members.1 as usize]
    }

    /// The most specific rule for a normalised host name: an exact name beats every wildcard,
    /// wildcards rank by literal characters. With a port, only rules listed by a set on that
    /// port are candidates.
    #[inline]
    pub fn lookup_name(&self, name: &str, port: Option<PortQuery>) -> Option<RuleId> {
        match port {
            None => self.names.lookup(name, |_| true),
            Some(q) => self.names.lookup(name, |r| self.accepts(r, q)),
        }
    }

    /// The longest prefix containing a canonical address, with the same port filter.
    #[inline]
    pub fn lookup_ip(&self, ip: IpAddr, port: Option<PortQuery>) -> Option<RuleId> {
        match port {
            None => self.addrs.longest(ip),
            Some(q) => self.addrs.longest_accepted(ip, |r| self.accepts(r, q)),
        }
    }

    pub fn rule(&self, id: RuleId) -> &Rule {
        &self.rules[id as usize]
    }

    /// The members of `rule` reachable on the queried port (all of them without a port).
    pub fn members(&self, id: RuleId, port: Option<PortQuery>) -> impl Iterator<Item = &Member> {
        self.rule_members(&self.rules[id as usize])
            .iter()
            .filter(move |m| match port {
                None => true,
                Some(q) => self.ports[m.ports as usize].allows(q.proto, q.port),
            })
    }

    /// Every port some set lists `rule` on (unrestricted when one lists none).
    pub fn rule_ports(&self, id: RuleId) -> Ports {
        let mut members = self.rule_members(&self.rules[id as usize]).iter();
        let first = members
            .next()
            .map(|m| self.ports[m.ports as usize].clone())
            .unwrap_or_default();
        members.fold(first, |acc, m| acc.union(&self.ports[m.ports as usize]))
    }

    /// Number of rule ids (merged duplicates included): the size of tables indexed by id.
    pub fn rule_slots(&self) -> usize {
        self.rules.len()
    }

    /// Every rule that is not a merged duplicate.
    pub fn live_rules(&self) -> impl Iterator<Item = (RuleId, &Rule)> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.members.0 != r.members.1)
            .map(|(i, r)| (i as RuleId, r))
    }

    /// Number of distinct patterns and prefixes.
    pub fn rule_count(&self) -> usize {
        self.live
    }
}
