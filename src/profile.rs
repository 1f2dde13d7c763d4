//! Routing profiles: which categories go DIRECT, the proxy string for the rest, and what
//! plain host names and private addresses do.
//!
//! The presets match the two PAC types of Microsoft's generator. The routing choice is made
//! here so `/decide`, PAC files and exports can never disagree about it.

use std::net::IpAddr;

use serde::Serialize;

use crate::catalogue::Category;
use crate::host::Host;

/// Where traffic goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    Direct,
    Proxy,
}

/// The proxy string of the presets; a production profile names its own proxies.
pub const DEFAULT_PROXY: &str = "PROXY 127.0.0.1:3128";

/// A routing profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// Categories sent DIRECT; every other category goes to the proxy.
    pub direct: Vec<Category>,
    /// What a PAC returns for traffic to the proxy, e.g. a failover chain
    /// `PROXY p1.corp:3128; PROXY p2.corp:3128; DIRECT`.
    pub proxy: String,
    /// Route for plain host names (no dot: `intranet`).
    pub plain_hosts: Route,
    /// Route for private, loopback and link-local address literals.
    pub private_addresses: Route,
    /// Template name: a built-in one (`default.pac.j2`, `microsoft-compatible.pac.j2`) or a
    /// `*.pac.j2` file in `pac.templates_dir`.
    pub template: String,
}

impl Profile {
    fn preset(name: &str, direct: Vec<Category>) -> Profile {
        Profile {
            name: name.into(),
            direct,
            proxy: DEFAULT_PROXY.into(),
            plain_hosts: Route::Direct,
            private_addresses: Route::Direct,
            template: "default.pac.j2".into(),
        }
    }

    /// Microsoft's type 1: Optimize direct, everything else to the proxy.
    pub fn type1() -> Profile {
        Self::preset("type1", vec![Category::Optimize])
    }

    /// Microsoft's type 2: Optimize and Allow direct, everything else to the proxy. The
    /// default, as Microsoft recommends for most networks.
    pub fn type2() -> Profile {
        Self::preset("type2", vec![Category::Optimize, Category::Allow])
    }

    pub fn route_for(&self, category: Category) -> Route {
        if self.direct.contains(&category) {
            Route::Direct
        } else {
            Route::Proxy
        }
    }

    /// The route for a host outside the catalogue that the profile treats specially: plain
    /// names and private addresses. `None` for everything else (which goes to the proxy).
    pub fn local_route(&self, host: &Host) -> Option<Route> {
        match host {
            Host::Name(n) if !n.contains('.') => Some(self.plain_hosts),
            Host::Ip(ip) if is_private(ip) => Some(self.private_addresses),
            _ => None,
        }
    }
}

impl Default for Profile {
    fn default() -> Self {
        Profile::type2()
    }
}

/// RFC 1918, loopback, link-local, CGNAT (RFC 6598) and IPv6 unique-local addresses: the
/// ranges that never belong to a cloud service and that intranets use.
pub fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(a) => {
            let s = a.segments()[0];
            a.is_loopback() || (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
        }
    }
}

/// The private ranges of [`is_private`] as CIDR strings, for PAC templates.
pub const PRIVATE_V4: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_routes() {
        let p = Profile::type2();
        let h = |s: &str| crate::host::normalize(s).unwrap().into_owned();
        assert_eq!(p.local_route(&h("intranet")), Some(Route::Direct));
        assert_eq!(p.local_route(&h("10.1.2.3")), Some(Route::Direct));
        assert_eq!(p.local_route(&h("100.64.0.1")), Some(Route::Direct));
        assert_eq!(p.local_route(&h("fd00::1")), Some(Route::Direct));
        assert_eq!(p.local_route(&h("fe80::1")), Some(Route::Direct));
        assert_eq!(p.local_route(&h("::1")), Some(Route::Direct));
        assert_eq!(p.local_route(&h("52.96.0.1")), None);
        assert_eq!(p.local_route(&h("100.128.0.1")), None);
        assert_eq!(p.local_route(&h("a.example.com")), None);
        for cidr in PRIVATE_V4 {
            let net: ipnet::Ipv4Net = cidr.parse().unwrap();
            assert!(is_private(&IpAddr::V4(net.network())));
            assert!(is_private(&IpAddr::V4(net.broadcast())));
        }
    }
}
