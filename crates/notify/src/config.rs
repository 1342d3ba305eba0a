//! Settings: `[smtp]` and `[delivery]` in vigil.toml. The SMTP password never appears in `Debug` output, errors
//! or serialised forms.

use std::path::PathBuf;

use serde::Deserialize;

use crate::NotifyError;

/// `[smtp]`: the relay notices are sent through.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// 587 (submission) unless set.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Require STARTTLS (the default). Without it mail goes in clear text, which is only accepted for a relay on
    /// a loopback address and never with credentials.
    #[serde(default = "yes")]
    pub starttls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A file holding the password (first line), so that vigil.toml itself holds no secret.
    pub password_file: Option<PathBuf>,
    /// The sender address.
    pub from: String,
    /// A PEM file of extra CA certificates to trust for the relay (a private CA); the public web roots are
    /// trusted in any case.
    pub ca_file: Option<PathBuf>,
    /// Read by [`SmtpConfig::resolve`]; not a setting.
    #[serde(skip)]
    pub ca_pem: Option<Vec<u8>>,
    /// Seconds before a connection or command gives up.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_port() -> u16 {
    587
}
fn yes() -> bool {
    true
}
fn default_timeout() -> u64 {
    20
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("starttls", &self.starttls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_file", &self.password_file)
            .field("from", &self.from)
            .field("ca_file", &self.ca_file)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

impl SmtpConfig {
    /// Reads `password_file` and `ca_file`, and refuses settings that would leak: credentials without STARTTLS,
    /// or clear text to anything but a loopback relay. Error messages name files, never their content.
    pub fn resolve(mut self) -> Result<SmtpConfig, NotifyError> {
        if let Some(p) = &self.password_file {
            if self.password.is_some() {
                return Err(NotifyError::Config(
                    "[smtp] has both password and password_file; keep one".into(),
                ));
            }
            let text = std::fs::read_to_string(p).map_err(|e| {
                NotifyError::Config(format!(
                    "cannot read [smtp] password_file {}: {}",
                    p.display(),
                    e.kind()
                ))
            })?;
            self.password = Some(text.lines().next().unwrap_or("").to_string());
        }
        if let Some(p) = &self.ca_file {
            let pem = std::fs::read(p).map_err(|e| {
                NotifyError::Config(format!(
                    "cannot read [smtp] ca_file {}: {}",
                    p.display(),
                    e.kind()
                ))
            })?;
            self.ca_pem = Some(pem);
        }
        if self.username.is_some() != self.password.is_some() {
            return Err(NotifyError::Config(
                "[smtp] username and password (or password_file) go together".into(),
            ));
        }
        if !self.starttls {
            if self.username.is_some() {
                return Err(NotifyError::Config(
                    "[smtp] credentials are never sent without STARTTLS".into(),
                ));
            }
            if !crate::webhook::is_loopback_host(&self.host) {
                return Err(NotifyError::Config(format!(
                    "[smtp] starttls = false is only allowed for a relay on a loopback address, not {}",
                    self.host
                )));
            }
        }
        crate::email::parse_address(&self.from)
            .map_err(|e| NotifyError::Config(format!("[smtp] from: {e}")))?;
        Ok(self)
    }
}

/// `[delivery]`: retries, digests and timeouts.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Attempts per delivery before it is logged as failed.
    pub max_attempts: u32,
    /// First retry after this many seconds; each further one waits twice as long...
    pub backoff_base_secs: u64,
    /// ...up to this.
    pub backoff_max_secs: u64,
    /// Hour of the day (UTC) at which daily digests go out.
    pub digest_hour: u32,
    /// Seconds a webhook request may take.
    pub timeout_secs: u64,
    /// Seconds a claimed delivery is reserved for the round that claimed it (a crashed round's deliveries are
    /// attempted again after this).
    pub lease_secs: u64,
    /// Deliveries claimed per round at most.
    pub batch: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 6,
            backoff_base_secs: 60,
            backoff_max_secs: 6 * 3600,
            digest_hour: 7,
            timeout_secs: 20,
            lease_secs: 600,
            batch: 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.gov".into(),
            port: 587,
            starttls: true,
            username: Some("vigil".into()),
            password: Some("hunter2-very-secret".into()),
            password_file: None,
            from: "vigil@example.gov".into(),
            ca_file: None,
            ca_pem: None,
            timeout_secs: 5,
        }
    }

    #[test]
    fn password_never_in_debug_or_errors() {
        let c = cfg();
        assert!(!format!("{c:?}").contains("hunter2"));
        let mut bad = cfg();
        bad.starttls = false;
        let e = bad
            .resolve()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("STARTTLS") && !e.contains("hunter2"), "{e}");
        assert!(cfg().resolve().is_ok());
    }

    #[test]
    fn clear_text_only_to_loopback() {
        let mut c = cfg();
        c.username = None;
        c.password = None;
        c.starttls = false;
        assert!(c.clone().resolve().is_err());
        c.host = "127.0.0.1".into();
        assert!(c.resolve().is_ok());
    }
}
