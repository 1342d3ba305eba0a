//! Metrics on labelled data laid out like `shared/data`: extraction P/R/F1 per type, tagging micro-F1,
//! domain AUC and TPR at fixed FPR, attribution top-k.

pub mod extract;

pub use extract::{
    eval_extract, micro, misp_ground_truth, normalize_value, score_into, ExtractMetrics, Prf,
    TypeScores, ValueSet,
};
