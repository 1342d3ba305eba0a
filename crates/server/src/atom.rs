//! `GET /api/v1/notices.atom`: the caller's own vulnerability notices as an Atom feed (rendered by
//! `vigil_notify::atom_feed`), for feed readers. Authenticated with the member's API token like the rest of the
//! API (Bearer, or the password of Basic, which most feed readers speak); anonymous callers are refused even when
//! the operator serves TLP:CLEAR anonymously, because notices are about a member's own systems (AMBER+STRICT or
//! RED). A member only ever gets its own notices; operator staff may name a member with `?member=ID`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;
use vigil_store::NoticeFilter;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

/// Entries in one feed document (the most recently changed notices).
const MAX_ENTRIES: usize = 200;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/api/v1/notices.atom", get(feed))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedParams {
    member: Option<i64>,
}

async fn feed(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let Some(p) = c else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "notices are for their member only: send its API token",
        ));
    };
    let params: FeedParams = serde_urlencoded::from_str(q.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("bad query string: {e}")))?;
    let member = match params.member {
        Some(m) if m != p.member_id && !p.is_operator_staff() => {
            // A clear refusal rather than an empty feed: a reader pointed at the wrong feed should say so.
            return Err(ApiError::forbidden(
                "a member's feed is for that member only",
            ));
        }
        Some(m) => m,
        None => p.member_id,
    };
    let st2 = st.clone();
    let (name, recs) = tokio::task::spawn_blocking(move || {
        let name = st2
            .store
            .member(member)
            .map_err(ApiError::internal)?
            .map(|m| m.name)
            .ok_or_else(ApiError::not_found)?;
        let mut recs = st2
            .store
            .notices(&NoticeFilter {
                member: Some(member),
                status: None,
            })
            .map_err(ApiError::internal)?;
        recs.truncate(MAX_ENTRIES);
        Ok::<_, ApiError>((name, recs))
    })
    .await
    .map_err(ApiError::internal)??;
    st.audit.record(
        &format!("member-{}/token-{}", p.member_id, p.token_id),
        "api.notices.atom",
        &format!("member-{member}"),
        json!({"entries": recs.len()}),
    );
    let id = format!("urn:vigil:member:{member}:notices");
    let title = format!("Vigil notices for {name}");
    let now = vigil_model::time::now();
    let body = vigil_notify::atom_feed(
        &vigil_notify::AtomFeed {
            id: &id,
            title: &title,
            self_url: None,
            updated: &now,
        },
        &recs,
    );
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/atom+xml; charset=utf-8"),
    );
    // A member's notices must not sit in shared caches.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(resp)
}
