//! NATS JetStream transport for Vigil: connect, keep a stream, publish with de-duplication ids and wait for the
//! server's acknowledgement, and read a durable pull consumer whose messages the caller acknowledges itself.
//!
//! The crate moves bytes and headers only: what a message means (a sighting, its version, its checks) belongs to
//! the crate that owns the concept (`vigil_hunt::report` for sightings), so other streams can use the same
//! transport. It knows neither the store nor the command line.
//!
//! The API is blocking: a [`Bus`] owns a small tokio runtime (one worker) that keeps the connection alive, so a
//! caller can commit to a synchronous store between a fetch and an acknowledgement without holding an async
//! context (the PostgreSQL store refuses to run inside a current-thread runtime).
//!
//! Credentials never leave [`Endpoint`]: the server address handed to the client carries none, every message
//! names the server by [`Endpoint::place`], and the client's own error texts are scrubbed of them as well.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream, AckKind};
use futures_util::StreamExt;
use thiserror::Error;

/// Defaults of the sightings stream (sensors -> central knowledge base).
pub mod sightings {
    /// The stream's name.
    pub const STREAM: &str = "VIGIL_SIGHTINGS";
    /// The subjects' prefix: the stream keeps `vigil.sightings.<member id>` and `vigil.sightings.operator`.
    pub const PREFIX: &str = "vigil.sightings";
    /// The durable consumer the central recorder reads.
    pub const DURABLE: &str = "vigil-recorder";

    /// The subject a member's (or, with `None`, the operator's own) sightings are published on under `prefix`.
    /// One subject per member lets a NATS account give a sensor permission to publish for its member only.
    pub fn subject(prefix: &str, member: Option<i64>) -> String {
        match member {
            Some(m) => format!("{prefix}.{m}"),
            None => format!("{prefix}.operator"),
        }
    }

    /// Whether `prefix` is a usable subject prefix: dot-separated tokens without wildcards or white space.
    pub fn valid_prefix(prefix: &str) -> bool {
        !prefix.is_empty()
            && prefix.split('.').all(|t| {
                !t.is_empty() && t != "*" && t != ">" && t.chars().all(|c| c.is_ascii_graphic())
            })
    }

    /// Every subject under `prefix`.
    pub fn all(prefix: &str) -> String {
        format!("{prefix}.>")
    }
}

/// Everything that can go wrong. Every variant names the server by its place (never with credentials).
#[derive(Debug, Error)]
pub enum BusError {
    #[error("bad NATS URL {shown}: {reason}")]
    Url { shown: String, reason: String },
    #[error("NATS credentials: {0}")]
    Credentials(String),
    #[error("cannot reach NATS at {place}: {reason}")]
    Connect { place: String, reason: String },
    #[error("NATS at {place}: stream {stream}: {reason}")]
    Stream {
        place: String,
        stream: String,
        reason: String,
    },
    #[error("NATS at {place}: publishing on {subject} ({confirmed} message(s) confirmed before): {reason}")]
    Publish {
        place: String,
        subject: String,
        confirmed: usize,
        reason: String,
    },
    #[error("NATS at {place}: consumer {durable} of stream {stream}: {reason}")]
    Consumer {
        place: String,
        stream: String,
        durable: String,
        reason: String,
    },
    #[error("NATS at {place}: fetching from consumer {durable}: {reason}")]
    Fetch {
        place: String,
        durable: String,
        reason: String,
    },
    #[error("NATS at {place}: acknowledging message {sequence}: {reason}")]
    Ack {
        place: String,
        sequence: u64,
        reason: String,
    },
    #[error("starting the NATS client's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A URL with any user information replaced by `***`, for messages and logs. Works on text that is no valid
/// URL too (everything up to the last `@` after the scheme is taken as user information: a password may hold an
/// unescaped `@` or `/`).
pub fn redact(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    match rest.rfind('@') {
        Some(i) => format!("{scheme}***@{}", &rest[i + 1..]),
        None => url.to_string(),
    }
}

#[derive(Clone)]
enum Auth {
    None,
    Token(String),
    UserPassword(String, String),
    /// An NKey seed (`SU...`): the client signs the server's nonce with it; nothing secret is sent.
    NKey(String),
    /// A `.creds` file (operator mode): the user JWT an account signed, and the user's seed that signs the nonce.
    Creds {
        text: String,
        seed: String,
        /// The user JWT's `exp` (seconds since the epoch), when it has one.
        expires: Option<i64>,
        /// Read again at each (re)connection, so a renewed file is taken without a restart.
        file: Option<PathBuf>,
    },
}

/// A `.creds` file's parts, checked (see [`Endpoint::with_creds`]).
struct Creds {
    jwt: String,
    seed: String,
    key: nkeys::KeyPair,
    expires: Option<i64>,
}

fn check_creds(text: &str, now: i64) -> Result<Creds, BusError> {
    let refuse = |reason: String| BusError::Credentials(reason);
    let jwt = decorated(text, "NATS USER JWT").ok_or_else(|| {
        refuse("no user JWT in it (a `-----BEGIN NATS USER JWT-----` block, as nsc writes .creds files)".into())
    })?;
    let seed = decorated(text, "USER NKEY SEED").ok_or_else(|| {
        refuse("no user seed in it (a `-----BEGIN USER NKEY SEED-----` block)".into())
    })?;
    let kp = nkeys::KeyPair::from_seed(seed)
        .map_err(|e| refuse(format!("the seed is not an NKey seed ({e})")))?;
    if !kp.public_key().starts_with('U') {
        return Err(refuse(
            "the seed is not a user's (a user seed starts with SU)".into(),
        ));
    }
    let claims = jwt
        .split('.')
        .nth(1)
        .and_then(|c| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c.trim_end_matches('='))
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .ok_or_else(|| {
            refuse("the user JWT is not a JWT (three base64url parts, JSON claims)".into())
        })?;
    if claims["nats"]["type"].as_str().is_some_and(|t| t != "user") {
        return Err(refuse(format!(
            "the JWT is an {} JWT, not a user's",
            claims["nats"]["type"].as_str().unwrap_or_default()
        )));
    }
    if claims["sub"].as_str() != Some(kp.public_key().as_str()) {
        return Err(refuse(format!(
            "the user JWT was issued to {} and the seed is {}'s: the two parts are of different users",
            claims["sub"].as_str().unwrap_or("nobody"),
            kp.public_key()
        )));
    }
    let expires = claims["exp"].as_i64().filter(|e| *e > 0);
    if let Some(exp) = expires.filter(|e| *e <= now) {
        let when = chrono::DateTime::from_timestamp(exp, 0).map_or_else(
            || exp.to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        );
        return Err(refuse(format!(
            "the user JWT of {} expired at {when}: ask the account's operator for new credentials (nsc generate creds)",
            kp.public_key()
        )));
    }
    Ok(Creds {
        jwt: jwt.to_string(),
        seed: seed.to_string(),
        key: kp,
        expires,
    })
}

/// What the client sends when the server asks for a login: the user JWT, and the server's nonce signed with the
/// user's seed, from `file` as it is now, else from the last text that passed the checks.
fn creds_login(
    file: &std::path::Path,
    last: &std::sync::Mutex<String>,
    nonce: &[u8],
) -> Result<async_nats::Auth, String> {
    let now = chrono::Utc::now().timestamp();
    let fresh = std::fs::read_to_string(file)
        .ok()
        .and_then(|t| check_creds(&t, now).ok().map(|c| (t, c)));
    let c = {
        let mut held = last
            .lock()
            .map_err(|_| "credentials lock poisoned".to_string())?;
        match fresh {
            Some((t, c)) => {
                *held = t;
                c
            }
            None => check_creds(&held, now).map_err(|e| format!("{}: {e}", file.display()))?,
        }
    };
    let signature = c.key.sign(nonce).map_err(|e| format!("signing: {e}"))?;
    let mut auth = async_nats::Auth::new();
    auth.jwt = Some(c.jwt);
    auth.signature = Some(signature);
    Ok(auth)
}

/// Where NATS is and how to log in, parsed from `nats://[user:password@]host[:port]` (or `tls://`, which
/// requires TLS; a user without a password is a token). `Debug` and `Display` show no credentials.
#[derive(Clone)]
pub struct Endpoint {
    server: String,
    tls: bool,
    auth: Auth,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match self.auth {
            Auth::None => "none",
            Auth::Token(_) => "token",
            Auth::UserPassword(..) => "user and password",
            Auth::NKey(_) => "nkey",
            Auth::Creds { .. } => "creds",
        };
        f.debug_struct("Endpoint")
            .field("server", &self.server)
            .field("tls", &self.tls)
            .field("auth", &auth)
            .finish()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.server)
    }
}

/// The NATS client's default port.
pub const DEFAULT_PORT: u16 = 4222;

impl Endpoint {
    /// Parses a NATS URL; the error shows the URL redacted.
    pub fn parse(url: &str) -> Result<Endpoint, BusError> {
        let bad = |reason: &str| BusError::Url {
            shown: redact(url),
            reason: reason.to_string(),
        };
        // The url crate's own messages never quote the input, but say nothing of which part is wrong either.
        let u = url::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
        let tls = match u.scheme() {
            "nats" => false,
            "tls" => true,
            other => {
                return Err(bad(&format!(
                    "scheme {other:?}: expected nats:// or tls://"
                )))
            }
        };
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        if !(u.path().is_empty() || u.path() == "/")
            || u.query().is_some()
            || u.fragment().is_some()
        {
            return Err(bad("a NATS URL has no path, query or fragment"));
        }
        let port = u.port().unwrap_or(DEFAULT_PORT);
        let decode = |s: &str| -> Result<String, BusError> {
            percent_decode(s).ok_or_else(|| bad("user or password is not UTF-8 once %-decoded"))
        };
        let user = decode(u.username())?;
        let auth = match (user.is_empty(), u.password()) {
            (true, None) => Auth::None,
            (false, None) => Auth::Token(user),
            (_, Some(p)) => Auth::UserPassword(user, decode(p)?),
        };
        Ok(Endpoint {
            server: format!("{}://{host}:{port}", u.scheme()),
            tls,
            auth,
        })
    }

    /// Logs in with a secret kept out of the URL (and so out of the process list and shell history): the password of
    /// the user the URL names, or a token when it names none. A URL that carries a password or token already is
    /// refused, as is an empty secret.
    pub fn with_secret(mut self, secret: &str) -> Result<Endpoint, BusError> {
        let refuse = |reason: &str| BusError::Credentials(reason.to_string());
        if secret.is_empty() {
            return Err(refuse("the password or token is empty"));
        }
        self.auth =
            match std::mem::replace(&mut self.auth, Auth::None) {
                Auth::None => Auth::Token(secret.to_string()),
                // `nats://name@host` reads as a token when no secret follows; with one, it was the user.
                Auth::Token(user) => Auth::UserPassword(user, secret.to_string()),
                Auth::UserPassword(..) => return Err(refuse(
                    "the URL carries a password already: give it once, in the URL or apart from it",
                )),
                Auth::NKey(_) => return Err(refuse("an NKey is given already")),
                Auth::Creds { .. } => return Err(refuse("a .creds file is given already")),
            };
        Ok(self)
    }

    /// Logs in with an NKey: `seed` is the user's seed (`SU...`, as `nk -gen user` or `nsc` write it); the server
    /// knows the public key. Refused when the URL carries credentials too, or the seed is not a user seed.
    pub fn with_nkey_seed(mut self, seed: &str) -> Result<Endpoint, BusError> {
        let refuse = |reason: &str| BusError::Credentials(reason.to_string());
        if !matches!(self.auth, Auth::None) {
            return Err(refuse(
                "the URL carries credentials and an NKey is given too: use one of them",
            ));
        }
        let seed = seed.trim();
        // Checked here so that a damaged file is named before a connection is tried; the error of the nkeys crate
        // quotes no part of the seed.
        let kp = nkeys::KeyPair::from_seed(seed)
            .map_err(|e| refuse(&format!("not an NKey seed ({e})")))?;
        if !kp.public_key().starts_with('U') {
            return Err(refuse(
                "the NKey seed is not a user's (a user seed starts with SU)",
            ));
        }
        self.auth = Auth::NKey(seed.to_string());
        Ok(self)
    }

    /// Logs in with a `.creds` file's content (operator mode, as `nsc generate creds` writes it: the user JWT and
    /// the user's NKey seed). Checked before any connection, so that the message names what is wrong: both parts
    /// present, the seed a user's, the JWT a user JWT issued to that seed's public key and not expired. Refused
    /// when the URL carries credentials too. Messages quote no part of the seed.
    pub fn with_creds(mut self, text: &str) -> Result<Endpoint, BusError> {
        if !matches!(self.auth, Auth::None) {
            return Err(BusError::Credentials(
                "the URL carries credentials and a .creds file is given too: use one of them"
                    .into(),
            ));
        }
        let c = check_creds(text, chrono::Utc::now().timestamp())?;
        self.auth = Auth::Creds {
            text: text.to_string(),
            seed: c.seed,
            expires: c.expires,
            file: None,
        };
        Ok(self)
    }

    /// With a `.creds` login: read `path` again at every (re)connection. When the server drops the connection
    /// at the user JWT's expiry, the client reconnects with the file as it is then, so credentials renewed in
    /// place (`nsc generate creds` over the old file) are taken without a restart. A file that does not pass
    /// [`Endpoint::with_creds`]'s checks then is passed over for the last one that did (the server refuses that
    /// one too once it has expired, and the client keeps trying, reading the file each time).
    pub fn reread_from(mut self, path: PathBuf) -> Endpoint {
        if let Auth::Creds { file, .. } = &mut self.auth {
            *file = Some(path);
        }
        self
    }

    /// When the `.creds` file's user JWT expires (seconds since the epoch): the server drops the connection
    /// then, and a long-running `vigil serve --nats` cannot log in again until it is given new credentials.
    pub fn credentials_expire(&self) -> Option<i64> {
        match self.auth {
            Auth::Creds { expires, .. } => expires,
            _ => None,
        }
    }

    /// The server without credentials (`nats://host:port`): what messages name.
    pub fn place(&self) -> &str {
        &self.server
    }

    fn secrets(&self) -> Vec<String> {
        match &self.auth {
            Auth::None => vec![],
            Auth::Token(t) => vec![t.clone()],
            // A short user name would blank out ordinary words of a message ("Connection ref***sed"); the
            // client never sees the credentials in a URL, so this is a second line of defence only.
            Auth::UserPassword(u, p) if u.len() >= 4 => vec![p.clone(), u.clone()],
            Auth::UserPassword(_, p) => vec![p.clone()],
            Auth::NKey(seed) => vec![seed.clone()],
            Auth::Creds { seed, .. } => vec![seed.clone()],
        }
    }
}

/// The content of a `.creds` block (`-----BEGIN {label}-----` ... `------END {label}------`): its first
/// non-empty line, as the NATS clients read it.
fn decorated<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("BEGIN {label}");
    let mut lines = text.lines();
    lines.find(|l| l.contains(&begin) && l.trim_start().starts_with("---"))?;
    lines
        .map(str::trim)
        .find(|l| !l.is_empty())
        .filter(|l| !l.starts_with("---"))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h)? * 16 + hex(l)?) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct Options {
    /// The connection's name as the server's monitoring shows it.
    pub name: String,
    /// PEM file of the CA that signed the server's certificate (default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// How long to try to connect.
    pub connect_timeout: Duration,
    /// How long to wait for the server's acknowledgement of a published message or an API request.
    pub request_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            name: "vigil".into(),
            ca_file: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// A stream to keep (created when missing; an existing stream is left as its operator configured it).
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub name: String,
    pub subjects: Vec<String>,
    /// Messages older than this are dropped (limits-based retention): long enough to outlast a central outage.
    pub max_age: Duration,
    /// Within this window a second message with the same `Nats-Msg-Id` is acknowledged but not stored.
    pub duplicate_window: Duration,
}

impl StreamSpec {
    /// The sightings stream with its defaults: the subjects under `prefix`, file storage, 30 days, a one-day
    /// de-duplication window.
    pub fn sightings(name: &str, prefix: &str) -> StreamSpec {
        StreamSpec {
            name: name.to_string(),
            subjects: vec![sightings::all(prefix)],
            max_age: Duration::from_secs(30 * 86_400),
            duplicate_window: Duration::from_secs(86_400),
        }
    }
}

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub subject: String,
    /// Sent as `Nats-Msg-Id`: the stream stores one message per id within its duplicate window.
    pub msg_id: String,
    pub payload: Vec<u8>,
}

/// The server's acknowledgement of one published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acked {
    pub sequence: u64,
    /// The stream had a message with the same id already (nothing was stored).
    pub duplicate: bool,
}

/// A connection to NATS with JetStream.
pub struct Bus {
    rt: tokio::runtime::Runtime,
    client: async_nats::Client,
    js: jetstream::Context,
    place: Arc<str>,
    secrets: Arc<[String]>,
}

/// Messages published before their acknowledgements are awaited: one round trip per window, not per message.
const PUBLISH_WINDOW: usize = 256;

impl Bus {
    /// Connects (once, without retrying: a sensor must learn at once that the central's NATS is unreachable).
    pub fn connect(endpoint: &Endpoint, opts: &Options) -> Result<Bus, BusError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vigil-nats")
            .enable_all()
            .build()
            .map_err(BusError::Runtime)?;
        let secrets: Arc<[String]> = endpoint.secrets().into();
        let place: Arc<str> = endpoint.place().into();
        // A .creds file read again at each connection answers the server's nonce itself; otherwise the client
        // holds the credentials given.
        let base = match &endpoint.auth {
            Auth::Creds {
                text,
                file: Some(file),
                ..
            } => {
                let file = Arc::new(file.clone());
                let last = Arc::new(std::sync::Mutex::new(text.clone()));
                async_nats::ConnectOptions::with_auth_callback(move |nonce: Vec<u8>| {
                    let (file, last) = (file.clone(), last.clone());
                    async move { creds_login(&file, &last, &nonce).map_err(async_nats::AuthError::new) }
                })
            }
            _ => async_nats::ConnectOptions::new(),
        };
        let mut co = base
            .name(&opts.name)
            .connection_timeout(opts.connect_timeout)
            .request_timeout(Some(opts.request_timeout))
            .require_tls(endpoint.tls);
        co = match &endpoint.auth {
            Auth::None => co,
            Auth::Token(t) => co.token(t.clone()),
            Auth::UserPassword(u, p) => co.user_and_password(u.clone(), p.clone()),
            Auth::NKey(seed) => co.nkey(seed.clone()),
            Auth::Creds { file: Some(_), .. } => co,
            Auth::Creds { text, .. } => co
                .credentials(text)
                .map_err(|e| BusError::Credentials(format!(".creds: {e}")))?,
        };
        if let Some(ca) = &opts.ca_file {
            co = co.add_root_certificates(ca.clone());
        }
        let client = rt
            .block_on(co.connect(endpoint.place()))
            .map_err(|e| BusError::Connect {
                place: place.to_string(),
                reason: scrub(&secrets, &e),
            })?;
        // The context spawns its acknowledgement tracker on the current runtime.
        let mut js = {
            let _in_rt = rt.enter();
            jetstream::new(client.clone())
        };
        js.set_timeout(opts.request_timeout);
        Ok(Bus {
            rt,
            client,
            js,
            place,
            secrets,
        })
    }

    /// The server, without credentials.
    pub fn place(&self) -> &str {
        &self.place
    }

    fn scrub(&self, e: &dyn fmt::Display) -> String {
        scrub(&self.secrets, e)
    }

    /// Creates the stream unless it exists.
    pub fn ensure_stream(&self, spec: &StreamSpec) -> Result<(), BusError> {
        let cfg = stream::Config {
            name: spec.name.clone(),
            subjects: spec.subjects.clone(),
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            max_age: spec.max_age,
            duplicate_window: spec.duplicate_window.min(spec.max_age),
            ..Default::default()
        };
        self.rt
            .block_on(self.js.get_or_create_stream(cfg))
            .map(|_| ())
            .map_err(|e| self.stream_error(&spec.name, &e))
    }

    /// Deletes a stream (and its consumers); whether it existed.
    pub fn delete_stream(&self, name: &str) -> Result<bool, BusError> {
        match self.rt.block_on(self.js.delete_stream(name)) {
            Ok(s) => Ok(s.success),
            // Server versions word a missing stream differently: ask rather than match their codes.
            Err(e) => match self.rt.block_on(self.js.get_stream(name)) {
                Err(_) => Ok(false),
                Ok(_) => Err(self.stream_error(name, &e)),
            },
        }
    }

    fn stream_error(&self, name: &str, e: &dyn fmt::Display) -> BusError {
        BusError::Stream {
            place: self.place.to_string(),
            stream: name.to_string(),
            reason: self.scrub(e),
        }
    }

    /// Publishes the messages in order and returns once the server has acknowledged every one (a message is
    /// stored only then). On a failure, the error says how many were confirmed before it.
    pub fn publish_all(&self, msgs: &[Outgoing]) -> Result<Vec<Acked>, BusError> {
        self.rt.block_on(async {
            let mut acked = Vec::with_capacity(msgs.len());
            for window in msgs.chunks(PUBLISH_WINDOW) {
                let mut pending = Vec::with_capacity(window.len());
                for m in window {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert(async_nats::header::NATS_MESSAGE_ID, m.msg_id.as_str());
                    let f = self
                        .js
                        .publish_with_headers(m.subject.clone(), headers, m.payload.clone().into())
                        .await
                        .map_err(|e| self.publish_error(&m.subject, acked.len(), &e))?;
                    pending.push((m, f));
                }
                for (m, f) in pending {
                    let a = f
                        .await
                        .map_err(|e| self.publish_error(&m.subject, acked.len(), &e))?;
                    acked.push(Acked {
                        sequence: a.sequence,
                        duplicate: a.duplicate,
                    });
                }
            }
            Ok(acked)
        })
    }

    fn publish_error(&self, subject: &str, confirmed: usize, e: &dyn fmt::Display) -> BusError {
        BusError::Publish {
            place: self.place.to_string(),
            subject: subject.to_string(),
            confirmed,
            reason: self.scrub(e),
        }
    }

    /// The durable pull consumer (created when missing) with explicit acknowledgement: a message the caller does
    /// not acknowledge comes again after `spec.ack_wait`, however often (a store outage must not drop messages).
    pub fn consumer(&self, spec: &ConsumerSpec) -> Result<Consumer<'_>, BusError> {
        let err = |e: &dyn fmt::Display| BusError::Consumer {
            place: self.place.to_string(),
            stream: spec.stream.clone(),
            durable: spec.durable.clone(),
            reason: self.scrub(e),
        };
        let inner = self.rt.block_on(async {
            let stream = self
                .js
                .get_stream(&spec.stream)
                .await
                .map_err(|e| err(&e))?;
            stream
                .get_or_create_consumer(
                    &spec.durable,
                    consumer::pull::Config {
                        durable_name: Some(spec.durable.clone()),
                        ack_policy: consumer::AckPolicy::Explicit,
                        ack_wait: spec.ack_wait,
                        deliver_policy: consumer::DeliverPolicy::All,
                        filter_subject: spec.filter.clone(),
                        max_deliver: -1,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| err(&e))
        })?;
        Ok(Consumer {
            bus: self,
            inner,
            durable: spec.durable.clone(),
        })
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        // Acknowledgements are written asynchronously: send what is buffered before the connection goes.
        let client = &self.client;
        let _ = self
            .rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(2), client.flush()).await });
    }
}

fn scrub(secrets: &[String], e: &dyn fmt::Display) -> String {
    let mut s = e.to_string();
    for x in secrets.iter().filter(|x| !x.is_empty()) {
        s = s.replace(x.as_str(), "***");
    }
    s
}

/// A durable pull consumer to create or reuse.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub stream: String,
    pub durable: String,
    /// The subjects it reads (`vigil.sightings.>`): a stream may hold others.
    pub filter: String,
    /// How long a fetched message stays with the caller before the server delivers it again.
    pub ack_wait: Duration,
}

impl ConsumerSpec {
    /// The sightings recorder's consumer with its defaults.
    pub fn sightings(stream: &str, durable: &str, prefix: &str) -> ConsumerSpec {
        ConsumerSpec {
            stream: stream.to_string(),
            durable: durable.to_string(),
            filter: sightings::all(prefix),
            ack_wait: Duration::from_secs(60),
        }
    }
}

/// A durable pull consumer.
pub struct Consumer<'a> {
    bus: &'a Bus,
    inner: consumer::PullConsumer,
    durable: String,
}

impl Consumer<'_> {
    /// Up to `max` messages: those waiting now, or else (with a non-zero `wait`) the first to arrive within
    /// `wait` and those waiting after it. Empty when none came.
    pub fn fetch(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let max = max.max(1);
        let got = self.bus.rt.block_on(async {
            let mut got = self.available(max).await?;
            if got.is_empty() && !wait.is_zero() {
                let mut first = self
                    .inner
                    .batch()
                    .max_messages(1)
                    .expires(wait.max(Duration::from_millis(100)))
                    .messages()
                    .await
                    .map_err(|e| self.fetch_error(&e))?;
                while let Some(m) = first.next().await {
                    got.push(m.map_err(|e| self.fetch_error(&e))?);
                }
                if !got.is_empty() && max > 1 {
                    got.extend(self.available(max - 1).await?);
                }
            }
            Ok::<_, BusError>(got)
        })?;
        Ok(got
            .into_iter()
            .map(|m| Delivery {
                handle: self.bus.rt.handle().clone(),
                place: self.bus.place.clone(),
                secrets: self.bus.secrets.clone(),
                msg: m,
            })
            .collect())
    }

    async fn available(&self, max: usize) -> Result<Vec<jetstream::Message>, BusError> {
        let mut out = Vec::new();
        let mut msgs = self
            .inner
            .fetch()
            .max_messages(max)
            .messages()
            .await
            .map_err(|e| self.fetch_error(&e))?;
        while let Some(m) = msgs.next().await {
            out.push(m.map_err(|e| self.fetch_error(&e))?);
        }
        Ok(out)
    }

    fn fetch_error(&self, e: &dyn fmt::Display) -> BusError {
        BusError::Fetch {
            place: self.bus.place.to_string(),
            durable: self.durable.clone(),
            reason: self.bus.scrub(e),
        }
    }
}

/// One message from a consumer, to be acknowledged by the caller once it has done its work.
pub struct Delivery {
    handle: tokio::runtime::Handle,
    place: Arc<str>,
    secrets: Arc<[String]>,
    msg: jetstream::Message,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("subject", &self.subject())
            .field("sequence", &self.sequence())
            .field("msg_id", &self.msg_id())
            .finish()
    }
}

impl Delivery {
    pub fn subject(&self) -> &str {
        self.msg.subject.as_str()
    }

    pub fn payload(&self) -> &[u8] {
        &self.msg.payload
    }

    /// The publisher's `Nats-Msg-Id`.
    pub fn msg_id(&self) -> Option<&str> {
        self.msg
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str())
    }

    /// The stream's sequence number (0 when the server sent no metadata).
    pub fn sequence(&self) -> u64 {
        self.msg.info().map_or(0, |i| i.stream_sequence)
    }

    /// How often the server has delivered it (1 the first time).
    pub fn delivered(&self) -> i64 {
        self.msg.info().map_or(0, |i| i.delivered)
    }

    /// Done: the server confirms, and does not deliver it again.
    pub fn ack(&self) -> Result<(), BusError> {
        self.reply(AckKind::Ack)
    }

    /// Unusable whatever happens (malformed, unknown indicator): the server does not deliver it again and
    /// reports it as terminated to whoever monitors the stream.
    pub fn reject(&self) -> Result<(), BusError> {
        self.reply(AckKind::Term)
    }

    /// Not now (the store failed): the server delivers it again after `delay`.
    pub fn retry_later(&self, delay: Duration) -> Result<(), BusError> {
        self.reply(AckKind::Nak(Some(delay)))
    }

    fn reply(&self, kind: AckKind) -> Result<(), BusError> {
        // Waits for the server's confirmation: a recorder that exits right after must not leave its
        // acknowledgements in a buffer.
        self.handle
            .block_on(self.msg.double_ack_with(kind))
            .map_err(|e| BusError::Ack {
                place: self.place.to_string(),
                sequence: self.sequence(),
                reason: scrub(&self.secrets, &e),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn urls_parse_without_credentials_in_sight() {
        let e = Endpoint::parse("nats://vigil:s3cr%40t@nats.csirt.example:4223").expect("url");
        assert_eq!(e.place(), "nats://nats.csirt.example:4223");
        assert!(matches!(&e.auth, Auth::UserPassword(u, p) if u == "vigil" && p == "s3cr@t"));
        let dbg = format!("{e:?} {e}");
        assert!(!dbg.contains("s3cr") && !dbg.contains("vigil:"), "{dbg}");
        let t = Endpoint::parse("tls://tok3n@10.0.0.1").expect("url");
        assert_eq!(t.place(), "tls://10.0.0.1:4222");
        assert!(t.tls && matches!(&t.auth, Auth::Token(x) if x == "tok3n"));
        let v6 = Endpoint::parse("nats://[::1]:4222").expect("url");
        assert_eq!(v6.place(), "nats://[::1]:4222");
        for bad in [
            "http://u:pw@host:4222",
            "nats://u:pw@/x",
            "nats://u:pw@host:4222/path",
            "u:pw@host",
            "",
        ] {
            let err = Endpoint::parse(bad).expect_err(bad).to_string();
            assert!(!err.contains("pw"), "{bad}: {err}");
        }
    }

    #[test]
    fn creds_blocks_are_read_as_nats_clients_read_them() {
        let text = "junk\r\n-----BEGIN NATS USER JWT-----\r\n\r\n  eyJ.a.b  \r\n------END NATS USER JWT------\r\n\
                    -----BEGIN USER NKEY SEED-----\nSUXX\n------END USER NKEY SEED------\n";
        assert_eq!(decorated(text, "NATS USER JWT"), Some("eyJ.a.b"));
        assert_eq!(decorated(text, "USER NKEY SEED"), Some("SUXX"));
        // A block with nothing in it, or no block at all.
        let empty = "-----BEGIN USER NKEY SEED-----\n------END USER NKEY SEED------\n";
        assert_eq!(decorated(empty, "USER NKEY SEED"), None);
        assert_eq!(decorated("SUXX", "USER NKEY SEED"), None);
        // The damaged parts are named, never quoted.
        let ep = Endpoint::parse("nats://127.0.0.1").expect("url");
        let seedless = "-----BEGIN NATS USER JWT-----\neyJ.a.b\n------END NATS USER JWT------\n";
        let e = ep
            .clone()
            .with_creds(seedless)
            .expect_err("no seed")
            .to_string();
        assert!(e.contains("no user seed"), "{e}");
        let account = nkeys::KeyPair::new_account().seed().expect("seed");
        let e = ep
            .clone()
            .with_creds(&format!("{seedless}-----BEGIN USER NKEY SEED-----\n{account}\n------END USER NKEY SEED------\n"))
            .expect_err("not a user seed")
            .to_string();
        assert!(e.contains("not a user's") && !e.contains(&account), "{e}");
        let user = nkeys::KeyPair::new_user().seed().expect("seed");
        let e = ep
            .with_creds(&format!("{seedless}-----BEGIN USER NKEY SEED-----\n{user}\n------END USER NKEY SEED------\n"))
            .expect_err("not a JWT")
            .to_string();
        assert!(e.contains("not a JWT") && !e.contains(&user), "{e}");
    }

    #[test]
    fn secrets_and_nkeys_given_apart_from_the_url() {
        let user = Endpoint::parse("nats://sensor@nats.example").expect("url");
        let e = user.clone().with_secret("pa55").expect("password");
        assert!(matches!(&e.auth, Auth::UserPassword(u, p) if u == "sensor" && p == "pa55"));
        let e = Endpoint::parse("nats://nats.example")
            .expect("url")
            .with_secret("tok")
            .expect("token");
        assert!(matches!(&e.auth, Auth::Token(t) if t == "tok"));
        assert!(user.clone().with_secret("").is_err(), "an empty file");
        let both = Endpoint::parse("nats://u:pw@nats.example")
            .expect("url")
            .with_secret("other");
        assert!(matches!(both, Err(BusError::Credentials(_))));
        let kp = nkeys::KeyPair::new_user();
        let seed = kp.seed().expect("seed");
        let e = Endpoint::parse("nats://nats.example")
            .expect("url")
            .with_nkey_seed(&format!("{seed}\n"))
            .expect("nkey");
        assert!(matches!(&e.auth, Auth::NKey(s) if *s == seed));
        let shown = format!("{e:?} {e}");
        assert!(shown.contains("nkey") && !shown.contains(&seed), "{shown}");
        assert_eq!(e.secrets(), vec![seed.clone()]);
        // With other credentials, a damaged seed, or a seed that is not a user's: refused, the seed never shown.
        assert!(user.with_nkey_seed(&seed).is_err());
        for bad in [&seed[..seed.len() - 3], "SUNOTASEED", ""] {
            let err = Endpoint::parse("nats://nats.example")
                .expect("url")
                .with_nkey_seed(bad)
                .expect_err(bad)
                .to_string();
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
        let account = nkeys::KeyPair::new_account().seed().expect("seed");
        let err = Endpoint::parse("nats://nats.example")
            .expect("url")
            .with_nkey_seed(&account)
            .expect_err("an account seed");
        assert!(err.to_string().contains("not a user's"), "{err}");
    }

    #[test]
    fn redaction_of_plain_text() {
        assert_eq!(redact("nats://a:b@h:1"), "nats://***@h:1");
        assert_eq!(redact("nats://h:1"), "nats://h:1");
        assert_eq!(redact("a:b@c@h"), "***@h");
        assert_eq!(redact("tls://u:p/w@x@h:4222"), "tls://***@h:4222");
    }

    #[test]
    fn scrubbing_replaces_every_secret() {
        let s = scrub(
            &["hunter2".into(), "alice".into()],
            &"alice failed: hunter2",
        );
        assert_eq!(s, "*** failed: ***");
    }

    proptest! {
        /// Whatever the password (escaped or not, with `@`, `:` or `/` in it), neither the redacted URL nor a
        /// parse error shows it.
        #[test]
        fn credentials_never_shown(
            user in "[a-zA-Z0-9._~-]{1,12}",
            pass in "[ -~]{6,24}",
            host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
            port in 1u16..,
            tls in any::<bool>(),
        ) {
            let marker = format!("PW{pass}");
            let scheme = if tls { "tls" } else { "nats" };
            let url = format!("{scheme}://{user}:{marker}@{host}:{port}");
            let shown = redact(&url);
            prop_assert_eq!(&shown, &format!("{scheme}://***@{host}:{port}"));
            match Endpoint::parse(&url) {
                Ok(e) => {
                    prop_assert!(!e.to_string().contains(&marker));
                    let dbg = format!("{:?}", e);
                    prop_assert!(!dbg.contains(&marker));
                }
                Err(err) => prop_assert!(!err.to_string().contains(&marker), "{}", err),
            }
            let escaped: String = marker.bytes().map(|b| format!("%{b:02X}")).collect();
            let e = Endpoint::parse(&format!("{scheme}://{user}:{escaped}@{host}:{port}"));
            prop_assert!(e.is_ok(), "escaped password refused");
            if let Ok(e) = e {
                prop_assert_eq!(e.place(), format!("{scheme}://{host}:{port}"));
                prop_assert!(matches!(&e.auth, Auth::UserPassword(u, p) if u == &user && p == &marker));
            }
        }

        #[test]
        fn redact_never_panics(s in "\\PC{0,64}") {
            let r = redact(&s);
            if let Some(i) = s.rfind('@') {
                prop_assert!(r.ends_with(&s[i + 1..]));
            }
        }
    }
}
