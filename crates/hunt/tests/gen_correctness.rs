//! Generator-based correctness: every planted hit is found, nothing else (near-misses included), for Zeek JSON,
//! Zeek TSV and EVE, plain, compressed and as UTF-16, with several thread counts.

use std::io::Write;

use vigil_hunt::gen::{generate, ExpectedHit, GenConfig, GenFormat, Plant};
use vigil_hunt::hunt::{hunt_collect, HuntOptions, LogSource, Sighting};
use vigil_hunt::logs::{Format, FormatChoice};
use vigil_hunt::{IndicatorSet, IndicatorSetBuilder};
use vigil_model::encoding::{encode_utf16, Utf16Order};

fn build(plant: &Plant) -> IndicatorSet {
    let mut b = IndicatorSetBuilder::new();
    for i in &plant.indicators {
        b.add(i).expect("planted indicator is valid");
    }
    b.build().expect("builds")
}

fn key(s: &Sighting) -> ExpectedHit {
    ExpectedHit {
        line: s.line,
        indicator_id: s.indicator_id.clone(),
        field: s.field.clone(),
        observed: s.observed.clone(),
        kind: s.kind,
    }
}

fn utf16(log: &[u8], order: Utf16Order, bom: bool) -> Vec<u8> {
    let text = std::str::from_utf8(log).expect("the generator writes UTF-8");
    encode_utf16(text, order, bom)
}

fn check(
    format: GenFormat,
    seed: u64,
    compress: Option<&str>,
    threads: usize,
    fixed: Option<Format>,
) {
    let plant = Plant::new(seed, 60);
    let set = build(&plant);
    let cfg = GenConfig {
        format,
        seed,
        lines: 20_000,
        hit_rate: 0.03,
        near_miss_rate: 0.1,
    };
    let mut log = Vec::new();
    let mut expected = generate(&plant, &cfg, &mut log).expect("generates");
    assert!(
        expected.len() > 300,
        "too few planted hits: {}",
        expected.len()
    );
    let data = match compress {
        Some("gz") => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&log).expect("compresses");
            e.finish().expect("compresses")
        }
        Some("zst") => zstd::encode_all(&log[..], 1).expect("compresses"),
        // As Windows PowerShell 5.1's `>` writes it, and big-endian without a byte-order mark, gzipped.
        Some("utf16le") => utf16(&log, Utf16Order::Little, true),
        Some("utf16be.gz") => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&utf16(&log, Utf16Order::Big, false))
                .expect("compresses");
            e.finish().expect("compresses")
        }
        _ => log.clone(),
    };
    let opts = HuntOptions {
        threads,
        chunk_bytes: 64 * 1024,
        format: fixed.map_or(FormatChoice::Auto, FormatChoice::Fixed),
        ..HuntOptions::default()
    };
    let (got, sum) = hunt_collect(
        &set,
        vec![LogSource::reader("gen.log", std::io::Cursor::new(data))],
        &opts,
    )
    .expect("hunts");
    assert_eq!(sum.unparsable, 0, "{:?}", sum.errors);
    assert!(sum.file_errors.is_empty(), "{:?}", sum.file_errors);
    assert_eq!(sum.bytes, log.len() as u64);
    let mut got: Vec<ExpectedHit> = got.iter().map(key).collect();
    got.sort();
    expected.sort();
    let missing: Vec<_> = expected
        .iter()
        .filter(|e| !got.contains(e))
        .take(5)
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|g| !expected.contains(g))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{format:?}: missing {missing:#?}\nextra {extra:#?}"
    );
    assert_eq!(got.len(), expected.len());
    assert_eq!(sum.hits, expected.len() as u64);
}

#[test]
fn zeek_json_finds_every_planted_hit_and_nothing_else() {
    check(GenFormat::ZeekJson, 1, None, 2, None);
    check(
        GenFormat::ZeekJson,
        2,
        Some("gz"),
        1,
        Some(Format::ZeekJson),
    );
}

#[test]
fn zeek_tsv_finds_every_planted_hit_and_nothing_else() {
    check(GenFormat::ZeekTsv, 3, None, 2, None);
    check(GenFormat::ZeekTsv, 4, Some("zst"), 3, Some(Format::ZeekTsv));
}

#[test]
fn eve_finds_every_planted_hit_and_nothing_else() {
    check(GenFormat::Eve, 5, None, 2, None);
    check(GenFormat::Eve, 6, Some("gz"), 2, Some(Format::Eve));
}

#[test]
fn utf16_logs_are_hunted_as_their_utf8_text() {
    check(GenFormat::ZeekJson, 11, Some("utf16le"), 2, None);
    check(GenFormat::ZeekTsv, 12, Some("utf16be.gz"), 2, None);
    check(GenFormat::Eve, 13, Some("utf16le"), 1, Some(Format::Eve));
}

#[test]
fn sighting_metadata_comes_from_the_indicator() {
    let plant = Plant::new(9, 10);
    let set = build(&plant);
    let cfg = GenConfig {
        format: GenFormat::Eve,
        seed: 9,
        lines: 3000,
        hit_rate: 0.1,
        near_miss_rate: 0.0,
    };
    let mut log = Vec::new();
    generate(&plant, &cfg, &mut log).expect("generates");
    let (got, _) = hunt_collect(
        &set,
        vec![LogSource::reader("e.json", std::io::Cursor::new(log))],
        &HuntOptions::default(),
    )
    .expect("hunts");
    for s in &got {
        let inp = plant
            .indicators
            .iter()
            .find(|i| i.id == s.indicator_id)
            .expect("known indicator");
        assert_eq!(s.malware, inp.malware);
        assert_eq!(s.actors, inp.actors);
        assert_eq!(s.tlp, inp.tlp);
        assert_eq!(s.score, inp.score);
        assert_eq!(s.file, "e.json");
        assert!(
            s.ts.as_deref()
                .is_some_and(|t| t.starts_with("2024-05-0") && t.ends_with('Z')),
            "{:?}",
            s.ts
        );
    }
    // min_score and TLP filters leave indicators out.
    let opts = HuntOptions {
        min_score: 70.0,
        tlp_max: Some(vigil_model::Tlp::Green),
        ..HuntOptions::default()
    };
    let mut log = Vec::new();
    generate(&plant, &cfg, &mut log).expect("generates");
    let (filtered, _) = hunt_collect(
        &set,
        vec![LogSource::reader("e.json", std::io::Cursor::new(log))],
        &opts,
    )
    .expect("hunts");
    assert!(filtered.len() < got.len());
    assert!(filtered
        .iter()
        .all(|s| s.score >= 70.0 && s.tlp == vigil_model::Tlp::Green));
}
