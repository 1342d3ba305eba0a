//! CPE names: CPE 2.3 formatted strings and CPE 2.2 URIs parsed into one normalised form, and CPE name
//! matching (NISTIR 7696) with `*`/`?` wildcards, where ANY matches everything but a value never matches ANY.

use std::fmt;

use serde::{Serialize, Serializer};

/// A malformed CPE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CPE `{input}`: {reason}")]
pub struct CpeError {
    /// The input, truncated to 160 characters.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// One CPE attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CpeValue {
    /// `*` (2.3) or empty (2.2): any value.
    Any,
    /// `-`: not applicable.
    Na,
    /// A lower-case value in 2.3 formatted-string escaping; an unescaped `*` or `?` is a wildcard.
    Value(String),
}

impl CpeValue {
    /// The value with escapes removed (`apache\_http` stays `apache_http`, `1\.0` becomes `1.0`), or None for
    /// ANY/NA.
    pub fn unescaped(&self) -> Option<String> {
        match self {
            CpeValue::Value(v) => {
                let mut out = String::with_capacity(v.len());
                let mut esc = false;
                for c in v.chars() {
                    if esc {
                        out.push(c);
                        esc = false;
                    } else if c == '\\' {
                        esc = true;
                    } else {
                        out.push(c);
                    }
                }
                Some(out)
            }
            _ => None,
        }
    }

    fn fs(&self) -> &str {
        match self {
            CpeValue::Any => "*",
            CpeValue::Na => "-",
            CpeValue::Value(v) => v,
        }
    }

    fn has_wildcard(&self) -> bool {
        match self {
            CpeValue::Value(v) => {
                let mut esc = false;
                for c in v.chars() {
                    if esc {
                        esc = false;
                    } else if c == '\\' {
                        esc = true;
                    } else if c == '*' || c == '?' {
                        return true;
                    }
                }
                false
            }
            _ => false,
        }
    }
}

/// A CPE 2.3 name (WFN attributes), all values lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cpe {
    /// `a` application, `o` operating system, `h` hardware (or ANY).
    pub part: CpeValue,
    /// Vendor.
    pub vendor: CpeValue,
    /// Product.
    pub product: CpeValue,
    /// Version.
    pub version: CpeValue,
    /// Update.
    pub update: CpeValue,
    /// Edition.
    pub edition: CpeValue,
    /// Language.
    pub language: CpeValue,
    /// Software edition.
    pub sw_edition: CpeValue,
    /// Target software.
    pub target_sw: CpeValue,
    /// Target hardware.
    pub target_hw: CpeValue,
    /// Other.
    pub other: CpeValue,
}

fn err(input: &str, reason: impl Into<String>) -> CpeError {
    CpeError {
        input: input.chars().take(160).collect(),
        reason: reason.into(),
    }
}

/// Splits a 2.3 formatted string on unescaped colons.
fn split_fs(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut esc = false;
    for c in s.chars() {
        let last = out.len() - 1;
        if esc {
            out[last].push(c);
            esc = false;
        } else if c == '\\' {
            out[last].push(c);
            esc = true;
        } else if c == ':' {
            out.push(String::new());
        } else {
            out[last].push(c);
        }
    }
    out
}

fn fs_value(input: &str, raw: &str) -> Result<CpeValue, CpeError> {
    match raw {
        "*" | "" => Ok(CpeValue::Any),
        "-" => Ok(CpeValue::Na),
        v => {
            if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(err(input, "whitespace in attribute"));
            }
            if v.ends_with('\\') && !v.ends_with("\\\\") {
                return Err(err(input, "dangling escape"));
            }
            // `\.`, `\-` and `\_` are legal but need no quoting in a formatted string: drop the escape so
            // that equal names compare equal.
            let mut out = String::with_capacity(v.len());
            let mut it = v.chars().peekable();
            while let Some(c) = it.next() {
                if c == '\\' {
                    match it.next() {
                        Some(n @ ('.' | '-' | '_')) => out.push(n),
                        Some(n) => {
                            out.push('\\');
                            out.extend(n.to_lowercase());
                        }
                        None => out.push('\\'),
                    }
                } else {
                    out.extend(c.to_lowercase());
                }
            }
            Ok(CpeValue::Value(out))
        }
    }
}

fn uri_value(input: &str, raw: &str) -> Result<CpeValue, CpeError> {
    match raw {
        "" => Ok(CpeValue::Any),
        "-" => Ok(CpeValue::Na),
        v => {
            let mut out = String::new();
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                let c = if b[i] == b'%' {
                    let hex = v
                        .get(i + 1..i + 3)
                        .ok_or_else(|| err(input, "truncated percent-escape"))?;
                    i += 3;
                    match hex.to_ascii_lowercase().as_str() {
                        "01" => {
                            out.push('?');
                            continue;
                        }
                        "02" => {
                            out.push('*');
                            continue;
                        }
                        h => u8::from_str_radix(h, 16)
                            .map_err(|_| err(input, "bad percent-escape"))?
                            as char,
                    }
                } else {
                    i += 1;
                    b[i - 1] as char
                };
                // Re-escape into 2.3 formatted-string form: everything but alnum and `_` is quoted.
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                    out.push(c.to_ascii_lowercase());
                } else if c.is_whitespace() || c.is_control() {
                    return Err(err(input, "whitespace in attribute"));
                } else {
                    out.push('\\');
                    out.push(c);
                }
            }
            Ok(CpeValue::Value(out))
        }
    }
}

impl Cpe {
    /// Parses a CPE 2.3 formatted string (`cpe:2.3:a:vendor:product:...`, 13 fields) or a CPE 2.2 URI
    /// (`cpe:/a:vendor:product:version:update:edition:language`, packed `~` editions unpacked).
    pub fn parse(input: &str) -> Result<Cpe, CpeError> {
        let s = input.trim();
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("cpe:2.3:") {
            let f = split_fs(s);
            if f.len() != 13 {
                return Err(err(
                    input,
                    format!("a 2.3 formatted string has 13 fields, found {}", f.len()),
                ));
            }
            let v = |k: usize| fs_value(input, &f[k]);
            let cpe = Cpe {
                part: v(2)?,
                vendor: v(3)?,
                product: v(4)?,
                version: v(5)?,
                update: v(6)?,
                edition: v(7)?,
                language: v(8)?,
                sw_edition: v(9)?,
                target_sw: v(10)?,
                target_hw: v(11)?,
                other: v(12)?,
            };
            cpe.check_part(input)?;
            Ok(cpe)
        } else if let Some(rest) = lower.strip_prefix("cpe:/") {
            let f: Vec<&str> = rest.split(':').collect();
            if f.len() > 7 {
                return Err(err(input, "a 2.2 URI has at most 7 components"));
            }
            let g = |k: usize| f.get(k).copied().unwrap_or("");
            let v = |k: usize| uri_value(input, g(k));
            // 2.2 order is part:vendor:product:version:update:edition:language; a packed edition
            // (`~edition~sw_edition~target_sw~target_hw~other`) carries the 2.3 extended attributes.
            let (edition, sw_edition, target_sw, target_hw, other) = if g(5).starts_with('~') {
                let p: Vec<&str> = g(5).split('~').collect();
                if p.len() != 6 {
                    return Err(err(input, "packed edition needs 5 `~`-separated parts"));
                }
                (
                    uri_value(input, p[1])?,
                    uri_value(input, p[2])?,
                    uri_value(input, p[3])?,
                    uri_value(input, p[4])?,
                    uri_value(input, p[5])?,
                )
            } else {
                (
                    v(5)?,
                    CpeValue::Any,
                    CpeValue::Any,
                    CpeValue::Any,
                    CpeValue::Any,
                )
            };
            let cpe = Cpe {
                part: v(0)?,
                vendor: v(1)?,
                product: v(2)?,
                version: v(3)?,
                update: v(4)?,
                edition,
                language: v(6)?,
                sw_edition,
                target_sw,
                target_hw,
                other,
            };
            cpe.check_part(input)?;
            Ok(cpe)
        } else {
            Err(err(input, "does not start with `cpe:2.3:` or `cpe:/`"))
        }
    }

    fn check_part(&self, input: &str) -> Result<(), CpeError> {
        match &self.part {
            CpeValue::Any => Ok(()),
            CpeValue::Value(p) if matches!(p.as_str(), "a" | "o" | "h") => Ok(()),
            _ => Err(err(input, "part must be a, o or h")),
        }
    }

    fn attrs(&self) -> [&CpeValue; 11] {
        [
            &self.part,
            &self.vendor,
            &self.product,
            &self.version,
            &self.update,
            &self.edition,
            &self.language,
            &self.sw_edition,
            &self.target_sw,
            &self.target_hw,
            &self.other,
        ]
    }

    /// The CPE 2.3 formatted string.
    pub fn to_fs(&self) -> String {
        let mut s = String::from("cpe:2.3");
        for a in self.attrs() {
            s.push(':');
            s.push_str(a.fs());
        }
        s
    }

    /// The vendor, unescaped (None when ANY or NA).
    pub fn vendor_str(&self) -> Option<String> {
        self.vendor.unescaped()
    }

    /// The product, unescaped (None when ANY or NA).
    pub fn product_str(&self) -> Option<String> {
        self.product.unescaped()
    }

    /// The version, unescaped, when it is a concrete value (None for ANY, NA, or a wildcard pattern).
    pub fn version_str(&self) -> Option<String> {
        if self.version.has_wildcard() {
            None
        } else {
            self.version.unescaped()
        }
    }

    /// CPE name matching (NISTIR 7696): true when `self`, used as a source pattern, matches the `target` name
    /// in every attribute (relation SUPERSET or EQUAL). ANY in the source matches anything; a value in the
    /// source never matches ANY in the target (that would be SUBSET); NA only matches NA.
    pub fn matches(&self, target: &Cpe) -> bool {
        self.attrs()
            .iter()
            .zip(target.attrs())
            .all(|(s, t)| attr_matches(s, t))
    }

    /// As [`Cpe::matches`], leaving out version and update, which matching evaluates through version ranges.
    pub fn matches_ignoring_version(&self, target: &Cpe) -> bool {
        self.attrs()
            .iter()
            .zip(target.attrs())
            .enumerate()
            .all(|(k, (s, t))| k == 3 || k == 4 || attr_matches(s, t))
    }
}

fn attr_matches(source: &CpeValue, target: &CpeValue) -> bool {
    match (source, target) {
        (CpeValue::Any, _) => true,
        (CpeValue::Na, CpeValue::Na) => true,
        (CpeValue::Na, _) => false,
        (CpeValue::Value(_), CpeValue::Any | CpeValue::Na) => false,
        (CpeValue::Value(s), CpeValue::Value(t)) => {
            if target.has_wildcard() {
                return false;
            }
            if source.has_wildcard() {
                glob(&tokens(s), &tokens(t))
            } else {
                s == t
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(String),
    Star,
    Q,
}

fn tokens(v: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut it = v.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => out.push(Tok::Lit(format!("\\{}", it.next().unwrap_or('\\')))),
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::Q),
            c => out.push(Tok::Lit(c.to_string())),
        }
    }
    out
}

fn glob(p: &[Tok], t: &[Tok]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((Tok::Star, rest)) => (0..=t.len()).any(|k| glob(rest, &t[k..])),
        Some((Tok::Q, rest)) => !t.is_empty() && glob(rest, &t[1..]),
        Some((lit, rest)) => t.first() == Some(lit) && glob(rest, &t[1..]),
    }
}

impl fmt::Display for Cpe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_fs())
    }
}

impl Serialize for Cpe {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_fs())
    }
}

impl<'de> serde::Deserialize<'de> for Cpe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Cpe::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for Cpe {
    type Err = CpeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cpe::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_23_and_22() {
        let a = Cpe::parse("cpe:2.3:a:Apache:HTTP_Server:2.4.49:*:*:*:*:*:*:*").unwrap();
        assert_eq!(a.vendor_str().as_deref(), Some("apache"));
        assert_eq!(a.version_str().as_deref(), Some("2.4.49"));
        let b = Cpe::parse("cpe:/a:apache:http_server:2.4.49").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            b.to_fs(),
            "cpe:2.3:a:apache:http_server:2.4.49:*:*:*:*:*:*:*"
        );
        let c =
            Cpe::parse("cpe:/a:microsoft:internet_explorer:8.0.6001:beta:~~~windows~x86~").unwrap();
        assert_eq!(c.update, CpeValue::Value("beta".into()));
        assert_eq!(c.target_sw, CpeValue::Value("windows".into()));
        assert_eq!(c.target_hw, CpeValue::Value("x86".into()));
        let d = Cpe::parse(r"cpe:2.3:a:foo\:bar:baz:1\.0:*:*:*:*:*:*:*").unwrap();
        assert_eq!(d.vendor_str().as_deref(), Some("foo:bar"));
        assert_eq!(d.version_str().as_deref(), Some("1.0"));
        let e = Cpe::parse("cpe:/a:foo%2fbar:baz:1.0").unwrap();
        assert_eq!(e.vendor_str().as_deref(), Some("foo/bar"));
    }

    #[test]
    fn rejects_bad() {
        for s in [
            "",
            "cpe:2.3:a:b",
            "cpe:2.3:x:a:b:c:d:e:f:g:h:i:j",
            "cpe:/a:b:c:d:e:f:g:h",
            "cpe:2.3:a:a b:c:*:*:*:*:*:*:*:*",
        ] {
            assert!(Cpe::parse(s).is_err(), "accepted {s}");
        }
    }

    #[test]
    fn vendor_wildcard_does_not_match_unrelated_products() {
        let pattern = Cpe::parse("cpe:2.3:a:*:log4j:*:*:*:*:*:*:*:*").unwrap();
        let tomcat = Cpe::parse("cpe:2.3:a:apache:tomcat:9.0.1:*:*:*:*:*:*:*").unwrap();
        let log4j = Cpe::parse("cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*").unwrap();
        assert!(!pattern.matches(&tomcat));
        assert!(pattern.matches(&log4j));
        let star = Cpe::parse("cpe:2.3:a:apache:tom*:*:*:*:*:*:*:*:*").unwrap();
        assert!(star.matches(&tomcat));
        assert!(!star.matches(&log4j));
        // A concrete source value never matches an ANY target.
        let any_vendor = Cpe::parse("cpe:2.3:a:*:tomcat:*:*:*:*:*:*:*:*").unwrap();
        let concrete = Cpe::parse("cpe:2.3:a:apache:tomcat:*:*:*:*:*:*:*:*").unwrap();
        assert!(!concrete.matches(&any_vendor));
        assert!(any_vendor.matches(&concrete));
        let na = Cpe::parse("cpe:2.3:a:apache:tomcat:-:*:*:*:*:*:*:*").unwrap();
        assert!(!na.matches(&tomcat));
    }
}
