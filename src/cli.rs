//! Command line: `check`, `decide`, `import`. Each command returns its exit code; nothing
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
    Check(ConfigArg),
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
    /// Convert an external catalogue into the native format (printed to stdout).
    Import {
        #[command(subcommand)]
        what: ImportKind,
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
        Command::Serve { config, listen } => crate::app::serve(config.config, listen),
        Command::Check(c) => check(c.config),
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

fn check(config: Option<PathBuf>) -> ExitCode {
    let result = load_config(config).and_then(|c| crate::load::served(&c, 1));
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
    let h = match host::normalize(input) {
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
    let d = snap.decide(&h, q, profile);
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
            return ExitCode::from(1);
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
            ExitCode::from(1)
        }
    }
}
