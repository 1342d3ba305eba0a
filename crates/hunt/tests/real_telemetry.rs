//! Real telemetry from ../shared/data: every Zeek log (JSON and TSV) of the WRCCDC sample and the
//! telemetry-misc samples read with zero unparsable lines, and a hunt with maltrail values completes.
//! Skips loudly when the shared data is absent.

use std::path::PathBuf;

use vigil_hunt::hunt::{hunt_collect, HuntOptions, LogSource};
use vigil_hunt::logs::{Format, FormatChoice};
use vigil_hunt::{IndicatorInput, IndicatorSetBuilder, IndicatorSource};
use vigil_model::Observable;

fn data() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: shared data not found at {} (real-telemetry tests did not run)",
            p.display()
        );
        None
    }
}

fn files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| {
        p.is_file()
            && !p
                .file_name()
                .is_some_and(|n| n == "README.md" || n == "LICENSE")
    });
    v.sort();
    v
}

/// A small real indicator set: the LummaC2 maltrail list plus a few values known to be in the WRCCDC logs.
fn set() -> vigil_hunt::IndicatorSet {
    let mut b = IndicatorSetBuilder::new();
    if let Some(d) = data() {
        if let Ok(text) = std::fs::read_to_string(d.join("maltrail/lummac2.txt")) {
            for (n, line) in text.lines().enumerate() {
                let v = line.trim();
                if v.is_empty() || v.starts_with('#') {
                    continue;
                }
                if let Some(o) = Observable::detect(v) {
                    let mut i = IndicatorInput::new(
                        format!("maltrail-lummac2-{n}"),
                        IndicatorSource::Observable(o),
                    );
                    i.subdomains = true;
                    i.malware = vec!["LummaC2".into()];
                    let _ = b.add(&i);
                }
            }
        }
    }
    for (n, v) in ["wrccdc.org", "10.47.3.200", "talk.google.com"]
        .iter()
        .enumerate()
    {
        let mut i = IndicatorInput::new(
            format!("known-{n}"),
            IndicatorSource::Observable(Observable::detect(v).expect("valid")),
        );
        i.subdomains = true;
        b.add(&i).expect("adds");
    }
    b.build().expect("builds")
}

fn run(paths: Vec<PathBuf>, format: FormatChoice) -> vigil_hunt::hunt::Summary {
    let set = set();
    let inputs = paths.into_iter().map(LogSource::path).collect();
    let opts = HuntOptions {
        format,
        ..HuntOptions::default()
    };
    let (_, sum) = hunt_collect(&set, inputs, &opts).expect("hunts");
    sum
}

#[test]
fn zeek_wrccdc_json_reads_without_unparsable_lines() {
    let Some(d) = data() else { return };
    let paths = files(&d.join("zeek-wrccdc/zeek-json"));
    assert!(paths.len() >= 30);
    let sum = run(paths, FormatChoice::Auto);
    assert!(sum.file_errors.is_empty(), "{:?}", sum.file_errors);
    assert_eq!(sum.unparsable, 0, "{:?}", sum.errors);
    assert!(sum.lines >= 158_000, "{}", sum.lines);
    assert!(
        sum.formats.iter().all(|(_, f)| f == "zeek-json"),
        "{:?}",
        sum.formats
    );
    // The WRCCDC traffic queries its own domain and talks to 10.47.3.200.
    assert!(
        sum.hits_by_type.get("domain").copied().unwrap_or(0) > 1000,
        "{:?}",
        sum.hits_by_type
    );
    assert!(
        sum.hits_by_type.get("ipv4").copied().unwrap_or(0) > 100,
        "{:?}",
        sum.hits_by_type
    );
}

#[test]
fn zeek_wrccdc_tsv_reads_without_unparsable_lines_and_agrees_with_json() {
    let Some(d) = data() else { return };
    let tsv = run(
        files(&d.join("zeek-wrccdc/zeek-default")),
        FormatChoice::Auto,
    );
    assert!(tsv.file_errors.is_empty(), "{:?}", tsv.file_errors);
    assert_eq!(tsv.unparsable, 0, "{:?}", tsv.errors);
    assert!(
        tsv.formats.iter().all(|(_, f)| f == "zeek"),
        "{:?}",
        tsv.formats
    );
    // Same traffic, same matchable fields: the same hits per type.
    let json = run(
        files(&d.join("zeek-wrccdc/zeek-json")),
        FormatChoice::Fixed(Format::ZeekJson),
    );
    eprintln!(
        "tsv: {} lines {:?}; json: {} lines {:?}",
        tsv.lines, tsv.hits_by_type, json.lines, json.hits_by_type
    );
    assert_eq!(tsv.hits_by_type, json.hits_by_type);
}

#[test]
fn telemetry_misc_reads_without_unparsable_lines() {
    let Some(d) = data() else { return };
    let zeek = run(
        files(&d.join("telemetry-misc/zeek-infectedpcap")),
        FormatChoice::Auto,
    );
    assert!(zeek.file_errors.is_empty(), "{:?}", zeek.file_errors);
    assert_eq!(zeek.unparsable, 0, "{:?}", zeek.errors);
    let eve = run(
        vec![d.join("telemetry-misc/suricata-eve/eve.json")],
        FormatChoice::Auto,
    );
    assert!(eve.file_errors.is_empty(), "{:?}", eve.file_errors);
    assert_eq!(eve.unparsable, 0, "{:?}", eve.errors);
    assert_eq!(eve.lines, 253);
    assert_eq!(eve.formats[0].1, "eve");
}
