//! `vigil store`: backing up and restoring the embedded store, and moving it into PostgreSQL when one machine is
//! no longer enough.

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
    /// afterwards run them with --store (VIGIL_STORE). With --from URL, the other way: a PostgreSQL store into a new
    /// embedded store in --data (which must hold none), while its servers go on running.
    Copy(CopyArgs),
    /// Write a consistent copy of the embedded store in --data to a new file, while Vigil goes on running, and
    /// check it. Keep vigil.toml, audit.jsonl and models/ (if any) of the data directory with it (plain files).
    Backup(BackupArgs),
    /// Check a backup, then make it the embedded store of --data, which must hold none.
    Restore(RestoreArgs),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write (it must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: std::path::PathBuf,
    /// Print JSON on stdout (and nothing else).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file written by `vigil store backup` (or a copy of vigil.db taken while no Vigil ran).
    pub file: std::path::PathBuf,
    /// Only check the backup and say what it holds; restore nothing.
    #[arg(long)]
    pub check: bool,
    /// Print JSON on stdout (and nothing else).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The PostgreSQL database to copy into (default: --store / VIGIL_STORE); the schema is --store-schema.
    #[arg(long, conflicts_with = "from")]
    pub to: Option<String>,
    /// Copy from this PostgreSQL database (schema --store-schema) into a new embedded store in --data instead.
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,
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
        StoreCommand::Backup(a) => backup(cli, a),
        StoreCommand::Restore(a) => restore(cli, a),
    }
}

fn embedded_only(cli: &Cli, what: &str) -> anyhow::Result<()> {
    if cli.store.is_some() {
        bail!(
            "`vigil store {what}` is for the embedded store in --data; a PostgreSQL store is backed up and restored \
             with PostgreSQL's own tools (pg_dump --schema {schema} / pg_restore, or the server's base backups)",
            schema = cli.store_schema
        );
    }
    Ok(())
}

fn sha256_of(path: &std::path::Path) -> anyhow::Result<String> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("reading {}", path.display()))?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn print_tables(info: &vigil_store::sqlite::backup::BackupInfo) {
    for t in info.tables.iter().filter(|t| t.rows > 0) {
        println!("  {:<20} {:>10} rows", t.table, t.rows);
    }
}

fn backup(cli: &Cli, a: &BackupArgs) -> anyhow::Result<u8> {
    embedded_only(cli, "backup")?;
    if !cli.data.join("vigil.db").is_file() {
        bail!(
            "no embedded store in {} (no vigil.db): name the data directory with --data",
            cli.data.display()
        );
    }
    let store = SqliteStore::open(&cli.data)
        .with_context(|| format!("opening the embedded store in {}", cli.data.display()))?;
    let pb = if a.json {
        indicatif::ProgressBar::hidden()
    } else {
        crate::output::progress("writing and checking the backup")
    };
    let info = store.backup(&a.out).with_context(|| {
        format!(
            "backing up {} to {}",
            store.path().display(),
            a.out.display()
        )
    })?;
    pb.finish_and_clear();
    let sha256 = sha256_of(&a.out)?;
    if a.json {
        crate::output::json(&json!({"backup": info, "sha256": sha256}))?;
    } else {
        println!(
            "backed up {} object(s) ({} version(s)) from {} to {} ({} bytes, schema {}) in {:.1} s; checked: sound",
            info.objects,
            info.versions,
            store.path().display(),
            info.file,
            info.bytes,
            info.schema_version,
            info.seconds
        );
        print_tables(&info);
        println!("sha256 {sha256}");
        // The data directory's plain files that the backup does not hold, as far as they exist here.
        let beside: Vec<String> = ["vigil.toml", "audit.jsonl", "models"]
            .iter()
            .map(|f| cli.data.join(f))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !beside.is_empty() {
            println!("Keep {} with it (plain files)", beside.join(", "));
        }
        println!("Restore with: vigil --data DIR store restore {}", info.file);
    }
    Ok(0)
}

fn restore(cli: &Cli, a: &RestoreArgs) -> anyhow::Result<u8> {
    embedded_only(cli, "restore")?;
    let info = if a.check {
        vigil_store::sqlite::backup::inspect(&a.file)
            .with_context(|| format!("checking {}", a.file.display()))?
    } else {
        vigil_store::sqlite::backup::restore(&a.file, &cli.data).with_context(|| {
            format!("restoring {} into {}", a.file.display(), cli.data.display())
        })?
    };
    let ok = info.ok();
    if a.json {
        let what = if a.check { "checked" } else { "restored" };
        crate::output::json(&json!({what: info, "ok": ok}))?;
    } else {
        if a.check {
            println!(
                "{}: a Vigil store of schema {} holding {} object(s) ({} version(s)), {} bytes",
                a.file.display(),
                info.schema_version,
                info.objects,
                info.versions,
                info.bytes
            );
        } else {
            println!(
                "restored {} into {}: {} object(s) ({} version(s)), schema {}, in {:.1} s",
                a.file.display(),
                info.file,
                info.objects,
                info.versions,
                info.schema_version,
                info.seconds
            );
        }
        print_tables(&info);
        if ok {
            println!("checked: sound");
        }
        for p in &info.problems {
            println!("PROBLEM: {p}");
        }
    }
    Ok(if ok { 0 } else { 1 })
}

fn copy(cli: &Cli, a: &CopyArgs) -> anyhow::Result<u8> {
    if let Some(from) = &a.from {
        return copy_back(cli, a, from);
    }
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
    let next = format!(
        "Next: stop using {}, and run Vigil with --store (or VIGIL_STORE) naming the database, and --store-schema {} \
         (the data directory still holds vigil.toml and the settings)",
        cli.data.display(),
        to.schema()
    );
    finish(a, &report, &from, &to, "indexes", &next)
}

/// Compares the two stores (unless --no-verify) and says what the copy did; the exit status.
fn finish(
    a: &CopyArgs,
    report: &vigil_store::copy::CopyReport,
    from: &dyn vigil_store::Store,
    to: &dyn vigil_store::Store,
    indexes: &str,
    next: &str,
) -> anyhow::Result<u8> {
    let verified = if a.no_verify {
        None
    } else {
        let pb = if a.json {
            indicatif::ProgressBar::hidden()
        } else {
            crate::output::progress("comparing every object")
        };
        let v = vigil_store::copy::verify(from, to).context("comparing the two stores")?;
        pb.finish_and_clear();
        Some(v)
    };
    let ok = verified.as_ref().is_none_or(|v| v.ok());
    if a.json {
        crate::output::json(&json!({"copied": report, "verified": verified, "ok": ok}))?;
        return Ok(if ok { 0 } else { 1 });
    }
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
    println!("  ({indexes} built in {:.2} s)", report.index_seconds);
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
        println!("{next}");
    }
    Ok(if ok { 0 } else { 1 })
}

/// `vigil store copy --from URL`: a PostgreSQL store into a new embedded store.
fn copy_back(cli: &Cli, a: &CopyArgs, url: &str) -> anyhow::Result<u8> {
    let from = PostgresStore::open(url, Some(&cli.store_schema))
        .context("opening the PostgreSQL store")?;
    let pb = if a.json {
        indicatif::ProgressBar::hidden()
    } else {
        crate::output::progress("copying")
    };
    let report = vigil_store::copy::postgres_to_sqlite(&from, &cli.data, &mut |table, rows| {
        pb.set_message(if table == "indexes" {
            "building the search index".to_string()
        } else {
            format!("copying {table} ({rows} rows)")
        });
    })
    .with_context(|| format!("copying {} into {}", from.place(), cli.data.display()))?;
    pb.finish_and_clear();
    let to = SqliteStore::open(&cli.data)
        .with_context(|| format!("opening the new embedded store in {}", cli.data.display()))?;
    let next = format!(
        "Next: run Vigil with --data {} and without --store (unset VIGIL_STORE); the PostgreSQL store is left as it was",
        cli.data.display()
    );
    finish(a, &report, &from, &to, "search index", &next)
}
