//! Readers of threat-intelligence formats into the Vigil model.
//!
//! Every reader takes bytes (a `BufRead`) and a [`ParseCtx`], and emits [`Item`]s one at a time through a callback,
//! so that input of any size streams through in bounded memory. A malformed object becomes an [`Item::Reject`]
//! naming where and why; only input that cannot be read at all is a [`FormatError`].
//!
//! Invariant: no store, no network, no printing. Input framing (files, folders, archives, compression) is
//! [`input`]; formats are the other modules.

pub mod galaxy;
pub mod input;
pub mod iocs;
mod jsonsplit;
pub mod misp;
mod misp_repair;
pub mod stix;
pub mod warninglist;

use std::io::BufRead;

use vigil_model::{warninglist::WarningList, StixObject};

/// Context every reader gets.
#[derive(Debug, Clone)]
pub struct ParseCtx {
    /// Source name for provenance (`--source`, else derived from the file name).
    pub source: String,
    /// The file (or archive member) name, for error locations.
    pub file: String,
    /// Confidence to give objects that carry none (`--confidence`).
    pub confidence: Option<u8>,
    /// Timestamp used as created/modified of objects Vigil derives.
    pub now: String,
}

/// A request to link an object to an existing one found by name, alias, external id or STIX id.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The object the reader produced.
    pub from: String,
    pub relationship_type: String,
    /// When true the relationship goes from the found object to `from`.
    pub reverse: bool,
    /// Acceptable types of the found object, best first.
    pub target_types: Vec<String>,
    /// Keys to look the target up by, best first (names, aliases, ATT&CK ids, STIX ids).
    pub keys: Vec<String>,
    /// Created and linked when nothing is found; None means "no link when nothing is found".
    pub fallback: Option<StixObject>,
    /// Markings the relationship inherits (those of `from`).
    pub marking_refs: Vec<String>,
    /// The link follows the best target its keys find as objects arrive: it stays pending after it is made, and
    /// moves (the older relationship is revoked) when a later input stores an object its keys find first. An actor
    /// list's one link to its actor, so the actor does not depend on which of ATT&CK and the galaxies came first.
    pub follow: bool,
}

/// What a reader emits.
#[derive(Debug, Clone)]
pub enum Item {
    /// A STIX object. `derived` when Vigil minted it (deterministic id over its content).
    Object {
        object: StixObject,
        original_id: Option<String>,
        derived: bool,
    },
    Link(Link),
    WarningList(WarningList),
    /// A part of the input that was not stored: `location` is a JSON path or line, `reason` says why.
    Reject {
        location: String,
        reason: String,
    },
}

/// Input that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Not in the format expected, or not recognisable as any format.
    #[error("{file}: {reason}")]
    Unreadable { file: String, reason: String },
    /// An IO error (including a truncated compressed stream) after `read` bytes/items.
    #[error("{file}: read error: {reason}")]
    Io { file: String, reason: String },
    /// The consumer stopped the stream (e.g. the store failed).
    #[error("{0}")]
    Sink(String),
}

/// The callback readers emit through.
pub type Emit<'a> = dyn FnMut(Item) -> Result<(), FormatError> + 'a;

/// The formats `vigil ingest --format` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Stix,
    Misp,
    MispFeed,
    Galaxy,
    WarningList,
    Iocs,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "stix" => Format::Stix,
            "misp" => Format::Misp,
            "misp-feed" => Format::MispFeed,
            "galaxy" => Format::Galaxy,
            "warninglist" => Format::WarningList,
            "iocs" => Format::Iocs,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Stix => "stix",
            Format::Misp => "misp",
            Format::MispFeed => "misp-feed",
            Format::Galaxy => "galaxy",
            Format::WarningList => "warninglist",
            Format::Iocs => "iocs",
        }
    }

    /// Sources that are public references: unmarked objects from them are TLP:CLEAR.
    pub fn is_public_reference(self) -> bool {
        matches!(self, Format::Galaxy | Format::WarningList)
    }
}

/// Guesses the format from the first bytes of a file (and its name). None when it is none of ours.
pub fn detect(name: &str, head: &[u8]) -> Option<Format> {
    let text = head_text(head);
    let t = head_start(&text);
    if t.starts_with('{') || t.starts_with('[') {
        let compact: String = t
            .chars()
            .filter(|c| !c.is_whitespace())
            .take(16 * 1024)
            .collect();
        if compact.contains("\"type\":\"bundle\"")
            || (compact.contains("\"spec_version\":\"2.") && compact.contains("\"objects\":["))
        {
            return Some(Format::Stix);
        }
        if compact.starts_with("{\"Event\":")
            || compact.contains("\"Event\":{")
            || compact.starts_with("{\"response\":")
        {
            return Some(Format::Misp);
        }
        // A bare event as PyMISP writes it: MISP's capitalised lists or its event-only key (a feed manifest
        // carries that key too, and is recognised by its name below).
        if compact.starts_with('{')
            && !name.ends_with("manifest.json")
            && (compact.contains("\"Attribute\":[")
                || compact.contains("\"Object\":[")
                || compact.contains("\"threat_level_id\":"))
        {
            return Some(Format::Misp);
        }
        // Warning lists put `matching_attributes` after a `list` that can be 10,000 entries long, so the start of
        // the list, next to the other keys sorted before it, has to do.
        if compact.contains("\"list\":[")
            && (compact.contains("\"matching_attributes\"")
                || compact.starts_with("{\"description\":"))
        {
            return Some(Format::WarningList);
        }
        if compact.contains("\"values\":[")
            && compact.contains("\"uuid\":")
            && (compact.contains("\"authors\":") || compact.contains("\"category\":"))
        {
            return Some(Format::Galaxy);
        }
        if compact.contains("\"type\":\"")
            && compact.contains("\"id\":\"")
            && compact.contains("--")
        {
            // A lone STIX object or an array of them.
            return Some(Format::Stix);
        }
        if name.ends_with("manifest.json") {
            return Some(Format::MispFeed);
        }
        return None;
    }
    // Text: an IOC list when most non-comment lines look like indicators and it is not a marked-up document.
    let (seen, good) = indicator_lines(t);
    if seen > 0 && good * 2 >= seen && !is_document(t) {
        return Some(Format::Iocs);
    }
    None
}

/// The first 64 KiB of a stream as text (invalid UTF-8 replaced), for sniffing.
fn head_text(head: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(&head[..head.len().min(64 * 1024)])
}

/// The text after a byte-order mark and leading white space.
fn head_start(text: &str) -> &str {
    text.trim_start_matches('\u{feff}').trim_start()
}

/// Non-comment lines and those whose first field is an indicator, in the first 200 lines.
fn indicator_lines(t: &str) -> (usize, usize) {
    let mut seen = 0;
    let mut good = 0;
    for line in t.lines().take(200) {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with("//") {
            continue;
        }
        seen += 1;
        let first = l.split([',', ';', '\t', ' ']).next().unwrap_or("");
        if vigil_model::Observable::detect(first).is_some() {
            good += 1;
        }
    }
    (seen, good)
}

/// An AsciiDoc or Markdown document (ESET's `README.adoc` indicator pages): titles, block delimiters, tables,
/// attributes. Read line by line, its prose and reference links (the vendor's own blog post) would become
/// indicators and its file name a malware family; `--format report` reads it as a report instead.
fn is_document(t: &str) -> bool {
    t.lines().take(200).any(|line| {
        let l = line.trim_end();
        let delimiter = l.len() >= 4
            && b"-=.*_+".contains(&l.as_bytes()[0])
            && l.bytes().all(|b| b == l.as_bytes()[0]);
        let heading =
            (l.starts_with("= ") || l.starts_with("== ") || l.starts_with("=== ")) && l.len() > 3;
        let attribute = l.len() > 2
            && l.starts_with(':')
            && l[1..].find(':').is_some_and(|i| {
                i > 0
                    && l[1..1 + i]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        delimiter || heading || attribute || l.starts_with("|===") || l.starts_with("```")
    })
}

/// Why a stream of no known format was not read, for the error report.
pub fn unknown_reason(head: &[u8]) -> String {
    let text = head_text(head);
    let t = head_start(&text);
    let (_, good) = indicator_lines(t);
    if good > 0 && is_document(t) {
        return "an AsciiDoc or Markdown document with indicators, not an IOC list: `--format report` extracts \
                them as suggestions to review (its reference links are left out), `--format iocs` reads it \
                line by line"
            .to_string();
    }
    "unknown format (not STIX, MISP, a galaxy, a warning list or an IOC list); use --format"
        .to_string()
}

/// Runs the reader for `format` over one stream.
pub fn parse(
    format: Format,
    r: &mut dyn BufRead,
    ctx: &ParseCtx,
    emit: &mut Emit<'_>,
) -> Result<(), FormatError> {
    match format {
        Format::Stix => stix::parse(r, ctx, emit),
        Format::Misp => misp::parse_event(r, ctx, emit),
        Format::Galaxy => galaxy::parse(r, ctx, emit),
        Format::WarningList => warninglist::parse(r, ctx, emit),
        Format::Iocs => iocs::parse(r, ctx, emit),
        Format::MispFeed => Err(FormatError::Unreadable {
            file: ctx.file.clone(),
            reason: "a MISP feed is a folder (manifest.json plus events); give the folder".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of ESET's `README.adoc` indicator pages: a title, a reference link, delimited blocks.
    const ADOC: &str = "= Operation X -- Indicators of Compromise\n\nThe blog post is available on WeLiveSecurity at\n\
        https://www.welivesecurity.com/en/eset-research/x/\n\n== Files\n\n----\n\
        136067AC519C23EF7B9E8EB788D1F5366CCC5045\nC0A6755FF0CCA3F13E3C9980D68B77A835B15E89\n\
        0951252E7052AB86208B4F42EB61FC40CA8A6E29\nB4B43FD2E15FF54F8954BAC6EA69634701A96B96\n----\n\n\
        == Network indicators\n\n----\npss.aakredit[.]in\nwww.guayabacash[.]com\neg.easycredit-app[.]com\n----\n";

    #[test]
    fn documents_with_indicators_are_not_ioc_lists() {
        assert_eq!(detect("README.adoc", ADOC.as_bytes()), None);
        assert!(unknown_reason(ADOC.as_bytes()).contains("--format report"));
        // The same values without the markup are a list.
        let list: String = ADOC
            .lines()
            .filter(|l| !l.starts_with('=') && !l.starts_with("----") && !l.starts_with("The "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(detect("x.txt", list.as_bytes()), Some(Format::Iocs));
        // Markdown fences and tables, AsciiDoc attributes.
        for doc in [
            "```\nevil.example\n203.0.113.7\n```\n",
            "|===\n|evil.example\n203.0.113.7\nbad.example\n",
            ":toc:\nevil.example\n203.0.113.7\n",
        ] {
            assert_eq!(detect("x.md", doc.as_bytes()), None, "{doc}");
        }
        // Lists as maltrail and others write them stay lists: comments, inline comments, CSV columns, URL paths.
        for list in [
            "# Reference: https://example.org/x\nevil.example # seen 2024\n203.0.113.7\n/gate.php\n",
            "evil.example,domain,C2 server - seen 2024-01-01\n203.0.113.7,ipv4,\n",
            "// comment\n:evil.example\n203.0.113.7\n",
        ] {
            assert_eq!(detect("x.txt", list.as_bytes()), Some(Format::Iocs), "{list}");
        }
        assert!(unknown_reason(b"just some prose\nand more prose\n").starts_with("unknown format"));
    }
}
