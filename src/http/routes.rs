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
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use crate::catalogue::{Catalogue, Proto};
use crate::config::ServerConfig;
use crate::host;
use crate::matcher::PortQuery;
use crate::metrics::Route;
use crate::snapshot::Verdict;
use crate::state::State;

type Resp = Response<Full<Bytes>>;

pub struct Routes {
    state: Arc<State>,
    /// Largest request head accepted (`server.max_header_bytes`), on every request of a
    /// connection: hyper's own limit holds only while a head arrives in pieces.
    max_head: usize,
    decide_cache: HeaderValue,
    /// Where `/decide` finds the host when the query names none (auth_request, ext_authz).
    host_header: header::HeaderName,
    trusted_proxies: Vec<ipnet::IpNet>,
}

impl Routes {
    pub fn new(state: Arc<State>, cfg: &ServerConfig) -> Routes {
        // Leaked once per listener so that every answer's copy is a static one: cloning a
        // shared `HeaderValue` costs two atomic operations per request.
        let value: &'static str =
            Box::leak(format!("max-age={}", cfg.decide_max_age_secs).into_boxed_str());
        let decide_cache = HeaderValue::from_maybe_shared(Bytes::from_static(value.as_bytes()))
            .unwrap_or(HeaderValue::from_static("no-cache"));
        let host_header = header::HeaderName::from_bytes(cfg.decide_host_header.as_bytes())
            .unwrap_or(header::HeaderName::from_static("x-original-host"));
        Routes {
            state,
            max_head: cfg.max_header_bytes,
            decide_cache,
            host_header,
            trusted_proxies: cfg.trusted_proxies.clone(),
        }
    }

    /// Answers one request and records it in the metrics. `started` is when the head was
    /// complete (the listener takes it anyway for its header-read deadline).
    #[inline(always)]
    pub fn handle(&self, req: &mut Request<Incoming>, peer: SocketAddr, started: Instant) -> Resp {
        let route = match req.uri().path() {
            _ if req.method() == Method::CONNECT => Route::Decide,
            "/decide" => Route::Decide,
            p if p.starts_with("/decide/") => Route::Decide,
            "/healthz" => Route::Healthz,
            "/readyz" => Route::Readyz,
            "/catalogue" => Route::Catalogue,
            "/catalogue/changes" => Route::Changes,
            "/metrics" => Route::Metrics,
            "/proxy.pac" | "/wpad.dat" => Route::Pac,
            p if p.starts_with("/pac/") && p.ends_with(".pac") => Route::PacNamed,
            p if p.starts_with("/export/") => Route::Export,
            _ => Route::Other,
        };
        let mut resp = if head_bytes(req) > self.max_head {
            let mut r = error(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request head too large",
            );
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            r
        } else {
            self.route(route, req, peer)
        };
        // Stripped here, once, so that every answer below is built in place and returned as
        // it is (a response is ~150 bytes; each move was a `memcpy`).
        if req.method() == Method::HEAD {
            // The length a GET would have had, as HTTP asks of a HEAD answer.
            if let Some(len) = resp.body().size_hint().exact() {
                resp.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
            *resp.body_mut() = Full::new(Bytes::new());
        }
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

    fn route(&self, route: Route, req: &mut Request<Incoming>, peer: SocketAddr) -> Resp {
        match route {
            Route::Other => return error(StatusCode::NOT_FOUND, "no such resource"),
            Route::Decide => return self.decide_route(req, peer),
            _ => {}
        }
        let req = &*req;
        if let Some(refused) = refuse_method_or_body(req.method(), req.body()) {
            return refused;
        }
        match route {
            Route::Healthz => text(StatusCode::OK, "ok\n"),
            Route::Readyz if self.state.is_ready() => text(StatusCode::OK, "ready\n"),
            Route::Readyz => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
            Route::Metrics => self.metrics(),
            Route::Export => self.export(req),
            Route::Changes => match self.state.changes() {
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
            Route::Pac => {
                let served = self.state.guard();
                let i = served.profile_for_client(self.client(req, peer));
                serve_pac(&served, i, req)
            }
            Route::PacNamed => {
                let served = self.state.guard();
                let name = req.uri().path()["/pac/".len()..].trim_end_matches(".pac");
                match served.profile(name) {
                    Some(i) => serve_pac(&served, i, req),
                    None => error(StatusCode::NOT_FOUND, "no such profile"),
                }
            }
            // `Route::Catalogue`; `Decide` and `Other` were answered above.
            _ => self.catalogue(),
        }
    }

    /// Everything under `/decide`, and CONNECT. An ordinary query names `host=` or `ip=`;
    /// otherwise the request is an authorization subrequest about another request's
    /// destination, host and port (see [`Destination`]): for CONNECT its target; under
    /// `/decide/…` (Envoy's path prefix, whose query is the original request's) the authority
    /// Envoy sends — the request target's or `:authority` (absolute form, HTTP/2), else
    /// `Host` — with the scheme's default port when it names none; for `/decide` without
    /// `host=`/`ip=` (nginx, whose `?profile=…` is kept) the configured header — believed
    /// only from `server.trusted_proxies` when that list is not empty — else `Host`.
    ///
    /// An ordinary query's answer takes over the request's header map (see [`Routes::decide`]).
    fn decide_route(&self, req: &mut Request<Incoming>, peer: SocketAddr) -> Resp {
        let mut headers = std::mem::take(req.headers_mut());
        let req = &*req;
        let uri = req.uri();
        if req.method() == Method::CONNECT {
            let target = uri.authority().map_or("", |a| a.as_str());
            return self.decide_authz("", Destination::parse(target, None));
        }
        if uri.path() != "/decide" {
            let authority = match uri.authority() {
                Some(a) => a.as_str(),
                None => header_str(&headers, &header::HOST),
            };
            let https = headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
            let default_port = if https { 443 } else { 80 };
            return self.decide_authz("", Destination::parse(authority, Some(default_port)));
        }
        let query = uri.query().unwrap_or("");
        let resolved = match plain_query(query) {
            Some(q) => Ok(q),
            None => {
                let scanned = RawQuery::scan(query);
                let names_host = match &scanned {
                    Ok(raw) => raw.host.is_some() || raw.ip.is_some(),
                    Err(_) => query_pairs(query).any(|(k, _)| k == "host" || k == "ip"),
                };
                if !names_host {
                    let original = self.original_host(&headers, peer);
                    return self.decide_authz(query, Destination::parse(original, None));
                }
                scanned.and_then(|raw| raw.resolve(None))
            }
        };
        if let Some(refused) = refuse_method_or_body(req.method(), req.body()) {
            return refused;
        }
        match resolved {
            Ok(q) => {
                headers.clear();
                self.decide(&q, headers)
            }
            Err(reason) => error(StatusCode::BAD_REQUEST, &reason),
        }
    }

    /// The destination of an nginx-style subrequest: the configured header (believed only
    /// from a trusted proxy when `server.trusted_proxies` lists any), else `Host`.
    fn original_host<'r>(&self, h: &'r header::HeaderMap, peer: SocketAddr) -> &'r str {
        let peer = peer.ip().to_canonical();
        let believed = self.trusted_proxies.is_empty()
            || self.trusted_proxies.iter().any(|n| n.contains(&peer));
        match h.get(&self.host_header) {
            Some(v) if believed => v.to_str().unwrap_or(""),
            _ => header_str(h, &header::HOST),
        }
    }

    /// `/decide` as an authorization subrequest: 200 allow, 403 deny — and 403 for anything
    /// undecidable (a bad host or port), since nginx and Envoy read every other status as a
    /// failure of the check. Any method is accepted (Envoy forwards the original one) and a
    /// body is ignored.
    fn decide_authz(&self, query: &str, dest: Result<Destination<'_>, String>) -> Resp {
        let resolved =
            dest.and_then(|dest| RawQuery::scan(query).and_then(|raw| raw.resolve(Some(dest))));
        let mut resp = match resolved {
            Ok(q) => self.decide(&q, header::HeaderMap::new()),
            Err(reason) => error(StatusCode::BAD_REQUEST, &reason),
        };
        if resp.status() == StatusCode::BAD_REQUEST {
            *resp.status_mut() = StatusCode::FORBIDDEN;
        }
        resp
    }

    /// The answer to a validated query; its headers go into `headers` (empty).
    ///
    /// An ordinary `/decide` passes its request's header map, cleared: hyper keeps each
    /// response's map, once written, for parsing the next request on the connection, so a
    /// response that takes over its request's map completes a cycle in which no header map
    /// is allocated or freed.
    fn decide(&self, q: &DecideQuery, mut headers: header::HeaderMap) -> Resp {
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
        // ... and only for a portable spelling, whose route is the rule's.
        let fast = match q.port {
            None if q.host.portable => {
                served
                    .decide_json
                    .answer(&served.snapshot, index, profile, &q.host.host)
            }
            _ => None,
        };
        let (body, verdict) = match fast {
            Some((body, tail)) => {
                self.state
                    .metrics
                    .decision_parts(tail.verdict, tail.category);
                (body, tail.verdict)
            }
            None => {
                let d = served.snapshot.decide_read(&q.host, q.port, profile);
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
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, self.decide_cache.clone());
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        *r.headers_mut() = headers;
        r
    }

    /// `GET /export/FORMAT[?profile=P]`: rendered once per generation, on first request,
    /// then served from memory. The number of patterns the format cannot express is in
    /// `X-Pacwarden-Unexpressed`.
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
        let Some(f) = crate::export::FORMATS.iter().position(|f| *f == format) else {
            return error(StatusCode::NOT_FOUND, "no such export format");
        };
        let slot = &served.rendered.exports[f][profile];
        let rendered = slot.get_or_init(|| {
            crate::export::export(&served.snapshot, &served.profiles[profile], format)
                .ok()
                .map(|e| crate::state::RenderedExport {
                    body: Bytes::from(e.body),
                    content_type: e.content_type,
                    unexpressed: e.unexpressed.len(),
                })
        });
        match rendered {
            Some(e) => {
                let mut r = Response::new(Full::new(e.body.clone()));
                let h = r.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(e.content_type),
                );
                h.insert("x-pacwarden-unexpressed", HeaderValue::from(e.unexpressed));
                r
            }
            None => error(StatusCode::NOT_FOUND, "no such export format"),
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

    /// `GET /catalogue`: the reload counters, written per request, then the sources and sets,
    /// rendered once per generation.
    fn catalogue(&self) -> Resp {
        let served = self.state.guard();
        let snap = &served.snapshot;
        let tail = served.rendered.catalogue_tail.get_or_init(|| {
            let view = CatalogueTail {
                sources: sources_view(snap.catalogue(), &served.config_dir),
                sets: sets_view(snap.catalogue()),
            };
            let json = serde_json::to_vec(&view).unwrap_or_default();
            // `{"sources":…}` without its opening brace, to follow the head's fields.
            Bytes::from(json.get(1..).map(<[u8]>::to_vec).unwrap_or_default())
        });
        let (ok, failed) = self.state.reloads();
        let head = CatalogueHead {
            generation: snap.generation(),
            version: snap.version(),
            reloads_succeeded: ok,
            reloads_failed: failed,
            last_success_unix: self.state.last_success(),
        };
        let mut body = serde_json::to_vec(&head).unwrap_or_default();
        // Replace the head's closing brace with a comma and append the tail.
        body.pop();
        body.push(b',');
        body.extend_from_slice(tail);
        body.push(b'\n');
        let mut r = Response::new(Full::new(Bytes::from(body)));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }
}

/// The size of a request's head as HTTP/1.1 writes it: request line, headers, blank line.
fn head_bytes(req: &Request<Incoming>) -> usize {
    let uri = req.uri();
    let target = uri.path_and_query().map_or(1, |pq| pq.as_str().len())
        + uri
            .authority()
            .map_or(0, |a| a.as_str().len() + "http://".len());
    let line = req.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let fields: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    line + fields + 2
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

/// 405 for a method other than GET and HEAD, 400 for a request with a body (a declared
/// length above zero, or chunked transfer: hyper's body is then not known to be empty).
fn refuse_method_or_body(method: &Method, body: &Incoming) -> Option<Resp> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are allowed",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Some(r);
    }
    if !body.is_end_stream() {
        return Some(error(StatusCode::BAD_REQUEST, "GET requests carry no body"));
    }
    None
}

/// `application/x-www-form-urlencoded` pairs. A query with nothing encoded (no `%`, no `+`),
/// the usual case, is split in place; anything else goes through `form_urlencoded`. Both
/// skip empty pieces and read a piece without `=` as a name with an empty value.
fn query_pairs(query: &str) -> Pairs<'_> {
    Pairs::Plain(query)
}

/// The iterator of [`query_pairs`]; an enum rather than a box, since every `/decide` makes
/// one. `Plain` holds the rest of the query still to split; at the first `%` or `+` the rest
/// is handed to `form_urlencoded`.
enum Pairs<'a> {
    Plain(&'a str),
    Encoded(form_urlencoded::Parse<'a>),
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest: &'a str = match self {
                Pairs::Encoded(parse) => return parse.next(),
                Pairs::Plain(rest) => rest,
            };
            if rest.is_empty() {
                return None;
            }
            // One pass over the piece: its end, its first `=`, and whether anything in it
            // is encoded. (A byte loop: pieces are a few bytes long, shorter than what a
            // memchr call per delimiter costs.)
            let (mut end, mut eq) = (rest.len(), None);
            for (i, b) in rest.bytes().enumerate() {
                match b {
                    b'&' => {
                        end = i;
                        break;
                    }
                    b'=' if eq.is_none() => eq = Some(i),
                    b'%' | b'+' => {
                        *self = Pairs::Encoded(form_urlencoded::parse(rest.as_bytes()));
                        break;
                    }
                    _ => {}
                }
            }
            let Pairs::Plain(slot) = self else {
                continue;
            };
            let (piece, tail) = rest.split_at(end);
            *slot = tail.get(1..).unwrap_or("");
            if piece.is_empty() {
                continue;
            }
            return Some(match eq {
                Some(eq) => (Cow::Borrowed(&piece[..eq]), Cow::Borrowed(&piece[eq + 1..])),
                None => (Cow::Borrowed(piece), Cow::Borrowed("")),
            });
        }
    }
}

/// The parameters of `/decide` as given, each at most once and none unknown.
#[derive(Default, Debug, PartialEq)]
struct RawQuery<'a> {
    host: Option<Cow<'a, str>>,
    ip: Option<Cow<'a, str>>,
    port: Option<Cow<'a, str>>,
    proto: Option<Cow<'a, str>>,
    profile: Option<Cow<'a, str>>,
}

/// The parameters of `/decide`, validated.
struct DecideQuery<'a> {
    /// The host as read, and whether its spelling is portable.
    host: host::Reading<'a>,
    port: Option<PortQuery>,
    profile: Option<Cow<'a, str>>,
}

/// What an authorization subrequest asks about: a host, and the port when the request
/// gives one (or its scheme's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Destination<'a> {
    host: &'a str,
    port: Option<u16>,
}

impl<'a> Destination<'a> {
    /// Splits an authority — `host`, `host:port`, `[v6]:port`, or a bare IPv6 literal —
    /// taking `default_port` when it names none. A port that is not a number in 1-65535 is
    /// an error: the request cannot be decided.
    fn parse(authority: &'a str, default_port: Option<u16>) -> Result<Destination<'a>, String> {
        let a = authority.trim();
        let (host, port) = if a.starts_with('[') {
            match a.split_once(']') {
                Some((h, "")) => (&a[..=h.len()], None),
                Some((h, rest)) => (&a[..=h.len()], Some(rest.strip_prefix(':').unwrap_or(rest))),
                None => (a, None),
            }
        } else {
            match a.split_once(':') {
                Some((h, rest)) if !rest.contains(':') => (h, Some(rest)),
                _ => (a, None),
            }
        };
        let port = match port {
            Some(p) => Some(parse_port(p)?),
            None => default_port,
        };
        Ok(Destination { host, port })
    }
}

/// A destination port: digits only, 1-65535.
fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(n) if n > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => {
            let shown: String = text.chars().take(20).collect();
            Err(format!("bad port {shown:?}: expected 1-65535"))
        }
    }
}

/// A header's value as text, `""` when absent or not visible ASCII.
fn header_str<'h>(h: &'h header::HeaderMap, name: &header::HeaderName) -> &'h str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

impl<'a> RawQuery<'a> {
    /// Any query, pair by pair.
    fn scan(query: &'a str) -> Result<RawQuery<'a>, String> {
        let mut raw = RawQuery::default();
        for (k, v) in query_pairs(query) {
            let slot = match k.as_ref() {
                "host" => &mut raw.host,
                "ip" => &mut raw.ip,
                "port" => &mut raw.port,
                "proto" => &mut raw.proto,
                "profile" => &mut raw.profile,
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
            *slot = Some(v);
        }
        Ok(raw)
    }

    /// `dest` is the destination of an authorization subrequest, used when the query names
    /// no host; its port is then the one decided, and the query may not name one.
    fn resolve(self, dest: Option<Destination<'a>>) -> Result<DecideQuery<'a>, String> {
        let host = match (self.host, self.ip) {
            (Some(h), None) => read_param(h).map_err(|e| format!("bad host: {e}"))?,
            (None, Some(i)) => match read_param(i) {
                Ok(
                    r @ host::Reading {
                        host: host::Host::Ip(_),
                        ..
                    },
                ) => r,
                _ => return Err("bad ip: not an IPv4 or IPv6 address".into()),
            },
            (Some(_), Some(_)) => return Err("give host or ip, not both".into()),
            (None, None) => match &dest {
                Some(d) if d.host.is_empty() => {
                    return Err("no host: the request names none".into())
                }
                Some(d) => host::read(d.host).map_err(|e| format!("bad host: {e}"))?,
                None => return Err("missing parameter host (or ip)".into()),
            },
        };
        if let Some(d) = dest {
            if self.port.is_some() || self.proto.is_some() {
                return Err("port and proto come from the request, not the query".into());
            }
            return Ok(DecideQuery {
                host,
                port: d.port.map(|port| PortQuery {
                    proto: Proto::Tcp,
                    port,
                }),
                profile: self.profile,
            });
        }
        let port = match (self.port, self.proto) {
            (None, None) => None,
            (None, Some(_)) => return Err("proto= needs port=".into()),
            (Some(p), proto) => Some(PortQuery {
                proto: match proto {
                    None => Proto::Tcp,
                    Some(p) => p.parse()?,
                },
                port: parse_port(&p)?,
            }),
        };
        Ok(DecideQuery {
            host,
            port,
            profile: self.profile,
        })
    }
}

/// The usual `/decide` query — `host=H` or `ip=A` alone, nothing encoded — validated without
/// the general scan: the value is read as it stands, and `None` sends anything else
/// (including every invalid value, for its error message) to [`RawQuery::scan`]. A value
/// without `%` and `+` that reads as a host holds no `&` or `=` either (forbidden or
/// refused in a host), so it is the whole query's only parameter and reads the same
/// decoded: the same answer as the general path (a test holds the two together), for one
/// pass over the bytes instead of three.
fn plain_query(query: &str) -> Option<DecideQuery<'_>> {
    let (value, want_ip) = match query.strip_prefix("host=") {
        Some(v) => (v, false),
        None => (query.strip_prefix("ip=")?, true),
    };
    if value.contains(['%', '+']) {
        return None;
    }
    match host::read(value) {
        Ok(host) if !want_ip || matches!(host.host, host::Host::Ip(_)) => Some(DecideQuery {
            host,
            port: None,
            profile: None,
        }),
        _ => None,
    }
}

/// A host parameter read, borrowing the query when the parameter was not encoded.
fn read_param(value: Cow<'_, str>) -> Result<host::Reading<'_>, host::HostError> {
    match value {
        Cow::Borrowed(v) => host::read(v),
        Cow::Owned(v) => host::read(&v).map(|r| host::Reading {
            host: r.host.into_owned(),
            portable: r.portable,
        }),
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

/// The per-request part of `/catalogue`.
#[derive(Serialize)]
struct CatalogueHead<'a> {
    generation: u64,
    version: &'a str,
    reloads_succeeded: u64,
    reloads_failed: u64,
    last_success_unix: u64,
}

/// The per-generation part of `/catalogue`.
#[derive(Serialize)]
struct CatalogueTail<'a> {
    sources: Vec<SourceView>,
    sets: Vec<SetView<'a>>,
}

#[derive(Serialize)]
struct SourceView {
    #[serde(flatten)]
    info: crate::catalogue::SourceInfo,
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

/// The sources, files shown relative to the configuration file's directory (as the
/// configuration names them).
fn sources_view(cat: &Catalogue, config_dir: &std::path::Path) -> Vec<SourceView> {
    cat.sources
        .iter()
        .enumerate()
        .map(|(i, info)| {
            let mut info = info.clone();
            if let Ok(rel) = std::path::Path::new(&info.origin).strip_prefix(config_dir) {
                info.origin = rel.display().to_string();
            }
            SourceView {
                info,
                counts: cat.counts(i),
            }
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
            "host=a.com&ip=%31.2.3.4",
            "a+b=c&d",
            "x=1&&y=%zz&host=q&",
            "host=%41%2e&port=1+2",
        ] {
            let slow: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let fast: Vec<(String, String)> = query_pairs(q)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(fast, slow, "{q:?}");
        }
    }

    /// What the general path makes of a query: host, port, profile, or the error.
    fn general(q: &str) -> Result<(String, Option<PortQuery>, Option<String>), String> {
        RawQuery::scan(q)
            .and_then(|raw| raw.resolve(None))
            .map(|d| {
                (
                    d.host.host.to_string(),
                    d.port,
                    d.profile.map(Cow::into_owned),
                )
            })
    }

    /// Whatever [`plain_query`] accepts, the general path reads the same; what it refuses,
    /// the general path still answers (with the reason when the query is bad).
    fn shortcut_agrees(q: &str) {
        if let Some(d) = plain_query(q) {
            assert_eq!(
                general(q),
                Ok((d.host.host.to_string(), None, None)),
                "{q:?}"
            );
        }
    }

    #[test]
    fn query_shortcut_agrees_with_the_split() {
        let taken = [
            "host=a.example.com",
            "host=A.Example.COM.",
            "ip=1.2.3.4",
            "host=1.2.3.4",
            "ip=::ffff:52.96.0.1",
            "host=[2603:1006::1]",
            "host=b\u{fc}cher.example",
            "host=intranet",
        ];
        for q in taken {
            assert!(plain_query(q).is_some(), "{q:?}");
            shortcut_agrees(q);
        }
        let left = [
            "host=",
            "ip=",
            "ip=a.example.com",
            "host=a=b",
            "host=a.com&port=443",
            "ip=1.2.3.4&host=a.com",
            "host=a+b.com",
            "host=%41.com",
            "host=a.com&",
            "host=1.2.3.4%25eth0",
            "host=[::1%eth0]",
            "hostx=a.com",
            "port=443&host=a.com",
            "ip",
            "",
        ];
        for q in left {
            assert!(plain_query(q).is_none(), "{q:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn query_shortcut_agrees_with_the_split_on_anything(
            key in "host|ip",
            value in "[a-zA-Z0-9.:\\[\\]&%+=_*-]{0,24}|\\PC{0,12}",
        ) {
            shortcut_agrees(&format!("{key}={value}"));
        }
    }

    #[test]
    fn authorities_split_into_host_and_port() {
        fn ok(a: &str, default: Option<u16>) -> Result<Destination<'_>, String> {
            Destination::parse(a, default)
        }
        for (a, default, host, port) in [
            ("outlook.office365.com", None, "outlook.office365.com", None),
            (
                "outlook.office365.com",
                Some(443),
                "outlook.office365.com",
                Some(443),
            ),
            (
                "outlook.office365.com:22",
                Some(443),
                "outlook.office365.com",
                Some(22),
            ),
            ("[2603:1006::1]:443", None, "[2603:1006::1]", Some(443)),
            ("[2603:1006::1]", Some(80), "[2603:1006::1]", Some(80)),
            ("2603:1006::1", None, "2603:1006::1", None),
            ("52.96.1.1:8080", None, "52.96.1.1", Some(8080)),
            ("", None, "", None),
        ] {
            assert_eq!(ok(a, default), Ok(Destination { host, port }), "{a}");
        }
        for bad in [
            "outlook.office365.com:0",
            "outlook.office365.com:99999",
            "outlook.office365.com:http",
            "outlook.office365.com:+443",
            "outlook.office365.com:",
            "[::1]:x",
            "[::1]junk",
        ] {
            let err = ok(bad, Some(443)).unwrap_err();
            assert!(err.starts_with("bad port"), "{bad}: {err}");
        }
    }

    #[test]
    fn decide_query_validation() {
        fn parse(q: &str) -> Result<DecideQuery<'_>, String> {
            match plain_query(q) {
                Some(d) => Ok(d),
                None => RawQuery::scan(q).and_then(|raw| raw.resolve(None)),
            }
        }
        let ok = |q: &str| {
            parse(q).map(|d| {
                (
                    d.host.host.to_string(),
                    d.port,
                    d.profile.map(Cow::into_owned),
                )
            })
        };
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
            ("host=a.com&port=+443", "bad port"),
            ("host=a.com&proto=udp", "proto= needs port="),
            ("host=a.com&port=1&proto=sctp", "neither tcp nor udp"),
        ] {
            let err = parse(q).err().unwrap_or_default();
            assert!(err.contains(reason), "{q}: {err:?}");
            assert!(!err.contains('\n'));
        }
    }
}
