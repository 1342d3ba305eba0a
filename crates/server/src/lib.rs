//! Vigil as a service: the REST API under `/api/v1`, the TAXII 2.1 server under `/taxii2/`, Prometheus metrics,
//! and what they stand on: members and their eligibility, API tokens, the TLP visibility rule and an audit trail.
//!
//! [`app`] builds the whole router over an [`AppState`] (tests drive it with `tower::ServiceExt::oneshot`);
//! [`serve`] runs it on a socket, with TLS when given a certificate, until SIGINT/SIGTERM.

pub mod api;
pub mod atom;
pub mod audit;
pub mod auth;
pub mod context;
pub mod counter;
pub mod detection;
mod doc;
pub mod error;
pub mod member_api;
pub mod metrics;
pub mod notices;
pub mod policy;
pub mod taxii;
pub mod tokens;
pub mod web;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use vigil_model::Tlp;
use vigil_store::ServerStore;

/// What the operator configures for the server (`[server]` in vigil.toml; flags override).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// How often the certificate files are looked at for a renewal (`[server] tls_reload_seconds`).
    pub tls_reload: Duration,
    /// Marking assumed for unmarked objects.
    pub default_tlp: Tlp,
    /// Serve TLP:CLEAR to callers without a token.
    pub anonymous_clear: bool,
    /// Largest request body accepted (TAXII POST, ingest upload).
    pub max_body: usize,
    /// Largest page a client may ask for (TAXII `limit`, REST `limit`).
    pub max_page: usize,
    /// Failed authentications allowed per client address per minute before 429.
    pub auth_failures_per_minute: u32,
    /// Requests per token per minute (None: no quota, the default).
    pub quota_per_minute: Option<u32>,
    /// Entries kept in the response cache (pages are cached until the store changes).
    pub cache_entries: usize,
    /// Bytes of page bodies kept in the response cache (bounds its memory whatever the page size).
    pub cache_bytes: usize,
    pub title: String,
    /// Publisher namespace written into the CSAF form of notices.
    pub publisher_namespace: String,
    /// The address clients reach the server at, when a reverse proxy stands in front of it
    /// (`https://vigil.csirt.example` or `https://proxy.example/vigil`): TAXII discovery names API roots below it.
    /// `None`: the scheme of this listener and the address the client asked for.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            tls_cert: None,
            tls_key: None,
            tls_reload: Duration::from_secs(60),
            default_tlp: Tlp::Amber,
            anonymous_clear: false,
            max_body: 32 * 1024 * 1024,
            max_page: 1000,
            auth_failures_per_minute: 20,
            quota_per_minute: None,
            cache_entries: 4096,
            cache_bytes: 64 * 1024 * 1024,
            title: "Vigil".into(),
            publisher_namespace: "https://vigil.local".into(),
            public_url: None,
        }
    }
}

/// Shared state of a running server.
pub struct AppState {
    pub store: Arc<dyn ServerStore>,
    pub cfg: ServerConfig,
    pub data: PathBuf,
    pub tokens: tokens::TokenCache,
    pub limiter: auth::FailureLimiter,
    pub quotas: auth::Quotas,
    pub metrics: metrics::Metrics,
    pub cache: taxii::PageCache,
    /// Detection content and MISP feeds rendered per caller view (`/api/v1/exports/...`, `/api/v1/feeds/misp/...`).
    pub feeds: detection::FeedCache,
    /// Detection renderings running at once (the rest wait).
    pub renders: detection::RenderGate,
    pub audit: audit::Audit,
    pub eligibility_extra: Vec<String>,
    /// What the binary wires in once the state exists (set at most once, before serving).
    pub hooks: std::sync::OnceLock<Hooks>,
}

/// Work the server asks of the binary, which owns what the server crate may not do itself.
#[derive(Clone, Default)]
pub struct Hooks {
    /// A member's inventory changed (uploaded or removed): re-evaluate that member's notices; returns the report.
    #[allow(clippy::type_complexity)]
    pub inventory_changed:
        Option<Arc<dyn Fn(i64) -> Result<serde_json::Value, String> + Send + Sync>>,
    /// Render detection content (Zeek intel, RPZ, CSV, MISP, and the Suricata, blocklist and MISP-feed files) from
    /// what a caller may see.
    pub detection_export: Option<detection::DetectionHook>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("inventory_changed", &self.inventory_changed.is_some())
            .field("detection_export", &self.detection_export.is_some())
            .finish()
    }
}

impl AppState {
    /// State over an opened store in `data` (the audit log lives there too).
    pub fn new(
        store: Arc<dyn ServerStore>,
        data: PathBuf,
        cfg: ServerConfig,
        eligibility_extra: Vec<String>,
    ) -> Result<Arc<Self>, tokens::TokenError> {
        Ok(Arc::new(AppState {
            store,
            tokens: tokens::TokenCache::new()?,
            limiter: auth::FailureLimiter::new(cfg.auth_failures_per_minute),
            quotas: auth::Quotas::new(cfg.quota_per_minute),
            metrics: metrics::Metrics::default(),
            cache: taxii::PageCache::new(cfg.cache_entries, cfg.cache_bytes),
            feeds: detection::FeedCache::default(),
            renders: detection::RenderGate::default(),
            audit: audit::Audit::new(&data),
            data,
            cfg,
            eligibility_extra,
            hooks: std::sync::OnceLock::new(),
        }))
    }
}

/// The whole HTTP surface.
pub fn app(state: Arc<AppState>) -> Router {
    let max_body = state.cfg.max_body;
    Router::new()
        .merge(taxii::router())
        .merge(api::router())
        .merge(member_api::router())
        .merge(atom::router())
        .merge(web::router())
        .route("/metrics", axum::routing::get(metrics::render))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::observe,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Serves until SIGINT or SIGTERM, then lets requests in flight finish (up to 10 s).
pub async fn serve(state: Arc<AppState>, ready: impl FnOnce(SocketAddr)) -> std::io::Result<()> {
    let cfg = state.cfg.clone();
    let router = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let h2 = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        h2.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let listener = std::net::TcpListener::bind(cfg.listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls_config(
                cert, key,
            )?));
            tokio::spawn(reload_tls(
                tls.clone(),
                cert.clone(),
                key.clone(),
                cfg.tls_reload,
            ));
            ready(addr);
            axum_server::from_tcp_rustls(listener, tls)
                .handle(handle)
                .serve(router)
                .await
        }
        (None, None) => {
            ready(addr);
            axum_server::from_tcp(listener)
                .handle(handle)
                .serve(router)
                .await
        }
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "--tls-cert and --tls-key go together",
        )),
    }
}

/// The server's TLS settings from PEM files: the certificate chain (the server's own first) and its private key
/// (PKCS#8, SEC1 or PKCS#1). rustls with the ring provider named here, TLS 1.2 and 1.3, HTTP/2 offered by ALPN.
pub fn tls_config(cert: &Path, key: &Path) -> std::io::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |p: &Path, why: String| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {why}", p.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(cert, format!("cannot read the certificates ({e})")))?;
    if certs.is_empty() {
        return Err(bad(
            cert,
            "holds no PEM certificate (--tls-cert: the certificate chain, the server's own first)"
                .into(),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad(key, format!("holds no usable private key ({e})")))?;
    // ring is the workspace's one crypto provider (reqwest, async-nats and lettre use it too; two providers leave
    // rustls without a process default). rustls 0.23.48 deprecates it for having no post-quantum key exchange.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let mut c = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| {
            bad(
                key,
                format!(
                    "does not go with the certificate in {} ({e})",
                    cert.display()
                ),
            )
        })?;
    c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(c)
}

/// Takes a renewed certificate (certbot, an ACME client or the agency's PKI replacing the files) without a
/// restart: when either file's modification time changes, both are read again and, if they load and go
/// together, new connections get them; otherwise the running ones stay and the reason is logged.
async fn reload_tls(
    tls: axum_server::tls_rustls::RustlsConfig,
    cert: PathBuf,
    key: PathBuf,
    every: Duration,
) {
    let stamp = |c: &Path, k: &Path| {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        (m(c), m(k))
    };
    let mut seen = stamp(&cert, &key);
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(50)));
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = stamp(&cert, &key);
        if now == seen {
            continue;
        }
        seen = now;
        match tls_config(&cert, &key) {
            Ok(c) => {
                tls.reload_from_config(Arc::new(c));
                tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::warn!(
                    "TLS certificate changed but not reloaded, the previous one stays: {e}"
                );
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
