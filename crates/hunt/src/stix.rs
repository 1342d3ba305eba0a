//! Evaluation of STIX 2.1 patterns against one observation (a small graph of cyber-observable objects), with the
//! semantics of the OASIS `stix2-matcher` for comparison expressions.
//!
//! Semantics (as stix2-matcher 3.0): a comparison selects the objects of its type, follows the property path
//! (dereferencing `*_ref` / `*_refs`, `[*]` and `[n]` steps), and holds for a root object when ANY selected value
//! passes the test (with `NOT` applied per value). `AND` needs the SAME root object to pass both sides (so
//! `[a:x = 1 AND b:y = 2]` with different types never matches); `OR` takes either. Values that lack the path
//! never pass, even for `!=` or `NOT`.
//!
//! Observation operators are approximated per record (a log line is one observation): `[A] AND [B]` and
//! `[A] FOLLOWEDBY [B]` hold when both hold on the same record, `[A] OR [B]` when either does, and the
//! `WITHIN`, `REPEATS` and `START/STOP` qualifiers are ignored. stix2-matcher instead needs distinct observations
//! for `AND`/`FOLLOWEDBY` and checks the qualifiers against `first_observed`/`number_observed`.

use std::net::{Ipv4Addr, Ipv6Addr};

use regex::Regex;
use vigil_model::pattern::{CompExpr, Literal, ObsExpr, Op, PathStep, Pattern, PropTest};

/// A property value of an observed object.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A list.
    List(Vec<Value>),
    /// A dictionary, in insertion order.
    Map(Vec<(String, Value)>),
    /// A reference to another object of the same observation, by index.
    Ref(usize),
}

/// One cyber-observable object: its STIX type and its properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// STIX type, such as `domain-name`.
    pub kind: String,
    /// Properties (references resolved to [`Value::Ref`]).
    pub props: Vec<(String, Value)>,
}

/// One observation: the objects seen together (one log record, or one STIX `observed-data`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// The objects; [`Value::Ref`] indexes into this list.
    pub objects: Vec<Object>,
}

impl Observation {
    /// Builds an observation from STIX SCO JSON objects: `*_ref` / `*_refs` string ids that name another object
    /// of the list become [`Value::Ref`]; dangling references are dropped (as stix2-matcher does).
    pub fn from_stix(objects: &[serde_json::Value]) -> Observation {
        let ids: Vec<Option<&str>> = objects
            .iter()
            .map(|o| o.get("id").and_then(|v| v.as_str()))
            .collect();
        let find = |id: &str| ids.iter().position(|x| *x == Some(id));
        fn conv(
            v: &serde_json::Value,
            is_ref: bool,
            find: &dyn Fn(&str) -> Option<usize>,
        ) -> Option<Value> {
            Some(match v {
                serde_json::Value::String(s) if is_ref => Value::Ref(find(s)?),
                serde_json::Value::String(s) => Value::Str(s.clone()),
                serde_json::Value::Bool(b) => Value::Bool(*b),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => Value::Int(i),
                    None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
                },
                serde_json::Value::Array(a) => {
                    Value::List(a.iter().filter_map(|x| conv(x, is_ref, find)).collect())
                }
                serde_json::Value::Object(m) => Value::Map(
                    m.iter()
                        .filter_map(|(k, x)| {
                            Some((
                                k.clone(),
                                conv(x, k.ends_with("_ref") || k.ends_with("_refs"), find)?,
                            ))
                        })
                        .collect(),
                ),
                serde_json::Value::Null => return None,
            })
        }
        let objects = objects
            .iter()
            .map(|o| Object {
                kind: o
                    .get("type")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string(),
                props: o
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter(|(k, _)| k.as_str() != "type" && k.as_str() != "id")
                            .filter_map(|(k, v)| {
                                Some((
                                    k.clone(),
                                    conv(v, k.ends_with("_ref") || k.ends_with("_refs"), &find)?,
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        Observation { objects }
    }
}

/// Why a pattern cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The pattern does not parse.
    #[error("invalid STIX pattern: {0}")]
    Parse(String),
    /// A `MATCHES` regular expression does not compile.
    #[error("invalid regular expression `{re}`: {reason}")]
    Regex {
        /// The expression.
        re: String,
        /// The compiler's message.
        reason: String,
    },
    /// An `ISSUBSET`/`ISSUPERSET` operand is not an IP address or CIDR block.
    #[error("invalid CIDR block `{0}`")]
    Cidr(String),
}

#[derive(Debug, Clone)]
enum Test {
    Cmp(Op, Literal),
    Set(Vec<Literal>),
    Re(Regex),
    Subset(IpNet),
    Superset(IpNet),
    Exists,
}

#[derive(Debug, Clone)]
struct CTest {
    object_type: String,
    steps: Vec<PathStep>,
    negated: bool,
    test: Test,
}

#[derive(Debug, Clone)]
enum CComp {
    And(Vec<CComp>),
    Or(Vec<CComp>),
    Test(CTest),
}

#[derive(Debug, Clone)]
enum CObs {
    Simple(CComp),
    All(Vec<CObs>),
    Any(Vec<CObs>),
}

/// A pattern compiled for repeated evaluation (regular expressions and CIDR blocks prepared once).
#[derive(Debug, Clone)]
pub struct CompiledPattern {
    root: CObs,
    types: Vec<String>,
}

impl CompiledPattern {
    /// Parses and compiles a pattern.
    pub fn compile(text: &str) -> Result<CompiledPattern, EvalError> {
        let p = Pattern::parse(text).map_err(|e| EvalError::Parse(e.to_string()))?;
        CompiledPattern::from_pattern(&p)
    }

    /// Compiles an already parsed pattern.
    pub fn from_pattern(p: &Pattern) -> Result<CompiledPattern, EvalError> {
        let root = obs(&p.root)?;
        let mut types: Vec<String> = p
            .tests()
            .iter()
            .map(|t| t.path.object_type.clone())
            .collect();
        types.sort();
        types.dedup();
        Ok(CompiledPattern { root, types })
    }

    /// The object types the pattern tests (the hunt skips records that produce none of them).
    pub fn object_types(&self) -> &[String] {
        &self.types
    }

    /// True when the observation satisfies the pattern (observation operators approximated per record, see
    /// the module documentation).
    pub fn matches(&self, o: &Observation) -> bool {
        eval_obs(&self.root, o)
    }
}

fn obs(e: &ObsExpr) -> Result<CObs, EvalError> {
    Ok(match e {
        ObsExpr::Simple(c) => CObs::Simple(comp(c)?),
        ObsExpr::And(a, b) | ObsExpr::FollowedBy(a, b) => CObs::All(vec![obs(a)?, obs(b)?]),
        ObsExpr::Or(a, b) => CObs::Any(vec![obs(a)?, obs(b)?]),
        ObsExpr::Qualified(a, _) => obs(a)?,
    })
}

fn comp(c: &CompExpr) -> Result<CComp, EvalError> {
    Ok(match c {
        CompExpr::And(v) => CComp::And(v.iter().map(comp).collect::<Result<_, _>>()?),
        CompExpr::Or(v) => CComp::Or(v.iter().map(comp).collect::<Result<_, _>>()?),
        CompExpr::Test(t) => CComp::Test(test(t)?),
    })
}

fn test(t: &PropTest) -> Result<CTest, EvalError> {
    let s = |l: &Literal| match l {
        Literal::Str(s) => s.clone(),
        _ => String::new(),
    };
    let test = match t.op {
        Op::Exists => Test::Exists,
        Op::In => match &t.value {
            Literal::Set(items) => Test::Set(items.clone()),
            other => Test::Set(vec![other.clone()]),
        },
        Op::Like => {
            let re = like_to_regex(&s(&t.value));
            Test::Re(Regex::new(&re).map_err(|e| EvalError::Regex {
                re,
                reason: e.to_string(),
            })?)
        }
        Op::Matches => {
            let re = s(&t.value);
            Test::Re(Regex::new(&re).map_err(|e| EvalError::Regex {
                re: re.clone(),
                reason: e.to_string(),
            })?)
        }
        Op::IsSubset => {
            Test::Subset(IpNet::parse(&s(&t.value)).ok_or_else(|| EvalError::Cidr(s(&t.value)))?)
        }
        Op::IsSuperset => {
            Test::Superset(IpNet::parse(&s(&t.value)).ok_or_else(|| EvalError::Cidr(s(&t.value)))?)
        }
        op => Test::Cmp(op, t.value.clone()),
    };
    Ok(CTest {
        object_type: t.path.object_type.clone(),
        steps: t.path.steps.clone(),
        negated: t.negated,
        test,
    })
}

/// LIKE to an anchored regular expression: `%` any run, `_` one character, everything else literal.
fn like_to_regex(like: &str) -> String {
    let mut out = String::from("^(?s:");
    for c in like.chars() {
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            c => {
                let mut b = [0u8; 4];
                out.push_str(&regex::escape(c.encode_utf8(&mut b)));
            }
        }
    }
    out.push_str(")$");
    out
}

fn eval_obs(e: &CObs, o: &Observation) -> bool {
    match e {
        CObs::Simple(c) => eval_comp(c, o) != 0,
        CObs::All(v) => v.iter().all(|x| eval_obs(x, o)),
        CObs::Any(v) => v.iter().any(|x| eval_obs(x, o)),
    }
}

/// Root objects (bit set over the first 128 objects) that satisfy the comparison expression.
fn eval_comp(c: &CComp, o: &Observation) -> u128 {
    match c {
        CComp::And(v) => v.iter().fold(
            u128::MAX,
            |acc, x| if acc == 0 { 0 } else { acc & eval_comp(x, o) },
        ),
        CComp::Or(v) => v.iter().fold(0, |acc, x| acc | eval_comp(x, o)),
        CComp::Test(t) => {
            let mut roots = 0u128;
            for (i, obj) in o.objects.iter().enumerate().take(128) {
                if obj.kind != t.object_type {
                    continue;
                }
                let mut vals: Vec<&Value> = Vec::new();
                select(o, &obj.props, &t.steps, &mut vals);
                if vals.iter().any(|v| pass(t, v)) {
                    roots |= 1 << i;
                }
            }
            roots
        }
    }
}

fn prop<'a>(props: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    props.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Follows the path steps from an object's properties, collecting the selected values.
fn select<'a>(
    o: &'a Observation,
    props: &'a [(String, Value)],
    steps: &[PathStep],
    out: &mut Vec<&'a Value>,
) {
    let Some((PathStep::Prop(first), rest)) = steps.split_first() else {
        return;
    };
    let Some(v) = prop(props, first) else { return };
    let mut cur: Vec<&'a Value> = vec![v];
    let mut prev_name: &str = first;
    for step in rest {
        let mut next = Vec::new();
        // A step after a `_ref`/`_refs` property first dereferences it (a list of refs stays a list).
        let is_ref = prev_name.ends_with("_ref") || prev_name.ends_with("_refs");
        for v in cur {
            let v = if is_ref { deref(o, v) } else { Derefd::One(v) };
            match (step, v) {
                (PathStep::Prop(p), Derefd::Obj(props)) => next.extend(prop(props, p)),
                (PathStep::Prop(p), Derefd::One(Value::Map(m))) => next.extend(prop(m, p)),
                (PathStep::Index(n), Derefd::One(Value::List(l))) => {
                    if let Some(x) = usize::try_from(*n).ok().and_then(|n| l.get(n)) {
                        next.push(x);
                    }
                }
                (PathStep::Index(n), Derefd::Objs(objs)) => {
                    if let Some(x) = usize::try_from(*n).ok().and_then(|n| objs.get(n)) {
                        next.push(*x);
                    }
                }
                (PathStep::AnyIndex, Derefd::One(Value::List(l))) => next.extend(l.iter()),
                (PathStep::AnyIndex, Derefd::Objs(objs)) => next.extend(objs),
                _ => {}
            }
        }
        prev_name = match step {
            PathStep::Prop(p) => p,
            _ => prev_name,
        };
        cur = next;
        if cur.is_empty() {
            return;
        }
    }
    out.extend(cur);
}

enum Derefd<'a> {
    One(&'a Value),
    Obj(&'a [(String, Value)]),
    Objs(Vec<&'a Value>),
}

fn deref<'a>(o: &'a Observation, v: &'a Value) -> Derefd<'a> {
    match v {
        Value::Ref(i) => match o.objects.get(*i) {
            Some(obj) => Derefd::Obj(&obj.props),
            None => Derefd::One(v),
        },
        // A `_refs` list dereferences element-wise; the elements stay reference values until the next step
        // takes a property, so represent them as the list itself and let `[*]`/`[n]` pick.
        Value::List(_) => Derefd::Objs(match v {
            Value::List(l) => l.iter().collect(),
            _ => Vec::new(),
        }),
        _ => Derefd::One(v),
    }
}

fn pass(t: &CTest, v: &Value) -> bool {
    let r = match &t.test {
        Test::Exists => true,
        Test::Cmp(op, lit) => cmp(*op, v, lit),
        Test::Set(items) => items.iter().any(|l| eq(v, l) == Some(true)),
        Test::Re(re) => match v {
            Value::Str(s) => re.is_match(s),
            _ => false,
        },
        Test::Subset(net) => match v {
            Value::Str(s) => IpNet::parse(s).is_some_and(|x| net.contains(&x)),
            _ => false,
        },
        Test::Superset(net) => match v {
            Value::Str(s) => IpNet::parse(s).is_some_and(|x| x.contains(net)),
            _ => false,
        },
    };
    r != t.negated
}

fn eq(v: &Value, l: &Literal) -> Option<bool> {
    Some(match (v, l) {
        (Value::Str(a), Literal::Str(b)) => a == b,
        (Value::Int(a), Literal::Int(b)) => a == b,
        (Value::Int(a), Literal::Float(b)) => (*a as f64) == *b,
        (Value::Float(a), Literal::Int(b)) => *a == (*b as f64),
        (Value::Float(a), Literal::Float(b)) => a == b,
        (Value::Bool(a), Literal::Bool(b)) => a == b,
        (Value::Str(a), Literal::Timestamp(b)) => {
            let (Ok(x), Ok(y)) = (
                chrono::DateTime::parse_from_rfc3339(a),
                chrono::DateTime::parse_from_rfc3339(b),
            ) else {
                return Some(false);
            };
            x == y
        }
        (Value::Str(a), Literal::Hex(h)) => {
            hex_decode(h).is_some_and(|b| latin1(a).is_some_and(|x| x == b))
        }
        _ => return None,
    })
}

fn latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

fn hex_decode(h: &str) -> Option<Vec<u8>> {
    (0..h.len())
        .step_by(2)
        .map(|i| h.get(i..i + 2).and_then(|x| u8::from_str_radix(x, 16).ok()))
        .collect()
}

fn cmp(op: Op, v: &Value, lit: &Literal) -> bool {
    use std::cmp::Ordering;
    if matches!(op, Op::Eq | Op::Neq) {
        let e = eq(v, lit).unwrap_or(false);
        return if op == Op::Eq { e } else { !e };
    }
    let ord: Option<Ordering> = match (v, lit) {
        (Value::Str(a), Literal::Str(b)) => Some(a.as_str().cmp(b.as_str())),
        (Value::Int(a), Literal::Int(b)) => Some(a.cmp(b)),
        (Value::Int(a), Literal::Float(b)) => (*a as f64).partial_cmp(b),
        (Value::Float(a), Literal::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Value::Float(a), Literal::Float(b)) => a.partial_cmp(b),
        (Value::Str(a), Literal::Timestamp(b)) => {
            match (
                chrono::DateTime::parse_from_rfc3339(a),
                chrono::DateTime::parse_from_rfc3339(b),
            ) {
                (Ok(x), Ok(y)) => Some(x.cmp(&y)),
                _ => None,
            }
        }
        _ => None,
    };
    let Some(ord) = ord else { return false };
    match op {
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        _ => false,
    }
}

/// An IPv4 or IPv6 address or CIDR block, as `ISSUBSET`/`ISSUPERSET` compare them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpNet {
    V4(u32, u8),
    V6(u128, u8),
}

impl IpNet {
    pub(crate) fn parse(s: &str) -> Option<IpNet> {
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (s, None),
        };
        if let Ok(v4) = a.parse::<Ipv4Addr>() {
            let l = len.unwrap_or(32);
            return (l <= 32).then(|| IpNet::V4(u32::from(v4), l));
        }
        let v6: Ipv6Addr = a.parse().ok()?;
        let l = len.unwrap_or(128);
        (l <= 128).then(|| IpNet::V6(u128::from(v6), l))
    }

    fn contains(&self, inner: &IpNet) -> bool {
        match (*self, *inner) {
            (IpNet::V4(a, la), IpNet::V4(b, lb)) => la <= lb && mask4(a, la) == mask4(b, la),
            (IpNet::V6(a, la), IpNet::V6(b, lb)) => la <= lb && mask6(a, la) == mask6(b, la),
            _ => false,
        }
    }
}

pub(crate) fn mask4(a: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        a & (u32::MAX << (32 - u32::from(len.min(32))))
    }
}

pub(crate) fn mask6(a: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        a & (u128::MAX << (128 - u32::from(len.min(128))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obs() -> Observation {
        Observation::from_stix(&[
            json!({"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "198.51.100.7"}),
            json!({"type": "domain-name", "id": "domain-name--2", "value": "evil.example.com"}),
            json!({"type": "network-traffic", "id": "network-traffic--3", "dst_ref": "ipv4-addr--1", "dst_port": 443, "protocols": ["tcp"]}),
            json!({"type": "file", "id": "file--4", "name": "a.exe", "hashes": {"SHA-256": "ef53"}}),
        ])
    }

    fn m(p: &str) -> bool {
        CompiledPattern::compile(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .matches(&obs())
    }

    #[test]
    fn comparison_semantics() {
        assert!(m("[ipv4-addr:value = '198.51.100.7']"));
        assert!(m("[ipv4-addr:value ISSUBSET '198.51.100.0/24']"));
        assert!(!m("[ipv4-addr:value ISSUBSET '198.51.101.0/24']"));
        assert!(m(
            "[network-traffic:dst_ref.value = '198.51.100.7' AND network-traffic:dst_port = 443]"
        ));
        assert!(!m(
            "[network-traffic:dst_ref.value = '198.51.100.7' AND network-traffic:dst_port = 80]"
        ));
        assert!(m("[domain-name:value MATCHES '^evil\\\\.']"));
        assert!(m("[domain-name:value LIKE '%.example.com']"));
        assert!(!m("[domain-name:value LIKE 'example.com']"));
        assert!(m("[file:hashes.'SHA-256' = 'ef53']"));
        assert!(m("[network-traffic:protocols[*] = 'tcp']"));
        assert!(m("[network-traffic:protocols[0] = 'tcp']"));
        assert!(!m("[network-traffic:protocols[1] = 'tcp']"));
        assert!(m("[ipv4-addr:value IN ('1.1.1.1', '198.51.100.7')]"));
        assert!(!m(
            "[ipv4-addr:value = '198.51.100.7' AND domain-name:value = 'evil.example.com']"
        ));
        assert!(m(
            "[ipv4-addr:value = '198.51.100.7' OR domain-name:value = 'nope']"
        ));
        assert!(!m("[file:size != 3]"), "missing property never passes");
        assert!(m("[file:name != 'b.exe']"));
        assert!(m("[file:name NOT = 'b.exe']"));
        assert!(m("[network-traffic:dst_port > 400]"));
        assert!(!m("[network-traffic:dst_port < 400]"));
    }
}
