//! CSAF aggregators and listers (`aggregator.json`, CSAF 2.0 sections 7.1.22 and 7.2.5): the list of CSAF
//! providers a coordinator such as a national CERT keeps, from which `vigil feeds add-aggregator` makes one `csaf`
//! feed per provider (each then pins its own provider's keys).

use std::collections::HashSet;

use serde_json::Value;
use url::Url;

use crate::FeedError;

/// A provider (or a publisher the aggregator mirrors) listed by an aggregator.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedProvider {
    /// The publisher's name (`metadata.publisher.name`).
    pub publisher: String,
    /// The publisher's namespace, a URL under its control.
    pub namespace: Option<Url>,
    /// Where its `provider-metadata.json` is: the provider's own, or for a publisher the aggregator's mirror.
    pub metadata: Url,
    /// `csaf_provider`, `csaf_trusted_provider`, `csaf_publisher`.
    pub role: Option<String>,
    /// Listed under `csaf_publishers`: only the aggregator's mirror serves its documents.
    pub mirrored_publisher: bool,
}

/// What an `aggregator.json` says.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregator {
    pub name: String,
    /// `aggregator` (mirrors) or `lister` (lists only).
    pub category: String,
    pub providers: Vec<ListedProvider>,
    /// Entries that could not be used, each with why (named by their position and publisher when known).
    pub skipped: Vec<(String, String)>,
}

/// Reads an `aggregator.json` fetched from `at` (relative URLs are resolved against it).
pub fn read_aggregator(bytes: &[u8], at: &Url) -> Result<Aggregator, FeedError> {
    let bad = |reason: String| FeedError::Protocol {
        url: crate::http::redact(at),
        reason,
    };
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("aggregator.json is not JSON: {e}")))?;
    let Some(agg) = v.get("aggregator").filter(|a| a.is_object()) else {
        return Err(bad(if v.get("distributions").is_some() {
            "this is a provider's metadata, not an aggregator's list: add it with `vigil feeds add --kind csaf`"
                .into()
        } else {
            "not a CSAF aggregator.json (no `aggregator` object)".into()
        }));
    };
    let text = |x: &Value, p: &str| x.pointer(p).and_then(Value::as_str).map(str::to_string);
    let mut out = Aggregator {
        name: text(agg, "/name").unwrap_or_else(|| "unnamed aggregator".into()),
        category: text(agg, "/category").unwrap_or_default(),
        providers: Vec::new(),
        skipped: Vec::new(),
    };
    let mut seen = HashSet::new();
    for (list, mirrored_publisher) in [("csaf_providers", false), ("csaf_publishers", true)] {
        let entries = v
            .get(list)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (i, e) in entries.iter().enumerate() {
            let publisher = text(e, "/metadata/publisher/name");
            let shown = format!(
                "{list}[{i}]{}",
                publisher
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            );
            // A publisher has no provider-metadata.json of its own: its documents are on the aggregator's mirror.
            let link = if mirrored_publisher {
                e.get("mirrors")
                    .and_then(Value::as_array)
                    .and_then(|m| m.first())
                    .and_then(Value::as_str)
            } else {
                e.pointer("/metadata/url").and_then(Value::as_str)
            };
            let Some(link) = link else {
                out.skipped.push((
                    shown,
                    if mirrored_publisher {
                        "no mirror listed"
                    } else {
                        "no metadata.url"
                    }
                    .into(),
                ));
                continue;
            };
            let metadata = match at.join(link) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => u,
                Ok(u) => {
                    out.skipped
                        .push((shown, format!("`{u}` is not an http(s) URL")));
                    continue;
                }
                Err(e) => {
                    out.skipped
                        .push((shown, format!("`{link}` is not a URL: {e}")));
                    continue;
                }
            };
            if !seen.insert(metadata.clone()) {
                continue;
            }
            out.providers.push(ListedProvider {
                publisher: publisher
                    .unwrap_or_else(|| metadata.host_str().unwrap_or("unnamed").to_string()),
                namespace: text(e, "/metadata/publisher/namespace")
                    .and_then(|n| Url::parse(&n).ok()),
                metadata,
                role: text(e, "/metadata/role"),
                mirrored_publisher,
            });
        }
    }
    if out.providers.is_empty() && out.skipped.is_empty() {
        return Err(bad(
            "aggregator.json lists no `csaf_providers` or `csaf_publishers`".into(),
        ));
    }
    Ok(out)
}

/// A feed name for a listed provider: `prefix` and the host of its namespace (else of its metadata URL), without
/// `www.`, made a valid feed name, and made unique against `taken` with `-2`, `-3`, ...
pub fn feed_name(prefix: &str, p: &ListedProvider, taken: &HashSet<String>) -> String {
    let host = p
        .namespace
        .as_ref()
        .and_then(|n| n.host_str().map(str::to_string))
        .or_else(|| p.metadata.host_str().map(str::to_string))
        .unwrap_or_else(|| "provider".into());
    let host = host.trim_start_matches("www.").to_ascii_lowercase();
    let raw = format!("{prefix}{host}");
    let mut base: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    base = base.trim_start_matches('.').to_string();
    if base.is_empty() {
        base = "csaf-provider".into();
    }
    base.truncate(60);
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Url {
        Url::parse("https://cert.example/.well-known/csaf-aggregator/aggregator.json").unwrap()
    }

    #[test]
    fn providers_publishers_and_what_is_skipped() {
        let doc = serde_json::json!({
            "aggregator": {"category": "aggregator", "name": "Example CERT", "namespace": "https://cert.example"},
            "aggregator_version": "2.0",
            "canonical_url": "https://cert.example/.well-known/csaf-aggregator/aggregator.json",
            "last_updated": "2026-01-01T00:00:00Z",
            "csaf_providers": [
                {"metadata": {"last_updated": "2026-01-01T00:00:00Z", "role": "csaf_trusted_provider",
                    "publisher": {"category": "vendor", "name": "Vendor A", "namespace": "https://www.vendor-a.example"},
                    "url": "https://vendor-a.example/.well-known/csaf/provider-metadata.json"},
                 "mirrors": ["https://cert.example/.well-known/csaf-aggregator/vendor-a/provider-metadata.json"]},
                {"metadata": {"last_updated": "2026-01-01T00:00:00Z",
                    "publisher": {"category": "vendor", "name": "Vendor A again", "namespace": "https://vendor-a.example"},
                    "url": "https://vendor-a.example/.well-known/csaf/provider-metadata.json"}},
                {"metadata": {"publisher": {"name": "No URL"}}},
                {"metadata": {"publisher": {"name": "FTP"}, "url": "ftp://x.example/provider-metadata.json"}}
            ],
            "csaf_publishers": [
                {"metadata": {"last_updated": "2026-01-01T00:00:00Z", "role": "csaf_publisher",
                    "publisher": {"category": "vendor", "name": "Small Vendor", "namespace": "https://small.example"},
                    "url": "https://small.example/advisories/x.json"},
                 "mirrors": ["small/provider-metadata.json"], "update_interval": "daily"}
            ]
        });
        let a = read_aggregator(doc.to_string().as_bytes(), &at()).unwrap();
        assert_eq!(
            (a.name.as_str(), a.category.as_str()),
            ("Example CERT", "aggregator")
        );
        assert_eq!(a.providers.len(), 2, "{a:?}");
        assert_eq!(
            a.providers[0].metadata.as_str(),
            "https://vendor-a.example/.well-known/csaf/provider-metadata.json"
        );
        assert!(!a.providers[0].mirrored_publisher);
        assert_eq!(
            a.providers[1].metadata.as_str(),
            "https://cert.example/.well-known/csaf-aggregator/small/provider-metadata.json"
        );
        assert!(a.providers[1].mirrored_publisher);
        assert_eq!(a.skipped.len(), 2, "{:?}", a.skipped);
        assert!(a.skipped[0].0.contains("No URL") && a.skipped[1].1.contains("not an http(s) URL"));

        let mut taken = HashSet::new();
        let n1 = feed_name("csaf-", &a.providers[0], &taken);
        assert_eq!(n1, "csaf-vendor-a.example");
        taken.insert(n1.clone());
        assert_eq!(
            feed_name("csaf-", &a.providers[0], &taken),
            "csaf-vendor-a.example-2"
        );
        assert_eq!(feed_name("", &a.providers[1], &taken), "small.example");
    }

    #[test]
    fn not_an_aggregator() {
        for (doc, says) in [
            (&b"{\"distributions\": []}"[..], "provider's metadata"),
            (b"{}", "no `aggregator`"),
            (b"not json", "not JSON"),
            (b"{\"aggregator\": {\"name\": \"x\"}}", "lists no"),
        ] {
            let e = read_aggregator(doc, &at()).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }
}
