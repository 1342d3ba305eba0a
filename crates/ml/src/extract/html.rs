//! HTML to text for extraction: drops markup, `<script>`, `<style>` and comments, decodes entities, and keeps
//! a map from text offsets back to input offsets so indicators point into the original bytes.

/// Text recovered from HTML, with its offset map.
#[derive(Debug, Clone, Default)]
pub struct HtmlText {
    /// The visible text.
    pub text: String,
    /// (text offset, input offset) at the start of every run copied verbatim, ascending.
    map: Vec<(usize, usize)>,
    /// Input bytes that did not become text (tags, scripts, styles, comments).
    pub removed_bytes: u64,
}

impl HtmlText {
    /// Input offset of a text offset.
    pub fn source_offset(&self, text_off: usize) -> usize {
        let i = self.map.partition_point(|(t, _)| *t <= text_off);
        if i == 0 {
            return text_off;
        }
        let (t, s) = self.map[i - 1];
        s + (text_off - t)
    }
}

/// True when the first KiB of input looks like an HTML document.
pub fn looks_like_html(b: &[u8]) -> bool {
    let head = &b[..b.len().min(1024)];
    let lower: Vec<u8> = head.iter().map(|c| c.to_ascii_lowercase()).collect();
    let has = |n: &[u8]| memchr::memmem::find(&lower, n).is_some();
    has(b"<!doctype html")
        || has(b"<html")
        || has(b"<head>")
        || has(b"<body")
        || (has(b"<div") && has(b"</"))
}

fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0].to_ascii_lowercase();
    let firsts = [first, first.to_ascii_uppercase()];
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        let p = memchr::memchr2(firsts[0], firsts[1], &hay[i..=hay.len() - needle.len()])?;
        let at = i + p;
        if hay[at..at + needle.len()].eq_ignore_ascii_case(needle) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let v = if let Some(h) = num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
            u32::from_str_radix(h, 16).ok()?
        } else {
            num.parse::<u32>().ok()?
        };
        return char::from_u32(v);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "lbrack" | "lsqb" => '[',
        "rbrack" | "rsqb" => ']',
        "lpar" => '(',
        "rpar" => ')',
        "period" => '.',
        "colon" => ':',
        "commat" => '@',
        "sol" => '/',
        "bsol" => '\\',
        "ndash" => '-',
        "mdash" => '-',
        "hellip" => '.',
        "rsquo" | "lsquo" => '\'',
        "rdquo" | "ldquo" => '"',
        _ => return None,
    })
}

const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "tr",
    "td",
    "th",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "table",
    "ul",
    "ol",
    "section",
    "article",
    "code",
    "blockquote",
    "dd",
    "dt",
    "hr",
];

/// Reduces HTML to its visible text. Never fails: malformed markup is read as text up to the next `>`.
pub fn html_to_text(b: &[u8]) -> HtmlText {
    let mut out: Vec<u8> = Vec::with_capacity(b.len() / 2);
    let mut map: Vec<(usize, usize)> = Vec::new();
    let mut removed = 0u64;
    let mut i = 0;
    let mut run_open = false;
    while i < b.len() {
        let c = b[i];
        if c == b'<' {
            run_open = false;
            let rest = &b[i..];
            if rest.starts_with(b"<!--") {
                let end = find_ci(&rest[4..], b"-->")
                    .map(|p| i + 4 + p + 3)
                    .unwrap_or(b.len());
                removed += (end - i) as u64;
                i = end;
                continue;
            }
            let tag_end = memchr::memchr(b'>', rest)
                .map(|p| i + p + 1)
                .unwrap_or(b.len());
            let name: Vec<u8> = rest[1..]
                .iter()
                .skip_while(|c| **c == b'/')
                .take_while(|c| c.is_ascii_alphanumeric())
                .map(|c| c.to_ascii_lowercase())
                .collect();
            let name = String::from_utf8_lossy(&name).into_owned();
            let mut end = tag_end;
            if (name == "script" || name == "style" || name == "noscript" || name == "template")
                && !rest[1..].starts_with(b"/")
            {
                let close = format!("</{name}");
                end = find_ci(&b[tag_end..], close.as_bytes())
                    .map(|p| {
                        let at = tag_end + p;
                        memchr::memchr(b'>', &b[at..])
                            .map(|q| at + q + 1)
                            .unwrap_or(b.len())
                    })
                    .unwrap_or(b.len());
            }
            removed += (end - i) as u64;
            // Block-level tags separate words; inline tags (<b>, <span>) do not.
            if BLOCK_TAGS.contains(&name.as_str()) {
                out.push(b'\n');
            }
            i = end;
            continue;
        }
        if c == b'&' {
            let semi = b[i + 1..b.len().min(i + 12)]
                .iter()
                .position(|c| *c == b';');
            if let Some(p) = semi {
                let name = String::from_utf8_lossy(&b[i + 1..i + 1 + p]).into_owned();
                if let Some(ch) = entity(&name) {
                    map.push((out.len(), i));
                    run_open = false;
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                    i += p + 2;
                    continue;
                }
            }
        }
        if !run_open {
            map.push((out.len(), i));
            run_open = true;
        }
        out.push(c);
        i += 1;
    }
    let text = match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    HtmlText {
        text,
        map,
        removed_bytes: removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_and_maps() {
        let h = b"<html><head><style>a.evil.com{}</style><script>var x='bad.com';</script></head><body><p>C2: evil[.]com &amp; 1.2.3.4</p></body></html>";
        let t = html_to_text(h);
        assert!(
            !t.text.contains("bad.com") && !t.text.contains("a.evil.com"),
            "{}",
            t.text
        );
        let off = t.text.find("evil[.]com").expect("present");
        let src = t.source_offset(off);
        assert_eq!(&h[src..src + 10], b"evil[.]com");
        let off = t.text.find("1.2.3.4").expect("present");
        let src = t.source_offset(off);
        assert_eq!(&h[src..src + 7], b"1.2.3.4");
        assert!(looks_like_html(h));
        assert!(!looks_like_html(b"plain text with a < b"));
    }
}
