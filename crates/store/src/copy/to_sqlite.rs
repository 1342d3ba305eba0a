//! Moving a PostgreSQL store back into an embedded one (`vigil store copy --from URL`): the way out of a database
//! server that an agency can no longer run or reach, and an embedded copy for a laptop or an isolated network.
//!
//! The copy reads one snapshot of the schema (a `REPEATABLE READ` read-only transaction: servers may go on writing;
//! what they commit after it began is not copied) into a new database file beside the data directory's `vigil.db`,
//! which must not exist, and names it `vigil.db` only once everything is in and its row counts are checked: a copy
//! that fails leaves no store behind. As in the other direction, row numbers are kept (TAXII `next` cursors, member,
//! token and notice ids stay valid), each object row is rebuilt from its JSON through [`IndexParts`] as a SQLite
//! ingest would write it (hashed id and graph ends, look-up keys, search text, shared provenance rows, the time added
//! as an integer), and the other tables are copied by the SQLite column names, each value converted to the column's
//! declared type.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::types::Type;
use ::postgres::Client;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection};

use super::{CopyReport, TableCopied, PLAIN, REBUILT, TARGET_OWN};
use crate::postgres::PostgresStore;
use crate::prepared::h64;
use crate::StoreError;

/// SQLite tables the copy fills other than [`PLAIN`]'s and `objects`: rebuilt from the objects (`keys`,
/// `edge_src`, `prov_sets`, `fts`) or from PostgreSQL's `feeds` rows (`feed_keys`).
const SQLITE_BUILT: &[&str] = &[
    "objects",
    "keys",
    "edge_src",
    "prov_sets",
    "fts",
    "feed_keys",
];
/// SQLite tables left as the migrations made them: leases belong to the old store's processes.
const SQLITE_OWN: &[&str] = &["meta", "feed_leases"];

/// Copies everything the PostgreSQL store `from` holds into a new embedded store in `dir`, which must hold none.
/// `progress` hears each table as it starts, with the rows the source holds for it.
pub fn postgres_to_sqlite(
    from: &PostgresStore,
    dir: &Path,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<CopyReport, StoreError> {
    let started = Instant::now();
    let db = dir.join("vigil.db");
    crate::sqlite::backup::refuse_store_in(
        dir,
        "copy into a data directory without a store (name another with --data)",
    )?;
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let partial = dir.join("vigil.db.partial");
    crate::sqlite::backup::remove_with_journals(&partial);
    let copied = (|| {
        let mut dst = crate::sqlite::create_for_copy(&partial)?;
        // One transaction into a file nobody else has open, removed if anything fails: no journal is needed.
        dst.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")?;
        let out = from.with_snapshot(|pg| {
            let tx = dst.transaction()?;
            let out = fill(pg, &tx, progress)?;
            tx.commit()?;
            Ok(out)
        })?;
        dst.execute_batch("PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;")?;
        drop(dst);
        crate::sqlite::backup::sync(&partial)?;
        Ok(out)
    })();
    let (tables, versions, objects, index_seconds) = match copied {
        Ok(out) => out,
        Err(e) => {
            crate::sqlite::backup::remove_with_journals(&partial);
            return Err(e);
        }
    };
    if let Err(e) = crate::sqlite::backup::give_name(&partial, &db) {
        crate::sqlite::backup::remove_with_journals(&partial);
        return Err(e);
    }
    crate::sqlite::backup::sync(&db)?;
    Ok(CopyReport {
        from: from.place().to_string(),
        to: db.display().to_string(),
        tables,
        versions,
        objects,
        index_seconds,
        seconds: started.elapsed().as_secs_f64(),
    })
}

type Filled = (Vec<TableCopied>, u64, u64, f64);

fn fill(
    pg: &mut Client,
    dst: &Connection,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<Filled, StoreError> {
    let schema: String = pg.query_one("SELECT current_schema()::TEXT", &[])?.get(0);
    check_tables(pg, dst, &schema)?;
    let mut objects = 0;
    let mut tables = vec![super::counted(
        "objects",
        pg_count(pg, "objects")?,
        progress,
        || {
            let (versions, latest) = copy_objects(pg, dst)?;
            objects = latest;
            Ok(versions)
        },
    )?];
    let versions = tables[0].rows;
    progress("indexes", 0);
    let t0 = Instant::now();
    // The search index is filled in one statement: FTS5 merges its segments once rather than per row.
    dst.execute_batch(
        "INSERT INTO fts (rowid, text) SELECT seq, text FROM temp.vigil_copy_fts; DROP TABLE temp.vigil_copy_fts;",
    )?;
    let index_seconds = t0.elapsed().as_secs_f64();
    for t in PLAIN {
        tables.push(super::counted(
            t.table,
            pg_count(pg, t.table)?,
            progress,
            || copy_plain(pg, dst, &schema, t.table),
        )?);
    }
    copy_feed_keys(pg, dst)?;
    set_sequences(pg, dst, &schema)?;
    Ok((tables, versions, objects, index_seconds))
}

fn pg_count(pg: &mut Client, table: &str) -> Result<u64, StoreError> {
    let n: i64 = pg
        .query_one(
            &format!("SELECT count(*) FROM {}", super::ident(table)),
            &[],
        )?
        .get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Refuses a copy that would leave a table behind, as the other direction does.
fn check_tables(pg: &mut Client, dst: &Connection, schema: &str) -> Result<(), StoreError> {
    let known = |t: &str| PLAIN.iter().any(|p| p.table == t) || REBUILT.contains(&t);
    for t in super::target_tables(pg, schema)? {
        if !known(&t) && !TARGET_OWN.contains(&t.as_str()) {
            return Err(StoreError::Aborted(format!(
                "the PostgreSQL store has a table `{t}` this Vigil does not know how to copy"
            )));
        }
    }
    for t in super::source_tables(dst)? {
        let t = t.as_str();
        if !known(t) && !SQLITE_BUILT.contains(&t) && !SQLITE_OWN.contains(&t) {
            return Err(StoreError::Aborted(format!(
                "the embedded store has a table `{t}` this Vigil does not know how to fill"
            )));
        }
    }
    Ok(())
}

/// `2026-11-30T13:03:30.182272Z` as microseconds since the epoch, when the text is exactly what SQLite renders
/// back from them (`added_at!()`); otherwise the text is kept as it is.
fn added_micros(text: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    let us = t.timestamp_micros();
    let back = chrono::DateTime::from_timestamp_micros(us)?
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    (back == text).then_some(us)
}

/// Every version of every object, in insertion order. Returns (versions, latest versions).
fn copy_objects(pg: &mut Client, dst: &Connection) -> Result<(u64, u64), StoreError> {
    dst.execute_batch(
        "CREATE TEMP TABLE vigil_copy_fts (seq INTEGER PRIMARY KEY, text TEXT NOT NULL)",
    )?;
    let mut insert = dst.prepare(
        "INSERT INTO objects (seq, hid, lk, stix_id, type, version, retired, tlp, added_at, source, ingested_at,
            original_id, file, src, dst, json, prov, added)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '', '', ?10, NULL, ?11, ?12, ?13, ?14, ?15)",
    )?;
    let mut fts = dst.prepare("INSERT INTO temp.vigil_copy_fts (seq, text) VALUES (?1, ?2)")?;
    let mut new_set =
        dst.prepare("INSERT INTO prov_sets (source, ingested_at, file) VALUES (?1, ?2, ?3)")?;
    let mut sets: HashMap<(String, String, Option<String>), i64> = HashMap::new();
    let mut edges: Vec<(i64, i64)> = Vec::new();
    let mut keys: Vec<(i64, i64, i64)> = Vec::new();
    let (mut versions, mut latest_n) = (0u64, 0u64);
    let mut rows = pg.query_raw(
        "SELECT seq, stix_id, type, version, latest, retired, tlp, added_at, source, ingested_at, original_id, file,
            json FROM objects ORDER BY seq",
        std::iter::empty::<i64>(),
    )?;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.try_get(0)?;
        let id: String = r.try_get(1)?;
        let packed: Vec<u8> = r.try_get(12)?;
        let json = crate::packed::unpack(&packed).map_err(|e| corrupt(seq, &id, e))?;
        let version: String = r.try_get(3)?;
        let latest = r.try_get::<_, Option<bool>>(4)? == Some(true);
        let (p, src_ref, dst_ref) =
            super::reindex(seq, &json, &version).map_err(|e| corrupt(seq, &id, e))?;
        let (src, dsth) = (src_ref.as_deref().map(h64), dst_ref.as_deref().map(h64));
        let added_at: String = r.try_get(7)?;
        let added = added_micros(&added_at);
        let prov = (
            r.try_get::<_, String>(8)?,
            r.try_get::<_, String>(9)?,
            r.try_get::<_, Option<String>>(11)?,
        );
        let set = match sets.get(&prov) {
            Some(id) => *id,
            None => {
                new_set.execute(params![prov.0, prov.1, prov.2])?;
                let id = dst.last_insert_rowid();
                sets.insert(prov, id);
                id
            }
        };
        insert.execute(params![
            seq,
            h64(&id),
            latest.then_some(0i64),
            id,
            r.try_get::<_, String>(2)?,
            version,
            r.try_get::<_, bool>(5)?,
            r.try_get::<_, Option<i16>>(6)?.map(i64::from),
            if added.is_some() {
                String::new()
            } else {
                added_at
            },
            r.try_get::<_, Option<String>>(10)?,
            src,
            dsth,
            packed,
            set,
            added,
        ])?;
        if latest {
            latest_n += 1;
            if let Some(s) = src {
                edges.push((s, seq));
            }
            keys.extend(p.keys.iter().map(|(k, kind)| (h64(k), seq, *kind)));
            if !p.search.is_empty() {
                fts.execute(params![seq, p.search])?;
            }
        }
        versions += 1;
    }
    // In key order, as the writer adds graph edges at commit: each B-tree page is visited once, where rows in
    // object order would land at random places in indexes of millions of entries.
    edges.sort_unstable();
    let mut edge = dst.prepare("INSERT OR IGNORE INTO edge_src (src, seq) VALUES (?1, ?2)")?;
    for (s, seq) in edges {
        edge.execute(params![s, seq])?;
    }
    keys.sort_unstable();
    let mut key =
        dst.prepare("INSERT OR IGNORE INTO keys (khash, seq, kind) VALUES (?1, ?2, ?3)")?;
    for (h, seq, kind) in keys {
        key.execute(params![h, seq, kind])?;
    }
    Ok((versions, latest_n))
}

fn corrupt(seq: i64, id: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!(
        "object {id} (row {seq}) in the PostgreSQL store: {e}"
    ))
}

/// The SQLite columns of a table with their declared types (upper-cased).
fn sqlite_columns(dst: &Connection, table: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut st = dst.prepare("SELECT name, upper(type) FROM pragma_table_info(?1) ORDER BY cid")?;
    let cols = st
        .query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<(String, String)>, _>>()?;
    Ok(cols)
}

/// One PostgreSQL value as the SQLite column's declared type wants it.
fn value(row: &::postgres::Row, i: usize, ty: &Type, declared: &str) -> Result<SqlValue, String> {
    let get_err = |e: ::postgres::Error| e.to_string();
    let v = if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)
            .map_err(get_err)?
            .map(SqlValue::Integer)
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)
            .map_err(get_err)?
            .map(|v| SqlValue::Integer(v.into()))
    } else if *ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(i)
            .map_err(get_err)?
            .map(|v| SqlValue::Integer(v.into()))
    } else if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i)
            .map_err(get_err)?
            .map(|v| SqlValue::Integer(v.into()))
    } else if *ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(i)
            .map_err(get_err)?
            .map(SqlValue::Real)
    } else if *ty == Type::TEXT {
        row.try_get::<_, Option<String>>(i)
            .map_err(get_err)?
            .map(SqlValue::Text)
    } else if *ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(i)
            .map_err(get_err)?
            .map(SqlValue::Blob)
    } else {
        return Err(format!("type {ty} is not one the copy carries"));
    };
    let Some(v) = v else {
        return Ok(SqlValue::Null);
    };
    Ok(match (v, declared) {
        (SqlValue::Blob(b), "TEXT") => SqlValue::Text(
            String::from_utf8(b)
                .map_err(|_| "bytes that are not UTF-8 for a text column".to_string())?,
        ),
        (SqlValue::Text(t), "BLOB") => SqlValue::Blob(t.into_bytes()),
        (v, _) => v,
    })
}

/// Copies one table by the SQLite column names. A column SQLite keeps and PostgreSQL does not (a hashed id) is
/// computed from the row.
fn copy_plain(
    pg: &mut Client,
    dst: &Connection,
    schema: &str,
    table: &str,
) -> Result<u64, StoreError> {
    let pg_cols: Vec<String> = super::target_columns(pg, schema, table)?
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    // A row number PostgreSQL does not keep (`shares.id`) is handed out by SQLite as the rows go in.
    let rowid: Option<String> = dst
        .query_row(
            "SELECT name FROM pragma_table_info(?1) WHERE pk = 1 AND upper(type) = 'INTEGER'
             AND (SELECT count(*) FROM pragma_table_info(?1) WHERE pk > 0) = 1",
            [table],
            |r| r.get(0),
        )
        .ok();
    let mut cols = sqlite_columns(dst, table)?;
    cols.retain(|(c, _)| pg_cols.contains(c) || rowid.as_deref() != Some(c.as_str()));
    let (read, derived): (Vec<_>, Vec<_>) =
        cols.into_iter().partition(|(c, _)| pg_cols.contains(c));
    // The one column SQLite keeps that PostgreSQL does not: a share's hashed object id, computed from the row.
    let hid_from = match derived.as_slice() {
        [] => None,
        [(c, _)] if c == "hid" && table == "shares" => read.iter().position(|(c, _)| c == "object_id"),
        [(c, _), ..] => {
            return Err(StoreError::Aborted(format!(
                "table {table}: the embedded store's column `{c}` has no source in PostgreSQL this Vigil knows"
            )))
        }
    };
    let select = format!(
        "SELECT {} FROM {}",
        read.iter()
            .map(|(c, _)| super::ident(c))
            .collect::<Vec<_>>()
            .join(", "),
        super::ident(table)
    );
    let mut names: Vec<String> = read.iter().map(|(c, _)| super::ident(c)).collect();
    if hid_from.is_some() {
        names.push(super::ident("hid"));
    }
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let mut insert = dst.prepare(&format!(
        "INSERT INTO {} ({}) VALUES ({})",
        super::ident(table),
        names.join(", "),
        marks.join(", ")
    ))?;
    let stmt = pg.prepare(&select)?;
    let types: Vec<Type> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
    let mut rows = pg.query_raw(&stmt, std::iter::empty::<i64>())?;
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        n += 1;
        let mut out = Vec::with_capacity(names.len());
        for (i, (c, declared)) in read.iter().enumerate() {
            out.push(value(&r, i, &types[i], declared).map_err(|reason| {
                StoreError::Corrupt(format!("table {table}, row {n}, column {c}: {reason}"))
            })?);
        }
        if let Some(i) = hid_from {
            out.push(match &out[i] {
                SqlValue::Text(id) => SqlValue::Integer(h64(id)),
                _ => SqlValue::Null,
            });
        }
        insert.execute(rusqlite::params_from_iter(out))?;
    }
    Ok(n)
}

/// A CSAF feed's keys, which PostgreSQL keeps in the feed's row, go to `feed_keys` as the SQLite backend writes
/// them (a row only for a feed with keys or that requires signatures).
fn copy_feed_keys(pg: &mut Client, dst: &Connection) -> Result<(), StoreError> {
    let mut insert = dst.prepare(
        "INSERT INTO feed_keys (feed, openpgp_keys, require_signature) VALUES (?1, ?2, ?3)",
    )?;
    for r in pg.query(
        "SELECT name, openpgp_keys, require_signature FROM feeds
         WHERE openpgp_keys IS NOT NULL OR require_signature",
        &[],
    )? {
        let name: String = r.try_get(0)?;
        let keys: Option<String> = r.try_get(1)?;
        let require: bool = r.try_get(2)?;
        insert.execute(params![name, keys, require])?;
    }
    Ok(())
}

/// Each never-reused SQLite sequence (`AUTOINCREMENT`) starts past the highest number PostgreSQL handed out, so
/// the next inbox or member-collection row does not take a number a TAXII cursor already names.
fn set_sequences(pg: &mut Client, dst: &Connection, schema: &str) -> Result<(), StoreError> {
    let tables: Vec<String> = dst
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for table in tables {
        let column: String = dst.query_row(
            "SELECT name FROM pragma_table_info(?1) WHERE pk = 1",
            [&table],
            |r| r.get(0),
        )?;
        let qualified = format!("{}.{}", super::ident(schema), super::ident(&table));
        let sequence: Option<String> = pg
            .query_one(
                "SELECT pg_get_serial_sequence($1, $2)",
                &[&qualified, &column],
            )?
            .get(0);
        let used: Option<i64> = match sequence {
            Some(seq) => {
                let r = pg.query_one(&format!("SELECT last_value, is_called FROM {seq}"), &[])?;
                r.get::<_, bool>(1).then(|| r.get(0))
            }
            None => None,
        };
        let max: Option<i64> = dst.query_row(
            &format!(
                "SELECT max({}) FROM {}",
                super::ident(&column),
                super::ident(&table)
            ),
            [],
            |r| r.get(0),
        )?;
        let top = max.into_iter().chain(used).max().unwrap_or(0);
        if top > 0 {
            dst.execute("DELETE FROM sqlite_sequence WHERE name = ?1", [&table])?;
            dst.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                params![table, top],
            )?;
        }
    }
    Ok(())
}
