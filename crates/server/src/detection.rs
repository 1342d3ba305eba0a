//! Detection content over REST: `GET /api/v1/exports/{zeek|rpz|csv|misp}`, so that a member's sensor (a Zeek
//! intel file, a resolver's response-policy zone, a SIEM's CSV, a MISP instance) pulls from the CSIRT what its
//! token may see, without anyone copying files.
//!
//! The selection and the renderers are the ones `vigil export` uses (expired, revoked, warning-listed and decayed
//! indicators left out); they live with the binary, so the server reaches them through
//! [`crate::Hooks::detection_export`]. What the server owns is who may see what: the caller's
//! [`crate::policy::scope`] goes with every request, so a member's file holds CLEAR and GREEN indicators plus the
//! AMBER ones shared with it, exactly as its TAXII collections do.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use vigil_model::Tlp;
use vigil_store::ReadScope;

use crate::api::{actor, blocking, query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::policy::scope;
use crate::AppState;

/// The formats served here (STIX has its own paginated route, `/api/v1/exports/stix`).
pub const FORMATS: &[&str] = &["zeek", "rpz", "csv", "misp"];

/// What the binary is asked to render.
#[derive(Debug, Clone)]
pub struct DetectionRequest {
    /// One of [`FORMATS`].
    pub format: String,
    /// Whose view: only indicators (and malware or actor names) this scope may see are used.
    pub scope: ReadScope,
    /// Leave out indicators above this level, within what the scope allows.
    pub tlp_max: Option<Tlp>,
    /// Leave out indicators whose decayed score is below this; `None`: the configured default.
    pub min_score: Option<f32>,
    /// Domain indicators match the exact name only (where the format can say so).
    pub exact_domains: bool,
    /// The response-policy zone's origin (`rpz`); `None`: the default, `rpz.vigil`.
    pub zone: Option<String>,
}

/// What the binary rendered.
#[derive(Debug, Clone)]
pub struct DetectionExport {
    pub content_type: &'static str,
    /// A file name for `Content-Disposition`.
    pub file_name: String,
    pub body: Vec<u8>,
    /// Distinct values written.
    pub values: u64,
    /// Indicators they came from.
    pub indicators: u64,
    /// Of those, indicators at TLP:AMBER or above (recorded in the audit log).
    pub amber_or_above: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetectionParams {
    /// Leave out indicators above this level (clear, green, amber, amber+strict, red); the caller's own
    /// visibility always applies.
    pub tlp_max: Option<String>,
    /// Leave out indicators whose decayed score (0-100) is below this (default: the configured minimum, 20).
    pub min_score: Option<f32>,
    /// Domain indicators match the exact name only (default false: the name and its subdomains).
    pub exact_domains: Option<bool>,
    /// rpz: the zone's origin (default `rpz.vigil`).
    pub zone: Option<String>,
}

/// A zone origin the RPZ renderer can put in `$ORIGIN` and the SOA without quoting: LDH labels of 1-63 bytes.
fn zone_ok(z: &str) -> bool {
    let z = z.strip_suffix('.').unwrap_or(z);
    !z.is_empty()
        && z.len() <= 200
        && z.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[utoipa::path(get, path = "/api/v1/exports/{format}", tag = "exports",
    params(("format" = String, Path, description = "zeek (Zeek Intel framework file), rpz (DNS response-policy zone), csv, or misp (one MISP event as JSON)"),
           DetectionParams),
    responses((status = 200, description = "Detection content built from the indicators the caller may see: live, not expired, not on a warning list, scoring at least min_score. Headers X-Vigil-Values and X-Vigil-Indicators give the counts", content_type = "text/plain"),
              (status = 400, description = "Bad parameters", body = crate::error::ErrorBody),
              (status = 401, description = "No valid token", body = crate::error::ErrorBody),
              (status = 404, description = "No such format", body = crate::error::ErrorBody)))]
pub(crate) async fn export_detection(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    Path(format): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    if !FORMATS.contains(&format.as_str()) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no export format `{}`; formats: stix, {}",
                format.chars().take(40).collect::<String>(),
                FORMATS.join(", ")
            ),
        ));
    }
    let p: DetectionParams = query(raw.as_deref())?;
    let tlp_max = match p.tlp_max.as_deref() {
        None => None,
        Some(t) => Some(t.parse::<Tlp>().map_err(ApiError::bad_request)?),
    };
    if let Some(s) = p.min_score {
        if !(0.0..=100.0).contains(&s) {
            return Err(ApiError::bad_request(
                "`min_score` must be between 0 and 100",
            ));
        }
    }
    if let Some(z) = p.zone.as_deref() {
        if !zone_ok(z) {
            return Err(ApiError::bad_request(
                "`zone` must be a DNS name of letters, digits, `-` and `_` labels",
            ));
        }
    }
    let Some(hook) = st
        .hooks
        .get()
        .and_then(|h| h.detection_export.as_ref())
        .cloned()
    else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            "detection exports need the vigil binary's renderers, which this server was started without",
        ));
    };
    let req = DetectionRequest {
        format: format.clone(),
        scope: scope(c.as_ref(), st.cfg.default_tlp),
        tlp_max,
        min_score: p.min_score,
        exact_domains: p.exact_domains.unwrap_or(false),
        zone: p.zone,
    };
    let out = blocking(move || hook(req).map_err(ApiError::internal)).await?;
    if out.amber_or_above > 0 {
        st.audit.record(
            &actor(c.as_ref()),
            "api.export",
            &format,
            json!({"indicators_amber_or_above": out.amber_or_above, "values": out.values}),
        );
    }
    let mut resp = (StatusCode::OK, out.body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(out.content_type),
    );
    // The content can be TLP:AMBER: no shared cache may keep it.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", out.file_name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert("x-vigil-values", HeaderValue::from(out.values));
    h.insert("x-vigil-indicators", HeaderValue::from(out.indicators));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names() {
        for ok in ["rpz.vigil", "rpz.vigil.", "block_list.cert-ee.ee", "a"] {
            assert!(zone_ok(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "a..b",
            "-a.b",
            "a b",
            "a;b",
            "x\ny",
            &"a".repeat(64),
        ] {
            assert!(!zone_ok(bad), "{bad:?}");
        }
    }
}
