//! Check Point's Log Exporter in its default `syslog` format: RFC 5424 lines whose structured data holds
//! `key:"value";` pairs (`[action:"Accept"; src:"10.0.0.3"; dst:"81.2.69.144"; ...]`), and the older
//! `Fields@1.3.6.1.4.1.2620` form with `key="value"` pairs. Values are quoted, with `\"` and `\]` escaped.
//! (The exporter's `cef` and `leef` formats are read by the CEF and LEEF readers.)

use super::{url_host, Parsed, Record, TsKind};
use crate::set::Role;

/// The fields read. `portal_message`, `description`, `user_agent` and the referrer, which quote URLs and names
/// that are not what was visited, are never looked up.
pub(super) const CHECKPOINT_FIELDS: &[(&str, Role)] = &[
    ("src", Role::SrcIp),
    ("dst", Role::DstIp),
    ("s_port", Role::SrcPort),
    ("service", Role::DstPort),
    ("proto", Role::Proto),
    ("http_host", Role::Domain),
    ("dns_query", Role::Domain),
    ("resource", Role::Url),
    ("file_md5", Role::Hash),
    ("file_sha1", Role::Hash),
    ("file_sha256", Role::Hash),
    ("from", Role::Email),
    ("to", Role::Email),
    ("proxy_src_ip", Role::SrcIp),
    ("sport_svc", Role::SrcPort),
    ("svc", Role::DstPort),
];

const HTTP_HOST: u16 = 5;
const RESOURCE: u16 = 7;

fn field(key: &[u8]) -> Option<u16> {
    Some(match key {
        b"src" => 0,
        b"dst" => 1,
        b"s_port" => 2,
        b"service" => 3,
        b"proto" => 4,
        b"http_host" => 5,
        b"dns_query" => 6,
        b"resource" => 7,
        b"file_md5" => 8,
        b"file_sha1" => 9,
        b"file_sha256" => 10,
        b"from" => 11,
        b"to" => 12,
        b"proxy_src_ip" => 13,
        b"sport_svc" => 14,
        b"svc" => 15,
        _ => return None,
    })
}

/// True when the line carries Check Point's structured data.
pub(super) fn is_checkpoint(line: &[u8]) -> bool {
    super::find_short(line, b"loguid:\"").is_some()
        || super::find_short(line, b"[Fields@1.3.6.1.4.1.2620 ").is_some()
}

/// The quoted `key:"value"` or `key="value"` pairs from the first `[` on: (key, value start, value end), the
/// value as written (escapes left in).
fn pairs(line: &[u8], mut f: impl FnMut(&[u8], usize, usize)) -> bool {
    let Some(open) = memchr::memchr(b'[', line) else {
        return false;
    };
    let mut any = false;
    let mut i = open + 1;
    while i < line.len() {
        while i < line.len() && matches!(line[i], b' ' | b';' | b'[' | b']') {
            i += 1;
        }
        let k = i;
        while i < line.len()
            && (line[i].is_ascii_alphanumeric() || matches!(line[i], b'_' | b'-' | b'.' | b'@'))
        {
            i += 1;
        }
        let key = &line[k..i];
        if key.is_empty()
            || !matches!(line.get(i), Some(b':' | b'='))
            || line.get(i + 1) != Some(&b'"')
        {
            // Not a pair (the SD-ID `Fields@...`): the token is skipped.
            while i < line.len() && !matches!(line[i], b' ' | b';') {
                i += 1;
            }
            if i == k {
                i += 1;
            }
            continue;
        }
        let a = i + 2;
        let mut e = a;
        while e < line.len() && line[e] != b'"' {
            e += if line[e] == b'\\' { 2 } else { 1 };
        }
        let e = e.min(line.len());
        f(key, a, e);
        any = true;
        i = e + 1;
    }
    any
}

/// Check Point's escapes: `\"`, `\]`, `\\`.
fn unescape(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && i + 1 < v.len() {
            out.push(v[i + 1]);
            i += 2;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    out
}

/// `<134>1 2023-03-02T03:28:09Z gw-0b8ccd CheckPoint 15871 - [action:"Block"; ...; src:"10.0.0.3";
/// dst:"81.2.69.144"; http_host:"sc1.checkpoint.com"; resource:"http://sc1.checkpoint.com/za/x.html"; ...]`.
pub(super) fn parse_checkpoint(line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    let mut host = false;
    let mut resource = None;
    let mut time = None;
    let any = pairs(line, |key, a, b| {
        if key == b"time" {
            time = Some((a, b));
            return;
        }
        let Some(id) = field(key) else { return };
        let v = &line[a..b];
        if v.is_empty() {
            return;
        }
        let role = CHECKPOINT_FIELDS[id as usize].1;
        if id == RESOURCE {
            resource = Some((a, b));
            return;
        }
        if id == HTTP_HOST {
            host = true;
        }
        if v.contains(&b'\\') {
            rec.push_scratch(id, role, &unescape(v));
        } else {
            rec.push(id, role, a, b);
        }
    });
    if !any {
        return Err("no key:\"value\" pairs in a Check Point log line".into());
    }
    if let Some((a, b)) = resource {
        let v = &line[a..b];
        if v.contains(&b'\\') {
            rec.push_scratch(RESOURCE, Role::Url, &unescape(v));
        } else if super::is_whole_url(v) {
            rec.push(RESOURCE, Role::Url, a, b);
            if !host {
                if let Some((hs, he)) = url_host(v) {
                    rec.push(RESOURCE, Role::Domain, a + hs, a + he);
                }
            }
        }
    }
    match time.filter(|&(a, b)| b > a && line[a..b].iter().all(u8::is_ascii_digit)) {
        Some((a, b)) => rec.ts = Some((TsKind::Epoch, false, a as u32, b as u32)),
        None => {
            // The RFC 5424 header's time: `<134>1 2023-03-02T03:28:09Z host ...`.
            let start = memchr::memchr(b'>', line).map_or(0, |k| k + 1);
            let mut toks = super::tokens(line, start);
            if let (Some(_), Some((a, b))) = (toks.next(), toks.next()) {
                if b - a >= 19 && line[a + 4] == b'-' && line[a + 10] == b'T' {
                    rec.ts = Some((TsKind::Iso, false, a as u32, b as u32));
                }
            }
        }
    }
    Ok(Parsed::Record)
}
