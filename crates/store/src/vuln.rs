//! What vulnerability notices need from the store besides the knowledge base: the normalised advisories the
//! advisory index is built from (the STIX `vulnerability` objects live in the knowledge base), EPSS scores,
//! members' software inventories, and notices with every version and their lifecycle.
//!
//! The store keeps rows and enforces tenancy in its queries (a member filter is always applied in SQL); the rules
//! that decide what a notice says, or when a new version is due, belong to `vigil-vuln`.

use serde::Serialize;
use vigil_model::Tlp;

use crate::{PutOutcome, StoreError};

/// One normalised advisory as stored (`json` is `vigil_vuln::Advisory` serialised).
#[derive(Debug, Clone, PartialEq)]
pub struct AdvisoryRow {
    /// `source:id` (see `Advisory::store_key`): a newer copy of the same record replaces the older one.
    pub key: String,
    /// `osv`, `rustsec`, `cve5`, `csaf` or `kev`.
    pub source: String,
    /// The canonical vulnerability id (the CVE when known).
    pub canonical: String,
    /// The advisory's own TLP marking, if any.
    pub tlp: Option<Tlp>,
    pub json: String,
}

/// A member's software inventory: the file as imported (re-read on every evaluation, so that reader
/// improvements apply to stored inventories too) and what reading it found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InventoryRecord {
    pub id: i64,
    pub member_id: i64,
    /// The name it was imported under (the file name unless `--name` said otherwise); importing the same name
    /// again replaces it.
    pub name: String,
    pub format: String,
    pub components: i64,
    pub errors: i64,
    pub imported_at: String,
    #[serde(skip)]
    pub content: Vec<u8>,
}

/// The current version of a notice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoticeRecord {
    /// Stable over (member, vulnerability).
    pub id: String,
    pub member_id: i64,
    pub vulnerability: String,
    /// 1 for the first notice; each change of the deciding facts adds one.
    pub version: i64,
    /// `new`, `acknowledged` or `resolved`.
    pub status: String,
    pub priority: String,
    pub deadline: Option<String>,
    /// Id over the deciding facts: the same facts are never sent twice.
    pub fingerprint: String,
    pub tlp: Option<Tlp>,
    /// `vigil_vuln::Notice` serialised.
    #[serde(skip)]
    pub json: String,
    pub created_at: String,
    pub updated_at: String,
    pub acknowledged_at: Option<String>,
    pub resolved_at: Option<String>,
    /// Why the current status was set (by whom, or "no longer in the inventory").
    pub status_note: Option<String>,
}

/// One version of a notice, as it was sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoticeVersion {
    pub notice_id: String,
    pub version: i64,
    pub fingerprint: String,
    pub priority: String,
    pub deadline: Option<String>,
    /// What changed (`first notice`, `priority act -> ...`).
    pub reason: String,
    pub created_at: String,
    #[serde(skip)]
    pub json: String,
}

/// Which notices to list. `member` is a tenancy boundary: with it set, no other member's row is returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoticeFilter {
    pub member: Option<i64>,
    pub status: Option<String>,
}

/// Persistence for vulnerability notices.
pub trait VulnStore: Send + Sync {
    /// Stores advisories in one transaction; per row: added, updated (content changed) or unchanged.
    fn put_advisories(&self, rows: &[AdvisoryRow]) -> Result<Vec<PutOutcome>, StoreError>;
    /// Streams every stored advisory, in key order.
    fn advisories(
        &self,
        f: &mut dyn FnMut(AdvisoryRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Number of stored advisories by source.
    fn advisory_counts(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// Replaces the EPSS scores of the CVEs given (one transaction); returns how many rows changed.
    fn put_epss(
        &self,
        scores: &[(String, f64, f64)],
        score_date: Option<&str>,
    ) -> Result<u64, StoreError>;
    /// Every stored EPSS score as (cve, epss, percentile).
    fn epss(&self) -> Result<Vec<(String, f64, f64)>, StoreError>;
    /// One CVE's EPSS score, percentile and score date, if known.
    fn epss_of(&self, cve: &str) -> Result<Option<(f64, f64, Option<String>)>, StoreError>;

    /// Stores a member's inventory, replacing one of the same name.
    #[allow(clippy::too_many_arguments)]
    fn put_inventory(
        &self,
        member_id: i64,
        name: &str,
        format: &str,
        components: i64,
        errors: i64,
        content: &[u8],
    ) -> Result<InventoryRecord, StoreError>;
    /// Inventories of one member, or of every member.
    fn inventories(&self, member: Option<i64>) -> Result<Vec<InventoryRecord>, StoreError>;
    /// Removes a member's inventory by name; false when there was none.
    fn remove_inventory(&self, member_id: i64, name: &str) -> Result<bool, StoreError>;

    /// Current notices matching the filter, most recently changed first.
    fn notices(&self, filter: &NoticeFilter) -> Result<Vec<NoticeRecord>, StoreError>;
    /// For one vulnerability (case-insensitive): how many members hold a notice, and how many of those notices
    /// are not resolved.
    fn notice_counts(&self, vulnerability: &str) -> Result<(u64, u64), StoreError>;
    /// One notice; with `member` set, only if it is that member's.
    fn notice(&self, id: &str, member: Option<i64>) -> Result<Option<NoticeRecord>, StoreError>;
    /// Every version of a notice, oldest first.
    fn notice_versions(&self, id: &str) -> Result<Vec<NoticeVersion>, StoreError>;
    /// Writes a new version of a notice (creating it at version 1), with status `new`, and records the version.
    fn put_notice_version(
        &self,
        rec: &NoticeRecord,
        reason: &str,
    ) -> Result<NoticeRecord, StoreError>;
    /// Replaces the stored content of the current version without a new version or a status change (supporting
    /// facts such as the EPSS value moved, but nothing that decides the notice); false when there is no such notice.
    fn refresh_notice(&self, id: &str, member_id: i64, json: &str) -> Result<bool, StoreError>;
    /// Sets a notice's status; with `member` set only that member's notice changes. Returns the updated record,
    /// None when there is no such notice (for that member).
    fn set_notice_status(
        &self,
        id: &str,
        member: Option<i64>,
        status: &str,
        note: &str,
    ) -> Result<Option<NoticeRecord>, StoreError>;
}
