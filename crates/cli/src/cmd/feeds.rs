//! `vigil feeds`: scheduled feeds (HTTP(S) documents, TAXII 2.1 collections, MISP feeds, CSAF providers), defined
//! from the command line or in `vigil.toml` (`[[feeds]]`), pulled now (`pull`) or on their interval (`run`).
//!
//! A feed's token is stored only where needed to authenticate to the feed's server: in the store for feeds added
//! here, in the configuration file (or the environment, `token_env`) for configured ones. It is never printed.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::{json, Value};
use vigil_feeds::{format_interval, parse_interval, PullCtx, PullReport, Pulled};
use vigil_store::{FeedLease, FeedRecord, FeedStatus};

use super::Env;

#[derive(Debug, Subcommand)]
pub enum FeedsCommand {
    /// Define a feed (stored in the data directory).
    Add(FeedAddArgs),
    /// Pull feeds now (every feed, or the one named), once.
    Pull(FeedPullArgs),
    /// Each feed's definition and status: last success, last error, objects added.
    Status(FeedStatusArgs),
    /// Remove a feed defined with `feeds add` (its objects stay in the knowledge base).
    Remove(FeedRemoveArgs),
    /// Keep pulling every feed on its interval until stopped (for a service unit).
    Run(FeedRunArgs),
    /// Define one csaf feed per provider a CSAF aggregator or lister lists (`aggregator.json`); run again to add
    /// providers it lists since (feeds that exist, by URL, are left as they are).
    AddAggregator(FeedAddAggregatorArgs),
    /// csaf feeds: set which provider OpenPGP keys a feed trusts (after checking a new key with the provider out
    /// of band), or forget the keys pinned at first use so that the next pull pins the keys then listed.
    TrustKeys(FeedTrustKeysArgs),
}

#[derive(Debug, Args)]
pub struct FeedAddAggregatorArgs {
    /// The aggregator's `aggregator.json` (e.g. https://DOMAIN/.well-known/csaf-aggregator/aggregator.json).
    #[arg(long)]
    pub url: String,
    /// Prefix of the feed names (each is the prefix and the provider's host).
    #[arg(long, default_value = "csaf-")]
    pub prefix: String,
    /// How often `vigil feeds run` pulls each of them.
    #[arg(long, default_value = "1d")]
    pub interval: String,
    /// Marking for objects of these feeds that carry none.
    #[arg(long)]
    pub tlp: Option<String>,
    /// Refuse documents without a signature that verifies, even from providers that list no keys.
    #[arg(long)]
    pub require_signature: bool,
    /// Show what would be added without adding it.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FeedTrustKeysArgs {
    #[arg(long)]
    pub name: String,
    /// A fingerprint to trust, as `gpg --fingerprint` prints it (repeatable; replaces the pinned set).
    #[arg(
        long = "fingerprint",
        value_name = "FINGERPRINT",
        required_unless_present = "forget"
    )]
    pub fingerprints: Vec<String>,
    /// Forget the pinned keys: the next pull trusts (and pins) the keys the provider lists then.
    #[arg(long, conflicts_with = "fingerprints")]
    pub forget: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FeedAddArgs {
    /// Feed name (letters, digits, `-`, `_`, `.`).
    #[arg(long)]
    pub name: String,
    /// taxii|url|misp-feed|csaf
    #[arg(long)]
    pub kind: String,
    /// url: the document; taxii: the API root (or discovery URL); misp-feed: the folder holding manifest.json;
    /// csaf: provider-metadata.json (or the provider's domain).
    #[arg(long)]
    pub url: String,
    /// Ingest format of a `url` feed (auto, stix, misp, galaxy, warninglist, iocs, ...); auto when absent.
    #[arg(long)]
    pub format: Option<String>,
    /// Credential sent as `Authorization: Bearer` to the feed's server (stored; never printed).
    #[arg(long, env = "VIGIL_FEED_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// How often `vigil feeds run` pulls it: 15m, 1h, 1d.
    #[arg(long, default_value = "1h")]
    pub interval: String,
    /// clear|green|amber|amber+strict|red: marking for objects of this feed that carry none.
    #[arg(long)]
    pub tlp: Option<String>,
    /// taxii: follow only this collection (default: every collection the credentials can read).
    #[arg(long)]
    pub collection: Option<String>,
    /// Provenance source name (default: the feed name).
    #[arg(long)]
    pub source: Option<String>,
    /// csaf: trust only the provider key with this fingerprint (repeatable; as `gpg --fingerprint` prints it).
    /// Without it, the keys the provider lists at the first pull are pinned and later pulls hold to them.
    #[arg(long = "openpgp-key", value_name = "FINGERPRINT")]
    pub openpgp_keys: Vec<String>,
    /// csaf: refuse documents without a signature that verifies, even if the provider lists no keys.
    #[arg(long)]
    pub require_signature: bool,
    /// Replace an existing feed of that name (its cursors and status stay).
    #[arg(long)]
    pub replace: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FeedPullArgs {
    /// Only this feed.
    #[arg(long)]
    pub name: Option<String>,
    /// Only feeds whose interval has passed since their last attempt.
    #[arg(long)]
    pub due: bool,
    /// Largest body accepted per request, in bytes (after decompression).
    #[arg(long, default_value_t = vigil_feeds::DEFAULT_MAX_BYTES)]
    pub max_bytes: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FeedStatusArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FeedRemoveArgs {
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FeedRunArgs {
    /// Seconds between two looks at which feeds are due.
    #[arg(long, default_value_t = 30)]
    pub tick: u64,
    #[arg(long, default_value_t = vigil_feeds::DEFAULT_MAX_BYTES)]
    pub max_bytes: u64,
}

/// `[[feeds]]` in vigil.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    pub name: String,
    pub kind: String,
    pub url: String,
    #[serde(default)]
    pub format: Option<String>,
    /// The credential itself (prefer `token_env`).
    #[serde(default)]
    pub token: Option<String>,
    /// Name of an environment variable holding the credential.
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub tlp: Option<String>,
    #[serde(default)]
    pub collection: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    /// csaf: fingerprints of the provider keys to trust (else the first pull's keys are pinned).
    #[serde(default)]
    pub openpgp_keys: Vec<String>,
    /// csaf: refuse documents without a signature that verifies.
    #[serde(default)]
    pub require_signature: bool,
}

/// Fingerprints as typed, in the form the store keeps them.
fn fingerprints(typed: &[String]) -> anyhow::Result<Vec<String>> {
    vigil_feeds::csaf_integrity::parse_fingerprints(typed).map_err(anyhow::Error::msg)
}

fn now() -> String {
    vigil_model::time::format(&chrono::Utc::now())
}

impl FeedConfig {
    fn record(&self) -> anyhow::Result<FeedRecord> {
        let interval = parse_interval(self.interval.as_deref().unwrap_or("1h"))
            .with_context(|| format!("[[feeds]] `{}` in the configuration", self.name))?;
        let r = FeedRecord {
            name: self.name.clone(),
            kind: vigil_feeds::FeedKind::parse(&self.kind)?
                .as_str()
                .to_string(),
            url: self.url.clone(),
            format: self.format.clone(),
            // Configured credentials stay in the configuration: they are resolved at pull time.
            token: None,
            interval_secs: interval,
            tlp: self.tlp.clone(),
            collection: self.collection.clone(),
            source: self.source.clone(),
            openpgp_keys: fingerprints(&self.openpgp_keys)
                .with_context(|| format!("[[feeds]] `{}` openpgp_keys", self.name))?,
            require_signature: self.require_signature,
            origin: "config".into(),
            created_at: now(),
            status: FeedStatus::default(),
            lease: None,
        };
        vigil_feeds::validate(&r)
            .with_context(|| format!("[[feeds]] `{}` in the configuration", self.name))?;
        Ok(r)
    }

    fn token(&self) -> anyhow::Result<Option<String>> {
        if let Some(var) = &self.token_env {
            return match std::env::var(var) {
                Ok(t) if !t.is_empty() => Ok(Some(t)),
                _ => bail!(
                    "feed `{}`: environment variable {var} (token_env) is not set",
                    self.name
                ),
            };
        }
        Ok(self.token.clone())
    }
}

/// Brings the configured feeds into the store (definitions only; their status stays), and drops configured feeds
/// that left the configuration.
fn sync_config(env: &Env) -> anyhow::Result<()> {
    let mut names = std::collections::HashSet::new();
    for c in &env.settings.feeds {
        if !names.insert(c.name.clone()) {
            bail!("[[feeds]]: the name `{}` is used twice", c.name);
        }
        let rec = c.record()?;
        match env.store.feed(&c.name)? {
            Some(f) if f.origin != "config" => bail!(
                "feed `{}` is defined both in the configuration and with `vigil feeds add`; remove one",
                c.name
            ),
            Some(f)
                if f.kind == rec.kind
                    && f.url == rec.url
                    && f.format == rec.format
                    && f.interval_secs == rec.interval_secs
                    && f.tlp == rec.tlp
                    && f.collection == rec.collection
                    && f.source == rec.source
                    && f.openpgp_keys == rec.openpgp_keys
                    && f.require_signature == rec.require_signature => {}
            _ => env.store.put_feed(&rec)?,
        }
    }
    for f in env.store.feeds()? {
        if f.origin == "config" && !names.contains(&f.name) {
            env.store.remove_feed(&f.name)?;
        }
    }
    Ok(())
}

/// The provider keys a csaf feed pinned at first use.
fn pinned_keys(env: &Env, feed: &str) -> anyhow::Result<Vec<String>> {
    Ok(vigil_feeds::pinned_keys(&env.store.feed_cursors(feed)?))
}

/// `feeds status` of one feed, with the keys a csaf feed pinned.
fn status_of(env: &Env, f: &FeedRecord) -> anyhow::Result<Value> {
    let pinned = if f.kind == "csaf" {
        Some(pinned_keys(env, &f.name)?)
    } else {
        None
    };
    Ok(status_json(f, pinned))
}

/// The lease of a process pulling the feed now; one that ran out (its holder died) is not worth showing.
fn running_lease(f: &FeedRecord) -> Option<&FeedLease> {
    let now = vigil_model::time::sort_key(&chrono::Utc::now());
    f.lease.as_ref().filter(|l| l.until > now)
}

/// Names this process in the feed leases it takes: the host and process id tell an operator where to look, the
/// random part keeps two processes apart when process ids repeat (containers, each its own pid 1).
fn lease_holder() -> &'static str {
    static HOLDER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOLDER.get_or_init(|| {
        let host = super::host_name();
        let random = uuid::Uuid::new_v4().simple().to_string();
        format!(
            "{host}:{}:{}",
            std::process::id(),
            random.get(..8).unwrap_or(&random)
        )
    })
}

fn busy_message(feed: &str, lease: &FeedLease) -> String {
    format!(
        "feed `{feed}` is being pulled by {} until {}",
        lease.holder, lease.until
    )
}

fn status_json(f: &FeedRecord, pinned: Option<Vec<String>>) -> Value {
    let parsed = url::Url::parse(&f.url).ok();
    let url = parsed
        .as_ref()
        .map(vigil_feeds::http::redact)
        .unwrap_or_else(|| f.url.clone());
    // HTTP Basic credentials in the URL (user:password@) count as a credential too.
    let in_url = parsed.as_ref().is_some_and(|u| u.password().is_some());
    let mut v = json!({
        "name": f.name, "kind": f.kind, "url": url, "format": f.format, "interval": format_interval(f.interval_secs),
        "tlp": f.tlp, "collection": f.collection, "source": f.source.clone().unwrap_or_else(|| f.name.clone()),
        "origin": f.origin, "has_token": f.token.is_some() || in_url, "created_at": f.created_at,
        "due": vigil_feeds::due(f, chrono::Utc::now()),
        "lease": running_lease(f),
    });
    if f.kind == "csaf" {
        v["openpgp_keys"] = json!(f.openpgp_keys);
        v["pinned_keys"] = json!(pinned.unwrap_or_default());
        v["require_signature"] = json!(f.require_signature);
    }
    if let (Value::Object(m), Ok(Value::Object(s))) = (&mut v, serde_json::to_value(&f.status)) {
        m.extend(s);
    }
    v
}

pub fn run(env: &Env, cmd: &FeedsCommand) -> anyhow::Result<u8> {
    match cmd {
        FeedsCommand::Add(a) => add(env, a),
        FeedsCommand::Pull(a) => pull(env, a),
        FeedsCommand::Status(a) => {
            sync_config(env)?;
            let feeds = env.store.feeds()?;
            if a.json {
                let all = feeds
                    .iter()
                    .map(|f| status_of(env, f))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                crate::output::json(&all)?;
            } else if feeds.is_empty() {
                println!("no feeds (add one with `vigil feeds add` or [[feeds]] in vigil.toml)");
            } else {
                for f in &feeds {
                    let s = &f.status;
                    println!(
                        "{:<20} {:<9} every {:<4} last success {:<27} added {:>8} total ({} last){}",
                        f.name,
                        f.kind,
                        format_interval(f.interval_secs),
                        s.last_success.as_deref().unwrap_or("never"),
                        s.objects_added,
                        s.last_added,
                        match (&s.last_error, &s.last_error_at) {
                            (Some(e), Some(at)) if s.last_success.as_deref() < Some(at.as_str()) =>
                                format!("\n    last error {at}: {e}"),
                            _ => String::new(),
                        }
                    );
                    if f.kind == "csaf" {
                        println!("    {}", keys_line(f, &pinned_keys(env, &f.name)?));
                    }
                    if let Some(l) = running_lease(f) {
                        println!("    being pulled by {} until {}", l.holder, l.until);
                    }
                }
            }
            Ok(0)
        }
        FeedsCommand::Remove(a) => {
            sync_config(env)?;
            if let Some(f) = env.store.feed(&a.name)? {
                if f.origin == "config" {
                    bail!(
                        "feed `{}` is defined in the configuration file; remove it there",
                        a.name
                    );
                }
            }
            let removed = env.store.remove_feed(&a.name)?;
            if !removed {
                bail!("no feed named `{}`", a.name);
            }
            let mirror = env.data.join("feeds").join(vigil_feeds_safe_name(&a.name));
            if mirror.is_dir() {
                std::fs::remove_dir_all(&mirror)
                    .with_context(|| format!("removing {}", mirror.display()))?;
            }
            if a.json {
                crate::output::json(&json!({"name": a.name, "removed": true}))?;
            } else {
                println!(
                    "feed `{}` removed (its objects stay in the knowledge base)",
                    a.name
                );
            }
            Ok(0)
        }
        FeedsCommand::Run(a) => run_forever(env, a),
        FeedsCommand::TrustKeys(a) => trust_keys(env, a),
        FeedsCommand::AddAggregator(a) => add_aggregator(env, a),
    }
}

/// What a csaf feed trusts, in one line.
fn keys_line(f: &FeedRecord, pinned: &[String]) -> String {
    let keys = if !f.openpgp_keys.is_empty() {
        format!("trusts the declared key(s) {}", f.openpgp_keys.join(", "))
    } else if !pinned.is_empty() {
        format!("trusts the pinned key(s) {}", pinned.join(", "))
    } else {
        "has pinned no provider key yet (the next pull that sees keys pins them)".into()
    };
    let required = if f.require_signature || !f.openpgp_keys.is_empty() || !pinned.is_empty() {
        "; every document must be signed"
    } else {
        ""
    };
    format!("OpenPGP: {keys}{required}")
}

fn add_aggregator(env: &Env, a: &FeedAddAggregatorArgs) -> anyhow::Result<u8> {
    use vigil_feeds::csaf_aggregator::{feed_name, read_aggregator};
    sync_config(env)?;
    let url = url::Url::parse(&a.url).with_context(|| format!("--url `{}`", a.url))?;
    let interval = parse_interval(&a.interval)?;
    let mut http = vigil_feeds::http::Http::new(
        None,
        vigil_feeds::DEFAULT_MAX_BYTES,
        Duration::from_secs(60),
        &env.settings.http.roots()?,
    )?;
    let body = match http.get(&url, "application/json", &Default::default())? {
        vigil_feeds::http::Fetched::Body(b) => b.bytes,
        vigil_feeds::http::Fetched::NotModified => bail!("{}: 304 without a validator", a.url),
    };
    let agg = read_aggregator(&body, &url)?;
    let feeds = env.store.feeds()?;
    let mut taken: std::collections::HashSet<String> =
        feeds.iter().map(|f| f.name.clone()).collect();
    let mut added = Vec::new();
    let mut existing = Vec::new();
    for p in &agg.providers {
        let listed = json!({"publisher": p.publisher, "url": p.metadata.as_str(), "role": p.role,
            "mirrored_publisher": p.mirrored_publisher});
        if let Some(f) = feeds
            .iter()
            .find(|f| f.kind == "csaf" && f.url == p.metadata.as_str())
        {
            let mut e = listed;
            e["name"] = json!(f.name);
            existing.push(e);
            continue;
        }
        let name = feed_name(&a.prefix, p, &taken);
        taken.insert(name.clone());
        let rec = FeedRecord {
            name: name.clone(),
            kind: "csaf".into(),
            url: p.metadata.to_string(),
            format: None,
            token: None,
            interval_secs: interval,
            tlp: a.tlp.as_ref().map(|t| t.to_ascii_lowercase()),
            collection: None,
            source: None,
            openpgp_keys: Vec::new(),
            require_signature: a.require_signature,
            origin: "cli".into(),
            created_at: now(),
            status: FeedStatus::default(),
            lease: None,
        };
        vigil_feeds::validate(&rec).with_context(|| format!("provider {}", p.publisher))?;
        if !a.dry_run {
            env.store.put_feed(&rec)?;
        }
        let mut e = listed;
        e["name"] = json!(name);
        added.push(e);
    }
    let skipped: Vec<Value> = agg
        .skipped
        .iter()
        .map(|(entry, reason)| json!({"entry": entry, "reason": reason}))
        .collect();
    if a.json {
        crate::output::json(&json!({"aggregator": agg.name, "category": agg.category,
            "url": vigil_feeds::http::redact(&url), "dry_run": a.dry_run, "added": added,
            "existing": existing, "skipped": skipped}))?;
    } else {
        println!(
            "{} ({}): {} providers listed; {} feeds {}, {} already followed, {} entries skipped",
            agg.name,
            agg.category,
            agg.providers.len(),
            added.len(),
            if a.dry_run { "would be added" } else { "added" },
            existing.len(),
            skipped.len()
        );
        for e in &added {
            println!(
                "  + {:<32} {} <{}>",
                e["name"].as_str().unwrap_or(""),
                e["publisher"].as_str().unwrap_or(""),
                e["url"].as_str().unwrap_or("")
            );
        }
        for e in &skipped {
            println!(
                "  skipped {}: {}",
                e["entry"].as_str().unwrap_or(""),
                e["reason"].as_str().unwrap_or("")
            );
        }
        if !added.is_empty() && !a.dry_run {
            println!("pull them now with `vigil feeds pull`; each pins its provider's OpenPGP keys at its first pull");
        }
    }
    Ok(0)
}

fn trust_keys(env: &Env, a: &FeedTrustKeysArgs) -> anyhow::Result<u8> {
    sync_config(env)?;
    let f = env
        .store
        .feed(&a.name)?
        .with_context(|| format!("no feed named `{}` (see `vigil feeds status`)", a.name))?;
    if f.kind != "csaf" {
        bail!(
            "feed `{}` is a {} feed: only csaf feeds have provider keys",
            a.name,
            f.kind
        );
    }
    if !f.openpgp_keys.is_empty() {
        bail!(
            "feed `{}` declares its keys ({}); change them where it is defined (`vigil feeds add --replace \
             --openpgp-key ...`, or openpgp_keys in the configuration)",
            a.name,
            f.openpgp_keys.join(", ")
        );
    }
    let before = pinned_keys(env, &a.name)?;
    let after = if a.forget {
        Vec::new()
    } else {
        fingerprints(&a.fingerprints).context("--fingerprint")?
    };
    env.store.put_feed_cursor(
        &a.name,
        &vigil_store::FeedCursor {
            key: vigil_feeds::PINNED_KEYS_CURSOR.into(),
            etag: None,
            last_modified: None,
            value: (!after.is_empty()).then(|| after.join(" ")),
            updated_at: now(),
        },
    )?;
    let stored = env
        .store
        .feed(&a.name)?
        .context("the feed was not stored")?;
    if a.json {
        let mut v = status_of(env, &stored)?;
        v["previously_pinned"] = json!(before);
        crate::output::json(&v)?;
    } else {
        println!(
            "feed `{}`: {} (before: {})",
            a.name,
            keys_line(&stored, &after),
            if before.is_empty() {
                "none".to_string()
            } else {
                before.join(", ")
            }
        );
    }
    Ok(0)
}

/// Feed names are validated to be safe path components already; this only guards against an old row.
fn vigil_feeds_safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

fn add(env: &Env, a: &FeedAddArgs) -> anyhow::Result<u8> {
    sync_config(env)?;
    let kind = vigil_feeds::FeedKind::parse(&a.kind)?;
    let rec = FeedRecord {
        name: a.name.clone(),
        kind: kind.as_str().to_string(),
        url: a.url.clone(),
        format: a.format.clone(),
        token: a.token.clone().filter(|t| !t.is_empty()),
        interval_secs: parse_interval(&a.interval)?,
        tlp: a.tlp.as_ref().map(|t| t.to_ascii_lowercase()),
        collection: a.collection.clone(),
        source: a.source.clone(),
        openpgp_keys: fingerprints(&a.openpgp_keys).context("--openpgp-key")?,
        require_signature: a.require_signature,
        origin: "cli".into(),
        created_at: now(),
        status: FeedStatus::default(),
        lease: None,
    };
    vigil_feeds::validate(&rec)?;
    if let Some(f) = env.store.feed(&a.name)? {
        if f.origin == "config" {
            bail!("feed `{}` is defined in the configuration file", a.name);
        }
        if !a.replace {
            bail!(
                "a feed named `{}` exists (use --replace to redefine it)",
                a.name
            );
        }
    }
    env.store.put_feed(&rec)?;
    let stored = env
        .store
        .feed(&a.name)?
        .context("the feed was not stored")?;
    if a.json {
        crate::output::json(&status_of(env, &stored)?)?;
    } else {
        println!(
            "feed `{}` ({}) added, pulled every {}; pull it now with `vigil feeds pull --name {}`",
            a.name,
            rec.kind,
            format_interval(rec.interval_secs),
            a.name
        );
    }
    Ok(0)
}

/// The feed with its credential resolved (configured feeds take theirs from the configuration).
fn with_token(env: &Env, mut f: FeedRecord) -> anyhow::Result<FeedRecord> {
    if f.origin == "config" {
        if let Some(c) = env.settings.feeds.iter().find(|c| c.name == f.name) {
            f.token = c.token()?;
        }
    }
    Ok(f)
}

fn pull_some(
    env: &Env,
    name: Option<&str>,
    only_due: bool,
    max_bytes: u64,
) -> anyhow::Result<Vec<PullReport>> {
    sync_config(env)?;
    let feeds = match name {
        Some(n) => vec![env
            .store
            .feed(n)?
            .with_context(|| format!("no feed named `{n}` (see `vigil feeds status`)"))?],
        None => env.store.feeds()?,
    };
    let advisories = super::vuln::AdvisoryFeedIngest { env };
    let roots = env.settings.http.roots()?;
    let ctx = PullCtx {
        store: &*env.store,
        extra: Some(&advisories),
        data: &env.data,
        max_bytes,
        timeout: Duration::from_secs(300),
        roots: &roots,
        holder: lease_holder(),
    };
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for f in feeds {
        // Judged on the listing first, so that feeds not due cost no claim; `pull` judges again once it holds the
        // lease, on the record as it is then.
        if only_due && !vigil_feeds::due(&f, now) {
            continue;
        }
        let f = with_token(env, f)?;
        match vigil_feeds::pull(&ctx, &f, only_due)? {
            Pulled::Done(r) => out.push(*r),
            Pulled::Busy(lease) => out.push(PullReport {
                feed: f.name.clone(),
                kind: f.kind.clone(),
                ok: false,
                error: Some(busy_message(&f.name, &lease)),
                held_by: Some(lease),
                ..PullReport::default()
            }),
            Pulled::NotDue => {
                tracing::info!(feed = %f.name, "feed pulled by another process meanwhile; not due any more");
            }
            Pulled::Gone if name.is_some() => bail!("feed `{}` was removed meanwhile", f.name),
            Pulled::Gone => {}
        }
    }
    Ok(out)
}

fn pull(env: &Env, a: &FeedPullArgs) -> anyhow::Result<u8> {
    let reports = pull_some(env, a.name.as_deref(), a.due, a.max_bytes)?;
    if a.json {
        crate::output::json(&reports)?;
    } else {
        for r in &reports {
            print_report(r);
        }
        if reports.is_empty() {
            println!("no feeds to pull");
        }
    }
    // With --due a feed another process is pulling is taken care of, as the scheduler sees it; asked for by name
    // or with every feed, it was not pulled as asked.
    let fine = |r: &PullReport| r.ok || (a.due && r.held_by.is_some());
    Ok(if reports.iter().all(fine) { 0 } else { 1 })
}

fn print_report(r: &PullReport) {
    if let Some(l) = &r.held_by {
        println!("{}; not pulled here", busy_message(&r.feed, l));
        return;
    }
    println!(
        "{} ({}): {} requests, {} not modified, {} bodies ({} bytes); {} added, {} updated, {} unchanged, {} rejected{} ({:.1} s)",
        r.feed,
        r.kind,
        r.transfer.requests,
        r.transfer.not_modified,
        r.transfer.bodies,
        r.transfer.bytes,
        r.added,
        r.updated,
        r.unchanged,
        r.rejected,
        if r.stored_not_ingested > 0 {
            format!(", {} files stored but not ingested", r.stored_not_ingested)
        } else {
            String::new()
        },
        r.seconds
    );
    if let Some(e) = &r.error {
        eprintln!("  error: {e}");
    }
    if let Some(n) = &r.not_ingested_reason {
        eprintln!("  note: {n}");
    }
    if let Some(i) = &r.integrity {
        eprintln!("{}", super::vuln::integrity_line(i));
    }
    for p in r.problems.iter().take(10) {
        eprintln!("  {} [{}]: {}", p.file, p.location, p.reason);
    }
}

fn run_forever(env: &Env, a: &FeedRunArgs) -> anyhow::Result<u8> {
    tracing::info!("pulling feeds on their intervals");
    loop {
        match pull_some(env, None, true, a.max_bytes) {
            Ok(reports) => {
                for r in &reports {
                    match &r.held_by {
                        Some(l) => {
                            tracing::info!(feed = %r.feed, holder = %l.holder, until = %l.until,
                            "feed being pulled by another process; skipped")
                        }
                        None => print_report(r),
                    }
                }
            }
            // A store or configuration failure is reported and retried; the loop keeps going.
            Err(e) => eprintln!("feeds: {e:#}"),
        }
        std::thread::sleep(Duration::from_secs(a.tick.max(1)));
    }
}

/// One look at which feeds are due, pulling those (for `vigil serve`'s scheduler); reports go to the log.
pub fn pull_due(env: &Env, max_bytes: u64) {
    match pull_some(env, None, true, max_bytes) {
        Ok(reports) => {
            for r in &reports {
                if let Some(l) = &r.held_by {
                    tracing::info!(feed = %r.feed, holder = %l.holder, until = %l.until,
                        "feed being pulled by another process; skipped");
                } else if r.ok {
                    tracing::info!(feed = %r.feed, added = r.added, updated = r.updated, bodies = r.transfer.bodies, "feed pulled");
                } else {
                    tracing::warn!(feed = %r.feed, error = r.error.as_deref().unwrap_or("?"), "feed pull failed");
                }
            }
        }
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "feeds"),
    }
}
