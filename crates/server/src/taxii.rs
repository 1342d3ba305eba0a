//! The TAXII 2.1 server under `/taxii2/`: discovery, one API root (`/taxii2/vigil/`), collections, objects (GET with
//! `added_after`, `limit`, `next`, `match[id|type|version|spec_version]`; POST to a member's inbox), object, versions,
//! manifest and status.
//!
//! Collections: `shared-clear`, `shared-green`, `shared-amber` hold knowledge-base objects at that level that the
//! caller may see (through [`crate::policy::scope`]); `shared-amber` also carries the AMBER+STRICT and RED objects
//! shared with the caller, since TAXII offers no better place, and unmarked objects appear there as the configured
//! default (AMBER) says. `member-<id>` is that member's own collection: its notices (each version a STIX `report`,
//! each status change a `note`) and its sightings (see [`crate::notices`]). `inbox-<id>` is read-write for that member: what it posts is stored at once, marked with its
//! identity, readable there, and promoted into the knowledge base only by the operator (`vigil inbox promote`).
//!
//! Paging keys on the store's insertion sequence: `next` is an opaque cursor holding the last sequence number
//! served, to be sent with the same query; inserts during paging land after the cursor, so every object is served
//! exactly once. Pages are cached until the store changes (any commit by any process moves its change counter).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};
use vigil_model::{ids, StixObject, Tlp};
use vigil_store::{Page, PageQuery, PageSource, ReadScope, VersionSel};

use crate::auth::Caller;
use crate::error::{TaxiiError, TAXII};
use crate::policy::{scope, Principal};
use crate::AppState;

/// The API root's path segment.
pub const ROOT: &str = "vigil";
const STIX_MEDIA: &str = "application/stix+json;version=2.1";

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/taxii2/", get(discovery))
        .route("/taxii2/vigil/", get(api_root))
        .route("/taxii2/vigil/status/{sid}/", get(status))
        .route("/taxii2/vigil/collections/", get(collections))
        .route("/taxii2/vigil/collections/{cid}/", get(collection))
        .route(
            "/taxii2/vigil/collections/{cid}/objects/",
            get(objects).post(add_objects),
        )
        .route(
            "/taxii2/vigil/collections/{cid}/objects/{oid}/",
            get(object),
        )
        .route(
            "/taxii2/vigil/collections/{cid}/objects/{oid}/versions/",
            get(versions),
        )
        .route("/taxii2/vigil/collections/{cid}/manifest/", get(manifest))
}

/// A collection, parsed from its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coll {
    Shared(Tlp),
    Member(i64),
    Inbox(i64),
}

impl Coll {
    pub fn parse(id: &str) -> Option<Coll> {
        match id {
            "shared-clear" => Some(Coll::Shared(Tlp::Clear)),
            "shared-green" => Some(Coll::Shared(Tlp::Green)),
            "shared-amber" => Some(Coll::Shared(Tlp::Amber)),
            _ => {
                let num = |s: &str| {
                    s.parse::<i64>()
                        .ok()
                        .filter(|n| *n > 0 && !s.starts_with('0'))
                };
                if let Some(n) = id.strip_prefix("member-").and_then(num) {
                    Some(Coll::Member(n))
                } else {
                    id.strip_prefix("inbox-").and_then(num).map(Coll::Inbox)
                }
            }
        }
    }

    pub fn id(self) -> String {
        match self {
            Coll::Shared(t) => format!(
                "shared-{}",
                if t == Tlp::Clear {
                    "clear"
                } else if t == Tlp::Green {
                    "green"
                } else {
                    "amber"
                }
            ),
            Coll::Member(n) => format!("member-{n}"),
            Coll::Inbox(n) => format!("inbox-{n}"),
        }
    }

    /// (can_read, can_write) for a caller; None when the collection does not exist for it (404, not 403, so that
    /// other members' collections are not revealed).
    pub fn access(self, caller: Option<&Principal>) -> Option<(bool, bool)> {
        match (self, caller) {
            (Coll::Shared(Tlp::Clear), _) => Some((true, false)),
            (Coll::Shared(_), Some(_)) => Some((true, false)),
            (Coll::Member(n), Some(p)) if p.member_id == n || p.is_operator_staff() => {
                Some((true, false))
            }
            (Coll::Inbox(n), Some(p)) if p.member_id == n => Some((true, true)),
            (Coll::Inbox(_), Some(p)) if p.is_operator_staff() => Some((true, false)),
            _ => None,
        }
    }

    fn source(self) -> PageSource {
        match self {
            Coll::Shared(Tlp::Amber) => PageSource::Shared {
                tlp_min: Tlp::Amber,
                tlp_max: Tlp::Red,
            },
            Coll::Shared(t) => PageSource::Shared {
                tlp_min: t,
                tlp_max: t,
            },
            Coll::Member(m) => PageSource::Member { member: m },
            Coll::Inbox(m) => PageSource::Inbox { member: m },
        }
    }

    fn describe(self) -> (String, String) {
        match self {
            Coll::Shared(Tlp::Clear) => ("Shared TLP:CLEAR".into(), "Intelligence marked TLP:CLEAR".into()),
            Coll::Shared(Tlp::Green) => ("Shared TLP:GREEN".into(), "Intelligence marked TLP:GREEN, for the programme's members".into()),
            Coll::Shared(_) => (
                "Shared TLP:AMBER and above".into(),
                "TLP:AMBER, AMBER+STRICT and RED intelligence shared with your organisation (unmarked objects count as the operator's default)".into(),
            ),
            Coll::Member(n) => (format!("Member {n}: notices and sightings"), "Your organisation's notices and sightings".into()),
            Coll::Inbox(n) => (format!("Member {n}: inbox"), "Post intelligence here; the operator reviews it before sharing it further".into()),
        }
    }
}

/// Cached pages, valid while the store's change counter stays the same.
pub struct PageCache {
    cap: usize,
    max_bytes: usize,
    /// (store change counter, bytes held, pages).
    inner: RwLock<(i64, usize, HashMap<String, Arc<Cached>>)>,
}

pub struct Cached {
    body: Bytes,
    first: Option<String>,
    last: Option<String>,
    rows: usize,
    ids: Vec<String>,
}

impl PageCache {
    /// At most `cap` pages and `max_bytes` bytes of page bodies; when either would be exceeded the cache starts
    /// over (cheaper than LRU bookkeeping on every hit, and a full cache means the working set is wider than it).
    pub fn new(cap: usize, max_bytes: usize) -> Self {
        PageCache {
            cap,
            max_bytes,
            inner: RwLock::new((i64::MIN, 0, HashMap::new())),
        }
    }

    fn get(&self, counter: i64, key: &str) -> Option<Arc<Cached>> {
        let g = self.inner.read().ok()?;
        if g.0 != counter {
            return None;
        }
        g.2.get(key).cloned()
    }

    fn put(&self, counter: i64, key: String, v: Arc<Cached>) {
        let klen = key.len();
        let size = v.body.len() + klen;
        if self.cap == 0 || size > self.max_bytes {
            return;
        }
        let Ok(mut g) = self.inner.write() else {
            return;
        };
        if g.0 != counter || g.2.len() >= self.cap || g.1 + size > self.max_bytes {
            g.0 = counter;
            g.1 = 0;
            g.2.clear();
        }
        if let Some(old) = g.2.insert(key, v) {
            g.1 = g.1.saturating_sub(old.body.len() + klen);
        }
        g.1 += size;
    }
}

fn accepts(headers: &HeaderMap) -> Result<(), TaxiiError> {
    let ok = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let mt = parts.next().unwrap_or("").to_ascii_lowercase();
            let version = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("version"))
                .map(|(_, v)| v.trim().trim_matches('"'));
            mt == "application/taxii+json" && version.is_none_or(|v| v == "2.1")
        });
    if ok {
        Ok(())
    } else {
        Err(TaxiiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not acceptable",
            format!("this server answers with {TAXII}; send it in Accept"),
        ))
    }
}

fn taxii_json(status: StatusCode, v: &Value) -> Response {
    let mut r = (status, v.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII));
    r
}

/// The address the client used: HTTP/1.1 sends it as `Host`, HTTP/2 (TLS with ALPN `h2`: what most clients pick
/// over HTTPS) as the `:authority` of the request URI and often no `Host` at all; the listening address only when
/// neither came.
fn base_url(st: &AppState, uri: &Uri, headers: &HeaderMap) -> String {
    // Behind a reverse proxy that terminates TLS, neither this listener's scheme nor (often) the address asked
    // for is what clients use: the configured public address is.
    if let Some(p) = &st.cfg.public_url {
        return p.trim_end_matches('/').to_string();
    }
    let scheme = if st.cfg.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let ok = |h: &str| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    };
    let host = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .filter(|h| ok(h))
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| ok(h))
                .map(str::to_string)
        })
        .unwrap_or_else(|| st.cfg.listen.to_string());
    format!("{scheme}://{host}")
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TaxiiError> + Send + 'static,
) -> Result<T, TaxiiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(TaxiiError::internal)?
}

async fn discovery(
    State(st): State<Arc<AppState>>,
    Caller(_c): Caller,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    accepts(&headers)?;
    let root = format!("{}/taxii2/{ROOT}/", base_url(&st, &uri, &headers));
    Ok(taxii_json(
        StatusCode::OK,
        &json!({"title": format!("{} TAXII 2.1 server", st.cfg.title), "description": "Threat intelligence shared under TLP 2.0, per member",
                "default": root, "api_roots": [root]}),
    ))
}

async fn api_root(
    State(st): State<Arc<AppState>>,
    Caller(_c): Caller,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    accepts(&headers)?;
    Ok(taxii_json(
        StatusCode::OK,
        &json!({"title": format!("{} knowledge base", st.cfg.title), "versions": [TAXII], "max_content_length": st.cfg.max_body}),
    ))
}

fn collection_json(c: Coll, read: bool, write: bool) -> Value {
    let (title, description) = c.describe();
    json!({"id": c.id(), "title": title, "description": description, "can_read": read, "can_write": write, "media_types": [STIX_MEDIA]})
}

/// The collections a caller sees, in a fixed order.
pub fn visible_collections(caller: Option<&Principal>) -> Vec<(Coll, bool, bool)> {
    let mut all = vec![
        Coll::Shared(Tlp::Clear),
        Coll::Shared(Tlp::Green),
        Coll::Shared(Tlp::Amber),
    ];
    if let Some(p) = caller {
        all.push(Coll::Member(p.member_id));
        all.push(Coll::Inbox(p.member_id));
    }
    all.into_iter()
        .filter_map(|c| c.access(caller).map(|(r, w)| (c, r, w)))
        .collect()
}

async fn collections(Caller(c): Caller, headers: HeaderMap) -> Result<Response, TaxiiError> {
    accepts(&headers)?;
    let list: Vec<Value> = visible_collections(c.as_ref())
        .into_iter()
        .map(|(c, r, w)| collection_json(c, r, w))
        .collect();
    Ok(taxii_json(StatusCode::OK, &json!({"collections": list})))
}

fn resolve(cid: &str, caller: Option<&Principal>) -> Result<(Coll, bool, bool), TaxiiError> {
    let c =
        Coll::parse(cid).ok_or_else(|| TaxiiError::not_found(format!("no collection `{cid}`")))?;
    let (r, w) = c
        .access(caller)
        .ok_or_else(|| TaxiiError::not_found(format!("no collection `{cid}`")))?;
    Ok((c, r, w))
}

async fn collection(
    Caller(c): Caller,
    headers: HeaderMap,
    Path(cid): Path<String>,
) -> Result<Response, TaxiiError> {
    accepts(&headers)?;
    let (coll, r, w) = resolve(&cid, c.as_ref())?;
    Ok(taxii_json(StatusCode::OK, &collection_json(coll, r, w)))
}

/// A parsed objects/manifest query.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub after_seq: i64,
    pub added_after: Option<String>,
    pub limit: usize,
    pub types: Vec<String>,
    pub ids: Vec<String>,
    pub versions: VersionSel,
    /// `match[spec_version]` left out 2.1: nothing matches.
    pub none: bool,
    /// The canonical query, for the cache key.
    pub canon: String,
}

pub fn encode_cursor(seq: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1.{seq}"))
}

pub fn decode_cursor(s: &str) -> Option<i64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    s.strip_prefix("v1.")?
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
}

fn parse_time(name: &str, v: &str) -> Result<String, TaxiiError> {
    vigil_model::time::parse(name, v.trim()).map(|t| vigil_model::time::sort_key(&t)).map_err(|_| {
        TaxiiError::bad_request(format!("`{name}` must be an RFC 3339 UTC timestamp such as 2026-01-01T00:00:00.000Z, not `{v}`"))
    })
}

/// Parses TAXII query parameters; `allow` lists which are accepted on this endpoint.
pub fn parse_filters(
    raw: Option<&str>,
    max_page: usize,
    allow: &[&str],
) -> Result<Filters, TaxiiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| TaxiiError::bad_request(format!("malformed query string: {e}")))?;
    let mut f = Filters {
        limit: max_page,
        ..Default::default()
    };
    let mut canon: Vec<(String, String)> = Vec::new();
    let mut version_words: Vec<String> = Vec::new();
    for (k, v) in pairs {
        // TAXII 2.1 (3.4): a server ignores filters it does not support, as medallion does; taxii2-client relies
        // on it (a `match=` keyword argument becomes `match[match]`). Known filters with bad values are errors.
        if k.starts_with("match[") && !allow.contains(&k.as_str()) {
            continue;
        }
        if !allow.contains(&k.as_str()) {
            return Err(TaxiiError::bad_request(format!(
                "unsupported query parameter `{k}` (supported here: {})",
                allow.join(", ")
            )));
        }
        canon.push((k.clone(), v.clone()));
        let list = || {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        };
        match k.as_str() {
            "limit" => {
                let n: usize = v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    TaxiiError::bad_request(format!(
                        "`limit` must be a positive integer, not `{v}`"
                    ))
                })?;
                f.limit = n.min(max_page);
            }
            "next" => {
                f.after_seq = decode_cursor(&v).ok_or_else(|| {
                    TaxiiError::bad_request("`next` is not a cursor this server issued")
                })?
            }
            "added_after" => f.added_after = Some(parse_time("added_after", &v)?),
            "match[type]" => {
                for t in list() {
                    if !t
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        || t.len() > 250
                    {
                        return Err(TaxiiError::bad_request(format!(
                            "`match[type]`: `{t}` is not a STIX type"
                        )));
                    }
                    f.types.push(t);
                }
            }
            "match[id]" => {
                for i in list() {
                    if !ids::is_valid_id(&i) {
                        return Err(TaxiiError::bad_request(format!(
                            "`match[id]`: `{i}` is not a STIX identifier"
                        )));
                    }
                    f.ids.push(i);
                }
            }
            "match[version]" => version_words.extend(list()),
            "match[spec_version]" => {
                let l = list();
                if l.iter().any(|s| s != "2.0" && s != "2.1") {
                    return Err(TaxiiError::bad_request(
                        "`match[spec_version]` takes 2.0 and/or 2.1",
                    ));
                }
                if !l.iter().any(|s| s == "2.1") {
                    // Everything Vigil stores is STIX 2.1 (2.0 input is upgraded on the way in).
                    f.none = true;
                }
            }
            _ => {
                return Err(TaxiiError::bad_request(format!(
                    "unsupported query parameter `{k}`"
                )))
            }
        }
    }
    if !version_words.is_empty() {
        let keywords: Vec<&str> = version_words
            .iter()
            .map(String::as_str)
            .filter(|w| matches!(*w, "all" | "first" | "last"))
            .collect();
        f.versions = if keywords.contains(&"all")
            || (keywords.contains(&"first") && keywords.contains(&"last"))
        {
            VersionSel::All
        } else if keywords.len() == version_words.len() {
            if keywords.contains(&"first") {
                VersionSel::First
            } else {
                VersionSel::Last
            }
        } else if keywords.is_empty() {
            VersionSel::Exact(
                version_words
                    .iter()
                    .map(|w| parse_time("match[version]", w))
                    .collect::<Result<_, _>>()?,
            )
        } else {
            return Err(TaxiiError::bad_request(
                "`match[version]` mixing timestamps with first/last is not supported; use all, first, last, or timestamps",
            ));
        };
    }
    canon.sort();
    f.canon = serde_urlencoded::to_string(&canon).unwrap_or_default();
    Ok(f)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Objects,
    Manifest,
    Versions,
}

/// Builds (or fetches from the cache) a page of one collection.
async fn page(
    st: &Arc<AppState>,
    caller: Option<&Principal>,
    coll: Coll,
    f: Filters,
    kind: Kind,
) -> Result<Arc<Cached>, TaxiiError> {
    let sc: ReadScope = scope(caller, st.cfg.default_tlp);
    // Only shared-amber differs between callers who may read a collection.
    let who = match (coll, caller) {
        (Coll::Shared(Tlp::Amber), Some(p)) if !sc.all => format!("m{}", p.member_id),
        (Coll::Shared(Tlp::Amber), _) => "all".into(),
        _ => String::new(),
    };
    let key = format!("{}|{}|{who}|{}", coll.id(), kind as u8, f.canon);
    let counter = crate::counter::change_counter(st.store.as_ref())?;
    if let Some(c) = st.cache.get(counter, &key) {
        st.metrics.cache_hits.fetch_add(1, Relaxed);
        return Ok(c);
    }
    st.metrics.cache_misses.fetch_add(1, Relaxed);
    let q = PageQuery {
        source: if f.none {
            PageSource::Empty
        } else {
            coll.source()
        },
        scope: sc,
        after_seq: f.after_seq,
        added_after: f.added_after.clone(),
        types: f.types.clone(),
        ids: f.ids.clone(),
        versions: f.versions.clone(),
        limit: f.limit,
    };
    let store = st.store.clone();
    let p: Page = blocking(move || Ok(store.page(&q)?)).await?;
    st.metrics
        .objects_served
        .fetch_add(p.rows.len() as u64, Relaxed);
    let mut body =
        String::with_capacity(p.rows.iter().map(|r| r.json.len() + 2).sum::<usize>() + 128);
    body.push_str(if p.more {
        "{\"more\":true"
    } else {
        "{\"more\":false"
    });
    if p.more && kind != Kind::Versions {
        if let Some(last) = p.rows.last() {
            body.push_str(&format!(",\"next\":\"{}\"", encode_cursor(last.seq)));
        }
    }
    match kind {
        Kind::Objects => {
            body.push_str(",\"objects\":[");
            for (i, r) in p.rows.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(&r.json);
            }
            body.push_str("]}");
        }
        Kind::Manifest => {
            let items: Vec<Value> = p
                .rows
                .iter()
                .map(|r| json!({"id": r.id, "date_added": r.added_at, "version": r.version, "media_type": STIX_MEDIA}))
                .collect();
            body.push_str(",\"objects\":");
            body.push_str(&Value::Array(items).to_string());
            body.push('}');
        }
        Kind::Versions => {
            let items: Vec<Value> = p
                .rows
                .iter()
                .map(|r| Value::String(r.version.clone()))
                .collect();
            body.push_str(",\"versions\":");
            body.push_str(&Value::Array(items).to_string());
            body.push('}');
        }
    }
    let ids = if matches!(coll, Coll::Shared(Tlp::Amber)) {
        p.rows.iter().take(100).map(|r| r.id.clone()).collect()
    } else {
        Vec::new()
    };
    let c = Arc::new(Cached {
        body: Bytes::from(body),
        first: p.rows.first().map(|r| r.added_at.clone()),
        last: p.rows.last().map(|r| r.added_at.clone()),
        rows: p.rows.len(),
        ids,
    });
    st.cache.put(counter, key, c.clone());
    Ok(c)
}

fn page_response(c: &Cached) -> Response {
    let mut r = (StatusCode::OK, c.body.clone()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII));
    if let (Some(f), Some(l)) = (&c.first, &c.last) {
        if let (Ok(f), Ok(l)) = (HeaderValue::from_str(f), HeaderValue::from_str(l)) {
            h.insert("X-TAXII-Date-Added-First", f);
            h.insert("X-TAXII-Date-Added-Last", l);
        }
    }
    r
}

/// Every read of shared-amber (AMBER, AMBER+STRICT, RED) that returned something goes to the audit log.
fn audit_read(st: &AppState, caller: Option<&Principal>, coll: Coll, what: &str, c: &Cached) {
    if matches!(coll, Coll::Shared(Tlp::Amber)) && c.rows > 0 {
        let actor = caller
            .map(|p| format!("member-{}/token-{}", p.member_id, p.token_id))
            .unwrap_or_else(|| "anonymous".into());
        st.audit.record(
            &actor,
            "taxii.read",
            &coll.id(),
            json!({"endpoint": what, "objects": c.rows, "ids": c.ids}),
        );
    }
}

const OBJ_PARAMS: &[&str] = &[
    "added_after",
    "limit",
    "next",
    "match[id]",
    "match[type]",
    "match[version]",
    "match[spec_version]",
];

async fn objects(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    headers: HeaderMap,
    Path(cid): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, TaxiiError> {
    accepts(&headers)?;
    let (coll, _, _) = resolve(&cid, c.as_ref())?;
    let f = parse_filters(q.as_deref(), st.cfg.max_page, OBJ_PARAMS)?;
    let p = page(&st, c.as_ref(), coll, f, Kind::Objects).await?;
    audit_read(&st, c.as_ref(), coll, "objects", &p);
    Ok(page_response(&p))
}

async fn manifest(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    headers: HeaderMap,
    Path(cid): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, TaxiiError> {
    accepts(&headers)?;
    let (coll, _, _) = resolve(&cid, c.as_ref())?;
    let f = parse_filters(q.as_deref(), st.cfg.max_page, OBJ_PARAMS)?;
    let p = page(&st, c.as_ref(), coll, f, Kind::Manifest).await?;
    audit_read(&st, c.as_ref(), coll, "manifest", &p);
    Ok(page_response(&p))
}

async fn object(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    headers: HeaderMap,
    Path((cid, oid)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, TaxiiError> {
    accepts(&headers)?;
    let (coll, _, _) = resolve(&cid, c.as_ref())?;
    if !ids::is_valid_id(&oid) {
        return Err(TaxiiError::not_found(format!(
            "`{oid}` is not a STIX identifier"
        )));
    }
    let mut f = parse_filters(
        q.as_deref(),
        st.cfg.max_page,
        &[
            "added_after",
            "limit",
            "next",
            "match[version]",
            "match[spec_version]",
        ],
    )?;
    f.ids = vec![oid.clone()];
    f.canon = format!("{}&id={oid}", f.canon);
    let p = page(&st, c.as_ref(), coll, f, Kind::Objects).await?;
    if p.rows == 0 {
        return Err(TaxiiError::not_found(format!(
            "no object {oid} in this collection"
        )));
    }
    audit_read(&st, c.as_ref(), coll, "object", &p);
    Ok(page_response(&p))
}

async fn versions(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    headers: HeaderMap,
    Path((cid, oid)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, TaxiiError> {
    accepts(&headers)?;
    let (coll, _, _) = resolve(&cid, c.as_ref())?;
    if !ids::is_valid_id(&oid) {
        return Err(TaxiiError::not_found(format!(
            "`{oid}` is not a STIX identifier"
        )));
    }
    let mut f = parse_filters(
        q.as_deref(),
        st.cfg.max_page,
        &["added_after", "limit", "next", "match[spec_version]"],
    )?;
    f.ids = vec![oid.clone()];
    f.versions = VersionSel::All;
    f.canon = format!("{}&id={oid}", f.canon);
    let p = page(&st, c.as_ref(), coll, f, Kind::Versions).await?;
    if p.rows == 0 {
        return Err(TaxiiError::not_found(format!(
            "no object {oid} in this collection"
        )));
    }
    audit_read(&st, c.as_ref(), coll, "versions", &p);
    Ok(page_response(&p))
}

fn content_type_ok(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = ct.split(';').map(str::trim);
    let mt = parts.next().unwrap_or("").to_ascii_lowercase();
    let version = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("version"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string());
    mt == "application/taxii+json" && version.as_deref().is_none_or(|v| v == "2.1")
}

async fn add_objects(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    headers: HeaderMap,
    Path(cid): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, TaxiiError> {
    accepts(&headers)?;
    let (coll, _, can_write) = resolve(&cid, c.as_ref())?;
    let Some(p) = c.filter(|_| can_write) else {
        return Err(TaxiiError::forbidden(format!(
            "collection `{cid}` is read-only for you; post to your inbox collection"
        )));
    };
    let Coll::Inbox(member) = coll else {
        return Err(TaxiiError::forbidden("read-only collection"));
    };
    if !content_type_ok(&headers) {
        return Err(TaxiiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            format!("send the envelope as {TAXII}"),
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            TaxiiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large",
                format!(
                    "the limit is {} bytes (max_content_length)",
                    st.cfg.max_body
                ),
            )
        } else {
            TaxiiError::bad_request(format!("cannot read the request body: {e}"))
        }
    })?;
    let env: Value = serde_json::from_slice(&body)
        .map_err(|e| TaxiiError::bad_request(format!("the body is not JSON: {e}")))?;
    let list = env
        .get("objects")
        .and_then(Value::as_array)
        .ok_or_else(|| TaxiiError::bad_request("the envelope has no `objects` list"))?;
    let mut good = Vec::new();
    let mut failures = Vec::new();
    let mut successes = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let version = v
            .get("modified")
            .or_else(|| v.get("created"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match StixObject::from_value(v.clone()) {
            Ok(mut o) => {
                // Marked with the poster's identity unless the object already names its creator.
                if o.get("created_by_ref").is_none() && !o.is_sco() && o.type_() != "marking-definition" {
                    o.set("created_by_ref", Value::String(p.identity_id.clone()));
                }
                successes.push(json!({"id": id, "version": version}));
                good.push(o);
            }
            Err(e) => failures.push(
                json!({"id": if id.is_empty() { format!("objects[{i}]") } else { id }, "version": version, "message": e.to_string()}),
            ),
        }
    }
    st.metrics
        .objects_received
        .fetch_add(list.len() as u64, Relaxed);
    let store = st.store.clone();
    let n_good = good.len();
    blocking(move || {
        store.inbox_put(member, &good)?;
        Ok(())
    })
    .await?;
    let sid = uuid::Uuid::new_v4().to_string();
    let status = json!({
        "id": sid, "status": "complete", "request_timestamp": vigil_model::time::now(),
        "total_count": list.len(), "success_count": n_good, "successes": successes,
        "failure_count": failures.len(), "failures": failures, "pending_count": 0, "pendings": [],
    });
    let store = st.store.clone();
    let (sid2, text) = (sid.clone(), status.to_string());
    blocking(move || Ok(store.put_status(&sid2, member, &text)?)).await?;
    st.audit.record(
        &format!("member-{}/token-{}", p.member_id, p.token_id),
        "taxii.add",
        &coll.id(),
        json!({"status": sid, "received": list.len(), "stored": n_good}),
    );
    Ok(taxii_json(StatusCode::ACCEPTED, &status))
}

async fn status(
    State(st): State<Arc<AppState>>,
    Caller(c): Caller,
    headers: HeaderMap,
    Path(sid): Path<String>,
) -> Result<Response, TaxiiError> {
    accepts(&headers)?;
    let Some(p) = c else {
        return Err(TaxiiError::not_found("no such status"));
    };
    let store = st.store.clone();
    let sid2 = sid.clone();
    let row = blocking(move || Ok(store.status(&sid2)?)).await?;
    match row {
        Some((member, text)) if member == p.member_id || p.is_operator_staff() => {
            let v: Value = serde_json::from_str(&text).map_err(TaxiiError::internal)?;
            Ok(taxii_json(StatusCode::OK, &v))
        }
        _ => Err(TaxiiError::not_found(format!("no status {sid}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_cache_is_bounded_in_bytes_and_entries() {
        let page = |n: usize| {
            Arc::new(Cached {
                body: Bytes::from(vec![b'x'; n]),
                first: None,
                last: None,
                rows: 0,
                ids: Vec::new(),
            })
        };
        let c = PageCache::new(100, 1000);
        for i in 0..50 {
            c.put(7, format!("k{i}"), page(90));
            let g = c.inner.read().expect("lock");
            assert!(
                g.1 <= 1000 && g.2.len() <= 100,
                "bytes {} pages {}",
                g.1,
                g.2.len()
            );
        }
        assert!(c.get(7, "k49").is_some(), "the newest page is kept");
        assert!(c.get(8, "k49").is_none(), "a store change empties it");
        c.put(7, "huge".into(), page(5000));
        assert!(
            c.get(7, "huge").is_none(),
            "a page larger than the budget is not cached"
        );
        let small = PageCache::new(3, 1 << 20);
        for i in 0..10 {
            small.put(1, format!("k{i}"), page(1));
        }
        assert!(small.inner.read().expect("lock").2.len() <= 3);
    }

    #[test]
    fn collections_parse() {
        assert_eq!(Coll::parse("shared-green"), Some(Coll::Shared(Tlp::Green)));
        assert_eq!(Coll::parse("inbox-12"), Some(Coll::Inbox(12)));
        assert_eq!(Coll::parse("inbox-012"), None);
        assert_eq!(Coll::parse("member-x"), None);
        assert_eq!(Coll::Inbox(3).id(), "inbox-3");
    }

    #[test]
    fn cursors_and_filters() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("garbage"), None);
        let f = parse_filters(
            Some("limit=5000&match[type]=indicator,malware&match[version]=all"),
            1000,
            OBJ_PARAMS,
        )
        .expect("ok");
        assert_eq!(f.limit, 1000);
        assert_eq!(f.types, vec!["indicator", "malware"]);
        assert_eq!(f.versions, VersionSel::All);
        assert!(parse_filters(Some("limit=0"), 1000, OBJ_PARAMS).is_err());
        assert!(parse_filters(Some("added_after=yesterday"), 1000, OBJ_PARAMS).is_err());
        assert!(parse_filters(Some("match[id]=nope"), 1000, OBJ_PARAMS).is_err());
        assert!(
            parse_filters(Some("match[colour]=red"), 1000, OBJ_PARAMS).is_ok(),
            "unsupported filters are ignored"
        );
        assert!(parse_filters(Some("colour=red"), 1000, OBJ_PARAMS).is_err());
        assert!(
            parse_filters(Some("match[spec_version]=2.0"), 1000, OBJ_PARAMS)
                .expect("ok")
                .none
        );
        let v = parse_filters(
            Some("match[version]=2020-01-01T00:00:00Z"),
            1000,
            OBJ_PARAMS,
        )
        .expect("ok");
        assert_eq!(
            v.versions,
            VersionSel::Exact(vec!["2020-01-01T00:00:00.000000Z".into()])
        );
    }
}
