//! `vigil retract`: withdraw objects, or what one source said, as revoked versions (see `vigil_ingest::retract`).

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use vigil_ingest::retract::{retract, RetractReport, Retraction, Selection};

use super::Env;

#[derive(Debug, Args)]
pub struct RetractArgs {
    /// Objects to retract: STIX ids, indicator values (defanged is fine), names or external ids.
    pub keys: Vec<String>,
    /// Retract every live object this provenance source reports, except what other sources report too
    /// (`vigil stats` lists the sources).
    #[arg(long, required_unless_present = "keys")]
    pub source: Option<String>,
    /// With --source: only objects that came from files matching this glob (`*` also crosses `/`), such as
    /// '*README.adoc'.
    #[arg(long, requires = "source")]
    pub file: Option<String>,
    /// Only objects of this STIX type (repeatable), such as indicator.
    #[arg(long = "type")]
    pub types: Vec<String>,
    /// Why (kept in every revoked version and in the audit trail).
    #[arg(long)]
    pub reason: Option<String>,
    /// Who decided (default: the operator's organisation).
    #[arg(long)]
    pub by: Option<String>,
    /// Show what would be retracted and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(env: &Env, a: &RetractArgs) -> anyhow::Result<u8> {
    let sel = Selection {
        keys: a.keys.clone(),
        source: a.source.clone(),
        file: a.file.clone(),
        types: a.types.clone(),
    };
    let by =
        a.by.clone()
            .unwrap_or_else(|| env.settings.operator.clone());
    let how = Retraction {
        by: by.clone(),
        reason: a.reason.clone(),
        now: Utc::now(),
        dry_run: a.dry_run,
    };
    let report = retract(env.kb(), &sel, &how).context("retracting")?;
    if !a.dry_run && report.retracted > 0 {
        let target = sel.audit_target(&report);
        super::members::audit(env).record(
            &format!("cli:{by}"),
            "retract",
            &target,
            serde_json::json!({"retracted": report.retracted, "cascaded": report.cascaded,
                "kept": report.kept, "reason": a.reason}),
        );
    }
    if a.json {
        crate::output::json(&report)?;
    } else {
        print_report(&report);
    }
    Ok(0)
}

fn print_report(r: &RetractReport) {
    let verb = if r.dry_run {
        "would retract"
    } else {
        "retracted"
    };
    let types: Vec<String> = r.by_type.iter().map(|(t, n)| format!("{n} {t}")).collect();
    if r.retracted == 0 {
        println!("nothing to retract");
    } else {
        println!("{verb} {} objects ({})", r.retracted, types.join(", "));
        if r.cascaded > 0 {
            println!(
                "  {} of them relationships or sightings that touch a retracted object",
                r.cascaded
            );
        }
        for id in r.ids.iter().take(10) {
            println!("  {id}");
        }
        if r.retracted > 10 {
            println!(
                "  … and {} more (--json lists up to 1,000)",
                r.retracted - 10
            );
        }
    }
    if r.kept > 0 {
        println!(
            "kept {} objects that other sources also report, for example:",
            r.kept
        );
        for k in r.kept_objects.iter().take(5) {
            println!("  {} ({})", k.id, k.other_sources.join(", "));
        }
    }
    if r.other_files > 0 {
        println!(
            "left {} objects of the source from files not matching --file",
            r.other_files
        );
    }
    if r.observables_left > 0 {
        println!(
            "left {} observables: they record that a value exists, not that it is malicious",
            r.observables_left
        );
    }
    if r.dry_run && r.retracted > 0 {
        println!("dry run: nothing written. A retraction is final (STIX revocation): check the list first.");
    }
}
