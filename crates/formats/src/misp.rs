//! MISP events (`{"Event":..}`, `{"response":[..]}`, a bare event object) and MISP feed manifests.
//!
//! An event becomes a STIX `report` (id derived from the event uuid, created by an `identity` for the creator org);
//! its attributes and objects become observables (SCOs) and, when meant for detection (`to_ids`), indicators whose id
//! is derived from the pattern, so the same value from two sources is one indicator. `tlp:*` tags become TLP 2.0
//! markings (attribute tags override the event's). Galaxies become [`Link`]s: from the report (`related-to`) and, for
//! malware families, from each indicator (`indicates`), resolved by the ingest layer against what the store holds.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Read};

use serde_json::{json, Map, Value};
use vigil_model::observable::normalize_hash;
use vigil_model::{ids, Observable, ObservableKind, StixObject, Tlp};

use crate::galaxy::{galaxy_time, Cluster, GalaxyKind};
use crate::iocs::indicator_for;
use crate::jsonsplit::{self, Cut, Raw, SplitError, Splitter};
use crate::{Emit, FormatError, Item, Link, ParseCtx};

/// Largest JSON document read whole (an event, a galaxy, a warning list, a manifest). MISP events are a few MB;
/// anything this large is not one and is refused before it exhausts memory.
pub const MAX_DOCUMENT: u64 = 256 * 1024 * 1024;

/// Reads one whole JSON document. Syntax errors (including nesting beyond serde_json's limit of 128) are
/// `Unreadable` with line and column; read errors (a truncated gzip) are `Io`.
pub(crate) fn read_document(r: &mut dyn BufRead, file: &str) -> Result<Value, FormatError> {
    let mut buf = Vec::new();
    let mut limited = r.take(MAX_DOCUMENT + 1);
    limited.read_to_end(&mut buf).map_err(|e| FormatError::Io {
        file: file.to_string(),
        reason: e.to_string(),
    })?;
    if buf.len() as u64 > MAX_DOCUMENT {
        return Err(FormatError::Unreadable {
            file: file.to_string(),
            reason: format!(
                "larger than {} MiB, too large for one JSON document",
                MAX_DOCUMENT >> 20
            ),
        });
    }
    document_from(&buf, file)
}

/// Parses one whole JSON document read into memory.
fn document_from(buf: &[u8], file: &str) -> Result<Value, FormatError> {
    let text = buf.strip_prefix(b"\xef\xbb\xbf").unwrap_or(buf);
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(FormatError::Unreadable {
            file: file.to_string(),
            reason: "empty input".into(),
        });
    }
    serde_json::from_slice(text).map_err(|e| FormatError::Unreadable {
        file: file.to_string(),
        reason: format!("not valid JSON: {e}"),
    })
}

/// One event listed in a MISP feed's `manifest.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The manifest key: the event uuid (lower-cased when valid).
    pub uuid: String,
    pub info: Option<String>,
    /// The event date (`YYYY-MM-DD`).
    pub date: Option<String>,
    /// Last change, seconds since the epoch.
    pub timestamp: Option<i64>,
    pub orgc_name: Option<String>,
    pub orgc_uuid: Option<String>,
    /// Tag names (`tlp:white`, `misp-galaxy:...`).
    pub tags: Vec<String>,
    pub threat_level_id: Option<i64>,
    pub analysis: Option<i64>,
    /// Why this entry cannot be read (its key is not a uuid, its value is not an object); None when it can.
    pub problem: Option<String>,
}

impl ManifestEntry {
    /// The event file beside the manifest (`<uuid>.json`), None when the entry has a problem. Only valid uuids
    /// get a file name, so a hostile manifest cannot name `../../etc/passwd`.
    pub fn file_name(&self) -> Option<String> {
        self.problem
            .is_none()
            .then(|| format!("{}.json", self.uuid))
    }
}

fn int_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn valid_uuid(s: &str) -> Option<String> {
    let s = s.trim();
    (s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()).then(|| s.to_ascii_lowercase())
}

/// Tag names of a `Tag` list (`[{"name":..}]`, or plain strings).
fn tag_names(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| match t {
                    Value::String(s) => Some(s.as_str()),
                    Value::Object(m) => m.get("name").and_then(Value::as_str),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a MISP feed `manifest.json` (`{"<event uuid>": {"info":..,"Orgc":{..},"Tag":[..],"timestamp":..}, ...}`).
pub fn parse_manifest(r: &mut dyn BufRead, file: &str) -> Result<Vec<ManifestEntry>, FormatError> {
    let doc = read_document(r, file)?;
    let Value::Object(top) = doc else {
        return Err(FormatError::Unreadable {
            file: file.to_string(),
            reason: "not a MISP feed manifest: not a JSON object keyed by event uuid".into(),
        });
    };
    let mut out = Vec::with_capacity(top.len());
    for (key, v) in &top {
        let mut e = ManifestEntry {
            uuid: key.clone(),
            ..Default::default()
        };
        match valid_uuid(key) {
            Some(u) => e.uuid = u,
            None => {
                e.problem = Some(format!(
                    "manifest key `{}` is not an event uuid",
                    key.chars().take(80).collect::<String>()
                ))
            }
        }
        let Some(m) = v.as_object() else {
            e.problem
                .get_or_insert_with(|| "manifest entry is not a JSON object".into());
            out.push(e);
            continue;
        };
        e.info = m.get("info").and_then(Value::as_str).map(str::to_string);
        e.date = m.get("date").and_then(Value::as_str).map(str::to_string);
        e.timestamp = int_of(m.get("timestamp"));
        e.threat_level_id = int_of(m.get("threat_level_id"));
        e.analysis = int_of(m.get("analysis"));
        if let Some(org) = m.get("Orgc").and_then(Value::as_object) {
            e.orgc_name = org.get("name").and_then(Value::as_str).map(str::to_string);
            e.orgc_uuid = org.get("uuid").and_then(Value::as_str).and_then(valid_uuid);
        }
        e.tags = tag_names(m.get("Tag"))
            .into_iter()
            .map(str::to_string)
            .collect();
        out.push(e);
    }
    Ok(out)
}

/// An event found in a document (its JSON path and object), or a part that is not one (location, reason).
type Found<'a> = Result<(String, &'a Map<String, Value>), (String, String)>;

/// Where the events of a document are, or why it holds none.
fn find_events(doc: &Value) -> Result<Vec<Found<'_>>, String> {
    match doc {
        Value::Object(m) => {
            if let Some(ev) = m.get("Event") {
                return match ev {
                    Value::Object(e) => Ok(vec![Ok(("Event".into(), e))]),
                    _ => Err("not a MISP event: `Event` is not a JSON object".into()),
                };
            }
            if let Some(resp) = m.get("response") {
                let Some(list) = resp.as_array() else {
                    return Err("not a MISP event: `response` is not a list".into());
                };
                return Ok(list
                    .iter()
                    .enumerate()
                    .map(|(i, x)| response_item(i, x))
                    .collect());
            }
            if is_bare_event(m) {
                return Ok(vec![Ok(("Event".into(), m))]);
            }
            let keys: Vec<String> = m
                .keys()
                .take(10)
                .map(|k| k.chars().take(40).collect())
                .collect();
            let hint = if m.get("type").and_then(Value::as_str) == Some("bundle") {
                " (a STIX bundle: use --format stix)"
            } else if m.contains_key("GalaxyCluster")
                || (m.contains_key("values") && m.contains_key("authors"))
            {
                " (a MISP galaxy)"
            } else if m.contains_key("list") && m.contains_key("matching_attributes") {
                " (a MISP warning list)"
            } else {
                ""
            };
            let keys = if keys.is_empty() {
                "(none)".to_string()
            } else {
                keys.join(", ")
            };
            Err(format!("not a MISP event: top-level keys are {keys}{hint}"))
        }
        Value::Array(a) => {
            let events: Vec<_> = a
                .iter()
                .enumerate()
                .filter_map(|(i, x)| array_item(i, x))
                .collect();
            if events.is_empty() {
                Err(no_events_in_array(a.len()))
            } else {
                Ok(events)
            }
        }
        other => Err(format!(
            "not a MISP event: the document is {}",
            json_kind(other)
        )),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The `i`th item of a `{"response": [..]}` list: an event (wrapped or bare) or a part that is not one.
fn response_item(i: usize, x: &Value) -> Found<'_> {
    match x.as_object() {
        Some(o) => match o.get("Event") {
            Some(Value::Object(e)) => Ok((format!("response[{i}].Event"), e)),
            _ if is_bare_event(o) => Ok((format!("response[{i}]"), o)),
            _ => Err((format!("response[{i}]"), "not a MISP event".to_string())),
        },
        None => Err((format!("response[{i}]"), "not a JSON object".to_string())),
    }
}

/// The `i`th item of a JSON array of `{"Event": ..}`: other items are not reported (the array is refused whole
/// when none is an event).
fn array_item(i: usize, x: &Value) -> Option<Found<'_>> {
    match x.get("Event") {
        Some(Value::Object(e)) => Some(Ok((format!("[{i}].Event"), e))),
        _ => None,
    }
}

fn no_events_in_array(n: usize) -> String {
    format!("not a MISP event: a JSON array of {n} items none of which is {{\"Event\": ..}} (a search index or sharing-group list?)")
}

/// An event object without the `{"Event": ..}` wrapper, as PyMISP writes them.
fn is_bare_event(m: &Map<String, Value>) -> bool {
    let list = |k: &str| m.get(k).is_some_and(Value::is_array);
    list("Attribute")
        || list("Object")
        || (m.get("info").is_some_and(Value::is_string)
            && ["date", "uuid", "threat_level_id", "analysis", "Orgc"]
                .iter()
                .any(|k| m.contains_key(*k)))
}

/// Reads one MISP event JSON document (or a `response` list of them).
pub fn parse_event(
    r: &mut dyn BufRead,
    ctx: &ParseCtx,
    emit: &mut Emit<'_>,
) -> Result<(), FormatError> {
    parse_event_within(r, ctx, emit, MAX_DOCUMENT)
}

/// [`parse_event`] with the size of one document (256 MiB there) as a parameter: public so that tests and fuzzing
/// reach the path that reads larger search answers event by event with small inputs.
pub fn parse_event_within(
    r: &mut dyn BufRead,
    ctx: &ParseCtx,
    emit: &mut Emit<'_>,
    limit: u64,
) -> Result<(), FormatError> {
    // One byte past the limit tells a document that fits from one that does not.
    let head =
        crate::input::read_head(r, limit.saturating_add(1)).map_err(|e| FormatError::Io {
            file: ctx.file.clone(),
            reason: e.to_string(),
        })?;
    let bom: usize = if head.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    if head.len() as u64 > limit {
        // More than one document may be: MISP's answer to a search (`{"response": [..]}`, or an array of
        // `{"Event": ..}`) for a whole instance runs to gigabytes; it is read event by event.
        let mut head = std::io::Cursor::new(head);
        head.set_position(bom as u64);
        let r = std::io::BufReader::with_capacity(1 << 20, head.chain(r));
        return stream_events(r, ctx, emit, limit);
    }
    let doc = match document_from(&head, &ctx.file) {
        Ok(doc) => doc,
        // A broken attribute or object (an unescaped quote, a `NaN`) costs only itself: it is cut out and the
        // rest read, when the repaired document is valid JSON as a whole.
        Err(_)
            if let Some((fixed, cut)) =
                crate::misp_repair::repair_event(&head[bom..], "the file") =>
        {
            drop(head);
            return read_repaired(&fixed, cut, ctx, emit);
        }
        // A list of events of which one is not valid JSON: read again event by event, so that the broken one
        // costs only itself. Where the events cannot be told apart (one event, or a fault outside them), the
        // file fails as it did, with the error of reading it whole.
        Err(whole) => {
            // The consumer's own error is returned as it is.
            let mut stopped = false;
            let res = stream_events(
                &head[bom..],
                ctx,
                &mut |item| emit(item).inspect_err(|_| stopped = true),
                limit,
            );
            return match res {
                Err(e) if stopped => Err(e),
                Err(_) => Err(whole),
                Ok(()) => Ok(()),
            };
        }
    };
    drop(head);
    let events = find_events(&doc).map_err(|reason| FormatError::Unreadable {
        file: ctx.file.clone(),
        reason,
    })?;
    for ev in events {
        match ev {
            Ok((prefix, m)) => EventReader::new(ctx, prefix).run(m, emit)?,
            Err((location, reason)) => emit(Item::Reject { location, reason })?,
        }
    }
    Ok(())
}

/// Reads a document repaired by [`crate::misp_repair::repair_event`].
fn read_repaired(
    doc: &Value,
    cut: BTreeMap<String, String>,
    ctx: &ParseCtx,
    emit: &mut Emit<'_>,
) -> Result<(), FormatError> {
    let events = find_events(doc).map_err(|reason| FormatError::Unreadable {
        file: ctx.file.clone(),
        reason,
    })?;
    // A bare event's items are placed below `Event`, as the reader places them.
    let cut = cut
        .into_iter()
        .map(|(at, why)| {
            if at.starts_with("Attribute") || at.starts_with("Object") {
                (format!("Event.{at}"), why)
            } else {
                (at, why)
            }
        })
        .collect();
    with_cuts(cut, emit, |emit| {
        for ev in events {
            match ev {
                Ok((prefix, m)) => EventReader::new(ctx, prefix).run(m, emit)?,
                Err((location, reason)) => emit(Item::Reject { location, reason })?,
            }
        }
        Ok(())
    })
}

/// Runs `read` with each item cut out of a repaired event (now `null`, placed as in `cut`) rejected at its
/// place with the reason it was cut, instead of as a `null`; an item the reader passed over is still reported.
fn with_cuts<T>(
    mut cut: BTreeMap<String, String>,
    emit: &mut Emit<'_>,
    read: impl FnOnce(&mut Emit<'_>) -> Result<T, FormatError>,
) -> Result<T, FormatError> {
    let t = read(&mut |item: Item| match item {
        Item::Reject { location, reason } => {
            let reason = cut.remove(&location).unwrap_or(reason);
            emit(Item::Reject { location, reason })
        }
        other => emit(other),
    })?;
    for (location, reason) in cut {
        emit(Item::Reject { location, reason })?;
    }
    Ok(t)
}

/// The events of a document larger than one document may be, read one by one: the items of `response` in an
/// object, or of a top-level array. Each event may be up to `limit` bytes; a larger one is skipped unread and
/// rejected. Anything else this large is refused, as before.
fn stream_events<R: BufRead>(
    r: R,
    ctx: &ParseCtx,
    emit: &mut Emit<'_>,
    limit: u64,
) -> Result<(), FormatError> {
    let file = &ctx.file;
    let mib = limit >> 20;
    let unreadable = |reason: String| FormatError::Unreadable {
        file: file.clone(),
        reason,
    };
    let mut s = Splitter::new(r);
    let mut seen = 0usize;
    let split = |e: SplitError, seen: usize| split_error(file, e, seen);
    let too_large = || format!("larger than {mib} MiB, too large for one JSON document");
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    match s.peek().map_err(|e| split(e, 0))? {
        Some(b'{') => {
            s.expect(b"{", "`{`").map_err(|e| split(e, 0))?;
            let mut saw_response = false;
            if s.peek().map_err(|e| split(e, 0))? != Some(b'}') {
                loop {
                    let key: String = match s.value(1 << 20).map_err(|e| split(e, seen))? {
                        Raw::Bytes(b) => serde_json::from_slice(&b)
                            .map_err(|e| unreadable(format!("not valid JSON: {e}")))?,
                        Raw::TooLarge(_) => return Err(unreadable(too_large())),
                    };
                    s.expect(b":", "`:` after a key")
                        .map_err(|e| split(e, seen))?;
                    if key == "response" && !saw_response {
                        saw_response = true;
                        stream_items(&mut s, ctx, emit, cap, &mut seen, true)?;
                    } else if key == "Event" {
                        return Err(unreadable(format!(
                            "larger than {mib} MiB, too large for one MISP event"
                        )));
                    } else {
                        s.value(0).map_err(|e| split(e, seen))?;
                    }
                    if s.expect(b",}", "`,` or `}` after a value")
                        .map_err(|e| split(e, seen))?
                        == b'}'
                    {
                        break;
                    }
                }
            } else {
                s.expect(b"}", "`}`").map_err(|e| split(e, 0))?;
            }
            if !saw_response {
                return Err(unreadable(format!(
                    "{}, and not a list of MISP events (`{{\"response\": [..]}}`)",
                    too_large()
                )));
            }
        }
        Some(b'[') => {
            let events = stream_items(&mut s, ctx, emit, cap, &mut seen, false)?;
            if events == 0 {
                return Err(unreadable(no_events_in_array(seen)));
            }
        }
        _ => return Err(unreadable(too_large())),
    }
    match s.peek().map_err(|e| split(e, seen))? {
        None => Ok(()),
        Some(byte) => Err(split(
            SplitError::Unexpected {
                byte,
                offset: s.pos,
                expected: "the end of the input",
            },
            seen,
        )),
    }
}

/// A structural error of a streamed answer, after `seen` items.
fn split_error(file: &str, e: SplitError, seen: usize) -> FormatError {
    match e {
        SplitError::Io(e) => FormatError::Io {
            file: file.to_string(),
            reason: format!("read error after {seen} items: {e}"),
        },
        e => FormatError::Unreadable {
            file: file.to_string(),
            reason: format!("not valid JSON: {e} (after {seen} items)"),
        },
    }
}

/// The items of an array of events (`response`, or a top-level array when `!response`), each parsed alone;
/// returns how many were events. `seen` counts the items read.
fn stream_items<R: BufRead>(
    s: &mut Splitter<R>,
    ctx: &ParseCtx,
    emit: &mut Emit<'_>,
    cap: usize,
    seen: &mut usize,
    response: bool,
) -> Result<usize, FormatError> {
    let split = |e: SplitError, seen: usize| split_error(&ctx.file, e, seen);
    let mut events = 0;
    s.expect(b"[", "a list of events")
        .map_err(|e| split(e, *seen))?;
    if s.peek().map_err(|e| split(e, *seen))? == Some(b']') {
        s.expect(b"]", "`]`").map_err(|e| split(e, *seen))?;
        return Ok(0);
    }
    loop {
        let i = *seen;
        let location = item_location(response, i);
        let mut lost = None;
        match s.value_or_desync(cap).map_err(|e| split(e, i))? {
            Cut::Value(Raw::Bytes(b)) => match serde_json::from_slice::<Value>(&b) {
                Ok(x) => {
                    drop(b);
                    events += read_item(ctx, emit, i, &x, response)?;
                }
                // Its brackets and strings pair up, so the events after it can be read: the broken attribute or
                // object is cut out of it, or else the event is rejected alone.
                Err(e) => match crate::misp_repair::repair_event(&b, "the event") {
                    Some((x, cut)) => {
                        drop(b);
                        let cut = cut
                            .into_iter()
                            .map(|(at, why)| (format!("{location}.{at}"), why))
                            .collect();
                        events += with_cuts(cut, emit, |emit| read_item(ctx, emit, i, &x, response))?;
                    }
                    None => emit(Item::Reject {
                        location,
                        reason: format!("not valid JSON: {e}; the events around it were read"),
                    })?,
                },
            },
            Cut::Value(Raw::TooLarge(o)) => emit(Item::Reject {
                location,
                reason: format!(
                    "{} MiB of JSON, larger than the {} MiB one event may be; skipped without being read",
                    o.bytes.div_ceil(1 << 20),
                    cap >> 20
                ),
            })?,
            // An unescaped quote: where this event ends is not known.
            Cut::Desync { held, byte, offset } => {
                s.unread_broken(&held);
                lost = Some(SplitError::Unexpected {
                    byte,
                    offset,
                    expected: jsonsplit::DESYNC_EXPECTED,
                });
            }
        }
        match lost {
            Some(fault) => events += resync_events(s, ctx, emit, cap, seen, response, fault)?,
            None => *seen += 1,
        }
        loop {
            match s.expect(b",]", "`,` or `]` after an event") {
                Ok(b']') => return Ok(events),
                Ok(_) => break,
                Err(fault @ SplitError::Unexpected { .. }) => {
                    events += resync_events(s, ctx, emit, cap, seen, response, fault)?;
                }
                Err(e) => return Err(split(e, *seen)),
            }
        }
    }
}

/// Where the `i`th item of a list of events is: `response[i]` or `[i]`.
fn item_location(response: bool, i: usize) -> String {
    if response {
        format!("response[{i}]")
    } else {
        format!("[{i}]")
    }
}

/// The `i`th item of a list of events, read; returns 1 if it was an event.
fn read_item(
    ctx: &ParseCtx,
    emit: &mut Emit<'_>,
    i: usize,
    x: &Value,
    response: bool,
) -> Result<usize, FormatError> {
    let found = if response {
        Some(response_item(i, x))
    } else {
        array_item(i, x)
    };
    match found {
        Some(Ok((prefix, m))) => {
            EventReader::new(ctx, prefix).run(m, emit)?;
            Ok(1)
        }
        Some(Err((location, reason))) => {
            emit(Item::Reject { location, reason })?;
            Ok(0)
        }
        None => Ok(0),
    }
}

/// After `fault` in a list of events: the next `{"Event": ..}` of the list (the objects and attributes inside
/// events are passed over), read after a reject of what was skipped (item `seen`: the broken event, or what
/// followed the last one read); returns 1. Without one before the end of the input, `fault` is the error.
fn resync_events<R: BufRead>(
    s: &mut Splitter<R>,
    ctx: &ParseCtx,
    emit: &mut Emit<'_>,
    cap: usize,
    seen: &mut usize,
    response: bool,
    fault: SplitError,
) -> Result<usize, FormatError> {
    let found = s
        .next_object_where(cap, |raw| match raw {
            Raw::Bytes(b) => serde_json::from_slice::<Value>(&b)
                .ok()
                .filter(|x| x.get("Event").is_some_and(Value::is_object)),
            Raw::TooLarge(_) => None,
        })
        .map_err(|e| split_error(&ctx.file, e, *seen))?;
    let Some((resumed, x)) = found else {
        return Err(split_error(&ctx.file, fault, *seen));
    };
    let i = *seen;
    emit(Item::Reject {
        location: item_location(response, i),
        reason: format!(
            "not valid JSON: {fault}; what followed was skipped up to the next event, at byte {resumed}, and \
             reading went on from there"
        ),
    })?;
    *seen += 2;
    read_item(ctx, emit, i + 1, &x, response)
}

/// How a MISP attribute type maps onto observables.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Single(ObservableKind),
    Ip,
    IpPort,
    DomainIp,
    FileHash(ObservableKind),
    X509(ObservableKind),
    /// `uri` is a full URL or, more often, a bare path (`/gate.php`): a path becomes a URL-path indicator that
    /// matches on any host; other relative forms (`gate.php`) say too little and are not kept.
    Uri,
    /// `url`: a URL, or a bare path that an analyst typed into the wrong type.
    Url,
    /// A reference, not an indicator: kept as an external reference of the report.
    Link,
}

/// The shape of a MISP attribute type and MISP's default `to_ids` for it. None: a type Vigil does not map.
fn shape_of(ty: &str) -> Option<(Shape, bool)> {
    use ObservableKind as K;
    Some(match ty {
        "domain" | "hostname" => (Shape::Single(K::Domain), true),
        "ip-src" | "ip-dst" => (Shape::Ip, true),
        "ip-src|port" | "ip-dst|port" => (Shape::IpPort, true),
        "domain|ip" => (Shape::DomainIp, true),
        "url" => (Shape::Url, true),
        "uri" => (Shape::Uri, true),
        "link" => (Shape::Link, false),
        "email" | "email-src" | "email-dst" => (Shape::Single(K::Email), true),
        "md5" => (Shape::Single(K::Md5), true),
        "sha1" => (Shape::Single(K::Sha1), true),
        "sha256" => (Shape::Single(K::Sha256), true),
        "sha512" => (Shape::Single(K::Sha512), true),
        "filename|md5" | "malware-sample" => (Shape::FileHash(K::Md5), true),
        "filename|sha1" => (Shape::FileHash(K::Sha1), true),
        "filename|sha256" => (Shape::FileHash(K::Sha256), true),
        "filename|sha512" => (Shape::FileHash(K::Sha512), true),
        "AS" => (Shape::Single(K::Asn), false),
        "x509-fingerprint-md5" => (Shape::X509(K::Md5), true),
        "x509-fingerprint-sha1" => (Shape::X509(K::Sha1), true),
        "x509-fingerprint-sha256" => (Shape::X509(K::Sha256), true),
        _ => return None,
    })
}

/// One observed fact of an attribute: the SCO and the observable its indicator matches.
struct Fact {
    obs: Observable,
    sco: Map<String, Value>,
    /// A pattern other than `obs.to_pattern()` (x509 hashes, several file hashes).
    pattern: Option<String>,
    note: Option<String>,
}

impl Fact {
    fn plain(obs: Observable) -> Fact {
        let sco = match obs.to_sco() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Fact {
            obs,
            sco,
            pattern: None,
            note: None,
        }
    }
}

/// A hashed SCO (file, x509-certificate) with its deterministic id.
fn hashed_sco(
    ty: &str,
    hashes: &[(ObservableKind, String)],
    name: Option<&str>,
) -> Map<String, Value> {
    let mut h = Map::new();
    for (k, v) in hashes {
        if let Some(alg) = k.hash_algorithm() {
            h.insert(alg.into(), json!(v));
        }
    }
    let mut m = Map::new();
    m.insert("type".into(), json!(ty));
    m.insert("spec_version".into(), json!("2.1"));
    m.insert("hashes".into(), Value::Object(h));
    if let Some(n) = name {
        m.insert("name".into(), json!(n));
    }
    let id = ids::sco_id(ty, &m).unwrap_or_else(|| {
        ids::vigil_id(
            ty,
            &[&vigil_model::ids::canonical_json(&Value::Object(m.clone()))],
        )
    });
    m.insert("id".into(), json!(id));
    m
}

/// The pattern matching any of the hashes of one object (`[file:hashes.'MD5' = 'a' OR file:hashes.'SHA-256' = 'b']`).
fn hashes_pattern(ty: &str, hashes: &[(ObservableKind, String)]) -> String {
    let terms: Vec<String> = hashes
        .iter()
        .filter_map(|(k, v)| {
            Some(format!(
                "{ty}:hashes.'{}' = '{}'",
                k.hash_algorithm()?,
                vigil_model::observable::escape_pattern_string(v)
            ))
        })
        .collect();
    format!("[{}]", terms.join(" OR "))
}

fn ip_observable(raw: &str) -> Result<Observable, String> {
    let kind = if raw.contains(':') {
        ObservableKind::Ipv6
    } else {
        ObservableKind::Ipv4
    };
    Observable::new(kind, raw).map_err(|e| e.to_string())
}

/// The facts of one attribute value. Err is the reason the value is malformed.
fn facts(shape: Shape, value: &str, sample: bool) -> Result<Vec<Fact>, String> {
    let split = |what: &str| {
        value
            .rsplit_once('|')
            .ok_or_else(|| format!("`{}` has no `|` between {what}", clip(value)))
    };
    Ok(match shape {
        Shape::Single(kind) => vec![Fact::plain(
            Observable::new(kind, value).map_err(|e| e.to_string())?,
        )],
        Shape::Ip => vec![Fact::plain(ip_observable(value)?)],
        Shape::IpPort => {
            let (ip, port) = split("address and port")?;
            let port: u16 = port
                .trim()
                .parse()
                .map_err(|_| format!("`{}` is not a port number", clip(port)))?;
            let mut f = Fact::plain(ip_observable(ip)?);
            f.note = Some(format!("port {port}"));
            vec![f]
        }
        Shape::DomainIp => {
            let (domain, ip) = split("domain and address")?;
            vec![
                Fact::plain(
                    Observable::new(ObservableKind::Domain, domain).map_err(|e| e.to_string())?,
                ),
                Fact::plain(ip_observable(ip)?),
            ]
        }
        // PyMISP writes a sample before upload as the bare file name; MISP adds `|md5` when it stores the file.
        Shape::FileHash(ObservableKind::Md5) if sample && !value.contains('|') => Vec::new(),
        Shape::FileHash(kind) => {
            let (name, hash) = split("file name and hash")?;
            let obs = Observable::new(kind, hash).map_err(|e| e.to_string())?;
            let name = name.trim();
            let sco = hashed_sco(
                "file",
                &[(kind, obs.value.clone())],
                (!name.is_empty()).then_some(name),
            );
            vec![Fact {
                note: (!name.is_empty()).then(|| format!("file name {name}")),
                obs,
                sco,
                pattern: None,
            }]
        }
        Shape::X509(kind) => {
            let v = normalize_hash(kind, value).map_err(|e| e.to_string())?;
            let hashes = [(kind, v.clone())];
            vec![Fact {
                sco: hashed_sco("x509-certificate", &hashes, None),
                pattern: Some(hashes_pattern("x509-certificate", &hashes)),
                obs: Observable { kind, value: v },
                note: None,
            }]
        }
        Shape::Uri | Shape::Url if is_bare_path(value) => vec![path_fact(value)?],
        Shape::Url => vec![Fact::plain(
            Observable::new(ObservableKind::Url, value).map_err(|e| e.to_string())?,
        )],
        Shape::Uri => match Observable::new(ObservableKind::Url, value) {
            Ok(o) if value.contains("://") => vec![Fact::plain(o)],
            _ => Vec::new(),
        },
        Shape::Link => Vec::new(),
    })
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

/// A path alone (`/gate.php`), not a scheme-relative URL (`//host/x`).
fn is_bare_path(value: &str) -> bool {
    let v = value.trim();
    v.starts_with('/') && !v.starts_with("//")
}

/// A URL-path fact. It has no SCO: STIX's `url` object holds a whole URL, and a path alone would not validate as
/// one; the indicator's pattern (a `MATCHES` over `url:value` on any host) carries it.
fn path_fact(value: &str) -> Result<Fact, String> {
    let obs = Observable::new(ObservableKind::UrlPath, value.trim()).map_err(|e| e.to_string())?;
    Ok(Fact {
        obs,
        sco: Map::new(),
        pattern: None,
        note: None,
    })
}

fn to_ids(v: Option<&Value>, default: bool) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().map_or(default, |n| n != 0),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" => true,
            "0" | "false" => false,
            _ => default,
        },
        _ => default,
    }
}

/// The most restrictive TLP among tag names.
fn tlp_of(tags: &[&str]) -> Option<Tlp> {
    tags.iter()
        .filter(|t| {
            t.trim()
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("tlp:"))
        })
        .filter_map(|t| Tlp::parse(t))
        .max()
}

/// Tags that are neither TLP nor galaxies: kept as labels.
fn plain_tags<'a>(tags: &[&'a str]) -> Vec<&'a str> {
    tags.iter()
        .copied()
        .filter(|t| {
            let t = t.trim();
            !t.is_empty()
                && !t.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("tlp:"))
                && !t.starts_with("misp-galaxy:")
                && t.len() <= 200
        })
        .take(30)
        .collect()
}

/// An epoch-seconds value (number or digits) or an RFC 3339 timestamp, in Vigil's STIX form.
fn stix_time(v: Option<&Value>) -> Option<String> {
    let secs = match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if s.trim().bytes().all(|b| b.is_ascii_digit()) => s.trim().parse().ok(),
        Value::String(s) => {
            return chrono::DateTime::parse_from_rfc3339(s.trim())
                .ok()
                .map(|d| vigil_model::time::format(&d.with_timezone(&chrono::Utc)));
        }
        _ => None,
    }?;
    if secs <= 0 {
        return None;
    }
    chrono::DateTime::from_timestamp(secs, 0).map(|d| vigil_model::time::format(&d))
}

/// A `YYYY-MM-DD` date as midnight UTC.
fn date_time(v: Option<&Value>) -> Option<String> {
    let d = chrono::NaiveDate::parse_from_str(v?.as_str()?.trim(), "%Y-%m-%d").ok()?;
    Some(vigil_model::time::format(
        &d.and_hms_opt(0, 0, 0)?.and_utc(),
    ))
}

/// A galaxy cluster an event or attribute names.
fn clusters_of(m: &Map<String, Value>, tags: &[&str]) -> Vec<Cluster> {
    let mut out: Vec<Cluster> = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut add = |c: Cluster, out: &mut Vec<Cluster>| {
        if c.kind() != GalaxyKind::Other
            && seen.insert((c.galaxy_type.to_ascii_lowercase(), c.value.to_lowercase()))
        {
            out.push(c);
        }
    };
    for g in m
        .get("Galaxy")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let gtype = g.get("type").and_then(Value::as_str).unwrap_or("");
        for c in g
            .get("GalaxyCluster")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Ok(c) = Cluster::from_json(gtype, c) {
                add(c, &mut out);
            }
        }
    }
    for t in tags {
        if let Some(c) = Cluster::from_tag(t) {
            add(c, &mut out);
        }
    }
    out
}

/// The Link to the object a cluster stands for. Actors and malware get a minimal fallback so the link is not lost
/// when the store knows nothing of them yet; techniques do not (an unknown technique id is more likely a typo).
/// The fallback takes the id the galaxy file (or ATT&CK) gives the same cluster and a timestamp older than theirs,
/// so loading them later turns it into their object rather than a duplicate; a cluster known only by a tag gets
/// an id over its lower-cased name, as IOC lists name malware families.
fn cluster_link(
    c: &Cluster,
    from: &str,
    rel: &str,
    markings: &[String],
    ctx: &ParseCtx,
) -> Option<Link> {
    let kind = c.kind();
    let target_types: Vec<String> = kind.target_types().iter().map(|s| s.to_string()).collect();
    if target_types.is_empty() || matches!(kind, GalaxyKind::Country | GalaxyKind::Region) {
        return None;
    }
    // A mitre-* cluster named only by a tag has no ATT&CK uuid: a fallback would duplicate the ATT&CK object.
    let fallback = if kind == GalaxyKind::AttackPattern || (c.is_mitre() && c.uuid.is_none()) {
        None
    } else {
        // Older than any real version, so the galaxy file or ATT&CK, ingested later, supersedes it.
        let t = galaxy_time(0);
        let minimal = Cluster {
            description: None,
            ..c.clone()
        };
        minimal.to_object(ctx, &t, &t).ok().flatten()
    };
    Some(Link {
        from: from.to_string(),
        relationship_type: rel.to_string(),
        reverse: false,
        target_types,
        keys: c.lookup_keys(),
        fallback,
        marking_refs: markings.to_vec(),
        follow: false,
    })
}

struct EventReader<'c> {
    ctx: &'c ParseCtx,
    prefix: String,
    event_tlp: Option<Tlp>,
    tlps_emitted: HashSet<Tlp>,
    emitted: HashSet<String>,
    /// The report's object_refs, in order.
    refs: Vec<String>,
    /// Indicators with their markings, for event-level malware links.
    indicators: Vec<(String, Vec<String>)>,
    /// The ids in `indicators`, so an event of many attributes is not searched once per attribute.
    indicator_ids: HashSet<String>,
    links: HashSet<(String, String, String)>,
    external_refs: Vec<Value>,
    valid_from_default: Option<String>,
}

impl<'c> EventReader<'c> {
    fn new(ctx: &'c ParseCtx, prefix: String) -> Self {
        EventReader {
            ctx,
            prefix,
            event_tlp: None,
            tlps_emitted: HashSet::new(),
            emitted: HashSet::new(),
            refs: Vec::new(),
            indicators: Vec::new(),
            indicator_ids: HashSet::new(),
            links: HashSet::new(),
            external_refs: Vec::new(),
            valid_from_default: None,
        }
    }

    /// The marking refs for a TLP, emitting its marking-definition the first time.
    fn markings(
        &mut self,
        tlp: Option<Tlp>,
        emit: &mut Emit<'_>,
    ) -> Result<Vec<String>, FormatError> {
        let Some(t) = tlp else { return Ok(Vec::new()) };
        if self.tlps_emitted.insert(t) {
            match StixObject::from_value(t.marking_object()) {
                Ok(o) => emit(Item::Object {
                    object: o,
                    original_id: None,
                    derived: true,
                })?,
                Err(e) => emit(Item::Reject {
                    location: format!("{}.Tag", self.prefix),
                    reason: e.to_string(),
                })?,
            }
        }
        Ok(vec![t.marking_id().to_string()])
    }

    fn emit_object(
        &mut self,
        object: StixObject,
        original_id: Option<String>,
        derived: bool,
        emit: &mut Emit<'_>,
    ) -> Result<String, FormatError> {
        let id = object.id().to_string();
        if self.emitted.insert(id.clone()) {
            self.refs.push(id.clone());
            emit(Item::Object {
                object,
                original_id,
                derived,
            })?;
        }
        Ok(id)
    }

    fn link(&mut self, link: Option<Link>, emit: &mut Emit<'_>) -> Result<(), FormatError> {
        let Some(link) = link else { return Ok(()) };
        let key = (
            link.from.clone(),
            link.relationship_type.clone(),
            link.keys
                .first()
                .cloned()
                .unwrap_or_default()
                .to_lowercase(),
        );
        if self.links.insert(key) {
            emit(Item::Link(link))?;
        }
        Ok(())
    }

    fn run(mut self, ev: &Map<String, Value>, emit: &mut Emit<'_>) -> Result<(), FormatError> {
        let ctx = self.ctx;
        let tags = tag_names(ev.get("Tag"));
        self.event_tlp = tlp_of(&tags);
        let event_uuid = ev
            .get("uuid")
            .and_then(Value::as_str)
            .and_then(valid_uuid)
            .unwrap_or_else(|| {
                ids::vigil_id("x", &[&ids::canonical_json(&Value::Object(ev.clone()))])
                    .trim_start_matches("x--")
                    .to_string()
            });
        let date = date_time(ev.get("date"));
        let timestamp = stix_time(ev.get("timestamp"));
        self.valid_from_default = date.clone().or_else(|| timestamp.clone());

        // The creator org, who the report is by.
        let identity = match ev.get("Orgc").and_then(Value::as_object) {
            Some(org) => self.identity(org, emit)?,
            None => None,
        };
        if let Some(id) = &identity {
            // The identity is the author, not content: not in object_refs unless nothing else is.
            self.refs.retain(|r| r != id);
        }

        for key in ["Attribute", "Object"] {
            if ev.get(key).is_some_and(|v| !v.is_array() && !v.is_null()) {
                let location = format!("{}.{key}", self.prefix);
                emit(Item::Reject {
                    location,
                    reason: format!("`{key}` is not a list"),
                })?;
            }
        }
        for (i, a) in ev
            .get("Attribute")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let loc = format!("{}.Attribute[{i}]", self.prefix);
            self.attribute(a, &loc, None, emit)?;
        }
        for (j, o) in ev
            .get("Object")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let loc = format!("{}.Object[{j}]", self.prefix);
            self.object(o, &loc, emit)?;
        }

        // The report: it needs at least one object_ref, the org when the event carried no indicator.
        let refs = if self.refs.is_empty() {
            identity.clone().into_iter().collect()
        } else {
            std::mem::take(&mut self.refs)
        };
        if refs.is_empty() {
            return Ok(());
        }
        let created = date
            .clone()
            .or_else(|| timestamp.clone())
            .unwrap_or_else(|| ctx.now.clone());
        let modified = match &timestamp {
            Some(t) if *t > created => t.clone(),
            _ => created.clone(),
        };
        let published = stix_time(ev.get("publish_timestamp"))
            .or_else(|| date.clone())
            .unwrap_or_else(|| modified.clone());
        let name = ev
            .get("info")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("MISP event {event_uuid}"));
        let report_markings = self.markings(self.event_tlp, emit)?;
        let mut m = Map::new();
        m.insert("type".into(), json!("report"));
        m.insert("spec_version".into(), json!("2.1"));
        m.insert("id".into(), json!(ids::vigil_id("report", &[&event_uuid])));
        m.insert("created".into(), json!(created));
        m.insert("modified".into(), json!(modified));
        m.insert("name".into(), json!(name));
        m.insert("published".into(), json!(published));
        m.insert("report_types".into(), json!(["threat-report"]));
        m.insert("object_refs".into(), json!(refs));
        if let Some(id) = &identity {
            m.insert("created_by_ref".into(), json!(id));
        }
        let labels = plain_tags(&tags);
        if !labels.is_empty() {
            m.insert("labels".into(), json!(labels));
        }
        let mut ext = vec![json!({"source_name": "misp", "external_id": event_uuid})];
        ext.append(&mut self.external_refs);
        m.insert("external_references".into(), Value::Array(ext));
        if !report_markings.is_empty() {
            m.insert("object_marking_refs".into(), json!(report_markings));
        }
        if let Some(c) = ctx.confidence {
            m.insert("confidence".into(), json!(c));
        }
        for (k, x) in [
            ("threat_level_id", "x_misp_threat_level_id"),
            ("analysis", "x_misp_analysis"),
        ] {
            if let Some(n) = int_of(ev.get(k)) {
                m.insert(x.into(), json!(n));
            }
        }
        let report_id = match StixObject::from_map(m) {
            Ok(o) => {
                let id = o.id().to_string();
                // A source object: a newer event timestamp is a new version of the report.
                emit(Item::Object {
                    object: o,
                    original_id: Some(event_uuid.clone()),
                    derived: false,
                })?;
                Some(id)
            }
            Err(e) => {
                emit(Item::Reject {
                    location: self.prefix.clone(),
                    reason: format!("report: {e}"),
                })?;
                None
            }
        };

        let clusters = clusters_of(ev, &tags);
        for c in &clusters {
            if let Some(rid) = &report_id {
                let l = cluster_link(c, rid, "related-to", &report_markings, ctx);
                self.link(l, emit)?;
            }
            if matches!(c.kind(), GalaxyKind::Malware | GalaxyKind::Tool) {
                for (ind, markings) in self.indicators.clone() {
                    let l = cluster_link(c, &ind, "indicates", &markings, ctx);
                    self.link(l, emit)?;
                }
            }
        }
        Ok(())
    }

    fn identity(
        &mut self,
        org: &Map<String, Value>,
        emit: &mut Emit<'_>,
    ) -> Result<Option<String>, FormatError> {
        let name = org
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let uuid = org.get("uuid").and_then(Value::as_str).and_then(valid_uuid);
        let id = match (&uuid, name) {
            (Some(u), _) => ids::vigil_id("identity", &[u]),
            (None, Some(n)) => ids::vigil_id("identity", &["misp-org", &n.to_lowercase()]),
            (None, None) => return Ok(None),
        };
        let mut m = Map::new();
        m.insert("type".into(), json!("identity"));
        m.insert("spec_version".into(), json!("2.1"));
        m.insert("id".into(), json!(id));
        m.insert("created".into(), json!(self.ctx.now));
        m.insert("modified".into(), json!(self.ctx.now));
        m.insert(
            "name".into(),
            json!(name
                .map(str::to_string)
                .or_else(|| uuid.clone())
                .unwrap_or_default()),
        );
        m.insert("identity_class".into(), json!("organization"));
        if let Some(c) = self.ctx.confidence {
            m.insert("confidence".into(), json!(c));
        }
        match StixObject::from_map(m) {
            Ok(o) => {
                self.emit_object(o, uuid, true, emit)?;
                Ok(Some(id))
            }
            Err(e) => {
                emit(Item::Reject {
                    location: format!("{}.Orgc", self.prefix),
                    reason: e.to_string(),
                })?;
                Ok(None)
            }
        }
    }

    /// One attribute (of the event, or of a MISP object when `object` names it).
    fn attribute(
        &mut self,
        a: &Value,
        loc: &str,
        object: Option<&str>,
        emit: &mut Emit<'_>,
    ) -> Result<(), FormatError> {
        let Some(a) = a.as_object() else {
            return emit(Item::Reject {
                location: loc.to_string(),
                reason: format!("attribute is {}, not a JSON object", json_kind(a)),
            });
        };
        if to_ids(a.get("deleted"), false) {
            return Ok(());
        }
        let Some(ty) = a.get("type").and_then(Value::as_str) else {
            return emit(Item::Reject {
                location: loc.to_string(),
                reason: "attribute has no `type`".into(),
            });
        };
        let Some((shape, default_ids)) = shape_of(ty.trim()) else {
            return Ok(());
        };
        let value = match a.get("value") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(_)) => {
                return emit(Item::Reject {
                    location: loc.to_string(),
                    reason: format!("`{ty}` attribute has an empty `value`"),
                })
            }
            Some(other) => {
                return emit(Item::Reject {
                    location: loc.to_string(),
                    reason: format!("`{ty}` attribute `value` is {}", json_kind(other)),
                })
            }
            None => {
                return emit(Item::Reject {
                    location: loc.to_string(),
                    reason: format!("`{ty}` attribute has no `value`"),
                })
            }
        };
        if let Shape::Link = shape {
            let is_web = value
                .get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
                || value
                    .get(..8)
                    .is_some_and(|p| p.eq_ignore_ascii_case("https://"));
            if let (true, true, Ok(u)) = (
                is_web,
                self.external_refs.len() < 200,
                Observable::new(ObservableKind::Url, &value),
            ) {
                let mut r =
                    json!({"source_name": "misp-link", "url": crate::galaxy::uri_safe(&u.value)});
                if let Some(c) = a
                    .get("comment")
                    .and_then(Value::as_str)
                    .filter(|c| !c.trim().is_empty())
                {
                    r["description"] = json!(c.trim());
                }
                self.external_refs.push(r);
            }
            return Ok(());
        }
        let facts = match facts(shape, &value, ty.trim() == "malware-sample") {
            Ok(f) => f,
            Err(reason) => {
                return emit(Item::Reject {
                    location: loc.to_string(),
                    reason: format!("`{ty}` attribute: {reason}"),
                })
            }
        };
        let ids_flag = to_ids(a.get("to_ids"), default_ids);
        self.facts(facts, a, loc, ty, ids_flag, object, emit)
    }

    /// Emits the SCOs and indicators of one attribute's (or object's) facts, and the attribute's own galaxy links.
    #[allow(clippy::too_many_arguments)]
    fn facts(
        &mut self,
        facts: Vec<Fact>,
        a: &Map<String, Value>,
        loc: &str,
        ty: &str,
        ids_flag: bool,
        object: Option<&str>,
        emit: &mut Emit<'_>,
    ) -> Result<(), FormatError> {
        let tags = tag_names(a.get("Tag"));
        let tlp = tlp_of(&tags).or(self.event_tlp);
        let markings = self.markings(tlp, emit)?;
        let original = a.get("uuid").and_then(Value::as_str).and_then(valid_uuid);
        let mut indicators = Vec::new();
        for f in facts {
            if !f.sco.is_empty() {
                let mut sco = f.sco.clone();
                if !markings.is_empty() {
                    sco.insert("object_marking_refs".into(), json!(markings));
                }
                match StixObject::from_map(sco) {
                    Ok(o) => {
                        self.emit_object(o, original.clone(), true, emit)?;
                    }
                    Err(e) => emit(Item::Reject {
                        location: loc.to_string(),
                        reason: format!("`{ty}` observable: {e}"),
                    })?,
                }
            }
            if !ids_flag {
                continue;
            }
            let mut extra: Vec<(&str, Value)> = Vec::new();
            if let Some(p) = &f.pattern {
                extra.push(("id", json!(ids::vigil_id("indicator", &[p]))));
                extra.push(("pattern", json!(p)));
            }
            let comment = a
                .get("comment")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|c| !c.is_empty());
            let desc: Vec<&str> = comment.into_iter().chain(f.note.as_deref()).collect();
            if !desc.is_empty() {
                extra.push(("description", json!(desc.join("; "))));
            }
            let mut labels: Vec<String> = Vec::new();
            if let Some(c) = a
                .get("category")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|c| !c.is_empty())
            {
                labels.push(c.to_string());
            }
            labels.extend(plain_tags(&tags).into_iter().map(str::to_string));
            labels.dedup();
            if !labels.is_empty() {
                extra.push(("labels", json!(labels)));
            }
            let valid_from = stix_time(a.get("first_seen"))
                .or_else(|| stix_time(a.get("timestamp")))
                .or_else(|| self.valid_from_default.clone());
            if let Some(vf) = &valid_from {
                extra.push(("valid_from", json!(vf)));
                if let Some(vu) = stix_time(a.get("last_seen")).filter(|vu| vu > vf) {
                    extra.push(("valid_until", json!(vu)));
                }
            }
            if !markings.is_empty() {
                extra.push(("object_marking_refs", json!(markings)));
            }
            extra.push(("x_misp_type", json!(ty)));
            if let Some(o) = object {
                extra.push(("x_misp_object", json!(o)));
            }
            match indicator_for(&f.obs, self.ctx, &extra) {
                Ok(ind) => {
                    let id = self.emit_object(ind, original.clone(), true, emit)?;
                    if self.indicator_ids.insert(id.clone()) {
                        self.indicators.push((id.clone(), markings.clone()));
                    }
                    indicators.push(id);
                }
                Err(e) => emit(Item::Reject {
                    location: loc.to_string(),
                    reason: format!("`{ty}` indicator: {e}"),
                })?,
            }
        }
        // Galaxies on the attribute itself: its indicators indicate them.
        if !indicators.is_empty() {
            for c in clusters_of(a, &tags) {
                for ind in &indicators {
                    let l = cluster_link(&c, ind, "indicates", &markings, self.ctx);
                    self.link(l, emit)?;
                }
            }
        }
        Ok(())
    }

    /// One MISP object. `file` and `x509` objects with several hashes become one SCO and one indicator matching any
    /// of the hashes; every other attribute is read on its own.
    fn object(&mut self, o: &Value, loc: &str, emit: &mut Emit<'_>) -> Result<(), FormatError> {
        let Some(o) = o.as_object() else {
            return emit(Item::Reject {
                location: loc.to_string(),
                reason: format!("object is {}, not a JSON object", json_kind(o)),
            });
        };
        if to_ids(o.get("deleted"), false) {
            return Ok(());
        }
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string();
        let attrs: &[Value] = o
            .get("Attribute")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let sco_type = match name.as_str() {
            "file" => Some("file"),
            "x509" => Some("x509-certificate"),
            _ => None,
        };
        let mut grouped: Vec<usize> = Vec::new();
        if let Some(sco_type) = sco_type {
            let mut hashes: Vec<(ObservableKind, String)> = Vec::new();
            let mut file_name: Option<String> = None;
            let mut ids_flag = false;
            let mut tags_holder: Map<String, Value> = Map::new();
            let mut tag_values: Vec<Value> = Vec::new();
            for (k, a) in attrs.iter().enumerate() {
                let Some(am) = a.as_object() else { continue };
                if to_ids(am.get("deleted"), false) {
                    grouped.push(k);
                    continue;
                }
                let ty = am.get("type").and_then(Value::as_str).unwrap_or("");
                let kind = match (sco_type, ty) {
                    ("file", "md5" | "sha1" | "sha256" | "sha512") => ObservableKind::parse(ty),
                    ("x509-certificate", "x509-fingerprint-md5") => Some(ObservableKind::Md5),
                    ("x509-certificate", "x509-fingerprint-sha1") => Some(ObservableKind::Sha1),
                    ("x509-certificate", "x509-fingerprint-sha256") => Some(ObservableKind::Sha256),
                    ("file", "filename") => {
                        if file_name.is_none() {
                            file_name = am
                                .get("value")
                                .and_then(Value::as_str)
                                .map(str::trim)
                                .filter(|s| !s.is_empty())
                                .map(str::to_string);
                        }
                        None
                    }
                    _ => None,
                };
                let Some(kind) = kind else { continue };
                grouped.push(k);
                let raw = am.get("value").and_then(Value::as_str).unwrap_or("");
                match normalize_hash(kind, raw) {
                    Ok(v) => {
                        if !hashes.iter().any(|(hk, _)| *hk == kind) {
                            hashes.push((kind, v));
                        }
                        ids_flag |= to_ids(am.get("to_ids"), true);
                        if let Some(Value::Array(t)) = am.get("Tag") {
                            tag_values.extend(t.iter().cloned());
                        }
                        if let Some(Value::Array(g)) = am.get("Galaxy") {
                            let all = tags_holder
                                .entry("Galaxy")
                                .or_insert_with(|| Value::Array(Vec::new()));
                            if let Value::Array(all) = all {
                                all.extend(g.iter().cloned());
                            }
                        }
                    }
                    Err(e) => emit(Item::Reject {
                        location: format!("{loc}.Attribute[{k}]"),
                        reason: format!("`{ty}` attribute: {e}"),
                    })?,
                }
            }
            if !hashes.is_empty() {
                hashes.sort_by_key(|(k, _)| *k);
                let sco = hashed_sco(
                    sco_type,
                    &hashes,
                    file_name.as_deref().filter(|_| sco_type == "file"),
                );
                let pattern = hashes_pattern(sco_type, &hashes);
                let (first_kind, first_value) = hashes[0].clone();
                let fact = Fact {
                    obs: Observable {
                        kind: first_kind,
                        value: first_value,
                    },
                    sco,
                    pattern: (hashes.len() > 1 || sco_type != "file").then_some(pattern),
                    note: file_name.as_ref().map(|n| format!("file name {n}")),
                };
                tags_holder.insert("Tag".into(), Value::Array(tag_values));
                if let Some(u) = o.get("uuid") {
                    tags_holder.insert("uuid".into(), u.clone());
                }
                for k in ["comment", "first_seen", "last_seen", "timestamp"] {
                    if let Some(v) = o.get(k) {
                        tags_holder.insert(k.into(), v.clone());
                    }
                }
                tags_holder.insert(
                    "category".into(),
                    json!(o.get("meta-category").and_then(Value::as_str).unwrap_or("")),
                );
                self.facts(
                    vec![fact],
                    &tags_holder,
                    loc,
                    &name,
                    ids_flag,
                    Some(&name),
                    emit,
                )?;
            }
        }
        for (k, a) in attrs.iter().enumerate() {
            if grouped.contains(&k) {
                continue;
            }
            self.attribute(a, &format!("{loc}.Attribute[{k}]"), Some(&name), emit)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ParseCtx {
        ParseCtx {
            source: "misp".into(),
            file: "event.json".into(),
            confidence: Some(80),
            now: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    fn run(input: &str) -> (Vec<Item>, Result<(), FormatError>) {
        let mut items = Vec::new();
        let res = parse_event(&mut input.as_bytes(), &ctx(), &mut |i| {
            items.push(i);
            Ok(())
        });
        (items, res)
    }

    /// What the streamed path (inputs over `limit` bytes) makes of `input`.
    fn run_within(input: &str, limit: u64) -> (Vec<Item>, Result<(), FormatError>) {
        let mut items = Vec::new();
        let res = parse_event_within(
            &mut input.as_bytes(),
            &ctx(),
            &mut |i| {
                items.push(i);
                Ok(())
            },
            limit,
        );
        (items, res)
    }

    #[test]
    fn a_search_answer_larger_than_one_document_is_read_event_by_event() {
        let ev = |n: u32| {
            format!(
                r#"{{"Event":{{"uuid":"5c1a0a7e-0000-4000-8000-00000000000{n}","info":"event {n}","date":"2020-01-01","Orgc":{{"name":"Org"}},"Attribute":[{{"type":"domain","value":"bad{n}.example"}}]}}}}"#
            )
        };
        let huge = format!(
            r#"{{"Event":{{"info":"huge","Attribute":[{{"type":"comment","value":"{}"}}]}}}}"#,
            "x".repeat(5000)
        );
        let small = format!(r#"{{"response":[{},{},42,{}]}}"#, ev(1), ev(2), ev(3));
        let (whole, res) = run(&small);
        res.expect("in memory");
        // The same events with one too large for an event between them, streamed because the whole is over the
        // limit: the same items, and the large one rejected by its place.
        let big = format!(
            "\u{feff}{{\"x\":[1,{{}}],\"response\":[{},{},42,{huge},{}],\"y\":2}}",
            ev(1),
            ev(2),
            ev(3)
        );
        let (streamed, res) = run_within(&big, 1000);
        res.expect("streamed");
        let kept: Vec<Item> = streamed
            .iter()
            .filter(|i| !matches!(i, Item::Reject { location, .. } if location == "response[3]"))
            .cloned()
            .collect();
        assert_eq!(
            format!("{kept:?}").replace("response[4]", "response[3]"),
            format!("{whole:?}")
        );
        assert!(streamed.iter().any(|i| matches!(i,
            Item::Reject { location, reason } if location == "response[3]" && reason.contains("larger than the 0 MiB one event may be"))));
        assert_eq!(objects(&streamed, "report").len(), 3);
        // An array of wrapped events streams too; a single event this large, or another document, is refused.
        let arr = format!("[{},{huge},{}]", ev(1), ev(2));
        let (items, res) = run_within(&arr, 1000);
        res.expect("array");
        assert_eq!(objects(&items, "report").len(), 2);
        let one = format!(
            r#"{{"Event":{{"info":"x","Attribute":[{{"type":"comment","value":"{}"}}]}}}}"#,
            "y".repeat(2000)
        );
        let (items, res) = run_within(&one, 1000);
        assert!(items.is_empty());
        assert!(
            format!("{res:?}").contains("too large for one MISP event"),
            "{res:?}"
        );
        let (_, res) = run_within(&format!(r#"{{"objects":[{huge}]}}"#), 1000);
        assert!(
            format!("{res:?}").contains("not a list of MISP events"),
            "{res:?}"
        );
        // Cut short: the events before the cut are kept, and the error says how far it got.
        let (items, res) = run_within(&big[..big.len() - 300], 1000);
        assert_eq!(objects(&items, "report").len(), 2);
        assert!(format!("{res:?}").contains("after 3 items"), "{res:?}");
    }

    #[test]
    fn a_broken_event_in_a_list_costs_that_event_only() {
        // The fault lies outside the attribute and object lists (in `info`), so the event cannot be repaired
        // by cutting one item: it is lost, and only it.
        let ev = |n: u32, info: &str| {
            format!(
                r#"{{"Event":{{"uuid":"5c1a0a7e-0000-4000-8000-00000000000{n}","info":{info},"date":"2020-01-01","Orgc":{{"name":"Org"}},"Attribute":[{{"type":"domain","value":"bad{n}.example"}},{{"type":"comment","value":"fine"}}]}}}}"#
            )
        };
        let good = |n: u32| ev(n, r#""event""#);
        let domains = |items: &[Item]| -> Vec<String> {
            objects(items, "indicator")
                .iter()
                .filter_map(|o| o.str("pattern").map(str::to_string))
                .collect()
        };
        for (broken, why) in [
            // Python's json.dumps writes NaN; the brackets still pair up.
            (ev(2, "NaN"), "expected value"),
            // An unescaped quote inside the comment.
            (ev(2, r#""the "GLASS" case""#), "unescaped"),
        ] {
            for (doc, at) in [
                (
                    format!(r#"{{"response":[{},{broken},{}]}}"#, good(1), good(3)),
                    "response[1]",
                ),
                (format!("[{},{broken},{}]", good(1), good(3)), "[1]"),
            ] {
                let (whole, res) = run(&doc);
                res.unwrap_or_else(|e| panic!("{doc}: {e}"));
                let got = domains(&whole);
                assert_eq!(got.len(), 2, "{got:?}");
                assert!(got[0].contains("bad1.example") && got[1].contains("bad3.example"));
                let rejects: Vec<(&str, &str)> = whole
                    .iter()
                    .filter_map(|i| match i {
                        Item::Reject { location, reason } => {
                            Some((location.as_str(), reason.as_str()))
                        }
                        _ => None,
                    })
                    .collect();
                assert_eq!(rejects.len(), 1, "{rejects:?}");
                assert_eq!(rejects[0].0, at);
                assert!(
                    rejects[0].1.starts_with("not valid JSON"),
                    "{}",
                    rejects[0].1
                );
                assert!(rejects[0].1.contains(why), "{}", rejects[0].1);
                // The same when the list is read event by event because it is larger than one document.
                let (streamed, res) = run_within(&doc, doc.len() as u64 - 1);
                res.expect("streamed");
                assert_eq!(format!("{streamed:?}"), format!("{whole:?}"));
            }
        }
        // A consumer that stops the reading gets its own error back, not the file's.
        let doc = format!(r#"{{"response":[{},{}]}}"#, good(1), ev(2, "NaN"));
        let res = parse_event(&mut doc.as_bytes(), &ctx(), &mut |_| {
            Err(FormatError::Sink("stop".into()))
        });
        assert!(
            matches!(res, Err(FormatError::Sink(ref e)) if e == "stop"),
            "{res:?}"
        );
        // One event alone with such a fault is not read, as before: there is nothing else to read.
        let (items, res) = run(&ev(1, r#""a "b" c""#));
        assert!(items.is_empty());
        assert!(res
            .expect_err("one broken event")
            .to_string()
            .contains("not valid JSON"));
        // A fault in the last attribute of an event's list costs that attribute only, in a list of events as
        // alone; read event by event (a search answer over 256 MiB), only where the event's quotes still pair
        // up (a NaN), as for any attribute.
        let last = |n: u32, bad: &str| {
            format!(
                r#"{{"Event":{{"uuid":"5c1a0a7e-0000-4000-8000-00000000000{n}","info":"event {n}","date":"2020-01-01","Orgc":{{"name":"Org"}},"Attribute":[{{"type":"domain","value":"bad{n}.example"}},{{"type":"comment","value":{bad}}}]}}}}"#
            )
        };
        let list = |bad: &str| {
            format!(
                r#"{{"response":[{},{},{}]}}"#,
                good(1),
                last(2, bad),
                good(3)
            )
        };
        let (quote, nan) = (list(r#""the "GLASS" case""#), list("NaN"));
        for (doc, (items, res)) in [
            (&quote, run(&quote)),
            (&nan, run(&nan)),
            (&nan, run_within(&nan, nan.len() as u64 - 1)),
        ] {
            res.unwrap_or_else(|e| panic!("{doc}: {e}"));
            let got = domains(&items);
            assert_eq!(got.len(), 3, "{got:?}");
            let rejects: Vec<&str> = items
                .iter()
                .filter_map(|i| match i {
                    Item::Reject { location, .. } => Some(location.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(rejects, ["response[1].Event.Attribute[1]"]);
        }
        let (items, res) = run(&last(1, r#""the "GLASS" case""#));
        res.expect("one event with a broken last attribute");
        assert_eq!(domains(&items).len(), 1);
    }

    #[test]
    fn a_broken_attribute_in_one_event_costs_that_attribute_only() {
        let ev = |bad: &str| {
            format!(
                r#"{{"Event":{{"uuid":"5c1a0a7e-0000-4000-8000-000000000001","info":"one","date":"2020-01-01","Orgc":{{"name":"Org"}},"Attribute":[{{"type":"domain","value":"bad1.example"}},{{"type":"comment","value":{bad}}},{{"type":"domain","value":"bad3.example"}}],"Object":[{{"name":"domain-ip","meta-category":"network","Attribute":[{{"type":"ip-dst","value":"192.0.2.7","comment":{bad}}},{{"type":"domain","value":"bad4.example"}}]}}]}}}}"#
            )
        };
        for (bad, why) in [
            ("NaN", "expected value"),
            (r#""the "GLASS" case""#, "expected"),
        ] {
            // Alone, and in a search answer (as ESET ships its events) read whole or event by event.
            for (wrap, at, streamed) in [
                ("{}", "", false),
                (r#"{"response":[{}]}"#, "response[0].", false),
                (r#"{"response":[{}]}"#, "response[0].", true),
            ] {
                let doc = wrap.replace("{}", &ev(bad));
                assert!(serde_json::from_str::<Value>(&doc).is_err());
                // Read event by event (a search answer over 256 MiB), an event whose quotes are out of step
                // cannot be told from the rest of the list; a NaN can.
                if streamed && bad != "NaN" {
                    continue;
                }
                let limit = if streamed {
                    doc.len() as u64 - 1
                } else {
                    MAX_DOCUMENT
                };
                let (items, res) = run_within(&doc, limit);
                res.unwrap_or_else(|e| panic!("{doc}: {e}"));
                let patterns: Vec<&str> = objects(&items, "indicator")
                    .iter()
                    .filter_map(|o| o.str("pattern"))
                    .collect();
                for d in ["bad1.example", "bad3.example", "bad4.example"] {
                    assert!(patterns.iter().any(|p| p.contains(d)), "{d}: {patterns:?}");
                }
                assert!(
                    !patterns.iter().any(|p| p.contains("192.0.2.7")),
                    "{patterns:?}"
                );
                assert_eq!(objects(&items, "report").len(), 1);
                let r = rejects(&items);
                assert_eq!(
                    r.iter().map(|x| x.0).collect::<Vec<_>>(),
                    [
                        format!("{at}Event.Attribute[1]"),
                        format!("{at}Event.Object[0].Attribute[0]")
                    ],
                    "{r:?}"
                );
                for (_, reason) in &r {
                    assert!(reason.starts_with("not valid JSON"), "{reason}");
                    assert!(reason.contains(why), "{reason}");
                    assert!(
                        reason.contains("skipped up to the next attribute"),
                        "{reason}"
                    );
                }
            }
        }
        // A consumer that stops the reading gets its own error back.
        let res = parse_event(&mut ev("NaN").as_bytes(), &ctx(), &mut |_| {
            Err(FormatError::Sink("stop".into()))
        });
        assert!(
            matches!(res, Err(FormatError::Sink(ref e)) if e == "stop"),
            "{res:?}"
        );
    }

    fn objects<'a>(items: &'a [Item], ty: &str) -> Vec<&'a StixObject> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Object { object, .. } if object.type_() == ty => Some(object),
                _ => None,
            })
            .collect()
    }

    fn links(items: &[Item]) -> Vec<&Link> {
        items
            .iter()
            .filter_map(|i| if let Item::Link(l) = i { Some(l) } else { None })
            .collect()
    }

    fn rejects(items: &[Item]) -> Vec<(&str, &str)> {
        items
            .iter()
            .filter_map(|i| {
                if let Item::Reject { location, reason } = i {
                    Some((location.as_str(), reason.as_str()))
                } else {
                    None
                }
            })
            .collect()
    }

    /// MISP's `uri` holds a path far more often than a URL; `url` sometimes does by mistake. Both become URL-path
    /// indicators (no SCO: STIX has no object for a path alone), and a path that cannot be one is named.
    #[test]
    fn uri_paths_become_path_indicators() {
        let ev = r#"{"Event":{"uuid":"6a4e4fdd-1eb4-4ff3-9e87-43fa950d210f","info":"gate","Tag":[{"name":"tlp:green"}],
          "Attribute":[
            {"type":"uri","value":"/wp-content/gate.php?id=7","to_ids":true},
            {"type":"url","value":"/panel/","to_ids":true},
            {"type":"uri","value":"https://evil.example/a","to_ids":true},
            {"type":"uri","value":"gate.php","to_ids":true},
            {"type":"uri","value":"/","to_ids":true},
            {"type":"uri","value":"/context-only","to_ids":false}
          ]}}"#;
        let (items, res) = run(ev);
        res.expect("parses");
        let patterns: Vec<&str> = objects(&items, "indicator")
            .iter()
            .filter_map(|o| o.str("pattern"))
            .collect();
        assert_eq!(patterns.len(), 3, "{patterns:?}");
        let path =
            Observable::new(ObservableKind::UrlPath, "/wp-content/gate.php?id=7").expect("path");
        let dir = Observable::new(ObservableKind::UrlPath, "/panel/").expect("dir");
        assert!(
            patterns.contains(&path.to_pattern().as_str()),
            "{patterns:?}"
        );
        assert!(
            patterns.contains(&dir.to_pattern().as_str()),
            "{patterns:?}"
        );
        assert!(patterns.contains(&"[url:value = 'https://evil.example/a']"));
        let urls: Vec<&str> = objects(&items, "url")
            .iter()
            .filter_map(|o| o.str("value"))
            .collect();
        assert_eq!(
            urls,
            ["https://evil.example/a"],
            "only the whole URL has an SCO"
        );
        let rejected = rejects(&items);
        assert_eq!(rejected.len(), 1, "{rejected:?}");
        assert!(rejected[0].0.ends_with("Attribute[4]"), "{rejected:?}");
        assert!(rejected[0].1.contains("root"), "{rejected:?}");
    }

    const EVENT: &str = r#"{"Event":{"uuid":"5A4E4FDD-1EB4-4FF3-9E87-43FA950D210F","info":"Sofacy phishing","date":"2024-03-01","timestamp":"1709300000","publish_timestamp":"1709301000",
      "threat_level_id":"1","analysis":"2",
      "Orgc":{"name":"CIRCL","uuid":"55f6ea5e-2c60-40e5-964f-47a8950d210f"},
      "Tag":[{"name":"tlp:amber"},{"name":"type:OSINT"},{"name":"misp-galaxy:threat-actor=\"APT28\""},{"name":"misp-galaxy:mitre-attack-pattern=\"Spearphishing Attachment - T1566.001\""}],
      "Galaxy":[{"type":"mitre-malware","GalaxyCluster":[{"type":"mitre-malware","value":"X-Agent - S0161","uuid":"7343e208-7cab-45f2-a47b-41ba5e2f0fab","meta":{"synonyms":["CHOPSTICK"]}}]}],
      "Attribute":[
        {"uuid":"11111111-1111-4111-8111-111111111111","type":"domain","value":"evil[.]example","to_ids":true,"category":"Network activity","comment":"C2"},
        {"uuid":"22222222-2222-4222-8222-222222222222","type":"ip-dst|port","value":"198.51.100.7|443","to_ids":"1","Tag":[{"name":"tlp:red"}]},
        {"type":"domain","value":"not a domain","to_ids":true},
        {"type":"md5"},
        {"type":"text","value":"free text is not an indicator"},
        {"type":"link","value":"https://blog.example/report","comment":"write-up"},
        {"type":"ip-src","value":"2001:DB8::1","to_ids":false},
        {"type":"filename|sha256","value":"drop.exe|AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
         "Galaxy":[{"type":"ransomware","GalaxyCluster":[{"value":"Cryptolocker","uuid":"a1b2c3d4-1111-4111-8111-111111111111"}]}]},
        {"type":"x509-fingerprint-sha1","value":"0123456789abcdef0123456789abcdef01234567"},
        {"type":"AS","value":"AS64500"},
        {"type":"domain","value":"deleted.example","deleted":true},
        "junk"
      ],
      "Object":[{"name":"file","meta-category":"file","uuid":"33333333-3333-4333-8333-333333333333","Attribute":[
          {"type":"filename","value":"payload.dll","object_relation":"filename"},
          {"type":"md5","value":"d41d8cd98f00b204e9800998ecf8427e","to_ids":true},
          {"type":"sha256","value":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","to_ids":true},
          {"type":"sha1","value":"xyz"},
          {"type":"size-in-bytes","value":"0"}]},
        {"name":"domain-ip","Attribute":[{"type":"domain","value":"other.example"},{"type":"ip-dst","value":"203.0.113.9"}]}]}}"#;

    #[test]
    fn event_to_report_indicators_and_observables() {
        let (items, res) = run(EVENT);
        res.expect("parses");
        let reports = objects(&items, "report");
        assert_eq!(reports.len(), 1);
        let report = reports[0];
        assert_eq!(
            report.id(),
            ids::vigil_id("report", &["5a4e4fdd-1eb4-4ff3-9e87-43fa950d210f"])
        );
        assert_eq!(report.name(), Some("Sofacy phishing"));
        assert_eq!(report.str("published"), Some("2024-03-01T13:50:00.000Z"));
        assert_eq!(report.str("created"), Some("2024-03-01T00:00:00.000Z"));
        assert_eq!(report.str("modified"), Some("2024-03-01T13:33:20.000Z"));
        assert_eq!(report.tlp(), Some(Tlp::Amber));
        assert_eq!(report.get("labels"), Some(&json!(["type:OSINT"])));
        let identity = objects(&items, "identity")[0];
        assert_eq!(identity.name(), Some("CIRCL"));
        assert_eq!(report.str("created_by_ref"), Some(identity.id()));
        let refs: Vec<&str> = report
            .get("object_refs")
            .and_then(Value::as_array)
            .expect("refs")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(!refs.contains(&identity.id()));
        let ext = report.get("external_references").expect("ext").to_string();
        assert!(ext.contains("https://blog.example/report") && ext.contains("write-up"));

        let indicators = objects(&items, "indicator");
        let patterns: Vec<&str> = indicators.iter().filter_map(|i| i.str("pattern")).collect();
        assert_eq!(
            patterns,
            vec![
                "[domain-name:value = 'evil.example']",
                "[ipv4-addr:value = '198.51.100.7']",
                "[file:hashes.'SHA-256' = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa']",
                "[x509-certificate:hashes.'SHA-1' = '0123456789abcdef0123456789abcdef01234567']",
                "[file:hashes.'MD5' = 'd41d8cd98f00b204e9800998ecf8427e' OR file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
                "[domain-name:value = 'other.example']",
                "[ipv4-addr:value = '203.0.113.9']",
            ]
        );
        for i in &indicators {
            assert!(refs.contains(&i.id()), "{} in object_refs", i.id());
        }
        // Same value, same id as an IOC list would give it.
        let dom = Observable::detect("evil.example").expect("domain");
        assert_eq!(
            indicators[0].id(),
            indicator_for(&dom, &ctx(), &[]).expect("ind").id()
        );
        assert_eq!(indicators[0].str("description"), Some("C2"));
        assert_eq!(
            indicators[0].get("labels"),
            Some(&json!(["Network activity"]))
        );
        assert_eq!(indicators[0].tlp(), Some(Tlp::Amber));
        assert_eq!(indicators[0].confidence(), Some(80));
        // Attribute-level tlp:red overrides the event's amber.
        assert_eq!(indicators[1].tlp(), Some(Tlp::Red));
        assert_eq!(indicators[1].str("description"), Some("port 443"));
        assert_eq!(
            indicators[1].str("valid_from"),
            Some("2024-03-01T00:00:00.000Z")
        );
        let original = items.iter().find_map(|i| match i {
            Item::Object {
                object,
                original_id,
                ..
            } if object.id() == indicators[0].id() => original_id.clone(),
            _ => None,
        });
        assert_eq!(
            original.as_deref(),
            Some("11111111-1111-4111-8111-111111111111")
        );

        // Observables: to_ids=false and AS still give SCOs, never indicators.
        assert_eq!(
            objects(&items, "ipv6-addr")[0].str("value"),
            Some("2001:db8::1")
        );
        assert_eq!(
            objects(&items, "autonomous-system")[0].get("number"),
            Some(&json!(64500))
        );
        assert!(objects(&items, "x509-certificate").len() == 1);
        let files = objects(&items, "file");
        assert_eq!(files.len(), 2);
        assert_eq!(files[1].str("name"), Some("payload.dll"));
        assert_eq!(
            files[1]
                .get("hashes")
                .and_then(Value::as_object)
                .map(|h| h.len()),
            Some(2)
        );
        assert!(objects(&items, "domain-name")
            .iter()
            .all(|d| d.str("value") != Some("deleted.example")));

        // Markings travel with the objects that use them.
        let markings: Vec<&str> = objects(&items, "marking-definition")
            .iter()
            .map(|m| m.id())
            .collect();
        assert_eq!(markings.len(), 2);
        assert!(
            markings.contains(&Tlp::Amber.marking_id())
                && markings.contains(&Tlp::Red.marking_id())
        );

        let rej = rejects(&items);
        let locs: Vec<&str> = rej.iter().map(|(l, _)| *l).collect();
        assert_eq!(
            locs,
            vec![
                "Event.Attribute[2]",
                "Event.Attribute[3]",
                "Event.Attribute[11]",
                "Event.Object[0].Attribute[3]"
            ],
            "{rej:?}"
        );
        assert!(rej[0].1.contains("not a domain"), "{}", rej[0].1);
        assert!(rej[1].1.contains("no `value`"));

        let links = links(&items);
        let from_report: Vec<_> = links.iter().filter(|l| l.from == report.id()).collect();
        assert_eq!(from_report.len(), 3);
        let malware = from_report
            .iter()
            .find(|l| l.target_types[0] == "malware")
            .expect("malware link");
        assert_eq!(malware.relationship_type, "related-to");
        assert_eq!(
            malware.keys[..3],
            [
                "malware--7343e208-7cab-45f2-a47b-41ba5e2f0fab",
                "S0161",
                "X-Agent"
            ]
        );
        assert_eq!(
            malware.fallback.as_ref().map(|f| f.id()),
            Some("malware--7343e208-7cab-45f2-a47b-41ba5e2f0fab")
        );
        assert_eq!(malware.marking_refs, vec![Tlp::Amber.marking_id()]);
        let actor = from_report
            .iter()
            .find(|l| l.target_types[0] == "intrusion-set")
            .expect("actor link");
        assert_eq!(actor.keys, vec!["APT28"]);
        assert_eq!(
            actor.fallback.as_ref().map(|f| f.type_()),
            Some("threat-actor")
        );
        let technique = from_report
            .iter()
            .find(|l| l.target_types[0] == "attack-pattern")
            .expect("technique link");
        assert_eq!(technique.keys[0], "T1566.001");
        assert!(technique.fallback.is_none());
        // Every indicator indicates the event's malware; the attribute's own family only from its indicator.
        let indicates: Vec<_> = links
            .iter()
            .filter(|l| l.relationship_type == "indicates")
            .collect();
        assert_eq!(
            indicates
                .iter()
                .filter(|l| l.keys[0] == "malware--7343e208-7cab-45f2-a47b-41ba5e2f0fab")
                .count(),
            indicators.len()
        );
        let crypto: Vec<_> = indicates
            .iter()
            .filter(|l| l.keys.contains(&"Cryptolocker".to_string()))
            .collect();
        assert_eq!(crypto.len(), 1);
        assert_eq!(crypto[0].from, indicators[2].id());
        assert_eq!(
            crypto[0].fallback.as_ref().map(|f| f.id().to_string()),
            Some(ids::vigil_id(
                "malware",
                &["a1b2c3d4-1111-4111-8111-111111111111"]
            ))
        );
    }

    #[test]
    fn shapes_of_documents() {
        // bare event, response list, array of wrapped events
        let bare = r#"{"info":"bare","date":"2020-01-01","Attribute":[{"type":"url","value":"hxxp://bad.example/x"}],"Orgc":{"name":"Org"}}"#;
        let (items, res) = run(bare);
        res.expect("bare");
        assert_eq!(objects(&items, "report").len(), 1);
        assert_eq!(
            objects(&items, "indicator")[0].str("pattern"),
            Some("[url:value = 'http://bad.example/x']")
        );
        let resp = format!(r#"{{"response":[{{"Event":{bare}}},{bare},42,{{"x":1}}]}}"#);
        let (items, res) = run(&resp);
        res.expect("response");
        let reports = objects(&items, "report");
        assert_eq!(reports.len(), 2);
        assert_eq!(
            reports[0].id(),
            reports[1].id(),
            "the same event without uuid twice: one report id"
        );
        assert_eq!(
            rejects(&items).iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            vec!["response[2]", "response[3]"]
        );
        let arr = format!(r#"[{{"Event":{bare}}}]"#);
        assert!(run(&arr).1.is_ok());
        let (items, res) = run(
            r#"{"Event":{"info":"odd","Orgc":{"name":"Org"},"Attribute":{"type":"domain"},"Object":"x"}}"#,
        );
        res.expect("odd lists");
        assert_eq!(
            rejects(&items).iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            vec!["Event.Attribute", "Event.Object"]
        );
        // an event with nothing to point at, and no org: nothing, but no error
        let (items, res) = run(r#"{"info":"empty","date":"2020-01-01"}"#);
        assert!(res.is_ok() && items.is_empty());
        // an event with only an org: a report pointing at the org
        let (items, res) = run(
            r#"{"Event":{"info":"only org","Orgc":{"name":"Org"},"Tag":[{"name":"misp-galaxy:threat-actor=\"Turla\""}]}}"#,
        );
        res.expect("org only");
        let r = objects(&items, "report");
        assert_eq!(
            r[0].get("object_refs"),
            Some(&json!([objects(&items, "identity")[0].id()]))
        );
        assert_eq!(links(&items).len(), 1);
    }

    #[test]
    fn not_events_are_unreadable_with_a_reason() {
        for (doc, want) in [
            ("{}", "top-level keys are (none)"),
            (
                r#"{"timestamp":"1","type":"bar","value":"1"}"#,
                "top-level keys are timestamp, type, value",
            ),
            (
                r#"{"type":"bundle","id":"bundle--x","objects":[]}"#,
                "STIX bundle",
            ),
            (r#"[{"id":"3","info":"x"}]"#, "search index"),
            (
                r#"{"uuid":"x","name":"g","type":"guidelines","GalaxyCluster":[]}"#,
                "MISP galaxy",
            ),
            (r#"{"Event":[1]}"#, "`Event` is not a JSON object"),
            ("42", "a number"),
            ("", "empty input"),
            (
                r#"{"Event":{"info":"trunc","Attribute":[{"type":"domain","#,
                "not valid JSON",
            ),
        ] {
            let (items, res) = run(doc);
            match res {
                Err(FormatError::Unreadable { reason, .. }) => {
                    assert!(reason.contains(want), "{doc}: {reason}")
                }
                other => panic!("{doc}: {other:?}"),
            }
            assert!(items.is_empty());
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(run(&deep).1, Err(FormatError::Unreadable { .. })));
    }

    #[test]
    fn manifest() {
        let m = r##"{"5a4e4fdd-1eb4-4ff3-9e87-43fa950d210f":{"info":"One","date":"2018-01-04","timestamp":1515081727,"threat_level_id":"1","analysis":0,
             "Orgc":{"name":"CIRCL","uuid":"55f6ea5e-2c60-40e5-964f-47a8950d210f"},"Tag":[{"name":"tlp:white","colour":"#fff"}]},
           "../../etc/passwd":{"info":"evil"},
           "6a4e4fdd-1eb4-4ff3-9e87-43fa950d210f":"nope"}"##;
        let entries = parse_manifest(&mut m.as_bytes(), "manifest.json").expect("manifest");
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0].file_name().as_deref(),
            Some("5a4e4fdd-1eb4-4ff3-9e87-43fa950d210f.json")
        );
        assert_eq!(entries[0].timestamp, Some(1515081727));
        assert_eq!(entries[0].threat_level_id, Some(1));
        assert_eq!(entries[0].orgc_name.as_deref(), Some("CIRCL"));
        assert_eq!(entries[0].tags, vec!["tlp:white"]);
        assert!(
            entries[1].file_name().is_none()
                && entries[1]
                    .problem
                    .as_deref()
                    .is_some_and(|p| p.contains("not an event uuid"))
        );
        assert!(entries[2].file_name().is_none());
        assert!(parse_manifest(&mut "[]".as_bytes(), "manifest.json").is_err());
        assert!(parse_manifest(&mut "{".as_bytes(), "manifest.json").is_err());
    }

    #[test]
    fn fixture_bad_attributes_are_rejected_one_by_one() {
        let (items, res) = run(include_str!("../tests/fixtures/misp/bad_attributes.json"));
        res.expect("the event is readable");
        let inds = objects(&items, "indicator");
        assert_eq!(inds.len(), 1);
        assert_eq!(
            inds[0].str("pattern"),
            Some("[domain-name:value = 'good.example.org']")
        );
        assert_eq!(inds[0].tlp(), Some(Tlp::Green));
        assert_eq!(objects(&items, "report").len(), 1);
        let rej = rejects(&items);
        let locs: Vec<&str> = rej.iter().map(|(l, _)| *l).collect();
        // [8] is a registry key: a type Vigil does not map, skipped without a reject.
        let want: Vec<String> = [1, 2, 3, 4, 5, 6, 7, 9, 10]
            .iter()
            .map(|i| format!("Event.Attribute[{i}]"))
            .collect();
        assert_eq!(locs, want, "{rej:?}");
        for (want, (_, reason)) in [
            "domain",
            "ipv4",
            "32 hex digits",
            "no `value`",
            "port number",
            "is an array",
            "no `type`",
            "empty `value`",
            "null",
        ]
        .iter()
        .zip(&rej)
        {
            assert!(reason.contains(want), "`{reason}` should mention {want}");
        }
    }

    #[test]
    fn fixtures_truncated_and_not_an_event() {
        let (items, res) = run(include_str!("../tests/fixtures/misp/truncated_event.json"));
        assert!(items.is_empty());
        match res {
            Err(FormatError::Unreadable { reason, file }) => {
                assert_eq!(file, "event.json");
                assert!(
                    reason.contains("not valid JSON") && reason.contains("line 1"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        let (items, res) = run(include_str!("../tests/fixtures/misp/not_an_event.json"));
        assert!(items.is_empty());
        assert!(
            matches!(res, Err(FormatError::Unreadable { reason, .. }) if reason.starts_with("not a MISP event"))
        );
    }

    #[test]
    fn fixture_feed_folder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/misp/feed");
        let manifest = std::fs::read(dir.join("manifest.json")).expect("manifest fixture");
        let entries =
            parse_manifest(&mut manifest.as_slice(), "manifest.json").expect("manifest parses");
        assert_eq!(entries.len(), 3);
        assert!(entries[2].problem.is_some() && entries[2].file_name().is_none());
        assert_eq!(
            entries[0].tags,
            vec!["tlp:clear", "misp-galaxy:threat-actor=\"Vigil Test Actor\""]
        );
        assert_eq!(
            (
                entries[1].analysis,
                entries[1].threat_level_id,
                entries[1].timestamp
            ),
            (Some(1), Some(3), Some(1746300000))
        );
        let mut all = Vec::new();
        for e in &entries {
            let Some(name) = e.file_name() else { continue };
            let body = std::fs::read(dir.join(&name)).expect("event file beside the manifest");
            let c = ParseCtx {
                file: name.clone(),
                ..ctx()
            };
            let mut items = Vec::new();
            parse_event(&mut body.as_slice(), &c, &mut |i| {
                items.push(i);
                Ok(())
            })
            .expect("feed event parses");
            let report = objects(&items, "report")[0].clone();
            assert_eq!(report.name(), e.info.as_deref());
            assert_eq!(report.id(), ids::vigil_id("report", &[&e.uuid]));
            all.push(items);
        }
        let one = &all[0];
        let inds = objects(one, "indicator");
        assert_eq!(inds.len(), 2);
        assert!(inds.iter().all(|i| i.tlp() == Some(Tlp::Clear)));
        assert_eq!(
            inds[1].str("pattern"),
            Some("[url:value = 'https://c2.vigil-fixture.example/gate.php']")
        );
        let actor = links(one)
            .into_iter()
            .find(|l| l.target_types[0] == "intrusion-set")
            .expect("actor link");
        assert_eq!(actor.keys, vec!["Vigil Test Actor"]);
        assert_eq!(
            actor.fallback.as_ref().map(|f| f.id().to_string()),
            Some(ids::vigil_id("threat-actor", &["vigil test actor"]))
        );
        let two = &all[1];
        let inds = objects(two, "indicator");
        assert_eq!(inds.len(), 1);
        assert_eq!(
            inds[0].str("pattern"),
            Some("[file:hashes.'SHA-1' = 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3' OR file:hashes.'SHA-256' = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08']")
        );
        // One of the object's hashes is tlp:red: the whole object is.
        assert_eq!(inds[0].tlp(), Some(Tlp::Red));
        assert_eq!(objects(two, "report")[0].tlp(), Some(Tlp::Amber));
        assert_eq!(objects(two, "file")[0].str("name"), Some("loader.ps1"));
        let technique = links(two)
            .into_iter()
            .find(|l| l.target_types[0] == "attack-pattern")
            .expect("technique link");
        assert_eq!(
            technique.keys[..2],
            [
                "attack-pattern--7385dfaf-6886-4229-9ecd-6fd678040830",
                "T1059"
            ]
        );
        assert_eq!(technique.relationship_type, "related-to");
    }

    #[test]
    fn detect_recognises_bare_events_only() {
        use crate::{detect, Format};
        let bare = br#"{"Attribute":[{"type":"ip-dst","value":"192.0.2.1","id":"1"}],"info":"x"}"#;
        assert_eq!(detect("event.json", bare), Some(Format::Misp));
        assert_eq!(
            detect(
                "event.json",
                br#"{"info":"x","date":"2020-01-01","threat_level_id":"1"}"#
            ),
            Some(Format::Misp)
        );
        assert_eq!(detect("event.json", EVENT.as_bytes()), Some(Format::Misp));
        assert_eq!(
            detect(
                "feed/manifest.json",
                br#"{"5a4e4fdd-1eb4-4ff3-9e87-43fa950d210f":{"info":"x","threat_level_id":1}}"#
            ),
            Some(Format::MispFeed)
        );
        let stix = br#"{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","pattern":"[x:y = 'z']"}"#;
        assert_eq!(detect("i.json", stix), Some(Format::Stix));
        assert_eq!(detect("b.json", br#"{"type":"bundle","id":"bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","objects":[]}"#), Some(Format::Stix));
        assert_eq!(
            detect("l.txt", b"evil.example\n1.2.3.4\n"),
            Some(Format::Iocs)
        );
        assert_eq!(detect("s.json", br#"[{"SharingGroup":{"id":"1"}}]"#), None);
    }

    #[test]
    fn helpers() {
        assert!(
            to_ids(Some(&json!("1")), false)
                && !to_ids(Some(&json!(0)), true)
                && to_ids(None, true)
                && !to_ids(Some(&json!("x")), false)
        );
        assert_eq!(
            tlp_of(&["TLP:GREEN", "tlp:amber+strict", "tlp:ex:chr"]),
            Some(Tlp::AmberStrict)
        );
        assert_eq!(tlp_of(&["tlp:unclear", "green"]), None);
        assert_eq!(stix_time(Some(&json!("0"))), None);
        assert_eq!(
            stix_time(Some(&json!(1))),
            Some("1970-01-01T00:00:01.000Z".into())
        );
        assert_eq!(
            stix_time(Some(&json!("2019-06-11T10:23:44.000000+00:00"))),
            Some("2019-06-11T10:23:44.000Z".into())
        );
        assert_eq!(date_time(Some(&json!("2019-02-30"))), None);
        for bad in ["1.2.3.4", "1.2.3.4|http", "1.2.3.999|80"] {
            assert!(facts(Shape::IpPort, bad, false).is_err(), "{bad}");
        }
        for shape in [Shape::Uri, Shape::Url] {
            let path = facts(shape, " /gate.php?id=1 ", false).expect("a path");
            assert_eq!(path.len(), 1);
            assert_eq!(path[0].obs.kind, ObservableKind::UrlPath);
            assert_eq!(path[0].obs.value, "/gate.php?id=1");
            assert!(path[0].sco.is_empty(), "a path alone has no SCO");
            let err = facts(shape, "/", false).err().expect("the root is refused");
            assert!(err.contains("root"), "{err}");
        }
        assert!(facts(Shape::Uri, "gate.php", false)
            .expect("relative")
            .is_empty());
        let url = facts(Shape::Url, "http://evil.example/gate.php", false).expect("url");
        assert_eq!(url[0].obs.kind, ObservableKind::Url);
        assert!(!url[0].sco.is_empty());
        assert_eq!(
            facts(Shape::Uri, "//evil.example/a", false)
                .expect("scheme-relative")
                .len(),
            0
        );
        assert!(facts(Shape::FileHash(ObservableKind::Md5), "bar.exe", true)
            .expect("sample before upload")
            .is_empty());
        assert!(facts(Shape::FileHash(ObservableKind::Md5), "bar.exe", false).is_err());
        assert_eq!(
            facts(Shape::DomainIp, "a.example|192.0.2.1", false)
                .expect("domain|ip")
                .len(),
            2
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_text(s in "\\PC{0,400}") {
            let _ = run(&s);
            let _ = run_within(&s, 16);
            let _ = parse_manifest(&mut s.as_bytes(), "m.json");
        }

        #[test]
        fn never_panics_on_bytes(b in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let mut items = 0;
            let _ = parse_event(&mut b.as_slice(), &ctx(), &mut |_| { items += 1; Ok(()) });
        }

        #[test]
        fn never_panics_on_attribute_values(ty in proptest::sample::select(vec![
                "domain", "hostname", "ip-src", "ip-dst", "ip-src|port", "ip-dst|port", "domain|ip", "url", "uri", "link", "email",
                "email-src", "md5", "sha1", "sha256", "sha512", "filename|md5", "filename|sha256", "malware-sample", "AS",
                "x509-fingerprint-sha1", "x509-fingerprint-sha256", "text"]),
            value in "\\PC{0,80}",
            tag in "\\PC{0,40}") {
            let ev = json!({"Event": {"info": "p", "uuid": "5a4e4fdd-1eb4-4ff3-9e87-43fa950d210f", "Orgc": {"name": "o"},
                "Tag": [{"name": tag}], "Attribute": [{"type": ty, "value": value, "Tag": [{"name": format!("misp-galaxy:{}", tag)}]}],
                "Object": [{"name": "file", "Attribute": [{"type": "md5", "value": value}, {"type": "filename", "value": value}]}]}});
            let (items, res) = run(&ev.to_string());
            proptest::prop_assert!(res.is_ok());
            // Whatever the value, an attribute is either read or rejected, and every object is valid STIX.
            for i in &items {
                if let Item::Object { object, .. } = i {
                    proptest::prop_assert!(StixObject::from_value(object.to_value()).is_ok());
                }
            }
        }
    }
}
