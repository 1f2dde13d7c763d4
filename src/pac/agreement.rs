//! `check --pac`: proves a profile's PAC routes every probe the way `/decide` does.
//!
//! Probes come from the catalogue itself — every pattern instantiated, the bare suffix of each
//! `*.suffix`, children of exact names, addresses just inside and just outside every prefix —
//! plus names outside it, each in the spellings clients send: as browsers canonicalise it,
//! and as typed by clients that pass the host untouched (upper case, trailing dot, full-width,
//! ideographic and halfwidth dots, a trailing U+3002, soft hyphens and zero-width
//! characters, invalid punycode, percent-encoding; octal, hex, short and single-number IPv4;
//! IPv6 with and without brackets, IPv4-mapped, with zone ids). The PAC is given each exact
//! string and must answer what `/decide` routes for that string; a string `/decide` refuses
//! must go to the proxy.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::catalogue::{Catalogue, HostPattern};
use crate::host;
use crate::profile::{Profile, Route};
use crate::snapshot::Snapshot;

use super::engine::{EngineOptions, EvalError, Evaluator};

/// One probe: the exact host string given both to `/decide` and to `FindProxyForURL`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Probe {
    pub host: String,
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
    "52.80.1.1",
    "fd00::1",
    "fe80::1",
    "::1",
    "2001:db8::1",
];

/// Spellings of a name that clients send: as is, and the forms only some clients read.
fn name_spellings(name: &str) -> Vec<String> {
    let (first, rest) = name.split_once('.').unwrap_or((name, ""));
    let dotted = |sep: &str| name.replace('.', sep);
    let mut out = vec![
        name.to_owned(),
        name.to_ascii_uppercase(),
        format!("{name}."),
        dotted("\u{ff0e}"),
        dotted("\u{3002}"),
        dotted("\u{ff61}"),
        format!("{name}\u{3002}"),
        format!("xn--{name}"),
        name.replacen('.', "%2e", 1),
    ];
    if first.len() > 1 {
        let (a, b) = first.split_at(1);
        for mark in ["\u{ad}", "\u{200b}", "\u{200d}"] {
            out.push(format!(
                "{a}{mark}{b}{}{rest}",
                if rest.is_empty() { "" } else { "." }
            ));
        }
        // The first label in full-width letters.
        let wide: String = first
            .chars()
            .map(|c| match c {
                'a'..='z' => char::from_u32(c as u32 - 'a' as u32 + 0xff41).unwrap_or(c),
                _ => c,
            })
            .collect();
        out.push(format!(
            "{wide}{}{rest}",
            if rest.is_empty() { "" } else { "." }
        ));
    }
    out
}

/// Spellings of an IPv4 address: canonical, octal, hex, short and single-number forms, and
/// IPv4-mapped IPv6.
fn v4_spellings(a: Ipv4Addr) -> Vec<String> {
    let o = a.octets();
    let n = u32::from(a);
    vec![
        a.to_string(),
        format!("{a}."),
        format!("0{:o}.0{:o}.0{:o}.0{:o}", o[0], o[1], o[2], o[3]),
        format!("0x{:x}.0x{:x}.0x{:x}.0x{:x}", o[0], o[1], o[2], o[3]),
        format!("0{}.{}.{}.{}", o[0], o[1], o[2], o[3]),
        format!("{}.{}.{}", o[0], o[1], n & 0xffff),
        format!("{}.{}", o[0], n & 0xff_ffff),
        n.to_string(),
        format!("0x{n:x}"),
        format!("0x{n:X}"),
        format!("::ffff:{a}"),
        format!("[::ffff:{a}]"),
    ]
}

/// Spellings of an IPv6 address: compressed and full, bracketed, upper case, with a zone.
fn v6_spellings(a: Ipv6Addr) -> Vec<String> {
    let s = a.segments();
    let full = format!(
        "{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
        s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
    );
    vec![
        a.to_string(),
        format!("[{a}]"),
        full.to_ascii_uppercase(),
        format!("{a}%eth0"),
        format!("[{a}%25eth0]"),
    ]
}

/// Every probe for a catalogue, deduplicated and sorted.
pub fn probes(cat: &Catalogue) -> Vec<Probe> {
    let mut names = BTreeSet::new();
    let mut addresses = BTreeSet::new();
    for set in &cat.sets {
        for h in &set.hosts {
            match &h.pattern {
                HostPattern::Exact(n) => {
                    names.insert(n.clone());
                    names.insert(format!("child.{n}"));
                }
                p @ HostPattern::Suffix(_) => {
                    let s = p.suffix().unwrap_or_default();
                    names.insert(s.to_owned());
                    names.insert(format!("x.{s}"));
                    names.insert(format!("a.b.{s}"));
                    // An international label: browsers pass punycode, others Unicode.
                    names.insert(format!("bücher.{s}"));
                    names.insert(format!("xn--bcher-kva.{s}"));
                }
                HostPattern::Glob(g) => {
                    for fill in ["x", "a.b", ""] {
                        let name = g.replace('*', fill);
                        if !name.is_empty() && !name.starts_with('.') && !name.contains("..") {
                            names.insert(name.trim_end_matches('.').to_owned());
                        }
                    }
                }
            }
        }
        for net in &set.prefixes {
            match net {
                ipnet::IpNet::V4(n) => {
                    let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
                    for a in [Some(lo), Some(hi), lo.checked_sub(1), hi.checked_add(1)]
                        .into_iter()
                        .flatten()
                    {
                        addresses.insert(IpAddr::V4(Ipv4Addr::from(a)));
                    }
                }
                ipnet::IpNet::V6(n) => {
                    let (lo, hi) = (u128::from(n.network()), u128::from(n.broadcast()));
                    for a in [Some(lo), Some(hi), lo.checked_sub(1), hi.checked_add(1)]
                        .into_iter()
                        .flatten()
                    {
                        addresses.insert(IpAddr::V6(Ipv6Addr::from(a)));
                    }
                }
            }
        }
    }
    for h in OUTSIDE {
        match h.parse::<IpAddr>() {
            Ok(ip) => addresses.insert(ip),
            Err(_) => names.insert((*h).to_owned()),
        };
    }
    let mut out = BTreeSet::new();
    for n in &names {
        out.extend(name_spellings(n));
    }
    for a in addresses {
        match a {
            IpAddr::V4(a) => out.extend(v4_spellings(a)),
            IpAddr::V6(a) => out.extend(v6_spellings(a)),
        }
    }
    out.into_iter().map(|host| Probe { host }).collect()
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

/// What `/decide` routes `host` to under `profile`, as a PAC result: the proxy for a host it
/// refuses.
pub fn decide_route(snap: &Snapshot, profile: &Profile, host: &str) -> Route {
    match host::read(host) {
        Ok(r) => snap.decide_read(&r, None, profile).route,
        Err(_) => Route::Proxy,
    }
}

/// Evaluates `pac` on every probe and compares with the snapshot's routes under `profile`.
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
        report.probes += 1;
        let want = match decide_route(snap, profile, &probe.host) {
            Route::Direct => "DIRECT".to_owned(),
            Route::Proxy => proxy.clone(),
        };
        let url = if probe.host.contains(':') && !probe.host.starts_with('[') {
            format!("http://[{}]/", probe.host)
        } else {
            format!("http://{}/", probe.host)
        };
        let got = match engine.find_proxy(&url, &probe.host) {
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
        let has = |h: &str| p.iter().any(|x| x.host == h);
        for (h, kind) in [
            ("sharepoint.com", "bare suffix"),
            ("a.b.sharepoint.com", "several labels"),
            ("X.SHAREPOINT.COM", "upper case"),
            ("x.sharepoint.com.", "trailing dot"),
            ("bücher.sharepoint.com", "international name"),
            (
                "xn--bcher-kva.sharepoint.com",
                "international name as browsers pass it",
            ),
            ("child.outlook.office365.com", "child of an exact name"),
            ("autodiscover.x.onmicrosoft.com", "glob"),
            ("login\u{ff0e}microsoftonline\u{ff0e}com", "full-width dots"),
            (
                "login\u{3002}microsoftonline\u{3002}com",
                "ideographic dots",
            ),
            ("login\u{ff61}microsoftonline\u{ff61}com", "halfwidth dots"),
            ("outlook.office365.com\u{3002}", "trailing U+3002"),
            ("l\u{ad}ogin.microsoftonline.com", "soft hyphen"),
            ("l\u{200b}ogin.microsoftonline.com", "zero-width space"),
            ("l\u{200d}ogin.microsoftonline.com", "zero-width joiner"),
            ("xn--login.microsoftonline.com", "invalid punycode"),
            ("login%2emicrosoftonline.com", "percent-encoded"),
            ("www.example.com", "outside"),
            ("13.107.6.151", "below a prefix"),
            ("13.107.6.152", "first of a prefix"),
            ("13.107.6.153", "last of a prefix"),
            ("13.107.6.154", "above a prefix"),
            ("015.0153.06.0230", "octal"),
            ("0xd.0x6b.0x6.0x98", "hex"),
            ("13.107.1688", "short"),
            ("13.7014040", "shorter"),
            ("225117848", "single number"),
            ("0xd6b0698", "single hex number"),
            ("::ffff:13.107.6.152", "IPv4-mapped"),
            ("877658369", "a number outside the catalogue"),
            ("fe80::1%eth0", "IPv6 zone id"),
            ("[fe80::1%25eth0]", "bracketed zone id"),
            ("[::1]", "bracketed IPv6"),
        ] {
            assert!(has(h), "{kind}: {h:?}");
        }
        assert!(p.iter().any(|x| x.host.starts_with("2603:")), "IPv6 probes");
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
            .any(|m| m.probe.host == "x.sharepoint.com" && m.pac != "DIRECT"));
        let no_v6 = pac.replace("var V6_DIRECT = [", "var V6_DIRECT = []; var __unused = [");
        let r = check(&snap, &profile, &no_v6, &probes, &EngineOptions::default()).unwrap();
        assert!(r.mismatches.iter().all(|m| m.probe.host.contains(':')));
        assert!(!r.mismatches.is_empty());
    }

    /// A PAC that reads hosts as earlier versions did — a number is a plain name, anything
    /// lowercased is looked up — is caught on the spellings only some clients send.
    #[test]
    fn readers_that_differ_from_the_standard_are_caught() {
        let snap = builtin();
        let probes = probes(snap.catalogue());
        let templates = Templates::load(None).unwrap();
        let mismatched = |pac: &str, profile: &Profile| -> Vec<String> {
            check(&snap, profile, pac, &probes, &EngineOptions::default())
                .unwrap()
                .mismatches
                .into_iter()
                .map(|m| m.probe.host)
                .collect()
        };
        let type2 = Profile::type2();
        let pac = templates.render(&snap, &type2).unwrap();
        // Numbers read as names: the single-number and octal forms are caught.
        let no_numbers = format!("{pac}\nfunction pwEndsInNumber(h) {{ return false; }}\n");
        let m = mismatched(&no_numbers, &type2);
        for h in ["877658369", "015.0153.06.0230"] {
            assert!(m.contains(&h.to_owned()), "{h}: {} mismatches", m.len());
        }
        // Everything lowercased and looked up: full-width dots and invalid punycode.
        let lenient = format!(
            "{pac}\nfunction pwRead(host) {{ var h = host.toLowerCase(); \
             if (h.charAt(h.length - 1) === \".\") h = h.substring(0, h.length - 1); \
             return /^[0-9.]+$/.test(h) ? pwV4(h) : h; }}\n"
        );
        let type1 = Profile::type1();
        let pac1 = templates.render(&snap, &type1).unwrap();
        let lenient1 = lenient.replace(&pac, &pac1);
        let m = mismatched(&lenient1, &type1);
        assert!(
            m.contains(&"login\u{ff0e}microsoftonline\u{ff0e}com".to_owned()),
            "{} mismatches",
            m.len()
        );
        let m = mismatched(&lenient, &type2);
        assert!(
            m.contains(&"xn--x.sharepoint.com".to_owned()),
            "{} mismatches",
            m.len()
        );
    }

    /// The PAC's host reader (`pwRead`) against pacwarden's on generated spellings: for
    /// every portable spelling both read the same host, and every other spelling — refused,
    /// or read only by clients that canonicalise — the PAC does not read at all.
    #[test]
    fn pac_reader_agrees_with_the_reader() {
        use proptest::test_runner::{Config, TestRunner};
        use std::cell::RefCell;
        let snap = builtin();
        let pac = Templates::load(None)
            .unwrap()
            .render(&snap, &Profile::type2())
            .unwrap();
        let probe = format!(
            "{pac}\nfunction FindProxyForURL(u, h) {{ var r = pwRead(h); \
             return r === null ? \"null\" : typeof r === \"number\" ? \"v4 \" + r : \
             r.charAt(0) === \":\" ? \"v6 \" + r.substring(1) : \"name \" + r; }}\n"
        );
        let engine = RefCell::new(Evaluator::load(&probe, &EngineOptions::default()).unwrap());
        let expected = |s: &str| match host::read(s) {
            Ok(r) if r.portable => match r.host {
                host::Host::Ip(IpAddr::V4(a)) => format!("v4 {}", u32::from(a)),
                host::Host::Ip(IpAddr::V6(a)) => format!("v6 {:032x}", u128::from(a)),
                host::Host::Name(n) => format!("name {n}"),
            },
            _ => "null".to_owned(),
        };
        let mut runner = TestRunner::new(Config {
            cases: 4096,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&crate::host::props::spelling(), |s| {
            let got = engine
                .borrow_mut()
                .find_proxy("http://x/", &s)
                .map(|a| a.result)
                .unwrap_or_else(|e| e.to_string());
            proptest::prop_assert_eq!(got, expected(&s), "spelling {:?}", s);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        // And the classes by name.
        for (s, want) in [
            ("0x34.0x60.1.1", "v4 878706945"),
            ("052.96.1.1", "v4 710934785"),
            ("877658369", "v4 877658369"),
            ("1.2.3.09", "null"),
            ("xn--bcher-kva.de", "null"),
            ("Outlook.Office365.COM.", "name outlook.office365.com"),
            ("[::FFFF:52.96.1.1]", "v4 878706945"),
            ("2603:1006::1", "v6 26031006000000000000000000000001"),
            ("fe80::1%eth0", "null"),
            ("login\u{ff0e}microsoftonline\u{ff0e}com", "null"),
        ] {
            let got = engine
                .borrow_mut()
                .find_proxy("http://x/", s)
                .unwrap()
                .result;
            assert_eq!(got, want, "{s:?}");
            assert_eq!(expected(s), want, "{s:?}");
        }
    }
}
