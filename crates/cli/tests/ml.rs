//! End-to-end tests of `vigil ml ...`, `vigil ingest --format report` and `vigil review` through the binary: the
//! JSON contracts of the issue, streaming, bad input, damaged models, the review cycle, and (with the shared data)
//! reproducible training and fresh committed artifacts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// `vigil ml extract --json`'s indicators as (type, value), in order.
fn indicator_values(j: &Value) -> Vec<(String, String)> {
    j["indicators"]
        .as_array()
        .expect("indicators")
        .iter()
        .map(|i| (i["type"].to_string(), i["value"].to_string()))
        .collect()
}

/// `vigil ml tag --json`'s technique ids, in order.
fn technique_ids(j: &Value) -> Vec<String> {
    j["techniques"]
        .as_array()
        .expect("techniques")
        .iter()
        .map(|t| t["id"].to_string())
        .collect()
}

/// `vigil ml tag` finds techniques in `original` and the same ones in `copy` (the same text in another encoding).
fn tags_alike(v: &Vigil, original: &str, copy: &str) {
    let (a, code) = v.json(&["ml", "tag", original]);
    assert_eq!(code, 0);
    let (b, code) = v.json(&["ml", "tag", copy]);
    assert_eq!(code, 0, "{b}");
    assert!(!technique_ids(&a).is_empty());
    assert_eq!(technique_ids(&a), technique_ids(&b));
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ml")
        .join(name)
        .display()
        .to_string()
}

/// The shared data (`../shared/data` from the repository root), or None with a loud skip.
fn shared_data(test: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if p.join("tram").is_dir() && p.join("maltrail").is_dir() {
        Some(p)
    } else {
        eprintln!("SKIPPED {test}: ../shared/data is absent");
        None
    }
}

/// A deterministic xorshift stream for the corpora these tests write.
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

struct Vigil {
    dir: tempfile::TempDir,
}

impl Vigil {
    fn new() -> Self {
        Vigil {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn data(&self) -> &Path {
        self.dir.path()
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
        c.arg("--data")
            .arg(self.data())
            .env_remove("VIGIL_ML_MODELS");
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().expect("run vigil");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "panic: {stderr}");
        out
    }
    fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vigil");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().expect("wait");
        writer.join().expect("writer");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
        out
    }
    fn json(&self, args: &[&str]) -> (Value, i32) {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout of {args:?} is not one JSON document ({e}): {:?} / {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (v, out.status.code().unwrap_or(-1))
    }
}

#[test]
fn extract_prints_the_contract_with_byte_offsets() {
    let v = Vigil::new();
    let (j, code) = v.json(&["ml", "extract", &fixture("report.md")]);
    assert_eq!(code, 0);
    let obj = j.as_object().expect("object");
    assert_eq!(obj.len(), 1, "only `indicators`: {j}");
    let raw = std::fs::read(fixture("report.md")).expect("fixture");
    let inds = j["indicators"].as_array().expect("indicators");
    let allowed = [
        "domain",
        "ipv4",
        "ipv6",
        "cidr",
        "url",
        "email",
        "md5",
        "sha1",
        "sha256",
        "sha512",
        "cve",
        "attack-technique",
        "btc",
        "file",
        "registry",
    ];
    let mut seen = std::collections::BTreeSet::new();
    for i in inds {
        let ty = i["type"].as_str().expect("type");
        assert!(allowed.contains(&ty), "type {ty}");
        let c = i["confidence"].as_f64().expect("confidence");
        assert!((0.0..=1.0).contains(&c));
        let off = i["offset"].as_u64().expect("offset") as usize;
        assert!(off < raw.len());
        seen.insert((
            ty.to_string(),
            i["value"].as_str().expect("value").to_string(),
        ));
    }
    for (t, val) in [
        ("url", "http://update-check.paper-lantern.com/stage2.ps1"),
        ("domain", "mail-sync.paper-lantern.com"),
        ("ipv4", "185.220.101.47"),
        ("email", "ops@paper-lantern.com"),
        ("cve", "CVE-2023-23397"),
        ("attack-technique", "T1203"),
        (
            "sha256",
            "0f3c8a1e9b7d2c4e6a5f8b1d3e7c9a2b4d6f8e0a1c3b5d7f9e2a4c6b8d0f1e3a",
        ),
    ] {
        assert!(
            seen.contains(&(t.to_string(), val.to_string())),
            "{t} {val} missing: {seen:?}"
        );
    }
    // The refanged IP's offset points at its defanged form in the input.
    let ip = inds
        .iter()
        .find(|i| i["value"] == "185.220.101.47")
        .expect("ip");
    let off = ip["offset"].as_u64().expect("offset") as usize;
    assert!(raw[off..].starts_with(b"185.220.101[.]47"));
    // A version number and MITRE's own site are not indicators.
    assert!(!seen.iter().any(|(_, v)| v.starts_with("10.0.19041")));
    assert!(!seen.iter().any(|(_, v)| v.contains("attack.mitre.org")));

    // --type filters; the same from stdin.
    let out = v.run_stdin(&["ml", "extract", "-", "--type", "ipv4", "--json"], &raw);
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(j["indicators"]
        .as_array()
        .expect("array")
        .iter()
        .all(|i| i["type"] == "ipv4"));
    assert_eq!(j["indicators"].as_array().map(Vec::len), Some(1));

    let out = v.run(&["ml", "extract", &fixture("report.md"), "--type", "bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown indicator type `bogus`"));
}

#[test]
fn extract_and_tag_degrade_on_binary_and_missing_input() {
    let v = Vigil::new();
    // Deterministic pseudo-random bytes with a defanged domain in the middle.
    let mut bytes = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..300_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        bytes.push((x >> 16) as u8);
    }
    bytes.extend_from_slice(b" evil-domain[.]com ");
    let f = v.data().join("garbage.bin");
    std::fs::write(&f, &bytes).expect("write");
    let f = f.display().to_string();
    let out = v.run(&["ml", "extract", &f, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(j["indicators"]
        .as_array()
        .expect("array")
        .iter()
        .any(|i| i["value"] == "evil-domain.com"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("control/NUL byte(s)") || err.contains("invalid UTF-8"),
        "skips reported: {err}"
    );
    let out = v.run(&["ml", "tag", &f, "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("looks binary"));
    let out = v.run(&["ml", "extract", "/nonexistent/report.txt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/report.txt"));
}

/// A report saved as UTF-16 (Windows PowerShell 5.1's `Get-Content report.md > copy.txt`) is read as its text: the
/// same indicators and techniques as the UTF-8 original, offsets into the UTF-16 file.
#[test]
fn a_utf16_report_is_read_as_its_text() {
    let v = Vigil::new();
    let text = std::fs::read_to_string(fixture("report.md")).expect("fixture");
    let utf16 =
        vigil_model::encoding::encode_utf16(&text, vigil_model::encoding::Utf16Order::Little, true);
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("report-utf16.txt");
    std::fs::write(&f, &utf16).expect("write");
    let f = f.display().to_string();
    let (a, code) = v.json(&["ml", "extract", &fixture("report.md")]);
    assert_eq!(code, 0);
    let (b, code) = v.json(&["ml", "extract", &f]);
    assert_eq!(code, 0);
    assert!(!indicator_values(&a).is_empty());
    assert_eq!(indicator_values(&a), indicator_values(&b));
    for i in b["indicators"].as_array().expect("indicators") {
        let off = i["offset"].as_u64().expect("offset") as usize;
        assert!(off.is_multiple_of(2) && off < utf16.len(), "{i}");
    }
    tags_alike(&v, &fixture("report.md"), &f);
}

/// A report in a legacy encoding (Word's "Save as plain text": windows-1252, its quotes curly) is read as its text:
/// the same indicators and techniques as the UTF-8 original, and the quoted indicator that touches its quotes.
#[test]
fn a_legacy_encoded_report_is_read_as_its_text() {
    let v = Vigil::new();
    let text = std::fs::read_to_string(fixture("report.md")).expect("fixture")
        + "\nAlso seen: “legacy-c2[.]example-cdn.net” and «185.244.25[.]19».\n";
    let enc = vigil_ml::extract::Encoding::for_label(b"windows-1252").expect("windows-1252");
    let (bytes, _, bad) = enc.encode(&text);
    assert!(!bad);
    let dir = tempfile::tempdir().expect("tempdir");
    let (f8, f) = (dir.path().join("utf8.md"), dir.path().join("cp1252.txt"));
    std::fs::write(&f8, text.as_bytes()).expect("write");
    std::fs::write(&f, &bytes).expect("write");
    let (f8, f) = (f8.display().to_string(), f.display().to_string());
    let (a, code) = v.json(&["ml", "extract", &f8]);
    assert_eq!(code, 0);
    let out = v.run(&["ml", "extract", &f, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let b: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(indicator_values(&a), indicator_values(&b));
    for want in ["legacy-c2.example-cdn.net", "185.244.25.19"] {
        assert!(
            indicator_values(&b)
                .iter()
                .any(|(_, v)| v.trim_matches('"') == want),
            "{want}: {b}"
        );
    }
    // Offsets count the input's bytes: one per character in windows-1252, so each is the UTF-8 offset's
    // character count.
    let offs = |j: &Value| -> Vec<usize> {
        j["indicators"]
            .as_array()
            .expect("indicators")
            .iter()
            .map(|i| i["offset"].as_u64().expect("offset") as usize)
            .collect()
    };
    let chars: Vec<usize> = offs(&a)
        .iter()
        .map(|&o| text[..o].chars().count())
        .collect();
    assert_eq!(offs(&b), chars);
    assert!(
        chars.iter().zip(offs(&a)).any(|(c, o)| *c != o),
        "some offset after a non-ASCII character"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("input read as windows-1252"), "{err}");
    tags_alike(&v, &f8, &f);
}

#[test]
fn tag_prints_techniques_with_evidence_from_the_text() {
    let v = Vigil::new();
    let (j, code) = v.json(&["ml", "tag", &fixture("report.md")]);
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(fixture("report.md")).expect("fixture");
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = squash(&text);
    let techs = j["techniques"].as_array().expect("techniques");
    assert!(!techs.is_empty());
    let mut last = f64::INFINITY;
    for t in techs {
        let id = t["id"].as_str().expect("id");
        assert!(id.starts_with('T') && id.len() >= 5, "{id}");
        let s = t["score"].as_f64().expect("score");
        assert!((0.0..=1.0).contains(&s) && s <= last, "best first");
        last = s;
        let ev = t["evidence"].as_array().expect("evidence");
        assert!(!ev.is_empty(), "{id} cites no sentence");
        for e in ev {
            let e = e.as_str().expect("sentence");
            assert!(text.contains(&squash(e)), "evidence not from the text: {e}");
        }
    }
    assert!(
        techs.iter().any(|t| t["id"] == "T1547.001"),
        "the Run key is described: {j}"
    );
    // Each tag carries its ATT&CK name, from the bundled ATT&CK tables.
    let run_key = techs
        .iter()
        .find(|t| t["id"] == "T1547.001")
        .expect("T1547.001");
    assert_eq!(
        run_key["name"],
        "Boot or Logon Autostart Execution: Registry Run Keys / Startup Folder"
    );
    assert!(
        techs
            .iter()
            .all(|t| t["name"].as_str().is_some_and(|n| !n.is_empty())),
        "{j}"
    );
}

#[test]
fn score_domains_streams_one_line_per_domain_in_order() {
    let v = Vigil::new();
    let input = b"google.com\n# comment\n\nxkqjzv8w3lpt.top\nWIKIPEDIA.ORG.\nbad domain\nqwxz-paypal-login-secure-verify.info\n";
    let out = v.run_stdin(&["ml", "score-domains", "-", "--json"], input);
    assert_eq!(out.status.code(), Some(1), "a skipped line is reported");
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 6"));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let names: Vec<&str> = lines
        .iter()
        .map(|l| l["domain"].as_str().expect("domain"))
        .collect();
    assert_eq!(
        names,
        [
            "google.com",
            "xkqjzv8w3lpt.top",
            "WIKIPEDIA.ORG.",
            "qwxz-paypal-login-secure-verify.info"
        ]
    );
    for l in &lines {
        assert_eq!(l.as_object().map(|o| o.len()), Some(2));
        let s = l["score"].as_f64().expect("score");
        assert!((0.0..=1.0).contains(&s));
    }
    assert!(lines[1]["score"].as_f64() > lines[0]["score"].as_f64());
    assert!(lines[3]["score"].as_f64() > lines[2]["score"].as_f64());
}

/// A list saved in a Windows code page: its internationalised names were invalid UTF-8 lines, skipped.
#[test]
fn score_domains_reads_a_list_in_a_windows_code_page() {
    let v = Vigil::new();
    let d = tempfile::tempdir().expect("tempdir");
    let list = d.path().join("names.txt");
    // windows-1252: `ü` is 0xFC.
    std::fs::write(
        &list,
        b"b\xfccher.de\nm\xfcnchen-login-secure.info\ngoogle.com\n",
    )
    .expect("write");
    let out = v.run(&[
        "ml",
        "score-domains",
        list.to_str().expect("utf-8"),
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("line 1: not UTF-8 from here on: read as windows-125"),
        "{stderr}"
    );
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("one JSON object per line");
            v["domain"].as_str().expect("domain").to_string()
        })
        .collect();
    assert_eq!(
        names,
        ["bücher.de", "münchen-login-secure.info", "google.com"]
    );
}

#[test]
fn score_domains_explains_each_score_on_request() {
    let v = Vigil::new();
    let input = b"google.com\nxkqjzv8w3lpt.top\nbad domain\nlogin.bank-secure.duckdns.org\n";
    let plain = v.run_stdin(&["ml", "score-domains", "-", "--json"], input);
    let out = v.run_stdin(&["ml", "score-domains", "-", "--json", "--explain"], input);
    assert_eq!(out.status.code(), Some(1), "the bad line is still reported");
    let parse = |b: &[u8]| -> Vec<Value> {
        String::from_utf8_lossy(b)
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    };
    let (plain, lines) = (parse(&plain.stdout), parse(&out.stdout));
    assert_eq!(lines.len(), 3);
    let signals = [
        "name-ngrams",
        "labels",
        "suffix",
        "label-ngrams",
        "shape-crosses",
        "shape",
        "second-stage",
    ];
    for (l, p) in lines.iter().zip(&plain) {
        // The contract's fields, with the same values as without --explain.
        assert_eq!(l["domain"], p["domain"]);
        assert_eq!(l["score"], p["score"]);
        let ev = l["evidence"].as_array().expect("evidence");
        let mut got: Vec<&str> = ev.iter().filter_map(|e| e["signal"].as_str()).collect();
        got.sort_unstable();
        let mut want = signals.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{l}");
        let w: Vec<f64> = ev.iter().filter_map(|e| e["weight"].as_f64()).collect();
        assert!(w.windows(2).all(|p| p[0].abs() >= p[1].abs()), "{l}");
        // The score is the logistic of the log-odds.
        let z = l["log_odds"].as_f64().expect("log_odds");
        let s = l["score"].as_f64().expect("score");
        assert!((1.0 / (1.0 + (-z).exp()) - s).abs() < 1e-3, "{l}");
    }
    assert_eq!(lines[1]["public_suffix"], "top");
    assert_eq!(lines[2]["registered_domain"], "bank-secure.duckdns.org");
    assert_eq!(lines[2]["dynamic_dns"], true);
    assert_eq!(lines[0]["dynamic_dns"], false);
    // The random .top name's n-grams push it up, google.com's pull it down.
    let grams = |l: &Value| {
        l["evidence"]
            .as_array()
            .and_then(|e| e.iter().find(|x| x["signal"] == "name-ngrams"))
            .and_then(|x| x["weight"].as_f64())
            .expect("name-ngrams weight")
    };
    assert!(grams(&lines[1]) > 0.0 && grams(&lines[0]) < 0.0);
    // As text: a score line, then one line per signal.
    let text = v.run_stdin(
        &["ml", "score-domains", "-", "--explain"],
        b"xkqjzv8w3lpt.top\n",
    );
    let t = String::from_utf8_lossy(&text.stdout);
    assert_eq!(t.lines().count(), 1 + signals.len(), "{t}");
    assert!(
        t.lines()
            .next()
            .is_some_and(|l| l.contains("xkqjzv8w3lpt.top")),
        "{t}"
    );
}

/// A list saved as UTF-16 scores as its text; names with control characters (UTF-16 on standard input) are
/// refused by line, not scored.
#[test]
fn score_domains_reads_utf16_files_and_refuses_control_characters() {
    let v = Vigil::new();
    let text = "google.com\nxkqjzv8w3lpt.top\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("names-utf16.txt");
    let bytes =
        vigil_model::encoding::encode_utf16(text, vigil_model::encoding::Utf16Order::Little, true);
    std::fs::write(&f, &bytes).expect("write");
    let plain = v.run_stdin(&["ml", "score-domains", "-", "--json"], text.as_bytes());
    let wide = v.run(&["ml", "score-domains", &f.display().to_string(), "--json"]);
    assert_eq!(wide.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&wide.stdout),
        String::from_utf8_lossy(&plain.stdout)
    );
    let piped = v.run_stdin(&["ml", "score-domains", "-", "--json"], &bytes);
    assert_eq!(piped.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&piped.stdout).trim().is_empty());
    assert!(String::from_utf8_lossy(&piped.stderr).contains("control characters"));
}

#[test]
fn score_domains_keeps_input_order_on_any_number_of_threads() {
    // More names than one scoring batch (32,768), with skipped lines among them.
    let v = Vigil::new();
    let mut rng = xorshift(0x1234_5678_9abc_def1);
    let mut text = String::new();
    let mut expect = Vec::new();
    for i in 0..40_000 {
        let x = rng();
        if i % 5_000 == 7 {
            text.push_str("not a domain\n");
            continue;
        }
        let label: String = (0..6 + x % 10)
            .map(|k| (b'a' + (x.wrapping_shr((k * 5) as u32) % 26) as u8) as char)
            .collect();
        let d = format!(
            "{label}{}.{}",
            i % 97,
            ["com", "top", "de", "gov.uk"][(x % 4) as usize]
        );
        text.push_str(&d);
        text.push('\n');
        expect.push(d);
    }
    let file = v.data().join("names.txt");
    std::fs::write(&file, &text).expect("write");
    let f = file.display().to_string();
    let runs: Vec<Output> = ["1", "2", "3", "0"]
        .iter()
        .map(|t| v.run(&["ml", "score-domains", &f, "--json", "--threads", t]))
        .collect();
    for r in &runs {
        assert_eq!(r.status.code(), Some(1), "the skipped lines are reported");
        assert_eq!(
            r.stdout, runs[0].stdout,
            "threads change nothing in the output"
        );
        assert_eq!(
            String::from_utf8_lossy(&r.stderr)
                .matches("not a domain name")
                .count(),
            8
        );
    }
    let names: Vec<String> = String::from_utf8_lossy(&runs[0].stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("one JSON object per line");
            v["domain"].as_str().expect("domain").to_string()
        })
        .collect();
    assert_eq!(names, expect);
}

#[test]
fn attribute_ranks_groups_with_evidence() {
    let v = Vigil::new();
    let (j, code) = v.json(&[
        "ml",
        "attribute",
        "--technique",
        "T1059",
        "--technique",
        "T1566",
        "--software",
        "S0154",
    ]);
    assert_eq!(code, 0);
    let groups = j["groups"].as_array().expect("groups");
    assert!(!groups.is_empty());
    for w in groups.windows(2) {
        assert!(w[0]["score"].as_f64() >= w[1]["score"].as_f64());
    }
    for g in groups {
        for k in ["id", "name", "score", "evidence"] {
            assert!(g.get(k).is_some(), "{k} missing in {g}");
        }
    }
    assert!(groups
        .iter()
        .any(|g| g["id"].as_str().is_some_and(|i| i.starts_with('G'))));
    // Turla's own toolset puts Turla first.
    let (j, _) = v.json(&[
        "ml",
        "attribute",
        "--software",
        "ComRAT",
        "--software",
        "Gazer",
        "--software",
        "LightNeuron",
        "--top",
        "3",
    ]);
    assert_eq!(j["groups"][0]["id"], "G0010", "{j}");
    let out = v.run(&["ml", "attribute", "--technique", "1059"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an ATT&CK technique id"));
    let out = v.run(&["ml", "attribute"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn damaged_or_missing_models_name_the_file_and_the_fix() {
    let v = Vigil::new();
    let models = v.data().join("damaged");
    std::fs::create_dir_all(&models).expect("dir");
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ml/models/domain.vgm");
    let bytes = std::fs::read(good).expect("committed model");
    std::fs::write(models.join("domain.vgm"), &bytes[..bytes.len() / 3]).expect("write");
    // Another model's bytes under the tagger's name.
    std::fs::write(models.join("tagger.vgm"), &bytes).expect("write");
    let m = models.display().to_string();
    let out = v.run_stdin(
        &["ml", "score-domains", "-", "--models", &m],
        b"example.org\n",
    );
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("vigil ml train") && e.contains("domain"), "{e}");
    let out = v.run(&["ml", "tag", &fixture("report.md"), "--models", &m]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("expected `tagger`") && e.contains("vigil ml train"),
        "{e}"
    );
    let out = v.run(&["ml", "attribute", "--technique", "T1059", "--models", &m]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("cannot read") && e.contains("attribution.vgm"),
        "{e}"
    );
    let (j, code) = v.json(&["ml", "info", "--models", &m]);
    assert_eq!(code, 1);
    assert_eq!(
        j["models"]
            .as_array()
            .expect("models")
            .iter()
            .filter(|r| r.get("error").is_some())
            .count(),
        3
    );
}

/// A tiny ATT&CK excerpt made for this test: the attack-patterns and the group the fixture report should link to.
fn attack_excerpt(dir: &Path) -> String {
    let ap = |id: &str, name: &str, uuid: &str| {
        serde_json::json!({"type": "attack-pattern", "spec_version": "2.1", "id": format!("attack-pattern--{uuid}"),
            "created": "2020-01-01T00:00:00.000Z", "modified": "2020-01-01T00:00:00.000Z", "name": name,
            "external_references": [{"source_name": "mitre-attack", "external_id": id}]})
    };
    let bundle = serde_json::json!({"type": "bundle", "id": "bundle--6b3f9a8e-54a4-4d3b-9a38-0d8c1f0e7a11", "objects": [
        ap("T1547.001", "Registry Run Keys / Startup Folder", "0b6f3d2e-5a41-4f7e-9b1c-2d3e4f5a6b71"),
        ap("T1203", "Exploitation for Client Execution", "1c7a4e3f-6b52-4a8f-8c2d-3e4f5a6b7c82"),
        ap("T1105", "Ingress Tool Transfer", "2d8b5f4a-7c63-4b9a-9d3e-4f5a6b7c8d93"),
    ]});
    let p = dir.join("attack-excerpt.json");
    std::fs::write(&p, bundle.to_string()).expect("write");
    p.display().to_string()
}

#[test]
fn report_ingest_stores_machine_labelled_suggestions_and_review_removes_the_label() {
    let v = Vigil::new();
    let (_, code) = v.json(&["ingest", &attack_excerpt(v.data())]);
    assert_eq!(code, 0);
    let (j, code) = v.json(&["ingest", &fixture("report.md"), "--format", "report"]);
    assert_eq!(code, 0, "{j}");
    let r = &j["reports"][0];
    let report_id = r["report"].as_str().expect("report id").to_string();
    assert!(r["indicators"].as_u64() >= Some(5), "{r}");
    assert!(r["added"].as_u64() > Some(5));

    // The report object refers to what was found; suggestions carry the machine label.
    let (shown, _) = v.json(&["show", &report_id]);
    let text = shown.to_string();
    assert!(text.contains("\"type\":\"report\""), "{text}");
    let (pending, _) = v.json(&["review", "list", "--report", &report_id]);
    let rows = pending["pending"].as_array().expect("pending");
    assert!(rows.len() >= 5, "{pending}");
    let rel = rows
        .iter()
        .find(|r| {
            r["type"] == "relationship"
                && r["what"].as_str().is_some_and(|w| w.contains("T1547.001"))
        })
        .expect("the technique link is pending review");
    let rel_id = rel["id"].as_str().expect("id").to_string();
    assert!(rel["confidence"].as_u64().is_some());
    let (obj, _) = v.json(&["show", &rel_id]);
    let o = obj.to_string();
    assert!(
        o.contains("machine-generated") && o.contains("x_vigil_model"),
        "{o}"
    );
    assert!(o.contains("x_vigil_evidence"));

    // Confirm one, reject another.
    let ind = rows
        .iter()
        .find(|r| r["type"] == "indicator")
        .expect("an indicator")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (_, code) = v.json(&["review", "confirm", &rel_id]);
    assert_eq!(code, 0);
    let (_, code) = v.json(&["review", "reject", &ind, "--note", "benign CDN"]);
    assert_eq!(code, 0);
    let (obj, _) = v.json(&["show", &rel_id]);
    let o = obj.to_string();
    assert!(
        !o.contains("\"machine-generated\"") && !o.contains("x_vigil_machine_generated"),
        "{o}"
    );
    assert!(o.contains("\"confirmed\""));
    // Reviewed twice is an error naming the state.
    let out = v.run(&["review", "confirm", &rel_id]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("confirmed"));
    let (after, _) = v.json(&["review", "list", "--report", &report_id]);
    assert_eq!(
        after["total"].as_u64(),
        pending["total"].as_u64().map(|n| n - 2)
    );

    // Reading the same report again adds nothing and does not undo the review.
    let (j, code) = v.json(&["ingest", &fixture("report.md"), "--format", "report"]);
    assert_eq!(code, 0);
    assert_eq!(j["reports"][0]["added"], 0);
    let (obj, _) = v.json(&["show", &rel_id]);
    assert!(obj.to_string().contains("\"confirmed\""));
}

#[test]
fn training_is_reproducible_and_the_committed_artifacts_are_fresh() {
    let Some(corpus) =
        shared_data("training_is_reproducible_and_the_committed_artifacts_are_fresh")
    else {
        return;
    };
    let v = Vigil::new();
    let c = corpus.display().to_string();
    let a = v.data().join("a").display().to_string();
    let b = v.data().join("b").display().to_string();
    for out in [&a, &b] {
        let (j, code) = v.json(&[
            "ml",
            "train",
            "--task",
            "attribute",
            "--corpus",
            &c,
            "--out",
            out,
        ]);
        assert_eq!(code, 0, "{j}");
    }
    let fa = std::fs::read(Path::new(&a).join("attribution.vgm")).expect("a");
    let fb = std::fs::read(Path::new(&b).join("attribution.vgm")).expect("b");
    assert!(fa == fb, "two trainings gave different bytes");
    // Every committed artifact is what the training code gives today (all tasks: about a minute on 2 cores).
    let committed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ml/models")
        .display()
        .to_string();
    let (j, code) = v.json(&[
        "ml", "train", "--corpus", &c, "--out", &committed, "--check",
    ]);
    assert_eq!(
        code, 0,
        "stale committed artifacts; rebuild with `vigil ml train --corpus ../shared/data --out crates/ml/models`: {j}"
    );
    assert_eq!(j["artifacts"].as_array().map(Vec::len), Some(3));
}

/// A one-shot HTTP server on loopback standing in for a self-hosted OpenAI-compatible endpoint: it records the
/// request (head and body) and answers with `reply` (status line and JSON body).
/// The base URL, the server thread (the request's head and body, or None when nothing connected before `stop`),
/// and `stop`.
type OneShot = (
    String,
    std::thread::JoinHandle<Option<(String, String)>>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
);

fn one_shot_server(status: &'static str, reply: String) -> OneShot {
    use std::io::{BufRead, BufReader, Read};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = std::sync::Arc::clone(&stop);
    let h = std::thread::spawn(move || {
        let (stream, _) = loop {
            match listener.accept() {
                Ok(c) => break c,
                Err(_) if stop2.load(std::sync::atomic::Ordering::Relaxed) => return None,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        };
        stream.set_nonblocking(false).expect("blocking");
        let mut r = BufReader::new(stream);
        let mut head = String::new();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).expect("read") == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().expect("length");
            }
            head.push_str(&line);
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).expect("body");
        let mut s = r.into_inner();
        write!(
            s,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
            reply.len()
        )
        .expect("reply");
        Some((head, String::from_utf8(body).expect("utf-8 body")))
    });
    (format!("http://{addr}/v1"), h, stop)
}

/// `vigil ml summarize`: off without an endpoint; with one, it sends the report and Vigil's own technique tags to
/// `<url>/chat/completions` with the key from the environment, prints the answer labelled machine-generated and
/// never prints the key; a report marked above --tlp-max is refused before any connection; an endpoint error is
/// reported with its status.
#[test]
fn summarize_uses_a_self_hosted_endpoint_only_when_named_and_keeps_tlp() {
    let v = Vigil::new();
    let report = fixture("report.md");
    // off by default: no URL, nothing sent
    let out = v
        .cmd()
        .env_remove("VIGIL_LLM_URL")
        .args(["ml", "summarize", &report, "--json"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no LLM endpoint configured"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let answer = "What happened: a phishing attachment installed a backdoor.";
    let reply = serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "local-8b",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}]
    })
    .to_string();
    let (url, server, _stop) = one_shot_server("200 OK", reply);
    let out = v
        .cmd()
        .env("VIGIL_LLM_API_KEY", "sekret-key-123")
        .args([
            "ml",
            "summarize",
            &report,
            "--llm-url",
            &url,
            "--llm-model",
            "local-8b",
            "--json",
        ])
        .output()
        .expect("run");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains("sekret") && !stderr.contains("sekret"));
    let j: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(j["summary"], answer);
    assert_eq!(j["machine_generated"], true);
    assert_eq!(j["model"], "local-8b");
    assert_eq!(j["truncated"], false);
    assert!(j["techniques"]
        .as_array()
        .expect("techniques")
        .iter()
        .any(|t| t == "T1547.001"));
    let (head, body) = server.join().expect("server").expect("a request");
    assert!(head.starts_with("POST /v1/chat/completions "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: bearer sekret-key-123"),
        "{head}"
    );
    let req: Value = serde_json::from_str(&body).expect("request JSON");
    assert_eq!(req["model"], "local-8b");
    let user = req["messages"][1]["content"]
        .as_str()
        .expect("user message");
    assert!(user.contains("T1547.001"), "{user}");
    assert!(user.contains("Persistence is a Run key"), "{user}");

    // --max-chars bounds what is sent
    let (url, server, _stop) = one_shot_server(
        "200 OK",
        serde_json::json!({"choices": [{"message": {"content": "short"}}]}).to_string(),
    );
    let (j, code) = v.json(&[
        "ml",
        "summarize",
        &report,
        "--llm-url",
        &url,
        "--max-chars",
        "200",
    ]);
    assert_eq!(code, 0, "{j}");
    assert_eq!(
        (j["truncated"].as_bool(), j["sent_chars"].as_u64()),
        (Some(true), Some(200))
    );
    let (_, body) = server.join().expect("server").expect("a request");
    let req: Value = serde_json::from_str(&body).expect("request JSON");
    let text = std::fs::read_to_string(&report).expect("read");
    let tail: String = text.chars().skip(400).take(60).collect();
    assert!(!req["messages"][1]["content"]
        .as_str()
        .expect("content")
        .contains(tail.trim()));

    // TLP:RED in the text: refused, and the endpoint never hears of it
    let red = v.data().join("red.txt");
    std::fs::write(
        &red,
        format!("TLP:RED - for named recipients only.\n\n{text}"),
    )
    .expect("write");
    let (url, server, stop) = one_shot_server("200 OK", "{}".into());
    let out = v.run(&[
        "ml",
        "summarize",
        red.to_str().expect("p"),
        "--llm-url",
        &url,
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TLP:RED"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        server.join().expect("server").is_none(),
        "nothing may be sent"
    );

    // an endpoint error names the status
    let (url, server, _stop) = one_shot_server(
        "503 Service Unavailable",
        r#"{"error":"loading model"}"#.into(),
    );
    let out = v.run(&["ml", "summarize", &report, "--llm-url", &url]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("503") && err.contains("loading model"),
        "{err}"
    );
    server.join().expect("server");
}

/// A corpus laid out like the shared data, small enough to train on in a second: 30 maltrail families of
/// random-letter names and a benign list of word pairs.
fn tiny_domain_corpus(dir: &Path) {
    let mal = dir.join("maltrail/trails/static/malware");
    std::fs::create_dir_all(&mal).expect("mkdir");
    let mut rng = xorshift(0x9e37_79b9_7f4a_7c15);
    let mut letters = |n: usize| -> String {
        (0..n)
            .map(|_| (b'a' + (rng() % 26) as u8) as char)
            .collect()
    };
    for f in 0..30 {
        let names: Vec<String> = (0..40)
            .map(|_| format!("{}.{}", letters(11 + f % 4), ["top", "xyz", "ru"][f % 3]))
            .collect();
        std::fs::write(mal.join(format!("fam{f}.txt")), names.join("\n")).expect("write");
    }
    let words = [
        "news", "shop", "bank", "cloud", "mail", "city", "home", "travel", "music", "sport",
        "school", "media",
    ];
    let benign: Vec<String> = words
        .iter()
        .flat_map(|a| words.iter().map(move |b| format!("\"{a}{b}.com\"")))
        .collect();
    let wl = dir.join("misp-warninglists/lists/tranco10k");
    std::fs::create_dir_all(&wl).expect("mkdir");
    std::fs::write(
        wl.join("list.json"),
        format!("{{\"list\": [{}]}}", benign.join(",")),
    )
    .expect("write");
}

#[test]
fn eval_cross_validates_the_domain_model_by_family_and_refuses_other_tasks() {
    let v = Vigil::new();
    let corpus = v.data().join("corpus");
    tiny_domain_corpus(&corpus);
    let c = corpus.display().to_string();
    let (j, code) = v.json(&[
        "ml", "eval", "--task", "domain", "--split", "folds", "--corpus", &c,
    ]);
    assert_eq!(code, 0, "{j}");
    assert_eq!(j["task"], "domain");
    assert_eq!(j["split"], "folds");
    let m = &j["metrics"];
    let folds = m["folds"].as_array().expect("folds");
    assert_eq!(folds.len(), 5);
    let held: u64 = folds
        .iter()
        .map(|f| f["test_malicious"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(held, 30 * 40, "every malicious name is held out once");
    assert_eq!(m["pooled"]["test_malicious"].as_u64(), Some(held));
    assert_eq!(m["pooled"]["test_families"].as_u64(), Some(30));
    assert!(m["pooled"]["roc_auc"].as_f64().unwrap_or(0.0) > 0.9, "{m}");
    // Fold 1 is the held-out split: `--split held-out` gives its figures.
    let (h, code) = v.json(&["ml", "eval", "--task", "domain", "--corpus", &c]);
    assert_eq!(code, 0, "{h}");
    assert_eq!(h["metrics"], folds[1]);
    // Extraction and attribution have no cross-validation: a clear refusal.
    let out = v.run(&[
        "ml",
        "eval",
        "--task",
        "attribute",
        "--split",
        "folds",
        "--corpus",
        &c,
    ]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("domain and tag tasks only"), "{err}");
}

/// A TRAM-layout corpus made for this test, small enough to train on in seconds: an ATT&CK bundle of four
/// techniques (three of them the "TRAM classes"), 30 reports whose technique sentences are annotated as TRAM's
/// `.mjson` files are (code-point spans under an aset named `Name (Txxxx)`), and the side files the trainer reads.
fn tiny_tag_corpus(dir: &Path) {
    let techniques: [(&str, &str, &[&str]); 4] = [
        (
            "T1566.001",
            "Spearphishing Attachment",
            &[
                "The actors sent spearphishing emails with a malicious Word attachment to staff.",
                "Victims received a phishing email carrying a weaponised document attachment.",
                "A spearphishing message delivered the macro-laden attachment to the ministry.",
                "The lure email had an attached archive that recipients were asked to open.",
            ],
        ),
        (
            "T1059.001",
            "PowerShell",
            &[
                "The loader ran an encoded PowerShell command to fetch the next stage.",
                "An obfuscated PowerShell script was executed with the bypass execution policy.",
                "The operators used powershell.exe with a base64 encoded command line.",
                "A PowerShell one-liner decoded and ran the payload in memory.",
            ],
        ),
        (
            "T1053.005",
            "Scheduled Task",
            &[
                "Persistence was set by creating a scheduled task that runs every hour.",
                "The malware registered a scheduled task with schtasks to restart itself.",
                "A new scheduled task named UpdateCheck launched the implant at logon.",
                "The backdoor created a task in the task scheduler to survive reboots.",
            ],
        ),
        (
            "T1105",
            "Ingress Tool Transfer",
            &[
                "The attackers downloaded additional tools to the host with certutil.",
                "Further utilities were transferred from the staging server onto the victim.",
                "The implant pulled extra tooling over HTTP from the attacker's server.",
                "A second tool was copied onto the compromised machine from outside.",
            ],
        ),
    ];
    let neutral = [
        "The company published its annual report in the spring.",
        "Our researchers continue to monitor the situation closely.",
        "The sector has seen growing interest from journalists this year.",
        "We thank our partners for their help with this analysis.",
        "More details will follow in a later publication.",
        "The campaign was first observed in the second quarter.",
    ];
    let mut rng = xorshift(0x2545_f491_4f6c_dd1d);
    let mut next = |n: usize| -> usize { (rng() % n as u64) as usize };
    let mjson = dir.join("tram/mjson_files");
    std::fs::create_dir_all(&mjson).expect("mkdir");
    let mut single = Vec::new();
    for r in 0..30 {
        let title = format!("Report number {r} on a campaign");
        let mut text = format!("title: {title}\nurl: https://example.org/{r}\n\n");
        let mut spans: Vec<Vec<[usize; 2]>> = vec![Vec::new(); techniques.len()];
        for _ in 0..8 {
            if next(2) == 0 {
                let t = next(techniques.len());
                let s = techniques[t].2[next(4)];
                spans[t].push([
                    text.chars().count(),
                    text.chars().count() + s.chars().count(),
                ]);
                text.push_str(s);
                single.push(
                    serde_json::json!({"text": s, "label": techniques[t].0, "doc_title": title}),
                );
            } else {
                text.push_str(neutral[next(neutral.len())]);
            }
            text.push(' ');
        }
        let asets: Vec<Value> = techniques
            .iter()
            .zip(&spans)
            .filter(|(_, s)| !s.is_empty())
            .map(|((id, name, _), s)| serde_json::json!({"type": format!("{name} ({id})"), "annots": s}))
            .collect();
        std::fs::write(
            mjson.join(format!("report {r}.mjson")),
            serde_json::json!({"signal": text, "asets": asets}).to_string(),
        )
        .expect("write");
    }
    let tram = dir.join("tram");
    let classes: Vec<&str> = techniques[..3].iter().map(|t| t.0).collect();
    std::fs::write(tram.join("classes.txt"), classes.join("\n")).expect("write");
    std::fs::write(
        tram.join("single_label.train.json"),
        Value::Array(single).to_string(),
    )
    .expect("write");
    std::fs::write(
        tram.join("bootstrap-training-data.filtered.json"),
        serde_json::json!({"sentences": [
            {"text": "The script invoked PowerShell to run commands.", "mappings": [{"attack_id": "T1059.001"}]},
            {"text": "A scheduled task was used for persistence.", "mappings": [{"attack_id": "T1053.005"}]}
        ]})
        .to_string(),
    )
    .expect("write");
    std::fs::write(
        tram.join("all_analyzed_reports.json"),
        serde_json::json!({"spearphishing attachment": ["The group relies on spearphishing attachments."]})
            .to_string(),
    )
    .expect("write");
    std::fs::write(
        tram.join("negative_data.json"),
        serde_json::json!(neutral).to_string(),
    )
    .expect("write");
    let mut objects: Vec<Value> = techniques
        .iter()
        .enumerate()
        .map(|(i, (id, name, s))| {
            serde_json::json!({"type": "attack-pattern", "spec_version": "2.1",
                "id": format!("attack-pattern--00000000-0000-4000-8000-00000000000{i}"),
                "name": name, "description": s[0],
                "external_references": [{"source_name": "mitre-attack", "external_id": id}]})
        })
        .collect();
    // A group whose procedure example is one more sentence for the scheduled task.
    objects.push(
        serde_json::json!({"type": "intrusion-set", "spec_version": "2.1",
        "id": "intrusion-set--00000000-0000-4000-8000-0000000000a0", "name": "Test Group",
        "external_references": [{"source_name": "mitre-attack", "external_id": "G9999"}]}),
    );
    objects.push(
        serde_json::json!({"type": "relationship", "spec_version": "2.1",
        "id": "relationship--00000000-0000-4000-8000-0000000000b0", "relationship_type": "uses",
        "source_ref": "intrusion-set--00000000-0000-4000-8000-0000000000a0",
        "target_ref": "attack-pattern--00000000-0000-4000-8000-000000000002",
        "description": "Test Group has used scheduled tasks to keep its implant running."}),
    );
    let ma = dir.join("mitre-attack");
    std::fs::create_dir_all(&ma).expect("mkdir");
    std::fs::write(
        ma.join("enterprise-attack.json"),
        serde_json::json!({"type": "bundle", "objects": objects}).to_string(),
    )
    .expect("write");
}

#[test]
fn eval_cross_validates_the_tagger_by_report() {
    let v = Vigil::new();
    let corpus = v.data().join("corpus");
    tiny_tag_corpus(&corpus);
    let c = corpus.display().to_string();
    let (j, code) = v.json(&[
        "ml", "eval", "--task", "tag", "--split", "folds", "--corpus", &c,
    ]);
    assert_eq!(code, 0, "{j}");
    assert_eq!(
        (j["task"].as_str(), j["split"].as_str()),
        (Some("tag"), Some("folds"))
    );
    let m = &j["metrics"];
    let folds = m["folds"].as_array().expect("folds");
    assert_eq!(folds.len(), 5, "{m}");
    let held: u64 = folds
        .iter()
        .map(|f| f["heldout_reports"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(held, 30, "every report is held out exactly once");
    assert!(folds
        .iter()
        .all(|f| f["train_reports"].as_u64().unwrap_or(0)
            + f["heldout_reports"].as_u64().unwrap_or(0)
            == 30));
    assert_eq!(m["pooled_tram50"]["documents"].as_u64(), Some(30));
    // The technique sentences are distinctive: a working tagger finds most of them in unseen reports.
    let pooled = m["pooled_tram50"]["f1"].as_f64().unwrap_or(0.0);
    assert!(pooled > 0.8, "pooled TRAM-50 F1 {pooled}: {m}");
    let mean = m["tram50_f1_mean"].as_f64().unwrap_or(0.0);
    let (lo, hi) = (
        m["tram50_f1_min"].as_f64().unwrap_or(2.0),
        m["tram50_f1_max"].as_f64().unwrap_or(-1.0),
    );
    assert!(lo <= mean && mean <= hi, "{m}");
    // T1105 is outside the "TRAM classes": all-techniques counts it, TRAM-50 does not.
    assert!(
        m["pooled_all_techniques"]["tp"].as_u64().unwrap_or(0)
            + m["pooled_all_techniques"]["fn"].as_u64().unwrap_or(0)
            > m["pooled_tram50"]["tp"].as_u64().unwrap_or(0)
                + m["pooled_tram50"]["fn"].as_u64().unwrap_or(0),
        "{m}"
    );
    // Fold 1 is the held-out split: `--split held-out` trains and measures the same model.
    let (h, code) = v.json(&["ml", "eval", "--task", "tag", "--corpus", &c]);
    assert_eq!(code, 0, "{h}");
    for k in [
        "tram50",
        "all_techniques",
        "threshold",
        "train_reports",
        "heldout_reports",
    ] {
        assert_eq!(h["metrics"][k], folds[1][k], "{k}");
    }
    assert!(
        h["metrics"]["tram50_annotated_sentences"]["documents"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
}

/// What the knowledge base says of an indicator counts in attribution: a domain on an actor's IOC list (maltrail's
/// `apt_<group>`, attributed to the group) makes that group the first suggestion, with the list as evidence. The
/// same question without a store gives the group no such evidence.
#[test]
fn attribute_counts_the_indicators_the_knowledge_base_attributes_to_an_actor() {
    let v = Vigil::new();
    let ok = |args: &[&str]| {
        let out = v.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(&["init"]);
    let bundle = serde_json::json!({"type": "bundle", "id": "bundle--6f2f7b3a-0d7e-4a53-9a53-0b3b7b1c3a50",
        "objects": [{"type": "intrusion-set", "spec_version": "2.1",
            "id": "intrusion-set--6f2f7b3a-0d7e-4a53-9a53-0b3b7b1c3a51",
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
            "name": "Gamaredon Group", "aliases": ["Primitive Bear"], "external_references": [{"source_name": "mitre-attack",
                "external_id": "G0047", "url": "https://attack.mitre.org/groups/G0047"}]}]});
    let b = v.data().join("b.json");
    std::fs::write(&b, bundle.to_string()).expect("write");
    let list = v.data().join("apt_gamaredon.txt");
    std::fs::write(
        &list,
        "# Aliases: primitive bear\nvigil-gama-test.example.org\n",
    )
    .expect("write");
    ok(&["ingest", list.to_str().expect("utf-8 path")]);
    ok(&["ingest", b.to_str().expect("utf-8 path")]);
    let ask = [
        "ml",
        "attribute",
        "--indicator",
        "vigil-gama-test[.]example[.]org",
        "--technique",
        "T1566.001",
    ];
    let (j, code) = v.json(&ask);
    assert_eq!(code, 0);
    let first = &j["groups"][0];
    assert_eq!(first["id"], "G0047", "{j}");
    assert!(
        first["evidence"]
            .as_array()
            .expect("evidence")
            .iter()
            .any(|e| e["type"] == "indicator"
                && e["id"] == "vigil-gama-test.example.org"
                && e["name"]
                    .as_str()
                    .is_some_and(|n| n.contains("apt_gamaredon"))),
        "{first}"
    );
    let (j, _) = Vigil::new().json(&ask);
    assert!(
        !j["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .any(|g| g["evidence"].to_string().contains("vigil-gama-test")),
        "{j}"
    );
}

/// The domain model's country-TLD metric names the jurisdictions of the shipped eligibility policy, no more and no
/// fewer (the policy lives in the server crate, which the ML crate may not depend on).
#[test]
fn the_domain_metric_s_country_tlds_are_the_shipped_policy_s() {
    let mut want: Vec<String> = vigil_server::policy::DEFAULT_POLICY
        .iter()
        .flat_map(|(_, codes)| codes.iter())
        .map(|c| match *c {
            "GB" => "uk".to_string(),
            c => c.to_ascii_lowercase(),
        })
        .chain(std::iter::once("eu".to_string()))
        .collect();
    let mut got: Vec<String> = vigil_ml::domain::ELIGIBLE_CCTLDS
        .iter()
        .map(|s| s.to_string())
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
}
