//! The embedded SQLite backend: one file in the data directory, WAL mode, every version kept.

pub mod backup;
mod delivery;
mod feeds;
mod members;
mod schema;
mod vuln;
mod web;

pub use delivery::DELIVERY_MIGRATION;
pub use feeds::FEEDS_MIGRATION;
pub use web::WEB_MIGRATION;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::Value;
use vigil_model::{time, Provenance, StixObject, Tlp};

use crate::common::{version_step, VersionStep};
use crate::prepared::{object_keys, Prepared};
use crate::{
    PendingLinks, PutMode, PutOutcome, Related, ScanFilter, SearchHit, Sourced, Stats, Store,
    StoreError, StoredObject, WarningList, WriteTx,
};

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    /// Shared with every other handle on the same database in this process.
    writer: Arc<Writer>,
    readers: Mutex<Vec<Connection>>,
    /// A connection that never writes, asked for `PRAGMA data_version` (see `MemberStore::change_counter`).
    watch: Mutex<Option<Connection>>,
}

/// The one writer connection of a database in this process. The server opens several handles on one store (the
/// API's, the feed scheduler's, notice delivery's, the hooks'); with a connection each, a write waited on
/// SQLite's lock, polling, and an ingest that began its next transaction at once kept it out for seconds. One
/// connection behind one lock lets a bulk writer see who waits (`Store::writers_waiting`) and step aside, and
/// keeps one page cache instead of one per handle.
struct Writer {
    conn: Mutex<Connection>,
    /// Threads blocked on `conn`.
    waiting: AtomicUsize,
}

impl Writer {
    /// The connection, counted as waiting while blocked so a bulk writer can step aside.
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        if let Ok(g) = self.conn.try_lock() {
            return Ok(g);
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let g = self.conn.lock();
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        g.map_err(|_| StoreError::Db("writer poisoned".into()))
    }

    fn waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) > 0
    }
}

/// The live writers of this process by database file (device and inode: a path can be reached several ways,
/// and a file deleted and created again is another database).
static WRITERS: LazyLock<Mutex<HashMap<FileKey, Weak<Writer>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A database file's device and inode.
type FileKey = (u64, u64);

#[cfg(unix)]
fn file_key(path: &Path) -> Option<FileKey> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_key(_: &Path) -> Option<FileKey> {
    // Each handle keeps its own writer there (SQLite's lock still serialises them).
    None
}

// FNV-1a, 64 bit: stable across Rust versions and platforms, which a persisted hash must be.
pub(crate) use crate::prepared::h64;

fn tlp_rank(t: Tlp) -> i64 {
    t as i64
}

fn tlp_from_rank(r: Option<i64>) -> Option<Tlp> {
    r.and_then(|r| Tlp::ALL.get(usize::try_from(r).ok()?).copied())
}

fn open_conn(path: &Path) -> Result<Connection, StoreError> {
    let err = |e: rusqlite::Error| StoreError::Open {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let conn = Connection::open(path).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(err)?;
    // A page size can only be chosen before the first table exists (SQLite ignores it afterwards). Rows are ~500
    // bytes of JSON: 16 KiB pages cut bulk-ingest CPU by ~12% and sys time by 40% over 4 KiB (measured on a
    // 300k-line IOC list).
    conn.execute_batch("PRAGMA page_size=16384;").map_err(err)?;
    // 64 MiB of page cache: the 1M-indicator list ran as fast as with 128 MiB (10.0-11.0 s either way, alternated)
    // with 62 MB less peak RSS; 32 MiB was no faster.
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;
         PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536;",
    )
    .map_err(err)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS fts_pending (seq INTEGER PRIMARY KEY, text TEXT NOT NULL)",
    )
    .map_err(err)?;
    Ok(conn)
}

/// A new database file at `path` with the current schema, for [`crate::copy::postgres_to_sqlite`] to fill.
pub(crate) fn create_for_copy(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = open_conn(path)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating and migrating as needed) the store in `dir` (file `vigil.db`).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let path = dir.join("vigil.db");
        // Held while the first handle migrates, so two threads opening one store at once share one writer.
        let mut writers = WRITERS.lock().unwrap_or_else(|e| e.into_inner());
        let shared = file_key(&path).and_then(|k| writers.get(&k).and_then(Weak::upgrade));
        let writer = match shared {
            Some(w) => w,
            None => {
                let mut conn = open_conn(&path)?;
                migrate(&mut conn, &path)?;
                let w = Arc::new(Writer {
                    conn: Mutex::new(conn),
                    waiting: AtomicUsize::new(0),
                });
                if let Some(k) = file_key(&path) {
                    writers.retain(|_, w| w.strong_count() > 0);
                    writers.insert(k, Arc::downgrade(&w));
                }
                w
            }
        };
        drop(writers);
        Ok(SqliteStore {
            path,
            writer,
            readers: Mutex::new(Vec::new()),
            watch: Mutex::new(None),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Current schema version.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.with_reader(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
    }

    /// Runs `f` on a reader inside one read transaction: everything it reads is one snapshot of the database,
    /// whatever writers commit meanwhile ([`crate::copy`] reads through it).
    pub(crate) fn with_snapshot<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_reader(|c| {
            c.execute_batch("BEGIN")?;
            let out = f(c);
            let _ = c.execute_batch("ROLLBACK");
            out
        })
    }

    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = {
            let mut pool = self
                .readers
                .lock()
                .map_err(|_| StoreError::Db("reader pool poisoned".into()))?;
            pool.pop()
        };
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = open_conn(&self.path)?;
                // Readers come and go with the server's blocking threads (up to 16 pooled): each keeps a page
                // cache of its own, so a small one bounds the server's memory (the OS caches the file for all of
                // them); the writer keeps the large cache bulk ingest needs.
                c.execute_batch("PRAGMA cache_size=-16384;")?;
                c
            }
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < 16 {
                pool.push(conn);
            }
        }
        out
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let supported = schema::MIGRATIONS.len() as i64;
    if current > supported {
        return Err(StoreError::TooNew {
            found: current,
            supported,
        });
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            reason: format!("migration {}: {e}", i + 1),
        })?;
        if i + 1 == schema::FOLD_MIGRATION {
            backfill_keys(&tx, crate::prepared::KEY_FOLD)?;
        }
        if i + 1 == schema::STEM_MIGRATION {
            backfill_keys(&tx, crate::prepared::KEY_STEM)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}

/// Gives the latest versions of families and actors stored before a key kind was added (`KEY_FOLD` at schema 12,
/// `KEY_STEM` at 14) the keys of that kind `object_keys` now derives; a row that does not read as an object is
/// left as it is (it had no keys to add).
fn backfill_keys(tx: &Transaction, kind: i64) -> Result<(), StoreError> {
    let mut rows: Vec<(i64, StoredJson)> = Vec::new();
    {
        let mut st = tx.prepare(
            "SELECT seq, json FROM objects WHERE lk = 0 AND type IN ('malware', 'tool', 'intrusion-set', 'threat-actor')",
        )?;
        for row in st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
            rows.push(row?);
        }
    }
    let mut ins =
        tx.prepare("INSERT OR IGNORE INTO keys (khash, seq, kind) VALUES (?1, ?2, ?3)")?;
    for (seq, json) in rows {
        let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&json) else {
            continue;
        };
        let Ok(o) = StixObject::from_map(m) else {
            continue;
        };
        for (k, k_kind) in object_keys(&o) {
            if k_kind == kind {
                ins.execute(params![h64(&k), seq, k_kind])?;
            }
        }
    }
    Ok(())
}

/// The `json` column of a row: TEXT as rows were first written, or packed ([`crate::packed`]) since schema 9.
pub(super) struct StoredJson(String);

impl rusqlite::types::FromSql for StoredJson {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        use rusqlite::types::{FromSqlError, ValueRef};
        match v {
            ValueRef::Blob(b) => crate::packed::unpack(b)
                .map(StoredJson)
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(|t| StoredJson(t.to_string()))
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

impl std::ops::Deref for StoredJson {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<StoredJson> for String {
    fn from(j: StoredJson) -> String {
        j.0
    }
}

fn now_micros() -> String {
    time::sort_key(&chrono::Utc::now())
}

/// Microseconds since the epoch: `objects` rows store when they were added as this integer (`added`, migration 11).
fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

struct SqliteTx<'c> {
    tx: Transaction<'c>,
    /// The version insert and the full-size `derived_insert_sql` statement, prepared on first use and held rather
    /// than looked up in the statement cache: a bulk list runs them for every line, and the cache hashes the SQL
    /// text on every look-up.
    insert_stmt: Option<rusqlite::Statement<'c>>,
    derived_stmt: Option<rusqlite::Statement<'c>>,
    conn: &'c Connection,
    /// The database file (the checkpoint thread opens its own connection to it).
    path: &'c Path,
    /// When this transaction's rows are added (`now_us`).
    now: i64,
    /// Search texts waiting to be staged in `temp.fts_pending` (see `index`).
    fts: Vec<(i64, String)>,
    /// (hashed source, seq) of the relationships written, put into `edge_src` in source order at commit.
    edges: Vec<(i64, i64)>,
    /// The provenance this transaction last wrote rows with, and its `prov_sets` id (see `prov_set`).
    last_prov: Option<(Provenance, i64)>,
    /// The background checkpointer of a write that made commit points (see `commit_point`).
    bg: Option<Checkpointer>,
}

/// Copies committed WAL frames into the database file on a thread of its own while the writer goes on.
///
/// A bulk write that commits now and then (`WriteTx::commit_point`) would otherwise checkpoint in the writer:
/// SQLite's automatic checkpoint runs inside `COMMIT`, and one transaction per file leaves the whole file's WAL
/// (700 MB for the 1M-indicator list) to be copied after the last row, on the writer, while the other core idles.
struct Checkpointer {
    wake: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// SQLite's automatic checkpoint threshold (its default), which a write with commit points turns off and back on.
const AUTOCHECKPOINT_PAGES: i64 = 1000;

impl Checkpointer {
    fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = open_conn(path)?;
        let (wake, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("vigil-checkpoint".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    // Several commits may have come and gone: one checkpoint takes them all.
                    while rx.try_recv().is_ok() {}
                    // PASSIVE never waits for the writer. A failure only means the frames stay in the WAL, where
                    // the writer's own checkpoint at the end of the write (or the next one) copies them.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|e| StoreError::Db(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    fn wake(&self) {
        if let Some(w) = &self.wake {
            let _ = w.send(());
        }
    }

    /// Lets the last checkpoint finish and closes its connection.
    fn stop(&mut self) {
        self.wake = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

// Rows name their first provenance by `prov` (a `prov_sets` row: source, ingest time, file); `source` and
// `ingested_at` are left empty and `file` NULL. Rows written before schema 10 hold them inline, with `prov` NULL.
// When a row was added is `added` (microseconds) with `added_at` empty; rows written before schema 11 hold the
// text in `added_at` with `added` NULL. Readers take `added_at!()`, which gives the text either way.
const INSERT_VERSION: &str = "INSERT INTO objects (hid, lk, stix_id, type, version, retired, tlp, added_at, source, ingested_at, original_id, file, src, dst, json, prov, added)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '', '', '', ?9, NULL, ?10, ?11, ?12, ?13, ?8) ON CONFLICT DO NOTHING";

/// A row's first source, whichever way the row holds it (`o` the row, `ps` its `prov_sets` row joined with
/// `prov_join!()`). Macros rather than constants so that statements stay compile-time text (`concat!`): the
/// further-source check runs for every unchanged line of a re-ingested list.
macro_rules! row_source {
    () => {
        "COALESCE(ps.source, o.source)"
    };
}
macro_rules! prov_join {
    () => {
        "LEFT JOIN prov_sets ps ON ps.id = o.prov"
    };
}
/// When a row was added, as the text `time::sort_key` writes (`2026-11-30T13:03:30.182272Z`), from either column
/// (see `INSERT_VERSION`). Unqualified names: only `objects` has these columns in the queries that use it.
macro_rules! added_at {
    () => {
        "COALESCE(NULLIF(added_at, ''), strftime('%Y-%m-%dT%H:%M:%S', added / 1000000, 'unixepoch') || printf('.%06dZ', added % 1000000))"
    };
}
pub(super) use {added_at, prov_join, row_source};

/// Rows per multi-row insert of derived objects, and the parameters each row binds.
const DERIVED_ROWS: usize = 64;
const DERIVED_PARAMS: usize = 8;

/// `INSERT OR IGNORE .. VALUES (..), (..) ..` for `n` derived rows (latest versions with an empty version key),
/// the provenance and ingest time bound once after the rows. `OR IGNORE` rather than `ON CONFLICT DO NOTHING`:
/// with no way left for the statement to abort, SQLite keeps no statement journal, which for a multi-row insert
/// otherwise copies every page it touches (measured: the batch was then twice as slow as single-row inserts).
fn derived_insert_sql(n: usize) -> String {
    let shared = n * DERIVED_PARAMS;
    let (now, original, prov) = (shared + 1, shared + 2, shared + 3);
    let mut sql = String::from(
        "INSERT OR IGNORE INTO objects (hid, lk, stix_id, type, version, retired, tlp, added_at, source, ingested_at, original_id, file, src, dst, json, prov, added) VALUES ",
    );
    for r in 0..n {
        let b = r * DERIVED_PARAMS;
        if r > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(?{},0,?{},?{},'',?{},?{},'','','',?{original},NULL,?{},?{},?{},?{prov},?{now})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7,
            b + 8
        ));
    }
    sql
}

/// The statement held in `slot`, prepared from `sql()` on first use.
fn held<'s, 'c>(
    slot: &'s mut Option<rusqlite::Statement<'c>>,
    conn: &'c Connection,
    sql: impl FnOnce() -> String,
) -> Result<&'s mut rusqlite::Statement<'c>, StoreError> {
    Ok(match slot {
        Some(st) => st,
        None => slot.insert(conn.prepare(&sql())?),
    })
}

/// Binds and runs a `derived_insert_sql` statement; the number of rows inserted.
fn insert_derived_rows(
    st: &mut rusqlite::Statement<'_>,
    chunk: &[&Prepared],
    now: i64,
    prov: &Provenance,
    prov_set: i64,
) -> Result<usize, StoreError> {
    let mut i = 1;
    for p in chunk {
        let (src, dst) = p.ends;
        st.raw_bind_parameter(i, p.hid)?;
        st.raw_bind_parameter(i + 1, p.id.as_str())?;
        st.raw_bind_parameter(i + 2, p.type_.as_str())?;
        st.raw_bind_parameter(i + 3, p.retired)?;
        st.raw_bind_parameter(i + 4, p.tlp.map(tlp_rank))?;
        st.raw_bind_parameter(i + 5, src)?;
        st.raw_bind_parameter(i + 6, dst)?;
        st.raw_bind_parameter(i + 7, p.packed.as_slice())?;
        i += DERIVED_PARAMS;
    }
    st.raw_bind_parameter(i, now)?;
    st.raw_bind_parameter(i + 1, prov.original_id.as_deref())?;
    st.raw_bind_parameter(i + 2, prov_set)?;
    Ok(st.raw_execute()?)
}

/// Reads a byte of each buffer a chunk's rows will bind, one row after another with nothing depending on the
/// reads, so that the processor fetches them from memory together rather than one at a time while binding. In a
/// batch sorted by id hash the rows, and the strings the parsing thread allocated for them, are visited in no
/// particular order: binding them cost the writing thread ~1.4 s of the 1M list, mostly waiting for memory.
fn touch<'a>(rows: impl Iterator<Item = &'a Prepared>) {
    let first = |b: &[u8]| b.first().copied().unwrap_or(0);
    let mut acc = 0u8;
    for p in rows {
        acc ^= (p.hid as u8)
            ^ first(p.id.as_bytes())
            ^ first(p.type_.as_bytes())
            ^ first(&p.packed)
            ^ first(p.search.as_bytes());
    }
    std::hint::black_box(acc);
}

/// `HEAD VALUES (?,?),(?,?)..` with `n` rows of two parameters.
fn pairs_insert_sql(head: &str, n: usize) -> String {
    let mut sql = format!("{head} VALUES ");
    for i in 0..n {
        sql.push_str(if i == 0 { "(?,?)" } else { ",(?,?)" });
    }
    sql
}

/// Rows per multi-row insert into the FTS staging table.
const FTS_BATCH: usize = 256;
/// Rows per multi-row insert into `edge_src`.
const EDGE_ROWS: usize = 256;

impl SqliteTx<'_> {
    /// Inserts a version. For the latest version the unique (hid, lk) index refuses a second latest one:
    /// then nothing is written and None comes back.
    fn insert(
        &mut self,
        p: &Prepared,
        version: &str,
        latest: bool,
        prov: &Provenance,
    ) -> Result<Option<i64>, StoreError> {
        let lk: Option<i64> = if latest { Some(0) } else { None };
        let (src, dst) = p.ends;
        let set = self.prov_set(prov)?;
        held(&mut self.insert_stmt, self.conn, || INSERT_VERSION.into())?.execute(params![
            p.hid,
            lk,
            p.id,
            p.type_,
            version,
            p.retired,
            p.tlp.map(tlp_rank),
            self.now,
            prov.original_id,
            src,
            dst,
            p.packed,
            set
        ])?;
        if self.tx.changes() == 0 {
            return Ok(None);
        }
        let seq = self.tx.last_insert_rowid();
        if latest {
            self.index(seq, p)?;
        }
        Ok(Some(seq))
    }

    /// Inserts derived objects with one multi-row statement: per row, SQLite's statement overhead (reset, the
    /// cache look-up, binding the shared values) otherwise costs about a fifth of the insert itself. The rows that
    /// went in are the last `changes` rowids, in order; an object that was stored already (or earlier in the
    /// chunk) only gains a provenance, as in `put_prepared`.
    fn insert_derived_chunk(
        &mut self,
        chunk: &[&Prepared],
        prov: &Provenance,
        out: &mut Vec<PutOutcome>,
    ) -> Result<(), StoreError> {
        let set = self.prov_set(prov)?;
        let inserted = if chunk.len() == DERIVED_ROWS {
            let st = held(&mut self.derived_stmt, self.conn, || {
                derived_insert_sql(DERIVED_ROWS)
            })?;
            insert_derived_rows(st, chunk, self.now, prov, set)?
        } else {
            let mut st = self.tx.prepare_cached(&derived_insert_sql(chunk.len()))?;
            insert_derived_rows(&mut st, chunk, self.now, prov, set)?
        } as i64;
        let last = self.tx.last_insert_rowid();
        if inserted == chunk.len() as i64 {
            for (p, seq) in chunk.iter().zip(last - inserted + 1..) {
                self.index(seq, p)?;
                out.push(PutOutcome::Added);
            }
            return Ok(());
        }
        // Some rows were stored already: each object's latest row tells whether it is one of this statement's.
        // `last_insert_rowid` names this statement's last row only when it inserted one: otherwise it still holds
        // whatever the connection inserted before (another table's rowid included), so nothing is claimed.
        let first_new = if inserted > 0 {
            last - inserted + 1
        } else {
            i64::MAX
        };
        let mut claimed = std::collections::HashSet::new();
        for p in chunk {
            let seq = self.latest_seq(p.hid)?;
            if seq >= first_new && claimed.insert(seq) {
                self.index(seq, p)?;
                out.push(PutOutcome::Added);
            } else {
                self.add_provenance(seq, prov)?;
                out.push(PutOutcome::Unchanged);
            }
        }
        Ok(())
    }

    /// The row of the latest version of a stored id, by its hash `Prepared::hid` (a derived object's repeat goes
    /// there).
    fn latest_seq(&mut self, hid: i64) -> Result<i64, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT seq FROM objects WHERE hid = ?1 AND lk = 0")?
            .query_row(params![hid], |r| r.get(0))?)
    }

    /// The `prov_sets` row of a provenance's source, ingest time and file, added on first use. A file's rows all
    /// share one, so each row holds an integer instead of three strings (~45 bytes of a ~320-byte list row).
    fn prov_set(&mut self, prov: &Provenance) -> Result<i64, StoreError> {
        let same = |p: &Provenance| {
            p.source == prov.source && p.ingested_at == prov.ingested_at && p.file == prov.file
        };
        // A file's rows all come with one provenance: the last one answers all but the first look-up.
        if let Some((_, id)) = self.last_prov.as_ref().filter(|(p, _)| same(p)) {
            return Ok(*id);
        }
        let found: Option<i64> = self
            .tx
            .prepare_cached(
                "SELECT id FROM prov_sets WHERE source = ?1 AND ingested_at = ?2 AND file IS ?3",
            )?
            .query_row(params![prov.source, prov.ingested_at, prov.file], |r| {
                r.get(0)
            })
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO prov_sets (source, ingested_at, file) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![prov.source, prov.ingested_at, prov.file])?;
                self.tx.last_insert_rowid()
            }
        };
        self.last_prov = Some((prov.clone(), id));
        Ok(id)
    }

    /// Records a further source of a stored version (the first one is in the version's own row).
    fn add_provenance(&mut self, seq: i64, prov: &Provenance) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(concat!(
                "INSERT OR IGNORE INTO provenance (seq, source, ingested_at, original_id, file)
                 SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS (SELECT 1 FROM objects o ",
                prov_join!(),
                " WHERE o.seq = ?1 AND ",
                row_source!(),
                " = ?2)"
            ))?
            .execute(params![
                seq,
                prov.source,
                prov.ingested_at,
                prov.original_id,
                prov.file
            ])?;
        Ok(())
    }

    /// Writes the relationship sources gathered in this transaction into `edge_src`, sorted, with multi-row
    /// inserts: consecutive keys land on the same B-tree pages.
    fn flush_edges(&mut self) -> Result<(), StoreError> {
        let mut edges = std::mem::take(&mut self.edges);
        edges.sort_unstable();
        edges.dedup();
        for chunk in edges.chunks(EDGE_ROWS) {
            let sql = pairs_insert_sql("INSERT OR IGNORE INTO edge_src (src, seq)", chunk.len());
            let mut st = self.tx.prepare_cached(&sql)?;
            for (i, (src, seq)) in chunk.iter().enumerate() {
                st.raw_bind_parameter(2 * i + 1, src)?;
                st.raw_bind_parameter(2 * i + 2, seq)?;
            }
            st.raw_execute()?;
        }
        Ok(())
    }

    fn index(&mut self, seq: i64, p: &Prepared) -> Result<(), StoreError> {
        if let (Some(src), _) = p.ends {
            self.edges.push((src, seq));
        }
        if !p.search.is_empty() {
            // Staged, and moved into the FTS index in one statement at commit: FTS5 flushes its pending terms at
            // every statement savepoint, so interleaving FTS inserts with other writes costs 3x the ingest time.
            self.fts.push((seq, p.search.clone()));
            if self.fts.len() >= FTS_BATCH {
                self.stage_fts()?;
            }
        }
        if !p.keys.is_empty() {
            let mut st = self.tx.prepare_cached(
                "INSERT OR IGNORE INTO keys (khash, seq, kind) VALUES (?1, ?2, ?3)",
            )?;
            for (k, kind) in &p.keys {
                st.execute(params![h64(k), seq, kind])?;
            }
        }
        Ok(())
    }

    /// Moves buffered search texts into the staging table with one multi-row insert.
    fn stage_fts(&mut self) -> Result<(), StoreError> {
        if self.fts.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.fts);
        let sql = pairs_insert_sql(
            "INSERT OR REPLACE INTO temp.fts_pending (seq, text)",
            rows.len(),
        );
        let mut st = self.tx.prepare_cached(&sql)?;
        let mut i = 1;
        for (seq, text) in &rows {
            st.raw_bind_parameter(i, seq)?;
            st.raw_bind_parameter(i + 1, text)?;
            i += 2;
        }
        st.raw_execute()?;
        Ok(())
    }

    fn unindex(&mut self, seq: i64, json: &str) -> Result<(), StoreError> {
        let before = self.fts.len();
        self.fts.retain(|(s, _)| *s != seq);
        if self.fts.len() == before {
            let staged = self
                .tx
                .prepare_cached("DELETE FROM temp.fts_pending WHERE seq = ?1")?
                .execute(params![seq])?;
            if staged == 0 {
                self.tx
                    .prepare_cached("DELETE FROM fts WHERE rowid = ?1")?
                    .execute(params![seq])?;
            }
        }
        let old = match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(m)) => StixObject::from_map(m).ok(),
            _ => None,
        };
        if let Some(old) = old {
            let mut st = self
                .tx
                .prepare_cached("DELETE FROM keys WHERE khash = ?1 AND seq = ?2")?;
            for (k, _) in object_keys(&old) {
                st.execute(params![h64(&k), seq])?;
            }
        }
        Ok(())
    }
}

impl SqliteTx<'_> {
    /// Everything the transaction still holds in memory goes to its tables: relationship sources and the search
    /// index, so that a commit leaves a store that `check` accepts.
    fn flush_all(&mut self) -> Result<(), StoreError> {
        self.flush_edges()?;
        self.stage_fts()?;
        self.tx.execute_batch(
            "INSERT INTO fts (rowid, text) SELECT seq, text FROM temp.fts_pending; DELETE FROM temp.fts_pending;",
        )?;
        Ok(())
    }

    /// Stops the checkpoint thread of a write that made commit points, after its last checkpoint, and gives the
    /// checkpointing back to SQLite's automatic checkpoint on the writer connection.
    pub(super) fn stop_bg(&mut self) -> Result<(), StoreError> {
        if let Some(mut bg) = self.bg.take() {
            bg.stop();
            self.conn
                .execute_batch(&format!("PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}"))?;
        }
        Ok(())
    }

    /// Commits the transaction (the commit copies whatever the checkpoint thread had not).
    pub(super) fn finish(mut self) -> Result<(), StoreError> {
        let flushed = self.flush_all();
        self.stop_bg()?;
        flushed?;
        self.tx.commit()?;
        Ok(())
    }
}

impl WriteTx for SqliteTx<'_> {
    fn commit_point(&mut self) -> Result<(), StoreError> {
        self.flush_all()?;
        if self.bg.is_none() {
            // The checkpoint thread takes over from SQLite's automatic checkpoint for the rest of this write.
            self.tx.execute_batch("PRAGMA wal_autocheckpoint=0")?;
            self.bg = Some(Checkpointer::start(self.path)?);
        }
        // Statements held across the commit must not be mid-step; they are reset after every use.
        self.tx.execute_batch("COMMIT; BEGIN IMMEDIATE")?;
        // Objects of the next part are added when it starts (TAXII's added_after sees them in commit order).
        self.now = now_us();
        if let Some(bg) = &self.bg {
            bg.wake();
        }
        Ok(())
    }

    fn put_prepared(
        &mut self,
        p: &Prepared,
        prov: &Provenance,
        mode: PutMode,
    ) -> Result<PutOutcome, StoreError> {
        let id = p.id.as_str();
        let version = p.version.as_str();
        if mode == PutMode::Derived {
            // The common case of bulk lists: one statement, no look-up.
            if self.insert(p, "", true, prov)?.is_some() {
                return Ok(PutOutcome::Added);
            }
            let seq = self.latest_seq(p.hid)?;
            self.add_provenance(seq, prov)?;
            return Ok(PutOutcome::Unchanged);
        }
        let latest: Option<(i64, String, StoredJson)> = self
            .tx
            .prepare_cached(
                "SELECT seq, version, json FROM objects WHERE hid = ?1 AND stix_id = ?2 AND lk = 0",
            )?
            .query_row(params![h64(id), id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let Some((seq, cur_version, cur_json)) = latest else {
            self.insert(p, version, true, prov)?;
            return Ok(PutOutcome::Added);
        };
        match version_step(&cur_version, version, mode) {
            VersionStep::Keep => {
                self.add_provenance(seq, prov)?;
                return Ok(PutOutcome::Unchanged);
            }
            VersionStep::History => {}
            VersionStep::Replace => {
                self.tx
                    .prepare_cached("UPDATE objects SET lk = NULL WHERE seq = ?1")?
                    .execute(params![seq])?;
                self.unindex(seq, &cur_json)?;
                self.insert(p, version, true, prov)?;
                return Ok(PutOutcome::Updated);
            }
        }
        let old: Option<i64> = self
            .tx
            .prepare_cached(
                "SELECT seq FROM objects WHERE hid = ?1 AND stix_id = ?2 AND version = ?3",
            )?
            .query_row(params![h64(id), id, version], |r| r.get(0))
            .optional()?;
        if let Some(old) = old {
            self.add_provenance(old, prov)?;
            return Ok(PutOutcome::Unchanged);
        }
        self.insert(p, version, false, prov)?;
        Ok(PutOutcome::Historical)
    }

    fn put_derived_batch(
        &mut self,
        ps: &[Prepared],
        prov: &Provenance,
    ) -> Result<Vec<PutOutcome>, StoreError> {
        // Rows go in in the order of their id hashes, not as they came: each row adds an entry at a random place
        // in the (hid, lk) index, and a batch sorted by it visits each index page once, in order, instead of
        // once per entry. The sort is stable, so a repeat within the batch still comes after its first.
        let mut order: Vec<usize> = (0..ps.len()).collect();
        order.sort_by_key(|&i| ps[i].hid);
        let mut sorted = Vec::with_capacity(ps.len());
        let mut rows: Vec<&Prepared> = Vec::with_capacity(DERIVED_ROWS);
        let chunks: Vec<&[usize]> = order.chunks(DERIVED_ROWS).collect();
        for (k, chunk) in chunks.iter().enumerate() {
            if let Some(next) = chunks.get(k + 1) {
                touch(next.iter().map(|&i| &ps[i]));
            }
            rows.clear();
            rows.extend(chunk.iter().map(|&i| &ps[i]));
            self.insert_derived_chunk(&rows, prov, &mut sorted)?;
        }
        let mut out = vec![PutOutcome::Unchanged; ps.len()];
        for (&i, o) in order.iter().zip(sorted) {
            out[i] = o;
        }
        Ok(out)
    }

    fn exists(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM objects WHERE hid = ?1 AND stix_id = ?2 LIMIT 1")?
            .exists(params![h64(id), id])?)
    }

    fn get(&mut self, id: &str) -> Result<Option<StoredObject>, StoreError> {
        latest_row(&self.tx, id)?
            .map(|(s, a, t, j)| row_to_stored(s, a, t, &j))
            .transpose()
    }

    fn lookup_kinds(
        &mut self,
        types: &[&str],
        key: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        lookup_ids(&self.tx, types, key)
    }

    fn relationships_from(
        &mut self,
        id: &str,
        relationship_type: &str,
    ) -> Result<Vec<StoredObject>, StoreError> {
        let src = h64(id);
        // Committed edges are in `edge_src`; this transaction's wait in `edges` until commit.
        let mut seqs: Vec<i64> = self
            .tx
            .prepare_cached("SELECT seq FROM edge_src WHERE src = ?1")?
            .query_map(params![src], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        seqs.extend(
            self.edges
                .iter()
                .filter(|(s, _)| *s == src)
                .map(|(_, q)| *q),
        );
        seqs.sort_unstable();
        seqs.dedup();
        let mut out = Vec::new();
        for seq in seqs {
            let row: Option<(String, bool)> = self
                .tx
                .prepare_cached(
                    "SELECT stix_id, retired FROM objects WHERE seq = ?1 AND lk = 0 AND type = 'relationship'",
                )?
                .query_row(params![seq], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((rel_id, false)) = row else {
                continue;
            };
            if let Some(o) = self.get(&rel_id)? {
                // A hash collision names another object's edges.
                if o.object.str("source_ref") == Some(id)
                    && o.object.str("relationship_type") == Some(relationship_type)
                {
                    out.push(o);
                }
            }
        }
        Ok(out)
    }

    fn put_pending_link(&mut self, keys: &[String], body: &str) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("INSERT OR IGNORE INTO pending_links (body) VALUES (?1)")?
            .execute(params![body])?;
        let id: i64 = self
            .tx
            .prepare_cached("SELECT id FROM pending_links WHERE body = ?1")?
            .query_row(params![body], |r| r.get(0))?;
        let mut st = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO pending_link_keys (khash, id) VALUES (?1, ?2)",
        )?;
        for k in keys {
            st.execute(params![h64(&k.trim().to_lowercase()), id])?;
        }
        Ok(())
    }

    fn pending_links(&mut self, key: &str) -> Result<Vec<(i64, String)>, StoreError> {
        let mut st = self.tx.prepare_cached(
            "SELECT p.id, p.body FROM pending_link_keys k JOIN pending_links p ON p.id = k.id WHERE k.khash = ?1",
        )?;
        let rows = st.query_map(params![h64(&key.trim().to_lowercase())], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn drop_pending_link(&mut self, id: i64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("DELETE FROM pending_link_keys WHERE id = ?1")?
            .execute(params![id])?;
        self.tx
            .prepare_cached("DELETE FROM pending_links WHERE id = ?1")?
            .execute(params![id])?;
        Ok(())
    }

    fn put_warninglist(&mut self, wl: &WarningList) -> Result<PutOutcome, StoreError> {
        let current: Option<(i64, String)> = self
            .tx
            .prepare_cached("SELECT version, entries FROM warninglists WHERE name = ?1")?
            .query_row(params![wl.name], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let entries =
            serde_json::to_string(&wl.entries).map_err(|e| StoreError::Db(e.to_string()))?;
        let outcome = match &current {
            None => PutOutcome::Added,
            Some((v, e)) if *v == wl.version && *e == entries => return Ok(PutOutcome::Unchanged),
            Some(_) => PutOutcome::Updated,
        };
        let attrs = serde_json::to_string(&wl.matching_attributes)
            .map_err(|e| StoreError::Db(e.to_string()))?;
        self.tx
            .prepare_cached("INSERT OR REPLACE INTO warninglists (name, description, list_type, version, matching_attributes, entries) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
            .execute(params![wl.name, wl.description, wl.list_type, wl.version, attrs, entries])?;
        Ok(outcome)
    }
}

fn lookup_ids(
    conn: &Connection,
    types: &[&str],
    key: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    let key = key.trim().to_lowercase();
    let mut out: Vec<(String, i64)> = Vec::new();
    if vigil_model::ids::is_valid_id(&key) {
        let found: Option<String> = conn
            .prepare_cached(
                "SELECT stix_id FROM objects WHERE hid = ?1 AND stix_id = ?2 AND lk = 0",
            )?
            .query_row(params![h64(&key), key], |r| r.get(0))
            .optional()?;
        out.extend(found.map(|id| (id, crate::prepared::KEY_ID)));
    }
    let mut st = conn.prepare_cached(
        "SELECT o.stix_id, o.type, k.kind FROM keys k JOIN objects o ON o.seq = k.seq
         WHERE k.khash = ?1 AND o.lk = 0 ORDER BY o.retired, k.kind, o.seq",
    )?;
    let rows = st.query_map(params![h64(&key)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (id, ty, kind) = row?;
        if (types.is_empty() || types.contains(&ty.as_str())) && !out.iter().any(|(i, _)| *i == id)
        {
            out.push((id, kind));
        }
    }
    Ok(out)
}

/// The latest version's row of an id: seq, when it was added, TLP rank, JSON.
type LatestRow = (i64, String, Option<i64>, StoredJson);

/// Examples kept per kind of pending target in [`Stats::pending_links`].
const PENDING_EXAMPLES: usize = 5;

/// The pending links that wait for a target (not those that follow one, see [`Stats::pending_links`]), by the
/// types they look for, each with a few of the names they look for.
fn pending_summary(c: &Connection) -> Result<BTreeMap<String, PendingLinks>, StoreError> {
    let mut out: BTreeMap<String, PendingLinks> = BTreeMap::new();
    let mut st = c.prepare_cached(
        "SELECT json_extract(body, '$.target_types'), count(*) FROM pending_links
         WHERE json_valid(body) AND json_extract(body, '$.follow') IS NOT 1 GROUP BY 1",
    )?;
    let groups: Vec<(Option<String>, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut ex = c.prepare_cached(
        "SELECT json_extract(body, '$.keys') FROM pending_links
         WHERE json_valid(body) AND json_extract(body, '$.follow') IS NOT 1
           AND json_extract(body, '$.target_types') IS ?1 LIMIT 200",
    )?;
    for (types, n) in groups {
        let kinds: Vec<String> = types
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        let kind = if kinds.is_empty() {
            "any".to_string()
        } else {
            kinds.join("/")
        };
        let entry = out.entry(kind).or_default();
        entry.count += n as u64;
        let mut rows = ex.query(params![types])?;
        while entry.examples.len() < PENDING_EXAMPLES {
            let Some(row) = rows.next()? else { break };
            let keys: Vec<String> = row
                .get::<_, Option<String>>(0)?
                .and_then(|k| serde_json::from_str(&k).ok())
                .unwrap_or_default();
            // A STIX id says nothing to a reader; the first name or catalogue id does.
            if let Some(k) = keys.into_iter().find(|k| !k.contains("--")) {
                if !entry.examples.contains(&k) {
                    entry.examples.push(k);
                }
            }
        }
    }
    Ok(out)
}

fn latest_row(c: &Connection, id: &str) -> Result<Option<LatestRow>, StoreError> {
    Ok(c.prepare_cached(concat!(
        "SELECT seq, ",
        added_at!(),
        ", tlp, json FROM objects WHERE hid = ?1 AND stix_id = ?2 AND lk = 0"
    ))?
    .query_row(params![h64(id), id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .optional()?)
}

fn row_to_stored(
    seq: i64,
    added_at: String,
    tlp: Option<i64>,
    json: &str,
) -> Result<StoredObject, StoreError> {
    crate::common::stored_object(seq, added_at, tlp_from_rank(tlp), json)
}

impl Store for SqliteStore {
    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.write_raw(|w| f(w))
    }

    fn writers_waiting(&self) -> bool {
        self.writer.waiting()
    }

    fn get(&self, id: &str) -> Result<Option<StoredObject>, StoreError> {
        self.with_reader(|c| {
            latest_row(c, id)?
                .map(|(s, a, t, j)| row_to_stored(s, a, t, &j))
                .transpose()
        })
    }

    fn versions(&self, id: &str) -> Result<Vec<StoredObject>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(concat!(
                "SELECT seq, ",
                added_at!(),
                ", tlp, json FROM objects WHERE hid = ?1 AND stix_id = ?2 ORDER BY version"
            ))?;
            let rows = st.query_map(params![h64(id), id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, StoredJson>(3)?))
            })?;
            rows.map(|r| {
                let (s, a, t, j) = r?;
                row_to_stored(s, a, t, &j)
            })
            .collect()
        })
    }

    fn provenance(&self, id: &str) -> Result<Vec<Provenance>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(concat!(
                "SELECT ",
                row_source!(),
                ", COALESCE(ps.ingested_at, o.ingested_at), o.original_id,
                 CASE WHEN o.prov IS NULL THEN o.file ELSE ps.file END FROM objects o ",
                prov_join!(),
                " WHERE o.hid = ?1 AND o.stix_id = ?2
                 UNION ALL
                 SELECT p.source, p.ingested_at, p.original_id, p.file FROM provenance p JOIN objects o ON o.seq = p.seq
                 WHERE o.hid = ?1 AND o.stix_id = ?2
                 ORDER BY 2, 1"
            ))?;
            let rows = st.query_map(params![h64(id), id], |r| {
                Ok(Provenance { source: r.get(0)?, ingested_at: r.get(1)?, original_id: r.get(2)?, file: r.get(3)? })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn resolve(&self, key: &str) -> Result<Vec<StoredObject>, StoreError> {
        crate::common::resolve_with(self, key, &|k| {
            self.with_reader(|c| {
                Ok(lookup_ids(c, &[], k)?
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect())
            })
        })
    }

    fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        let phrases: Vec<String> = query
            .split_whitespace()
            .filter(|w| w.chars().any(char::is_alphanumeric))
            .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
            .collect();
        if phrases.is_empty() {
            return Ok(Vec::new());
        }
        let fts_query = phrases.join(" ");
        let needle = query.trim().to_lowercase();
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT o.stix_id, o.type, o.json, bm25(fts) AS rank, o.retired FROM fts JOIN objects o ON o.seq = fts.rowid
                 WHERE fts MATCH ?1 AND o.lk = 0 ORDER BY o.retired, rank LIMIT ?2",
            )?;
            let rows = st.query_map(params![fts_query, (limit * 4).max(50) as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, StoredJson>(2)?, r.get::<_, f64>(3)?, r.get::<_, bool>(4)?))
            })?;
            let mut hits = Vec::new();
            for row in rows {
                let (id, ty, json, rank, retired) = row?;
                hits.push(crate::common::search_hit(id, ty, &json, -rank, retired, &needle));
            }
            Ok(crate::common::rank_hits(hits, limit))
        })
    }

    fn related(&self, id: &str) -> Result<Vec<Related>, StoreError> {
        self.with_reader(|c| {
            let mut out = Vec::new();
            for (dir, sql) in [
                ("out", "SELECT o.stix_id, o.type, o.json FROM edge_src e CROSS JOIN objects o ON o.seq = e.seq WHERE e.src = ?1 AND o.lk = 0 AND o.retired = 0"),
                ("in", "SELECT stix_id, type, json FROM objects WHERE dst = ?1 AND lk = 0 AND retired = 0"),
            ] {
                let mut st = c.prepare_cached(sql)?;
                let rows = st.query_map(params![h64(id)], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, StoredJson>(2)?)))?;
                let mut edges = Vec::new();
                for row in rows {
                    let (rel_id, ty, json) = row?;
                    edges.extend(crate::common::edge_of(id, dir, &rel_id, &ty, &json)?);
                }
                let mut far = c.prepare_cached("SELECT json, retired FROM objects WHERE hid = ?1 AND stix_id = ?2 AND lk = 0")?;
                for edge in edges {
                    let found: Option<(StoredJson, bool)> = far.query_row(params![h64(&edge.1), edge.1], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
                    out.extend(crate::common::related_entry(dir, edge, found.as_ref().map(|(j, r)| (&**j, *r))));
                }
            }
            Ok(out)
        })
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        self.with_reader(|c| {
            let mut s = Stats::default();
            let mut st = c.prepare_cached("SELECT type, count(*) FROM objects WHERE lk = 0 AND retired = 0 GROUP BY type")?;
            for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (t, n) = row?;
                s.objects.insert(t, n as u64);
            }
            let mut st = c.prepare_cached(concat!(
                "SELECT source, count(*) FROM (SELECT o.seq, ",
                row_source!(),
                " AS source FROM objects o ",
                prov_join!(),
                " WHERE o.lk = 0 AND o.retired = 0
                    UNION SELECT p.seq, p.source FROM provenance p JOIN objects o ON o.seq = p.seq WHERE o.lk = 0 AND o.retired = 0
                 ) GROUP BY source"
            ))?;
            for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (t, n) = row?;
                s.sources.insert(t, n as u64);
            }
            let mut st = c.prepare_cached("SELECT tlp, count(*) FROM objects WHERE lk = 0 AND retired = 0 GROUP BY tlp")?;
            for row in st.query_map([], |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, i64>(1)?)))? {
                let (t, n) = row?;
                let name = tlp_from_rank(t).map(|t| t.as_str().to_string()).unwrap_or_else(|| "unmarked".into());
                s.tlp.insert(name, n as u64);
            }
            s.versions = c.query_row("SELECT count(*) FROM objects", [], |r| r.get::<_, i64>(0))? as u64;
            s.warninglists = c.query_row("SELECT count(*) FROM warninglists", [], |r| r.get::<_, i64>(0))? as u64;
            s.pending_links = pending_summary(c)?;
            Ok(s)
        })
    }

    fn scan(
        &self,
        filter: &ScanFilter,
        f: &mut dyn FnMut(StoredObject) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.with_reader(|c| {
            let mut sql = String::from(concat!(
                "SELECT seq, ",
                added_at!(),
                ", tlp, json FROM objects WHERE lk = 0"
            ));
            if !filter.include_retired {
                sql.push_str(" AND retired = 0");
            }
            if let Some(max) = filter.tlp_max {
                let default = filter.default_tlp.unwrap_or(Tlp::Amber);
                if default <= max {
                    sql.push_str(&format!(" AND (tlp IS NULL OR tlp <= {})", tlp_rank(max)));
                } else {
                    sql.push_str(&format!(" AND tlp <= {}", tlp_rank(max)));
                }
            }
            if let Some(after) = filter.after_seq {
                sql.push_str(&format!(" AND seq > {after}"));
            }
            if !filter.types.is_empty() {
                let list: Vec<String> = filter
                    .types
                    .iter()
                    .map(|t| format!("'{}'", t.replace('\'', "''")))
                    .collect();
                sql.push_str(&format!(" AND type IN ({})", list.join(",")));
            }
            sql.push_str(" ORDER BY seq");
            if let Some(l) = filter.limit {
                sql.push_str(&format!(" LIMIT {l}"));
            }
            let mut st = c.prepare(&sql)?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let json: StoredJson = r.get(3)?;
                f(row_to_stored(r.get(0)?, r.get(1)?, r.get(2)?, &json)?)?;
            }
            Ok(())
        })
    }

    fn sourced(&self, source: &str) -> Result<Vec<Sourced>, StoreError> {
        self.with_reader(|c| {
            // The first provenance of a row is in `prov_sets` (or inline, for rows older than schema 10), further
            // ones in `provenance`: a source can name a row either way. No index leads from a source to its rows,
            // so this reads every latest row once: an administrator's command, not a request path.
            let mut st = c.prepare(concat!(
                "SELECT o.seq, o.stix_id, o.type, CASE WHEN o.prov IS NULL THEN o.file ELSE ps.file END FROM objects o ",
                prov_join!(),
                " WHERE o.lk = 0 AND o.retired = 0 AND ",
                row_source!(),
                " = ?1
                 UNION ALL
                 SELECT o.seq, o.stix_id, o.type, p.file FROM provenance p JOIN objects o ON o.seq = p.seq
                 WHERE p.source = ?1 AND o.lk = 0 AND o.retired = 0
                 ORDER BY 1"
            ))?;
            // A row names a source once at most (`add_provenance` skips the row's own source, and `provenance` is
            // keyed on (seq, source)), so each row comes back once.
            let mut found: Vec<(i64, Sourced)> = st
                .query_map(params![source], |r| {
                    let file: Option<String> = r.get(3)?;
                    Ok((r.get(0)?, Sourced { id: r.get(1)?, type_: r.get(2)?, files: file.into_iter().collect(), other_sources: Vec::new() }))
                })?
                .collect::<Result<_, _>>()?;
            let mut others = c.prepare_cached(concat!(
                "SELECT ",
                row_source!(),
                " FROM objects o ",
                prov_join!(),
                " WHERE o.seq = ?1 UNION SELECT source FROM provenance WHERE seq = ?1"
            ))?;
            for (seq, o) in &mut found {
                let mut names: Vec<String> = others
                    .query_map(params![*seq], |r| r.get::<_, String>(0))?
                    .collect::<Result<_, _>>()?;
                names.retain(|n| n != source);
                names.sort();
                names.dedup();
                o.other_sources = names;
            }
            Ok(found.into_iter().map(|(_, o)| o).collect())
        })
    }

    fn warninglists(&self) -> Result<Vec<WarningList>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached("SELECT name, description, list_type, version, matching_attributes, entries FROM warninglists ORDER BY name")?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?, r.get::<_, String>(4)?, r.get::<_, String>(5)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (name, description, list_type, version, attrs, entries) = row?;
                out.push(WarningList {
                    name,
                    description,
                    list_type,
                    version,
                    matching_attributes: serde_json::from_str(&attrs).unwrap_or_default(),
                    entries: serde_json::from_str(&entries).map_err(|e| StoreError::Corrupt(format!("warning list: {e}")))?,
                });
            }
            Ok(out)
        })
    }

    fn check(&self) -> Result<Vec<String>, StoreError> {
        self.with_reader(check_conn)
    }
}

/// The consistency check of the store behind `c` (`Store::check`; a backup is checked alike).
fn check_conn(c: &Connection) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    let ic: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if ic != "ok" {
        problems.push(format!("integrity_check: {ic}"));
    }
    // Each invariant as a query counting what breaks it, with what to call the count.
    const INVARIANTS: &[(&str, &str)] = &[
        (
            "SELECT count(*) FROM (SELECT hid FROM objects WHERE lk = 0 GROUP BY hid HAVING count(*) > 1)",
            "ids with more than one latest version",
        ),
        (
            "SELECT count(*) FROM provenance p WHERE NOT EXISTS (SELECT 1 FROM objects o WHERE o.seq = p.seq)",
            "provenance rows without an object",
        ),
        (
            "SELECT count(*) FROM (SELECT DISTINCT hid FROM objects WHERE lk IS NULL) h WHERE NOT EXISTS (SELECT 1 FROM objects o WHERE o.hid = h.hid AND o.lk = 0)",
            "ids with versions but no latest version",
        ),
        (
            "SELECT count(*) FROM objects o WHERE o.src IS NOT NULL AND o.lk = 0
               AND NOT EXISTS (SELECT 1 FROM edge_src e WHERE e.src = o.src AND e.seq = o.seq)",
            "relationships missing from the source-edge table",
        ),
        (
            "SELECT count(*) FROM objects o WHERE o.prov IS NOT NULL AND NOT EXISTS (SELECT 1 FROM prov_sets ps WHERE ps.id = o.prov)",
            "objects whose provenance set is missing",
        ),
    ];
    for (sql, what) in INVARIANTS {
        let n: i64 = c.query_row(sql, [], |r| r.get(0))?;
        if n > 0 {
            problems.push(format!("{n} {what}"));
        }
    }
    // integrity_check vouches for the pages, not for what a packed value decodes to.
    let mut st = c.prepare("SELECT seq, json FROM objects")?;
    let mut rows = st.query([])?;
    let (mut bad, mut first) = (0u64, Vec::new());
    while let Some(r) = rows.next()? {
        if let Err(e) = r.get::<_, StoredJson>(1) {
            bad += 1;
            if first.len() < 5 {
                first.push(format!("seq {}: {e}", r.get::<_, i64>(0)?));
            }
        }
    }
    if bad > 0 {
        problems.push(format!(
            "{bad} objects whose JSON does not decode ({})",
            first.join("; ")
        ));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PutMode, Store};

    fn tool(i: usize) -> StixObject {
        let v = serde_json::json!({"type": "tool", "spec_version": "2.1",
            "id": format!("tool--00000000-0000-4000-8000-{i:012}"), "created": "2020-01-01T00:00:00.000Z",
            "modified": "2020-01-01T00:00:00.000Z", "name": format!("tool number {i}")});
        StixObject::from_value(v).expect("fixture")
    }

    fn prov() -> Provenance {
        Provenance {
            source: "test".into(),
            ingested_at: "2026-01-01T00:00:00Z".into(),
            original_id: None,
            file: None,
        }
    }

    fn autocheckpoint(s: &SqliteStore) -> i64 {
        let w = s.writer.conn.lock().expect("writer");
        w.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .expect("pragma")
    }

    /// Handles on one database share its writer (and see its waiting writes); another database has its own.
    #[test]
    fn handles_on_one_store_share_its_writer() -> Result<(), StoreError> {
        let tmp = |_| tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()));
        let (one, two) = (tmp(1)?, tmp(2)?);
        let a = SqliteStore::open(one.path())?;
        // Another spelling of the same folder.
        let b = SqliteStore::open(
            &one.path().join(".").join("..").join(
                one.path()
                    .file_name()
                    .ok_or_else(|| StoreError::Db("no name".into()))?,
            ),
        )?;
        let c = SqliteStore::open(two.path())?;
        assert!(Arc::ptr_eq(&a.writer, &b.writer));
        assert!(!Arc::ptr_eq(&a.writer, &c.writer));
        // A write through one handle waits for a write through the other, and is seen as waiting.
        let held = a
            .writer
            .conn
            .lock()
            .map_err(|_| StoreError::Db("poisoned".into()))?;
        std::thread::scope(|s| -> Result<(), StoreError> {
            let t = s.spawn(|| {
                b.write(&mut |tx| tx.put(&tool(1), &prov(), PutMode::Source).map(|_| ()))
            });
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !a.writers_waiting() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            assert!(a.writers_waiting() && !c.writers_waiting());
            drop(held);
            t.join()
                .map_err(|_| StoreError::Db("writer thread panicked".into()))??;
            Ok(())
        })?;
        assert!(!a.writers_waiting());
        assert!(a.get(tool(1).id())?.is_some());
        // Once every handle is gone the next one opens a writer of its own.
        let before = Arc::downgrade(&a.writer);
        drop((a, b));
        assert!(before.upgrade().is_none());
        let d = SqliteStore::open(one.path())?;
        assert!(d.get(tool(1).id())?.is_some());
        Ok(())
    }

    #[test]
    fn commit_points_make_parts_durable_and_visible() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()))?;
        let s = SqliteStore::open(dir.path())?;
        let other = SqliteStore::open(dir.path())?;
        let r = s.write(&mut |tx| {
            tx.put(&tool(1), &prov(), PutMode::Source)?;
            tx.commit_point()?;
            // committed: another connection sees it, with its search text, while the write goes on
            assert!(other.get(tool(1).id())?.is_some());
            assert_eq!(other.search("number", 10)?.len(), 1);
            tx.put(&tool(2), &prov(), PutMode::Source)?;
            tx.commit_point()?;
            tx.put(&tool(3), &prov(), PutMode::Source)?;
            assert!(other.get(tool(3).id())?.is_none(), "not committed yet");
            Err(StoreError::Aborted("test".into()))
        });
        assert!(r.is_err());
        // the parts before the last commit point stay, the rest is rolled back
        assert!(s.get(tool(1).id())?.is_some());
        assert!(s.get(tool(2).id())?.is_some());
        assert!(s.get(tool(3).id())?.is_none());
        assert_eq!(s.search("number", 10)?.len(), 2);
        assert!(s.check()?.is_empty(), "{:?}", s.check()?);
        // the writer checkpoints on its own again after a failed write ...
        assert_eq!(autocheckpoint(&s), AUTOCHECKPOINT_PAGES);
        // ... and after a successful one
        s.write(&mut |tx| {
            tx.put(&tool(3), &prov(), PutMode::Source)?;
            tx.commit_point()?;
            tx.put(&tool(4), &prov(), PutMode::Source)?;
            Ok(())
        })?;
        assert_eq!(autocheckpoint(&s), AUTOCHECKPOINT_PAGES);
        assert_eq!(s.search("number", 10)?.len(), 4);
        assert!(s.check()?.is_empty(), "{:?}", s.check()?);
        Ok(())
    }
}
