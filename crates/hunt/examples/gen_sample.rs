//! Writes a small generated log to stdout (for eyeballing the generator): `gen_sample zeek-json|zeek-tsv|eve N`.
use vigil_hunt::gen::{generate, GenConfig, GenFormat, Plant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let format = match args.get(1).map(String::as_str) {
        Some("zeek-tsv") => GenFormat::ZeekTsv,
        Some("eve") => GenFormat::Eve,
        _ => GenFormat::ZeekJson,
    };
    let lines = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(20);
    let plant = Plant::new(1, 10);
    let cfg = GenConfig {
        format,
        seed: 1,
        lines,
        hit_rate: 0.2,
        near_miss_rate: 0.3,
    };
    let mut out = std::io::stdout().lock();
    match generate(&plant, &cfg, &mut out) {
        Ok(hits) => eprintln!("{} planted hits", hits.len()),
        Err(e) => eprintln!("error: {e}"),
    }
}
