//! Versioned schema migrations. Each entry runs once, in order, inside a transaction; `PRAGMA user_version`
//! records how far a database has come. Never edit a released migration: add a new one.

// Graph edges are the relationship (and sighting) rows themselves: `src`/`dst` hold the hashed ends. A partial index
// over the latest versions makes `dst` an adjacency list (a superseded version leaves it by itself); sources are
// listed in `edge_src` (migration 8), read through a join that keeps latest versions only.
// `seq` is never reused: rows are never deleted, so SQLite's max(rowid)+1 only grows (TAXII paging keys on it).
// `lk` is 0 for the latest version of an id and NULL for older ones: the one unique index (hid, lk) both finds
// every version of an id and guarantees a single latest one, so a derived object is stored with one
// `INSERT .. ON CONFLICT DO NOTHING` and no look-up first. The first provenance of a version lives in its row;
// `provenance` holds further sources only.
// Ids and lookup keys are indexed by a 64-bit FNV-1a hash rather than their text: the indexes stay a quarter
// of the size, so a million-indicator ingest keeps them in cache. Queries also compare the text where it is
// stored (ids), so a hash collision can cost a lookup, never a wrong answer for ids.
pub const MIGRATIONS: &[&str] = &[
    // 1: objects with every version, provenance, lookup keys, graph edges, full-text index, warning lists.
    r#"
    CREATE TABLE objects (
        seq INTEGER PRIMARY KEY,
        hid INTEGER NOT NULL,
        lk INTEGER,
        stix_id TEXT NOT NULL,
        type TEXT NOT NULL,
        version TEXT NOT NULL,
        retired INTEGER NOT NULL DEFAULT 0,
        tlp INTEGER,
        added_at TEXT NOT NULL,
        source TEXT NOT NULL,
        ingested_at TEXT NOT NULL,
        original_id TEXT,
        file TEXT,
        src INTEGER,
        dst INTEGER,
        json TEXT NOT NULL
    );
    CREATE UNIQUE INDEX objects_hid_lk ON objects(hid, lk);
    CREATE INDEX objects_src ON objects(src) WHERE src IS NOT NULL AND lk = 0;
    CREATE INDEX objects_dst ON objects(dst) WHERE dst IS NOT NULL AND lk = 0;
    CREATE TABLE provenance (
        seq INTEGER NOT NULL,
        source TEXT NOT NULL,
        ingested_at TEXT NOT NULL,
        original_id TEXT,
        file TEXT,
        PRIMARY KEY (seq, source)
    ) WITHOUT ROWID;
    CREATE TABLE keys (
        khash INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        PRIMARY KEY (khash, seq)
    ) WITHOUT ROWID;
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
    // 2: members and their tokens, sharing, member inboxes, TAXII status resources, the audit trail, the
    // administrator's additions to the eligibility policy, and a (type, seq) index so that TAXII pages filtered
    // by type read only matching rows. Inbox rows have their own never-reused sequence (AUTOINCREMENT).
    r#"
    CREATE TABLE members (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        country TEXT NOT NULL,
        kind TEXT NOT NULL,
        identity_id TEXT NOT NULL UNIQUE,
        operator INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX members_one_operator ON members(operator) WHERE operator = 1;
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        member_id INTEGER NOT NULL,
        role TEXT NOT NULL,
        lookup TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        revoked_at TEXT
    );
    CREATE TABLE shares (
        id INTEGER PRIMARY KEY,
        hid INTEGER NOT NULL,
        object_id TEXT NOT NULL,
        member_id INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (hid, member_id, object_id)
    );
    CREATE INDEX shares_member ON shares(member_id);
    CREATE TABLE inbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        member_id INTEGER NOT NULL,
        stix_id TEXT NOT NULL,
        type TEXT NOT NULL,
        version TEXT NOT NULL,
        added_at TEXT NOT NULL,
        json TEXT NOT NULL,
        promoted_at TEXT,
        UNIQUE (member_id, stix_id, version)
    );
    CREATE INDEX inbox_member_seq ON inbox(member_id, seq);
    CREATE INDEX inbox_id ON inbox(stix_id);
    CREATE TABLE taxii_status (id TEXT PRIMARY KEY, member_id INTEGER NOT NULL, created_at TEXT NOT NULL, json TEXT NOT NULL);
    CREATE TABLE audit (id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL);
    CREATE TABLE eligibility_extra (country TEXT PRIMARY KEY, note TEXT NOT NULL, added_at TEXT NOT NULL);
    CREATE INDEX objects_type_seq ON objects(type, seq) WHERE lk = 0;
    "#,
    // 3: vulnerability notices: normalised advisories (the index is built from them), EPSS scores, members'
    // inventories (the imported file, re-read at evaluation), notices with every version and their lifecycle.
    r#"
    CREATE TABLE vuln_advisories (
        key TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        canonical TEXT NOT NULL,
        tlp INTEGER,
        json TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX vuln_advisories_canonical ON vuln_advisories(canonical);
    CREATE TABLE vuln_epss (
        cve TEXT PRIMARY KEY,
        epss REAL NOT NULL,
        percentile REAL NOT NULL,
        score_date TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE inventories (
        id INTEGER PRIMARY KEY,
        member_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        format TEXT NOT NULL,
        components INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        imported_at TEXT NOT NULL,
        content BLOB NOT NULL,
        UNIQUE (member_id, name)
    );
    CREATE TABLE notices (
        id TEXT PRIMARY KEY,
        member_id INTEGER NOT NULL,
        vulnerability TEXT NOT NULL,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        priority TEXT NOT NULL,
        deadline TEXT,
        fingerprint TEXT NOT NULL,
        tlp INTEGER,
        json TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        acknowledged_at TEXT,
        resolved_at TEXT,
        status_note TEXT,
        UNIQUE (member_id, vulnerability)
    );
    CREATE INDEX notices_member ON notices(member_id, status);
    CREATE TABLE notice_versions (
        notice_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        priority TEXT NOT NULL,
        deadline TEXT,
        reason TEXT NOT NULL,
        created_at TEXT NOT NULL,
        json TEXT NOT NULL,
        PRIMARY KEY (notice_id, version)
    );
    "#,
    // 4: scheduled feeds and their cursors.
    super::feeds::FEEDS_MIGRATION,
    // 5: each member's own collection (TAXII `member-<id>`): its notices as STIX reports and notes, and its
    // sightings, each version once, in a never-reused sequence of its own like the inbox.
    r#"
    CREATE TABLE member_feed (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        member_id INTEGER NOT NULL,
        stix_id TEXT NOT NULL,
        type TEXT NOT NULL,
        version TEXT NOT NULL,
        added_at TEXT NOT NULL,
        json TEXT NOT NULL,
        UNIQUE (member_id, stix_id, version)
    );
    CREATE INDEX member_feed_member_seq ON member_feed(member_id, seq);
    "#,
    // 6: notice delivery: members' channels and the deliveries (retry state and log).
    super::delivery::DELIVERY_MIGRATION,
    // 7: dashboard users and sessions.
    super::web::WEB_MIGRATION,
    // 8: relationships' hashed sources move from a partial index on `objects` to a table of their own, which the
    // writer fills in source order at the end of each transaction. Each line of an IOC list adds a relationship
    // whose source is a new indicator: as an index on the rows, every line was one insert at a random place in a
    // million-entry B-tree; sorted at commit, each page is visited once. Rows of superseded versions stay in the
    // table and are filtered by `lk = 0` when read, as the partial index did by itself.
    r#"
    CREATE TABLE edge_src (src INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (src, seq)) WITHOUT ROWID;
    INSERT INTO edge_src (src, seq) SELECT src, seq FROM objects WHERE src IS NOT NULL ORDER BY src, seq;
    DROP INDEX objects_src;
    "#,
    // 9: objects' `json` is written packed (LZ4 with a fixed dictionary, `crate::packed`) as a BLOB; rows stored
    // before stay TEXT and read as they are. Nothing to convert, but a Vigil that predates packing must not open the
    // store and misread the new rows: the version number alone tells it so.
    r#"
    SELECT 1;
    "#,
    // 10: a row's first provenance (source, ingest time, file) moves out of the row into `prov_sets`, which the
    // rows of one file share: three strings (~45 bytes) of a ~320-byte bulk-list row become one integer. Rows
    // written before keep them inline with `prov` NULL, and readers take whichever is there.
    r#"
    CREATE TABLE prov_sets (id INTEGER PRIMARY KEY, source TEXT NOT NULL, ingested_at TEXT NOT NULL, file TEXT);
    CREATE INDEX prov_sets_key ON prov_sets(source, ingested_at);
    ALTER TABLE objects ADD COLUMN prov INTEGER;
    "#,
    // 11: when a row was added moves from the text `added_at` (27 bytes: 2026-11-30T13:03:30.182272Z) to the
    // integer `added` (microseconds since the epoch, 8 bytes); new rows leave `added_at` empty. Rows written before
    // keep the text with `added` NULL, and readers take whichever is there (`added_at!()`).
    r#"
    ALTER TABLE objects ADD COLUMN added INTEGER;
    "#,
    // 12: names and aliases of families and actors get folded keys (`KEY_FOLD`: `agenttesla` finds `Agent
    // Tesla`). SQL cannot fold or hash them: `migrate` adds them to the rows stored before (`FOLD_MIGRATION`).
    r#"
    SELECT 1;
    "#,
    // 13: links a reader asked for whose target was not stored yet (a galaxy read before ATT&CK), kept until an
    // object they find arrives (`WriteTx::put_pending_link`): the graph then does not depend on the order of
    // loading. `pending_link_keys` indexes each link by the hashes of the keys it looks its target up by. (`IF NOT
    // EXISTS`: the migration tests set a store back to an older version with these tables in it.)
    r#"
    CREATE TABLE IF NOT EXISTS pending_links (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE);
    CREATE TABLE IF NOT EXISTS pending_link_keys (
        khash INTEGER NOT NULL,
        id INTEGER NOT NULL,
        PRIMARY KEY (khash, id)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS pending_link_keys_id ON pending_link_keys(id);
    "#,
    // 14: names and aliases of families and tools get stem keys (`KEY_STEM`: `lummac2` finds `LummaC2 Stealer`),
    // added by `migrate` to the rows stored before, as the folded keys were (`STEM_MIGRATION`).
    r#"
    SELECT 1;
    "#,
    // 15: a CSAF feed's trusted OpenPGP keys and whether it requires signatures.
    super::feeds::FEED_KEYS_MIGRATION,
    // 16: who is pulling a feed (a lease per feed), so that processes sharing the store pull it one at a time.
    super::feeds::FEED_LEASES_MIGRATION,
];

/// The migration after which the latest versions of families and actors stored before get their folded keys.
pub const FOLD_MIGRATION: usize = 12;

/// The migration after which the latest versions of families and tools stored before get their stem keys.
pub const STEM_MIGRATION: usize = 14;
