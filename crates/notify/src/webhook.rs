//! Signed webhooks: a JSON POST with `X-Vigil-Timestamp`, `X-Vigil-Signature` (see [`crate::sign`]),
//! `X-Vigil-Delivery` and `X-Vigil-TLP`, over the same HTTP client as `vigil-feeds` (reqwest blocking, rustls).
//! Redirects are not followed (a signed notice goes where the member said, nowhere else); any answer but 2xx is a
//! failure to retry.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::blocking::Client;
use url::Url;

use crate::message::Message;
use crate::NotifyError;

/// True for `localhost` and loopback addresses (127.0.0.0/8, ::1).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// A webhook URL must be HTTPS, or plain HTTP to a loopback address, and carry no user information.
pub fn check_url(s: &str) -> Result<Url, NotifyError> {
    let u = Url::parse(s.trim())
        .map_err(|e| NotifyError::Channel(format!("`{s}` is not a URL: {e}")))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err(NotifyError::Channel(
            "a webhook URL must not carry credentials (the signature authenticates Vigil)".into(),
        ));
    }
    let host = u.host_str().unwrap_or("");
    match u.scheme() {
        "https" if !host.is_empty() => Ok(u),
        "http" if is_loopback_host(host) => Ok(u),
        "http" => Err(NotifyError::Channel(format!(
            "webhook {} must use https (plain http only to a loopback address)",
            redact(&u)
        ))),
        other => Err(NotifyError::Channel(format!(
            "webhook scheme `{other}` is not http(s)"
        ))),
    }
}

/// A URL as it may appear in logs and errors: no query or fragment (they can hold tokens).
pub fn redact(u: &Url) -> String {
    let mut r = u.clone();
    if r.query().is_some() {
        r.set_query(Some("…"));
    }
    r.set_fragment(None);
    r.to_string()
}

/// The client of one round.
pub struct Hooks {
    client: Client,
}

impl Hooks {
    pub fn new(timeout: Duration) -> Result<Hooks, NotifyError> {
        let client = Client::builder()
            .user_agent(concat!("vigil-notify/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifyError::Config(format!("HTTP client: {e}")))?;
        Ok(Hooks { client })
    }

    /// Posts one message, signed with the channel's secret at the current time.
    pub fn send(&self, url: &str, secret: &str, msg: &Message) -> Result<(), String> {
        let u = check_url(url).map_err(|e| e.to_string())?;
        let body = serde_json::to_vec(&msg.json()).map_err(|e| format!("encoding: {e}"))?;
        // The receiver compares this with its own clock, so it is the real time, not the round's `now`.
        let ts = chrono::Utc::now().timestamp();
        let sig = crate::sign::sign(secret.as_bytes(), ts, &body);
        let resp = self
            .client
            .post(u.clone())
            .header("Content-Type", "application/json")
            .header("X-Vigil-Timestamp", ts.to_string())
            .header("X-Vigil-Signature", sig)
            .header("X-Vigil-Delivery", msg.id.as_str())
            .header("X-Vigil-TLP", msg.tlp().label())
            .body(body)
            .send()
            .map_err(|e| {
                // reqwest's error text includes the URL with its query; say the redacted one instead.
                let kind = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "request failed"
                };
                // The innermost cause (`Connection refused`, ...) carries no URL.
                let mut cause: &dyn std::error::Error = &e;
                while let Some(next) = cause.source() {
                    cause = next;
                }
                format!("webhook {}: {kind}: {cause}", redact(&u))
            })?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("webhook {} answered {status}", redact(&u)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("https://cert.example.gov/vigil").is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_url("http://[::1]:8080/hook").is_ok());
        assert!(check_url("http://localhost/hook").is_ok());
        assert!(check_url("http://cert.example.gov/hook").is_err());
        assert!(check_url("https://user:pw@cert.example.gov/hook").is_err());
        assert!(check_url("ftp://cert.example.gov/").is_err());
        assert!(check_url("not a url").is_err());
        let u = Url::parse("https://h.example/p?token=abc#x").expect("url");
        assert!(!redact(&u).contains("abc"));
    }
}
