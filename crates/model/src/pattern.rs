//! STIX 2.1 patterning language: a parser from text to an AST (the grammar of the OASIS `STIXPattern.g4`),
//! plus helpers that pull the plain `object:path = 'value'` comparisons out of a pattern for indexing.
//!
//! Evaluation lives with the hunting code; this module only says what a pattern means syntactically.

use std::fmt;

use crate::ModelError;

/// A parsed pattern: one observation expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub root: ObsExpr,
}

/// Observation expressions, joined by AND / OR / FOLLOWEDBY, optionally qualified.
#[derive(Debug, Clone, PartialEq)]
pub enum ObsExpr {
    Simple(CompExpr),
    And(Box<ObsExpr>, Box<ObsExpr>),
    Or(Box<ObsExpr>, Box<ObsExpr>),
    FollowedBy(Box<ObsExpr>, Box<ObsExpr>),
    Qualified(Box<ObsExpr>, Qualifier),
}

/// WITHIN / REPEATS / START..STOP.
#[derive(Debug, Clone, PartialEq)]
pub enum Qualifier {
    Within(f64),
    Repeats(u64),
    StartStop(String, String),
}

/// Comparison expressions inside one `[...]` observation.
#[derive(Debug, Clone, PartialEq)]
pub enum CompExpr {
    And(Vec<CompExpr>),
    Or(Vec<CompExpr>),
    Test(PropTest),
}

/// `path [NOT] op value`, or `EXISTS path`.
#[derive(Debug, Clone, PartialEq)]
pub struct PropTest {
    pub path: ObjectPath,
    pub negated: bool,
    pub op: Op,
    pub value: Literal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Gt,
    Lt,
    Ge,
    Le,
    In,
    Like,
    Matches,
    IsSubset,
    IsSuperset,
    Exists,
}

/// `type:prop.sub[0].'quoted'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPath {
    pub object_type: String,
    pub steps: Vec<PathStep>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Prop(String),
    Index(i64),
    AnyIndex,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Binary(String),
    Hex(String),
    Timestamp(String),
    Set(Vec<Literal>),
    None,
}

impl ObjectPath {
    /// The path without its object type, as `hashes.SHA-256` or `value`.
    pub fn property_path(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.steps.iter().enumerate() {
            match s {
                PathStep::Prop(p) => {
                    if i > 0 {
                        out.push('.');
                    }
                    out.push_str(p);
                }
                PathStep::Index(n) => out.push_str(&format!("[{n}]")),
                PathStep::AnyIndex => out.push_str("[*]"),
            }
        }
        out
    }
}

impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.object_type, self.property_path())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LBrack,
    RBrack,
    LParen,
    RParen,
    Colon,
    Dot,
    Comma,
    Star,
    Eq,
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Binary(String),
    Hex(String),
    Timestamp(String),
}

const MAX_PATTERN_LEN: usize = 1 << 20;
const MAX_DEPTH: usize = 200;

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'[' => {
                out.push((start, Tok::LBrack));
                i += 1;
            }
            b']' => {
                out.push((start, Tok::RBrack));
                i += 1;
            }
            b'(' => {
                out.push((start, Tok::LParen));
                i += 1;
            }
            b')' => {
                out.push((start, Tok::RParen));
                i += 1;
            }
            b':' => {
                out.push((start, Tok::Colon));
                i += 1;
            }
            b'.' if !b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                out.push((start, Tok::Dot));
                i += 1;
            }
            b',' => {
                out.push((start, Tok::Comma));
                i += 1;
            }
            b'*' => {
                out.push((start, Tok::Star));
                i += 1;
            }
            b'=' => {
                i += if b.get(i + 1) == Some(&b'=') { 2 } else { 1 };
                out.push((start, Tok::Eq));
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                out.push((start, Tok::Neq));
                i += 2;
            }
            b'<' => {
                if b.get(i + 1) == Some(&b'=') {
                    out.push((start, Tok::Le));
                    i += 2;
                } else if b.get(i + 1) == Some(&b'>') {
                    out.push((start, Tok::Neq));
                    i += 2;
                } else {
                    out.push((start, Tok::Lt));
                    i += 1;
                }
            }
            b'>' => {
                if b.get(i + 1) == Some(&b'=') {
                    out.push((start, Tok::Ge));
                    i += 2;
                } else {
                    out.push((start, Tok::Gt));
                    i += 1;
                }
            }
            b'\'' => {
                let (lit, next) = string_lit(s, i)?;
                out.push((start, Tok::Str(lit)));
                i = next;
            }
            b'b' | b'h' | b't' if b.get(i + 1) == Some(&b'\'') => {
                let (lit, next) = string_lit(s, i + 1)?;
                let tok = match c {
                    b'b' => {
                        if !lit.bytes().all(|x| {
                            x.is_ascii_alphanumeric() || x == b'+' || x == b'/' || x == b'='
                        }) {
                            return Err(format!("invalid binary literal at {start}"));
                        }
                        Tok::Binary(lit)
                    }
                    b'h' => {
                        if lit.len() % 2 != 0 || !lit.bytes().all(|x| x.is_ascii_hexdigit()) {
                            return Err(format!("invalid hex literal at {start}"));
                        }
                        Tok::Hex(lit)
                    }
                    _ => {
                        if crate::time::parse("pattern", &lit).is_err() {
                            return Err(format!("invalid timestamp literal at {start}"));
                        }
                        Tok::Timestamp(lit)
                    }
                };
                out.push((start, tok));
                i = next;
            }
            b'-' | b'+' | b'0'..=b'9' | b'.' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                    j += 1;
                }
                let text = &s[i..j];
                if text.contains('.') {
                    let v: f64 = text
                        .parse()
                        .map_err(|_| format!("invalid number `{text}` at {start}"))?;
                    out.push((start, Tok::Float(v)));
                } else {
                    let v: i64 = text
                        .parse()
                        .map_err(|_| format!("invalid number `{text}` at {start}"))?;
                    out.push((start, Tok::Int(v)));
                }
                i = j;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'-')
                {
                    j += 1;
                }
                out.push((start, Tok::Ident(s[i..j].to_string())));
                i = j;
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(format!("unexpected character `{ch}` at {start}"));
            }
        }
    }
    Ok(out)
}

fn string_lit(s: &str, quote: usize) -> Result<(String, usize), String> {
    let b = s.as_bytes();
    let mut i = quote + 1;
    let mut out = String::new();
    let mut seg = i;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                out.push_str(&s[seg..i]);
                match b.get(i + 1) {
                    Some(b'\\') => out.push('\\'),
                    Some(b'\'') => out.push('\''),
                    _ => return Err(format!("invalid escape in string literal at {i}")),
                }
                i += 2;
                seg = i;
            }
            b'\'' => {
                out.push_str(&s[seg..i]);
                return Ok((out, i + 1));
            }
            _ => i += 1,
        }
    }
    Err(format!("unterminated string literal starting at {quote}"))
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    depth: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map(|t| t.0).unwrap_or(self.len)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.1.clone());
        self.pos += 1;
        t
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == kw)
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: Tok, what: &str) -> Result<(), String> {
        let at = self.at();
        match self.next() {
            Some(x) if x == t => Ok(()),
            Some(x) => Err(format!("expected {what} at {at}, found {x:?}")),
            None => Err(format!("expected {what} at end of pattern")),
        }
    }
    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("pattern nested too deeply".into());
        }
        Ok(())
    }

    fn observation_expressions(&mut self) -> Result<ObsExpr, String> {
        self.enter()?;
        let mut left = self.observation_or()?;
        while self.eat_kw("FOLLOWEDBY") {
            let right = self.observation_or()?;
            left = ObsExpr::FollowedBy(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn observation_or(&mut self) -> Result<ObsExpr, String> {
        let mut left = self.observation_and()?;
        while self.eat_kw("OR") {
            let right = self.observation_and()?;
            left = ObsExpr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn observation_and(&mut self) -> Result<ObsExpr, String> {
        let mut left = self.observation()?;
        while self.eat_kw("AND") {
            let right = self.observation()?;
            left = ObsExpr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn observation(&mut self) -> Result<ObsExpr, String> {
        let at = self.at();
        let mut expr = match self.next() {
            Some(Tok::LBrack) => {
                let c = self.comparison_or()?;
                self.expect(Tok::RBrack, "`]`")?;
                ObsExpr::Simple(c)
            }
            Some(Tok::LParen) => {
                let e = self.observation_expressions()?;
                self.expect(Tok::RParen, "`)`")?;
                e
            }
            Some(t) => return Err(format!("expected `[` or `(` at {at}, found {t:?}")),
            None => return Err("expected an observation expression at end of pattern".into()),
        };
        loop {
            if self.eat_kw("WITHIN") {
                let at = self.at();
                let secs = match self.next() {
                    Some(Tok::Int(n)) if n > 0 => n as f64,
                    Some(Tok::Float(f)) if f > 0.0 => f,
                    _ => return Err(format!("WITHIN needs a positive number at {at}")),
                };
                if !self.eat_kw("SECONDS") {
                    return Err(format!("expected SECONDS at {}", self.at()));
                }
                expr = ObsExpr::Qualified(Box::new(expr), Qualifier::Within(secs));
            } else if self.eat_kw("REPEATS") {
                let at = self.at();
                let n = match self.next() {
                    Some(Tok::Int(n)) if n > 0 => n as u64,
                    _ => return Err(format!("REPEATS needs a positive integer at {at}")),
                };
                if !self.eat_kw("TIMES") {
                    return Err(format!("expected TIMES at {}", self.at()));
                }
                expr = ObsExpr::Qualified(Box::new(expr), Qualifier::Repeats(n));
            } else if self.eat_kw("START") {
                let at = self.at();
                let a = match self.next() {
                    Some(Tok::Timestamp(t)) => t,
                    _ => return Err(format!("START needs a t'...' timestamp at {at}")),
                };
                if !self.eat_kw("STOP") {
                    return Err(format!("expected STOP at {}", self.at()));
                }
                let at = self.at();
                let b = match self.next() {
                    Some(Tok::Timestamp(t)) => t,
                    _ => return Err(format!("STOP needs a t'...' timestamp at {at}")),
                };
                expr = ObsExpr::Qualified(Box::new(expr), Qualifier::StartStop(a, b));
            } else {
                break;
            }
        }
        Ok(expr)
    }

    fn comparison_or(&mut self) -> Result<CompExpr, String> {
        self.enter()?;
        let mut parts = vec![self.comparison_and()?];
        while self.eat_kw("OR") {
            parts.push(self.comparison_and()?);
        }
        self.depth -= 1;
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            CompExpr::Or(parts)
        })
    }

    fn comparison_and(&mut self) -> Result<CompExpr, String> {
        let mut parts = vec![self.prop_test()?];
        while self.eat_kw("AND") {
            parts.push(self.prop_test()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            CompExpr::And(parts)
        })
    }

    fn prop_test(&mut self) -> Result<CompExpr, String> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.comparison_or()?;
            self.expect(Tok::RParen, "`)`")?;
            return Ok(e);
        }
        if self.eat_kw("EXISTS") {
            let path = self.object_path()?;
            return Ok(CompExpr::Test(PropTest {
                path,
                negated: false,
                op: Op::Exists,
                value: Literal::None,
            }));
        }
        let path = self.object_path()?;
        let negated = self.eat_kw("NOT");
        let at = self.at();
        let op = match self.next() {
            Some(Tok::Eq) => Op::Eq,
            Some(Tok::Neq) => Op::Neq,
            Some(Tok::Lt) => Op::Lt,
            Some(Tok::Le) => Op::Le,
            Some(Tok::Gt) => Op::Gt,
            Some(Tok::Ge) => Op::Ge,
            Some(Tok::Ident(k)) => match k.as_str() {
                "IN" => Op::In,
                "LIKE" => Op::Like,
                "MATCHES" => Op::Matches,
                "ISSUBSET" => Op::IsSubset,
                "ISSUPERSET" => Op::IsSuperset,
                _ => return Err(format!("unknown operator `{k}` at {at}")),
            },
            Some(t) => {
                return Err(format!(
                    "expected a comparison operator at {at}, found {t:?}"
                ))
            }
            None => return Err("expected a comparison operator at end of pattern".into()),
        };
        let at = self.at();
        let value = match op {
            Op::In => self.set_literal()?,
            Op::Like | Op::Matches | Op::IsSubset | Op::IsSuperset => match self.next() {
                Some(Tok::Str(s)) => Literal::Str(s),
                _ => return Err(format!("{op:?} needs a string literal at {at}")),
            },
            Op::Eq | Op::Neq => self.primitive_literal()?,
            _ => match self.primitive_literal()? {
                Literal::Bool(_) => {
                    return Err(format!("ordering comparison with a boolean at {at}"))
                }
                l => l,
            },
        };
        if op == Op::Matches {
            if let Literal::Str(re) = &value {
                if re.len() > 4096 {
                    return Err(format!("regular expression too long at {at}"));
                }
            }
        }
        Ok(CompExpr::Test(PropTest {
            path,
            negated,
            op,
            value,
        }))
    }

    fn set_literal(&mut self) -> Result<Literal, String> {
        self.expect(Tok::LParen, "`(` opening a set")?;
        let mut items = Vec::new();
        if self.peek() == Some(&Tok::RParen) {
            self.pos += 1;
            return Ok(Literal::Set(items));
        }
        loop {
            items.push(self.primitive_literal()?);
            let at = self.at();
            match self.next() {
                Some(Tok::Comma) => continue,
                Some(Tok::RParen) => break,
                _ => return Err(format!("expected `,` or `)` in set at {at}")),
            }
        }
        Ok(Literal::Set(items))
    }

    fn primitive_literal(&mut self) -> Result<Literal, String> {
        let at = self.at();
        Ok(match self.next() {
            Some(Tok::Str(s)) => Literal::Str(s),
            Some(Tok::Int(n)) => Literal::Int(n),
            Some(Tok::Float(f)) => Literal::Float(f),
            Some(Tok::Binary(s)) => Literal::Binary(s),
            Some(Tok::Hex(s)) => Literal::Hex(s),
            Some(Tok::Timestamp(s)) => Literal::Timestamp(s),
            Some(Tok::Ident(k)) if k == "true" => Literal::Bool(true),
            Some(Tok::Ident(k)) if k == "false" => Literal::Bool(false),
            Some(t) => return Err(format!("expected a literal at {at}, found {t:?}")),
            None => return Err("expected a literal at end of pattern".into()),
        })
    }

    fn object_path(&mut self) -> Result<ObjectPath, String> {
        let at = self.at();
        let object_type = match self.next() {
            Some(Tok::Ident(t)) => t,
            Some(t) => return Err(format!("expected an object type at {at}, found {t:?}")),
            None => return Err("expected an object path at end of pattern".into()),
        };
        if !object_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            || object_type.len() < 3
        {
            return Err(format!("invalid object type `{object_type}` at {at}"));
        }
        self.expect(Tok::Colon, "`:` after the object type")?;
        let at = self.at();
        let mut steps = vec![match self.next() {
            Some(Tok::Ident(p)) if !p.contains('-') => PathStep::Prop(p),
            Some(Tok::Str(p)) => PathStep::Prop(p),
            _ => return Err(format!("expected a property name at {at}")),
        }];
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.pos += 1;
                    let at = self.at();
                    steps.push(match self.next() {
                        Some(Tok::Ident(p)) => PathStep::Prop(p),
                        Some(Tok::Str(p)) => PathStep::Prop(p),
                        _ => return Err(format!("expected a property name after `.` at {at}")),
                    });
                }
                Some(Tok::LBrack) => {
                    // `[` after a path is an index only when followed by a number or `*` and `]`.
                    match (
                        self.toks.get(self.pos + 1).map(|t| &t.1),
                        self.toks.get(self.pos + 2).map(|t| &t.1),
                    ) {
                        (Some(Tok::Int(n)), Some(Tok::RBrack)) => {
                            steps.push(PathStep::Index(*n));
                            self.pos += 3;
                        }
                        (Some(Tok::Star), Some(Tok::RBrack)) => {
                            steps.push(PathStep::AnyIndex);
                            self.pos += 3;
                        }
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        Ok(ObjectPath { object_type, steps })
    }
}

impl Pattern {
    /// Parses a STIX pattern, with a message that names the position of the first error.
    pub fn parse(s: &str) -> Result<Pattern, ModelError> {
        if s.len() > MAX_PATTERN_LEN {
            return Err(ModelError::BadPattern("pattern longer than 1 MiB".into()));
        }
        let toks = lex(s).map_err(ModelError::BadPattern)?;
        if toks.is_empty() {
            return Err(ModelError::BadPattern("empty pattern".into()));
        }
        let mut p = Parser {
            toks,
            pos: 0,
            depth: 0,
            len: s.len(),
        };
        let root = p
            .observation_expressions()
            .map_err(ModelError::BadPattern)?;
        if p.pos < p.toks.len() {
            return Err(ModelError::BadPattern(format!(
                "unexpected trailing input at {}",
                p.at()
            )));
        }
        Ok(Pattern { root })
    }

    /// Every property test in the pattern, in order.
    pub fn tests(&self) -> Vec<&PropTest> {
        fn comp<'a>(c: &'a CompExpr, out: &mut Vec<&'a PropTest>) {
            match c {
                CompExpr::Test(t) => out.push(t),
                CompExpr::And(v) | CompExpr::Or(v) => v.iter().for_each(|x| comp(x, out)),
            }
        }
        fn obs<'a>(o: &'a ObsExpr, out: &mut Vec<&'a PropTest>) {
            match o {
                ObsExpr::Simple(c) => comp(c, out),
                ObsExpr::And(a, b) | ObsExpr::Or(a, b) | ObsExpr::FollowedBy(a, b) => {
                    obs(a, out);
                    obs(b, out);
                }
                ObsExpr::Qualified(a, _) => obs(a, out),
            }
        }
        let mut out = Vec::new();
        obs(&self.root, &mut out);
        out
    }

    /// When the whole pattern is one observation `[path = 'v']` or `[path = 'a' OR path = 'b' ...]` (or an IN set),
    /// the (path, value) pairs; these are the indicators that hunting can match by simple lookup.
    pub fn simple_equalities(&self) -> Option<Vec<(String, String)>> {
        let ObsExpr::Simple(c) = &self.root else {
            return None;
        };
        let mut out = Vec::new();
        fn walk(c: &CompExpr, out: &mut Vec<(String, String)>) -> bool {
            match c {
                CompExpr::Or(v) => v.iter().all(|x| walk(x, out)),
                CompExpr::And(_) => false,
                CompExpr::Test(t) if !t.negated => match (&t.op, &t.value) {
                    (Op::Eq, Literal::Str(s)) => {
                        out.push((t.path.to_string(), s.clone()));
                        true
                    }
                    (Op::Eq, Literal::Int(n)) => {
                        out.push((t.path.to_string(), n.to_string()));
                        true
                    }
                    (Op::In, Literal::Set(items)) => items.iter().all(|i| match i {
                        Literal::Str(s) => {
                            out.push((t.path.to_string(), s.clone()));
                            true
                        }
                        _ => false,
                    }),
                    (Op::IsSubset, Literal::Str(s)) if t.path.object_type.starts_with("ipv") => {
                        out.push((t.path.to_string(), s.clone()));
                        true
                    }
                    _ => false,
                },
                CompExpr::Test(_) => false,
            }
        }
        if walk(c, &mut out) && !out.is_empty() {
            Some(out)
        } else {
            None
        }
    }

    /// The URL paths of a URL-path indicator's pattern (`[url:value MATCHES '<the path's expression>']`, see
    /// [`crate::observable::url_path_regex`]), or of an `OR` of them; None for any other pattern.
    pub fn url_paths(&self) -> Option<Vec<String>> {
        let ObsExpr::Simple(c) = &self.root else {
            return None;
        };
        fn walk(c: &CompExpr, out: &mut Vec<String>) -> bool {
            match c {
                CompExpr::Or(v) => v.iter().all(|x| walk(x, out)),
                CompExpr::Test(t)
                    if !t.negated
                        && t.op == Op::Matches
                        && t.path.object_type == "url"
                        && t.path.steps == [PathStep::Prop("value".into())] =>
                {
                    let Literal::Str(re) = &t.value else {
                        return false;
                    };
                    crate::observable::url_path_from_regex(re)
                        .map(|p| out.push(p))
                        .is_some()
                }
                _ => false,
            }
        }
        let mut out = Vec::new();
        (walk(c, &mut out) && !out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Pattern {
        Pattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }
    fn bad(s: &str) {
        assert!(Pattern::parse(s).is_err(), "accepted {s}");
    }

    #[test]
    fn valid_patterns() {
        ok("[domain-name:value = 'evil.com']");
        ok("[file:hashes.'SHA-256' = 'aa']");
        ok("[file:hashes.MD5 = 'aa' OR file:hashes.'SHA-1' = 'bb']");
        ok("[ipv4-addr:value ISSUBSET '10.0.0.0/8']");
        ok("[network-traffic:dst_ref.value = '1.2.3.4' AND network-traffic:dst_port = 443]");
        ok("[email-message:from_ref.value MATCHES '.+@evil\\\\.com$']");
        ok("[url:value LIKE 'http://%.evil.com/%']");
        ok("[ipv4-addr:value IN ('1.2.3.4', '5.6.7.8')]");
        ok("[file:name = 'a'] AND [file:name = 'b'] WITHIN 300 SECONDS");
        ok("([file:name = 'a'] FOLLOWEDBY [file:name = 'b']) REPEATS 5 TIMES");
        ok("[x509-certificate:issuer = 'CN=x'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'");
        ok("[windows-registry-key:values[*].name = 'x']");
        ok("[file:size > 1000 AND NOT file:name = 'a']"
            .replace("AND NOT file:name", "AND file:name NOT")
            .as_str());
        ok("[artifact:payload_bin = b'aGVsbG8=']");
        ok("[process:pid = -1]");
    }

    #[test]
    fn invalid_patterns() {
        bad("[domain-name:value = ");
        bad("domain-name:value = 'x'");
        bad("[domain-name:value = 'x'] AND");
        bad("[domain-name:value == ]");
        bad("[Domain:value = 'x']");
        bad("[domain-name:value = 'x");
        bad("[file:name = 'a'] WITHIN -1 SECONDS");
        bad("");
        bad("[a:b = 'x'] garbage");
        bad(&"(".repeat(10_000));
    }

    #[test]
    fn equalities() {
        let p = ok("[domain-name:value = 'a.com' OR domain-name:value = 'b.com']");
        assert_eq!(
            p.simple_equalities(),
            Some(vec![
                ("domain-name:value".into(), "a.com".into()),
                ("domain-name:value".into(), "b.com".into())
            ])
        );
        let p = ok("[file:hashes.'SHA-256' = 'ab']");
        assert_eq!(
            p.simple_equalities(),
            Some(vec![("file:hashes.SHA-256".into(), "ab".into())])
        );
        assert_eq!(
            ok("[a-b:c = 'x' AND a-b:d = 'y']").simple_equalities(),
            None
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[\\[\\]()'a-z:=. ,ANDORT0-9*-]{0,80}") {
            let _ = Pattern::parse(&s);
        }
    }
}
