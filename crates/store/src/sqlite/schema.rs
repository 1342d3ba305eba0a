//! Versioned schema migrations. Each entry runs once, in order, inside a transaction; `PRAGMA user_version`
//! records how far a database has come. Never edit a released migration: add a new one.

pub const MIGRATIONS: &[&str] = &[
    // 1: objects with every version, provenance, lookup keys, graph edges, full-text index, warning lists.
    r#"
    CREATE TABLE objects (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        stix_id TEXT NOT NULL,
        type TEXT NOT NULL,
        version TEXT NOT NULL,
        is_latest INTEGER NOT NULL,
        retired INTEGER NOT NULL DEFAULT 0,
        tlp INTEGER,
        added_at TEXT NOT NULL,
        json TEXT NOT NULL
    );
    CREATE UNIQUE INDEX objects_id_version ON objects(stix_id, version);
    CREATE TABLE provenance (
        seq INTEGER NOT NULL,
        source TEXT NOT NULL,
        ingested_at TEXT NOT NULL,
        original_id TEXT,
        file TEXT,
        PRIMARY KEY (seq, source)
    ) WITHOUT ROWID;
    CREATE TABLE keys (
        key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        PRIMARY KEY (key, seq)
    ) WITHOUT ROWID;
    CREATE TABLE edges (
        rel_seq INTEGER PRIMARY KEY,
        source_id TEXT NOT NULL,
        target_id TEXT NOT NULL,
        rel_type TEXT NOT NULL
    );
    CREATE INDEX edges_source ON edges(source_id);
    CREATE INDEX edges_target ON edges(target_id);
    CREATE VIRTUAL TABLE fts USING fts5(text, content='', contentless_delete=1, tokenize="unicode61 remove_diacritics 2");
    CREATE TABLE warninglists (
        name TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        list_type TEXT NOT NULL,
        version INTEGER NOT NULL,
        matching_attributes TEXT NOT NULL,
        entries TEXT NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO fts(fts, rank) VALUES('hashsize', 33554432);
    INSERT INTO fts(fts, rank) VALUES('automerge', 8);
    "#,
];
