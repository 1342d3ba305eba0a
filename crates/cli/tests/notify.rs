//! Notice delivery end to end, with real parts only: real notices (members, inventories, KEV and advisory
//! fixtures), e-mail to a real SMTP server on loopback (Python `aiosmtpd`, STARTTLS with a certificate this test
//! makes with `openssl`, AUTH), parsed back by Python's e-mail parser; webhooks received by a local HTTP receiver
//! that verifies the HMAC and the timestamp itself; a receiver that is down gets retries and then a logged
//! failure while the other channels get theirs; nothing is sent twice; a new notice version goes out once; a
//! daily digest gathers several notices into one message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

const SECRET: &str = "receiver-shared-secret-0123456789";
const SMTP_USER: &str = "vigil-relay";
const SMTP_PASSWORD: &str = "Sm7p-pa55word-never-printed";

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn vuln_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vuln/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// Python with aiosmtpd: `$VENV` or `.venv-peers` (scripts/test.sh installs scripts/requirements-test.txt).
fn python() -> Option<PathBuf> {
    let venv = std::env::var("VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-peers"));
    let py = venv.join("bin/python");
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", "import aiosmtpd"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !openssl {
        eprintln!("\n*** SKIPPED: no openssl command to make the test certificate; notice delivery test did not run ***\n");
        return None;
    }
    if ok {
        Some(py)
    } else {
        eprintln!(
            "\n*** SKIPPED: no Python with aiosmtpd in {} (scripts/test.sh installs scripts/requirements-test.txt); notice delivery test did not run ***\n",
            venv.display()
        );
        None
    }
}

struct Receivers {
    child: Child,
    out: PathBuf,
    smtp_port: u16,
    http_port: u16,
}

impl Drop for Receivers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receivers {
    fn files(&self, prefix: &str) -> Vec<Value> {
        let mut v: Vec<(u64, Value)> = std::fs::read_dir(&self.out)
            .unwrap()
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                let n: u64 = name
                    .strip_prefix(&format!("{prefix}-"))?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()?;
                let text = std::fs::read_to_string(self.out.join(&name)).ok()?;
                Some((n, serde_json::from_str(&text).ok()?))
            })
            .collect();
        v.sort_by_key(|(n, _)| *n);
        v.into_iter().map(|(_, x)| x).collect()
    }
}

/// A test CA and a server certificate for 127.0.0.1 signed by it (webpki refuses a CA certificate as the server's).
fn make_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Vigil test CA",
    ]);
    run(&a);
    let mut a = vec!["req"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&a);
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

fn start_receivers(py: &Path, dir: &Path, cert: &Path, key: &Path) -> Receivers {
    let out = dir.join("received");
    std::fs::create_dir_all(&out).unwrap();
    let mut child = Command::new(py)
        .arg(fixture("notify/receivers.py"))
        .arg(&out)
        .arg(cert)
        .arg(key)
        .args([SECRET, SMTP_USER, SMTP_PASSWORD])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start receivers.py");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ports: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("receivers said {line:?}: {e}"));
    Receivers {
        child,
        out,
        smtp_port: ports["smtp_port"].as_u64().unwrap() as u16,
        http_port: ports["http_port"].as_u64().unwrap() as u16,
    }
}

struct Vigil {
    dir: tempfile::TempDir,
    /// Everything any command printed, to check that no secret ever appears.
    printed: std::cell::RefCell<String>,
}

impl Vigil {
    fn run_at(&self, args: &[&str], now: Option<DateTime<Utc>>, stdin: Option<&str>) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
        c.arg("--data").arg(self.dir.path()).args(args);
        if let Some(n) = now {
            c.env("VIGIL_NOW", n.to_rfc3339());
        }
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("run vigil");
        {
            use std::io::Write;
            let mut si = child.stdin.take().unwrap();
            if let Some(s) = stdin {
                si.write_all(s.as_bytes()).unwrap();
            }
        }
        let out = child.wait_with_output().expect("wait vigil");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "panic in {args:?}: {stderr}");
        let mut p = self.printed.borrow_mut();
        p.push_str(&String::from_utf8_lossy(&out.stdout));
        p.push_str(&stderr);
        out
    }
    fn json_at(&self, args: &[&str], now: Option<DateTime<Utc>>) -> (Value, i32) {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run_at(&a, now, None);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout of {args:?} is not one JSON document ({e}): {:?} / {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (v, out.status.code().unwrap_or(-1))
    }
    fn ok_json(&self, args: &[&str]) -> Value {
        let (v, code) = self.json_at(args, None);
        assert_eq!(code, 0, "{args:?}: {v}");
        v
    }
    fn deliver(&self, now: DateTime<Utc>) -> (Value, i32) {
        self.json_at(&["deliver"], Some(now))
    }
}

#[test]
fn notices_reach_members_by_email_and_signed_webhook_with_retries_and_digest() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certs(tmp.path());
    let rx = start_receivers(&py, tmp.path(), &cert, &key);

    let v = Vigil {
        dir: tempfile::tempdir().unwrap(),
        printed: Default::default(),
    };
    let pw_file = tmp.path().join("smtp-password");
    std::fs::write(&pw_file, format!("{SMTP_PASSWORD}\n")).unwrap();
    std::fs::write(
        v.dir.path().join("vigil.toml"),
        format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nstarttls = true\nusername = \"{SMTP_USER}\"\npassword_file = \"{}\"\n\
             from = \"vigil@csirt.example.eu\"\nca_file = \"{}\"\ntimeout_secs = 10\n\n\
             [delivery]\nmax_attempts = 3\nbackoff_base_secs = 60\nbackoff_max_secs = 600\ndigest_hour = 7\ntimeout_secs = 5\n",
            rx.smtp_port,
            pw_file.display(),
            ca.display()
        ),
    )
    .unwrap();
    assert!(v.run_at(&["init"], None, None).status.success());

    // Real notices: advisories and KEV into the store, two members with inventories.
    let mut ingest = vec!["ingest".to_string()];
    for f in [
        "osv-multi-pairs.json",
        "cve5-demo.json",
        "csaf-demo.json",
        "osv-last-affected.json",
    ] {
        ingest.push(vuln_fixture(f));
    }
    ingest.push(fixture("vuln/kev-demo.json"));
    let ingest: Vec<&str> = ingest.iter().map(String::as_str).collect();
    let (r, code) = v.json_at(&ingest, None);
    assert!(code == 0 || code == 1, "{r}");
    let member = |name: &str, cc: &str| {
        v.ok_json(&[
            "members",
            "add",
            "--name",
            name,
            "--country",
            cc,
            "--kind",
            "agency",
        ])["id"]
            .as_i64()
            .unwrap()
    };
    let a = member("Ministry A", "DE");
    let b = member("Agency B", "FR");
    let (a_s, b_s) = (a.to_string(), b.to_string());
    // assets.csv has two bad rows on purpose (reported, exit 1); the others are imported.
    let (r, code) = v.json_at(
        &[
            "inventory",
            "import",
            "--member",
            &a_s,
            &fixture("vuln/assets.csv"),
        ],
        None,
    );
    assert!(code <= 1, "{r}");
    let (r, code) = v.json_at(
        &[
            "inventory",
            "import",
            "--member",
            &b_s,
            &vuln_fixture("inventory.cdx.json"),
        ],
        None,
    );
    assert!(code <= 1, "{r}");
    let notices_of = |m: &str| {
        v.ok_json(&["notices", "--member", m])
            .as_array()
            .unwrap()
            .clone()
    };
    let na = notices_of(&a_s);
    let nb = notices_of(&b_s);
    assert!(
        !na.is_empty() && nb.len() >= 2,
        "A {} B {}",
        na.len(),
        nb.len()
    );
    let kev = na
        .iter()
        .find(|n| n["vulnerability"] == "CVE-2024-99001")
        .expect("A has the KEV notice")
        .clone();

    // Channels: A gets e-mail, a webhook and a webhook whose receiver is down; B a daily e-mail digest and a
    // webhook. Secrets come from stdin; a generated one is shown once.
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let hook = |p: &str| format!("http://127.0.0.1:{}/hook/{p}", rx.http_port);
    let add = |args: &[&str], secret: Option<&str>| {
        let mut a = args.to_vec();
        a.push("--json");
        let out = v.run_at(&a, None, secret);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let a_mail = add(
        &[
            "channels",
            "add",
            "--member",
            &a_s,
            "--kind",
            "email",
            "--to",
            "soc@ministry-a.example",
        ],
        None,
    );
    let a_hook = add(
        &[
            "channels",
            "add",
            "--member",
            &a_s,
            "--kind",
            "webhook",
            "--url",
            &hook("a"),
            "--secret-stdin",
        ],
        Some(SECRET),
    );
    assert!(
        a_hook.get("secret").is_none(),
        "a secret given on stdin is not echoed"
    );
    let a_dead = add(
        &[
            "channels",
            "add",
            "--member",
            &a_s,
            "--kind",
            "webhook",
            "--url",
            &format!("http://127.0.0.1:{dead_port}/hook"),
        ],
        None,
    );
    assert_eq!(
        a_dead["secret"].as_str().map(str::len),
        Some(64),
        "generated secret shown once"
    );
    let b_digest = add(
        &[
            "channels",
            "add",
            "--member",
            &b_s,
            "--kind",
            "email",
            "--to",
            "cert@agency-b.example",
            "--digest",
            "daily",
        ],
        None,
    );
    add(
        &[
            "channels",
            "add",
            "--member",
            &b_s,
            "--kind",
            "webhook",
            "--url",
            &hook("b"),
            "--secret-stdin",
        ],
        Some(SECRET),
    );
    // Refused channels: plain http off loopback, two addresses in one, an unknown digest.
    for bad in [
        vec![
            "channels",
            "add",
            "--member",
            &a_s,
            "--kind",
            "webhook",
            "--url",
            "http://hooks.example.org/x",
        ],
        vec![
            "channels",
            "add",
            "--member",
            &a_s,
            "--kind",
            "email",
            "--to",
            "a@x.example, b@y.example",
        ],
        vec![
            "channels",
            "add",
            "--member",
            &a_s,
            "--kind",
            "email",
            "--to",
            "a@x.example",
            "--digest",
            "hourly",
        ],
    ] {
        assert!(
            !v.run_at(&bad, None, None).status.success(),
            "{bad:?} accepted"
        );
    }
    let listed = v.ok_json(&["channels", "list", "--member", &a_s]);
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert!(
        !listed.to_string().contains(SECRET),
        "channel list never shows secrets"
    );

    // Round 1: everything immediate goes out; the dead receiver fails and is scheduled for a retry; B's digest
    // waits for the digest hour.
    let t0 = Utc::now();
    let (r1, code) = v.deliver(t0);
    assert_eq!(
        code, 1,
        "a failed channel makes the round report failure: {r1}"
    );
    let (n_a, n_b) = (na.len() as u64, nb.len() as u64);
    assert_eq!(r1["queued"].as_u64(), Some(3 * n_a + 2 * n_b), "{r1}");
    assert_eq!(r1["attempted"].as_u64(), Some(3 * n_a + n_b), "{r1}");
    assert_eq!(r1["messages_sent"].as_u64(), Some(2 * n_a + n_b), "{r1}");
    assert_eq!(r1["retrying"].as_u64(), Some(n_a), "{r1}");
    assert_eq!(r1["failed"].as_u64(), Some(0), "{r1}");
    assert!(
        r1["failures"].to_string().contains("could not connect"),
        "{r1}"
    );

    // The e-mails, parsed back by Python's e-mail parser.
    let mails = rx.files("mail");
    assert_eq!(mails.len() as u64, n_a, "one e-mail per notice of A");
    for m in &mails {
        assert_eq!(m["rcpt_tos"], serde_json::json!(["soc@ministry-a.example"]));
        assert_eq!(m["tls"], true, "STARTTLS was used");
        assert_eq!(m["authenticated"], true);
        assert_eq!(m["content_type"], "multipart/alternative");
        let types: Vec<&str> = m["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, vec!["text/plain", "text/html"]);
        let tlp = m["x_vigil_tlp"].as_str().unwrap();
        assert!(tlp == "TLP:AMBER+STRICT" || tlp == "TLP:RED", "{tlp}");
        assert!(
            m["subject"]
                .as_str()
                .unwrap()
                .starts_with(&format!("[{tlp}]")),
            "{}",
            m["subject"]
        );
        for p in m["parts"].as_array().unwrap() {
            assert!(
                p["text"].as_str().unwrap().contains(tlp),
                "TLP in every body part"
            );
        }
        assert!(!m["raw"].as_str().unwrap().contains(SMTP_PASSWORD));
    }
    let kev_mail = mails
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("CVE-2024-99001"))
        .expect("the KEV notice was mailed");
    let deadline = kev["deadline"].as_str().expect("KEV notice has a deadline");
    assert!(
        kev_mail["subject"].as_str().unwrap().contains(deadline),
        "{}",
        kev_mail["subject"]
    );
    let plain = kev_mail["parts"][0]["text"].as_str().unwrap();
    let html = kev_mail["parts"][1]["text"].as_str().unwrap();
    for text in [plain, html] {
        assert!(
            text.contains("CVE-2024-99001") && text.contains(deadline),
            "{text}"
        );
        assert!(
            text.contains("Demo Pkg"),
            "the affected asset is named: {text}"
        );
    }
    assert!(html.contains("<h2>What to do</h2>"), "{html}");

    // The webhooks: verified by the receiver (HMAC and timestamp), each member's only to its own endpoint.
    assert!(
        rx.files("rejected").is_empty(),
        "{:?}",
        rx.files("rejected")
    );
    let hooks = rx.files("hook");
    assert_eq!(hooks.len() as u64, n_a + n_b);
    for h in &hooks {
        let owner = if h["path"] == "/hook/a" { a } else { b };
        assert_eq!(h["body"]["member"].as_i64(), Some(owner), "{h}");
        for n in h["body"]["notices"].as_array().unwrap() {
            assert_eq!(n["member"].as_str(), Some(owner.to_string().as_str()));
        }
        assert_eq!(h["headers"]["x-vigil-tlp"], h["body"]["tlp_label"]);
        // The same check with Vigil's own verifier, and what it refuses.
        let ts = h["headers"]["x-vigil-timestamp"].as_str().unwrap();
        let sig = h["headers"]["x-vigil-signature"].as_str().unwrap();
        let raw = h["raw"].as_str().unwrap().as_bytes();
        let now = Utc::now().timestamp();
        assert_eq!(
            vigil_notify::verify(SECRET.as_bytes(), ts, sig, raw, now, 300),
            Ok(())
        );
        assert!(
            vigil_notify::verify(SECRET.as_bytes(), ts, sig, raw, now + 3600, 300).is_err(),
            "replay refused"
        );
        assert!(vigil_notify::verify(b"another-secret-123", ts, sig, raw, now, 300).is_err());
    }

    // Round 2, shortly after: nothing new and no retry due yet, so nothing is sent.
    let (r2, code) = v.deliver(t0 + Duration::seconds(30));
    assert_eq!(
        (r2["queued"].as_u64(), r2["attempted"].as_u64(), code),
        (Some(0), Some(0), 0),
        "{r2}"
    );

    // Rounds 3 and 4: the dead receiver is retried after 60 s, then 120 s, then given up and logged.
    let (r3, _) = v.deliver(t0 + Duration::seconds(61));
    assert_eq!(
        (r3["attempted"].as_u64(), r3["retrying"].as_u64()),
        (Some(n_a), Some(n_a)),
        "{r3}"
    );
    let (r, _) = v.deliver(t0 + Duration::seconds(61 + 100));
    assert_eq!(
        r["attempted"].as_u64(),
        Some(0),
        "back-off doubles: not yet at +100 s: {r}"
    );
    let (r4, code) = v.deliver(t0 + Duration::seconds(61 + 121));
    assert_eq!(
        (r4["attempted"].as_u64(), r4["failed"].as_u64(), code),
        (Some(n_a), Some(n_a), 1),
        "{r4}"
    );
    let failed = v.ok_json(&["deliveries", "--member", &a_s, "--status", "failed"]);
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len() as u64, n_a);
    for d in failed {
        assert_eq!(d["attempts"], 3);
        assert_eq!(d["channel_id"], a_dead["id"]);
        assert!(
            d["last_error"]
                .as_str()
                .unwrap()
                .contains("could not connect"),
            "{d}"
        );
    }
    let sent_a = v.ok_json(&["deliveries", "--member", &a_s, "--status", "sent"]);
    assert_eq!(
        sent_a.as_array().unwrap().len() as u64,
        2 * n_a,
        "the other channels got theirs"
    );
    // The log is per member.
    let log_b = v.ok_json(&["deliveries", "--member", &b_s]);
    assert!(log_b
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["member_id"] == b));

    // Nothing is delivered twice: a later round (before the digest hour) sends nothing.
    let (mails_before, hooks_before) = (rx.files("mail").len(), rx.files("hook").len());
    let digest_at = vigil_notify::next_digest_time(t0, 7);
    let (r, _) = v.deliver(digest_at - Duration::seconds(1));
    assert_eq!(
        (r["queued"].as_u64(), r["attempted"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
    assert_eq!(rx.files("mail").len(), mails_before);

    // The digest hour: B's notices arrive as one message.
    let (r, code) = v.deliver(digest_at + Duration::seconds(5));
    assert_eq!(code, 0, "{r}");
    assert_eq!(
        (r["messages_sent"].as_u64(), r["delivered"].as_u64()),
        (Some(1), Some(n_b)),
        "{r}"
    );
    let mails = rx.files("mail");
    assert_eq!(mails.len(), mails_before + 1);
    let digest = mails.last().unwrap();
    assert_eq!(
        digest["rcpt_tos"],
        serde_json::json!(["cert@agency-b.example"])
    );
    let subject = digest["subject"].as_str().unwrap();
    assert!(
        subject.contains("daily digest") && subject.contains(&format!("{n_b} notices")),
        "{subject}"
    );
    assert!(subject.starts_with(&format!("[{}]", digest["x_vigil_tlp"].as_str().unwrap())));
    let plain = digest["parts"][0]["text"].as_str().unwrap();
    for n in &nb {
        assert!(
            plain.contains(n["vulnerability"].as_str().unwrap()),
            "digest lacks {}",
            n["vulnerability"]
        );
    }
    let _ = b_digest;
    let (r, _) = v.deliver(digest_at + Duration::seconds(60));
    assert_eq!(r["attempted"].as_u64(), Some(0), "{r}");

    // A new version of a notice (EPSS past the threshold: a new fingerprint) is delivered once on each channel.
    let (r, _) = v.json_at(&["ingest", &fixture("vuln/epss-high.csv")], None);
    assert!(r["notices"]["revised"].as_u64().unwrap() >= 1, "{r}");
    let revised_a = notices_of(&a_s)
        .iter()
        .filter(|n| n["version"].as_i64() > Some(1))
        .count() as u64;
    assert!(revised_a >= 1);
    let (mails_before, hooks_before2) = (rx.files("mail").len(), rx.files("hook").len());
    let t1 = digest_at + Duration::seconds(120);
    let (r, _) = v.deliver(t1);
    assert!(r["messages_sent"].as_u64().unwrap() >= 2 * revised_a, "{r}");
    let mails = rx.files("mail");
    let new_a: Vec<&Value> = mails[mails_before..]
        .iter()
        .filter(|m| m["rcpt_tos"] == serde_json::json!(["soc@ministry-a.example"]))
        .collect();
    assert_eq!(new_a.len() as u64, revised_a);
    assert!(
        new_a.iter().any(|m| m["subject"]
            .as_str()
            .unwrap()
            .contains("update (version 2)")),
        "{new_a:?}"
    );
    assert!(rx.files("hook").len() > hooks_before2);
    let (r, _) = v.deliver(t1 + Duration::seconds(10));
    assert_eq!(
        (r["queued"].as_u64(), r["attempted"].as_u64()),
        (Some(0), Some(0)),
        "sent once: {r}"
    );
    let _ = hooks_before;

    // Secrets: the SMTP password and the webhook secret never appear in anything Vigil printed.
    let (log, _) = v.json_at(&["deliveries"], None);
    let _ = log;
    let printed = v.printed.borrow();
    assert!(!printed.contains(SMTP_PASSWORD), "SMTP password printed");
    assert!(!printed.contains(SECRET), "webhook secret printed");
    assert!(rx.files("rejected").is_empty());
    let _ = a_mail;
}

#[test]
fn email_without_a_relay_fails_alone_and_webhooks_still_go() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (_ca, cert, key) = make_certs(tmp.path());
    let rx = start_receivers(&py, tmp.path(), &cert, &key);
    let v = Vigil {
        dir: tempfile::tempdir().unwrap(),
        printed: Default::default(),
    };
    // The relay's certificate is not trusted (no ca_file): e-mail fails on TLS, the webhook is delivered.
    std::fs::write(
        v.dir.path().join("vigil.toml"),
        format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"{SMTP_USER}\"\npassword = \"{SMTP_PASSWORD}\"\nfrom = \"vigil@csirt.example.eu\"\n",
            rx.smtp_port
        ),
    )
    .unwrap();
    assert!(v.run_at(&["init"], None, None).status.success());
    let (r, code) = v.json_at(
        &[
            "ingest",
            &vuln_fixture("cve5-demo.json"),
            &fixture("vuln/kev-demo.json"),
        ],
        None,
    );
    assert!(code == 0 || code == 1, "{r}");
    let a = v.ok_json(&[
        "members",
        "add",
        "--name",
        "Ministry A",
        "--country",
        "DE",
        "--kind",
        "agency",
    ])["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let (r, code) = v.json_at(
        &[
            "inventory",
            "import",
            "--member",
            &a,
            &fixture("vuln/assets.csv"),
        ],
        None,
    );
    assert!(code <= 1, "{r}");
    let n = v
        .ok_json(&["notices", "--member", &a])
        .as_array()
        .unwrap()
        .len() as u64;
    assert!(n >= 1);
    v.run_at(
        &[
            "channels",
            "add",
            "--member",
            &a,
            "--kind",
            "email",
            "--to",
            "soc@a.example",
        ],
        None,
        None,
    );
    let url = format!("http://127.0.0.1:{}/hook/a", rx.http_port);
    v.run_at(
        &[
            "channels",
            "add",
            "--member",
            &a,
            "--kind",
            "webhook",
            "--url",
            &url,
            "--secret-stdin",
        ],
        None,
        Some(SECRET),
    );
    let (r, code) = v.deliver(Utc::now());
    assert_eq!(code, 1);
    assert_eq!(
        (r["messages_sent"].as_u64(), r["retrying"].as_u64()),
        (Some(n), Some(n)),
        "{r}"
    );
    assert_eq!(rx.files("hook").len() as u64, n);
    assert!(rx.files("mail").is_empty());
    let err = r["failures"][0]["error"].as_str().unwrap();
    assert!(err.contains("SMTP 127.0.0.1"), "{err}");
    let printed = v.printed.borrow();
    assert!(
        !printed.contains(SMTP_PASSWORD),
        "SMTP password printed: {printed}"
    );
}
