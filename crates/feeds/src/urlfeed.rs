//! `url` feeds: one document, fetched only when it changed.

use vigil_store::{AsStore, FeedStore, Store};

use crate::http::Validators;
use crate::{FeedError, Pull};

/// The file name a URL's document is kept under (its last path segment).
fn file_name(u: &url::Url) -> String {
    u.path_segments()
        .and_then(|mut s| s.next_back().map(str::to_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "download".into())
}

pub(crate) fn pull<S: Store + FeedStore + AsStore + ?Sized>(
    p: &mut Pull<'_, S>,
) -> Result<(), FeedError> {
    let url = p.url()?;
    let key = "url";
    let prev = p.cursor(key).cloned();
    let v = Validators {
        etag: prev.as_ref().and_then(|c| c.etag.as_deref()),
        last_modified: prev.as_ref().and_then(|c| c.last_modified.as_deref()),
    };
    let name = file_name(&url);
    let path = p.mirror.join(crate::safe_rel(&name));
    let part = p.mirror.join(".download.part");
    let mut file = std::fs::File::create(&part).map_err(|e| FeedError::Io {
        path: part.display().to_string(),
        reason: e.to_string(),
    })?;
    let got = p.http.get_into(&url, "*/*", &v, &mut file);
    drop(file);
    let got = match got {
        Ok(g) => g,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    let Some((etag, last_modified, _)) = got else {
        let _ = std::fs::remove_file(&part);
        p.report.unchanged_resources += 1;
        return Ok(());
    };
    std::fs::rename(&part, &path).map_err(|e| FeedError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    p.report.changed += 1;
    let format = p.feed.format.clone();
    p.ingest(std::slice::from_ref(&path), format.as_deref())?;
    // The validators are saved only once the document is in the store: a failed ingest is retried next time.
    p.set_cursor(key, etag, last_modified, None)?;
    Ok(())
}
