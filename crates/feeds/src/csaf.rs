//! `csaf` feeds: a CSAF 2.0 provider. The URL is its `provider-metadata.json` (or a domain, whose
//! `/.well-known/csaf/provider-metadata.json` is used). Its distributions are followed: ROLIE feeds (each entry's
//! `updated` decides whether the document is fetched) and directories (`changes.csv`, whose second column is the
//! change time, else `index.txt`, where only unseen paths are fetched). Documents are kept in the mirror under their
//! path and ingested as `csaf` when this build reads CSAF.

use serde_json::Value;
use url::Url;
use vigil_store::{AsStore, FeedCursor, FeedStore, Store};

use crate::csaf_integrity::{check_document, Fetch, ProviderKeys};
use crate::http::{Body, Fetched, Validators};
use crate::{FeedError, Pull};

fn cfg(e: url::ParseError) -> FeedError {
    FeedError::Config(format!("URL: {e}"))
}

/// A conditional GET keyed by URL; the body on change (validators saved by the caller once it is used).
fn fetch_if_changed<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
    u: &Url,
    key: &str,
) -> Result<Option<Body>, FeedError> {
    let prev = p.cursor(key).cloned();
    let v = Validators {
        etag: prev.as_ref().and_then(|c| c.etag.as_deref()),
        last_modified: prev.as_ref().and_then(|c| c.last_modified.as_deref()),
    };
    match p
        .http
        .get(u, "application/json, text/plain, text/csv, */*", &v)?
    {
        Fetched::NotModified => {
            p.report.unchanged_resources += 1;
            Ok(None)
        }
        Fetched::Body(b) => Ok(Some(b)),
    }
}

/// A document to consider: its URL, its path in the mirror, and the change marker that decides whether to fetch.
struct Doc {
    url: Url,
    rel: String,
    stamp: Option<String>,
    /// Its ROLIE entry (whose links name the hash file and signature), if it came from a feed.
    entry: Option<Value>,
}

/// Validators of listings (ROLIE feeds, changes.csv, index.txt), saved only when every listed document arrived,
/// so that a document that failed is looked at again next pull.
type Pending = Vec<(String, Option<String>, Option<String>)>;

pub(crate) fn pull<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
) -> Result<(), FeedError> {
    let mut pm = p.url()?;
    if !pm.path().ends_with(".json") {
        pm = pm
            .join("/.well-known/csaf/provider-metadata.json")
            .map_err(cfg)?;
    }
    let shown = crate::http::redact(&pm);
    let meta_body = fetch_if_changed(p, &pm, "provider-metadata")?;
    let meta_bytes = match &meta_body {
        Some(b) => b.bytes.clone(),
        // Unchanged: its distributions still have to be looked at, from the copy kept last time.
        None => {
            std::fs::read(p.mirror.join("provider-metadata.json")).map_err(|e| FeedError::Io {
                path: p
                    .mirror
                    .join("provider-metadata.json")
                    .display()
                    .to_string(),
                reason: e.to_string(),
            })?
        }
    };
    let meta: Value = serde_json::from_slice(&meta_bytes).map_err(|e| FeedError::Protocol {
        url: shown.clone(),
        reason: format!("provider-metadata.json is not JSON: {e}"),
    })?;
    if let Some(b) = meta_body {
        p.keep("provider-metadata.json", &b.bytes)?;
        p.set_cursor("provider-metadata", b.etag, b.last_modified, None)?;
    }
    let (keys, key_trouble) = provider_keys(p, &meta, &pm)?;
    let dists = meta
        .get("distributions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if dists.is_empty() {
        return Err(FeedError::Protocol {
            url: shown,
            reason: "provider-metadata.json has no `distributions`".into(),
        });
    }
    let mut docs: Vec<Doc> = Vec::new();
    let mut pending: Pending = Vec::new();
    for d in &dists {
        if let Some(feeds) = d.pointer("/rolie/feeds").and_then(Value::as_array) {
            for f in feeds {
                let Some(fu) = f.get("url").and_then(Value::as_str) else {
                    continue;
                };
                let fu = pm.join(fu).map_err(cfg)?;
                rolie(p, &fu, &mut docs, &mut pending)?;
            }
        }
        if let Some(dir) = d.get("directory_url").and_then(Value::as_str) {
            let mut du = pm.join(dir).map_err(cfg)?;
            if !du.path().ends_with('/') {
                du.set_path(&format!("{}/", du.path()));
            }
            directory(p, &du, &mut docs, &mut pending)?;
        }
    }
    // A document listed by a ROLIE feed and a directory alike is fetched once, with its ROLIE entry (whose links
    // name its hash file and signature).
    let entries: std::collections::HashMap<Url, Value> = docs
        .iter()
        .filter_map(|d| d.entry.clone().map(|e| (d.url.clone(), e)))
        .collect();
    let mut seen = std::collections::HashSet::new();
    docs.retain(|d| seen.insert(d.url.clone()));
    for d in &mut docs {
        if d.entry.is_none() {
            d.entry = entries.get(&d.url).cloned();
        }
    }
    let mut fetched = Vec::new();
    let mut failed = 0u64;
    for d in docs {
        let key = format!("doc:{}", d.rel);
        let seen = p.cursor(&key).cloned();
        let same = match (&seen, &d.stamp) {
            (Some(c), Some(s)) => c.value.as_deref() == Some(s.as_str()),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if same {
            p.report.unchanged_resources += 1;
            continue;
        }
        match p
            .http
            .get(&d.url, "application/json", &Validators::default())
        {
            Ok(Fetched::Body(b)) => {
                if serde_json::from_slice::<Value>(&b.bytes).is_err() {
                    p.report
                        .problem(&crate::http::redact(&d.url), &d.rel, "not JSON; skipped");
                    continue;
                }
                if !integrity(p, &d, &b.bytes, &keys) {
                    // Retried next pull, like a document that could not be fetched: the provider may mend it.
                    failed += 1;
                    continue;
                }
                p.report.changed += 1;
                let path = p.keep(&d.rel, &b.bytes)?;
                fetched.push((path, key, d.stamp));
            }
            Ok(Fetched::NotModified) => {}
            Err(e) => {
                p.report
                    .problem(&crate::http::redact(&d.url), &d.rel, &e.to_string());
                failed += 1;
            }
        }
    }
    let paths: Vec<_> = fetched.iter().map(|(p, _, _)| p.clone()).collect();
    p.ingest(&paths, Some("csaf"))?;
    for (_, key, stamp) in fetched {
        p.set_cursor(&key, None, None, Some(stamp.unwrap_or_default()))?;
    }
    if failed == 0 {
        for (key, etag, lm) in pending {
            p.set_cursor(&key, etag, lm, None)?;
        }
    }
    // A change of keys is news an operator must see even when no document was refused this time: the pull fails.
    let keys_note = if key_trouble == 0 {
        String::new()
    } else {
        "; the provider's OpenPGP keys are not the ones this feed trusts (see problems)".to_string()
    };
    if failed > 0 {
        return Err(FeedError::Protocol {
            url: shown,
            reason: format!(
                "{failed} document{} could not be fetched or failed {} integrity check (see problems); retried next pull{keys_note}",
                if failed == 1 { "" } else { "s" },
                if failed == 1 { "its" } else { "their" }
            ),
        });
    }
    if key_trouble > 0 {
        return Err(FeedError::Protocol {
            url: shown,
            reason: keys_note.trim_start_matches("; ").to_string(),
        });
    }
    Ok(())
}

/// The cursor holding the fingerprints pinned at first use (space-separated, in `value`).
pub const PINNED_KEYS_CURSOR: &str = "openpgp-keys";

/// The fingerprints a csaf feed pinned, read from its cursors (all of them, or the one `Pull::cursor` found).
pub fn pinned_keys<'a>(cursors: impl IntoIterator<Item = &'a FeedCursor>) -> Vec<String> {
    cursors
        .into_iter()
        .find(|c| c.key == PINNED_KEYS_CURSOR)
        .and_then(|c| c.value.as_deref())
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The provider's OpenPGP keys (`public_openpgp_keys`), fetched each pull; a key that cannot be fetched or fails
/// its checks is a problem of the pull. Which of them are trusted: the feed's declared fingerprints when it has
/// some; else those pinned on the first pull that saw keys (trust on first use, as SSH does), so that whoever
/// controls the provider's web server later cannot swap metadata and key together, nor drop the keys to stop
/// signatures being required. A key the provider lists but the feed does not trust, or a trusted key it no longer
/// offers, is reported with what to do, and counted in the second value.
fn provider_keys<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
    meta: &Value,
    pm: &Url,
) -> Result<(ProviderKeys, usize), FeedError> {
    let http = &mut p.http;
    let (mut keys, errors) = ProviderKeys::from_metadata(meta, pm, &mut |u| match http.get(
        u,
        "application/pgp-keys, */*",
        &Validators::default(),
    ) {
        Ok(Fetched::Body(b)) => Ok(b.bytes),
        Ok(Fetched::NotModified) => Err("304 without a validator".into()),
        Err(e) => Err(e.to_string()),
    });
    let shown = crate::http::redact(pm);
    for e in errors {
        p.report
            .problem(&shown, "public_openpgp_keys", &e.to_string());
    }
    let pinned = pinned_keys(p.cursor(PINNED_KEYS_CURSOR));
    let declared = p.feed.openpgp_keys.clone();
    let (trust, trusted) = if !declared.is_empty() {
        ("declared", declared)
    } else if !pinned.is_empty() {
        ("pinned", pinned)
    } else if !keys.is_empty() {
        let first = keys.fingerprints();
        p.set_cursor(PINNED_KEYS_CURSOR, None, None, Some(first.join(" ")))?;
        ("first-use", first)
    } else if keys.signatures_required() {
        // Listed, but none could be had: nothing to pin yet; every document is refused (signatures required).
        ("metadata", Vec::new())
    } else {
        ("none", Vec::new())
    };
    let untrusted = if trusted.is_empty() {
        Vec::new()
    } else {
        keys.restrict(&trusted)
    };
    for u in &untrusted {
        p.report.problem(
            &shown,
            "public_openpgp_keys",
            &format!(
                "the provider lists key {u}, which this feed does not trust ({} {}); documents signed only by it are \
                 refused. If the provider has rotated its key, check the new fingerprint with the provider out of \
                 band, then: vigil feeds trust-keys --name {} --fingerprint {u}",
                if trust == "declared" { "it trusts only the declared" } else { "it pinned" },
                trusted.join(", "),
                p.feed.name
            ),
        );
    }
    let missing = keys.missing(&trusted);
    // A trusted key the provider stopped offering is news, not trouble, while another trusted key is usable (a
    // retired key); with none usable, nothing can be checked.
    let trouble = untrusted.len() + usize::from(!trusted.is_empty() && keys.is_empty());
    for t in missing {
        p.report.problem(
            &shown,
            "public_openpgp_keys",
            &format!(
                "key {t}, which this feed trusts, is not among the provider's usable keys (not listed, not \
                 fetched, or refused above): documents it signed cannot be checked and are refused"
            ),
        );
    }
    let integrity = p.report.integrity.get_or_insert_with(Default::default);
    integrity.keys = keys.fingerprints();
    integrity.signatures_required = keys.signatures_required() || p.feed.require_signature;
    integrity.trust = trust;
    integrity.untrusted_keys = untrusted;
    integrity.key_notes = keys.notes(crate::csaf_integrity::now_secs());
    Ok((keys, trouble))
}

/// Checks a fetched document's hash file and signature; false (with the reason among the problems) refuses it.
fn integrity<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
    d: &Doc,
    doc: &[u8],
    keys: &ProviderKeys,
) -> bool {
    let http = &mut p.http;
    let checked = check_document(
        &d.url,
        doc,
        d.entry.as_ref(),
        keys,
        p.feed.require_signature,
        &mut |u| match http.get(u, "*/*", &Validators::default()) {
            Ok(Fetched::Body(b)) => Fetch::Body(b.bytes),
            Ok(Fetched::NotModified) => Fetch::Failed("304 without a validator".into()),
            Err(crate::FeedError::Http { reason, .. })
                if reason.starts_with("404") || reason.contains("410") =>
            {
                Fetch::Absent
            }
            Err(e) => Fetch::Failed(e.to_string()),
        },
    );
    let shown = crate::http::redact(&d.url);
    let counts = p.report.integrity.get_or_insert_with(Default::default);
    counts.count(&d.rel, &checked);
    match checked {
        Ok(_) => true,
        Err(e) => {
            p.report.problem(&shown, &d.rel, &format!("refused: {e}"));
            false
        }
    }
}

/// The path a document is kept under: its URL path without the leading slash.
fn rel_of(u: &Url) -> String {
    u.path().trim_start_matches('/').to_string()
}

fn rolie<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
    fu: &Url,
    docs: &mut Vec<Doc>,
    pending: &mut Pending,
) -> Result<(), FeedError> {
    let key = format!("rolie:{fu}");
    let Some(body) = fetch_if_changed(p, fu, &key)? else {
        return Ok(());
    };
    let v: Value = serde_json::from_slice(&body.bytes).map_err(|e| FeedError::Protocol {
        url: crate::http::redact(fu),
        reason: format!("ROLIE feed is not JSON: {e}"),
    })?;
    let entries = v
        .pointer("/feed/entry")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for e in entries {
        let href = e
            .pointer("/content/src")
            .and_then(Value::as_str)
            .or_else(|| {
                e.get("link").and_then(Value::as_array).and_then(|ls| {
                    ls.iter()
                        .find(|l| l.get("rel").and_then(Value::as_str) == Some("self"))
                        .and_then(|l| l.get("href").and_then(Value::as_str))
                })
            });
        let Some(href) = href else {
            p.report.problem(
                &crate::http::redact(fu),
                e.get("id").and_then(Value::as_str).unwrap_or("?"),
                "ROLIE entry without a document link",
            );
            continue;
        };
        let Ok(u) = fu.join(href) else {
            p.report
                .problem(&crate::http::redact(fu), href, "not a URL");
            continue;
        };
        docs.push(Doc {
            rel: rel_of(&u),
            url: u,
            stamp: e.get("updated").and_then(Value::as_str).map(str::to_string),
            entry: Some(crate::csaf_integrity::absolute_links(&e, fu)),
        });
    }
    pending.push((key, body.etag, body.last_modified));
    Ok(())
}

/// Resolves a path listed in a directory's changes.csv or index.txt. The standard makes it relative to the
/// directory; some providers (CISA) list it from their repository root, which repeats the directory's own path:
/// such a path is resolved from the server root.
fn resolve_listed(dir: &Url, path: &str) -> Option<Url> {
    let path = path.trim().trim_matches('"');
    if path.is_empty() {
        return None;
    }
    let dir_rel = dir.path().trim_start_matches('/');
    if !dir_rel.is_empty() && path.starts_with(dir_rel) {
        return dir.join(&format!("/{path}")).ok();
    }
    dir.join(path).ok()
}

fn directory<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
    du: &Url,
    docs: &mut Vec<Doc>,
    pending: &mut Pending,
) -> Result<(), FeedError> {
    let cu = du.join("changes.csv").map_err(cfg)?;
    let key = format!("changes:{cu}");
    match fetch_if_changed(p, &cu, &key) {
        Ok(None) => return Ok(()),
        Ok(Some(body)) => {
            let mut rd = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(&body.bytes[..]);
            for (i, rec) in rd.records().enumerate() {
                let rec = match rec {
                    Ok(r) => r,
                    Err(e) => {
                        p.report.problem(
                            &crate::http::redact(&cu),
                            &format!("line {}", i + 1),
                            &e.to_string(),
                        );
                        continue;
                    }
                };
                let (Some(path), stamp) = (rec.get(0), rec.get(1)) else {
                    continue;
                };
                match resolve_listed(du, path) {
                    Some(u) => docs.push(Doc {
                        rel: rel_of(&u),
                        url: u,
                        stamp: stamp.map(str::to_string),
                        entry: None,
                    }),
                    None => p.report.problem(
                        &crate::http::redact(&cu),
                        &format!("line {}", i + 1),
                        "not a document path",
                    ),
                }
            }
            pending.push((key, body.etag, body.last_modified));
            return Ok(());
        }
        Err(FeedError::Http { reason, .. }) if reason.starts_with("404") => {}
        Err(e) => return Err(e),
    }
    // No changes.csv: index.txt, where a path not seen before is new.
    let iu = du.join("index.txt").map_err(cfg)?;
    let key = format!("index:{iu}");
    let Some(body) = fetch_if_changed(p, &iu, &key)? else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&body.bytes);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match resolve_listed(du, line) {
            Some(u) => docs.push(Doc {
                rel: rel_of(&u),
                url: u,
                stamp: None,
                entry: None,
            }),
            None => p.report.problem(
                &crate::http::redact(&iu),
                &format!("line {}", i + 1),
                "not a document path",
            ),
        }
    }
    pending.push((key, body.etag, body.last_modified));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_paths() -> Result<(), url::ParseError> {
        let d = Url::parse("http://h/csaf_files/IT/white/")?;
        assert_eq!(
            resolve_listed(&d, "csaf_files/IT/white/2024/a.json").map(|u| u.to_string()),
            Some("http://h/csaf_files/IT/white/2024/a.json".into())
        );
        assert_eq!(
            resolve_listed(&d, "2024/a.json").map(|u| u.to_string()),
            Some("http://h/csaf_files/IT/white/2024/a.json".into())
        );
        assert_eq!(resolve_listed(&d, "  "), None);
        Ok(())
    }
}
