//! Times the STIX reader's two paths on one file held in memory: whole from memory (`parse`, inputs up to 128 MiB)
//! and object by object (`parse_streamed`, inputs over 128 MiB). `cargo run --release -p vigil-formats --example
//! stix_paths -- FILE [ROUNDS]`; prints objects per second of each, best of ROUNDS (default 5).
use std::time::Instant;

use vigil_formats::{stix, ParseCtx};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: stix_paths FILE [ROUNDS]")?;
    let rounds: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(5);
    let bytes = std::fs::read(&path)?;
    if bytes.len() >= stix::SLICE_LIMIT {
        return Err("the file must be under 128 MiB, so that `parse` reads it from memory".into());
    }
    let ctx = ParseCtx {
        source: "bench".into(),
        file: path.clone(),
        confidence: None,
        now: "2026-01-01T00:00:00.000Z".into(),
    };
    let mut best = [f64::MAX; 2];
    let mut count = [0usize; 2];
    for _ in 0..rounds {
        for (i, best) in best.iter_mut().enumerate() {
            let mut n = 0usize;
            let t = Instant::now();
            let res = if i == 0 {
                stix::parse(&mut &bytes[..], &ctx, &mut |_| {
                    n += 1;
                    Ok(())
                })
            } else {
                let r = std::io::BufReader::with_capacity(1 << 20, &bytes[..]);
                stix::parse_streamed(r, &ctx, &mut |_| {
                    n += 1;
                    Ok(())
                })
            };
            res?;
            *best = best.min(t.elapsed().as_secs_f64());
            count[i] = n;
        }
    }
    let mb = bytes.len() as f64 / 1e6;
    for (i, name) in ["from memory", "object by object"].iter().enumerate() {
        println!(
            "{name}: {} items in {:.3} s = {:.0} items/s, {:.0} MB/s",
            count[i],
            best[i],
            count[i] as f64 / best[i],
            mb / best[i]
        );
    }
    println!(
        "ratio (object by object / from memory, time): {:.2}",
        best[1] / best[0]
    );
    Ok(())
}
