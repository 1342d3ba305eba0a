//! `vigil members`, `vigil tokens`, `vigil share`, `vigil inbox`, `vigil policy`: the programme's membership,
//! API tokens, explicit sharing beyond GREEN and review of what members post, administered from the command line.
//! Every change is written to the audit log.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::json;
use vigil_server::audit::Audit;
use vigil_server::policy::{check_kind, Eligibility, Role, DEFAULT_POLICY};
use vigil_store::Member;

use super::Env;

#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Enrol a public body of an eligible jurisdiction (see `vigil policy list`).
    Add(MemberAddArgs),
    /// The members, the operator's organisation first.
    List(JsonOnly),
}

#[derive(Debug, Args)]
pub struct JsonOnly {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MemberAddArgs {
    #[arg(long)]
    pub name: String,
    /// ISO 3166-1 alpha-2 country code.
    #[arg(long)]
    pub country: String,
    /// csirt|ministry|agency|regulator
    #[arg(long)]
    pub kind: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Mint an API token for a member; it is shown once and stored only as a slow hash.
    Create(TokenCreateArgs),
    /// Tokens (never their secrets).
    List(TokenListArgs),
    /// Revoke a token at once (a running server sees it on the next request).
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    #[arg(long)]
    pub member: i64,
    /// admin|analyst|member
    #[arg(long)]
    pub role: String,
    /// Lifetime: 90d, 12h, 30m or never.
    #[arg(long, default_value = "90d")]
    pub expires: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TokenListArgs {
    #[arg(long)]
    pub member: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    pub id: i64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShareArgs {
    /// The STIX id of an object in the knowledge base.
    pub object_id: String,
    /// The member to share it with (repeatable).
    #[arg(long = "with", required = true)]
    pub with: Vec<i64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// Copy an object a member posted into the knowledge base (a new version; shared by its own TLP marking).
    Promote(PromoteArgs),
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    pub object_id: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// The eligible jurisdictions: the shipped policy and the administrator's additions.
    List(JsonOnly),
    /// Add a jurisdiction (ISO 3166-1 alpha-2), e.g. XK.
    Add(PolicyEditArgs),
    /// Remove a jurisdiction the administrator added.
    Remove(PolicyEditArgs),
}

#[derive(Debug, Args)]
pub struct PolicyEditArgs {
    pub country: String,
    /// Why (kept with the addition).
    #[arg(long, default_value = "")]
    pub note: String,
    #[arg(long)]
    pub json: bool,
}

/// The policy in force: shipped list + `[eligibility] extra` + `vigil policy add`.
pub fn eligibility(env: &Env) -> anyhow::Result<Eligibility> {
    Ok(Eligibility::new(
        env.settings
            .eligibility
            .extra
            .iter()
            .cloned()
            .chain(env.store.eligibility_extra()?),
    ))
}

/// The operator's organisation: created as member 1 on first use.
pub fn ensure_operator(env: &Env) -> anyhow::Result<Member> {
    if let Some(m) = env.store.operator_member()? {
        return Ok(m);
    }
    // "EU" is the ISO 3166-1 exceptionally reserved code for the Union: the operator runs the programme itself.
    let m = env
        .store
        .add_member(&env.settings.operator, "EU", "csirt", true)
        .context("creating the operator's member record")?;
    audit(env).record(
        "cli",
        "members.add-operator",
        &format!("member-{}", m.id),
        json!({"name": m.name}),
    );
    Ok(m)
}

pub fn audit(env: &Env) -> Audit {
    Audit::new(&env.data)
}

pub fn members(env: &Env, cmd: &MembersCommand) -> anyhow::Result<u8> {
    ensure_operator(env)?;
    match cmd {
        MembersCommand::Add(a) => {
            let policy = eligibility(env)?;
            let cc = match policy.check(&a.country) {
                Ok(cc) => cc,
                Err(e) => {
                    eprintln!("vigil: refused: {e}");
                    return Ok(3);
                }
            };
            let kind = match check_kind(&a.kind) {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("vigil: refused: {e}");
                    return Ok(3);
                }
            };
            if a.name.trim().is_empty() {
                bail!("--name must not be empty");
            }
            let m = env.store.add_member(a.name.trim(), &cc, &kind, false)?;
            audit(env).record(
                "cli",
                "members.add",
                &format!("member-{}", m.id),
                json!({"country": cc, "kind": kind}),
            );
            if a.json {
                crate::output::json(&json!({"id": m.id, "identity_id": m.identity_id}))?;
            } else {
                println!(
                    "member {} enrolled: {} ({}, {}), STIX identity {}",
                    m.id, m.name, m.country, m.kind, m.identity_id
                );
                println!("next: vigil tokens create --member {} --role member", m.id);
            }
            Ok(0)
        }
        MembersCommand::List(a) => {
            let all = env.store.members()?;
            if a.json {
                crate::output::json(&all)?;
            } else {
                for m in all {
                    println!(
                        "{:>4}  {:<2}  {:<10} {}{}",
                        m.id,
                        m.country,
                        m.kind,
                        m.name,
                        if m.operator { "  (operator)" } else { "" }
                    );
                }
            }
            Ok(0)
        }
    }
}

pub fn tokens(env: &Env, cmd: &TokensCommand) -> anyhow::Result<u8> {
    ensure_operator(env)?;
    match cmd {
        TokensCommand::Create(a) => {
            let Some(role) = Role::parse(&a.role) else {
                bail!("unknown role `{}` (admin, analyst, member)", a.role)
            };
            let Some(m) = env.store.member(a.member)? else {
                bail!("no member {} (see `vigil members list`)", a.member)
            };
            let expires =
                vigil_server::tokens::parse_expiry(&a.expires).map_err(anyhow::Error::msg)?;
            let (token, rec) =
                vigil_server::tokens::create(&*env.store, m.id, role, expires.as_deref())?;
            audit(env).record(
                "cli",
                "tokens.create",
                &format!("token-{}", rec.id),
                json!({"member": m.id, "role": role.as_str(), "expires_at": expires}),
            );
            if a.json {
                crate::output::json(
                    &json!({"token": token, "id": rec.id, "member": m.id, "role": role.as_str(), "expires_at": expires}),
                )?;
            } else {
                println!("{token}");
                eprintln!(
                    "token {} for member {} ({}), role {}, expires {}: shown once; keep it in a secret store",
                    rec.id,
                    m.id,
                    m.name,
                    role.as_str(),
                    expires.as_deref().unwrap_or("never")
                );
            }
            Ok(0)
        }
        TokensCommand::List(a) => {
            let all = env.store.tokens(a.member)?;
            if a.json {
                crate::output::json(&all)?;
            } else {
                for t in all {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{:>4}  member {:<4} {:<8} {state:<8} expires {}",
                        t.id,
                        t.member_id,
                        t.role,
                        t.expires_at.as_deref().unwrap_or("never")
                    );
                }
            }
            Ok(0)
        }
        TokensCommand::Revoke(a) => {
            let done = env.store.revoke_token(a.id)?;
            if done {
                audit(env).record(
                    "cli",
                    "tokens.revoke",
                    &format!("token-{}", a.id),
                    json!({}),
                );
            }
            if a.json {
                crate::output::json(&json!({"id": a.id, "revoked": done}))?;
            } else if done {
                println!("token {} revoked", a.id);
            } else {
                println!("token {} does not exist or was already revoked", a.id);
            }
            Ok(if done { 0 } else { 1 })
        }
    }
}

pub fn share(env: &Env, a: &ShareArgs) -> anyhow::Result<u8> {
    ensure_operator(env)?;
    let Some(obj) = env.store.get(&a.object_id)? else {
        bail!("no object {} in the store", a.object_id)
    };
    let mut out = Vec::new();
    for m in &a.with {
        if env.store.member(*m)?.is_none() {
            bail!("no member {m} (see `vigil members list`)");
        }
        let added = env.store.share(&a.object_id, *m)?;
        audit(env).record(
            "cli",
            "share",
            &a.object_id,
            json!({"member": m, "new": added}),
        );
        out.push(json!({"member": m, "new": added}));
    }
    let tlp = obj.tlp.unwrap_or(env.settings.default_tlp);
    if a.json {
        crate::output::json(&json!({"object": a.object_id, "tlp": tlp, "shared": out}))?;
    } else {
        println!(
            "{} (TLP:{}) shared with member(s) {:?}",
            a.object_id,
            tlp.as_str().to_uppercase(),
            a.with
        );
        if tlp <= vigil_model::Tlp::Green {
            println!(
                "note: at TLP:{} every member sees it anyway",
                tlp.as_str().to_uppercase()
            );
        }
    }
    Ok(0)
}

pub fn inbox(env: &Env, cmd: &InboxCommand) -> anyhow::Result<u8> {
    match cmd {
        InboxCommand::Promote(a) => {
            let Some(member) = env.store.inbox_promote(&a.object_id)? else {
                bail!("no inbox holds {}", a.object_id)
            };
            audit(env).record(
                "cli",
                "inbox.promote",
                &a.object_id,
                json!({"from_member": member}),
            );
            if a.json {
                crate::output::json(&json!({"object": a.object_id, "from_member": member}))?;
            } else {
                println!(
                    "{} promoted from member {member}'s inbox into the knowledge base",
                    a.object_id
                );
            }
            Ok(0)
        }
    }
}

pub fn policy(env: &Env, cmd: &PolicyCommand) -> anyhow::Result<u8> {
    match cmd {
        PolicyCommand::List(a) => {
            let p = eligibility(env)?;
            if a.json {
                let cats: Vec<_> = DEFAULT_POLICY
                    .iter()
                    .map(|(c, codes)| json!({"category": c, "countries": codes}))
                    .collect();
                crate::output::json(&json!({"policy": cats, "added": p.extra}))?;
            } else {
                for (c, codes) in DEFAULT_POLICY {
                    println!("{c:<26} {}", codes.join(" "));
                }
                println!(
                    "{:<26} {}",
                    "added by the administrator",
                    if p.extra.is_empty() {
                        "-".to_string()
                    } else {
                        p.extra.join(" ")
                    }
                );
            }
            Ok(0)
        }
        PolicyCommand::Add(a) | PolicyCommand::Remove(a) => {
            let cc = a.country.trim().to_ascii_uppercase();
            if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase()) {
                bail!("`{}` is not an ISO 3166-1 alpha-2 code", a.country);
            }
            let add = matches!(cmd, PolicyCommand::Add(_));
            let changed = if add {
                env.store.add_eligible(&cc, &a.note)?
            } else {
                env.store.remove_eligible(&cc)?
            };
            audit(env).record(
                "cli",
                if add { "policy.add" } else { "policy.remove" },
                &cc,
                json!({"note": a.note, "changed": changed}),
            );
            if a.json {
                crate::output::json(&json!({"country": cc, "changed": changed}))?;
            } else {
                println!(
                    "{cc} {}",
                    if add {
                        "added to the eligibility policy"
                    } else {
                        "removed from the administrator's additions"
                    }
                );
            }
            Ok(0)
        }
    }
}

/// `--share-with` on ingest: everything at AMBER or above that this run added.
pub fn share_after_ingest(env: &Env, before_seq: i64, members: &[i64]) -> anyhow::Result<()> {
    for m in members {
        if env.store.member(*m)?.is_none() {
            bail!("no member {m} (see `vigil members list`)");
        }
        let n = env
            .store
            .share_added_since(before_seq, *m, env.settings.default_tlp)?;
        audit(env).record(
            "cli",
            "share.ingest",
            &format!("member-{m}"),
            json!({"objects": n}),
        );
        eprintln!("shared {n} objects at TLP:AMBER or above with member {m}");
    }
    Ok(())
}
