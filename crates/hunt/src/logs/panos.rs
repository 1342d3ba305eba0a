//! Palo Alto Networks PAN-OS syslog: comma-separated fields in a fixed order per log type (PAN-OS syslog field
//! descriptions, "Traffic Log Fields" and "Threat Log Fields"; URL filtering, WildFire, data and file logs are
//! threat log subtypes), behind a syslog header or not.

use super::{build_url, csv_split, is_whole_url, url_host, Parsed, Record, TsKind};
use crate::set::Role;

/// The fields read, named as PAN-OS's log query language names them. Their place in the line is in
/// [`parse_panos`].
pub(super) const PANOS_FIELDS: &[(&str, Role)] = &[
    ("src", Role::SrcIp),
    ("dst", Role::DstIp),
    ("sport", Role::SrcPort),
    ("dport", Role::DstPort),
    ("proto", Role::Proto),
    ("url", Role::Url),
    ("misc", Role::Domain),
    ("host", Role::Domain),
    ("filedigest", Role::Hash),
    ("sender", Role::Email),
    ("recipient", Role::Email),
];

const URL: u16 = 5;
const MISC_DOMAIN: u16 = 6;
const HOST: u16 = 7;

/// Column numbers (from 0, the leading `FUTURE_USE`) shared by the traffic and threat logs.
const GENERATED_TIME: usize = 6;
const COLS: [(usize, u16); 5] = [(7, 0), (8, 1), (24, 2), (25, 3), (29, 4)];
/// Threat log only.
const MISC: usize = 31;
const FILE_DIGEST: usize = 43;
const SENDER: usize = 50;
const RECIPIENT: usize = 52;

/// True for `yyyy/mm/dd hh:mm:ss`.
pub(super) fn is_panos_time(v: &[u8]) -> bool {
    v.len() == 19
        && v.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'/',
            10 => c == b' ',
            13 | 16 => c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// Where the comma-separated record starts: at the field before the first `,yyyy/mm/dd hh:mm:ss,` (the receive
/// time), after any syslog header.
pub(super) fn record_start(line: &[u8]) -> Option<usize> {
    for c in memchr::memchr_iter(b',', line) {
        if line.get(c + 1..c + 20).is_some_and(is_panos_time) && line.get(c + 20) == Some(&b',') {
            let start = line[..c]
                .iter()
                .rposition(|&b| b == b' ')
                .map_or(0, |s| s + 1);
            return Some(start);
        }
        if c > 256 {
            break;
        }
    }
    None
}

/// `<14>Dec  7 09:15:32 PA-3220 1,2026/12/07 09:15:32,013201001234,THREAT,url,2561,2026/12/07 09:15:32,
/// 10.0.5.21,203.0.113.9,...,"evil.example/gate.php",...`.
pub(super) fn parse_panos(line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    let start = record_start(line)
        .ok_or("no `,yyyy/mm/dd hh:mm:ss,` receive time: not a PAN-OS log line")?;
    let mut cells = std::mem::take(&mut rec.cells);
    csv_split(&line[start..], &mut cells);
    let r = fields(line, start, &cells, rec);
    rec.cells = cells;
    r
}

fn fields(
    line: &[u8],
    start: usize,
    cells: &[(usize, usize, bool)],
    rec: &mut Record,
) -> Result<Parsed, String> {
    let cell = |i: usize| {
        cells
            .get(i)
            .map(|&(a, b, _)| (start + a, start + b))
            .filter(|&(a, b)| b > a)
    };
    let ty = cell(3).map_or(&b""[..], |(a, b)| &line[a..b]);
    let threat = ty == b"THREAT";
    if !(threat || ty == b"TRAFFIC" || ty == b"DECRYPTION" || ty == b"TUNNEL") {
        // System, configuration, HIP, GlobalProtect, User-ID and authentication logs name no traffic.
        return Ok(Parsed::Skip);
    }
    for (col, id) in COLS {
        if let Some((a, b)) = cell(col) {
            rec.push(id, PANOS_FIELDS[id as usize].1, a, b);
        }
    }
    if threat {
        let subtype = cell(4).map_or(&b""[..], |(a, b)| &line[a..b]);
        if let Some((a, b)) = cell(MISC) {
            let v = &line[a..b];
            match subtype {
                // `www.example.com/path` without its scheme, or a whole URL; its host looked up as well.
                b"url" => {
                    if let Some((hs, he)) = url_host(v) {
                        rec.push(HOST, Role::Domain, a + hs, a + he);
                    }
                    if is_whole_url(v) {
                        rec.push(URL, Role::Url, a, b);
                    } else if let Some(s) = memchr::memchr(b'/', v) {
                        rec.push_scratch(
                            URL,
                            Role::Url,
                            &build_url(b"http", &v[..s], &v[s..], None),
                        );
                    }
                }
                // A DNS signature's match names the queried domain.
                b"spyware"
                    if v.contains(&b'.')
                        && !v.iter().any(|&c| c == b'/' || c == b' ' || c == b'\\') =>
                {
                    rec.push(MISC_DOMAIN, Role::Domain, a, b)
                }
                _ => {}
            }
        }
        for (col, id) in [(FILE_DIGEST, 8), (SENDER, 9), (RECIPIENT, 10)] {
            if let Some((a, b)) = cell(col) {
                rec.push(id, PANOS_FIELDS[id as usize].1, a, b);
            }
        }
    }
    if let Some((a, b)) = cell(GENERATED_TIME).filter(|&(a, b)| is_panos_time(&line[a..b])) {
        rec.ts = Some((TsKind::Panos, false, a as u32, b as u32));
    }
    Ok(Parsed::Record)
}
