//! STIX 2.0 / 2.1 bundles (or a lone object, or a JSON array of objects), streamed object by object: a bundle of
//! any size is read in memory proportional to its largest object, and an object too large to store is scanned past
//! without being held (`RAW_LIMIT`). 2.0 objects are upgraded to 2.1 on the way in. An object broken by an
//! unescaped quote or a stray bracket costs that object: reading resumes at the next STIX object of the list.

use std::cell::RefCell;
use std::fmt;
use std::io::{BufRead, Read};

/// Inputs up to this size are parsed from memory.
pub const SLICE_LIMIT: usize = 128 * 1024 * 1024;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use vigil_model::{upgrade, StixObject};

use crate::jsonsplit::{self, Cut, Outline, Raw, SplitError, Splitter};
use crate::{Emit, FormatError, Item, ParseCtx};

/// In a streamed input, an object longer than this many bytes of JSON is scanned past and rejected without being
/// read into memory. Twice `MAX_OBJECT_BYTES` (which counts text, not JSON) so that what is refused here would
/// be refused by `StixObject::from_map` too, escapes aside; objects between the two are parsed and refused there.
const RAW_LIMIT: usize = 2 * vigil_model::object::MAX_OBJECT_BYTES;

struct State<'a, 'e> {
    ctx: &'a ParseCtx,
    emit: &'a mut Emit<'e>,
    spec_20: bool,
    sink_error: Option<FormatError>,
    index: usize,
    /// Items given to `emit`.
    emitted: usize,
}

impl<'a, 'e> State<'a, 'e> {
    fn new(ctx: &'a ParseCtx, emit: &'a mut Emit<'e>) -> Self {
        State {
            ctx,
            emit,
            spec_20: false,
            sink_error: None,
            index: 0,
            emitted: 0,
        }
    }

    fn object(&mut self, location: String, v: Value) -> Result<(), ()> {
        let item = match v {
            Value::Object(mut m) => {
                if self.spec_20 || !m.contains_key("spec_version") {
                    upgrade::upgrade_to_21(&mut m);
                }
                if let (Some(c), false) = (self.ctx.confidence, m.contains_key("confidence")) {
                    if !vigil_model::object::is_sco_type(
                        m.get("type").and_then(Value::as_str).unwrap_or(""),
                    ) {
                        m.insert("confidence".into(), Value::from(c));
                    }
                }
                let label = describe(&m);
                match StixObject::from_map(m) {
                    Ok(object) => Item::Object {
                        object,
                        original_id: None,
                        derived: false,
                    },
                    Err(e) => Item::Reject {
                        location: format!("{location} ({label})"),
                        reason: e.to_string(),
                    },
                }
            }
            other => Item::Reject {
                location,
                reason: format!("not a JSON object but {}", json_kind(&other)),
            },
        };
        self.give(item)
    }

    /// Hands an item to the consumer, counting it; a consumer's error is kept in `sink_error`.
    fn give(&mut self, item: Item) -> Result<(), ()> {
        self.emitted += 1;
        (self.emit)(item).map_err(|e| {
            self.sink_error = Some(e);
        })
    }
}

fn describe(m: &Map<String, Value>) -> String {
    label(
        m.get("id").and_then(Value::as_str),
        m.get("type").and_then(Value::as_str),
    )
}

/// How a rejected object is named: by its id, else by its type.
fn label(id: Option<&str>, kind: Option<&str>) -> String {
    match id {
        Some(id) => id.chars().take(100).collect(),
        None => format!("type {}", kind.unwrap_or("?")),
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

struct Top<'s, 'a, 'e>(&'s RefCell<State<'a, 'e>>);

impl<'de> DeserializeSeed<'de> for Top<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a STIX bundle, a STIX object or an array of STIX objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Objects(self.0, "$").visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut rest = Map::new();
        let mut saw_objects = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "objects" {
                saw_objects = true;
                map.next_value_seed(Objects(self.0, "$.objects"))?;
            } else if key == "spec_version" {
                let v: Value = map.next_value()?;
                if v.as_str() == Some("2.0") {
                    self.0.borrow_mut().spec_20 = true;
                }
                rest.insert(key, v);
            } else if saw_objects {
                map.next_value::<IgnoredAny>()?;
            } else {
                rest.insert(key, map.next_value()?);
            }
        }
        let is_bundle = rest.get("type").and_then(Value::as_str) == Some("bundle");
        if !is_bundle && !saw_objects {
            let mut st = self.0.borrow_mut();
            st.object("$".into(), Value::Object(rest))
                .map_err(|_| serde::de::Error::custom("stopped by the consumer"))?;
        }
        Ok(())
    }
}

struct Objects<'s, 'a, 'e>(&'s RefCell<State<'a, 'e>>, &'static str);

impl<'de> DeserializeSeed<'de> for Objects<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Objects<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of STIX objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            let mut st = self.0.borrow_mut();
            let i = st.index;
            st.index += 1;
            st.object(format!("{}[{i}]", self.1), v)
                .map_err(|_| serde::de::Error::custom("stopped by the consumer"))?;
        }
        Ok(())
    }
}

enum StreamError {
    Split(SplitError),
    /// A fault inside the object at `location` (its place and id or type) with no STIX object after it to resume
    /// at: the file's error, naming the object it cost.
    Lost {
        fault: SplitError,
        location: String,
    },
    Json {
        at: String,
        e: serde_json::Error,
    },
    Stopped,
}

impl From<SplitError> for StreamError {
    fn from(e: SplitError) -> Self {
        StreamError::Split(e)
    }
}

fn too_large_reason(o: &Outline) -> String {
    format!(
        "the object is {} MiB of JSON, more than the {} MiB of text one object may hold (largest property: `{}`); \
         skipped without being read",
        o.bytes.div_ceil(1 << 20),
        vigil_model::object::MAX_OBJECT_BYTES >> 20,
        o.largest.as_deref().unwrap_or("?")
    )
}

/// The streamed counterpart of [`Top`]: the same results (objects, rejects, errors) as parsing from memory, with
/// each object cut out of the stream and parsed alone, so memory stays that of the largest object kept.
fn parse_stream<R: BufRead>(r: R, state: &RefCell<State<'_, '_>>) -> Result<(), StreamError> {
    let mut s = Splitter::new(r);
    match s.peek()? {
        Some(b'[') => stream_objects(&mut s, state, "$")?,
        Some(b'{') => stream_members(&mut s, state)?,
        Some(byte) => {
            return Err(SplitError::Unexpected {
                byte,
                offset: s.pos,
                expected: "a STIX bundle, a STIX object or an array of STIX objects",
            }
            .into())
        }
        None => return Err(SplitError::Eof.into()),
    }
    match s.peek()? {
        None => Ok(()),
        Some(byte) => Err(SplitError::Unexpected {
            byte,
            offset: s.pos,
            expected: "the end of the input",
        }
        .into()),
    }
}

fn stream_objects<R: BufRead>(
    s: &mut Splitter<R>,
    state: &RefCell<State<'_, '_>>,
    path: &str,
) -> Result<(), StreamError> {
    s.expect(b"[", "an array of STIX objects")?;
    if s.peek()? == Some(b']') {
        s.expect(b"]", "`]`")?;
        return Ok(());
    }
    loop {
        s.peek()?;
        let start = s.pos;
        let raw = s.value_or_desync(RAW_LIMIT)?;
        let mut lost = None;
        let mut st = state.borrow_mut();
        let location = format!("{path}[{}]", st.index);
        match raw {
            Cut::Value(Raw::Bytes(b)) => match serde_json::from_slice::<Value>(&b) {
                Ok(v) => {
                    drop(b);
                    st.index += 1;
                    st.object(location, v).map_err(|_| StreamError::Stopped)?;
                }
                // The object's strings and brackets pair up, so where it ends is known and what follows can still
                // be read: one object with a stray control character, invalid UTF-8, a `NaN` or a trailing comma
                // is rejected alone.
                Err(e) => {
                    st.index += 1;
                    let o = jsonsplit::outline_of(&b);
                    st.give(Item::Reject {
                        location: format!(
                            "{location} ({})",
                            label(o.id.as_deref(), o.kind.as_deref())
                        ),
                        reason: format!(
                            "not valid JSON: {e} (counted from the start of this object, at byte {start} of the \
                             input); the objects around it were read"
                        ),
                    })
                    .map_err(|_| StreamError::Stopped)?;
                }
            },
            Cut::Value(Raw::TooLarge(o)) => {
                st.index += 1;
                st.give(Item::Reject {
                    location: format!("{location} ({})", label(o.id.as_deref(), o.kind.as_deref())),
                    reason: too_large_reason(&o),
                })
                .map_err(|_| StreamError::Stopped)?;
            }
            // An unescaped quote inside a string: the object's text no longer pairs up, so where it ends is not
            // known. The search for the next object starts just after this one's `{`, as its end may lie before
            // the place the fault showed (`"C:\dir\"},{"type":..`).
            Cut::Desync { held, byte, offset } => {
                let o = jsonsplit::outline_of(&held);
                s.unread_broken(&held);
                lost = Some((
                    SplitError::Unexpected {
                        byte,
                        offset,
                        expected: jsonsplit::DESYNC_EXPECTED,
                    },
                    label(o.id.as_deref(), o.kind.as_deref()),
                ));
            }
        }
        drop(st);
        if let Some((fault, named)) = lost {
            resync(s, state, path, fault, Some(named))?;
        }
        loop {
            match s.expect(b",]", "`,` or `]` after an object") {
                Ok(b']') => return Ok(()),
                Ok(_) => break,
                Err(fault @ SplitError::Unexpected { .. }) => resync(s, state, path, fault, None)?,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// After `fault` in the list at `path`, finds the next value that is a STIX object (an object with a string
/// `type` and `id`: a nested object such as a kill-chain phase is passed over), rejects what was skipped as one
/// item (`broken`: the name of the object the fault was in, if known), and gives that object to the consumer.
/// Without one before the end of the input, `fault` is the file's error, as it was before any was looked for.
fn resync<R: BufRead>(
    s: &mut Splitter<R>,
    state: &RefCell<State<'_, '_>>,
    path: &str,
    fault: SplitError,
    broken: Option<String>,
) -> Result<(), StreamError> {
    let found = s.next_object_where(RAW_LIMIT, |raw| match raw {
        Raw::Bytes(b) => match serde_json::from_slice::<Value>(&b) {
            Ok(Value::Object(m))
                if m.get("type").is_some_and(Value::is_string)
                    && m.get("id").is_some_and(Value::is_string) =>
            {
                Some(Ok(Value::Object(m)))
            }
            _ => None,
        },
        Raw::TooLarge(o) => (o.id.is_some() && o.kind.is_some()).then_some(Err(o)),
    })?;
    let Some((resumed, found)) = found else {
        return Err(match broken {
            Some(name) => StreamError::Lost {
                fault,
                location: format!("{path}[{}] ({name})", state.borrow().index),
            },
            None => fault.into(),
        });
    };
    let mut st = state.borrow_mut();
    let location = format!("{path}[{}]", st.index);
    st.index += 1;
    let (location, what) = match broken {
        Some(name) => (format!("{location} ({name})"), "the rest of this object"),
        None => (location, "what followed"),
    };
    st.give(Item::Reject {
        location,
        reason: format!(
            "not valid JSON: {fault}; {what} was skipped up to the next object, at byte {resumed}, and reading \
             went on from there"
        ),
    })
    .map_err(|_| StreamError::Stopped)?;
    let location = format!("{path}[{}]", st.index);
    st.index += 1;
    match found {
        Ok(v) => st.object(location, v),
        Err(o) => st.give(Item::Reject {
            location: format!("{location} ({})", label(o.id.as_deref(), o.kind.as_deref())),
            reason: too_large_reason(&o),
        }),
    }
    .map_err(|_| StreamError::Stopped)
}

/// The members of a top-level object: a bundle's `objects` are streamed; a lone object is gathered (up to
/// `RAW_LIMIT` bytes of values; past that its values are scanned past and it is rejected).
fn stream_members<R: BufRead>(
    s: &mut Splitter<R>,
    state: &RefCell<State<'_, '_>>,
) -> Result<(), StreamError> {
    let json = |at: &str| {
        let at = at.to_string();
        move |e| StreamError::Json { at, e }
    };
    s.expect(b"{", "`{`")?;
    let mut rest = Map::new();
    let mut saw_objects = false;
    let mut kept = 0usize;
    let mut oversized = Outline::default();
    let mut largest = 0u64;
    if s.peek()? == Some(b'}') {
        s.expect(b"}", "`}`")?;
    } else {
        loop {
            let key: String = match s.value(RAW_LIMIT)? {
                Raw::Bytes(b) => serde_json::from_slice(&b).map_err(json("$"))?,
                Raw::TooLarge(_) => {
                    return Err(StreamError::Json {
                        at: "$".into(),
                        e: serde::de::Error::custom("a key longer than one object may be"),
                    })
                }
            };
            s.expect(b":", "`:` after a key")?;
            if key == "objects" {
                saw_objects = true;
                stream_objects(s, state, "$.objects")?;
            } else {
                let start = s.pos;
                let raw = s.value(RAW_LIMIT.saturating_sub(kept))?;
                let len = s.pos - start + key.len() as u64;
                if len > largest {
                    largest = len;
                    oversized.largest = Some(key.clone());
                }
                oversized.bytes += len;
                match raw {
                    Raw::Bytes(b) if saw_objects => {
                        serde_json::from_slice::<IgnoredAny>(&b).map_err(json("$"))?;
                    }
                    Raw::Bytes(b) => {
                        let v: Value = serde_json::from_slice(&b).map_err(json("$"))?;
                        kept += b.len();
                        if key == "spec_version" && v.as_str() == Some("2.0") {
                            state.borrow_mut().spec_20 = true;
                        }
                        rest.insert(key, v);
                    }
                    // Past the budget, values are no longer kept: only the outline is reported.
                    Raw::TooLarge(_) => kept = RAW_LIMIT + 1,
                }
            }
            if s.expect(b",}", "`,` or `}` after a value")? == b'}' {
                break;
            }
        }
    }
    let is_bundle = rest.get("type").and_then(Value::as_str) == Some("bundle");
    if !is_bundle && !saw_objects {
        let mut st = state.borrow_mut();
        if kept > RAW_LIMIT {
            st.give(Item::Reject {
                location: format!("$ ({})", describe(&rest)),
                reason: too_large_reason(&oversized),
            })
            .map_err(|_| StreamError::Stopped)?;
        } else {
            st.object("$".into(), Value::Object(rest))
                .map_err(|_| StreamError::Stopped)?;
        }
    }
    Ok(())
}

/// What [`parse`] does with an input over 128 MiB: each object cut out of the stream and parsed alone. Public so
/// that tests and fuzzing reach it with small inputs; it gives the same items and errors as [`parse`].
pub fn parse_streamed<R: BufRead>(
    r: R,
    ctx: &ParseCtx,
    emit: &mut Emit<'_>,
) -> Result<(), FormatError> {
    let state = RefCell::new(State::new(ctx, emit));
    let res = parse_stream(r, &state);
    let st = state.into_inner();
    if let Some(e) = st.sink_error {
        return Err(e);
    }
    let after = st.index;
    res.map_err(|e| match e {
        StreamError::Split(SplitError::Io(e)) => FormatError::Io {
            file: ctx.file.clone(),
            reason: format!("read error after {after} objects: {e}"),
        },
        StreamError::Split(e) => FormatError::Unreadable {
            file: ctx.file.clone(),
            reason: format!("not valid JSON: {e} (after {after} objects)"),
        },
        StreamError::Lost { fault, location } => FormatError::Unreadable {
            file: ctx.file.clone(),
            reason: format!(
                "not valid JSON: {fault}, inside {location}; no object follows it to resume at, so that object \
                 and the rest of the input were not read (after {after} objects)"
            ),
        },
        StreamError::Json { at, e } => FormatError::Unreadable {
            file: ctx.file.clone(),
            reason: format!("not valid JSON in {at}: {e} (after {after} objects)"),
        },
        // Only returned with `sink_error` set, which was returned above.
        StreamError::Stopped => FormatError::Sink("stopped by the consumer".into()),
    })
}

/// What [`parse`] and [`parse_streamed`] must agree on, given what each gave for the same input (items and result):
/// both succeed or both fail, with the same items; except that where a number or literal runs straight into a
/// fault (`[truex]`), serde_json has taken the token and reading from memory rejects it as "not a JSON object",
/// where reading object by object rejects the whole value as "not valid JSON". For tests and the fuzz target.
pub fn paths_agree(
    in_memory: (&[Item], &Result<(), FormatError>),
    streamed: (&[Item], &Result<(), FormatError>),
) -> Result<(), String> {
    let ((a, ra), (b, rb)) = (in_memory, streamed);
    if ra.is_ok() != rb.is_ok() || a.len() != b.len() {
        return Err(format!("{ra:?}: {a:?} / {rb:?}: {b:?}"));
    }
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (format!("{x:?}"), format!("{y:?}"));
        let token = matches!((x, y), (
            Item::Reject { location: l1, reason: r1 },
            Item::Reject { location: l2, reason: r2 },
        ) if l2.starts_with(l1.as_str())
            && r1.starts_with("not a JSON object but")
            && r2.starts_with("not valid JSON"));
        if dx != dy && !token {
            return Err(format!("items differ: {dx} / {dy}"));
        }
    }
    Ok(())
}

/// Streams a STIX bundle (2.0 or 2.1), a single object, or an array of objects.
pub fn parse(r: &mut dyn BufRead, ctx: &ParseCtx, emit: &mut Emit<'_>) -> Result<(), FormatError> {
    // Parsing from a slice is several times faster than from a reader; bundles up to SLICE_LIMIT are read whole,
    // larger ones are cut object by object (`parse_streamed`) so memory stays bounded.
    let head = crate::input::read_head(r, SLICE_LIMIT as u64).map_err(|e| FormatError::Io {
        file: ctx.file.clone(),
        reason: e.to_string(),
    })?;
    if head.len() == SLICE_LIMIT {
        let chained = std::io::Cursor::new(head).chain(r);
        return parse_streamed(
            std::io::BufReader::with_capacity(1 << 20, chained),
            ctx,
            emit,
        );
    }
    let state = RefCell::new(State::new(ctx, emit));
    let mut de = serde_json::Deserializer::from_slice(&head);
    let res = Top(&state).deserialize(&mut de).and_then(|_| de.end());
    let st = state.into_inner();
    if let Some(e) = st.sink_error {
        return Err(e);
    }
    if let Err(e) = &res {
        if !e.is_io() {
            // Perhaps a fault inside one object of the list: read the input again object by object, which rejects
            // such an object alone and goes on, passing over the items already given (the two paths give the
            // same items up to the fault). A fault of the document itself fails there too, with its position.
            let done = st.emitted;
            let mut seen = 0usize;
            return parse_streamed(&head[..], ctx, &mut |item| {
                seen += 1;
                if seen > done {
                    (st.emit)(item)
                } else {
                    Ok(())
                }
            });
        }
    }
    res.map_err(|e| {
        let reason = if e.is_io() {
            format!("read error after {} objects: {e}", st.index)
        } else {
            format!("not valid JSON: {e} (after {} objects)", st.index)
        };
        if e.is_io() {
            FormatError::Io {
                file: ctx.file.clone(),
                reason,
            }
        } else {
            FormatError::Unreadable {
                file: ctx.file.clone(),
                reason,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ParseCtx {
        ParseCtx {
            source: "t".into(),
            file: "t.json".into(),
            confidence: None,
            now: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn run(input: &str) -> (Vec<Item>, Result<(), FormatError>) {
        let mut items = Vec::new();
        let res = parse(&mut input.as_bytes(), &ctx(), &mut |i| {
            items.push(i);
            Ok(())
        });
        (items, res)
    }

    /// The ids of the objects among `items`, in order.
    fn kept_ids(items: &[Item]) -> Vec<&str> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Object { object, .. } => Some(object.id()),
                _ => None,
            })
            .collect()
    }

    /// The rejects among `items`: (location, reason).
    fn rejects(items: &[Item]) -> Vec<(&str, &str)> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Reject { location, reason } => Some((location.as_str(), reason.as_str())),
                _ => None,
            })
            .collect()
    }

    const IND: &str = r#"{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","pattern":"[domain-name:value = 'x.com']","pattern_type":"stix","valid_from":"2016-01-01T00:00:00Z"}"#;

    #[test]
    fn bundle_lone_object_and_array() {
        let (items, res) = run(&format!(
            r#"{{"type":"bundle","id":"bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","objects":[{IND},{{"type":"indicator"}},42]}}"#
        ));
        assert!(res.is_ok());
        assert_eq!(items.len(), 3);
        assert!(matches!(&items[0], Item::Object { .. }));
        assert!(
            matches!(&items[1], Item::Reject { location, .. } if location.starts_with("$.objects[1]"))
        );
        assert!(matches!(&items[2], Item::Reject { reason, .. } if reason.contains("number")));
        let (items, res) = run(IND);
        assert!(res.is_ok() && items.len() == 1);
        let (items, res) = run(&format!("[{IND}]"));
        assert!(res.is_ok() && items.len() == 1);
    }

    #[test]
    fn truncated_bundle_keeps_earlier_objects() {
        let full = format!(r#"{{"type":"bundle","objects":[{IND},{IND}"#);
        let (items, res) = run(&full);
        assert_eq!(items.len(), 2);
        assert!(res.is_err());
        let (items, res) = run("{not json");
        assert!(items.is_empty() && res.is_err());
    }

    #[test]
    fn an_object_that_is_not_valid_json_is_rejected_alone_and_the_rest_read() {
        let id = |n: u32| format!("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd{n:02}");
        let good = |n: u32| IND.replace("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", &id(n));
        let mut input = format!(r#"{{"type":"bundle","objects":[{},"#, good(1)).into_bytes();
        // A NaN (Python's json.dumps writes them), invalid UTF-8 in a string, a trailing comma, a control character.
        input.extend_from_slice(
            format!(
                r#"{{"type":"indicator","id":"{}","confidence":NaN}},"#,
                id(2)
            )
            .as_bytes(),
        );
        input.extend_from_slice(format!("{},", good(3)).as_bytes());
        input.extend_from_slice(format!(r#"{{"id":"{}","name":"caf"#, id(4)).as_bytes());
        input.extend_from_slice(b"\xe9\"},");
        input.extend_from_slice(
            format!(r#"{},{{"id":"{}","type":"tool",}},"#, good(5), id(6)).as_bytes(),
        );
        input.extend_from_slice(
            format!("{{\"id\":\"{}\",\"name\":\"a\tb\"}},{}]}}", id(7), good(8)).as_bytes(),
        );
        type Reader = fn(&[u8], &mut Vec<Item>) -> Result<(), FormatError>;
        let parsers: [Reader; 2] = [
            |b, items| {
                parse(&mut &b[..], &ctx(), &mut |i| {
                    items.push(i);
                    Ok(())
                })
            },
            |b, items| {
                parse_streamed(std::io::BufReader::with_capacity(5, b), &ctx(), &mut |i| {
                    items.push(i);
                    Ok(())
                })
            },
        ];
        for p in parsers {
            let mut items = Vec::new();
            p(&input, &mut items).expect("the file is read to its end");
            let kept = kept_ids(&items);
            assert_eq!(kept, [id(1), id(3), id(5), id(8)]);
            let rejected = rejects(&items);
            assert_eq!(rejected.len(), 4, "{rejected:?}");
            for ((location, reason), (n, at)) in
                rejected.iter().zip([(2, 1), (4, 3), (6, 5), (7, 6)])
            {
                assert_eq!(*location, format!("$.objects[{at}] ({})", id(n)));
                assert!(reason.starts_with("not valid JSON: "), "{reason}");
            }
        }
    }

    #[test]
    fn an_unescaped_quote_costs_its_object_not_the_rest_of_the_file() {
        let id = |n: u32| format!("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd{n:02}");
        let good = |n: u32| IND.replace("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", &id(n));
        let mut input = format!(r#"{{"type":"bundle","objects":[{},"#, good(1));
        // A quote not escaped inside a description: the object is read to that point only.
        input += &format!(
            r#"{{"type":"indicator","id":"{}","description":"he said "hi" to us","pattern_type":"stix"}},{},"#,
            id(2),
            good(3)
        );
        // A path ending in a backslash escapes its closing quote, so the fault shows only after this object's end,
        // in the next one: the search for that next object starts back inside this one.
        input += &format!(
            r#"{{"type":"tool","id":"{}","name":"C:\dir\"}},{},"#,
            id(4),
            good(5)
        );
        // The fault is followed by an inner list of objects, which are not STIX objects and are passed over.
        input += &format!(
            r#"{{"type":"malware","id":"{}","name":"x"y","kill_chain_phases":[{{"kill_chain_name":"a","phase_name":"b"}},{{"kill_chain_name":"c","phase_name":"d"}}]}},{},"#,
            id(6),
            good(7)
        );
        // A bracket too many after an object.
        input += &format!(r#"{}}},{}]}}"#, good(8), good(9));
        same_outcome(&input);
        let (items, res) = run(&input);
        res.expect("the file is read to its end");
        let kept = kept_ids(&items);
        assert_eq!(kept, [id(1), id(3), id(5), id(7), id(8), id(9)]);
        let rejected = rejects(&items);
        assert_eq!(rejected.len(), 4, "{rejected:?}");
        for (_, reason) in &rejected {
            assert!(reason.starts_with("not valid JSON: "), "{reason}");
            assert!(reason.contains("skipped up to the next object"), "{reason}");
        }
        assert_eq!(rejected[0].0, format!("$.objects[1] ({})", id(2)));
        assert!(rejected[0].1.contains("unescaped"), "{}", rejected[0].1);
        assert_eq!(rejected[1].0, format!("$.objects[3] ({})", id(4)));
        assert_eq!(rejected[2].0, format!("$.objects[5] ({})", id(6)));
        // The stray bracket is named by its place, between the objects around it.
        assert_eq!(rejected[3].0, "$.objects[8]");
        assert!(rejected[3].1.contains("found `}`"), "{}", rejected[3].1);
        let at = input.find(&format!("{},{}]", '}', good(9))).map(|i| i + 2);
        assert!(
            rejected[3]
                .1
                .contains(&format!("at byte {}", at.unwrap_or(0))),
            "{}",
            rejected[3].1
        );

        // With no object after the fault, the file fails as it did, with what came before kept, and its error
        // names the object lost.
        let last = format!(
            r#"{{"type":"bundle","objects":[{},{{"type":"tool","id":"{}","name":"a"b"}}]}}"#,
            good(1),
            id(2)
        );
        same_outcome(&last);
        let (items, res) = run(&last);
        assert_eq!(items.len(), 1);
        let err = res.expect_err("the fault is the file's error").to_string();
        assert!(err.contains("unescaped"), "{err}");
        assert!(
            err.contains(&format!("inside $.objects[1] ({})", id(2)))
                && err.contains("no object follows it"),
            "{err}"
        );
    }

    #[test]
    fn upgrades_20() {
        let (items, res) = run(
            r#"{"type":"bundle","spec_version":"2.0","objects":[{"type":"malware","id":"malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2017-01-01T00:00:00Z","modified":"2017-01-01T00:00:00Z","name":"x","labels":["trojan"]}]}"#,
        );
        assert!(res.is_ok());
        match &items[0] {
            Item::Object { object, .. } => {
                assert_eq!(object.get("is_family"), Some(&Value::Bool(true)))
            }
            other => panic!("{other:?}"),
        }
    }

    /// What the streamed path (inputs over 128 MiB) makes of `input`, read through a 7-byte buffer so every value
    /// crosses buffer ends.
    fn run_streamed(input: &str) -> (Vec<Item>, Result<(), FormatError>) {
        let mut items = Vec::new();
        let res = parse_streamed(
            std::io::BufReader::with_capacity(7, input.as_bytes()),
            &ctx(),
            &mut |i| {
                items.push(i);
                Ok(())
            },
        );
        (items, res)
    }

    fn same_outcome(input: &str) {
        let (a, ra) = run(input);
        let (b, rb) = run_streamed(input);
        if let Err(e) = paths_agree((&a, &ra), (&b, &rb)) {
            panic!("{e} for {input:?}");
        }
    }

    #[test]
    fn streamed_and_in_memory_parsing_agree() {
        for input in [
            format!(r#"{{"type":"bundle","id":"bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","objects":[{IND},{{"type":"indicator"}},42]}}"#),
            format!("[{IND}, {IND}]"),
            IND.to_string(),
            format!(r#"{{"type":"bundle","objects":[{IND},{IND}"#),
            format!(r#"{{"objects":[{IND}],"x":[1,2}}"#),
            format!(r#"{{"objects":[{IND}]}} x"#),
            r#"{"type":"bundle","spec_version":"2.0","objects":[{"type":"malware","id":"malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2017-01-01T00:00:00Z","modified":"2017-01-01T00:00:00Z","name":"x","labels":["trojan"]}]}"#.to_string(),
            "{not json".into(),
            "[]".into(),
            "{}".into(),
            " 5 ".into(),
            "".into(),
            r#"[{"a":tru}]"#.into(),
            r#"[{"type":"indicator","x":"\"]}\\"}]"#.into(),
        ] {
            same_outcome(&input);
        }
    }

    #[test]
    fn a_streamed_object_over_the_limit_is_rejected_unread_and_the_rest_kept() {
        let big = "a".repeat(RAW_LIMIT + 10);
        let input = format!(
            r#"{{"type":"bundle","objects":[{IND},{{"type":"report","id":"report--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","description":"{big}","name":"r"}},{IND}]}}"#
        );
        drop(big);
        let (items, res) = run_streamed(&input);
        assert!(res.is_ok(), "{res:?}");
        assert_eq!(items.len(), 3);
        assert!(matches!(&items[0], Item::Object { .. }));
        match &items[1] {
            Item::Reject { location, reason } => {
                assert_eq!(
                    location,
                    "$.objects[1] (report--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f)"
                );
                assert!(reason.contains("129 MiB of JSON"), "{reason}");
                assert!(reason.contains("`description`"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&items[2], Item::Object { .. }));
        // A lone object that large: rejected, named by its id.
        let big = "a".repeat(RAW_LIMIT + 10);
        let lone = format!(
            r#"{{"type":"note","id":"note--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","content":"{big}"}}"#
        );
        drop(big);
        let (items, res) = run_streamed(&lone);
        assert!(res.is_ok(), "{res:?}");
        assert!(
            matches!(&items[..], [Item::Reject { location, reason }] if location.contains("note--8e2e2d2b") && reason.contains("`content`")),
            "{items:?}"
        );
    }

    /// JSON made of the names a STIX reader looks at, so that bundles, lone objects and arrays all occur.
    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5).prop_map(Value::from),
            proptest::sample::select(vec!["bundle", "indicator", "2.0", "2.1", "a\"b", "x]}"])
                .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(
                    (
                        proptest::sample::select(vec![
                            "type",
                            "id",
                            "objects",
                            "spec_version",
                            "x"
                        ]),
                        inner
                    ),
                    0..6
                )
                .prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = run(&s);
            let _ = run_streamed(&s);
        }

        /// The streamed path gives what parsing from memory gives: the same items, and an error where it errs, for
        /// valid JSON, JSON cut short, and JSON with a byte changed.
        #[test]
        fn streamed_matches_in_memory(v in json_value(), cut in 0usize..400, byte in 0u8..128, pretty: bool) {
            let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) };
            let text = text.unwrap_or_default();
            same_outcome(&text);
            let at = cut % (text.len() + 1);
            same_outcome(&text[..at]);
            let mut changed = text.into_bytes();
            if at < changed.len() {
                changed[at] = byte;
                if let Ok(changed) = String::from_utf8(changed) {
                    same_outcome(&changed);
                }
            }
        }
    }
}
