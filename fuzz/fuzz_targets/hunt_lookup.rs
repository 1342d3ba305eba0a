//! The indicator set's look-ups (domains with their parents, addresses and CIDR blocks, URLs with their paths and
//! directories, hashes, e-mail addresses) on arbitrary field values: the first byte picks the field's role, the rest
//! is what a log line would hold. Any value must be answered without a panic, and every match must be reportable.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vigil_hunt::set::Scratch;
use vigil_hunt::{IndicatorInput, IndicatorSet, IndicatorSetBuilder, IndicatorSource, Role};

fn set() -> &'static IndicatorSet {
    static SET: OnceLock<IndicatorSet> = OnceLock::new();
    SET.get_or_init(|| {
        let patterns = [
            "[domain-name:value = 'evil.example']",
            "[domain-name:value = 'xn--bcher-kva.example']",
            "[ipv4-addr:value = '198.51.100.7']",
            "[ipv4-addr:value ISSUBSET '203.0.113.0/24']",
            "[ipv6-addr:value ISSUBSET '2001:db8::/32']",
            "[url:value = 'http://evil.example/gate.php?id=1']",
            "[url:value = 'https://a.example/x/']",
            "[file:hashes.MD5 = '0123456789abcdef0123456789abcdef']",
            "[email-addr:value = 'ceo@evil.example']",
        ];
        let paths = ["/depost.apk", "/wp-includes/nOmdPyUpDB/", "/gate.php?id=7", "/?q", "/a%20b/c.php"];
        let mut b = IndicatorSetBuilder::new();
        for (i, p) in patterns.iter().enumerate() {
            let mut input = IndicatorInput::new(format!("indicator--p{i}"), IndicatorSource::Pattern(p.to_string()));
            input.subdomains = i == 0;
            b.add(&input).expect("fixed pattern");
        }
        for (i, p) in paths.iter().enumerate() {
            let o = vigil_model::Observable::new(vigil_model::ObservableKind::UrlPath, p).expect("fixed path");
            b.add(&IndicatorInput::new(format!("indicator--u{i}"), IndicatorSource::Observable(o)))
                .expect("fixed path");
        }
        b.build().expect("fixed set")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, value)) = data.split_first() else {
        return;
    };
    let role = match sel % 8 {
        0 => Role::Domain,
        1 => Role::Ip,
        2 => Role::SrcIp,
        3 => Role::DstIp,
        4 => Role::Url,
        5 => Role::Hash,
        6 => Role::Email,
        _ => Role::Answer,
    };
    let set = set();
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    set.lookup(role, value, &mut scratch, &mut out);
    for m in &out {
        let _ = set.indicator_value(m);
        let _ = set.hit_type(m, role);
        let _ = set.meta(m.indicator);
    }
});
