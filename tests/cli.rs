//! End-to-end tests of the real binary: `check`, `decide`, `import`, configuration files and
//! environment overrides. Fixtures live in `tests/data/` and `config/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pacwarden"));
    // Keep the developer's environment out of the results.
    for (k, _) in std::env::vars() {
        if k.starts_with("PACWARDEN_") {
            c.env_remove(k);
        }
    }
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pacwarden-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn decide(args: &[&str]) -> (i32, Value) {
    let mut full = vec!["decide"];
    full.extend_from_slice(args);
    let out = run(&full);
    let code = out.status.code().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, json)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_reports_the_embedded_snapshot() {
    let out = run(&["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let ww = text
        .lines()
        .find(|l| l.starts_with("ms365:worldwide\t"))
        .unwrap();
    assert!(ww.contains("79 sets"), "{ww}");
    assert!(ww.contains("version sha256:"), "{ww}");
    assert!(ww.contains("from builtin:worldwide"), "{ww}");
    assert!(text
        .lines()
        .any(|l| l.starts_with("additional-endpoints\t")));
}

/// One decision as a line: `decision category route [sets] rule source`.
fn summary(d: &Value) -> String {
    let sets: Vec<String> = d["endpoint_sets"]
        .as_array()
        .map(|a| a.iter().map(|v| v.to_string().replace('"', "")).collect())
        .unwrap_or_default();
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let reason = match d["reason"].as_str() {
        None => String::new(),
        Some(r) => format!(
            " ({r}{})",
            match &d["allowed_ports"] {
                Value::Null => String::new(),
                p => format!(": tcp {} udp {}", s(&p["tcp"]), s(&p["udp"])),
            }
        ),
    };
    format!(
        "{} {} {} [{}] {} {}{reason}",
        s(&d["decision"]),
        s(&d["category"]),
        s(&d["route"]),
        sets.join(","),
        s(&d["rule"]),
        s(&d["source"])
    )
}

/// Decisions on the built-in catalogue (Worldwide snapshot + additional endpoints):
/// extra args, host, expected summary (`WW` and `AE` stand for the two sources).
#[rustfmt::skip]
const BUILTIN_DECISIONS: &[(&str, &str, &str)] = &[
    ("", "login.microsoftonline.com", "allow Allow direct [56] login.microsoftonline.com WW"),
    ("", "outlook.office365.com", "allow Optimize direct [1] outlook.office365.com WW"),
    ("", "Outlook.Office365.COM.", "allow Optimize direct [1] outlook.office365.com WW"),
    ("--port 993", "outlook.office365.com", "allow Allow direct [2] outlook.office365.com WW"),
    ("", "cdn.odc.officeapps.live.com", "allow Default proxy [91,160] cdn.odc.officeapps.live.com WW"),
    ("", "x.officeapps.live.com", "allow Allow direct [46] *.officeapps.live.com WW"),
    ("", "contoso.sharepoint.com", "allow Optimize direct [31] *.sharepoint.com WW"),
    ("", "autodiscover.contoso.onmicrosoft.com", "allow Default proxy [8] autodiscover.*.onmicrosoft.com WW"),
    ("", "52.96.1.1", "allow Optimize direct [1] 52.96.0.0/14 WW"),
    ("", "[::ffff:52.96.1.1]", "allow Optimize direct [1] 52.96.0.0/14 WW"),
    ("--port 123 --proto udp", "time.windows.com", "allow Default proxy [165] time.windows.com WW"),
    ("--port 123", "time.windows.com", "deny - proxy [] time.windows.com WW (port-not-allowed: tcp  udp 123)"),
    ("", "www.msftconnecttest.com", "allow Default proxy [row-24] www.msftconnecttest.com AE"),
    ("--port 80", "x.y.digicert.com", "allow Default proxy [row-20] *.digicert.com AE"),
    ("--port 443", "x.y.digicert.com", "deny - proxy [] *.digicert.com AE (port-not-allowed: tcp 80 udp )"),
    ("--port 22", "outlook.office365.com", "deny - proxy [] outlook.office365.com WW (port-not-allowed: tcp 80,143,443,587,993,995 udp 443)"),
    ("--port 22", "52.112.0.1", "deny - proxy [] 52.112.0.0/14 WW (port-not-allowed: tcp 80,443 udp 443,3478-3481)"),
    ("", "example.com", "deny - proxy [] - - (not-in-catalogue)"),
    ("", "sharepoint.com", "deny - proxy [] - - (not-in-catalogue)"),
    ("", "192.0.2.1", "deny - proxy [] - - (not-in-catalogue)"),
    // Inbound-only entry of the additional endpoints (row 21) never decides outbound.
    ("", "web.microsoftstream.com", "deny - proxy [] - - (not-in-catalogue)"),
];

#[test]
fn decisions_on_the_builtin_catalogue() {
    for (args, host, want) in BUILTIN_DECISIONS {
        let want = want
            .replace(" WW", " ms365:worldwide")
            .replace(" AE", " additional-endpoints");
        let mut full: Vec<&str> = args.split_whitespace().collect();
        full.push(host);
        let (code, d) = decide(&full);
        assert_eq!(summary(&d), want, "{args} {host}: {d}");
        assert_eq!(
            code,
            if want.starts_with("allow") { 0 } else { 1 },
            "{host}"
        );
        assert_eq!(d["catalogue"]["generation"], 1, "{host}");
        assert!(d["catalogue"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty()));
    }
}

#[test]
fn type1_profile_sends_only_optimize_direct() {
    let (_, d) = decide(&["--profile", "type1", "login.microsoftonline.com"]);
    assert_eq!(d["route"], "proxy");
    let (_, d) = decide(&["--profile", "type1", "outlook.office365.com"]);
    assert_eq!(d["route"], "direct");
}

#[test]
fn hostile_hosts_exit_2_with_a_reason() {
    let huge = "a".repeat(100_000);
    let long_label = format!("{}.com", "b".repeat(64));
    for host in [
        huge.as_str(),
        "",
        "a..b.com",
        "..",
        "exa mple.com",
        "evil.com/path",
        "host:443",
        "[1.2.3.4]",
        "\u{202e}moc.live",
        "a\tb",
        long_label.as_str(),
        "*.sharepoint.com",
        // Refused by the URL Standard: invalid punycode, a number that is no address, zone.
        "xn--login.microsoftonline.com",
        "1.2.3.09",
        "a.b.c.0x1",
        "4294967296",
        "fe80::1%eth0",
        "a\u{200d}.example",
    ] {
        let out = run(&["decide", host]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{host:?}: {err}");
        assert!(out.stdout.is_empty(), "{host:?}");
        assert!(err.starts_with("error: bad host: "), "{host:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{host:?}: {err}");
    }
    // Unicode names are converted, not refused.
    let (code, d) = decide(&["bücher.example"]);
    assert_eq!(code, 1);
    assert_eq!(d["host"], "xn--bcher-kva.example");
    for args in [
        &["--port", "0", "x.com"][..],
        &["--port", "70000", "x.com"],
        &["--proto", "sctp", "--port", "1", "x.com"],
    ] {
        let mut full = vec!["decide"];
        full.extend_from_slice(args);
        assert_eq!(run(&full).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn every_example_config_checks() {
    let mut n = 0;
    for entry in std::fs::read_dir(repo("config")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let out = run(&["check", "--pac", "--config", p.to_str().unwrap()]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}: {stdout}{}",
                p.display(),
                stderr(&out)
            );
            // Every profile's PAC was evaluated and agreed.
            let profiles = stdout
                .lines()
                .filter(|l| l.contains("PAC agrees with /decide on"))
                .count();
            assert!(profiles >= 2, "{}: {stdout}", p.display());
            n += 1;
        }
    }
    assert!(n >= 2, "expected example configs in config/");
}

#[test]
fn example_organisation_overrides_apply() {
    let cfg = repo("config/pacwarden.organisation.toml");
    let c = cfg.to_str().unwrap();
    let (code, d) = decide(&["-c", c, "files.onedrive.live.com"]);
    assert_eq!((code, d["rule"].as_str()), (1, Some("*.onedrive.live.com")));
    let (code, d) = decide(&["-c", c, "forms.office.com"]);
    assert_eq!((code, d["route"].as_str()), (0, Some("proxy")));
    let (_, d) = decide(&["-c", c, "198.51.100.20"]);
    assert_eq!(d["route"], "direct");
    assert_eq!(d["source"], "contoso");
}

/// The config form from the catalogue issue, with a web-service file next to it.
#[test]
fn issue_config_form_with_web_service_file() {
    let dir = tempdir("form");
    std::fs::copy(
        repo("tests/data/ms365/worldwide-trimmed.json"),
        dir.join("worldwide.json"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("catalogue")).unwrap();
    std::fs::copy(
        repo("config/catalogue/additional-endpoints.toml"),
        dir.join("catalogue/additional-endpoints.toml"),
    )
    .unwrap();
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(
        &cfg,
        r#"[[catalogue.sources]]
kind = "ms365"          # web-service JSON file
path = "worldwide.json" # relative to the config file
[[catalogue.sources]]
kind = "native"
path = "catalogue/additional-endpoints.toml"
"#,
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    // Run from elsewhere: paths must resolve against the config file, not the cwd.
    let out = bin()
        .current_dir("/")
        .args(["check", "-c", c])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ms365:worldwide\t11 sets"), "{text}");

    let (code, d) = decide(&["-c", c, "login.microsoftonline.com"]);
    assert_eq!(code, 0);
    assert_eq!(d["endpoint_sets"], serde_json::json!([56]));
    assert_eq!(d["category"], "Allow");
    let (_, d) = decide(&["-c", c, "52.109.1.1"]);
    assert_eq!(d["rule"], "52.108.0.0/14");
    // *.microsoftonline.com is listed by an Allow and a Default set: Allow wins, one set cited.
    let (_, d) = decide(&["-c", c, "x.microsoftonline.com"]);
    assert_eq!(
        (d["category"].as_str(), d["endpoint_sets"].clone()),
        (Some("Allow"), serde_json::json!([56]))
    );
    // A UDP-only set with no urls: its prefixes answer UDP queries only.
    let (code, _) = decide(&["-c", c, "--port", "3478", "--proto", "udp", "52.112.9.9"]);
    assert_eq!(code, 0);
    let (code, _) = decide(&["-c", c, "--port", "8443", "52.112.9.9"]);
    assert_eq!(code, 1);
}

#[test]
fn environment_overrides_config() {
    let cfg = repo("config/pacwarden.toml");
    let c = cfg.to_str().unwrap();
    let out = bin()
        .env("PACWARDEN_CATALOGUE__TENANTS", "[fabrikam]")
        .args(["decide", "-c", c, "fabrikam.sharepoint.com"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = bin()
        .env("PACWARDEN_CATALOGUE__TENANTZ", "[fabrikam]")
        .args(["check", "-c", c])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("tenantz"), "{}", stderr(&out));
}

#[test]
fn broken_catalogues_list_every_problem() {
    let dir = tempdir("broken");
    std::fs::copy(
        repo("tests/data/ms365/broken.json"),
        dir.join("broken.json"),
    )
    .unwrap();
    std::fs::write(
        dir.join("org.toml"),
        "[[sets]]\nid = \"a\"\nhosts = [\"*com\", \"ok.example.com\"]\ncategory = \"Great\"\n[[sets]]\nid = \"b\"\nprefixes = [\"10.0.0.0/99\"]\nhots = []\n",
    )
    .unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        "[[catalogue.sources]]\nkind = \"ms365\"\npath = \"broken.json\"\n[[catalogue.sources]]\nkind = \"native\"\npath = \"org.toml\"\n[[catalogue.sources]]\nkind = \"native\"\npath = \"missing.toml\"\n",
    )
    .unwrap();
    let out = run(&["check", "-c", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let b = dir.join("broken.json").display().to_string();
    let o = dir.join("org.toml").display().to_string();
    for want in [
        format!("error: {b}: set 1: urls[0]: "),
        format!("error: {b}: set 1: ips[0]: "),
        format!("error: {b}: set 1: tcpPorts: "),
        format!("error: {b}: set 2: expressRoute: "),
        format!("error: {b}: set 2: category: "),
        format!("error: {b}: [2]: id: missing"),
        format!("error: {o}: set \"a\": hosts[0]: "),
        format!("error: {o}: set \"a\": category: "),
        format!("error: {o}: set \"b\": prefixes[0]: "),
        format!("error: {o}: set \"b\": hots: unknown field"),
        "missing.toml: -: -: cannot read".to_owned(),
        "11 problem(s) found".to_owned(),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    // decide refuses to answer from a broken catalogue, with the same list.
    let out = run(&["decide", "-c", cfg.to_str().unwrap(), "x.com"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("11 problem(s) found"));
}

/// An emptied catalogue or configuration file is a problem for `check` (and so for startup
/// and reload), unless the source says `allow_empty`; `max_shrink` must be a share.
#[test]
fn empty_sources_and_configurations_are_problems() {
    let dir = tempdir("empty");
    let cfg = dir.join("pacwarden.toml");
    let source = "[[catalogue.sources]]\nkind = \"native\"\npath = \"org.toml\"\n";
    std::fs::write(&cfg, source).unwrap();
    let check = || run(&["check", "--config", cfg.to_str().unwrap()]);
    for text in ["", "   \n", "[meta]\nname = \"corp\"\nversion = \"1\"\n"] {
        std::fs::write(dir.join("org.toml"), text).unwrap();
        let out = check();
        assert_eq!(out.status.code(), Some(1), "{text:?}");
        assert!(
            stderr(&out).contains("org.toml: -: -: the source has no entries"),
            "{}",
            stderr(&out)
        );
    }
    std::fs::write(&cfg, format!("{source}allow_empty = true\n")).unwrap();
    assert!(check().status.success(), "{}", stderr(&check()));
    for (text, says) in [
        ("", "the configuration file is empty"),
        ("# only a comment\n\n", "the configuration file is empty"),
        (
            "[pac]\nsize_budget_bytes = 2621",
            "does not end with a line break",
        ),
        (
            &format!("{source}max_shrink = 1.5\n"),
            "max_shrink: 1.5 is not a share",
        ),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let out = check();
        assert_eq!(out.status.code(), Some(1), "{text:?}");
        assert!(stderr(&out).contains(says), "{text:?}: {}", stderr(&out));
    }
    // A server does not start on them either.
    std::fs::write(&cfg, "").unwrap();
    let out = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
}

/// Allow rules that would let far too much through are refused, each listed; `broad = true`
/// on the set lets them be, deny sets may be broad, and host bits are never widened.
#[test]
fn over_broad_rules_are_problems() {
    let dir = tempdir("broad");
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(
        &cfg,
        "[[catalogue.sources]]\nkind = \"native\"\npath = \"org.toml\"\n",
    )
    .unwrap();
    let org = |broad: &str| {
        format!(
            "[meta]\nname = \"corp\"\nversion = \"1\"\n\
             [[sets]]\nid = \"wide\"\ncategory = \"Allow\"\n{broad}\
             hosts = [\"*.co.uk\", \"*.com.au\", \"*.github.io\", \"*.s3.amazonaws.com\", \"outlook.office365.*\", \"*.contoso.co.uk\"]\n\
             prefixes = [\"0.0.0.0/0\", \"::/0\", \"10.0.0.0/7\", \"10.0.0.0/8\", \"2000::/15\"]\n\
             [[sets]]\nid = \"block\"\naction = \"deny\"\nhosts = [\"*.co.uk\"]\nprefixes = [\"0.0.0.0/0\"]\n"
        )
    };
    let check = || run(&["check", "--config", cfg.to_str().unwrap()]);
    std::fs::write(dir.join("org.toml"), org("")).unwrap();
    let out = check();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for field in [
        "hosts[0]: *.co.uk: co.uk is a public suffix",
        "hosts[1]: *.com.au",
        "hosts[2]: *.github.io: github.io is a public suffix (Public Suffix List, private section)",
        "hosts[3]: *.s3.amazonaws.com",
        "hosts[4]: outlook.office365.*: a `*` in the last label",
        "prefixes[0]: 0.0.0.0/0 is shorter than /8",
        "prefixes[1]: ::/0 is shorter than /16",
        "prefixes[2]: 10.0.0.0/7",
        "prefixes[4]: 2000::/15",
    ] {
        assert!(
            err.contains(&format!("org.toml: set wide: {field}")),
            "{field}: {err}"
        );
    }
    assert!(err.contains("9 problem(s) found"), "{err}");
    std::fs::write(dir.join("org.toml"), org("broad = true\n")).unwrap();
    assert!(check().status.success(), "{}", stderr(&check()));
    // Host bits set: a problem, broad or not.
    std::fs::write(
        dir.join("org.toml"),
        "[meta]\nname = \"corp\"\nversion = \"1\"\n[[sets]]\nid = 1\nbroad = true\nprefixes = [\"10.1.2.3/8\"]\n",
    )
    .unwrap();
    let out = check();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("10.1.2.3/8 has host bits set; the network is 10.0.0.0/8"));
}

/// Microsoft's own data never trips the breadth rules: every instance's web-service data in
/// tests/data, and the built-in catalogues.
#[test]
fn microsoft_data_is_never_too_broad() {
    let dir = tempdir("ms-broad");
    for instance in ["worldwide", "usgovdod", "usgovgcchigh", "china"] {
        let cfg = dir.join(format!("{instance}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[[catalogue.sources]]\nkind = \"ms365\"\npath = {:?}\n",
                repo(&format!("tests/data/ms365/{instance}-trimmed.json"))
            ),
        )
        .unwrap();
        let out = run(&["check", "--config", cfg.to_str().unwrap()]);
        assert!(out.status.success(), "{instance}: {}", stderr(&out));
    }
    assert!(run(&["check"]).status.success());
}

/// The README's PAC examples run as written from a clone (here: a directory with the clone's
/// `config/`), each with exit status 0.
#[test]
fn readme_pac_examples_run() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let section = readme.split("### Testing PAC files").nth(1).unwrap();
    let block = section
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let dir = tempdir("readme-pac");
    std::os::unix::fs::symlink(repo("config"), dir.join("config")).unwrap();
    let bin = env!("CARGO_BIN_EXE_pacwarden");
    let mut ran = 0;
    for line in block.lines().filter(|l| l.starts_with("pacwarden ")) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(line.replacen("pacwarden", bin, 1))
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{line}: {}", stderr(&out));
        ran += 1;
    }
    assert!(ran >= 5, "{ran} examples");
}

/// One exit-status scheme across every subcommand: 0 ok or allow, 1 deny or problems found,
/// 2 bad usage or input that cannot be read or used.
#[test]
fn exit_codes_are_one_scheme() {
    let dir = tempdir("exit-codes");
    let broken_cfg = dir.join("broken.toml");
    std::fs::write(
        &broken_cfg,
        "[[catalogue.sources]]\nkind = \"ms365\"\npath = \"nothere.json\"\n",
    )
    .unwrap();
    let bad_pac = dir.join("bad.pac");
    std::fs::write(
        &bad_pac,
        "function FindProxyForURL(u, h) { return nope(); }\n",
    )
    .unwrap();
    let b = broken_cfg.to_str().unwrap();
    let p = bad_pac.to_str().unwrap();
    let broken_json = repo("tests/data/ms365/broken.json");
    let good_json = repo("tests/data/ms365/worldwide-trimmed.json");
    let cases: &[(&[&str], i32)] = &[
        (&["check"], 0),
        (&["check", "--config", b], 1),
        (&["check", "--config", "/nonexistent/p.toml"], 2),
        (&["check", "--no-such-flag"], 2),
        (&["decide", "outlook.office365.com"], 0),
        (&["decide", "www.example.com"], 1),
        (&["decide", "a..b"], 2),
        (&["decide", "--port", "0", "x.com"], 2),
        (&["decide", "--profile", "nosuch", "x.com"], 2),
        (&["decide", "--config", b, "x.com"], 2),
        (&["import", "ms365", good_json.to_str().unwrap()], 0),
        (&["import", "ms365", broken_json.to_str().unwrap()], 1),
        (&["import", "ms365", "/nonexistent/missing.json"], 2),
        (&["pac", "test", "outlook.office365.com"], 0),
        (&["pac", "test", "--pac", p, "a.b"], 1),
        (&["pac", "test", "--pac", "/nonexistent/x.pac", "a.b"], 2),
        (&["pac", "test", "--profile", "nosuch", "a.b"], 2),
        (&["pac", "render"], 0),
        (&["pac", "render", "--template", "nosuch"], 2),
        (&["pac", "render", "--profile", "nosuch"], 2),
        (&["export", "squid"], 0),
        (&["export", "nosuch"], 2),
        (&["export", "--profile", "nosuch", "squid"], 2),
        (&["export", "--config", b, "squid"], 2),
        (&["fetch"], 2),
        (
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--config",
                "/nonexistent/p.toml",
            ],
            2,
        ),
        (&["serve", "--listen", "127.0.0.1:0", "--config", b], 1),
        (&["squid-helper", "--url", "ftp://x"], 2),
        (&["squid-helper", "--config", b], 2),
    ];
    for (args, want) in cases {
        let out = bin()
            .args(*args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(*want), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn import_round_trips_through_the_native_format() {
    let dir = tempdir("import");
    let out_file = dir.join("ww.toml");
    let out = run(&[
        "import",
        "ms365",
        repo("tests/data/ms365/worldwide-trimmed.json")
            .to_str()
            .unwrap(),
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(text.contains("name = \"ms365:worldwide\""));
    assert!(text.contains("tcp_ports = \"143,587,993,995\""));
    assert!(!text.contains("serviceAreaDisplayName") && !text.contains("Exchange Online"));
    // The imported file decides exactly like the JSON it came from.
    let json_cfg = dir.join("json.toml");
    std::fs::write(
        &json_cfg,
        format!(
            "[[catalogue.sources]]\nkind = \"ms365\"\npath = {:?}\n",
            repo("tests/data/ms365/worldwide-trimmed.json")
        ),
    )
    .unwrap();
    let toml_cfg = dir.join("native.toml");
    std::fs::write(
        &toml_cfg,
        "[[catalogue.sources]]\nkind = \"native\"\npath = \"ww.toml\"\n",
    )
    .unwrap();
    for host in [
        "outlook.office365.com",
        "smtp.office365.com",
        "a.b.outlook.com",
        "autodiscover.x.onmicrosoft.com",
        "xcdn.onenote.net",
        "login.microsoftonline.com",
        "52.96.0.1",
        "2603:1006::1",
        "nothing.example",
    ] {
        let (c1, mut a) = decide(&["-c", json_cfg.to_str().unwrap(), host]);
        let (c2, mut b) = decide(&["-c", toml_cfg.to_str().unwrap(), host]);
        a["catalogue"] = Value::Null;
        b["catalogue"] = Value::Null;
        assert_eq!((c1, a), (c2, b), "{host}");
    }
    // A broken snapshot is refused with its problems.
    let out = run(&[
        "import",
        "ms365",
        repo("tests/data/ms365/broken.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("set 1: urls[0]"));
}

#[test]
fn additional_endpoints_cover_every_row() {
    let text = std::fs::read_to_string(repo("config/catalogue/additional-endpoints.toml")).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let sets = table["sets"].as_array().unwrap();
    let mut rows: Vec<i64> = sets
        .iter()
        .map(|s| s["row"].as_integer().unwrap())
        .collect();
    rows.sort_unstable();
    rows.dedup();
    assert_eq!(rows, (1..=25).collect::<Vec<_>>());
}

/// `pac test` on the generated PAC, on a PAC file with DNS helpers and a --resolve table, and
/// on PACs that fail to load, throw or never finish.
/// Hosts are read as clients read them: every numeric spelling of an address is that
/// address, a bare number is an address and not a plain host name, Unicode dots separate
/// labels. The route is what the PAC does with that exact spelling: the proxy for one only
/// canonicalising clients read.
#[test]
fn decide_reads_hosts_as_clients_do() {
    for spelling in [
        "0x34.0x60.1.1",
        "52.96.257",
        "878706945",
        "064.0140.01.01",
        "[::ffff:52.96.1.1]",
    ] {
        let (code, d) = decide(&[spelling]);
        assert_eq!(code, 0, "{spelling}: {d}");
        assert_eq!(d["host"], "52.96.1.1", "{spelling}");
        assert_eq!(d["category"], "Optimize", "{spelling}");
        assert_eq!(d["route"], "direct", "{spelling}");
    }
    // 52.80.1.1 is outside the catalogue: a number, not a plain host sent DIRECT.
    let (code, d) = decide(&["877658369"]);
    assert_eq!(
        (code, d["host"].as_str(), d["route"].as_str()),
        (1, Some("52.80.1.1"), Some("proxy"))
    );
    // Octal: 42.96.1.1, not 52.96.1.1.
    let (code, d) = decide(&["052.96.1.1"]);
    assert_eq!((code, d["host"].as_str()), (1, Some("42.96.1.1")));
    // Full-width and ideographic dots: the canonical name decides, the spelling goes to
    // the proxy (a client passing it untouched reaches the PAC with no ASCII dot in it).
    for (spelling, name) in [
        (
            "login\u{ff0e}microsoftonline\u{ff0e}com",
            "login.microsoftonline.com",
        ),
        ("outlook.office365.com\u{3002}", "outlook.office365.com"),
    ] {
        let (code, d) = decide(&[spelling]);
        assert_eq!(code, 0, "{spelling}: {d}");
        assert_eq!(d["host"], name);
        assert_eq!(d["route"], "proxy", "{spelling}");
    }
}

#[test]
fn pac_test_reads_hosts_as_browsers_or_as_typed() {
    let out = run(&[
        "pac",
        "test",
        "052.96.1.1",
        "0x34.0x60.1.1",
        "login\u{ff0e}microsoftonline\u{ff0e}com",
        "877658369",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "052.96.1.1: PROXY 127.0.0.1:3128\n0x34.0x60.1.1: DIRECT\nlogin\u{ff0e}microsoftonline\u{ff0e}com: DIRECT\n877658369: PROXY 127.0.0.1:3128\n"
    );
    // As typed (libproxy, pypac): the generated PAC reads numbers itself and sends the
    // full-width spelling to the proxy.
    let out = run(&[
        "pac",
        "test",
        "--as-typed",
        "052.96.1.1",
        "0x34.0x60.1.1",
        "login\u{ff0e}microsoftonline\u{ff0e}com",
        "xn--login.microsoftonline.com",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "052.96.1.1: PROXY 127.0.0.1:3128\n0x34.0x60.1.1: DIRECT\nlogin\u{ff0e}microsoftonline\u{ff0e}com: PROXY 127.0.0.1:3128\nxn--login.microsoftonline.com: PROXY 127.0.0.1:3128\n"
    );
    // What the Standard refuses is an error, not a guess.
    let out = run(&["pac", "test", "xn--login.microsoftonline.com"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(": error: "));
}

#[test]
fn pac_test_evaluates_generated_and_user_pacs() {
    let out = run(&[
        "pac",
        "test",
        "outlook.office365.com",
        "https://X.SharePoint.com/sites/a",
        "www.example.com",
        "13.107.6.152",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "outlook.office365.com: DIRECT\nhttps://X.SharePoint.com/sites/a: DIRECT\nwww.example.com: PROXY 127.0.0.1:3128\n13.107.6.152: DIRECT\n"
    );
    // login.microsoftonline.com is Allow: DIRECT in type2, proxied in type1.
    let out = run(&[
        "pac",
        "test",
        "--profile",
        "type1",
        "login.microsoftonline.com",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "login.microsoftonline.com: PROXY 127.0.0.1:3128\n"
    );

    let dir = tempdir("pactest");
    let pac = dir.join("user.pac");
    std::fs::write(
        &pac,
        r#"function FindProxyForURL(url, host) {
  if (isInNet(dnsResolve(host), "10.0.0.0", "255.0.0.0")) return "DIRECT";
  if (dnsDomainIs(host, ".corp.example") && !isResolvable(host)) return "PROXY nx:1";
  alert("fallback for " + url);
  return "PROXY p:3128";
}"#,
    )
    .unwrap();
    let out = run(&[
        "pac",
        "test",
        "--pac",
        pac.to_str().unwrap(),
        "--resolve",
        "wiki.corp.example=10.1.2.3",
        "wiki.corp.example",
        "gone.corp.example",
        "http://www.example.com/x",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "wiki.corp.example: DIRECT\ngone.corp.example: PROXY nx:1\nhttp://www.example.com/x: PROXY p:3128\n"
    );
    assert!(stderr(&out).contains("alert: fallback for http://www.example.com/x"));

    // Broken PACs: exit 1 with the reason, never a hang.
    let cases = [
        ("function FindProxyForURL(url, host) {", "does not load"),
        ("var x = 1;", "no FindProxyForURL"),
        (
            "function FindProxyForURL(u, h) { return nope(); }",
            "failed",
        ),
        ("function FindProxyForURL(u, h) { for (;;) {} }", "error"),
    ];
    for (i, (text, why)) in cases.iter().enumerate() {
        let f = dir.join(format!("broken{i}.pac"));
        std::fs::write(&f, text).unwrap();
        let started = std::time::Instant::now();
        let out = run(&[
            "pac",
            "test",
            "--timeout-ms",
            "2000",
            "--pac",
            f.to_str().unwrap(),
            "a.b",
        ]);
        assert_eq!(out.status.code(), Some(1), "{text}");
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(all.contains(why), "{text}: {all}");
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
    let out = run(&["pac", "test", "--resolve", "nonsense", "a.b"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `check --pac` fails, listing the probe, when a template routes a host differently from
/// /decide.
#[test]
fn check_pac_reports_mismatches() {
    let dir = tempdir("badtemplate");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    // Everything DIRECT: wrong for every non-catalogue name.
    std::fs::write(
        dir.join("templates/lazy.pac.j2"),
        "function FindProxyForURL(url, host) { return \"DIRECT\"; }\n",
    )
    .unwrap();
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(
        &cfg,
        "[pac]\ntemplates_dir = \"templates\"\n[[profiles]]\nname = \"lazy\"\ndirect = [\"Optimize\"]\nproxy = \"PROXY p:1\"\ntemplate = \"lazy.pac.j2\"\n",
    )
    .unwrap();
    let out = run(&["check", "--pac", "--config", cfg.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("mismatch: profile lazy: host \"www.example.com\""),
        "{stdout}"
    );
    assert!(stdout.contains("PAC returns \"DIRECT\", /decide routes \"PROXY p:1\""));
    // Without --pac the same config is fine: the PAC is not evaluated.
    assert!(run(&["check", "--config", cfg.to_str().unwrap()])
        .status
        .success());
}

/// Runs `squid-helper` with `input` on stdin until it exits; returns (exit code, stdout lines,
/// stderr).
fn helper(args: &[&str], input: &[u8]) -> (Option<i32>, Vec<String>, String) {
    use std::io::Write;
    let mut child = bin()
        .arg("squid-helper")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("helper starts");
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
        // Dropping stdin is Squid closing the pipe.
    });
    let out = child.wait_with_output().expect("helper ends");
    writer.join().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The helper protocol in-process: both formats, channel IDs, Squid's trailing ACL
/// arguments, malformed and huge lines answered BH on their channel while the others are
/// served, a clean exit at end of input.
#[test]
fn squid_helper_protocol() {
    let cfg = repo("config/pacwarden.toml");
    let huge = format!("5 {}.example 443\n", "a".repeat(100_000));
    let input = format!(
        "0 outlook.office365.com 443 -\n1 www.example.com 443 -\n2 outlook.office365.com -\n3 host 0 -\n4 %ZZ 443\n{huge}6 13.107.6.152 443\nlogin.microsoftonline.com 443\n\
         7 0x34.0x60.1.1 443 -\n8 877658369 443 -\n9 xn--login.microsoftonline.com 443 -\n\
         10 login%EF%BC%8Emicrosoftonline%EF%BC%8Ecom 443 -\n11 outlook.office365.com 22 -\n"
    );
    let (code, lines, err) = helper(&["--config", cfg.to_str().unwrap()], input.as_bytes());
    assert_eq!(code, Some(0), "{err}");
    let want_prefix = [
        "0 OK message=\"outlook.office365.com (ms365:worldwide)\"",
        "1 ERR message=",
        "2 OK ",
        "3 BH message=\"bad request: port",
        "4 BH message=\"bad request: destination",
        "5 BH message=\"request line over",
        "6 OK message=\"13.107.6.152/31",
        "OK message=\"login.microsoftonline.com (ms365:worldwide)\"",
        // Read as clients read them: an address in any numeric spelling, a refusal for what
        // the URL Standard refuses, Unicode dots as dots.
        "7 OK message=\"52.96.0.0/14",
        "8 ERR message=\"not in the catalogue\"",
        "9 ERR message=\"bad host: international name",
        "10 OK message=\"login.microsoftonline.com (ms365:worldwide)\"",
        // Listed, but for other ports: the same words as the decision's.
        "11 ERR message=\"port not allowed: outlook.office365.com (ms365:worldwide) is listed for tcp 80,143,443,587,993,995 and udp 443 only, not tcp 22\"",
    ];
    assert_eq!(lines.len(), want_prefix.len(), "{lines:#?}");
    for (line, want) in lines.iter().zip(want_prefix) {
        assert!(
            line.starts_with(want),
            "{line:?} should start with {want:?}"
        );
    }
}

/// With the server unreachable: BH by default, or the configured fail-open / fail-closed
/// answer, and the log says which.
#[test]
fn squid_helper_without_a_server() {
    let dead = "http://127.0.0.1:9"; // discard port: nothing listens on loopback here
    let (code, lines, err) = helper(&["--url", dead], b"7 outlook.office365.com 443 -\n");
    assert_eq!(code, Some(0));
    assert!(
        lines[0].starts_with("7 BH message=\"no decision"),
        "{lines:?}"
    );
    assert!(err.contains("answering BH"), "{err}");
    let (_, lines, err) = helper(&["--url", dead, "--on-error", "ok"], b"8 a.example 443\n");
    assert!(
        lines[0].starts_with("8 OK message=\"fail open"),
        "{lines:?}"
    );
    assert!(err.contains("answering OK (fail open)"), "{err}");
    let (_, lines, err) = helper(&["--url", dead, "--on-error", "err"], b"a.example\n");
    assert!(
        lines[0].starts_with("ERR message=\"fail closed"),
        "{lines:?}"
    );
    assert!(err.contains("answering ERR (fail closed)"), "{err}");
    let (code, _, err) = helper(&["--url", "https://x"], b"");
    assert_eq!(code, Some(2), "{err}");
}

/// `--config` mode reloads its configuration on SIGHUP, between two requests.
#[test]
fn squid_helper_reloads_on_sighup() {
    use std::io::{BufRead, Write};
    let dir = tempdir("helper-hup");
    let cat = dir.join("catalogue.toml");
    std::fs::write(&cat, "[meta]\nname = \"corp\"\nversion = \"a\"\n[[sets]]\nid = 1\ncategory = \"Allow\"\nhosts = [\"*.alpha.example\"]\n").unwrap();
    let cfg = dir.join("pacwarden.toml");
    std::fs::write(
        &cfg,
        "[[catalogue.sources]]\nkind = \"native\"\npath = \"catalogue.toml\"\n",
    )
    .unwrap();
    let mut child = bin()
        .args(["squid-helper", "--config", cfg.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut ask = |line: &str| {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        stdout.read_line(&mut answer).unwrap();
        answer
    };
    assert!(ask("0 www.alpha.example 443").starts_with("0 OK"));
    assert!(ask("1 www.beta.example 443").starts_with("1 ERR"));
    std::fs::write(&cat, "[meta]\nname = \"corp\"\nversion = \"b\"\n[[sets]]\nid = 2\ncategory = \"Allow\"\nhosts = [\"*.beta.example\"]\n").unwrap();
    let ok = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(ask("2 www.beta.example 443").starts_with("2 OK"));
    assert!(ask("3 www.alpha.example 443").starts_with("3 ERR"));
    drop(stdin); // Squid closing the pipe: the helper exits.
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("configuration reloaded"));
}

/// The configuration files shown in docs/deployment.md (a Kubernetes ConfigMap) check.
#[test]
fn deployment_guide_configs_check() {
    let guide = std::fs::read_to_string(repo("docs/deployment.md")).unwrap();
    let dir = tempdir("guide");
    let mut files = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in guide.lines() {
        if let Some(name) = line
            .strip_prefix("  ")
            .and_then(|l| l.strip_suffix(": |"))
            .filter(|n| n.ends_with(".toml"))
        {
            files.extend(current.take());
            current = Some((name.to_owned(), String::new()));
        } else if let Some((_, text)) = current.as_mut() {
            match line.strip_prefix("    ") {
                Some(l) => {
                    text.push_str(l);
                    text.push('\n');
                }
                None if line.is_empty() => text.push('\n'),
                None => files.extend(current.take()),
            }
        }
    }
    files.extend(current.take());
    assert_eq!(files.len(), 2, "ConfigMap files in the guide");
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let cfg = dir.join("pacwarden.toml");
    let out = run(&["check", "--pac", "--config", cfg.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let (code, d) = decide(&["--config", cfg.to_str().unwrap(), "wiki.corp.example"]);
    assert_eq!((code, d["route"].as_str()), (0, Some("direct")));
}

/// A worker count that is not a positive number stops `serve` before it listens, with the
/// reason, instead of a panic or a silent default.
#[test]
fn serve_refuses_a_bad_worker_count() {
    for bad in ["0", "many", "-2"] {
        let out = bin()
            .env("TOKIO_WORKER_THREADS", bad)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .output()
            .expect("binary runs");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = stderr(&out);
        assert!(
            err.contains("TOKIO_WORKER_THREADS must be a positive number"),
            "{bad}: {err}"
        );
    }
}
