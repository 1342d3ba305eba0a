//! The compiled indicator set: one lookup strategy per indicator shape, built once and shared read-only by every
//! hunting thread (`IndicatorSet` is `Send + Sync`).
//!
//! Strategies:
//! - domains: one hash table of normalised names; an observed name is looked up whole, then each parent
//!   suffix of two labels or more is looked up and hits only indicators marked `subdomains` (label-aware:
//!   `evil.com` matches `a.evil.com`, never `notevil.com` nor `evil.com.example.org`);
//! - IP addresses: exact addresses in a table of 4- or 16-byte keys; CIDR blocks flattened into disjoint
//!   intervals, each owned by the most specific block covering it (longest prefix wins; an exact address is a
//!   /32 or /128 and beats every block), searched with a 64 Ki-entry first-16-bits index for IPv4;
//! - URLs: a table of keys from [`url_key`] (scheme and host lower-case, default port dropped, percent-encoding
//!   canonical, one trailing slash dropped, fragment dropped); an observed URL with a query also tries the key
//!   without its query, so an indicator without a query matches every query on that path;
//! - URL paths on any host (maltrail's `/x.apk` trails, [`ObservableKind::UrlPath`]): a table of path keys
//!   escaped as [`url_key`] escapes paths, a directory keeping its trailing `/`; an observed URL looks up its path
//!   with and without its query, then each directory above it, so a directory matches everything below it;
//! - hashes (MD5, SHA-1, SHA-256, SHA-512): one table of the binary digests (the length tells the algorithm);
//! - e-mail addresses: a table of addresses with the domain part lower-cased;
//! - any other STIX pattern: compiled and evaluated per record (see [`crate::stix`]); simple patterns
//!   (`[domain-name:value = 'x']`, `IN (...)`, `OR` of equalities, `ipv4-addr:value ISSUBSET 'cidr'`) go to the
//!   tables above instead, where values are compared normalised (case-insensitive for domains).
//!
//! Memory: values live in per-table byte arenas with `u32` offsets and `u32` slot arrays (no per-entry heap
//! allocation); per indicator the set keeps a 16-byte UUID, score, TLP, flags and a context index into a
//! de-duplicated table of (malware, actor) name lists.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use vigil_model::observable::{
    normalize_domain, normalize_email, normalize_url, normalize_url_path,
};
use vigil_model::pattern::Pattern;
use vigil_model::{Observable, ObservableKind, Tlp};

use crate::stix::{mask4, mask6, CompiledPattern, IpNet};
use crate::table::{any_of, descends, make_posting, postings, KeyTable};

/// The `type` of a sighting in the output contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HitType {
    /// A domain name.
    Domain,
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// An address inside an IPv4 or IPv6 CIDR block.
    Cidr,
    /// A URL.
    Url,
    /// An MD5 digest.
    Md5,
    /// A SHA-1 digest.
    Sha1,
    /// A SHA-256 digest.
    Sha256,
    /// A SHA-512 digest (not in the issue's list; reported under its own name).
    Sha512,
    /// An e-mail address.
    Email,
}

impl HitType {
    /// The name used in the sighting contract (`domain`, `ipv4`, ... ).
    pub fn as_str(self) -> &'static str {
        match self {
            HitType::Domain => "domain",
            HitType::Ipv4 => "ipv4",
            HitType::Ipv6 => "ipv6",
            HitType::Cidr => "cidr",
            HitType::Url => "url",
            HitType::Md5 => "md5",
            HitType::Sha1 => "sha1",
            HitType::Sha256 => "sha256",
            HitType::Sha512 => "sha512",
            HitType::Email => "email",
        }
    }
}

impl std::fmt::Display for HitType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a log field holds, which decides the strategy it is looked up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A host or domain name (an IP literal in it is looked up as an address).
    Domain,
    /// An IP address with no side.
    Ip,
    /// The source (originator) address of a connection.
    SrcIp,
    /// The destination (responder) address of a connection.
    DstIp,
    /// A URL.
    Url,
    /// A file or certificate digest in hex (colons allowed); the length tells the algorithm.
    Hash,
    /// An e-mail address (`<a@b>` brackets allowed).
    Email,
    /// A DNS answer: an address or a name, looked up as whichever it is.
    Answer,
    /// Source port: not matched, used by STIX pattern evaluation (`network-traffic:src_port`).
    SrcPort,
    /// Destination port: not matched, used by STIX pattern evaluation.
    DstPort,
    /// Transport protocol: not matched, used by STIX pattern evaluation (`network-traffic:protocols`).
    Proto,
}

/// Where an indicator comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum IndicatorSource {
    /// A STIX 2.1 pattern.
    Pattern(String),
    /// An already normalised observable (as produced by `Observable::new`/`detect`).
    Observable(Observable),
}

/// One indicator to add to a set.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorInput {
    /// STIX id of the indicator (`indicator--<uuid>`); any non-empty string is accepted.
    pub id: String,
    /// The pattern or value.
    pub source: IndicatorSource,
    /// Effective score, 0 to 100 (see [`crate::score`]).
    pub score: f32,
    /// TLP of the indicator.
    pub tlp: Tlp,
    /// Malware family names reached through relationships.
    pub malware: Vec<String>,
    /// Threat actor / intrusion set names reached through relationships.
    pub actors: Vec<String>,
    /// For domain values: also match every subdomain (maltrail's semantics). Exact match when false.
    pub subdomains: bool,
}

impl IndicatorInput {
    /// An input with score 50, TLP:CLEAR, no context and exact matching; adjust the public fields as needed.
    pub fn new(id: impl Into<String>, source: IndicatorSource) -> IndicatorInput {
        IndicatorInput {
            id: id.into(),
            source,
            score: 50.0,
            tlp: Tlp::Clear,
            malware: Vec::new(),
            actors: Vec::new(),
            subdomains: false,
        }
    }
}

/// Why an indicator could not be added.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BuildError {
    /// The pattern does not parse or compile.
    #[error("indicator {id}: {reason}")]
    BadPattern {
        /// Indicator id.
        id: String,
        /// Parser or compiler message.
        reason: String,
    },
    /// The value is not valid for its kind.
    #[error("indicator {id}: {reason}")]
    BadValue {
        /// Indicator id.
        id: String,
        /// Normaliser message.
        reason: String,
    },
    /// The id is empty or the score is not a number in 0..=100.
    #[error("indicator {id}: {reason}")]
    BadInput {
        /// Indicator id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A table outgrew the format's limits.
    #[error("indicator set too large: {0}")]
    TooLarge(String),
}

/// An indicator added to a set, with the values of its pattern that were left out (see
/// [`IndicatorSetBuilder::add_reporting`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// Index of the indicator in the set.
    pub index: u32,
    /// Why each left-out value is invalid (the normaliser's message, naming the value); empty when every value
    /// was kept.
    pub left_out: Vec<String>,
}

pub(crate) const FLAG_SUBDOMAINS: u8 = 1;
pub(crate) const ACTOR_BIT: u32 = 1 << 31;

/// A list of strings in one arena (used for names and id prefixes).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StrList {
    pub(crate) arena: Vec<u8>,
    pub(crate) offs: Vec<u32>,
}

impl StrList {
    fn new() -> StrList {
        StrList {
            arena: Vec::new(),
            offs: vec![0],
        }
    }
    fn push(&mut self, s: &str) -> u32 {
        self.arena.extend_from_slice(s.as_bytes());
        self.offs.push(self.arena.len() as u32);
        (self.offs.len() - 2) as u32
    }
    pub(crate) fn get(&self, i: u32) -> &str {
        let i = i as usize;
        match (self.offs.get(i), self.offs.get(i + 1)) {
            (Some(&a), Some(&b)) => self
                .arena
                .get(a as usize..b as usize)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or(""),
            _ => "",
        }
    }
    pub(crate) fn len(&self) -> usize {
        self.offs.len().saturating_sub(1)
    }
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.offs.first() != Some(&0)
            || self.offs.windows(2).any(|w| w[0] > w[1])
            || self.offs.last().map(|&x| x as usize) != Some(self.arena.len())
        {
            return Err("string list offsets invalid".into());
        }
        std::str::from_utf8(&self.arena).map_err(|_| "string list not UTF-8")?;
        // Every boundary must be a char boundary for `get` to return the exact string.
        let s = std::str::from_utf8(&self.arena).map_err(|_| "string list not UTF-8")?;
        if self.offs.iter().any(|&o| !s.is_char_boundary(o as usize)) {
            return Err("string list offsets split a character".into());
        }
        Ok(())
    }
}

/// CIDR blocks flattened into sorted, disjoint intervals; `T` is `u32` for IPv4 and `u128` for IPv6.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CidrTable<T> {
    pub(crate) start: Vec<T>,
    pub(crate) end: Vec<T>,
    /// Network address and prefix length of the block owning each interval.
    pub(crate) net: Vec<T>,
    pub(crate) len: Vec<u8>,
    pub(crate) post: Vec<u32>,
    pub(crate) multi: Vec<u32>,
    /// IPv4 only: `first[h]` = number of intervals starting below `h << 16` (65,537 entries).
    pub(crate) first: Vec<u32>,
}

/// An address type a [`CidrTable`] can hold.
pub(crate) trait Addr: Copy + Ord + Default + std::fmt::Debug {
    const BITS: u8;
    fn to_u128(self) -> u128;
    fn from_u128(v: u128) -> Self;
}
impl Addr for u32 {
    const BITS: u8 = 32;
    fn to_u128(self) -> u128 {
        u128::from(self)
    }
    fn from_u128(v: u128) -> Self {
        v as u32
    }
}
impl Addr for u128 {
    const BITS: u8 = 128;
    fn to_u128(self) -> u128 {
        self
    }
    fn from_u128(v: u128) -> Self {
        v
    }
}

impl<T: Addr> CidrTable<T> {
    fn build(blocks: Vec<(T, u8, u32)>) -> CidrTable<T> {
        // Merge indicators of identical blocks.
        let mut by_block: std::collections::BTreeMap<(T, u8), Vec<u32>> =
            std::collections::BTreeMap::new();
        for (net, len, ind) in blocks {
            by_block.entry((net, len)).or_default().push(ind);
        }
        let mut t = CidrTable::<T>::default();
        // (start, end, len, posting) sorted by start, then shorter prefix first so a parent precedes its children.
        let mut pre: Vec<(u128, u128, u8, u32)> = Vec::with_capacity(by_block.len());
        for ((net, len), ids) in by_block {
            let start = net.to_u128();
            let host_bits = u32::from(T::BITS - len);
            let span = if host_bits >= 128 {
                u128::MAX
            } else {
                (1u128 << host_bits) - 1
            };
            let end = start | span;
            let post = make_posting(ids, &mut t.multi);
            pre.push((start, end, len, post));
        }
        pre.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
        let mut stack: Vec<usize> = Vec::new();
        // `pos` is the first address not yet assigned; None once past the top of the address space.
        let mut pos: Option<u128> = Some(0);
        let emit = |t: &mut CidrTable<T>, from: u128, to: u128, p: &(u128, u128, u8, u32)| {
            t.start.push(T::from_u128(from));
            t.end.push(T::from_u128(to));
            t.net.push(T::from_u128(p.0));
            t.len.push(p.2);
            t.post.push(p.3);
        };
        for i in 0..pre.len() {
            let (s, _, _, _) = pre[i];
            while let Some(&top) = stack.last() {
                if pre[top].1 >= s {
                    break;
                }
                if let Some(p) = pos {
                    if p <= pre[top].1 {
                        emit(&mut t, p, pre[top].1, &pre[top]);
                    }
                }
                pos = pre[top].1.checked_add(1).map(|x| x.max(pos.unwrap_or(0)));
                stack.pop();
            }
            if let (Some(&top), Some(p)) = (stack.last(), pos) {
                if p < s {
                    emit(&mut t, p, s - 1, &pre[top]);
                }
            }
            pos = Some(s);
            stack.push(i);
        }
        while let Some(top) = stack.pop() {
            if let Some(p) = pos {
                if p <= pre[top].1 {
                    emit(&mut t, p, pre[top].1, &pre[top]);
                }
                pos = pre[top].1.checked_add(1).map(|x| x.max(p));
            }
        }
        if T::BITS == 32 && !t.start.is_empty() {
            t.first = (0..=65536u64)
                .map(|h| {
                    t.start
                        .partition_point(|x| x.to_u128() < u128::from(h) << 16)
                        as u32
                })
                .collect();
        }
        t
    }

    /// Interval index containing `a`.
    #[inline]
    pub(crate) fn find(&self, a: T) -> Option<usize> {
        if self.start.is_empty() {
            return None;
        }
        let i = if T::BITS == 32 && self.first.len() == 65537 {
            let h = (a.to_u128() >> 16) as usize;
            let lo = self.first[h] as usize;
            let hi = (self.first[h + 1] as usize).min(self.start.len());
            let lo = lo.min(hi);
            let k = lo + self.start[lo..hi].partition_point(|x| *x <= a);
            k.checked_sub(1)?
        } else {
            self.start.partition_point(|x| *x <= a).checked_sub(1)?
        };
        (*self.end.get(i)? >= a).then_some(i)
    }

    fn validate(&self, n_indicators: u32) -> Result<(), String> {
        let n = self.start.len();
        if self.end.len() != n || self.net.len() != n || self.len.len() != n || self.post.len() != n
        {
            return Err("CIDR table columns differ in length".into());
        }
        if self.start.windows(2).any(|w| w[0] > w[1])
            || self.start.iter().zip(&self.end).any(|(a, b)| a > b)
        {
            return Err("CIDR intervals not sorted".into());
        }
        if self.len.iter().any(|&l| l > T::BITS) {
            return Err("CIDR prefix length out of range".into());
        }
        if T::BITS == 32
            && !(n == 0 && self.first.is_empty())
            && !(self.first.len() == 65537
                && self.first.windows(2).all(|w| w[0] <= w[1])
                && self.first.iter().all(|&x| x as usize <= n))
        {
            return Err("CIDR index invalid".into());
        }
        crate::table::validate_postings(&self.post, &self.multi, n_indicators)
    }
}

/// Which table a key hit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Domain names.
    Domains,
    /// Exact IPv4/IPv6 addresses.
    Ips,
    /// URL keys.
    Urls,
    /// URL path keys (any host).
    Paths,
    /// Binary digests.
    Hashes,
    /// E-mail addresses.
    Emails,
}

/// What matched: a key in a table, a CIDR interval or a general pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HitRef {
    /// Key `key` of table `table`.
    Key {
        /// The table.
        table: Table,
        /// Key index in it.
        key: u32,
    },
    /// IPv4 CIDR interval.
    Cidr4(u32),
    /// IPv6 CIDR interval.
    Cidr6(u32),
    /// General pattern number.
    Pattern(u32),
}

/// One indicator matched by one lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Match {
    /// Indicator index in the set (see [`IndicatorSet::meta`]).
    pub indicator: u32,
    /// What matched it.
    pub hit: HitRef,
}

/// Read-only view of one indicator's metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndicatorMeta<'a> {
    /// STIX id.
    pub id: String,
    /// Score 0..100.
    pub score: f32,
    /// TLP.
    pub tlp: Tlp,
    /// Malware family names.
    pub malware: Vec<&'a str>,
    /// Actor names.
    pub actors: Vec<&'a str>,
    /// Whether a domain value also matches its subdomains.
    pub subdomains: bool,
}

/// Counts of what a set holds, per strategy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SetStats {
    /// Indicators.
    pub indicators: usize,
    /// Distinct domain keys.
    pub domains: usize,
    /// Distinct exact IPv4/IPv6 addresses.
    pub ips: usize,
    /// Disjoint IPv4 CIDR intervals.
    pub cidr4_intervals: usize,
    /// Disjoint IPv6 CIDR intervals.
    pub cidr6_intervals: usize,
    /// Distinct URL keys.
    pub urls: usize,
    /// Distinct URL path keys (any host).
    pub url_paths: usize,
    /// Distinct digests.
    pub hashes: usize,
    /// Distinct e-mail addresses.
    pub emails: usize,
    /// Patterns evaluated per record.
    pub patterns: usize,
    /// Bytes held by the set's arrays (a lower bound of its heap use).
    pub heap_bytes: usize,
}

/// The compiled, immutable indicator set. Build it with [`IndicatorSetBuilder`] or load it from a snapshot
/// ([`crate::snapshot::load`]).
#[derive(Debug, Clone, Default)]
pub struct IndicatorSet {
    // Per indicator.
    pub(crate) id_uuid: Vec<[u8; 16]>,
    /// Index into `id_prefixes`; an id that is not `prefix--<lower-case uuid>` is stored whole as a prefix
    /// with `id_raw` set.
    pub(crate) id_prefix: Vec<u32>,
    pub(crate) id_prefixes: StrList,
    pub(crate) id_raw: Vec<u8>,
    pub(crate) score: Vec<f32>,
    pub(crate) tlp: Vec<u8>,
    pub(crate) flags: Vec<u8>,
    pub(crate) ctx: Vec<u32>,
    // Contexts: `ctx_offs[c]..ctx_offs[c+1]` in `ctx_items` are name indices (ACTOR_BIT marks actors).
    pub(crate) names: StrList,
    pub(crate) ctx_offs: Vec<u32>,
    pub(crate) ctx_items: Vec<u32>,
    // Strategies.
    pub(crate) domains: KeyTable,
    pub(crate) ips: KeyTable,
    pub(crate) urls: KeyTable,
    pub(crate) paths: KeyTable,
    pub(crate) hashes: KeyTable,
    pub(crate) emails: KeyTable,
    pub(crate) cidr4: CidrTable<u32>,
    pub(crate) cidr6: CidrTable<u128>,
    pub(crate) pattern_ind: Vec<u32>,
    pub(crate) pattern_text: StrList,
    pub(crate) patterns: Vec<CompiledPattern>,
}

/// Collects indicators, then compiles them into an [`IndicatorSet`].
#[derive(Debug, Default)]
pub struct IndicatorSetBuilder {
    set: IndicatorSet,
    prefix_ids: HashMap<String, u32>,
    name_ids: HashMap<String, u32>,
    ctx_ids: HashMap<Vec<u32>, u32>,
    domains: Vec<(Vec<u8>, u32)>,
    ips: Vec<(Vec<u8>, u32)>,
    urls: Vec<(Vec<u8>, u32)>,
    paths: Vec<(Vec<u8>, u32)>,
    hashes: Vec<(Vec<u8>, u32)>,
    emails: Vec<(Vec<u8>, u32)>,
    cidr4: Vec<(u32, u8, u32)>,
    cidr6: Vec<(u128, u8, u32)>,
}

/// Parses `prefix--xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (lower-case) into prefix and UUID bytes.
fn split_id(id: &str) -> Option<(&str, [u8; 16])> {
    let (prefix, uuid) = id.rsplit_once("--")?;
    let b = uuid.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut i = 0;
    while i < 36 {
        if b[i] == b'-' {
            i += 1;
            continue;
        }
        let hi = lower_hex(b[i])?;
        let lo = lower_hex(*b.get(i + 1)?)?;
        *out.get_mut(n)? = hi << 4 | lo;
        n += 1;
        i += 2;
    }
    (n == 16).then_some((prefix, out))
}

fn lower_hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn fmt_uuid(u: &[u8; 16]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

/// Hex digit values; 0xFF for every other byte.
static HEX: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Decodes hex (colons ignored) into `out`; the digest length in bytes when it is one of 16, 20, 32, 64.
#[inline]
pub(crate) fn hex_digest(v: &[u8], out: &mut [u8; 64]) -> Option<usize> {
    // Fast path, the common case: plain hex of a digest length, two table look-ups per byte and no branch per digit.
    if matches!(v.len(), 32 | 40 | 64 | 128) {
        let mut bad = 0u8;
        for (o, pair) in out.iter_mut().zip(v.chunks_exact(2)) {
            let (h, l) = (HEX[pair[0] as usize], HEX[pair[1] as usize]);
            bad |= h | l;
            *o = h << 4 | (l & 0x0F);
        }
        if bad & 0xF0 == 0 {
            return Some(v.len() / 2);
        }
    }
    if !v.contains(&b':') {
        return None;
    }
    let mut n = 0;
    let mut hi: Option<u8> = None;
    for &c in v {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            b':' => continue,
            _ => return None,
        };
        match hi.take() {
            None => hi = Some(d),
            Some(h) => {
                *out.get_mut(n)? = h << 4 | d;
                n += 1;
            }
        }
    }
    (hi.is_none() && matches!(n, 16 | 20 | 32 | 64)).then_some(n)
}

/// Parses a dotted-quad IPv4 address from bytes (no leading zeros check beyond std's rules: at most 3 digits).
#[inline]
pub(crate) fn parse_ipv4(v: &[u8]) -> Option<u32> {
    let mut parts = 0u32;
    let mut acc: u32 = 0;
    let mut cur: u32 = 0;
    let mut digits = 0;
    for &c in v {
        match c {
            b'0'..=b'9' => {
                if digits == 3 || (digits > 0 && cur == 0) {
                    return None;
                }
                cur = cur * 10 + u32::from(c - b'0');
                digits += 1;
            }
            b'.' => {
                if digits == 0 || cur > 255 || parts == 3 {
                    return None;
                }
                acc = acc << 8 | cur;
                parts += 1;
                cur = 0;
                digits = 0;
            }
            _ => return None,
        }
    }
    if parts != 3 || digits == 0 || cur > 255 {
        return None;
    }
    Some(acc << 8 | cur)
}

/// Parses an IPv6 address (brackets and a `%zone` allowed).
pub(crate) fn parse_ipv6(v: &[u8]) -> Option<u128> {
    let v = v.strip_prefix(b"[").unwrap_or(v);
    let v = v.strip_suffix(b"]").unwrap_or(v);
    let v = match memchr::memchr(b'%', v) {
        Some(i) => &v[..i],
        None => v,
    };
    let s = std::str::from_utf8(v).ok()?;
    s.parse::<Ipv6Addr>().ok().map(u128::from)
}

/// Canonical URL key, written into `out` (cleared first). Returns the length of the part before the query
/// (`out.len()` when there is no query), or None when the value has no host.
///
/// Rules: scheme lower-case (`http` when absent), user-info dropped, host lower-case without a trailing dot,
/// default port (80 for http, 443 for https, 21 for ftp) dropped, percent-escapes of unreserved characters
/// decoded and other escapes upper-cased, bytes outside RFC 3986's allowed set percent-encoded, one trailing
/// `/` of the path dropped, fragment dropped.
pub fn url_key(raw: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    out.clear();
    let raw = trim_ascii(raw);
    let (scheme, rest) = match memchr::memmem::find(raw, b"://") {
        Some(i)
            if i > 0
                && raw[..i]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')) =>
        {
            (&raw[..i], &raw[i + 3..])
        }
        _ => (&b"http"[..], raw),
    };
    out.extend(scheme.iter().map(u8::to_ascii_lowercase));
    out.extend_from_slice(b"://");
    let auth_end = rest
        .iter()
        .position(|&c| matches!(c, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let auth = &rest[..auth_end];
    let auth = match memchr::memrchr(b'@', auth) {
        Some(i) => &auth[i + 1..],
        None => auth,
    };
    // Split the port off, minding IPv6 brackets.
    let (host, port) = match memchr::memrchr(b':', auth) {
        Some(i)
            if !auth[i + 1..].contains(&b']')
                && (auth.first() != Some(&b'[') || auth[..i].ends_with(b"]")) =>
        {
            (&auth[..i], &auth[i + 1..])
        }
        _ => (auth, &b""[..]),
    };
    let host = host.strip_suffix(b".").unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    out.extend(host.iter().map(u8::to_ascii_lowercase));
    let default = match out.get(..out.len() - host.len() - 3) {
        Some(b"http") => &b"80"[..],
        Some(b"https") => b"443",
        Some(b"ftp") => b"21",
        _ => b"",
    };
    let port = {
        let mut p = port;
        while p.len() > 1 && p[0] == b'0' {
            p = &p[1..];
        }
        p
    };
    if !port.is_empty() && port != default {
        out.push(b':');
        out.extend_from_slice(port);
    }
    let tail = &rest[auth_end..];
    let tail = match memchr::memchr(b'#', tail) {
        Some(i) => &tail[..i],
        None => tail,
    };
    let (path, query) = match memchr::memchr(b'?', tail) {
        Some(i) => (&tail[..i], Some(&tail[i + 1..])),
        None => (tail, None),
    };
    let path_start = out.len();
    push_escaped(path, out);
    if out.len() > path_start && out.last() == Some(&b'/') {
        out.pop();
    }
    let before_query = out.len();
    if let Some(q) = query {
        if !q.is_empty() {
            out.push(b'?');
            push_escaped(q, out);
        }
    }
    Some(before_query)
}

fn trim_ascii(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

fn push_escaped(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let hexval = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    out.reserve(s.len());
    let mut i = 0;
    while i < s.len() {
        // Most of a path or query is copied as is: take the whole run of such bytes at once.
        let run = s[i..]
            .iter()
            .position(|&c| URL_CLASS[c as usize] != URL_COPY)
            .unwrap_or(s.len() - i);
        out.extend_from_slice(&s[i..i + run]);
        i += run;
        let Some(&c) = s.get(i) else { break };
        if c == b'%' {
            if let (Some(h), Some(l)) = (
                s.get(i + 1).and_then(|&x| hexval(x)),
                s.get(i + 2).and_then(|&x| hexval(x)),
            ) {
                let d = h << 4 | l;
                if URL_CLASS[d as usize] == URL_COPY && !URL_RESERVED.contains(&d) {
                    out.push(d);
                } else {
                    out.extend_from_slice(&[b'%', HEX[(d >> 4) as usize], HEX[(d & 15) as usize]]);
                }
                i += 3;
                continue;
            }
            out.extend_from_slice(b"%25");
        } else {
            out.extend_from_slice(&[b'%', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        }
        i += 1;
    }
}

/// RFC 3986 reserved characters: allowed in a URL as they are, but an escape of one stays an escape.
const URL_RESERVED: &[u8] = b":/?#[]@!$&'()*+,;=";
/// [`URL_CLASS`] of a byte copied as it is (unreserved or reserved, not `%`).
const URL_COPY: u8 = 1;
/// Per byte: [`URL_COPY`] or 0 (`%`, or a byte to percent-encode).
static URL_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            t[c] = URL_COPY;
        }
        c += 1;
    }
    let mut k = 0;
    while k < URL_RESERVED.len() {
        t[URL_RESERVED[k] as usize] = URL_COPY;
        k += 1;
    }
    t
};

/// The byte-at-a-time version of [`push_escaped`], kept as the reference of its tests.
#[cfg(test)]
fn push_escaped_bytes(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let unreserved = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
    let allowed = |c: u8| unreserved(c) || b":/?#[]@!$&'()*+,;=".contains(&c);
    let hexval = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'%' {
            if let (Some(h), Some(l)) = (
                s.get(i + 1).and_then(|&x| hexval(x)),
                s.get(i + 2).and_then(|&x| hexval(x)),
            ) {
                let d = h << 4 | l;
                if unreserved(d) {
                    out.push(d);
                } else {
                    out.extend_from_slice(&[b'%', HEX[(d >> 4) as usize], HEX[(d & 15) as usize]]);
                }
                i += 3;
                continue;
            }
            out.extend_from_slice(b"%25");
        } else if allowed(c) {
            out.push(c);
        } else {
            out.extend_from_slice(&[b'%', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        }
        i += 1;
    }
}

/// Lower-cases a domain into `out`, dropping one trailing dot and a `:port`; false when it is empty.
#[inline]
fn domain_key(v: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut v = trim_ascii(v);
    if let Some(i) = memchr::memrchr(b':', v) {
        if i + 1 < v.len() && v[i + 1..].iter().all(u8::is_ascii_digit) && !v[..i].contains(&b':') {
            v = &v[..i];
        }
    }
    let v = v.strip_suffix(b".").unwrap_or(v);
    if v.is_empty() {
        return false;
    }
    out.extend(v.iter().map(u8::to_ascii_lowercase));
    true
}

impl IndicatorSetBuilder {
    /// An empty builder.
    pub fn new() -> IndicatorSetBuilder {
        let mut b = IndicatorSetBuilder::default();
        b.set.id_prefixes = StrList::new();
        b.set.names = StrList::new();
        b.set.pattern_text = StrList::new();
        b.set.ctx_offs = vec![0];
        b
    }

    /// Number of indicators added so far.
    pub fn len(&self) -> usize {
        self.set.score.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds one indicator; returns its index in the set. A rejected indicator leaves the builder unchanged.
    /// A pattern that is an `OR` of values some of which are invalid is added with its valid values (see
    /// [`IndicatorSetBuilder::add_reporting`], which also says which values were left out).
    pub fn add(&mut self, input: &IndicatorInput) -> Result<u32, BuildError> {
        self.add_reporting(input).map(|a| a.index)
    }

    /// Adds one indicator and reports the values of its pattern that were left out because they are not valid for
    /// their kind (`[domain-name:value = 'a b.example' OR ipv4-addr:value = '198.51.100.7']` is hunted on the
    /// address alone: an observed name never holds a space, so the invalid value could not have matched). The
    /// indicator is rejected, and the builder unchanged, when no value is valid.
    pub fn add_reporting(&mut self, input: &IndicatorInput) -> Result<Added, BuildError> {
        let id = &input.id;
        if id.trim().is_empty() {
            return Err(BuildError::BadInput {
                id: id.clone(),
                reason: "empty id".into(),
            });
        }
        if !(0.0..=100.0).contains(&input.score) {
            return Err(BuildError::BadInput {
                id: id.clone(),
                reason: format!("score {} outside 0..=100", input.score),
            });
        }
        let idx = self.len() as u32;
        if idx >= crate::table::MULTI {
            return Err(BuildError::TooLarge("more than 2^31 indicators".into()));
        }
        // Decide where the values go before touching the set, so a bad indicator changes nothing.
        let mut keys: Vec<(ObservableKind, String)> = Vec::new();
        let mut general: Option<CompiledPattern> = None;
        match &input.source {
            IndicatorSource::Observable(o) => keys.push((o.kind, o.value.clone())),
            IndicatorSource::Pattern(text) => {
                let p = Pattern::parse(text).map_err(|e| BuildError::BadPattern {
                    id: id.clone(),
                    reason: e.to_string(),
                })?;
                match indexable(&p) {
                    Some(k) => keys = k,
                    None => {
                        general = Some(CompiledPattern::from_pattern(&p).map_err(|e| {
                            BuildError::BadPattern {
                                id: id.clone(),
                                reason: e.to_string(),
                            }
                        })?);
                    }
                }
            }
        }
        let mut staged: Vec<Staged> = Vec::new();
        let mut left_out: Vec<String> = Vec::new();
        for (kind, value) in &keys {
            match stage(*kind, value) {
                Ok(s) => staged.push(s),
                Err(reason) => left_out.push(reason),
            }
        }
        if staged.is_empty() && !left_out.is_empty() {
            return Err(BuildError::BadValue {
                id: id.clone(),
                reason: left_out.swap_remove(0),
            });
        }
        for s in staged {
            match s {
                Staged::Domain(k) => self.domains.push((k, idx)),
                Staged::Ip(k) => self.ips.push((k, idx)),
                Staged::Cidr4(n, l) => self.cidr4.push((n, l, idx)),
                Staged::Cidr6(n, l) => self.cidr6.push((n, l, idx)),
                Staged::Url(k) => self.urls.push((k, idx)),
                Staged::Path(k) => self.paths.push((k, idx)),
                Staged::Hash(k) => self.hashes.push((k, idx)),
                Staged::Email(k) => self.emails.push((k, idx)),
            }
        }
        if let (Some(g), IndicatorSource::Pattern(text)) = (general, &input.source) {
            self.set.patterns.push(g);
            self.set.pattern_ind.push(idx);
            self.set.pattern_text.push(text);
        }
        // Metadata.
        let s = &mut self.set;
        match split_id(id) {
            Some((prefix, uuid)) => {
                let p = match self.prefix_ids.get(prefix) {
                    Some(&p) => p,
                    None => {
                        let p = s.id_prefixes.push(prefix);
                        s.id_raw.push(0);
                        self.prefix_ids.insert(prefix.to_string(), p);
                        p
                    }
                };
                s.id_prefix.push(p);
                s.id_uuid.push(uuid);
            }
            None => {
                let p = s.id_prefixes.push(id);
                s.id_raw.push(1);
                s.id_prefix.push(p);
                s.id_uuid.push([0; 16]);
            }
        }
        s.score.push(input.score);
        s.tlp.push(tlp_code(input.tlp));
        s.flags
            .push(if input.subdomains { FLAG_SUBDOMAINS } else { 0 });
        let mut items: Vec<u32> = Vec::new();
        for (names, bit) in [(&input.malware, 0), (&input.actors, ACTOR_BIT)] {
            for n in names {
                let i = match self.name_ids.get(n.as_str()) {
                    Some(&i) => i,
                    None => {
                        let i = s.names.push(n);
                        self.name_ids.insert(n.clone(), i);
                        i
                    }
                };
                if !items.contains(&(i | bit)) {
                    items.push(i | bit);
                }
            }
        }
        let c = match self.ctx_ids.get(&items) {
            Some(&c) => c,
            None => {
                let c = (s.ctx_offs.len() - 1) as u32;
                s.ctx_items.extend_from_slice(&items);
                s.ctx_offs.push(s.ctx_items.len() as u32);
                self.ctx_ids.insert(items, c);
                c
            }
        };
        s.ctx.push(c);
        Ok(Added {
            index: idx,
            left_out,
        })
    }

    /// Compiles the tables.
    pub fn build(self) -> Result<IndicatorSet, BuildError> {
        let mut s = self.set;
        s.domains = KeyTable::build(self.domains).map_err(BuildError::TooLarge)?;
        s.ips = KeyTable::build(self.ips).map_err(BuildError::TooLarge)?;
        s.urls = KeyTable::build(self.urls).map_err(BuildError::TooLarge)?;
        s.paths = KeyTable::build(self.paths).map_err(BuildError::TooLarge)?;
        s.hashes = KeyTable::build(self.hashes).map_err(BuildError::TooLarge)?;
        s.emails = KeyTable::build(self.emails).map_err(BuildError::TooLarge)?;
        s.cidr4 = CidrTable::build(self.cidr4);
        s.cidr6 = CidrTable::build(self.cidr6);
        Ok(s)
    }
}

enum Staged {
    Domain(Vec<u8>),
    Ip(Vec<u8>),
    Cidr4(u32, u8),
    Cidr6(u128, u8),
    Url(Vec<u8>),
    Path(Vec<u8>),
    Hash(Vec<u8>),
    Email(Vec<u8>),
}

fn stage(kind: ObservableKind, value: &str) -> Result<Staged, String> {
    Ok(match kind {
        ObservableKind::Domain => Staged::Domain(
            normalize_domain(value)
                .map_err(|e| e.to_string())?
                .into_bytes(),
        ),
        ObservableKind::Ipv4 | ObservableKind::Ipv6 => match IpNet::parse(value.trim()) {
            Some(IpNet::V4(a, 32)) => Staged::Ip(a.to_be_bytes().to_vec()),
            Some(IpNet::V4(a, l)) => Staged::Cidr4(mask4(a, l), l),
            Some(IpNet::V6(a, 128)) => Staged::Ip(a.to_be_bytes().to_vec()),
            Some(IpNet::V6(a, l)) => Staged::Cidr6(mask6(a, l), l),
            None => return Err(format!("`{value}` is not an IP address or CIDR block")),
        },
        ObservableKind::Url => {
            let n = normalize_url(value).map_err(|e| e.to_string())?;
            let mut k = Vec::new();
            url_key(n.as_bytes(), &mut k).ok_or("URL without host")?;
            Staged::Url(k)
        }
        ObservableKind::Email => Staged::Email(
            normalize_email(value)
                .map_err(|e| e.to_string())?
                .into_bytes(),
        ),
        ObservableKind::Md5
        | ObservableKind::Sha1
        | ObservableKind::Sha256
        | ObservableKind::Sha512 => {
            let mut d = [0u8; 64];
            let n = hex_digest(value.trim().as_bytes(), &mut d)
                .ok_or_else(|| format!("`{value}` is not a hex digest"))?;
            Staged::Hash(d[..n].to_vec())
        }
        ObservableKind::UrlPath => Staged::Path(path_key(value)?),
        ObservableKind::Asn => return Err("AS numbers are not matched against logs".into()),
    })
}

/// The table key of a URL path indicator: the path (and query) as [`url_key`] writes them for an observed URL,
/// with a directory's trailing `/` kept (the key of `/d/` is `/d/`, that of `/d` is `/d`).
pub fn path_key(value: &str) -> Result<Vec<u8>, String> {
    let p = normalize_url_path(value).map_err(|e| e.to_string())?;
    let mut k = Vec::new();
    url_key(format!("http://h{p}").as_bytes(), &mut k).ok_or("not a URL path")?;
    let mut key = k.split_off(b"http://h".len());
    if p.ends_with('/') && !key.ends_with(b"/") {
        key.push(b'/');
    }
    if key.is_empty() || key == b"/" {
        return Err(format!("`{value}` would match every request"));
    }
    Ok(key)
}

/// The (kind, value) keys of a pattern that the tables can answer exactly, or None when it needs evaluation.
fn indexable(p: &Pattern) -> Option<Vec<(ObservableKind, String)>> {
    if let Some(paths) = p.url_paths() {
        return Some(
            paths
                .into_iter()
                .map(|x| (ObservableKind::UrlPath, x))
                .collect(),
        );
    }
    let eqs = p.simple_equalities()?;
    eqs.into_iter()
        .map(|(path, v)| {
            // The model's reading of the path, so the matcher and the exports agree on every spelling of a hash
            // algorithm (`file:hashes.'SHA-256'`, `sha256`, `SHA_256`, `sha512` ...).
            let kind = ObservableKind::from_pattern_path(&path)?;
            // A hash of the wrong length under a hash path cannot be keyed by length: evaluate instead.
            let want = match kind {
                ObservableKind::Md5 => Some(32),
                ObservableKind::Sha1 => Some(40),
                ObservableKind::Sha256 => Some(64),
                ObservableKind::Sha512 => Some(128),
                _ => None,
            };
            if want.is_some_and(|w| v.len() != w) {
                return None;
            }
            Some((kind, v))
        })
        .collect()
}

pub(crate) fn tlp_code(t: Tlp) -> u8 {
    match t {
        Tlp::Clear => 0,
        Tlp::Green => 1,
        Tlp::Amber => 2,
        Tlp::AmberStrict => 3,
        Tlp::Red => 4,
    }
}

pub(crate) fn tlp_from_code(c: u8) -> Tlp {
    Tlp::ALL.get(c as usize).copied().unwrap_or(Tlp::Red)
}

/// Reusable per-thread buffers for lookups (so the hot path does not allocate).
#[derive(Debug, Default)]
pub struct Scratch {
    key: Vec<u8>,
    dir: Vec<u8>,
}

impl IndicatorSet {
    /// Number of indicators.
    pub fn len(&self) -> usize {
        self.score.len()
    }

    /// True when the set holds no indicator.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when some indicators need per-record STIX pattern evaluation.
    pub fn has_patterns(&self) -> bool {
        !self.patterns.is_empty()
    }

    /// STIX id of indicator `i`.
    pub fn id(&self, i: u32) -> String {
        let p = self.id_prefix.get(i as usize).copied().unwrap_or(0);
        let prefix = self.id_prefixes.get(p);
        if self.id_raw.get(p as usize) == Some(&1) {
            return prefix.to_string();
        }
        match self.id_uuid.get(i as usize) {
            Some(u) => format!("{prefix}--{}", fmt_uuid(u)),
            None => String::new(),
        }
    }

    /// Score of indicator `i` (0 when out of range).
    pub fn score(&self, i: u32) -> f32 {
        self.score.get(i as usize).copied().unwrap_or(0.0)
    }

    /// TLP of indicator `i` (RED when out of range).
    pub fn tlp(&self, i: u32) -> Tlp {
        tlp_from_code(self.tlp.get(i as usize).copied().unwrap_or(4))
    }

    /// Metadata of indicator `i`.
    pub fn meta(&self, i: u32) -> IndicatorMeta<'_> {
        let c = self.ctx.get(i as usize).copied().unwrap_or(0) as usize;
        let (a, b) = (
            self.ctx_offs.get(c).copied().unwrap_or(0),
            self.ctx_offs.get(c + 1).copied().unwrap_or(0),
        );
        let items = self.ctx_items.get(a as usize..b as usize).unwrap_or(&[]);
        IndicatorMeta {
            id: self.id(i),
            score: self.score(i),
            tlp: self.tlp(i),
            malware: items
                .iter()
                .filter(|&&x| x & ACTOR_BIT == 0)
                .map(|&x| self.names.get(x))
                .collect(),
            actors: items
                .iter()
                .filter(|&&x| x & ACTOR_BIT != 0)
                .map(|&x| self.names.get(x & !ACTOR_BIT))
                .collect(),
            subdomains: self
                .flags
                .get(i as usize)
                .is_some_and(|f| f & FLAG_SUBDOMAINS != 0),
        }
    }

    /// Counts and memory of the set.
    pub fn stats(&self) -> SetStats {
        let kt = |t: &KeyTable| {
            t.arena.capacity()
                + 4 * (t.offs.capacity()
                    + t.post.capacity()
                    + t.multi.capacity()
                    + t.slots.capacity())
        };
        let heap = self.id_uuid.capacity() * 16
            + 4 * self.id_prefix.capacity()
            + self.id_prefixes.arena.capacity()
            + 4 * self.id_prefixes.offs.capacity()
            + 4 * self.score.capacity()
            + self.tlp.capacity()
            + self.flags.capacity()
            + 4 * self.ctx.capacity()
            + self.names.arena.capacity()
            + 4 * (self.names.offs.capacity()
                + self.ctx_offs.capacity()
                + self.ctx_items.capacity())
            + kt(&self.domains)
            + kt(&self.ips)
            + kt(&self.urls)
            + kt(&self.paths)
            + kt(&self.hashes)
            + kt(&self.emails)
            + self.cidr4.start.capacity() * 13
            + 4 * (self.cidr4.post.capacity()
                + self.cidr4.first.capacity()
                + self.cidr4.multi.capacity())
            + self.cidr6.start.capacity() * 49
            + 4 * (self.cidr6.post.capacity() + self.cidr6.multi.capacity())
            + self.pattern_text.arena.capacity();
        SetStats {
            indicators: self.len(),
            domains: self.domains.len(),
            ips: self.ips.len(),
            cidr4_intervals: self.cidr4.start.len(),
            cidr6_intervals: self.cidr6.start.len(),
            urls: self.urls.len(),
            url_paths: self.paths.len(),
            hashes: self.hashes.len(),
            emails: self.emails.len(),
            patterns: self.patterns.len(),
            heap_bytes: heap,
        }
    }

    fn table(&self, t: Table) -> &KeyTable {
        match t {
            Table::Domains => &self.domains,
            Table::Ips => &self.ips,
            Table::Urls => &self.urls,
            Table::Paths => &self.paths,
            Table::Hashes => &self.hashes,
            Table::Emails => &self.emails,
        }
    }

    /// The indicator value that matched, in its normalised text form (the pattern text for general patterns).
    pub fn indicator_value(&self, m: &Match) -> String {
        match m.hit {
            HitRef::Key { table, key } => {
                let k = self.table(table).key(key as usize);
                match table {
                    Table::Ips => match k.len() {
                        4 => Ipv4Addr::from(<[u8; 4]>::try_from(k).unwrap_or_default()).to_string(),
                        16 => {
                            Ipv6Addr::from(<[u8; 16]>::try_from(k).unwrap_or_default()).to_string()
                        }
                        _ => String::new(),
                    },
                    Table::Hashes => k.iter().map(|b| format!("{b:02x}")).collect(),
                    // The root's key is its query alone (`url_key` drops the lone `/`); its value is `/?q`.
                    Table::Paths if k.first() == Some(&b'?') => {
                        format!("/{}", String::from_utf8_lossy(k))
                    }
                    _ => String::from_utf8_lossy(k).into_owned(),
                }
            }
            HitRef::Cidr4(i) => match (
                self.cidr4.net.get(i as usize),
                self.cidr4.len.get(i as usize),
            ) {
                (Some(&n), Some(&l)) => format!("{}/{l}", Ipv4Addr::from(n)),
                _ => String::new(),
            },
            HitRef::Cidr6(i) => match (
                self.cidr6.net.get(i as usize),
                self.cidr6.len.get(i as usize),
            ) {
                (Some(&n), Some(&l)) => format!("{}/{l}", Ipv6Addr::from(n)),
                _ => String::new(),
            },
            HitRef::Pattern(p) => self.pattern_text.get(p).to_string(),
        }
    }

    /// The contract `type` of a match; for a general pattern, the type of the field that triggered it.
    pub fn hit_type(&self, m: &Match, field_role: Role) -> HitType {
        match m.hit {
            HitRef::Key {
                table: Table::Domains,
                ..
            } => HitType::Domain,
            HitRef::Key {
                table: Table::Urls | Table::Paths,
                ..
            } => HitType::Url,
            HitRef::Key {
                table: Table::Emails,
                ..
            } => HitType::Email,
            HitRef::Key {
                table: Table::Ips,
                key,
            } => {
                if self.ips.key(key as usize).len() == 4 {
                    HitType::Ipv4
                } else {
                    HitType::Ipv6
                }
            }
            HitRef::Key {
                table: Table::Hashes,
                key,
            } => match self.hashes.key(key as usize).len() {
                16 => HitType::Md5,
                20 => HitType::Sha1,
                32 => HitType::Sha256,
                _ => HitType::Sha512,
            },
            HitRef::Cidr4(_) | HitRef::Cidr6(_) => HitType::Cidr,
            HitRef::Pattern(_) => match field_role {
                Role::Domain | Role::Answer => HitType::Domain,
                Role::Url => HitType::Url,
                Role::Email => HitType::Email,
                Role::Hash => HitType::Sha256,
                _ => HitType::Ipv4,
            },
        }
    }

    fn push_key(&self, table: Table, key: u32, require_subdomains: bool, out: &mut Vec<Match>) {
        let t = self.table(table);
        for &ind in t.postings(key) {
            if require_subdomains
                && self
                    .flags
                    .get(ind as usize)
                    .is_none_or(|f| f & FLAG_SUBDOMAINS == 0)
            {
                continue;
            }
            out.push(Match {
                indicator: ind,
                hit: HitRef::Key { table, key },
            });
        }
    }

    /// Looks a field value up with the strategy of its role, appending every indicator it matches to `out`.
    /// Ports and protocols match nothing.
    #[inline]
    pub fn lookup(&self, role: Role, value: &[u8], scratch: &mut Scratch, out: &mut Vec<Match>) {
        match role {
            Role::Domain => self.lookup_domain(value, scratch, out),
            Role::Ip | Role::SrcIp | Role::DstIp => {
                self.lookup_ip(value, out);
            }
            Role::Answer => {
                if !self.lookup_ip(value, out) {
                    self.lookup_domain(value, scratch, out)
                }
            }
            Role::Url => self.lookup_url(value, scratch, out),
            Role::Hash => {
                if self.hashes.len() == 0 {
                    return;
                }
                let mut d = [0u8; 64];
                if let Some(n) = hex_digest(value, &mut d) {
                    if let Some(k) = self.hashes.find(&d[..n]) {
                        self.push_key(Table::Hashes, k, false, out);
                    }
                }
            }
            Role::Email => {
                if self.emails.len() == 0 {
                    return;
                }
                let v = trim_ascii(value);
                let v = v.strip_prefix(b"<").unwrap_or(v);
                let v = v.strip_suffix(b">").unwrap_or(v);
                let Some(at) = memchr::memrchr(b'@', v) else {
                    return;
                };
                let k = &mut scratch.key;
                k.clear();
                k.extend_from_slice(&v[..at + 1]);
                k.extend(v[at + 1..].iter().map(u8::to_ascii_lowercase));
                if let Some(key) = self.emails.find(k) {
                    self.push_key(Table::Emails, key, false, out);
                }
            }
            Role::SrcPort | Role::DstPort | Role::Proto => {}
        }
    }

    /// True when `value` was an IP address (whether or not it matched).
    #[inline]
    fn lookup_ip(&self, value: &[u8], out: &mut Vec<Match>) -> bool {
        let value = trim_ascii(value);
        if let Some(a) = parse_ipv4(value) {
            if self.ips.len() > 0 {
                if let Some(k) = self.ips.find(&a.to_be_bytes()) {
                    self.push_key(Table::Ips, k, false, out);
                    return true;
                }
            }
            if let Some(i) = self.cidr4.find(a) {
                for &ind in postings(&self.cidr4.post[i], &self.cidr4.multi) {
                    out.push(Match {
                        indicator: ind,
                        hit: HitRef::Cidr4(i as u32),
                    });
                }
            }
            return true;
        }
        if value.contains(&b':') {
            if let Some(a) = parse_ipv6(value) {
                if let Some(k) = self.ips.find(&a.to_be_bytes()) {
                    self.push_key(Table::Ips, k, false, out);
                    return true;
                }
                if let Some(i) = self.cidr6.find(a) {
                    for &ind in postings(&self.cidr6.post[i], &self.cidr6.multi) {
                        out.push(Match {
                            indicator: ind,
                            hit: HitRef::Cidr6(i as u32),
                        });
                    }
                }
                return true;
            }
        }
        false
    }

    #[inline]
    fn lookup_domain(&self, value: &[u8], scratch: &mut Scratch, out: &mut Vec<Match>) {
        let v = trim_ascii(value);
        if v.first().is_some_and(|c| c.is_ascii_digit() || *c == b'[') && self.lookup_ip(v, out) {
            return;
        }
        if self.domains.len() == 0 {
            return;
        }
        let k = &mut scratch.key;
        if !domain_key(v, k) {
            return;
        }
        if let Some(key) = self.domains.find(k) {
            self.push_key(Table::Domains, key, false, out);
        }
        // Parent suffixes with at least two labels: only subdomain-mode indicators match them.
        let mut at = 0;
        while let Some(dot) = memchr::memchr(b'.', &k[at..]) {
            let suffix = &k[at + dot + 1..];
            if !suffix.contains(&b'.') {
                break;
            }
            if let Some(key) = self.domains.find(suffix) {
                self.push_key(Table::Domains, key, true, out);
            }
            at += dot + 1;
        }
    }

    #[inline]
    fn lookup_url(&self, value: &[u8], scratch: &mut Scratch, out: &mut Vec<Match>) {
        if self.urls.len() == 0 && self.paths.len() == 0 {
            return;
        }
        let k = &mut scratch.key;
        let Some(before_query) = url_key(value, k) else {
            return;
        };
        if self.paths.len() != 0 {
            self.lookup_path(k, before_query, &mut scratch.dir, out);
        }
        if self.urls.len() == 0 {
            return;
        }
        if let Some(key) = self.urls.find(k) {
            self.push_key(Table::Urls, key, false, out);
            return;
        }
        if before_query < k.len() {
            if let Some(key) = self.urls.find(&k[..before_query]) {
                self.push_key(Table::Urls, key, false, out);
            }
        }
    }

    /// URL path indicators for an observed URL's key `k` (from [`url_key`]): the path with its query, without
    /// it, then every directory that holds it (`/a/`, `/a/b/` for `/a/b`) and the path itself as a directory.
    /// The keys tried are all different, so no indicator is reported twice.
    fn lookup_path(&self, k: &[u8], before_query: usize, dir: &mut Vec<u8>, out: &mut Vec<Match>) {
        let after_scheme = memchr::memmem::find(k, b"://").map_or(0, |i| i + 3);
        // No `/` before the query: the path is the root, which `url_key` writes as nothing (`h/?q` -> `h?q`).
        let start = k
            .get(after_scheme..before_query)
            .and_then(|a| memchr::memchr(b'/', a))
            .map_or(before_query, |i| after_scheme + i);
        if before_query < k.len() {
            if let Some(key) = self.paths.find(&k[start..]) {
                self.push_key(Table::Paths, key, false, out);
            }
        }
        let path = &k[start..before_query];
        if let Some(key) = self.paths.find(path) {
            self.push_key(Table::Paths, key, false, out);
        }
        for i in memchr::memchr_iter(b'/', path).skip(1) {
            if let Some(key) = self.paths.find(&path[..=i]) {
                self.push_key(Table::Paths, key, false, out);
            }
        }
        dir.clear();
        dir.extend_from_slice(path);
        dir.push(b'/');
        if let Some(key) = self.paths.find(dir) {
            self.push_key(Table::Paths, key, false, out);
        }
    }

    /// General patterns: (pattern number, indicator, compiled pattern).
    pub(crate) fn general_patterns(&self) -> impl Iterator<Item = (u32, u32, &CompiledPattern)> {
        self.patterns
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i as u32, *self.pattern_ind.get(i)?, p)))
    }

    /// Checks every invariant lookups rely on; used after loading a snapshot so a crafted file cannot cause
    /// out-of-range reads.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let n = self.score.len();
        if self.id_uuid.len() != n
            || self.id_prefix.len() != n
            || self.tlp.len() != n
            || self.flags.len() != n
            || self.ctx.len() != n
        {
            return Err("per-indicator columns differ in length".into());
        }
        let n32 = n as u32;
        self.id_prefixes.validate()?;
        self.names.validate()?;
        self.pattern_text.validate()?;
        if self.id_raw.len() != self.id_prefixes.len()
            || any_of(&self.id_prefix, |p| p as usize >= self.id_prefixes.len())
        {
            return Err("id prefix out of range".into());
        }
        // Reductions without early exit (see `any_of`).
        if any_of(&self.score, |s| !(0.0..=100.0).contains(&s)) || any_of(&self.tlp, |t| t > 4) {
            return Err("score or TLP out of range".into());
        }
        let nctx = self.ctx_offs.len().saturating_sub(1);
        if self.ctx_offs.first() != Some(&0)
            || descends(&self.ctx_offs)
            || self.ctx_offs.last().map(|&x| x as usize) != Some(self.ctx_items.len())
            || any_of(&self.ctx, |c| c as usize >= nctx.max(1))
            || any_of(&self.ctx_items, |x| {
                (x & !ACTOR_BIT) as usize >= self.names.len()
            })
        {
            return Err("context table invalid".into());
        }
        for t in [
            &self.domains,
            &self.ips,
            &self.urls,
            &self.paths,
            &self.hashes,
            &self.emails,
        ] {
            t.validate(n32)?;
        }
        self.cidr4.validate(n32)?;
        self.cidr6.validate(n32)?;
        if self.pattern_ind.len() != self.patterns.len()
            || self.pattern_text.len() != self.patterns.len()
            || self.pattern_ind.iter().any(|&i| i >= n32)
        {
            return Err("pattern table invalid".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(kind: ObservableKind, v: &str) -> IndicatorSource {
        IndicatorSource::Observable(Observable::new(kind, v).expect("valid"))
    }

    fn set(inputs: &[IndicatorInput]) -> IndicatorSet {
        let mut b = IndicatorSetBuilder::new();
        for i in inputs {
            b.add(i).expect("adds");
        }
        b.build().expect("builds")
    }

    fn hits(s: &IndicatorSet, role: Role, v: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        s.lookup(role, v.as_bytes(), &mut Scratch::default(), &mut out);
        out.iter()
            .map(|m| (s.id(m.indicator), s.indicator_value(m)))
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 5000, ..Default::default() })]

        #[test]
        fn url_escaping_agrees_with_the_byte_version(
            v in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::any::<u8>(),
                    proptest::sample::select(b"%%%2fF7e-aZ0~_. :/?#[]@!$&'()*+,;=\"<>{}|^`".to_vec()),
                ],
                0..40,
            ),
        ) {
            let (mut a, mut b) = (b"x".to_vec(), b"x".to_vec());
            push_escaped(&v, &mut a);
            push_escaped_bytes(&v, &mut b);
            proptest::prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn url_escaping_edge_cases() {
        for v in [
            "",
            "%",
            "%4",
            "%41",
            "%2F",
            "%2f",
            "%7E",
            "%zz",
            "a%41b%",
            "/a b/%C3%A9?x=1&y=%3D",
            "é",
        ] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            push_escaped(v.as_bytes(), &mut a);
            push_escaped_bytes(v.as_bytes(), &mut b);
            assert_eq!(a, b, "{v:?}");
        }
    }

    #[test]
    fn set_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<IndicatorSet>();
    }

    #[test]
    fn domains_are_label_aware() {
        let mut sub = IndicatorInput::new(
            "indicator--00000000-0000-4000-8000-000000000001",
            obs(ObservableKind::Domain, "evil.com"),
        );
        sub.subdomains = true;
        let exact = IndicatorInput::new(
            "indicator--00000000-0000-4000-8000-000000000002",
            obs(ObservableKind::Domain, "exact.org"),
        );
        let s = set(&[sub, exact]);
        assert_eq!(hits(&s, Role::Domain, "evil.com").len(), 1);
        assert_eq!(hits(&s, Role::Domain, "A.B.Evil.COM.").len(), 1);
        assert_eq!(hits(&s, Role::Domain, "evil.com:8080").len(), 1);
        assert!(hits(&s, Role::Domain, "notevil.com").is_empty());
        assert!(hits(&s, Role::Domain, "evil.com.example.org").is_empty());
        assert_eq!(hits(&s, Role::Domain, "exact.org").len(), 1);
        assert!(hits(&s, Role::Domain, "www.exact.org").is_empty());
        assert_eq!(s.id(0), "indicator--00000000-0000-4000-8000-000000000001");
    }

    #[test]
    fn longest_prefix_wins() {
        let s = set(&[
            IndicatorInput::new("a", obs(ObservableKind::Ipv4, "10.0.0.0/8")),
            IndicatorInput::new("b", obs(ObservableKind::Ipv4, "10.1.0.0/16")),
            IndicatorInput::new("c", obs(ObservableKind::Ipv4, "10.1.2.3")),
            IndicatorInput::new("d", obs(ObservableKind::Ipv6, "2001:db8::/32")),
        ]);
        assert_eq!(
            hits(&s, Role::Ip, "10.9.9.9"),
            vec![("a".into(), "10.0.0.0/8".into())]
        );
        assert_eq!(
            hits(&s, Role::Ip, "10.1.9.9"),
            vec![("b".into(), "10.1.0.0/16".into())]
        );
        assert_eq!(
            hits(&s, Role::Ip, "10.1.2.3"),
            vec![("c".into(), "10.1.2.3".into())]
        );
        assert_eq!(
            hits(&s, Role::Ip, "10.2.0.0"),
            vec![("a".into(), "10.0.0.0/8".into())]
        );
        assert!(hits(&s, Role::Ip, "11.0.0.0").is_empty());
        assert!(hits(&s, Role::Ip, "9.255.255.255").is_empty());
        assert_eq!(hits(&s, Role::Ip, "2001:db8:1::5").len(), 1);
        assert!(hits(&s, Role::Ip, "2001:db9::1").is_empty());
    }

    #[test]
    fn url_paths_match_on_any_host() {
        let s = set(&[
            IndicatorInput::new("f", obs(ObservableKind::UrlPath, "/x.apk")),
            IndicatorInput::new("d", obs(ObservableKind::UrlPath, "/wp-includes/nOmd/")),
            IndicatorInput::new("q", obs(ObservableKind::UrlPath, "/g.php?id=1")),
            IndicatorInput::new("e", obs(ObservableKind::UrlPath, "/Aarogya%20Setu.apk")),
            IndicatorInput::new("r", obs(ObservableKind::UrlPath, "/?neosp")),
            IndicatorInput::new(
                "p",
                IndicatorSource::Pattern(
                    Observable::new(ObservableKind::UrlPath, "/in.php")
                        .expect("valid")
                        .to_pattern(),
                ),
            ),
            IndicatorInput::new("u", obs(ObservableKind::Url, "http://evil.com/x.apk")),
        ]);
        assert!(!s.has_patterns(), "the path pattern goes to the table");
        assert_eq!(s.stats().url_paths, 6);
        let ids = |v: &str| {
            let mut h: Vec<String> = hits(&s, Role::Url, v).into_iter().map(|x| x.0).collect();
            h.sort();
            h
        };
        assert_eq!(ids("http://a.example/x.apk"), ["f"]);
        assert_eq!(ids("https://B.example:8443/x.apk/?v=2"), ["f"]);
        assert_eq!(ids("http://evil.com/x.apk"), ["f", "u"]);
        assert!(ids("http://a.example/x.apk2").is_empty());
        assert!(
            ids("http://a.example/dir/x.apk").is_empty(),
            "a file path is whole"
        );
        assert!(
            ids("http://a.example/X.apk").is_empty(),
            "paths keep their case"
        );
        assert_eq!(ids("http://a.example/wp-includes/nOmd"), ["d"]);
        assert_eq!(ids("http://a.example/wp-includes/nOmd/"), ["d"]);
        assert_eq!(ids("http://a.example/wp-includes/nOmd/a/b.exe?x"), ["d"]);
        assert!(ids("http://a.example/wp-includes/nOmdX/a").is_empty());
        assert!(ids("http://a.example/wp-includes/").is_empty());
        assert_eq!(ids("http://a.example/g.php?id=1"), ["q"]);
        assert_eq!(ids("http://a.example/g.php/?id=1"), ["q"]);
        assert!(ids("http://a.example/g.php?id=12").is_empty());
        assert!(ids("http://a.example/g.php").is_empty());
        assert_eq!(ids("http://a.example/Aarogya%20Setu.apk"), ["e"]);
        assert_eq!(ids("http://a.example/in.php?a=b"), ["p"]);
        assert_eq!(ids("http://a.example/?neosp"), ["r"]);
        assert_eq!(
            hits(&s, Role::Url, "http://a.example/?neosp")[0].1,
            "/?neosp"
        );
        assert_eq!(ids("http://a.example?neosp"), ["r"]);
        assert!(ids("http://a.example/?neosp2").is_empty());
        assert!(ids("http://a.example/x/?neosp").is_empty());
        assert_eq!(
            hits(&s, Role::Url, "http://a.example/wp-includes/nOmd/z"),
            [("d".to_string(), "/wp-includes/nOmd/".to_string())],
            "the value reported is the path indicator's"
        );
        for bad in ["/", "", "x.apk"] {
            assert!(path_key(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]

        /// The path table answers as the STIX evaluator answers the pattern's regular expression, for URLs in
        /// canonical form (the table also matches other escapings of the same path; the expression does not).
        #[test]
        fn path_table_agrees_with_the_pattern(
            trail in proptest::sample::select(vec![
                "/a", "/a/", "/a/b.php", "/a/b/", "/a.php?x=1", "/a/?x=1", "/a+b(1).txt", "/a/b/c", "/?x=1",
            ]),
            host in proptest::sample::select(vec!["h.example", "H.example:8080", "1.2.3.4"]),
            scheme in proptest::sample::select(vec!["http", "https", "ftp"]),
            path in proptest::collection::vec(
                proptest::sample::select(vec!["a", "b", "b.php", "a.php", "c", "a+b(1).txt", ""]), 1..4),
            slash in proptest::bool::ANY,
            query in proptest::option::of(proptest::sample::select(vec!["x=1", "x=2", ""])),
        ) {
            let o = Observable::new(ObservableKind::UrlPath, trail).expect("valid");
            let s = set(&[IndicatorInput::new("t", obs(ObservableKind::UrlPath, trail))]);
            let mut url = format!("{scheme}://{host}/{}", path.join("/"));
            if slash && !url.ends_with('/') {
                url.push('/');
            }
            if let Some(q) = query {
                url.push('?');
                url.push_str(q);
            }
            let table = !hits(&s, Role::Url, &url).is_empty();
            let p = crate::stix::CompiledPattern::compile(&o.to_pattern()).expect("compiles");
            let ob = crate::stix::Observation::from_stix(&[serde_json::json!({"type": "url", "id": "url--1", "value": url})]);
            proptest::prop_assert_eq!(table, p.matches(&ob), "{} on {}", trail, url);
        }
    }

    #[test]
    fn urls_hashes_emails_and_patterns() {
        let s = set(&[
            IndicatorInput::new("u", obs(ObservableKind::Url, "http://Evil.com/gate.php")),
            IndicatorInput::new(
                "h",
                obs(ObservableKind::Md5, "D41D8CD98F00B204E9800998ECF8427E"),
            ),
            IndicatorInput::new("e", obs(ObservableKind::Email, "Bad@Evil.com")),
            IndicatorInput::new(
                "p",
                IndicatorSource::Pattern("[domain-name:value LIKE '%.bad.example']".into()),
            ),
            IndicatorInput::new(
                "q",
                IndicatorSource::Pattern(
                    "[url:value = 'http://x.org/a/' OR domain-name:value = 'y.org']".into(),
                ),
            ),
        ]);
        assert_eq!(
            hits(&s, Role::Url, "HTTP://EVIL.COM:80/gate.php?id=1").len(),
            1
        );
        assert_eq!(hits(&s, Role::Url, "http://evil.com/gat%65.php").len(), 1);
        assert!(hits(&s, Role::Url, "http://evil.com/gate.php2").is_empty());
        assert_eq!(
            hits(&s, Role::Hash, "d41d8cd98f00b204e9800998ecf8427e").len(),
            1
        );
        assert_eq!(hits(&s, Role::Email, "<Bad@EVIL.com>").len(), 1);
        assert!(hits(&s, Role::Email, "bad@evil.co").is_empty());
        assert_eq!(hits(&s, Role::Url, "http://x.org/a").len(), 1);
        assert_eq!(hits(&s, Role::Domain, "Y.org").len(), 1);
        assert!(s.has_patterns());
        assert_eq!(s.stats().patterns, 1);
    }

    #[test]
    fn every_spelling_of_a_hash_algorithm_is_keyed() {
        let (md5, sha1, sha256, sha512) = (
            "a".repeat(32),
            "b".repeat(40),
            "c".repeat(64),
            "d".repeat(128),
        );
        let s = set(&[
            IndicatorInput::new(
                "1",
                IndicatorSource::Pattern(format!("[file:hashes.sha512 = '{sha512}']")),
            ),
            IndicatorInput::new(
                "2",
                IndicatorSource::Pattern(format!(
                    "[file:hashes.SHA_256 = '{}']",
                    sha256.to_uppercase()
                )),
            ),
            IndicatorInput::new(
                "3",
                IndicatorSource::Pattern(format!("[file:hashes.'sha-1' = '{sha1}']")),
            ),
            IndicatorInput::new(
                "4",
                IndicatorSource::Pattern(format!("[file:hashes.Md5 = '{md5}']")),
            ),
        ]);
        // All four in the hash table, none left to per-record evaluation (which compares algorithm names as
        // written and would miss them).
        assert!(!s.has_patterns());
        for (h, id) in [(&sha512, "1"), (&sha256, "2"), (&sha1, "3"), (&md5, "4")] {
            assert_eq!(
                hits(&s, Role::Hash, h),
                vec![(id.to_string(), h.to_string())]
            );
        }
    }

    #[test]
    fn url_keys() {
        let k = |s: &str| {
            let mut v = Vec::new();
            url_key(s.as_bytes(), &mut v).map(|_| String::from_utf8(v).expect("ascii"))
        };
        assert_eq!(
            k("HTTP://Example.COM:80/"),
            Some("http://example.com".into())
        );
        assert_eq!(
            k("https://example.com:443/a/"),
            Some("https://example.com/a".into())
        );
        assert_eq!(
            k("https://example.com:8443/a%2fb%7e?q=%41#frag"),
            Some("https://example.com:8443/a%2Fb~?q=A".into())
        );
        assert_eq!(
            k("example.com/a b"),
            Some("http://example.com/a%20b".into())
        );
        assert_eq!(
            k("http://user:pw@[2001:db8::1]:80/x"),
            Some("http://[2001:db8::1]/x".into())
        );
        assert_eq!(k("http:///x"), None);
    }

    #[test]
    fn rejects_bad_input_without_side_effects() {
        let mut b = IndicatorSetBuilder::new();
        assert!(b
            .add(&IndicatorInput::new(
                "x",
                IndicatorSource::Pattern("[bad".into())
            ))
            .is_err());
        assert!(b
            .add(&IndicatorInput::new(
                "",
                obs(ObservableKind::Domain, "a.com")
            ))
            .is_err());
        let mut i = IndicatorInput::new("x", obs(ObservableKind::Domain, "a.com"));
        i.score = 101.0;
        assert!(b.add(&i).is_err());
        assert!(b
            .add(&IndicatorInput::new(
                "x",
                IndicatorSource::Pattern("[domain-name:value = 'not a domain']".into())
            ))
            .is_err());
        assert!(b.is_empty());
        // Every value of an OR invalid: rejected whole, naming the first.
        let e = b
            .add(&IndicatorInput::new(
                "x",
                IndicatorSource::Pattern(
                    "[domain-name:value = 'a b.example' OR ipv4-addr:value = '300.1.1.1']".into(),
                ),
            ))
            .expect_err("nothing valid to hunt");
        assert!(e.to_string().contains("a b.example"), "{e}");
        assert!(b.is_empty());
    }

    #[test]
    fn an_or_keeps_its_valid_values_and_names_the_invalid_ones() {
        // OASIS's poisonivy.json example, shaped: a name with a space beside a valid address.
        let mut b = IndicatorSetBuilder::new();
        let a = b
            .add_reporting(&IndicatorInput::new(
                "indicator--p",
                IndicatorSource::Pattern(
                    "[domain-name:value = 'domain autuo.xicp.net' OR ipv4-addr:value = '60.10.1.115' \
                     OR domain-name:value = 'ok.example']"
                        .into(),
                ),
            ))
            .expect("the valid values are kept");
        assert_eq!(a.index, 0);
        assert_eq!(a.left_out.len(), 1, "{:?}", a.left_out);
        assert!(
            a.left_out[0].contains("domain autuo.xicp.net"),
            "{:?}",
            a.left_out
        );
        let all_valid = b
            .add_reporting(&IndicatorInput::new(
                "indicator--q",
                IndicatorSource::Pattern("[ipv4-addr:value = '198.51.100.7']".into()),
            ))
            .expect("adds");
        assert!(all_valid.left_out.is_empty());
        let s = b.build().expect("builds");
        assert_eq!(
            hits(&s, Role::Ip, "60.10.1.115"),
            vec![("indicator--p".to_string(), "60.10.1.115".to_string())]
        );
        assert_eq!(hits(&s, Role::Domain, "ok.example").len(), 1);
        assert!(hits(&s, Role::Domain, "autuo.xicp.net").is_empty());
        assert!(hits(&s, Role::Domain, "domain autuo.xicp.net").is_empty());
    }
}
