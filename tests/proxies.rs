//! Real proxies asking pacwarden: nginx with `auth_request` and Squid with the
//! `squid-helper` external ACL (Debian's packages, started by the tests on loopback with their
//! own configuration and directories). scripts/test.sh installs them.

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

/// The documented nginx example against real nginx: hosts the catalogue lists on the port
/// nginx serves reach the origin; one listed for another port only, and one not listed, get
/// 403 and never reach it.
#[test]
fn nginx_auth_request_lets_catalogue_hosts_through() {
    let (origin, seen) = recorder("127.0.0.1:0", "ORIGIN");
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let dir = tempdir("nginx");
    // The documented example passes nginx's own port: the catalogue lists hosts on it.
    let p = listen.port();
    std::fs::write(
        dir.join("catalogue.toml"),
        format!(
            "[meta]\nname = \"corp\"\nversion = \"1\"\n\
             [[sets]]\nid = 1\ncategory = \"Optimize\"\nhosts = [\"app.alpha.example\", \"*.beta.example\"]\nprefixes = [\"192.0.2.0/24\"]\ntcp_ports = \"{p}\"\n\
             [[sets]]\nid = 2\ncategory = \"Optimize\"\nhosts = [\"web.gamma.example\"]\nprefixes = [\"198.51.100.0/24\"]\ntcp_ports = \"443\"\n"
        ),
    )
    .unwrap();
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(
        &cfg,
        "[[catalogue.sources]]\nkind = \"native\"\npath = \"catalogue.toml\"\n",
    )
    .unwrap();
    let server = Server::start(&cfg);
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
        ("app.alpha.example", 200), // listed on nginx's port
        ("x.beta.example", 200),    // wildcard, listed on nginx's port
        ("192.0.2.7", 200),         // address in a prefix listed on nginx's port
        ("web.gamma.example", 403), // listed for 443 only: a wrong port
        ("198.51.100.7", 403),      // address in a prefix listed for 443 only
        ("www.example.com", 403),   // not in the catalogue
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

struct Squid {
    child: Child,
    conf: PathBuf,
}

impl Drop for Squid {
    fn drop(&mut self) {
        let _ = Command::new(find("squid"))
            .arg("-f")
            .arg(&self.conf)
            .args(["-k", "kill"])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks a Squid configuration (`squid -k parse`, no warnings) and starts Squid on it.
fn start_squid(conf: &Path, addr: SocketAddr, run: &Path) -> Squid {
    let parse = Command::new(find("squid"))
        .arg("-f")
        .arg(conf)
        .args(["-k", "parse"])
        .output()
        .expect("squid runs");
    let said = String::from_utf8_lossy(&parse.stderr).into_owned();
    assert!(parse.status.success(), "{said}");
    assert!(!said.contains("WARNING"), "squid -k parse warns: {said}");
    let squid = Squid {
        child: Command::new(find("squid"))
            .arg("-N")
            .arg("-f")
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("squid starts"),
        conf: conf.to_path_buf(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "squid did not start: {}",
            std::fs::read_to_string(run.join("cache.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    squid
}

/// The directives every test Squid shares: loopback only, files under `run`, names from
/// `hosts` and no real DNS.
fn squid_base(addr: SocketAddr, run: &Path, hosts: &Path) -> String {
    let r = run.display();
    format!(
        "http_port {addr}\nvisible_hostname pacwarden-test\npid_filename {r}/squid.pid\n\
         cache_log stdio:{r}/cache.log\naccess_log stdio:{r}/access.log\ncoredump_dir {r}\n\
         netdb_filename none\npinger_enable off\nlogfile_rotate 0\nshutdown_lifetime 0 seconds\n\
         cache deny all\nhosts_file {h}\ndns_nameservers 127.0.0.1\nacl from_loopback src 127.0.0.0/8\n\
         http_access deny !from_loopback\n",
        h = hosts.display()
    )
}

/// `curl -x squid URL` (with `-p` through a CONNECT tunnel): (status, body).
fn curl_via(proxy: SocketAddr, url: &str, tunnel: bool) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}"])
        .arg("-x")
        .arg(format!("http://{proxy}"));
    if tunnel {
        cmd.arg("-p");
    }
    let out = cmd.arg(url).output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

const CAT_A: &str = "[meta]\nname = \"corp\"\nversion = \"a\"\n[[sets]]\nid = 1\ncategory = \"Allow\"\nhosts = [\"*.alpha.example\"]\n[[sets]]\nid = 3\ncategory = \"Allow\"\nhosts = [\"*.gamma.example\"]\ntcp_ports = \"443\"\n";
const CAT_B: &str = "[meta]\nname = \"corp\"\nversion = \"b\"\n[[sets]]\nid = 2\ncategory = \"Allow\"\nhosts = [\"*.beta.example\"]\n";

#[test]
fn squid_asks_the_helper_and_follows_reloads() {
    let dir = tempdir("squid");
    let cat = dir.join("catalogue.toml");
    std::fs::write(&cat, CAT_A).unwrap();
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(
        &cfg,
        "[[catalogue.sources]]\nkind = \"native\"\npath = \"catalogue.toml\"\n",
    )
    .unwrap();
    let server = Server::start(&cfg);
    let (origin, seen) = recorder("127.0.0.1:0", "ORIGIN");
    let port = free_port();
    let squid_addr = SocketAddr::from(([127, 0, 0, 1], port));
    // Squid drops to its own user: its directory must be writable by it.
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let _ = Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(&dir)
        .status();
    let hosts = dir.join("hosts");
    std::fs::write(
        &hosts,
        "127.0.0.1 localhost www.alpha.example www.beta.example www.gamma.example www.example.com\n",
    )
    .unwrap();
    let conf = dir.join("squid.conf");
    std::fs::write(
        &conf,
        format!(
            "{base}external_acl_type pacwarden ttl=0 negative_ttl=0 children-max=2 children-startup=1 concurrency=8 %DST %PORT {bin} squid-helper --url http://{pw}\n\
             acl allowed_dst external pacwarden\nhttp_access allow allowed_dst\nhttp_access deny all\n",
            base = squid_base(squid_addr, &run, &hosts),
            bin = env!("CARGO_BIN_EXE_pacwarden"),
            pw = server.addr,
        ),
    )
    .unwrap();
    let squid = start_squid(&conf, squid_addr, &run);
    let o = origin.port();
    let url = |host: &str, n: u32| format!("http://{host}:{o}/probe-{host}-{n}");
    let reached = |host: &str, n: u32| {
        seen.lock()
            .unwrap()
            .contains_key(&format!("probe-{host}-{n}"))
    };

    // Catalogue host: plain HTTP and through a CONNECT tunnel reach the origin.
    let (status, body) = curl_via(squid_addr, &url("www.alpha.example", 1), false);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ORIGIN") && reached("www.alpha.example", 1));
    let (status, body) = curl_via(squid_addr, &url("www.alpha.example", 2), true);
    assert_eq!(status, 200, "CONNECT: {body}");
    assert!(reached("www.alpha.example", 2));
    // Not in the catalogue: Squid refuses, the origin never sees it.
    let (status, _) = curl_via(squid_addr, &url("www.example.com", 3), false);
    assert_eq!(status, 403);
    assert!(!reached("www.example.com", 3));
    let (status, _) = curl_via(squid_addr, &url("www.example.com", 4), true);
    assert_ne!(status, 200, "CONNECT to a denied host");
    assert!(!reached("www.example.com", 4));
    // Listed for port 443 only: the origin's port is a wrong one, plain and tunnelled.
    let (status, _) = curl_via(squid_addr, &url("www.gamma.example", 7), false);
    assert_eq!(status, 403);
    assert!(!reached("www.gamma.example", 7));
    let (status, _) = curl_via(squid_addr, &url("www.gamma.example", 8), true);
    assert_ne!(status, 200, "CONNECT to a wrong port");
    assert!(!reached("www.gamma.example", 8));

    // A catalogue change and SIGHUP to pacwarden change Squid's answers (helper ttl=0).
    std::fs::write(&cat, CAT_B).unwrap();
    server.signal("-HUP");
    server.wait_log("catalogue reloaded");
    let (status, _) = curl_via(squid_addr, &url("www.alpha.example", 5), false);
    assert_eq!(status, 403);
    let (status, body) = curl_via(squid_addr, &url("www.beta.example", 6), false);
    assert_eq!(status, 200, "{body}");
    assert!(reached("www.beta.example", 6));

    drop(squid);
    let log = std::fs::read_to_string(run.join("cache.log")).unwrap_or_default();
    assert!(!log.contains("BH"), "the helper answered BH: {log}");
}

/// `export squid` loads in real Squid without warnings and Squid, using only those ACLs,
/// lets through what /decide allows and refuses the rest.
#[test]
fn squid_export_loads_and_answers_like_decide() {
    let dir = tempdir("squid-export");
    let run = dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pacwarden"))
        .args(["export", "squid"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not expressible in squid, left out: autodiscover.*.onmicrosoft.com"),
        "{stderr}"
    );
    let acl = dir.join("pacwarden-acl.conf");
    std::fs::write(&acl, &out.stdout).unwrap();
    let names = [
        "outlook.office365.com",
        "contoso.sharepoint.com",
        "login.microsoftonline.com",
        "www.office.com",
        "sharepoint.com",
        "www.example.com",
        "microsoft.com",
    ];
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1 localhost {}\n", names.join(" "))).unwrap();
    let _ = Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(&dir)
        .status();
    let (origin, seen) = recorder("127.0.0.1:0", "ORIGIN");
    let squid_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let conf = dir.join("squid.conf");
    std::fs::write(
        &conf,
        format!(
            "{}include {}\nhttp_access deny pacwarden_deny\nhttp_access allow pacwarden_allow\nhttp_access allow pacwarden_allow_dst\nhttp_access deny all\n",
            squid_base(squid_addr, &run, &hosts),
            acl.display()
        ),
    )
    .unwrap();
    let _squid = start_squid(&conf, squid_addr, &run);
    for (n, host) in names.iter().enumerate() {
        let decide = Command::new(env!("CARGO_BIN_EXE_pacwarden"))
            .args(["decide", host])
            .status()
            .unwrap();
        let allowed = decide.code() == Some(0);
        let url = format!("http://{host}:{}/probe-{n}", origin.port());
        let (status, _) = curl_via(squid_addr, &url, false);
        let reached = seen.lock().unwrap().contains_key(&format!("probe-{n}"));
        assert_eq!(
            (status == 200, reached),
            (allowed, allowed),
            "{host}: /decide allows = {allowed}, squid status {status}"
        );
    }
}

/// The Squid configuration shipped for docker/compose.yaml parses without warnings.
#[test]
fn shipped_squid_config_parses() {
    let out = Command::new(find("squid"))
        .arg("-f")
        .arg(repo("docker/squid.conf"))
        .args(["-k", "parse"])
        .output()
        .expect("squid runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        !said.contains("WARNING") && !said.contains("ERROR"),
        "{said}"
    );
}
