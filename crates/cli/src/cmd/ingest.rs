//! `vigil ingest`.

use anyhow::bail;
use vigil_formats::Format;
use vigil_ingest::{ingest_paths, Options, Report};
use vigil_model::Tlp;

use super::Env;
use crate::args::IngestArgs;

pub fn options(a: &IngestArgs) -> anyhow::Result<Options> {
    let format = match a.format.as_str() {
        "auto" => None,
        f => match Format::parse(f) {
            Some(f) => Some(f),
            None => bail!(
                "unknown format `{f}` (auto, stix, misp, misp-feed, galaxy, warninglist, iocs)"
            ),
        },
    };
    let tlp = match &a.tlp {
        Some(t) => Some(t.parse::<Tlp>().map_err(anyhow::Error::msg)?),
        None => None,
    };
    Ok(Options {
        format,
        source: a.source.clone(),
        tlp,
        confidence: a.confidence,
    })
}

pub fn run(env: &Env, a: &IngestArgs) -> anyhow::Result<u8> {
    let opts = options(a)?;
    if env.external.is_some() && !a.share_with.is_empty() {
        bail!("--share-with needs the embedded store (members and shares live there), not --store");
    }
    let before = if a.share_with.is_empty() {
        0
    } else {
        vigil_store::MemberStore::max_seq(&*env.store)?
    };
    let pb = crate::output::progress("ingesting");
    let report = ingest_paths(env.kb(), &a.paths, &opts, &mut |r: &Report| {
        pb.set_message(format!(
            "{} files, {} objects ({} added, {} rejected)",
            r.files,
            r.objects(),
            r.added,
            r.rejected
        ));
    })?;
    pb.finish_and_clear();
    if report.rejected > 0 || report.failed_files > 0 {
        // Kept in the audit log so that the dashboard's admin page lists ingestion errors of CLI runs too.
        let first: Vec<String> = report
            .errors
            .iter()
            .take(10)
            .map(|e| format!("{} [{}]: {}", e.file, e.location, e.reason))
            .collect();
        super::members::audit(env).record(
            "cli",
            "cli.ingest",
            &a.paths.join(" "),
            serde_json::json!({"rejected": report.rejected, "failed_files": report.failed_files, "errors": first}),
        );
    }
    if !a.share_with.is_empty() {
        super::members::share_after_ingest(env, before, &a.share_with)?;
    }
    if a.json {
        crate::output::json(&report)?;
    } else {
        print_report(&report);
    }
    Ok(report.exit_code())
}

/// The rate part of the summary line: a few huge objects over several seconds read "0.3 objects/s", not "0".
fn rate_text(objects: u64, seconds: f64) -> String {
    if objects == 0 || seconds <= 0.0 {
        return String::new();
    }
    let rate = objects as f64 / seconds;
    if rate < 10.0 {
        format!(", {rate:.1} objects/s")
    } else {
        format!(", {rate:.0} objects/s")
    }
}

pub fn print_report(r: &Report) {
    println!(
        "{} files: {} added, {} updated, {} unchanged, {} rejected ({:.1} s{})",
        r.files,
        r.added,
        r.updated,
        r.unchanged,
        r.rejected,
        r.seconds,
        rate_text(r.objects(), r.seconds)
    );
    if r.warninglists > 0 {
        println!("{} warning lists stored", r.warninglists);
    }
    for e in r.errors.iter().take(20) {
        eprintln!("  {} [{}]: {}", e.file, e.location, e.reason);
    }
    let more = r.errors.len().saturating_sub(20) as u64 + r.errors_omitted;
    if more > 0 {
        eprintln!("  ... and {more} more (use --json for the first 1000)");
    }
    for w in r.warnings.iter().take(20) {
        eprintln!("  warning: {} [{}]: {}", w.file, w.location, w.reason);
    }
    let more = r.warnings.len().saturating_sub(20) as u64 + r.warnings_omitted;
    if more > 0 {
        eprintln!("  ... and {more} more warnings (use --json for the first 1000)");
    }
}

#[cfg(test)]
mod tests {
    use super::rate_text;

    #[test]
    fn slow_rates_keep_a_decimal_and_no_objects_no_rate() {
        assert_eq!(rate_text(3, 10.0), ", 0.3 objects/s");
        assert_eq!(rate_text(37_723, 1.0), ", 37723 objects/s");
        assert_eq!(rate_text(0, 2.0), "");
        assert_eq!(rate_text(5, 0.0), "");
    }
}
