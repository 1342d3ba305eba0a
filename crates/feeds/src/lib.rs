//! Scheduled feeds: Vigil keeps itself current by pulling its feeds.
//!
//! Four kinds, each incremental:
//! - `url`: one HTTP(S) document (STIX bundle, MISP event, IOC list, ...), fetched with `If-None-Match` /
//!   `If-Modified-Since`, gzip transfer, a size limit, then the ingest pipeline;
//! - `taxii`: TAXII 2.1 collections under an API root (every readable one unless one is named), pulled with
//!   `added_after` from the last `X-TAXII-Date-Added-Last` (or, from servers that send none, the manifest's
//!   `date_added` of what was received), following `more`/`next` — one Vigil instance following
//!   another (federation);
//! - `misp-feed`: a MISP feed folder: `manifest.json`, then only the events whose timestamp changed;
//! - `csaf`: a CSAF provider: `provider-metadata.json`, then its ROLIE feeds or its directories (`changes.csv`,
//!   else `index.txt`), fetching only new or changed documents.
//!
//! What a feed fetched is kept in a mirror folder (`DATA/feeds/NAME/`), so a document the ingest pipeline of this
//! build cannot read (CSAF, KEV) is still kept, and reported as stored, not ingested.
//!
//! Credentials: a feed's token is sent only as `Authorization: Bearer` to the feed's own server (reqwest drops it on
//! a redirect to another host); it appears in no log, error message or JSON output.
//!
//! One pull of a feed at a time across every process sharing the store (several servers on one PostgreSQL store, a
//! server and the CLI on one data directory): [`pull`] takes the feed's lease in the store first
//! ([`FeedStore::claim_feed`]), renews it while the pull runs and releases it at the end, failed or not. A process
//! that dies leaves its lease to run out ([`LEASE`]).

mod csaf;
pub mod csaf_aggregator;
pub mod csaf_integrity;
pub use csaf::{pinned_keys, PINNED_KEYS_CURSOR};
pub mod http;
mod misp;
mod taxii;
mod urlfeed;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;
use url::Url;
use vigil_formats::Format;
use vigil_ingest::{ingest_paths, Options, Report};
use vigil_model::Tlp;
use vigil_store::{
    AsStore, FeedClaim, FeedCursor, FeedLease, FeedPullRecord, FeedRecord, FeedStore, Store,
    StoreError,
};

pub use http::Transfer;

/// Largest body accepted by default (after decompression): 512 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Default pull interval.
pub const DEFAULT_INTERVAL_SECS: i64 = 3600;
/// How long a pull's lease on its feed runs past its last renewal: long enough that a store busy with other writers
/// for a while does not lose it, short enough that a feed whose puller died is pulled again soon.
pub const LEASE: Duration = Duration::from_secs(600);
/// How often a running pull renews its lease: several renewals fit in one [`LEASE`], so one that fails (the store
/// busy, the network to it down for a moment) is made up by the next.
const RENEW_EVERY: Duration = Duration::from_secs(60);

/// Why a feed could not be defined or pulled.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{0}")]
    Config(String),
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },
    #[error("{url}: the body exceeds the feed's size limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: {reason}")]
    Protocol { url: String, reason: String },
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ingest: {0}")]
    Ingest(String),
    /// The pull's lease ran out (the store unreachable for longer than [`LEASE`]) and another process took it: this
    /// pull stops before it moves a cursor the other one is moving too.
    #[error("the lease on feed `{feed}` ran out and another process took it; this pull stopped")]
    LeaseLost { feed: String },
}

/// The kinds of feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    Url,
    Taxii,
    MispFeed,
    Csaf,
}

impl FeedKind {
    pub fn parse(s: &str) -> Result<FeedKind, FeedError> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "url" => FeedKind::Url,
            "taxii" => FeedKind::Taxii,
            "misp-feed" | "misp" => FeedKind::MispFeed,
            "csaf" => FeedKind::Csaf,
            _ => {
                return Err(FeedError::Config(format!(
                    "unknown feed kind `{s}` (taxii, url, misp-feed, csaf)"
                )))
            }
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Url => "url",
            FeedKind::Taxii => "taxii",
            FeedKind::MispFeed => "misp-feed",
            FeedKind::Csaf => "csaf",
        }
    }
}

/// Parses an interval: `90s`, `30m`, `1h`, `2d`, or a number of seconds. At least one minute.
pub fn parse_interval(s: &str) -> Result<i64, FeedError> {
    let t = s.trim();
    let bad = || {
        FeedError::Config(format!(
            "`{s}` is not an interval (e.g. 15m, 1h, 1d, or seconds)"
        ))
    };
    let (num, mul) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        Some((i, 'd')) => (&t[..i], 86400),
        Some(_) => (t, 1),
        None => return Err(bad()),
    };
    let n: i64 = num.trim().parse().map_err(|_| bad())?;
    let secs = n.checked_mul(mul).ok_or_else(bad)?;
    if secs < 60 {
        return Err(FeedError::Config(format!(
            "interval `{s}` is shorter than a minute"
        )));
    }
    Ok(secs)
}

/// Formats an interval the way `parse_interval` reads it.
pub fn format_interval(secs: i64) -> String {
    if secs % 86400 == 0 {
        format!("{}d", secs / 86400)
    } else if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// Checks a feed definition (name, kind, URL, TLP, format) before it is stored.
pub fn validate(f: &FeedRecord) -> Result<(), FeedError> {
    if f.name.is_empty()
        || f.name.len() > 64
        || !f
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        || f.name.starts_with('.')
    {
        return Err(FeedError::Config(format!(
            "feed name `{}` must be 1-64 letters, digits, `-`, `_` or `.` (not starting with `.`)",
            f.name
        )));
    }
    FeedKind::parse(&f.kind)?;
    let u = Url::parse(&f.url)
        .map_err(|e| FeedError::Config(format!("feed `{}`: URL `{}`: {e}", f.name, f.url)))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(FeedError::Config(format!(
            "feed `{}`: only http and https URLs can be pulled",
            f.name
        )));
    }
    if let Some(t) = &f.tlp {
        t.parse::<Tlp>()
            .map_err(|e| FeedError::Config(format!("feed `{}`: {e}", f.name)))?;
    }
    if f.interval_secs < 60 {
        return Err(FeedError::Config(format!(
            "feed `{}`: interval must be at least a minute",
            f.name
        )));
    }
    if let Some(c) = &f.collection {
        if f.kind != "taxii" {
            return Err(FeedError::Config(format!(
                "feed `{}`: --collection applies to taxii feeds only",
                f.name
            )));
        }
        if c.is_empty() || c.contains(['/', '?', '#']) {
            return Err(FeedError::Config(format!(
                "feed `{}`: `{c}` is not a TAXII collection id",
                f.name
            )));
        }
    }
    if (!f.openpgp_keys.is_empty() || f.require_signature) && f.kind != "csaf" {
        return Err(FeedError::Config(format!(
            "feed `{}`: OpenPGP keys and --require-signature apply to csaf feeds only",
            f.name
        )));
    }
    for k in &f.openpgp_keys {
        if csaf_integrity::parse_fingerprint(k).as_deref() != Ok(k.as_str()) {
            return Err(FeedError::Config(format!(
                "feed `{}`: `{k}` is not an OpenPGP fingerprint (40 or 64 upper-case hex digits)",
                f.name
            )));
        }
    }
    Ok(())
}

/// The outcome of one feed's pull (`vigil feeds pull --json` prints a list of these).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PullReport {
    pub feed: String,
    pub kind: String,
    pub ok: bool,
    pub error: Option<String>,
    #[serde(flatten)]
    pub transfer: Transfer,
    /// Resources (documents, events, TAXII pages) whose bodies were new or changed.
    pub changed: u64,
    /// Resources skipped because their validators or timestamps said nothing changed.
    pub unchanged_resources: u64,
    /// Objects handed to the ingest pipeline.
    pub objects_received: u64,
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// Files kept in the mirror but not ingested, because this build cannot read their format.
    pub stored_not_ingested: u64,
    /// Why files were stored but not ingested.
    pub not_ingested_reason: Option<String>,
    /// Per-item problems (file, location, reason), at most 100.
    pub problems: Vec<vigil_ingest::IngestError>,
    /// CSAF: what the documents' hash files and signatures showed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity: Option<IntegrityCounts>,
    /// TAXII: the collections followed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub collections: Vec<String>,
    pub seconds: f64,
    /// Set when this process did not pull the feed because another holds its lease (is pulling it now): who, and
    /// until when. Built by the caller from [`Pulled::Busy`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<FeedLease>,
}

impl PullReport {
    fn absorb(&mut self, r: &Report) {
        self.added += r.added;
        self.updated += r.updated;
        self.unchanged += r.unchanged;
        self.rejected += r.rejected;
        self.objects_received += r.added + r.updated + r.unchanged + r.rejected;
        for e in &r.errors {
            if self.problems.len() < 100 {
                self.problems.push(e.clone());
            }
        }
    }
    fn problem(&mut self, file: &str, location: &str, reason: &str) {
        if self.problems.len() < 100 {
            self.problems.push(vigil_ingest::IngestError {
                file: file.into(),
                location: location.into(),
                reason: reason.into(),
            });
        }
    }
}

/// What a CSAF pull checked of the documents it fetched (`csaf_integrity`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntegrityCounts {
    /// Fingerprints of the provider's keys that were fetched and passed their checks.
    pub keys: Vec<String>,
    /// The provider lists keys (or the feed trusts some, or requires signatures), so every document must carry a
    /// signature that verifies.
    pub signatures_required: bool,
    /// Where the trust in `keys` comes from: `metadata` (the provider metadata as fetched; `vigil ingest URL`),
    /// `declared` (the feed's `openpgp_keys`), `pinned` (the keys seen on an earlier pull), `first-use` (pinned by
    /// this pull), or `none` (the provider lists no key).
    pub trust: &'static str,
    /// Keys the provider lists that passed their checks but that the feed does not trust (a rotation, or someone
    /// else's key): documents signed only by them are refused until an operator trusts them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub untrusted_keys: Vec<String>,
    /// The held keys' life worth knowing: expired or retired keys, keys that expire within 30 days.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_notes: Vec<String>,
    /// `vigil ingest URL` of single documents: the provider metadata their keys were read from (the documents'
    /// host's `/.well-known/csaf/provider-metadata.json`), when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    pub hash_matched: u64,
    pub signature_verified: u64,
    /// Documents taken without a hash or a signature to check (the provider publishes none).
    pub unchecked: u64,
    /// A few of them, with what was missing.
    pub unchecked_examples: Vec<String>,
    /// Documents refused: hash mismatch, bad or missing signature (the reasons are among the problems).
    pub refused: u64,
}

impl IntegrityCounts {
    /// Counts what the check of one document (`doc`, as reports name it) found.
    pub fn count(
        &mut self,
        doc: &str,
        checked: &Result<csaf_integrity::Checked, csaf_integrity::IntegrityError>,
    ) {
        match checked {
            Ok(c) => {
                self.hash_matched += u64::from(c.hash.is_some());
                self.signature_verified += u64::from(c.signed_by.is_some());
                if !c.unchecked.is_empty() {
                    self.unchecked += 1;
                    if self.unchecked_examples.len() < 5 {
                        self.unchecked_examples
                            .push(format!("{doc}: {}", c.unchecked.join("; ")));
                    }
                }
            }
            Err(_) => self.refused += 1,
        }
    }
}

/// Everything a pull needs besides the feed.
pub struct PullCtx<'a, S: Store + FeedStore + AsStore + ?Sized> {
    pub store: &'a S,
    /// Readers for formats the ingest pipeline does not have (the binary's advisory readers: KEV, CSAF, ...).
    pub extra: Option<&'a dyn ExtraIngest>,
    /// The data directory (mirrors live in `feeds/NAME/` under it).
    pub data: &'a Path,
    pub max_bytes: u64,
    pub timeout: Duration,
    /// CAs trusted besides the system's and the built-in roots.
    pub roots: &'a http::TrustRoots,
    /// Names this process in the leases it takes (see [`FeedLease::holder`]); unique among the processes sharing
    /// the store.
    pub holder: &'a str,
}

/// What an extra reader did with some files.
#[derive(Debug, Clone, Default)]
pub struct ExtraCounts {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
}

/// Formats read outside the ingest pipeline (the advisory formats live in the binary, beside the notices they
/// re-evaluate); a pull hands such files over instead of keeping them unread.
pub trait ExtraIngest {
    /// True when this reader takes files of `format`.
    fn handles(&self, format: &str) -> bool;
    /// Reads and stores the files; `Err` is a reason that names what failed.
    fn ingest(
        &self,
        paths: &[PathBuf],
        format: &str,
        opts: &Options,
    ) -> Result<ExtraCounts, String>;
}

/// One running pull: the feed, its client, its mirror, its report.
pub(crate) struct Pull<'a, S: Store + FeedStore + AsStore + ?Sized> {
    pub store: &'a S,
    pub extra: Option<&'a dyn ExtraIngest>,
    pub feed: &'a FeedRecord,
    pub http: http::Http,
    pub mirror: PathBuf,
    pub report: PullReport,
    pub opts: Options,
    cursors: Vec<FeedCursor>,
    /// Set by the renewing thread once another process has taken the lease.
    lost: &'a AtomicBool,
}

impl<'a, S: Store + FeedStore + AsStore + ?Sized> Pull<'a, S> {
    pub fn url(&self) -> Result<Url, FeedError> {
        Url::parse(&self.feed.url).map_err(|e| FeedError::Config(format!("URL: {e}")))
    }

    pub fn cursor(&self, key: &str) -> Option<&FeedCursor> {
        self.cursors.iter().find(|c| c.key == key)
    }

    pub fn set_cursor(
        &mut self,
        key: &str,
        etag: Option<String>,
        last_modified: Option<String>,
        value: Option<String>,
    ) -> Result<(), FeedError> {
        if self.lost.load(Ordering::Relaxed) {
            return Err(FeedError::LeaseLost {
                feed: self.feed.name.clone(),
            });
        }
        let c = FeedCursor {
            key: key.to_string(),
            etag,
            last_modified,
            value,
            updated_at: vigil_model::time::format(&chrono::Utc::now()),
        };
        self.store.put_feed_cursor(&self.feed.name, &c)?;
        match self.cursors.iter_mut().find(|x| x.key == key) {
            Some(x) => *x = c,
            None => self.cursors.push(c),
        }
        Ok(())
    }

    /// Writes a body into the mirror at a relative path (made safe) and returns the full path.
    pub fn keep(&self, rel: &str, bytes: &[u8]) -> Result<PathBuf, FeedError> {
        let path = self.mirror.join(safe_rel(rel));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| FeedError::Io {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        let tmp = path.with_extension("part");
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| FeedError::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        Ok(path)
    }

    /// Ingests files with a format name (`auto` when None). A format this build cannot read leaves the files
    /// stored in the mirror and says so.
    pub fn ingest(&mut self, paths: &[PathBuf], format: Option<&str>) -> Result<(), FeedError> {
        if paths.is_empty() {
            return Ok(());
        }
        if let (Some(x), Some(f)) = (self.extra, format) {
            if x.handles(f) {
                let c = x.ingest(paths, f, &self.opts).map_err(FeedError::Ingest)?;
                self.report.added += c.added;
                self.report.updated += c.updated;
                self.report.unchanged += c.unchanged;
                self.report.rejected += c.rejected;
                return Ok(());
            }
        }
        let fmt = match format {
            None | Some("auto") => None,
            Some(f) => match Format::parse(f) {
                Some(f) => Some(f),
                None => {
                    self.report.stored_not_ingested += paths.len() as u64;
                    self.report.not_ingested_reason = Some(format!(
                        "this build's ingest pipeline cannot read `{f}`; the files are kept in {}",
                        self.mirror.display()
                    ));
                    return Ok(());
                }
            },
        };
        let opts = Options {
            format: fmt,
            ..self.opts.clone()
        };
        let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let r = ingest_paths(self.store.as_store(), &list, &opts, &mut |_| {})
            .map_err(|e| FeedError::Ingest(e.to_string()))?;
        self.report.absorb(&r);
        Ok(())
    }
}

/// A relative path with every component made safe (no `..`, no absolute part, no odd characters).
pub(crate) fn safe_rel(rel: &str) -> PathBuf {
    let mut p = PathBuf::new();
    for part in rel.split(['/', '\\']) {
        if part.is_empty() || part == "." || part == ".." {
            continue;
        }
        let clean: String = part
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '~') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let clean = clean.trim_start_matches('.').to_string();
        if !clean.is_empty() {
            p.push(clean);
        }
    }
    if p.as_os_str().is_empty() {
        p.push("document");
    }
    p
}

/// What [`pull`] did.
#[derive(Debug)]
pub enum Pulled {
    /// The feed was pulled; the report says how that went.
    Done(Box<PullReport>),
    /// Another process holds the feed's lease: it is pulling the feed now.
    Busy(FeedLease),
    /// Only a due feed was to be pulled, and once its lease was taken the feed no longer was: another process
    /// finished pulling it since it was listed.
    NotDue,
    /// The feed was removed since it was listed.
    Gone,
}

/// Pulls one feed now (`only_due`: if it is due), records its outcome in the store, and returns the report.
/// `feed` is the definition to pull with (its credential resolved); its lease and status are read again from the
/// store. Network and format problems become the report's error (and the feed's `last_error`); only a store failure
/// is an `Err`.
pub fn pull<S: Store + FeedStore + AsStore + ?Sized>(
    ctx: &PullCtx<'_, S>,
    feed: &FeedRecord,
    only_due: bool,
) -> Result<Pulled, FeedError> {
    let now = chrono::Utc::now();
    let claimed = ctx
        .store
        .claim_feed(&feed.name, ctx.holder, now, now + LEASE)?;
    let current = match claimed {
        FeedClaim::Taken(f) => f,
        FeedClaim::Held(lease) => return Ok(Pulled::Busy(lease)),
        FeedClaim::Missing => return Ok(Pulled::Gone),
    };
    let out = if only_due && !due(&current, now) {
        Ok(Pulled::NotDue)
    } else {
        let lost = AtomicBool::new(false);
        std::thread::scope(|sc| {
            let (stop, stopped) = mpsc::channel::<()>();
            let (lost, store, holder) = (&lost, ctx.store, ctx.holder);
            sc.spawn(move || keep_lease(store, &feed.name, holder, lost, &stopped, RENEW_EVERY));
            let r = pull_leased(ctx, feed, lost);
            drop(stop);
            r
        })
        .map(|r| Pulled::Done(Box::new(r)))
    };
    // Released whatever the outcome; only a process that dies leaves its lease to run out.
    if let Err(e) = ctx.store.release_feed(&feed.name, ctx.holder) {
        tracing::warn!(feed = %feed.name, error = %e, "could not release the feed's lease; it runs out by itself");
    }
    out
}

/// Renews a running pull's lease `every` so often until `stop` is dropped; marks it `lost` when another process
/// has taken it.
fn keep_lease<S: FeedStore + ?Sized>(
    store: &S,
    feed: &str,
    holder: &str,
    lost: &AtomicBool,
    stop: &mpsc::Receiver<()>,
    every: Duration,
) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(every) {
        match store.renew_feed(feed, holder, chrono::Utc::now() + LEASE) {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(feed, "the feed's lease ran out and another process took it");
                lost.store(true, Ordering::Relaxed);
                return;
            }
            // The lease still runs for a while: the next renewal may get through.
            Err(e) => tracing::warn!(feed, error = %e, "could not renew the feed's lease"),
        }
    }
}

fn pull_leased<S: Store + FeedStore + AsStore + ?Sized>(
    ctx: &PullCtx<'_, S>,
    feed: &FeedRecord,
    lost: &AtomicBool,
) -> Result<PullReport, FeedError> {
    let started = Instant::now();
    let mut report = PullReport {
        feed: feed.name.clone(),
        kind: feed.kind.clone(),
        ..PullReport::default()
    };
    let outcome = run(ctx, feed, &mut report, lost);
    report.seconds = started.elapsed().as_secs_f64();
    let error = match outcome {
        Ok(()) => None,
        Err(FeedError::Store(e)) => return Err(FeedError::Store(e)),
        Err(e) => Some(e.to_string()),
    };
    report.ok = error.is_none();
    report.error = error.clone();
    tracing::info!(feed = %feed.name, kind = %feed.kind, ok = report.ok, added = report.added,
        requests = report.transfer.requests, not_modified = report.transfer.not_modified, "feed pulled");
    ctx.store.record_feed_pull(
        &feed.name,
        &FeedPullRecord {
            at: vigil_model::time::format(&chrono::Utc::now()),
            error,
            added: report.added as i64,
            updated: report.updated as i64,
            bytes: report.transfer.bytes as i64,
        },
    )?;
    Ok(report)
}

fn run<S: Store + FeedStore + AsStore + ?Sized>(
    ctx: &PullCtx<'_, S>,
    feed: &FeedRecord,
    report: &mut PullReport,
    lost: &AtomicBool,
) -> Result<(), FeedError> {
    validate(feed)?;
    let kind = FeedKind::parse(&feed.kind)?;
    let tlp = match &feed.tlp {
        Some(t) => Some(
            t.parse::<Tlp>()
                .map_err(|e| FeedError::Config(e.to_string()))?,
        ),
        None => None,
    };
    let mirror = ctx.data.join("feeds").join(safe_rel(&feed.name));
    std::fs::create_dir_all(&mirror).map_err(|e| FeedError::Io {
        path: mirror.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut p = Pull {
        store: ctx.store,
        extra: ctx.extra,
        feed,
        http: http::Http::new(feed.token.clone(), ctx.max_bytes, ctx.timeout, ctx.roots)?,
        mirror,
        report: std::mem::take(report),
        opts: Options {
            format: None,
            source: Some(feed.source.clone().unwrap_or_else(|| feed.name.clone())),
            tlp,
            confidence: None,
        },
        cursors: ctx.store.feed_cursors(&feed.name)?,
        lost,
    };
    let res = match kind {
        FeedKind::Url => urlfeed::pull(&mut p),
        FeedKind::Taxii => taxii::pull(&mut p),
        FeedKind::MispFeed => misp::pull(&mut p),
        FeedKind::Csaf => csaf::pull(&mut p),
    };
    p.report.transfer = p.http.transfer;
    *report = p.report;
    res
}

/// True when a feed is due: never pulled, or its interval has passed since the last attempt.
pub fn due(feed: &FeedRecord, now: chrono::DateTime<chrono::Utc>) -> bool {
    match feed
        .status
        .last_attempt
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    {
        None => true,
        Some(t) => (now - t.with_timezone(&chrono::Utc)).num_seconds() >= feed.interval_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1h").ok(), Some(3600));
        assert_eq!(parse_interval("15m").ok(), Some(900));
        assert_eq!(parse_interval("2d").ok(), Some(172800));
        assert_eq!(parse_interval("120").ok(), Some(120));
        assert!(parse_interval("10s").is_err());
        assert!(parse_interval("h").is_err());
        assert!(parse_interval("").is_err());
        assert!(parse_interval("-5h").is_err());
        assert_eq!(format_interval(3600), "1h");
    }

    fn feed(name: &str, url: &str) -> FeedRecord {
        FeedRecord {
            url: url.into(),
            token: None,
            tlp: None,
            ..vigil_store::conformance::feed_rec(name)
        }
    }

    /// What `pull` does around the pull itself: a feed another process holds is not pulled; a feed listed as due
    /// but pulled by another process since (its record in the store says so) is not pulled when only due feeds
    /// are; a removed feed is not pulled; the lease is given back also when the pull fails.
    #[test]
    fn pulls_take_the_lease_and_give_it_back() -> Result<(), Box<dyn std::error::Error>> {
        use vigil_store::sqlite::SqliteStore;
        let dir = tempfile::tempdir()?;
        let store = SqliteStore::open(dir.path())?;
        // Nothing listens on port 9 of the loopback (discard): the pull fails at once.
        let listed = feed("f", "http://127.0.0.1:9/x.json");
        store.put_feed(&listed)?;
        let ctx = PullCtx {
            store: &store,
            extra: None,
            data: dir.path(),
            max_bytes: 1024,
            timeout: Duration::from_secs(5),
            roots: &http::TrustRoots::default(),
            holder: "me",
        };

        let now = chrono::Utc::now();
        let other = store.claim_feed("f", "other", now, now + LEASE)?;
        assert!(matches!(other, FeedClaim::Taken(_)));
        match pull(&ctx, &listed, false)? {
            Pulled::Busy(l) => assert_eq!(l.holder, "other"),
            p => panic!("pulled a feed another process holds: {p:?}"),
        }
        assert_eq!(
            store
                .feed("f")?
                .and_then(|f| f.lease)
                .map(|l| l.holder)
                .as_deref(),
            Some("other")
        );
        assert!(store.release_feed("f", "other")?);

        match pull(&ctx, &listed, true)? {
            Pulled::Done(r) => assert!(!r.ok && r.error.is_some(), "{r:?}"),
            p => panic!("a due feed was not pulled: {p:?}"),
        }
        let after = store.feed("f")?.ok_or("feed f gone")?;
        assert_eq!(after.lease, None, "released after a failed pull");
        assert_eq!(after.status.pulls, 1);

        // `listed` still says never pulled; the store knows better.
        assert!(due(&listed, chrono::Utc::now()));
        assert!(matches!(pull(&ctx, &listed, true)?, Pulled::NotDue));
        let after = store.feed("f")?.ok_or("feed f gone")?;
        assert_eq!((after.lease, after.status.pulls), (None, 1));

        assert!(store.remove_feed("f")?);
        assert!(matches!(pull(&ctx, &listed, false)?, Pulled::Gone));
        Ok(())
    }

    /// A running pull's lease is renewed until the pull ends, and marked lost once another process has it.
    #[test]
    fn leases_are_renewed_until_lost() -> Result<(), Box<dyn std::error::Error>> {
        use vigil_store::sqlite::SqliteStore;
        let dir = tempfile::tempdir()?;
        let store = SqliteStore::open(dir.path())?;
        store.put_feed(&feed("f", "http://127.0.0.1:9/x.json"))?;
        let now = chrono::Utc::now();
        let short = now + chrono::Duration::seconds(5);
        assert!(matches!(
            store.claim_feed("f", "me", now, short)?,
            FeedClaim::Taken(_)
        ));
        let lost = AtomicBool::new(false);
        let until = |s: &SqliteStore| s.feed("f").ok().flatten().and_then(|f| f.lease);
        std::thread::scope(|sc| -> Result<(), Box<dyn std::error::Error>> {
            let (stop, stopped) = mpsc::channel::<()>();
            let (store, lost) = (&store, &lost);
            let t = sc.spawn(move || {
                keep_lease(store, "f", "me", lost, &stopped, Duration::from_millis(10))
            });
            let deadline = Instant::now() + Duration::from_secs(30);
            while until(store).is_some_and(|l| l.until <= vigil_model::time::sort_key(&short)) {
                assert!(Instant::now() < deadline, "the lease was never renewed");
                std::thread::sleep(Duration::from_millis(10));
            }
            assert!(!lost.load(Ordering::Relaxed));
            // Another process takes it (as if this one's had run out).
            assert!(store.release_feed("f", "me")?);
            assert!(matches!(
                store.claim_feed("f", "other", now, short)?,
                FeedClaim::Taken(_)
            ));
            while !t.is_finished() {
                assert!(Instant::now() < deadline, "the loss was never noticed");
                std::thread::sleep(Duration::from_millis(10));
            }
            drop(stop);
            Ok(())
        })?;
        assert!(lost.load(Ordering::Relaxed));
        assert_eq!(until(&store).map(|l| l.holder).as_deref(), Some("other"));
        Ok(())
    }

    #[test]
    fn safe_paths() {
        assert_eq!(safe_rel("../../etc/passwd"), PathBuf::from("etc/passwd"));
        assert_eq!(safe_rel("/a/./b c.json"), PathBuf::from("a/b_c.json"));
        assert_eq!(safe_rel(".."), PathBuf::from("document"));
        assert_eq!(safe_rel(".hidden"), PathBuf::from("hidden"));
    }

    proptest! {
        #[test]
        fn safe_rel_never_escapes(s in ".{0,80}") {
            let p = safe_rel(&s);
            prop_assert!(p.is_relative());
            for c in p.components() {
                prop_assert!(matches!(c, std::path::Component::Normal(_)));
            }
        }

        #[test]
        fn intervals_roundtrip(n in 1i64..100_000) {
            let secs = n * 60;
            prop_assert_eq!(parse_interval(&format_interval(secs)).ok(), Some(secs));
        }
    }
}
