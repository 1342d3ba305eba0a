//! `vigil export stix`.

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};

use anyhow::Context;
use serde_json::{json, Value};
use vigil_model::{tlp, warninglist::WarningSet, Tlp};
use vigil_store::ScanFilter;

use super::Env;
use crate::args::ExportStixArgs;

pub fn stix(env: &Env, a: &ExportStixArgs) -> anyhow::Result<u8> {
    let tlp_max = match &a.tlp_max {
        Some(t) => Some(t.parse::<Tlp>().map_err(anyhow::Error::msg)?),
        None => None,
    };
    let filter = ScanFilter {
        types: a.types.clone(),
        tlp_max,
        default_tlp: Some(env.settings.default_tlp),
        include_retired: a.include_retired,
        ..Default::default()
    };
    let tmp = a.out.with_extension("partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let bundle_id = format!("bundle--{}", uuid::Uuid::new_v4());
    write!(
        w,
        "{{\"type\":\"bundle\",\"id\":\"{bundle_id}\",\"objects\":["
    )?;
    let wl = WarningSet::new(&env.kb().warninglists()?);
    let mut n = 0u64;
    let mut flagged = 0u64;
    let mut markings_used: BTreeSet<String> = BTreeSet::new();
    let mut written_ids: BTreeSet<String> = BTreeSet::new();
    let mut io_err: Option<std::io::Error> = None;
    env.kb()
        .scan(&filter, &mut |so| {
            let mut obj = so.object;
            for m in obj.marking_refs() {
                markings_used.insert(m.to_string());
            }
            if obj.type_() == "marking-definition" || obj.type_() == "extension-definition" {
                written_ids.insert(obj.id().to_string());
            }
            let hits = super::query::warninglist_hits(&wl, &obj);
            if !hits.is_empty() {
                obj.set("x_vigil_warninglists", json!(hits));
                flagged += 1;
            }
            let sep = if n == 0 { "" } else { "," };
            let r = write!(w, "{sep}")
                .and_then(|_| serde_json::to_writer(&mut w, &obj).map_err(std::io::Error::other));
            if let Err(e) = r {
                io_err = Some(e);
                return Err(vigil_store::StoreError::Aborted("write failed".into()));
            }
            n += 1;
            Ok(())
        })
        .map_err(|e| match io_err.take() {
            Some(io) => anyhow::Error::from(io),
            None => anyhow::Error::from(e),
        })?;
    // Markings must travel with the objects they mark: TLP 2.0 definitions are not predefined in STIX.
    let mut extra: Vec<Value> = Vec::new();
    let mut need_ext = false;
    for m in &markings_used {
        if written_ids.contains(m) {
            continue;
        }
        if let Some(t) = Tlp::ALL.into_iter().find(|t| t.marking_id() == m) {
            extra.push(t.marking_object());
            need_ext = true;
        }
    }
    if need_ext && !written_ids.contains(tlp::TLP2_EXTENSION) {
        extra.push(tlp::tlp2_extension_definition());
    }
    for e in &extra {
        let sep = if n == 0 { "" } else { "," };
        write!(w, "{sep}")?;
        serde_json::to_writer(&mut w, e)?;
        n += 1;
    }
    writeln!(w, "]}}")?;
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, &a.out).with_context(|| format!("writing {}", a.out.display()))?;
    if a.json {
        crate::output::json(
            &json!({"out": a.out, "objects": n, "flagged": flagged, "tlp_max": tlp_max.map(|t| t.as_str())}),
        )?;
    } else {
        println!(
            "wrote {n} objects to {} ({flagged} flagged as on a warning list)",
            a.out.display()
        );
    }
    Ok(0)
}
