//! One MISP event that is not valid JSON because of a broken attribute or object (an unescaped `"` in a
//! comment, a `NaN`): the broken list item is replaced by `null` so that the rest of the event can be read,
//! and its place and the reason are kept for the reject. The item the fault lies in is found by following the
//! document's structure up to serde_json's error; its end, since strings cannot be followed past the fault, is
//! the first `}` closing its `{` with the brackets between paired, and what follows must be `,` and an item of
//! the same kind (an attribute: `type` and `value`; an object: `name` and `Attribute` or `meta-category`), or the
//! list's `]` when the broken item is its last. A bracket closing nothing means the list ended inside the broken item: no cut is made there (the document could
//! still parse, with the next object's or event's attributes joined to this list), and the file fails as it did.
//! The repaired document must parse as a whole.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde_json::Value;

/// Bytes parsed (each attempt parses up to the next fault) before an event is given up as broken beyond
/// repair: at least this, and 32 readings of the whole input, so that a hostile 256 MiB event costs a few dozen
/// readings of it and a 1 MiB event may lose hundreds of items and still be read.
const PARSE_BUDGET: usize = 256 << 20;
/// Items after a broken one looked at for one of its list's kind (the others are cut out with it).
const MAX_CANDIDATES: usize = 16;
/// Bytes of a candidate item read to see what it is (an attribute with an attached sample runs to megabytes).
const ITEM_WINDOW: usize = 16 << 20;

/// The repaired document, parsed, and, per item place from the document's root (`Event.Attribute[3]`,
/// `response[0].Event.Object[1].Attribute[0]`, `Attribute[2]` in a bare event), why it was cut (with byte
/// offsets into `buf`, which is `what`: "the file", "the event"); None when a fault is not inside an attribute
/// or object list, or no next item of the same kind follows it.
pub(crate) fn repair_event(buf: &[u8], what: &str) -> Option<(Value, BTreeMap<String, String>)> {
    let mut doc = buf.to_vec();
    let mut cut = BTreeMap::new();
    // Each repair must lie after the one before: a repair that does not move on is no repair.
    let mut floor = 0usize;
    // `doc` is `buf` with the cuts made: bytes before a place in `doc` minus those before it in `buf`.
    let mut shift = 0i64;
    let mut budget = PARSE_BUDGET.max(buf.len().saturating_mul(32));
    loop {
        let err = match serde_json::from_slice::<Value>(&doc) {
            Ok(v) => return (!cut.is_empty()).then_some((v, cut)),
            Err(e) => e,
        };
        let fault = offset_of(&doc, err.line(), err.column());
        budget = budget.checked_sub(fault.max(1))?;
        let at = enclosing_item(&doc, fault)?;
        if at.start < floor {
            return None;
        }
        // This item and any other broken one after it in the same list, in one pass over the list (reading the
        // whole document again for each would be quadratic in an event with many).
        let in_buf = |x: usize| (x as i64 - shift).max(0);
        let kind = if at.list_key == "Object" {
            "object"
        } else {
            "attribute"
        };
        let base = &at.location[..at.location.rfind('[').unwrap_or(at.location.len())];
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let (mut start, mut index, mut err, mut fault) = (at.start, at.index, err, fault);
        loop {
            let Some((end, next)) = next_item(&doc, start, at.list_key) else {
                if spans.is_empty() {
                    return None;
                }
                break;
            };
            cut.insert(
                format!("{base}[{index}]"),
                match next {
                    Some(next) => format!(
                        "not valid JSON ({err}; byte {} of {what}); the item was skipped up to the next {kind} at \
                         byte {}, and the rest of the event read",
                        in_buf(fault),
                        in_buf(next),
                    ),
                    None => format!(
                        "not valid JSON ({err}; byte {} of {what}); the item, the last of its list (which ends at \
                         byte {}), was skipped, and the rest of the event read",
                        in_buf(fault),
                        in_buf(end),
                    ),
                },
            );
            spans.push((start, end));
            let Some(next) = next else { break };
            // The items after it, each checked alone, up to the list's end or the next broken one.
            let mut pos = next;
            index += 1;
            let broken = loop {
                let mut one =
                    serde_json::Deserializer::from_slice(&doc[pos..]).into_iter::<IgnoredAny>();
                match one.next() {
                    Some(Ok(_)) => pos += one.byte_offset(),
                    Some(Err(e)) if doc[pos] == b'{' => {
                        break Some((pos, pos + offset_of(&doc[pos..], e.line(), e.column()), e));
                    }
                    _ => break None,
                }
                pos = skip_ws(&doc, pos);
                if doc.get(pos) != Some(&b',') {
                    break None;
                }
                pos = skip_ws(&doc, pos + 1);
                index += 1;
            };
            match broken {
                Some((s, f, e)) => (start, fault, err) = (s, f, e),
                None => break,
            }
        }
        budget = budget.checked_sub(spans.last().map_or(0, |s| s.1 - at.start))?;
        let mut fixed = Vec::with_capacity(doc.len());
        let mut last = 0;
        for (a, b) in spans {
            fixed.extend_from_slice(&doc[last..a]);
            fixed.extend_from_slice(b"null");
            floor = fixed.len();
            shift += 4 - (b - a) as i64;
            last = b;
        }
        fixed.extend_from_slice(&doc[last..]);
        doc = fixed;
    }
}

/// The first place at or after `i` that is not JSON whitespace.
fn skip_ws(doc: &[u8], i: usize) -> usize {
    i + doc[i..]
        .iter()
        .take_while(|c| c.is_ascii_whitespace())
        .count()
}

/// The byte offset of serde_json's 1-based line and column.
fn offset_of(doc: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match doc[start..].iter().position(|c| *c == b'\n') {
            Some(p) => start += p + 1,
            None => break,
        }
    }
    (start + column.saturating_sub(1)).min(doc.len())
}

/// A container open at the fault.
struct Frame {
    array: bool,
    /// The member name this container is the value of.
    key: Option<String>,
    /// Items of an array before the current one.
    index: usize,
    /// Where the array's current item starts (its `{`).
    item: Option<usize>,
    /// In an object: the next string is a member name.
    expect_key: bool,
    /// In an object: the member being read.
    member: Option<String>,
}

/// The attribute or object the fault lies in.
#[derive(Debug, PartialEq)]
struct Enclosing {
    start: usize,
    /// Its place in its list.
    index: usize,
    list_key: &'static str,
    location: String,
}

/// Reads the document's structure up to `fault` (in step with serde_json, which read the same bytes) and
/// returns the innermost item of an `Attribute` or `Object` list of the event open there.
fn enclosing_item(doc: &[u8], fault: usize) -> Option<Enclosing> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut in_str = false;
    let mut escaped = false;
    let mut key_start: Option<usize> = None;
    for (i, &c) in doc[..fault.min(doc.len())].iter().enumerate() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
                if let (Some(s), Some(top)) = (key_start.take(), stack.last_mut()) {
                    top.member = Some(String::from_utf8_lossy(&doc[s..i]).into_owned());
                    top.expect_key = false;
                }
            }
            continue;
        }
        match c {
            b'"' => {
                in_str = true;
                if stack.last().is_some_and(|f| !f.array && f.expect_key) {
                    key_start = Some(i + 1);
                }
            }
            b'{' | b'[' => {
                let key = match stack.last_mut() {
                    Some(top) if top.array => {
                        top.item = Some(i);
                        None
                    }
                    Some(top) => top.member.clone(),
                    None => None,
                };
                stack.push(Frame {
                    array: c == b'[',
                    key,
                    index: 0,
                    item: None,
                    expect_key: c == b'{',
                    member: None,
                });
            }
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    if top.array {
                        top.index += 1;
                        top.item = None;
                    } else {
                        top.expect_key = true;
                        top.member = None;
                    }
                }
            }
            _ => {}
        }
    }
    // The innermost Attribute or Object list with an item open inside it.
    let list = (0..stack.len()).rev().find(|&k| {
        let f = &stack[k];
        f.array
            && f.item.is_some()
            && k + 1 < stack.len()
            && matches!(f.key.as_deref(), Some("Attribute" | "Object"))
    })?;
    let list_key = match stack[list].key.as_deref() {
        Some("Object") => "Object",
        _ => "Attribute",
    };
    // Its place from the document's root, as the event reader writes places below an event.
    let mut location = String::new();
    for f in &stack[..=list] {
        if let Some(k) = &f.key {
            if !location.is_empty() {
                location.push('.');
            }
            location.push_str(k);
        }
        if f.array {
            location.push_str(&format!("[{}]", f.index));
        }
    }
    Some(Enclosing {
        start: stack[list].item?,
        index: stack[list].index,
        list_key,
        location,
    })
}

/// After the broken item's `{` at `start`: where the cut ends and where the next item of the same kind starts,
/// that is the `,` before it and its `{`; or, when the broken item is the last of its list, the item's end (after
/// its `}`, with the list's `]` next) and no next item. Strings cannot be followed past the fault, so the item's
/// end is found by its brackets alone: the first `}` that closes its `{` with every bracket between paired
/// (brackets inside its strings rarely are unpaired, and when they are, no end is found and the file fails as
/// before; a wrong end leaves a document that does not parse, which is no repair either). A closing bracket with
/// nothing open means the list ended inside the item: a cut there would join the next list's items to this one
/// (a later object's attributes to this object), so there is no cut.
fn next_item(doc: &[u8], start: usize, list_key: &str) -> Option<(usize, Option<usize>)> {
    let mut open: Vec<u8> = Vec::new();
    let mut seen = 0;
    let mut i = start;
    while i < doc.len() && seen < MAX_CANDIDATES {
        let c = doc[i];
        i += 1;
        match c {
            b'{' | b'[' => open.push(c),
            b'}' | b']' => {
                let want = if c == b'}' { b'{' } else { b'[' };
                if open.pop() != Some(want) {
                    return None;
                }
                if !open.is_empty() || c != b'}' {
                    continue;
                }
                // An item ends here: is the next one of the kind looked for, or does the list end?
                let comma = skip_ws(doc, i);
                if doc.get(comma) == Some(&b']') {
                    return Some((i, None));
                }
                if doc.get(comma) != Some(&b',') {
                    return None;
                }
                let next = skip_ws(doc, comma + 1);
                if doc.get(next) != Some(&b'{') {
                    return None;
                }
                seen += 1;
                if fits(&doc[next..doc.len().min(next + ITEM_WINDOW)], list_key) {
                    return Some((comma, Some(next)));
                }
                // Not an item of this list's kind: it is cut out with the broken one.
                i = next;
            }
            _ => {}
        }
    }
    None
}

/// Whether the JSON object at the start of `b` is an attribute (`type` and `value`) or, in an `Object` list, a
/// MISP object (`name`, and `Attribute` or `meta-category`).
fn fits(b: &[u8], list_key: &str) -> bool {
    let mut one = serde_json::Deserializer::from_slice(b).into_iter::<Value>();
    let Some(Ok(Value::Object(m))) = one.next() else {
        return false;
    };
    let is = |k: &str| m.get(k).is_some_and(Value::is_string);
    if list_key == "Object" {
        is("name") && (m.get("Attribute").is_some_and(Value::is_array) || is("meta-category"))
    } else {
        is("type") && m.contains_key("value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(s: &str) -> Option<(Value, BTreeMap<String, String>)> {
        repair_event(s.as_bytes(), "the file")
    }

    #[test]
    fn a_broken_attribute_becomes_null_and_the_others_stay() {
        let (v, cut) = repaired(
            r#"{"Event": {"info": "x", "Attribute": [
                {"type": "domain", "value": "a.example"},
                {"type": "domain", "value": "b.example", "comment": "he said "hi" there"},
                {"type": "ip-dst", "value": "192.0.2.1"}]}}"#,
        )
        .expect("repaired");
        let a = &v["Event"]["Attribute"];
        assert_eq!(a[0]["value"], "a.example");
        assert!(a[1].is_null());
        assert_eq!(a[2]["value"], "192.0.2.1");
        assert_eq!(cut.keys().collect::<Vec<_>>(), ["Event.Attribute[1]"]);
    }

    #[test]
    fn a_fault_showing_in_the_next_item_costs_the_broken_one_only() {
        // The escaped closing quote runs the string into the next attribute, where the fault shows.
        let (v, cut) = repaired(
            r#"{"Attribute": [{"type": "filename", "value": "C:\dir\"}, {"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}, {"type": "domain", "value": "c.example"}], "info": "bare"}"#,
        )
        .expect("repaired");
        let a = &v["Attribute"];
        assert!(a[0].is_null());
        assert_eq!(a[1]["type"], "md5");
        assert_eq!(a[2]["value"], "c.example");
        assert_eq!(cut.keys().collect::<Vec<_>>(), ["Attribute[0]"]);
    }

    #[test]
    fn objects_and_their_attributes_are_named_as_the_reader_names_them() {
        let (v, cut) = repaired(
            r#"{"Event": {"Object": [{"name": "file", "meta-category": "file", "Attribute": [
                {"type": "md5", "value": "x", "comment": NaN},
                {"type": "filename", "value": "a.exe"}]},
              {"name": "domain-ip", "meta-category": "network", "Attribute": [{"type": "domain", "value": "d.example"}]}],
              "Attribute": [{"type": "domain", "value": "e.example"}, {"type": "url", "value": "http://f"oo"}, {"type": "domain", "value": "g.example"}]}}"#,
        )
        .expect("repaired");
        assert!(v["Event"]["Object"][0]["Attribute"][0].is_null());
        assert_eq!(v["Event"]["Object"][1]["name"], "domain-ip");
        assert!(v["Event"]["Attribute"][1].is_null());
        assert_eq!(
            cut.keys().collect::<Vec<_>>(),
            ["Event.Attribute[1]", "Event.Object[0].Attribute[0]"]
        );
    }

    #[test]
    fn many_broken_items_are_cut_with_places_and_offsets_of_the_input() {
        let items: Vec<String> = (0..300)
            .map(|i| {
                if i % 3 == 1 {
                    format!(r#"{{"type": "comment", "value": "item "{i}" broken"}}"#)
                } else {
                    format!(r#"{{"type": "domain", "value": "d{i}.example"}}"#)
                }
            })
            .collect();
        let doc = format!(r#"{{"Event": {{"Attribute": [{}]}}}}"#, items.join(", "));
        let (v, cut) = repaired(&doc).expect("repaired");
        assert_eq!(cut.len(), 100);
        let a = v["Event"]["Attribute"].as_array().expect("list");
        assert_eq!(a.len(), 300);
        for (i, x) in a.iter().enumerate() {
            assert_eq!(x.is_null(), i % 3 == 1, "{i}");
        }
        // The offsets name the input's bytes: the last broken item's fault and the item after it.
        let why = &cut["Event.Attribute[298]"];
        let next = doc
            .find(r#"{"type": "domain", "value": "d299.example"}"#)
            .expect("in");
        assert!(why.contains(&format!("at byte {next},")), "{why}");
        let fault = doc.find(r#"298" broken"#).expect("in");
        assert!(why.contains(&format!("byte {fault} of the file")), "{why}");
    }

    #[test]
    fn places_are_counted_from_the_root_in_lists_of_events() {
        let (v, cut) = repaired(
            r#"{"response": [{"Event": {"Attribute": [{"type": "domain", "value": "a.example"}]}}, {"Event": {"Attribute": [{"type": "x", "value": NaN}, {"type": "domain", "value": "b.example"}]}}]}"#,
        )
        .expect("repaired");
        assert!(v["response"][1]["Event"]["Attribute"][0].is_null());
        assert_eq!(
            cut.keys().collect::<Vec<_>>(),
            ["response[1].Event.Attribute[0]"]
        );
    }

    #[test]
    fn the_last_item_of_a_list_is_cut_alone() {
        let (v, cut) = repaired(
            r#"{"Event": {"Attribute": [{"type": "domain", "value": "a.example"}, {"type": "domain", "value": "b"c"}], "Tag": [{"name": "tlp:green"}]}}"#,
        )
        .expect("repaired");
        assert_eq!(v["Event"]["Attribute"][0]["value"], "a.example");
        assert!(v["Event"]["Attribute"][1].is_null());
        assert_eq!(v["Event"]["Tag"][0]["name"], "tlp:green");
        let why = &cut["Event.Attribute[1]"];
        assert!(why.contains("the last of its list"), "{why}");
        // The last attribute of one event or object, with attributes of the next after it: cut alone, never
        // joined to the next one's. The escaped closing quote runs its string into the next event, where the
        // fault shows.
        for doc in [
            r#"{"response": [{"Event": {"Attribute": [{"type": "a", "value": "1"}, {"type": "b", "value": "2"3"}]}}, {"Event": {"Attribute": [{"type": "c", "value": "4"}, {"type": "d", "value": "5"}]}}]}"#,
            r#"{"response": [{"Event": {"Attribute": [{"type": "a", "value": "1"}, {"type": "filename", "value": "C:\dir"}]}}, {"Event": {"Attribute": [{"type": "c", "value": "4"}, {"type": "d", "value": "5"}]}}]}"#,
        ] {
            let (v, cut) = repaired(doc).expect("repaired");
            assert_eq!(v["response"][0]["Event"]["Attribute"][0]["value"], "1");
            assert!(v["response"][0]["Event"]["Attribute"][1].is_null(), "{v}");
            assert_eq!(
                v["response"][0]["Event"]["Attribute"]
                    .as_array()
                    .map(Vec::len),
                Some(2)
            );
            assert_eq!(v["response"][1]["Event"]["Attribute"][1]["value"], "5");
            assert_eq!(
                cut.keys().collect::<Vec<_>>(),
                ["response[0].Event.Attribute[1]"]
            );
        }
        let (v, cut) = repaired(
            r#"{"Event": {"Object": [{"name": "o", "Attribute": [{"type": "b", "value": NaN}]}, {"name": "p", "Attribute": [{"type": "c", "value": "4"}, {"type": "d", "value": "5"}]}]}}"#,
        )
        .expect("repaired");
        assert!(v["Event"]["Object"][0]["Attribute"][0].is_null());
        assert_eq!(v["Event"]["Object"][1]["Attribute"][1]["value"], "5");
        assert_eq!(
            cut.keys().collect::<Vec<_>>(),
            ["Event.Object[0].Attribute[0]"]
        );
    }

    #[test]
    fn what_cannot_be_repaired_is_left_to_fail() {
        // A fault outside the lists; a list that ends inside the broken item; a valid document; not an event.
        for s in [
            r#"{"Event": {"info": "a "quoted" word", "Attribute": [{"type": "domain", "value": "a.example"}]}}"#,
            r#"{"Event": {"Tag": [{"name": "a"}, {"name": "b"c"}, {"name": "d"}]}}"#,
            r#"{"Event": {"Attribute": [{"type": "a", "value": "1"}, {"type": "b", "value": "2", "x": [1"3}]}}"#,
            r#"{"Event": {"Attribute": [{"type": "domain", "value": "a.example"}]}}"#,
            r#"[1, 2, "a"b", 3]"#,
            "",
            "{",
        ] {
            assert!(repair_event(s.as_bytes(), "the file").is_none(), "{s}");
        }
    }
}
