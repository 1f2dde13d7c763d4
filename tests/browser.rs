//! Headless Chromium end to end: the real server serves `/proxy.pac` (and `/pac/type1.pac`),
//! Chromium loads pages with `--proxy-pac-url` pointing at it, and a recording proxy and an
//! origin server — both in this test — see which requests arrive how. A host the catalogue
//! sends DIRECT must reach the origin itself; everything else must arrive at the proxy.
//!
//! Both schemes are observed, so the outcome does not depend on which hosts a Chromium build
//! upgrades to HTTPS by itself (its HSTS preload list changes between releases): the origin
//! listens on ports 80 and 443 and records a plain request by its `Host` or a TLS
//! ClientHello by its server name; the proxy records an absolute-form request or a
//! `CONNECT host:443`. Every host is probed over http and https, and spellings the browser
//! canonicalises (numeric IPv4 forms, full-width dots) must go where /decide routes the host
//! they read as.
//!
//! Isolation: the whole scenario runs in a fresh network namespace (`unshare --net`) that has
//! nothing but loopback, and Chromium maps every name to 127.0.0.1 with
//! `--host-resolver-rules`, so no request can leave the machine. The catalogue address used
//! for the "IP literal inside a prefix" case is also bound to that namespace's loopback, so a
//! DIRECT connection to it lands on the origin whether or not the resolver rules map it.
//!
//! Needs Debian's `chromium` (scripts/test.sh installs it) and root or user namespaces.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{wire_listen, wire_recorder, Arrival, Arrivals, Server};

/// Set in the child test process that runs inside the namespace.
const INSIDE: &str = "PW_TEST_INSIDE_NETNS";
/// An address of the built-in catalogue (13.107.6.152/31, Optimize: DIRECT in both profiles).
const INSIDE_PREFIX: &str = "13.107.6.152";
/// An address in no catalogue prefix (TEST-NET-2).
const OUTSIDE_PREFIXES: &str = "198.51.100.7";

fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("Chromium is not installed: run scripts/test.sh (apt-get install -y chromium)");
}

/// Loads `url` in headless Chromium using the PAC at `pac_url`; returns the page text.
fn browse(pac_url: &str, url: &str, profile_dir: &Path) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-features=NetworkTimeServiceQuerying",
            "--host-resolver-rules=MAP * 127.0.0.1, EXCLUDE localhost",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .arg(format!("--proxy-pac-url={pac_url}"))
        .args(["--timeout=15000", "--dump-dom", url])
        .output()
        .expect("chromium runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pacwarden-browser-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The route `/decide` gives (`direct` or `proxy`), asked over HTTP like any client.
fn decide_route(server: &Server, host: &str, profile: &str) -> String {
    let key = if host.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        "ip"
    } else {
        "host"
    };
    let url = server.url(&format!("/decide?{key}={host}&profile={profile}"));
    let mut resp = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(&url)
        .call()
        .expect("/decide answers");
    let v: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().unwrap_or_default())
            .unwrap_or_default();
    v["route"].as_str().unwrap_or("?").to_owned()
}

struct Scenario {
    server: Server,
    /// What arrived at the origin's ports 80 and 443 (on every address of the namespace).
    origin: Arrivals,
    proxy: (SocketAddr, Arrivals),
    dir: PathBuf,
    next: usize,
}

impl Scenario {
    /// Starts the origin on ports 80 and 443 of every address (so the catalogue address
    /// reaches it too), the recording proxy and pacwarden with type2 and type1 profiles
    /// pointing at the proxy.
    fn start(extra_config: &str) -> Scenario {
        // One log for both ports: a connection to 443 is what HTTPS looks like here.
        let origin = Arrivals::default();
        wire_listen("0.0.0.0:80", "ORIGIN", origin.clone());
        wire_listen("0.0.0.0:443", "ORIGIN", origin.clone());
        let proxy = wire_recorder("127.0.0.1:0", "VIA-PROXY");
        let dir = tempdir("scenario");
        let cfg = dir.join("pacwarden.toml");
        let p = proxy.0.port();
        std::fs::write(
            &cfg,
            format!(
                "[pac]\ndefault_profile = \"type2\"\n{extra_config}\n\
                 [[profiles]]\nname = \"type2\"\ndirect = [\"Optimize\", \"Allow\"]\nproxy = \"PROXY 127.0.0.1:{p}\"\n\
                 [[profiles]]\nname = \"type1\"\ndirect = [\"Optimize\"]\nproxy = \"PROXY 127.0.0.1:{p}\"\n"
            ),
        )
        .unwrap();
        let server = Server::start(&cfg);
        Scenario {
            server,
            origin,
            proxy,
            dir,
            next: 0,
        }
    }

    /// Loads `scheme://spelling/probe-N` through the PAC at `pac_path` and reports how the
    /// browser went to `host` (the spelling as the browser reads it): `direct`, `proxy`, or
    /// what went wrong. Plain HTTP and HTTPS are both observed — a browser upgrades some
    /// hosts to HTTPS by itself (HSTS preload lists differ between builds): a DIRECT
    /// connection shows at the origin as a request or a TLS server name, one through the
    /// proxy as an absolute-form request or a CONNECT.
    fn route_of(&mut self, pac_path: &str, scheme: &str, spelling: &str, host: &str) -> String {
        self.next += 1;
        self.origin.lock().unwrap().clear();
        self.proxy.1.lock().unwrap().clear();
        let url = format!("{scheme}://{spelling}/probe-{}", self.next);
        let page = browse(
            &self.server.url(pac_path),
            &url,
            &self.dir.join(format!("chrome-{}", self.next)),
        );
        // Let the last connections' records land.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let at_origin: Vec<Arrival> = self
            .origin
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, a)| match a {
                Arrival::Http { host: h, .. } => h == host || *h == format!("{host}:80"),
                // No server name is sent for an address (RFC 6066 §3), and the resolver rules
                // map address literals to loopback too: an unnamed hello during an address's
                // probe is that address's.
                Arrival::Tls { sni } => {
                    sni == host || (sni.is_empty() && bare.parse::<std::net::IpAddr>().is_ok())
                }
                Arrival::Connect { .. } => false,
            })
            .map(|(_, a)| a.clone())
            .collect();
        let at_proxy: Vec<Arrival> = self
            .proxy
            .1
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, a)| match a {
                Arrival::Http { target, .. } => {
                    target.starts_with(&format!("http://{host}/"))
                        || target.starts_with(&format!("http://{host}:80/"))
                }
                Arrival::Connect { target } => *target == format!("{host}:443"),
                Arrival::Tls { .. } => false,
            })
            .map(|(_, a)| a.clone())
            .collect();
        match (at_origin.is_empty(), at_proxy.is_empty()) {
            (false, true) => "direct".into(),
            (true, false) => "proxy".into(),
            _ => format!("unclear: origin {at_origin:?}, proxy {at_proxy:?}, page {page:?}"),
        }
    }
}

/// Hosts per category and expected routes per profile, fixed by Microsoft's categories:
/// (host, type2 route, type1 route).
const HOSTS: &[(&str, &str, &str)] = &[
    ("outlook.office365.com", "direct", "direct"), // Optimize, exact
    ("contoso.sharepoint.com", "direct", "direct"), // Optimize, *.sharepoint.com
    ("login.microsoftonline.com", "direct", "proxy"), // Allow
    ("x.teams.microsoft.com", "direct", "proxy"),  // Allow, wildcard
    ("www.office.com", "proxy", "proxy"),          // Default
    ("www.example.com", "proxy", "proxy"),         // not in the catalogue
    ("news.example.org", "proxy", "proxy"),        // not in the catalogue
    (INSIDE_PREFIX, "direct", "direct"),           // address inside an Optimize prefix
    (OUTSIDE_PREFIXES, "proxy", "proxy"),          // address in no prefix
];

/// Spellings the browser reads by the URL Standard before it calls the PAC, with the host
/// it reads: the browser's route must be /decide's route for that host.
const SPELLINGS: &[(&str, &str)] = &[
    ("0xd.0x6b.6.152", INSIDE_PREFIX),   // hex parts
    ("225117848", INSIDE_PREFIX),        // one number
    ("015.0153.06.0230", INSIDE_PREFIX), // octal parts
    ("877658369", "52.80.1.1"),          // a number, not a plain name
    (
        "login\u{ff0e}microsoftonline\u{ff0e}com",
        "login.microsoftonline.com",
    ), // full-width dots
    ("OUTLOOK.office365.com", "outlook.office365.com"),
];

/// Runs `body` inside a new network namespace with only loopback (plus the catalogue
/// address on it), by re-running this test binary there.
fn in_netns(test: &str, body: impl FnOnce()) {
    if std::env::var_os(INSIDE).is_some() {
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("ip runs");
        assert!(up.success());
        let add = Command::new("ip")
            .args(["addr", "add", &format!("{INSIDE_PREFIX}/32"), "dev", "lo"])
            .status()
            .expect("ip runs");
        assert!(add.success());
        body();
        return;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new("unshare")
        .args(["--net", "--"])
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(INSIDE, "1")
        .output()
        .expect("unshare runs (util-linux)");
    // Indented, so that the inner run's own summary is not read as another test binary's.
    for line in String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
    {
        println!("  netns| {line}");
    }
    assert!(
        out.status.success(),
        "the scenario failed inside the namespace"
    );
}

#[test]
fn chromium_follows_the_pac_for_type2_and_type1() {
    in_netns("chromium_follows_the_pac_for_type2_and_type1", || {
        let mut s = Scenario::start("");
        let mut failures = Vec::new();
        for (pac_path, profile) in [("/proxy.pac", "type2"), ("/pac/type1.pac", "type1")] {
            // `want` empty: whatever /decide routes the host to.
            let mut probe = |scheme: &str, spelling: &str, host: &str, want: &str| {
                let decide = decide_route(&s.server, host, profile);
                let want = if want.is_empty() {
                    decide.as_str()
                } else {
                    want
                };
                let got = s.route_of(pac_path, scheme, spelling, host);
                println!(
                    "{profile:6} {scheme:5} {spelling:28} browser {got:6} /decide {decide:6} expected {want}"
                );
                if got != want || decide != want {
                    failures.push(format!(
                        "{profile} {scheme}://{spelling}: browser {got}, /decide {decide}, expected {want}"
                    ));
                }
            };
            for (host, type2, type1) in HOSTS {
                let want = if profile == "type2" { type2 } else { type1 };
                // Both schemes for every host: what arrives shows whichever the browser used.
                probe("http", host, host, want);
                probe("https", host, host, want);
            }
            for (spelling, host) in SPELLINGS {
                probe("http", spelling, host, "");
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    });
}

/// The harness tells a wrong PAC from a right one: a template that sends everything DIRECT
/// is caught on a host that must go to the proxy.
#[test]
fn chromium_catches_a_wrong_pac() {
    in_netns("chromium_catches_a_wrong_pac", || {
        let templates = tempdir("wrong-templates");
        std::fs::write(
            templates.join("default.pac.j2"),
            "function FindProxyForURL(url, host) { return \"DIRECT\"; }\n",
        )
        .unwrap();
        let mut s = Scenario::start(&format!(
            "templates_dir = {:?}",
            templates.display().to_string()
        ));
        assert_eq!(
            s.route_of("/proxy.pac", "http", "www.example.com", "www.example.com"),
            "direct"
        );
        assert_eq!(
            s.route_of("/proxy.pac", "https", "www.example.com", "www.example.com"),
            "direct"
        );
        assert_eq!(decide_route(&s.server, "www.example.com", "type2"), "proxy");
    });
}
