//! `pacwarden fetch` against a real HTTPS server: a local rustls server with a CA and
//! certificate generated here (rcgen), trusted through `upstream.ca_file`, serving the web
//! service's API from scripted answers built on the trimmed real snapshot in tests/data.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

mod common;
use common::Server;

/// How the scripted server answers one request.
#[derive(Clone)]
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    /// Declare the full length but send only half, then close.
    truncate: bool,
    /// Send the body a byte at a time with this pause.
    drip: Option<Duration>,
}

fn json(body: impl Into<Vec<u8>>) -> Reply {
    Reply {
        status: 200,
        content_type: "application/json; charset=utf-8",
        body: body.into(),
        truncate: false,
        drip: None,
    }
}

type Script = Arc<Mutex<Box<dyn FnMut(&str) -> Reply + Send>>>;

struct Upstream {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    script: Script,
}

impl Upstream {
    /// Starts the HTTPS server; writes its CA to `dir/ca.pem`.
    fn start(dir: &Path) -> Upstream {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "pacwarden upstream test CA");
        let ca =
            rcgen::CertifiedIssuer::self_signed(p, rcgen::KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let script: Script = Arc::new(Mutex::new(Box::new(|_| json("{}"))));
        let (log, sc) = (requests.clone(), script.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (config, log, sc) = (config.clone(), log.clone(), sc.clone());
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    let mut reader = BufReader::new(&mut tls);
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        match reader.read_line(&mut h) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if h == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    drop(reader);
                    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    log.lock().unwrap().push(target.clone());
                    let reply = (sc.lock().unwrap())(&target);
                    let head = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        reply.status,
                        reply.content_type,
                        reply.body.len()
                    );
                    let _ = tls.write_all(head.as_bytes());
                    let body = if reply.truncate {
                        &reply.body[..reply.body.len() / 2]
                    } else {
                        &reply.body[..]
                    };
                    match reply.drip {
                        None => {
                            let _ = tls.write_all(body);
                        }
                        Some(pause) => {
                            for b in body {
                                if tls.write_all(&[*b]).and_then(|()| tls.flush()).is_err() {
                                    return;
                                }
                                std::thread::sleep(pause);
                            }
                        }
                    }
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        Upstream {
            addr,
            requests,
            script,
        }
    }

    fn answer(&self, f: impl FnMut(&str) -> Reply + Send + 'static) {
        *self.script.lock().unwrap() = Box::new(f);
        self.requests.lock().unwrap().clear();
    }

    /// The requests since the last call (or the last script change).
    fn requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pacwarden-upstream-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn pacwarden(args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pacwarden"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PACWARDEN_") {
            c.env_remove(k);
        }
    }
    c.args(args).output().unwrap()
}

/// The trimmed real Worldwide snapshot, and a next version of it with one more set.
fn snapshots() -> (Vec<u8>, Vec<u8>) {
    let v1 = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ms365/worldwide-trimmed.json"),
    )
    .unwrap();
    let mut sets: Vec<Value> = serde_json::from_slice(&v1).unwrap();
    sets.push(serde_json::json!({
        "id": 9001, "serviceArea": "Common", "serviceAreaDisplayName": "Microsoft 365 Common",
        "urls": ["*.newly-added.example"], "tcpPorts": "443", "category": "Allow",
        "expressRoute": false, "required": true
    }));
    (v1, serde_json::to_vec(&sets).unwrap())
}

fn config(dir: &Path, up: &Upstream, extra: &str) -> PathBuf {
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(
        &cfg,
        format!(
            "[upstream]\nbase_url = \"https://localhost:{}\"\ninstance = \"Worldwide\"\ncache_dir = \"cache\"\nca_file = \"ca.pem\"\ntimeout = \"3s\"\n{extra}",
            up.addr.port()
        ),
    )
    .unwrap();
    cfg
}

fn decide(cfg: &Path, host: &str) -> Value {
    let out = pacwarden(&["decide", "--config", cfg.to_str().unwrap(), host]);
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn id_of(request: &str) -> String {
    request
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("clientrequestid="))
        .unwrap_or("")
        .to_owned()
}

#[test]
fn fetch_follows_versions_and_keeps_the_last_good_catalogue() {
    let dir = tempdir("fetch");
    let up = Upstream::start(&dir);
    let cfg = config(&dir, &up, "");
    let c = cfg.to_str().unwrap();
    let (v1, v2) = snapshots();

    // Before any sync: the embedded snapshot.
    let d = decide(&cfg, "outlook.office365.com");
    assert_eq!(d["source"], "ms365:worldwide");
    assert_ne!(d["catalogue"]["version"], Value::Null);
    assert_eq!(decide(&cfg, "x.newly-added.example")["decision"], "deny");

    // First sync: version, then endpoints; no previous version, so no changes call.
    let body = v1.clone();
    up.answer(move |t| {
        if t.starts_with("/version/Worldwide") {
            json(r#"{"instance":"Worldwide","latest":"2025110100"}"#)
        } else if t.starts_with("/endpoints/Worldwide") {
            json(body.clone())
        } else {
            Reply {
                status: 404,
                ..json("{}")
            }
        }
    });
    let out = pacwarden(&["fetch", "--config", c]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("updated to version 2025110100"));
    let reqs = up.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let id = id_of(&reqs[0]);
    assert_eq!(id.len(), 36, "{reqs:?}");
    assert!(reqs.iter().all(|r| id_of(r) == id), "{reqs:?}");

    // Same version: nothing downloaded.
    let out = pacwarden(&["fetch", "--config", c]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("is current"));
    let reqs = up.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(id_of(&reqs[0]), id, "the id is kept across runs");

    // A new version: endpoints and changes since the previous one; decisions follow.
    let body = v2.clone();
    up.answer(move |t| {
        if t.starts_with("/version/") {
            json(r#"{"instance":"Worldwide","latest":"2025120100"}"#)
        } else if t.starts_with("/endpoints/") {
            json(body.clone())
        } else if t.starts_with("/changes/Worldwide/2025110100") {
            json(r#"[{"id":1,"endpointSetId":9001,"disposition":"Add","version":"2025120100","add":{"urls":["*.newly-added.example"]}}]"#)
        } else {
            Reply { status: 404, ..json("{}") }
        }
    });
    let out = pacwarden(&["fetch", "--config", c]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("updated to version 2025120100 (was 2025110100)"),
        "{stdout}"
    );
    assert!(stdout.contains("sets +1 -0, hosts +1 -0"), "{stdout}");
    assert_eq!(up.requests().len(), 3);
    let d = decide(&cfg, "x.newly-added.example");
    assert_eq!(d["decision"], "allow");
    assert_eq!(
        d["catalogue"]["version"].as_str().map(|v| v.len()),
        Some(16)
    );

    // Every kind of bad answer is refused and the cached catalogue stays.
    let big = {
        let mut b = b"[".to_vec();
        b.resize(50 << 20, b' ');
        b.push(b']');
        b
    };
    let cases: Vec<(&str, Reply)> = vec![
        ("bad_json", json("[{\"id\": 1, \"urls\": ")),
        (
            "transport",
            Reply {
                truncate: true,
                ..json(v1.clone())
            },
        ),
        (
            "content_type",
            Reply {
                content_type: "text/html",
                ..json(v1.clone())
            },
        ),
        ("too_large", json(big)),
        (
            "transport",
            Reply {
                drip: Some(Duration::from_millis(200)),
                ..json(v1.clone())
            },
        ),
        (
            "rate_limited",
            Reply {
                status: 429,
                ..json("{}")
            },
        ),
        (
            "status",
            Reply {
                status: 503,
                ..json("{}")
            },
        ),
        (
            "invalid",
            json(
                r#"[{"id": 1, "serviceArea": "Common", "category": "Sometimes", "urls": ["a..b"]}]"#,
            ),
        ),
    ];
    for (kind, reply) in cases {
        up.answer(move |t| {
            if t.starts_with("/version/") {
                json(r#"{"instance":"Worldwide","latest":"2026010100"}"#)
            } else {
                reply.clone()
            }
        });
        let out = pacwarden(&["fetch", "--config", c]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{kind}: {stderr}");
        assert!(
            stderr.contains(&format!("sync failed ({kind})")),
            "{kind}: {stderr}"
        );
        assert_eq!(
            decide(&cfg, "x.newly-added.example")["decision"],
            "allow",
            "{kind}"
        );
        let pointer: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("cache/Worldwide.current.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(pointer["version"], "2025120100", "{kind}");
    }
    // A failing /version is a failure too, and nothing else is asked.
    up.answer(|_| Reply {
        status: 500,
        ..json("{}")
    });
    let out = pacwarden(&["fetch", "--config", c]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(up.requests().len(), 1);
}

/// Without the CA in `ca_file`, the local server's certificate is not trusted.
#[test]
fn fetch_trusts_only_known_roots() {
    let dir = tempdir("untrusted");
    let up = Upstream::start(&dir);
    std::fs::write(dir.join("ca.pem"), "").unwrap();
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(
        &cfg,
        format!(
            "[upstream]\nbase_url = \"https://localhost:{}\"\ncache_dir = \"cache\"\ntimeout = \"3s\"\n",
            up.addr.port()
        ),
    )
    .unwrap();
    up.answer(|_| json(r#"{"instance":"Worldwide","latest":"2025110100"}"#));
    let out = pacwarden(&["fetch", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sync failed (transport)"));
    assert!(
        up.requests().is_empty(),
        "no request got through an untrusted handshake"
    );
}

fn get(server: &Server, path: &str) -> (u16, String) {
    let mut resp = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(&server.url(path))
        .call()
        .expect("server answers");
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// `serve` with `[upstream]`: syncs at start and every interval, reloads on a new version,
/// keeps serving through failures, backs off on 429 without hammering, and after a restart
/// with the web service unreachable serves the cached catalogue.
#[test]
fn serve_syncs_reloads_and_survives() {
    let dir = tempdir("serve");
    let up = Upstream::start(&dir);
    let cfg = config(&dir, &up, "interval = \"1s\"\n");
    let (v1, v2) = snapshots();
    let b1 = v1.clone();
    up.answer(move |t| {
        if t.starts_with("/version/") {
            json(r#"{"instance":"Worldwide","latest":"2025110100"}"#)
        } else {
            json(b1.clone())
        }
    });
    let server = Server::start(&cfg);
    let line = server.wait_log("catalogue reloaded");
    assert!(line.contains("Upstream"), "{line}");
    assert_eq!(get(&server, "/decide?host=x.newly-added.example").0, 403);
    assert_eq!(get(&server, "/catalogue/changes").0, 404);

    // A new version is picked up at the next check.
    let b2 = v2.clone();
    up.answer(move |t| {
        if t.starts_with("/version/") {
            json(r#"{"instance":"Worldwide","latest":"2025120100"}"#)
        } else if t.starts_with("/changes/") {
            json(r#"[{"id":7,"endpointSetId":9001,"disposition":"Add","version":"2025120100","add":{"urls":["*.newly-added.example"]}}]"#)
        } else {
            json(b2.clone())
        }
    });
    server.wait_log("upstream catalogue updated");
    server.wait_log("catalogue reloaded");
    assert_eq!(get(&server, "/decide?host=x.newly-added.example").0, 200);
    let (status, changes) = get(&server, "/catalogue/changes");
    assert_eq!(status, 200);
    let changes: Value = serde_json::from_str(&changes).unwrap();
    assert_eq!(changes["hosts_added"][0], "*.newly-added.example");
    assert_eq!(changes["from_version"], "2025110100");
    let (_, metrics) = get(&server, "/metrics");
    assert!(
        metrics.contains("pacwarden_upstream_version_info{version=\"2025120100\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("pacwarden_upstream_last_success_timestamp_seconds "));

    // Garbage for a newer version: refused, counted, the current catalogue keeps serving.
    up.answer(|t| {
        if t.starts_with("/version/") {
            json(r#"{"instance":"Worldwide","latest":"2026010100"}"#)
        } else {
            json("[{\"id\": 1, \"urls\": ")
        }
    });
    let line = server.wait_log("upstream sync failed");
    assert!(line.contains("bad_json"), "{line}");
    assert_eq!(get(&server, "/decide?host=x.newly-added.example").0, 200);
    let (_, metrics) = get(&server, "/metrics");
    assert!(
        metrics.contains("pacwarden_upstream_sync_failures_total{kind=\"bad_json\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("pacwarden_upstream_version_info{version=\"2025120100\"} 1"));

    // 429: one attempt, then at least an hour's pause — no hammering; serving goes on.
    up.answer(|_| Reply {
        status: 429,
        ..json("{}")
    });
    std::thread::sleep(Duration::from_secs(5));
    let reqs = up.requests();
    assert!(
        reqs.len() <= 2,
        "{} requests after a 429: {reqs:?}",
        reqs.len()
    );
    assert_eq!(get(&server, "/decide?host=x.newly-added.example").0, 200);
    let (_, metrics) = get(&server, "/metrics");
    assert!(
        metrics.contains("pacwarden_upstream_sync_failures_total{kind=\"rate_limited\"} 1"),
        "{metrics}"
    );

    // Restart with the web service unreachable: the cached catalogue is served.
    let id = std::fs::read_to_string(dir.join("cache/client-request-id")).unwrap();
    drop(server);
    let offline = dir.join("offline.toml");
    std::fs::write(
        &offline,
        "[upstream]\nbase_url = \"https://127.0.0.1:9\"\ncache_dir = \"cache\"\nca_file = \"ca.pem\"\ninterval = \"1s\"\ntimeout = \"2s\"\n",
    )
    .unwrap();
    let server = Server::start(&offline);
    assert_eq!(get(&server, "/decide?host=x.newly-added.example").0, 200);
    server.wait_log("upstream sync failed");
    assert_eq!(get(&server, "/decide?host=x.newly-added.example").0, 200);
    assert_eq!(
        std::fs::read_to_string(dir.join("cache/client-request-id")).unwrap(),
        id
    );
}

/// SIGKILL at random moments of syncs that write a large catalogue: after every kill the
/// cache holds a complete catalogue — the old one or the new one — and a restart serves it.
#[test]
fn killed_mid_write_leaves_a_whole_catalogue() {
    let dir = tempdir("kill");
    let up = Upstream::start(&dir);
    let cfg = config(&dir, &up, "interval = \"1s\"\n");
    // A large, valid catalogue: the trimmed snapshot plus many sets (a few MB).
    let (v1, _) = snapshots();
    let mut sets: Vec<Value> = serde_json::from_slice(&v1).unwrap();
    for i in 0..20_000 {
        sets.push(serde_json::json!({
            "id": 100_000 + i, "serviceArea": "Common", "urls": [format!("h{i}.bulk-{i}.example")],
            "tcpPorts": "443", "category": "Default", "expressRoute": false, "required": false
        }));
    }
    let big = Arc::new(serde_json::to_vec(&sets).unwrap());
    let version = Arc::new(Mutex::new(0u32));
    let (b, v) = (big.clone(), version.clone());
    up.answer(move |t| {
        if t.starts_with("/version/") {
            // Every check sees a new version, so every sync writes.
            let mut n = v.lock().unwrap();
            *n += 1;
            json(format!(
                r#"{{"instance":"Worldwide","latest":"20251201{:02}"}}"#,
                *n % 100
            ))
        } else if t.starts_with("/changes/") {
            json("[]")
        } else {
            json((*b).clone())
        }
    });
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..6u64 {
        let mut server = Server::start(&cfg);
        // Let it get into a sync (download, validation, write) and kill it somewhere in it.
        std::thread::sleep(Duration::from_millis(300 + round * 170));
        let _ = server.child.kill(); // SIGKILL
        let _ = server.child.wait();
        if let Ok(text) = std::fs::read_to_string(dir.join("cache/Worldwide.current.json")) {
            let pointer: Value = serde_json::from_str(&text).expect("pointer is whole JSON");
            let file = dir.join("cache").join(pointer["file"].as_str().unwrap());
            let data: Vec<Value> =
                serde_json::from_slice(&std::fs::read(&file).expect("named data file exists"))
                    .expect("data file is whole JSON");
            assert_eq!(data.len(), sets.len());
            seen.insert(pointer["version"].as_str().unwrap().to_owned());
        }
        // Whatever happened, a check of the configuration passes and serves the bulk sets
        // once any sync has completed.
        let out = pacwarden(&["check", "--config", cfg.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A last round lets a sync finish (however slow the machine) before the kill, so the
    // cache certainly holds a synced catalogue, then a restart serves it.
    let mut server = Server::start(&cfg);
    server.wait_log("upstream catalogue updated");
    let _ = server.child.kill();
    let _ = server.child.wait();
    let pointer: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("cache/Worldwide.current.json")).unwrap(),
    )
    .expect("pointer is whole JSON");
    seen.insert(pointer["version"].as_str().unwrap().to_owned());
    let d = decide(&cfg, "h7.bulk-7.example");
    assert_eq!(d["decision"], "allow");
    println!("versions seen in the cache after kills: {seen:?}");
}
