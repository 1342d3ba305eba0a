//! Interop on a real socket with the OASIS reference tools: `taxii2-client` (through the shared
//! `taxii_client_check.py`) discovers, lists, pages, filters, posts and reads back; `stix2-validator` checks the
//! bundles the server returns. Skips loudly when the Python peers are not installed.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use vigil_model::{Provenance, StixObject, Tlp};
use vigil_server::policy::Role;
use vigil_server::{AppState, ServerConfig};
use vigil_store::sqlite::SqliteStore;
use vigil_store::{MemberStore, PutMode, Store};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The peers venv: $VENV, else .venv-peers in the repository, else the main checkout's.
fn venv() -> Option<PathBuf> {
    let candidates = [
        std::env::var("VENV").ok().map(PathBuf::from),
        Some(repo().join(".venv-peers")),
        Some(PathBuf::from("/work/main/.venv-peers")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("bin/python").exists())
}

fn peers() -> PathBuf {
    repo().join("../shared/peers")
}

#[test]
fn oasis_client_and_validator_against_a_live_server() {
    let (Some(venv), true) = (venv(), peers().join("taxii_client_check.py").exists()) else {
        eprintln!(
            "SKIPPED: Python peers (taxii2-client, stix2-validator) not found; set VENV or install ../shared/peers/requirements.lock.txt"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path()).expect("open"));
    store
        .add_member("Operator", "EU", "csirt", true)
        .expect("operator");
    let m = store
        .add_member("CERT Example", "DE", "csirt", false)
        .expect("member");
    let (tok, _) =
        vigil_server::tokens::create(store.as_ref(), m.id, Role::Member, None).expect("token");
    let prov = Provenance {
        source: "peers-test".into(),
        ingested_at: "2024-01-01T00:00:00Z".into(),
        original_id: None,
        file: None,
    };
    let objs: Vec<StixObject> = (0..150)
        .map(|i| {
            StixObject::from_value(
                json!({"type": "indicator", "spec_version": "2.1", "id": format!("indicator--6b0c2b6e-4444-4c1e-9a1b-{i:012}"),
                "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z", "name": format!("peer {i}"),
                "indicator_types": ["malicious-activity"], "pattern": format!("[domain-name:value = 'peer{i}.example']"),
                "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z", "object_marking_refs": [Tlp::Clear.marking_id()]}),
            )
            .expect("fixture")
        })
        .collect();
    store
        .write(&mut |tx| {
            for o in &objs {
                tx.put(o, &prov, PutMode::Source)?;
            }
            Ok(())
        })
        .expect("write");
    let cfg = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..Default::default()
    };
    let state = AppState::new(store, dir.path().to_path_buf(), cfg, vec![]).expect("state");
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.spawn(async move {
        let _ = vigil_server::serve(state, move |a| {
            let _ = tx.send(a);
        })
        .await;
    });
    let addr = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("server up");
    let base = format!("http://{addr}");
    let out = Command::new(venv.join("bin/python"))
        .arg(peers().join("taxii_client_check.py"))
        .args([&base, "member", &tok])
        .output()
        .expect("run client");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(
        out.status.success(),
        "taxii_client_check failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every page the server returns, wrapped as a bundle, passes stix2-validator; so does a REST export.
    let client = |url: &str| -> Value {
        let o = Command::new("curl")
            .args([
                "-sf",
                "-H",
                "Accept: application/taxii+json;version=2.1",
                "-H",
                &format!("Authorization: Bearer {tok}"),
                url,
            ])
            .output()
            .expect("curl");
        serde_json::from_slice(&o.stdout).expect("json page")
    };
    let page = client(&format!(
        "{base}/taxii2/vigil/collections/shared-clear/objects/?limit=100"
    ));
    let mut objects = page["objects"].as_array().cloned().expect("objects");
    objects.push(Tlp::Clear.marking_object());
    objects.push(vigil_model::tlp::tlp2_extension_definition());
    let export = client(&format!("{base}/api/v1/exports/stix?limit=100"));
    for (name, bundle) in [
        (
            "taxii-page",
            json!({"type": "bundle", "id": "bundle--6b0c2b6e-4444-4c1e-9a1b-000000000999", "objects": objects}),
        ),
        ("export", export["bundle"].clone()),
    ] {
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, bundle.to_string()).expect("write bundle");
        let v = Command::new(venv.join("bin/stix2_validator"))
            .args(["--version", "2.1", "--no-cache"])
            .arg(&path)
            .output()
            .expect("validator");
        assert!(
            v.status.success(),
            "{name} invalid:\n{}",
            String::from_utf8_lossy(&v.stdout)
        );
    }
}
