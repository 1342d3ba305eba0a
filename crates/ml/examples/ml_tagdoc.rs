//! Explains the document decision for one technique: `ml_tagdoc MODEL_DIR FILE TECHNIQUE`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 4 {
        return Err("usage: ml_tagdoc MODEL_DIR FILE TECHNIQUE".into());
    }
    // `train:CORPUS` trains in process (for settings the artifact cannot hold yet).
    let m = match a[1].strip_prefix("train:") {
        Some(c) => vigil_ml::tag::train(std::path::Path::new(c))?,
        None => vigil_ml::tag::Tagger::from_path(&std::path::Path::new(&a[1]).join("tagger.vgm"))?,
    };
    for t in m.tag(&std::fs::read_to_string(&a[2])?).techniques {
        println!("tag {} {:.4}", t.id, t.score);
    }
    let doc = std::fs::read_to_string(&a[2])?;
    let (x, w, thr) = m.explain(&doc, &a[3]).ok_or("not a regression class")?;
    let mut z = w.last().copied().unwrap_or(0.0);
    for (k, v) in x.iter().enumerate() {
        println!("stat {k}: {v:8.3} x weight {:8.3} = {:8.3}", w[k], v * w[k]);
        z += v * w[k];
    }
    println!(
        "bias {:.3}; score {:.4}; threshold {thr}",
        w.last().copied().unwrap_or(0.0),
        1.0 / (1.0 + (-z).exp())
    );
    Ok(())
}
