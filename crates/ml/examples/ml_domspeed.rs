//! Domain scoring speed on one core: `ml_domspeed CORPUS [ROUNDS] [MODEL]` (profiling aid for `vigil bench ml`).
//! CORPUS may also be a file of names, one per line (quick to load under valgrind, for instruction counts).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut a = std::env::args().skip(1);
    let corpus = std::path::PathBuf::from(
        a.next()
            .ok_or("usage: ml_domspeed CORPUS [ROUNDS] [MODEL]")?,
    );
    let rounds: usize = a.next().and_then(|r| r.parse().ok()).unwrap_or(10);
    let m = match a.next() {
        Some(p) => vigil_ml::domain::DomainModel::from_path(std::path::Path::new(&p))?,
        None => vigil_ml::domain::DomainModel::embedded()?,
    };
    let owned: Vec<String> = if corpus.is_file() {
        std::fs::read_to_string(&corpus)?
            .lines()
            .map(str::to_string)
            .collect()
    } else {
        vigil_ml::domain::dataset(&corpus)?
            .into_iter()
            .map(|s| s.domain)
            .collect()
    };
    let names: Vec<&str> = owned.iter().map(String::as_str).collect();
    let mut buf = Vec::with_capacity(64);
    let c0 = cpu_seconds();
    let t0 = std::time::Instant::now();
    let mut acc = 0.0;
    for _ in 0..rounds {
        for d in &names {
            acc += m.score_with(d, &mut buf);
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c0;
    let n = (names.len() * rounds) as f64;
    println!(
        "{:.2} M domains/s wall, {:.2} M per CPU-second (checksum {acc:.1})",
        n / dt / 1e6,
        n / cpu / 1e6
    );
    Ok(())
}

/// CPU seconds of this (single-threaded) measurement; NaN where `/proc` is absent.
fn cpu_seconds() -> f64 {
    vigil_ml::eval::thread_cpu_seconds().unwrap_or(f64::NAN)
}
