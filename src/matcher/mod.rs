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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Index of the set in the catalogue.
    pub set: u32,
    /// Index into the matcher's port table.
    ports: u32,
}

/// A distinct pattern or prefix and every set that lists it.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The pattern (`*.sharepoint.com`) or prefix (`52.96.0.0/14`) as it is reported.
    pub text: Box<str>,
    pub members: Box<[Member]>,
    /// Some member lists no ports, so every port query accepts this rule.
    any_port: bool,
}

/// Collects rules, then compiles them.
#[derive(Default)]
pub struct MatcherBuilder {
    rules: Vec<(Box<str>, Target)>,
    /// (rule, member) in insertion order; grouped per rule at build time.
    members: Vec<(RuleId, Member)>,
    by_pattern: FxHashMap<HostPattern, RuleId>,
    by_prefix: FxHashMap<IpNet, RuleId>,
    ports: Vec<Ports>,
    port_ids: FxHashMap<Ports, u32>,
    /// The last ports seen: consecutive adds from one set share them.
    last_ports: Option<(Ports, u32)>,
}

#[derive(Clone)]
enum Target {
    Pattern(HostPattern),
    Prefix(IpNet),
}

impl MatcherBuilder {
    pub fn new() -> Self {
        Self::default()
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

    fn add_member(&mut self, rule: RuleId, set: u32, ports: &Ports) {
        let ports = self.port_id(ports);
        self.members.push((rule, Member { set, ports }));
    }

    /// Adds `pattern` as listed by catalogue set `set` on `ports`.
    pub fn add_pattern(&mut self, pattern: &HostPattern, set: u32, ports: &Ports) {
        let rule = match self.by_pattern.get(pattern) {
            Some(&id) => id,
            None => {
                let id = self.rules.len() as RuleId;
                self.by_pattern.insert(pattern.clone(), id);
                self.rules
                    .push((pattern.to_string().into(), Target::Pattern(pattern.clone())));
                id
            }
        };
        self.add_member(rule, set, ports);
    }

    /// Adds `net` as listed by catalogue set `set` on `ports`.
    pub fn add_prefix(&mut self, net: IpNet, set: u32, ports: &Ports) {
        let rule = match self.by_prefix.get(&net) {
            Some(&id) => id,
            None => {
                let id = self.rules.len() as RuleId;
                self.by_prefix.insert(net, id);
                self.rules
                    .push((net.to_string().into(), Target::Prefix(net)));
                id
            }
        };
        self.add_member(rule, set, ports);
    }

    pub fn build(mut self) -> Matcher {
        // Group members per rule, keeping insertion (catalogue) order within a rule.
        self.members.sort_by_key(|&(rule, _)| rule);
        self.members.dedup();
        let mut names = trie::NameTableBuilder::default();
        let mut prefixes = Vec::new();
        let mut rules = Vec::with_capacity(self.rules.len());
        let mut at = 0;
        for (id, (text, target)) in self.rules.into_iter().enumerate() {
            let id = id as RuleId;
            let begin = at;
            while at < self.members.len() && self.members[at].0 == id {
                at += 1;
            }
            let members: Box<[Member]> = self.members[begin..at].iter().map(|&(_, m)| m).collect();
            let any_port = members
                .iter()
                .any(|m| self.ports[m.ports as usize].is_unrestricted());
            match &target {
                Target::Pattern(HostPattern::Exact(n)) => names.insert_exact(n, id),
                Target::Pattern(HostPattern::Suffix(s)) => names.insert_suffix(s, id),
                Target::Pattern(p @ HostPattern::Glob(g)) => {
                    names.insert_glob(g, p.specificity(), id)
                }
                Target::Prefix(n) => prefixes.push((*n, id)),
            }
            rules.push(Rule {
                text,
                members,
                any_port,
            });
        }
        Matcher {
            names: names.build(),
            addrs: cidr::PrefixTable::build(&prefixes, rules.len()),
            rules,
            ports: self.ports,
        }
    }
}

/// The compiled, immutable matcher.
pub struct Matcher {
    names: trie::NameTable,
    addrs: cidr::PrefixTable,
    rules: Vec<Rule>,
    ports: Vec<Ports>,
}

impl Matcher {
    /// Whether some member of `rule` is reachable on the queried port.
    #[inline]
    fn accepts(&self, rule: RuleId, q: PortQuery) -> bool {
        let r = &self.rules[rule as usize];
        r.any_port
            || r.members
                .iter()
                .any(|m| self.ports[m.ports as usize].allows(q.proto, q.port))
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
        self.rules[id as usize]
            .members
            .iter()
            .filter(move |m| match port {
                None => true,
                Some(q) => self.ports[m.ports as usize].allows(q.proto, q.port),
            })
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    pub fn trie_nodes(&self) -> usize {
        self.names.node_count()
    }

    pub fn glob_count(&self) -> usize {
        self.names.glob_count()
    }
}
