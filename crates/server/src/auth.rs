//! Authentication and the request envelope: tokens as HTTP Bearer or as the password of HTTP Basic (any user
//! name), rate limiting of failed attempts per client address, optional per-token quotas, request ids, access logs
//! and metrics. An invalid, expired or revoked token gets the same 401 whether or not its member exists.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::error::{ApiError, TaxiiError};
use crate::policy::Principal;
use crate::AppState;

/// Failed authentications per client address in a one-minute window.
pub struct FailureLimiter {
    per_minute: u32,
    map: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    pub fn new(per_minute: u32) -> Self {
        FailureLimiter {
            per_minute,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// True when the address used up its failures for the current window.
    pub fn blocked(&self, ip: IpAddr) -> bool {
        let Ok(m) = self.map.lock() else { return false };
        m.get(&ip)
            .is_some_and(|(start, n)| start.elapsed().as_secs() < 60 && *n >= self.per_minute)
    }

    pub fn fail(&self, ip: IpAddr) {
        let Ok(mut m) = self.map.lock() else { return };
        if m.len() > 100_000 {
            m.retain(|_, (start, _)| start.elapsed().as_secs() < 60);
        }
        let e = m.entry(ip).or_insert((Instant::now(), 0));
        if e.0.elapsed().as_secs() >= 60 {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
    }
}

/// Requests per token per minute, when the operator sets a quota.
pub struct Quotas {
    per_minute: Option<u32>,
    map: Mutex<HashMap<i64, (Instant, u32)>>,
}

impl Quotas {
    pub fn new(per_minute: Option<u32>) -> Self {
        Quotas {
            per_minute,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request; false when the token is over its quota.
    pub fn admit(&self, token_id: i64) -> bool {
        let Some(limit) = self.per_minute else {
            return true;
        };
        let Ok(mut m) = self.map.lock() else {
            return true;
        };
        let e = m.entry(token_id).or_insert((Instant::now(), 0));
        if e.0.elapsed().as_secs() >= 60 {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
        e.1 <= limit
    }
}

/// The token in an Authorization header: Bearer, or the password of Basic.
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (_, pass) = s.split_once(':')?;
        return Some(pass.to_string());
    }
    // An unknown scheme is a credential we cannot check: treated as a wrong one, never as anonymous.
    Some(String::new())
}

/// Why a request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unauthorized,
    RateLimited,
    OverQuota,
    Internal,
}

fn refuse(r: Refusal, taxii: bool) -> Response {
    let (status, code, msg) = match r {
        Refusal::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API token is required (HTTP Bearer, or the password of HTTP Basic)",
        ),
        Refusal::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many failed authentication attempts from this address; wait a minute",
        ),
        Refusal::OverQuota => (
            StatusCode::TOO_MANY_REQUESTS,
            "quota_exceeded",
            "this token used up its request quota for the current minute",
        ),
        Refusal::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error (see the server log)",
        ),
    };
    let mut resp = if taxii {
        TaxiiError::new(status, code, msg).into_response()
    } else {
        ApiError::new(status, code, msg).into_response()
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    }
    resp
}

/// Authenticates a request: Ok(None) for an anonymous caller the operator admits.
pub async fn authenticate(
    st: &Arc<AppState>,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<Option<Principal>, Refusal> {
    let Some(token) = token_of(headers) else {
        return if st.cfg.anonymous_clear {
            Ok(None)
        } else {
            Err(Refusal::Unauthorized)
        };
    };
    if st.limiter.blocked(ip) {
        st.metrics.auth_rate_limited.fetch_add(1, Relaxed);
        return Err(Refusal::RateLimited);
    }
    let counter = crate::counter::change_counter(st.store.as_ref()).map_err(|e| {
        tracing::error!(error = %e, "change counter");
        Refusal::Internal
    })?;
    let principal = match st.tokens.fast(&token, counter) {
        Some(p) => Some(p),
        None => {
            let st2 = st.clone();
            tokio::task::spawn_blocking(move || {
                st2.tokens.verify(st2.store.as_ref(), &token, counter)
            })
            .await
            .map_err(|_| Refusal::Internal)?
            .map_err(|e| {
                tracing::error!(error = %e, "token verification");
                Refusal::Internal
            })?
        }
    };
    match principal {
        Some(p) => {
            if !st.quotas.admit(p.token_id) {
                return Err(Refusal::OverQuota);
            }
            Ok(Some(p))
        }
        None => {
            st.limiter.fail(ip);
            st.metrics.auth_failures.fetch_add(1, Relaxed);
            Err(Refusal::Unauthorized)
        }
    }
}

/// The client address (unspecified when the server runs without connection info, as in tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// The authenticated caller of a handler (None: anonymous, only when the operator allows it).
pub struct Caller(pub Option<Principal>);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ClientIp>()
            .map(|c| c.0)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let taxii = parts.uri.path().starts_with("/taxii2");
        match authenticate(st, &parts.headers, ip).await {
            Ok(p) => {
                if let Some(p) = &p {
                    parts.extensions.insert(p.clone());
                }
                Ok(Caller(p))
            }
            Err(r) => Err(refuse(r, taxii)),
        }
    }
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(1);

/// Request id, client address, access log line and metrics around every request.
pub async fn observe(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    req.extensions_mut().insert(ClientIp(ip));
    let rid = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "{:x}-{:x}",
                std::process::id(),
                REQUEST_SEQ.fetch_add(1, Relaxed)
            )
        });
    let method = req.method().clone();
    // The path only: query strings may carry search terms an analyst would rather not see in logs.
    let path = req.uri().path().to_string();
    // Read-only requests read the store's change counter once, however many caches they consult.
    let mut resp = if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        crate::counter::scoped(next.run(req)).await
    } else {
        next.run(req).await
    };
    let micros = start.elapsed().as_micros() as u64;
    let status = resp.status().as_u16();
    st.metrics
        .observe(crate::metrics::group_of(&path), status, micros);
    if status >= 500 {
        tracing::error!(request_id = %rid, %method, %path, status, micros, "request failed");
    } else {
        tracing::debug!(request_id = %rid, %method, %path, status, micros, "request");
    }
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(token_of(&h).as_deref(), Some("abc"));
        let b = base64::engine::general_purpose::STANDARD.encode("member-3:s3cret:with:colons");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {b}")).expect("header"),
        );
        assert_eq!(token_of(&h).as_deref(), Some("s3cret:with:colons"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Digest x"));
        assert_eq!(token_of(&h).as_deref(), Some(""));
        assert_eq!(token_of(&HeaderMap::new()), None);
    }

    #[test]
    fn limiter() {
        let l = FailureLimiter::new(2);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert!(!l.blocked(ip));
        l.fail(ip);
        l.fail(ip);
        assert!(l.blocked(ip));
        let q = Quotas::new(Some(1));
        assert!(q.admit(1) && !q.admit(1) && q.admit(2));
        assert!(Quotas::new(None).admit(1));
    }
}
