fn main() {
    let corpus = std::path::PathBuf::from(std::env::args().nth(1).expect("corpus"));
    let t = std::time::Instant::now();
    let (m, met) = vigil_ml::tag::train_and_evaluate(&corpus).expect("train");
    eprintln!("trained+eval {:?} bytes={}", t.elapsed(), m.to_bytes().len());
    println!("{}", serde_json::to_string(&met).expect("json"));
}
