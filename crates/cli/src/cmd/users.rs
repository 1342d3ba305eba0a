//! `vigil users`: people who log in to the dashboard with a user name and password, on behalf of a member. The
//! password is read from standard input (never from an argument, which `ps` and shell histories would show),
//! stored only as an Argon2id hash and never printed or logged. Every change goes to the audit log.

use std::io::Read;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::json;
use vigil_server::policy::Role;

use super::members::{audit, ensure_operator};
use super::Env;

/// Shortest password accepted: long enough that the per-address rate limit makes guessing hopeless.
const MIN_PASSWORD: usize = 10;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a dashboard user for a member; the password comes from standard input.
    Add(UserAddArgs),
    /// Dashboard users (never their password hashes).
    List(UserListArgs),
    /// Remove a user; their open sessions end at once.
    Remove(UserRemoveArgs),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    #[arg(long)]
    pub member: i64,
    /// Login name (unique, case-insensitive).
    #[arg(long)]
    pub name: String,
    /// admin|analyst|member
    #[arg(long)]
    pub role: String,
    /// Display name (default: the login name).
    #[arg(long)]
    pub display_name: Option<String>,
    /// Read the password from standard input (its first line).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UserListArgs {
    #[arg(long)]
    pub member: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UserRemoveArgs {
    /// The login name.
    pub name: String,
    #[arg(long)]
    pub json: bool,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

pub fn run(env: &Env, cmd: &UsersCommand) -> anyhow::Result<u8> {
    ensure_operator(env)?;
    match cmd {
        UsersCommand::Add(a) => {
            let Some(role) = Role::parse(&a.role) else {
                bail!("unknown role `{}` (admin, analyst, member)", a.role)
            };
            let name = a.name.trim();
            if !valid_name(name) {
                bail!("--name must be 1 to 64 letters, digits, `.`, `_`, `-` or `@`");
            }
            let Some(m) = env.store.member(a.member)? else {
                bail!("no member {} (see `vigil members list`)", a.member)
            };
            if env.store.user_by_name(name)?.is_some() {
                bail!("a user named `{name}` exists already (`vigil users remove {name}` first)");
            }
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("reading the password from standard input")?;
            let password = input.lines().next().unwrap_or("").to_string();
            if password.chars().count() < MIN_PASSWORD {
                bail!("the password must have at least {MIN_PASSWORD} characters");
            }
            let hash = vigil_server::web::hash_password(&password)?;
            let display = a.display_name.as_deref().unwrap_or(name);
            let u = env
                .store
                .add_user(m.id, name, display, role.as_str(), &hash)?;
            audit(env).record(
                "cli",
                "users.add",
                &format!("user-{}", u.username),
                json!({"member": m.id, "role": role.as_str()}),
            );
            if a.json {
                crate::output::json(
                    &json!({"id": u.id, "name": u.username, "member": m.id, "role": u.role}),
                )?;
            } else {
                println!(
                    "user {} added for member {} ({}), role {}; log in at /ui/ of `vigil serve`",
                    u.username,
                    m.id,
                    m.name,
                    role.as_str()
                );
            }
            Ok(0)
        }
        UsersCommand::List(a) => {
            let users = env.store.users(a.member)?;
            if a.json {
                crate::output::json(&users)?;
            } else {
                for u in users {
                    println!(
                        "{:>4}  {:<20} member {:<4} {:<8} last login {}",
                        u.id,
                        u.username,
                        u.member_id,
                        u.role,
                        u.last_login.as_deref().unwrap_or("never")
                    );
                }
            }
            Ok(0)
        }
        UsersCommand::Remove(a) => {
            let removed = env.store.remove_user(a.name.trim())?;
            if removed {
                audit(env).record(
                    "cli",
                    "users.remove",
                    &format!("user-{}", a.name.trim()),
                    json!({}),
                );
            }
            if a.json {
                crate::output::json(&json!({"removed": removed}))?;
            } else if removed {
                println!("user {} removed; their sessions have ended", a.name.trim());
            } else {
                eprintln!("vigil: no user named `{}`", a.name.trim());
            }
            Ok(if removed { 0 } else { 1 })
        }
    }
}
