//! `vigil store`: moving the embedded store into PostgreSQL when one machine is no longer enough.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::json;
use vigil_store::postgres::PostgresStore;
use vigil_store::sqlite::SqliteStore;

use crate::args::Cli;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy everything the embedded store in --data holds (knowledge base with every version and its provenance,
    /// members, hashed tokens, sharing, inboxes, notices, deliveries, feeds, users) into an empty PostgreSQL schema,
    /// in one transaction, then compare the two. Stop every Vigil process that writes to the embedded store first;
    /// afterwards run them with --store (VIGIL_STORE).
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The PostgreSQL database to copy into (default: --store / VIGIL_STORE); the schema is --store-schema.
    #[arg(long)]
    pub to: Option<String>,
    /// Skip the comparison of every object after the copy (the per-table row counts are still checked).
    #[arg(long)]
    pub no_verify: bool,
    /// Print JSON on stdout (and nothing else).
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, cmd: &StoreCommand) -> anyhow::Result<u8> {
    match cmd {
        StoreCommand::Copy(a) => copy(cli, a),
    }
}

fn copy(cli: &Cli, a: &CopyArgs) -> anyhow::Result<u8> {
    let Some(url) = a.to.as_deref().or(cli.store.as_deref()) else {
        bail!("name the PostgreSQL database to copy into: --to URL (or --store / VIGIL_STORE)");
    };
    // Opening would create an empty store; copying nothing into PostgreSQL is surely a mistyped --data.
    if !cli.data.join("vigil.db").is_file() {
        bail!(
            "no embedded store in {} (no vigil.db): name the data directory with --data",
            cli.data.display()
        );
    }
    let from = SqliteStore::open(&cli.data)
        .with_context(|| format!("opening the embedded store in {}", cli.data.display()))?;
    let to = PostgresStore::open(url, Some(&cli.store_schema))
        .context("opening the PostgreSQL store")?;
    let quiet = a.json;
    let pb = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        crate::output::progress("copying")
    };
    let report = vigil_store::copy::sqlite_to_postgres(&from, &to, &mut |table, rows| {
        pb.set_message(if table == "indexes" {
            "building the indexes".to_string()
        } else {
            format!("copying {table} ({rows} rows)")
        });
    })
    .with_context(|| format!("copying {} into {}", from.path().display(), to.place()))?;
    pb.finish_and_clear();
    let verified = if a.no_verify {
        None
    } else {
        let pb = if quiet {
            indicatif::ProgressBar::hidden()
        } else {
            crate::output::progress("comparing every object")
        };
        let v = vigil_store::copy::verify(&from, &to).context("comparing the two stores")?;
        pb.finish_and_clear();
        Some(v)
    };
    let ok = verified.as_ref().is_none_or(|v| v.ok());
    if a.json {
        crate::output::json(&json!({"copied": report, "verified": verified, "ok": ok}))?;
    } else {
        println!(
            "copied {} object(s) ({} version(s)) and {} other row(s) from {} into {} in {:.1} s",
            report.objects,
            report.versions,
            report
                .tables
                .iter()
                .filter(|t| t.table != "objects")
                .map(|t| t.rows)
                .sum::<u64>(),
            report.from,
            report.to,
            report.seconds
        );
        for t in report.tables.iter().filter(|t| t.rows > 0) {
            println!("  {:<20} {:>10} rows {:>8.2} s", t.table, t.rows, t.seconds);
        }
        println!("  (indexes built in {:.2} s)", report.index_seconds);
        match &verified {
            None => println!("not compared (--no-verify)"),
            Some(v) if v.ok() => println!(
                "compared: the {} object(s) read back alike from both stores, and the target is consistent",
                v.objects
            ),
            Some(v) => {
                for d in &v.differences {
                    println!("DIFFERENCE: {d}");
                }
                for p in &v.problems {
                    println!("PROBLEM: {p}");
                }
            }
        }
        if ok {
            println!(
                "Next: stop using {}, and run Vigil with --store (or VIGIL_STORE) naming the database, and \
                 --store-schema {} (the data directory still holds vigil.toml and the settings)",
                cli.data.display(),
                to.schema()
            );
        }
    }
    Ok(if ok { 0 } else { 1 })
}
