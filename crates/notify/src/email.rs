//! E-mail over SMTP with lettre: STARTTLS required (unless a loopback relay is configured without it), optional
//! credentials, multipart/alternative plain text + HTML, the TLP in the subject, in an `X-Vigil-TLP` header and at
//! the top of both bodies.

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, SmtpTransport, Transport};

use crate::config::SmtpConfig;
use crate::message::Message;
use crate::NotifyError;

/// One address (`name@domain`), nothing else: a channel is one mailbox, so a RED notice cannot fan out to a
/// list hidden in the field.
pub fn parse_address(s: &str) -> Result<Address, NotifyError> {
    s.trim()
        .parse::<Address>()
        .map_err(|e| NotifyError::Channel(format!("`{s}` is not one e-mail address: {e}")))
}

/// A connection setup for one round.
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
    endpoint: String,
}

impl Mailer {
    pub fn new(cfg: &SmtpConfig) -> Result<Mailer, NotifyError> {
        let mut b = SmtpTransport::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .timeout(Some(Duration::from_secs(cfg.timeout_secs.max(1))));
        if cfg.starttls {
            let mut tp = TlsParameters::builder(cfg.host.clone());
            if let Some(pem) = &cfg.ca_pem {
                let cert = Certificate::from_pem(pem).map_err(|e| {
                    NotifyError::Config(format!("[smtp] ca_file is not a PEM certificate: {e}"))
                })?;
                tp = tp.add_root_certificate(cert);
            }
            let tp = tp
                .build_rustls()
                .map_err(|e| NotifyError::Config(format!("[smtp] TLS setup: {e}")))?;
            b = b.tls(Tls::Required(tp));
        } else {
            b = b.tls(Tls::None);
        }
        if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        let from = Mailbox::new(Some("Vigil".into()), parse_address(&cfg.from)?);
        Ok(Mailer {
            transport: b.build(),
            from,
            endpoint: format!("{}:{}", cfg.host, cfg.port),
        })
    }

    /// Sends one message; the error says what failed without credentials (lettre's errors carry the server's
    /// reply, never what was sent to authenticate).
    pub fn send(&self, to: &str, msg: &Message) -> Result<(), String> {
        let to = parse_address(to).map_err(|e| e.to_string())?;
        let tlp = msg.tlp().label();
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(msg.subject())
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Vigil-TLP"),
                tlp.to_string(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Vigil-Delivery"),
                msg.id.clone(),
            ))
            .multipart(MultiPart::alternative_plain_html(msg.plain(), msg.html()))
            .map_err(|e| format!("building the e-mail: {e}"))?;
        self.transport
            .send(&email)
            .map(|_| ())
            .map_err(|e| format!("SMTP {}: {e}", self.endpoint))
    }
}
