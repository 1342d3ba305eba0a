//! The member side of the REST API: inventories, notices (list, read in JSON, Markdown, HTML or CSAF, acknowledge,
//! resolve, reopen) and sightings. Every handler first fixes the one member it acts for ([`acting_for`]): a member's
//! token acts for its own member only; operator staff may name any member. Another member's notice or inventory
//! answers 404 exactly like one that does not exist, and every store query carries the member filter.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use vigil_store::{NoticeFilter, NoticeRecord, PageQuery, PageSource, ReadScope, VersionSel};
use vigil_vuln::notice::{CsafPublisher, Notice};

use crate::api::{actor, blocking, query, read_body};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::notices;
use crate::policy::Principal;
use crate::AppState;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/notices", get(list_notices))
        .route("/api/v1/notices/{id}", get(get_notice))
        .route("/api/v1/notices/{id}/versions", get(notice_versions))
        .route("/api/v1/notices/{id}/{action}", post(change_notice))
        .route(
            "/api/v1/inventories",
            get(list_inventories).post(upload_inventory),
        )
        .route(
            "/api/v1/inventories/{name}",
            axum::routing::delete(remove_inventory),
        )
        .route("/api/v1/sightings", get(list_sightings))
}

/// A query string that may only name the member (operator staff).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberOnly {
    member: Option<i64>,
}

fn who(c: &Option<Principal>) -> Result<&Principal, ApiError> {
    c.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this needs a member's API token",
        )
    })
}

/// The member a request acts for: the caller's own, or for operator staff the one named by `member`. A member
/// naming another member gets 404, as if that member's data did not exist.
fn acting_for(p: &Principal, member: Option<i64>) -> Result<i64, ApiError> {
    match member {
        None => Ok(p.member_id),
        Some(m) if m == p.member_id || p.is_operator_staff() => Ok(m),
        Some(_) => Err(ApiError::not_found()),
    }
}

/// For lists: operator staff without `member` see every member's rows; everyone else only their own.
fn list_filter(p: &Principal, member: Option<i64>) -> Result<Option<i64>, ApiError> {
    match member {
        None if p.is_operator_staff() => Ok(None),
        m => acting_for(p, m).map(Some),
    }
}

fn page_bounds(limit: Option<u32>, offset: Option<u32>) -> Result<(usize, usize), ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("`limit` must be between 1 and 1000"));
    }
    Ok((limit as usize, offset.unwrap_or(0) as usize))
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

// ------------------------------------------------------------------------------------------------ notices

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoticeListParams {
    /// Only this member's notices (operator staff; a member always sees only its own).
    pub member: Option<i64>,
    /// `new`, `acknowledged` or `resolved`.
    #[param(value_type = Option<crate::doc::NoticeStatus>)]
    pub status: Option<String>,
    /// `act`, `attend`, `track*` or `track`.
    pub priority: Option<String>,
    /// Only notices past their deadline and not resolved.
    pub overdue: Option<bool>,
    /// Page size (1-1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// A notice in a list: enough to triage, the full notice at `/api/v1/notices/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeItem {
    pub id: String,
    pub member: i64,
    pub vulnerability: String,
    pub title: String,
    /// SSVC outcome: `act`, `attend`, `track*`, `track`.
    pub priority: String,
    /// Remediation deadline (YYYY-MM-DD), absent when the next regular update suffices.
    pub deadline: Option<String>,
    pub overdue: bool,
    /// `new`, `acknowledged`, `resolved`.
    pub status: String,
    pub version: i64,
    pub tlp: String,
    /// The plain-language summary: what is affected, why it matters, what to do, by when.
    #[schema(value_type = Object)]
    pub summary: Value,
    /// How many of the member's components are affected.
    pub affected_assets: usize,
    pub in_kev: bool,
    pub epss: Option<f64>,
    pub first_sent: String,
    pub updated: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoticesPage {
    pub items: Vec<NoticeItem>,
    pub next_offset: Option<u32>,
}

fn item(r: &NoticeRecord, n: &Notice) -> NoticeItem {
    NoticeItem {
        id: r.id.clone(),
        member: r.member_id,
        vulnerability: r.vulnerability.clone(),
        title: n.title.clone(),
        priority: r.priority.clone(),
        deadline: r.deadline.clone(),
        overdue: r.status != "resolved" && n.is_overdue(today()),
        status: r.status.clone(),
        version: r.version,
        tlp: r.tlp.unwrap_or(n.tlp).to_string(),
        summary: serde_json::to_value(&n.summary).unwrap_or(Value::Null),
        affected_assets: n.assets.len(),
        in_kev: n.in_kev,
        epss: n.epss,
        first_sent: r.created_at.clone(),
        updated: r.updated_at.clone(),
    }
}

fn load(r: &NoticeRecord) -> Result<Notice, ApiError> {
    notices::load(r).map_err(ApiError::internal)
}

#[utoipa::path(get, path = "/api/v1/notices", tag = "notices", params(NoticeListParams),
    responses((status = 200, description = "The caller's notices (operator staff: every member's, or one member's), most recently changed first", body = NoticesPage),
              (status = 400, description = "Bad parameters", body = crate::error::ErrorBody),
              (status = 401, description = "No valid token", body = crate::error::ErrorBody)))]
pub(crate) async fn list_notices(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<NoticesPage>, ApiError> {
    let p = who(&c)?;
    let q: NoticeListParams = query(raw.as_deref())?;
    let member = list_filter(p, q.member)?;
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    if let Some(s) = &q.status {
        if !matches!(s.as_str(), "new" | "acknowledged" | "resolved") {
            return Err(ApiError::bad_request(
                "`status` must be new, acknowledged or resolved",
            ));
        }
    }
    if let Some(pr) = &q.priority {
        if !matches!(pr.as_str(), "act" | "attend" | "track*" | "track") {
            return Err(ApiError::bad_request(
                "`priority` must be act, attend, track* or track",
            ));
        }
    }
    let store = st.store.clone();
    let status = q.status.clone();
    let recs = blocking(move || Ok(store.notices(&NoticeFilter { member, status })?)).await?;
    let mut items = Vec::new();
    for r in &recs {
        if q.priority.as_deref().is_some_and(|pr| pr != r.priority) {
            continue;
        }
        let it = item(r, &load(r)?);
        if q.overdue == Some(true) && !it.overdue {
            continue;
        }
        items.push(it);
    }
    let more = items.len() > offset.saturating_add(limit);
    let items = items.into_iter().skip(offset).take(limit).collect();
    Ok(Json(NoticesPage {
        items,
        next_offset: more.then_some((offset + limit) as u32),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoticeParams {
    /// Operator staff: the member whose notice it is.
    pub member: Option<i64>,
    /// `json` (default), `md` (Markdown), `html` or `csaf` (a CSAF 2.0 document).
    #[param(value_type = Option<crate::doc::NoticeFormat>)]
    pub format: Option<String>,
}

async fn fetch_notice(
    st: &Arc<AppState>,
    p: &Principal,
    id: String,
    member: Option<i64>,
) -> Result<NoticeRecord, ApiError> {
    // Staff may read any notice by id; a member only its own (the store applies the filter).
    let filter = if p.is_operator_staff() && member.is_none() {
        None
    } else {
        Some(acting_for(p, member)?)
    };
    let store = st.store.clone();
    blocking(move || Ok(store.notice(&id, filter)?))
        .await?
        .ok_or_else(ApiError::not_found)
}

#[utoipa::path(get, path = "/api/v1/notices/{id}", tag = "notices",
    params(("id" = String, Path, description = "Notice id"), NoticeParams),
    responses((status = 200, description = "The notice: JSON (default), Markdown, HTML or CSAF 2.0 (JSON)", content(
                  (Object = "application/json"),
                  (String = "text/markdown"),
                  (String = "text/html"))),
              (status = 400, description = "Bad parameters", body = crate::error::ErrorBody),
              (status = 401, description = "No valid token", body = crate::error::ErrorBody),
              (status = 404, description = "No such notice for the caller", body = crate::error::ErrorBody)))]
pub(crate) async fn get_notice(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = who(&c)?.clone();
    let q: NoticeParams = query(raw.as_deref())?;
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "md" | "html" | "csaf") {
        return Err(ApiError::bad_request(
            "`format` must be json, md, html or csaf",
        ));
    }
    let r = fetch_notice(&st, &p, id, q.member).await?;
    let n = load(&r)?;
    st.audit.record(
        &actor(Some(&p)),
        "api.notice.read",
        &r.id,
        json!({"format": format}),
    );
    Ok(match format {
        "md" => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            n.to_markdown(),
        )
            .into_response(),
        "html" => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            n.to_html(),
        )
            .into_response(),
        "csaf" => {
            let publisher = CsafPublisher {
                name: st.cfg.title.clone(),
                namespace: st.cfg.publisher_namespace.clone(),
            };
            let store = st.store.clone();
            let nid = r.id.clone();
            let versions = blocking(move || Ok(store.notice_versions(&nid)?)).await?;
            Json(notices::csaf(&r, &n, &versions, &publisher)).into_response()
        }
        _ => Json(notices::notice_json(&r, &n, today())).into_response(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeVersionView {
    pub version: i64,
    pub priority: String,
    pub deadline: Option<String>,
    /// What changed from the previous version.
    pub reason: String,
    pub sent: String,
}

#[utoipa::path(get, path = "/api/v1/notices/{id}/versions", tag = "notices",
    params(("id" = String, Path, description = "Notice id"), NoticeParams),
    responses((status = 200, description = "Every version of the notice, oldest first", body = Vec<NoticeVersionView>),
              (status = 400, description = "Bad parameters", body = crate::error::ErrorBody),
              (status = 401, description = "No valid token", body = crate::error::ErrorBody),
              (status = 404, description = "No such notice for the caller", body = crate::error::ErrorBody)))]
pub(crate) async fn notice_versions(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<NoticeVersionView>>, ApiError> {
    let p = who(&c)?.clone();
    let q: NoticeParams = query(raw.as_deref())?;
    let r = fetch_notice(&st, &p, id, q.member).await?;
    let store = st.store.clone();
    let versions = blocking(move || Ok(store.notice_versions(&r.id)?)).await?;
    Ok(Json(
        versions
            .into_iter()
            .map(|v| NoticeVersionView {
                version: v.version,
                priority: v.priority,
                deadline: v.deadline,
                reason: v.reason,
                sent: v.created_at,
            })
            .collect(),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// Why (shown to the member and the operator, kept in the notice's history).
    pub note: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/notices/{id}/{action}", tag = "notices",
    params(("id" = String, Path, description = "Notice id"),
           ("action" = crate::doc::NoticeAction, Path, description = "`acknowledge`, `resolve` or `reopen`"),
           ("member" = Option<i64>, Query, description = "Operator staff: the member whose notice it is")),
    request_body(content = Option<StatusChange>, content_type = "application/json"),
    responses((status = 200, description = "The notice after the change", body = NoticeItem),
              (status = 400, description = "Unknown action or malformed body", body = crate::error::ErrorBody),
              (status = 401, description = "No valid token", body = crate::error::ErrorBody),
              (status = 404, description = "No such notice for the caller", body = crate::error::ErrorBody)))]
pub(crate) async fn change_notice(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    Path((id, action)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<NoticeItem>, ApiError> {
    let p = who(&c)?.clone();
    let q: MemberOnly = query(raw.as_deref())?;
    let status = match action.as_str() {
        "acknowledge" => "acknowledged",
        "resolve" => "resolved",
        "reopen" => "new",
        _ => {
            return Err(ApiError::bad_request(
                "the action must be acknowledge, resolve or reopen",
            ))
        }
    };
    let body = body.map_err(|e| ApiError::bad_request(format!("cannot read the body: {e}")))?;
    let change: StatusChange = if body.iter().all(u8::is_ascii_whitespace) {
        StatusChange::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?
    };
    let note = change.note.unwrap_or_default();
    if note.len() > 2000 || note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::bad_request(
            "`note` must be at most 2000 bytes without control characters",
        ));
    }
    let r = fetch_notice(&st, &p, id, q.member).await?;
    let who_did = actor(Some(&p));
    let why = if note.is_empty() {
        format!("by {who_did}")
    } else {
        format!("by {who_did}: {note}")
    };
    let store = st.store.clone();
    let (nid, mid) = (r.id.clone(), r.member_id);
    let updated = blocking(move || {
        notices::set_status(store.as_ref(), &nid, Some(mid), status, &why)
            .map_err(ApiError::internal)
    })
    .await?
    .ok_or_else(ApiError::not_found)?;
    st.audit.record(
        &who_did,
        &format!("api.notice.{action}"),
        &updated.id,
        json!({"member": updated.member_id}),
    );
    Ok(Json(item(&updated, &load(&updated)?)))
}

// ------------------------------------------------------------------------------------------------ inventories

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MemberParams {
    /// Operator staff: act for this member (a member always acts for itself).
    pub member: Option<i64>,
    /// Page size (1-1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InventoryView {
    pub member: i64,
    pub name: String,
    /// `cyclonedx`, `spdx`, `purl`, `cpe` or `csv`.
    pub format: String,
    pub components: i64,
    /// Entries that could not be read.
    pub errors: i64,
    pub imported_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InventoriesPage {
    pub items: Vec<InventoryView>,
    pub next_offset: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/inventories", tag = "inventories", params(MemberParams),
    responses((status = 200, description = "The member's inventories (operator staff without `member`: every member's)", body = InventoriesPage),
              (status = 400, description = "Bad parameters", body = crate::error::ErrorBody),
              (status = 401, description = "No valid token", body = crate::error::ErrorBody)))]
pub(crate) async fn list_inventories(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<InventoriesPage>, ApiError> {
    let p = who(&c)?;
    let q: MemberParams = query(raw.as_deref())?;
    let member = list_filter(p, q.member)?;
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    let store = st.store.clone();
    let all = blocking(move || Ok(store.inventories(member)?)).await?;
    let more = all.len() > offset.saturating_add(limit);
    Ok(Json(InventoriesPage {
        items: all
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|r| InventoryView {
                member: r.member_id,
                name: r.name,
                format: r.format,
                components: r.components,
                errors: r.errors,
                imported_at: r.imported_at,
            })
            .collect(),
        next_offset: more.then_some((offset + limit) as u32),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// The name to keep it under (uploading the same name again replaces it).
    pub name: String,
    /// Operator staff: the member it belongs to.
    pub member: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadReport {
    pub member: i64,
    pub name: String,
    pub format: String,
    pub components: usize,
    /// What could not be read (first 50), with its location.
    pub problems: Vec<String>,
    /// The re-evaluation of the member's notices that the upload caused (absent when this server does not
    /// evaluate notices itself; then the next `vigil scan` does).
    #[schema(value_type = Option<Object>)]
    pub notices: Option<Value>,
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "`name` must be 1-200 bytes without control characters",
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/inventories", tag = "inventories", params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "CycloneDX JSON (1.4-1.6), SPDX JSON 2.3, a purl list, a CPE list, or CSV `vendor,product,version,host,internet_facing,criticality`"),
    responses((status = 200, description = "Stored; the member's notices re-evaluated", body = UploadReport),
              (status = 400, description = "Bad parameters", body = crate::error::ErrorBody),
              (status = 401, description = "No valid token", body = crate::error::ErrorBody),
              (status = 404, description = "No such member for the caller", body = crate::error::ErrorBody),
              (status = 413, description = "Body too large", body = crate::error::ErrorBody),
              (status = 422, description = "No component could be read; nothing stored", body = crate::error::ErrorBody)))]
pub(crate) async fn upload_inventory(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<UploadReport>, ApiError> {
    let p = who(&c)?.clone();
    let q: UploadParams = query(raw.as_deref())?;
    check_name(&q.name)?;
    let member = acting_for(&p, q.member)?;
    let body = read_body(&st, body)?;
    let store = st.store.clone();
    let name = q.name.clone();
    let (format, components, problems) = blocking(move || {
        if store.member(member)?.is_none() {
            return Err(ApiError::not_found());
        }
        let inv = vigil_vuln::read_inventory(&name, &body);
        let format = serde_json::to_value(inv.format)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        let problems: Vec<String> = inv.errors.iter().take(50).map(|e| e.to_string()).collect();
        if inv.items.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_components",
                format!(
                    "{name}: no components could be read ({format} format), nothing stored{}",
                    problems
                        .first()
                        .map(|e| format!("; first problem: {e}"))
                        .unwrap_or_default()
                ),
            ));
        }
        store.put_inventory(
            member,
            &name,
            &format,
            inv.items.len() as i64,
            inv.errors.len() as i64,
            &body,
        )?;
        Ok((format, inv.items.len(), problems))
    })
    .await?;
    let notices = match st.hooks.get().and_then(|h| h.inventory_changed.clone()) {
        Some(hook) => Some(blocking(move || hook(member).map_err(ApiError::internal)).await?),
        None => None,
    };
    st.audit.record(
        &actor(Some(&p)),
        "api.inventory.upload",
        &q.name,
        json!({"member": member, "components": components}),
    );
    Ok(Json(UploadReport {
        member,
        name: q.name,
        format,
        components,
        problems,
        notices,
    }))
}

#[utoipa::path(delete, path = "/api/v1/inventories/{name}", tag = "inventories",
    params(("name" = String, Path, description = "Inventory name"),
           ("member" = Option<i64>, Query, description = "Operator staff: the member it belongs to")),
    responses((status = 204, description = "Removed; its notices resolve at the re-evaluation"),
              (status = 400, description = "Bad parameters", body = crate::error::ErrorBody),
              (status = 401, description = "No valid token", body = crate::error::ErrorBody),
              (status = 404, description = "No such inventory for the caller", body = crate::error::ErrorBody)))]
pub(crate) async fn remove_inventory(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<StatusCode, ApiError> {
    let p = who(&c)?.clone();
    let q: MemberOnly = query(raw.as_deref())?;
    let member = acting_for(&p, q.member)?;
    let store = st.store.clone();
    let n = name.clone();
    if !blocking(move || Ok(store.remove_inventory(member, &n)?)).await? {
        return Err(ApiError::not_found());
    }
    if let Some(hook) = st.hooks.get().and_then(|h| h.inventory_changed.clone()) {
        blocking(move || hook(member).map(|_| ()).map_err(ApiError::internal)).await?;
    }
    st.audit.record(
        &actor(Some(&p)),
        "api.inventory.remove",
        &name,
        json!({"member": member}),
    );
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------------------------------------ sightings

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SightingParams {
    /// Operator staff: this member's sightings (required for staff, who have no sightings of their own unless the
    /// operator hunts too).
    pub member: Option<i64>,
    /// Page size (1-1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// The `next` value of the previous page.
    pub next: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SightingsPage {
    /// STIX `sighting` objects (latest version of each), oldest first.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    pub next: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/sightings", tag = "hunting", params(SightingParams),
    responses((status = 200, description = "The member's sightings recorded by `vigil hunt --record`", body = SightingsPage),
              (status = 400, description = "Bad parameters", body = crate::error::ErrorBody),
              (status = 401, description = "No valid token", body = crate::error::ErrorBody)))]
pub(crate) async fn list_sightings(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<SightingsPage>, ApiError> {
    let p = who(&c)?;
    let q: SightingParams = query(raw.as_deref())?;
    let member = acting_for(p, q.member)?;
    let (limit, _) = page_bounds(q.limit, None)?;
    let pq = PageQuery {
        source: PageSource::Member { member },
        scope: ReadScope {
            member: Some(member),
            ..crate::policy::scope(Some(p), st.cfg.default_tlp)
        },
        after_seq: q.next.unwrap_or(0).max(0),
        added_after: None,
        types: vec!["sighting".into()],
        ids: vec![],
        versions: VersionSel::Last,
        limit,
    };
    let store = st.store.clone();
    let page = blocking(move || Ok(store.page(&pq)?)).await?;
    let next = if page.more {
        page.rows.last().map(|r| r.seq)
    } else {
        None
    };
    let items = page
        .rows
        .iter()
        .map(|r| serde_json::from_str(&r.json).map_err(ApiError::internal))
        .collect::<Result<Vec<Value>, _>>()?;
    Ok(Json(SightingsPage { items, next }))
}
