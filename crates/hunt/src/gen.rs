//! A deterministic (seeded) generator of Zeek JSON, Zeek TSV and Suricata EVE logs with planted hits and
//! near-misses, returning the exact hits a correct hunt must report. Used by the correctness tests and the
//! benchmark.
//!
//! Planted indicators ([`Plant`]): subdomain-mode domains `evilN.com`, exact domains `exactN.net`, IPv4
//! addresses in 100.64.0.0/10 (even last octet), IPv4 /24 blocks in 198.18.0.0/15 (every fourth /24),
//! IPv6 addresses in 2001:db8:bad::/48, URLs `http://badN.org/gateN.php`, and MD5/SHA-1/SHA-256 digests.
//! Near-misses that must NOT hit: `notevilN.com`, `evilN.com.example.org`, `www.exactN.net`, the odd neighbour
//! of a planted address, the addresses just below and just above a planted block, `gateN.php5` paths, and
//! indicator values inside user agents, referrers and file names. Benign traffic uses random names under
//! `.example`-style domains and addresses outside the planted ranges.

use std::io::{self, Write};

use vigil_model::{Observable, ObservableKind, Tlp};

use crate::set::{HitType, IndicatorInput, IndicatorSource};

/// SplitMix64: small, fast, and identical on every platform (the output must not depend on a crate version).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// Lower-case hex of `n` bytes.
    pub fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n * 2);
        while s.len() < n * 2 {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(n * 2);
        s
    }
    fn label(&mut self, min: usize, max: usize) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let n = min + self.below((max - min + 1) as u64) as usize;
        (0..n)
            .map(|_| A[self.below(A.len() as u64) as usize] as char)
            .collect()
    }
}

/// The planted indicator universe.
#[derive(Debug, Clone)]
pub struct Plant {
    /// Indicators to build the set from (ids `indicator--...` deterministic).
    pub indicators: Vec<IndicatorInput>,
    n: usize,
    md5: Vec<String>,
    sha1: Vec<String>,
    sha256: Vec<String>,
}

/// A generated log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenFormat {
    /// Zeek JSON (mixed dns/http/ssl/conn/files lines).
    ZeekJson,
    /// Zeek TSV (segments of one log type each, each with its header block).
    ZeekTsv,
    /// Suricata EVE (dns v2, http, tls, flow, fileinfo, alert).
    Eve,
}

/// Generation settings.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Format.
    pub format: GenFormat,
    /// Seed.
    pub seed: u64,
    /// Data lines to write (headers not counted).
    pub lines: u64,
    /// Probability that a line carries a planted hit.
    pub hit_rate: f64,
    /// Probability that a line carries a near-miss.
    pub near_miss_rate: f64,
}

/// A hit a correct hunt reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExpectedHit {
    /// 1-based line.
    pub line: u64,
    /// Indicator id.
    pub indicator_id: String,
    /// Field name as the hunt reports it.
    pub field: String,
    /// Observed value.
    pub observed: String,
    /// Hit type.
    pub kind: HitType,
}

fn id(kind: usize, i: usize) -> String {
    format!("indicator--{:08x}-0000-4000-8000-{:012x}", kind, i)
}

impl Plant {
    /// `n` indicators of each planted kind, deterministic in `seed`.
    pub fn new(seed: u64, n: usize) -> Plant {
        let n = n.clamp(1, 250);
        let mut rng = Rng::new(seed ^ 0xA11CE);
        let mut p = Plant {
            indicators: Vec::new(),
            n,
            md5: Vec::new(),
            sha1: Vec::new(),
            sha256: Vec::new(),
        };
        for _ in 0..n {
            p.md5.push(rng.hex(16));
            p.sha1.push(rng.hex(20));
            p.sha256.push(rng.hex(32));
        }
        let add = |kind: usize, i: usize, ok: ObservableKind, v: String, sub: bool| {
            let mut inp = IndicatorInput::new(
                id(kind, i),
                IndicatorSource::Observable(
                    Observable::new(ok, &v).unwrap_or(Observable { kind: ok, value: v }),
                ),
            );
            inp.subdomains = sub;
            inp.malware = vec![format!("family{}", i % 7)];
            if i.is_multiple_of(3) {
                inp.actors = vec![format!("actor{}", i % 5)];
            }
            inp.tlp = if i.is_multiple_of(2) {
                Tlp::Green
            } else {
                Tlp::Amber
            };
            inp.score = 40.0 + (i % 60) as f32;
            inp
        };
        for i in 0..n {
            let v = vec![
                add(0, i, ObservableKind::Domain, format!("evil{i}.com"), true),
                add(1, i, ObservableKind::Domain, format!("exact{i}.net"), false),
                add(
                    2,
                    i,
                    ObservableKind::Ipv4,
                    format!("100.64.{}.{}", i / 100, (i % 100) * 2),
                    false,
                ),
                add(
                    3,
                    i,
                    ObservableKind::Ipv4,
                    format!("198.{}.{}.0/24", 18 + (i * 4) / 256, (i * 4) % 256),
                    false,
                ),
                add(
                    4,
                    i,
                    ObservableKind::Ipv6,
                    format!("2001:db8:bad::{:x}", i * 2 + 2),
                    false,
                ),
                add(
                    5,
                    i,
                    ObservableKind::Url,
                    format!("http://bad{i}.org/gate{i}.php"),
                    false,
                ),
                add(6, i, ObservableKind::Md5, p.md5[i].clone(), false),
                add(7, i, ObservableKind::Sha1, p.sha1[i].clone(), false),
                add(8, i, ObservableKind::Sha256, p.sha256[i].clone(), false),
            ];
            p.indicators.extend(v);
        }
        p
    }

    /// Every planted value as text (the benchmark feeds them to ripgrep).
    pub fn values(&self) -> Vec<String> {
        self.indicators
            .iter()
            .filter_map(|i| match &i.source {
                IndicatorSource::Observable(o) => Some(o.value.clone()),
                IndicatorSource::Pattern(_) => None,
            })
            .collect()
    }
}

/// One generated event, before rendering.
#[derive(Debug, Clone, Default)]
struct Ev {
    kind: EvKind,
    src: String,
    dst: String,
    sport: u16,
    dport: u16,
    query: String,
    answers: Vec<String>,
    host: String,
    uri: String,
    ua: String,
    referrer: String,
    sni: String,
    md5: String,
    sha1: String,
    sha256: String,
    filename: String,
    /// (role slot, indicator id, hit type) of planted values; the slot names the event field.
    planted: Vec<(Slot, String, HitType)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum EvKind {
    #[default]
    Dns,
    Http,
    Tls,
    Conn,
    Files,
    Alert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Query,
    Answer(usize),
    Host,
    Url,
    Sni,
    Dst,
    Md5,
    Sha1,
    Sha256,
}

fn benign_ip(rng: &mut Rng) -> String {
    const FIRST: [u8; 8] = [23, 34, 52, 104, 142, 151, 157, 185];
    format!(
        "{}.{}.{}.{}",
        FIRST[rng.below(8) as usize],
        rng.below(256),
        rng.below(256),
        1 + rng.below(254)
    )
}

fn internal_ip(rng: &mut Rng) -> String {
    format!(
        "10.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        1 + rng.below(254)
    )
}

fn benign_domain(rng: &mut Rng) -> String {
    const TLD: [&str; 6] = [
        "example.com",
        "example.net",
        "example.org",
        "test",
        "cdn.example",
        "invalid",
    ];
    let d = format!("{}.{}", rng.label(3, 12), TLD[rng.below(6) as usize]);
    if rng.chance(0.3) {
        format!("{}.{}", rng.label(2, 6), d)
    } else {
        d
    }
}

const UAS: [&str; 3] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "curl/8.5.0",
    "Microsoft-CryptoAPI/10.0",
];

fn make_event(rng: &mut Rng, plant: &Plant, cfg: &GenConfig, kind: EvKind) -> Ev {
    let mut e = Ev {
        kind,
        src: internal_ip(rng),
        dst: benign_ip(rng),
        sport: 1024 + rng.below(60000) as u16,
        ..Ev::default()
    };
    match kind {
        EvKind::Dns => {
            e.dport = 53;
            e.dst = format!("10.0.0.{}", 1 + rng.below(3));
            e.query = benign_domain(rng);
            e.answers = vec![benign_ip(rng)];
        }
        EvKind::Http => {
            e.dport = 80;
            e.host = benign_domain(rng);
            e.uri = format!(
                "/{}/{}.html?id={}",
                rng.label(2, 8),
                rng.label(3, 10),
                rng.below(100000)
            );
            e.ua = UAS[rng.below(3) as usize].to_string();
            e.referrer = format!("http://{}/", benign_domain(rng));
        }
        EvKind::Tls => {
            e.dport = 443;
            e.sni = benign_domain(rng);
        }
        EvKind::Conn | EvKind::Alert => {
            e.dport = [22u16, 80, 443, 445, 3389][rng.below(5) as usize]
        }
        EvKind::Files => {
            e.md5 = rng.hex(16);
            e.sha1 = rng.hex(20);
            e.sha256 = rng.hex(32);
            e.filename = format!("{}.exe", rng.label(4, 10));
        }
    }
    let n = plant.n as u64;
    if rng.chance(cfg.hit_rate) {
        let i = rng.below(n) as usize;
        let roll = rng.below(10);
        match kind {
            EvKind::Dns => match roll {
                0..=3 => {
                    e.query = match rng.below(3) {
                        0 => format!("evil{i}.com"),
                        1 => format!("{}.evil{i}.com", rng.label(1, 8)),
                        _ => format!("A{}.Evil{i}.COM", rng.below(9)),
                    };
                    e.planted.push((Slot::Query, id(0, i), HitType::Domain));
                }
                4..=5 => {
                    e.query = format!("exact{i}.net");
                    e.planted.push((Slot::Query, id(1, i), HitType::Domain));
                }
                6..=7 => {
                    e.answers = vec![
                        format!("cname{}.example.net", rng.below(99)),
                        format!("100.64.{}.{}", i / 100, (i % 100) * 2),
                    ];
                    e.planted.push((Slot::Answer(1), id(2, i), HitType::Ipv4));
                }
                _ => {
                    e.answers.push(format!("2001:db8:bad::{:x}", i * 2 + 2));
                    e.planted.push((Slot::Answer(1), id(4, i), HitType::Ipv6));
                }
            },
            EvKind::Http => {
                if roll < 6 {
                    e.host = format!("bad{i}.org");
                    e.uri = if rng.chance(0.5) {
                        format!("/gate{i}.php?guid={}", rng.hex(4))
                    } else {
                        format!("/gate{i}.php")
                    };
                    e.planted.push((Slot::Url, id(5, i), HitType::Url));
                } else {
                    e.host = format!("cdn.evil{i}.com");
                    e.planted.push((Slot::Host, id(0, i), HitType::Domain));
                }
            }
            EvKind::Tls => {
                e.sni = if roll < 5 {
                    format!("www.evil{i}.com")
                } else {
                    format!("exact{i}.net")
                };
                let k = if roll < 5 { 0 } else { 1 };
                e.planted.push((Slot::Sni, id(k, i), HitType::Domain));
            }
            EvKind::Conn | EvKind::Alert => {
                if roll < 4 {
                    e.dst = format!("100.64.{}.{}", i / 100, (i % 100) * 2);
                    e.planted.push((Slot::Dst, id(2, i), HitType::Ipv4));
                } else if roll < 8 {
                    let base = (i * 4) as u64;
                    e.dst = format!("198.{}.{}.{}", 18 + base / 256, base % 256, rng.below(256));
                    e.planted.push((Slot::Dst, id(3, i), HitType::Cidr));
                } else {
                    e.dst = format!("2001:db8:bad::{:x}", i * 2 + 2);
                    e.planted.push((Slot::Dst, id(4, i), HitType::Ipv6));
                }
            }
            EvKind::Files => match roll {
                0..=3 => {
                    e.md5 = plant.md5[i].clone();
                    e.planted.push((Slot::Md5, id(6, i), HitType::Md5));
                }
                4..=6 => {
                    e.sha1 = plant.sha1[i].to_ascii_uppercase();
                    e.planted.push((Slot::Sha1, id(7, i), HitType::Sha1));
                }
                _ => {
                    e.sha256 = plant.sha256[i].clone();
                    e.planted.push((Slot::Sha256, id(8, i), HitType::Sha256));
                }
            },
        }
    }
    if rng.chance(cfg.near_miss_rate) {
        let i = rng.below(n) as usize;
        let roll = rng.below(4);
        // Only touch fields the hit did not use, so a planted hit stays a hit.
        let used = |s: Slot| e.planted.iter().any(|p| p.0 == s);
        match kind {
            EvKind::Dns if !used(Slot::Query) => {
                e.query = match roll {
                    0 => format!("notevil{i}.com"),
                    1 => format!("evil{i}.com.example.org"),
                    2 => format!("www.exact{i}.net"),
                    _ => format!("evil{i}.co"),
                };
            }
            EvKind::Dns => {}
            EvKind::Http => {
                e.ua = format!("Mozilla/5.0 (compatible; evil{i}.com; bad{i}.org/gate{i}.php)");
                e.referrer = format!("http://bad{i}.org/gate{i}.php");
                if !used(Slot::Url) && !used(Slot::Host) && roll < 2 {
                    e.host = format!("bad{i}.org");
                    e.uri = format!("/gate{i}.php5");
                }
            }
            EvKind::Tls if !used(Slot::Sni) => e.sni = format!("notevil{i}.com"),
            EvKind::Tls => {}
            EvKind::Conn | EvKind::Alert if !used(Slot::Dst) => {
                let base = (i * 4) as u64;
                e.dst = match roll {
                    0 => format!("100.64.{}.{}", i / 100, (i % 100) * 2 + 1),
                    1 => {
                        // Just below the block: the last address of the previous /24 (never planted).
                        let (a, b) = if base == 0 {
                            (17u64, 255u64)
                        } else {
                            (18 + (base - 1) / 256, (base - 1) % 256)
                        };
                        format!("198.{a}.{b}.255")
                    }
                    2 => format!("198.{}.{}.0", 18 + (base + 1) / 256, (base + 1) % 256),
                    _ => format!("2001:db8:bad::{:x}", i * 2 + 3),
                };
            }
            EvKind::Conn | EvKind::Alert => {}
            EvKind::Files => e.filename = format!("{}.bin", plant.sha256[i]),
        }
    }
    e
}

/// Generates one log; returns the hits a correct hunt must report (sorted by line).
pub fn generate(
    plant: &Plant,
    cfg: &GenConfig,
    out: &mut dyn Write,
) -> io::Result<Vec<ExpectedHit>> {
    let mut rng = Rng::new(cfg.seed);
    let mut hits = Vec::new();
    let mut line: u64 = 0;
    let mut ts: f64 = 1_714_557_600.0;
    let mut buf = String::with_capacity(1024);
    let mut seg_left = 0u64;
    let mut seg_kind = EvKind::Dns;
    for _ in 0..cfg.lines {
        ts += (rng.below(2000) as f64) / 1000.0;
        let kind = match cfg.format {
            GenFormat::ZeekTsv => {
                if seg_left == 0 {
                    seg_kind = [
                        EvKind::Dns,
                        EvKind::Http,
                        EvKind::Tls,
                        EvKind::Conn,
                        EvKind::Files,
                    ][rng.below(5) as usize];
                    seg_left = 50 + rng.below(450);
                    if line > 0 {
                        out.write_all(b"#close\t2024-05-01-10-00-00\n")?;
                        line += 1;
                    }
                    let h = tsv_header(seg_kind);
                    line += h.matches('\n').count() as u64;
                    out.write_all(h.as_bytes())?;
                }
                seg_left -= 1;
                seg_kind
            }
            GenFormat::ZeekJson => [
                EvKind::Dns,
                EvKind::Dns,
                EvKind::Http,
                EvKind::Tls,
                EvKind::Conn,
                EvKind::Files,
            ][rng.below(6) as usize],
            GenFormat::Eve => [
                EvKind::Dns,
                EvKind::Dns,
                EvKind::Http,
                EvKind::Tls,
                EvKind::Conn,
                EvKind::Files,
                EvKind::Alert,
            ][rng.below(7) as usize],
        };
        let e = make_event(&mut rng, plant, cfg, kind);
        buf.clear();
        let uid = format!("C{}", rng.hex(8));
        match cfg.format {
            GenFormat::ZeekJson => zeek_json(&e, ts, &uid, &mut buf),
            GenFormat::ZeekTsv => zeek_tsv(&e, ts, &uid, &mut buf),
            GenFormat::Eve => eve(&e, ts, rng.below(1 << 40), &mut buf),
        }
        buf.push('\n');
        out.write_all(buf.as_bytes())?;
        line += 1;
        for (slot, ind, kind) in &e.planted {
            let (field, observed) = field_of(cfg.format, &e, *slot);
            hits.push(ExpectedHit {
                line,
                indicator_id: ind.clone(),
                field,
                observed,
                kind: *kind,
            });
        }
    }
    if cfg.format == GenFormat::ZeekTsv && line > 0 {
        out.write_all(b"#close\t2024-05-01-10-00-00\n")?;
    }
    Ok(hits)
}

fn field_of(f: GenFormat, e: &Ev, slot: Slot) -> (String, String) {
    let zeek = f != GenFormat::Eve;
    let (name, v): (&str, String) = match slot {
        Slot::Query => (if zeek { "query" } else { "dns.rrname" }, e.query.clone()),
        Slot::Answer(i) => (
            if zeek { "answers" } else { "dns.answers.rdata" },
            e.answers.get(i).cloned().unwrap_or_default(),
        ),
        Slot::Host => (if zeek { "host" } else { "http.hostname" }, e.host.clone()),
        Slot::Url => (
            if zeek { "uri" } else { "http.url" },
            format!("http://{}{}", e.host, e.uri),
        ),
        Slot::Sni => (if zeek { "server_name" } else { "tls.sni" }, e.sni.clone()),
        Slot::Dst => (if zeek { "id.resp_h" } else { "dest_ip" }, e.dst.clone()),
        Slot::Md5 => (if zeek { "md5" } else { "fileinfo.md5" }, e.md5.clone()),
        Slot::Sha1 => (if zeek { "sha1" } else { "fileinfo.sha1" }, e.sha1.clone()),
        Slot::Sha256 => (
            if zeek { "sha256" } else { "fileinfo.sha256" },
            e.sha256.clone(),
        ),
    };
    // Zeek's files log names its endpoints tx_hosts/rx_hosts; planted addresses never go there.
    (name.to_string(), v)
}

fn proto(e: &Ev) -> &'static str {
    if e.kind == EvKind::Dns {
        "udp"
    } else {
        "tcp"
    }
}

fn zeek_json(e: &Ev, ts: f64, uid: &str, b: &mut String) {
    use std::fmt::Write as _;
    let path = match e.kind {
        EvKind::Dns => "dns",
        EvKind::Http => "http",
        EvKind::Tls => "ssl",
        EvKind::Conn | EvKind::Alert => "conn",
        EvKind::Files => "files",
    };
    let _ = write!(b, "{{\"_path\":\"{path}\",\"ts\":{ts:.6},\"uid\":\"{uid}\"");
    if e.kind != EvKind::Files {
        let _ = write!(
            b,
            ",\"id.orig_h\":\"{}\",\"id.orig_p\":{},\"id.resp_h\":\"{}\",\"id.resp_p\":{}",
            e.src, e.sport, e.dst, e.dport
        );
    }
    match e.kind {
        EvKind::Dns => {
            let answers: Vec<String> = e.answers.iter().map(|a| format!("\"{a}\"")).collect();
            let _ = write!(
                b,
                ",\"proto\":\"udp\",\"trans_id\":{},\"query\":\"{}\",\"qclass\":1,\"qclass_name\":\"C_INTERNET\",\"qtype\":1,\"qtype_name\":\"A\",\"rcode\":0,\"rcode_name\":\"NOERROR\",\"AA\":false,\"TC\":false,\"RD\":true,\"RA\":true,\"Z\":0,\"answers\":[{}],\"TTLs\":[300.0],\"rejected\":false}}",
                e.sport, e.query, answers.join(",")
            );
        }
        EvKind::Http => {
            let _ = write!(
                b,
                ",\"trans_depth\":1,\"method\":\"GET\",\"host\":\"{}\",\"uri\":\"{}\",\"referrer\":\"{}\",\"version\":\"1.1\",\"user_agent\":\"{}\",\"request_body_len\":0,\"response_body_len\":{},\"status_code\":200,\"status_msg\":\"OK\",\"tags\":[],\"resp_fuids\":[\"F{}\"],\"resp_mime_types\":[\"text/html\"]}}",
                e.host, e.uri, e.referrer, e.ua, e.sport as u32 * 3, uid
            );
        }
        EvKind::Tls => {
            let _ = write!(
                b,
                ",\"version\":\"TLSv12\",\"cipher\":\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\",\"curve\":\"secp256r1\",\"server_name\":\"{}\",\"resumed\":false,\"established\":true,\"ssl_history\":\"CsxknGIi\",\"cert_chain_fps\":[],\"client_cert_chain_fps\":[],\"validation_status\":\"ok\"}}",
                e.sni
            );
        }
        EvKind::Conn | EvKind::Alert => {
            let _ = write!(
                b,
                ",\"proto\":\"{}\",\"service\":\"ssl\",\"duration\":1.25,\"orig_bytes\":{},\"resp_bytes\":{},\"conn_state\":\"SF\",\"missed_bytes\":0,\"history\":\"ShADadFf\",\"orig_pkts\":12,\"orig_ip_bytes\":1400,\"resp_pkts\":10,\"resp_ip_bytes\":9000}}",
                proto(e),
                e.sport,
                e.sport as u32 * 2
            );
        }
        EvKind::Files => {
            let _ = write!(
                b,
                ",\"fuid\":\"F{uid}\",\"tx_hosts\":[\"{}\"],\"rx_hosts\":[\"{}\"],\"source\":\"HTTP\",\"depth\":0,\"analyzers\":[\"MD5\",\"SHA1\",\"SHA256\"],\"mime_type\":\"application/x-dosexec\",\"filename\":\"{}\",\"duration\":0.1,\"is_orig\":false,\"seen_bytes\":4096,\"total_bytes\":4096,\"missing_bytes\":0,\"overflow_bytes\":0,\"timedout\":false,\"md5\":\"{}\",\"sha1\":\"{}\",\"sha256\":\"{}\"}}",
                e.dst, e.src, e.filename, e.md5, e.sha1, e.sha256
            );
        }
    }
}

fn tsv_header(kind: EvKind) -> String {
    let (path, fields, types) = match kind {
        EvKind::Dns => ("dns", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tqtype_name\tanswers\tTTLs", "time\tstring\taddr\tport\taddr\tport\tenum\tstring\tstring\tvector[string]\tvector[interval]"),
        EvKind::Http => ("http", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tmethod\thost\turi\treferrer\tuser_agent\tstatus_code\ttags", "time\tstring\taddr\tport\taddr\tport\tstring\tstring\tstring\tstring\tstring\tcount\tset[enum]"),
        EvKind::Tls => ("ssl", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tserver_name\testablished", "time\tstring\taddr\tport\taddr\tport\tstring\tstring\tbool"),
        EvKind::Conn | EvKind::Alert => ("conn", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state", "time\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring"),
        EvKind::Files => ("files", "ts\tfuid\ttx_hosts\trx_hosts\tsource\tmime_type\tfilename\tmd5\tsha1\tsha256", "time\tstring\tset[addr]\tset[addr]\tstring\tstring\tstring\tstring\tstring\tstring"),
    };
    format!(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t{path}\n#open\t2024-05-01-10-00-00\n#fields\t{fields}\n#types\t{types}\n"
    )
}

fn zeek_tsv(e: &Ev, ts: f64, uid: &str, b: &mut String) {
    use std::fmt::Write as _;
    let ep = format!("{}\t{}\t{}\t{}", e.src, e.sport, e.dst, e.dport);
    let _ = match e.kind {
        EvKind::Dns => write!(
            b,
            "{ts:.6}\t{uid}\t{ep}\tudp\t{}\tA\t{}\t300.000000",
            e.query,
            if e.answers.is_empty() {
                "-".to_string()
            } else {
                e.answers.join(",")
            }
        ),
        EvKind::Http => write!(
            b,
            "{ts:.6}\t{uid}\t{ep}\tGET\t{}\t{}\t{}\t{}\t200\t(empty)",
            e.host, e.uri, e.referrer, e.ua
        ),
        EvKind::Tls => write!(b, "{ts:.6}\t{uid}\t{ep}\tTLSv12\t{}\tT", e.sni),
        EvKind::Conn | EvKind::Alert => write!(
            b,
            "{ts:.6}\t{uid}\t{ep}\t{}\t-\t1.250000\t{}\t{}\tSF",
            proto(e),
            e.sport,
            e.sport as u32 * 2
        ),
        EvKind::Files => write!(
            b,
            "{ts:.6}\tF{uid}\t{}\t{}\tHTTP\tapplication/x-dosexec\t{}\t{}\t{}\t{}",
            e.dst, e.src, e.filename, e.md5, e.sha1, e.sha256
        ),
    };
}

fn eve_ts(ts: f64) -> String {
    let secs = ts.floor() as i64;
    let micros = ((ts - ts.floor()) * 1e6).round().min(999_999.0) as u32;
    match chrono::DateTime::from_timestamp(secs, micros * 1000) {
        Some(d) => d.format("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string(),
        None => "1970-01-01T00:00:00.000000+0000".into(),
    }
}

fn eve(e: &Ev, ts: f64, flow: u64, b: &mut String) {
    use std::fmt::Write as _;
    let et = match e.kind {
        EvKind::Dns => "dns",
        EvKind::Http => "http",
        EvKind::Tls => "tls",
        EvKind::Conn => "flow",
        EvKind::Files => "fileinfo",
        EvKind::Alert => "alert",
    };
    let _ = write!(
        b,
        "{{\"timestamp\":\"{}\",\"flow_id\":{flow},\"in_iface\":\"eth0\",\"event_type\":\"{et}\",\"src_ip\":\"{}\",\"src_port\":{},\"dest_ip\":\"{}\",\"dest_port\":{},\"proto\":\"{}\"",
        eve_ts(ts),
        e.src,
        e.sport,
        e.dst,
        e.dport,
        proto(e).to_ascii_uppercase()
    );
    match e.kind {
        EvKind::Dns => {
            let answers: Vec<String> = e
                .answers
                .iter()
                .map(|a| {
                    format!(
                        "{{\"rrname\":\"{}\",\"rrtype\":\"{}\",\"ttl\":300,\"rdata\":\"{a}\"}}",
                        e.query,
                        if a.contains(':') {
                            "AAAA"
                        } else if a.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
                            "A"
                        } else {
                            "CNAME"
                        }
                    )
                })
                .collect();
            let _ = write!(
                b,
                ",\"dns\":{{\"version\":2,\"type\":\"answer\",\"id\":{},\"flags\":\"8180\",\"qr\":true,\"rd\":true,\"ra\":true,\"rrname\":\"{}\",\"rrtype\":\"A\",\"rcode\":\"NOERROR\",\"answers\":[{}]}}}}",
                e.sport,
                e.query,
                answers.join(",")
            );
        }
        EvKind::Http => {
            let _ = write!(
                b,
                ",\"tx_id\":0,\"http\":{{\"hostname\":\"{}\",\"url\":\"{}\",\"http_user_agent\":\"{}\",\"http_refer\":\"{}\",\"http_content_type\":\"text/html\",\"http_method\":\"GET\",\"protocol\":\"HTTP/1.1\",\"status\":200,\"length\":{}}}}}",
                e.host, e.uri, e.ua, e.referrer, e.sport
            );
        }
        EvKind::Tls => {
            let _ = write!(
                b,
                ",\"tls\":{{\"subject\":\"CN={}\",\"issuerdn\":\"C=US, O=Let's Encrypt, CN=R3\",\"serial\":\"04:A1:B2\",\"fingerprint\":\"3a:1f:00:9b:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:01\",\"sni\":\"{}\",\"version\":\"TLS 1.2\",\"notbefore\":\"2024-01-01T00:00:00\",\"notafter\":\"2024-04-01T00:00:00\"}}}}",
                e.sni, e.sni
            );
        }
        EvKind::Conn => {
            let _ = write!(
                b,
                ",\"app_proto\":\"failed\",\"flow\":{{\"pkts_toserver\":12,\"pkts_toclient\":10,\"bytes_toserver\":1400,\"bytes_toclient\":9000,\"start\":\"{}\",\"end\":\"{}\",\"age\":1,\"state\":\"closed\",\"reason\":\"timeout\",\"alerted\":false}}}}",
                eve_ts(ts - 1.0),
                eve_ts(ts)
            );
        }
        EvKind::Files => {
            let _ = write!(
                b,
                ",\"http\":{{\"hostname\":\"files.example.com\",\"url\":\"/dl/{}\",\"http_method\":\"GET\",\"status\":200}},\"app_proto\":\"http\",\"fileinfo\":{{\"filename\":\"{}\",\"magic\":\"PE32 executable\",\"gaps\":false,\"state\":\"CLOSED\",\"md5\":\"{}\",\"sha1\":\"{}\",\"sha256\":\"{}\",\"stored\":false,\"size\":4096,\"tx_id\":0}}}}",
                e.filename, e.filename, e.md5, e.sha1, e.sha256
            );
        }
        EvKind::Alert => {
            let _ = write!(
                b,
                ",\"alert\":{{\"action\":\"allowed\",\"gid\":1,\"signature_id\":2027865,\"rev\":3,\"signature\":\"ET INFO Observed evil0.com in user agent\",\"category\":\"Potentially Bad Traffic\",\"severity\":2}},\"app_proto\":\"tls\"}}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic() {
        let plant = Plant::new(1, 20);
        let cfg = GenConfig {
            format: GenFormat::Eve,
            seed: 7,
            lines: 300,
            hit_rate: 0.1,
            near_miss_rate: 0.1,
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ha = generate(&plant, &cfg, &mut a).expect("writes");
        let hb = generate(&plant, &cfg, &mut b).expect("writes");
        assert_eq!(a, b);
        assert_eq!(ha, hb);
        assert!(!ha.is_empty());
    }
}
