//! Shared by the end-to-end tests: the real binary started on an ephemeral port, its log
//! followed line by line.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(config: &Path) -> Server {
        Self::start_with(config, &["--listen", "127.0.0.1:0"], &[])
    }

    pub fn start_with(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pacwarden"));
        cmd.arg("serve")
            .args(args)
            .arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied());
        Self::spawn(cmd)
    }

    /// Spawns a server command, follows its log and waits until it reports its address.
    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("server starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // From here on, Drop kills the child even if startup fails.
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: rx,
        };
        let line = server.wait_log("listening on http://");
        server.addr = addr_after(&line, "http://");
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok);
    }

    /// Waits for a log line containing `needle`.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self
                .log
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?}"),
            }
        }
    }
}

/// The socket address following `scheme` in a log line (text or JSON format).
pub fn addr_after(line: &str, scheme: &str) -> SocketAddr {
    let addr: String = line
        .split(scheme)
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c))
        .collect();
    addr.parse().expect("address in the log line")
}

/// Requests seen by one of the test's servers: the path marker → what arrived.
pub type Seen = Arc<Mutex<BTreeMap<String, String>>>;

/// A tiny HTTP/1.1 server that records each request and answers with `label`. For the proxy
/// the request target is absolute (`http://host:port/path`), for the origin a path.
pub fn recorder(addr: &str, label: &'static str) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind(addr).expect("bind recorder");
    let local = listener.local_addr().expect("local addr");
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || serve_one(stream, label, &log));
        }
    });
    (local, seen)
}

fn serve_one(mut stream: TcpStream, label: &str, log: &Mutex<BTreeMap<String, String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut host = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {
                if let Some(v) = line.strip_prefix("Host:").or(line.strip_prefix("host:")) {
                    host = v.trim().to_owned();
                }
            }
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    // The marker is the last path segment: /probe-N.
    if let Some(i) = target.rfind("/probe-") {
        log.lock().unwrap().insert(
            target[i + 1..].to_owned(),
            format!("{method} {target} host={host}"),
        );
    }
    let body = format!("<html><body><h1>{label}</h1></body></html>");
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// What a browser test's listener saw on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// A plain HTTP request: its target (a path, or an absolute URL at a proxy) and `Host`.
    Http { target: String, host: String },
    /// A TLS ClientHello: its server name (empty when none was sent, as for an address).
    Tls { sni: String },
    /// A proxy's `CONNECT host:port`.
    Connect { target: String },
}

/// Everything one listener saw, with the local address each connection arrived at.
pub type Arrivals = Arc<Mutex<Vec<(SocketAddr, Arrival)>>>;

/// A listener that records plain HTTP requests, TLS ClientHellos (by their server name) and
/// CONNECT requests. HTTP requests get a page saying `label`, CONNECT a 403 (no tunnel is
/// ever opened), TLS connections are closed after the hello: the test needs only to know
/// where a browser went, over either scheme, whatever it upgrades to HTTPS on its own.
pub fn wire_recorder(addr: &str, label: &'static str) -> (SocketAddr, Arrivals) {
    let seen: Arrivals = Arc::default();
    (wire_listen(addr, label, seen.clone()), seen)
}

/// [`wire_recorder`] writing into a log of the caller's, which several listeners may share.
pub fn wire_listen(addr: &str, label: &'static str, log: Arrivals) -> SocketAddr {
    let listener = TcpListener::bind(addr).expect("bind recorder");
    let local = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let at = stream.local_addr();
                if let (Some(arrival), Ok(at)) = (serve_wire(stream, label), at) {
                    log.lock().unwrap().push((at, arrival));
                }
            });
        }
    });
    local
}

fn serve_wire(mut stream: TcpStream, label: &str) -> Option<Arrival> {
    use std::io::Read;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut first = [0u8; 1];
    if stream.peek(&mut first).ok()? == 0 {
        return None;
    }
    if first[0] == 0x16 {
        // A TLS handshake record: its header, then the ClientHello in it.
        let mut header = [0u8; 5];
        stream.read_exact(&mut header).ok()?;
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let mut record = vec![0u8; len];
        stream.read_exact(&mut record).ok()?;
        return Some(Arrival::Tls {
            sni: client_hello_sni(&record).unwrap_or_default(),
        });
    }
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut host = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("host") {
                        host = v.trim().to_owned();
                    }
                }
            }
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next()?, parts.next()?.to_owned());
    if method == "CONNECT" {
        let _ = stream
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return Some(Arrival::Connect { target });
    }
    let body = format!("<html><body><h1>{label}</h1></body></html>");
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    Some(Arrival::Http { target, host })
}

/// The server name of a ClientHello handshake message (RFC 8446 §4.1.2, RFC 6066 §3).
fn client_hello_sni(msg: &[u8]) -> Option<String> {
    let mut r = msg.get(4..)?; // handshake type and length
    let skip = |r: &mut &[u8], n: usize| -> Option<()> {
        *r = r.get(n..)?;
        Some(())
    };
    let take_len = |r: &mut &[u8], width: usize| -> Option<usize> {
        let v = r
            .get(..width)?
            .iter()
            .fold(0usize, |a, &b| a << 8 | usize::from(b));
        *r = r.get(width..)?;
        Some(v)
    };
    skip(&mut r, 2 + 32)?; // version, random
    let n = take_len(&mut r, 1)?;
    skip(&mut r, n)?; // session id
    let n = take_len(&mut r, 2)?;
    skip(&mut r, n)?; // cipher suites
    let n = take_len(&mut r, 1)?;
    skip(&mut r, n)?; // compression methods
    let total = take_len(&mut r, 2)?;
    let mut ext = r.get(..total)?;
    while !ext.is_empty() {
        let kind = take_len(&mut ext, 2)?;
        let len = take_len(&mut ext, 2)?;
        let mut body = ext.get(..len)?;
        skip(&mut ext, len)?;
        if kind == 0 {
            take_len(&mut body, 2)?; // list length
            if take_len(&mut body, 1)? == 0 {
                let n = take_len(&mut body, 2)?;
                return String::from_utf8(body.get(..n)?.to_vec()).ok();
            }
        }
    }
    None
}
