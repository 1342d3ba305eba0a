//! Cisco ASA and Firepower Threat Defense syslog messages (`%ASA-6-302013: Built outbound TCP connection ...`,
//! `%FTD-...`, and the older PIX and FWSM tags): the connection, access-list and deny messages that name both
//! ends, the URLs of 304001 and the names the botnet traffic filter resolved. Messages that name no traffic
//! (interfaces, failover, logins) are passed over.

use std::net::IpAddr;

use super::{find_short, url_host, Parsed, Record, TsKind};
use crate::set::Role;

/// The fields read. `addr` is an end whose side the message does not tell (a teardown's, ICMP's `faddr` and
/// `laddr`).
pub(super) const ASA_FIELDS: &[(&str, Role)] = &[
    ("src", Role::SrcIp),
    ("dst", Role::DstIp),
    ("sport", Role::SrcPort),
    ("dport", Role::DstPort),
    ("addr", Role::Ip),
    ("url", Role::Url),
    ("host", Role::Domain),
    ("domain", Role::Domain),
];

const SRC: u16 = 0;
const DST: u16 = 1;
const ADDR: u16 = 4;
const URL: u16 = 5;
const HOST: u16 = 6;
const DOMAIN: u16 = 7;

/// Where a message's tag (`%ASA-6-302013:`) is, its message id, and where its text starts.
pub(super) fn asa_tag(line: &[u8]) -> Option<(usize, u32, usize)> {
    for p in memchr::memchr_iter(b'%', line) {
        let rest = &line[p + 1..];
        let Some(after) = [&b"ASA-"[..], b"FTD-", b"PIX-", b"FWSM-"]
            .iter()
            .find(|t| rest.starts_with(t))
            .map(|t| &rest[t.len()..])
        else {
            continue;
        };
        // `6-302013:`
        if after.len() < 9
            || !after[0].is_ascii_digit()
            || after[1] != b'-'
            || !after[2..8].iter().all(u8::is_ascii_digit)
            || after[8] != b':'
        {
            continue;
        }
        let id = after[2..8]
            .iter()
            .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
        let mut text = line.len() - after.len() + 9;
        while line.get(text) == Some(&b' ') {
            text += 1;
        }
        return Some((p, id, text));
    }
    None
}

/// An end of a connection in the line: its address's range and its port's, when written.
type End = ((usize, usize), Option<(usize, usize)>);

/// An end as the messages write it: `outside:203.0.113.9/443`, `203.0.113.9/443`, `203.0.113.9`,
/// `inside/10.0.5.21(50123)` (access lists), an IPv6 address in any of these; the token from `at` to the next
/// space, comma or `(`-group. Returns the address's and the port's ranges.
fn endpoint(line: &[u8], at: usize) -> Option<End> {
    let end = line[at..]
        .iter()
        .position(|&c| c == b' ' || c == b',')
        .map_or(line.len(), |k| at + k);
    let tok = &line[at..end];
    let (addr_end, port) = if let Some(o) = memchr::memchr(b'(', tok) {
        // `inside/10.0.5.21(50123)`
        let pe = memchr::memchr(b')', &tok[o..]).map_or(tok.len(), |k| o + k);
        (o, Some((at + o + 1, at + pe)))
    } else if let Some(s) = memchr::memrchr(b'/', tok) {
        (s, Some((at + s + 1, end)))
    } else {
        (tok.len(), None)
    };
    let port = port.filter(|&(a, b)| b > a && line[a..b].iter().all(u8::is_ascii_digit));
    let head = &tok[..addr_end];
    // The interface before the address: `outside:` (a colon), or `inside/` in the access-list form.
    let cut = if memchr::memchr(b'(', tok).is_some() {
        memchr::memrchr(b'/', head).map_or(0, |k| k + 1)
    } else {
        0
    };
    let a = if is_ip(&head[cut..]) {
        cut
    } else {
        let c = memchr::memchr(b':', &head[cut..]).map(|k| cut + k + 1)?;
        if !is_ip(&head[c..]) {
            return None;
        }
        c
    };
    Some(((at + a, at + addr_end), port))
}

fn is_ip(b: &[u8]) -> bool {
    std::str::from_utf8(b)
        .ok()
        .is_some_and(|s| s.parse::<IpAddr>().is_ok())
}

/// The end after the first `word` (` for `, ` src `) from `from` on, and where it was found.
fn end_after(line: &[u8], from: usize, word: &[u8]) -> Option<(usize, End)> {
    let w = find_short(&line[from..], word)? + from;
    Some((w, endpoint(line, w + word.len())?))
}

fn push_end(rec: &mut Record, role_id: u16, e: End) {
    let ((a, b), port) = e;
    rec.push(role_id, ASA_FIELDS[role_id as usize].1, a, b);
    if let Some((pa, pb)) = port {
        let pid = match role_id {
            SRC => 2,
            DST => 3,
            _ => return,
        };
        rec.push(pid, ASA_FIELDS[pid as usize].1, pa, pb);
    }
}

/// `Dec  7 09:15:32 fw01 : %ASA-6-302013: Built outbound TCP connection 1234 for outside:203.0.113.9/443
/// (203.0.113.9/443) to inside:10.0.5.21/50123 (198.51.100.1/50123)`.
pub(super) fn parse_asa(line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    let (tag, id, t) = asa_tag(line).ok_or("no `%ASA-n-nnnnnn:` message tag")?;
    match id {
        // Built: the first end is the initiator of an inbound connection, the responder of an outbound one.
        302013 | 302015 | 302303 => {
            let (w, first) = end_after(line, t, b" for ").ok_or("a connection without its ends")?;
            let (_, second) =
                end_after(line, w + 5, b" to ").ok_or("a connection without its ends")?;
            let inbound = find_short(&line[t..w], b"inbound").is_some();
            let outbound = find_short(&line[t..w], b"outbound").is_some();
            let (a, b) = match (inbound, outbound) {
                (true, _) => (SRC, DST),
                (_, true) => (DST, SRC),
                _ => (ADDR, ADDR),
            };
            push_end(rec, a, first);
            push_end(rec, b, second);
        }
        // Teardowns: no direction.
        302014 | 302016 | 302304 => {
            let (w, first) = end_after(line, t, b" for ").ok_or("a connection without its ends")?;
            push_end(rec, ADDR, first);
            if let Some((_, second)) = end_after(line, w + 5, b" to ") {
                push_end(rec, ADDR, second);
            }
        }
        // ICMP: foreign, global and local addresses.
        302020 | 302021 => {
            for word in [&b" faddr "[..], b" laddr "] {
                if let Some((_, e)) = end_after(line, t, word) {
                    push_end(rec, ADDR, e);
                }
            }
        }
        // `10.0.5.21 Accessed URL 203.0.113.9:http://evil.example/gate.php` (a user as `jdoe@10.0.5.21`).
        304001 => {
            let acc = find_short(&line[t..], b" Accessed ")
                .ok_or("a 304001 message without `Accessed`")?
                + t;
            let who_at = memchr::memrchr(b'@', &line[t..acc]).map_or(t, |k| t + k + 1);
            if let Some(e) = endpoint(line, who_at) {
                push_end(rec, SRC, e);
            }
            if let Some(ua) = find_short(&line[acc..], b"http").map(|k| acc + k) {
                if let Some(d) = find_short(&line[acc..ua], b"URL ").map(|k| acc + k + 4) {
                    let mut de = ua;
                    while de > d && matches!(line[de - 1], b':' | b' ') {
                        de -= 1;
                    }
                    if is_ip(&line[d..de]) {
                        rec.push(DST, Role::DstIp, d, de);
                    }
                }
                let ue = memchr::memchr(b' ', &line[ua..]).map_or(line.len(), |k| ua + k);
                let url = &line[ua..ue];
                if url.starts_with(b"http://") || url.starts_with(b"https://") {
                    rec.push(URL, Role::Url, ua, ue);
                    if let Some((hs, he)) = url_host(url) {
                        rec.push(HOST, Role::Domain, ua + hs, ua + he);
                    }
                }
            }
        }
        _ => {
            let mut any = false;
            // Access lists: `inside/10.0.5.21(50123) -> outside/203.0.113.9(443)`.
            if let Some(arrow) = find_short(&line[t..], b" -> ").map(|k| t + k) {
                let start = line[t..arrow]
                    .iter()
                    .rposition(|&c| c == b' ')
                    .map_or(t, |k| t + k + 1);
                if let (Some(a), Some(b)) = (endpoint(line, start), endpoint(line, arrow + 4)) {
                    push_end(rec, SRC, a);
                    push_end(rec, DST, b);
                    any = true;
                }
            }
            // `Deny tcp src outside:203.0.113.9/443 dst inside:10.0.5.21/50123`.
            if !any {
                if let Some((w, a)) = end_after(line, t, b" src ") {
                    push_end(rec, SRC, a);
                    if let Some((_, b)) = end_after(line, w, b" dst ") {
                        push_end(rec, DST, b);
                    }
                    any = true;
                }
            }
            // `Inbound TCP connection denied from 203.0.113.9/4444 to 10.0.5.21/80`.
            if !any {
                if let Some((w, a)) = end_after(line, t, b" from ") {
                    push_end(rec, SRC, a);
                    if let Some((_, b)) = end_after(line, w + 6, b" to ") {
                        push_end(rec, DST, b);
                    }
                }
            }
            // The botnet traffic filter: `... resolved from dynamic list: evil.example, threat-level: ...`.
            if let Some(l) = find_short(&line[t..], b" list: ").map(|k| t + k + 7) {
                let e = line[l..]
                    .iter()
                    .position(|&c| c == b',' || c == b' ')
                    .map_or(line.len(), |k| l + k);
                if e > l && line[l..e].contains(&b'.') {
                    rec.push(DOMAIN, Role::Domain, l, e);
                }
            }
        }
    }
    asa_time(line, tag, rec);
    Ok(Parsed::Record)
}

/// The time before the tag: a syslog server's ISO 8601 stamp, or the device's `Dec 07 2026 09:15:32` (with
/// `logging timestamp`) or `Dec  7 09:15:32` (syslog's, without a year); the device's clock, read in the log's
/// zone when it has none.
fn asa_time(line: &[u8], tag: usize, rec: &mut Record) {
    let mut h = &line[..tag];
    let mut off = 0;
    if h.first() == Some(&b'<') {
        if let Some(k) = memchr::memchr(b'>', h) {
            off = k + 1;
            h = &h[k + 1..];
        }
    }
    let mut buf = [(0usize, 0usize); 5];
    let mut n = 0;
    for tok in super::tokens(h, 0).take(5) {
        buf[n] = tok;
        n += 1;
    }
    let toks = &buf[..n];
    let Some(&(a0, b0)) = toks.first() else {
        return;
    };
    let mut first = (a0, b0);
    if &h[a0..b0] == b"1" && toks.len() > 1 {
        // RFC 5424's version.
        first = toks[1];
    }
    let t0 = &h[first.0..first.1];
    if t0.len() >= 19 && t0[4] == b'-' && t0[10] == b'T' {
        let b = if t0.ends_with(b":") {
            first.1 - 1
        } else {
            first.1
        };
        rec.ts = Some((TsKind::Iso, false, (off + first.0) as u32, (off + b) as u32));
        return;
    }
    if t0.len() != 3 || !t0.iter().all(u8::is_ascii_alphabetic) || toks.len() < 3 {
        return;
    }
    let n = if toks.len() > 3
        && h[toks[2].0..toks[2].1].len() == 4
        && h[toks[2].0..toks[2].1].iter().all(u8::is_ascii_digit)
    {
        4
    } else {
        3
    };
    let start = rec.scratch.len();
    for (i, &(a, b)) in toks[..n].iter().enumerate() {
        if i > 0 {
            rec.scratch.push(b' ');
        }
        let v = &h[a..b];
        rec.scratch
            .extend_from_slice(v.strip_suffix(b":").unwrap_or(v));
    }
    rec.ts = Some((TsKind::Cef, true, start as u32, rec.scratch.len() as u32));
}
