//! The hunt: stream log inputs through the indicator set on all cores and turn hits into sightings.
//!
//! Threads: one reader thread opens, decompresses and cuts inputs into chunks of whole lines (about 1 MiB);
//! worker threads parse and match the chunks; the calling thread collects results in input order, so the
//! sightings reach the sink in file and line order whatever the number of threads (deterministic output).
//! Buffers are recycled between reader and workers; the per-line path does not allocate unless a line hits.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use vigil_model::Tlp;

use crate::logs::{
    self, ChunkEvent, Chunker, FieldRef, Format, FormatChoice, LogInput, LogTz, Parsed, Parser,
    Record,
};
use crate::set::{tlp_code, HitRef, HitType, IndicatorSet, Match, Role, Scratch};
use crate::stix::{Object, Observation, Value};

/// One sighting: the output contract of `vigil hunt` (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sighting {
    /// The indicator value that matched (normalised; the pattern text for a general STIX pattern).
    pub indicator: String,
    /// STIX id of the indicator.
    pub indicator_id: String,
    /// domain, ipv4, ipv6, cidr, url, md5, sha1, sha256, email (sha512 too).
    #[serde(rename = "type")]
    pub kind: HitType,
    /// The value as it appeared in the log.
    pub observed: String,
    /// The log field it appeared in.
    pub field: String,
    /// The log file (`-` for standard input).
    pub file: String,
    /// 1-based line number in the (decompressed) file.
    pub line: u64,
    /// The record's timestamp, RFC 3339 UTC; null when the line has none.
    pub ts: Option<String>,
    /// Malware family names of the indicator.
    pub malware: Vec<String>,
    /// Actor names of the indicator.
    pub actors: Vec<String>,
    /// TLP of the indicator.
    pub tlp: Tlp,
    /// Score of the indicator.
    pub score: f32,
}

/// A line that could not be read, or an input that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    /// File name.
    pub file: String,
    /// 1-based line (for a whole-file failure: the last line read before it, 0 when none).
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

/// One of the most-hit indicators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopIndicator {
    /// Indicator value (of its first hit).
    pub indicator: String,
    /// STIX id.
    pub indicator_id: String,
    /// Type of its first hit.
    #[serde(rename = "type")]
    pub kind: HitType,
    /// Number of sightings.
    pub hits: u64,
}

/// What a hunt did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Inputs read (including failed ones).
    pub files: u64,
    /// Lines read.
    pub lines: u64,
    /// Bytes of log text read (after decompression).
    pub bytes: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Sightings.
    pub hits: u64,
    /// Lines that could not be parsed (malformed, too long, truncated).
    pub unparsable: u64,
    /// Lines holding bytes that are not UTF-8, read with each such byte replaced by U+FFFD (their other fields
    /// matched as usual).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub repaired_lines: u64,
    /// Throughput in MB/s (10^6 bytes of log text per second).
    pub mb_per_s: f64,
    /// Lines per second.
    pub lines_per_s: f64,
    /// Sightings per indicator type.
    pub hits_by_type: BTreeMap<String, u64>,
    /// The most-hit indicators, most hits first.
    pub top_indicators: Vec<TopIndicator>,
    /// The first unparsable lines.
    pub errors: Vec<LineError>,
    /// With `HuntOptions::collect_unknown`: domain names seen in domain fields that matched no indicator, with how
    /// many records named them (most seen first). Not serialised: the caller scores them and reports leads.
    #[serde(skip)]
    pub unknown_domains: Vec<(String, u64)>,
    /// Distinct unknown domain names left out because `collect_unknown` was reached.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub unknown_domains_dropped: u64,
    /// Inputs that failed to open, had an unknown format, or ended early (truncated compression).
    pub file_errors: Vec<LineError>,
    /// Format used per input, in input order.
    pub formats: Vec<(String, String)>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Hunt settings.
#[derive(Debug, Clone)]
pub struct HuntOptions {
    /// Format choice for every input.
    pub format: FormatChoice,
    /// Worker threads; 0 = all available cores.
    pub threads: usize,
    /// Indicators scoring below this are left out (default 0: everything in the set).
    pub min_score: f32,
    /// Indicators above this TLP are left out (default: none left out).
    pub tlp_max: Option<Tlp>,
    /// How many unparsable lines are kept in the summary (default 10).
    pub max_errors: usize,
    /// How many top indicators the summary lists (default 10).
    pub top: usize,
    /// Target chunk size in bytes (default 1 MiB).
    pub chunk_bytes: usize,
    /// Longest line kept, in bytes (default 16 MiB); longer lines count as unparsable.
    pub max_line: usize,
    /// Live counters for a progress bar (the caller polls them from another thread while `hunt` runs).
    pub progress: Option<Arc<Progress>>,
    /// Keep up to this many distinct domain names that appear in domain fields but match no indicator
    /// (`Summary::unknown_domains`), for scoring as leads; 0 (the default) keeps none and costs nothing.
    pub collect_unknown: usize,
    /// The zone of the times a log writes without one (BIND, Windows DNS; default UTC).
    pub log_tz: LogTz,
}

/// Counters a hunt updates while it runs (for a progress bar with throughput).
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes of log text read so far (after decompression).
    pub bytes: std::sync::atomic::AtomicU64,
    /// Lines matched so far.
    pub lines: std::sync::atomic::AtomicU64,
    /// Sightings so far.
    pub hits: std::sync::atomic::AtomicU64,
    /// Inputs started so far.
    pub files: std::sync::atomic::AtomicU64,
}

impl HuntOptions {
    /// The worker threads a hunt with these options runs: `threads`, or every available core for 0.
    pub fn worker_threads(&self) -> usize {
        if self.threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            self.threads
        }
    }
}

impl Default for HuntOptions {
    fn default() -> Self {
        HuntOptions {
            format: FormatChoice::Auto,
            threads: 0,
            min_score: 0.0,
            tlp_max: None,
            max_errors: 10,
            top: 10,
            chunk_bytes: 1 << 20,
            max_line: 16 << 20,
            progress: None,
            collect_unknown: 0,
            log_tz: LogTz::Utc,
        }
    }
}

/// A log input: a path (or `-`), or any reader with a display name.
pub enum LogSource {
    /// A file path, `-` for standard input.
    Path(LogInput),
    /// An already opened reader (decompressed transparently too).
    Reader {
        /// Name used in sightings.
        name: String,
        /// The data.
        reader: Box<dyn Read + Send>,
    },
}

impl LogSource {
    /// A path input.
    pub fn path(p: impl Into<std::path::PathBuf>) -> LogSource {
        LogSource::Path(LogInput::new(p))
    }

    /// A reader input.
    pub fn reader(name: impl Into<String>, reader: impl Read + Send + 'static) -> LogSource {
        LogSource::Reader {
            name: name.into(),
            reader: Box::new(reader),
        }
    }
}

/// A hunt that could not go on.
#[derive(Debug, thiserror::Error)]
pub enum HuntError {
    /// The sink refused a sighting (e.g. the output file could not be written).
    #[error("writing sightings: {0}")]
    Sink(#[from] std::io::Error),
    /// A thread of the hunt panicked (a bug).
    #[error("internal error: a hunt thread stopped unexpectedly")]
    Thread,
}

struct Work {
    seq: u64,
    file: u32,
    data: Vec<u8>,
    parser: Arc<Parser>,
}

enum Event {
    FileStart {
        name: String,
        format: Option<String>,
    },
    FileError {
        reason: String,
    },
    LongLine,
    FileEnd {
        bytes: u64,
    },
}

struct ChunkResult {
    lines: u64,
    unparsable: u64,
    repaired: u64,
    errors: Vec<(u64, String)>,
    sightings: Vec<(u32, Sighting)>,
    /// Unknown domain names of this chunk with their counts (only with `collect_unknown`).
    unknown: NameCounts<u32>,
}

/// Distinct domain names with counts. foldhash, seeded per process: log contents choose the keys, and SipHash was
/// 14% of a hunt over a million distinct unknown names.
type NameCounts<V> = HashMap<Box<str>, V, foldhash::fast::RandomState>;

enum Msg {
    Chunk(u32, ChunkResult),
    Event(u32, Event),
}

/// Runs the hunt. `sink` receives the sightings in input order (file, then line); an error from it stops the
/// hunt. Inputs that fail (missing file, unknown format, truncated compression) are reported in
/// [`Summary::file_errors`] and do not stop the others.
pub fn hunt(
    set: &IndicatorSet,
    inputs: Vec<LogSource>,
    opts: &HuntOptions,
    sink: &mut dyn FnMut(&Sighting) -> std::io::Result<()>,
) -> Result<Summary, HuntError> {
    let start = Instant::now();
    let threads = opts.worker_threads();
    let stop = AtomicBool::new(false);
    // One queued chunk per worker and one spare keep the workers fed (the reader is several times faster than a
    // worker); every further slot is another 1 MiB chunk of peak memory (2 x threads + 2 measured no faster).
    let (work_tx, work_rx) = sync_channel::<Work>(threads + 1);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (res_tx, res_rx) = channel::<(u64, Msg)>();
    let (pool_tx, pool_rx) = channel::<Vec<u8>>();
    let mut summary = Summary::default();
    let result = std::thread::scope(|s| {
        let reader = {
            let res_tx = res_tx.clone();
            let stop = &stop;
            s.spawn(move || read_inputs(inputs, opts, work_tx, res_tx, pool_rx, stop))
        };
        let mut workers = Vec::new();
        for _ in 0..threads {
            let work_rx = Arc::clone(&work_rx);
            let res_tx = res_tx.clone();
            let pool_tx = pool_tx.clone();
            let stop = &stop;
            workers.push(s.spawn(move || work(set, opts, &work_rx, res_tx, pool_tx, stop)));
        }
        drop(res_tx);
        drop(pool_tx);
        let r = collect(opts, res_rx, &mut summary, sink, &stop);
        let mut ok = reader.join().is_ok();
        for w in workers {
            ok &= w.join().is_ok();
        }
        match (r, ok) {
            (Err(e), _) => Err(e),
            (Ok(()), false) => Err(HuntError::Thread),
            (Ok(()), true) => Ok(()),
        }
    });
    result?;
    summary.seconds = start.elapsed().as_secs_f64();
    if summary.seconds > 0.0 {
        summary.mb_per_s = summary.bytes as f64 / 1e6 / summary.seconds;
        summary.lines_per_s = summary.lines as f64 / summary.seconds;
    }
    Ok(summary)
}

fn read_inputs(
    inputs: Vec<LogSource>,
    opts: &HuntOptions,
    work_tx: std::sync::mpsc::SyncSender<Work>,
    res_tx: Sender<(u64, Msg)>,
    pool_rx: Receiver<Vec<u8>>,
    stop: &AtomicBool,
) {
    let mut seq = 0u64;
    let mut next = || {
        seq += 1;
        seq - 1
    };
    for (fi, input) in inputs.into_iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let fi = fi as u32;
        let (name, opened) = match input {
            LogSource::Path(p) => (p.display(), logs::open(&p.path)),
            LogSource::Reader { name, reader } => (name, logs::decompress(reader)),
        };
        let mut reader = match opened {
            Ok(r) => r,
            Err(e) => {
                let _ = res_tx.send((
                    next(),
                    Msg::Event(
                        fi,
                        Event::FileStart {
                            name: name.clone(),
                            format: None,
                        },
                    ),
                ));
                let _ = res_tx.send((
                    next(),
                    Msg::Event(
                        fi,
                        Event::FileError {
                            reason: format!("cannot open: {e}"),
                        },
                    ),
                ));
                continue;
            }
        };
        // Read a head for detection; it is put back in front of the stream.
        let mut head = Vec::new();
        let head_err = (&mut reader).take(64 * 1024).read_to_end(&mut head).err();
        let format = match &opts.format {
            FormatChoice::Fixed(f) => Some(f.clone()),
            FormatChoice::Auto => logs::detect(&head),
        };
        let _ = res_tx.send((
            next(),
            Msg::Event(
                fi,
                Event::FileStart {
                    name: name.clone(),
                    format: format.as_ref().map(|f| f.name().to_string()),
                },
            ),
        ));
        let Some(format) = format else {
            if head.is_empty() && head_err.is_none() {
                // An empty input has no lines: nothing to detect, nothing to report.
                let _ = res_tx.send((next(), Msg::Event(fi, Event::FileEnd { bytes: 0 })));
                continue;
            }
            let first = head
                .split(|&c| c == b'\n')
                .find(|l| !l.is_empty())
                .unwrap_or(&[]);
            let first: String = String::from_utf8_lossy(first).chars().take(80).collect();
            let reason = match head_err {
                Some(e) => format!("read failed before the format could be detected: {e}"),
                None => logs::LogError::UnknownFormat {
                    file: name.clone(),
                    first_line: first,
                }
                .to_string(),
            };
            let _ = res_tx.send((next(), Msg::Event(fi, Event::FileError { reason })));
            continue;
        };
        let rest: Box<dyn Read + Send> = match head_err {
            Some(e) => Box::new(std::io::Cursor::new(head).chain(FailingReader(Some(e)))),
            // An event log is read whole (the evtx crate seeks to the header's chunks, which a stream cannot);
            // its records come as JSON lines.
            None if format == Format::Evtx => {
                let mut data = head;
                let read = reader.read_to_end(&mut data);
                match read
                    .map_err(|e| format!("read failed: {e}"))
                    .and_then(|_| logs::evtx_lines(data))
                {
                    Ok(r) => r,
                    Err(reason) => {
                        let _ = res_tx.send((next(), Msg::Event(fi, Event::FileError { reason })));
                        continue;
                    }
                }
            }
            None => Box::new(std::io::Cursor::new(head).chain(reader)),
        };
        let mut chunker = Chunker::new(
            rest,
            Parser::new(&format).with_tz(opts.log_tz),
            opts.chunk_bytes,
            opts.max_line,
        );
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let buf = pool_rx.try_recv().unwrap_or_default();
            match chunker.next_chunk(buf) {
                ChunkEvent::Lines(data, parser) => {
                    if let Some(p) = &opts.progress {
                        p.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                    if work_tx
                        .send(Work {
                            seq: next(),
                            file: fi,
                            data,
                            parser,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
                ChunkEvent::LongLine => {
                    let _ = res_tx.send((next(), Msg::Event(fi, Event::LongLine)));
                }
                ChunkEvent::Failed(e) => {
                    let reason = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        format!("input ended early (truncated compressed stream?) after {} bytes of text: {e}", chunker.bytes)
                    } else {
                        format!("read failed after {} bytes of text: {e}", chunker.bytes)
                    };
                    let _ = res_tx.send((next(), Msg::Event(fi, Event::FileError { reason })));
                    break;
                }
                ChunkEvent::End => break,
            }
        }
        let _ = res_tx.send((
            next(),
            Msg::Event(
                fi,
                Event::FileEnd {
                    bytes: chunker.bytes,
                },
            ),
        ));
    }
}

/// Replays a read error after the detection head.
struct FailingReader(Option<std::io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

fn work(
    set: &IndicatorSet,
    opts: &HuntOptions,
    rx: &Mutex<Receiver<Work>>,
    res_tx: Sender<(u64, Msg)>,
    pool_tx: Sender<Vec<u8>>,
    stop: &AtomicBool,
) {
    let mut m = Matcher::new(set, opts);
    loop {
        let w = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(w) => w,
                Err(_) => return,
            }
        };
        if stop.load(Ordering::Relaxed) {
            continue;
        }
        let r = m.chunk(&w.parser, &w.data);
        let _ = pool_tx.send(w.data);
        if res_tx.send((w.seq, Msg::Chunk(w.file, r))).is_err() {
            return;
        }
    }
}

/// Per-thread matching state.
struct Matcher<'s> {
    set: &'s IndicatorSet,
    opts: &'s HuntOptions,
    rec: Record,
    scratch: Scratch,
    matches: Vec<Match>,
    tlp_max: u8,
}

impl<'s> Matcher<'s> {
    fn new(set: &'s IndicatorSet, opts: &'s HuntOptions) -> Self {
        Matcher {
            set,
            opts,
            rec: Record::default(),
            scratch: Scratch::default(),
            matches: Vec::new(),
            tlp_max: opts.tlp_max.map_or(4, tlp_code),
        }
    }

    fn chunk(&mut self, parser: &Parser, data: &[u8]) -> ChunkResult {
        let mut r = ChunkResult {
            lines: 0,
            unparsable: 0,
            repaired: 0,
            errors: Vec::new(),
            sightings: Vec::new(),
            unknown: NameCounts::default(),
        };
        // `is_ascii` is the cheaper check and answers for nearly all logs.
        let all_utf8 = data.is_ascii() || std::str::from_utf8(data).is_ok();
        let mut start = 0;
        while start < data.len() {
            let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |k| start + k);
            let line = &data[start..end];
            start = end + 1;
            r.lines += 1;
            if line.len() > self.opts.max_line {
                r.unparsable += 1;
                if r.errors.len() < self.opts.max_errors {
                    r.errors.push((
                        r.lines,
                        format!("line longer than {} bytes", self.opts.max_line),
                    ));
                }
                continue;
            }
            // A line with bytes that are not UTF-8 (a raw byte in a proxy log's URL or user agent) is read with
            // them replaced, not skipped: skipping it would let whoever chooses the URL hide the host beside it.
            let repaired;
            let line = if !all_utf8 && std::str::from_utf8(line).is_err() {
                r.repaired += 1;
                repaired = String::from_utf8_lossy(line).into_owned();
                repaired.as_bytes()
            } else {
                line
            };
            match parser.parse(line, &mut self.rec) {
                Ok(Parsed::Skip) => {}
                Ok(Parsed::Record) => {
                    self.record(parser, line, r.lines, &mut r.sightings, &mut r.unknown)
                }
                Err(reason) => {
                    r.unparsable += 1;
                    if r.errors.len() < self.opts.max_errors {
                        r.errors.push((r.lines, reason));
                    }
                }
            }
        }
        r
    }

    fn keep(&self, ind: u32) -> bool {
        self.set.score(ind) >= self.opts.min_score
            && self
                .set
                .tlp
                .get(ind as usize)
                .is_some_and(|&t| t <= self.tlp_max)
    }

    #[inline]
    fn record(
        &mut self,
        parser: &Parser,
        line: &[u8],
        rel_line: u64,
        out: &mut Vec<(u32, Sighting)>,
        unknown: &mut NameCounts<u32>,
    ) {
        let set = self.set;
        let mut emitted: Vec<(u32, &str, &[u8])> = Vec::new();
        let mut ts: Option<Option<String>> = None;
        let mut looked: [(Role, &[u8]); 8] = [(Role::Proto, &[]); 8];
        let mut n_looked = 0;
        for f in parser.fields(line, &self.rec) {
            // EVE repeats the query name in every answer: look each (role, value) up once per record.
            if looked[..n_looked]
                .iter()
                .any(|(r, v)| *r == f.role && *v == f.value)
            {
                continue;
            }
            if n_looked < looked.len() {
                looked[n_looked] = (f.role, f.value);
                n_looked += 1;
            }
            self.matches.clear();
            set.lookup(f.role, f.value, &mut self.scratch, &mut self.matches);
            if self.opts.collect_unknown > 0 && f.role == Role::Domain && self.matches.is_empty() {
                note_unknown(f.value, unknown);
            }
            for m in &self.matches {
                // One sighting per (indicator, value) and record: a value repeated in two fields (EVE `answers` and
                // `grouped`) is one observation.
                if !self.keep(m.indicator)
                    || emitted.iter().any(|e| e.0 == m.indicator && e.2 == f.value)
                {
                    continue;
                }
                emitted.push((m.indicator, f.name, f.value));
                let ts = ts
                    .get_or_insert_with(|| parser.timestamp(line, &self.rec))
                    .clone();
                out.push((rel_line as u32, sighting(set, m, &f, ts)));
            }
        }
        if set.has_patterns() {
            self.patterns(parser, line, rel_line, out, &mut emitted);
        }
    }

    fn patterns(
        &self,
        parser: &Parser,
        line: &[u8],
        rel_line: u64,
        out: &mut Vec<(u32, Sighting)>,
        emitted: &mut Vec<(u32, &str, &[u8])>,
    ) {
        let set = self.set;
        let fields: Vec<FieldRef<'_>> = parser.fields(line, &self.rec).collect();
        let (obs, origin) = observation(&fields);
        if obs.objects.is_empty() {
            return;
        }
        for (pi, ind, p) in set.general_patterns() {
            if !self.keep(ind)
                || !p
                    .object_types()
                    .iter()
                    .any(|t| obs.objects.iter().any(|o| &o.kind == t))
            {
                continue;
            }
            if !p.matches(&obs) {
                continue;
            }
            // Report the first field that produced an object of a type the pattern tests.
            let Some(fi) = obs
                .objects
                .iter()
                .position(|o| p.object_types().contains(&o.kind))
                .and_then(|oi| origin.get(oi).copied().flatten())
            else {
                continue;
            };
            let Some(f) = fields.get(fi) else { continue };
            if emitted.iter().any(|e| e.0 == ind && e.1 == f.name) {
                continue;
            }
            let m = Match {
                indicator: ind,
                hit: HitRef::Pattern(pi),
            };
            out.push((
                rel_line as u32,
                sighting(set, &m, f, parser.timestamp(line, &self.rec)),
            ));
        }
    }
}

/// Counts a domain name no indicator matched: lower case, without the root dot, only names with a dot that are
/// not IP literals (those are addresses, not leads for a domain model).
fn note_unknown(value: &[u8], unknown: &mut NameCounts<u32>) {
    let Ok(v) = std::str::from_utf8(value) else {
        return;
    };
    let v = v.trim().trim_end_matches('.');
    if v.len() < 4
        || v.len() > 253
        || !v.contains('.')
        || v.parse::<std::net::IpAddr>().is_ok()
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return;
    }
    if v.bytes().any(|b| b.is_ascii_uppercase()) {
        *unknown.entry(v.to_ascii_lowercase().into()).or_default() += 1;
    } else if let Some(n) = unknown.get_mut(v) {
        *n += 1;
    } else {
        unknown.insert(v.into(), 1);
    }
}

fn sighting(set: &IndicatorSet, m: &Match, f: &FieldRef<'_>, ts: Option<String>) -> Sighting {
    let meta = set.meta(m.indicator);
    Sighting {
        indicator: set.indicator_value(m),
        indicator_id: meta.id,
        kind: set.hit_type(m, f.role),
        observed: String::from_utf8_lossy(f.value).into_owned(),
        field: f.name.to_string(),
        file: String::new(),
        line: 0,
        ts,
        malware: meta.malware.iter().map(|s| s.to_string()).collect(),
        actors: meta.actors.iter().map(|s| s.to_string()).collect(),
        tlp: meta.tlp,
        score: meta.score,
    }
}

/// Builds the STIX observation of a record (for general patterns): one SCO per matchable field, plus a
/// `network-traffic` object when the record has endpoints. Values are kept as logged. Returns the objects and,
/// per object, the field it came from.
pub(crate) fn observation(fields: &[FieldRef<'_>]) -> (Observation, Vec<Option<usize>>) {
    let mut objs: Vec<Object> = Vec::new();
    let mut origin = Vec::new();
    let (mut src, mut dst, mut sport, mut dport, mut proto) = (None, None, None, None, None);
    for (i, f) in fields.iter().enumerate() {
        let v = String::from_utf8_lossy(f.value).into_owned();
        let is_ip = crate::set::parse_ipv4(f.value).is_some()
            || (f.value.contains(&b':') && crate::set::parse_ipv6(f.value).is_some());
        let (kind, props): (&str, Vec<(String, Value)>) = match f.role {
            Role::Domain | Role::Answer if !is_ip => {
                ("domain-name", vec![("value".into(), Value::Str(v))])
            }
            Role::Domain | Role::Answer | Role::Ip | Role::SrcIp | Role::DstIp => {
                let k = if f.value.contains(&b':') {
                    "ipv6-addr"
                } else {
                    "ipv4-addr"
                };
                if f.role == Role::SrcIp {
                    src = Some(objs.len());
                }
                if f.role == Role::DstIp {
                    dst = Some(objs.len());
                }
                (k, vec![("value".into(), Value::Str(v))])
            }
            Role::Url => ("url", vec![("value".into(), Value::Str(v))]),
            Role::Email => (
                "email-addr",
                vec![(
                    "value".into(),
                    Value::Str(v.trim_matches(['<', '>']).to_string()),
                )],
            ),
            Role::Hash => {
                let hex: String = v.chars().filter(|c| *c != ':').collect();
                let alg = match hex.len() {
                    32 => "MD5",
                    40 => "SHA-1",
                    64 => "SHA-256",
                    128 => "SHA-512",
                    _ => continue,
                };
                (
                    "file",
                    vec![(
                        "hashes".into(),
                        Value::Map(vec![(alg.into(), Value::Str(hex))]),
                    )],
                )
            }
            Role::SrcPort => {
                sport = v.parse::<i64>().ok();
                continue;
            }
            Role::DstPort => {
                dport = v.parse::<i64>().ok();
                continue;
            }
            Role::Proto => {
                proto = Some(v.to_ascii_lowercase());
                continue;
            }
        };
        objs.push(Object {
            kind: kind.into(),
            props,
        });
        origin.push(Some(i));
    }
    if src.is_some() || dst.is_some() {
        let mut props = Vec::new();
        if let Some(s) = src {
            props.push(("src_ref".into(), Value::Ref(s)));
        }
        if let Some(d) = dst {
            props.push(("dst_ref".into(), Value::Ref(d)));
        }
        if let Some(p) = sport {
            props.push(("src_port".into(), Value::Int(p)));
        }
        if let Some(p) = dport {
            props.push(("dst_port".into(), Value::Int(p)));
        }
        if let Some(p) = proto {
            props.push(("protocols".into(), Value::List(vec![Value::Str(p)])));
        }
        objs.push(Object {
            kind: "network-traffic".into(),
            props,
        });
        origin.push(dst.or(src).and_then(|o| origin.get(o).copied().flatten()));
    }
    (Observation { objects: objs }, origin)
}

fn collect(
    opts: &HuntOptions,
    rx: Receiver<(u64, Msg)>,
    summary: &mut Summary,
    sink: &mut dyn FnMut(&Sighting) -> std::io::Result<()>,
    stop: &AtomicBool,
) -> Result<(), HuntError> {
    let mut pending: BTreeMap<u64, Msg> = BTreeMap::new();
    let mut next = 0u64;
    let mut names: HashMap<u32, String> = HashMap::new();
    let mut base: u64 = 0;
    let mut top: HashMap<String, TopIndicator> = HashMap::new();
    let mut unknown: NameCounts<u64> = NameCounts::default();
    let mut failure: Option<std::io::Error> = None;
    for (seq, msg) in rx {
        pending.insert(seq, msg);
        while let Some(msg) = pending.remove(&next) {
            next += 1;
            if failure.is_some() {
                continue;
            }
            match msg {
                Msg::Event(fi, ev) => match ev {
                    Event::FileStart { name, format } => {
                        summary.files += 1;
                        if let Some(p) = &opts.progress {
                            p.files.fetch_add(1, Ordering::Relaxed);
                        }
                        summary
                            .formats
                            .push((name.clone(), format.unwrap_or_else(|| "unknown".into())));
                        names.insert(fi, name);
                        base = 0;
                    }
                    Event::FileError { reason } => {
                        summary.file_errors.push(LineError {
                            file: names.get(&fi).cloned().unwrap_or_default(),
                            line: base,
                            reason,
                        });
                    }
                    Event::LongLine => {
                        base += 1;
                        summary.lines += 1;
                        summary.unparsable += 1;
                        if summary.errors.len() < opts.max_errors {
                            summary.errors.push(LineError {
                                file: names.get(&fi).cloned().unwrap_or_default(),
                                line: base,
                                reason: format!("line longer than {} bytes", opts.max_line),
                            });
                        }
                    }
                    Event::FileEnd { bytes } => summary.bytes += bytes,
                },
                Msg::Chunk(fi, r) => {
                    let file = names.get(&fi).cloned().unwrap_or_default();
                    for (l, reason) in r.errors {
                        if summary.errors.len() < opts.max_errors {
                            summary.errors.push(LineError {
                                file: file.clone(),
                                line: base + l,
                                reason,
                            });
                        }
                    }
                    for (l, mut s) in r.sightings {
                        s.file.clone_from(&file);
                        s.line = base + u64::from(l);
                        summary.hits += 1;
                        *summary
                            .hits_by_type
                            .entry(s.kind.as_str().to_string())
                            .or_default() += 1;
                        top.entry(s.indicator_id.clone())
                            .or_insert_with(|| TopIndicator {
                                indicator: s.indicator.clone(),
                                indicator_id: s.indicator_id.clone(),
                                kind: s.kind,
                                hits: 0,
                            })
                            .hits += 1;
                        if let Err(e) = sink(&s) {
                            failure = Some(e);
                            stop.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                    for (d, n) in r.unknown {
                        if let Some(c) = unknown.get_mut(&d) {
                            *c += u64::from(n);
                        } else if unknown.len() < opts.collect_unknown {
                            unknown.insert(d, u64::from(n));
                        } else {
                            summary.unknown_domains_dropped += 1;
                        }
                    }
                    summary.lines += r.lines;
                    summary.unparsable += r.unparsable;
                    summary.repaired_lines += r.repaired;
                    base += r.lines;
                    if let Some(p) = &opts.progress {
                        p.lines.store(summary.lines, Ordering::Relaxed);
                        p.hits.store(summary.hits, Ordering::Relaxed);
                    }
                }
            }
        }
    }
    let mut top: Vec<TopIndicator> = top.into_values().collect();
    top.sort_by(|a, b| {
        b.hits
            .cmp(&a.hits)
            .then_with(|| a.indicator_id.cmp(&b.indicator_id))
    });
    top.truncate(opts.top);
    summary.top_indicators = top;
    let mut unknown: Vec<(String, u64)> = unknown
        .into_iter()
        .map(|(d, n)| (d.into_string(), n))
        .collect();
    // Names are distinct, so the unstable sort gives one order.
    unknown.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    summary.unknown_domains = unknown;
    match failure {
        Some(e) => Err(HuntError::Sink(e)),
        None => Ok(()),
    }
}

/// Convenience: hunts and returns the sightings in memory (tests, small inputs).
pub fn hunt_collect(
    set: &IndicatorSet,
    inputs: Vec<LogSource>,
    opts: &HuntOptions,
) -> Result<(Vec<Sighting>, Summary), HuntError> {
    let mut out = Vec::new();
    let summary = hunt(set, inputs, opts, &mut |s| {
        out.push(s.clone());
        Ok(())
    })?;
    Ok((out, summary))
}

/// Convenience for a fixed format.
pub fn options_for(format: Format) -> HuntOptions {
    HuntOptions {
        format: FormatChoice::Fixed(format),
        ..HuntOptions::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::set::{IndicatorInput, IndicatorSetBuilder, IndicatorSource};
    use vigil_model::{Observable, ObservableKind};

    fn set() -> IndicatorSet {
        let mut b = IndicatorSetBuilder::new();
        let mut i = IndicatorInput::new(
            "indicator--00000000-0000-4000-8000-000000000001",
            IndicatorSource::Observable(
                Observable::new(ObservableKind::Domain, "evil.com").expect("valid"),
            ),
        );
        i.subdomains = true;
        i.malware = vec!["LummaC2".into()];
        i.actors = vec!["Storm-2477".into()];
        b.add(&i).expect("adds");
        let p = IndicatorInput::new(
            "indicator--00000000-0000-4000-8000-000000000002",
            IndicatorSource::Pattern("[domain-name:value MATCHES '^c2-[0-9]+\\\\.']".into()),
        );
        b.add(&p).expect("adds");
        b.build().expect("builds")
    }

    #[test]
    fn unknown_domains_are_counted_only_when_asked_and_never_hits() {
        let mut data = String::new();
        for i in 0..300 {
            let q = match i % 3 {
                0 => "a.evil.com".to_string(),
                1 => format!("Host{}.Example.ORG.", i % 2),
                _ => "10.1.2.3".to_string(),
            };
            data.push_str(&format!(
                "{{\"ts\":1,\"_path\":\"dns\",\"query\":\"{q}\",\"user_agent\":\"notseen.example.net\"}}\n"
            ));
        }
        let run = |collect: usize| {
            let opts = HuntOptions {
                chunk_bytes: 2048,
                threads: 2,
                collect_unknown: collect,
                ..HuntOptions::default()
            };
            hunt_collect(
                &set(),
                vec![LogSource::reader(
                    "t.json",
                    std::io::Cursor::new(data.clone().into_bytes()),
                )],
                &opts,
            )
            .expect("hunts")
            .1
        };
        let off = run(0);
        assert!(off.unknown_domains.is_empty());
        let on = run(100);
        assert_eq!(on.hits, off.hits, "collecting changes no hit");
        // Case and the root dot folded; the IP literal, the hit and the user agent (not a domain field) left out.
        assert_eq!(
            on.unknown_domains,
            vec![
                ("host0.example.org".to_string(), 50),
                ("host1.example.org".to_string(), 50)
            ]
        );
        let capped = run(1);
        assert_eq!(capped.unknown_domains.len(), 1);
        assert!(capped.unknown_domains_dropped >= 1);
    }

    #[test]
    fn hunts_in_order_with_line_numbers_and_errors() {
        let mut data = String::new();
        for i in 0..5000 {
            match i % 1000 {
                7 => data.push_str(&format!("{{\"ts\":1521911720.5,\"_path\":\"dns\",\"query\":\"x{i}.evil.com\"}}\n")),
                8 => data.push_str("{\"ts\":1,\"query\":\"broken\n"),
                9 => data.push_str(&format!("{{\"ts\":1,\"_path\":\"dns\",\"query\":\"c2-{i}.example\",\"user_agent\":\"evil.com\"}}\n")),
                _ => data.push_str(&format!("{{\"ts\":1,\"_path\":\"dns\",\"query\":\"ok{i}.example\",\"user_agent\":\"evil.com\"}}\n")),
            }
        }
        let progress = Arc::new(Progress::default());
        let opts = HuntOptions {
            chunk_bytes: 4096,
            threads: 2,
            progress: Some(progress.clone()),
            ..HuntOptions::default()
        };
        let (s, sum) = hunt_collect(
            &set(),
            vec![LogSource::reader(
                "t.json",
                std::io::Cursor::new(data.into_bytes()),
            )],
            &opts,
        )
        .expect("hunts");
        assert_eq!(sum.lines, 5000);
        assert_eq!(progress.lines.load(Ordering::Relaxed), 5000);
        assert_eq!(progress.bytes.load(Ordering::Relaxed), sum.bytes);
        assert_eq!(progress.hits.load(Ordering::Relaxed), 10);
        assert_eq!(sum.unparsable, 5);
        assert_eq!(sum.errors[0].line, 9);
        assert_eq!(s.len(), 10);
        assert_eq!(s[0].line, 8);
        assert_eq!(s[0].observed, "x7.evil.com");
        assert_eq!(s[0].malware, vec!["LummaC2".to_string()]);
        assert_eq!(s[0].ts.as_deref(), Some("2018-03-24T17:15:20.500Z"));
        assert_eq!(s[1].line, 10);
        assert_eq!(
            s[1].indicator_id,
            "indicator--00000000-0000-4000-8000-000000000002"
        );
        assert!(s.windows(2).all(|w| w[0].line < w[1].line));
        assert_eq!(sum.hits_by_type.get("domain"), Some(&10));
        let j = serde_json::to_value(&s[0]).expect("serialises");
        for k in [
            "indicator",
            "indicator_id",
            "type",
            "observed",
            "field",
            "file",
            "line",
            "ts",
            "malware",
            "actors",
            "tlp",
            "score",
        ] {
            assert!(j.get(k).is_some(), "{k}");
        }
    }

    #[test]
    fn unknown_format_and_missing_file_are_reported() {
        let (_, sum) = hunt_collect(
            &set(),
            vec![
                LogSource::reader("odd.txt", std::io::Cursor::new(b"hello there\n".to_vec())),
                LogSource::path("/nonexistent/x.log"),
            ],
            &HuntOptions::default(),
        )
        .expect("hunts");
        assert_eq!(sum.file_errors.len(), 2);
        assert!(sum.file_errors[0].reason.contains("unknown log format"));
        assert!(sum.file_errors[1].reason.contains("cannot open"));
    }
}
