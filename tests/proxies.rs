//! Real proxies asking pacwarden: nginx with `auth_request` (Debian's nginx, started by the
//! test on loopback with its own prefix). Needs `nginx` (scripts/test.sh installs it).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{recorder, Server};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pacwarden-proxies-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn find(binary: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(binary);
        if p.exists() {
            return p;
        }
    }
    panic!("{binary} is not installed: run scripts/test.sh");
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One request to `addr` with the given Host; returns (status, body).
fn get(addr: SocketAddr, host: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /app/probe-{host} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned(),
    )
}

#[test]
fn nginx_auth_request_lets_catalogue_hosts_through() {
    let server = Server::start(&repo("config/pacwarden.toml"));
    let (origin, seen) = recorder("127.0.0.1:0", "ORIGIN");
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let dir = tempdir("nginx");
    // The documented example, pointed at this test's addresses.
    let site = std::fs::read_to_string(repo("docs/nginx-auth-request.conf"))
        .unwrap()
        .replace("127.0.0.1:8081", &listen.to_string())
        .replace("127.0.0.1:8082", &origin.to_string())
        .replace("127.0.0.1:8080", &server.addr.to_string());
    let d = dir.display();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n{site}\n}}\n"
        ),
    )
    .unwrap();
    let nginx = Nginx(
        Command::new(find("nginx"))
            .args(["-e", &format!("{d}/error.log"), "-p"])
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(listen).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let cases = [
        ("outlook.office365.com", 200),     // Optimize
        ("login.microsoftonline.com", 200), // Allow
        ("contoso.sharepoint.com", 200),    // wildcard
        ("13.107.6.152", 200),              // address in a catalogue prefix
        ("www.example.com", 403),           // not in the catalogue
        ("198.51.100.7", 403),              // address in no prefix
    ];
    for (host, want) in cases {
        let (status, body) = get(listen, host);
        assert_eq!(status, want, "{host}: {body}");
        let reached = seen.lock().unwrap().contains_key(&format!("probe-{host}"));
        assert_eq!(reached, want == 200, "{host}: origin reached = {reached}");
        if want == 200 {
            assert!(body.contains("ORIGIN"), "{host}: {body}");
        }
    }
    drop(nginx);
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    assert!(
        !log.contains("auth request unexpected status"),
        "pacwarden answered something other than 2xx/403: {log}"
    );
}
