//! End-to-end tests of `pacwarden serve`: the real binary on an ephemeral loopback port, a
//! real HTTP client (ureq) and, for hostile requests, raw sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{addr_after, Server};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

fn get(url: &str) -> Reply {
    let mut resp = agent().get(url).call().expect("request completes");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()
        .unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pacwarden-serve-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A config with one native catalogue file, `catalogue.toml`, next to it.
fn config_with_catalogue(tag: &str, catalogue: &str, extra: &str) -> (PathBuf, PathBuf) {
    let dir = tempdir(tag);
    let cat = dir.join("catalogue.toml");
    std::fs::write(&cat, catalogue).unwrap();
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(
        &cfg,
        format!("[[catalogue.sources]]\nkind = \"native\"\npath = \"catalogue.toml\"\n{extra}"),
    )
    .unwrap();
    (cfg, cat)
}

const CAT_A: &str = "[meta]\nname = \"corp\"\nversion = \"a\"\n[[sets]]\nid = 1\ncategory = \"Allow\"\nhosts = [\"*.alpha.example\"]\nprefixes = [\"192.0.2.0/24\"]\n";
const CAT_B: &str = "[meta]\nname = \"corp\"\nversion = \"b\"\n[[sets]]\nid = 2\ncategory = \"Optimize\"\nhosts = [\"*.beta.example\"]\n";
const CAT_BROKEN: &str = "[[sets]]\nid = 3\nhosts = [\"*.com\"]\nprefixes = [\"300.0.0.0/8\"]\n";

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn endpoints_statuses_and_headers() {
    let server = Server::start(&repo("config/pacwarden.toml"));
    let r = get(&server.url("/decide?host=login.microsoftonline.com"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("max-age=300"));
    let d = r.json();
    assert_eq!(d["endpoint_sets"], serde_json::json!([56]));
    assert_eq!(d["route"], "direct");
    assert_eq!(d["catalogue"]["generation"], 1);

    let r = get(&server.url("/decide?ip=52.96.1.1&port=443"));
    assert_eq!(
        (r.status, r.json()["rule"].as_str()),
        (200, Some("52.96.0.0/14"))
    );

    let r = get(&server.url("/decide?host=example.com"));
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["decision"], "deny");
    assert_eq!(r.header("cache-control"), Some("max-age=300"));

    for bad in [
        "/decide?host=a..b",
        "/decide?host=x.com&port=0",
        "/decide?host=x.com&zone=1",
        "/decide?host=%00",
    ] {
        let r = get(&server.url(bad));
        assert_eq!(r.status, 400, "{bad}");
        let e = r.json();
        assert!(
            e["error"]
                .as_str()
                .is_some_and(|m| !m.is_empty() && !m.contains('\n')),
            "{bad}: {}",
            r.body
        );
    }

    assert_eq!(get(&server.url("/healthz")).status, 200);
    assert_eq!(get(&server.url("/readyz")).status, 200);
    let c = get(&server.url("/catalogue"));
    assert_eq!(c.status, 200);
    let c = c.json();
    assert_eq!(c["generation"], 1);
    assert_eq!(c["sources"][0]["name"], "ms365:worldwide");
    assert!(c["sets"].as_array().is_some_and(|s| s.len() > 100));

    // PAC files: content type, ETag, 304, gzip.
    let pac = get(&server.url("/proxy.pac"));
    assert_eq!(pac.status, 200);
    assert_eq!(
        pac.header("content-type"),
        Some("application/x-ns-proxy-autoconfig")
    );
    assert!(pac.body.contains("function FindProxyForURL(url, host)"));
    assert!(pac.body.is_ascii());
    for banned in ["dnsResolve(", "isInNet(", "isResolvable(", "myIpAddress("] {
        assert!(!pac.body.contains(banned), "{banned} in the PAC");
    }
    let etag = pac.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() > 10);
    assert_eq!(get(&server.url("/wpad.dat")).body, pac.body);
    assert_eq!(get(&server.url("/pac/type2.pac")).body, pac.body);
    assert_ne!(get(&server.url("/pac/type1.pac")).body, pac.body);
    assert_eq!(get(&server.url("/pac/nope.pac")).status, 404);
    let r = agent()
        .get(&server.url("/proxy.pac"))
        .header("If-None-Match", &etag)
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 304);
    assert_eq!(
        r.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some(etag.as_str())
    );
    let r = agent()
        .get(&server.url("/proxy.pac"))
        .header("If-None-Match", "\"other\"")
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut r = agent()
        .get(&server.url("/proxy.pac"))
        .header("Accept-Encoding", "gzip, br")
        .call()
        .unwrap();
    assert_eq!(
        r.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    assert_eq!(
        r.headers().get("vary").and_then(|v| v.to_str().ok()),
        Some("Accept-Encoding")
    );
    let gz = r.body_mut().read_to_vec().unwrap();
    assert!(gz.len() < pac.body.len() / 2);
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, pac.body);
    let r = agent()
        .get(&server.url("/proxy.pac"))
        .header("Accept-Encoding", "gzip;q=0")
        .call()
        .unwrap();
    assert!(r.headers().get("content-encoding").is_none());

    let m = get(&server.url("/metrics"));
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/openmetrics-text")));
    for line in [
        "pacwarden_http_requests_total{route=\"decide\",status=\"200\"} 2",
        "pacwarden_http_requests_total{route=\"decide\",status=\"403\"} 1",
        "pacwarden_http_requests_total{route=\"decide\",status=\"400\"} 4",
        "pacwarden_decisions_total{decision=\"allow\",category=\"Allow\"} 1",
        "pacwarden_decisions_total{decision=\"allow\",category=\"Optimize\"} 1",
        "pacwarden_decisions_total{decision=\"deny\",category=\"none\"} 1",
        "pacwarden_http_request_duration_seconds_count{route=\"decide\"} 7",
        "pacwarden_catalogue_generation 1",
        "pacwarden_catalogue_source_entries{source=\"ms365:worldwide\"",
        "pacwarden_reload_last_success_timestamp_seconds ",
        "pacwarden_pac_size_bytes{profile=\"type2\",encoding=\"identity\"} ",
        "pacwarden_pac_size_bytes{profile=\"type1\",encoding=\"gzip\"} ",
        "# EOF",
    ] {
        assert!(m.body.contains(line), "{line} missing in\n{}", m.body);
    }

    assert_eq!(get(&server.url("/nothing-here")).status, 404);
    let r = agent()
        .post(&server.url("/decide?host=x.com"))
        .send("")
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(
        r.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, HEAD")
    );
    let r = agent().head(&server.url("/healthz")).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // HEAD /decide: the GET's status and headers, no body (raw, to see what is sent).
    let reply = raw(
        server.addr,
        b"HEAD /decide?host=outlook.office365.com HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("cache-control: max-age="),
        "{head}"
    );
    assert_eq!(body, "");
    // The length the GET's body has.
    let get_len = get(&server.url("/decide?host=outlook.office365.com"))
        .body
        .len();
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {get_len}")),
        "{head}"
    );
    let reply = raw(
        server.addr,
        b"HEAD /proxy.pac HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let pac_len = get(&server.url("/proxy.pac")).body.len();
    assert!(
        reply
            .to_ascii_lowercase()
            .contains(&format!("content-length: {pac_len}")),
        "{reply}"
    );
    // Reload counters exist before the first reload.
    let metrics = get(&server.url("/metrics")).body;
    assert!(
        metrics.contains("pacwarden_reloads_total{result=\"success\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("pacwarden_reloads_total{result=\"failure\"} 0"));

    // A GET with a body is refused.
    let reply = raw(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
}

#[test]
fn sighup_swaps_catalogues_and_refuses_broken_ones() {
    let (cfg, cat) = config_with_catalogue("hup", CAT_A, "");
    let server = Server::start(&cfg);
    let alpha = server.url("/decide?host=www.alpha.example");
    let beta = server.url("/decide?host=www.beta.example");
    assert_eq!(get(&alpha).status, 200);
    assert_eq!(get(&beta).status, 403);

    std::fs::write(&cat, CAT_B).unwrap();
    server.signal("-HUP");
    server.wait_log("catalogue reloaded");
    assert_eq!(get(&alpha).status, 403);
    let r = get(&beta);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["catalogue"]["generation"], 2);

    std::fs::write(&cat, CAT_BROKEN).unwrap();
    server.signal("-HUP");
    let line = server.wait_log("reload refused");
    assert!(line.contains("problems=2"), "{line}");
    let r = get(&beta);
    assert_eq!(r.status, 200, "the previous catalogue keeps serving");
    assert_eq!(r.json()["catalogue"]["generation"], 2);
    let c = get(&server.url("/catalogue")).json();
    assert_eq!(
        (
            c["reloads_succeeded"].as_u64(),
            c["reloads_failed"].as_u64()
        ),
        (Some(1), Some(1))
    );

    // A burst of signals while a (slow, large) reload runs coalesces into few reloads.
    let mut big = String::from(CAT_A);
    for i in 0..20_000 {
        big.push_str(&format!(
            "[[sets]]\nid = \"s{i}\"\nhosts = [\"h{i}.gamma.example\"]\n"
        ));
    }
    std::fs::write(&cat, big).unwrap();
    let pid = server.child.id().to_string();
    let burst = Command::new("sh")
        .args(["-c", "for i in $(seq 20); do kill -HUP $0; done", &pid])
        .status()
        .unwrap();
    assert!(burst.success());
    server.wait_log("catalogue reloaded");
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&server.url("/decide?host=h19999.gamma.example")).status != 200 {
        assert!(Instant::now() < deadline, "big catalogue never served");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let c = get(&server.url("/catalogue")).json();
    let reloads = c["reloads_succeeded"].as_u64().unwrap_or(0) - 1;
    assert!(
        (1..=4).contains(&reloads),
        "20 signals gave {reloads} reloads"
    );
    assert_eq!(get(&alpha).status, 200);
}

#[test]
fn listen_address_from_the_environment_and_json_logs() {
    let (cfg, _) = config_with_catalogue("env", CAT_A, "[server]\nlisten = \"127.0.0.1:1\"\n");
    let env = [
        ("PACWARDEN_SERVER__LISTEN", "127.0.0.1:0"),
        ("PACWARDEN_LOG__FORMAT", "json"),
    ];
    let server = Server::start_with(&cfg, &[], &env);
    assert_ne!(server.addr.port(), 1);
    assert_eq!(
        get(&server.url("/decide?host=www.alpha.example")).status,
        200
    );
    server.signal("-HUP");
    let line = server.wait_log("catalogue reloaded");
    let v: Value = serde_json::from_str(&line).expect("JSON log line");
    assert_eq!(v["fields"]["generation"], 2);
}

#[test]
fn sigterm_stops_gracefully() {
    let (cfg, _) = config_with_catalogue("term", CAT_A, "[server]\nshutdown_grace_secs = 30\n");
    let mut server = Server::start(&cfg);
    assert_eq!(get(&server.url("/healthz")).status, 200);
    // A keep-alive connection idle at the signal is closed at once — not at its header-read
    // deadline (10 s) nor at the end of the grace period.
    let idle = TcpStream::connect(server.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    (&idle)
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut idle_reader = BufReader::new(idle.try_clone().unwrap());
    assert!(read_response(&mut idle_reader)
        .unwrap()
        .starts_with("HTTP/1.1 200"));
    let signalled = Instant::now();
    server.signal("-TERM");
    server.wait_log("shutting down");
    let mut rest = Vec::new();
    let closed = idle_reader.read_to_end(&mut rest);
    assert!(closed.is_ok(), "idle connection still open: {closed:?}");
    server.wait_log("all connections closed");
    assert!(signalled.elapsed() < Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "server did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends raw bytes, returns whatever comes back until the server closes or 5 s pass.
fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one response (head and `Content-Length` body) from a keep-alive connection.
fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(head)
}

/// The header-read timeout counts from the connection's accept or its last complete request
/// head: a head trickled byte by byte is cut off however lively the trickle, an idle
/// keep-alive connection is closed, and a connection that keeps sending requests lives on.
#[test]
fn header_read_timeout_cuts_slow_and_idle_connections_only() {
    let (cfg, _) =
        config_with_catalogue("timeout", CAT_A, "[server]\nheader_read_timeout_secs = 1\n");
    let server = Server::start(&cfg);
    let request = b"GET /decide?host=www.alpha.example HTTP/1.1\r\nHost: x\r\n\r\n";

    // Busy: a request every 400 ms for 3 s, all on one connection.
    let busy = TcpStream::connect(server.addr).unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut busy_reader = BufReader::new(busy.try_clone().unwrap());
    // Trickle: one byte of a head every 200 ms.
    let mut trickle = TcpStream::connect(server.addr).unwrap();
    // Idle: one request, then nothing.
    let idle = TcpStream::connect(server.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    (&idle).write_all(request).unwrap();
    let mut idle_reader = BufReader::new(idle.try_clone().unwrap());
    assert!(read_response(&mut idle_reader)
        .unwrap()
        .starts_with("HTTP/1.1 200"));

    let started = Instant::now();
    let mut trickle_cut = None;
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(3) {
        (&busy).write_all(request).unwrap();
        let head = read_response(&mut busy_reader).expect("busy connection still served");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        for _ in 0..2 {
            if trickle_cut.is_none() {
                let byte = request[sent % request.len()..][..1].to_vec();
                if trickle.write_all(&byte).is_err() {
                    trickle_cut = Some(started.elapsed());
                }
                sent += 1;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // The trickle was cut off: a write fails (reset) or, at the latest, a read sees the end.
    if trickle_cut.is_none() {
        trickle
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut buf = Vec::new();
        assert!(
            trickle.read_to_end(&mut buf).is_ok(),
            "trickling client still connected after 3 s"
        );
    }
    // The idle connection was closed long ago.
    let mut rest = Vec::new();
    let idle_end = idle_reader.read_to_end(&mut rest);
    assert!(idle_end.is_ok(), "idle connection still open: {idle_end:?}");
    assert!(rest.is_empty());
}

/// A `/decide` answer carries its own headers only, whatever the requests before it on the
/// connection sent (the answer reuses its request's header map).
#[test]
fn decide_answers_carry_only_their_own_headers() {
    let (cfg, _) = config_with_catalogue("own-headers", CAT_A, "");
    let server = Server::start(&cfg);
    let conn = TcpStream::connect(server.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let requests = [
        "GET /decide?host=www.alpha.example HTTP/1.1\r\nHost: x\r\nCookie: secret=1\r\n\
         X-Forwarded-For: 192.0.2.1\r\nAccept: */*\r\nCache-Control: no-store\r\n\r\n",
        "GET /decide?host=other.example HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /decide?ip=192.0.2.9 HTTP/1.1\r\nHost: x\r\nSet-Cookie: a=b\r\n\r\n",
    ];
    for round in 0..2 {
        for request in requests {
            (&conn).write_all(request.as_bytes()).unwrap();
            let head = read_response(&mut reader).unwrap();
            let mut names: Vec<String> = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(name, _)| name.to_ascii_lowercase())
                .collect();
            names.sort();
            assert_eq!(
                names,
                ["cache-control", "content-length", "content-type", "date"],
                "round {round}, {request:?}: {head}"
            );
            assert!(
                head.to_ascii_lowercase()
                    .contains("cache-control: max-age="),
                "{head}"
            );
        }
    }
}

#[test]
fn hostile_requests_get_4xx_or_a_timeout_and_others_are_served() {
    let (cfg, _) =
        config_with_catalogue("hostile", CAT_A, "[server]\nheader_read_timeout_secs = 1\n");
    let server = Server::start(&cfg);
    let ok = server.url("/decide?host=www.alpha.example");

    // A slow client that never finishes its headers holds no one up and is cut off.
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.write_all(b"GET /decide?host=www.alpha.example HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert_eq!(get(&ok).status, 200);

    let huge = format!(
        "GET /decide?host={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let reply = raw(server.addr, huge.as_bytes());
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 4"),
        "{reply:.100}"
    );

    let reply = raw(
        server.addr,
        b"GET /decide?host=a\0b HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 4"),
        "{reply:.100}"
    );

    let reply = raw(
        server.addr,
        b"GET /decide?host=%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply:.200}");

    let reply = raw(
        server.addr,
        b"GET /decide?host=www.alpha.example HTTP/1.0\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.0 200"), "{reply:.200}");

    // Two pipelined requests, two answers in order.
    let reply = raw(
        server.addr,
        b"GET /decide?host=www.alpha.example HTTP/1.1\r\nHost: x\r\n\r\nGET /decide?host=nope.example HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let statuses: Vec<&str> = reply
        .lines()
        .filter(|l| l.starts_with("HTTP/1.1"))
        .collect();
    assert_eq!(
        statuses,
        ["HTTP/1.1 200 OK", "HTTP/1.1 403 Forbidden"],
        "{reply}"
    );

    // The slow client has been disconnected: its read ends (EOF), it does not time out.
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let ended = slow.read_to_end(&mut buf);
    assert!(ended.is_ok(), "slow client still connected: {ended:?}");
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );

    assert_eq!(get(&ok).status, 200);
    assert_eq!(get(&server.url("/healthz")).status, 200);
}

/// 8 clients hammer `/decide` while 50 reloads alternate between two valid catalogues and a
/// broken one: no request fails, and every answer belongs wholly to one generation.
#[test]
fn answers_stay_consistent_across_50_reloads() {
    let (cfg, cat) = config_with_catalogue("hammer", CAT_A, "");
    let server = Server::start(&cfg);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..8 {
        let (stop, addr) = (stop.clone(), server.addr);
        clients.push(std::thread::spawn(move || {
            let agent = agent();
            let (mut n, mut generations) = (0u64, std::collections::BTreeSet::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let host = if (n + c) % 2 == 0 {
                    "www.alpha.example"
                } else {
                    "www.beta.example"
                };
                let mut r = agent
                    .get(&format!("http://{addr}/decide?host={host}"))
                    .call()
                    .expect("no request fails during reloads");
                let status = r.status().as_u16();
                let d: Value =
                    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                let gen = d["catalogue"]["generation"].as_u64().unwrap();
                // Odd generations serve catalogue A, even ones B.
                let alpha_allowed = gen % 2 == 1;
                let want = if (host == "www.alpha.example") == alpha_allowed {
                    200
                } else {
                    403
                };
                assert_eq!(status, want, "{host} in generation {gen}: {d}");
                assert_eq!(d["decision"], if want == 200 { "allow" } else { "deny" });
                generations.insert(gen);
                n += 1;
            }
            (n, generations)
        }));
    }
    let mut expected_gen = 1;
    for i in 0..50 {
        if i % 3 == 2 {
            std::fs::write(&cat, CAT_BROKEN).unwrap();
            server.signal("-HUP");
            server.wait_log("reload refused");
        } else {
            std::fs::write(&cat, if expected_gen % 2 == 1 { CAT_B } else { CAT_A }).unwrap();
            server.signal("-HUP");
            expected_gen += 1;
            server.wait_log(&format!("generation={expected_gen} "));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    let mut seen = std::collections::BTreeSet::new();
    for c in clients {
        let (n, g) = c.join().expect("client thread ok");
        total += n;
        seen.extend(g);
    }
    assert!(total > 100, "only {total} requests");
    assert!(seen.len() > 5, "answers came from only {seen:?}");
}

/// Probes derived from the catalogue: every pattern with its wildcards filled, bare suffixes,
/// children, case and trailing-dot variants, and addresses at and around every prefix.
fn catalogue_probes(catalogue: &Value) -> Vec<String> {
    let mut probes = std::collections::BTreeSet::new();
    for set in catalogue["sets"].as_array().into_iter().flatten() {
        for h in set["hosts"].as_array().into_iter().flatten() {
            let p = h["pattern"].as_str().unwrap_or_default();
            probes.insert(p.replace('*', "x"));
            probes.insert(p.replace('*', "a.b"));
            probes.insert(format!("zz.{}", p.replace('*', "q")));
            probes.insert(p.replace('*', "Mixed.Case").to_uppercase());
            probes.insert(format!("{}.", p.replace('*', "t")));
            if let Some(rest) = p.strip_prefix("*.") {
                probes.insert(rest.to_owned());
            }
            // Spellings only some clients read: the PAC gets them as typed from libproxy,
            // pypac and pacparser, and must send them to the proxy as /decide's route says.
            let name = p.replace('*', "x");
            probes.insert(name.replace('.', "\u{ff0e}"));
            probes.insert(format!("{name}\u{3002}"));
            probes.insert(format!("xn--{name}"));
            probes.insert(name.replacen('.', "%2e", 1));
        }
        for n in set["prefixes"].as_array().into_iter().flatten() {
            let net: ipnet::IpNet = n.as_str().unwrap_or_default().parse().unwrap();
            let (first, last) = (net.network(), net.broadcast());
            probes.insert(first.to_string());
            probes.insert(last.to_string());
            match (first, last) {
                (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) => {
                    probes
                        .insert(std::net::Ipv4Addr::from(u32::from(a).wrapping_sub(1)).to_string());
                    probes
                        .insert(std::net::Ipv4Addr::from(u32::from(b).wrapping_add(1)).to_string());
                    probes.insert(format!("::ffff:{a}"));
                    // Numeric spellings every client reads as the same address.
                    let n = u32::from(a);
                    let o = a.octets();
                    probes.insert(n.to_string());
                    probes.insert(format!("0x{n:x}"));
                    probes.insert(format!("0{:o}.0{:o}.{}.{}", o[0], o[1], o[2], o[3]));
                    probes.insert(format!("{}.{}", o[0], n & 0xff_ffff));
                }
                (std::net::IpAddr::V6(a), std::net::IpAddr::V6(b)) => {
                    probes.insert(
                        std::net::Ipv6Addr::from(u128::from(a).wrapping_sub(1)).to_string(),
                    );
                    probes.insert(
                        std::net::Ipv6Addr::from(u128::from(b).wrapping_add(1)).to_string(),
                    );
                }
                _ => {}
            }
        }
    }
    for extra in [
        "intranet",
        "example.com",
        "10.1.2.3",
        "192.168.0.1",
        "fd00::1",
        "8.8.8.8",
        "2001:db8::1",
        "877658369",
        "1.2.3.09",
        "fe80::1%eth0",
    ] {
        probes.insert(extra.to_owned());
    }
    probes.into_iter().collect()
}

/// The generated PAC, run in Node (V8), routes every probe exactly as /decide does, for
/// the preset profiles on the built-in catalogue.
#[test]
fn generated_pac_agrees_with_decide() {
    pac_agrees(&repo("config/pacwarden.toml"), &["type1", "type2"]);
}

/// The same with an organisation's denials, forced routes, tenant names and its own profile.
#[test]
fn generated_pac_agrees_with_decide_with_overrides() {
    pac_agrees(
        &repo("config/pacwarden.organisation.toml"),
        &["branch", "type1"],
    );
}

fn pac_agrees(config: &Path, profiles: &[&str]) {
    let server = Server::start(config);
    let catalogue = get(&server.url("/catalogue")).json();
    let probes = catalogue_probes(&catalogue);
    assert!(probes.len() > 1000, "{} probes", probes.len());
    let dir = tempdir(&format!("pac-agree-{}", profiles.join("-")));
    for profile in profiles {
        let pac = get(&server.url(&format!("/pac/{profile}.pac")));
        assert_eq!(pac.status, 200);
        let file = dir.join(format!("{profile}.pac"));
        std::fs::write(&file, &pac.body).unwrap();
        let mut node = Command::new("node")
            .arg(repo("tests/data/pac-eval.js"))
            .arg(&file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node is installed (scripts/test.sh installs it)");
        node.stdin
            .take()
            .unwrap()
            .write_all(probes.join("\n").as_bytes())
            .unwrap();
        let out = node.wait_with_output().unwrap();
        assert!(out.status.success(), "node failed");
        let results: Vec<(String, String)> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| {
                l.split_once('\t')
                    .map(|(h, r)| (h.to_owned(), r.to_owned()))
            })
            .collect();
        assert_eq!(results.len(), probes.len());
        let agent = agent();
        let mut mismatches = Vec::new();
        for (host, pac_route) in &results {
            let url = format!(
                "http://{}/decide?host={}&profile={profile}",
                server.addr,
                form_urlencoded::byte_serialize(host.as_bytes()).collect::<String>()
            );
            let mut r = agent.get(&url).call().unwrap();
            let status = r.status().as_u16();
            let d: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
            // A host /decide refuses (400) must go to the proxy.
            let direct = status != 400 && d["route"] == "direct";
            if (pac_route == "DIRECT") != direct || pac_route.is_empty() {
                mismatches.push(format!("{host}: PAC {pac_route}, /decide {status} {d}"));
            }
        }
        assert!(
            mismatches.is_empty(),
            "{profile}: {} mismatches:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
    }
}

/// The profile named in a PAC's first line.
fn pac_profile(body: &str) -> String {
    body.lines()
        .next()
        .and_then(|l| l.split("profile \"").nth(1))
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

const CLIENT_PROFILES: &str = r#"
[[profiles]]
name = "loop"
proxy = "PROXY 127.0.0.1:3128"
clients = ["127.0.0.1/32"]
[[profiles]]
name = "wide"
proxy = "PROXY 127.0.0.1:3129"
clients = ["127.0.0.0/8"]
[[profiles]]
name = "ten"
proxy = "PROXY 127.0.0.1:3130"
clients = ["10.0.0.0/8", "2001:db8::/32"]
"#;

fn pac_for(server: &Server, xff: Option<&str>) -> String {
    let mut req = agent().get(&server.url("/proxy.pac"));
    if let Some(x) = xff {
        req = req.header("X-Forwarded-For", x);
    }
    let mut r = req.call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    pac_profile(&r.body_mut().read_to_string().unwrap())
}

#[test]
fn profile_by_client_network_without_a_trusted_proxy() {
    let (cfg, _) = config_with_catalogue("clients", CAT_A, CLIENT_PROFILES);
    let server = Server::start(&cfg);
    // Longest client prefix wins: 127.0.0.1/32 over 127.0.0.0/8.
    assert_eq!(pac_for(&server, None), "loop");
    // An untrusted peer's X-Forwarded-For is ignored.
    assert_eq!(pac_for(&server, Some("10.1.2.3")), "loop");
    // /wpad.dat is chosen the same way; a named profile is not.
    assert_eq!(pac_profile(&get(&server.url("/wpad.dat")).body), "loop");
    assert_eq!(pac_profile(&get(&server.url("/pac/ten.pac")).body), "ten");
}

#[test]
fn profile_by_client_network_behind_a_trusted_proxy() {
    let extra = format!("[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n{CLIENT_PROFILES}");
    let (cfg, _) = config_with_catalogue("trusted", CAT_A, &extra);
    let server = Server::start(&cfg);
    assert_eq!(pac_for(&server, None), "loop");
    assert_eq!(pac_for(&server, Some("10.1.2.3")), "ten");
    assert_eq!(pac_for(&server, Some("2001:db8::7")), "ten");
    // The entry the trusted proxy added is the last one; earlier ones are the client's word.
    assert_eq!(pac_for(&server, Some("10.9.9.9, 127.0.0.5")), "wide");
    // A client outside every network gets the default profile.
    assert_eq!(pac_for(&server, Some("192.0.2.1")), "type2");
    // Garbage is not believed.
    assert_eq!(pac_for(&server, Some("not-an-address")), "loop");
}

// === HTTPS ===

fn test_ca() -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "pacwarden test CA");
    rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap()).unwrap()
}

/// A leaf for localhost / 127.0.0.1 written to `cert.pem` and `key.pem`; returns its DER.
fn write_leaf(ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>, dir: &Path) -> Vec<u8> {
    write_leaf_valid(ca, dir, None)
}

/// [`write_leaf`] valid from and until the given dates, `(year, month, day)` each.
type Ymd = (i32, u8, u8);
fn write_leaf_valid(
    ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    dir: &Path,
    validity: Option<(Ymd, Ymd)>,
) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    if let Some(((y1, m1, d1), (y2, m2, d2))) = validity {
        params.not_before = rcgen::date_time_ymd(y1, m1, d1);
        params.not_after = rcgen::date_time_ymd(y2, m2, d2);
    }
    let cert = params.signed_by(&key, ca).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    cert.der().to_vec()
}

/// One HTTPS request with a rustls client trusting only `ca`; returns the negotiated ALPN
/// protocol, the server's certificate and the response head.
fn https_get(
    addr: SocketAddr,
    ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    alpn: &[&[u8]],
    path: &str,
) -> (Option<Vec<u8>>, Vec<u8>, String) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), name).unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut reply = String::new();
    if alpn.first() == Some(&&b"h2"[..]) {
        // Completing the handshake is enough to see the protocol and certificate.
        tls.conn.complete_io(&mut tls.sock).unwrap();
    } else {
        write!(
            tls,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let _ = tls.read_to_string(&mut reply);
    }
    let proto = tls.conn.alpn_protocol().map(|p| p.to_vec());
    let cert = tls.conn.peer_certificates().unwrap()[0].to_vec();
    (proto, cert, reply)
}

#[test]
fn https_with_alpn_and_certificate_rotation_on_sighup() {
    let dir = tempdir("tls");
    let ca = test_ca();
    let first = write_leaf(&ca, &dir);
    std::fs::write(dir.join("catalogue.toml"), CAT_A).unwrap();
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(
        &cfg,
        "[[catalogue.sources]]\nkind = \"native\"\npath = \"catalogue.toml\"\n[tls]\nlisten = \"127.0.0.1:0\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
    )
    .unwrap();
    let server = Server::start(&cfg);
    let line = server.wait_log("listening on https://");
    let addr = addr_after(&line, "https://");

    let (proto, cert, reply) =
        https_get(addr, &ca, &[b"http/1.1"], "/decide?host=www.alpha.example");
    assert_eq!(proto.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(cert, first);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"decision\":\"allow\""));
    let (proto, _, _) = https_get(addr, &ca, &[b"h2", b"http/1.1"], "/");
    assert_eq!(proto.as_deref(), Some(&b"h2"[..]));

    // Rotation: new certificate on disk, SIGHUP, new connections get it.
    let second = write_leaf(&ca, &dir);
    assert_ne!(first, second);
    server.signal("-HUP");
    server.wait_log("catalogue reloaded");
    let (_, cert, reply) = https_get(addr, &ca, &[b"http/1.1"], "/healthz");
    assert_eq!(cert, second);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    // A broken key is refused like a broken catalogue: the old certificate keeps serving.
    std::fs::write(
        dir.join("key.pem"),
        "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    server.signal("-HUP");
    server.wait_log("reload refused");
    let (_, cert, _) = https_get(addr, &ca, &[b"http/1.1"], "/healthz");
    assert_eq!(cert, second);
    // Plain HTTP keeps working beside HTTPS.
    assert_eq!(get(&server.url("/healthz")).status, 200);

    // An expired certificate, and one not valid yet, are refused the same way.
    for (validity, says) in [
        (((2020, 1, 1), (2021, 1, 1)), "the certificate expired on"),
        (
            ((2099, 1, 1), (2100, 1, 1)),
            "the certificate is not valid before",
        ),
    ] {
        write_leaf_valid(&ca, &dir, Some(validity));
        server.signal("-HUP");
        let line = server.wait_log(says);
        assert!(line.contains("cert.pem"), "{line}");
        server.wait_log("reload refused");
        let (_, cert, _) = https_get(addr, &ca, &[b"http/1.1"], "/healthz");
        assert_eq!(cert, second, "{says}");
    }
    // The expiry date is exported for monitoring.
    let metrics = get(&server.url("/metrics")).body;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("pacwarden_tls_certificate_expiry_timestamp_seconds "))
        .unwrap_or_default();
    let expiry: i64 = line.rsplit(' ').next().unwrap_or("0").parse().unwrap_or(0);
    assert!(expiry > 4_000_000_000, "{line}");
}

/// A certificate within 30 days of expiry is served, with a warning on every load; an
/// expired one stops the server from starting.
#[test]
fn certificates_near_or_past_expiry() {
    let dir = tempdir("tls-expiry");
    let ca = test_ca();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let ymd = |days: i64| -> Ymd {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
        (y, m, d)
    };
    let today = now / 86_400;
    write_leaf_valid(&ca, &dir, Some((ymd(today - 300), ymd(today + 10))));
    std::fs::write(dir.join("catalogue.toml"), CAT_A).unwrap();
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(
        &cfg,
        "[[catalogue.sources]]\nkind = \"native\"\npath = \"catalogue.toml\"\n[tls]\nlisten = \"127.0.0.1:0\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n",
    )
    .unwrap();
    let server = Server::start(&cfg);
    // Warned at startup (before the log line Server::start waits for) and on every reload.
    server.signal("-HUP");
    let line = server.wait_log("the certificate expires on");
    assert!(
        line.contains("in 9 day(s)") || line.contains("in 10 day(s)"),
        "{line}"
    );
    server.wait_log("catalogue reloaded");
    drop(server);
    // Expired: no start.
    write_leaf_valid(&ca, &dir, Some((ymd(today - 300), ymd(today - 1))));
    let out = Command::new(env!("CARGO_BIN_EXE_pacwarden"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("the certificate expired on"));
}

/// An operator's own template, picked by a profile, renders with the same context.
#[test]
fn operator_template_selected_per_profile() {
    let extra = r#"
[pac]
templates_dir = "templates"
[[profiles]]
name = "chain"
proxy = "PROXY 127.0.0.1:3128"
template = "chain.pac.j2"
"#;
    let (cfg, _) = config_with_catalogue("tmpl", CAT_A, extra);
    let dir = cfg.parent().unwrap().join("templates");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("chain.pac.j2"),
        "// {{ profile.name }}\nfunction FindProxyForURL(url, host) {\n{% for p in direct_patterns %}  if (shExpMatch(host, {{ p }})) return \"DIRECT\";\n{% endfor %}  return {{ profile.proxy }};\n}\n",
    )
    .unwrap();
    let server = Server::start(&cfg);
    let body = get(&server.url("/pac/chain.pac")).body;
    assert!(body.starts_with("// \"chain\""), "{body}");
    assert!(
        body.contains("shExpMatch(host, \"*.alpha.example\")"),
        "{body}"
    );
    // The other profiles keep the built-in template.
    assert!(get(&server.url("/pac/type2.pac")).body.contains("pwRoute"));

    // A template that does not parse is refused on reload; the previous one keeps serving.
    std::fs::write(dir.join("chain.pac.j2"), "{% for %}").unwrap();
    server.signal("-HUP");
    server.wait_log("reload refused");
    assert_eq!(get(&server.url("/pac/chain.pac")).body, body);
}

/// HTTP/2 without TLS (prior knowledge), with curl as the client.
#[test]
fn h2c_prior_knowledge() {
    let server = Server::start(&repo("config/pacwarden.toml"));
    let out = Command::new("curl")
        .args([
            "-s",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
        ])
        .arg(server.url("/decide?host=outlook.office365.com"))
        .output()
        .expect("curl is installed (scripts/test.sh installs it)");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200");
}

/// A SIGHUP during the (slow) first load neither kills the process nor is lost.
#[test]
fn early_sighup_does_not_kill() {
    let mut big = String::from(CAT_A);
    for i in 0..20_000 {
        big.push_str(&format!(
            "[[sets]]\nid = \"s{i}\"\nhosts = [\"h{i}.early.example\"]\n"
        ));
    }
    let (cfg, _) = config_with_catalogue("early", &big, "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pacwarden"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(sent.success());
    let stdout = child.stdout.take().unwrap();
    let mut listening = false;
    let mut reloaded = false;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        listening |= line.contains("listening on http://");
        if line.contains("catalogue reloaded") {
            reloaded = true;
            break;
        }
    }
    let alive = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        listening && reloaded && alive,
        "listening {listening}, reloaded {reloaded}, alive {alive}"
    );
}

/// Over-budget PACs are warned about; listener settings changed in the file are reported as
/// needing a restart while the catalogue part of the reload still applies.
#[test]
fn reload_reports_budget_and_restart_only_settings() {
    let (cfg, cat) = config_with_catalogue("budget", CAT_A, "[pac]\nsize_budget_bytes = 100\n");
    let server = Server::start(&cfg);
    assert_eq!(
        get(&server.url("/decide?host=www.alpha.example")).status,
        200
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{text}[server]\ndecide_max_age_secs = 5\n")).unwrap();
    std::fs::write(&cat, CAT_B).unwrap();
    server.signal("-HUP");
    let budget = server.wait_log("over the 100-byte budget");
    assert!(budget.contains("WARN"), "{budget}");
    let warning = server.wait_log("take effect after a restart");
    assert!(warning.contains("WARN"), "{warning}");
    server.wait_log("catalogue reloaded");
    let r = get(&server.url("/decide?host=www.beta.example"));
    assert_eq!(r.status, 200);
    // The listener keeps the settings it started with.
    assert_eq!(r.header("cache-control"), Some("max-age=300"));
}

/// Out of file descriptors, accept fails: the server logs it, keeps running, and serves
/// again once descriptors are free.
#[test]
fn accept_errors_are_survived() {
    let (cfg, _) = config_with_catalogue("emfile", CAT_A, "");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "ulimit -n 64 && exec {} serve --listen 127.0.0.1:0 --config {}",
        env!("CARGO_BIN_EXE_pacwarden"),
        cfg.display()
    ));
    let mut server = Server::spawn(cmd);
    // Hold more connections than the process has descriptors.
    let held: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect(server.addr).ok())
        .collect();
    server.wait_log("accept failed");
    drop(held);
    std::thread::sleep(Duration::from_millis(500));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut r) = agent().get(&server.url("/healthz")).call() {
            if r.status().as_u16() == 200 && r.body_mut().read_to_string().is_ok() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "server did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server.child.try_wait().unwrap().is_none(), "server exited");
}

/// The file watcher reloads on its own: an edited catalogue, then a ConfigMap-style update
/// (the file is a symlink into a `..data` directory that is swapped), then a broken file that
/// is refused. Nothing changed means no reload.
#[test]
fn file_watcher_reloads_on_change() {
    let dir = tempdir("watch");
    // ConfigMap layout: catalogue.toml -> ..data/catalogue.toml, ..data -> ..v1
    std::fs::create_dir_all(dir.join("..v1")).unwrap();
    std::fs::write(dir.join("..v1/catalogue.toml"), CAT_A).unwrap();
    std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/catalogue.toml", dir.join("catalogue.toml")).unwrap();
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(
        &cfg,
        "[[catalogue.sources]]\nkind = \"native\"\npath = \"catalogue.toml\"\n[server]\nwatch_interval_secs = 1\n",
    )
    .unwrap();
    let server = Server::start(&cfg);
    let alpha = server.url("/decide?host=www.alpha.example");
    let beta = server.url("/decide?host=www.beta.example");
    assert_eq!(get(&alpha).status, 200);

    // Quiet files: no reload after several intervals.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(get(&alpha).json()["catalogue"]["generation"], 1);

    // A ConfigMap update: new directory, symlink swapped by rename.
    std::fs::create_dir_all(dir.join("..v2")).unwrap();
    std::fs::write(dir.join("..v2/catalogue.toml"), CAT_B).unwrap();
    std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    let line = server.wait_log("catalogue reloaded");
    assert!(line.contains("FileChanged"), "{line}");
    assert_eq!(get(&beta).status, 200);
    assert_eq!(get(&alpha).status, 403);

    // A broken file written in place is refused; the previous catalogue keeps serving.
    std::fs::write(dir.join("..v2/catalogue.toml"), CAT_BROKEN).unwrap();
    server.wait_log("reload refused");
    let r = get(&beta);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["catalogue"]["generation"], 2);

    // Fixing it reloads again.
    std::fs::write(dir.join("..v2/catalogue.toml"), CAT_A).unwrap();
    server.wait_log("catalogue reloaded");
    assert_eq!(get(&alpha).status, 200);
    assert_eq!(get(&alpha).json()["catalogue"]["generation"], 3);
}

/// Status line and JSON body of a raw HTTP/1.1 exchange (one request, connection closed).
fn raw_json(addr: SocketAddr, request: &str) -> (String, Value) {
    let text = raw(addr, request.as_bytes());
    let status = text.lines().next().unwrap_or("").to_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        status,
        serde_json::from_str(body.trim()).unwrap_or(Value::Null),
    )
}

/// `/decide` as an authorization subrequest: nginx `auth_request` (host in X-Original-Host or
/// Host, no query) and Envoy ext_authz over HTTP (original method, `/decide` + original path,
/// original authority, `content-length: 0`, Envoy's own headers; CONNECT for tunnels). Only
/// 200 and 403 come back, with the decision JSON (none on a 200 to CONNECT: HTTP forbids it).
#[test]
fn decide_as_an_authorization_subrequest() {
    let server = Server::start(&repo("config/pacwarden.toml"));
    let a = server.addr;
    let cases: &[(&str, &str, Option<&str>)] = &[
        // nginx auth_request as in docs/nginx-auth-request.conf.
        (
            "GET /decide HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Original-Host: outlook.office365.com\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200",
            Some("outlook.office365.com"),
        ),
        (
            "GET /decide HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Original-Host: www.example.com\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 403",
            Some("www.example.com"),
        ),
        // A proxy that passes the original Host instead.
        (
            "GET /decide HTTP/1.1\r\nHost: login.microsoftonline.com:443\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200",
            Some("login.microsoftonline.com"),
        ),
        // Envoy ext_authz, path_prefix "/decide": the original POST to /upload?x=1.
        (
            "POST /decide/upload?x=1 HTTP/1.1\r\nHost: contoso.sharepoint.com\r\ncontent-length: 0\r\nx-forwarded-proto: https\r\nx-request-id: 6f1c6c2e-2b0e-4c1d-9d0a-1b2c3d4e5f60\r\nx-envoy-expected-rq-timeout-ms: 200\r\nx-envoy-internal: true\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200",
            Some("contoso.sharepoint.com"),
        ),
        (
            "DELETE /decide/ HTTP/1.1\r\nHost: www.example.com\r\ncontent-length: 0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 403",
            Some("www.example.com"),
        ),
        // A tunnel: the CONNECT target is the host checked.
        (
            "CONNECT outlook.office365.com:443 HTTP/1.1\r\nHost: outlook.office365.com:443\r\n\r\n",
            "HTTP/1.1 200",
            Some("outlook.office365.com"),
        ),
        (
            "CONNECT www.example.com:443 HTTP/1.1\r\nHost: www.example.com:443\r\n\r\n",
            "HTTP/1.1 403",
            Some("www.example.com"),
        ),
        // An address literal in brackets with a port.
        (
            "GET /decide/ HTTP/1.1\r\nHost: [2603:1006::1]:443\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200",
            Some("2603:1006::1"),
        ),
        // Garbage is refused with 403, never 400/500 (nginx would turn those into 500s).
        (
            "GET /decide HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Original-Host: a..b\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 403",
            None,
        ),
    ];
    for (request, status, host) in cases {
        let (line, json) = raw_json(a, request);
        assert!(line.starts_with(status), "{request:?}: {line}");
        // A 2xx answer to CONNECT carries no body (it would open the tunnel).
        if request.starts_with("CONNECT") && status.ends_with("200") {
            continue;
        }
        match host {
            Some(h) => assert_eq!(json["host"], *h, "{request:?}"),
            None => assert!(json["error"].as_str().is_some(), "{request:?}: {json}"),
        }
    }
    // An ordinary query still wins over the headers, with its usual statuses.
    let (line, json) = raw_json(
        a,
        "GET /decide?host=www.example.com HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Original-Host: outlook.office365.com\r\nConnection: close\r\n\r\n",
    );
    assert!(line.starts_with("HTTP/1.1 403"), "{line}");
    assert_eq!(json["host"], "www.example.com");
    let (line, _) = raw_json(
        a,
        "POST /decide?host=www.example.com HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(line.starts_with("HTTP/1.1 405"), "{line}");
}

/// `/decide` and the authorization paths read hosts as clients do (the URL Standard): numeric
/// spellings are addresses, Unicode dots separate labels, what the Standard refuses is 400
/// (403 on authorization paths); `route` is what the PAC does with the exact spelling.
#[test]
fn decide_reads_hosts_as_clients_do() {
    let server = Server::start(&repo("config/pacwarden.toml"));
    let ask = |q: &str| get(&server.url(&format!("/decide?{q}")));
    for q in [
        "host=0x34.0x60.1.1",
        "host=52.96.257",
        "host=878706945",
        "host=064.0140.01.01",
        "ip=0x34600101",
        "host=%5B::ffff:52.96.1.1%5D",
    ] {
        let r = ask(q);
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        let d = r.json();
        assert_eq!(d["host"], "52.96.1.1", "{q}");
        assert_eq!(d["route"], "direct", "{q}");
    }
    let r = ask("host=877658369");
    assert_eq!(r.status, 403);
    assert_eq!(
        (r.json()["host"].as_str(), r.json()["route"].as_str()),
        (Some("52.80.1.1"), Some("proxy"))
    );
    let r = ask("host=052.96.1.1");
    assert_eq!(
        (r.status, r.json()["host"].as_str()),
        (403, Some("42.96.1.1"))
    );
    // Full-width dots (percent-encoded UTF-8) and a trailing ideographic full stop.
    for (q, name) in [
        (
            "host=login%EF%BC%8Emicrosoftonline%EF%BC%8Ecom",
            "login.microsoftonline.com",
        ),
        (
            "host=outlook.office365.com%E3%80%82",
            "outlook.office365.com",
        ),
        (
            "host=login%252emicrosoftonline.com",
            "login.microsoftonline.com",
        ),
    ] {
        let r = ask(q);
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        assert_eq!(r.json()["host"], name, "{q}");
        assert_eq!(r.json()["route"], "proxy", "{q}");
        assert_eq!(r.json()["decision"], "allow", "{q}");
    }
    for q in [
        "host=xn--login.microsoftonline.com",
        "host=1.2.3.09",
        "host=a.b.c.0x1",
        "host=fe80::1%25eth0",
        "host=a%E2%80%8D.example",
        "ip=4294967296",
    ] {
        let r = ask(q);
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        let why = r.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(why.starts_with("bad "), "{q}: {why}");
        assert!(!why.contains('\n'));
    }
    // Authorization subrequests read the same way, and refuse with 403.
    for (request, status) in [
        ("GET /decide HTTP/1.1\r\nHost: x\r\nX-Original-Host: 0x34.0x60.1.1\r\nConnection: close\r\n\r\n", "HTTP/1.1 200"),
        ("GET /decide HTTP/1.1\r\nHost: x\r\nX-Original-Host: 877658369\r\nConnection: close\r\n\r\n", "HTTP/1.1 403"),
        ("GET /decide HTTP/1.1\r\nHost: x\r\nX-Original-Host: xn--login.microsoftonline.com\r\nConnection: close\r\n\r\n", "HTTP/1.1 403"),
        ("GET /decide/ HTTP/1.1\r\nHost: 878706945:443\r\nConnection: close\r\n\r\n", "HTTP/1.1 200"),
        ("CONNECT 877658369:443 HTTP/1.1\r\nHost: 877658369:443\r\n\r\n", "HTTP/1.1 403"),
    ] {
        let (line, _) = raw_json(server.addr, request);
        assert!(line.starts_with(status), "{request:?}: {line}");
    }
}

/// Ports on every authorization path: a CONNECT target's, a port in `X-Original-Host` or
/// `Host`, Envoy's authority (or its scheme's default) are decided exactly as `port=` is; a
/// port that is no port is refused; Envoy's check requests are decided by the authority
/// Envoy sends, whatever `X-Original-Host` a client put in.
#[test]
fn ports_are_decided_on_every_authorization_path() {
    let server = Server::start(&repo("config/pacwarden.toml"));
    let a = server.addr;
    let cases: &[(&str, &str, Option<&str>)] = &[
        // CONNECT: the target's port.
        ("CONNECT outlook.office365.com:443 HTTP/1.1\r\nHost: outlook.office365.com:443\r\n\r\n", "200", None),
        ("CONNECT outlook.office365.com:22 HTTP/1.1\r\nHost: outlook.office365.com:22\r\n\r\n", "403", Some("port-not-allowed")),
        ("CONNECT outlook.office365.com:6379 HTTP/1.1\r\nHost: outlook.office365.com:6379\r\n\r\n", "403", Some("port-not-allowed")),
        ("CONNECT outlook.office365.com:0 HTTP/1.1\r\nHost: outlook.office365.com:0\r\n\r\n", "403", None),
        ("CONNECT outlook.office365.com:99999 HTTP/1.1\r\nHost: outlook.office365.com:99999\r\n\r\n", "403", None),
        ("CONNECT time.windows.com:443 HTTP/1.1\r\nHost: time.windows.com:443\r\n\r\n", "403", Some("port-not-allowed")),
        ("CONNECT 52.112.0.1:22 HTTP/1.1\r\nHost: 52.112.0.1:22\r\n\r\n", "403", Some("port-not-allowed")),
        ("CONNECT 52.112.0.1:443 HTTP/1.1\r\nHost: 52.112.0.1:443\r\n\r\n", "200", None),
        // nginx: the port in X-Original-Host or Host.
        ("GET /decide HTTP/1.1\r\nHost: x\r\nX-Original-Host: outlook.office365.com:22\r\nConnection: close\r\n\r\n", "403", Some("port-not-allowed")),
        ("GET /decide HTTP/1.1\r\nHost: x\r\nX-Original-Host: outlook.office365.com:443\r\nConnection: close\r\n\r\n", "200", None),
        ("GET /decide HTTP/1.1\r\nHost: x\r\nX-Original-Host: outlook.office365.com:http\r\nConnection: close\r\n\r\n", "403", None),
        ("GET /decide HTTP/1.1\r\nHost: outlook.office365.com:22\r\nConnection: close\r\n\r\n", "403", Some("port-not-allowed")),
        // Envoy: the authority's port, or the scheme's default; X-Original-Host is not
        // Envoy's and is not believed there.
        ("GET /decide/x HTTP/1.1\r\nHost: outlook.office365.com:22\r\nConnection: close\r\n\r\n", "403", Some("port-not-allowed")),
        ("GET /decide/x HTTP/1.1\r\nHost: www.example.com\r\nX-Original-Host: outlook.office365.com\r\nConnection: close\r\n\r\n", "403", Some("not-in-catalogue")),
        ("GET /decide/x HTTP/1.1\r\nHost: time.windows.com\r\nx-forwarded-proto: http\r\nConnection: close\r\n\r\n", "403", Some("port-not-allowed")),
        ("GET /decide/x HTTP/1.1\r\nHost: x.y.digicert.com\r\nx-forwarded-proto: http\r\nConnection: close\r\n\r\n", "200", None),
        ("GET /decide/x HTTP/1.1\r\nHost: x.y.digicert.com\r\nx-forwarded-proto: https\r\nConnection: close\r\n\r\n", "403", Some("port-not-allowed")),
        // Absolute form: the request target's authority, not Host.
        ("GET http://outlook.office365.com:22/decide/x HTTP/1.1\r\nHost: outlook.office365.com:443\r\nConnection: close\r\n\r\n", "403", Some("port-not-allowed")),
    ];
    for (request, status, reason) in cases {
        let (line, json) = raw_json(a, request);
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status}")),
            "{request:?}: {line}"
        );
        if let Some(r) = reason {
            assert_eq!(json["reason"], *r, "{request:?}: {json}");
        }
    }
    // A port-not-allowed answer names the rule and the ports it is listed on.
    let (_, json) = raw_json(
        a,
        "GET /decide HTTP/1.1\r\nHost: x\r\nX-Original-Host: 52.112.0.1:22\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(json["rule"], "52.112.0.0/14");
    assert_eq!(json["allowed_ports"]["tcp"], "80,443");
    // The same questions as /decide parameters; proto= without port= is refused.
    let r = get(&server.url("/decide?host=outlook.office365.com&port=22"));
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (403, Some("port-not-allowed"))
    );
    for q in [
        "host=outlook.office365.com&proto=udp",
        "host=outlook.office365.com&port=0",
        "host=outlook.office365.com&port=65536",
    ] {
        assert_eq!(get(&server.url(&format!("/decide?{q}"))).status, 400, "{q}");
    }
    // Envoy's HTTP/2 check requests: the authority is `:authority`.
    for (authority, want) in [
        ("outlook.office365.com:443", "200"),
        ("outlook.office365.com:22", "403"),
    ] {
        let out = Command::new("curl")
            .args([
                "-s",
                "--http2-prior-knowledge",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
                "-H",
            ])
            .arg(format!("Host: {authority}"))
            .arg(server.url("/decide/some/path"))
            .output()
            .expect("curl runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("2 {want}"),
            "{authority}"
        );
    }
}

/// With `server.trusted_proxies` set, X-Original-Host is believed only from those proxies.
#[test]
fn original_host_only_from_trusted_proxies() {
    let dir = tempdir("trusted-original");
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(&cfg, "[server]\ntrusted_proxies = [\"192.0.2.10/32\"]\n").unwrap();
    let server = Server::start(&cfg);
    // From 127.0.0.1, not a trusted proxy: the header is ignored and Host decides.
    let (line, json) = raw_json(
        server.addr,
        "GET /decide HTTP/1.1\r\nHost: www.example.com\r\nX-Original-Host: outlook.office365.com:443\r\nConnection: close\r\n\r\n",
    );
    assert!(line.starts_with("HTTP/1.1 403"), "{line}");
    assert_eq!(json["host"], "www.example.com");
}

/// Reloads never fail open: an emptied catalogue file, an emptied or cut-short configuration
/// file, and a source that loses more than `max_shrink` of its entries are refused on
/// SIGHUP, and the organisation's deny rule keeps refusing.
#[test]
fn reloads_never_fail_open() {
    let dir = tempdir("never-open");
    let org = dir.join("org.toml");
    let mut org_text = String::from(
        "[meta]\nname = \"corp\"\nversion = \"1\"\n\
         [[sets]]\nid = \"no-onedrive\"\naction = \"deny\"\nhosts = [\"onedrive.live.com\"]\n\
         [[sets]]\nid = \"saas\"\ncategory = \"Allow\"\nhosts = [",
    );
    let names: Vec<String> = (0..10).map(|i| format!("\"s{i}.saas.example\"")).collect();
    org_text.push_str(&names.join(", "));
    org_text.push_str("]\n");
    std::fs::write(&org, &org_text).unwrap();
    let cfg = dir.join("pacwarden.toml");
    let cfg_text = "[[catalogue.sources]]\nkind = \"builtin\"\nname = \"worldwide\"\n\
                    [[catalogue.sources]]\nkind = \"native\"\npath = \"org.toml\"\n";
    std::fs::write(&cfg, cfg_text).unwrap();
    let server = Server::start(&cfg);
    let denied = server.url("/decide?host=onedrive.live.com");
    assert_eq!(get(&denied).status, 403);
    assert_eq!(get(&denied).json()["reason"], "denied-by-rule");

    let refused = |what: &str| {
        server.signal("-HUP");
        let line = server.wait_log("reload refused");
        assert!(line.contains("generation=1"), "{what}: {line}");
        let r = get(&denied);
        assert_eq!(r.status, 403, "{what}: the deny rule still refuses");
        assert_eq!(r.json()["catalogue"]["generation"], 1, "{what}");
    };
    // `: > org.toml`, then a file of whitespace only.
    std::fs::write(&org, "").unwrap();
    refused("emptied catalogue");
    std::fs::write(&org, "  \n\n").unwrap();
    refused("whitespace catalogue");
    // A catalogue that parses but lists nothing.
    std::fs::write(&org, "[meta]\nname = \"corp\"\nversion = \"2\"\n").unwrap();
    refused("catalogue without entries");
    // 11 entries down to 2: more than half lost.
    std::fs::write(
        &org,
        "[meta]\nname = \"corp\"\nversion = \"3\"\n[[sets]]\nid = \"no-onedrive\"\naction = \"deny\"\nhosts = [\"onedrive.live.com\", \"x.example\"]\n",
    )
    .unwrap();
    refused("shrunk catalogue");
    // An allow rule over a public suffix.
    std::fs::write(&org, org_text.replace("s0.saas.example", "*.github.io")).unwrap();
    refused("over-broad rule");
    // The configuration emptied, then cut short in the middle of a line.
    std::fs::write(&org, &org_text).unwrap();
    std::fs::write(&cfg, "").unwrap();
    refused("emptied configuration");
    std::fs::write(&cfg, "# nothing but a comment\n").unwrap();
    refused("configuration of comments");
    // Cut at the end of a line that parses: only the built-in source would be left.
    let (first_source, _) = cfg_text.split_once("\n[[catalogue").unwrap();
    std::fs::write(&cfg, first_source).unwrap();
    refused("cut configuration");
    // With max_shrink raised, the same shrink is taken.
    std::fs::write(&cfg, format!("{cfg_text}max_shrink = 0.9\n")).unwrap();
    std::fs::write(
        &org,
        "[meta]\nname = \"corp\"\nversion = \"4\"\n[[sets]]\nid = \"no-onedrive\"\naction = \"deny\"\nhosts = [\"onedrive.live.com\", \"x.example\"]\n",
    )
    .unwrap();
    server.signal("-HUP");
    server.wait_log("catalogue reloaded");
    assert_eq!(get(&denied).json()["catalogue"]["generation"], 2);
    let c = get(&server.url("/catalogue")).json();
    assert_eq!(c["reloads_failed"], 8);
}

/// A PAC's ETag is a hash of its bytes: a reload that changes nothing keeps it, so browsers
/// need not fetch the PAC again; a change makes a new one.
#[test]
fn pac_etag_follows_content_not_generation() {
    let (cfg, cat) = config_with_catalogue("etag", CAT_A, "");
    let server = Server::start(&cfg);
    let etag = |s: &Server| {
        get(&s.url("/proxy.pac"))
            .header("etag")
            .unwrap_or("")
            .to_owned()
    };
    let first = etag(&server);
    server.signal("-HUP");
    server.wait_log("catalogue reloaded");
    assert_eq!(get(&server.url("/catalogue")).json()["generation"], 2);
    assert_eq!(etag(&server), first, "nothing changed");
    std::fs::write(&cat, CAT_B).unwrap();
    server.signal("-HUP");
    server.wait_log("catalogue reloaded");
    assert_ne!(etag(&server), first, "the catalogue changed");
}

/// `GET /export/FORMAT` renders from the served generation.
#[test]
fn exports_over_http() {
    let server = Server::start(&repo("config/pacwarden.toml"));
    let r = get(&server.url("/export/csv"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(r.body.starts_with("kind,pattern,decision,route,"));
    assert!(r
        .body
        .contains("\nhost,outlook.office365.com,allow,direct,Optimize,"));
    let r = get(&server.url("/export/squid?profile=type1"));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("profile type1"));
    assert_eq!(r.header("x-pacwarden-unexpressed"), Some("3"));
    assert_eq!(get(&server.url("/export/yaml")).status, 404);
    assert_eq!(get(&server.url("/export/squid?profile=nope")).status, 404);
    assert_eq!(get(&server.url("/export/squid?x=1")).status, 400);
}

/// Exports and `/catalogue` are rendered once per generation: the same bytes until a reload,
/// the new generation's after it; `/catalogue`'s counters still move on a failed reload.
#[test]
fn exports_and_catalogue_follow_the_generation() {
    let (cfg, cat) = config_with_catalogue("rendered", CAT_A, "");
    let server = Server::start(&cfg);
    let first = get(&server.url("/export/json")).body;
    assert_eq!(get(&server.url("/export/json")).body, first);
    assert!(first.contains("alpha.example"));
    std::fs::write(&cat, CAT_B).unwrap();
    server.signal("-HUP");
    server.wait_log("catalogue reloaded");
    let second = get(&server.url("/export/json")).body;
    assert!(second.contains("beta.example") && !second.contains("alpha.example"));
    let c = get(&server.url("/catalogue")).json();
    assert_eq!(c["generation"], 2);
    assert_eq!(c["sets"][0]["hosts"][0]["pattern"], "*.beta.example");
    // Source files as the configuration names them, relative to it.
    assert_eq!(c["sources"][0]["origin"], "catalogue.toml");
    std::fs::write(&cat, CAT_BROKEN).unwrap();
    server.signal("-HUP");
    server.wait_log("reload refused");
    let c = get(&server.url("/catalogue")).json();
    assert_eq!(
        (c["generation"].as_u64(), c["reloads_failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(c["sets"][0]["hosts"][0]["pattern"], "*.beta.example");
}

/// `server.max_header_bytes` holds for every request of a connection, not only the first.
#[test]
fn head_size_limit_on_every_request() {
    let server = Server::start(&repo("config/pacwarden.toml"));
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut reader)
        .unwrap()
        .starts_with("HTTP/1.1 200"));
    // The default limit is 16 KiB: a second head of 20 KiB, sent in one write.
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    s.write_all(big.as_bytes()).unwrap();
    let answer = read_response(&mut reader).unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.80}");
    // And the connection is closed after it.
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(rest.is_empty());
    // A head just under the limit is still served on a second request.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    read_response(&mut reader).unwrap();
    let fits = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(15 * 1024)
    );
    s.write_all(fits.as_bytes()).unwrap();
    assert!(read_response(&mut reader)
        .unwrap()
        .starts_with("HTTP/1.1 200"));
    // Over HTTP/2 too.
    let out = Command::new("curl")
        .args([
            "-s",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
        ])
        .arg(format!("X-Pad: {}", "a".repeat(20 * 1024)))
        .arg(server.url("/healthz"))
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&out.stdout), "200");
}

/// One client address cannot hold more than `server.max_connections_per_client`
/// connections; others are still served.
#[test]
fn connections_per_client_are_capped() {
    let dir = tempdir("per-client");
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(&cfg, "[server]\nmax_connections_per_client = 3\n").unwrap();
    let server = Server::start(&cfg);
    let held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // Let the server accept them.
    std::thread::sleep(Duration::from_millis(300));
    let mut fourth = TcpStream::connect(server.addr).unwrap();
    fourth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = fourth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut out = Vec::new();
    let _ = fourth.read_to_end(&mut out);
    assert!(
        out.is_empty(),
        "the fourth connection was served: {:?}",
        String::from_utf8_lossy(&out)
    );
    // Another client address is served meanwhile.
    let socket = socket_from("127.0.0.2:0");
    let mut s = socket.connect(server.addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // Once one of the three closes, the client gets a connection again.
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert!(raw(
        server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .starts_with("HTTP/1.1 200"));
}

/// A TCP socket bound to a local address of the caller's choosing.
struct BoundSocket(socket2::Socket);

fn socket_from(local: &str) -> BoundSocket {
    let addr: SocketAddr = local.parse().unwrap();
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&addr.into()).unwrap();
    BoundSocket(s)
}

impl BoundSocket {
    fn connect(self, to: SocketAddr) -> std::io::Result<TcpStream> {
        self.0.connect(&to.into())?;
        Ok(self.0.into())
    }
}
