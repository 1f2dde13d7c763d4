//! A deliberately naive matcher: a linear scan over every rule with a recursive
//! `shExpMatch`. It shares no code with the compiled matcher and exists only so property tests
//! can compare the two.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::catalogue::{HostPattern, Ports};

use super::PortQuery;

pub struct Reference {
    pub names: Vec<(HostPattern, Vec<Ports>)>,
    pub prefixes: Vec<(IpNet, Vec<Ports>)>,
}

/// Textbook recursive wildcard match.
fn sh_exp_match(p: &[u8], t: &[u8]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((b'*', rest)) => (0..=t.len()).any(|i| sh_exp_match(rest, &t[i..])),
        Some((c, rest)) => t.first() == Some(c) && sh_exp_match(rest, &t[1..]),
    }
}

fn eligible(ports: &[Ports], q: Option<PortQuery>) -> bool {
    match q {
        None => true,
        Some(q) => ports.iter().any(|p| p.allows(q.proto, q.port)),
    }
}

impl Reference {
    /// The text of the deciding pattern.
    pub fn lookup_name(&self, name: &str, q: Option<PortQuery>) -> Option<String> {
        self.names
            .iter()
            .filter(|(p, ports)| {
                eligible(ports, q) && sh_exp_match(p.to_string().as_bytes(), name.as_bytes())
            })
            .map(|(p, _)| {
                let text = p.to_string();
                let (spec, rank) = match p {
                    HostPattern::Exact(_) => (usize::MAX, 2),
                    HostPattern::Suffix(_) => (text.len() - 1, 1),
                    HostPattern::Glob(_) => (text.chars().filter(|&c| c != '*').count(), 0),
                };
                (spec, rank, std::cmp::Reverse(text))
            })
            .max()
            .map(|(_, _, std::cmp::Reverse(t))| t)
    }

    pub fn lookup_ip(&self, ip: IpAddr, q: Option<PortQuery>) -> Option<String> {
        self.prefixes
            .iter()
            .filter(|(n, ports)| eligible(ports, q) && n.contains(&ip))
            .max_by_key(|(n, _)| n.prefix_len())
            .map(|(n, _)| n.to_string())
    }
}
