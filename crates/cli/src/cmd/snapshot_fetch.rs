//! `vigil snapshot --from URL`: a sensor fetches its snapshot from the CSIRT's `vigil serve`
//! (`GET /api/v1/exports/snapshot`) instead of someone copying files to it. The server selects what the token's
//! member may see (TLP), exactly as its other detection exports; this side only fetches, checks and replaces.
//!
//! Polling is cheap: the previous answer's ETag is kept beside the snapshot (`intel.vgs.etag`, with the checksum
//! and size of the file it describes) and sent as `If-None-Match`, so an unchanged selection costs a `304` and no
//! bytes, and the held file is only read through for its checksum (a damaged or replaced file is fetched whole).
//! The file is replaced only by a complete snapshot that loads (every section and its checksum read), through a
//! temporary file renamed into place: a hunt running meanwhile, a connection cut mid-way or a damaged answer never
//! leaves the sensor without its last good snapshot.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use reqwest::blocking::Client;
use reqwest::header::{self, HeaderValue};
use reqwest::StatusCode;
use serde_json::json;
use url::Url;

use super::hunt::SnapshotArgs;

/// The route, below the server's base URL.
const ROUTE: &str = "api/v1/exports/snapshot";

/// The largest answer written to disk. A snapshot of 1,000,000 indicators is about 70 MB, so this leaves room
/// for fifty times that, and a server (or anything between) that sends without end fills no sensor's disk.
const MAX_SNAPSHOT: u64 = 4 << 30;

/// The server's address as messages show it: no user information, query or fragment.
fn shown(u: &Url) -> String {
    let mut r = u.clone();
    let _ = r.set_username("");
    let _ = r.set_password(None);
    r.set_query(None);
    r.set_fragment(None);
    r.to_string()
}

/// The snapshot route of the server at `base` (`https://vigil.csirt.example:8443`, with or without a path
/// prefix of a reverse proxy), or `base` itself when it already names the route.
pub fn endpoint(base: &str) -> anyhow::Result<Url> {
    let mut u = Url::parse(base).map_err(|e| anyhow!("--from {base:?}: not a URL ({e})"))?;
    if !matches!(u.scheme(), "http" | "https") {
        bail!(
            "--from {}: give the server's http:// or https:// address",
            shown(&u)
        );
    }
    if u.password().is_some() || !u.username().is_empty() {
        bail!(
            "--from {}: no credentials in the URL; give the token with --token-file",
            shown(&u)
        );
    }
    u.set_query(None);
    u.set_fragment(None);
    let path = u.path().trim_end_matches('/').to_string();
    if !path.ends_with("/api/v1/exports/snapshot") {
        u.set_path(&format!("{path}/{ROUTE}"));
    }
    Ok(u)
}

/// The file holding the ETag of the snapshot at `out`.
fn etag_file(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".etag");
    PathBuf::from(s)
}

/// A sibling of `out` to write into before renaming.
fn temp_file(out: &Path, what: &str) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(format!(".{what}.{}.tmp", std::process::id()));
    PathBuf::from(s)
}

/// The bearer token in `path`: its first line, trimmed.
fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = super::read_private_file(path, "the token")?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        bail!("{} holds no token", path.display());
    }
    Ok(token)
}

fn client(a: &SnapshotArgs) -> anyhow::Result<Client> {
    let mut b = Client::builder()
        .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        .timeout(Duration::from_secs(a.timeout))
        // The token goes to this server only: a redirect elsewhere would carry it away.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = &a.ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading --ca {}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| anyhow!("--ca {}: not PEM certificates ({e})", ca.display()))?;
        if certs.is_empty() {
            bail!("--ca {}: no PEM certificate in it", ca.display());
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().context("building the HTTP client")
}

/// The side file: the ETag, then the checksum and size of the snapshot it describes (absent in older files).
fn read_side(path: &Path) -> Option<(String, Option<(u32, u64)>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let etag = lines.next().unwrap_or_default().trim().to_string();
    let recorded = lines.next().and_then(|l| {
        let mut crc = None;
        let mut bytes = None;
        for part in l.split_whitespace() {
            match part.split_once('=') {
                Some(("crc32", v)) => crc = u32::from_str_radix(v, 16).ok(),
                Some(("bytes", v)) => bytes = v.parse().ok(),
                _ => {}
            }
        }
        Some((crc?, bytes?))
    });
    Some((etag, recorded))
}

/// Writes the side file for `snapshot`, which has just been loaded whole (so its trailer's checksum is the
/// file's), after the file it describes and through a rename: a crash between the two fetches it again, never the
/// other way round.
fn write_side(path: &Path, etag: &str, snapshot: &Path) -> anyhow::Result<()> {
    let (crc, bytes) = vigil_hunt::snapshot::stored_checksum(snapshot)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("reading {}", snapshot.display()))?;
    let t = temp_file(path, "new");
    std::fs::write(&t, format!("{etag}\ncrc32={crc:08x} bytes={bytes}\n"))
        .and_then(|()| std::fs::rename(&t, path))
        .with_context(|| format!("writing {}", path.display()))
}

/// The snapshot at `path` loads whole (sections and checksum): what a hunt will read.
fn loads(path: &Path) -> Result<usize, String> {
    vigil_hunt::snapshot::load(path)
        .map(|s| s.len())
        .map_err(|e| e.to_string())
}

pub fn run(a: &SnapshotArgs, from: &str) -> anyhow::Result<u8> {
    if a.member.is_some() {
        bail!("--member selects from the local store; with --from the server selects what the token's member may see");
    }
    let url = endpoint(from)?;
    let at = shown(&url);
    let Some(token_file) = a.token_file.as_deref() else {
        bail!("--from needs --token-file FILE (or VIGIL_TOKEN_FILE): a token of the sensor's member, from `vigil tokens create --member ID --role member` at the CSIRT");
    };
    let token = read_token(token_file)?;
    let http = client(a)?;
    let mut req = http
        .get(url.clone())
        .header(header::ACCEPT, "application/octet-stream, application/json");
    {
        let mut q: Vec<(&str, String)> = vec![("min_score", a.select.min_score.to_string())];
        if let Some(t) = &a.select.tlp_max {
            q.push(("tlp_max", t.to_ascii_lowercase()));
        }
        if a.select.exact_domains {
            q.push(("exact_domains", "true".into()));
        }
        req = req.query(&q);
    }
    let mut hv = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        anyhow!(
            "the token in {} holds characters an HTTP header cannot carry",
            token_file.display()
        )
    })?;
    hv.set_sensitive(true);
    req = req.header(header::AUTHORIZATION, hv);
    // Ask for changes only when the file we hold is the one the ETag describes and is intact: a damaged or
    // replaced file is fetched again whatever the server's validator says. The side file records the checksum and
    // size of the file the ETag describes, so a poll reads the file through once (its checksum) instead of
    // loading the whole set; a side file without them (written by Vigil before 2026-12-05) has the file loaded.
    let etag_path = etag_file(&a.out);
    // (ETag, indicators) of the snapshot held: a 304 reports its count without reading it again.
    let held = match read_side(&etag_path) {
        Some((e, recorded)) if a.out.exists() => {
            let verdict = match recorded {
                Some(rec) => match vigil_hunt::snapshot::check(&a.out) {
                    Ok(s) if (s.crc, s.bytes) == rec => Ok(s.indicators),
                    Ok(_) => Err(
                        "is not the snapshot its ETag describes (replaced since it was fetched)"
                            .to_string(),
                    ),
                    Err(why) => Err(format!("is damaged ({why})")),
                },
                None => loads(&a.out).map_err(|why| format!("is damaged ({why})")),
            };
            match verdict {
                Ok(n) => Some((e, n, recorded.is_some())),
                Err(why) => {
                    eprintln!("vigil: {} {why}; fetching it whole", a.out.display());
                    None
                }
            }
        }
        _ => None,
    };
    if let Some((e, _, _)) = held.as_ref().filter(|(e, _, _)| !e.is_empty()) {
        if let Ok(v) = HeaderValue::from_str(e) {
            req = req.header(header::IF_NONE_MATCH, v);
        }
    }
    let started = Instant::now();
    let mut resp = req.send().map_err(|e| {
        let why = vigil_feeds::http::reason(e);
        let hint = if vigil_feeds::http::untrusted_certificate(&why) {
            " (if the server's certificate comes from the CSIRT's own CA, give that CA with --ca FILE)"
        } else {
            ""
        };
        anyhow!("fetching the snapshot from {at}: {why}{hint}; {} is left as it was", a.out.display())
    })?;
    let status = resp.status();
    let etag = resp
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if status == StatusCode::NOT_MODIFIED {
        let (held_etag, indicators, recorded) = held.unwrap_or_default();
        if !recorded {
            // An older side file: record the checksum now, so the next poll need not load the set.
            write_side(&etag_path, &held_etag, &a.out)?;
        }
        if a.json {
            crate::output::json(&json!({
                "from": at, "out": a.out, "updated": false, "indicators": indicators,
                "bytes": std::fs::metadata(&a.out).map(|m| m.len()).unwrap_or(0),
                "etag": etag.unwrap_or(held_etag),
            }))?;
        } else {
            println!(
                "{} is current ({indicators} indicators; the server's selection has not changed)",
                a.out.display()
            );
        }
        return Ok(0);
    }
    if !status.is_success() {
        let mut body = String::new();
        let _ = resp.by_ref().take(64 << 10).read_to_string(&mut body);
        let why = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| body.chars().take(200).collect());
        let hint = match status {
            StatusCode::UNAUTHORIZED => {
                " (the token is unknown, expired or revoked: ask the CSIRT for a member token)"
            }
            StatusCode::NOT_FOUND => " (is this a Vigil server of this version or later?)",
            _ => "",
        };
        bail!(
            "fetching the snapshot from {at}: the server answered {status}{hint}: {why}; {} is left as it was",
            a.out.display()
        );
    }
    for n in resp.headers().get_all("x-vigil-notes") {
        if let Ok(n) = n.to_str() {
            eprintln!("vigil: server note: {n}");
        }
    }
    let too_large = || {
        anyhow!(
            "the snapshot from {at} is larger than {} GiB, more than any selection makes",
            MAX_SNAPSHOT >> 30
        )
    };
    if resp.content_length().is_some_and(|n| n > MAX_SNAPSHOT) {
        return Err(too_large().context(format!("{} is left as it was", a.out.display())));
    }
    let tmp = temp_file(&a.out, "fetch");
    let written = (|| -> anyhow::Result<(u64, usize)> {
        let f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let n = std::io::copy(&mut (&mut resp).take(MAX_SNAPSHOT + 1), &mut w)
            .with_context(|| format!("receiving the snapshot from {at} into {}", tmp.display()))?;
        if n > MAX_SNAPSHOT {
            return Err(too_large());
        }
        let f = w
            .into_inner()
            .map_err(|e| anyhow!("writing {}: {}", tmp.display(), e.error()))?;
        f.sync_all()
            .with_context(|| format!("writing {}", tmp.display()))?;
        let indicators =
            loads(&tmp).map_err(|why| anyhow!("the snapshot from {at} is not usable ({why})"))?;
        Ok((n, indicators))
    })();
    let (bytes, indicators) = match written {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.context(format!("{} is left as it was", a.out.display())));
        }
    };
    if let Err(e) = std::fs::rename(&tmp, &a.out) {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow!(e).context(format!("replacing {}", a.out.display())));
    }
    // The validator goes in after the file it describes: a crash between the two fetches it again, never the
    // other way round.
    match &etag {
        Some(e) => write_side(&etag_path, e, &a.out)?,
        None => {
            let _ = std::fs::remove_file(&etag_path);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if a.json {
        crate::output::json(&json!({
            "from": at, "out": a.out, "updated": true, "indicators": indicators, "bytes": bytes,
            "etag": etag, "seconds": (secs * 1000.0).round() / 1000.0,
        }))?;
    } else {
        println!(
            "fetched {indicators} indicators ({bytes} bytes in {secs:.1} s) from {at} into {}",
            a.out.display()
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        for (base, want) in [
            (
                "https://vigil.csirt.example:8443",
                "https://vigil.csirt.example:8443/api/v1/exports/snapshot",
            ),
            (
                "https://vigil.csirt.example:8443/",
                "https://vigil.csirt.example:8443/api/v1/exports/snapshot",
            ),
            (
                "https://proxy.example/vigil/",
                "https://proxy.example/vigil/api/v1/exports/snapshot",
            ),
            (
                "http://127.0.0.1:8443/api/v1/exports/snapshot?tlp_max=green",
                "http://127.0.0.1:8443/api/v1/exports/snapshot",
            ),
        ] {
            assert_eq!(endpoint(base).expect(base).as_str(), want);
        }
        for bad in ["vigil.csirt.example", "ftp://x/", "https://u:secret@x/", ""] {
            let e = endpoint(bad).expect_err(bad).to_string();
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn side_files_sit_beside_the_snapshot() {
        assert_eq!(
            etag_file(Path::new("/var/lib/vigil/intel.vgs")),
            PathBuf::from("/var/lib/vigil/intel.vgs.etag")
        );
        let t = temp_file(Path::new("intel.vgs"), "fetch");
        assert!(t.to_string_lossy().starts_with("intel.vgs.fetch."));
    }

    #[test]
    fn tokens_come_from_the_first_line() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("t");
        std::fs::write(&p, "  vgl_abc \nignored\n").expect("write");
        assert_eq!(read_token(&p).expect("token"), "vgl_abc");
        std::fs::write(&p, "\n").expect("write");
        assert!(read_token(&p).is_err());
        assert!(read_token(&d.path().join("none")).is_err());
    }
}
