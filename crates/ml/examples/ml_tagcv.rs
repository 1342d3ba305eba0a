//! Cross-validation figure of the tagger on the training reports only (4 folds by report; held-out reports
//! not involved): `ml_tagcv CORPUS`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let corpus = std::env::args().nth(1).ok_or("usage: ml_tagcv CORPUS")?;
    let t0 = std::time::Instant::now();
    let (cv, thr, cthr) = vigil_ml::tag::cv_only(std::path::Path::new(&corpus))?;
    println!(
        "{{\"cv_tram50_f1\":{cv:.4},\"threshold\":{thr},\"centroid_threshold\":{cthr},\"seconds\":{:.1}}}",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
