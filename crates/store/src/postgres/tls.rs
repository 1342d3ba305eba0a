//! TLS to the PostgreSQL server, configured as libpq is: `sslmode` (`disable`, `prefer` (the default), `require`,
//! `verify-ca`, `verify-full`), `sslrootcert` (a PEM file of the CA certificates to trust, or `system` for the
//! public web PKI roots compiled in), and a client certificate (`sslcert`, `sslkey`) in the connection string.
//!
//! `postgres::Config` knows only `disable`, `prefer` and `require`, and none of the files, so these settings (and
//! `passfile`, see [`super::pgpass`]) are taken out of the string here and the rest is left to it. As in libpq, `prefer` and `require` encrypt without
//! checking who answers (a self-signed server certificate, the common case, works); `verify-ca` checks the
//! certificate chain against the trusted CAs, `verify-full` the host name too.

use std::path::PathBuf;
use std::sync::Arc;

use ::postgres::config::SslMode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    Disable,
    #[default]
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    pub mode: TlsMode,
    pub root_cert: Option<String>,
    /// `sslcert`: the client certificate (PEM, the chain after it), for servers that authenticate by certificate.
    pub client_cert: Option<String>,
    /// `sslkey`: its private key (PEM; PKCS#8 encrypted with `sslpassword`, or not encrypted).
    pub client_key: Option<String>,
    /// `sslpassword`: the passphrase of an encrypted `sslkey`.
    pub key_password: Option<Secret>,
}

/// A value that must never be printed (`Debug` shows that one is set, not what it is).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What [`split`] takes out of a connection string: the settings `postgres::Config` does not know.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Taken {
    pub tls: TlsSettings,
    /// `passfile`: libpq's password file, instead of `PGPASSFILE` or `~/.pgpass`.
    pub passfile: Option<String>,
    /// `service`: an entry of libpq's connection service file (see `pgenv`).
    pub service: Option<String>,
    /// Whether the string named `sslmode` (else the service or `PGSSLMODE` may).
    pub mode_set: bool,
}

/// Takes `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `passfile` and `service` out of a connection string (a
/// `postgres://` URL or `key=value` pairs); returns the rest and the settings. Errors say what is wrong, never
/// repeating the string (it may hold a password).
pub fn split(url: &str) -> Result<(String, Taken), String> {
    let mut mode = None;
    let mut t = Taken::default();
    let mut take = |k: &str, v: &str| -> Result<bool, String> {
        match k {
            "sslmode" => mode = Some(TlsMode::parse(v)?),
            "sslrootcert" => t.tls.root_cert = Some(v.to_string()),
            "sslcert" => t.tls.client_cert = Some(v.to_string()),
            "sslkey" => t.tls.client_key = Some(v.to_string()),
            "sslpassword" => t.tls.key_password = Some(Secret(v.to_string())),
            "passfile" => t.passfile = Some(v.to_string()),
            "service" => t.service = Some(v.to_string()),
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
    t.mode_set = mode.is_some();
    t.tls.mode = mode.unwrap_or_default();
    Ok((rest, t))
}

fn percent_decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "a connection URL parameter is not UTF-8".to_string())
}

/// libpq's `key = value` pairs; a value may be single-quoted, with `\'` and `\\` inside.
pub(super) fn key_values(s: &str) -> Result<Vec<(String, String)>, String> {
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

pub(super) fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The connector for these settings; None for `disable`.
pub fn connector(s: &TlsSettings) -> Result<Option<MakeRustlsConnect>, String> {
    // ring is the workspace's one crypto provider (reqwest, async-nats and lettre use it too; two providers leave
    // rustls without a process default). rustls 0.23.48 deprecates it for having no post-quantum key exchange.
    #[allow(deprecated)]
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
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client_identity(s)? {
        Some((chain, key, cert_path, key_path)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => {
                    format!("sslkey {key_path} is not the private key of sslcert {cert_path}")
                }
                e => format!("sslcert {cert_path}: {e}"),
            })?,
        None => builder.with_no_client_auth(),
    };
    Ok(Some(MakeRustlsConnect::new(config)))
}

/// A certificate chain, its key, and the two files' names (for messages).
type ClientIdentity = (
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
    String,
    String,
);

/// The client certificate chain and key to present, as libpq finds them: `sslcert` and `sslkey`, else
/// `~/.postgresql/postgresql.crt` and `.key` when the certificate file exists there; None without either.
fn client_identity(s: &TlsSettings) -> Result<Option<ClientIdentity>, String> {
    let home = || std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".postgresql"));
    let cert = match &s.client_cert {
        Some(c) => PathBuf::from(c),
        None => match home()
            .map(|d| d.join("postgresql.crt"))
            .filter(|p| p.is_file())
        {
            Some(p) => p,
            None if s.client_key.is_some() => {
                return Err(
                    "sslkey is given without sslcert: name the client certificate too".into(),
                )
            }
            None => return Ok(None),
        },
    };
    let key = match &s.client_key {
        Some(k) => PathBuf::from(k),
        None => home()
            .map(|d| d.join("postgresql.key"))
            .ok_or("sslcert is given without sslkey: name the certificate's private key too")?,
    };
    let chain = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| format!("sslcert {}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("sslcert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("sslcert {}: no certificate in it", cert.display()));
    }
    key_file_is_private(&key)?;
    let der = private_key(&key, s.key_password.as_ref())?;
    Ok(Some((
        chain,
        der,
        cert.display().to_string(),
        key.display().to_string(),
    )))
}

/// The private key in PEM file `path`: in the clear (PKCS#8, SEC1 or PKCS#1), or PKCS#8 encrypted with
/// `password` (`BEGIN ENCRYPTED PRIVATE KEY`, what `openssl genpkey -aes256` and `openssl pkcs8 -topk8` write). As
/// in libpq, a password given for a key in the clear is not used. Messages never hold the password.
fn private_key(
    path: &std::path::Path,
    password: Option<&Secret>,
) -> Result<PrivateKeyDer<'static>, String> {
    use pkcs8::der::pem::PemLabel;
    let shown = path.display();
    let text = std::fs::read(path).map_err(|e| format!("sslkey {shown}: {e}"))?;
    // The one PEM block of an encrypted key, if the file holds one (a file may carry text around its blocks).
    let begin = format!(
        "-----BEGIN {}-----",
        pkcs8::EncryptedPrivateKeyInfo::PEM_LABEL
    );
    if let Some(at) = memchr::memmem::find(&text, begin.as_bytes()) {
        let Some(password) = password else {
            return Err(format!(
                "sslkey {shown}: the private key is encrypted: give its passphrase as sslpassword"
            ));
        };
        let end = format!(
            "-----END {}-----",
            pkcs8::EncryptedPrivateKeyInfo::PEM_LABEL
        );
        let len = memchr::memmem::find(&text[at..], end.as_bytes()).ok_or_else(|| {
            format!("sslkey {shown}: the encrypted key's PEM block has no end line")
        })? + end.len();
        let block = std::str::from_utf8(&text[at..at + len])
            .map_err(|_| format!("sslkey {shown}: the encrypted key's PEM block is not text"))?;
        let (_, doc) = pkcs8::Document::from_pem(block)
            .map_err(|e| format!("sslkey {shown}: not a readable encrypted key ({e})"))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|e| format!("sslkey {shown}: not a readable encrypted key ({e})"))?;
        let clear = info.decrypt(password.0.as_bytes()).map_err(|e| {
            format!(
                "sslkey {shown}: the key could not be decrypted with sslpassword: a wrong passphrase, or a \
                 cipher other than PBES2 with AES-CBC ({e})"
            )
        })?;
        return Ok(PrivateKeyDer::Pkcs8(clear.as_bytes().to_vec().into()));
    }
    // OpenSSL's older per-format encryption (`Proc-Type: 4,ENCRYPTED` inside `BEGIN EC/RSA PRIVATE KEY`), which
    // rustls's PEM reader would otherwise take for a key in the clear and fail on with a parse error.
    if memchr::memmem::find(&text, b"Proc-Type: 4,ENCRYPTED").is_some() {
        return Err(format!(
            "sslkey {shown}: the key is encrypted in OpenSSL's traditional format, which Vigil does not read: \
             convert it to encrypted PKCS#8 with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD -out NEW` and \
             name NEW with sslkey (its passphrase with sslpassword)"
        ));
    }
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| {
        format!(
            "sslkey {shown}: {e} (a PEM private key is expected, PKCS#8 encrypted or in the clear)"
        )
    })
}

/// libpq's rule, so a key that libpq refuses is refused here too: no access for group or others when the file
/// is the user's own, at most group read when root owns it (a key shared with a group by the administrator).
fn key_file_is_private(key: &std::path::Path) -> Result<(), String> {
    let meta = std::fs::metadata(key).map_err(|e| format!("sslkey {}: {e}", key.display()))?;
    if !meta.is_file() {
        return Err(format!("sslkey {}: not a file", key.display()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode();
        let refused = if meta.uid() == rustix::process::geteuid().as_raw() {
            (mode & 0o077 != 0).then_some("u=rw (0600) or less")
        } else if meta.uid() == 0 {
            (mode & 0o037 != 0).then_some("u=rw,g=r (0640) or less, as root owns it")
        } else {
            None
        };
        if let Some(limit) = refused {
            return Err(format!(
                "sslkey {}: the private key is open to others (mode {:04o}); it must be {limit}: chmod 600 it",
                key.display(),
                mode & 0o7777
            ));
        }
    }
    Ok(())
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
        assert_eq!(s.tls.mode, TlsMode::VerifyFull);
        assert_eq!(s.tls.root_cert.as_deref(), Some("/etc/ca.pem"));
        let (rest, s) = split("postgresql://db/kb").expect("parses");
        assert_eq!(
            (rest.as_str(), s.tls.mode),
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
        assert_eq!(s.tls.mode, TlsMode::VerifyCa);
        assert_eq!(s.tls.root_cert.as_deref(), Some("/a b/ca.pem"));
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
            proptest::prop_assert_eq!(t.tls.mode, TlsMode::Require);
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
            ..TlsSettings::default()
        };
        let e = connector(&s).err().expect("no such file");
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let system = TlsSettings {
            mode: TlsMode::VerifyFull,
            root_cert: Some("system".into()),
            ..TlsSettings::default()
        };
        assert!(connector(&system).is_ok());
        let off = TlsSettings {
            mode: TlsMode::Disable,
            ..TlsSettings::default()
        };
        assert!(connector(&off).expect("fine").is_none());
    }

    #[test]
    fn client_certificate_settings_come_out_too() {
        let (rest, t) = split(
            "postgres://vigil@db/kb?sslcert=%2Fetc%2Fvigil%2Fc.pem&sslkey=%2Fetc%2Fvigil%2Fc.key&passfile=%2Fetc%2Fvigil%2Fpgpass&application_name=v",
        )
        .expect("parses");
        assert_eq!(rest, "postgres://vigil@db/kb?application_name=v");
        assert_eq!(t.tls.client_cert.as_deref(), Some("/etc/vigil/c.pem"));
        assert_eq!(t.tls.client_key.as_deref(), Some("/etc/vigil/c.key"));
        assert_eq!(t.passfile.as_deref(), Some("/etc/vigil/pgpass"));
        let (rest, t) =
            split("host=db sslcert='/a b/c.pem' sslkey=/k passfile=/p user=u").expect("parses");
        assert_eq!(rest, "host='db' user='u'");
        assert_eq!(
            (
                t.tls.client_cert.as_deref(),
                t.tls.client_key.as_deref(),
                t.passfile.as_deref()
            ),
            (Some("/a b/c.pem"), Some("/k"), Some("/p"))
        );
        let (rest, t) = split("host=db sslkey=/k sslpassword='pass phrase'").expect("parses");
        assert_eq!(rest, "host='db'");
        assert_eq!(t.tls.key_password, Some(Secret("pass phrase".into())));
        // A passphrase is never printed, not even in a debug dump of the settings.
        assert!(!format!("{t:?}").contains("pass phrase"), "{t:?}");
    }

    #[test]
    fn client_keys_must_be_private_and_present() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("c.key");
        let with = |c: &std::path::Path, k: &std::path::Path| TlsSettings {
            mode: TlsMode::Require,
            client_cert: Some(c.display().to_string()),
            client_key: Some(k.display().to_string()),
            ..TlsSettings::default()
        };
        let e = connector(&with(&cert, &key))
            .err()
            .expect("no certificate file");
        assert!(e.starts_with("sslcert ") && e.contains("c.pem"), "{e}");
        std::fs::write(&cert, "not a certificate\n").expect("write");
        let e = connector(&with(&cert, &key))
            .err()
            .expect("no certificate in it");
        assert!(e.contains("no certificate in it"), "{e}");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let e = connector(&with(&cert, &key)).err().expect("no key file");
        assert!(e.starts_with("sslkey ") && e.contains("c.key"), "{e}");
        std::fs::write(&key, "not a key\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let e = connector(&with(&cert, &key))
                .err()
                .expect("a key others can read");
            assert!(e.contains("0644") && e.contains("chmod 600"), "{e}");
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let e = connector(&with(&cert, &key)).err().expect("not a PEM key");
        assert!(
            e.starts_with("sslkey ") && e.contains("PEM private key"),
            "{e}"
        );
        let only_key = TlsSettings {
            mode: TlsMode::Require,
            client_key: Some(key.display().to_string()),
            ..TlsSettings::default()
        };
        if std::env::var_os("HOME")
            .map(|h| {
                !std::path::Path::new(&h)
                    .join(".postgresql/postgresql.crt")
                    .exists()
            })
            .unwrap_or(true)
        {
            let e = connector(&only_key)
                .err()
                .expect("a key without a certificate");
            assert!(e.contains("without sslcert"), "{e}");
        }
    }
}
