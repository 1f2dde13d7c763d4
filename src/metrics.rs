//! Prometheus metrics (prometheus-client). Handlers and the reloader only increment; the
//! registry is encoded on `GET /metrics`.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::state::Served;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub decision: &'static str,
    /// `none` for denials.
    pub category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProfileLabels {
    pub profile: String,
    pub encoding: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: String,
    pub version: String,
    pub kind: &'static str,
}

fn latency_histogram() -> Histogram {
    // 10 µs … ~1.3 s.
    Histogram::new(exponential_buckets(0.000_01, 2.0, 18))
}

/// Statuses whose request counters are cached per route; others are looked up each time.
const CACHED_STATUSES: [u16; 7] = [200, 304, 400, 403, 404, 405, 503];
/// What the router made of a request: the `route` label of the request metrics. An enum
/// rather than the label text, so that the router matches it and the metrics find its
/// handles by number instead of comparing strings on every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Decide,
    Healthz,
    Readyz,
    Catalogue,
    Metrics,
    Pac,
    PacNamed,
    Export,
    Changes,
    Other,
}

impl Route {
    const ALL: [Route; 10] = [
        Route::Decide,
        Route::Healthz,
        Route::Readyz,
        Route::Catalogue,
        Route::Metrics,
        Route::Pac,
        Route::PacNamed,
        Route::Export,
        Route::Changes,
        Route::Other,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Decide => "decide",
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Catalogue => "catalogue",
            Route::Metrics => "metrics",
            Route::Pac => "pac",
            Route::PacNamed => "pac_named",
            Route::Export => "export",
            Route::Changes => "changes",
            Route::Other => "other",
        }
    }
}

/// Handles into the families, filled on first use. A family lookup takes a lock and hashes
/// the labels; the hot path (every `/decide`) instead clones nothing and locks nothing but
/// the histogram. The handles share their values with the family, so `/metrics` is unchanged
/// and a series still appears only once it has been seen.
#[derive(Default)]
struct Handles {
    requests: [[OnceLock<Counter>; CACHED_STATUSES.len()]; Route::ALL.len()],
    latency: [OnceLock<Histogram>; Route::ALL.len()],
    /// `[verdict][category]`: allow/deny × none/Default/Allow/Optimize.
    decisions: [[OnceLock<Counter>; 4]; 2],
}

pub struct Metrics {
    registry: Registry,
    handles: Handles,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
    decisions: Family<DecisionLabels, Counter>,
    reloads: Family<ResultLabel, Counter>,
    last_success: Gauge,
    generation: Gauge,
    version: Family<VersionLabel, Gauge>,
    rules: Gauge,
    entries: Family<SourceLabels, Gauge>,
    pac_bytes: Family<ProfileLabels, Gauge>,
    sync_attempt: Gauge,
    sync_success: Gauge,
    sync_failures: Family<KindLabel, Counter>,
    upstream_version: Family<VersionLabel, Gauge>,
    tls_expiry: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("pacwarden");
        let m = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            decisions: Family::default(),
            reloads: Family::default(),
            last_success: Gauge::default(),
            generation: Gauge::default(),
            version: Family::default(),
            rules: Gauge::default(),
            entries: Family::default(),
            pac_bytes: Family::default(),
            sync_attempt: Gauge::default(),
            sync_success: Gauge::default(),
            sync_failures: Family::default(),
            upstream_version: Family::default(),
            tls_expiry: Gauge::default(),
            registry: Registry::default(),
            handles: Handles::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            m.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route",
            m.latency.clone(),
        );
        registry.register(
            "decisions",
            "Decisions by result and category",
            m.decisions.clone(),
        );
        registry.register("reloads", "Catalogue reloads by result", m.reloads.clone());
        registry.register(
            "reload_last_success_timestamp_seconds",
            "Unix time of the last successful catalogue load",
            m.last_success.clone(),
        );
        registry.register(
            "catalogue_generation",
            "Generation of the served catalogue",
            m.generation.clone(),
        );
        registry.register(
            "catalogue_version_info",
            "Version of the served catalogue (value is always 1)",
            m.version.clone(),
        );
        registry.register(
            "catalogue_rules",
            "Distinct patterns and prefixes compiled",
            m.rules.clone(),
        );
        registry.register(
            "catalogue_source_entries",
            "Endpoint sets per catalogue source",
            m.entries.clone(),
        );
        registry.register(
            "pac_size_bytes",
            "Size of each profile's PAC file, plain and gzipped",
            m.pac_bytes.clone(),
        );
        registry.register(
            "upstream_last_attempt_timestamp_seconds",
            "Unix time of the last sync attempt with the endpoint web service",
            m.sync_attempt.clone(),
        );
        registry.register(
            "upstream_last_success_timestamp_seconds",
            "Unix time of the last successful sync (current or updated)",
            m.sync_success.clone(),
        );
        registry.register(
            "upstream_sync_failures",
            "Failed syncs with the endpoint web service, by kind",
            m.sync_failures.clone(),
        );
        registry.register(
            "upstream_version_info",
            "Web-service version of the synced catalogue (value is always 1)",
            m.upstream_version.clone(),
        );
        // Both results from the start, so that rates and alerts work before the first reload.
        for result in ["success", "failure"] {
            let _ = m.reloads.get_or_create(&ResultLabel { result });
        }
        registry.register(
            "tls_certificate_expiry_timestamp_seconds",
            "Unix time the served HTTPS certificate expires (0 without HTTPS)",
            m.tls_expiry.clone(),
        );
        Metrics { registry, ..m }
    }

    /// A sync with the web service ended: `Ok(version)` or the failure's kind.
    pub fn sync(&self, result: Result<&str, &'static str>, unix_now: u64) {
        self.sync_attempt.set(unix_now as i64);
        match result {
            Ok(version) => {
                self.sync_success.set(unix_now as i64);
                self.upstream_version.clear();
                self.upstream_version
                    .get_or_create(&VersionLabel {
                        version: version.to_owned(),
                    })
                    .set(1);
            }
            Err(kind) => {
                self.sync_failures.get_or_create(&KindLabel { kind }).inc();
            }
        }
    }

    pub fn request(&self, route: Route, status: u16, seconds: f64) {
        let r = route as usize;
        let route = route.as_str();
        match CACHED_STATUSES.iter().position(|c| *c == status) {
            Some(s) => self.handles.requests[r][s]
                .get_or_init(|| {
                    self.requests
                        .get_or_create(&RequestLabels { route, status })
                        .clone()
                })
                .inc(),
            None => self
                .requests
                .get_or_create(&RequestLabels { route, status })
                .inc(),
        };
        self.handles.latency[r]
            .get_or_init(|| self.latency.get_or_create(&RouteLabel { route }).clone())
            .observe(seconds);
    }

    pub fn decision_parts(
        &self,
        verdict: crate::snapshot::Verdict,
        category: Option<crate::catalogue::Category>,
    ) {
        use crate::catalogue::Category;
        use crate::snapshot::Verdict;
        let (v, decision) = match verdict {
            Verdict::Allow => (0, "allow"),
            Verdict::Deny => (1, "deny"),
        };
        let c = match category {
            None => 0,
            Some(Category::Default) => 1,
            Some(Category::Allow) => 2,
            Some(Category::Optimize) => 3,
        };
        self.handles.decisions[v][c]
            .get_or_init(|| {
                let category = category.map_or("none", |c| c.as_str());
                self.decisions
                    .get_or_create(&DecisionLabels { decision, category })
                    .clone()
            })
            .inc();
    }

    /// A generation went live (the first load or a reload).
    pub fn loaded(&self, served: &Served, unix_now: u64) {
        let snap = &served.snapshot;
        self.tls_expiry.set(served.tls_expiry.unwrap_or(0));
        self.pac_bytes.clear();
        for pac in &served.pacs {
            self.pac_bytes
                .get_or_create(&ProfileLabels {
                    profile: pac.profile.clone(),
                    encoding: "identity",
                })
                .set(pac.body.len() as i64);
            self.pac_bytes
                .get_or_create(&ProfileLabels {
                    profile: pac.profile.clone(),
                    encoding: "gzip",
                })
                .set(pac.gzip.len() as i64);
        }
        self.generation.set(snap.generation() as i64);
        self.version.clear();
        self.version
            .get_or_create(&VersionLabel {
                version: snap.version().to_owned(),
            })
            .set(1);
        self.rules.set(snap.rule_count() as i64);
        self.entries.clear();
        let cat = snap.catalogue();
        for (i, s) in cat.sources.iter().enumerate() {
            let kind = match s.kind.as_str() {
                "ms365" => "ms365",
                "native" => "native",
                _ => "builtin",
            };
            self.entries
                .get_or_create(&SourceLabels {
                    source: s.name.clone(),
                    version: s.version.clone(),
                    kind,
                })
                .set(cat.counts(i).sets as i64);
        }
        self.last_success.set(unix_now as i64);
    }

    pub fn reload(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.reloads.get_or_create(&ResultLabel { result }).inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route counts under its own label, in the handle slot of its own number.
    #[test]
    fn each_route_counts_under_its_label() {
        let m = Metrics::new();
        for (n, route) in Route::ALL.into_iter().enumerate() {
            assert_eq!(route as usize, n, "{route:?}");
            for _ in 0..=n {
                m.request(route, 200, 0.000_02);
            }
            m.request(route, 299, 0.5);
        }
        let text = m.encode();
        for (n, route) in Route::ALL.into_iter().enumerate() {
            let label = route.as_str();
            for line in [
                format!(
                    "pacwarden_http_requests_total{{route=\"{label}\",status=\"200\"}} {}",
                    n + 1
                ),
                format!("pacwarden_http_requests_total{{route=\"{label}\",status=\"299\"}} 1"),
                format!(
                    "pacwarden_http_request_duration_seconds_count{{route=\"{label}\"}} {}",
                    n + 2
                ),
            ] {
                assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
            }
        }
    }
}
