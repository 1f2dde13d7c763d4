//! `check --pac`: proves a profile's PAC routes every probe the way `/decide` does.
//!
//! Probes come from the catalogue itself — every pattern instantiated, the bare suffix of each
//! `*.suffix`, children of exact names, upper-case, trailing-dot and international variants,
//! addresses just inside and just outside every prefix — plus names outside it. Each is
//! decided by the snapshot and evaluated by the PAC in the embedded engine; any difference
//! is a mismatch.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::catalogue::{Catalogue, HostPattern};
use crate::host;
use crate::profile::{Profile, Route};
use crate::snapshot::Snapshot;

use super::engine::{browser_host, EngineOptions, EvalError, Evaluator};

/// One probe: what `/decide` is asked and what the PAC is given for the same destination.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Probe {
    /// The host as a client would send it to `/decide`.
    pub decide: String,
    /// The host as a browser passes it to `FindProxyForURL`.
    pub pac: String,
}

/// A probe on which the PAC and `/decide` disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub probe: Probe,
    /// What the PAC returned (or why it failed).
    pub pac: String,
    /// What `/decide` routes to, as a PAC result.
    pub decide: String,
}

/// The outcome for one profile.
#[derive(Debug)]
pub struct Report {
    pub probes: usize,
    pub mismatches: Vec<Mismatch>,
}

/// Names no catalogue is expected to hold, and local ones.
const OUTSIDE: &[&str] = &[
    "www.example.com",
    "example.org",
    "a.b.c.example.net",
    "intranet",
    "localhost",
    "printer.local",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "127.0.0.1",
    "8.8.8.8",
    "fd00::1",
    "fe80::1",
    "::1",
    "2001:db8::1",
];

/// Every probe for a catalogue, deduplicated and sorted.
pub fn probes(cat: &Catalogue) -> Vec<Probe> {
    let mut out = BTreeSet::new();
    fn add(out: &mut BTreeSet<Probe>, decide: String, pac: String) {
        out.insert(Probe { decide, pac });
    }
    // The same host three ways: as is, shouted (non-browser clients pass it unchanged) and
    // fully qualified with a trailing dot.
    fn variants(out: &mut BTreeSet<Probe>, name: &str) {
        add(out, name.to_owned(), name.to_owned());
        add(out, name.to_owned(), name.to_ascii_uppercase());
        add(out, format!("{name}."), format!("{name}."));
    }
    for set in &cat.sets {
        for h in &set.hosts {
            match &h.pattern {
                HostPattern::Exact(n) => {
                    variants(&mut out, n);
                    variants(&mut out, &format!("child.{n}"));
                }
                p @ HostPattern::Suffix(_) => {
                    let s = p.suffix().unwrap_or_default();
                    variants(&mut out, s);
                    variants(&mut out, &format!("x.{s}"));
                    variants(&mut out, &format!("a.b.{s}"));
                    // An international label: /decide takes it in Unicode, browsers pass
                    // punycode.
                    let idn = format!("bücher.{s}");
                    add(&mut out, idn.clone(), browser_host(&idn));
                }
                HostPattern::Glob(g) => {
                    for fill in ["x", "a.b", ""] {
                        let name = g.replace('*', fill);
                        if !name.is_empty() && !name.starts_with('.') && !name.contains("..") {
                            variants(&mut out, name.trim_end_matches('.'));
                        }
                    }
                }
            }
        }
        for net in &set.prefixes {
            let ips: Vec<IpAddr> = match net {
                ipnet::IpNet::V4(n) => {
                    let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
                    [Some(lo), Some(hi), lo.checked_sub(1), hi.checked_add(1)]
                        .into_iter()
                        .flatten()
                        .map(|a| IpAddr::V4(Ipv4Addr::from(a)))
                        .collect()
                }
                ipnet::IpNet::V6(n) => {
                    let (lo, hi) = (u128::from(n.network()), u128::from(n.broadcast()));
                    [Some(lo), Some(hi), lo.checked_sub(1), hi.checked_add(1)]
                        .into_iter()
                        .flatten()
                        .map(|a| IpAddr::V6(Ipv6Addr::from(a)))
                        .collect()
                }
            };
            for ip in ips {
                add(&mut out, ip.to_string(), ip.to_string());
            }
        }
    }
    for name in OUTSIDE {
        add(&mut out, (*name).to_owned(), browser_host(name));
    }
    out.into_iter().collect()
}

/// Route strings compare equal whatever the spacing around `;`.
fn canonical(route: &str) -> String {
    route
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Evaluates `pac` on every probe and compares with the snapshot's routes under `profile`.
/// Probes `/decide` itself refuses (not a host name) are skipped.
pub fn check(
    snap: &Snapshot,
    profile: &Profile,
    pac: &str,
    probes: &[Probe],
    opts: &EngineOptions,
) -> Result<Report, EvalError> {
    let mut engine = Evaluator::load(pac, opts)?;
    let proxy = canonical(&profile.proxy);
    let mut report = Report {
        probes: 0,
        mismatches: Vec::new(),
    };
    for probe in probes {
        let Ok(h) = host::normalize(&probe.decide) else {
            continue;
        };
        report.probes += 1;
        let want = match snap.decide(&h, None, profile).route {
            Route::Direct => "DIRECT".to_owned(),
            Route::Proxy => proxy.clone(),
        };
        let url = if probe.pac.contains(':') {
            format!("http://[{}]/", probe.pac)
        } else {
            format!("http://{}/", probe.pac)
        };
        let got = match engine.find_proxy(&url, &probe.pac) {
            Ok(a) => canonical(&a.result),
            Err(e @ (EvalError::Timeout(_) | EvalError::Abandoned)) => return Err(e),
            Err(e) => format!("error: {e}"),
        };
        if got != want {
            report.mismatches.push(Mismatch {
                probe: probe.clone(),
                pac: got,
                decide: want,
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pac::Templates;

    use crate::snapshot::builtin_for_tests as builtin;

    #[test]
    fn probes_cover_the_documented_kinds() {
        let snap = builtin();
        let p = probes(snap.catalogue());
        let has = |d: &str, pac: &str| p.iter().any(|x| x.decide == d && x.pac == pac);
        assert!(has("sharepoint.com", "sharepoint.com"), "bare suffix");
        assert!(
            has("a.b.sharepoint.com", "a.b.sharepoint.com"),
            "several labels"
        );
        assert!(has("x.sharepoint.com", "X.SHAREPOINT.COM"), "upper case");
        assert!(
            has("x.sharepoint.com.", "x.sharepoint.com."),
            "trailing dot"
        );
        assert!(
            has("bücher.sharepoint.com", "xn--bcher-kva.sharepoint.com"),
            "international name"
        );
        assert!(has(
            "child.outlook.office365.com",
            "child.outlook.office365.com"
        ));
        assert!(has(
            "autodiscover.x.onmicrosoft.com",
            "autodiscover.x.onmicrosoft.com"
        ));
        // 13.107.6.152/31: both ends inside, neighbours outside.
        for ip in [
            "13.107.6.151",
            "13.107.6.152",
            "13.107.6.153",
            "13.107.6.154",
        ] {
            assert!(has(ip, ip), "{ip}");
        }
        assert!(p.iter().any(|x| x.decide.contains(':')), "IPv6 probes");
        assert!(has("www.example.com", "www.example.com"));
    }

    /// The built-in template agrees with /decide on every probe, for both presets.
    #[test]
    fn default_template_agrees() {
        let snap = builtin();
        let probes = probes(snap.catalogue());
        let templates = Templates::load(None).unwrap();
        for profile in [Profile::type1(), Profile::type2()] {
            let pac = templates.render(&snap, &profile).unwrap();
            let r = check(&snap, &profile, &pac, &probes, &EngineOptions::default()).unwrap();
            assert!(r.probes > 1000, "{}", r.probes);
            assert_eq!(r.mismatches, vec![], "profile {}", profile.name);
        }
    }

    /// The Microsoft-style chain agrees too.
    #[test]
    fn microsoft_compatible_template_agrees() {
        let snap = builtin();
        let probes = probes(snap.catalogue());
        let templates = Templates::load(None).unwrap();
        for mut profile in [Profile::type1(), Profile::type2()] {
            profile.template = crate::pac::MICROSOFT_NAME.into();
            let pac = templates.render(&snap, &profile).unwrap();
            assert!(
                pac.contains("shExpMatch(host, \"*.lync.com\")"),
                "chain shape"
            );
            let r = check(&snap, &profile, &pac, &probes, &EngineOptions::default()).unwrap();
            assert_eq!(r.mismatches, vec![], "profile {}", profile.name);
        }
    }

    /// A PAC that is wrong on purpose is caught: one suffix flipped, and the IPv6 ranges lost.
    #[test]
    fn broken_pacs_are_caught() {
        let snap = builtin();
        let probes = probes(snap.catalogue());
        let profile = Profile::type2();
        let pac = Templates::load(None)
            .unwrap()
            .render(&snap, &profile)
            .unwrap();
        let flipped = pac.replacen("\".sharepoint.com\":1", "\".sharepoint.com\":0", 1);
        assert_ne!(flipped, pac, "the PAC has the entry to flip");
        let r = check(
            &snap,
            &profile,
            &flipped,
            &probes,
            &EngineOptions::default(),
        )
        .unwrap();
        assert!(r
            .mismatches
            .iter()
            .any(|m| m.probe.decide == "x.sharepoint.com" && m.pac != "DIRECT"));
        let no_v6 = pac.replace("var V6_DIRECT = [", "var V6_DIRECT = []; var __unused = [");
        let r = check(&snap, &profile, &no_v6, &probes, &EngineOptions::default()).unwrap();
        assert!(r.mismatches.iter().all(|m| m.probe.decide.contains(':')));
        assert!(!r.mismatches.is_empty());
    }
}
