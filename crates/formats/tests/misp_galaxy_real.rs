//! Real-data tests of the MISP readers: PyMISP's event files, the misp-galaxy clusters and the misp-warninglists
//! lists from `../shared/data`. Each test skips with a loud message when the data is absent.

use std::collections::{BTreeMap, HashSet};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde_json::Value;
use vigil_formats::{galaxy, misp, stix, warninglist, FormatError, Item, Link, ParseCtx};
use vigil_model::{StixObject, Tlp};

fn data(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("!!!!! SKIPPED: {} is absent (shared data not available); this test checked nothing !!!!!", p.display());
        None
    }
}

fn ctx(file: &Path) -> ParseCtx {
    ParseCtx {
        source: "real".into(),
        file: file.display().to_string(),
        confidence: None,
        now: "2026-01-01T00:00:00.000Z".into(),
    }
}

type Parser = fn(
    &mut dyn std::io::BufRead,
    &ParseCtx,
    &mut vigil_formats::Emit<'_>,
) -> Result<(), FormatError>;

fn run(parser: Parser, file: &Path) -> (Vec<Item>, Result<(), FormatError>) {
    let f = std::fs::File::open(file).expect("open data file");
    let mut r = BufReader::new(f);
    let mut items = Vec::new();
    let res = parser(&mut r, &ctx(file), &mut |i| {
        items.push(i);
        Ok(())
    });
    (items, res)
}

fn objects(items: &[Item]) -> Vec<&StixObject> {
    items
        .iter()
        .filter_map(|i| {
            if let Item::Object { object, .. } = i {
                Some(object)
            } else {
                None
            }
        })
        .collect()
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

#[test]
fn every_pymisp_event_file_parses_or_is_cleanly_not_an_event() {
    let Some(dir) = data("misp-events-pymisp/tests") else {
        return;
    };
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    assert!(
        files.len() >= 40,
        "expected the 41 PyMISP files, found {}",
        files.len()
    );
    let mut events = 0;
    let mut not_events: Vec<String> = Vec::new();
    let mut indicators = 0;
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    let mut rejects = Vec::new();
    for f in &files {
        let (items, res) = run(misp::parse_event, f);
        let name = f.strip_prefix(&dir).unwrap_or(f).display().to_string();
        match res {
            Ok(()) => events += 1,
            Err(FormatError::Unreadable { reason, .. }) => {
                assert!(reason.starts_with("not a MISP event"), "{name}: {reason}");
                assert!(
                    items.is_empty(),
                    "{name}: items emitted before being found not an event"
                );
                not_events.push(name.clone());
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        }
        for i in &items {
            match i {
                Item::Object { object, .. } => {
                    *by_type.entry(object.type_().to_string()).or_default() += 1;
                    if object.type_() == "indicator" {
                        indicators += 1;
                    }
                }
                Item::Reject { location, reason } => {
                    rejects.push(format!("{name} {location}: {reason}"))
                }
                _ => {}
            }
        }
    }
    eprintln!("PyMISP events: {events} read, {} not events ({not_events:?}); {indicators} indicators; objects {by_type:?}", not_events.len());
    for r in &rejects {
        eprintln!("  rejected: {r}");
    }
    // The files that are not events: search index, sharing groups, a STIX bundle, a commit list, a galaxy,
    // a sighting, object templates and an empty object.
    for expected in [
        "search_index_result.json",
        "sharing_groups.json",
        "stix2.json",
        "git-vuln-finder-quagga.json",
        "mispevent_testfiles/sighting.json",
        "mispevent_testfiles/simple.json",
        "mispevent_testfiles/galaxy.json",
    ] {
        assert!(
            not_events.iter().any(|n| n == expected),
            "{expected} should be rejected as not an event"
        );
    }
    assert!(events >= 25, "{events} events read");
    assert!(indicators >= 500, "{indicators} indicators");
    for ty in [
        "report",
        "identity",
        "file",
        "ipv4-addr",
        "domain-name",
        "url",
        "marking-definition",
    ] {
        assert!(by_type.get(ty).copied().unwrap_or(0) > 0, "no {ty} objects");
    }
}

fn tags(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.get("name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn tlp_tags_become_markings_on_real_events() {
    let Some(dir) = data("misp-events-pymisp/tests") else {
        return;
    };
    let mut checked = 0;
    for rel in [
        "57c4445b-c548-4654-af0b-4be3950d210f.json",
        "reportlab_testfiles/galaxy_1.json",
        "reportlab_testfiles/mainly_objects_1.json",
    ] {
        let file = dir.join(rel);
        let raw: Value =
            serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
        let event = raw.get("Event").expect("wrapped event");
        let tlp = tags(event.get("Tag"))
            .iter()
            .filter(|t| t.to_ascii_lowercase().starts_with("tlp:"))
            .filter_map(|t| Tlp::parse(t))
            .max()
            .expect("event has a tlp tag");
        // Attributes with their own TLP tag may differ; every other indicator carries the event's marking.
        let mut own: HashSet<String> = HashSet::new();
        let all_attrs = event
            .get("Attribute")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(
                event
                    .get("Object")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .flat_map(|o| {
                        o.get("Attribute")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                    }),
            );
        for a in all_attrs {
            if tags(a.get("Tag"))
                .iter()
                .any(|t| t.to_ascii_lowercase().starts_with("tlp:"))
            {
                own.extend(a.get("uuid").and_then(Value::as_str).map(str::to_string));
            }
        }
        let (items, res) = run(misp::parse_event, &file);
        res.expect("event parses");
        let report = objects(&items)
            .into_iter()
            .find(|o| o.type_() == "report")
            .expect("report");
        assert_eq!(report.tlp(), Some(tlp), "{rel}: report marking");
        let marking = objects(&items)
            .into_iter()
            .find(|o| o.id() == tlp.marking_id())
            .expect("marking definition emitted");
        assert_eq!(marking.type_(), "marking-definition");
        let mut marked = 0;
        for i in &items {
            if let Item::Object {
                object,
                original_id,
                ..
            } = i
            {
                if object.type_() == "indicator"
                    && !original_id.as_ref().is_some_and(|u| own.contains(u))
                {
                    assert_eq!(object.tlp(), Some(tlp), "{rel}: {}", object.id());
                    marked += 1;
                }
            }
        }
        eprintln!("{rel}: TLP {tlp}, {marked} indicators marked");
        checked += marked;
    }
    assert!(checked > 0, "no indicator checked");
}

fn links(items: &[Item]) -> Vec<&Link> {
    items
        .iter()
        .filter_map(|i| if let Item::Link(l) = i { Some(l) } else { None })
        .collect()
}

#[test]
fn threat_actor_galaxy_gives_fancy_bear_in_russia_attributed_to_apt28() {
    let Some(file) = data("misp-galaxy/clusters/threat-actor.json") else {
        return;
    };
    let (items, res) = run(galaxy::parse, &file);
    res.expect("threat-actor.json parses");
    let objs = objects(&items);
    let actor = objs
        .iter()
        .find(|o| o.type_() == "threat-actor" && o.aliases().contains(&"Fancy Bear"))
        .expect("an actor aliased Fancy Bear");
    assert_eq!(actor.name(), Some("APT28"));
    let ru = objs
        .iter()
        .find(|o| o.type_() == "location" && o.str("country") == Some("RU"))
        .expect("location RU");
    assert!(
        objs.iter().any(|o| o.type_() == "relationship"
            && o.str("relationship_type") == Some("located-at")
            && o.str("source_ref") == Some(actor.id())
            && o.str("target_ref") == Some(ru.id())),
        "APT28 located-at RU"
    );
    let link = links(&items)
        .into_iter()
        .find(|l| l.from == actor.id() && l.relationship_type == "attributed-to")
        .expect("attributed-to link");
    assert!(
        link.reverse,
        "ATT&CK intrusion-set --attributed-to--> threat-actor"
    );
    assert_eq!(link.target_types, vec!["intrusion-set"]);
    assert!(
        link.keys.iter().any(|k| k == "APT28") && link.keys.iter().any(|k| k == "G0007"),
        "{:?}",
        link.keys
    );

    let actors = objs.iter().filter(|o| o.type_() == "threat-actor").count();
    let located: HashSet<&str> = objs
        .iter()
        .filter(|o| o.str("relationship_type") == Some("located-at"))
        .filter_map(|o| o.str("source_ref"))
        .collect();
    let rejects: Vec<_> = items
        .iter()
        .filter(|i| matches!(i, Item::Reject { .. }))
        .collect();
    eprintln!(
        "threat-actor.json: {actors} actors, {} located in a country, {} rejects",
        located.len(),
        rejects.len()
    );
    // MISP_galaxy: 1,041 actors, 477 with meta.country (the manifest's counts).
    assert!(actors >= 1000, "{actors} actors");
    assert!(
        located.len() >= 470,
        "{} actors with a country",
        located.len()
    );
    assert!(rejects.is_empty(), "{rejects:?}");
}

#[test]
fn every_galaxy_cluster_file_parses() {
    let Some(dir) = data("misp-galaxy/clusters") else {
        return;
    };
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    assert!(files.len() >= 20);
    for f in &files {
        let (items, res) = run(galaxy::parse, f);
        res.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
        let mut rejects = Vec::new();
        let mut link_count = 0;
        for i in &items {
            match i {
                Item::Object { object, .. } => *by_type.entry(object.type_()).or_default() += 1,
                Item::Reject { location, reason } => rejects.push(format!("{location}: {reason}")),
                Item::Link(_) => link_count += 1,
                Item::WarningList(_) => panic!("a warning list from a galaxy"),
            }
        }
        eprintln!(
            "{}: {by_type:?}, {link_count} links, {} rejects {:?}",
            f.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            rejects.len(),
            rejects.iter().take(3).collect::<Vec<_>>()
        );
    }
}

#[test]
fn mitre_galaxy_objects_share_attack_ids() {
    let (Some(bundle), Some(cluster)) = (
        data("mitre-attack/enterprise-attack.json.gz"),
        data("misp-galaxy/clusters/mitre-intrusion-set.json"),
    ) else {
        return;
    };
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(&bundle).expect("open bundle"));
    let mut r = BufReader::new(gz);
    let mut attack: HashSet<String> = HashSet::new();
    stix::parse(&mut r, &ctx(&bundle), &mut |i| {
        if let Item::Object { object, .. } = i {
            if object.type_() == "intrusion-set" {
                attack.insert(object.id().to_string());
            }
        }
        Ok(())
    })
    .expect("ATT&CK bundle parses");
    let (items, res) = run(galaxy::parse, &cluster);
    res.expect("mitre-intrusion-set.json parses");
    let ours: Vec<&StixObject> = objects(&items)
        .into_iter()
        .filter(|o| o.type_() == "intrusion-set")
        .collect();
    let shared = ours.iter().filter(|o| attack.contains(o.id())).count();
    eprintln!(
        "mitre-intrusion-set: {} objects, {shared} with the id of an ATT&CK intrusion set (of {})",
        ours.len(),
        attack.len()
    );
    // The galaxy mirrors ATT&CK: nearly every group is the ATT&CK object itself, not a second one.
    assert!(
        shared * 100 >= ours.len() * 95,
        "{shared} of {}",
        ours.len()
    );
    let apt28 = ours
        .iter()
        .find(|o| o.external_id() == Some("G0007"))
        .expect("G0007");
    assert_eq!(
        apt28.id(),
        "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c"
    );
}

#[test]
fn every_warning_list_parses() {
    let Some(dir) = data("misp-warninglists/lists") else {
        return;
    };
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    files.retain(|f| f.file_name().is_some_and(|n| n == "list.json"));
    assert!(files.len() >= 130, "{} lists", files.len());
    let mut entries = 0;
    let mut names = HashSet::new();
    for f in &files {
        let (items, res) = run(warninglist::parse, f);
        res.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(items.len(), 1, "{}: {items:?}", f.display());
        match &items[0] {
            Item::WarningList(wl) => {
                assert!(!wl.entries.is_empty(), "{}: empty list", f.display());
                assert!(warninglist::LIST_TYPES.contains(&wl.list_type.as_str()));
                assert!(
                    names.insert(wl.name.clone()),
                    "duplicate list name {}",
                    wl.name
                );
                entries += wl.entries.len();
            }
            other => panic!("{}: {other:?}", f.display()),
        }
    }
    eprintln!("{} warning lists, {entries} entries", files.len());
    // MANIFEST.md: 135 lists, 428,971 entries in total.
    assert!(entries >= 400_000, "{entries} entries");
}

#[test]
fn country_names_in_galaxies_map_to_iso_codes() {
    let (Some(countries), Some(actors)) = (
        data("misp-galaxy/clusters/country.json"),
        data("misp-galaxy/clusters/threat-actor.json"),
    ) else {
        return;
    };
    // The country galaxy names each country and gives its ISO code: Vigil's table agrees on every ISO 3166-1 code.
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&countries).expect("read")).expect("json");
    let mut checked = 0;
    for v in doc["values"].as_array().expect("values") {
        let (Some(name), Some(iso)) = (v["value"].as_str(), v["meta"]["ISO"].as_str()) else {
            continue;
        };
        if galaxy::country_name(iso).is_none() {
            // XK (Kosovo), CS, AN: not (or no longer) ISO 3166-1 codes.
            assert_eq!(galaxy::country_code(name), None, "{name}");
            continue;
        }
        assert_eq!(
            galaxy::country_code(name),
            Some(galaxy::country_code(iso).expect("iso")),
            "{name} / {iso}"
        );
        checked += 1;
    }
    assert!(checked >= 245, "{checked}");
    // Every CFR state-sponsor name in the actor galaxy maps to a country, except "Unknown".
    let doc: Value = serde_json::from_slice(&std::fs::read(&actors).expect("read")).expect("json");
    let mut unmapped = Vec::new();
    let mut sponsors = 0;
    for v in doc["values"].as_array().expect("values") {
        for s in v["meta"]["cfr-suspected-state-sponsor"]
            .as_str()
            .into_iter()
        {
            sponsors += 1;
            if galaxy::country_code(s).is_none() && s != "Unknown" {
                unmapped.push(s.to_string());
            }
        }
    }
    eprintln!("{checked} country names, {sponsors} state sponsors checked");
    assert!(unmapped.is_empty(), "{unmapped:?}");
}

#[test]
fn a_feed_laid_out_from_the_shared_events_reads_back() {
    let Some(dir) = data("misp-events-pymisp/tests") else {
        return;
    };
    let feed = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    // A MISP feed: each event as <uuid>.json, and manifest.json keyed by uuid with the event's summary.
    let mut manifest = serde_json::Map::new();
    for f in &files {
        let Ok(doc) = serde_json::from_slice::<Value>(&std::fs::read(f).expect("read")) else {
            continue;
        };
        let Some(uuid) = doc
            .pointer("/Event/uuid")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            continue;
        };
        let ev = &doc["Event"];
        let mut entry = serde_json::Map::new();
        for k in [
            "info",
            "date",
            "timestamp",
            "analysis",
            "threat_level_id",
            "Orgc",
            "Tag",
        ] {
            if let Some(v) = ev.get(k) {
                entry.insert(k.to_string(), v.clone());
            }
        }
        manifest.insert(uuid.clone(), Value::Object(entry));
        std::fs::write(
            feed.path().join(format!("{uuid}.json")),
            serde_json::to_vec(&doc).expect("json"),
        )
        .expect("write event");
    }
    assert!(
        manifest.len() >= 15,
        "{} events with a uuid",
        manifest.len()
    );
    let bytes = serde_json::to_vec_pretty(&Value::Object(manifest.clone())).expect("json");
    let entries =
        misp::parse_manifest(&mut bytes.as_slice(), "manifest.json").expect("manifest parses");
    assert_eq!(entries.len(), manifest.len());
    let mut reports = 0;
    for e in &entries {
        assert!(e.problem.is_none(), "{e:?}");
        let name = e.file_name().expect("a file name for a valid uuid");
        let (items, res) = run(misp::parse_event, &feed.path().join(&name));
        res.unwrap_or_else(|err| panic!("{name}: {err}"));
        let report = objects(&items).into_iter().find(|o| o.type_() == "report");
        if let Some(r) = report {
            assert_eq!(r.id(), vigil_model::ids::vigil_id("report", &[&e.uuid]));
            assert_eq!(
                r.name(),
                e.info
                    .as_deref()
                    .filter(|i| !i.trim().is_empty())
                    .map(str::trim)
            );
            let tlp = e
                .tags
                .iter()
                .filter(|t| t.to_ascii_lowercase().starts_with("tlp:"))
                .filter_map(|t| Tlp::parse(t))
                .max();
            assert_eq!(r.tlp(), tlp, "{name}");
            reports += 1;
        }
    }
    eprintln!(
        "feed of {} events laid out from the shared files: {reports} reports",
        entries.len()
    );
    assert!(reports >= 15);
}

/// Every PyMISP event file as one item of a MISP search answer (`{"response": [..]}`): read whole from memory and
/// read event by event (as an answer larger than one document is), the items are the same.
#[test]
fn a_search_answer_of_the_shared_events_reads_the_same_whole_and_event_by_event() {
    let Some(dir) = data("misp-events-pymisp/tests") else {
        return;
    };
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    let mut list = Vec::new();
    for f in &files {
        if run(misp::parse_event, f).1.is_err() {
            continue;
        }
        let v: Value = serde_json::from_slice(&std::fs::read(f).expect("read")).expect("json");
        // A file holding a search answer of its own contributes its items.
        match v.get("response").and_then(Value::as_array) {
            Some(items) => list.extend(items.iter().cloned()),
            None => list.push(v),
        }
    }
    assert!(list.len() >= 25, "only {} events", list.len());
    let largest = list
        .iter()
        .map(|v| serde_json::to_string(v).expect("json").len())
        .max()
        .unwrap_or(0);
    let answer = serde_json::to_string(&serde_json::json!({ "response": list })).expect("json");
    assert!(answer.len() > 4 * largest);
    let ctx = ctx(Path::new("answer.json"));
    let mut whole = Vec::new();
    misp::parse_event(&mut answer.as_bytes(), &ctx, &mut |i| {
        whole.push(i);
        Ok(())
    })
    .expect("whole");
    let mut streamed = Vec::new();
    misp::parse_event_within(
        &mut answer.as_bytes(),
        &ctx,
        &mut |i| {
            streamed.push(i);
            Ok(())
        },
        largest as u64 + 1,
    )
    .expect("event by event");
    assert!(objects(&whole).len() > 1000, "{}", objects(&whole).len());
    assert_eq!(format!("{streamed:?}"), format!("{whole:?}"));
}
