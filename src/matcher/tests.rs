use proptest::prelude::*;

use super::reference::Reference;
use super::*;
use crate::catalogue::PortSet;

fn ports(tcp: &str, udp: &str) -> Ports {
    Ports {
        tcp: PortSet::parse(tcp).unwrap(),
        udp: PortSet::parse(udp).unwrap(),
    }
}

fn build(rules: &[(&str, Ports)]) -> (Matcher, Reference) {
    let mut b = MatcherBuilder::new();
    let mut r = Reference {
        names: Vec::new(),
        prefixes: Vec::new(),
    };
    for (set, (text, p)) in rules.iter().enumerate() {
        if let Ok(net) = text.parse::<IpNet>() {
            b.add_prefix(net, set as u32, p);
            match r.prefixes.iter_mut().find(|(n, _)| *n == net) {
                Some((_, v)) => v.push(p.clone()),
                None => r.prefixes.push((net, vec![p.clone()])),
            }
        } else {
            let pat = HostPattern::parse(text).unwrap();
            b.add_pattern(&pat, set as u32, p);
            match r.names.iter_mut().find(|(n, _)| *n == pat) {
                Some((_, v)) => v.push(p.clone()),
                None => r.names.push((pat, vec![p.clone()])),
            }
        }
    }
    (b.build(), r)
}

fn name_rule(m: &Matcher, host: &str, q: Option<PortQuery>) -> Option<String> {
    m.lookup_name(host, q)
        .map(|id| m.rule(id).target.to_string())
}

const TCP443: Option<PortQuery> = Some(PortQuery {
    proto: Proto::Tcp,
    port: 443,
});
const TCP80: Option<PortQuery> = Some(PortQuery {
    proto: Proto::Tcp,
    port: 80,
});

#[test]
fn most_specific_pattern_decides() {
    let any = Ports::default();
    let (m, _) = build(&[
        ("*.microsoftonline.com", any.clone()),
        ("login.microsoftonline.com", any.clone()),
        ("*.officeapps.live.com", any.clone()),
        ("cdn.odc.officeapps.live.com", any.clone()),
        ("*.sharepoint.com", any.clone()),
        ("*cdn.onenote.net", any.clone()),
        ("*.onmicrosoft.com", any.clone()),
        ("autodiscover.*.onmicrosoft.com", any.clone()),
        ("*.b.example.com", any.clone()),
        ("*.a.b.example.com", any.clone()),
        ("*.digicert.com", ports("80", "")),
        ("*.com.digicert.com", ports("443", "")),
    ]);
    let cases: &[(&str, Option<PortQuery>, Option<&str>)] = &[
        (
            "login.microsoftonline.com",
            None,
            Some("login.microsoftonline.com"),
        ),
        (
            "x.login.microsoftonline.com",
            None,
            Some("*.microsoftonline.com"),
        ),
        (
            "aadcdn.microsoftonline.com",
            None,
            Some("*.microsoftonline.com"),
        ),
        ("microsoftonline.com", None, None),
        (
            "cdn.odc.officeapps.live.com",
            None,
            Some("cdn.odc.officeapps.live.com"),
        ),
        (
            "a.cdn.odc.officeapps.live.com",
            None,
            Some("*.officeapps.live.com"),
        ),
        ("a.b.sharepoint.com", None, Some("*.sharepoint.com")),
        ("sharepoint.com", None, None),
        ("xcdn.onenote.net", None, Some("*cdn.onenote.net")),
        ("cdn.onenote.net", None, Some("*cdn.onenote.net")),
        ("onenote.net", None, None),
        (
            "autodiscover.contoso.onmicrosoft.com",
            None,
            Some("autodiscover.*.onmicrosoft.com"),
        ),
        ("contoso.onmicrosoft.com", None, Some("*.onmicrosoft.com")),
        ("x.a.b.example.com", None, Some("*.a.b.example.com")),
        ("a.b.example.com", None, Some("*.b.example.com")),
        ("b.example.com", None, None),
        ("ocsp.digicert.com", TCP80, Some("*.digicert.com")),
        ("ocsp.digicert.com", TCP443, None),
        ("x.com.digicert.com", TCP80, Some("*.digicert.com")),
        ("x.com.digicert.com", TCP443, Some("*.com.digicert.com")),
        ("example.org", None, None),
    ];
    for &(host, q, want) in cases {
        assert_eq!(name_rule(&m, host, q).as_deref(), want, "{host} {q:?}");
    }
}

#[test]
fn longest_prefix_decides_with_port_filter() {
    let (m, _) = build(&[
        ("52.96.0.0/14", ports("80,443", "")),
        ("52.96.1.0/24", ports("25", "")),
        ("2603:1006::/40", Ports::default()),
        ("2603:1006:10::/48", ports("", "3478")),
    ]);
    let rule = |ip: &str, q| {
        m.lookup_ip(ip.parse().unwrap(), q)
            .map(|r| m.rule(r).target.to_string())
    };
    assert_eq!(rule("52.96.1.9", None).as_deref(), Some("52.96.1.0/24"));
    assert_eq!(rule("52.96.1.9", TCP443).as_deref(), Some("52.96.0.0/14"));
    assert_eq!(rule("52.97.0.1", TCP80).as_deref(), Some("52.96.0.0/14"));
    assert_eq!(rule("52.100.0.1", None), None);
    assert_eq!(
        rule("2603:1006:10::1", None).as_deref(),
        Some("2603:1006:10::/48")
    );
    assert_eq!(
        rule("2603:1006:10::1", TCP443).as_deref(),
        Some("2603:1006::/40")
    );
    assert_eq!(rule("2603:1007::1", None), None);
}

#[test]
fn same_pattern_in_several_sets_is_one_rule() {
    let (m, _) = build(&[
        ("outlook.office365.com", ports("80,443", "443")),
        ("outlook.office365.com", ports("143,587,993,995", "")),
    ]);
    assert_eq!(m.rule_count(), 1);
    let id = m.lookup_name("outlook.office365.com", None).unwrap();
    assert_eq!(m.members(id, None).count(), 2);
    let q = Some(PortQuery {
        proto: Proto::Tcp,
        port: 993,
    });
    let sets: Vec<u32> = m.members(id, q).map(|mm| mm.set).collect();
    assert_eq!(sets, [1]);
}

// === property test: compiled matcher vs naive reference ===

fn label() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "ab", "c", "x-y", "com", "net", "q_1"])
        .prop_map(String::from)
}

fn name(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..=max).prop_map(|l| l.join("."))
}

/// A pattern: a name with `*` replacing a label, part of a label, or prefixed as `*.`.
fn pattern() -> impl Strategy<Value = String> {
    (name(4), 0usize..4, 0usize..8).prop_map(|(n, kind, pos)| {
        let labels: Vec<&str> = n.split('.').collect();
        match kind {
            0 => n.clone(),
            1 => format!("*.{n}"),
            2 => {
                let mut l: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
                let i = pos % l.len();
                l[i] = "*".into();
                l.join(".")
            }
            _ => {
                let i = pos % (n.len() + 1);
                format!("{}*{}", &n[..i], &n[i..])
            }
        }
    })
}

fn ports_strategy() -> impl Strategy<Value = Ports> {
    prop::sample::select(vec![
        ("", ""),
        ("80,443", ""),
        ("443", "3478-3481"),
        ("", "123"),
        ("80", ""),
    ])
    .prop_map(|(t, u)| ports(t, u))
}

fn query() -> impl Strategy<Value = Option<PortQuery>> {
    prop::sample::select(vec![
        None,
        TCP80,
        TCP443,
        Some(PortQuery {
            proto: Proto::Udp,
            port: 3479,
        }),
        Some(PortQuery {
            proto: Proto::Udp,
            port: 123,
        }),
    ])
}

/// An IPv6 address whose top 32 bits are `a`, so v4 nesting shapes carry over.
fn v6(a: u32) -> IpAddr {
    IpAddr::from(std::net::Ipv6Addr::from(u128::from(a) << 96 | 0x1234))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn compiled_names_agree_with_reference(
        rules in prop::collection::vec((pattern(), ports_strategy()), 1..40),
        hosts in prop::collection::vec(name(6), 1..30),
        q in query(),
    ) {
        let rules: Vec<(String, Ports)> = rules
            .into_iter()
            .filter(|(p, _)| HostPattern::parse(p).is_ok())
            .collect();
        let refs: Vec<(&str, Ports)> = rules.iter().map(|(p, ports)| (p.as_str(), ports.clone())).collect();
        let (m, r) = build(&refs);
        // Hosts built from the patterns themselves hit the interesting cases.
        let mut all_hosts = hosts;
        for (p, _) in &rules {
            all_hosts.push(p.replace('*', "ab"));
            all_hosts.push(p.replace('*', "c.x-y"));
            all_hosts.push(p.replace("*.", ""));
        }
        for h in all_hosts.iter().filter(|h| crate::host::normalize(h).is_ok()) {
            prop_assert_eq!(name_rule(&m, h, q), r.lookup_name(h, q), "host {}", h);
        }
    }

    #[test]
    fn compiled_prefixes_agree_with_reference(
        nets in prop::collection::vec((any::<u32>(), 0u8..=32, ports_strategy()), 1..40),
        probes in prop::collection::vec(any::<u32>(), 1..40),
        q in query(),
    ) {
        let mut rules = Vec::new();
        let mut addrs = Vec::new();
        for (a, len, p) in &nets {
            // Cluster prefixes in 10.0.0.0/8 (and the same shape in IPv6) so they nest.
            let addr = std::net::Ipv4Addr::from(0x0a00_0000 | (a & 0x00ff_ffff));
            let net = IpNet::new(addr.into(), 8 + len % 25).unwrap().trunc();
            rules.push((net.to_string(), p.clone()));
            let net6 = IpNet::new(v6(u32::from(addr)), 8 + len % 25).unwrap().trunc();
            rules.push((net6.to_string(), p.clone()));
            addrs.push(u32::from(addr));
        }
        let refs: Vec<(&str, Ports)> = rules.iter().map(|(p, ports)| (p.as_str(), ports.clone())).collect();
        let (m, r) = build(&refs);
        for a in probes.iter().map(|&a| 0x0a00_0000 | (a & 0x00ff_ffff)).chain(addrs) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(a));
            let got = m.lookup_ip(ip, q).map(|id| m.rule(id).target.to_string());
            prop_assert_eq!(got, r.lookup_ip(ip, q), "ip {}", ip);
            let ip = v6(a);
            let got = m.lookup_ip(ip, q).map(|id| m.rule(id).target.to_string());
            prop_assert_eq!(got, r.lookup_ip(ip, q), "ip {}", ip);
        }
    }
}
