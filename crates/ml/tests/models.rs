//! The committed model artifacts: they load, they answer, they reject damaged files with the train hint, and
//! (with VIGIL_ML_RETRAIN=1, about two minutes on 2 cores) retraining from shared/data gives the same bytes.

mod common;

use vigil_ml::attribute::{Attributor, Query};
use vigil_ml::domain::DomainModel;
use vigil_ml::tag::Tagger;

#[test]
fn embedded_models_load_and_answer() {
    let d = DomainModel::embedded().expect("domain model loads");
    let good = d.score("google.com");
    let bad = d.score("xkqjzv8w3lpt.top");
    assert!((0.0..=1.0).contains(&good) && (0.0..=1.0).contains(&bad));
    assert!(
        bad > good,
        "random .top name {bad} should outscore google.com {good}"
    );

    let t = Tagger::embedded().expect("tagger loads");
    let r = t.tag("The malware uses PowerShell to download additional payloads. It also dumps credentials from LSASS memory using Mimikatz.");
    assert!(r.techniques.iter().any(|x| x.id == "T1003.001"), "{r:?}");
    for x in &r.techniques {
        assert!(!x.evidence.is_empty(), "every tag cites a sentence");
        assert!((0.0..=1.0).contains(&x.score));
    }
    let json = serde_json::to_value(&r).expect("json");
    assert!(json.get("techniques").is_some() && json.as_object().map(|o| o.len()) == Some(1));

    let a = Attributor::embedded().expect("attribution loads");
    let q = Query {
        techniques: vec!["T1059".into(), "T1566".into()],
        software: vec!["S0154".into()],
        indicators: vec![],
        ..Query::default()
    };
    let g = a.rank(&q, 5);
    assert!(!g.groups.is_empty() && g.groups.len() <= 5);
    assert!(g.groups.windows(2).all(|w| w[0].score >= w[1].score));
    let v = serde_json::to_value(&g).expect("json");
    let first = &v["groups"][0];
    for k in ["id", "name", "score", "evidence"] {
        assert!(first.get(k).is_some(), "missing {k}");
    }
}

#[test]
fn damaged_artifacts_are_rejected_with_the_hint() {
    let bytes =
        std::fs::read(vigil_ml::models_dir().join("domain.vgm")).expect("committed artifact");
    for bad in [&bytes[..bytes.len() / 2], &bytes[..20], &b""[..]] {
        let e = DomainModel::from_bytes(bad)
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("vigil ml train"), "{e}");
    }
    let e = Tagger::from_bytes(&bytes)
        .expect_err("wrong model")
        .to_string();
    assert!(
        e.contains("expected `tagger`") && e.contains("vigil ml train"),
        "{e}"
    );
    let e = DomainModel::from_path(std::path::Path::new("/nonexistent/domain.vgm"))
        .expect_err("missing")
        .to_string();
    assert!(
        e.contains("cannot read") && e.contains("vigil ml train"),
        "{e}"
    );
}

#[test]
fn attribution_training_is_deterministic_and_fresh() {
    let Some(corpus) = common::shared_data("attribution_training_is_deterministic_and_fresh")
    else {
        return;
    };
    let a = vigil_ml::train(Some(vigil_ml::Task::Attribute), &corpus).expect("train");
    let b = vigil_ml::train(Some(vigil_ml::Task::Attribute), &corpus).expect("train");
    assert_eq!(a, b, "two trainings differ");
    let committed =
        std::fs::read(vigil_ml::models_dir().join("attribution.vgm")).expect("committed");
    assert!(a[0].bytes == committed, "committed attribution.vgm is stale: run `cargo run --release -p vigil-ml --example ml_train -- ../shared/data`");
}

/// Slow (tagger cross-validation): run with `VIGIL_ML_RETRAIN=1 cargo test --release -p vigil-ml --test models`.
#[test]
fn all_artifacts_are_fresh_and_deterministic() {
    if std::env::var("VIGIL_ML_RETRAIN").is_err() {
        eprintln!("SKIPPED all_artifacts_are_fresh_and_deterministic: set VIGIL_ML_RETRAIN=1 (takes about 2 minutes in release)");
        return;
    }
    let Some(corpus) = common::shared_data("all_artifacts_are_fresh_and_deterministic") else {
        return;
    };
    let first = vigil_ml::train(None, &corpus).expect("train");
    for a in &first {
        let committed = std::fs::read(vigil_ml::models_dir().join(a.file_name)).expect("committed");
        assert!(
            a.bytes == committed,
            "committed {} is stale: run the ml_train example",
            a.file_name
        );
    }
    let second = vigil_ml::train(Some(vigil_ml::Task::Domain), &corpus).expect("train again");
    assert_eq!(
        second[0].bytes,
        first
            .iter()
            .find(|a| a.task == vigil_ml::Task::Domain)
            .expect("domain")
            .bytes
    );
}
