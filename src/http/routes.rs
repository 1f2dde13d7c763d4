//! Routing and the small handlers:
//!
//! - `GET /decide?host=H[&port=N][&proto=tcp|udp][&profile=P]` (or `ip=`): 200 with the
//!   decision JSON when allowed, 403 with it when denied, 400 `{"error": …}` for bad input;
//! - `/decide` without `host=`/`ip=`, any method on `/decide/…`, and CONNECT: authorization
//!   subrequests (nginx `auth_request`, Envoy ext_authz) deciding the original host, answered
//!   200 or 403 only;
//! - `GET /export/{format}`: the catalogue for tools that cannot ask `/decide`;
//! - `GET /catalogue/changes`: the last change summary from the endpoint web service;
//! - `GET /healthz`: the process is alive;
//! - `GET /readyz`: a catalogue is loaded and the server is not shutting down;
//! - `GET /catalogue`: the merged catalogue as JSON;
//! - `GET /metrics`: Prometheus / OpenMetrics text;
//! - `GET /proxy.pac`, `GET /wpad.dat`: the default profile's PAC; `GET /pac/{profile}.pac`:
//!   a named profile's; with ETag / `If-None-Match` → 304 and gzip when accepted, served
//!   from bytes rendered once per generation;
//! - anything else 404, a wrong method 405.
//!
//! Handlers read one snapshot for the whole request and never parse catalogues.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use crate::catalogue::{Catalogue, Proto};
use crate::config::ServerConfig;
use crate::host;
use crate::matcher::PortQuery;
use crate::snapshot::Verdict;
use crate::state::State;

type Resp = Response<Full<Bytes>>;

pub struct Routes {
    state: Arc<State>,
    decide_cache: HeaderValue,
    /// Where `/decide` finds the host when the query names none (auth_request, ext_authz).
    host_header: header::HeaderName,
    trusted_proxies: Vec<ipnet::IpNet>,
}

impl Routes {
    pub fn new(state: Arc<State>, cfg: &ServerConfig) -> Routes {
        let decide_cache = HeaderValue::from_str(&format!("max-age={}", cfg.decide_max_age_secs))
            .unwrap_or(HeaderValue::from_static("no-cache"));
        let host_header = header::HeaderName::from_bytes(cfg.decide_host_header.as_bytes())
            .unwrap_or(header::HeaderName::from_static("x-original-host"));
        Routes {
            state,
            decide_cache,
            host_header,
            trusted_proxies: cfg.trusted_proxies.clone(),
        }
    }

    /// Answers one request and records it in the metrics.
    pub fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Resp {
        let started = std::time::Instant::now();
        let route = match req.uri().path() {
            _ if req.method() == Method::CONNECT => "decide",
            "/decide" => "decide",
            p if p.starts_with("/decide/") => "decide",
            "/healthz" => "healthz",
            "/readyz" => "readyz",
            "/catalogue" => "catalogue",
            "/catalogue/changes" => "changes",
            "/metrics" => "metrics",
            "/proxy.pac" | "/wpad.dat" => "pac",
            p if p.starts_with("/pac/") && p.ends_with(".pac") => "pac_named",
            p if p.starts_with("/export/") => "export",
            _ => "other",
        };
        let resp = self.route(route, req, peer);
        self.state.metrics.request(
            route,
            resp.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
        resp
    }

    /// The client a PAC is chosen for: the peer, or — only when the peer is a trusted proxy —
    /// the nearest `X-Forwarded-For` entry that is not itself a trusted proxy.
    fn client(&self, req: &Request<Incoming>, peer: SocketAddr) -> std::net::IpAddr {
        let trusted = |ip: &std::net::IpAddr| self.trusted_proxies.iter().any(|n| n.contains(ip));
        let mut client = peer.ip().to_canonical();
        if !trusted(&client) {
            return client;
        }
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for entry in forwarded.iter().rev() {
            match host::normalize(entry.trim()) {
                Ok(host::Host::Ip(ip)) => {
                    client = ip;
                    if !trusted(&ip) {
                        break;
                    }
                }
                // Garbage in the header: stop at the last address we could trust.
                _ => break,
            }
        }
        client
    }

    fn route(&self, route: &'static str, req: Request<Incoming>, peer: SocketAddr) -> Resp {
        if route == "other" {
            return error(StatusCode::NOT_FOUND, "no such resource");
        }
        if route == "decide" {
            if let Some(host) = self.authz_host(&req) {
                // Under /decide/… and for CONNECT the query is the original request's, not
                // ours; `/decide?profile=…` (nginx) keeps its parameters.
                let query = match req.uri().path() {
                    "/decide" if req.method() != Method::CONNECT => req.uri().query(),
                    _ => None,
                };
                return self.decide_authz(query.unwrap_or(""), host);
            }
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET and HEAD are allowed",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        if has_body(&req) {
            return error(StatusCode::BAD_REQUEST, "GET requests carry no body");
        }
        let mut resp = match route {
            "decide" => self.decide(req.uri().query().unwrap_or(""), None),
            "healthz" => text(StatusCode::OK, "ok\n"),
            "readyz" if self.state.is_ready() => text(StatusCode::OK, "ready\n"),
            "readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
            "metrics" => self.metrics(),
            "export" => self.export(&req),
            "changes" => match self.state.changes() {
                Some(json) => {
                    let mut r = Response::new(Full::new(json));
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    r
                }
                None => error(StatusCode::NOT_FOUND, "no changes recorded yet"),
            },
            "pac" => {
                let served = self.state.guard();
                let i = served.profile_for_client(self.client(&req, peer));
                serve_pac(&served, i, &req)
            }
            "pac_named" => {
                let served = self.state.guard();
                let name = req.uri().path()["/pac/".len()..].trim_end_matches(".pac");
                match served.profile(name) {
                    Some(i) => serve_pac(&served, i, &req),
                    None => error(StatusCode::NOT_FOUND, "no such profile"),
                }
            }
            _ => self.catalogue(),
        };
        if req.method() == Method::HEAD {
            *resp.body_mut() = Full::new(Bytes::new());
        }
        resp
    }

    /// When `/decide` is used as an authorization subrequest, the host of the original
    /// request: for CONNECT its target; under `/decide/…` (Envoy ext_authz's path prefix) or
    /// for `/decide` without `host=`/`ip=` (nginx auth_request) the configured header, else
    /// `Host`. `None` for an ordinary query.
    fn authz_host(&self, req: &Request<Incoming>) -> Option<String> {
        if req.method() == Method::CONNECT {
            let authority = req.uri().authority().map(|a| a.as_str().to_owned());
            return Some(authority.unwrap_or_default());
        }
        let query = req.uri().query().unwrap_or("");
        // Every /decide passes here: look at the keys without building the pair list.
        let names_host = if query.contains(['%', '+']) {
            query_pairs(query)
                .iter()
                .any(|(k, _)| k == "host" || k == "ip")
        } else {
            query
                .split('&')
                .any(|p| matches!(p.split('=').next(), Some("host" | "ip")))
        };
        if req.uri().path() == "/decide" && names_host {
            return None;
        }
        let h = req.headers();
        let value = h
            .get(&self.host_header)
            .or_else(|| h.get(header::HOST))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Some(value.to_owned())
    }

    /// `/decide` as an authorization subrequest: 200 allow, 403 deny — and 403 for anything
    /// undecidable, since nginx and Envoy read every other status as a failure of the check.
    /// Any method is accepted (Envoy forwards the original one) and a body is ignored.
    fn decide_authz(&self, query: &str, authority: String) -> Resp {
        let host = strip_port(&authority);
        let mut resp = self.decide(query, Some(host));
        if resp.status() == StatusCode::BAD_REQUEST {
            *resp.status_mut() = StatusCode::FORBIDDEN;
        }
        resp
    }

    fn decide(&self, query: &str, host: Option<&str>) -> Resp {
        let q = match DecideQuery::parse(query, host) {
            Ok(q) => q,
            Err(reason) => return error(StatusCode::BAD_REQUEST, &reason),
        };
        let served = self.state.guard();
        let index = match q.profile.as_deref() {
            None => served.default_profile,
            Some(name) => match served.profile(name) {
                Some(i) => i,
                None => {
                    let shown: String = name.chars().take(40).collect();
                    return error(
                        StatusCode::BAD_REQUEST,
                        &format!("unknown profile {shown:?}"),
                    );
                }
            },
        };
        let profile = &served.profiles[index];
        // Without a port the answer is the rule's pre-rendered JSON with the host spliced in.
        let fast = match q.port {
            None => served
                .decide_json
                .answer(&served.snapshot, index, profile, &q.host),
            Some(_) => None,
        };
        let (body, verdict) = match fast {
            Some((body, tail)) => {
                self.state
                    .metrics
                    .decision_parts(tail.verdict, tail.category);
                (body, tail.verdict)
            }
            None => {
                let d = served.snapshot.decide(&q.host, q.port, profile);
                self.state.metrics.decision_parts(d.decision, d.category);
                let mut v = serde_json::to_vec(&d).unwrap_or_default();
                v.push(b'\n');
                (v, d.decision)
            }
        };
        let status = match verdict {
            Verdict::Allow => StatusCode::OK,
            Verdict::Deny => StatusCode::FORBIDDEN,
        };
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, self.decide_cache.clone());
        r
    }

    /// `GET /export/FORMAT[?profile=P]`: rendered from the served snapshot per request
    /// (an operator's tool, not a hot path). The number of patterns the format cannot
    /// express is in `X-Pacwarden-Unexpressed`.
    fn export(&self, req: &Request<Incoming>) -> Resp {
        let served = self.state.guard();
        let format = &req.uri().path()["/export/".len()..];
        let mut profile = served.default_profile;
        for (k, v) in query_pairs(req.uri().query().unwrap_or("")) {
            match (k.as_ref(), served.profile(&v)) {
                ("profile", Some(i)) => profile = i,
                ("profile", None) => return error(StatusCode::NOT_FOUND, "no such profile"),
                _ => return error(StatusCode::BAD_REQUEST, "unknown parameter (profile)"),
            }
        }
        match crate::export::export(&served.snapshot, &served.profiles[profile], format) {
            Ok(e) => {
                let mut r = Response::new(Full::new(Bytes::from(e.body)));
                let h = r.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(e.content_type),
                );
                h.insert(
                    "x-pacwarden-unexpressed",
                    HeaderValue::from(e.unexpressed.len()),
                );
                r
            }
            Err(_) => error(StatusCode::NOT_FOUND, "no such export format"),
        }
    }

    fn metrics(&self) -> Resp {
        let mut r = Response::new(Full::new(Bytes::from(self.state.metrics.encode())));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        );
        r
    }

    fn catalogue(&self) -> Resp {
        let served = self.state.guard();
        let snap = &served.snapshot;
        let (ok, failed) = self.state.reloads();
        json(
            StatusCode::OK,
            &CatalogueView {
                generation: snap.generation(),
                version: snap.version(),
                reloads_succeeded: ok,
                reloads_failed: failed,
                last_success_unix: self.state.last_success(),
                sources: sources_view(snap.catalogue()),
                sets: sets_view(snap.catalogue()),
            },
        )
    }
}

/// A profile's PAC: 304 when the client has it, gzip when accepted.
fn serve_pac(served: &crate::state::Served, profile: usize, req: &Request<Incoming>) -> Resp {
    let Some(pac) = served.pacs.get(profile) else {
        return error(StatusCode::NOT_FOUND, "no such profile");
    };
    let h = req.headers();
    let etag = HeaderValue::from_str(&pac.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let not_modified = h
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == pac.etag
        });
    let gzip = !pac.gzip.is_empty()
        && h.get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|e| {
                let mut parts = e.split(';');
                let coding = parts.next().unwrap_or("").trim();
                let q_zero =
                    parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
                coding.eq_ignore_ascii_case("gzip") && !q_zero
            });
    let mut r = if not_modified {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if gzip {
        let mut r = Response::new(Full::new(pac.gzip.clone()));
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        Response::new(Full::new(pac.body.clone()))
    };
    let hs = r.headers_mut();
    hs.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ns-proxy-autoconfig"),
    );
    hs.insert(header::ETAG, etag);
    hs.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    hs.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    r
}

/// A request with a body: a declared length above zero, or chunked transfer.
fn has_body(req: &Request<Incoming>) -> bool {
    let h = req.headers();
    h.contains_key(header::TRANSFER_ENCODING)
        || h.get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// `application/x-www-form-urlencoded` pairs. A query with nothing encoded (no `%`, no `+`),
/// the usual case, is split in place; anything else goes through `form_urlencoded`. Both
/// skip empty pieces and read a piece without `=` as a name with an empty value.
fn query_pairs(query: &str) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    if query.bytes().any(|b| b == b'%' || b == b'+') {
        return form_urlencoded::parse(query.as_bytes()).collect();
    }
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| match piece.split_once('=') {
            Some((k, v)) => (Cow::Borrowed(k), Cow::Borrowed(v)),
            None => (Cow::Borrowed(piece), Cow::Borrowed("")),
        })
        .collect()
}

/// The parameters of `/decide`, validated.
struct DecideQuery {
    host: host::Host,
    port: Option<PortQuery>,
    profile: Option<String>,
}

/// The host of an authority (`host`, `host:port`, `[v6]:port`, or a bare IPv6 literal).
fn strip_port(authority: &str) -> &str {
    let a = authority.trim();
    if a.starts_with('[') {
        return a.split_once(']').map_or(a, |(h, _)| &a[..h.len() + 1]);
    }
    match a.split_once(':') {
        Some((h, rest)) if !rest.contains(':') => h,
        _ => a,
    }
}

impl DecideQuery {
    /// `fallback` is the host of an authorization subrequest, used when the query names none.
    fn parse(query: &str, fallback: Option<&str>) -> Result<DecideQuery, String> {
        let (mut host, mut ip, mut port, mut proto, mut profile) = (None, None, None, None, None);
        for (k, v) in query_pairs(query) {
            let slot = match k.as_ref() {
                "host" => &mut host,
                "ip" => &mut ip,
                "port" => &mut port,
                "proto" => &mut proto,
                "profile" => &mut profile,
                other => {
                    let shown: String = other.chars().take(40).collect();
                    return Err(format!(
                        "unknown parameter {shown:?} (host, ip, port, proto, profile)"
                    ));
                }
            };
            if slot.is_some() {
                return Err(format!("parameter {k:?} given more than once"));
            }
            *slot = Some(v.into_owned());
        }
        let host = match (host, ip) {
            (Some(h), None) => host::normalize(&h).map_err(|e| format!("bad host: {e}"))?,
            (None, Some(i)) => match host::normalize(&i) {
                Ok(h @ host::Host::Ip(_)) => h,
                _ => return Err("bad ip: not an IPv4 or IPv6 address".into()),
            },
            (Some(_), Some(_)) => return Err("give host or ip, not both".into()),
            (None, None) => match fallback {
                Some("") => return Err("no host: the request names none".into()),
                Some(h) => host::normalize(h).map_err(|e| format!("bad host: {e}"))?,
                None => return Err("missing parameter host (or ip)".into()),
            },
        };
        let proto: Proto = match proto {
            None => Proto::Tcp,
            Some(p) => p.parse()?,
        };
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(PortQuery { proto, port: n }),
                _ => return Err("bad port: expected 1-65535".into()),
            },
        };
        Ok(DecideQuery {
            host,
            port,
            profile,
        })
    }
}

fn json(status: StatusCode, body: &impl Serialize) -> Resp {
    let mut v = Vec::with_capacity(512);
    match serde_json::to_writer(&mut v, body) {
        Ok(()) => {
            v.push(b'\n');
            let mut r = Response::new(Full::new(Bytes::from(v)));
            *r.status_mut() = status;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode response\n",
        ),
    }
}

fn error(status: StatusCode, reason: &str) -> Resp {
    #[derive(Serialize)]
    struct Error<'a> {
        error: &'a str,
    }
    json(status, &Error { error: reason })
}

fn text(status: StatusCode, body: &'static str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[derive(Serialize)]
struct CatalogueView<'a> {
    generation: u64,
    version: &'a str,
    reloads_succeeded: u64,
    reloads_failed: u64,
    last_success_unix: u64,
    sources: Vec<SourceView<'a>>,
    sets: Vec<SetView<'a>>,
}

#[derive(Serialize)]
struct SourceView<'a> {
    #[serde(flatten)]
    info: &'a crate::catalogue::SourceInfo,
    #[serde(flatten)]
    counts: crate::catalogue::SourceCounts,
}

#[derive(Serialize)]
struct SetView<'a> {
    id: &'a crate::catalogue::SetId,
    source: &'a str,
    service_area: &'a str,
    /// `null` for uncategorised sets.
    category: Option<crate::catalogue::Category>,
    required: bool,
    express_route: bool,
    direction: crate::catalogue::Direction,
    action: crate::catalogue::Action,
    hosts: Vec<HostView<'a>>,
    prefixes: Vec<String>,
    tcp_ports: String,
    udp_ports: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    row: Option<u32>,
    #[serde(skip_serializing_if = "str::is_empty")]
    notes: &'a str,
}

#[derive(Serialize)]
struct HostView<'a> {
    pattern: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp_ports: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    udp_ports: Option<String>,
}

fn sources_view(cat: &Catalogue) -> Vec<SourceView<'_>> {
    cat.sources
        .iter()
        .enumerate()
        .map(|(i, info)| SourceView {
            info,
            counts: cat.counts(i),
        })
        .collect()
}

fn sets_view(cat: &Catalogue) -> Vec<SetView<'_>> {
    cat.sets
        .iter()
        .map(|s| SetView {
            id: &s.id,
            source: &cat.sources[s.source].name,
            service_area: &s.service_area,
            category: (!s.uncategorised).then_some(s.category),
            required: s.required,
            express_route: s.express_route,
            direction: s.direction,
            action: s.action,
            hosts: s
                .hosts
                .iter()
                .map(|h| HostView {
                    pattern: h.pattern.as_str(),
                    tcp_ports: h.ports.as_ref().map(|p| p.tcp.to_string()),
                    udp_ports: h.ports.as_ref().map(|p| p.udp.to_string()),
                })
                .collect(),
            prefixes: s.prefixes.iter().map(ToString::to_string).collect(),
            tcp_ports: s.ports.tcp.to_string(),
            udp_ports: s.ports.udp.to_string(),
            row: s.row,
            notes: &s.notes,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_queries_split_like_form_urlencoded() {
        for q in [
            "host=a.example.com",
            "host=a.example.com&port=443&proto=udp",
            "&&host=x.com&&",
            "host",
            "host=&ip=1.2.3.4",
            "a=b=c&d",
            "",
            "=x",
            "host=a.com;b",
        ] {
            let slow: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let fast: Vec<(String, String)> = query_pairs(q)
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(fast, slow, "{q:?}");
        }
    }

    #[test]
    fn authorities_lose_their_port() {
        for (a, want) in [
            ("outlook.office365.com", "outlook.office365.com"),
            ("outlook.office365.com:443", "outlook.office365.com"),
            ("[2603:1006::1]:443", "[2603:1006::1]"),
            ("2603:1006::1", "2603:1006::1"),
            ("52.96.1.1:8080", "52.96.1.1"),
            ("", ""),
        ] {
            assert_eq!(strip_port(a), want, "{a}");
        }
    }

    #[test]
    fn decide_query_validation() {
        let ok =
            |q: &str| DecideQuery::parse(q, None).map(|d| (d.host.to_string(), d.port, d.profile));
        assert_eq!(
            ok("host=Outlook.Office365.com.").unwrap().0,
            "outlook.office365.com"
        );
        assert_eq!(
            ok("ip=%5B%3A%3Affff%3A52.96.0.1%5D").unwrap().0,
            "52.96.0.1"
        );
        let (_, port, profile) =
            ok("host=a.example.com&port=3478&proto=udp&profile=type1").unwrap();
        assert_eq!(
            port,
            Some(PortQuery {
                proto: Proto::Udp,
                port: 3478
            })
        );
        assert_eq!(profile.as_deref(), Some("type1"));
        for (q, reason) in [
            ("", "missing parameter"),
            ("host=a.com&host=b.com", "more than once"),
            ("host=a.com&ip=1.2.3.4", "not both"),
            ("host=a.com&colour=red", "unknown parameter"),
            ("host=a%00b.com", "bad host"),
            ("host=%ZZ.com", "bad host"),
            ("host=a..b", "bad host"),
            ("ip=outlook.com", "bad ip"),
            ("host=a.com&port=0", "bad port"),
            ("host=a.com&port=99999", "bad port"),
            ("host=a.com&proto=sctp", "neither tcp nor udp"),
        ] {
            let err = DecideQuery::parse(q, None).err().unwrap_or_default();
            assert!(err.contains(reason), "{q}: {err:?}");
            assert!(!err.contains('\n'));
        }
    }
}
