//! The catalogue: endpoint sets as their sources describe them, before any compilation.
//!
//! Loaders ([`ms365`], [`native`]) turn files into [`EndpointSet`]s and report every problem at
//! once; [`source`] resolves the configured sources (including the catalogues built into the
//! binary) and merges them into one [`Catalogue`]. Nothing here matches hosts or knows about
//! HTTP: the compiled form lives in [`crate::snapshot`].

mod breadth;
pub use breadth::mark_microsoft_breadth;
pub mod ms365;
pub mod native;
pub mod pattern;
pub mod ports;
pub mod problem;
pub mod source;

use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use pattern::{HostPattern, Placeholders};
pub use ports::{PortSet, Ports, Proto};
pub use problem::{LoadError, Problem};
pub use source::{load_sources, SourceSpec};

/// Microsoft's traffic categories, ordered so that `max()` is the "highest priority category"
/// Microsoft tells customers to follow when a destination is listed in several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Category {
    Default,
    Allow,
    Optimize,
}

impl Category {
    pub fn parse(s: &str) -> Option<Category> {
        match s {
            "Optimize" => Some(Category::Optimize),
            "Allow" => Some(Category::Allow),
            "Default" => Some(Category::Default),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Optimize => "Optimize",
            Category::Allow => "Allow",
            Category::Default => "Default",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way the traffic flows. Only outbound and trusted-site entries describe destinations a
/// browser or proxy connects to; inbound entries (Microsoft connecting into the customer) are
/// kept for reference and exports but never decide an outbound request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    #[default]
    Outbound,
    Inbound,
    TrustedSite,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "outbound" => Some(Direction::Outbound),
            "inbound" => Some(Direction::Inbound),
            "trusted-site" => Some(Direction::TrustedSite),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
            Direction::TrustedSite => "trusted-site",
        }
    }
}

/// What an organisation wants done with matching traffic. `Allow` is what every web-service
/// entry is; the others are overrides an organisation writes in its own native catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Allowed; routed by category under the profile.
    #[default]
    Allow,
    /// Refused, whatever else matches: beats every allow, however specific.
    Deny,
    /// Allowed and always sent DIRECT, whatever the category.
    Direct,
    /// Allowed and always sent to the proxy, whatever the category.
    Proxy,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "allow" => Some(Action::Allow),
            "deny" => Some(Action::Deny),
            "direct" => Some(Action::Direct),
            "proxy" => Some(Action::Proxy),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
            Action::Direct => "direct",
            Action::Proxy => "proxy",
        }
    }
}

/// An endpoint set's id as its source gives it: integers for the web service, integers or
/// strings in native catalogues.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SetId {
    Int(u64),
    Name(String),
}

impl fmt::Display for SetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetId::Int(i) => write!(f, "{i}"),
            SetId::Name(s) => f.write_str(s),
        }
    }
}

/// One host of a set; `ports` narrows it below the set's ports (`*.digicert.com` on TCP 80 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub pattern: HostPattern,
    pub ports: Option<Ports>,
}

/// An endpoint set: the unit the web service publishes and the unit decisions cite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSet {
    pub id: SetId,
    /// Index into [`Catalogue::sources`].
    pub source: usize,
    pub service_area: String,
    pub category: Category,
    /// The source gave no category (Microsoft's additional-endpoints table has none). Such a
    /// set only decides hosts that no categorised set matches, and is routed as `Default`:
    /// it adds destinations without re-routing what the web service already routes.
    pub uncategorised: bool,
    pub required: bool,
    pub express_route: bool,
    pub hosts: Vec<HostEntry>,
    pub prefixes: Vec<IpNet>,
    pub ports: Ports,
    pub direction: Direction,
    pub action: Action,
    pub notes: String,
    /// Row of Microsoft's "additional endpoints" table this entry transcribes, if any.
    pub row: Option<u32>,
    /// The set's rules are meant to be broad (a wildcard over a public suffix, a short
    /// prefix); without it such rules are refused.
    pub broad: bool,
}

impl EndpointSet {
    /// A blank set of a source; loaders fill it in field by field.
    pub fn new(id: SetId, source: usize) -> Self {
        EndpointSet {
            id,
            source,
            service_area: String::new(),
            category: Category::Default,
            uncategorised: false,
            required: false,
            express_route: false,
            hosts: Vec::new(),
            prefixes: Vec::new(),
            ports: Ports::default(),
            direction: Direction::Outbound,
            action: Action::Allow,
            notes: String::new(),
            row: None,
            broad: false,
        }
    }

    /// Whether this set can decide an outbound request (browser or proxy connecting out).
    pub fn is_outbound(&self) -> bool {
        self.direction != Direction::Inbound
    }
}

/// Where a source came from and which version of it is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    /// Name decisions cite, e.g. `ms365:worldwide`.
    pub name: String,
    /// `ms365`, `native` or `builtin`.
    pub kind: String,
    /// The file it was read from, or `builtin:NAME`.
    pub origin: String,
    /// The source's own version, or a content digest when it has none.
    pub version: String,
}

/// The merged catalogue of every configured source, in source order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalogue {
    pub sources: Vec<SourceInfo>,
    pub sets: Vec<EndpointSet>,
}

/// Per-source counts, for `check` and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceCounts {
    pub sets: usize,
    pub hosts: usize,
    pub prefixes_v4: usize,
    pub prefixes_v6: usize,
    pub inbound_sets: usize,
    pub deny_sets: usize,
}

impl Catalogue {
    pub fn counts(&self, source: usize) -> SourceCounts {
        let mut c = SourceCounts::default();
        for set in self.sets.iter().filter(|s| s.source == source) {
            c.sets += 1;
            c.hosts += set.hosts.len();
            for p in &set.prefixes {
                match p {
                    IpNet::V4(_) => c.prefixes_v4 += 1,
                    IpNet::V6(_) => c.prefixes_v6 += 1,
                }
            }
            c.inbound_sets += usize::from(set.direction == Direction::Inbound);
            c.deny_sets += usize::from(set.action == Action::Deny);
        }
        c
    }

    /// A digest over every source's name and version: the catalogue's version string.
    pub fn version(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for s in &self.sources {
            h.update(s.name.as_bytes());
            h.update([0]);
            h.update(s.version.as_bytes());
            h.update([0]);
        }
        hex_prefix(&h.finalize(), 16)
    }
}

/// Short lowercase hex of a digest: enough to tell versions apart in logs and ETags.
pub(crate) fn hex_prefix(bytes: &[u8], chars: usize) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(chars);
    for b in bytes {
        if s.len() >= chars {
            break;
        }
        let _ = write!(s, "{b:02x}");
    }
    s.truncate(chars);
    s
}

/// Content digest used as a version for sources that carry none.
pub fn content_version(text: &str) -> String {
    use sha2::Digest;
    format!(
        "sha256:{}",
        hex_prefix(&sha2::Sha256::digest(text.as_bytes()), 16)
    )
}

/// Parses a prefix as catalogues write it: CIDR, or a bare address (a host route). A prefix
/// with host bits set (`10.1.2.3/8`) is refused rather than widened: it is a typo or a
/// misunderstanding, and the rule it makes would allow far more than was written.
pub fn parse_prefix(text: &str) -> Result<IpNet, String> {
    let t = text.trim();
    let net = match t.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => match t.parse::<std::net::IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => return Err(format!("{text:?} is not an IP prefix")),
        },
    };
    if net.trunc() != net {
        return Err(format!(
            "{t} has host bits set; the network is {}: write that (or the /{} of the host)",
            net.trunc(),
            net.max_prefix_len()
        ));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_normalise() {
        let cases = [
            ("13.107.6.152/31", "13.107.6.152/31"),
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("52.96.1.7", "52.96.1.7/32"),
            ("2603:1006::/40", "2603:1006::/40"),
            ("2620:1ec:4::152", "2620:1ec:4::152/128"),
            (" 40.96.0.0/13 ", "40.96.0.0/13"),
        ];
        for (input, want) in cases {
            assert_eq!(parse_prefix(input).unwrap().to_string(), want, "{input}");
        }
        for bad in [
            "",
            "10.0.0.0/33",
            "host.example",
            "1.2.3/24",
            "::/129",
            "10.1.2.3/8",
            "2603:1006::1/40",
        ] {
            assert!(parse_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn category_order_is_microsoft_priority() {
        assert!(Category::Optimize > Category::Allow);
        assert!(Category::Allow > Category::Default);
        assert_eq!(
            [Category::Allow, Category::Optimize, Category::Default]
                .iter()
                .max(),
            Some(&Category::Optimize)
        );
    }
}
