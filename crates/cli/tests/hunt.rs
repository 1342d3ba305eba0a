//! End-to-end tests of hunting through the `vigil` binary: intelligence ingested into a real store, selection
//! (TLP, warning lists, expiry, revocation, score), generator-planted hits (near-misses included) found exactly in
//! Zeek JSON, Zeek TSV and EVE, the output contract and exit codes, snapshots, recorded sightings carried to
//! another store, detection exports checked by the tools that read them (named-checkzone, suricata -T, PyMISP),
//! real Zeek logs from ../shared/data, and bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{Duration, Utc};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use vigil_hunt::gen::{generate, GenConfig, GenFormat, Plant};
use vigil_hunt::IndicatorSource;
use vigil_model::Tlp;

mod common;

struct Vigil {
    dir: tempfile::TempDir,
}

impl Vigil {
    fn new() -> Self {
        let v = Vigil {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        assert!(v.run(&["init"]).status.success());
        v
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .arg("--data")
            .arg(self.dir.path().join("store"))
            .args(args)
            .output()
            .expect("run vigil");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "panic in {args:?}: {stderr}");
        out
    }
    fn ok_json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
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
    fn ingest(&self, file: &Path, extra: &[&str]) {
        let mut a = vec!["ingest", file.to_str().expect("utf-8 path"), "--json"];
        a.extend_from_slice(extra);
        let v = self.ok_json(&a);
        assert_eq!(v["rejected"], 0, "ingest rejected objects: {v}");
    }
}

fn ts(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn indicator(id: &str, pattern: &str, tlp: Tlp, extra: Value) -> Value {
    let now = ts(Utc::now());
    let mut v = json!({
        "type": "indicator", "spec_version": "2.1", "id": id, "created": now, "modified": now,
        "pattern": pattern, "pattern_type": "stix", "valid_from": now, "confidence": 100,
        "x_vigil_reliability": "A", "object_marking_refs": [tlp.marking_id()],
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
    }
    v
}

fn named(ty: &str, id: &str, name: &str) -> Value {
    let now = ts(Utc::now());
    let mut v = json!({"type": ty, "spec_version": "2.1", "id": id, "created": now, "modified": now, "name": name,
        "object_marking_refs": [Tlp::Green.marking_id()]});
    if ty == "malware" {
        v["is_family"] = json!(true);
    }
    v
}

fn rel(n: usize, ty: &str, src: &str, dst: &str) -> Value {
    let now = ts(Utc::now());
    json!({"type": "relationship", "spec_version": "2.1", "id": format!("relationship--00000000-0000-4000-8000-{n:012x}"),
        "created": now, "modified": now, "relationship_type": ty, "source_ref": src, "target_ref": dst,
        "object_marking_refs": [Tlp::Green.marking_id()]})
}

fn write_bundle(path: &Path, objects: Vec<Value>) {
    let b = json!({"type": "bundle", "id": "bundle--5d0f6c1e-8b7a-4b0e-9a41-7e2c3f19b8d4", "objects": objects});
    std::fs::write(path, serde_json::to_vec(&b).expect("json")).expect("write bundle");
}

fn sightings(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("sightings file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// The generator's planted indicators as a STIX bundle: each with its TLP, its own subdomain semantics
/// (`x_vigil_subdomains`), and malware/actor context through `indicates` relationships.
fn plant_bundle(plant: &Plant) -> Vec<Value> {
    let mut objs = Vec::new();
    let mut fams = BTreeSet::new();
    let mut actors = BTreeSet::new();
    let fam_id = |f: &str| {
        format!(
            "malware--00000000-0000-4000-8000-{:012x}",
            f.trim_start_matches("family").parse::<u64>().unwrap_or(0)
        )
    };
    let actor_id = |a: &str| {
        format!(
            "intrusion-set--00000000-0000-4000-8000-{:012x}",
            a.trim_start_matches("actor").parse::<u64>().unwrap_or(0)
        )
    };
    let mut n = 0;
    for i in &plant.indicators {
        let IndicatorSource::Observable(o) = &i.source else {
            panic!("planted indicators are observables")
        };
        objs.push(indicator(
            &i.id,
            &o.to_pattern(),
            i.tlp,
            json!({"x_vigil_subdomains": i.subdomains}),
        ));
        for f in &i.malware {
            fams.insert(f.clone());
            n += 1;
            objs.push(rel(n, "indicates", &i.id, &fam_id(f)));
        }
        for a in &i.actors {
            actors.insert(a.clone());
            n += 1;
            objs.push(rel(n, "indicates", &i.id, &actor_id(a)));
        }
    }
    for f in &fams {
        objs.push(named("malware", &fam_id(f), f));
    }
    for a in &actors {
        objs.push(named("intrusion-set", &actor_id(a), a));
    }
    objs
}

#[test]
fn planted_hits_are_found_exactly_in_every_format() {
    let v = Vigil::new();
    let plant = Plant::new(11, 40);
    let bundle = v.path("plant.json");
    write_bundle(&bundle, plant_bundle(&plant));
    v.ingest(&bundle, &[]);
    let snap = v.path("intel.vgs");
    let s = v.ok_json(&["snapshot", "--out", snap.to_str().expect("path"), "--json"]);
    assert_eq!(s["indicators"], plant.indicators.len(), "{s}");
    for (fmt, name) in [
        (GenFormat::ZeekJson, "zeek.json"),
        (GenFormat::ZeekTsv, "zeek.log"),
        (GenFormat::Eve, "eve.json"),
    ] {
        let log = v.path(name);
        let cfg = GenConfig {
            format: fmt,
            seed: 5,
            lines: 8_000,
            hit_rate: 0.03,
            near_miss_rate: 0.1,
        };
        let mut f = std::fs::File::create(&log).expect("log");
        let expected = generate(&plant, &cfg, &mut f).expect("generates");
        f.flush().expect("flush");
        assert!(expected.len() > 100, "too few planted hits");
        let want: BTreeSet<(u64, String, String, String, String)> = expected
            .iter()
            .map(|h| {
                (
                    h.line,
                    h.indicator_id.clone(),
                    h.field.clone(),
                    h.observed.clone(),
                    h.kind.as_str().to_string(),
                )
            })
            .collect();
        // From the store and from the snapshot: the same sightings.
        for from_snapshot in [false, true] {
            let out = v.path(&format!("{name}.{from_snapshot}.jsonl"));
            let mut args = vec![
                "hunt",
                log.to_str().expect("path"),
                "--out",
                out.to_str().expect("path"),
                "--json",
            ];
            if from_snapshot {
                args.extend(["--snapshot", snap.to_str().expect("path")]);
            }
            let sum = v.ok_json(&args);
            assert_eq!(sum["unparsable"], 0, "{name}: {sum}");
            assert_eq!(sum["lines"].as_u64().map(|n| n >= 8_000), Some(true));
            let got_rows = sightings(&out);
            let got: BTreeSet<(u64, String, String, String, String)> = got_rows
                .iter()
                .map(|s| {
                    (
                        s["line"].as_u64().expect("line"),
                        s["indicator_id"].as_str().expect("id").to_string(),
                        s["field"].as_str().expect("field").to_string(),
                        s["observed"].as_str().expect("observed").to_string(),
                        s["type"].as_str().expect("type").to_string(),
                    )
                })
                .collect();
            let missing: Vec<_> = want.difference(&got).take(5).collect();
            let extra: Vec<_> = got.difference(&want).take(5).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{name} (snapshot {from_snapshot}): missing {missing:?}, not planted {extra:?}"
            );
            assert_eq!(
                got_rows.len(),
                expected.len(),
                "{name}: duplicate sightings"
            );
            assert_eq!(sum["hits"], expected.len());
            // Context through relationships, as planted.
            for s in &got_rows {
                let id = s["indicator_id"].as_str().expect("id");
                let p = plant
                    .indicators
                    .iter()
                    .find(|i| i.id == id)
                    .expect("planted indicator");
                let names = |k: &str| -> Vec<String> {
                    s[k].as_array()
                        .expect("list")
                        .iter()
                        .map(|x| x.as_str().expect("name").to_string())
                        .collect()
                };
                assert_eq!(names("malware"), p.malware, "{s}");
                assert_eq!(names("actors"), p.actors, "{s}");
                assert_eq!(s["tlp"], json!(p.tlp), "{s}");
                for k in ["indicator", "ts", "file"] {
                    assert!(s[k].is_string(), "{k} missing in {s}");
                }
            }
        }
    }
}

/// A small store with one indicator per selection rule.
fn curated(v: &Vigil) {
    let old = ts(Utc::now() - Duration::days(400));
    let past = ts(Utc::now() - Duration::days(1));
    let ten = ts(Utc::now() - Duration::days(10));
    let objs = vec![
        named("malware", "malware--11111111-0000-4000-8000-000000000001", "LummaC2"),
        named("intrusion-set", "intrusion-set--11111111-0000-4000-8000-000000000002", "Storm-0001"),
        rel(1, "indicates", "indicator--aaaaaaaa-0000-4000-8000-000000000001", "malware--11111111-0000-4000-8000-000000000001"),
        rel(2, "attributed-to", "malware--11111111-0000-4000-8000-000000000001", "intrusion-set--11111111-0000-4000-8000-000000000002"),
        indicator("indicator--aaaaaaaa-0000-4000-8000-000000000001", "[domain-name:value = 'evil.com']", Tlp::Green, json!({})),
        indicator("indicator--aaaaaaaa-0000-4000-8000-000000000002", "[ipv4-addr:value = '198.51.100.0/24']", Tlp::Green, json!({})),
        indicator("indicator--aaaaaaaa-0000-4000-8000-000000000003", "[url:value = 'http://evil.com/gate.php']", Tlp::Amber, json!({})),
        indicator("indicator--aaaaaaaa-0000-4000-8000-000000000004", "[ipv6-addr:value = '2001:db8:bad::7']", Tlp::Red, json!({})),
        indicator("indicator--aaaaaaaa-0000-4000-8000-000000000005", "[domain-name:value = 'expired.example.net']", Tlp::Green, json!({"valid_until": past, "valid_from": ten})),
        indicator("indicator--aaaaaaaa-0000-4000-8000-000000000006", "[domain-name:value = 'revoked.example.net']", Tlp::Green, json!({"revoked": true})),
        indicator("indicator--aaaaaaaa-0000-4000-8000-000000000007", "[domain-name:value = 'google.com']", Tlp::Green, json!({})),
        indicator("indicator--aaaaaaaa-0000-4000-8000-000000000008", "[ipv4-addr:value = '203.0.113.9']", Tlp::Green, json!({"modified": old, "created": old, "valid_from": old})),
        indicator("indicator--aaaaaaaa-0000-4000-8000-000000000009", "[file:hashes.'SHA-256' = 'ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c']", Tlp::Green, json!({})),
        indicator("indicator--aaaaaaaa-0000-4000-8000-00000000000a", "[email-addr:value = 'boss@evil.com']", Tlp::Green, json!({})),
        indicator("indicator--aaaaaaaa-0000-4000-8000-00000000000b", "[domain-name:value = 'sinkhole.example' AND domain-name:value LIKE 'sink%']", Tlp::Green, json!({})),
    ];
    let b = v.path("curated.json");
    write_bundle(&b, objs);
    v.ingest(&b, &[]);
    let wl = v.path("wl.json");
    std::fs::write(
        &wl,
        r#"{"name":"Test popular domains","version":1,"description":"test","matching_attributes":["hostname","domain"],"type":"hostname","list":["google.com"]}"#,
    )
    .expect("write");
    let out = v.run(&["ingest", wl.to_str().expect("p"), "--format", "warninglist"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const CURATED_LOG: &str = r#"{"_path":"dns","ts":1714557600.5,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":5353,"id.resp_h":"10.0.0.53","id.resp_p":53,"query":"a.evil.com"}
{"_path":"dns","ts":1714557601.0,"uid":"C2","id.orig_h":"10.0.0.1","id.orig_p":5353,"id.resp_h":"10.0.0.53","id.resp_p":53,"query":"notevil.com"}
{"_path":"dns","ts":1714557602.0,"uid":"C3","id.orig_h":"10.0.0.1","id.orig_p":5353,"id.resp_h":"10.0.0.53","id.resp_p":53,"query":"evil.com.example.org"}
{"_path":"conn","ts":1714557603.0,"uid":"C4","id.orig_h":"10.0.0.2","id.orig_p":40000,"id.resp_h":"198.51.100.7","id.resp_p":443,"proto":"tcp"}
{"_path":"conn","ts":1714557604.0,"uid":"C5","id.orig_h":"10.0.0.2","id.orig_p":40000,"id.resp_h":"198.51.101.0","id.resp_p":443,"proto":"tcp"}
{"_path":"http","ts":1714557605.0,"uid":"C6","id.orig_h":"10.0.0.3","id.orig_p":40001,"id.resp_h":"10.9.9.9","id.resp_p":80,"host":"evil.com","uri":"/gate.php","user_agent":"Mozilla evil.com 198.51.100.8"}
{"_path":"http","ts":1714557606.0,"uid":"C7","id.orig_h":"10.0.0.3","id.orig_p":40001,"id.resp_h":"10.9.9.9","id.resp_p":80,"host":"good.org","uri":"/evil.com","user_agent":"evil.com"}
{"_path":"dns","ts":1714557607.0,"uid":"C8","id.orig_h":"10.0.0.1","id.orig_p":5353,"id.resp_h":"10.0.0.53","id.resp_p":53,"query":"expired.example.net"}
{"_path":"dns","ts":1714557608.0,"uid":"C9","id.orig_h":"10.0.0.1","id.orig_p":5353,"id.resp_h":"10.0.0.53","id.resp_p":53,"query":"revoked.example.net"}
{"_path":"dns","ts":1714557609.0,"uid":"C10","id.orig_h":"10.0.0.1","id.orig_p":5353,"id.resp_h":"10.0.0.53","id.resp_p":53,"query":"www.google.com"}
{"_path":"conn","ts":1714557610.0,"uid":"C11","id.orig_h":"203.0.113.9","id.orig_p":40000,"id.resp_h":"10.0.0.2","id.resp_p":22,"proto":"tcp"}
{"_path":"conn","ts":1714557611.0,"uid":"C12","id.orig_h":"10.0.0.5","id.orig_p":40000,"id.resp_h":"2001:db8:bad::7","id.resp_p":443,"proto":"tcp"}
{"_path":"files","ts":1714557612.0,"fuid":"F1","sha256":"EF537F25C895BFA782526529A9B63D97AA631564D5D789C2B765448C8635FB6C","mime_type":"application/x-dosexec"}
"#;

fn hunt_rows(v: &Vigil, log: &Path, extra: &[&str]) -> (Vec<(u64, String, String)>, Value, i32) {
    let out = v.path("rows.jsonl");
    let mut a = vec![
        "hunt",
        log.to_str().expect("p"),
        "--out",
        out.to_str().expect("p"),
        "--json",
    ];
    a.extend_from_slice(extra);
    let o = v.run(&a);
    let code = o.status.code().unwrap_or(-1);
    let sum: Value = serde_json::from_slice(&o.stdout).expect("summary JSON");
    let rows = sightings(&out)
        .iter()
        .map(|s| {
            (
                s["line"].as_u64().expect("line"),
                s["field"].as_str().expect("field").to_string(),
                s["indicator"].as_str().expect("indicator").to_string(),
            )
        })
        .collect();
    (rows, sum, code)
}

#[test]
fn selection_contract_exit_codes_and_recorded_sightings() {
    let v = Vigil::new();
    curated(&v);
    let log = v.path("curated.json.log");
    std::fs::write(&log, CURATED_LOG).expect("write");
    let (rows, sum, code) = hunt_rows(&v, &log, &[]);
    assert_eq!(code, 0);
    let want = vec![
        (1, "query".to_string(), "evil.com".to_string()),
        (4, "id.resp_h".into(), "198.51.100.0/24".into()),
        (6, "host".into(), "evil.com".into()),
        (6, "uri".into(), "http://evil.com/gate.php".into()),
        (12, "id.resp_h".into(), "2001:db8:bad::7".into()),
        (
            13,
            "sha256".into(),
            "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c".into(),
        ),
    ];
    assert_eq!(rows, want, "{sum}");
    for k in ["lines", "bytes", "seconds", "hits", "unparsable"] {
        assert!(sum[k].is_number(), "summary lacks {k}: {sum}");
    }
    assert_eq!(sum["lines"], 13);
    // Context through relationships: malware, then the actor it is attributed to.
    let first = &sightings(&v.path("rows.jsonl"))[0];
    assert_eq!(first["malware"], json!(["LummaC2"]));
    assert_eq!(first["actors"], json!(["Storm-0001"]));
    assert_eq!(first["type"], "domain");
    assert_eq!(first["ts"], "2024-05-01T10:00:00.500Z");
    // TLP: at most GREEN leaves out the AMBER URL and the RED address.
    let (rows, _, _) = hunt_rows(&v, &log, &["--tlp-max", "green"]);
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![1, 4, 6, 13]
    );
    // Exact domains: the subdomain hit goes.
    let (rows, _, _) = hunt_rows(&v, &log, &["--exact-domains"]);
    assert!(!rows.iter().any(|r| r.0 == 1));
    // min-score 0 brings back the decayed address (400 days, half-life 14).
    let (rows, _, _) = hunt_rows(&v, &log, &["--min-score", "0"]);
    assert!(rows.iter().any(|r| r.0 == 11 && r.2 == "203.0.113.9"));
    // An analyst's score overrides decay, and a later version of the indicator from a feed does not reset it.
    let decayed = "indicator--aaaaaaaa-0000-4000-8000-000000000008";
    v.ok_json(&[
        "score",
        decayed,
        "90",
        "--reason",
        "seen in our incident",
        "--json",
    ]);
    let hit_decayed = |v: &Vigil| {
        hunt_rows(v, &log, &[])
            .0
            .iter()
            .any(|r| r.2 == "203.0.113.9")
    };
    assert!(hit_decayed(&v));
    let later = ts(Utc::now() - Duration::days(300));
    let old = ts(Utc::now() - Duration::days(400));
    let feed = v.path("feed-update.json");
    write_bundle(
        &feed,
        vec![indicator(
            decayed,
            "[ipv4-addr:value = '203.0.113.9']",
            Tlp::Green,
            json!({"modified": later, "created": old, "valid_from": old, "confidence": 10}),
        )],
    );
    v.ingest(&feed, &[]);
    assert!(hit_decayed(&v), "a feed update reset the analyst's score");
    v.ok_json(&["score", decayed, "--clear", "--json"]);
    assert!(!hit_decayed(&v));
    // No hits: exit 1. Unknown format: exit 2 with a clear message. Missing file: exit 2.
    let quiet = v.path("quiet.json");
    std::fs::write(&quiet, CURATED_LOG.lines().nth(1).expect("line")).expect("write");
    assert_eq!(hunt_rows(&v, &quiet, &[]).2, 1);
    let o = v.run(&["hunt", log.to_str().expect("p"), "--format", "pcap"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown log format \"pcap\""));
    let o = v.run(&["hunt", v.path("absent.log").to_str().expect("p"), "--json"]);
    assert_eq!(o.status.code(), Some(2));
    // Without --out, --json streams the sightings on stdout and the summary goes to stderr.
    let o = v.run(&["hunt", log.to_str().expect("p"), "--json"]);
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("sighting"))
        .collect();
    assert_eq!(lines.len(), 6);
    let err: Value = serde_json::from_str(
        String::from_utf8_lossy(&o.stderr)
            .trim()
            .lines()
            .last()
            .expect("summary"),
    )
    .expect("summary on stderr");
    assert_eq!(err["hits"], 6);

    // --record: one STIX sighting per indicator, idempotent, carried to another store.
    let members = v.ok_json(&[
        "members",
        "add",
        "--name",
        "Ministry X",
        "--country",
        "DE",
        "--kind",
        "ministry",
        "--json",
    ]);
    let mid = members["id"].as_i64().expect("member id").to_string();
    let (_, sum, _) = hunt_rows(&v, &log, &["--record", "--member", &mid]);
    assert_eq!(sum["recorded"], 5, "{sum}");
    let (_, sum2, _) = hunt_rows(&v, &log, &["--record", "--member", &mid]);
    assert_eq!(sum2["recorded"], 5);
    let exp = v.path("sightings.json");
    let e = v.ok_json(&[
        "export",
        "sightings",
        "--out",
        exp.to_str().expect("p"),
        "--json",
    ]);
    assert_eq!(e["sightings"], 5, "recording twice stores nothing new: {e}");
    // The member's own collection (TAXII member-<id>, REST /api/v1/sightings) holds them, once; no other
    // member's does.
    {
        let page = |member: i64| common::member_collection(&v.path("store"), member);
        let m: i64 = mid.parse().expect("id");
        let rows = page(m);
        assert_eq!(
            rows.len(),
            5,
            "one sighting per indicator, recorded twice, kept once"
        );
        assert!(rows
            .iter()
            .all(|r| r.json.contains("\"type\":\"sighting\"")));
        assert!(page(m + 1).is_empty() && page(1).is_empty());
    }
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(&exp).expect("read")).expect("bundle");
    let s = bundle["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| {
            o["type"] == "sighting"
                && o["sighting_of_ref"] == "indicator--aaaaaaaa-0000-4000-8000-000000000001"
        })
        .expect("sighting of evil.com");
    assert_eq!(s["count"], 2, "{s}");
    assert_eq!(s["first_seen"], "2024-05-01T10:00:00.500Z");
    assert_eq!(s["last_seen"], "2024-05-01T10:00:05.000Z");
    assert_eq!(s["where_sighted_refs"], json!([members["identity_id"]]));
    // The CSIRT holds the indicators the member hunted with; the sightings refer to them.
    let other = Vigil::new();
    curated(&other);
    other.ingest(&exp, &[]);
    let st = other.ok_json(&["stats", "--json"]);
    assert_eq!(st["objects"]["sighting"], 5, "{st}");
}

/// `suricata -T` loads `dir/vigil.rules` with the datasets, hash lists and IP reputation beside it.
fn suricata_accepts(dir: &Path, logdir: &Path) {
    // The IP reputation settings exist only when there are CIDR indicators.
    let rep = std::fs::read_to_string(dir.join("vigil-suricata.yaml")).unwrap_or_default();
    let body: String = rep
        .lines()
        .filter(|l| !l.starts_with('%') && *l != "---")
        .collect::<Vec<_>>()
        .join("\n");
    let conf = logdir.with_extension("yaml");
    std::fs::write(
        &conf,
        format!("%YAML 1.1\n---\ninclude: /etc/suricata/suricata.yaml\n{body}\n"),
    )
    .expect("write");
    std::fs::create_dir_all(logdir).expect("mkdir");
    let o = Command::new("suricata")
        .arg("-T")
        .arg("-c")
        .arg(&conf)
        .arg("-S")
        .arg(dir.join("vigil.rules"))
        .arg("-l")
        .arg(logdir)
        .output()
        .expect("suricata");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success() && !text.contains("\nE: "),
        "suricata -T: {text}"
    );
}

fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: {name} not installed (Debian: see ../shared/peers/README.md); that check did not run");
    }
    found
}

/// BIND's own zone checker accepts the RPZ file as a zone named `origin` (skipped, loudly, when it is absent).
fn checkzone_accepts(origin: &str, zone: &Path) {
    if !tool("named-checkzone") {
        return;
    }
    let o = Command::new("named-checkzone")
        .arg(origin)
        .arg(zone)
        .output()
        .expect("named-checkzone");
    assert!(
        o.status.success(),
        "named-checkzone {origin}: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn indicators_with_invalid_values_are_left_out_with_their_reason() {
    // A peer's indicator can compare a value no address or name can have; it is stored as given, and an export
    // says which indicator it is and why it was left out, instead of counting it as a general pattern.
    let v = Vigil::new();
    let objs = vec![
        indicator(
            "indicator--bbbbbbbb-0000-4000-8000-000000000001",
            "[domain-name:value = 'evil.com']",
            Tlp::Green,
            json!({}),
        ),
        indicator(
            "indicator--bbbbbbbb-0000-4000-8000-000000000002",
            "[domain-name:value = 'not a domain!!']",
            Tlp::Green,
            json!({}),
        ),
        indicator(
            "indicator--bbbbbbbb-0000-4000-8000-000000000003",
            "[ipv4-addr:value = '999.1.1.1']",
            Tlp::Green,
            json!({}),
        ),
        indicator(
            "indicator--bbbbbbbb-0000-4000-8000-000000000004",
            "[domain-name:value = 'sinkhole.example' AND domain-name:value LIKE 'sink%']",
            Tlp::Green,
            json!({}),
        ),
        // The shape of OASIS's poisonivy.json example: the address beside the bad name is still exported.
        indicator(
            "indicator--bbbbbbbb-0000-4000-8000-000000000005",
            "[domain-name:value = 'domain autuo.example.net' OR ipv4-addr:value = '198.51.100.115']",
            Tlp::Green,
            json!({}),
        ),
        // Cyber-observables too: one whose value no address can have is named, a valid one is not.
        json!({"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--bbbbbbbb-0000-4000-8000-000000000006", "value": "999.1.1.1"}),
        json!({"type": "domain-name", "spec_version": "2.1", "id": "domain-name--bbbbbbbb-0000-4000-8000-000000000007", "value": "evil.example.org"}),
    ];
    let b = v.path("mixed.json");
    write_bundle(&b, objs);
    // The ingest stores everything, exits 0, and warns of the values that are not valid.
    let r = v.ok_json(&["ingest", b.to_str().expect("p"), "--json"]);
    assert_eq!(
        (r["added"].as_u64(), r["rejected"].as_u64()),
        (Some(7), Some(0)),
        "{r}"
    );
    let warned: Vec<&str> = r["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(|w| w["location"].as_str())
        .collect();
    assert_eq!(
        warned,
        [
            "indicator--bbbbbbbb-0000-4000-8000-000000000002",
            "indicator--bbbbbbbb-0000-4000-8000-000000000003",
            "indicator--bbbbbbbb-0000-4000-8000-000000000005",
            "ipv4-addr--bbbbbbbb-0000-4000-8000-000000000006"
        ],
        "{r}"
    );
    assert!(
        r["warnings"][3]["reason"]
            .as_str()
            .is_some_and(|w| w.contains("stored as given") && w.contains("`999.1.1.1`")),
        "{r}"
    );
    assert!(
        r["warnings"][0]["reason"]
            .as_str()
            .is_some_and(|w| w.contains("never match") && w.contains("`not a domain!!`")),
        "{r}"
    );
    let out = v.path("iocs.csv").display().to_string();
    let e = v.ok_json(&["export", "csv", "--out", &out, "--json"]);
    assert_eq!(e["indicators"], 5, "all five are selected: {e}");
    assert_eq!(e["values"], 2, "evil.com and 198.51.100.115: {e}");
    assert_eq!(e["not_exportable"], 3, "{e}");
    assert_eq!(e["invalid_values"], 2, "{e}");
    assert_eq!(e["partly_invalid"], 1, "{e}");
    let csv = std::fs::read_to_string(&out).expect("csv");
    assert!(
        csv.contains("198.51.100.115") && !csv.contains("autuo"),
        "{csv}"
    );
    let notes = e["notes"].to_string();
    for want in [
        "indicator--bbbbbbbb-0000-4000-8000-000000000002: invalid domain value `not a domain!!`",
        "indicator--bbbbbbbb-0000-4000-8000-000000000003: invalid ipv4 value `999.1.1.1`",
        "indicator--bbbbbbbb-0000-4000-8000-000000000005: invalid domain value `domain autuo.example.net`",
    ] {
        assert!(notes.contains(want), "{want} missing from {notes}");
    }
    assert!(
        !notes.contains("000000000004"),
        "a general pattern is not invalid: {notes}"
    );
    let text = v.run(&["export", "csv", "--out", &out]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("2 with invalid values, 1 general patterns (not expressible as csv)"),
        "{text}"
    );
    // Hunting keeps the address too: the matcher leaves out the invalid name alone and says so.
    let snap = v.path("intel.vgs");
    let s = v.ok_json(&["snapshot", "--out", snap.to_str().expect("p"), "--json"]);
    assert_eq!(
        (
            s["indicators"].as_u64(),
            s["rejected"].as_u64(),
            s["partly_invalid"].as_u64()
        ),
        (Some(3), Some(2), Some(1)),
        "{s}"
    );
    assert!(
        s["partly_invalid_first"][0].as_str().is_some_and(|r| r
            .contains("indicator--bbbbbbbb-0000-4000-8000-000000000005")
            && r.contains("domain autuo.example.net")),
        "{s}"
    );
    let log = v.path("conn.log");
    std::fs::write(
        &log,
        concat!(
            r#"{"_path":"conn","ts":1714557601.0,"uid":"C1","id.orig_h":"10.0.0.5","id.orig_p":40000,"id.resp_h":"198.51.100.115","id.resp_p":443,"proto":"tcp"}"#,
            "\n",
            r#"{"_path":"dns","ts":1714557602.0,"uid":"C2","id.orig_h":"10.0.0.5","id.orig_p":5353,"id.resp_h":"10.0.0.53","id.resp_p":53,"query":"autuo.example.net"}"#,
            "\n"
        ),
    )
    .expect("write");
    for extra in [vec![], vec!["--snapshot", snap.to_str().expect("p")]] {
        let (rows, sum, code) = hunt_rows(&v, &log, &extra);
        assert_eq!(code, 0, "a sighting: {sum}");
        if extra.is_empty() {
            // The JSON summary says what the selection left out, as `vigil snapshot --json` does.
            assert_eq!(
                (
                    sum["rejected"].as_u64(),
                    sum["partly_invalid"].as_u64(),
                    sum["selection"]["kept"].as_u64()
                ),
                (Some(2), Some(1), Some(5)),
                "{sum}"
            );
        } else {
            assert!(
                sum.get("rejected").is_none(),
                "a snapshot was selected before: {sum}"
            );
        }
        assert_eq!(
            rows,
            vec![(1, "id.resp_h".to_string(), "198.51.100.115".to_string())],
            "{sum}"
        );
    }
    let o = v.run(&[
        "hunt",
        log.to_str().expect("p"),
        "--out",
        v.path("rows.jsonl").to_str().expect("p"),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("2 rejected by the matcher")
            && err.contains("1 indicators hunted without some of their values"),
        "{err}"
    );
}

#[test]
fn exports_are_accepted_by_the_tools_that_read_them() {
    let v = Vigil::new();
    curated(&v);
    let p = |n: &str| v.path(n).display().to_string();
    // Every export leaves out expired, revoked, warning-listed and decayed indicators; --tlp-max filters.
    for (kind, out) in [
        ("suricata", p("suricata")),
        ("zeek", p("intel.dat")),
        ("rpz", p("vigil.rpz")),
        ("blocklist", p("block")),
        ("csv", p("iocs.csv")),
        ("misp", p("event.json")),
        ("misp-feed", p("feed")),
    ] {
        for tlp in ["green", "red"] {
            let e = v.ok_json(&["export", kind, "--out", &out, "--tlp-max", tlp, "--json"]);
            let mut text = String::new();
            for f in e["files"].as_array().expect("files") {
                text.push_str(&std::fs::read_to_string(f.as_str().expect("path")).expect("read"));
            }
            for gone in [
                "expired.example.net",
                "revoked.example.net",
                "google.com",
                "203.0.113.9",
                "113.0.203",
            ] {
                assert!(!text.contains(gone), "{kind} exports {gone}");
            }
            let amber_url = text.contains("gate.php") || text.contains("Z2F0ZS5waHA");
            let red_ip = text.contains("2001:db8:bad::7") || text.contains("7.zz.bad.db8.2001");
            if tlp == "green" {
                assert!(!amber_url && !red_ip, "{kind} leaks above TLP:GREEN");
                assert_eq!(e["selection"]["warninglisted"], 1, "{e}");
                assert_eq!(e["selection"]["expired"], 1, "{e}");
                assert_eq!(e["selection"]["below_min_score"], 1, "{e}");
            }
            if tlp == "red" && matches!(kind, "zeek" | "csv" | "misp" | "blocklist") {
                assert!(
                    amber_url && red_ip,
                    "{kind} at TLP:RED lacks the AMBER URL or the RED address"
                );
            }
        }
    }
    // Zeek Intel framework: the #fields header and tab-separated columns with Intel:: types.
    let intel = std::fs::read_to_string(v.path("intel.dat")).expect("read");
    let mut lines = intel.lines();
    assert_eq!(
        lines.next(),
        Some("#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert!(rows
        .iter()
        .all(|r| r.len() == 5 && r[1].starts_with("Intel::")));
    assert!(rows
        .iter()
        .any(|r| r[0] == "evil.com" && r[1] == "Intel::DOMAIN"));
    assert!(rows
        .iter()
        .any(|r| r[0] == "evil.com/gate.php" && r[1] == "Intel::URL"));
    assert!(rows
        .iter()
        .any(|r| r[0] == "198.51.100.0/24" && r[1] == "Intel::SUBNET"));
    assert!(rows.iter().any(|r| r[1] == "Intel::FILE_HASH"));
    assert!(rows
        .iter()
        .any(|r| r[0] == "boss@evil.com" && r[1] == "Intel::EMAIL"));
    // RPZ: named-checkzone accepts the zone.
    let rpz = std::fs::read_to_string(v.path("vigil.rpz")).expect("read");
    assert!(rpz.contains("\nevil.com\tCNAME\t.\n") && rpz.contains("\n*.evil.com\tCNAME\t."));
    assert!(rpz.contains("24.0.100.51.198.rpz-ip\tCNAME\t."));
    assert!(
        rpz.contains("128.7.zz.bad.db8.2001.rpz-ip\tCNAME\t."),
        "{rpz}"
    );
    checkzone_accepts("rpz.vigil", &v.path("vigil.rpz"));
    // Suricata: -T loads the rules with their datasets, hash lists and IP reputation.
    let rules = std::fs::read_to_string(v.path("suricata/vigil.rules")).expect("rules");
    assert!(rules.contains("dataset:isset,vigil-domains,type string,load vigil-domains.lst"));
    assert!(rules.contains("iprep:any,VigilIOC"));
    assert!(rules.contains("filesha256:vigil-sha256.lst"));
    assert!(rules.contains("http.uri; content:\"/gate.php\""));
    if tool("suricata") {
        suricata_accepts(&v.path("suricata"), &v.path("suricata-log"));
    }
    // MISP: PyMISP loads the event and every feed event (strict: types, categories).
    let feed = v.path("feed");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(feed.join("manifest.json")).expect("manifest"))
            .expect("json");
    let hashes = std::fs::read_to_string(feed.join("hashes.csv")).expect("hashes");
    for uuid in manifest.as_object().expect("object").keys() {
        assert!(feed.join(format!("{uuid}.json")).is_file());
        assert!(hashes.contains(uuid.as_str()));
    }
    // MISP feed hashes: md5 of each attribute value, with the event it is in.
    use md5::Digest as _;
    let h: String = md5::Md5::digest(b"evil.com")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        hashes.lines().any(|l| l.starts_with(&format!("{h},"))),
        "{hashes}"
    );
    let mut files = vec![v.path("event.json")];
    files.extend(
        manifest
            .as_object()
            .expect("object")
            .keys()
            .map(|uuid| feed.join(format!("{uuid}.json"))),
    );
    pymisp_loads(&files, "PyMISP");
}

/// PyMISP (`../shared/peers/misp_load.py --strict`) loads every file, or a loud skip when the peer is absent.
fn pymisp_loads(files: &[PathBuf], what: &str) {
    let venv = std::env::var("VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-peers"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peers/misp_load.py");
    let python = venv.join("bin/python");
    if python.exists() && script.exists() {
        let o = Command::new(&python)
            .arg(&script)
            .args(files)
            .arg("--strict")
            .output()
            .expect("misp_load");
        assert!(
            o.status.success(),
            "{what}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    } else {
        eprintln!(
            "SKIPPED: PyMISP peer not found ({} / {})",
            python.display(),
            script.display()
        );
    }
}

#[test]
fn detection_exports_over_rest_follow_the_callers_scope() {
    let v = Vigil::new();
    curated(&v);
    // An AMBER actor behind the family: its name may reach the operator's files, never a member's.
    let extra = v.path("amber-actor.json");
    let mut actor = named(
        "intrusion-set",
        "intrusion-set--11111111-0000-4000-8000-000000000003",
        "Storm-Amber",
    );
    actor["object_marking_refs"] = json!([Tlp::Amber.marking_id()]);
    write_bundle(
        &extra,
        vec![
            actor,
            rel(
                3,
                "attributed-to",
                "malware--11111111-0000-4000-8000-000000000001",
                "intrusion-set--11111111-0000-4000-8000-000000000003",
            ),
        ],
    );
    v.ingest(&extra, &[]);
    let member = add_member(&v);
    let token = |member: &str, role: &str| new_token(&v, member, role);
    let member_token = token(&member, "member");
    let operator_token = token("1", "analyst");
    let server = common::serve(&v.dir.path().join("store"), &["--no-feeds"]);
    let base = server.base.clone();
    let http = reqwest::blocking::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().expect("GET");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().expect("body"))
    };

    // A member gets GREEN indicators; not the AMBER URL, the RED address or the AMBER actor's name.
    let (status, h, zeek) = get("/api/v1/exports/zeek", Some(&member_token));
    assert_eq!(status, 200, "{zeek}");
    assert!(h["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/plain"));
    assert_eq!(h["cache-control"], "private, no-store");
    assert!(
        zeek.starts_with("#fields\tindicator\tindicator_type"),
        "{zeek}"
    );
    for present in [
        "evil.com\tIntel::DOMAIN",
        "198.51.100.0/24\tIntel::SUBNET",
        "boss@evil.com",
        "LummaC2",
    ] {
        assert!(
            zeek.contains(present),
            "member's zeek file lacks {present}: {zeek}"
        );
    }
    for absent in [
        "gate.php",
        "2001:db8:bad::7",
        "Storm-Amber",
        "google.com",
        "expired.example.net",
        "revoked.example.net",
        "203.0.113.9",
    ] {
        assert!(
            !zeek.contains(absent),
            "member's zeek file holds {absent}: {zeek}"
        );
    }
    let values: usize = h["x-vigil-values"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("count");
    assert_eq!(values, zeek.lines().count() - 1);

    // Every format answers with a media type the OpenAPI document names for it (schemathesis found text/csv
    // answered where only text/plain was documented).
    let (_, _, doc) = get("/api/v1/openapi.json", None);
    let doc: Value = serde_json::from_str(&doc).expect("OpenAPI JSON");
    let documented =
        &doc["paths"]["/api/v1/exports/{format}"]["get"]["responses"]["200"]["content"];
    for format in vigil_server::detection::FORMATS {
        let (status, h, _) = get(&format!("/api/v1/exports/{format}"), Some(&member_token));
        assert_eq!(status, 200, "{format}");
        let ct = h["content-type"].to_str().expect("ascii");
        let media = ct.split(';').next().unwrap_or(ct).trim();
        assert!(
            documented.get(media).is_some(),
            "{format} answers {ct}, which the OpenAPI document does not name: {documented}"
        );
    }

    // Sharing the AMBER URL with the member adds it to the member's files, and only to its own.
    share_amber_url(&v, &member);
    let (_, _, csv) = get("/api/v1/exports/csv", Some(&member_token));
    assert!(csv.contains("gate.php"), "{csv}");
    assert!(
        !csv.contains("2001:db8:bad::7") && !csv.contains("Storm-Amber"),
        "{csv}"
    );
    let other = v.ok_json(&[
        "members",
        "add",
        "--name",
        "Agency B",
        "--country",
        "LV",
        "--kind",
        "agency",
        "--json",
    ]);
    let other_token = token(&other["id"].as_i64().expect("id").to_string(), "member");
    let (_, _, csv_b) = get("/api/v1/exports/csv", Some(&other_token));
    assert!(
        csv_b.contains("evil.com") && !csv_b.contains("gate.php"),
        "{csv_b}"
    );
    // ... and the member may narrow it to GREEN again.
    let (_, _, green) = get("/api/v1/exports/csv?tlp_max=green", Some(&member_token));
    assert!(
        green.contains("evil.com") && !green.contains("gate.php"),
        "{green}"
    );

    // The operator's analyst sees everything, names behind names included; tlp_max and min_score filter.
    let (_, _, all) = get("/api/v1/exports/zeek", Some(&operator_token));
    for present in ["gate.php", "2001:db8:bad::7", "Storm-Amber"] {
        assert!(
            all.contains(present),
            "operator's zeek file lacks {present}: {all}"
        );
    }
    assert!(
        !all.contains("203.0.113.9"),
        "a decayed indicator is exported: {all}"
    );
    let (_, _, any_score) = get("/api/v1/exports/zeek?min_score=0", Some(&operator_token));
    assert!(any_score.contains("203.0.113.9"), "{any_score}");
    let (_, _, green_only) = get("/api/v1/exports/zeek?tlp_max=green", Some(&operator_token));
    assert!(
        green_only.contains("evil.com") && !green_only.contains("gate.php"),
        "{green_only}"
    );

    // RPZ with the caller's zone origin, accepted by named-checkzone; MISP with one stable event per caller.
    let (status, h, rpz) = get(
        "/api/v1/exports/rpz?zone=rpz.example.ee",
        Some(&member_token),
    );
    assert_eq!(status, 200, "{rpz}");
    assert_eq!(h["content-type"], "text/dns");
    assert!(rpz.contains("\nevil.com\tCNAME\t.\n"), "{rpz}");
    let zone = v.path("rest.rpz");
    std::fs::write(&zone, &rpz).expect("write");
    checkzone_accepts("rpz.example.ee", &zone);
    let misp = |t: &str| -> Value {
        let (status, _, body) = get("/api/v1/exports/misp", Some(t));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("MISP JSON")
    };
    let (a, b) = (misp(&member_token), misp(&member_token));
    assert_eq!(a["Event"]["uuid"], b["Event"]["uuid"]);
    assert_ne!(a["Event"]["uuid"], misp(&other_token)["Event"]["uuid"]);
    assert!(a["Event"]["Attribute"]
        .as_array()
        .expect("attributes")
        .iter()
        .any(|x| x["value"] == "evil.com"));

    // Directory formats come as a gzip tarball of the files `vigil export` writes, from the caller's view.
    let tarball = |path: &str, t: &str| -> (u16, HeaderMap, BTreeMap<String, String>) {
        let resp = http
            .get(format!("{base}{path}"))
            .bearer_auth(t)
            .send()
            .expect("GET");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().expect("body");
        let mut files = BTreeMap::new();
        if status == 200 {
            let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&body[..]));
            for e in ar.entries().expect("a tar.gz") {
                let mut e = e.expect("an entry");
                let name = e.path().expect("name").display().to_string();
                let mut text = String::new();
                std::io::Read::read_to_string(&mut e, &mut text).expect("UTF-8 file");
                files.insert(name, text);
            }
        }
        (status, headers, files)
    };
    let unpack_here = v.path("rest-suricata");
    let (status, h, sur) = tarball(
        &format!(
            "/api/v1/exports/suricata?sid_base=42&suricata_dir={}",
            unpack_here.display()
        ),
        &member_token,
    );
    assert_eq!(status, 200);
    assert_eq!(h["content-type"], "application/gzip");
    assert!(h["content-disposition"]
        .to_str()
        .expect("ascii")
        .contains("vigil-suricata.tar.gz"));
    assert!(
        h.get_all("x-vigil-notes")
            .iter()
            .any(|n| n.to_str().unwrap_or("").contains("exact name")),
        "{h:?}"
    );
    let rules = &sur["vigil.rules"];
    assert!(rules.contains(" sid:42; rev:1;)"), "{rules}");
    assert!(
        rules.contains("content:\"/gate.php\""),
        "the shared URL: {rules}"
    );
    assert!(
        !rules.contains("Storm-Amber") && !sur.contains_key("vigil-ipv6.lst"),
        "{sur:?}"
    );
    assert!(sur["vigil-domains.lst"]
        .lines()
        .any(|l| l == "ZXZpbC5jb20="));
    assert!(sur["vigil-suricata.yaml"].contains(&format!(
        "default-reputation-path: {}",
        unpack_here.display()
    )));
    if tool("suricata") {
        std::fs::create_dir_all(&unpack_here).expect("mkdir");
        for (name, text) in &sur {
            std::fs::write(unpack_here.join(name), text).expect("unpack");
        }
        suricata_accepts(&unpack_here, &v.path("rest-suricata-log"));
    }
    let (_, _, sur_b) = tarball("/api/v1/exports/suricata", &other_token);
    assert!(
        !sur_b["vigil.rules"].contains("gate.php"),
        "another member's rules hold the shared URL"
    );
    assert!(sur_b["vigil-suricata.yaml"].contains("/var/lib/suricata/rules/vigil"));
    let (_, _, sur_op) = tarball("/api/v1/exports/suricata", &operator_token);
    assert!(sur_op["vigil-ipv6.lst"].contains("2001:db8:bad::7"));
    let (status, _, lists) = tarball("/api/v1/exports/blocklist", &member_token);
    assert_eq!(status, 200);
    assert!(lists["domains.txt"].lines().any(|l| l == "evil.com"));
    assert!(lists["urls.txt"].contains("gate.php"));
    assert!(!lists.contains_key("ipv6.txt"), "{lists:?}");
    let (status, _, feed) = tarball("/api/v1/exports/misp-feed", &member_token);
    assert_eq!(status, 200);
    let manifest: Value = serde_json::from_str(&feed["manifest.json"]).expect("manifest");
    let events = manifest.as_object().expect("object");
    assert!(!events.is_empty());
    for uuid in events.keys() {
        let ev: Value = serde_json::from_str(&feed[&format!("{uuid}.json")]).expect("event");
        assert_eq!(ev["Event"]["uuid"], uuid.as_str());
        assert!(feed["hashes.csv"].contains(uuid.as_str()));
    }
    assert!(!feed.values().any(|f| f.contains("Storm-Amber")));

    // The same feed served as MISP fetches feeds (manifest.json, then each event by UUID), from the member's view.
    let (status, h, manifest_txt) = get("/api/v1/feeds/misp/manifest.json", Some(&member_token));
    assert_eq!(status, 200, "{manifest_txt}");
    assert_eq!(h["content-type"], "application/json");
    let served: Value = serde_json::from_str(&manifest_txt).expect("manifest");
    assert_eq!(
        served
            .as_object()
            .expect("object")
            .keys()
            .collect::<Vec<_>>(),
        events.keys().collect::<Vec<_>>()
    );
    let feed_dir = v.path("rest-feed");
    std::fs::create_dir_all(&feed_dir).expect("mkdir");
    let mut feed_values = BTreeSet::new();
    for uuid in events.keys() {
        let (status, _, ev) = get(
            &format!("/api/v1/feeds/misp/{uuid}.json"),
            Some(&member_token),
        );
        assert_eq!(status, 200, "{ev}");
        let e: Value = serde_json::from_str(&ev).expect("event");
        for a in e["Event"]["Attribute"].as_array().expect("attributes") {
            feed_values.insert(a["value"].as_str().expect("value").to_string());
        }
        std::fs::write(feed_dir.join(format!("{uuid}.json")), ev).expect("write");
    }
    assert!(feed_values.contains("evil.com"));
    assert!(
        feed_values.iter().any(|x| x.contains("gate.php")),
        "{feed_values:?}"
    );
    assert!(!feed_values.contains("2001:db8:bad::7"), "{feed_values:?}");
    let (status, _, hashes) = get("/api/v1/feeds/misp/hashes.csv", Some(&member_token));
    assert_eq!(status, 200);
    assert_eq!(hashes.lines().count(), feed_values.len());
    // Another member's feed: its own view, never the member's cached one.
    let (_, _, manifest_b) = get("/api/v1/feeds/misp/manifest.json", Some(&other_token));
    let uuids_b: BTreeSet<String> = serde_json::from_str::<Value>(&manifest_b)
        .expect("manifest")
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    for uuid in events.keys().filter(|u| !uuids_b.contains(*u)) {
        let (status, _, _) = get(
            &format!("/api/v1/feeds/misp/{uuid}.json"),
            Some(&other_token),
        );
        assert_eq!(
            status, 404,
            "another member reads event {uuid} of the member's feed"
        );
    }
    for uuid in &uuids_b {
        let (_, _, ev) = get(
            &format!("/api/v1/feeds/misp/{uuid}.json"),
            Some(&other_token),
        );
        assert!(!ev.contains("gate.php"), "{ev}");
    }
    for bad in ["../manifest.json", "nope.json", "manifest.xml"] {
        let (status, _, _) = get(&format!("/api/v1/feeds/misp/{bad}"), Some(&member_token));
        assert_eq!(status, 404, "{bad}");
    }
    let (status, _, _) = get("/api/v1/feeds/misp/manifest.json", None);
    assert_eq!(status, 401);
    let served_events: Vec<PathBuf> = events
        .keys()
        .map(|u| feed_dir.join(format!("{u}.json")))
        .collect();
    pymisp_loads(&served_events, "PyMISP on the served feed");

    // Errors: no token, an unknown format, bad parameters; each a JSON error, none a leak.
    let (status, _, _) = get("/api/v1/exports/zeek", None);
    assert_eq!(status, 401);
    let (status, _, body) = get("/api/v1/exports/snort", Some(&member_token));
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("zeek, rpz, csv, misp"), "{body}");
    for bad in [
        "tlp_max=purple",
        "min_score=120",
        "zone=a%20b",
        "zone=x%0Ay",
        "suricata_dir=rules",
        "suricata_dir=/etc/../root",
        "sid_base=0",
    ] {
        let (status, _, body) = get(&format!("/api/v1/exports/rpz?{bad}"), Some(&member_token));
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(serde_json::from_str::<Value>(&body).is_ok(), "{body}");
    }
    // The operator's STIX export still has its own route.
    let (status, _, body) = get("/api/v1/exports/stix", Some(&member_token));
    assert_eq!(status, 200, "{body}");
}

/// `../shared/data` when it holds `dir`; otherwise a loud skip of `what`.
fn shared_data(dir: &str, what: &str) -> Option<PathBuf> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if data.join(dir).is_dir() {
        return Some(data);
    }
    eprintln!(
        "\n*** SKIPPED: shared data not found at {}; {what} did not run ***\n",
        data.display()
    );
    None
}

#[test]
fn real_zeek_logs_are_read_and_hunted() {
    let Some(data) = shared_data("zeek-wrccdc", "the real-telemetry test") else {
        return;
    };
    let v = Vigil::new();
    v.ingest(
        &data.join("maltrail/lummac2.txt"),
        &[
            "--format",
            "iocs",
            "--source",
            "maltrail-lummac2",
            "--confidence",
            "90",
        ],
    );
    let eset = data.join("eset-malware-ioc/emotet");
    for f in ["samples.md5", "samples.sha1", "samples.sha256"] {
        v.ingest(
            &eset.join(f),
            &[
                "--format",
                "iocs",
                "--source",
                "eset-emotet",
                "--confidence",
                "90",
            ],
        );
    }
    // Names known to occur in the WRCCDC traffic, so the hunt has something to find.
    let b = v.path("known.json");
    write_bundle(
        &b,
        vec![indicator(
            "indicator--bbbbbbbb-0000-4000-8000-000000000001",
            "[domain-name:value = 'wrccdc.org']",
            Tlp::Green,
            json!({}),
        )],
    );
    v.ingest(&b, &[]);
    let mut logs: Vec<PathBuf> = Vec::new();
    for sub in [
        "zeek-wrccdc/zeek-json",
        "zeek-wrccdc/zeek-default",
        "telemetry-misc/zeek-infectedpcap",
        "telemetry-misc/suricata-eve",
    ] {
        let mut v: Vec<PathBuf> = std::fs::read_dir(data.join(sub))
            .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.retain(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n == "README.md" || n == "LICENSE")
        });
        logs.extend(v);
    }
    logs.sort();
    assert!(
        logs.len() > 60,
        "expected the WRCCDC logs, found {}",
        logs.len()
    );
    let out = v.path("real.jsonl");
    let mut args: Vec<String> = vec![
        "hunt".into(),
        "--out".into(),
        out.display().to_string(),
        "--json".into(),
    ];
    args.extend(logs.iter().map(|p| p.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = v.run(&refs);
    let sum: Value = serde_json::from_slice(&o.stdout).expect("summary");
    assert_eq!(o.status.code(), Some(0), "{sum}");
    assert_eq!(
        sum["unparsable"], 0,
        "unparsable lines in real logs: {}",
        sum["errors"]
    );
    assert_eq!(sum["file_errors"], json!([]));
    assert!(sum["lines"].as_u64().expect("lines") > 300_000, "{sum}");
    assert!(sum["indicators"].as_u64().expect("n") > 10_000, "{sum}");
    let rows = sightings(&out);
    assert!(rows.iter().any(|s| s["indicator"] == "wrccdc.org"));
}

#[test]
fn truncated_gzip_keeps_earlier_hits_and_reports_where_it_ended() {
    let v = Vigil::new();
    curated(&v);
    let mut text = String::new();
    for _ in 0..3000 {
        text.push_str(CURATED_LOG);
    }
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).expect("gzip");
    let gz = e.finish().expect("gzip");
    let cut = v.path("cut.json.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).expect("write");
    let (rows, sum, code) = hunt_rows(&v, &cut, &[]);
    assert_eq!(code, 2, "{sum}");
    assert!(
        rows.len() > 1000,
        "hits before the cut are kept: {}",
        rows.len()
    );
    let err = sum["file_errors"][0]["reason"].as_str().expect("reason");
    assert!(err.contains("ended early"), "{err}");
}

/// A log exported by a Windows tool (UTF-16LE with a byte-order mark, as PowerShell 5.1's `>` writes it; UTF-16BE
/// without one, gzipped) is hunted as its text: the same sightings, on the same lines, as the UTF-8 file.
#[test]
fn utf16_logs_give_the_sightings_of_their_text() {
    use vigil_model::encoding::{encode_utf16, Utf16Order};
    let v = Vigil::new();
    curated(&v);
    let plain = v.path("dns.json");
    std::fs::write(&plain, CURATED_LOG).expect("write");
    let (want, sum, code) = hunt_rows(&v, &plain, &[]);
    assert_eq!(code, 0, "{sum}");
    assert!(!want.is_empty(), "the curated log has hits");
    let le = v.path("dns-le.json");
    std::fs::write(&le, encode_utf16(CURATED_LOG, Utf16Order::Little, true)).expect("write");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&encode_utf16(CURATED_LOG, Utf16Order::Big, false))
        .expect("gzip");
    let be = v.path("dns-be.json.gz");
    std::fs::write(&be, e.finish().expect("gzip")).expect("write");
    for log in [le, be] {
        let (got, sum, code) = hunt_rows(&v, &log, &[]);
        assert_eq!(code, 0, "{}: {sum}", log.display());
        assert_eq!(got, want, "{}", log.display());
        assert_eq!(sum["unparsable"], 0, "{sum}");
    }
}

/// A proxy log line with raw bytes in its URL (chosen by whoever serves or requests it) is hunted with those bytes
/// replaced: skipped, as it was, it hid its host from the hunt.
#[test]
fn a_line_with_bytes_that_are_not_utf8_is_still_hunted() {
    let v = Vigil::new();
    let iocs = v.path("iocs.txt");
    std::fs::write(&iocs, "evil-update.com\n").expect("write");
    v.ingest(&iocs, &["--format", "iocs"]);
    let log = v.path("access.log");
    std::fs::write(
        &log,
        b"1733560000.123    120 10.0.0.5 TCP_MISS/200 5120 GET http://evil-update.com/\xff\xfepayload.bin - \
          HIER_DIRECT/203.0.113.9 application/octet-stream\n\
          1733560001.123    120 10.0.0.5 TCP_MISS/200 5120 GET http://ok.example.org/ - HIER_DIRECT/203.0.113.10 text/html\n",
    )
    .expect("write");
    let (rows, sum, code) = hunt_rows(&v, &log, &[]);
    assert_eq!(code, 0, "{sum}");
    assert_eq!(
        rows,
        [(1, "host".to_string(), "evil-update.com".to_string())],
        "{sum}"
    );
    assert_eq!(
        (sum["unparsable"].as_u64(), sum["repaired_lines"].as_u64()),
        (Some(0), Some(1)),
        "{sum}"
    );
}

/// A store holding the IOC list `iocs`.
fn store_with_iocs(iocs: &str) -> Vigil {
    let v = Vigil::new();
    let list = v.path("iocs.txt");
    std::fs::write(&list, iocs).expect("write");
    v.ingest(&list, &["--format", "iocs"]);
    v
}

/// The hunt of `text` written to `name` (recognised, no `--format`): the sightings' (line, field, indicator)
/// and the summary, once checked that it ended 0, read `format` and every line.
fn hunt_text(
    v: &Vigil,
    name: &str,
    text: &str,
    format: &str,
) -> (Vec<(u64, String, String)>, Value) {
    let log = v.path(name);
    std::fs::write(&log, text).expect("write");
    let (rows, sum, code) = hunt_rows(v, &log, &[]);
    assert_eq!(code, 0, "{sum}");
    assert_eq!(
        (sum["unparsable"].as_u64(), sum["formats"][0][1].as_str()),
        (Some(0), Some(format)),
        "{sum}"
    );
    (rows, sum)
}

/// The logs of a Windows shop: the DNS Server's debug log (`dns.log`, CRLF, its preamble, a packet's details
/// with the answer) and IIS's W3C log (a new `#Fields:` directive after a restart) are recognised and hunted.
#[test]
fn windows_dns_debug_and_iis_logs_are_hunted() {
    let v = store_with_iocs(
        "evil-update.com\n203.0.113.66\nhttp://intranet.example.org/aspnet_client/shell.aspx\n",
    );
    let text = concat!(
        "DNS Server log file creation at 07.12.2026 09:00:00\r\n",
        "Log file wrap at 07.12.2026 09:00:00\r\n",
        "\r\n",
        "Message logging key (for packets - other items use a subset of these fields):\r\n",
        "\tField #  Information         Values\r\n",
        "\t-------  -----------         ------\r\n",
        "\t   1     Date\r\n",
        "\t  16     Question Name\r\n",
        "\r\n",
        "07.12.2026 09:15:32 0B5C PACKET  000002B1C7D4A0F0 UDP Rcv 10.20.31.77     6c1a   Q [0001   D   NOERROR] A      (3)cdn(11)evil-update(3)com(0)\r\n",
        "07.12.2026 09:15:32 0B5C PACKET  000002B1C7D4A0F0 UDP Rcv 10.20.31.78     6c1b   Q [0001   D   NOERROR] A      (3)www(4)bund(2)de(0)\r\n",
        "07.12.2026 09:15:33 0B5C PACKET  000002B1C8A1B2C0 UDP Snd 10.20.31.79     6c1c R Q [8081   DR  NOERROR] A      (5)files(7)example(3)net(0)\r\n",
        "UDP response info at 000002B1C8A1B2C0\r\n",
        "  Socket = 696\r\n",
        "  Remote addr 10.20.31.79, port 57613\r\n",
        "    ANSWER SECTION:\r\n",
        "    Offset = 0x0027, RR count = 0\r\n",
        "    Name      \"[C00C](5)files(7)example(3)net(0)\"\r\n",
        "      TYPE   A  (1)\r\n",
        "      DATA   203.0.113.66\r\n",
        "07.12.2026 09:15:40 0B5C EVENT   The DNS server has finished the background loading of zones.\r\n",
    );
    let (rows, sum) = hunt_text(&v, "dns.log", text, "windns");
    assert_eq!(
        rows,
        [
            (10, "query".to_string(), "evil-update.com".to_string()),
            (20, "answer".to_string(), "203.0.113.66".to_string()),
        ],
        "{sum}"
    );
    let out = sightings(&v.path("rows.jsonl"));
    assert_eq!(out[0]["ts"], "2026-12-07T09:15:32Z", "{out:?}");
    // The server's clock is Vienna's: its local times are read there.
    let dns = v.path("dns.log");
    let (_, sum, code) = hunt_rows(&v, &dns, &["--log-tz", "Europe/Vienna"]);
    assert_eq!(code, 0, "{sum}");
    let out = sightings(&v.path("rows.jsonl"));
    assert_eq!(out[0]["ts"], "2026-12-07T08:15:32Z", "{out:?}");
    let o = v.run(&["hunt", dns.to_str().expect("p"), "--log-tz", "Europe/Wien"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--log-tz \"Europe/Wien\": not a time zone"),
        "{err}"
    );

    let text = concat!(
        "#Software: Microsoft Internet Information Services 10.0\r\n",
        "#Version: 1.0\r\n",
        "#Date: 2026-12-07 00:00:01\r\n",
        "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n",
        "2026-12-07 00:00:01 10.0.0.10 GET /owa/auth/logon.aspx - 443 - 203.0.113.66 Mozilla/5.0+(evil-update.com) - 200 0 0 15\r\n",
        "#Software: Microsoft Internet Information Services 10.0\r\n",
        "#Version: 1.0\r\n",
        "#Date: 2026-12-07 08:00:00\r\n",
        "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port c-ip cs-host sc-status\r\n",
        "2026-12-07 08:01:02 10.0.0.10 POST /aspnet_client/shell.aspx cmd=whoami 443 198.51.100.4 intranet.example.org 200\r\n",
        "2026-12-07 08:01:03 10.0.0.10 GET /index.html - 443 198.51.100.4 intranet.example.org 200\r\n",
    );
    let (rows, sum) = hunt_text(&v, "u_ex261207.log", text, "w3c");
    assert_eq!(
        rows,
        [
            (5, "c-ip".to_string(), "203.0.113.66".to_string()),
            (
                10,
                "cs-uri-stem".to_string(),
                "http://intranet.example.org/aspnet_client/shell.aspx".to_string()
            ),
        ],
        "{sum}"
    );
}

/// Elastic Common Schema as Winlogbeat writes Sysmon's events and Elasticsearch exports them: recognised, and
/// only the fields that name something are looked up (not the user agent beside them).
#[test]
fn elastic_common_schema_events_are_hunted() {
    let v = store_with_iocs("evil-update.com\n203.0.113.66\n");
    let text = concat!(
        r#"{"@timestamp":"2026-12-07T09:15:32.123Z","ecs":{"version":"8.0.0"},"event":{"code":"22","module":"sysmon"},"dns":{"question":{"name":"cdn.evil-update.com"},"resolved_ip":["203.0.113.66"]},"process":{"executable":"C:\\Windows\\System32\\rundll32.exe"}}"#,
        "\n",
        r#"{"@timestamp":"2026-12-07T09:15:33Z","ecs":{"version":"8.0.0"},"event":{"code":"3"},"source":{"ip":"10.0.0.5"},"destination":{"ip":"198.51.100.9","port":443},"user_agent":{"original":"evil-update.com"}}"#,
        "\n",
        r#"{"_index":"logs-endpoint","_id":"a1","_source":{"@timestamp":"2026-12-07T09:15:34Z","destination":{"ip":"203.0.113.66"}}}"#,
        "\n",
    );
    let (rows, sum) = hunt_text(&v, "winlogbeat.ndjson", text, "ecs");
    assert_eq!(
        rows,
        [
            (
                1,
                "dns.question.name".to_string(),
                "evil-update.com".to_string()
            ),
            (1, "dns.resolved_ip".to_string(), "203.0.113.66".to_string()),
            (3, "destination.ip".to_string(), "203.0.113.66".to_string()),
        ],
        "{sum}"
    );
    let out = sightings(&v.path("rows.jsonl"));
    assert_eq!(out[0]["ts"], "2026-12-07T09:15:32.123Z", "{out:?}");
}

/// FortiGate's logs as a syslog server keeps them: recognised; the DNS filter's answer addresses, the web
/// filter's URL rebuilt from host and path; the referrer beside them is not looked up; times from `eventtime`.
#[test]
fn fortigate_logs_are_hunted() {
    let v =
        store_with_iocs("evil-update.com\n203.0.113.66\nhttp://bad.example.net/gate.php?id=7\n");
    let text = concat!(
        r#"<188>1 2026-12-07T09:15:32Z fw01 - - - - eventtime=1796634932399466940 tz="+0100" logid="1501054803" type="utm" subtype="dns" eventtype="dns-response" srcip=10.20.31.77 srcport=36056 dstip=10.0.0.53 dstport=53 qname="www.bund.de" qtype="A" ipaddr="198.51.100.7, 203.0.113.66" action="pass""#,
        "\n",
        r#"<189>1 2026-12-07T09:15:40Z fw01 - - - - date=2026-12-07 time=10:15:40 tz="+0100" devid="FGT60FTK0000" logid="0316013056" type="utm" subtype="webfilter" eventtype="ftgd_allow" srcip=10.0.5.21 dstip=198.51.100.9 hostname="bad.example.net" url="/gate.php?id=7" referralurl="http://evil-update.com/""#,
        "\n",
    );
    let (rows, sum) = hunt_text(&v, "fortigate.log", text, "fortigate");
    assert_eq!(
        rows,
        [
            (1, "ipaddr".to_string(), "203.0.113.66".to_string()),
            (
                2,
                "url".to_string(),
                "http://bad.example.net/gate.php?id=7".to_string()
            ),
        ],
        "{sum}"
    );
    let out = sightings(&v.path("rows.jsonl"));
    assert_eq!(out[0]["ts"], "2026-12-07T09:15:32.399466940Z", "{out:?}");
    assert_eq!(out[1]["ts"], "2026-12-07T09:15:40Z", "{out:?}");
}

/// What SIEMs are fed: CEF (Check Point's exporter, over syslog) and LEEF 2.0 (QRadar) are recognised and
/// hunted by their extension keys (a custom string by its label); a message text naming an indicator is not.
#[test]
fn cef_and_leef_exports_are_hunted() {
    let v = store_with_iocs("evil-update.com\n203.0.113.66\n");
    let text = concat!(
        r"<134>Dec  7 09:15:32 cp-mgmt CEF:0|Check Point|VPN-1 & FireWall-1|Check Point|Log|dns|Unknown|act=Accept src=10.20.31.77 dst=10.0.0.53 dpt=53 proto=17 cs4Label=DNS Query cs4=cdn.evil-update.com rt=1796634932000",
        "\n",
        r"<134>Dec  7 09:15:33 cp-mgmt CEF:0|Check Point|VPN-1 & FireWall-1|Check Point|Log|https|Unknown|act=Drop src=10.20.31.77 dst=198.51.100.9 msg=reported by evil-update.com rt=Dec 07 2026 10:15:33 CET",
        "\n",
    );
    let (rows, sum) = hunt_text(&v, "checkpoint.log", text, "cef");
    assert_eq!(
        rows,
        [(1, "cs4".to_string(), "evil-update.com".to_string())],
        "{sum}"
    );
    let out = sightings(&v.path("rows.jsonl"));
    assert_eq!(out[0]["ts"], "2026-12-07T09:15:32Z", "{out:?}");
    let text = "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=203.0.113.66^dstPort=443^devTime=1796634932000\n";
    let (rows, sum) = hunt_text(&v, "qradar.log", text, "leef");
    assert_eq!(
        rows,
        [(1, "dst".to_string(), "203.0.113.66".to_string())],
        "{sum}"
    );
}

/// Windows event logs as an incident responder has them: `.evtx` converted by `evtx_dump -o jsonl` (Sysmon's
/// DNS query and process hashes, a failed logon's IPv4-mapped client, a download's `Zone.Identifier`), the same
/// events as XML (two on one line, as `wevtutil` writes them), and Winlogbeat's raw `winlog.event_data` through
/// the ECS reader. Each recognised without `--format`; user names, images and command lines never looked up.
#[test]
fn windows_event_logs_are_hunted() {
    let sha = "ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34ab12cd34";
    let v = store_with_iocs(&format!(
        "evil-update.com\n203.0.113.66\n198.51.100.23\nhttp://bad.example.net/gate.php?id=7\n{sha}\n"
    ));
    let sys = |id: u32, t: &str| {
        format!(
            r##""System":{{"Provider":{{"#attributes":{{"Name":"Microsoft-Windows-Sysmon"}}}},"EventID":{id},"TimeCreated":{{"#attributes":{{"SystemTime":"{t}"}}}},"Computer":"PC-0815"}}"##
        )
    };
    let json = [
        format!(
            r##"{{"Event":{{{},"EventData":{{"QueryName":"cdn.evil-update.com","QueryStatus":"0","QueryResults":"type:  5 edge.example.net;::ffff:203.0.113.66;","Image":"C:\\Windows\\System32\\rundll32.exe","User":"evil-update.com\\anna"}}}}}}"##,
            sys(22, "2026-12-07T09:15:32.1234567Z")
        ),
        format!(
            r##"{{"Event":{{{},"EventData":{{"Image":"C:\\Temp\\upd.exe","CommandLine":"upd.exe --from bad.example.net","Hashes":"MD5=00112233445566778899AABBCCDDEEFF,SHA256={},IMPHASH=FFEEDDCCBBAA99887766554433221100"}}}}}}"##,
            sys(1, "2026-12-07T09:15:33Z"),
            sha.to_uppercase()
        ),
        format!(
            r##"{{"Event":{{{},"EventData":{{"TargetUserName":"administrator","IpAddress":"::ffff:198.51.100.23","IpPort":"51515"}}}}}}"##,
            sys(4625, "2026-12-07T09:15:34Z")
        ),
        format!(
            r##"{{"Event":{{{},"EventData":{{"TargetFilename":"C:\\Users\\anna\\Downloads\\r.zip:Zone.Identifier","Contents":"[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=http://bad.example.net/gate.php?id=7\r\n"}}}}}}"##,
            sys(15, "2026-12-07T09:15:35Z")
        ),
    ]
    .join("\n")
        + "\n";
    let (rows, sum) = hunt_text(&v, "sysmon.jsonl", &json, "winevt");
    let s = |l: u64, f: &str, i: &str| (l, f.to_string(), i.to_string());
    assert_eq!(
        rows,
        [
            s(1, "QueryName", "evil-update.com"),
            s(1, "QueryResults", "203.0.113.66"),
            s(2, "Hashes", sha),
            s(3, "IpAddress", "198.51.100.23"),
            s(4, "Contents", "http://bad.example.net/gate.php?id=7"),
        ],
        "{sum}"
    );
    let out = sightings(&v.path("rows.jsonl"));
    assert_eq!(out[0]["ts"], "2026-12-07T09:15:32.123456700Z", "{out:?}");

    let xml = concat!(
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Bits-Client'/><EventID>59</EventID><TimeCreated SystemTime='2026-12-07T09:15:36.0000000Z'/></System><EventData><Data Name='name'>upd</Data><Data Name='url'>https://cdn.evil-update.com/p.bin?a=1&amp;b=2</Data></EventData></Event>",
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>21</EventID><TimeCreated SystemTime='2026-12-07T09:15:37.0000000Z'/></System><UserData><EventXML xmlns='Event_NS'><User>MUSTERHAUSEN\\anna</User><Address>198.51.100.23</Address></EventXML></UserData></Event>\r\n",
    );
    let (rows, sum) = hunt_text(&v, "events.xml", xml, "winevt-xml");
    assert_eq!(
        rows,
        [
            s(1, "url", "evil-update.com"),
            s(1, "Address", "198.51.100.23")
        ],
        "{sum}"
    );

    let beat = r##"{"@timestamp":"2026-12-07T09:15:38.000Z","ecs":{"version":"8.0.0"},"agent":{"type":"winlogbeat"},"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","event_id":"22","event_data":{"QueryName":"cdn.evil-update.com","QueryResults":"::ffff:203.0.113.66;","Image":"C:\\Windows\\System32\\rundll32.exe"}}}"##;
    let (rows, sum) = hunt_text(&v, "winlogbeat.json", &format!("{beat}\n"), "ecs");
    assert_eq!(
        rows,
        [
            s(1, "winlog.event_data.QueryName", "evil-update.com"),
            s(1, "winlog.event_data.QueryResults", "203.0.113.66"),
        ],
        "{sum}"
    );

    // The same kinds of events in a binary event log (`tests/fixtures/sysmon.evtx` of the hunt crate, made by
    // its own writer): recognised by its magic, its records hunted as the JSON lines above.
    let evtx = v.path("Sysmon.evtx");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../hunt/tests/fixtures/sysmon.evtx"),
        &evtx,
    )
    .expect("fixture");
    let (rows, sum, code) = hunt_rows(&v, &evtx, &[]);
    assert_eq!(code, 0, "{sum}");
    assert_eq!(
        (sum["unparsable"].as_u64(), sum["formats"][0][1].as_str()),
        (Some(0), Some("evtx")),
        "{sum}"
    );
    assert_eq!(
        rows,
        [
            s(1, "QueryName", "evil-update.com"),
            s(1, "QueryResults", "203.0.113.66"),
            s(2, "Hashes", sha),
            s(3, "IpAddress", "198.51.100.23"),
            s(4, "url", "http://bad.example.net/gate.php?id=7"),
        ],
        "{sum}"
    );
    let out = sightings(&v.path("rows.jsonl"));
    assert_eq!(out[0]["ts"], "2026-12-07T09:15:32.123456700Z", "{out:?}");

    // A log with nothing readable past its magic says so.
    let mut raw = b"ElfFile\0".to_vec();
    raw.resize(4096 + 65536, 0);
    std::fs::write(&evtx, raw).expect("write");
    let (rows, sum, code) = hunt_rows(&v, &evtx, &[]);
    assert_eq!(
        (code, rows.len(), sum["unparsable"].as_u64()),
        (1, 0, Some(1)),
        "{sum}"
    );
    assert!(
        sum.to_string()
            .contains("the file header's checksum does not match"),
        "{sum}"
    );
}

/// Check Point's Log Exporter (syslog format): recognised; the visited host, not the portal message quoting
/// another URL.
#[test]
fn checkpoint_logs_are_hunted() {
    let v = store_with_iocs("evil-update.com\n");
    let text = concat!(
        r#"<134>1 2026-12-07T09:15:32Z gw-01 CheckPoint 15871 - [action:"Block"; loguid:"{0x1}"; time:"1796634932"; dst:"198.51.100.9"; http_host:"cdn.evil-update.com"; resource:"http://cdn.evil-update.com/gate.php"; src:"10.0.0.3"]"#,
        "\n",
        r#"<134>1 2026-12-07T09:15:33Z gw-01 CheckPoint 15871 - [action:"Accept"; loguid:"{0x2}"; time:"1796634933"; dst:"198.51.100.10"; http_host:"www.bund.de"; portal_message:"see http://evil-update.com/"; src:"10.0.0.3"]"#,
        "\n",
    );
    let (rows, sum) = hunt_text(&v, "cp.log", text, "checkpoint");
    assert_eq!(
        rows,
        [(1, "http_host".to_string(), "evil-update.com".to_string())],
        "{sum}"
    );
    let out = sightings(&v.path("rows.jsonl"));
    assert_eq!(out[0]["ts"], "2026-12-07T09:15:32Z", "{out:?}");
}

/// Palo Alto firewalls' syslog: a traffic log's destination and a URL filtering log's URL (written without
/// its scheme) are hunted; times are the firewall's local time, read in `--log-tz`.
#[test]
fn panos_logs_are_hunted() {
    let v = store_with_iocs("203.0.113.66\nhttp://bad.example.net/gate.php?id=7\n");
    let line = |ty: &str, sub: &str, dst: &str, misc: &str| {
        let mut c = vec![String::new(); 60];
        for (i, x) in [
            (0, "1"),
            (1, "2026/12/07 10:15:33"),
            (2, "013201001234"),
            (3, ty),
            (4, sub),
            (6, "2026/12/07 10:15:32"),
            (7, "10.0.5.21"),
            (8, dst),
            (24, "50123"),
            (25, "80"),
            (29, "tcp"),
            (30, "allow"),
            (31, misc),
        ] {
            c[i] = x.to_string();
        }
        format!("<14>Dec  7 10:15:33 PA-3220 {}\n", c.join(","))
    };
    let text = line("TRAFFIC", "end", "203.0.113.66", "")
        + &line(
            "THREAT",
            "url",
            "198.51.100.9",
            "\"bad.example.net/gate.php?id=7\"",
        )
        + &line("SYSTEM", "general", "", "");
    let log = v.path("pa.log");
    std::fs::write(&log, &text).expect("write");
    let (rows, sum, code) = hunt_rows(&v, &log, &["--log-tz", "Europe/Vienna"]);
    assert_eq!(code, 0, "{sum}");
    assert_eq!(sum["formats"][0][1], "panos", "{sum}");
    assert_eq!(sum["unparsable"], 0, "{sum}");
    assert_eq!(
        rows,
        [
            (1, "dst".to_string(), "203.0.113.66".to_string()),
            (
                2,
                "url".to_string(),
                "http://bad.example.net/gate.php?id=7".to_string()
            ),
        ],
        "{sum}"
    );
    let out = sightings(&v.path("rows.jsonl"));
    assert_eq!(out[0]["ts"], "2026-12-07T09:15:32Z", "{out:?}");
}

/// Cisco ASA syslog: both ends of a built connection by its direction, an access-list hit, a 304001 URL; the
/// device's yearless syslog time read in `--log-tz`; a login message passes.
#[test]
fn cisco_asa_logs_are_hunted() {
    let v = store_with_iocs("203.0.113.66\nevil-update.com\n");
    let text = concat!(
        "Dec  7 10:15:32 fw01 : %ASA-6-302013: Built outbound TCP connection 1234 for outside:203.0.113.66/443 (203.0.113.66/443) to inside:10.0.5.21/50123 (198.51.100.1/50123)\n",
        "Dec  7 10:15:33 fw01 : %ASA-5-111008: User 'enable_15' executed the 'write memory' command.\n",
        "Dec  7 10:15:34 fw01 : %ASA-5-304001: 10.0.5.21 Accessed URL 198.51.100.9:http://cdn.evil-update.com/gate.php\n",
    );
    let log = v.path("asa.log");
    std::fs::write(&log, text).expect("write");
    let (rows, sum, code) = hunt_rows(&v, &log, &["--log-tz", "Europe/Vienna"]);
    assert_eq!(code, 0, "{sum}");
    assert_eq!(sum["formats"][0][1], "asa", "{sum}");
    assert_eq!(sum["unparsable"], 0, "{sum}");
    assert_eq!(
        rows,
        [
            (1, "dst".to_string(), "203.0.113.66".to_string()),
            (3, "host".to_string(), "evil-update.com".to_string()),
        ],
        "{sum}"
    );
    let out = sightings(&v.path("rows.jsonl"));
    assert!(
        out[0]["ts"]
            .as_str()
            .is_some_and(|t| t.ends_with("-12-07T09:15:32Z")),
        "{out:?}"
    );
}

/// `--score-unknown`: domains in the logs that no indicator matches are scored by the domain model and the top ones
/// reported as machine-generated leads; hits, warning-listed names, names not under a public suffix (the agency's
/// own `.local`/`.lan` names) and IP literals never become leads, and without the flag nothing is scored.
#[test]
fn unknown_domains_become_scored_leads() {
    let v = Vigil::new();
    let iocs = v.path("iocs.txt");
    std::fs::write(&iocs, "evil-c2.com\n").expect("write");
    v.ingest(&iocs, &["--format", "iocs", "--source", "test"]);
    let wl = v.path("wl.json");
    std::fs::write(
        &wl,
        json!({"name": "Known good for this test", "version": 1, "description": "test", "type": "hostname",
               "matching_attributes": ["hostname", "domain"], "list": ["kq3vxz8wlmn2rt.ru"]})
        .to_string(),
    )
    .expect("write");
    v.ingest(&wl, &["--format", "warninglist"]);
    let log = v.path("dns.json");
    let mut text = String::new();
    for (q, n) in [
        ("www.wikipedia.org", 3),
        ("evil-c2.com", 1),
        ("a.evil-c2.com", 1),
        ("xjw9qkz3vbt0pl.top", 4),
        ("secure-paypa1-login-verify.xyz", 1),
        ("kq3vxz8wlmn2rt.ru", 2),
        ("10.0.0.1", 1),
        ("_pgpkey-hkp._tcp.local", 2),
        ("xq7zk9vw2lp.corp.lan", 1),
    ] {
        for _ in 0..n {
            text.push_str(&format!(
                "{{\"ts\":1700000000,\"_path\":\"dns\",\"query\":\"{q}\"}}\n"
            ));
        }
    }
    std::fs::write(&log, text).expect("write");
    let (_, plain, _) = hunt_rows(&v, &log, &[]);
    assert!(
        plain.get("leads").is_none(),
        "nothing scored without the flag"
    );
    let (rows, sum, code) = hunt_rows(&v, &log, &["--score-unknown", "--lead-min-score", "0.9"]);
    assert_eq!((code, rows.len()), (0, 2), "{sum}");
    let l = &sum["leads"];
    assert_eq!(l["machine_generated"], true);
    assert_eq!(l["unknown_domains"], 6, "{l}");
    assert_eq!(l["warninglisted"], 1, "{l}");
    assert_eq!(l["not_public"], 2, "{l}");
    let leads: Vec<&str> = l["leads"]
        .as_array()
        .expect("leads")
        .iter()
        .map(|x| x["domain"].as_str().expect("domain"))
        .collect();
    assert!(leads.contains(&"xjw9qkz3vbt0pl.top"), "{l}");
    assert!(leads.contains(&"secure-paypa1-login-verify.xyz"), "{l}");
    for never in [
        "evil-c2.com",
        "a.evil-c2.com",
        "kq3vxz8wlmn2rt.ru",
        "10.0.0.1",
        "www.wikipedia.org",
        "_pgpkey-hkp._tcp.local",
        "xq7zk9vw2lp.corp.lan",
    ] {
        assert!(!leads.contains(&never), "{never} must not be a lead: {l}");
    }
    let dga = l["leads"]
        .as_array()
        .expect("leads")
        .iter()
        .find(|x| x["domain"] == "xjw9qkz3vbt0pl.top")
        .expect("lead");
    assert_eq!(dga["seen"], 4);
    assert!(dga["score"].as_f64().expect("score") >= 0.9);
    // Each lead says what pushed it up: signals of positive weight, strongest first.
    let why = dga["why"].as_array().expect("why");
    assert!(!why.is_empty() && why.len() <= 3, "{dga}");
    let w: Vec<f64> = why.iter().filter_map(|e| e["weight"].as_f64()).collect();
    assert_eq!(w.len(), why.len(), "{dga}");
    assert!(w.iter().all(|x| *x > 0.0), "{dga}");
    assert!(w.windows(2).all(|p| p[0] >= p[1]), "{dga}");
    let (_, sum, _) = hunt_rows(&v, &log, &["--score-unknown", "--leads", "1"]);
    assert_eq!(sum["leads"]["leads"].as_array().map(Vec::len), Some(1));
}

/// An agency's own names, written by hand one per line, keep them off the leads (`--format warninglist` on a
/// plain-text file); loading the edited file again replaces the list, it does not add a second one.
#[test]
fn a_plain_text_list_of_one_s_own_names_keeps_them_off_the_leads() {
    let v = Vigil::new();
    let iocs = v.path("iocs.txt");
    std::fs::write(&iocs, "evil-c2.com\n").expect("write");
    v.ingest(&iocs, &["--format", "iocs", "--source", "test"]);
    let log = v.path("dns.json");
    let mut text = String::new();
    for q in [
        "evil-c2.com",
        "termine.musterhausen.de",
        "oesterreich.gv.at",
        "qx7vk2lz9wfhr3tb.top",
    ] {
        text.push_str(&format!(
            "{{\"ts\":1700000000,\"_path\":\"dns\",\"query\":\"{q}\"}}\n"
        ));
    }
    std::fs::write(&log, text).expect("write");
    let leads = |v: &Vigil| {
        let (_, s, code) = hunt_rows(v, &log, &["--score-unknown", "--lead-min-score", "0"]);
        assert_eq!(code, 0, "{s}");
        let names: Vec<String> = s["leads"]["leads"]
            .as_array()
            .expect("leads")
            .iter()
            .filter_map(|l| l["domain"].as_str().map(str::to_string))
            .collect();
        (s["leads"]["warninglisted"].as_u64(), names)
    };
    let (listed, names) = leads(&v);
    assert_eq!(listed, Some(0));
    assert!(
        names.iter().any(|n| n == "termine.musterhausen.de"),
        "{names:?}"
    );

    let own = v.path("own-domains.txt");
    std::fs::write(
        &own,
        "# our own and the country's public-sector names\nmusterhausen.de\n",
    )
    .expect("write");
    v.ingest(&own, &["--format", "warninglist"]);
    let (listed, names) = leads(&v);
    assert_eq!(listed, Some(1));
    assert!(
        !names.iter().any(|n| n == "termine.musterhausen.de"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "oesterreich.gv.at"), "{names:?}");

    std::fs::write(&own, "musterhausen.de\n.gv.at\n").expect("write");
    v.ingest(&own, &["--format", "warninglist"]);
    let (listed, names) = leads(&v);
    assert_eq!(listed, Some(2));
    assert_eq!(names, vec!["qx7vk2lz9wfhr3tb.top".to_string()]);
    let stats = v.run(&["stats", "--json"]);
    let stats: Value = serde_json::from_slice(&stats.stdout).expect("stats JSON");
    assert_eq!(stats["warninglists"], 1, "{stats}");
}

/// Leads are scored on several threads when there are many unknown names: the result (counts, warning-listed
/// names left out, leads and their order) is the same as on one thread.
#[test]
fn many_unknown_domains_score_the_same_on_several_threads() {
    let v = Vigil::new();
    let iocs = v.path("iocs.txt");
    std::fs::write(&iocs, "evil-c2.com\n").expect("write");
    v.ingest(&iocs, &["--format", "iocs", "--source", "test"]);
    // warning-listed names spread over the whole input, so every scoring thread meets some
    // (cdn N with N % 7 == 1: every such N below 30,000 is an ordinary name of the log below)
    let listed: Vec<String> = (1..=30)
        .map(|i| format!("cdn{}.trusted-mirror.eu", i * 959 + 1))
        .collect();
    let wl = v.path("wl.json");
    std::fs::write(
        &wl,
        json!({"name": "Known good for this test", "version": 1, "description": "test", "type": "hostname",
               "matching_attributes": ["hostname", "domain"], "list": listed})
        .to_string(),
    )
    .expect("write");
    v.ingest(&wl, &["--format", "warninglist"]);
    let log = v.path("dns.json");
    // one hit, so the hunt exits 0 (1 means nothing matched)
    let mut text = "{\"ts\":1700000000,\"_path\":\"dns\",\"query\":\"evil-c2.com\"}\n".to_string();
    for i in 0..30_000u32 {
        // DGA-looking and ordinary names mixed, some seen twice
        let q = if i % 7 == 0 {
            format!("q{:x}z{:x}k.top", i.wrapping_mul(2_654_435_761), i)
        } else {
            format!("cdn{i}.trusted-mirror.eu")
        };
        for _ in 0..(1 + i % 2) {
            text.push_str(&format!(
                "{{\"ts\":1700000000,\"_path\":\"dns\",\"query\":\"{q}\"}}\n"
            ));
        }
    }
    std::fs::write(&log, text).expect("write");
    let args = |t: &'static str| ["--score-unknown", "--leads", "50", "--threads", t];
    let (_, one, code) = hunt_rows(&v, &log, &args("1"));
    assert_eq!(code, 0, "{one}");
    let (_, three, _) = hunt_rows(&v, &log, &args("3"));
    assert_eq!(one["leads"]["unknown_domains"], 30_000, "{}", one["leads"]);
    assert_eq!(one["leads"]["warninglisted"], 30, "{}", one["leads"]);
    assert_eq!(
        one["leads"]["leads"].as_array().map(Vec::len),
        Some(50),
        "{}",
        one["leads"]
    );
    assert_eq!(one["leads"], three["leads"]);
}

/// maltrail's URL-path trails (`/x.apk`: that path on any server): ingested as indicators (not rejected), found
/// by `show`, hunted in HTTP logs with the path table's meaning (file, directory, query), and exported as
/// Suricata `http.uri` rules, MISP `uri` attributes and a blocklist of their own; Zeek's intel format cannot hold
/// them and says so.
#[test]
fn url_path_trails_are_ingested_hunted_and_exported() {
    let v = Vigil::new();
    let list = v.path("pathfam.txt");
    std::fs::write(
        &list,
        "# Reference: https://example.org/report\n/x.apk\n/wp-includes/nOmd/\n/g.php?id=1\n/Aarogya%20Setu.apk\ntrail.example\n",
    )
    .expect("write");
    let r = v.ok_json(&["ingest", list.to_str().expect("p"), "--json"]);
    assert_eq!(r["rejected"], 0, "{r}");
    let st = v.ok_json(&["stats", "--json"]);
    assert_eq!(st["objects"]["indicator"], 5, "{st}");
    let shown = v.ok_json(&["show", "/wp-includes/nOmd/", "--json"]);
    let text = shown.to_string();
    assert!(
        text.contains("MATCHES") && text.contains("pathfam"),
        "show finds the path indicator and its family: {text}"
    );

    let log = v.path("http.json.log");
    let lines = [
        ("a.example", "/x.apk?v=1"),              // 1: file, any query
        ("b.example", "/dir/x.apk"),              // 2: a file path is whole: no
        ("c.example", "/wp-includes/nOmd/p.exe"), // 3: below the directory
        ("d.example", "/wp-includes/nOmdX"),      // 4: no
        ("e.example", "/g.php?id=1"),             // 5: that query
        ("f.example", "/g.php?id=2"),             // 6: no
        ("g.example", "/Aarogya%20Setu.apk"),     // 7: yes
        ("trail.example", "/index.html"),         // 8: the domain trail
    ];
    let mut body = String::new();
    for (i, (host, uri)) in lines.iter().enumerate() {
        body.push_str(&format!(
            "{{\"_path\":\"http\",\"ts\":1714557605.{i},\"uid\":\"C{i}\",\"id.orig_h\":\"10.0.0.3\",\"id.orig_p\":40001,\"id.resp_h\":\"10.9.9.9\",\"id.resp_p\":80,\"host\":\"{host}\",\"uri\":\"{uri}\"}}\n"
        ));
    }
    std::fs::write(&log, body).expect("write");
    let out = v.path("path-sightings.jsonl");
    let o = v.run(&[
        "hunt",
        log.to_str().expect("p"),
        "--out",
        out.to_str().expect("p"),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: BTreeSet<(u64, String, String)> = sightings(&out)
        .iter()
        .map(|s| {
            (
                s["line"].as_u64().expect("line"),
                s["type"].as_str().expect("type").to_string(),
                s["indicator"].as_str().expect("indicator").to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(u64, String, String)> = [
        (1, "url", "/x.apk"),
        (3, "url", "/wp-includes/nOmd/"),
        (5, "url", "/g.php?id=1"),
        (7, "url", "/Aarogya%20Setu.apk"),
        (8, "domain", "trail.example"),
    ]
    .iter()
    .map(|(l, t, x)| (*l, t.to_string(), x.to_string()))
    .collect();
    assert_eq!(got, want);
    assert!(sightings(&out)
        .iter()
        .all(|s| s["malware"].to_string().contains("pathfam")));

    // Exports.
    let p = |n: &str| v.path(n).display().to_string();
    let e = v.ok_json(&["export", "suricata", "--out", &p("suricata"), "--json"]);
    assert_eq!(e["values"], 5, "{e}");
    let rules = std::fs::read_to_string(v.path("suricata/vigil.rules")).expect("rules");
    for want in [
        r#"http.uri; content:"/x.apk"; startswith; pcre:"/^\x2fx\x2eapk\x2f?(?:\x3f|$)/";"#,
        r#"http.uri; content:"/wp-includes/nOmd"; startswith; pcre:"/^\x2fwp\x2dincludes\x2fnOmd(?:[\x2f\x3f]|$)/";"#,
        r#"http.uri; content:"/g.php"; startswith; pcre:"/^\x2fg\x2ephp\x2f?\x3fid\x3d1$/";"#,
        r#"http.uri; content:"/Aarogya Setu.apk"; startswith;"#,
    ] {
        assert!(rules.contains(want), "missing {want} in\n{rules}");
    }
    if tool("suricata") {
        suricata_accepts(&v.path("suricata"), &v.path("suricata-log"));
    }
    let z = v.ok_json(&["export", "zeek", "--out", &p("intel.dat"), "--json"]);
    let intel = std::fs::read_to_string(v.path("intel.dat")).expect("intel");
    assert!(!intel.contains("x.apk") && intel.contains("trail.example\tIntel::DOMAIN"));
    assert!(z["notes"].to_string().contains("4 URL path(s)"), "{z}");
    v.ok_json(&["export", "blocklist", "--out", &p("block"), "--json"]);
    let paths = std::fs::read_to_string(v.path("block/url-paths.txt")).expect("paths");
    assert_eq!(paths.lines().count(), 4, "{paths}");
    v.ok_json(&["export", "misp", "--out", &p("event.json"), "--json"]);
    let ev: Value =
        serde_json::from_slice(&std::fs::read(v.path("event.json")).expect("event")).expect("json");
    let uris: Vec<&Value> = ev["Event"]["Attribute"]
        .as_array()
        .expect("attributes")
        .iter()
        .filter(|a| a["type"] == "uri")
        .collect();
    assert_eq!(uris.len(), 4, "{ev}");
    pymisp_loads(&[v.path("event.json")], "PyMISP (uri attributes)");
}

/// The CSV export's rows by (type, value).
fn csv_rows(path: &Path) -> BTreeMap<(String, String), BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).expect("csv");
    let head: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let mut out = BTreeMap::new();
    for row in r.records() {
        let row = row.expect("csv row");
        let m: BTreeMap<String, String> = head
            .iter()
            .cloned()
            .zip(row.iter().map(str::to_string))
            .collect();
        out.insert((m["type"].clone(), m["value"].clone()), m);
    }
    out
}

/// Real intelligence (ESET's MISP events and hash lists, PyMISP's test events, the STIX examples, a maltrail
/// list) exported and read back: the STIX bundle into a new store gives every exportable value with the same
/// indicator, score, TLP, families, actors and dates; the MISP feed gives every value with its TLP and score;
/// the RPZ zone and the Suricata rules load in the tools that read them.
#[test]
fn real_intelligence_round_trips_through_stix_and_the_misp_feed() {
    let Some(data) = shared_data("eset-malware-ioc", "the real-data export round trip") else {
        return;
    };
    let v = Vigil::new();
    for d in ["eset-malware-ioc", "misp-events-pymisp", "stix2-examples"] {
        // Some files there are reports, READMEs and YARA rules, which are reported as such; nothing may fail
        // to store.
        let o = v.run(&["ingest", data.join(d).to_str().expect("utf-8"), "--json"]);
        let e: Value = serde_json::from_slice(&o.stdout).expect("ingest --json");
        assert!(e["added"].as_u64().expect("added") > 0, "{d}: {e}");
        if d == "eset-malware-ioc" {
            // ESET's README.adoc pages are reports, not lists: refused with the way to read them.
            let errors = e["errors"].as_array().expect("errors");
            assert!(errors.iter().any(|x| {
                x["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("spyloan/README.adoc"))
                    && x["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("--format report"))
            }));
        }
    }
    v.ingest(
        &data.join("maltrail/lummac2.txt"),
        &["--source", "lummac2", "--tlp", "amber"],
    );
    let first = export_red(&v, "csv", &v.path("a.csv"));
    let n = first["values"].as_u64().expect("values");
    assert!(n > 20_000, "{first}");
    for t in ["domain", "ipv4", "url", "md5", "sha1", "sha256"] {
        assert!(
            first["by_type"][t].as_u64().unwrap_or(0) > 0,
            "no {t}: {first}"
        );
    }
    let a = csv_rows(&v.path("a.csv"));
    assert_eq!(a.len() as u64, n);
    // ESET's hash lists (`amavaldo/samples.sha256`) name their folder's family; no README or samples family,
    // and ESET's own blog links are no indicators.
    let families: BTreeSet<&str> = a.values().map(|r| r["malware"].as_str()).collect();
    assert!(families.contains("amavaldo"), "{families:?}");
    for wrong in ["README", "samples"] {
        assert!(
            !families.iter().any(|f| f.split(", ").any(|x| x == wrong)),
            "{wrong} family: {families:?}"
        );
    }
    assert!(!a.keys().any(|(_, v)| v.contains("welivesecurity.com")));

    // STIX: lossless for everything the detection exports show.
    export_red(&v, "stix", &v.path("all.json"));
    let stix = Vigil::new();
    stix.ingest(&v.path("all.json"), &[]);
    export_red(&stix, "csv", &v.path("b.csv"));
    let b = csv_rows(&v.path("b.csv"));
    assert_eq!(a.len(), b.len(), "values lost or gained through STIX");
    for (k, row) in &a {
        assert_eq!(Some(row), b.get(k), "{k:?} changed through STIX");
    }

    // MISP feed: every value, with its TLP and score (families no MISP galaxy names travel in the event title and
    // comments only; `real_families_travel_through_the_misp_feed_as_galaxy_tags` has the galaxies loaded).
    export_red(&v, "misp-feed", &v.path("feed"));
    let misp = Vigil::new();
    misp.ingest(&v.path("feed"), &[]);
    export_red(&misp, "csv", &v.path("c.csv"));
    let c = csv_rows(&v.path("c.csv"));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        c.keys().collect::<Vec<_>>(),
        "values lost or gained through the MISP feed"
    );
    for (k, row) in &a {
        for f in ["tlp", "score"] {
            assert_eq!(row[f], c[k][f], "{k:?}: {f} changed through the MISP feed");
        }
    }

    // The sensors' own checkers load the real content.
    export_red(&v, "rpz", &v.path("real.rpz"));
    checkzone_accepts("rpz.vigil", &v.path("real.rpz"));
    export_red(&v, "suricata", &v.path("sur"));
    if tool("suricata") {
        suricata_accepts(&v.path("sur"), &v.path("sur-log"));
    }
}

/// `vigil export KIND --out OUT --tlp-max red --json`: everything the store holds.
fn export_red(v: &Vigil, kind: &str, out: &Path) -> Value {
    let out = out.to_str().expect("utf-8 path");
    v.ok_json(&["export", kind, "--out", out, "--tlp-max", "red", "--json"])
}

/// The tags of the MISP attributes (`Tag[].name`) of an exported event file, by value.
fn misp_attribute_tags(path: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let ev: Value = serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json");
    ev["Event"]["Attribute"]
        .as_array()
        .expect("attributes")
        .iter()
        .map(|a| {
            let tags = a["Tag"]
                .as_array()
                .expect("tags")
                .iter()
                .map(|t| t["name"].as_str().expect("tag name").to_string())
                .collect();
            (a["value"].as_str().expect("value").to_string(), tags)
        })
        .collect()
}

/// Families and actors that a MISP galaxy names leave in the MISP exports as `misp-galaxy:` tags, on each attribute
/// and, where every attribute of an event shares them, on the event; a family no galaxy names gets none. Another
/// store reading the feed gets the same families and actors back.
#[test]
fn misp_exports_name_the_galaxy_clusters_of_families_and_actors() {
    let v = Vigil::new();
    let stealer = r#"misp-galaxy:malpedia="Vigil Test Stealer""#;
    let actor = r#"misp-galaxy:threat-actor="Vigil Test Actor""#;
    let event = json!({"Event": {
    "info": "galaxy tags", "date": "2026-11-01", "Orgc": {"name": "CSIRT-X"}, "Tag": [{"name": "tlp:green"}],
    "Attribute": [
        {"type": "domain", "category": "Network activity", "value": "stealer-panel.net", "to_ids": true,
         "Tag": [{"name": stealer}]},
        {"type": "ip-dst", "category": "Network activity", "value": "198.51.100.77", "to_ids": true,
         "Tag": [{"name": stealer}, {"name": actor}]},
        {"type": "domain", "category": "Network activity", "value": "no-family-here.net", "to_ids": true}
    ]}});
    let ev = v.path("in.json");
    std::fs::write(&ev, event.to_string()).expect("write");
    v.ingest(&ev, &[]);
    let p = |n: &str| v.path(n).display().to_string();
    v.ok_json(&["export", "misp", "--out", &p("event.json"), "--json"]);
    let tags = misp_attribute_tags(&v.path("event.json"));
    let set = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(tags["stealer-panel.net"], set(&["tlp:green", stealer]));
    assert_eq!(tags["198.51.100.77"], set(&["tlp:green", stealer, actor]));
    assert_eq!(tags["no-family-here.net"], set(&["tlp:green"]));
    // The single event holds all three: no galaxy is every attribute's, so the event has only its TLP.
    let whole: Value =
        serde_json::from_slice(&std::fs::read(v.path("event.json")).expect("read")).expect("json");
    assert_eq!(whole["Event"]["Tag"], json!([{"name": "tlp:green"}]));
    // Every family here is a galaxy's: no note about untagged families.
    let again = v.ok_json(&["export", "misp", "--out", &p("event2.json"), "--json"]);
    assert_eq!(again["notes"], json!([]), "{again}");

    // The feed: one event per family, whose galaxies are those all its attributes share.
    v.ok_json(&["export", "misp-feed", "--out", &p("feed"), "--json"]);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(v.path("feed/manifest.json")).expect("manifest"))
            .expect("json");
    let by_info: BTreeMap<&str, &Value> = manifest
        .as_object()
        .expect("object")
        .values()
        .map(|e| (e["info"].as_str().expect("info"), &e["Tag"]))
        .collect();
    assert_eq!(
        by_info["Vigil: Vigil Test Stealer indicators (TLP:GREEN)"],
        &json!([{"name": "tlp:green"}, {"name": stealer}]),
        "{manifest}"
    );
    assert_eq!(
        by_info["Vigil: no known family indicators (TLP:GREEN)"],
        &json!([{"name": "tlp:green"}])
    );
    let mut files = vec![v.path("event.json")];
    for uuid in manifest.as_object().expect("object").keys() {
        let f = v.path(&format!("feed/{uuid}.json"));
        if f.ends_with("manifest.json") {
            continue;
        }
        files.push(f);
    }
    pymisp_loads(&files, "PyMISP (galaxy tags)");

    // A second store reads the feed and knows the same families and actors.
    let w = Vigil::new();
    w.ingest(&v.path("feed"), &[]);
    v.ok_json(&["export", "csv", "--out", &p("a.csv"), "--json"]);
    w.ok_json(&["export", "csv", "--out", &p("b.csv"), "--json"]);
    let (a, b) = (csv_rows(&v.path("a.csv")), csv_rows(&v.path("b.csv")));
    assert_eq!(a.len(), 3);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, row) in &a {
        for f in ["malware", "actors", "tlp"] {
            assert_eq!(row[f], b[k][f], "{k:?}: {f} changed through the MISP feed");
        }
    }
    assert_eq!(
        a[&("ipv4".to_string(), "198.51.100.77".to_string())]["actors"],
        "Vigil Test Actor"
    );
}

/// A list read before the galaxies made a family of its own; the exports still tag its values with the cluster
/// that has its name or one of its aliases, as if the galaxy had come first, and stop noting it as untagged.
#[test]
fn families_a_list_made_take_the_galaxy_cluster_loaded_later() {
    let v = Vigil::new();
    let list = v.path("vigil-test-family.txt");
    std::fs::write(&list, "# Aliases: vts, teststealer\nloader-panel.net\n").expect("write");
    v.ingest(&list, &[]);
    let p = |n: &str| v.path(n).display().to_string();
    let before = v.ok_json(&["export", "misp", "--out", &p("a.json"), "--json"]);
    assert!(
        before["notes"][0]
            .as_str()
            .is_some_and(|n| n.contains("vigil-test-family")),
        "{before}"
    );
    assert_eq!(
        misp_attribute_tags(&v.path("a.json"))["loader-panel.net"],
        BTreeSet::from(["tlp:amber".to_string()])
    );
    let galaxy = v.path("stealers.json");
    std::fs::write(
        &galaxy,
        json!({"type": "malpedia", "name": "Malpedia", "uuid": "1d1c9af9-37fa-4deb-a928-f9b0abc7354a",
               "authors": ["test"], "source": "test", "version": 1, "description": "test",
               "values": [{"value": "Test Stealer", "uuid": "5e3ae0a1-39b0-4a0b-9d4e-0c3b1a6a1e01",
                           "meta": {"synonyms": ["TestStealer"]}}]})
        .to_string(),
    )
    .expect("write");
    v.ingest(&galaxy, &[]);
    let after = v.ok_json(&["export", "misp", "--out", &p("b.json"), "--json"]);
    assert_eq!(after["notes"], json!([]), "{after}");
    assert_eq!(
        misp_attribute_tags(&v.path("b.json"))["loader-panel.net"],
        BTreeSet::from([
            "tlp:amber".to_string(),
            r#"misp-galaxy:malpedia="Test Stealer""#.to_string()
        ])
    );
}

/// A family an IOC list made before a galaxy named it becomes `duplicate-of` the galaxy cluster, so the list's
/// indicators reach the cluster's name, tag and actors whatever the order of loading; the relationship is marked
/// as strictly as the stricter of its ends, is made once, and is not made when the galaxy came first.
#[test]
fn a_family_a_list_made_becomes_the_duplicate_of_the_cluster_loaded_later() {
    let cluster = vigil_model::ids::vigil_id("malware", &["5e3ae0a1-39b0-4a0b-9d4e-0c3b1a6a1e01"]);
    let cluster = cluster.as_str();
    let write_inputs = |v: &Vigil| {
        std::fs::write(
            v.path("vigil-test-family.txt"),
            "# Aliases: vts, teststealer\nloader-panel.net\n",
        )
        .expect("write");
        std::fs::write(
            v.path("stealers.json"),
            json!({"type": "malpedia", "name": "Malpedia", "uuid": "1d1c9af9-37fa-4deb-a928-f9b0abc7354a",
                   "authors": ["test"], "source": "test", "version": 1, "description": "test",
                   "values": [{"value": "Test Stealer", "uuid": "5e3ae0a1-39b0-4a0b-9d4e-0c3b1a6a1e01",
                               "meta": {"synonyms": ["TestStealer"]}},
                              {"value": "Other Loader", "uuid": "6f4bf1b2-4ac1-4b1c-8e5f-1d4c2b7b2f02",
                               "meta": {"synonyms": ["OtherLoader"]}}]})
            .to_string(),
        )
        .expect("write");
    };
    let actor_bundle = |v: &Vigil, cluster_id: &str| {
        let now = ts(Utc::now());
        let clear = Tlp::Clear.marking_id();
        std::fs::write(
            v.path("actor.json"),
            json!({"type": "bundle", "id": "bundle--0f6c3f8e-5c43-4f0e-9a53-2a9a3c7d1e11", "objects": [
                {"type": "intrusion-set", "spec_version": "2.1",
                 "id": "intrusion-set--2b1d0c7e-6f0a-4c53-a8a4-5d7c9e3b1f21", "created": now, "modified": now,
                 "name": "Vigil Test Group", "object_marking_refs": [clear]},
                {"type": "relationship", "spec_version": "2.1",
                 "id": "relationship--7c2a1e5d-3b4f-4d6e-9f1a-8b0c2d4e6f31", "created": now, "modified": now,
                 "relationship_type": "uses", "source_ref": "intrusion-set--2b1d0c7e-6f0a-4c53-a8a4-5d7c9e3b1f21",
                 "target_ref": cluster_id, "object_marking_refs": [clear]}]})
            .to_string(),
        )
        .expect("write");
        v.ingest(&v.path("actor.json"), &[]);
    };
    let family = vigil_formats::iocs::family_id("vigil-test-family");

    // The list first, marked RED; then the galaxy (public: CLEAR) and an actor using the cluster.
    let v = Vigil::new();
    write_inputs(&v);
    v.ingest(&v.path("vigil-test-family.txt"), &["--tlp", "red"]);
    v.ingest(&v.path("stealers.json"), &[]);
    actor_bundle(&v, cluster);
    let shown = v.ok_json(&["show", &family, "--json"]);
    let dups: Vec<&Value> = shown["related"]
        .as_array()
        .expect("related")
        .iter()
        .filter(|r| r["relationship_type"] == "duplicate-of")
        .collect();
    assert_eq!(dups.len(), 1, "{shown}");
    assert_eq!(dups[0]["id"], cluster);
    assert_eq!(dups[0]["direction"], "out");
    let rel = dups[0]["relationship_id"]
        .as_str()
        .expect("relationship id");
    assert_eq!(v.ok_json(&["show", rel, "--json"])["tlp"], "red");
    export_red(&v, "csv", &v.path("a.csv"));
    let rows = csv_rows(&v.path("a.csv"));
    let row = &rows[&("domain".to_string(), "loader-panel.net".to_string())];
    assert_eq!(row["malware"], "vigil-test-family;Test Stealer", "{row:?}");
    assert_eq!(row["actors"], "Vigil Test Group", "{row:?}");
    // Loading the galaxy again changes nothing.
    let again = v.ok_json(&[
        "ingest",
        v.path("stealers.json").to_str().expect("utf-8"),
        "--json",
    ]);
    assert_eq!(again["added"], 0, "{again}");
    assert_eq!(again["updated"], 0, "{again}");

    // The galaxy first: the list's indicators indicate the cluster itself and no duplicate is made.
    let w = Vigil::new();
    write_inputs(&w);
    w.ingest(&w.path("stealers.json"), &[]);
    actor_bundle(&w, cluster);
    w.ingest(&w.path("vigil-test-family.txt"), &["--tlp", "red"]);
    let rel_types: Vec<Value> = w.ok_json(&["show", cluster, "--json"])["related"]
        .as_array()
        .expect("related")
        .iter()
        .map(|r| r["relationship_type"].clone())
        .collect();
    assert!(!rel_types.contains(&json!("duplicate-of")), "{rel_types:?}");
    export_red(&w, "csv", &w.path("a.csv"));
    let rows = csv_rows(&w.path("a.csv"));
    let row = &rows[&("domain".to_string(), "loader-panel.net".to_string())];
    assert_eq!(row["malware"], "Test Stealer", "{row:?}");
    assert_eq!(row["actors"], "Vigil Test Group", "{row:?}");
}

/// The names `vigil show --json` found: the object shown and those also matched.
fn shown_names(shown: &Value) -> Vec<&str> {
    std::iter::once(&shown["object"]["name"])
        .chain(
            shown["also_matched"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| &m["name"]),
        )
        .filter_map(Value::as_str)
        .collect()
}

/// Families spelled differently by a list and a galaxy (`vigil_test_loader`, `Vigil Test Loader`) are one family
/// in either order of loading: the list's lines indicate the cluster, or the list's family is its duplicate, and
/// the MISP export tags the value with the cluster either way.
#[test]
fn a_list_family_spelled_otherwise_is_matched_to_the_cluster_by_its_folded_name() {
    let galaxy = json!({"type": "malpedia", "name": "Malpedia", "uuid": "1d1c9af9-37fa-4deb-a928-f9b0abc7354a",
        "authors": ["test"], "source": "test", "version": 1, "description": "test",
        "values": [{"value": "Vigil Test Loader", "uuid": "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a03", "meta": {}}]});
    let tag = r#"misp-galaxy:malpedia="Vigil Test Loader""#;
    for galaxy_first in [true, false] {
        let v = Vigil::new();
        let list = v.path("vigil_test_loader.txt");
        std::fs::write(&list, "update-check.example.net\n").expect("write");
        std::fs::write(v.path("g.json"), galaxy.to_string()).expect("write");
        if galaxy_first {
            v.ingest(&v.path("g.json"), &[]);
            v.ingest(&list, &[]);
        } else {
            v.ingest(&list, &[]);
            v.ingest(&v.path("g.json"), &[]);
        }
        export_red(&v, "csv", &v.path("a.csv"));
        let rows = csv_rows(&v.path("a.csv"));
        let row = &rows[&("domain".to_string(), "update-check.example.net".to_string())];
        let want = if galaxy_first {
            "Vigil Test Loader"
        } else {
            "vigil_test_loader;Vigil Test Loader"
        };
        assert_eq!(row["malware"], want, "galaxy first: {galaxy_first}");
        export_red(&v, "misp", &v.path("e.json"));
        assert!(
            misp_attribute_tags(&v.path("e.json"))["update-check.example.net"].contains(tag),
            "galaxy first: {galaxy_first}"
        );
        // and an analyst finds the cluster by the folded spelling (beside the list's family, when there is one)
        let shown = v.ok_json(&["show", "vigiltestloader", "--json"]);
        assert!(
            shown_names(&shown).contains(&"Vigil Test Loader"),
            "{shown}"
        );
    }
}

/// Galaxy files named `g0.json`, `g1.json`, ... in order.
fn numbered_galaxy_files(galaxies: &[Value]) -> Vec<(String, String)> {
    galaxies
        .iter()
        .enumerate()
        .map(|(i, g)| (format!("g{i}.json"), g.to_string()))
        .collect()
}

/// Writes each (file name, content) into `v`'s folder and ingests it: the galaxies' files first, or the lists'.
fn ingest_in_order(
    v: &Vigil,
    galaxy_first: bool,
    galaxies: &[(String, String)],
    lists: &[(String, String)],
) {
    let (first, then) = if galaxy_first {
        (galaxies, lists)
    } else {
        (lists, galaxies)
    };
    for (name, content) in first.iter().chain(then) {
        let f = v.path(name);
        std::fs::write(&f, content).expect("write");
        v.ingest(&f, &[]);
    }
}

/// Families a galaxy names with their kind (`Corvid Stealer`, synonym `CorvidC2 Stealer`) and a list names without
/// it (`corvidc2`), or the other way round (`heron_ransomware` for the ransomware galaxy's `Heron`), are one family
/// in either order of loading. The loose match is held to what the names say: the list's own name, not an alias
/// (`apt_osprey`, alias `falcon`, is not `Falcon Keylogger`), and kinds that agree (`venomous`, alias `venomous
/// stealer`, is not `Venomous RAT`; `kestrel_stealer` is neither the botnet `Kestrel` nor malpedia's, which says no
/// kind), and to stems of one kind (`corax` is the stem of `Corax Loader` and `Corax Locker`: its alias decides).
/// A family another list made is found by its name only: lists read first do not take each other's lines through
/// the aliases they give their families.
#[test]
fn a_list_family_named_without_its_kind_is_matched_to_the_cluster_by_its_stem() {
    let galaxy = |ty: &str, uuid: &str, values: Value| {
        json!({"type": ty, "name": ty, "uuid": uuid, "authors": ["test"], "source": "test", "version": 1,
            "description": "test", "values": values})
    };
    let galaxies = [
        galaxy(
            "malpedia",
            "1d1c9af9-37fa-4deb-a928-f9b0abc7354a",
            json!([
                {"value": "Corvid Stealer", "uuid": "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a11",
                 "meta": {"synonyms": ["CorvidC2 Stealer"]}},
                {"value": "Wren Stealer", "uuid": "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a12", "meta": {}},
                {"value": "Falcon Keylogger", "uuid": "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a13", "meta": {}},
                {"value": "Venomous RAT", "uuid": "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a14", "meta": {}},
                {"value": "Kestrel", "uuid": "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a15", "meta": {}},
                {"value": "Corax Loader", "uuid": "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a16", "meta": {}}
            ]),
        ),
        galaxy(
            "ransomware",
            "1d1c9af9-37fa-4deb-a928-f9b0abc7354b",
            json!([
                {"value": "Heron", "uuid": "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a21", "meta": {}},
                {"value": "Corax Locker", "uuid": "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a22", "meta": {}}
            ]),
        ),
        galaxy(
            "botnet",
            "1d1c9af9-37fa-4deb-a928-f9b0abc7354c",
            json!([{"value": "Kestrel", "uuid": "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a31", "meta": {}}]),
        ),
    ];
    // list file, its header, its one value, the families the CSV names (galaxy first, list first)
    let lists = [
        // read first, so that its family (alias `wren stealer`) is stored when `corvidc2` (alias `wrenstealer`)
        // is read: another list's family is found by its name only, or `corvidc2` would take it, lists first
        (
            "shrike",
            "# Aliases: wren stealer",
            "shrike-gate.example.com",
            "Wren Stealer",
            "shrike;Wren Stealer",
        ),
        (
            "corvidc2",
            "# Aliases: wrenstealer",
            "corvid-cdn.example.net",
            "Corvid Stealer",
            "corvidc2;Corvid Stealer",
        ),
        (
            "heron_ransomware",
            "",
            "heron-leaks.example.org",
            "Heron",
            "heron_ransomware;Heron",
        ),
        (
            "kestrel_stealer",
            "",
            "kestrel-panel.example.com",
            "kestrel_stealer",
            "kestrel_stealer",
        ),
        (
            "venomous",
            "# Aliases: venomous stealer",
            "venomous-gate.example.net",
            "venomous",
            "venomous",
        ),
        // `corax` is the stem of a loader and of ransomware: its alias decides
        (
            "corax",
            "# Aliases: coraxlocker",
            "corax-pay.example.net",
            "Corax Locker",
            "corax;Corax Locker",
        ),
        (
            "apt_osprey",
            "# Aliases: falcon",
            "osprey-mail.example.org",
            "apt_osprey",
            "apt_osprey",
        ),
    ];
    let galaxy_files = numbered_galaxy_files(&galaxies);
    let list_files: Vec<(String, String)> = lists
        .iter()
        .map(|(name, header, value, _, _)| (format!("{name}.txt"), format!("{header}\n{value}\n")))
        .collect();
    for galaxy_first in [true, false] {
        let v = Vigil::new();
        ingest_in_order(&v, galaxy_first, &galaxy_files, &list_files);
        export_red(&v, "csv", &v.path("a.csv"));
        let rows = csv_rows(&v.path("a.csv"));
        for (name, _, value, g_first, l_first) in &lists {
            let row = &rows[&("domain".to_string(), value.to_string())];
            let want = if galaxy_first { g_first } else { l_first };
            assert_eq!(
                &row["malware"], want,
                "{name}, galaxy first: {galaxy_first}"
            );
        }
        export_red(&v, "misp", &v.path("e.json"));
        let tags = misp_attribute_tags(&v.path("e.json"));
        assert!(
            tags["corvid-cdn.example.net"].contains(r#"misp-galaxy:malpedia="Corvid Stealer""#),
            "{:?}",
            tags["corvid-cdn.example.net"]
        );
        assert!(
            tags["heron-leaks.example.org"].contains(r#"misp-galaxy:ransomware="Heron""#),
            "{:?}",
            tags["heron-leaks.example.org"]
        );
        for value in [
            "kestrel-panel.example.com",
            "venomous-gate.example.net",
            "osprey-mail.example.org",
        ] {
            assert!(
                !tags[value].iter().any(|t| t.starts_with("misp-galaxy:")),
                "{value}: {:?}",
                tags[value]
            );
        }
        // and an analyst finds the cluster by the list's name
        let shown = v.ok_json(&["show", "corvidc2", "--json"]);
        assert!(shown_names(&shown).contains(&"Corvid Stealer"), "{shown}");
    }
}

/// A list family's `duplicate-of` follows the cluster its names find best as clusters come and go: linked to
/// malpedia's `Corax Loader` by stem, it moves to the ransomware galaxy's `Corax Locker` (named by the list's alias)
/// when that is loaded, and back when `Corax Locker` is retracted and malpedia is loaded again.
#[test]
fn a_list_familys_duplicate_follows_its_best_cluster() {
    let galaxy = |ty: &str, uuid: &str, value: &str, vuuid: &str| {
        json!({"type": ty, "name": ty, "uuid": uuid, "authors": ["test"], "source": "test", "version": 1,
            "description": "test", "values": [{"value": value, "uuid": vuuid, "meta": {}}]})
    };
    let v = Vigil::new();
    let list = v.path("corax.txt");
    std::fs::write(&list, "# Aliases: coraxlocker\ncorax-pay.example.net\n").expect("write");
    v.ingest(&list, &[]);
    let files = [
        (
            "loader.json",
            galaxy(
                "malpedia",
                "1d1c9af9-37fa-4deb-a928-f9b0abc7354a",
                "Corax Loader",
                "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a16",
            ),
        ),
        (
            "locker.json",
            galaxy(
                "ransomware",
                "1d1c9af9-37fa-4deb-a928-f9b0abc7354b",
                "Corax Locker",
                "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a22",
            ),
        ),
    ];
    let families = |v: &Vigil| {
        export_red(v, "csv", &v.path("a.csv"));
        csv_rows(&v.path("a.csv"))[&("domain".to_string(), "corax-pay.example.net".to_string())]
            ["malware"]
            .clone()
    };
    for (f, g) in &files {
        std::fs::write(v.path(f), g.to_string()).expect("write");
    }
    v.ingest(&v.path("loader.json"), &[]);
    assert_eq!(families(&v), "corax;Corax Loader");
    v.ingest(&v.path("locker.json"), &[]);
    assert_eq!(families(&v), "corax;Corax Locker");
    let o = v.run(&["retract", "Corax Locker", "--reason", "test"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(families(&v), "corax");
    v.ingest(&v.path("loader.json"), &[]);
    assert_eq!(families(&v), "corax;Corax Loader");
}

/// Real families: with the MISP galaxies loaded, ESET's folders and a maltrail list resolve to galaxy clusters,
/// whose tags the MISP feed carries (PyMISP loads it) and through which a store that has never seen the galaxies
/// learns the same family names.
#[test]
fn real_families_travel_through_the_misp_feed_as_galaxy_tags() {
    let Some(data) = shared_data("misp-galaxy", "the galaxy tags of real families") else {
        return;
    };
    let v = Vigil::new();
    for f in ["malpedia", "threat-actor"] {
        v.ingest(&data.join(format!("misp-galaxy/clusters/{f}.json")), &[]);
    }
    v.ingest(&data.join("maltrail/lummac2.txt"), &["--source", "lummac2"]);
    let o = v.run(&[
        "ingest",
        data.join("eset-malware-ioc").to_str().expect("utf-8"),
        "--json",
    ]);
    assert!(o.status.code().is_some_and(|c| c <= 1), "{o:?}");
    let e = export_red(&v, "misp", &v.path("event.json"));
    // ESET's families that malpedia lacks are named to the operator.
    assert!(
        e["notes"].as_array().expect("notes").iter().any(|n| n
            .as_str()
            .is_some_and(|n| n.contains("no MISP galaxy cluster"))),
        "{e}"
    );
    let tags = misp_attribute_tags(&v.path("event.json"));
    let tagged: BTreeSet<&String> = tags
        .iter()
        .filter(|(_, t)| t.iter().any(|x| x.starts_with("misp-galaxy:malpedia=")))
        .map(|(v, _)| v)
        .collect();
    // maltrail's lummac2 list has no name malpedia knows as written; its name is the stem of malpedia's synonym
    // `LummaC2 Stealer`, which comes before its aliases (`acrstealer` would find `ACR Stealer` folded, `remus`
    // would find `Remus`): the list's own name wins.
    assert!(
        tags["videolan-web.org"].contains(r#"misp-galaxy:malpedia="Lumma Stealer""#),
        "{:?}",
        tags["videolan-web.org"]
    );
    assert!(
        !tags["videolan-web.org"]
            .iter()
            .any(|t| t.contains("ACR Stealer") || t.contains("Remus")),
        "{:?}",
        tags["videolan-web.org"]
    );
    assert!(tagged.len() > 15_000, "{} values tagged", tagged.len());
    export_red(&v, "misp-feed", &v.path("feed"));
    let events: Vec<PathBuf> = std::fs::read_dir(v.path("feed"))
        .expect("feed")
        .map(|e| e.expect("entry").path())
        .filter(|f| f.extension().is_some_and(|x| x == "json") && !f.ends_with("manifest.json"))
        .collect();
    pymisp_loads(&events, "PyMISP (real galaxy tags)");
    let w = Vigil::new();
    w.ingest(&v.path("feed"), &[]);
    export_red(&v, "csv", &v.path("a.csv"));
    export_red(&w, "csv", &v.path("b.csv"));
    let (a, b) = (csv_rows(&v.path("a.csv")), csv_rows(&v.path("b.csv")));
    // Every family a malpedia tag names comes back; families no galaxy names (some values have both) do not.
    let fams = |s: &str| -> BTreeSet<String> {
        s.split(';')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut kept = 0;
    for ((ty, value), row) in &a {
        if !tagged.contains(&value) {
            continue;
        }
        let named: BTreeSet<String> = tags[value]
            .iter()
            .filter_map(|t| t.strip_prefix("misp-galaxy:malpedia=\""))
            .map(|t| t.trim_end_matches('"').to_string())
            .collect();
        let (before, after) = (
            fams(&row["malware"]),
            fams(&b[&(ty.clone(), value.clone())]["malware"]),
        );
        assert!(
            named.is_subset(&after) && after.is_subset(&before),
            "{value}: tags {named:?}, families {before:?} before the feed, {after:?} after"
        );
        kept += 1;
    }
    assert_eq!(kept, tagged.len());
}

/// A list about an actor (maltrail's `apt_<group>`, or a list whose header names an ATT&CK group) is the actor's:
/// its lines indicate the list's family, which is `attributed-to` the actor, with the same actor in either order of
/// loading. The link waits, pending, for an actor loaded later, and moves from the galaxy's actor to an intrusion
/// set loaded after it. The aliases the list gives are the actor's and its tools' and take no line:
/// `apt_ospreypanda`'s alias `vigilzebra` is a malware family, not the list's, and so is the cluster whose synonym
/// is the list's name folded (maltrail's `apt_73` and the ransomware galaxy's `Eraleign`, synonym `APT73`).
#[test]
fn an_actors_list_is_attributed_to_the_actor_in_either_order() {
    let galaxies = [
        json!({"type": "malpedia", "name": "Malpedia", "uuid": "1d1c9af9-37fa-4deb-a928-f9b0abc7354a",
            "authors": ["test"], "source": "test", "version": 1, "description": "test",
            "values": [{"value": "VigilZebra", "uuid": "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a31",
                "meta": {"synonyms": ["APT OspreyPanda"]}}]}),
        json!({"type": "threat-actor", "name": "Threat Actor", "uuid": "7cdff317-a673-4474-84ec-4f1754947823",
            "authors": ["test"], "source": "test", "version": 1, "description": "test",
            "values": [{"value": "Vigil Osprey Group", "uuid": "7a5cf1c3-5bd1-4c2d-9e6f-2e5d3c8b3a32",
                "meta": {"synonyms": ["Osprey Panda"], "country": "XX"}}]}),
    ];
    // ATT&CK-style groups, loaded after the galaxy: one the third list names by its id only, and one an alias of
    // the first list names, which takes that list from the galaxy's actor (intrusion sets are looked at first).
    let bundle = json!({"type": "bundle", "id": "bundle--6f2f7b3a-0d7e-4a53-9a53-0b3b7b1c3a40", "objects": [
        {"type": "intrusion-set", "spec_version": "2.1", "id": "intrusion-set--6f2f7b3a-0d7e-4a53-9a53-0b3b7b1c3a41",
         "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z", "name": "Vigil Heron Team",
         "external_references": [{"source_name": "mitre-attack", "external_id": "G9990",
            "url": "https://attack.mitre.org/groups/G9990"}]},
        {"type": "intrusion-set", "spec_version": "2.1", "id": "intrusion-set--6f2f7b3a-0d7e-4a53-9a53-0b3b7b1c3a42",
         "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z", "name": "Vigil Osprey Team",
         "aliases": ["Osprey Kite"],
         "external_references": [{"source_name": "mitre-attack", "external_id": "G9991",
            "url": "https://attack.mitre.org/groups/G9991"}]}]});
    let lists = [
        (
            "apt_ospreypanda.txt",
            "# Aliases: vigilzebra, osprey panda, osprey kite\n",
            "osprey-update.example.org",
        ),
        // maltrail's continuation of a split list: the same family, other aliases
        (
            "apt_ospreypanda-1.txt",
            "# Aliases: vigilzebra\n",
            "osprey-cdn.example.org",
        ),
        (
            "heron_iocs.txt",
            "# MITRE: https://attack.mitre.org/groups/G9990/\n",
            "heron-mail.example.net",
        ),
    ];
    let mut galaxy_files = numbered_galaxy_files(&galaxies);
    galaxy_files.push(("b.json".into(), bundle.to_string()));
    let list_files: Vec<(String, String)> = lists
        .iter()
        .map(|(name, header, value)| (name.to_string(), format!("{header}{value}\n")))
        .collect();
    for galaxy_first in [true, false] {
        let v = Vigil::new();
        ingest_in_order(&v, galaxy_first, &galaxy_files, &list_files);
        export_red(&v, "csv", &v.path("a.csv"));
        let rows = csv_rows(&v.path("a.csv"));
        for (value, family, actor) in [
            (
                "osprey-update.example.org",
                "apt_ospreypanda",
                "Vigil Osprey Team",
            ),
            (
                "osprey-cdn.example.org",
                "apt_ospreypanda",
                "Vigil Osprey Team",
            ),
            ("heron-mail.example.net", "heron_iocs", "Vigil Heron Team"),
        ] {
            let row = &rows[&("domain".to_string(), value.to_string())];
            assert_eq!(
                row["malware"], family,
                "{value}, galaxy first: {galaxy_first}"
            );
            assert_eq!(
                row["actors"], actor,
                "{value}, galaxy first: {galaxy_first}"
            );
        }
        export_red(&v, "misp", &v.path("e.json"));
        let tags = misp_attribute_tags(&v.path("e.json"));
        let osprey = &tags["osprey-update.example.org"];
        // Neither the alias's malware nor the actor the link left (lists first) tags the value.
        assert!(
            !osprey
                .iter()
                .any(|t| t.contains("VigilZebra") || t.contains("Vigil Osprey Group")),
            "galaxy first: {galaxy_first}: {osprey:?}"
        );
        // The family says whose it is; the actor's names are not the family's.
        let shown = v.ok_json(&["show", "apt_ospreypanda", "--json"]);
        assert!(shown.to_string().contains("Vigil Osprey Team"), "{shown}");
        let shown = v.ok_json(&["show", "Osprey Panda", "--json"]);
        assert!(!shown_names(&shown).contains(&"apt_ospreypanda"), "{shown}");
    }
}

/// An indicator's families are listed by when their `indicates` relationship was created, then by name, whatever
/// order the store holds the relationships in (within one input, the order of their id hashes).
#[test]
fn an_indicators_families_are_listed_by_creation_then_name() {
    let v = Vigil::new();
    let ind = "indicator--6a1c1f0e-2b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let fams = [
        ("malware--11111111-1111-4111-8111-111111111111", "Zeta"),
        ("malware--22222222-2222-4222-8222-222222222222", "Alpha"),
        ("malware--33333333-3333-4333-8333-333333333333", "Mid"),
        ("malware--44444444-4444-4444-8444-444444444444", "Beta"),
    ];
    let mut objects = vec![indicator(
        ind,
        "[domain-name:value = 'order-test.example']",
        Tlp::Green,
        json!({}),
    )];
    objects.extend(fams.iter().map(|(id, name)| named("malware", id, name)));
    // Written newest first: Zeta's link is the oldest, Alpha's and Mid's are of one time (so by name), Beta's the
    // newest.
    let at = |n: &mut Value, t: &str| {
        n["created"] = json!(t);
        n["modified"] = json!(t);
    };
    for (n, (fam, t)) in [
        (fams[3].0, "2026-03-01T00:00:00.000Z"),
        (fams[2].0, "2026-02-01T00:00:00.000Z"),
        (fams[1].0, "2026-02-01T00:00:00.000Z"),
        (fams[0].0, "2026-01-01T00:00:00.000Z"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = rel(900 + n, "indicates", ind, fam);
        at(&mut r, t);
        objects.push(r);
    }
    let file = v.path("order.json");
    write_bundle(&file, objects);
    v.ingest(&file, &[]);
    export_red(&v, "csv", &v.path("order.csv"));
    let rows = csv_rows(&v.path("order.csv"));
    let row = rows
        .get(&("domain".to_string(), "order-test.example".to_string()))
        .expect("the indicator is exported");
    assert_eq!(row["malware"], "Zeta;Alpha;Mid;Beta");
}

/// Shares the curated AMBER URL indicator with `member`.
fn share_amber_url(v: &Vigil, member: &str) {
    let o = v.run(&[
        "share",
        "indicator--aaaaaaaa-0000-4000-8000-000000000003",
        "--with",
        member,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A member ("Ministry of Tests", EE): its id.
fn add_member(v: &Vigil) -> String {
    let m = v.ok_json(&[
        "members",
        "add",
        "--name",
        "Ministry of Tests",
        "--country",
        "EE",
        "--kind",
        "ministry",
        "--json",
    ]);
    m["id"].as_i64().expect("member id").to_string()
}

/// A token of `member` with `role` that does not expire.
fn new_token(v: &Vigil, member: &str, role: &str) -> String {
    let t = v.ok_json(&[
        "tokens",
        "create",
        "--member",
        member,
        "--role",
        role,
        "--expires",
        "never",
        "--json",
    ]);
    t["token"].as_str().expect("token").to_string()
}

/// `vigil --data DATA snapshot --from BASE --token-file TOKEN --out OUT --json ARGS...` as a sensor runs it: a
/// data directory that holds no store (and must not get one).
fn fetch_snapshot(sensor: &Path, base: &str, token: &Path, out: &Path, args: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--data")
        .arg(sensor.join("data"))
        .env_remove("VIGIL_STORE")
        .args(["snapshot", "--from", base, "--token-file"])
        .arg(token)
        .arg("--out")
        .arg(out)
        .arg("--json")
        .args(args)
        .output()
        .expect("run vigil snapshot --from");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    o
}

fn fetched(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "snapshot --from failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON")
}

fn secret_file(path: &Path, text: &str) {
    std::fs::write(path, format!("{text}\n")).expect("write token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

/// Lines and fields a hunt of the curated log with `snapshot` finds.
fn snapshot_rows(v: &Vigil, log: &Path, snapshot: &Path) -> Vec<(u64, String)> {
    let (rows, sum, code) = hunt_rows(v, log, &["--snapshot", snapshot.to_str().expect("p")]);
    assert!(code == 0 || code == 1, "{sum}");
    rows.into_iter().map(|(l, f, _)| (l, f)).collect()
}

#[test]
fn sensors_fetch_the_snapshot_their_members_token_may_see() {
    let v = Vigil::new();
    curated(&v);
    let log = v.path("curated.json.log");
    std::fs::write(&log, CURATED_LOG).expect("write");
    let member = add_member(&v);
    let token = |member: &str, role: &str| new_token(&v, member, role);
    let sensor = tempfile::tempdir().expect("tempdir");
    let member_token = sensor.path().join("member.token");
    secret_file(&member_token, &token(&member, "member"));
    let operator_token = sensor.path().join("operator.token");
    secret_file(&operator_token, &token("1", "analyst"));
    let server = common::serve(
        &v.dir.path().join("store"),
        &["--no-feeds", "--no-delivery"],
    );
    let base = server.base.clone();
    let out = sensor.path().join("intel.vgs");
    let etag_file = sensor.path().join("intel.vgs.etag");

    // The member's view: GREEN indicators; not the AMBER URL (line 6's uri), not the RED address (line 12).
    let first = fetched(&fetch_snapshot(
        sensor.path(),
        &base,
        &member_token,
        &out,
        &[],
    ));
    assert_eq!(first["updated"], true, "{first}");
    let green_rows = vec![
        (1, "query".to_string()),
        (4, "id.resp_h".into()),
        (6, "host".into()),
        (13, "sha256".into()),
    ];
    assert_eq!(snapshot_rows(&v, &log, &out), green_rows);
    assert_eq!(first["indicators"].as_u64(), Some(5), "{first}");
    // The ETag on the first line, then the checksum and size of the file it describes.
    let etag = std::fs::read_to_string(&etag_file).expect("etag kept beside the snapshot");
    let etag = etag.lines().next().unwrap_or_default().to_string();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(first["etag"].as_str(), Some(etag.trim()));
    assert!(
        !sensor.path().join("data").exists(),
        "the sensor got a data directory"
    );
    // Polling an unchanged selection: 304, the file untouched.
    let before = std::fs::read(&out).expect("read");
    let again = fetched(&fetch_snapshot(
        sensor.path(),
        &base,
        &member_token,
        &out,
        &[],
    ));
    assert_eq!(again["updated"], false, "{again}");
    assert_eq!(again["indicators"].as_u64(), Some(5));
    assert_eq!(std::fs::read(&out).expect("read"), before);

    // The same request over plain HTTP: a weak ETag, a 304 for it (and for its strong spelling), the
    // operator's view under another validator.
    let http = reqwest::blocking::Client::new();
    let url = format!("{base}/api/v1/exports/snapshot?min_score=20");
    let member_secret = std::fs::read_to_string(&member_token).expect("token");
    let resp = http
        .get(&url)
        .bearer_auth(member_secret.trim())
        .send()
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["etag"].to_str().expect("ascii"), etag.trim());
    assert_eq!(resp.headers()["cache-control"], "private, no-store");
    assert_eq!(resp.headers()["x-vigil-indicators"], "5");
    for inm in [
        etag.trim().to_string(),
        etag.trim().trim_start_matches("W/").to_string(),
    ] {
        let r = http
            .get(&url)
            .bearer_auth(member_secret.trim())
            .header("If-None-Match", inm.as_str())
            .send()
            .expect("GET");
        assert_eq!(r.status().as_u16(), 304, "{inm}");
        assert!(r.bytes().expect("body").is_empty());
    }
    let operator_secret = std::fs::read_to_string(&operator_token).expect("token");
    let r = http
        .get(&url)
        .bearer_auth(operator_secret.trim())
        .header("If-None-Match", etag.trim())
        .send()
        .expect("GET");
    assert_eq!(
        r.status().as_u16(),
        200,
        "the operator got the member's validator"
    );
    assert!(r.headers()["etag"].to_str().expect("ascii") != etag.trim());
    assert_eq!(
        http.get(&url).send().expect("GET").status().as_u16(),
        401,
        "an anonymous snapshot"
    );

    // Sharing the AMBER URL with the member changes its selection: the next poll fetches it.
    share_amber_url(&v, &member);
    let shared = fetched(&fetch_snapshot(
        sensor.path(),
        &base,
        &member_token,
        &out,
        &[],
    ));
    assert_eq!(shared["updated"], true, "{shared}");
    assert_ne!(shared["etag"].as_str(), Some(etag.trim()));
    let with_amber = vec![
        (1, "query".to_string()),
        (4, "id.resp_h".into()),
        (6, "host".into()),
        (6, "uri".into()),
        (13, "sha256".into()),
    ];
    assert_eq!(snapshot_rows(&v, &log, &out), with_amber);
    // The CSIRT's own `vigil snapshot --member` selects the same; the operator's organisation sees everything.
    let local = v.path("member.vgs");
    let l = v.ok_json(&[
        "snapshot",
        "--member",
        &member,
        "--out",
        local.to_str().expect("p"),
        "--json",
    ]);
    assert_eq!(l["member"].as_i64(), member.parse().ok());
    assert_eq!(snapshot_rows(&v, &log, &local), with_amber);
    let ops = v.path("operator.vgs");
    v.ok_json(&[
        "snapshot",
        "--member",
        "1",
        "--out",
        ops.to_str().expect("p"),
        "--json",
    ]);
    assert!(snapshot_rows(&v, &log, &ops).contains(&(12, "id.resp_h".into())));
    // A valid snapshot of another selection copied over the sensor's (the operator's here): its checksum is not
    // the one recorded beside the ETag, so the poll fetches the member's whole instead of taking a 304 for it.
    let side = std::fs::read_to_string(&etag_file).expect("side file");
    assert!(
        side.lines().nth(1).is_some_and(|l| l.starts_with("crc32=")),
        "{side}"
    );
    std::fs::copy(&ops, &out).expect("copy");
    let o = fetch_snapshot(sensor.path(), &base, &member_token, &out, &[]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not the snapshot its ETag describes"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(fetched(&o)["updated"], true);
    assert_eq!(snapshot_rows(&v, &log, &out), with_amber);
    // A side file of an older Vigil (the ETag alone): the file is loaded once, the poll is a 304, and the
    // checksum is recorded for the next one.
    let etag_only = side.lines().next().expect("etag line").to_string();
    std::fs::write(&etag_file, format!("{etag_only}\n")).expect("write");
    let old = fetched(&fetch_snapshot(
        sensor.path(),
        &base,
        &member_token,
        &out,
        &[],
    ));
    assert_eq!(old["updated"], false, "{old}");
    assert_eq!(old["indicators"].as_u64(), Some(6), "{old}");
    assert_eq!(
        std::fs::read_to_string(&etag_file).expect("side file"),
        side
    );
    let o = v.run(&[
        "snapshot",
        "--member",
        "99",
        "--out",
        ops.to_str().expect("p"),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no member 99"));
    // Narrowed by the sensor to GREEN: another selection, so another file.
    let green_out = sensor.path().join("green.vgs");
    fetched(&fetch_snapshot(
        sensor.path(),
        &base,
        &member_token,
        &green_out,
        &["--tlp-max", "green"],
    ));
    assert_eq!(snapshot_rows(&v, &log, &green_out), green_rows);

    // A revoked token: refused with the reason; the snapshot the sensor holds stays as it was.
    let held = std::fs::read(&out).expect("read");
    let tokens = v.ok_json(&["tokens", "list", "--json"]);
    let id = tokens
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["member_id"].as_i64() == member.parse().ok())
        .expect("the member's token")["id"]
        .to_string();
    assert!(v.run(&["tokens", "revoke", &id]).status.success());
    let o = fetch_snapshot(sensor.path(), &base, &member_token, &out, &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("401") && err.contains("left as it was"),
        "{err}"
    );
    assert!(
        !err.contains(member_secret.trim()),
        "the token in a message: {err}"
    );
    assert_eq!(std::fs::read(&out).expect("read"), held);

    // A damaged snapshot beside a valid ETag is fetched whole, not declared current.
    let fresh = sensor.path().join("op.vgs");
    fetched(&fetch_snapshot(
        sensor.path(),
        &base,
        &operator_token,
        &fresh,
        &[],
    ));
    let len = std::fs::metadata(&fresh).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fresh)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    let o = fetch_snapshot(sensor.path(), &base, &operator_token, &fresh, &[]);
    let healed = fetched(&o);
    assert_eq!(healed["updated"], true, "{healed}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("damaged"));
    assert_eq!(std::fs::metadata(&fresh).expect("meta").len(), len);

    // Without a token file, and with a token file others may read.
    let o = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["snapshot", "--from", &base, "--out"])
        .arg(&out)
        .env_remove("VIGIL_TOKEN_FILE")
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--token-file"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&operator_token, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let o = fetch_snapshot(sensor.path(), &base, &operator_token, &fresh, &[]);
        fetched(&o);
        assert!(String::from_utf8_lossy(&o.stderr).contains("chmod 600"));
    }
    // Nothing half-written is left beside the snapshots.
    let leftovers: Vec<String> = std::fs::read_dir(sensor.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// One HTTP answer of `status` with `body` to whoever connects first, on a free loopback port.
fn answer_once(status: &'static str, body: Vec<u8>, claimed_len: usize) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut s, &mut buf);
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {claimed_len}\r\nETag: W/\"x\"\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    format!("http://{addr}")
}

#[test]
fn a_cut_or_damaged_snapshot_answer_leaves_the_sensors_file_alone() {
    let v = Vigil::new();
    curated(&v);
    let good = v.path("good.vgs");
    v.ok_json(&["snapshot", "--out", good.to_str().expect("p"), "--json"]);
    let bytes = std::fs::read(&good).expect("read");
    let sensor = tempfile::tempdir().expect("tempdir");
    let token = sensor.path().join("t");
    secret_file(&token, "vgl_not_checked_by_this_server");
    let out = sensor.path().join("intel.vgs");
    std::fs::copy(&good, &out).expect("copy");
    // The connection ends after half the bytes it announced; then a whole answer that is not a snapshot; then
    // one whose checksum fails; then one too large.
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    for (body, claimed, want) in [
        (
            bytes[..bytes.len() / 2].to_vec(),
            bytes.len(),
            "receiving the snapshot",
        ),
        (b"<html>proxy login</html>".to_vec(), 24, "not usable"),
        (flipped.clone(), flipped.len(), "not usable"),
        // An answer that announces more than any selection makes is refused before a byte is written.
        (bytes.clone(), 5 << 30, "larger than 4 GiB"),
    ] {
        let base = answer_once("200 OK", body, claimed);
        let o = fetch_snapshot(sensor.path(), &base, &token, &out, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{want}: accepted");
        assert!(
            err.contains(want) && err.contains("left as it was"),
            "{err}"
        );
        assert_eq!(std::fs::read(&out).expect("read"), bytes, "{want}");
        assert!(!sensor.path().join("intel.vgs.etag").exists());
    }
    // A server error is reported with its message; a redirect is not followed (the token would go along).
    let base = answer_once(
        "503 Service Unavailable",
        br#"{"error":"unavailable","message":"the store is busy"}"#.to_vec(),
        52,
    );
    let err =
        String::from_utf8_lossy(&fetch_snapshot(sensor.path(), &base, &token, &out, &[]).stderr)
            .into_owned();
    assert!(
        err.contains("503") && err.contains("the store is busy"),
        "{err}"
    );
    let base = answer_once("302 Found", Vec::new(), 0);
    let o = fetch_snapshot(sensor.path(), &base, &token, &out, &[]);
    assert!(!o.status.success());
    assert_eq!(std::fs::read(&out).expect("read"), bytes);
    let leftovers = std::fs::read_dir(sensor.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn snapshots_are_fetched_over_tls_from_a_server_the_given_ca_signed() {
    let pki = tempfile::tempdir().expect("tempdir");
    // The server's CA and another one (whose key is no key of the server's certificate).
    if !common::pki(pki.path(), "ca", "server") || !common::pki(pki.path(), "other", "other-leaf") {
        return;
    }
    let v = Vigil::new();
    curated(&v);
    // A key of another certificate, or no certificate in the file: refused at start with the file named.
    for (crt, key, want) in [
        (
            "server.crt",
            "other.key",
            "does not go with the certificate",
        ),
        ("server.csr", "server.key", "holds no PEM certificate"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .arg("--data")
            .arg(v.dir.path().join("store"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--no-feeds",
                "--no-delivery",
                "--tls-cert",
            ])
            .arg(pki.path().join(crt))
            .arg("--tls-key")
            .arg(pki.path().join(key))
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{crt} {key}: served");
        assert!(err.contains(want) && !err.contains("panicked"), "{err}");
    }
    let t = v.ok_json(&[
        "tokens",
        "create",
        "--member",
        "1",
        "--role",
        "analyst",
        "--expires",
        "never",
        "--json",
    ]);
    let sensor = tempfile::tempdir().expect("tempdir");
    let token = sensor.path().join("t");
    secret_file(&token, t["token"].as_str().expect("token"));
    let server = common::serve(
        &v.dir.path().join("store"),
        &[
            "--no-feeds",
            "--no-delivery",
            "--tls-cert",
            pki.path().join("server.crt").to_str().expect("p"),
            "--tls-key",
            pki.path().join("server.key").to_str().expect("p"),
        ],
    );
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let out = sensor.path().join("intel.vgs");
    let ca = pki.path().join("ca.crt");
    let other = pki.path().join("other.crt");
    // Without the CA, or with another one: the server's certificate is not trusted, nothing is written.
    for extra in [vec![], vec!["--ca", other.to_str().expect("p")]] {
        let o = fetch_snapshot(sensor.path(), &server.base, &token, &out, &extra);
        assert!(!o.status.success(), "{extra:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("invalid peer certificate") && err.contains("--ca FILE"),
            "{err}"
        );
        assert!(!out.exists());
    }
    let got = fetched(&fetch_snapshot(
        sensor.path(),
        &server.base,
        &token,
        &out,
        &["--ca", ca.to_str().expect("p")],
    ));
    assert_eq!(got["updated"], true, "{got}");
    assert!(got["indicators"].as_u64().unwrap_or(0) >= 7, "{got}");
    let again = fetched(&fetch_snapshot(
        sensor.path(),
        &server.base,
        &token,
        &out,
        &["--ca", ca.to_str().expect("p")],
    ));
    assert_eq!(again["updated"], false, "{again}");
}
