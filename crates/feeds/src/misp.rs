//! `misp-feed` feeds: a MISP feed folder (`manifest.json` keyed by event uuid, then `<uuid>.json` per event).
//! Only events whose manifest timestamp changed since the last pull are fetched.

use serde_json::Value;
use vigil_store::{AsStore, FeedStore, Store};

use crate::http::{Fetched, Validators};
use crate::{FeedError, Pull};

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

pub(crate) fn pull<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
) -> Result<(), FeedError> {
    let mut base = p.url()?;
    if base.path().ends_with("manifest.json") {
        base = base
            .join(".")
            .map_err(|e| FeedError::Config(format!("URL: {e}")))?;
    } else if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    let manifest_url = base
        .join("manifest.json")
        .map_err(|e| FeedError::Config(format!("URL: {e}")))?;
    let prev = p.cursor("manifest").cloned();
    let v = Validators {
        etag: prev.as_ref().and_then(|c| c.etag.as_deref()),
        last_modified: prev.as_ref().and_then(|c| c.last_modified.as_deref()),
    };
    let body = match p.http.get(&manifest_url, "application/json", &v)? {
        Fetched::NotModified => {
            p.report.unchanged_resources += 1;
            return Ok(());
        }
        Fetched::Body(b) => b,
    };
    let shown = crate::http::redact(&manifest_url);
    let manifest: serde_json::Map<String, Value> = match serde_json::from_slice(&body.bytes) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            return Err(FeedError::Protocol {
                url: shown,
                reason: "manifest.json is not a JSON object keyed by event uuid".into(),
            })
        }
        Err(e) => {
            return Err(FeedError::Protocol {
                url: shown,
                reason: format!("manifest.json is not JSON: {e}"),
            })
        }
    };
    p.keep("manifest.json", &body.bytes)?;
    let mut failed = 0u64;
    for (uuid, entry) in &manifest {
        if !is_uuid(uuid) {
            p.report
                .problem(&shown, uuid, "manifest key is not an event uuid; skipped");
            continue;
        }
        // MISP writes the timestamp as a string of seconds; accept a number too.
        let ts = match entry.get("timestamp") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let key = format!("event:{uuid}");
        if !ts.is_empty() && p.cursor(&key).and_then(|c| c.value.as_deref()) == Some(ts.as_str()) {
            p.report.unchanged_resources += 1;
            continue;
        }
        let ev_url = base
            .join(&format!("{uuid}.json"))
            .map_err(|e| FeedError::Config(format!("URL: {e}")))?;
        let ev = match p
            .http
            .get(&ev_url, "application/json", &Validators::default())
        {
            Ok(Fetched::Body(b)) => b,
            Ok(Fetched::NotModified) => continue,
            Err(e) => {
                // One missing event does not stop the others; it is retried next time.
                p.report
                    .problem(&crate::http::redact(&ev_url), uuid, &e.to_string());
                failed += 1;
                continue;
            }
        };
        p.report.changed += 1;
        let path = p.keep(&format!("{uuid}.json"), &ev.bytes)?;
        // Objects the pipeline rejects are reported; fetching the same event again would not change that.
        p.ingest(&[path], Some("misp"))?;
        if !ts.is_empty() {
            p.set_cursor(&key, None, None, Some(ts))?;
        }
    }
    if failed == 0 {
        p.set_cursor("manifest", body.etag, body.last_modified, None)?;
    }
    if failed > 0 {
        return Err(FeedError::Protocol {
            url: shown,
            reason: format!(
                "{failed} events could not be fetched (see problems); they are retried next pull"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids() {
        assert!(super::is_uuid("57c4445b-c548-4654-af0b-4be3950d210f"));
        assert!(!super::is_uuid("../../etc/passwd"));
        assert!(!super::is_uuid("57c4445b-c548-4654-af0b-4be3950d210"));
    }
}
