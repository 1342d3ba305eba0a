//! Logging in to the dashboard: a user name and password (users made with `vigil users add`), or an existing API
//! token (the same check as the API's, through [`crate::tokens::TokenCache`]). Either way the browser gets a random
//! session id in an HttpOnly, SameSite=Strict cookie (Secure when the server speaks TLS) scoped to `/ui`; the store
//! keeps only its SHA-256 digest, with an expiry. Every POST form carries the session's CSRF token; the login form,
//! which comes before any session, uses a double-submit cookie. Failed logins count against the same per-address
//! [`crate::auth::FailureLimiter`] as failed API authentications.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use vigil_store::SessionRecord;

use super::{blocking, html_page, layout, Nav, WebError};
use crate::auth::ClientIp;
use crate::policy::{Principal, Role};
use crate::AppState;

/// Cookie holding the session id.
pub const SESSION_COOKIE: &str = "vigil_session";
/// Cookie holding the login form's anti-CSRF value (double submit).
const LOGIN_CSRF_COOKIE: &str = "vigil_login_csrf";
/// How long a session lasts: a working day.
const SESSION_HOURS: i64 = 12;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("randomness unavailable: {0}")]
    Random(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

fn random_b64(n: usize) -> Result<String, PasswordError> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| PasswordError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// Argon2id hash (PHC string) of a password, with a random salt.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| PasswordError::Hash(e.to_string()))?
        .to_string())
}

/// Checks a password against its stored hash (slow by design).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the user does not exist, so that a wrong user name costs as long as a wrong
/// password and response times do not tell which user names exist.
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| hash_password("vigil-no-such-user").unwrap_or_default())
}

fn digest(session_id: &str) -> String {
    Sha256::digest(session_id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Equal without an early exit, so that comparing CSRF values does not leak how much matched.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie's value from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    for v in headers.get_all(header::COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(';') {
            if let Some((k, val)) = part.trim().split_once('=') {
                if k == name {
                    return Some(val.to_string());
                }
            }
        }
    }
    None
}

/// The person looking at a page.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// What the API would see for the same person: the scope and the roles come from here.
    pub principal: Principal,
    /// User name, or `token N` for a token login.
    pub display: String,
    /// The user name for password logins.
    pub username: Option<String>,
    pub member_name: String,
    /// The session's anti-CSRF token.
    pub csrf: String,
    /// The operator's default marking for unmarked objects.
    pub default_tlp: vigil_model::Tlp,
}

impl Viewer {
    /// What this viewer may read: the API's rule, [`crate::policy::scope`].
    pub fn scope(&self) -> vigil_store::ReadScope {
        crate::policy::scope(Some(&self.principal), self.default_tlp)
    }

    /// The audit actor.
    pub fn actor(&self) -> String {
        super::actor(&self.principal, self.username.as_deref())
    }

    /// Refuses a POST whose form does not carry this session's CSRF token.
    pub fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        if same(sent, &self.csrf) {
            Ok(())
        } else {
            Err(WebError::Forbidden(
                "the form was stale or not sent by this dashboard; reload the page and try again",
            ))
        }
    }
}

fn expired(at: &str) -> bool {
    match chrono::DateTime::parse_from_rfc3339(at) {
        Ok(t) => t.with_timezone(&chrono::Utc) <= chrono::Utc::now(),
        // Unreadable: treated as expired (fail closed).
        Err(_) => true,
    }
}

/// Looks up the session a request carries; None when there is none or it is no longer valid.
fn load_viewer(st: &AppState, sid: &str) -> Result<Option<Viewer>, WebError> {
    let Some(s) = st.store.session(&digest(sid))? else {
        return Ok(None);
    };
    if expired(&s.expires_at) {
        return Ok(None);
    }
    // Role and member are read again on every request, so that a removed user, a revoked token or a changed role
    // takes effect at once rather than at the end of the session.
    let (member_id, role, token_id, display, username) = match (s.user_id, s.token_id) {
        (Some(uid), _) => {
            let Some(u) = st.store.user(uid)? else {
                return Ok(None);
            };
            (u.member_id, u.role, 0, u.username.clone(), Some(u.username))
        }
        (None, Some(tid)) => {
            let Some(t) = st.store.token(tid)? else {
                return Ok(None);
            };
            if t.revoked_at.is_some() || t.expires_at.as_deref().is_some_and(expired) {
                return Ok(None);
            }
            (t.member_id, t.role, t.id, format!("token {}", t.id), None)
        }
        (None, None) => return Ok(None),
    };
    let Some(role) = Role::parse(&role) else {
        return Ok(None);
    };
    let Some(member) = st.store.member(member_id)? else {
        return Ok(None);
    };
    Ok(Some(Viewer {
        principal: Principal {
            token_id,
            member_id,
            identity_id: member.identity_id,
            operator: member.operator,
            role,
        },
        display,
        username,
        member_name: member.name,
        csrf: s.csrf,
        default_tlp: st.cfg.default_tlp,
    }))
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || {
            let here = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/ui/".into());
            if parts.method == Method::GET {
                Redirect::to(&format!("/ui/login?next={}", super::urlencode(&here))).into_response()
            } else {
                WebError::Forbidden("your session ended; log in again").into_response()
            }
        };
        let Some(sid) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let st2 = st.clone();
        match blocking(move || load_viewer(&st2, &sid)).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(to_login()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// Only same-site dashboard paths are followed after a login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/ui/")
                && !n.contains("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/ui/".into(),
    }
}

fn secure(st: &AppState) -> &'static str {
    if st.cfg.tls_cert.is_some() {
        "; Secure"
    } else {
        ""
    }
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

fn login_page(
    st: &AppState,
    csrf: &str,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = html! {
        section.login {
            div.card {
                h1 { "Sign in to " (st.cfg.title) }
                p.muted { "Threat intelligence for the programme's members. What you see follows TLP 2.0 and your organisation's sharing." }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/ui/login" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="next" value=(next);
                    label { "User name" input type="text" name="username" autocomplete="username" autofocus; }
                    label { "Password" input type="password" name="password" autocomplete="current-password"; }
                    button.primary type="submit" { "Sign in" }
                }
                details {
                    summary { "Sign in with an API token instead" }
                    form method="post" action="/ui/login" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="next" value=(next);
                        label { "API token" input type="password" name="token" autocomplete="off" placeholder="vgl_…"; }
                        button type="submit" { "Sign in with token" }
                    }
                }
            }
        }
    };
    let mut r = html_page(status, layout("Sign in", None, Nav::None, body));
    let c = format!(
        "{LOGIN_CSRF_COOKIE}={csrf}; Path=/ui/login; HttpOnly; SameSite=Strict; Max-Age=3600{}",
        secure(st)
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub async fn login_form(State(st): State<Arc<AppState>>, RawQuery(raw): RawQuery) -> Response {
    let q: LoginQuery =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let csrf = match random_b64(24) {
        Ok(c) => c,
        Err(e) => return WebError::Internal(e.to_string()).into_response(),
    };
    login_page(
        &st,
        &csrf,
        &safe_next(q.next.as_deref()),
        None,
        StatusCode::OK,
    )
}

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    next: Option<String>,
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
}

/// Who a successful login is.
struct LoggedIn {
    user_id: Option<i64>,
    token_id: Option<i64>,
    member_id: i64,
    role: String,
    name: String,
}

pub async fn login_submit(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    parts: axum::http::Extensions,
    body: Bytes,
) -> Response {
    let ip = parts
        .get::<ClientIp>()
        .map(|c| c.0)
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let form: LoginForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let next = safe_next(form.next.as_deref());
    let fresh = random_b64(24).unwrap_or_default();
    let again = |msg: &str, status: StatusCode| login_page(&st, &fresh, &next, Some(msg), status);
    let sent_cookie = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if form.csrf.is_empty() || !same(&form.csrf, &sent_cookie) {
        return again(
            "The sign-in form had expired. Please try again.",
            StatusCode::FORBIDDEN,
        );
    }
    if st.limiter.blocked(ip) {
        st.metrics.auth_rate_limited.fetch_add(1, Relaxed);
        let mut r = again(
            "Too many failed attempts from your address. Wait a minute and try again.",
            StatusCode::TOO_MANY_REQUESTS,
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return r;
    }
    let who = match check_credentials(&st, form).await {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let Some(who) = who else {
        st.limiter.fail(ip);
        st.metrics.auth_failures.fetch_add(1, Relaxed);
        return again(
            "Wrong user name, password or token.",
            StatusCode::UNAUTHORIZED,
        );
    };
    let (sid, csrf) = match (random_b64(32), random_b64(24)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return WebError::Internal("randomness unavailable".into()).into_response(),
    };
    let now = chrono::Utc::now();
    let rec = SessionRecord {
        digest: digest(&sid),
        user_id: who.user_id,
        token_id: who.token_id,
        member_id: who.member_id,
        role: who.role.clone(),
        csrf,
        created_at: vigil_model::time::sort_key(&now),
        expires_at: vigil_model::time::sort_key(&(now + chrono::Duration::hours(SESSION_HOURS))),
    };
    let st2 = st.clone();
    let user_id = who.user_id;
    let stored = blocking(move || {
        st2.store.put_session(&rec)?;
        if let Some(u) = user_id {
            st2.store.record_login(u)?;
        }
        Ok(())
    })
    .await;
    if let Err(e) = stored {
        return e.into_response();
    }
    let actor = match who.user_id {
        Some(_) => format!("member-{}/user-{}", who.member_id, who.name),
        None => format!("member-{}/{}", who.member_id, who.name.replace(' ', "-")),
    };
    st.audit
        .record(&actor, "web.login", "dashboard", serde_json::json!({}));
    let mut r = Redirect::to(&next).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    let c = format!(
        "{SESSION_COOKIE}={sid}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_HOURS * 3600,
        secure(&st)
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LOGIN_CSRF_COOKIE}=; Path=/ui/login; HttpOnly; SameSite=Strict; Max-Age=0"
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

async fn check_credentials(
    st: &Arc<AppState>,
    form: LoginForm,
) -> Result<Option<LoggedIn>, WebError> {
    if let Some(token) = form.token.filter(|t| !t.trim().is_empty()) {
        let token = token.trim().to_string();
        let counter = st.store.change_counter()?;
        let p = match st.tokens.fast(&token, counter) {
            Some(p) => Some(p),
            None => {
                let st2 = st.clone();
                blocking(move || {
                    st2.tokens
                        .verify(st2.store.as_ref(), &token, counter)
                        .map_err(|e| WebError::Internal(e.to_string()))
                })
                .await?
            }
        };
        return Ok(p.map(|p| LoggedIn {
            user_id: None,
            token_id: Some(p.token_id),
            member_id: p.member_id,
            role: p.role.as_str().into(),
            name: format!("token {}", p.token_id),
        }));
    }
    let (Some(user), Some(password)) = (form.username, form.password) else {
        return Ok(None);
    };
    let st2 = st.clone();
    blocking(move || {
        let u = st2.store.user_by_name(user.trim())?;
        let ok = match &u {
            Some(u) => verify_password(&password, &u.hash),
            None => {
                let _ = verify_password(&password, dummy_hash());
                false
            }
        };
        Ok(u.filter(|_| ok).map(|u| LoggedIn {
            user_id: Some(u.id),
            token_id: None,
            member_id: u.member_id,
            role: u.role,
            name: u.username,
        }))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(st): State<Arc<AppState>>,
    v: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: CsrfForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if let Err(e) = v.check_csrf(&form.csrf) {
        return e.into_response();
    }
    if let Some(sid) = cookie(&headers, SESSION_COOKIE) {
        let st2 = st.clone();
        if let Err(e) = blocking(move || Ok(st2.store.remove_session(&digest(&sid))?)).await {
            return e.into_response();
        }
    }
    st.audit
        .record(&v.actor(), "web.logout", "dashboard", serde_json::json!({}));
    let mut r = Redirect::to("/ui/login").into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure(&st)
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
