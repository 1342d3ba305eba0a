//! Detection content for the sensors an agency already runs: `vigil export suricata|zeek|rpz|blocklist|csv|misp|
//! misp-feed`, built from the same selection as hunts (TLP, warning lists, expiry, revocation, score), and
//! `vigil export sightings` (recorded sightings as a STIX bundle to carry back to the CSIRT).
//!
//! Only indicators whose pattern is a simple equality (or an OR / IN of them) on a domain, address, CIDR, URL,
//! e-mail address or file hash can become detection content; general STIX patterns are counted and left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine as _;
use chrono::Utc;
use clap::Args;
use md5::Digest as _;
use serde::Serialize;
use serde_json::{json, Value};
use vigil_hunt::HitType;
use vigil_model::Tlp;
use vigil_server::detection::{DetectionExport, DetectionRequest};
use vigil_store::ScanFilter;

use super::hunt::{hit_type, select, select_in, IntelItem, SelectArgs};
use super::Env;

#[derive(Debug, Args)]
pub struct IocExportArgs {
    /// Output file, or directory for suricata, blocklist and misp-feed.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub select: SelectArgs,
    /// rpz: the zone's origin.
    #[arg(long, default_value = "rpz.vigil")]
    pub zone: String,
    /// suricata: the first rule id (sid) used.
    #[arg(long, default_value_t = 5_100_001)]
    pub sid_base: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SightingsArgs {
    #[arg(long)]
    pub out: PathBuf,
    /// Leave out sightings marked above this level.
    #[arg(long)]
    pub tlp_max: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Suricata,
    Zeek,
    Rpz,
    Blocklist,
    Csv,
    Misp,
    MispFeed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Suricata => "suricata",
            Kind::Zeek => "zeek",
            Kind::Rpz => "rpz",
            Kind::Blocklist => "blocklist",
            Kind::Csv => "csv",
            Kind::Misp => "misp",
            Kind::MispFeed => "misp-feed",
        }
    }
}

/// One exportable value and the indicator it came from.
struct Entry<'a> {
    kind: HitType,
    value: &'a str,
    item: &'a IntelItem,
}

impl Entry<'_> {
    /// A URL path on any host (maltrail's `/x.apk` trails): typed `url` like URLs, told apart by the value,
    /// since a URL indicator's value always starts with its scheme.
    fn is_path(&self) -> bool {
        self.kind == HitType::Url && self.value.starts_with('/')
    }
}

/// Decodes `%XX` escapes (a sensor's normalised URI buffer holds the decoded bytes); other bytes as they are.
fn percent_decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

/// Bytes as Suricata rule content (printable ASCII as is, the rest and the rule's own syntax as `|XX|`).
fn suricata_content_bytes(b: &[u8]) -> String {
    let mut out = String::new();
    for &c in b {
        if (0x20..0x7f).contains(&c) && !b"\";\\|".contains(&c) {
            out.push(c as char);
        } else {
            let _ = write!(out, "|{c:02X}|");
        }
    }
    out
}

/// Bytes as a literal inside a Suricata `pcre:"/.../"` option: letters and digits as they are, every other
/// byte as `\xHH`, so neither the expression nor the rule's quoting can be broken.
fn pcre_literal(b: &[u8]) -> String {
    let mut out = String::new();
    for &c in b {
        if c.is_ascii_alphanumeric() || c == b'_' {
            out.push(c as char);
        } else {
            let _ = write!(out, "\\x{c:02x}");
        }
    }
    out
}

/// The Suricata rule body (`http.uri` options) for a URL path on any host, with the meaning of the hunt's path
/// table: a file path with or without a trailing `/` and any query; a directory and everything below it; a path
/// with a query, that query only.
fn suricata_path_options(path: &str) -> String {
    let (p, q) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let dir = q.is_none() && p.ends_with('/');
    let mut stem = percent_decode(p.strip_suffix('/').unwrap_or(p));
    if stem.is_empty() {
        // The root with a query (`/?q`): Suricata refuses empty content.
        stem.push(b'/');
    }
    let tail = match q {
        Some(q) => format!("\\x2f?\\x3f{}$", pcre_literal(&percent_decode(q))),
        None if dir => "(?:[\\x2f\\x3f]|$)".to_string(),
        None => "\\x2f?(?:\\x3f|$)".to_string(),
    };
    format!(
        "http.uri; content:\"{}\"; startswith; pcre:\"/^{}{tail}/\";",
        suricata_content_bytes(&stem),
        pcre_literal(&stem)
    )
}

/// Indicators that give no value to detection content, and why.
#[derive(Debug, Default)]
struct Unusable {
    /// All of them (the `not_exportable` of `vigil export --json`).
    total: u64,
    /// Those whose values are all invalid for their type (`[domain-name:value = 'not a domain!!']`); the rest
    /// are general patterns, which only a hunt can evaluate.
    invalid_values: u64,
    /// Indicators exported with some of their values left out as invalid (`partly_invalid` in --json).
    partly_invalid: u64,
    /// The first few of either, with their ids and reasons, for the notes.
    invalid_examples: Vec<String>,
}

impl Unusable {
    const EXAMPLES: usize = 5;

    fn note(&self) -> Option<String> {
        let n = self.invalid_values + self.partly_invalid;
        if n == 0 {
            return None;
        }
        let more = n - self.invalid_examples.len() as u64;
        let whole = match self.invalid_values {
            0 => String::new(),
            w => format!(", and {w} of them, having nothing else to export, entirely"),
        };
        Some(format!(
            "{n} indicator(s) compare values that are not valid for their type (fix them at their source): those \
             values were left out{whole}: {}{}",
            self.invalid_examples.join("; "),
            if more > 0 { format!("; and {more} more") } else { String::new() }
        ))
    }
}

fn entries(items: &[IntelItem]) -> (Vec<Entry<'_>>, Unusable) {
    let mut seen: BTreeSet<(HitType, &str)> = BTreeSet::new();
    let mut out = Vec::new();
    let mut unusable = Unusable::default();
    for it in items {
        if it.values.is_empty() {
            unusable.total += 1;
        }
        if it.invalid_values {
            if it.values.is_empty() {
                unusable.invalid_values += 1;
            } else {
                unusable.partly_invalid += 1;
            }
            if unusable.invalid_examples.len() < Unusable::EXAMPLES {
                // Parsed again for the reason: only the few named.
                if let Some(reason) = super::hunt::invalid_value(&it.pattern) {
                    unusable
                        .invalid_examples
                        .push(format!("{}: {reason}", it.id));
                }
            }
        }
        for (k, v) in &it.values {
            let Some(kind) = hit_type(*k, v) else {
                continue;
            };
            if seen.insert((kind, v.as_str())) {
                out.push(Entry {
                    kind,
                    value: v,
                    item: it,
                });
            }
        }
    }
    out.sort_by(|a, b| (a.kind, a.value).cmp(&(b.kind, b.value)));
    (out, unusable)
}

/// Writes a file through a temporary name so that a reader never sees half of it.
fn write_file(path: &Path, text: &[u8]) -> anyhow::Result<()> {
    write_file_with(path, |w| w.write_all(text))
}

/// [`write_file`] for content written piece by piece (large exports are not held in memory whole).
fn write_file_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let tmp = path.with_extension("partial");
    let f = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    fill(&mut w)
        .and_then(|()| w.flush())
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(w);
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// A single-file export rendered into memory (REST bodies).
fn in_memory(fill: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    fill(&mut body)?;
    Ok(body)
}

/// Files of a directory format, by name, in memory: written to a directory by `vigil export`, served as a
/// gzip tarball (or one by one, the MISP feed) over REST.
type Files = Vec<(String, Vec<u8>)>;

fn write_dir(dir: &Path, files: &Files) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::with_capacity(files.len());
    for (name, body) in files {
        let p = dir.join(name);
        write_file(&p, body)?;
        out.push(p);
    }
    Ok(out)
}

pub fn run(env: &Env, kind: Kind, a: &IocExportArgs) -> anyhow::Result<u8> {
    let now = Utc::now();
    let sel = select(env, &a.select, now)?;
    let (ents, unusable) = entries(&sel.items);
    let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &ents {
        *by_type.entry(e.kind.as_str()).or_default() += 1;
    }
    let mut notes: Vec<String> = unusable.note().into_iter().collect();
    let files = match kind {
        Kind::Suricata => {
            let dir = &a.out;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
            let files = suricata(&ents, &a.select, a.sid_base, &abs, &mut notes);
            write_dir(dir, &files)?
        }
        Kind::Zeek => {
            write_file_with(&a.out, |w| zeek(&ents, &mut notes, w))?;
            vec![a.out.clone()]
        }
        Kind::Rpz => {
            write_file_with(&a.out, |w| rpz(&ents, &a.zone, &mut notes, w))?;
            vec![a.out.clone()]
        }
        Kind::Blocklist => {
            std::fs::create_dir_all(&a.out)
                .with_context(|| format!("creating {}", a.out.display()))?;
            write_dir(&a.out, &blocklist(&ents))?
        }
        Kind::Csv => {
            write_file_with(&a.out, |w| csv(&ents, w))?;
            vec![a.out.clone()]
        }
        Kind::Misp => {
            let info = format!(
                "Vigil indicators (tlp-max {}, min-score {})",
                sel.tlp_max.map_or("none", |t| t.as_str()),
                sel.min_score
            );
            notes.extend(untagged_families(&ents));
            let ev = misp_event(
                &ents,
                &env.settings.operator,
                &info,
                uuid::Uuid::new_v4(),
                now,
            );
            write_file_with(&a.out, |w| {
                serde_json::to_writer_pretty(w, &ev).map_err(std::io::Error::from)
            })?;
            let size = std::fs::metadata(&a.out).map_or(0, |m| m.len());
            if size > vigil_formats::misp::MAX_DOCUMENT {
                notes.push(format!(
                    "the event is {} MiB, more than the {} MiB Vigil reads back as one MISP document: \
                     `vigil export misp-feed` writes one event per family and TLP",
                    size >> 20,
                    vigil_formats::misp::MAX_DOCUMENT >> 20
                ));
            }
            vec![a.out.clone()]
        }
        Kind::MispFeed => {
            notes.extend(untagged_families(&ents));
            std::fs::create_dir_all(&a.out)
                .with_context(|| format!("creating {}", a.out.display()))?;
            let mut written = Vec::new();
            misp_feed(&ents, &env.settings.operator, now, &mut |name, body| {
                let p = a.out.join(name);
                write_file(&p, &body)?;
                written.push(p);
                Ok(())
            })?;
            written
        }
    };
    if a.json {
        crate::output::json(&json!({
            "format": kind.name(), "out": a.out, "files": files, "values": ents.len(), "by_type": by_type,
            "indicators": sel.items.len(), "not_exportable": unusable.total,
            "invalid_values": unusable.invalid_values, "partly_invalid": unusable.partly_invalid,
            "selection": sel.stats,
            "tlp_max": sel.tlp_max.map(|t| t.as_str()), "min_score": sel.min_score, "notes": notes,
        }))?;
    } else {
        println!(
            "{}: {} values from {} indicators written to {} (tlp-max {}, min-score {})",
            kind.name(),
            ents.len(),
            sel.items.len(),
            a.out.display(),
            sel.tlp_max.map_or("none", |t| t.as_str()),
            sel.min_score
        );
        for (t, n) in &by_type {
            println!("  {t:<8} {n}");
        }
        let s = &sel.stats;
        println!(
            "left out: {} expired, {} on warning lists, {} below min-score, {} unusable patterns, {} with invalid values, {} general patterns (not expressible as {})",
            s.expired,
            s.warninglisted,
            s.below_min_score,
            s.bad_pattern,
            unusable.invalid_values,
            unusable.total - unusable.invalid_values,
            kind.name()
        );
        for n in &notes {
            println!("note: {n}");
        }
    }
    Ok(0)
}

/// Detection content for a REST caller (the server's `detection_export` hook): the indicators the caller's scope
/// may see, selected exactly as `vigil export` selects them, rendered in memory.
pub fn for_caller(env: &Env, req: &DetectionRequest) -> anyhow::Result<DetectionExport> {
    let now = Utc::now();
    let args = SelectArgs {
        tlp_max: req.tlp_max.map(|t| t.as_str().to_string()),
        min_score: req
            .min_score
            .unwrap_or(vigil_hunt::score::DecayConfig::default().min_score),
        exact_domains: req.exact_domains,
    };
    let sel = select_in(env, &args, Some(&req.scope), now)?;
    if req.format == "snapshot" {
        return snapshot_for_caller(&sel, now);
    }
    let (ents, unusable) = entries(&sel.items);
    let used: BTreeSet<&str> = ents.iter().map(|e| &*e.item.id).collect();
    let amber_or_above = sel
        .items
        .iter()
        .filter(|it| used.contains(&*it.id) && it.tlp >= Tlp::Amber)
        .count() as u64;
    let mut notes: Vec<String> = unusable.note().into_iter().collect();
    let mut dir_files = Vec::new();
    let (content_type, file_name, body) = match req.format.as_str() {
        "zeek" => (
            "text/plain; charset=utf-8",
            "vigil.intel",
            in_memory(|w| zeek(&ents, &mut notes, w))?,
        ),
        "rpz" => (
            "text/dns",
            "vigil.rpz",
            in_memory(|w| {
                rpz(
                    &ents,
                    req.zone.as_deref().unwrap_or("rpz.vigil"),
                    &mut notes,
                    w,
                )
            })?,
        ),
        "csv" => (
            "text/csv; charset=utf-8",
            "vigil.csv",
            in_memory(|w| csv(&ents, w))?,
        ),
        // Directory formats: the files go back as they are; the server packs or serves them.
        "suricata" => {
            dir_files = suricata(
                &ents,
                &args,
                req.sid_base,
                Path::new(&req.suricata_dir),
                &mut notes,
            );
            ("application/gzip", "vigil-suricata.tar.gz", Vec::new())
        }
        "blocklist" => {
            dir_files = blocklist(&ents);
            ("application/gzip", "vigil-blocklist.tar.gz", Vec::new())
        }
        "misp-feed" => {
            misp_feed(&ents, &env.settings.operator, now, &mut |name, body| {
                dir_files.push((name, body));
                Ok(())
            })?;
            ("application/gzip", "vigil-misp-feed.tar.gz", Vec::new())
        }
        "misp" => {
            // The same caller and selection get the same event UUID on every pull, so a MISP instance that
            // fetches this daily updates one event instead of piling up copies.
            let who = req
                .scope
                .member
                .map_or("anonymous".to_string(), |m| format!("member-{m}"));
            let key = format!(
                "rest-export|{who}|{}|{}|{}",
                args.tlp_max.as_deref().unwrap_or("none"),
                args.min_score,
                args.exact_domains
            );
            let info = format!(
                "Vigil indicators for {who} (tlp-max {}, min-score {})",
                args.tlp_max.as_deref().unwrap_or("none"),
                args.min_score
            );
            let ev = misp_event(
                &ents,
                &env.settings.operator,
                &info,
                uuid::Uuid::new_v5(&VIGIL_NS, key.as_bytes()),
                now,
            );
            (
                "application/json",
                "vigil-misp-event.json",
                serde_json::to_string_pretty(&ev)?.into_bytes(),
            )
        }
        other => anyhow::bail!("no detection export format `{other}`"),
    };
    Ok(DetectionExport {
        content_type,
        file_name: file_name.to_string(),
        body,
        values: ents.len() as u64,
        indicators: used.len() as u64,
        amber_or_above,
        notes,
        files: dir_files,
        etag: None,
    })
}

/// A sensor's snapshot of the caller's selection (what `vigil snapshot` writes), for `vigil hunt --snapshot`.
fn snapshot_for_caller(
    sel: &super::hunt::Selection,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<DetectionExport> {
    let super::hunt::Built {
        set,
        rejected,
        reasons,
        partly,
        partly_reasons,
    } = super::hunt::build_set(sel)?;
    let mut body = Vec::new();
    vigil_hunt::snapshot::write_to(&set, &mut body).context("writing the snapshot")?;
    let mut notes = Vec::new();
    if rejected > 0 {
        notes.push(format!(
            "{rejected} indicators left out: the matcher could not use their patterns (first: {})",
            one_line(reasons.first().map_or("", String::as_str))
        ));
    }
    if partly > 0 {
        notes.push(format!(
            "{partly} indicators kept without their invalid values (first: {})",
            one_line(partly_reasons.first().map_or("", String::as_str))
        ));
    }
    Ok(DetectionExport {
        content_type: "application/octet-stream",
        file_name: "vigil.vgs".to_string(),
        body,
        values: set.len() as u64,
        indicators: set.len() as u64,
        amber_or_above: sel.items.iter().filter(|it| it.tlp >= Tlp::Amber).count() as u64,
        notes,
        files: Vec::new(),
        etag: Some(snapshot_etag(&sel.items, now)),
    })
}

/// A weak validator of a snapshot: the same indicators (by id and version) with the same TLP, names and
/// subdomain matching, in the same snapshot format, on the same UTC day. The decayed scores inside change by the
/// minute without changing what a sensor matches, so they are left out; the day bounds how old a sensor's scores
/// get (a sensor polling every few minutes fetches the file again once a day, and whenever the selection changes,
/// an indicator decaying below the minimum score included).
fn snapshot_etag(items: &[IntelItem], now: chrono::DateTime<Utc>) -> String {
    let mut keys: Vec<&IntelItem> = items.iter().collect();
    keys.sort_by(|a, b| a.id.cmp(&b.id).then_with(|| a.modified.cmp(&b.modified)));
    let mut h = sha2::Sha256::new();
    let mut field = |b: &[u8]| {
        sha2::Digest::update(&mut h, (b.len() as u64).to_le_bytes());
        sha2::Digest::update(&mut h, b);
    };
    field(&vigil_hunt::snapshot::VERSION.to_le_bytes());
    for it in keys {
        field(it.id.as_bytes());
        field(it.modified.as_bytes());
        field(it.pattern.as_bytes());
        field(it.tlp.as_str().as_bytes());
        field(&[u8::from(it.subdomains)]);
        for m in &it.named.malware {
            field(m.as_bytes());
        }
        field(b"|");
        for a in &it.named.actors {
            field(a.as_bytes());
        }
        field(b"|");
    }
    let d = sha2::Digest::finalize(h);
    let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}-{}\"", now.format("%Y-%m-%d"))
}

/// A printable, rule- and TSV-safe rendering of free text (names from feeds).
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " ._-:/+()".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Free text on one line: control characters (tabs, newlines) become spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn context(it: &IntelItem) -> String {
    let mut s = String::new();
    if !it.named.malware.is_empty() {
        let _ = write!(s, "malware {}; ", it.named.malware.join(", "));
    }
    if !it.named.actors.is_empty() {
        let _ = write!(s, "actors {}; ", it.named.actors.join(", "));
    }
    let _ = write!(s, "score {:.0}; {}; {}", it.score, it.tlp.label(), it.id);
    s
}

// ---------------------------------------------------------------------------------------------------------------
// Suricata

/// Content for a Suricata `content:` keyword: printable ASCII as is, `"` `;` `\` `|` and anything else as hex.
fn suricata_content(s: &str) -> String {
    suricata_content_bytes(s.as_bytes())
}

/// The rules and their lists; `dir` is where the sensor will find the files (the IP reputation settings name it).
fn suricata(
    ents: &[Entry<'_>],
    select: &SelectArgs,
    sid_base: u64,
    dir: &Path,
    notes: &mut Vec<String>,
) -> Files {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut lists: BTreeMap<&str, String> = BTreeMap::new();
    let mut iprep = String::new();
    let mut url_rules = String::new();
    let mut sid = sid_base;
    let mut https_urls = 0u64;
    let mut url_rule_count = 0u64;
    for e in ents {
        let list = match e.kind {
            HitType::Domain => {
                let l = lists.entry("vigil-domains.lst").or_default();
                l.push_str(&b64.encode(e.value));
                l.push('\n');
                continue;
            }
            HitType::Ipv4 => "vigil-ipv4.lst",
            HitType::Ipv6 => "vigil-ipv6.lst",
            HitType::Md5 => "vigil-md5.lst",
            HitType::Sha1 => "vigil-sha1.lst",
            HitType::Sha256 => "vigil-sha256.lst",
            HitType::Cidr => {
                // IP reputation takes CIDR blocks; the reputation value is the indicator's score (1..=127).
                let _ = writeln!(
                    iprep,
                    "{},1,{}",
                    e.value,
                    (e.item.score.round() as i64).clamp(1, 127)
                );
                continue;
            }
            HitType::Url if e.is_path() => {
                let _ = writeln!(
                    url_rules,
                    "alert http any any -> any any (msg:\"Vigil URL path indicator{}\"; flow:established,to_server; {} classtype:trojan-activity; metadata:vigil_indicator {}; sid:{}; rev:1;)",
                    malware_suffix(e.item),
                    suricata_path_options(e.value),
                    e.item.id,
                    sid + 1000 + url_rule_count,
                );
                url_rule_count += 1;
                continue;
            }
            HitType::Url => {
                let Some(rest) = e.value.strip_prefix("http://") else {
                    https_urls += 1;
                    continue;
                };
                let (hostport, path) = match rest.find('/') {
                    Some(i) => (&rest[..i], &rest[i..]),
                    None => (rest, "/"),
                };
                let host = hostport
                    .rsplit_once(':')
                    .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
                    .map_or(hostport, |(h, _)| h);
                let _ = writeln!(
                    url_rules,
                    "alert http any any -> any any (msg:\"Vigil URL indicator{}\"; flow:established,to_server; http.host; content:\"{}\"; startswith; endswith; http.uri; content:\"{}\"; startswith; endswith; classtype:trojan-activity; metadata:vigil_indicator {}; sid:{}; rev:1;)",
                    malware_suffix(e.item),
                    suricata_content(&host.to_ascii_lowercase()),
                    suricata_content(path),
                    e.item.id,
                    sid + 1000 + url_rule_count,
                );
                url_rule_count += 1;
                continue;
            }
            HitType::Sha512 | HitType::Email => continue,
        };
        let l = lists.entry(list).or_default();
        l.push_str(e.value);
        l.push('\n');
    }
    let mut rules = String::new();
    let _ = writeln!(
        rules,
        "# Vigil detection content, generated {} (tlp-max {}, min-score {}).",
        vigil_model::time::now(),
        select.tlp_max.as_deref().unwrap_or("none"),
        select.min_score
    );
    let _ = writeln!(rules, "# Dataset and file-hash lists are loaded relative to this file's directory; IP reputation needs vigil-suricata.yaml (include it from suricata.yaml).");
    let mut rule = |text: String| {
        let _ = writeln!(rules, "{text} sid:{sid}; rev:1;)");
        sid += 1;
    };
    if lists.contains_key("vigil-domains.lst") {
        for (proto, buf) in [
            ("dns", "dns.query"),
            ("tls", "tls.sni"),
            ("http", "http.host"),
        ] {
            rule(format!("alert {proto} any any -> any any (msg:\"Vigil domain indicator in {buf}\"; {buf}; dataset:isset,vigil-domains,type string,load vigil-domains.lst; classtype:trojan-activity;"));
        }
    }
    for (list, ty) in [("vigil-ipv4.lst", "ipv4"), ("vigil-ipv6.lst", "ipv6")] {
        if lists.contains_key(list) {
            for side in ["dst", "src"] {
                rule(format!("alert ip any any -> any any (msg:\"Vigil {ty} indicator as ip.{side}\"; ip.{side}; dataset:isset,vigil-{ty},type {ty},load {list}; classtype:trojan-activity;"));
            }
        }
    }
    if !iprep.is_empty() {
        rule("alert ip any any -> any any (msg:\"Vigil CIDR indicator (IP reputation VigilIOC)\"; iprep:any,VigilIOC,>,0; classtype:trojan-activity;".into());
    }
    for (list, kw) in [
        ("vigil-md5.lst", "filemd5"),
        ("vigil-sha1.lst", "filesha1"),
        ("vigil-sha256.lst", "filesha256"),
    ] {
        if lists.contains_key(list) {
            for proto in ["http", "smtp", "smb"] {
                rule(format!("alert {proto} any any -> any any (msg:\"Vigil file hash indicator ({kw}, {proto})\"; {kw}:{list}; classtype:trojan-activity;"));
            }
        }
    }
    rules.push_str(&url_rules);
    let mut files: Files = lists
        .into_iter()
        .map(|(name, text)| (name.to_string(), text.into_bytes()))
        .collect();
    if !iprep.is_empty() {
        files.push((
            "vigil-iprep-categories.txt".into(),
            b"1,VigilIOC,Vigil indicators (CIDR blocks)\n".to_vec(),
        ));
        files.push(("vigil-iprep.list".into(), iprep.into_bytes()));
        let yaml = format!(
            "%YAML 1.1\n---\n# Vigil IP reputation (CIDR indicators); include from suricata.yaml or pass with --include.\nreputation-categories-file: {}\ndefault-reputation-path: {}\nreputation-files:\n  - vigil-iprep.list\n",
            dir.join("vigil-iprep-categories.txt").display(),
            dir.display()
        );
        files.push(("vigil-suricata.yaml".into(), yaml.into_bytes()));
    }
    files.push(("vigil.rules".into(), rules.into_bytes()));
    notes.push("domain datasets match the exact name (Suricata datasets have no suffix match); SHA-512 and e-mail indicators have no Suricata keyword and are left out".into());
    if https_urls > 0 {
        notes.push(format!(
            "{https_urls} non-http URL(s) left out (the path of an HTTPS request is not visible to the sensor)"
        ));
    }
    files
}

fn malware_suffix(it: &IntelItem) -> String {
    match it.named.malware.first() {
        Some(m) => format!(" ({})", safe(m)),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Zeek

/// Writes the Zeek intel file to `out` line by line.
fn zeek(ents: &[Entry<'_>], notes: &mut Vec<String>, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all(b"#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n")?;
    let mut paths = 0u64;
    for e in ents {
        if e.is_path() {
            paths += 1;
            continue;
        }
        let (ty, value) = match e.kind {
            HitType::Domain => ("Intel::DOMAIN", e.value),
            HitType::Ipv4 | HitType::Ipv6 => ("Intel::ADDR", e.value),
            HitType::Cidr => ("Intel::SUBNET", e.value),
            // Zeek's HTTP URLs are seen without the scheme.
            HitType::Url => (
                "Intel::URL",
                e.value.split_once("://").map_or(e.value, |(_, rest)| rest),
            ),
            HitType::Md5 | HitType::Sha1 | HitType::Sha256 | HitType::Sha512 => {
                ("Intel::FILE_HASH", e.value)
            }
            HitType::Email => ("Intel::EMAIL", e.value),
        };
        if value.is_empty() || value.contains(['\t', '\n', '\r']) {
            continue;
        }
        writeln!(
            out,
            "{value}\t{ty}\tvigil\t{}\t-",
            one_line(&context(e.item))
        )?;
    }
    if paths > 0 {
        notes.push(format!(
            "{paths} URL path(s) on any host left out (Zeek's Intel::URL matches one host's URL; export suricata matches paths)"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// RPZ

fn dns_name_ok(name: &str, origin_len: usize) -> bool {
    !name.is_empty()
        && name.len() + origin_len + 3 <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The RPZ trigger owner for an address or block: `prefix.reversed-address.rpz-ip`.
fn rpz_ip(value: &str) -> Option<String> {
    let (addr, len) = match value.split_once('/') {
        Some((a, l)) => (a, l.parse::<u8>().ok()?),
        None => (value, if value.contains(':') { 128 } else { 32 }),
    };
    match addr.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => {
            if len > 32 {
                return None;
            }
            let o = v4.octets();
            Some(format!("{len}.{}.{}.{}.{}.rpz-ip", o[3], o[2], o[1], o[0]))
        }
        std::net::IpAddr::V6(v6) => {
            if len > 128 {
                return None;
            }
            let seg = v6.segments();
            // The longest run (two or more) of zero words becomes `zz`, as in the RPZ draft.
            let (mut best, mut best_len, mut i) = (0usize, 0usize, 0usize);
            while i < 8 {
                if seg[i] == 0 {
                    let s = i;
                    while i < 8 && seg[i] == 0 {
                        i += 1;
                    }
                    if i - s > best_len {
                        best = s;
                        best_len = i - s;
                    }
                } else {
                    i += 1;
                }
            }
            let mut words: Vec<String> = Vec::new();
            let mut j = 0;
            while j < 8 {
                if best_len >= 2 && j == best {
                    words.push("zz".into());
                    j += best_len;
                } else {
                    words.push(format!("{:x}", seg[j]));
                    j += 1;
                }
            }
            words.reverse();
            Some(format!("{len}.{}.rpz-ip", words.join(".")))
        }
    }
}

/// Writes the response policy zone to `out` record by record.
fn rpz(
    ents: &[Entry<'_>],
    zone: &str,
    notes: &mut Vec<String>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let zone = zone.trim_end_matches('.');
    let serial = Utc::now().timestamp().clamp(1, i64::from(u32::MAX));
    let _ = writeln!(
        out,
        "; Vigil response policy zone {zone}, generated {}. Policy: NXDOMAIN (CNAME .).",
        vigil_model::time::now()
    );
    writeln!(out, "$TTL 300")?;
    writeln!(
        out,
        "@\tIN\tSOA\tlocalhost. hostmaster.localhost. ({serial} 3600 600 604800 300)"
    )?;
    writeln!(out, "@\tIN\tNS\tlocalhost.")?;
    let mut skipped = 0u64;
    let mut seen = BTreeSet::new();
    for e in ents {
        match e.kind {
            HitType::Domain => {
                if !dns_name_ok(e.value, zone.len()) {
                    skipped += 1;
                    continue;
                }
                if seen.insert(e.value.to_string()) {
                    let _ = writeln!(out, "; {}", one_line(&context(e.item)));
                    writeln!(out, "{}\tCNAME\t.", e.value)?;
                    if e.item.subdomains {
                        writeln!(out, "*.{}\tCNAME\t.", e.value)?;
                    }
                }
            }
            HitType::Ipv4 | HitType::Ipv6 | HitType::Cidr => match rpz_ip(e.value) {
                Some(owner) if seen.insert(owner.clone()) => {
                    let _ = writeln!(out, "; {}", one_line(&context(e.item)));
                    writeln!(out, "{owner}\tCNAME\t.")?;
                }
                Some(_) => {}
                None => skipped += 1,
            },
            _ => {}
        }
    }
    if skipped > 0 {
        notes.push(format!(
            "{skipped} value(s) are not valid DNS owner names and were left out"
        ));
    }
    notes.push("only domains and addresses are expressible in RPZ; URLs, hashes and e-mail addresses are left out".into());
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Blocklists and CSV

fn blocklist(ents: &[Entry<'_>]) -> Files {
    let mut per: BTreeMap<&str, String> = BTreeMap::new();
    for e in ents {
        let name = match e.kind {
            HitType::Domain => "domains.txt",
            HitType::Ipv4 => "ipv4.txt",
            HitType::Ipv6 => "ipv6.txt",
            HitType::Cidr => "cidr.txt",
            HitType::Url if e.is_path() => "url-paths.txt",
            HitType::Url => "urls.txt",
            HitType::Md5 => "md5.txt",
            HitType::Sha1 => "sha1.txt",
            HitType::Sha256 => "sha256.txt",
            HitType::Sha512 => "sha512.txt",
            HitType::Email => "emails.txt",
        };
        let s = per.entry(name).or_default();
        s.push_str(e.value);
        s.push('\n');
    }
    per.into_iter()
        .map(|(name, text)| (name.to_string(), text.into_bytes()))
        .collect()
}

fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// Writes the CSV export to `out` row by row (a million rows are 170 MB: not held in memory by `vigil export`).
fn csv(ents: &[Entry<'_>], out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all(b"indicator_id,type,value,score,tlp,malware,actors,name,valid_until,modified\n")?;
    for e in ents {
        let it = e.item;
        let (score, malware, actors) = (
            format!("{:.1}", it.score),
            it.named.malware.join(";"),
            it.named.actors.join(";"),
        );
        let row: [&str; 10] = [
            &it.id,
            e.kind.as_str(),
            e.value,
            &score,
            it.tlp.as_str(),
            &malware,
            &actors,
            it.name.as_deref().unwrap_or_default(),
            it.valid_until.as_deref().unwrap_or_default(),
            &it.modified,
        ];
        for (i, f) in row.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            out.write_all(csv_field(f).as_bytes())?;
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// MISP

fn misp_tlp(t: Tlp) -> &'static str {
    match t {
        Tlp::Clear => "tlp:clear",
        Tlp::Green => "tlp:green",
        Tlp::Amber => "tlp:amber",
        Tlp::AmberStrict => "tlp:amber+strict",
        Tlp::Red => "tlp:red",
    }
}

fn misp_type(e: &Entry<'_>) -> (&'static str, &'static str) {
    if e.is_path() {
        // MISP's type for a URI without a host.
        return ("uri", "Network activity");
    }
    match e.kind {
        HitType::Domain => ("domain", "Network activity"),
        HitType::Ipv4 | HitType::Ipv6 | HitType::Cidr => ("ip-dst", "Network activity"),
        HitType::Url => ("url", "Network activity"),
        HitType::Md5 => ("md5", "Payload delivery"),
        HitType::Sha1 => ("sha1", "Payload delivery"),
        HitType::Sha256 => ("sha256", "Payload delivery"),
        HitType::Sha512 => ("sha512", "Payload delivery"),
        HitType::Email => ("email-src", "Payload delivery"),
    }
}

const VIGIL_NS: uuid::Uuid = uuid::Uuid::from_u128(0x5d0f_6c1e_8b7a_4b0e_9a41_7e2c_3f19_b8d4);

fn org(operator: &str) -> MispOrg {
    MispOrg {
        name: operator.to_string(),
        uuid: uuid::Uuid::new_v5(&VIGIL_NS, format!("org:{operator}").as_bytes()).to_string(),
    }
}

#[derive(Serialize)]
struct MispOrg {
    name: String,
    uuid: String,
}

#[derive(Serialize)]
struct MispTag<'a> {
    name: &'a str,
}

/// An item's tags: its TLP, then the `misp-galaxy:` tags of its families and actors, which a MISP instance turns
/// into its own galaxy clusters on import (and Vigil's MISP reader back into relationships).
fn misp_tags(item: &IntelItem) -> Vec<MispTag<'_>> {
    std::iter::once(misp_tlp(item.tlp))
        .chain(item.named.galaxies.iter().map(String::as_str))
        .map(|name| MispTag { name })
        .collect()
}

/// A note for the operator when values name families but no galaxy cluster: MISP will show them untagged (no
/// galaxy in the store knows the family by its name or an alias, often because none was loaded).
fn untagged_families(ents: &[Entry<'_>]) -> Option<String> {
    let mut values = 0u64;
    let mut families: BTreeMap<&str, u64> = BTreeMap::new();
    for e in ents {
        let n = &e.item.named;
        if !n.malware.is_empty() && n.galaxies.is_empty() {
            values += 1;
            for f in &n.malware {
                *families.entry(f).or_default() += 1;
            }
        }
    }
    if values == 0 {
        return None;
    }
    let mut top: Vec<(&str, u64)> = families.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let named: Vec<&str> = top.iter().take(5).map(|(f, _)| *f).collect();
    Some(format!(
        "{values} value(s) name only families that no MISP galaxy cluster in the store stands for ({} families, \
         most values: {}); they carry no misp-galaxy tag, since no galaxy cluster in the store has their name or one \
         of their aliases. Load the malware galaxies (misp-galaxy/clusters/malpedia.json and others) to give them one",
        top.len(),
        named.join(", ")
    ))
}

/// The galaxy tags every entry carries: an event's own galaxies. A feed event holds one family, so its galaxies
/// are that family's and its actors'; a single event of many families gets only those they all share.
fn shared_galaxies<'a>(ents: &[Entry<'a>]) -> Vec<&'a str> {
    let Some((first, rest)) = ents.split_first() else {
        return Vec::new();
    };
    let mut shared: Vec<&'a str> = first
        .item
        .named
        .galaxies
        .iter()
        .map(String::as_str)
        .collect();
    for e in rest {
        if shared.is_empty() {
            break;
        }
        // Items of one family share one `Named`: compare the pointer before the strings.
        if !std::sync::Arc::ptr_eq(&e.item.named, &first.item.named) {
            shared.retain(|g| e.item.named.galaxies.iter().any(|x| x == g));
        }
    }
    shared
}

/// A MISP event as written: typed and borrowed, with the attributes made one at a time while serialising, so a
/// million-value export does not hold a JSON tree of every attribute (6 GB for 1.2 million values before).
#[derive(Serialize)]
struct MispEvent<'a> {
    #[serde(rename = "Event")]
    event: MispEventBody<'a>,
}

#[derive(Serialize)]
struct MispEventBody<'a> {
    uuid: String,
    info: &'a str,
    date: String,
    timestamp: String,
    threat_level_id: &'static str,
    analysis: &'static str,
    distribution: &'static str,
    published: bool,
    #[serde(rename = "Orgc")]
    orgc: MispOrg,
    #[serde(rename = "Tag")]
    tag: Vec<MispTag<'a>>,
    #[serde(rename = "Attribute")]
    attribute: MispAttributes<'a>,
}

struct MispAttributes<'a> {
    ents: &'a [Entry<'a>],
    timestamp: String,
}

#[derive(Serialize)]
struct MispAttribute<'a> {
    uuid: String,
    #[serde(rename = "type")]
    ty: &'static str,
    category: &'static str,
    value: &'a str,
    to_ids: bool,
    timestamp: &'a str,
    distribution: &'static str,
    comment: String,
    #[serde(rename = "Tag")]
    tag: Vec<MispTag<'a>>,
}

impl Serialize for MispAttributes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.ents.iter().map(|e| {
            let (ty, category) = misp_type(e);
            MispAttribute {
                uuid: uuid::Uuid::new_v5(
                    &VIGIL_NS,
                    format!("{}|{}", e.item.id, e.value).as_bytes(),
                )
                .to_string(),
                ty,
                category,
                value: e.value,
                to_ids: true,
                timestamp: &self.timestamp,
                distribution: "5",
                comment: context(e.item),
                tag: misp_tags(e.item),
            }
        }))
    }
}

fn misp_event<'a>(
    ents: &'a [Entry<'a>],
    operator: &str,
    info: &'a str,
    uuid: uuid::Uuid,
    now: chrono::DateTime<Utc>,
) -> MispEvent<'a> {
    let timestamp = now.timestamp().to_string();
    let max_tlp = ents.iter().map(|e| e.item.tlp).max().unwrap_or(Tlp::Clear);
    MispEvent {
        event: MispEventBody {
            uuid: uuid.to_string(),
            info,
            date: now.format("%Y-%m-%d").to_string(),
            timestamp: timestamp.clone(),
            threat_level_id: "2",
            analysis: "2",
            distribution: "0",
            published: false,
            orgc: org(operator),
            tag: std::iter::once(misp_tlp(max_tlp))
                .chain(shared_galaxies(ents))
                .map(|name| MispTag { name })
                .collect(),
            attribute: MispAttributes { ents, timestamp },
        },
    }
}

/// Renders the MISP feed, handing each file to `put` as soon as it is made (`vigil export` writes it out, so a
/// feed of a million values is not held in memory whole; REST collects them).
fn misp_feed(
    ents: &[Entry<'_>],
    operator: &str,
    now: chrono::DateTime<Utc>,
    put: &mut dyn FnMut(String, Vec<u8>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // One event per (malware family, TLP): feed subscribers get stable event uuids to update.
    let mut groups: BTreeMap<(String, Tlp), Vec<&Entry<'_>>> = BTreeMap::new();
    for e in ents {
        let fam = e
            .item
            .named
            .malware
            .first()
            .cloned()
            .unwrap_or_else(|| "no known family".into());
        groups.entry((fam, e.item.tlp)).or_default().push(e);
    }
    let mut manifest = serde_json::Map::new();
    let mut hashes = String::new();
    for ((fam, tlp), list) in &groups {
        let uuid = uuid::Uuid::new_v5(&VIGIL_NS, format!("feed:{fam}|{}", tlp.as_str()).as_bytes());
        let owned: Vec<Entry<'_>> = list
            .iter()
            .map(|e| Entry {
                kind: e.kind,
                value: e.value,
                item: e.item,
            })
            .collect();
        let info = format!("Vigil: {fam} indicators ({})", tlp.label());
        let ev = misp_event(&owned, operator, &info, uuid, now);
        put(format!("{uuid}.json"), serde_json::to_vec(&ev)?)?;
        let e = &ev.event;
        manifest.insert(
            uuid.to_string(),
            json!({
                "Orgc": e.orgc, "Tag": e.tag, "info": e.info, "date": e.date,
                "analysis": e.analysis, "threat_level_id": e.threat_level_id, "timestamp": e.timestamp,
            }),
        );
        for x in &owned {
            let h = md5::Md5::digest(x.value.as_bytes());
            let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(hashes, "{hex},{uuid}");
        }
    }
    put(
        "manifest.json".into(),
        serde_json::to_string_pretty(&Value::Object(manifest))?.into_bytes(),
    )?;
    put("hashes.csv".into(), hashes.into_bytes())
}

// ---------------------------------------------------------------------------------------------------------------
// Sightings

pub fn sightings(env: &Env, a: &SightingsArgs) -> anyhow::Result<u8> {
    let tlp_max = match &a.tlp_max {
        Some(t) => Some(
            t.parse::<Tlp>()
                .map_err(|e| anyhow::anyhow!("--tlp-max {t:?}: {e}"))?,
        ),
        None => None,
    };
    let filter = ScanFilter {
        types: vec!["sighting".into()],
        tlp_max,
        default_tlp: Some(env.settings.default_tlp),
        ..Default::default()
    };
    let mut objs: Vec<Value> = Vec::new();
    let mut refs: BTreeSet<String> = BTreeSet::new();
    let mut markings: BTreeSet<String> = BTreeSet::new();
    env.kb().scan(&filter, &mut |so| {
        let o = so.object;
        for r in o
            .get("where_sighted_refs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = r.as_str() {
                refs.insert(r.to_string());
            }
        }
        if let Some(c) = o.str("created_by_ref") {
            refs.insert(c.to_string());
        }
        for m in o.marking_refs() {
            markings.insert(m.to_string());
        }
        objs.push(o.into_value());
        Ok(())
    })?;
    let n = objs.len();
    let mut all: Vec<Value> = Vec::new();
    for r in &refs {
        if let Some(so) = env.kb().get(r)? {
            for m in so.object.marking_refs() {
                markings.insert(m.to_string());
            }
            all.push(so.object.into_value());
        }
    }
    let mut ext = false;
    for m in &markings {
        if let Some(t) = Tlp::ALL.into_iter().find(|t| t.marking_id() == m) {
            all.push(t.marking_object());
            ext = true;
        }
    }
    if ext {
        all.push(vigil_model::tlp::tlp2_extension_definition());
    }
    all.extend(objs);
    let bundle = json!({"type": "bundle", "id": format!("bundle--{}", uuid::Uuid::new_v4()), "objects": all});
    let mut text = serde_json::to_vec(&bundle)?;
    text.push(b'\n');
    write_file(&a.out, &text)?;
    if a.json {
        crate::output::json(
            &json!({"out": a.out, "sightings": n, "identities": refs.len(), "tlp_max": tlp_max.map(|t| t.as_str())}),
        )?;
    } else {
        println!(
            "wrote {n} sighting(s) with {} identit(y/ies) to {}",
            refs.len(),
            a.out.display()
        );
    }
    std::io::stdout().flush().ok();
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpz_ip_owners_follow_the_rpz_format() {
        assert_eq!(rpz_ip("192.0.2.7").as_deref(), Some("32.7.2.0.192.rpz-ip"));
        assert_eq!(
            rpz_ip("198.51.100.0/24").as_deref(),
            Some("24.0.100.51.198.rpz-ip")
        );
        assert_eq!(
            rpz_ip("2001:db8::1").as_deref(),
            Some("128.1.zz.db8.2001.rpz-ip")
        );
        assert_eq!(rpz_ip("::1").as_deref(), Some("128.1.zz.rpz-ip"));
        // A single zero word is written out, not compressed.
        assert_eq!(
            rpz_ip("2001:db8:0:1:1:1:1:1").as_deref(),
            Some("128.1.1.1.1.1.0.db8.2001.rpz-ip")
        );
        assert_eq!(
            rpz_ip("2001:db8::/32").as_deref(),
            Some("32.zz.db8.2001.rpz-ip")
        );
        assert_eq!(rpz_ip("192.0.2.0/33"), None);
        assert_eq!(rpz_ip("not-an-ip"), None);
    }

    #[test]
    fn dns_names_are_checked_label_by_label() {
        assert!(dns_name_ok("evil.com", 9));
        assert!(dns_name_ok("_dmarc.evil-1.com", 9));
        assert!(!dns_name_ok("bad..com", 9));
        assert!(!dns_name_ok("sp ace.com", 9));
        assert!(!dns_name_ok(&format!("{}.com", "a".repeat(64)), 9));
        assert!(!dns_name_ok(&"a.".repeat(130), 9));
    }

    #[test]
    fn url_path_rules_follow_the_path_forms() {
        assert_eq!(
            suricata_path_options("/x.apk"),
            r#"http.uri; content:"/x.apk"; startswith; pcre:"/^\x2fx\x2eapk\x2f?(?:\x3f|$)/";"#
        );
        assert_eq!(
            suricata_path_options("/?q=1"),
            r#"http.uri; content:"/"; startswith; pcre:"/^\x2f\x2f?\x3fq\x3d1$/";"#
        );
        assert_eq!(
            suricata_path_options("/a%22b;c/"),
            r#"http.uri; content:"/a|22|b|3B|c"; startswith; pcre:"/^\x2fa\x22b\x3bc(?:[\x2f\x3f]|$)/";"#
        );
    }

    #[test]
    fn rule_content_and_csv_fields_are_escaped() {
        assert_eq!(suricata_content("/a;b\"c|d\\e"), "/a|3B|b|22|c|7C|d|5C|e");
        assert_eq!(suricata_content("é"), "|C3||A9|");
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(one_line("a\tb\nc"), "a b c");
        assert_eq!(safe("Lumma;C2\"x"), "Lumma_C2_x");
    }
}
