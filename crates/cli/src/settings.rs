//! Operator settings from `vigil.toml` (flags override them).

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use vigil_model::Tlp;

/// What the operator configures.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Marking assumed for objects that carry none (TLP:AMBER out of the box).
    pub default_tlp: Tlp,
    /// The operator's organisation name (the first member).
    pub operator: String,
    /// Server settings (read by `vigil serve`).
    pub server: toml::Table,
    /// Additions to the jurisdiction eligibility policy.
    pub eligibility: EligibilitySettings,
    /// `[[feeds]]`: scheduled feeds (see `vigil feeds`).
    pub feeds: Vec<crate::cmd::feeds::FeedConfig>,
    /// `[smtp]`: the relay notices are e-mailed through (see `vigil channels`).
    pub smtp: Option<vigil_notify::SmtpConfig>,
    /// `[delivery]`: retries, back-off, digest hour.
    pub delivery: vigil_notify::DeliveryConfig,
    /// `[http]`: outbound HTTPS (feeds, `vigil ingest` of CSAF URLs).
    pub http: HttpSettings,
}

/// `[http]`: `ca_file = "/etc/vigil/peers-ca.pem"`, CA certificates trusted besides the system's trust store and
/// the built-in Mozilla roots (a peer CSIRT's or the agency's own PKI).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    pub ca_file: Option<std::path::PathBuf>,
}

impl HttpSettings {
    /// The CAs of `ca_file`, read now (a renewed bundle is read at the next pull).
    pub fn roots(&self) -> anyhow::Result<vigil_feeds::http::TrustRoots> {
        match &self.ca_file {
            None => Ok(vigil_feeds::http::TrustRoots::default()),
            Some(p) => vigil_feeds::http::TrustRoots::from_pem_file(p)
                .map_err(|e| anyhow::anyhow!("vigil.toml [http] ca_file: {e}")),
        }
    }
}

/// `[eligibility]`: `extra = ["XK"]` admits jurisdictions beyond the shipped policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EligibilitySettings {
    pub extra: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_tlp: Tlp::Amber,
            operator: "Vigil operator".into(),
            server: toml::Table::new(),
            eligibility: EligibilitySettings::default(),
            feeds: Vec::new(),
            smtp: None,
            delivery: vigil_notify::DeliveryConfig::default(),
            http: HttpSettings::default(),
        }
    }
}

impl Settings {
    /// Loads `path` if given, else `DATA/vigil.toml` if it exists, else the defaults.
    pub fn load(explicit: Option<&Path>, data: &Path) -> anyhow::Result<Settings> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = data.join("vigil.toml");
                if !p.exists() {
                    return Ok(Settings::default());
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../../vigil.example.toml");
        let s: Settings = toml::from_str(text).expect("vigil.example.toml parses");
        assert_eq!(s.default_tlp, Tlp::Amber);
    }
}
