//! Moving an embedded store into PostgreSQL (`vigil store copy`): an agency that started on the embedded default
//! and outgrew one machine keeps its knowledge base, members, tokens, notices, deliveries, feeds and users.
//!
//! The copy reads one snapshot of the SQLite database (writers may go on; what they write after the snapshot is not
//! copied) and writes everything in one PostgreSQL transaction, holding the schema's writer lock: a copy that fails
//! leaves the target as empty as it found it. The target must be empty: merging two stores would need the version
//! rules of every table, and ids (members, tokens) would collide.
//!
//! Row numbers are kept (object `seq`, member and token ids, inbox and member-collection sequences), so TAXII
//! `next` cursors, notice links and tokens stay valid across the move, and each identity sequence is set past the
//! highest number SQLite ever handed out (`sqlite_sequence` for its never-reused sequences). The knowledge base's
//! rows are laid out differently in each backend (hashed ids and graph ends, shared provenance rows and an integer
//! time in SQLite; text ids, a `latest` flag and a `tsvector` in PostgreSQL), so each object row is rebuilt from its
//! JSON through the same [`IndexParts`] as [`crate::Prepared`], as an ingest into PostgreSQL would write it; the other tables have the same columns
//! in both and are copied by name, each value converted to its PostgreSQL column's type.

mod to_sqlite;

pub use to_sqlite::postgres_to_sqlite;

use std::time::Instant;

use ::postgres::binary_copy::BinaryCopyInWriter;
use ::postgres::types::{ToSql, Type};
use ::postgres::Client;
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde::Serialize;

use crate::postgres::PostgresStore;
use crate::prepared::{h64, IndexParts};
use crate::sqlite::SqliteStore;
use crate::{PutMode, StoreError};

/// What a copy wrote, table by table, in the order written.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    pub from: String,
    pub to: String,
    pub tables: Vec<TableCopied>,
    /// Object versions copied, and how many of them are latest versions (the objects).
    pub versions: u64,
    pub objects: u64,
    /// Building the knowledge base's indexes once the rows are in (part of `seconds`).
    pub index_seconds: f64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableCopied {
    pub table: String,
    pub rows: u64,
    pub seconds: f64,
}

/// A table whose columns are the same in both backends, copied by name. `from` is the SQLite `FROM` clause and
/// `exprs` the SQLite expressions of columns that live elsewhere there.
struct Plain {
    table: &'static str,
    from: &'static str,
    exprs: &'static [(&'static str, &'static str)],
}

const fn plain(table: &'static str) -> Plain {
    Plain {
        table,
        from: table,
        exprs: &[],
    }
}

/// Every table besides `objects`, in an order that satisfies the target's foreign keys (`provenance` and `keys`
/// name object rows, `pending_link_keys` pending links). `keys` is not here: it is rebuilt with the objects.
const PLAIN: &[Plain] = &[
    plain("provenance"),
    plain("pending_links"),
    plain("pending_link_keys"),
    plain("warninglists"),
    plain("members"),
    plain("tokens"),
    plain("shares"),
    plain("inbox"),
    plain("member_feed"),
    plain("taxii_status"),
    plain("audit"),
    plain("eligibility_extra"),
    plain("vuln_advisories"),
    plain("vuln_epss"),
    plain("inventories"),
    plain("notices"),
    plain("notice_versions"),
    plain("notify_channels"),
    plain("notify_deliveries"),
    plain("users"),
    plain("sessions"),
    // A CSAF feed's keys sit in a table of their own in SQLite. Leases are not copied: they belong to the
    // processes of the old store, which must be stopped for the move.
    Plain {
        table: "feeds",
        from: "feeds LEFT JOIN feed_keys k ON k.feed = feeds.name",
        exprs: &[
            ("openpgp_keys", "k.openpgp_keys"),
            ("require_signature", "COALESCE(k.require_signature, 0)"),
            ("lease_holder", "NULL"),
            ("lease_until", "NULL"),
        ],
    },
    plain("feed_cursors"),
];

/// Target tables the copy writes other than [`PLAIN`]'s.
const REBUILT: &[&str] = &["objects", "keys"];
/// Target tables the copy leaves as the migrations made them.
const TARGET_OWN: &[&str] = &["vigil_schema", "changes"];
/// SQLite tables whose content reaches the target through other tables (or is rebuilt there).
const SOURCE_FOLDED: &[&str] = &[
    "prov_sets",
    "edge_src",
    "feed_keys",
    "feed_leases",
    "meta",
    "fts",
];

/// Copies everything the embedded store `from` holds into `to`, which must be empty. `progress` hears each table
/// as it starts, with the rows the source holds for it.
pub fn sqlite_to_postgres(
    from: &SqliteStore,
    to: &PostgresStore,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<CopyReport, StoreError> {
    let started = Instant::now();
    let schema = to.schema().to_string();
    let (tables, versions, objects, index_seconds) = from.with_snapshot(|src| {
        to.with_client_tx(|pg| {
            check_tables(src, pg, &schema)?;
            refuse_unless_empty(pg, &schema, to.place())?;
            let mut tables = Vec::new();
            // Indexes are built once over the copied rows rather than grown row by row: with 2,000,000 rows
            // the load took 36 s into indexed tables, most of it spent on random inserts into the id B-tree.
            pg.batch_execute("SET LOCAL maintenance_work_mem = '256MB'")?;
            let deferred = [
                drop_indexes(pg, &schema, "objects")?,
                drop_indexes(pg, &schema, "keys")?,
            ];
            let (mut objects, mut keys) = (0, Vec::new());
            tables.push(counted(
                "objects",
                count(src, "objects")?,
                progress,
                || {
                    let (versions, latest, k) = copy_objects(src, pg)?;
                    (objects, keys) = (latest, k);
                    Ok(versions)
                },
            )?);
            let versions = tables[0].rows;
            progress("keys", keys.len() as u64);
            let t0 = Instant::now();
            let rows = copy_keys(pg, keys)?;
            tables.push(TableCopied {
                table: "keys".into(),
                rows,
                seconds: t0.elapsed().as_secs_f64(),
            });
            progress("indexes", 0);
            let t0 = Instant::now();
            for def in deferred.iter().flatten() {
                pg.batch_execute(def)?;
            }
            let index_seconds = t0.elapsed().as_secs_f64();
            for t in PLAIN {
                tables.push(counted(t.table, count(src, t.table)?, progress, || {
                    copy_plain(src, pg, &schema, t)
                })?);
            }
            set_sequences(src, pg, &schema)?;
            Ok((tables, versions, objects, index_seconds))
        })
    })?;
    Ok(CopyReport {
        from: from.path().display().to_string(),
        to: to.place().to_string(),
        tables,
        versions,
        objects,
        index_seconds,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Copies one table with `copy`, which returns the rows it wrote, checked against the `expected` rows of the
/// source: the table's line of the report.
fn counted(
    table: &str,
    expected: u64,
    progress: &mut dyn FnMut(&str, u64),
    copy: impl FnOnce() -> Result<u64, StoreError>,
) -> Result<TableCopied, StoreError> {
    progress(table, expected);
    let t0 = Instant::now();
    let rows = copy()?;
    if rows != expected {
        return Err(StoreError::Aborted(format!(
            "table {table}: {expected} rows in the source, {rows} copied"
        )));
    }
    Ok(TableCopied {
        table: table.into(),
        rows,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn count(src: &Connection, table: &str) -> Result<u64, StoreError> {
    let n: i64 = src.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
        r.get(0)
    })?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn target_tables(pg: &mut Client, schema: &str) -> Result<Vec<String>, StoreError> {
    Ok(pg
        .query(
            "SELECT table_name::TEXT FROM information_schema.tables
             WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1",
            &[&schema],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

fn source_tables(src: &Connection) -> Result<Vec<String>, StoreError> {
    let mut st = src.prepare(
        // SQLite's own tables (`sqlite_sequence`, and `sqlite_stat1` once the planner has analysed the store) and
        // the full-text index's shadow tables hold nothing of Vigil's.
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'fts_%' AND name NOT LIKE 'sqlite_%'
         ORDER BY 1",
    )?;
    let names = st
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

/// Refuses a copy that would leave a table behind: a table added by a later migration of either backend must be
/// given its place here first.
fn check_tables(src: &Connection, pg: &mut Client, schema: &str) -> Result<(), StoreError> {
    let known = |t: &str| PLAIN.iter().any(|p| p.table == t) || REBUILT.contains(&t);
    for t in target_tables(pg, schema)? {
        if !known(&t) && !TARGET_OWN.contains(&t.as_str()) {
            return Err(StoreError::Aborted(format!(
                "the target has a table `{t}` this Vigil does not know how to fill; upgrade Vigil"
            )));
        }
    }
    for t in source_tables(src)? {
        if !known(&t) && !SOURCE_FOLDED.contains(&t.as_str()) {
            return Err(StoreError::Aborted(format!(
                "the embedded store has a table `{t}` this Vigil does not know how to copy"
            )));
        }
    }
    Ok(())
}

fn refuse_unless_empty(pg: &mut Client, schema: &str, place: &str) -> Result<(), StoreError> {
    let mut held = Vec::new();
    for t in REBUILT.iter().copied().chain(PLAIN.iter().map(|p| p.table)) {
        let any: bool = pg
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {})", ident(t)), &[])?
            .get(0);
        if any {
            held.push(t);
        }
    }
    if held.is_empty() {
        return Ok(());
    }
    Err(StoreError::Aborted(format!(
        "{place} is not empty (rows in {}): copy into an empty schema (name another with --store-schema, or drop \
         schema {schema} if it holds nothing you need)",
        held.join(", ")
    )))
}

/// Drops a table's indexes other than those of its constraints (primary key, unique constraints), returning the
/// statements that make them again, as the server gives them.
fn drop_indexes(pg: &mut Client, schema: &str, table: &str) -> Result<Vec<String>, StoreError> {
    let rows = pg.query(
        "SELECT i.indexname::TEXT, i.indexdef FROM pg_indexes i
         WHERE i.schemaname = $1 AND i.tablename = $2 AND NOT EXISTS (
            SELECT 1 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE n.nspname = $1 AND c.conname = i.indexname)
         ORDER BY 1",
        &[&schema, &table],
    )?;
    let mut defs = Vec::new();
    for r in rows {
        let (name, def): (String, String) = (r.get(0), r.get(1));
        pg.batch_execute(&format!("DROP INDEX {}.{}", ident(schema), ident(&name)))?;
        defs.push(def);
    }
    Ok(defs)
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A value for one PostgreSQL column.
type Cell = Box<dyn ToSql + Sync>;
/// Hands one row to the `COPY` under way.
type Emit<'a> = &'a mut dyn FnMut(Vec<Cell>) -> Result<(), StoreError>;
/// A look-up key row: (hash, object row, kind).
type KeyRow = (i64, i64, i16);

/// Writes rows with a binary `COPY`; returns how many.
fn copy_rows(
    pg: &mut Client,
    table: &str,
    columns: &[String],
    types: &[Type],
    rows: &mut dyn FnMut(Emit<'_>) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    let sink = pg.copy_in(&format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        ident(table),
        cols.join(", ")
    ))?;
    let mut w = BinaryCopyInWriter::new(sink, types);
    rows(&mut |row: Vec<Cell>| {
        w.write_raw(row.iter().map(|c| c.as_ref() as &dyn ToSql))?;
        Ok(())
    })?;
    Ok(w.finish()?)
}

/// Columns of the objects' staging table: the target's `objects` but for `search`, whose text is turned into a
/// `tsvector` by the server when the rows move over (binary COPY cannot carry one).
const STAGED: &[(&str, Type)] = &[
    ("seq", Type::INT8),
    ("stix_id", Type::TEXT),
    ("type", Type::TEXT),
    ("version", Type::TEXT),
    ("latest", Type::BOOL),
    ("retired", Type::BOOL),
    ("tlp", Type::INT2),
    ("added_at", Type::TEXT),
    ("source", Type::TEXT),
    ("ingested_at", Type::TEXT),
    ("original_id", Type::TEXT),
    ("file", Type::TEXT),
    ("src", Type::TEXT),
    ("dst", Type::TEXT),
    ("json", Type::BYTEA),
    ("search_text", Type::TEXT),
];

/// Every version of every object, in insertion order. Returns (versions, latest versions, look-up keys).
fn copy_objects(src: &Connection, pg: &mut Client) -> Result<(u64, u64, Vec<KeyRow>), StoreError> {
    pg.batch_execute(
        "CREATE TEMP TABLE vigil_copy_objects (seq BIGINT, stix_id TEXT, type TEXT, version TEXT, latest BOOLEAN,
            retired BOOLEAN, tlp SMALLINT, added_at TEXT, source TEXT, ingested_at TEXT, original_id TEXT, file TEXT,
            src TEXT, dst TEXT, json BYTEA, search_text TEXT) ON COMMIT DROP",
    )?;
    let columns: Vec<String> = STAGED.iter().map(|(c, _)| c.to_string()).collect();
    let types: Vec<Type> = STAGED.iter().map(|(_, t)| t.clone()).collect();
    let mut st = src.prepare(concat!(
        "SELECT o.seq, o.stix_id, o.type, o.version, o.lk, o.retired, o.tlp, ",
        crate::sqlite::added_at!(),
        ", CASE WHEN o.prov IS NULL THEN o.source ELSE ps.source END,
           CASE WHEN o.prov IS NULL THEN o.ingested_at ELSE ps.ingested_at END,
           o.original_id,
           CASE WHEN o.prov IS NULL THEN o.file ELSE ps.file END,
           o.json
         FROM objects o ",
        crate::sqlite::prov_join!(),
        " ORDER BY o.seq"
    ))?;
    let mut keys = Vec::new();
    let (mut versions, mut latest_n) = (0u64, 0u64);
    copy_rows(pg, "vigil_copy_objects", &columns, &types, &mut |emit| {
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let id: String = r.get(1)?;
            // Both backends pack JSON alike (`crate::packed`): a packed row's bytes are copied as they are.
            let stored: SqlValue = r.get(12)?;
            let (json, packed) = match stored {
                SqlValue::Blob(b) => (
                    crate::packed::unpack(&b).map_err(|e| corrupt(seq, &id, e))?,
                    b,
                ),
                SqlValue::Text(t) => {
                    let packed = crate::packed::pack(&t);
                    (t, packed)
                }
                other => return Err(corrupt(seq, &id, format!("its JSON is {}", kind(&other)))),
            };
            let version: String = r.get(3)?;
            let latest = r.get::<_, Option<i64>>(4)? == Some(0);
            let (p, src_ref, dst_ref) =
                reindex(seq, &json, &version).map_err(|e| corrupt(seq, &id, e))?;
            let search = if latest {
                let mut seen = std::collections::HashSet::new();
                for (k, kind) in &p.keys {
                    let h = h64(k);
                    if seen.insert(h) {
                        keys.push((h, seq, i16::try_from(*kind).unwrap_or(i16::MAX)));
                    }
                }
                latest_n += 1;
                Some(crate::postgres::fts_text(&p.search))
            } else {
                None
            };
            versions += 1;
            let text = |s: Option<String>| s.map(|s| crate::postgres::pg_text(&s).into_owned());
            emit(vec![
                Box::new(seq),
                Box::new(text(Some(id))),
                Box::new(text(r.get(2)?)),
                Box::new(version),
                Box::new(latest.then_some(true)),
                Box::new(r.get::<_, i64>(5)? != 0),
                Box::new(
                    r.get::<_, Option<i64>>(6)?
                        .and_then(|t| i16::try_from(t).ok()),
                ),
                Box::new(text(r.get(7)?)),
                Box::new(text(r.get::<_, Option<String>>(8)?).unwrap_or_default()),
                Box::new(text(r.get::<_, Option<String>>(9)?).unwrap_or_default()),
                Box::new(text(r.get(10)?)),
                Box::new(text(r.get(11)?)),
                Box::new(src_ref.map(|s| crate::postgres::pg_text(&s).into_owned())),
                Box::new(dst_ref.map(|s| crate::postgres::pg_text(&s).into_owned())),
                Box::new(packed),
                Box::new(search),
            ])?;
        }
        Ok(())
    })?;
    pg.batch_execute(
        "INSERT INTO objects (seq, stix_id, type, version, latest, retired, tlp, added_at, source, ingested_at,
            original_id, file, src, dst, json, search) OVERRIDING SYSTEM VALUE
         SELECT seq, stix_id, type, version, latest, retired, tlp, added_at, source, ingested_at, original_id, file,
            src, dst, json,
            CASE WHEN search_text IS NULL OR search_text = '' THEN NULL ELSE to_tsvector('simple', search_text) END
         FROM vigil_copy_objects",
    )?;
    Ok((versions, latest_n, keys))
}

/// What a store indexes a copied object row by, rebuilt from its JSON as an ingest would compute it: the index
/// parts and the graph ends. A derived object is the one stored without a version key (`PutMode::Derived` writes
/// "").
fn reindex(
    seq: i64,
    json: &str,
    version: &str,
) -> Result<(IndexParts, Option<String>, Option<String>), StoreError> {
    let obj = crate::common::stored_object(seq, String::new(), None, json)?.object;
    let mode = if version.is_empty() {
        PutMode::Derived
    } else {
        PutMode::Source
    };
    let p = IndexParts::of(&obj, mode, None);
    let (src, dst) = crate::prepared::ref_ends(obj.type_(), &p.refs);
    let (src, dst) = (src.map(str::to_string), dst.map(str::to_string));
    Ok((p, src, dst))
}

fn corrupt(seq: i64, id: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!(
        "object {id} (row {seq}) in the embedded store: {e}"
    ))
}

fn copy_keys(pg: &mut Client, keys: Vec<KeyRow>) -> Result<u64, StoreError> {
    let columns = ["khash", "seq", "kind"].map(String::from);
    copy_rows(
        pg,
        "keys",
        &columns,
        &[Type::INT8, Type::INT8, Type::INT2],
        &mut |emit| {
            for &(h, seq, kind) in &keys {
                emit(vec![Box::new(h), Box::new(seq), Box::new(kind)])?;
            }
            Ok(())
        },
    )
}

/// The target's columns of a table with their types (`tsvector` and other types the copy cannot carry refused).
fn target_columns(
    pg: &mut Client,
    schema: &str,
    table: &str,
) -> Result<Vec<(String, Type)>, StoreError> {
    let rows = pg.query(
        "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
        &[&schema, &table],
    )?;
    rows.iter()
        .map(|r| {
            let (name, ty): (String, String) = (r.get(0), r.get(1));
            let t = match ty.as_str() {
                "bigint" => Type::INT8,
                "integer" => Type::INT4,
                "smallint" => Type::INT2,
                "boolean" => Type::BOOL,
                "double precision" => Type::FLOAT8,
                "text" => Type::TEXT,
                "bytea" => Type::BYTEA,
                other => {
                    return Err(StoreError::Aborted(format!(
                        "table {table}, column {name}: type {other} is not one the copy carries"
                    )))
                }
            };
            Ok((name, t))
        })
        .collect()
}

/// One SQLite value as the PostgreSQL column type wants it.
fn cell(v: SqlValue, ty: &Type) -> Result<Cell, String> {
    let int = |v: &SqlValue| match v {
        SqlValue::Integer(i) => Ok(*i),
        other => Err(format!("expected an integer, found {}", kind(other))),
    };
    Ok(match v {
        SqlValue::Null if *ty == Type::INT8 => Box::new(None::<i64>),
        SqlValue::Null if *ty == Type::INT4 => Box::new(None::<i32>),
        SqlValue::Null if *ty == Type::INT2 => Box::new(None::<i16>),
        SqlValue::Null if *ty == Type::BOOL => Box::new(None::<bool>),
        SqlValue::Null if *ty == Type::FLOAT8 => Box::new(None::<f64>),
        SqlValue::Null if *ty == Type::BYTEA => Box::new(None::<Vec<u8>>),
        SqlValue::Null => Box::new(None::<String>),
        v if *ty == Type::INT8 => Box::new(int(&v)?),
        v if *ty == Type::INT4 => Box::new(i32::try_from(int(&v)?).map_err(|e| e.to_string())?),
        v if *ty == Type::INT2 => Box::new(i16::try_from(int(&v)?).map_err(|e| e.to_string())?),
        v if *ty == Type::BOOL => Box::new(int(&v)? != 0),
        SqlValue::Real(f) if *ty == Type::FLOAT8 => Box::new(f),
        SqlValue::Integer(i) if *ty == Type::FLOAT8 => Box::new(i as f64),
        SqlValue::Blob(b) if *ty == Type::BYTEA => Box::new(b),
        SqlValue::Text(t) if *ty == Type::BYTEA => Box::new(t.into_bytes()),
        SqlValue::Text(t) if *ty == Type::TEXT => {
            Box::new(crate::postgres::pg_text(&t).into_owned())
        }
        other => return Err(format!("cannot store {} as {ty}", kind(&other))),
    })
}

fn kind(v: &SqlValue) -> &'static str {
    match v {
        SqlValue::Null => "NULL",
        SqlValue::Integer(_) => "an integer",
        SqlValue::Real(_) => "a real",
        SqlValue::Text(_) => "a text",
        SqlValue::Blob(_) => "a blob",
    }
}

fn copy_plain(
    src: &Connection,
    pg: &mut Client,
    schema: &str,
    t: &Plain,
) -> Result<u64, StoreError> {
    let cols = target_columns(pg, schema, t.table)?;
    let exprs: Vec<String> = cols
        .iter()
        .map(|(c, _)| {
            t.exprs
                .iter()
                .find(|(name, _)| name == c)
                .map(|(_, e)| e.to_string())
                .unwrap_or_else(|| format!("{}.{}", ident(t.table), ident(c)))
        })
        .collect();
    let mut st = src.prepare(&format!("SELECT {} FROM {}", exprs.join(", "), t.from))?;
    let names: Vec<String> = cols.iter().map(|(c, _)| c.clone()).collect();
    let types: Vec<Type> = cols.iter().map(|(_, ty)| ty.clone()).collect();
    copy_rows(pg, t.table, &names, &types, &mut |emit| {
        let mut rows = st.query([])?;
        let mut n = 0u64;
        while let Some(r) = rows.next()? {
            n += 1;
            let mut row = Vec::with_capacity(cols.len());
            for (i, (name, ty)) in cols.iter().enumerate() {
                let v: SqlValue = r.get(i)?;
                row.push(cell(v, ty).map_err(|reason| {
                    StoreError::Corrupt(format!(
                        "table {}, row {n}, column {name}: {reason}",
                        t.table
                    ))
                })?);
            }
            emit(row)?;
        }
        Ok(())
    })
}

/// Sets every identity sequence of the target past the highest number the source used, so that the next row
/// PostgreSQL adds does not take a number a TAXII cursor or a link already names.
fn set_sequences(src: &Connection, pg: &mut Client, schema: &str) -> Result<(), StoreError> {
    let rows = pg.query(
        "SELECT table_name::TEXT, column_name::TEXT FROM information_schema.columns
         WHERE table_schema = $1 AND is_identity = 'YES' ORDER BY 1",
        &[&schema],
    )?;
    for r in rows {
        let (table, column): (String, String) = (r.get(0), r.get(1));
        let used: Option<i64> = src
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = ?1",
                [&table],
                |r| r.get(0),
            )
            .ok();
        let max: Option<i64> = pg
            .query_one(
                &format!(
                    "SELECT max({})::BIGINT FROM {}",
                    ident(&column),
                    ident(&table)
                ),
                &[],
            )?
            .get(0);
        let top = max.into_iter().chain(used).max().unwrap_or(0);
        let qualified = format!("{}.{}", ident(schema), ident(&table));
        if top > 0 {
            pg.execute(
                "SELECT setval(pg_get_serial_sequence($1, $2), $3, true)",
                &[&qualified, &column, &top],
            )?;
        }
    }
    Ok(())
}

/// What [`verify`] found comparing two stores object by object.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// Objects (latest versions, retired ones included) compared.
    pub objects: u64,
    /// Differences, the first few named (an empty list: the stores hold the same objects).
    pub differences: Vec<String>,
    /// What the target's own consistency check reported.
    pub problems: Vec<String>,
}

impl Verified {
    pub fn ok(&self) -> bool {
        self.differences.is_empty() && self.problems.is_empty()
    }
}

/// Compares what two stores answer: counts by type, source and TLP, and every object's latest version with its
/// row number, time added, TLP and JSON, in insertion order; then runs the target's consistency check. After a
/// copy, both must answer alike.
pub fn verify(from: &dyn crate::Store, to: &dyn crate::Store) -> Result<Verified, StoreError> {
    use std::hash::{Hash, Hasher};
    const SHOWN: usize = 20;
    let mut differences = Vec::new();
    let (a, b) = (from.stats()?, to.stats()?);
    let as_value = |s: &crate::Stats| serde_json::to_value(s).unwrap_or_default();
    if as_value(&a) != as_value(&b) {
        differences.push(format!(
            "counts differ: source {}, target {}",
            as_value(&a),
            as_value(&b)
        ));
    }
    let digest = |o: &crate::StoredObject| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            o.seq,
            &o.added_at,
            o.tlp.map(|t| t as u8),
            o.object.to_json(),
        )
            .hash(&mut h);
        (o.seq, o.object.id().to_string(), h.finish())
    };
    let all = crate::ScanFilter {
        include_retired: true,
        ..Default::default()
    };
    let mut source = Vec::new();
    from.scan(&all, &mut |o| {
        source.push(digest(&o));
        Ok(())
    })?;
    let (mut at, mut extra, mut differing) = (0usize, 0u64, 0u64);
    to.scan(&all, &mut |o| {
        let (seq, id, h) = digest(&o);
        match source.get(at) {
            Some((s, _, sh)) if *s == seq && *sh == h => {}
            Some((s, sid, _)) => {
                differing += 1;
                if differences.len() < SHOWN {
                    differences.push(format!(
                        "row {seq} ({id}) in the target differs from row {s} ({sid}) in the source"
                    ));
                }
            }
            None => extra += 1,
        }
        at += 1;
        Ok(())
    })?;
    if differing > SHOWN as u64 {
        differences.push(format!("{differing} objects differ in all"));
    }
    if at < source.len() {
        differences.push(format!(
            "{} object(s) of the source are missing from the target",
            source.len() - at
        ));
    }
    if extra > 0 {
        differences.push(format!(
            "{extra} object(s) in the target are not in the source"
        ));
    }
    Ok(Verified {
        objects: source.len() as u64,
        differences,
        problems: to.check()?,
    })
}
