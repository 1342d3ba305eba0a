//! Command-line arguments. Names, flags and JSON shapes spelled out in issues are contracts: keep them stable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "vigil",
    version,
    about = "Sovereign threat intelligence: knowledge base, hunting, vulnerability notices, sharing."
)]
pub struct Cli {
    /// Data directory (the embedded store lives here).
    #[arg(
        long,
        global = true,
        env = "VIGIL_DATA",
        default_value = "./vigil-data"
    )]
    pub data: PathBuf,
    /// Configuration file (default: vigil.toml in the data directory, if present).
    #[arg(long, global = true, env = "VIGIL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Keep everything (knowledge base, members, tokens, notices, feeds, users) in PostgreSQL
    /// (`postgres://user@host:port/database`, or `host=.. dbname=..`) instead of the embedded store, for every command,
    /// so that several servers and CLIs share one. TLS as libpq's `sslmode` (default prefer; verify-full with
    /// `sslrootcert=CA.pem` across a network); a client certificate with `sslcert=` and `sslkey=` (`sslpassword=` for
    /// an encrypted key); the password from libpq's password file (`passfile=`, PGPASSFILE, ~/.pgpass) when the string
    /// has none; several hosts with `target_session_attrs=read-write` to follow a failover. What the string leaves out
    /// comes from a libpq service entry (`service=NAME`, PGSERVICE, PGSERVICEFILE) and the PG* variables (PGHOST,
    /// PGUSER, PGDATABASE, PGPASSWORD, PGSSLMODE, ...), as for psql: `--store postgresql://` takes them all. The data
    /// directory still holds settings and the audit log.
    #[arg(long, global = true, env = "VIGIL_STORE")]
    pub store: Option<String>,
    /// The PostgreSQL schema the knowledge base lives in (created if missing).
    #[arg(
        long,
        global = true,
        env = "VIGIL_STORE_SCHEMA",
        default_value = "vigil"
    )]
    pub store_schema: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the data directory and the store (safe to run again).
    Init(JsonFlag),
    /// Load intelligence: STIX, MISP events and feeds, galaxies, warning lists, IOC lists.
    Ingest(IngestArgs),
    /// Counts of live objects by type, source and TLP.
    Stats(JsonFlag),
    /// Full-text search over names, aliases, descriptions and values.
    Search(SearchArgs),
    /// One object (by id, name, alias, ATT&CK id or indicator value) with its relationships both ways.
    Show(ShowArgs),
    /// Write the knowledge out in another format.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Build a demo store from the bundled sample and the shared data sets, and print what to try.
    Demo(DemoArgs),
    /// Benchmarks that compare Vigil with a reference tool in the same run.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Check the store's consistency.
    Check(JsonFlag),
    /// Move the embedded store into PostgreSQL (`vigil store copy --to URL`).
    #[command(subcommand)]
    Store(crate::cmd::store::StoreCommand),
    /// Members of the programme (public bodies of eligible jurisdictions).
    #[command(subcommand)]
    Members(crate::cmd::members::MembersCommand),
    /// API tokens of members (shown once, stored hashed, revocable, with expiry).
    #[command(subcommand)]
    Tokens(crate::cmd::members::TokensCommand),
    /// People who log in to the dashboard (`vigil serve`, /ui/) with a user name and password.
    #[command(subcommand)]
    Users(crate::cmd::users::UsersCommand),
    /// Share an object marked AMBER, AMBER+STRICT or RED with named members.
    Share(crate::cmd::members::ShareArgs),
    /// Review what members posted to their TAXII inboxes.
    #[command(subcommand)]
    Inbox(crate::cmd::members::InboxCommand),
    /// The jurisdiction eligibility policy.
    #[command(subcommand)]
    Policy(crate::cmd::members::PolicyCommand),
    /// Serve the REST API and TAXII 2.1 (members see what TLP and sharing allow).
    Serve(crate::cmd::serve::ServeArgs),
    /// Members' software inventories (matched against advisories to write notices).
    #[command(subcommand)]
    Inventory(crate::cmd::vuln::InventoryCommand),
    /// Match one inventory (SBOM) against the advisories, without enrolling a member.
    Scan(crate::cmd::vuln::ScanArgs),
    /// Vulnerability notices to members: list, show, acknowledge, resolve, re-evaluate.
    Notices(crate::cmd::vuln::NoticesArgs),
    /// Scheduled feeds: HTTP(S) documents, TAXII 2.1 collections (federation), MISP feeds, CSAF providers.
    #[command(subcommand)]
    Feeds(crate::cmd::feeds::FeedsCommand),
    /// Compile the indicators this store may use into one snapshot file (for hunting without the store).
    Snapshot(crate::cmd::hunt::SnapshotArgs),
    /// Match indicators against logs (Zeek, Suricata EVE, BIND, unbound, Squid, JSON lines, CSV); one JSON line
    /// per sighting. Exit status 0 with hits, 1 with none, 2 on error.
    Hunt(crate::cmd::hunt::HuntArgs),
    /// Sightings that sensors published to NATS JetStream (`vigil hunt --publish`).
    #[command(subcommand)]
    Sightings(crate::cmd::sightings::SightingsCommand),
    /// Set (or clear) an analyst's score for an indicator; it overrides decay and no feed can reset it.
    Score(crate::cmd::hunt::ScoreArgs),
    /// Withdraw objects, or what one source said, as revoked STIX versions: hunts, exports and search drop them,
    /// TAXII consumers receive the revocation. Try --dry-run first: a revocation is final.
    Retract(crate::cmd::retract::RetractArgs),
    /// Measured AI: IOC extraction, ATT&CK tagging, domain scoring, attribution; training and evaluation.
    #[command(subcommand)]
    Ml(crate::cmd::ml::MlCommand),
    /// Confirm or reject machine-generated suggestions (from `vigil ingest --format report`).
    #[command(subcommand)]
    Review(crate::cmd::ml::ReviewCommand),
    /// Members' notice delivery channels: e-mail addresses and signed webhooks.
    #[command(subcommand)]
    Channels(crate::cmd::notify::ChannelsCommand),
    /// One delivery round: every notice version not yet delivered on a channel, and every retry that is due.
    Deliver(crate::cmd::notify::DeliverArgs),
    /// The delivery log: per notice version and channel, its state, attempts and last error.
    Deliveries(crate::cmd::notify::DeliveriesArgs),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON on stdout (and nothing else).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files, folders, archives (.tar, .tar.gz, .zip), compressed files (gzip, zstd), or `-` for stdin.
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// auto|stix|misp|misp-feed|galaxy|warninglist|iocs, for advisories kev|epss|cve5|osv|rustsec|csaf, or report (a
    /// text, Markdown or HTML threat report read by Vigil's models; see `vigil review`)
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Source name recorded as provenance (for IOC lists also the malware family).
    #[arg(long)]
    pub source: Option<String>,
    /// clear|green|amber|amber+strict|red: marking for objects of this input that carry none.
    #[arg(long)]
    pub tlp: Option<String>,
    /// Confidence (0-100) for objects that carry none.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub confidence: Option<u8>,
    /// Share what this run adds at TLP:AMBER or above with this member (repeatable).
    #[arg(long = "share-with")]
    pub share_with: Vec<i64>,
    /// CSAF over HTTP(S): refuse every document without an OpenPGP signature that verifies with the provider's
    /// keys (required anyway when the provider's metadata lists keys).
    #[arg(long)]
    pub require_signature: bool,
    /// CSAF over HTTP(S): trust only the provider key with this fingerprint (repeatable; as `gpg --fingerprint`
    /// prints it), not whatever the provider's metadata lists; implies --require-signature.
    #[arg(long = "openpgp-key", value_name = "FINGERPRINT")]
    pub openpgp_keys: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    pub text: String,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A STIX id, a name or alias (APT28, Fancy Bear), an ATT&CK id (T1566, G0007), or an indicator value.
    pub key: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// A STIX 2.1 bundle of the knowledge as it is (warning-listed objects kept and flagged).
    Stix(ExportStixArgs),
    /// Recorded sightings (with the identities they name) as a STIX 2.1 bundle, for `vigil ingest` elsewhere.
    Sightings(crate::cmd::hunt_export::SightingsArgs),
    /// Suricata rules with dataset, file-hash and IP reputation lists (PATH is a directory).
    Suricata(crate::cmd::hunt_export::IocExportArgs),
    /// A Zeek Intel framework file.
    Zeek(crate::cmd::hunt_export::IocExportArgs),
    /// A DNS response policy zone (RPZ) for protective DNS resolvers.
    Rpz(crate::cmd::hunt_export::IocExportArgs),
    /// Plain blocklists, one file per indicator type (PATH is a directory).
    Blocklist(crate::cmd::hunt_export::IocExportArgs),
    /// One CSV row per indicator value.
    Csv(crate::cmd::hunt_export::IocExportArgs),
    /// One MISP event (JSON) holding the indicators as attributes.
    Misp(crate::cmd::hunt_export::IocExportArgs),
    /// A MISP feed folder (manifest.json, one event per malware family and TLP, hashes.csv).
    MispFeed(crate::cmd::hunt_export::IocExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportStixArgs {
    #[arg(long)]
    pub out: PathBuf,
    /// Leave out objects marked above this level (unmarked objects count as the configured default).
    #[arg(long)]
    pub tlp_max: Option<String>,
    /// Only these STIX types (repeatable).
    #[arg(long = "type")]
    pub types: Vec<String>,
    /// Include revoked and deprecated objects.
    #[arg(long)]
    pub include_retired: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the shared public data sets are (default: ../shared/data, if present).
    #[arg(long, env = "VIGIL_SHARED_DATA")]
    pub shared: Option<PathBuf>,
    /// After loading, serve the store (REST + TAXII) and print its URL and a token.
    #[arg(long)]
    pub serve: bool,
    /// Address for --serve.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: std::net::SocketAddr,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Ingest speed: the ATT&CK bundle (against Python stix2 parsing it) and a 1,000,000-indicator list.
    Ingest(BenchIngestArgs),
    /// Advisory index build from all OSV, CSAF, KEV and CVE data, a 10,000-component scan, and univers doing the
    /// same range checks.
    Vuln(crate::cmd::vuln::BenchVulnArgs),
    /// Hunting speed: 1,000,000 mixed indicators against >= 2 GB of generated Zeek JSON and EVE logs, with
    /// `rg -F -f` and `grep -c` on the same files in the same run.
    Hunt(crate::cmd::hunt_bench::BenchHuntArgs),
    /// Every figure of the AI: IOC extraction against iocextract, ioc-finder and iocsearcher, tagging, domain
    /// scoring, attribution.
    Ml(crate::cmd::ml::BenchMlArgs),
}

#[derive(Debug, Args)]
pub struct BenchIngestArgs {
    /// The shared data folder (ATT&CK bundle and maltrail trails).
    #[arg(long, default_value = "../shared/data")]
    pub corpus: PathBuf,
    /// Python with the `stix2` package (the peer), default .venv-peers/bin/python.
    #[arg(long, default_value = ".venv-peers/bin/python")]
    pub python: PathBuf,
    /// Number of indicators in the generated list.
    #[arg(long, default_value_t = 1_000_000)]
    pub indicators: usize,
    /// Also store both inputs in a PostgreSQL knowledge base on this server (a schema of its own, dropped after)
    /// and print its rates next to the embedded store's.
    #[arg(long)]
    pub postgres: Option<String>,
    #[arg(long)]
    pub json: bool,
}
