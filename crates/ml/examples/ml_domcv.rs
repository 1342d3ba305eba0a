//! Cross-validation by family of candidate settings (as `vigil ml eval --task domain --split folds`, with the
//! study options of `ml_domval` from the environment): `ml_domcv CORPUS`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let corpus = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: ml_domcv CORPUS")?);
    let p = vigil_ml::domain::Params::default().with_study_env()?;
    let m = vigil_ml::domain::cross_validate(&corpus, p)?;
    println!("{p:?}: {}", serde_json::to_string(&m)?);
    Ok(())
}
