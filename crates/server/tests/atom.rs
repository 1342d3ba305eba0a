//! `GET /api/v1/notices.atom`: a member's own notices as Atom, with its token; never another member's; never
//! anonymously.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use http_body_util::BodyExt;
use tower::ServiceExt;
use vigil_model::Tlp;
use vigil_server::policy::Role;
use vigil_server::{app, AppState, ServerConfig};
use vigil_store::sqlite::SqliteStore;
use vigil_store::{MemberStore, NoticeRecord, VulnStore};

fn notice(id: &str, member: i64, vuln: &str, tlp: Tlp) -> NoticeRecord {
    NoticeRecord {
        id: id.into(),
        member_id: member,
        vulnerability: vuln.into(),
        version: 0,
        status: "new".into(),
        priority: "act".into(),
        deadline: Some("2026-02-01".into()),
        fingerprint: "f1".into(),
        tlp: Some(tlp),
        json: "{}".into(),
        created_at: String::new(),
        updated_at: String::new(),
        acknowledged_at: None,
        resolved_at: None,
        status_note: None,
    }
}

async fn get(
    state: &Arc<AppState>,
    uri: &str,
    auth: Option<String>,
) -> (StatusCode, String, String) {
    let mut r = Request::builder().uri(uri);
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    let resp = app(state.clone())
        .oneshot(r.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, ctype, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_members_feed_is_its_own() {
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
    store
        .put_notice_version(
            &notice("na", a.id, "CVE-2026-0001", Tlp::Red),
            "first notice",
        )
        .expect("notice");
    store
        .put_notice_version(
            &notice("nb", b.id, "CVE-2026-0002", Tlp::AmberStrict),
            "first notice",
        )
        .expect("notice");
    let cfg = ServerConfig {
        anonymous_clear: true,
        ..ServerConfig::default()
    };
    let state = AppState::new(store.clone(), dir.path().to_path_buf(), cfg, vec![]).expect("state");

    let (s, ctype, body) = get(
        &state,
        "/api/v1/notices.atom",
        Some(format!("Bearer {a_t}")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(ctype.starts_with("application/atom+xml"), "{ctype}");
    assert!(
        body.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">"),
        "{body}"
    );
    assert!(
        body.contains("CVE-2026-0001") && body.contains("[TLP:RED]"),
        "{body}"
    );
    assert!(
        !body.contains("CVE-2026-0002"),
        "never another member's notice"
    );

    // Feed readers speak Basic: the token as the password.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("reader:{b_t}"));
    let (s, _, body) = get(
        &state,
        "/api/v1/notices.atom",
        Some(format!("Basic {basic}")),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("CVE-2026-0002") && !body.contains("CVE-2026-0001"),
        "{body}"
    );

    // Not anonymously (even with anonymous TLP:CLEAR on), not another member's, not with a bad token.
    let (s, _, _) = get(&state, "/api/v1/notices.atom", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let uri = format!("/api/v1/notices.atom?member={}", a.id);
    let (s, _, body) = get(&state, &uri, Some(format!("Bearer {b_t}"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, _, _) = get(&state, "/api/v1/notices.atom", Some("Bearer nope".into())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Operator staff may read a member's feed.
    let (s, _, body) = get(&state, &uri, Some(format!("Bearer {op_t}"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("CVE-2026-0001"), "{body}");
}
