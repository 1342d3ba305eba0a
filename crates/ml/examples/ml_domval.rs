//! Domain model settings on the validation split inside the training families (never the held-out ones):
//! `cargo run --release -p vigil-ml --example ml_domval -- CORPUS EPOCHS LR L2 CAP DYN(0|1) TREES WORDS(0|1)...`
//! (TREES: second-stage trees, 0 for the first stage alone; WORDS: the word-segmentation inputs).
//! `VIGIL_DOMVAL_SALT=b` draws another validation quarter (the default is the empty salt).
//! `VIGIL_DOMVAL_MLP=HIDDEN,EPOCHS,BLEND` adds a second-stage network; `VIGIL_DOMVAL_FAMPOW=P` weighs the
//! second stage's malicious names by (family size)^-P; `VIGIL_DOMVAL_CHARLM=ORDER` sets the two character
//! language models' context (benign registrable labels, English prose words; shipped 5, 0 for none: model
//! version 4's inputs); `VIGIL_DOMVAL_FASTLM=BITS` their cheap form's size (2^BITS hashed slots; shipped 18, 0
//! for the exact models); `VIGIL_DOMVAL_EXTRA=0|1` fitting on maltrail's `trails/static/malicious/` files too
//! (training only; shipped 1); `VIGIL_DOMVAL_TREES`, `_SHRINK`, `_BINS`, `_AVG`, `_FOLDS`, `_LAMBDA` and
//! `_MINHESS`, `_SUBSAMPLE`, `_COLSAMPLE` and `_DEPTH`: see `Params::with_study_env`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let corpus = std::path::PathBuf::from(
        a.first()
            .ok_or("usage: ml_domval CORPUS [EPOCHS LR L2 CAP DYN TREES WORDS]...")?,
    );
    let salt = std::env::var("VIGIL_DOMVAL_SALT").unwrap_or_default();
    for c in a[1..].chunks(7) {
        if c.len() < 7 {
            break;
        }
        let p = vigil_ml::domain::Params {
            epochs: c[0].parse()?,
            lr: c[1].parse()?,
            l2: c[2].parse()?,
            per_family_cap: c[3].parse()?,
            dyn_dns: c[4] == "1",
            stage2_trees: c[5].parse()?,
            words: c[6] == "1",
            ..vigil_ml::domain::Params::default()
        };
        let p = p.with_study_env()?;
        let t0 = std::time::Instant::now();
        let (auc, tpr) = vigil_ml::domain::validate_salted(&corpus, p, &salt)?;
        println!(
            "{p:?}: validation AUC {auc:.4}, TPR@1%FPR {tpr:.4} ({:.0} s)",
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
