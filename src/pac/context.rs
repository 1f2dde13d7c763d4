//! What templates see: the contract for template authors.
//!
//! | variable | content |
//! |---|---|
//! | `profile.name`, `profile.proxy` | profile name; the proxy string (e.g. `PROXY p1:3128; DIRECT`) |
//! | `profile.plain_hosts_direct`, `profile.private_addresses_direct` | booleans |
//! | `catalogue.generation`, `catalogue.version` | which catalogue the PAC was made from |
//! | `deny` | organisation denials: `{exact: {".name": 1}, suffix: {".suffix": 1}, globs: [[regex, literals, 1]]}` — any match goes to the proxy |
//! | `allow`, `supplement` | same shape, values 1 (DIRECT) or 0 (proxy); the most specific match decides, `supplement` only when `allow` has none |
//! | `v4_direct` | sorted, disjoint `[first, last]` IPv4 ranges (as numbers) sent DIRECT |
//! | `v6_direct` | the same for IPv6, as 32-digit lowercase hex strings |
//! | `direct_patterns`, `proxy_patterns` | every allow pattern routed DIRECT / to the proxy, most specific first |
//! | `chain` | for `shExpMatch`-chain templates: `[{direct: bool, patterns: [...]}]` — testing the blocks in order and taking the first block with a matching pattern gives exactly /decide's route (denials first, then allow and supplement patterns most specific first, consecutive patterns with the same route merged) |
//!
//! Address ranges are computed by asking the snapshot itself for every range between two
//! prefix boundaries, so a PAC decides addresses exactly as `/decide` does.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalogue::HostPattern;
use crate::matcher::Target;
use crate::profile::{Profile, Route};
use crate::snapshot::Snapshot;

#[derive(Serialize)]
pub struct PacContext {
    profile: ProfileView,
    catalogue: CatalogueView,
    deny: Table,
    allow: Table,
    supplement: Table,
    v4_direct: Vec<[u32; 2]>,
    v6_direct: Vec<[String; 2]>,
    direct_patterns: Vec<String>,
    proxy_patterns: Vec<String>,
    chain: Vec<ChainBlock>,
}

/// Patterns that all lead to one route, tested with `shExpMatch` (whose semantics every
/// pattern kind shares: `*` spans dots, `*.x` needs at least one more label).
#[derive(Serialize, Debug, PartialEq, Eq)]
struct ChainBlock {
    direct: bool,
    patterns: Vec<String>,
}

/// Appends `patterns` (already in deciding order) to the chain, merging runs of one route.
fn extend_chain<'a>(
    chain: &mut Vec<ChainBlock>,
    patterns: impl Iterator<Item = (&'a HostPattern, Route)>,
) {
    for (p, route) in patterns {
        let direct = route == Route::Direct;
        match chain.last_mut() {
            Some(last) if last.direct == direct => last.patterns.push(p.to_string()),
            _ => chain.push(ChainBlock {
                direct,
                patterns: vec![p.to_string()],
            }),
        }
    }
}

/// Patterns in the order that makes the first match the deciding one: most specific first,
/// exact names before `*.suffix` before globs on ties, then alphabetical (as the matcher).
fn deciding_order<'a>(rules: &[(&'a Target, Route)]) -> Vec<(&'a HostPattern, Route)> {
    let mut ordered: Vec<(&HostPattern, Route)> = rules
        .iter()
        .filter_map(|(t, r)| match t {
            Target::Pattern(p) => Some((p, *r)),
            Target::Prefix(_) => None,
        })
        .collect();
    // Two exact names or two `*.suffix` patterns of one specificity never match the same
    // host, so within such a level the order is free: group it by route, which merges the
    // chain into fewer blocks. Globs keep the matcher's alphabetical tie order.
    let key = |(p, r): &(&HostPattern, Route)| {
        let glob = matches!(p, HostPattern::Glob(_));
        let route = if glob {
            0
        } else {
            u8::from(*r == Route::Direct)
        };
        (std::cmp::Reverse(p.specificity()), glob, route)
    };
    ordered.sort_by(|a, b| key(a).cmp(&key(b)).then(a.0.cmp(b.0)));
    ordered
}

#[derive(Serialize)]
struct ProfileView {
    name: String,
    proxy: String,
    plain_hosts_direct: bool,
    private_addresses_direct: bool,
}

#[derive(Serialize)]
struct CatalogueView {
    generation: u64,
    version: String,
}

#[derive(Serialize, Default)]
struct Table {
    exact: BTreeMap<String, u8>,
    suffix: BTreeMap<String, u8>,
    /// `[regex, literal characters, route]`, most specific first.
    globs: Vec<(String, u32, u8)>,
}

impl Table {
    fn new<'a>(rules: impl Iterator<Item = (&'a Target, Route)>) -> Table {
        let mut t = Table::default();
        let mut globs = Vec::new();
        for (target, route) in rules {
            let direct = u8::from(route == Route::Direct);
            match target {
                Target::Pattern(HostPattern::Exact(n)) => {
                    t.exact.insert(format!(".{n}"), direct);
                }
                Target::Pattern(p @ HostPattern::Suffix(_)) => {
                    t.suffix
                        .insert(format!(".{}", p.suffix().unwrap_or_default()), direct);
                }
                Target::Pattern(p @ HostPattern::Glob(g)) => {
                    globs.push((p.specificity(), g.clone(), direct));
                }
                Target::Prefix(_) => {}
            }
        }
        // Most specific first; among equals the alphabetically first, as the matcher does.
        globs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        t.globs = globs
            .into_iter()
            .map(|(spec, g, direct)| (glob_regex(&g), spec, direct))
            .collect();
        t
    }
}

/// `shExpMatch` semantics as an anchored regular expression. Patterns hold only
/// `[a-z0-9-_.*]`, so `.` is the only character to escape.
fn glob_regex(g: &str) -> String {
    let mut re = String::from("^");
    for c in g.chars() {
        match c {
            '*' => re.push_str(".*"),
            '.' => re.push_str("\\."),
            c => re.push(c),
        }
    }
    re.push('$');
    re
}

impl PacContext {
    pub fn new(snap: &Snapshot, profile: &Profile) -> PacContext {
        let rules = snap.routed_rules(profile);
        let mut direct_patterns = Vec::new();
        let mut proxy_patterns = Vec::new();
        let allow = deciding_order(&rules.allow);
        for (p, r) in &allow {
            match r {
                Route::Direct => direct_patterns.push(p.to_string()),
                Route::Proxy => proxy_patterns.push(p.to_string()),
            }
        }
        let deny: Vec<(&Target, Route)> = rules.deny.iter().map(|t| (*t, Route::Proxy)).collect();
        let mut chain = Vec::new();
        extend_chain(&mut chain, deciding_order(&deny).into_iter());
        extend_chain(&mut chain, allow.into_iter());
        extend_chain(&mut chain, deciding_order(&rules.supplement).into_iter());
        let (v4_direct, v6_direct) = direct_ranges(snap, profile);
        PacContext {
            profile: ProfileView {
                name: profile.name.clone(),
                proxy: profile.proxy.clone(),
                plain_hosts_direct: profile.plain_hosts == Route::Direct,
                private_addresses_direct: profile.private_addresses == Route::Direct,
            },
            catalogue: CatalogueView {
                generation: snap.generation(),
                version: snap.version().to_owned(),
            },
            deny: Table::new(rules.deny.iter().map(|t| (*t, Route::Direct))),
            allow: Table::new(rules.allow.iter().map(|(t, r)| (*t, *r))),
            supplement: Table::new(rules.supplement.iter().map(|(t, r)| (*t, *r))),
            v4_direct,
            v6_direct,
            direct_patterns,
            proxy_patterns,
            chain,
        }
    }
}

/// Every address range the snapshot sends DIRECT under `profile`, IPv6 as hex strings.
fn direct_ranges(snap: &Snapshot, profile: &Profile) -> (Vec<[u32; 2]>, Vec<[String; 2]>) {
    let (v4, v6) = snap.address_ranges(profile, |d| d.route == Route::Direct);
    let v6 = v6
        .into_iter()
        .map(|[a, b]| [format!("{a:032x}"), format!("{b:032x}")])
        .collect();
    (v4, v6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_regexes() {
        assert_eq!(
            glob_regex("autodiscover.*.onmicrosoft.com"),
            "^autodiscover\\..*\\.onmicrosoft\\.com$"
        );
        assert_eq!(glob_regex("*cdn.onenote.net"), "^.*cdn\\.onenote\\.net$");
    }
}
