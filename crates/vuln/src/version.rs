//! Version parsing and ordering per versioning scheme (SemVer, npm, Cargo, Go, PEP 440, Debian, RPM, Maven,
//! NuGet, RubyGems, Composer and a generic fallback).
//!
//! A version that does not parse under its scheme is an error, never silently "lowest" or "highest": callers
//! report such components as *unknown* rather than *not affected*.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A versioning scheme. Comparison is only meaningful between versions of the same scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Strict SemVer 2.0 (OSV `SEMVER` ranges); build metadata ignored.
    Semver,
    /// npm: SemVer 2.0, a leading `v` or `=` tolerated as node-semver does.
    Npm,
    /// Cargo: SemVer 2.0 without prefix.
    Cargo,
    /// Go modules: SemVer with optional `v` prefix; pseudo-versions order as SemVer pre-releases,
    /// `+incompatible` is build metadata.
    Go,
    /// PEP 440 as pip's `packaging` implements it (epochs, pre/post/dev, local).
    Pypi,
    /// Debian/dpkg (`epoch:upstream-revision`, `~` before everything).
    Deb,
    /// RPM (`epoch:version-release`, rpmvercmp with `~` and `^`).
    Rpm,
    /// Maven `ComparableVersion` ordering.
    Maven,
    /// NuGet (up to four numeric parts, case-insensitive pre-release labels).
    Nuget,
    /// RubyGems `Gem::Version`.
    Gem,
    /// Composer/Packagist (PHP `version_compare` on Composer-style versions).
    Composer,
    /// Fallback for everything else: digit runs compare numerically, letter runs lexically.
    Generic,
}

/// A version string that its scheme cannot parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid {scheme} version: {reason}")]
pub struct VersionError {
    /// The scheme that rejected the input.
    pub scheme: Scheme,
    /// The input, truncated to 80 characters.
    pub input: String,
    /// Why it was rejected.
    pub reason: String,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Scheme {
    /// Every scheme, for table-driven code and tests.
    pub const ALL: [Scheme; 12] = [
        Scheme::Semver,
        Scheme::Npm,
        Scheme::Cargo,
        Scheme::Go,
        Scheme::Pypi,
        Scheme::Deb,
        Scheme::Rpm,
        Scheme::Maven,
        Scheme::Nuget,
        Scheme::Gem,
        Scheme::Composer,
        Scheme::Generic,
    ];

    /// The lower-case name, which is also the `vers:` scheme name (`golang` for Go).
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Semver => "semver",
            Scheme::Npm => "npm",
            Scheme::Cargo => "cargo",
            Scheme::Go => "golang",
            Scheme::Pypi => "pypi",
            Scheme::Deb => "deb",
            Scheme::Rpm => "rpm",
            Scheme::Maven => "maven",
            Scheme::Nuget => "nuget",
            Scheme::Gem => "gem",
            Scheme::Composer => "composer",
            Scheme::Generic => "generic",
        }
    }

    /// The scheme of a `vers:` URI scheme name or a purl type (`pypi`, `golang`, `deb`, ...).
    pub fn from_name(name: &str) -> Option<Scheme> {
        Some(match name.to_ascii_lowercase().as_str() {
            "semver" => Scheme::Semver,
            "npm" => Scheme::Npm,
            "cargo" => Scheme::Cargo,
            "golang" | "go" => Scheme::Go,
            "pypi" => Scheme::Pypi,
            "deb" | "debian" => Scheme::Deb,
            "rpm" => Scheme::Rpm,
            "maven" => Scheme::Maven,
            "nuget" => Scheme::Nuget,
            "gem" | "gems" => Scheme::Gem,
            "composer" => Scheme::Composer,
            "generic" => Scheme::Generic,
            _ => return None,
        })
    }

    /// The scheme of an OSV ecosystem name (`PyPI`, `Go`, `crates.io`, `Debian:11`, ...); None for ecosystems
    /// whose ordering Vigil does not know (their advisories are then matched only through explicit versions).
    pub fn from_ecosystem(eco: &str) -> Option<Scheme> {
        let base = eco.split(':').next().unwrap_or(eco).trim();
        Some(match base.to_ascii_lowercase().as_str() {
            "pypi" => Scheme::Pypi,
            "go" => Scheme::Go,
            "crates.io" | "cargo" => Scheme::Cargo,
            "npm" => Scheme::Npm,
            "maven" => Scheme::Maven,
            "debian" | "ubuntu" => Scheme::Deb,
            "red hat" | "rocky linux" | "almalinux" | "opensuse" | "suse" | "mageia" => Scheme::Rpm,
            "nuget" => Scheme::Nuget,
            "rubygems" => Scheme::Gem,
            "packagist" => Scheme::Composer,
            _ => return None,
        })
    }

    /// Parses `s` under this scheme.
    pub fn parse(self, s: &str) -> Result<Version, VersionError> {
        let key = match self {
            Scheme::Semver => Key::Sem(SemVer::parse(s, false).map_err(|r| self.err(s, r))?),
            Scheme::Cargo => Key::Sem(SemVer::parse(s, false).map_err(|r| self.err(s, r))?),
            Scheme::Npm => {
                let t = s.trim();
                let t = t.strip_prefix('=').unwrap_or(t).trim_start();
                Key::Sem(SemVer::parse(t, true).map_err(|r| self.err(s, r))?)
            }
            Scheme::Go => Key::Sem(SemVer::parse(s, true).map_err(|r| self.err(s, r))?),
            Scheme::Pypi => Key::Pep(Pep440::parse(s).map_err(|r| self.err(s, r))?),
            Scheme::Deb => Key::Deb(DebVer::parse(s).map_err(|r| self.err(s, r))?),
            Scheme::Rpm => Key::Rpm(RpmVer::parse(s).map_err(|r| self.err(s, r))?),
            Scheme::Maven => Key::Maven(maven_parse(s).map_err(|r| self.err(s, r))?),
            Scheme::Nuget => Key::Nuget(NugetVer::parse(s).map_err(|r| self.err(s, r))?),
            Scheme::Gem => Key::Gem(GemVer::parse(s).map_err(|r| self.err(s, r))?),
            Scheme::Composer => Key::Php(PhpVer::parse(s).map_err(|r| self.err(s, r))?),
            Scheme::Generic => Key::Generic(GenericVer::parse(s).map_err(|r| self.err(s, r))?),
        };
        Ok(Version {
            scheme: self,
            raw: s.to_string(),
            key,
        })
    }

    /// Compares two version strings under this scheme.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, VersionError> {
        Ok(self.parse(a)?.cmp(&self.parse(b)?))
    }

    fn err(self, input: &str, reason: impl Into<String>) -> VersionError {
        VersionError {
            scheme: self,
            input: input.chars().take(80).collect(),
            reason: reason.into(),
        }
    }
}

/// A parsed version. Ordering is the scheme's ordering; versions of different schemes order by scheme first
/// (which only keeps the order total: such comparisons never decide a match).
#[derive(Debug, Clone)]
pub struct Version {
    scheme: Scheme,
    raw: String,
    key: Key,
}

impl Version {
    /// The scheme this version was parsed under.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// True for pre-releases where the scheme has the notion (SemVer-like, PEP 440, NuGet, RubyGems).
    pub fn is_prerelease(&self) -> bool {
        match &self.key {
            Key::Sem(s) => !s.pre.is_empty(),
            Key::Pep(p) => p.pre.is_some() || p.dev.is_some(),
            Key::Nuget(n) => !n.pre.is_empty(),
            Key::Gem(g) => g.segs.iter().any(|s| matches!(s, GemSeg::Str(_))),
            _ => false,
        }
    }

    /// For SemVer-like schemes, the (major, minor, patch) core as numeric strings.
    pub(crate) fn semver_core(&self) -> Option<(&str, &str, &str)> {
        match &self.key {
            Key::Sem(s) => Some((&s.major.0, &s.minor.0, &s.patch.0)),
            _ => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Version {}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.key, &other.key) {
            (Key::Sem(a), Key::Sem(b)) if self.scheme == other.scheme => a.cmp(b),
            (Key::Pep(a), Key::Pep(b)) => a.cmp(b),
            (Key::Deb(a), Key::Deb(b)) => a.cmp(b),
            (Key::Rpm(a), Key::Rpm(b)) => a.cmp(b),
            (Key::Maven(a), Key::Maven(b)) => maven_cmp_list(a, b),
            (Key::Nuget(a), Key::Nuget(b)) => a.cmp(b),
            (Key::Gem(a), Key::Gem(b)) => a.cmp(b),
            (Key::Php(a), Key::Php(b)) => a.cmp(b),
            (Key::Generic(a), Key::Generic(b)) => a.cmp(b),
            _ => self
                .scheme
                .cmp(&other.scheme)
                .then_with(|| self.raw.cmp(&other.raw)),
        }
    }
}

#[derive(Debug, Clone)]
enum Key {
    Sem(SemVer),
    Pep(Pep440),
    Deb(DebVer),
    Rpm(RpmVer),
    Maven(Vec<MItem>),
    Nuget(NugetVer),
    Gem(GemVer),
    Php(PhpVer),
    Generic(GenericVer),
}

/// An arbitrary-length non-negative integer kept as its digits without leading zeros, so that no input
/// can overflow; ordering is by length, then lexically.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Num(String);

impl Num {
    fn new(digits: &str) -> Num {
        let t = digits.trim_start_matches('0');
        Num(t.to_string())
    }
    fn zero() -> Num {
        Num(String::new())
    }
    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }
}
impl Ord for Num {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.len().cmp(&o.0.len()).then_with(|| self.0.cmp(&o.0))
    }
}
impl PartialOrd for Num {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------- SemVer

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum PreId {
    // Numeric identifiers always have lower precedence than alphanumeric ones (SemVer 11.4.3).
    Num(Num),
    Alnum(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SemVer {
    major: Num,
    minor: Num,
    patch: Num,
    pre: Vec<PreId>,
}

impl SemVer {
    fn parse(s: &str, allow_v: bool) -> Result<SemVer, String> {
        let mut t = s.trim();
        if t.len() != s.len() && !allow_v {
            return Err("surrounding whitespace".into());
        }
        if allow_v {
            t = t
                .strip_prefix('v')
                .or_else(|| t.strip_prefix('V'))
                .unwrap_or(t);
        }
        // Build metadata does not take part in precedence (SemVer 10).
        let (t, build) = match t.split_once('+') {
            Some((a, b)) => (a, Some(b)),
            None => (t, None),
        };
        if let Some(b) = build {
            if b.is_empty()
                || b.split('.')
                    .any(|id| id.is_empty() || !id.bytes().all(is_ident_byte))
            {
                return Err("bad build metadata".into());
            }
        }
        let (core, pre) = match t.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (t, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() != 3 {
            return Err("expected MAJOR.MINOR.PATCH".into());
        }
        let mut nums = Vec::with_capacity(3);
        for p in parts {
            if !all_digits(p) {
                return Err(format!("`{p}` is not a number"));
            }
            if p.len() > 1 && p.starts_with('0') {
                return Err(format!("`{p}` has a leading zero"));
            }
            nums.push(Num::new(p));
        }
        let mut pre_ids = Vec::new();
        if let Some(pre) = pre {
            for id in pre.split('.') {
                if id.is_empty() || !id.bytes().all(is_ident_byte) {
                    return Err(format!("bad pre-release identifier `{id}`"));
                }
                if all_digits(id) {
                    if id.len() > 1 && id.starts_with('0') {
                        return Err(format!("pre-release `{id}` has a leading zero"));
                    }
                    pre_ids.push(PreId::Num(Num::new(id)));
                } else {
                    pre_ids.push(PreId::Alnum(id.to_string()));
                }
            }
        }
        let mut it = nums.into_iter();
        let (Some(major), Some(minor), Some(patch)) = (it.next(), it.next(), it.next()) else {
            return Err("expected MAJOR.MINOR.PATCH".into());
        };
        Ok(SemVer {
            major,
            minor,
            patch,
            pre: pre_ids,
        })
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

impl Ord for SemVer {
    fn cmp(&self, o: &Self) -> Ordering {
        self.major
            .cmp(&o.major)
            .then_with(|| self.minor.cmp(&o.minor))
            .then_with(|| self.patch.cmp(&o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&o.pre),
            })
    }
}
impl PartialOrd for SemVer {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

// ---------------------------------------------------------------- PEP 440

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Bound<T> {
    NegInf,
    Val(T),
    PosInf,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum LocalSeg {
    // packaging sorts alphanumeric local segments before numeric ones.
    Str(String),
    Int(Num),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pep440 {
    epoch: Num,
    release: Vec<Num>,
    pre: Option<(u8, Num)>,
    post: Option<Num>,
    dev: Option<Num>,
    local: Vec<LocalSeg>,
}

impl Pep440 {
    fn parse(s: &str) -> Result<Pep440, String> {
        let lower = s.trim().to_ascii_lowercase();
        let b = lower.as_bytes();
        let mut i = 0;
        if b.first() == Some(&b'v') {
            i = 1;
        }
        let digits = |i: &mut usize| -> Option<String> {
            let st = *i;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
            (st < *i).then(|| lower[st..*i].to_string())
        };
        let sep = |i: &mut usize| {
            if *i < b.len() && matches!(b[*i], b'-' | b'_' | b'.') {
                *i += 1;
            }
        };
        let mut epoch = Num::zero();
        let mut release = Vec::new();
        let first = digits(&mut i).ok_or("must start with a number")?;
        if i < b.len() && b[i] == b'!' {
            epoch = Num::new(&first);
            i += 1;
            release.push(Num::new(&digits(&mut i).ok_or("no release after epoch")?));
        } else {
            release.push(Num::new(&first));
        }
        while i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            i += 1;
            release.push(Num::new(&digits(&mut i).ok_or("bad release")?));
        }
        let word = |i: &mut usize, words: &[&str]| -> Option<String> {
            for w in words {
                if lower[*i..].starts_with(w) {
                    *i += w.len();
                    return Some((*w).to_string());
                }
            }
            None
        };
        // Pre-release.
        let mut pre = None;
        {
            let mut j = i;
            sep(&mut j);
            if let Some(w) = word(
                &mut j,
                &["alpha", "beta", "preview", "pre", "rc", "a", "b", "c"],
            ) {
                let kind = match w.as_str() {
                    "alpha" | "a" => 0,
                    "beta" | "b" => 1,
                    _ => 2,
                };
                let mut k = j;
                sep(&mut k);
                let n = match digits(&mut k) {
                    Some(d) => {
                        j = k;
                        Num::new(&d)
                    }
                    None => Num::zero(),
                };
                pre = Some((kind, n));
                i = j;
            }
        }
        // Post-release: `-N` or `[sep](post|rev|r)[sep][N]`.
        let mut post = None;
        {
            let mut j = i;
            if j < b.len() && b[j] == b'-' && j + 1 < b.len() && b[j + 1].is_ascii_digit() {
                j += 1;
                post = digits(&mut j).map(|d| Num::new(&d));
                i = j;
            } else {
                sep(&mut j);
                if word(&mut j, &["post", "rev", "r"]).is_some() {
                    let mut k = j;
                    sep(&mut k);
                    let n = match digits(&mut k) {
                        Some(d) => {
                            j = k;
                            Num::new(&d)
                        }
                        None => Num::zero(),
                    };
                    post = Some(n);
                    i = j;
                }
            }
        }
        let mut dev = None;
        {
            let mut j = i;
            sep(&mut j);
            if word(&mut j, &["dev"]).is_some() {
                let mut k = j;
                sep(&mut k);
                let n = match digits(&mut k) {
                    Some(d) => {
                        j = k;
                        Num::new(&d)
                    }
                    None => Num::zero(),
                };
                dev = Some(n);
                i = j;
            }
        }
        let mut local = Vec::new();
        if i < b.len() && b[i] == b'+' {
            let rest = &lower[i + 1..];
            if rest.is_empty() {
                return Err("empty local version".into());
            }
            for seg in rest.split(['-', '_', '.']) {
                if seg.is_empty() || !seg.bytes().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(format!("bad local segment `{seg}`"));
                }
                local.push(if all_digits(seg) {
                    LocalSeg::Int(Num::new(seg))
                } else {
                    LocalSeg::Str(seg.to_string())
                });
            }
            i = b.len();
        }
        if i != b.len() {
            return Err(format!("unexpected `{}`", &lower[i..]));
        }
        Ok(Pep440 {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    #[allow(clippy::type_complexity)]
    fn key(
        &self,
    ) -> (
        &Num,
        &[Num],
        Bound<(u8, &Num)>,
        Bound<&Num>,
        Bound<&Num>,
        Bound<&[LocalSeg]>,
    ) {
        let mut rel: &[Num] = &self.release;
        while let Some((last, rest)) = rel.split_last() {
            if last.is_zero() {
                rel = rest;
            } else {
                break;
            }
        }
        let pre = match (&self.pre, &self.post, &self.dev) {
            // A dev release of a final version (1.0.dev0) sorts before its pre-releases.
            (None, None, Some(_)) => Bound::NegInf,
            (None, _, _) => Bound::PosInf,
            (Some((k, n)), _, _) => Bound::Val((*k, n)),
        };
        let post = self.post.as_ref().map_or(Bound::NegInf, Bound::Val);
        let dev = self.dev.as_ref().map_or(Bound::PosInf, Bound::Val);
        let local = if self.local.is_empty() {
            Bound::NegInf
        } else {
            Bound::Val(&self.local[..])
        };
        (&self.epoch, rel, pre, post, dev, local)
    }
}

impl Ord for Pep440 {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key().cmp(&o.key())
    }
}
impl PartialOrd for Pep440 {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

// ---------------------------------------------------------------- Debian

#[derive(Debug, Clone)]
struct DebVer {
    epoch: Num,
    upstream: String,
    revision: String,
}

impl DebVer {
    fn parse(s: &str) -> Result<DebVer, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty".into());
        }
        let (epoch, rest) = match t.split_once(':') {
            Some((e, r)) => {
                if !all_digits(e) {
                    return Err("epoch is not a number".into());
                }
                (Num::new(e), r)
            }
            None => (Num::zero(), t),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return Err("empty upstream version".into());
        }
        if !upstream.as_bytes()[0].is_ascii_digit() {
            return Err("upstream version must start with a digit".into());
        }
        let ok = |c: u8, extra: &[u8]| {
            c.is_ascii_alphanumeric() || b".+~".contains(&c) || extra.contains(&c)
        };
        if !upstream.bytes().all(|c| ok(c, b"-:")) {
            return Err("invalid character in upstream version".into());
        }
        if rest.contains('-') && (revision.is_empty() || !revision.bytes().all(|c| ok(c, b""))) {
            return Err("invalid Debian revision".into());
        }
        Ok(DebVer {
            epoch,
            upstream: upstream.to_string(),
            revision: revision.to_string(),
        })
    }
}

/// dpkg's `order()`: letters sort before non-letters, `~` before everything, even the end of the string.
fn deb_order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(b'~') => -1,
        Some(c) => c as i32 + 256,
    }
}

/// dpkg's `verrevcmp`.
fn deb_verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff: i32 = 0;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = deb_order(a.get(i).copied());
            let bc = deb_order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = a[i] as i32 - b[j] as i32;
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

impl Ord for DebVer {
    fn cmp(&self, o: &Self) -> Ordering {
        self.epoch
            .cmp(&o.epoch)
            .then_with(|| deb_verrevcmp(self.upstream.as_bytes(), o.upstream.as_bytes()))
            .then_with(|| deb_verrevcmp(self.revision.as_bytes(), o.revision.as_bytes()))
    }
}
impl PartialOrd for DebVer {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for DebVer {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for DebVer {}

// ---------------------------------------------------------------- RPM

#[derive(Debug, Clone)]
struct RpmVer {
    epoch: Num,
    version: String,
    release: String,
}

impl RpmVer {
    fn parse(s: &str) -> Result<RpmVer, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty".into());
        }
        let (epoch, rest) = match t.split_once(':') {
            Some((e, r)) if all_digits(e) => (Num::new(e), r),
            Some(_) => return Err("epoch is not a number".into()),
            None => (Num::zero(), t),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, r),
            None => (rest, ""),
        };
        if version.is_empty() || !version.bytes().any(|c| c.is_ascii_alphanumeric()) {
            return Err("empty version".into());
        }
        if !rest
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._+~^-".contains(&c))
        {
            return Err("invalid character".into());
        }
        Ok(RpmVer {
            epoch,
            version: version.to_string(),
            release: release.to_string(),
        })
    }
}

/// rpm's `rpmvercmp` (lib/rpmvercmp.c), including `~` (sorts before) and `^` (sorts after, but before a
/// further segment).
fn rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut i, mut j) = (0, 0);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if i >= a.len() || j >= b.len() {
            break;
        }
        let (si, sj) = (i, j);
        let isnum = a[i].is_ascii_digit();
        if isnum {
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
        } else {
            while i < a.len() && a[i].is_ascii_alphabetic() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
        }
        if sj == j {
            return if isnum {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut x, mut y) = (&a[si..i], &b[sj..j]);
        if isnum {
            while x.first() == Some(&b'0') {
                x = &x[1..];
            }
            while y.first() == Some(&b'0') {
                y = &y[1..];
            }
            match x.len().cmp(&y.len()) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match x.cmp(y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (false, _) => Ordering::Greater,
        _ => Ordering::Less,
    }
}

impl Ord for RpmVer {
    fn cmp(&self, o: &Self) -> Ordering {
        self.epoch
            .cmp(&o.epoch)
            .then_with(|| rpmvercmp(self.version.as_bytes(), o.version.as_bytes()))
            .then_with(|| rpmvercmp(self.release.as_bytes(), o.release.as_bytes()))
    }
}
impl PartialOrd for RpmVer {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for RpmVer {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for RpmVer {}

// ---------------------------------------------------------------- Maven ComparableVersion

#[derive(Debug, Clone)]
enum MItem {
    Int(Num),
    Str(String),
    List(Vec<MItem>),
}

const MAVEN_QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

fn maven_qualifier_key(q: &str) -> String {
    match MAVEN_QUALIFIERS.iter().position(|x| *x == q) {
        Some(i) => i.to_string(),
        None => format!("{}-{q}", MAVEN_QUALIFIERS.len()),
    }
}

fn maven_string_item(v: &str, followed_by_digit: bool) -> MItem {
    let v = if followed_by_digit && v.len() == 1 {
        match v {
            "a" => "alpha",
            "b" => "beta",
            "m" => "milestone",
            other => other,
        }
    } else {
        v
    };
    let v = match v {
        "ga" | "final" | "release" => "",
        "cr" => "rc",
        other => other,
    };
    MItem::Str(v.to_string())
}

fn maven_parse_item(s: &str) -> MItem {
    if all_digits(s) {
        MItem::Int(Num::new(s))
    } else {
        maven_string_item(s, false)
    }
}

fn maven_is_null(i: &MItem) -> bool {
    match i {
        MItem::Int(n) => n.is_zero(),
        MItem::Str(s) => s.is_empty(),
        MItem::List(l) => l.is_empty(),
    }
}

fn maven_normalize(list: &mut Vec<MItem>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if maven_is_null(&list[i]) {
            list.remove(i);
        } else if !matches!(list[i], MItem::List(_)) {
            break;
        }
    }
}

/// Maven 3's `ComparableVersion.parseVersion`, building the nested list with an explicit path of indices.
fn maven_parse(s: &str) -> Result<Vec<MItem>, String> {
    let v = s.trim().to_lowercase();
    if v.is_empty() {
        return Err("empty".into());
    }
    if !v.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err("no digits or letters".into());
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("whitespace inside version".into());
    }
    // Lists are kept in a stack: `stack[k]` is a child of `stack[k-1]`, appended when popped.
    let mut stack: Vec<Vec<MItem>> = vec![Vec::new()];
    let chars: Vec<char> = v.chars().collect();
    let mut is_digit = false;
    let mut start = 0usize;
    let sub = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    fn push_list(stack: &mut Vec<Vec<MItem>>) {
        stack.push(Vec::new());
    }
    let top = |stack: &mut Vec<Vec<MItem>>| -> usize { stack.len() - 1 };
    for (i, &c) in chars.iter().enumerate() {
        if c == '.' {
            let t = top(&mut stack);
            if i == start {
                stack[t].push(MItem::Int(Num::zero()));
            } else {
                stack[t].push(maven_parse_item(&sub(start, i)));
            }
            start = i + 1;
        } else if c == '-' {
            let t = top(&mut stack);
            if i == start {
                stack[t].push(MItem::Int(Num::zero()));
            } else {
                stack[t].push(maven_parse_item(&sub(start, i)));
            }
            start = i + 1;
            push_list(&mut stack);
        } else if c.is_ascii_digit() {
            if !is_digit && i > start {
                let t = top(&mut stack);
                stack[t].push(maven_string_item(&sub(start, i), true));
                start = i;
                push_list(&mut stack);
            }
            is_digit = true;
        } else {
            if is_digit && i > start {
                let t = top(&mut stack);
                stack[t].push(maven_parse_item(&sub(start, i)));
                start = i;
                push_list(&mut stack);
            }
            is_digit = false;
        }
    }
    if chars.len() > start {
        let t = top(&mut stack);
        stack[t].push(maven_parse_item(&sub(start, chars.len())));
    }
    while stack.len() > 1 {
        let mut l = stack.pop().unwrap_or_default();
        maven_normalize(&mut l);
        let t = stack.len() - 1;
        stack[t].push(MItem::List(l));
    }
    let mut root = stack.pop().unwrap_or_default();
    maven_normalize(&mut root);
    Ok(root)
}

fn maven_cmp_item(a: Option<&MItem>, b: Option<&MItem>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(x)) => maven_cmp_item(Some(x), None).reverse(),
        (Some(MItem::Int(n)), None) => {
            if n.is_zero() {
                Ordering::Equal
            } else {
                Ordering::Greater
            }
        }
        (Some(MItem::Int(x)), Some(MItem::Int(y))) => x.cmp(y),
        (Some(MItem::Int(_)), Some(_)) => Ordering::Greater,
        (Some(MItem::Str(s)), None) => maven_qualifier_key(s).cmp(&maven_qualifier_key("")),
        (Some(MItem::Str(_)), Some(MItem::Int(_))) => Ordering::Less,
        (Some(MItem::Str(x)), Some(MItem::Str(y))) => {
            maven_qualifier_key(x).cmp(&maven_qualifier_key(y))
        }
        (Some(MItem::Str(_)), Some(MItem::List(_))) => Ordering::Less,
        (Some(MItem::List(l)), None) => match l.first() {
            None => Ordering::Equal,
            Some(f) => maven_cmp_item(Some(f), None),
        },
        (Some(MItem::List(_)), Some(MItem::Int(_))) => Ordering::Less,
        (Some(MItem::List(_)), Some(MItem::Str(_))) => Ordering::Greater,
        (Some(MItem::List(x)), Some(MItem::List(y))) => maven_cmp_list(x, y),
    }
}

fn maven_cmp_list(a: &[MItem], b: &[MItem]) -> Ordering {
    for k in 0..a.len().max(b.len()) {
        let o = maven_cmp_item(a.get(k), b.get(k));
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

// ---------------------------------------------------------------- NuGet

#[derive(Debug, Clone, PartialEq, Eq)]
struct NugetVer {
    parts: [Num; 4],
    pre: Vec<PreIdCi>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum PreIdCi {
    Num(Num),
    Str(String),
}

impl NugetVer {
    fn parse(s: &str) -> Result<NugetVer, String> {
        let t = s.trim();
        let t = t
            .strip_prefix('v')
            .or_else(|| t.strip_prefix('V'))
            .unwrap_or(t);
        let t = t.split_once('+').map_or(t, |(a, _)| a);
        let (core, pre) = match t.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (t, None),
        };
        let nums: Vec<&str> = core.split('.').collect();
        if nums.is_empty() || nums.len() > 4 || nums.iter().any(|p| !all_digits(p)) {
            return Err("expected 1 to 4 numeric parts".into());
        }
        let mut parts = [Num::zero(), Num::zero(), Num::zero(), Num::zero()];
        for (k, p) in nums.iter().enumerate() {
            parts[k] = Num::new(p);
        }
        let mut ids = Vec::new();
        if let Some(p) = pre {
            for id in p.split('.') {
                if id.is_empty() || !id.bytes().all(is_ident_byte) {
                    return Err(format!("bad pre-release label `{id}`"));
                }
                ids.push(if all_digits(id) {
                    PreIdCi::Num(Num::new(id))
                } else {
                    PreIdCi::Str(id.to_ascii_lowercase())
                });
            }
        }
        Ok(NugetVer { parts, pre: ids })
    }
}

impl Ord for NugetVer {
    fn cmp(&self, o: &Self) -> Ordering {
        self.parts
            .cmp(&o.parts)
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => self.pre.cmp(&o.pre),
            })
    }
}
impl PartialOrd for NugetVer {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

// ---------------------------------------------------------------- RubyGems

#[derive(Debug, Clone, PartialEq, Eq)]
enum GemSeg {
    Int(Num),
    Str(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct GemVer {
    segs: Vec<GemSeg>,
}

impl GemVer {
    fn parse(s: &str) -> Result<GemVer, String> {
        let t = s.trim();
        let t = if t.is_empty() { "0" } else { t };
        // Gem::Version::ANCHORED_VERSION_PATTERN
        let (main, pre) = match t.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (t, None),
        };
        let mut it = main.split('.');
        if !it.next().is_some_and(all_digits) {
            return Err("must start with a number".into());
        }
        if !it.all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric())) {
            return Err("bad segment".into());
        }
        if let Some(p) = pre {
            if p.split('.')
                .any(|x| x.is_empty() || !x.bytes().all(is_ident_byte))
            {
                return Err("bad pre-release part".into());
            }
        }
        let norm = t.replace('-', ".pre.");
        let mut segs = Vec::new();
        let b = norm.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let st = i;
            if b[i].is_ascii_digit() {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                segs.push(GemSeg::Int(Num::new(&norm[st..i])));
            } else if b[i].is_ascii_alphabetic() {
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                segs.push(GemSeg::Str(norm[st..i].to_string()));
            } else {
                i += 1;
            }
        }
        // canonical_segments: drop trailing zeros of the release part and of the pre-release part.
        let split = segs
            .iter()
            .position(|s| matches!(s, GemSeg::Str(_)))
            .unwrap_or(segs.len());
        let (rel, prer) = segs.split_at(split);
        let trim = |v: &[GemSeg]| {
            let mut v = v.to_vec();
            while matches!(v.last(), Some(GemSeg::Int(n)) if n.is_zero()) {
                v.pop();
            }
            v
        };
        let mut canon = trim(rel);
        canon.extend(trim(prer));
        Ok(GemVer { segs: canon })
    }
}

impl Ord for GemVer {
    fn cmp(&self, o: &Self) -> Ordering {
        let zero = GemSeg::Int(Num::zero());
        for k in 0..self.segs.len().max(o.segs.len()) {
            let a = self.segs.get(k).unwrap_or(&zero);
            let b = o.segs.get(k).unwrap_or(&zero);
            let c = match (a, b) {
                (GemSeg::Int(x), GemSeg::Int(y)) => x.cmp(y),
                (GemSeg::Str(x), GemSeg::Str(y)) => x.cmp(y),
                (GemSeg::Str(_), GemSeg::Int(_)) => Ordering::Less,
                (GemSeg::Int(_), GemSeg::Str(_)) => Ordering::Greater,
            };
            if c != Ordering::Equal {
                return c;
            }
        }
        Ordering::Equal
    }
}
impl PartialOrd for GemVer {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

// ---------------------------------------------------------------- Composer / PHP version_compare

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum PhpSeg {
    // PHP's special forms: any unknown string < dev < alpha < beta < RC < (number) < pl.
    Special(i8, String),
    Num(Num),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PhpVer {
    segs: Vec<PhpSeg>,
}

impl PhpVer {
    fn parse(s: &str) -> Result<PhpVer, String> {
        let t = s.trim();
        let t = t
            .strip_prefix('v')
            .or_else(|| t.strip_prefix('V'))
            .unwrap_or(t);
        if !t.as_bytes().first().is_some_and(|c| c.is_ascii_digit()) {
            return Err("must start with a number".into());
        }
        if !t
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".-_+".contains(&c))
        {
            return Err("invalid character".into());
        }
        let mut segs = Vec::new();
        let b = t.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let st = i;
            if b[i].is_ascii_digit() {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                segs.push(PhpSeg::Num(Num::new(&t[st..i])));
            } else if b[i].is_ascii_alphabetic() {
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                let w = t[st..i].to_ascii_lowercase();
                let rank = match w.as_str() {
                    "dev" => 0,
                    "alpha" | "a" => 1,
                    "beta" | "b" => 2,
                    "rc" => 3,
                    "pl" | "p" | "patch" => 5,
                    _ => -6,
                };
                segs.push(PhpSeg::Special(rank, w));
            } else {
                i += 1;
            }
        }
        Ok(PhpVer { segs })
    }
}

impl Ord for PhpVer {
    fn cmp(&self, o: &Self) -> Ordering {
        // A missing part compares as `#` (rank 4, between RC and pl) against a word, and loses against a number.
        let hash = PhpSeg::Special(4, String::new());
        for k in 0..self.segs.len().max(o.segs.len()) {
            let c = match (self.segs.get(k), o.segs.get(k)) {
                (Some(a), Some(b)) => a.cmp(b),
                (Some(PhpSeg::Num(_)), None) => Ordering::Greater,
                (None, Some(PhpSeg::Num(_))) => Ordering::Less,
                (Some(a), None) => a.cmp(&hash),
                (None, Some(b)) => hash.cmp(b),
                (None, None) => Ordering::Equal,
            };
            if c != Ordering::Equal {
                return c;
            }
        }
        Ordering::Equal
    }
}
impl PartialOrd for PhpVer {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

// ---------------------------------------------------------------- generic

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum GenSeg {
    // Letters sort before numbers, so `1.0rc1` < `1.0`; a missing segment counts as the number 0.
    Alpha(String),
    Num(Num),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct GenericVer {
    segs: Vec<GenSeg>,
}

impl GenericVer {
    fn parse(s: &str) -> Result<GenericVer, String> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_prefix('v').unwrap_or(&t);
        if !t.bytes().any(|c| c.is_ascii_digit()) {
            return Err("contains no digit".into());
        }
        if !t
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".-_+~:".contains(&c))
        {
            return Err("characters other than letters, digits and . - _ + ~ :".into());
        }
        let mut segs = Vec::new();
        let b = t.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let st = i;
            if b[i].is_ascii_digit() {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                segs.push(GenSeg::Num(Num::new(&t[st..i])));
            } else if b[i].is_ascii_alphabetic() {
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                segs.push(GenSeg::Alpha(t[st..i].to_string()));
            } else {
                i += 1;
            }
        }
        Ok(GenericVer { segs })
    }
}

impl Ord for GenericVer {
    fn cmp(&self, o: &Self) -> Ordering {
        let zero = GenSeg::Num(Num::zero());
        for k in 0..self.segs.len().max(o.segs.len()) {
            let c = self
                .segs
                .get(k)
                .unwrap_or(&zero)
                .cmp(o.segs.get(k).unwrap_or(&zero));
            if c != Ordering::Equal {
                return c;
            }
        }
        Ordering::Equal
    }
}
impl PartialOrd for GenericVer {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    fn cmp(s: Scheme, a: &str, b: &str) -> Ordering {
        s.compare(a, b).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn table() {
        let cases: &[(Scheme, &str, &str, Ordering)] = &[
            (Scheme::Npm, "1.0.0-alpha", "1.0.0-alpha.1", Less),
            (Scheme::Npm, "1.0.0-alpha.1", "1.0.0-alpha.beta", Less),
            (Scheme::Npm, "1.0.0-beta.11", "1.0.0-rc.1", Less),
            (Scheme::Npm, "1.0.0-rc.1", "1.0.0", Less),
            (Scheme::Npm, "v1.2.3", "1.2.3", Equal),
            (Scheme::Npm, "1.2.3+build", "1.2.3", Equal),
            (
                Scheme::Go,
                "v0.0.0-20210101000000-abcdef123456",
                "v0.1.0",
                Less,
            ),
            (Scheme::Go, "v2.0.0+incompatible", "v2.0.0", Equal),
            (Scheme::Pypi, "1.0.dev0", "1.0a1", Less),
            (Scheme::Pypi, "1.0a1", "1.0b1", Less),
            (Scheme::Pypi, "1.0rc1", "1.0", Less),
            (Scheme::Pypi, "1.0", "1.0.post1", Less),
            (Scheme::Pypi, "1.0.post1", "1.1.dev0", Less),
            (Scheme::Pypi, "1!0.1", "2.0", Greater),
            (Scheme::Pypi, "1.0", "1.0.0", Equal),
            (Scheme::Pypi, "1.0+local", "1.0", Greater),
            (Scheme::Pypi, "1.0+abc", "1.0+5", Less),
            (Scheme::Pypi, "1.0-1", "1.0.post1", Equal),
            (Scheme::Pypi, "1.0.RC1", "1.0rc1", Equal),
            (Scheme::Pypi, "1.0a1.post1.dev2", "1.0a1.post1", Less),
            (Scheme::Deb, "7:5.1.6", "2.8.9", Greater),
            (Scheme::Deb, "1.0~rc1", "1.0", Less),
            (Scheme::Deb, "1.0~rc1-1", "1.0-1", Less),
            (Scheme::Deb, "1.1.1n-0+deb11u4", "1.1.1n-0+deb11u5", Less),
            (Scheme::Deb, "1:1.0-1", "2.0", Greater),
            (Scheme::Deb, "1.0a", "1.0+", Less),
            (Scheme::Deb, "1.0", "1.0-0", Equal),
            (Scheme::Rpm, "1.0~rc1", "1.0", Less),
            (Scheme::Rpm, "1.0^git1", "1.0", Greater),
            (Scheme::Rpm, "1.0^git1", "1.0.1", Less),
            (Scheme::Rpm, "2:1.0-1", "1:9.9-9", Greater),
            (Scheme::Rpm, "1.0a", "1.0", Greater),
            (Scheme::Rpm, "1.01", "1.1", Equal),
            (Scheme::Maven, "1.0-alpha-1", "1.0", Less),
            (Scheme::Maven, "1.0-SNAPSHOT", "1.0", Less),
            (Scheme::Maven, "1.0", "1.0-sp1", Less),
            (Scheme::Maven, "1.0.0", "1", Equal),
            (Scheme::Maven, "1.0-ga", "1.0", Equal),
            (Scheme::Maven, "2.0-beta9", "2.15.0", Less),
            (Scheme::Maven, "1.0-rc1", "1.0-cr1", Equal),
            (Scheme::Maven, "1.0a1", "1.0-alpha-1", Equal),
            (Scheme::Maven, "1.0-xyz", "1.0-sp", Greater),
            (Scheme::Maven, "2.14.1", "2.15.0", Less),
            (Scheme::Nuget, "1.0.0-Beta", "1.0.0-beta", Equal),
            (Scheme::Nuget, "1.0", "1.0.0.0", Equal),
            (Scheme::Nuget, "1.0.0-beta", "1.0.0", Less),
            (Scheme::Gem, "1.0.a", "1.0", Less),
            (Scheme::Gem, "1.0.0", "1", Equal),
            (Scheme::Gem, "1.0-rc1", "1.0", Less),
            (Scheme::Composer, "1.0.0-beta", "1.0.0", Less),
            (Scheme::Composer, "1.0.0-dev", "1.0.0-alpha", Less),
            (Scheme::Composer, "v2.1", "2.1.0.1", Less),
            (Scheme::Generic, "10.2.154.27", "10.2.154.3", Greater),
            (Scheme::Generic, "1.0rc1", "1.0", Less),
            (Scheme::Generic, "1.0", "1.0.0", Equal),
        ];
        for (s, a, b, want) in cases {
            assert_eq!(cmp(*s, a, b), *want, "{s}: {a} vs {b}");
            assert_eq!(cmp(*s, b, a), want.reverse(), "{s}: {b} vs {a}");
        }
    }

    #[test]
    fn rejects() {
        for (s, v) in [
            (Scheme::Npm, "1.2"),
            (Scheme::Npm, "01.2.3"),
            (Scheme::Semver, "v1.2.3"),
            (Scheme::Pypi, "latest"),
            (Scheme::Pypi, "1.0+"),
            (Scheme::Deb, "abc"),
            (Scheme::Deb, "a:1.0"),
            (Scheme::Maven, ""),
            (Scheme::Nuget, "1.2.3.4.5"),
            (Scheme::Generic, "unknown"),
            (Scheme::Gem, "1..2"),
        ] {
            assert!(s.parse(v).is_err(), "{s} accepted {v}");
        }
    }

    #[test]
    fn schemes_from_names() {
        assert_eq!(Scheme::from_ecosystem("Debian:11"), Some(Scheme::Deb));
        assert_eq!(Scheme::from_ecosystem("crates.io"), Some(Scheme::Cargo));
        assert_eq!(Scheme::from_ecosystem("Hackage"), None);
        for s in Scheme::ALL {
            assert_eq!(Scheme::from_name(s.as_str()), Some(s));
        }
    }
}
