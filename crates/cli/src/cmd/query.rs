//! `vigil stats`, `vigil search`, `vigil show`, `vigil check`.

use std::collections::BTreeSet;

use anyhow::bail;
use serde_json::{json, Value};
use vigil_model::{
    pattern::Pattern, warninglist::WarningSet, Observable, ObservableKind, StixObject,
};
use vigil_store::{Related, Store, StoredObject};

use super::Env;
use crate::args::{SearchArgs, ShowArgs};

pub fn stats(env: &Env, as_json: bool) -> anyhow::Result<u8> {
    let s = env.kb().stats()?;
    if as_json {
        crate::output::json(&s)?;
        return Ok(0);
    }
    let total: u64 = s.objects.values().sum();
    println!(
        "{total} live objects ({} versions stored), {} warning lists",
        s.versions, s.warninglists
    );
    // One width for every table, so that long source names (MISP event titles) keep the counts in a column.
    let width = s
        .objects
        .keys()
        .chain(s.sources.keys())
        .chain(s.tlp.keys())
        .chain(s.pending_links.keys())
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(24);
    println!("\nBy type:");
    for (t, n) in &s.objects {
        println!("  {t:<width$} {n:>10}");
    }
    println!("\nBy source:");
    for (t, n) in &s.sources {
        println!("  {t:<width$} {n:>10}");
    }
    println!(
        "\nBy TLP (unmarked objects are treated as TLP:{}):",
        env.settings.default_tlp.as_str().to_uppercase()
    );
    for (t, n) in &s.tlp {
        println!("  {t:<width$} {n:>10}");
    }
    if !s.pending_links.is_empty() {
        let n: u64 = s.pending_links.values().map(|p| p.count).sum();
        println!(
            "\n{n} relationships wait for objects not loaded yet (each is made when its target arrives):"
        );
        for (kind, p) in &s.pending_links {
            println!(
                "  {kind:<width$} {:>10}   e.g. {}{}",
                p.count,
                p.examples.join(", "),
                pending_hint(kind)
            );
        }
    }
    Ok(0)
}

/// Where the objects a kind of pending link waits for usually come from.
fn pending_hint(kind: &str) -> &'static str {
    let has = |t: &str| kind.split('/').any(|k| k == t);
    if has("attack-pattern") || has("x-mitre-tactic") || has("course-of-action") {
        " (load MITRE ATT&CK)"
    } else if has("intrusion-set") || has("threat-actor") {
        " (load ATT&CK groups or the MISP galaxy threat-actor cluster)"
    } else if has("malware") || has("tool") {
        " (load ATT&CK software or the MISP galaxy malware and tool clusters)"
    } else if has("vulnerability") {
        " (load CVE records or advisories)"
    } else {
        ""
    }
}

pub fn search(env: &Env, a: &SearchArgs) -> anyhow::Result<u8> {
    let hits = env.kb().search(&a.text, a.limit)?;
    if a.json {
        crate::output::json(&json!({ "results": hits }))?;
    } else if hits.is_empty() {
        println!("no results for {:?}", a.text);
    } else {
        for h in &hits {
            println!(
                "{:>8.2}  {:<16} {:<10} {}  {}{}",
                h.score,
                h.type_,
                h.external_id.as_deref().unwrap_or(""),
                h.name.as_deref().unwrap_or(""),
                h.id,
                if h.retired {
                    "  [revoked or deprecated]"
                } else {
                    ""
                }
            );
        }
    }
    Ok(if hits.is_empty() { 1 } else { 0 })
}

/// Preference among several objects a key resolves to: actors first, then software, then the rest; within a
/// type, the one with a catalogue id (ATT&CK) first.
fn rank(o: &StoredObject) -> (usize, bool) {
    let order = [
        "intrusion-set",
        "threat-actor",
        "campaign",
        "malware",
        "tool",
        "attack-pattern",
        "vulnerability",
        "indicator",
    ];
    let t = order
        .iter()
        .position(|t| *t == o.object.type_())
        .unwrap_or(order.len());
    (t, o.object.external_id().is_none())
}

fn is_actor(t: &str) -> bool {
    matches!(t, "intrusion-set" | "threat-actor" | "campaign")
}

/// Aliases and countries of an actor, gathered from it and from the actors it is attributed to (or that are
/// attributed to it): MISP galaxy actors carry the country, ATT&CK groups the techniques.
fn actor_profile(
    store: &dyn Store,
    obj: &StixObject,
    related: &[Related],
) -> anyhow::Result<(Vec<String>, Vec<String>, Vec<String>)> {
    let mut aliases: BTreeSet<String> = obj.aliases().into_iter().map(str::to_string).collect();
    let mut countries: Vec<String> = Vec::new();
    let mut sponsors: Vec<String> = Vec::new();
    let mut actors = vec![(obj.id().to_string(), related.to_vec())];
    for r in related {
        if r.relationship_type == "attributed-to" && is_actor(&r.type_) {
            actors.push((r.id.clone(), store.related(&r.id)?));
        }
    }
    for (i, (id, rels)) in actors.iter().enumerate() {
        if i > 0 {
            if let Some(o) = store.get(id)? {
                aliases.extend(o.object.aliases().into_iter().map(str::to_string));
                if let Some(n) = o.object.name() {
                    aliases.insert(n.to_string());
                }
                if let Some(s) = o.object.str("x_misp_state_sponsor") {
                    if !sponsors.iter().any(|x| x == s) {
                        sponsors.push(s.to_string());
                    }
                }
            }
        }
        for r in rels {
            if r.direction == "out"
                && matches!(
                    r.relationship_type.as_str(),
                    "located-at" | "originates-from"
                )
                && r.type_ == "location"
            {
                if let Some(loc) = store.get(&r.id)? {
                    if let Some(c) = loc.object.str("country") {
                        let c = c.to_uppercase();
                        if !countries.contains(&c) {
                            countries.push(c);
                        }
                    }
                }
            }
        }
    }
    if let Some(n) = obj.name() {
        aliases.remove(n);
    }
    Ok((aliases.into_iter().collect(), countries, sponsors))
}

/// The warning lists an indicator's values are on.
pub fn warninglist_hits(set: &WarningSet, obj: &StixObject) -> Vec<String> {
    if set.is_empty() || obj.type_() != "indicator" {
        return Vec::new();
    }
    let Some(eqs) = obj
        .str("pattern")
        .and_then(|p| Pattern::parse(p).ok())
        .and_then(|p| p.simple_equalities())
    else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for (path, value) in eqs {
        let kind = ObservableKind::from_pattern_path(&path);
        if let Some(o) = kind.and_then(|k| Observable::new(k, &value).ok()) {
            for h in set.hits(&o) {
                if !out.iter().any(|x| x == h) {
                    out.push(h.to_string());
                }
            }
        }
    }
    out
}

pub fn show(env: &Env, a: &ShowArgs) -> anyhow::Result<u8> {
    let mut found = env.kb().resolve(&a.key)?;
    if found.is_empty() {
        if a.json {
            crate::output::json(&json!({"error": format!("nothing found for {:?}", a.key)}))?;
            return Ok(1);
        }
        bail!(
            "nothing found for {:?}; try `vigil search {:?}`",
            a.key,
            a.key
        );
    }
    found.sort_by_key(rank);
    let best = found.remove(0);
    let obj = &best.object;
    let related = env.kb().related(obj.id())?;
    let mut doc = json!({
        "object": obj.to_value(),
        "related": related.iter().map(|r| json!({
            "relationship_type": r.relationship_type, "direction": r.direction, "id": r.id, "type": r.type_,
            "name": r.name, "external_id": r.external_id, "relationship_id": r.relationship_id
        })).collect::<Vec<_>>(),
        "tlp": best.tlp.map(|t| t.as_str()).unwrap_or("unmarked"),
        "provenance": env.kb().provenance(obj.id())?,
        "versions": env.kb().versions(obj.id())?.len(),
    });
    if let Some(x) = obj.external_id() {
        doc["external_id"] = json!(x);
    }
    if is_actor(obj.type_()) {
        let (aliases, countries, sponsors) = actor_profile(env.kb(), obj, &related)?;
        doc["aliases"] = json!(aliases);
        doc["country"] = json!(countries.first());
        doc["countries"] = json!(countries);
        if !sponsors.is_empty() {
            doc["suspected_state_sponsor"] = json!(sponsors);
        }
    }
    let everything = vigil_store::ReadScope {
        all: true,
        open_max: None,
        member: None,
        default_tlp: env.settings.default_tlp,
    };
    // Advisories and notices live beside the knowledge base, in either backend.
    if let Some(ctx) =
        vigil_server::context::vulnerability(&*env.store, &obj.to_value(), &everything, true)?
    {
        doc["vulnerability"] = ctx;
    }
    let wl = warninglist_hits(&WarningSet::new(&env.kb().warninglists()?), obj);
    if !wl.is_empty() {
        doc["warninglists"] = json!(wl);
    }
    if !found.is_empty() {
        doc["also_matched"] = json!(found
            .iter()
            .map(
                |o| json!({"id": o.object.id(), "type": o.object.type_(), "name": o.object.name()})
            )
            .collect::<Vec<_>>());
    }
    if a.json {
        crate::output::json(&doc)?;
    } else {
        print_show(&doc);
    }
    Ok(0)
}

fn print_show(doc: &Value) {
    let o = &doc["object"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    println!("{} {}  {}", s(&o["type"]), s(&o["name"]), s(&o["id"]));
    if let Some(x) = doc.get("external_id") {
        println!("  catalogue id: {}", s(x));
    }
    println!("  TLP: {}   versions: {}", s(&doc["tlp"]), doc["versions"]);
    if o["revoked"] == true {
        let r = &o["x_vigil_retraction"];
        if r.is_object() {
            println!(
                "  RETRACTED by {} at {}{}: hunts and exports leave it out",
                s(&r["by"]),
                s(&r["at"]),
                r.get("reason")
                    .map(|x| format!(" ({})", s(x)))
                    .unwrap_or_default()
            );
        } else {
            println!("  REVOKED by its producer: hunts and exports leave it out");
        }
    } else if o["x_mitre_deprecated"] == true {
        println!("  DEPRECATED in ATT&CK");
    }
    if let Some(c) = doc
        .get("countries")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        println!(
            "  country: {}",
            c.iter().map(s).collect::<Vec<_>>().join(", ")
        );
    }
    if let Some(a) = doc
        .get("aliases")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        println!(
            "  aliases: {}",
            a.iter().map(s).collect::<Vec<_>>().join(", ")
        );
    }
    if let Some(p) = o.get("pattern") {
        println!("  pattern: {}", s(p));
    }
    if let Some(w) = doc.get("warninglists") {
        println!("  ON WARNING LISTS: {w}");
    }
    if let Some(v) = doc.get("vulnerability") {
        if let Some(k) = v.get("kev") {
            println!(
                "  KEV: added {}, due {}{}; required action: {}",
                s(&k["date_added"]),
                s(&k["due_date"]),
                if v["known_ransomware_use"] == true {
                    ", KNOWN RANSOMWARE USE"
                } else {
                    ""
                },
                s(&k["required_action"])
            );
        }
        if let Some(e) = v.get("epss") {
            println!(
                "  EPSS: {:.3} (percentile {:.3}{})",
                e["score"].as_f64().unwrap_or(0.0),
                e["percentile"].as_f64().unwrap_or(0.0),
                e["date"]
                    .as_str()
                    .map(|d| format!(", {d}"))
                    .unwrap_or_default()
            );
        }
        let by: Vec<String> = v["exploited_by"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| format!("{} ({})", s(&e["name"]), s(&e["type"])))
                    .collect()
            })
            .unwrap_or_default();
        if !by.is_empty() {
            println!("  related actors and malware: {}", by.join(", "));
        }
        if let Some(n) = v.get("notices") {
            println!("  notices: {} member(s), {} open", n["members"], n["open"]);
        }
    }
    if let Some(d) = o.get("description").and_then(Value::as_str) {
        let short: String = d.chars().take(400).collect();
        println!(
            "  {}{}",
            short.replace('\n', " "),
            if d.len() > 400 { "..." } else { "" }
        );
    }
    let rel = doc["related"].as_array().cloned().unwrap_or_default();
    let mut groups: std::collections::BTreeMap<(String, String, String), Vec<String>> =
        Default::default();
    for r in &rel {
        let label = format!(
            "{} {}",
            s(&r["external_id"]),
            if r["name"].is_null() {
                s(&r["id"])
            } else {
                s(&r["name"])
            }
        );
        groups
            .entry((
                s(&r["direction"]),
                s(&r["relationship_type"]),
                s(&r["type"]),
            ))
            .or_default()
            .push(label.trim().to_string());
    }
    for ((dir, rt, ty), names) in groups {
        let arrow = if dir == "out" {
            format!("--{rt}-->")
        } else {
            format!("<--{rt}--")
        };
        println!(
            "  {arrow} {ty} ({}): {}",
            names.len(),
            names
                .iter()
                .take(25)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let prov = doc["provenance"].as_array().cloned().unwrap_or_default();
    let sources: BTreeSet<String> = prov.iter().map(|p| s(&p["source"])).collect();
    println!(
        "  sources: {}",
        sources.into_iter().collect::<Vec<_>>().join(", ")
    );
}

pub fn check(env: &Env, as_json: bool) -> anyhow::Result<u8> {
    let problems = env.kb().check()?;
    if as_json {
        crate::output::json(&json!({"ok": problems.is_empty(), "problems": problems}))?;
    } else if problems.is_empty() {
        println!("store is consistent");
    } else {
        for p in &problems {
            println!("PROBLEM: {p}");
        }
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}
