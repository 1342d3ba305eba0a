//! The whole HTTP surface through `app()` with `oneshot`: authentication, TAXII protocol details and errors, exact
//! paging under concurrent inserts, inbox posting, and isolation: every TLP level against every path out.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use vigil_model::{Provenance, StixObject, Tlp};
use vigil_server::policy::Role;
use vigil_server::{app, AppState, ServerConfig};
use vigil_store::sqlite::SqliteStore;
use vigil_store::{MemberStore, PutMode, Store};

const TAXII: &str = "application/taxii+json;version=2.1";

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    state: Arc<AppState>,
    op: String,
    a: String,
    b: String,
    a_id: i64,
    b_id: i64,
}

fn tool(n: usize, tlp: Option<Tlp>) -> StixObject {
    let mut v = json!({"type": "tool", "spec_version": "2.1", "id": format!("tool--5a0c2b6e-1111-4c1e-9a1b-0000000000{n:02}"),
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z", "name": format!("isolationprobe {n}")});
    if let Some(t) = tlp {
        v["object_marking_refs"] = json!([t.marking_id()]);
    }
    StixObject::from_value(v).expect("fixture")
}

const LEVELS: [Option<Tlp>; 6] = [
    Some(Tlp::Clear),
    Some(Tlp::Green),
    Some(Tlp::Amber),
    Some(Tlp::AmberStrict),
    Some(Tlp::Red),
    None,
];

fn put_all(store: &SqliteStore, objs: &[StixObject]) {
    let prov = Provenance {
        source: "test".into(),
        ingested_at: "2024-01-01T00:00:00Z".into(),
        original_id: None,
        file: None,
    };
    store
        .write(&mut |tx| {
            for o in objs {
                tx.put(o, &prov, PutMode::Source)?;
            }
            Ok(())
        })
        .expect("write");
}

fn fixture_with(cfg: ServerConfig) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path()).expect("open"));
    let op = store
        .add_member("Operator CERT", "EU", "csirt", true)
        .expect("op");
    let a = store.add_member("CERT A", "DE", "csirt", false).expect("a");
    let b = store
        .add_member("Ministry B", "FR", "ministry", false)
        .expect("b");
    let (op_t, _) =
        vigil_server::tokens::create(store.as_ref(), op.id, Role::Analyst, None).expect("token");
    let (a_t, _) =
        vigil_server::tokens::create(store.as_ref(), a.id, Role::Member, None).expect("token");
    let (b_t, _) =
        vigil_server::tokens::create(store.as_ref(), b.id, Role::Member, None).expect("token");
    let objs: Vec<StixObject> = LEVELS
        .iter()
        .enumerate()
        .map(|(i, t)| tool(i, *t))
        .collect();
    put_all(&store, &objs);
    for o in &objs[2..] {
        store.share(o.id(), a.id).expect("share");
    }
    let state = AppState::new(store.clone(), dir.path().to_path_buf(), cfg, vec![]).expect("state");
    Fixture {
        _dir: dir,
        store,
        state,
        op: op_t,
        a: a_t,
        b: b_t,
        a_id: a.id,
        b_id: b.id,
    }
}

fn fixture() -> Fixture {
    fixture_with(ServerConfig::default())
}

async fn call(
    f: &Fixture,
    method: &str,
    uri: &str,
    auth: Option<String>,
    ctype: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut r = Request::builder()
        .method(method)
        .uri(uri)
        .header("accept", TAXII);
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    if let Some(c) = ctype {
        r = r.header("content-type", c);
    }
    let resp = app(f.state.clone())
        .oneshot(r.body(Body::from(body)).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    (status, headers, bytes)
}

fn bearer(t: &str) -> Option<String> {
    Some(format!("Bearer {t}"))
}

async fn get_json(f: &Fixture, uri: &str, tok: &str) -> (StatusCode, Value) {
    let (s, _, b) = call(f, "GET", uri, bearer(tok), None, vec![]).await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// Reads a collection's objects as member B through `next` (`query` without `next`), checking each page's status
/// and headers; `each` gets the page's number (from 1), its envelope and its body's length.
async fn walk_pages(f: &Fixture, query: &str, mut each: impl FnMut(usize, &Value, usize)) {
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &next {
            Some(n) => format!("{query}&next={n}"),
            None => query.to_string(),
        };
        let (s, h, b) = call(
            f,
            "GET",
            &format!("/taxii2/vigil/collections/shared-clear/objects/?{q}"),
            bearer(&f.b),
            None,
            vec![],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            h.contains_key("x-taxii-date-added-first") && h.contains_key("x-taxii-date-added-last")
        );
        let v: Value = serde_json::from_slice(&b).expect("json");
        pages += 1;
        each(pages, &v, b.len());
        if v["more"] != true {
            break;
        }
        next = v["next"].as_str().map(str::to_string);
        assert!(next.is_some(), "more=true comes with next");
    }
}

fn ids_in(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|o| o.get("id").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Every id a caller can reach for `id` through each path out.
async fn reach(f: &Fixture, tok: &str, id: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    if get_json(f, &format!("/api/v1/objects/{id}"), tok).await.0 == StatusCode::OK {
        out.push("api.object");
    }
    let (_, v) = get_json(f, "/api/v1/search?q=isolationprobe&limit=50", tok).await;
    if ids_in(&v, "items").iter().any(|i| i == id) {
        out.push("api.search");
    }
    let (_, v) = get_json(f, "/api/v1/exports/stix", tok).await;
    if v.get("bundle")
        .map(|b| ids_in(b, "objects").iter().any(|i| i == id))
        .unwrap_or(false)
    {
        out.push("api.export");
    }
    for c in ["shared-clear", "shared-green", "shared-amber"] {
        let (_, v) = get_json(f, &format!("/taxii2/vigil/collections/{c}/objects/"), tok).await;
        if ids_in(&v, "objects").iter().any(|i| i == id) {
            out.push("taxii.objects");
        }
        let (_, v) = get_json(f, &format!("/taxii2/vigil/collections/{c}/manifest/"), tok).await;
        if ids_in(&v, "objects").iter().any(|i| i == id) {
            out.push("taxii.manifest");
        }
        if get_json(
            f,
            &format!("/taxii2/vigil/collections/{c}/objects/{id}/"),
            tok,
        )
        .await
        .0 == StatusCode::OK
        {
            out.push("taxii.object");
        }
        if get_json(
            f,
            &format!("/taxii2/vigil/collections/{c}/objects/{id}/versions/"),
            tok,
        )
        .await
        .0 == StatusCode::OK
        {
            out.push("taxii.versions");
        }
    }
    out
}

const ALL_PATHS: [&str; 7] = [
    "api.object",
    "api.search",
    "api.export",
    "taxii.objects",
    "taxii.manifest",
    "taxii.object",
    "taxii.versions",
];

#[tokio::test]
async fn isolation_every_level_every_path() {
    let f = fixture();
    for (i, t) in LEVELS.iter().enumerate() {
        let id = tool(i, *t).id().to_string();
        let eff = t.unwrap_or(Tlp::Amber);
        let a = reach(&f, &f.a, &id).await;
        let b = reach(&f, &f.b, &id).await;
        let op = reach(&f, &f.op, &id).await;
        assert_eq!(op, ALL_PATHS, "operator reaches {eff:?} everywhere");
        // Shared with A: A reaches it on every path; B only when the level is open to all members.
        assert_eq!(
            a, ALL_PATHS,
            "member A (shared) reaches {eff:?} ({t:?}) everywhere"
        );
        if eff <= Tlp::Green {
            assert_eq!(b, ALL_PATHS, "{eff:?} is open to every member");
        } else {
            assert!(
                b.is_empty(),
                "member B must not reach {eff:?} ({t:?}) through {b:?}"
            );
        }
    }
}

#[tokio::test]
async fn member_collections_are_private() {
    let f = fixture();
    let (s, v) = get_json(&f, "/taxii2/vigil/collections/", &f.a).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<String> = ids_in(&v, "collections");
    assert!(
        ids.contains(&format!("inbox-{}", f.a_id)) && ids.contains(&format!("member-{}", f.a_id))
    );
    assert!(!ids.iter().any(|i| i.ends_with(&format!("-{}", f.b_id))));
    for c in [format!("inbox-{}", f.b_id), format!("member-{}", f.b_id)] {
        assert_eq!(
            get_json(&f, &format!("/taxii2/vigil/collections/{c}/objects/"), &f.a)
                .await
                .0,
            StatusCode::NOT_FOUND,
            "{c}"
        );
    }
    // A posts to its inbox: readable by A, not by B, not in the shared collections before promotion.
    let obj = json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--5a0c2b6e-2222-4c1e-9a1b-000000000001",
        "created": "2024-02-01T00:00:00.000Z", "modified": "2024-02-01T00:00:00.000Z", "pattern": "[ipv4-addr:value = '198.51.100.7']",
        "pattern_type": "stix", "valid_from": "2024-02-01T00:00:00Z", "object_marking_refs": [Tlp::Green.marking_id()]});
    let body = serde_json::to_vec(&json!({"objects": [obj, {"type": "indicator", "id": "bad"}]}))
        .expect("json");
    let (s, _, b) = call(
        &f,
        "POST",
        &format!("/taxii2/vigil/collections/inbox-{}/objects/", f.a_id),
        bearer(&f.a),
        Some(TAXII),
        body.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let st: Value = serde_json::from_slice(&b).expect("status");
    assert_eq!(
        (st["success_count"].as_u64(), st["failure_count"].as_u64()),
        (Some(1), Some(1))
    );
    let sid = st["id"].as_str().expect("id");
    assert_eq!(
        get_json(&f, &format!("/taxii2/vigil/status/{sid}/"), &f.a)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get_json(&f, &format!("/taxii2/vigil/status/{sid}/"), &f.b)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, v) = get_json(
        &f,
        &format!("/taxii2/vigil/collections/inbox-{}/objects/", f.a_id),
        &f.a,
    )
    .await;
    let got = &v["objects"][0];
    assert_eq!(
        got["created_by_ref"].as_str(),
        f.store
            .member(f.a_id)
            .expect("m")
            .map(|m| m.identity_id)
            .as_deref(),
        "marked with the poster's identity"
    );
    let id = "indicator--5a0c2b6e-2222-4c1e-9a1b-000000000001";
    assert!(reach(&f, &f.b, id).await.is_empty());
    assert!(
        reach(&f, &f.op, id).await.is_empty(),
        "not in the knowledge base before promotion"
    );
    // B may not write to A's inbox, nobody to a shared collection.
    let (s, _, _) = call(
        &f,
        "POST",
        &format!("/taxii2/vigil/collections/inbox-{}/objects/", f.a_id),
        bearer(&f.b),
        Some(TAXII),
        body.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(
        &f,
        "POST",
        "/taxii2/vigil/collections/shared-green/objects/",
        bearer(&f.a),
        Some(TAXII),
        body,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    f.store.inbox_promote(id).expect("promote");
    assert!(
        reach(&f, &f.b, id).await.contains(&"taxii.objects"),
        "GREEN once promoted"
    );
}

#[tokio::test]
async fn authentication() {
    let f = fixture();
    let basic = |user: &str, pass: &str| {
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        ))
    };
    assert_eq!(
        call(&f, "GET", "/taxii2/", bearer(&f.a), None, vec![])
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&f, "GET", "/taxii2/", basic("anything", &f.a), None, vec![])
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&f, "GET", "/taxii2/", None, None, vec![]).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A well-formed token of nobody and a mangled real one look the same.
    let fake = "vgl_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let (s1, _, b1) = call(&f, "GET", "/api/v1/search?q=x", bearer(fake), None, vec![]).await;
    let (s2, _, b2) = call(
        &f,
        "GET",
        "/api/v1/search?q=x",
        bearer(&format!("{}x", f.a)),
        None,
        vec![],
    )
    .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(b1, b2);
    let (s, h, b) = call(&f, "GET", "/taxii2/", bearer("nope"), None, vec![]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h.get("content-type").is_some_and(|c| c == TAXII));
    assert!(serde_json::from_slice::<Value>(&b).expect("taxii error")["title"].is_string());
    // Revocation by another handle (the CLI) is seen on the next request.
    let other = SqliteStore::open(f._dir.path()).expect("second handle");
    for t in other.tokens(Some(f.b_id)).expect("tokens") {
        other.revoke_token(t.id).expect("revoke");
    }
    assert_eq!(
        call(&f, "GET", "/taxii2/", bearer(&f.b), None, vec![])
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn failed_auth_is_rate_limited() {
    let f = fixture_with(ServerConfig {
        auth_failures_per_minute: 3,
        ..Default::default()
    });
    for _ in 0..3 {
        assert_eq!(
            call(&f, "GET", "/taxii2/", bearer("wrong"), None, vec![])
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        call(&f, "GET", "/taxii2/", bearer("wrong"), None, vec![])
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn quotas_when_configured() {
    let f = fixture_with(ServerConfig {
        quota_per_minute: Some(2),
        ..Default::default()
    });
    assert_eq!(
        call(&f, "GET", "/taxii2/", bearer(&f.a), None, vec![])
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&f, "GET", "/taxii2/", bearer(&f.a), None, vec![])
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&f, "GET", "/taxii2/", bearer(&f.a), None, vec![])
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn anonymous_clear_only_when_enabled() {
    let f = fixture_with(ServerConfig {
        anonymous_clear: true,
        ..Default::default()
    });
    let (s, _, b) = call(
        &f,
        "GET",
        "/taxii2/vigil/collections/shared-clear/objects/",
        None,
        None,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_slice(&b).expect("json");
    assert_eq!(
        ids_in(&v, "objects"),
        vec![tool(0, Some(Tlp::Clear)).id().to_string()]
    );
    assert_eq!(
        call(
            &f,
            "GET",
            "/taxii2/vigil/collections/shared-green/objects/",
            None,
            None,
            vec![]
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn taxii_protocol_errors() {
    let f = fixture();
    let mut r = Request::builder()
        .uri("/taxii2/")
        .header("accept", "application/json")
        .header("authorization", format!("Bearer {}", f.a));
    let resp = app(f.state.clone())
        .oneshot(r.body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    assert_eq!(resp.status(), StatusCode::NOT_ACCEPTABLE);
    r = Request::builder()
        .uri("/taxii2/")
        .header("authorization", format!("Bearer {}", f.a));
    assert_eq!(
        app(f.state.clone())
            .oneshot(r.body(Body::empty()).expect("req"))
            .await
            .expect("resp")
            .status(),
        StatusCode::NOT_ACCEPTABLE
    );
    let inbox = format!("/taxii2/vigil/collections/inbox-{}/objects/", f.a_id);
    assert_eq!(
        call(
            &f,
            "POST",
            &inbox,
            bearer(&f.a),
            Some("application/json"),
            b"{}".to_vec()
        )
        .await
        .0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        call(
            &f,
            "POST",
            &inbox,
            bearer(&f.a),
            Some(TAXII),
            b"{not json".to_vec()
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    let huge = vec![b' '; ServerConfig::default().max_body + 10];
    assert_eq!(
        call(&f, "POST", &inbox, bearer(&f.a), Some(TAXII), huge)
            .await
            .0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    for q in [
        "limit=0",
        "limit=x",
        "added_after=yesterday",
        "match[id]=nope",
        "colour=red",
        "next=zzz",
        "match[version]=soon",
    ] {
        let (s, h, b) = call(
            &f,
            "GET",
            &format!("/taxii2/vigil/collections/shared-clear/objects/?{q}"),
            bearer(&f.a),
            None,
            vec![],
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
        assert!(h.get("content-type").is_some_and(|c| c == TAXII));
        assert_eq!(
            serde_json::from_slice::<Value>(&b).expect("error body")["http_status"],
            "400"
        );
    }
    assert_eq!(
        call(
            &f,
            "GET",
            "/taxii2/vigil/collections/nope/objects/",
            bearer(&f.a),
            None,
            vec![]
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (s, _, b) = call(
        &f,
        "GET",
        "/api/v1/objects/not-an-id",
        bearer(&f.a),
        None,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_slice::<Value>(&b).expect("json")["error"]["code"],
        "not_found"
    );
    // Found by schemathesis: a NUL in the search text made the FTS5 parser fail with a 500.
    assert_eq!(
        call(
            &f,
            "GET",
            "/api/v1/search?q=a%00b",
            bearer(&f.a),
            None,
            vec![]
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn paging_is_exact_under_concurrent_inserts() {
    let f = fixture();
    let mk = |i: usize| {
        StixObject::from_value(json!({"type": "indicator", "spec_version": "2.1", "id": format!("indicator--5a0c2b6e-3333-4c1e-9a1b-{i:012}"),
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z", "pattern": format!("[ipv4-addr:value = '10.0.{}.{}']", i / 256, i % 256),
            "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z", "object_marking_refs": [Tlp::Clear.marking_id()]}))
        .expect("fixture")
    };
    put_all(&f.store, &(0..250).map(mk).collect::<Vec<_>>());
    let mut seen = Vec::new();
    walk_pages(&f, "limit=40&match[type]=indicator", |page, v, _| {
        seen.extend(ids_in(v, "objects"));
        if page == 2 {
            // New objects arrive mid-way: they come after the cursor, once.
            put_all(&f.store, &(250..300).map(mk).collect::<Vec<_>>());
        }
    })
    .await;
    let n = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!((n, seen.len()), (300, 300));
}

#[tokio::test]
async fn a_page_of_large_objects_ends_at_its_byte_budget_and_next_carries_on() {
    let f = fixture();
    let big = "x".repeat(6 << 20);
    let objs: Vec<StixObject> = (0..5)
        .map(|i| {
            StixObject::from_value(json!({"type": "tool", "spec_version": "2.1",
                "id": format!("tool--5a0c2b6e-4444-4c1e-9a1b-{i:012}"), "created": "2024-01-01T00:00:00.000Z",
                "modified": "2024-01-01T00:00:00.000Z", "name": format!("big {i}"), "description": big,
                "object_marking_refs": [Tlp::Clear.marking_id()]}))
            .expect("fixture")
        })
        .collect();
    put_all(&f.store, &objs);
    let (mut pages, mut seen) = (Vec::new(), Vec::new());
    walk_pages(&f, "limit=100&match[type]=tool", |_, v, len| {
        assert!(len <= vigil_store::members::PAGE_BYTES + 4096, "{len}");
        // The fixture's own small tools come first; count the large ones.
        let ids: Vec<String> = ids_in(v, "objects")
            .into_iter()
            .filter(|i| i.contains("-4444-"))
            .collect();
        pages.push(ids.len());
        seen.extend(ids);
    })
    .await;
    // Two 6 MiB objects per page (a third would pass 16 MiB), every object once.
    assert_eq!(pages, vec![2, 2, 1]);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);
}

#[tokio::test]
async fn openapi_and_metrics() {
    let f = fixture();
    let (s, _, b) = call(&f, "GET", "/api/v1/openapi.json", None, None, vec![]).await;
    assert_eq!(s, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&b).expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for p in [
        "/api/v1/objects/{id}",
        "/api/v1/search",
        "/api/v1/ingest",
        "/api/v1/retract",
        "/api/v1/members",
        "/api/v1/stats",
        "/api/v1/exports/stix",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} documented");
    }
    // Every reference resolves (a parameter typed by an enum is not collected on its own), and the closed sets of
    // values are listed.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 20, "{all:?}");
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} does not resolve"
        );
    }
    assert_eq!(
        doc["components"]["schemas"]["TlpLevel"]["enum"],
        serde_json::json!(["clear", "green", "amber", "amber+strict", "red"])
    );
    call(&f, "GET", "/taxii2/", bearer("nope"), None, vec![]).await;
    let (s, _, b) = call(&f, "GET", "/metrics", None, None, vec![]).await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(b).expect("utf8");
    assert!(text.contains("vigil_auth_failures_total 1"), "{text}");
    assert!(!text.contains(&f.a));
}

#[tokio::test]
async fn members_over_rest_follow_the_policy() {
    let f = fixture();
    let dir = f._dir.path();
    let store = SqliteStore::open(dir).expect("open");
    let op = store.operator_member().expect("op").expect("op");
    let (admin, _) = vigil_server::tokens::create(&store, op.id, Role::Admin, None).expect("token");
    let post = |body: Value| serde_json::to_vec(&body).expect("json");
    let (s, _, _) = call(
        &f,
        "POST",
        "/api/v1/members",
        bearer(&admin),
        Some("application/json"),
        post(json!({"name": "US Agency", "country": "US", "kind": "agency"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, b) = call(
        &f,
        "POST",
        "/api/v1/members",
        bearer(&admin),
        Some("application/json"),
        post(json!({"name": "Holy See CSIRT", "country": "VA", "kind": "csirt"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let (s, _, _) = call(
        &f,
        "POST",
        "/api/v1/members",
        bearer(&admin),
        Some("application/json"),
        post(json!({"name": "Kosovo", "country": "XK", "kind": "csirt"})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "XK needs the administrator"
    );
    store.add_eligible("XK", "test").expect("add");
    let (s, _, _) = call(
        &f,
        "POST",
        "/api/v1/members",
        bearer(&admin),
        Some("application/json"),
        post(json!({"name": "Kosovo", "country": "XK", "kind": "csirt"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, _) = call(
        &f,
        "POST",
        "/api/v1/members",
        bearer(&f.a),
        Some("application/json"),
        post(json!({"name": "x", "country": "DE", "kind": "csirt"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, v) = get_json(&f, "/api/v1/members", &f.a).await;
    assert_eq!(
        v["items"].as_array().map(Vec::len),
        Some(1),
        "a member sees only itself"
    );
    let audit = std::fs::read_to_string(dir.join("audit.jsonl")).expect("audit log");
    assert!(audit.contains("members.add") && !audit.contains(&admin));
}

// ------------------------------------------------------------------------ notices, inventories, sightings

/// Real notices for members A and B: one OSV advisory per member's package, scanned over purl inventories by
/// `vigil-vuln`, stored and published as `vigil scan` does.
fn with_notices(f: &Fixture) -> (String, String) {
    use vigil_store::{NoticeRecord, VulnStore};
    let osv = |id: &str, pkg: &str| {
        format!(
            r#"{{"id":"{id}","modified":"2024-05-01T00:00:00Z","summary":"Remote code execution in {pkg}","aliases":["CVE-2024-{n}"],
            "affected":[{{"package":{{"ecosystem":"PyPI","name":"{pkg}"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"2.0"}}]}}]}}]}}"#,
            n = if pkg == "alpha" { "99101" } else { "99102" }
        )
    };
    let mut b = vigil_vuln::IndexBuilder::new();
    b.add_batch(vigil_vuln::read_advisories(
        "a.json",
        osv("GHSA-test-0001-aaaa", "alpha").as_bytes(),
    ));
    b.add_batch(vigil_vuln::read_advisories(
        "b.json",
        osv("GHSA-test-0002-bbbb", "beta").as_bytes(),
    ));
    let ix = b.build();
    let mut out = Vec::new();
    for (member, purl) in [
        (f.a_id, "pkg:pypi/alpha@1.0"),
        (f.b_id, "pkg:pypi/beta@1.5"),
    ] {
        f.store
            .put_inventory(member, "sbom.txt", "purl", 1, 0, purl.as_bytes())
            .expect("inventory");
        let inv = vigil_vuln::read_inventory("sbom.txt", purl.as_bytes());
        let r = vigil_vuln::scan(&ix, &inv.items, &vigil_vuln::ScanOptions::default());
        let notices = vigil_vuln::build_notices(
            &member.to_string(),
            &r,
            &ix,
            Tlp::AmberStrict,
            "2024-06-01T00:00:00.000Z",
        );
        assert_eq!(notices.len(), 1, "one notice for member {member}");
        let n = &notices[0];
        let rec = NoticeRecord {
            id: n.id.clone(),
            member_id: member,
            vulnerability: n.vulnerability.clone(),
            version: 0,
            status: "new".into(),
            priority: n.priority.as_str().into(),
            deadline: n.deadline.clone(),
            fingerprint: n.fingerprint.clone(),
            tlp: Some(n.tlp),
            json: serde_json::to_string(n).expect("json"),
            created_at: String::new(),
            updated_at: String::new(),
            acknowledged_at: None,
            resolved_at: None,
            status_note: None,
        };
        let stored = f
            .store
            .put_notice_version(&rec, "first notice")
            .expect("notice");
        assert_eq!(
            vigil_server::notices::publish_version(f.store.as_ref(), &stored).expect("publish"),
            1
        );
        out.push(stored.id);
    }
    (out[0].clone(), out[1].clone())
}

async fn send(f: &Fixture, method: &str, uri: &str, tok: &str, body: &str) -> (StatusCode, Value) {
    let (s, _, b) = call(
        f,
        method,
        uri,
        bearer(tok),
        Some("application/json"),
        body.as_bytes().to_vec(),
    )
    .await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

#[tokio::test]
async fn notices_over_rest_are_the_members_own() {
    let f = fixture();
    let (na, nb) = with_notices(&f);
    // A member lists exactly its own notices; the operator sees both, or one member's on request.
    let (s, v) = get_json(&f, "/api/v1/notices", &f.a).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ids = ids_in(&v, "items");
    assert_eq!(ids, vec![na.clone()]);
    let it = &v["items"][0];
    assert_eq!(it["vulnerability"], "CVE-2024-99101");
    assert_eq!(it["status"], "new");
    assert_eq!(it["tlp"], "amber+strict");
    assert!(it["summary"]["action"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let (_, v) = get_json(&f, "/api/v1/notices", &f.op).await;
    assert_eq!(ids_in(&v, "items").len(), 2);
    let (_, v) = get_json(&f, &format!("/api/v1/notices?member={}", f.b_id), &f.op).await;
    assert_eq!(ids_in(&v, "items"), vec![nb.clone()]);
    // Another member's notice, by id or by naming the member: 404 as if it did not exist.
    for uri in [
        format!("/api/v1/notices/{nb}"),
        format!("/api/v1/notices/{nb}?format=csaf"),
        format!("/api/v1/notices/{nb}/versions"),
        format!("/api/v1/notices?member={}", f.b_id),
        format!("/api/v1/inventories?member={}", f.b_id),
        format!("/api/v1/sightings?member={}", f.b_id),
    ] {
        let (s, v) = get_json(&f, &uri, &f.a).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{uri}: {v}");
        assert_eq!(v["error"]["code"], "not_found");
    }
    for action in ["acknowledge", "resolve"] {
        let (s, _) = send(
            &f,
            "POST",
            &format!("/api/v1/notices/{nb}/{action}"),
            &f.a,
            "",
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    // Every rendering of its own notice, each with a media type the OpenAPI document names (schemathesis found
    // Markdown and HTML answered where only JSON was documented).
    let (_, _, doc) = call(&f, "GET", "/api/v1/openapi.json", None, None, vec![]).await;
    let doc: Value = serde_json::from_slice(&doc).expect("OpenAPI JSON");
    let documented = &doc["paths"]["/api/v1/notices/{id}"]["get"]["responses"]["200"]["content"];
    // The formats the document lists for `format`, so a rendering added there is checked here too.
    let formats: Vec<&str> = doc["components"]["schemas"]["NoticeFormat"]["enum"]
        .as_array()
        .expect("NoticeFormat values in the document")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for format in formats {
        let (s, h, _) = call(
            &f,
            "GET",
            &format!("/api/v1/notices/{na}?format={format}"),
            bearer(&f.a),
            None,
            vec![],
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{format}");
        let ct = h["content-type"].to_str().unwrap_or("");
        let media = ct.split(';').next().unwrap_or(ct).trim();
        assert!(
            documented.get(media).is_some(),
            "format {format} answers {ct}, not in {documented}"
        );
    }
    let (s, v) = get_json(&f, &format!("/api/v1/notices/{na}"), &f.a).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["id"], na.as_str());
    let (s, v) = get_json(&f, &format!("/api/v1/notices/{na}?format=csaf"), &f.a).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["document"]["category"], "csaf_security_advisory");
    assert_eq!(v["document"]["tracking"]["version"], "1");
    let (s, h, b) = call(
        &f,
        "GET",
        &format!("/api/v1/notices/{na}?format=md"),
        bearer(&f.a),
        None,
        vec![],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/markdown"));
    assert!(String::from_utf8_lossy(&b).contains("CVE-2024-99101"));
    let (s, v) = get_json(&f, "/api/v1/notices?format=xml", &f.a).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "unknown parameters are refused: {v}"
    );
    // Acknowledge, then resolve with a note; the list filters by status.
    let (s, v) = send(
        &f,
        "POST",
        &format!("/api/v1/notices/{na}/acknowledge"),
        &f.a,
        "",
    )
    .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("acknowledged")),
        "{v}"
    );
    let (s, v) = send(
        &f,
        "POST",
        &format!("/api/v1/notices/{na}/resolve"),
        &f.a,
        r#"{"note":"patched to 2.0"}"#,
    )
    .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("resolved")),
        "{v}"
    );
    let (s, v) = send(
        &f,
        "POST",
        &format!("/api/v1/notices/{na}/resolve"),
        &f.a,
        r#"{"nope":1}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = send(
        &f,
        "POST",
        &format!("/api/v1/notices/{na}/delete"),
        &f.a,
        "",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (_, v) = get_json(&f, "/api/v1/notices?status=resolved", &f.a).await;
    assert_eq!(ids_in(&v, "items"), vec![na.clone()]);
    let (_, v) = get_json(&f, "/api/v1/notices?status=new", &f.a).await;
    assert!(ids_in(&v, "items").is_empty());
    let (_, v) = get_json(&f, &format!("/api/v1/notices/{na}"), &f.a).await;
    assert!(
        v["status_note"]
            .as_str()
            .is_some_and(|s| s.contains("patched to 2.0")),
        "{v}"
    );
    // B's notice is untouched by A's requests.
    let (_, v) = get_json(&f, &format!("/api/v1/notices/{nb}"), &f.b).await;
    assert_eq!(v["status"], "new");

    // The member's TAXII collection: the notice as a valid STIX report, each status change a note on it, and
    // nothing of B's. B's collection holds only B's report.
    let (s, v) = get_json(
        &f,
        &format!("/taxii2/vigil/collections/member-{}/objects/", f.a_id),
        &f.a,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let objs = v["objects"].as_array().cloned().unwrap_or_default();
    let types: Vec<&str> = objs.iter().filter_map(|o| o["type"].as_str()).collect();
    assert_eq!(types, vec!["report", "note", "note"], "{v}");
    for o in &objs {
        StixObject::from_value(o.clone()).expect("valid STIX");
        assert_eq!(o["object_marking_refs"][0], Tlp::AmberStrict.marking_id());
    }
    let report = &objs[0];
    assert_eq!(report["x_vigil_notice"]["id"], na.as_str());
    assert!(report["description"]
        .as_str()
        .is_some_and(|d| d.contains("CVE-2024-99101")));
    assert!(objs[1..]
        .iter()
        .all(|n| n["object_refs"][0] == report["id"]));
    assert!(!v.to_string().contains("CVE-2024-99102"));
    let (_, vb) = get_json(
        &f,
        &format!("/taxii2/vigil/collections/member-{}/objects/", f.b_id),
        &f.b,
    )
    .await;
    let bobjs = vb["objects"].as_array().cloned().unwrap_or_default();
    assert_eq!(bobjs.len(), 1);
    assert!(
        vb.to_string().contains("CVE-2024-99102") && !vb.to_string().contains("CVE-2024-99101")
    );
    // Republishing is idempotent.
    assert_eq!(
        vigil_server::notices::publish_all(f.store.as_ref()).expect("publish"),
        0
    );
    // A's notices never appear in the shared collections, for anyone.
    for c in ["shared-clear", "shared-green", "shared-amber"] {
        for tok in [&f.a, &f.b, &f.op] {
            let (_, v) =
                get_json(&f, &format!("/taxii2/vigil/collections/{c}/objects/"), tok).await;
            assert!(!v.to_string().contains("x_vigil_notice"), "{c}");
        }
    }
}

#[tokio::test]
async fn inventories_and_sightings_over_rest() {
    let f = fixture();
    // Upload: stored for the caller's member only; a body with no component is refused and stores nothing.
    let cdx = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"requests","version":"2.19.0","purl":"pkg:pypi/requests@2.19.0"}]}"#;
    let (s, v) = send(
        &f,
        "POST",
        "/api/v1/inventories?name=web.cdx.json",
        &f.a,
        cdx,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["member"].as_i64(), v["components"].as_u64()),
        (Some(f.a_id), Some(1))
    );
    assert_eq!(v["format"], "cyclonedx");
    let (s, v) = send(
        &f,
        "POST",
        "/api/v1/inventories?name=junk",
        &f.a,
        "{\"not\":\"an sbom\"",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _) = send(
        &f,
        "POST",
        &format!("/api/v1/inventories?name=x&member={}", f.b_id),
        &f.a,
        cdx,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a member cannot write another member's inventory"
    );
    let (_, v) = get_json(&f, "/api/v1/inventories", &f.a).await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1));
    let (_, v) = get_json(&f, "/api/v1/inventories", &f.b).await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(0));
    let (_, v) = get_json(&f, "/api/v1/inventories", &f.op).await;
    assert_eq!(v["items"][0]["member"].as_i64(), Some(f.a_id));
    let (s, _) = send(&f, "DELETE", "/api/v1/inventories/web.cdx.json", &f.b, "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = send(&f, "DELETE", "/api/v1/inventories/web.cdx.json", &f.a, "").await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Sightings: what `vigil hunt --record --member A` publishes is A's alone.
    let ind = "indicator--0b6d3a2e-6f0e-4d5e-9a55-3a1f4c0d9e01";
    let sighting = |n: u32| {
        StixObject::from_value(json!({"type": "sighting", "spec_version": "2.1",
            "id": format!("sighting--0b6d3a2e-6f0e-4d5e-9a55-3a1f4c0d9f{n:02}"),
            "created": "2024-06-01T00:00:00.000Z", "modified": "2024-06-01T00:00:00.000Z",
            "sighting_of_ref": ind, "count": n, "object_marking_refs": [Tlp::Amber.marking_id()]}))
        .expect("sighting")
    };
    let own: Vec<StixObject> = (1..=3).map(sighting).collect();
    f.store.member_feed_put(f.a_id, &own).expect("feed");
    let (s, v) = get_json(&f, "/api/v1/sightings?limit=2", &f.a).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(2));
    let next = v["next"].as_i64().expect("a second page");
    let (_, v2) = get_json(&f, &format!("/api/v1/sightings?limit=2&next={next}"), &f.a).await;
    assert_eq!(v2["items"].as_array().map(Vec::len), Some(1));
    assert!(v2["next"].is_null());
    let (_, v) = get_json(&f, "/api/v1/sightings", &f.b).await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(0));
    let (_, v) = get_json(&f, &format!("/api/v1/sightings?member={}", f.a_id), &f.op).await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(3));
    let (_, v) = get_json(
        &f,
        &format!(
            "/taxii2/vigil/collections/member-{}/objects/?match[type]=sighting",
            f.a_id
        ),
        &f.a,
    )
    .await;
    assert_eq!(v["objects"].as_array().map(Vec::len), Some(3));
    let (s, _) = get_json(
        &f,
        &format!("/taxii2/vigil/collections/member-{}/objects/", f.a_id),
        &f.b,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn retraction_over_rest_is_staff_only_and_reaches_members_over_taxii() {
    let f = fixture();
    let green = tool(1, Some(Tlp::Green));
    let body = |v: Value| v.to_string();
    let (s, _) = send(
        &f,
        "POST",
        "/api/v1/retract",
        &f.a,
        &body(json!({"keys": [green.id()]})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a member cannot retract");
    for (bad, why) in [
        (json!({}), "nothing to select"),
        (
            json!({"keys": ["never-seen.example"]}),
            "never-seen.example",
        ),
        (json!({"keys": [green.id()], "colour": "red"}), "colour"),
        (json!({"source": "test", "file": "["}), "bad file pattern"),
    ] {
        let (s, v) = send(&f, "POST", "/api/v1/retract", &f.op, &body(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert!(v.to_string().contains(why), "{bad}: {v}");
    }
    let (s, v) = send(
        &f,
        "POST",
        "/api/v1/retract",
        &f.op,
        &body(json!({"keys": [green.id()], "reason": "sinkholed", "dry_run": true})),
    )
    .await;
    assert_eq!(
        (s, v["retracted"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    let objects = format!(
        "/taxii2/vigil/collections/shared-green/objects/?match[id]={}",
        green.id()
    );
    let (_, page) = get_json(&f, &objects, &f.a).await;
    assert_eq!(
        page["objects"][0]["revoked"],
        Value::Null,
        "a dry run writes nothing: {page}"
    );

    let (s, v) = send(
        &f,
        "POST",
        "/api/v1/retract",
        &f.op,
        &body(json!({"keys": [green.id()], "reason": "sinkholed"})),
    )
    .await;
    assert_eq!(
        (s, v["retracted"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    // Members who pulled the object over TAXII get the revoked version on their next pull.
    let (_, page) = get_json(&f, &objects, &f.a).await;
    let got = &page["objects"][0];
    assert_eq!(got["revoked"], true, "{page}");
    assert_eq!(got["x_vigil_retraction"]["reason"], "sinkholed");
    assert!(
        got["x_vigil_retraction"]["by"]
            .as_str()
            .unwrap_or("")
            .starts_with("Operator CERT"),
        "{got}"
    );
    let (_, v) = get_json(&f, "/api/v1/search?q=isolationprobe", &f.a).await;
    let items = v["items"].as_array().expect("items");
    let retired: Vec<(&str, bool)> = items
        .iter()
        .map(|i| (i["id"].as_str().unwrap_or(""), i["retired"] == true))
        .collect();
    assert!(
        retired.len() > 1 && retired.last() == Some(&(green.id(), true)),
        "the retracted object ranks last and says so: {v}"
    );
    assert_eq!(retired.iter().filter(|(_, r)| *r).count(), 1, "{v}");
    let audit = std::fs::read_to_string(f._dir.path().join("audit.jsonl")).expect("audit log");
    assert!(audit.contains("api.retract") && audit.contains(green.id()) && !audit.contains(&f.op));
}

/// TAXII discovery's API root as a client sees it: `(uri, Host header)` of the request.
async fn discovered_root(f: &Fixture, uri: &str, host: Option<&str>) -> String {
    let mut r = Request::builder()
        .method("GET")
        .uri(uri)
        .header("accept", TAXII)
        .header("authorization", format!("Bearer {}", f.a));
    if let Some(h) = host {
        r = r.header("host", h);
    }
    let resp = app(f.state.clone())
        .oneshot(r.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    let b = resp.into_body().collect().await.expect("body").to_bytes();
    let v: Value = serde_json::from_slice(&b).expect("discovery");
    assert_eq!(v["api_roots"][0], v["default"]);
    v["default"].as_str().expect("default").to_string()
}

#[tokio::test]
async fn discovery_names_the_address_clients_use() {
    let f = fixture();
    // HTTP/1.1: the Host header. HTTP/2 has none: the request's :authority, which arrives as the URI's.
    assert_eq!(
        discovered_root(&f, "/taxii2/", Some("vigil.csirt.example:8443")).await,
        "http://vigil.csirt.example:8443/taxii2/vigil/"
    );
    assert_eq!(
        discovered_root(&f, "http://h2.csirt.example:8443/taxii2/", None).await,
        "http://h2.csirt.example:8443/taxii2/vigil/"
    );
    // A Host header that is no host name is not echoed into the document.
    let root = discovered_root(&f, "/taxii2/", Some("evil.example/\"><x")).await;
    assert!(!root.contains("evil"), "{root}");
    // Behind a reverse proxy that terminates TLS: the configured public address, path prefix included.
    let f = fixture_with(ServerConfig {
        public_url: Some("https://proxy.example/vigil".into()),
        ..Default::default()
    });
    assert_eq!(
        discovered_root(&f, "/taxii2/", Some("127.0.0.1:8443")).await,
        "https://proxy.example/vigil/taxii2/vigil/"
    );
}
