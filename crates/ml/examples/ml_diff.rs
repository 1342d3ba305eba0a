//! Debug helper: prints false positives and negatives of one type on the ESET MISP cases.
fn main() {
    let dir = std::env::args().nth(1).expect("dir");
    let want = std::env::args().nth(2).unwrap_or_default();
    let ex = vigil_ml::Extractor::default();
    let (misp, _h, _) =
        vigil_ml::eval::extract::load_cases(std::path::Path::new(&dir)).expect("cases");
    for c in misp {
        let pred =
            vigil_ml::eval::extract::extract_set(&ex, &std::fs::read(&c.text).expect("read"));
        for (k, v) in pred.difference(&c.truth) {
            if k.as_str() == want {
                println!("FP {} {}", c.name, v);
            }
        }
        for (k, v) in c.truth.difference(&pred) {
            if k.as_str() == want {
                println!("FN {} {}", c.name, v);
            }
        }
    }
}
