//! Log readers. Framing (files, stdin, gzip/zstd, line chunks) is separate from formats (one line to typed
//! fields). Each record yields the fields that name something matchable, with their role, plus its timestamp.
//!
//! Field-aware by construction: a parser only emits the fields listed for its format (DNS query, HTTP host and
//! URL, TLS SNI, connection endpoints, file and certificate digests, mail addresses, DNS answers), so a value
//! elsewhere in the line (a user agent, a referrer, a certificate subject) is never looked up.
//!
//! Formats: Zeek TSV (with `#separator`, `#set_separator`, `#empty_field`, `#unset_field`, `#fields` headers,
//! which may change mid-stream), Zeek JSON, Suricata EVE JSON (DNS v1/v2/v3 answers, HTTP, TLS, flow,
//! fileinfo, alert, SMTP/e-mail), BIND query logs, unbound `log-queries`/`log-replies` lines, Squid native
//! access logs, the Windows DNS Server debug log (`dns.log`, with or without its packet details), the W3C
//! extended log format (IIS, Symantec/Broadcom ProxySG ELFF, Forefront TMG; `#Fields:` directives), Elastic
//! Common Schema JSON (Elastic Agent, Beats, Logstash, an Elasticsearch export), FortiGate's `key=value` logs,
//! ArcSight CEF and QRadar LEEF (what most security products export to a SIEM), Palo Alto PAN-OS syslog, Cisco
//! ASA and FTD syslog, Check Point's Log Exporter syslog, Windows event log events as JSON or XML lines
//! (`logs/winevt.rs`), and JSON-lines or CSV with a [`FieldMap`].

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::json::{self, Leaf};
use crate::set::Role;

mod asa;
mod cef;
mod checkpoint;
mod panos;
mod winevt;

#[doc(hidden)]
pub mod evtx_write;
pub use winevt::evtx_lines;

/// A log format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Zeek's tab-separated format with `#fields` header.
    ZeekTsv,
    /// Zeek JSON (one object per line).
    ZeekJson,
    /// Suricata EVE JSON.
    Eve,
    /// BIND 9 query log (`query-errors`/`queries` category lines).
    Bind,
    /// unbound with `log-queries`/`log-replies`.
    Unbound,
    /// Squid native `access.log`.
    Squid,
    /// Windows DNS Server debug log (`%SystemRoot%\System32\dns\dns.log`).
    WinDns,
    /// W3C extended log format with `#Fields:` directives (IIS, ProxySG ELFF, TMG).
    W3c,
    /// Elastic Common Schema JSON lines (Beats, Elastic Agent, Logstash; Elasticsearch `_source` documents).
    Ecs,
    /// FortiGate (FortiOS) `key=value` logs: traffic, web filter, DNS filter, e-mail filter, antivirus.
    Fortigate,
    /// ArcSight Common Event Format (`CEF:0|...`), as most security products export to a SIEM.
    Cef,
    /// IBM QRadar Log Event Extended Format (`LEEF:1.0|...`, `LEEF:2.0|...`).
    Leef,
    /// Palo Alto Networks PAN-OS syslog (traffic and threat logs, URL filtering and WildFire included).
    Panos,
    /// Cisco ASA and Firepower Threat Defense syslog (`%ASA-6-302013: ...`).
    Asa,
    /// Check Point's Log Exporter, `syslog` format (`[action:"Accept"; src:"..."; ...]`).
    Checkpoint,
    /// Windows event log events as JSON lines (`evtx_dump -o jsonl`, Velociraptor): Sysmon, Security, BITS,
    /// DNS client, Remote Desktop.
    Winevt,
    /// A binary Windows event log (`.evtx`), its records rendered as [`Format::Winevt`]'s JSON lines.
    Evtx,
    /// Windows event log events as XML, one or more `<Event>` elements per line (`Get-WinEvent` `ToXml()`,
    /// Splunk's `XmlWinEventLog`, `wevtutil qe /f:xml`).
    WinevtXml,
    /// JSON lines with a field mapping.
    Jsonl(FieldMap),
    /// CSV with a header row and a field mapping.
    Csv(FieldMap),
}

impl Format {
    /// Parses a CLI name: `zeek`, `zeek-tsv`, `zeek-json`, `eve`, `bind`, `unbound`, `squid`, `windns`
    /// (`windows-dns`), `w3c` (`iis`, `elff`), `ecs` (`elastic`), `fortigate` (`fortios`), `cef`, `leef`, `panos`
    /// (`paloalto`, `pan-os`), `asa` (`ftd`, `cisco-asa`), `checkpoint` (`check-point`), `winevt`
    /// (`windows-event`, `evtx-json`, `sysmon`), `evtx`, `winevt-xml` (`windows-event-xml`); `jsonl`/`csv` need a
    /// mapping and are built directly.
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "zeek" | "zeek-tsv" => Format::ZeekTsv,
            "zeek-json" => Format::ZeekJson,
            "eve" | "suricata" => Format::Eve,
            "bind" => Format::Bind,
            "unbound" => Format::Unbound,
            "squid" => Format::Squid,
            "windns" | "windows-dns" => Format::WinDns,
            "w3c" | "iis" | "elff" => Format::W3c,
            "ecs" | "elastic" => Format::Ecs,
            "fortigate" | "fortios" => Format::Fortigate,
            "cef" => Format::Cef,
            "leef" => Format::Leef,
            "panos" | "paloalto" | "pan-os" => Format::Panos,
            "asa" | "ftd" | "cisco-asa" => Format::Asa,
            "checkpoint" | "check-point" => Format::Checkpoint,
            "winevt" | "windows-event" | "evtx-json" | "sysmon" => Format::Winevt,
            "evtx" => Format::Evtx,
            "winevt-xml" | "windows-event-xml" => Format::WinevtXml,
            _ => return None,
        })
    }

    /// Short name.
    pub fn name(&self) -> &'static str {
        match self {
            Format::ZeekTsv => "zeek",
            Format::ZeekJson => "zeek-json",
            Format::Eve => "eve",
            Format::Bind => "bind",
            Format::Unbound => "unbound",
            Format::Squid => "squid",
            Format::WinDns => "windns",
            Format::W3c => "w3c",
            Format::Ecs => "ecs",
            Format::Fortigate => "fortigate",
            Format::Cef => "cef",
            Format::Leef => "leef",
            Format::Panos => "panos",
            Format::Asa => "asa",
            Format::Checkpoint => "checkpoint",
            Format::Winevt => "winevt",
            Format::Evtx => "evtx",
            Format::WinevtXml => "winevt-xml",
            Format::Jsonl(_) => "jsonl",
            Format::Csv(_) => "csv",
        }
    }
}

/// Field mapping for the generic JSON-lines and CSV readers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FieldMap {
    /// (field, role): for JSON a dotted path (`a.b` for nested objects, arrays add nothing), for CSV a header
    /// column name.
    pub fields: Vec<(String, Role)>,
    /// The field holding the timestamp (RFC 3339, or epoch seconds).
    pub ts: Option<String>,
}

/// The zone of the times a log writes without one: BIND and the Windows DNS Server write the server's local
/// time, a CSV or JSON export may write `2026-12-07 10:15:32`. Times with a zone or offset (Zeek, EVE, W3C,
/// RFC 3339) are read as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogTz {
    /// As UTC (the default).
    #[default]
    Utc,
    /// A fixed offset from UTC.
    Fixed(FixedOffset),
    /// An IANA zone (`Europe/Vienna`), summer time included.
    Named(chrono_tz::Tz),
    /// This machine's zone (`TZ`, else `/etc/localtime`).
    Local,
}

impl LogTz {
    /// `utc`, `local`, an offset (`+01:00`, `-0330`) or an IANA zone name (`Europe/Vienna`).
    pub fn parse(s: &str) -> Result<LogTz, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Ok(LogTz::Utc);
        }
        if t.eq_ignore_ascii_case("local") {
            return Ok(LogTz::Local);
        }
        if t.starts_with(['+', '-']) {
            return t
                .parse::<FixedOffset>()
                .map(LogTz::Fixed)
                .map_err(|_| format!("{s:?}: an offset is written +HH:MM or -HHMM"));
        }
        t.parse::<chrono_tz::Tz>().map(LogTz::Named).map_err(|_| {
            format!("{s:?}: not a time zone (utc, local, an offset such as +01:00, or an IANA name such as Europe/Vienna)")
        })
    }

    /// A local time of this zone in UTC. In the hour a summer-time change repeats, the first of the two; a
    /// time the change skips has none.
    pub fn to_utc(&self, t: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            LogTz::Utc => Some(t.and_utc()),
            LogTz::Fixed(o) => o.from_local_datetime(&t).earliest().map(|d| d.to_utc()),
            LogTz::Named(z) => z.from_local_datetime(&t).earliest().map(|d| d.to_utc()),
            LogTz::Local => chrono::Local
                .from_local_datetime(&t)
                .earliest()
                .map(|d| d.to_utc()),
        }
    }
}

/// How to choose the format of each input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FormatChoice {
    /// Detect from the first lines of each file.
    #[default]
    Auto,
    /// Use this format for every file.
    Fixed(Format),
}

/// Errors that stop reading one input (other inputs go on).
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The file cannot be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// Path.
        file: String,
        /// Cause.
        source: io::Error,
    },
    /// Auto-detection found no known format.
    #[error("{file}: unknown log format (first line: {first_line:?}); name one with --format")]
    UnknownFormat {
        /// Path.
        file: String,
        /// The first non-empty line, clipped.
        first_line: String,
    },
}

/// One matchable value of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRef<'a> {
    /// Field name as written in the log (`query`, `dns.rrname`, `id.resp_h`, ...).
    pub name: &'a str,
    /// What the value is.
    pub role: Role,
    /// The value (JSON escapes decoded).
    pub value: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TsKind {
    /// Epoch seconds with optional fraction.
    Epoch,
    /// RFC 3339 or ISO 8601 with `Z`/`+hh:mm`/`+hhmm`.
    Iso,
    /// BIND `dd-Mon-yyyy HH:MM:SS.mmm` (the server's local time, read in the log's zone).
    Bind,
    /// Windows DNS `date time [AM|PM]` in the server's regional format (local time, read in the log's zone).
    WinDns,
    /// FortiGate `eventtime` (UTC since the epoch, in s, ms, us or ns), else `date time` with the `tz` offset
    /// the device wrote, in the scratch as `date time tz` (the offset may be missing).
    Fortigate,
    /// A CEF or LEEF time in one of the forms [`cef::cef_time`] reads (LEEF's `devTimeFormat` after a 0x1F).
    Cef,
    /// PAN-OS `yyyy/mm/dd hh:mm:ss` (the firewall's local time, read in the log's zone).
    Panos,
}

#[derive(Debug, Clone, Copy)]
struct RawField {
    name: u16,
    role: Role,
    in_scratch: bool,
    start: u32,
    end: u32,
}

/// The typed fields of one parsed line. Reused across lines so parsing does not allocate.
#[derive(Debug, Default)]
pub struct Record {
    fields: Vec<RawField>,
    scratch: Vec<u8>,
    ts: Option<(TsKind, bool, u32, u32)>,
    json: json::Scratch,
    /// A comma-separated line's cells (PAN-OS), kept to reuse their allocation.
    cells: Vec<(usize, usize, bool)>,
}

impl Record {
    fn clear(&mut self) {
        self.fields.clear();
        self.scratch.clear();
        self.ts = None;
    }

    fn push(&mut self, name: u16, role: Role, start: usize, end: usize) {
        self.fields.push(RawField {
            name,
            role,
            in_scratch: false,
            start: start as u32,
            end: end as u32,
        });
    }

    fn push_scratch(&mut self, name: u16, role: Role, value: &[u8]) {
        let start = self.scratch.len();
        self.scratch.extend_from_slice(value);
        self.fields.push(RawField {
            name,
            role,
            in_scratch: true,
            start: start as u32,
            end: self.scratch.len() as u32,
        });
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the record has no matchable field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// What a line turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A data record (possibly with no matchable field).
    Record,
    /// A comment, header or blank line, or a non-data line the format legitimately has.
    Skip,
}

/// A line-to-record parser for one format (and, for Zeek TSV, one header). Immutable and shareable.
#[derive(Debug, Clone)]
pub struct Parser {
    kind: Kind,
    names: Vec<String>,
    tz: LogTz,
}

#[derive(Debug, Clone)]
enum Kind {
    ZeekJson,
    Eve,
    Ecs,
    Jsonl {
        map: Vec<(String, u16, Role)>,
        ts: Option<String>,
    },
    Tsv(Tsv),
    Bind,
    Unbound,
    Squid,
    WinDns,
    W3c(W3c),
    Fortigate,
    Cef,
    Leef,
    Panos,
    Asa,
    Checkpoint,
    Winevt,
    WinevtXml,
}

/// The W3C extended format's columns, from the last `#Fields:` directive.
#[derive(Debug, Clone, Default)]
struct W3c {
    /// Per column: what it holds, when it is read.
    cols: Vec<Option<W3cCol>>,
}

/// A W3C column that is read: a matchable field (an index of [`W3C_FIELDS`]), or a part of the URL or of the
/// timestamp (the request's path, query and scheme are written apart; the date apart from the time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum W3cCol {
    Field(u16, Role),
    Path(u16),
    Query,
    Scheme,
    Date,
    Time,
}

#[derive(Debug, Clone, Default)]
struct Tsv {
    sep: u8,
    set_sep: u8,
    unset: Vec<u8>,
    empty: Vec<u8>,
    /// Per column: (name id, role, column is a set/vector), or None when not matched.
    cols: Vec<Option<(u16, Role, bool)>>,
    ts_col: Option<usize>,
    /// Columns of `host` and `uri` (for URL composition), and of the `#fields` header.
    host_col: Option<usize>,
    uri_col: Option<usize>,
    /// CSV uses the same column machinery with quotes.
    csv: bool,
    /// CSV: the header row has not been seen yet.
    header_pending: bool,
    csv_map: Vec<(String, Role)>,
    csv_ts: Option<String>,
}

/// Zeek field names (JSON keys and TSV columns) and the role of their values.
const ZEEK_FIELDS: &[(&str, Role)] = &[
    ("id.orig_h", Role::SrcIp),
    ("id.resp_h", Role::DstIp),
    ("id.orig_p", Role::SrcPort),
    ("id.resp_p", Role::DstPort),
    ("proto", Role::Proto),
    ("query", Role::Domain),
    ("answers", Role::Answer),
    ("host", Role::Domain),
    ("uri", Role::Url),
    ("server_name", Role::Domain),
    ("md5", Role::Hash),
    ("sha1", Role::Hash),
    ("sha256", Role::Hash),
    ("fingerprint", Role::Hash),
    ("san.dns", Role::Domain),
    ("san.email", Role::Email),
    ("cert_chain_fps", Role::Hash),
    ("client_cert_chain_fps", Role::Hash),
    ("tx_hosts", Role::Ip),
    ("rx_hosts", Role::Ip),
    ("mailfrom", Role::Email),
    ("rcptto", Role::Email),
];

fn zeek_field(name: &[u8]) -> Option<(u16, Role)> {
    // A match compiles to a length switch plus one comparison: this runs for every key of every line.
    let i: u16 = match name {
        b"id.orig_h" => 0,
        b"id.resp_h" => 1,
        b"id.orig_p" => 2,
        b"id.resp_p" => 3,
        b"proto" => 4,
        b"query" => 5,
        b"answers" => 6,
        b"host" => 7,
        b"uri" => 8,
        b"server_name" => 9,
        b"md5" => 10,
        b"sha1" => 11,
        b"sha256" => 12,
        b"fingerprint" => 13,
        b"san.dns" => 14,
        b"san.email" => 15,
        b"cert_chain_fps" => 16,
        b"client_cert_chain_fps" => 17,
        b"tx_hosts" => 18,
        b"rx_hosts" => 19,
        b"mailfrom" => 20,
        b"rcptto" => 21,
        _ => return None,
    };
    ZEEK_FIELDS.get(i as usize).map(|f| (i, f.1))
}

/// Suricata EVE paths (arrays add nothing) and roles. `dns.grouped.*` is handled separately.
const EVE_FIELDS: &[(&str, Role)] = &[
    ("src_ip", Role::SrcIp),
    ("dest_ip", Role::DstIp),
    ("src_port", Role::SrcPort),
    ("dest_port", Role::DstPort),
    ("proto", Role::Proto),
    ("dns.rrname", Role::Domain),
    ("dns.rdata", Role::Answer),
    ("dns.queries.rrname", Role::Domain),
    ("dns.answers.rrname", Role::Domain),
    ("dns.answers.rdata", Role::Answer),
    ("dns.grouped", Role::Answer),
    ("http.hostname", Role::Domain),
    ("http.url", Role::Url),
    ("tls.sni", Role::Domain),
    ("tls.fingerprint", Role::Hash),
    ("fileinfo.md5", Role::Hash),
    ("fileinfo.sha1", Role::Hash),
    ("fileinfo.sha256", Role::Hash),
    ("email.from", Role::Email),
    ("email.to", Role::Email),
    ("email.cc", Role::Email),
    ("smtp.mail_from", Role::Email),
    ("smtp.rcpt_to", Role::Email),
];

/// W3C extended log fields that are matched (names as IIS, ProxySG and TMG write them; compared without case).
/// `cs(Referer)` and `cs(User-Agent)` are never looked up.
const W3C_FIELDS: &[(&str, Role)] = &[
    ("cs-host", Role::Domain),
    ("cs(Host)", Role::Domain),
    ("r-host", Role::Domain),
    ("s-supplier-name", Role::Domain),
    ("c-ip", Role::SrcIp),
    ("X-Forwarded-For", Role::SrcIp),
    ("cs(X-Forwarded-For)", Role::SrcIp),
    ("s-ip", Role::DstIp),
    ("r-ip", Role::DstIp),
    ("s-supplier-ip", Role::DstIp),
    ("cs-uri", Role::Url),
    // The request's path, which becomes the URL with the host, scheme and query (not matched alone).
    ("cs-uri-stem", Role::Url),
    ("cs-uri-path", Role::Url),
];

/// Host columns of [`W3C_FIELDS`] in the order a URL takes its host from: the request's `Host`, then the
/// server a proxy reached (which may be an address).
const W3C_HOSTS: [u16; 4] = [0, 1, 2, 3];
/// The `X-Forwarded-For` columns: a list of addresses.
const W3C_XFF: [u16; 2] = [5, 6];
/// The path columns of [`W3C_FIELDS`].
const W3C_PATHS: [u16; 2] = [11, 12];

/// What a W3C `#Fields:` name holds, when it is read.
fn w3c_col(name: &[u8]) -> Option<W3cCol> {
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    if is("date") {
        return Some(W3cCol::Date);
    }
    if is("time") {
        return Some(W3cCol::Time);
    }
    if is("cs-uri-query") {
        return Some(W3cCol::Query);
    }
    if is("cs-uri-scheme") {
        return Some(W3cCol::Scheme);
    }
    let i = W3C_FIELDS.iter().position(|(n, _)| is(n))? as u16;
    Some(if W3C_PATHS.contains(&i) {
        W3cCol::Path(i)
    } else {
        W3cCol::Field(i, W3C_FIELDS[i as usize].1)
    })
}

/// Elastic Common Schema fields that are matched (what Beats, Elastic Agent and Logstash write for DNS,
/// network, web, file and e-mail events, Sysmon's through Winlogbeat included). `http.request.referrer` and
/// `user_agent.original` are never looked up.
const ECS_FIELDS: &[(&str, Role)] = &[
    ("source.ip", Role::SrcIp),
    ("client.ip", Role::SrcIp),
    ("destination.ip", Role::DstIp),
    ("server.ip", Role::DstIp),
    ("source.port", Role::SrcPort),
    ("destination.port", Role::DstPort),
    ("network.transport", Role::Proto),
    ("dns.question.name", Role::Domain),
    ("dns.answers.data", Role::Answer),
    ("dns.resolved_ip", Role::Answer),
    ("destination.domain", Role::Domain),
    ("server.domain", Role::Domain),
    ("url.domain", Role::Domain),
    ("tls.client.server_name", Role::Domain),
    ("url.full", Role::Url),
    ("url.original", Role::Url),
    ("file.hash.md5", Role::Hash),
    ("file.hash.sha1", Role::Hash),
    ("file.hash.sha256", Role::Hash),
    ("file.hash.sha512", Role::Hash),
    ("process.hash.md5", Role::Hash),
    ("process.hash.sha1", Role::Hash),
    ("process.hash.sha256", Role::Hash),
    ("dll.hash.md5", Role::Hash),
    ("dll.hash.sha1", Role::Hash),
    ("dll.hash.sha256", Role::Hash),
    ("tls.server.hash.sha1", Role::Hash),
    ("tls.server.hash.sha256", Role::Hash),
    ("email.from.address", Role::Email),
    ("email.to.address", Role::Email),
    ("email.cc.address", Role::Email),
    ("email.sender.address", Role::Email),
];

/// FortiGate log fields that are matched (FortiOS log reference: traffic, `utm` web filter, DNS, e-mail filter
/// and antivirus logs). `url` is a path or a whole URL; with `hostname` it makes the URL.
const FORTIGATE_FIELDS: &[(&str, Role)] = &[
    ("srcip", Role::SrcIp),
    ("dstip", Role::DstIp),
    ("srcport", Role::SrcPort),
    ("dstport", Role::DstPort),
    ("hostname", Role::Domain),
    ("qname", Role::Domain),
    ("ipaddr", Role::Answer),
    ("url", Role::Url),
    ("from", Role::Email),
    ("to", Role::Email),
    ("sender", Role::Email),
    ("recipient", Role::Email),
    ("filehash", Role::Hash),
    ("analyticscksum", Role::Hash),
];

/// An ECS path without the `_source.` an Elasticsearch document export wraps it in.
fn ecs_path(p: &[u8]) -> &[u8] {
    p.strip_prefix(b"_source.").unwrap_or(p)
}

fn ecs_field(path: &[u8]) -> Option<(u16, Role)> {
    ECS_FIELDS
        .iter()
        .position(|(n, _)| n.as_bytes() == path)
        .map(|i| (i as u16, ECS_FIELDS[i].1))
}

static ZEEK_KEYS: json::KeyFilter = json::KeyFilter::new(ZEEK_FIELDS, "ts", &[]);
static EVE_KEYS: json::KeyFilter = json::KeyFilter::new(EVE_FIELDS, "timestamp", &["dns.grouped."]);
// Winlogbeat's `winlog.event_data` (raw Windows events, before an ingest pipeline maps them to ECS) too.
static ECS_KEYS: json::KeyFilter =
    json::KeyFilter::new(ECS_FIELDS, "@timestamp", &["_source.", "winlog."]);

fn eve_field(path: &[u8]) -> Option<(u16, Role)> {
    let i: u16 = match path {
        b"src_ip" => 0,
        b"dest_ip" => 1,
        b"src_port" => 2,
        b"dest_port" => 3,
        b"proto" => 4,
        b"dns.rrname" => 5,
        b"dns.rdata" => 6,
        b"dns.queries.rrname" => 7,
        b"dns.answers.rrname" => 8,
        b"dns.answers.rdata" => 9,
        b"dns.grouped" => 10,
        b"http.hostname" => 11,
        b"http.url" => 12,
        b"tls.sni" => 13,
        b"tls.fingerprint" => 14,
        b"fileinfo.md5" => 15,
        b"fileinfo.sha1" => 16,
        b"fileinfo.sha256" => 17,
        b"email.from" => 18,
        b"email.to" => 19,
        b"email.cc" => 20,
        b"smtp.mail_from" => 21,
        b"smtp.rcpt_to" => 22,
        p if p.starts_with(b"dns.grouped.") => 10,
        _ => return None,
    };
    EVE_FIELDS.get(i as usize).map(|f| (i, f.1))
}

impl Parser {
    /// A parser for a format. For Zeek TSV this is the default header (`#separator \x09`, no columns yet);
    /// the framing layer feeds header lines through [`Parser::with_header_line`].
    pub fn new(format: &Format) -> Parser {
        let names = |t: &[(&str, Role)]| t.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>();
        let (kind, names) = match format {
            Format::ZeekJson => (Kind::ZeekJson, names(ZEEK_FIELDS)),
            Format::Eve => (Kind::Eve, names(EVE_FIELDS)),
            Format::ZeekTsv => (
                Kind::Tsv(Tsv {
                    sep: b'\t',
                    set_sep: b',',
                    unset: b"-".to_vec(),
                    empty: b"(empty)".to_vec(),
                    ..Default::default()
                }),
                names(ZEEK_FIELDS),
            ),
            Format::Jsonl(m) => (
                Kind::Jsonl {
                    map: m
                        .fields
                        .iter()
                        .enumerate()
                        .map(|(i, (p, r))| (p.clone(), i as u16, *r))
                        .collect(),
                    ts: m.ts.clone(),
                },
                m.fields.iter().map(|(p, _)| p.clone()).collect(),
            ),
            Format::Csv(m) => (
                Kind::Tsv(Tsv {
                    sep: b',',
                    set_sep: 0,
                    csv: true,
                    header_pending: true,
                    csv_map: m.fields.clone(),
                    csv_ts: m.ts.clone(),
                    ..Default::default()
                }),
                m.fields.iter().map(|(p, _)| p.clone()).collect(),
            ),
            Format::Bind => (
                Kind::Bind,
                vec!["client".into(), "query".into(), "server".into()],
            ),
            Format::Unbound => (Kind::Unbound, vec!["client".into(), "query".into()]),
            Format::Squid => (
                Kind::Squid,
                vec!["client".into(), "url".into(), "host".into(), "peer".into()],
            ),
            Format::WinDns => (
                Kind::WinDns,
                vec!["remote".into(), "query".into(), "answer".into()],
            ),
            Format::W3c => (Kind::W3c(W3c::default()), names(W3C_FIELDS)),
            Format::Ecs => (Kind::Ecs, {
                // Winlogbeat's event data fields follow ECS's own (ids from `ECS_FIELDS.len()` on).
                let mut n = names(ECS_FIELDS);
                n.extend(
                    winevt::WINEVT_FIELDS
                        .iter()
                        .map(|(f, _)| format!("winlog.event_data.{f}")),
                );
                n
            }),
            Format::Fortigate => (Kind::Fortigate, names(FORTIGATE_FIELDS)),
            Format::Cef => (Kind::Cef, names(cef::KV_FIELDS)),
            Format::Leef => (Kind::Leef, names(cef::KV_FIELDS)),
            Format::Panos => (Kind::Panos, names(panos::PANOS_FIELDS)),
            Format::Asa => (Kind::Asa, names(asa::ASA_FIELDS)),
            Format::Checkpoint => (Kind::Checkpoint, names(checkpoint::CHECKPOINT_FIELDS)),
            Format::Winevt | Format::Evtx => (Kind::Winevt, names(winevt::WINEVT_FIELDS)),
            Format::WinevtXml => (Kind::WinevtXml, names(winevt::WINEVT_FIELDS)),
        };
        Parser {
            kind,
            names,
            tz: LogTz::Utc,
        }
    }

    /// The parser reading the times the log writes without a zone in `tz`.
    pub fn with_tz(mut self, tz: LogTz) -> Parser {
        self.tz = tz;
        self
    }

    /// True when some lines change the parser (Zeek TSV headers, the CSV header row): the framing layer must
    /// then hand lines through [`Parser::header_line`] before parallel parsing.
    pub fn has_headers(&self) -> bool {
        matches!(self.kind, Kind::Tsv(_) | Kind::W3c(_))
    }

    /// True when this line must update the parser (a `#` line for Zeek TSV; the first data line for CSV).
    pub fn is_header_line(&self, line: &[u8]) -> bool {
        match &self.kind {
            Kind::Tsv(t) if t.csv => {
                t.header_pending
                    && !line.iter().all(u8::is_ascii_whitespace)
                    && line.first() != Some(&b'#')
            }
            Kind::Tsv(_) | Kind::W3c(_) => line.first() == Some(&b'#'),
            _ => false,
        }
    }

    /// Applies a header line; returns the updated parser (other lines are ignored).
    pub fn with_header_line(&self, line: &[u8]) -> Parser {
        let mut p = self.clone();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Kind::W3c(w) = &mut p.kind {
            // `#Software:`, `#Version:`, `#Date:` and `#Remark:` change nothing; a new `#Fields:` (IIS writes
            // one after each restart, and a changed field selection) replaces the columns.
            if let Some(rest) = line
                .get(..8)
                .filter(|k| k.eq_ignore_ascii_case(b"#Fields:"))
                .map(|_| &line[8..])
            {
                w.cols = rest
                    .split(|c| c.is_ascii_whitespace())
                    .filter(|n| !n.is_empty())
                    .map(w3c_col)
                    .collect();
            }
            return p;
        }
        let Kind::Tsv(t) = &mut p.kind else { return p };
        if t.csv {
            let mut cells = Vec::new();
            csv_split(line, &mut cells);
            t.cols = cells
                .iter()
                .map(|(a, b, _)| {
                    let name = &line[*a..*b];
                    t.csv_map
                        .iter()
                        .position(|(n, _)| n.as_bytes() == name)
                        .map(|i| (i as u16, t.csv_map[i].1, false))
                })
                .collect();
            t.ts_col = t.csv_ts.as_ref().and_then(|ts| {
                cells
                    .iter()
                    .position(|(a, b, _)| &line[*a..*b] == ts.as_bytes())
            });
            t.header_pending = false;
            return p;
        }
        let (key, rest) = match line.iter().position(|&c| c == b' ' || c == t.sep) {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        match key {
            b"#separator" => {
                // Written as `\x09`.
                if let Some(h) = rest.strip_prefix(b"\\x") {
                    if let Some(v) = std::str::from_utf8(h)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h.trim(), 16).ok())
                    {
                        t.sep = v;
                    }
                } else if let Some(&c) = rest.first() {
                    t.sep = c;
                }
            }
            b"#set_separator" => t.set_sep = rest.first().copied().unwrap_or(b','),
            b"#empty_field" => t.empty = rest.to_vec(),
            b"#unset_field" => t.unset = rest.to_vec(),
            b"#fields" => {
                let names: Vec<&[u8]> = rest.split(|&c| c == t.sep).collect();
                t.cols = names
                    .iter()
                    .map(|n| zeek_field(n).map(|(i, r)| (i, r, false)))
                    .collect();
                t.ts_col = names.iter().position(|n| *n == b"ts");
                t.host_col = names.iter().position(|n| *n == b"host");
                t.uri_col = names.iter().position(|n| *n == b"uri");
            }
            b"#types" => {
                let types: Vec<&[u8]> = rest.split(|&c| c == t.sep).collect();
                for (c, ty) in t.cols.iter_mut().zip(types) {
                    if let Some(c) = c {
                        c.2 = ty.starts_with(b"set[") || ty.starts_with(b"vector[");
                    }
                }
            }
            _ => {}
        }
        p
    }

    /// Name of field `id`.
    fn name(&self, id: u16) -> &str {
        self.names
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The fields of a parsed record.
    pub fn fields<'a>(
        &'a self,
        line: &'a [u8],
        rec: &'a Record,
    ) -> impl Iterator<Item = FieldRef<'a>> + 'a {
        rec.fields.iter().filter_map(move |f| {
            let src = if f.in_scratch { &rec.scratch[..] } else { line };
            Some(FieldRef {
                name: self.name(f.name),
                role: f.role,
                value: src.get(f.start as usize..f.end as usize)?,
            })
        })
    }

    /// The record's timestamp in RFC 3339 (UTC), when the line has a readable one.
    pub fn timestamp(&self, line: &[u8], rec: &Record) -> Option<String> {
        let (kind, in_scratch, a, b) = rec.ts?;
        let src = if in_scratch { &rec.scratch[..] } else { line };
        let raw = std::str::from_utf8(src.get(a as usize..b as usize)?).ok()?;
        to_rfc3339(kind, raw, self.tz)
    }

    /// Parses one line (without its newline) into `rec`. Errors say what is wrong with the line.
    pub fn parse(&self, line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
        rec.clear();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Parsed::Skip);
        }
        match &self.kind {
            Kind::ZeekJson => self.parse_json(line, rec, JsonFlavor::Zeek),
            Kind::Eve => self.parse_json(line, rec, JsonFlavor::Eve),
            Kind::Jsonl { .. } => self.parse_json(line, rec, JsonFlavor::Mapped),
            Kind::Ecs => self.parse_json(line, rec, JsonFlavor::Ecs),
            Kind::Tsv(t) => parse_tsv(t, line, rec),
            Kind::Bind => parse_bind(line, rec),
            Kind::Unbound => parse_unbound(line, rec),
            Kind::Squid => parse_squid(line, rec),
            Kind::WinDns => parse_windns(line, rec),
            Kind::W3c(w) => parse_w3c(w, line, rec),
            Kind::Fortigate => parse_fortigate(line, rec),
            Kind::Cef => cef::parse_cef(line, rec),
            Kind::Leef => cef::parse_leef(line, rec),
            Kind::Panos => panos::parse_panos(line, rec),
            Kind::Asa => asa::parse_asa(line, rec),
            Kind::Checkpoint => checkpoint::parse_checkpoint(line, rec),
            Kind::Winevt => winevt::parse_json(line, rec),
            Kind::WinevtXml => winevt::parse_xml(line, rec),
        }
    }

    fn parse_json(
        &self,
        line: &[u8],
        rec: &mut Record,
        flavor: JsonFlavor,
    ) -> Result<Parsed, String> {
        if line.first() == Some(&b'#') && flavor != JsonFlavor::Eve {
            return Ok(Parsed::Skip);
        }
        let mut scratch = std::mem::take(&mut rec.json);
        let mut host: Option<usize> = None;
        let mut uri: Option<usize> = None;
        let mut err: Option<String> = None;
        let keys = match flavor {
            JsonFlavor::Zeek => Some(&ZEEK_KEYS),
            JsonFlavor::Eve => Some(&EVE_KEYS),
            JsonFlavor::Ecs => Some(&ECS_KEYS),
            JsonFlavor::Mapped => None,
        };
        let res = json::walk(line, &mut scratch, keys, &mut |p, leaf| {
            let (start, end, escaped, is_str) = match leaf {
                Leaf::Str {
                    start,
                    end,
                    escaped,
                } => (start, end, escaped, true),
                Leaf::Bare { start, end } => (start, end, false, false),
            };
            let is_ts = match flavor {
                JsonFlavor::Zeek => p == b"ts",
                JsonFlavor::Eve => p == b"timestamp",
                JsonFlavor::Ecs => ecs_path(p) == b"@timestamp",
                JsonFlavor::Mapped => {
                    matches!(&self.kind, Kind::Jsonl { ts: Some(t), .. } if t.as_bytes() == p)
                }
            };
            if is_ts {
                let kind = if is_str { TsKind::Iso } else { TsKind::Epoch };
                if is_str
                    && line[start..end]
                        .iter()
                        .all(|c| c.is_ascii_digit() || *c == b'.')
                {
                    rec.ts = Some((TsKind::Epoch, false, start as u32, end as u32));
                } else {
                    rec.ts = Some((kind, false, start as u32, end as u32));
                }
                return;
            }
            let hit = match flavor {
                JsonFlavor::Zeek => zeek_field(p),
                JsonFlavor::Eve => eve_field(p),
                JsonFlavor::Ecs => ecs_field(ecs_path(p)),
                JsonFlavor::Mapped => match &self.kind {
                    Kind::Jsonl { map, .. } => map
                        .iter()
                        .find(|(k, _, _)| k.as_bytes() == p)
                        .map(|(_, i, r)| (*i, *r)),
                    _ => None,
                },
            };
            let Some((name, role)) = hit else {
                if flavor == JsonFlavor::Ecs {
                    if let Some(id) = winevt::winlogbeat_field(ecs_path(p)) {
                        let base = ECS_FIELDS.len() as u16;
                        if let Err(e) = winevt::push_leaf(line, leaf, base, id, rec) {
                            err.get_or_insert(format!("{e} in `{}`", String::from_utf8_lossy(p)));
                        }
                    }
                }
                return;
            };
            if !is_str && !matches!(role, Role::SrcPort | Role::DstPort) {
                return;
            }
            if escaped {
                let mut tmp = Vec::new();
                if let Err(e) = json::unescape(&line[start..end], &mut tmp) {
                    err.get_or_insert(format!("{e} in `{}`", String::from_utf8_lossy(p)));
                    return;
                }
                rec.push_scratch(name, role, &tmp);
            } else {
                rec.push(name, role, start, end);
            }
            match (flavor, p) {
                (JsonFlavor::Zeek, b"host") | (JsonFlavor::Eve, b"http.hostname") => {
                    host = Some(rec.fields.len() - 1)
                }
                (JsonFlavor::Zeek, b"uri") | (JsonFlavor::Eve, b"http.url") => {
                    uri = Some(rec.fields.len() - 1)
                }
                _ => {}
            }
        });
        rec.json = scratch;
        res?;
        if let Some(e) = err {
            return Err(e);
        }
        compose_url(line, rec, host, uri);
        Ok(Parsed::Record)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonFlavor {
    Zeek,
    Eve,
    Ecs,
    Mapped,
}

/// HTTP logs split the URL into host and path: rebuild `http://host/path` (unless the path is already absolute)
/// in place of the path field, which then has the URL role.
fn compose_url(line: &[u8], rec: &mut Record, host: Option<usize>, uri: Option<usize>) {
    let Some(u) = uri else { return };
    let get = |rec: &Record, i: usize| -> Vec<u8> {
        let f = rec.fields[i];
        let src = if f.in_scratch { &rec.scratch[..] } else { line };
        src.get(f.start as usize..f.end as usize)
            .unwrap_or(&[])
            .to_vec()
    };
    let path = get(rec, u);
    if is_whole_url(&path) {
        return;
    }
    let Some(h) = host else {
        // No host: the path alone cannot be matched as a URL.
        rec.fields.remove(u);
        return;
    };
    let url = build_url(b"http", &get(rec, h), &path, None);
    let name = rec.fields[u].name;
    rec.fields.remove(u);
    rec.push_scratch(name, Role::Url, &url);
}

/// Where the host of a URL (or of `host/path`) is in it: after `scheme://`, up to the first `/`, `?` or `#`.
fn url_host(url: &[u8]) -> Option<(usize, usize)> {
    let hs = find(url, b"://").map_or(0, |i| i + 3);
    let he = url[hs..]
        .iter()
        .position(|&c| matches!(c, b'/' | b'?' | b'#'))
        .map_or(url.len(), |k| hs + k);
    (he > hs).then_some((hs, he))
}

/// True when a log's URL field already holds a whole URL (`scheme://` near its start), not a path.
fn is_whole_url(p: &[u8]) -> bool {
    memchr::memmem::find(p, b"://").is_some_and(|i| i < 10)
}

/// `scheme://host/path?query` from the parts a log writes apart (a `/` before a path without one, a `?` before
/// a query without one).
fn build_url(scheme: &[u8], host: &[u8], path: &[u8], query: Option<&[u8]>) -> Vec<u8> {
    let mut url = Vec::with_capacity(
        scheme.len() + 5 + host.len() + path.len() + query.map_or(0, |q| q.len()),
    );
    url.extend(scheme.iter().map(u8::to_ascii_lowercase));
    url.extend_from_slice(b"://");
    url.extend_from_slice(host);
    if !path.starts_with(b"/") {
        url.push(b'/');
    }
    url.extend_from_slice(path);
    if let Some(q) = query {
        if !q.starts_with(b"?") {
            url.push(b'?');
        }
        url.extend_from_slice(q);
    }
    url
}

/// Adds each item of a list written in one field at `line[a..a + v.len()]` (`203.0.113.7, 10.0.0.1`; IIS
/// writes the space as `+`).
fn push_list(rec: &mut Record, id: u16, role: Role, a: usize, v: &[u8]) {
    let mut s = a;
    for part in v.split(|&c| c == b',') {
        let lead = part
            .iter()
            .take_while(|&&c| c == b'+' || c.is_ascii_whitespace())
            .count();
        let t = part[lead..].trim_ascii_end();
        if !t.is_empty() {
            rec.push(id, role, s + lead, s + lead + t.len());
        }
        s += part.len() + 1;
    }
}

fn parse_tsv(t: &Tsv, line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    if !t.csv && line.first() == Some(&b'#') {
        return Ok(Parsed::Skip);
    }
    if t.csv {
        if line.first() == Some(&b'#') || t.header_pending {
            return Ok(Parsed::Skip);
        }
        let mut cells = Vec::new();
        csv_split(line, &mut cells);
        if cells.len() != t.cols.len() {
            return Err(format!(
                "{} columns, header has {}",
                cells.len(),
                t.cols.len()
            ));
        }
        for (i, (a, b, quoted)) in cells.into_iter().enumerate() {
            if t.ts_col == Some(i) {
                let v = &line[a..b];
                let kind = if v.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
                    TsKind::Epoch
                } else {
                    TsKind::Iso
                };
                rec.ts = Some((kind, false, a as u32, b as u32));
            }
            if let Some(Some((name, role, _))) = t.cols.get(i) {
                if a == b {
                    continue;
                }
                if quoted && line[a..b].windows(2).any(|w| w == b"\"\"") {
                    let v: Vec<u8> = String::from_utf8_lossy(&line[a..b])
                        .replace("\"\"", "\"")
                        .into_bytes();
                    rec.push_scratch(*name, *role, &v);
                } else {
                    rec.push(*name, *role, a, b);
                }
            }
        }
        return Ok(Parsed::Record);
    }
    if t.cols.is_empty() {
        return Err("data line before any #fields header".into());
    }
    let mut ncols = 0;
    let mut host: Option<usize> = None;
    let mut uri: Option<usize> = None;
    let mut start = 0;
    for (i, cell) in line.split(|&c| c == t.sep).enumerate() {
        let a = start;
        let b = a + cell.len();
        start = b + 1;
        ncols += 1;
        if t.ts_col == Some(i) {
            rec.ts = Some((TsKind::Epoch, false, a as u32, b as u32));
        }
        let Some(Some((name, role, is_set))) = t.cols.get(i) else {
            continue;
        };
        if cell == &t.unset[..] || cell == &t.empty[..] || cell.is_empty() {
            continue;
        }
        if *is_set {
            let mut s = a;
            for part in cell.split(|&c| c == t.set_sep) {
                if !part.is_empty() {
                    rec.push(*name, *role, s, s + part.len());
                }
                s += part.len() + 1;
            }
        } else {
            // Zeek escapes non-printable bytes as \xNN; undo that so the value compares as written.
            if cell.contains(&b'\\') {
                let v = zeek_unescape(cell);
                rec.push_scratch(*name, *role, &v);
            } else {
                rec.push(*name, *role, a, b);
            }
            if Some(i) == t.host_col {
                host = Some(rec.fields.len() - 1);
            }
            if Some(i) == t.uri_col {
                uri = Some(rec.fields.len() - 1);
            }
        }
    }
    if ncols != t.cols.len() {
        return Err(format!("{ncols} columns, #fields has {}", t.cols.len()));
    }
    compose_url(line, rec, host, uri);
    Ok(Parsed::Record)
}

fn zeek_unescape(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && v.get(i + 1) == Some(&b'x') {
            if let Some(b) = v
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

/// Splits one CSV line into (start, end, quoted) cell ranges (quotes excluded; `""` left for the caller).
fn csv_split(line: &[u8], out: &mut Vec<(usize, usize, bool)>) {
    out.clear();
    let mut i = 0;
    loop {
        if line.get(i) == Some(&b'"') {
            let a = i + 1;
            let mut j = a;
            loop {
                match memchr::memchr(b'"', &line[j..]) {
                    Some(k) if line.get(j + k + 1) == Some(&b'"') => j += k + 2,
                    Some(k) => {
                        j += k;
                        break;
                    }
                    None => {
                        j = line.len();
                        break;
                    }
                }
            }
            out.push((a, j, true));
            i = match memchr::memchr(b',', &line[j.min(line.len())..]) {
                Some(k) => j + k + 1,
                None => return,
            };
        } else {
            match memchr::memchr(b',', &line[i.min(line.len())..]) {
                Some(k) => {
                    out.push((i, i + k, false));
                    i += k + 1;
                }
                None => {
                    out.push((i.min(line.len()), line.len(), false));
                    return;
                }
            }
        }
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    memchr::memmem::find(h, n)
}

/// `needle` in `h`, for the short words a parser looks for once per line: its first byte by `memchr`, then a
/// compare, which costs less than building a substring searcher on every call.
fn find_short(h: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    memchr::memchr_iter(first, h).find(|&i| h[i + 1..].starts_with(rest))
}

fn token_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|c| c.is_ascii_whitespace())
        .map_or(b.len(), |k| from + k)
}

/// BIND: `24-Mar-2018 17:15:20.866 queries: info: client @0x7f.. 10.0.0.1#53124 (q.example): query: q.example IN A +E(0)K (10.0.0.53)`.
fn parse_bind(line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    let q = find(line, b"query: ").ok_or("no `query:` in a BIND query log line")?;
    let c = find(line, b"client ").ok_or("no `client` in a BIND query log line")?;
    let mut i = c + 7;
    if line[i..].starts_with(b"@0x") {
        i = token_end(line, i) + 1;
    }
    let ip_end = line[i.min(line.len())..]
        .iter()
        .position(|&b| b == b'#' || b.is_ascii_whitespace() || b == b':')
        .map(|k| i + k);
    if let Some(e) = ip_end {
        if e > i {
            rec.push(0, Role::SrcIp, i, e);
        }
    }
    let qs = q + 7;
    let qe = token_end(line, qs);
    if qe == qs {
        return Err("empty query name".into());
    }
    rec.push(1, Role::Domain, qs, qe);
    // The server address BIND appends in parentheses.
    if let (Some(o), true) = (memchr::memrchr(b'(', line), line.ends_with(b")")) {
        if o > qe {
            rec.push(2, Role::DstIp, o + 1, line.len() - 1);
        }
    }
    // Leading `dd-Mon-yyyy HH:MM:SS.mmm`.
    if line.len() > 20 && line[2] == b'-' && line[6] == b'-' {
        let e = token_end(line, 12);
        rec.ts = Some((TsKind::Bind, false, 0, e as u32));
    }
    Ok(Parsed::Record)
}

/// unbound: `[1521911720] unbound[1234:0] info: 10.0.0.1 q.example. A IN [NOERROR 0.000 0 45]`.
fn parse_unbound(line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    let Some(i) = find(line, b" info: ") else {
        if find(line, b"unbound[").is_some() {
            return Ok(Parsed::Skip);
        }
        return Err("not an unbound log line".into());
    };
    let toks: Vec<(usize, usize)> = tokens(line, i + 7).take(4).collect();
    if toks.len() < 4
        || crate::set::parse_ipv4(&line[toks[0].0..toks[0].1]).is_none()
            && !line[toks[0].0..toks[0].1].contains(&b':')
    {
        // Other informational messages (start-up, statistics) are not queries.
        return Ok(Parsed::Skip);
    }
    rec.push(0, Role::SrcIp, toks[0].0, toks[0].1);
    rec.push(1, Role::Domain, toks[1].0, toks[1].1);
    if line.first() == Some(&b'[') {
        if let Some(e) = memchr::memchr(b']', line) {
            rec.ts = Some((TsKind::Epoch, false, 1, e as u32));
        }
    }
    Ok(Parsed::Record)
}

fn tokens(line: &[u8], from: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut i = from;
    std::iter::from_fn(move || {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return None;
        }
        let a = i;
        i = token_end(line, i);
        Some((a, i))
    })
}

/// Squid native: `ts elapsed client code/status bytes method URL user hierarchy/peer type`.
fn parse_squid(line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    if line.first() == Some(&b'#') {
        return Ok(Parsed::Skip);
    }
    let t: Vec<(usize, usize)> = tokens(line, 0).take(10).collect();
    if t.len() < 7 {
        return Err(format!(
            "{} fields, a Squid access.log line has at least 7",
            t.len()
        ));
    }
    let ts = &line[t[0].0..t[0].1];
    if !ts.iter().all(|c| c.is_ascii_digit() || *c == b'.') || !line[t[3].0..t[3].1].contains(&b'/')
    {
        return Err("not a Squid native access.log line".into());
    }
    rec.ts = Some((TsKind::Epoch, false, t[0].0 as u32, t[0].1 as u32));
    rec.push(0, Role::SrcIp, t[2].0, t[2].1);
    let (ua, ub) = t[6];
    let url = &line[ua..ub];
    let method = &line[t[5].0..t[5].1];
    if method == b"CONNECT" || !url.contains(&b'/') {
        // `host:port` of a tunnel.
        rec.push(2, Role::Domain, ua, ub);
    } else {
        rec.push(1, Role::Url, ua, ub);
        if let Some((hs, he)) = url_host(url) {
            rec.push(2, Role::Domain, ua + hs, ua + he);
        }
    }
    if let Some(&(pa, pb)) = t.get(8) {
        if let Some(s) = memchr::memchr(b'/', &line[pa..pb]) {
            let peer = &line[pa + s + 1..pb];
            if !peer.is_empty() && peer != b"-" {
                rec.push(3, Role::DstIp, pa + s + 1, pb);
            }
        }
    }
    Ok(Parsed::Record)
}

/// Windows DNS Server debug log: `12/7/2026 10:15:32 AM 0B5C PACKET  000002B1C7D4A0F0 UDP Rcv 10.0.0.5
/// 3b1e   Q [0001   D   NOERROR] A      (3)www(6)google(3)com(0)`. The date is in the server's regional
/// format. With "details" logging each packet line is followed by its decoded message, whose `DATA` lines
/// hold the answers (an address, or a name in the same length-prefixed form); the rest of it, the file's
/// preamble and its event lines are skipped.
fn parse_windns(line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    let Some(p) = find(line, b" PACKET ") else {
        let t = line.trim_ascii_start();
        if let Some(v) = t
            .strip_prefix(b"DATA")
            .filter(|v| v.first().is_some_and(u8::is_ascii_whitespace))
        {
            let v = v.trim_ascii();
            let at = v.as_ptr() as usize - line.as_ptr() as usize;
            if v.first() == Some(&b'(') {
                // A name with a compression pointer (`[C00C]`) is not whole here: left out.
                if push_windns_name(rec, 2, Role::Answer, v) && !rec.is_empty() {
                    return Ok(Parsed::Record);
                }
            } else if crate::set::parse_ipv4(v).is_some() || v.contains(&b':') {
                rec.push(2, Role::Answer, at, at + v.len());
                return Ok(Parsed::Record);
            }
        }
        return Ok(Parsed::Skip);
    };
    let mut toks = tokens(line, p + 8).peekable();
    // The internal packet identifier (absent before Windows Server 2008).
    if toks
        .peek()
        .is_some_and(|&(a, b)| !matches!(&line[a..b], b"UDP" | b"TCP"))
    {
        toks.next();
    }
    let proto = toks.next().map(|(a, b)| &line[a..b]);
    let dir = toks.next().map(|(a, b)| &line[a..b]);
    let remote = toks.next();
    let (Some(b"UDP" | b"TCP"), Some(dir @ (b"Snd" | b"Rcv")), Some((ra, rb))) =
        (proto, dir, remote)
    else {
        return Err("not a Windows DNS packet line (UDP|TCP Snd|Rcv ADDRESS after PACKET)".into());
    };
    // The packet's far end: it sent what the server received, or receives what the server sent.
    let role = if dir == b"Rcv" {
        Role::SrcIp
    } else {
        Role::DstIp
    };
    rec.push(0, role, ra, rb);
    let q = memchr::memchr(b']', &line[rb..])
        .map(|k| rb + k + 1)
        .ok_or("no `[flags]` before the question in a Windows DNS packet line")?;
    let mut rest = tokens(line, q);
    let (Some(_qtype), Some((na, nb))) = (rest.next(), rest.next()) else {
        return Err("no question name in a Windows DNS packet line".into());
    };
    let v = &line[na..nb];
    if v.first() == Some(&b'(') {
        if !push_windns_name(rec, 1, Role::Domain, v) {
            return Err(format!(
                "question name {:?} is not in the (length)label form",
                String::from_utf8_lossy(v)
            ));
        }
    } else {
        // Windows Server 2003 wrote names with dots (`.ns1.example.com.`).
        let s = usize::from(v.first() == Some(&b'.'));
        if nb > na + s {
            rec.push(1, Role::Domain, na + s, nb);
        }
    }
    // The date, the time and AM/PM when the region writes one: everything before the thread id.
    let (mut count, mut prev_end, mut last_end) = (0, 0, 0);
    for (_, e) in tokens(&line[..p], 0) {
        (count, prev_end, last_end) = (count + 1, last_end, e);
    }
    if count >= 3 {
        rec.ts = Some((TsKind::WinDns, false, 0, prev_end as u32));
    }
    Ok(Parsed::Record)
}

/// Decodes a `(3)www(6)google(3)com(0)` name into the record's scratch and adds it as field `name` (the root,
/// `(0)` alone, adds nothing); false, and nothing added, when `v` is not in that form.
fn push_windns_name(rec: &mut Record, name: u16, role: Role, v: &[u8]) -> bool {
    let start = rec.scratch.len();
    let ok = windns_name(v, &mut rec.scratch);
    if ok && rec.scratch.len() > start {
        rec.fields.push(RawField {
            name,
            role,
            in_scratch: true,
            start: start as u32,
            end: rec.scratch.len() as u32,
        });
    } else {
        rec.scratch.truncate(start);
    }
    ok
}

/// `(3)www(6)google(3)com(0)` as `www.google.com`, added to the end of `out`; false when `v` is not in that
/// form (a compression pointer such as `[C00C]` included).
fn windns_name(v: &[u8], out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut i = 0;
    while i < v.len() {
        if v[i] != b'(' {
            return false;
        }
        let Some(close) = memchr::memchr(b')', &v[i..]).map(|k| i + k) else {
            return false;
        };
        let Some(n) = std::str::from_utf8(&v[i + 1..close])
            .ok()
            .and_then(|d| d.parse::<usize>().ok())
        else {
            return false;
        };
        i = close + 1;
        if n == 0 {
            return i == v.len();
        }
        let Some(label) = i.checked_add(n).and_then(|e| v.get(i..e)) else {
            return false;
        };
        if out.len() > start {
            out.push(b'.');
        }
        out.extend_from_slice(label);
        i += n;
    }
    true
}

/// A Windows DNS debug log's `date time [AM|PM]`, written in the server's regional format: `12/7/2026
/// 10:15:32 AM` (United States), `07.12.2026 10:15:32` (German), `22/12/2021 17:32:59` (British, French,
/// Spanish), `2024/12/2 15:51:54` and `2026-12-07 10:15:32` (year first), `20100921 10:36:39` (Windows Server
/// 2003). A day-or-month date with a 24-hour time is read day first, as the regions that write it do, unless
/// its second number cannot be a month.
fn windns_time(raw: &str) -> Option<NaiveDateTime> {
    let mut it = raw.split_ascii_whitespace();
    let (date, time, half) = (it.next()?, it.next()?, it.next());
    let num = |s: &str| s.parse::<u32>().ok();
    let (y, m, d) = if date.len() == 8 && date.bytes().all(|c| c.is_ascii_digit()) {
        (num(&date[..4])?, num(&date[4..6])?, num(&date[6..])?)
    } else {
        let sep = date.chars().find(|c| !c.is_ascii_digit())?;
        let mut parts = date.split(sep);
        let (a, b, c) = (parts.next()?, num(parts.next()?)?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        if a.len() == 4 {
            (num(a)?, b, num(c)?)
        } else if half.is_some() || b > 12 {
            (num(c)?, num(a)?, b)
        } else {
            (num(c)?, b, num(a)?)
        }
    };
    let y = if y < 100 { y + 2000 } else { y };
    let mut t = time.split(':');
    let (mut h, mi) = (num(t.next()?)?, num(t.next()?)?);
    let s = t.next().map_or(Some(0), num)?;
    match half.map(|x| x.to_ascii_uppercase()).as_deref() {
        None => {}
        Some("AM") if h == 12 => h = 0,
        Some("AM") => {}
        Some("PM") if h < 12 => h += 12,
        Some("PM") => {}
        Some(_) => return None,
    }
    chrono::NaiveDate::from_ymd_opt(y as i32, m, d)?.and_hms_opt(h, mi, s)
}

/// The cells of a W3C extended log line: separated by spaces or tabs; a cell in double quotes (ProxySG quotes
/// values with spaces; IIS writes `+` for them) is its text between the quotes.
fn w3c_cells(line: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < line.len() && matches!(line[i], b' ' | b'\t') {
            i += 1;
        }
        if i >= line.len() {
            return None;
        }
        if line[i] == b'"' {
            let a = i + 1;
            let e = memchr::memchr(b'"', &line[a..]).map_or(line.len(), |k| a + k);
            i = (e + 1).min(line.len());
            while i < line.len() && !matches!(line[i], b' ' | b'\t') {
                i += 1;
            }
            return Some((a, e));
        }
        let a = i;
        while i < line.len() && !matches!(line[i], b' ' | b'\t') {
            i += 1;
        }
        Some((a, i))
    })
}

/// W3C extended (IIS, ProxySG ELFF, TMG): cells in the order of the last `#Fields:` directive, `-` for none,
/// `date` and `time` in UTC. The request's URL is rebuilt from its parts (`cs-uri-scheme`, the host,
/// `cs-uri-stem` or `cs-uri-path`, `cs-uri-query`) when the log has a host to put in it.
fn parse_w3c(w: &W3c, line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    if line.first() == Some(&b'#') {
        return Ok(Parsed::Skip);
    }
    if w.cols.is_empty() {
        return Err("data line before any #Fields: directive".into());
    }
    let mut n = 0;
    let (mut path, mut query, mut scheme, mut date, mut time) = (None, None, None, None, None);
    let mut host: Option<(usize, (usize, usize))> = None;
    for (a, b) in w3c_cells(line) {
        let col = w.cols.get(n).copied().flatten();
        n += 1;
        let v = &line[a..b];
        let Some(col) = col else { continue };
        if v.is_empty() || v == b"-" {
            continue;
        }
        match col {
            W3cCol::Field(id, role) if W3C_XFF.contains(&id) => push_list(rec, id, role, a, v),
            W3cCol::Field(id, role) => {
                rec.push(id, role, a, b);
                if let Some(rank) = W3C_HOSTS.iter().position(|&h| h == id) {
                    if host.is_none_or(|(r, _)| rank < r) {
                        host = Some((rank, (a, b)));
                    }
                }
            }
            W3cCol::Path(id) => path = Some((id, a, b)),
            W3cCol::Query => query = Some((a, b)),
            W3cCol::Scheme => scheme = Some((a, b)),
            W3cCol::Date => date = Some((a, b)),
            W3cCol::Time => time = Some((a, b)),
        }
    }
    if n != w.cols.len() {
        return Err(format!("{n} fields, #Fields: names {}", w.cols.len()));
    }
    if let (Some((da, db)), Some((ta, tb))) = (date, time) {
        let start = rec.scratch.len();
        rec.scratch.extend_from_slice(&line[da..db]);
        rec.scratch.push(b'T');
        rec.scratch.extend_from_slice(&line[ta..tb]);
        rec.scratch.push(b'Z');
        rec.ts = Some((TsKind::Iso, true, start as u32, rec.scratch.len() as u32));
    }
    if let Some((id, pa, pb)) = path {
        let p = &line[pa..pb];
        if is_whole_url(p) {
            rec.push(id, Role::Url, pa, pb);
        } else if let Some((_, (ha, hb))) = host {
            // A tunnel (`tcp`, `ssl` in ProxySG) has no URL; its host is matched as it is.
            let scheme = scheme.map_or(&b"http"[..], |(a, b)| &line[a..b]);
            if [&b"http"[..], b"https", b"ftp"]
                .iter()
                .any(|s| scheme.eq_ignore_ascii_case(s))
            {
                // ProxySG writes the query's `?`, IIS does not.
                let query = query.map(|(qa, qb)| &line[qa..qb]);
                let url = build_url(scheme, &line[ha..hb], p, query);
                rec.push_scratch(id, Role::Url, &url);
            }
        }
    }
    Ok(Parsed::Record)
}

/// The `key=value` pairs of a line (a value in double quotes is its text between them, `\"` kept as written),
/// from the first `key=` on: a syslog header before it (`<189>`, `Dec  7 09:15:32 fw01`) is passed over.
fn kv_pairs(line: &[u8]) -> impl Iterator<Item = (&[u8], usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return None;
        }
        let k = i;
        while i < line.len() && (line[i].is_ascii_alphanumeric() || line[i] == b'_') {
            i += 1;
        }
        if i == k || line.get(i) != Some(&b'=') {
            // Not a key: skip the token.
            while i < line.len() && !line[i].is_ascii_whitespace() {
                i += 1;
            }
            continue;
        }
        let key = &line[k..i];
        i += 1;
        if line.get(i) == Some(&b'"') {
            let a = i + 1;
            let mut e = a;
            while e < line.len() && line[e] != b'"' {
                e += if line[e] == b'\\' { 2 } else { 1 };
            }
            let e = e.min(line.len());
            i = (e + 1).min(line.len());
            return Some((key, a, e));
        }
        let a = i;
        while i < line.len() && !line[i].is_ascii_whitespace() {
            i += 1;
        }
        return Some((key, a, i));
    })
}

/// FortiGate: `date=2026-12-07 time=09:15:32 eventtime=1765098932123456789 tz="+0100" logid="1501054802"
/// type="utm" subtype="dns" srcip=10.0.0.5 dstip=10.0.0.1 qname="evil.com" ipaddr="203.0.113.7, 203.0.113.8"`.
fn parse_fortigate(line: &[u8], rec: &mut Record) -> Result<Parsed, String> {
    let (mut date, mut time, mut tz, mut epoch) = (None, None, None, None);
    let (mut host, mut url) = (None, None);
    let mut any = false;
    for (key, a, b) in kv_pairs(line) {
        any = true;
        match key {
            b"date" => date = Some((a, b)),
            b"time" => time = Some((a, b)),
            b"tz" => tz = Some((a, b)),
            b"eventtime" => epoch = Some((a, b)),
            _ => {}
        }
        let Some(id) = FORTIGATE_FIELDS
            .iter()
            .position(|(n, _)| n.as_bytes() == key)
        else {
            continue;
        };
        let (id, role) = (id as u16, FORTIGATE_FIELDS[id].1);
        let v = &line[a..b];
        if v.is_empty() || v == b"N/A" || v == b"-" {
            continue;
        }
        match key {
            // Every address of the answer: `203.0.113.7, 203.0.113.8`.
            b"ipaddr" => push_list(rec, id, role, a, v),
            b"url" => url = Some((id, a, b)),
            b"hostname" => {
                host = Some((a, b));
                rec.push(id, role, a, b);
            }
            _ => rec.push(id, role, a, b),
        }
    }
    if !any {
        return Err("no key=value pairs in a FortiGate log line".into());
    }
    if let Some((id, a, b)) = url {
        let p = &line[a..b];
        if is_whole_url(p) {
            rec.push(id, Role::Url, a, b);
        } else if let Some((ha, hb)) = host {
            let url = build_url(b"http", &line[ha..hb], p, None);
            rec.push_scratch(id, Role::Url, &url);
        }
    }
    if let Some((a, b)) = epoch.filter(|&(a, b)| b > a && line[a..b].iter().all(u8::is_ascii_digit))
    {
        // Seconds, milliseconds, microseconds or nanoseconds by their digits (FortiOS writes ns or us).
        let digits = b - a;
        let start = rec.scratch.len();
        let whole = digits.saturating_sub(match digits {
            0..=10 => 0,
            11..=13 => 3,
            14..=16 => 6,
            _ => 9,
        });
        rec.scratch.extend_from_slice(&line[a..a + whole]);
        if whole < digits {
            rec.scratch.push(b'.');
            rec.scratch.extend_from_slice(&line[a + whole..b]);
        }
        rec.ts = Some((TsKind::Epoch, true, start as u32, rec.scratch.len() as u32));
    } else if let (Some((da, db)), Some((ta, tb))) = (date, time) {
        let start = rec.scratch.len();
        rec.scratch.extend_from_slice(&line[da..db]);
        rec.scratch.push(b' ');
        rec.scratch.extend_from_slice(&line[ta..tb]);
        if let Some((za, zb)) = tz {
            rec.scratch.push(b' ');
            rec.scratch.extend_from_slice(&line[za..zb]);
        }
        rec.ts = Some((
            TsKind::Fortigate,
            true,
            start as u32,
            rec.scratch.len() as u32,
        ));
    }
    Ok(Parsed::Record)
}

/// Converts a log timestamp to RFC 3339 UTC; one without a zone is a time of `tz`.
fn to_rfc3339(kind: TsKind, raw: &str, tz: LogTz) -> Option<String> {
    let dt: DateTime<Utc> = match kind {
        TsKind::Epoch => {
            let (s, f) = raw.split_once('.').unwrap_or((raw, ""));
            let secs: i64 = s.parse().ok()?;
            let mut frac = f.chars().take(9).collect::<String>();
            while frac.len() < 9 {
                frac.push('0');
            }
            let nanos: u32 = frac.parse().ok()?;
            Utc.timestamp_opt(secs, nanos).single()?
        }
        TsKind::Iso => iso_time(raw, tz)?,
        TsKind::Bind => {
            tz.to_utc(NaiveDateTime::parse_from_str(raw, "%d-%b-%Y %H:%M:%S%.f").ok()?)?
        }
        TsKind::WinDns => tz.to_utc(windns_time(raw)?)?,
        TsKind::Fortigate => match raw.rsplit_once(' ') {
            // The device's own offset, when it wrote one (`tz="+0100"`).
            Some((_, off)) if off.starts_with(['+', '-']) => {
                DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S %z")
                    .ok()?
                    .with_timezone(&Utc)
            }
            _ => tz.to_utc(NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S").ok()?)?,
        },
        TsKind::Cef => cef::cef_time(raw, tz, Utc::now())?,
        TsKind::Panos => {
            tz.to_utc(NaiveDateTime::parse_from_str(raw, "%Y/%m/%d %H:%M:%S").ok()?)?
        }
    };
    Some(dt.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// RFC 3339 or ISO 8601 with `Z`/`+hh:mm`/`+hhmm`; without a zone, a time of `tz`.
fn iso_time(raw: &str, tz: LogTz) -> Option<DateTime<Utc>> {
    Some(match DateTime::parse_from_rfc3339(raw) {
        Ok(d) => d.with_timezone(&Utc),
        Err(_) => match DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z") {
            Ok(d) => d.with_timezone(&Utc),
            // No zone: `2026-12-07 10:15:32` or `2026-12-07T10:15:32.5`.
            Err(_) => tz.to_utc(
                NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f")
                    .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f"))
                    .ok()?,
            )?,
        },
    })
}

/// Detects the format from the first lines of an input; None when none fits.
pub fn detect(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"ElfFile\0") {
        return Some(Format::Evtx);
    }
    let lines = head
        .split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .take(20);
    for l in lines {
        if l.starts_with(b"#separator") || l.starts_with(b"#fields") {
            return Some(Format::ZeekTsv);
        }
        if l.get(..8)
            .is_some_and(|k| k.eq_ignore_ascii_case(b"#Fields:"))
        {
            return Some(Format::W3c);
        }
        if l.first() == Some(&b'#') {
            continue;
        }
        if l.first() == Some(&b'{') {
            // Beats and Elastic Agent write `"ecs":{"version":..}`; an Elasticsearch export wraps `_source`.
            // First: Filebeat's Suricata and Zeek modules keep the sensor's own keys (`event_type`) inside.
            if find(l, b"\"@timestamp\"").is_some()
                && (find(l, b"\"ecs\"").is_some()
                    || find(l, b"\"ecs.version\"").is_some()
                    || find(l, b"\"_source\"").is_some())
            {
                return Some(Format::Ecs);
            }
            // An event's `System` and its data: evtx_dump (`"Event":{"System":..`), Velociraptor (`"System":..`).
            if find(l, b"\"System\"").is_some()
                && (find(l, b"\"EventData\"").is_some() || find(l, b"\"UserData\"").is_some())
            {
                return Some(Format::Winevt);
            }
            if find(l, b"\"event_type\"").is_some() {
                return Some(Format::Eve);
            }
            if find(l, b"\"_path\"").is_some()
                || find(l, b"\"id.orig_h\"").is_some()
                || find(l, b"\"uid\"").is_some()
            {
                return Some(Format::ZeekJson);
            }
            return None;
        }
        if winevt::is_xml_event(l) {
            return Some(Format::WinevtXml);
        }
        // CEF and LEEF first: their extensions may quote any other format's words.
        if find(l, b"CEF:0|").is_some() || find(l, b"CEF:1|").is_some() {
            return Some(Format::Cef);
        }
        if find(l, b"LEEF:1.0|").is_some() || find(l, b"LEEF:2.0|").is_some() {
            return Some(Format::Leef);
        }
        if checkpoint::is_checkpoint(l) {
            return Some(Format::Checkpoint);
        }
        if find(l, b"query: ").is_some() && find(l, b"client ").is_some() {
            return Some(Format::Bind);
        }
        if asa::asa_tag(l).is_some() {
            return Some(Format::Asa);
        }
        if panos::record_start(l).is_some()
            && [
                &b",TRAFFIC,"[..],
                b",THREAT,",
                b",SYSTEM,",
                b",CONFIG,",
                b",DECRYPTION,",
            ]
            .iter()
            .any(|t| find(l, t).is_some())
        {
            return Some(Format::Panos);
        }
        if find(l, b"logid=").is_some()
            && find(l, b" type=").is_some()
            && (find(l, b"devid=").is_some() || find(l, b"eventtime=").is_some())
        {
            return Some(Format::Fortigate);
        }
        // The debug log's preamble, or a packet line of a log cut from its start.
        if l.starts_with(b"DNS Server log file creation at")
            || l.starts_with(b"Log file wrap at")
            || l.starts_with(b"Message logging key")
            || find(l, b" PACKET ").is_some()
                && (find(l, b" UDP ").is_some() || find(l, b" TCP ").is_some())
                && parse_windns(l, &mut Record::default()).is_ok()
        {
            return Some(Format::WinDns);
        }
        if find(l, b"unbound[").is_some() {
            return Some(Format::Unbound);
        }
        let mut r = Record::default();
        if parse_squid(l, &mut r).is_ok() {
            return Some(Format::Squid);
        }
        return None;
    }
    None
}

/// One input: a path, or `-` for standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogInput {
    /// Path to read (`-` is standard input).
    pub path: PathBuf,
}

impl LogInput {
    /// An input for `path`.
    pub fn new(path: impl Into<PathBuf>) -> LogInput {
        LogInput { path: path.into() }
    }

    /// The name sightings carry in `file`.
    pub fn display(&self) -> String {
        if self.path.as_os_str() == "-" {
            "-".to_string()
        } else {
            self.path.display().to_string()
        }
    }
}

/// Opens an input, decompressing gzip (all members) or zstd when the magic bytes say so.
pub fn open(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path)?)
    };
    decompress(raw)
}

/// Wraps a reader in a gzip or zstd decoder when its first bytes are one of their magics, and the (decompressed)
/// text in a UTF-16 to UTF-8 transcoder when it is UTF-16 (a log exported by Windows PowerShell 5.1's `>` or
/// `Out-File`): the parsers read UTF-8, and a NUL between every two characters would match nothing.
pub fn decompress(raw: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
    let text = decompress_only(raw)?;
    let (head, text) = peek(text, 64, 512)?;
    Ok(match vigil_model::encoding::detect_utf16(&head) {
        Some(order) => Box::new(vigil_model::encoding::Utf16ToUtf8::new(text, order)),
        None => text,
    })
}

/// The first bytes of `r` and a reader of all of it: reads until `want` bytes (or the end) but keeps what a read
/// returned beyond them, up to `max`. A live stream (`tail -f | vigil hunt -`) is not held until a full buffer
/// arrives.
fn peek(
    mut r: Box<dyn Read + Send>,
    want: usize,
    max: usize,
) -> io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = vec![0u8; max];
    let mut n = 0;
    while n < want {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(n);
    let again = io::Cursor::new(head.clone()).chain(r);
    Ok((head, Box::new(again)))
}

fn decompress_only(mut raw: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match raw.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = io::Cursor::new(magic[..n].to_vec());
    let chained = head.chain(raw);
    if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(1 << 18, chained),
        )));
    }
    if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        return Ok(Box::new(zstd::stream::read::Decoder::new(chained)?));
    }
    Ok(Box::new(chained))
}

/// Reads an input in chunks of whole lines. A chunk is returned with the parser that applies to all of its
/// lines: for formats with headers, a chunk ends right after any header lines, which update the parser.
pub struct Chunker {
    reader: Box<dyn Read + Send>,
    parser: Arc<Parser>,
    carry: Vec<u8>,
    chunk: usize,
    max_line: usize,
    eof: bool,
    /// Bytes of log text returned so far.
    pub bytes: u64,
    skipping_long: bool,
    pending_error: Option<io::Error>,
}

/// What [`Chunker::next_chunk`] produced.
pub enum ChunkEvent {
    /// Whole lines (the last one may lack its newline at end of input) and the parser for them.
    Lines(Vec<u8>, Arc<Parser>),
    /// A line longer than the limit was dropped (counts as one unparsable line).
    LongLine,
    /// Reading failed (e.g. a truncated gzip stream); complete lines read before were returned first and an
    /// incomplete last line was dropped.
    Failed(io::Error),
    /// End of input.
    End,
}

impl Chunker {
    /// A chunker over a reader with an initial parser; `chunk` is the target chunk size in bytes, `max_line`
    /// the longest line kept.
    pub fn new(
        reader: Box<dyn Read + Send>,
        parser: Parser,
        chunk: usize,
        max_line: usize,
    ) -> Chunker {
        Chunker {
            reader,
            parser: Arc::new(parser),
            carry: Vec::new(),
            chunk: chunk.max(4096),
            max_line: max_line.max(1024),
            eof: false,
            bytes: 0,
            skipping_long: false,
            pending_error: None,
        }
    }

    /// The next chunk; `buf` is a recycled buffer (its contents are discarded).
    pub fn next_chunk(&mut self, buf: Vec<u8>) -> ChunkEvent {
        loop {
            if self.carry.is_empty() && self.eof {
                if let Some(e) = self.pending_error.take() {
                    return ChunkEvent::Failed(e);
                }
                return ChunkEvent::End;
            }
            // Header handling first: a chunk never mixes lines of two parsers.
            if self.parser.has_headers() && !self.carry.is_empty() {
                if let Some((end, parser)) = self.find_headers() {
                    let old = std::mem::replace(&mut self.parser, Arc::new(parser));
                    return self.emit(buf, end, old);
                }
            }
            let have_nl = memchr::memrchr(b'\n', &self.carry);
            if self.carry.len() >= self.chunk || self.eof {
                let p = self.parser.clone();
                if let Some(end) = have_nl {
                    return self.emit(buf, end + 1, p);
                }
                if self.eof {
                    let n = self.carry.len();
                    return self.emit(buf, n, p);
                }
            }
            if have_nl.is_none() && self.carry.len() > self.max_line {
                // One line bigger than the limit: drop it up to its newline.
                self.carry.clear();
                self.skipping_long = true;
            }
            let old = self.carry.len();
            let want = (self.chunk.max(old + 65536) - old) as u64;
            // Reserve up front: growing inside read_to_end would reallocate (and fault in fresh pages) per chunk.
            self.carry.reserve(want as usize);
            match (&mut self.reader).take(want).read_to_end(&mut self.carry) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) => {
                    // Keep the complete lines read before the failure; drop the partial last one.
                    self.eof = true;
                    self.pending_error = Some(e);
                    match memchr::memrchr(b'\n', &self.carry) {
                        Some(end) => self.carry.truncate(end + 1),
                        None => self.carry.clear(),
                    }
                    if self.skipping_long {
                        self.carry.clear();
                    }
                }
            }
            if self.skipping_long && !self.carry.is_empty() {
                match memchr::memchr(b'\n', &self.carry) {
                    Some(i) => {
                        self.carry.drain(..=i);
                        self.skipping_long = false;
                        return ChunkEvent::LongLine;
                    }
                    None => self.carry.clear(),
                }
            }
            if self.skipping_long && self.eof {
                self.skipping_long = false;
                return ChunkEvent::LongLine;
            }
        }
    }

    /// Hands out `carry[..end]` and keeps the rest, reusing `buf` as the new carry (no copy of the lines).
    fn emit(&mut self, mut buf: Vec<u8>, end: usize, parser: Arc<Parser>) -> ChunkEvent {
        buf.clear();
        buf.extend_from_slice(&self.carry[end..]);
        self.carry.truncate(end);
        let out = std::mem::replace(&mut self.carry, buf);
        self.bytes += out.len() as u64;
        ChunkEvent::Lines(out, parser)
    }

    /// When a header line is among the complete lines of `carry`: the end of the header block (the lines up
    /// to it go out with the current parser) and the parser the header block makes.
    fn find_headers(&self) -> Option<(usize, Parser)> {
        let complete = match memchr::memrchr(b'\n', &self.carry) {
            Some(e) => e + 1,
            None if self.eof => self.carry.len(),
            None => return None,
        };
        let data = &self.carry[..complete];
        let csv = self.parser_is_csv();
        let mut pos = 0;
        let mut header_at = None;
        while pos < data.len() {
            let end = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |k| pos + k);
            if self.parser.is_header_line(&data[pos..end]) {
                header_at = Some(pos);
                break;
            }
            if !csv {
                // Zeek TSV: only `#` lines are headers; jump straight to the next `\n#`.
                match memchr::memmem::find(&data[pos..], b"\n#") {
                    Some(k) => {
                        pos += k + 1;
                        continue;
                    }
                    None => break,
                }
            }
            pos = end + 1;
        }
        let h = header_at?;
        let mut p = (*self.parser).clone();
        let mut e = h;
        while e < data.len() {
            let end = memchr::memchr(b'\n', &data[e..]).map_or(data.len(), |k| e + k);
            let line = &data[e..end];
            if !p.is_header_line(line) {
                break;
            }
            p = p.with_header_line(line);
            e = (end + 1).min(data.len());
            if csv {
                break;
            }
        }
        Some((e, p))
    }

    fn parser_is_csv(&self) -> bool {
        matches!(&self.parser.kind, Kind::Tsv(t) if t.csv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The timestamp of one line, which must parse.
    pub(super) fn ts_of(p: &Parser, line: &str) -> Option<String> {
        let mut r = Record::default();
        p.parse(line.as_bytes(), &mut r).expect("parses");
        p.timestamp(line.as_bytes(), &r)
    }

    /// The (name, role, value) fields of one line, which must parse.
    pub(super) fn fields(p: &Parser, line: &str) -> Vec<(String, Role, String)> {
        let mut r = Record::default();
        p.parse(line.as_bytes(), &mut r).expect("parses");
        record_fields(p, line, &r)
    }

    /// The (name, role, value) fields of a record already filled from `line`.
    pub(super) fn record_fields(p: &Parser, line: &str, r: &Record) -> Vec<(String, Role, String)> {
        p.fields(line.as_bytes(), r)
            .map(|f| {
                (
                    f.name.to_string(),
                    f.role,
                    String::from_utf8_lossy(f.value).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn zeek_json_http_composes_url_and_ignores_user_agent() {
        let p = Parser::new(&Format::ZeekJson);
        let l = r#"{"ts":1521911720.5,"id.orig_h":"10.0.0.1","id.resp_h":"1.2.3.4","host":"evil.com","uri":"/a?b=1","user_agent":"evil.org"}"#;
        let f = fields(&p, l);
        assert!(f.contains(&("host".into(), Role::Domain, "evil.com".into())));
        assert!(f.contains(&("uri".into(), Role::Url, "http://evil.com/a?b=1".into())));
        assert!(!f.iter().any(|x| x.2 == "evil.org"));
        let mut r = Record::default();
        p.parse(l.as_bytes(), &mut r).expect("parses");
        assert_eq!(
            p.timestamp(l.as_bytes(), &r).as_deref(),
            Some("2018-03-24T17:15:20.500Z")
        );
    }

    #[test]
    fn eve_dns_v2_answers_and_tls() {
        let p = Parser::new(&Format::Eve);
        let l = r#"{"timestamp":"2023-02-28T11:34:02.133169+0000","event_type":"dns","src_ip":"10.0.0.1","dest_ip":"10.0.0.53","dns":{"version":2,"type":"answer","rrname":"a.evil.com","answers":[{"rrname":"a.evil.com","rrtype":"A","rdata":"6.6.6.6"}],"grouped":{"A":["6.6.6.6"]}}}"#;
        let f = fields(&p, l);
        assert!(f.contains(&("dns.rrname".into(), Role::Domain, "a.evil.com".into())));
        assert!(f.contains(&("dns.answers.rdata".into(), Role::Answer, "6.6.6.6".into())));
        assert!(f.contains(&("dns.grouped".into(), Role::Answer, "6.6.6.6".into())));
        let mut r = Record::default();
        p.parse(l.as_bytes(), &mut r).expect("parses");
        assert_eq!(
            p.timestamp(l.as_bytes(), &r).as_deref(),
            Some("2023-02-28T11:34:02.133169Z")
        );
    }

    #[test]
    fn zeek_tsv_header_and_sets() {
        let mut p = Parser::new(&Format::ZeekTsv);
        for h in [
            "#separator \\x09",
            "#set_separator\t,",
            "#fields\tts\tquery\tanswers\tid.orig_h",
            "#types\ttime\tstring\tvector[string]\taddr",
        ] {
            p = p.with_header_line(h.as_bytes());
        }
        let f = fields(&p, "1521911720.865716\tevil.com\t1.2.3.4,x.com\t-");
        assert_eq!(
            f,
            vec![
                ("query".into(), Role::Domain, "evil.com".into()),
                ("answers".into(), Role::Answer, "1.2.3.4".into()),
                ("answers".into(), Role::Answer, "x.com".into()),
            ]
        );
        let mut r = Record::default();
        assert!(p.parse(b"1\t2", &mut r).is_err());
    }

    #[test]
    fn bind_unbound_squid() {
        let b = Parser::new(&Format::Bind);
        let f = fields(&b, "24-Mar-2018 17:15:20.866 queries: info: client @0x7f8b2c0a3e20 10.47.1.100#41772 (Evil.com): query: Evil.com IN A +E(0)K (10.0.0.100)");
        assert_eq!(f[0], ("client".into(), Role::SrcIp, "10.47.1.100".into()));
        assert_eq!(f[1], ("query".into(), Role::Domain, "Evil.com".into()));
        assert_eq!(f[2], ("server".into(), Role::DstIp, "10.0.0.100".into()));
        let u = Parser::new(&Format::Unbound);
        let f = fields(
            &u,
            "[1521911720] unbound[1234:0] info: 10.0.0.1 evil.com. A IN",
        );
        assert_eq!(f[1], ("query".into(), Role::Domain, "evil.com.".into()));
        let s = Parser::new(&Format::Squid);
        let f = fields(&s, "1286536309.450    123 192.168.0.1 TCP_MISS/200 1234 GET http://evil.com/x - DIRECT/1.2.3.4 text/html");
        assert!(f.contains(&("url".into(), Role::Url, "http://evil.com/x".into())));
        assert!(f.contains(&("host".into(), Role::Domain, "evil.com".into())));
        assert!(f.contains(&("peer".into(), Role::DstIp, "1.2.3.4".into())));
    }

    #[test]
    fn windows_dns_packets_and_details() {
        let p = Parser::new(&Format::WinDns);
        let l = "12/7/2026 10:15:32 PM 0B5C PACKET  000002B1C7D4A0F0 UDP Rcv 10.0.0.5        3b1e   Q [0001   D   NOERROR] A      (3)www(10)evil-cdn42(3)com(0)";
        assert_eq!(
            fields(&p, l),
            vec![
                ("remote".into(), Role::SrcIp, "10.0.0.5".into()),
                ("query".into(), Role::Domain, "www.evil-cdn42.com".into()),
            ]
        );
        let mut r = Record::default();
        p.parse(l.as_bytes(), &mut r).expect("parses");
        assert_eq!(
            p.timestamp(l.as_bytes(), &r).as_deref(),
            Some("2026-12-07T22:15:32Z")
        );
        // A response sent, an IPv6 client, a German server; Windows Server 2003's dotted names and no packet id.
        let l = "07.12.2026 09:05:01 0E1C PACKET  0000017DED1D2C90 UDP Snd ::1             0003 R Q [8085 A DR  NOERROR] AAAA   (7)wrk10w1(4)corp(3)com(0)";
        assert_eq!(
            fields(&p, l)[0],
            ("remote".into(), Role::DstIp, "::1".into())
        );
        p.parse(l.as_bytes(), &mut r).expect("parses");
        assert_eq!(
            p.timestamp(l.as_bytes(), &r).as_deref(),
            Some("2026-12-07T09:05:01Z")
        );
        let l = "20100921 10:36:39 D24 PACKET  UDP Rcv 192.168.1.1  8857 R Q [0080       NOERROR] A      .ns1.offeringsmislead.com.";
        assert_eq!(
            fields(&p, l)[1],
            (
                "query".into(),
                Role::Domain,
                "ns1.offeringsmislead.com.".into()
            )
        );
        // The details' answers: an address and a name; a name with a compression pointer is not whole.
        assert_eq!(
            fields(&p, "      DATA   142.250.185.68"),
            vec![("answer".into(), Role::Answer, "142.250.185.68".into())]
        );
        assert_eq!(
            fields(&p, "      DATA   (13)sjdc-mbdiydb1(2)us(3)org(0)")[0].2,
            "sjdc-mbdiydb1.us.org"
        );
        for skip in [
            "      DATA   [C00C](3)org(0)",
            "      DATA   ",
            "DNS Server log file creation at 12/7/2026 10:00:00 AM",
            "    Name      \"(3)www(6)google(3)com(0)\"",
            "12/7/2026 10:15:32 AM 0B5C EVENT   The DNS server has started.",
        ] {
            assert_eq!(p.parse(skip.as_bytes(), &mut r), Ok(Parsed::Skip), "{skip}");
        }
        for bad in [
            "12/7/2026 10:15:32 AM 0B5C PACKET  000002B1C7D4A0F0 UDP Rcv",
            "12/7/2026 10:15:32 AM 0B5C PACKET  000002B1C7D4A0F0 UDP Rcv 10.0.0.5 3b1e Q [0001 D NOERROR] A (3)www(99)x",
            "12/7/2026 10:15:32 AM 0B5C PACKET  000002B1C7D4A0F0 UDP Rcv 10.0.0.5 3b1e Q [0001 D NOERROR] A (3)www(18446744073709551615)x",
        ] {
            assert!(p.parse(bad.as_bytes(), &mut r).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_dns_dates_in_each_region() {
        let t = |raw: &str| windns_time(raw).map(|d| d.to_string());
        let at = Some("2026-03-04 17:05:09".to_string());
        assert_eq!(t("3/4/2026 5:05:09 PM"), at);
        assert_eq!(t("04.03.2026 17:05:09"), at);
        assert_eq!(t("04/03/2026 17:05:09"), at);
        assert_eq!(t("2026/3/4 17:05:09"), at);
        assert_eq!(t("2026-03-04 17:05:09"), at);
        assert_eq!(t("20260304 17:05:09"), at);
        // Day first cannot be: the second number is no month.
        assert_eq!(
            t("03/14/2026 17:05:09").as_deref(),
            Some("2026-03-14 17:05:09")
        );
        assert_eq!(
            t("3/4/2026 12:05:09 AM").as_deref(),
            Some("2026-03-04 00:05:09")
        );
        assert_eq!(
            t("3/4/2026 12:05:09 PM").as_deref(),
            Some("2026-03-04 12:05:09")
        );
        assert_eq!(t("31/31/2026 17:05:09"), None);
        assert_eq!(t("3/4/2026 17:05:09 午後"), None);
    }

    #[test]
    fn local_times_are_read_in_the_logs_zone() {
        let ts = |p: &Parser, l: &str| {
            let mut r = Record::default();
            p.parse(l.as_bytes(), &mut r).expect("parses");
            p.timestamp(l.as_bytes(), &r)
        };
        let bind = "07-Dec-2026 09:15:32.100 queries: info: client @0x7f 10.0.0.1#5 (a.at): query: a.at IN A + (10.0.0.53)";
        let wdns = "07.07.2026 09:15:32 0B5C PACKET  000002B1C7D4A0F0 UDP Rcv 10.0.0.5 3b1e   Q [0001   D   NOERROR] A      (1)a(2)at(0)";
        let vienna = LogTz::parse("Europe/Vienna").expect("zone");
        for (tz, b, w) in [
            (
                LogTz::Utc,
                "2026-12-07T09:15:32.100Z",
                "2026-07-07T09:15:32Z",
            ),
            (vienna, "2026-12-07T08:15:32.100Z", "2026-07-07T07:15:32Z"),
            (
                LogTz::parse("-03:30").expect("offset"),
                "2026-12-07T12:45:32.100Z",
                "2026-07-07T12:45:32Z",
            ),
        ] {
            let p = Parser::new(&Format::Bind).with_tz(tz);
            assert_eq!(ts(&p, bind).as_deref(), Some(b), "{tz:?}");
            let p = Parser::new(&Format::WinDns).with_tz(tz);
            assert_eq!(ts(&p, wdns).as_deref(), Some(w), "{tz:?}");
        }
        // A CSV's time without a zone is read in it; one with an offset as written.
        let map = FieldMap {
            fields: vec![("host".into(), Role::Domain)],
            ts: Some("time".into()),
        };
        let p = Parser::new(&Format::Csv(map))
            .with_header_line(b"time,host")
            .with_tz(vienna);
        assert_eq!(
            ts(&p, "2026-12-07 09:15:32,a.at").as_deref(),
            Some("2026-12-07T08:15:32Z")
        );
        assert_eq!(
            ts(&p, "2026-12-07T09:15:32+00:00,a.at").as_deref(),
            Some("2026-12-07T09:15:32Z")
        );
        // The hour summer time repeats is read as its first pass; the hour it skips has no time.
        assert_eq!(
            vienna.to_utc(
                chrono::NaiveDate::from_ymd_opt(2026, 10, 25)
                    .and_then(|d| d.and_hms_opt(2, 30, 0))
                    .expect("t")
            ),
            Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).single()
        );
        assert_eq!(
            vienna.to_utc(
                chrono::NaiveDate::from_ymd_opt(2026, 3, 29)
                    .and_then(|d| d.and_hms_opt(2, 30, 0))
                    .expect("t")
            ),
            None
        );
        assert_eq!(LogTz::parse("UTC"), Ok(LogTz::Utc));
        assert_eq!(LogTz::parse("local"), Ok(LogTz::Local));
        assert_eq!(
            LogTz::parse("+0530"),
            Ok(LogTz::Fixed(
                FixedOffset::east_opt(5 * 3600 + 1800).expect("offset")
            ))
        );
        for bad in ["+25:00", "+1", "Europe/Atlantis", "", "+01:60"] {
            assert!(LogTz::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ecs_from_beats_and_an_elasticsearch_export() {
        let p = Parser::new(&Format::Ecs);
        // Sysmon's DNS event through Winlogbeat: the question, its answers, the process's hash; the user agent
        // and referrer are not looked up.
        let l = r#"{"@timestamp":"2026-12-07T09:15:32.123Z","ecs":{"version":"8.0.0"},"event":{"code":"22"},"dns":{"question":{"name":"cdn.evil-update.com"},"resolved_ip":["203.0.113.66"],"answers":[{"type":"A","data":"203.0.113.66"}]},"process":{"hash":{"sha256":"ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c"}},"user_agent":{"original":"evil.org"},"http":{"request":{"referrer":"http://evil.org/"}}}"#;
        let f = fields(&p, l);
        assert_eq!(
            f,
            vec![
                (
                    "dns.question.name".into(),
                    Role::Domain,
                    "cdn.evil-update.com".into()
                ),
                (
                    "dns.resolved_ip".into(),
                    Role::Answer,
                    "203.0.113.66".into()
                ),
                (
                    "dns.answers.data".into(),
                    Role::Answer,
                    "203.0.113.66".into()
                ),
                (
                    "process.hash.sha256".into(),
                    Role::Hash,
                    "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c".into()
                ),
            ]
        );
        let mut r = Record::default();
        p.parse(l.as_bytes(), &mut r).expect("parses");
        assert_eq!(
            p.timestamp(l.as_bytes(), &r).as_deref(),
            Some("2026-12-07T09:15:32.123Z")
        );
        // A document as Elasticsearch exports it, and flattened keys.
        let l = r#"{"_index":"logs-network","_id":"x1","_source":{"@timestamp":"2026-12-07T09:15:33Z","source":{"ip":"10.0.0.1","port":51234},"destination":{"ip":"6.6.6.6","port":443},"url":{"full":"http://bad.org/gate.php"}}}"#;
        let f = fields(&p, l);
        assert!(
            f.contains(&("destination.ip".into(), Role::DstIp, "6.6.6.6".into())),
            "{f:?}"
        );
        assert!(f.contains(&(
            "url.full".into(),
            Role::Url,
            "http://bad.org/gate.php".into()
        )));
        assert!(f.contains(&("destination.port".into(), Role::DstPort, "443".into())));
        p.parse(l.as_bytes(), &mut r).expect("parses");
        assert_eq!(
            p.timestamp(l.as_bytes(), &r).as_deref(),
            Some("2026-12-07T09:15:33Z")
        );
        let l = r#"{"@timestamp":"2026-12-07T09:15:34Z","ecs.version":"8.11.0","dns.question.name":"a.evil.com"}"#;
        assert_eq!(
            fields(&p, l),
            vec![(
                "dns.question.name".into(),
                Role::Domain,
                "a.evil.com".into()
            )]
        );
        assert!(p
            .parse(br#"{"@timestamp":"x","dns":{"question":"#, &mut r)
            .is_err());
    }

    #[test]
    fn cef_extensions() {
        let p = Parser::new(&Format::Cef);
        let ts = |l: &str| ts_of(&p, l);
        // Check Point's exporter over syslog: spaces and escaped `=` in values, a URL whose query holds `=`,
        // custom strings named by their labels (which may come after them).
        let l = r#"<134>Dec  7 09:15:32 cp-mgmt CEF:0|Check Point|VPN-1 & FireWall-1|Check Point|Log|https|Unknown|act=Accept src=10.20.31.77 dst=203.0.113.66 dpt=443 proto=6 dhost=cdn.evil-update.com request=https://cdn.evil-update.com/gate.php?id=7&x=1 cs4=beacon.evil-update.com cs3Label=Protection Name cs3=Gen.Rep.evil.org msg=User said a\=b and left cs4Label=DNS Query fileHash=44d88612fea8a8f36de82e1278abb02f rt=1796634932000"#;
        let f = fields(&p, l);
        for want in [
            ("src", Role::SrcIp, "10.20.31.77"),
            ("dst", Role::DstIp, "203.0.113.66"),
            ("dpt", Role::DstPort, "443"),
            ("proto", Role::Proto, "6"),
            ("dhost", Role::Domain, "cdn.evil-update.com"),
            (
                "request",
                Role::Url,
                "https://cdn.evil-update.com/gate.php?id=7&x=1",
            ),
            ("cs4", Role::Domain, "beacon.evil-update.com"),
            ("fileHash", Role::Hash, "44d88612fea8a8f36de82e1278abb02f"),
        ] {
            assert!(
                f.contains(&(want.0.into(), want.1, want.2.into())),
                "{want:?} in {f:?}"
            );
        }
        assert_eq!(f.len(), 8, "{f:?}");
        assert_eq!(ts(l).as_deref(), Some("2026-12-07T09:15:32Z"));
        // Escaped pipes in the header; a path joined to the host; an escape in a matched value; the time in
        // CEF's own form with a zone.
        let l = r"CEF:0|Ven\|dor|Proxy|1.0|100|Blocked \| site|5|dhost=bad.org request=/gate.php suser=alice@corp.example duser=C:\\Users\\bob end=Dec 07 2026 10:15:32 CET";
        let f = fields(&p, l);
        assert!(
            f.contains(&(
                "request".into(),
                Role::Url,
                "http://bad.org/gate.php".into()
            )),
            "{f:?}"
        );
        assert!(f.contains(&("suser".into(), Role::Email, "alice@corp.example".into())));
        assert!(f.contains(&("duser".into(), Role::Email, r"C:\Users\bob".into())));
        assert_eq!(ts(l).as_deref(), Some("2026-12-07T09:15:32Z"));
        // Kaspersky NGFW's DNS Security lists every name in `dhost`, and writes `rt` in ISO 8601.
        let l = "CEF:0|Kaspersky|NGFW|1.1|dns|DNS Security|8|src=10.0.0.5 dhost=zeus.example, ya.example rt=2023-12-26T12:31:54Z";
        assert_eq!(
            fields(&p, l),
            vec![
                ("src".into(), Role::SrcIp, "10.0.0.5".into()),
                ("dhost".into(), Role::Domain, "zeus.example".into()),
                ("dhost".into(), Role::Domain, "ya.example".into()),
            ]
        );
        assert_eq!(ts(l).as_deref(), Some("2023-12-26T12:31:54Z"));
        let mut r = Record::default();
        let e = p
            .parse(b"CEF:0|Vendor|Product|1.0", &mut r)
            .expect_err("short header");
        assert!(e.contains("3 of its 7"), "{e}");
        assert!(p.parse(b"no header at all", &mut r).is_err());
        assert_eq!(
            p.parse(b"CEF:0|V|P|1|100|Name|5|", &mut r),
            Ok(Parsed::Record)
        );
        assert!(p
            .parse(b"CEF:0|V|P|1|100|Name|5|just words", &mut r)
            .is_err());
    }

    #[test]
    fn leef_attributes() {
        let p = Parser::new(&Format::Leef);
        let ts = |l: &str| ts_of(&p, l);
        let l = "<13>Dec  7 09:15:32 mx01 LEEF:1.0|Microsoft|MSExchange|2016|15345|src=10.50.1.1\tdst=2001:db8::1\tsev=5\tsrcPort=81\tdstPort=21\tusrName=joe.black\turl=http://evil.example/x\tsender=ceo@evil.example\tdevTime=07.12.2026 10:15:32\tdevTimeFormat=dd.MM.yyyy HH:mm:ss";
        assert_eq!(
            fields(&p, l),
            vec![
                ("src".into(), Role::SrcIp, "10.50.1.1".into()),
                ("dst".into(), Role::DstIp, "2001:db8::1".into()),
                ("srcPort".into(), Role::SrcPort, "81".into()),
                ("dstPort".into(), Role::DstPort, "21".into()),
                ("sender".into(), Role::Email, "ceo@evil.example".into()),
                ("url".into(), Role::Url, "http://evil.example/x".into()),
                // No `dhost`: the URL's host is looked up too.
                ("url".into(), Role::Domain, "evil.example".into()),
            ]
        );
        assert_eq!(ts(l).as_deref(), Some("2026-12-07T10:15:32Z"));
        // LEEF 2.0 with its delimiter as a character, as a hex code, and left out.
        let l = "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=198.51.100.7^devTime=1796634932000";
        assert_eq!(
            fields(&p, l),
            vec![
                ("src".into(), Role::SrcIp, "10.0.1.8".into()),
                ("dst".into(), Role::DstIp, "198.51.100.7".into()),
            ]
        );
        assert_eq!(ts(l).as_deref(), Some("2026-12-07T09:15:32Z"));
        let l = "LEEF:2.0|V|P|1.0|ID|x7C|src=192.0.2.1|dst=198.51.100.2";
        assert_eq!(fields(&p, l).len(), 2, "{:?}", fields(&p, l));
        let l = "LEEF:2.0|V|P|1.0|ID|src=192.0.2.1\tdst=198.51.100.2";
        assert_eq!(fields(&p, l).len(), 2);
        // Space-separated LEEF 1.0, as some exporters write it.
        let l = "LEEF:1.0|V|P|1.0|ID|src=192.0.2.1 dst=198.51.100.2 url=http://a.example/";
        assert_eq!(fields(&p, l).len(), 4, "{:?}", fields(&p, l));
        let mut r = Record::default();
        assert!(p.parse(b"LEEF:2.0|V|P|1.0|ID|xZZ|src=1", &mut r).is_err());
        assert!(p.parse(b"LEEF:1.0|V|P", &mut r).is_err());
    }

    #[test]
    fn panos_traffic_and_threat() {
        let p = Parser::new(&Format::Panos);
        let line = |ty: &str, sub: &str, set: &[(usize, &str)]| {
            let mut c = vec![String::new(); 60];
            c[0] = "1".into();
            c[1] = "2026/12/07 10:15:33".into();
            c[2] = "013201001234".into();
            c[3] = ty.into();
            c[4] = sub.into();
            c[6] = "2026/12/07 10:15:32".into();
            c[7] = "10.0.5.21".into();
            c[8] = "203.0.113.9".into();
            c[24] = "50123".into();
            c[25] = "80".into();
            c[29] = "tcp".into();
            for (i, v) in set {
                c[*i] = v.to_string();
            }
            format!("<14>Dec  7 10:15:33 PA-3220 {}", c.join(","))
        };
        let l = line("TRAFFIC", "end", &[(12, "corp\\jdoe")]);
        assert_eq!(
            fields(&p, &l),
            vec![
                ("src".into(), Role::SrcIp, "10.0.5.21".into()),
                ("dst".into(), Role::DstIp, "203.0.113.9".into()),
                ("sport".into(), Role::SrcPort, "50123".into()),
                ("dport".into(), Role::DstPort, "80".into()),
                ("proto".into(), Role::Proto, "tcp".into()),
            ]
        );
        let mut r = Record::default();
        p.parse(l.as_bytes(), &mut r).expect("parses");
        assert_eq!(
            p.timestamp(l.as_bytes(), &r).as_deref(),
            Some("2026-12-07T10:15:32Z")
        );
        let vienna =
            Parser::new(&Format::Panos).with_tz(LogTz::parse("Europe/Vienna").expect("zone"));
        assert_eq!(
            vienna.timestamp(l.as_bytes(), &r).as_deref(),
            Some("2026-12-07T09:15:32Z")
        );
        // URL filtering: the URL without its scheme, quoted.
        let l = line("THREAT", "url", &[(31, "\"evil.example/gate.php?id=7,8\"")]);
        assert!(fields(&p, &l).contains(&(
            "url".into(),
            Role::Url,
            "http://evil.example/gate.php?id=7,8".into()
        )));
        // A DNS signature names the domain; WildFire the file's digest and the mail's addresses.
        let l = line("THREAT", "spyware", &[(31, "beacon.evil-update.com")]);
        assert!(fields(&p, &l).contains(&(
            "misc".into(),
            Role::Domain,
            "beacon.evil-update.com".into()
        )));
        let sha = "a".repeat(64);
        let l = line(
            "THREAT",
            "wildfire",
            &[
                (31, "invoice.pdf"),
                (43, &sha),
                (50, "ceo@evil.example"),
                (52, "clerk@agency.example"),
            ],
        );
        let f = fields(&p, &l);
        assert!(f.contains(&("filedigest".into(), Role::Hash, sha.clone())));
        assert!(f.contains(&("sender".into(), Role::Email, "ceo@evil.example".into())));
        assert!(!f.iter().any(|x| x.2 == "invoice.pdf"), "{f:?}");
        // Logs that name no traffic are passed over; a line with no receive time is an error.
        let l = line("SYSTEM", "general", &[]);
        assert_eq!(p.parse(l.as_bytes(), &mut r), Ok(Parsed::Skip));
        assert!(p.parse(b"1,yesterday,0132,TRAFFIC,end", &mut r).is_err());
    }

    #[test]
    fn cisco_asa_messages() {
        let p = Parser::new(&Format::Asa);
        let f = |l: &str| fields(&p, l);
        let t = |s: &[(&str, Role, &str)]| {
            s.iter()
                .map(|(a, r, b)| (a.to_string(), *r, b.to_string()))
                .collect::<Vec<_>>()
        };
        // Built outbound: the first end is the responder.
        let l = "<166>Dec 07 2026 09:15:32: %ASA-6-302013: Built outbound TCP connection 1234 for outside:203.0.113.9/443 (203.0.113.9/443) to inside:10.0.5.21/50123 (198.51.100.1/50123) (CORP\\jdoe)";
        assert_eq!(
            f(l),
            t(&[
                ("dst", Role::DstIp, "203.0.113.9"),
                ("dport", Role::DstPort, "443"),
                ("src", Role::SrcIp, "10.0.5.21"),
                ("sport", Role::SrcPort, "50123"),
            ])
        );
        assert_eq!(ts_of(&p, l).as_deref(), Some("2026-12-07T09:15:32Z"));
        // Built inbound, IPv6; a teardown (no side); ICMP.
        let l = "Dec  7 09:15:33 fw01 : %FTD-6-302015: Built inbound UDP connection 77 for outside:2001:db8::66/53 (2001:db8::66/53) to inside:2001:db8:1::5/40000 (2001:db8:1::5/40000)";
        assert_eq!(f(l)[0], ("src".into(), Role::SrcIp, "2001:db8::66".into()));
        assert_eq!(f(l)[2], ("dst".into(), Role::DstIp, "2001:db8:1::5".into()));
        assert_eq!(ts_of(&p, l).as_deref(), Some("2026-12-07T09:15:33Z"));
        let l = "%ASA-6-302014: Teardown TCP connection 1234 for outside:203.0.113.9/443 to inside:10.0.5.21/50123 duration 0:00:30 bytes 1234 TCP FINs";
        assert_eq!(
            f(l),
            t(&[
                ("addr", Role::Ip, "203.0.113.9"),
                ("addr", Role::Ip, "10.0.5.21")
            ])
        );
        let l = "%ASA-6-302020: Built inbound ICMP connection for faddr 203.0.113.9/0 gaddr 198.51.100.1/0 laddr 10.0.5.21/0";
        assert_eq!(
            f(l),
            t(&[
                ("addr", Role::Ip, "203.0.113.9"),
                ("addr", Role::Ip, "10.0.5.21")
            ])
        );
        // Access lists and denies.
        let l = "%ASA-6-106100: access-list inside_in permitted tcp inside/10.0.5.21(50123) -> outside/203.0.113.9(443) hit-cnt 1 first hit [0x1, 0x0]";
        assert_eq!(
            f(l),
            t(&[
                ("src", Role::SrcIp, "10.0.5.21"),
                ("sport", Role::SrcPort, "50123"),
                ("dst", Role::DstIp, "203.0.113.9"),
                ("dport", Role::DstPort, "443"),
            ])
        );
        let l = "%ASA-4-106023: Deny tcp src outside:203.0.113.9/4444 dst inside:10.0.5.21/445 by access-group \"outside_in\" [0x0, 0x0]";
        assert_eq!(f(l)[0], ("src".into(), Role::SrcIp, "203.0.113.9".into()));
        assert_eq!(f(l)[2], ("dst".into(), Role::DstIp, "10.0.5.21".into()));
        let l = "%ASA-2-106001: Inbound TCP connection denied from 203.0.113.9/4444 to 10.0.5.21/80 flags SYN  on interface outside";
        assert_eq!(f(l)[0], ("src".into(), Role::SrcIp, "203.0.113.9".into()));
        assert_eq!(f(l)[2], ("dst".into(), Role::DstIp, "10.0.5.21".into()));
        // URLs, and the botnet filter's names.
        let l = "2026-12-07T09:15:32+01:00 fw01 %ASA-5-304001: jdoe@10.0.5.21 Accessed URL 203.0.113.9:http://evil.example/gate.php?id=7";
        assert_eq!(
            f(l),
            t(&[
                ("src", Role::SrcIp, "10.0.5.21"),
                ("dst", Role::DstIp, "203.0.113.9"),
                ("url", Role::Url, "http://evil.example/gate.php?id=7"),
                ("host", Role::Domain, "evil.example"),
            ])
        );
        assert_eq!(ts_of(&p, l).as_deref(), Some("2026-12-07T08:15:32Z"));
        let l = "%ASA-4-338002: Dynamic Filter monitored blacklisted TCP traffic from inside:10.0.5.21/50123 (198.51.100.1/50123) to outside:203.0.113.9/443 (203.0.113.9/443), destination 203.0.113.9 resolved from dynamic list: evil.example, threat-level: very-high, category: Malware";
        assert!(f(l).contains(&("domain".into(), Role::Domain, "evil.example".into())));
        // Messages that name no traffic; garbage.
        let l = "%ASA-5-111008: User 'enable_15' executed the 'write memory' command.";
        assert_eq!(f(l), t(&[]));
        let mut r = Record::default();
        assert!(p
            .parse(b"%ASA-6-302013: Built outbound TCP", &mut r)
            .is_err());
        assert!(p.parse(b"%ASA-x-302013: no", &mut r).is_err());
        assert!(p.parse(b"%ASA-6-302013: Built outbound TCP connection 1 for outside:999.1.1.1/1 to inside:10.0.0.1/2", &mut r).is_err());
    }

    #[test]
    fn checkpoint_log_exporter() {
        let p = Parser::new(&Format::Checkpoint);
        // Anti-Bot over the exporter's syslog: the visited host and URL; the portal message quoting the URL and
        // the user agent are not looked up; `time` is epoch seconds.
        let l = r#"<134>1 2026-12-07T09:15:32Z gw-01 CheckPoint 15871 - [action:"Block"; flags:"311552"; ifdir:"outbound"; loguid:"{0x291ee176,0x3488469e,0xdb759c74,0xc0134e9a}"; origin:"192.168.178.40"; time:"1796634932"; version:"5"; dst:"203.0.113.66"; http_host:"cdn.evil-update.com"; portal_message:"Activity: C&C URL: http://other.example/x \"quoted\" \]"; product:"Anti Malware"; proto:"6"; resource:"http://cdn.evil-update.com/gate.php?id=7"; s_port:"34416"; service:"80"; src:"10.0.0.3"; user_agent:"Mozilla/5.0 (X11; Linux x86_64)"]"#;
        assert_eq!(
            fields(&p, l),
            vec![
                ("dst".into(), Role::DstIp, "203.0.113.66".into()),
                (
                    "http_host".into(),
                    Role::Domain,
                    "cdn.evil-update.com".into()
                ),
                ("proto".into(), Role::Proto, "6".into()),
                ("s_port".into(), Role::SrcPort, "34416".into()),
                ("service".into(), Role::DstPort, "80".into()),
                ("src".into(), Role::SrcIp, "10.0.0.3".into()),
                (
                    "resource".into(),
                    Role::Url,
                    "http://cdn.evil-update.com/gate.php?id=7".into()
                ),
            ]
        );
        assert_eq!(ts_of(&p, l).as_deref(), Some("2026-12-07T09:15:32Z"));
        // DNS, file and mail fields; no `time`: the header's.
        let l = r#"<134>1 2026-12-07T10:15:32+01:00 gw-01 CheckPoint 15871 - [loguid:"{0x1}"; dns_query:"beacon.evil-update.com"; file_sha256:"aaaa"; from:"ceo@evil.example"; to:"clerk@agency.example"; proxy_src_ip:"10.0.0.9"]"#;
        assert_eq!(fields(&p, l).len(), 5, "{:?}", fields(&p, l));
        assert_eq!(ts_of(&p, l).as_deref(), Some("2026-12-07T09:15:32Z"));
        // The older `Fields@` form with `key="value"`.
        let l = r#"<85>1 2026-12-07T10:10:16Z 172.16.2.9 CP-GW - Log [Fields@1.3.6.1.4.1.2620 inzone="DMZ" src="81.2.69.192" dst="203.0.113.66" proto="6" svc="443" sport_svc="56530" ProductFamily="Network" ]"#;
        assert_eq!(
            fields(&p, l),
            vec![
                ("src".into(), Role::SrcIp, "81.2.69.192".into()),
                ("dst".into(), Role::DstIp, "203.0.113.66".into()),
                ("proto".into(), Role::Proto, "6".into()),
                ("svc".into(), Role::DstPort, "443".into()),
                ("sport_svc".into(), Role::SrcPort, "56530".into()),
            ]
        );
        // An escaped quote inside a matched value; an unterminated value; no pairs.
        let l = r#"[loguid:"x"; http_host:"a\"b.example"]"#;
        assert!(fields(&p, l).contains(&("http_host".into(), Role::Domain, "a\"b.example".into())));
        let mut r = Record::default();
        assert!(p
            .parse(br#"[src:"10.0.0.1"; dst:"unterminated"#, &mut r)
            .is_ok());
        assert!(p
            .parse(b"<134>1 2026-12-07T10:10:16Z gw - - no pairs here", &mut r)
            .is_err());
    }

    #[test]
    fn fortigate_key_values() {
        let p = Parser::new(&Format::Fortigate);
        let ts = |l: &str| ts_of(&p, l);
        // DNS filter over syslog (RFC 5424 header), the answer's addresses, `eventtime` in nanoseconds.
        let l = r#"<188>1 2026-12-07T09:15:32Z fw01 - - - - eventtime=1796634932399466940 tz="+0100" logid="1501054803" type="utm" subtype="dns" eventtype="dns-response" level="warning" vd="root" srcip=10.20.31.77 srcport=36056 dstip=10.0.0.53 dstport=53 proto=17 qname="cdn.evil-update.com" qtype="A" ipaddr="203.0.113.66, 203.0.113.67" msg="Domain was blocked" action="redirect""#;
        assert_eq!(
            fields(&p, l),
            vec![
                ("srcip".into(), Role::SrcIp, "10.20.31.77".into()),
                ("srcport".into(), Role::SrcPort, "36056".into()),
                ("dstip".into(), Role::DstIp, "10.0.0.53".into()),
                ("dstport".into(), Role::DstPort, "53".into()),
                ("qname".into(), Role::Domain, "cdn.evil-update.com".into()),
                ("ipaddr".into(), Role::Answer, "203.0.113.66".into()),
                ("ipaddr".into(), Role::Answer, "203.0.113.67".into()),
            ]
        );
        assert_eq!(ts(l).as_deref(), Some("2026-12-07T09:15:32.399466940Z"));
        // Web filter: a path with the host makes the URL; `date`/`time` with the device's offset.
        let l = r#"date=2026-12-07 time=10:15:32 tz="+0100" devname="FGT60F" devid="FGT60FTK000000" logid="0316013056" type="utm" subtype="webfilter" eventtype="ftgd_blk" srcip=10.0.5.21 srcname="PC-042" dstip=198.51.100.9 hostname="bad.org" url="/gate.php?id=7" referralurl="http://evil.org/""#;
        let f = fields(&p, l);
        assert!(
            f.contains(&(
                "url".into(),
                Role::Url,
                "http://bad.org/gate.php?id=7".into()
            )),
            "{f:?}"
        );
        assert!(f.contains(&("hostname".into(), Role::Domain, "bad.org".into())));
        assert!(!f.iter().any(|x| x.2.contains("evil.org")), "{f:?}");
        assert_eq!(ts(l).as_deref(), Some("2026-12-07T09:15:32Z"));
        // A whole URL as written; no offset: the log's zone (UTC here).
        let l = r#"date=2026-12-07 time=10:15:33 logid="0316013057" type="utm" devid="F" hostname="chat.example.com" url="https://chat.example.com/a/chat""#;
        assert!(fields(&p, l).contains(&(
            "url".into(),
            Role::Url,
            "https://chat.example.com/a/chat".into()
        )));
        assert_eq!(ts(l).as_deref(), Some("2026-12-07T10:15:33Z"));
        let mut r = Record::default();
        assert!(p.parse(b"just words here", &mut r).is_err());
        assert!(p
            .parse(br#"srcip=10.0.0.1 qname="unterminated"#, &mut r)
            .is_ok());
    }

    #[test]
    fn w3c_iis_and_proxysg() {
        let mut p = Parser::new(&Format::W3c);
        let mut r = Record::default();
        assert!(p.parse(b"2026-12-07 10:00:00 1.2.3.4", &mut r).is_err());
        for h in [
            "#Software: Microsoft Internet Information Services 10.0",
            "#Version: 1.0",
            "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) cs-host X-Forwarded-For sc-status",
        ] {
            assert!(p.is_header_line(h.as_bytes()));
            p = p.with_header_line(h.as_bytes());
        }
        let l = "2026-12-07 10:15:32 10.0.0.10 GET /owa/auth/logon.aspx replaceCurrent=1 443 - 10.0.0.1 Mozilla/5.0+(evil.org) http://evil.org/ mail.example.gv.at 203.0.113.7,+10.0.0.1 200";
        assert_eq!(
            fields(&p, l),
            vec![
                ("s-ip".into(), Role::DstIp, "10.0.0.10".into()),
                ("c-ip".into(), Role::SrcIp, "10.0.0.1".into()),
                ("cs-host".into(), Role::Domain, "mail.example.gv.at".into()),
                ("X-Forwarded-For".into(), Role::SrcIp, "203.0.113.7".into()),
                ("X-Forwarded-For".into(), Role::SrcIp, "10.0.0.1".into()),
                (
                    "cs-uri-stem".into(),
                    Role::Url,
                    "http://mail.example.gv.at/owa/auth/logon.aspx?replaceCurrent=1".into()
                ),
            ]
        );
        p.parse(l.as_bytes(), &mut r).expect("parses");
        assert_eq!(
            p.timestamp(l.as_bytes(), &r).as_deref(),
            Some("2026-12-07T10:15:32Z")
        );
        assert!(p
            .parse(b"2026-12-07 10:15:32 10.0.0.10 GET", &mut r)
            .is_err());
        // ProxySG: quoted cells, the scheme and `?` written apart, a tunnel without a URL.
        p = p.with_header_line(b"#Fields: date time time-taken c-ip cs-username sc-filter-result cs-categories cs-method cs-uri-scheme cs-host cs-uri-port cs-uri-path cs-uri-query cs(User-Agent) s-ip s-supplier-ip");
        let l = r#"2026-12-07 10:15:33 43 10.1.1.5 - OBSERVED "Technology/Internet;Suspicious" GET https cdn.evil.com 443 /gate.php ?id=7 "Mozilla/5.0 (Windows NT 10.0; Win64; x64)" 10.0.0.1 6.6.6.6"#;
        let f = fields(&p, l);
        assert!(f.contains(&(
            "cs-uri-path".into(),
            Role::Url,
            "https://cdn.evil.com/gate.php?id=7".into()
        )));
        assert!(f.contains(&("s-supplier-ip".into(), Role::DstIp, "6.6.6.6".into())));
        let l = r#"2026-12-07 10:15:34 43 10.1.1.5 - OBSERVED "unavailable" CONNECT tcp cdn.evil.com 443 / - "-" 10.0.0.1 6.6.6.6"#;
        let f = fields(&p, l);
        assert!(f.contains(&("cs-host".into(), Role::Domain, "cdn.evil.com".into())));
        assert!(!f.iter().any(|x| x.1 == Role::Url), "{f:?}");
    }

    #[test]
    fn detects_formats() {
        assert_eq!(
            detect(b"#separator \\x09\n#fields\tts\n"),
            Some(Format::ZeekTsv)
        );
        assert_eq!(
            detect(br#"{"timestamp":"x","event_type":"dns"}"#),
            Some(Format::Eve)
        );
        assert_eq!(detect(br#"{"_path":"dns","ts":1}"#), Some(Format::ZeekJson));
        assert_eq!(detect(b"1286536309.450    123 192.168.0.1 TCP_MISS/200 1234 GET http://e.com/ - DIRECT/1.2.3.4 -"), Some(Format::Squid));
        assert_eq!(
            detect(b"#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Fields: date time c-ip\r\n"),
            Some(Format::W3c)
        );
        assert_eq!(
            detect(b"DNS Server log file creation at 12/7/2026 10:00:00 AM\r\n"),
            Some(Format::WinDns)
        );
        assert_eq!(
            detect(b"22/12/2021 17:32:59 0E1C PACKET  0000017DED1D2C90 UDP Snd ::1             0003 R Q [8085 A DR  NOERROR] AAAA   (7)wrk10w1(9)cancamusa(3)com(0)\n"),
            Some(Format::WinDns)
        );
        assert_eq!(
            detect(br#"{"@timestamp":"2026-12-07T09:15:32Z","ecs":{"version":"8.0.0"},"suricata":{"eve":{"event_type":"dns"}}}"#),
            Some(Format::Ecs)
        );
        assert_eq!(
            detect(br#"{"_index":"logs","_source":{"@timestamp":"2026-12-07T09:15:32Z"}}"#),
            Some(Format::Ecs)
        );
        assert_eq!(
            detect(br#"date=2026-12-07 time=10:15:32 devname="FGT60F" devid="FGT60F" logid="0316013056" type="utm" subtype="webfilter""#),
            Some(Format::Fortigate)
        );
        assert_eq!(
            detect(b"<134>Dec  7 09:15:32 cp CEF:0|Check Point|VPN-1|R81|Log|https|Unknown|src=10.0.0.1 query: x client y"),
            Some(Format::Cef)
        );
        assert_eq!(
            detect(b"LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5"),
            Some(Format::Leef)
        );
        assert_eq!(
            detect(b"Dec  7 10:15:33 PA-3220 1,2026/12/07 10:15:33,013201001234,TRAFFIC,end,2561,2026/12/07 10:15:32,10.0.5.21"),
            Some(Format::Panos)
        );
        assert_eq!(
            detect(b"Dec  7 09:15:33 fw01 : %ASA-6-302013: Built outbound TCP connection 1 for outside:203.0.113.9/443 (203.0.113.9/443) to inside:10.0.5.21/50123 (10.0.5.21/50123)"),
            Some(Format::Asa)
        );
        assert_eq!(
            detect(br#"<134>1 2026-12-07T09:15:32Z gw-01 CheckPoint 15871 - [action:"Accept"; loguid:"{0x1}"; src:"10.0.0.3"; query: client "]"#),
            Some(Format::Checkpoint)
        );
        assert_eq!(detect(b"hello world"), None);
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn key_filter_admits_every_read_key() {
        for (n, _) in ZEEK_FIELDS {
            assert!(ZEEK_KEYS.may(n.as_bytes()), "{n}");
        }
        for (n, _) in EVE_FIELDS {
            assert!(EVE_KEYS.may(n.as_bytes()), "{n}");
        }
        // The W3C columns named by position in its table.
        assert!(W3C_HOSTS
            .iter()
            .all(|&i| W3C_FIELDS[i as usize].1 == Role::Domain));
        assert!(W3C_XFF
            .iter()
            .all(|&i| W3C_FIELDS[i as usize].0.contains("Forwarded-For")));
        assert!(W3C_PATHS
            .iter()
            .all(|&i| W3C_FIELDS[i as usize].0.starts_with("cs-uri-")));
        for (n, _) in ECS_FIELDS {
            assert!(ECS_KEYS.may(n.as_bytes()), "{n}");
            assert!(ECS_KEYS.may(format!("_source.{n}").as_bytes()), "{n}");
        }
        assert!(ZEEK_KEYS.may(b"ts") && EVE_KEYS.may(b"timestamp") && ECS_KEYS.may(b"@timestamp"));
        assert!(EVE_KEYS.may(b"dns.grouped.AAAA") && EVE_KEYS.may(&[b'd'; 90]));
        assert!(!ZEEK_KEYS.may(b"qclass") && !ZEEK_KEYS.may(b"") && !EVE_KEYS.may(b"flow_id"));
    }

    #[test]
    fn field_matches_agree_with_the_name_tables() {
        for (i, (n, r)) in ZEEK_FIELDS.iter().enumerate() {
            assert_eq!(zeek_field(n.as_bytes()), Some((i as u16, *r)), "{n}");
        }
        for (i, (n, r)) in EVE_FIELDS.iter().enumerate() {
            assert_eq!(eve_field(n.as_bytes()), Some((i as u16, *r)), "{n}");
        }
        assert_eq!(
            eve_field(b"dns.grouped.AAAA").map(|x| x.1),
            Some(Role::Answer)
        );
        assert_eq!(zeek_field(b"user_agent"), None);
    }
}
