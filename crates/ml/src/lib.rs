//! Vigil's measured AI: IOC extraction, ATT&CK technique tagging, malicious-domain scoring and group
//! attribution, with the code that trains and evaluates each model from the public data in `shared/data`.
//!
//! Architecture invariant: pure library. No SQL, no store, no printing, no network, no Python at run time.
//! Models are small versioned artifacts ([`artifact`]) committed under `crates/ml/models/` and embedded in
//! the binary; [`train`] rebuilds them byte for byte from a corpus directory laid out like `shared/data`,
//! and [`eval`] measures them on labelled data laid out the same way.
//!
//! Entry points, one per CLI verb:
//! - `vigil ml extract`: [`Extractor::extract_reader`] / [`extract`] -> [`Extraction`] (`{"indicators":[..]}`)
//! - `vigil ml tag`: [`tag::Tagger::tag`] -> [`tag::Tagging`] (`{"techniques":[..]}`)
//! - `vigil ml score-domains`: [`domain::DomainModel::score`] -> [`domain::DomainScore`] per line
//! - `vigil ml attribute`: [`attribute::Attributor::rank`] -> [`attribute::Attribution`] (`{"groups":[..]}`)
//! - `vigil ml train`: [`train`] -> [`Artifact`]s; `vigil ml eval`: [`eval`] -> [`Metrics`]

pub mod artifact;
pub mod attack;
pub mod attribute;
pub mod boost;
pub mod charlm;
pub mod corpus;
pub mod domain;
pub mod embed;
pub mod error;
pub mod eval;
pub mod extract;
pub mod mlp;
pub mod tag;
pub mod text;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::{MlError, Result};
pub use extract::{
    extract, ExtractOptions, ExtractReport, Extraction, Extractor, Indicator, IndicatorType,
};

/// The four tasks of `vigil ml train|eval --task`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Extract,
    Tag,
    Domain,
    Attribute,
}

impl Task {
    /// Every task, in training order.
    pub const ALL: [Task; 4] = [Task::Extract, Task::Tag, Task::Domain, Task::Attribute];

    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Extract => "extract",
            Task::Tag => "tag",
            Task::Domain => "domain",
            Task::Attribute => "attribute",
        }
    }

    /// Parses a CLI name (`attribution` and `domains` accepted too).
    pub fn parse(s: &str) -> Result<Task> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "extract" | "extraction" | "ioc" => Task::Extract,
            "tag" | "tagging" | "tagger" => Task::Tag,
            "domain" | "domains" | "score-domains" => Task::Domain,
            "attribute" | "attribution" => Task::Attribute,
            other => {
                return Err(MlError::Invalid(format!(
                    "unknown task `{other}` (expected extract, tag, domain or attribute)"
                )))
            }
        })
    }

    /// The artifact file of the task under `crates/ml/models/` (none for extraction, which is rule-based).
    pub fn artifact_file(self) -> Option<&'static str> {
        match self {
            Task::Extract => None,
            Task::Tag => Some("tagger.vgm"),
            Task::Domain => Some("domain.vgm"),
            Task::Attribute => Some("attribution.vgm"),
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A trained model's bytes and where they belong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub task: Task,
    /// File name under the models directory.
    pub file_name: &'static str,
    pub bytes: Vec<u8>,
}

/// The directory the committed artifacts live in (`crates/ml/models`), as seen from this crate's sources.
pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// Trains one task (or all, with `None`) from a corpus laid out like `shared/data`. Deterministic: the same
/// corpus gives the same bytes. Extraction has no trained artifact and yields nothing.
pub fn train(task: Option<Task>, corpus: &Path) -> Result<Vec<Artifact>> {
    let tasks: Vec<Task> = match task {
        Some(t) => vec![t],
        None => Task::ALL.to_vec(),
    };
    let mut out = Vec::new();
    for t in tasks {
        let bytes = match t {
            Task::Extract => continue,
            Task::Tag => tag::train(corpus)?.to_bytes(),
            Task::Domain => domain::train(corpus)?.to_bytes(),
            Task::Attribute => attribute::train(corpus)?.to_bytes(),
        };
        out.push(Artifact {
            task: t,
            file_name: t.artifact_file().unwrap_or_default(),
            bytes,
        });
    }
    Ok(out)
}

/// Writes artifacts into a directory (created when missing).
pub fn write_artifacts(dir: &Path, artifacts: &[Artifact]) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| MlError::io(dir, e))?;
    let mut paths = Vec::new();
    for a in artifacts {
        let p = dir.join(a.file_name);
        std::fs::write(&p, &a.bytes).map_err(|e| MlError::io(&p, e))?;
        paths.push(p);
    }
    Ok(paths)
}

/// Which part of a corpus [`eval`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum EvalSplit {
    /// The held-out side of Vigil's own split of the training corpus (`shared/data`): domains and tags of
    /// the test side, the tagger retrained on the training side first (the shipped tagger saw every report).
    #[default]
    HeldOut,
    /// The whole corpus is unseen data (a holdout set laid out like `shared/data`): the shipped or given
    /// models are measured on all of it.
    All,
    /// Cross-validation (domain and tag): every fifth of the families and benign sites (domain) or of the
    /// reports (tag) held out in turn, a model fitted without it each time (five trainings), the folds' figures
    /// with their spread and all out-of-fold predictions measured together.
    Folds,
}

/// Where [`eval`] takes its models from.
#[derive(Debug, Clone, Default)]
pub enum ModelSource {
    /// The artifacts built into the binary.
    #[default]
    Embedded,
    /// Artifacts in a directory (as written by [`write_artifacts`]).
    Dir(PathBuf),
}

/// Metrics of one task, serialised as the task's own metrics object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Metrics {
    Extract(eval::ExtractMetrics),
    Tag(tag::TagMetrics),
    TagFolds(tag::TagFoldMetrics),
    Domain(domain::DomainMetrics),
    DomainFolds(domain::DomainFoldMetrics),
    Attribute(attribute::AttributionMetrics),
}

fn load_domain(src: &ModelSource) -> Result<domain::DomainModel> {
    match src {
        ModelSource::Embedded => domain::DomainModel::embedded(),
        ModelSource::Dir(d) => domain::DomainModel::from_path(&d.join("domain.vgm")),
    }
}

fn load_tagger(src: &ModelSource) -> Result<tag::Tagger> {
    match src {
        ModelSource::Embedded => tag::Tagger::embedded(),
        ModelSource::Dir(d) => tag::Tagger::from_path(&d.join("tagger.vgm")),
    }
}

/// Measures a task on labelled data laid out like `shared/data`:
/// - extract: every report folder of `<corpus>/eset-malware-ioc` (or of `<corpus>` itself) with MISP events
///   or hash lists beside its README;
/// - tag: TRAM `tram/mjson_files` reports (held-out side, or all with [`EvalSplit::All`]);
/// - domain: maltrail families against the benign MISP warning lists (test side, with a model refitted on the
///   training side; or all, with the models in use);
/// - attribute: the ATT&CK groups of the corpus, half of each group's techniques and software given.
pub fn eval(task: Task, corpus: &Path, split: EvalSplit, models: &ModelSource) -> Result<Metrics> {
    if split == EvalSplit::Folds && !matches!(task, Task::Domain | Task::Tag) {
        return Err(MlError::Invalid(format!(
            "cross-validation (--split folds) is measured for the domain and tag tasks only, not {task}"
        )));
    }
    Ok(match task {
        Task::Extract => {
            let eset = corpus.join("eset-malware-ioc");
            let dir = if eset.is_dir() {
                eset
            } else {
                corpus.to_path_buf()
            };
            Metrics::Extract(eval::eval_extract(&dir, &Extractor::default())?)
        }
        Task::Tag => match split {
            EvalSplit::HeldOut => Metrics::Tag(tag::train_and_evaluate(corpus)?.1),
            EvalSplit::Folds => Metrics::TagFolds(tag::cross_validate_by_report(corpus)?),
            EvalSplit::All => {
                let m = load_tagger(models)?;
                let reports = tag::load_reports(corpus)?;
                let all: Vec<&tag::Report> = reports.iter().collect();
                let annotated = tag::annotated_techniques(&reports);
                Metrics::Tag(tag::evaluate_reports(&m, &all, &annotated, 0, 0))
            }
        },
        Task::Domain => match split {
            // The shipped model is fitted on every family of the shared data; the held-out figures need one
            // fitted on the training side (about 15 s).
            EvalSplit::HeldOut => Metrics::Domain(domain::train_and_evaluate(corpus)?),
            EvalSplit::All => {
                Metrics::Domain(domain::evaluate(&load_domain(models)?, corpus, true)?)
            }
            EvalSplit::Folds => {
                Metrics::DomainFolds(domain::cross_validate(corpus, domain::Params::default())?)
            }
        },
        Task::Attribute => {
            let m = attribute::train(corpus)?;
            Metrics::Attribute(attribute::evaluate(&m, 5))
        }
    })
}
