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
pub mod users;
pub mod vuln;

use anyhow::Context;
use vigil_store::postgres::PostgresStore;
use vigil_store::sqlite::SqliteStore;
use vigil_store::Store;

use crate::args::{BenchCommand, Cli, Command, ExportCommand};
use crate::settings::Settings;

/// Everything a command needs: the opened store and the settings.
pub struct Env {
    pub store: SqliteStore,
    /// The knowledge base when it is kept in PostgreSQL (`--store`); None when it is `store`'s.
    pub external: Option<PostgresStore>,
    pub settings: Settings,
    pub data: std::path::PathBuf,
}

impl Env {
    pub fn open(cli: &Cli) -> anyhow::Result<Env> {
        let settings = Settings::load(cli.config.as_deref(), &cli.data)?;
        let store = SqliteStore::open(&cli.data)
            .with_context(|| format!("opening the store in {}", cli.data.display()))?;
        let external = match &cli.store {
            Some(url) => Some(
                PostgresStore::open(url, Some(&cli.store_schema))
                    .context("opening the PostgreSQL knowledge base (--store)")?,
            ),
            None => None,
        };
        Ok(Env {
            store,
            external,
            settings,
            data: cli.data.clone(),
        })
    }

    /// The knowledge base: PostgreSQL with `--store`, else the embedded store.
    pub fn kb(&self) -> &dyn Store {
        match &self.external {
            Some(pg) => pg,
            None => &self.store,
        }
    }

    /// A second handle on the same data directory and settings, for work on another thread (each SQLite
    /// handle keeps its own connections).
    pub fn reopen(&self) -> anyhow::Result<Env> {
        let store = SqliteStore::open(&self.data)
            .with_context(|| format!("opening the store in {}", self.data.display()))?;
        if self.external.is_some() {
            anyhow::bail!("a second handle on a PostgreSQL knowledge base is not supported");
        }
        Ok(Env {
            store,
            external: None,
            settings: self.settings.clone(),
            data: self.data.clone(),
        })
    }
}

/// Whether a command works on a knowledge base kept in PostgreSQL (`--store`).
fn works_with_external_store(c: &Command) -> bool {
    matches!(
        c,
        Command::Init(_)
            | Command::Ingest(_)
            | Command::Stats(_)
            | Command::Search(_)
            | Command::Show(_)
            | Command::Check(_)
            | Command::Retract(_)
            | Command::Score(_)
            // Every export reads the knowledge base alone (the audit log stays in the data directory).
            | Command::Export(_)
    )
}

/// Runs a parsed command; returns the exit status.
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    if cli.store.is_some() && !works_with_external_store(&cli.command) {
        // Refused rather than run on the embedded store, whose knowledge base would be another (empty) one.
        anyhow::bail!(
            "this command does not work with a PostgreSQL knowledge base (--store / VIGIL_STORE) yet: only \
             init, ingest (intelligence formats), stats, search, show, check, score, retract and export do; members, \
             notices, feeds, hunting and the server use the embedded store in --data"
        );
    }
    match &cli.command {
        Command::Init(a) => {
            let env = Env::open(&cli)?;
            if a.json {
                let mut v = serde_json::json!({"data": env.data, "store": env.store.path(), "schema_version": env.store.schema_version()?});
                if let Some(pg) = &env.external {
                    v["knowledge_base"] = serde_json::json!({"backend": "postgres", "place": pg.place(), "schema_version": pg.schema_version()?,
                        "sslmode": pg.tls_mode().as_str(), "encrypted": pg.encrypted()?});
                }
                crate::output::json(&v)?;
            } else {
                println!(
                    "Vigil store ready at {} (schema version {})",
                    env.store.path().display(),
                    env.store.schema_version()?
                );
                if let Some(pg) = &env.external {
                    let tls = match (pg.encrypted()?, pg.tls_mode().as_str()) {
                        (true, mode) => format!("encrypted, sslmode {mode}"),
                        (false, mode) => format!("NOT encrypted, sslmode {mode}"),
                    };
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
        Command::Snapshot(a) => hunt::snapshot(&Env::open(&cli)?, a),
        Command::Hunt(a) => hunt::run(&cli, a),
        Command::Score(a) => hunt::score(&Env::open(&cli)?, a),
        Command::Retract(a) => retract::run(&Env::open(&cli)?, a),
        Command::Bench(BenchCommand::Hunt(a)) => hunt_bench::run(a),
        Command::Demo(a) => demo::run(&cli, a),
        Command::Bench(BenchCommand::Ingest(a)) => bench::ingest(a),
        Command::Bench(BenchCommand::Vuln(a)) => vuln::bench(a),
        Command::Bench(BenchCommand::Ml(a)) => ml::bench(&cli, a),
        Command::Check(a) => query::check(&Env::open(&cli)?, a.json),
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
