//! What the analyst dashboard needs from the store: people who log in with a password (users of a member), their
//! browser sessions, and two visibility-scoped reads (counts and scans) so that every page filters in the database
//! with the same rule as the API ([`ReadScope::allows`]).
//!
//! Passwords and session ids are never stored: only an Argon2id hash of a password and a SHA-256 digest of a
//! session id (the server makes both; this crate only keeps rows).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::members::ReadScope;
use crate::{StoreError, StoredObject};

/// A person who logs in to the dashboard, on behalf of a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    pub id: i64,
    pub member_id: i64,
    /// Login name (unique, case-insensitive).
    pub username: String,
    /// Display name.
    pub name: String,
    /// admin | analyst | member, as for tokens.
    pub role: String,
    /// Argon2id PHC string; never serialised.
    #[serde(skip)]
    pub hash: String,
    pub created_at: String,
    pub last_login: Option<String>,
}

/// A dashboard session. The browser holds the random id; the store holds only its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Hex SHA-256 of the session id the browser holds.
    pub digest: String,
    /// The user who logged in with a password, or None for a login with an API token.
    pub user_id: Option<i64>,
    /// The API token used to log in, or None for a password login.
    pub token_id: Option<i64>,
    pub member_id: i64,
    pub role: String,
    /// Anti-CSRF token every POST form of this session carries.
    pub csrf: String,
    pub created_at: String,
    /// RFC 3339; the session is void after this instant.
    pub expires_at: String,
}

/// Counts of live objects one reader may see.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScopedCounts {
    pub by_type: BTreeMap<String, u64>,
    /// First source of each object's latest version.
    pub by_source: BTreeMap<String, u64>,
    /// Effective TLP (unmarked objects counted under the scope's default).
    pub by_tlp: BTreeMap<String, u64>,
    /// By the age of the latest version (`modified`): labels in order, youngest first.
    pub by_age: Vec<(String, u64)>,
    pub total: u64,
}

/// Persistence for dashboard users and sessions, and scoped reads for its pages.
pub trait WebStore: Send + Sync {
    /// Adds a user; fails when the user name is taken.
    fn add_user(
        &self,
        member_id: i64,
        username: &str,
        name: &str,
        role: &str,
        hash: &str,
    ) -> Result<UserRecord, StoreError>;
    /// A user by login name (case-insensitive).
    fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;
    fn user(&self, id: i64) -> Result<Option<UserRecord>, StoreError>;
    /// Users of one member, or of every member, by id.
    fn users(&self, member: Option<i64>) -> Result<Vec<UserRecord>, StoreError>;
    /// Removes a user and ends its sessions; false when there was none.
    fn remove_user(&self, username: &str) -> Result<bool, StoreError>;
    fn record_login(&self, user_id: i64) -> Result<(), StoreError>;

    /// Stores a new session (and forgets expired ones, so the table stays small).
    fn put_session(&self, s: &SessionRecord) -> Result<(), StoreError>;
    /// A session by the digest of its id, whether or not expired (the caller checks).
    fn session(&self, digest: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Ends a session; false when there was none.
    fn remove_session(&self, digest: &str) -> Result<bool, StoreError>;

    /// Counts of the live objects `scope` may see; ages are measured from `now` (RFC 3339).
    fn scoped_counts(&self, scope: &ReadScope, now: &str) -> Result<ScopedCounts, StoreError>;
    /// Streams the latest versions of live objects of `types` that `scope` may see: most recently added first when
    /// `newest_first`, else in insertion order; at most `limit` (all when None).
    fn scan_visible(
        &self,
        scope: &ReadScope,
        types: &[&str],
        newest_first: bool,
        limit: Option<usize>,
        f: &mut dyn FnMut(StoredObject) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Streams the live relationships `scope` may see whose source (`from_source`) or target is one of `ends`,
    /// through the graph indexes (no scan of every relationship).
    fn scan_links(
        &self,
        scope: &ReadScope,
        ends: &[&str],
        from_source: bool,
        f: &mut dyn FnMut(StoredObject) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Counts the live relationships `scope` may see whose source (`from_source`) or target is one of `ends`, by
    /// end and by period (the first `period_len` characters of the relationship's `modified`: 4 for years, 7 for
    /// months), aggregated in the database. Ends are matched by their indexed hash: a collision could add a count,
    /// which charts can bear.
    fn link_counts(
        &self,
        scope: &ReadScope,
        ends: &[&str],
        from_source: bool,
        period_len: usize,
    ) -> Result<Vec<(String, String, u64)>, StoreError>;
}
