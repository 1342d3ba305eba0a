fn main() {
    let corpus = std::path::PathBuf::from(std::env::args().nth(1).expect("corpus"));
    let t = std::time::Instant::now();
    let m = vigil_ml::attribute::train(&corpus).expect("train");
    eprintln!("trained {:?} profiles={} bytes={}", t.elapsed(), m.profiles().len(), m.to_bytes().len());
    let m2 = vigil_ml::attribute::Attributor::from_bytes(&m.to_bytes()).expect("reload");
    println!("{}", serde_json::to_string(&vigil_ml::attribute::evaluate(&m2, 5)).expect("json"));
    let q = vigil_ml::attribute::Query { techniques: vec!["T1059".into(), "T1566".into()], software: vec!["S0154".into()], indicators: vec![] };
    println!("{}", serde_json::to_string(&m2.rank(&q, 3)).expect("json"));
}
