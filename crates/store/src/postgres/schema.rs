//! Versioned schema migrations of the PostgreSQL backend. Each entry runs once, in order, inside a transaction;
//! `vigil_schema.version` records how far a schema has come. Never edit a released migration: add a new one.

// Unlike the SQLite backend, ids are indexed as text (PostgreSQL's B-trees handle them well and a hash would save
// little) and the latest version of an id is the row with `latest = TRUE` (older versions hold NULL): a partial
// unique index both guarantees one latest version and lets a derived object be stored with one `INSERT .. ON
// CONFLICT DO NOTHING`. Lookup keys are indexed by the same 64-bit FNV-1a hash as in SQLite (`crate::prepared::
// h64`): a key may be a long URL, and a B-tree entry must fit a third of a page. Each row holds its first
// provenance; `provenance` holds further sources. The search text is a `tsvector` of the latest version only. The
// object's JSON is stored packed (`crate::packed`, LZ4 against a fixed dictionary, as in SQLite): a bulk-list row's
// ~350 bytes of text become ~85, and the heap and its WAL shrink with them.
pub const MIGRATIONS: &[&str] = &[
    // 1: the knowledge base: objects with every version, provenance, lookup keys, pending links, warning lists.
    r#"
    CREATE TABLE objects (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        stix_id TEXT NOT NULL,
        type TEXT NOT NULL,
        version TEXT NOT NULL,
        latest BOOLEAN CHECK (latest),
        retired BOOLEAN NOT NULL,
        tlp SMALLINT,
        added_at TEXT NOT NULL,
        source TEXT NOT NULL,
        ingested_at TEXT NOT NULL,
        original_id TEXT,
        file TEXT,
        src TEXT,
        dst TEXT,
        json BYTEA NOT NULL,
        search TSVECTOR
    );
    CREATE UNIQUE INDEX objects_latest ON objects (stix_id) WHERE latest;
    CREATE INDEX objects_id_version ON objects (stix_id, version);
    CREATE INDEX objects_src ON objects (src) WHERE latest AND src IS NOT NULL;
    CREATE INDEX objects_dst ON objects (dst) WHERE latest AND dst IS NOT NULL;
    CREATE INDEX objects_type_seq ON objects (type, seq) WHERE latest;
    CREATE INDEX objects_search ON objects USING GIN (search) WHERE latest;
    CREATE TABLE provenance (
        seq BIGINT NOT NULL REFERENCES objects (seq),
        source TEXT NOT NULL,
        ingested_at TEXT NOT NULL,
        original_id TEXT,
        file TEXT,
        PRIMARY KEY (seq, source)
    );
    CREATE INDEX provenance_source ON provenance (source);
    CREATE TABLE keys (
        khash BIGINT NOT NULL,
        seq BIGINT NOT NULL REFERENCES objects (seq),
        kind SMALLINT NOT NULL,
        PRIMARY KEY (khash, seq)
    );
    CREATE INDEX keys_seq ON keys (seq);
    CREATE TABLE pending_links (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body TEXT NOT NULL);
    CREATE UNIQUE INDEX pending_links_body ON pending_links (md5(body));
    CREATE TABLE pending_link_keys (
        khash BIGINT NOT NULL,
        id BIGINT NOT NULL REFERENCES pending_links (id) ON DELETE CASCADE,
        PRIMARY KEY (khash, id)
    );
    CREATE INDEX pending_link_keys_id ON pending_link_keys (id);
    CREATE TABLE warninglists (
        name TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        list_type TEXT NOT NULL,
        version BIGINT NOT NULL,
        matching_attributes TEXT NOT NULL,
        entries TEXT NOT NULL
    );
    "#,
    // 2: older versions alone in the (id, version) index. The latest version is found through `objects_latest`;
    // indexing every row twice by its random id cost a third of a bulk list's insert time (1M indicators: an
    // index as large as the table, written at random places).
    r#"
    DROP INDEX objects_id_version;
    CREATE INDEX objects_history ON objects (stix_id, version) WHERE latest IS NULL;
    "#,
    // 3: a counter every writer's commit moves, which readers in any process compare to see whether anything
    // changed (the SQLite backend reads `PRAGMA data_version` for this).
    r#"
    CREATE TABLE changes (n BIGINT NOT NULL);
    INSERT INTO changes (n) VALUES (0);
    "#,
    // 4: members, tokens, sharing, inboxes, members' own collections, status resources, audit, eligibility.
    super::members::SCHEMA,
    // 5: vulnerability notices (advisories, EPSS scores, inventories, notices and their versions) and their
    // delivery (channels, deliveries).
    super::vuln::SCHEMA,
    // 6: dashboard users and sessions.
    super::web::SCHEMA,
    // 7: scheduled feeds, their cursors and (in the feed's row) a CSAF feed's trusted keys.
    super::feeds::SCHEMA,
    // 8: who is pulling a feed (a lease per feed, in its row), so that servers sharing the store pull it one at a
    // time.
    super::feeds::LEASE_SCHEMA,
];
