//! Dashboard tests through the whole router: login (password, token, wrong credentials, rate limit, CSRF), and
//! isolation: a member's people never see another member's inventory, notices, sightings or unshared AMBER
//! objects, neither on pages nor on direct URLs (404, as for objects that do not exist).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;
use vigil_model::{Provenance, StixObject, Tlp};
use vigil_store::sqlite::SqliteStore;
use vigil_store::{MemberStore, NoticeRecord, PutMode, Store, VulnStore, WebStore};

use crate::policy::Role;
use crate::{app, AppState, ServerConfig};

const MAL: &str = "malware--6a2f3c1e-0d7b-4f8e-9d3a-1b2c3d4e5f01";
const ACTOR: &str = "intrusion-set--6a2f3c1e-0d7b-4f8e-9d3a-1b2c3d4e5f02";
const IND: &str = "indicator--6a2f3c1e-0d7b-4f8e-9d3a-1b2c3d4e5f03";
const AMBER_B: &str = "indicator--6a2f3c1e-0d7b-4f8e-9d3a-1b2c3d4e5f04";
const TECH: &str = "attack-pattern--6a2f3c1e-0d7b-4f8e-9d3a-1b2c3d4e5f05";
const LOC: &str = "location--6a2f3c1e-0d7b-4f8e-9d3a-1b2c3d4e5f06";

struct Fx {
    _dir: tempfile::TempDir,
    state: Arc<AppState>,
    a_id: i64,
    b_id: i64,
    a_notice: String,
    b_notice: String,
    a_sighting: String,
    b_sighting: String,
    a_token: String,
}

fn marked(mut v: serde_json::Value, t: Tlp) -> StixObject {
    v["spec_version"] = json!("2.1");
    v["created"] = json!("2026-01-01T00:00:00.000Z");
    v["modified"] = json!("2026-01-01T00:00:00.000Z");
    v["object_marking_refs"] = json!([t.marking_id()]);
    StixObject::from_value(v).expect("fixture")
}

fn rel(n: u8, kind: &str, s: &str, t: &str) -> StixObject {
    marked(
        json!({"type": "relationship", "id": format!("relationship--6a2f3c1e-0d7b-4f8e-9d3a-1b2c3d4e5f{n:02}"),
            "relationship_type": kind, "source_ref": s, "target_ref": t}),
        Tlp::Green,
    )
}

fn sighting(n: u8, ind: &str, identity: &str) -> StixObject {
    marked(
        json!({"type": "sighting", "id": format!("sighting--6a2f3c1e-0d7b-4f8e-9d3a-1b2c3d4e5f{n:02}"),
            "sighting_of_ref": ind, "where_sighted_refs": [identity], "count": 3,
            "first_seen": "2026-02-01T00:00:00Z", "last_seen": "2026-02-02T00:00:00Z"}),
        Tlp::Amber,
    )
}

fn notice(id: &str, member: i64, vuln: &str, asset: &str) -> NoticeRecord {
    let doc = json!({"title": format!("{vuln} in {asset}"), "summary": {"what": format!("A flaw in {asset}"),
        "why": "Attackers use it", "action": "Update", "by_when": "2026-01-31"},
        "assets": [{"name": asset, "version": "1.2", "host": format!("host-of-{asset}")}]});
    NoticeRecord {
        id: id.into(),
        member_id: member,
        vulnerability: vuln.into(),
        version: 1,
        status: "new".into(),
        priority: "act".into(),
        deadline: Some("2026-01-31".into()),
        fingerprint: format!("fp-{id}"),
        tlp: Some(Tlp::Amber),
        json: doc.to_string(),
        created_at: "2026-01-10T00:00:00Z".into(),
        updated_at: "2026-01-10T00:00:00Z".into(),
        acknowledged_at: None,
        resolved_at: None,
        status_note: None,
    }
}

fn fixture() -> Fx {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path()).expect("open"));
    let op = store
        .add_member("Operator CERT", "EU", "csirt", true)
        .expect("op");
    let a = store.add_member("CERT A", "DE", "csirt", false).expect("a");
    let b = store
        .add_member("Ministry B", "FR", "ministry", false)
        .expect("b");
    let objs = vec![
        marked(
            json!({"type": "malware", "id": MAL, "name": "QuillLoader", "is_family": true}),
            Tlp::Green,
        ),
        marked(
            json!({"type": "intrusion-set", "id": ACTOR, "name": "GLASS HERON", "aliases": ["Heron Team"]}),
            Tlp::Green,
        ),
        marked(
            json!({"type": "location", "id": LOC, "name": "Russia", "country": "RU"}),
            Tlp::Clear,
        ),
        marked(
            json!({"type": "attack-pattern", "id": TECH, "name": "Spearphishing Attachment",
            "external_references": [{"source_name": "mitre-attack", "external_id": "T1566.001"}],
            "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}]}),
            Tlp::Clear,
        ),
        marked(
            json!({"type": "indicator", "id": IND, "name": "invoice-portal.example", "pattern_type": "stix",
            "pattern": "[domain-name:value = 'invoice-portal.example']", "valid_from": "2026-01-01T00:00:00Z"}),
            Tlp::Green,
        ),
        marked(
            json!({"type": "indicator", "id": AMBER_B, "name": "secret-b.example", "pattern_type": "stix",
            "pattern": "[domain-name:value = 'secret-b.example']", "valid_from": "2026-01-01T00:00:00Z"}),
            Tlp::Amber,
        ),
        rel(11, "indicates", IND, MAL),
        rel(12, "uses", ACTOR, MAL),
        rel(13, "uses", ACTOR, TECH),
        rel(14, "located-at", ACTOR, LOC),
        rel(15, "indicates", AMBER_B, MAL),
        sighting(21, IND, &a.identity_id),
        sighting(22, IND, &b.identity_id),
    ];
    let prov = Provenance {
        source: "test".into(),
        ingested_at: "2026-01-01T00:00:00Z".into(),
        original_id: None,
        file: None,
    };
    store
        .write(&mut |tx| {
            for o in &objs {
                tx.put(o, &prov, PutMode::Source)?;
            }
            Ok(())
        })
        .expect("write");
    store.share(AMBER_B, b.id).expect("share");
    let an = store
        .put_notice_version(
            &notice("notice-a", a.id, "CVE-2024-0001", "alpha-app"),
            "first",
        )
        .expect("n");
    let bn = store
        .put_notice_version(
            &notice("notice-b", b.id, "CVE-2024-0002", "bravo-secret-app"),
            "first",
        )
        .expect("n");
    store
        .put_inventory(b.id, "bravo-inventory.csv", "csv", 3, 0, b"x")
        .expect("inv");
    store
        .put_inventory(a.id, "alpha-inventory.csv", "csv", 2, 0, b"x")
        .expect("inv");
    for (m, u, r) in [
        (a.id, "alice", "member"),
        (b.id, "bob", "member"),
        (op.id, "olga", "analyst"),
    ] {
        let h = super::hash_password("correct horse").expect("hash");
        store.add_user(m, u, u, r, &h).expect("user");
    }
    let (a_token, _) =
        crate::tokens::create(store.as_ref(), a.id, Role::Member, None).expect("token");
    let cfg = ServerConfig {
        auth_failures_per_minute: 5,
        ..ServerConfig::default()
    };
    let state = AppState::new(store, dir.path().to_path_buf(), cfg, vec![]).expect("state");
    Fx {
        _dir: dir,
        state,
        a_id: a.id,
        b_id: b.id,
        a_notice: an.id,
        b_notice: bn.id,
        a_sighting: "sighting--6a2f3c1e-0d7b-4f8e-9d3a-1b2c3d4e5f21".into(),
        b_sighting: "sighting--6a2f3c1e-0d7b-4f8e-9d3a-1b2c3d4e5f22".into(),
        a_token,
    }
}

#[derive(Debug)]
struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn call(
    fx: &Fx,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    form: Option<String>,
) -> Resp {
    let mut r = Request::builder().method(method).uri(uri);
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    if form.is_some() {
        r = r.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let resp = app(fx.state.clone())
        .oneshot(
            r.body(Body::from(form.unwrap_or_default()))
                .expect("request"),
        )
        .await
        .expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("body");
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn set_cookie(r: &Resp, name: &str) -> Option<String> {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let first = v.split(';').next()?;
            let (k, val) = first.split_once('=')?;
            (k == name && !val.is_empty()).then(|| val.to_string())
        })
}

/// Logs in with a form body (`username=..&password=..` or `token=..`); returns the session cookie header.
async fn login_with(fx: &Fx, creds: &str) -> Result<String, Resp> {
    let page = call(fx, "GET", "/ui/login", None, None).await;
    let csrf = set_cookie(&page, "vigil_login_csrf").expect("login csrf cookie");
    assert!(page.body.contains(&csrf), "the form carries the CSRF value");
    let r = call(
        fx,
        "POST",
        "/ui/login",
        Some(&format!("vigil_login_csrf={csrf}")),
        Some(format!("csrf={csrf}&next=%2Fui%2F&{creds}")),
    )
    .await;
    match set_cookie(&r, "vigil_session") {
        Some(s) if r.status == StatusCode::SEE_OTHER => {
            let c = r
                .headers
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|v| v.starts_with("vigil_session="))
                .expect("cookie")
                .to_string();
            assert!(
                c.contains("HttpOnly") && c.contains("SameSite=Strict"),
                "{c}"
            );
            Ok(format!("vigil_session={s}"))
        }
        _ => Err(r),
    }
}

async fn login(fx: &Fx, user: &str) -> String {
    login_with(fx, &format!("username={user}&password=correct+horse"))
        .await
        .unwrap_or_else(|r| panic!("login {user}: {} {}", r.status, r.body))
}

fn csrf_of(body: &str) -> String {
    let i = body.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    body[i..].split('"').next().expect("value").to_string()
}

#[tokio::test]
async fn pages_need_a_session_and_login_works_with_password_or_token() {
    let fx = fixture();
    let r = call(&fx, "GET", "/ui/", None, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/ui/login"));
    let r = call(&fx, "GET", "/ui/", Some("vigil_session=forged"), None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    let c = login(&fx, "alice").await;
    let r = call(&fx, "GET", "/ui/", Some(&c), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Threat landscape") && r.body.contains("<svg"));
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"));

    let t = login_with(&fx, &format!("token={}", fx.a_token))
        .await
        .expect("token login");
    let r = call(&fx, "GET", "/ui/member", Some(&t), None).await;
    assert!(r.body.contains("CERT A"), "{}", r.body);

    // Wrong password and unknown user look the same; the login form without its CSRF cookie is refused.
    let e1 = login_with(&fx, "username=alice&password=nope")
        .await
        .expect_err("wrong");
    let e2 = login_with(&fx, "username=nobody&password=nope")
        .await
        .expect_err("unknown");
    assert_eq!(e1.status, StatusCode::UNAUTHORIZED);
    assert_eq!(e2.status, StatusCode::UNAUTHORIZED);
    let r = call(
        &fx,
        "POST",
        "/ui/login",
        None,
        Some("csrf=x&username=alice&password=correct+horse".into()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Logout needs the session's CSRF token and ends the session.
    let page = call(&fx, "GET", "/ui/", Some(&c), None).await;
    let r = call(
        &fx,
        "POST",
        "/ui/logout",
        Some(&c),
        Some("csrf=wrong".into()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        &fx,
        "POST",
        "/ui/logout",
        Some(&c),
        Some(format!("csrf={}", csrf_of(&page.body))),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = call(&fx, "GET", "/ui/", Some(&c), None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the session is gone");
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let fx = fixture();
    for _ in 0..5 {
        let e = login_with(&fx, "username=alice&password=nope")
            .await
            .expect_err("wrong");
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
    }
    let e = login_with(&fx, "username=alice&password=correct+horse")
        .await
        .expect_err("blocked");
    assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_member_never_sees_another_members_data() {
    let fx = fixture();
    let a = login(&fx, "alice").await;
    let b = login(&fx, "bob").await;

    let mine = call(&fx, "GET", "/ui/member", Some(&a), None).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(mine.body.contains("alpha-app") && mine.body.contains("alpha-inventory.csv"));
    assert!(
        mine.body.contains("invoice-portal.example"),
        "A's own sighting with its context"
    );
    assert!(mine.body.contains("GLASS HERON"), "the hit's actor");
    for secret in [
        "bravo-secret-app",
        "bravo-inventory.csv",
        "CVE-2024-0002",
        "Ministry B",
    ] {
        assert!(
            !mine.body.contains(secret),
            "{secret} leaked to A's member view"
        );
    }
    // B's member page, notice action, sighting and AMBER indicator: 404 for A, as if they did not exist.
    let r = call(
        &fx,
        "GET",
        &format!("/ui/members/{}", fx.b_id),
        Some(&a),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.body.contains("bravo"));
    let r = call(
        &fx,
        "GET",
        &format!("/ui/objects/{}", fx.b_sighting),
        Some(&a),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(
        &fx,
        "GET",
        &format!("/ui/objects/{AMBER_B}"),
        Some(&a),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(
        &fx,
        "GET",
        &format!("/ui/objects/{}", fx.a_sighting),
        Some(&a),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "A's own sighting is A's");
    let csrf = csrf_of(&mine.body);
    let r = call(
        &fx,
        "POST",
        &format!("/ui/notices/{}", fx.b_notice),
        Some(&a),
        Some(format!("csrf={csrf}&action=resolve")),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let bn = fx.state.store.notice(&fx.b_notice, None).unwrap().unwrap();
    assert_eq!(bn.status, "new", "B's notice untouched");

    // The AMBER indicator shared with B: absent from A's search, graph, overview counts; present for B.
    for page in [
        "/ui/search?q=secret-b.example",
        &format!("/ui/objects/{MAL}"),
        "/ui/search?type=indicator",
        "/ui/",
    ] {
        let r = call(&fx, "GET", page, Some(&a), None).await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
        // The search box echoes what A typed; the object itself (its id, its link) must be absent.
        assert!(!r.body.contains(AMBER_B), "{page} leaked to A");
        if !page.contains("q=") {
            assert!(!r.body.contains("secret-b.example"), "{page} leaked to A");
        }
    }
    let r = call(&fx, "GET", "/ui/search?q=secret-b.example", Some(&a), None).await;
    assert!(r.body.contains("0 results"), "{}", r.body);
    let r = call(&fx, "GET", "/ui/search?q=secret-b.example", Some(&b), None).await;
    assert!(r.body.contains(AMBER_B), "B sees what is shared with it");
    let r = call(
        &fx,
        "GET",
        &format!("/ui/objects/{AMBER_B}"),
        Some(&b),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // Admin is operator staff only (404 for members).
    let r = call(&fx, "GET", "/ui/admin", Some(&a), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let o = login(&fx, "olga").await;
    let r = call(&fx, "GET", "/ui/admin", Some(&o), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("alice") && !r.body.contains("$argon2"),
        "no hashes on the admin page"
    );
    let r = call(
        &fx,
        "GET",
        &format!("/ui/members/{}", fx.b_id),
        Some(&o),
        None,
    )
    .await;
    assert!(
        r.body.contains("bravo-secret-app"),
        "operator staff see every member"
    );
    let _ = fx.a_id;
}

#[tokio::test]
async fn notices_are_acknowledged_and_resolved_with_csrf() {
    let fx = fixture();
    let a = login(&fx, "alice").await;
    let page = call(&fx, "GET", "/ui/member", Some(&a), None).await;
    let csrf = csrf_of(&page.body);
    let url = format!("/ui/notices/{}", fx.a_notice);
    let r = call(
        &fx,
        "POST",
        &url,
        Some(&a),
        Some("csrf=forged&action=acknowledge".into()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        &fx,
        "POST",
        &url,
        Some(&a),
        Some(format!("csrf={csrf}&action=acknowledge")),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        fx.state
            .store
            .notice(&fx.a_notice, None)
            .unwrap()
            .unwrap()
            .status,
        "acknowledged"
    );
    let r = call(
        &fx,
        "POST",
        &url,
        Some(&a),
        Some(format!("csrf={csrf}&action=resolve")),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let n = fx.state.store.notice(&fx.a_notice, None).unwrap().unwrap();
    assert_eq!(n.status, "resolved");
    assert!(n.status_note.unwrap().contains("alice"));
}

#[tokio::test]
async fn actor_page_search_and_graph() {
    let fx = fixture();
    let a = login(&fx, "alice").await;
    let r = call(
        &fx,
        "GET",
        "/ui/search?q=hxxps%3A%2F%2Finvoice-portal%5B.%5Dexample",
        Some(&a),
        None,
    )
    .await;
    let r2 = call(
        &fx,
        "GET",
        "/ui/search?q=invoice-portal.example",
        Some(&a),
        None,
    )
    .await;
    assert!(r.body.contains(IND) || r2.body.contains(IND), "{}", r2.body);
    let r = call(&fx, "GET", &format!("/ui/objects/{IND}"), Some(&a), None).await;
    assert!(
        r.body.contains(&format!("/ui/actors/{ACTOR}")),
        "the indicator leads to its actor"
    );
    assert!(r.body.contains("class=\"graph\""));
    let r = call(&fx, "GET", &format!("/ui/actors/{ACTOR}"), Some(&a), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("T1566.001") && r.body.contains("Initial Access"));
    assert!(r.body.contains("Russia"), "origin from the located-at link");
    assert!(r.body.contains("QuillLoader"));
    let r = call(&fx, "GET", &format!("/ui/actors/{MAL}"), Some(&a), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "not an actor");
    let r = call(&fx, "GET", "/ui/objects/not-an-id", Some(&a), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(&fx, "GET", "/ui/no/such/page", Some(&a), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("<html"), "an HTML 404 page");
    let r = call(&fx, "GET", "/ui/search?tlp=bogus", Some(&a), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Overview: the origin chart counts the Russian actor.
    let r = call(&fx, "GET", "/ui/", Some(&a), None).await;
    assert!(r.body.contains("Activity by actor origin") && r.body.contains("Russia"));
}

#[tokio::test]
async fn staff_retract_from_the_object_page_members_cannot() {
    let fx = fixture();
    let url = format!("/ui/objects/{IND}");
    let post = format!("/ui/objects/{IND}/retract");
    let a = login(&fx, "alice").await;
    let page = call(&fx, "GET", &url, Some(&a), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("/retract\""),
        "a member's page offers no retraction"
    );
    let csrf = csrf_of(&page.body);
    let r = call(
        &fx,
        "POST",
        &post,
        Some(&a),
        Some(format!("csrf={csrf}&reason=mine")),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    let o = login(&fx, "olga").await;
    let page = call(&fx, "GET", &url, Some(&o), None).await;
    assert!(
        page.body.contains(&format!("action=\"{post}\"")),
        "staff see the form"
    );
    let csrf = csrf_of(&page.body);
    let r = call(
        &fx,
        "POST",
        &post,
        Some(&o),
        Some("csrf=forged&reason=x".into()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        &fx,
        "POST",
        &post,
        Some(&o),
        Some(format!("csrf={csrf}&reason=+")),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a reason is required");
    assert!(!fx.state.store.get(IND).unwrap().unwrap().object.revoked());
    let r = call(
        &fx,
        "POST",
        &post,
        Some(&o),
        Some(format!("csrf={csrf}&reason=sinkholed+since+May")),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let now = fx.state.store.get(IND).unwrap().unwrap().object;
    assert!(now.revoked());
    assert_eq!(
        now.get("x_vigil_retraction").unwrap()["reason"],
        "sinkholed since May"
    );
    let page = call(&fx, "GET", &url, Some(&o), None).await;
    assert!(page.body.contains("revoked") && !page.body.contains(&format!("action=\"{post}\"")));
    let audit = std::fs::read_to_string(fx._dir.path().join("audit.jsonl")).unwrap();
    assert!(audit.contains("web.retract") && audit.contains("olga"));
}
