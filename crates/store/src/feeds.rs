//! Scheduled feeds: their definitions, their per-resource cursors (ETag, Last-Modified, TAXII `added_after`,
//! MISP event timestamps, CSAF document dates) and the outcome of their pulls.
//!
//! A feed's credential (`token`) is kept here only for feeds added from the command line, because it is needed to
//! authenticate to the feed's server; feeds from the configuration file keep theirs in the file (or the environment).
//! Nothing here logs it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::StoreError;

/// A feed definition with its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedRecord {
    pub name: String,
    /// url | taxii | misp-feed | csaf
    pub kind: String,
    pub url: String,
    /// Ingest format for `url` feeds (auto when absent).
    pub format: Option<String>,
    /// Credential sent to the feed's server; never serialised.
    #[serde(skip)]
    pub token: Option<String>,
    pub interval_secs: i64,
    /// Marking for objects of this feed that carry none.
    pub tlp: Option<String>,
    /// TAXII: the one collection to follow (every readable one when absent).
    pub collection: Option<String>,
    /// Provenance source name (the feed name when absent).
    pub source: Option<String>,
    /// csaf: the fingerprints of the provider's OpenPGP keys the operator trusts (upper-case hex); when empty, the
    /// keys the provider lists on the first pull are pinned (a cursor), and later pulls hold to those.
    pub openpgp_keys: Vec<String>,
    /// csaf: refuse documents without a signature that verifies, even from a provider that lists no keys.
    pub require_signature: bool,
    /// Where the definition comes from: `cli` or `config`.
    pub origin: String,
    pub created_at: String,
    #[serde(flatten)]
    pub status: FeedStatus,
    /// Who is pulling the feed, as stored: a holder that died without releasing it stays here, with an `until` in
    /// the past, until the next claim (see [`FeedStore::claim_feed`]).
    pub lease: Option<FeedLease>,
}

/// A process's hold on a feed while it pulls it, so that processes sharing a store (several servers, a server and
/// the CLI) do not download, ingest and move the cursors of one feed at the same time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedLease {
    /// Names the process for an operator (the CLI uses host, process id and a random part).
    pub holder: String,
    /// When the lease runs out unless its holder renews it (`vigil_model::time::sort_key` form: comparable as text,
    /// which both backends do in SQL).
    pub until: String,
}

/// What [`FeedStore::claim_feed`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedClaim {
    /// The lease is the caller's now. The feed as it stands once claimed: another process may have finished a pull
    /// of it just before, so whether it is still due is to be judged on this record, not on one read earlier.
    Taken(Box<FeedRecord>),
    /// Another holder's lease has not run out (a holder's own running lease counts too: claims do not nest).
    Held(FeedLease),
    /// No feed by that name.
    Missing,
}

/// What the pulls of a feed have done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeedStatus {
    pub last_attempt: Option<String>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Objects added by the last successful pull.
    pub last_added: i64,
    /// Objects added by every pull.
    pub objects_added: i64,
    /// Objects updated (new versions) by every pull.
    pub objects_updated: i64,
    pub pulls: i64,
    /// Response bodies transferred by every pull (bytes, after decompression).
    pub bytes: i64,
}

/// One pull's outcome, recorded with [`FeedStore::record_feed_pull`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedPullRecord {
    pub at: String,
    /// None when the pull succeeded.
    pub error: Option<String>,
    pub added: i64,
    pub updated: i64,
    pub bytes: i64,
}

/// A remembered position in one resource of a feed (a URL, a TAXII collection, a MISP event, a CSAF document).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeedCursor {
    pub key: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Kind-specific position: TAXII `added_after`, a MISP event timestamp, a CSAF `current_release_date`.
    pub value: Option<String>,
    pub updated_at: String,
}

/// The store side of feeds.
pub trait FeedStore {
    /// Creates or replaces a feed's definition; its status and cursors stay.
    fn put_feed(&self, feed: &FeedRecord) -> Result<(), StoreError>;
    fn feed(&self, name: &str) -> Result<Option<FeedRecord>, StoreError>;
    /// Every feed, by name.
    fn feeds(&self) -> Result<Vec<FeedRecord>, StoreError>;
    /// Removes a feed with its cursors; false when there was none.
    fn remove_feed(&self, name: &str) -> Result<bool, StoreError>;
    fn feed_cursors(&self, feed: &str) -> Result<Vec<FeedCursor>, StoreError>;
    fn put_feed_cursor(&self, feed: &str, cursor: &FeedCursor) -> Result<(), StoreError>;
    /// Adds one pull's outcome to the feed's status.
    fn record_feed_pull(&self, feed: &str, pull: &FeedPullRecord) -> Result<(), StoreError>;
    /// Takes the feed's lease for `holder` until `until` if nobody holds it or the last lease ran out by `now`, in
    /// one atomic step: of several processes claiming a feed at once, exactly one gets it.
    fn claim_feed(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<FeedClaim, StoreError>;
    /// Moves the end of `holder`'s lease to `until`, even if it ran out meanwhile, as long as nobody else took it;
    /// false when the lease is no longer `holder`'s.
    fn renew_feed(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Gives the lease up if `holder` has it (false otherwise: a lease that ran out and was taken stays its new
    /// holder's).
    fn release_feed(&self, name: &str, holder: &str) -> Result<bool, StoreError>;
}
