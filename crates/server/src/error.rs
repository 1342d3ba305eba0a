//! Error responses: REST errors share one JSON shape (`{"error": {"status", "code", "message"}}`); TAXII errors use
//! the TAXII 2.1 error message resource with its media type. Neither ever carries a stack trace or a secret.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The one error shape of the REST API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// The HTTP status, repeated for clients that lose it.
    pub status: u16,
    /// A stable machine-readable code (`not_found`, `unauthorized`, `bad_request`, ...).
    pub code: String,
    pub message: String,
}

/// A REST error.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", m)
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", m)
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error (see the server log)")
    }
}

impl From<vigil_store::StoreError> for ApiError {
    fn from(e: vigil_store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { status: self.status.as_u16(), code: self.code.to_string(), message: self.message } };
        let mut r = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"vigil\", Basic realm=\"vigil\""));
        }
        r
    }
}

/// TAXII 2.1 media type.
pub const TAXII: &str = "application/taxii+json;version=2.1";

/// A TAXII error message resource.
#[derive(Debug)]
pub struct TaxiiError {
    pub status: StatusCode,
    pub title: String,
    pub description: String,
}

impl TaxiiError {
    pub fn new(status: StatusCode, title: impl Into<String>, description: impl Into<String>) -> Self {
        TaxiiError { status, title: title.into(), description: description.into() }
    }
    pub fn bad_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", d)
    }
    pub fn not_found(d: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", d)
    }
    pub fn forbidden(d: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", d)
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error", "see the server log")
    }
}

impl From<vigil_store::StoreError> for TaxiiError {
    fn from(e: vigil_store::StoreError) -> Self {
        TaxiiError::internal(e)
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let body =
            serde_json::json!({"title": self.title, "description": self.description, "http_status": self.status.as_u16().to_string()});
        let mut r = (self.status, body.to_string()).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII));
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"vigil\", Bearer realm=\"vigil\""));
        }
        r
    }
}

/// Unknown paths: a TAXII error under /taxii2/, the REST shape elsewhere.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/taxii2") {
        TaxiiError::not_found("no such TAXII resource").into_response()
    } else {
        ApiError::not_found().into_response()
    }
}
