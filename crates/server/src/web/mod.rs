//! The analyst dashboard under `/ui/`: server-rendered HTML (maud, escaped by construction), inline SVG charts
//! and graphs, one stylesheet and one icon served from the binary. No JavaScript framework, no external resource:
//! the Content-Security-Policy says `'self'` only, so a page that tried to load anything else would be refused.
//!
//! Who sees what is decided exactly as for the API: a logged-in person is turned into a [`Principal`] and every read
//! goes through [`crate::policy::scope`] (`MemberStore::get_visible`, `WebStore::scan_visible`,
//! `WebStore::scoped_counts`) or a member-filtered `VulnStore` query. An object the viewer may not see answers the
//! same 404 page as one that does not exist.
//!
//! Modules: [`session`] (login with a password or an API token, sessions, CSRF), [`intel`] (what the pages compute
//! from the knowledge base: actor origins, activity, the graph), [`charts`] (SVG), [`pages`] (overview, search,
//! objects, actors), [`member`] (inventory, notices, sightings), [`admin`].

pub mod admin;
pub mod charts;
pub mod intel;
pub mod member;
pub mod pages;
pub mod session;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use vigil_model::Tlp;

use crate::policy::Principal;
use crate::AppState;

pub use session::{hash_password, verify_password, Viewer};

/// Routes of the dashboard (merged into [`crate::app`]).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/favicon.ico", get(favicon))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/static/style.css", get(stylesheet))
        .route("/ui/static/favicon.svg", get(favicon))
        .route(
            "/ui/login",
            get(session::login_form).post(session::login_submit),
        )
        .route("/ui/logout", post(session::logout))
        .route("/ui/", get(pages::overview))
        .route("/ui/search", get(pages::search))
        .route("/ui/objects/{id}", get(pages::object))
        .route("/ui/objects/{id}/retract", post(pages::retract))
        .route("/ui/actors/{id}", get(pages::actor))
        .route("/ui/member", get(member::own))
        .route("/ui/members/{id}", get(member::view))
        .route("/ui/notices/{id}", post(member::notice_action))
        .route("/ui/admin", get(admin::page))
        // Unknown dashboard paths get the dashboard's 404 page rather than the API's JSON error.
        .route("/ui/{*rest}", get(|| async { WebError::NotFound }))
}

const STYLE: &str = include_str!("static/style.css");
const FAVICON: &str = include_str!("static/favicon.svg");

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        FAVICON,
    )
        .into_response()
}

/// Headers every dashboard page carries: nothing but this origin may be loaded or framed, and pages (which hold
/// TLP-marked data) are not kept in shared caches.
fn page_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'none'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// An HTML page response.
pub fn html_page(status: StatusCode, markup: Markup) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response();
    page_headers(&mut r);
    r
}

/// Which navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Search,
    Member,
    Admin,
    None,
}

/// The page shell: header with navigation and the viewer, then the content.
pub fn layout(title: &str, viewer: Option<&Viewer>, nav: Nav, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Vigil" }
                link rel="stylesheet" href="/ui/static/style.css";
                link rel="icon" href="/ui/static/favicon.svg" type="image/svg+xml";
            }
            body {
                header.top {
                    a.brand href="/ui/" { (PreEscaped(FAVICON)) span { "Vigil" } }
                    @if let Some(v) = viewer {
                        nav {
                            a.active[nav == Nav::Overview] href="/ui/" { "Overview" }
                            a.active[nav == Nav::Search] href="/ui/search" { "Search" }
                            a.active[nav == Nav::Member] href="/ui/member" { "My organisation" }
                            @if v.principal.is_operator_staff() {
                                a.active[nav == Nav::Admin] href="/ui/admin" { "Admin" }
                            }
                        }
                        form.search-mini method="get" action="/ui/search" {
                            input type="search" name="q" placeholder="Search names, aliases, indicators…" aria-label="Search";
                        }
                        div.who {
                            span.user title=(format!("member {} · {}", v.principal.member_id, v.principal.role.as_str())) {
                                (v.display) " "
                                span.role { (v.member_name) " · " (v.principal.role.as_str()) }
                            }
                            form method="post" action="/ui/logout" {
                                input type="hidden" name="csrf" value=(v.csrf);
                                button.link type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main { (content) }
                footer { "Vigil · TLP 2.0 applies to everything on these pages: share only as each marking allows." }
            }
        }
    }
}

/// A TLP badge.
pub fn tlp_badge(t: Tlp) -> Markup {
    let class = format!("tlp tlp-{}", t.as_str().replace('+', "-"));
    html! { span class=(class) { (t.label()) } }
}

/// Link to the page that shows an object best (actors get the actor page).
pub fn object_href(id: &str) -> String {
    let ty = id.split("--").next().unwrap_or("");
    let enc = urlencode(id);
    if matches!(ty, "intrusion-set" | "threat-actor") {
        format!("/ui/actors/{enc}")
    } else {
        format!("/ui/objects/{enc}")
    }
}

/// Percent-encodes a query or path component.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Errors of dashboard handlers, rendered as pages.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] vigil_store::StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, text) = match &self {
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or nothing you may see.".to_string(),
            ),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m.to_string()),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m.clone()),
            WebError::Store(e) => {
                tracing::error!(error = %e, "dashboard store error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal error",
                    "Something went wrong; the server log has the details.".to_string(),
                )
            }
            WebError::Internal(e) => {
                tracing::error!(error = %e, "dashboard internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal error",
                    "Something went wrong; the server log has the details.".to_string(),
                )
            }
        };
        html_page(
            status,
            layout(
                title,
                None,
                Nav::None,
                html! {
                    section.card.narrow {
                        h1 { (title) }
                        p { (text) }
                        p { a href="/ui/" { "Back to the overview" } }
                    }
                },
            ),
        )
    }
}

/// Runs blocking store work off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WebError> + Send + 'static,
) -> Result<T, WebError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
}

/// The audit actor string for a viewer.
pub fn actor(p: &Principal, user: Option<&str>) -> String {
    match user {
        Some(u) => format!("member-{}/user-{u}", p.member_id),
        None => format!("member-{}/token-{}", p.member_id, p.token_id),
    }
}

/// Short display of an RFC 3339 instant: the date and minutes.
pub fn short_time(s: &str) -> String {
    let s = s.replace('T', " ");
    s.chars().take(16).collect()
}
