//! `vigil ml summarize`: a plain-language summary of a report from a self-hosted, OpenAI-compatible LLM endpoint
//! (llama.cpp's server, vLLM, Ollama, LocalAI...). Off unless an endpoint is named: Vigil sends nothing anywhere by
//! default, no other command uses it, and no test needs a model. The summary is labelled machine-generated; the
//! techniques Vigil's own tagger found go along as hints, so the summary and `vigil ml tag` can be read together.
//!
//! What leaves the machine is bounded twice: a report marked above `--tlp-max` (default TLP:AMBER) is refused
//! before any connection, and only the first `--max-chars` characters of its text are sent. The API key comes from
//! the environment only (a flag would show in process lists) and never appears in output or errors.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};
use vigil_model::Tlp;

use super::{load_attributor, load_tagger, out, read_input, report_text};
use crate::args::Cli;

#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// The report (text, Markdown or HTML; `-` for stdin).
    pub file: String,
    /// Base URL of an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (the request goes to
    /// <url>/chat/completions). Without it nothing is sent. The key, if the endpoint needs one: VIGIL_LLM_API_KEY.
    #[arg(long, env = "VIGIL_LLM_URL")]
    pub llm_url: Option<String>,
    /// The model name the endpoint serves.
    #[arg(long, env = "VIGIL_LLM_MODEL", default_value = "default")]
    pub llm_model: String,
    /// Refuse reports marked above this TLP level (clear, green, amber, amber+strict, red). The level is the
    /// highest TLP label written in the text; `--tlp` states it for an unmarked report (default: amber, as for
    /// unmarked objects in the store).
    #[arg(long, default_value = "amber")]
    pub tlp_max: String,
    /// The report's TLP level when its text carries no TLP label.
    #[arg(long, default_value = "amber")]
    pub tlp: String,
    /// Characters of report text sent at most (the rest is left out and `truncated` says so).
    #[arg(long, default_value_t = 24_000)]
    pub max_chars: usize,
    /// Seconds to wait for the endpoint's answer.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Directory holding the model artifacts (as `vigil ml --models`).
    #[arg(long, env = "VIGIL_ML_MODELS")]
    pub models: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// The most restrictive TLP label written in a text (`TLP:RED`, `TLP: AMBER+STRICT`, `tlp:white`...).
pub(crate) fn tlp_in_text(text: &str) -> Option<Tlp> {
    let up = text.to_ascii_uppercase();
    let mut best: Option<Tlp> = None;
    let mut from = 0;
    while let Some(i) = up[from..].find("TLP") {
        let at = from + i + 3;
        from = at;
        let rest = up[at..].trim_start_matches([':', ' ']);
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic() || matches!(c, '+' | '-' | '_'))
            .take(16)
            .collect();
        // `AMBER+STRICT` first, then the plain word (`RED.` or `AMBER,` end at the punctuation).
        if let Some(t) =
            Tlp::parse(&word).or_else(|| Tlp::parse(word.trim_end_matches(['-', '_', '+'])))
        {
            best = best.max(Some(t));
        }
    }
    best
}

/// Scheme, host and port of an endpoint: what output and errors may name (never a path's token or a userinfo).
fn endpoint_name(u: &url::Url) -> String {
    match u.port() {
        Some(p) => format!("{}://{}:{p}", u.scheme(), u.host_str().unwrap_or("")),
        None => format!("{}://{}", u.scheme(), u.host_str().unwrap_or("")),
    }
}

const SYSTEM_PROMPT: &str = "You help an analyst at a European public-sector CSIRT with little time. Summarise the \
threat report you are given in plain language, in at most 200 words, under four headings: What happened; Who is \
behind it (actor, malware, only if the report names them); What to look for (the most useful indicators or \
behaviours); What to do now. Use only facts in the report; say so when the report does not tell. The ATT&CK \
techniques listed before the report were tagged by a machine and may be wrong.";

pub fn summarize(cli: &Cli, a: &SummarizeArgs) -> anyhow::Result<u8> {
    let Some(raw_url) = a.llm_url.as_deref().filter(|u| !u.trim().is_empty()) else {
        bail!(
            "no LLM endpoint configured: pass --llm-url (or set VIGIL_LLM_URL) to a self-hosted OpenAI-compatible \
             endpoint; Vigil sends report text nowhere by default"
        );
    };
    let base =
        url::Url::parse(raw_url.trim()).with_context(|| "--llm-url is not a URL".to_string())?;
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        bail!("--llm-url must be an http(s) URL with a host");
    }
    if !base.username().is_empty() || base.password().is_some() {
        bail!("--llm-url must not carry credentials: put the key in VIGIL_LLM_API_KEY");
    }
    let max = Tlp::parse(&a.tlp_max)
        .with_context(|| format!("--tlp-max {:?}: not a TLP level", a.tlp_max))?;
    let stated =
        Tlp::parse(&a.tlp).with_context(|| format!("--tlp {:?}: not a TLP level", a.tlp))?;
    let bytes = read_input(&a.file)?;
    let text = report_text(&bytes, &a.file)?;
    let marked = tlp_in_text(&text);
    let tlp = marked.unwrap_or(stated);
    if tlp > max {
        bail!(
            "{}: the report is {} ({}), above --tlp-max {}: not sent to the LLM endpoint",
            a.file,
            tlp.label(),
            if marked.is_some() {
                "marked in its text"
            } else {
                "stated with --tlp"
            },
            max.label()
        );
    }
    let sent: String = text.chars().take(a.max_chars).collect();
    let truncated = sent.len() < text.len();

    // Vigil's own reading of the report goes along as hints (and comes back in the JSON beside the summary).
    let tagger = load_tagger(cli, &a.models)?;
    let names = load_attributor(cli, &a.models).ok();
    let techniques: Vec<(String, String)> = tagger
        .tag(&text)
        .techniques
        .iter()
        .map(|t| {
            let name = names
                .as_ref()
                .and_then(|n| n.technique_name(&t.id))
                .unwrap_or("")
                .to_string();
            (t.id.clone(), name)
        })
        .collect();
    let mut user = String::new();
    if !techniques.is_empty() {
        user.push_str("ATT&CK techniques tagged by Vigil (machine-generated):\n");
        for (id, name) in &techniques {
            user.push_str(&format!("- {id} {name}\n"));
        }
        user.push('\n');
    }
    user.push_str(if truncated {
        "Report (first part only):\n"
    } else {
        "Report:\n"
    });
    user.push_str(&sent);
    let body = json!({
        "model": a.llm_model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user},
        ],
    });

    let endpoint = endpoint_name(&base);
    let target = format!("{}/chat/completions", base.as_str().trim_end_matches('/'));
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(a.timeout.max(1)))
        .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let mut req = client
        .post(&target)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Ok(key) = std::env::var("VIGIL_LLM_API_KEY") {
        if !key.is_empty() {
            req = req.bearer_auth(key);
        }
    }
    // `without_url`: a reqwest error would otherwise print the whole URL.
    let resp = req
        .send()
        .map_err(|e| anyhow::anyhow!("LLM endpoint {endpoint}: {}", e.without_url()))?;
    let status = resp.status();
    // Bounded while reading: a summary is a few KB, and a misbehaving endpoint must not fill the memory.
    const MAX_REPLY: u64 = 16 << 20;
    let mut raw = Vec::new();
    resp.take(MAX_REPLY + 1)
        .read_to_end(&mut raw)
        .map_err(|e| anyhow::anyhow!("LLM endpoint {endpoint}: reading the answer: {e}"))?;
    if raw.len() as u64 > MAX_REPLY {
        bail!(
            "LLM endpoint {endpoint}: the answer is larger than {} MiB",
            MAX_REPLY >> 20
        );
    }
    let reply = String::from_utf8_lossy(&raw).into_owned();
    if !status.is_success() {
        let clip: String = reply.chars().take(300).collect();
        bail!("LLM endpoint {endpoint} answered HTTP {status}: {clip}");
    }
    let v: Value = serde_json::from_str(&reply)
        .with_context(|| format!("LLM endpoint {endpoint}: the answer is not JSON"))?;
    let Some(summary) = v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        bail!("LLM endpoint {endpoint}: the answer has no choices[0].message.content (not an OpenAI-compatible chat completion?)");
    };
    let model = v
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(&a.llm_model)
        .to_string();
    if a.json {
        crate::output::json(&json!({
            "summary": summary,
            "machine_generated": true,
            "model": model,
            "endpoint": endpoint,
            "tlp": tlp.as_str(),
            "input_chars": text.chars().count(),
            "sent_chars": sent.chars().count(),
            "truncated": truncated,
            "techniques": techniques.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        }))?;
    } else {
        out!("Summary by {model} at {endpoint} (machine-generated: check it against the report before acting)");
        if truncated {
            out!(
                "(only the first {} of {} characters were sent)",
                sent.chars().count(),
                text.chars().count()
            );
        }
        out!("");
        out!("{summary}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlp_labels_in_text() {
        assert_eq!(tlp_in_text("no marking here"), None);
        assert_eq!(tlp_in_text("TLP:GREEN report"), Some(Tlp::Green));
        assert_eq!(
            tlp_in_text("Shared as tlp: amber+strict."),
            Some(Tlp::AmberStrict)
        );
        assert_eq!(
            tlp_in_text("TLP:CLEAR header ... one annex is TLP:RED."),
            Some(Tlp::Red)
        );
        assert_eq!(tlp_in_text("TLP:WHITE, TLP:AMBER,"), Some(Tlp::Amber));
        assert_eq!(tlp_in_text("TLPxyz TLP: TLP"), None);
        // multi-byte text around and inside the label, and a label cut off at the end
        assert_eq!(
            tlp_in_text("Bericht für Behörden — TLP:ÄMBER, TLP:GRÜN"),
            None
        );
        assert_eq!(
            tlp_in_text("Отчёт TLP:AMBER+STRICT ✓ tlp:"),
            Some(Tlp::AmberStrict)
        );
    }

    #[test]
    fn endpoint_names_leave_out_paths_and_keys() {
        let u = url::Url::parse("http://127.0.0.1:8080/v1?key=secret").expect("url");
        assert_eq!(endpoint_name(&u), "http://127.0.0.1:8080");
        let u = url::Url::parse("https://llm.example.eu/openai/v1").expect("url");
        assert_eq!(endpoint_name(&u), "https://llm.example.eu");
    }
}
