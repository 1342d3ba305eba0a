//! The indicator set the hunt's fuzz targets match against: every kind of indicator table (a domain with its
//! sub-domains, a punycode name, an address, CIDR blocks of both families, a URL, a directory URL, a hash, an
//! e-mail address, URL paths).
use std::sync::OnceLock;

use vigil_hunt::{IndicatorInput, IndicatorSet, IndicatorSetBuilder, IndicatorSource};

pub fn set() -> &'static IndicatorSet {
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
