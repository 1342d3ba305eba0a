//! Scheduled feeds end to end through the `vigil` binary:
//! - feeds pulled from a local HTTP server (in this test, honouring ETag and gzip) that serves the real files of
//!   `../shared/data`: the CISA KEV catalogue, STIX bundles, a MISP feed folder laid out from the PyMISP test events,
//!   and the CISA CSAF tree with a `provider-metadata.json` written here (OT through its ROLIE feed, IT through its
//!   directory's changes.csv); a second pull transfers no bodies (304) and adds nothing;
//! - federation: two Vigil instances on loopback, B following A's TAXII 2.1 API root with a member token of A, and
//!   receiving exactly what that token may see, incrementally, with no duplicates.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

mod common;

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "\n*** SKIPPED: ../shared/data not found; real-data feed tests did not run ***\n"
        );
        None
    }
}

struct Vigil {
    dir: tempfile::TempDir,
    /// PostgreSQL connection string and schema when the store is there (the schema is dropped at the end).
    pg: Option<(String, String)>,
}

impl Vigil {
    fn new() -> Self {
        Vigil::with_store(None)
    }
    fn with_store(pg: Option<(String, String)>) -> Self {
        let v = Vigil {
            dir: tempfile::tempdir().expect("tempdir"),
            pg,
        };
        let out = v.run(&["init"]);
        assert!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        v
    }
    fn data(&self) -> &Path {
        self.dir.path()
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vigil"));
        c.arg("--data").arg(self.data());
        c.env_remove("VIGIL_STORE").env_remove("VIGIL_STORE_SCHEMA");
        if let Some((url, schema)) = &self.pg {
            c.args(["--store", url, "--store-schema", schema]);
        }
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run vigil")
    }
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
    /// `feeds pull --json` for one feed: its report.
    fn pull(&self, name: &str) -> Value {
        let (v, _) = self.json(&["feeds", "pull", "--name", name]);
        v[0].clone()
    }
    /// Ids of the latest versions of every object in an export, without the TLP marking and extension definitions
    /// an export adds for the markings its objects carry.
    fn export_ids(&self, extra: &[&str]) -> BTreeSet<String> {
        let out = self.data().join(format!("export-{}.json", extra.len()));
        let o = out.display().to_string();
        let mut a = vec!["export", "stix", "--out", o.as_str()];
        a.extend_from_slice(extra);
        let (r, code) = self.json(&a);
        assert_eq!(code, 0, "export: {r}");
        let b: Value =
            serde_json::from_slice(&std::fs::read(&out).expect("export file")).expect("bundle");
        b["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .filter_map(|o| o["id"].as_str().map(str::to_string))
            .filter(|id| {
                !id.starts_with("marking-definition--") && !id.starts_with("extension-definition--")
            })
            .collect()
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.pg {
            if let Ok(mut c) = postgres::Client::connect(url, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// A small static HTTP/1.1 file server: strong ETags (content hash), If-None-Match -> 304, gzip when asked for.
// Every request is logged (path, status, Authorization header) so the test can count transferred bodies.

#[derive(Debug, Clone)]
struct Hit {
    path: String,
    status: u16,
    auth: Option<String>,
    gzip: bool,
}

struct Www {
    port: u16,
    log: Arc<Mutex<Vec<Hit>>>,
}

impl Www {
    fn start(root: PathBuf) -> Www {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l2 = log.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let root = root.clone();
                let log = l2.clone();
                std::thread::spawn(move || {
                    let _ = handle(s, &root, &log);
                });
            }
        });
        Www { port, log }
    }
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    fn take(&self) -> Vec<Hit> {
        std::mem::take(&mut *self.log.lock().expect("log"))
    }
}

fn fnv(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for x in b {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn handle(s: TcpStream, root: &Path, log: &Mutex<Vec<Hit>>) -> std::io::Result<()> {
    let mut rd = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    rd.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if rd.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let clean = path.split('?').next().unwrap_or("").trim_start_matches('/');
    let file = root.join(clean);
    let mut w = s;
    let body = if clean.split('/').any(|c| c == "..") {
        None
    } else {
        std::fs::read(&file).ok().filter(|_| file.is_file())
    };
    let status;
    let mut gzipped = false;
    match body {
        None => {
            status = 404;
            w.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
        }
        Some(b) => {
            let etag = format!("\"{:016x}\"", fnv(&b));
            if headers.get("if-none-match") == Some(&etag) {
                status = 304;
                write!(
                    w,
                    "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n"
                )?;
            } else {
                status = 200;
                let gz = headers
                    .get("accept-encoding")
                    .is_some_and(|a| a.contains("gzip"));
                gzipped = gz;
                let (body, enc) = if gz {
                    let mut e =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    e.write_all(&b)?;
                    (e.finish()?, "Content-Encoding: gzip\r\n")
                } else {
                    (b, "")
                };
                write!(
                    w,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nETag: {etag}\r\n{enc}Connection: close\r\n\r\n",
                    body.len()
                )?;
                w.write_all(&body)?;
            }
        }
    }
    w.flush()?;
    log.lock().expect("log").push(Hit {
        path,
        status,
        auth: headers.get("authorization").cloned(),
        gzip: gzipped,
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------

/// Lays out the web root: KEV, STIX bundles, a MISP feed folder, the CISA CSAF tree with provider-metadata.json.
/// Returns the MISP event files by uuid.
fn lay_out(data: &Path, www: &Path, base: &str) -> Vec<(String, PathBuf)> {
    let copy = |from: &Path, to: &str| {
        let t = www.join(to);
        std::fs::create_dir_all(t.parent().expect("parent")).expect("mkdir");
        std::fs::copy(from, &t).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    };
    copy(
        &data.join("cisa-kev/known_exploited_vulnerabilities.json"),
        "kev/known_exploited_vulnerabilities.json",
    );
    copy(
        &data.join("stix2-examples/examples/indicator-for-c2-ip-address.json"),
        "stix/indicator-for-c2-ip-address.json",
    );
    // MISP feed: every PyMISP test event with a uuid, as <uuid>.json, and a manifest keyed by uuid.
    let mut events = Vec::new();
    let mut manifest = serde_json::Map::new();
    let mut files: Vec<PathBuf> = walk(&data.join("misp-events-pymisp/tests"));
    files.sort();
    for f in files {
        let Ok(v) = serde_json::from_slice::<Value>(&std::fs::read(&f).expect("read")) else {
            continue;
        };
        let (Some(uuid), Some(ts)) = (
            v.pointer("/Event/uuid").and_then(Value::as_str),
            v.pointer("/Event/timestamp"),
        ) else {
            continue;
        };
        if manifest.contains_key(uuid) {
            continue;
        }
        manifest.insert(
            uuid.to_string(),
            json!({"timestamp": ts, "info": v.pointer("/Event/info")}),
        );
        copy(&f, &format!("misp/{uuid}.json"));
        events.push((uuid.to_string(), f));
    }
    std::fs::write(
        www.join("misp/manifest.json"),
        serde_json::to_vec(&manifest).expect("json"),
    )
    .expect("write");
    // CSAF: the CISA tree, its OT ROLIE feed pointing at this server (as a mirror would), and a provider-metadata.json.
    let st = Command::new("tar")
        .arg("xzf")
        .arg(data.join("csaf-cisa/cisagov-csaf-files.json.tar.gz"))
        .arg("-C")
        .arg(www)
        .status()
        .expect("tar");
    assert!(st.success());
    let rolie = www.join("csaf_files/OT/white/cisa-csaf-ot-feed-tlp-white.json");
    let text = std::fs::read_to_string(&rolie).expect("rolie");
    let text = text.replace(
        "https://raw.githubusercontent.com/cisagov/CSAF/develop/",
        &format!("{base}/"),
    );
    std::fs::write(&rolie, text).expect("write");
    // Each document's hash file, as CISA publishes them (`sha512sum` output; the shared copy leaves them out).
    for doc in walk(&www.join("csaf_files")) {
        if doc.to_string_lossy().contains("feed-tlp") {
            continue;
        }
        use sha2::Digest;
        let bytes = std::fs::read(&doc).expect("read");
        let hex: String = sha2::Sha512::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let name = doc.file_name().expect("name").to_string_lossy();
        std::fs::write(
            format!("{}.sha512", doc.display()),
            format!("{hex}  {name}\n"),
        )
        .expect("write");
    }
    let pm = json!({
        "canonical_url": format!("{base}/.well-known/csaf/provider-metadata.json"),
        "distributions": [
            {"rolie": {"feeds": [{"summary": "OT advisories", "tlp_label": "WHITE",
                "url": format!("{base}/csaf_files/OT/white/cisa-csaf-ot-feed-tlp-white.json")}]}},
            {"directory_url": format!("{base}/csaf_files/IT/white/")}
        ],
        "last_updated": "2024-10-24T00:00:00Z",
        "list_on_CSAF_aggregators": true,
        "metadata_version": "2.0",
        "mirror_on_CSAF_aggregators": true,
        "public_openpgp_keys": [],
        "publisher": {"category": "coordinator", "name": "CISA (test mirror)", "namespace": "https://www.cisa.gov"},
        "role": "csaf_trusted_provider"
    });
    std::fs::create_dir_all(www.join(".well-known/csaf")).expect("mkdir");
    std::fs::write(
        www.join(".well-known/csaf/provider-metadata.json"),
        pm.to_string(),
    )
    .expect("write");
    events
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("`{k}` in {v}"))
}

#[test]
fn feeds_from_a_local_server_and_second_pull_transfers_nothing() {
    let Some(data) = shared() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    let www = Www::start(root.path().to_path_buf());
    let base = www.base();
    let events = lay_out(&data, root.path(), &base);
    assert!(events.len() >= 10, "MISP events laid out: {}", events.len());
    let v = Vigil::new();
    let kev_url = format!("{base}/kev/known_exploited_vulnerabilities.json");
    let stix_url = format!("{base}/stix/indicator-for-c2-ip-address.json");
    let misp_url = format!("{base}/misp/");
    let csaf_url = format!("{base}/.well-known/csaf/provider-metadata.json");
    let secret = "feed-secret-9f8e7d";
    for args in [
        vec![
            "--name",
            "kev",
            "--kind",
            "url",
            "--url",
            &kev_url,
            "--format",
            "kev",
            "--tlp",
            "clear",
            "--interval",
            "1d",
        ],
        vec![
            "--name", "stix", "--kind", "url", "--url", &stix_url, "--tlp", "green", "--token",
            secret,
        ],
        vec![
            "--name",
            "misp",
            "--kind",
            "misp-feed",
            "--url",
            &misp_url,
            "--tlp",
            "green",
            "--interval",
            "6h",
        ],
        vec![
            "--name",
            "csaf",
            "--kind",
            "csaf",
            "--url",
            &csaf_url,
            "--tlp",
            "clear",
            "--interval",
            "1d",
        ],
    ] {
        let mut a = vec!["feeds", "add"];
        a.extend(args);
        let (r, code) = v.json(&a);
        assert_eq!(code, 0, "{r}");
    }

    // First pull: everything arrives.
    let (reports, code) = v.json(&["feeds", "pull"]);
    let reports: HashMap<String, Value> = reports
        .as_array()
        .expect("array")
        .iter()
        .map(|r| (r["feed"].as_str().unwrap_or("").to_string(), r.clone()))
        .collect();
    assert_eq!(code, 0, "{reports:?}");
    let first = www.take();
    for (name, r) in &reports {
        assert_eq!(r["ok"], true, "{name}: {r}");
        assert!(n(r, "bodies") > 0, "{name}: {r}");
    }
    let stix = &reports["stix"];
    assert_eq!(n(stix, "added"), 1, "{stix}");
    // Bodies travelled gzip-compressed (the client asked for it and decompressed them).
    assert!(
        first.iter().filter(|h| h.status == 200).all(|h| h.gzip),
        "{first:?}"
    );
    assert_eq!(
        n(&reports["kev"], "bytes"),
        std::fs::metadata(data.join("cisa-kev/known_exploited_vulnerabilities.json"))
            .expect("kev")
            .len()
    );
    // The token went to the feed's server as a Bearer credential, and only for that feed.
    let with_auth: Vec<&Hit> = first.iter().filter(|h| h.auth.is_some()).collect();
    assert_eq!(with_auth.len(), 1, "{with_auth:?}");
    assert_eq!(
        with_auth[0].auth.as_deref(),
        Some(format!("Bearer {secret}").as_str())
    );
    assert!(with_auth[0].path.starts_with("/stix/"));
    let misp = &reports["misp"];
    assert_eq!(n(misp, "changed"), events.len() as u64, "{misp}");
    assert!(n(misp, "added") > 100, "{misp}");
    // KEV and CSAF go to the advisory readers (as `vigil ingest` of the same files would).
    let kev = &reports["kev"];
    assert!(n(kev, "added") > 1000, "{kev}");
    assert_eq!(n(kev, "stored_not_ingested"), 0, "{kev}");
    let csaf = &reports["csaf"];
    let docs = walk(&root.path().join("csaf_files"))
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("feed-tlp"))
        .count();
    assert_eq!(
        n(csaf, "changed"),
        docs as u64,
        "every CSAF document fetched once: {csaf}"
    );
    assert!(n(csaf, "added") > 0, "{csaf}");
    // Every hash file matched; the provider signs nothing (no keys), so the documents are taken as unsigned.
    let integrity = &csaf["integrity"];
    assert_eq!(n(integrity, "hash_matched"), docs as u64, "{integrity}");
    assert_eq!(n(integrity, "unchecked"), docs as u64, "{integrity}");
    assert_eq!(n(integrity, "refused"), 0, "{integrity}");
    assert_eq!(n(csaf, "stored_not_ingested"), 0, "{csaf}");
    assert!(v
        .data()
        .join("feeds/csaf/csaf_files/IT/white/2024/va-24-254-02.json")
        .is_file());
    let documents = first
        .iter()
        .filter(|h| {
            h.path.contains("/csaf_files/")
                && h.path.ends_with(".json")
                && !h.path.contains("feed-tlp")
        })
        .count();
    assert_eq!(documents, docs, "each CSAF document requested once");

    // Second pull: nothing new. Every request is answered 304, no body is transferred, nothing is added.
    let (again, code) = v.json(&["feeds", "pull"]);
    assert_eq!(code, 0, "{again}");
    for r in again.as_array().expect("array") {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(n(r, "bodies"), 0, "{r}");
        assert_eq!(n(r, "bytes"), 0, "{r}");
        assert_eq!(n(r, "added"), 0, "{r}");
        assert_eq!(n(r, "objects_received"), 0, "{r}");
        assert!(n(r, "not_modified") >= 1, "{r}");
    }
    let second = www.take();
    assert!(second.iter().all(|h| h.status == 304), "{second:?}");

    // One MISP event changes upstream: only the manifest and that event are transferred.
    let (uuid, _) = &events[0];
    let mf = root.path().join("misp/manifest.json");
    let mut m: Value =
        serde_json::from_slice(&std::fs::read(&mf).expect("manifest")).expect("json");
    let ev_path = root.path().join(format!("misp/{uuid}.json"));
    let mut ev: Value =
        serde_json::from_slice(&std::fs::read(&ev_path).expect("event")).expect("json");
    ev["Event"]["timestamp"] = json!("1900000000");
    ev["Event"]["info"] = json!("changed upstream");
    std::fs::write(&ev_path, ev.to_string()).expect("write");
    m[uuid.as_str()]["timestamp"] = json!("1900000000");
    std::fs::write(&mf, m.to_string()).expect("write");
    let r = v.pull("misp");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(n(&r, "bodies"), 2, "manifest + the one changed event: {r}");
    assert_eq!(n(&r, "changed"), 1, "{r}");
    let third = www.take();
    let bodies: Vec<&str> = third
        .iter()
        .filter(|h| h.status == 200)
        .map(|h| h.path.as_str())
        .collect();
    assert_eq!(
        bodies,
        vec![
            "/misp/manifest.json".to_string(),
            format!("/misp/{uuid}.json")
        ],
        "{third:?}"
    );

    // Status: last success, no error, objects added; never the token.
    let out = v.run(&["feeds", "status", "--json"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(secret));
    let st: Value = serde_json::from_slice(&out.stdout).expect("status json");
    let st: HashMap<String, Value> = st
        .as_array()
        .expect("array")
        .iter()
        .map(|f| (f["name"].as_str().unwrap_or("").to_string(), f.clone()))
        .collect();
    assert_eq!(st.len(), 4, "{st:?}");
    assert_eq!(st["stix"]["has_token"], true);
    assert_eq!(st["stix"]["objects_added"], 1);
    assert_eq!(st["misp"]["pulls"], 3);
    assert!(st["misp"]["last_success"].is_string());
    assert!(st["misp"]["last_error"].is_null());
    assert_eq!(
        st["misp"]["objects_added"].as_u64(),
        Some(n(misp, "added") + n(&r, "added"))
    );

    // Nothing is due right after a pull.
    let (due, code) = v.json(&["feeds", "pull", "--due"]);
    assert_eq!((due, code), (json!([]), 0));

    // The size limit: a body larger than --max-bytes is refused, named, and nothing of it is ingested.
    let (_, code) = v.json(&[
        "feeds", "add", "--name", "kev2", "--kind", "url", "--url", &kev_url, "--format", "kev",
    ]);
    assert_eq!(code, 0);
    let (r, code) = v.json(&["feeds", "pull", "--name", "kev2", "--max-bytes", "100000"]);
    assert_eq!(code, 1);
    assert!(
        r[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("size limit of 100000 bytes"),
        "{r}"
    );
    assert!(!v
        .data()
        .join("feeds/kev2/known_exploited_vulnerabilities.json")
        .exists());
    let (r, _) = v.json(&["feeds", "remove", "--name", "kev2"]);
    assert_eq!(r["removed"], true);

    // A failing feed records its error and keeps the others working.
    let gone = format!("{base}/nowhere.json");
    let (_, code) = v.json(&[
        "feeds", "add", "--name", "gone", "--kind", "url", "--url", &gone,
    ]);
    assert_eq!(code, 0);
    let r = v.pull("gone");
    assert_eq!(r["ok"], false);
    assert!(r["error"].as_str().unwrap_or("").contains("404"), "{r}");
    let (st, _) = v.json(&["feeds", "status"]);
    let gone_st = st
        .as_array()
        .expect("array")
        .iter()
        .find(|f| f["name"] == "gone")
        .cloned()
        .expect("gone");
    assert!(
        gone_st["last_error"].as_str().unwrap_or("").contains("404"),
        "{gone_st}"
    );
    assert!(gone_st["last_success"].is_null());

    // Remove.
    let (r, code) = v.json(&["feeds", "remove", "--name", "gone"]);
    assert_eq!(code, 0, "{r}");
    let out = v.run(&["feeds", "remove", "--name", "gone"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no feed named `gone`"));
}

#[test]
fn bad_feed_definitions_are_refused_with_reasons() {
    let v = Vigil::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--name", "x", "--kind", "ftp", "--url", "http://h/"],
            "unknown feed kind",
        ),
        (
            &[
                "--name",
                "x",
                "--kind",
                "url",
                "--url",
                "file:///etc/passwd",
            ],
            "only http and https",
        ),
        (
            &["--name", "x", "--kind", "url", "--url", "not a url"],
            "URL",
        ),
        (
            &["--name", "../x", "--kind", "url", "--url", "http://h/"],
            "feed name",
        ),
        (
            &[
                "--name",
                "x",
                "--kind",
                "url",
                "--url",
                "http://h/",
                "--tlp",
                "purple",
            ],
            "TLP",
        ),
        (
            &[
                "--name",
                "x",
                "--kind",
                "url",
                "--url",
                "http://h/",
                "--interval",
                "5s",
            ],
            "shorter than a minute",
        ),
        (
            &[
                "--name",
                "x",
                "--kind",
                "url",
                "--url",
                "http://h/",
                "--collection",
                "c",
            ],
            "taxii feeds only",
        ),
    ];
    for (args, want) in cases {
        let mut a = vec!["feeds", "add"];
        a.extend_from_slice(args);
        let out = v.run(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
    // Duplicates need --replace.
    assert!(v
        .run(&[
            "feeds",
            "add",
            "--name",
            "x",
            "--kind",
            "url",
            "--url",
            "http://h/a"
        ])
        .status
        .success());
    assert!(!v
        .run(&[
            "feeds",
            "add",
            "--name",
            "x",
            "--kind",
            "url",
            "--url",
            "http://h/b"
        ])
        .status
        .success());
    assert!(v
        .run(&[
            "feeds",
            "add",
            "--name",
            "x",
            "--kind",
            "url",
            "--url",
            "http://h/b",
            "--replace"
        ])
        .status
        .success());
}

#[test]
fn feeds_from_the_configuration_file() {
    let v = Vigil::new();
    let cfg = v.data().join("vigil.toml");
    std::fs::write(
        &cfg,
        "[[feeds]]\nname = \"peer\"\nkind = \"taxii\"\nurl = \"http://127.0.0.1:9/taxii2/\"\ntoken_env = \"PEER_TOKEN_T\"\ninterval = \"15m\"\ncollection = \"shared-green\"\n",
    )
    .expect("write");
    let (st, code) = v.json(&["feeds", "status"]);
    assert_eq!(code, 0, "{st}");
    assert_eq!(st[0]["name"], "peer");
    assert_eq!(st[0]["origin"], "config");
    assert_eq!(st[0]["interval"], "15m");
    assert_eq!(
        st[0]["has_token"], false,
        "configured tokens are not copied into the store"
    );
    // Removing a configured feed from the CLI is refused; a pull without the token's variable says which.
    let out = v.run(&["feeds", "remove", "--name", "peer"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("configuration file"));
    let out = v
        .cmd()
        .args(["feeds", "pull", "--json"])
        .env_remove("PEER_TOKEN_T")
        .output()
        .expect("run");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PEER_TOKEN_T"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // With the variable, the pull runs and fails on the network (nothing listens on port 9), recorded as the error.
    let out = v
        .cmd()
        .args(["feeds", "pull", "--json"])
        .env("PEER_TOKEN_T", "t0ken-xyz")
        .output()
        .expect("run");
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r[0]["ok"], false);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("t0ken-xyz"));
    // A CSAF provider with its keys declared (spaced, lower case, as people copy them) and signatures required.
    let fpr = "1cd9 3037 93e8 99ad 6235  4b43 61a2 b342 f9a3 eef7";
    std::fs::write(
        &cfg,
        format!("[[feeds]]\nname = \"vendor\"\nkind = \"csaf\"\nurl = \"http://127.0.0.1:9/provider-metadata.json\"\nopenpgp_keys = [\"{fpr}\"]\nrequire_signature = true\n"),
    )
    .expect("write");
    let (st, code) = v.json(&["feeds", "status"]);
    assert_eq!(code, 0, "{st}");
    assert_eq!(
        (
            &st[0]["openpgp_keys"],
            &st[0]["require_signature"],
            &st[0]["pinned_keys"]
        ),
        (
            &json!(["1CD9303793E899AD62354B4361A2B342F9A3EEF7"]),
            &json!(true),
            &json!([])
        ),
        "{st}"
    );
    // A bad fingerprint in the file is an error naming the feed.
    std::fs::write(
        &cfg,
        "[[feeds]]\nname = \"vendor\"\nkind = \"csaf\"\nurl = \"http://127.0.0.1:9/p.json\"\nopenpgp_keys = [\"abc\"]\n",
    )
    .expect("write");
    let out = v.run(&["feeds", "status", "--json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`vendor`"));
    // Leaving the configuration removes it.
    std::fs::write(&cfg, "").expect("write");
    let (st, _) = v.json(&["feeds", "status"]);
    assert_eq!(st, json!([]));
}

// ---------------------------------------------------------------------------------------------------------------
// Federation.

fn marking(tlp: &str) -> &'static str {
    match tlp {
        "clear" => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        "green" => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        "amber" => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        _ => unreachable!(),
    }
}

/// A bundle of indicators: (name, tlp or None for unmarked), all with the same `modified`.
fn bundle(path: &Path, items: &[(&str, Option<&str>)]) -> Vec<String> {
    bundle_at(path, items, "2026-01-01T00:00:00.000Z")
}

fn bundle_at(path: &Path, items: &[(&str, Option<&str>)], modified: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let objects: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, (name, tlp))| {
            let id = format!("indicator--{}", uuid_for(name));
            ids.push(id.clone());
            let mut o = json!({
                "type": "indicator", "spec_version": "2.1", "id": id,
                "created": "2026-01-01T00:00:00.000Z", "modified": modified,
                "name": name, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
                "pattern": format!("[ipv4-addr:value = '198.51.100.{}']", i + 1),
                "indicator_types": ["malicious-activity"],
            });
            if let Some(t) = tlp {
                o["object_marking_refs"] = json!([marking(t)]);
            }
            o
        })
        .collect();
    let b = json!({"type": "bundle", "id": format!("bundle--{}", uuid_for(&format!("{path:?}"))), "objects": objects});
    std::fs::write(path, b.to_string()).expect("write bundle");
    ids
}

fn uuid_for(s: &str) -> String {
    let h = fnv(s.as_bytes());
    let g = fnv(format!("{s}#").as_bytes());
    let x = format!("{h:016x}{g:016x}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &x[0..8],
        &x[8..12],
        &x[13..16],
        &x[17..20],
        &x[20..32]
    )
}

/// B's organisation enrolled at A as a member, with a member token: (member id, token, token id).
fn enrol_peer(a: &Vigil) -> (String, String, String) {
    let (m, code) = a.json(&[
        "members",
        "add",
        "--name",
        "CERT-B",
        "--country",
        "AT",
        "--kind",
        "csirt",
    ]);
    assert_eq!(code, 0, "{m}");
    let member = m["id"].as_i64().expect("member id").to_string();
    let (t, code) = a.json(&[
        "tokens",
        "create",
        "--member",
        &member,
        "--role",
        "member",
        "--expires",
        "never",
    ]);
    assert_eq!(code, 0, "{t}");
    let token = t["token"].as_str().expect("token").to_string();
    let token_id = t["id"].as_i64().expect("token id").to_string();
    (member, token, token_id)
}

#[test]
fn federation_b_follows_a_and_sees_exactly_what_its_token_may() {
    let a = Vigil::new();
    let b = Vigil::new();
    // A: a member (B's organisation) with a member token; A's operator exists from the first command.
    let (member, token, tid) = enrol_peer(&a);

    // A's knowledge: CLEAR, GREEN, AMBER, unmarked (AMBER by default), and one AMBER object shared with B.
    let f1 = a.data().join("round1.json");
    let ids1 = bundle(
        &f1,
        &[
            ("c1", Some("clear")),
            ("c2", Some("clear")),
            ("g1", Some("green")),
            ("g2", Some("green")),
            ("g3", Some("green")),
            ("a1", Some("amber")),
            ("a2", Some("amber")),
            ("shared-a3", Some("amber")),
            ("unmarked", None),
        ],
    );
    let (r, code) = a.json(&["ingest", f1.to_str().expect("path")]);
    assert_eq!(code, 0, "{r}");
    let (r, code) = a.json(&["share", &ids1[7], "--with", &member]);
    assert_eq!(code, 0, "{r}");

    let srv = common::serve(a.data(), &[]);
    let url = format!("{}/taxii2/", srv.base);
    let (r, code) = b.json(&[
        "feeds",
        "add",
        "--name",
        "peer-a",
        "--kind",
        "taxii",
        "--url",
        &url,
        "--token",
        &token,
        "--interval",
        "15m",
    ]);
    assert_eq!(code, 0, "{r}");

    // What B may see on A, decided independently of TAXII: A's own export at GREEN and below, plus the shared object.
    let expected = |a: &Vigil| {
        let mut e = a.export_ids(&["--tlp-max", "green"]);
        e.insert(ids1[7].clone());
        e
    };
    let mut received_total = 0u64;

    // Round 1.
    let r = b.pull("peer-a");
    assert_eq!(r["ok"], true, "{r}");
    let colls: Vec<&str> = r["collections"]
        .as_array()
        .expect("collections")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        colls.contains(&"shared-green") && colls.contains(&"shared-amber"),
        "{colls:?}"
    );
    received_total += n(&r, "objects_received");
    let got = b.export_ids(&[]);
    let want = expected(&a);
    assert_eq!(got, want, "B holds exactly what its token may read on A");
    for (i, id) in ids1.iter().enumerate() {
        let visible = !matches!(i, 5 | 6 | 8);
        assert_eq!(got.contains(id), visible, "object {i} ({id})");
    }
    assert_eq!(n(&r, "added"), want.len() as u64, "{r}");

    // Rounds 2 and 3: nothing new on A, nothing received.
    for _ in 0..2 {
        let r = b.pull("peer-a");
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(n(&r, "objects_received"), 0, "incremental: {r}");
        assert_eq!(n(&r, "added"), 0, "{r}");
    }

    // New objects arrive on A (while it serves): two GREEN, one AMBER, one new version of a GREEN object.
    let f2 = a.data().join("round2.json");
    let ids2 = bundle(
        &f2,
        &[
            ("g4", Some("green")),
            ("g5", Some("green")),
            ("a4", Some("amber")),
        ],
    );
    let (r, code) = a.json(&["ingest", f2.to_str().expect("path")]);
    assert_eq!(code, 0, "{r}");
    let f3 = a.data().join("round2-version.json");
    bundle_at(&f3, &[("g1", Some("green"))], "2026-02-01T00:00:00.000Z");
    let (r, code) = a.json(&["ingest", f3.to_str().expect("path")]);
    assert_eq!(code, 0, "{r}");
    let r = b.pull("peer-a");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        n(&r, "objects_received"),
        3,
        "only the two new GREEN objects and the new version: {r}"
    );
    assert_eq!(n(&r, "added"), 2, "{r}");
    assert_eq!(n(&r, "updated"), 1, "{r}");
    received_total += n(&r, "objects_received");
    let (g1, _) = b.json(&["show", &ids1[2]]);
    assert!(
        g1.to_string().contains("2026-02-01T00:00:00"),
        "B holds the new version: {g1}"
    );
    let got = b.export_ids(&[]);
    assert!(got.contains(&ids2[0]) && got.contains(&ids2[1]) && !got.contains(&ids2[2]));
    assert_eq!(got, expected(&a));

    // Round 5: nothing again; no object was ever received twice.
    let r = b.pull("peer-a");
    assert_eq!(n(&r, "objects_received"), 0, "{r}");
    assert_eq!(
        received_total,
        got.len() as u64 + 1,
        "every object version received exactly once (g1 in two versions)"
    );
    let (st, _) = b.json(&["feeds", "status"]);
    assert_eq!(
        st[0]["objects_added"].as_u64(),
        Some(got.len() as u64),
        "{st}"
    );
    assert_eq!(st[0]["pulls"], 5);

    // Round 6: A's analyst retracts a GREEN object; B receives the revoked version and stops using it.
    let (r, code) = a.json(&["retract", &ids1[3], "--reason", "false positive"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["retracted"], 1, "{r}");
    let r = b.pull("peer-a");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        n(&r, "objects_received"),
        1,
        "the revoked version only: {r}"
    );
    assert_eq!(n(&r, "updated"), 1, "{r}");
    let after = b.export_ids(&[]);
    assert!(
        !after.contains(&ids1[3]),
        "B still exports the retracted object"
    );
    assert_eq!(after.len() + 1, got.len());
    let (g2, _) = b.json(&["show", &ids1[3]]);
    assert_eq!(g2["object"]["revoked"], true, "{g2}");
    assert_eq!(
        g2["object"]["x_vigil_retraction"]["reason"],
        "false positive"
    );

    // A revoked token: the pull fails with a clear error, recorded as the feed's last error.
    let (_, code) = a.json(&["tokens", "revoke", &tid]);
    assert_eq!(code, 0);
    let r = b.pull("peer-a");
    assert_eq!(r["ok"], false);
    assert!(r["error"].as_str().unwrap_or("").contains("401"), "{r}");
    assert!(!r.to_string().contains(&token));
}

/// Interop: a TAXII feed pulled from the OASIS reference server (medallion, pages of 100 with `next`), with HTTP
/// Basic credentials in the URL; a second pull receives nothing.
#[test]
fn taxii_feed_from_the_oasis_reference_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = std::env::var("VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join(".venv-peers"));
    let script = root.join("../shared/peers/start_medallion.sh");
    if !venv.join("bin/medallion").exists() || !script.exists() {
        eprintln!(
            "\n*** SKIPPED: medallion (VENV={}) or ../shared/peers not found ***\n",
            venv.display()
        );
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let run = tempfile::tempdir().expect("tempdir");
    let out = Command::new("bash")
        .arg(&script)
        .arg(port.to_string())
        .arg("350")
        .arg(run.path())
        .env("VENV", &venv)
        .output()
        .expect("start medallion");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    struct Stop(PathBuf);
    impl Drop for Stop {
        fn drop(&mut self) {
            if let Ok(pid) = std::fs::read_to_string(self.0.join("medallion.pid")) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
    let _stop = Stop(run.path().to_path_buf());
    let v = Vigil::new();
    let url = format!("http://user1:Password1@127.0.0.1:{port}/trustgroup1/");
    let (r, code) = v.json(&[
        "feeds",
        "add",
        "--name",
        "medallion",
        "--kind",
        "taxii",
        "--url",
        &url,
    ]);
    assert_eq!(code, 0, "{r}");
    assert!(
        !r.to_string().contains("Password1"),
        "credentials in the URL are not shown: {r}"
    );
    let r = v.pull("medallion");
    assert_eq!(r["ok"], true, "{r}");
    // 350 generated indicators (plus the identity that created them), over several pages.
    assert!(n(&r, "added") >= 350, "{r}");
    assert!(n(&r, "requests") >= 6, "paged: {r}");
    let first = n(&r, "added");
    let r = v.pull("medallion");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(n(&r, "objects_received"), 0, "{r}");
    let (s, _) = v.json(&["stats"]);
    assert!(s.to_string().contains("medallion"), "{s}");
    let (st, _) = v.json(&["feeds", "status"]);
    assert_eq!(st[0]["objects_added"].as_u64(), Some(first));
    assert_eq!(st[0]["has_token"], true);
}

// ---------------------------------------------------------------------------------------------------------------
// One feed, two pullers: a server that holds every response until the test opens its gate, so that a pull is
// still running (and holding the feed's lease) while the other starts.

struct GatedFeed {
    port: u16,
    /// Paths requested, in order.
    requests: Arc<Mutex<Vec<String>>>,
    open: Arc<std::sync::atomic::AtomicBool>,
}

impl GatedFeed {
    fn start(body: Vec<u8>) -> GatedFeed {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::new(AtomicBool::new(false));
        let (log, gate) = (requests.clone(), open.clone());
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let (log, gate, body) = (log.clone(), gate.clone(), body.clone());
                std::thread::spawn(move || -> std::io::Result<()> {
                    log.lock().expect("log").push(request_path(&s)?);
                    // Bounded, so that a test that never opens the gate still ends (and fails on its counts).
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                    while !gate.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    let mut w = s;
                    write!(
                        w,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n",
                        body.len()
                    )?;
                    w.write_all(&body)?;
                    w.flush()
                });
            }
        });
        GatedFeed {
            port,
            requests,
            open,
        }
    }
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/bundle.json", self.port)
    }
    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("log").clone()
    }
    fn set_open(&self, open: bool) {
        self.open.store(open, std::sync::atomic::Ordering::SeqCst);
    }
    /// Waits until `n` requests have come in.
    fn await_requests(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.requests().len() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "{n} requests awaited, {:?} came",
                self.requests()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// Waits for the first of `children` to end (at most a minute) and returns its index.
fn first_to_end(children: &mut [std::process::Child]) -> Option<usize> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        for (i, c) in children.iter_mut().enumerate() {
            if c.try_wait().expect("try_wait").is_some() {
                return Some(i);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}): {} / {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Two `vigil feeds pull --name` on one data directory at the same moment: the feed is downloaded once (one
/// request reaches its server); the other process says who is pulling it and until when, and exits non-zero. The
/// lease shows in `feeds status` while held, is gone after the pull, and a `--due` pull just after skips the feed.
#[test]
fn concurrent_pulls_of_one_feed_download_it_once() {
    two_pullers(&Vigil::new());
}

/// The same with the store in PostgreSQL, as several servers sharing it pull (`VIGIL_TEST_POSTGRES` names the
/// server, default the local one; `off` skips, loudly).
#[test]
fn concurrent_pulls_of_one_feed_download_it_once_on_postgres() {
    let url = match std::env::var("VIGIL_TEST_POSTGRES") {
        Ok(v) if v == "off" => {
            eprintln!("\n*** SKIPPED: VIGIL_TEST_POSTGRES=off, feed leases in PostgreSQL are not tested ***\n");
            return;
        }
        Ok(v) => v,
        Err(_) => "host=127.0.0.1 user=postgres dbname=test".to_string(),
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let schema = format!("vigil_feed_lease_{}_{nanos}", std::process::id());
    two_pullers(&Vigil::with_store(Some((url, schema))));
}

fn two_pullers(v: &Vigil) {
    let bundle = json!({"type": "bundle", "id": "bundle--6b5a1b7e-0d5c-4a8e-9a57-0c2e4d6f8a11", "objects": [
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
         "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "lease test",
         "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix",
         "valid_from": "2026-01-01T00:00:00Z"}]});
    let www = GatedFeed::start(serde_json::to_vec(&bundle).expect("json"));
    let url = www.url();
    let (r, code) = v.json(&[
        "feeds", "add", "--name", "one", "--kind", "url", "--url", &url,
    ]);
    assert_eq!(code, 0, "{r}");
    let spawn = |json: bool| {
        let mut c = v.cmd();
        c.args(["feeds", "pull", "--name", "one"]);
        if json {
            c.arg("--json");
        }
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start vigil feeds pull")
    };

    // Both at once: whichever claims first downloads; the other ends while the download is held up.
    let mut pulls = vec![spawn(true), spawn(true)];
    let pids: Vec<u32> = pulls.iter().map(|c| c.id()).collect();
    let first = first_to_end(&mut pulls);
    www.set_open(true);
    let outs: Vec<Output> = pulls
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    let Some(loser) = first else {
        panic!(
            "neither pull ended while the download was held up: both are downloading ({:?}); {:?}",
            www.requests(),
            outs.iter()
                .map(|o| String::from_utf8_lossy(&o.stderr).to_string())
                .collect::<Vec<_>>()
        );
    };
    let winner = 1 - loser;
    assert_eq!(www.requests(), ["/bundle.json"], "exactly one download");
    let (won, lost) = (json_of(&outs[winner]), json_of(&outs[loser]));
    assert_eq!(outs[winner].status.code(), Some(0), "{won}");
    assert_eq!(won[0]["ok"], true, "{won}");
    assert_eq!(n(&won[0], "added"), 1, "{won}");
    assert!(won[0].get("held_by").is_none(), "{won}");
    assert_eq!(outs[loser].status.code(), Some(1), "{lost}");
    let r = &lost[0];
    assert_eq!(
        (r["feed"].as_str(), r["ok"].as_bool()),
        (Some("one"), Some(false)),
        "{lost}"
    );
    let holder = r["held_by"]["holder"].as_str().expect("holder");
    let until = r["held_by"]["until"].as_str().expect("until");
    assert!(
        holder.contains(&format!(":{}:", pids[winner])),
        "the holder names the pulling process ({}): {holder}",
        pids[winner]
    );
    assert_eq!(
        r["error"].as_str(),
        Some(format!("feed `one` is being pulled by {holder} until {until}").as_str())
    );
    assert_eq!(n(r, "requests"), 0, "{lost}");
    // Released at the end.
    let (status, _) = v.json(&["feeds", "status"]);
    assert_eq!(status[0]["lease"], Value::Null, "{status}");
    assert_eq!(n(&status[0], "pulls"), 1, "{status}");

    // One after the other, on a feed never pulled (so due): the second, in text, says who has the feed while the
    // first waits for its body.
    let (r, code) = v.json(&[
        "feeds", "add", "--name", "two", "--kind", "url", "--url", &url,
    ]);
    assert_eq!(code, 0, "{r}");
    www.set_open(false);
    let mut c = v.cmd();
    let first = c
        .args(["feeds", "pull", "--name", "two", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start vigil feeds pull");
    www.await_requests(2);
    let (status, _) = v.json(&["feeds", "status"]);
    assert_eq!(status[0]["lease"], Value::Null, "{status}");
    let held = status[1]["lease"]["holder"]
        .as_str()
        .expect("lease while pulling");
    assert!(held.contains(&format!(":{}:", first.id())), "{status}");
    let out = v.run(&["feeds", "pull", "--name", "two"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("feed `two` is being pulled by {held} until ")),
        "{text}"
    );
    let out = v.run(&["feeds", "status"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("being pulled by {held} until ")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // `--due` (as the scheduler) skips a feed another process is pulling, without failing; `one` is not due.
    let (due, code) = v.json(&["feeds", "pull", "--due"]);
    assert_eq!(code, 0, "{due}");
    assert_eq!(due.as_array().map(Vec::len), Some(1), "{due}");
    assert_eq!(due[0]["feed"], "two", "{due}");
    assert_eq!(due[0]["held_by"]["holder"].as_str(), Some(held), "{due}");
    www.set_open(true);
    let out = first.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", json_of(&out));
    assert_eq!(www.requests().len(), 2);
    // Both just pulled: not due, nothing fetched.
    let (due, code) = v.json(&["feeds", "pull", "--due"]);
    assert_eq!((due, code), (json!([]), 0));
    assert_eq!(www.requests().len(), 2);
}

/// Two CSIRTs whose servers carry certificates of their own PKI: B follows A over HTTPS once it trusts A's CA,
/// through vigil.toml's `[http] ca_file` or the system's trust store (here `SSL_CERT_FILE`, as OpenSSL and
/// rustls-native-certs read it); before that the pull fails saying what to do.
#[test]
fn federation_over_https_trusts_the_peers_ca_from_the_settings_or_the_system() {
    let pki = tempfile::tempdir().expect("tempdir");
    if !common::pki(pki.path(), "ca-a", "server-a") {
        return;
    }
    let a = Vigil::new();
    let b = Vigil::new();
    let (_, token, _) = enrol_peer(&a);
    let f = a.data().join("green.json");
    let ids = bundle(
        &f,
        &[
            ("g1", Some("green")),
            ("g2", Some("green")),
            ("a1", Some("amber")),
        ],
    );
    let (r, code) = a.json(&["ingest", f.to_str().expect("path")]);
    assert_eq!(code, 0, "{r}");
    let cert = pki.path().join("server-a.crt");
    let key = pki.path().join("server-a.key");
    let srv = common::serve(
        a.data(),
        &[
            "--no-feeds",
            "--no-delivery",
            "--tls-cert",
            cert.to_str().expect("p"),
            "--tls-key",
            key.to_str().expect("p"),
        ],
    );
    assert!(srv.base.starts_with("https://"), "{}", srv.base);
    let url = format!("{}/taxii2/", srv.base);
    let (r, code) = b.json(&[
        "feeds", "add", "--name", "peer-a", "--kind", "taxii", "--url", &url, "--token", &token,
    ]);
    assert_eq!(code, 0, "{r}");

    // Not trusted yet: the reason down to the certificate, and what to do.
    let r = b.pull("peer-a");
    assert_eq!(r["ok"], false, "{r}");
    let err = r.to_string();
    assert!(
        err.contains("invalid peer certificate") && err.contains("[http] ca_file"),
        "{err}"
    );
    assert!(!err.contains(&token), "the token in a report: {err}");
    assert!(!b.export_ids(&[]).contains(&ids[0]));

    // Trusted through the system's store.
    let (v, _) = {
        let out = b
            .cmd()
            .args(["feeds", "pull", "--name", "peer-a", "--json"])
            .env("SSL_CERT_FILE", pki.path().join("ca-a.crt"))
            .output()
            .expect("run");
        (
            serde_json::from_slice::<Value>(&out.stdout).expect("JSON"),
            out.status.code(),
        )
    };
    assert_eq!(v[0]["ok"], true, "{v}");
    let got = b.export_ids(&[]);
    assert!(
        got.contains(&ids[0]) && got.contains(&ids[1]) && !got.contains(&ids[2]),
        "{got:?}"
    );

    // Trusted through vigil.toml: a bundle that holds another CA too; a bad file is named.
    let bundle_file = b.data().join("peers-ca.pem");
    let mut pem = std::fs::read(pki.path().join("ca-a.crt")).expect("read");
    if common::pki(pki.path(), "ca-c", "server-c") {
        pem.extend(std::fs::read(pki.path().join("ca-c.crt")).expect("read"));
    }
    std::fs::write(&bundle_file, &pem).expect("write");
    let toml = b.data().join("vigil.toml");
    let before = std::fs::read_to_string(&toml).unwrap_or_default();
    std::fs::write(
        &toml,
        format!(
            "{before}\n[http]\nca_file = \"{}\"\n",
            bundle_file.display()
        ),
    )
    .expect("write");
    let f2 = a.data().join("green2.json");
    let ids2 = bundle(&f2, &[("g3", Some("green"))]);
    let (r, code) = a.json(&["ingest", f2.to_str().expect("path")]);
    assert_eq!(code, 0, "{r}");
    let r = b.pull("peer-a");
    assert_eq!(r["ok"], true, "{r}");
    assert!(b.export_ids(&[]).contains(&ids2[0]));
    std::fs::write(&bundle_file, "not a certificate\n").expect("write");
    let out = b.run(&["feeds", "pull", "--name", "peer-a", "--json"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[http] ca_file") && err.contains("peers-ca.pem"),
        "{err}"
    );
}

/// Reads a request's line and headers; returns its path (with the query).
fn request_path(s: &TcpStream) -> std::io::Result<String> {
    let mut rd = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    rd.read_line(&mut line)?;
    loop {
        let mut h = String::new();
        if rd.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
    }
    Ok(line.split_whitespace().nth(1).unwrap_or("/").to_string())
}

// ---------------------------------------------------------------------------------------------------------------
// A TAXII peer that serves one page with a broken object.

/// Answers each request with what `route` gives for its path and query: (body, X-TAXII-Date-Added-Last). Every
/// path asked is logged.
fn serve_taxii(
    route: impl Fn(&str) -> (String, Option<&'static str>) + Send + Sync + 'static,
) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let route = Arc::new(route);
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let (log, route) = (log.clone(), route.clone());
            std::thread::spawn(move || -> std::io::Result<()> {
                let path = request_path(&s)?;
                let (body, last) = route(&path);
                log.lock().expect("log").push(path);
                let last = last
                    .map(|l| format!("X-TAXII-Date-Added-Last: {l}\r\n"))
                    .unwrap_or_default();
                let mut w = s;
                write!(
                    w,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/taxii+json;version=2.1\r\nContent-Length: {}\r\n{last}Connection: close\r\n\r\n{body}",
                    body.len()
                )?;
                w.flush()
            });
        }
    });
    (port, asked)
}

/// A store with a `taxii` feed named `peer` following the API root `/taxii2/` of the server on `port`.
fn follows_taxii_peer(port: u16) -> Vigil {
    let v = Vigil::new();
    let url = format!("http://127.0.0.1:{port}/taxii2/");
    let (r, code) = v.json(&[
        "feeds", "add", "--name", "peer", "--kind", "taxii", "--url", &url,
    ]);
    assert_eq!(code, 0, "{r}");
    v
}

/// A peer's page holding an object broken by an unescaped quote: the follower stores the page's other objects,
/// rejects that one by its id, goes on after the page's X-TAXII-Date-Added-Last to the next page, and a second
/// pull asks from there (before, the pull failed on that page every time, storing nothing from it).
#[test]
fn a_taxii_page_with_a_broken_object_costs_that_object() {
    let ind = |n: u32, extra: &str| {
        format!(
            r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--0b5ee2b5-0000-4000-8000-00000000000{n}","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","name":"taxii-peer-{n}.example"{extra},"pattern":"[domain-name:value = 'taxii-peer-{n}.example']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}}"#
        )
    };
    let page1 = format!(
        r#"{{"more":true,"objects":[{},{},{}]}}"#,
        ind(1, ""),
        ind(2, r#","description":"the "GLASS" case""#),
        ind(3, "")
    );
    let page2 = format!(r#"{{"more":false,"objects":[{}]}}"#, ind(4, ""));
    let after = |q: &str, t: &str| q.contains(&format!("added_after=2026-01-01T00%3A00%3A0{t}"));
    let (port, asked) = serve_taxii(move |path| match path.split_once('?') {
        None if path == "/taxii2/" => (r#"{"title":"peer"}"#.into(), None),
        None if path == "/taxii2/collections/" => (
            r#"{"collections":[{"id":"c1","title":"c1","can_read":true,"can_write":false}]}"#
                .into(),
            None,
        ),
        Some(("/taxii2/collections/c1/objects/", q)) if after(q, "4") => {
            (r#"{"more":false}"#.into(), None)
        }
        Some(("/taxii2/collections/c1/objects/", q)) if after(q, "3") => {
            (page2.clone(), Some("2026-01-01T00:00:04.000Z"))
        }
        Some(("/taxii2/collections/c1/objects/", _)) => {
            (page1.clone(), Some("2026-01-01T00:00:03.000Z"))
        }
        _ => (r#"{"title":"not here"}"#.into(), None),
    });
    let v = follows_taxii_peer(port);
    let r = v.pull("peer");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!((n(&r, "added"), n(&r, "rejected")), (3, 1), "{r}");
    let problems = r["problems"].to_string();
    assert!(
        problems.contains("indicator--0b5ee2b5-0000-4000-8000-000000000002")
            && problems.contains("unescaped"),
        "the broken object is named: {r}"
    );
    assert!(
        problems.contains("X-TAXII-Date-Added-Last"),
        "the page is named: {r}"
    );
    for (k, stored) in [(1, true), (2, false), (3, true), (4, true)] {
        let (found, _) = v.json(&["search", &format!("taxii-peer-{k}.example")]);
        assert_eq!(
            found
                .to_string()
                .contains(&format!("taxii-peer-{k}.example")),
            stored,
            "{k}: {found}"
        );
    }
    asked.lock().expect("log").clear();
    let r = v.pull("peer");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(n(&r, "objects_received"), 0, "{r}");
    let asked = asked.lock().expect("log").clone();
    assert!(
        asked
            .iter()
            .any(|p| p.contains("added_after=2026-01-01T00%3A00%3A04")),
        "the second pull asks after the last page: {asked:?}"
    );
}

/// A peer that never sends X-TAXII-Date-Added-Last (a SHOULD of the standard): the follower takes its cursor from
/// the collection's manifest, the latest `date_added` among the object versions it received, so the next pull asks
/// after it instead of reading the whole collection again. A newer version listed in the manifest but not received
/// (added while the round ran) stays after the cursor and arrives with the next pull. A collection whose manifest
/// cannot be read keeps its cursor, with a problem saying so, and the pull still succeeds.
#[test]
fn a_taxii_peer_without_date_headers_is_followed_through_its_manifest() {
    let ind = |n: u32, modified: &str| {
        format!(
            r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--7d1e3c2a-0000-4000-8000-00000000000{n}","created":"2026-01-01T00:00:00.000Z","modified":"{modified}","name":"manifest-peer-{n}.example","pattern":"[domain-name:value = 'manifest-peer-{n}.example']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}}"#
        )
    };
    let first = format!(
        r#"{{"more":false,"objects":[{},{}]}}"#,
        ind(1, "2026-01-01T00:00:00.000Z"),
        ind(2, "2026-01-01T00:00:00.000Z")
    );
    let newer = format!(
        r#"{{"more":false,"objects":[{}]}}"#,
        ind(2, "2026-02-01T00:00:00.000Z")
    );
    // The manifest pages by `next` and writes its dates without fractions; the second entry of object 2 is a
    // version the first pull never received.
    let man1 = r#"{"more":true,"next":"m2","objects":[{"id":"indicator--7d1e3c2a-0000-4000-8000-000000000001","date_added":"2026-03-01T10:00:01Z","version":"2026-01-01T00:00:00Z","media_type":"application/stix+json;version=2.1"}]}"#;
    let man2 = r#"{"more":false,"objects":[{"id":"indicator--7d1e3c2a-0000-4000-8000-000000000002","date_added":"2026-03-01T10:00:02Z","version":"2026-01-01T00:00:00.000Z"},{"id":"indicator--7d1e3c2a-0000-4000-8000-000000000002","date_added":"2026-03-01T10:00:09Z","version":"2026-02-01T00:00:00Z"}]}"#;
    let (port, asked) = serve_taxii(move |path| {
        match path.split_once('?') {
        None if path == "/taxii2/" => (r#"{"title":"peer"}"#.into(), None),
        None if path == "/taxii2/collections/" => (
            r#"{"collections":[{"id":"c1","title":"c1","can_read":true,"can_write":false},{"id":"c2","title":"c2","can_read":true,"can_write":false}]}"#
                .into(),
            None,
        ),
        Some(("/taxii2/collections/c1/objects/", q)) if q.contains("added_after=2026-03-01T10%3A00%3A02Z") => {
            (newer.clone(), None)
        }
        Some(("/taxii2/collections/c1/objects/", q)) if q.contains("added_after") => {
            (r#"{"more":false}"#.into(), None)
        }
        Some(("/taxii2/collections/c1/objects/", _)) => (first.clone(), None),
        Some(("/taxii2/collections/c1/manifest/", q)) if q.contains("next=m2") => {
            (man2.into(), None)
        }
        Some(("/taxii2/collections/c1/manifest/", q)) if q.contains("added_after") => {
            (r#"{"more":false}"#.into(), None)
        }
        Some(("/taxii2/collections/c1/manifest/", _)) => (man1.into(), None),
        Some(("/taxii2/collections/c2/objects/", _)) => (
            format!(r#"{{"more":false,"objects":[{}]}}"#, ind(3, "2026-01-01T00:00:00.000Z")),
            None,
        ),
        _ => ("<html>no manifest here</html>".into(), None),
    }
    });
    let v = follows_taxii_peer(port);
    let r = v.pull("peer");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(n(&r, "added"), 3, "{r}");
    let problems = r["problems"].to_string();
    assert!(
        problems.contains("c2") && problems.contains("manifest could not be read"),
        "the collection whose manifest failed is named: {r}"
    );
    assert!(!problems.contains("collection c1"), "{r}");

    asked.lock().expect("log").clear();
    let r = v.pull("peer");
    assert_eq!(r["ok"], true, "{r}");
    let asked_now = asked.lock().expect("log").clone();
    assert!(
        asked_now.iter().any(|p| p.starts_with("/taxii2/collections/c1/objects/")
            && p.contains("added_after=2026-03-01T10%3A00%3A02Z")),
        "the second pull asks after the latest received object's date_added, not after the newer version's: {asked_now:?}"
    );
    assert!(
        asked_now
            .iter()
            .any(|p| p.starts_with("/taxii2/collections/c2/objects/") && !p.contains("added_after")),
        "c2 keeps its cursor (none): {asked_now:?}"
    );
    // c1's newer version of object 2 arrived; c2's object was read again and absorbed.
    assert_eq!(n(&r, "objects_received"), 2, "{r}");
    assert_eq!(n(&r, "added"), 0, "{r}");
    assert_eq!(n(&r, "updated"), 1, "{r}");
}
