//! MISP warning lists (`list.json`): values known to be benign or too common to alert on, stored as allow-lists so
//! that indicators hitting them are flagged (and kept).

use std::io::BufRead;

use serde_json::Value;
use vigil_model::warninglist::WarningList;

use crate::{Emit, FormatError, Item, ParseCtx};

/// The list types MISP defines (schema.json of misp-warninglists).
pub const LIST_TYPES: &[&str] = &["string", "substring", "hostname", "cidr", "regex"];

/// Reads one warning list. Missing or mistyped required fields make the file unreadable; a non-string entry is
/// rejected on its own and the rest of the list kept.
pub fn parse(r: &mut dyn BufRead, ctx: &ParseCtx, emit: &mut Emit<'_>) -> Result<(), FormatError> {
    let doc = crate::misp::read_document(r, &ctx.file)?;
    let bad = |reason: String| FormatError::Unreadable {
        file: ctx.file.clone(),
        reason: format!("not a MISP warning list: {reason}"),
    };
    let Value::Object(m) = doc else {
        return Err(bad("the top level is not a JSON object".into()));
    };
    let name = match m.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(_) => return Err(bad("`name` is not a non-empty string".into())),
        None => return Err(bad("no `name`".into())),
    };
    let description = match m.get("description") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(bad("`description` is not a string".into())),
    };
    // MISP itself reads a list without `type` as a string list.
    let list_type = match m.get("type") {
        None => "string".to_string(),
        Some(Value::String(s)) if LIST_TYPES.contains(&s.trim()) => s.trim().to_string(),
        Some(other) => {
            return Err(bad(format!(
                "`type` is {} (expected one of {})",
                clip(other),
                LIST_TYPES.join(", ")
            )))
        }
    };
    let version = match m.get("version") {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| bad("`version` is not an integer".into()))?,
        Some(Value::String(s)) => s.trim().parse().map_err(|_| {
            bad(format!(
                "`version` {} is not an integer",
                clip(&Value::String(s.clone()))
            ))
        })?,
        Some(_) => return Err(bad("`version` is not an integer".into())),
        None => return Err(bad("no `version`".into())),
    };
    let matching_attributes = match m.get("matching_attributes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(_) => return Err(bad("`matching_attributes` is not a list".into())),
    };
    let Some(list) = m.get("list").and_then(Value::as_array) else {
        return Err(bad(if m.contains_key("list") {
            "`list` is not a list".into()
        } else {
            "no `list`".into()
        }));
    };
    let mut entries = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        match e {
            Value::String(s) if !s.trim().is_empty() => entries.push(s.trim().to_string()),
            Value::String(_) => {}
            // Some hand-edited lists carry bare numbers (ASNs, ports): their text is the entry.
            Value::Number(n) => entries.push(n.to_string()),
            other => emit(Item::Reject {
                location: format!("list[{i}]"),
                reason: format!("entry is {}, not a string", clip(other)),
            })?,
        }
    }
    emit(Item::WarningList(WarningList {
        name,
        description,
        list_type,
        version,
        entries,
        matching_attributes,
    }))
}

fn clip(v: &Value) -> String {
    v.to_string().chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> (Vec<Item>, Result<(), FormatError>) {
        let ctx = ParseCtx {
            source: "wl".into(),
            file: "lists/x/list.json".into(),
            confidence: None,
            now: "2026-01-01T00:00:00Z".into(),
        };
        let mut items = Vec::new();
        let res = parse(&mut input.as_bytes(), &ctx, &mut |i| {
            items.push(i);
            Ok(())
        });
        (items, res)
    }

    #[test]
    fn reads_a_list() {
        let (items, res) = run(
            r#"{"name":"Public DNS","description":"resolvers","type":"cidr","version":7,"matching_attributes":["ip-dst"],"list":["8.8.8.8/32"," 1.1.1.1 ","",53,{"x":1}]}"#,
        );
        res.expect("parses");
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[0], Item::Reject { location, .. } if location == "list[4]"));
        match &items[1] {
            Item::WarningList(wl) => {
                assert_eq!(wl.name, "Public DNS");
                assert_eq!(wl.list_type, "cidr");
                assert_eq!(wl.version, 7);
                assert_eq!(wl.entries, vec!["8.8.8.8/32", "1.1.1.1", "53"]);
                assert_eq!(wl.matching_attributes, vec!["ip-dst"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_lists_are_unreadable() {
        for (doc, want) in [
            ("", "empty"),
            ("{\"name\":", "not valid JSON"),
            ("[]", "top level"),
            (r#"{"description":"d","version":1,"list":[]}"#, "no `name`"),
            (
                r#"{"name":"n","version":1,"type":"fuzzy","list":[]}"#,
                "`type`",
            ),
            (r#"{"name":"n","type":"string","list":[]}"#, "no `version`"),
            (r#"{"name":"n","version":"x","list":[]}"#, "not an integer"),
            (r#"{"name":"n","version":1}"#, "no `list`"),
            (r#"{"name":"n","version":1,"list":"a"}"#, "not a list"),
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
    }

    #[test]
    fn fixtures() {
        let (items, res) = run(include_str!(
            "../tests/fixtures/warninglist/bad_entries.json"
        ));
        res.expect("readable");
        let locs: Vec<&str> = items
            .iter()
            .filter_map(|i| {
                if let Item::Reject { location, .. } = i {
                    Some(location.as_str())
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(locs, vec!["list[1]", "list[3]"]);
        match items.last() {
            Some(Item::WarningList(wl)) => {
                assert_eq!(wl.entries, vec!["benign.example", "spaced.example"]);
                assert_eq!(wl.matching_attributes, vec!["hostname", "domain"]);
            }
            other => panic!("{other:?}"),
        }
        let (items, res) = run(include_str!("../tests/fixtures/warninglist/bad_type.json"));
        assert!(items.is_empty());
        assert!(
            matches!(res, Err(FormatError::Unreadable { reason, .. }) if reason.contains("\"glob\""))
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = run(&s);
        }
    }
}
