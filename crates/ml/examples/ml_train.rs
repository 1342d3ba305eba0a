//! Rebuilds the committed model artifacts: `cargo run --release -p vigil-ml --example ml_train -- CORPUS [OUT_DIR] [TASK]`
//! (the library side of `vigil ml train`; OUT_DIR defaults to crates/ml/models).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let corpus = PathBuf::from(
        args.next()
            .ok_or("usage: ml_train CORPUS [OUT_DIR] [TASK]")?,
    );
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(vigil_ml::models_dir);
    let task = args.next().map(|t| vigil_ml::Task::parse(&t)).transpose()?;
    let t0 = std::time::Instant::now();
    let arts = vigil_ml::train(task, &corpus)?;
    for p in vigil_ml::write_artifacts(&out, &arts)? {
        let n = std::fs::metadata(&p)?.len();
        println!("wrote {} ({n} bytes)", p.display());
    }
    println!("trained in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}
