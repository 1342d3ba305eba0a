//! MISP warning lists (`list.json`), and lists of one's own in plain text: values known to be benign or too common
//! to alert on, stored as allow-lists so that indicators hitting them are flagged (and kept).

use std::io::BufRead;

use serde_json::Value;
use vigil_model::warninglist::WarningList;

use crate::{Emit, FormatError, Item, ParseCtx};

/// The list types MISP defines (schema.json of misp-warninglists).
pub const LIST_TYPES: &[&str] = &["string", "substring", "hostname", "cidr", "regex"];

/// Reads one warning list. Missing or mistyped required fields make the file unreadable; a non-string entry is
/// rejected on its own and the rest of the list kept.
pub fn parse(r: &mut dyn BufRead, ctx: &ParseCtx, emit: &mut Emit<'_>) -> Result<(), FormatError> {
    if !starts_as_json(r).map_err(|e| FormatError::Io {
        file: ctx.file.clone(),
        reason: e.to_string(),
    })? {
        return parse_plain(r, ctx, emit);
    }
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

/// Whether the input's first byte other than a byte-order mark and white space opens a JSON object or array
/// (an empty or all-blank input counts as JSON, so that it is reported as an empty document).
fn starts_as_json(r: &mut dyn BufRead) -> std::io::Result<bool> {
    let b = r.fill_buf()?;
    let b = b.strip_prefix(b"\xef\xbb\xbf").unwrap_or(b);
    Ok(b.iter()
        .find(|c| !c.is_ascii_whitespace())
        .is_none_or(|c| *c == b'{' || *c == b'['))
}

/// A list of one's own in plain text (what a small team writes by hand: its own and its country's public-sector
/// domains, its resolvers): one value per line, `#` comment lines and blank lines skipped. The list is named
/// after `ctx.source` when set, else after the file (`own-domains.txt` -> `own-domains`), so loading the edited
/// file again replaces it; its type is `cidr` when every value is an address or network, `hostname` when every
/// value is a host name (a name and its sub-domains), else `string` (exact values). A line that is too long or
/// not UTF-8 is rejected on its own.
fn parse_plain(
    r: &mut dyn BufRead,
    ctx: &ParseCtx,
    emit: &mut Emit<'_>,
) -> Result<(), FormatError> {
    // `--source` (the API's `source`, whose uploads have no name of their own) names the list, else the file.
    let name = Some(ctx.source.trim())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::path::Path::new(&ctx.file)
                .file_stem()
                .and_then(|s| s.to_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
        })
        .ok_or_else(|| FormatError::Unreadable {
            file: ctx.file.clone(),
            reason: "a plain-text warning list is named after `--source` or its file, and this input has neither"
                .into(),
        })?
        .to_string();
    let mut entries = Vec::new();
    let mut buf = Vec::with_capacity(256);
    let mut line_no = 0usize;
    while let Some(line) = crate::iocs::next_line(r, &mut buf, &mut line_no, &ctx.file, emit)? {
        let Some(line) = line else {
            continue;
        };
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        entries.push(line.to_string());
    }
    let is_net = |e: &str| {
        let (addr, bits) = e.split_once('/').unwrap_or((e, ""));
        addr.parse::<std::net::IpAddr>().is_ok() && (bits.is_empty() || bits.parse::<u8>().is_ok())
    };
    let is_host = |e: &str| {
        // As the matcher reads a host-name list: `*.`, a leading and a trailing dot say "and its sub-domains".
        let h = e
            .strip_prefix("*.")
            .or_else(|| e.strip_prefix('.'))
            .unwrap_or(e);
        let h = h.strip_suffix('.').unwrap_or(h);
        h.contains('.')
            && !h.starts_with('.')
            && !h.ends_with('.')
            && !h.contains("..")
            && h.bytes().any(|c| c.is_ascii_alphabetic())
            && h.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_')
    };
    let (list_type, attrs): (&str, &[&str]) =
        if !entries.is_empty() && entries.iter().all(|e| is_net(e)) {
            ("cidr", &["ip-src", "ip-dst", "domain|ip"])
        } else if !entries.is_empty() && entries.iter().all(|e| is_host(e)) {
            ("hostname", &["hostname", "domain", "url", "domain|ip"])
        } else {
            ("string", &[])
        };
    emit(Item::WarningList(WarningList {
        name,
        // The file's own name only: an upload through the API is kept under the server's data directory.
        description: format!(
            "plain-text list ({} values, one per line) from {}",
            entries.len(),
            ctx.file.rsplit(['/', '\\']).next().unwrap_or(&ctx.file)
        ),
        list_type: list_type.to_string(),
        version: 1,
        entries,
        matching_attributes: attrs.iter().map(|a| a.to_string()).collect(),
    }))
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

    fn run_file(file: &str, input: &[u8]) -> (Vec<Item>, Result<(), FormatError>) {
        run_named("", file, input)
    }

    fn run_named(source: &str, file: &str, input: &[u8]) -> (Vec<Item>, Result<(), FormatError>) {
        let ctx = ParseCtx {
            source: source.into(),
            file: file.into(),
            confidence: None,
            now: "2026-01-01T00:00:00Z".into(),
        };
        let mut items = Vec::new();
        let mut r = input;
        let res = parse(&mut r, &ctx, &mut |i| {
            items.push(i);
            Ok(())
        });
        (items, res)
    }

    fn list(items: &[Item]) -> &WarningList {
        match items.last() {
            Some(Item::WarningList(wl)) => wl,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_plain_text_list_is_named_after_its_file_and_typed_by_its_values() {
        let (items, res) = run_file(
            "lists/own-domains.txt",
            b"\xef\xbb\xbf# our own and the country's public-sector names\r\nmusterhausen.de\r\n\n  bund.de  \r\n.gv.at\n",
        );
        res.expect("readable");
        let wl = list(&items);
        assert_eq!(wl.name, "own-domains");
        assert_eq!(wl.list_type, "hostname");
        assert_eq!(wl.version, 1);
        assert_eq!(wl.entries, vec!["musterhausen.de", "bund.de", ".gv.at"]);
        assert!(wl.matching_attributes.iter().any(|a| a == "domain"));

        let (items, res) = run_file("resolvers.txt", b"10.20.0.2\n192.0.2.0/24\n2001:db8::/32\n");
        res.expect("readable");
        assert_eq!(list(&items).list_type, "cidr");

        // A source names the list (an API upload's file name is a random one).
        let (items, res) = run_named("own-domains", ".uploads/upload-0f3a", b"bund.de\n");
        res.expect("readable");
        assert_eq!(list(&items).name, "own-domains");
        assert!(list(&items).description.ends_with("from upload-0f3a"));
        // Anything else is a list of exact values.
        let (items, res) = run_file("mixed.txt", b"musterhausen.de\n10.20.0.2\nGLASS HERON\n");
        res.expect("readable");
        assert_eq!(list(&items).list_type, "string");
        assert_eq!(list(&items).entries.len(), 3);
    }

    #[test]
    fn a_bad_line_of_a_plain_text_list_costs_that_line_only() {
        let mut input = b"good.example.org\n".to_vec();
        input.extend_from_slice(b"bad\xff\xfe.example.org\n");
        input.extend(std::iter::repeat_n(b'a', crate::iocs::MAX_LINE + 10));
        input.extend_from_slice(b"\nalso-good.example.org\n");
        let (items, res) = run_file("own.txt", &input);
        res.expect("readable");
        let rejects: Vec<(&str, &str)> = items
            .iter()
            .filter_map(|i| match i {
                Item::Reject { location, reason } => Some((location.as_str(), reason.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(rejects.len(), 2, "{rejects:?}");
        assert_eq!(rejects[0].0, "line 2");
        assert!(rejects[0].1.contains("UTF-8"));
        assert_eq!(rejects[1].0, "line 3");
        assert!(rejects[1].1.contains("longer than"));
        assert_eq!(
            list(&items).entries,
            vec!["good.example.org", "also-good.example.org"]
        );
        // JSON stays JSON: a broken list.json is not read as lines.
        let (items, res) = run_file("list.json", b"  {\"name\":");
        assert!(items.is_empty());
        assert!(
            matches!(res, Err(FormatError::Unreadable { reason, .. }) if reason.contains("not valid JSON"))
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = run(&s);
        }
    }
}
