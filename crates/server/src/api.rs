//! The REST API under `/api/v1`, documented by an OpenAPI 3 document generated from these handlers
//! (`/api/v1/openapi.json`). Every list is paginated; every error has the shape of [`ErrorBody`]; every read of
//! knowledge goes through [`crate::policy::scope`], so an object a caller may not see is a 404 exactly like one
//! that does not exist.
//!
//! Inventories, notices and sightings are in [`crate::member_api`]; they are documented here too.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use vigil_model::Tlp;
use vigil_store::{PageQuery, PageSource, VersionSel};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::policy::{check_kind, scope, Eligibility, Principal, Role};
use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Vigil REST API", version = "1", description = "Sovereign threat intelligence: knowledge base, members, exports. \
        Authenticate with an API token as HTTP Bearer, or as the password of HTTP Basic."),
    paths(get_object, search, ingest, retract, list_members, add_member, stats, export_stix, crate::detection::export_detection, crate::detection::misp_feed_file,
        crate::member_api::list_notices, crate::member_api::get_notice, crate::member_api::notice_versions,
        crate::member_api::change_notice, crate::member_api::list_inventories, crate::member_api::upload_inventory,
        crate::member_api::remove_inventory, crate::member_api::list_sightings),
    components(schemas(ErrorBody, ErrorDetail, ObjectView, RelatedView, SearchPage, SearchItem, MemberView, MembersPage, NewMember, NewMemberId, ExportPage, RetractRequest,
        crate::member_api::NoticeItem, crate::member_api::NoticesPage, crate::member_api::NoticeVersionView,
        crate::member_api::StatusChange, crate::member_api::InventoryView, crate::member_api::InventoriesPage,
        crate::member_api::UploadReport, crate::member_api::SightingsPage,
        crate::doc::TlpLevel, crate::doc::IngestFormat, crate::doc::MemberKind, crate::doc::NoticeFormat,
        crate::doc::NoticeStatus, crate::doc::NoticeAction)),
    modifiers(&Security),
    security(("bearer" = []), ("basic" = []))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/objects/{id}", get(get_object))
        .route("/api/v1/search", get(search))
        .route("/api/v1/ingest", post(ingest))
        .route("/api/v1/retract", post(retract))
        .route("/api/v1/members", get(list_members).post(add_member))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/exports/stix", get(export_stix))
        .route(
            "/api/v1/exports/{format}",
            get(crate::detection::export_detection),
        )
        .route(
            "/api/v1/feeds/misp/{file}",
            get(crate::detection::misp_feed_file),
        )
}

async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// A request body, or the API's error for it: 413 naming the limit when it is too large, 400 otherwise.
pub(crate) fn read_body(
    st: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the limit is {} bytes", st.cfg.max_body),
            )
        } else {
            ApiError::bad_request(format!("cannot read the body: {e}"))
        }
    })
}

pub(crate) fn query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("bad query string: {e}")))
}

pub(crate) fn actor(p: Option<&Principal>) -> String {
    p.map(|p| format!("member-{}/token-{}", p.member_id, p.token_id))
        .unwrap_or_else(|| "anonymous".into())
}

fn staff(c: &Option<Principal>) -> Result<&Principal, ApiError> {
    match c {
        Some(p) if p.is_operator_staff() => Ok(p),
        _ => Err(ApiError::forbidden(
            "this needs an admin or analyst token of the operator's organisation",
        )),
    }
}

/// An object with its relationships, as the caller may see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectView {
    /// The STIX 2.1 object as stored.
    #[schema(value_type = Object)]
    pub object: Value,
    /// Effective TLP (`clear`, `green`, `amber`, `amber+strict`, `red`); unmarked objects take the operator default.
    pub tlp: String,
    pub relationships: Vec<RelatedView>,
    /// For a vulnerability: what every source says about it (KEV entry and known ransomware use, EPSS, SSVC,
    /// the actors and malware related to it under any source's id; operator staff also see how many members
    /// hold notices for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub vulnerability: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RelatedView {
    pub relationship_type: String,
    /// `out` when the object is the relationship's source.
    pub direction: String,
    pub id: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub relationship_id: String,
}

#[utoipa::path(get, path = "/api/v1/objects/{id}", tag = "knowledge",
    params(("id" = String, Path, description = "A STIX identifier")),
    responses((status = 200, description = "The object", body = ObjectView),
               (status = 401, description = "No valid token", body = ErrorBody),
               (status = 404, description = "No such object, or not visible to the caller", body = ErrorBody)))]
async fn get_object(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> Result<Json<ObjectView>, ApiError> {
    if !vigil_model::ids::is_valid_id(&id) {
        return Err(ApiError::not_found());
    }
    let sc = scope(c.as_ref(), st.cfg.default_tlp);
    let staff_view = c.as_ref().is_some_and(Principal::is_operator_staff);
    let store = st.store.clone();
    let view = blocking(move || {
        let Some(o) = store.get_visible(&id, &sc)? else {
            return Ok(None);
        };
        let mut rels = Vec::new();
        for r in store.related(&id)? {
            // Both the relationship and what it points at must be visible; an id never stored reveals nothing.
            let rel_ok = store.get_visible(&r.relationship_id, &sc)?.is_some();
            let far_ok = store.get_visible(&r.id, &sc)?.is_some() || store.get(&r.id)?.is_none();
            if rel_ok && far_ok {
                rels.push(RelatedView {
                    relationship_type: r.relationship_type,
                    direction: r.direction,
                    id: r.id,
                    type_: r.type_,
                    name: r.name,
                    external_id: r.external_id,
                    relationship_id: r.relationship_id,
                });
            }
        }
        let tlp = o.tlp.unwrap_or(sc.default_tlp);
        let object = o.object.into_value();
        let vulnerability =
            crate::context::vulnerability(store.as_ref(), &object, &sc, staff_view)?;
        Ok(Some(ObjectView {
            object,
            tlp: tlp.as_str().into(),
            relationships: rels,
            vulnerability,
        }))
    })
    .await?;
    let view = view.ok_or_else(ApiError::not_found)?;
    if Tlp::parse(&view.tlp).is_some_and(|t| t >= Tlp::Amber) {
        st.audit.record(
            &actor(c.as_ref()),
            "api.object",
            view.object.get("id").and_then(Value::as_str).unwrap_or(""),
            json!({"tlp": view.tlp}),
        );
    }
    Ok(Json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to look for in names, aliases, descriptions and values.
    pub q: String,
    /// Page size (1-200, default 20).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Hits to skip (from `next_offset` of the previous page).
    pub offset: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchItem {
    pub id: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub score: f64,
    /// Revoked (retracted) or deprecated: found, ranked last, left out of exports and hunts.
    pub retired: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    pub items: Vec<SearchItem>,
    /// Offset of the next page, absent on the last one.
    pub next_offset: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/search", tag = "knowledge", params(SearchParams),
    responses((status = 200, description = "Hits the caller may see, best first", body = SearchPage),
              (status = 400, description = "Bad parameters", body = ErrorBody),
              (status = 401, description = "No valid token", body = ErrorBody)))]
async fn search(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<SearchPage>, ApiError> {
    let p: SearchParams = query(raw.as_deref())?;
    let limit = p.limit.unwrap_or(20);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request("`limit` must be between 1 and 200"));
    }
    // SQLite's FTS5 query parser fails on NUL and other control characters (schemathesis found it): refuse them.
    if p.q.chars().any(char::is_control) || p.q.len() > 1000 {
        return Err(ApiError::bad_request(
            "`q` must be at most 1000 bytes without control characters",
        ));
    }
    let offset = p.offset.unwrap_or(0);
    if offset > 10_000 {
        return Err(ApiError::bad_request("`offset` must be at most 10000"));
    }
    let sc = scope(c.as_ref(), st.cfg.default_tlp);
    let store = st.store.clone();
    blocking(move || {
        let want = (offset + limit + 1) as usize;
        let hits = store.search(&p.q, (want * 4).min(50_000))?;
        let mut visible = Vec::new();
        for h in hits {
            if store.get_visible(&h.id, &sc)?.is_some() {
                visible.push(h);
                if visible.len() >= want {
                    break;
                }
            }
        }
        let more = visible.len() > (offset + limit) as usize;
        let items = visible
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|h| SearchItem {
                id: h.id,
                type_: h.type_,
                name: h.name,
                external_id: h.external_id,
                score: h.score,
                retired: h.retired,
            })
            .collect();
        Ok(Json(SearchPage {
            items,
            next_offset: more.then_some(offset + limit),
        }))
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestParams {
    /// auto|stix|misp|misp-feed|galaxy|warninglist|iocs
    #[param(value_type = Option<crate::doc::IngestFormat>)]
    pub format: Option<String>,
    /// Source name recorded as provenance.
    pub source: Option<String>,
    /// Marking for objects that carry none.
    #[param(value_type = Option<crate::doc::TlpLevel>)]
    pub tlp: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/ingest", tag = "knowledge", params(IngestParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file to load (any format `vigil ingest` reads)"),
    responses((status = 200, description = "The ingest report", body = Object),
              (status = 400, description = "Bad parameters", body = ErrorBody),
              (status = 401, description = "No valid token", body = ErrorBody),
              (status = 403, description = "Not operator staff", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody)))]
async fn ingest(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let p = staff(&c)?.clone();
    let params: IngestParams = query(raw.as_deref())?;
    let body = read_body(&st, body)?;
    let format = match params.format.as_deref() {
        None | Some("auto") => None,
        Some(f) => Some(vigil_formats_parse(f)?),
    };
    let tlp = match params.tlp.as_deref() {
        None => None,
        Some(t) => Some(t.parse::<Tlp>().map_err(ApiError::bad_request)?),
    };
    let opts = vigil_ingest::Options {
        format,
        source: params.source.clone(),
        tlp,
        confidence: None,
    };
    let dir = st.data.join(".uploads");
    let store = st.store.clone();
    let report = blocking(move || {
        std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
        let path = dir.join(format!("upload-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, &body).map_err(ApiError::internal)?;
        let r = vigil_ingest::ingest_paths(
            store.as_ref(),
            &[path.display().to_string()],
            &opts,
            &mut |_| {},
        );
        let _ = std::fs::remove_file(&path);
        r.map_err(|e| ApiError::bad_request(e.to_string()))
    })
    .await?;
    st.audit.record(
        &actor(Some(&p)),
        "api.ingest",
        params.source.as_deref().unwrap_or("upload"),
        json!({"added": report.added, "rejected": report.rejected}),
    );
    Ok(Json(report).into_response())
}

/// What to retract (`vigil retract`): objects by key, or what one source reported.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetractRequest {
    /// STIX ids, indicator values (defanged is fine), names or external ids; each must name one object.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Every live object this provenance source reports, except what other sources report too.
    pub source: Option<String>,
    /// With `source`: only objects from files matching this glob.
    pub file: Option<String>,
    /// Only these STIX types.
    #[serde(default)]
    pub types: Vec<String>,
    /// Why: kept in every revoked version and in the audit trail.
    pub reason: Option<String>,
    /// Report what would be retracted and write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Withdraws objects as revoked STIX versions (see the README's "Retracting what turned out wrong"): exports,
/// hunts and search leave them out, TAXII consumers receive the revocation. Operator staff only.
#[utoipa::path(post, path = "/api/v1/retract", tag = "knowledge", request_body = RetractRequest,
    responses((status = 200, description = "What was retracted (or would be, with dry_run): counts by type, ids, \
                objects kept because other sources report them", body = Object),
              (status = 400, description = "Nothing selected, an unknown or ambiguous key, a bad glob", body = ErrorBody),
              (status = 401, description = "No valid token", body = ErrorBody),
              (status = 403, description = "Not operator staff", body = ErrorBody)))]
async fn retract(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    body: Result<Json<RetractRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let p = staff(&c)?.clone();
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let store = st.store.clone();
    let who = actor(Some(&p));
    let by_member = p.member_id;
    let sel = vigil_ingest::retract::Selection {
        keys: req.keys,
        source: req.source,
        file: req.file,
        types: req.types,
    };
    let reason = req.reason;
    let audit_reason = reason.clone();
    let dry_run = req.dry_run;
    let (report, target) = blocking(move || {
        // The STIX property names the organisation and the token, so a reader of the object knows who to ask.
        let org = store
            .member(by_member)
            .map_err(ApiError::internal)?
            .map(|m| m.name)
            .unwrap_or_default();
        let how = vigil_ingest::retract::Retraction {
            by: format!("{org} ({who})"),
            reason,
            now: chrono::Utc::now(),
            dry_run,
        };
        let report =
            vigil_ingest::retract::retract(store.as_ref(), &sel, &how).map_err(|e| match e {
                vigil_ingest::retract::RetractError::Store(e) => ApiError::internal(e),
                other => ApiError::bad_request(other.to_string()),
            })?;
        let target = sel.audit_target(&report);
        Ok((report, target))
    })
    .await?;
    if !dry_run && report.retracted > 0 {
        st.audit.record(
            &actor(Some(&p)),
            "api.retract",
            &target,
            json!({"retracted": report.retracted, "cascaded": report.cascaded, "kept": report.kept,
                "reason": audit_reason}),
        );
    }
    Ok(Json(report).into_response())
}

fn vigil_formats_parse(f: &str) -> Result<vigil_formats::Format, ApiError> {
    vigil_formats::Format::parse(f).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown format `{f}` (auto, stix, misp, misp-feed, galaxy, warninglist, iocs)"
        ))
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub id: i64,
    pub name: String,
    pub country: String,
    pub kind: String,
    pub identity_id: String,
    pub operator: bool,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembersPage {
    pub items: Vec<MemberView>,
    pub next_offset: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size (1-1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/members", tag = "members", params(PageParams),
    responses((status = 200, description = "Members (operator staff see all, a member sees itself)", body = MembersPage),
              (status = 400, description = "Bad parameters", body = ErrorBody),
              (status = 401, description = "No valid token", body = ErrorBody)))]
async fn list_members(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<MembersPage>, ApiError> {
    let p: PageParams = query(raw.as_deref())?;
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("`limit` must be between 1 and 1000"));
    }
    let offset = p.offset.unwrap_or(0);
    let store = st.store.clone();
    let all = blocking(move || Ok(store.members()?)).await?;
    let mine: Vec<_> = all
        .into_iter()
        .filter(|m| {
            c.as_ref()
                .is_some_and(|p| p.is_operator_staff() || p.member_id == m.id)
        })
        .collect();
    let more = mine.len() > (offset as usize).saturating_add(limit as usize);
    let items = mine
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|m| MemberView {
            id: m.id,
            name: m.name,
            country: m.country,
            kind: m.kind,
            identity_id: m.identity_id,
            operator: m.operator,
            created_at: m.created_at,
        })
        .collect();
    Ok(Json(MembersPage {
        items,
        next_offset: more.then_some(offset + limit),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub name: String,
    /// ISO 3166-1 alpha-2 code of an eligible jurisdiction.
    pub country: String,
    /// csirt | ministry | agency | regulator
    #[schema(value_type = crate::doc::MemberKind)]
    pub kind: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewMemberId {
    pub id: i64,
}

#[utoipa::path(post, path = "/api/v1/members", tag = "members", request_body = NewMember,
    responses((status = 201, description = "Enrolled", body = NewMemberId),
              (status = 400, description = "Malformed body", body = ErrorBody),
              (status = 401, description = "No valid token", body = ErrorBody),
              (status = 403, description = "Not an operator admin", body = ErrorBody),
              (status = 422, description = "Refused by the eligibility policy", body = ErrorBody)))]
async fn add_member(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let p = match &c {
        Some(p) if p.operator && p.role == Role::Admin => p.clone(),
        _ => {
            return Err(ApiError::forbidden(
                "enrolling members needs an admin token of the operator's organisation",
            ))
        }
    };
    let body = body.map_err(|e| ApiError::bad_request(e.to_string()))?;
    let m: NewMember = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("bad member: {e}")))?;
    if m.name.trim().is_empty() || m.name.len() > 200 {
        return Err(ApiError::bad_request("`name` must be 1 to 200 characters"));
    }
    let store = st.store.clone();
    let extra = st.eligibility_extra.clone();
    let id = blocking(move || {
        let policy = Eligibility::new(extra.into_iter().chain(store.eligibility_extra()?));
        let cc = policy.check(&m.country).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_eligible",
                e.to_string(),
            )
        })?;
        let kind = check_kind(&m.kind).map_err(|e| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_kind", e.to_string())
        })?;
        Ok(store.add_member(m.name.trim(), &cc, &kind, false)?.id)
    })
    .await?;
    st.audit.record(
        &actor(Some(&p)),
        "members.add",
        &format!("member-{id}"),
        json!({}),
    );
    Ok((StatusCode::CREATED, Json(NewMemberId { id })).into_response())
}

#[utoipa::path(get, path = "/api/v1/stats", tag = "knowledge",
    responses((status = 200, description = "Counts of live objects by type, source and TLP, and `pending_links`: relationships read from inputs that wait for a target not loaded yet, by the types they wait for, with a count and example names", body = Object),
              (status = 401, description = "No valid token", body = ErrorBody),
              (status = 403, description = "Not operator staff", body = ErrorBody)))]
async fn stats(State(st): State<Arc<AppState>>, Caller(c): Caller) -> Result<Response, ApiError> {
    // Counts by TLP and source describe the whole knowledge base, AMBER and RED included: operator only.
    staff(&c)?;
    let store = st.store.clone();
    let s = blocking(move || Ok(store.stats()?)).await?;
    Ok(Json(s).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Leave out objects above this level (clear, green, amber, amber+strict, red).
    #[param(value_type = Option<crate::doc::TlpLevel>)]
    pub tlp_max: Option<String>,
    /// Only this STIX type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_: Option<String>,
    /// Objects per page (1-5000, default 1000).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
    /// The cursor from the previous page.
    pub next: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportPage {
    /// A STIX 2.1 bundle of the objects on this page, with the TLP marking definitions they reference.
    #[schema(value_type = Object)]
    pub bundle: Value,
    pub more: bool,
    pub next: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/exports/stix", tag = "exports", params(ExportParams),
    responses((status = 200, description = "One page of the caller's visible knowledge as a STIX bundle", body = ExportPage),
              (status = 400, description = "Bad parameters", body = ErrorBody),
              (status = 401, description = "No valid token", body = ErrorBody)))]
async fn export_stix(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<ExportPage>, ApiError> {
    let p: ExportParams = query(raw.as_deref())?;
    let tlp_max = match p.tlp_max.as_deref() {
        None => Tlp::Red,
        Some(t) => t.parse::<Tlp>().map_err(ApiError::bad_request)?,
    };
    let limit = p.limit.unwrap_or(1000);
    if !(1..=5000).contains(&limit) {
        return Err(ApiError::bad_request("`limit` must be between 1 and 5000"));
    }
    let after = match p.next.as_deref() {
        None => 0,
        Some(n) => crate::taxii::decode_cursor(n)
            .ok_or_else(|| ApiError::bad_request("`next` is not a cursor this server issued"))?,
    };
    let types = match p.type_ {
        Some(t)
            if t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !t.is_empty() =>
        {
            vec![t]
        }
        Some(t) => return Err(ApiError::bad_request(format!("`{t}` is not a STIX type"))),
        None => vec![],
    };
    let sc = scope(c.as_ref(), st.cfg.default_tlp);
    let q = PageQuery {
        source: PageSource::Shared {
            tlp_min: Tlp::Clear,
            tlp_max,
        },
        scope: sc,
        after_seq: after,
        added_after: None,
        types,
        ids: vec![],
        versions: VersionSel::Last,
        limit: limit as usize,
    };
    let store = st.store.clone();
    let page = blocking(move || Ok(store.page(&q)?)).await?;
    let mut objects = Vec::with_capacity(page.rows.len() + 6);
    let mut levels = std::collections::BTreeSet::new();
    let mut high = 0usize;
    for r in &page.rows {
        let v: Value = serde_json::from_str(&r.json).map_err(ApiError::internal)?;
        let refs: Vec<&str> = v
            .get("object_marking_refs")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let t = Tlp::from_refs(refs.iter().copied());
        if t.unwrap_or(sc.default_tlp) >= Tlp::Amber {
            high += 1;
        }
        for id in refs {
            if let Some(l) = Tlp::ALL.iter().find(|l| l.marking_id() == id) {
                levels.insert(*l);
            }
        }
        objects.push(v);
    }
    // TLP 2.0 marking definitions are not predefined in STIX: they travel with the bundle.
    if !levels.is_empty() {
        objects.push(vigil_model::tlp::tlp2_extension_definition());
        for l in levels {
            objects.push(l.marking_object());
        }
    }
    if high > 0 {
        st.audit.record(
            &actor(c.as_ref()),
            "api.export",
            "stix",
            json!({"objects_amber_or_above": high}),
        );
    }
    let next = if page.more {
        page.rows.last().map(|r| crate::taxii::encode_cursor(r.seq))
    } else {
        None
    };
    let bundle = json!({"type": "bundle", "id": format!("bundle--{}", uuid::Uuid::new_v4()), "objects": objects});
    Ok(Json(ExportPage {
        bundle,
        more: page.more,
        next,
    }))
}
