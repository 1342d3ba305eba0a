//! Held-out metrics of a domain model trained in memory with candidate settings (measured once per finished
//! candidate, never used to choose settings): `ml_domheld CORPUS [EPOCHS LR L2 CAP DYN TREES WORDS]`, with
//! `VIGIL_DOMVAL_MLP=HIDDEN,EPOCHS,BLEND`, `VIGIL_DOMVAL_FAMPOW=P`, `VIGIL_DOMVAL_CHARLM=ORDER`,
//! `VIGIL_DOMVAL_FASTLM=BITS` and `VIGIL_DOMVAL_EXTRA=1` as for `ml_domval`; `VIGIL_DOMHELD_SPEED=1` also times the
//! model's scoring of the held-out names on one thread (study models included, which no artifact can carry).
//! With `--out FILE` the model is also written as an artifact (for `ml_domspeed`). `VIGIL_DOMHELD_SHARE=K` fits on
//! K/8 of the training families and sites only (the learning curve: what more families are worth).
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
    if out.is_some() && p.char_lm > 0 && p.fast_lm_bits == 0 {
        return Err(
            "--out: a model with the study's exact language models (VIGIL_DOMVAL_FASTLM=0) cannot be \
                    written as an artifact (only their cheap form is part of the format)"
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
        if !m.savable() {
            return Err("--out: this model cannot be written as an artifact".into());
        }
        std::fs::write(&o, m.to_bytes())?;
    }
    let e = vigil_ml::domain::evaluate(&m, &corpus, false)?;
    println!("{p:?} {part:?}: held out {}", serde_json::to_string(&e)?);
    if std::env::var("VIGIL_DOMHELD_SPEED").is_ok() {
        // Scoring rate of this model on one thread (the study's language models included, which an artifact
        // cannot carry): the best of five passes over the held-out names.
        let data = vigil_ml::domain::dataset(&corpus)?;
        let names: Vec<&str> = data
            .iter()
            .filter(|s| s.test)
            .map(|s| s.domain.as_str())
            .collect();
        let mut buf = Vec::with_capacity(64);
        let mut best = f64::MAX;
        let mut sum = 0f64;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            for d in &names {
                sum += m.score_with(d, &mut buf);
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "scoring: {} names, best of 5 passes {:.3} s = {:.0} names/s (checksum {sum:.1})",
            names.len(),
            best,
            names.len() as f64 / best
        );
    }
    Ok(())
}
