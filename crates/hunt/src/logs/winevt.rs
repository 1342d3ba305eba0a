//! Windows event logs as they leave a host: one event per line, as JSON (`evtx_dump -o jsonl`, the Rust
//! `evtx` tool most incident responders convert `.evtx` files with; Velociraptor's `parse_evtx` rows; Winlogbeat's
//! `winlog.event_data`, read by the ECS reader) or as XML (`<Event xmlns=...>...</Event>`: PowerShell's
//! `Get-WinEvent | % { $_.ToXml() }`, Splunk's `XmlWinEventLog`, a forwarded event).
//!
//! The events read are those whose data names something matchable: Sysmon's DNS queries (22: `QueryName`,
//! `QueryResults`), network connections (3: `SourceIp`, `DestinationIp`, `DestinationHostname`, ports,
//! `Protocol`), the hashes of processes, drivers, images and files (1, 6, 7, 15, 23, 26, 29: `Hashes`, `Hash`),
//! and the `HostUrl`/`ReferrerUrl` of a downloaded file's `Zone.Identifier` stream (15: `Contents`); the
//! Security log's logon and Kerberos source addresses (4624, 4625, 4648, 4768, 4771, ...: `IpAddress`) and the
//! filtering platform's connections (5156, 5157: `SourceAddress`, `DestAddress`, ports, `Protocol`); the DNS
//! client's queries (3006, 3008, 3020); BITS transfers (59, 60: `url`, T1197); Remote Desktop sessions' source
//! (`UserData`'s `Address`). A field is read by its name wherever an event carries it, so another provider's
//! `QueryName` is read too; command lines, image paths and user names are never looked up.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver};

use super::{json, url_host, Leaf, Parsed, Record, TsKind};
use crate::set::Role;

/// The event data fields read, by their `<Data Name=...>`.
pub(super) const WINEVT_FIELDS: &[(&str, Role)] = &[
    ("QueryName", Role::Domain),
    ("QueryResults", Role::Answer),
    ("DestinationHostname", Role::Domain),
    ("SourceIp", Role::SrcIp),
    ("DestinationIp", Role::DstIp),
    ("SourcePort", Role::SrcPort),
    ("DestinationPort", Role::DstPort),
    ("Protocol", Role::Proto),
    ("Hashes", Role::Hash),
    ("Hash", Role::Hash),
    ("Contents", Role::Url),
    ("IpAddress", Role::SrcIp),
    ("SourceAddress", Role::SrcIp),
    ("DestAddress", Role::DstIp),
    ("DestPort", Role::DstPort),
    ("url", Role::Url),
    ("Address", Role::SrcIp),
];

const QUERY_RESULTS: u16 = 1;
const HASHES: u16 = 8;
const HASH: u16 = 9;
const CONTENTS: u16 = 10;
const URL: u16 = 15;

/// The field id of an event data name.
pub(super) fn field(name: &[u8]) -> Option<u16> {
    Some(match name {
        b"QueryName" => 0,
        b"QueryResults" => 1,
        b"DestinationHostname" => 2,
        b"SourceIp" => 3,
        b"DestinationIp" => 4,
        b"SourcePort" => 5,
        b"DestinationPort" => 6,
        b"Protocol" => 7,
        b"Hashes" => 8,
        b"Hash" => 9,
        b"Contents" => 10,
        b"IpAddress" => 11,
        b"SourceAddress" => 12,
        b"DestAddress" => 13,
        // The filtering platform's `SourcePort` is Sysmon's name too (5).
        b"DestPort" => 14,
        b"url" | b"Url" => URL,
        b"Address" => 16,
        _ => return None,
    })
}

/// The event data name a JSON path ends in, when its parent is an event's data: `Event.EventData.X`
/// (evtx_dump), `EventData.X` (Velociraptor), `winlog.event_data.X` (Winlogbeat), `UserData.EventXML.X`,
/// `winlog.user_data.X`.
fn data_name(path: &[u8]) -> Option<&[u8]> {
    let dot = memchr::memrchr(b'.', path)?;
    let parent = &path[..dot];
    let parent = memchr::memrchr(b'.', parent).map_or(parent, |k| &parent[k + 1..]);
    matches!(
        parent,
        b"EventData" | b"event_data" | b"EventXML" | b"user_data"
    )
    .then(|| &path[dot + 1..])
}

/// True when the path names the event's creation time.
fn is_time(path: &[u8]) -> bool {
    path.ends_with(b"TimeCreated.#attributes.SystemTime")
        || path.ends_with(b"TimeCreated.SystemTime")
}

/// Where a value comes from: a range of the line, or copied out (unescaped).
#[derive(Clone, Copy)]
enum At {
    Line(usize),
    Copied,
}

/// Where a value goes: the reader's field id of the first event data field, added to each field's own id
/// (0 for this reader; the ECS reader lists Winlogbeat's fields after its own).
#[derive(Clone, Copy)]
struct To {
    base: u16,
    at: At,
}

fn put(rec: &mut Record, id: u16, role: Role, v: &[u8], to: To, a: usize, b: usize) {
    let name = to.base + id;
    match to.at {
        At::Line(off) => rec.push(name, role, off + a, off + b),
        At::Copied => rec.push_scratch(name, role, &v[a..b]),
    }
}

/// The part of an address after `::ffff:` (the Security log writes IPv4 clients as IPv4-mapped IPv6).
fn unmapped(v: &[u8]) -> usize {
    if v.len() > 7 && v[..7].eq_ignore_ascii_case(b"::ffff:") && v[7..].contains(&b'.') {
        7
    } else {
        0
    }
}

/// Adds the value `v` of field `id`.
fn push_value(rec: &mut Record, id: u16, v: &[u8], to: To) {
    let Some(&(_, role)) = WINEVT_FIELDS.get(id as usize) else {
        return;
    };
    let t = v.trim_ascii();
    let lead = t.as_ptr() as usize - v.as_ptr() as usize;
    if t.is_empty() || t == b"-" {
        return;
    }
    match id {
        // `type:  5 cdn.example.net;::ffff:203.0.113.66;203.0.113.67;`: CNAME targets and addresses.
        QUERY_RESULTS => {
            let mut s = 0;
            for part in v.split(|&c| c == b';') {
                let mut a = s;
                let e = s + part.len();
                s = e + 1;
                let mut p = part;
                let l = p.len() - p.trim_ascii_start().len();
                a += l;
                p = &p[l..];
                if let Some(rest) = p.strip_prefix(b"type:") {
                    // The record type's number, then the name.
                    let k = rest
                        .iter()
                        .position(|c| !c.is_ascii_whitespace())
                        .unwrap_or(rest.len());
                    let d = rest[k..]
                        .iter()
                        .position(|c| !c.is_ascii_digit())
                        .map_or(rest.len(), |d| k + d);
                    a += 5 + d;
                    p = &rest[d..];
                    let l = p.len() - p.trim_ascii_start().len();
                    a += l;
                    p = &p[l..];
                }
                let p2 = p.trim_ascii_end();
                if p2.is_empty() {
                    continue;
                }
                let u = unmapped(p2);
                put(rec, id, role, v, to, a + u, a + p2.len());
            }
        }
        // `SHA1=...,MD5=...,SHA256=...,IMPHASH=...`: the import hash is not a file's digest.
        HASHES | HASH => {
            let mut s = 0;
            for part in v.split(|&c| c == b',') {
                let a = s;
                s += part.len() + 1;
                let (alg, hex, off) = match memchr::memchr(b'=', part) {
                    Some(k) => (&part[..k], &part[k + 1..], k + 1),
                    None => (&b""[..], part, 0),
                };
                if alg.trim_ascii().eq_ignore_ascii_case(b"IMPHASH") {
                    continue;
                }
                let h = hex.trim_ascii();
                if h.is_empty() || !h.iter().all(u8::is_ascii_hexdigit) {
                    continue;
                }
                let l = hex.len() - hex.trim_ascii_start().len();
                put(rec, id, role, v, to, a + off + l, a + off + l + h.len());
            }
        }
        // A `Zone.Identifier` stream: `[ZoneTransfer] ZoneId=3 ReferrerUrl=https://... HostUrl=https://...`.
        CONTENTS => {
            let mut i = 0;
            while i < v.len() {
                while i < v.len() && v[i].is_ascii_whitespace() {
                    i += 1;
                }
                let a = i;
                while i < v.len() && !v[i].is_ascii_whitespace() {
                    i += 1;
                }
                let tok = &v[a..i];
                let Some(k) = memchr::memchr(b'=', tok) else {
                    continue;
                };
                if !matches!(&tok[..k], b"HostUrl" | b"ReferrerUrl") {
                    continue;
                }
                push_url(rec, id, v, to, a + k + 1, i);
            }
        }
        URL => push_url(rec, id, v, to, lead, lead + t.len()),
        _ => {
            let u = unmapped(t);
            put(rec, id, role, v, to, lead + u, lead + t.len());
        }
    }
}

/// A whole URL and its host.
fn push_url(rec: &mut Record, id: u16, v: &[u8], to: To, a: usize, b: usize) {
    let u = &v[a..b];
    if !super::is_whole_url(u) {
        return;
    }
    put(rec, id, Role::Url, v, to, a, b);
    if let Some((hs, he)) = url_host(u) {
        put(rec, id, Role::Domain, v, to, a + hs, a + he);
    }
}

/// Adds a JSON leaf of event data field `id` (strings; ports and protocols also as numbers), its escapes
/// decoded.
pub(super) fn push_leaf(
    line: &[u8],
    leaf: Leaf,
    base: u16,
    id: u16,
    rec: &mut Record,
) -> Result<(), String> {
    let role = WINEVT_FIELDS[id as usize].1;
    match leaf {
        Leaf::Str {
            start,
            end,
            escaped: true,
        } => {
            let mut tmp = Vec::new();
            json::unescape(&line[start..end], &mut tmp).map_err(|e| e.to_string())?;
            let to = To {
                base,
                at: At::Copied,
            };
            push_value(rec, id, &tmp, to);
        }
        Leaf::Str { start, end, .. } => {
            let to = To {
                base,
                at: At::Line(start),
            };
            push_value(rec, id, &line[start..end], to);
        }
        Leaf::Bare { start, end }
            if matches!(role, Role::SrcPort | Role::DstPort | Role::Proto) =>
        {
            let to = To {
                base,
                at: At::Line(start),
            };
            push_value(rec, id, &line[start..end], to);
        }
        Leaf::Bare { .. } => {}
    }
    Ok(())
}

/// How a record the `evtx` crate could not render reaches the reader: a line that is no JSON object, which the
/// parser turns into the line's error (the record's place kept as its line number).
const EVTX_ERROR: &[u8] = b"!evtx-error: ";

/// A binary Windows event log (`.evtx`: `ElfFile\0`, 64 KiB chunks of BinXML records, templates and
/// substitutions) as the JSON lines [`parse_json`] reads, one per record in the log's order, rendered by the
/// `evtx` crate (what `evtx_dump -o jsonl` prints) on a thread of its own while the hunt reads them. A record
/// that does not render becomes an unparsable line naming the reason; the others go on.
///
/// Errors: a file the crate cannot open as an event log at all (no `ElfFile` magic, a header cut short).
pub fn evtx_lines(data: Vec<u8>) -> Result<Box<dyn Read + Send>, String> {
    let settings = evtx::ParserSettings::new()
        .indent(false)
        .separate_json_attributes(false);
    let mut parser = evtx::EvtxParser::from_buffer(data)
        .map_err(|e| format!("not a readable Windows event log: {e}"))?
        .with_configuration(settings);
    // A header whose CRC does not match is read all the same (Windows leaves it stale in a log it did not close);
    // it is named only when no record could be read.
    let header_ok = parser.header().validate_checksum();
    let (tx, rx) = sync_channel::<Vec<u8>>(4);
    std::thread::Builder::new()
        .name("vigil-evtx".into())
        .spawn(move || {
            const BATCH: usize = 256 * 1024;
            let mut buf = Vec::with_capacity(BATCH);
            let mut records = 0u64;
            for r in parser.records_json_bytes() {
                records += 1;
                match r {
                    // Compact JSON: a newline inside a value is written `\n`.
                    Ok(rec) => buf.extend_from_slice(&rec.data),
                    Err(e) => {
                        // "Failed to parse record number 2" and, after it, why.
                        let mut msg = e.to_string();
                        let mut src = std::error::Error::source(&e);
                        while let Some(s) = src {
                            msg.push_str(": ");
                            msg.push_str(&s.to_string());
                            src = s.source();
                        }
                        buf.extend_from_slice(EVTX_ERROR);
                        buf.extend(msg.bytes().map(|c| match c {
                            b'\n' | b'\r' => b' ',
                            c => c,
                        }));
                    }
                }
                buf.push(b'\n');
                if buf.len() >= BATCH {
                    // The hunt stopped reading (an error elsewhere, or enough): nothing more to do.
                    if tx.send(std::mem::replace(&mut buf, Vec::with_capacity(BATCH))).is_err() {
                        return;
                    }
                }
            }
            if records == 0 && !header_ok {
                buf.extend_from_slice(EVTX_ERROR);
                buf.extend_from_slice(
                    b"no record could be read, and the file header's checksum does not match (a damaged log)\n",
                );
            }
            if !buf.is_empty() {
                let _ = tx.send(buf);
            }
        })
        .map_err(|e| format!("cannot start the event log reader: {e}"))?;
    Ok(Box::new(ChannelReader {
        rx,
        cur: Vec::new(),
        pos: 0,
    }))
}

/// The rendered records, as a byte stream.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.cur = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// One event as a JSON object: `{"Event":{"System":{...,"TimeCreated":{"#attributes":{"SystemTime":...}}},
/// "EventData":{"QueryName":...}}}` and the other shapes [`data_name`] knows.
pub(super) fn parse_json(line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    if let Some(e) = line.strip_prefix(EVTX_ERROR) {
        return Err(format!("event log record: {}", String::from_utf8_lossy(e)));
    }
    let mut scratch = std::mem::take(&mut rec.json);
    let mut err: Option<String> = None;
    let res = json::walk(line, &mut scratch, None, &mut |p, leaf| {
        if is_time(p) {
            rec.ts = Some(match leaf {
                Leaf::Str { start, end, .. } => (TsKind::Iso, false, start as u32, end as u32),
                Leaf::Bare { start, end } => (TsKind::Epoch, false, start as u32, end as u32),
            });
            return;
        }
        let Some(id) = data_name(p).and_then(field) else {
            return;
        };
        if let Err(e) = push_leaf(line, leaf, 0, id, rec) {
            err.get_or_insert(format!("{e} in `{}`", String::from_utf8_lossy(p)));
        }
    });
    rec.json = scratch;
    res?;
    if let Some(e) = err {
        return Err(e);
    }
    Ok(Parsed::Record)
}

/// A Winlogbeat path's event data name: `winlog.event_data.X`, `winlog.user_data.X`.
pub(super) fn winlogbeat_field(path: &[u8]) -> Option<u16> {
    path.strip_prefix(b"winlog.")
        .and_then(data_name_of_winlog)
        .and_then(field)
}

fn data_name_of_winlog(rest: &[u8]) -> Option<&[u8]> {
    rest.strip_prefix(b"event_data.")
        .or_else(|| rest.strip_prefix(b"user_data."))
        .filter(|n| !n.contains(&b'.'))
}

/// True when a line holds an event as XML.
pub(super) fn is_xml_event(line: &[u8]) -> bool {
    let t = line.trim_ascii_start();
    (t.starts_with(b"<Event ") || t.starts_with(b"<Event>"))
        && super::find_short(line, b"<System>").is_some()
}

/// One or more events as XML on one line (`wevtutil qe` writes several with no line break between): each
/// `<Event>...</Event>` is read; the time is the first event's.
///
/// A targeted scanner, not a DOM: an event's XML as Windows renders it has a fixed shape (`<Data Name='X'>v</Data>`
/// in `<EventData>`, simple elements in `<UserData>`'s `<EventXML>`, `SystemTime` on `<TimeCreated>`), and a tree
/// per line cost 8x the ECS reader's time per line (roxmltree, 0.10 M lines/s). The unit tests check it against
/// roxmltree on generated events.
pub(super) fn parse_xml(line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    let mut i = 0;
    let mut events = 0;
    while let Some(a) = find_from(line, i, b"<Event") {
        // `<Events>` (Event Viewer's document) and `<EventData>` are not an event's start.
        if !matches!(line.get(a + 6), Some(b' ' | b'>' | b'\t' | b'\r' | b'\n')) {
            i = a + 6;
            continue;
        }
        events += 1;
        let Some(end) = find_from(line, a, b"</Event>") else {
            return Err(format!(
                "an <Event> without its </Event> (event {events} of the line)"
            ));
        };
        xml_event(line, a, end, rec).map_err(|e| format!("event {events}: {e}"))?;
        i = end + 8;
    }
    if events == 0 {
        return Err("no <Event> element".into());
    }
    Ok(Parsed::Record)
}

fn find_from(h: &[u8], from: usize, n: &[u8]) -> Option<usize> {
    memchr::memmem::find(h.get(from..)?, n).map(|k| from + k)
}

/// The value of attribute `name` in a start tag `tag` (from after its name to its `>`): its range in `tag`.
fn attr(tag: &[u8], name: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(k) = find_from(tag, i, name) {
        i = k + name.len();
        if k > 0 && !tag[k - 1].is_ascii_whitespace() {
            continue;
        }
        let mut j = i;
        while tag.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        if tag.get(j) != Some(&b'=') {
            continue;
        }
        j += 1;
        while tag.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        let q = *tag.get(j)?;
        if q != b'\'' && q != b'"' {
            return None;
        }
        let e = memchr::memchr(q, &tag[j + 1..])?;
        return Some((j + 1, j + 1 + e));
    }
    None
}

/// XML's five named entities and character references, decoded; anything else after `&` is an error.
fn unescape_xml(v: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    let mut i = 0;
    while let Some(k) = memchr::memchr(b'&', &v[i..]) {
        out.extend_from_slice(&v[i..i + k]);
        let a = i + k + 1;
        let Some(e) = memchr::memchr(b';', &v[a..]).filter(|&e| e <= 10) else {
            return Err("an `&` that starts no entity".into());
        };
        let ent = &v[a..a + e];
        let c = match ent {
            b"amp" => '&',
            b"lt" => '<',
            b"gt" => '>',
            b"quot" => '"',
            b"apos" => '\'',
            _ => {
                let n = match ent {
                    [b'#', b'x' | b'X', h @ ..] => std::str::from_utf8(h)
                        .ok()
                        .and_then(|h| u32::from_str_radix(h, 16).ok()),
                    [b'#', d @ ..] => std::str::from_utf8(d).ok().and_then(|d| d.parse().ok()),
                    _ => None,
                };
                n.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity `&{};`", String::from_utf8_lossy(ent)))?
            }
        };
        let mut b = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        i = a + e + 1;
    }
    out.extend_from_slice(&v[i..]);
    Ok(())
}

/// Adds the text of an element, `line[a..b]`, as field `id`.
fn push_text(line: &[u8], a: usize, b: usize, id: u16, rec: &mut Record) -> Result<(), String> {
    let v = &line[a..b];
    if memchr::memchr(b'&', v).is_none() {
        let to = To {
            base: 0,
            at: At::Line(a),
        };
        push_value(rec, id, v, to);
        return Ok(());
    }
    let mut tmp = Vec::with_capacity(v.len());
    unescape_xml(v, &mut tmp)?;
    let to = To {
        base: 0,
        at: At::Copied,
    };
    push_value(rec, id, &tmp, to);
    Ok(())
}

/// The event at `line[a..end]` (`end` at its `</Event>`).
fn xml_event(line: &[u8], a: usize, end: usize, rec: &mut Record) -> Result<(), String> {
    let ev = &line[..end];
    if rec.ts.is_none() {
        if let Some(t) = find_from(ev, a, b"<TimeCreated") {
            let te = memchr::memchr(b'>', &ev[t..]).map_or(ev.len(), |k| t + k);
            if let Some((va, vb)) = attr(&ev[t + 12..te], b"SystemTime") {
                rec.ts = Some((
                    TsKind::Iso,
                    false,
                    (t + 12 + va) as u32,
                    (t + 12 + vb) as u32,
                ));
            }
        }
    }
    // `<Data Name='X'>v</Data>` in `<EventData>`; `<Data Name='X'/>` is empty, `<Data>v</Data>` unnamed.
    if let Some(ed) = find_from(ev, a, b"<EventData") {
        let mut j = ed + 10;
        while let Some(k) = find_from(ev, j, b"<Data") {
            let Some(te) = memchr::memchr(b'>', &ev[k..]).map(|x| k + x) else {
                return Err("a <Data> tag without its `>`".into());
            };
            j = te + 1;
            if !matches!(ev.get(k + 5), Some(b' ' | b'\t' | b'>' | b'/')) {
                continue;
            }
            let tag = &ev[k + 5..te];
            if tag.ends_with(b"/") {
                continue;
            }
            let Some(ve) = find_from(ev, j, b"</Data>") else {
                return Err("a <Data> without its </Data>".into());
            };
            let id = attr(tag, b"Name").and_then(|(na, nb)| field(&tag[na..nb]));
            if let Some(id) = id {
                push_text(line, j, ve, id, rec)?;
            }
            j = ve + 7;
        }
    }
    // `<UserData><EventXML xmlns=...><Address>198.51.100.23</Address>...</EventXML></UserData>`.
    if let Some(ud) = find_from(ev, a, b"<UserData>") {
        let mut j = ud + 10;
        while let Some(k) = memchr::memchr(b'<', &ev[j..]).map(|x| j + x) {
            j = k + 1;
            let ne = ev[j..]
                .iter()
                .position(|c| matches!(c, b' ' | b'\t' | b'>' | b'/'))
                .map_or(ev.len(), |x| j + x);
            let Some(id) = field(&ev[j..ne]) else {
                continue;
            };
            let Some(te) = memchr::memchr(b'>', &ev[ne..]).map(|x| ne + x) else {
                return Err("a tag without its `>`".into());
            };
            if ev[te - 1] == b'/' {
                j = te + 1;
                continue;
            }
            let Some(ve) = find_from(ev, te + 1, b"</") else {
                return Err(format!(
                    "a <{}> without its end",
                    String::from_utf8_lossy(&ev[j..ne])
                ));
            };
            push_text(line, te + 1, ve, id, rec)?;
            j = ve + 2;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fields, record_fields, ts_of as ts};
    use super::super::{Format, Parser};
    use super::*;

    const COPIED: To = To {
        base: 0,
        at: At::Copied,
    };

    fn f(n: &str, r: Role, v: &str) -> (String, Role, String) {
        (n.into(), r, v.into())
    }

    const SYSMON_DNS: &str = r##"{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon","Guid":"5770385F-C22A-43E0-BF4C-06F5698FFBD9"}},"EventID":22,"Version":5,"Level":4,"Task":22,"Opcode":0,"Keywords":"0x8000000000000000","TimeCreated":{"#attributes":{"SystemTime":"2026-12-07T09:15:32.123456Z"}},"EventRecordID":4711,"Correlation":null,"Execution":{"#attributes":{"ProcessID":3012,"ThreadID":4112}},"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"PC-0815.musterhausen.local","Security":{"#attributes":{"UserID":"S-1-5-18"}}},"EventData":{"RuleName":"-","UtcTime":"2026-12-07 09:15:32.120","ProcessGuid":"5A1D4C6E-0001-0000-0000-000000000000","ProcessId":5140,"QueryName":"cdn.evil-update.com","QueryStatus":"0","QueryResults":"type:  5 edge.evil-update.net;::ffff:203.0.113.66;203.0.113.67;","Image":"C:\\Windows\\System32\\rundll32.exe","User":"MUSTERHAUSEN\\anna"}}}"##;

    #[test]
    fn sysmon_dns_event_from_evtx_dump() {
        let p = Parser::new(&Format::Winevt);
        assert_eq!(
            fields(&p, SYSMON_DNS),
            vec![
                f("QueryName", Role::Domain, "cdn.evil-update.com"),
                f("QueryResults", Role::Answer, "edge.evil-update.net"),
                f("QueryResults", Role::Answer, "203.0.113.66"),
                f("QueryResults", Role::Answer, "203.0.113.67"),
            ]
        );
        assert_eq!(
            ts(&p, SYSMON_DNS).as_deref(),
            Some("2026-12-07T09:15:32.123456Z")
        );
    }

    #[test]
    fn sysmon_network_process_and_zone_identifier() {
        let p = Parser::new(&Format::Winevt);
        let net = r##"{"Event":{"System":{"EventID":3,"TimeCreated":{"#attributes":{"SystemTime":"2026-12-07T09:15:33Z"}}},"EventData":{"RuleName":"-","Image":"C:\\Users\\anna\\AppData\\Local\\Temp\\upd.exe","User":"MUSTERHAUSEN\\anna","Protocol":"tcp","Initiated":true,"SourceIsIpv6":false,"SourceIp":"10.0.5.21","SourceHostname":"PC-0815.musterhausen.local","SourcePort":50123,"SourcePortName":"-","DestinationIsIpv6":false,"DestinationIp":"203.0.113.66","DestinationHostname":"edge.evil-update.net","DestinationPort":443,"DestinationPortName":"https"}}}"##;
        assert_eq!(
            fields(&p, net),
            vec![
                f("Protocol", Role::Proto, "tcp"),
                f("SourceIp", Role::SrcIp, "10.0.5.21"),
                f("SourcePort", Role::SrcPort, "50123"),
                f("DestinationIp", Role::DstIp, "203.0.113.66"),
                f("DestinationHostname", Role::Domain, "edge.evil-update.net"),
                f("DestinationPort", Role::DstPort, "443"),
            ]
        );
        let proc_ = r##"{"Event":{"System":{"EventID":1},"EventData":{"CommandLine":"upd.exe http://cmd.example/x","Hashes":"SHA1=0A0B0C0D0E0F101112131415161718191A1B1C1D,MD5=00112233445566778899AABBCCDDEEFF,SHA256=AB12000000000000000000000000000000000000000000000000000000000000,IMPHASH=FFEEDDCCBBAA99887766554433221100"}}}"##;
        assert_eq!(
            fields(&p, proc_),
            vec![
                f(
                    "Hashes",
                    Role::Hash,
                    "0A0B0C0D0E0F101112131415161718191A1B1C1D"
                ),
                f("Hashes", Role::Hash, "00112233445566778899AABBCCDDEEFF"),
                f(
                    "Hashes",
                    Role::Hash,
                    "AB12000000000000000000000000000000000000000000000000000000000000"
                ),
            ]
        );
        // Sysmon 15: the stream's contents with CR LF escaped in JSON.
        let zone = r##"{"Event":{"System":{"EventID":15},"EventData":{"TargetFilename":"C:\\Users\\anna\\Downloads\\rechnung.zip:Zone.Identifier","Hash":"SHA256=CD34000000000000000000000000000000000000000000000000000000000000","Contents":"[ZoneTransfer]\r\nZoneId=3\r\nReferrerUrl=https://mail.musterhausen.de/\r\nHostUrl=http://bad.example.net/gate.php?id=7\r\n"}}}"##;
        assert_eq!(
            fields(&p, zone),
            vec![
                f(
                    "Hash",
                    Role::Hash,
                    "CD34000000000000000000000000000000000000000000000000000000000000"
                ),
                f("Contents", Role::Url, "https://mail.musterhausen.de/"),
                f("Contents", Role::Domain, "mail.musterhausen.de"),
                f(
                    "Contents",
                    Role::Url,
                    "http://bad.example.net/gate.php?id=7"
                ),
                f("Contents", Role::Domain, "bad.example.net"),
            ]
        );
    }

    #[test]
    fn security_log_bits_rdp_and_velociraptor_rows() {
        let p = Parser::new(&Format::Winevt);
        let logon = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing"}},"EventID":4625,"TimeCreated":{"#attributes":{"SystemTime":"2026-12-07T09:15:34.5Z"}}},"EventData":{"TargetUserName":"administrator","WorkstationName":"-","IpAddress":"::ffff:198.51.100.23","IpPort":"51515","LogonType":3}}}"##;
        assert_eq!(
            fields(&p, logon),
            vec![f("IpAddress", Role::SrcIp, "198.51.100.23")]
        );
        let wfp = r##"{"Event":{"System":{"EventID":5156},"EventData":{"ProcessID":4,"Application":"\\device\\harddiskvolume2\\windows\\system32\\svchost.exe","Direction":"%%14593","SourceAddress":"10.0.5.21","SourcePort":"50124","DestAddress":"203.0.113.66","DestPort":"443","Protocol":6}}}"##;
        assert_eq!(
            fields(&p, wfp),
            vec![
                f("SourceAddress", Role::SrcIp, "10.0.5.21"),
                f("SourcePort", Role::SrcPort, "50124"),
                f("DestAddress", Role::DstIp, "203.0.113.66"),
                f("DestPort", Role::DstPort, "443"),
                f("Protocol", Role::Proto, "6"),
            ]
        );
        let bits = r##"{"Event":{"System":{"EventID":59},"EventData":{"transferId":"{0000}","name":"upd","Id":"{0001}","url":"https://cdn.evil-update.com/p.bin","peer":"","fileTime":"2026-12-07T09:00:00Z","fileLength":"4096","bytesTotal":"4096","bytesTransferred":"0","bytesTransferredFromPeer":"0"}}}"##;
        assert_eq!(
            fields(&p, bits),
            vec![
                f("url", Role::Url, "https://cdn.evil-update.com/p.bin"),
                f("url", Role::Domain, "cdn.evil-update.com"),
            ]
        );
        let rdp = r##"{"Event":{"System":{"EventID":21},"UserData":{"EventXML":{"#attributes":{"xmlns":"Event_NS"},"User":"MUSTERHAUSEN\\anna","SessionID":2,"Address":"198.51.100.23"}}}}"##;
        assert_eq!(
            fields(&p, rdp),
            vec![f("Address", Role::SrcIp, "198.51.100.23")]
        );
        // Velociraptor: no `Event` wrapper, the time in epoch seconds.
        let velo = r##"{"System":{"EventID":{"Value":22},"TimeCreated":{"SystemTime":1796634932.5}},"EventData":{"QueryName":"cdn.evil-update.com","QueryResults":"-"}}"##;
        assert_eq!(
            fields(&p, velo),
            vec![f("QueryName", Role::Domain, "cdn.evil-update.com")]
        );
        assert!(ts(&p, velo).is_some_and(|t| t.starts_with("2026-12-")));
    }

    #[test]
    fn xml_events_one_or_several_per_line() {
        let p = Parser::new(&Format::WinevtXml);
        let one = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/><EventID>22</EventID><TimeCreated SystemTime='2026-12-07T09:15:32.1234567Z'/><Computer>PC-0815</Computer></System><EventData><Data Name='RuleName'>-</Data><Data Name='QueryName'>cdn.evil-update.com</Data><Data Name='QueryStatus'>0</Data><Data Name='QueryResults'>::ffff:203.0.113.66;</Data><Data Name='Image'>C:\\Windows\\System32\\rundll32.exe</Data></EventData></Event>";
        assert_eq!(
            fields(&p, one),
            vec![
                f("QueryName", Role::Domain, "cdn.evil-update.com"),
                f("QueryResults", Role::Answer, "203.0.113.66"),
            ]
        );
        assert_eq!(
            ts(&p, one).as_deref(),
            Some("2026-12-07T09:15:32.123456700Z")
        );
        let two = "<Event xmlns='x'><System><EventID>59</EventID><TimeCreated SystemTime='2026-12-07T09:00:00.0000000Z'/></System><EventData><Data Name='url'>https://cdn.evil-update.com/p.bin?a=1&amp;b=2</Data></EventData></Event><Event xmlns='x'><System><EventID>21</EventID></System><UserData><EventXML xmlns='Event_NS'><User>X\\y</User><Address>198.51.100.23</Address></EventXML></UserData></Event>";
        assert_eq!(
            fields(&p, two),
            vec![
                f(
                    "url",
                    Role::Url,
                    "https://cdn.evil-update.com/p.bin?a=1&b=2"
                ),
                f("url", Role::Domain, "cdn.evil-update.com"),
                f("Address", Role::SrcIp, "198.51.100.23"),
            ]
        );
        let mut r = Record::default();
        let cut = "<Event xmlns='x'><System><EventID>22</EventID></System><EventData><Data Name='QueryName'>a.b";
        let e = p.parse(cut.as_bytes(), &mut r).expect_err("cut event");
        assert!(e.contains("</Event>"), "{e}");
        let bad = "<Event xmlns='x'><System><EventID>22</EventID></System><EventData><Data Name='QueryName'>a.b</Event>";
        let e = p.parse(bad.as_bytes(), &mut r).expect_err("cut Data");
        assert_eq!(e, "event 1: a <Data> without its </Data>");
        let ent = "<Event><System/><EventData><Data Name='url'>http://a.b/?x=1&nbsp;</Data></EventData></Event>";
        let e = p.parse(ent.as_bytes(), &mut r).expect_err("unknown entity");
        assert_eq!(e, "event 1: unknown entity `&nbsp;`");
        // Event Viewer's document element is not an event.
        let e = p.parse(b"<Events>", &mut r).expect_err("no event");
        assert_eq!(e, "no <Event> element");
    }

    /// What the scanner must read, from a tree: roxmltree over the same event.
    fn reference(line: &str) -> (Vec<(String, Role, String)>, Option<String>) {
        let p = Parser::new(&Format::WinevtXml);
        let mut rec = Record::default();
        let mut rest = line;
        while let Some(a) = rest.find("<Event ").or_else(|| rest.find("<Event>")) {
            let e = a + rest[a..].find("</Event>").expect("end") + 8;
            let doc = roxmltree::Document::parse(&rest[a..e]).expect("well-formed");
            for n in doc.descendants().filter(roxmltree::Node::is_element) {
                let tag = n.tag_name().name();
                if tag == "TimeCreated" && rec.ts.is_none() {
                    if let Some(t) = n.attribute("SystemTime") {
                        let s0 = rec.scratch.len();
                        rec.scratch.extend_from_slice(t.as_bytes());
                        rec.ts = Some((TsKind::Iso, true, s0 as u32, rec.scratch.len() as u32));
                    }
                    continue;
                }
                let parent = n.parent_element().map(|p| p.tag_name().name());
                let name = match (tag, parent) {
                    ("Data", Some("EventData")) => n.attribute("Name"),
                    (_, Some("EventXML")) => Some(tag),
                    _ => None,
                };
                if let Some(id) = name.and_then(|nm| field(nm.as_bytes())) {
                    let v = n.text().unwrap_or("");
                    push_value(&mut rec, id, v.as_bytes(), COPIED);
                }
            }
            rest = &rest[e..];
        }
        let fields = record_fields(&p, line, &rec);
        (fields, p.timestamp(line.as_bytes(), &rec))
    }

    fn xml_escape(v: &str, quote: char) -> String {
        let mut o = String::new();
        for c in v.chars() {
            match c {
                '&' => o.push_str("&amp;"),
                '<' => o.push_str("&lt;"),
                '>' => o.push_str("&gt;"),
                '\'' if quote == '\'' => o.push_str("&apos;"),
                '"' if quote == '"' => o.push_str("&quot;"),
                'é' => o.push_str("&#233;"),
                'ß' => o.push_str("&#xDF;"),
                c => o.push(c),
            }
        }
        o
    }

    proptest::proptest! {
        #[test]
        fn the_xml_scanner_reads_what_a_tree_reads(
            events in proptest::collection::vec(
                (
                    proptest::collection::vec(
                        (
                            proptest::sample::select(vec![
                                "QueryName", "QueryResults", "Hashes", "Hash", "IpAddress", "url", "Image",
                                "User", "Contents", "DestinationIp", "SourcePort", "Data", "Name",
                            ]),
                            "[a-zA-Z0-9 .:;=/_&<>'\"éß-]{0,40}",
                            proptest::bool::ANY,
                            proptest::bool::ANY,
                        ),
                        0..6,
                    ),
                    proptest::option::of("[0-9]{1,3}\\.[0-9]{1,3}\\.0\\.[0-9]"),
                    proptest::bool::ANY,
                ),
                1..3,
            )
        ) {
            let mut line = String::new();
            for (i, (data, addr, time)) in events.iter().enumerate() {
                line.push_str("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>");
                line.push_str("<Provider Name='P'/><EventID>22</EventID>");
                if *time {
                    line.push_str(&format!("<TimeCreated SystemTime=\"2026-12-07T09:15:3{i}.5Z\"/>"));
                }
                line.push_str("</System><EventData>");
                for (name, value, dq, empty) in data {
                    let q = if *dq { '"' } else { '\'' };
                    if *empty {
                        line.push_str(&format!("<Data Name={q}{name}{q}/>"));
                    } else {
                        line.push_str(&format!(
                            "<Data Name={q}{name}{q}>{}</Data>",
                            xml_escape(value, '<')
                        ));
                    }
                }
                line.push_str("</EventData>");
                if let Some(a) = addr {
                    line.push_str(&format!(
                        "<UserData><EventXML xmlns='Event_NS'><User>U</User><Address>{a}</Address><Empty/></EventXML></UserData>"
                    ));
                }
                line.push_str("</Event>");
            }
            let p = Parser::new(&Format::WinevtXml);
            let mut r = Record::default();
            p.parse(line.as_bytes(), &mut r).expect("parses");
            let got = record_fields(&p, &line, &r);
            let (want, want_ts) = reference(&line);
            proptest::prop_assert_eq!(got, want, "{}", line);
            proptest::prop_assert_eq!(p.timestamp(line.as_bytes(), &r), want_ts);
        }
    }

    fn read_all(mut r: Box<dyn Read + Send>) -> String {
        let mut s = String::new();
        r.read_to_string(&mut s).expect("read");
        s
    }

    #[test]
    fn a_binary_event_log_becomes_json_lines() {
        let lines = read_all(evtx_lines(super::super::evtx_write::fixture()).expect("readable"));
        let lines: Vec<&str> = lines.lines().collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        let p = Parser::new(&Format::Evtx);
        assert_eq!(
            fields(&p, lines[0]),
            vec![
                f("QueryName", Role::Domain, "cdn.evil-update.com"),
                f("QueryResults", Role::Answer, "edge.example.net"),
                f("QueryResults", Role::Answer, "203.0.113.66"),
            ],
            "{}",
            lines[0]
        );
        assert_eq!(
            ts(&p, lines[0]).as_deref(),
            Some("2026-12-07T09:15:32.123456700Z")
        );
        assert_eq!(fields(&p, lines[1]).len(), 2, "{}", lines[1]);
        assert_eq!(
            fields(&p, lines[2]),
            vec![f("IpAddress", Role::SrcIp, "198.51.100.23")]
        );
        assert_eq!(
            fields(&p, lines[3])[0],
            f("url", Role::Url, "http://bad.example.net/gate.php?id=7")
        );
    }

    #[test]
    fn records_across_chunks_come_in_order() {
        use super::super::evtx_write::{event, evtx};
        let names: Vec<String> = (0..3000).map(|i| format!("host{i}.example.net")).collect();
        let events: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let ev = event(
                    "Microsoft-Windows-Sysmon",
                    22,
                    "2026-12-07T09:15:32.0000000Z",
                    &[("QueryName", n.as_str())],
                );
                (1_796_634_932 + i as u64, ev)
            })
            .collect();
        let file = evtx(&events);
        let chunks = (file.len() - 4096) / 65536;
        assert!(chunks >= 3, "{chunks} chunks");
        let text = read_all(evtx_lines(file).expect("readable"));
        let p = Parser::new(&Format::Evtx);
        let got: Vec<String> = text.lines().map(|l| fields(&p, l).remove(0).2).collect();
        assert_eq!(got, names);
    }

    #[test]
    fn the_evtx_fixture_is_what_the_writer_makes() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sysmon.evtx");
        let want = super::super::evtx_write::fixture();
        if std::env::var_os("VIGIL_WRITE_FIXTURES").is_some() {
            std::fs::write(&path, &want).expect("write the fixture");
        }
        let have = std::fs::read(&path).expect("the fixture (VIGIL_WRITE_FIXTURES=1 writes it)");
        assert!(
            have == want,
            "{} is stale: VIGIL_WRITE_FIXTURES=1 rewrites it",
            path.display()
        );
    }

    #[test]
    fn a_damaged_event_log_is_refused_or_read_around() {
        let good = super::super::evtx_write::fixture();
        // Nothing but the magic: one error line saying so.
        let mut bad = b"ElfFile\0".to_vec();
        bad.resize(4096 + 65536, 0);
        let text = read_all(evtx_lines(bad).expect("a header"));
        assert_eq!(
            text,
            "!evtx-error: no record could be read, and the file header's checksum does not match (a damaged log)\n"
        );
        // A record's BinXML broken: that record is an unparsable line, the others are read.
        let mut broken = good.clone();
        let rec2 = 4096
            + memchr::memmem::find_iter(&good[4096..], b"\x2a\x2a\x00\x00")
                .nth(1)
                .expect("second record");
        broken[rec2 + 24] = 0xee;
        let text = read_all(evtx_lines(broken).expect("readable"));
        let p = Parser::new(&Format::Evtx);
        let mut r = Record::default();
        let results: Vec<Result<Parsed, String>> = text
            .lines()
            .map(|l| p.parse(l.as_bytes(), &mut r))
            .collect();
        assert_eq!(results.len(), 4, "{text}");
        assert!(results[0].is_ok() && results[2].is_ok() && results[3].is_ok());
        let e = results[1].clone().expect_err("record 2 is broken");
        assert!(
            e.starts_with("event log record: Failed to parse record number 2: "),
            "{e}"
        );
        // Cut short: whatever whole chunk there is, or a clear refusal; never a panic.
        for cut in [100, 4096, 4096 + 600, good.len() - 1] {
            if let Ok(r) = evtx_lines(good[..cut].to_vec()) {
                let _ = read_all(r);
            }
        }
    }

    #[test]
    fn values_that_name_nothing_are_skipped() {
        let mut r = Record::default();
        for v in ["-", "", "  ", "LOCAL"] {
            r.clear();
            push_value(&mut r, 0, v.as_bytes(), COPIED);
            assert!(v == "LOCAL" || r.is_empty(), "{v:?}");
        }
        r.clear();
        push_value(&mut r, HASHES, b"SHA256=not-hex,IMPHASH=00", COPIED);
        assert!(r.is_empty());
        r.clear();
        push_value(
            &mut r,
            CONTENTS,
            b"[ZoneTransfer] ZoneId=3 HostUrl=about:internet",
            COPIED,
        );
        assert!(r.is_empty());
        assert_eq!(
            data_name(b"Event.EventData.QueryName"),
            Some(&b"QueryName"[..])
        );
        assert_eq!(data_name(b"Event.System.Computer"), None);
        assert_eq!(winlogbeat_field(b"winlog.event_data.QueryName"), Some(0));
        assert_eq!(winlogbeat_field(b"winlog.event_data.a.QueryName"), None);
        for (i, (n, _)) in WINEVT_FIELDS.iter().enumerate() {
            assert_eq!(field(n.as_bytes()), Some(i as u16), "{n}");
        }
    }
}
