//! Notice delivery: members' channels (e-mail addresses, webhooks) and one delivery row per (notice, fingerprint,
//! channel) with its retry state, which is also the delivery log.
//!
//! The unique key (notice, fingerprint, channel) is what makes "the same facts are never delivered twice" hold in
//! the database rather than in a caller's memory: queuing the same notice version again inserts nothing. Channels
//! and notices are paired by member in SQL, so a notice can only ever be queued on its own member's channels.
//! How a message looks, and when a retry is due, is decided by `vigil-notify`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use vigil_model::Tlp;

use crate::StoreError;

/// A member's delivery channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelRecord {
    pub id: i64,
    pub member_id: i64,
    /// `email` or `webhook`.
    pub kind: String,
    /// The e-mail address or the webhook URL.
    pub target: String,
    /// The webhook signing secret: kept because it is needed to sign, never serialised.
    #[serde(skip)]
    pub secret: Option<String>,
    /// None: one message per notice version; `daily`: one digest per day.
    pub digest: Option<String>,
    pub created_at: String,
}

/// A channel to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChannel {
    pub member_id: i64,
    pub kind: String,
    pub target: String,
    pub secret: Option<String>,
    pub digest: Option<String>,
}

/// One notice version on one channel: its state, attempts and outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    pub id: i64,
    pub channel_id: i64,
    pub member_id: i64,
    pub notice_id: String,
    pub notice_version: i64,
    pub fingerprint: String,
    /// `pending` (waiting for its first attempt or a retry), `sent`, `failed` (attempts exhausted) or
    /// `superseded` (the notice changed, or was resolved, before this version went out).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub last_error: Option<String>,
    /// The message it went out in (a digest carries several deliveries).
    pub message_id: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// A delivery that is due, with the notice version it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub delivery: DeliveryRecord,
    pub channel: ChannelRecord,
    /// `vigil_vuln::Notice` serialised, as stored for the notice's current version.
    pub notice_json: String,
    pub notice_tlp: Option<Tlp>,
    pub notice_status: String,
}

/// What one attempt did to the deliveries it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Sent {
        message_id: String,
    },
    /// Failed; try again at `next`.
    Retry {
        error: String,
        next: DateTime<Utc>,
    },
    /// Failed for the last time.
    Failed {
        error: String,
    },
}

/// Which deliveries to list. `member` is a tenancy boundary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub member: Option<i64>,
    pub status: Option<String>,
    pub limit: Option<usize>,
}

/// Persistence for notice delivery.
pub trait DeliveryStore: Send + Sync {
    fn add_channel(&self, c: &NewChannel) -> Result<ChannelRecord, StoreError>;
    /// Active channels of one member, or of every member, by id.
    fn channels(&self, member: Option<i64>) -> Result<Vec<ChannelRecord>, StoreError>;
    fn channel(&self, id: i64) -> Result<Option<ChannelRecord>, StoreError>;
    /// Removes a channel (its deliveries stay in the log; pending ones are never attempted); false when there was
    /// no such active channel.
    fn remove_channel(&self, id: i64) -> Result<bool, StoreError>;
    /// Queues every (current notice version, active channel of the notice's member) pair not queued before, for
    /// notices that are not resolved. Immediate channels are due at `now`, digest channels at `digest_due`.
    /// Returns how many deliveries were queued.
    fn queue_deliveries(
        &self,
        now: DateTime<Utc>,
        digest_due: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// Claims up to `limit` pending deliveries due at `now` on active channels: they are not due again before
    /// `lease_until` (so a second round running at the same time does not send them too). Deliveries whose notice
    /// moved to another fingerprint or was resolved are marked `superseded` instead and not returned.
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError>;
    /// Records one attempt that carried these deliveries.
    fn record_attempt(
        &self,
        ids: &[i64],
        at: DateTime<Utc>,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError>;
    /// The delivery log, newest first.
    fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>, StoreError>;
}
