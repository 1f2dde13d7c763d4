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
