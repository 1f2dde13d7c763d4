//! The served state: the current snapshot behind an `ArcSwap`, and reload counters.
//!
//! This is the only module that names `ArcSwap`. Request handlers take an owned `Arc` of the
//! current snapshot for the whole request (never a guard across `.await`), so every answer
//! comes wholly from one generation; the reloader swaps in a whole new snapshot at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::metrics::Metrics;
use crate::pac::RenderedPac;
use crate::profile::Profile;
use crate::snapshot::Snapshot;

/// One generation of everything served: swapped as a whole.
pub struct Served {
    pub snapshot: Snapshot,
    pub profiles: Vec<Profile>,
    /// Index of the default profile in `profiles`.
    pub default_profile: usize,
    /// Client networks and the profile each gets.
    pub clients: Vec<(ipnet::IpNet, usize)>,
    /// One rendered PAC per profile, same order as `profiles`.
    pub pacs: Vec<RenderedPac>,
    /// The HTTPS certificate and key, when an HTTPS listener is configured.
    pub tls: Option<Arc<rustls::sign::CertifiedKey>>,
    /// When that certificate expires (Unix seconds).
    pub tls_expiry: Option<i64>,
    /// The configuration file's directory: source paths are shown relative to it.
    pub config_dir: std::path::PathBuf,
    /// `/decide` answers rendered once per rule and profile.
    pub decide_json: crate::http::decide_json::DecideJson,
    /// Exports and the catalogue view, each rendered on first request and then served
    /// from memory for the rest of the generation.
    pub rendered: Rendered,
}

/// Answers rendered at most once per generation.
#[derive(Default)]
pub struct Rendered {
    /// One slot per export format and profile: `[format][profile]`.
    pub exports: Vec<Vec<std::sync::OnceLock<Option<RenderedExport>>>>,
    /// The catalogue view after its per-request counters (see the HTTP layer).
    pub catalogue_tail: std::sync::OnceLock<bytes::Bytes>,
}

impl Rendered {
    pub fn new(formats: usize, profiles: usize) -> Rendered {
        Rendered {
            exports: (0..formats)
                .map(|_| (0..profiles).map(|_| std::sync::OnceLock::new()).collect())
                .collect(),
            catalogue_tail: std::sync::OnceLock::new(),
        }
    }
}

/// An export as served: body, content type and how many patterns it could not express.
#[derive(Clone)]
pub struct RenderedExport {
    pub body: bytes::Bytes,
    pub content_type: &'static str,
    pub unexpressed: usize,
}

impl Served {
    /// The profile for a client address: longest matching client network, else the default.
    pub fn profile_for_client(&self, client: std::net::IpAddr) -> usize {
        let client = client.to_canonical();
        self.clients
            .iter()
            .filter(|(net, _)| net.contains(&client))
            .max_by_key(|(net, _)| net.prefix_len())
            .map_or(self.default_profile, |&(_, p)| p)
    }

    pub fn profile(&self, name: &str) -> Option<usize> {
        self.profiles.iter().position(|p| p.name == name)
    }
}

pub struct State {
    current: ArcSwap<Served>,
    pub metrics: Metrics,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    /// Unix seconds of the last successful load (startup included).
    last_success: AtomicU64,
    draining: AtomicBool,
    /// The last `/changes` summary from the web service, as served at /catalogue/changes.
    changes: ArcSwap<Option<bytes::Bytes>>,
}

impl State {
    pub fn new(first: Served) -> State {
        let metrics = Metrics::new();
        metrics.loaded(&first, unix_now());
        State {
            current: ArcSwap::from_pointee(first),
            metrics,
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            last_success: AtomicU64::new(unix_now()),
            draining: AtomicBool::new(false),
            changes: ArcSwap::from_pointee(None),
        }
    }

    /// Replaces the last changes summary (JSON).
    pub fn set_changes(&self, json: bytes::Bytes) {
        self.changes.store(Arc::new(Some(json)));
    }

    /// The last changes summary, if there is one.
    pub fn changes(&self) -> Option<bytes::Bytes> {
        self.changes.load().as_ref().clone()
    }

    /// The current generation, owned: hold it for the whole request.
    pub fn current(&self) -> Arc<Served> {
        self.current.load_full()
    }

    /// The current generation for synchronous use: no reference count traffic, so request
    /// handlers that never await use this. Never hold it across an `.await`.
    pub fn guard(&self) -> arc_swap::Guard<Arc<Served>> {
        self.current.load()
    }

    /// Installs a new generation; requests already running keep the one they hold.
    pub fn swap(&self, next: Served) {
        let now = unix_now();
        self.metrics.loaded(&next, now);
        self.current.store(Arc::new(next));
        self.reloads_ok.fetch_add(1, Ordering::Relaxed);
        self.metrics.reload(true);
        self.last_success.store(now, Ordering::Relaxed);
    }

    pub fn record_failure(&self) {
        self.reloads_failed.fetch_add(1, Ordering::Relaxed);
        self.metrics.reload(false);
    }

    pub fn reloads(&self) -> (u64, u64) {
        (
            self.reloads_ok.load(Ordering::Relaxed),
            self.reloads_failed.load(Ordering::Relaxed),
        )
    }

    pub fn last_success(&self) -> u64 {
        self.last_success.load(Ordering::Relaxed)
    }

    /// Shutting down: `/readyz` turns 503 so load balancers stop sending new requests.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        !self.draining.load(Ordering::Relaxed)
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
