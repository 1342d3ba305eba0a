//! Vigil's knowledge store.
//!
//! The [`Store`] trait is the only way the rest of Vigil reaches persisted knowledge; [`sqlite::SqliteStore`] is the
//! embedded default. [`conformance`] holds the behaviour every backend must show, run against each backend by its
//! tests. Invariant: this is the only crate that contains SQL.

mod common;
pub mod conformance;
pub mod copy;
pub mod delivery;
mod error;
pub mod feeds;
pub mod members;
pub mod packed;
pub mod postgres;
pub mod prepared;
pub mod sqlite;
mod types;
pub mod vuln;
pub mod web;

pub use delivery::{
    AttemptOutcome, ChannelRecord, DeliveryFilter, DeliveryRecord, DeliveryStore, DueDelivery,
    NewChannel,
};
pub use error::StoreError;
pub use feeds::{
    FeedClaim, FeedCursor, FeedLease, FeedPullRecord, FeedRecord, FeedStatus, FeedStore,
};
pub use members::{
    AuditEntry, Member, MemberStore, Page, PageQuery, PageRow, PageSource, ReadScope, TokenRecord,
    VersionSel,
};
pub use prepared::Prepared;
pub use types::*;
pub use vuln::{
    AdvisoryRow, InventoryRecord, NoticeFilter, NoticeRecord, NoticeVersion, VulnStore,
};
pub use web::{ScopedCounts, SessionRecord, UserRecord, WebStore};

/// A write transaction. Everything written through one is committed together or not at all.
pub trait WriteTx {
    /// Stores one version of an object with its provenance.
    fn put(
        &mut self,
        obj: &vigil_model::StixObject,
        prov: &vigil_model::Provenance,
        mode: PutMode,
    ) -> Result<PutOutcome, StoreError> {
        self.put_prepared(&Prepared::from_ref(obj, mode), prov, mode)
    }
    /// Stores an object prepared earlier (possibly on another thread); the same as `put` of its object.
    fn put_prepared(
        &mut self,
        p: &Prepared,
        prov: &vigil_model::Provenance,
        mode: PutMode,
    ) -> Result<PutOutcome, StoreError>;
    /// Stores objects Vigil derived (`PutMode::Derived`), one outcome per object, in order: the same as
    /// `put_prepared` of each in turn, which is what this default does. A backend may write them together, and in
    /// another order (the SQLite backend sorts them by id hash), so their rows' order says nothing.
    fn put_derived_batch(
        &mut self,
        ps: &[Prepared],
        prov: &vigil_model::Provenance,
    ) -> Result<Vec<PutOutcome>, StoreError> {
        ps.iter()
            .map(|p| self.put_prepared(p, prov, PutMode::Derived))
            .collect()
    }
    /// True when any version of the id is stored (including writes earlier in this transaction).
    fn exists(&mut self, id: &str) -> Result<bool, StoreError>;
    /// The latest version of an object (including writes earlier in this transaction).
    fn get(&mut self, id: &str) -> Result<Option<StoredObject>, StoreError>;
    /// Ids of live objects of one of `types` whose name, alias, external id or id equals `key` (case-insensitive).
    fn lookup(&mut self, types: &[&str], key: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .lookup_kinds(types, key)?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }
    /// `lookup` with the kind of key each id was found by (`prepared::KEY_*`; its best, when several match),
    /// so that a caller can weigh a loose match (`KEY_STEM`) differently from an exact one.
    fn lookup_kinds(&mut self, types: &[&str], key: &str)
        -> Result<Vec<(String, i64)>, StoreError>;
    /// The latest versions of the live (not revoked or deprecated) relationships of one type whose source is
    /// `id`, including writes earlier in this transaction.
    fn relationships_from(
        &mut self,
        id: &str,
        relationship_type: &str,
    ) -> Result<Vec<StoredObject>, StoreError>;
    /// Keeps a link whose target is not stored yet: `body` (the link, as the caller serialises it) is found again
    /// by any of `keys` (lower-cased names, aliases, ids). The same body is kept once.
    fn put_pending_link(&mut self, keys: &[String], body: &str) -> Result<(), StoreError>;
    /// The pending links one of whose keys is `key`: (id, body).
    fn pending_links(&mut self, key: &str) -> Result<Vec<(i64, String)>, StoreError>;
    /// Forgets a pending link (it was resolved).
    fn drop_pending_link(&mut self, id: i64) -> Result<(), StoreError>;
    /// Replaces a warning list (by name).
    fn put_warninglist(&mut self, wl: &WarningList) -> Result<PutOutcome, StoreError>;
    /// Commits what was written so far and goes on in a new transaction of the same write. A long bulk write
    /// calls it between whole objects now and then: what was committed survives a crash, and the backend may
    /// move committed data to its final place in the background meanwhile. A backend that cannot does nothing.
    fn commit_point(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The persisted knowledge base.
pub trait Store: Send + Sync {
    /// Runs `f` in one write transaction; an error from `f` rolls everything back.
    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Whether another thread of this process is waiting to write. A bulk writer that holds the writer across
    /// many files (an ingest run's groups) ends its transaction at the next file's end to let that write in,
    /// so an API call does not wait for a whole group. Writers in other processes are not counted (they wait on
    /// the database's own lock).
    fn writers_waiting(&self) -> bool {
        false
    }
    /// The latest version of an object.
    fn get(&self, id: &str) -> Result<Option<StoredObject>, StoreError>;
    /// Every stored version of an object, oldest first.
    fn versions(&self, id: &str) -> Result<Vec<StoredObject>, StoreError>;
    /// Where an object came from, one entry per (version, source).
    fn provenance(&self, id: &str) -> Result<Vec<vigil_model::Provenance>, StoreError>;
    /// Live objects whose name, alias, external id, value or id equals `key`, best match first.
    fn resolve(&self, key: &str) -> Result<Vec<StoredObject>, StoreError>;
    /// Full-text search over names, aliases, descriptions and values of the latest versions; revoked and
    /// deprecated objects rank last and say so (`SearchHit::retired`).
    fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError>;
    /// Relationships of live objects touching `id`, in both directions, with the far end summarised.
    fn related(&self, id: &str) -> Result<Vec<Related>, StoreError>;
    /// Counts of live objects by type and by source.
    fn stats(&self) -> Result<Stats, StoreError>;
    /// Streams the latest version of every object matching the filter, in insertion order.
    fn scan(
        &self,
        filter: &ScanFilter,
        f: &mut dyn FnMut(StoredObject) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Live (not revoked or deprecated) objects whose latest version names `source` in its provenance, in
    /// insertion order: what a retraction of that source would touch.
    fn sourced(&self, source: &str) -> Result<Vec<Sourced>, StoreError>;
    /// All stored warning lists.
    fn warninglists(&self) -> Result<Vec<WarningList>, StoreError>;
    /// Runs the backend's own consistency check (SQLite: `PRAGMA integrity_check` plus Vigil's invariants).
    fn check(&self) -> Result<Vec<String>, StoreError>;
}

/// A backend that keeps everything a server needs: the knowledge base, members, the dashboard's tables, notices,
/// deliveries and feeds, in one database (scoped reads join the knowledge base with sharing). Both backends are
/// one; the server holds an `Arc<dyn ServerStore>`.
pub trait ServerStore:
    Store + MemberStore + WebStore + VulnStore + DeliveryStore + FeedStore
{
}

impl<T: Store + MemberStore + WebStore + VulnStore + DeliveryStore + FeedStore> ServerStore for T {}

/// The knowledge base of any store, sized or not: generic code over `S: Store + ?Sized` cannot turn `&S` into
/// `&dyn Store` itself (a pointer to an unsized value has no room for a second vtable).
pub trait AsStore {
    fn as_store(&self) -> &dyn Store;
}

impl<T: Store> AsStore for T {
    fn as_store(&self) -> &dyn Store {
        self
    }
}

impl AsStore for dyn ServerStore {
    fn as_store(&self) -> &dyn Store {
        self
    }
}
