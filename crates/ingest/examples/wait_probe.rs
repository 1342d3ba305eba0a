//! How long an API write waits for the store's writer while an ingest runs in the same process:
//! `cargo run --release -p vigil-ingest --example wait_probe -- PATH [INTERVAL_MS]` ingests PATH (as TLP:GREEN) into
//! a new store in a temporary folder while another thread writes an audit row every INTERVAL_MS (default 50),
//! then prints the run's time and the writes' waits (median, p90, p99, longest).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vigil_ingest::{ingest_paths, Options};
use vigil_store::sqlite::SqliteStore;
use vigil_store::MemberStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let path = a
        .first()
        .ok_or("usage: wait_probe PATH [INTERVAL_MS]")?
        .clone();
    let every = Duration::from_millis(a.get(1).map_or(Ok(50), |s| s.parse())?);
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path())?;
    let done = AtomicBool::new(false);
    let opts = Options {
        tlp: Some(vigil_model::Tlp::Green),
        ..Default::default()
    };
    std::thread::scope(|s| -> Result<(), Box<dyn std::error::Error>> {
        let api = s.spawn(|| -> Result<Vec<Duration>, vigil_store::StoreError> {
            let mut waits = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                store.audit("wait-probe", "write", "probe", "")?;
                waits.push(t.elapsed());
                std::thread::sleep(every);
            }
            Ok(waits)
        });
        let t = Instant::now();
        let r = ingest_paths(&store, std::slice::from_ref(&path), &opts, &mut |_| {});
        let took = t.elapsed();
        done.store(true, Ordering::Relaxed);
        let mut w = api.join().map_err(|_| "the writing thread panicked")??;
        let r = r?;
        w.sort();
        let q = |f: f64| {
            w.get(((w.len().max(1) - 1) as f64 * f) as usize)
                .copied()
                .unwrap_or_default()
        };
        println!(
            "ingest {:.1} s, {} added | {} writes: median {:?}, p90 {:?}, p99 {:?}, longest {:?}",
            took.as_secs_f64(),
            r.added,
            w.len(),
            q(0.5),
            q(0.9),
            q(0.99),
            q(1.0)
        );
        Ok(())
    })
}
