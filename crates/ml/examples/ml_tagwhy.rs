//! Study aid for the centroid classes (techniques outside TRAM's 50): `ml_tagwhy SENTENCE` prints a sentence's
//! ten best classes; `ml_tagwhy --reports CORPUS [MIN]` prints, for each held-out TRAM report, every technique
//! TRAM's annotators never use whose best sentence scores at least MIN (default 0.38) with the embedded
//! model (with `--reports CORPUS MIN heldout`: with the model trained without the held-out reports, about a
//! minute), the score and that sentence, for reading by hand.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let s = std::env::args()
        .nth(1)
        .ok_or("usage: ml_tagwhy SENTENCE | --reports CORPUS [MIN]")?;
    let mut t = vigil_ml::tag::Tagger::embedded()?;
    if s == "--reports" {
        let corpus = std::path::PathBuf::from(std::env::args().nth(2).ok_or("corpus")?);
        if std::env::args().nth(4).as_deref() == Some("heldout") {
            // The model trained without the held-out reports, as `vigil ml eval --task tag` trains it.
            t = vigil_ml::tag::train_and_evaluate(&corpus)?.0;
        }
        let min: f32 = std::env::args()
            .nth(3)
            .and_then(|x| x.parse().ok())
            .unwrap_or(0.38);
        let kb = vigil_ml::attack::Attack::load(&corpus)?;
        let reps = vigil_ml::tag::load_reports(&corpus)?;
        let annotated = vigil_ml::tag::annotated_techniques(&reps);
        for r in reps.iter().filter(|r| r.is_dev()) {
            // A centroid class's document score is its best sentence's, which `doc_scores` lists first.
            let (scores, per) = t.doc_scores(&r.text);
            for (k, x) in scores.iter().enumerate() {
                let id = &t.classes()[k];
                let Some(&(_, a, b)) = per[k].first() else {
                    continue;
                };
                if *x >= min && !annotated.contains(id) {
                    let sent: String = r.text[a..b].chars().take(200).collect();
                    println!(
                        "{x:.3}\t{id} {}\t{}\t| {}",
                        kb.technique_name(id),
                        r.title.chars().take(30).collect::<String>(),
                        sent.replace('\n', " ")
                    );
                }
            }
        }
        return Ok(());
    }
    let p = t.sentence_clause_probs(&s);
    let mut v: Vec<(usize, f32)> = p.into_iter().enumerate().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (k, x) in v.iter().take(10) {
        println!(
            "{} {:.4} tram={}",
            t.classes()[*k],
            x,
            t.is_tram_class(&t.classes()[*k])
        );
    }
    Ok(())
}
