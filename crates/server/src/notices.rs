//! Notices as they leave the store: every version of a notice, and every change of its status, is published once
//! into the member's own collection (`member-<id>` in TAXII) as a STIX `report` and `note`. Whoever writes a notice
//! version or changes a status (the CLI, the REST API, the dashboard) goes through [`publish_version`] and
//! [`set_status`], so the collection never lags behind the notices.

use serde_json::{json, Value};
use thiserror::Error;
use vigil_model::{StixObject, Tlp};
use vigil_store::{MemberStore, NoticeRecord, NoticeVersion, StoreError, VulnStore};
use vigil_vuln::notice::{stix_report, stix_status_note, CsafPublisher, Notice, StixAddress};

#[derive(Debug, Error)]
pub enum PublishError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("notice {id}: {reason}")]
    Notice { id: String, reason: String },
    #[error("member {0} does not exist")]
    NoMember(i64),
}

/// A STIX timestamp from a store timestamp (microsecond sort keys are valid RFC 3339 already; re-formatted so that
/// every object Vigil writes has the same millisecond form).
fn stix_time(s: &str) -> String {
    vigil_model::time::parse("time", s)
        .map(|t| vigil_model::time::format(&t))
        .unwrap_or_else(|_| s.to_string())
}

/// The stored notice, with its lifecycle status.
pub fn load(r: &NoticeRecord) -> Result<Notice, PublishError> {
    let mut n: Notice = serde_json::from_str(&r.json).map_err(|e| PublishError::Notice {
        id: r.id.clone(),
        reason: format!("stored notice cannot be read: {e}"),
    })?;
    n.status = match r.status.as_str() {
        "acknowledged" => vigil_vuln::notice::NoticeStatus::Acknowledged,
        "resolved" => vigil_vuln::notice::NoticeStatus::Resolved,
        _ => vigil_vuln::notice::NoticeStatus::New,
    };
    Ok(n)
}

fn addresses<S: MemberStore + ?Sized>(
    store: &S,
    member_id: i64,
) -> Result<(String, String), PublishError> {
    let member = store
        .member(member_id)?
        .ok_or(PublishError::NoMember(member_id))?;
    let author = store
        .operator_member()?
        .map(|m| m.identity_id)
        .unwrap_or_else(|| member.identity_id.clone());
    Ok((member.identity_id, author))
}

fn object(v: serde_json::Value, id: &str) -> Result<StixObject, PublishError> {
    StixObject::from_value(v).map_err(|e| PublishError::Notice {
        id: id.to_string(),
        reason: format!("its STIX form is invalid: {e}"),
    })
}

/// Publishes every stored version of one notice that the member's collection does not hold yet; returns how many
/// objects were added.
pub fn publish_version<S: MemberStore + VulnStore + ?Sized>(
    store: &S,
    rec: &NoticeRecord,
) -> Result<usize, PublishError> {
    let (member, author) = addresses(store, rec.member_id)?;
    let to = StixAddress {
        member_identity: &member,
        author_identity: &author,
    };
    let versions = store.notice_versions(&rec.id)?;
    let first = versions
        .first()
        .map(|v| stix_time(&v.created_at))
        .unwrap_or_else(|| stix_time(&rec.created_at));
    let mut objs = Vec::with_capacity(versions.len());
    for v in &versions {
        let n: Notice = serde_json::from_str(&v.json).map_err(|e| PublishError::Notice {
            id: rec.id.clone(),
            reason: format!("version {} cannot be read: {e}", v.version),
        })?;
        let sent = stix_time(&v.created_at);
        objs.push(object(
            stix_report(&n, &rec.id, v.version, &first, &sent, &to),
            &rec.id,
        )?);
    }
    Ok(store.member_feed_put(rec.member_id, &objs)?)
}

/// Sets a notice's status (only the member's own when `member` is given) and publishes the change as a note.
/// None when there is no such notice for that member.
pub fn set_status<S: MemberStore + VulnStore + ?Sized>(
    store: &S,
    id: &str,
    member: Option<i64>,
    status: &str,
    why: &str,
) -> Result<Option<NoticeRecord>, PublishError> {
    let Some(rec) = store.set_notice_status(id, member, status, why)? else {
        return Ok(None);
    };
    // The status change is stored; a notice whose stored form cannot be rendered must not undo or hide that, so
    // its publication problem is logged and the change still reported.
    if let Err(e) = publish_status(store, &rec, status, why) {
        tracing::warn!(notice = %rec.id, error = %e, "status change not published to the member's collection");
    }
    Ok(Some(rec))
}

fn publish_status<S: MemberStore + VulnStore + ?Sized>(
    store: &S,
    rec: &NoticeRecord,
    status: &str,
    why: &str,
) -> Result<(), PublishError> {
    // A notice written before member collections existed gets its report first, so the note has a subject.
    publish_version(store, rec)?;
    let (member_identity, author) = addresses(store, rec.member_id)?;
    let to = StixAddress {
        member_identity: &member_identity,
        author_identity: &author,
    };
    let note = stix_status_note(
        &rec.id,
        status,
        why,
        &stix_time(&rec.updated_at),
        rec.tlp.unwrap_or(Tlp::AmberStrict),
        &to,
    );
    store.member_feed_put(rec.member_id, &[object(note, &rec.id)?])?;
    Ok(())
}

/// Publishes every notice of every member (idempotent): brings a data directory written before member
/// collections existed up to date. Returns how many objects were added.
pub fn publish_all<S: MemberStore + VulnStore + ?Sized>(store: &S) -> Result<usize, PublishError> {
    let mut added = 0;
    for rec in store.notices(&vigil_store::NoticeFilter::default())? {
        added += publish_version(store, &rec)?;
    }
    Ok(added)
}

/// The JSON form of a stored notice (CLI `--json` and REST): the notice, with the member as a number and the
/// lifecycle fields.
pub fn notice_json(r: &NoticeRecord, n: &Notice, today: chrono::NaiveDate) -> Value {
    let mut v = n.to_json();
    v["id"] = json!(r.id);
    v["member"] = json!(r.member_id);
    v["status"] = json!(r.status);
    v["version"] = json!(r.version);
    v["overdue"] = json!(n.is_overdue(today));
    v["updated"] = json!(r.updated_at);
    v["first_sent"] = json!(r.created_at);
    v["acknowledged_at"] = json!(r.acknowledged_at);
    v["resolved_at"] = json!(r.resolved_at);
    v["status_note"] = json!(r.status_note);
    v
}

/// The CSAF 2.0 form of a stored notice, its tracking carrying every version as revision history.
pub fn csaf(
    r: &NoticeRecord,
    n: &Notice,
    versions: &[NoticeVersion],
    publisher: &CsafPublisher,
) -> Value {
    let mut doc = n.to_csaf(publisher);
    if let Some(t) = doc.pointer_mut("/document/tracking") {
        t["version"] = json!(r.version.to_string());
        if !versions.is_empty() {
            t["revision_history"] = Value::Array(
                versions
                    .iter()
                    .map(|v| json!({"date": v.created_at, "number": v.version.to_string(), "summary": v.reason}))
                    .collect(),
            );
        }
        if let Some(first) = versions.first() {
            t["initial_release_date"] = json!(first.created_at);
        }
        if let Some(last) = versions.last() {
            t["current_release_date"] = json!(last.created_at);
        }
    }
    doc
}
