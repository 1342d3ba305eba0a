//! TLS to the PostgreSQL server, configured as libpq is: `sslmode` (`disable`, `prefer` (the default), `require`,
//! `verify-ca`, `verify-full`) and `sslrootcert` (a PEM file of the CA certificates to trust, or `system` for the
//! public web PKI roots compiled in) in the connection string.
//!
//! `postgres::Config` knows only `disable`, `prefer` and `require` and no `sslrootcert`, so these two settings are
//! taken out of the string here and the rest is left to it. As in libpq, `prefer` and `require` encrypt without
//! checking who answers (a self-signed server certificate, the common case, works); `verify-ca` checks the
//! certificate chain against the trusted CAs, `verify-full` the host name too.

use std::path::PathBuf;
use std::sync::Arc;

use ::postgres::config::SslMode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }

    fn parse(s: &str) -> Result<TlsMode, String> {
        Ok(match s {
            "disable" => TlsMode::Disable,
            "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            // `allow` tries without TLS first; nothing is gained by offering it.
            other => {
                return Err(format!(
                    "sslmode {other:?}: expected disable, prefer, require, verify-ca or verify-full"
                ))
            }
        })
    }

    /// What `postgres::Config` is told: it only asks the server for TLS, or insists on it.
    pub fn ssl_mode(self) -> SslMode {
        match self {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        }
    }
}

/// The TLS settings of a connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: TlsMode,
    pub root_cert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of a connection string (a `postgres://` URL or `key=value` pairs);
/// returns the rest and the settings. Errors say what is wrong, never repeating the string (it may hold a password).
pub fn split(url: &str) -> Result<(String, TlsSettings), String> {
    let mut mode = None;
    let mut root_cert = None;
    let mut take = |k: &str, v: &str| -> Result<bool, String> {
        match k {
            "sslmode" => mode = Some(TlsMode::parse(v)?),
            "sslrootcert" => root_cert = Some(v.to_string()),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_string(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    if !take(&percent_decode(k)?, &percent_decode(v)?)? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = Vec::new();
        for (k, v) in key_values(url)? {
            if !take(&k, &v)? {
                kept.push(format!("{k}={}", quote(&v)));
            }
        }
        kept.join(" ")
    };
    Ok((
        rest,
        TlsSettings {
            mode: mode.unwrap_or(TlsMode::Prefer),
            root_cert,
        },
    ))
}

fn percent_decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "a connection URL parameter is not UTF-8".to_string())
}

/// libpq's `key = value` pairs; a value may be single-quoted, with `\'` and `\\` inside.
fn key_values(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        if it.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = it.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        if it.next() != Some('=') {
            return Err(format!("connection string: {key:?} has no `= value`"));
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if it.next_if_eq(&'\'').is_some() {
            loop {
                match it.next() {
                    Some('\\') => value.push(
                        it.next()
                            .ok_or("connection string: a quote is not closed")?,
                    ),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err("connection string: a quote is not closed".into()),
                }
            }
        } else {
            while let Some(c) = it.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        out.push((key, value));
    }
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The connector for these settings; None for `disable`.
pub fn connector(s: &TlsSettings) -> Result<Option<MakeRustlsConnect>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = match s.mode {
        TlsMode::Disable => return Ok(None),
        TlsMode::Prefer | TlsMode::Require => None,
        TlsMode::VerifyCa | TlsMode::VerifyFull => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots(s)?), provider.clone())
                .build()
                .map_err(|e| format!("the trusted CA certificates: {e}"))?,
        ),
    };
    let verifier = Arc::new(Verifier {
        chain,
        check_name: s.mode == TlsMode::VerifyFull,
        provider: provider.clone(),
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(MakeRustlsConnect::new(config)))
}

/// The CAs `verify-ca` and `verify-full` trust: `sslrootcert`'s, else libpq's default file.
fn roots(s: &TlsSettings) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    let path = match s.root_cert.as_deref() {
        Some("system") => {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            return Ok(store);
        }
        Some(p) => PathBuf::from(p),
        None => {
            let default = std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".postgresql/root.crt"))
                .filter(|p| p.is_file());
            default.ok_or_else(|| {
                format!(
                    "sslmode={} needs the CA that signed the server's certificate: add sslrootcert=FILE (PEM) to \
                     the connection string, or sslrootcert=system to trust the public CAs",
                    s.mode.as_str()
                )
            })?
        }
    };
    let certs = CertificateDer::pem_file_iter(&path)
        .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
    for c in certs {
        let c = c.map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
        store
            .add(c)
            .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
    }
    if store.is_empty() {
        return Err(format!(
            "sslrootcert {}: no certificate in it",
            path.display()
        ));
    }
    Ok(store)
}

/// The server's certificate as the mode asks: `prefer` and `require` take any (no `chain`), `verify-ca` one that
/// chains to a trusted CA whatever host it names, `verify-full` one that names the host too. The handshake's
/// signatures are checked in every mode (the session is encrypted to whoever holds the certificate's key).
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_come_out_of_urls() {
        let (rest, s) = split(
            "postgres://vigil:p%40ss@db.example:5432/kb?sslmode=verify-full&application_name=v&sslrootcert=%2Fetc%2Fca.pem",
        )
        .expect("parses");
        assert_eq!(
            rest,
            "postgres://vigil:p%40ss@db.example:5432/kb?application_name=v"
        );
        assert_eq!(s.mode, TlsMode::VerifyFull);
        assert_eq!(s.root_cert.as_deref(), Some("/etc/ca.pem"));
        let (rest, s) = split("postgresql://db/kb").expect("parses");
        assert_eq!(
            (rest.as_str(), s.mode),
            ("postgresql://db/kb", TlsMode::Prefer)
        );
        let (rest, _) = split("postgres://db/kb?sslmode=require").expect("parses");
        assert_eq!(rest, "postgres://db/kb");
    }

    #[test]
    fn tls_settings_come_out_of_key_values() {
        let (rest, s) = split(
            "host=db.example  user = vigil password='it\\'s \\'q\\' x' sslmode=verify-ca sslrootcert='/a b/ca.pem'",
        )
        .expect("parses");
        assert_eq!(s.mode, TlsMode::VerifyCa);
        assert_eq!(s.root_cert.as_deref(), Some("/a b/ca.pem"));
        assert!(
            rest.starts_with("host='db.example' user='vigil' password="),
            "{rest}"
        );
        // What is left parses, with the password as it was.
        let c: ::postgres::Config = rest.parse().expect("postgres parses the rest");
        assert_eq!(c.get_password(), Some("it's 'q' x".as_bytes()));
    }

    proptest::proptest! {
        /// Whatever the other values hold (quotes, backslashes, spaces, `sslmode=` inside a password), taking the
        /// TLS settings out leaves them as they were.
        #[test]
        fn other_values_survive(password in "[^\\x00]{0,40}", app in "[a-z ']{0,12}") {
            let q = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
            let s = format!("host=db sslmode=require password={} application_name={}", q(&password), q(&app));
            let (rest, t) = split(&s).expect("parses");
            proptest::prop_assert_eq!(t.mode, TlsMode::Require);
            let c: ::postgres::Config = rest.parse().expect("postgres parses the rest");
            proptest::prop_assert_eq!(c.get_password(), Some(password.as_bytes()));
            proptest::prop_assert_eq!(c.get_application_name(), Some(app.as_str()));
        }
    }

    #[test]
    fn bad_tls_settings_are_refused_without_echoing_the_string() {
        let e = split("host=db password=secret sslmode=allow").expect_err("allow is refused");
        assert!(e.contains("allow") && !e.contains("secret"), "{e}");
        let e = split("host=db password='secret").expect_err("unclosed quote");
        assert!(!e.contains("secret"), "{e}");
        let e = split("postgres://u:secret@db/kb?sslrootcert=%ff").expect_err("not UTF-8");
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn verification_needs_roots() {
        let s = TlsSettings {
            mode: TlsMode::VerifyFull,
            root_cert: Some("/nonexistent/ca.pem".into()),
        };
        let e = connector(&s).err().expect("no such file");
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let system = TlsSettings {
            mode: TlsMode::VerifyFull,
            root_cert: Some("system".into()),
        };
        assert!(connector(&system).is_ok());
        let off = TlsSettings {
            mode: TlsMode::Disable,
            root_cert: None,
        };
        assert!(connector(&off).expect("fine").is_none());
    }
}
