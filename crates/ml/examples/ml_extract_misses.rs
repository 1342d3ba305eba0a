//! Study aid: the extractor's false positives and misses of one type on the ESET-style folders, against
//! the MISP events beside each report: `ml_extract_misses CORPUS/eset-malware-ioc TYPE`.
use vigil_ml::eval::extract::{extract_set, load_cases};
use vigil_ml::Extractor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut a = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(a.next().ok_or("usage: ml_extract_misses DIR TYPE")?);
    let ty = a.next().ok_or("usage: ml_extract_misses DIR TYPE")?;
    let (misp, _, _) = load_cases(&dir)?;
    let ex = Extractor::default();
    for c in &misp {
        let pred = extract_set(&ex, &std::fs::read(&c.text)?);
        let is = |k: &vigil_ml::IndicatorType| format!("{k:?}").eq_ignore_ascii_case(&ty);
        for (k, v) in &pred {
            if is(k) && !c.truth.contains(&(*k, v.clone())) {
                println!("FP\t{}\t{v}", c.name);
            }
        }
        for (k, v) in &c.truth {
            if is(k) && !pred.contains(&(*k, v.clone())) {
                println!("FN\t{}\t{v}", c.name);
            }
        }
    }
    Ok(())
}
