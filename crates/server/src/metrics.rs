//! Prometheus metrics at `/metrics` (text exposition format 0.0.4), kept in atomics so that counting costs nothing
//! on the hot path.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;

const BUCKETS_MS: [u64; 9] = [1, 2, 5, 10, 20, 50, 100, 500, 2000];
const GROUPS: [&str; 4] = ["taxii", "api", "metrics", "other"];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Counters and a latency histogram per route group.
pub struct Metrics {
    requests: [[AtomicU64; 5]; 4],
    latency: [[AtomicU64; 10]; 4],
    latency_sum_us: [AtomicU64; 4],
    pub auth_failures: AtomicU64,
    pub auth_rate_limited: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub objects_served: AtomicU64,
    pub objects_received: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Default::default(),
            latency: Default::default(),
            latency_sum_us: Default::default(),
            auth_failures: AtomicU64::new(0),
            auth_rate_limited: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            objects_served: AtomicU64::new(0),
            objects_received: AtomicU64::new(0),
        }
    }
}

pub fn group_of(path: &str) -> usize {
    if path.starts_with("/taxii2") {
        0
    } else if path.starts_with("/api/") {
        1
    } else if path == "/metrics" {
        2
    } else {
        3
    }
}

impl Metrics {
    pub fn observe(&self, group: usize, status: u16, micros: u64) {
        let class = usize::from(status / 100).saturating_sub(1).min(4);
        self.requests[group][class].fetch_add(1, Relaxed);
        let ms = micros / 1000;
        let b = BUCKETS_MS
            .iter()
            .position(|&le| ms < le)
            .unwrap_or(BUCKETS_MS.len());
        self.latency[group][b].fetch_add(1, Relaxed);
        self.latency_sum_us[group].fetch_add(micros, Relaxed);
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP vigil_http_requests_total HTTP requests by route group and status class.\n# TYPE vigil_http_requests_total counter"
        );
        for (g, name) in GROUPS.iter().enumerate() {
            for (c, class) in CLASSES.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "vigil_http_requests_total{{group=\"{name}\",status=\"{class}\"}} {}",
                    self.requests[g][c].load(Relaxed)
                );
            }
        }
        let _ = writeln!(
            s,
            "# HELP vigil_http_request_duration_seconds Request latency.\n# TYPE vigil_http_request_duration_seconds histogram"
        );
        for (g, name) in GROUPS.iter().enumerate() {
            let mut cum = 0;
            for (i, le) in BUCKETS_MS.iter().enumerate() {
                cum += self.latency[g][i].load(Relaxed);
                let _ = writeln!(s, "vigil_http_request_duration_seconds_bucket{{group=\"{name}\",le=\"{}\"}} {cum}", *le as f64 / 1000.0);
            }
            cum += self.latency[g][BUCKETS_MS.len()].load(Relaxed);
            let _ = writeln!(
                s,
                "vigil_http_request_duration_seconds_bucket{{group=\"{name}\",le=\"+Inf\"}} {cum}"
            );
            let _ = writeln!(
                s,
                "vigil_http_request_duration_seconds_sum{{group=\"{name}\"}} {}",
                self.latency_sum_us[g].load(Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                s,
                "vigil_http_request_duration_seconds_count{{group=\"{name}\"}} {cum}"
            );
        }
        for (name, help, v) in [
            (
                "vigil_auth_failures_total",
                "Requests with an invalid, expired or revoked token.",
                &self.auth_failures,
            ),
            (
                "vigil_auth_rate_limited_total",
                "Requests refused because of repeated authentication failures.",
                &self.auth_rate_limited,
            ),
            (
                "vigil_page_cache_hits_total",
                "TAXII pages served from the page cache.",
                &self.cache_hits,
            ),
            (
                "vigil_page_cache_misses_total",
                "TAXII pages read from the store.",
                &self.cache_misses,
            ),
            (
                "vigil_taxii_objects_served_total",
                "STIX objects served in TAXII pages read from the store.",
                &self.objects_served,
            ),
            (
                "vigil_taxii_objects_received_total",
                "STIX objects received through TAXII POST.",
                &self.objects_received,
            ),
        ] {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Relaxed)
            );
        }
        s
    }
}

pub async fn render(State(st): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.text(),
    )
}
