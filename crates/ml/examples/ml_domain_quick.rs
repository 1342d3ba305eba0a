fn main() {
    let corpus = std::path::PathBuf::from(std::env::args().nth(1).expect("corpus"));
    let m = vigil_ml::domain::train(&corpus).expect("train");
    let data = vigil_ml::domain::dataset(&corpus).expect("data");
    let pos: Vec<f64> = data.iter().filter(|s| s.test && s.malicious).map(|s| m.score(&s.domain)).collect();
    let postr: Vec<f64> = data.iter().filter(|s| !s.test && s.malicious).map(|s| m.score(&s.domain)).collect();
    let negtr: Vec<f64> = data.iter().filter(|s| !s.test && !s.malicious).map(|s| m.score(&s.domain)).collect();
    println!("train auc {:?}", vigil_ml::domain::roc(&postr, &negtr, &[0.01]));
    let mut lists: Vec<String> = data.iter().filter(|s| !s.malicious).map(|s| s.group.clone()).collect();
    lists.sort(); lists.dedup();
    for l in lists {
        let neg: Vec<f64> = data.iter().filter(|s| s.test && !s.malicious && s.group == l).map(|s| m.score(&s.domain)).collect();
        println!("{l} n={} {:?}", neg.len(), vigil_ml::domain::roc(&pos, &neg, &[0.01, 0.001]));
    }
}
