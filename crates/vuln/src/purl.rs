//! Package URLs (purl, ECMA-427): parsing, per-type normalisation, canonical form, and the mapping between purl
//! types and OSV ecosystems used to look packages up in the advisory index.
//!
//! Written here rather than taken from a crate because matching needs the per-type name normalisation (PEP 503
//! for PyPI, lower-case npm scopes, Maven `group:artifact`, ...) and the OSV ecosystem mapping, which the
//! available crates do not provide.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

use crate::version::Scheme;

/// A malformed package URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid purl `{input}`: {reason}")]
pub struct PurlError {
    /// The input, truncated to 120 characters.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A parsed, normalised package URL: `pkg:type/namespace/name@version?qualifiers#subpath`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Purl {
    /// Lower-case type (`pypi`, `npm`, `maven`, `golang`, `deb`, ...).
    pub ty: String,
    /// Namespace (npm scope with its `@`, Maven groupId, Go module path prefix, deb/rpm vendor), decoded.
    pub namespace: Option<String>,
    /// Name, decoded and normalised per type.
    pub name: String,
    /// Version, decoded, as given.
    pub version: Option<String>,
    /// Qualifiers with lower-case keys, empty values dropped, sorted.
    pub qualifiers: BTreeMap<String, String>,
    /// Subpath, decoded, without leading/trailing slashes.
    pub subpath: Option<String>,
}

fn err(input: &str, reason: impl Into<String>) -> PurlError {
    PurlError {
        input: input.chars().take(120).collect(),
        reason: reason.into(),
    }
}

fn pct_decode(input: &str, s: &str) -> Result<String, PurlError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or_else(|| err(input, "truncated percent-escape"))?;
            let v = u8::from_str_radix(hex, 16)
                .map_err(|_| err(input, format!("bad percent-escape `%{hex}`")))?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| err(input, "percent-escapes do not decode to UTF-8"))
}

fn pct_encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b".-_~".contains(&c) || keep.contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// PEP 503 name normalisation: lower-case, runs of `-`, `_`, `.` become one `-`.
pub fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

impl Purl {
    /// Parses and normalises a purl. Errors name what is wrong (missing `pkg:`, no name, bad escape, ...).
    pub fn parse(input: &str) -> Result<Purl, PurlError> {
        let s = input.trim();
        let rest = match s.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("pkg:") => &s[4..],
            _ => return Err(err(input, "does not start with `pkg:`")),
        };
        let rest = rest.trim_start_matches('/');
        let (rest, subpath) = match rest.split_once('#') {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        let (rest, quals) = match rest.split_once('?') {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        let rest = rest.trim_end_matches('/');
        let (ty, path) = rest
            .split_once('/')
            .ok_or_else(|| err(input, "no type/name"))?;
        let ty = ty.to_ascii_lowercase();
        if ty.is_empty()
            || !ty
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b".+-".contains(&c))
        {
            return Err(err(input, "bad type"));
        }
        if ty.as_bytes()[0].is_ascii_digit() {
            return Err(err(input, "type starts with a digit"));
        }
        let (path, version) = match path.rsplit_once('@') {
            // An npm scope (`@angular/core`) is not a version separator.
            Some((p, v)) if !p.is_empty() => (p, Some(pct_decode(input, v)?)),
            _ => (path, None),
        };
        let mut segs: Vec<String> = Vec::new();
        for seg in path.split('/').filter(|x| !x.is_empty()) {
            segs.push(pct_decode(input, seg)?);
        }
        let name = segs.pop().ok_or_else(|| err(input, "no name"))?;
        if name.is_empty() {
            return Err(err(input, "empty name"));
        }
        let namespace = if segs.is_empty() {
            None
        } else {
            Some(segs.join("/"))
        };
        let mut qualifiers = BTreeMap::new();
        if let Some(q) = quals {
            for kv in q.split('&').filter(|x| !x.is_empty()) {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| err(input, format!("qualifier `{kv}` has no `=`")))?;
                let k = k.to_ascii_lowercase();
                if k.is_empty()
                    || !k
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b".-_".contains(&c))
                {
                    return Err(err(input, format!("bad qualifier key `{k}`")));
                }
                let v = pct_decode(input, v)?;
                if !v.is_empty() {
                    qualifiers.insert(k, v);
                }
            }
        }
        let subpath = match subpath {
            Some(sp) => {
                let parts: Vec<String> = sp
                    .split('/')
                    .filter(|x| !x.is_empty() && *x != "." && *x != "..")
                    .map(|x| pct_decode(input, x))
                    .collect::<Result<_, _>>()?;
                (!parts.is_empty()).then(|| parts.join("/"))
            }
            None => None,
        };
        let version = version.filter(|v| !v.is_empty());
        let mut p = Purl {
            ty,
            namespace,
            name,
            version,
            qualifiers,
            subpath,
        };
        p.normalise_type_rules();
        Ok(p)
    }

    fn normalise_type_rules(&mut self) {
        let lower_ns = |ns: &mut Option<String>| {
            if let Some(n) = ns {
                *n = n.to_lowercase();
            }
        };
        match self.ty.as_str() {
            "pypi" => {
                self.name = self.name.to_lowercase().replace('_', "-");
            }
            "npm" | "composer" | "github" | "bitbucket" | "golang" | "hex" | "nuget" => {
                // golang: the purl spec lower-cases namespace and name; nuget names are case-insensitive.
                lower_ns(&mut self.namespace);
                if self.ty != "nuget" {
                    self.name = self.name.to_lowercase();
                }
            }
            "deb" | "apk" | "alpm" => {
                lower_ns(&mut self.namespace);
                self.name = self.name.to_lowercase();
            }
            "rpm" => lower_ns(&mut self.namespace),
            _ => {}
        }
    }

    /// The OSV ecosystem this purl type corresponds to (`PyPI`, `Go`, `crates.io`, `Debian`, ...).
    pub fn ecosystem(&self) -> Option<&'static str> {
        Some(match self.ty.as_str() {
            "pypi" => "PyPI",
            "golang" => "Go",
            "cargo" => "crates.io",
            "npm" => "npm",
            "maven" => "Maven",
            "nuget" => "NuGet",
            "gem" => "RubyGems",
            "composer" => "Packagist",
            "hex" => "Hex",
            "pub" => "Pub",
            "swift" => "SwiftURL",
            "deb" => match self.namespace.as_deref() {
                Some("ubuntu") => "Ubuntu",
                _ => "Debian",
            },
            "rpm" => match self.namespace.as_deref() {
                Some("redhat") => "Red Hat",
                Some("opensuse") => "openSUSE",
                Some("suse") => "SUSE",
                Some("rocky") | Some("rocky-linux") => "Rocky Linux",
                Some("almalinux") => "AlmaLinux",
                _ => "Red Hat",
            },
            "apk" => "Alpine",
            _ => return None,
        })
    }

    /// The package name as OSV writes it for this ecosystem (`group:artifact` for Maven, `scope/name` for npm,
    /// the full module path for Go, `vendor/name` for Composer).
    pub fn osv_name(&self) -> String {
        match (self.ty.as_str(), &self.namespace) {
            ("maven", Some(ns)) => format!("{ns}:{}", self.name),
            ("npm" | "golang" | "composer" | "swift", Some(ns)) => format!("{ns}/{}", self.name),
            _ => self.name.clone(),
        }
    }

    /// The version scheme for this purl type (Generic when the type has none Vigil knows).
    pub fn scheme(&self) -> Scheme {
        match self.ty.as_str() {
            "rpm" => Scheme::Rpm,
            "deb" => Scheme::Deb,
            t => Scheme::from_name(t)
                .or_else(|| self.ecosystem().and_then(Scheme::from_ecosystem))
                .unwrap_or(Scheme::Generic),
        }
    }

    /// Canonical text form (ECMA-427 section 5: lower-case type, percent-encoding, sorted qualifiers).
    pub fn canonical(&self) -> String {
        let mut s = format!("pkg:{}/", self.ty);
        if let Some(ns) = &self.namespace {
            for seg in ns.split('/') {
                s.push_str(&pct_encode(seg, b""));
                s.push('/');
            }
        }
        s.push_str(&pct_encode(&self.name, b""));
        if let Some(v) = &self.version {
            s.push('@');
            s.push_str(&pct_encode(v, b":+"));
        }
        if !self.qualifiers.is_empty() {
            s.push('?');
            let q: Vec<String> = self
                .qualifiers
                .iter()
                .map(|(k, v)| format!("{k}={}", pct_encode(v, b":/+")))
                .collect();
            s.push_str(&q.join("&"));
        }
        if let Some(sp) = &self.subpath {
            s.push('#');
            let parts: Vec<String> = sp.split('/').map(|x| pct_encode(x, b"")).collect();
            s.push_str(&parts.join("/"));
        }
        s
    }

    /// The purl without version, qualifiers and subpath (identifies the package, not a release).
    pub fn package(&self) -> String {
        let mut p = self.clone();
        p.version = None;
        p.qualifiers.clear();
        p.subpath = None;
        p.canonical()
    }
}

impl fmt::Display for Purl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

impl Serialize for Purl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.canonical())
    }
}

impl std::str::FromStr for Purl {
    type Err = PurlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purl::parse(s)
    }
}

/// Normalises an OSV package name within its ecosystem for index lookups: PEP 503 for PyPI, lower case for npm,
/// NuGet, Packagist, Debian, Alpine; unchanged for case-sensitive ecosystems (Go, crates.io, Maven, RubyGems).
pub fn normalise_package_name(ecosystem: &str, name: &str) -> String {
    match ecosystem_key(ecosystem).as_str() {
        "pypi" => pep503(name),
        "npm" | "nuget" | "packagist" | "debian" | "ubuntu" | "alpine" | "hex" => {
            name.trim().to_lowercase()
        }
        "go" => name.trim().trim_end_matches('/').to_string(),
        _ => name.trim().to_string(),
    }
}

/// The lower-case base of an OSV ecosystem (`Debian:11` -> `debian`), the key the index groups by.
pub fn ecosystem_key(ecosystem: &str) -> String {
    ecosystem
        .split(':')
        .next()
        .unwrap_or(ecosystem)
        .trim()
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spec_examples() {
        let p = Purl::parse("pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie").unwrap();
        assert_eq!(p.ty, "deb");
        assert_eq!(p.namespace.as_deref(), Some("debian"));
        assert_eq!(p.name, "curl");
        assert_eq!(p.version.as_deref(), Some("7.50.3-1"));
        assert_eq!(
            p.qualifiers.get("distro").map(String::as_str),
            Some("jessie")
        );
        assert_eq!(p.ecosystem(), Some("Debian"));
        assert_eq!(
            p.canonical(),
            "pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie"
        );

        let p = Purl::parse("pkg:npm/%40angular/animation@12.3.1").unwrap();
        assert_eq!(p.namespace.as_deref(), Some("@angular"));
        assert_eq!(p.osv_name(), "@angular/animation");
        assert_eq!(p.canonical(), "pkg:npm/%40angular/animation@12.3.1");

        let p = Purl::parse("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1").unwrap();
        assert_eq!(p.osv_name(), "org.apache.logging.log4j:log4j-core");
        assert_eq!(p.scheme(), Scheme::Maven);

        let p = Purl::parse("PKG:PyPI/Django_Rest@1.0").unwrap();
        assert_eq!(p.name, "django-rest");
        assert_eq!(
            normalise_package_name("PyPI", "Django.Rest_framework"),
            "django-rest-framework"
        );

        let p =
            Purl::parse("pkg:golang/github.com/gorilla/context@234fd47e07d1004f0aed9c").unwrap();
        assert_eq!(p.osv_name(), "github.com/gorilla/context");
        assert_eq!(p.ecosystem(), Some("Go"));

        let p =
            Purl::parse("pkg:rpm/fedora/curl@7.50.3-1.fc25?arch=i386&distro=fedora-25").unwrap();
        assert_eq!(p.scheme(), Scheme::Rpm);
        let p = Purl::parse("pkg:composer/Laravel/Framework@7.12.0").unwrap();
        assert_eq!(p.osv_name(), "laravel/framework");
        let p = Purl::parse("pkg:nuget/EnterpriseLibrary.Common@6.0.1304").unwrap();
        assert_eq!(p.ecosystem(), Some("NuGet"));
        let p = Purl::parse("pkg:gem/ruby-advisory-db-check@0.12.4").unwrap();
        assert_eq!(p.scheme(), Scheme::Gem);
        let p = Purl::parse("pkg:cargo/rand@0.7.2").unwrap();
        assert_eq!(p.ecosystem(), Some("crates.io"));
    }

    #[test]
    fn rejects_bad() {
        for s in [
            "",
            "npm/foo@1",
            "pkg:",
            "pkg:npm",
            "pkg:npm/",
            "pkg:npm/foo%zz",
            "pkg:1x/foo",
            "pkg:npm/a?b",
        ] {
            assert!(Purl::parse(s).is_err(), "accepted {s:?}");
        }
    }

    #[test]
    fn round_trip_is_stable() {
        for s in [
            "pkg:generic/openssl@1.1.10g?download_url=https://openssl.org/source/openssl-1.1.0g.tar.gz",
            "pkg:npm/%40babel/core@7.0.0#lib/index.js",
        ] {
            let p = Purl::parse(s).unwrap();
            assert_eq!(Purl::parse(&p.canonical()).unwrap(), p);
        }
    }
}
