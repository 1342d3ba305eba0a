//! Sightings over NATS JetStream: `vigil hunt --publish` sends one report per indicator from a sensor (which needs
//! no store and no database credentials); `vigil sightings pull` (and `vigil serve --nats`) at the central
//! knowledge base records them through the same `record_sightings` as `vigil hunt --record`, and acknowledges a
//! message only after the store has committed it. A crash between the two redelivers the message, and recording
//! it again stores nothing new (sighting ids are derived from their content).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;
use vigil_bus::{sightings, Bus, ConsumerSpec, Delivery, Endpoint, Options, Outgoing, StreamSpec};
use vigil_hunt::report::{Aggregate, SightingReport};
use vigil_model::Tlp;

use super::hunt::{record_sightings, Recorded};
use super::Env;

/// Where the stream is, for both ends.
#[derive(Debug, Clone, Args)]
pub struct BusArgs {
    /// The JetStream stream of sighting reports (created when missing).
    #[arg(long = "stream", env = "VIGIL_NATS_STREAM", default_value = sightings::STREAM)]
    pub stream: String,
    /// PEM file of the CA that signed the NATS server's certificate (tls://; default: the system's roots).
    #[arg(long, env = "VIGIL_NATS_CA")]
    pub nats_ca: Option<PathBuf>,
    /// The subjects' prefix: reports go to `PREFIX.<member id>` (or `PREFIX.operator`), which NATS permissions
    /// can grant a sensor one by one.
    #[arg(long, env = "VIGIL_NATS_SUBJECT_PREFIX", default_value = sightings::PREFIX)]
    pub subject_prefix: String,
    /// File holding the NATS password of the user the URL names (`nats://sensor@host`), or a token when it names
    /// none: no secret in the process list or the shell history.
    #[arg(long, env = "VIGIL_NATS_PASSWORD_FILE", value_name = "FILE")]
    pub nats_password_file: Option<PathBuf>,
    /// File holding the NATS user's NKey seed (`SU...`, as `nk -gen user` writes it): the server knows only the
    /// public key, and no secret crosses the network.
    #[arg(long, env = "VIGIL_NATS_NKEY_FILE", value_name = "FILE")]
    pub nats_nkey_file: Option<PathBuf>,
    /// A NATS `.creds` file (operator mode: the user JWT its account signed and the user's seed, as
    /// `nsc generate creds` writes it); checked before connecting (whole, one user's, not expired).
    #[arg(long, env = "VIGIL_NATS_CREDS_FILE", value_name = "FILE")]
    pub nats_creds_file: Option<PathBuf>,
}

impl BusArgs {
    /// The server `url` names, logging in with what the URL and the credential files give.
    pub fn endpoint(&self, url: &str) -> anyhow::Result<Endpoint> {
        let mut ep = Endpoint::parse(url)?;
        if let Some(f) = &self.nats_password_file {
            ep = ep
                .with_secret(&read_secret(f)?)
                .with_context(|| format!("--nats-password-file {}", f.display()))?;
        }
        if let Some(f) = &self.nats_nkey_file {
            ep = ep
                .with_nkey_seed(&read_secret(f)?)
                .with_context(|| format!("--nats-nkey-file {}", f.display()))?;
        }
        if let Some(f) = &self.nats_creds_file {
            ep = ep
                .with_creds(&read_secret_file(f)?)
                .with_context(|| format!("--nats-creds-file {}", f.display()))?
                .reread_from(f.clone());
            warn_if_expiring(&ep, f, chrono::Utc::now().timestamp());
        }
        Ok(ep)
    }
}

/// Says so on stderr when the `.creds` file's user JWT expires within two weeks: a sensor's cron job would start
/// failing, and a running `vigil serve --nats` would lose NATS until the file is renewed, on that day.
fn warn_if_expiring(ep: &Endpoint, file: &std::path::Path, now: i64) {
    let Some(exp) = ep.credentials_expire() else {
        return;
    };
    let days = (exp - now) / 86_400;
    if days < 14 {
        let when = chrono::DateTime::from_timestamp(exp, 0).map_or_else(
            || exp.to_string(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        );
        eprintln!(
            "vigil: warning: the NATS credentials in {} expire at {when} (in {days} day(s)): ask the account's \
             operator for new ones (nsc generate creds) and put them in that file (a running vigil reads it again \
             when it reconnects)",
            file.display()
        );
    }
}

/// A secret kept in a file: its first line, without the line end (see [`read_secret_file`]).
fn read_secret(path: &std::path::Path) -> anyhow::Result<String> {
    Ok(read_secret_file(path)?
        .lines()
        .next()
        .unwrap_or("")
        .trim_end()
        .to_string())
}

/// A file of NATS credentials, whole (see [`super::read_private_file`]).
fn read_secret_file(path: &std::path::Path) -> anyhow::Result<String> {
    super::read_private_file(path, "the NATS credentials")
}

impl Default for BusArgs {
    fn default() -> Self {
        BusArgs {
            stream: sightings::STREAM.to_string(),
            nats_ca: None,
            subject_prefix: sightings::PREFIX.to_string(),
            nats_password_file: None,
            nats_nkey_file: None,
            nats_creds_file: None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SightingsCommand {
    /// Record the sighting reports sensors published (`vigil hunt --publish`) from NATS JetStream, as
    /// `vigil hunt --record` would; each message is acknowledged once the store has committed it.
    Pull(PullArgs),
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// NATS server: `nats://[user:password@]host:port` or `tls://...` (the environment keeps a password out of
    /// the process list).
    #[arg(long, env = "VIGIL_NATS", value_name = "NATS_URL")]
    pub nats: String,
    #[command(flatten)]
    pub bus: BusArgs,
    /// The durable consumer: where the central's reading stands (one per knowledge base).
    #[arg(long, env = "VIGIL_NATS_DURABLE", default_value = sightings::DURABLE)]
    pub durable: String,
    /// Stop after this many messages (default: when none are left).
    #[arg(long)]
    pub max: Option<usize>,
    /// Seconds to wait for a message when none is waiting, before stopping.
    #[arg(long, default_value_t = 2)]
    pub wait: u64,
    #[arg(long)]
    pub json: bool,
}

fn connect(ep: &Endpoint, b: &BusArgs, name: &str) -> anyhow::Result<Bus> {
    if !sightings::valid_prefix(&b.subject_prefix) {
        anyhow::bail!(
            "--subject-prefix {:?}: dot-separated NATS subject tokens without wildcards expected",
            b.subject_prefix
        );
    }
    let opts = Options {
        name: name.to_string(),
        ca_file: b.nats_ca.clone(),
        ..Options::default()
    };
    Ok(Bus::connect(ep, &opts)?)
}

/// What a publish did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Published {
    /// Reports the stream confirmed.
    pub published: usize,
    /// Of those, already in the stream (same run and indicator published before).
    pub duplicates: usize,
}

/// Publishes one report per indicator on `vigil.sightings.<member or operator>` and waits until the stream has
/// confirmed every one.
pub fn publish(
    ep: &Endpoint,
    b: &BusArgs,
    run: &str,
    sensor: &str,
    member: Option<i64>,
    aggs: Vec<Aggregate>,
) -> anyhow::Result<Published> {
    let subject = sightings::subject(&b.subject_prefix, member);
    let msgs: Vec<Outgoing> = aggs
        .into_iter()
        .map(|g| {
            let r = SightingReport::new(run, sensor, member, g);
            Outgoing {
                subject: subject.clone(),
                msg_id: r.msg_id(),
                payload: r.to_json(),
            }
        })
        .collect();
    let bus = connect(ep, b, &format!("vigil hunt ({sensor})"))?;
    // A sensor's account may publish without the right to manage streams: then the stream must exist already,
    // and the publish below says so if it does not.
    let ensured = bus.ensure_stream(&StreamSpec::sightings(&b.stream, &b.subject_prefix));
    let acks = bus.publish_all(&msgs).map_err(|e| match ensured {
        Err(se) => {
            anyhow::Error::new(e).context(format!("(the stream could not be made either: {se})"))
        }
        Ok(()) => e.into(),
    })?;
    Ok(Published {
        published: acks.len(),
        duplicates: acks.iter().filter(|a| a.duplicate).count(),
    })
}

/// What a pull did (`--json` prints it).
#[derive(Debug, Default, Serialize)]
pub struct PullSummary {
    /// Messages fetched.
    pub received: usize,
    /// Recorded as sightings (new, or the same fact stored already).
    pub recorded: usize,
    /// Of those, sighting objects new to the store.
    pub new: usize,
    /// Refused for good (malformed, unknown member or indicator): acknowledged as terminated.
    pub rejected: usize,
    /// Why, for the first ones.
    pub errors: Vec<String>,
}

const MAX_LISTED_ERRORS: usize = 100;
const BATCH: usize = 256;

/// A message refused for good, with the reason.
struct Rejection {
    reason: String,
}

/// Checks one message against the store: well-formed, its subject is its member's, the member and the indicator
/// exist. The sighting takes the stricter of the sensor's and the store's TLP of the indicator (never below
/// AMBER, as `record_sightings` sees to). `Err` is the store failing, not the message.
fn check(
    env: &Env,
    prefix: &str,
    d: &Delivery,
    members: &mut HashMap<i64, bool>,
) -> anyhow::Result<Result<SightingReport, Rejection>> {
    let reject = |reason: String| Ok(Err(Rejection { reason }));
    let mut r = match SightingReport::from_json(d.payload()) {
        Ok(r) => r,
        Err(e) => return reject(format!("malformed: {e}")),
    };
    // One subject per member lets NATS permissions bind a sensor to its member; a report that names another
    // member than its subject would step around them.
    let want = sightings::subject(prefix, r.member);
    if d.subject() != want {
        return reject(format!(
            "published on {} but names {} (expected subject {want})",
            d.subject(),
            r.member
                .map_or("the operator".to_string(), |m| format!("member {m}"))
        ));
    }
    if let Some(m) = r.member {
        let known = match members.get(&m) {
            Some(k) => *k,
            None => {
                let k = env.store.member(m)?.is_some();
                members.insert(m, k);
                k
            }
        };
        if !known {
            return reject(format!(
                "member {m} is unknown to this knowledge base (sensor {}, run {})",
                r.sensor, r.run
            ));
        }
    }
    let id = &r.sighting.indicator_id;
    // Unknown here means the sensor hunted with another knowledge base's snapshot (or made the id up): a
    // sighting of it would point at nothing an analyst can look at.
    let Some(ind) = env.kb().get(id)? else {
        return reject(format!(
            "indicator {id} ({}) is unknown to this knowledge base (sensor {}, run {}): was the snapshot made here?",
            r.sighting.indicator, r.sensor, r.run
        ));
    };
    let stored: Tlp = ind.tlp.unwrap_or(env.settings.default_tlp);
    r.sighting.tlp = r.sighting.tlp.max(stored);
    Ok(Ok(r))
}

/// Records one fetched batch: rejections are acknowledged as terminated at once; the rest are recorded per
/// member in one transaction each and acknowledged after it commits. A store failure leaves that member's
/// messages to come again (after `retry`) and ends the batch with the error.
fn record_batch(
    env: &Env,
    prefix: &str,
    batch: &[Delivery],
    sum: &mut PullSummary,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let mut members = HashMap::new();
    let mut good: BTreeMap<Option<i64>, Vec<(&Delivery, SightingReport)>> = BTreeMap::new();
    for d in batch {
        sum.received += 1;
        match check(env, prefix, d, &mut members)? {
            Ok(r) => good.entry(r.member).or_default().push((d, r)),
            Err(rej) => {
                let text = format!(
                    "rejected message {} on {}{}: {}",
                    d.sequence(),
                    d.subject(),
                    d.msg_id().map(|m| format!(" (id {m})")).unwrap_or_default(),
                    rej.reason
                );
                log(&text);
                sum.rejected += 1;
                if sum.errors.len() < MAX_LISTED_ERRORS {
                    sum.errors.push(text);
                }
                d.reject()?;
            }
        }
    }
    for (member, items) in good {
        let recs: Vec<Recorded> = items
            .iter()
            .map(|(_, r)| Recorded {
                sighting: &r.sighting,
                run: &r.run,
                sensor: Some(&r.sensor),
            })
            .collect();
        match record_sightings(env, member, &recs) {
            Ok(o) => {
                for (d, _) in &items {
                    d.ack()?;
                }
                sum.recorded += items.len();
                sum.new += o.new;
            }
            Err(e) => {
                for (d, _) in &items {
                    let _ = d.retry_later(Duration::from_secs(30));
                }
                return Err(e.context(format!(
                    "recording {} report(s); they stay in the stream and come again",
                    items.len()
                )));
            }
        }
    }
    Ok(())
}

/// `vigil sightings pull`.
pub fn run(env: &Env, c: &SightingsCommand) -> anyhow::Result<u8> {
    match c {
        SightingsCommand::Pull(a) => pull(env, a),
    }
}

fn pull(env: &Env, a: &PullArgs) -> anyhow::Result<u8> {
    let ep = a.bus.endpoint(&a.nats)?;
    let bus = connect(&ep, &a.bus, "vigil sightings pull")?;
    bus.ensure_stream(&StreamSpec::sightings(&a.bus.stream, &a.bus.subject_prefix))?;
    let consumer = bus.consumer(&ConsumerSpec::sightings(
        &a.bus.stream,
        &a.durable,
        &a.bus.subject_prefix,
    ))?;
    let mut sum = PullSummary::default();
    let wait = Duration::from_secs(a.wait);
    let mut log = |t: &str| eprintln!("vigil: {t}");
    loop {
        let want = match a.max {
            Some(m) => m.saturating_sub(sum.received).min(BATCH),
            None => BATCH,
        };
        if want == 0 {
            break;
        }
        let batch = consumer.fetch(want, wait)?;
        if batch.is_empty() {
            break;
        }
        if let Err(e) = record_batch(env, &a.bus.subject_prefix, &batch, &mut sum, &mut log) {
            return Err(e.context(format!(
                "after {} message(s): {} recorded, {} rejected",
                sum.received, sum.recorded, sum.rejected
            )));
        }
    }
    if a.json {
        crate::output::json(&json!(sum))?;
    } else {
        println!(
            "pulled {} sighting report(s) from {} ({}): {} recorded ({} new sighting object(s)), {} rejected",
            sum.received,
            bus.place(),
            a.bus.stream,
            sum.recorded,
            sum.new,
            sum.rejected
        );
    }
    Ok(0)
}

/// `vigil serve --nats`: records reports as they come, on a thread of its own, until the process ends. Connection
/// and store failures are logged and retried; nothing is acknowledged that is not recorded.
pub fn serve_in_background(
    env: Env,
    nats: String,
    durable: String,
    b: BusArgs,
) -> anyhow::Result<()> {
    let ep = b.endpoint(&nats)?;
    std::thread::Builder::new()
        .name("vigil-sightings".into())
        .spawn(move || loop {
            let started = Instant::now();
            if let Err(e) = consume(&env, &ep, &durable, &b) {
                tracing::warn!(error = %format!("{e:#}"), nats = %ep.place(), "sighting reports: retrying in 10 s");
            }
            // A failure right after connecting (store down) must not spin.
            let pause = Duration::from_secs(10).saturating_sub(started.elapsed());
            std::thread::sleep(pause.max(Duration::from_secs(1)));
        })
        .context("starting the sighting recorder")?;
    Ok(())
}

fn consume(env: &Env, ep: &Endpoint, durable: &str, b: &BusArgs) -> anyhow::Result<()> {
    let bus = connect(ep, b, "vigil serve")?;
    bus.ensure_stream(&StreamSpec::sightings(&b.stream, &b.subject_prefix))?;
    let consumer = bus.consumer(&ConsumerSpec::sightings(
        &b.stream,
        durable,
        &b.subject_prefix,
    ))?;
    tracing::info!(nats = %bus.place(), stream = %b.stream, "recording sighting reports");
    loop {
        let batch = consumer.fetch(BATCH, Duration::from_secs(30))?;
        if batch.is_empty() {
            continue;
        }
        let mut sum = PullSummary::default();
        let mut log = |t: &str| tracing::warn!(nats = %bus.place(), "{t}");
        record_batch(env, &b.subject_prefix, &batch, &mut sum, &mut log)?;
        tracing::info!(
            received = sum.received,
            recorded = sum.recorded,
            new = sum.new,
            rejected = sum.rejected,
            "sighting reports"
        );
    }
}
