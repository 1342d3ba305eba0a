//! Plain IOC lists: one value per line, `#` comments, optional CSV/TSV columns (maltrail trail files among them).
//! Each value becomes an indicator (deterministic id over its pattern, so the same value from two lists is one
//! indicator with two provenances) that `indicates` the list's malware family.

use std::io::BufRead;

use serde_json::{json, Map, Value};
use vigil_model::{ids, Observable, ObservableKind, StixObject};

use crate::{Emit, FormatError, Item, Link, ParseCtx};

/// Longest line considered; longer lines are rejected without being held in memory whole.
pub const MAX_LINE: usize = 64 * 1024;

/// Builds the indicator object for an observable, with a deterministic id.
pub fn indicator_for(
    o: &Observable,
    ctx: &ParseCtx,
    extra: &[(&str, Value)],
) -> Result<StixObject, vigil_model::ModelError> {
    let pattern = o.to_pattern();
    let mut m = Map::new();
    m.insert("type".into(), json!("indicator"));
    m.insert("spec_version".into(), json!("2.1"));
    m.insert("id".into(), json!(o.indicator_id()));
    m.insert("created".into(), json!(ctx.now));
    m.insert("modified".into(), json!(ctx.now));
    m.insert("name".into(), json!(o.value));
    m.insert("indicator_types".into(), json!(["malicious-activity"]));
    m.insert("pattern".into(), json!(pattern));
    m.insert("pattern_type".into(), json!("stix"));
    m.insert("valid_from".into(), json!(ctx.now));
    if let Some(c) = ctx.confidence {
        m.insert("confidence".into(), json!(c));
    }
    for (k, v) in extra {
        m.insert((*k).to_string(), v.clone());
    }
    // The pattern comes from a normalised observable and the rest from the context: valid by construction.
    StixObject::from_map_trusted(m)
}

/// The id of the family object an IOC list makes for a family name (`family_object`): the same for every list
/// naming the family, whatever its case.
pub fn family_id(name: &str) -> String {
    ids::vigil_id("malware", &[&name.to_lowercase()])
}

/// The malware family object Vigil creates when a list names a family that the store does not know yet.
pub fn family_object(
    name: &str,
    aliases: &[String],
    references: &[String],
    ctx: &ParseCtx,
) -> Option<StixObject> {
    family_object_with(name, aliases, references, None, ctx)
}

/// [`family_object`], with a description.
fn family_object_with(
    name: &str,
    aliases: &[String],
    references: &[String],
    description: Option<String>,
    ctx: &ParseCtx,
) -> Option<StixObject> {
    let mut m = Map::new();
    m.insert("type".into(), json!("malware"));
    m.insert("spec_version".into(), json!("2.1"));
    m.insert("id".into(), json!(family_id(name)));
    m.insert("created".into(), json!(ctx.now));
    m.insert("modified".into(), json!(ctx.now));
    m.insert("name".into(), json!(name));
    m.insert("is_family".into(), json!(true));
    if !aliases.is_empty() {
        m.insert("aliases".into(), json!(aliases));
    }
    if let Some(d) = description {
        m.insert("description".into(), json!(d));
    }
    if !references.is_empty() {
        let refs: Vec<Value> = references
            .iter()
            .map(|u| json!({"source_name": "reference", "url": u}))
            .collect();
        m.insert("external_references".into(), Value::Array(refs));
    }
    StixObject::from_map(m).ok()
}

/// The ATT&CK group a `# MITRE: https://attack.mitre.org/groups/G0007/` header names (`G0007`).
fn mitre_group(header: &str) -> Option<String> {
    let (_, rest) = header.split_once("attack.mitre.org/groups/")?;
    let id: String = rest
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let digits = id.strip_prefix('G')?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

/// Whether a list is about an actor rather than a malware family: maltrail names its lists of a group's
/// infrastructure `apt_<group>` (`apt_sofacy`, `apt_12`), and a list may name the ATT&CK group in its header.
pub fn is_actor_list(family: &str, group: Option<&str>) -> bool {
    group.is_some()
        || family
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("apt_"))
}

/// The keys that find the actor of an actor list, best first: the ATT&CK group its header names, the list's name
/// (folded, `apt_12` finds `APT12`), the name without `apt_` (`sofacy`, unless only digits are left), the aliases.
pub fn actor_keys(family: &str, group: Option<&str>, aliases: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = group.map(str::to_string).into_iter().collect();
    keys.push(family.to_string());
    if let Some(rest) = family.get(4..).filter(|_| is_actor_list(family, None)) {
        if !rest.is_empty() && !rest.bytes().all(|b| b.is_ascii_digit()) {
            keys.push(rest.to_string());
        }
    }
    for a in aliases {
        if !keys.iter().any(|k| k.eq_ignore_ascii_case(a)) {
            keys.push(a.clone());
        }
    }
    keys
}

/// File names that say what a list holds, not whose it is: ESET's `amavaldo/samples.sha256` and `README.adoc`,
/// `iocs.txt`, `domains.csv`, stdin (`-`). The folder above names the family instead.
const GENERIC_NAMES: &[&str] = &[
    "-",
    "all",
    "blacklist",
    "blocklist",
    "c2",
    "data",
    "domains",
    "export",
    "feed",
    "files",
    "hash",
    "hashes",
    "hosts",
    "indicators",
    "ioc",
    "iocs",
    "ips",
    "list",
    "md5",
    "network",
    "readme",
    "sample",
    "samples",
    "sha1",
    "sha256",
    "sha512",
    "stdin",
    "urls",
];

/// True for a file name that says what a list holds rather than whose it is ([`GENERIC_NAMES`]).
pub fn is_generic_name(stem: &str) -> bool {
    GENERIC_NAMES.iter().any(|g| g.eq_ignore_ascii_case(stem))
}

/// The name a path element gives: `emotet-2.txt` -> `emotet` (maltrail's split files), `lummac2.txt` ->
/// `lummac2`; empty for a generic name.
fn name_of(part: &str) -> &str {
    let base = part.split('.').next().unwrap_or(part);
    let base = match base.rsplit_once('-') {
        Some((head, tail))
            if !head.is_empty() && !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) =>
        {
            head
        }
        _ => base,
    };
    if is_generic_name(base) {
        ""
    } else {
        base
    }
}

/// Family name from a file name: `lummac2.txt` -> `lummac2`, `emotet-2.txt` -> `emotet`; for a generic file name
/// (`amavaldo/samples.sha256`) the folder's name; empty when neither names anything (`-`, `iocs/list.txt`).
pub fn family_from_file(file: &str) -> String {
    let mut parts = file.rsplit(['/', '\\', '!']);
    let own = parts.next().map_or("", name_of);
    if !own.is_empty() {
        return own.to_string();
    }
    parts
        .next()
        .map_or(String::new(), |p| name_of(p).to_string())
}

/// Reads an IOC list. `ctx.source` names the family unless it is empty, else the file name does.
pub fn parse(r: &mut dyn BufRead, ctx: &ParseCtx, emit: &mut Emit<'_>) -> Result<(), FormatError> {
    let family = if ctx.source.is_empty() {
        family_from_file(&ctx.file)
    } else {
        ctx.source.clone()
    };
    let mut aliases: Vec<String> = Vec::new();
    let mut references: Vec<String> = Vec::new();
    let mut buf = Vec::with_capacity(256);
    let mut line_no = 0usize;
    let mut fallback: Option<StixObject> = None;
    // The keys of every line's link, set with `fallback`.
    let mut line_keys: Vec<String> = Vec::new();
    let mut group: Option<String> = None;
    // A line other than a comment has been read.
    let mut seen_data = false;
    while let Some(line) = next_line(r, &mut buf, &mut line_no, &ctx.file, emit)? {
        let Some(line) = line else {
            continue;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#').or_else(|| line.strip_prefix("//")) {
            let c = comment.trim();
            if let Some(a) = c.strip_prefix("Aliases:") {
                aliases.extend(
                    a.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case(&family)),
                );
                aliases.dedup();
                fallback = None;
            } else if let Some(g) = c.strip_prefix("MITRE:").and_then(mitre_group) {
                group = Some(g);
                fallback = None;
            } else if let Some(u) = c.strip_prefix("Reference:") {
                let u = u.trim();
                if !u.is_empty() && references.len() < 50 {
                    references.push(u.to_string());
                    fallback = None;
                }
            }
            continue;
        }
        // Inline comments, as maltrail writes them (`evil.com # seen 2024`).
        let line = line.split(" #").next().unwrap_or(line).trim();
        let mut cols = line.split([',', '\t', ';']).map(str::trim);
        let value = cols.next().unwrap_or("");
        let mut kind: Option<ObservableKind> = None;
        let mut notes: Vec<&str> = Vec::new();
        for c in cols {
            match ObservableKind::parse(c) {
                Some(k) if kind.is_none() => kind = Some(k),
                _ if !c.is_empty() => notes.push(c),
                _ => {}
            }
        }
        let value = value.trim_matches('"');
        let obs = match kind {
            Some(k) => Observable::new(k, value).ok(),
            None => Observable::detect(value),
        };
        let first = !seen_data;
        seen_data = true;
        let Some(obs) = obs else {
            // A CSV export's header (`value,type,comment`): words, not indicators, on the first line.
            if first && is_header(line) {
                continue;
            }
            emit(Item::Reject {
                location: format!("line {line_no}"),
                reason: format!("`{}` is not a recognisable indicator", clip(value)),
            })?;
            continue;
        };
        let mut extra: Vec<(&str, Value)> = Vec::new();
        if !notes.is_empty() {
            extra.push(("description", json!(notes.join("; "))));
        }
        let ind = match indicator_for(&obs, ctx, &extra) {
            Ok(o) => o,
            Err(e) => {
                emit(Item::Reject {
                    location: format!("line {line_no}"),
                    reason: e.to_string(),
                })?;
                continue;
            }
        };
        let from = ind.id().to_string();
        emit(Item::Object {
            object: ind,
            original_id: None,
            derived: true,
        })?;
        if !family.is_empty() {
            // The family object goes with the first link after it changes only: the writer caches what a link
            // resolved to, so later lines with the same keys need neither the object nor a lookup.
            let fresh = fallback.is_none();
            // An actor's list's link to its actor, sent after the first line's link has made the family.
            let mut actor_link = None;
            if fresh {
                let actor = is_actor_list(&family, group.as_deref());
                fallback = if actor {
                    // An actor's list: its family object stands for the actor's infrastructure and is attributed to
                    // the actor (below). Its aliases are the actor's and the actor's tools' (maltrail's
                    // `apt_sofacy` lists `apt28` and `zebrocy`): as this object's aliases they would make it a
                    // duplicate of the Zebrocy malware, and its lines Zebrocy's.
                    let described = (!aliases.is_empty()).then(|| {
                        format!(
                            "Infrastructure of the actor this list tracks (aliases: {}).",
                            aliases.join(", ")
                        )
                    });
                    family_object_with(&family, &[], &references, described, ctx).map(|mut o| {
                        // So that ingest never makes it the duplicate of a cluster its name finds.
                        o.set("x_vigil_actor_list", json!(true));
                        o
                    })
                } else {
                    family_object(&family, &aliases, &references, ctx)
                };
                // An actor's list's lines go to its own family, found by id: its name could find a cluster by a
                // folded synonym (maltrail's `apt_73` is the ransomware galaxy's `Eraleign`, synonym `APT73`).
                line_keys = if actor {
                    vec![family_id(&family)]
                } else {
                    std::iter::once(&family).chain(&aliases).cloned().collect()
                };
                // One link per list, pending until the actor is stored if it is not yet.
                actor_link = fallback.as_ref().filter(|_| actor).map(|f| Link {
                    from: f.id().to_string(),
                    relationship_type: "attributed-to".into(),
                    reverse: false,
                    target_types: vec!["intrusion-set".into(), "threat-actor".into()],
                    keys: actor_keys(&family, group.as_deref(), &aliases),
                    fallback: None,
                    marking_refs: Vec::new(),
                    follow: true,
                });
            }
            emit(Item::Link(Link {
                from,
                relationship_type: "indicates".into(),
                reverse: false,
                target_types: vec!["malware".into()],
                keys: line_keys.clone(),
                fallback: if fresh { fallback.clone() } else { None },
                marking_refs: Vec::new(),
                follow: false,
            }))?;
            if let Some(l) = actor_link {
                emit(Item::Link(l))?;
            }
        }
    }
    Ok(())
}

/// Column names, not values: every column a word of ASCII letters, digits, spaces, `_` or `-`, with a letter.
fn is_header(line: &str) -> bool {
    line.split([',', '\t', ';']).all(|c| {
        let c = c.trim().trim_matches('"');
        c.bytes().any(|b| b.is_ascii_alphabetic())
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'_' | b'-'))
    })
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

/// The next line of a line-oriented list (`None` at the end): `Some(None)` when the line was too long or not
/// UTF-8, which is then rejected by its line number (the list's other lines are still read).
#[inline]
pub fn next_line<'b>(
    r: &mut dyn BufRead,
    buf: &'b mut Vec<u8>,
    line_no: &mut usize,
    file: &str,
    emit: &mut Emit<'_>,
) -> Result<Option<Option<&'b str>>, FormatError> {
    buf.clear();
    let n = read_line_capped(r, buf).map_err(|e| FormatError::Io {
        file: file.to_string(),
        reason: format!("line {}: {e}", *line_no + 1),
    })?;
    if n == 0 {
        return Ok(None);
    }
    *line_no += 1;
    if n > MAX_LINE {
        emit(Item::Reject {
            location: format!("line {line_no}"),
            reason: format!("line longer than {MAX_LINE} bytes ({n} bytes)"),
        })?;
        return Ok(Some(None));
    }
    match std::str::from_utf8(buf) {
        Ok(line) => Ok(Some(Some(line))),
        Err(_) => {
            emit(Item::Reject {
                location: format!("line {line_no}"),
                reason: "not valid UTF-8".into(),
            })?;
            Ok(Some(None))
        }
    }
}

/// Reads one line into `buf`, keeping at most MAX_LINE+1 bytes of it, and returns the full length read (0 at EOF).
pub fn read_line_capped(r: &mut dyn BufRead, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(total);
        }
        let (used, done) = match memchr(avail) {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        let keep = used.min((MAX_LINE + 1).saturating_sub(buf.len()));
        let chunk = &avail[..keep];
        let chunk = if done && keep == used {
            &chunk[..chunk.len() - 1]
        } else {
            chunk
        };
        buf.extend_from_slice(chunk);
        total += used;
        r.consume(used);
        if done {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(total);
        }
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(source: &str) -> ParseCtx {
        ParseCtx {
            source: source.into(),
            file: "trails/lummac2.txt".into(),
            confidence: Some(70),
            now: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn a_csv_header_is_skipped_and_only_on_the_first_line() {
        let rejected = |input: &str| {
            let mut out = Vec::new();
            parse(&mut input.as_bytes(), &ctx(""), &mut |i| {
                if let Item::Reject { location, .. } = i {
                    out.push(location);
                }
                Ok(())
            })
            .unwrap();
            out
        };
        let csv =
            "# export\n\"Indicator value\";type;first_seen 2026\nevil.com;domain;x\nvalue,type\n";
        assert_eq!(rejected(csv), ["line 4"]);
        // Not words: a value that is no indicator, rejected on the first line too.
        assert_eq!(rejected("evil..com\nevil.com\n"), ["line 1"]);
        assert_eq!(rejected("1234\n"), ["line 1"]);
    }

    #[test]
    fn maltrail_style_list() {
        let input = "# Aliases: acrstealer, remus\n# Reference: https://example.org/lumma\nevil[.]com\n1.2.3.4 # c2\nhxxp://bad.example/gate.php\n\nnot a value\n";
        let mut items = Vec::new();
        parse(&mut input.as_bytes(), &ctx(""), &mut |i| {
            items.push(i);
            Ok(())
        })
        .unwrap();
        let objs: Vec<&StixObject> = items
            .iter()
            .filter_map(|i| {
                if let Item::Object { object, .. } = i {
                    Some(object)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(objs.len(), 3);
        assert_eq!(
            objs[0].str("pattern"),
            Some("[domain-name:value = 'evil.com']")
        );
        assert_eq!(objs[0].confidence(), Some(70));
        assert_eq!(
            objs[2].str("pattern"),
            Some("[url:value = 'http://bad.example/gate.php']")
        );
        let link = items
            .iter()
            .find_map(|i| if let Item::Link(l) = i { Some(l) } else { None })
            .unwrap();
        assert_eq!(link.keys, vec!["lummac2", "acrstealer", "remus"]);
        assert_eq!(
            link.fallback.as_ref().and_then(|f| f.name()),
            Some("lummac2")
        );
        assert!(items
            .iter()
            .any(|i| matches!(i, Item::Reject { location, .. } if location == "line 7")));
    }

    #[test]
    fn an_actors_list_links_its_family_to_the_actor() {
        let input = "# Aliases: apt28, sofacy, fancy bear, zebrocy\n# MITRE: https://attack.mitre.org/groups/G0007/\n# Reference: https://example.org/sofacy\nevil.example\nworse.example\n";
        let mut c = ctx("");
        c.file = "trails/static/malware/apt_sofacy.txt".into();
        let mut links = Vec::new();
        parse(&mut input.as_bytes(), &c, &mut |i| {
            if let Item::Link(l) = i {
                links.push(l);
            }
            Ok(())
        })
        .unwrap();
        // Two lines, one link to the actor.
        assert_eq!(links.len(), 3);
        let (lines, actor): (Vec<&Link>, Vec<&Link>) = links
            .iter()
            .partition(|l| l.relationship_type == "indicates");
        assert!(lines.iter().all(|l| l.keys == [family_id("apt_sofacy")]));
        let family = lines[0].fallback.as_ref().expect("family object");
        assert_eq!(family.name(), Some("apt_sofacy"));
        assert_eq!(family.get("x_vigil_actor_list"), Some(&json!(true)));
        assert!(
            family.aliases().is_empty(),
            "the actor's aliases are not the family's"
        );
        assert!(family
            .str("description")
            .is_some_and(|d| d.contains("zebrocy")));
        assert_eq!(actor.len(), 1);
        assert_eq!(actor[0].from, family_id("apt_sofacy"));
        assert_eq!(actor[0].target_types, ["intrusion-set", "threat-actor"]);
        assert_eq!(
            actor[0].keys,
            [
                "G0007",
                "apt_sofacy",
                "sofacy",
                "apt28",
                "fancy bear",
                "zebrocy"
            ]
        );
        assert!(actor[0].fallback.is_none());
        assert!(
            actor[0].follow,
            "the actor link moves to a better actor loaded later"
        );
    }

    #[test]
    fn actor_lists_and_their_keys() {
        assert!(is_actor_list("apt_12", None));
        assert!(is_actor_list("APT_lazarus", None));
        assert!(is_actor_list("turla_iocs", Some("G0010")));
        assert!(!is_actor_list("lummac2", None));
        assert!(!is_actor_list("apt", None));
        assert!(!is_actor_list("aptos_drainer", None));
        // A number alone is no name: the folded `apt12` finds APT12.
        assert_eq!(actor_keys("apt_12", None, &[]), ["apt_12"]);
        assert_eq!(
            mitre_group(" https://attack.mitre.org/groups/G0047/"),
            Some("G0047".into())
        );
        assert_eq!(
            mitre_group(" https://attack.mitre.org/software/S0154/"),
            None
        );
        assert_eq!(mitre_group(" https://attack.mitre.org/groups/"), None);
        assert_eq!(mitre_group(" https://attack.mitre.org/groups/Gx1/"), None);
    }

    #[test]
    fn same_value_same_id_across_sources() {
        let c1 = ctx("a");
        let mut c2 = ctx("b");
        c2.now = "2027-01-01T00:00:00.000Z".into();
        let o = Observable::detect("evil.com").unwrap();
        assert_eq!(
            indicator_for(&o, &c1, &[]).unwrap().id(),
            indicator_for(&o, &c2, &[]).unwrap().id()
        );
    }

    #[test]
    fn long_lines_and_bad_utf8() {
        let mut input = vec![b'a'; 200_000];
        input.extend_from_slice(b"\n\xff\xfe\nok.example\n");
        let mut rejects = 0;
        let mut objs = 0;
        parse(&mut input.as_slice(), &ctx("x"), &mut |i| {
            match i {
                Item::Reject { .. } => rejects += 1,
                Item::Object { .. } => objs += 1,
                _ => {}
            }
            Ok(())
        })
        .unwrap();
        assert_eq!((rejects, objs), (2, 1));
    }

    #[test]
    fn family_names() {
        assert_eq!(family_from_file("x/emotet-2.txt"), "emotet");
        assert_eq!(family_from_file("lummac2.txt"), "lummac2");
        assert_eq!(family_from_file("a-b.txt"), "a-b");
        assert_eq!(
            family_from_file("m.tar.gz!trails/static/malware/android_fanta.txt"),
            "android_fanta"
        );
        // A file name that says what the list holds: the folder names the family.
        assert_eq!(family_from_file("eset/amavaldo/samples.sha256"), "amavaldo");
        assert_eq!(family_from_file("eset\\attor\\README.adoc"), "attor");
        assert_eq!(family_from_file("f.tar.gz!turla/IOCs.txt"), "turla");
        // Nothing names a family: none rather than "-" or "samples".
        assert_eq!(family_from_file("-"), "");
        assert_eq!(family_from_file("samples.md5"), "");
        assert_eq!(family_from_file("iocs/list.txt"), "");
    }
}
