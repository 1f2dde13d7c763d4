//! A compiled catalogue: the catalogue, its matchers and its identity (generation, version),
//! immutable once built. Everything that answers a request reads one snapshot, so an answer
//! always belongs wholly to one catalogue generation.

use serde::Serialize;

use crate::catalogue::{Action, Catalogue, Category, Proto, SetId};
use crate::host::{Host, Reading};
use crate::matcher::{Matcher, MatcherBuilder, PortQuery, RuleId, Target};
use crate::profile::{Profile, Route};

/// The compiled form of one catalogue generation.
pub struct Snapshot {
    catalogue: Catalogue,
    /// Categorised allow entries and forced direct/proxy entries: most specific rule decides.
    allow: Matcher,
    /// Uncategorised allow entries: consulted only when `allow` has no match.
    supplement: Matcher,
    /// Organisation `deny` entries: any match refuses, whatever `allow` says.
    deny: Matcher,
    generation: u64,
    version: String,
}

/// The sets that decide for a rule.
struct Resolved {
    winners: Vec<usize>,
    forced: Option<Action>,
    category: Option<Category>,
    /// Source of the cited sets.
    primary: usize,
}

impl Resolved {
    fn route(&self, profile: &Profile) -> Route {
        match self.forced {
            Some(Action::Direct) => Route::Direct,
            Some(_) => Route::Proxy,
            None => self.category.map_or(Route::Proxy, |c| profile.route_for(c)),
        }
    }
}

/// The rules of a snapshot with their routes under one profile; see
/// [`Snapshot::routed_rules`].
pub struct RoutedRules<'a> {
    /// Organisation denials: any match sends to the proxy.
    pub deny: Vec<&'a Target>,
    /// Categorised rules: the most specific match decides.
    pub allow: Vec<(&'a Target, Route)>,
    /// Uncategorised rules: consulted only when no allow rule matches.
    pub supplement: Vec<(&'a Target, Route)>,
}

/// Which rule decided: an index into the deny, categorised or uncategorised rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Denied(RuleId),
    Allowed(RuleId),
    Supplement(RuleId),
    /// No rule: not in the catalogue.
    Outside,
}

/// allow | deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
}

/// Why a host was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// No rule lists the host.
    NotInCatalogue,
    /// A rule lists the host, but not on the port and protocol asked.
    PortNotAllowed,
    /// An organisation's deny rule refuses it.
    DeniedByRule,
}

/// The ports a rule is listed on, as port lists (`"80,443"`, `"3478-3481"`; empty for none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AllowedPorts {
    pub tcp: String,
    pub udp: String,
}

/// Which catalogue generation answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CatalogueRef {
    pub generation: u64,
    pub version: String,
}

/// The decision for one host: the JSON contract `decide` prints and `/decide` serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Decision {
    pub host: String,
    pub decision: Verdict,
    pub route: Route,
    pub category: Option<Category>,
    pub service_area: Option<String>,
    /// Ids of the sets that list the deciding rule with the winning category, as their source
    /// gives them (integers for the web service); all from `source`.
    pub endpoint_sets: Vec<SetId>,
    /// The deciding pattern or prefix; for a deny, the organisation's deny rule that refused
    /// it, or the rule that lists the host on other ports only; else null.
    pub rule: Option<String>,
    pub source: Option<String>,
    /// Why a host was denied; absent when it is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// For `port-not-allowed`: the ports the rule is listed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ports: Option<AllowedPorts>,
    pub catalogue: CatalogueRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<Proto>,
    /// Profile whose routing produced `route`.
    pub profile: String,
}

impl Decision {
    /// The decision in one line, worded the same wherever it is shown (the Squid helper's
    /// `message=`, logs): the deciding rule and source, or why the host is denied.
    pub fn why(&self) -> String {
        let rule = match (&self.rule, &self.source) {
            (Some(r), Some(s)) => format!("{r} ({s})"),
            (Some(r), None) => r.clone(),
            _ => String::new(),
        };
        match self.reason {
            None => rule,
            Some(Reason::NotInCatalogue) => "not in the catalogue".to_owned(),
            Some(Reason::DeniedByRule) => format!("denied by {rule}"),
            Some(Reason::PortNotAllowed) => {
                let asked = match (self.proto, self.port) {
                    (Some(proto), Some(port)) => format!("{} {port}", proto_name(proto)),
                    _ => "this port".to_owned(),
                };
                let listed: Vec<String> = self
                    .allowed_ports
                    .iter()
                    .flat_map(|p| [("tcp", &p.tcp), ("udp", &p.udp)])
                    .filter(|(_, ports)| !ports.is_empty())
                    .map(|(proto, ports)| format!("{proto} {ports}"))
                    .collect();
                format!(
                    "port not allowed: {rule} is listed for {} only, not {asked}",
                    listed.join(" and ")
                )
            }
        }
    }
}

fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    }
}

impl Snapshot {
    /// Compiles a catalogue. Inbound entries are left out of the matchers: they describe
    /// Microsoft connecting in, never a destination a browser or proxy connects to.
    pub fn compile(catalogue: Catalogue, generation: u64) -> Snapshot {
        let size: usize = catalogue
            .sets
            .iter()
            .map(|s| s.hosts.len() + s.prefixes.len())
            .sum();
        let mut allow = MatcherBuilder::with_capacity(size);
        let mut supplement = MatcherBuilder::new();
        let mut deny = MatcherBuilder::new();
        for (i, set) in catalogue.sets.iter().enumerate() {
            if !set.is_outbound() {
                continue;
            }
            let b = match set.action {
                Action::Deny => &mut deny,
                Action::Allow if set.uncategorised => &mut supplement,
                _ => &mut allow,
            };
            for h in &set.hosts {
                b.add_pattern(&h.pattern, i as u32, h.ports.as_ref().unwrap_or(&set.ports));
            }
            for net in &set.prefixes {
                b.add_prefix(*net, i as u32, &set.ports);
            }
        }
        let version = catalogue.version();
        Snapshot {
            catalogue,
            allow: allow.build(),
            supplement: supplement.build(),
            deny: deny.build(),
            generation,
            version,
        }
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Number of distinct allow rules (patterns and prefixes).
    pub fn rule_count(&self) -> usize {
        self.allow.rule_count() + self.supplement.rule_count() + self.deny.rule_count()
    }

    /// A matcher with no rules (an organisation without deny entries, a catalogue without
    /// uncategorised sets) is passed over without a call into the walk.
    #[inline]
    fn lookup(m: &Matcher, host: &Host, q: Option<PortQuery>) -> Option<RuleId> {
        if m.is_empty() {
            return None;
        }
        Self::lookup_in(m, host, q)
    }

    #[inline(never)]
    fn lookup_in(m: &Matcher, host: &Host, q: Option<PortQuery>) -> Option<RuleId> {
        match host {
            Host::Name(n) => m.lookup_name(n, q),
            Host::Ip(ip) => m.lookup_ip(*ip, q),
        }
    }

    /// The deciding rule alone (deny, then categorised, then uncategorised rules), without
    /// building a [`Decision`]: what benchmarks and bulk checks need.
    pub fn deciding_rule(&self, host: &Host, port: Option<PortQuery>) -> Option<&Target> {
        [&self.deny, &self.allow, &self.supplement]
            .into_iter()
            .find_map(|m| Self::lookup(m, host, port).map(|r| &m.rule(r).target))
    }

    /// Which rule decides a host, without building the decision: deny rules first, then
    /// categorised rules, then uncategorised ones.
    pub fn outcome(&self, host: &Host, port: Option<PortQuery>) -> Outcome {
        if let Some(r) = Self::lookup(&self.deny, host, port) {
            return Outcome::Denied(r);
        }
        if let Some(r) = Self::lookup(&self.allow, host, port) {
            return Outcome::Allowed(r);
        }
        match Self::lookup(&self.supplement, host, port) {
            Some(r) => Outcome::Supplement(r),
            None => Outcome::Outside,
        }
    }

    /// Number of rule ids of the deny, categorised and uncategorised matchers, for tables
    /// indexed by [`Outcome`] rule ids.
    pub fn rule_slots(&self) -> [usize; 3] {
        [
            self.deny.rule_slots(),
            self.allow.rule_slots(),
            self.supplement.rule_slots(),
        ]
    }

    /// Decides a normalised host under `profile`, optionally for one port.
    pub fn decide(&self, host: &Host, port: Option<PortQuery>, profile: &Profile) -> Decision {
        let outcome = self.outcome(host, port);
        let local = profile.local_route(host);
        let mut d = self.decision(host.to_string(), outcome, local, port, profile);
        // Outside the catalogue on this port: listed on others?
        if let (Outcome::Outside, Some(_)) = (outcome, port) {
            let listed = match self.outcome(host, None) {
                Outcome::Allowed(r) => Some((&self.allow, r)),
                Outcome::Supplement(r) => Some((&self.supplement, r)),
                _ => None,
            };
            if let Some((m, r)) = listed {
                let ports = m.rule_ports(r);
                d.reason = Some(Reason::PortNotAllowed);
                d.rule = Some(m.rule(r).target.to_string());
                d.source = m.members(r, None).next().map(|x| self.source_name(x.set));
                d.allowed_ports = Some(AllowedPorts {
                    tcp: ports.tcp.to_string(),
                    udp: ports.udp.to_string(),
                });
            }
        }
        d
    }

    /// Decides a host as a client spelled it: as [`Snapshot::decide`], with the route the
    /// generated PAC gives that exact spelling, which is the proxy for one that is not
    /// portable (the PAC cannot read it as every client would; the proxy's own check does).
    pub fn decide_read(
        &self,
        read: &Reading,
        port: Option<PortQuery>,
        profile: &Profile,
    ) -> Decision {
        let mut d = self.decide(&read.host, port, profile);
        if !read.portable {
            d.route = Route::Proxy;
        }
        d
    }

    /// The decision for an outcome. `local` is the profile's route for the host if it is a
    /// plain name or private address (used only when the host is outside the catalogue).
    pub fn decision(
        &self,
        host: String,
        outcome: Outcome,
        local: Option<Route>,
        port: Option<PortQuery>,
        profile: &Profile,
    ) -> Decision {
        let mut d = Decision {
            host,
            decision: Verdict::Deny,
            route: Route::Proxy,
            category: None,
            service_area: None,
            endpoint_sets: Vec::new(),
            rule: None,
            source: None,
            reason: Some(Reason::NotInCatalogue),
            allowed_ports: None,
            catalogue: CatalogueRef {
                generation: self.generation,
                version: self.version.clone(),
            },
            port: port.map(|q| q.port),
            proto: port.map(|q| q.proto),
            profile: profile.name.clone(),
        };
        let (matcher, r) = match outcome {
            Outcome::Denied(r) => {
                d.reason = Some(Reason::DeniedByRule);
                d.rule = Some(self.deny.rule(r).target.to_string());
                d.source = self
                    .deny
                    .members(r, port)
                    .next()
                    .map(|m| self.source_name(m.set));
                return d;
            }
            Outcome::Allowed(r) => (&self.allow, r),
            Outcome::Supplement(r) => (&self.supplement, r),
            Outcome::Outside => {
                if let Some(route) = local {
                    d.route = route;
                }
                return d;
            }
        };
        let Some(res) = self.resolve(matcher, r, port) else {
            return d;
        };
        let set = |i: &usize| &self.catalogue.sets[*i];
        d.decision = Verdict::Allow;
        d.reason = None;
        d.route = res.route(profile);
        d.category = res.category;
        d.rule = Some(matcher.rule(r).target.to_string());
        d.source = Some(self.catalogue.sources[res.primary].name.clone());
        for i in res.winners.iter().filter(|i| set(i).source == res.primary) {
            if d.service_area.is_none() {
                d.service_area = Some(set(i).service_area.clone());
            }
            if !d.endpoint_sets.contains(&set(i).id) {
                d.endpoint_sets.push(set(i).id.clone());
            }
        }
        d
    }

    /// Which of the sets listing rule `r` decide, and how.
    fn resolve(&self, matcher: &Matcher, r: RuleId, port: Option<PortQuery>) -> Option<Resolved> {
        let sets: Vec<usize> = matcher.members(r, port).map(|m| m.set as usize).collect();
        let set = |i: &usize| &self.catalogue.sets[*i];
        // Organisation overrides on the deciding rule beat category routing; proxy beats direct
        // when both are forced, as the safer of the two.
        let forced = [Action::Proxy, Action::Direct]
            .into_iter()
            .find(|a| sets.iter().any(|i| set(i).action == *a));
        let winners: Vec<usize> = match forced {
            Some(a) => sets.into_iter().filter(|i| set(i).action == a).collect(),
            None => {
                let top = sets.iter().map(|i| set(i).category).max();
                sets.into_iter()
                    .filter(|i| Some(set(i).category) == top)
                    .collect()
            }
        };
        let primary = winners.iter().map(|i| set(i).source).min()?;
        let category = winners.iter().map(|i| set(i).category).max();
        Some(Resolved {
            winners,
            forced,
            category,
            primary,
        })
    }

    /// Every address range whose decision under `profile` satisfies `keep`, as sorted,
    /// disjoint, inclusive `[first, last]` pairs (IPv4-mapped IPv6 left to IPv4). Found by
    /// deciding the first address of each range between two prefix boundaries, so the ranges
    /// say exactly what `decide` says; PAC templates and exports are built from them.
    pub fn address_ranges(
        &self,
        profile: &Profile,
        keep: impl Fn(&Decision) -> bool,
    ) -> (Vec<[u32; 2]>, Vec<[u128; 2]>) {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let rules = self.routed_rules(profile);
        let mut b4: Vec<u64> = vec![0];
        let mut b6: Vec<u128> = vec![0];
        let prefixes = rules
            .deny
            .iter()
            .copied()
            .chain(rules.allow.iter().map(|(t, _)| *t))
            .chain(rules.supplement.iter().map(|(t, _)| *t))
            .filter_map(|t| match t {
                Target::Prefix(n) => Some(*n),
                Target::Pattern(_) => None,
            });
        let private = crate::profile::PRIVATE_V4
            .iter()
            .chain(["fc00::/7", "fe80::/10", "::1/128"].iter())
            .filter_map(|c| c.parse::<ipnet::IpNet>().ok());
        for net in prefixes.chain(private) {
            match net {
                ipnet::IpNet::V4(n) => {
                    b4.push(u64::from(u32::from(n.network())));
                    b4.push(u64::from(u32::from(n.broadcast())) + 1);
                }
                ipnet::IpNet::V6(n) => {
                    b6.push(u128::from(n.network()));
                    if let Some(end) = u128::from(n.broadcast()).checked_add(1) {
                        b6.push(end);
                    }
                }
            }
        }
        b4.sort_unstable();
        b4.dedup();
        b6.sort_unstable();
        b6.dedup();
        let kept = |ip: IpAddr| keep(&self.decide(&Host::Ip(ip), None, profile));
        let mut v4: Vec<[u32; 2]> = Vec::new();
        for (i, &start) in b4.iter().enumerate() {
            if start > u64::from(u32::MAX) {
                break;
            }
            let end = b4.get(i + 1).map_or(u64::from(u32::MAX), |&n| n - 1) as u32;
            let start = start as u32;
            if kept(IpAddr::V4(Ipv4Addr::from(start))) {
                match v4.last_mut() {
                    Some(last) if u64::from(last[1]) + 1 == u64::from(start) => last[1] = end,
                    _ => v4.push([start, end]),
                }
            }
        }
        let mut v6: Vec<[u128; 2]> = Vec::new();
        for (i, &start) in b6.iter().enumerate() {
            let end = b6.get(i + 1).map_or(u128::MAX, |&n| n - 1);
            let ip = Ipv6Addr::from(start);
            if ip.to_ipv4_mapped().is_some() {
                continue;
            }
            if kept(IpAddr::V6(ip)) {
                match v6.last_mut() {
                    Some(last) if last[1].checked_add(1) == Some(start) => last[1] = end,
                    _ => v6.push([start, end]),
                }
            }
        }
        (v4, v6)
    }

    /// Every live rule with the route it gives when it decides (no port), in the order the
    /// decision consults them: what a PAC generator needs to reproduce [`Snapshot::decide`].
    pub fn routed_rules(&self, profile: &Profile) -> RoutedRules<'_> {
        RoutedRules {
            deny: self.deny.live_rules().map(|(_, r)| &r.target).collect(),
            allow: self.routed(&self.allow, profile),
            supplement: self.routed(&self.supplement, profile),
        }
    }

    fn routed<'a>(&'a self, m: &'a Matcher, profile: &Profile) -> Vec<(&'a Target, Route)> {
        m.live_rules()
            .filter_map(|(id, rule)| {
                self.resolve(m, id, None)
                    .map(|res| (&rule.target, res.route(profile)))
            })
            .collect()
    }

    fn source_name(&self, set: u32) -> String {
        let s = &self.catalogue.sets[set as usize];
        self.catalogue.sources[s.source].name.clone()
    }
}

/// Snapshots are shared by every request task.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Snapshot>();
};

/// The built-in catalogue compiled, for tests across modules.
#[cfg(test)]
pub(crate) fn builtin_for_tests() -> Snapshot {
    use crate::catalogue::{load_sources, Placeholders, SourceSpec};
    let cat = load_sources(&SourceSpec::defaults(), &Placeholders::default())
        .expect("the built-in catalogue loads");
    Snapshot::compile(cat, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{native, Placeholders, SourceInfo};

    fn snapshot(text: &str) -> Snapshot {
        let (_, sets) = native::parse(text, "t.toml", 0, &Placeholders::default()).unwrap();
        let cat = Catalogue {
            sources: vec![SourceInfo {
                name: "test".into(),
                kind: "native".into(),
                origin: "t.toml".into(),
                version: "1".into(),
            }],
            sets,
        };
        Snapshot::compile(cat, 7)
    }

    fn decide(s: &Snapshot, host: &str, port: Option<u16>) -> Decision {
        let h = crate::host::normalize(host).unwrap();
        let q = port.map(|port| PortQuery {
            proto: Proto::Tcp,
            port,
        });
        s.decide(&h, q, &Profile::default())
    }

    const CAT: &str = r#"
[[sets]]
id = 1
category = "Optimize"
service_area = "Exchange"
hosts = ["outlook.office365.com"]
tcp_ports = "80,443"
[[sets]]
id = 2
category = "Allow"
service_area = "Exchange"
hosts = ["outlook.office365.com", "smtp.office365.com"]
tcp_ports = "587"
[[sets]]
id = 3
category = "Default"
service_area = "Common"
hosts = ["*.example.com"]
prefixes = ["192.0.2.0/24"]
[[sets]]
id = 4
category = "Default"
service_area = "Common"
hosts = ["*.example.com"]
[[sets]]
id = "in"
direction = "inbound"
hosts = ["inbound.example.net"]
[[sets]]
id = "no"
action = "deny"
hosts = ["*.bad.example.com"]
[[sets]]
id = "extra"
hosts = ["x.officeapps.example.com", "gap.example.net"]
[[sets]]
id = "office"
category = "Allow"
hosts = ["*.officeapps.example.com"]
[[sets]]
id = "viaproxy"
action = "proxy"
category = "Optimize"
hosts = ["forced.example.org"]
"#;

    #[test]
    fn highest_category_wins_and_lists_its_sets() {
        let s = snapshot(CAT);
        let d = decide(&s, "outlook.office365.com", None);
        assert_eq!(d.decision, Verdict::Allow);
        assert_eq!(d.category, Some(Category::Optimize));
        assert_eq!(d.route, Route::Direct);
        assert_eq!(d.endpoint_sets, [SetId::Int(1)]);
        assert_eq!(d.catalogue.generation, 7);
        // On port 587 only set 2 lists it.
        let d = decide(&s, "outlook.office365.com", Some(587));
        assert_eq!(d.category, Some(Category::Allow));
        assert_eq!(d.endpoint_sets, [SetId::Int(2)]);
        // Listed, but not on port 25: denied, saying which ports it is listed on.
        let d = decide(&s, "outlook.office365.com", Some(25));
        assert_eq!(d.decision, Verdict::Deny);
        assert_eq!(d.reason, Some(Reason::PortNotAllowed));
        assert_eq!(d.rule.as_deref(), Some("outlook.office365.com"));
        assert_eq!(
            d.allowed_ports,
            Some(AllowedPorts {
                tcp: "80,443,587".into(),
                udp: String::new()
            })
        );
        assert_eq!(
            d.why(),
            "port not allowed: outlook.office365.com (test) is listed for tcp 80,443,587 only, not tcp 25"
        );
        // Not listed at all, and allowed: the reason says so or is absent.
        let d = decide(&s, "www.example.org", Some(443));
        assert_eq!(d.reason, Some(Reason::NotInCatalogue));
        assert_eq!(d.why(), "not in the catalogue");
        let d = decide(&s, "outlook.office365.com", Some(443));
        assert_eq!(d.reason, None);
    }

    #[test]
    fn equal_categories_list_every_set() {
        let s = snapshot(CAT);
        let d = decide(&s, "www.example.com", None);
        assert_eq!(d.endpoint_sets, [SetId::Int(3), SetId::Int(4)]);
        assert_eq!(d.route, Route::Proxy);
        assert_eq!(d.rule.as_deref(), Some("*.example.com"));
        let d = decide(&s, "192.0.2.55", None);
        assert_eq!(d.rule.as_deref(), Some("192.0.2.0/24"));
        assert_eq!(d.endpoint_sets, [SetId::Int(3)]);
    }

    #[test]
    fn deny_beats_allow_and_inbound_is_ignored() {
        let s = snapshot(CAT);
        let d = decide(&s, "x.bad.example.com", None);
        assert_eq!(d.decision, Verdict::Deny);
        assert_eq!(d.rule.as_deref(), Some("*.bad.example.com"));
        assert!(d.endpoint_sets.is_empty() && d.category.is_none());
        assert_eq!(
            decide(&s, "inbound.example.net", None).decision,
            Verdict::Deny
        );
    }

    #[test]
    fn uncategorised_sets_only_fill_gaps() {
        let s = snapshot(CAT);
        // The uncategorised exact name does not re-route what a categorised wildcard routes.
        let d = decide(&s, "x.officeapps.example.com", None);
        assert_eq!(d.rule.as_deref(), Some("*.officeapps.example.com"));
        assert_eq!(d.route, Route::Direct);
        let d = decide(&s, "gap.example.net", None);
        assert_eq!(d.decision, Verdict::Allow);
        assert_eq!(d.category, Some(Category::Default));
        assert_eq!(d.endpoint_sets, [SetId::Name("extra".into())]);
    }

    #[test]
    fn forced_route_beats_category() {
        let s = snapshot(CAT);
        let d = decide(&s, "forced.example.org", None);
        assert_eq!(d.decision, Verdict::Allow);
        assert_eq!(d.route, Route::Proxy);
        assert_eq!(d.category, Some(Category::Optimize));
    }

    #[test]
    fn json_shape() {
        let s = snapshot(CAT);
        let v = serde_json::to_value(decide(&s, "outlook.office365.com", None)).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for k in [
            "host",
            "decision",
            "route",
            "category",
            "service_area",
            "endpoint_sets",
            "rule",
            "source",
            "catalogue",
        ] {
            assert!(keys.contains(&k), "{k} missing in {v}");
        }
        assert_eq!(v["endpoint_sets"], serde_json::json!([1]));
        assert_eq!(v["category"], "Optimize");
        assert_eq!(v["decision"], "allow");
        assert_eq!(v["route"], "direct");
        let v = serde_json::to_value(decide(&s, "nowhere.example.net", None)).unwrap();
        assert_eq!(v["category"], serde_json::Value::Null);
        assert_eq!(v["rule"], serde_json::Value::Null);
        assert_eq!(v["endpoint_sets"], serde_json::json!([]));
    }
}
