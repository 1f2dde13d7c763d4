//! Microsoft's endpoint web service as a catalogue source: `/version` is checked and, only
//! when `latest` differs from what is cached, `/endpoints` is downloaded, validated like any
//! catalogue and stored in the cache directory; `/changes` is summarised for the log and
//! `GET /catalogue/changes`. The loader never knows about HTTP: it reads the cache through
//! [`crate::config::Loaded::sources`].

pub mod cache;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Loaded, UpstreamConfig};

/// Largest body accepted from the web service; the Worldwide catalogue is about 100 KB.
pub const MAX_BODY: u64 = 16 << 20;

/// Why a sync failed. `kind()` labels the failure metric.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url}: rate limited (HTTP 429)")]
    RateLimited { url: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: content type {found:?}, expected application/json")]
    ContentType { url: String, found: String },
    #[error("{url}: body larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: not the expected JSON: {reason}")]
    BadJson { url: String, reason: String },
    #[error("{url}: the catalogue is invalid ({count} problem(s)); first: {first}")]
    Invalid {
        url: String,
        count: usize,
        first: String,
    },
    #[error("cache {path}: {reason}")]
    Cache { path: String, reason: String },
}

impl SyncError {
    pub fn kind(&self) -> &'static str {
        match self {
            SyncError::Transport { .. } => "transport",
            SyncError::RateLimited { .. } => "rate_limited",
            SyncError::Status { .. } => "status",
            SyncError::ContentType { .. } => "content_type",
            SyncError::TooLarge { .. } => "too_large",
            SyncError::BadJson { .. } => "bad_json",
            SyncError::Invalid { .. } => "invalid",
            SyncError::Cache { .. } => "cache",
        }
    }

    /// Worth retrying soon (with backoff) rather than at the next regular check.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            SyncError::Transport { .. } | SyncError::RateLimited { .. }
        ) || matches!(self, SyncError::Status { status, .. } if *status >= 500)
    }
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `/version` says what is cached is current.
    Unchanged { version: String },
    /// A new catalogue was downloaded, validated and stored.
    Updated {
        version: String,
        previous: Option<String>,
        changes: Option<Box<ChangeSummary>>,
    },
}

/// What `/changes` reported since the previous version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSummary {
    pub instance: String,
    pub from_version: String,
    pub to_version: String,
    pub records: usize,
    pub sets_added: usize,
    pub sets_removed: usize,
    pub hosts_added: Vec<String>,
    pub hosts_removed: Vec<String>,
    pub prefixes_added: Vec<String>,
    pub prefixes_removed: Vec<String>,
}

#[derive(Deserialize)]
struct VersionRecord {
    latest: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ChangeRecord {
    #[serde(default)]
    disposition: String,
    #[serde(default)]
    add: Option<AddRemove>,
    #[serde(default)]
    remove: Option<AddRemove>,
}

#[derive(Deserialize, Default)]
struct AddRemove {
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    ips: Vec<String>,
}

/// Summarises a `/changes` answer.
pub fn summarise(
    instance: &str,
    from: &str,
    to: &str,
    body: &[u8],
) -> Result<ChangeSummary, String> {
    let records: Vec<ChangeRecord> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut s = ChangeSummary {
        instance: instance.to_owned(),
        from_version: from.to_owned(),
        to_version: to.to_owned(),
        records: records.len(),
        ..ChangeSummary::default()
    };
    for r in &records {
        match r.disposition.to_ascii_lowercase().as_str() {
            "add" => s.sets_added += 1,
            "remove" => s.sets_removed += 1,
            _ => {}
        }
        if let Some(a) = &r.add {
            s.hosts_added.extend(a.urls.iter().cloned());
            s.prefixes_added.extend(a.ips.iter().cloned());
        }
        if let Some(rm) = &r.remove {
            s.hosts_removed.extend(rm.urls.iter().cloned());
            s.prefixes_removed.extend(rm.ips.iter().cloned());
        }
    }
    Ok(s)
}

/// A client for one `[upstream]` section: hyper's HTTP/1.1 client over rustls, one
/// connection per call (a handful of calls an hour).
pub struct Client {
    tls: tokio_rustls::TlsConnector,
    up: UpstreamConfig,
    cache_dir: std::path::PathBuf,
    id: String,
    timeout: Duration,
}

/// One request on a fresh HTTP/1.1 connection over `io`.
async fn send<T>(
    io: T,
    request: hyper::Request<http_body_util::Empty<bytes::Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP: {e}"))
}

/// The system's trusted roots (Debian's bundle, or `SSL_CERT_FILE`).
fn system_roots() -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let files = [
        std::env::var("SSL_CERT_FILE").unwrap_or_default(),
        "/etc/ssl/certs/ca-certificates.crt".into(),
        "/etc/pki/tls/certs/ca-bundle.crt".into(),
    ];
    for f in files.iter().filter(|f| !f.is_empty()) {
        if let Ok(iter) = CertificateDer::pem_file_iter(f) {
            let certs: Vec<_> = iter.flatten().collect();
            if !certs.is_empty() {
                return certs;
            }
        }
    }
    Vec::new()
}

impl Client {
    pub fn new(config: &Loaded, up: &UpstreamConfig) -> Result<Client, SyncError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let cache_dir = config.upstream_cache_dir(up);
        let mut roots = system_roots();
        if let Some(ca) = config.upstream_ca_file(up) {
            let fail = |reason: String| SyncError::Cache {
                path: ca.display().to_string(),
                reason,
            };
            let iter = CertificateDer::pem_file_iter(&ca).map_err(|e| fail(e.to_string()))?;
            let extra: Vec<_> = iter
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail(e.to_string()))?;
            if extra.is_empty() {
                return Err(fail("no certificate in the file".into()));
            }
            roots.extend(extra);
        }
        let mut store = rustls::RootCertStore::empty();
        let (_added, _ignored) = store.add_parsable_certificates(roots);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SyncError::Transport {
                url: up.base_url.clone(),
                reason: e.to_string(),
            })?
            .with_root_certificates(store)
            .with_no_client_auth();
        let id =
            cache::client_request_id(&cache_dir, up.client_request_id.as_deref()).map_err(|e| {
                SyncError::Cache {
                    path: cache_dir.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
        Ok(Client {
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            up: up.clone(),
            cache_dir,
            id,
            timeout: Duration::from_secs(up.timeout.0),
        })
    }

    /// The id sent as `clientrequestid`.
    pub fn request_id(&self) -> &str {
        &self.id
    }

    fn url(&self, path: &str, extra: &[(&str, String)]) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("clientrequestid", &self.id);
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        format!(
            "{}/{path}?{}",
            self.up.base_url.trim_end_matches('/'),
            q.finish()
        )
    }

    /// GET a JSON document: 200, a JSON content type, at most [`MAX_BODY`] bytes, all within
    /// the timeout (a slowly dripping answer included).
    async fn get_json(&self, url: &str) -> Result<Vec<u8>, SyncError> {
        match tokio::time::timeout(self.timeout, self.fetch(url)).await {
            Ok(r) => r,
            Err(_) => Err(SyncError::Transport {
                url: url.to_owned(),
                reason: format!("no complete answer within {:?}", self.timeout),
            }),
        }
    }

    async fn fetch(&self, url: &str) -> Result<Vec<u8>, SyncError> {
        use http_body_util::BodyExt;
        use hyper::header;
        let transport = |reason: String| SyncError::Transport {
            url: url.to_owned(),
            reason,
        };
        let uri: hyper::Uri = url.parse().map_err(|e| transport(format!("{e}")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(transport("base_url must be http:// or https://".into())),
        };
        let host = uri
            .host()
            .ok_or_else(|| transport("no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| transport(format!("connect: {e}")))?;
        let request = hyper::Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(header::HOST, authority)
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("pacwarden/", env!("CARGO_PKG_VERSION")),
            )
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|e| transport(e.to_string()))?;
        let response = if https {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| transport(e.to_string()))?;
            let stream = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| transport(format!("TLS: {e}")))?;
            send(stream, request).await
        } else {
            send(tcp, request).await
        }
        .map_err(transport)?;
        let status = response.status().as_u16();
        if status == 429 {
            return Err(SyncError::RateLimited {
                url: url.to_owned(),
            });
        }
        if status != 200 {
            return Err(SyncError::Status {
                url: url.to_owned(),
                status,
            });
        }
        let ct = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(SyncError::ContentType {
                url: url.to_owned(),
                found: ct,
            });
        }
        let mut body = response.into_body();
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| transport(format!("reading the body: {e}")))?;
            if let Some(data) = frame.data_ref() {
                if (out.len() + data.len()) as u64 > MAX_BODY {
                    return Err(SyncError::TooLarge {
                        url: url.to_owned(),
                        limit: MAX_BODY,
                    });
                }
                out.extend_from_slice(data);
            }
        }
        Ok(out)
    }

    /// One sync: `/version`, then `/endpoints` and `/changes` only when the version moved.
    pub async fn sync_once(&self, now_unix: u64) -> Result<Outcome, SyncError> {
        let instance = self.up.instance.clone();
        let url = self.url(&format!("version/{instance}"), &[]);
        let body = self.get_json(&url).await?;
        let v: VersionRecord = serde_json::from_slice(&body).map_err(|e| SyncError::BadJson {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let cached = cache::pointer(&self.cache_dir, &instance)
            .filter(|_| cache::current(&self.cache_dir, &self.up).is_some());
        if cached.as_ref().is_some_and(|p| p.version == v.latest) {
            return Ok(Outcome::Unchanged { version: v.latest });
        }
        let mut params: Vec<(&str, String)> = Vec::new();
        if !self.up.service_areas.is_empty() {
            params.push(("ServiceAreas", self.up.service_areas.join(",")));
        }
        if let Some(t) = &self.up.tenant {
            params.push(("TenantName", t.clone()));
        }
        if self.up.no_ipv6 {
            params.push(("NoIPv6", "true".into()));
        }
        let url = self.url(&format!("endpoints/{instance}"), &params);
        let body = self.get_json(&url).await?;
        let text = std::str::from_utf8(&body).map_err(|e| SyncError::BadJson {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        // Garbage and truncated JSON first, then the catalogue's own rules.
        serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| SyncError::BadJson {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        // Validated exactly as a catalogue file would be.
        crate::catalogue::ms365::parse(text, &url, 0).map_err(|e| {
            let problems: Vec<String> = e.to_string().lines().map(str::to_owned).collect();
            SyncError::Invalid {
                url: url.clone(),
                count: problems.len(),
                first: problems.first().cloned().unwrap_or_default(),
            }
        })?;
        cache::store(&self.cache_dir, &instance, &v.latest, &body, now_unix).map_err(|e| {
            SyncError::Cache {
                path: self.cache_dir.display().to_string(),
                reason: e.to_string(),
            }
        })?;
        let previous = cached.map(|p| p.version);
        let mut changes = None;
        if let Some(prev) = &previous {
            let url = self.url(&format!("changes/{instance}/{prev}"), &[]);
            let summary = match self.get_json(&url).await {
                Ok(b) => summarise(&instance, prev, &v.latest, &b),
                Err(e) => Err(e.to_string()),
            };
            match summary {
                Ok(s) => {
                    if let Ok(json) = serde_json::to_vec_pretty(&s) {
                        let _ = cache::write_atomic(
                            &cache::changes_path(&self.cache_dir, &instance),
                            &json,
                        );
                    }
                    changes = Some(Box::new(s));
                }
                Err(e) => {
                    tracing::warn!(
                        error = e.as_str(),
                        "cannot read the changes since the previous version"
                    );
                }
            }
        }
        Ok(Outcome::Updated {
            version: v.latest,
            previous,
            changes,
        })
    }
}

/// How long to wait after `failures` consecutive failures: a rate limit means Microsoft's
/// hour (or the interval, if longer); other retryable failures back off exponentially from
/// the interval, capped at a day. `jitter` (0.8–1.2) spreads replicas apart.
pub fn retry_delay(interval: Duration, failures: u32, rate_limited: bool, jitter: f64) -> Duration {
    let base = if rate_limited {
        interval.max(Duration::from_secs(3600))
    } else {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
        interval
            .saturating_mul(factor)
            .min(Duration::from_secs(86_400))
    };
    base.mul_f64(jitter.clamp(0.8, 1.2))
}

/// 64 unpredictable-enough bits: the standard library's per-process random hash keys over
/// the time and process id. For jitter and ids, not for cryptography.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// A number in 0.8–1.2, different per call and per process.
fn jitter() -> f64 {
    0.8 + (random_u64() % 4001) as f64 / 10_000.0
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The sync loop of `serve`: syncs at start-up and every `interval`; a new catalogue goes
/// into the one reload path. The server keeps serving whatever happens here.
pub async fn run(
    config: Loaded,
    up: UpstreamConfig,
    state: Arc<crate::state::State>,
    tx: tokio::sync::mpsc::Sender<crate::reload::Trigger>,
) {
    let interval = Duration::from_secs(up.interval.0);
    if interval < Duration::from_secs(3600) {
        tracing::warn!(
            interval_secs = up.interval.0,
            "upstream.interval is under an hour; Microsoft asks clients to check /version at most hourly"
        );
    }
    let cache_dir = config.upstream_cache_dir(&up);
    if let Ok(json) = std::fs::read(cache::changes_path(&cache_dir, &up.instance)) {
        state.set_changes(json.into());
    }
    let client = loop {
        let (c, u) = (config.clone(), up.clone());
        match tokio::task::spawn_blocking(move || Client::new(&c, &u)).await {
            Ok(Ok(client)) => break Arc::new(client),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "upstream sync cannot start");
                state.metrics.sync(Err(e.kind()), unix_now());
            }
            Err(e) => tracing::error!(error = %e, "upstream sync cannot start"),
        }
        tokio::time::sleep(interval).await;
    };
    tracing::info!(
        instance = up.instance.as_str(),
        client_request_id = client.request_id(),
        interval_secs = up.interval.0,
        "upstream sync started"
    );
    let mut failures = 0u32;
    loop {
        let result = client.sync_once(unix_now()).await;
        let delay = match result {
            Ok(Outcome::Unchanged { version }) => {
                failures = 0;
                state.metrics.sync(Ok(&version), unix_now());
                tracing::debug!(version, "upstream catalogue is current");
                interval
            }
            Ok(Outcome::Updated {
                version,
                previous,
                changes,
            }) => {
                failures = 0;
                state.metrics.sync(Ok(&version), unix_now());
                match &changes {
                    Some(s) => tracing::info!(
                        version,
                        previous = previous.as_deref().unwrap_or("none"),
                        records = s.records,
                        sets_added = s.sets_added,
                        sets_removed = s.sets_removed,
                        hosts_added = s.hosts_added.len(),
                        hosts_removed = s.hosts_removed.len(),
                        prefixes_added = s.prefixes_added.len(),
                        prefixes_removed = s.prefixes_removed.len(),
                        "upstream catalogue updated"
                    ),
                    None => tracing::info!(
                        version,
                        previous = previous.as_deref().unwrap_or("none"),
                        "upstream catalogue updated"
                    ),
                }
                if let Some(s) = changes {
                    if let Ok(json) = serde_json::to_vec_pretty(&s) {
                        state.set_changes(json.into());
                    }
                }
                // Full means a reload is pending; it will read the new cache.
                if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) =
                    tx.try_send(crate::reload::Trigger::Upstream)
                {
                    return;
                }
                interval
            }
            Err(e) => {
                failures += 1;
                state.metrics.sync(Err(e.kind()), unix_now());
                let delay = if e.retryable() {
                    retry_delay(
                        interval,
                        failures,
                        matches!(e, SyncError::RateLimited { .. }),
                        jitter(),
                    )
                } else {
                    interval
                };
                tracing::warn!(
                    error = %e,
                    kind = e.kind(),
                    failures,
                    retry_in_secs = delay.as_secs(),
                    "upstream sync failed; still serving the current catalogue"
                );
                delay
            }
        };
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_summarised() {
        let body = br#"[
          {"id": 1, "endpointSetId": 5, "disposition": "Change", "version": "2025120100",
           "add": {"effectiveDate": "20251231", "urls": ["new.example.com"], "ips": ["192.0.2.0/24"]}},
          {"id": 2, "endpointSetId": 9, "disposition": "Add", "version": "2025120100",
           "add": {"urls": ["*.added.example"]}},
          {"id": 3, "endpointSetId": 7, "disposition": "Remove", "version": "2025120100",
           "remove": {"urls": ["old.example.com"], "ips": ["198.51.100.0/24"]}}
        ]"#;
        let s = summarise("Worldwide", "2025110100", "2025120100", body).unwrap();
        assert_eq!((s.records, s.sets_added, s.sets_removed), (3, 1, 1));
        assert_eq!(s.hosts_added, ["new.example.com", "*.added.example"]);
        assert_eq!(s.hosts_removed, ["old.example.com"]);
        assert_eq!(s.prefixes_added, ["192.0.2.0/24"]);
        assert_eq!(s.prefixes_removed, ["198.51.100.0/24"]);
        assert!(summarise("W", "a", "b", b"{\"not\": \"a list\"}").is_err());
    }

    #[test]
    fn backoff() {
        let h = Duration::from_secs(3600);
        let m = Duration::from_secs(60);
        assert_eq!(retry_delay(m, 1, false, 1.0), m);
        assert_eq!(retry_delay(m, 2, false, 1.0), 2 * m);
        assert_eq!(retry_delay(m, 5, false, 1.0), 16 * m);
        assert_eq!(retry_delay(h, 30, false, 1.0), Duration::from_secs(86_400));
        assert_eq!(retry_delay(Duration::from_secs(1), 1, true, 1.0), h);
        assert_eq!(retry_delay(m, 1, false, 5.0), m.mul_f64(1.2));
        let j = jitter();
        assert!((0.8..=1.2).contains(&j));
    }

    #[test]
    fn retryable_errors() {
        let u = || "u".to_string();
        assert!(SyncError::RateLimited { url: u() }.retryable());
        assert!(SyncError::Status {
            url: u(),
            status: 503
        }
        .retryable());
        assert!(!SyncError::Status {
            url: u(),
            status: 404
        }
        .retryable());
        assert!(!SyncError::BadJson {
            url: u(),
            reason: u()
        }
        .retryable());
    }
}
