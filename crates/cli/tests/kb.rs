//! End-to-end tests of the knowledge base through the `vigil` binary: ingestion of every input framing, bad input,
//! versions, TLP on export, the JSON contracts, and a kill -9 in the middle of an ingest.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

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
    fn data(&self) -> &Path {
        self.dir.path()
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .arg("--data")
            .arg(self.data())
            .args(args)
            .output()
            .expect("run vigil")
    }
    /// Runs a command with --json and parses stdout as one JSON document; returns it with the exit code.
    fn json(&self, args: &[&str]) -> (Value, i32) {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "panic: {stderr}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout of {args:?} is not one JSON document ({e}): {:?} / {stderr}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        (v, out.status.code().unwrap_or(-1))
    }
    fn ingest(&self, args: &[&str]) -> (Value, i32) {
        let mut a = vec!["ingest"];
        a.extend_from_slice(args);
        self.json(&a)
    }
    /// Runs `vigil export KIND --out DATA/NAME --tlp-max TLP` and returns what it wrote.
    fn export(&self, kind: &str, name: &str, tlp_max: &str) -> String {
        let out = self.data().join(name);
        let (r, code) = self.json(&[
            "export",
            kind,
            "--out",
            out.to_str().expect("utf-8 path"),
            "--tlp-max",
            tlp_max,
        ]);
        assert_eq!(code, 0, "{r}");
        std::fs::read_to_string(&out).expect("the export")
    }
    fn count(&self, ty: &str) -> u64 {
        self.json(&["stats"]).0["objects"][ty].as_u64().unwrap_or(0)
    }
}

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("\n*** SKIPPED: ../shared/data not found; real-data tests did not run ***\n");
        None
    }
}

#[test]
fn mixed_bundle_rejects_bad_objects_and_keeps_good_ones() {
    let v = Vigil::new();
    let (r, code) = v.ingest(&[&fixture("mixed-bundle.json")]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["added"], 3, "{r}");
    assert_eq!(r["rejected"], 6, "{r}");
    // The run's errors are kept in the audit log, where the dashboard's admin page reads ingestion errors.
    let audit = std::fs::read_to_string(v.data().join("audit.jsonl")).unwrap();
    let entry: serde_json::Value = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["action"] == "cli.ingest")
        .expect("an audit entry for the ingest run");
    assert_eq!(entry["detail"]["rejected"], 6, "{entry}");
    assert!(entry["detail"]["errors"]
        .as_array()
        .is_some_and(|e| !e.is_empty()));
    let reasons: Vec<String> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["location"], e["reason"]))
        .collect();
    let all = reasons.join("\n");
    for want in [
        "STIX pattern",
        "missing required property `pattern`",
        "timestamp",
        "`name`",
        "dangling reference",
        "not a JSON object",
    ] {
        assert!(
            all.contains(want),
            "no error mentioning {want:?} in:\n{all}"
        );
    }
    assert!(r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["file"].as_str().unwrap().ends_with("mixed-bundle.json")));
    // unknown and custom properties survive unchanged
    let (shown, _) = v.json(&["show", "indicator--00000001-1111-4111-8111-111111111111"]);
    assert_eq!(
        shown["object"]["x_acme_score"],
        serde_json::json!({"nested": [1, {"deep": true}]})
    );
    assert_eq!(shown["object"]["unknown_field"], "kept as is");
    let rel = shown["related"].as_array().unwrap();
    assert!(rel.iter().any(|r| r["relationship_type"] == "indicates"
        && r["name"] == "FixtureRAT"
        && r["direction"] == "out"));
}

#[test]
fn reingest_is_unchanged_and_newer_modified_adds_a_version() {
    let v = Vigil::new();
    let (first, _) = v.ingest(&[&fixture("mixed-bundle.json")]);
    let (again, _) = v.ingest(&[&fixture("mixed-bundle.json")]);
    assert_eq!(
        (again["added"].as_u64(), again["updated"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    assert_eq!(again["unchanged"], first["added"]);
    let (upd, code) = v.ingest(&[&fixture("malware-v2.json")]);
    assert_eq!((upd["updated"].as_u64(), code), (Some(1), 0));
    let (shown, _) = v.json(&["show", "FixRAT"]);
    assert_eq!(shown["object"]["description"], "second version");
    assert_eq!(shown["versions"], 2);
    assert_eq!(v.count("malware"), 1);
}

/// A reader that stops reading (`vigil show X | head`) is no error: Vigil ends quietly (status 0), without an error
/// or a panic message.
#[test]
fn a_closed_stdout_ends_vigil_quietly() {
    let v = Vigil::new();
    let list = v.data().join("pipetest.txt");
    let lines: String = (0..3000)
        .map(|i| format!("host{i}.pipe-test.example\n"))
        .collect();
    std::fs::write(&list, lines).expect("write");
    v.ingest(&[list.to_str().expect("utf-8")]);
    // JSON returns the write error; the text view prints with `println!`, which panics on it.
    for args in [
        &["show", "pipetest", "--json"][..],
        &["show", "pipetest"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .arg("--data")
            .arg(v.data())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // The reader goes away before Vigil has printed anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn stix20_is_upgraded_and_tlp1_maps_to_tlp2() {
    let v = Vigil::new();
    let (r, code) = v.ingest(&[&fixture("stix20-bundle.json")]);
    assert_eq!((code, r["added"].as_u64()), (0, Some(2)), "{r}");
    let (m, _) = v.json(&["show", "OldBot"]);
    assert_eq!(m["object"]["spec_version"], "2.1");
    assert_eq!(m["object"]["is_family"], true);
    let (i, _) = v.json(&["show", "http://oldbot.example/gate"]);
    assert_eq!(i["tlp"], "amber");
}

/// The same list saved by Windows PowerShell 5.1 (`Get-Content list.txt > copy.txt`: UTF-16LE with a byte-order
/// mark), or as UTF-16BE without one, holds the same indicators as the UTF-8 original.
#[test]
fn a_utf16_ioc_list_is_read_as_its_text() {
    let text = std::fs::read_to_string(fixture("family-list.txt")).expect("fixture");
    let dir = tempfile::tempdir().expect("tempdir");
    use vigil_model::encoding::{encode_utf16, Utf16Order};
    let le = encode_utf16(&text, Utf16Order::Little, true);
    let be = encode_utf16(&text, Utf16Order::Big, false);
    let mut stored = Vec::new();
    for (name, bytes) in [("list-le.txt", &le), ("list-be.txt", &be)] {
        let v = Vigil::new();
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).expect("write");
        let (r, code) = v.ingest(&[&f.display().to_string(), "--source", "FixtureStealer"]);
        assert_eq!(code, 1, "one line is not an indicator: {r}");
        assert_eq!(r["rejected"], 1, "{r}");
        assert_eq!(v.count("indicator"), 5, "{name}: {r}");
        let (d, _) = v.json(&["show", "steal-me.example"]);
        assert_eq!(
            d["object"]["pattern"],
            "[domain-name:value = 'steal-me.example']"
        );
        stored.push(r["added"].clone());
    }
    let v = Vigil::new();
    let (r, _) = v.ingest(&[&fixture("family-list.txt"), "--source", "FixtureStealer"]);
    assert_eq!(stored, [r["added"].clone(), r["added"].clone()]);
}

#[test]
fn ioc_list_refangs_normalises_and_links_the_family() {
    let v = Vigil::new();
    let (r, code) = v.ingest(&[
        &fixture("family-list.txt"),
        "--source",
        "FixtureStealer",
        "--tlp",
        "green",
        "--confidence",
        "55",
    ]);
    assert_eq!(code, 1, "one line is not an indicator: {r}");
    assert_eq!(r["rejected"], 1);
    assert_eq!(
        v.count("indicator"),
        5,
        "the URL, the domain (once, after normalisation), the CIDR, the IPv6 and the hash"
    );
    let (d, _) = v.json(&["show", "STEAL-ME.example."]);
    assert_eq!(
        d["object"]["pattern"],
        "[domain-name:value = 'steal-me.example']"
    );
    assert_eq!(d["object"]["confidence"], 55);
    assert_eq!(d["tlp"], "green");
    assert!(d["related"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["relationship_type"] == "indicates" && r["name"] == "FixtureStealer"));
    let (u, _) = v.json(&["show", "hxxps://steal-me[.]example/gate.php"]);
    assert_eq!(
        u["object"]["pattern"],
        "[url:value = 'https://steal-me.example/gate.php']"
    );
    let (c, _) = v.json(&["show", "203.0.113.0/24"]);
    assert_eq!(
        c["object"]["pattern"],
        "[ipv4-addr:value ISSUBSET '203.0.113.0/24']"
    );
    let (fam, _) = v.json(&["show", "fxs"]);
    assert_eq!(fam["object"]["name"], "FixtureStealer");
    // the same values again from another source: one indicator, two provenances
    let (again, _) = v.ingest(&[&fixture("family-list.txt"), "--source", "OtherFeed"]);
    // The list's `# Aliases:` name the family already stored, so its links resolve to it: nothing new at all.
    assert_eq!(
        (again["added"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(10)),
        "{again}"
    );
    let (d2, _) = v.json(&["show", "steal-me.example"]);
    let sources: Vec<&str> = d2["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["source"].as_str().unwrap())
        .collect();
    assert!(
        sources.contains(&"FixtureStealer") && sources.contains(&"OtherFeed"),
        "{sources:?}"
    );
}

#[test]
fn export_respects_tlp_max_and_default_for_unmarked() {
    let v = Vigil::new();
    v.ingest(&[&fixture("tlp-bundle.json")]);
    let text = v.export("stix", "green.json", "green");
    let bundle: Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<&str> = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"indicator--0000000b-1111-4111-8111-111111111111"));
    assert!(
        !ids.contains(&"indicator--0000000a-1111-4111-8111-111111111111"),
        "TLP:AMBER leaked"
    );
    assert!(
        !ids.contains(&"indicator--0000000c-1111-4111-8111-111111111111"),
        "unmarked (default AMBER) leaked"
    );
    // TLP 1.0 GREEN is referenced; a TLP 2.0 marking referenced by an object must travel in the bundle
    let all = v.data().join("all.json");
    v.json(&["export", "stix", "--out", all.to_str().unwrap()]);
    let b: Value = serde_json::from_str(&std::fs::read_to_string(&all).unwrap()).unwrap();
    let objs = b["objects"].as_array().unwrap();
    assert!(objs
        .iter()
        .any(|o| o["id"] == "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"));
    assert_eq!(
        objs.len(),
        3 + 2,
        "three indicators, the TLP 2.0 AMBER marking and its extension definition"
    );
}

/// Lists saved by Windows tools in their "ANSI" code page: Excel's "Save as CSV" on a German desktop writes
/// windows-1252, a Bulgarian or Ukrainian one windows-1251. Read as UTF-8 every line with an accented or Cyrillic
/// character was rejected, and with it the indicator on that line.
#[test]
fn lists_in_a_windows_code_page_are_read() {
    let v = Vigil::new();
    let d = tempfile::tempdir().unwrap();
    // windows-1252: the first accented character on line 2,001, past the first 64 KiB.
    let mut csv = b"value,type,comment\n".to_vec();
    for i in 0..1999 {
        csv.extend_from_slice(
            format!("host{i}.evil-update.com,domain,seen in phishing\n").as_bytes(),
        );
    }
    csv.extend_from_slice(
        b"c2.evil-update.com,domain,Kommandoserver f\xfcr die Kampagne \x96 \x84Lieferung\x93\n\
          185.244.25.17,ipv4,Zahlungsaufforderung \xfcber E-Mail\n",
    );
    assert!(csv.len() > 64 << 10);
    let path = d.path().join("export.csv");
    std::fs::write(&path, &csv).unwrap();
    let (r, code) = v.ingest(&[path.to_str().unwrap(), "--format", "iocs"]);
    assert_eq!((code, r["rejected"].as_u64()), (0, Some(0)), "{r}");
    let warning = &r["warnings"][0];
    assert_eq!(warning["location"], "line 2001", "{r}");
    assert!(
        warning["reason"]
            .as_str()
            .unwrap()
            .contains("read as windows-125"),
        "{r}"
    );
    let (shown, code) = v.json(&["show", "c2.evil-update.com"]);
    assert_eq!(code, 0, "{shown}");
    let text = shown.to_string();
    assert!(
        text.contains("Kommandoserver für die Kampagne – „Lieferung“"),
        "{text}"
    );
    assert_eq!(v.json(&["show", "185.244.25.17"]).1, 0);
    assert_eq!(v.json(&["show", "host1998.evil-update.com"]).1, 0);

    // windows-1251: Cyrillic comments, one of them inline on an indicator's line.
    let list = d.path().join("c2-list.txt");
    std::fs::write(
        &list,
        b"# \xd1\xef\xe8\xf1\xfa\xea \xf1\xfa\xf0\xe2\xfa\xf0\xe8 \xe7\xe0 \xf3\xef\xf0\xe0\xe2\xeb\xe5\xed\xe8\xe5\n\
          evil-update.bg # \xf1\xfa\xf0\xe2\xfa\xf0 \xe7\xe0 \xf3\xef\xf0\xe0\xe2\xeb\xe5\xed\xe8\xe5\n\
          second-stage.bg\n",
    )
    .unwrap();
    let (r, code) = v.ingest(&[list.to_str().unwrap(), "--format", "iocs"]);
    assert_eq!((code, r["rejected"].as_u64()), (0, Some(0)), "{r}");
    assert_eq!(r["warnings"][0]["location"], "line 1", "{r}");
    assert!(r["warnings"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("read as windows-1251"));
    assert_eq!(v.json(&["show", "evil-update.bg"]).1, 0);
    assert_eq!(v.json(&["show", "second-stage.bg"]).1, 0);

    // UTF-8 lists are read as before, with no warning.
    let utf8 = d.path().join("utf8.txt");
    std::fs::write(&utf8, "# Список\nutf8-list.bg # сървър\n").unwrap();
    let (r, code) = v.ingest(&[utf8.to_str().unwrap(), "--format", "iocs"]);
    assert_eq!(code, 0, "{r}");
    assert!(r["warnings"].as_array().is_none_or(|w| w.is_empty()), "{r}");
}

#[test]
fn stats_search_show_contracts() {
    let v = Vigil::new();
    v.ingest(&[&fixture("mixed-bundle.json")]);
    let (s, _) = v.json(&["stats"]);
    assert_eq!(s["objects"]["indicator"], 1);
    assert_eq!(s["objects"]["malware"], 1);
    assert!(s["sources"]["mixed-bundle"].as_u64().unwrap() >= 3);
    let (found, code) = v.json(&["search", "FixtureRAT"]);
    assert_eq!(code, 0);
    let first = &found["results"][0];
    assert_eq!(
        (first["type"].as_str(), first["name"].as_str()),
        (Some("malware"), Some("FixtureRAT"))
    );
    assert!(first["id"].is_string() && first["score"].is_number());
    let (none, code) = v.json(&["show", "no-such-thing-anywhere"]);
    assert_eq!(code, 1);
    assert!(none["error"].is_string());
}

#[test]
fn archives_compression_stdin_and_directories() {
    let v = Vigil::new();
    let d = tempfile::tempdir().unwrap();
    let list = std::fs::read(fixture("family-list.txt")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&list).unwrap();
    std::fs::create_dir(d.path().join("nested")).unwrap();
    std::fs::write(d.path().join("nested/fam-a.txt.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(
        d.path().join("fam-b.txt.zst"),
        zstd::encode_all(&b"zst-only.example\n"[..], 3).unwrap(),
    )
    .unwrap();
    let (r, _) = v.ingest(&[d.path().to_str().unwrap()]);
    assert_eq!(r["files"], 2, "{r}");
    assert_eq!(v.count("indicator"), 6);
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--data")
        .arg(v.data())
        .args([
            "ingest", "-", "--format", "iocs", "--source", "piped", "--json",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-stdin.example\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        r["added"].as_u64().unwrap(),
        3,
        "indicator, family, link: {r}"
    );
}

#[test]
fn bad_input_never_panics_and_leaves_the_store_intact() {
    let v = Vigil::new();
    v.ingest(&[&fixture("mixed-bundle.json")]);
    let before = v.json(&["stats"]).0;
    let d = tempfile::tempdir().unwrap();
    // not JSON, not anything: exit 2
    let junk = d.path().join("junk.json");
    std::fs::write(&junk, "{not json").unwrap();
    let (r, code) = v.ingest(&[junk.to_str().unwrap()]);
    assert_eq!(code, 2, "{r}");
    assert!(r["errors"][0]["file"]
        .as_str()
        .unwrap()
        .ends_with("junk.json"));
    // missing file: exit 2
    assert_eq!(v.ingest(&["/nonexistent/feed.json"]).1, 2);
    // binary bytes inside an IOC list (not text in any encoding): that line rejected, the rest stored
    let bad = d.path().join("bad-utf8.txt");
    std::fs::write(
        &bad,
        b"ok-before.example\n\x00\x01\xff\xfe\xfd.example\nok-after.example\n",
    )
    .unwrap();
    let (r, code) = v.ingest(&[bad.to_str().unwrap(), "--format", "iocs"]);
    assert_eq!((code, r["rejected"].as_u64()), (1, Some(1)), "{r}");
    assert!(r["errors"][0]["location"]
        .as_str()
        .unwrap()
        .contains("line 2"));
    // a truncated gzip of a bundle: a clear error, non-zero exit
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(
        std::fs::read(fixture("mixed-bundle.json"))
            .unwrap()
            .repeat(1)
            .as_slice(),
    )
    .unwrap();
    let bytes = gz.finish().unwrap();
    let trunc = d.path().join("trunc.json.gz");
    std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
    let (r, code) = v.ingest(&[trunc.to_str().unwrap()]);
    assert!(code == 1 || code == 2, "{r}");
    assert!(
        r["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["file"].as_str().unwrap().contains("trunc.json.gz")),
        "{r}"
    );
    // a bundle whose second object is not valid JSON (a NaN, as Python's json.dumps writes) and whose third has a
    // quote left unescaped in its description: each is rejected by its id, the objects after them are stored
    let text = std::fs::read_to_string(fixture("mixed-bundle.json")).unwrap();
    let mut bundle: serde_json::Value = serde_json::from_str(&text).unwrap();
    let objects = bundle["objects"].as_array_mut().unwrap();
    let valid = objects.len();
    let mut texts: Vec<String> = objects.iter().map(|o| o.to_string()).collect();
    texts.insert(
        1,
        r#"{"type":"indicator","id":"indicator--0b5ee2b5-0000-4000-8000-00000000aaaa","confidence":NaN}"#.into(),
    );
    texts.insert(
        2,
        r#"{"type":"indicator","id":"indicator--0b5ee2b5-0000-4000-8000-00000000bbbb","description":"the "GLASS" case"}"#.into(),
    );
    let nan = d.path().join("nan.json");
    std::fs::write(
        &nan,
        format!(r#"{{"type":"bundle","objects":[{}]}}"#, texts.join(",")),
    )
    .unwrap();
    let (clean, _) = Vigil::new().ingest(&[&fixture("mixed-bundle.json")]);
    let (r, code) = Vigil::new().ingest(&[nan.to_str().unwrap()]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["added"], clean["added"], "{r}");
    assert_eq!(
        r["rejected"].as_u64(),
        clean["rejected"].as_u64().map(|n| n + 2),
        "{r}"
    );
    for (at, id) in [(1, "aaaa"), (2, "bbbb")] {
        assert!(
            r["errors"].as_array().unwrap().iter().any(|e| e["location"]
                .as_str()
                .unwrap()
                .contains(&format!(
                    "$.objects[{at}] (indicator--0b5ee2b5-0000-4000-8000-00000000{id})"
                ))
                && e["reason"].as_str().unwrap().starts_with("not valid JSON")),
            "{r}"
        );
    }
    assert!(valid > 2, "the fixture has objects after the broken ones");
    // the same in a MISP search answer: the event with an unescaped quote outside its attribute and object lists
    // (in its `info`) is rejected by its place, the events around it stored (before, the whole answer was refused)
    let event = |n: u32, info: &str| {
        format!(
            r#"{{"Event":{{"uuid":"5c1a0a7e-0000-4000-8000-00000000000{n}","info":"event {n}: {info}","date":"2024-01-01","Orgc":{{"name":"Org"}},"Attribute":[{{"type":"domain","value":"misp-answer-{n}.example"}},{{"type":"comment","value":"fine"}}]}}}}"#
        )
    };
    let answer = d.path().join("answer.json");
    std::fs::write(
        &answer,
        format!(
            r#"{{"response":[{},{},{}]}}"#,
            event(1, "fine"),
            event(2, r#"the "GLASS" case"#),
            event(3, "fine")
        ),
    )
    .unwrap();
    let w = Vigil::new();
    let (r, code) = w.ingest(&[answer.to_str().unwrap(), "--format", "misp"]);
    assert_eq!((code, r["rejected"].as_u64()), (1, Some(1)), "{r}");
    assert_eq!(r["errors"][0]["location"], "response[1]", "{r}");
    // Which of `prefix`-1..3.example a search finds: the first and third, not the second.
    let stored_around = |prefix: &str| {
        for (n, stored) in [(1, true), (2, false), (3, true)] {
            let name = format!("{prefix}-{n}.example");
            let (found, _) = w.json(&["search", &name]);
            assert_eq!(found.to_string().contains(&name), stored, "{name}: {found}");
        }
    };
    stored_around("misp-answer");
    // one event whose middle attribute has such a quote: that attribute is rejected by its place, the attributes
    // around it stored (before, the whole event was refused)
    let one = d.path().join("one-event.json");
    std::fs::write(
        &one,
        r#"{"Event":{"uuid":"5c1a0a7e-0000-4000-8000-000000000009","info":"one event","date":"2024-01-01","Orgc":{"name":"Org"},"Attribute":[{"type":"domain","value":"misp-one-1.example"},{"type":"domain","value":"misp-one-2.example","comment":"the "GLASS" case"},{"type":"domain","value":"misp-one-3.example"}]}}"#,
    )
    .unwrap();
    let (r, code) = w.ingest(&[one.to_str().unwrap(), "--format", "misp"]);
    assert_eq!((code, r["rejected"].as_u64()), (1, Some(1)), "{r}");
    assert_eq!(r["errors"][0]["location"], "Event.Attribute[1]", "{r}");
    stored_around("misp-one");
    // a 100 MB single line
    let huge = d.path().join("huge.txt");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&huge).unwrap());
        f.write_all(b"first.example\n").unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\nlast.example\n").unwrap();
    }
    let (r, code) = v.ingest(&[huge.to_str().unwrap(), "--format", "iocs"]);
    assert_eq!((code, r["rejected"].as_u64()), (1, Some(1)), "{r}");
    assert!(r["errors"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("longer than"));
    // an object holding more text than one object may (64 MiB) between two good ones: that one refused by id,
    // naming the property, the others stored (before, the store's refusal failed the whole file)
    let big = d.path().join("big.json");
    {
        let ind = |n: u8| {
            format!(
                r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--{n}{n}{n}{n}{n}{n}{n}{n}-2222-4222-8222-222222222222","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","pattern":"[ipv4-addr:value = '198.51.100.{n}']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}}"#
            )
        };
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        write!(f, r#"{{"type":"bundle","id":"bundle--11111111-1111-4111-8111-111111111111","objects":[{},"#, ind(1)).unwrap();
        f.write_all(br#"{"type":"malware","spec_version":"2.1","id":"malware--33333333-3333-4333-8333-333333333333","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","name":"Big","is_family":true,"description":""#).unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..65 {
            f.write_all(&chunk).unwrap();
        }
        write!(f, r#""}},{}]}}"#, ind(2)).unwrap();
    }
    let (r, code) = v.ingest(&[big.to_str().unwrap()]);
    assert_eq!(
        (code, r["added"].as_u64(), r["rejected"].as_u64()),
        (1, Some(2), Some(1)),
        "{r}"
    );
    let e = &r["errors"][0];
    assert!(
        e["location"]
            .as_str()
            .unwrap()
            .contains("malware--33333333-3333-4333-8333-333333333333")
            && e["reason"].as_str().unwrap().contains(
                "more than the 64 MiB one object may hold (largest property: `description`)"
            ),
        "{e}"
    );
    // a bundle that is valid JSON but a number
    let num = d.path().join("num.json");
    std::fs::write(&num, "[42, {\"type\": \"bundle\"}]").unwrap();
    let (_, code) = v.ingest(&[num.to_str().unwrap(), "--format", "stix"]);
    assert_eq!(code, 1);
    // what was stored before is all still there, and the store is consistent
    let after = v.json(&["stats"]).0;
    for t in ["malware", "relationship", "indicator"] {
        assert!(
            after["objects"][t].as_u64() >= before["objects"][t].as_u64(),
            "{t}: {before} -> {after}"
        );
    }
    let (fx, _) = v.json(&["show", "FixtureRAT"]);
    assert_eq!(fx["versions"], 1);
    assert_eq!(v.json(&["check"]).0["ok"], true);
}

#[test]
fn kill_9_during_ingest_leaves_a_consistent_store_with_complete_files() {
    let v = Vigil::new();
    let d = tempfile::tempdir().unwrap();
    // a first file that completes, then a big one that is killed half-way
    std::fs::write(d.path().join("a-small.txt"), "complete-file.example\n").unwrap();
    {
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(d.path().join("b-big.txt")).unwrap());
        // One rejected line first: each good line gives two objects (indicator, relationship), so this puts
        // pipeline batches and commit points out of step with lines, where a part could end between them.
        writeln!(f, "not-an-indicator!").unwrap();
        for i in 0..400_000 {
            writeln!(f, "host{i}.big-kill-test.example").unwrap();
        }
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--data")
        .arg(v.data())
        .args(["ingest", d.path().to_str().unwrap(), "--source", "killed"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait until the first file and a first part of the second are committed, then kill in the middle of the second
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (s, _) = v.json(&["show", "complete-file.example"]);
        if (s.get("object").is_some() && v.count("indicator") > 1)
            || std::time::Instant::now() > deadline
        {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let (check, code) = v.json(&["check"]);
    assert_eq!((code, check["ok"].as_bool()), (0, Some(true)), "{check}");
    let (s, _) = v.json(&["show", "complete-file.example"]);
    assert!(
        s.get("object").is_some(),
        "the fully ingested file is present"
    );
    // The killed file is stored in parts (a commit point every 262,144 objects): the parts committed before the
    // kill are there, and ingesting the file again completes it without duplicates.
    let n = v.count("indicator");
    assert!((2..=400_001).contains(&n), "{n} indicators");
    // a part never ends between a line's indicator and its relationship
    assert_eq!(
        v.count("relationship"),
        n,
        "every stored indicator has its relationship"
    );
    let (r, _) = v.ingest(&[d.path().to_str().unwrap(), "--source", "killed"]);
    assert_eq!(r["rejected"], 1, "{r}");
    assert_eq!(v.count("indicator"), 400_001);
    assert_eq!(
        r["added"].as_u64().unwrap_or(0) + r["unchanged"].as_u64().unwrap_or(0),
        // every line's indicator and relationship (the family's malware came with the first file)
        2 * 400_000 + 2,
        "{r}"
    );
    let (check, _) = v.json(&["check"]);
    assert_eq!(check["ok"], true, "{check}");
    // and the store keeps working
    let (r, _) = v.ingest(&[&fixture("mixed-bundle.json")]);
    assert_eq!(r["added"], 3);
}

/// Small files are stored in groups, one transaction each (a MISP feed is thousands of files): a kill leaves every
/// file whole or absent, and ingesting again completes the run.
#[test]
fn kill_9_during_a_many_file_ingest_leaves_each_file_whole_or_absent() {
    const FILES: usize = 6_000;
    const LINES: usize = 30;
    let v = Vigil::new();
    let d = tempfile::tempdir().unwrap();
    for i in 0..FILES {
        let mut text = String::new();
        for j in 0..LINES {
            text.push_str(&format!("h{j}.f{i}.group-kill-test.example\n"));
        }
        std::fs::write(d.path().join(format!("f{i:05}.txt")), text).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("--data")
        .arg(v.data())
        .args(["ingest", d.path().to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // kill once a first group is committed
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while v.count("indicator") == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let finished = child.try_wait().unwrap().is_some();
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert!(
        !finished,
        "the ingest finished before it could be killed: make the input larger"
    );
    let (check, code) = v.json(&["check"]);
    assert_eq!((code, check["ok"].as_bool()), (0, Some(true)), "{check}");
    let per_file = |v: &Vigil| -> BTreeMap<usize, usize> {
        let text = v.export("csv", "export.csv", "red");
        // distinct names per file, whichever columns name them
        let mut names: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
        for name in text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .filter(|t| t.ends_with(".group-kill-test.example"))
        {
            let file = name.split('.').nth(1).and_then(|f| f.strip_prefix('f'));
            names
                .entry(file.unwrap().parse().unwrap())
                .or_default()
                .insert(name);
        }
        names.into_iter().map(|(f, n)| (f, n.len())).collect()
    };
    let stored = per_file(&v);
    assert!(
        !stored.is_empty() && stored.len() < FILES,
        "{} files stored before the kill",
        stored.len()
    );
    let partial: Vec<_> = stored.iter().filter(|(_, &n)| n != LINES).collect();
    assert!(partial.is_empty(), "files stored in part: {partial:?}");
    // every stored line has its relationship to its file's family
    assert_eq!(v.count("relationship"), v.count("indicator"));
    let (r, _) = v.ingest(&[d.path().to_str().unwrap()]);
    assert_eq!(r["rejected"], 0, "{r}");
    assert_eq!(r["files"], FILES as u64, "{r}");
    let stored = per_file(&v);
    assert_eq!(stored.len(), FILES);
    assert!(stored.values().all(|&n| n == LINES));
    assert_eq!(v.count("indicator"), (FILES * LINES) as u64);
}

/// A store that fails in the middle of a run (here a trigger in the real SQLite database, as a full disk would):
/// the error names the file being written and what was stored before it, the store stays consistent, and the
/// same command completes the run once the store works again.
#[test]
fn a_store_failure_mid_run_says_what_was_stored_and_a_rerun_completes() {
    let v = Vigil::new();
    let d = tempfile::tempdir().unwrap();
    // a.txt is large enough (80,001 objects) that its group commits at its end; b.txt fails, c.txt never comes
    let mut a = String::new();
    for i in 0..40_000 {
        a.push_str(&format!("a{i}.store-failure-test.example\n"));
    }
    std::fs::write(d.path().join("a.txt"), a).unwrap();
    let small = |p: &str| {
        (0..10)
            .map(|i| format!("{p}{i}.store-failure-test.example\n"))
            .collect::<String>()
    };
    std::fs::write(d.path().join("b.txt"), small("b")).unwrap();
    std::fs::write(d.path().join("c.txt"), small("c")).unwrap();
    // the id b's fifth line is stored under, from a store of its own
    let probe = Vigil::new();
    probe.ingest(&[d.path().join("b.txt").to_str().unwrap()]);
    let (shown, _) = probe.json(&["show", "b4.store-failure-test.example"]);
    let id = shown["object"]["id"]
        .as_str()
        .expect("indicator id")
        .to_string();
    let db = rusqlite::Connection::open(v.data().join("vigil.db")).unwrap();
    db.execute_batch(&format!(
        "CREATE TRIGGER injected_failure AFTER INSERT ON objects WHEN NEW.stix_id = '{id}'
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
    ))
    .unwrap();
    let out = v.run(&["ingest", d.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for want in [
        "the store failed while writing",
        "b.txt",
        "injected failure",
        "1 file was stored whole before it",
        "a.txt",
        "ingest the same input again",
    ] {
        assert!(stderr.contains(want), "{want:?} not in {stderr}");
    }
    let (check, code) = v.json(&["check"]);
    assert_eq!((code, check["ok"].as_bool()), (0, Some(true)), "{check}");
    assert_eq!(
        v.count("indicator"),
        40_000,
        "a.txt whole, nothing of b.txt or c.txt"
    );
    assert_eq!(v.count("relationship"), 40_000);
    db.execute_batch("DROP TRIGGER injected_failure").unwrap();
    let (r, code) = v.ingest(&[d.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["unchanged"], 80_000, "a's lines: {r}");
    assert_eq!(
        r["added"],
        2 * 20 + 2,
        "b's and c's lines with their families: {r}"
    );
    assert_eq!(v.count("indicator"), 40_020);
}

#[test]
fn real_data_attack_galaxy_lumma_misp() {
    let Some(s) = shared() else { return };
    let v = Vigil::new();
    let attack = s.join("mitre-attack/enterprise-attack.json.gz");
    let (r, _) = v.ingest(&[attack.to_str().unwrap()]);
    assert_eq!(r["rejected"], 0, "{}", r["errors"]);
    // counts match the bundle's live objects
    let bundle: Value = {
        let f = std::fs::File::open(&attack).unwrap();
        serde_json::from_reader(flate2::read::GzDecoder::new(f)).unwrap()
    };
    let mut want = std::collections::BTreeMap::<String, u64>::new();
    for o in bundle["objects"].as_array().unwrap() {
        if o["revoked"] != true && o["x_mitre_deprecated"] != true {
            *want
                .entry(o["type"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    let stats = v.json(&["stats"]).0;
    for t in [
        "attack-pattern",
        "intrusion-set",
        "malware",
        "tool",
        "campaign",
        "relationship",
    ] {
        assert_eq!(stats["objects"][t].as_u64(), want.get(t).copied(), "{t}");
    }
    let (again, _) = v.ingest(&[attack.to_str().unwrap()]);
    assert_eq!(
        (again["added"].as_u64(), again["updated"].as_u64()),
        (Some(0), Some(0))
    );
    v.ingest(&[s
        .join("misp-galaxy/clusters/threat-actor.json")
        .to_str()
        .unwrap()]);
    let (apt, _) = v.json(&["show", "Fancy Bear"]);
    assert_eq!(apt["object"]["name"], "APT28");
    assert_eq!(apt["country"], "RU");
    let rel = apt["related"].as_array().unwrap();
    assert!(rel
        .iter()
        .any(|r| r["type"] == "attack-pattern" && r["external_id"] == "T1566.001"));
    assert!(rel
        .iter()
        .any(|r| r["type"] == "malware" && r["name"] == "CHOPSTICK"));
    let before = v.count("indicator");
    let (l, _) = v.ingest(&[
        s.join("maltrail/lummac2.txt").to_str().unwrap(),
        "--source",
        "lummac2",
    ]);
    assert!(v.count("indicator") - before >= 15_000, "{l}");
    let (lumma, _) = v.json(&["show", "lummac2"]);
    assert!(
        lumma["related"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["relationship_type"] == "indicates")
            .count()
            >= 15_000
    );
    let (m, code) = v.ingest(&[s.join("misp-events-pymisp/tests").to_str().unwrap()]);
    assert_eq!(code, 1, "non-event files are rejected: {m}");
    assert!(m["added"].as_u64().unwrap() > 100);
    let reasons = m["errors"].to_string();
    assert!(
        reasons.contains("not a MISP event") || reasons.contains("unknown format"),
        "{reasons}"
    );
}

/// On a machine without the shared data the demo tours the bundled sample alone: the hunt still finds two
/// QuillLoader names, every rejection says where and why, and no stand-in name turns up among the leads.
#[test]
fn demo_without_the_shared_data_tours_the_bundled_sample() {
    let v = Vigil::new();
    let missing = v.dir.path().join("no-shared-data");
    let out = v.run(&["demo", "--shared", &missing.display().to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("../shared/data not found"), "{text}");
    assert!(!text.contains("the rest of the tour stopped"), "{text}");
    assert!(text.contains("6 lines, 2 hits"), "{text}");
    assert!(
        text.contains("files-share.example") && text.contains("malware [QuillLoader]"),
        "{text}"
    );
    // The sample list's prose line is rejected, and the line under its step says so.
    assert!(
        text.contains("not loaded: quillloader.txt line ")
            && text.contains("see attached spreadsheet"),
        "{text}"
    );
    assert!(!text.contains("www.example.org"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_end().ends_with("qx7vk2lz9wfhr3tb.top")),
        "{text}"
    );
    // The sample's link to ATT&CK cannot be stored without ATT&CK: the demo says where that comes from, and it
    // offers no command about data it did not load.
    assert!(
        text.contains("dangling reference")
            && text.contains("comes with the public data sets: pass --shared DIR"),
        "{text}"
    );
    assert!(!text.contains("show CVE-2021-44228"), "{text}");
    assert!(!text.contains("show \"Fancy Bear\""), "{text}");
}

/// The README's first command: the demo loads the data and tours every capability on it.
#[test]
fn demo_tours_every_capability() {
    let Some(s) = shared() else { return };
    let v = Vigil::new();
    let out = v.run(&["demo", "--shared", &s.display().to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {err}");
    assert!(!text.contains("the rest of the tour stopped"), "{text}");
    // The PyMISP corpus's files that are not events are left out, and the line under that step names one.
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("not loaded") && l.contains(".json")),
        "{text}"
    );
    // Knowledge base: the real actor with its country.
    assert!(
        text.contains("intrusion-set APT28") && text.contains("country: RU"),
        "{text}"
    );
    // Hunting: the LummaC2 domain and the sample family are found, the near miss is not.
    assert!(text.contains("6 lines, 2 hits"), "{text}");
    // maltrail's `lummac2` is malpedia's `Lumma Stealer` (synonym `LummaC2 Stealer`), matched by its stem.
    assert!(text.contains("malware [Lumma Stealer]"), "{text}");
    assert!(
        text.contains("malware [QuillLoader] actors [GLASS HERON]"),
        "{text}"
    );
    assert!(
        !text.contains("line 4 "),
        "the near miss was reported: {text}"
    );
    // The two names in no intelligence are scored as leads, each with a score in [0, 1].
    for name in ["qx7vk2lz9wfhr3tb.top", "termine.musterhausen.de"] {
        let line = text
            .lines()
            .find(|l| l.trim_end().ends_with(name))
            .unwrap_or_else(|| panic!("no lead for {name}: {text}"));
        let score: f64 = line
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .expect("a score");
        assert!((0.0..=1.0).contains(&score), "{line}");
    }
    // The town's appointment site is a lead (above): the remedy is named with it.
    assert!(
        text.contains("termine.musterhausen.de is a fictional town's appointment site")
            && text.contains("--format warninglist"),
        "{text}"
    );
    // Notices: KEV-listed Log4j on the demo ministry's inventory, with a deadline and plain-language sections.
    assert!(text.contains("CVE-2021-44228"), "{text}");
    assert!(
        text.contains("## What to do") && text.contains("## By when"),
        "{text}"
    );
    // The models: the report's hash and CVE are extracted.
    assert!(
        text.contains("5f4dcc3b5aa765d61d8327deb882cf992b95f1c7a8e3b0b1b7b0b5d1c4e2f3a9"),
        "{text}"
    );
    // Attribution from the techniques the tagger found: ranked groups.
    let (_, ranked) = text
        .split_once("The known groups these techniques resemble most")
        .unwrap_or_else(|| panic!("no attribution: {text}"));
    assert!(
        ranked.lines().any(|l| l.trim_start().starts_with("1. ")),
        "{text}"
    );
    // A second run over the same store adds nothing new and still tours.
    let again = v.run(&["demo", "--shared", &s.display().to_string()]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("6 lines, 2 hits"));
}

#[test]
fn retract_withdraws_a_source_or_a_value_from_every_path_and_holds_against_feeds() {
    let v = Vigil::new();
    v.ingest(&[&fixture("family-list.txt"), "--source", "FixtureStealer"]);
    // Another feed reports one of the same domains: that indicator must survive the first feed's retraction.
    let other = v.data().join("other-feed.txt");
    std::fs::write(&other, "steal-me.example\nsecond-opinion.example\n").expect("write list");
    v.ingest(&[other.to_str().expect("utf-8 path"), "--source", "OtherFeed"]);
    assert_eq!(v.count("indicator"), 6);
    let (plan, code) = v.json(&["retract", "--source", "FixtureStealer", "--dry-run"]);
    assert_eq!(code, 0, "{plan}");
    assert_eq!(plan["dry_run"], true);
    // Four of its five indicators (the fifth is OtherFeed's too), the family, and the five `indicates` edges
    // to it: the kept domain's edge goes with the family.
    assert_eq!(plan["by_type"]["indicator"], 4, "{plan}");
    assert_eq!(plan["by_type"]["malware"], 1, "{plan}");
    assert_eq!(plan["by_type"]["relationship"], 5, "{plan}");
    assert_eq!(plan["kept"], 1, "{plan}");
    assert_eq!(plan["kept_objects"][0]["other_sources"][0], "OtherFeed");
    assert_eq!(v.count("indicator"), 6, "a dry run writes nothing");

    let (done, code) = v.json(&[
        "retract",
        "--source",
        "FixtureStealer",
        "--reason",
        "test list",
    ]);
    assert_eq!(code, 0, "{done}");
    assert_eq!(done["retracted"], plan["retracted"]);
    assert_eq!(v.count("indicator"), 2);
    assert_eq!(v.count("malware"), 1, "OtherFeed's family stays");
    // Every path out leaves the withdrawn values out; the kept one is still hunted.
    let csv = v.data().join("iocs.csv");
    let (e, code) = v.json(&["export", "csv", "--out", csv.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{e}");
    let text = std::fs::read_to_string(&csv).expect("read export");
    assert!(text.contains("steal-me.example") && text.contains("second-opinion.example"));
    for gone in [
        "gate.php",
        "203.0.113.0/24",
        "2001:db8::1",
        "d41d8cd98f00b204e9800998ecf8427e",
    ] {
        assert!(!text.contains(gone), "export still holds {gone}: {text}");
    }
    let log = v.data().join("proxy.jsonl");
    std::fs::write(
        &log,
        "{\"url\":\"https://steal-me.example/gate.php\",\"host\":\"steal-me.example\"}\n{\"host\":\"203.0.113.7\"}\n",
    )
    .expect("write log");
    let hunt = v.run(&[
        "hunt",
        log.to_str().expect("utf-8"),
        "--format",
        "jsonl",
        "--field",
        "url=url",
        "--field",
        "host=domain",
    ]);
    let hits: Vec<Value> = String::from_utf8_lossy(&hunt.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one sighting per line"))
        .collect();
    let hit: Vec<(&str, &str)> = hits
        .iter()
        .map(|h| {
            (
                h["type"].as_str().unwrap_or(""),
                h["indicator"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        hit,
        vec![("domain", "steal-me.example")],
        "only the kept indicator is hunted"
    );
    assert_eq!(
        hits[0]["malware"],
        serde_json::json!(["OtherFeed"]),
        "the retracted family is gone"
    );
    // The history keeps what was believed: the revoked version names who and why.
    let (shown, _) = v.json(&["show", "203.0.113.0/24"]);
    assert_eq!(shown["object"]["revoked"], true, "{shown}");
    assert_eq!(shown["object"]["x_vigil_retraction"]["reason"], "test list");
    // The feed runs again: Vigil derived these objects, so the same lines keep their retracted ids.
    v.ingest(&[&fixture("family-list.txt"), "--source", "FixtureStealer"]);
    assert_eq!(v.count("indicator"), 2, "a feed run undid the retraction");
    // One value, defanged as an analyst pastes it.
    let (one, code) = v.json(&["retract", "second-opinion[.]example"]);
    assert_eq!(code, 0, "{one}");
    assert_eq!(one["by_type"]["indicator"], 1, "{one}");
    assert_eq!(one["cascaded"], 1, "its indicates edge: {one}");
    assert_eq!(v.count("indicator"), 1);
    let missing = v.run(&["retract", "never-seen.example"]);
    assert_eq!(
        missing.status.code(),
        Some(2),
        "an unknown value is an error"
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("never-seen.example"));
    let (nothing, code) = v.json(&["retract", "--source", "FixtureStealer"]);
    assert_eq!(
        (nothing["retracted"].as_u64(), code),
        (Some(0), 0),
        "{nothing}"
    );
    let (check, code) = v.json(&["check"]);
    assert_eq!(code, 0, "{check}");
}

/// Real data: ESET's README pages forced through the list reader (as stores built before the reader refused them
/// hold) add the vendor's blog and social links as indicators; retracting that source's README files restores the
/// live knowledge to what the real indicator files gave, and leaves every indicator those files also name.
#[test]
fn real_data_retracting_misread_readme_pages_restores_the_store() {
    let Some(shared) = shared() else { return };
    let eset = shared.join("eset-malware-ioc");
    let v = Vigil::new();
    let (first, _) = v.ingest(&[eset.to_str().expect("utf-8"), "--source", "eset"]);
    let before = v.json(&["stats"]).0["objects"].clone();
    let readmes: Vec<String> = std::fs::read_dir(&eset)
        .expect("read eset folder")
        .filter_map(|e| e.ok().map(|e| e.path().join("README.adoc")))
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    assert!(readmes.len() > 50, "{} README pages", readmes.len());
    let mut args: Vec<&str> = readmes.iter().map(String::as_str).collect();
    args.extend(["--format", "iocs", "--source", "eset"]);
    let (misread, _) = v.ingest(&args);
    let added = misread["added"].as_u64().expect("added");
    assert!(added > 1000, "{misread}");
    let (plan, code) = v.json(&[
        "retract",
        "--source",
        "eset",
        "--file",
        "*/README.adoc",
        "--dry-run",
    ]);
    assert_eq!(code, 0, "{plan}");
    assert_eq!(
        plan["retracted"].as_u64(),
        Some(added),
        "exactly what the pages added: {plan}"
    );
    assert_eq!(plan["other_files"], first["added"], "{plan}");
    let (done, code) = v.json(&["retract", "--source", "eset", "--file", "*/README.adoc"]);
    assert_eq!(
        (done["retracted"].as_u64(), code),
        (Some(added), 0),
        "{done}"
    );
    assert_eq!(v.json(&["stats"]).0["objects"], before);
}

/// Every relationship of the store, as `vigil export stix --type relationship --tlp-max red` writes them.
fn relationships(v: &Vigil) -> Vec<Value> {
    let out = v.data().join("rels.json");
    let (r, code) = v.json(&[
        "export",
        "stix",
        "--type",
        "relationship",
        "--tlp-max",
        "red",
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 0, "{r}");
    let b: Value =
        serde_json::from_slice(&std::fs::read(&out).expect("read the export")).expect("JSON");
    b["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["type"] == "relationship")
        .cloned()
        .collect()
}

/// Links a reader asks for before their targets are stored wait for them: a MISP threat-actor galaxy read before
/// the STIX bundle of the group it names gets its `attributed-to` when the bundle comes, with the galaxy's marking,
/// as in the other order; a link whose target never comes stays unmade.
#[test]
fn a_galaxy_read_before_the_group_it_names_is_attributed_when_the_group_comes() {
    let dir = tempfile::tempdir().unwrap();
    let galaxy = dir.path().join("threat-actor.json");
    std::fs::write(
        &galaxy,
        json!({"type": "threat-actor", "name": "Threat Actor", "uuid": "7cdff317-a673-4474-84ec-4f1754947823",
               "authors": ["test"], "source": "test", "version": 1, "description": "test",
               "values": [
                 {"value": "Vigil Test Bear", "uuid": "9a1c3e5f-2b4d-4f6a-8c0e-1d3f5a7b9c01",
                  "meta": {"synonyms": ["VTG-1"], "country": "RU"}},
                 {"value": "Nobody Known", "uuid": "9a1c3e5f-2b4d-4f6a-8c0e-1d3f5a7b9c02", "meta": {}}]})
        .to_string(),
    )
    .unwrap();
    let group = dir.path().join("group.json");
    std::fs::write(
        &group,
        json!({"type": "bundle", "id": "bundle--0b6d1c2e-3f4a-4b5c-8d6e-7f8091a2b3c4", "objects": [
            {"type": "intrusion-set", "spec_version": "2.1", "id": "intrusion-set--3c5e7a9b-1d2f-4a6c-8e0b-2d4f6a8c0e13",
             "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
             "name": "VTG-1", "aliases": ["VTG-1"],
             "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}]})
        .to_string(),
    )
    .unwrap();
    let attributions = |v: &Vigil| -> Vec<(String, String, String)> {
        let mut rels: Vec<(String, String, String)> = relationships(v)
            .iter()
            .filter(|o| o["relationship_type"] == "attributed-to")
            .map(|o| {
                (
                    o["source_ref"].as_str().unwrap().to_string(),
                    o["target_ref"].as_str().unwrap().to_string(),
                    o["object_marking_refs"].to_string(),
                )
            })
            .collect();
        rels.sort();
        rels
    };
    let galaxy_first = Vigil::new();
    galaxy_first.ingest(&[galaxy.to_str().unwrap()]);
    assert!(attributions(&galaxy_first).is_empty());
    // `stats` says what the galaxy's link waits for, by a name an analyst knows (not a STIX id)
    let pending = galaxy_first.json(&["stats"]).0["pending_links"].clone();
    let waiting: Vec<(&String, &Value)> =
        pending.as_object().expect("pending_links").iter().collect();
    assert_eq!(waiting.len(), 1, "{pending}");
    assert!(waiting[0].0.contains("intrusion-set"), "{pending}");
    // each actor of the galaxy waits for a group of its name
    assert_eq!(waiting[0].1["count"], 2, "{pending}");
    let examples = waiting[0].1["examples"].to_string();
    assert!(
        (examples.contains("Vigil Test Bear") || examples.contains("VTG-1"))
            && examples.contains("Nobody Known")
            && !examples.contains("--"),
        "{pending}"
    );
    let text = String::from_utf8_lossy(&galaxy_first.run(&["stats"]).stdout).to_string();
    assert!(
        text.contains("2 relationships wait for objects not loaded yet")
            && text.contains("intrusion-set"),
        "{text}"
    );
    let (r, _) = galaxy_first.ingest(&[group.to_str().unwrap()]);
    assert_eq!(r["rejected"], 0, "{r}");
    // Vigil Test Bear's link is made, so no longer waiting; Nobody Known's still is
    let pending = galaxy_first.json(&["stats"]).0["pending_links"].clone();
    let waiting: Vec<&Value> = pending
        .as_object()
        .expect("pending_links")
        .values()
        .collect();
    assert_eq!(waiting.len(), 1, "{pending}");
    assert_eq!(waiting[0]["count"], 1, "{pending}");
    assert_eq!(waiting[0]["examples"], json!(["Nobody Known"]), "{pending}");
    let got = attributions(&galaxy_first);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].0,
        "intrusion-set--3c5e7a9b-1d2f-4a6c-8e0b-2d4f6a8c0e13"
    );
    // the galaxy is a public reference: TLP:CLEAR, as it is in the other order
    assert!(
        got[0].2.contains(vigil_model::Tlp::Clear.marking_id()),
        "{got:?}"
    );
    let group_first = Vigil::new();
    group_first.ingest(&[group.to_str().unwrap()]);
    group_first.ingest(&[galaxy.to_str().unwrap()]);
    assert_eq!(attributions(&group_first), got);
    // the group again: nothing new, nothing lost
    let (r, _) = galaxy_first.ingest(&[group.to_str().unwrap()]);
    assert_eq!(
        (r["added"].as_u64(), r["updated"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
    assert_eq!(attributions(&galaxy_first), got);
}

/// The real MISP galaxies and ATT&CK give the same actor attributions and family links in either order.
#[test]
fn real_galaxies_and_attack_link_the_same_in_either_order() {
    let Some(s) = shared() else { return };
    let galaxies = [
        s.join("misp-galaxy/clusters/malpedia.json"),
        s.join("misp-galaxy/clusters/threat-actor.json"),
    ];
    let attack = s.join("mitre-attack/enterprise-attack.json.gz");
    let links = |v: &Vigil| -> Vec<String> {
        let mut rels: Vec<String> = relationships(v)
            .iter()
            .filter(|o| {
                matches!(
                    o["relationship_type"].as_str(),
                    Some("attributed-to" | "related-to")
                ) && !o["source_ref"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("report--")
            })
            .map(|o| {
                format!(
                    "{} {} {} {}",
                    o["source_ref"],
                    o["relationship_type"],
                    o["target_ref"],
                    o["object_marking_refs"]
                )
            })
            .collect();
        rels.sort();
        rels
    };
    let g: Vec<&str> = galaxies.iter().map(|p| p.to_str().unwrap()).collect();
    let attack_first = Vigil::new();
    attack_first.ingest(&[attack.to_str().unwrap()]);
    attack_first.ingest(&g);
    let galaxies_first = Vigil::new();
    galaxies_first.ingest(&g);
    galaxies_first.ingest(&[attack.to_str().unwrap()]);
    let a = links(&attack_first);
    let threat_actor_links = a.iter().filter(|l| l.contains("threat-actor--")).count();
    assert!(
        threat_actor_links > 150,
        "{threat_actor_links} actor attributions"
    );
    assert_eq!(links(&galaxies_first), a);
}
