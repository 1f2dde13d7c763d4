//! The one reload path. SIGHUP (and, later, a file watcher and the upstream sync) only send a
//! [`Trigger`] into one channel; a single task re-reads the configuration and every catalogue
//! source, compiles, and swaps the whole snapshot in — or, if anything is wrong, logs every
//! problem and keeps serving the snapshot it has.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::signal::unix::Signal;
use tokio::sync::mpsc;

use crate::config::{Loaded, ServerConfig, TlsConfig};
use crate::state::State;

/// Why a reload was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Sighup,
}

/// The reload channel. One slot: while a reload is pending, further triggers are dropped, so
/// a burst of signals costs one reload.
pub fn channel() -> (mpsc::Sender<Trigger>, mpsc::Receiver<Trigger>) {
    mpsc::channel(1)
}

/// Forwards every SIGHUP into the reload channel. The signal handler is registered by the
/// caller before the first load, so an early SIGHUP never terminates the process.
pub async fn forward_sighup(mut hup: Signal, tx: mpsc::Sender<Trigger>) {
    while hup.recv().await.is_some() {
        // Full means a reload is already pending and will see the newest files.
        let _ = tx.try_send(Trigger::Sighup);
    }
}

/// Everything the reloader needs to rebuild the served state.
pub struct Reloader {
    pub config_path: Option<PathBuf>,
    /// Listener settings in force; a reload that changes them warns that a restart is needed.
    pub server: ServerConfig,
    /// HTTPS listener settings in force (the certificate itself is reloaded).
    pub tls: TlsConfig,
    pub state: Arc<State>,
    pub generation: u64,
}

impl Reloader {
    /// Runs until the channel closes, one reload at a time.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Trigger>) {
        while let Some(trigger) = rx.recv().await {
            let started = Instant::now();
            let path = self.config_path.clone();
            let next = self.generation + 1;
            let result = tokio::task::spawn_blocking(move || {
                let config = Loaded::load(path.as_deref())
                    .map_err(|e| e.to_string().lines().map(str::to_owned).collect::<Vec<_>>())?;
                let served = crate::load::served(&config, next)?;
                Ok::<_, Vec<String>>((config, served))
            })
            .await
            .unwrap_or_else(|e| Err(vec![format!("reload task failed: {e}")]));
            match result {
                Ok((config, (served, warnings))) => {
                    for w in &warnings {
                        tracing::warn!(warning = w.as_str(), "catalogue warning");
                    }
                    if config.config.server != self.server
                        || config.config.tls.listen != self.tls.listen
                    {
                        tracing::warn!(
                            "server settings changed in the configuration; they take effect after a restart"
                        );
                    }
                    let snap = &served.snapshot;
                    let (version, rules) = (snap.version().to_owned(), snap.rule_count());
                    self.state.swap(served);
                    self.generation = next;
                    tracing::info!(
                        ?trigger,
                        generation = next,
                        version,
                        rules,
                        duration_ms = started.elapsed().as_millis() as u64,
                        "catalogue reloaded"
                    );
                }
                Err(problems) => {
                    for problem in &problems {
                        tracing::error!(problem = problem.as_str(), "reload problem");
                    }
                    self.state.record_failure();
                    tracing::warn!(
                        ?trigger,
                        problems = problems.len(),
                        generation = self.generation,
                        duration_ms = started.elapsed().as_millis() as u64,
                        "reload refused; still serving the previous catalogue"
                    );
                }
            }
        }
    }
}
