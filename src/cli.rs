//! Command line: `check`, `decide`, `export`, `fetch`, `pac`, `squid-helper`, `import`. Each command returns its exit code; nothing
//! here parses catalogues itself, it goes through [`crate::load`].

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::catalogue::{ms365, native, Proto};
use crate::config::Loaded;
use crate::host;
use crate::matcher::PortQuery;
use crate::snapshot::Verdict;

#[derive(Debug, Parser)]
#[command(
    name = "pacwarden",
    version,
    about = "Where traffic may go: PAC files and allow/deny decisions from a catalogue of trusted endpoints"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Configuration file (TOML). Without it the built-in catalogue is used;
    /// PACWARDEN_* environment variables override either.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve /decide and the ops endpoints over HTTP; SIGHUP reloads, SIGTERM stops.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Listen address (overrides server.listen and PACWARDEN_SERVER__LISTEN).
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Validate configuration and every catalogue source; print counts per source.
    /// Exits 1 listing every problem.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Also evaluate every profile's PAC on probes derived from the catalogue and
        /// require each answer to equal the route /decide gives; every mismatch is listed.
        #[arg(long)]
        pac: bool,
    },
    /// Decide one host or IP address and print the decision as JSON.
    /// Exits 0 for allow, 1 for deny, 2 for bad input.
    Decide {
        #[command(flatten)]
        config: ConfigArg,
        /// Only sets listing this port are candidates.
        #[arg(long, short = 'p')]
        port: Option<u16>,
        /// Protocol of --port.
        #[arg(long, default_value = "tcp", value_parser = parse_proto)]
        proto: Proto,
        /// Routing profile: type1 (Optimize direct), type2 (Optimize and Allow direct) or
        /// one from the configuration; default: pac.default_profile.
        #[arg(long)]
        profile: Option<String>,
        /// Host name or IP address (IPv6 with or without brackets).
        host: String,
    },
    /// Run as a Squid external_acl_type helper (formats %DST and %DST %PORT, with or without
    /// concurrency channel IDs): OK for allowed destinations, ERR for denied ones, with the
    /// deciding rule in message=.
    SquidHelper {
        /// Ask this running server (keep-alive HTTP). The default without --config.
        #[arg(long, value_name = "URL", conflicts_with = "config")]
        url: Option<String>,
        /// Decide in-process from this configuration instead; SIGHUP reloads it.
        #[arg(long, short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
        /// Routing profile (default: the server's or configuration's default).
        #[arg(long)]
        profile: Option<String>,
        /// Answer when no decision can be had: bh (Squid's broken-helper result), ok (fail
        /// open) or err (fail closed).
        #[arg(long, value_enum, default_value = "bh")]
        on_error: crate::squid::OnError,
    },
    /// Sync once with Microsoft's endpoint web service ([upstream] in the configuration):
    /// check /version, download and validate /endpoints only when it moved, store it in the
    /// cache directory. Exits 0 when current or updated, 1 when the sync failed.
    Fetch(ConfigArg),
    /// Print the catalogue for tools that cannot ask /decide: squid (dstdomain/dst ACLs),
    /// hosts-plain, csv, json, nginx-map. Patterns a format cannot express are listed on
    /// stderr (and as comments in the output).
    Export {
        #[command(flatten)]
        config: ConfigArg,
        /// squid, hosts-plain, csv, json or nginx-map.
        format: String,
        /// Profile whose routes are exported (default: pac.default_profile).
        #[arg(long)]
        profile: Option<String>,
    },
    /// Evaluate PAC files.
    Pac {
        #[command(subcommand)]
        what: PacCommand,
    },
    /// Convert an external catalogue into the native format (printed to stdout).
    Import {
        #[command(subcommand)]
        what: ImportKind,
    },
}

#[derive(Debug, Subcommand)]
pub enum PacCommand {
    /// Print what FindProxyForURL returns for each URL or host, like pacparser's pactester:
    /// the generated PAC of a profile, or any PAC file. Exits 1 if any evaluation fails.
    Test {
        #[command(flatten)]
        config: ConfigArg,
        /// Profile whose generated PAC is tested (default: pac.default_profile).
        #[arg(long)]
        profile: Option<String>,
        /// Test this PAC file instead ("-" for standard input).
        #[arg(long, value_name = "FILE")]
        pac: Option<PathBuf>,
        /// What dnsResolve and isInNet see for a name (repeatable). Names not listed do not
        /// resolve; no real DNS query is ever made.
        #[arg(long, value_name = "HOST=IP")]
        resolve: Vec<String>,
        /// What myIpAddress returns (repeatable; default 127.0.0.1).
        #[arg(long, value_name = "IP")]
        my_ip: Vec<std::net::IpAddr>,
        /// Hand the PAC each host as typed, as libproxy, pypac and pacparser do, instead of
        /// reading it as a browser does first (lowercase, punycode, canonical addresses).
        #[arg(long)]
        as_typed: bool,
        /// Longest a load or a single call may take, in milliseconds.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
        /// URLs (https://host/path) or bare hosts.
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Print a profile's generated PAC. Unlike the server, prints PACs over 1 MiB too (with
    /// a warning), for measuring.
    Render {
        #[command(flatten)]
        config: ConfigArg,
        /// Profile (default: pac.default_profile).
        #[arg(long)]
        profile: Option<String>,
        /// Template to use instead of the profile's.
        #[arg(long)]
        template: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportKind {
    /// A Microsoft 365 endpoint web-service JSON file.
    Ms365 {
        /// The JSON file, as /endpoints/{instance} returns it.
        file: PathBuf,
        /// Instance the file was fetched from.
        #[arg(long, default_value = "Worldwide")]
        instance: String,
        /// Version to record (default: digest of the file).
        #[arg(long)]
        version: Option<String>,
        /// Keep the web service's free-text notes.
        #[arg(long)]
        with_notes: bool,
        /// Write here instead of stdout.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
}

fn parse_proto(s: &str) -> Result<Proto, String> {
    s.parse()
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve { config, listen } => match missing_config(&config.config) {
            Some(code) => code,
            None => crate::app::serve(config.config, listen),
        },
        Command::Check { config, pac } => check(config.config, pac),
        Command::Export {
            config,
            format,
            profile,
        } => export(config.config, &format, profile),
        Command::Fetch(c) => fetch(c.config),
        Command::SquidHelper {
            url,
            config,
            profile,
            on_error,
        } => squid_helper(url, config, profile, on_error),
        Command::Pac {
            what:
                PacCommand::Test {
                    config,
                    profile,
                    pac,
                    resolve,
                    my_ip,
                    as_typed,
                    timeout_ms,
                    targets,
                },
        } => match engine_options(&resolve, my_ip, timeout_ms) {
            Ok(opts) => pac_test(config.config, profile, pac, opts, as_typed, &targets),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Pac {
            what:
                PacCommand::Render {
                    config,
                    profile,
                    template,
                },
        } => pac_render(config.config, profile, template),
        Command::Decide {
            config,
            port,
            proto,
            profile,
            host,
        } => decide(config.config, port, proto, profile, &host),
        Command::Import {
            what:
                ImportKind::Ms365 {
                    file,
                    instance,
                    version,
                    with_notes,
                    output,
                },
        } => import_ms365(file, &instance, version, with_notes, output),
    }
}

fn load_config(path: Option<PathBuf>) -> Result<Loaded, Vec<String>> {
    Loaded::load(path.as_deref()).map_err(|e| e.to_string().lines().map(str::to_owned).collect())
}

fn print_problems(problems: &[String]) {
    let mut err = std::io::stderr().lock();
    for p in problems {
        let _ = writeln!(err, "error: {p}");
    }
    let _ = writeln!(err, "{} problem(s) found", problems.len());
}

/// Exit status 2 when a configuration file named on the command line cannot be read: the
/// command cannot run, which is not the same as a configuration with problems.
fn missing_config(config: &Option<PathBuf>) -> Option<ExitCode> {
    let path = config.as_ref()?;
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => None,
        _ => {
            eprintln!("error: {}: config file not found", path.display());
            Some(ExitCode::from(2))
        }
    }
}

fn check(config: Option<PathBuf>, pac: bool) -> ExitCode {
    if let Some(code) = missing_config(&config) {
        return code;
    }
    let result = load_config(config).and_then(|c| crate::load::served(&c, 1, None));
    let (served, warnings) = match result {
        Ok(s) => s,
        Err(problems) => {
            print_problems(&problems);
            return ExitCode::from(1);
        }
    };
    let snap = &served.snapshot;
    let cat = snap.catalogue();
    let mut out = std::io::stdout().lock();
    for (i, s) in cat.sources.iter().enumerate() {
        let c = cat.counts(i);
        let _ = writeln!(
            out,
            "{}\t{} sets, {} hosts, {} IPv4 + {} IPv6 prefixes ({} inbound, {} deny)\tversion {}\tfrom {}",
            s.name, c.sets, c.hosts, c.prefixes_v4, c.prefixes_v6, c.inbound_sets, c.deny_sets, s.version, s.origin
        );
    }
    for (profile, pac) in served.profiles.iter().zip(&served.pacs) {
        let default = if served.profiles[served.default_profile].name == profile.name {
            " (default)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "profile {}{default}\tPAC {} bytes, {} gzipped\tproxy {:?}",
            profile.name,
            pac.body.len(),
            pac.gzip.len(),
            profile.proxy
        );
    }
    for w in &warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if pac && !check_pacs(&served, &mut out) {
        let _ = writeln!(out, "the PACs disagree with /decide");
        return ExitCode::from(1);
    }
    let _ = writeln!(
        out,
        "catalogue version {}: {} rules compiled, ok",
        snap.version(),
        snap.rule_count()
    );
    ExitCode::SUCCESS
}

fn decide(
    config: Option<PathBuf>,
    port: Option<u16>,
    proto: Proto,
    profile: Option<String>,
    input: &str,
) -> ExitCode {
    if port == Some(0) {
        eprintln!("error: port 0 is not a destination port");
        return ExitCode::from(2);
    }
    let h = match host::read(input) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: bad host: {e}");
            return ExitCode::from(2);
        }
    };
    let loaded = load_config(config).and_then(|c| {
        let profiles = c.profiles()?;
        Ok((crate::load::snapshot(&c, 1)?, profiles))
    });
    let (snap, (profiles, default)) = match loaded {
        Ok(s) => s,
        Err(problems) => {
            print_problems(&problems);
            return ExitCode::from(2);
        }
    };
    let wanted = profile.unwrap_or_else(|| profiles[default].name.clone());
    let Some(profile) = profiles.iter().find(|p| p.name == wanted) else {
        let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
        eprintln!("error: unknown profile {wanted:?} ({})", names.join(", "));
        return ExitCode::from(2);
    };
    let q = port.map(|port| PortQuery { proto, port });
    let d = snap.decide_read(&h, q, profile);
    match serde_json::to_string(&d) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    match d.decision {
        Verdict::Allow => ExitCode::SUCCESS,
        Verdict::Deny => ExitCode::from(1),
    }
}

fn import_ms365(
    file: PathBuf,
    instance: &str,
    version: Option<String>,
    with_notes: bool,
    output: Option<PathBuf>,
) -> ExitCode {
    let label = file.display().to_string();
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {label}: cannot read: {e}");
            return ExitCode::from(2);
        }
    };
    let mut sets = match ms365::parse(&text, &label, 0) {
        Ok(s) => s,
        Err(e) => {
            let problems: Vec<String> = e.into_problems().iter().map(ToString::to_string).collect();
            print_problems(&problems);
            return ExitCode::from(1);
        }
    };
    if !with_notes {
        for s in &mut sets {
            s.notes.clear();
        }
    }
    // What the web service lists under its own platforms' suffixes stays accepted in the
    // native form, where it must say so.
    crate::catalogue::mark_microsoft_breadth(&mut sets);
    let meta = native::Meta {
        name: Some(format!("ms365:{}", instance.to_ascii_lowercase())),
        version: Some(version.unwrap_or_else(|| crate::catalogue::content_version(&text))),
        instance: Some(instance.to_owned()),
        description: None,
    };
    let header = format!(
        "Converted by `pacwarden import ms365` from a Microsoft 365 endpoint web-service\n\
         response ({instance}, {} endpoint sets). Regenerate rather than edit.",
        sets.len()
    );
    let body = native::write(&meta, &sets, &header);
    let written = match output {
        Some(path) => std::fs::write(&path, body).map_err(|e| format!("{}: {e}", path.display())),
        None => std::io::stdout()
            .lock()
            .write_all(body.as_bytes())
            .map_err(|e| e.to_string()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write: {e}");
            ExitCode::from(2)
        }
    }
}

/// The index of the named profile, or of the default one.
fn pick_profile(
    profiles: &[crate::profile::Profile],
    default: usize,
    wanted: Option<&str>,
) -> Result<usize, String> {
    let Some(wanted) = wanted else {
        return Ok(default);
    };
    profiles
        .iter()
        .position(|p| p.name == wanted)
        .ok_or_else(|| {
            let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
            format!("unknown profile {wanted:?} ({})", names.join(", "))
        })
}

/// `--resolve host=ip` entries as the engine's table.
fn resolve_table(
    entries: &[String],
) -> Result<std::collections::BTreeMap<String, Vec<std::net::IpAddr>>, String> {
    let mut table: std::collections::BTreeMap<String, Vec<std::net::IpAddr>> = Default::default();
    for e in entries {
        let (name, ip) = e
            .split_once('=')
            .ok_or_else(|| format!("--resolve {e:?}: expected HOST=IP"))?;
        let ip: std::net::IpAddr = ip
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("--resolve {e:?}: {ip:?} is not an IP address"))?;
        let name = match host::normalize(name.trim()) {
            Ok(host::Host::Name(n)) => n.into_owned(),
            Ok(host::Host::Ip(_)) => {
                return Err(format!(
                    "--resolve {e:?}: {name:?} is an address, not a name"
                ))
            }
            Err(err) => return Err(format!("--resolve {e:?}: bad host: {err}")),
        };
        table.entry(name).or_default().push(ip);
    }
    Ok(table)
}

/// The embedded engine's DNS table, `myIpAddress` and deadline from `pac test`'s options.
fn engine_options(
    resolve: &[String],
    my_ip: Vec<std::net::IpAddr>,
    timeout_ms: u64,
) -> Result<crate::pac::engine::EngineOptions, String> {
    Ok(crate::pac::engine::EngineOptions {
        resolve: resolve_table(resolve)?,
        my_ip,
        timeout: std::time::Duration::from_millis(timeout_ms.max(1)),
    })
}

fn pac_test(
    config: Option<PathBuf>,
    profile: Option<String>,
    pac_file: Option<PathBuf>,
    opts: crate::pac::engine::EngineOptions,
    as_typed: bool,
    targets: &[String],
) -> ExitCode {
    use crate::pac::engine::{url_and_host, Evaluator};
    let text = match pac_file {
        Some(path) if path.as_os_str() == "-" => {
            let mut s = String::new();
            match std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
                Ok(_) => s,
                Err(e) => {
                    eprintln!("error: standard input: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        Some(path) => match std::fs::read(&path) {
            // PAC files in the wild are not always UTF-8; browsers read them as Latin-1 then.
            Ok(bytes) => String::from_utf8(bytes)
                .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| char::from(b)).collect()),
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => {
            let served = load_config(config).and_then(|c| crate::load::served(&c, 1, None));
            let (served, _) = match served {
                Ok(s) => s,
                Err(problems) => {
                    print_problems(&problems);
                    return ExitCode::from(2);
                }
            };
            let i = match pick_profile(&served.profiles, served.default_profile, profile.as_deref())
            {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            String::from_utf8_lossy(&served.pacs[i].body).into_owned()
        }
    };
    let mut engine = match Evaluator::load(&text, &opts) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    for target in targets {
        let (url, host) = match url_and_host(target, as_typed) {
            Ok(u) => u,
            Err(e) => {
                failed = true;
                let _ = writeln!(out, "{target}: error: {e}");
                continue;
            }
        };
        match engine.find_proxy(&url, &host) {
            Ok(a) => {
                for alert in &a.alerts {
                    eprintln!("alert: {alert}");
                }
                let _ = writeln!(out, "{target}: {}", a.result);
            }
            Err(e) => {
                failed = true;
                let _ = writeln!(out, "{target}: error: {e}");
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn pac_render(
    config: Option<PathBuf>,
    profile: Option<String>,
    template: Option<String>,
) -> ExitCode {
    let (loaded, snap, mut profile) = match load_with_profile(config, profile.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let templates = match crate::pac::Templates::load(loaded.templates_dir().as_deref()) {
        Ok(t) => t,
        Err(problems) => {
            print_problems(&problems);
            return ExitCode::from(2);
        }
    };
    if let Some(t) = template {
        profile.template = t;
    }
    match templates.render_any_size(&snap, &profile) {
        Ok(text) => {
            if text.len() > crate::pac::HARD_LIMIT {
                eprintln!(
                    "warning: the PAC is {} bytes; Chromium ignores PAC files over {} and the server refuses to serve it",
                    text.len(),
                    crate::pac::HARD_LIMIT
                );
            }
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        // An unknown template, or one that does not render: unusable input.
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `check --pac`: every profile's PAC against /decide on the catalogue probes.
fn check_pacs(served: &crate::state::Served, out: &mut impl Write) -> bool {
    use crate::pac::agreement;
    let snap = &served.snapshot;
    let probes = agreement::probes(snap.catalogue());
    let opts = crate::pac::engine::EngineOptions::default();
    let mut ok = true;
    for (profile, pac) in served.profiles.iter().zip(&served.pacs) {
        let text = String::from_utf8_lossy(&pac.body);
        match agreement::check(snap, profile, &text, &probes, &opts) {
            Ok(r) if r.mismatches.is_empty() => {
                let _ = writeln!(
                    out,
                    "profile {}\tPAC agrees with /decide on {} probes",
                    profile.name, r.probes
                );
            }
            Ok(r) => {
                ok = false;
                for m in &r.mismatches {
                    let _ = writeln!(
                        out,
                        "mismatch: profile {}: host {:?}: PAC returns {:?}, /decide routes {:?}",
                        profile.name, m.probe.host, m.pac, m.decide
                    );
                }
                let _ = writeln!(
                    out,
                    "profile {}\t{} of {} probes disagree",
                    profile.name,
                    r.mismatches.len(),
                    r.probes
                );
            }
            Err(e) => {
                ok = false;
                let _ = writeln!(
                    out,
                    "profile {}\tPAC cannot be evaluated: {e}",
                    profile.name
                );
            }
        }
    }
    ok
}

/// Loads the in-process decider of `squid-helper --config`.
fn squid_local(
    config: &std::path::Path,
    profile: Option<&str>,
) -> Result<crate::squid::LocalDecider, Vec<String>> {
    let c = load_config(Some(config.to_path_buf()))?;
    let (profiles, default) = c.profiles()?;
    let i = pick_profile(&profiles, default, profile).map_err(|e| vec![e])?;
    Ok(crate::squid::LocalDecider {
        snapshot: crate::load::snapshot(&c, 1)?,
        profile: profiles[i].clone(),
    })
}

fn squid_helper(
    url: Option<String>,
    config: Option<PathBuf>,
    profile: Option<String>,
    on_error: crate::squid::OnError,
) -> ExitCode {
    use crate::squid::{self, Answer, OnError};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let log = |msg: &str| eprintln!("pacwarden squid-helper: {msg}");
    // SIGHUP (in-process mode) marks the configuration for reloading before the next line.
    let hup = Arc::new(AtomicBool::new(false));
    if config.is_some() {
        let flag = hup.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(_) => return,
            };
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut s) = signal(SignalKind::hangup()) else {
                    return;
                };
                let _ = ready_tx.send(());
                while s.recv().await.is_some() {
                    flag.store(true, Ordering::SeqCst);
                }
            });
        });
        let _ = ready_rx.recv_timeout(std::time::Duration::from_secs(5));
    }
    enum Decider {
        Local(Box<squid::LocalDecider>),
        Remote(squid::RemoteDecider),
    }
    let mut decider = match &config {
        Some(path) => match squid_local(path, profile.as_deref()) {
            Ok(d) => Decider::Local(Box::new(d)),
            Err(problems) => {
                for p in &problems {
                    log(&format!("error: {p}"));
                }
                return ExitCode::from(2);
            }
        },
        None => {
            let url = url.unwrap_or_else(|| "http://127.0.0.1:8080".into());
            match squid::RemoteDecider::new(&url, profile.clone()) {
                Ok(d) => Decider::Remote(d),
                Err(e) => {
                    log(&format!("error: {e}"));
                    return ExitCode::from(2);
                }
            }
        }
    };
    let fallback = |why: String| -> Answer {
        let (word, answer) = match on_error {
            OnError::Bh => ("BH", Answer::Bh(format!("no decision: {why}"))),
            OnError::Ok => ("OK (fail open)", Answer::Ok(format!("fail open: {why}"))),
            OnError::Err => (
                "ERR (fail closed)",
                Answer::Err(format!("fail closed: {why}")),
            ),
        };
        log(&format!("no decision ({why}); answering {word}"));
        answer
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    loop {
        let line = match squid::read_line(&mut input) {
            Ok(Some(l)) => l,
            // Squid closed our input: it is done with this helper.
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => {
                log(&format!("reading standard input: {e}"));
                return ExitCode::from(1);
            }
        };
        if hup.swap(false, Ordering::SeqCst) {
            if let Some(path) = &config {
                match squid_local(path, profile.as_deref()) {
                    Ok(d) => {
                        decider = Decider::Local(Box::new(d));
                        log("configuration reloaded");
                    }
                    Err(problems) => {
                        for p in &problems {
                            log(&format!("reload refused: {p}"));
                        }
                    }
                }
            }
        }
        let (channel, answer) = match line {
            Err(start) => (
                squid::channel_of(&start).map(str::to_owned),
                Answer::Bh(format!("request line over {} bytes", squid::MAX_LINE)),
            ),
            Ok(text) => match squid::parse(&text) {
                Err((channel, why)) => (channel, Answer::Bh(format!("bad request: {why}"))),
                Ok(req) => {
                    let answer = match &mut decider {
                        Decider::Local(d) => d.answer(&req),
                        Decider::Remote(d) => d.answer(&req).unwrap_or_else(fallback),
                    };
                    (req.channel, answer)
                }
            },
        };
        let reply = squid::format(channel.as_deref(), &answer);
        if writeln!(out, "{reply}").and_then(|()| out.flush()).is_err() {
            return ExitCode::SUCCESS;
        }
    }
}

/// The configuration, its compiled snapshot and the named (or default) profile; on failure
/// the problems are printed and the exit code returned.
fn load_with_profile(
    config: Option<PathBuf>,
    profile: Option<&str>,
) -> Result<(Loaded, crate::snapshot::Snapshot, crate::profile::Profile), ExitCode> {
    let loaded = load_config(config).and_then(|c| {
        let (profiles, default) = c.profiles()?;
        let snap = crate::load::snapshot(&c, 1)?;
        Ok((c, snap, profiles, default))
    });
    let (c, snap, profiles, default) = loaded.map_err(|problems| {
        print_problems(&problems);
        ExitCode::from(2)
    })?;
    let i = pick_profile(&profiles, default, profile).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    Ok((c, snap, profiles[i].clone()))
}

fn export(config: Option<PathBuf>, format: &str, profile: Option<String>) -> ExitCode {
    let (_, snap, profile) = match load_with_profile(config, profile.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    match crate::export::export(&snap, &profile, format) {
        Ok(e) => {
            for p in &e.unexpressed {
                eprintln!("warning: not expressible in {format}, left out: {p}");
            }
            let _ = std::io::stdout().lock().write_all(e.body.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn fetch(config: Option<PathBuf>) -> ExitCode {
    use crate::upstream::{Client, Outcome};
    let c = match load_config(config) {
        Ok(c) => c,
        Err(problems) => {
            print_problems(&problems);
            return ExitCode::from(2);
        }
    };
    let Some(up) = c.config.upstream.clone() else {
        eprintln!("error: the configuration has no [upstream] section");
        return ExitCode::from(2);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let runtime = match crate::app::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let client = Client::new(&c, &up)?;
        client.sync_once(now).await
    });
    match result {
        Ok(Outcome::Unchanged { version }) => {
            println!(
                "{}: version {version} is current; nothing downloaded",
                up.instance
            );
            ExitCode::SUCCESS
        }
        Ok(Outcome::Updated {
            version,
            previous,
            changes,
        }) => {
            println!(
                "{}: updated to version {version} (was {})",
                up.instance,
                previous.as_deref().unwrap_or("none")
            );
            if let Some(s) = changes {
                println!(
                    "changes: {} records, sets +{} -{}, hosts +{} -{}, prefixes +{} -{}",
                    s.records,
                    s.sets_added,
                    s.sets_removed,
                    s.hosts_added.len(),
                    s.hosts_removed.len(),
                    s.prefixes_added.len(),
                    s.prefixes_removed.len()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: sync failed ({}): {e}", e.kind());
            ExitCode::from(1)
        }
    }
}
