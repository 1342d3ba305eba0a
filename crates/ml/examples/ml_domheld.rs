//! Held-out metrics of a domain model trained in memory with candidate settings (measured once per finished
//! candidate, never used to choose settings): `ml_domheld CORPUS [EPOCHS LR L2 CAP DYN TREES WORDS]`, with
//! `VIGIL_DOMVAL_MLP=HIDDEN,EPOCHS,BLEND`, `VIGIL_DOMVAL_FAMPOW=P` and `VIGIL_DOMVAL_CHARLM=ORDER` and
//! `VIGIL_DOMVAL_EXTRA=1` as for `ml_domval`. With `--out FILE` the model is also written as an artifact (for `ml_domspeed`). `VIGIL_DOMHELD_SHARE=K` fits on K/8 of the
//! training families and sites only (the learning curve: what more families are worth).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut a: Vec<String> = std::env::args().skip(1).collect();
    let out = match a.iter().position(|x| x == "--out") {
        Some(i) if i + 1 < a.len() => {
            let o = a.remove(i + 1);
            a.remove(i);
            Some(o)
        }
        _ => None,
    };
    let corpus = std::path::PathBuf::from(a.first().ok_or("usage: ml_domheld CORPUS ...")?);
    let mut p = vigil_ml::domain::Params::default();
    if a.len() >= 8 {
        p.epochs = a[1].parse()?;
        p.lr = a[2].parse()?;
        p.l2 = a[3].parse()?;
        p.per_family_cap = a[4].parse()?;
        p.dyn_dns = a[5] == "1";
        p.stage2_trees = a[6].parse()?;
        p.words = a[7] == "1";
    }
    let p = p.with_study_env()?;
    if out.is_some() && p.char_lm > 0 {
        return Err(
            "--out: a model with the study's language models (VIGIL_DOMVAL_CHARLM) cannot be \
                    written as an artifact (they are not part of the format)"
                .into(),
        );
    }
    let part = match std::env::var("VIGIL_DOMHELD_SHARE") {
        Ok(k) => vigil_ml::domain::Part::TrainingShare {
            eighths: k.parse()?,
        },
        Err(_) => vigil_ml::domain::Part::TrainingSide,
    };
    let m = vigil_ml::domain::train_on(&corpus, p, part)?;
    if let Some(o) = out {
        std::fs::write(&o, m.to_bytes())?;
    }
    let e = vigil_ml::domain::evaluate(&m, &corpus, false)?;
    println!("{p:?} {part:?}: held out {}", serde_json::to_string(&e)?);
    Ok(())
}
