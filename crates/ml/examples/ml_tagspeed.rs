//! Document-level tagging speed of the embedded tagger over TRAM's reports (the whole `Tagger::tag` path:
//! sentence scores, stacker, neighbour vote, evidence): `ml_tagspeed CORPUS`.

use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let corpus = PathBuf::from(std::env::args().nth(1).ok_or("usage: ml_tagspeed CORPUS")?);
    let m = vigil_ml::tag::Tagger::embedded()?;
    let reports = vigil_ml::tag::load_reports(&corpus)?;
    let nsent: usize = reports
        .iter()
        .map(|r| vigil_ml::text::sentences(&r.text).len())
        .sum();
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let tags: usize = reports
        .iter()
        .map(|r| m.tag(&r.text).techniques.len())
        .sum();
    let (dt, dc) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    println!(
        "{} reports, {nsent} sentences, {tags} tags: {dt:.2} s wall, {dc:.2} CPU-s = {:.0} sentences/s wall, {:.0} per CPU-second",
        reports.len(),
        nsent as f64 / dt,
        nsent as f64 / dc.max(1e-9)
    );
    Ok(())
}

/// CPU seconds of this (single-threaded) measurement; 0 where `/proc` is absent.
fn cpu_seconds() -> f64 {
    vigil_ml::eval::thread_cpu_seconds().unwrap_or(0.0)
}
