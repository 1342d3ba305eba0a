//! Undoing defanging inside one token: `hxxp`, `[.]`, `(.)`, `{.}`, `[dot]`, `[:]`, `[://]`, `[@]`, `[at]`,
//! `[/]`, `\.`, and the spaced form `evil [.] com` that spans tokens.

/// Bracketed forms and what they stand for (matched case-insensitively, the brackets included).
const BRACKETED: &[(&[u8], &[u8])] = &[
    (b"[.]", b"."),
    (b"(.)", b"."),
    (b"{.}", b"."),
    (b"[dot]", b"."),
    (b"(dot)", b"."),
    (b"{dot}", b"."),
    (b"[d0t]", b"."),
    (b"[:]", b":"),
    (b"(:)", b":"),
    (b"[://]", b"://"),
    (b"[:/]", b":/"),
    (b"[@]", b"@"),
    (b"(@)", b"@"),
    (b"{@}", b"@"),
    (b"[at]", b"@"),
    (b"(at)", b"@"),
    (b"[/]", b"/"),
    (b"[//]", b"//"),
    (b"[,]", b"."),
];

/// Scheme spellings used to defang URLs, and the scheme they stand for.
const SCHEMES: &[(&[u8], &[u8])] = &[
    (b"hxxps", b"https"),
    (b"hxxp", b"http"),
    (b"hxtps", b"https"),
    (b"hxtp", b"http"),
    (b"htxps", b"https"),
    (b"htxp", b"http"),
    (b"h**ps", b"https"),
    (b"h**p", b"http"),
    (b"hXXps", b"https"),
    (b"fxp", b"ftp"),
    (b"fxps", b"ftps"),
];

fn starts_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

/// True when the token may hold a defang marker and so needs [`refang_token`].
pub(crate) fn may_be_defanged(tok: &[u8]) -> bool {
    tok.iter()
        .any(|b| matches!(b, b'[' | b'(' | b'{' | b'\\' | b' ' | b'\t'))
        || SCHEMES.iter().any(|(s, _)| {
            starts_with_ci(tok, s) && tok.get(s.len()).is_some_and(|c| matches!(c, b':' | b'['))
        })
}

/// Refangs one token. Returns the refanged bytes and whether anything was undone. Whitespace inside the token
/// (only present in joined `evil [.] com` tokens) is dropped.
pub fn refang_token(tok: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(tok.len());
    let mut defanged = false;
    let mut i = 0;
    // A defanged scheme can only open the token (or follow a `=`/`"`, which the tokenizer already cut).
    for (from, to) in SCHEMES {
        if starts_with_ci(tok, from)
            && tok
                .get(from.len())
                .is_some_and(|c| matches!(c, b':' | b'['))
        {
            out.extend_from_slice(to);
            i = from.len();
            defanged = true;
            break;
        }
    }
    while i < tok.len() {
        let c = tok[i];
        match c {
            b'[' | b'(' | b'{' => {
                if let Some((from, to)) =
                    BRACKETED.iter().find(|(f, _)| starts_with_ci(&tok[i..], f))
                {
                    out.extend_from_slice(to);
                    i += from.len();
                    defanged = true;
                    continue;
                }
                // "[ . ]" with inner spaces.
                if let Some(n) = spaced_bracket_dot(&tok[i..]) {
                    out.push(b'.');
                    i += n;
                    defanged = true;
                    continue;
                }
                out.push(c);
            }
            b'\\' if tok.get(i + 1) == Some(&b'.') => {
                out.push(b'.');
                i += 2;
                defanged = true;
                continue;
            }
            b' ' | b'\t' => {}
            _ => out.push(c),
        }
        i += 1;
    }
    (out, defanged)
}

fn spaced_bracket_dot(b: &[u8]) -> Option<usize> {
    let close = match b.first()? {
        b'[' => b']',
        b'(' => b')',
        b'{' => b'}',
        _ => return None,
    };
    let mut j = 1;
    while b.get(j) == Some(&b' ') {
        j += 1;
    }
    let word = if b.get(j) == Some(&b'.') {
        1
    } else if b.len() >= j + 3 && b[j..j + 3].eq_ignore_ascii_case(b"dot") {
        3
    } else {
        return None;
    };
    j += word;
    while b.get(j) == Some(&b' ') {
        j += 1;
    }
    (b.get(j) == Some(&close)).then_some(j + 1)
}

/// At `end` (just after a token), recognises ` [.] next` (spaces optional, any bracketed dot form) and returns
/// the end of `next`, so the caller can join the pieces into one token.
pub(crate) fn extend_spaced_defang(text: &[u8], end: usize) -> Option<usize> {
    if end == 0 || !text[end - 1].is_ascii_alphanumeric() {
        return None;
    }
    let mut j = end;
    let mut spaces = 0;
    while text.get(j) == Some(&b' ') && spaces < 2 {
        j += 1;
        spaces += 1;
    }
    if spaces == 0 || !matches!(text.get(j), Some(b'[' | b'(' | b'{')) {
        return None; // "evil[.]com" is one token already; anything but a bracket cannot be a spaced defang.
    }
    let rest = &text[j..];
    let n = BRACKETED
        .iter()
        .filter(|(_, to)| *to == b"." || *to == b"@")
        .find(|(f, _)| starts_with_ci(rest, f))
        .map(|(f, _)| f.len())
        .or_else(|| spaced_bracket_dot(rest))?;
    j += n;
    let mut spaces = 0;
    while text.get(j) == Some(&b' ') && spaces < 2 {
        j += 1;
        spaces += 1;
    }
    if !text.get(j).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    while j < text.len() && super::CLASS[text[j] as usize] == 1 {
        j += 1;
    }
    Some(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> (String, bool) {
        let (b, d) = refang_token(s.as_bytes());
        (String::from_utf8(b).expect("utf8"), d)
    }

    #[test]
    fn styles() {
        assert_eq!(r("hxxp://evil[.]com/a"), ("http://evil.com/a".into(), true));
        assert_eq!(r("hXXps[:]//evil(.)com"), ("https://evil.com".into(), true));
        assert_eq!(r("evil[dot]com"), ("evil.com".into(), true));
        assert_eq!(r("evil{.}com"), ("evil.com".into(), true));
        assert_eq!(r("a[@]b[.]org"), ("a@b.org".into(), true));
        assert_eq!(r("a[at]b[.]org"), ("a@b.org".into(), true));
        assert_eq!(r("evil\\.com"), ("evil.com".into(), true));
        assert_eq!(r("http[://]x[.]ru"), ("http://x.ru".into(), true));
        assert_eq!(r("1.2.3[.]4"), ("1.2.3.4".into(), true));
        assert_eq!(r("evil [.] com"), ("evil.com".into(), true));
        assert_eq!(r("evil[ . ]com"), ("evil.com".into(), true));
        assert_eq!(r("fxp://x[.]ru"), ("ftp://x.ru".into(), true));
        assert_eq!(r("plain.com"), ("plain.com".into(), false));
        assert_eq!(r("f(x)"), ("f(x)".into(), false));
    }

    #[test]
    fn spaced_join() {
        let t = b"see evil [.] com now";
        assert_eq!(extend_spaced_defang(t, 8), Some(16));
        assert_eq!(extend_spaced_defang(b"see evil now", 8), None);
        assert_eq!(extend_spaced_defang(b"evil (dot) com", 4), Some(14));
    }
}
