//! The operator's administration page (admins and analysts of the operator's organisation only): members with
//! their users and tokens (never a secret: no hash, no token lookup part), feeds and their status, ingestion and
//! feed errors, and the latest audit entries.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde_json::Value;

use super::{blocking, html_page, layout, short_time, Nav, Viewer, WebError};
use crate::AppState;

pub async fn page(State(st): State<Arc<AppState>>, v: Viewer) -> Result<Response, WebError> {
    if !v.principal.is_operator_staff() {
        // The same answer as for a page that does not exist: a member learns nothing about the admin surface.
        return Err(WebError::NotFound);
    }
    let store = st.store.clone();
    let data = st.audit.path().to_path_buf();
    let (members, tokens, users, feeds, audit) = blocking(move || {
        Ok((
            store.members()?,
            store.tokens(None)?,
            store.users(None)?,
            store.feeds()?,
            audit_tail(&data, 64 * 1024),
        ))
    })
    .await?;
    let now = vigil_model::time::now();
    let errors: Vec<_> = feeds
        .iter()
        .filter(|f| f.status.last_error.is_some())
        .collect();
    let rejected: Vec<&Value> = audit
        .iter()
        .filter(|a| {
            a.pointer("/detail/rejected")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                > 0
        })
        .collect();
    let s = |a: &Value, k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let body = html! {
        div.page-head { h1 { "Administration" } p.muted { "Members, people and tokens, feeds. Secrets are never shown: tokens are displayed once, at creation, by " code { "vigil tokens create" } "." } }
        section.card #members {
            h2 { "Members (" (members.len()) ")" }
            table.data {
                thead { tr { th.num { "Id" } th { "Name" } th { "Country" } th { "Kind" } th.num { "Users" } th.num { "Active tokens" } th { "Enrolled" } } }
                tbody {
                    @for m in &members {
                        @let active = tokens.iter().filter(|t| t.member_id == m.id && t.revoked_at.is_none() && t.expires_at.as_deref().is_none_or(|e| e > now.as_str())).count();
                        tr {
                            td.num { (m.id) }
                            td { a href=(format!("/ui/members/{}", m.id)) { (m.name) } @if m.operator { " " span.pill { "operator" } } }
                            td { (m.country) } td { (m.kind) }
                            td.num { (users.iter().filter(|u| u.member_id == m.id).count()) }
                            td.num { (active) }
                            td.small { (short_time(&m.created_at)) }
                        }
                    }
                }
            }
        }
        div.grid2 {
            section.card #users {
                h2 { "Dashboard users (" (users.len()) ")" }
                table.data {
                    thead { tr { th { "User" } th { "Name" } th.num { "Member" } th { "Role" } th { "Last login" } } }
                    tbody { @for u in &users { tr { td { (u.username) } td { (u.name) } td.num { (u.member_id) } td { (u.role) } td.small { (u.last_login.as_deref().map(short_time).unwrap_or_else(|| "never".into())) } } } }
                }
            }
            section.card #tokens {
                h2 { "API tokens (" (tokens.len()) ")" }
                table.data {
                    thead { tr { th.num { "Id" } th.num { "Member" } th { "Role" } th { "Created" } th { "Expires" } th { "State" } } }
                    tbody {
                        @for t in &tokens {
                            tr {
                                td.num { (t.id) } td.num { (t.member_id) } td { (t.role) }
                                td.small { (short_time(&t.created_at)) }
                                td.small { (t.expires_at.as_deref().map(short_time).unwrap_or_else(|| "never".into())) }
                                td {
                                    @if t.revoked_at.is_some() { span.pill.bad { "revoked" } }
                                    @else if t.expires_at.as_deref().is_some_and(|e| e <= now.as_str()) { span.pill.bad { "expired" } }
                                    @else { span.pill.good { "active" } }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card #feeds {
            h2 { "Feeds (" (feeds.len()) ")" }
            @if feeds.is_empty() { p.muted { "No feeds. Add one with " code { "vigil feeds add --name N --kind url|taxii|misp-feed|csaf --url U" } "." } }
            @else {
                table.data {
                    thead { tr { th { "Feed" } th { "Kind" } th { "URL" } th { "Last success" } th.num { "Added (last)" } th.num { "Added (all)" } th.num { "Pulls" } th { "State" } } }
                    tbody {
                        @for f in &feeds {
                            tr {
                                td { (f.name) } td { (f.kind) } td.small.url { (f.url) }
                                td.small { (f.status.last_success.as_deref().map(short_time).unwrap_or_else(|| "never".into())) }
                                td.num { (f.status.last_added) } td.num { (f.status.objects_added) } td.num { (f.status.pulls) }
                                td { @if f.status.last_error.is_some() { span.pill.bad { "error" } } @else if f.status.last_success.is_some() { span.pill.good { "ok" } } @else { span.pill { "not pulled" } } }
                            }
                        }
                    }
                }
            }
        }
        section.card #errors {
            h2 { "Ingestion errors" }
            @if errors.is_empty() && rejected.is_empty() { p.muted { "No feed reports an error and no recent upload had rejected objects." } }
            ul.list {
                @for f in &errors {
                    li { strong { (f.name) } " · " (f.status.last_error_at.as_deref().map(short_time).unwrap_or_default()) " · " span.error-text { (f.status.last_error.clone().unwrap_or_default()) } }
                }
                @for a in &rejected {
                    li { strong { (s(a, "action")) } " · " (short_time(&s(a, "at"))) " · " (s(a, "target")) ": " span.error-text { (a.pointer("/detail/rejected").and_then(Value::as_u64).unwrap_or(0)) " objects rejected" } }
                }
            }
        }
        section.card #audit {
            h2 { "Recent audit entries" }
            @if audit.is_empty() { p.muted { "The audit log (DATA/audit.jsonl) is empty." } }
            table.data {
                tbody { @for a in audit.iter().take(30) { tr { td.small { (short_time(&s(a, "at"))) } td { (s(a, "actor")) } td { (s(a, "action")) } td.small { (s(a, "target")) } } } }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout("Administration", Some(&v), Nav::Admin, body),
    ))
}

/// The newest entries of the audit log (JSON lines), newest first, reading at most the last `max` bytes of the file
/// so that a long-running server's log costs nothing to show.
fn audit_tail(path: &std::path::Path, max: u64) -> Vec<Value> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return vec![];
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return vec![];
    }
    let mut buf = Vec::new();
    if f.take(max).read_to_end(&mut buf).is_err() {
        return vec![];
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    // The first line may be cut in the middle when reading from an offset.
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    lines
        .into_iter()
        .rev()
        .filter_map(|l| serde_json::from_str(l).ok())
        .take(200)
        .collect()
}
