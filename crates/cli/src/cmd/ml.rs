//! `vigil ml extract|tag|score-domains|attribute|train|eval|info`, `vigil ingest --format report` and
//! `vigil review list|confirm|reject`.
//!
//! The models live in `vigil-ml`; this module reads inputs, picks the model artifacts (`--models DIR`, else
//! `<data>/models/` when `vigil ml train` wrote there, else the artifacts built into the binary), prints, and
//! stores what a report yields as STIX objects labelled machine-generated until an analyst reviews them.

mod bench;
mod report;
mod summarize;

use std::io::{BufRead, BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::json;
use vigil_ml::attribute::{Attributor, Query};
use vigil_ml::domain::DomainModel;
use vigil_ml::tag::Tagger;
use vigil_ml::{EvalSplit, ExtractOptions, Extractor, IndicatorType, ModelSource, Task};

pub use bench::{bench, BenchMlArgs};
pub use report::{ingest_report, review, ReviewCommand};

use crate::args::Cli;

#[derive(Debug, Subcommand)]
pub enum MlCommand {
    /// Extract indicators of compromise from a report (text, Markdown or HTML; `-` for stdin).
    Extract(ExtractArgs),
    /// Tag the ATT&CK techniques a report describes, citing the sentences.
    Tag(TagArgs),
    /// Score domains (one per line; `-` for stdin) for how malicious their name looks; streams JSON lines.
    ScoreDomains(ScoreDomainsArgs),
    /// Rank ATT&CK groups and MISP actors by overlap with techniques, software and indicators.
    Attribute(AttributeArgs),
    /// Rebuild the model artifacts from the public corpus (deterministic: the same bytes every time).
    Train(TrainArgs),
    /// Measure the models on labelled data laid out like the shared data.
    Eval(EvalArgs),
    /// The model artifacts in use: name, version, training-data hash, origin.
    Info(ModelsFlag),
    /// Summarise a report in plain language with a self-hosted OpenAI-compatible LLM endpoint (off unless
    /// --llm-url or VIGIL_LLM_URL names one; the summary is labelled machine-generated).
    Summarize(summarize::SummarizeArgs),
}

#[derive(Debug, Args)]
pub struct ModelsFlag {
    /// Directory holding tagger.vgm, domain.vgm, attribution.vgm (default: <data>/models when present, else the
    /// models built into the binary).
    #[arg(long, env = "VIGIL_ML_MODELS")]
    pub models: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// The report (`-` for stdin).
    pub file: String,
    /// Only these types (repeatable): domain, ipv4, ipv6, cidr, url, email, md5, sha1, sha256, sha512, cve,
    /// attack-technique, btc, file, registry.
    #[arg(long = "type")]
    pub types: Vec<String>,
    /// Drop indicators below this confidence (0-1; private addresses have 0.3, bare file names 0.6).
    #[arg(long, default_value_t = 0.0)]
    pub min_confidence: f64,
    /// Report every occurrence, not each value once.
    #[arg(long)]
    pub all_occurrences: bool,
    /// Do not suppress values on the store's MISP warning lists.
    #[arg(long)]
    pub no_warninglists: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The report (`-` for stdin).
    pub file: String,
    #[command(flatten)]
    pub models: ModelsFlag,
}

#[derive(Debug, Args)]
pub struct ScoreDomainsArgs {
    /// One domain per line (`-` for stdin); empty lines and `#` comments are skipped.
    pub file: String,
    /// Threads that score (0 = all cores); the output keeps the input order whatever the number.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Say why each name scores as it does: the first stage's log-odds by signal (n-grams of the name, its
    /// labels, the public suffix, n-grams of the registrable label, shape) with the n-grams that weigh most,
    /// and the second stage's correction. With --json each line also carries `public_suffix`,
    /// `registered_domain`, `dynamic_dns`, `first_stage`, `log_odds` and `evidence`.
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub models: ModelsFlag,
}

#[derive(Debug, Args)]
pub struct AttributeArgs {
    /// ATT&CK technique id (repeatable): T1059, T1566.001.
    #[arg(long = "technique")]
    pub techniques: Vec<String>,
    /// ATT&CK software id or name (repeatable): S0154, "Cobalt Strike".
    #[arg(long = "software")]
    pub software: Vec<String>,
    /// Indicator value (repeatable): a domain, IP, URL or hash seen in the incident.
    #[arg(long = "indicator")]
    pub indicators: Vec<String>,
    /// How many groups to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    #[command(flatten)]
    pub models: ModelsFlag,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// extract|tag|domain|attribute (default: every task with an artifact).
    #[arg(long)]
    pub task: Option<String>,
    /// The public corpus, laid out like the shared data (tram/, maltrail/, misp-warninglists/, mitre-attack/ ...).
    #[arg(long, default_value = "../shared/data")]
    pub corpus: PathBuf,
    /// Where to write the artifacts (default: <data>/models; the committed ones are in crates/ml/models).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write nothing: compare the trained bytes with the artifacts in --out and fail when they differ.
    #[arg(long)]
    pub check: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// extract|tag|domain|attribute (default: all four, one JSON line each).
    #[arg(long)]
    pub task: Option<String>,
    /// Labelled data laid out like the shared data.
    #[arg(long, default_value = "../shared/data")]
    pub corpus: PathBuf,
    /// held-out: Vigil's held-out side of the shared data (the tagger is retrained on the training side);
    /// all: the whole corpus is unseen data for the models in use; folds (domain and tag): cross-validation,
    /// five trainings, each fifth of the families (domain) or reports (tag) held out in turn.
    #[arg(long, default_value = "held-out")]
    pub split: String,
    #[command(flatten)]
    pub models: ModelsFlag,
}

/// Where the models come from for one command.
fn model_source(cli: &Cli, flag: &Option<PathBuf>) -> ModelSource {
    if let Some(d) = flag {
        return ModelSource::Dir(d.clone());
    }
    let d = cli.data.join("models");
    if d.is_dir() {
        ModelSource::Dir(d)
    } else {
        ModelSource::Embedded
    }
}

/// Loads one artifact from the source; a directory without that file falls back to the built-in model only when
/// the directory was not named explicitly.
fn pick(src: &ModelSource, explicit: bool, file: &str) -> Option<PathBuf> {
    match src {
        ModelSource::Embedded => None,
        ModelSource::Dir(d) => {
            let p = d.join(file);
            (explicit || p.exists()).then_some(p)
        }
    }
}

pub(crate) fn load_tagger(cli: &Cli, flag: &Option<PathBuf>) -> anyhow::Result<Tagger> {
    Ok(
        match pick(&model_source(cli, flag), flag.is_some(), "tagger.vgm") {
            Some(p) => Tagger::from_path(&p)?,
            None => Tagger::embedded()?,
        },
    )
}

pub(crate) fn load_domain(cli: &Cli, flag: &Option<PathBuf>) -> anyhow::Result<DomainModel> {
    Ok(
        match pick(&model_source(cli, flag), flag.is_some(), "domain.vgm") {
            Some(p) => DomainModel::from_path(&p)?,
            None => DomainModel::embedded()?,
        },
    )
}

pub(crate) fn load_attributor(cli: &Cli, flag: &Option<PathBuf>) -> anyhow::Result<Attributor> {
    Ok(
        match pick(&model_source(cli, flag), flag.is_some(), "attribution.vgm") {
            Some(p) => Attributor::from_path(&p)?,
            None => Attributor::embedded()?,
        },
    )
}

/// The store's warning lists, when a store exists in the data directory (extraction never creates one).
pub(crate) fn store_warninglists(cli: &Cli) -> anyhow::Result<Vec<vigil_store::WarningList>> {
    match existing_store(cli)? {
        Some(store) => Ok(store.warninglists()?),
        None => Ok(Vec::new()),
    }
}

/// The store when there is one (PostgreSQL with `--store`, else the data directory's if it exists): the `ml`
/// commands read it but never create an embedded one.
fn existing_store(
    cli: &Cli,
) -> anyhow::Result<Option<std::sync::Arc<dyn vigil_store::ServerStore>>> {
    if cli.store.is_none() && !cli.data.join("vigil.db").exists() {
        return Ok(None);
    }
    Ok(Some(super::Env::open(cli)?.store))
}

/// Reads a whole input (`-` = stdin).
pub(crate) fn read_input(file: &str) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if file == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
    } else {
        buf = std::fs::read(file).with_context(|| format!("reading {file}"))?;
    }
    Ok(buf)
}

/// Share of bytes that are neither text nor white space (NUL and other control bytes, invalid UTF-8).
pub(crate) fn binary_share(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let ctrl = bytes
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))
        .count();
    let invalid = String::from_utf8_lossy(bytes).matches('\u{fffd}').count();
    (ctrl + invalid) as f64 / bytes.len() as f64
}

/// The text of a report for the tagger: HTML reduced to its visible text, invalid UTF-8 replaced (counted).
/// Binary input (over 10% of non-text bytes) has no prose to tag: an error naming the share.
pub(crate) fn report_text(bytes: &[u8], name: &str) -> anyhow::Result<String> {
    // UTF-16 (what Windows PowerShell 5.1 writes): decoded first; its NUL bytes are not binary. A legacy encoding
    // (windows-125x, GBK, Shift_JIS: not UTF-8, not binary) is decoded too, as extraction does.
    let decoded;
    let bytes = match vigil_ml::extract::detect_utf16(bytes) {
        Some(order) => {
            decoded = vigil_ml::extract::Utf16Text::decode(bytes, order).text;
            decoded.as_bytes()
        }
        None => match vigil_ml::extract::detect_legacy_in(bytes) {
            Some(enc) => {
                eprintln!(
                    "vigil: {name}: read as {} (not UTF-8; the encoding is a guess)",
                    enc.name()
                );
                decoded = vigil_ml::extract::LegacyText::decode(bytes, enc).text;
                decoded.as_bytes()
            }
            None => bytes,
        },
    };
    let share = binary_share(bytes);
    if share > 0.10 {
        bail!(
            "{name}: looks binary ({:.0}% of the bytes are control bytes or invalid UTF-8): no prose to tag (convert PDFs to text first)",
            share * 100.0
        );
    }
    let text = if vigil_ml::extract::looks_like_html(bytes) {
        vigil_ml::extract::html_to_text(bytes).text
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    };
    let bad = text.matches('\u{fffd}').count();
    if bad > 0 && std::str::from_utf8(bytes).is_err() {
        eprintln!("vigil: {name}: {bad} invalid UTF-8 sequence(s) replaced before tagging");
    }
    Ok(text)
}

pub fn run(cli: &Cli, c: &MlCommand) -> anyhow::Result<u8> {
    let r = match c {
        MlCommand::Extract(a) => extract(cli, a),
        MlCommand::Tag(a) => tag(cli, a),
        MlCommand::ScoreDomains(a) => score_domains(cli, a),
        MlCommand::Attribute(a) => attribute(cli, a),
        MlCommand::Train(a) => train(cli, a),
        MlCommand::Eval(a) => eval(cli, a),
        MlCommand::Info(a) => info(cli, a),
        MlCommand::Summarize(a) => summarize::summarize(cli, a),
    };
    quiet_pipe(r)
}

/// Prints a line on stdout, returning the I/O error instead of panicking (a closed pipe ends the command).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*)?
    }};
}
pub(crate) use out;

/// A reader that stops early (`| head`) is not an error of ours: a broken pipe ends the command quietly.
pub(crate) fn quiet_pipe(r: anyhow::Result<u8>) -> anyhow::Result<u8> {
    match r {
        Err(e) if crate::closed_pipe(&e) => Ok(0),
        r => r,
    }
}

pub(crate) fn extractor(
    cli: &Cli,
    types: &[String],
    min_confidence: f64,
    all: bool,
    no_warninglists: bool,
) -> anyhow::Result<Extractor> {
    let mut kinds = Vec::new();
    for t in types {
        match IndicatorType::parse(t) {
            Some(k) => kinds.push(k),
            None => bail!("unknown indicator type `{t}` (domain, ipv4, ipv6, cidr, url, email, md5, sha1, sha256, sha512, cve, attack-technique, btc, file, registry)"),
        }
    }
    if !(0.0..=1.0).contains(&min_confidence) {
        bail!("--min-confidence must be between 0 and 1, not {min_confidence}");
    }
    let ex = Extractor::new(ExtractOptions {
        dedup: !all,
        min_confidence,
        types: kinds,
        ..Default::default()
    });
    Ok(if no_warninglists {
        ex
    } else {
        ex.with_warning_lists(&store_warninglists(cli)?)
    })
}

fn extract(cli: &Cli, a: &ExtractArgs) -> anyhow::Result<u8> {
    let ex = extractor(
        cli,
        &a.types,
        a.min_confidence,
        a.all_occurrences,
        a.no_warninglists,
    )?;
    let t0 = Instant::now();
    let res = if a.file == "-" {
        ex.extract_reader(std::io::stdin().lock())
            .context("reading stdin")?
    } else {
        let f = std::fs::File::open(&a.file).with_context(|| format!("opening {}", a.file))?;
        ex.extract_reader(std::io::BufReader::with_capacity(1 << 20, f))
            .with_context(|| format!("reading {}", a.file))?
    };
    let secs = t0.elapsed().as_secs_f64();
    let summary = res.report.summary();
    if !summary.is_empty() {
        eprintln!("vigil: {}: {summary}", a.file);
    }
    if a.json {
        crate::output::json(&res)?;
    } else {
        let mut out = BufWriter::new(std::io::stdout().lock());
        for i in &res.indicators {
            writeln!(
                out,
                "{:<16} {:<5} {:>10}  {}",
                i.kind.as_str(),
                format!("{:.2}", i.confidence),
                i.offset,
                i.value
            )?;
        }
        out.flush()?;
        eprintln!(
            "{} indicators in {} bytes ({:.2} s)",
            res.indicators.len(),
            res.report.bytes,
            secs
        );
    }
    Ok(0)
}

fn tag(cli: &Cli, a: &TagArgs) -> anyhow::Result<u8> {
    let tagger = load_tagger(cli, &a.models.models)?;
    let bytes = read_input(&a.file)?;
    let text = report_text(&bytes, &a.file)?;
    let mut res = tagger.tag(&text);
    // Names come from the attribution model's ATT&CK tables; without it the ids alone are printed.
    if let Ok(names) = load_attributor(cli, &a.models.models) {
        for t in &mut res.techniques {
            t.name = names.technique_name(&t.id).map(str::to_string);
        }
    }
    if a.models.json {
        crate::output::json(&res)?;
        return Ok(0);
    }
    if res.techniques.is_empty() {
        out!("no ATT&CK technique found");
    }
    for t in &res.techniques {
        let name = t.name.as_deref().unwrap_or("");
        out!("{:<10} {:.2}  {name}", t.id, t.score);
        for e in &t.evidence {
            let e: String = e.split_whitespace().collect::<Vec<_>>().join(" ");
            let short: String = e.chars().take(160).collect();
            let more = if short.len() < e.len() { "..." } else { "" };
            out!("           \"{short}{more}\"");
        }
    }
    Ok(0)
}

fn score_domains(cli: &Cli, a: &ScoreDomainsArgs) -> anyhow::Result<u8> {
    let model = load_domain(cli, &a.models.models)?;
    let mut legacy = None;
    let (reader, interactive): (Box<dyn BufRead>, bool) = if a.file == "-" {
        let stdin = std::io::stdin();
        let tty = stdin.is_terminal();
        (Box::new(std::io::BufReader::new(stdin)), tty)
    } else {
        let f = std::fs::File::open(&a.file).with_context(|| format!("opening {}", a.file))?;
        // A list saved by Windows PowerShell 5.1 is UTF-16 with a byte-order mark: read as its text; one saved in
        // a Windows code page (`bücher.de` in windows-1252) is decoded from its first byte that is not UTF-8.
        // Not stdin, whose reader would wait for 64 KiB before judging, while someone types.
        let f = vigil_formats::input::utf16_as_utf8(Box::new(f))
            .with_context(|| format!("reading {}", a.file))?;
        let f = vigil_model::encoding::Utf8OrLegacy::new(f);
        legacy = Some(f.note());
        (
            Box::new(std::io::BufReader::with_capacity(1 << 20, f)),
            false,
        )
    };
    let threads = match a.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    };
    // Names are scored a batch at a time, the batch split between the threads; someone typing gets each
    // answer at once.
    let batch_max = if interactive { 1 } else { SCORE_BATCH };
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut batch = NameBatch::default();
    let mut scores: Vec<f64> = Vec::new();
    let mut line = Vec::with_capacity(256);
    let mut reader = reader;
    let mut n = 0u64;
    let mut bad = 0u64;
    loop {
        line.clear();
        // Lines are read capped so that a binary file with no newline cannot exhaust memory.
        let got = vigil_formats::iocs::read_line_capped(&mut reader, &mut line)
            .with_context(|| format!("reading {}", a.file))?;
        if got > 0 {
            n += 1;
            match domain_line(&line) {
                Ok(Some(d)) => batch.push(d),
                Ok(None) => {}
                Err(why) => {
                    bad += 1;
                    eprintln!("vigil: {} line {n}: {why}", a.file);
                }
            }
        }
        if a.explain && !batch.is_empty() {
            // One name at a time: an explanation is for reading, not for a million names a second.
            for d in batch.iter() {
                let e = model.explain(d);
                if a.models.json {
                    serde_json::to_writer(&mut out, &e)?;
                    out.write_all(b"\n")?;
                } else {
                    write_explanation(&mut out, &e)?;
                }
            }
            batch.clear();
            if interactive {
                out.flush()?;
            }
        }
        if batch.len() >= batch_max || (got == 0 && !batch.is_empty()) {
            let names: Vec<&str> = batch.iter().collect();
            model.score_many(&names, threads, &mut scores);
            for (d, score) in names.iter().zip(&scores) {
                if a.models.json {
                    // The object written field by field (no map built per line; the same bytes as
                    // serialising `{"domain": d, "score": score}`): at a million names a second the per-line
                    // map cost more than the model.
                    out.write_all(b"{\"domain\":")?;
                    serde_json::to_writer(&mut out, d)?;
                    out.write_all(b",\"score\":")?;
                    serde_json::to_writer(&mut out, score)?;
                    out.write_all(b"}\n")?;
                } else {
                    writeln!(out, "{score:.4}\t{d}")?;
                }
            }
            batch.clear();
            if interactive {
                out.flush()?;
            }
        }
        if got == 0 {
            break;
        }
    }
    out.flush()?;
    if let Some(s) = legacy.as_ref().and_then(|n| n.get()) {
        eprintln!(
            "vigil: {} line {}: not UTF-8 from here on: read as {} (the encoding is a guess from the bytes)",
            a.file,
            s.line,
            s.encoding.name()
        );
    }
    Ok(if bad > 0 { 1 } else { 0 })
}

/// An explained score as text: the score line, then one line per signal, strongest first.
fn write_explanation(
    out: &mut impl Write,
    e: &vigil_ml::domain::DomainExplanation,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{:.4}\t{}\t(log-odds {:+.2}; registered domain {}{})",
        e.score,
        e.domain,
        e.log_odds,
        e.registered_domain,
        if e.dynamic_dns {
            ", under a dynamic-DNS provider"
        } else {
            ""
        }
    )?;
    for x in &e.evidence {
        let pieces = x.parts_are_name_pieces();
        let top: Vec<String> = x
            .top
            .iter()
            .map(|p| {
                if pieces {
                    format!("`{}` {:+.2}", p.text, p.weight)
                } else {
                    format!("{} {:+.2}", p.text, p.weight)
                }
            })
            .collect();
        write!(out, "  {:+6.2}  {:<14} {}", x.weight, x.signal, x.detail)?;
        if !top.is_empty() {
            let lead = if pieces {
                "most"
            } else {
                "by what the trees read"
            };
            write!(out, "; {lead}: {}", top.join(", "))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Names per scoring batch: large enough that starting the threads costs nothing measurable (a batch is
/// tens of milliseconds of scoring), small enough to keep memory flat on any input.
const SCORE_BATCH: usize = 1 << 15;

/// The domain on one input line, None for an empty or `#` comment line, or why the line is skipped.
fn domain_line(line: &[u8]) -> Result<Option<&str>, &'static str> {
    let s = std::str::from_utf8(line)
        .map_err(|_| "not UTF-8, skipped (domains are ASCII or punycode)")?
        .trim();
    if s.is_empty() || s.starts_with('#') {
        Ok(None)
    } else if s.len() > 253 {
        Err("not a domain name (longer than 253 characters), skipped")
    } else if s.contains(char::is_whitespace) {
        Err("not a domain name (contains white space), skipped")
    } else if s.contains(char::is_control) {
        Err("not a domain name (contains control characters such as NUL; UTF-16 text is read from a file, not from standard input), skipped")
    } else {
        Ok(Some(s))
    }
}

/// Names kept in one buffer (no allocation per name).
#[derive(Default)]
struct NameBatch {
    text: String,
    ends: Vec<usize>,
}

impl NameBatch {
    fn push(&mut self, d: &str) {
        self.text.push_str(d);
        self.ends.push(self.text.len());
    }
    fn len(&self) -> usize {
        self.ends.len()
    }
    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }
    fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, b)| &self.text[a..*b])
    }
}

/// True for an ATT&CK technique id (`T1059`, `T1059.001`).
fn is_technique_id(s: &str) -> bool {
    let b = s.as_bytes();
    let main =
        b.len() >= 5 && (b[0] == b'T' || b[0] == b't') && b[1..5].iter().all(u8::is_ascii_digit);
    main && (b.len() == 5
        || (b.len() == 9 && b[5] == b'.' && b[6..].iter().all(u8::is_ascii_digit)))
}

fn attribute(cli: &Cli, a: &AttributeArgs) -> anyhow::Result<u8> {
    if a.techniques.is_empty() && a.software.is_empty() && a.indicators.is_empty() {
        bail!("give at least one --technique, --software or --indicator");
    }
    let model = load_attributor(cli, &a.models.models)?;
    let mut q = Query::default();
    for t in &a.techniques {
        let t = t.trim();
        if !is_technique_id(t) {
            bail!("--technique `{t}` is not an ATT&CK technique id (T1059 or T1059.001)");
        }
        q.techniques.push(t.to_ascii_uppercase());
    }
    for s in &a.software {
        match model.software_id(s.trim()) {
            Some(id) => q.software.push(id),
            None => {
                bail!("--software `{s}` is not an ATT&CK software id or name known to the model")
            }
        }
    }
    for i in &a.indicators {
        let v = vigil_model::observable::refang(i.trim()).to_lowercase();
        q.indicators.push(v);
    }
    if let Some(store) = existing_store(cli)? {
        q.attributed = store_attributions(&*store, &q.indicators)?;
    }
    let res = model.rank(&q, a.top.max(1));
    if a.models.json {
        crate::output::json(&res)?;
        return Ok(0);
    }
    if res.groups.is_empty() {
        out!("no known group overlaps with what was given");
    }
    for (i, g) in res.groups.iter().enumerate() {
        out!("{:>2}. {:<8} {:<32} {:.3}", i + 1, g.id, g.name, g.score);
        let ev: Vec<String> = g
            .evidence
            .iter()
            .map(|e| format!("{} {} ({})", e.kind, e.id, e.name))
            .collect();
        if !ev.is_empty() {
            out!("      {}", ev.join("; "));
        }
    }
    Ok(0)
}

/// What the knowledge base says of indicator values: for each value's indicator, the actors it `indicates`, and
/// the actors its families are `attributed-to` (an actor's IOC list: `apt_gamaredon` -> Gamaredon Group), as
/// (value, the actor's ATT&CK id or else name, what says so) for `Query::attributed`.
pub(crate) fn store_attributions(
    store: &dyn vigil_store::Store,
    values: &[String],
) -> anyhow::Result<Vec<(String, String, String)>> {
    let actor_key = |r: &vigil_store::Related| {
        r.external_id
            .clone()
            .filter(|x| x.starts_with('G'))
            .or_else(|| r.name.clone())
    };
    let is_actor = |t: &str| t == "intrusion-set" || t == "threat-actor";
    // A family's actors, read once: `related` summarises every edge of a family, and a list's family has one
    // per line (1.3 s for the 63,001 of maltrail's `apt_gamaredon`).
    let mut family_actors: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    let mut out = Vec::new();
    for v in values {
        let Some(o) = vigil_model::Observable::detect(v) else {
            continue;
        };
        for r in store.related(&o.indicator_id())? {
            if r.relationship_type != "indicates" || r.direction != "out" {
                continue;
            }
            let what = r.name.clone().unwrap_or_else(|| r.id.clone());
            if is_actor(&r.type_) {
                if let Some(k) = actor_key(&r) {
                    out.push((v.clone(), k, format!("knowledge base: indicates {what}")));
                }
                continue;
            }
            if !family_actors.contains_key(&r.id) {
                let actors = store
                    .related(&r.id)?
                    .iter()
                    .filter(|a| {
                        a.relationship_type == "attributed-to"
                            && a.direction == "out"
                            && is_actor(&a.type_)
                    })
                    .filter_map(actor_key)
                    .collect();
                family_actors.insert(r.id.clone(), actors);
            }
            for k in family_actors.get(&r.id).into_iter().flatten() {
                out.push((
                    v.clone(),
                    k.clone(),
                    format!("knowledge base: an indicator of {what}"),
                ));
            }
        }
    }
    Ok(out)
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn train(cli: &Cli, a: &TrainArgs) -> anyhow::Result<u8> {
    let task = a.task.as_deref().map(Task::parse).transpose()?;
    if !a.corpus.is_dir() {
        bail!(
            "corpus {} is not a directory (expected the shared data: tram/, maltrail/, misp-warninglists/, mitre-attack/, misp-galaxy/)",
            a.corpus.display()
        );
    }
    let out = a.out.clone().unwrap_or_else(|| cli.data.join("models"));
    let t0 = Instant::now();
    let arts = vigil_ml::train(task, &a.corpus)
        .with_context(|| format!("training from {}", a.corpus.display()))?;
    let secs = t0.elapsed().as_secs_f64();
    let mut rows = Vec::new();
    let mut stale = Vec::new();
    if a.check {
        for art in &arts {
            let p = out.join(art.file_name);
            let same = std::fs::read(&p).map(|b| b == art.bytes).unwrap_or(false);
            if !same {
                stale.push(p.display().to_string());
            }
            rows.push(json!({"task": art.task, "file": p, "bytes": art.bytes.len(), "sha256": sha256_hex(&art.bytes), "fresh": same}));
        }
    } else {
        let paths = vigil_ml::write_artifacts(&out, &arts)?;
        for (art, p) in arts.iter().zip(paths) {
            rows.push(json!({"task": art.task, "file": p, "bytes": art.bytes.len(), "sha256": sha256_hex(&art.bytes)}));
        }
    }
    if a.json {
        crate::output::json(
            &json!({"artifacts": rows, "seconds": (secs * 10.0).round() / 10.0, "check": a.check}),
        )?;
    } else {
        for r in &rows {
            out!(
                "{} {} ({} bytes, sha256 {}){}",
                if a.check { "checked" } else { "wrote" },
                r["file"].as_str().unwrap_or_default(),
                r["bytes"],
                r["sha256"].as_str().unwrap_or_default(),
                match r.get("fresh").and_then(|f| f.as_bool()) {
                    Some(true) => ": identical",
                    Some(false) => ": DIFFERS",
                    None => "",
                }
            );
        }
        out!("trained in {secs:.1} s");
    }
    if !stale.is_empty() {
        eprintln!(
            "vigil: stale artifacts (differ from what the training code gives): {}; run `vigil ml train --out {}`",
            stale.join(", "),
            out.display()
        );
        return Ok(1);
    }
    Ok(0)
}

fn eval(cli: &Cli, a: &EvalArgs) -> anyhow::Result<u8> {
    let split = match a.split.as_str() {
        "held-out" | "heldout" | "test" => EvalSplit::HeldOut,
        "all" => EvalSplit::All,
        "folds" => EvalSplit::Folds,
        s => bail!("unknown --split `{s}` (held-out, all or folds)"),
    };
    let tasks = match &a.task {
        Some(t) => vec![Task::parse(t)?],
        None if split == EvalSplit::Folds => vec![Task::Tag, Task::Domain],
        None => Task::ALL.to_vec(),
    };
    if !a.corpus.is_dir() {
        bail!("corpus {} is not a directory", a.corpus.display());
    }
    let src = model_source(cli, &a.models.models);
    for t in tasks {
        let t0 = Instant::now();
        let m = vigil_ml::eval(t, &a.corpus, split, &src)
            .with_context(|| format!("evaluating {t} on {}", a.corpus.display()))?;
        let secs = t0.elapsed().as_secs_f64();
        let split_name = match split {
            EvalSplit::All => "all",
            EvalSplit::HeldOut => "held-out",
            EvalSplit::Folds => "folds",
        };
        if a.models.json {
            crate::output::json(
                &json!({"task": t, "split": split_name, "seconds": (secs * 10.0).round() / 10.0, "metrics": m}),
            )?;
        } else {
            out!("## {t} ({split_name}, {secs:.1} s)");
            out!(
                "{}",
                serde_json::to_string_pretty(&m).unwrap_or_else(|e| e.to_string())
            );
        }
    }
    Ok(0)
}

fn info(cli: &Cli, a: &ModelsFlag) -> anyhow::Result<u8> {
    let src = model_source(cli, &a.models);
    let origin = |file: &str| match pick(&src, a.models.is_some(), file) {
        Some(p) => p.display().to_string(),
        None => "built-in".to_string(),
    };
    let mut rows = Vec::new();
    let push = |rows: &mut Vec<serde_json::Value>,
                file: &str,
                h: Result<vigil_ml::artifact::Header, anyhow::Error>| {
        rows.push(match h {
            Ok(h) => json!({"file": file, "origin": origin(file), "model": h.model, "model_version": h.model_version, "data_sha256": h.data_hash_hex()}),
            Err(e) => json!({"file": file, "origin": origin(file), "error": format!("{e:#}")}),
        });
    };
    push(
        &mut rows,
        "tagger.vgm",
        load_tagger(cli, &a.models).map(|m| m.header().clone()),
    );
    push(
        &mut rows,
        "domain.vgm",
        load_domain(cli, &a.models).map(|m| m.header().clone()),
    );
    push(
        &mut rows,
        "attribution.vgm",
        load_attributor(cli, &a.models).map(|m| m.header().clone()),
    );
    let bad = rows.iter().any(|r| r.get("error").is_some());
    if a.json {
        crate::output::json(&json!({"models": rows}))?;
    } else {
        for r in &rows {
            match r.get("error") {
                Some(e) => out!(
                    "{:<16} {}: {}",
                    r["file"].as_str().unwrap_or_default(),
                    r["origin"].as_str().unwrap_or_default(),
                    e.as_str().unwrap_or_default()
                ),
                None => out!(
                    "{:<16} {} v{} (training data sha256 {}), {}",
                    r["file"].as_str().unwrap_or_default(),
                    r["model"].as_str().unwrap_or_default(),
                    r["model_version"],
                    r["data_sha256"].as_str().unwrap_or_default(),
                    r["origin"].as_str().unwrap_or_default()
                ),
            }
        }
    }
    Ok(if bad { 1 } else { 0 })
}
