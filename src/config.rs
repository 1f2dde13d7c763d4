//! Configuration: a TOML file (optional), overridden by `PACWARDEN_…` environment variables
//! with `__` between nested keys (`PACWARDEN_CATALOGUE__TENANTS='["contoso"]'`).
//!
//! Unknown keys are errors everywhere: a misspelt key silently ignored is a production outage
//! waiting for the next reload. Paths are relative to the config file's directory, so a
//! config directory can be moved or mounted anywhere as a whole.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::catalogue::{Placeholders, SourceSpec};

/// Environment variable prefix for overrides.
pub const ENV_PREFIX: &str = "PACWARDEN_";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub catalogue: CatalogueConfig,
    pub server: ServerConfig,
    pub tls: TlsConfig,
    pub log: LogConfig,
    pub pac: PacConfig,
    /// Routing profiles in addition to the presets `type1` and `type2` (a profile with a
    /// preset's name replaces it).
    pub profiles: Vec<ProfileConfig>,
    /// Keep the Microsoft 365 catalogue current from Microsoft's endpoint web service. With
    /// this section, the synced (cached) catalogue replaces the embedded Worldwide snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamConfig>,
}

/// `[upstream]`: Microsoft's endpoint web service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// Default `https://endpoints.office.com`.
    pub base_url: String,
    /// Worldwide, USGovDoD, USGovGCCHigh or China.
    pub instance: String,
    /// Service areas to request; empty means all of them (MEM included).
    pub service_areas: Vec<String>,
    /// Tenant name substituted into tenant-specific URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Leave IPv6 prefixes out.
    pub no_ipv6: bool,
    /// How often `/version` is checked: seconds, or `"90s"`, `"30m"`, `"1h"`, `"1d"`.
    /// Microsoft asks for at most hourly.
    pub interval: Interval,
    /// The GUID sent as `clientrequestid`. Unset: one is generated on first use and kept in
    /// `cache_dir`, so it stays the same across restarts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    /// Where the synced catalogue, its version and the last changes are kept (relative to
    /// the config file).
    pub cache_dir: PathBuf,
    /// Extra CA certificates (PEM) trusted for the web service, besides the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Longest a single call may take, a slowly dripping answer included.
    pub timeout: Interval,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            base_url: "https://endpoints.office.com".into(),
            instance: "Worldwide".into(),
            service_areas: Vec::new(),
            tenant: None,
            no_ipv6: false,
            interval: Interval(3600),
            client_request_id: None,
            cache_dir: PathBuf::from("cache"),
            ca_file: None,
            timeout: Interval(30),
        }
    }
}

/// A duration in seconds, written as a number or with a unit (`s`, `m`, `h`, `d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "IntervalInput", into = "u64")]
pub struct Interval(pub u64);

#[derive(Deserialize)]
#[serde(untagged)]
enum IntervalInput {
    Seconds(u64),
    Text(String),
}

impl TryFrom<IntervalInput> for Interval {
    type Error = String;
    fn try_from(v: IntervalInput) -> Result<Self, String> {
        let secs = match v {
            IntervalInput::Seconds(s) => s,
            IntervalInput::Text(t) => {
                let t = t.trim();
                let (num, unit) =
                    t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
                let n: u64 = num
                    .parse()
                    .map_err(|_| format!("{t:?}: expected a number with s, m, h or d"))?;
                let mult = match unit.trim() {
                    "" | "s" => 1,
                    "m" => 60,
                    "h" => 3600,
                    "d" => 86_400,
                    other => return Err(format!("{t:?}: unknown unit {other:?} (s, m, h, d)")),
                };
                n.saturating_mul(mult)
            }
        };
        if secs == 0 {
            return Err("interval must be more than 0".into());
        }
        Ok(Interval(secs))
    }
}

impl From<Interval> for u64 {
    fn from(i: Interval) -> u64 {
        i.0
    }
}

/// PAC generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PacConfig {
    /// Profile served at /proxy.pac and /wpad.dat and used by /decide without `profile=`.
    pub default_profile: String,
    /// Directory of operator templates (`*.pac.j2`), relative to the config file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templates_dir: Option<PathBuf>,
    /// A PAC larger than this is logged as a warning (Chromium ignores PACs over 1 MiB).
    pub size_budget_bytes: usize,
}

impl Default for PacConfig {
    fn default() -> Self {
        PacConfig {
            default_profile: "type2".into(),
            templates_dir: None,
            size_budget_bytes: 256 * 1024,
        }
    }
}

/// One routing profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    pub name: String,
    /// Categories sent DIRECT (default: Optimize and Allow).
    #[serde(default = "default_direct")]
    pub direct: Vec<crate::catalogue::Category>,
    /// What the PAC returns for everything else, e.g. `PROXY p1:3128; PROXY p2:3128; DIRECT`.
    pub proxy: String,
    /// Plain host names (no dot): `direct` (default) or `proxy`.
    #[serde(default = "default_direct_route")]
    pub plain_hosts: crate::profile::Route,
    /// Private, loopback and link-local address literals: `direct` (default) or `proxy`.
    #[serde(default = "default_direct_route")]
    pub private_addresses: crate::profile::Route,
    /// Template in `pac.templates_dir` (default: the built-in `default.pac.j2`).
    #[serde(default = "default_template")]
    pub template: String,
    /// Client networks that get this profile at /proxy.pac and /wpad.dat; the longest
    /// matching prefix over all profiles wins, no match gets the default profile.
    #[serde(default)]
    pub clients: Vec<ipnet::IpNet>,
}

fn default_direct() -> Vec<crate::catalogue::Category> {
    vec![
        crate::catalogue::Category::Optimize,
        crate::catalogue::Category::Allow,
    ]
}

fn default_direct_route() -> crate::profile::Route {
    crate::profile::Route::Direct
}

fn default_template() -> String {
    "default.pac.j2".into()
}

/// The HTTP listener. Changing these needs a restart; a reload says so in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on. Loopback by default; `0.0.0.0:80` in production.
    pub listen: SocketAddr,
    /// `Cache-Control: max-age` on `/decide` answers, so proxies can cache them.
    pub decide_max_age_secs: u64,
    /// A connection that has not completed a request head within this time of connecting
    /// (TLS handshake included) or of its previous head is closed: slow or trickled heads
    /// and idle keep-alive connections alike.
    pub header_read_timeout_secs: u64,
    /// Largest request head (request line and headers) accepted.
    pub max_header_bytes: usize,
    /// Connections served at once; further ones wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Connections one client address may hold at once; further ones are closed as soon as
    /// they are accepted, so one client cannot take the whole `max_connections`.
    pub max_connections_per_client: usize,
    /// On SIGTERM/SIGINT, how long in-flight requests may take before the process exits.
    pub shutdown_grace_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` is believed when choosing a profile by client
    /// network. Requests from anywhere else are judged by their own address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Seconds between checks of the configuration, catalogue, template and certificate files;
    /// a change (settled for one interval) triggers a reload like SIGHUP. 0 turns it off.
    pub watch_interval_secs: u64,
    /// Header carrying the original host when `/decide` is an authorization subrequest
    /// (nginx `auth_request`: `proxy_set_header X-Original-Host $host;`). `Host` otherwise.
    pub decide_host_header: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            decide_max_age_secs: 300,
            header_read_timeout_secs: 10,
            max_header_bytes: 16 * 1024,
            max_connections: 10_000,
            max_connections_per_client: 256,
            shutdown_grace_secs: 10,
            trusted_proxies: Vec::new(),
            watch_interval_secs: 0,
            decide_host_header: "x-original-host".into(),
        }
    }
}

/// An optional HTTPS listener (rustls; ALPN h2 and http/1.1). The certificate and key are
/// re-read on every reload, so a rotated certificate takes effect on SIGHUP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// HTTPS listen address; unset means no HTTPS listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain, leaf first; relative to the config file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1); relative to the config file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

/// Log output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `pacwarden=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogueConfig {
    /// Catalogue sources in order. When absent, the built-in Worldwide snapshot and the
    /// additional endpoints are used; when present, exactly these (list `kind = "builtin"`
    /// sources to keep the built-in ones alongside your own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<SourceConfig>>,
    /// Values for `<tenant>` in catalogue hosts; without any, the label becomes `*`.
    pub tenants: Vec<String>,
    /// Values for `<email_domain>` in catalogue hosts; without any, the label becomes `*`.
    pub email_domains: Vec<String>,
}

/// Kind of a configured source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Web-service JSON file.
    Ms365,
    /// Native TOML catalogue file.
    Native,
    /// A catalogue compiled into the binary: `worldwide` or `additional-endpoints`.
    Builtin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub kind: SourceKind,
    /// File to read (`ms365`, `native`); relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// `ms365`/`native`: name cited in decisions. `builtin`: which built-in catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `ms365`: web-service instance the file came from (default `Worldwide`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// `ms365`: version to report (default: digest of the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A source with no entries at all (an empty file, a catalogue of empty sets) is a
    /// problem — an emptied file would drop its rules — unless this says it is meant.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_empty: bool,
    /// The largest share of its entries (0–1) the source may lose in one reload; a reload
    /// that would drop more is refused (a half-written file, a broken feed). Default 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_shrink: Option<Share>,
}

/// A share between 0 and 1, compared by value (configurations are compared whole).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Share(pub f64);

impl PartialEq for Share {
    fn eq(&self, other: &Share) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Share {}

/// How much a source may change in one reload, from its `catalogue.sources` entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceLimits {
    pub allow_empty: bool,
    pub max_shrink: f64,
}

/// The share of its entries a source may lose in one reload unless it says otherwise.
pub const DEFAULT_MAX_SHRINK: f64 = 0.5;

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            allow_empty: false,
            max_shrink: DEFAULT_MAX_SHRINK,
        }
    }
}

/// Why the configuration could not be used. Every problem is listed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}: config file not found")]
    NotFound(String),
    #[error("{}", .problems.join("\n"))]
    Invalid { problems: Vec<String> },
}

/// Why a configuration file that parses must still not be used: empty (or comments only),
/// or not ending in a line break. Either way it would load as the built-in defaults, or as
/// whatever part of it survived, dropping every organisation source and profile.
fn cut_short(path: &Path) -> Option<String> {
    let shown = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        // Figment reports an unreadable file with its own reason.
        Err(_) => return None,
    };
    let content = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    if !content {
        return Some(format!(
            "{shown}: the configuration file is empty (emptied by mistake?); run without \
             --config for the built-in defaults"
        ));
    }
    if !text.ends_with('\n') {
        return Some(format!(
            "{shown}: the configuration file does not end with a line break: it looks cut \
             short (a write that did not finish?); end its last line"
        ));
    }
    None
}

/// A configuration together with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub config: Config,
    /// The file, if one was given.
    pub file: Option<PathBuf>,
    /// Directory relative paths are resolved against.
    pub base_dir: PathBuf,
}

impl Loaded {
    /// The built-in configuration: no file, no environment.
    pub fn builtin() -> Loaded {
        Loaded {
            config: Config::default(),
            file: None,
            base_dir: PathBuf::from("."),
        }
    }

    /// Reads `file` (if any), then the `PACWARDEN_` environment.
    pub fn load(file: Option<&Path>) -> Result<Loaded, ConfigError> {
        Self::from_figment(file, Env::prefixed(ENV_PREFIX).split("__"))
    }

    /// As [`Loaded::load`] with the environment provider passed in, so tests can supply
    /// variables without touching the process environment.
    pub fn from_figment(file: Option<&Path>, env: Env) -> Result<Loaded, ConfigError> {
        let mut fig = Figment::new().merge(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.is_file() {
                return Err(ConfigError::NotFound(f.display().to_string()));
            }
            if let Some(problem) = cut_short(f) {
                return Err(ConfigError::Invalid {
                    problems: vec![problem],
                });
            }
            fig = fig.merge(Toml::file_exact(f));
        }
        let fig = fig.merge(env);
        let config: Config = fig.extract().map_err(|e| ConfigError::Invalid {
            problems: e.into_iter().map(|e| e.to_string()).collect(),
        })?;
        let base_dir = file
            .and_then(Path::parent)
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from("."));
        let loaded = Loaded {
            config,
            file: file.map(Path::to_path_buf),
            base_dir,
        };
        loaded.sources()?;
        Ok(loaded)
    }

    fn label(&self) -> String {
        self.file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "config".into())
    }

    /// The catalogue sources with paths resolved; every misconfigured source is listed. With
    /// `[upstream]` and a valid synced catalogue in its cache, that catalogue stands in for
    /// the embedded Worldwide snapshot.
    pub fn sources(&self) -> Result<Vec<SourceSpec>, ConfigError> {
        let mut specs = self.configured_sources()?;
        if let Some(up) = &self.config.upstream {
            if let Some(cached) = crate::upstream::cache::current(&self.upstream_cache_dir(up), up)
            {
                for s in &mut specs {
                    if matches!(s, SourceSpec::Builtin { name } if name == "worldwide") {
                        *s = cached.clone();
                    }
                }
            }
        }
        Ok(specs)
    }

    /// Each source's limits, in the order of [`Loaded::sources`].
    pub fn source_limits(&self) -> Vec<SourceLimits> {
        match &self.config.catalogue.sources {
            None => vec![SourceLimits::default(); SourceSpec::defaults().len()],
            Some(list) => list
                .iter()
                .map(|s| SourceLimits {
                    allow_empty: s.allow_empty,
                    max_shrink: s.max_shrink.map_or(DEFAULT_MAX_SHRINK, |m| m.0),
                })
                .collect(),
        }
    }

    /// `upstream.cache_dir`, resolved against the config file.
    pub fn upstream_cache_dir(&self, up: &UpstreamConfig) -> PathBuf {
        self.base_dir.join(&up.cache_dir)
    }

    /// `upstream.ca_file`, resolved against the config file.
    pub fn upstream_ca_file(&self, up: &UpstreamConfig) -> Option<PathBuf> {
        up.ca_file.as_ref().map(|f| self.base_dir.join(f))
    }

    fn configured_sources(&self) -> Result<Vec<SourceSpec>, ConfigError> {
        let Some(list) = &self.config.catalogue.sources else {
            return Ok(SourceSpec::defaults());
        };
        let mut out = Vec::new();
        let mut problems = Vec::new();
        let file = self.label();
        for (i, s) in list.iter().enumerate() {
            let at = format!("{file}: catalogue.sources[{i}]");
            if let Some(Share(m)) = s.max_shrink {
                if !(0.0..=1.0).contains(&m) {
                    problems.push(format!(
                        "{at}: max_shrink: {m} is not a share between 0 and 1"
                    ));
                }
            }
            let path = s.path.as_ref().map(|p| self.base_dir.join(p));
            let mut unused = |field: &str, set: bool| {
                if set {
                    problems.push(format!("{at}: {field}: not used by kind {:?}", s.kind));
                }
            };
            match s.kind {
                SourceKind::Ms365 | SourceKind::Native => {
                    let Some(path) = path else {
                        problems.push(format!("{at}: path: required for this kind"));
                        continue;
                    };
                    if s.kind == SourceKind::Ms365 {
                        out.push(SourceSpec::Ms365 {
                            path,
                            name: s.name.clone(),
                            instance: s.instance.clone(),
                            version: s.version.clone(),
                        });
                    } else {
                        unused("instance", s.instance.is_some());
                        unused("version", s.version.is_some());
                        out.push(SourceSpec::Native {
                            path,
                            name: s.name.clone(),
                        });
                    }
                }
                SourceKind::Builtin => {
                    unused("path", s.path.is_some());
                    unused("instance", s.instance.is_some());
                    unused("version", s.version.is_some());
                    match &s.name {
                        Some(n) => out.push(SourceSpec::Builtin { name: n.clone() }),
                        None => problems.push(format!(
                            "{at}: name: required for kind builtin (one of: {})",
                            crate::catalogue::source::BUILTIN_NAMES.join(", ")
                        )),
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(ConfigError::Invalid { problems })
        }
    }

    /// The profiles: the presets, then the configured ones (replacing a preset of the same
    /// name), with the index of the default. Every problem is listed.
    pub fn profiles(&self) -> Result<(Vec<crate::profile::Profile>, usize), Vec<String>> {
        self.profiles_and_clients().map(|(p, d, _)| (p, d))
    }

    /// [`Loaded::profiles`] plus the client networks: (network, profile index).
    #[allow(clippy::type_complexity)]
    pub fn profiles_and_clients(
        &self,
    ) -> Result<
        (
            Vec<crate::profile::Profile>,
            usize,
            Vec<(ipnet::IpNet, usize)>,
        ),
        Vec<String>,
    > {
        use crate::profile::Profile;
        let file = self.label();
        let mut list = vec![Profile::type1(), Profile::type2()];
        let mut clients: Vec<(ipnet::IpNet, usize)> = Vec::new();
        let mut problems = Vec::new();
        for (i, p) in self.config.profiles.iter().enumerate() {
            let valid_name = !p.name.is_empty()
                && p.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid_name {
                problems.push(format!(
                    "{file}: profiles[{i}]: name: {:?} must be letters, digits, '-' or '_'",
                    p.name
                ));
            }
            if p.proxy.trim().is_empty() || !p.proxy.is_ascii() || p.proxy.contains(['\n', '\r']) {
                problems.push(format!(
                    "{file}: profiles[{i}]: proxy: must be a one-line ASCII PAC result such as \"PROXY proxy.corp:3128; DIRECT\""
                ));
            }
            let profile = Profile {
                name: p.name.clone(),
                direct: p.direct.clone(),
                proxy: p.proxy.clone(),
                plain_hosts: p.plain_hosts,
                private_addresses: p.private_addresses,
                template: p.template.clone(),
            };
            let index = match list.iter().position(|q| q.name == p.name) {
                Some(j) if j < 2 => {
                    list[j] = profile;
                    j
                }
                Some(j) => {
                    problems.push(format!(
                        "{file}: profiles[{i}]: name: {:?} is defined twice",
                        p.name
                    ));
                    j
                }
                None => {
                    list.push(profile);
                    list.len() - 1
                }
            };
            for net in &p.clients {
                let net = net.trunc();
                if let Some((_, other)) = clients.iter().find(|(n, _)| *n == net) {
                    problems.push(format!(
                        "{file}: profiles[{i}]: clients: {net} is already given to profile {:?}",
                        list[*other].name
                    ));
                }
                clients.push((net, index));
            }
        }
        let default = list
            .iter()
            .position(|p| p.name == self.config.pac.default_profile);
        if default.is_none() {
            problems.push(format!(
                "{file}: pac: default_profile: no profile named {:?}",
                self.config.pac.default_profile
            ));
        }
        match default {
            Some(d) if problems.is_empty() => Ok((list, d, clients)),
            _ => Err(problems),
        }
    }

    /// Certificate and key paths when an HTTPS listener is configured.
    pub fn tls_paths(&self) -> Result<Option<(PathBuf, PathBuf)>, Vec<String>> {
        let t = &self.config.tls;
        let file = self.label();
        match (&t.listen, &t.cert, &t.key) {
            (None, None, None) => Ok(None),
            (Some(_), Some(c), Some(k)) => Ok(Some((self.base_dir.join(c), self.base_dir.join(k)))),
            (None, _, _) => Err(vec![format!(
                "{file}: tls: listen: required when cert or key is set"
            )]),
            _ => Err(vec![format!(
                "{file}: tls: cert and key are both required with listen"
            )]),
        }
    }

    /// The operator template directory, resolved against the config file.
    /// Every file a reload reads: the configuration file, file catalogue sources, operator
    /// templates and the TLS certificate and key. What the file watcher looks at.
    pub fn watched_paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.file.iter().cloned().collect();
        if let Ok(sources) = self.sources() {
            for s in sources {
                match s {
                    SourceSpec::Ms365 { path, .. } | SourceSpec::Native { path, .. } => {
                        paths.push(path)
                    }
                    SourceSpec::Builtin { .. } => {}
                }
            }
        }
        if let Some(dir) = self.templates_dir() {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                files.sort();
                paths.extend(files);
            }
            paths.push(dir);
        }
        if let Ok(Some((cert, key))) = self.tls_paths() {
            paths.push(cert);
            paths.push(key);
        }
        paths
    }

    pub fn templates_dir(&self) -> Option<PathBuf> {
        self.config
            .pac
            .templates_dir
            .as_ref()
            .map(|d| self.base_dir.join(d))
    }

    pub fn placeholders(&self) -> Placeholders {
        Placeholders {
            tenants: self.config.catalogue.tenants.clone(),
            email_domains: self.config.catalogue.email_domains.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> Env {
        Env::prefixed("PACWARDEN_TEST_NEVER_SET_").split("__")
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pacwarden-config-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn issue_form_parses_with_relative_paths() {
        let d = tempdir("form");
        let f = write(
            &d,
            "pacwarden.toml",
            r#"
[[catalogue.sources]]
kind = "ms365"          # web-service JSON file
path = "worldwide.json" # relative to the config file
[[catalogue.sources]]
kind = "native"
path = "catalogue/additional-endpoints.toml"
"#,
        );
        let l = Loaded::from_figment(Some(&f), no_env()).unwrap();
        let s = l.sources().unwrap();
        assert_eq!(
            s[0],
            SourceSpec::Ms365 {
                path: d.join("worldwide.json"),
                name: None,
                instance: None,
                version: None
            }
        );
        assert_eq!(
            s[1],
            SourceSpec::Native {
                path: d.join("catalogue/additional-endpoints.toml"),
                name: None
            }
        );
    }

    #[test]
    fn unknown_keys_and_bad_sources_are_all_reported() {
        let d = tempdir("bad");
        let f = write(&d, "typo.toml", "[catalogue]\ntennants = [\"x\"]\n");
        let e = Loaded::from_figment(Some(&f), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("tennants"), "{e}");

        let f = write(
            &d,
            "sources.toml",
            "[[catalogue.sources]]\nkind = \"ms365\"\n[[catalogue.sources]]\nkind = \"builtin\"\npath = \"x\"\n",
        );
        let ConfigError::Invalid { problems } =
            Loaded::from_figment(Some(&f), no_env()).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].ends_with("catalogue.sources[0]: path: required for this kind"));
    }

    #[test]
    fn missing_file_is_an_error_not_an_empty_config() {
        let e = Loaded::from_figment(Some(Path::new("/nonexistent/p.toml")), no_env());
        assert!(matches!(e, Err(ConfigError::NotFound(_))));
    }

    #[test]
    fn no_sources_means_builtin_defaults() {
        let l = Loaded::from_figment(None, no_env()).unwrap();
        assert_eq!(l.sources().unwrap(), SourceSpec::defaults());
    }
}
