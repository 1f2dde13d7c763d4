//! Exports of the compiled catalogue for tools that cannot ask `/decide`: a Squid ACL file,
//! plain host lists, CSV, JSON and an nginx `map`. Every entry carries what `/decide` says
//! for it under the chosen profile; a pattern a format cannot express is reported (in the
//! output as a comment and to the caller), never silently dropped.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde::Serialize;

use crate::catalogue::HostPattern;
use crate::host;
#[cfg(test)]
use crate::host::Host;
use crate::matcher::Target;
use crate::profile::{Profile, Route};
use crate::snapshot::{Decision, Snapshot, Verdict};

/// The formats `export` knows.
pub const FORMATS: &[&str] = &["squid", "hosts-plain", "csv", "json", "nginx-map"];

/// An export and the patterns it could not express.
pub struct Export {
    pub body: String,
    pub content_type: &'static str,
    pub unexpressed: Vec<String>,
}

/// One catalogue rule with the decision `/decide` gives for it.
#[derive(Serialize)]
struct Row {
    kind: &'static str,
    pattern: String,
    decision: Verdict,
    route: Route,
    category: Option<crate::catalogue::Category>,
    service_area: Option<String>,
    endpoint_sets: Vec<crate::catalogue::SetId>,
    rule: Option<String>,
    source: Option<String>,
}

/// A host the pattern stands for, to ask the snapshot about it.
fn representative(p: &HostPattern) -> String {
    match p {
        HostPattern::Exact(n) => n.clone(),
        HostPattern::Suffix(_) => format!("x.{}", p.suffix().unwrap_or_default()),
        HostPattern::Glob(g) => g.replace('*', "x"),
    }
}

fn rows(snap: &Snapshot, profile: &Profile) -> Vec<Row> {
    let rules = snap.routed_rules(profile);
    let targets: BTreeSet<&Target> = rules
        .deny
        .iter()
        .copied()
        .chain(rules.allow.iter().map(|(t, _)| *t))
        .chain(rules.supplement.iter().map(|(t, _)| *t))
        .collect();
    let mut out = Vec::new();
    for t in targets {
        let (kind, pattern, probe) = match t {
            Target::Pattern(p) => ("host", p.to_string(), representative(p)),
            Target::Prefix(n) => ("prefix", n.to_string(), n.network().to_string()),
        };
        let Ok(h) = host::normalize(&probe) else {
            continue;
        };
        let d: Decision = snap.decide(&h, None, profile);
        out.push(Row {
            kind,
            pattern,
            decision: d.decision,
            route: d.route,
            category: d.category,
            service_area: d.service_area,
            endpoint_sets: d.endpoint_sets,
            rule: d.rule,
            source: d.source,
        });
    }
    out
}

/// Removes entries another leading-dot entry already covers (Squid refuses overlaps):
/// `www.example.com` and `.a.example.com` under `.example.com`.
fn collapse(entries: BTreeSet<String>) -> Vec<String> {
    let dotted: BTreeSet<&str> = entries.iter().filter_map(|e| e.strip_prefix('.')).collect();
    let covered = |name: &str| {
        let mut rest = name;
        while let Some((_, tail)) = rest.split_once('.') {
            if dotted.contains(tail) {
                return true;
            }
            rest = tail;
        }
        false
    };
    entries
        .iter()
        // Covered by a shorter dotted entry, or an exact name its own dotted entry covers.
        .filter(|e| !covered(e.strip_prefix('.').unwrap_or(e)))
        .filter(|e| e.starts_with('.') || !dotted.contains(e.as_str()))
        .cloned()
        .collect()
}

/// CIDR blocks covering an inclusive range exactly.
fn cidrs_v4([mut lo, hi]: [u32; 2]) -> Vec<ipnet::Ipv4Net> {
    let mut out = Vec::new();
    loop {
        let mut len = 32u8;
        while len > 0 {
            let size = 1u64 << (33 - len);
            let mask = (size - 1) as u32;
            if lo & mask != 0 || u64::from(lo) + size - 1 > u64::from(hi) {
                break;
            }
            len -= 1;
        }
        if let Ok(n) = ipnet::Ipv4Net::new(lo.into(), len) {
            out.push(n);
        }
        let end = u64::from(lo) + (1u64 << (32 - len)) - 1;
        if end >= u64::from(hi) {
            return out;
        }
        lo = (end + 1) as u32;
    }
}

fn cidrs_v6([mut lo, hi]: [u128; 2]) -> Vec<ipnet::Ipv6Net> {
    let mut out = Vec::new();
    loop {
        let mut len = 128u8;
        while len > 0 {
            let bits = 129 - u32::from(len);
            if bits >= 128 {
                if lo == 0 && hi == u128::MAX {
                    len -= 1;
                    continue;
                }
                break;
            }
            let size = 1u128 << bits;
            if lo & (size - 1) != 0 || lo.checked_add(size - 1).is_none_or(|e| e > hi) {
                break;
            }
            len -= 1;
        }
        if let Ok(n) = ipnet::Ipv6Net::new(lo.into(), len) {
            out.push(n);
        }
        let span = if len == 0 {
            u128::MAX
        } else {
            (1u128 << (128 - u32::from(len))) - 1
        };
        let end = lo.saturating_add(span);
        if end >= hi {
            return out;
        }
        lo = end + 1;
    }
}

/// Squid ACLs: `pacwarden_deny` (dstdomain), `pacwarden_allow` (dstdomain, leading-dot
/// wildcards, overlaps collapsed) and `pacwarden_allow_dst` (dst prefixes). Squid's `.suffix`
/// also matches the bare suffix, which the catalogue's `*.suffix` does not: a bare suffix
/// `/decide` denies goes into `pacwarden_deny`, which is checked first.
fn squid(snap: &Snapshot, profile: &Profile, rows: &[Row], header: &str) -> Export {
    let mut allow = BTreeSet::new();
    let mut deny = BTreeSet::new();
    let mut unexpressed = Vec::new();
    let decide = |name: &str| {
        host::normalize(name)
            .map(|h| snap.decide(&h, None, profile).decision)
            .unwrap_or(Verdict::Deny)
    };
    for r in rows.iter().filter(|r| r.kind == "host") {
        let entry = if let Some(suffix) = r.pattern.strip_prefix("*.") {
            if suffix.contains('*') {
                unexpressed.push(r.pattern.clone());
                continue;
            }
            if r.decision == Verdict::Allow && decide(suffix) == Verdict::Deny {
                deny.insert(suffix.to_owned());
            }
            format!(".{suffix}")
        } else if r.pattern.contains('*') {
            unexpressed.push(r.pattern.clone());
            continue;
        } else {
            r.pattern.clone()
        };
        match r.decision {
            Verdict::Allow => allow.insert(entry),
            Verdict::Deny => deny.insert(entry),
        };
    }
    let (v4, v6) = snap.address_ranges(profile, |d| d.decision == Verdict::Allow);
    let mut dst: Vec<String> = v4
        .into_iter()
        .flat_map(cidrs_v4)
        .map(|n| n.to_string())
        .collect();
    dst.extend(v6.into_iter().flat_map(cidrs_v6).map(|n| n.to_string()));
    let mut body = String::new();
    let _ = writeln!(body, "{header}");
    let _ = writeln!(
        body,
        "# include this file, then:\n#   http_access deny pacwarden_deny\n#   http_access allow pacwarden_allow\n#   http_access allow pacwarden_allow_dst\n# (dst also matches names by the addresses they resolve to)"
    );
    for p in &unexpressed {
        let _ = writeln!(body, "# not expressible as dstdomain, left out: {p}");
    }
    let lists = [
        ("pacwarden_deny", "dstdomain", collapse(deny)),
        ("pacwarden_allow", "dstdomain", collapse(allow)),
        ("pacwarden_allow_dst", "dst", dst),
    ];
    for (name, kind, mut values) in lists {
        if values.is_empty() {
            // An ACL needs a value; a reserved name that never resolves matches nothing.
            values.push(match kind {
                "dst" => "255.255.255.255/32".into(),
                _ => "pacwarden-none.invalid".into(),
            });
        }
        for chunk in values.chunks(8) {
            let _ = writeln!(body, "acl {name} {kind} {}", chunk.join(" "));
        }
    }
    Export {
        body,
        content_type: "text/plain; charset=utf-8",
        unexpressed,
    }
}

/// Renders `format` for `profile`.
pub fn export(snap: &Snapshot, profile: &Profile, format: &str) -> Result<Export, String> {
    let rows = rows(snap, profile);
    let header = format!(
        "# pacwarden export {format}: catalogue {} (generation {}), profile {}",
        snap.version(),
        snap.generation(),
        profile.name
    );
    let route = |r: Route| match r {
        Route::Direct => "direct",
        Route::Proxy => "proxy",
    };
    match format {
        "squid" => Ok(squid(snap, profile, &rows, &header)),
        "hosts-plain" => {
            let mut body = String::new();
            for r in rows
                .iter()
                .filter(|r| r.kind == "host" && r.decision == Verdict::Allow)
            {
                let _ = writeln!(body, "{}", r.pattern);
            }
            Ok(Export {
                body,
                content_type: "text/plain; charset=utf-8",
                unexpressed: Vec::new(),
            })
        }
        "csv" => {
            let mut body = String::from(
                "kind,pattern,decision,route,category,service_area,endpoint_sets,rule,source\n",
            );
            let field = |s: &str| {
                if s.contains([',', '"', '\n']) {
                    format!("\"{}\"", s.replace('"', "\"\""))
                } else {
                    s.to_owned()
                }
            };
            for r in &rows {
                let sets: Vec<String> = r.endpoint_sets.iter().map(ToString::to_string).collect();
                let _ = writeln!(
                    body,
                    "{},{},{},{},{},{},{},{},{}",
                    r.kind,
                    field(&r.pattern),
                    match r.decision {
                        Verdict::Allow => "allow",
                        Verdict::Deny => "deny",
                    },
                    route(r.route),
                    r.category.map_or("", |c| c.as_str()),
                    field(r.service_area.as_deref().unwrap_or("")),
                    field(&sets.join(" ")),
                    field(r.rule.as_deref().unwrap_or("")),
                    field(r.source.as_deref().unwrap_or("")),
                );
            }
            Ok(Export {
                body,
                content_type: "text/csv; charset=utf-8",
                unexpressed: Vec::new(),
            })
        }
        "json" => {
            let mut body = serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?;
            body.push('\n');
            Ok(Export {
                body,
                content_type: "application/json",
                unexpressed: Vec::new(),
            })
        }
        "nginx-map" => {
            // nginx `hostnames` maps: `*.suffix` matches subdomains only, like the catalogue;
            // a mid-label `*` cannot be written.
            let mut body = format!(
                "{header}\n# map $host $pacwarden_route {{ include this file; }}: direct | proxy | deny\nhostnames;\ndefault deny;\n"
            );
            let mut unexpressed = Vec::new();
            for r in rows.iter().filter(|r| r.kind == "host") {
                let simple = r.pattern.strip_prefix("*.").unwrap_or(&r.pattern);
                if simple.contains('*') {
                    unexpressed.push(r.pattern.clone());
                    let _ = writeln!(body, "# not expressible in a hostnames map: {}", r.pattern);
                    continue;
                }
                let value = match r.decision {
                    Verdict::Deny => "deny",
                    Verdict::Allow => route(r.route),
                };
                let _ = writeln!(body, "{} {value};", r.pattern);
            }
            Ok(Export {
                body,
                content_type: "text/plain; charset=utf-8",
                unexpressed,
            })
        }
        other => Err(format!(
            "unknown export format {other:?} ({})",
            FORMATS.join(", ")
        )),
    }
}

/// Squid's dstdomain / dst semantics over an exported ACL file, for checking exports.
#[cfg(test)]
pub(crate) fn squid_model(body: &str, host: &Host) -> bool {
    let mut lists: std::collections::HashMap<&str, Vec<&str>> = Default::default();
    for line in body.lines().filter(|l| l.starts_with("acl ")) {
        let mut t = line.split_whitespace().skip(1);
        let name = t.next().unwrap_or("");
        let _kind = t.next();
        lists.entry(name).or_default().extend(t);
    }
    let dom = |name: &str, h: &str| {
        lists.get(name).is_some_and(|vals| {
            vals.iter().any(|v| match v.strip_prefix('.') {
                Some(s) => h == s || h.ends_with(&format!(".{s}")),
                None => h == *v,
            })
        })
    };
    match host {
        Host::Name(n) => !dom("pacwarden_deny", n) && dom("pacwarden_allow", n),
        Host::Ip(ip) => {
            // Squid's dstdomain also sees address literals as text.
            let text = ip.to_string();
            if dom("pacwarden_deny", &text) {
                return false;
            }
            lists.get("pacwarden_allow_dst").is_some_and(|vals| {
                vals.iter()
                    .filter_map(|v| v.parse::<ipnet::IpNet>().ok())
                    .any(|n| n.contains(ip))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pac::agreement::probes;

    use crate::snapshot::builtin_for_tests as builtin;

    #[test]
    fn cidr_cover_is_exact() {
        assert_eq!(
            cidrs_v4([
                u32::from(std::net::Ipv4Addr::new(10, 0, 0, 1)),
                u32::from(std::net::Ipv4Addr::new(10, 0, 0, 6))
            ])
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        assert_eq!(cidrs_v4([0, u32::MAX])[0].to_string(), "0.0.0.0/0");
        assert_eq!(cidrs_v6([0, u128::MAX])[0].to_string(), "::/0");
        assert_eq!(cidrs_v6([1, 2]).len(), 2);
    }

    #[test]
    fn overlaps_collapse() {
        let set: BTreeSet<String> = [
            ".example.com",
            "www.example.com",
            ".a.example.com",
            "example.com",
            "other.org",
        ]
        .map(String::from)
        .into();
        assert_eq!(collapse(set), [".example.com", "other.org"]);
    }

    /// The Squid export, read with Squid's matching rules, answers every catalogue probe as
    /// /decide does — except the patterns it reports as not expressible.
    #[test]
    fn squid_export_agrees_with_decide() {
        let snap = builtin();
        for profile in [Profile::type1(), Profile::type2()] {
            let e = export(&snap, &profile, "squid").unwrap();
            let globs: Vec<regex_lite_free::Glob> = e
                .unexpressed
                .iter()
                .map(|p| regex_lite_free::Glob(p.clone()))
                .collect();
            let mut checked = 0;
            for p in probes(snap.catalogue()) {
                let Ok(h) = host::normalize(&p.host) else {
                    continue;
                };
                if let Host::Name(n) = &h {
                    if globs.iter().any(|g| g.matches(n)) {
                        continue;
                    }
                }
                let want = snap.decide(&h, None, &profile).decision == Verdict::Allow;
                assert_eq!(
                    squid_model(&e.body, &h),
                    want,
                    "{} ({})",
                    p.host,
                    profile.name
                );
                checked += 1;
            }
            assert!(checked > 1000);
        }
    }

    /// Just enough shExpMatch for the test above.
    mod regex_lite_free {
        pub struct Glob(pub String);
        impl Glob {
            pub fn matches(&self, s: &str) -> bool {
                fn m(p: &[u8], s: &[u8]) -> bool {
                    match p.split_first() {
                        None => s.is_empty(),
                        Some((b'*', rest)) => (0..=s.len()).any(|i| m(rest, &s[i..])),
                        Some((c, rest)) => s.first() == Some(c) && m(rest, &s[1..]),
                    }
                }
                m(self.0.as_bytes(), s.as_bytes())
            }
        }
    }

    #[test]
    fn every_format_renders_and_unknown_ones_are_refused() {
        let snap = builtin();
        let profile = Profile::type2();
        for f in FORMATS {
            let e = export(&snap, &profile, f).unwrap();
            assert!(e.body.len() > 100, "{f}");
        }
        let csv = export(&snap, &profile, "csv").unwrap().body;
        assert!(
            csv.lines()
                .any(|l| l.starts_with("host,*.sharepoint.com,allow,direct,Optimize")),
            "{csv}"
        );
        let map = export(&snap, &profile, "nginx-map").unwrap();
        assert!(map.body.contains("\nlogin.microsoftonline.com direct;\n"));
        assert!(map
            .unexpressed
            .iter()
            .any(|p| p == "autodiscover.*.onmicrosoft.com"));
        let json: serde_json::Value =
            serde_json::from_str(&export(&snap, &profile, "json").unwrap().body).unwrap();
        assert!(json.as_array().is_some_and(|a| a.len() > 400));
        assert!(export(&snap, &profile, "yaml").is_err());
    }
}
