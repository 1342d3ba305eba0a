//! The member view: one member's inventories, notices (with acknowledge and resolve), sightings and the context of
//! each hit. A member's people see only their own member (any other id is a 404); operator staff may open any
//! member's view. Notices are read and changed only through member-filtered `VulnStore` calls.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;
use vigil_store::ServerStore;
use vigil_store::{NoticeFilter, NoticeRecord, StoreError, StoredObject};

use super::{
    blocking, html_page, intel, layout, object_href, short_time, tlp_badge, Nav, Viewer, WebError,
};
use crate::AppState;

/// THE sightings lookup of the dashboard: STIX `sighting` objects in the knowledge base whose `where_sighted_refs`
/// names the member's identity. Kept in one place so that it can be re-pointed when sightings get a store of
/// their own. Tenancy: a member's sightings are its own, whatever their marking; nobody else's are returned.
pub fn member_sightings(
    st: &dyn ServerStore,
    identity_id: &str,
    limit: usize,
) -> Result<Vec<StoredObject>, StoreError> {
    let all = vigil_store::ReadScope {
        all: true,
        open_max: None,
        member: None,
        default_tlp: vigil_model::Tlp::Amber,
    };
    let mut out = Vec::new();
    vigil_store::WebStore::scan_visible(st, &all, &["sighting"], true, None, &mut |o| {
        if out.len() < limit && is_sighted_by(&o.object, identity_id) {
            out.push(o);
        }
        Ok(())
    })?;
    Ok(out)
}

/// Whether a sighting names the identity in `where_sighted_refs`.
pub fn is_sighted_by(o: &vigil_model::StixObject, identity_id: &str) -> bool {
    o.type_() == "sighting"
        && o.get("where_sighted_refs")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(identity_id)))
}

/// An object as the viewer may see it: what the scope allows, plus the viewer's own sightings.
pub fn visible_object(
    st: &dyn ServerStore,
    v: &Viewer,
    id: &str,
) -> Result<Option<StoredObject>, StoreError> {
    let sc = v.scope();
    if let Some(o) = st.get_visible(id, &sc)? {
        return Ok(Some(o));
    }
    if id.starts_with("sighting--") {
        if let Some(o) = st.get(id)? {
            if is_sighted_by(&o.object, &v.principal.identity_id) {
                return Ok(Some(o));
            }
        }
    }
    Ok(None)
}

pub async fn own(State(st): State<Arc<AppState>>, v: Viewer) -> Result<Response, WebError> {
    let id = v.principal.member_id;
    render(st, v, id).await
}

pub async fn view(
    State(st): State<Arc<AppState>>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    if id != v.principal.member_id && !v.principal.is_operator_staff() {
        return Err(WebError::NotFound);
    }
    render(st, v, id).await
}

/// One sighting with the context of its hit.
struct Hit {
    sighting: StoredObject,
    indicator: Option<String>,
    indicator_id: Option<String>,
    families: Vec<vigil_store::Related>,
    actors: Vec<vigil_store::Related>,
}

fn priority_rank(p: &str) -> u8 {
    match p {
        "act" => 0,
        "attend" => 1,
        "track*" => 2,
        _ => 3,
    }
}

pub fn overdue(n: &NoticeRecord, today: &str) -> bool {
    n.status != "resolved" && n.deadline.as_deref().is_some_and(|d| d < today)
}

async fn render(st: Arc<AppState>, v: Viewer, member_id: i64) -> Result<Response, WebError> {
    let store = st.store.clone();
    let vv = v.clone();
    let (member, inventories, notices, hits) = blocking(move || {
        let Some(member) = store.member(member_id)? else {
            return Err(WebError::NotFound);
        };
        let inventories = store.inventories(Some(member_id))?;
        let mut notices = store.notices(&NoticeFilter {
            member: Some(member_id),
            status: None,
        })?;
        notices.sort_by(|a, b| {
            (
                a.status == "resolved",
                priority_rank(&a.priority),
                a.deadline.clone(),
            )
                .cmp(&(
                    b.status == "resolved",
                    priority_rank(&b.priority),
                    b.deadline.clone(),
                ))
        });
        let sc = vv.scope();
        let mut hits = Vec::new();
        for s in member_sightings(&*store, &member.identity_id, 100)? {
            let ind_id = s.object.str("sighting_of_ref").map(str::to_string);
            let mut hit = Hit {
                indicator: None,
                indicator_id: None,
                families: vec![],
                actors: vec![],
                sighting: s,
            };
            if let Some(iid) = ind_id {
                if let Some(i) = store.get_visible(&iid, &sc)? {
                    hit.indicator = i
                        .object
                        .name()
                        .or_else(|| i.object.str("pattern"))
                        .map(str::to_string);
                    hit.indicator_id = Some(iid.clone());
                    let (f, a) = intel::indicator_context(&*store, &iid, &sc)?;
                    hit.families = f;
                    hit.actors = a;
                }
            }
            hits.push(hit);
        }
        Ok((member, inventories, notices, hits))
    })
    .await?;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let open = notices.iter().filter(|n| n.status != "resolved").count();
    let late = notices.iter().filter(|n| overdue(n, &today)).count();
    let body = html! {
        div.page-head {
            h1 { (member.name) }
            p.muted { "Member " (member.id) " · " (member.country) " · " (member.kind) @if member.operator { " · operator" } }
        }
        div.kpis {
            div.kpi { span.n { (open) } span.l { "open notices" } }
            div.kpi.warn[late > 0] { span.n { (late) } span.l { "overdue" } }
            div.kpi { span.n { (inventories.len()) } span.l { "inventories" } }
            div.kpi { span.n { (hits.len()) } span.l { "sightings" } }
        }
        section.card #notices {
            h2 { "Notices" }
            @if notices.is_empty() { p.muted { "No notices: nothing in your inventory matches a known vulnerability." } }
            @for n in &notices { (notice_card(&v, n, &today)) }
        }
        section.card #inventory {
            h2 { "Inventory" }
            @if inventories.is_empty() {
                p.muted { "No inventory yet. Import one with " code { "vigil inventory import --member " (member.id) " FILE" } "." }
            } @else {
                table.data {
                    thead { tr { th { "Name" } th { "Format" } th.num { "Components" } th.num { "Unreadable lines" } th { "Imported" } } }
                    tbody {
                        @for i in &inventories {
                            tr { td { (i.name) } td { (i.format) } td.num { (i.components) } td.num { (i.errors) } td { (short_time(&i.imported_at)) } }
                        }
                    }
                }
            }
        }
        section.card #sightings {
            h2 { "Sightings and hunt results" }
            @if hits.is_empty() { p.muted { "No sightings recorded for this member (" code { "vigil hunt --record" } " adds them)." } }
            @else {
                table.data {
                    thead { tr { th { "Indicator" } th { "Malware" } th { "Actor" } th { "First seen" } th { "Last seen" } th.num { "Count" } th { "TLP" } } }
                    tbody {
                        @for h in &hits {
                            tr {
                                td {
                                    @if let (Some(i), Some(id)) = (&h.indicator, &h.indicator_id) { a href=(object_href(id)) { code { (i) } } }
                                    @else { a href=(object_href(h.sighting.object.id())) { "sighting" } }
                                }
                                td { @for f in &h.families { a href=(object_href(&f.id)) { (f.name.clone().unwrap_or_default()) } " " } }
                                td { @for a in &h.actors { a href=(object_href(&a.id)) { (a.name.clone().unwrap_or_default()) } " " } }
                                td { (short_time(h.sighting.object.str("first_seen").unwrap_or(""))) }
                                td { (short_time(h.sighting.object.str("last_seen").unwrap_or(""))) }
                                td.num { (h.sighting.object.get("count").and_then(Value::as_i64).unwrap_or(1)) }
                                td { (tlp_badge(h.sighting.tlp.unwrap_or(st.cfg.default_tlp))) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout(&member.name, Some(&v), Nav::Member, body),
    ))
}

fn notice_card(v: &Viewer, n: &NoticeRecord, today: &str) -> Markup {
    let doc: Value = serde_json::from_str(&n.json).unwrap_or(Value::Null);
    let s = |k: &str| {
        doc.get("summary")
            .and_then(|x| x.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let title = doc
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or(&n.vulnerability)
        .to_string();
    let assets: Vec<String> = doc
        .get("assets")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| {
                    let name = x.get("name").and_then(Value::as_str).unwrap_or("?");
                    let ver = x.get("version").and_then(Value::as_str).unwrap_or("");
                    match x.get("host").and_then(Value::as_str) {
                        Some(h) => format!("{name} {ver} on {h}"),
                        None => format!("{name} {ver}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let late = overdue(n, today);
    let pclass = format!("prio prio-{}", n.priority.replace('*', "x"));
    let action = format!("/ui/notices/{}", super::urlencode(&n.id));
    html! {
        article.notice.resolved[n.status == "resolved"] id=(format!("notice-{}", n.id)) {
            header {
                span class=(pclass) { (n.priority) }
                h3 { (n.vulnerability) " · " (title) }
                span class=(format!("status status-{}", n.status)) { (n.status) }
            }
            p.deadline.late[late] {
                @match &n.deadline {
                    Some(d) => { "Deadline " strong { (d) } @if late { " · overdue" } }
                    None => { "No deadline: fix on the next system upgrade" }
                }
                " · version " (n.version)
            }
            dl.summary {
                dt { "What is it" } dd { (s("what")) }
                dt { "Why it matters to you" } dd { (s("why")) }
                dt { "What to do" } dd { (s("action")) }
                dt { "By when" } dd { (s("by_when")) }
            }
            @if !assets.is_empty() {
                p.assets { "Affected: " @for (i, a) in assets.iter().enumerate() { @if i > 0 { ", " } code { (a) } } }
            }
            @if let Some(note) = &n.status_note { p.muted { (note) } }
            @if n.status != "resolved" {
                form.actions method="post" action=(action) {
                    input type="hidden" name="csrf" value=(v.csrf);
                    @if n.status == "new" {
                        button name="action" value="acknowledge" type="submit" { "Acknowledge" }
                    }
                    button.primary name="action" value="resolve" type="submit" { "Mark resolved" }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct NoticeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
}

/// Acknowledge or resolve a notice. A member changes only its own notices (the member filter is applied in the
/// store); operator staff may change any member's, as with `vigil notices ack|resolve`.
pub async fn notice_action(
    State(st): State<Arc<AppState>>,
    v: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form: NoticeForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    v.check_csrf(&form.csrf)?;
    let status = match form.action.as_str() {
        "acknowledge" => "acknowledged",
        "resolve" => "resolved",
        _ => return Err(WebError::BadRequest("unknown action".into())),
    };
    let filter = if v.principal.is_operator_staff() {
        None
    } else {
        Some(v.principal.member_id)
    };
    let note = format!("{status} by {} in the dashboard", v.display);
    let store = st.store.clone();
    let nid = id.clone();
    // Through `notices::set_status`, so the change also reaches the member's TAXII collection as a note.
    let rec = blocking(move || {
        crate::notices::set_status(store.as_ref(), &nid, filter, status, &note)
            .map_err(|e| WebError::Internal(e.to_string()))
    })
    .await?;
    let Some(rec) = rec else {
        return Err(WebError::NotFound);
    };
    st.audit.record(
        &v.actor(),
        &format!("web.notice.{}", form.action),
        &id,
        serde_json::json!({"member": rec.member_id}),
    );
    let back = if rec.member_id == v.principal.member_id {
        "/ui/member".to_string()
    } else {
        format!("/ui/members/{}", rec.member_id)
    };
    let mut r = Redirect::to(&format!("{back}#notice-{}", super::urlencode(&id))).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    Ok(r)
}
