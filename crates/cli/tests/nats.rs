//! Sightings from a sensor to the central knowledge base over NATS JetStream, through the `vigil` binary: the
//! central ingests indicators and makes a snapshot; a sensor without a store hunts a Zeek log with `--snapshot
//! --publish`; `vigil sightings pull` records the reports where `vigil hunt --record` puts its sightings (the STIX
//! export, the member's collection). Publishing a run twice and reporting the same sightings in another run
//! double nothing; malformed, foreign and unknown-indicator messages are rejected and counted; an unreachable
//! NATS fails the hunt with a clear message while its sightings are still written; `vigil serve --nats` records
//! as reports come.
//!
//! Runs against the machine's nats-server with JetStream (127.0.0.1:4222, or VIGIL_TEST_NATS), each test on a
//! stream, subject prefix and consumer of its own, the stream deleted at the end. Skips loudly without a server.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};
use vigil_bus::{Bus, Endpoint, Options, Outgoing};
use vigil_model::Tlp;

#[path = "../../bus/tests/support/auth_server.rs"]
mod auth_server;
mod common;

fn nats_url() -> String {
    std::env::var("VIGIL_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// The test's own stream, subject prefix and consumer; the stream is deleted when dropped.
struct Lane {
    bus: Bus,
    stream: String,
    prefix: String,
    durable: String,
}

impl Lane {
    fn new() -> Option<Lane> {
        let url = nats_url();
        let bus = match Bus::connect(
            &Endpoint::parse(&url).expect("VIGIL_TEST_NATS"),
            &Options::default(),
        ) {
            Ok(b) => b,
            Err(e) => {
                eprintln!(
                    "SKIPPED: no NATS server with JetStream at {} ({e}); start one with `nats-server -a 127.0.0.1 -p 4222 -js`",
                    vigil_bus::redact(&url)
                );
                return None;
            }
        };
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let tag = &tag[..12];
        Some(Lane {
            bus,
            stream: format!("VIGIL_TEST_{tag}"),
            prefix: format!("vigiltest.{tag}.sightings"),
            durable: format!("recorder-{tag}"),
        })
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("VIGIL_NATS_STREAM", self.stream.clone()),
            ("VIGIL_NATS_SUBJECT_PREFIX", self.prefix.clone()),
            ("VIGIL_NATS_DURABLE", self.durable.clone()),
        ]
    }

    fn publish_raw(&self, subject: &str, id: &str, body: &[u8]) {
        self.bus
            .publish_all(&[Outgoing {
                subject: subject.to_string(),
                msg_id: id.to_string(),
                payload: body.to_vec(),
            }])
            .expect("publish a test message");
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        let _ = self.bus.delete_stream(&self.stream);
    }
}

/// Runs `vigil --data DIR ARGS` with the lane's stream settings in the environment.
fn vigil(data: &Path, lane: &Lane, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .env_remove("VIGIL_STORE")
        .env_remove("VIGIL_NATS")
        .envs(lane.env())
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run vigil");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic in {args:?}: {stderr}");
    out
}

fn ok_json(data: &Path, lane: &Lane, args: &[&str]) -> Value {
    let out = vigil(data, lane, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout of {args:?} is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn ts() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

const EVIL_COM: &str = "indicator--bbbbbbbb-0000-4000-8000-000000000001";
const NET: &str = "indicator--bbbbbbbb-0000-4000-8000-000000000002";
const GATE: &str = "indicator--bbbbbbbb-0000-4000-8000-000000000003";

fn indicator(id: &str, pattern: &str, tlp: Tlp) -> Value {
    let now = ts();
    json!({
        "type": "indicator", "spec_version": "2.1", "id": id, "created": now, "modified": now,
        "pattern": pattern, "pattern_type": "stix", "valid_from": now, "confidence": 100,
        "x_vigil_reliability": "A", "object_marking_refs": [tlp.marking_id()],
    })
}

/// The central: a store with three indicators, a member, and a snapshot of what a sensor may hunt with.
struct Central {
    dir: tempfile::TempDir,
    member: i64,
    identity: String,
}

impl Central {
    fn new(lane: &Lane) -> Central {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Central {
            dir,
            member: 0,
            identity: String::new(),
        };
        ok_json(&c.data(), lane, &["init", "--json"]);
        let bundle = c.path("intel.json");
        let objs = vec![
            indicator(EVIL_COM, "[domain-name:value = 'evil.com']", Tlp::Green),
            indicator(NET, "[ipv4-addr:value = '198.51.100.0/24']", Tlp::Green),
            indicator(GATE, "[url:value = 'http://evil.com/gate.php']", Tlp::Red),
        ];
        std::fs::write(
            &bundle,
            serde_json::to_vec(&json!({"type": "bundle", "id": "bundle--6d0f6c1e-8b7a-4b0e-9a41-7e2c3f19b8d4", "objects": objs}))
                .expect("json"),
        )
        .expect("write bundle");
        let ing = ok_json(
            &c.data(),
            lane,
            &["ingest", bundle.to_str().expect("utf-8"), "--json"],
        );
        assert_eq!(ing["rejected"], 0, "{ing}");
        let m = ok_json(
            &c.data(),
            lane,
            &[
                "members",
                "add",
                "--name",
                "Ministry Y",
                "--country",
                "AT",
                "--kind",
                "ministry",
                "--json",
            ],
        );
        let snap = c.path("intel.vgs");
        ok_json(
            &c.data(),
            lane,
            &[
                "snapshot",
                "--out",
                snap.to_str().expect("utf-8"),
                "--tlp-max",
                "red",
                "--json",
            ],
        );
        Central {
            member: m["id"].as_i64().expect("member id"),
            identity: m["identity_id"].as_str().expect("identity").to_string(),
            ..c
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn data(&self) -> PathBuf {
        self.path("central")
    }
    fn pull(&self, lane: &Lane) -> Value {
        ok_json(
            &self.data(),
            lane,
            &[
                "sightings",
                "pull",
                "--nats",
                &nats_url(),
                "--wait",
                "1",
                "--json",
            ],
        )
    }
    /// The recorded sightings by indicator, from `vigil export sightings`.
    fn sightings(&self, lane: &Lane) -> BTreeMap<String, Vec<Value>> {
        let out = self.path("export.json");
        ok_json(
            &self.data(),
            lane,
            &[
                "export",
                "sightings",
                "--out",
                out.to_str().expect("utf-8"),
                "--json",
            ],
        );
        let bundle: Value =
            serde_json::from_slice(&std::fs::read(&out).expect("export")).expect("bundle");
        let mut by: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for o in bundle["objects"].as_array().expect("objects") {
            if o["type"] == "sighting" {
                by.entry(o["sighting_of_ref"].as_str().expect("ref").to_string())
                    .or_default()
                    .push(o.clone());
            }
        }
        by
    }
}

/// A Zeek JSON log: evil.com twice (a subdomain, then the HTTP host), the /24 once, the RED URL once, noise.
const LOG: &str = r#"{"_path":"dns","ts":1714557600.5,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":5353,"id.resp_h":"10.0.0.53","id.resp_p":53,"query":"a.evil.com"}
{"_path":"dns","ts":1714557601.0,"uid":"C2","id.orig_h":"10.0.0.1","id.orig_p":5353,"id.resp_h":"10.0.0.53","id.resp_p":53,"query":"notevil.com"}
{"_path":"conn","ts":1714557603.0,"uid":"C4","id.orig_h":"10.0.0.2","id.orig_p":40000,"id.resp_h":"198.51.100.7","id.resp_p":443,"proto":"tcp"}
{"_path":"http","ts":1714557605.0,"uid":"C6","id.orig_h":"10.0.0.3","id.orig_p":40001,"id.resp_h":"10.9.9.9","id.resp_p":80,"host":"evil.com","uri":"/gate.php"}
"#;

/// `vigil hunt LOG --snapshot S --publish URL [EXTRA..]` on a sensor whose data directory does not exist.
fn sensor_hunt(c: &Central, lane: &Lane, url: &str, run: &str, out: &Path) -> Output {
    sensor_hunt_with(c, lane, url, run, out, &[])
}

fn sensor_hunt_with(
    c: &Central,
    lane: &Lane,
    url: &str,
    run: &str,
    out: &Path,
    extra: &[&str],
) -> Output {
    let log = c.path("conn.json.log");
    std::fs::write(&log, LOG).expect("write log");
    let member = c.member.to_string();
    let snapshot = c.path("intel.vgs");
    let mut args = vec![
        "hunt",
        log.to_str().expect("utf-8"),
        "--snapshot",
        snapshot.to_str().expect("utf-8"),
        "--publish",
        url,
        "--member",
        &member,
        "--sensor",
        "ids-01.ministry-y",
        "--run-id",
        run,
        "--out",
        out.to_str().expect("utf-8"),
        "--json",
    ];
    args.extend(extra);
    vigil(&c.path("sensor-without-store"), lane, &args)
}

fn summary(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "hunt summary is not JSON ({e}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .expect("sightings file")
        .lines()
        .count()
}

#[test]
fn sensor_sightings_reach_the_central_once_and_bad_messages_are_rejected() {
    let Some(lane) = Lane::new() else { return };
    let c = Central::new(&lane);
    let rows = c.path("rows.jsonl");

    // The sensor: no store, no database credentials; three indicators hit, reported once each.
    let o = sensor_hunt(&c, &lane, &nats_url(), "run-a", &rows);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = summary(&o);
    assert_eq!(s["hits"], 4, "{s}");
    assert_eq!(
        (s["published"].clone(), s["duplicates"].clone()),
        (json!(3), json!(0)),
        "{s}"
    );
    assert_eq!(s["run"], "run-a");
    assert_eq!(s["sensor"], "ids-01.ministry-y");
    assert_eq!(lines(&rows), 4);
    assert!(
        !c.path("sensor-without-store").exists(),
        "a sensor hunting from a snapshot opened a store"
    );
    // The same run again: the stream takes nothing twice.
    let s = summary(&sensor_hunt(&c, &lane, &nats_url(), "run-a", &rows));
    assert_eq!(
        (s["published"].clone(), s["duplicates"].clone()),
        (json!(3), json!(3)),
        "{s}"
    );

    // What else may arrive: garbage, a newer format, a report of an indicator this knowledge base never had,
    // one of an unknown member, one whose subject is another member's.
    let good = json!({
        "v": 1, "run": "run-x", "sensor": "ids-02", "member": c.member,
        "indicator_id": EVIL_COM, "indicator": "evil.com",
        "first_seen": "2024-05-01T10:00:00Z", "last_seen": "2024-05-01T10:00:00Z",
        "count": 1, "tlp": "green", "observed": ["evil.com"], "files": ["x.log"],
    });
    let member_subject = format!("{}.{}", lane.prefix, c.member);
    lane.publish_raw(&member_subject, "bad-1", b"{not json");
    lane.publish_raw(
        &member_subject,
        "bad-2",
        &serde_json::to_vec(&json!({"v": 2, "anything": true})).expect("json"),
    );
    let mut unknown = good.clone();
    unknown["indicator_id"] = json!("indicator--cccccccc-0000-4000-8000-000000000009");
    lane.publish_raw(
        &member_subject,
        "bad-3",
        &serde_json::to_vec(&unknown).expect("json"),
    );
    let mut nobody = good.clone();
    nobody["member"] = json!(c.member + 100);
    lane.publish_raw(
        &format!("{}.{}", lane.prefix, c.member + 100),
        "bad-4",
        &serde_json::to_vec(&nobody).expect("json"),
    );
    lane.publish_raw(
        &format!("{}.operator", lane.prefix),
        "bad-5",
        &serde_json::to_vec(&good).expect("json"),
    );

    // The central records the three reports and rejects the five, acknowledging all: nothing loops. --max
    // stops early, and the next pull goes on where it stopped.
    let first = ok_json(
        &c.data(),
        &lane,
        &[
            "sightings",
            "pull",
            "--nats",
            &nats_url(),
            "--max",
            "2",
            "--json",
        ],
    );
    assert_eq!(
        (first["received"].clone(), first["recorded"].clone()),
        (json!(2), json!(2)),
        "{first}"
    );
    let p = c.pull(&lane);
    assert_eq!(p["received"], 6, "{p}");
    assert_eq!(p["recorded"], 1, "{p}");
    assert_eq!(p["new"], 1, "{p}");
    assert_eq!(p["rejected"], 5, "{p}");
    let errors: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(errors.len(), 5, "{p}");
    for (needle, what) in [
        ("malformed: not a JSON sighting report", "garbage"),
        ("format version 2", "newer format"),
        (
            "indicator indicator--cccccccc-0000-4000-8000-000000000009 (evil.com) is unknown",
            "unknown indicator",
        ),
        (
            &format!("member {} is unknown", c.member + 100) as &str,
            "unknown member",
        ),
        ("published on", "subject of another member"),
    ] {
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "{what}: {errors:?}"
        );
    }
    let again = c.pull(&lane);
    assert_eq!(
        again["received"], 0,
        "acknowledged messages came again: {again}"
    );

    // Where --record puts sightings: one per indicator, for the member, never below AMBER, the RED one RED.
    let by = c.sightings(&lane);
    assert_eq!(by.len(), 3, "{by:?}");
    assert!(by.values().all(|v| v.len() == 1), "{by:?}");
    let evil = &by[EVIL_COM][0];
    assert_eq!(evil["count"], 2, "{evil}");
    assert_eq!(evil["first_seen"], "2024-05-01T10:00:00.500Z");
    assert_eq!(evil["last_seen"], "2024-05-01T10:00:05.000Z");
    assert_eq!(evil["where_sighted_refs"], json!([c.identity]));
    assert_eq!(evil["x_vigil_sensor"], "ids-01.ministry-y");
    assert_eq!(evil["x_vigil_run"], "run-a");
    assert_eq!(
        evil["object_marking_refs"],
        json!([Tlp::Amber.marking_id()])
    );
    assert_eq!(
        by[GATE][0]["object_marking_refs"],
        json!([Tlp::Red.marking_id()])
    );

    // The same sightings in another run (the sensor hunted the same logs again): recorded, nothing new.
    let s = summary(&sensor_hunt(&c, &lane, &nats_url(), "run-b", &rows));
    assert_eq!(
        (s["published"].clone(), s["duplicates"].clone()),
        (json!(3), json!(0)),
        "{s}"
    );
    let p = c.pull(&lane);
    assert_eq!(
        (
            p["received"].clone(),
            p["recorded"].clone(),
            p["new"].clone()
        ),
        (json!(3), json!(3), json!(0)),
        "{p}"
    );
    let by = c.sightings(&lane);
    assert!(by.values().all(|v| v.len() == 1), "counted twice: {by:?}");
    assert_eq!(by[EVIL_COM][0]["count"], 2);

    // The member's own collection (TAXII member-<id>, REST /api/v1/sightings) holds them once; the operator's
    // and other members' hold none.
    {
        let page = |member: i64| common::member_collection(&c.data(), member);
        let rows = page(c.member);
        assert_eq!(
            rows.len(),
            3,
            "one sighting per indicator, reported twice, kept once"
        );
        assert!(rows
            .iter()
            .all(|r| r.json.contains("\"type\":\"sighting\"")));
        assert!(page(c.member + 1).is_empty());
    }
}

#[test]
fn unreachable_nats_fails_the_hunt_clearly_and_keeps_the_sightings() {
    let Some(lane) = Lane::new() else { return };
    let c = Central::new(&lane);
    let rows = c.path("rows.jsonl");
    // Nothing listens on the discard port.
    let o = sensor_hunt(
        &c,
        &lane,
        "nats://sensor:Secr3tPassw0rd@127.0.0.1:9",
        "run-down",
        &rows,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot reach NATS at nats://127.0.0.1:9"),
        "{err}"
    );
    assert!(err.contains("--run-id run-down"), "{err}");
    assert!(!err.contains("Secr3t") && !err.contains("sensor:"), "{err}");
    assert_eq!(lines(&rows), 4, "the sightings were not written");
    let s = summary(&o);
    assert_eq!(s["published"], Value::Null, "{s}");
    assert!(!s["publish_error"]
        .as_str()
        .expect("publish_error")
        .contains("Secr3t"));
    // Without --out the sightings go to stdout as ever.
    let log = c.path("conn.json.log");
    let o = vigil(
        &c.path("sensor-without-store"),
        &lane,
        &[
            "hunt",
            log.to_str().expect("utf-8"),
            "--snapshot",
            c.path("intel.vgs").to_str().expect("utf-8"),
            "--publish",
            "nats://127.0.0.1:9",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 4);
    // A bad URL is refused before hunting, credentials hidden.
    let o = vigil(
        &c.path("sensor-without-store"),
        &lane,
        &[
            "hunt",
            log.to_str().expect("utf-8"),
            "--snapshot",
            c.path("intel.vgs").to_str().expect("utf-8"),
            "--publish",
            "http://u:Secr3tPassw0rd@host:4222",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("bad NATS URL http://***@host:4222"), "{err}");
    // The central's pull names the server too.
    let o = vigil(
        &c.data(),
        &lane,
        &["sightings", "pull", "--nats", "nats://127.0.0.1:9"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot reach NATS at nats://127.0.0.1:9"));
}

#[test]
fn serve_records_reports_as_they_come() {
    let Some(lane) = Lane::new() else { return };
    let c = Central::new(&lane);
    let url = nats_url();
    let served = common::serve(
        &c.data(),
        &[
            "--nats",
            &url,
            "--stream",
            &lane.stream,
            "--subject-prefix",
            &lane.prefix,
            "--durable",
            &lane.durable,
            "--no-feeds",
            "--no-delivery",
        ],
    );
    let rows = c.path("rows.jsonl");
    let s = summary(&sensor_hunt(&c, &lane, &url, "run-served", &rows));
    assert_eq!(s["published"], 3, "{s}");
    let t0 = Instant::now();
    loop {
        let by = c.sightings(&lane);
        if by.len() == 3 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "vigil serve --nats recorded {} of 3 sightings",
            by.len()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(served);
}

/// Credentials kept out of the command line: `--nats-nkey-file` (an NKey seed; the server knows the public key)
/// and `--nats-password-file` (the password of the user the URL names) log in to a server that requires them;
/// a wrong seed or password is refused by the server, named without the secret; a password in both the URL and a
/// file is refused before connecting; a file others can read is warned about.
#[test]
fn credentials_come_from_files_not_the_command_line() {
    let user = nkeys::KeyPair::new_user();
    let Some(srv) = auth_server::auth_server(&user.public_key(), "central", "c3ntral-pa55") else {
        return;
    };
    let Some(lane) = Lane::new() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = |name: &str, text: &str, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        p.to_str().expect("utf-8").to_string()
    };
    let seed = user.seed().expect("seed");
    let nkey = secret("central.nk", &format!("{seed}\n"), 0o600);
    let password = secret("central.pw", "c3ntral-pa55\n", 0o644);
    let stranger = nkeys::KeyPair::new_user().seed().expect("seed");
    let wrong = secret("stranger.nk", &stranger, 0o600);
    let data = dir.path().join("central");
    let url = format!("nats://127.0.0.1:{}", srv.port);
    let user_url = format!("nats://central@127.0.0.1:{}", srv.port);
    let pull = |url: &str, flag: &str, file: &str| {
        vigil(
            &data,
            &lane,
            &[
                "sightings",
                "pull",
                "--nats",
                url,
                flag,
                file,
                "--wait",
                "1",
                "--json",
            ],
        )
    };
    for (url, flag, file) in [
        (&url, "--nats-nkey-file", &nkey),
        (&user_url, "--nats-password-file", &password),
    ] {
        let out = pull(url, flag, file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{flag}: {stderr}");
        let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(v["received"], 0, "{v}");
        assert_eq!(
            stderr.contains("can be read by other users"),
            flag == "--nats-password-file",
            "{flag}: {stderr}"
        );
    }
    let refused = [
        pull(&url, "--nats-nkey-file", &wrong),
        pull(
            &user_url,
            "--nats-password-file",
            &secret("wrong.pw", "not-the-pa55", 0o600),
        ),
    ];
    for out in refused {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(&url), "the server is named: {stderr}");
        for s in [stranger.as_str(), "not-the-pa55", seed.as_str()] {
            assert!(!stderr.contains(s), "{stderr}");
        }
    }
    let both = pull(
        &format!("nats://central:c3ntral-pa55@127.0.0.1:{}", srv.port),
        "--nats-password-file",
        &password,
    );
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(
        !both.status.success()
            && stderr.contains("--nats-password-file")
            && stderr.contains("once"),
        "{stderr}"
    );
    assert!(!stderr.contains("c3ntral-pa55"), "{stderr}");
}

/// Operator mode (users issued by an account with `nsc`, the server holding only the operator's and accounts'
/// JWTs): a sensor publishes with its `.creds` file, the central pulls with its own, and the sightings are
/// recorded; an expired `.creds` file is refused before the hunt starts, naming the file and the expiry.
#[test]
fn creds_files_carry_sightings_in_operator_mode() {
    let Some(op) = auth_server::operator_server() else {
        return;
    };
    let Some(lane) = Lane::new() else { return };
    let c = Central::new(&lane);
    let url = format!("nats://127.0.0.1:{}", op.server.port);
    let write = |name: &str, text: &str| {
        use std::os::unix::fs::PermissionsExt;
        let p = c.path(name);
        std::fs::write(&p, text).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p.to_str().expect("utf-8").to_string()
    };
    let sensor_user = nkeys::KeyPair::new_user();
    let sensor = write(
        "sensor.creds",
        &auth_server::Operator::creds(&op.account, &sensor_user, None),
    );
    let central = write(
        "central.creds",
        &auth_server::Operator::creds(&op.account, &nkeys::KeyPair::new_user(), None),
    );
    let hunt = |creds: &str, run: &str| {
        let out = c.path(&format!("{run}.jsonl"));
        sensor_hunt_with(&c, &lane, &url, run, &out, &["--nats-creds-file", creds])
    };
    let published = hunt(&sensor, "creds-run");
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );
    let s = summary(&published);
    assert_eq!(s["published"], 3, "{s}");
    let pull = |creds: &str| {
        vigil(
            &c.data(),
            &lane,
            &[
                "sightings",
                "pull",
                "--nats",
                &url,
                "--nats-creds-file",
                creds,
                "--wait",
                "1",
                "--json",
            ],
        )
    };
    let o = pull(&central);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pulled: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(pulled["received"], 3, "{pulled}");
    assert_eq!(c.sightings(&lane).len(), 3);

    // Credentials that expire within two weeks work, with a warning saying when.
    let soon = write(
        "soon.creds",
        &auth_server::Operator::creds(
            &op.account,
            &nkeys::KeyPair::new_user(),
            Some(Utc::now().timestamp() + 3 * 86_400 + 600),
        ),
    );
    let o = pull(&soon);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("soon.creds expire at") && stderr.contains("(in 3 day(s))"),
        "{stderr}"
    );
    let expired = write(
        "expired.creds",
        &auth_server::Operator::creds(&op.account, &sensor_user, Some(Utc::now().timestamp() - 1)),
    );
    let out = hunt(&expired, "expired-run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--nats-creds-file")
            && stderr.contains("expired.creds")
            && stderr.contains("expired at"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&sensor_user.seed().expect("seed")),
        "{stderr}"
    );
    // Refused as a setting is, before hunting: nothing was hunted, so no sightings to keep.
    assert!(!c.path("expired-run.jsonl").exists());
    eprintln!("refused, as it should be: {stderr}");
}
