//! Real-data checks on shared/data (skipped loudly when absent): extraction against the ESET MISP events,
//! every ESET report and MISP event run through the extractor without panic, and the bad-input cases.

mod common;

use vigil_ml::eval::{eval_extract, misp_ground_truth};
use vigil_ml::{ExtractOptions, Extractor, IndicatorType};

#[test]
fn eset_extraction_quality() {
    let Some(data) = common::shared_data("eset_extraction_quality") else {
        return;
    };
    let m = eval_extract(&data.join("eset-malware-ioc"), &Extractor::default()).expect("eval");
    assert!(m.misp_documents >= 10, "{}", m.misp_documents);
    // The truncated pypi event is reported, not fatal.
    assert!(
        m.skipped_files.iter().any(|s| s.contains("pypi")),
        "{:?}",
        m.skipped_files
    );
    let f1 = |t: IndicatorType| m.misp.get(&t).map(|p| p.f1).unwrap_or(0.0);
    assert!(
        f1(IndicatorType::Sha1) > 0.7,
        "sha1 {:?}",
        m.misp.get(&IndicatorType::Sha1)
    );
    assert!(
        f1(IndicatorType::Ipv4) > 0.7,
        "ipv4 {:?}",
        m.misp.get(&IndicatorType::Ipv4)
    );
    assert!(
        f1(IndicatorType::Btc) > 0.8,
        "btc {:?}",
        m.misp.get(&IndicatorType::Btc)
    );
    assert!(
        m.misp
            .get(&IndicatorType::Domain)
            .map(|p| p.recall)
            .unwrap_or(0.0)
            > 0.9
    );
    let h = m
        .hash_lists
        .get(&IndicatorType::Sha1)
        .expect("sha1 hash lists");
    assert!(h.precision > 0.95, "{h:?}");
}

#[test]
fn misp_ground_truth_reads_objects_and_composites() {
    let v = serde_json::json!({"Event": {"Attribute": [
        {"type": "filename|sha1", "value": "a.exe|19bf019fc0bf44828378f008332430a080871274"},
        {"type": "ip-dst|port", "value": "1.2.3.4|443"},
        {"type": "domain", "value": "Evil[.]com"}],
        "Object": [{"Attribute": [{"type": "url", "value": "hxxp://x[.]ru/a"}]}]}});
    let t = misp_ground_truth(&v);
    let has = |k: IndicatorType, s: &str| t.contains(&(k, s.to_string()));
    assert!(has(
        IndicatorType::Sha1,
        "19bf019fc0bf44828378f008332430a080871274"
    ));
    assert!(has(IndicatorType::File, "a.exe"));
    assert!(has(IndicatorType::Ipv4, "1.2.3.4"));
    assert!(has(IndicatorType::Domain, "evil.com"));
    assert!(has(IndicatorType::Url, "http://x.ru/a"));
}

#[test]
fn every_shared_text_extracts_without_panic() {
    let Some(data) = common::shared_data("every_shared_text_extracts_without_panic") else {
        return;
    };
    let ex = Extractor::new(ExtractOptions {
        window: 8192,
        ..Default::default()
    });
    let mut n = 0;
    for dir in ["eset-malware-ioc", "misp-events-pymisp", "stix2-examples"] {
        let mut stack = vec![data.join(dir)];
        while let Some(p) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&p) else {
                continue;
            };
            for e in rd.flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(b) = std::fs::read(&path) {
                    let whole = ex.extract_bytes(&b);
                    let streamed = ex.extract_reader(&b[..]).expect("reads");
                    assert_eq!(
                        whole.indicators.len(),
                        streamed.indicators.len(),
                        "{}",
                        path.display()
                    );
                    n += 1;
                }
            }
        }
    }
    assert!(n > 100, "{n} files");
}

#[test]
fn huge_single_line_is_bounded() {
    // 64 MiB of one line with indicators sprinkled in, read in 1 MiB windows: memory stays at a window.
    struct Gen {
        left: usize,
        i: usize,
    }
    impl std::io::Read for Gen {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.left);
            for b in &mut buf[..n] {
                *b = if self.i % 1000 == 999 {
                    b' '
                } else {
                    b'a' + (self.i % 26) as u8
                };
                self.i += 1;
            }
            if n >= 20 && self.i.is_multiple_of(7) {
                buf[..12].copy_from_slice(b" evil[.]com ");
            }
            self.left -= n;
            Ok(n)
        }
    }
    let ex = Extractor::default();
    let e = ex
        .extract_reader(Gen {
            left: 64 << 20,
            i: 0,
        })
        .expect("reads");
    assert_eq!(e.report.bytes, 64 << 20);
    // And one token with no separator at all is skipped and reported, not buffered.
    let e = ex
        .extract_reader(std::io::repeat(b'x').take_n(8 << 20))
        .expect("reads");
    assert!(e.indicators.is_empty());
    assert_eq!(e.report.long_tokens.len(), 1);
}

trait TakeN: std::io::Read + Sized {
    fn take_n(self, n: u64) -> std::io::Take<Self> {
        std::io::Read::take(self, n)
    }
}
impl<R: std::io::Read> TakeN for R {}
