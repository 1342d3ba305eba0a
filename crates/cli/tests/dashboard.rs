//! The dashboard in a real browser: builds a data directory (the project's sample bundle and IOC list, a KEV
//! excerpt, a member with an inventory and so a notice, a recorded sighting, and ATT&CK plus the MISP threat-actor
//! galaxy when `../shared/data` is present), adds a member user and an operator admin, starts `vigil serve` on an
//! ephemeral port and runs `tests/browser/dashboard.mjs` in Debian's headless Chromium through playwright-core.
//! Screenshots land in `target/screenshots/`. Skips loudly when node or chromium is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn vigil(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run vigil");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic in {args:?}: {stderr}");
    // Ingest exits 1 when some inputs were partly rejected (the KEV excerpt has a broken row on purpose).
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{args:?}: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn vigil_stdin(data: &Path, args: &[&str], input: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vigil");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn found(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The server, stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn dashboard_in_headless_chromium() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() || !found("node") {
        eprintln!("\n*** SKIPPED: the browser test needs node and Debian's chromium ({chromium}); .ci/run installs them ***\n");
        return;
    }
    let browser = root().join("tests/browser");
    if !browser.join("node_modules/playwright-core").is_dir() {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&browser)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "npm ci in tests/browser failed");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let d = data.as_path();
    vigil(d, &["init"]);
    let shared = root().join("../shared/data");
    if shared.is_dir() {
        // ATT&CK (techniques, groups, software) and the MISP actors (countries for the origin chart).
        vigil(
            d,
            &[
                "ingest",
                &shared
                    .join("mitre-attack/enterprise-attack.json.gz")
                    .display()
                    .to_string(),
                &shared
                    .join("misp-galaxy/clusters/threat-actor.json")
                    .display()
                    .to_string(),
            ],
        );
    } else {
        eprintln!("\n*** ../shared/data not found: the browser test runs on the project's sample only ***\n");
    }
    let demo = root().join("crates/cli/demo");
    vigil(
        d,
        &[
            "ingest",
            &demo.join("sample-bundle.json").display().to_string(),
            "--source",
            "vigil-demo",
        ],
    );
    vigil(
        d,
        &[
            "ingest",
            &demo.join("sample-iocs.txt").display().to_string(),
            "--source",
            "QuillLoader",
            "--tlp",
            "green",
        ],
    );
    let fixtures = root().join("crates/cli/tests/fixtures/vuln");
    vigil(
        d,
        &[
            "ingest",
            &fixtures.join("kev-demo.json").display().to_string(),
        ],
    );
    let m: serde_json::Value = serde_json::from_str(&vigil(
        d,
        &[
            "members",
            "add",
            "--name",
            "Ministry of Examples",
            "--country",
            "DE",
            "--kind",
            "ministry",
            "--json",
        ],
    ))
    .expect("member json");
    let member = m["id"].as_i64().expect("member id").to_string();
    vigil(
        d,
        &[
            "inventory",
            "import",
            "--member",
            &member,
            &fixtures.join("assets.csv").display().to_string(),
        ],
    );
    // A sighting for the member: its resolver saw a QuillLoader domain.
    let log = dir.path().join("dns.jsonl");
    std::fs::write(
        &log,
        "{\"ts\":\"2026-03-02T10:00:00Z\",\"query\":\"cdn-update.example\"}\n{\"ts\":\"2026-03-02T11:00:00Z\",\"query\":\"intranet.example.gov\"}\n",
    )
    .expect("log");
    let _ = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--data")
        .arg(d)
        .args([
            "hunt",
            "--record",
            "--member",
            &member,
            "--format",
            "jsonl",
            "--field",
            "query=domain",
            "--ts-field",
            "ts",
        ])
        .arg(&log)
        .output()
        .expect("hunt");
    let password = "correct horse battery";
    vigil_stdin(
        d,
        &[
            "users",
            "add",
            "--member",
            &member,
            "--name",
            "maria",
            "--role",
            "member",
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    vigil_stdin(
        d,
        &[
            "users",
            "add",
            "--member",
            "1",
            "--name",
            "olaf",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    let users = vigil(d, &["users", "list", "--json"]);
    assert!(
        users.contains("maria") && !users.contains("argon2"),
        "{users}"
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--data")
        .arg(d)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vigil serve");
    let stderr = child.stderr.take().expect("stderr");
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("serving http://").nth(1) {
                let addr = rest.split('/').next().unwrap_or("").to_string();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("vigil serve announces its address");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target"));
    let shots = target.join("screenshots");
    let started = Instant::now();
    let mut node = Command::new("node");
    if shared.is_dir() {
        node.env("ATTACK_ACTOR", "APT28");
    }
    let out = node
        .arg(browser.join("dashboard.mjs"))
        .env("BASE_URL", format!("http://{addr}"))
        .env("VIGIL_USER", "maria")
        .env("VIGIL_PASSWORD", password)
        .env("VIGIL_ADMIN", "olaf")
        .env("VIGIL_ADMIN_PASSWORD", password)
        .env(
            "INDICATOR",
            "hxxps://invoice-portal[.]example/download/inv_2026.iso",
        )
        .env("SCREENSHOTS", &shots)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    drop(server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "browser run took {:.1}s; screenshots in {}\n{stdout}\n{stderr}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );
    assert!(
        out.status.success(),
        "browser test failed:\n{stdout}\n{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("report json");
    assert_eq!(report["ok"], true, "{report}");
    for name in [
        "02-overview",
        "04-indicator",
        "05-actor",
        "07-member-acknowledged",
        "09-admin",
        "09c-retracted",
    ] {
        assert!(
            shots.join(format!("{name}.png")).is_file(),
            "{name}.png missing"
        );
    }
}

fn users_run(data: &Path, args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vigil");
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes());
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn users_cli_add_list_remove() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    vigil(d, &["init"]);
    let add = |name: &str, pw: &str| {
        users_run(
            d,
            &[
                "users",
                "add",
                "--member",
                "1",
                "--name",
                name,
                "--role",
                "analyst",
                "--password-stdin",
                "--json",
            ],
            pw,
        )
    };
    let (code, _, err) = add("ana", "short\n");
    assert_ne!(code, 0, "a short password is refused");
    assert!(err.contains("at least"), "{err}");
    let (code, out, err) = add("ana", "a long enough passphrase\n");
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains("passphrase") && !err.contains("passphrase"),
        "the password is never printed"
    );
    let (code, _, err) = add("ANA", "another long passphrase\n");
    assert_ne!(code, 0, "user names are unique regardless of case: {err}");
    let (code, _, _) = users_run(
        d,
        &[
            "users",
            "add",
            "--member",
            "99",
            "--name",
            "bob",
            "--role",
            "member",
            "--password-stdin",
        ],
        "a long enough passphrase\n",
    );
    assert_ne!(code, 0, "unknown member");
    let list = vigil(d, &["users", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&list).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert!(!list.contains("argon2"), "{list}");
    let (code, out, _) = users_run(d, &["users", "remove", "ana", "--json"], "");
    assert_eq!(code, 0);
    assert!(out.contains("true"));
    let (code, _, _) = users_run(d, &["users", "remove", "ana"], "");
    assert_eq!(code, 1);
}
