//! IOC extraction from report text or HTML: a single-pass byte scanner that cuts candidate tokens, undoes
//! defanging, classifies and normalises each token, and suppresses what is not an indicator.
//!
//! Why a token scanner and not one regex per type: every byte is looked at once through a 256-entry class
//! table, and only tokens that carry an indicator's tell-tale byte (`.`, `:`, `@`, `\`, a digit run, a long hex
//! run) are classified further. That keeps the scanner well above 100 MB/s on prose, where almost every
//! token is a plain word.
//!
//! Input is processed in windows (1 MiB by default) that end on whitespace; a token longer than
//! [`ExtractOptions::max_token`] is skipped and reported, so a 1 GB single line costs a window of memory.

mod classify;
mod html;
mod legacy;
mod refang;
mod utf16;
mod validate;

use std::collections::HashMap;
use std::io::Read;

use serde::{Deserialize, Serialize};
use vigil_model::warninglist::{WarningList, WarningSet};

use crate::error::Result;

pub use html::{html_to_text, looks_like_html, HtmlText};
pub use legacy::{detect_legacy, detect_legacy_in, Encoding, LegacyText, LEGACY_HEAD};
pub use refang::refang_token;
pub use utf16::{detect as detect_utf16, Utf16Order, Utf16Text};
pub use validate::{is_valid_btc, known_tld, registrable};

/// The indicator types of the CLI contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IndicatorType {
    Domain,
    Ipv4,
    Ipv6,
    Cidr,
    Url,
    Email,
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Cve,
    AttackTechnique,
    Btc,
    File,
    Registry,
}

impl IndicatorType {
    /// Every type, in contract order.
    pub const ALL: [IndicatorType; 15] = [
        IndicatorType::Domain,
        IndicatorType::Ipv4,
        IndicatorType::Ipv6,
        IndicatorType::Cidr,
        IndicatorType::Url,
        IndicatorType::Email,
        IndicatorType::Md5,
        IndicatorType::Sha1,
        IndicatorType::Sha256,
        IndicatorType::Sha512,
        IndicatorType::Cve,
        IndicatorType::AttackTechnique,
        IndicatorType::Btc,
        IndicatorType::File,
        IndicatorType::Registry,
    ];

    /// The contract name (`attack-technique`, `sha256`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorType::Domain => "domain",
            IndicatorType::Ipv4 => "ipv4",
            IndicatorType::Ipv6 => "ipv6",
            IndicatorType::Cidr => "cidr",
            IndicatorType::Url => "url",
            IndicatorType::Email => "email",
            IndicatorType::Md5 => "md5",
            IndicatorType::Sha1 => "sha1",
            IndicatorType::Sha256 => "sha256",
            IndicatorType::Sha512 => "sha512",
            IndicatorType::Cve => "cve",
            IndicatorType::AttackTechnique => "attack-technique",
            IndicatorType::Btc => "btc",
            IndicatorType::File => "file",
            IndicatorType::Registry => "registry",
        }
    }

    /// Parses a contract name.
    pub fn parse(s: &str) -> Option<Self> {
        IndicatorType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for IndicatorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One extracted indicator, as the CLI prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    /// Indicator type.
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    /// Refanged and normalised value.
    pub value: String,
    /// Byte offset of the (first) occurrence in the input.
    pub offset: u64,
    /// Confidence in [0, 1] that this is an indicator of compromise and not a mention.
    pub confidence: f64,
}

/// What the extractor passed over, so a caller can tell the user (never part of the JSON contract).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtractReport {
    /// Bytes read from the input.
    pub bytes: u64,
    /// Tokens longer than `max_token`, skipped (offset, length).
    pub long_tokens: Vec<(u64, u64)>,
    /// Number of long tokens beyond the ones listed (the list is capped).
    pub long_tokens_more: u64,
    /// Candidate tokens dropped because they were not valid UTF-8.
    pub invalid_utf8_tokens: u64,
    /// NUL and other control bytes seen (a high count means binary input).
    pub control_bytes: u64,
    /// Values recognised but suppressed, by reason (`warning-list:<name>`, `example-domain`, `version-number`...).
    pub suppressed: Vec<(String, u64)>,
    /// HTML input: bytes of `<script>`/`<style>` content and markup removed before scanning.
    pub html_removed_bytes: u64,
    /// Free-text notes (binary input detected, UTF-16 input, ...).
    pub notes: Vec<String>,
}

impl ExtractReport {
    /// One-line human summary of what was skipped; empty when nothing was.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        let nlong = self.long_tokens.len() as u64 + self.long_tokens_more;
        if nlong > 0 {
            parts.push(format!("{nlong} over-long token(s) skipped"));
        }
        if self.invalid_utf8_tokens > 0 {
            parts.push(format!(
                "{} token(s) with invalid UTF-8 skipped",
                self.invalid_utf8_tokens
            ));
        }
        if self.control_bytes > 0 {
            parts.push(format!(
                "{} control/NUL byte(s) treated as separators",
                self.control_bytes
            ));
        }
        if self.html_removed_bytes > 0 {
            parts.push(format!(
                "{} bytes of HTML markup/scripts/styles removed",
                self.html_removed_bytes
            ));
        }
        let sup: u64 = self.suppressed.iter().map(|(_, n)| n).sum();
        if sup > 0 {
            // By reason, so an analyst who misses a value can tell why it was left out.
            let why: Vec<String> = self
                .suppressed
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            parts.push(format!(
                "{sup} non-indicator(s) suppressed ({})",
                why.join(", ")
            ));
        }
        parts.extend(self.notes.iter().cloned());
        parts.join("; ")
    }
}

/// The result of an extraction: `{"indicators":[...]}` when serialised; the report is kept aside.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    /// Indicators, in order of first occurrence.
    pub indicators: Vec<Indicator>,
    /// What was skipped or suppressed; not serialised.
    #[serde(skip)]
    pub report: ExtractReport,
}

/// Extraction settings.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Report each distinct (type, value) once, at its first offset, with its highest confidence.
    pub dedup: bool,
    /// Also report the host of every URL as a domain (or IP) indicator.
    pub hosts_of_urls: bool,
    /// Tokens longer than this many bytes are skipped.
    pub max_token: usize,
    /// Bytes read per window.
    pub window: usize,
    /// Indicators below this confidence are dropped.
    pub min_confidence: f64,
    /// Types to report (all when empty).
    pub types: Vec<IndicatorType>,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            dedup: true,
            hosts_of_urls: true,
            max_token: 16 * 1024,
            window: 1 << 20,
            min_confidence: 0.0,
            types: Vec::new(),
        }
    }
}

/// A reusable extractor: options plus the warning lists used for suppression.
#[derive(Debug, Default)]
pub struct Extractor {
    opts: ExtractOptions,
    warn: Option<WarningSet>,
}

/// One raw hit before dedup and suppression, with its offset in the scanned text.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub kind: IndicatorType,
    pub value: String,
    pub offset: usize,
    pub confidence: f64,
    pub defanged: bool,
}

impl Extractor {
    /// An extractor with the given options and no warning lists.
    pub fn new(opts: ExtractOptions) -> Self {
        Extractor { opts, warn: None }
    }

    /// Adds MISP warning lists: a non-defanged value on any of them is suppressed (defanged values are kept, as
    /// the report's author marked them as indicators).
    pub fn with_warning_lists(mut self, lists: &[WarningList]) -> Self {
        self.warn = if lists.is_empty() {
            None
        } else {
            Some(WarningSet::new(lists))
        };
        self
    }

    /// The options in force.
    pub fn options(&self) -> &ExtractOptions {
        &self.opts
    }

    /// Extracts from an in-memory document (text or HTML; HTML is detected and reduced to its text first; UTF-16
    /// is detected and decoded first, offsets still counting the input's bytes).
    pub fn extract_bytes(&self, input: &[u8]) -> Extraction {
        let Some(order) = utf16::detect(input) else {
            return match legacy::detect_legacy_in(input) {
                Some(enc) => self.extract_legacy(input, enc),
                None => self.extract_utf8(input),
            };
        };
        let t = Utf16Text::decode(input, order);
        let mut ex = self.extract_utf8(t.text.as_bytes());
        let mut offsets: Vec<u64> = ex.indicators.iter().map(|i| i.offset).collect();
        let mut long: Vec<u64> = ex.report.long_tokens.iter().map(|l| l.0).collect();
        t.source_offsets(&mut offsets);
        t.source_offsets(&mut long);
        for (i, o) in ex.indicators.iter_mut().zip(offsets) {
            i.offset = o;
        }
        for (l, o) in ex.report.long_tokens.iter_mut().zip(long) {
            // A UTF-16 token takes about two input bytes per character.
            *l = (o, l.1 * 2);
        }
        ex.report.bytes = input.len() as u64;
        let mut note = format!("input read as {}", order.name());
        if t.replaced > 0 {
            note.push_str(&format!(
                " ({} unpaired surrogate(s) or odd byte(s) replaced)",
                t.replaced
            ));
        }
        ex.report.notes.insert(0, note);
        ex
    }

    /// [`Extractor::extract_bytes`] on input in a legacy encoding: decoded, then read as UTF-8, offsets mapped back.
    fn extract_legacy(&self, input: &[u8], enc: &'static legacy::Encoding) -> Extraction {
        let t = legacy::LegacyText::decode(input, enc);
        let mut ex = self.extract_utf8(t.text.as_bytes());
        for i in &mut ex.indicators {
            i.offset = t.source_offset(i.offset);
        }
        for l in &mut ex.report.long_tokens {
            let (s, e) = (t.source_offset(l.0), t.source_offset(l.0 + l.1));
            *l = (s, e - s.min(e));
        }
        ex.report.bytes = input.len() as u64;
        let mut note = format!(
            "input read as {} (not UTF-8; the encoding is a guess)",
            enc.name()
        );
        if t.replaced > 0 {
            note.push_str(&format!(" ({} malformed sequence(s) replaced)", t.replaced));
        }
        ex.report.notes.insert(0, note);
        ex
    }

    /// [`Extractor::extract_bytes`] on input that is not UTF-16.
    fn extract_utf8(&self, input: &[u8]) -> Extraction {
        let mut sink = Sink::new(self);
        sink.report.bytes = input.len() as u64;
        if looks_like_html(input) {
            let h = html_to_text(input);
            sink.report.html_removed_bytes = h.removed_bytes;
            sink.report.notes.push("input read as HTML".into());
            let mut hits = Vec::new();
            scan_all(h.text.as_bytes(), &self.opts, &mut sink.report, &mut hits);
            for mut hit in hits {
                hit.offset = h.source_offset(hit.offset);
                sink.push(hit);
            }
        } else {
            let mut hits = Vec::new();
            scan_all(input, &self.opts, &mut sink.report, &mut hits);
            for hit in hits {
                sink.push(hit);
            }
        }
        sink.finish()
    }

    /// Extracts from a text stream in bounded memory. HTML and UTF-16 are detected on the first window and then
    /// read whole (up to 256 MiB; such reports are small); plain text is scanned window by window.
    pub fn extract_reader<R: Read>(&self, mut r: R) -> Result<Extraction> {
        let window = self.opts.window.max(4096);
        let mut buf: Vec<u8> = Vec::with_capacity(window + self.opts.max_token);
        // Fill the first window to sniff the format.
        read_up_to(&mut r, &mut buf, window)?;
        let utf16 = utf16::detect(&buf);
        let legacy = match utf16 {
            Some(_) => None,
            None => legacy::detect_legacy_in(&buf),
        };
        if utf16.is_some() || legacy.is_some() || looks_like_html(&buf) {
            let cap = 256u64 << 20;
            (&mut r).take(cap).read_to_end(&mut buf)?;
            let mut ex = self.extract_bytes(&buf);
            let mut extra = [0u8; 1];
            if r.read(&mut extra)? > 0 {
                let kind = match (utf16, legacy) {
                    (Some(o), _) => o.name(),
                    (None, Some(e)) => e.name(),
                    (None, None) => "HTML",
                };
                ex.report
                    .notes
                    .push(format!("{kind} input over 256 MiB: the rest was not read"));
            }
            return Ok(ex);
        }
        let mut sink = Sink::new(self);
        let mut seen = Seen::default();
        let mut base: usize = 0; // input offset of buf[0]
        let mut skipping = false; // inside an over-long token that started in an earlier window
        let mut skip_start = 0usize;
        let mut eof = false;
        loop {
            if !eof {
                let before = buf.len();
                read_up_to(&mut r, &mut buf, window)?;
                eof = buf.len() == before;
            }
            let mut start = 0usize;
            if skipping {
                match buf.iter().position(|b| CLASS[*b as usize] == 0) {
                    Some(p) => {
                        sink.report_long(skip_start as u64, (base + p - skip_start) as u64);
                        skipping = false;
                        start = p;
                    }
                    None => {
                        base += buf.len();
                        buf.clear();
                        if eof {
                            sink.report_long(skip_start as u64, (base - skip_start) as u64);
                            break;
                        }
                        continue;
                    }
                }
            }
            // Cut at the last line break (or separator) so no token straddles windows.
            let end = if eof {
                buf.len()
            } else {
                cut_point(&buf[start..]).map(|p| start + p).unwrap_or(start)
            };
            if !eof && end == start {
                // No separator in the window: an over-long token is skipped, a shorter one waits for more input.
                if buf.len() - start > self.opts.max_token {
                    skipping = true;
                    skip_start = base + start;
                    base += buf.len();
                    buf.clear();
                }
                continue;
            }
            let mut hits = Vec::new();
            scan_window(
                &buf[start..end],
                &self.opts,
                &mut sink.report,
                &mut hits,
                &mut seen,
            );
            sink.push_all(hits, base + start);
            buf.drain(..end);
            base += end;
            if eof {
                break;
            }
        }
        sink.report.bytes = base as u64;
        Ok(sink.finish())
    }
}

fn read_up_to<R: Read>(r: &mut R, buf: &mut Vec<u8>, n: usize) -> Result<()> {
    let want = buf.len() + n;
    let mut tmp = vec![0u8; 64 * 1024];
    while buf.len() < want {
        let k = (want - buf.len()).min(tmp.len());
        let got = match r.read(&mut tmp[..k]) {
            Ok(g) => g,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if got == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..got]);
    }
    Ok(())
}

/// Where to end a window: just after the last newline, else after the last separator byte.
fn cut_point(b: &[u8]) -> Option<usize> {
    if let Some(p) = memchr::memrchr(b'\n', b) {
        return Some(p + 1);
    }
    b.iter()
        .rposition(|c| CLASS[*c as usize] == 0 && *c != b' ')
        .or_else(|| b.iter().rposition(|c| *c == b' '))
        .map(|p| p + 1)
}

/// Convenience: extract with default options and no warning lists.
pub fn extract(input: &[u8]) -> Extraction {
    Extractor::default().extract_bytes(input)
}

struct Sink<'a> {
    ex: &'a Extractor,
    out: Vec<Indicator>,
    seen: HashMap<(IndicatorType, String), usize>,
    report: ExtractReport,
    suppressed: std::collections::BTreeMap<String, u64>,
}

impl<'a> Sink<'a> {
    fn new(ex: &'a Extractor) -> Self {
        Sink {
            ex,
            out: Vec::new(),
            seen: HashMap::new(),
            report: ExtractReport::default(),
            suppressed: Default::default(),
        }
    }

    fn report_long(&mut self, off: u64, len: u64) {
        if self.report.long_tokens.len() < 100 {
            self.report.long_tokens.push((off, len));
        } else {
            self.report.long_tokens_more += 1;
        }
    }

    fn push_all(&mut self, hits: Vec<Hit>, base: usize) {
        for mut h in hits {
            h.offset += base;
            self.push(h);
        }
    }

    fn push(&mut self, h: Hit) {
        let o = &self.ex.opts;
        if !o.types.is_empty() && !o.types.contains(&h.kind) {
            return;
        }
        if let Some(reason) = self.suppress_reason(&h) {
            *self.suppressed.entry(reason).or_default() += 1;
            return;
        }
        if h.confidence < o.min_confidence {
            return;
        }
        let ind = Indicator {
            kind: h.kind,
            value: h.value,
            offset: h.offset as u64,
            confidence: round4(h.confidence),
        };
        if o.dedup {
            let key = (ind.kind, ind.value.clone());
            if let Some(&i) = self.seen.get(&key) {
                if self.out[i].confidence < ind.confidence {
                    self.out[i].confidence = ind.confidence;
                }
                return;
            }
            self.seen.insert(key, self.out.len());
        }
        self.out.push(ind);
    }

    fn suppress_reason(&self, h: &Hit) -> Option<String> {
        let ws = self.ex.warn.as_ref()?;
        if h.defanged {
            return None;
        }
        use vigil_model::observable::{Observable, ObservableKind};
        let kind = match h.kind {
            IndicatorType::Domain => ObservableKind::Domain,
            IndicatorType::Ipv4 | IndicatorType::Cidr if !h.value.contains(':') => {
                ObservableKind::Ipv4
            }
            IndicatorType::Ipv6 | IndicatorType::Cidr => ObservableKind::Ipv6,
            IndicatorType::Email => ObservableKind::Email,
            IndicatorType::Md5 => ObservableKind::Md5,
            IndicatorType::Sha1 => ObservableKind::Sha1,
            IndicatorType::Sha256 => ObservableKind::Sha256,
            IndicatorType::Sha512 => ObservableKind::Sha512,
            // A URL is suppressed only when the URL itself is listed: a benign host can serve a malicious path.
            IndicatorType::Url => ObservableKind::Domain,
            _ => return None,
        };
        let obs = if h.kind == IndicatorType::Url {
            Observable {
                kind: ObservableKind::Url,
                value: h.value.clone(),
            }
        } else {
            Observable {
                kind,
                value: h.value.clone(),
            }
        };
        let hits = if h.kind == IndicatorType::Url {
            ws.exact_hits(&obs.value)
        } else {
            ws.hits(&obs).into_iter().map(str::to_string).collect()
        };
        hits.into_iter().next().map(|n| format!("warning-list:{n}"))
    }

    fn finish(mut self) -> Extraction {
        let mut sup: Vec<(String, u64)> = self.suppressed.into_iter().collect();
        sup.extend(std::mem::take(&mut self.report.suppressed));
        self.report.suppressed = sup;
        Extraction {
            indicators: self.out,
            report: self.report,
        }
    }
}

trait ExactHits {
    fn exact_hits(&self, v: &str) -> Vec<String>;
}

impl ExactHits for WarningSet {
    fn exact_hits(&self, v: &str) -> Vec<String> {
        // WarningSet has no exact-only query; a URL observable whose normalised value equals a listed string is
        // matched through the domain path with the URL as the "domain", which only hits exact and substring lists.
        let o = vigil_model::observable::Observable {
            kind: vigil_model::observable::ObservableKind::Md5,
            value: v.to_string(),
        };
        self.hits(&o).into_iter().map(str::to_string).collect()
    }
}

pub(crate) fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Byte classes: 0 separator, 1 token byte, 2 token byte that may start a Chinese, Japanese or Korean character
/// (0xE3-0xEF: see `cjk_break`; the token loop stops on it, so other text pays nothing for the check).
pub(crate) static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let tok = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'.' | b'-'
                    | b'_'
                    | b'/'
                    | b':'
                    | b'@'
                    | b'%'
                    | b'?'
                    | b'='
                    | b'&'
                    | b'#'
                    | b'+'
                    | b'~'
                    | b'['
                    | b']'
                    | b'('
                    | b')'
                    | b'{'
                    | b'}'
                    | b'\\'
                    | b'$'
                    | b'!'
                    | b'*'
                    | b'^'
            )
            || c >= 0x80;
        t[i] = if matches!(c, 0xE3..=0xEF) {
            2
        } else {
            tok as u8
        };
        i += 1;
    }
    t
};

/// What a character of the Chinese, Japanese and Korean blocks is to the tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cjk {
    /// Their punctuation (the ideographic comma and full stop, full-width brackets, colon and comma): always a
    /// separator, as ASCII punctuation and spaces are.
    Punct,
    /// Ideographs, kana, Hangul, full-width letters: part of a token unless a run of them touches ASCII letters,
    /// digits or brackets (`cjk_break`).
    Letter,
}

/// The Chinese, Japanese or Korean character whose UTF-8 encoding (three bytes) starts at `text[i]`; None for
/// anything else.
#[inline]
fn cjk_at(text: &[u8], i: usize) -> Option<Cjk> {
    let b0 = *text.get(i)?;
    if b0 < 0xE3 {
        return None;
    }
    let (b1, b2) = (*text.get(i + 1)?, *text.get(i + 2)?);
    if b0 > 0xEF || b1 & 0xC0 != 0x80 || b2 & 0xC0 != 0x80 {
        return None;
    }
    let cp = (u32::from(b0 & 0x0F) << 12) | (u32::from(b1 & 0x3F) << 6) | u32::from(b2 & 0x3F);
    match cp {
        0x3000..=0x303F
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF0F
        | 0xFF1A..=0xFF20
        | 0xFF3B..=0xFF40
        | 0xFF5B..=0xFF65 => Some(Cjk::Punct),
        0x3040..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF10..=0xFFEF => Some(Cjk::Letter),
        _ => None,
    }
}

/// Whether the token that reached a Chinese, Japanese or Korean character at `i` ends there, and where that
/// character's run ends (scanning resumes there, or the token goes on from there). Chinese and Japanese put no
/// space between words, so an indicator in such a report touches the ideographs or kana around it
/// ("恶意域名evil-update[.]cn和IP地址185.244.25.17"): a run of such letters touching ASCII letters, digits or
/// brackets on either side is a separator, and so is their punctuation. A run between separators and dots is kept
/// in the token (an internationalised label, as `例子.com`).
#[inline]
fn cjk_break(text: &[u8], start: usize, i: usize) -> Option<(bool, usize)> {
    let mut k = i;
    let mut kind = cjk_at(text, k)?;
    if kind == Cjk::Punct {
        return Some((true, i + 3));
    }
    while kind == Cjk::Letter {
        k += 3;
        match cjk_at(text, k) {
            Some(c) => kind = c,
            None => break,
        }
    }
    // A closing bracket before the run (Korean particles follow one: "(185.244.25.17)을") or an opening one
    // after it touches as a letter does; a dot, hyphen or slash does not (`例子.com`, `evil.cn/下载`).
    let before = i > start
        && matches!(text[i - 1], b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b')' | b']' | b'}');
    let after = matches!(
        text.get(k),
        Some(b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'(' | b'[' | b'{')
    );
    Some((before || after, k))
}

/// Where a token that reached a byte of class 2 at `i` ends, and where scanning resumes after it (0: at the end).
/// Apart from the token loop so that text without such bytes runs the loop as it was.
#[cold]
#[inline(never)]
fn token_end_cjk(text: &[u8], start: usize, mut i: usize) -> (usize, usize) {
    let n = text.len();
    loop {
        match cjk_break(text, start, i) {
            Some((true, next)) => return (i, next),
            // A whole run at once: a long one is not walked again from each of its characters.
            Some((false, next)) => i = next,
            None => i += 1,
        }
        while i < n && CLASS[text[i] as usize] == 1 {
            i += 1;
        }
        if i >= n || CLASS[text[i] as usize] != 2 {
            return (i, 0);
        }
    }
}

/// Scans one window of text, appending hits with offsets relative to `text`.
pub(crate) fn scan_all(
    text: &[u8],
    opts: &ExtractOptions,
    report: &mut ExtractReport,
    out: &mut Vec<Hit>,
) {
    let mut seen = Seen::default();
    scan_window(text, opts, report, out, &mut seen);
}

/// Raw tokens already classified in this input. With dedup on, a token seen before can only yield values
/// already reported, so it is skipped without classification; repetitive inputs (logs, IOC dumps) scan much
/// faster. Tokens whose reading depends on the previous word (dotted quads: "version 1.2.3.4") are not
/// remembered. Bounded: cleared when it grows past a limit.
#[derive(Default)]
pub(crate) struct Seen {
    set: std::collections::HashSet<Box<[u8]>, std::hash::BuildHasherDefault<FxHasher>>,
}

/// A small multiplicative hasher (the rustc "Fx" scheme): the memo is keyed by tokens of the input being
/// scanned, where SipHash's flooding resistance buys nothing and costs a third of the scan time.
#[derive(Default)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(b))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Seen {
    const LIMIT: usize = 1 << 20;

    fn check_and_insert(&mut self, tok: &[u8]) -> bool {
        if tok
            .iter()
            .all(|b| b.is_ascii_digit() || *b == b'.' || *b == b'/' || *b == b':')
        {
            return false;
        }
        if self.set.contains(tok) {
            return true;
        }
        if self.set.len() >= Self::LIMIT {
            self.set.clear();
        }
        self.set.insert(tok.into());
        false
    }
}

pub(crate) fn scan_window(
    text: &[u8],
    opts: &ExtractOptions,
    report: &mut ExtractReport,
    out: &mut Vec<Hit>,
    seen: &mut Seen,
) {
    let n = text.len();
    let mut i = 0usize;
    let mut ctx = classify::Ctx::default();
    while i < n {
        // Skip separators.
        while i < n && CLASS[text[i] as usize] == 0 {
            let c = text[i];
            if c < 0x20 && !matches!(c, b'\n' | b'\r' | b'\t') {
                report.control_bytes += 1;
            }
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        while i < n && CLASS[text[i] as usize] == 1 {
            i += 1;
        }
        // Where scanning resumes when the token ends at Chinese, Japanese or Korean text (after that text).
        let mut resume = 0;
        if i < n && CLASS[text[i] as usize] == 2 {
            (i, resume) = token_end_cjk(text, start, i);
            if i == start {
                // The token would start with such text: skip it.
                i = resume;
                continue;
            }
        }
        let mut end = i;
        // Registry keys hold spaces ("Windows NT"); continue over a space when the next word goes on with a `\`.
        let has_backslash = memchr::memchr(b'\\', &text[start..end]).is_some();
        if has_backslash
            && (classify::starts_registry(&text[start..end])
                || classify::starts_windows_path(&text[start..end]))
        {
            end = classify::extend_registry(text, end);
            i = end;
        } else {
            // "evil [.] com": join a token, a bracketed dot and the next token.
            while let Some(e) = refang::extend_spaced_defang(text, end) {
                end = e;
            }
            i = end;
        }
        i = i.max(resume);
        let len = end - start;
        if len > opts.max_token {
            if report.long_tokens.len() < 100 {
                report.long_tokens.push((start as u64, len as u64));
            } else {
                report.long_tokens_more += 1;
            }
            ctx.prev_word_clear();
            continue;
        }
        if opts.dedup
            && opts.types.is_empty()
            && end - start >= 4
            && !classify::is_plain_word(&text[start..end])
            && seen.check_and_insert(&text[start..end])
        {
            ctx.prev_word_clear();
            continue;
        }
        classify::classify_token(text, start, end, opts, &mut ctx, report, out);
    }
}

#[cfg(test)]
mod tests;

/// The registrable domain (eTLD+1 by the public suffix list) of a lower-case host, or the host itself.
pub fn registered_domain_of(host: &str) -> &str {
    validate::registered_domain(host)
}
