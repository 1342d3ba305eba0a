//! STIX pattern semantics agree with the OASIS stix2-matcher (../shared/peers/stix_match.py) on a corpus of
//! patterns x observations built here. Skips loudly when the peer venv or the peers folder is missing.
//!
//! The corpus is single-observation semantics (comparison operators, AND/OR inside an observation, NOT, paths
//! through references and lists, and OR between observations). AND/FOLLOWEDBY between observations and the
//! WITHIN/REPEATS/START qualifiers are approximated per record by design (see `vigil_hunt::stix`) and are not
//! compared here.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use vigil_hunt::stix::{CompiledPattern, Observation};

fn peer() -> Option<(PathBuf, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = std::env::var_os("VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv-peers"));
    let py = venv.join("bin/python");
    let script = root.join("../shared/peers/stix_match.py");
    if !py.exists() || !script.exists() {
        eprintln!(
            "SKIPPED: stix2-matcher peer not available ({} / {}); STIX semantics were NOT compared",
            py.display(),
            script.display()
        );
        return None;
    }
    Some((py, script))
}

fn sco(ty: &str, n: u32, mut props: Value) -> Value {
    props["type"] = json!(ty);
    props["spec_version"] = json!("2.1");
    props["id"] = json!(format!("{ty}--00000000-0000-4000-8000-{n:012}"));
    props
}

fn observations() -> Vec<Vec<Value>> {
    vec![
        vec![
            sco("domain-name", 1, json!({"value": "evil.example.com"})),
            sco("ipv4-addr", 2, json!({"value": "198.51.100.7"})),
            sco("ipv4-addr", 3, json!({"value": "10.0.0.5"})),
            sco(
                "network-traffic",
                4,
                json!({"src_ref": "ipv4-addr--00000000-0000-4000-8000-000000000003", "dst_ref": "ipv4-addr--00000000-0000-4000-8000-000000000002", "src_port": 51000, "dst_port": 443, "protocols": ["ipv4", "tcp"]}),
            ),
        ],
        vec![
            sco(
                "url",
                5,
                json!({"value": "http://bad.example.org/gate.php?id=1"}),
            ),
            sco("domain-name", 6, json!({"value": "bad.example.org"})),
        ],
        vec![sco(
            "file",
            7,
            json!({"name": "invoice.exe", "size": 4096, "hashes": {"MD5": "d41d8cd98f00b204e9800998ecf8427e", "SHA-256": "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c"}}),
        )],
        vec![sco(
            "email-addr",
            8,
            json!({"value": "alice@evil.example.com", "display_name": "Alice"}),
        )],
        vec![
            sco("ipv6-addr", 9, json!({"value": "2001:db8::7"})),
            sco("domain-name", 10, json!({"value": "notevil.example.com"})),
        ],
        vec![sco("domain-name", 11, json!({"value": "EVIL.example.com"}))],
        vec![
            sco("ipv4-addr", 12, json!({"value": "203.0.113.9"})),
            sco(
                "network-traffic",
                13,
                json!({"dst_ref": "ipv4-addr--00000000-0000-4000-8000-000000000012", "dst_port": 80, "protocols": ["tcp", "http"]}),
            ),
        ],
        vec![sco(
            "file",
            14,
            json!({"name": "a.dll", "size": 10, "hashes": {"SHA-1": "da39a3ee5e6b4b0d3255bfef95601890afd80709"}}),
        )],
        vec![
            sco(
                "domain-name",
                15,
                json!({"value": "evil.example.com.attacker.net"}),
            ),
            sco("ipv4-addr", 16, json!({"value": "198.51.101.1"})),
        ],
        vec![sco(
            "autonomous-system",
            17,
            json!({"number": 64500, "name": "Example AS"}),
        )],
        // URLs for the URL-path indicators' expressions (any host, file / directory / query forms).
        vec![sco(
            "url",
            18,
            json!({"value": "https://cdn.example:8443/wp-includes/nOmd/p.exe?x=1"}),
        )],
        vec![sco("url", 19, json!({"value": "http://a.example/x.apk/"}))],
        vec![sco("url", 23, json!({"value": "http://a.example/?x=1"}))],
        vec![sco(
            "url",
            20,
            json!({"value": "ftp://1.2.3.4/g.php?id=1#frag"}),
        )],
        vec![sco(
            "url",
            21,
            json!({"value": "http://a.example/dir/x.apk"}),
        )],
        vec![sco(
            "url",
            22,
            json!({"value": "http://a.example/a+b(1).txt?q=%27"}),
        )],
    ]
}

fn patterns() -> Vec<String> {
    let mut p: Vec<String> = Vec::new();
    let doms = [
        "evil.example.com",
        "EVIL.example.com",
        "bad.example.org",
        "notevil.example.com",
        "example.com",
        "evil.example.com.attacker.net",
    ];
    for d in doms {
        p.push(format!("[domain-name:value = '{d}']"));
        p.push(format!("[domain-name:value != '{d}']"));
        p.push(format!("[domain-name:value NOT = '{d}']"));
    }
    for l in [
        "%.example.com",
        "evil%",
        "EVIL%",
        "evil._xample.com",
        "%attacker%",
        "%.example.org",
        "_vil.example.com",
        "%",
    ] {
        p.push(format!("[domain-name:value LIKE '{l}']"));
        p.push(format!("[domain-name:value NOT LIKE '{l}']"));
    }
    for m in [
        "^evil\\\\.",
        "example\\\\.com$",
        "(?i)^evil\\\\.",
        "^[a-z]+\\\\.example\\\\.(com|org)$",
        "attacker",
        "^$",
        "e.*l",
    ] {
        p.push(format!("[domain-name:value MATCHES '{m}']"));
    }
    p.push("[domain-name:value IN ('a.example', 'evil.example.com')]".into());
    p.push("[domain-name:value IN ('a.example', 'b.example')]".into());
    p.push("[domain-name:value NOT IN ('evil.example.com', 'bad.example.org')]".into());
    for ip in ["198.51.100.7", "10.0.0.5", "203.0.113.9", "198.51.100.8"] {
        p.push(format!("[ipv4-addr:value = '{ip}']"));
    }
    for c in [
        "198.51.100.0/24",
        "198.51.0.0/16",
        "198.51.101.0/24",
        "10.0.0.0/8",
        "203.0.113.8/30",
        "203.0.113.8/31",
        "128.0.0.0/1",
        "198.51.100.7/32",
    ] {
        p.push(format!("[ipv4-addr:value ISSUBSET '{c}']"));
        p.push(format!("[ipv4-addr:value NOT ISSUBSET '{c}']"));
    }
    p.push("[ipv6-addr:value = '2001:db8::7']".into());
    p.push("[ipv6-addr:value = '2001:db8::8']".into());
    for (path, v) in [
        ("network-traffic:dst_ref.value", "'198.51.100.7'"),
        ("network-traffic:src_ref.value", "'10.0.0.5'"),
        ("network-traffic:dst_ref.value", "'203.0.113.9'"),
        ("network-traffic:dst_port", "443"),
        ("network-traffic:dst_port", "80"),
        ("network-traffic:protocols[*]", "'tcp'"),
        ("network-traffic:protocols[0]", "'tcp'"),
        ("network-traffic:protocols[1]", "'http'"),
        ("network-traffic:protocols[5]", "'tcp'"),
    ] {
        p.push(format!("[{path} = {v}]"));
    }
    for op in ["<", "<=", ">", ">="] {
        p.push(format!("[network-traffic:dst_port {op} 443]"));
        p.push(format!("[file:size {op} 4096]"));
    }
    p.push("[network-traffic:dst_ref.value ISSUBSET '198.51.100.0/24' AND network-traffic:dst_port = 443]".into());
    p.push("[network-traffic:dst_ref.value ISSUBSET '198.51.100.0/24' AND network-traffic:dst_port = 80]".into());
    p.push("[network-traffic:dst_port = 80 OR network-traffic:dst_port = 443]".into());
    p.push("[network-traffic:src_port > 50000 AND network-traffic:protocols[*] = 'tcp']".into());
    p.push("[network-traffic:dst_port IN (22, 80, 8080)]".into());
    p.push("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']".into());
    p.push("[file:hashes.'SHA-256' = 'ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c']".into());
    p.push("[file:hashes.'SHA-256' = 'EF537F25C895BFA782526529A9B63D97AA631564D5D789C2B765448C8635FB6C']".into());
    p.push("[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']".into());
    p.push("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e' OR file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']".into());
    p.push("[file:name LIKE '%.exe' AND file:size = 4096]".into());
    p.push("[file:name LIKE '%.exe' AND file:size = 10]".into());
    p.push("[file:name MATCHES '\\\\.(exe|dll)$']".into());
    p.push("[file:name = 'invoice.exe' AND domain-name:value = 'evil.example.com']".into());
    p.push("[file:size != 4096]".into());
    p.push("[file:size NOT > 100]".into());
    p.push("[url:value = 'http://bad.example.org/gate.php?id=1']".into());
    p.push("[url:value LIKE 'http://bad.example.org/%']".into());
    p.push("[url:value MATCHES 'gate\\\\.php']".into());
    p.push("[url:value = 'http://bad.example.org/gate.php']".into());
    p.push("[email-addr:value MATCHES '@evil\\\\.example\\\\.com$']".into());
    p.push(
        "[email-addr:value = 'alice@evil.example.com' AND email-addr:display_name = 'Alice']"
            .into(),
    );
    p.push("[email-addr:display_name = 'Bob']".into());
    p.push("[autonomous-system:number = 64500]".into());
    p.push("[autonomous-system:number = 64500.0]".into());
    p.push("[autonomous-system:number IN (1, 64500)]".into());
    p.push("[autonomous-system:name LIKE 'Example%']".into());
    p.push("[domain-name:value = 'evil.example.com'] OR [ipv4-addr:value = '203.0.113.9']".into());
    p.push("[domain-name:value = 'nope.example'] OR [file:name = 'a.dll']".into());
    p.push("([url:value LIKE '%gate%'] OR [email-addr:value LIKE 'alice@%'])".into());
    p.push("[domain-name:value = 'evil.example.com' OR ipv4-addr:value = '198.51.100.7']".into());
    p.push("[(domain-name:value LIKE '%.com' OR domain-name:value LIKE '%.org') AND domain-name:value NOT LIKE 'not%']".into());
    p.push("[domain-name:value = 'evil.example.com' AND ipv4-addr:value = '198.51.100.7']".into());
    p.push("[x-unknown:value = 'x']".into());
    p.push("[domain-name:resolves_to_refs[*].value = '198.51.100.7']".into());
    // URL-path indicators (maltrail's `/x.apk` trails) as Vigil writes them.
    for path in [
        "/x.apk",
        "/wp-includes/nOmd/",
        "/wp-includes/",
        "/g.php?id=1",
        "/g.php",
        "/gate.php",
        "/a+b(1).txt",
        "/p.exe",
        "/?x=1",
    ] {
        let o = vigil_model::Observable::new(vigil_model::ObservableKind::UrlPath, path)
            .expect("valid path");
        p.push(o.to_pattern());
    }
    p
}

#[test]
fn pattern_semantics_agree_with_stix2_matcher() {
    let Some((py, script)) = peer() else { return };
    let pats = patterns();
    assert!(pats.len() >= 100, "corpus has {} patterns", pats.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let pfile = dir.path().join("patterns.txt");
    std::fs::write(&pfile, pats.join("\n") + "\n").expect("writes");
    let mut compared = 0;
    let mut valid = 0;
    let mut disagreements = Vec::new();
    for (oi, scos) in observations().into_iter().enumerate() {
        let refs: Vec<Value> = scos.iter().map(|o| o["id"].clone()).collect();
        let t = "2024-05-01T10:00:00Z";
        let od = json!({"type": "observed-data", "spec_version": "2.1", "id": format!("observed-data--00000000-0000-4000-8000-{oi:012}"),
            "created": t, "modified": t, "first_observed": t, "last_observed": t, "number_observed": 1, "object_refs": refs});
        let mut objects = scos.clone();
        objects.push(od);
        let bundle = json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": objects});
        let ofile = dir.path().join(format!("obs{oi}.json"));
        std::fs::write(&ofile, bundle.to_string()).expect("writes");
        let out = Command::new(&py)
            .arg(&script)
            .arg("-P")
            .arg(&pfile)
            .arg(&ofile)
            .output()
            .expect("runs the peer");
        assert!(
            out.status.success(),
            "peer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let obs = Observation::from_stix(&scos);
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let r: Value = serde_json::from_str(line).expect("peer JSON");
            let pat = r["pattern"].as_str().unwrap_or_default();
            let ours = CompiledPattern::compile(pat);
            if r["valid"] != json!(true) {
                // A pattern the reference validator rejects must not be one we silently accept as matching.
                continue;
            }
            let Some(theirs) = r["matched"].as_bool() else {
                // The matcher raised (e.g. an unsupported comparison); nothing to compare.
                continue;
            };
            if oi == 0 {
                valid += 1;
            }
            let ours = match ours {
                Ok(c) => c.matches(&obs),
                Err(e) => {
                    disagreements.push(format!(
                        "obs{oi}: {pat}: we reject it ({e}), peer matched={theirs}"
                    ));
                    continue;
                }
            };
            compared += 1;
            if ours != theirs {
                disagreements.push(format!("obs{oi}: {pat}: ours={ours} peer={theirs}"));
            }
        }
    }
    eprintln!("compared {compared} pattern x observation pairs ({valid} valid patterns) with stix2-matcher");
    assert!(valid >= 100, "only {valid} patterns valid for the peer");
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
