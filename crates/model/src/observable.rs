//! Cyber-observable values: type detection, refanging, normalisation, and their STIX form (SCO object, pattern).
//!
//! Normalisation is what makes "the same value from two sources one object": domains are lower-cased, stripped of
//! a trailing dot and IDNA-encoded; IPv6 is compressed; URLs get scheme and host lower-cased; hashes lower-cased.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::{ids, ModelError};

/// The shapes of observable Vigil understands natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObservableKind {
    Domain,
    Ipv4,
    Ipv6,
    Url,
    Email,
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Asn,
    /// The path (and optionally query) of a URL on any host, as maltrail's `/x.apk` trails: a request for that
    /// path on any server matches. A path ending in `/` is a directory: everything below it matches too.
    UrlPath,
}

impl ObservableKind {
    /// Short name used in CLI output and the sightings contract.
    pub fn as_str(self) -> &'static str {
        match self {
            ObservableKind::Domain => "domain",
            ObservableKind::Ipv4 => "ipv4",
            ObservableKind::Ipv6 => "ipv6",
            ObservableKind::Url => "url",
            ObservableKind::Email => "email",
            ObservableKind::Md5 => "md5",
            ObservableKind::Sha1 => "sha1",
            ObservableKind::Sha256 => "sha256",
            ObservableKind::Sha512 => "sha512",
            ObservableKind::Asn => "asn",
            ObservableKind::UrlPath => "url-path",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "domain" | "domain-name" | "hostname" => ObservableKind::Domain,
            "ipv4" | "ip" | "ipv4-addr" | "ip-dst" | "ip-src" => ObservableKind::Ipv4,
            "ipv6" | "ipv6-addr" => ObservableKind::Ipv6,
            "url" | "uri" | "link" => ObservableKind::Url,
            "email" | "email-addr" | "email-src" | "email-dst" => ObservableKind::Email,
            "md5" => ObservableKind::Md5,
            "sha1" | "sha-1" => ObservableKind::Sha1,
            "sha256" | "sha-256" => ObservableKind::Sha256,
            "sha512" | "sha-512" => ObservableKind::Sha512,
            "asn" | "as" | "autonomous-system" => ObservableKind::Asn,
            "url-path" | "uri-path" | "path" => ObservableKind::UrlPath,
            _ => return None,
        })
    }

    /// The STIX SCO type that holds a value of this kind.
    pub fn stix_type(self) -> &'static str {
        match self {
            ObservableKind::Domain => "domain-name",
            ObservableKind::Ipv4 => "ipv4-addr",
            ObservableKind::Ipv6 => "ipv6-addr",
            ObservableKind::Url | ObservableKind::UrlPath => "url",
            ObservableKind::Email => "email-addr",
            ObservableKind::Md5
            | ObservableKind::Sha1
            | ObservableKind::Sha256
            | ObservableKind::Sha512 => "file",
            ObservableKind::Asn => "autonomous-system",
        }
    }

    /// The STIX hash algorithm name for hash kinds.
    pub fn hash_algorithm(self) -> Option<&'static str> {
        match self {
            ObservableKind::Md5 => Some("MD5"),
            ObservableKind::Sha1 => Some("SHA-1"),
            ObservableKind::Sha256 => Some("SHA-256"),
            ObservableKind::Sha512 => Some("SHA-512"),
            _ => None,
        }
    }

    pub fn from_hash_algorithm(alg: &str) -> Option<Self> {
        match alg.to_ascii_uppercase().replace('_', "-").as_str() {
            "MD5" => Some(ObservableKind::Md5),
            "SHA-1" | "SHA1" => Some(ObservableKind::Sha1),
            "SHA-256" | "SHA256" => Some(ObservableKind::Sha256),
            "SHA-512" | "SHA512" => Some(ObservableKind::Sha512),
            _ => None,
        }
    }

    /// The kind a STIX object path of a simple comparison holds (`domain-name:value`, `file:hashes.'SHA-256'`),
    /// for the paths Vigil matches as values; None for every other path.
    pub fn from_pattern_path(path: &str) -> Option<Self> {
        match path {
            "domain-name:value" => Some(ObservableKind::Domain),
            "ipv4-addr:value" => Some(ObservableKind::Ipv4),
            "ipv6-addr:value" => Some(ObservableKind::Ipv6),
            "url:value" => Some(ObservableKind::Url),
            "email-addr:value" => Some(ObservableKind::Email),
            p => p
                .strip_prefix("file:hashes.")
                .and_then(|alg| ObservableKind::from_hash_algorithm(alg.trim_matches('\''))),
        }
    }

    /// The STIX object path a pattern uses for this kind.
    pub fn pattern_path(self) -> String {
        match self.hash_algorithm() {
            Some(alg) => format!("file:hashes.'{alg}'"),
            None if self == ObservableKind::Asn => "autonomous-system:number".to_string(),
            None => format!("{}:value", self.stix_type()),
        }
    }
}

impl std::fmt::Display for ObservableKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalised observable value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Observable {
    pub kind: ObservableKind,
    pub value: String,
}

/// Undoes the usual ways feeds and reports defang indicators: `hxxp`, `[.]`, `(.)`, `[dot]`, `[:]`, `[@]`, `\.` ...
pub fn refang(raw: &str) -> Cow<'_, str> {
    let needs = raw.contains(['[', '(', '{', '\\', ' '])
        || raw
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("hxxp") || p.eq_ignore_ascii_case("fxp:"))
        || raw.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("fxp"));
    if !needs {
        return Cow::Borrowed(raw);
    }
    let mut s = raw.trim().to_string();
    for (from, to) in [
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("(dot)", "."),
        ("{dot}", "."),
        ("[DOT]", "."),
        ("(DOT)", "."),
        (" [.] ", "."),
        ("\\.", "."),
        ("[:]", ":"),
        ("[://]", "://"),
        ("[@]", "@"),
        ("[at]", "@"),
        ("(at)", "@"),
        ("[AT]", "@"),
        ("[/]", "/"),
    ] {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    let lower = s.to_ascii_lowercase();
    for (from, to) in [
        ("hxxps://", "https://"),
        ("hxxp://", "http://"),
        ("hxxps:", "https:"),
        ("hxxp:", "http:"),
        ("fxp://", "ftp://"),
    ] {
        if lower.starts_with(from) {
            s = format!("{to}{}", &s[from.len()..]);
            break;
        }
    }
    Cow::Owned(s)
}

/// Normalises a domain name: refang, lower-case, strip a trailing dot, IDNA to ASCII; rejects what is not a
/// syntactically valid host name.
pub fn normalize_domain(raw: &str) -> Result<String, ModelError> {
    let bad = |reason: &str| ModelError::BadObservable {
        kind: "domain",
        value: clip(raw),
        reason: reason.to_string(),
    };
    let s = refang(raw);
    let s = s.trim().trim_end_matches('.');
    if s.is_empty() {
        return Err(bad("empty"));
    }
    let ascii = if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(s).map_err(|_| bad("not a valid internationalised domain name"))?
    };
    if ascii.len() > 253 {
        return Err(bad("longer than 253 characters"));
    }
    let mut labels = 0;
    for label in ascii.split('.') {
        labels += 1;
        if label.is_empty() || label.len() > 63 {
            return Err(bad("empty or over-long label"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("characters not allowed in a host name"));
        }
    }
    if labels < 2 {
        return Err(bad("needs at least two labels"));
    }
    // A dotted quad is an address, not a domain.
    if ascii.parse::<Ipv4Addr>().is_ok() {
        return Err(bad("is an IPv4 address"));
    }
    let tld = ascii.rsplit('.').next().unwrap_or("");
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("top-level label is numeric"));
    }
    // No top-level domain starts or ends with a hyphen or holds an underscore, and a number in exponent notation
    // (`1.5e-55`, a spreadsheet's cell in an IOC list) passes every check above: none is a name anyone resolves.
    // Hyphens at the ends of lower labels stay allowed: DNS carries them and old blog hosts (`foo-.blogspot.com`)
    // use them.
    if tld.starts_with('-') || tld.ends_with('-') || tld.contains('_') {
        return Err(bad(
            "top-level label starts or ends with a hyphen or holds an underscore",
        ));
    }
    if ascii.parse::<f64>().is_ok() {
        return Err(bad("is a number"));
    }
    Ok(ascii)
}

/// Normalises an IPv4 address or CIDR block (host bits cleared; `/32` dropped).
pub fn normalize_ipv4(raw: &str) -> Result<String, ModelError> {
    let s = refang(raw);
    let s = s.trim();
    let bad = |r: &str| ModelError::BadObservable {
        kind: "ipv4",
        value: clip(raw),
        reason: r.to_string(),
    };
    if let Some((addr, len)) = s.split_once('/') {
        let net: ipnet::Ipv4Net = format!("{addr}/{len}")
            .parse()
            .map_err(|_| bad("not an IPv4 CIDR block"))?;
        let net = net.trunc();
        return Ok(if net.prefix_len() == 32 {
            net.addr().to_string()
        } else {
            net.to_string()
        });
    }
    let ip: Ipv4Addr = s.parse().map_err(|_| bad("not an IPv4 address"))?;
    Ok(ip.to_string())
}

/// Normalises an IPv6 address or CIDR block to its compressed RFC 5952 form.
pub fn normalize_ipv6(raw: &str) -> Result<String, ModelError> {
    let s = refang(raw);
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    let bad = |r: &str| ModelError::BadObservable {
        kind: "ipv6",
        value: clip(raw),
        reason: r.to_string(),
    };
    if s.contains('/') {
        let net: ipnet::Ipv6Net = s.parse().map_err(|_| bad("not an IPv6 CIDR block"))?;
        let net = net.trunc();
        return Ok(if net.prefix_len() == 128 {
            net.addr().to_string()
        } else {
            net.to_string()
        });
    }
    let ip: Ipv6Addr = s.parse().map_err(|_| bad("not an IPv6 address"))?;
    Ok(ip.to_string())
}

/// Normalises a URL: refang, scheme and host lower-case, IDNA host, default port removed. A value without a
/// scheme is taken as `http://`, as maltrail and most feeds mean it.
pub fn normalize_url(raw: &str) -> Result<String, ModelError> {
    let out = normalize_url_once(raw)?;
    reads_back(out, normalize_url_once, "url", raw)
}

/// A normalised value is read again wherever it goes (an export, a peer, a stored pattern): when normalising it
/// once more gives anything else, it does not name one indicator, and it is refused. Normalising has such corners:
/// `file://h.example//f:/x` becomes `file://h.example/f:/x`, in which `f:` is a drive letter and the host is
/// dropped; `/[/./]/x` becomes `/[/]/x`, which refanging then reads as `///x`.
fn reads_back(
    out: String,
    once: fn(&str) -> Result<String, ModelError>,
    kind: &'static str,
    raw: &str,
) -> Result<String, ModelError> {
    match once(&out) {
        Ok(again) if again == out => Ok(out),
        Ok(again) => Err(ModelError::BadObservable {
            kind,
            value: clip(raw),
            reason: format!(
                "normalises to `{}`, which normalises to `{}` in turn",
                clip(&out),
                clip(&again)
            ),
        }),
        Err(e) => Err(ModelError::BadObservable {
            kind,
            value: clip(raw),
            reason: format!(
                "normalises to `{}`, which does not read back ({e})",
                clip(&out)
            ),
        }),
    }
}

fn normalize_url_once(raw: &str) -> Result<String, ModelError> {
    let s = refang(raw);
    let s = s.trim();
    let bad = |r: &str| ModelError::BadObservable {
        kind: "url",
        value: clip(raw),
        reason: r.to_string(),
    };
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("empty or contains whitespace"));
    }
    // `/x.apk` is a path on any host, not `http://x.apk/` (which is what a URL parser makes of `http:///x.apk`).
    if s.starts_with('/') && !s.starts_with("//") {
        return Err(bad(
            "a path without a host (a path on any host is a url-path)",
        ));
    }
    let with_scheme: Cow<str> = if s.contains("://") {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("http://{s}"))
    };
    let u = url::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
    if u.host_str().is_none_or(|h| h.is_empty()) {
        return Err(bad("no host"));
    }
    Ok(u.to_string())
}

/// Longest URL path indicator accepted.
const MAX_URL_PATH: usize = 2048;

/// Normalises a URL path (`/dir/file.php?q=1`) as [`normalize_url`] normalises the path and query of a URL:
/// dot segments resolved and characters outside RFC 3986 percent-encoded (so the value is ASCII). A trailing `/`
/// is kept: it makes the path a directory. The root alone, a fragment and a query-only value are refused (they
/// would match every request, or none).
pub fn normalize_url_path(raw: &str) -> Result<String, ModelError> {
    let out = normalize_url_path_once(raw)?;
    reads_back(out, normalize_url_path_once, "url-path", raw)
}

fn normalize_url_path_once(raw: &str) -> Result<String, ModelError> {
    let s = refang(raw);
    let s = s.trim();
    let bad = |r: &str| ModelError::BadObservable {
        kind: "url-path",
        value: clip(raw),
        reason: r.to_string(),
    };
    if !s.starts_with('/') || s.starts_with("//") {
        return Err(bad("a URL path starts with a single /"));
    }
    if s.len() > MAX_URL_PATH {
        return Err(bad(&format!("longer than {MAX_URL_PATH} bytes")));
    }
    // A space inside a path is written as feeds write it (maltrail has `/x flow signed.apk`) and sent as `%20`;
    // other white space and control characters are not a path.
    if s.chars()
        .any(|c| (c.is_whitespace() && c != ' ') || c.is_control())
    {
        return Err(bad(
            "contains white space other than spaces, or control characters",
        ));
    }
    if s.contains('#') {
        return Err(bad("a fragment is never sent to a server"));
    }
    let u = url::Url::parse(&format!("http://h{s}")).map_err(|e| bad(&e.to_string()))?;
    let mut out = u.path().to_string();
    if let Some(q) = u.query().filter(|q| !q.is_empty()) {
        // With a query the path is a file: `/a/?q` and `/a?q` are one indicator, as the hunt matches them.
        if out.len() > 1 && out.ends_with('/') {
            out.pop();
            // `/a//?q`: the first pass would give `/a/?q` and the next `/a?q`; there is no one value to keep.
            if out.len() > 1 && out.ends_with('/') {
                return Err(bad("an empty path segment before the query (`//?`)"));
            }
        }
        out.push('?');
        out.push_str(q);
    }
    if out.trim_start_matches('/').is_empty() {
        return Err(bad("the root path would match every request"));
    }
    // A backslash is read as `/` (as browsers read it) and `..` is resolved, so `/\\x` or `/..//x` can come out
    // as `//x`: in a URL that starts an authority, not a path.
    if out.starts_with("//") {
        return Err(bad(
            "a URL path starts with a single / (backslashes count as /, `..` is resolved)",
        ));
    }
    Ok(out)
}

/// Start of a URL-path indicator's regular expression: any scheme, then any authority.
const PATH_RE_HEAD: &str = "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]+";
/// End after a file path: an optional trailing `/`, then any query, or nothing.
const PATH_RE_FILE: &str = "/?(?:[?#].*)?$";
/// End after a directory: the directory itself or anything below it.
const PATH_RE_DIR: &str = "(?:[/?#].*)?$";
/// Between a path and the query it requires.
const PATH_RE_QUERY: &str = "/?\\?";
/// End after a required query.
const PATH_RE_QUERY_END: &str = "(?:#.*)?$";
/// Characters with a meaning in a regular expression (in both Rust's `regex` and Python's `re`, which the OASIS
/// matcher uses); the escapes a URL-path pattern may hold.
const RE_META: &[char] = &[
    '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
];

fn re_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        if RE_META.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The regular expression (unquoted) a URL-path indicator matches `url:value` with. Its meaning is what the hunt's
/// path table does: a file path matches that path on any host, with or without a trailing `/`, with any query;
/// a directory (ending in `/`) matches itself and every path below it; a path with a query matches that query
/// only.
pub fn url_path_regex(path: &str) -> String {
    let mut re = String::from(PATH_RE_HEAD);
    match path.split_once('?') {
        Some((p, q)) => {
            re_escape(p.strip_suffix('/').unwrap_or(p), &mut re);
            re.push_str(PATH_RE_QUERY);
            re_escape(q, &mut re);
            re.push_str(PATH_RE_QUERY_END);
        }
        None => match path.strip_suffix('/') {
            Some(dir) => {
                re_escape(dir, &mut re);
                re.push_str(PATH_RE_DIR);
            }
            None => {
                re_escape(path, &mut re);
                re.push_str(PATH_RE_FILE);
            }
        },
    }
    re
}

/// Undoes [`re_escape`]; None when the text holds an unescaped meta-character (it is not a literal).
fn re_unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            let n = it.next()?;
            if !RE_META.contains(&n) {
                return None;
            }
            out.push(n);
        } else if RE_META.contains(&c) {
            return None;
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// The URL path a regular expression written by [`url_path_regex`] stands for; None for any other expression.
/// The path is checked to give back the same expression, so only Vigil's own form is recognised.
pub fn url_path_from_regex(re: &str) -> Option<String> {
    let body = re.strip_prefix(PATH_RE_HEAD)?;
    let path = if let Some(mid) = body.strip_suffix(PATH_RE_QUERY_END) {
        let (p, q) = mid.split_once(PATH_RE_QUERY)?;
        let p = re_unescape(p)?;
        // The root's `/` is the optional one before the query (`/?q`).
        format!(
            "{}?{}",
            if p.is_empty() { "/" } else { &p },
            re_unescape(q)?
        )
    } else if let Some(mid) = body.strip_suffix(PATH_RE_FILE) {
        re_unescape(mid)?
    } else if let Some(mid) = body.strip_suffix(PATH_RE_DIR) {
        format!("{}/", re_unescape(mid)?)
    } else {
        return None;
    };
    let path = normalize_url_path(&path).ok()?;
    (url_path_regex(&path) == re).then_some(path)
}

/// Normalises an e-mail address: the domain part as a domain, the local part kept as written.
pub fn normalize_email(raw: &str) -> Result<String, ModelError> {
    let s = refang(raw);
    let s = s.trim().trim_start_matches("mailto:");
    let bad = |r: &str| ModelError::BadObservable {
        kind: "email",
        value: clip(raw),
        reason: r.to_string(),
    };
    let (local, domain) = s.rsplit_once('@').ok_or_else(|| bad("no @"))?;
    if local.is_empty()
        || local.len() > 64
        || local
            .chars()
            .any(|c| c.is_whitespace() || c == '@' || c.is_control())
    {
        return Err(bad("invalid local part"));
    }
    let domain = normalize_domain(domain).map_err(|_| bad("invalid domain part"))?;
    Ok(format!("{local}@{domain}"))
}

/// Normalises a hex hash of the given kind.
pub fn normalize_hash(kind: ObservableKind, raw: &str) -> Result<String, ModelError> {
    let s = raw.trim();
    let want = match kind {
        ObservableKind::Md5 => 32,
        ObservableKind::Sha1 => 40,
        ObservableKind::Sha256 => 64,
        ObservableKind::Sha512 => 128,
        _ => 0,
    };
    if s.len() != want || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ModelError::BadObservable {
            kind: kind.as_str(),
            value: clip(raw),
            reason: format!("not {want} hex digits"),
        });
    }
    Ok(s.to_ascii_lowercase())
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

/// The first value a pattern of simple comparisons (`=`, `IN`, `OR`) compares that no observable of its type can
/// have (`[domain-name:value = 'not a domain!!']`, `[ipv4-addr:value = '999.1.1.1']`): such an indicator never
/// matches and cannot become detection content. None when every such value is valid, and for general patterns.
pub fn invalid_pattern_value(pattern: &crate::pattern::Pattern) -> Option<ModelError> {
    pattern
        .simple_equalities()?
        .iter()
        .find_map(|(path, v)| Observable::new(ObservableKind::from_pattern_path(path)?, v).err())
}

impl Observable {
    /// Builds an observable of a known kind, normalising the value.
    pub fn new(kind: ObservableKind, raw: &str) -> Result<Self, ModelError> {
        let value = match kind {
            ObservableKind::Domain => normalize_domain(raw)?,
            ObservableKind::Ipv4 => normalize_ipv4(raw)?,
            ObservableKind::Ipv6 => normalize_ipv6(raw)?,
            ObservableKind::Url => normalize_url(raw)?,
            ObservableKind::Email => normalize_email(raw)?,
            ObservableKind::UrlPath => normalize_url_path(raw)?,
            ObservableKind::Md5
            | ObservableKind::Sha1
            | ObservableKind::Sha256
            | ObservableKind::Sha512 => normalize_hash(kind, raw)?,
            ObservableKind::Asn => {
                let s = raw.trim();
                let digits = s
                    .strip_prefix("AS")
                    .or_else(|| s.strip_prefix("as"))
                    .unwrap_or(s);
                let n: u32 = digits.parse().map_err(|_| ModelError::BadObservable {
                    kind: "asn",
                    value: clip(raw),
                    reason: "not an AS number".into(),
                })?;
                n.to_string()
            }
        };
        Ok(Observable { kind, value })
    }

    /// Detects the kind of a bare value (as found in IOC lists) and normalises it. None when the value is none of
    /// the known shapes.
    pub fn detect(raw: &str) -> Option<Self> {
        let r = refang(raw);
        let s = r.trim();
        if s.is_empty() || s.len() > 8192 {
            return None;
        }
        let hex = s.bytes().all(|b| b.is_ascii_hexdigit());
        if hex {
            let kind = match s.len() {
                32 => Some(ObservableKind::Md5),
                40 => Some(ObservableKind::Sha1),
                64 => Some(ObservableKind::Sha256),
                128 => Some(ObservableKind::Sha512),
                _ => None,
            };
            if let Some(k) = kind {
                return Observable::new(k, s).ok();
            }
        }
        if s.starts_with('/') && !s.starts_with("//") {
            return Observable::new(ObservableKind::UrlPath, s).ok();
        }
        if s.contains("://") || (s.contains('/') && !looks_like_cidr(s)) {
            return Observable::new(ObservableKind::Url, s).ok();
        }
        if s.contains(':') && !s.contains('@') {
            if let Ok(o) = Observable::new(ObservableKind::Ipv6, s) {
                return Some(o);
            }
            // host:port, as maltrail writes some entries: a URL without a path.
            return Observable::new(ObservableKind::Url, s).ok();
        }
        if s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'/')
        {
            return Observable::new(ObservableKind::Ipv4, s).ok();
        }
        if s.contains('@') {
            return Observable::new(ObservableKind::Email, s).ok();
        }
        Observable::new(ObservableKind::Domain, s).ok()
    }

    /// True for a CIDR block rather than a single address.
    pub fn is_cidr(&self) -> bool {
        matches!(self.kind, ObservableKind::Ipv4 | ObservableKind::Ipv6) && self.value.contains('/')
    }

    /// The STIX pattern that matches this observable.
    pub fn to_pattern(&self) -> String {
        if self.is_cidr() {
            return format!(
                "[{}:value ISSUBSET '{}']",
                self.kind.stix_type(),
                escape_pattern_string(&self.value)
            );
        }
        if self.kind == ObservableKind::Asn {
            return format!("[autonomous-system:number = {}]", self.value);
        }
        if self.kind == ObservableKind::UrlPath {
            return format!(
                "[url:value MATCHES '{}']",
                escape_pattern_string(&url_path_regex(&self.value))
            );
        }
        format!(
            "[{} = '{}']",
            self.kind.pattern_path(),
            escape_pattern_string(&self.value)
        )
    }

    /// The id Vigil gives the indicator it derives for this value (UUIDv5 over the pattern), so the same value from
    /// any source is one indicator, and the indicator can be found from the value alone.
    pub fn indicator_id(&self) -> String {
        ids::vigil_id("indicator", &[&self.to_pattern()])
    }

    /// The SCO object for this value, with its deterministic id.
    pub fn to_sco(&self) -> Value {
        let ty = self.kind.stix_type();
        let mut m = Map::new();
        m.insert("type".into(), json!(ty));
        m.insert("spec_version".into(), json!("2.1"));
        match (self.kind.hash_algorithm(), self.kind) {
            (Some(alg), _) => {
                m.insert("hashes".into(), json!({ alg: self.value }));
            }
            (None, ObservableKind::Asn) => {
                let n: u64 = self.value.parse().unwrap_or(0);
                m.insert("number".into(), json!(n));
            }
            // STIX has no object for a path alone: the `url` object holds it as a relative reference, which is
            // what it is.
            (None, ObservableKind::UrlPath) => {
                m.insert("value".into(), json!(self.value));
            }
            _ => {
                m.insert("value".into(), json!(self.value));
            }
        }
        let id = ids::sco_id(ty, &m).unwrap_or_else(|| ids::vigil_id(ty, &[&self.value]));
        m.insert("id".into(), json!(id));
        Value::Object(m)
    }

    /// The deterministic id of this value's SCO.
    pub fn sco_id(&self) -> String {
        self.to_sco()["id"].as_str().unwrap_or_default().to_string()
    }
}

fn looks_like_cidr(s: &str) -> bool {
    match s.split_once('/') {
        Some((a, n)) => {
            n.bytes().all(|b| b.is_ascii_digit())
                && (a.parse::<Ipv4Addr>().is_ok() || a.parse::<Ipv6Addr>().is_ok())
        }
        None => false,
    }
}

/// Escapes a value for a single-quoted STIX pattern string literal.
pub fn escape_pattern_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(s: &str) -> Option<(ObservableKind, String)> {
        Observable::detect(s).map(|o| (o.kind, o.value))
    }

    #[test]
    fn invalid_values_in_simple_patterns() {
        let bad = |p: &str| {
            invalid_pattern_value(&crate::pattern::Pattern::parse(p).expect("parses"))
                .map(|e| e.to_string())
        };
        assert_eq!(bad("[domain-name:value = 'evil.example.com']"), None);
        assert_eq!(
            bad("[file:hashes.'SHA-256' = 'ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c']"),
            None
        );
        // General patterns (other paths, AND, sequences) are not judged by their values.
        assert_eq!(bad("[process:name = 'not a domain!!']"), None);
        assert_eq!(
            bad("[domain-name:value = 'x y' AND domain-name:value LIKE 'x%']"),
            None
        );
        let e = bad("[domain-name:value = 'not a domain!!']").expect("invalid");
        assert!(e.contains("`not a domain!!`"), "{e}");
        let e = bad("[ipv4-addr:value = '198.51.100.7' OR ipv4-addr:value = '999.1.1.1']")
            .expect("one invalid value of several");
        assert!(e.contains("ipv4") && e.contains("999.1.1.1"), "{e}");
        let e =
            bad("[file:hashes.MD5 IN ('abc', 'd41d8cd98f00b204e9800998ecf8427e')]").expect("short");
        assert!(e.contains("not 32 hex digits"), "{e}");
        assert_eq!(
            ObservableKind::from_pattern_path("file:hashes.'SHA-1'"),
            Some(ObservableKind::Sha1)
        );
        assert_eq!(ObservableKind::from_pattern_path("process:name"), None);
    }

    #[test]
    fn refangs_common_styles() {
        assert_eq!(refang("hxxp://evil[.]com/a"), "http://evil.com/a");
        assert_eq!(refang("evil(.)com"), "evil.com");
        assert_eq!(refang("evil[dot]com"), "evil.com");
        assert_eq!(refang("user[@]evil[.]com"), "user@evil.com");
        assert_eq!(refang("hxxps[:]//x[.]org"), "https://x.org");
        assert_eq!(refang("evil\\.com"), "evil.com");
        assert_eq!(refang("plain.com"), "plain.com");
    }

    #[test]
    fn detects_and_normalises() {
        assert_eq!(
            det("Evil.COM."),
            Some((ObservableKind::Domain, "evil.com".into()))
        );
        assert_eq!(
            det("1.2.3.4"),
            Some((ObservableKind::Ipv4, "1.2.3.4".into()))
        );
        assert_eq!(
            det("10.1.2.3/8"),
            Some((ObservableKind::Ipv4, "10.0.0.0/8".into()))
        );
        assert_eq!(
            det("2001:0db8:0000:0000:0000:0000:0000:0001"),
            Some((ObservableKind::Ipv6, "2001:db8::1".into()))
        );
        assert_eq!(
            det("HTTP://Evil.COM/Path"),
            Some((ObservableKind::Url, "http://evil.com/Path".into()))
        );
        assert_eq!(
            det("evil.com/gate.php"),
            Some((ObservableKind::Url, "http://evil.com/gate.php".into()))
        );
        assert_eq!(
            det("D41D8CD98F00B204E9800998ECF8427E"),
            Some((
                ObservableKind::Md5,
                "d41d8cd98f00b204e9800998ecf8427e".into()
            ))
        );
        assert_eq!(
            det("bücher.example"),
            Some((ObservableKind::Domain, "xn--bcher-kva.example".into()))
        );
        assert_eq!(
            det("a@Example.ORG"),
            Some((ObservableKind::Email, "a@example.org".into()))
        );
        assert_eq!(det("not a value"), None);
        assert_eq!(det("999.1.1.1"), None);
        assert_eq!(det("localhost"), None);
        // Numbers and fragments that pass the label rules are not names (found by schemathesis through the
        // contribution API; they ended up in every detection export as domains).
        for junk in [
            "1.5e-55",
            "-1.5189206429409652e-55",
            "2.0E10",
            "foo.bar-",
            "foo.-bar",
            "a.b_c",
        ] {
            assert_eq!(det(junk), None, "{junk}");
        }
        // What real lists hold stays a domain: odd private top labels (maltrail: `user73223.7ci`,
        // `update.nadra-pk`) and lower labels with a hyphen at an end.
        for name in [
            "user73223.7ci",
            "update.nadra-pk",
            "foo-.blogspot.com",
            "-x.example.org",
        ] {
            assert_eq!(
                det(name),
                Some((ObservableKind::Domain, name.into())),
                "{name}"
            );
        }
    }

    #[test]
    fn patterns() {
        let o = Observable::new(ObservableKind::Domain, "evil.com").unwrap();
        assert_eq!(o.to_pattern(), "[domain-name:value = 'evil.com']");
        let h = Observable::new(ObservableKind::Sha256, &"A".repeat(64)).unwrap();
        assert_eq!(
            h.to_pattern(),
            format!("[file:hashes.'SHA-256' = '{}']", "a".repeat(64))
        );
        let c = Observable::new(ObservableKind::Ipv4, "10.0.0.0/8").unwrap();
        assert_eq!(c.to_pattern(), "[ipv4-addr:value ISSUBSET '10.0.0.0/8']");
    }

    proptest::proptest! {
        #[test]
        fn detect_never_panics(s in ".{0,200}") {
            let _ = Observable::detect(&s);
        }

        #[test]
        fn normalisation_is_idempotent(s in "[a-zA-Z0-9.:/@()\\-\\[\\]]{1,60}") {
            if let Some(o) = Observable::detect(&s) {
                let again = Observable::new(o.kind, &o.value).expect("normalised value re-parses");
                proptest::prop_assert_eq!(again.value, o.value);
            }
        }

        #[test]
        fn url_path_patterns_round_trip(s in "/[a-zA-Z0-9._~%!$&'()*+,;=:@/?\\[\\]{}|^\\\\-]{0,40}") {
            if let Ok(o) = Observable::new(ObservableKind::UrlPath, &s) {
                let re = url_path_regex(&o.value);
                proptest::prop_assert_eq!(url_path_from_regex(&re), Some(o.value.clone()));
                let p = crate::pattern::Pattern::parse(&o.to_pattern()).expect("pattern parses");
                proptest::prop_assert_eq!(p.url_paths(), Some(vec![o.value.clone()]));
                let again = Observable::new(ObservableKind::UrlPath, &o.value).expect("re-parses");
                proptest::prop_assert_eq!(again.value, o.value);
            }
        }
    }

    #[test]
    fn url_paths_are_detected_normalised_and_patterned() {
        assert_eq!(
            det("/x.apk"),
            Some((ObservableKind::UrlPath, "/x.apk".into()))
        );
        assert_eq!(
            det("/wp-includes/nOmdPyUpDB/"),
            Some((ObservableKind::UrlPath, "/wp-includes/nOmdPyUpDB/".into()))
        );
        assert_eq!(
            det("/a flow signed.apk"),
            Some((ObservableKind::UrlPath, "/a%20flow%20signed.apk".into())),
            "a space inside a path is sent as %20"
        );
        assert_eq!(det("/a\tb.apk"), None);
        assert_eq!(
            det("/?neosp_nontop"),
            Some((ObservableKind::UrlPath, "/?neosp_nontop".into())),
            "the root with a query is one request"
        );
        assert_eq!(
            det("/Aarogya%20Setu.apk"),
            Some((ObservableKind::UrlPath, "/Aarogya%20Setu.apk".into()))
        );
        assert_eq!(
            det("/a/../gate.php?id=1"),
            Some((ObservableKind::UrlPath, "/gate.php?id=1".into()))
        );
        assert_eq!(
            det("/dir/?id=1"),
            Some((ObservableKind::UrlPath, "/dir?id=1".into()))
        );
        assert_eq!(
            det("/laka16?"),
            Some((ObservableKind::UrlPath, "/laka16".into()))
        );
        assert!(
            normalize_url("http://h.example/[/./]/x").is_err(),
            "would read back as http://h.example///x"
        );
        let file = normalize_url("file://h.example//f:/x")
            .expect_err("a drive letter takes the host away on reading back");
        assert!(file.to_string().contains("does not read back"), "{file}");
        assert_eq!(
            normalize_url("file://share.example/x/y.lnk").as_deref(),
            Ok("file://share.example/x/y.lnk")
        );
        assert_eq!(
            normalize_url("http://h.example/a[1]/x").as_deref(),
            Ok("http://h.example/a[1]/x")
        );
        assert!(
            normalize_url("/depost.apk").is_err(),
            "a path is not the URL http://depost.apk/"
        );
        for root in [
            "/", "//", "/?", "/x#frag", "/\\x", "/\\\\)", "/..//x", "/[/./]/.", "/a[/./]",
            "/f://?q",
        ] {
            assert_eq!(det(root), None, "{root}");
        }
        assert_eq!(
            det("/a\\b.php"),
            Some((ObservableKind::UrlPath, "/a/b.php".into())),
            "a backslash is a / in an HTTP URL"
        );
        let o = Observable::new(ObservableKind::UrlPath, "/in.php").unwrap();
        assert_eq!(
            o.to_pattern(),
            r"[url:value MATCHES '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]+/in\\.php/?(?:[?#].*)?$']"
        );
        assert_eq!(
            url_path_regex("/d/"),
            "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]+/d(?:[/?#].*)?$"
        );
        assert_eq!(
            url_path_regex("/g.php?a=(1)"),
            r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]+/g\.php/?\?a=\(1\)(?:#.*)?$"
        );
        // Other expressions are not taken for a path, even close ones.
        for re in [
            "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]+/in.php/?(?:[?#].*)?$",
            "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]+/in\\.php.*/?(?:[?#].*)?$",
            "^https?://[^/?#]+/in\\.php/?(?:[?#].*)?$",
            "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]+/in\\.php",
        ] {
            assert_eq!(url_path_from_regex(re), None, "{re}");
        }
    }
}
