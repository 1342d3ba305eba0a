//! Trains the tagger's word vectors on the unlabelled security prose of a corpus and the text of the training
//! reports (held-out reports not read), and prints each query word's nearest words: `ml_embed CORPUS [DIMS]
//! [WORD...]`. A sanity check of what the vectors learnt, and their training time.

use std::path::Path;
use std::time::Instant;

use vigil_ml::embed::{EmbedParams, Embeddings};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let corpus = Path::new(a.get(1).ok_or("usage: ml_embed CORPUS [DIMS] [WORD...]")?);
    let mut p = EmbedParams::default();
    if let Some(d) = a.get(2).and_then(|x| x.parse().ok()) {
        p.dims = d;
    }
    let t0 = Instant::now();
    let mut texts = vigil_ml::embed::security_prose(corpus)?;
    texts.extend(
        vigil_ml::tag::load_reports(corpus)?
            .into_iter()
            .filter(|r| !r.is_dev())
            .map(|r| r.text),
    );
    let load = t0.elapsed().as_secs_f64();
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    let t1 = Instant::now();
    let e = Embeddings::train(texts.iter().map(String::as_str), &p);
    println!(
        "{} texts, {words} words; {} vectors of {} dims; load {load:.1} s, train {:.1} s",
        texts.len(),
        e.len(),
        e.dims(),
        t1.elapsed().as_secs_f64()
    );
    let queries: Vec<String> = if a.len() > 3 {
        a[3..].to_vec()
    } else {
        [
            "exfiltr",
            "keylogg",
            "persist",
            "registry",
            "powershell",
            "phish",
            "screenshot",
            "lsass",
        ]
        .map(String::from)
        .to_vec()
    };
    let vocab: Vec<String> = e.words().to_vec();
    for q in &queries {
        let mut near: Vec<(f32, &str)> = vocab
            .iter()
            .filter(|w| *w != q)
            .filter_map(|w| Some((e.similarity(q, w)?, w.as_str())))
            .collect();
        near.sort_by(|x, y| y.0.total_cmp(&x.0));
        let top: Vec<String> = near
            .iter()
            .take(8)
            .map(|(s, w)| format!("{w} {s:.2}"))
            .collect();
        println!("{q}: {}", top.join(", "));
    }
    Ok(())
}
