//! The ingestion pipeline: PATHs -> input framing -> format readers -> store, one transaction per file.
//!
//! Owns the rules that need the store: TLP defaults (explicit `--tlp`, public references CLEAR, the rest left
//! unmarked for the operator's default), dangling-reference checks on relationships and sightings, and the
//! resolution of [`Link`]s (a MISP galaxy naming an ATT&CK group, an IOC list naming a malware family).
//!
//! Invariant: no printing; progress is reported through a callback.

use std::collections::HashMap;
use std::io::BufRead;

use serde::Serialize;
use serde_json::{json, Value};
use vigil_formats::{input, Format, FormatError, Item, Link, ParseCtx};
use vigil_model::{ids, time, Provenance, StixObject, Tlp};
use vigil_store::{PutMode, PutOutcome, Store, StoreError, WriteTx};

/// The MITRE identity ATT&CK objects are created by: ATT&CK is a public reference (TLP:CLEAR unless told otherwise).
const MITRE_IDENTITY: &str = "identity--c78cb6e5-0c4b-4611-8297-d1b8b55e40b5";

/// Most error entries kept in a report; the rest are counted.
const MAX_ERRORS: usize = 1000;

/// What `vigil ingest` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// Source name for provenance (and the family name of an IOC list).
    pub source: Option<String>,
    /// Marking for objects that carry no TLP marking of their own.
    pub tlp: Option<Tlp>,
    /// Confidence for objects that carry none.
    pub confidence: Option<u8>,
}

/// One problem, with where it was found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IngestError {
    pub file: String,
    pub location: String,
    pub reason: String,
}

/// The outcome of an ingest run (`vigil ingest --json` prints it).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub files: u64,
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub errors: Vec<IngestError>,
    /// Errors beyond the first MAX_ERRORS, counted only.
    pub errors_omitted: u64,
    /// Files (or streams) that could not be read at all or broke off.
    pub failed_files: u64,
    /// Warning lists stored or replaced.
    pub warninglists: u64,
    pub seconds: f64,
}

impl Report {
    fn error(&mut self, file: &str, location: &str, reason: &str) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(IngestError {
                file: file.to_string(),
                location: location.to_string(),
                reason: reason.to_string(),
            });
        } else {
            self.errors_omitted += 1;
        }
    }

    fn count(&mut self, o: PutOutcome) {
        match o {
            PutOutcome::Added => self.added += 1,
            PutOutcome::Updated | PutOutcome::Historical => self.updated += 1,
            PutOutcome::Unchanged => self.unchanged += 1,
        }
    }

    /// Objects handled so far (for progress).
    pub fn objects(&self) -> u64 {
        self.added + self.updated + self.unchanged + self.rejected
    }

    /// The process exit status the CLI contract gives this outcome: 0 all stored, 1 some rejected or failed,
    /// 2 nothing could be read.
    pub fn exit_code(&self) -> u8 {
        let stored = self.added + self.updated + self.unchanged + self.warninglists;
        if self.failed_files > 0 && stored == 0 && self.rejected == 0 {
            2
        } else if self.rejected > 0 || self.failed_files > 0 {
            1
        } else {
            0
        }
    }
}

/// Errors that stop an ingest run (the store failed); per-file problems go into the report instead.
#[derive(Debug, thiserror::Error)]
pub enum IngestFailure {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Ingests every PATH into the store. `progress` is called now and then with the running report.
pub fn ingest_paths(
    store: &dyn Store,
    paths: &[String],
    opts: &Options,
    progress: &mut dyn FnMut(&Report),
) -> Result<Report, IngestFailure> {
    let started = std::time::Instant::now();
    let mut run = Run {
        store,
        opts,
        report: Report::default(),
        progress,
        fatal: None,
    };
    for path in paths {
        let runc = std::cell::RefCell::new(&mut run);
        let res = input::walk(
            path,
            &mut |unit| runc.borrow_mut().unit(unit, None),
            &mut |found| match found {
                input::Found::MispFeed(dir) => runc.borrow_mut().misp_feed(&dir),
            },
            &mut |e| {
                runc.borrow_mut().file_error(&e);
                Ok(())
            },
        );
        if let Err(e) = res {
            if let Some(fatal) = run.fatal.take() {
                return Err(IngestFailure::Store(fatal));
            }
            run.file_error(&e);
        }
    }
    run.report.seconds = started.elapsed().as_secs_f64();
    Ok(run.report)
}

struct Run<'a> {
    store: &'a dyn Store,
    opts: &'a Options,
    report: Report,
    progress: &'a mut dyn FnMut(&Report),
    fatal: Option<StoreError>,
}

fn file_of(e: &FormatError) -> (String, String) {
    match e {
        FormatError::Unreadable { file, reason } | FormatError::Io { file, reason } => {
            (file.clone(), reason.clone())
        }
        FormatError::Sink(r) => (String::new(), r.clone()),
    }
}

impl Run<'_> {
    fn file_error(&mut self, e: &FormatError) {
        let (file, reason) = file_of(e);
        self.report.failed_files += 1;
        self.report.error(&file, "file", &reason);
    }

    fn misp_feed(&mut self, dir: &std::path::Path) -> Result<(), FormatError> {
        let manifest = dir.join("manifest.json");
        let name = manifest.display().to_string();
        let text = match std::fs::read(&manifest) {
            Ok(t) => t,
            Err(e) => {
                self.file_error(&FormatError::Unreadable {
                    file: name,
                    reason: e.to_string(),
                });
                return Ok(());
            }
        };
        let uuids: Vec<String> = match serde_json::from_slice::<Value>(&text) {
            Ok(Value::Object(m)) => m.keys().cloned().collect(),
            _ => {
                self.file_error(&FormatError::Unreadable {
                    file: name,
                    reason: "manifest.json is not a JSON object keyed by event uuid".into(),
                });
                return Ok(());
            }
        };
        self.report.files += 1;
        for uuid in uuids {
            if uuid.contains(['/', '\\']) || uuid.starts_with('.') {
                self.report
                    .error(&name, &uuid, "manifest key is not an event uuid");
                self.report.rejected += 1;
                continue;
            }
            let path = dir.join(format!("{uuid}.json"));
            let pname = path.display().to_string();
            match std::fs::File::open(&path) {
                Ok(f) => {
                    let unit = input::Unit {
                        name: pname,
                        reader: Box::new(std::io::BufReader::new(f)),
                    };
                    self.unit(unit, Some(Format::Misp))?;
                }
                Err(e) => self.file_error(&FormatError::Unreadable {
                    file: pname,
                    reason: format!("listed in manifest.json but unreadable: {e}"),
                }),
            }
        }
        Ok(())
    }

    fn unit(
        &mut self,
        mut unit: input::Unit<'_>,
        forced: Option<Format>,
    ) -> Result<(), FormatError> {
        let format = match forced.or(self.opts.format) {
            Some(f) => f,
            None => {
                let head = match unit.reader.fill_buf() {
                    Ok(h) => h,
                    Err(e) => {
                        self.file_error(&FormatError::Io {
                            file: unit.name.clone(),
                            reason: e.to_string(),
                        });
                        return Ok(());
                    }
                };
                match vigil_formats::detect(&unit.name, head) {
                    Some(f) => f,
                    None => {
                        let reason = if head.is_empty() {
                            "empty input".to_string()
                        } else {
                            "unknown format (not STIX, MISP, a galaxy, a warning list or an IOC list); use --format".to_string()
                        };
                        self.file_error(&FormatError::Unreadable {
                            file: unit.name.clone(),
                            reason,
                        });
                        return Ok(());
                    }
                }
            }
        };
        self.report.files += 1;
        let file_stem = unit
            .name
            .rsplit(['/', '\\', '!'])
            .next()
            .unwrap_or(&unit.name)
            .split('.')
            .next()
            .unwrap_or("")
            .to_string();
        let source = self
            .opts
            .source
            .clone()
            .unwrap_or_else(|| file_stem.clone());
        let ctx = ParseCtx {
            source: if format == Format::Iocs {
                self.opts.source.clone().unwrap_or_default()
            } else {
                source.clone()
            },
            file: unit.name.clone(),
            confidence: self.opts.confidence,
            now: time::now(),
        };
        let prov = Provenance {
            source,
            ingested_at: ctx.now.clone(),
            original_id: None,
            file: Some(unit.name.clone()),
        };
        let public = format.is_public_reference();
        let mut parse_error: Option<FormatError> = None;
        let mut file_report = Report::default();
        let opts = self.opts;
        let progress = &mut *self.progress;
        let base = self.report.clone();
        let res = self.store.write(&mut |tx| {
            let mut w = FileWriter {
                tx,
                opts,
                prov: prov.clone(),
                public,
                report: Report::default(),
                deferred: Vec::new(),
                links: HashMap::new(),
                file: ctx.file.clone(),
                now: ctx.now.clone(),
            };
            let mut n = 0u64;
            let r = vigil_formats::parse(format, &mut unit.reader, &ctx, &mut |item| {
                w.item(item).map_err(|e| FormatError::Sink(e.to_string()))?;
                n += 1;
                if n.is_multiple_of(20_000) {
                    let mut snapshot = base.clone();
                    merge(&mut snapshot, &w.report);
                    progress(&snapshot);
                }
                Ok(())
            });
            match r {
                Err(FormatError::Sink(reason)) => return Err(StoreError::Aborted(reason)),
                Err(e) => parse_error = Some(e),
                Ok(()) => {}
            }
            w.finish()?;
            file_report = std::mem::take(&mut w.report);
            Ok(())
        });
        if let Err(e) = res {
            self.fatal = Some(e);
            return Err(FormatError::Sink("store failure".into()));
        }
        merge(&mut self.report, &file_report);
        if let Some(e) = parse_error {
            let (file, reason) = file_of(&e);
            self.report.failed_files += 1;
            let stored = file_report.added + file_report.updated + file_report.unchanged;
            let note = if stored > 0 {
                format!("{reason}; the {stored} objects read before this point were stored")
            } else {
                reason
            };
            self.report.error(&file, "file", &note);
        }
        (self.progress)(&self.report);
        Ok(())
    }
}

fn merge(into: &mut Report, from: &Report) {
    into.added += from.added;
    into.updated += from.updated;
    into.unchanged += from.unchanged;
    into.rejected += from.rejected;
    into.warninglists += from.warninglists;
    into.errors_omitted += from.errors_omitted;
    for e in &from.errors {
        into.error(&e.file, &e.location, &e.reason);
    }
}

struct FileWriter<'t, 'o> {
    tx: &'t mut dyn WriteTx,
    opts: &'o Options,
    prov: Provenance,
    public: bool,
    report: Report,
    /// Relationships whose ends were not stored yet when they arrived (a bundle may list them first).
    deferred: Vec<(String, StixObject, Option<String>)>,
    /// Link targets already resolved in this file: (type, key) -> id.
    links: HashMap<(String, String), Option<String>>,
    file: String,
    now: String,
}

fn is_public_object(o: &StixObject) -> bool {
    o.str("created_by_ref") == Some(MITRE_IDENTITY)
        || o.get("external_references")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|r| {
                    r.get("source_name")
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.starts_with("mitre-") && s.ends_with("attack"))
                })
            })
}

impl FileWriter<'_, '_> {
    fn mark(&self, o: &mut StixObject) {
        if o.tlp().is_some() {
            return;
        }
        let tlp = self.opts.tlp.or(if self.public || is_public_object(o) {
            Some(Tlp::Clear)
        } else {
            None
        });
        if let Some(t) = tlp {
            if o.type_() == "marking-definition" && Tlp::from_marking_id(o.id()).is_some() {
                return;
            }
            let mut refs: Vec<Value> = o
                .get("object_marking_refs")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            refs.push(json!(t.marking_id()));
            o.set("object_marking_refs", Value::Array(refs));
        }
    }

    fn put(
        &mut self,
        mut o: StixObject,
        original_id: Option<String>,
        mode: PutMode,
    ) -> Result<(), StoreError> {
        self.mark(&mut o);
        let prov = if original_id.is_some() {
            Provenance {
                original_id,
                ..self.prov.clone()
            }
        } else {
            self.prov.clone()
        };
        let out = self.tx.put(&o, &prov, mode)?;
        self.report.count(out);
        Ok(())
    }

    fn missing_ref(&mut self, o: &StixObject) -> Result<Option<String>, StoreError> {
        let keys: &[&str] = match o.type_() {
            "relationship" => &["source_ref", "target_ref"],
            "sighting" => &["sighting_of_ref"],
            _ => return Ok(None),
        };
        for k in keys {
            if let Some(id) = o.str(k) {
                if !self.tx.exists(id)? {
                    return Ok(Some(format!(
                        "dangling reference: {k} {id} is neither in this input nor in the store"
                    )));
                }
            }
        }
        Ok(None)
    }

    fn item(&mut self, item: Item) -> Result<(), StoreError> {
        match item {
            Item::Object {
                object,
                original_id,
                derived,
            } => {
                if !derived && self.missing_ref(&object)?.is_some() {
                    self.deferred
                        .push((object.id().to_string(), object, original_id));
                    return Ok(());
                }
                self.put(
                    object,
                    original_id,
                    if derived {
                        PutMode::Derived
                    } else {
                        PutMode::Source
                    },
                )
            }
            Item::Link(link) => self.link(link),
            Item::WarningList(wl) => {
                let out = self.tx.put_warninglist(&wl)?;
                if out != PutOutcome::Unchanged {
                    self.report.warninglists += 1;
                }
                self.report.count(out);
                Ok(())
            }
            Item::Reject { location, reason } => {
                self.report.rejected += 1;
                let file = self.file.clone();
                self.report.error(&file, &location, &reason);
                Ok(())
            }
        }
    }

    fn resolve(&mut self, link: &Link) -> Result<Option<String>, StoreError> {
        for ty in &link.target_types {
            for key in &link.keys {
                let k = (ty.clone(), key.to_lowercase());
                if let Some(hit) = self.links.get(&k) {
                    if hit.is_some() {
                        return Ok(hit.clone());
                    }
                    continue;
                }
                let found = self.tx.lookup(&[ty.as_str()], key)?.into_iter().next();
                self.links.insert(k, found.clone());
                if found.is_some() {
                    return Ok(found);
                }
            }
        }
        Ok(None)
    }

    fn link(&mut self, link: Link) -> Result<(), StoreError> {
        let target = match self.resolve(&link)? {
            Some(t) => t,
            None => match &link.fallback {
                Some(fb) => {
                    let id = fb.id().to_string();
                    self.put(fb.clone(), None, PutMode::Derived)?;
                    for ty in &link.target_types {
                        for key in &link.keys {
                            self.links
                                .insert((ty.clone(), key.to_lowercase()), Some(id.clone()));
                        }
                    }
                    id
                }
                None => return Ok(()),
            },
        };
        let (src, dst) = if link.reverse {
            (target.as_str(), link.from.as_str())
        } else {
            (link.from.as_str(), target.as_str())
        };
        if src == dst {
            return Ok(());
        }
        let mut m = serde_json::Map::new();
        m.insert("type".into(), json!("relationship"));
        m.insert("spec_version".into(), json!("2.1"));
        m.insert(
            "id".into(),
            json!(ids::vigil_id(
                "relationship",
                &[src, &link.relationship_type, dst]
            )),
        );
        m.insert("created".into(), json!(self.now));
        m.insert("modified".into(), json!(self.now));
        m.insert("relationship_type".into(), json!(link.relationship_type));
        m.insert("source_ref".into(), json!(src));
        m.insert("target_ref".into(), json!(dst));
        if !link.marking_refs.is_empty() {
            m.insert("object_marking_refs".into(), json!(link.marking_refs));
        }
        match StixObject::from_map_trusted(m) {
            Ok(rel) => self.put(rel, None, PutMode::Derived),
            Err(e) => {
                self.report.rejected += 1;
                let file = self.file.clone();
                self.report
                    .error(&file, &link.from, &format!("link not created: {e}"));
                Ok(())
            }
        }
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        // References may point forward in the input; whatever is still missing now is dangling.
        let deferred = std::mem::take(&mut self.deferred);
        for (id, o, original_id) in deferred {
            match self.missing_ref(&o)? {
                None => self.put(o, original_id, PutMode::Source)?,
                Some(reason) => {
                    self.report.rejected += 1;
                    let file = self.file.clone();
                    self.report.error(&file, &id, &reason);
                }
            }
        }
        Ok(())
    }
}
