//! Affected-version ranges: OSV `ranges[].events` evaluated exactly as the OSV schema's pseudocode, `vers:`
//! range strings (parse, canonical-form validation, containment), Cargo requirements as RustSec writes them,
//! and CSAF `product_status` lookups.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::version::{Scheme, Version, VersionError};

/// A malformed range (as opposed to a version the range cannot parse, which is a [`VersionError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid range `{input}`: {reason}")]
pub struct RangeError {
    /// The range text (or a description of the OSV range), truncated to 160 characters.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

fn rerr(input: &str, reason: impl Into<String>) -> RangeError {
    RangeError {
        input: input.chars().take(160).collect(),
        reason: reason.into(),
    }
}

/// OSV range type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RangeKind {
    /// SemVer 2.0 versions.
    Semver,
    /// Versions of the package's ecosystem.
    Ecosystem,
    /// Git commits: cannot be evaluated without the commit graph, so only the `versions` list counts.
    Git,
}

/// One OSV event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Vulnerable from this version on (`"0"`: from the beginning).
    Introduced(String),
    /// Not vulnerable from this version on.
    Fixed(String),
    /// Vulnerable up to and including this version.
    LastAffected(String),
    /// Evaluation stops at this version (`"*"`: no limit).
    Limit(String),
}

impl Event {
    /// The version text of the event.
    pub fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
    fn rank(&self) -> u8 {
        match self {
            Event::Introduced(_) => 0,
            Event::LastAffected(_) => 1,
            Event::Fixed(_) => 2,
            Event::Limit(_) => 3,
        }
    }
}

/// An OSV `affected[].ranges[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OsvRange {
    /// SEMVER, ECOSYSTEM or GIT.
    pub kind: RangeKind,
    /// The repository for GIT ranges.
    pub repo: Option<String>,
    /// The events, in the order given.
    pub events: Vec<Event>,
}

/// The position of an event version in the sorted walk: `"0"` before every version, `"*"` after.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Point {
    Zero,
    At(Version),
    Infinity,
}

/// An OSV range whose event versions have been parsed and sorted once, for repeated evaluation.
#[derive(Debug, Clone)]
pub struct CompiledRange {
    kind: RangeKind,
    events: Vec<(Point, Event)>,
    limits: Vec<Point>,
}

impl OsvRange {
    /// Checks the schema rules: at least one `introduced`, and `fixed` and `last_affected` not mixed.
    pub fn validate(&self) -> Result<(), RangeError> {
        let d = self.describe();
        if !self
            .events
            .iter()
            .any(|e| matches!(e, Event::Introduced(_)))
        {
            return Err(rerr(&d, "no `introduced` event"));
        }
        let fixed = self.events.iter().any(|e| matches!(e, Event::Fixed(_)));
        let last = self
            .events
            .iter()
            .any(|e| matches!(e, Event::LastAffected(_)));
        if fixed && last {
            return Err(rerr(&d, "`fixed` and `last_affected` in the same range"));
        }
        if self.events.iter().any(|e| e.version().trim().is_empty()) {
            return Err(rerr(&d, "empty event version"));
        }
        Ok(())
    }

    /// Parses and sorts the event versions under `scheme`. An unparseable event version makes the whole range
    /// unusable: the error is returned so the caller reports the component as unknown.
    pub fn compile(&self, scheme: Scheme) -> Result<CompiledRange, VersionError> {
        let mut events = Vec::with_capacity(self.events.len());
        let mut limits = Vec::new();
        if self.kind != RangeKind::Git {
            for e in &self.events {
                let p = match (e, e.version()) {
                    (Event::Introduced(_), "0") => Point::Zero,
                    (Event::Limit(_), "*") => Point::Infinity,
                    (_, v) => Point::At(scheme.parse(v)?),
                };
                if let Event::Limit(_) = e {
                    limits.push(p.clone());
                }
                events.push((p, e.clone()));
            }
        }
        events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.rank().cmp(&b.1.rank())));
        Ok(CompiledRange {
            kind: self.kind,
            events,
            limits,
        })
    }

    /// Is `version` inside this range (OSV pseudocode)? GIT ranges always answer false: their commits are only
    /// reflected in the `versions` list.
    pub fn contains(&self, scheme: Scheme, version: &str) -> Result<bool, VersionError> {
        let v = scheme.parse(version)?;
        Ok(self.compile(scheme)?.contains(&v))
    }

    /// A short human description: `ECOSYSTEM introduced 0, fixed 1.2.3`.
    pub fn describe(&self) -> String {
        let ev: Vec<String> = self
            .events
            .iter()
            .map(|e| {
                let k = match e {
                    Event::Introduced(_) => "introduced",
                    Event::Fixed(_) => "fixed",
                    Event::LastAffected(_) => "last_affected",
                    Event::Limit(_) => "limit",
                };
                format!("{k} {}", e.version())
            })
            .collect();
        let kind = match self.kind {
            RangeKind::Semver => "SEMVER",
            RangeKind::Ecosystem => "ECOSYSTEM",
            RangeKind::Git => "GIT",
        };
        format!("{kind} {}", ev.join(", "))
    }

    /// The versions of `fixed` events (what to upgrade to).
    pub fn fixed_versions(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Fixed(v) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }
}

impl CompiledRange {
    /// The OSV schema's evaluation: walk the sorted events; `introduced` at or below the version sets
    /// vulnerable, `fixed` at or below clears it, `last_affected` strictly below clears it; and the version must
    /// be below at least one `limit` when limits exist.
    pub fn contains(&self, v: &Version) -> bool {
        if self.kind == RangeKind::Git {
            return false;
        }
        // `v` against an event point, without building a Point (this runs for every candidate of a scan).
        let cmp = |p: &Point| match p {
            Point::Zero => Ordering::Greater,
            Point::At(x) => v.cmp(x),
            Point::Infinity => Ordering::Less,
        };
        if !self.limits.is_empty() && !self.limits.iter().any(|l| cmp(l) == Ordering::Less) {
            return false;
        }
        let mut vulnerable = false;
        for (p, e) in &self.events {
            let o = cmp(p);
            match e {
                Event::Introduced(_) if o != Ordering::Less => vulnerable = true,
                Event::Fixed(_) if o != Ordering::Less => vulnerable = false,
                Event::LastAffected(_) if o == Ordering::Greater => vulnerable = false,
                _ => {}
            }
        }
        vulnerable
    }
}

// ---------------------------------------------------------------- vers

/// A `vers:` comparator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Comparator {
    /// `=` (written without operator in canonical form).
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Comparator {
    fn as_str(self) -> &'static str {
        match self {
            Comparator::Eq => "",
            Comparator::Ne => "!=",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
        }
    }
    fn test(self, o: Ordering) -> bool {
        match self {
            Comparator::Eq => o == Ordering::Equal,
            Comparator::Ne => o != Ordering::Equal,
            Comparator::Lt => o == Ordering::Less,
            Comparator::Le => o != Ordering::Greater,
            Comparator::Gt => o == Ordering::Greater,
            Comparator::Ge => o != Ordering::Less,
        }
    }
}

/// One `vers:` constraint: comparator and version text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Constraint {
    /// The comparator.
    pub op: Comparator,
    /// The version, as written.
    pub version: String,
}

/// A parsed `vers:` range.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VersRange {
    /// The versioning scheme name as written (lower case).
    pub scheme_name: String,
    /// The scheme Vigil knows it as (None: unknown scheme; containment then fails with an error).
    pub scheme: Option<Scheme>,
    /// `*`: every version.
    pub star: bool,
    /// The constraints (empty when `star`).
    pub constraints: Vec<Constraint>,
}

impl VersRange {
    /// Parses a `vers:` string leniently (whitespace, any order). Use [`VersRange::parse_canonical`] to also
    /// insist on the canonical form.
    pub fn parse(s: &str) -> Result<VersRange, RangeError> {
        let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let rest = t
            .strip_prefix("vers:")
            .ok_or_else(|| rerr(s, "does not start with `vers:`"))?;
        let (scheme_name, cs) = rest
            .split_once('/')
            .ok_or_else(|| rerr(s, "no `/` after the scheme"))?;
        if scheme_name.is_empty() {
            return Err(rerr(s, "empty scheme"));
        }
        let scheme_name = scheme_name.to_ascii_lowercase();
        let scheme = Scheme::from_name(&scheme_name);
        let cs = cs.trim_matches('|');
        if cs.is_empty() {
            return Err(rerr(s, "no constraints"));
        }
        if cs == "*" {
            return Ok(VersRange {
                scheme_name,
                scheme,
                star: true,
                constraints: Vec::new(),
            });
        }
        let mut constraints = Vec::new();
        for c in cs.split('|') {
            if c.is_empty() {
                return Err(rerr(s, "empty constraint"));
            }
            let (op, v) = if let Some(v) = c.strip_prefix(">=") {
                (Comparator::Ge, v)
            } else if let Some(v) = c.strip_prefix("<=") {
                (Comparator::Le, v)
            } else if let Some(v) = c.strip_prefix("!=") {
                (Comparator::Ne, v)
            } else if let Some(v) = c.strip_prefix('>') {
                (Comparator::Gt, v)
            } else if let Some(v) = c.strip_prefix('<') {
                (Comparator::Lt, v)
            } else if let Some(v) = c.strip_prefix('=') {
                (Comparator::Eq, v)
            } else {
                (Comparator::Eq, c)
            };
            if v.is_empty() || v == "*" {
                return Err(rerr(s, format!("constraint `{c}` has no version")));
            }
            let version = percent_decode_lossy(v);
            constraints.push(Constraint { op, version });
        }
        Ok(VersRange {
            scheme_name,
            scheme,
            star: false,
            constraints,
        })
    }

    /// Parses and validates the canonical form required by the vers specification: lower-case scheme, no
    /// whitespace, constraints sorted by version with no version repeated, `=` written without operator, and
    /// the `>`/`>=` ... `<`/`<=` alternation once `=` and `!=` are set aside. Non-canonical input is an error,
    /// never normalised silently.
    pub fn parse_canonical(s: &str) -> Result<VersRange, RangeError> {
        let r = VersRange::parse(s)?;
        if r.to_string() != s {
            let canon = r
                .normalised()
                .map(|n| n.to_string())
                .unwrap_or_else(|e| e.reason);
            return Err(rerr(
                s,
                format!("not in canonical form (canonical: `{canon}`)"),
            ));
        }
        r.check_alternation(s)?;
        Ok(r)
    }

    /// The canonical form of this range: constraints sorted by version under the scheme, duplicates removed.
    pub fn normalised(&self) -> Result<VersRange, RangeError> {
        let scheme = self
            .scheme
            .ok_or_else(|| rerr(&self.scheme_name, "unknown versioning scheme"))?;
        let mut parsed: Vec<(Version, Constraint)> = Vec::new();
        for c in &self.constraints {
            let v = scheme
                .parse(&c.version)
                .map_err(|e| rerr(&self.to_string(), e.to_string()))?;
            parsed.push((v, c.clone()));
        }
        parsed.sort_by(|a, b| a.0.cmp(&b.0));
        parsed.dedup_by(|a, b| a.0 == b.0 && a.1.op == b.1.op);
        Ok(VersRange {
            constraints: parsed.into_iter().map(|(_, c)| c).collect(),
            ..self.clone()
        })
    }

    fn check_alternation(&self, s: &str) -> Result<(), RangeError> {
        let scheme = self
            .scheme
            .ok_or_else(|| rerr(s, "unknown versioning scheme"))?;
        let mut prev: Option<Version> = None;
        for c in &self.constraints {
            let v = scheme
                .parse(&c.version)
                .map_err(|e| rerr(s, e.to_string()))?;
            if let Some(p) = &prev {
                if *p >= v {
                    return Err(rerr(
                        s,
                        "constraints not sorted by version, or a version repeated",
                    ));
                }
            }
            prev = Some(v);
        }
        let rest: Vec<Comparator> = self
            .constraints
            .iter()
            .map(|c| c.op)
            .filter(|o| !matches!(o, Comparator::Eq | Comparator::Ne))
            .collect();
        for w in rest.windows(2) {
            let lower = |o: Comparator| matches!(o, Comparator::Gt | Comparator::Ge);
            if lower(w[0]) == lower(w[1]) {
                return Err(rerr(
                    s,
                    "comparators must alternate between `>`/`>=` and `<`/`<=`",
                ));
            }
        }
        Ok(())
    }

    /// Does the range contain `version`? Follows the vers specification: `*` contains all; an `=` match
    /// contains and a `!=` match excludes; then the remaining constraints are walked in pairs.
    pub fn contains(&self, version: &str) -> Result<bool, VersionError> {
        let scheme = self.scheme.unwrap_or(Scheme::Generic);
        let v = scheme.parse(version)?;
        self.contains_version(&v)
    }

    /// As [`VersRange::contains`], for an already parsed version (of this range's scheme).
    pub fn contains_version(&self, v: &Version) -> Result<bool, VersionError> {
        if self.star {
            return Ok(true);
        }
        let scheme = v.scheme();
        let mut rest: Vec<(Comparator, Version)> = Vec::new();
        let mut had_ne = false;
        for c in &self.constraints {
            let cv = scheme.parse(&c.version)?;
            let o = v.cmp(&cv);
            match c.op {
                Comparator::Eq if o == Ordering::Equal => return Ok(true),
                Comparator::Ne if o == Ordering::Equal => return Ok(false),
                Comparator::Eq => {}
                Comparator::Ne => had_ne = true,
                op => rest.push((op, cv)),
            }
        }
        if rest.is_empty() {
            return Ok(had_ne);
        }
        rest.sort_by(|a, b| a.1.cmp(&b.1));
        let n = rest.len();
        let lower = |o: Comparator| matches!(o, Comparator::Gt | Comparator::Ge);
        for i in 0..n {
            let (op, cv) = &rest[i];
            let ok = op.test(v.cmp(cv));
            if i == 0 && !lower(*op) && ok {
                return Ok(true);
            }
            if i == n - 1 && lower(*op) && ok {
                return Ok(true);
            }
            if i + 1 < n
                && lower(*op)
                && !lower(rest[i + 1].0)
                && ok
                && rest[i + 1].0.test(v.cmp(&rest[i + 1].1))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn percent_decode_lossy(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Display for VersRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vers:{}/", self.scheme_name)?;
        if self.star {
            return f.write_str("*");
        }
        for (i, c) in self.constraints.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            write!(f, "{}{}", c.op.as_str(), c.version)?;
        }
        Ok(())
    }
}

/// Builds a `vers:` range from native comparator text as found in CSAF `product_version_range` names and
/// CVE records (`<=1.9.4.1`, `>= 2.0, < 3.1`, `< V3.2`): comparators separated by `,`, `|` or whitespace.
pub fn vers_from_native(scheme: Scheme, native: &str) -> Result<VersRange, RangeError> {
    let t = native.trim();
    if t.starts_with("vers:") {
        return VersRange::parse(t);
    }
    // Tokens are runs of comparator characters and runs of version characters; `,`, `|` and whitespace
    // separate, and so does the switch from a version back to a comparator (`>=7.80<9.40`).
    let mut tokens: Vec<(bool, String)> = Vec::new();
    for c in t.chars() {
        let is_op = matches!(c, '<' | '>' | '=' | '!');
        if matches!(c, ',' | '|') || c.is_whitespace() {
            tokens.push((false, String::new()));
            continue;
        }
        match tokens.last_mut() {
            Some((op, cur)) if *op == is_op && !cur.is_empty() => cur.push(c),
            _ => tokens.push((is_op, c.to_string())),
        }
    }
    let mut constraints = Vec::new();
    let mut pending: Option<Comparator> = None;
    for (is_op, tok) in tokens.into_iter().filter(|(_, x)| !x.is_empty()) {
        if is_op {
            if pending.is_some() {
                return Err(rerr(native, "two comparators in a row"));
            }
            pending = Some(match tok.as_str() {
                ">=" => Comparator::Ge,
                "<=" => Comparator::Le,
                "!=" => Comparator::Ne,
                "==" | "=" => Comparator::Eq,
                ">" => Comparator::Gt,
                "<" => Comparator::Lt,
                other => return Err(rerr(native, format!("unknown comparator `{other}`"))),
            });
        } else {
            let op = pending
                .take()
                .ok_or_else(|| rerr(native, format!("`{tok}` has no comparator")))?;
            constraints.push(Constraint { op, version: tok });
        }
    }
    if pending.is_some() {
        return Err(rerr(native, "comparator without a version"));
    }
    if constraints.is_empty() {
        return Err(rerr(native, "no comparator found"));
    }
    Ok(VersRange {
        scheme_name: scheme.as_str().to_string(),
        scheme: Some(scheme),
        star: false,
        constraints,
    })
}

// ---------------------------------------------------------------- Cargo requirements (RustSec)

/// A Cargo version requirement (`>= 1.2.3, < 1.3.0`, `^0.9`, `~1.2`, `=1.0.0`, `1.*`) with the semver crate's
/// matching rules, including its pre-release rule (a pre-release only matches a comparator on the same
/// major.minor.patch that itself has a pre-release).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CargoReq {
    /// The requirement as written.
    pub text: String,
    /// The equivalent simple comparators, all of which must hold.
    pub bounds: Vec<Constraint>,
    /// The (major, minor, patch) of comparators written with a pre-release.
    #[serde(skip)]
    pre_cores: Vec<(String, String, String)>,
}

/// Read back from the serialised form by parsing `text` again (the parsed parts are derived from it).
impl<'de> Deserialize<'de> for CargoReq {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Repr {
            text: String,
        }
        let r = Repr::deserialize(d)?;
        CargoReq::parse(&r.text).map_err(serde::de::Error::custom)
    }
}

impl CargoReq {
    /// Parses a Cargo requirement.
    pub fn parse(text: &str) -> Result<CargoReq, RangeError> {
        let mut bounds = Vec::new();
        let mut pre_cores = Vec::new();
        let t = text.trim();
        if t.is_empty() {
            return Err(rerr(text, "empty requirement"));
        }
        for part in t.split(',') {
            let p = part.trim();
            if p == "*" {
                continue;
            }
            let (op, v) = [">=", "<=", ">", "<", "=", "^", "~"]
                .iter()
                .find_map(|o| p.strip_prefix(o).map(|r| (*o, r.trim())))
                .unwrap_or(("^", p));
            let nums: Vec<&str> = v.split(['.', '-', '+']).collect();
            let (core, pre) = match v.split_once('-') {
                Some((c, pr)) => (c, Some(pr)),
                None => (v.split_once('+').map_or(v, |x| x.0), None),
            };
            let parts: Vec<&str> = core.split('.').collect();
            if parts.is_empty() || parts.len() > 3 || nums.is_empty() {
                return Err(rerr(text, format!("bad comparator `{p}`")));
            }
            let mut n: Vec<Option<u64>> = Vec::new();
            for x in &parts {
                if *x == "*" || *x == "x" || *x == "X" {
                    n.push(None);
                } else {
                    n.push(Some(
                        x.parse()
                            .map_err(|_| rerr(text, format!("bad number in `{p}`")))?,
                    ));
                }
            }
            while n.len() < 3 {
                n.push(None);
            }
            let full = |a: u64, b: u64, c: u64| format!("{a}.{b}.{c}");
            let exact = if let (Some(a), Some(b), Some(c)) = (n[0], n[1], n[2]) {
                Some(match pre {
                    Some(pr) => {
                        pre_cores.push((a.to_string(), b.to_string(), c.to_string()));
                        format!("{a}.{b}.{c}-{pr}")
                    }
                    None => full(a, b, c),
                })
            } else {
                None
            };
            let mut push = |op: Comparator, v: String| bounds.push(Constraint { op, version: v });
            let (a, b, c) = (n[0], n[1], n[2]);
            let Some(a) = a else { continue };
            match (op, exact) {
                (">=", Some(e)) => push(Comparator::Ge, e),
                (">", Some(e)) => push(Comparator::Gt, e),
                ("<=", Some(e)) => push(Comparator::Le, e),
                ("<", Some(e)) => push(Comparator::Lt, e),
                ("=", Some(e)) => push(Comparator::Eq, e),
                ("~", Some(e)) => {
                    push(Comparator::Ge, e);
                    push(Comparator::Lt, full(a, b.unwrap_or(0) + 1, 0));
                }
                ("^", Some(e)) => {
                    push(Comparator::Ge, e);
                    let (b, c) = (b.unwrap_or(0), c.unwrap_or(0));
                    push(
                        Comparator::Lt,
                        if a > 0 {
                            full(a + 1, 0, 0)
                        } else if b > 0 {
                            full(0, b + 1, 0)
                        } else {
                            full(0, 0, c + 1)
                        },
                    );
                }
                (op, None) => {
                    // Partial versions: `>=1.2` is `>=1.2.0`, `<=1.2` is `<1.3.0`, `^0.0` is `<0.1.0`, ...
                    let lo = full(a, b.unwrap_or(0), 0);
                    let hi = match b {
                        Some(b) => full(a, b + 1, 0),
                        None => full(a + 1, 0, 0),
                    };
                    match op {
                        ">=" => push(Comparator::Ge, lo),
                        ">" => push(Comparator::Ge, hi),
                        "<" => push(Comparator::Lt, lo),
                        "<=" => push(Comparator::Lt, hi),
                        "^" if a == 0 && b.is_some() && b != Some(0) => {
                            push(Comparator::Ge, lo);
                            push(Comparator::Lt, full(0, b.unwrap_or(0) + 1, 0));
                        }
                        "^" if a == 0 && b == Some(0) => {
                            push(Comparator::Ge, lo);
                            push(Comparator::Lt, full(0, 1, 0));
                        }
                        _ => {
                            push(Comparator::Ge, lo);
                            push(Comparator::Lt, hi);
                        }
                    }
                }
                (o, Some(_)) => return Err(rerr(text, format!("unknown operator `{o}`"))),
            }
        }
        for b in &bounds {
            Scheme::Cargo
                .parse(&b.version)
                .map_err(|e| rerr(text, e.to_string()))?;
        }
        Ok(CargoReq {
            text: t.to_string(),
            bounds,
            pre_cores,
        })
    }

    /// Does the requirement match `v` (a Cargo version)?
    pub fn matches(&self, v: &Version) -> Result<bool, VersionError> {
        for b in &self.bounds {
            let bv = Scheme::Cargo.parse(&b.version)?;
            if !b.op.test(v.cmp(&bv)) {
                return Ok(false);
            }
        }
        if v.is_prerelease() {
            let core = v
                .semver_core()
                .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
            let norm = |x: &str| {
                let t = x.trim_start_matches('0');
                t.to_string()
            };
            return Ok(core.is_some_and(|(a, b, c)| {
                self.pre_cores
                    .iter()
                    .any(|(x, y, z)| norm(x) == a && norm(y) == b && norm(z) == c)
            }));
        }
        Ok(true)
    }

    /// The requirement as a `vers:cargo` range (for comparison with other tools).
    pub fn to_vers(&self) -> VersRange {
        VersRange {
            scheme_name: "cargo".into(),
            scheme: Some(Scheme::Cargo),
            star: self.bounds.is_empty(),
            constraints: self.bounds.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(kind: RangeKind, ev: &[(&str, &str)]) -> OsvRange {
        OsvRange {
            kind,
            repo: None,
            events: ev
                .iter()
                .map(|(k, v)| match *k {
                    "i" => Event::Introduced(v.to_string()),
                    "f" => Event::Fixed(v.to_string()),
                    "l" => Event::LastAffected(v.to_string()),
                    _ => Event::Limit(v.to_string()),
                })
                .collect(),
        }
    }

    #[test]
    fn multiple_pairs_in_one_range() {
        // The Dependency-Track trap: one range with two introduced/fixed pairs.
        let rg = r(
            RangeKind::Ecosystem,
            &[("i", "1.0"), ("f", "1.5"), ("i", "2.0"), ("f", "2.3")],
        );
        rg.validate().unwrap();
        let c = |v| rg.contains(Scheme::Pypi, v).unwrap();
        assert!(!c("0.9"));
        assert!(c("1.0"));
        assert!(c("1.4.9"));
        assert!(!c("1.5"));
        assert!(!c("1.9"));
        assert!(c("2.0"));
        assert!(c("2.2"));
        assert!(!c("2.3"));
        assert!(!c("3.0"));
        // The same events given out of order evaluate the same.
        let shuffled = r(
            RangeKind::Ecosystem,
            &[("f", "2.3"), ("i", "2.0"), ("f", "1.5"), ("i", "1.0")],
        );
        for v in ["0.9", "1.0", "1.7", "2.1", "2.3"] {
            assert_eq!(shuffled.contains(Scheme::Pypi, v).unwrap(), c(v), "{v}");
        }
    }

    #[test]
    fn last_affected_and_limit() {
        let rg = r(RangeKind::Semver, &[("i", "0"), ("l", "1.2.3")]);
        assert!(rg.contains(Scheme::Semver, "1.2.3").unwrap());
        assert!(rg.contains(Scheme::Semver, "0.0.1").unwrap());
        assert!(!rg.contains(Scheme::Semver, "1.2.4").unwrap());
        assert!(!rg.contains(Scheme::Semver, "1.2.4-alpha").unwrap());
        let lim = r(RangeKind::Semver, &[("i", "1.0.0"), ("x", "*")]);
        assert!(lim.contains(Scheme::Semver, "9.0.0").unwrap());
        let lim = r(RangeKind::Semver, &[("i", "1.0.0"), ("l", "2.0.0")]);
        assert!(lim.contains(Scheme::Semver, "1.5.0").unwrap());
        let lim = OsvRange {
            events: vec![
                Event::Introduced("1.0.0".into()),
                Event::Limit("2.0.0".into()),
            ],
            ..r(RangeKind::Semver, &[])
        };
        assert!(lim.contains(Scheme::Semver, "1.5.0").unwrap());
        assert!(!lim.contains(Scheme::Semver, "2.5.0").unwrap());
        let bad = r(RangeKind::Semver, &[("f", "1.0.0")]);
        assert!(bad.validate().is_err());
        let mixed = r(
            RangeKind::Semver,
            &[("i", "0"), ("f", "1.0.0"), ("l", "2.0.0")],
        );
        assert!(mixed.validate().is_err());
        let git = r(RangeKind::Git, &[("i", "0"), ("f", "abcdef")]);
        assert!(!git.contains(Scheme::Pypi, "1.0").unwrap());
        let unparseable = r(RangeKind::Ecosystem, &[("i", "0"), ("f", "not a version")]);
        assert!(unparseable.contains(Scheme::Pypi, "1.0").is_err());
    }

    #[test]
    fn debian_epoch_trap() {
        // `7:5.1.6` is far above a `<= 2.8.9` range: the epoch wins.
        let rg = r(RangeKind::Ecosystem, &[("i", "0"), ("l", "2.8.9")]);
        assert!(!rg.contains(Scheme::Deb, "7:5.1.6").unwrap());
        assert!(rg.contains(Scheme::Deb, "2.8.9").unwrap());
        let vr = VersRange::parse("vers:deb/<=2.8.9").unwrap();
        assert!(!vr.contains("7:5.1.6").unwrap());
        assert!(vr.contains("2.8.8-1").unwrap());
    }

    #[test]
    fn vers_parse_and_contains() {
        let v = VersRange::parse_canonical("vers:npm/1.2.3|>=2.0.0|<5.0.0").unwrap();
        assert!(v.contains("1.2.3").unwrap());
        assert!(!v.contains("1.2.4").unwrap());
        assert!(v.contains("4.9.9").unwrap());
        assert!(!v.contains("5.0.0").unwrap());
        assert!(VersRange::parse_canonical("vers:npm/<5.0.0|>=2.0.0").is_err());
        assert!(VersRange::parse_canonical("vers:NPM/>=2.0.0").is_err());
        assert!(VersRange::parse_canonical("vers:npm/>=2.0.0|>=3.0.0").is_err());
        assert!(VersRange::parse_canonical("vers:npm/ >=2.0.0").is_err());
        assert!(VersRange::parse("vers:npm").is_err());
        assert!(VersRange::parse("vers:npm/").is_err());
        let ne = VersRange::parse("vers:pypi/!=1.5.0").unwrap();
        assert!(!ne.contains("1.5.0").unwrap());
        assert!(ne.contains("1.6.0").unwrap());
        assert!(VersRange::parse("vers:npm/*")
            .unwrap()
            .contains("3.0.0")
            .unwrap());
        let p = VersRange::parse("vers:pypi/>=1.0|<2.3.1").unwrap();
        assert!(p.contains("2.3.1rc1").unwrap());
        assert!(!p.contains("2.3.1").unwrap());
        assert!(p.contains("1.0.post1").unwrap());
        let n = vers_from_native(Scheme::Generic, "<=1.9.4.1").unwrap();
        assert!(n.contains("1.9.4").unwrap());
        assert!(!n.contains("1.9.4.2").unwrap());
        let n = vers_from_native(Scheme::Generic, ">=7.80<9.40").unwrap();
        assert!(n.contains("8.1").unwrap() && !n.contains("9.40").unwrap());
        assert!(vers_from_native(Scheme::Generic, "All versions").is_err());
        assert!(vers_from_native(Scheme::Generic, "<").is_err());
        let n = vers_from_native(Scheme::Generic, ">= 2.0, < 3.1").unwrap();
        assert!(n.contains("2.5").unwrap());
        assert_eq!(
            n.normalised().unwrap().to_string(),
            "vers:generic/>=2.0|<3.1"
        );
    }

    #[test]
    fn cargo_requirements() {
        let v = |s: &str| Scheme::Cargo.parse(s).unwrap();
        let r = CargoReq::parse(">= 1.2.3, < 1.3.0").unwrap();
        assert!(r.matches(&v("1.2.5")).unwrap());
        assert!(!r.matches(&v("1.3.0")).unwrap());
        assert!(!r.matches(&v("1.2.4-alpha")).unwrap());
        let r = CargoReq::parse("^0.9").unwrap();
        assert!(r.matches(&v("0.9.7")).unwrap());
        assert!(!r.matches(&v("0.10.0")).unwrap());
        let r = CargoReq::parse("< 0.10.0, >= 0.9.18").unwrap();
        assert!(r.matches(&v("0.9.20")).unwrap());
        let r = CargoReq::parse("~1.2").unwrap();
        assert!(r.matches(&v("1.2.9")).unwrap() && !r.matches(&v("1.3.0")).unwrap());
        let r = CargoReq::parse("<= 0.1.2").unwrap();
        assert!(r.matches(&v("0.1.2")).unwrap() && !r.matches(&v("0.1.3")).unwrap());
        let r = CargoReq::parse(">= 1.0.0-beta.2").unwrap();
        assert!(r.matches(&v("1.0.0-beta.3")).unwrap());
        assert!(CargoReq::parse("").is_err());
        assert!(CargoReq::parse(">= x.y").is_err());
    }
}
