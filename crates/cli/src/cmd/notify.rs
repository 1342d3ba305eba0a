//! Notice delivery on the command line: `vigil channels` (members' e-mail and webhook channels), `vigil deliver`
//! (one delivery round) and `vigil deliveries` (the delivery log). The round itself is
//! `vigil_notify::deliver_round`; this module resolves settings and the time, and prints.
//!
//! Secrets: a webhook's signing secret is read from stdin (`--secret-stdin`) or generated and shown once; the SMTP
//! password comes from vigil.toml (`password` or `password_file`) and is never printed.

use std::collections::HashMap;
use std::io::Read;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::json;
use vigil_store::{DeliveryFilter, NewChannel};

use super::Env;

#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Add a channel for a member: an e-mail address (--to) or a signed webhook (--url).
    Add(ChannelAddArgs),
    /// The members' channels.
    List(ChannelListArgs),
    /// Remove a channel (its delivery log stays).
    Remove(ChannelRemoveArgs),
}

#[derive(Debug, Args)]
pub struct ChannelAddArgs {
    #[arg(long)]
    pub member: i64,
    /// email|webhook
    #[arg(long)]
    pub kind: String,
    /// The e-mail address (kind email): one mailbox.
    #[arg(long)]
    pub to: Option<String>,
    /// The webhook URL (kind webhook): https, or http to a loopback address.
    #[arg(long)]
    pub url: Option<String>,
    /// Read the webhook signing secret from stdin (otherwise one is generated and shown once).
    #[arg(long)]
    pub secret_stdin: bool,
    /// `daily`: one digest message per day instead of one per notice version.
    #[arg(long)]
    pub digest: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ChannelListArgs {
    #[arg(long)]
    pub member: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ChannelRemoveArgs {
    pub id: i64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DeliverArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// Only this member's deliveries.
    #[arg(long)]
    pub member: Option<i64>,
    /// pending|sent|failed|superseded
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long, default_value_t = 200)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

/// The round's time: now, or `VIGIL_NOW` (RFC 3339) to replay a round as of another moment (digests, back-off).
fn now() -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    match std::env::var("VIGIL_NOW") {
        Ok(s) => chrono::DateTime::parse_from_rfc3339(s.trim())
            .map(|d| d.with_timezone(&chrono::Utc))
            .with_context(|| format!("VIGIL_NOW `{s}` is not an RFC 3339 time")),
        Err(_) => Ok(chrono::Utc::now()),
    }
}

pub fn channels(env: &Env, cmd: &ChannelsCommand) -> anyhow::Result<u8> {
    match cmd {
        ChannelsCommand::Add(a) => {
            if env.store.member(a.member)?.is_none() {
                bail!("no member {} (see `vigil members list`)", a.member);
            }
            let target = match (a.kind.as_str(), &a.to, &a.url) {
                ("email", Some(to), None) => to.trim().to_string(),
                ("webhook", None, Some(url)) => url.trim().to_string(),
                ("email", _, _) => bail!("an email channel takes --to ADDRESS (and no --url)"),
                ("webhook", _, _) => bail!("a webhook channel takes --url URL (and no --to)"),
                (k, _, _) => bail!("unknown channel kind `{k}` (email or webhook)"),
            };
            if a.secret_stdin && a.kind != "webhook" {
                bail!("--secret-stdin is for webhooks");
            }
            let (secret, generated) = if a.kind == "webhook" {
                if a.secret_stdin {
                    let mut s = String::new();
                    std::io::stdin()
                        .take(4096)
                        .read_to_string(&mut s)
                        .context("reading the secret from stdin")?;
                    (Some(s.trim().to_string()), false)
                } else {
                    (Some(vigil_notify::generate_secret()), true)
                }
            } else {
                (None, false)
            };
            vigil_notify::validate_channel(
                &a.kind,
                &target,
                secret.as_deref(),
                a.digest.as_deref(),
            )?;
            let rec = env.store.add_channel(&NewChannel {
                member_id: a.member,
                kind: a.kind.clone(),
                target,
                secret: secret.clone(),
                digest: a.digest.clone(),
            })?;
            super::members::audit(env).record(
                "cli",
                "channels.add",
                &format!("channel-{}", rec.id),
                json!({"member": rec.member_id, "kind": rec.kind, "digest": rec.digest}),
            );
            let shown = if generated { secret } else { None };
            if a.json {
                let mut v = serde_json::to_value(&rec)?;
                if let Some(s) = &shown {
                    v["secret"] = json!(s);
                }
                crate::output::json(&v)?;
            } else {
                println!(
                    "channel {} added for member {}: {} {}{}",
                    rec.id,
                    rec.member_id,
                    rec.kind,
                    rec.target,
                    rec.digest
                        .as_deref()
                        .map(|d| format!(" ({d} digest)"))
                        .unwrap_or_default()
                );
                if let Some(s) = shown {
                    println!("signing secret (shown once; give it to the receiver): {s}");
                }
            }
            Ok(0)
        }
        ChannelsCommand::List(a) => {
            let list = env.store.channels(a.member)?;
            if a.json {
                crate::output::json(&list)?;
            } else if list.is_empty() {
                println!("no channels");
            } else {
                for c in &list {
                    println!(
                        "{:>4}  member {:>3}  {:<7} {:<50} {}",
                        c.id,
                        c.member_id,
                        c.kind,
                        c.target,
                        c.digest.as_deref().unwrap_or("immediate")
                    );
                }
            }
            Ok(0)
        }
        ChannelsCommand::Remove(a) => {
            if !env.store.remove_channel(a.id)? {
                bail!("no channel {}", a.id);
            }
            super::members::audit(env).record(
                "cli",
                "channels.remove",
                &format!("channel-{}", a.id),
                json!({}),
            );
            if a.json {
                crate::output::json(&json!({"removed": a.id}))?;
            } else {
                println!("channel {} removed", a.id);
            }
            Ok(0)
        }
    }
}

/// The configured relay, or None with the reason on stderr: e-mail deliveries then fail and are retried, and
/// webhooks still go out.
fn smtp(env: &Env) -> Option<vigil_notify::SmtpConfig> {
    let c = env.settings.smtp.clone()?;
    match c.resolve() {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("vigil: {e}; e-mail channels are not served this round");
            None
        }
    }
}

/// One delivery round for `vigil serve`'s scheduler; what happened goes to the log.
pub fn deliver_in_background(env: &Env) {
    let smtp = smtp(env);
    let now = match now() {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "delivery");
            return;
        }
    };
    match vigil_notify::deliver_round(&*env.store, smtp.as_ref(), &env.settings.delivery, now) {
        Ok(rep) => {
            if rep.attempted > 0 || rep.queued > 0 {
                tracing::info!(
                    queued = rep.queued,
                    sent = rep.messages_sent,
                    delivered = rep.delivered,
                    retrying = rep.retrying,
                    failed = rep.failed,
                    "notice delivery round"
                );
            }
            for f in &rep.failures {
                tracing::warn!(channel = f.channel, member = f.member, kind = %f.kind, attempt = f.attempt, error = %f.error, "delivery failed");
            }
        }
        Err(e) => tracing::warn!(error = %e, "delivery round"),
    }
}

pub fn deliver(env: &Env, a: &DeliverArgs) -> anyhow::Result<u8> {
    let smtp = smtp(env);
    let rep =
        vigil_notify::deliver_round(&*env.store, smtp.as_ref(), &env.settings.delivery, now()?)?;
    if a.json {
        crate::output::json(&rep)?;
    } else {
        println!(
            "{} queued, {} due: {} message(s) sent carrying {} deliveries, {} to retry, {} failed",
            rep.queued, rep.attempted, rep.messages_sent, rep.delivered, rep.retrying, rep.failed
        );
        for f in &rep.failures {
            eprintln!(
                "  channel {} (member {}, {}) attempt {}: {}{}",
                f.channel,
                f.member,
                f.kind,
                f.attempt,
                f.error,
                f.next_attempt
                    .as_deref()
                    .map(|n| format!("; next attempt {n}"))
                    .unwrap_or_else(|| "; given up (see `vigil deliveries --status failed`)".into())
            );
        }
    }
    Ok(if rep.failures.is_empty() { 0 } else { 1 })
}

pub fn deliveries(env: &Env, a: &DeliveriesArgs) -> anyhow::Result<u8> {
    if let Some(s) = &a.status {
        if !["pending", "sent", "failed", "superseded"].contains(&s.as_str()) {
            bail!("unknown status `{s}` (pending, sent, failed, superseded)");
        }
    }
    let log = env.store.deliveries(&DeliveryFilter {
        member: a.member,
        status: a.status.clone(),
        limit: Some(a.limit),
    })?;
    let channels: HashMap<i64, (String, String)> = env
        .store
        .channels(None)?
        .into_iter()
        .map(|c| (c.id, (c.kind, c.target)))
        .collect();
    if a.json {
        let rows: Vec<serde_json::Value> = log
            .iter()
            .map(|d| {
                let mut v = serde_json::to_value(d).unwrap_or_default();
                if let Some((k, t)) = channels.get(&d.channel_id) {
                    v["channel_kind"] = json!(k);
                    v["channel_target"] = json!(t);
                }
                v
            })
            .collect();
        crate::output::json(&rows)?;
    } else if log.is_empty() {
        println!("no deliveries");
    } else {
        for d in &log {
            let (k, t) = channels
                .get(&d.channel_id)
                .map(|(k, t)| (k.as_str(), t.as_str()))
                .unwrap_or(("removed", ""));
            println!(
                "{:>5}  member {:>3}  channel {:>3} {:<7} {:<30} notice {} v{}  {:<10} attempts {}  {}{}",
                d.id,
                d.member_id,
                d.channel_id,
                k,
                t,
                d.notice_id,
                d.notice_version,
                d.status,
                d.attempts,
                d.sent_at.as_deref().or(d.next_attempt_at.as_deref()).unwrap_or(""),
                d.last_error.as_deref().map(|e| format!("  last error: {e}")).unwrap_or_default()
            );
        }
    }
    Ok(0)
}
