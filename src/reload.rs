//! The one reload path. SIGHUP, the file watcher and the upstream sync only send a
//! [`Trigger`] into one channel; a single task re-reads the configuration and every catalogue
//! source, compiles, and swaps the whole snapshot in — or, if anything is wrong, logs every
//! problem and keeps serving the snapshot it has.

use std::path::{Path, PathBuf};
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
    /// The file watcher saw a watched file change.
    FileChanged,
    /// The upstream sync stored a new catalogue.
    Upstream,
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

/// What a file looked like: identity, size and modification time, following symlinks (a
/// Kubernetes ConfigMap update swaps a symlink; the target's inode changes). `None` when it
/// cannot be read.
type Fingerprint = Vec<(PathBuf, Option<(u64, u64, u64, std::time::SystemTime)>)>;

fn fingerprint(config_path: Option<&Path>) -> Fingerprint {
    use std::os::unix::fs::MetadataExt;
    let paths = match Loaded::load(config_path) {
        Ok(config) => config.watched_paths(),
        // A configuration that does not load: watch it, so fixing it triggers a reload.
        Err(_) => config_path.map(Path::to_path_buf).into_iter().collect(),
    };
    paths
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p)
                .ok()
                .and_then(|m| Some((m.dev(), m.ino(), m.len(), m.modified().ok()?)));
            (p, meta)
        })
        .collect()
}

/// Polls the watched files every `interval` and sends a reload when they changed and then
/// stayed the same for one interval, so a file written in several steps (or several files
/// edited together) costs one reload of the finished state. Polling, not inotify: it works
/// the same on every file system, including ConfigMap volumes and network mounts.
pub async fn watch_files(
    config_path: Option<PathBuf>,
    interval: std::time::Duration,
    tx: mpsc::Sender<Trigger>,
) {
    let take = |path: Option<PathBuf>| async move {
        tokio::task::spawn_blocking(move || fingerprint(path.as_deref()))
            .await
            .unwrap_or_default()
    };
    let mut acted = take(config_path.clone()).await;
    let mut last = acted.clone();
    loop {
        tokio::time::sleep(interval).await;
        let now = take(config_path.clone()).await;
        if now != acted && now == last {
            tracing::info!("watched files changed; reloading");
            // Full means a reload is already pending and will read these files.
            if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(Trigger::FileChanged) {
                return;
            }
            acted = now.clone();
        }
        last = now;
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
            let state = self.state.clone();
            let result = tokio::task::spawn_blocking(move || {
                let config = Loaded::load(path.as_deref())
                    .map_err(|e| e.to_string().lines().map(str::to_owned).collect::<Vec<_>>())?;
                let previous = state.guard();
                let served =
                    crate::load::served(&config, next, Some(previous.snapshot.catalogue()))?;
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
