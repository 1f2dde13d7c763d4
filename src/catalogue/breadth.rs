//! Rules that would allow far too much: a wildcard over a public suffix (`*.co.uk`,
//! `*.github.io`), a `*` in the last label (`outlook.office365.*` allows
//! `outlook.office365.attacker.com`), an IPv4 prefix shorter than /8 or an IPv6 one shorter
//! than /16 (`0.0.0.0/0` allows 169.254.169.254). Each is a problem unless its set says
//! `broad = true`; deny sets may be as broad as they like.
//!
//! Public suffixes come from the Public Suffix List (the `psl` crate, private section
//! included). Microsoft's own data (web-service and built-in sources) lists wildcards under
//! private-section suffixes of its own platforms (`*.cloudapp.net`); only there are those
//! accepted.

use ipnet::IpNet;

use super::problem::Problem;
use super::{Action, EndpointSet, HostPattern};

/// Shortest IPv4 prefix an allowing rule may have without `broad = true`.
pub const MIN_V4: u8 = 8;
/// Shortest IPv6 prefix an allowing rule may have without `broad = true`.
pub const MIN_V6: u8 = 16;

/// Every over-broad rule of one source's sets. `microsoft`: the source is Microsoft's data.
pub(crate) fn problems(sets: &[EndpointSet], microsoft: bool, file: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    for set in sets.iter().filter(|s| s.action != Action::Deny && !s.broad) {
        let mut push = |field: String, reason: String| {
            out.push(Problem {
                file: file.to_owned(),
                entry: format!("set {}", set.id),
                field,
                reason: format!("{reason}; set broad = true on the set if that is meant"),
            })
        };
        for (i, h) in set.hosts.iter().enumerate() {
            if let Some(reason) = broad_pattern(&h.pattern, microsoft) {
                push(format!("hosts[{i}]"), format!("{}: {reason}", h.pattern));
            }
        }
        for (i, net) in set.prefixes.iter().enumerate() {
            let (len, min) = match net {
                IpNet::V4(n) => (n.prefix_len(), MIN_V4),
                IpNet::V6(n) => (n.prefix_len(), MIN_V6),
            };
            if len < min {
                push(
                    format!("prefixes[{i}]"),
                    format!("{net} is shorter than /{min} and would allow far too much"),
                );
            }
        }
    }
    out
}

/// Marks `broad = true` on the sets of Microsoft's data that only its own exemption lets
/// through (wildcards under its platforms' private suffixes), so that they stay accepted
/// once written in the native format, which carries no such exemption.
pub fn mark_microsoft_breadth(sets: &mut [EndpointSet]) {
    for set in sets.iter_mut() {
        let one = std::slice::from_ref(set);
        if !problems(one, false, "").is_empty() && problems(one, true, "").is_empty() {
            set.broad = true;
        }
    }
}

/// Why a pattern allows far too much, if it does.
fn broad_pattern(pattern: &HostPattern, microsoft: bool) -> Option<String> {
    let text = match pattern {
        HostPattern::Exact(_) => return None,
        HostPattern::Suffix(t) | HostPattern::Glob(t) => t.as_str(),
    };
    let star = text.rfind('*')?;
    if !text[star..].contains('.') {
        return Some("a `*` in the last label matches any top-level domain".to_owned());
    }
    // The labels after the one holding the last `*`: what every match ends in.
    let after = &text[star + 1..];
    let fixed = match after.strip_prefix('.') {
        Some(rest) => rest,
        None => after.split_once('.').map_or("", |(_, rest)| rest),
    };
    let suffix = psl::suffix(fixed.as_bytes())?;
    if suffix.as_bytes() != fixed.as_bytes() {
        return None;
    }
    match suffix.typ() {
        Some(psl::Type::Private) if microsoft => None,
        Some(psl::Type::Private) => Some(format!(
            "{fixed} is a public suffix (Public Suffix List, private section): anyone can \
             register a name under it"
        )),
        _ => Some(format!(
            "{fixed} is a public suffix (Public Suffix List): the wildcard covers every \
             domain registered under it"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broad_patterns() {
        let broad = |p: &str, ms: bool| broad_pattern(&HostPattern::parse(p).unwrap(), ms);
        for p in [
            "*.co.uk",
            "*.com.au",
            "*.github.io",
            "*.s3.amazonaws.com",
            "outlook.office365.*",
            "*cdn.co.uk",
            "a.*.co.uk",
        ] {
            assert!(broad(p, false).is_some(), "{p}");
        }
        for p in [
            "*.sharepoint.com",
            "*.microsoftonline.com",
            "*cdn.onenote.net",
            "autodiscover.*.onmicrosoft.com",
            "*-my.sharepoint.com",
            "outlook.office365.com",
            "*.contoso.co.uk",
        ] {
            assert_eq!(broad(p, false), None, "{p}");
        }
        // Microsoft's own wildcard under a private suffix of its platform.
        assert!(broad("*.cloudapp.net", false).is_some());
        assert_eq!(broad("*.cloudapp.net", true), None);
        // An ICANN suffix is too broad whoever lists it.
        assert!(broad("*.co.uk", true).is_some());
    }
}
