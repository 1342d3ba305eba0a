//! The programme's rules as data and one function each: who may enrol (jurisdiction policy) and what a caller may
//! read ([`scope`], the single visibility decision every path out goes through).

use vigil_model::Tlp;
use vigil_store::ReadScope;

/// The eligibility policy as shipped (reference.md, "Eligible jurisdictions"): category and ISO 3166-1 codes.
pub const DEFAULT_POLICY: &[(&str, &[&str])] = &[
    (
        "EU member state",
        &[
            "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL",
            "PT", "RO", "SK", "SI", "ES", "SE",
        ],
    ),
    ("EU candidate country", &["AL", "BA", "GE", "MD", "ME", "MK", "RS", "TR", "UA"]),
    ("EFTA state", &["IS", "LI", "NO", "CH"]),
    ("other named jurisdiction", &["GB", "MC", "VA"]),
];

/// Member kinds the programme knows.
pub const KINDS: &[&str] = &["csirt", "ministry", "agency", "regulator"];

/// Why an enrolment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("`{0}` is not an ISO 3166-1 alpha-2 country code (two letters, e.g. DE)")]
    BadCode(String),
    #[error(
        "{0} is not eligible under the programme's jurisdiction policy (EU-27, EU candidate countries, EFTA, GB, MC, VA{1}); \
         an administrator can extend the policy with `vigil policy add {0}` or `[eligibility] extra = [\"{0}\"]` in vigil.toml"
    )]
    NotEligible(String, String),
    #[error("unknown member kind `{0}` (csirt, ministry, agency, regulator)")]
    BadKind(String),
}

/// The jurisdiction policy: the shipped list plus the administrator's additions (from vigil.toml and the store).
#[derive(Debug, Clone, Default)]
pub struct Eligibility {
    pub extra: Vec<String>,
}

impl Eligibility {
    pub fn new(extra: impl IntoIterator<Item = String>) -> Self {
        let mut extra: Vec<String> = extra.into_iter().map(|c| c.trim().to_ascii_uppercase()).collect();
        extra.sort();
        extra.dedup();
        Eligibility { extra }
    }

    /// The category a country falls under, or None when it is not eligible.
    pub fn category(&self, cc: &str) -> Option<&'static str> {
        for (cat, codes) in DEFAULT_POLICY {
            if codes.contains(&cc) {
                return Some(cat);
            }
        }
        self.extra.iter().any(|c| c == cc).then_some("added by the administrator")
    }

    /// Normalises and checks a country code; returns the upper-case code.
    pub fn check(&self, country: &str) -> Result<String, PolicyError> {
        let cc = country.trim().to_ascii_uppercase();
        if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(PolicyError::BadCode(country.to_string()));
        }
        if self.category(&cc).is_none() {
            let added = if self.extra.is_empty() { String::new() } else { format!(", plus {}", self.extra.join(" ")) };
            return Err(PolicyError::NotEligible(cc, added));
        }
        Ok(cc)
    }
}

/// Checks a member kind.
pub fn check_kind(kind: &str) -> Result<String, PolicyError> {
    let k = kind.trim().to_ascii_lowercase();
    if KINDS.contains(&k.as_str()) {
        Ok(k)
    } else {
        Err(PolicyError::BadKind(kind.to_string()))
    }
}

/// Token roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Analyst,
    Member,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "analyst" => Some(Role::Analyst),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Member => "member",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: i64,
    pub member_id: i64,
    pub identity_id: String,
    /// The caller's member is the operator's own organisation.
    pub operator: bool,
    pub role: Role,
}

impl Principal {
    /// Operator staff who may administer (members, tokens, ingest, promotion).
    pub fn is_operator_staff(&self) -> bool {
        self.operator && matches!(self.role, Role::Admin | Role::Analyst)
    }
}

/// THE visibility decision. Every path out (REST search, object fetch, exports; TAXII objects, object, versions,
/// manifest) asks the store through the scope this returns, and the store applies [`ReadScope::allows`].
///
/// - anonymous (only when the operator enables it): TLP:CLEAR;
/// - any member: CLEAR and GREEN, plus AMBER, AMBER+STRICT and RED objects explicitly shared with it;
/// - the operator's organisation: everything (it holds the knowledge base).
///
/// Unmarked objects count as `default_tlp` (AMBER out of the box).
pub fn scope(caller: Option<&Principal>, default_tlp: Tlp) -> ReadScope {
    match caller {
        None => ReadScope { all: false, open_max: Some(Tlp::Clear), member: None, default_tlp },
        Some(p) if p.operator => ReadScope { all: true, open_max: None, member: Some(p.member_id), default_tlp },
        Some(p) => ReadScope { all: false, open_max: Some(Tlp::Green), member: Some(p.member_id), default_tlp },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eligibility() {
        let e = Eligibility::default();
        assert!(matches!(e.check("US"), Err(PolicyError::NotEligible(..))));
        assert!(e.check("US").unwrap_err().to_string().contains("policy"));
        assert_eq!(e.check("va"), Ok("VA".into()));
        assert!(e.check("XK").is_err());
        assert!(e.check("DEU").is_err());
        let e = Eligibility::new(["xk".to_string()]);
        assert_eq!(e.check("XK"), Ok("XK".into()));
        let n: usize = DEFAULT_POLICY.iter().map(|(_, c)| c.len()).sum();
        assert_eq!(n, 27 + 9 + 4 + 3);
    }

    #[test]
    fn scopes() {
        let m = Principal { token_id: 1, member_id: 5, identity_id: "identity--x".into(), operator: false, role: Role::Admin };
        let s = scope(Some(&m), Tlp::Amber);
        assert!(!s.all && s.open_max == Some(Tlp::Green) && s.member == Some(5));
        assert!(scope(Some(&Principal { operator: true, ..m }), Tlp::Amber).all);
        assert_eq!(scope(None, Tlp::Amber).open_max, Some(Tlp::Clear));
    }
}
