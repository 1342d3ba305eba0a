//! `vigil store backup` and `vigil store restore` through the binary: a backup taken while `vigil serve` runs on
//! the store restores into a new data directory where the same members' tokens work and the same objects answer.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest, Sha256};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn vigil(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--data")
        .arg(data)
        .env_remove("VIGIL_STORE")
        .env_remove("VIGIL_STORE_SCHEMA")
        .args(args)
        .output()
        .expect("run vigil")
}

/// `vigil --data DATA ARGS --json`: its JSON and exit code.
fn json(data: &Path, args: &[&str]) -> (Value, i32) {
    let mut a = args.to_vec();
    a.push("--json");
    let out = vigil(data, &a);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout of {args:?} is not JSON ({e}): {:?} / {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (v, out.status.code().unwrap_or(-1))
}

fn ok(data: &Path, args: &[&str]) -> Value {
    let (v, code) = json(data, args);
    assert_eq!(code, 0, "{args:?}: {v}");
    v
}

fn get(base: &str, path: &str, token: &str) -> (u16, Value) {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .header("Accept", "application/taxii+json;version=2.1")
        .send()
        .expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The ids a member's token reads from the TAXII collection of everything, in order.
fn ids(base: &str, token: &str) -> Vec<String> {
    let (s, v) = get(
        base,
        "/taxii2/vigil/collections/shared-green/objects/?limit=1000",
        token,
    );
    assert_eq!(s, 200, "{v}");
    let mut out: Vec<String> = v["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["id"].as_str().expect("id").to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn a_backup_taken_while_serving_restores_with_members_tokens_and_objects() {
    let (a, b, c) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let (old, new) = (a.path(), c.path().join("restored"));
    ok(old, &["init"]);
    // The mixed bundle holds bad objects on purpose (exit 1): the rest is stored.
    let (r, _) = json(
        old,
        &[
            "ingest",
            &fixture("mixed-bundle.json"),
            &fixture("family-list.txt"),
            &fixture("tlp-bundle.json"),
        ],
    );
    assert!(r["added"].as_u64().unwrap_or(0) > 10, "{r}");
    let member = ok(
        old,
        &[
            "members",
            "add",
            "--name",
            "Ministry A",
            "--country",
            "AT",
            "--kind",
            "ministry",
        ],
    )["id"]
        .as_i64()
        .expect("member id");
    let token = ok(
        old,
        &[
            "tokens",
            "create",
            "--member",
            &member.to_string(),
            "--role",
            "member",
        ],
    )["token"]
        .as_str()
        .expect("token")
        .to_string();
    let stats = ok(old, &["stats"]);

    let file: PathBuf = b.path().join("vigil-backup.db");
    let file_s = file.to_str().expect("utf-8");
    let served = common::serve(old, &["--no-feeds", "--no-delivery"]);
    let before = ids(&served.base, &token);
    assert!(!before.is_empty());
    let r = ok(old, &["store", "backup", "--out", file_s]);
    // The server goes on answering while and after the backup is taken.
    assert_eq!(ids(&served.base, &token), before);
    drop(served);

    let bytes = std::fs::read(&file).expect("the backup");
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(r["sha256"], sha.as_str(), "{r}");
    assert_eq!(r["backup"]["bytes"], bytes.len() as u64);
    assert_eq!(r["backup"]["problems"], serde_json::json!([]));
    assert_eq!(r["backup"]["versions"], stats["versions"], "{r} / {stats}");

    let (checked, code) = json(c.path(), &["store", "restore", "--check", file_s]);
    assert_eq!((code, &checked["ok"]), (0, &Value::Bool(true)), "{checked}");
    assert!(
        !c.path().join("vigil.db").exists() && !new.exists(),
        "--check restores nothing"
    );

    let new_s = new.to_str().expect("utf-8");
    let restored = ok(Path::new(new_s), &["store", "restore", file_s]);
    assert_eq!(restored["ok"], true, "{restored}");
    assert_eq!(restored["restored"]["versions"], stats["versions"]);
    assert_eq!(
        ok(&new, &["stats"]),
        stats,
        "the restored store counts as the original"
    );
    assert_eq!(ok(&new, &["check"])["ok"], true);

    // The member's token, minted before the backup, reads the same objects from the restored store.
    let served = common::serve(&new, &["--no-feeds", "--no-delivery"]);
    assert_eq!(ids(&served.base, &token), before);
    let (s, _) = get(
        &served.base,
        "/taxii2/vigil/collections/shared-green/objects/",
        "not-a-token",
    );
    assert_eq!(s, 401);
    drop(served);

    // A second restore into the same directory is refused and leaves the restored store as it is.
    let again = vigil(&new, &["store", "restore", file_s]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("never replaces a store"), "{err}");
    assert_eq!(ok(&new, &["stats"]), stats);

    // A backup never overwrites a file.
    let twice = vigil(old, &["store", "backup", "--out", file_s]);
    assert!(!twice.status.success());
    assert_eq!(std::fs::read(&file).expect("the backup"), bytes);

    // A truncated backup is refused, naming the file, and nothing is restored.
    let cut = b.path().join("cut.db");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).expect("write");
    let empty = c.path().join("empty");
    let out = vigil(&empty, &["store", "restore", cut.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.db") && !err.contains("panicked"), "{err}");
    assert!(!empty.join("vigil.db").exists());
}

#[test]
fn a_postgresql_store_is_pointed_to_its_own_tools() {
    let d = tempfile::tempdir().expect("tempdir");
    let out = vigil(
        d.path(),
        &[
            "--store",
            "postgres://vigil@127.0.0.1:1/vigil",
            "store",
            "backup",
            "--out",
            "x.db",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!d.path().join("x.db").exists());
}

#[test]
fn a_directory_given_as_store_points_to_data() {
    // `--store DIR` is a common slip for `--data DIR`: the refusal says which flag takes a directory, and nothing
    // is created there.
    let d = tempfile::tempdir().expect("tempdir");
    let kb = d.path().join("kb");
    let out = vigil(d.path(), &["--store", kb.to_str().expect("utf-8"), "stats"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the embedded store's directory is --data DIR"),
        "{err}"
    );
    assert!(!kb.exists());
    // A connection string that does not parse gets no such hint: it was meant for PostgreSQL.
    let out = vigil(d.path(), &["--store", "host=127.0.0.1 dbname", "stats"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && !err.contains("--data DIR"),
        "{err}"
    );
}
