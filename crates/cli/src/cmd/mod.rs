//! One module per subcommand.

mod bench;
mod demo;
mod export;
pub mod feeds;
pub mod hunt;
pub mod hunt_bench;
pub mod hunt_export;
mod ingest;
pub mod members;
pub mod ml;
pub mod notify;
mod query;
pub mod retract;
pub mod serve;
pub mod sightings;
mod snapshot_fetch;
pub mod store;
pub mod users;
pub mod vuln;

use anyhow::Context;
use std::sync::Arc;
use vigil_store::postgres::PostgresStore;
use vigil_store::sqlite::SqliteStore;

use vigil_store::{ServerStore, Store};

use crate::args::{BenchCommand, Cli, Command, ExportCommand};
use crate::settings::Settings;

/// Everything a command needs: the opened store and the settings.
pub struct Env {
    /// Everything Vigil keeps: the embedded store in `--data`, or PostgreSQL with `--store`.
    pub store: Arc<dyn ServerStore>,
    /// The same store when it is PostgreSQL (for what only it can say: where it is, its encryption).
    pub external: Option<Arc<PostgresStore>>,
    pub settings: Settings,
    pub data: std::path::PathBuf,
}

impl Env {
    pub fn open(cli: &Cli) -> anyhow::Result<Env> {
        let settings = Settings::load(cli.config.as_deref(), &cli.data)?;
        let (store, external): (Arc<dyn ServerStore>, _) = match &cli.store {
            Some(url) => {
                // `--store ./somewhere` is a directory meant for the embedded store, not a connection string.
                let hint = if url.contains('=') || url.contains("://") {
                    ""
                } else {
                    " (--store takes a PostgreSQL connection string; the embedded store's directory is --data DIR)"
                };
                let pg = Arc::new(
                    PostgresStore::open(url, Some(&cli.store_schema))
                        .with_context(|| format!("opening the PostgreSQL store (--store){hint}"))?,
                );
                (pg.clone(), Some(pg))
            }
            None => (Arc::new(open_embedded(&cli.data)?), None),
        };
        Ok(Env {
            store,
            external,
            settings,
            data: cli.data.clone(),
        })
    }

    /// The knowledge base (the same store as `store`, seen as one).
    pub fn kb(&self) -> &dyn Store {
        &*self.store
    }

    /// A second handle on the same store and settings, for work on another thread (each SQLite handle keeps its
    /// own connections; a PostgreSQL store is shared, its connections pooled).
    pub fn reopen(&self) -> anyhow::Result<Env> {
        let store: Arc<dyn ServerStore> = match &self.external {
            Some(pg) => pg.clone(),
            None => Arc::new(open_embedded(&self.data)?),
        };
        Ok(Env {
            store,
            external: self.external.clone(),
            settings: self.settings.clone(),
            data: self.data.clone(),
        })
    }
}

fn open_embedded(data: &std::path::Path) -> anyhow::Result<SqliteStore> {
    SqliteStore::open(data).with_context(|| format!("opening the store in {}", data.display()))
}

/// This host's name, printable and without `/` (it names a sensor in sighting reports and a process in feed
/// leases, both shown to operators); "unknown-host" when the system gives none.
pub fn host_name() -> String {
    let raw = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .take(128)
        .map(|c| {
            if c.is_ascii_graphic() && c != '/' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "unknown-host".into()
    } else {
        name
    }
}

/// Runs a parsed command; returns the exit status.
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match &cli.command {
        Command::Init(a) => {
            let env = Env::open(&cli)?;
            // Where the store is and how far its schema has come: the data directory's SQLite file, or PostgreSQL.
            let (place, version) = match &env.external {
                Some(pg) => (pg.place().to_string(), pg.schema_version()?),
                None => {
                    let lite = open_embedded(&env.data)?;
                    (lite.path().display().to_string(), lite.schema_version()?)
                }
            };
            if a.json {
                let mut v = serde_json::json!({"data": env.data, "store": place, "schema_version": version});
                if let Some(pg) = &env.external {
                    v["knowledge_base"] = serde_json::json!({"backend": "postgres", "place": pg.place(), "schema_version": pg.schema_version()?,
                        "sslmode": pg.tls_mode().as_str(), "encrypted": pg.encrypted()?,
                        "client_certificate": pg.client_certificate()?});
                }
                crate::output::json(&v)?;
            } else {
                println!("Vigil store ready at {place} (schema version {version})");
                if let Some(pg) = &env.external {
                    let mut tls = match (pg.encrypted()?, pg.tls_mode().as_str()) {
                        (true, mode) => format!("encrypted, sslmode {mode}"),
                        (false, mode) => format!("NOT encrypted, sslmode {mode}"),
                    };
                    if let Some(dn) = pg.client_certificate()? {
                        tls.push_str(&format!(", client certificate {dn}"));
                    }
                    println!(
                        "Knowledge base in PostgreSQL at {} (schema version {}; {tls})",
                        pg.place(),
                        pg.schema_version()?
                    );
                }
            }
            Ok(0)
        }
        Command::Ingest(a) if a.format == "report" => ml::ingest_report(&cli, &Env::open(&cli)?, a),
        Command::Ingest(a) => vuln::ingest(&Env::open(&cli)?, a),
        Command::Stats(a) => query::stats(&Env::open(&cli)?, a.json),
        Command::Search(a) => query::search(&Env::open(&cli)?, a),
        Command::Show(a) => query::show(&Env::open(&cli)?, a),
        Command::Export(ExportCommand::Stix(a)) => export::stix(&Env::open(&cli)?, a),
        Command::Export(ExportCommand::Sightings(a)) => {
            hunt_export::sightings(&Env::open(&cli)?, a)
        }
        Command::Export(ExportCommand::Suricata(a)) => {
            hunt_export::run(&Env::open(&cli)?, hunt_export::Kind::Suricata, a)
        }
        Command::Export(ExportCommand::Zeek(a)) => {
            hunt_export::run(&Env::open(&cli)?, hunt_export::Kind::Zeek, a)
        }
        Command::Export(ExportCommand::Rpz(a)) => {
            hunt_export::run(&Env::open(&cli)?, hunt_export::Kind::Rpz, a)
        }
        Command::Export(ExportCommand::Blocklist(a)) => {
            hunt_export::run(&Env::open(&cli)?, hunt_export::Kind::Blocklist, a)
        }
        Command::Export(ExportCommand::Csv(a)) => {
            hunt_export::run(&Env::open(&cli)?, hunt_export::Kind::Csv, a)
        }
        Command::Export(ExportCommand::Misp(a)) => {
            hunt_export::run(&Env::open(&cli)?, hunt_export::Kind::Misp, a)
        }
        Command::Export(ExportCommand::MispFeed(a)) => {
            hunt_export::run(&Env::open(&cli)?, hunt_export::Kind::MispFeed, a)
        }
        // A sensor fetching from the CSIRT's server has no store to open.
        Command::Snapshot(a) => match &a.from {
            Some(from) => snapshot_fetch::run(a, from),
            None => hunt::snapshot(&Env::open(&cli)?, a),
        },
        Command::Hunt(a) => hunt::run(&cli, a),
        Command::Sightings(c) => sightings::run(&Env::open(&cli)?, c),
        Command::Score(a) => hunt::score(&Env::open(&cli)?, a),
        Command::Retract(a) => retract::run(&Env::open(&cli)?, a),
        Command::Bench(BenchCommand::Hunt(a)) => hunt_bench::run(a),
        Command::Demo(a) => demo::run(&cli, a),
        Command::Bench(BenchCommand::Ingest(a)) => bench::ingest(a),
        Command::Bench(BenchCommand::Vuln(a)) => vuln::bench(a),
        Command::Bench(BenchCommand::Ml(a)) => ml::bench(&cli, a),
        Command::Check(a) => query::check(&Env::open(&cli)?, a.json),
        Command::Store(c) => store::run(&cli, c),
        Command::Members(c) => members::members(&Env::open(&cli)?, c),
        Command::Tokens(c) => members::tokens(&Env::open(&cli)?, c),
        Command::Users(c) => users::run(&Env::open(&cli)?, c),
        Command::Share(a) => members::share(&Env::open(&cli)?, a),
        Command::Inbox(c) => members::inbox(&Env::open(&cli)?, c),
        Command::Policy(c) => members::policy(&Env::open(&cli)?, c),
        Command::Serve(a) => serve::run(&Env::open(&cli)?, a),
        Command::Inventory(c) => vuln::inventory(&Env::open(&cli)?, c),
        Command::Scan(a) => vuln::scan_cmd(&Env::open(&cli)?, a),
        Command::Notices(a) => vuln::notices(&Env::open(&cli)?, a),
        Command::Feeds(c) => feeds::run(&Env::open(&cli)?, c),
        Command::Ml(c) => ml::run(&cli, c),
        Command::Review(c) => ml::review(&Env::open(&cli)?, c),
        Command::Channels(c) => notify::channels(&Env::open(&cli)?, c),
        Command::Deliver(a) => notify::deliver(&Env::open(&cli)?, a),
        Command::Deliveries(a) => notify::deliveries(&Env::open(&cli)?, a),
    }
}

/// A file holding secrets (a token, NATS credentials), whole; `what` names them in errors. Says so on stderr when
/// other users of the host may read it (as ssh does), and never shows the content.
pub(crate) fn read_private_file(path: &std::path::Path, what: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {what} in {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            if m.permissions().mode() & 0o077 != 0 {
                eprintln!(
                    "vigil: warning: {} can be read by other users of this host: chmod 600 it",
                    path.display()
                );
            }
        }
    }
    Ok(text)
}
