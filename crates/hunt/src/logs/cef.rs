//! ArcSight Common Event Format (CEF) and IBM QRadar's Log Event Extended Format (LEEF): the two envelopes most
//! security products export to a SIEM (Check Point, Palo Alto, Fortinet, Trend Micro, Zscaler, Imperva, Sophos,
//! Cisco, Proofpoint, ...). One line is a header of `|`-separated fields and an extension of `key=value`
//! pairs; only the extension's keys below are read, by the role the CEF dictionary (and LEEF's predefined
//! attributes) gives them.

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};

use super::{
    build_url, find_short, is_whole_url, push_list, url_host, LogTz, Parsed, Record, TsKind,
};
use crate::set::Role;

/// The extension keys read, as either dialect writes them: CEF's short names and their full forms, LEEF's
/// predefined attributes, and the names vendors commonly add. A `csN` string's role is its `csNLabel`'s.
pub(super) const KV_FIELDS: &[(&str, Role)] = &[
    ("src", Role::SrcIp),
    ("dst", Role::DstIp),
    ("spt", Role::SrcPort),
    ("dpt", Role::DstPort),
    ("proto", Role::Proto),
    ("dhost", Role::Domain),
    ("destinationDnsDomain", Role::Domain),
    ("request", Role::Url),
    ("fileHash", Role::Hash),
    ("oldFileHash", Role::Hash),
    ("suser", Role::Email),
    ("duser", Role::Email),
    ("sourceAddress", Role::SrcIp),
    ("destinationAddress", Role::DstIp),
    ("sourcePort", Role::SrcPort),
    ("destinationPort", Role::DstPort),
    ("transportProtocol", Role::Proto),
    ("destinationHostName", Role::Domain),
    ("requestUrl", Role::Url),
    ("srcPort", Role::SrcPort),
    ("dstPort", Role::DstPort),
    ("url", Role::Url),
    ("sha256", Role::Hash),
    ("sha1", Role::Hash),
    ("md5", Role::Hash),
    ("sender", Role::Email),
    ("recipient", Role::Email),
    // Roles from their labels (`cs1Label=DNS Query`); `Domain` is a placeholder.
    ("cs1", Role::Domain),
    ("cs2", Role::Domain),
    ("cs3", Role::Domain),
    ("cs4", Role::Domain),
    ("cs5", Role::Domain),
    ("cs6", Role::Domain),
];

/// Index of `cs1` in [`KV_FIELDS`].
const CS1: usize = 27;

/// The role a custom string's label gives it (case, spaces, `_` and `-` ignored), if it names something
/// matchable.
fn label_role(label: &[u8]) -> Option<Role> {
    let mut l = [0u8; 24];
    let mut n = 0;
    for &c in label {
        if c == b' ' || c == b'_' || c == b'-' {
            continue;
        }
        *l.get_mut(n)? = c.to_ascii_lowercase();
        n += 1;
    }
    Some(match &l[..n] {
        b"url" | b"requesturl" | b"fullurl" | b"uri" => Role::Url,
        b"domain" | b"domainname" | b"dnsquery" | b"query" | b"queryname" | b"dnsname"
        | b"host" | b"hostname" | b"fqdn" | b"destinationdomain" | b"dnsdomain" => Role::Domain,
        b"filehash" | b"hash" | b"sha256" | b"sha1" | b"md5" | b"filesha256" | b"filemd5"
        | b"filesha1" => Role::Hash,
        b"sender" | b"recipient" | b"from" | b"to" | b"senderemail" | b"recipientemail"
        | b"emailsender" | b"emailrecipient" => Role::Email,
        _ => return None,
    })
}

/// What an extension key is to the hunt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// Index in [`KV_FIELDS`].
    Field(usize),
    /// A time, by preference (0 first).
    Time(usize),
    /// LEEF's `devTimeFormat`.
    TimeFormat,
    /// `csNLabel`, N - 1.
    Label(usize),
    Other,
}

/// The key's meaning: one `match`, which the compiler turns into a test of the length and then of the bytes
/// (most keys of a line are none of these, and are told so in a few compares).
fn classify(key: &[u8]) -> Key {
    Key::Field(match key {
        b"rt" | b"receiptTime" | b"deviceReceiptTime" | b"devTime" => return Key::Time(0),
        b"end" | b"endTime" => return Key::Time(1),
        b"start" | b"startTime" => return Key::Time(2),
        b"devTimeFormat" => return Key::TimeFormat,
        b"cs1Label" => return Key::Label(0),
        b"cs2Label" => return Key::Label(1),
        b"cs3Label" => return Key::Label(2),
        b"cs4Label" => return Key::Label(3),
        b"cs5Label" => return Key::Label(4),
        b"cs6Label" => return Key::Label(5),
        b"src" => 0,
        b"dst" => 1,
        b"spt" => 2,
        b"dpt" => 3,
        b"proto" => 4,
        b"dhost" => 5,
        b"destinationDnsDomain" => 6,
        b"request" => 7,
        b"fileHash" => 8,
        b"oldFileHash" => 9,
        b"suser" => 10,
        b"duser" => 11,
        b"sourceAddress" => 12,
        b"destinationAddress" => 13,
        b"sourcePort" => 14,
        b"destinationPort" => 15,
        b"transportProtocol" => 16,
        b"destinationHostName" => 17,
        b"requestUrl" => 18,
        b"srcPort" => 19,
        b"dstPort" => 20,
        b"url" => 21,
        b"sha256" => 22,
        b"sha1" => 23,
        b"md5" => 24,
        b"sender" => 25,
        b"recipient" => 26,
        b"cs1" => 27,
        b"cs2" => 28,
        b"cs3" => 29,
        b"cs4" => 30,
        b"cs5" => 31,
        b"cs6" => 32,
        _ => return Key::Other,
    })
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
}

/// True when the byte at `p` is escaped by an odd run of backslashes after `from`.
fn escaped(line: &[u8], from: usize, p: usize) -> bool {
    line[from..p]
        .iter()
        .rev()
        .take_while(|&&c| c == b'\\')
        .count()
        % 2
        == 1
}

/// The end of the `n`th unescaped `|` after `from` (the index after it), or how many there were.
fn after_pipes(line: &[u8], from: usize, n: usize) -> Result<usize, usize> {
    let mut seen = 0;
    for p in memchr::memchr_iter(b'|', &line[from..]) {
        if escaped(line, from, from + p) {
            continue;
        }
        seen += 1;
        if seen == n {
            return Ok(from + p + 1);
        }
    }
    Err(seen)
}

/// CEF's extension pairs from `from` on, as (key, value start, value end): a value runs to the space before the
/// next `key=` (a value may hold spaces; an `=` in it should be escaped, and one that follows no space, as in a
/// URL's query, is taken as part of it).
fn cef_pairs(line: &[u8], from: usize, mut f: impl FnMut(&[u8], usize, usize)) {
    let mut cur: Option<(usize, usize)> = None;
    let trim = |a: usize, mut e: usize| {
        while e > a && line[e - 1].is_ascii_whitespace() {
            e -= 1;
        }
        e
    };
    for p in memchr::memchr_iter(b'=', &line[from..]) {
        let p = from + p;
        let mut k = p;
        while k > from && is_key_char(line[k - 1]) {
            k -= 1;
        }
        if k == p || (k > from && line[k - 1] != b' ') || escaped(line, from, p) {
            continue;
        }
        if let Some((ka, kp)) = cur {
            f(&line[ka..kp], kp + 1, trim(kp + 1, k));
        }
        cur = Some((k, p));
    }
    if let Some((ka, kp)) = cur {
        f(&line[ka..kp], kp + 1, trim(kp + 1, line.len()));
    }
}

/// CEF's escapes in an extension value (`\=`, `\\`, `\n`, `\r`).
fn cef_unescape(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && i + 1 < v.len() {
            out.push(match v[i + 1] {
                b'n' => b'\n',
                b'r' => b'\r',
                c => c,
            });
            i += 2;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    out
}

/// What one line's extension held, gathered before the pieces that depend on each other are pushed.
#[derive(Default)]
struct Gathered {
    /// `request`/`url` and their key's id: a path is joined to the host.
    url: Option<(u16, usize, usize)>,
    host: Option<(usize, usize)>,
    custom: [Option<(usize, usize)>; 6],
    labels: [Option<(usize, usize)>; 6],
    /// `rt`, `end`, `start` (CEF) or `devTime` (LEEF), best first.
    time: [Option<(usize, usize)>; 3],
    time_format: Option<(usize, usize)>,
    any: bool,
}

impl Gathered {
    fn take(&mut self, line: &[u8], rec: &mut Record, key: &[u8], a: usize, b: usize) {
        self.any = true;
        let id = match classify(key) {
            Key::Field(id) => id,
            Key::Time(slot) => {
                self.time[slot] = Some((a, b));
                return;
            }
            Key::TimeFormat => {
                self.time_format = Some((a, b));
                return;
            }
            Key::Label(n) => {
                self.labels[n] = Some((a, b));
                return;
            }
            Key::Other => return,
        };
        let v = &line[a..b];
        if v.is_empty() || v == b"-" || v == b"N/A" {
            return;
        }
        if id >= CS1 {
            self.custom[id - CS1] = Some((a, b));
            return;
        }
        let role = KV_FIELDS[id].1;
        match role {
            Role::Url => self.url = Some((id as u16, a, b)),
            _ if v.contains(&b'\\') => rec.push_scratch(id as u16, role, &cef_unescape(v)),
            // Some products list several names (`dhost=zeus.example, ya.example`).
            Role::Domain if v.contains(&b',') => push_list(rec, id as u16, role, a, v),
            Role::Domain => {
                if self.host.is_none() && (key == b"dhost" || key == b"destinationHostName") {
                    self.host = Some((a, b));
                }
                rec.push(id as u16, role, a, b);
            }
            _ => rec.push(id as u16, role, a, b),
        }
    }

    fn finish(self, line: &[u8], rec: &mut Record, what: &str) -> Result<Parsed, String> {
        if !self.any {
            return Err(format!("no key=value pairs after the {what} header"));
        }
        for (i, c) in self.custom.iter().enumerate() {
            let (Some((a, b)), Some((la, lb))) = (*c, self.labels[i]) else {
                continue;
            };
            let Some(role) = label_role(&line[la..lb]) else {
                continue;
            };
            let id = (CS1 + i) as u16;
            let v = &line[a..b];
            if role == Role::Url && !is_whole_url(v) {
                continue;
            }
            if v.contains(&b'\\') {
                rec.push_scratch(id, role, &cef_unescape(v));
            } else if role == Role::Domain && v.contains(&b',') {
                push_list(rec, id, role, a, v);
            } else {
                rec.push(id, role, a, b);
            }
        }
        if let Some((id, a, b)) = self.url {
            let v = &line[a..b];
            if v.contains(&b'\\') {
                let u = cef_unescape(v);
                if is_whole_url(&u) {
                    rec.push_scratch(id, Role::Url, &u);
                }
            } else if is_whole_url(v) {
                rec.push(id, Role::Url, a, b);
                if self.host.is_none() {
                    // No `dhost`: the URL's host is looked up as a domain too.
                    if let Some((hs, he)) = url_host(v) {
                        rec.push(id, Role::Domain, a + hs, a + he);
                    }
                }
            } else if let Some((ha, hb)) = self.host {
                rec.push_scratch(id, Role::Url, &build_url(b"http", &line[ha..hb], v, None));
            }
        }
        if let Some((a, b)) = self.time.iter().flatten().next().copied() {
            let start = rec.scratch.len();
            rec.scratch.extend_from_slice(&line[a..b]);
            if let Some((fa, fb)) = self.time_format {
                rec.scratch.push(0x1f);
                rec.scratch.extend_from_slice(&line[fa..fb]);
            }
            rec.ts = Some((TsKind::Cef, true, start as u32, rec.scratch.len() as u32));
        }
        Ok(Parsed::Record)
    }
}

/// CEF: `[syslog header] CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|src=10.0.0.5 dst=203.0.113.7
/// dhost=evil.example request=http://evil.example/a rt=1796634932000`.
pub(super) fn parse_cef(line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    let h = find_short(line, b"CEF:").ok_or("no `CEF:` header in a CEF line")?;
    let ext = after_pipes(line, h, 7)
        .map_err(|n| format!("the CEF header has {n} of its 7 `|`-separated fields"))?;
    let mut g = Gathered::default();
    cef_pairs(line, ext, |k, a, b| g.take(line, rec, k, a, b));
    if !g.any && line[ext..].iter().all(u8::is_ascii_whitespace) {
        // A header-only event (no extension) is valid CEF with nothing to match.
        return Ok(Parsed::Record);
    }
    g.finish(line, rec, "CEF")
}

/// LEEF: `[syslog header] LEEF:1.0|Vendor|Product|Version|EventID|src=10.0.0.5<TAB>dst=203.0.113.7` or
/// `LEEF:2.0|Vendor|Product|Version|EventID|^|src=10.0.0.5^dst=...` (the delimiter a character, or its code as
/// `x5E`/`0x5E`; a tab when left out).
pub(super) fn parse_leef(line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    let h = find_short(line, b"LEEF:").ok_or("no `LEEF:` header in a LEEF line")?;
    let mut attrs = after_pipes(line, h, 5)
        .map_err(|n| format!("the LEEF header has {n} of its 5 `|`-separated fields"))?;
    let mut delim = b'\t';
    if line[h..].starts_with(b"LEEF:2") {
        // The optional delimiter field: short, no `=`, closed by a `|`.
        if let Some(p) = line[attrs..line.len().min(attrs + 6)]
            .iter()
            .position(|&c| c == b'|')
        {
            let spec = &line[attrs..attrs + p];
            if !spec.contains(&b'=') {
                delim = match spec {
                    [] => b'\t',
                    [c] => *c,
                    _ => {
                        let hex = spec
                            .strip_prefix(b"0x")
                            .or_else(|| spec.strip_prefix(b"x"))
                            .or_else(|| spec.strip_prefix(b"0X"))
                            .ok_or_else(|| {
                                format!(
                                    "LEEF delimiter {:?} is neither a character nor xHH",
                                    String::from_utf8_lossy(spec)
                                )
                            })?;
                        std::str::from_utf8(hex)
                            .ok()
                            .and_then(|h| u8::from_str_radix(h, 16).ok())
                            .ok_or_else(|| {
                                format!(
                                    "LEEF delimiter {:?} is not a hex code",
                                    String::from_utf8_lossy(spec)
                                )
                            })?
                    }
                };
                attrs += p + 1;
            }
        }
    }
    let mut g = Gathered::default();
    if memchr::memchr(delim, &line[attrs..]).is_none() && delim == b'\t' {
        // Some exporters separate LEEF 1.0 attributes by spaces, as CEF does.
        cef_pairs(line, attrs, |k, a, b| g.take(line, rec, k, a, b));
    } else {
        let mut s = attrs;
        while s < line.len() {
            let e = memchr::memchr(delim, &line[s..]).map_or(line.len(), |k| s + k);
            let part = &line[s..e];
            if let Some(eq) = memchr::memchr(b'=', part) {
                let key = part[..eq].trim_ascii();
                if !key.is_empty() {
                    let a = s + eq + 1;
                    let b = s + part.trim_ascii_end().len();
                    g.take(line, rec, key, a, b.max(a));
                }
            }
            s = e + 1;
        }
    }
    if !g.any && line[attrs..].iter().all(u8::is_ascii_whitespace) {
        return Ok(Parsed::Record);
    }
    g.finish(line, rec, "LEEF")
}

/// A CEF or LEEF time: milliseconds (or seconds) since the epoch, ISO 8601, or the CEF forms `MMM dd [yyyy]
/// HH:mm:ss[.SSS] [zone]`; for LEEF, `devTime` in its `devTimeFormat` (a Java date pattern), written after a
/// 0x1F. A time without a zone is one of `tz`; one without a year is of the latest year that does not put it
/// more than a day after `now`.
pub(super) fn cef_time(raw: &str, tz: LogTz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (v, fmt) = match raw.split_once('\x1f') {
        Some((v, f)) => (v.trim(), Some(f.trim())),
        None => (raw.trim(), None),
    };
    if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) {
        let n: i64 = v.parse().ok()?;
        return if v.len() > 11 {
            DateTime::from_timestamp_millis(n)
        } else {
            DateTime::from_timestamp(n, 0)
        };
    }
    if v.as_bytes().get(4) == Some(&b'-') && fmt.is_none() {
        return super::iso_time(v, tz);
    }
    let (body, zone) = split_zone(v);
    let zone = match zone {
        Some(z) => zone_tz(z)?,
        None => tz,
    };
    if let Some(f) = fmt {
        let (f, _) = split_zone(f);
        let f = java_pattern(f)?;
        let t = NaiveDateTime::parse_from_str(body, &f)
            .ok()
            .or_else(|| with_year(body, &f, now))?;
        return zone.to_utc(t);
    }
    let t = NaiveDateTime::parse_from_str(body, "%b %d %Y %H:%M:%S%.f")
        .ok()
        .or_else(|| with_year(body, "%b %d %H:%M:%S%.f", now))?;
    zone.to_utc(t)
}

/// A yearless time (`Dec  7 09:15:32`) in the latest year that does not put it more than a day after `now`.
fn with_year(body: &str, fmt: &str, now: DateTime<Utc>) -> Option<NaiveDateTime> {
    if fmt.contains("%Y") || fmt.contains("%y") {
        return None;
    }
    let y = now.year();
    let f = format!("%Y {fmt}");
    let this = NaiveDateTime::parse_from_str(&format!("{y} {body}"), &f).ok();
    match this {
        Some(t) if t.and_utc() <= now + chrono::Duration::days(1) => Some(t),
        // 29 February in a year without one, or a time that would be in the future: the year before.
        _ => NaiveDateTime::parse_from_str(&format!("{} {body}", y - 1), &f).ok(),
    }
}

/// A time's trailing zone word (`UTC`, `CET`, `+01:00`, `GMT+01:00`), if it has one.
fn split_zone(v: &str) -> (&str, Option<&str>) {
    match v.rsplit_once(' ') {
        Some((body, z))
            if !z.is_empty()
                && !z.eq_ignore_ascii_case("AM")
                && !z.eq_ignore_ascii_case("PM")
                && (z.bytes().all(|c| c.is_ascii_alphabetic())
                    || z.starts_with(['+', '-'])
                    || z.starts_with("GMT+")
                    || z.starts_with("GMT-")
                    || z.starts_with("UTC+")
                    || z.starts_with("UTC-")) =>
        {
            (body.trim_end(), Some(z))
        }
        _ => (v, None),
    }
}

/// The zone a time's zone word names: UTC, an offset, an IANA name or link (`CET`, `EET`), or one of Europe's
/// summer-time abbreviations, which are not zone names.
fn zone_tz(z: &str) -> Option<LogTz> {
    let z = z
        .strip_prefix("GMT")
        .or_else(|| z.strip_prefix("UTC"))
        .filter(|r| r.starts_with(['+', '-']))
        .unwrap_or(z);
    let fixed = match z {
        "z" | "Z" | "UT" | "GMT" => "+00:00",
        "BST" | "WEST" | "CET" | "MET" => "+01:00",
        "CEST" | "MEST" | "EET" => "+02:00",
        "EEST" | "MSK" => "+03:00",
        "WET" => "+00:00",
        _ => return LogTz::parse(z).ok(),
    };
    LogTz::parse(fixed).ok()
}

/// A Java `SimpleDateFormat` pattern as chrono's (the letters exporters use: years, months by number or name,
/// days, 24- and 12-hour clocks, minutes, seconds, milliseconds, AM/PM, offsets; quoted literals).
fn java_pattern(p: &str) -> Option<String> {
    let b = p.as_bytes();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' {
            let end = p[i + 1..].find('\'').map(|k| i + 1 + k)?;
            out.push_str(&p[i + 1..end].replace('%', "%%"));
            i = end + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c == b'%' {
                out.push('%');
            }
            out.push(c as char);
            i += 1;
            continue;
        }
        let n = b[i..].iter().take_while(|&&d| d == c).count();
        out.push_str(match (c, n) {
            (b'y', 2) => "%y",
            (b'y', _) | (b'u', _) => "%Y",
            (b'M', 1 | 2) => "%m",
            (b'M', 3) => "%b",
            (b'M', _) => "%B",
            (b'd', _) => "%d",
            (b'H', _) => "%H",
            (b'h', _) => "%I",
            (b'm', _) => "%M",
            (b's', _) => "%S",
            (b'S', 3) => "%3f",
            (b'S', 6) => "%6f",
            (b'S', 9) => "%9f",
            (b'a', _) => "%p",
            (b'Z', _) | (b'X', 1 | 2) => "%z",
            (b'X', _) => "%:z",
            (b'E', _) => "%a",
            _ => return None,
        });
        i += n;
    }
    Some(out)
}

/// The date a CEF/LEEF test reads yearless times against.
#[cfg(test)]
pub(super) fn test_now() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_patterns() {
        assert_eq!(
            java_pattern("MMM dd yyyy HH:mm:ss.SSS").as_deref(),
            Some("%b %d %Y %H:%M:%S.%3f")
        );
        assert_eq!(
            java_pattern("yyyy-MM-dd'T'HH:mm:ssXXX").as_deref(),
            Some("%Y-%m-%dT%H:%M:%S%:z")
        );
        assert_eq!(java_pattern("yyyy-MM-dd Q"), None);
    }

    #[test]
    fn times() {
        let now = test_now();
        let t = |raw: &str| cef_time(raw, LogTz::Utc, now).map(|d| d.to_rfc3339());
        assert_eq!(
            t("1796634932123").as_deref(),
            Some("2026-12-07T09:15:32.123+00:00")
        );
        assert_eq!(
            t("1796634932").as_deref(),
            Some("2026-12-07T09:15:32+00:00")
        );
        assert_eq!(
            t("Dec 07 2026 10:15:32 CET").as_deref(),
            Some("2026-12-07T09:15:32+00:00")
        );
        assert_eq!(
            t("Dec 07 2026 10:15:32.250 +01:00").as_deref(),
            Some("2026-12-07T09:15:32.250+00:00")
        );
        assert_eq!(
            t("Jul 07 2026 11:15:32 CEST").as_deref(),
            Some("2026-07-07T09:15:32+00:00")
        );
        // Yearless: this year, unless that is more than a day ahead.
        assert_eq!(
            t("Dec  7 09:15:32").as_deref(),
            Some("2026-12-07T09:15:32+00:00")
        );
        assert_eq!(
            t("Dec 31 23:59:59 UTC").as_deref(),
            Some("2025-12-31T23:59:59+00:00")
        );
        assert_eq!(
            t("2026-12-07T10:15:32+01:00").as_deref(),
            Some("2026-12-07T09:15:32+00:00")
        );
        // LEEF's devTime in its devTimeFormat.
        assert_eq!(
            t("07.12.2026 10:15:32\x1fdd.MM.yyyy HH:mm:ss").as_deref(),
            Some("2026-12-07T10:15:32+00:00")
        );
        assert_eq!(
            cef_time(
                "07.12.2026 10:15:32\x1fdd.MM.yyyy HH:mm:ss",
                LogTz::parse("Europe/Vienna").unwrap_or_default(),
                now
            )
            .map(|d| d.to_rfc3339())
            .as_deref(),
            Some("2026-12-07T09:15:32+00:00")
        );
        assert_eq!(
            t("Dec 07 2026 10:15:32.123 CET\x1fMMM dd yyyy HH:mm:ss.SSS zzz").as_deref(),
            Some("2026-12-07T09:15:32.123+00:00")
        );
        assert_eq!(t("Dec 07 2026 10:15:32 Mars/Olympus"), None);
        assert_eq!(t("yesterday"), None);
        assert_eq!(t("07.12.2026\x1fyyyy QQ"), None);
    }

    #[test]
    fn every_named_field_is_classified_as_its_place() {
        for (i, (name, _)) in KV_FIELDS.iter().enumerate() {
            assert_eq!(classify(name.as_bytes()), Key::Field(i), "{name}");
        }
        assert_eq!(KV_FIELDS[CS1].0, "cs1");
        assert_eq!(classify(b"cs3Label"), Key::Label(2));
        assert_eq!(classify(b"msg"), Key::Other);
    }

    #[test]
    fn labels() {
        assert_eq!(label_role(b"DNS Query"), Some(Role::Domain));
        assert_eq!(label_role(b"Full_URL"), Some(Role::Url));
        assert_eq!(label_role(b"File SHA256"), Some(Role::Hash));
        assert_eq!(label_role(b"Rule"), None);
        assert_eq!(label_role(&[b'a'; 100]), None);
    }
}
