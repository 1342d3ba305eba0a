//! The outward HTTP client: conditional GETs (ETag, If-Modified-Since), gzip, a size limit on every body, and
//! credentials that never reach a log or an error message.

use std::io::{Read, Write};
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::header::{self, HeaderMap, HeaderValue};
use url::Url;

use crate::FeedError;

/// Transfer counts of one pull.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Transfer {
    /// HTTP requests sent.
    pub requests: u64,
    /// Answers `304 Not Modified` (nothing transferred).
    pub not_modified: u64,
    /// Response bodies received.
    pub bodies: u64,
    /// Bytes of those bodies (after decompression).
    pub bytes: u64,
}

/// What a conditional GET found.
pub enum Fetched {
    NotModified,
    Body(Body),
}

/// A received body with the validators to send next time.
pub struct Body {
    pub bytes: Vec<u8>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub headers: HeaderMap,
}

/// Validators remembered from the previous answer.
#[derive(Debug, Clone, Default)]
pub struct Validators<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
}

/// The client of one pull.
pub struct Http {
    client: Client,
    token: Option<String>,
    max_bytes: u64,
    pub transfer: Transfer,
}

/// A URL as it may appear in messages: without user information, query or fragment (which can hold secrets).
pub fn redact(u: &Url) -> String {
    let mut r = u.clone();
    let _ = r.set_username("");
    let _ = r.set_password(None);
    if r.query().is_some() {
        r.set_query(Some("…"));
    }
    r.set_fragment(None);
    r.to_string()
}

/// Why a request failed, down to its cause: reqwest's own message (without the URL) says only `error sending
/// request`; the sources below it say what went wrong (refused, timed out, which certificate problem).
pub fn reason(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

/// Whether a [`reason`] is the server's certificate not being trusted (the usual cause: an agency's own CA).
pub fn untrusted_certificate(reason: &str) -> bool {
    reason.contains("invalid peer certificate") || reason.contains("UnknownIssuer")
}

/// CA certificates trusted for outbound HTTPS besides the system's trust store and the Mozilla roots built in:
/// the PKI of a peer CSIRT or of the agency itself (`[http] ca_file` in vigil.toml).
#[derive(Clone, Default)]
pub struct TrustRoots {
    certs: Vec<reqwest::Certificate>,
    /// Where they came from, for messages.
    pub source: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoots")
            .field("certs", &self.certs.len())
            .field("source", &self.source)
            .finish()
    }
}

impl TrustRoots {
    /// Every PEM certificate in `path`; a file without one is an error, not an empty set.
    pub fn from_pem_file(path: &std::path::Path) -> Result<TrustRoots, FeedError> {
        let bad = |why: String| FeedError::Config(format!("CA file {}: {why}", path.display()));
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| bad(format!("not PEM certificates ({e})")))?;
        if certs.is_empty() {
            return Err(bad("holds no PEM certificate".into()));
        }
        Ok(TrustRoots {
            certs,
            source: Some(path.to_path_buf()),
        })
    }

    /// How many certificates it adds.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// `b` trusting these too.
    pub fn apply(
        &self,
        mut b: reqwest::blocking::ClientBuilder,
    ) -> reqwest::blocking::ClientBuilder {
        for c in &self.certs {
            b = b.add_root_certificate(c.clone());
        }
        b
    }
}

impl Http {
    pub fn new(
        token: Option<String>,
        max_bytes: u64,
        timeout: Duration,
        roots: &TrustRoots,
    ) -> Result<Http, FeedError> {
        let client = roots
            .apply(Client::builder())
            .user_agent(concat!("vigil-feeds/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(20))
            .gzip(true)
            .https_only(false)
            .build()
            .map_err(|e| FeedError::Http {
                url: String::new(),
                reason: format!("building the HTTP client: {}", e.without_url()),
            })?;
        Ok(Http {
            client,
            token,
            max_bytes,
            transfer: Transfer::default(),
        })
    }

    fn send(&mut self, url: &Url, accept: &str, v: &Validators<'_>) -> Result<Response, FeedError> {
        let mut req = self.client.get(url.clone()).header(header::ACCEPT, accept);
        if let Some(t) = &self.token {
            let mut hv = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                FeedError::Config(
                    "the feed's token holds characters an HTTP header cannot carry".into(),
                )
            })?;
            hv.set_sensitive(true);
            req = req.header(header::AUTHORIZATION, hv);
        }
        if let Some(e) = v.etag {
            req = req.header(header::IF_NONE_MATCH, e);
        }
        if let Some(m) = v.last_modified {
            req = req.header(header::IF_MODIFIED_SINCE, m);
        }
        self.transfer.requests += 1;
        let resp = req.send().map_err(|e| {
            let mut reason = reason(e);
            if untrusted_certificate(&reason) {
                reason.push_str(
                    " (if the server's certificate comes from your own or a peer's CA: add that CA to the system's trust store, or name it in vigil.toml's [http] ca_file)",
                );
            }
            FeedError::Http {
                url: redact(url),
                reason,
            }
        })?;
        Ok(resp)
    }

    /// A conditional GET whose body is read into memory (at most the size limit).
    pub fn get(
        &mut self,
        url: &Url,
        accept: &str,
        v: &Validators<'_>,
    ) -> Result<Fetched, FeedError> {
        let mut buf = Vec::new();
        match self.get_into(url, accept, v, &mut buf)? {
            Some((etag, last_modified, headers)) => Ok(Fetched::Body(Body {
                bytes: buf,
                etag,
                last_modified,
                headers,
            })),
            None => Ok(Fetched::NotModified),
        }
    }

    /// A conditional GET streaming the body into `out`; None when the server answered 304.
    #[allow(clippy::type_complexity)]
    pub fn get_into(
        &mut self,
        url: &Url,
        accept: &str,
        v: &Validators<'_>,
        out: &mut dyn Write,
    ) -> Result<Option<(Option<String>, Option<String>, HeaderMap)>, FeedError> {
        let resp = self.send(url, accept, v)?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            self.transfer.not_modified += 1;
            return Ok(None);
        }
        if !status.is_success() {
            let reason = match status.as_u16() {
                401 => "401 Unauthorized: the server refused the feed's credentials (or none were given)".to_string(),
                403 => "403 Forbidden: the feed's credentials may not read this".to_string(),
                404 => "404 Not Found".to_string(),
                _ => format!("HTTP status {status}"),
            };
            return Err(FeedError::Http {
                url: redact(url),
                reason,
            });
        }
        if let Some(len) = resp.content_length() {
            if len > self.max_bytes {
                return Err(FeedError::TooLarge {
                    url: redact(url),
                    limit: self.max_bytes,
                });
            }
        }
        let header_str = |h: &HeaderMap, n: header::HeaderName| {
            h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string)
        };
        let headers = resp.headers().clone();
        let etag = header_str(&headers, header::ETAG);
        let last_modified = header_str(&headers, header::LAST_MODIFIED);
        let mut limited = resp.take(self.max_bytes + 1);
        let n = std::io::copy(&mut limited, out).map_err(|e| FeedError::Http {
            url: redact(url),
            reason: format!("reading the body: {e}"),
        })?;
        if n > self.max_bytes {
            return Err(FeedError::TooLarge {
                url: redact(url),
                limit: self.max_bytes,
            });
        }
        self.transfer.bodies += 1;
        self.transfer.bytes += n;
        Ok(Some((etag, last_modified, headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_roots_name_the_file_and_what_is_wrong() {
        let d = tempfile::tempdir().expect("tempdir");
        let missing = d.path().join("none.pem");
        let e = TrustRoots::from_pem_file(&missing)
            .expect_err("missing")
            .to_string();
        assert!(e.contains("none.pem"), "{e}");
        let empty = d.path().join("empty.pem");
        std::fs::write(&empty, "# no certificate here\n").expect("write");
        let e = TrustRoots::from_pem_file(&empty)
            .expect_err("empty")
            .to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        assert!(TrustRoots::default().is_empty());
    }

    #[test]
    fn certificate_failures_are_told_apart() {
        assert!(untrusted_certificate(
            "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer"
        ));
        assert!(!untrusted_certificate(
            "error sending request: client error (Connect): tcp connect error: Connection refused"
        ));
    }

    #[test]
    fn redaction() -> Result<(), url::ParseError> {
        let u = Url::parse("https://user:pw@example.org/feed.json?key=secret#x")?;
        let r = redact(&u);
        assert!(
            !r.contains("pw") && !r.contains("secret") && !r.contains("user"),
            "{r}"
        );
        assert!(r.starts_with("https://example.org/feed.json"));
        Ok(())
    }
}
