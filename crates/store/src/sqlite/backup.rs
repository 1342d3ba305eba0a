//! Backups of the embedded store (`vigil store backup` / `vigil store restore`).
//!
//! Copying `vigil.db` while Vigil runs is not a backup: in WAL mode the newest commits live in `vigil.db-wal` until
//! a checkpoint, and a file copied mid-checkpoint is torn. `VACUUM INTO` writes one consistent snapshot (a read
//! transaction: writers go on, and what they commit after it began is not in the backup) into a new file in
//! rollback mode, compacted, with nothing beside it. The backup is written under a temporary name, checked as
//! [`crate::Store::check`] checks a live store, made durable, and only then given its name: a backup file that
//! exists under its name is complete and was checked.
//!
//! A restore checks the file the same way before it becomes `vigil.db`, and never replaces a store that exists.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::Connection;
use serde::Serialize;

use super::{schema, SqliteStore};
use crate::StoreError;

/// What a backup holds, read back from the file itself.
#[derive(Debug, Clone, Serialize)]
pub struct BackupInfo {
    pub file: String,
    pub bytes: u64,
    pub schema_version: i64,
    /// Objects (latest versions, retired ones included) and every version of them.
    pub objects: u64,
    pub versions: u64,
    /// Rows per table, Vigil's tables only, by name.
    pub tables: Vec<TableRows>,
    /// What the consistency check found (empty: the file is sound).
    pub problems: Vec<String>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableRows {
    pub table: String,
    pub rows: u64,
}

impl BackupInfo {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// `FILE.partial`, beside `FILE`: a rename within one directory is atomic.
fn partial_of(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

fn io(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Aborted(format!("{what} {}: {e}", path.display()))
}

/// Flushes a file and the directory entry that names it to disk.
pub(crate) fn sync(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(path, "cannot flush", e))?;
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| io(dir, "cannot flush the directory", e))?;
    }
    Ok(())
}

/// Refuses a data directory that holds a store (or what is left of one: its journal files), saying `advice`.
pub(crate) fn refuse_store_in(dir: &Path, advice: &str) -> Result<(), StoreError> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let p = dir.join(format!("vigil.db{suffix}"));
        if p.exists() {
            return Err(StoreError::Aborted(format!(
                "{} exists: {advice}",
                p.display()
            )));
        }
    }
    Ok(())
}

/// Gives the complete file `partial` its name `to`. A link, not a rename: it fails rather than replace a file
/// that appeared under the name meanwhile (a store another process created, a backup of the same name).
pub(crate) fn give_name(partial: &Path, to: &Path) -> Result<(), StoreError> {
    match std::fs::hard_link(partial, to) {
        Ok(()) => {
            let _ = std::fs::remove_file(partial);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(io(to, "a file appeared meanwhile at", e))
        }
        // A file system without hard links (FAT, some network shares).
        Err(_) => std::fs::rename(partial, to).map_err(|e| io(to, "cannot name", e)),
    }
}

/// Removes a file Vigil made under a temporary name, with its journal files, if they exist.
pub(crate) fn remove_with_journals(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

impl SqliteStore {
    /// Writes a consistent copy of the store to `out`, which must not exist, and checks it. Other handles (a
    /// running `vigil serve`) may go on writing meanwhile.
    pub fn backup(&self, out: &Path) -> Result<BackupInfo, StoreError> {
        let started = Instant::now();
        if out.exists() {
            return Err(StoreError::Aborted(format!(
                "{} exists: name a new file (a backup never overwrites one)",
                out.display()
            )));
        }
        if out.is_dir() || out.as_os_str().is_empty() {
            return Err(StoreError::Aborted(format!(
                "{} is not a file name",
                out.display()
            )));
        }
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(StoreError::Aborted(format!(
                    "{}: no such directory to write the backup in",
                    dir.display()
                )));
            }
        }
        let partial = partial_of(out);
        // Left by a backup that was killed: ours by its name, and never a backup (it had no name yet).
        remove_with_journals(&partial);
        let target = partial.to_str().ok_or_else(|| {
            StoreError::Aborted(format!("{}: the path is not UTF-8", out.display()))
        })?;
        let written = self.with_reader(|c| {
            c.execute("VACUUM INTO ?1", [target])?;
            Ok(())
        });
        let checked = written.and_then(|()| inspect(&partial));
        let mut info = match checked {
            Ok(info) if info.ok() => info,
            Ok(info) => {
                remove_with_journals(&partial);
                return Err(StoreError::Corrupt(format!(
                    "the backup written from {} does not pass the check, so none was kept: {} (run `vigil check`)",
                    self.path.display(),
                    info.problems.join("; ")
                )));
            }
            Err(e) => {
                remove_with_journals(&partial);
                return Err(e);
            }
        };
        sync(&partial)?;
        if let Err(e) = give_name(&partial, out) {
            remove_with_journals(&partial);
            return Err(e);
        }
        sync(out)?;
        info.file = out.display().to_string();
        info.seconds = started.elapsed().as_secs_f64();
        Ok(info)
    }
}

/// Checks that `file` is a Vigil store this Vigil can open and that it is sound, and says what it holds. The file
/// is opened for reading only; nothing is written beside it.
pub fn inspect(file: &Path) -> Result<BackupInfo, StoreError> {
    let started = Instant::now();
    let bad = |reason: String| StoreError::Open {
        path: file.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(file).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a file".into()));
    }
    let mut head = [0u8; 16];
    {
        use std::io::Read;
        let mut f = File::open(file).map_err(|e| bad(e.to_string()))?;
        f.read_exact(&mut head)
            .map_err(|_| bad("too short to be a Vigil store".into()))?;
    }
    if &head != b"SQLite format 3\0" {
        return Err(bad("not a Vigil store (not an SQLite database)".into()));
    }
    // A store copied raw while Vigil ran has its newest commits in the -wal file beside it: the file alone is
    // not the store, and restoring it would lose them.
    for suffix in ["-wal", "-journal"] {
        let mut p = file.as_os_str().to_os_string();
        p.push(suffix);
        if Path::new(&p).exists() {
            return Err(bad(format!(
                "{} is beside it: this is a live store (or a copy of one with its journal), not a backup; make one \
                 with `vigil store backup`",
                Path::new(&p).display()
            )));
        }
    }
    // Immutable: read without locks and without -shm or -wal files appearing beside a backup (which may sit on
    // read-only media).
    let c = Connection::open_with_flags(
        immutable_uri(file),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
            | rusqlite::OpenFlags::SQLITE_OPEN_URI
            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| bad(e.to_string()))?;
    // Read through a memory map: the check visits every page, and through the page cache's reads a 750 MB store
    // took 9.0 s against 5.9 s (half of it system time).
    c.execute_batch("PRAGMA mmap_size=1073741824;")
        .map_err(|e| bad(e.to_string()))?;
    describe(&c, file, meta.len(), started, true).map_err(|e| match e {
        StoreError::Db(reason) => bad(reason),
        e => e,
    })
}

/// `file:PATH?immutable=1`, with the characters a URI gives meaning escaped.
fn immutable_uri(file: &Path) -> String {
    use percent_encoding::{utf8_percent_encode, CONTROLS};
    const MEANINGFUL: &percent_encoding::AsciiSet = &CONTROLS.add(b'%').add(b'?').add(b'#');
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    format!(
        "file:{}?immutable=1",
        utf8_percent_encode(&abs.to_string_lossy(), MEANINGFUL)
    )
}

/// What the store behind `c` holds, and what its check finds.
fn describe(
    c: &Connection,
    file: &Path,
    bytes: u64,
    started: Instant,
    check: bool,
) -> Result<BackupInfo, StoreError> {
    let bad = |reason: String| StoreError::Open {
        path: file.display().to_string(),
        reason,
    };
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| bad(e.to_string()))?;
    let supported = schema::MIGRATIONS.len() as i64;
    if version > supported {
        return Err(StoreError::TooNew {
            found: version,
            supported,
        });
    }
    let has_objects: bool = c
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'objects')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| bad(e.to_string()))?;
    if version < 1 || !has_objects {
        return Err(bad("not a Vigil store (no knowledge base in it)".into()));
    }
    let problems = if check {
        super::check_conn(c)?
    } else {
        Vec::new()
    };
    let mut tables = Vec::new();
    let names: Vec<String> = c
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'fts%' AND name NOT LIKE 'sqlite_%'
             ORDER BY 1",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for t in names {
        let n: i64 = c.query_row(
            &format!("SELECT count(*) FROM \"{}\"", t.replace('"', "\"\"")),
            [],
            |r| r.get(0),
        )?;
        tables.push(TableRows {
            table: t,
            rows: u64::try_from(n).unwrap_or(0),
        });
    }
    let objects: i64 = c.query_row("SELECT count(*) FROM objects WHERE lk = 0", [], |r| {
        r.get(0)
    })?;
    let versions = tables
        .iter()
        .find(|t| t.table == "objects")
        .map_or(0, |t| t.rows);
    Ok(BackupInfo {
        file: file.display().to_string(),
        bytes,
        schema_version: version,
        objects: u64::try_from(objects).unwrap_or(0),
        versions,
        tables,
        problems,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Makes the backup `file` the store of the data directory `dir`, which must hold none, after checking it; then
/// opens it (migrating a backup of an older Vigil) and returns what it holds.
pub fn restore(file: &Path, dir: &Path) -> Result<BackupInfo, StoreError> {
    let started = Instant::now();
    let db = dir.join("vigil.db");
    refuse_store_in(
        dir,
        &format!(
            "a restore never replaces a store. Stop every Vigil process on {}, move vigil.db (with vigil.db-wal and \
             vigil.db-shm) out of it, then restore",
            dir.display()
        ),
    )?;
    let info = inspect(file)?;
    if !info.ok() {
        return Err(StoreError::Corrupt(format!(
            "{} does not pass the check, so it was not restored: {}",
            file.display(),
            info.problems.join("; ")
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| io(dir, "cannot create", e))?;
    let partial = partial_of(&db);
    remove_with_journals(&partial);
    std::fs::copy(file, &partial).map_err(|e| io(&partial, "cannot write", e))?;
    // A store copied raw from a running Vigil says WAL in its header; the copy becomes a plain file first, so that
    // nothing of the place it came from is looked for beside it.
    let settled = Connection::open(&partial)
        .and_then(|c| c.execute_batch("PRAGMA journal_mode=DELETE;"))
        .map_err(|e| StoreError::Open {
            path: partial.display().to_string(),
            reason: e.to_string(),
        });
    if let Err(e) = settled.and_then(|()| sync(&partial)) {
        remove_with_journals(&partial);
        return Err(e);
    }
    if let Err(e) = give_name(&partial, &db) {
        remove_with_journals(&partial);
        return Err(e);
    }
    sync(&db)?;
    // Opening migrates a backup of an older Vigil; what it holds is then read from the restored store.
    let store = SqliteStore::open(dir)?;
    let bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    // The file was checked before it was copied, byte for byte: what is left to read is what it holds now that
    // any migrations ran (checking it all again doubled a restore's time).
    store.with_reader(|c| describe(c, &db, bytes, started, false))
}
