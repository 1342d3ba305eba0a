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

/// User plus system CPU time of this process (Linux `/proc/self/stat`, clock ticks of 1/100 s), so runs on a
/// shared machine compare by the work they did; NaN elsewhere.
fn cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        f.get(i)
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (tick(11) + tick(12)) / 100.0
}
