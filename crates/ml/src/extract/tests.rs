//! Unit tests of the extractor on inputs written here.

use super::*;

fn ex(s: &str) -> Vec<(String, String)> {
    extract(s.as_bytes())
        .indicators
        .into_iter()
        .map(|i| (i.kind.to_string(), i.value))
        .collect()
}

/// Each indicator's type and value, in order.
fn kinds_values(x: &Extraction) -> Vec<(String, String)> {
    x.indicators
        .iter()
        .map(|i| (i.kind.to_string(), i.value.clone()))
        .collect()
}

fn has(s: &str, kind: &str, value: &str) -> bool {
    ex(s).iter().any(|(k, v)| k == kind && v == value)
}

#[test]
fn defang_styles() {
    let text = "C2: hxxp://evil[.]com/gate.php and bad(.)org, mal[dot]net, x[:]y, a[@]b[.]ru, c2\\.evil\\.info and spaced [.] io here";
    let got = ex(text);
    for (k, v) in [
        ("url", "http://evil.com/gate.php"),
        ("domain", "evil.com"),
        ("domain", "bad.org"),
        ("domain", "mal.net"),
        ("email", "a@b.ru"),
        ("domain", "c2.evil.info"),
        ("domain", "spaced.io"),
    ] {
        assert!(
            got.iter().any(|(a, b)| a == k && b == v),
            "{k} {v} missing from {got:?}"
        );
    }
}

#[test]
fn types() {
    let t = "IP 185.12.45.7:443 net 10.0.0.0/8 and 203.0.113.0/24 v6 2001:4860:4860::8888 \
             md5 d41d8cd98f00b204e9800998ecf8427f sha1 19bf019fc0bf44828378f008332430a080871274 \
             CVE-2017-11882 T1059.001 (T1566) wallet 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa \
             key HKCU\\Software\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon is set; file %APPDATA%\\Microsoft\\wimsvc.exe and dpnom.dll";
    let got = ex(t);
    for (k, v) in [
        ("ipv4", "185.12.45.7"),
        ("ipv6", "2001:4860:4860::8888"),
        ("md5", "d41d8cd98f00b204e9800998ecf8427f"),
        ("sha1", "19bf019fc0bf44828378f008332430a080871274"),
        ("cve", "CVE-2017-11882"),
        ("attack-technique", "T1059.001"),
        ("attack-technique", "T1566"),
        ("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        (
            "registry",
            "HKCU\\Software\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon",
        ),
        ("file", "%APPDATA%\\Microsoft\\wimsvc.exe"),
        ("file", "dpnom.dll"),
    ] {
        assert!(
            got.iter().any(|(a, b)| a == k && b == v),
            "{k} {v} missing from {got:?}"
        );
    }
    // Private ranges fall under the default confidence floor only when min_confidence is raised.
    let strict = Extractor::new(ExtractOptions {
        min_confidence: 0.5,
        ..Default::default()
    });
    let e = strict.extract_bytes(t.as_bytes());
    assert!(!e.indicators.iter().any(|i| i.value == "10.0.0.0/8"));
    assert!(has(t, "cidr", "10.0.0.0/8"));
}

#[test]
fn suppression() {
    let t = "Version 1.2.3.4 of the tool; see https://www.welivesecurity.com/2020/05/13/ramsay/ and example.com; \
             System.IO is used; empty d41d8cd98f00b204e9800998ecf8427e; setup.zip dropped";
    let got = ex(t);
    assert!(!got.iter().any(|(_, v)| v == "1.2.3.4"), "{got:?}");
    assert!(
        !got.iter().any(|(_, v)| v.contains("welivesecurity")),
        "{got:?}"
    );
    assert!(
        !got.iter().any(|(_, v)| v.contains("example.com")),
        "{got:?}"
    );
    assert!(!got.iter().any(|(k, _)| k == "domain"), "{got:?}");
    assert!(!got.iter().any(|(k, _)| k == "md5"), "{got:?}");
    assert!(
        got.iter().any(|(k, v)| k == "file" && v == "setup.zip"),
        "{got:?}"
    );
    // Defanged references are indicators: the author marked them.
    assert!(has(
        "hxxps://www.google[.]com/x",
        "url",
        "https://www.google.com/x"
    ));
}

#[test]
fn stock_windows_programs_are_not_file_indicators() {
    let t =
        "The loader injected into a legitimate explorer.exe process, ran RUNDLL32.EXE and dropped \
             update_svc.exe, C:\\Users\\Public\\svchost.exe and a side-loaded version.dll.";
    let e = Extractor::default().extract_bytes(t.as_bytes());
    let files: Vec<&str> = e
        .indicators
        .iter()
        .filter(|i| i.kind == IndicatorType::File)
        .map(|i| i.value.as_str())
        .collect();
    assert_eq!(
        files,
        [
            "update_svc.exe",
            "C:\\Users\\Public\\svchost.exe",
            "version.dll"
        ],
        "{files:?}"
    );
    assert!(
        e.report
            .suppressed
            .iter()
            .any(|(r, n)| r == "system-program" && *n == 2),
        "{:?}",
        e.report.suppressed
    );
    let summary = e.report.summary();
    assert!(
        summary.contains("2 non-indicator(s) suppressed (system-program 2)"),
        "{summary}"
    );
}

/// Lures are named in their victims' language; ESET's Machete, Evasive Panda and TA410 reports list such names.
#[test]
fn file_names_in_any_script() {
    let t = "Dropped Diseño_pptx.scr and `deutsch-tibetisches_wörterbuch_installer_windows.zip`; \
             the document |絆邧坋蔡趕昴.doc| and Приказ_МО_України.docx, then \"Sancion_Nº02147.vbs\".";
    let files: Vec<String> = ex(t)
        .into_iter()
        .filter(|(k, _)| k == "file")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        files,
        [
            "Diseño_pptx.scr",
            "deutsch-tibetisches_wörterbuch_installer_windows.zip",
            "絆邧坋蔡趕昴.doc",
            "Приказ_МО_України.docx",
            "Sancion_Nº02147.vbs"
        ],
        "{files:?}"
    );
    // Non-ASCII names that are not files: an IDN domain stays a domain, punctuation is no part of a name, and a
    // name without a file extension is no file.
    assert!(has("see bücher.de now", "domain", "xn--bcher-kva.de"));
    assert!(ex("the «€€€.exe» and ünter.wort")
        .iter()
        .all(|(k, _)| k != "file"));
}

#[test]
fn stock_windows_programs_are_sorted() {
    let l = super::classify::STOCK_WINDOWS_PROGRAMS;
    assert!(l.windows(2).all(|w| w[0] < w[1]));
    assert!(l.iter().all(|p| *p == p.to_ascii_lowercase()));
}

#[test]
fn warning_lists_suppress_plain_values() {
    let wl = vigil_model::warninglist::WarningList {
        name: "top".into(),
        description: String::new(),
        list_type: "hostname".into(),
        version: 1,
        entries: vec!["dropbox.com".into()],
        matching_attributes: vec![],
    };
    let x = Extractor::default().with_warning_lists(&[wl]);
    let e = x.extract_bytes(b"uploads to dropbox.com and www.dropbox.com, C2 dropbox[.]com");
    let vals: Vec<_> = e
        .indicators
        .iter()
        .map(|i| (i.value.as_str(), i.offset))
        .collect();
    assert_eq!(vals, vec![("dropbox.com", 47)]);
    assert!(e
        .report
        .suppressed
        .iter()
        .any(|(r, n)| r == "warning-list:top" && *n == 2));
}

#[test]
fn offsets_are_bytes_into_input() {
    let t = "é à evil[.]com";
    let e = extract(t.as_bytes());
    assert_eq!(
        e.indicators[0].offset as usize,
        t.find("evil").expect("there")
    );
}

#[test]
fn html_input() {
    let h = "<html><body><script>var u='http://script.evil.com/';</script><p>C2 &lt;evil[.]org&gt;</p></body></html>";
    let e = extract(h.as_bytes());
    let vals: Vec<_> = e.indicators.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(vals, vec!["evil.org"]);
    assert_eq!(&h[e.indicators[0].offset as usize..][..4], "evil");
    assert!(e.report.html_removed_bytes > 0);
}

/// A report saved by Windows PowerShell 5.1 (`>`: UTF-16LE with a byte-order mark) or without a mark, in either
/// byte order: the same indicators as its UTF-8 text, offsets counting the input's bytes, whole or streamed.
#[test]
fn utf16_reports_yield_the_utf8_text_s_indicators() {
    let text = "Отчёт: C2 at hxxp://evil-domain[.]com/gate.php and 203.0.113[.]77;\n\
                dropper 5f4dcc3b5aa765d61d8327deb882cf99 😀 mailed from a@bad-mail.org, CVE-2021-44228.\n";
    let utf8 = extract(text.as_bytes());
    assert!(utf8.indicators.len() >= 6, "{:?}", utf8.indicators);
    for (order, bom) in [
        (Utf16Order::Little, true),
        (Utf16Order::Little, false),
        (Utf16Order::Big, true),
    ] {
        let input = vigil_model::encoding::encode_utf16(text, order, bom);
        let e = extract(&input);
        assert_eq!(kinds_values(&e), kinds_values(&utf8), "{order:?} bom {bom}");
        assert!(
            e.report.notes.iter().any(|n| n.contains(order.name())),
            "{:?}",
            e.report.notes
        );
        assert_eq!(e.report.control_bytes, 0);
        // Each offset is where the indicator's text starts in the UTF-16 input.
        for (i, u) in e.indicators.iter().zip(&utf8.indicators) {
            let at = Utf16Text::decode(&input[i.offset as usize..], order).text;
            assert!(
                at.starts_with(&text[u.offset as usize..][..4]),
                "{i:?}: {at:?}"
            );
        }
        let x = Extractor::new(ExtractOptions {
            window: 4096,
            ..Default::default()
        });
        let streamed = x.extract_reader(&input[..]).expect("reads");
        assert_eq!(streamed.indicators, e.indicators);
    }
}

/// A report in Cyrillic saved as UTF-16 without a byte-order mark: most code units have the high byte 0x04, not
/// NUL, yet it is read as UTF-16 and gives the indicators of its UTF-8 text, whole or streamed.
#[test]
fn utf16_reports_in_cyrillic_without_a_mark_yield_their_indicators() {
    let text = "Звіт про кампанію. Шкідливий сервер керування evil-update[.]ru працював разом з адресою \
                185.244.25[.]17 та файлом з хешем 44d88612fea8a8f36de82e1237ecb8ad. Група надсилала листи з \
                вкладеннями, щоб отримати початковий доступ до мереж державних установ.\n";
    let utf8 = extract(text.as_bytes());
    assert_eq!(
        kinds_values(&utf8),
        vec![
            ("domain".to_string(), "evil-update.ru".to_string()),
            ("ipv4".to_string(), "185.244.25.17".to_string()),
            (
                "md5".to_string(),
                "44d88612fea8a8f36de82e1237ecb8ad".to_string()
            ),
        ]
    );
    for order in [Utf16Order::Little, Utf16Order::Big] {
        let input = vigil_model::encoding::encode_utf16(text, order, false);
        let e = extract(&input);
        assert_eq!(kinds_values(&e), kinds_values(&utf8), "{order:?}");
        assert_eq!(e.report.control_bytes, 0, "{order:?}");
        let x = Extractor::new(ExtractOptions {
            window: 4096,
            ..Default::default()
        });
        let streamed = x.extract_reader(&input[..]).expect("reads");
        assert_eq!(streamed.indicators, e.indicators, "{order:?}");
    }
}

#[test]
fn utf16_reports_in_chinese_japanese_and_korean_without_a_mark_yield_their_indicators() {
    // Indicators against ideographs with no space between (as Chinese and Japanese are written) and against
    // full-width punctuation.
    let texts = [
        "报告：攻击者使用恶意域名evil-update[.]cn和IP地址185.244.25[.]17，通过钓鱼邮件投递木马（MD5：\
         44d88612fea8a8f36de82e1237ecb8ad）。该组织的目标是政府机构。\n",
        "報告書：攻撃者はC2サーバーevil-update[.]cn（185.244.25[.]17）を使い、マルウェア（MD5：\
         44d88612fea8a8f36de82e1237ecb8ad）をフィッシングメールで配布した。\n",
        "보고서: 공격자는 명령 서버 evil-update[.]cn (185.244.25[.]17)을 사용하여 악성코드 \
         (MD5 44d88612fea8a8f36de82e1237ecb8ad)를 피싱 메일로 유포했다.\n",
    ];
    for text in texts {
        let utf8 = extract(text.as_bytes());
        assert_eq!(
            kinds_values(&utf8),
            vec![
                ("domain".to_string(), "evil-update.cn".to_string()),
                ("ipv4".to_string(), "185.244.25.17".to_string()),
                (
                    "md5".to_string(),
                    "44d88612fea8a8f36de82e1237ecb8ad".to_string()
                ),
            ],
            "{text}"
        );
        for order in [Utf16Order::Little, Utf16Order::Big] {
            let input = vigil_model::encoding::encode_utf16(text, order, false);
            let e = extract(&input);
            assert_eq!(kinds_values(&e), kinds_values(&utf8), "{text} {order:?}");
            assert_eq!(e.report.control_bytes, 0, "{text} {order:?}");
            let x = Extractor::new(ExtractOptions {
                window: 4096,
                ..Default::default()
            });
            let streamed = x.extract_reader(&input[..]).expect("reads");
            assert_eq!(streamed.indicators, e.indicators, "{text} {order:?}");
        }
    }
}

#[test]
fn legacy_encoded_reports_yield_their_indicators_at_their_input_offsets() {
    let cases: [(&str, &'static encoding_rs::Encoding, &[&str]); 5] = [
        (
            "Word's plain text: the C2 “update-check[.]example-cdn.net” and «185.244.25[.]17» – see annex.\n",
            encoding_rs::WINDOWS_1252,
            &["update-check.example-cdn.net", "185.244.25.17"],
        ),
        (
            "Сървърът «evil-update[.]bg» и адресът „185.244.25[.]17“ са активни от вторник.\n",
            encoding_rs::WINDOWS_1251,
            &["evil-update.bg", "185.244.25.17"],
        ),
        (
            "Útočníci použili doménu „evil-update[.]cz“ a adresu 185.244.25[.]17 – škodlivý soubor.\n",
            encoding_rs::WINDOWS_1250,
            &["evil-update.cz", "185.244.25.17"],
        ),
        (
            "报告：攻击者使用恶意域名evil-update[.]cn和IP地址185.244.25[.]17，通过钓鱼邮件投递木马。\n",
            encoding_rs::GBK,
            &["evil-update.cn", "185.244.25.17"],
        ),
        (
            "報告書：攻撃者はC2サーバーevil-update[.]jp（185.244.25[.]17）を使い、マルウェアを配布した。\n",
            encoding_rs::SHIFT_JIS,
            &["evil-update.jp", "185.244.25.17"],
        ),
    ];
    for (text, enc, want) in cases {
        let (bytes, _, bad) = enc.encode(text);
        assert!(!bad);
        let e = extract(&bytes);
        let got: Vec<&str> = e.indicators.iter().map(|i| i.value.as_str()).collect();
        assert_eq!(got, want, "{text}");
        assert_eq!(e.report.invalid_utf8_tokens, 0, "{text}");
        assert!(
            e.report
                .notes
                .iter()
                .any(|n| n.starts_with("input read as")),
            "{text}: {:?}",
            e.report.notes
        );
        // Each offset is where the indicator's first character is in the input's bytes.
        for i in &e.indicators {
            let at = i.offset as usize;
            assert!(
                bytes[at..].starts_with(&i.value.as_bytes()[..5]),
                "{} at {at}",
                i.value
            );
        }
        let streamed = Extractor::default()
            .extract_reader(&bytes[..])
            .expect("reads");
        assert_eq!(streamed.indicators, e.indicators, "{text}");
    }
}

#[test]
fn streaming_matches_whole_and_bounds_long_tokens() {
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!(
            "line {i} host{i}.evil[.]com 10.{}.{}.9 ok\n",
            i % 200,
            i % 100
        ));
    }
    let whole = extract(text.as_bytes());
    let x = Extractor::new(ExtractOptions {
        window: 4096,
        ..Default::default()
    });
    let streamed = x.extract_reader(text.as_bytes()).expect("reads");
    assert_eq!(whole.indicators, streamed.indicators);

    // One huge token in the middle of a line, read in small windows: skipped, reported, the rest found.
    let mut big = b"before evil[.]com ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 100_000));
    big.extend_from_slice(b" after bad[.]org\n");
    let x = Extractor::new(ExtractOptions {
        window: 4096,
        max_token: 1024,
        ..Default::default()
    });
    let e = x.extract_reader(&big[..]).expect("reads");
    let vals: Vec<_> = e.indicators.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(vals, vec!["evil.com", "bad.org"]);
    assert_eq!(e.report.long_tokens, vec![(18, 100_000)]);
    assert_eq!(e.indicators[1].offset as usize, big.len() - 10);
}

#[test]
fn binary_garbage_is_survivable() {
    let mut g: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    g.extend_from_slice(b" evil[.]com ");
    let e = extract(&g);
    assert!(e.indicators.iter().any(|i| i.value == "evil.com"));
    assert!(e.report.control_bytes > 0);
}

proptest::proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let _ = extract(&bytes);
    }

    #[test]
    fn never_panics_on_ioc_like_text(s in "[a-zA-Z0-9.:/@\\[\\]()\\\\%_ \\-]{0,300}") {
        let e = extract(s.as_bytes());
        for i in e.indicators {
            proptest::prop_assert!((i.offset as usize) < s.len());
            proptest::prop_assert!((0.0..=1.0).contains(&i.confidence));
        }
    }

    #[test]
    fn streaming_equals_whole(s in "[a-z0-9.\\[\\] \\n]{0,3000}", w in 4096usize..6000) {
        let whole = extract(s.as_bytes());
        let x = Extractor::new(ExtractOptions { window: w, ..Default::default() });
        let st = x.extract_reader(s.as_bytes()).expect("reads");
        proptest::prop_assert_eq!(whole.indicators, st.indicators);
    }

    #[test]
    fn indicators_are_found_between_ideographs(
        pre in "[恶意域名攻击者服务器地址はのサーバー서버는]{1,6}",
        label in "[a-z][a-z0-9]{2,10}",
        tld in "(com|cn|jp|kr|net)",
        post in "[和与はでを을를，。（）：]{1,4}",
    ) {
        let text = format!("{pre}{label}.{tld}{post}");
        let e = extract(text.as_bytes());
        let want = format!("{label}.{tld}");
        let hit = e.indicators.iter().find(|i| i.value == want);
        proptest::prop_assert!(hit.is_some(), "{} in {:?}", text, e.indicators);
        let at = hit.map_or(0, |i| i.offset as usize);
        proptest::prop_assert!(text.is_char_boundary(at) && text[at..].starts_with(&want));
    }

    #[test]
    fn streaming_equals_whole_between_ideographs(
        s in "[a-z0-9.\\[\\] \n恶意域名，。（）はを을]{0,2000}",
        w in 4096usize..6000,
    ) {
        let whole = extract(s.as_bytes());
        let x = Extractor::new(ExtractOptions { window: w, ..Default::default() });
        let st = x.extract_reader(s.as_bytes()).expect("reads");
        for i in &whole.indicators {
            proptest::prop_assert!(s.is_char_boundary(i.offset as usize));
        }
        proptest::prop_assert_eq!(whole.indicators, st.indicators);
    }
}

#[test]
fn ideograph_runs_do_not_make_the_scan_quadratic() {
    // A megabyte of ideographs with no space or punctuation is one over-long token, walked once.
    let mut text = "恶意".repeat(170_000);
    text.push_str(" then evil-update[.]cn and 字evil2-update[.]cn字");
    let t = std::time::Instant::now();
    let e = extract(text.as_bytes());
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    let v: Vec<&str> = e.indicators.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(v, ["evil-update.cn", "evil2-update.cn"]);
    assert_eq!(e.report.long_tokens.len(), 1);
}

#[test]
fn ideographic_labels_between_dots_stay_whole() {
    // An internationalised label is not cut from its dots, and a URL's path in ideographs stays in the URL.
    assert!(has("见 例子.com 。", "domain", "xn--fsqu00a.com"));
    assert!(has("（例子.com）", "domain", "xn--fsqu00a.com"));
    assert!(has(
        "下载地址http://evil.cn/下载?id=1，",
        "url",
        "http://evil.cn/%E4%B8%8B%E8%BD%BD?id=1"
    ));
    // Latin letters beside ASCII are one word as before (an accented label is an internationalised one).
    assert!(has("évil-update.fr", "domain", "xn--vil-update-96a.fr"));
}

#[test]
fn hash_named_files_in_urls() {
    let t = "dropper: http://cdn.cloudfronter[.]com/player/ext/20210119/842497c20072fc9b92f2b18e1d690103.exe here";
    assert!(
        has(t, "md5", "842497c20072fc9b92f2b18e1d690103"),
        "{:?}",
        ex(t)
    );
    assert!(has(
        t,
        "url",
        "http://cdn.cloudfronter.com/player/ext/20210119/842497c20072fc9b92f2b18e1d690103.exe"
    ));
    // A date-like or word-like path segment is not a hash.
    assert!(!ex("see https://example.net/docs/20210119.html")
        .iter()
        .any(|(k, _)| k == "md5"));
}
