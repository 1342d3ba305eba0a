//! Domain scoring speed on one core: `ml_domspeed CORPUS [ROUNDS] [MODEL]` (profiling aid for `vigil bench ml`).
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
    let ds = vigil_ml::domain::dataset(&corpus)?;
    let names: Vec<&str> = ds.iter().map(|s| s.domain.as_str()).collect();
    let mut buf = Vec::with_capacity(64);
    let t0 = std::time::Instant::now();
    let mut acc = 0.0;
    for _ in 0..rounds {
        for d in &names {
            acc += m.score_with(d, &mut buf);
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "{:.2} M domains/s (checksum {acc:.1})",
        (names.len() * rounds) as f64 / dt / 1e6
    );
    Ok(())
}
