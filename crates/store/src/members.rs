//! Members, API tokens, sharing, member inboxes, TAXII status resources, the audit trail and visibility-scoped
//! reads: what the server needs from the store beyond the knowledge base itself.
//!
//! Visibility is decided by one rule, [`ReadScope::allows`]; the backend translates the same rule into its query
//! language so that paging filters in the database and never leaks a row the rule would refuse.

use serde::Serialize;
use vigil_model::Tlp;

use crate::{StoreError, StoredObject};

/// A member organisation of the programme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub id: i64,
    pub name: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    /// csirt | ministry | agency | regulator | operator kinds.
    pub kind: String,
    /// The STIX identity that stands for the member (in the knowledge base, TLP:GREEN).
    pub identity_id: String,
    /// The operator's own organisation (the first member).
    pub operator: bool,
    pub created_at: String,
}

/// A stored API token: only a slow hash of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub id: i64,
    pub member_id: i64,
    pub role: String,
    /// The public part of the token, used to find the record (not a secret).
    pub lookup: String,
    #[serde(skip)]
    pub hash: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// Who is reading, as the store needs to know it.
///
/// An object is visible when the scope sees everything, or its effective TLP (its own marking, else
/// `default_tlp`) is at most `open_max`, or it is at AMBER or above and explicitly shared with `member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadScope {
    pub all: bool,
    pub open_max: Option<Tlp>,
    pub member: Option<i64>,
    pub default_tlp: Tlp,
}

impl ReadScope {
    /// The visibility rule. `shared` says whether the object is shared with `self.member`.
    pub fn allows(&self, tlp: Option<Tlp>, shared: bool) -> bool {
        let eff = tlp.unwrap_or(self.default_tlp);
        self.all
            || self.open_max.is_some_and(|m| eff <= m)
            || (self.member.is_some() && eff >= Tlp::Amber && shared)
    }
}

/// Which versions of each object a page returns (TAXII `match[version]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum VersionSel {
    #[default]
    Last,
    First,
    All,
    /// Versions with exactly these `modified` timestamps (normalised sort keys).
    Exact(Vec<String>),
}

/// Where a page reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageSource {
    /// The knowledge base, objects whose effective TLP lies in `[tlp_min, tlp_max]`.
    Shared { tlp_min: Tlp, tlp_max: Tlp },
    /// What a member posted to its inbox (promoted or not).
    Inbox { member: i64 },
    /// A member's own collection: its notices (STIX reports and notes) and its sightings.
    Member { member: i64 },
    /// Nothing (a query that can match no row).
    Empty,
}

/// One page request, keyed on the store's insertion sequence.
#[derive(Debug, Clone)]
pub struct PageQuery {
    pub source: PageSource,
    pub scope: ReadScope,
    /// Only rows with a sequence number above this (the opaque `next` cursor).
    pub after_seq: i64,
    /// Only rows added strictly after this instant (normalised sort key).
    pub added_after: Option<String>,
    pub types: Vec<String>,
    pub ids: Vec<String>,
    pub versions: VersionSel,
    /// At most this many rows; the backend fetches one more to tell whether there are more.
    pub limit: usize,
}

/// One row of a page: the stored JSON as is, so that the server can frame it without re-encoding.
#[derive(Debug, Clone)]
pub struct PageRow {
    pub seq: i64,
    pub id: String,
    pub added_at: String,
    /// The `modified` timestamp (or `created`, or `added_at` for objects without either).
    pub version: String,
    pub json: String,
}

/// A page and whether more rows follow.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub rows: Vec<PageRow>,
    pub more: bool,
}

/// About the most JSON one page holds: a page ends before the row that would take it past this (a page holds at
/// least one row, whatever its size). `limit` rows of ordinary objects are far below it (1,000 indicators are
/// ~0.7 MB); it keeps a collection of large objects (an object may hold up to 64 MiB) from making one response,
/// and the server's memory, the sum of a thousand of them. TAXII lets a server return fewer objects than the
/// limit, with `more` and `next`.
pub const PAGE_BYTES: usize = 16 << 20;

/// Collects a page from rows in sequence order, fetched with one row beyond `limit`: at most `limit` rows and,
/// past the first, at most [`PAGE_BYTES`] of JSON; `more` when a row was left for the next page. Rows after the
/// first left out are not read.
pub(crate) fn collect_page<E>(
    rows: impl IntoIterator<Item = Result<PageRow, E>>,
    limit: usize,
) -> Result<Page, E> {
    let mut out: Vec<PageRow> = Vec::new();
    let mut bytes = 0usize;
    for r in rows {
        let r = r?;
        if out.len() >= limit || (!out.is_empty() && bytes + r.json.len() > PAGE_BYTES) {
            return Ok(Page {
                rows: out,
                more: true,
            });
        }
        bytes += r.json.len();
        out.push(r);
    }
    Ok(Page {
        rows: out,
        more: false,
    })
}

/// One audit entry.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// What the operator-side of the server keeps besides knowledge.
pub trait MemberStore: Send + Sync {
    /// Adds a member and its STIX identity in one transaction.
    fn add_member(
        &self,
        name: &str,
        country: &str,
        kind: &str,
        operator: bool,
    ) -> Result<Member, StoreError>;
    fn members(&self) -> Result<Vec<Member>, StoreError>;
    fn member(&self, id: i64) -> Result<Option<Member>, StoreError>;
    fn operator_member(&self) -> Result<Option<Member>, StoreError>;

    fn add_token(
        &self,
        member_id: i64,
        role: &str,
        lookup: &str,
        hash: &str,
        expires_at: Option<&str>,
    ) -> Result<TokenRecord, StoreError>;
    fn token_by_lookup(&self, lookup: &str) -> Result<Option<TokenRecord>, StoreError>;
    fn token(&self, id: i64) -> Result<Option<TokenRecord>, StoreError>;
    fn tokens(&self, member_id: Option<i64>) -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes a token; false when there is no such token or it was already revoked.
    fn revoke_token(&self, id: i64) -> Result<bool, StoreError>;

    /// Shares an object (every version) with a member; false when it already was.
    fn share(&self, object_id: &str, member_id: i64) -> Result<bool, StoreError>;
    fn shares_of(&self, object_id: &str) -> Result<Vec<i64>, StoreError>;
    /// Shares every object at AMBER or above (effective) added after `after_seq` with a member; returns how many.
    fn share_added_since(
        &self,
        after_seq: i64,
        member_id: i64,
        default_tlp: Tlp,
    ) -> Result<u64, StoreError>;
    /// The highest insertion sequence number so far (0 when empty).
    fn max_seq(&self) -> Result<i64, StoreError>;

    /// Countries the administrator added to the eligibility policy.
    fn eligibility_extra(&self) -> Result<Vec<String>, StoreError>;
    fn add_eligible(&self, country: &str, note: &str) -> Result<bool, StoreError>;
    fn remove_eligible(&self, country: &str) -> Result<bool, StoreError>;

    /// The latest version of an object if the scope may see it.
    fn get_visible(&self, id: &str, scope: &ReadScope) -> Result<Option<StoredObject>, StoreError>;
    /// A page of objects, in insertion order.
    fn page(&self, q: &PageQuery) -> Result<Page, StoreError>;

    /// Stores objects a member posted to its inbox; returns per object `Ok(())` or the reason it was refused.
    fn inbox_put(
        &self,
        member_id: i64,
        objects: &[vigil_model::StixObject],
    ) -> Result<Vec<Result<(), String>>, StoreError>;
    /// Adds objects to a member's own collection (each `(id, version)` once); returns how many were new.
    fn member_feed_put(
        &self,
        member_id: i64,
        objects: &[vigil_model::StixObject],
    ) -> Result<usize, StoreError>;
    /// Members whose inbox holds the id, with whether it was promoted.
    fn inbox_holders(&self, id: &str) -> Result<Vec<(i64, bool)>, StoreError>;
    /// Copies the latest inbox version of an object into the knowledge base (a new version, new sequence number)
    /// with provenance `inbox:member-N`; returns the member it came from, None when no inbox holds it.
    fn inbox_promote(&self, id: &str) -> Result<Option<i64>, StoreError>;

    fn put_status(&self, id: &str, member_id: i64, json: &str) -> Result<(), StoreError>;
    fn status(&self, id: &str) -> Result<Option<(i64, String)>, StoreError>;

    fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), StoreError>;
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;

    /// A number that changes whenever anyone (any process) commits to the store: caches key on it.
    fn change_counter(&self) -> Result<i64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule() {
        let member = ReadScope {
            all: false,
            open_max: Some(Tlp::Green),
            member: Some(7),
            default_tlp: Tlp::Amber,
        };
        assert!(member.allows(Some(Tlp::Clear), false));
        assert!(member.allows(Some(Tlp::Green), false));
        assert!(!member.allows(Some(Tlp::Amber), false));
        assert!(!member.allows(None, false));
        assert!(member.allows(None, true));
        assert!(member.allows(Some(Tlp::Red), true));
        assert!(!member.allows(Some(Tlp::Red), false));
        let anon = ReadScope {
            all: false,
            open_max: Some(Tlp::Clear),
            member: None,
            default_tlp: Tlp::Amber,
        };
        assert!(!anon.allows(Some(Tlp::Green), true));
        let op = ReadScope {
            all: true,
            open_max: None,
            member: Some(1),
            default_tlp: Tlp::Amber,
        };
        assert!(op.allows(Some(Tlp::Red), false));
    }
}
