//! Detection content over REST: `GET /api/v1/exports/{zeek|rpz|csv|misp|suricata|blocklist|misp-feed}`, so
//! that a member's sensor (a Zeek intel file, a resolver's response-policy zone, a SIEM's CSV, a MISP instance,
//! Suricata's rules with their lists, a firewall's plain lists) pulls from the CSIRT what its token may see,
//! without anyone copying files. The formats that `vigil export` writes as a directory come as a gzip tarball of
//! that directory's files.
//!
//! The selection and the renderers are the ones `vigil export` uses (expired, revoked, warning-listed and decayed
//! indicators left out); they live with the binary, so the server reaches them through
//! [`crate::Hooks::detection_export`]. What the server owns is who may see what: the caller's
//! [`crate::policy::scope`] goes with every request, so a member's file holds CLEAR and GREEN indicators plus the
//! AMBER ones shared with it, exactly as its TAXII collections do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
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
pub const FORMATS: &[&str] = &[
    "zeek",
    "rpz",
    "csv",
    "misp",
    "suricata",
    "blocklist",
    "misp-feed",
    "snapshot",
];

/// Where the Suricata tarball is meant to be unpacked when the caller does not say (the IP reputation settings
/// in it name the directory): beside the rules `suricata-update` writes.
pub const DEFAULT_SURICATA_DIR: &str = "/var/lib/suricata/rules/vigil";

/// The first Suricata rule id when the caller does not say (the same as `vigil export suricata`).
pub const DEFAULT_SID_BASE: u64 = 5_100_001;

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
    /// `suricata`: the first rule id.
    pub sid_base: u64,
    /// `suricata`: the absolute directory the sensor unpacks the tarball into.
    pub suricata_dir: String,
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
    /// What the format could not express (left-out indicator kinds, say), for the `X-Vigil-Notes` header.
    pub notes: Vec<String>,
    /// The files of a directory format (suricata, blocklist, misp-feed) by name, with `body` empty: the exports
    /// route packs them as one gzip tarball, the MISP feed route serves them one by one. Empty for the single-file
    /// formats.
    pub files: Vec<(String, Vec<u8>)>,
    /// The renderer's own validator (a weak `W/"..."` ETag) when the content's bytes change with time alone
    /// (a snapshot's decayed scores) while what a sensor acts on does not; `None`: the server makes a strong one
    /// from the bytes.
    pub etag: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetectionParams {
    /// Leave out indicators above this level (clear, green, amber, amber+strict, red); the caller's own
    /// visibility always applies.
    #[param(value_type = Option<crate::doc::TlpLevel>)]
    pub tlp_max: Option<String>,
    /// Leave out indicators whose decayed score (0-100) is below this (default: the configured minimum, 20).
    pub min_score: Option<f32>,
    /// Domain indicators match the exact name only (default false: the name and its subdomains).
    pub exact_domains: Option<bool>,
    /// rpz: the zone's origin (default `rpz.vigil`).
    pub zone: Option<String>,
    /// suricata: the first rule id (sid) used (default 5100001).
    pub sid_base: Option<u64>,
    /// suricata: the absolute directory the tarball will be unpacked into, named by the IP reputation settings
    /// in `vigil-suricata.yaml` (default `/var/lib/suricata/rules/vigil`).
    pub suricata_dir: Option<String>,
}

/// A directory the Suricata settings can name without quoting: absolute, of letters, digits and `/._-`, with
/// no `..` component.
fn dir_ok(d: &str) -> bool {
    d.starts_with('/')
        && d.len() <= 200
        && d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
        && !d.split('/').any(|c| c == "..")
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
    params(("format" = String, Path, description = "zeek (Zeek Intel framework file), rpz (DNS response-policy zone), csv, misp (one MISP event as JSON, each attribute tagged with its TLP and the misp-galaxy clusters of its families and actors); or, as a gzip tarball of files to unpack into one directory: suricata (vigil.rules with its dataset, hash and IP reputation lists), blocklist (one plain list per indicator type), misp-feed (a MISP feed: manifest.json, hashes.csv, one event per malware family and TLP); or snapshot (a `vigil snapshot` file for `vigil hunt --snapshot` on a sensor; `vigil snapshot --from URL` fetches it)"),
           DetectionParams),
    responses((status = 200, description = "Detection content built from the indicators the caller may see: live, not expired, not on a warning list, scoring at least min_score. Headers X-Vigil-Values and X-Vigil-Indicators give the counts; X-Vigil-Notes what the format could not express", content(
                  (String = "text/plain"),
                  (String = "text/dns"),
                  (String = "text/csv"),
                  (Object = "application/json"),
                  (Vec<u8> = "application/gzip"),
                  (Vec<u8> = "application/octet-stream"))),
              (status = 304, description = "The caller's If-None-Match names the current ETag: nothing changed. The ETag is weak for snapshots (W/\"...\": the same indicators with the same TLP, names and matching, rendered the same UTC day; the decayed scores inside may differ) and strong for the other formats"),
              (status = 400, description = "Bad parameters", body = crate::error::ErrorBody),
              (status = 401, description = "No valid token", body = crate::error::ErrorBody),
              (status = 404, description = "No such format", body = crate::error::ErrorBody)))]
pub(crate) async fn export_detection(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    Path(format): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
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
    let req = request(&st, c.as_ref(), &format, p)?;
    let out = rendered(&st, req, Packing::Tarball).await?;
    let etag = out.etag.clone().unwrap_or_default();
    let etag_value = HeaderValue::from_str(&etag).ok();
    // A sensor polling for changes: nothing was sent, so nothing AMBER left and there is nothing to audit.
    if let (Some(inm), Some(ev)) = (headers.get(header::IF_NONE_MATCH), &etag_value) {
        if if_none_match_hits(inm, &etag) {
            let mut resp = StatusCode::NOT_MODIFIED.into_response();
            let h = resp.headers_mut();
            h.insert(header::ETAG, ev.clone());
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            return Ok(resp);
        }
    }
    if out.amber_or_above > 0 {
        st.audit.record(
            &actor(c.as_ref()),
            "api.export",
            &format,
            json!({"indicators_amber_or_above": out.amber_or_above, "values": out.values}),
        );
    }
    let mut resp = (StatusCode::OK, body_of(out.clone())).into_response();
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
    if let Some(ev) = etag_value {
        h.insert(header::ETAG, ev);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", out.file_name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert("x-vigil-values", HeaderValue::from(out.values));
    h.insert("x-vigil-indicators", HeaderValue::from(out.indicators));
    // Notes are the renderer's own ASCII sentences; one that a header cannot carry is dropped, not the response.
    for n in &out.notes {
        if let Ok(v) = HeaderValue::from_str(n) {
            h.append("x-vigil-notes", v);
        }
    }
    Ok(resp)
}

/// The rendering's body as a response body without copying it (a snapshot of a million indicators is 72 MB, and
/// the cached rendering is shared by every poll until the store changes).
fn body_of(out: Arc<DetectionExport>) -> axum::body::Body {
    struct Shared(Arc<DetectionExport>);
    impl AsRef<[u8]> for Shared {
        fn as_ref(&self) -> &[u8] {
            &self.0.body
        }
    }
    axum::body::Body::from(bytes::Bytes::from_owner(Shared(out)))
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 asks of this header) or is `*`.
fn if_none_match_hits(inm: &HeaderValue, etag: &str) -> bool {
    let Ok(list) = inm.to_str() else {
        return false;
    };
    let bare = |t: &str| -> String { t.trim().trim_start_matches("W/").to_string() };
    let want = bare(etag);
    list.split(',')
        .any(|t| t.trim() == "*" || (!want.is_empty() && bare(t) == want))
}

/// What the cached rendering of a directory format holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Packing {
    /// The files packed as one gzip tarball in `body` (the exports route).
    Tarball,
    /// The files one by one (the MISP feed route).
    Files,
}

/// The caller's rendering, from the cache while the store's change counter holds and for [`FEED_TTL`], else
/// rendered (one at a time, [`RenderGate`]) and cached. Sensors and MISP instances poll: a poll that finds the
/// store unchanged costs a counter read, and its `If-None-Match` is answered from the cached validator.
async fn rendered(
    st: &Arc<AppState>,
    req: DetectionRequest,
    packing: Packing,
) -> Result<Arc<DetectionExport>, ApiError> {
    // The whole request is the key (its scope above all), so one caller's entry is never another's.
    let key = format!("{packing:?}|{req:?}");
    let counter = crate::counter::change_counter(st.store.as_ref())?;
    if let Some(v) = st.feeds.get(&key, counter) {
        return Ok(v);
    }
    let permit = st.renders.enter().await?;
    // A pull of the same view that rendered while this one waited is reused, not rendered again.
    if let Some(v) = st.feeds.get(&key, counter) {
        return Ok(v);
    }
    let hook = hook(st)?;
    let state = st.clone();
    // Cached before the permit goes, so the pull that enters next finds it.
    blocking(move || {
        let _permit = permit;
        let mut out = hook(req).map_err(ApiError::internal)?;
        if packing == Packing::Tarball && !out.files.is_empty() {
            out.body = tar_gz(&out.files).map_err(ApiError::internal)?;
            out.files = Vec::new();
        }
        if out.etag.is_none() {
            out.etag = Some(strong_etag(&out));
        }
        let v = Arc::new(out);
        state.feeds.put(key, counter, v.clone());
        Ok(v)
    })
    .await
}

/// A strong validator of the rendered bytes.
fn strong_etag(out: &DetectionExport) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(&out.body);
    for (name, body) in &out.files {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((body.len() as u64).to_le_bytes());
        h.update(body);
    }
    let d = h.finalize();
    let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Admission of detection renderings: one at a time. Each reads every live indicator the caller may see and
/// holds them with the rendered content (about 0.6 GB plus the content for a million indicators), and they share
/// the binary's one export connection, so the others wait here, asynchronously, without holding a thread: members
/// whose sensors and MISP instances all pull on the hour queue up instead of multiplying the memory, and a feed
/// pull that waited finds the rendering the one before it made.
pub struct RenderGate(Arc<tokio::sync::Semaphore>);

impl Default for RenderGate {
    fn default() -> Self {
        RenderGate::new(1)
    }
}

impl RenderGate {
    pub fn new(slots: usize) -> Self {
        RenderGate(Arc::new(tokio::sync::Semaphore::new(slots.max(1))))
    }

    /// A turn to render. The permit goes into the rendering thread, so a caller that hangs up mid-way does not
    /// let the next rendering start beside the one still running.
    async fn enter(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        self.0
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)
    }
}

/// How long a caller's rendering is reused while the store does not change: a MISP instance fetches the feed's
/// manifest and then every event in turn, and sensors poll their files and snapshots; each would otherwise read
/// every live indicator again. Short, because decay and expiry move with time, not with writes.
const FEED_TTL: Duration = Duration::from_secs(120);

/// Detection content and MISP feeds rendered per caller view. An entry holds for [`FEED_TTL`] and only while the
/// store's change counter holds (any commit, a share or revocation included, drops it); the key is the caller's
/// whole scope, so one member's entry is never another's.
pub struct FeedCache {
    inner: Mutex<HashMap<String, FeedEntry>>,
    /// Bytes the renderings may hold together (the newest is kept whatever its size).
    budget: usize,
}

impl Default for FeedCache {
    fn default() -> Self {
        FeedCache::with_budget(1 << 30)
    }
}

impl FeedCache {
    pub fn with_budget(budget: usize) -> Self {
        FeedCache {
            inner: Mutex::new(HashMap::new()),
            budget,
        }
    }

    fn get(&self, key: &str, counter: i64) -> Option<Arc<DetectionExport>> {
        let g = self.inner.lock().ok()?;
        let (c, at, v) = g.get(key)?;
        (*c == counter && at.elapsed() < FEED_TTL).then(|| v.clone())
    }

    fn put(&self, key: String, counter: i64, v: Arc<DetectionExport>) {
        if let Ok(mut g) = self.inner.lock() {
            g.retain(|_, (c, at, _)| *c == counter && at.elapsed() < FEED_TTL);
            // A bound on memory whatever the number and size of the callers' views: the oldest renderings go
            // until the new one fits the budget. The new one is always kept, however large, or each of its
            // events would render the whole feed again.
            let size = v.size();
            let mut held: usize = g.values().map(|(_, _, e)| e.size()).sum();
            while !g.is_empty() && (g.len() >= FEED_ENTRIES || held + size > self.budget) {
                let Some(oldest) = g
                    .iter()
                    .min_by_key(|(_, (_, at, _))| *at)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                if let Some((_, _, e)) = g.remove(&oldest) {
                    held -= e.size();
                }
            }
            g.insert(key, (counter, Instant::now(), v));
        }
    }

    /// Bytes held by cached renderings.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.inner
            .lock()
            .map_or(0, |g| g.values().map(|(_, _, e)| e.size()).sum())
    }
}

/// Renderings kept at most.
const FEED_ENTRIES: usize = 64;

impl DetectionExport {
    /// Bytes of rendered content it holds.
    fn size(&self) -> usize {
        self.body.len()
            + self
                .files
                .iter()
                .map(|(n, b)| n.len() + b.len())
                .sum::<usize>()
    }
}

/// (store change counter, when rendered, the rendering).
type FeedEntry = (i64, Instant, Arc<DetectionExport>);

/// A feed file name: `manifest.json`, `hashes.csv` or `{uuid}.json`.
fn feed_file_ok(f: &str) -> bool {
    f == "manifest.json"
        || f == "hashes.csv"
        || f.strip_suffix(".json")
            .is_some_and(|u| u.len() == 36 && u.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
}

#[utoipa::path(get, path = "/api/v1/feeds/misp/{file}", tag = "exports",
    params(("file" = String, Path, description = "manifest.json, hashes.csv, or EVENT-UUID.json: a MISP feed (one event per malware family and TLP) of the indicators the caller may see. Point a MISP instance's feed at https://HOST/api/v1/feeds/misp with the header `Authorization: Bearer TOKEN`"),
           DetectionParams),
    responses((status = 200, description = "The feed file", content_type = "application/json"),
              (status = 401, description = "No valid token", body = crate::error::ErrorBody),
              (status = 404, description = "No such file in the caller's feed", body = crate::error::ErrorBody)))]
pub(crate) async fn misp_feed_file(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    Path(file): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such file in this feed: manifest.json, hashes.csv and the events the manifest lists",
        )
    };
    if !feed_file_ok(&file) {
        return Err(not_found());
    }
    let p: DetectionParams = query(raw.as_deref())?;
    let req = request(&st, c.as_ref(), "misp-feed", p)?;
    let out = rendered(&st, req, Packing::Files).await?;
    let Some((_, body)) = out.files.iter().find(|(n, _)| *n == file) else {
        return Err(not_found());
    };
    // The manifest is what a pull starts with: one audit record per pull, not one per event.
    if file == "manifest.json" && out.amber_or_above > 0 {
        st.audit.record(
            &actor(c.as_ref()),
            "api.export",
            "misp-feed",
            json!({"indicators_amber_or_above": out.amber_or_above, "values": out.values}),
        );
    }
    let ct = if file.ends_with(".csv") {
        "text/csv; charset=utf-8"
    } else {
        "application/json"
    };
    let mut resp = (StatusCode::OK, body.clone()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(resp)
}

/// Checks the parameters and builds the request in the caller's scope.
fn request(
    st: &AppState,
    c: Option<&crate::policy::Principal>,
    format: &str,
    p: DetectionParams,
) -> Result<DetectionRequest, ApiError> {
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
    let suricata_dir = p
        .suricata_dir
        .unwrap_or_else(|| DEFAULT_SURICATA_DIR.to_string());
    if !dir_ok(&suricata_dir) {
        return Err(ApiError::bad_request(
            "`suricata_dir` must be an absolute path of letters, digits and `/._-`, without `..`",
        ));
    }
    let sid_base = p.sid_base.unwrap_or(DEFAULT_SID_BASE);
    if !(1..=u64::from(u32::MAX) - 1_000_000).contains(&sid_base) {
        return Err(ApiError::bad_request(
            "`sid_base` must be between 1 and 4293967295 (Suricata rule ids are 32-bit)",
        ));
    }
    if let Some(z) = p.zone.as_deref() {
        if !zone_ok(z) {
            return Err(ApiError::bad_request(
                "`zone` must be a DNS name of letters, digits, `-` and `_` labels",
            ));
        }
    }
    Ok(DetectionRequest {
        format: format.to_string(),
        scope: scope(c, st.cfg.default_tlp),
        tlp_max,
        min_score: p.min_score,
        exact_domains: p.exact_domains.unwrap_or(false),
        zone: p.zone,
        sid_base,
        suricata_dir,
    })
}

/// The binary's renderer, or 501 when the server was started without one.
fn hook(st: &AppState) -> Result<DetectionHook, ApiError> {
    st.hooks
        .get()
        .and_then(|h| h.detection_export.as_ref())
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "not_implemented",
                "detection exports need the vigil binary's renderers, which this server was started without",
            )
        })
}

/// The binary's renderer of detection content ([`crate::Hooks::detection_export`]).
pub type DetectionHook =
    Arc<dyn Fn(DetectionRequest) -> Result<DetectionExport, String> + Send + Sync>;

/// A gzip-compressed tar of `files`, flat (`tar xzf - -C DIR` unpacks them into DIR), every entry 0644 and
/// dated now.
fn tar_gz(files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, body) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(mtime);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, body.as_slice())?;
    }
    tar.into_inner()?.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_files() {
        for ok in [
            "manifest.json",
            "hashes.csv",
            "5f1c0e9a-33b1-5a5e-9d1e-0123456789ab.json",
        ] {
            assert!(feed_file_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "../manifest.json",
            "x.json",
            "5f1c0e9a-33b1-5a5e-9d1e-0123456789ab.csv",
            "5f1c0e9a/33b1-5a5e-9d1e-0123456789ab.json",
        ] {
            assert!(!feed_file_ok(bad), "{bad}");
        }
    }

    #[test]
    fn suricata_dirs() {
        for ok in [
            "/var/lib/suricata/rules/vigil",
            "/etc/suricata/vigil-1.0",
            "/",
        ] {
            assert!(dir_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "rules/vigil",
            "/etc/../root",
            "/a b",
            "/a\nb",
            "/a:b",
            "/a\"b",
            &format!("/{}", "a".repeat(200)),
        ] {
            assert!(!dir_ok(bad), "{bad:?}");
        }
    }

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

    fn rendering(bytes: usize) -> Arc<DetectionExport> {
        Arc::new(DetectionExport {
            content_type: "application/gzip",
            file_name: "f".into(),
            body: Vec::new(),
            values: 0,
            indicators: 0,
            amber_or_above: 0,
            notes: Vec::new(),
            files: vec![(
                "manifest.json".into(),
                vec![0; bytes - "manifest.json".len()],
            )],
            etag: None,
        })
    }

    #[test]
    fn the_feed_cache_keeps_to_its_budget_and_always_the_newest() {
        let c = FeedCache::with_budget(1000);
        c.put("a".into(), 7, rendering(600));
        assert!(c.get("a", 7).is_some());
        // Another view that does not fit beside it: the older goes.
        c.put("b".into(), 7, rendering(600));
        assert!(c.get("a", 7).is_none() && c.get("b", 7).is_some());
        assert_eq!(c.held(), 600);
        c.put("c".into(), 7, rendering(300));
        assert_eq!(c.held(), 900);
        // Larger than the whole budget: kept alone, since its own pull reads it once per event.
        c.put("d".into(), 7, rendering(5000));
        assert!(c.get("d", 7).is_some() && c.get("b", 7).is_none() && c.get("c", 7).is_none());
        assert_eq!(c.held(), 5000);
        // A write to the store (another change counter) drops what was rendered before it.
        assert!(c.get("d", 8).is_none());
        c.put("e".into(), 8, rendering(100));
        assert_eq!(c.held(), 100);
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let hv = |s: &str| HeaderValue::from_str(s).expect("header");
        let weak = "W/\"abc-2026-12-04\"";
        assert!(if_none_match_hits(&hv(weak), weak));
        // Weak comparison: a client may drop or add the W/ prefix.
        assert!(if_none_match_hits(&hv("\"abc-2026-12-04\""), weak));
        assert!(if_none_match_hits(&hv("W/\"abc\""), "\"abc\""));
        assert!(if_none_match_hits(
            &hv("\"x\", W/\"abc\" ,\"y\""),
            "\"abc\""
        ));
        assert!(if_none_match_hits(&hv("*"), "\"abc\""));
        for miss in ["\"abd\"", "abc", "", "\"abc\"x"] {
            assert!(!if_none_match_hits(&hv(miss), "\"abc\""), "{miss}");
        }
        // No validator: nothing matches but `*`.
        assert!(!if_none_match_hits(&hv("\"\""), ""));
    }

    #[test]
    fn strong_etags_follow_every_byte_and_file_name() {
        let mut a = DetectionExport::clone(&rendering(100));
        let e0 = strong_etag(&a);
        assert!(
            e0.starts_with('"') && e0.ends_with('"') && e0.len() == 34,
            "{e0}"
        );
        assert_eq!(e0, strong_etag(&a));
        a.files[0].1[7] = 1;
        let e1 = strong_etag(&a);
        assert_ne!(e0, e1);
        a.files[0].0 = "hashes.csv".into();
        assert_ne!(e1, strong_etag(&a));
        a.files.clear();
        a.body = b"x".to_vec();
        assert_ne!(strong_etag(&a), e0);
    }

    #[tokio::test]
    async fn renderings_beyond_the_gate_wait_their_turn() {
        let gate = RenderGate::new(1);
        let first = gate.enter().await.expect("first");
        let waiting = tokio::time::timeout(Duration::from_millis(50), gate.enter()).await;
        assert!(
            waiting.is_err(),
            "a second rendering got in beside the first"
        );
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), gate.enter()).await;
        assert!(matches!(second, Ok(Ok(_))));
    }
}
