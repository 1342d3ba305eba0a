//! Property tests: each matching strategy against a naive reference implementation, and log readers against
//! random bytes (never a panic, every line counted).

use proptest::prelude::*;
use vigil_hunt::hunt::{hunt_collect, HuntOptions, LogSource};
use vigil_hunt::logs::{FieldMap, Format, FormatChoice};
use vigil_hunt::set::{url_key, Scratch};
use vigil_hunt::{IndicatorInput, IndicatorSet, IndicatorSetBuilder, IndicatorSource, Role};
use vigil_model::{Observable, ObservableKind};

fn build(inputs: &[IndicatorInput]) -> IndicatorSet {
    let mut b = IndicatorSetBuilder::new();
    for i in inputs {
        b.add(i).expect("valid");
    }
    b.build().expect("builds")
}

fn ids(set: &IndicatorSet, role: Role, v: &str) -> Vec<String> {
    let mut out = Vec::new();
    set.lookup(role, v.as_bytes(), &mut Scratch::default(), &mut out);
    let mut v: Vec<String> = out.iter().map(|m| set.id(m.indicator)).collect();
    v.sort();
    v.dedup();
    v
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("evil".to_string()),
        Just("com".to_string()),
        Just("a".to_string()),
        Just("notevil".to_string()),
        Just("x-y".to_string()),
        "[a-z]{1,3}"
    ]
}

fn domain() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 2..5).prop_map(|l| l.join("."))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn domains_match_like_the_naive_reference(inds in prop::collection::vec((domain(), any::<bool>()), 1..20), queries in prop::collection::vec(domain(), 1..20), upper in any::<bool>()) {
        let inputs: Vec<IndicatorInput> = inds.iter().enumerate().map(|(i, (d, sub))| {
            let mut x = IndicatorInput::new(format!("d{i}"), IndicatorSource::Observable(Observable::new(ObservableKind::Domain, d).expect("valid")));
            x.subdomains = *sub;
            x
        }).collect();
        let set = build(&inputs);
        for q in &queries {
            let shown = if upper { q.to_ascii_uppercase() + "." } else { q.clone() };
            let mut want: Vec<String> = inds.iter().enumerate()
                .filter(|(_, (d, sub))| q == d || (*sub && q.ends_with(&format!(".{d}"))))
                .map(|(i, _)| format!("d{i}")).collect();
            want.sort();
            prop_assert_eq!(ids(&set, Role::Domain, &shown), want, "query {}", shown);
        }
    }

    #[test]
    fn ipv4_longest_prefix_matches_the_naive_reference(blocks in prop::collection::vec((0u32..4, any::<u16>(), 8u8..=32), 1..30), probes in prop::collection::vec((0u32..4, any::<u16>(), any::<u8>()), 1..40)) {
        let nets: Vec<(u32, u8)> = blocks.iter().map(|&(a, b, l)| {
            let addr = (10 + a) << 24 | u32::from(b) << 8;
            let mask = if l == 0 { 0 } else { u32::MAX << (32 - u32::from(l)) };
            (addr & mask, l)
        }).collect();
        let inputs: Vec<IndicatorInput> = nets.iter().enumerate().map(|(i, &(n, l))| {
            let v = format!("{}/{l}", std::net::Ipv4Addr::from(n));
            IndicatorInput::new(format!("c{i}"), IndicatorSource::Observable(Observable::new(ObservableKind::Ipv4, &v).expect("valid")))
        }).collect();
        let set = build(&inputs);
        for &(a, b, c) in &probes {
            let ip = (10 + a) << 24 | u32::from(b) << 8 | u32::from(c);
            let containing: Vec<(usize, u8)> = nets.iter().enumerate()
                .filter(|(_, &(n, l))| { let m = if l == 0 { 0 } else { u32::MAX << (32 - u32::from(l)) }; ip & m == n })
                .map(|(i, &(_, l))| (i, l)).collect();
            let best = containing.iter().map(|x| x.1).max();
            let mut want: Vec<String> = containing.iter().filter(|x| Some(x.1) == best).map(|x| format!("c{}", x.0)).collect();
            want.sort();
            let shown = std::net::Ipv4Addr::from(ip).to_string();
            prop_assert_eq!(ids(&set, Role::Ip, &shown), want, "ip {}", shown);
        }
    }

    #[test]
    fn ipv6_longest_prefix_matches_the_naive_reference(blocks in prop::collection::vec((any::<u16>(), 16u8..=128), 1..20), probes in prop::collection::vec((any::<u16>(), any::<u64>()), 1..30)) {
        let base: u128 = 0x2001_0db8 << 96;
        let nets: Vec<(u128, u8)> = blocks.iter().map(|&(a, l)| {
            let addr = base | u128::from(a & 0x3) << 80;
            let mask = u128::MAX << (128 - u32::from(l));
            (addr & mask, l)
        }).collect();
        let inputs: Vec<IndicatorInput> = nets.iter().enumerate().map(|(i, &(n, l))| {
            let v = format!("{}/{l}", std::net::Ipv6Addr::from(n));
            IndicatorInput::new(format!("c{i}"), IndicatorSource::Observable(Observable::new(ObservableKind::Ipv6, &v).expect("valid")))
        }).collect();
        let set = build(&inputs);
        for &(a, low) in &probes {
            let ip = base | u128::from(a & 0x3) << 80 | if a & 4 == 0 { 0 } else { u128::from(low) };
            let containing: Vec<(usize, u8)> = nets.iter().enumerate()
                .filter(|(_, &(n, l))| ip & (u128::MAX << (128 - u32::from(l))) == n)
                .map(|(i, &(_, l))| (i, l)).collect();
            let best = containing.iter().map(|x| x.1).max();
            let mut want: Vec<String> = containing.iter().filter(|x| Some(x.1) == best).map(|x| format!("c{}", x.0)).collect();
            want.sort();
            let shown = std::net::Ipv6Addr::from(ip).to_string();
            prop_assert_eq!(ids(&set, Role::Ip, &shown), want, "ip {}", shown);
        }
    }

    #[test]
    fn hashes_match_case_insensitively_and_only_when_equal(hs in prop::collection::vec("[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}", 1..10), probes in prop::collection::vec("[0-9a-f]{32}|[0-9a-f]{64}", 1..10), pick in any::<prop::sample::Index>()) {
        let kind = |h: &str| match h.len() { 32 => ObservableKind::Md5, 40 => ObservableKind::Sha1, _ => ObservableKind::Sha256 };
        let inputs: Vec<IndicatorInput> = hs.iter().enumerate().map(|(i, h)| IndicatorInput::new(format!("h{i}"), IndicatorSource::Observable(Observable::new(kind(h), h).expect("valid")))).collect();
        let set = build(&inputs);
        let mut all = probes.clone();
        all.push(pick.get(&hs).to_ascii_uppercase());
        for p in &all {
            let mut want: Vec<String> = hs.iter().enumerate().filter(|(_, h)| h.eq_ignore_ascii_case(p)).map(|(i, _)| format!("h{i}")).collect();
            want.sort();
            prop_assert_eq!(ids(&set, Role::Hash, p), want);
        }
    }

    #[test]
    fn url_variants_match_and_other_paths_do_not(host in "[a-z]{1,8}\\.(com|org)", path in prop::collection::vec("[a-zA-Z0-9_~-]{1,6}", 0..4), query in prop::option::of("[a-z]{1,4}=[0-9]{1,3}"), other in "[a-z]{1,6}") {
        let p = path.join("/");
        let base = match &query { Some(q) => format!("http://{host}/{p}?{q}"), None => format!("http://{host}/{p}") };
        let set = build(&[IndicatorInput::new("u", IndicatorSource::Observable(Observable::new(ObservableKind::Url, &base).expect("valid")))]);
        // Scheme/host case, default port, escaped unreserved characters, trailing slash.
        let escaped: String = p.chars().map(|c| if c.is_ascii_alphabetic() { format!("%{:02X}", c as u32) } else { c.to_string() }).collect();
        let q = query.as_ref().map(|q| format!("?{q}")).unwrap_or_default();
        for v in [
            format!("HTTP://{}:80/{p}{q}", host.to_ascii_uppercase()),
            format!("http://{host}/{escaped}{q}"),
            format!("{host}/{p}{}{q}", if p.is_empty() { "" } else { "/" }),
        ] {
            prop_assert_eq!(ids(&set, Role::Url, &v), vec!["u".to_string()], "variant {}", v);
        }
        let v = format!("http://{host}/{p}/{other}x{q}");
        prop_assert!(ids(&set, Role::Url, &v).is_empty(), "{}", v);
        let mut k = Vec::new();
        prop_assert!(url_key(base.as_bytes(), &mut k).is_some());
    }
}

fn formats() -> Vec<Format> {
    let map = FieldMap {
        fields: vec![
            ("q".into(), Role::Domain),
            ("a.b".into(), Role::Ip),
            ("u".into(), Role::Url),
        ],
        ts: Some("t".into()),
    };
    vec![
        Format::ZeekTsv,
        Format::ZeekJson,
        Format::Eve,
        Format::Bind,
        Format::Unbound,
        Format::Squid,
        Format::WinDns,
        Format::W3c,
        Format::Ecs,
        Format::Fortigate,
        Format::Cef,
        Format::Leef,
        Format::Panos,
        Format::Asa,
        Format::Checkpoint,
        Format::Winevt,
        Format::WinevtXml,
        Format::Jsonl(map.clone()),
        Format::Csv(map),
    ]
}

fn evil_set() -> IndicatorSet {
    let mut i = IndicatorInput::new(
        "e",
        IndicatorSource::Observable(
            Observable::new(ObservableKind::Domain, "evil.com").expect("valid"),
        ),
    );
    i.subdomains = true;
    build(&[
        i,
        IndicatorInput::new(
            "ip",
            IndicatorSource::Observable(
                Observable::new(ObservableKind::Ipv4, "1.0.0.0/8").expect("valid"),
            ),
        ),
    ])
}

fn bytes_like_logs() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        Just(b"{\"query\":\"a.evil.com\",\"id.orig_h\":\"1.2.3.4\"}".to_vec()),
        Just(b"{\"event_type\":\"dns\",\"dns\":{\"rrname\":\"x\",\"answers\":[{\"rdata\":\"1.1.1.1\"}]}}".to_vec()),
        Just(b"#fields\tts\tquery\n#types\ttime\tvector[string]\n".to_vec()),
        Just(b"#separator \\x2c\n".to_vec()),
        Just(b"\\u00\"\\".to_vec()),
        Just(b"\n".to_vec()),
        Just(vec![0xff, 0xfe, b'\n']),
        Just(b"q,a.b,u,t\n".to_vec()),
        Just(b"\"x\"\"y\",1.2.3.4,\"http://evil.com\n".to_vec()),
    ];
    prop::collection::vec(piece, 0..30).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn readers_never_panic_and_count_every_line(data in bytes_like_logs()) {
        let set = evil_set();
        let expect_lines = data.split(|&c| c == b'\n').count() as u64 - u64::from(data.last() == Some(&b'\n') || data.is_empty());
        for f in formats() {
            let opts = HuntOptions { format: FormatChoice::Fixed(f.clone()), threads: 2, chunk_bytes: 4096, max_line: 1024, ..HuntOptions::default() };
            let (_, sum) = hunt_collect(&set, vec![LogSource::reader("fuzz", std::io::Cursor::new(data.clone()))], &opts).expect("hunt never fails on bad input");
            prop_assert!(sum.lines <= expect_lines.max(1), "{:?}: {} lines of {}", f, sum.lines, expect_lines);
        }
        // Auto-detection never panics either.
        let _ = hunt_collect(&set, vec![LogSource::reader("fuzz", std::io::Cursor::new(data))], &HuntOptions::default()).expect("hunts");
    }

    #[test]
    fn truncated_gzip_keeps_earlier_hits_and_reports_where_it_ended(n in 50usize..400, cut in 0.1f64..0.95) {
        use std::io::Write;
        let mut log = Vec::new();
        for i in 0..n {
            writeln!(log, "{{\"_path\":\"dns\",\"ts\":{i},\"query\":\"h{i}.evil.com\",\"pad\":\"{}\"}}", "z".repeat(i % 50)).expect("writes");
        }
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        e.write_all(&log).expect("compresses");
        let gz = e.finish().expect("compresses");
        let cut_at = ((gz.len() as f64) * cut) as usize;
        let set = evil_set();
        let (hits, sum) = hunt_collect(&set, vec![LogSource::reader("t.json.gz", std::io::Cursor::new(gz[..cut_at].to_vec()))], &HuntOptions::default()).expect("hunts");
        prop_assert_eq!(sum.file_errors.len(), 1);
        prop_assert!(sum.file_errors[0].reason.contains("ended early"), "{}", sum.file_errors[0].reason);
        prop_assert_eq!(sum.file_errors[0].line, sum.lines);
        prop_assert_eq!(hits.len() as u64, sum.lines);
        prop_assert!(sum.lines < n as u64);
        for (k, h) in hits.iter().enumerate() {
            prop_assert_eq!(&h.observed, &format!("h{k}.evil.com"));
        }
    }
}

/// A long line is dropped and named; a line with a byte that is not UTF-8 is read with it replaced, so that a raw
/// byte chosen by whoever wrote the query or URL cannot hide the rest of the line from the hunt.
#[test]
fn long_lines_are_dropped_and_invalid_utf8_is_replaced_with_their_line_numbers() {
    let mut data = b"{\"_path\":\"dns\",\"query\":\"a.evil.com\"}\n".to_vec();
    data.extend(std::iter::repeat_n(b'x', 5000));
    data.push(b'\n');
    data.extend_from_slice(b"{\"_path\":\"dns\",\"query\":\"\xff.evil.com\"}\n");
    data.extend_from_slice(b"{\"_path\":\"dns\",\"query\":\"b.evil.com\"}\n");
    data.extend_from_slice(
        b"{\"_path\":\"dns\",\"query\":\"c.evil.com\",\"agent\":\"x\xfe\xff\"}\n",
    );
    let opts = HuntOptions {
        format: FormatChoice::Fixed(Format::ZeekJson),
        max_line: 1024,
        chunk_bytes: 4096,
        ..HuntOptions::default()
    };
    let (hits, sum) = hunt_collect(
        &evil_set(),
        vec![LogSource::reader("l.json", std::io::Cursor::new(data))],
        &opts,
    )
    .expect("hunts");
    assert_eq!(sum.lines, 5);
    assert_eq!(sum.unparsable, 1);
    assert_eq!(sum.repaired_lines, 2);
    assert_eq!(
        sum.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![2]
    );
    assert!(sum.errors[0].reason.contains("longer than"));
    let hits: Vec<(u64, &str)> = hits.iter().map(|h| (h.line, h.observed.as_str())).collect();
    assert_eq!(
        hits,
        [
            (1, "a.evil.com"),
            (3, "\u{fffd}.evil.com"),
            (4, "b.evil.com"),
            (5, "c.evil.com")
        ]
    );
}
