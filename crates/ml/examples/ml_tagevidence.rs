//! Offline study of which sentences a tag cites: `ml_tagevidence CORPUS CACHE [heldout]`.
//! Scores every training report out of fold once (cached as JSON in CACHE), then measures citation rules on
//! the annotated techniques of those reports: the share of cited sentences TRAM's annotators tagged with the
//! technique (precision), the share of cases whose first citation is such a sentence, and the share of a
//! case's annotated sentences (up to the cap) that are cited. `heldout` also prints the held-out reports' figures.

use std::path::PathBuf;

use vigil_ml::tag::EvidenceCase;

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

/// A citation rule: how many of a case's sentences (best first) it cites.
fn cited(rule: &str, arg: f32, c: &EvidenceCase) -> usize {
    const CAP: usize = 3;
    let best = c.sentences[0].0;
    let n = c
        .sentences
        .iter()
        .take(CAP)
        .take_while(|(s, _, _)| match rule {
            "threshold" => *s >= c.threshold,
            "relative" => *s >= c.threshold && *s >= arg * best,
            "logit-gap" => *s >= c.threshold && logit(*s) >= logit(best) - arg,
            "top" => false,
            _ => unreachable!(),
        })
        .count();
    n.max(1)
}

fn measure(cases: &[&EvidenceCase], rule: &str, arg: f32) -> (f64, f64, f64, f64) {
    let (mut hit, mut all, mut first, mut covered, mut coverable) = (0, 0, 0, 0, 0);
    for c in cases {
        let n = cited(rule, arg, c);
        let h = c.sentences[..n].iter().filter(|x| x.1).count();
        hit += h;
        all += n;
        first += usize::from(c.sentences[0].1);
        covered += h;
        coverable += c.sentences.iter().filter(|x| x.1).count().min(3);
    }
    (
        hit as f64 / all.max(1) as f64,
        first as f64 / cases.len().max(1) as f64,
        covered as f64 / coverable.max(1) as f64,
        all as f64 / cases.len().max(1) as f64,
    )
}

/// The share of cases whose first sentence, ranked by `key` of (score, whole-sentence score), is annotated.
fn first_by(cases: &[&EvidenceCase], key: &dyn Fn(f32, f32) -> f32) -> f64 {
    let hit = cases
        .iter()
        .filter(|c| {
            c.sentences
                .iter()
                .max_by(|x, y| key(x.0, x.2).total_cmp(&key(y.0, y.2)))
                .is_some_and(|x| x.1)
        })
        .count();
    hit as f64 / cases.len().max(1) as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 3 {
        return Err("usage: ml_tagevidence CORPUS CACHE [heldout]".into());
    }
    let cache = PathBuf::from(&a[2]);
    let cases: Vec<EvidenceCase> = if cache.exists() {
        serde_json::from_slice(&std::fs::read(&cache)?)?
    } else {
        let c = vigil_ml::tag::evidence_study(std::path::Path::new(&a[1]))?;
        std::fs::write(&cache, serde_json::to_vec(&c)?)?;
        c
    };
    let heldout = a.get(3).is_some_and(|x| x == "heldout");
    // A case counts when the tagger would list sentences for it at all (best at half the threshold or more).
    let keep = |c: &&EvidenceCase| c.sentences[0].0 >= c.threshold * 0.5;
    let cv: Vec<&EvidenceCase> = cases
        .iter()
        .filter(|c| c.fold != u64::MAX)
        .filter(keep)
        .collect();
    let ho: Vec<&EvidenceCase> = cases
        .iter()
        .filter(|c| c.fold == u64::MAX)
        .filter(keep)
        .collect();
    println!("cases: {} out of fold, {} held out", cv.len(), ho.len());
    let rules: Vec<(&str, f32)> = vec![
        ("threshold", 0.0),
        ("top", 0.0),
        ("relative", 0.5),
        ("relative", 0.7),
        ("relative", 0.8),
        ("relative", 0.9),
        ("relative", 0.85),
        ("relative", 0.93),
        ("relative", 0.95),
        ("relative", 0.97),
        ("logit-gap", 1.0),
        ("logit-gap", 2.0),
        ("logit-gap", 3.0),
    ];
    for (rule, arg) in rules {
        let (p, f, cov, n) = measure(&cv, rule, arg);
        let f1 = 2.0 * p * cov / (p + cov).max(1e-9);
        print!("{rule:>10} {arg:>4}: precision {p:.3} first {f:.3} coverage {cov:.3} F1 {f1:.3} cited {n:.2}");
        if heldout {
            let (p, f, cov, n) = measure(&ho, rule, arg);
            let f1 = 2.0 * p * cov / (p + cov).max(1e-9);
            print!(" | held out {p:.3} first {f:.3} coverage {cov:.3} F1 {f1:.3} cited {n:.2}");
        }
        println!();
    }
    type Key = Box<dyn Fn(f32, f32) -> f32>;
    let keys: Vec<(&str, Key)> = vec![
        ("best of sentence, clauses, windows", Box::new(|c, _| c)),
        ("whole sentence", Box::new(|_, w| w)),
        ("mean of the two", Box::new(|c, w| c + w)),
        ("logit mean", Box::new(|c, w| logit(c) + logit(w))),
    ];
    for (name, k) in keys {
        print!("first citation ranked by {name}: {:.3}", first_by(&cv, &*k));
        if heldout {
            print!(" | held out {:.3}", first_by(&ho, &*k));
        }
        println!();
    }
    Ok(())
}
