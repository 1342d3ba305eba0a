//! `taxii` feeds: TAXII 2.1 collections pulled incrementally. This is federation: one Vigil instance follows
//! another with a member token of the other, and receives what that token may read.
//!
//! The URL is an API root (or a discovery endpoint, whose default API root is used). Every collection with
//! `can_read` is followed unless the feed names one. Per collection, the cursor is the `X-TAXII-Date-Added-Last` of
//! the last page received; a round asks with `added_after` and follows `more`/`next` to the end. A page without
//! `next` but with `more` is continued with `added_after` set to its last date (servers without `next` support).
//! A server that sends no `X-TAXII-Date-Added-Last` (the header is a SHOULD) would otherwise be read from the same
//! point every round, the whole collection again: after such a round the cursor is taken from the collection's
//! manifest instead, the latest `date_added` among the objects the round received (only those: an object added
//! while the round ran, and not received, stays after the cursor). A manifest that cannot be read leaves the cursor
//! where it was, with a problem in the report, and de-duplication absorbs the repeats as before.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;
use url::Url;
use vigil_store::{AsStore, FeedStore, Store};

use crate::http::{Fetched, Validators};
use crate::{FeedError, Pull};

const TAXII: &str = "application/taxii+json;version=2.1";
/// Objects asked for per page.
const PAGE: usize = 1000;
/// Pages per collection per pull, a guard against a server that never says `more: false`.
const MAX_PAGES: usize = 100_000;

fn get_json<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
    u: &Url,
) -> Result<(Value, reqwest::header::HeaderMap), FeedError> {
    let (body, headers) = get_body(p, u)?;
    let v = serde_json::from_slice(&body).map_err(|e| not_taxii(u, &e))?;
    Ok((v, headers))
}

fn not_taxii(u: &Url, e: &serde_json::Error) -> FeedError {
    FeedError::Protocol {
        url: crate::http::redact(u),
        reason: format!("not a TAXII JSON answer: {e}"),
    }
}

fn get_body<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
    u: &Url,
) -> Result<(Vec<u8>, reqwest::header::HeaderMap), FeedError> {
    match p.http.get(u, TAXII, &Validators::default())? {
        Fetched::Body(b) => Ok((b.bytes, b.headers)),
        Fetched::NotModified => Err(FeedError::Protocol {
            url: crate::http::redact(u),
            reason: "304 to an unconditional request".into(),
        }),
    }
}

/// Stores one page's objects through the STIX reader, which reads a TAXII envelope as it reads a bundle (its
/// `objects`), from a file in the mirror holding the page as received.
fn ingest_page<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
    body: &[u8],
) -> Result<(), FeedError> {
    let path = p
        .mirror
        .join(format!(".taxii-page-{}.json", std::process::id()));
    if let Err(e) = std::fs::write(&path, body) {
        return Err(FeedError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        });
    }
    let res = p.ingest(std::slice::from_ref(&path), Some("stix"));
    let _ = std::fs::remove_file(&path);
    res
}

fn with_slash(mut u: Url) -> Url {
    if !u.path().ends_with('/') {
        u.set_path(&format!("{}/", u.path()));
    }
    u
}

/// The API root: the URL itself, or a discovery answer's `default` (else its first `api_roots` entry).
fn api_root<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
) -> Result<Url, FeedError> {
    let u = with_slash(p.url()?);
    let (v, _) = get_json(p, &u)?;
    if v.get("api_roots").is_some() || v.get("default").is_some() {
        let pick = v
            .get("default")
            .and_then(Value::as_str)
            .or_else(|| {
                v.get("api_roots")
                    .and_then(|r| r.get(0))
                    .and_then(Value::as_str)
            })
            .ok_or_else(|| FeedError::Protocol {
                url: crate::http::redact(&u),
                reason: "the discovery answer names no API root".into(),
            })?;
        return u
            .join(pick)
            .map(with_slash)
            .map_err(|e| FeedError::Protocol {
                url: crate::http::redact(&u),
                reason: format!("API root `{pick}`: {e}"),
            });
    }
    Ok(u)
}

pub(crate) fn pull<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
) -> Result<(), FeedError> {
    let root = api_root(p)?;
    let cu = root
        .join("collections/")
        .map_err(|e| FeedError::Config(format!("URL: {e}")))?;
    let (cv, _) = get_json(p, &cu)?;
    let readable: Vec<String> = cv
        .get("collections")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|c| c.get("can_read").and_then(Value::as_bool) == Some(true))
                .filter_map(|c| c.get("id").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let follow =
        match &p.feed.collection {
            Some(c) if readable.iter().any(|r| r == c) => vec![c.clone()],
            Some(c) => {
                return Err(FeedError::Protocol {
                    url: crate::http::redact(&cu),
                    reason: format!(
                    "collection `{c}` is not readable with this feed's credentials (readable: {})",
                    if readable.is_empty() { "none".to_string() } else { readable.join(", ") }
                ),
                })
            }
            None => readable,
        };
    p.report.collections = follow.clone();
    for c in follow {
        collection(p, &root, &c)?;
    }
    Ok(())
}

/// A page of an objects or manifest endpoint: `limit`, and `added_after` and `next` where known.
fn page_url(base: &Url, added_after: Option<&str>, next: Option<&str>) -> Url {
    let mut u = base.clone();
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("limit", &PAGE.to_string());
        if let Some(a) = added_after {
            q.append_pair("added_after", a);
        }
        if let Some(n) = next {
            q.append_pair("next", n);
        }
    }
    u
}

fn collection<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
    root: &Url,
    id: &str,
) -> Result<(), FeedError> {
    let key = format!("collection:{id}");
    let mut added_after = p.cursor(&key).and_then(|c| c.value.clone());
    let base = root
        .join(&format!("collections/{id}/objects/"))
        .map_err(|e| FeedError::Config(format!("collection `{id}`: {e}")))?;
    let mut next: Option<String> = None;
    // Objects received on pages that did not say where they end (no X-TAXII-Date-Added-Last).
    // Id -> version (`modified`) as received, to match the manifest's entries by object version: a newer version
    // added while the round ran was not received and must stay after the cursor.
    let mut unplaced: HashMap<String, Option<DateTime<Utc>>> = HashMap::new();
    for _ in 0..MAX_PAGES {
        let u = page_url(&base, added_after.as_deref(), next.as_deref());
        let (body, headers) = get_body(p, &u)?;
        let last = headers
            .get("X-TAXII-Date-Added-Last")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let env: Value = match serde_json::from_slice(&body) {
            Ok(env) => env,
            Err(e) => {
                // A page with one broken object (an unescaped quote): the STIX reader stores the others and
                // rejects that one. Without `more` and `next`, the page's X-TAXII-Date-Added-Last says where the
                // next one starts; without it, or if nothing on the page was an object, the pull fails as before
                // (and would ask for the same page again next time).
                let before = p.report.objects_received;
                ingest_page(p, &body)?;
                let read = p.report.objects_received - before;
                match last {
                    Some(l) if read > 0 && added_after.as_deref() != Some(l.as_str()) => {
                        p.report.changed += 1;
                        p.report.problem(
                            &crate::http::redact(&u),
                            "page",
                            &format!(
                                "not valid JSON ({e}); {read} objects read from it, the broken ones rejected \
                                 (above), and the next page asked for after its X-TAXII-Date-Added-Last"
                            ),
                        );
                        p.set_cursor(&key, None, None, Some(l.clone()))?;
                        added_after = Some(l);
                        next = None;
                        continue;
                    }
                    _ => return Err(not_taxii(&u, &e)),
                }
            }
        };
        let more = env.get("more").and_then(Value::as_bool).unwrap_or(false);
        if env
            .get("objects")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            if !more {
                break;
            }
        } else {
            p.report.changed += 1;
            ingest_page(p, &body)?;
            if last.is_none() {
                for o in env
                    .get("objects")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(i) = o.get("id").and_then(Value::as_str) {
                        let v = o.get("modified").and_then(Value::as_str).and_then(instant);
                        unplaced.insert(i.to_string(), v);
                    }
                }
            }
        }
        // The page is stored: move the cursor past it.
        if let Some(l) = &last {
            if added_after.as_deref() != Some(l.as_str()) {
                p.set_cursor(&key, None, None, Some(l.clone()))?;
            }
            // A later page that says where it ends places the earlier ones too.
            unplaced.clear();
        }
        if !more {
            if let Some(l) = last {
                added_after = Some(l);
            }
            break;
        }
        match env.get("next").and_then(Value::as_str) {
            Some(n) => next = Some(n.to_string()),
            None => match last {
                Some(l) if added_after.as_deref() != Some(l.as_str()) => {
                    next = None;
                    added_after = Some(l);
                }
                _ => {
                    return Err(FeedError::Protocol {
                        url: crate::http::redact(&u),
                        reason: "the server says `more` but gives neither `next` nor a newer X-TAXII-Date-Added-Last".into(),
                    })
                }
            },
        }
    }
    let _ = added_after;
    if !unplaced.is_empty() {
        // From the cursor as it stands: a header earlier in the round may have moved it, and the objects
        // received after that page were added after it.
        let from = p.cursor(&key).and_then(|c| c.value.clone());
        match manifest_cursor(p, root, id, from.as_deref(), &unplaced) {
            Ok(Some(l)) => p.set_cursor(&key, None, None, Some(l))?,
            Ok(None) => {}
            Err(e) => p.report.problem(
                &format!("collection {id}"),
                "manifest",
                &format!(
                    "the server sends no X-TAXII-Date-Added-Last and its manifest could not be read ({e}); \
                     the next pull starts from the same point and reads these objects again"
                ),
            ),
        }
    }
    Ok(())
}

fn instant(s: &str) -> Option<DateTime<Utc>> {
    vigil_model::time::parse("timestamp", s).ok()
}

/// The latest `date_added` the collection's manifest gives for any of the object versions in `ids`, read from
/// `after` on (following the manifest's own `next`/`more`), if later than `after`. Compared as instants, not as
/// strings: servers write fractions of a second differently. An object received without `modified` matches its id
/// alone.
fn manifest_cursor<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
    root: &Url,
    id: &str,
    after: Option<&str>,
    ids: &HashMap<String, Option<DateTime<Utc>>>,
) -> Result<Option<String>, FeedError> {
    let base = root
        .join(&format!("collections/{id}/manifest/"))
        .map_err(|e| FeedError::Config(format!("collection `{id}`: {e}")))?;
    let mut best: Option<(DateTime<Utc>, String)> =
        after.and_then(|a| instant(a).map(|t| (t, a.to_string())));
    let start = best.as_ref().map(|b| b.0);
    let mut added_after = after.map(str::to_string);
    let mut next: Option<String> = None;
    let mut found: HashSet<&str> = HashSet::new();
    for _ in 0..MAX_PAGES {
        let u = page_url(&base, added_after.as_deref(), next.as_deref());
        let (v, _) = get_json(p, &u)?;
        let entries = v.get("objects").and_then(Value::as_array);
        let mut page_last: Option<(DateTime<Utc>, String)> = None;
        for e in entries.into_iter().flatten() {
            let Some(d) = e.get("date_added").and_then(Value::as_str) else {
                continue;
            };
            let Some(t) = instant(d) else { continue };
            if page_last.as_ref().is_none_or(|l| t > l.0) {
                page_last = Some((t, d.to_string()));
            }
            let Some((i, want)) = e
                .get("id")
                .and_then(Value::as_str)
                .and_then(|i| ids.get_key_value(i))
            else {
                continue;
            };
            let version = e.get("version").and_then(Value::as_str).and_then(instant);
            if want.is_none() || version == *want {
                found.insert(i.as_str());
                if best.as_ref().is_none_or(|b| t > b.0) {
                    best = Some((t, d.to_string()));
                }
            }
        }
        if !v.get("more").and_then(Value::as_bool).unwrap_or(false) || found.len() == ids.len() {
            break;
        }
        match v.get("next").and_then(Value::as_str) {
            Some(n) => next = Some(n.to_string()),
            None => match page_last {
                Some((_, l)) if added_after.as_deref() != Some(l.as_str()) => {
                    next = None;
                    added_after = Some(l);
                }
                _ => break,
            },
        }
    }
    Ok(best.and_then(|(t, s)| (Some(t) != start).then_some(s)))
}
