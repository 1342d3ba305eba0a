//! STIX 2.0 / 2.1 bundles (or a lone object, or a JSON array of objects), streamed object by object: a bundle of
//! any size is read in memory proportional to its largest object. 2.0 objects are upgraded to 2.1 on the way in.

use std::cell::RefCell;
use std::fmt;
use std::io::{BufRead, Read};

/// Inputs up to this size are parsed from memory.
const SLICE_LIMIT: usize = 128 * 1024 * 1024;
/// What is read before the buffer is reserved at `SLICE_LIMIT`: most files fit.
const SMALL_READ: usize = 1024 * 1024;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use vigil_model::{upgrade, StixObject};

use crate::{Emit, FormatError, Item, ParseCtx};

struct State<'a, 'e> {
    ctx: &'a ParseCtx,
    emit: &'a mut Emit<'e>,
    spec_20: bool,
    sink_error: Option<FormatError>,
    index: usize,
}

impl State<'_, '_> {
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
        (self.emit)(item).map_err(|e| {
            self.sink_error = Some(e);
        })
    }
}

fn describe(m: &Map<String, Value>) -> String {
    match m.get("id").and_then(Value::as_str) {
        Some(id) => id.chars().take(100).collect(),
        None => format!(
            "type {}",
            m.get("type").and_then(Value::as_str).unwrap_or("?")
        ),
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

/// Streams a STIX bundle (2.0 or 2.1), a single object, or an array of objects.
pub fn parse(r: &mut dyn BufRead, ctx: &ParseCtx, emit: &mut Emit<'_>) -> Result<(), FormatError> {
    let state = RefCell::new(State {
        ctx,
        emit,
        spec_20: false,
        sink_error: None,
        index: 0,
    });
    // Parsing from a slice is several times faster than from a reader; bundles up to SLICE_LIMIT are read whole,
    // larger ones stream so memory stays bounded.
    // The buffer is reserved at full size once the input outgrows a small first read, rather than doubled as it
    // fills: every doubling copies into memory touched for the first time, and first touches (the kernel zeroing
    // pages) were a third of the reading thread's time on the ATT&CK bundle. Reserved but unwritten pages cost
    // nothing.
    let mut head = Vec::with_capacity(SMALL_READ);
    let io_error = |e: std::io::Error| FormatError::Io {
        file: ctx.file.clone(),
        reason: e.to_string(),
    };
    let mut n = (&mut *r)
        .take(SMALL_READ as u64)
        .read_to_end(&mut head)
        .map_err(io_error)?;
    if n == SMALL_READ {
        head.reserve_exact(SLICE_LIMIT - SMALL_READ);
        n += (&mut *r)
            .take((SLICE_LIMIT - SMALL_READ) as u64)
            .read_to_end(&mut head)
            .map_err(io_error)?;
    }
    let complete = n < SLICE_LIMIT;
    let res = if complete {
        let mut de = serde_json::Deserializer::from_slice(&head);
        Top(&state).deserialize(&mut de).and_then(|_| de.end())
    } else {
        let chained = std::io::Cursor::new(head).chain(r);
        let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(
            1 << 20,
            chained,
        ));
        Top(&state).deserialize(&mut de).and_then(|_| de.end())
    };
    let st = state.into_inner();
    if let Some(e) = st.sink_error {
        return Err(e);
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

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = run(&s);
        }
    }
}
