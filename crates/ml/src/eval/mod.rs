//! Metrics on labelled data laid out like `shared/data`: extraction P/R/F1 per type, tagging micro-F1,
//! domain AUC and TPR at fixed FPR, attribution top-k.

pub mod extract;

pub use extract::{
    eval_extract, micro, misp_ground_truth, normalize_value, score_into, ExtractMetrics, Prf,
    TypeScores, ValueSet,
};

/// CPU seconds the calling thread has used (user + system, from Linux `/proc/thread-self/stat`; None elsewhere).
/// Rates per CPU-second are what one core does, whatever else the machine runs; speed figures print them beside
/// wall-clock rates.
pub fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
