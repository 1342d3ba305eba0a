//! Classification of one candidate token: trims punctuation, refangs, then decides which indicator(s) it is.

use std::net::{Ipv4Addr, Ipv6Addr};

use vigil_model::observable::{normalize_email, normalize_ipv4, normalize_ipv6, normalize_url};

use super::refang::{may_be_defanged, refang_token};
use super::validate::{
    is_benign_hash, is_example_domain, is_reference_domain, is_valid_btc, registrable,
};
use super::{ExtractOptions, ExtractReport, Hit, IndicatorType};

/// Context carried between tokens: the previous plain word, to recognise "version 1.2.3.4".
#[derive(Default)]
pub(crate) struct Ctx {
    prev: [u8; 12],
    prev_len: usize,
}

impl Ctx {
    pub(crate) fn prev_word_clear(&mut self) {
        self.prev_len = 0;
    }
    fn set_prev(&mut self, w: &[u8]) {
        let n = w.len().min(12);
        for (d, s) in self.prev.iter_mut().zip(&w[..n]) {
            *d = s.to_ascii_lowercase();
        }
        self.prev_len = if w.len() > 12 { 0 } else { n };
    }
    fn prev_is_version_word(&self) -> bool {
        matches!(
            &self.prev[..self.prev_len],
            b"version"
                | b"versions"
                | b"ver"
                | b"v"
                | b"build"
                | b"release"
                | b"firmware"
                | b"rev"
                | b"revision"
                | b"update"
                | b"patch"
                | b"vers"
        )
    }
}

/// File extensions that make a name a file name.
const FILE_EXTS: &[&str] = &[
    "exe",
    "dll",
    "sys",
    "drv",
    "ocx",
    "cpl",
    "scr",
    "com",
    "bat",
    "cmd",
    "ps1",
    "psm1",
    "vbs",
    "vbe",
    "js",
    "jse",
    "wsf",
    "wsh",
    "hta",
    "lnk",
    "msi",
    "msp",
    "jar",
    "class",
    "apk",
    "dex",
    "ipa",
    "dmg",
    "pkg",
    "app",
    "elf",
    "so",
    "dylib",
    "ko",
    "bin",
    "sh",
    "py",
    "pyc",
    "pl",
    "rb",
    "php",
    "asp",
    "aspx",
    "jsp",
    "doc",
    "docx",
    "docm",
    "dot",
    "dotm",
    "xls",
    "xlsx",
    "xlsm",
    "xlsb",
    "xll",
    "xlam",
    "ppt",
    "pptx",
    "pptm",
    "rtf",
    "pdf",
    "one",
    "zip",
    "rar",
    "7z",
    "gz",
    "tgz",
    "tar",
    "iso",
    "img",
    "vhd",
    "vhdx",
    "cab",
    "chm",
    "dat",
    "tmp",
    "ini",
    "inf",
    "cfg",
    "conf",
    "log",
    "db",
    "sqlite",
    "lib",
    "mui",
    "tlb",
    "efi",
    "html",
    "htm",
    "svg",
    "xml",
    "txt",
    "csv",
    "json",
    "deb",
    "rpm",
    "ace",
    "arj",
    "lzh",
    "sct",
    "reg",
    "vba",
    "xsl",
    "mof",
    "crx",
    "xpi",
    "pif",
    "gadget",
    "url",
    "library-ms",
    "settingcontent-ms",
    "appx",
    "msix",
    "xz",
    "bz2",
    "mov",
    "mp4",
    "run",
    "cs",
    "go",
    "rs",
    "c",
    "cpp",
    "h",
    "ps",
    "md",
    "pem",
    "key",
    "crt",
    "cer",
    "pfx",
    "p12",
];

/// Extensions that are also top-level domains: a bare `name.ext` with one of them is read as a file name.
const AMBIGUOUS_TLD_EXTS: &[&str] = &[
    "zip", "mov", "py", "sh", "pl", "rs", "md", "ps", "so", "cc", "app", "run", "one", "cab",
    "mp4", "cs", "go", "c", "h", "ko", "dat", "inf", "ini", "log", "bin", "img", "tar", "doc",
    "pdf",
];

const URL_SCHEMES: &[&str] = &[
    "http", "https", "ftp", "ftps", "sftp", "tcp", "udp", "ws", "wss", "smb", "ldap", "ldaps",
    "rtsp", "ssh", "telnet", "irc", "tftp", "git", "socks4", "socks5", "rdp", "vnc",
];

const REG_PREFIXES: &[&[u8]] = &[
    b"HKLM\\",
    b"HKCU\\",
    b"HKCR\\",
    b"HKU\\",
    b"HKCC\\",
    b"HKEY_LOCAL_MACHINE\\",
    b"HKEY_CURRENT_USER\\",
    b"HKEY_CLASSES_ROOT\\",
    b"HKEY_USERS\\",
    b"HKEY_CURRENT_CONFIG\\",
    b"HKLM:\\",
    b"HKCU:\\",
];

pub(crate) fn starts_registry(tok: &[u8]) -> bool {
    let t = trim_lead(tok);
    REG_PREFIXES
        .iter()
        .any(|p| t.len() > p.len() && t[..p.len()].eq_ignore_ascii_case(p))
}

pub(crate) fn starts_windows_path(tok: &[u8]) -> bool {
    let t = trim_lead(tok);
    (t.len() > 3 && t[0].is_ascii_alphabetic() && t[1] == b':' && t[2] == b'\\')
        || (t.first() == Some(&b'%')
            && t[1..]
                .iter()
                .position(|c| *c == b'%')
                .is_some_and(|p| t.get(p + 2) == Some(&b'\\')))
}

/// Extends a registry key or Windows path over spaces when the following words go on with the path
/// (`Windows NT\CurrentVersion`, `Acrobat Reader DC\Reader`): up to three capitalised words, the last of which
/// holds a `\`.
pub(crate) fn extend_registry(text: &[u8], mut end: usize) -> usize {
    'outer: loop {
        let mut j = end;
        for _ in 0..3 {
            if text.get(j) != Some(&b' ') {
                return end;
            }
            let ws = j + 1;
            let mut k = ws;
            while k < text.len() && super::CLASS[text[k] as usize] == 1 {
                k += 1;
            }
            let word = &text[ws..k];
            if word.is_empty() || !(word[0].is_ascii_uppercase() || word[0].is_ascii_digit()) {
                return end;
            }
            if word.contains(&b'\\') {
                end = k;
                continue 'outer;
            }
            j = k;
        }
        return end;
    }
}

fn trim_lead(t: &[u8]) -> &[u8] {
    let mut s = 0;
    while s < t.len()
        && matches!(
            t[s],
            b'(' | b'['
                | b'{'
                | b'<'
                | b'*'
                | b'!'
                | b'~'
                | b'^'
                | b'#'
                | b':'
                | b'.'
                | b'-'
                | b'_'
                | b'='
                | b'+'
                | b'?'
                | b'&'
                | b'/'
        )
    {
        s += 1;
    }
    &t[s..]
}

/// Trims punctuation around a token; returns the kept range. Closing brackets are trimmed only when unbalanced.
fn trim(tok: &[u8], start: usize, end: usize) -> (usize, usize) {
    let mut s = start;
    let mut e = end;
    loop {
        let before = (s, e);
        while s < e {
            let c = tok[s];
            let defang_open = c == b'[' && tok[s..e].len() >= 3 && &tok[s..s + 3] == b"[.]";
            if !defang_open
                && matches!(
                    c,
                    b'(' | b'['
                        | b'{'
                        | b'<'
                        | b'*'
                        | b'!'
                        | b'~'
                        | b'^'
                        | b'#'
                        | b':'
                        | b'.'
                        | b'-'
                        | b'_'
                        | b'='
                        | b'+'
                        | b'?'
                        | b'&'
                        | b'/'
                        | b','
                )
            {
                s += 1;
            } else {
                break;
            }
        }
        while e > s {
            let c = tok[e - 1];
            let drop = match c {
                b'.' | b',' | b';' | b':' | b'!' | b'?' | b'*' | b'~' | b'^' | b'=' | b'-'
                | b'#' | b'&' | b'+' | b'_' => true,
                b')' | b']' | b'}' => {
                    let (o, cl) = match c {
                        b')' => (b'(', b')'),
                        b']' => (b'[', b']'),
                        _ => (b'{', b'}'),
                    };
                    let seg = &tok[s..e];
                    seg.iter().filter(|x| **x == cl).count()
                        > seg.iter().filter(|x| **x == o).count()
                }
                _ => false,
            };
            if drop {
                e -= 1;
            } else {
                break;
            }
        }
        // Non-ASCII punctuation (quotes, guillemets, ellipsis) around the token.
        while e > s && tok[e - 1] >= 0x80 {
            let seg = &tok[s..e];
            let mut k = seg.len() - 1;
            while k > 0 && (seg[k] & 0xC0) == 0x80 {
                k -= 1;
            }
            match std::str::from_utf8(&seg[k..])
                .ok()
                .and_then(|x| x.chars().next())
            {
                Some(ch) if !ch.is_alphanumeric() => e = s + k,
                _ => break,
            }
        }
        while s < e && tok[s] >= 0x80 {
            let seg = &tok[s..e];
            let w = match seg[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            match seg
                .get(..w)
                .and_then(|x| std::str::from_utf8(x).ok())
                .and_then(|x| x.chars().next())
            {
                Some(ch) if !ch.is_alphanumeric() => s += w,
                _ => break,
            }
        }
        if (s, e) == before {
            return (s, e);
        }
    }
}

struct Emit<'a> {
    out: &'a mut Vec<Hit>,
    offset: usize,
    defanged: bool,
    suppressed: &'a mut Vec<(String, u64)>,
}

impl Emit<'_> {
    fn hit(&mut self, kind: IndicatorType, value: String, confidence: f64) {
        self.out.push(Hit {
            kind,
            value,
            offset: self.offset,
            confidence,
            defanged: self.defanged,
        });
    }
    fn suppress(&mut self, reason: &str) {
        match self.suppressed.iter_mut().find(|(r, _)| r == reason) {
            Some((_, n)) => *n += 1,
            None => self.suppressed.push((reason.to_string(), 1)),
        }
    }
}

fn hash_kind(len: usize) -> Option<IndicatorType> {
    match len {
        32 => Some(IndicatorType::Md5),
        40 => Some(IndicatorType::Sha1),
        64 => Some(IndicatorType::Sha256),
        128 => Some(IndicatorType::Sha512),
        _ => None,
    }
}

/// True for a token of ASCII letters only that cannot be a hash: the bulk of prose, never an indicator.
#[inline]
pub(crate) fn is_plain_word(t: &[u8]) -> bool {
    // Prose punctuation around a word ("word.", "(word", "word),") does not make it a candidate.
    let mut s = 0;
    let mut e = t.len();
    while s < e && matches!(t[s], b'(' | b'[') {
        s += 1;
    }
    while e > s
        && matches!(
            t[e - 1],
            b'.' | b',' | b';' | b':' | b'!' | b'?' | b')' | b']'
        )
    {
        e -= 1;
    }
    let w = &t[s..e];
    !w.is_empty()
        && w.iter().all(u8::is_ascii_alphabetic)
        && !(hash_kind(w.len()).is_some() && w.iter().all(u8::is_ascii_hexdigit))
}

/// Classifies `text[start..end]`, appending hits.
pub(crate) fn classify_token(
    text: &[u8],
    start: usize,
    end: usize,
    _opts: &ExtractOptions,
    ctx: &mut Ctx,
    report: &mut ExtractReport,
    out: &mut Vec<Hit>,
) {
    let raw = &text[start..end];
    // Fast path: plain words (letters only) are only ever hashes by accident of length.
    if is_plain_word(raw) {
        let w = raw
            .iter()
            .position(|c| c.is_ascii_alphabetic())
            .unwrap_or(0);
        let e = raw
            .iter()
            .rposition(|c| c.is_ascii_alphabetic())
            .map_or(raw.len(), |p| p + 1);
        ctx.set_prev(&raw[w..e.max(w)]);
        return;
    }
    let (s, e) = trim(text, start, end);
    if e - s < 4 {
        ctx.set_prev(&text[s..e]);
        return;
    }
    let tok = &text[s..e];
    let version_ctx = ctx.prev_is_version_word();
    ctx.prev_word_clear();
    let mut em = Emit {
        out,
        offset: s,
        defanged: false,
        suppressed: &mut report.suppressed,
    };

    if starts_registry(tok) {
        if let Ok(v) = std::str::from_utf8(tok) {
            em.hit(IndicatorType::Registry, collapse_backslashes(v), 0.85);
        }
        return;
    }
    if let Some(v) = windows_path(tok) {
        em.hit(IndicatorType::File, collapse_backslashes(&v), 0.75);
        return;
    }

    let owned;
    let t: &str = if may_be_defanged(tok) {
        let (b, d) = refang_token(tok);
        em.defanged = d;
        match String::from_utf8(b) {
            Ok(x) => {
                owned = x;
                &owned
            }
            Err(_) => {
                report.invalid_utf8_tokens += 1;
                return;
            }
        }
    } else {
        match std::str::from_utf8(tok) {
            Ok(x) => x,
            Err(_) => {
                report.invalid_utf8_tokens += 1;
                return;
            }
        }
    };
    classify_str(t, version_ctx, &mut em);
}

/// `a\\\\b` -> `a\\b`: reports escape backslashes (AsciiDoc, JSON); a path has no empty components (a UNC
/// prefix keeps its two).
fn collapse_backslashes(v: &str) -> String {
    if !v.contains("\\\\") {
        return v.to_string();
    }
    let (head, rest) = if let Some(r) = v.strip_prefix("\\\\") {
        ("\\\\", r)
    } else {
        ("", v)
    };
    let mut out = String::from(head);
    let mut prev = false;
    for c in rest.chars() {
        if c == '\\' && prev {
            continue;
        }
        prev = c == '\\';
        out.push(c);
    }
    out
}

fn windows_path(tok: &[u8]) -> Option<String> {
    let is_drive =
        tok.len() > 3 && tok[0].is_ascii_alphabetic() && tok[1] == b':' && tok[2] == b'\\';
    let is_env = tok.first() == Some(&b'%')
        && tok[1..]
            .iter()
            .position(|c| *c == b'%')
            .is_some_and(|p| tok.get(p + 2) == Some(&b'\\'));
    let is_unc = tok.starts_with(b"\\\\") && tok.len() > 3 && tok[2].is_ascii_alphanumeric();
    if !(is_drive || is_env || is_unc) {
        return None;
    }
    let s = std::str::from_utf8(tok).ok()?;
    let last = s.rsplit('\\').next()?;
    let (_, ext) = last.rsplit_once('.')?;
    FILE_EXTS
        .contains(&ext.to_ascii_lowercase().as_str())
        .then(|| s.to_string())
}

fn classify_str(t: &str, version_ctx: bool, em: &mut Emit<'_>) {
    let b = t.as_bytes();
    if t.contains("://") {
        url(t, em);
        return;
    }
    // CVE ids anywhere in the token ("Win32/Exploit.CVE-2017-11882.H").
    if b.len() >= 13 && b.contains(&b'-') {
        let mut found = false;
        let mut from = 0;
        while let Some(p) = find_ci(&b[from..], b"cve-") {
            let at = from + p;
            if let Some((v, n)) = cve_at(&b[at..]) {
                em.hit(IndicatorType::Cve, v, 0.99);
                found = true;
                from = at + n;
            } else {
                from = at + 4;
            }
        }
        if found {
            return;
        }
    }
    if b.contains(&b'@') {
        email(t, em);
        return;
    }
    // ATT&CK technique ids.
    if (b.len() == 5 || b.len() == 9) && (b[0] == b'T' || b[0] == b't') && b[1] == b'1' {
        let ok = b[1..5].iter().all(u8::is_ascii_digit)
            && (b.len() == 5 || (b[5] == b'.' && b[6..].iter().all(u8::is_ascii_digit)));
        if ok {
            em.hit(IndicatorType::AttackTechnique, t.to_ascii_uppercase(), 0.9);
            return;
        }
    }
    // Hashes, also behind a label ("SHA256:abc...", "md5=...").
    let tail = match t.rfind([':', '=']) {
        Some(p) if p + 1 < t.len() => &t[p + 1..],
        _ => t,
    };
    if let Some(kind) = hash_kind(tail.len()) {
        if tail.bytes().all(|c| c.is_ascii_hexdigit()) {
            let v = tail.to_ascii_lowercase();
            if is_benign_hash(&v) {
                em.suppress("benign-hash");
            } else {
                em.hit(kind, v, 0.9);
            }
            return;
        }
    }
    // IPv4, CIDR, ip:port.
    if b[0].is_ascii_digit()
        && b.iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'/' | b':'))
        && b.contains(&b'.')
    {
        ipv4(t, version_ctx, em);
        return;
    }
    if b.iter().filter(|c| **c == b':').count() >= 2
        && b.iter()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, b':' | b'.' | b'/' | b'[' | b']' | b'%'))
    {
        ipv6(t, em);
        return;
    }
    // Bitcoin.
    if (26..=62).contains(&b.len())
        && b.iter().all(u8::is_ascii_alphanumeric)
        && (b[0] == b'1' || b[0] == b'3' || t[..3].eq_ignore_ascii_case("bc1"))
    {
        if is_valid_btc(t) {
            em.hit(IndicatorType::Btc, t.to_string(), 0.95);
        }
        return;
    }
    if b.contains(&b'.') {
        host_like(t, em);
    }
}

fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

fn cve_at(b: &[u8]) -> Option<(String, usize)> {
    let y = b.get(4..8)?;
    if !y.iter().all(u8::is_ascii_digit) || b.get(8) != Some(&b'-') {
        return None;
    }
    let n = b[9..].iter().take_while(|c| c.is_ascii_digit()).count();
    if !(4..=7).contains(&n) {
        return None;
    }
    let v = format!(
        "CVE-{}-{}",
        std::str::from_utf8(y).ok()?,
        std::str::from_utf8(&b[9..9 + n]).ok()?
    );
    Some((v, 9 + n))
}

/// Lower-case host check: valid labels and a registrable name under a known public suffix.
fn valid_host(h: &str) -> bool {
    if h.len() > 253 || !h.contains('.') {
        return false;
    }
    for l in h.split('.') {
        if l.is_empty() || l.len() > 63 || l.starts_with('-') || l.ends_with('-') {
            return false;
        }
        if !l
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        {
            return false;
        }
    }
    let tld = h.rsplit('.').next().unwrap_or("");
    if tld.bytes().any(|c| c.is_ascii_digit() || c == b'_') {
        return false;
    }
    registrable(h)
}

/// IDNA-encodes a host when it is not ASCII; lower-cases it otherwise.
fn ascii_host(h: &str) -> Option<String> {
    if h.is_ascii() {
        Some(h.to_ascii_lowercase())
    } else {
        vigil_model::observable::normalize_domain(h).ok()
    }
}

fn url(t: &str, em: &mut Emit<'_>) {
    let Some(p) = t.find("://") else { return };
    // The scheme is the letter run just before "://" ("url=http://..." keeps only "http").
    let sb = t[..p]
        .bytes()
        .rposition(|c| !(c.is_ascii_alphanumeric() || c == b'+' || c == b'-'))
        .map(|x| x + 1)
        .unwrap_or(0);
    let scheme = t[sb..p].to_ascii_lowercase();
    if !URL_SCHEMES.contains(&scheme.as_str()) {
        return;
    }
    let u = &t[sb..];
    let rest = &u[scheme.len() + 3..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..auth_end];
    let hostport = auth.rsplit_once('@').map(|(_, h)| h).unwrap_or(auth);
    let host = if let Some(h6) = hostport.strip_prefix('[') {
        h6.split(']').next().unwrap_or("")
    } else {
        hostport
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|c| c.is_ascii_digit()))
            .map(|(h, _)| h)
            .unwrap_or(hostport)
    };
    if host.is_empty() {
        return;
    }
    let Some(h) = ascii_host(host) else { return };
    let host_kind = if h.parse::<Ipv4Addr>().is_ok() {
        IndicatorType::Ipv4
    } else if h.parse::<Ipv6Addr>().is_ok() {
        IndicatorType::Ipv6
    } else if valid_host(&h) {
        IndicatorType::Domain
    } else {
        return;
    };
    if host_kind == IndicatorType::Domain {
        if is_example_domain(&h) {
            em.suppress("example-domain");
            return;
        }
        if !em.defanged && is_reference_domain(&h) {
            em.suppress("reference-domain");
            return;
        }
    }
    let Ok(v) = normalize_url(u) else { return };
    let conf = if em.defanged { 0.95 } else { 0.8 };
    em.hit(IndicatorType::Url, v, conf);
    match host_kind {
        IndicatorType::Ipv4 => {
            let c = if is_public_v4(&h) { conf - 0.05 } else { 0.3 };
            em.hit(IndicatorType::Ipv4, h, c);
        }
        IndicatorType::Ipv6 => {
            if let Ok(v) = normalize_ipv6(&h) {
                em.hit(IndicatorType::Ipv6, v, conf - 0.05);
            }
        }
        _ => em.hit(IndicatorType::Domain, h, conf - 0.05),
    }
    // A file named by its hash (`.../842497c2...1d690103.exe`): the hash is an indicator too, as sample lists
    // name it.
    let path = &rest[auth_end..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    if let Some(name) = path.rsplit('/').next() {
        let stem = name.split('.').next().unwrap_or(name);
        let kind = match stem.len() {
            32 => Some(IndicatorType::Md5),
            40 => Some(IndicatorType::Sha1),
            64 => Some(IndicatorType::Sha256),
            128 => Some(IndicatorType::Sha512),
            _ => None,
        };
        if let Some(k) = kind {
            if stem.bytes().all(|c| c.is_ascii_hexdigit())
                && stem.bytes().any(|c| c.is_ascii_digit())
                && stem.bytes().any(|c| c.is_ascii_alphabetic())
            {
                em.hit(k, stem.to_ascii_lowercase(), conf - 0.2);
            }
        }
    }
}

fn email(t: &str, em: &mut Emit<'_>) {
    let t = t.strip_prefix("mailto:").unwrap_or(t);
    let Some((local, domain)) = t.rsplit_once('@') else {
        return;
    };
    let local = local.rsplit(':').next().unwrap_or(local);
    if local.is_empty()
        || local.len() > 64
        || !local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-'))
    {
        return;
    }
    if local.starts_with('.') || local.ends_with('.') {
        return;
    }
    let domain = domain.split([':', '/', '?']).next().unwrap_or("");
    let Some(h) = ascii_host(domain) else { return };
    if !valid_host(&h) {
        return;
    }
    if is_example_domain(&h) {
        em.suppress("example-domain");
        return;
    }
    if !em.defanged && is_reference_domain(&h) {
        em.suppress("reference-domain");
        return;
    }
    if let Ok(v) = normalize_email(&format!("{local}@{h}")) {
        let conf = if em.defanged { 0.95 } else { 0.8 };
        em.hit(IndicatorType::Email, v, conf);
    }
}

fn is_public_v4(s: &str) -> bool {
    match s.parse::<Ipv4Addr>() {
        Ok(a) => {
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_multicast()
                || a.is_broadcast()
                || a.is_unspecified()
                || a.is_documentation()
                || a.octets()[0] == 0
                || a.octets()[0] >= 240
                || (a.octets()[0] == 100 && (64..128).contains(&a.octets()[1])))
        }
        Err(_) => false,
    }
}

fn ipv4(t: &str, version_ctx: bool, em: &mut Emit<'_>) {
    let (addr, suffix) = match t.find(['/', ':']) {
        Some(p) => (&t[..p], Some(&t[p..])),
        None => (t, None),
    };
    if addr.split('.').count() != 4 {
        return; // versions like 1.2.3.4.5 and OIDs
    }
    // Octets with leading zeros are versions or padded tables, not addresses as written by a report.
    if addr
        .split('.')
        .any(|o| o.is_empty() || o.len() > 3 || (o.len() > 1 && o.starts_with('0')))
    {
        return;
    }
    let Ok(ip) = addr.parse::<Ipv4Addr>() else {
        return;
    };
    if version_ctx && !em.defanged {
        em.suppress("version-number");
        return;
    }
    let public = is_public_v4(addr);
    let base = if em.defanged { 0.95 } else { 0.85 };
    let conf = if public { base } else { 0.3 };
    match suffix {
        Some(sfx) if sfx.starts_with('/') => {
            let len = &sfx[1..];
            if len.is_empty() || len.len() > 2 || !len.bytes().all(|c| c.is_ascii_digit()) {
                return;
            }
            if let Ok(v) = normalize_ipv4(&format!("{addr}/{len}")) {
                let kind = if v.contains('/') {
                    IndicatorType::Cidr
                } else {
                    IndicatorType::Ipv4
                };
                em.hit(kind, v, conf);
            }
        }
        Some(sfx) => {
            let port = &sfx[1..];
            if port.is_empty() || port.len() > 5 || !port.bytes().all(|c| c.is_ascii_digit()) {
                return;
            }
            em.hit(IndicatorType::Ipv4, ip.to_string(), conf);
        }
        None => em.hit(IndicatorType::Ipv4, ip.to_string(), conf),
    }
}

fn ipv6(t: &str, em: &mut Emit<'_>) {
    let s = t.trim_start_matches('[');
    let (s, port_cut) = match s.find(']') {
        Some(p) => (&s[..p], true),
        None => (s, false),
    };
    let _ = port_cut;
    let s = s.split('%').next().unwrap_or(s);
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    if !(addr.contains("::") || addr.bytes().filter(|c| *c == b':').count() == 7) {
        return;
    }
    let Ok(ip) = addr.parse::<Ipv6Addr>() else {
        return;
    };
    let special = ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (ip.segments()[0] & 0xffc0) == 0xfe80
        || (ip.segments()[0] & 0xfe00) == 0xfc00
        || ip.segments()[0] == 0x2001 && ip.segments()[1] == 0xdb8;
    let conf = if special {
        0.3
    } else if em.defanged {
        0.95
    } else {
        0.85
    };
    match len {
        Some(l) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|c| c.is_ascii_digit()) => {
            if let Ok(v) = normalize_ipv6(&format!("{addr}/{l}")) {
                let kind = if v.contains('/') {
                    IndicatorType::Cidr
                } else {
                    IndicatorType::Ipv6
                };
                em.hit(kind, v, conf);
            }
        }
        Some(_) => {}
        None => em.hit(IndicatorType::Ipv6, ip.to_string(), conf),
    }
}

/// Domains, scheme-less URLs (`evil.com/gate.php`), host:port, and file names.
fn host_like(t: &str, em: &mut Emit<'_>) {
    let (hostport, path) = match t.find(['/', '?']) {
        Some(p) => (&t[..p], Some(&t[p..])),
        None => (t, None),
    };
    let host = match hostport.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|c| c.is_ascii_digit()) => h,
        Some(_) => return,
        None => hostport,
    };
    if host.is_empty() {
        return;
    }
    let tld_raw = host.rsplit('.').next().unwrap_or("");
    // A bare name (no path, no port) ending in a file extension.
    let file_like = |tld: &str| path.is_none() && hostport == host && FILE_EXTS.contains(&tld);
    let Some(h) = ascii_host(host) else {
        // Not a host name in any script (`Diseño_pptx.scr`: an underscore beside non-ASCII letters): a file name
        // when it ends in a file extension.
        if file_like(&tld_raw.to_ascii_lowercase()) && file_name_ok(t) {
            bare_file_name(t, em);
        }
        return;
    };
    let tld = h.rsplit('.').next().unwrap_or("");
    let is_file_name = file_like(tld);
    if !valid_host(&h) {
        if is_file_name && file_name_ok(t) {
            bare_file_name(t, em);
        }
        return;
    }
    // Code identifiers (System.IO, Foo.Bar.Net): an upper-case TLD in a token that has lower case elsewhere.
    if !em.defanged
        && tld_raw.bytes().any(|c| c.is_ascii_uppercase())
        && host.bytes().any(|c| c.is_ascii_lowercase())
    {
        return;
    }
    let labels = h.split('.').count();
    if !em.defanged && path.is_none() && labels == 2 && AMBIGUOUS_TLD_EXTS.contains(&tld) {
        if file_name_ok(t) && FILE_EXTS.contains(&tld) {
            bare_file_name(t, em);
        }
        return;
    }
    if is_example_domain(&h) {
        em.suppress("example-domain");
        return;
    }
    if !em.defanged && is_reference_domain(&h) {
        em.suppress("reference-domain");
        return;
    }
    let conf = if em.defanged {
        0.95
    } else if labels >= 3 {
        0.75
    } else {
        0.7
    };
    if let Some(p) = path {
        if p.len() > 1 {
            if let Ok(v) = normalize_url(t) {
                em.hit(IndicatorType::Url, v, if em.defanged { 0.9 } else { 0.6 });
            }
        }
    }
    em.hit(IndicatorType::Domain, h, conf);
}

/// A file name without a path (`inv_2026.iso`), unless it is a program every Windows installation ships
/// (`explorer.exe`, `rundll32.exe`): reports name those as what malware runs, injects into or imitates, and on
/// its own such a name matches every host. With a path (`%TEMP%\svchost.exe`) it is kept as a path; DLL names
/// are always kept, since side-loading plants a malicious DLL under a system DLL's name.
fn bare_file_name(t: &str, em: &mut Emit<'_>) {
    let lower = t.to_ascii_lowercase();
    if let Some(stem) = lower.strip_suffix(".exe") {
        if STOCK_WINDOWS_PROGRAMS.binary_search(&stem).is_ok() {
            em.suppress("system-program");
            return;
        }
    }
    em.hit(IndicatorType::File, t.to_string(), 0.6);
}

/// Programs (`.exe`, stem only) of a stock Windows installation: core processes and the built-in tools
/// attackers live off (LOLBAS). Not the browsers or office programs, whose names malware takes for its own
/// files (ESET's Machete event lists its `Chrome.exe`). Sorted, for a binary search.
pub(super) const STOCK_WINDOWS_PROGRAMS: &[&str] = &[
    "arp",
    "at",
    "attrib",
    "audiodg",
    "bcdedit",
    "bitsadmin",
    "cacls",
    "calc",
    "certreq",
    "certutil",
    "cmd",
    "cmstp",
    "conhost",
    "control",
    "cscript",
    "csrss",
    "ctfmon",
    "diskshadow",
    "dllhost",
    "dnscmd",
    "dwm",
    "esentutl",
    "expand",
    "explorer",
    "extrac32",
    "findstr",
    "fontdrvhost",
    "forfiles",
    "hh",
    "icacls",
    "iexplore",
    "installutil",
    "ipconfig",
    "lsass",
    "lsm",
    "makecab",
    "mavinject",
    "mmc",
    "msbuild",
    "msdtc",
    "msedge",
    "mshta",
    "msiexec",
    "mspaint",
    "mstsc",
    "net",
    "net1",
    "netsh",
    "netstat",
    "nltest",
    "notepad",
    "nslookup",
    "ntdsutil",
    "odbcconf",
    "pcalua",
    "ping",
    "powershell",
    "powershell_ise",
    "pwsh",
    "reg",
    "regasm",
    "regedit",
    "regsvcs",
    "regsvr32",
    "robocopy",
    "route",
    "rundll32",
    "runtimebroker",
    "sc",
    "schtasks",
    "searchfilterhost",
    "searchindexer",
    "searchprotocolhost",
    "services",
    "sihost",
    "smss",
    "spoolsv",
    "svchost",
    "systeminfo",
    "takeown",
    "taskeng",
    "taskhost",
    "taskhostw",
    "taskkill",
    "tasklist",
    "taskmgr",
    "vssadmin",
    "wevtutil",
    "whoami",
    "wininit",
    "winlogon",
    "wmic",
    "wmiprvse",
    "wordpad",
    "wscript",
    "wuauclt",
    "wusa",
    "xcopy",
];

/// A file name's part before its extension: letters and digits of any script (lures are named in the
/// victims' language: `Diseño_pptx.scr`, `絆邧坋蔡趕昴.doc`, `Приказ_МО.docx`) and the ASCII punctuation names
/// hold; not digits and dots alone (version numbers).
fn file_name_ok(t: &str) -> bool {
    let (name, _) = match t.rsplit_once('.') {
        Some(x) => x,
        None => return false,
    };
    !name.is_empty()
        && name.len() <= 200
        && name.chars().all(|c| {
            if c.is_ascii() {
                c.is_ascii_alphanumeric()
                    || matches!(c, '_' | '-' | '.' | '$' | '~' | '!' | '(' | ')')
            } else {
                c.is_alphanumeric()
            }
        })
        && !name.bytes().all(|c| c.is_ascii_digit() || c == b'.')
}
