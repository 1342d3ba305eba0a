//! Breakdown of the domain model's validation split (inside the training families; the held-out families are
//! not read): per-family and per-benign-list AUC and the worst-scored names.
//! `ml_domstudy CORPUS [EPOCHS LR L2 CAP DYN TREES WORDS]`
use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let corpus = std::path::PathBuf::from(a.first().ok_or("usage: ml_domstudy CORPUS ...")?);
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
    let v = vigil_ml::domain::validation_scores(&corpus, p)?;
    let neg: Vec<f64> = v.iter().filter(|s| !s.0.malicious).map(|s| s.1).collect();
    let pos: Vec<f64> = v.iter().filter(|s| s.0.malicious).map(|s| s.1).collect();
    let mut fam: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut lists: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (s, z) in &v {
        if s.malicious {
            fam.entry(&s.group).or_default().push(*z);
        } else {
            lists.entry(&s.group).or_default().push(*z);
        }
    }
    println!("pooled AUC {:.4}", vigil_ml::domain::roc(&pos, &neg, &[]).0);
    for (l, n) in &lists {
        println!(
            "list {l}: n {} AUC {:.4}",
            n.len(),
            vigil_ml::domain::roc(&pos, n, &[]).0
        );
    }
    let mut f: Vec<(usize, f64, &str)> = fam
        .iter()
        .map(|(k, ps)| (ps.len(), vigil_ml::domain::roc(ps, &neg, &[]).0, *k))
        .collect();
    f.sort_by_key(|x| std::cmp::Reverse(x.0));
    for (n, auc, k) in f.iter().take(40) {
        println!("family {k}: n {n} AUC {auc:.4}");
    }
    let mut b: Vec<&(vigil_ml::domain::Sample, f64)> =
        v.iter().filter(|s| !s.0.malicious).collect();
    b.sort_by(|x, y| y.1.total_cmp(&x.1));
    for (s, z) in b.iter().take(60) {
        println!("high benign {z:.2} {} {}", s.group, s.domain);
    }
    let mut m: Vec<&(vigil_ml::domain::Sample, f64)> = v.iter().filter(|s| s.0.malicious).collect();
    m.sort_by(|x, y| x.1.total_cmp(&y.1));
    for (s, z) in m.iter().step_by(97).take(80) {
        println!("low mal {z:.2} {} {}", s.group, s.domain);
    }
    Ok(())
}
