//! The PostgreSQL backend of the knowledge base, for an instance whose data outgrows one machine's disk or whose
//! administrators run, back up and replicate databases themselves. It passes the same conformance suite as the
//! SQLite backend ([`crate::conformance::run_all`]).
//!
//! A store lives in one schema of a database (`vigil` unless told otherwise), so several instances can share a
//! server. Writers are serialised by a transaction-scoped advisory lock on that schema, across processes and
//! machines: insertion sequence numbers then become visible in the order they were given, which TAXII paging and
//! `added_after` rely on (with concurrent writers a reader could see seq 11 committed before seq 10 and page
//! past it).

mod delivery;
mod feeds;
mod members;
mod pgenv;
mod pgpass;
mod schema;
mod tls;
mod vuln;
mod web;

pub use tls::TlsMode;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use ::postgres::types::ToSql;
use ::postgres::{Client, NoTls, Row, Statement};
use serde_json::Value;
use tokio_postgres_rustls::MakeRustlsConnect;
use vigil_model::{time, Provenance, Tlp};

use crate::common::{version_step, VersionStep};
use crate::error::with_causes;
use crate::prepared::{h64, Prepared};
use crate::{
    PendingLinks, PutMode, PutOutcome, Related, ScanFilter, SearchHit, Sourced, Stats, Store,
    StoreError, StoredObject, WarningList, WriteTx,
};

/// The schema a store uses when none is named.
pub const DEFAULT_SCHEMA: &str = "vigil";

/// Rows fetched per round trip when a scan streams the store.
const SCAN_BATCH: i32 = 1000;

/// A connection with the statements it has prepared (each costs a round trip, and bulk writes repeat a few).
struct Conn {
    client: Client,
    stmts: HashMap<&'static str, Statement>,
}

impl Conn {
    fn connect(
        config: &::postgres::Config,
        tls: &Option<MakeRustlsConnect>,
        schema: &str,
        place: &str,
    ) -> Result<Conn, StoreError> {
        Conn::connect_noting(config, tls, schema, place, None)
    }

    /// [`Conn::connect`], adding `login_note` (why the password file gave no password) when the login is refused.
    fn connect_noting(
        config: &::postgres::Config,
        tls: &Option<MakeRustlsConnect>,
        schema: &str,
        place: &str,
        login_note: Option<&str>,
    ) -> Result<Conn, StoreError> {
        let client = match tls {
            Some(t) => config.connect(t.clone()),
            None => config.connect(NoTls),
        };
        let mut client = client.map_err(|e| {
            let mut reason = with_causes(&e);
            if let (Some(note), true) = (login_note, login_refused(&e)) {
                reason = format!("{reason} ({note})");
            }
            // The server's alert about the client's certificate (a client-side refusal of the server's reads
            // differently): rustls names the alert, not what to change.
            if reason.contains("received fatal alert: UnknownCA") {
                reason.push_str(
                    " (the server does not trust the CA that signed sslcert: its ssl_ca_file must hold that CA)",
                );
            }
            StoreError::Open {
                path: place.to_string(),
                reason,
            }
        })?;
        client.batch_execute(&format!("SET search_path TO {}", quote_ident(schema)))?;
        Ok(Conn {
            client,
            stmts: HashMap::new(),
        })
    }

    fn st(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let st = self.st(sql)?;
        Ok(self.client.query(&st, params)?)
    }

    fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let st = self.st(sql)?;
        Ok(self.client.query_opt(&st, params)?)
    }

    fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let st = self.st(sql)?;
        Ok(self.client.execute(&st, params)?)
    }
}

/// Runs `f`, which blocks on the driver, so that it may be called from anywhere. The synchronous driver drives each
/// call with a runtime of its own, and tokio refuses to start one on a thread that is running async tasks (the
/// server's workers call the store from request handlers, as they call SQLite): there the worker's other tasks are
/// first handed to another thread (`block_in_place`). A single-threaded runtime cannot do that; no Vigil code calls
/// the store from one.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// An SQL identifier, quoted.
fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The store.
pub struct PostgresStore {
    config: ::postgres::Config,
    /// None for `sslmode=disable`.
    tls: Option<MakeRustlsConnect>,
    tls_mode: TlsMode,
    schema: String,
    /// Where the store is, for messages: host, database and schema (never the password).
    place: String,
    /// The advisory lock that serialises writers of this schema.
    lock_key: i64,
    writer: Mutex<Option<Conn>>,
    /// Threads of this process blocked on `writer`.
    waiting: AtomicUsize,
    readers: Mutex<Vec<Conn>>,
}

impl PostgresStore {
    /// Opens (creating and migrating as needed) the store in schema `schema` (default [`DEFAULT_SCHEMA`]) of the
    /// database `url` names: `postgres://user@host:port/database` or `host=.. user=.. dbname=..`, with libpq's
    /// `sslmode` (default `prefer`) and `sslrootcert` (see [`tls`]).
    pub fn open(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let refused = |reason: String| StoreError::Open {
            path: redact(url),
            reason,
        };
        let (rest, mut taken) = tls::split(url).map_err(refused)?;
        let mut config: ::postgres::Config = rest
            .parse()
            .map_err(|e: ::postgres::Error| refused(e.to_string()))?;
        pgenv::apply(&mut config, &mut taken, &|k| std::env::var(k).ok()).map_err(refused)?;
        let settings = taken.tls;
        let pass_note = password_from_file(&mut config, taken.passfile.as_deref());
        // As in libpq, TLS is not used over Unix-domain sockets (the server refuses it there, and the socket
        // never leaves the host): a certificate would name no host to check.
        let hosts = config.get_hosts();
        let unix_only = !hosts.is_empty()
            && hosts
                .iter()
                .all(|h| matches!(h, ::postgres::config::Host::Unix(_)));
        let tls = if unix_only {
            config.ssl_mode(::postgres::config::SslMode::Disable);
            None
        } else {
            config.ssl_mode(settings.mode.ssl_mode());
            tls::connector(&settings).map_err(refused)?
        };
        let schema = schema.unwrap_or(DEFAULT_SCHEMA).to_string();
        let place = describe(&config, &schema);
        let mut conn = Conn::connect_noting(&config, &tls, &schema, &place, pass_note.as_deref())?;
        let made = (|| {
            // Created only when missing: a schema an administrator made for Vigil needs no right to create schemas.
            let exists = conn
                .client
                .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])?
                .is_some();
            if !exists {
                conn.client.batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {}",
                    quote_ident(&schema)
                ))?;
            }
            migrate(&mut conn, &schema, &place)
        })();
        made.map_err(|e| match e {
            // SQLSTATE 25006, read_only_sql_transaction: a hot standby, or a server set read-only.
            StoreError::Db(m) if m.contains("(SQLSTATE 25006)") => StoreError::Open {
                path: place.clone(),
                reason: format!(
                    "the server is read-only (a standby?), and Vigil writes: connect to the primary, e.g. list \
                     every host of the cluster with target_session_attrs=read-write ({m})"
                ),
            },
            e => e,
        })?;
        Ok(PostgresStore {
            lock_key: h64(&format!("vigil-writer:{schema}")),
            config,
            tls,
            tls_mode: settings.mode,
            schema,
            place,
            writer: Mutex::new(Some(conn)),
            waiting: AtomicUsize::new(0),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Where the store is: `postgres://host:port/database (schema S)`, without credentials.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// The connection string's `sslmode`.
    pub fn tls_mode(&self) -> TlsMode {
        self.tls_mode
    }

    /// Whether this process's connection to the server is encrypted, as the server sees it.
    pub fn encrypted(&self) -> Result<bool, StoreError> {
        self.with_reader(|c| {
            Ok(c.query_opt(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )?
            .is_some_and(|r| r.get::<_, bool>(0)))
        })
    }

    /// The subject of the client certificate this process logged in with, as the server read it (`/CN=vigil`);
    /// None when it presented none.
    pub fn client_certificate(&self) -> Result<Option<String>, StoreError> {
        self.with_reader(|c| {
            Ok(c.query_opt(
                "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )?
            .and_then(|r| r.get::<_, Option<String>>(0)))
        })
    }

    /// The schema the store lives in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Current schema version.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.with_reader(|c| {
            Ok(c.query_opt("SELECT version FROM vigil_schema", &[])?
                .map(|r| i64::from(r.get::<_, i32>(0)))
                .unwrap_or(0))
        })
    }

    /// The highest insertion sequence number so far (0 when empty).
    pub fn max_seq(&self) -> Result<i64, StoreError> {
        self.with_reader(|c| {
            Ok(
                c.query_opt("SELECT COALESCE(max(seq), 0)::BIGINT FROM objects", &[])?
                    .map(|r| r.get::<_, i64>(0))
                    .unwrap_or(0),
            )
        })
    }

    /// Drops the store's schema with everything in it. For tests and for an administrator who moves a store.
    pub fn drop_schema(self) -> Result<(), StoreError> {
        blocking(|| {
            let mut guard = self.lock_writer()?;
            let conn = self.ready(&mut guard)?;
            conn.client.batch_execute(&format!(
                "DROP SCHEMA {} CASCADE",
                quote_ident(&self.schema)
            ))?;
            Ok(())
        })
    }

    fn lock_writer(&self) -> Result<MutexGuard<'_, Option<Conn>>, StoreError> {
        if let Ok(g) = self.writer.try_lock() {
            return Ok(g);
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let g = self.writer.lock();
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        g.map_err(|_| StoreError::Db("writer poisoned".into()))
    }

    /// The writer connection, connected again if the server closed it (a restart, an idle timeout).
    fn ready<'g>(&self, slot: &'g mut Option<Conn>) -> Result<&'g mut Conn, StoreError> {
        if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
            *slot = Some(Conn::connect(
                &self.config,
                &self.tls,
                &self.schema,
                &self.place,
            )?);
        }
        slot.as_mut()
            .ok_or_else(|| StoreError::Db("no writer connection".into()))
    }

    /// The writer connection with `BEGIN` done. A connection the server closed since its last use (a restart, a
    /// failover, an idle timeout) shows it here, before anything of the transaction was sent, and is replaced once.
    fn begun<'g>(&self, slot: &'g mut Option<Conn>) -> Result<&'g mut Conn, StoreError> {
        if let Err(e) = self.ready(slot)?.client.batch_execute("BEGIN") {
            if !slot.as_ref().is_none_or(|c| c.client.is_closed()) {
                return Err(e.into());
            }
            *slot = None;
            self.ready(slot)?.client.batch_execute("BEGIN")?;
        }
        slot.as_mut()
            .ok_or_else(|| StoreError::Db("no writer connection".into()))
    }

    /// Runs `f` on a pooled reader connection. One the server closed since it was pooled (a restart, a failover)
    /// fails `f`: then the pool, whose other connections are likely gone too, is emptied and `f` runs once more on
    /// a new connection (reads change nothing, so running one again is safe).
    fn with_reader<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        blocking(|| {
            let pooled = {
                let mut pool = self
                    .readers
                    .lock()
                    .map_err(|_| StoreError::Db("reader pool poisoned".into()))?;
                pool.pop()
            };
            let connect = || Conn::connect(&self.config, &self.tls, &self.schema, &self.place);
            let (mut conn, fresh) = match pooled {
                Some(c) if !c.client.is_closed() => (c, false),
                _ => (connect()?, true),
            };
            let mut out = f(&mut conn);
            if out.is_err() && !fresh && conn.client.is_closed() {
                if let Ok(mut pool) = self.readers.lock() {
                    pool.clear();
                }
                conn = connect()?;
                out = f(&mut conn);
            }
            if !conn.client.is_closed() {
                if let Ok(mut pool) = self.readers.lock() {
                    if pool.len() < 16 {
                        pool.push(conn);
                    }
                }
            }
            out
        })
    }
}

/// Fills in the password from libpq's password file when the connection string gives none (see [`pgpass`]);
/// returns why it did not, when there is something to say.
fn password_from_file(config: &mut ::postgres::Config, passfile: Option<&str>) -> Option<String> {
    use ::postgres::config::Host;
    if config.get_password().is_some() {
        return None;
    }
    let user = config.get_user()?.to_string();
    let database = config.get_dbname().unwrap_or(&user).to_string();
    let hosts: Vec<(String, u16)> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().copied().chain(std::iter::repeat(
            config.get_ports().last().copied().unwrap_or(5432),
        )))
        .map(|(h, p)| match h {
            Host::Tcp(h) => (h.clone(), p),
            // libpq's name for a connection through the default socket directory.
            Host::Unix(path)
                if ["/var/run/postgresql", "/run/postgresql", "/tmp"]
                    .iter()
                    .any(|d| path == std::path::Path::new(d)) =>
            {
                ("localhost".to_string(), p)
            }
            Host::Unix(path) => (path.display().to_string(), p),
        })
        .collect();
    let targets: Vec<pgpass::Target<'_>> = hosts
        .iter()
        .map(|(host, port)| pgpass::Target {
            host,
            port: *port,
            database: &database,
            user: &user,
        })
        .collect();
    let (path, named) = pgpass::locate(
        passfile,
        std::env::var_os("PGPASSFILE").map(Into::into),
        std::env::var_os("HOME").map(Into::into),
    )?;
    match pgpass::look_up(&path, named, &targets) {
        pgpass::Found::Password(p) => {
            config.password(p);
            None
        }
        pgpass::Found::NoFile => None,
        pgpass::Found::Nothing(why) => Some(why),
    }
}

/// Whether a connection failed at the login: the server refused the password or the user (SQLSTATE class 28,
/// whatever language its messages are in), or asked for a password that the driver did not have.
fn login_refused(e: &::postgres::Error) -> bool {
    use ::postgres::error::SqlState;
    e.code() == Some(&SqlState::INVALID_PASSWORD)
        || e.code() == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
        || with_causes(e).contains("password missing")
}

/// `postgres://host:port/database (schema S)`.
fn describe(config: &::postgres::Config, schema: &str) -> String {
    use ::postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, p)| match h {
            Host::Tcp(h) => format!("{h}:{p}"),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    format!(
        "postgres://{}/{} (schema {schema})",
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

/// A connection string with any password left out, for an error message about a string that did not parse.
fn redact(url: &str) -> String {
    let secret = |k: &str| k == "password" || k == "sslpassword";
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
        let host = base.rsplit_once('@').map_or(base, |(_, t)| t);
        // A password may be a query parameter too.
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty() && !secret(p.split_once('=').map_or(*p, |(k, _)| k)))
            .collect();
        return if kept.is_empty() {
            format!("postgres://{host}")
        } else {
            format!("postgres://{host}?{}", kept.join("&"))
        };
    }
    // Parsed, not split at spaces: `password = 'a b'` is one setting.
    match tls::key_values(url) {
        Ok(pairs) => pairs
            .iter()
            .filter(|(k, _)| !secret(k))
            .map(|(k, v)| {
                if v.chars()
                    .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
                {
                    format!("{k}={}", tls::quote(v))
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => "(a connection string that does not parse)".to_string(),
    }
}

fn migrate(conn: &mut Conn, schema: &str, place: &str) -> Result<(), StoreError> {
    // Two processes opening a new store at once: one migrates, the other waits and finds it done.
    let key = h64(&format!("vigil-migrate:{schema}"));
    conn.client.query("SELECT pg_advisory_lock($1)", &[&key])?;
    let out = (|| {
        conn.client
            .batch_execute("CREATE TABLE IF NOT EXISTS vigil_schema (version INTEGER NOT NULL)")?;
        let current: i64 = conn
            .client
            .query_opt("SELECT version FROM vigil_schema", &[])?
            .map(|r| i64::from(r.get::<_, i32>(0)))
            .unwrap_or(0);
        let supported = schema::MIGRATIONS.len() as i64;
        if current > supported {
            return Err(StoreError::TooNew {
                found: current,
                supported,
            });
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
            let mut tx = conn.client.transaction()?;
            tx.batch_execute(sql).map_err(|e| StoreError::Open {
                path: place.to_string(),
                reason: format!("migration {}: {e}", i + 1),
            })?;
            let v = i32::try_from(i + 1).map_err(|e| StoreError::Db(e.to_string()))?;
            tx.execute("DELETE FROM vigil_schema", &[])?;
            tx.execute("INSERT INTO vigil_schema (version) VALUES ($1)", &[&v])?;
            tx.commit()?;
        }
        Ok(())
    })();
    conn.client
        .query("SELECT pg_advisory_unlock($1)", &[&key])?;
    out
}

/// A key kind (`prepared::KEY_*`, small numbers) as stored.
fn key_kind(kind: i64) -> i16 {
    i16::try_from(kind).unwrap_or(i16::MAX)
}

fn tlp_rank(t: Option<Tlp>) -> Option<i16> {
    t.map(|t| t as i16)
}

fn tlp_from_rank(r: Option<i16>) -> Option<Tlp> {
    r.and_then(|r| Tlp::ALL.get(usize::try_from(r).ok()?).copied())
}

/// A search text as the index holds it: lower case, letters and digits, everything else a word break (as
/// SQLite's `unicode61` tokenizer splits, so that both backends find the same words: `lumma-c2.example` is
/// `lumma c2 example`).
pub(crate) fn fts_text(s: &str) -> String {
    let mut end = s.len().min(MAX_SEARCH_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end]
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                ' '
            }
        })
        .collect()
}

/// Most of a search text the index takes: PostgreSQL refuses a `tsvector` over 1 MiB (and so the whole
/// transaction), which the words of a few hundred KiB of text can reach. Longer texts are searched by their start.
const MAX_SEARCH_TEXT: usize = 256 * 1024;

/// A text as PostgreSQL stores it: its TEXT cannot hold NUL, which an input may carry (a warning list's
/// description, a file name); an error there would abort the whole write, so NUL becomes U+FFFD.
pub(crate) fn pg_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// `pg_text` of an optional text.
fn pg_opt(s: &Option<String>) -> Option<std::borrow::Cow<'_, str>> {
    s.as_deref().map(pg_text)
}

/// Longest word the index keeps (PostgreSQL refuses a query word over 2,047 bytes and skips such words when
/// indexing).
const MAX_WORD: usize = 2000;

/// A `to_tsquery` text for what an analyst typed: every whitespace-separated term must occur, a term of several
/// words (`lumma-c2.example`) as a phrase. None when no term has a letter or digit.
fn ts_query(query: &str) -> Option<String> {
    let terms: Vec<String> = query
        .split_whitespace()
        .filter_map(|term| {
            let words: Vec<String> = fts_text(term)
                .split_whitespace()
                .filter(|w| w.len() <= MAX_WORD)
                .map(str::to_string)
                .collect();
            (!words.is_empty()).then(|| format!("({})", words.join(" <-> ")))
        })
        .collect();
    (!terms.is_empty()).then(|| terms.join(" & "))
}

/// The graph ends a row is indexed by: a relationship's source and target, a sighting's sighted object.
fn ends(p: &Prepared) -> (Option<&str>, Option<&str>) {
    crate::prepared::ref_ends(&p.type_, &p.refs)
}

const ROW_COLS: &str = "seq, added_at, tlp, json";

/// The object JSON in column `i` of a row: stored packed ([`crate::packed`], as the SQLite backend stores it, a
/// quarter of the text), so that a bulk list writes a quarter of the heap and WAL.
fn json_at(r: &Row, i: usize) -> Result<String, StoreError> {
    let b: &[u8] = r.try_get(i)?;
    crate::packed::unpack(b).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn row_to_stored(r: &Row) -> Result<StoredObject, StoreError> {
    let json = json_at(r, 3)?;
    crate::common::stored_object(
        r.try_get(0)?,
        r.try_get(1)?,
        tlp_from_rank(r.try_get(2)?),
        &json,
    )
}

/// A write transaction on the writer connection, which holds the schema's writer lock.
struct PgTx<'c> {
    conn: &'c mut Conn,
    lock_key: i64,
    /// When this transaction's rows are added (RFC 3339, microseconds).
    now: String,
    /// Whether any link waits for its target; most stores have none, and asking for each key of each object
    /// would cost a round trip every time. None until first asked.
    links_wait: Option<bool>,
}

/// A version's column values, in the order both single-row inserts take them (`$1`-`$13`).
struct RowValues<'a> {
    p: &'a Prepared,
    version: &'a str,
    tlp: Option<i16>,
    now: &'a str,
    source: std::borrow::Cow<'a, str>,
    ingested_at: std::borrow::Cow<'a, str>,
    original_id: Option<std::borrow::Cow<'a, str>>,
    file: Option<std::borrow::Cow<'a, str>>,
    src: Option<&'a str>,
    dst: Option<&'a str>,
}

impl<'a> RowValues<'a> {
    fn new(p: &'a Prepared, version: &'a str, prov: &'a Provenance, now: &'a str) -> Self {
        let (src, dst) = ends(p);
        RowValues {
            p,
            version,
            tlp: tlp_rank(p.tlp),
            now,
            source: pg_text(&prov.source),
            ingested_at: pg_text(&prov.ingested_at),
            original_id: pg_opt(&prov.original_id),
            file: pg_opt(&prov.file),
            src,
            dst,
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.p.id,
            &self.p.type_,
            &self.version,
            &self.p.retired,
            &self.tlp,
            &self.now,
            &self.source,
            &self.ingested_at,
            &self.original_id,
            &self.file,
            &self.src,
            &self.dst,
            &self.p.packed,
        ]
    }
}

/// What `insert_latest` found.
enum Latest {
    Inserted,
    Stored { seq: i64, version: String },
}

impl PgTx<'_> {
    fn begin(&mut self) -> Result<(), StoreError> {
        self.conn.client.batch_execute("BEGIN")?;
        self.locked()
    }

    /// The rest of [`PgTx::begin`] once `BEGIN` is done: the schema's writer lock, then the commit time.
    fn locked(&mut self) -> Result<(), StoreError> {
        self.conn
            .query("SELECT pg_advisory_xact_lock($1)", &[&self.lock_key])?;
        // Taken once the lock is held, so that rows are added in the order writers commit.
        self.now = time::sort_key(&chrono::Utc::now());
        // Another writer may have come in since the last commit point.
        self.links_wait = None;
        Ok(())
    }

    /// Inserts a version that is not the latest one.
    fn insert_history(
        &mut self,
        p: &Prepared,
        version: &str,
        prov: &Provenance,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO objects (stix_id, type, version, latest, retired, tlp, added_at, source, ingested_at,
                original_id, file, src, dst, json, search)
             VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL)",
            &RowValues::new(p, version, prov, &self.now).params(),
        )?;
        Ok(())
    }

    /// Inserts `p` as the latest version of its id, with its look-up keys, unless the id has a latest version
    /// already: then nothing is written and that version is returned. One round trip either way, because most
    /// objects of an input are new and a round trip costs more than the server's work for them.
    fn insert_latest(
        &mut self,
        p: &Prepared,
        version: &str,
        prov: &Provenance,
    ) -> Result<Latest, StoreError> {
        let hashes: Vec<i64> = p.keys.iter().map(|(k, _)| h64(k)).collect();
        let kinds: Vec<i16> = p.keys.iter().map(|(_, kind)| key_kind(*kind)).collect();
        let search = fts_text(&p.search);
        let row = RowValues::new(p, version, prov, &self.now);
        let mut params = row.params().to_vec();
        params.extend([&search as &(dyn ToSql + Sync), &hashes, &kinds]);
        let rows = self.conn.query(
            "WITH cur AS (SELECT seq, version FROM objects WHERE stix_id = $1 AND latest),
             ins AS (
                INSERT INTO objects (stix_id, type, version, latest, retired, tlp, added_at, source, ingested_at,
                    original_id, file, src, dst, json, search)
                SELECT $1::TEXT, $2::TEXT, $3::TEXT, TRUE, $4::BOOLEAN, $5::SMALLINT, $6::TEXT, $7::TEXT, $8::TEXT,
                    $9::TEXT, $10::TEXT, $11::TEXT, $12::TEXT, $13::BYTEA,
                    CASE WHEN $14::TEXT = '' THEN NULL ELSE to_tsvector('simple', $14::TEXT) END
                WHERE NOT EXISTS (SELECT 1 FROM cur)
                ON CONFLICT DO NOTHING RETURNING seq),
             k AS (
                INSERT INTO keys (khash, seq, kind)
                SELECT u.h, ins.seq, u.k FROM ins, unnest($15::BIGINT[], $16::SMALLINT[]) AS u(h, k)
                ON CONFLICT DO NOTHING)
             SELECT TRUE, seq, NULL::TEXT FROM ins UNION ALL SELECT FALSE, seq, version FROM cur",
            &params,
        )?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Db(format!("{}: neither inserted nor stored", p.id)))?;
        if row.try_get::<_, bool>(0)? {
            Ok(Latest::Inserted)
        } else {
            Ok(Latest::Stored {
                seq: row.try_get(1)?,
                version: row.try_get(2)?,
            })
        }
    }

    /// Records a further source of a stored version (the first one is in the version's own row).
    fn add_provenance(&mut self, seq: i64, prov: &Provenance) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO provenance (seq, source, ingested_at, original_id, file)
             SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM objects WHERE seq = $1 AND source = $2)
             ON CONFLICT DO NOTHING",
            &[
                &seq,
                &pg_text(&prov.source),
                &pg_text(&prov.ingested_at),
                &pg_opt(&prov.original_id),
                &pg_opt(&prov.file),
            ],
        )?;
        Ok(())
    }
}

impl WriteTx for PgTx<'_> {
    fn put_prepared(
        &mut self,
        p: &Prepared,
        prov: &Provenance,
        mode: PutMode,
    ) -> Result<PutOutcome, StoreError> {
        let id = p.id.as_str();
        // Derived objects have no versions: the first one stored stays.
        let version = if mode == PutMode::Derived {
            ""
        } else {
            p.version.as_str()
        };
        let (seq, cur_version) = match self.insert_latest(p, version, prov)? {
            Latest::Inserted => return Ok(PutOutcome::Added),
            Latest::Stored { seq, version } => (seq, version),
        };
        if mode == PutMode::Derived {
            self.add_provenance(seq, prov)?;
            return Ok(PutOutcome::Unchanged);
        }
        match version_step(&cur_version, version, mode) {
            VersionStep::Keep => {
                self.add_provenance(seq, prov)?;
                return Ok(PutOutcome::Unchanged);
            }
            VersionStep::History => {}
            VersionStep::Replace => {
                self.conn.execute(
                    "WITH old AS (UPDATE objects SET latest = NULL, search = NULL WHERE seq = $1)
                     DELETE FROM keys WHERE seq = $1",
                    &[&seq],
                )?;
                match self.insert_latest(p, version, prov)? {
                    Latest::Inserted => return Ok(PutOutcome::Updated),
                    Latest::Stored { .. } => {
                        return Err(StoreError::Db(format!(
                            "{id}: the replaced version is still the latest"
                        )))
                    }
                }
            }
        }
        let old = self.conn.query_opt(
            // Not the latest one: its version differs (`version_step` kept it otherwise).
            "SELECT seq FROM objects WHERE stix_id = $1 AND version = $2 AND latest IS NULL",
            &[&id, &version],
        )?;
        if let Some(old) = old {
            self.add_provenance(old.try_get(0)?, prov)?;
            return Ok(PutOutcome::Unchanged);
        }
        self.insert_history(p, version, prov)?;
        Ok(PutOutcome::Historical)
    }

    fn put_derived_batch(
        &mut self,
        ps: &[Prepared],
        prov: &Provenance,
    ) -> Result<Vec<PutOutcome>, StoreError> {
        if ps.is_empty() {
            return Ok(Vec::new());
        }
        // One statement for the whole batch: a round trip per object would bound a bulk list by the network's
        // latency, not the server's work.
        let mut ids = Vec::with_capacity(ps.len());
        let mut types = Vec::with_capacity(ps.len());
        let mut retired = Vec::with_capacity(ps.len());
        let mut tlps = Vec::with_capacity(ps.len());
        let mut srcs = Vec::with_capacity(ps.len());
        let mut dsts = Vec::with_capacity(ps.len());
        let mut jsons = Vec::with_capacity(ps.len());
        let mut searches = Vec::with_capacity(ps.len());
        for p in ps {
            ids.push(p.id.as_str());
            types.push(p.type_.as_str());
            retired.push(p.retired);
            tlps.push(tlp_rank(p.tlp));
            let (src, dst) = ends(p);
            srcs.push(src);
            dsts.push(dst);
            jsons.push(p.packed.as_slice());
            searches.push(fts_text(&p.search));
        }
        let rows = self.conn.query(
            "INSERT INTO objects (stix_id, type, version, latest, retired, tlp, added_at, source, ingested_at,
                original_id, file, src, dst, json, search)
             SELECT u.id, u.ty, '', TRUE, u.retired, u.tlp, $9, $10, $11, $12, $13, u.src, u.dst, u.json,
                CASE WHEN u.search = '' THEN NULL ELSE to_tsvector('simple', u.search) END
             FROM unnest($1::TEXT[], $2::TEXT[], $3::BOOLEAN[], $4::SMALLINT[], $5::TEXT[], $6::TEXT[], $7::BYTEA[],
                $8::TEXT[]) WITH ORDINALITY AS u(id, ty, retired, tlp, src, dst, json, search, n)
             ORDER BY u.n
             ON CONFLICT DO NOTHING RETURNING seq, stix_id",
            &[
                &ids,
                &types,
                &retired,
                &tlps,
                &srcs,
                &dsts,
                &jsons,
                &searches,
                &self.now,
                &pg_text(&prov.source),
                &pg_text(&prov.ingested_at),
                &pg_opt(&prov.original_id),
                &pg_opt(&prov.file),
            ],
        )?;
        let mut added: HashMap<String, i64> = HashMap::with_capacity(rows.len());
        for r in &rows {
            added.insert(r.try_get(1)?, r.try_get(0)?);
        }
        let mut out = Vec::with_capacity(ps.len());
        let mut repeated: Vec<&str> = Vec::new();
        let (mut khash, mut kseq, mut kkind) = (Vec::new(), Vec::new(), Vec::new());
        for p in ps {
            // The first of an id's repeats in the batch is the one inserted.
            match added.remove(&p.id) {
                Some(seq) => {
                    for (k, kind) in &p.keys {
                        khash.push(h64(k));
                        kseq.push(seq);
                        kkind.push(key_kind(*kind));
                    }
                    out.push(PutOutcome::Added);
                }
                None => {
                    repeated.push(p.id.as_str());
                    out.push(PutOutcome::Unchanged);
                }
            }
        }
        if !khash.is_empty() {
            self.conn.execute(
                "INSERT INTO keys (khash, seq, kind) SELECT * FROM unnest($1::BIGINT[], $2::BIGINT[], $3::SMALLINT[])
                 ON CONFLICT DO NOTHING",
                &[&khash, &kseq, &kkind],
            )?;
        }
        if !repeated.is_empty() {
            self.conn.execute(
                "INSERT INTO provenance (seq, source, ingested_at, original_id, file)
                 SELECT o.seq, $2, $3, $4, $5 FROM objects o
                 WHERE o.stix_id = ANY($1::TEXT[]) AND o.latest AND o.source <> $2
                 ON CONFLICT DO NOTHING",
                &[
                    &repeated,
                    &pg_text(&prov.source),
                    &pg_text(&prov.ingested_at),
                    &pg_opt(&prov.original_id),
                    &pg_opt(&prov.file),
                ],
            )?;
        }
        Ok(out)
    }

    fn exists(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            // Every stored id has a latest version (`check` says so when one has not).
            .query_opt(
                "SELECT 1 FROM objects WHERE stix_id = $1 AND latest",
                &[&id],
            )?
            .is_some())
    }

    fn get(&mut self, id: &str) -> Result<Option<StoredObject>, StoreError> {
        get_latest(self.conn, id)
    }

    fn lookup_kinds(
        &mut self,
        types: &[&str],
        key: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        lookup_ids(self.conn, types, key)
    }

    fn relationships_from(
        &mut self,
        id: &str,
        relationship_type: &str,
    ) -> Result<Vec<StoredObject>, StoreError> {
        let rows = self.conn.query(
            "SELECT seq, added_at, tlp, json FROM objects
             WHERE src = $1 AND latest AND type = 'relationship' AND NOT retired ORDER BY seq",
            &[&id],
        )?;
        let mut out = Vec::new();
        for r in &rows {
            let o = row_to_stored(r)?;
            if o.object.str("relationship_type") == Some(relationship_type) {
                out.push(o);
            }
        }
        Ok(out)
    }

    fn put_pending_link(&mut self, keys: &[String], body: &str) -> Result<(), StoreError> {
        self.links_wait = Some(true);
        self.conn.execute(
            "INSERT INTO pending_links (body) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&body],
        )?;
        let id: i64 = self
            .conn
            .query_opt(
                "SELECT id FROM pending_links WHERE md5(body) = md5($1) AND body = $1",
                &[&body],
            )?
            .ok_or_else(|| StoreError::Db("a pending link vanished as it was written".into()))?
            .try_get(0)?;
        let hashes: Vec<i64> = keys.iter().map(|k| h64(&k.trim().to_lowercase())).collect();
        self.conn.execute(
            "INSERT INTO pending_link_keys (khash, id) SELECT unnest($1::BIGINT[]), $2 ON CONFLICT DO NOTHING",
            &[&hashes, &id],
        )?;
        Ok(())
    }

    fn pending_links(&mut self, key: &str) -> Result<Vec<(i64, String)>, StoreError> {
        // Only this transaction adds links while it holds the writer lock, so the answer stays true.
        let waiting = match self.links_wait {
            Some(w) => w,
            None => {
                let w: bool = self
                    .conn
                    .query_opt("SELECT EXISTS (SELECT 1 FROM pending_links)", &[])?
                    .ok_or_else(|| StoreError::Db("EXISTS returned no row".into()))?
                    .try_get(0)?;
                self.links_wait = Some(w);
                w
            }
        };
        if !waiting {
            return Ok(Vec::new());
        }
        let rows = self.conn.query(
            "SELECT p.id, p.body FROM pending_link_keys k JOIN pending_links p ON p.id = k.id
             WHERE k.khash = $1 ORDER BY p.id",
            &[&h64(&key.trim().to_lowercase())],
        )?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    fn drop_pending_link(&mut self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM pending_links WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn put_warninglist(&mut self, wl: &WarningList) -> Result<PutOutcome, StoreError> {
        let entries =
            serde_json::to_string(&wl.entries).map_err(|e| StoreError::Db(e.to_string()))?;
        let current = self.conn.query_opt(
            "SELECT version, entries FROM warninglists WHERE name = $1",
            &[&pg_text(&wl.name)],
        )?;
        let outcome = match current {
            None => PutOutcome::Added,
            Some(r) => {
                let (v, e): (i64, String) = (r.try_get(0)?, r.try_get(1)?);
                if v == wl.version && e == entries {
                    return Ok(PutOutcome::Unchanged);
                }
                PutOutcome::Updated
            }
        };
        let attrs = serde_json::to_string(&wl.matching_attributes)
            .map_err(|e| StoreError::Db(e.to_string()))?;
        self.conn.execute(
            "INSERT INTO warninglists (name, description, list_type, version, matching_attributes, entries)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description, list_type = EXCLUDED.list_type,
                version = EXCLUDED.version, matching_attributes = EXCLUDED.matching_attributes,
                entries = EXCLUDED.entries",
            &[
                &pg_text(&wl.name),
                &pg_text(&wl.description),
                &pg_text(&wl.list_type),
                &wl.version,
                &attrs,
                &entries,
            ],
        )?;
        Ok(outcome)
    }

    fn commit_point(&mut self) -> Result<(), StoreError> {
        // The writer lock goes with the commit, so another writer may come in between the parts.
        commit(self.conn)?;
        self.begin()
    }
}

/// Commits the writer's transaction, moving the change counter with it (see [`PostgresStore::change_count`]).
fn commit(conn: &mut Conn) -> Result<(), StoreError> {
    conn.client
        .batch_execute("UPDATE changes SET n = n + 1; COMMIT")?;
    Ok(())
}

/// Commits on `Ok`, rolls back on `Err`.
fn finish<T>(conn: &mut Conn, out: Result<T, StoreError>) -> Result<T, StoreError> {
    match out {
        Ok(v) => {
            commit(conn)?;
            Ok(v)
        }
        Err(e) => {
            // The connection may be gone (the error may be why); the server rolls back on its own then.
            let _ = conn.client.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}

impl PostgresStore {
    /// Runs `f` in one transaction of the knowledge-base writer (holding the schema's writer lock), so that it can
    /// put objects and touch other tables atomically, as the member and inbox operations do.
    fn write_raw<T>(
        &self,
        f: impl FnOnce(&mut PgTx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        blocking(|| {
            let mut guard = self.lock_writer()?;
            let conn = self.begun(&mut guard)?;
            let mut tx = PgTx {
                conn,
                lock_key: self.lock_key,
                now: String::new(),
                links_wait: None,
            };
            let out = tx.locked().and_then(|()| f(&mut tx));
            finish(tx.conn, out)
        })
    }

    /// Runs `f` in one transaction on the writer connection, holding the schema's writer lock (tables besides the
    /// knowledge base: members, notices, feeds, users).
    fn simple_write<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        blocking(|| {
            let mut guard = self.lock_writer()?;
            let conn = self.begun(&mut guard)?;
            let locked = conn
                .query("SELECT pg_advisory_xact_lock($1)", &[&self.lock_key])
                .map(|_| ());
            let out = locked.and_then(|()| f(conn));
            finish(conn, out)
        })
    }

    /// Runs `f` with the writer's client inside one transaction that holds the schema's writer lock, committed
    /// (moving the change counter) when `f` succeeds ([`crate::copy`] writes through it).
    pub(crate) fn with_client_tx<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.simple_write(|conn| f(&mut conn.client))
    }

    /// Runs `f` inside one read-only `REPEATABLE READ` transaction: everything it reads is one snapshot of the
    /// schema, whatever writers commit meanwhile ([`crate::copy::postgres_to_sqlite`] reads through it).
    pub(crate) fn with_snapshot<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // `f` runs once: a pooled connection found dead at BEGIN is replaced (see `with_reader`), but one lost
        // while `f` works is reported, since `f` may have written elsewhere what it read.
        let mut f = Some(f);
        let mut lost = None;
        self.with_reader(|conn| {
            conn.client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
            let Some(f) = f.take() else {
                return Err(StoreError::Db(format!(
                    "the connection to PostgreSQL was lost while reading the snapshot: {}",
                    lost.take().unwrap_or_default()
                )));
            };
            let out = f(&mut conn.client);
            let _ = conn.client.batch_execute("ROLLBACK");
            if let Err(e) = &out {
                lost = Some(e.to_string());
            }
            out
        })
    }

    /// A number that moves whenever any process commits to this schema: caches key on it.
    pub fn change_count(&self) -> Result<i64, StoreError> {
        self.with_reader(|c| {
            Ok(c.query_opt("SELECT n FROM changes", &[])?
                .map(|r| r.get::<_, i64>(0))
                .unwrap_or(0))
        })
    }
}

fn get_latest(conn: &mut Conn, id: &str) -> Result<Option<StoredObject>, StoreError> {
    conn.query_opt(
        "SELECT seq, added_at, tlp, json FROM objects WHERE stix_id = $1 AND latest",
        &[&id],
    )?
    .map(|r| row_to_stored(&r))
    .transpose()
}

fn lookup_ids(
    conn: &mut Conn,
    types: &[&str],
    key: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    let key = key.trim().to_lowercase();
    let mut out: Vec<(String, i64)> = Vec::new();
    if vigil_model::ids::is_valid_id(&key) {
        if let Some(r) = conn.query_opt(
            "SELECT stix_id FROM objects WHERE stix_id = $1 AND latest",
            &[&key],
        )? {
            out.push((r.try_get(0)?, crate::prepared::KEY_ID));
        }
    }
    let rows = conn.query(
        "SELECT o.stix_id, o.type, k.kind FROM keys k JOIN objects o ON o.seq = k.seq
         WHERE k.khash = $1 AND o.latest ORDER BY o.retired, k.kind, o.seq",
        &[&h64(&key)],
    )?;
    for r in &rows {
        let (id, ty, kind): (String, String, i16) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        if (types.is_empty() || types.contains(&ty.as_str())) && !out.iter().any(|(i, _)| *i == id)
        {
            out.push((id, i64::from(kind)));
        }
    }
    Ok(out)
}

/// Examples kept per kind of pending target in [`Stats::pending_links`].
const PENDING_EXAMPLES: usize = 5;

/// The pending links that wait for a target (not those that follow one), by the types they look for, each with
/// a few of the names they look for (never a STIX id, which says nothing to a reader).
fn pending_summary(conn: &mut Conn) -> Result<BTreeMap<String, PendingLinks>, StoreError> {
    let mut out: BTreeMap<String, PendingLinks> = BTreeMap::new();
    let st = conn.st("SELECT body FROM pending_links ORDER BY id")?;
    let rows = conn.client.query(&st, &[])?;
    for r in &rows {
        let body: String = r.try_get(0)?;
        let Ok(v) = serde_json::from_str::<Value>(&body) else {
            continue;
        };
        if v.get("follow") == Some(&Value::Bool(true)) {
            continue;
        }
        let strings = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let kinds = strings("target_types");
        let kind = if kinds.is_empty() {
            "any".to_string()
        } else {
            kinds.join("/")
        };
        let entry = out.entry(kind).or_default();
        entry.count += 1;
        if entry.examples.len() < PENDING_EXAMPLES {
            if let Some(k) = strings("keys").into_iter().find(|k| !k.contains("--")) {
                if !entry.examples.contains(&k) {
                    entry.examples.push(k);
                }
            }
        }
    }
    Ok(out)
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Closing a connection blocks on the driver too (a server drops its store inside its runtime).
        let writer = self.writer.get_mut().ok().and_then(Option::take);
        let readers = self
            .readers
            .get_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        blocking(move || drop((writer, readers)));
    }
}

impl Store for PostgresStore {
    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.write_raw(|tx| f(tx))
    }

    fn writers_waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) > 0
    }

    fn get(&self, id: &str) -> Result<Option<StoredObject>, StoreError> {
        self.with_reader(|c| get_latest(c, id))
    }

    fn versions(&self, id: &str) -> Result<Vec<StoredObject>, StoreError> {
        self.with_reader(|c| {
            c.query(
                // Each half has an index of its own (migration 2).
                "SELECT seq, added_at, tlp, json, version FROM objects WHERE stix_id = $1 AND latest
                 UNION ALL
                 SELECT seq, added_at, tlp, json, version FROM objects WHERE stix_id = $1 AND latest IS NULL
                 ORDER BY 5, 1",
                &[&id],
            )?
            .iter()
            .map(row_to_stored)
            .collect()
        })
    }

    fn provenance(&self, id: &str) -> Result<Vec<Provenance>, StoreError> {
        self.with_reader(|c| {
            c.query(
                "WITH v AS (
                    SELECT seq FROM objects WHERE stix_id = $1 AND latest
                    UNION ALL SELECT seq FROM objects WHERE stix_id = $1 AND latest IS NULL)
                 SELECT o.source, o.ingested_at, o.original_id, o.file FROM objects o JOIN v ON o.seq = v.seq
                 UNION ALL
                 SELECT p.source, p.ingested_at, p.original_id, p.file FROM provenance p JOIN v ON p.seq = v.seq
                 ORDER BY 2, 1",
                &[&id],
            )?
            .iter()
            .map(|r| {
                Ok(Provenance {
                    source: r.try_get(0)?,
                    ingested_at: r.try_get(1)?,
                    original_id: r.try_get(2)?,
                    file: r.try_get(3)?,
                })
            })
            .collect()
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
        let Some(tsq) = ts_query(query) else {
            return Ok(Vec::new());
        };
        let needle = query.trim().to_lowercase();
        let fetch = i64::try_from((limit * 4).max(50)).unwrap_or(i64::MAX);
        self.with_reader(|c| {
            let rows = c.query(
                "SELECT o.stix_id, o.type, o.json, ts_rank(o.search, q, 1)::FLOAT8, o.retired
                 FROM objects o, to_tsquery('simple', $1) q
                 WHERE o.latest AND o.search @@ q ORDER BY o.retired, 4 DESC LIMIT $2",
                &[&tsq, &fetch],
            )?;
            let mut hits = Vec::with_capacity(rows.len());
            for r in &rows {
                let json = json_at(r, 2)?;
                // ts_rank (normalised by the log of the text's length, as BM25 weighs short texts up) is a fraction;
                // scaled to BM25's range so that the exact-name bonus weighs the same.
                let rank: f64 = r.try_get::<_, f64>(3)? * 10.0;
                hits.push(crate::common::search_hit(
                    r.try_get(0)?,
                    r.try_get(1)?,
                    &json,
                    rank,
                    r.try_get(4)?,
                    &needle,
                ));
            }
            Ok(crate::common::rank_hits(hits, limit))
        })
    }

    fn related(&self, id: &str) -> Result<Vec<Related>, StoreError> {
        self.with_reader(|c| {
            let mut out = Vec::new();
            for dir in ["out", "in"] {
                let rows = if dir == "out" {
                    c.query(
                        "SELECT stix_id, type, json FROM objects WHERE src = $1 AND latest AND NOT retired ORDER BY seq",
                        &[&id],
                    )?
                } else {
                    c.query(
                        "SELECT stix_id, type, json FROM objects WHERE dst = $1 AND latest AND NOT retired ORDER BY seq",
                        &[&id],
                    )?
                };
                let mut edges = Vec::new();
                for r in &rows {
                    let (row_id, ty, json): (String, String, String) =
                        (r.try_get(0)?, r.try_get(1)?, json_at(r, 2)?);
                    edges.extend(crate::common::edge_of(id, dir, &row_id, &ty, &json)?);
                }
                for edge in edges {
                    let far = c.query_opt(
                        "SELECT json, retired FROM objects WHERE stix_id = $1 AND latest",
                        &[&edge.1],
                    )?;
                    let far: Option<(String, bool)> = far
                        .map(|r| Ok::<_, StoreError>((json_at(&r, 0)?, r.try_get(1)?)))
                        .transpose()?;
                    out.extend(crate::common::related_entry(
                        dir,
                        edge,
                        far.as_ref().map(|(j, r)| (j.as_str(), *r)),
                    ));
                }
            }
            Ok(out)
        })
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        self.with_reader(|c| {
            let mut s = Stats::default();
            for r in &c.query(
                "SELECT type, count(*) FROM objects WHERE latest AND NOT retired GROUP BY type",
                &[],
            )? {
                s.objects
                    .insert(r.try_get(0)?, r.try_get::<_, i64>(1)? as u64);
            }
            for r in &c.query(
                "SELECT source, count(*) FROM (
                    SELECT seq, source FROM objects WHERE latest AND NOT retired
                    UNION SELECT p.seq, p.source FROM provenance p JOIN objects o ON o.seq = p.seq
                    WHERE o.latest AND NOT o.retired) s GROUP BY source",
                &[],
            )? {
                s.sources
                    .insert(r.try_get(0)?, r.try_get::<_, i64>(1)? as u64);
            }
            for r in &c.query(
                "SELECT tlp, count(*) FROM objects WHERE latest AND NOT retired GROUP BY tlp",
                &[],
            )? {
                let name = tlp_from_rank(r.try_get(0)?)
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| "unmarked".into());
                s.tlp.insert(name, r.try_get::<_, i64>(1)? as u64);
            }
            let count = |c: &mut Conn, sql: &'static str| -> Result<u64, StoreError> {
                Ok(c.query_opt(sql, &[])?
                    .map(|r| r.try_get::<_, i64>(0))
                    .transpose()?
                    .unwrap_or(0) as u64)
            };
            s.versions = count(c, "SELECT count(*) FROM objects")?;
            s.warninglists = count(c, "SELECT count(*) FROM warninglists")?;
            s.pending_links = pending_summary(c)?;
            Ok(s)
        })
    }

    fn scan(
        &self,
        filter: &ScanFilter,
        f: &mut dyn FnMut(StoredObject) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut sql = format!("SELECT {ROW_COLS} FROM objects WHERE latest");
        if !filter.include_retired {
            sql.push_str(" AND NOT retired");
        }
        if let Some(max) = filter.tlp_max {
            let default = filter.default_tlp.unwrap_or(Tlp::Amber);
            let rank = max as i16;
            if default <= max {
                sql.push_str(&format!(" AND (tlp IS NULL OR tlp <= {rank})"));
            } else {
                sql.push_str(&format!(" AND tlp <= {rank}"));
            }
        }
        if let Some(after) = filter.after_seq {
            sql.push_str(&format!(" AND seq > {after}"));
        }
        if !filter.types.is_empty() {
            sql.push_str(" AND type = ANY($1::TEXT[])");
        } else {
            sql.push_str(" AND $1::TEXT[] IS NOT NULL");
        }
        sql.push_str(" ORDER BY seq");
        if let Some(l) = filter.limit {
            sql.push_str(&format!(" LIMIT {l}"));
        }
        self.with_reader(|c| {
            // A portal streams the rows in batches: a whole store would otherwise arrive at once.
            let mut tx = c.client.build_transaction().read_only(true).start()?;
            let portal = tx.bind(sql.as_str(), &[&filter.types])?;
            loop {
                let rows = tx.query_portal(&portal, SCAN_BATCH)?;
                if rows.is_empty() {
                    break;
                }
                for r in &rows {
                    f(row_to_stored(r)?)?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn sourced(&self, source: &str) -> Result<Vec<Sourced>, StoreError> {
        self.with_reader(|c| {
            // Each object's other sources in the same statement: a source's retraction reads tens of thousands.
            let rows = c.query(
                "WITH s AS (
                    SELECT seq, stix_id, type, file FROM objects WHERE latest AND NOT retired AND source = $1
                    UNION ALL
                    SELECT o.seq, o.stix_id, o.type, p.file FROM provenance p JOIN objects o ON o.seq = p.seq
                    WHERE p.source = $1 AND o.latest AND NOT o.retired)
                 SELECT s.seq, s.stix_id, s.type, s.file,
                    ARRAY(SELECT o.source FROM objects o WHERE o.seq = s.seq
                          UNION SELECT p.source FROM provenance p WHERE p.seq = s.seq)
                 FROM s ORDER BY 1",
                &[&source],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let file: Option<String> = r.try_get(3)?;
                let mut others: Vec<String> = r.try_get(4)?;
                others.retain(|n| n != source);
                others.sort();
                others.dedup();
                out.push(Sourced {
                    id: r.try_get(1)?,
                    type_: r.try_get(2)?,
                    files: file.into_iter().collect(),
                    other_sources: others,
                });
            }
            Ok(out)
        })
    }

    fn warninglists(&self) -> Result<Vec<WarningList>, StoreError> {
        self.with_reader(|c| {
            c.query(
                "SELECT name, description, list_type, version, matching_attributes, entries FROM warninglists
                 ORDER BY name",
                &[],
            )?
            .iter()
            .map(|r| {
                let attrs: String = r.try_get(4)?;
                let entries: String = r.try_get(5)?;
                Ok(WarningList {
                    name: r.try_get(0)?,
                    description: r.try_get(1)?,
                    list_type: r.try_get(2)?,
                    version: r.try_get(3)?,
                    matching_attributes: serde_json::from_str(&attrs).unwrap_or_default(),
                    entries: serde_json::from_str(&entries)
                        .map_err(|e| StoreError::Corrupt(format!("warning list: {e}")))?,
                })
            })
            .collect()
        })
    }

    fn check(&self) -> Result<Vec<String>, StoreError> {
        const INVARIANTS: &[(&str, &str)] = &[
            (
                "SELECT count(*) FROM (SELECT stix_id FROM objects WHERE latest GROUP BY stix_id HAVING count(*) > 1) x",
                "ids with more than one latest version",
            ),
            (
                "SELECT count(*) FROM (SELECT DISTINCT stix_id FROM objects WHERE latest IS NULL) h
                 WHERE NOT EXISTS (SELECT 1 FROM objects o WHERE o.stix_id = h.stix_id AND o.latest)",
                "ids with versions but no latest version",
            ),
            (
                "SELECT count(*) FROM keys k WHERE NOT EXISTS (SELECT 1 FROM objects o WHERE o.seq = k.seq AND o.latest)",
                "lookup keys of versions that are not the latest",
            ),
            (
                "SELECT count(*) FROM objects WHERE latest IS NULL AND search IS NOT NULL",
                "older versions still in the search index",
            ),
        ];
        self.with_reader(|c| {
            let mut problems = Vec::new();
            for (sql, what) in INVARIANTS {
                let n: i64 = c
                    .query_opt(sql, &[])?
                    .map(|r| r.try_get(0))
                    .transpose()?
                    .unwrap_or(0);
                if n > 0 {
                    problems.push(format!("{n} {what}"));
                }
            }
            // The server vouches for its pages; whether each row still reads as an object is Vigil's to check.
            let mut tx = c.client.build_transaction().read_only(true).start()?;
            let portal = tx.bind("SELECT seq, json FROM objects", &[])?;
            let (mut bad, mut first) = (0u64, Vec::new());
            loop {
                let rows = tx.query_portal(&portal, SCAN_BATCH)?;
                if rows.is_empty() {
                    break;
                }
                for r in &rows {
                    let seq: i64 = r.try_get(0)?;
                    let parsed = json_at(r, 1).and_then(|j| {
                        serde_json::from_str::<serde::de::IgnoredAny>(&j)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))
                    });
                    if let Err(e) = parsed {
                        bad += 1;
                        if first.len() < 5 {
                            first.push(format!("seq {seq}: {e}"));
                        }
                    }
                }
            }
            tx.commit()?;
            if bad > 0 {
                problems.push(format!(
                    "{bad} objects whose JSON does not parse ({})",
                    first.join("; ")
                ));
            }
            Ok(problems)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_splits_like_sqlite() {
        assert_eq!(fts_text("Lumma-C2.example"), "lumma c2 example");
        assert_eq!(
            ts_query("lumma-c2.example  infostealer").as_deref(),
            Some("(lumma <-> c2 <-> example) & (infostealer)")
        );
        // Operators of to_tsquery are word breaks, never syntax.
        assert_eq!(
            ts_query("\"unbalanced AND (").as_deref(),
            Some("(unbalanced) & (and)")
        );
        assert_eq!(ts_query("!!! ()"), None);
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgres://vigil:s3cret@db.example:5432/vigil"),
            "postgres://db.example:5432/vigil"
        );
        assert_eq!(
            redact("host=db user=vigil password=s3cret dbname=vigil"),
            "host=db user=vigil dbname=vigil"
        );
        // Spaces around `=` and quoted values hide nothing of the password.
        for s in [
            "host=db user=vigil password = s3cret dbname=vigil",
            "host=db user=vigil password='s3cret and more' dbname=vigil",
        ] {
            assert_eq!(redact(s), "host=db user=vigil dbname=vigil", "{s}");
        }
        assert_eq!(
            redact("host=db password='s3cret"),
            "(a connection string that does not parse)"
        );
        assert_eq!(
            redact("postgresql://db.example/kb?password=s3cret&sslmode=require"),
            "postgres://db.example/kb?sslmode=require"
        );
        let c: ::postgres::Config = "postgres://vigil:s3cret@db.example/kb"
            .parse()
            .expect("a URL");
        let d = describe(&c, "vigil");
        assert_eq!(d, "postgres://db.example:5432/kb (schema vigil)");
        assert!(!d.contains("s3cret"));
    }
}
