//! The behaviour every [`Store`] backend must show. Each backend's tests call [`run_all`] with a factory that
//! returns a fresh, empty store; a PostgreSQL backend passes the same suite.

use serde_json::json;
use vigil_model::{Provenance, StixObject, Tlp};

use crate::{PutMode, PutOutcome, ScanFilter, Store, StoreError, WarningList};

fn prov(source: &str) -> Provenance {
    Provenance {
        source: source.into(),
        ingested_at: "2026-01-01T00:00:00Z".into(),
        original_id: None,
        file: None,
    }
}

fn obj(v: serde_json::Value) -> StixObject {
    StixObject::from_value(v.clone()).unwrap_or_else(|e| panic!("fixture {v}: {e}"))
}

fn malware(id: &str, modified: &str, name: &str) -> StixObject {
    obj(
        json!({"type": "malware", "spec_version": "2.1", "id": id, "created": "2019-01-01T00:00:00.000Z",
        "modified": modified, "name": name, "is_family": true, "aliases": ["LummaC2", "Lumma Stealer"],
        "description": "An infostealer sold as a service", "x_custom": {"kept": [1, 2]}}),
    )
}

fn put(s: &dyn Store, o: &StixObject, source: &str) -> Result<PutOutcome, StoreError> {
    let mut out = PutOutcome::Unchanged;
    s.write(&mut |tx| {
        out = tx.put(o, &prov(source), PutMode::Source)?;
        Ok(())
    })?;
    Ok(out)
}

const M: &str = "malware--0f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6a01";
const T: &str = "attack-pattern--0f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6a02";
const R: &str = "relationship--0f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6a03";

/// Versions: same version is unchanged, newer adds a version and becomes latest, older goes to history.
pub fn versions(s: &dyn Store) -> Result<(), StoreError> {
    let v1 = malware(M, "2020-01-01T00:00:00.000Z", "Lumma");
    let v2 = malware(M, "2021-01-01T00:00:00.000Z", "Lumma");
    let v0 = malware(M, "2019-06-01T00:00:00.000Z", "Lumma");
    assert_eq!(put(s, &v1, "a")?, PutOutcome::Added);
    assert_eq!(put(s, &v1, "a")?, PutOutcome::Unchanged);
    assert_eq!(put(s, &v2, "b")?, PutOutcome::Updated);
    assert_eq!(put(s, &v0, "a")?, PutOutcome::Historical);
    let latest = s.get(M)?.expect("stored");
    assert_eq!(
        latest.object.str("modified"),
        Some("2021-01-01T00:00:00.000Z")
    );
    assert_eq!(
        latest.object.get("x_custom"),
        Some(&json!({"kept": [1, 2]}))
    );
    assert_eq!(s.versions(M)?.len(), 3);
    let sources: Vec<String> = s.provenance(M)?.into_iter().map(|p| p.source).collect();
    assert!(sources.contains(&"a".to_string()) && sources.contains(&"b".to_string()));
    assert_eq!(s.stats()?.objects.get("malware"), Some(&1));
    assert!(s.check()?.is_empty());
    Ok(())
}

/// Derived objects: an existing id is unchanged but gains provenance.
pub fn derived(s: &dyn Store) -> Result<(), StoreError> {
    let a = malware(M, "2020-01-01T00:00:00.000Z", "Lumma");
    let b = malware(M, "2024-01-01T00:00:00.000Z", "Lumma");
    let mut outs = Vec::new();
    s.write(&mut |tx| {
        outs.push(tx.put(&a, &prov("one"), PutMode::Derived)?);
        outs.push(tx.put(&b, &prov("two"), PutMode::Derived)?);
        Ok(())
    })?;
    assert_eq!(outs, vec![PutOutcome::Added, PutOutcome::Unchanged]);
    assert_eq!(s.provenance(M)?.len(), 2);
    Ok(())
}

/// A batch of derived objects (`put_derived_batch`) is the same as putting them one by one: the same outcomes (an
/// id already stored, or repeated within the batch, is unchanged and gains the provenance), the same stored
/// objects, search hits, graph edges and counts. Sized to cross any multi-row statement boundary.
pub fn derived_batch(make: &dyn Fn() -> Box<dyn Store>) -> Result<(), StoreError> {
    use crate::Prepared;
    let ind = |i: usize| {
        obj(json!({"type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--0f1b5b4c-6f5b-4e0c-9b7e-{i:012}"), "created": "2020-01-01T00:00:00Z",
            "modified": "2020-01-01T00:00:00Z", "name": format!("batch-{i}.example"),
            "pattern": format!("[domain-name:value = 'batch-{i}.example']"), "pattern_type": "stix",
            "valid_from": "2020-01-01T00:00:00Z"}))
    };
    let rel = |i: usize| {
        obj(json!({"type": "relationship", "spec_version": "2.1",
            "id": format!("relationship--0f1b5b4c-6f5b-4e0c-9b7e-{i:012}"), "created": "2020-01-01T00:00:00Z",
            "modified": "2020-01-01T00:00:00Z", "relationship_type": "indicates",
            "source_ref": format!("indicator--0f1b5b4c-6f5b-4e0c-9b7e-{i:012}"), "target_ref": M}))
    };
    // Indicators 0..150 with their relationships, then repeats of 149 (in the same statement), 3 and 70; 10 and 11 are
    // stored before the batch, 11 from another source.
    let mut objs = Vec::new();
    for i in 0..150 {
        objs.push(ind(i));
        objs.push(rel(i));
    }
    objs.push(ind(149));
    objs.push(ind(3));
    objs.push(rel(70));
    let before = |s: &dyn Store| -> Result<(), StoreError> {
        put(s, &malware(M, "2020-01-01T00:00:00.000Z", "Lumma"), "a")?;
        s.write(&mut |tx| {
            tx.put(&ind(10), &prov("batch"), PutMode::Derived)?;
            tx.put(&ind(11), &prov("other"), PutMode::Derived)?;
            Ok(())
        })
    };
    let one = make();
    before(one.as_ref())?;
    let mut one_outs = Vec::new();
    one.write(&mut |tx| {
        for o in &objs {
            one_outs.push(tx.put(o, &prov("batch"), PutMode::Derived)?);
        }
        Ok(())
    })?;
    let many = make();
    before(many.as_ref())?;
    let prepared: Vec<Prepared> = objs
        .iter()
        .map(|o| Prepared::from_ref(o, PutMode::Derived))
        .collect();
    let mut many_outs = Vec::new();
    many.write(&mut |tx| {
        many_outs = tx.put_derived_batch(&prepared, &prov("batch"))?;
        Ok(())
    })?;
    assert_eq!(many_outs, one_outs);
    assert_eq!(
        many_outs
            .iter()
            .filter(|o| **o == PutOutcome::Added)
            .count(),
        298
    );
    assert_eq!(many.stats()?.objects, one.stats()?.objects);
    for i in [0, 3, 10, 11, 63, 64, 70, 149] {
        let id = format!("indicator--0f1b5b4c-6f5b-4e0c-9b7e-{i:012}");
        let a = one.get(&id)?.map(|o| o.object.to_json());
        let b = many.get(&id)?.map(|o| o.object.to_json());
        assert!(a.is_some());
        assert_eq!(a, b, "{id}");
        let sources = |s: &dyn Store| -> Result<Vec<String>, StoreError> {
            let mut v: Vec<String> = s.provenance(&id)?.into_iter().map(|p| p.source).collect();
            v.sort();
            Ok(v)
        };
        assert_eq!(sources(many.as_ref())?, sources(one.as_ref())?, "{id}");
        assert_eq!(
            many.search(&format!("batch-{i}.example"), 5)?
                .first()
                .map(|h| h.id.clone()),
            Some(id.clone())
        );
    }
    // The same batch again: every object is stored already, whatever the connection inserted last.
    let mut again = Vec::new();
    many.write(&mut |tx| {
        again = tx.put_derived_batch(&prepared, &prov("batch"))?;
        Ok(())
    })?;
    assert!(
        again.iter().all(|o| *o == PutOutcome::Unchanged),
        "{again:?}"
    );
    assert_eq!(many.related(M)?.len(), 150);
    assert_eq!(many.related(M)?.len(), one.related(M)?.len());
    assert!(many.check()?.is_empty());
    Ok(())
}

/// Lookup by name, alias, external id and indicator value; full-text search; relationships both ways.
pub fn lookup_search_graph(s: &dyn Store) -> Result<(), StoreError> {
    put(s, &malware(M, "2020-01-01T00:00:00.000Z", "Lumma"), "a")?;
    put(
        s,
        &obj(
            json!({"type": "attack-pattern", "spec_version": "2.1", "id": T, "created": "2020-01-01T00:00:00Z",
            "modified": "2020-01-01T00:00:00Z", "name": "Phishing",
            "external_references": [{"source_name": "mitre-attack", "external_id": "T1566"}]}),
        ),
        "a",
    )?;
    put(
        s,
        &obj(
            json!({"type": "relationship", "spec_version": "2.1", "id": R, "created": "2020-01-01T00:00:00Z",
            "modified": "2020-01-01T00:00:00Z", "relationship_type": "uses", "source_ref": M, "target_ref": T}),
        ),
        "a",
    )?;
    let ind = "indicator--0f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6a04";
    put(
        s,
        &obj(
            json!({"type": "indicator", "spec_version": "2.1", "id": ind, "created": "2020-01-01T00:00:00Z",
            "modified": "2020-01-01T00:00:00Z", "pattern": "[domain-name:value = 'lumma-c2.example']",
            "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z"}),
        ),
        "a",
    )?;
    assert_eq!(
        s.resolve("lummac2")?
            .first()
            .map(|o| o.object.id().to_string()),
        Some(M.to_string())
    );
    assert_eq!(
        s.resolve("t1566")?
            .first()
            .map(|o| o.object.id().to_string()),
        Some(T.to_string())
    );
    assert_eq!(
        s.resolve("LUMMA-C2.example")?
            .first()
            .map(|o| o.object.id().to_string()),
        Some(ind.to_string())
    );
    let mut tx_found = Vec::new();
    s.write(&mut |tx| {
        tx_found = tx.lookup(&["malware"], "Lumma Stealer")?;
        Ok(())
    })?;
    assert_eq!(tx_found, vec![M.to_string()]);
    // A family named with its kind (`Oski Stealer`) is found by its stem (`oski`), and says so; an exact key of
    // one object comes before another's stem.
    let oski = "malware--0f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6a05";
    put(
        s,
        &obj(
            json!({"type": "malware", "spec_version": "2.1", "id": oski, "created": "2020-01-01T00:00:00Z",
            "modified": "2020-01-01T00:00:00Z", "name": "Oski Stealer", "is_family": true,
            "aliases": ["Lumma Grabber"]}),
        ),
        "a",
    )?;
    let mut kinds = Vec::new();
    s.write(&mut |tx| {
        kinds = vec![
            tx.lookup_kinds(&["malware"], "oski")?,
            tx.lookup_kinds(&["malware"], "Oski Stealer")?,
            tx.lookup_kinds(&["malware"], "lumma")?,
            tx.lookup_kinds(&[], M)?,
        ];
        Ok(())
    })?;
    use crate::prepared::{KEY_ID, KEY_NAME, KEY_STEM};
    assert_eq!(kinds[0], vec![(oski.to_string(), KEY_STEM)]);
    assert_eq!(kinds[1], vec![(oski.to_string(), KEY_NAME)]);
    assert_eq!(
        kinds[2],
        vec![(M.to_string(), KEY_NAME), (oski.to_string(), KEY_STEM)]
    );
    assert_eq!(kinds[3], vec![(M.to_string(), KEY_ID)]);
    let hits = s.search("infostealer", 10)?;
    assert_eq!(hits.first().map(|h| h.id.as_str()), Some(M));
    assert!(s.search("\"unbalanced AND (", 10).is_ok());
    let rel = s.related(M)?;
    assert_eq!(rel.len(), 1);
    assert_eq!(
        (
            rel[0].direction.as_str(),
            rel[0].id.as_str(),
            rel[0].external_id.as_deref()
        ),
        ("out", T, Some("T1566"))
    );
    let back = s.related(T)?;
    assert_eq!((back[0].direction.as_str(), back[0].id.as_str()), ("in", M));
    Ok(())
}

/// A failed transaction leaves nothing behind.
pub fn rollback(s: &dyn Store) -> Result<(), StoreError> {
    let r = s.write(&mut |tx| {
        tx.put(
            &malware(M, "2020-01-01T00:00:00.000Z", "Lumma"),
            &prov("a"),
            PutMode::Source,
        )?;
        Err(StoreError::Aborted("test".into()))
    });
    assert!(r.is_err());
    assert!(s.get(M)?.is_none());
    assert!(s.stats()?.objects.is_empty());
    Ok(())
}

/// Pending links are counted by the types they wait for, with names (never STIX ids) as examples; links that
/// follow their target and dropped links are not counted.
pub fn pending_stats(s: &dyn Store) -> Result<(), StoreError> {
    let link = |types: &[&str], keys: &[&str], follow: bool| {
        let mut b = serde_json::json!({"from": M, "relationship_type": "uses", "reverse": false,
            "target_types": types, "keys": keys, "markings": []});
        if follow {
            b["follow"] = serde_json::json!(true);
        }
        b.to_string()
    };
    s.write(&mut |tx| {
        let a = link(
            &["attack-pattern"],
            &[
                "attack-pattern--f4882e23-8aa7-4b12-b28a-b349c12ee9e0",
                "T1086",
                "PowerShell",
            ],
            false,
        );
        tx.put_pending_link(&["t1086".into()], &a)?;
        let b = link(&["attack-pattern"], &["T1078", "Valid Accounts"], false);
        tx.put_pending_link(&["t1078".into()], &b)?;
        let c = link(
            &["intrusion-set", "threat-actor"],
            &["Vigil Test Bear"],
            false,
        );
        tx.put_pending_link(&["vigil test bear".into()], &c)?;
        let d = link(&["intrusion-set"], &["Followed"], true);
        tx.put_pending_link(&["followed".into()], &d)?;
        Ok(())
    })?;
    let p = s.stats()?.pending_links;
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p["attack-pattern"].count, 2);
    assert_eq!(p["attack-pattern"].examples, ["T1086", "T1078"]);
    assert_eq!(p["intrusion-set/threat-actor"].count, 1);
    assert_eq!(
        p["intrusion-set/threat-actor"].examples,
        ["Vigil Test Bear"]
    );
    s.write(&mut |tx| {
        for (id, _) in tx.pending_links("t1086")? {
            tx.drop_pending_link(id)?;
        }
        Ok(())
    })?;
    let p = s.stats()?.pending_links;
    assert_eq!(p["attack-pattern"].count, 1);
    assert_eq!(p["attack-pattern"].examples, ["T1078"]);
    Ok(())
}

/// TLP filtering in scans: unmarked objects take the default.
pub fn tlp_scan(s: &dyn Store) -> Result<(), StoreError> {
    for (i, tlp) in [
        Some(Tlp::Clear),
        Some(Tlp::Green),
        Some(Tlp::Amber),
        Some(Tlp::Red),
        None,
    ]
    .iter()
    .enumerate()
    {
        let mut v = json!({"type": "tool", "spec_version": "2.1", "id": format!("tool--0f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6b0{i}"),
            "created": "2020-01-01T00:00:00Z", "modified": "2020-01-01T00:00:00Z", "name": format!("t{i}")});
        if let Some(t) = tlp {
            v["object_marking_refs"] = json!([t.marking_id()]);
        }
        put(s, &obj(v), "a")?;
    }
    let count = |max: Tlp| -> Result<usize, StoreError> {
        let mut n = 0;
        s.scan(
            &ScanFilter {
                tlp_max: Some(max),
                default_tlp: Some(Tlp::Amber),
                ..Default::default()
            },
            &mut |_| {
                n += 1;
                Ok(())
            },
        )?;
        Ok(n)
    };
    assert_eq!(count(Tlp::Clear)?, 1);
    assert_eq!(count(Tlp::Green)?, 2);
    assert_eq!(count(Tlp::Amber)?, 4);
    assert_eq!(count(Tlp::Red)?, 5);
    Ok(())
}

/// Warning lists are stored, replaced by name, and unchanged on re-put.
pub fn warninglists(s: &dyn Store) -> Result<(), StoreError> {
    let wl = WarningList {
        name: "Top domains".into(),
        description: "d".into(),
        list_type: "hostname".into(),
        version: 1,
        entries: vec!["google.com".into()],
        matching_attributes: vec!["domain".into()],
    };
    let mut outs = Vec::new();
    s.write(&mut |tx| {
        outs.push(tx.put_warninglist(&wl)?);
        outs.push(tx.put_warninglist(&wl)?);
        Ok(())
    })?;
    assert_eq!(outs, vec![PutOutcome::Added, PutOutcome::Unchanged]);
    assert_eq!(s.warninglists()?, vec![wl]);
    Ok(())
}

/// `sourced` finds the live objects a source reports, in any provenance slot, with the other sources beside it.
pub fn sourced(s: &dyn Store) -> Result<(), StoreError> {
    let with_file = |source: &str, file: &str| Provenance {
        file: Some(file.into()),
        ..prov(source)
    };
    let m = malware(M, "2020-01-01T00:00:00.000Z", "Lumma");
    let t = obj(
        json!({"type": "attack-pattern", "spec_version": "2.1", "id": T, "created": "2020-01-01T00:00:00Z",
        "modified": "2020-01-01T00:00:00Z", "name": "Phishing"}),
    );
    s.write(&mut |tx| {
        tx.put(&m, &with_file("feed", "lists/lumma.txt"), PutMode::Source)?;
        tx.put(&m, &prov("other"), PutMode::Source)?;
        tx.put(&t, &prov("other"), PutMode::Source)?;
        tx.put(&t, &with_file("feed", "README.adoc"), PutMode::Source)?;
        Ok(())
    })?;
    let found = s.sourced("feed")?;
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        (found[0].id.as_str(), found[0].type_.as_str()),
        (M, "malware")
    );
    assert_eq!(found[0].files, vec!["lists/lumma.txt".to_string()]);
    assert_eq!(found[0].other_sources, vec!["other".to_string()]);
    assert_eq!(found[1].id, T);
    assert_eq!(found[1].files, vec!["README.adoc".to_string()]);
    assert_eq!(found[1].other_sources, vec!["other".to_string()]);
    assert!(s.sourced("nobody")?.is_empty());
    // A revoked latest version leaves the object out; an older version's provenance does not count.
    let mut revoked = m.to_value();
    revoked["modified"] = json!("2021-01-01T00:00:00.000Z");
    revoked["revoked"] = json!(true);
    put(s, &obj(revoked), "analyst")?;
    let found = s.sourced("feed")?;
    assert_eq!(
        found.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        vec![T]
    );
    assert!(s.sourced("analyst")?.is_empty());
    Ok(())
}

/// `Supersede` replaces an object Vigil derived (a source does not), and a later derived put keeps the decision.
pub fn supersede(s: &dyn Store) -> Result<(), StoreError> {
    let derived = malware(M, "2020-01-01T00:00:00.000Z", "Lumma");
    s.write(&mut |tx| {
        tx.put(&derived, &prov("list"), PutMode::Derived)
            .map(|_| ())
    })?;
    let newer = malware(M, "2021-01-01T00:00:00.000Z", "Lumma");
    assert_eq!(put(s, &newer, "feed")?, PutOutcome::Unchanged);
    let mut revoked = newer.to_value();
    revoked["revoked"] = json!(true);
    let revoked = obj(revoked);
    let mut outs = Vec::new();
    s.write(&mut |tx| {
        outs.push(tx.put(&revoked, &prov("analyst"), PutMode::Supersede)?);
        outs.push(tx.put(&derived, &prov("list"), PutMode::Derived)?);
        Ok(())
    })?;
    assert_eq!(outs, vec![PutOutcome::Updated, PutOutcome::Unchanged]);
    let latest = s.get(M)?.expect("stored");
    assert!(latest.object.revoked());
    assert_eq!(s.versions(M)?.len(), 2);
    assert_eq!(
        s.stats()?.objects.get("malware"),
        None,
        "a revoked object is not live"
    );
    assert!(s.check()?.is_empty());
    Ok(())
}

/// Runs every conformance case, each on a fresh store from `make`.
pub fn run_all(make: &dyn Fn() -> Box<dyn Store>) -> Result<(), StoreError> {
    versions(make().as_ref())?;
    derived(make().as_ref())?;
    derived_batch(make)?;
    lookup_search_graph(make().as_ref())?;
    rollback(make().as_ref())?;
    tlp_scan(make().as_ref())?;
    warninglists(make().as_ref())?;
    sourced(make().as_ref())?;
    supersede(make().as_ref())?;
    pending_stats(make().as_ref())?;
    Ok(())
}

// ---- members, tokens, shares, inboxes, scoped reads (backends that implement `MemberStore`) ----

use crate::members::{MemberStore, PageQuery, PageSource, ReadScope, VersionSel};

fn tool(i: usize, tlp: Option<Tlp>) -> StixObject {
    let mut v = json!({"type": "tool", "spec_version": "2.1", "id": format!("tool--1f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6c{i:02}"),
        "created": "2020-01-01T00:00:00Z", "modified": "2020-01-01T00:00:00Z", "name": format!("tool {i}")});
    if let Some(t) = tlp {
        v["object_marking_refs"] = json!([t.marking_id()]);
    }
    obj(v)
}

fn member_scope(m: i64) -> ReadScope {
    ReadScope {
        all: false,
        open_max: Some(Tlp::Green),
        member: Some(m),
        default_tlp: Tlp::Amber,
    }
}

/// Members get an identity object; tokens are found by lookup, listed, revoked once.
pub fn members_tokens<S: Store + MemberStore>(s: &S) -> Result<(), StoreError> {
    let op = s.add_member("CERT-Example", "DE", "csirt", true)?;
    let m = s.add_member("Ministry", "FR", "ministry", false)?;
    assert!(
        s.add_member("Second operator", "DE", "csirt", true)
            .is_err(),
        "only one operator"
    );
    assert_eq!(s.operator_member()?.map(|o| o.id), Some(op.id));
    assert_eq!(s.members()?.len(), 2);
    let ident = s.get(&m.identity_id)?.expect("member identity stored");
    assert_eq!(ident.object.type_(), "identity");
    assert_eq!(ident.tlp, Some(Tlp::Green));
    let t = s.add_token(
        m.id,
        "member",
        "abc123",
        "$argon2id$fake",
        Some("2099-01-01T00:00:00Z"),
    )?;
    assert_eq!(s.token_by_lookup("abc123")?.map(|x| x.id), Some(t.id));
    assert!(s.token_by_lookup("nope")?.is_none());
    assert!(s.revoke_token(t.id)?);
    assert!(!s.revoke_token(t.id)?);
    assert!(s.token(t.id)?.and_then(|x| x.revoked_at).is_some());
    assert_eq!(s.tokens(Some(m.id))?.len(), 1);
    assert!(s.add_eligible("XK", "applied")?);
    assert_eq!(s.eligibility_extra()?, vec!["XK".to_string()]);
    assert!(s.remove_eligible("XK")?);
    Ok(())
}

/// Scoped reads: each TLP level against a member without and with a share, in `get_visible` and in `page`.
pub fn scoped_reads<S: Store + MemberStore>(s: &S) -> Result<(), StoreError> {
    let levels = [
        Some(Tlp::Clear),
        Some(Tlp::Green),
        Some(Tlp::Amber),
        Some(Tlp::AmberStrict),
        Some(Tlp::Red),
        None,
    ];
    for (i, t) in levels.iter().enumerate() {
        put(s, &tool(i, *t), "x")?;
    }
    let a = 11;
    let b = 12;
    let all = ReadScope {
        all: true,
        open_max: None,
        member: None,
        default_tlp: Tlp::Amber,
    };
    let page = |scope: ReadScope, min: Tlp, max: Tlp| -> Result<Vec<String>, StoreError> {
        let q = PageQuery {
            source: PageSource::Shared {
                tlp_min: min,
                tlp_max: max,
            },
            scope,
            after_seq: 0,
            added_after: None,
            types: vec!["tool".into()],
            ids: vec![],
            versions: VersionSel::Last,
            limit: 100,
        };
        Ok(s.page(&q)?.rows.into_iter().map(|r| r.id).collect())
    };
    for (i, t) in levels.iter().enumerate() {
        let id = tool(i, *t).id().to_string();
        let eff = t.unwrap_or(Tlp::Amber);
        let open = eff <= Tlp::Green;
        assert_eq!(
            s.get_visible(&id, &member_scope(a))?.is_some(),
            open,
            "{eff:?} before sharing"
        );
        assert_eq!(
            page(member_scope(a), eff, eff)?.contains(&id),
            open,
            "{eff:?} page before sharing"
        );
        assert!(s.get_visible(&id, &all)?.is_some());
        s.share(&id, a)?;
        assert!(
            s.get_visible(&id, &member_scope(a))?.is_some(),
            "{eff:?} shared with a"
        );
        assert!(page(member_scope(a), eff, eff)?.contains(&id));
        assert_eq!(
            s.get_visible(&id, &member_scope(b))?.is_some(),
            open,
            "{eff:?} not shared with b"
        );
        assert_eq!(
            page(member_scope(b), Tlp::Clear, Tlp::Red)?.contains(&id),
            open
        );
    }
    assert_eq!(s.shares_of(tool(4, Some(Tlp::Red)).id())?, vec![a]);
    // paging is exact and keyed on seq
    let first = {
        let q = PageQuery {
            source: PageSource::Shared {
                tlp_min: Tlp::Clear,
                tlp_max: Tlp::Red,
            },
            scope: all,
            after_seq: 0,
            added_after: None,
            types: vec![],
            ids: vec![],
            versions: VersionSel::Last,
            limit: 2,
        };
        let p1 = s.page(&q)?;
        assert!(p1.more && p1.rows.len() == 2);
        let p2 = s.page(&PageQuery {
            after_seq: p1.rows[1].seq,
            limit: 100,
            ..q.clone()
        })?;
        assert!(!p2.more);
        assert_eq!(p1.rows.len() + p2.rows.len(), levels.len());
        p1.rows[0].seq
    };
    assert!(first > 0);
    Ok(())
}

/// Inbox rows are separate from the knowledge base until promoted; promotion adds a new seq.
pub fn inbox<S: Store + MemberStore>(s: &S) -> Result<(), StoreError> {
    let m = s.add_member("Agency", "AT", "agency", false)?;
    let o = tool(1, Some(Tlp::Green));
    let res = s.inbox_put(m.id, std::slice::from_ref(&o))?;
    assert!(res.iter().all(|r| r.is_ok()));
    assert!(
        s.get(o.id())?.is_none(),
        "not in the knowledge base before promotion"
    );
    let q = PageQuery {
        source: PageSource::Inbox { member: m.id },
        scope: member_scope(m.id),
        after_seq: 0,
        added_after: None,
        types: vec![],
        ids: vec![],
        versions: VersionSel::Last,
        limit: 10,
    };
    assert_eq!(s.page(&q)?.rows.len(), 1);
    assert_eq!(
        s.page(&PageQuery {
            source: PageSource::Inbox { member: m.id + 1 },
            ..q.clone()
        })?
        .rows
        .len(),
        0
    );
    let before = s.max_seq()?;
    assert_eq!(s.inbox_promote(o.id())?, Some(m.id));
    let got = s.get(o.id())?.expect("promoted");
    assert!(got.seq > before);
    assert_eq!(s.inbox_holders(o.id())?, vec![(m.id, true)]);
    s.put_status("st-1", m.id, "{}")?;
    assert_eq!(s.status("st-1")?, Some((m.id, "{}".to_string())));
    s.audit("cli", "members.add", "member-1", "")?;
    assert_eq!(s.audit_log(10)?.len(), 1);
    Ok(())
}

/// A member's own collection: each version once, in its own order, never visible through another member's or
/// the shared collections, and apart from the knowledge base.
pub fn member_feed<S: Store + MemberStore>(s: &S) -> Result<(), StoreError> {
    let a = s.add_member("Agency A", "AT", "agency", false)?;
    let b = s.add_member("Agency B", "BE", "agency", false)?;
    let o1 = tool(1, Some(Tlp::Amber));
    let o2 = tool(2, Some(Tlp::Amber));
    assert_eq!(s.member_feed_put(a.id, &[o1.clone(), o2.clone()])?, 2);
    assert_eq!(
        s.member_feed_put(a.id, std::slice::from_ref(&o1))?,
        0,
        "the same version twice is stored once"
    );
    let mut o1b = o1.to_value();
    o1b["modified"] = json!("2021-01-01T00:00:00Z");
    let o1b = obj(o1b);
    assert_eq!(s.member_feed_put(a.id, std::slice::from_ref(&o1b))?, 1);
    assert!(s.get(o1.id())?.is_none(), "not in the knowledge base");
    let q = PageQuery {
        source: PageSource::Member { member: a.id },
        scope: member_scope(a.id),
        after_seq: 0,
        added_after: None,
        types: vec![],
        ids: vec![],
        versions: VersionSel::Last,
        limit: 10,
    };
    let rows = s.page(&q)?.rows;
    assert_eq!(rows.len(), 2, "latest version of each object");
    let all = s.page(&PageQuery {
        versions: VersionSel::All,
        ..q.clone()
    })?;
    assert_eq!(all.rows.len(), 3);
    assert!(all.rows.windows(2).all(|w| w[0].seq < w[1].seq));
    for other in [
        PageSource::Member { member: b.id },
        PageSource::Inbox { member: a.id },
        PageSource::Shared {
            tlp_min: Tlp::Clear,
            tlp_max: Tlp::Red,
        },
    ] {
        let got = s.page(&PageQuery {
            source: other.clone(),
            scope: member_scope(b.id),
            ..q.clone()
        })?;
        assert!(
            !got.rows.iter().any(|r| r.id == o1.id() || r.id == o2.id()),
            "{other:?} must not show member A's own objects"
        );
    }
    Ok(())
}

/// A page of large objects ends at about `PAGE_BYTES` of JSON, not at `limit` rows; paging still yields every
/// row once.
pub fn large_pages<S: Store + MemberStore>(s: &S) -> Result<(), StoreError> {
    let big = "x".repeat(6 << 20);
    for i in 0..6 {
        let mut v = tool(i, Some(Tlp::Green)).to_value();
        if i < 4 {
            v["description"] = json!(big);
        }
        put(s, &obj(v), "x")?;
    }
    let q = PageQuery {
        source: PageSource::Shared {
            tlp_min: Tlp::Clear,
            tlp_max: Tlp::Red,
        },
        scope: member_scope(1),
        after_seq: 0,
        added_after: None,
        types: vec![],
        ids: vec![],
        versions: VersionSel::Last,
        limit: 100,
    };
    let p1 = s.page(&q)?;
    let bytes = |p: &crate::members::Page| p.rows.iter().map(|r| r.json.len()).sum::<usize>();
    // Two 6 MiB objects; a third would pass 16 MiB.
    assert_eq!((p1.rows.len(), p1.more), (2, true), "{}", bytes(&p1));
    assert!(bytes(&p1) <= crate::members::PAGE_BYTES);
    let p2 = s.page(&PageQuery {
        after_seq: p1.rows[1].seq,
        ..q.clone()
    })?;
    assert_eq!((p2.rows.len(), p2.more), (4, false));
    // `limit` still ends a page first when it is reached first.
    let p3 = s.page(&PageQuery {
        after_seq: 0,
        limit: 1,
        ..q.clone()
    })?;
    assert_eq!((p3.rows.len(), p3.more), (1, true));
    Ok(())
}

/// Every member-store case, each on a fresh store.
pub fn run_members<S: Store + MemberStore>(make: &dyn Fn() -> S) -> Result<(), StoreError> {
    large_pages(&make())?;
    members_tokens(&make())?;
    scoped_reads(&make())?;
    inbox(&make())?;
    member_feed(&make())?;
    Ok(())
}

// ---- notice delivery (backends that implement `DeliveryStore` and `VulnStore`) ----

use crate::delivery::{AttemptOutcome, DeliveryFilter, DeliveryStore, NewChannel};
use crate::vuln::{NoticeRecord, VulnStore};

fn notice_rec(id: &str, member: i64, fingerprint: &str) -> NoticeRecord {
    NoticeRecord {
        id: id.into(),
        member_id: member,
        vulnerability: format!("CVE-2026-{id}"),
        version: 0,
        status: "new".into(),
        priority: "act".into(),
        deadline: Some("2026-02-01".into()),
        fingerprint: fingerprint.into(),
        tlp: Some(Tlp::AmberStrict),
        json: format!("{{\"id\":\"{id}\",\"fingerprint\":\"{fingerprint}\"}}"),
        created_at: String::new(),
        updated_at: String::new(),
        acknowledged_at: None,
        resolved_at: None,
        status_note: None,
    }
}

fn channel(member: i64, kind: &str, target: &str, digest: bool) -> NewChannel {
    NewChannel {
        member_id: member,
        kind: kind.into(),
        target: target.into(),
        secret: (kind == "webhook").then(|| "s3cret-signing-key".to_string()),
        digest: digest.then(|| "daily".to_string()),
    }
}

fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .unwrap_or_else(|e| panic!("fixture time {s}: {e}"))
}

/// Channels pair only with their member's notices; a notice version is queued once per channel; claimed
/// deliveries are leased; retries come due again; a new fingerprint supersedes an unsent older one; removed
/// channels are never attempted; the log is per member; the secret never serialises.
pub fn deliveries<S: VulnStore + DeliveryStore>(s: &S) -> Result<(), StoreError> {
    let (m1, m2) = (21, 22);
    let mail1 = s.add_channel(&channel(m1, "email", "soc@m1.example", false))?;
    let hook1 = s.add_channel(&channel(m1, "webhook", "https://m1.example/hook", true))?;
    let mail2 = s.add_channel(&channel(m2, "email", "cert@m2.example", false))?;
    assert_eq!(s.channels(Some(m1))?.len(), 2);
    assert_eq!(s.channels(None)?.len(), 3);
    assert_eq!(
        s.channel(hook1.id)?.and_then(|c| c.secret).as_deref(),
        Some("s3cret-signing-key")
    );
    let j = serde_json::to_string(&hook1).map_err(|e| StoreError::Db(e.to_string()))?;
    assert!(!j.contains("s3cret"), "the secret never serialises: {j}");

    s.put_notice_version(&notice_rec("n1", m1, "f1"), "first notice")?;
    s.put_notice_version(&notice_rec("n2", m2, "g1"), "first notice")?;
    let now = t("2026-03-01T10:00:00Z");
    let tomorrow = t("2026-03-02T07:00:00Z");
    assert_eq!(
        s.queue_deliveries(now, tomorrow)?,
        3,
        "n1 x 2 channels, n2 x 1"
    );
    assert_eq!(
        s.queue_deliveries(now, tomorrow)?,
        0,
        "the same facts are queued once"
    );

    // Immediate channels are due now; the digest channel tomorrow. A claim leases what it returns.
    let due = s.claim_due(now, t("2026-03-01T10:10:00Z"), 100)?;
    let mut got: Vec<(i64, &str)> = due
        .iter()
        .map(|d| (d.channel.id, d.delivery.notice_id.as_str()))
        .collect();
    got.sort();
    assert_eq!(got, vec![(mail1.id, "n1"), (mail2.id, "n2")]);
    assert!(due
        .iter()
        .all(|d| d.channel.member_id == d.delivery.member_id));
    assert!(due.iter().all(|d| d.notice_tlp == Some(Tlp::AmberStrict)));
    assert!(s.claim_due(now, t("2026-03-01T10:10:00Z"), 100)?.is_empty());

    let d1 = due
        .iter()
        .find(|d| d.channel.id == mail1.id)
        .map(|d| d.delivery.id);
    let d2 = due
        .iter()
        .find(|d| d.channel.id == mail2.id)
        .map(|d| d.delivery.id);
    let (Some(d1), Some(d2)) = (d1, d2) else {
        return Err(StoreError::Corrupt("claimed deliveries missing".into()));
    };
    s.record_attempt(
        &[d1],
        now,
        &AttemptOutcome::Sent {
            message_id: "msg-1".into(),
        },
    )?;
    s.record_attempt(
        &[d2],
        now,
        &AttemptOutcome::Retry {
            error: "connection refused".into(),
            next: t("2026-03-01T10:01:00Z"),
        },
    )?;
    let again = s.claim_due(t("2026-03-01T10:02:00Z"), t("2026-03-01T10:20:00Z"), 100)?;
    assert_eq!(
        again.iter().map(|d| d.delivery.id).collect::<Vec<_>>(),
        vec![d2]
    );
    assert_eq!(again[0].delivery.attempts, 1);
    s.record_attempt(
        &[d2],
        t("2026-03-01T10:02:00Z"),
        &AttemptOutcome::Failed {
            error: "gave up".into(),
        },
    )?;

    // Tenancy and the log.
    let log2 = s.deliveries(&DeliveryFilter {
        member: Some(m2),
        ..Default::default()
    })?;
    assert_eq!(log2.len(), 1);
    assert_eq!((log2[0].status.as_str(), log2[0].attempts), ("failed", 2));
    assert_eq!(log2[0].last_error.as_deref(), Some("gave up"));
    let sent = s.deliveries(&DeliveryFilter {
        status: Some("sent".into()),
        ..Default::default()
    })?;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message_id.as_deref(), Some("msg-1"));

    // A new version (new fingerprint) is queued once more per channel; the unsent digest of the old facts is
    // superseded rather than sent.
    s.put_notice_version(&notice_rec("n1", m1, "f2"), "priority changed")?;
    assert_eq!(s.queue_deliveries(now, tomorrow)?, 2);
    assert_eq!(s.queue_deliveries(now, tomorrow)?, 0);
    let due = s.claim_due(t("2026-03-02T07:00:00Z"), t("2026-03-02T07:10:00Z"), 100)?;
    let mut got: Vec<(i64, &str)> = due
        .iter()
        .map(|d| (d.channel.id, d.delivery.fingerprint.as_str()))
        .collect();
    got.sort();
    assert_eq!(got, vec![(mail1.id, "f2"), (hook1.id, "f2")]);
    assert!(due.iter().all(|d| d.notice_json.contains("f2")));
    let superseded = s.deliveries(&DeliveryFilter {
        status: Some("superseded".into()),
        ..Default::default()
    })?;
    assert_eq!(superseded.len(), 1);
    assert_eq!(
        (superseded[0].channel_id, superseded[0].fingerprint.as_str()),
        (hook1.id, "f1")
    );
    // A claim that is never recorded (a crashed round) comes due again once its lease ends.
    let leased: Vec<i64> = due.iter().map(|d| d.delivery.id).collect();
    let again = s.claim_due(t("2026-03-02T07:11:00Z"), t("2026-03-02T07:20:00Z"), 100)?;
    assert_eq!(
        again.iter().map(|d| d.delivery.id).collect::<Vec<_>>(),
        leased
    );
    s.record_attempt(
        &leased,
        t("2026-03-02T07:11:00Z"),
        &AttemptOutcome::Sent {
            message_id: "digest-1".into(),
        },
    )?;

    // A removed channel is never attempted; resolved notices are not queued.
    s.put_notice_version(&notice_rec("n3", m2, "h1"), "first notice")?;
    assert!(s.remove_channel(mail2.id)?);
    assert!(!s.remove_channel(mail2.id)?);
    assert_eq!(s.queue_deliveries(now, tomorrow)?, 0);
    assert!(s
        .claim_due(t("2026-03-09T00:00:00Z"), t("2026-03-09T00:10:00Z"), 100)?
        .is_empty());
    s.add_channel(&channel(m2, "email", "new@m2.example", false))?;
    s.set_notice_status("n3", Some(m2), "resolved", "patched")?;
    assert_eq!(
        s.queue_deliveries(now, tomorrow)?,
        1,
        "only the unresolved n2 goes to the new channel"
    );
    Ok(())
}

/// A refresh names the notice's member: another member's refresh changes neither the notice nor its version.
pub fn refresh_keeps_members_apart<S: VulnStore>(s: &S) -> Result<(), StoreError> {
    let rec = s.put_notice_version(&notice_rec("r1", 31, "f1"), "first notice")?;
    assert!(!s.refresh_notice("r1", 32, "{\"by\":\"another member\"}")?);
    assert!(!s.refresh_notice("no-such-notice", 31, "{}")?);
    let versions = s.notice_versions("r1")?;
    assert_eq!(versions.len(), 1);
    assert_eq!(
        versions[0].json, rec.json,
        "a refresh by another member left the version alone"
    );
    assert_eq!(s.notice("r1", None)?.map(|n| n.json), Some(rec.json));
    assert!(s.refresh_notice("r1", 31, "{\"epss\":0.5}")?);
    assert_eq!(s.notice_versions("r1")?[0].json, "{\"epss\":0.5}");
    assert_eq!(
        s.notice("r1", Some(31))?.map(|n| n.json).as_deref(),
        Some("{\"epss\":0.5}")
    );
    Ok(())
}

/// Every delivery case, on a fresh store.
pub fn run_delivery<S: VulnStore + DeliveryStore>(make: &dyn Fn() -> S) -> Result<(), StoreError> {
    deliveries(&make())?;
    refresh_keeps_members_apart(&make())?;
    Ok(())
}

// ---- dashboard users, sessions and scoped reads (backends that implement `WebStore`) ----

use crate::web::{SessionRecord, WebStore};

/// Users are unique by name without regard to case; removing one ends its sessions; sessions are found by digest
/// and expired ones are purged when a new one is stored.
pub fn users_sessions<S: Store + MemberStore + WebStore>(s: &S) -> Result<(), StoreError> {
    let m = s.add_member("Agency", "AT", "agency", false)?;
    let u = s.add_user(m.id, "alice", "Alice A.", "analyst", "$argon2id$fake")?;
    assert!(
        s.add_user(m.id, "ALICE", "Other", "member", "$argon2id$x")
            .is_err(),
        "user names are unique regardless of case"
    );
    assert_eq!(s.user_by_name("Alice")?.map(|x| x.id), Some(u.id));
    assert_eq!(s.users(Some(m.id))?.len(), 1);
    assert_eq!(s.users(Some(m.id + 1))?.len(), 0);
    assert_eq!(s.users(None)?.len(), 1);
    s.record_login(u.id)?;
    assert!(s.user(u.id)?.and_then(|x| x.last_login).is_some());
    let sess = |digest: &str, created: &str, expires: &str| SessionRecord {
        digest: digest.into(),
        user_id: Some(u.id),
        token_id: None,
        member_id: m.id,
        role: "analyst".into(),
        csrf: "c".into(),
        created_at: created.into(),
        expires_at: expires.into(),
    };
    s.put_session(&sess(
        "old",
        "2020-01-01T00:00:00.000000Z",
        "2020-01-01T12:00:00.000000Z",
    ))?;
    s.put_session(&sess(
        "new",
        "2026-01-01T00:00:00.000000Z",
        "2099-01-01T00:00:00.000000Z",
    ))?;
    assert!(
        s.session("old")?.is_none(),
        "expired sessions are purged on the next login"
    );
    assert_eq!(s.session("new")?.map(|x| x.member_id), Some(m.id));
    assert!(s.remove_session("new")?);
    assert!(!s.remove_session("new")?);
    s.put_session(&sess(
        "again",
        "2026-01-01T00:00:00.000000Z",
        "2099-01-01T00:00:00.000000Z",
    ))?;
    assert!(s.remove_user("alice")?);
    assert!(
        s.session("again")?.is_none(),
        "removing a user ends its sessions"
    );
    assert!(!s.remove_user("alice")?);
    Ok(())
}

/// Scoped counts and scans apply the visibility rule in the database: a member counts and reads CLEAR and GREEN
/// plus what is shared with it, never another member's AMBER.
pub fn scoped_counts_scans<S: Store + MemberStore + WebStore>(s: &S) -> Result<(), StoreError> {
    for (i, t) in [Some(Tlp::Clear), Some(Tlp::Green), Some(Tlp::Amber), None]
        .iter()
        .enumerate()
    {
        put(s, &tool(i, *t), "src")?;
    }
    let amber = tool(2, Some(Tlp::Amber)).id().to_string();
    s.share(&amber, 21)?;
    let now = "2026-06-01T00:00:00Z";
    let a = s.scoped_counts(&member_scope(21), now)?;
    let b = s.scoped_counts(&member_scope(22), now)?;
    assert_eq!(a.total, 3, "{a:?}");
    assert_eq!(b.total, 2, "{b:?}");
    assert_eq!(b.by_tlp.get("amber"), None);
    assert_eq!(a.by_tlp.get("amber"), Some(&1));
    assert_eq!(a.by_source.get("src"), Some(&3));
    assert_eq!(a.by_age.iter().map(|(_, n)| n).sum::<u64>(), 3);
    let all = ReadScope {
        all: true,
        open_max: None,
        member: None,
        default_tlp: Tlp::Amber,
    };
    assert_eq!(s.scoped_counts(&all, now)?.total, 4);
    let mut seen = Vec::new();
    s.scan_visible(&member_scope(22), &["tool"], false, None, &mut |o| {
        seen.push(o.object.id().to_string());
        Ok(())
    })?;
    assert_eq!(seen.len(), 2);
    assert!(!seen.contains(&amber));
    let mut n = 0;
    s.scan_visible(&all, &["tool", "malware"], true, Some(3), &mut |_| {
        n += 1;
        Ok(())
    })?;
    assert_eq!(n, 3);

    // Links through the graph index: a member counts and reads only the relationships it may see.
    let (t0, t1) = (
        tool(0, None).id().to_string(),
        tool(1, None).id().to_string(),
    );
    for (i, tlp) in [(1, Tlp::Green), (2, Tlp::Amber)] {
        let r = obj(json!({"type": "relationship", "spec_version": "2.1",
            "id": format!("relationship--2f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6c{i:02}"),
            "created": "2024-03-01T00:00:00Z", "modified": "2024-03-01T00:00:00Z",
            "relationship_type": "uses", "source_ref": t0, "target_ref": t1,
            "object_marking_refs": [tlp.marking_id()]}));
        put(s, &r, "src")?;
    }
    let counts = s.link_counts(&member_scope(22), &[t1.as_str()], false, 7)?;
    assert_eq!(counts, vec![(t1.clone(), "2024-03".to_string(), 1)]);
    let counts = s.link_counts(
        &all,
        &[t1.as_str(), "tool--00000000-0000-4000-8000-000000000000"],
        false,
        4,
    )?;
    assert_eq!(counts, vec![(t1.clone(), "2024".to_string(), 2)]);
    assert!(s.link_counts(&all, &[t0.as_str()], false, 4)?.is_empty());
    let mut n = 0;
    s.scan_links(&member_scope(22), &[t0.as_str()], true, &mut |o| {
        assert_eq!(o.object.str("source_ref"), Some(t0.as_str()));
        n += 1;
        Ok(())
    })?;
    assert_eq!(n, 1);
    let mut n = 0;
    s.scan_links(&all, &[t0.as_str()], true, &mut |_| {
        n += 1;
        Ok(())
    })?;
    assert_eq!(n, 2);
    Ok(())
}

/// Every dashboard case, each on a fresh store.
pub fn run_web<S: Store + MemberStore + WebStore>(make: &dyn Fn() -> S) -> Result<(), StoreError> {
    users_sessions(&make())?;
    scoped_counts_scans(&make())?;
    Ok(())
}

// ---- scheduled feeds (backends that implement `FeedStore`) ----

use crate::feeds::{
    FeedClaim, FeedCursor, FeedLease, FeedPullRecord, FeedRecord, FeedStatus, FeedStore,
};

/// A feed definition for backend and feed tests (a URL feed with a token and a TLP, no status, no lease).
pub fn feed_rec(name: &str) -> FeedRecord {
    FeedRecord {
        name: name.into(),
        kind: "url".into(),
        url: "https://example.org/x.json".into(),
        format: None,
        token: Some("secret".into()),
        interval_secs: 3600,
        tlp: Some("green".into()),
        collection: None,
        source: None,
        openpgp_keys: Vec::new(),
        require_signature: false,
        origin: "cli".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        status: FeedStatus::default(),
        lease: None,
    }
}

fn pull(at: &str, error: Option<&str>, added: i64, updated: i64, bytes: i64) -> FeedPullRecord {
    FeedPullRecord {
        at: at.into(),
        error: error.map(str::to_string),
        added,
        updated,
        bytes,
    }
}

fn must_feed(s: &dyn FeedStore, name: &str) -> Result<FeedRecord, StoreError> {
    s.feed(name)?
        .ok_or_else(|| StoreError::Aborted(format!("no feed `{name}`")))
}

/// Definitions: every field reads back as written, listings come in byte order of the name, a redefinition
/// replaces the definition (trusted keys whole) but keeps the status and the first `created_at`.
fn feed_definitions(s: &dyn FeedStore) -> Result<(), StoreError> {
    assert!(s.feeds()?.is_empty());
    assert_eq!(s.feed("a")?, None);
    // Byte order puts upper case before lower case and a prefix before its extensions, whatever the locale.
    let odd = "a b'\"; DROP TABLE feeds; -- %_\\ ü 漢";
    for name in ["a", odd, "B", "ab"] {
        s.put_feed(&feed_rec(name))?;
    }
    let names: Vec<String> = s.feeds()?.into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["B", "a", odd, "ab"]);
    assert_eq!(must_feed(s, odd)?, feed_rec(odd));
    assert_eq!(s.feed("A")?, None, "names are case-sensitive");

    let full = FeedRecord {
        kind: "taxii".into(),
        url: "https://taxii.example.org/api1/".into(),
        format: Some("stix".into()),
        token: None,
        interval_secs: 600,
        tlp: None,
        collection: Some("collection-1".into()),
        source: Some("partner CERT".into()),
        origin: "config".into(),
        created_at: "2026-02-02T00:00:00Z".into(),
        ..feed_rec("a")
    };
    s.put_feed(&full)?;
    let got = must_feed(s, "a")?;
    assert_eq!(
        got,
        FeedRecord {
            created_at: "2026-01-01T00:00:00Z".into(),
            ..full.clone()
        },
        "a redefinition keeps the first created_at"
    );
    assert_eq!(s.feeds()?.len(), 4);

    // A CSAF feed's trusted keys and signature rule are replaced whole, and cleared by a definition without them.
    let keyed = FeedRecord {
        kind: "csaf".into(),
        openpgp_keys: vec!["A".repeat(40), "B".repeat(64)],
        require_signature: true,
        ..feed_rec("a")
    };
    s.put_feed(&keyed)?;
    let got = must_feed(s, "a")?;
    assert_eq!(
        (got.openpgp_keys, got.require_signature),
        (keyed.openpgp_keys.clone(), true)
    );
    let one_key = FeedRecord {
        openpgp_keys: vec!["C".repeat(40)],
        require_signature: false,
        ..keyed.clone()
    };
    s.put_feed(&one_key)?;
    let got = must_feed(s, "a")?;
    assert_eq!(
        (got.openpgp_keys, got.require_signature),
        (vec!["C".repeat(40)], false)
    );
    s.put_feed(&FeedRecord {
        require_signature: true,
        ..feed_rec("a")
    })?;
    let got = must_feed(s, "a")?;
    assert!(got.openpgp_keys.is_empty() && got.require_signature);
    s.put_feed(&feed_rec("a"))?;
    let got = must_feed(s, "a")?;
    assert!(got.openpgp_keys.is_empty() && !got.require_signature);
    // Other feeds keep theirs.
    s.put_feed(&keyed)?;
    s.put_feed(&FeedRecord {
        name: "ab".into(),
        ..feed_rec("x")
    })?;
    assert_eq!(must_feed(s, "a")?.openpgp_keys, keyed.openpgp_keys);
    assert!(must_feed(s, "ab")?.openpgp_keys.is_empty());
    Ok(())
}

/// Pulls add to the status: successes set `last_success` and `last_added`, failures `last_error(_at)`; neither
/// clears what the other set. A definition does not reset the status, a pull for an unknown feed fails.
fn feed_pulls(s: &dyn FeedStore) -> Result<(), StoreError> {
    s.put_feed(&feed_rec("a"))?;
    s.put_feed(&feed_rec("b"))?;
    assert_eq!(must_feed(s, "a")?.status, FeedStatus::default());
    s.record_feed_pull("a", &pull("t1", None, 5, 1, 100))?;
    s.record_feed_pull("a", &pull("t2", Some("boom"), 2, 3, 7))?;
    let want = FeedStatus {
        last_attempt: Some("t2".into()),
        last_success: Some("t1".into()),
        last_error: Some("boom".into()),
        last_error_at: Some("t2".into()),
        last_added: 5,
        objects_added: 7,
        objects_updated: 4,
        pulls: 2,
        bytes: 107,
    };
    assert_eq!(must_feed(s, "a")?.status, want);
    s.record_feed_pull("a", &pull("t3", None, 0, 0, 1))?;
    let want = FeedStatus {
        last_attempt: Some("t3".into()),
        last_success: Some("t3".into()),
        last_added: 0,
        pulls: 3,
        bytes: 108,
        ..want
    };
    assert_eq!(must_feed(s, "a")?.status, want);
    // Only the named feed moves.
    assert_eq!(must_feed(s, "b")?.status, FeedStatus::default());
    // Redefining keeps the status.
    s.put_feed(&FeedRecord {
        url: "https://example.org/y.json".into(),
        ..feed_rec("a")
    })?;
    let got = must_feed(s, "a")?;
    assert_eq!(
        (got.url.as_str(), &got.status),
        ("https://example.org/y.json", &want)
    );
    let listed = s.feeds()?;
    assert_eq!(listed.first().map(|f| &f.status), Some(&want));

    assert!(s
        .record_feed_pull("nope", &pull("t", None, 1, 1, 1))
        .is_err());
    assert_eq!(s.feed("nope")?, None, "a failed pull defines no feed");
    assert_eq!(s.feeds()?.len(), 2);
    Ok(())
}

/// Cursors: upserted by (feed, key), listed by key, kept apart per feed, removed with their feed (and only
/// theirs); a feed defined again starts afresh.
fn feed_cursors(s: &dyn FeedStore) -> Result<(), StoreError> {
    for name in ["a", "b", "a%"] {
        s.put_feed(&feed_rec(name))?;
    }
    assert!(s.feed_cursors("a")?.is_empty());
    let k = FeedCursor {
        key: "https://example.org/x.json".into(),
        etag: Some("\"x\"".into()),
        last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        value: None,
        updated_at: "t1".into(),
    };
    s.put_feed_cursor("a", &k)?;
    assert_eq!(s.feed_cursors("a")?, std::slice::from_ref(&k));
    let k2 = FeedCursor {
        etag: None,
        value: Some("2026-03-01T00:00:00.000Z".into()),
        updated_at: "t2".into(),
        ..k.clone()
    };
    s.put_feed_cursor("a", &k2)?;
    assert_eq!(
        s.feed_cursors("a")?,
        std::slice::from_ref(&k2),
        "an upsert replaces every field"
    );
    let k_upper = FeedCursor {
        key: "Z".into(),
        ..k.clone()
    };
    let k_odd = FeedCursor {
        key: "collection/ü 'x'".into(),
        ..k.clone()
    };
    s.put_feed_cursor("a", &k_odd)?;
    s.put_feed_cursor("a", &k_upper)?;
    assert_eq!(
        s.feed_cursors("a")?,
        [k_upper.clone(), k_odd.clone(), k2.clone()],
        "cursors come in byte order of their key"
    );
    s.put_feed_cursor("b", &k)?;
    s.put_feed_cursor("a%", &k_upper)?;
    assert_eq!(s.feed_cursors("b")?, std::slice::from_ref(&k));
    assert_eq!(s.feed_cursors("a%")?, std::slice::from_ref(&k_upper));
    assert!(s.feed_cursors("A")?.is_empty());

    assert!(s.remove_feed("a")?);
    assert!(!s.remove_feed("a")?);
    assert_eq!(s.feed("a")?, None);
    assert!(s.feed_cursors("a")?.is_empty());
    assert_eq!(s.feed_cursors("b")?, std::slice::from_ref(&k));
    assert_eq!(s.feed_cursors("a%")?, [k_upper]);
    let names: Vec<String> = s.feeds()?.into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["a%", "b"]);
    assert!(!s.remove_feed("nope")?);

    // Defined again: no status, no cursors, no keys from before.
    s.record_feed_pull("b", &pull("t", None, 1, 1, 1))?;
    s.put_feed(&FeedRecord {
        openpgp_keys: vec!["D".repeat(40)],
        ..feed_rec("b")
    })?;
    assert!(s.remove_feed("b")?);
    s.put_feed(&feed_rec("b"))?;
    assert_eq!(must_feed(s, "b")?, feed_rec("b"));
    assert!(s.feed_cursors("b")?.is_empty());
    Ok(())
}

/// `secs` seconds after a fixed instant (in 2027), so that lease times do not depend on the clock.
fn lease_time(secs: i64) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0)
        .ok_or_else(|| StoreError::Aborted(format!("no instant {secs} s after the lease epoch")))
}

fn lease(holder: &str, until: i64) -> Result<FeedLease, StoreError> {
    Ok(FeedLease {
        holder: holder.into(),
        until: vigil_model::time::sort_key(&lease_time(until)?),
    })
}

/// Leases: one holder at a time until its lease runs out (at `until` itself, not a moment later); claims do not
/// nest; only the holder renews or releases; a claim hands back the feed as it stands, with its lease; definitions
/// and pulls leave a lease alone; a removed feed takes its lease along.
fn feed_leases(s: &dyn FeedStore) -> Result<(), StoreError> {
    let t = lease_time;
    let odd = "a b'\"; DROP TABLE feeds; -- %_\\ ü 漢";
    assert_eq!(s.claim_feed("a", "h1", t(0)?, t(60)?)?, FeedClaim::Missing);
    for name in ["a", "b", odd] {
        s.put_feed(&feed_rec(name))?;
    }
    s.record_feed_pull("a", &pull("t1", None, 5, 1, 100))?;
    let want = FeedRecord {
        lease: Some(lease("h1", 60)?),
        ..must_feed(s, "a")?
    };
    assert_eq!(
        s.claim_feed("a", "h1", t(0)?, t(60)?)?,
        FeedClaim::Taken(Box::new(want.clone())),
        "a claim hands back the feed with its status and the new lease"
    );
    assert_eq!(must_feed(s, "a")?, want);
    let listed: Vec<Option<FeedLease>> = s.feeds()?.into_iter().map(|f| f.lease).collect();
    assert_eq!(listed, [Some(lease("h1", 60)?), None, None]);

    let held = FeedClaim::Held(lease("h1", 60)?);
    assert_eq!(s.claim_feed("a", "h2", t(30)?, t(90)?)?, held);
    assert_eq!(
        s.claim_feed("a", "h1", t(30)?, t(90)?)?,
        held,
        "claims do not nest"
    );
    assert_eq!(s.claim_feed("a", "h2", t(59)?, t(90)?)?, held);
    // Other feeds are free.
    assert!(matches!(
        s.claim_feed(odd, "h2 ü'", t(30)?, t(90)?)?,
        FeedClaim::Taken(_)
    ));
    assert_eq!(must_feed(s, odd)?.lease, Some(lease("h2 ü'", 90)?));
    assert_eq!(must_feed(s, "b")?.lease, None);

    // Only the holder renews or releases.
    assert!(!s.release_feed("a", "h2")?);
    assert!(!s.renew_feed("a", "h2", t(600)?)?);
    assert!(!s.release_feed("a", "H1")?, "holders are case-sensitive");
    assert_eq!(s.claim_feed("a", "h3", t(30)?, t(90)?)?, held);
    assert!(s.renew_feed("a", "h1", t(120)?)?);
    assert_eq!(
        s.claim_feed("a", "h2", t(90)?, t(150)?)?,
        FeedClaim::Held(lease("h1", 120)?),
        "a renewed lease runs to its new end"
    );

    // Definitions and pulls leave the lease alone.
    s.put_feed(&FeedRecord {
        url: "https://example.org/y.json".into(),
        ..feed_rec("a")
    })?;
    s.record_feed_pull("a", &pull("t2", Some("boom"), 0, 0, 0))?;
    assert_eq!(must_feed(s, "a")?.lease, Some(lease("h1", 120)?));

    // Run out: the next claimant takes it, and the old holder can neither renew nor release it.
    match s.claim_feed("a", "h2", t(120)?, t(180)?)? {
        FeedClaim::Taken(f) => {
            assert_eq!(f.lease, Some(lease("h2", 180)?));
            assert_eq!(f.url, "https://example.org/y.json");
            assert_eq!(f.status.last_attempt.as_deref(), Some("t2"));
        }
        other => panic!("an expired lease was not taken: {other:?}"),
    }
    assert!(!s.renew_feed("a", "h1", t(600)?)?);
    assert!(!s.release_feed("a", "h1")?);
    assert_eq!(must_feed(s, "a")?.lease, Some(lease("h2", 180)?));
    // A holder whose lease ran out renews it as long as nobody took it.
    assert!(s.renew_feed("a", "h2", t(300)?)?);
    assert_eq!(must_feed(s, "a")?.lease, Some(lease("h2", 300)?));

    // Released: free at once, whatever the time.
    assert!(s.release_feed("a", "h2")?);
    assert!(!s.release_feed("a", "h2")?);
    assert_eq!(must_feed(s, "a")?.lease, None);
    assert!(!s.renew_feed("a", "h2", t(600)?)?);
    assert!(matches!(
        s.claim_feed("a", "h3", t(0)?, t(60)?)?,
        FeedClaim::Taken(_)
    ));

    // A removed feed takes its lease along; defined again, it is free.
    assert!(s.remove_feed("a")?);
    assert_eq!(s.claim_feed("a", "h4", t(1)?, t(60)?)?, FeedClaim::Missing);
    assert!(!s.release_feed("a", "h3")?);
    s.put_feed(&feed_rec("a"))?;
    assert_eq!(must_feed(s, "a")?, feed_rec("a"));
    assert_eq!(
        s.claim_feed("a", "h4", t(1)?, t(60)?)?,
        FeedClaim::Taken(Box::new(FeedRecord {
            lease: Some(lease("h4", 60)?),
            ..feed_rec("a")
        }))
    );
    Ok(())
}

/// Claimants racing for one feed from threads of their own: each round, exactly one takes the lease and the
/// others are told who has it.
fn feed_lease_race<S: FeedStore + Sync>(s: &S) -> Result<(), StoreError> {
    const CLAIMANTS: usize = 4;
    s.put_feed(&feed_rec("race"))?;
    let (now, until) = (lease_time(0)?, lease_time(3600)?);
    for round in 0..50 {
        let start = std::sync::Barrier::new(CLAIMANTS);
        let claims: Vec<(String, FeedClaim)> = std::thread::scope(|sc| {
            let threads: Vec<_> = (0..CLAIMANTS)
                .map(|i| {
                    let start = &start;
                    sc.spawn(move || {
                        let holder = format!("holder-{round}-{i}");
                        start.wait();
                        s.claim_feed("race", &holder, now, until)
                            .map(|c| (holder, c))
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| {
                    t.join().unwrap_or_else(|_| {
                        Err(StoreError::Aborted("a claiming thread panicked".into()))
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        let winners: Vec<&String> = claims
            .iter()
            .filter(|(_, c)| matches!(c, FeedClaim::Taken(_)))
            .map(|(h, _)| h)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {claims:?}");
        let winner = winners[0].clone();
        for (h, c) in &claims {
            if *h != winner {
                assert_eq!(
                    c,
                    &FeedClaim::Held(FeedLease {
                        holder: winner.clone(),
                        until: vigil_model::time::sort_key(&until),
                    }),
                    "round {round}"
                );
            }
        }
        assert!(s.release_feed("race", &winner)?);
    }
    Ok(())
}

/// Every feed-store case, each on a fresh store.
pub fn run_feeds<S: FeedStore + Sync>(make: &dyn Fn() -> S) -> Result<(), StoreError> {
    feed_definitions(&make())?;
    feed_pulls(&make())?;
    feed_cursors(&make())?;
    feed_leases(&make())?;
    feed_lease_race(&make())?;
    Ok(())
}
