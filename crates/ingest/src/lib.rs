//! The ingestion pipeline: PATHs -> input framing -> format readers -> store, committed per group of whole files
//! (`GROUP_OBJECTS`) and per part of a large file (`COMMIT_EVERY`).
//!
//! Owns the rules that need the store: TLP defaults (explicit `--tlp`, public references CLEAR, the rest left
//! unmarked for the operator's default), dangling-reference checks on relationships and sightings, and the
//! resolution of [`Link`]s (a MISP galaxy naming an ATT&CK group, an IOC list naming a malware family).
//!
//! Invariant: no printing; progress is reported through a callback.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use serde::Serialize;
use serde_json::{json, Value};
use vigil_formats::iocs::family_id;
use vigil_formats::{input, Format, FormatError, Item, Link, ParseCtx};
use vigil_model::{ids, pattern::Pattern, time, Provenance, StixObject, Tlp};
use vigil_store::prepared::{
    name_fold, name_kind, name_stem, object_kinds, KEY_ID, KEY_NAME, KEY_STEM,
};
use vigil_store::{Prepared, PutMode, PutOutcome, Store, StoreError, WriteTx};

pub mod retract;

/// The MITRE identity ATT&CK objects are created by: ATT&CK is a public reference (TLP:CLEAR unless told otherwise).
const MITRE_IDENTITY: &str = "identity--c78cb6e5-0c4b-4611-8297-d1b8b55e40b5";

/// Most error entries kept in a report; the rest are counted.
const MAX_ERRORS: usize = 1000;

/// Items per message between the parsing and the writing thread, and messages in flight. The writing thread
/// stops taking messages while it stores a batch of derived objects (`DERIVED_BATCH`, ~0.3 s for a bulk list):
/// the channel holds what the parsing thread makes meanwhile, so that it does not stop too (with 8 messages in
/// flight the 1M list took 20.8 s instead of 13.5 s, the two threads taking turns).
const BATCH: usize = 512;
const PIPELINE_DEPTH: usize = 160;
/// A message also ends at this many bytes of prepared objects: large objects (a STIX bundle's reports, MISP
/// events) then hold at most `PIPELINE_DEPTH` x this much memory in flight.
const BATCH_BYTES: usize = 512 * 1024;
/// Room a batch is made with: it may run a few links past `BATCH` to end with its last object's links.
const BATCH_ROOM: usize = BATCH + 8;
/// Derived objects written together (see `FileWriter::put_owned`): the store sorts a batch by id hash
/// (`put_derived_batch`), and larger batches visit each index page fewer times. On the 1M list (two derived
/// objects a line), alternated pairs: 256 15.7-16.7 s, 16,384 14.8 s, 65,536 13.8-15.0 s (peak RSS 140, 175 and
/// 270 MB).
const DERIVED_BATCH: usize = 65_536;
/// Objects between commit points of one file (see `WriteTx::commit_point`): a large file is stored in parts
/// whose WAL the store copies into the database in the background while the next part is written. The 1M list
/// ran in 8.9 s with 300,000, 9.2 s with 150,000 and 9.5 s in one transaction (three alternated runs each);
/// shorter parts rewrite the hot index pages into the WAL more often.
const COMMIT_EVERY: u64 = 262_144;
/// Objects after which the write transaction of a group of files commits at the end of a file. A MISP feed is
/// thousands of small files: one transaction each made the search index flush and merge its segments, and SQLite
/// copy the WAL, at every file, and the reading thread waited for each file to be written. A 2,533-event feed
/// took 72-76 s that way and takes 33-37 s in groups; maltrail's tarball (2,557 files) 54-55 s, now 22-27 s.
const GROUP_OBJECTS: u64 = 65_536;
/// Also commit at a file's end after this long, so that a slow input does not hold the store's writer.
const GROUP_TIME: std::time::Duration = std::time::Duration::from_secs(5);
/// A write of the same process that waits for the store's writer (an API call during a scheduled feed's run)
/// gets it at the first file's end after this long, not after the group: it waits about this plus one file,
/// and a steady stream of such writes still leaves the run groups of this length.
const STEP_ASIDE_AFTER: std::time::Duration = std::time::Duration::from_millis(200);
/// Most ids remembered per file for reference checks (the rest are checked in the database).
const WRITTEN_MAX: usize = 200_000;
/// Items between two progress reports.
const PROGRESS_EVERY: u64 = 20_000;

/// What the parsing thread hands the writing thread.
enum Msg {
    Object {
        p: Prepared,
        original_id: Option<String>,
        derived: bool,
    },
    Other(Item),
    /// Something of the object before it that was stored as given but will not work as its sender meant:
    /// the object's id and why.
    Warn {
        id: String,
        reason: String,
    },
    /// A file (or stream) starts.
    Begin(Box<FileStart>),
    /// The file ended, with the reason it broke off if it did.
    End(Option<FormatError>),
    /// Counts and errors the reading thread found itself (a file it could not read), in input order.
    Note(Report),
}

fn mode_of(derived: bool) -> PutMode {
    if derived {
        PutMode::Derived
    } else {
        PutMode::Source
    }
}

/// Marks and prepares an object item; everything else passes through. `pattern`: the item's STIX pattern, if the
/// caller has parsed it already ([`source_pattern`]).
fn prepare(item: Item, opts: &Options, public: bool, pattern: Option<&Pattern>) -> Msg {
    match item {
        Item::Object {
            object,
            original_id,
            derived,
        } => Msg::Object {
            p: marked(opts, public, object, mode_of(derived), pattern),
            original_id,
            derived,
        },
        other => Msg::Other(other),
    }
}

/// What is wrong with an object that is stored all the same: a value no observable of its type can have, compared
/// by an indicator from a source (it never matches, and exports leave it out) or held by a cyber-observable.
/// Checked on the reading thread, for source objects only (what Vigil derives was normalised when it was made).
/// `pattern`: the item's parsed pattern ([`source_pattern`]).
fn warning(item: &Item, pattern: Option<&Pattern>) -> Option<Msg> {
    let object = source_object(item)?;
    if object.is_sco() {
        // A cyber-observable holding a value no such observable can have (`999.1.1.1` as an ipv4-addr): stored as
        // the source gave it, but no look-up by value finds it.
        let kind =
            vigil_model::ObservableKind::from_pattern_path(&format!("{}:value", object.type_()))?;
        let e = vigil_model::Observable::new(kind, object.str("value")?).err()?;
        return Some(Msg::Warn {
            id: object.id().to_string(),
            reason: format!("stored as given, but its value is not valid: {e}"),
        });
    }
    let e = vigil_model::observable::invalid_pattern_value(pattern?)?;
    Some(Msg::Warn {
        id: object.id().to_string(),
        reason: format!("stored, but this value will never match and exports leave it out: {e}"),
    })
}

/// The object of an item that came from the source as it is (not one Vigil derived from it).
fn source_object(item: &Item) -> Option<&StixObject> {
    match item {
        Item::Object {
            object,
            derived: false,
            ..
        } => Some(object),
        _ => None,
    }
}

/// The STIX pattern of a source indicator, parsed once on the reading thread for both its warning and its look-up
/// keys (`None` for anything else, or a pattern that does not parse: the store's own checks report that).
fn source_pattern(item: &Item) -> Option<Pattern> {
    let object = source_object(item)?;
    if object.type_() != "indicator" || object.str("pattern_type") != Some("stix") {
        return None;
    }
    Pattern::parse(object.str("pattern")?).ok()
}

/// The object with the TLP defaults applied, prepared for writing.
fn marked(
    opts: &Options,
    public: bool,
    mut o: StixObject,
    mode: PutMode,
    pattern: Option<&Pattern>,
) -> Prepared {
    mark(opts, public, &mut o);
    Prepared::with_pattern(&o, mode, pattern)
}

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
    /// Objects stored as given that will not work as their sender meant (an indicator comparing a value no
    /// observable of its type can have), with why; they do not change the exit status.
    pub warnings: Vec<IngestError>,
    /// Warnings beyond the first MAX_ERRORS, counted only.
    pub warnings_omitted: u64,
    /// Files (or streams) that could not be read at all or broke off.
    pub failed_files: u64,
    /// Warning lists stored or replaced.
    pub warninglists: u64,
    pub seconds: f64,
}

impl Report {
    fn error(&mut self, file: &str, location: &str, reason: &str) {
        capped(
            &mut self.errors,
            &mut self.errors_omitted,
            file,
            location,
            reason,
        );
    }

    fn warn(&mut self, file: &str, location: &str, reason: &str) {
        capped(
            &mut self.warnings,
            &mut self.warnings_omitted,
            file,
            location,
            reason,
        );
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

/// Keeps the first MAX_ERRORS problems of a kind and counts the rest.
fn capped(
    list: &mut Vec<IngestError>,
    omitted: &mut u64,
    file: &str,
    location: &str,
    reason: &str,
) {
    if list.len() < MAX_ERRORS {
        list.push(IngestError {
            file: file.to_string(),
            location: location.to_string(),
            reason: reason.to_string(),
        });
    } else {
        *omitted += 1;
    }
}

/// Errors that stop an ingest run (the store failed); per-file problems go into the report instead.
#[derive(Debug, thiserror::Error)]
pub enum IngestFailure {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store failed in the middle of a run: what was committed before stays, the rest was rolled back.
    #[error(
        "the store failed while writing {file}: {cause}. {}; ingest the same input again to store the rest (nothing is doubled)",
        stored_before(*files_stored, last_stored.as_deref())
    )]
    Stopped {
        /// Kept in the message rather than as the error's source, so that it is said once, where it belongs.
        cause: StoreError,
        /// The file being written.
        file: String,
        /// Files stored whole before it, and the last of them.
        files_stored: u64,
        last_stored: Option<String>,
    },
}

fn stored_before(n: u64, last: Option<&str>) -> String {
    match (n, last) {
        (0, _) | (_, None) => "No file of this run was stored whole before it".into(),
        (1, Some(l)) => format!("1 file was stored whole before it ({l})"),
        (n, Some(l)) => format!("{n} files were stored whole before it (the last: {l})"),
    }
}

/// Ingests every PATH into the store. `progress` is called now and then with the running report.
///
/// Two threads: the calling thread reads, parses and prepares objects (JSON, search text, keys), file after file;
/// a second thread holds the write transaction and only runs SQL. The writing thread stores small files in groups,
/// one transaction each (`GROUP_OBJECTS`), so that the reading thread parses the next file while the last one is
/// written and the store does not flush its search index and WAL for every file of a MISP feed.
pub fn ingest_paths(
    store: &dyn Store,
    paths: &[String],
    opts: &Options,
    progress: &mut dyn FnMut(&Report),
) -> Result<Report, IngestFailure> {
    let started = std::time::Instant::now();
    // A bounded channel keeps memory flat.
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<Msg>>(PIPELINE_DEPTH);
    // Written objects go back to the reading thread to be freed there: freeing memory another thread
    // allocated is slower, and the writing thread is the bottleneck (~4% of its time on a 1M-line list).
    let (trash_sender, trash) = std::sync::mpsc::channel::<Vec<Prepared>>();
    let shown = std::sync::Mutex::new(Report::default());
    let published: std::sync::Mutex<Option<ResolvedLink>> = std::sync::Mutex::new(None);
    let (res, mut report) = std::thread::scope(|scope| {
        let shown = &shown;
        let published = &published;
        let writer = scope.spawn(move || {
            let mut total = Report::default();
            let res = write_run(
                store,
                opts,
                &receiver,
                &trash_sender,
                published,
                shown,
                &mut total,
            );
            (res, total)
        });
        let mut run = Run {
            opts,
            sender: Some(sender),
            trash,
            shown,
            published,
            progress: &mut *progress,
            seq: 0,
        };
        for path in paths {
            let runc = std::cell::RefCell::new(&mut run);
            let res = input::walk(
                path,
                &mut |unit| runc.borrow_mut().unit(unit, None),
                &mut |found| match found {
                    input::Found::MispFeed(dir) => runc.borrow_mut().misp_feed(&dir),
                },
                &mut |e| runc.borrow_mut().file_error(&e),
            );
            // A reader error is the file's; once the writing thread has stopped, the run ends with its error.
            if let Err(e) = res {
                if run.sender.is_none() || run.file_error(&e).is_err() {
                    break;
                }
            }
        }
        // The writing thread ends when the channel closes.
        drop(run.sender.take());
        writer.join().unwrap_or_else(|_| {
            (
                Err(IngestFailure::Store(StoreError::Db(
                    "the store writer thread panicked".into(),
                ))),
                Report::default(),
            )
        })
    });
    res?;
    report.seconds = started.elapsed().as_secs_f64();
    progress(&report);
    Ok(report)
}

/// The reading side of an ingest run.
struct Run<'a, 'p> {
    opts: &'a Options,
    /// None once the writing thread has stopped (its own error says why).
    sender: Option<std::sync::mpsc::SyncSender<Vec<Msg>>>,
    trash: std::sync::mpsc::Receiver<Vec<Prepared>>,
    /// The running report the writing thread keeps for progress.
    shown: &'a std::sync::Mutex<Report>,
    published: &'a std::sync::Mutex<Option<ResolvedLink>>,
    progress: &'p mut dyn FnMut(&Report),
    /// Files started so far: the number of the file being read (see `ResolvedLink::file`).
    seq: u64,
}

fn file_of(e: &FormatError) -> (String, String) {
    match e {
        FormatError::Unreadable { file, reason } | FormatError::Io { file, reason } => {
            (file.clone(), reason.clone())
        }
        FormatError::Sink(r) => (String::new(), r.clone()),
    }
}

/// The error a reader gets once the writing thread has stopped.
fn writer_stopped() -> FormatError {
    FormatError::Sink("the store writer stopped".into())
}

impl Run<'_, '_> {
    /// Hands the writing thread a batch; fails once it has stopped.
    fn send(&mut self, batch: Vec<Msg>) -> Result<(), FormatError> {
        let sent = self.sender.as_ref().is_some_and(|s| s.send(batch).is_ok());
        if !sent {
            self.sender = None;
            return Err(writer_stopped());
        }
        self.trash.try_iter().for_each(drop);
        Ok(())
    }

    /// Counts and errors found on this side go through the writing thread, so that the report keeps input order.
    fn note(&mut self, r: Report) -> Result<(), FormatError> {
        self.send(vec![Msg::Note(r)])
    }

    fn file_error(&mut self, e: &FormatError) -> Result<(), FormatError> {
        let (file, reason) = file_of(e);
        let mut r = Report {
            failed_files: 1,
            ..Report::default()
        };
        r.error(&file, "file", &reason);
        self.note(r)
    }

    fn misp_feed(&mut self, dir: &std::path::Path) -> Result<(), FormatError> {
        let manifest = dir.join("manifest.json");
        let name = manifest.display().to_string();
        let text = match std::fs::read(&manifest) {
            Ok(t) => t,
            Err(e) => {
                return self.file_error(&FormatError::Unreadable {
                    file: name,
                    reason: e.to_string(),
                });
            }
        };
        let uuids: Vec<String> = match serde_json::from_slice::<Value>(&text) {
            Ok(Value::Object(m)) => m.keys().cloned().collect(),
            _ => {
                return self.file_error(&FormatError::Unreadable {
                    file: name,
                    reason: "manifest.json is not a JSON object keyed by event uuid".into(),
                });
            }
        };
        let mut r = Report {
            files: 1,
            ..Report::default()
        };
        let mut events = Vec::with_capacity(uuids.len());
        for uuid in uuids {
            if uuid.contains(['/', '\\']) || uuid.starts_with('.') {
                r.error(&name, &uuid, "manifest key is not an event uuid");
                r.rejected += 1;
            } else {
                events.push(uuid);
            }
        }
        self.note(r)?;
        for uuid in events {
            let path = dir.join(format!("{uuid}.json"));
            let pname = path.display().to_string();
            match std::fs::File::open(&path) {
                Ok(f) => {
                    let unit = input::Unit::text(pname, Box::new(f));
                    self.unit(unit, Some(Format::Misp))?;
                }
                Err(e) => self.file_error(&FormatError::Unreadable {
                    file: pname,
                    reason: format!("listed in manifest.json but unreadable: {e}"),
                })?,
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
                        return self.file_error(&FormatError::Io {
                            file: unit.name.clone(),
                            reason: e.to_string(),
                        });
                    }
                };
                match vigil_formats::detect(&unit.name, head) {
                    Some(f) => f,
                    None => {
                        let reason = if head.is_empty() {
                            "empty input".to_string()
                        } else {
                            vigil_formats::unknown_reason(head)
                        };
                        return self.file_error(&FormatError::Unreadable {
                            file: unit.name.clone(),
                            reason,
                        });
                    }
                }
            }
        };
        let file_stem = unit
            .name
            .rsplit(['/', '\\', '!'])
            .next()
            .unwrap_or(&unit.name)
            .split('.')
            .next()
            .unwrap_or("")
            .to_string();
        // `amavaldo/samples.sha256` is known by its folder, as its IOC list's family is.
        let file_stem = if vigil_formats::iocs::is_generic_name(&file_stem) {
            Some(vigil_formats::iocs::family_from_file(&unit.name))
                .filter(|f| !f.is_empty())
                .unwrap_or(file_stem)
        } else {
            file_stem
        };
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
        let opts = self.opts;
        self.seq += 1;
        let mut parser_links = ParserLinks {
            known: None,
            published: self.published,
            file: self.seq,
            maker: RelationshipMaker::new(opts, public, &ctx.now),
        };
        self.send(vec![Msg::Begin(Box::new(FileStart {
            seq: self.seq,
            file: ctx.file.clone(),
            prov,
            public,
            now: ctx.now.clone(),
        }))])?;
        let mut batch: Vec<Msg> = Vec::with_capacity(BATCH_ROOM);
        let mut batch_bytes = 0usize;
        let mut n = 0u64;
        let r = vigil_formats::parse(format, &mut unit.reader, &ctx, &mut |item| {
            // A batch ends only before an item that is not a link, so a link never travels in a later batch
            // than its object: the writer makes commit points between batches, and a crash then cannot
            // leave an indicator stored without the relationship its line gave it.
            if (batch.len() >= BATCH || batch_bytes >= BATCH_BYTES)
                && !matches!(item, Item::Link(_))
            {
                batch_bytes = 0;
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROOM));
                self.send(full)?;
            }
            let msg = match item {
                Item::Link(link) if link.fallback.is_none() => match parser_links.msg(link) {
                    Some(m) => m,
                    None => return Ok(()),
                },
                other => {
                    let pattern = source_pattern(&other);
                    if let Some(w) = warning(&other, pattern.as_ref()) {
                        batch.push(w);
                    }
                    prepare(other, opts, public, pattern.as_ref())
                }
            };
            if let Msg::Object { p, .. } = &msg {
                batch_bytes += p.packed.len() + p.search.len() + p.id.len();
            }
            batch.push(msg);
            n += 1;
            if n.is_multiple_of(PROGRESS_EVERY) {
                self.show();
            }
            Ok(())
        });
        let parse_error = match r {
            Err(FormatError::Sink(_)) => return Err(writer_stopped()),
            Ok(()) => None,
            Err(e) => Some(e),
        };
        if let Some(s) = unit.legacy.get() {
            let mut r = Report::default();
            r.warn(
                &ctx.file,
                &format!("line {}", s.line),
                &format!(
                    "not UTF-8 from here on: read as {} (the encoding is a guess from the bytes; save the file as \
                     UTF-8 to be sure)",
                    s.encoding.name()
                ),
            );
            batch.push(Msg::Note(r));
        }
        // The file's last batch, with its end: the writing thread settles the file and may commit its group.
        batch.push(Msg::End(parse_error));
        self.send(batch)?;
        self.show();
        Ok(())
    }

    fn show(&mut self) {
        if let Ok(s) = self.shown.lock() {
            let snapshot = s.clone();
            drop(s);
            (self.progress)(&snapshot);
        }
    }
}

/// The writing thread of an ingest run: stores the files the reading thread sends, in order, in write
/// transactions of whole files (`GROUP_OBJECTS`), with commit points inside a large file (`COMMIT_EVERY`).
/// `total` is the run's report; `shown` gets a copy now and then for progress.
fn write_run(
    store: &dyn Store,
    opts: &Options,
    receiver: &std::sync::mpsc::Receiver<Vec<Msg>>,
    trash: &std::sync::mpsc::Sender<Vec<Prepared>>,
    published: &std::sync::Mutex<Option<ResolvedLink>>,
    shown: &std::sync::Mutex<Report>,
    total: &mut Report,
) -> Result<(), IngestFailure> {
    let mut next: Option<Vec<Msg>> = None;
    let mut stored = Stored::default();
    // The file being written (empty between files).
    let mut writing = String::new();
    loop {
        let Some(batch) = next.take().or_else(|| receiver.recv().ok()) else {
            return Ok(());
        };
        // Notes between files need no transaction (a run that reads nothing never opens one).
        if batch.iter().all(|m| matches!(m, Msg::Note(_))) {
            for m in batch {
                if let Msg::Note(r) = m {
                    merge(total, &r);
                }
            }
            show(shown, total, None);
            continue;
        }
        next = Some(batch);
        let mut open = true;
        let mut stepped_aside = false;
        let written = store.write(&mut |tx| {
            let opened = std::time::Instant::now();
            let mut w = FileWriter::new(tx, opts, published);
            let mut since_commit = 0u64;
            let mut n = 0u64;
            loop {
                let Some(batch) = next.take().or_else(|| receiver.recv().ok()) else {
                    open = false;
                    return Ok(());
                };
                let mut file_ended = false;
                for m in batch {
                    match m {
                        Msg::Begin(s) => {
                            writing.clone_from(&s.file);
                            w.begin(*s);
                        }
                        Msg::End(parse_error) => {
                            w.finish()?;
                            stored.ended(std::mem::take(&mut writing));
                            w.close(parse_error, total);
                            show(shown, total, None);
                            file_ended = true;
                        }
                        Msg::Note(r) => {
                            merge(total, &r);
                            show(shown, total, None);
                        }
                        m => {
                            w.msg(m)?;
                            since_commit += 1;
                            n += 1;
                            if n.is_multiple_of(PROGRESS_EVERY) {
                                show(shown, total, Some(&w.report));
                            }
                        }
                    }
                }
                if !w.done.is_empty() {
                    // The reading thread may have finished: then they are freed here after all.
                    let _ = trash.send(std::mem::take(&mut w.done));
                }
                if file_ended {
                    if since_commit >= GROUP_OBJECTS || opened.elapsed() >= GROUP_TIME {
                        // The transaction commits; the next file opens another.
                        return Ok(());
                    }
                    if store.writers_waiting() && opened.elapsed() >= STEP_ASIDE_AFTER {
                        // Another write of this process (an API call) waits: it goes next, not after the group.
                        stepped_aside = true;
                        return Ok(());
                    }
                } else if since_commit >= COMMIT_EVERY {
                    w.flush_derived()?;
                    w.tx.commit_point()?;
                    stored.committed();
                    since_commit = 0;
                }
            }
        });
        if let Err(cause) = written {
            let file = match &stored.ended_last {
                Some(last) if writing.is_empty() => format!("{last} (committing its group)"),
                _ => writing,
            };
            return Err(IngestFailure::Stopped {
                cause,
                file,
                files_stored: stored.files,
                last_stored: stored.last,
            });
        }
        stored.committed();
        if !open {
            return Ok(());
        }
        if stepped_aside {
            let_waiting_writers_in(store);
        }
    }
}

/// Gives the writes that made a group end early the writer before the next group takes it back: the lock is not
/// fair, and this thread would usually win it again at once. Bounded, so a stream of API writes cannot stall
/// the run.
fn let_waiting_writers_in(store: &dyn Store) {
    for _ in 0..200 {
        if !store.writers_waiting() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// The files of a run stored whole: committed, and ended in the open transaction (committed with it).
#[derive(Default)]
struct Stored {
    files: u64,
    last: Option<String>,
    ended: u64,
    ended_last: Option<String>,
}

impl Stored {
    fn ended(&mut self, file: String) {
        self.ended += 1;
        self.ended_last = Some(file);
    }

    fn committed(&mut self) {
        self.files += std::mem::take(&mut self.ended);
        if let Some(last) = self.ended_last.take() {
            self.last = Some(last);
        }
    }
}

/// Copies the running report for the reading thread's progress: the files done and the one being written.
fn show(shown: &std::sync::Mutex<Report>, total: &Report, current: Option<&Report>) {
    if let Ok(mut s) = shown.lock() {
        s.clone_from(total);
        if let Some(c) = current {
            merge(&mut s, c);
        }
    }
}

fn merge(into: &mut Report, from: &Report) {
    into.files += from.files;
    into.failed_files += from.failed_files;
    into.added += from.added;
    into.updated += from.updated;
    into.unchanged += from.unchanged;
    into.rejected += from.rejected;
    into.warninglists += from.warninglists;
    into.errors_omitted += from.errors_omitted;
    for e in &from.errors {
        into.error(&e.file, &e.location, &e.reason);
    }
    into.warnings_omitted += from.warnings_omitted;
    for w in &from.warnings {
        into.warn(&w.file, &w.location, &w.reason);
    }
}

struct FileWriter<'t, 'o> {
    tx: &'t mut dyn WriteTx,
    opts: &'o Options,
    prov: Provenance,
    public: bool,
    report: Report,
    /// Relationships whose ends were not stored yet when they arrived (a bundle may list them first).
    deferred: Vec<(Prepared, Option<String>)>,
    /// What keys looked up in this file found: (type, key) -> ids with the kind of key each was found by.
    links: HashMap<(String, String), Vec<(String, i64)>>,
    /// What loose matches need to know of a link target, by id (`target_info`).
    targets: HashMap<String, TargetInfo>,
    /// Ids of source objects stored from this file (up to WRITTEN_MAX), so that references to them need no query.
    written: HashSet<String>,
    file: String,
    maker: RelationshipMaker<'o>,
    /// Derived objects waiting to be written together (see `put_owned`).
    derived: Vec<Prepared>,
    /// Derived objects written, to be freed by the reading thread.
    done: Vec<Prepared>,
    /// The last resolved link, also published to the parsing thread (see `ResolvedLink`).
    last_link: Option<ResolvedLink>,
    published: &'t std::sync::Mutex<Option<ResolvedLink>>,
    /// Links of this file kept pending (see `pend`), up to `PENDING_MAX`.
    pended: u64,
    /// Pending links this file's objects may resolve, settled at its end (`note_pending`, `settle_pending`).
    to_settle: Vec<(i64, String)>,
    to_settle_ids: HashSet<i64>,
    /// Families IOC lists made that an object of this file may stand for (`note_list_families`).
    list_families: Vec<String>,
    /// The number of this file in the run (`ResolvedLink::file`).
    seq: u64,
}

/// What the reading thread says of a file it starts (`Msg::Begin`).
struct FileStart {
    /// The file's number in this run.
    seq: u64,
    file: String,
    prov: Provenance,
    /// The file is a public reference (ATT&CK, KEV): TLP:CLEAR unless told otherwise.
    public: bool,
    /// When it was read (its objects' ingest time and the `modified` of relationships made for it).
    now: String,
}

/// What `resolve_keys` weighs a loosely matched target by.
#[derive(Debug, Clone, Default)]
struct TargetInfo {
    /// The kinds of malware it says it is (`object_kinds`).
    kinds: Vec<&'static str>,
    /// It is a family an IOC list made (`is_list_family`).
    list_family: bool,
    /// It is revoked or deprecated.
    retired: bool,
}

/// A link target the writing thread resolved: (target types, keys) -> target id. The writer publishes the last
/// one so that the parsing thread can build the relationships of later links with the same keys itself (an IOC
/// list gives every line the same family): the writing thread, which is the bottleneck, then only stores them.
#[derive(Debug, Clone, PartialEq)]
struct ResolvedLink {
    /// The file it was resolved for: a later file may store a better target, so it holds for that file only.
    file: u64,
    target_types: Vec<String>,
    keys: Vec<String>,
    target: String,
}

impl ResolvedLink {
    fn matches(&self, link: &Link) -> bool {
        self.target_types == link.target_types && self.keys == link.keys
    }
}

/// Most links one file keeps pending.
const PENDING_MAX: u64 = 100_000;

/// Types a reader's link may look for: storing one settles the pending links it is the target of.
const LINK_TARGETS: &[&str] = &[
    "intrusion-set",
    "malware",
    "tool",
    "attack-pattern",
    "threat-actor",
    "campaign",
];

/// Whether an object is a family an IOC list made (`vigil_formats::iocs::family_object`): its id is its name's.
fn is_list_family(o: &StixObject) -> bool {
    o.name().is_some_and(|n| family_id(n) == o.id())
}

/// The folded spellings of a link's keys that differ from them (`agent-tesla` -> `agenttesla`); ids are not folded.
fn folded_keys(link: &Link) -> Vec<String> {
    link.keys
        .iter()
        .filter(|k| !vigil_model::ids::is_valid_id(k))
        .filter_map(|k| name_fold(k))
        .collect()
}

/// The stems of a link's keys that end with a kind word (`kazu_ransomware` -> `kazu`), with that kind.
fn stemmed_keys(link: &Link) -> Vec<(String, &'static str)> {
    link.keys
        .iter()
        .filter(|k| !vigil_model::ids::is_valid_id(k))
        .filter_map(|k| name_stem(k))
        .collect()
}

/// A revoked version of a relationship Vigil derived, saying which object took its place; None when `now` or `o`'s
/// `modified` does not parse (the store would not take an older version anyway).
fn superseded(o: &StixObject, now: &str, by: &str) -> Option<StixObject> {
    let now = time::parse("modified", now).ok()?;
    retract::revoked_at(o, now, "x_vigil_superseded_by", json!(by)).ok()
}

/// A pending link read back (`FileWriter::pend`), with the markings its relationship takes.
fn pending_from_body(body: &str) -> Option<(Link, Vec<String>)> {
    let v: Value = serde_json::from_str(body).ok()?;
    let strings = |k: &str| -> Option<Vec<String>> {
        v.get(k)?
            .as_array()?
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let link = Link {
        from: v.get("from")?.as_str()?.to_string(),
        relationship_type: v.get("relationship_type")?.as_str()?.to_string(),
        reverse: v.get("reverse")?.as_bool()?,
        target_types: strings("target_types")?,
        keys: strings("keys")?,
        fallback: None,
        marking_refs: Vec::new(),
        follow: v.get("follow").and_then(Value::as_bool).unwrap_or(false),
    };
    Some((link, strings("markings")?))
}

/// Builds the relationship object of a link (`link_relationship`), on either thread, identically.
struct RelationshipMaker<'o> {
    opts: &'o Options,
    public: bool,
    now: String,
    /// `now` as a version key, computed on first use.
    version_now: String,
}

/// The source and target of a link's relationship once its target is known; None when both are the same object.
fn link_ends<'a>(link: &'a Link, target: &'a str) -> Option<(&'a str, &'a str)> {
    let (src, dst) = if link.reverse {
        (target, link.from.as_str())
    } else {
        (link.from.as_str(), target)
    };
    (src != dst).then_some((src, dst))
}

/// The reading thread's side of link resolution: the last target the writer published, and the relationships
/// it lets this thread build.
struct ParserLinks<'p, 'o> {
    known: Option<ResolvedLink>,
    published: &'p std::sync::Mutex<Option<ResolvedLink>>,
    /// The number of the file being read: links the writer resolved for another file do not count.
    file: u64,
    maker: RelationshipMaker<'o>,
}

impl ParserLinks<'_, '_> {
    /// What to send the writer for a link: its relationship when the target is known here, else the link itself
    /// for the writer to resolve; None when the link joins an object to itself.
    fn msg(&mut self, link: Link) -> Option<Msg> {
        if !self.known.as_ref().is_some_and(|k| k.matches(&link)) {
            self.known = self
                .published
                .lock()
                .ok()
                .and_then(|p| p.clone())
                .filter(|k| k.file == self.file);
        }
        let Some(k) = self.known.as_ref().filter(|k| k.matches(&link)) else {
            return Some(Msg::Other(Item::Link(link)));
        };
        let (src, dst) = link_ends(&link, &k.target)?;
        Some(Msg::Object {
            p: self
                .maker
                .relationship(src, &link.relationship_type, dst, &link.marking_refs),
            original_id: None,
            derived: true,
        })
    }
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

/// Applies the TLP defaults to an object that carries no TLP marking of its own.
fn mark(opts: &Options, public: bool, o: &mut StixObject) {
    if o.tlp().is_some() {
        return;
    }
    let tlp = opts.tlp.or(if public || is_public_object(o) {
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

impl<'t, 'o> FileWriter<'t, 'o> {
    /// A writer for the files of one write transaction; each starts with `begin`.
    fn new(
        tx: &'t mut dyn WriteTx,
        opts: &'o Options,
        published: &'t std::sync::Mutex<Option<ResolvedLink>>,
    ) -> Self {
        FileWriter {
            tx,
            opts,
            prov: Provenance {
                source: String::new(),
                ingested_at: String::new(),
                original_id: None,
                file: None,
            },
            public: false,
            report: Report::default(),
            deferred: Vec::new(),
            links: HashMap::new(),
            targets: HashMap::new(),
            written: HashSet::new(),
            file: String::new(),
            maker: RelationshipMaker::new(opts, false, ""),
            derived: Vec::new(),
            done: Vec::new(),
            last_link: None,
            published,
            pended: 0,
            to_settle: Vec::new(),
            to_settle_ids: HashSet::new(),
            list_families: Vec::new(),
            seq: 0,
        }
    }

    /// Starts a file: what is known of the one before (`finish` settled it) does not carry over.
    fn begin(&mut self, s: FileStart) {
        self.prov = s.prov;
        self.public = s.public;
        self.report = Report {
            files: 1,
            ..Report::default()
        };
        self.deferred.clear();
        self.links.clear();
        self.targets.clear();
        self.written.clear();
        self.maker = RelationshipMaker::new(self.opts, s.public, &s.now);
        self.file = s.file;
        self.last_link = None;
        self.pended = 0;
        self.to_settle.clear();
        self.to_settle_ids.clear();
        self.list_families.clear();
        self.seq = s.seq;
    }

    /// Ends a file `finish` settled: its report joins the run's, with the reason it broke off, if it did.
    fn close(&mut self, parse_error: Option<FormatError>, total: &mut Report) {
        let file_report = std::mem::take(&mut self.report);
        merge(total, &file_report);
        if let Some(e) = parse_error {
            let (file, reason) = file_of(&e);
            total.failed_files += 1;
            let stored = file_report.added + file_report.updated + file_report.unchanged;
            let note = if stored > 0 {
                format!("{reason}; the {stored} objects read before this point were stored")
            } else {
                reason
            };
            total.error(&file, "file", &note);
        }
    }

    /// Stores an object the writer made itself (a link's relationship or fallback).
    fn put(&mut self, o: StixObject, mode: PutMode) -> Result<(), StoreError> {
        let p = marked(self.opts, self.public, o, mode, None);
        self.put_prepared(&p, None, mode)
    }

    /// Derived objects without an original id wait in `derived` and go to the store together (`flush_derived`);
    /// everything else is written at once, after them.
    fn put_owned(
        &mut self,
        p: Prepared,
        original_id: Option<String>,
        mode: PutMode,
    ) -> Result<(), StoreError> {
        if mode == PutMode::Derived && original_id.is_none() {
            self.derived.push(p);
            if self.derived.len() >= DERIVED_BATCH {
                self.flush_derived()?;
            }
            return Ok(());
        }
        self.put_prepared(&p, original_id, mode)
    }

    /// Writes the waiting derived objects. Every other store access comes after this, so that reads in this
    /// transaction (reference checks, look-ups) see everything received before them.
    fn flush_derived(&mut self) -> Result<(), StoreError> {
        if self.derived.is_empty() {
            return Ok(());
        }
        let outs = self.tx.put_derived_batch(&self.derived, &self.prov)?;
        self.done.append(&mut self.derived);
        for out in outs {
            self.report.count(out);
        }
        Ok(())
    }

    fn put_prepared(
        &mut self,
        p: &Prepared,
        original_id: Option<String>,
        mode: PutMode,
    ) -> Result<(), StoreError> {
        self.flush_derived()?;
        let out = if original_id.is_some() {
            let prov = Provenance {
                original_id,
                ..self.prov.clone()
            };
            self.tx.put_prepared(p, &prov, mode)?
        } else {
            self.tx.put_prepared(p, &self.prov, mode)?
        };
        if mode == PutMode::Source && p.type_ != "relationship" && self.written.len() < WRITTEN_MAX
        {
            self.written.insert(p.id.clone());
        }
        self.report.count(out);
        if p.type_ == "malware" && !p.retired {
            self.note_list_families(p)?;
        }
        if LINK_TARGETS.contains(&p.type_.as_str()) {
            self.note_pending(p)?;
        }
        Ok(())
    }

    /// Keeps a link whose target is not stored yet (a galaxy's actor attributed to an ATT&CK group, read before
    /// ATT&CK) until an object it finds arrives (`settle_pending`). The relationship's markings are fixed now,
    /// as this input's defaults give them, not by the input that brings the target.
    fn pend(&mut self, link: &Link) -> Result<(), StoreError> {
        // A reader that asks for the same missing target on every line must not fill the store with them. A link
        // that follows is one per list, and `follow_link` has just dropped the rows it merged into it.
        if self.pended >= PENDING_MAX && !link.follow {
            return Ok(());
        }
        self.pended += 1;
        let markings = self.pending_markings(link);
        let mut keys: Vec<String> = link.keys.iter().map(|k| k.trim().to_lowercase()).collect();
        keys.extend(folded_keys(link));
        keys.extend(stemmed_keys(link).into_iter().map(|(k, _)| k));
        // A link that follows is found again by the object it is from (`follow_link`).
        if link.follow {
            keys.push(link.from.to_lowercase());
        }
        keys.sort();
        keys.dedup();
        let mut body = json!({
            "from": link.from, "relationship_type": link.relationship_type, "reverse": link.reverse,
            "target_types": link.target_types, "keys": link.keys, "markings": markings,
        });
        // Only where set: the bodies of other links stay as earlier versions wrote them (a body is stored once).
        if link.follow {
            body["follow"] = json!(true);
        }
        self.tx.put_pending_link(&keys, &body.to_string())
    }

    /// The markings a link's relationship takes: the link's, or the input's default TLP when they name none.
    fn pending_markings(&self, link: &Link) -> Vec<String> {
        let mut markings = link.marking_refs.clone();
        if Tlp::from_refs(markings.iter().map(String::as_str)).is_none() {
            if let Some(t) = self.opts.tlp.or(self.public.then_some(Tlp::Clear)) {
                markings.push(t.marking_id().to_string());
            }
        }
        markings
    }

    /// Makes a link that follows its best target (`Link::follow`) point at what its keys find now, if anything,
    /// and keeps it pending so that an object stored later can move it.
    ///
    /// Links that follow from the same object are one link with all their keys, the ones kept first: maltrail
    /// splits a long list into files (`apt_gamaredon.txt`, `apt_gamaredon-1.txt`) whose headers give other
    /// aliases, and each file's keys alone could find another actor, so the file read last would decide.
    fn follow_link(&mut self, link: &Link) -> Result<(), StoreError> {
        let mut merged = link.clone();
        merged.keys.clear();
        for (id, body) in self.tx.pending_links(&link.from)? {
            let Some((kept, _)) = pending_from_body(&body) else {
                continue;
            };
            if kept.follow
                && kept.from == link.from
                && kept.relationship_type == link.relationship_type
                && kept.target_types == link.target_types
                && kept.reverse == link.reverse
            {
                for k in kept.keys {
                    if !merged.keys.contains(&k) {
                        merged.keys.push(k);
                    }
                }
                self.tx.drop_pending_link(id)?;
            }
        }
        for k in &link.keys {
            if !merged.keys.contains(k) {
                merged.keys.push(k.clone());
            }
        }
        let link = &merged;
        // A withdrawn actor is no list's any more.
        let found = self.resolve_keys(link, None)?;
        if let Some(target) = found.filter(|t| !self.is_retired(t)) {
            let markings = self.pending_markings(link);
            let refs: Vec<&str> = markings.iter().map(String::as_str).collect();
            self.point(link, &target, &refs)?;
        }
        self.pend(link)
    }

    /// Makes `link`'s relationship to `target` with `markings` (again, if it was revoked) and, for a forward link,
    /// revokes Vigil's relationships of the same type from `link.from` to other targets: one link, one target, as
    /// the other order of loading gives. Relationships a source made itself are not Vigil's to withdraw.
    fn point(&mut self, link: &Link, target: &str, markings: &[&str]) -> Result<(), StoreError> {
        let Some((src, dst)) = link_ends(link, target) else {
            return Ok(());
        };
        let rel = self
            .maker
            .relationship_marked(src, &link.relationship_type, dst, markings);
        self.flush_derived()?;
        // A link withdrawn while it stood for another target is made again.
        if self.tx.get(&rel.id)?.is_some_and(|r| r.object.revoked()) {
            self.put_prepared(&rel, None, PutMode::Supersede)?;
        } else {
            self.put_owned(rel, None, PutMode::Derived)?;
        }
        if link.reverse {
            return Ok(());
        }
        for old in self
            .tx
            .relationships_from(&link.from, &link.relationship_type)?
        {
            let Some(other) = old.object.str("target_ref") else {
                continue;
            };
            if other == target
                || old.object.id()
                    != ids::vigil_id(
                        "relationship",
                        &[&link.from, &link.relationship_type, other],
                    )
            {
                continue;
            }
            if let Some(o) = superseded(&old.object, &self.maker.now, target) {
                self.put_prepared(
                    &Prepared::new(o, PutMode::Supersede),
                    None,
                    PutMode::Supersede,
                )?;
            }
        }
        Ok(())
    }

    /// Notes the pending links that `p`, just stored, may be the target of; `settle_pending` resolves them once
    /// the whole input is stored, so that a link finds the object its best key names, as it would have had the
    /// input come first, not the first object of the input that one of its keys names.
    fn note_pending(&mut self, p: &Prepared) -> Result<(), StoreError> {
        let before = self.to_settle.len();
        for k in p
            .keys
            .iter()
            .map(|(k, _)| k.as_str())
            .chain([p.id.as_str()])
        {
            for (id, body) in self.tx.pending_links(k)? {
                if self.to_settle_ids.insert(id) {
                    self.to_settle.push((id, body));
                }
            }
        }
        if self.to_settle.len() > before {
            // Keys that found nothing earlier in this input may find `p` now.
            for k in p.keys.iter().map(|(k, _)| k.clone()).chain([p.id.clone()]) {
                self.links.remove(&(p.type_.clone(), k));
            }
        }
        Ok(())
    }

    /// Resolves the pending links the input's objects may be the targets of, by the usual rule; each that finds
    /// an object is made and forgotten, the rest stay pending.
    fn settle_pending(&mut self) -> Result<(), StoreError> {
        self.to_settle_ids.clear();
        for (id, body) in std::mem::take(&mut self.to_settle) {
            let Some((link, markings)) = pending_from_body(&body) else {
                // Not written by this version: nothing can resolve it.
                self.tx.drop_pending_link(id)?;
                continue;
            };
            // A link from an object withdrawn since (`vigil retract`) is not made.
            let from_live = self
                .tx
                .get(&link.from)?
                .is_some_and(|o| !o.object.revoked());
            if !from_live {
                self.tx.drop_pending_link(id)?;
                continue;
            }
            let Some(target) = self.resolve_keys(&link, None)? else {
                continue;
            };
            if link.follow {
                if !self.is_retired(&target) {
                    let refs: Vec<&str> = markings.iter().map(String::as_str).collect();
                    self.point(&link, &target, &refs)?;
                }
                continue;
            }
            self.tx.drop_pending_link(id)?;
            if let Some((src, dst)) = link_ends(&link, &target) {
                let refs: Vec<&str> = markings.iter().map(String::as_str).collect();
                let rel = self
                    .maker
                    .relationship_marked(src, &link.relationship_type, dst, &refs);
                self.put_owned(rel, None, PutMode::Derived)?;
            }
        }
        Ok(())
    }

    /// Notes the families IOC lists created before `p` arrived (a galaxy cluster, ATT&CK software: a named family
    /// from any source) under one of its names, aliases or their folded spellings; `link_list_families` links them
    /// at the end of the input.
    fn note_list_families(&mut self, p: &Prepared) -> Result<(), StoreError> {
        use vigil_store::prepared::{KEY_ALIAS, KEY_FOLD};
        let names: Vec<String> = p
            .keys
            .iter()
            .filter(|(_, k)| matches!(*k, KEY_NAME | KEY_ALIAS | KEY_FOLD | KEY_STEM))
            .map(|(n, _)| n.clone())
            .collect();
        // A list's own family is not made the duplicate of another list's.
        if names.iter().any(|n| family_id(n) == p.id) {
            return Ok(());
        }
        for name in names {
            for id in self.tx.lookup(&["malware"], &name)? {
                if id == p.id || self.list_families.contains(&id) {
                    continue;
                }
                // An actor's list's family stands for the actor's infrastructure, attributed to the actor: no
                // cluster's duplicate (`apt_73` is not the ransomware `Eraleign`, synonym `APT73`).
                if self.tx.get(&id)?.is_some_and(|o| {
                    is_list_family(&o.object) && o.object.get("x_vigil_actor_list").is_none()
                }) {
                    self.list_families.push(id);
                }
            }
        }
        Ok(())
    }

    /// Makes each noted list family `duplicate-of` the object the list, read now, would link its lines to (by
    /// `resolve_keys`, as its lines are), so the graph is the one the other order of loading gives. Other lists'
    /// families are passed over: loading the clusters first, a list that found one made no family. Without this
    /// the order of loading decided whether a list's indicators reach the cluster, its actors and its galaxy tag.
    /// A later input may store a cluster the family's names find first: the link then moves to it.
    ///
    /// The relationship is marked as strictly as the stricter of its two ends, and left unmarked (the operator's
    /// default) when either end is: it must not show a reader an end that reader may not see.
    fn link_list_families(&mut self) -> Result<(), StoreError> {
        for fid in std::mem::take(&mut self.list_families) {
            let Some(f) = self.tx.get(&fid)? else {
                continue;
            };
            let link = Link {
                from: fid.clone(),
                relationship_type: "duplicate-of".into(),
                reverse: false,
                target_types: vec!["malware".into()],
                keys: f
                    .object
                    .name()
                    .into_iter()
                    .chain(f.object.aliases())
                    .map(str::to_string)
                    .collect(),
                fallback: None,
                marking_refs: Vec::new(),
                follow: false,
            };
            let target = match self.resolve_keys(&link, Some(&fid))? {
                Some(id) => self.tx.get(&id)?,
                None => None,
            };
            // A withdrawn cluster is no family's duplicate any more.
            let Some(t) = target.filter(|t| !t.object.revoked() && !t.object.deprecated()) else {
                continue;
            };
            let markings: Vec<&str> = match (f.tlp, t.tlp) {
                (Some(a), Some(b)) => vec![a.max(b).marking_id()],
                _ => Vec::new(),
            };
            let target_id = t.object.id().to_string();
            // The family's links to clusters it was resolved to before a better-named one came (malpedia's `Ragnar
            // Loader` by stem, then the ransomware galaxy's `Ragnar Locker` by alias) are withdrawn.
            self.point(&link, &target_id, &markings)?;
        }
        Ok(())
    }

    fn missing_ref(&mut self, p: &Prepared) -> Result<Option<String>, StoreError> {
        for (k, id) in &p.refs {
            // Ids written earlier in this file are known without asking the database.
            if self.written.contains(id.as_str()) {
                continue;
            }
            if !self.tx.exists(id)? {
                return Ok(Some(format!(
                    "dangling reference: {k} {id} is neither in this input nor in the store"
                )));
            }
        }
        Ok(None)
    }

    fn msg(&mut self, m: Msg) -> Result<(), StoreError> {
        match m {
            Msg::Object {
                p,
                original_id,
                derived,
            } => {
                if derived {
                    return self.put_owned(p, original_id, PutMode::Derived);
                }
                self.flush_derived()?;
                if self.missing_ref(&p)?.is_some() {
                    self.deferred.push((p, original_id));
                    return Ok(());
                }
                self.put_prepared(&p, original_id, PutMode::Source)
            }
            Msg::Other(item) => {
                self.flush_derived()?;
                self.item(item)
            }
            Msg::Warn { id, reason } => {
                let file = self.file.clone();
                self.report.warn(&file, &id, &reason);
                Ok(())
            }
            // The framing of files is `write_run`'s.
            Msg::Begin(_) | Msg::End(_) | Msg::Note(_) => Ok(()),
        }
    }

    fn item(&mut self, item: Item) -> Result<(), StoreError> {
        match item {
            // Objects come through `msg` already prepared; this arm only serves callers that pass raw items.
            object @ Item::Object { .. } => self.msg(prepare(object, self.opts, self.public, None)),
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
        // An IOC list links every line to the same family: compare with the last link before hashing keys.
        if let Some(last) = &self.last_link {
            if last.matches(link) {
                return Ok(Some(last.target.clone()));
            }
        }
        let found = self.resolve_keys(link, None)?;
        if let Some(t) = &found {
            let resolved = ResolvedLink {
                file: self.seq,
                target_types: link.target_types.clone(),
                keys: link.keys.clone(),
                target: t.clone(),
            };
            if let Ok(mut p) = self.published.lock() {
                *p = Some(resolved.clone());
            }
            self.last_link = Some(resolved);
        }
        Ok(found)
    }

    /// The object a link's keys find (but `for_family`, below), tried in this order for each target type:
    /// 1. every key as written, then the folded spelling of each (`agent-tesla` -> `agenttesla`), each finding
    ///    names, aliases, external ids, folded keys and ids of stored objects, best kind first. A stem key
    ///    (`KEY_STEM`: `lummac2` finding `LummaC2 Stealer`) counts only for the link's own name (its first key that
    ///    is not an id), only when the kinds the link's keys say (`caesar ransomware`) include one the target
    ///    says, and only when the families that stem finds agree on a kind: an alias (maltrail's `apt3` for Gothic
    ///    Panda), a different kind (`venom`, alias `venom stealer`, against `Venom RAT`) or a stem of two kinds
    ///    (`ragnar`: Ragnar Loader, Ragnar Locker) is too loose a match;
    /// 2. the stem of each key that ends with a kind word (`kazu_ransomware` -> `kazu`), finding an object by an
    ///    exact or folded key, only when that object says it is of that kind (by its names or `malware_types`):
    ///    `mirai_stealer` does not find the Mirai botnet.
    ///
    /// `for_family`: the list family `link_list_families` looks a cluster for; no list's family is taken then (in
    /// the other order of loading, a list that found a cluster made no family to be found).
    fn resolve_keys(
        &mut self,
        link: &Link,
        for_family: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let primary = link
            .keys
            .iter()
            .position(|k| !vigil_model::ids::is_valid_id(k));
        let mut said: Vec<&'static str> = link.keys.iter().filter_map(|k| name_kind(k)).collect();
        said.sort_unstable();
        said.dedup();
        // Keys as written, then folded; each with whether it is (a spelling of) the link's own name.
        let mut tries: Vec<(String, bool)> = link
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.to_lowercase(), Some(i) == primary))
            .collect();
        for (i, k) in link.keys.iter().enumerate() {
            if vigil_model::ids::is_valid_id(k) {
                continue;
            }
            if let Some(f) = name_fold(k) {
                tries.push((f, Some(i) == primary));
            }
        }
        let stems = stemmed_keys(link);
        for ty in &link.target_types {
            for (key, own_name) in &tries {
                let found = self.lookup_cached(ty, key)?;
                let mut stemmed: Vec<(String, Vec<&'static str>)> = Vec::new();
                for (id, kind) in found {
                    if for_family == Some(id.as_str()) {
                        continue;
                    }
                    // A family a list made is found by its name only, not by the aliases that list gave it: those
                    // name the clusters it may duplicate, which this link looks for itself. Maltrail's `grmsk`
                    // (alias `acr stealer`) must not take the `lummac2` list (alias `acrstealer`) before malpedia's
                    // `LummaC2 Stealer` can: loading malpedia first would not have let it. (A list whose aliases
                    // name another list, `ufr` naming `ruftar`, still joins it, as the operator re-ingesting a
                    // list under another `--source` expects.)
                    if (for_family.is_some() || !matches!(kind, KEY_NAME | KEY_ID))
                        && self.target_info(&id)?.list_family
                    {
                        continue;
                    }
                    if kind != KEY_STEM {
                        // Live objects come first: a retired one's exact key after a live one's stem does not
                        // outrank it.
                        if stemmed.is_empty() {
                            return Ok(Some(id));
                        }
                        break;
                    }
                    if !own_name {
                        continue;
                    }
                    let theirs = self.target_info(&id)?;
                    // A withdrawn family is no loose match (nor a rival of one).
                    if !theirs.retired
                        && (said.is_empty() || said.iter().any(|k| theirs.kinds.contains(k)))
                    {
                        stemmed.push((id, theirs.kinds));
                    }
                }
                // A stem families of different kinds share (`ragnar`: Ragnar Loader, Ragnar Locker) says too little.
                let split = stemmed.iter().enumerate().any(|(i, (_, a))| {
                    stemmed[i + 1..]
                        .iter()
                        .any(|(_, b)| !a.iter().any(|k| b.contains(k)))
                });
                if let (Some((id, _)), false) = (stemmed.first(), split) {
                    return Ok(Some(id.clone()));
                }
            }
            for (stem, kind_said) in &stems {
                for (id, kind) in self.lookup_cached(ty, stem)? {
                    if for_family == Some(id.as_str()) || kind == KEY_STEM {
                        continue;
                    }
                    let theirs = self.target_info(&id)?;
                    if !theirs.list_family && theirs.kinds.contains(kind_said) {
                        return Ok(Some(id));
                    }
                }
            }
        }
        Ok(None)
    }

    /// What a key finds among objects of one type, remembered for the rest of the input.
    fn lookup_cached(&mut self, ty: &str, key: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let k = (ty.to_string(), key.to_lowercase());
        if let Some(hit) = self.links.get(&k) {
            return Ok(hit.clone());
        }
        let found = self.tx.lookup_kinds(&[ty], key)?;
        self.links.insert(k, found.clone());
        Ok(found)
    }

    /// What a loose match weighs about a target (`TargetInfo`), remembered for the rest of the input.
    fn target_info(&mut self, id: &str) -> Result<TargetInfo, StoreError> {
        if let Some(t) = self.targets.get(id) {
            return Ok(t.clone());
        }
        let info = self
            .tx
            .get(id)?
            .map(|o| TargetInfo {
                kinds: object_kinds(&o.object),
                list_family: is_list_family(&o.object),
                retired: o.object.revoked() || o.object.deprecated(),
            })
            .unwrap_or_default();
        self.targets.insert(id.to_string(), info.clone());
        Ok(info)
    }

    /// Whether an object is revoked or deprecated (`TargetInfo::retired`); false when it cannot be read.
    fn is_retired(&mut self, id: &str) -> bool {
        self.target_info(id).is_ok_and(|t| t.retired)
    }

    fn link(&mut self, link: Link) -> Result<(), StoreError> {
        if link.follow {
            return self.follow_link(&link);
        }
        let target = match self.resolve(&link)? {
            Some(t) => t,
            None => match &link.fallback {
                Some(fb) => {
                    let id = fb.id().to_string();
                    self.put(fb.clone(), PutMode::Derived)?;
                    for ty in &link.target_types {
                        for key in &link.keys {
                            self.links.insert(
                                (ty.clone(), key.to_lowercase()),
                                vec![(id.clone(), KEY_NAME)],
                            );
                        }
                    }
                    id
                }
                None => return self.pend(&link),
            },
        };
        let Some((src, dst)) = link_ends(&link, &target) else {
            return Ok(());
        };
        let p = self
            .maker
            .relationship(src, &link.relationship_type, dst, &link.marking_refs);
        self.put_owned(p, None, PutMode::Derived)
    }
    fn finish(&mut self) -> Result<(), StoreError> {
        self.flush_derived()?;
        // References may point forward in the input; whatever is still missing now is dangling.
        let deferred = std::mem::take(&mut self.deferred);
        for (p, original_id) in deferred {
            match self.missing_ref(&p)? {
                None => self.put_prepared(&p, original_id, PutMode::Source)?,
                Some(reason) => {
                    self.report.rejected += 1;
                    let file = self.file.clone();
                    self.report.error(&file, &p.id, &reason);
                }
            }
        }
        // Objects stored since a key found nothing may be what it names now.
        self.links.clear();
        self.settle_pending()?;
        self.link_list_families()?;
        self.flush_derived()
    }
}

impl<'o> RelationshipMaker<'o> {
    fn new(opts: &'o Options, public: bool, now: &str) -> Self {
        RelationshipMaker {
            opts,
            public,
            now: now.to_string(),
            version_now: String::new(),
        }
    }

    /// The relationship a link yields, prepared without building a JSON tree: an IOC list makes one per line.
    /// `relationship_slow` is the reference it is tested against.
    fn relationship(
        &mut self,
        src: &str,
        relationship_type: &str,
        dst: &str,
        marking_refs: &[String],
    ) -> Prepared {
        let mut markings: Vec<&str> = marking_refs.iter().map(String::as_str).collect();
        if Tlp::from_refs(markings.iter().copied()).is_none() {
            if let Some(t) = self.opts.tlp.or(self.public.then_some(Tlp::Clear)) {
                markings.push(t.marking_id());
            }
        }
        self.relationship_marked(src, relationship_type, dst, &markings)
    }

    /// The relationship with exactly these markings (no defaults added).
    fn relationship_marked(
        &mut self,
        src: &str,
        relationship_type: &str,
        dst: &str,
        markings: &[&str],
    ) -> Prepared {
        let id = ids::vigil_id("relationship", &[src, relationship_type, dst]);
        let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let now = q(&self.now);
        let mut json = format!(
            "{{\"type\":\"relationship\",\"spec_version\":\"2.1\",\"id\":{},\"created\":{now},\"modified\":{now},\"relationship_type\":{},\"source_ref\":{},\"target_ref\":{}",
            q(&id),
            q(relationship_type),
            q(src),
            q(dst)
        );
        if !markings.is_empty() {
            json.push_str(",\"object_marking_refs\":[");
            for (i, m) in markings.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                json.push_str(&q(m));
            }
            json.push(']');
        }
        json.push('}');
        if self.version_now.is_empty() {
            self.version_now = time::parse("modified", &self.now)
                .map(|t| time::sort_key(&t))
                .unwrap_or_else(|_| self.now.clone());
        }
        let refs = vec![
            ("source_ref", src.to_string()),
            ("target_ref", dst.to_string()),
        ];
        let (hid, ends) = Prepared::hashes(&id, "relationship", &refs);
        Prepared {
            id,
            type_: "relationship".into(),
            refs,
            version: self.version_now.clone(),
            packed: vigil_store::packed::pack(&json),
            search: String::new(),
            keys: Vec::new(),
            tlp: Tlp::from_refs(markings.iter().copied()),
            retired: false,
            hid,
            ends,
        }
    }

    #[cfg(test)]
    fn relationship_slow(
        &self,
        src: &str,
        relationship_type: &str,
        dst: &str,
        marking_refs: &[String],
    ) -> Prepared {
        let mut m = serde_json::Map::new();
        m.insert("type".into(), json!("relationship"));
        m.insert("spec_version".into(), json!("2.1"));
        m.insert(
            "id".into(),
            json!(ids::vigil_id(
                "relationship",
                &[src, relationship_type, dst]
            )),
        );
        m.insert("created".into(), json!(self.now));
        m.insert("modified".into(), json!(self.now));
        m.insert("relationship_type".into(), json!(relationship_type));
        m.insert("source_ref".into(), json!(src));
        m.insert("target_ref".into(), json!(dst));
        if !marking_refs.is_empty() {
            m.insert("object_marking_refs".into(), json!(marking_refs));
        }
        let mut o = StixObject::from_map(m).expect("valid relationship");
        mark(self.opts, self.public, &mut o);
        Prepared::new(o, PutMode::Derived)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written relationship of a link must be exactly what building the object would give.
    #[test]
    fn fast_link_relationship_equals_the_built_object() {
        let amber = Tlp::Amber.marking_id().to_string();
        let other = "marking-definition--3a5b1f0e-8e4d-4c62-9a55-0f2f6a2d1c11".to_string();
        for (tlp, public, markings) in [
            (None, false, vec![]),
            (Some(Tlp::Green), false, vec![]),
            (None, true, vec![]),
            (Some(Tlp::Red), true, vec![amber.clone()]),
            (None, false, vec![other.clone()]),
            (Some(Tlp::Clear), false, vec![other.clone(), amber.clone()]),
        ] {
            let opts = Options {
                tlp,
                ..Options::default()
            };
            let mut maker = RelationshipMaker::new(&opts, public, "2026-11-29T10:00:00.123Z");
            let src = "indicator--6b0a1a4e-1d1f-5c51-9c38-3b7a6d1f0c11";
            let dst = "malware--0f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6a01";
            let fast = maker.relationship(src, "indicates", dst, &markings);
            let slow = maker.relationship_slow(src, "indicates", dst, &markings);
            assert_eq!(fast.json(), slow.json());
            assert!(fast
                .json()
                .is_ok_and(|j| j.starts_with("{\"type\":\"relationship\"")));
            assert_eq!(fast.packed, slow.packed);
            assert_eq!(fast.id, slow.id);
            assert_eq!(fast.version, slow.version);
            assert_eq!(fast.tlp, slow.tlp);
            assert_eq!(fast.refs, slow.refs);
            assert_eq!(fast.keys, slow.keys);
            assert_eq!(fast.search, slow.search);
            assert_eq!(fast.retired, slow.retired);
            assert_eq!(fast.hid, slow.hid);
            assert_eq!(fast.ends, slow.ends);
            assert!(fast.ends.0.is_some() && fast.ends.1.is_some());
        }
    }
}
