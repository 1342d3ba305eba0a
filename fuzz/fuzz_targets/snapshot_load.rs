//! Snapshot files (`vigil hunt --snapshot`, and what `vigil snapshot --from` receives from a server): a damaged or
//! crafted file must be refused with an error or, if it loads, answer every look-up without a panic. The checksum
//! is recomputed over the fuzzed bytes, so the fuzzer reaches the table validation behind it rather than stopping
//! at the checksum. The first byte chooses between a whole file from the fuzzer and byte edits of a real snapshot
//! (pairs of a 3-byte offset and a value), which reaches the deeper tables far sooner.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vigil_hunt::set::Scratch;
use vigil_hunt::{IndicatorInput, IndicatorSet, IndicatorSetBuilder, IndicatorSource, Role};

fn sample() -> &'static Vec<u8> {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let values = [
            (vigil_model::ObservableKind::Domain, "evil.example"),
            (vigil_model::ObservableKind::Domain, "evil.example"),
            (vigil_model::ObservableKind::Ipv4, "10.0.0.0/8"),
            (vigil_model::ObservableKind::Ipv4, "10.1.0.0/16"),
            (vigil_model::ObservableKind::Ipv4, "198.51.100.7"),
            (vigil_model::ObservableKind::Ipv6, "2001:db8::/32"),
            (vigil_model::ObservableKind::Url, "http://evil.example/gate.php?id=1"),
            (vigil_model::ObservableKind::UrlPath, "/x.apk"),
            (vigil_model::ObservableKind::Md5, "0123456789abcdef0123456789abcdef"),
            (vigil_model::ObservableKind::Email, "ceo@evil.example"),
        ];
        let mut b = IndicatorSetBuilder::new();
        for (i, (k, v)) in values.iter().enumerate() {
            let o = vigil_model::Observable::new(*k, v).expect("fixed value");
            let mut input = IndicatorInput::new(
                format!("indicator--00000000-0000-4000-8000-0000000000{i:02}"),
                IndicatorSource::Observable(o),
            );
            input.malware = vec!["Emotet".into()];
            input.subdomains = i == 0;
            b.add(&input).expect("fixed value");
        }
        b.add(&IndicatorInput::new(
            "odd-id",
            IndicatorSource::Pattern("[domain-name:value LIKE '%.x.org']".into()),
        ))
        .expect("fixed pattern");
        let set = b.build().expect("fixed set");
        let mut out = Vec::new();
        vigil_hunt::snapshot::write_to(&set, &mut out).expect("in memory");
        out
    })
}

fn reseal(b: &mut [u8]) {
    if b.len() < 32 {
        return;
    }
    let n = b.len() - 12;
    let crc = crc32fast::hash(&b[..n]);
    b[n..n + 4].copy_from_slice(&crc.to_le_bytes());
}

fn exercise(s: &IndicatorSet, extra: &[u8]) {
    let values: [&[u8]; 8] = [
        b"a.evil.example",
        b"10.1.2.3",
        b"198.51.100.7",
        b"2001:db8::1",
        b"http://evil.example/gate.php?id=1",
        b"https://b.example/x.apk",
        b"0123456789abcdef0123456789abcdef",
        b"ceo@evil.example",
    ];
    let roles = [
        Role::Domain,
        Role::Ip,
        Role::SrcIp,
        Role::DstIp,
        Role::Url,
        Role::Hash,
        Role::Email,
        Role::Answer,
    ];
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    for role in roles {
        for v in values.iter().copied().chain(std::iter::once(extra)) {
            out.clear();
            s.lookup(role, v, &mut scratch, &mut out);
            for m in &out {
                let _ = s.indicator_value(m);
                let _ = s.hit_type(m, role);
                let _ = s.meta(m.indicator);
                let _ = s.id(m.indicator);
            }
        }
    }
    for i in 0..s.len() as u32 {
        let _ = s.meta(i);
    }
    let _ = s.stats();
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut file = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut f = sample().clone();
        for e in rest.chunks_exact(4) {
            let at = (usize::from(e[0]) | usize::from(e[1]) << 8 | usize::from(e[2]) << 16) % f.len();
            f[at] = e[3];
        }
        f
    };
    if mode & 2 == 0 {
        reseal(&mut file);
    }
    if let Ok(s) = vigil_hunt::snapshot::read_from(&file[..], file.len() as u64, "fuzz") {
        exercise(&s, rest);
    }
});
