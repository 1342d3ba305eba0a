//! `vigil serve`: the REST API and the TAXII 2.1 server over the same data directory as the CLI (a member or a
//! token added by the CLI is live at once). Settings come from `[server]` in vigil.toml; flags override them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use vigil_server::{AppState, ServerConfig};

use super::Env;

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on (default from vigil.toml, else 127.0.0.1:8443).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// Serve TLP:CLEAR to callers without a token.
    #[arg(long)]
    pub anonymous_clear: bool,
    /// Do not pull the configured feeds on their intervals while serving (default: pull them).
    #[arg(long)]
    pub no_feeds: bool,
    /// Seconds between two looks at which feeds are due.
    #[arg(long, default_value_t = 30)]
    pub feeds_tick: u64,
    /// Do not deliver notices to members' channels while serving (default: a delivery round every
    /// --delivery-tick seconds, as `vigil deliver` does).
    #[arg(long)]
    pub no_delivery: bool,
    #[arg(long, default_value_t = 60)]
    pub delivery_tick: u64,
    /// Record the sighting reports sensors publish (`vigil hunt --publish`) from this NATS JetStream server as
    /// they come (`nats://[user:password@]host:port` or `tls://...`), as `vigil sightings pull` does. Servers on
    /// one store may all do so: they share the durable consumer, and each message goes to one of them.
    #[arg(long, value_name = "NATS_URL")]
    pub nats: Option<String>,
    /// With --nats: the durable consumer.
    #[arg(long, env = "VIGIL_NATS_DURABLE", default_value = vigil_bus::sightings::DURABLE)]
    pub durable: String,
    #[command(flatten)]
    pub bus: super::sightings::BusArgs,
}

/// `[server]` of vigil.toml over the defaults, then the flags.
pub fn config(env: &Env, a: &ServeArgs) -> anyhow::Result<ServerConfig> {
    let mut c = ServerConfig {
        default_tlp: env.settings.default_tlp,
        title: env.settings.operator.clone(),
        ..Default::default()
    };
    for (k, v) in &env.settings.server {
        let bad = || anyhow::anyhow!("vigil.toml [server] {k}: unexpected value {v}");
        let int = |v: &toml::Value| {
            v.as_integer()
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(bad)
        };
        match k.as_str() {
            "listen" => {
                c.listen = v
                    .as_str()
                    .ok_or_else(bad)?
                    .parse()
                    .with_context(|| format!("[server] listen = {v}"))?
            }
            "tls_cert" => c.tls_cert = Some(PathBuf::from(v.as_str().ok_or_else(bad)?)),
            "tls_key" => c.tls_key = Some(PathBuf::from(v.as_str().ok_or_else(bad)?)),
            "public_url" => c.public_url = Some(public_url(v.as_str().ok_or_else(bad)?)?),
            "tls_reload_seconds" => {
                c.tls_reload = std::time::Duration::from_secs(int(v)?.max(1) as u64)
            }
            "anonymous_clear" => c.anonymous_clear = v.as_bool().ok_or_else(bad)?,
            "max_body_bytes" => c.max_body = int(v)?,
            "max_page" => c.max_page = int(v)?.max(1),
            "auth_failures_per_minute" => c.auth_failures_per_minute = int(v)? as u32,
            "quota_per_minute" => c.quota_per_minute = Some(int(v)? as u32).filter(|q| *q > 0),
            "cache_entries" => c.cache_entries = int(v)?,
            "cache_bytes" => c.cache_bytes = int(v)?,
            other => bail!("vigil.toml [server]: unknown setting `{other}`"),
        }
    }
    if let Some(l) = a.listen {
        c.listen = l;
    }
    if a.tls_cert.is_some() || a.tls_key.is_some() {
        c.tls_cert = a.tls_cert.clone();
        c.tls_key = a.tls_key.clone();
    }
    if c.tls_cert.is_some() != c.tls_key.is_some() {
        bail!("--tls-cert and --tls-key go together");
    }
    if a.anonymous_clear {
        c.anonymous_clear = true;
    }
    Ok(c)
}

/// `[server] public_url`: an http(s) address with a host and nothing secret or variable in it, without its
/// trailing slash.
fn public_url(u: &str) -> anyhow::Result<String> {
    url::Url::parse(u)
        .ok()
        .filter(|p| {
            matches!(p.scheme(), "http" | "https")
                && p.host().is_some()
                && p.username().is_empty()
                && p.password().is_none()
                && p.query().is_none()
                && p.fragment().is_none()
        })
        .map(|p| p.as_str().trim_end_matches('/').to_string())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "vigil.toml [server] public_url: give the http:// or https:// address clients use, without credentials, query or fragment (e.g. \"https://vigil.csirt.example\")"
            )
        })
}

/// Runs the server until SIGINT/SIGTERM; `announce` is called with the bound address once it listens.
pub fn run_with(
    env: &Env,
    a: &ServeArgs,
    announce: impl FnOnce(SocketAddr, &ServerConfig) + Send + 'static,
) -> anyhow::Result<u8> {
    super::members::ensure_operator(env)?;
    let cfg = config(env, a)?;
    let extra = super::members::eligibility(env)?.extra;
    let _ = env.store.change_counter()?;
    // A handle of its own (for SQLite, its own connections; a PostgreSQL store is shared and pooled).
    let state = AppState::new(env.reopen()?.store, env.data.clone(), cfg.clone(), extra)?;
    init_logging();
    // Notices written before member collections existed (or by an older binary) reach them now.
    match vigil_server::notices::publish_all(&*env.store) {
        Ok(0) => {}
        Ok(n) => tracing::info!(objects = n, "published notices to members' collections"),
        Err(e) => tracing::warn!(error = %e, "publishing notices to members' collections"),
    }
    let hook_env = std::sync::Mutex::new(env.reopen()?);
    let export_env = std::sync::Mutex::new(env.reopen()?);
    let hooks = vigil_server::Hooks {
        inventory_changed: Some(Arc::new(move |member: i64| {
            // One re-evaluation at a time: they write the same notices.
            let env = hook_env
                .lock()
                .map_err(|_| "notice evaluation lock poisoned".to_string())?;
            let rep =
                super::vuln::update_notices(&env, Some(member), super::vuln::epss_threshold_env())
                    .map_err(|e| format!("{e:#}"))?;
            serde_json::to_value(&rep).map_err(|e| e.to_string())
        })),
        detection_export: Some(Arc::new(move |req| {
            // The server admits one rendering at a time (`RenderGate`, where waiting holds no thread); the lock
            // only shares the export connection.
            let env = export_env
                .lock()
                .map_err(|_| "export lock poisoned".to_string())?;
            super::hunt_export::for_caller(&env, &req).map_err(|e| format!("{e:#}"))
        })),
    };
    let _ = state.hooks.set(hooks);
    if !a.no_feeds {
        let feeds_env = env.reopen()?;
        let tick = std::time::Duration::from_secs(a.feeds_tick.max(1));
        std::thread::Builder::new()
            .name("vigil-feeds".into())
            .spawn(move || loop {
                super::feeds::pull_due(&feeds_env, vigil_feeds::DEFAULT_MAX_BYTES);
                std::thread::sleep(tick);
            })
            .context("starting the feed scheduler")?;
    }
    if !a.no_delivery {
        let env_d = env.reopen()?;
        let tick = std::time::Duration::from_secs(a.delivery_tick.max(1));
        std::thread::Builder::new()
            .name("vigil-delivery".into())
            .spawn(move || loop {
                super::notify::deliver_in_background(&env_d);
                std::thread::sleep(tick);
            })
            .context("starting notice delivery")?;
    }
    if let Some(nats) = &a.nats {
        super::sightings::serve_in_background(
            env.reopen()?,
            nats.clone(),
            a.durable.clone(),
            a.bus.clone(),
        )?;
    }
    // Store reads run on blocking threads; more of them than a few per core only adds memory (each keeps its
    // allocator heap and a SQLite connection), not throughput: requests beyond them wait their turn.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads((cores * 4).clamp(8, 64))
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        vigil_server::serve(state, move |addr| {
            tracing::info!(%addr, tls = cfg.tls_cert.is_some(), "listening");
            announce(addr, &cfg);
        })
        .await
    })
    .context("serving")?;
    Ok(0)
}

pub fn run(env: &Env, a: &ServeArgs) -> anyhow::Result<u8> {
    run_with(env, a, |addr, cfg| {
        let scheme = if cfg.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        eprintln!(
            "vigil: serving {scheme}://{addr}/taxii2/ (TAXII 2.1) and {scheme}://{addr}/api/v1/ (REST; OpenAPI at /api/v1/openapi.json)"
        );
    })
}

fn init_logging() {
    // JSON lines on stderr; RUST_LOG=vigil_server=debug adds one access line per request (with its request id).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls() {
        for (given, kept) in [
            ("https://vigil.csirt.example", "https://vigil.csirt.example"),
            (
                "https://vigil.csirt.example/",
                "https://vigil.csirt.example",
            ),
            (
                "https://proxy.example/vigil/",
                "https://proxy.example/vigil",
            ),
            ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
        ] {
            assert_eq!(public_url(given).expect(given), kept);
        }
        for bad in [
            "vigil.csirt.example",
            "ftp://x.example",
            "https://user:secret@x.example",
            "https://x.example/?a=1",
            "https://x.example/#f",
            "",
        ] {
            let e = public_url(bad).expect_err(bad).to_string();
            assert!(!e.contains("secret"), "{e}");
        }
    }
}
