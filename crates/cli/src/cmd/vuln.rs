//! Vulnerability notices on the command line: advisory files through `vigil ingest`, `vigil inventory`,
//! `vigil scan`, `vigil notices` and `vigil bench vuln`.
//!
//! The advisory index is built from the store (the normalised advisories `vigil ingest` keeps, EPSS scores, and
//! the actors the knowledge base links to CVEs) or, for `vigil scan --advisories`, from files. Every evaluation of
//! members' inventories writes notices through the store: a notice gets a new version only when the facts that
//! decide it change, so nothing is sent twice for the same facts.

mod bench;

/// `println!` that does not panic when stdout is a closed pipe (`vigil notices | head`).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use vigil_formats::{input, FormatError};
use vigil_model::{ids::vigil_id, Provenance, StixObject, Tlp};
use vigil_store::{AdvisoryRow, NoticeFilter, NoticeRecord, PutMode, PutOutcome, ScanFilter};
use vigil_vuln::advisory::{sniff, EpssScore, FeedFormat};
use vigil_vuln::matcher::ScanOptions;
use vigil_vuln::notice::CsafPublisher;
use vigil_vuln::{read_advisories, read_inventory, scan, Advisory, Index, IndexBuilder, Notice};

pub use bench::BenchVulnArgs;

use super::Env;
use crate::args::IngestArgs;

/// Formats `vigil ingest --format` accepts for advisory data.
pub const ADVISORY_FORMATS: [&str; 6] = ["kev", "epss", "cve5", "osv", "rustsec", "csaf"];

/// Largest single advisory or inventory file read (a KEV catalogue is about 1 MiB, CSAF documents rarely 5).
const MAX_FILE: u64 = 256 * 1024 * 1024;

/// The date deadlines count from and overdue is judged against: today (UTC), or `VIGIL_TODAY` (YYYY-MM-DD) to
/// replay an evaluation as of another day.
fn today() -> anyhow::Result<chrono::NaiveDate> {
    match std::env::var("VIGIL_TODAY") {
        Ok(d) => chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
            .with_context(|| format!("VIGIL_TODAY `{d}` is not a YYYY-MM-DD date")),
        Err(_) => Ok(chrono::Utc::now().date_naive()),
    }
}

/// The EPSS threshold for re-evaluations that have no flag of their own (`VIGIL_EPSS_THRESHOLD`, else 0.1).
pub(crate) fn epss_threshold_env() -> f64 {
    std::env::var("VIGIL_EPSS_THRESHOLD")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|t: &f64| (0.0..=1.0).contains(t))
        .unwrap_or(0.1)
}

/// Default EPSS probability above which a notice is re-ranked (a new version).
const EPSS_THRESHOLD: &str = "0.1";

// ------------------------------------------------------------------------------------------------ arguments

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Import a member's software inventory: CycloneDX JSON (1.4-1.6), SPDX JSON 2.3, a purl list, a CPE list or
    /// CSV `vendor,product,version,host,internet_facing,criticality`. Importing the same name again replaces it.
    Import(InventoryImportArgs),
    /// The stored inventories.
    List(InventoryListArgs),
    /// Remove a member's inventory (its notices are resolved at the next evaluation).
    Remove(InventoryRemoveArgs),
}

#[derive(Debug, Args)]
pub struct InventoryImportArgs {
    /// The member the inventory belongs to (`vigil members list`).
    #[arg(long)]
    pub member: i64,
    /// The inventory file.
    pub file: std::path::PathBuf,
    /// Name to keep it under (default: the file name).
    #[arg(long)]
    pub name: Option<String>,
    /// EPSS probability at which a notice is re-ranked.
    #[arg(long, env = "VIGIL_EPSS_THRESHOLD", default_value = EPSS_THRESHOLD)]
    pub epss_threshold: f64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InventoryListArgs {
    #[arg(long)]
    pub member: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InventoryRemoveArgs {
    #[arg(long)]
    pub member: i64,
    pub name: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The inventory (CycloneDX, SPDX, purl list, CPE list or CSV).
    pub sbom: std::path::PathBuf,
    /// Build the index from these advisory files or folders instead of the knowledge base (repeatable).
    #[arg(long = "advisories")]
    pub advisories: Vec<String>,
    /// Scan as this member: only advisories it may see (TLP), and no standalone asset assumption.
    #[arg(long)]
    pub member: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NoticesArgs {
    #[command(subcommand)]
    pub command: Option<NoticesCommand>,
    #[command(flatten)]
    pub list: NoticesListArgs,
}

#[derive(Debug, Args)]
pub struct NoticesListArgs {
    /// Only this member's notices (a member never sees another member's).
    #[arg(long)]
    pub member: Option<i64>,
    /// new|acknowledged|resolved
    #[arg(long)]
    pub status: Option<String>,
    /// json|md|html|csaf (`--json` is `--format json`).
    #[arg(long)]
    pub format: Option<String>,
    /// Write one file per notice into this folder instead of printing.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Only overdue notices.
    #[arg(long)]
    pub overdue: bool,
    /// Publisher namespace written into CSAF documents.
    #[arg(long, default_value = "https://vigil.local")]
    pub namespace: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum NoticesCommand {
    /// One notice in full, in any format.
    Show(NoticeShowArgs),
    /// Every version of a notice, with what changed.
    History(NoticeIdArgs),
    /// The member has seen it.
    Ack(NoticeIdArgs),
    /// The member has acted on it.
    Resolve(NoticeIdArgs),
    /// Back to new (e.g. resolved by mistake).
    Reopen(NoticeIdArgs),
    /// Re-evaluate members' inventories against the knowledge base now (done after every advisory ingest and
    /// inventory import).
    Update(NoticeUpdateArgs),
}

#[derive(Debug, Args)]
pub struct NoticeShowArgs {
    pub id: String,
    /// Only if it is this member's notice.
    #[arg(long)]
    pub member: Option<i64>,
    /// json|md|html|csaf
    #[arg(long, default_value = "md")]
    pub format: String,
    #[arg(long, default_value = "https://vigil.local")]
    pub namespace: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NoticeIdArgs {
    pub id: String,
    /// Acting for this member: only its own notices can change.
    #[arg(long)]
    pub member: Option<i64>,
    /// A note kept with the status (what was done).
    #[arg(long)]
    pub note: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NoticeUpdateArgs {
    #[arg(long)]
    pub member: Option<i64>,
    #[arg(long, env = "VIGIL_EPSS_THRESHOLD", default_value = EPSS_THRESHOLD)]
    pub epss_threshold: f64,
    #[arg(long)]
    pub json: bool,
}

// ------------------------------------------------------------------------------------------------ ingest

/// `vigil ingest`: advisory files go to the advisory readers, everything else to the knowledge-base readers.
pub fn ingest(env: &Env, a: &IngestArgs) -> anyhow::Result<u8> {
    let (vuln_paths, kb_paths): (Vec<String>, Vec<String>) =
        if ADVISORY_FORMATS.contains(&a.format.as_str()) {
            (a.paths.clone(), Vec::new())
        } else if a.format == "auto" {
            a.paths.iter().cloned().partition(|p| {
                p.starts_with("http://") || p.starts_with("https://") || is_advisory_path(p)
            })
        } else {
            (Vec::new(), a.paths.clone())
        };
    if a.json && !kb_paths.is_empty() && !vuln_paths.is_empty() {
        // One JSON document: the knowledge-base report with the advisory report under `advisories`.
        let opts = super::ingest::options(a)?;
        let before = env.store.max_seq()?;
        let report = vigil_ingest::ingest_paths(&*env.store, &kb_paths, &opts, &mut |_| {})?;
        if !a.share_with.is_empty() {
            super::members::share_after_ingest(env, before, &a.share_with)?;
        }
        let (code, adv) = ingest_advisories(env, a, &vuln_paths, true)?;
        let mut v = serde_json::to_value(&report)?;
        v["advisories"] = serde_json::to_value(&adv)?;
        crate::output::json(&v)?;
        return Ok(report.exit_code().max(code));
    }
    let mut code = 0;
    if !kb_paths.is_empty() {
        let kb = IngestArgs {
            paths: kb_paths,
            format: a.format.clone(),
            source: a.source.clone(),
            tlp: a.tlp.clone(),
            confidence: a.confidence,
            share_with: a.share_with.clone(),
            require_signature: a.require_signature,
            openpgp_keys: a.openpgp_keys.clone(),
            json: a.json,
        };
        code = super::ingest::run(env, &kb)?;
    }
    if !vuln_paths.is_empty() {
        code = code.max(ingest_advisories(env, a, &vuln_paths, false)?.0);
    }
    Ok(code)
}

/// True when the first files of a path (file, folder or archive) are advisory files.
fn is_advisory_path(path: &str) -> bool {
    let mut found = false;
    let mut looked = 0;
    let _ = input::walk(
        path,
        &mut |mut unit| {
            let base = unit
                .name
                .rsplit(['/', '!'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if base.starts_with("license") || base.starts_with("readme") || base.ends_with(".txt") {
                return Ok(());
            }
            let mut head = Vec::with_capacity(64 * 1024);
            let _ = (&mut unit.reader).take(64 * 1024).read_to_end(&mut head);
            looked += 1;
            if sniff(&unit.name, &head).is_some() {
                found = true;
            }
            if found || looked >= 8 {
                Err(FormatError::Sink("enough".into()))
            } else {
                Ok(())
            }
        },
        &mut |_| Err(FormatError::Sink("a MISP feed".into())),
        &mut |_| Ok(()),
    );
    found
}

/// Lets a feed pull hand advisory files (KEV, EPSS, CVE 5, OSV, RustSec, CSAF) to the advisory readers, so that a
/// KEV or CSAF feed is ingested, and notices re-evaluated, like `vigil ingest` of the same files.
pub struct AdvisoryFeedIngest<'e> {
    pub env: &'e Env,
}

impl vigil_feeds::ExtraIngest for AdvisoryFeedIngest<'_> {
    fn handles(&self, format: &str) -> bool {
        ADVISORY_FORMATS.contains(&format)
    }

    fn ingest(
        &self,
        paths: &[std::path::PathBuf],
        format: &str,
        opts: &vigil_ingest::Options,
    ) -> Result<vigil_feeds::ExtraCounts, String> {
        let a = IngestArgs {
            paths: paths.iter().map(|p| p.display().to_string()).collect(),
            format: format.to_string(),
            source: opts.source.clone(),
            tlp: opts.tlp.map(|t| t.as_str().to_string()),
            confidence: opts.confidence,
            share_with: Vec::new(),
            require_signature: false,
            openpgp_keys: Vec::new(),
            json: true,
        };
        let (_, rep) =
            ingest_advisories(self.env, &a, &a.paths, true).map_err(|e| format!("{e:#}"))?;
        Ok(vigil_feeds::ExtraCounts {
            added: rep.added,
            updated: rep.updated,
            unchanged: rep.unchanged,
            rejected: rep.rejected + rep.failed_files,
        })
    }
}

#[derive(Debug, Default, serde::Serialize)]
struct AdvisoryReport {
    files: u64,
    /// Files in folders and archives that are not advisory files (licences, indexes, ...).
    skipped: u64,
    formats: BTreeMap<String, u64>,
    advisories: u64,
    added: u64,
    updated: u64,
    unchanged: u64,
    epss_scores: u64,
    epss_changed: u64,
    vulnerability_objects: u64,
    rejected: u64,
    failed_files: u64,
    errors: Vec<ErrorEntry>,
    errors_omitted: u64,
    /// Stored, but partly unusable (an ecosystem without a known version ordering): components it names are
    /// reported as unknown when scanned, never as not affected.
    warnings: Vec<ErrorEntry>,
    notices: Option<UpdateReport>,
    /// CSAF providers read over HTTP: what their documents' hash files and signatures showed.
    #[serde(skip_serializing_if = "Option::is_none")]
    integrity: Option<vigil_feeds::IntegrityCounts>,
    seconds: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
struct ErrorEntry {
    file: String,
    location: String,
    reason: String,
}

impl AdvisoryReport {
    fn error(&mut self, file: &str, location: &str, reason: &str) {
        if self.errors.len() < 1000 {
            self.errors.push(ErrorEntry {
                file: file.into(),
                location: location.into(),
                reason: reason.into(),
            });
        } else {
            self.errors_omitted += 1;
        }
    }
}

fn read_unit(unit: &mut input::Unit<'_>) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    (&mut unit.reader)
        .take(MAX_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("read error: {e}"))?;
    if buf.len() as u64 > MAX_FILE {
        return Err(format!("larger than {} MiB", MAX_FILE >> 20));
    }
    Ok(buf)
}

/// Ingests advisory paths; prints the report unless `quiet` (the caller then prints it with another report).
fn ingest_advisories(
    env: &Env,
    a: &IngestArgs,
    paths: &[String],
    quiet: bool,
) -> anyhow::Result<(u8, AdvisoryReport)> {
    let started = std::time::Instant::now();
    let forced = ADVISORY_FORMATS
        .contains(&a.format.as_str())
        .then_some(a.format.as_str());
    let tlp = match &a.tlp {
        Some(t) => Some(t.parse::<Tlp>().map_err(anyhow::Error::msg)?),
        None => None,
    };
    let before = env.store.max_seq()?;
    let pb = crate::output::progress("reading advisories");
    let mut rep = AdvisoryReport::default();
    let now = vigil_model::time::now();
    for path in paths {
        if path.starts_with("http://") || path.starts_with("https://") {
            let mut col = Collector::default();
            fetch_csaf(
                path,
                &env.settings.http.roots()?,
                &mut col,
                &mut rep,
                forced,
                (a.require_signature, &a.openpgp_keys),
                &pb,
            )?;
            let Collector {
                advisories,
                epss,
                epss_date,
            } = col;
            store_advisories(env, &advisories, tlp, a.source.as_deref(), &now, &mut rep)?;
            store_epss(env, &epss, epss_date.as_deref(), &mut rep)?;
            continue;
        }
        let explicit_file = std::path::Path::new(path).is_file();
        let mut col = Collector::default();
        let mut on_unit = |mut unit: input::Unit<'_>| -> Result<(), FormatError> {
            let name = unit.name.clone();
            match read_unit(&mut unit) {
                Ok(bytes) => {
                    let explicit = (explicit_file && name == *path) || name == "-";
                    col.take(&mut rep, &name, &bytes, explicit, forced);
                    pb.set_message(format!(
                        "{} files, {} advisories",
                        rep.files,
                        col.advisories.len()
                    ));
                }
                Err(e) => {
                    rep.failed_files += 1;
                    rep.error(&name, "file", &e);
                }
            }
            Ok(())
        };
        let mut walk_errors: Vec<(String, String)> = Vec::new();
        let res = input::walk(
            path,
            &mut on_unit,
            &mut |found| match found {
                input::Found::MispFeed(dir) => Err(FormatError::Unreadable {
                    file: dir.display().to_string(),
                    reason: "a MISP feed, not advisories".into(),
                }),
            },
            &mut |e| {
                let (file, reason) = match &e {
                    FormatError::Unreadable { file, reason } | FormatError::Io { file, reason } => {
                        (file.clone(), reason.clone())
                    }
                    FormatError::Sink(r) => (path.clone(), r.clone()),
                };
                walk_errors.push((file, reason));
                Ok(())
            },
        );
        for (file, reason) in walk_errors {
            rep.failed_files += 1;
            rep.error(&file, "file", &reason);
        }
        if let Err(e) = res {
            rep.failed_files += 1;
            rep.error(path, "file", &e.to_string());
        }
        let Collector {
            advisories,
            epss,
            epss_date,
        } = col;
        pb.set_message(format!("storing {} advisories", advisories.len()));
        store_advisories(env, &advisories, tlp, a.source.as_deref(), &now, &mut rep)?;
        store_epss(env, &epss, epss_date.as_deref(), &mut rep)?;
    }
    if !a.share_with.is_empty() {
        super::members::share_after_ingest(env, before, &a.share_with)?;
    }
    let changed = rep.added + rep.updated + rep.epss_changed;
    if changed > 0 && !env.store.inventories(None)?.is_empty() {
        pb.set_message("re-evaluating members' notices");
        rep.notices = Some(update_notices(env, None, epss_threshold_env())?);
    }
    pb.finish_and_clear();
    rep.seconds = started.elapsed().as_secs_f64();
    let stored = rep.added + rep.updated + rep.unchanged + rep.epss_scores;
    let code = if rep.failed_files > 0 && stored == 0 && rep.rejected == 0 {
        2
    } else if rep.rejected > 0 || rep.failed_files > 0 {
        1
    } else {
        0
    };
    if quiet {
        return Ok((code, rep));
    }
    if a.json {
        crate::output::json(&rep)?;
    } else {
        say!(
            "{} advisory files ({}): {} advisories ({} added, {} updated, {} unchanged), {} EPSS scores, {} rejected, {} other files skipped ({:.1} s)",
            rep.files,
            rep.formats
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            rep.advisories,
            rep.added,
            rep.updated,
            rep.unchanged,
            rep.epss_scores,
            rep.rejected,
            rep.skipped,
            rep.seconds
        );
        if let Some(i) = &rep.integrity {
            say!("{}", integrity_line(i));
        }
        if let Some(n) = &rep.notices {
            print_update(n);
        }
        for e in rep.errors.iter().take(20) {
            eprintln!("  {} [{}]: {}", e.file, e.location, e.reason);
        }
        for e in rep.warnings.iter().take(10) {
            eprintln!("  warning: {} [{}]: {}", e.file, e.location, e.reason);
        }
        let more = rep.errors.len().saturating_sub(20) as u64 + rep.errors_omitted;
        if more > 0 {
            eprintln!("  ... and {more} more (use --json for the first 1000)");
        }
    }
    Ok((code, rep))
}

/// One line on what a CSAF provider's documents proved of themselves.
pub(crate) fn integrity_line(i: &vigil_feeds::IntegrityCounts) -> String {
    let keys = if i.keys.is_empty() {
        "no provider key".to_string()
    } else {
        format!(
            "provider key {}{}",
            i.keys.join(", "),
            match i.trust {
                "declared" => ", as declared",
                "pinned" => ", as pinned at first use",
                "first-use" => ", pinned now (first use)",
                _ => "",
            }
        )
    };
    let keys = if i.untrusted_keys.is_empty() {
        keys
    } else {
        format!("{keys}; not trusted: {}", i.untrusted_keys.join(", "))
    };
    let mut line = format!(
        "  integrity: {} signatures verified ({keys}{}), {} hashes matched, {} refused, {} taken unchecked",
        i.signature_verified,
        if i.signatures_required { "; signatures required" } else { "" },
        i.hash_matched,
        i.refused,
        i.unchecked
    );
    if let Some(first) = i.unchecked_examples.first() {
        line.push_str(&format!(" (first: {first})"));
    }
    for n in &i.key_notes {
        line.push_str(&format!("\n  key: {n}"));
    }
    line
}

/// What the advisory files of one PATH (or provider URL) held.
#[derive(Default)]
struct Collector {
    advisories: Vec<Advisory>,
    epss: Vec<EpssScore>,
    epss_date: Option<String>,
}

impl Collector {
    /// Reads one file. `explicit`: the user named this very file, so a file that is no advisory is an error
    /// (inside folders and archives it is skipped and counted).
    fn take(
        &mut self,
        rep: &mut AdvisoryReport,
        name: &str,
        bytes: &[u8],
        explicit: bool,
        forced: Option<&str>,
    ) {
        let kind = sniff(name, bytes);
        let ok = match (forced, kind) {
            (Some(f), Some(k)) => format_matches(f, k),
            (Some(_), None) => false,
            (None, k) => k.is_some(),
        };
        if !ok {
            if explicit {
                rep.failed_files += 1;
                rep.error(
                    name,
                    "file",
                    &match (forced, kind) {
                        (Some(f), Some(k)) => format!("--format {f} given, but the file is {k:?}"),
                        _ => "not an advisory file Vigil reads (CISA KEV JSON/CSV, EPSS CSV, CVE JSON 5, OSV JSON/YAML, RustSec Markdown, CSAF 2.0)".into(),
                    },
                );
            } else {
                rep.skipped += 1;
            }
            return;
        }
        rep.files += 1;
        let feed = read_advisories(name, bytes);
        if let Some(f) = feed.format {
            *rep.formats.entry(format_name(f).into()).or_default() += 1;
        }
        for d in &feed.errors {
            rep.rejected += 1;
            let (file, loc) = split_location(&d.location, name);
            rep.error(&file, &loc, &d.message);
        }
        if let Some(m) = &feed.epss_meta {
            self.epss_date = m.score_date.clone().or(self.epss_date.take());
        }
        for a in &feed.advisories {
            for (i, af) in a.affected.iter().enumerate() {
                if let (vigil_vuln::advisory::Target::Package { ecosystem, .. }, None) =
                    (&af.target, af.scheme)
                {
                    if rep.warnings.len() < 1000 {
                        let (file, loc) = split_location(&a.location, name);
                        rep.warnings.push(ErrorEntry {
                            file,
                            location: format!("{loc}: affected[{i}]"),
                            reason: format!("unknown ecosystem `{ecosystem}`: versions cannot be compared, so components of it will be reported as unknown"),
                        });
                    }
                }
            }
        }
        self.advisories.extend(feed.advisories);
        self.epss.extend(feed.epss);
    }
}

fn store_epss(
    env: &Env,
    epss: &[EpssScore],
    date: Option<&str>,
    rep: &mut AdvisoryReport,
) -> anyhow::Result<()> {
    if epss.is_empty() {
        return Ok(());
    }
    let rows: Vec<(String, f64, f64)> = epss
        .iter()
        .map(|s| (s.cve.clone(), s.epss, s.percentile))
        .collect();
    rep.epss_scores += rows.len() as u64;
    rep.epss_changed += env.store.put_epss(&rows, date)?;
    Ok(())
}

/// Most documents read from one CSAF provider in one run.
const MAX_PROVIDER_DOCUMENTS: usize = 100_000;

/// Resolves `rel` against the URL of the document it was found in.
fn join_url(base: &str, rel: &str) -> String {
    if rel.starts_with("http://") || rel.starts_with("https://") {
        return rel.to_string();
    }
    let root_end = base
        .find("://")
        .and_then(|k| base[k + 3..].find('/').map(|j| k + 3 + j))
        .unwrap_or(base.len());
    if let Some(abs) = rel.strip_prefix('/') {
        return format!("{}/{abs}", &base[..root_end]);
    }
    let dir = match base.rfind('/') {
        Some(k) if k >= root_end => &base[..k],
        _ => &base[..root_end],
    };
    format!("{dir}/{rel}")
}

/// Fetches a CSAF 2.0 provider's documents over HTTP(S), as CSAF 2.0 section 7 describes the distribution:
/// `URL` is a `provider-metadata.json` (its `distributions` name ROLIE feeds and/or directories with `index.txt`), a
/// ROLIE feed, an `index.txt`, or a single document. Each document is read like a file; a document that cannot be
/// fetched is reported with its URL and the rest go on.
fn fetch_csaf(
    url: &str,
    roots: &vigil_feeds::http::TrustRoots,
    col: &mut Collector,
    rep: &mut AdvisoryReport,
    forced: Option<&str>,
    (require_signature, trusted): (bool, &[String]),
    pb: &indicatif::ProgressBar,
) -> anyhow::Result<()> {
    use vigil_feeds::csaf_integrity::{
        check_document, now_secs, parse_fingerprints, Fetch, ProviderKeys,
    };
    let trusted = parse_fingerprints(trusted)
        .map_err(anyhow::Error::msg)
        .context("--openpgp-key")?;
    let require_signature = require_signature || !trusted.is_empty();
    let client = roots
        .apply(reqwest::blocking::Client::builder())
        .timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("creating the HTTP client")?;
    // Ok(None): 404 or 410, the server does not have it.
    let get_opt = |u: &str| -> Result<Option<Vec<u8>>, String> {
        let resp = client
            .get(u)
            .send()
            .map_err(|e| format!("fetch failed: {e}"))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        // Bounded while reading, not after: a server that sends without end (or lies about the length) must
        // not fill the memory before the size is checked.
        let too_large = || format!("larger than {} MiB", MAX_FILE >> 20);
        if resp.content_length().is_some_and(|n| n > MAX_FILE) {
            return Err(too_large());
        }
        let mut b = Vec::new();
        resp.take(MAX_FILE + 1)
            .read_to_end(&mut b)
            .map_err(|e| format!("read failed: {e}"))?;
        if b.len() as u64 > MAX_FILE {
            return Err(too_large());
        }
        Ok(Some(b))
    };
    let get = |u: &str| -> Result<Vec<u8>, String> {
        get_opt(u)?.ok_or_else(|| "HTTP 404 Not Found".to_string())
    };
    let fail = |rep: &mut AdvisoryReport, u: &str, e: &str| {
        rep.failed_files += 1;
        rep.error(u, "url", e);
    };
    // Document URLs to read, in order, without repeats, each with its ROLIE entry (which names its hash file and
    // signature) when it came from a feed.
    // A document met while following the URL (the URL itself) comes with its body and whether it was named.
    type Pre = Option<(Vec<u8>, bool)>;
    let mut docs: Vec<(String, Option<Value>, Pre)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: Vec<String> = vec![url.to_string()];
    let mut first = true;
    let mut keys = ProviderKeys::default();
    let mut counts = vigil_feeds::IntegrityCounts::default();
    let mut provider = false;
    let mut metadata_seen = false;
    // The keys a provider metadata document lists, held to --openpgp-key when given.
    let load_keys = |rep: &mut AdvisoryReport,
                     counts: &mut vigil_feeds::IntegrityCounts,
                     keys: &mut ProviderKeys,
                     meta: &Value,
                     u: &str| {
        let Ok(base) = url::Url::parse(u) else {
            return;
        };
        let (mut k, errors) = ProviderKeys::from_metadata(meta, &base, &mut |k| get(k.as_str()));
        for e in errors {
            fail(rep, u, &e.to_string());
        }
        if !trusted.is_empty() {
            counts.untrusted_keys = k.restrict(&trusted);
            for x in &counts.untrusted_keys {
                fail(rep, u, &format!("the provider lists key {x}, which --openpgp-key does not name: documents signed only by it are refused"));
            }
        }
        *keys = k;
    };
    while let Some(u) = queue.pop() {
        let explicit = std::mem::take(&mut first);
        let bytes = match get(&u) {
            Ok(b) => b,
            Err(e) => {
                fail(rep, &u, &e);
                continue;
            }
        };
        if u.ends_with("index.txt") {
            for line in String::from_utf8_lossy(&bytes).lines() {
                let l = line.trim();
                if l.ends_with(".json") && seen.insert(join_url(&u, l)) {
                    docs.push((join_url(&u, l), None, None));
                }
            }
            continue;
        }
        let v: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                fail(rep, &u, &format!("not JSON: {e}"));
                continue;
            }
        };
        if let Some(dists) = v.get("distributions").and_then(Value::as_array) {
            provider = true;
            metadata_seen = true;
            load_keys(rep, &mut counts, &mut keys, &v, &u);
            for d in dists {
                let feeds = d
                    .pointer("/rolie/feeds")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for f in feeds {
                    if let Some(fu) = f.get("url").and_then(Value::as_str) {
                        queue.push(join_url(&u, fu));
                    }
                }
                if let Some(dir) = d.get("directory_url").and_then(Value::as_str) {
                    queue.push(format!("{}/index.txt", dir.trim_end_matches('/')));
                }
            }
            continue;
        }
        if let Some(entries) = v.pointer("/feed/entry").and_then(Value::as_array) {
            provider = true;
            for e in entries {
                let href = e
                    .pointer("/content/src")
                    .and_then(Value::as_str)
                    .or_else(|| {
                        e.get("link").and_then(Value::as_array).and_then(|ls| {
                            ls.iter()
                                .find(|l| l.get("rel").and_then(Value::as_str) == Some("self"))
                                .and_then(|l| l.get("href").and_then(Value::as_str))
                        })
                    });
                match href {
                    Some(h) => {
                        let d = join_url(&u, h);
                        let e = match url::Url::parse(&u) {
                            Ok(feed) => vigil_feeds::csaf_integrity::absolute_links(e, &feed),
                            Err(_) => e.clone(),
                        };
                        if seen.insert(d.clone()) {
                            docs.push((d, Some(e), None));
                        } else if let Some(x) = docs.iter_mut().find(|(x, _, _)| *x == d) {
                            // Listed by a directory too: the entry's links name its companions.
                            x.1.get_or_insert(e);
                        }
                    }
                    None => fail(rep, &u, "ROLIE entry without content.src or a self link"),
                }
            }
            continue;
        }
        // Not a CSAF document (a KEV catalogue, an OSV record, ... over HTTP): nothing is published beside it to
        // check, so nothing is asked for.
        if v.pointer("/document/csaf_version").is_none() {
            if seen.insert(u.clone()) {
                col.take(rep, &u, &bytes, explicit, forced);
            }
            continue;
        }
        // A single CSAF document: checked with its companions beside it, like the provider's.
        if seen.insert(u.clone()) {
            docs.push((u.clone(), None, Some((bytes, explicit))));
        }
        provider |= explicit;
    }
    if docs.len() > MAX_PROVIDER_DOCUMENTS {
        fail(
            rep,
            url,
            &format!(
                "{} documents listed; reading the first {MAX_PROVIDER_DOCUMENTS}",
                docs.len()
            ),
        );
        docs.truncate(MAX_PROVIDER_DOCUMENTS);
    }
    // CSAF documents named one by one: their provider's keys are where CSAF puts its metadata, on the documents' host
    // (`/.well-known/csaf/provider-metadata.json`, CSAF 7.1.8); one request, and none when it is absent.
    if !metadata_seen {
        let well_known = docs
            .first()
            .and_then(|(d, _, _)| url::Url::parse(d).ok())
            .and_then(|d| d.join("/.well-known/csaf/provider-metadata.json").ok());
        if let Some(wk) = well_known {
            if let Ok(Some(b)) = get_opt(wk.as_str()) {
                match serde_json::from_slice::<Value>(&b) {
                    Ok(meta) => {
                        load_keys(rep, &mut counts, &mut keys, &meta, wk.as_str());
                        counts.metadata = Some(wk.to_string());
                    }
                    Err(e) => fail(rep, wk.as_str(), &format!("not JSON: {e}")),
                }
            }
        }
    }
    counts.keys = keys.fingerprints();
    counts.key_notes = keys.notes(now_secs());
    counts.signatures_required = require_signature || keys.signatures_required();
    counts.trust = if !trusted.is_empty() {
        "declared"
    } else if keys.signatures_required() {
        "metadata"
    } else {
        "none"
    };
    for t in keys.missing(&trusted) {
        fail(rep, url, &format!("key {t} (--openpgp-key) is not among the provider's usable keys: documents it signed cannot be checked and are refused"));
    }
    let total = docs.len();
    for (i, (d, entry, pre)) in docs.into_iter().enumerate() {
        pb.set_message(format!("{}/{total} provider documents", i + 1));
        let (b, explicit) = match pre {
            Some(x) => x,
            None => match get(&d) {
                Ok(b) => (b, true),
                Err(e) => {
                    fail(rep, &d, &e);
                    continue;
                }
            },
        };
        let du = match url::Url::parse(&d) {
            Ok(u) => u,
            Err(e) => {
                fail(rep, &d, &format!("not a URL: {e}"));
                continue;
            }
        };
        let checked = check_document(
            &du,
            &b,
            entry.as_ref(),
            &keys,
            require_signature,
            &mut |c| match get_opt(c.as_str()) {
                Ok(Some(x)) => Fetch::Body(x),
                Ok(None) => Fetch::Absent,
                Err(e) => Fetch::Failed(e),
            },
        );
        counts.count(&d, &checked);
        match checked {
            Ok(_) => col.take(rep, &d, &b, explicit, forced),
            Err(e) => fail(rep, &d, &format!("refused: {e}")),
        }
    }
    if provider {
        rep.integrity = Some(counts);
    }
    Ok(())
}

fn format_matches(forced: &str, k: FeedFormat) -> bool {
    matches!(
        (forced, k),
        ("kev", FeedFormat::KevJson | FeedFormat::KevCsv)
            | ("epss", FeedFormat::Epss)
            | ("cve5", FeedFormat::Cve5)
            | ("osv", FeedFormat::OsvJson | FeedFormat::OsvYaml)
            | ("rustsec", FeedFormat::Rustsec)
            | ("csaf", FeedFormat::Csaf)
    )
}

fn format_name(f: FeedFormat) -> &'static str {
    match f {
        FeedFormat::KevJson => "kev-json",
        FeedFormat::KevCsv => "kev-csv",
        FeedFormat::Epss => "epss",
        FeedFormat::Cve5 => "cve5",
        FeedFormat::OsvJson => "osv-json",
        FeedFormat::OsvYaml => "osv-yaml",
        FeedFormat::Rustsec => "rustsec",
        FeedFormat::Csaf => "csaf",
        FeedFormat::Unknown => "unknown",
    }
}

/// Diagnostics say `file: record` or `file:line`; the report keeps file and location apart.
fn split_location(loc: &str, file: &str) -> (String, String) {
    match loc.strip_prefix(file) {
        Some(rest) => {
            let rest = rest.trim_start_matches([':', ' ']);
            let loc = if rest.is_empty() {
                "file".to_string()
            } else if rest.bytes().all(|b| b.is_ascii_digit()) {
                format!("line {rest}")
            } else {
                rest.to_string()
            };
            (file.to_string(), loc)
        }
        None => (file.to_string(), loc.to_string()),
    }
}

/// Public advisory sources carry no marking: they are TLP:CLEAR unless the document or `--tlp` says otherwise.
fn advisory_tlp(a: &Advisory, flag: Option<Tlp>) -> Tlp {
    a.tlp.or(flag).unwrap_or(Tlp::Clear)
}

fn store_advisories(
    env: &Env,
    advisories: &[Advisory],
    tlp: Option<Tlp>,
    source: Option<&str>,
    now: &str,
    rep: &mut AdvisoryReport,
) -> anyhow::Result<()> {
    for chunk in advisories.chunks(5000) {
        let mut rows = Vec::with_capacity(chunk.len());
        for a in chunk {
            rows.push(AdvisoryRow {
                key: a.store_key(),
                source: a.source.as_str().into(),
                canonical: a.canonical_id().into(),
                tlp: Some(advisory_tlp(a, tlp)),
                json: serde_json::to_string(a)?,
            });
        }
        let outcomes = env.store.put_advisories(&rows)?;
        rep.advisories += rows.len() as u64;
        let mut changed = Vec::new();
        for (o, a) in outcomes.iter().zip(chunk) {
            match o {
                PutOutcome::Added => rep.added += 1,
                PutOutcome::Updated | PutOutcome::Historical => rep.updated += 1,
                PutOutcome::Unchanged => rep.unchanged += 1,
            }
            if *o != PutOutcome::Unchanged {
                changed.push(a);
            }
        }
        // The knowledge base gets one STIX vulnerability per canonical id and source record, so that search,
        // show, export and TAXII know about it.
        let mut objs = Vec::new();
        for a in changed {
            let t = advisory_tlp(a, tlp);
            for mut v in a.to_stix(now) {
                if a.tlp.is_none() {
                    v["object_marking_refs"] = json!([t.marking_id()]);
                }
                match StixObject::from_value(v) {
                    Ok(o) => objs.push((o, a.location.clone(), a.source.as_str())),
                    Err(e) => {
                        rep.rejected += 1;
                        rep.error(&a.location, &a.id, &format!("STIX object: {e}"));
                    }
                }
            }
        }
        let stamp = vigil_model::time::now();
        let mut n = 0u64;
        env.store.write(&mut |tx| {
            for (o, loc, src) in &objs {
                let prov = Provenance {
                    source: source.unwrap_or(src).to_string(),
                    ingested_at: stamp.clone(),
                    original_id: None,
                    file: Some(loc.split(": ").next().unwrap_or(loc).to_string()),
                };
                tx.put(o, &prov, PutMode::Source)?;
                n += 1;
            }
            Ok(())
        })?;
        rep.vulnerability_objects += n;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------ the index

/// What the index is built from, read from the store once per command.
struct Knowledge {
    /// Advisories everyone may see (CLEAR, GREEN).
    open: Vec<Advisory>,
    /// Advisories at AMBER or above, with the STIX id sharing is recorded on.
    restricted: Vec<(Advisory, String)>,
    epss: Vec<EpssScore>,
    /// (CVE, actor or malware name) from the knowledge base's relationships.
    actors: Vec<(String, String)>,
    problems: Vec<String>,
}

fn load_knowledge(env: &Env) -> anyhow::Result<Knowledge> {
    let mut k = Knowledge {
        open: Vec::new(),
        restricted: Vec::new(),
        epss: Vec::new(),
        actors: Vec::new(),
        problems: Vec::new(),
    };
    env.store.advisories(&mut |row| {
        match serde_json::from_str::<Advisory>(&row.json) {
            Ok(a) => {
                if row.tlp.unwrap_or(env.settings.default_tlp) >= Tlp::Amber {
                    let id = vigil_id("vulnerability", &[&row.canonical]);
                    k.restricted.push((a, id));
                } else {
                    k.open.push(a);
                }
            }
            Err(e) => k
                .problems
                .push(format!("stored advisory {} cannot be read: {e}", row.key)),
        }
        Ok(())
    })?;
    k.epss = env
        .store
        .epss()?
        .into_iter()
        .map(|(cve, epss, percentile)| EpssScore {
            cve,
            epss,
            percentile,
        })
        .collect();
    k.actors = actors_of_cves(env)?;
    Ok(k)
}

/// Threat actors, intrusion sets, campaigns and malware the knowledge base relates to a vulnerability named by a
/// CVE (ATT&CK, MISP galaxies and events): supporting facts that order notices within one outcome.
fn actors_of_cves(env: &Env) -> anyhow::Result<Vec<(String, String)>> {
    const ACTOR_TYPES: [&str; 4] = ["threat-actor", "intrusion-set", "campaign", "malware"];
    let mut pairs: Vec<(String, String)> = Vec::new();
    let rels = ScanFilter {
        types: vec!["relationship".into()],
        ..ScanFilter::default()
    };
    env.store.scan(&rels, &mut |s| {
        let (Some(src), Some(tgt)) = (
            s.object.get("source_ref").and_then(Value::as_str),
            s.object.get("target_ref").and_then(Value::as_str),
        ) else {
            return Ok(());
        };
        let kind = |r: &str| r.split("--").next().unwrap_or("").to_string();
        if tgt.starts_with("vulnerability--") && ACTOR_TYPES.contains(&kind(src).as_str()) {
            pairs.push((tgt.to_string(), src.to_string()));
        } else if src.starts_with("vulnerability--") && ACTOR_TYPES.contains(&kind(tgt).as_str()) {
            pairs.push((src.to_string(), tgt.to_string()));
        }
        Ok(())
    })?;
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    let mut name_of = |id: &str| -> anyhow::Result<Option<String>> {
        if let Some(n) = names.get(id) {
            return Ok(n.clone());
        }
        let n = env.store.get(id)?.and_then(|o| {
            o.object
                .get("name")
                .and_then(Value::as_str)
                .map(String::from)
        });
        names.insert(id.to_string(), n.clone());
        Ok(n)
    };
    let mut out = Vec::new();
    for (v, actor) in pairs {
        if let (Some(cve), Some(a)) = (name_of(&v)?, name_of(&actor)?) {
            if vigil_vuln::advisory::is_cve(&cve) {
                out.push((cve.to_ascii_uppercase(), a));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Builds an index from advisories the caller gives up (the stored advisories are large: no copies).
fn build_index(k: &Knowledge, advisories: Vec<Advisory>) -> Index {
    let mut b = IndexBuilder::new();
    for a in advisories {
        b.add(a);
    }
    b.add_epss(&k.epss);
    for (cve, actor) in &k.actors {
        b.add_actor(cve, actor);
    }
    b.build()
}

/// The restricted advisories a member may see: the operator sees all, others what is shared with them.
fn visible_restricted<'a>(
    env: &Env,
    k: &'a Knowledge,
    member: &vigil_store::Member,
) -> anyhow::Result<Vec<&'a Advisory>> {
    let mut out = Vec::new();
    let mut cache: HashMap<&str, bool> = HashMap::new();
    for (a, id) in &k.restricted {
        let ok = if member.operator {
            true
        } else if let Some(v) = cache.get(id.as_str()) {
            *v
        } else {
            let v = env.store.shares_of(id)?.contains(&member.id);
            cache.insert(id, v);
            v
        };
        if ok {
            out.push(a);
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------------ inventory

pub fn inventory(env: &Env, cmd: &InventoryCommand) -> anyhow::Result<u8> {
    super::members::ensure_operator(env)?;
    match cmd {
        InventoryCommand::Import(a) => {
            let member = env
                .store
                .member(a.member)?
                .with_context(|| format!("no member {} (see `vigil members list`)", a.member))?;
            let bytes =
                std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
            let name = match &a.name {
                Some(n) => n.clone(),
                None => a
                    .file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| a.file.display().to_string()),
            };
            let inv = read_inventory(&name, &bytes);
            let format = serde_json::to_value(inv.format)?
                .as_str()
                .unwrap_or("unknown")
                .to_string();
            if inv.items.is_empty() {
                for e in inv.errors.iter().take(20) {
                    eprintln!("  {e}");
                }
                bail!(
                    "{}: no components could be read ({} format), nothing stored",
                    a.file.display(),
                    format
                );
            }
            let rec = env.store.put_inventory(
                member.id,
                &name,
                &format,
                inv.items.len() as i64,
                inv.errors.len() as i64,
                &bytes,
            )?;
            let upd = update_notices(env, Some(member.id), a.epss_threshold)?;
            if a.json {
                crate::output::json(&json!({
                    "member": member.id, "inventory": rec.name, "format": rec.format,
                    "components": rec.components, "errors": inv.errors, "notices": upd,
                }))?;
            } else {
                say!(
                    "member {} ({}): inventory {} stored, {} components ({}), {} problems",
                    member.id,
                    member.name,
                    rec.name,
                    rec.components,
                    rec.format,
                    inv.errors.len()
                );
                for e in inv.errors.iter().take(20) {
                    eprintln!("  {e}");
                }
                print_update(&upd);
            }
            Ok(if inv.errors.is_empty() { 0 } else { 1 })
        }
        InventoryCommand::List(a) => {
            let list = env.store.inventories(a.member)?;
            if a.json {
                crate::output::json(&list)?;
            } else if list.is_empty() {
                say!("no inventories");
            } else {
                for r in &list {
                    say!(
                        "member {:>3}  {:<40} {:<10} {:>6} components  {:>4} problems  {}",
                        r.member_id,
                        r.name,
                        r.format,
                        r.components,
                        r.errors,
                        r.imported_at
                    );
                }
            }
            Ok(0)
        }
        InventoryCommand::Remove(a) => {
            let removed = env.store.remove_inventory(a.member, &a.name)?;
            if !removed {
                bail!("member {} has no inventory named {}", a.member, a.name);
            }
            let upd = update_notices(env, Some(a.member), epss_threshold_env())?;
            if a.json {
                crate::output::json(
                    &json!({"removed": a.name, "member": a.member, "notices": upd}),
                )?;
            } else {
                say!("removed inventory {} of member {}", a.name, a.member);
                print_update(&upd);
            }
            Ok(0)
        }
    }
}

// ------------------------------------------------------------------------------------------------ scan

pub fn scan_cmd(env: &Env, a: &ScanArgs) -> anyhow::Result<u8> {
    let bytes = std::fs::read(&a.sbom).with_context(|| format!("reading {}", a.sbom.display()))?;
    let name = a.sbom.display().to_string();
    let inv = read_inventory(&name, &bytes);
    if inv.items.is_empty() {
        for e in inv.errors.iter().take(20) {
            eprintln!("  {e}");
        }
        bail!("{name}: no components could be read");
    }
    let index = if a.advisories.is_empty() {
        let mut k = load_knowledge(env)?;
        for p in &k.problems {
            eprintln!("warning: {p}");
        }
        if k.open.is_empty() && k.restricted.is_empty() {
            bail!("the knowledge base holds no advisories: `vigil ingest` KEV, OSV, CVE 5, RustSec or CSAF data first, or give --advisories PATH");
        }
        match a.member {
            Some(m) => {
                let member = env
                    .store
                    .member(m)?
                    .with_context(|| format!("no member {m}"))?;
                let extra: Vec<Advisory> = visible_restricted(env, &k, &member)?
                    .into_iter()
                    .cloned()
                    .collect();
                let mut all = std::mem::take(&mut k.open);
                all.extend(extra);
                build_index(&k, all)
            }
            None => {
                // The operator's analyst running a scan sees everything.
                let mut all = std::mem::take(&mut k.open);
                all.extend(std::mem::take(&mut k.restricted).into_iter().map(|r| r.0));
                build_index(&k, all)
            }
        }
    } else {
        let mut b = IndexBuilder::new();
        let mut problems = 0;
        for p in &a.advisories {
            let res = input::walk(
                p,
                &mut |mut unit| {
                    let bytes = read_unit(&mut unit).map_err(|e| FormatError::Io {
                        file: unit.name.clone(),
                        reason: e,
                    })?;
                    if sniff(&unit.name, &bytes).is_some() {
                        let feed = read_advisories(&unit.name, &bytes);
                        problems += feed.errors.len();
                        b.add_batch(feed);
                    }
                    Ok(())
                },
                &mut |_| Ok(()),
                &mut |e| {
                    eprintln!("warning: {e}");
                    Ok(())
                },
            );
            if let Err(e) = res {
                bail!("reading advisories from {p}: {e}");
            }
        }
        if problems > 0 {
            eprintln!("warning: {problems} advisory records could not be read");
        }
        b.build()
    };
    let mut opts = ScanOptions {
        today: today()?,
        ..ScanOptions::default()
    };
    if a.member.is_some() {
        opts.default_asset = Default::default();
    }
    let result = scan(&index, &inv.items, &opts);
    if a.json {
        let mut v = serde_json::to_value(&result)?;
        v["errors"] = serde_json::to_value(&inv.errors)?;
        crate::output::json(&v)?;
    } else {
        say!(
            "{} components, {} findings, {} unknown ({})",
            result.components,
            result.findings.len(),
            result.unknown.len(),
            result.assumptions
        );
        for f in &result.findings {
            say!(
                "{:<7} {:<10} {:<20} {} {} ({} confidence, {})",
                f.priority.as_str(),
                f.deadline.as_deref().unwrap_or("upgrade"),
                f.vulnerability,
                f.component.name,
                f.component.version.as_deref().unwrap_or("?"),
                serde_json::to_value(f.confidence)?.as_str().unwrap_or(""),
                if f.fixed.is_empty() {
                    "no fixed version named".to_string()
                } else {
                    format!("fixed in {}", f.fixed.join(", "))
                }
            );
        }
        for u in &result.unknown {
            say!(
                "unknown {} {} vs {}: {}",
                u.component.name,
                u.component.version.as_deref().unwrap_or("?"),
                u.vulnerability,
                u.reason
            );
        }
        for e in inv.errors.iter().take(20) {
            eprintln!("  {e}");
        }
    }
    Ok(0)
}

// ------------------------------------------------------------------------------------------------ notices

/// What one evaluation of members' inventories did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct UpdateReport {
    pub members: u64,
    pub components: u64,
    /// Notices written for the first time.
    pub created: u64,
    /// New versions of existing notices (the deciding facts changed).
    pub revised: u64,
    /// Notices whose facts did not change (nothing sent).
    pub unchanged: u64,
    /// Notices resolved because the inventory no longer has an affected component.
    pub resolved: u64,
    pub unknown: u64,
    /// One line per change.
    pub changes: Vec<String>,
}

fn print_update(u: &UpdateReport) {
    say!(
        "notices: {} members, {} components: {} new, {} new versions, {} unchanged, {} resolved (no longer affected), {} components with versions that could not be evaluated",
        u.members, u.components, u.created, u.revised, u.unchanged, u.resolved, u.unknown
    );
    for c in u.changes.iter().take(30) {
        say!("  {c}");
    }
    if u.changes.len() > 30 {
        say!("  ... and {} more", u.changes.len() - 30);
    }
}

/// The TLP of a notice: it describes a member's own systems, so at least AMBER+STRICT, raised to the most
/// restrictive marking of the advisories it rests on.
fn notice_tlp(index: &Index, n: &Notice) -> Tlp {
    index
        .advisories_of(&n.vulnerability)
        .iter()
        .filter_map(|a| a.tlp)
        .fold(Tlp::AmberStrict, Tlp::max)
}

/// Re-evaluates members' inventories (one member, or all that have one) and writes notices: a first version
/// for a new (member, vulnerability), a new version when the deciding facts changed, nothing when they did not;
/// a notice whose vulnerability no longer matches the inventory is resolved.
pub fn update_notices(
    env: &Env,
    only: Option<i64>,
    epss_threshold: f64,
) -> anyhow::Result<UpdateReport> {
    let mut rep = UpdateReport::default();
    let inventories = env.store.inventories(only)?;
    let mut by_member: BTreeMap<i64, Vec<vigil_vuln::Component>> = BTreeMap::new();
    for r in &inventories {
        let inv = read_inventory(&r.name, &r.content);
        by_member.entry(r.member_id).or_default().extend(inv.items);
    }
    if let Some(m) = only {
        by_member.entry(m).or_default();
    }
    if by_member.is_empty() {
        return Ok(rep);
    }
    let mut k = load_knowledge(env)?;
    let open = std::mem::take(&mut k.open);
    let open_index = build_index(&k, open);
    let now = vigil_model::time::now();
    let today = today()?;
    for (member_id, comps) in by_member {
        let Some(member) = env.store.member(member_id)? else {
            continue;
        };
        rep.members += 1;
        rep.components += comps.len() as u64;
        let extra = visible_restricted(env, &k, &member)?;
        let own_index;
        let index: &Index = if extra.is_empty() {
            &open_index
        } else {
            let mut all = open_index.advisories().to_vec();
            all.extend(extra.into_iter().cloned());
            own_index = build_index(&k, all);
            &own_index
        };
        let opts = ScanOptions {
            today,
            default_asset: Default::default(),
        };
        let result = scan(index, &comps, &opts);
        rep.unknown += result.unknown.len() as u64;
        let mut notices = vigil_vuln::notice::build_notices(
            &member_id.to_string(),
            &result,
            index,
            Tlp::AmberStrict,
            &now,
        );
        let existing: HashMap<String, NoticeRecord> = env
            .store
            .notices(&NoticeFilter {
                member: Some(member_id),
                status: None,
            })?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let mut seen = HashSet::new();
        for n in &mut notices {
            n.tlp = notice_tlp(index, n);
            n.fingerprint = vigil_vuln::notice::fingerprint(n, epss_threshold);
            seen.insert(n.id.clone());
            let prev = existing.get(&n.id);
            let reason = match prev {
                None => "first notice".to_string(),
                Some(p) if p.fingerprint == n.fingerprint => {
                    rep.unchanged += 1;
                    // Same deciding facts: nothing is sent again, but the notice shows the current supporting
                    // facts (EPSS value, CVSS, references), keeping its first creation time.
                    if let Ok(old) = serde_json::from_str::<Notice>(&p.json) {
                        let mut cur = n.clone();
                        cur.created = old.created.clone();
                        cur.status = old.status;
                        if cur != old {
                            env.store.refresh_notice(
                                &n.id,
                                member_id,
                                &serde_json::to_string(&cur)?,
                            )?;
                        }
                    }
                    continue;
                }
                Some(p) => match serde_json::from_str::<Notice>(&p.json) {
                    Ok(old) => vigil_vuln::notice::what_changed(&old, n, epss_threshold),
                    Err(_) => "the deciding facts changed".into(),
                },
            };
            let rec = NoticeRecord {
                id: n.id.clone(),
                member_id,
                vulnerability: n.vulnerability.clone(),
                version: 0,
                status: "new".into(),
                priority: n.priority.as_str().into(),
                deadline: n.deadline.clone(),
                fingerprint: n.fingerprint.clone(),
                tlp: Some(n.tlp),
                json: serde_json::to_string(&n)?,
                created_at: String::new(),
                updated_at: String::new(),
                acknowledged_at: None,
                resolved_at: None,
                status_note: None,
            };
            let stored = env.store.put_notice_version(&rec, &reason)?;
            vigil_server::notices::publish_version(&*env.store, &stored).with_context(|| {
                format!("publishing notice {} to member {member_id}", stored.id)
            })?;
            if prev.is_none() {
                rep.created += 1;
            } else {
                rep.revised += 1;
            }
            rep.changes.push(format!(
                "member {member_id}: {} v{} {} {}: {reason}",
                n.vulnerability,
                stored.version,
                n.priority.as_str(),
                n.deadline.as_deref().unwrap_or("next upgrade")
            ));
        }
        for (id, r) in &existing {
            if !seen.contains(id) && r.status != "resolved" {
                vigil_server::notices::set_status(
                    &*env.store,
                    id,
                    Some(member_id),
                    "resolved",
                    &format!("no longer affected according to the member's inventory ({now})"),
                )?;
                rep.resolved += 1;
                rep.changes.push(format!(
                    "member {member_id}: {} resolved: no affected component left in the inventory",
                    r.vulnerability
                ));
            }
        }
    }
    Ok(rep)
}

fn load_notice(r: &NoticeRecord) -> anyhow::Result<Notice> {
    vigil_server::notices::load(r).map_err(|e| anyhow::anyhow!(e))
}

fn csaf_of(env: &Env, r: &NoticeRecord, n: &Notice, namespace: &str) -> anyhow::Result<Value> {
    let publisher = CsafPublisher {
        name: env.settings.operator.clone(),
        namespace: namespace.to_string(),
    };
    let versions = env.store.notice_versions(&r.id)?;
    Ok(vigil_server::notices::csaf(r, n, &versions, &publisher))
}

fn render(
    env: &Env,
    r: &NoticeRecord,
    n: &Notice,
    format: &str,
    namespace: &str,
    today: chrono::NaiveDate,
) -> anyhow::Result<String> {
    Ok(match format {
        "json" => serde_json::to_string_pretty(&vigil_server::notices::notice_json(r, n, today))?,
        "md" => {
            let mut s = n.to_markdown();
            s.push_str(&format!(
                "\n---\nNotice {} version {}, status **{}**{}\n",
                r.id,
                r.version,
                r.status,
                if n.is_overdue(today) {
                    " — **OVERDUE**"
                } else {
                    ""
                }
            ));
            s
        }
        "html" => n.to_html(),
        "csaf" => serde_json::to_string_pretty(&csaf_of(env, r, n, namespace)?)?,
        f => bail!("unknown notice format `{f}` (json, md, html, csaf)"),
    })
}

fn check_status(s: &str) -> anyhow::Result<()> {
    if !matches!(s, "new" | "acknowledged" | "resolved") {
        bail!("unknown status `{s}` (new, acknowledged, resolved)");
    }
    Ok(())
}

pub fn notices(env: &Env, a: &NoticesArgs) -> anyhow::Result<u8> {
    super::members::ensure_operator(env)?;
    let today = today()?;
    match &a.command {
        None => {
            let l = &a.list;
            if let Some(s) = &l.status {
                check_status(s)?;
            }
            if let Some(m) = l.member {
                env.store
                    .member(m)?
                    .with_context(|| format!("no member {m} (see `vigil members list`)"))?;
            }
            let format = match (&l.format, l.json) {
                (Some(f), _) => f.clone(),
                (None, true) => "json".into(),
                (None, false) => "text".into(),
            };
            let recs = env.store.notices(&NoticeFilter {
                member: l.member,
                status: l.status.clone(),
            })?;
            let mut items = Vec::new();
            for r in &recs {
                let n = load_notice(r)?;
                if l.overdue && !n.is_overdue(today) {
                    continue;
                }
                items.push((r, n));
            }
            // Most urgent first: outcome, then deadline.
            items.sort_by(|(_, a), (_, b)| {
                b.priority
                    .cmp(&a.priority)
                    .then_with(|| a.deadline.cmp(&b.deadline))
                    .then_with(|| a.vulnerability.cmp(&b.vulnerability))
            });
            if let Some(dir) = &l.out {
                let ext = match format.as_str() {
                    "md" => "md",
                    "html" => "html",
                    "json" | "csaf" => "json",
                    f => bail!("--out needs --format json, md, html or csaf, not `{f}`"),
                };
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                for (r, n) in &items {
                    let p = dir.join(format!("vigil-notice-{}-v{}.{ext}", r.id, r.version));
                    std::fs::write(&p, render(env, r, n, &format, &l.namespace, today)?)
                        .with_context(|| format!("writing {}", p.display()))?;
                }
                eprintln!("{} notices written to {}", items.len(), dir.display());
                return Ok(0);
            }
            match format.as_str() {
                "json" => {
                    let list: Vec<Value> = items
                        .iter()
                        .map(|(r, n)| vigil_server::notices::notice_json(r, n, today))
                        .collect();
                    crate::output::json(&list)?;
                }
                "csaf" => {
                    // One CSAF document per line (each a complete document); --out writes one file each.
                    for (r, n) in &items {
                        say!(
                            "{}",
                            serde_json::to_string(&csaf_of(env, r, n, &l.namespace)?)?
                        );
                    }
                }
                "md" | "html" => {
                    for (r, n) in &items {
                        say!("{}", render(env, r, n, &format, &l.namespace, today)?);
                    }
                }
                "text" => {
                    if items.is_empty() {
                        say!("no notices");
                    }
                    for (r, n) in &items {
                        say!(
                            "{}  member {:>3}  {:<7} {:<10} {:<13} v{} {:<20} {} asset(s){}  {}",
                            r.id,
                            r.member_id,
                            n.priority.as_str(),
                            n.deadline.as_deref().unwrap_or("upgrade"),
                            r.status,
                            r.version,
                            n.vulnerability,
                            n.assets.len(),
                            if n.is_overdue(today) { "  OVERDUE" } else { "" },
                            n.title.chars().take(60).collect::<String>()
                        );
                    }
                }
                f => bail!("unknown notice format `{f}` (json, md, html, csaf)"),
            }
            Ok(0)
        }
        Some(NoticesCommand::Show(s)) => {
            let r = env
                .store
                .notice(&s.id, s.member)?
                .with_context(|| no_notice(&s.id, s.member))?;
            let n = load_notice(&r)?;
            let format = if s.json { "json" } else { s.format.as_str() };
            say!("{}", render(env, &r, &n, format, &s.namespace, today)?);
            Ok(0)
        }
        Some(NoticesCommand::History(h)) => {
            env.store
                .notice(&h.id, h.member)?
                .with_context(|| no_notice(&h.id, h.member))?;
            let vs = env.store.notice_versions(&h.id)?;
            if h.json {
                crate::output::json(&vs)?;
            } else {
                for v in &vs {
                    say!(
                        "v{}  {}  {:<7} {:<10} {}",
                        v.version,
                        v.created_at,
                        v.priority,
                        v.deadline.as_deref().unwrap_or("upgrade"),
                        v.reason
                    );
                }
            }
            Ok(0)
        }
        Some(NoticesCommand::Ack(x)) => set_status(env, x, "acknowledged"),
        Some(NoticesCommand::Resolve(x)) => set_status(env, x, "resolved"),
        Some(NoticesCommand::Reopen(x)) => set_status(env, x, "new"),
        Some(NoticesCommand::Update(u)) => {
            if let Some(m) = u.member {
                env.store
                    .member(m)?
                    .with_context(|| format!("no member {m} (see `vigil members list`)"))?;
            }
            let rep = update_notices(env, u.member, u.epss_threshold)?;
            if u.json {
                crate::output::json(&rep)?;
            } else {
                print_update(&rep);
            }
            Ok(0)
        }
    }
}

fn no_notice(id: &str, member: Option<i64>) -> String {
    match member {
        Some(m) => format!("member {m} has no notice {id}"),
        None => format!("no notice {id}"),
    }
}

fn set_status(env: &Env, x: &NoticeIdArgs, status: &str) -> anyhow::Result<u8> {
    let who = match x.member {
        Some(m) => format!("member {m}"),
        None => "operator".to_string(),
    };
    let note = match &x.note {
        Some(n) => format!("{status} by {who}: {n}"),
        None => format!("{status} by {who}"),
    };
    let r = vigil_server::notices::set_status(&*env.store, &x.id, x.member, status, &note)
        .map_err(|e| anyhow::anyhow!(e))?
        .with_context(|| no_notice(&x.id, x.member))?;
    super::members::audit(env).record(
        &who,
        &format!("notices.{status}"),
        &x.id,
        json!({"note": note, "member": r.member_id}),
    );
    if x.json {
        crate::output::json(&r)?;
    } else {
        say!(
            "notice {} ({}, member {}) is now {}",
            r.id,
            r.vulnerability,
            r.member_id,
            r.status
        );
    }
    Ok(0)
}

/// `vigil bench vuln`.
pub fn bench(a: &BenchVulnArgs) -> anyhow::Result<u8> {
    bench::run(a)
}
