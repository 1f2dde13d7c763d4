//! `pacwarden serve`: wires configuration → first snapshot → state → listener → reloader →
//! shutdown. Owns task lifetimes, not domain logic.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Loaded, LogConfig, LogFormat};
use crate::http::workers::Workers;
use crate::reload::{self, Reloader};
use crate::state::State;

/// A tokio runtime on the caller's thread, or exit code 1 with the reason printed.
pub fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::from(1)
        })
}

/// Runs the server until SIGTERM or SIGINT. The calling thread accepts connections and owns
/// every timer, signal and reload; connections are served on the [`Workers`] threads.
pub fn serve(config_path: Option<PathBuf>, listen: Option<SocketAddr>) -> ExitCode {
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let workers = Workers::count_from_env().and_then(|n| {
        Workers::start(n).map_err(|e| format!("cannot start the worker threads: {e}"))
    });
    match workers {
        Ok(workers) => runtime.block_on(run(config_path, listen, Arc::new(workers))),
        // A bad TOKIO_WORKER_THREADS is bad usage.
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(
    config_path: Option<PathBuf>,
    listen: Option<SocketAddr>,
    workers: Arc<Workers>,
) -> ExitCode {
    // One crypto provider for the process, whatever features dependencies enable.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // Before anything slow: from here on SIGHUP means "reload", never "terminate".
    let hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot install the SIGHUP handler: {e}");
            return ExitCode::from(1);
        }
    };
    let config = match Loaded::load(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            for line in e.to_string().lines() {
                eprintln!("error: {line}");
            }
            return ExitCode::from(1);
        }
    };
    init_logging(&config.config.log);
    let mut server = config.config.server.clone();
    if let Some(addr) = listen {
        server.listen = addr;
    }
    let first = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || crate::load::served(&config, 1, None)).await
    };
    let served = match first {
        Ok(Ok((s, warnings))) => {
            for w in &warnings {
                tracing::warn!(warning = w.as_str(), "catalogue warning");
            }
            s
        }
        Ok(Err(problems)) => {
            for p in &problems {
                tracing::error!(problem = p.as_str(), "catalogue problem");
            }
            tracing::error!(
                problems = problems.len(),
                "no valid catalogue to serve; exiting"
            );
            return ExitCode::from(1);
        }
        Err(e) => {
            tracing::error!(error = %e, "loading the catalogue failed");
            return ExitCode::from(1);
        }
    };
    let snap = &served.snapshot;
    for (i, s) in snap.catalogue().sources.iter().enumerate() {
        let c = snap.catalogue().counts(i);
        tracing::info!(
            source = s.name.as_str(),
            version = s.version.as_str(),
            sets = c.sets,
            hosts = c.hosts,
            prefixes = c.prefixes_v4 + c.prefixes_v6,
            "catalogue source"
        );
    }
    for pac in &served.pacs {
        tracing::info!(
            profile = pac.profile.as_str(),
            bytes = pac.body.len(),
            gzip_bytes = pac.gzip.len(),
            "PAC rendered"
        );
    }
    tracing::info!(
        generation = 1,
        version = snap.version(),
        rules = snap.rule_count(),
        "catalogue loaded"
    );
    let state = Arc::new(State::new(served));
    let listener = match TcpListener::bind(server.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %server.listen, error = %e, "cannot listen");
            return ExitCode::from(1);
        }
    };
    tracing::info!(workers = workers.count(), "worker threads started");
    match listener.local_addr() {
        Ok(addr) => tracing::info!("listening on http://{addr}"),
        Err(e) => tracing::warn!(error = %e, "listening, address unknown"),
    }
    let https = match config.config.tls.listen {
        None => None,
        Some(addr) => match TcpListener::bind(addr).await {
            Ok(l) => {
                match l.local_addr() {
                    Ok(a) => tracing::info!("listening on https://{a}"),
                    Err(e) => tracing::warn!(error = %e, "listening (TLS), address unknown"),
                }
                Some(l)
            }
            Err(e) => {
                tracing::error!(%addr, error = %e, "cannot listen (TLS)");
                return ExitCode::from(1);
            }
        },
    };
    let (tx, rx) = reload::channel();
    if server.watch_interval_secs > 0 {
        tokio::spawn(reload::watch_files(
            config_path.clone(),
            std::time::Duration::from_secs(server.watch_interval_secs),
            tx.clone(),
        ));
    }
    if let Some(up) = config.config.upstream.clone() {
        tokio::spawn(crate::upstream::run(
            config.clone(),
            up,
            state.clone(),
            tx.clone(),
        ));
    }
    tokio::spawn(reload::forward_sighup(hup, tx));
    let reloader = Reloader {
        config_path,
        server: config.config.server.clone(),
        tls: config.config.tls.clone(),
        state: state.clone(),
        generation: 1,
    };
    tokio::spawn(reloader.run(rx));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let tls_task = https.map(|l| {
        let acceptor = crate::http::tls::acceptor(state.clone());
        tokio::spawn(crate::http::serve(
            l,
            Some(acceptor),
            state.clone(),
            server.clone(),
            stop_rx.clone(),
            workers.clone(),
        ))
    });
    crate::http::serve(listener, None, state, server, stop_rx, workers.clone()).await;
    if let Some(t) = tls_task {
        let _ = t.await;
    }
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            tracing::warn!("cannot install SIGTERM/SIGINT handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

fn init_logging(cfg: &LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let _ = match cfg.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
