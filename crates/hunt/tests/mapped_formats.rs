//! Generic JSON-lines and CSV readers with a field mapping, and the DNS/proxy formats end to end.

use vigil_hunt::hunt::{hunt_collect, HuntOptions, LogSource, Sighting};
use vigil_hunt::logs::{FieldMap, Format, FormatChoice};
use vigil_hunt::{IndicatorInput, IndicatorSet, IndicatorSetBuilder, IndicatorSource, Role};
use vigil_model::Observable;

fn set() -> IndicatorSet {
    let mut b = IndicatorSetBuilder::new();
    for (i, v) in [
        "evil.com",
        "6.6.6.6",
        "http://bad.org/gate.php",
        "mallory@evil.org",
    ]
    .iter()
    .enumerate()
    {
        let mut x = IndicatorInput::new(
            format!("ind-{i}"),
            IndicatorSource::Observable(Observable::detect(v).expect("valid")),
        );
        x.subdomains = true;
        b.add(&x).expect("adds");
    }
    b.build().expect("builds")
}

fn run(format: Option<Format>, text: &str) -> (Vec<Sighting>, vigil_hunt::hunt::Summary) {
    let opts = HuntOptions {
        format: format.map_or(FormatChoice::Auto, FormatChoice::Fixed),
        ..HuntOptions::default()
    };
    hunt_collect(
        &set(),
        vec![LogSource::reader(
            "in",
            std::io::Cursor::new(text.as_bytes().to_vec()),
        )],
        &opts,
    )
    .expect("hunts")
}

fn map() -> FieldMap {
    FieldMap {
        fields: vec![
            ("req.host".into(), Role::Domain),
            ("client".into(), Role::SrcIp),
            ("url".into(), Role::Url),
            ("sender".into(), Role::Email),
        ],
        ts: Some("time".into()),
    }
}

#[test]
fn jsonl_with_mapping() {
    let text = concat!(
        r#"{"time":"2024-05-01T10:00:00+02:00","req":{"host":"www.evil.com","agent":"evil.com"},"client":"10.0.0.1"}"#,
        "\n",
        r#"{"time":1714557600,"url":"http://bad.org/gate.php?x=1","client":"6.6.6.6","note":"6.6.6.6"}"#,
        "\n",
        r#"{"time":"x","sender":"mallory@EVIL.org","other":"mallory@evil.org"}"#,
        "\n"
    );
    let (s, sum) = run(Some(Format::Jsonl(map())), text);
    assert_eq!(sum.unparsable, 0);
    let got: Vec<(u64, &str, &str)> = s
        .iter()
        .map(|x| (x.line, x.field.as_str(), x.indicator_id.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "req.host", "ind-0"),
            (2, "url", "ind-2"),
            (2, "client", "ind-1"),
            (3, "sender", "ind-3")
        ]
    );
    assert_eq!(s[0].ts.as_deref(), Some("2024-05-01T08:00:00Z"));
    assert_eq!(s[1].ts.as_deref(), Some("2024-05-01T10:00:00Z"));
    assert_eq!(s[3].ts, None);
}

#[test]
fn csv_with_header_and_mapping() {
    let text = "time,client,req.host,comment,url\n\
                2024-05-01T10:00:00Z,10.0.0.1,a.evil.com,\"mentions evil.com, twice\",\n\
                2024-05-01T10:00:01Z,6.6.6.6,\"ok.example\",,\"http://bad.org/gate.php\"\n\
                broken,row\n";
    let (s, sum) = run(Some(Format::Csv(map())), text);
    assert_eq!(sum.unparsable, 1, "{:?}", sum.errors);
    assert_eq!(sum.errors[0].line, 4);
    let got: Vec<(u64, &str, &str)> = s
        .iter()
        .map(|x| (x.line, x.field.as_str(), x.observed.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "req.host", "a.evil.com"),
            (3, "client", "6.6.6.6"),
            (3, "url", "http://bad.org/gate.php")
        ]
    );
}

#[test]
fn bind_unbound_squid_end_to_end_with_detection() {
    let bind = "24-Mar-2018 17:15:20.866 queries: info: client @0x7f8b2c0a3e20 10.47.1.100#41772 (a.evil.com): query: a.evil.com IN A +E(0)K (10.0.0.100)\n\
                24-Mar-2018 17:15:21.001 queries: info: client @0x7f8b2c0a3e20 10.47.1.100#41773 (notevil.com): query: notevil.com IN A +E(0)K (10.0.0.100)\n";
    let (s, sum) = run(None, bind);
    assert_eq!(sum.formats[0].1, "bind");
    assert_eq!(s.len(), 1);
    assert_eq!(
        (s[0].field.as_str(), s[0].ts.as_deref()),
        ("query", Some("2018-03-24T17:15:20.866Z"))
    );
    let unbound = "[1521911720] unbound[1234:0] info: start of service (unbound 1.17.1).\n[1521911721] unbound[1234:0] info: 10.0.0.9 x.evil.com. A IN\n";
    let (s, sum) = run(None, unbound);
    assert_eq!(
        (sum.formats[0].1.as_str(), sum.unparsable, s.len()),
        ("unbound", 0, 1)
    );
    assert_eq!(s[0].ts.as_deref(), Some("2018-03-24T17:15:21Z"));
    let squid = "1286536309.450    123 192.168.0.1 TCP_MISS/200 1234 GET http://bad.org/gate.php?id=7 - DIRECT/6.6.6.6 text/html\n\
                 1286536310.100     55 192.168.0.1 TCP_TUNNEL/200 99 CONNECT cdn.evil.com:443 - HIER_DIRECT/1.2.3.4 -\n";
    let (s, sum) = run(None, squid);
    assert_eq!(sum.formats[0].1, "squid");
    let got: Vec<(u64, &str)> = s.iter().map(|x| (x.line, x.field.as_str())).collect();
    assert_eq!(got, vec![(1, "url"), (1, "peer"), (2, "host")]);
}
