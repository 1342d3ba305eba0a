//! Prints the held-out metrics of every task as JSON: `cargo run --release -p vigil-ml --example ml_eval -- CORPUS [TASK] [all]`
//! (the library side of `vigil ml eval`).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let corpus = PathBuf::from(args.next().ok_or("usage: ml_eval CORPUS [TASK] [all]")?);
    let tasks = match args.next() {
        Some(t) => vec![vigil_ml::Task::parse(&t)?],
        None => vigil_ml::Task::ALL.to_vec(),
    };
    let split = if args.next().as_deref() == Some("all") {
        vigil_ml::EvalSplit::All
    } else {
        vigil_ml::EvalSplit::HeldOut
    };
    for t in tasks {
        let t0 = std::time::Instant::now();
        let m = vigil_ml::eval(t, &corpus, split, &vigil_ml::ModelSource::Embedded)?;
        println!(
            "{{\"task\":\"{t}\",\"seconds\":{:.1},\"metrics\":{}}}",
            t0.elapsed().as_secs_f64(),
            serde_json::to_string(&m)?
        );
    }
    Ok(())
}
