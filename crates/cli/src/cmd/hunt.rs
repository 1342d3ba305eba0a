//! `vigil snapshot` and `vigil hunt`: which indicators the store may use (TLP, warning lists, expiry, revocation,
//! score), compiled into a `vigil-hunt` indicator set, saved as a snapshot or run against logs; sightings printed
//! as JSON lines and, with `--record`, stored as STIX `sighting` objects.

use std::collections::HashMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;
use serde_json::{json, Value};
use vigil_hunt::hunt::{hunt, HuntOptions, LogSource, Progress, Sighting, Summary};
use vigil_hunt::logs::{FieldMap, Format, FormatChoice, LogTz};
use vigil_hunt::report::{Aggregate, Aggregator};
use vigil_hunt::score::{DecayConfig, Reliability, ScoreState};
use vigil_hunt::{
    snapshot, HitType, IndicatorInput, IndicatorSet, IndicatorSetBuilder, IndicatorSource, Role,
};
use vigil_model::pattern::Pattern;
use vigil_model::{
    warninglist::WarningSet, Observable, ObservableKind, Provenance, StixObject, Tlp,
};
use vigil_store::prepared::name_fold;
use vigil_store::{PutMode, PutOutcome, ReadScope, ScanFilter, StoreError, StoredObject};

use super::Env;
use crate::args::Cli;

/// The lowest domain-model score that makes an unknown name a lead when the caller does not say (`--lead-min-score`).
pub const DEFAULT_LEAD_MIN_SCORE: f64 = 0.8;

/// Which indicators of the store go into a set or an export.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// Leave out indicators (and malware/actor names) marked above this TLP level (clear, green, amber,
    /// amber+strict, red). Unmarked objects count as the configured default (TLP:AMBER out of the box).
    #[arg(long)]
    pub tlp_max: Option<String>,
    /// Leave out indicators whose decayed score is below this (0-100). Score = confidence x source reliability x
    /// 0.5^(age / half-life of the indicator type); see ARCHITECTURE.md, "Hunting".
    #[arg(long, default_value_t = DecayConfig::default().min_score)]
    pub min_score: f32,
    /// Domain indicators match the exact name only (default: the name and any subdomain of it, label-aware). An
    /// indicator's own `x_vigil_subdomains` (true/false) wins over both.
    #[arg(long)]
    pub exact_domains: bool,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The snapshot file to write (e.g. intel.vgs).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Only what this member may see (TLP:CLEAR and GREEN, and what is shared with it), as its sensor would get
    /// from the server: a snapshot to hand to one member.
    #[arg(long, value_name = "ID")]
    pub member: Option<i64>,
    /// Fetch the snapshot from a Vigil server (its address, e.g. https://vigil.csirt.example:8443) instead of
    /// writing it from a local store: what the token's member may see, selected by the server. With the ETag of
    /// the last fetch kept in OUT.etag, an unchanged selection transfers nothing; OUT is replaced only by a
    /// complete snapshot that loads. For a sensor's cron job or timer.
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,
    /// With --from: a file holding the member's API token (from `vigil tokens create`).
    #[arg(long, value_name = "FILE", env = "VIGIL_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// With --from: PEM certificates of the CA that signed the server's certificate (besides the usual roots).
    #[arg(long, value_name = "FILE", env = "VIGIL_CA")]
    pub ca: Option<PathBuf>,
    /// With --from: give up after this many seconds.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub timeout: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// Log files (plain, gzip or zstd), `-` for standard input.
    #[arg(required = true)]
    pub logs: Vec<String>,
    /// auto|zeek|zeek-json|eve|bind|unbound|squid|windns|w3c|ecs|fortigate|cef|leef|panos|asa|checkpoint|evtx|
    /// winevt|winevt-xml|jsonl|csv (jsonl and csv need --field; windns is the Windows DNS Server debug log, w3c the W3C
    /// extended format of IIS and ProxySG, ecs the Elastic Common Schema JSON of Beats and Elastic Agent, fortigate
    /// FortiOS key=value logs, cef and leef what most security products export to a SIEM, panos Palo Alto
    /// firewalls' syslog, asa Cisco ASA and FTD syslog, checkpoint Check Point's Log Exporter in its syslog format,
    /// evtx binary Windows event logs (Sysmon, Security, BITS), winevt the same events as JSON lines from evtx_dump
    /// or Velociraptor, winevt-xml as XML, one or more <Event> per line)
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// For jsonl/csv: FIELD=ROLE, ROLE one of domain, ip, src-ip, dst-ip, url, hash, email, answer (repeatable).
    /// JSON fields are dotted paths (`dns.rrname`), CSV fields are header names.
    #[arg(long = "field")]
    pub fields: Vec<String>,
    /// For jsonl/csv: the field holding the timestamp (RFC 3339, epoch seconds, or `2026-12-07 10:15:32` in
    /// --log-tz).
    #[arg(long)]
    pub ts_field: Option<String>,
    /// The zone of times the logs write without one (BIND and the Windows DNS Server write the server's local
    /// time): `utc` (the default), `local` (this machine's), an offset (`+01:00`) or an IANA name
    /// (`Europe/Vienna`, summer time included). Sightings carry UTC.
    #[arg(long, default_value = "utc", value_name = "ZONE")]
    pub log_tz: String,
    /// Hunt with this snapshot (from `vigil snapshot`) instead of the store.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// Write the sightings (JSON lines) to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Store the sightings as STIX `sighting` objects (one per indicator: first/last seen, count).
    #[arg(long)]
    pub record: bool,
    /// With --record or --publish: the member (id from `vigil members list`) whose telemetry this is (default:
    /// the operator).
    #[arg(long)]
    pub member: Option<i64>,
    /// After the hunt, publish one sighting report per indicator to NATS JetStream
    /// (`nats://[user:password@]host:port` or `tls://...`) for `vigil sightings pull` at the central knowledge
    /// base; with --snapshot no store or database credentials are needed here. Fails (exit 2) when NATS does not
    /// confirm every report; the sightings are written to --out / stdout all the same. Keep secrets out of the
    /// process list with --nats-nkey-file, --nats-creds-file or --nats-password-file rather than a password in the URL.
    #[arg(long, value_name = "NATS_URL")]
    pub publish: Option<String>,
    /// With --publish (or --record): this sensor's name (default for --publish: the host name).
    #[arg(long)]
    pub sensor: Option<String>,
    /// This hunt's run id (default: a new UUID). Reports are de-duplicated by run and indicator: hunting the same
    /// logs again with the run id a failed --publish printed publishes nothing twice.
    #[arg(long)]
    pub run_id: Option<String>,
    #[command(flatten)]
    pub bus: super::sightings::BusArgs,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Score the domains of the logs that match no indicator with the domain model and report the top ones as
    /// leads (machine-generated, for an analyst to look at; never sightings). Domains on the store's warning
    /// lists are left out.
    #[arg(long)]
    pub score_unknown: bool,
    /// With --score-unknown: how many leads to report.
    #[arg(long, default_value_t = 20)]
    pub leads: usize,
    /// With --score-unknown: the lowest domain score (0-1) a lead may have.
    #[arg(long, default_value_t = DEFAULT_LEAD_MIN_SCORE)]
    pub lead_min_score: f64,
    /// With --score-unknown: how many distinct unknown domains are kept for scoring (memory bound).
    #[arg(long, default_value_t = 2_000_000)]
    pub unknown_max: usize,
    /// With --score-unknown: model artifacts directory (as `vigil ml --models`).
    #[arg(long, env = "VIGIL_ML_MODELS")]
    pub models: Option<PathBuf>,
    #[command(flatten)]
    pub select: SelectArgs,
    /// With --out: print one summary document on stdout. Without --out: sightings on stdout, summary (JSON) on
    /// stderr.
    #[arg(long)]
    pub json: bool,
}

impl SelectArgs {
    pub fn tlp_max(&self) -> anyhow::Result<Option<Tlp>> {
        match &self.tlp_max {
            Some(t) => Ok(Some(
                t.parse::<Tlp>()
                    .map_err(|e| anyhow::anyhow!("--tlp-max {t:?}: {e}"))?,
            )),
            None => Ok(None),
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        if !(0.0..=100.0).contains(&self.min_score) {
            bail!("--min-score {} is outside 0..=100", self.min_score);
        }
        Ok(())
    }
}

/// One indicator of the store that passed the selection. Kept small (boxed strings, the families shared): an
/// export of the whole store holds one per indicator, a million or more.
#[derive(Debug, Clone)]
pub struct IntelItem {
    pub id: Box<str>,
    pub pattern: Box<str>,
    /// The normalised values when the pattern is a simple equality (or an OR / IN of them); empty for general
    /// patterns, which only the hunt (not the detection exports) can use.
    pub values: Vec<(ObservableKind, String)>,
    pub tlp: Tlp,
    pub score: f32,
    /// The families and actors behind it, shared by every indicator with the same ones.
    pub named: Arc<Named>,
    pub name: Option<Box<str>>,
    /// Domain values also match subdomains: the indicator's `x_vigil_subdomains` when set, else the default
    /// (true unless `--exact-domains`).
    pub subdomains: bool,
    /// Some of the values the pattern compares are not valid for their type (left out of `values`).
    pub invalid_values: bool,
    pub modified: Box<str>,
    pub valid_until: Option<Box<str>>,
}

/// The malware families and actors an indicator leads to, in the order reached.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Named {
    pub malware: Vec<String>,
    pub actors: Vec<String>,
    /// The `misp-galaxy:` tags of those that a MISP galaxy (or ATT&CK) names.
    pub galaxies: Vec<String>,
}

/// A STIX id as 128 bits: its UUID, which identifies it within a type (relationships here are only followed from
/// indicators); ids that are not `type--UUID` hash to a name-based UUID instead. A million indicators' links then
/// take 16 bytes of key each instead of a string.
fn id_key(id: &str) -> u128 {
    id.split_once("--")
        .and_then(|(_, u)| uuid::Uuid::try_parse(u).ok())
        .unwrap_or_else(|| uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, id.as_bytes()))
        .as_u128()
}

/// What the selection left out, and why.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SelectStats {
    /// Live (not revoked, not deprecated) indicators at or below --tlp-max.
    pub scanned: u64,
    pub kept: u64,
    pub expired: u64,
    pub warninglisted: u64,
    pub below_min_score: u64,
    /// Patterns Vigil cannot parse (kept in the store, unusable for hunting).
    pub bad_pattern: u64,
}

pub struct Selection {
    pub items: Vec<IntelItem>,
    pub stats: SelectStats,
    pub tlp_max: Option<Tlp>,
    pub min_score: f32,
}

/// The first value an indicator's pattern of simple comparisons compares that is not valid for its type, as the
/// reason an export gives (`invalid domain value `not a domain!!`: characters not allowed in a host name`). None
/// when every value is valid, and for general patterns (sequences, other object paths).
pub fn invalid_value(pattern: &str) -> Option<String> {
    vigil_model::observable::invalid_pattern_value(&Pattern::parse(pattern).ok()?)
        .map(|e| e.to_string())
}

/// The type a simple value is scored (and reported) as.
pub fn hit_type(kind: ObservableKind, value: &str) -> Option<HitType> {
    Some(match kind {
        ObservableKind::Domain => HitType::Domain,
        ObservableKind::Ipv4 | ObservableKind::Ipv6 if value.contains('/') => HitType::Cidr,
        ObservableKind::Ipv4 => HitType::Ipv4,
        ObservableKind::Ipv6 => HitType::Ipv6,
        // A path on any host is reported as a URL (the contract's types); its value starts with `/`.
        ObservableKind::Url | ObservableKind::UrlPath => HitType::Url,
        ObservableKind::Email => HitType::Email,
        ObservableKind::Md5 => HitType::Md5,
        ObservableKind::Sha1 => HitType::Sha1,
        ObservableKind::Sha256 => HitType::Sha256,
        ObservableKind::Sha512 => HitType::Sha512,
        ObservableKind::Asn => return None,
    })
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Reads the indicators the store may use: live (scan leaves out revoked and deprecated ones), at or below
/// `tlp_max`, not expired (`valid_until` in the past), not on a warning list, scoring at least `min_score`; with
/// the malware and actor names reached through `indicates`, `attributed-to` and `uses` relationships (names above
/// `tlp_max` are left out too).
pub fn select(env: &Env, sel: &SelectArgs, now: DateTime<Utc>) -> anyhow::Result<Selection> {
    select_in(env, sel, None, now)
}

/// [`select`] within what `scope` may see (a REST caller: CLEAR and GREEN plus the AMBER shared with its member);
/// `None` reads the whole store, as the operator's own commands do.
pub fn select_in(
    env: &Env,
    sel: &SelectArgs,
    scope: Option<&ReadScope>,
    now: DateTime<Utc>,
) -> anyhow::Result<Selection> {
    sel.check()?;
    let tlp_max = sel.tlp_max()?;
    let default_tlp = scope.map_or(env.settings.default_tlp, |s| s.default_tlp);
    let scan = |types: &[&str],
                f: &mut dyn FnMut(StoredObject) -> Result<(), StoreError>|
     -> Result<(), StoreError> {
        match scope {
            None => env.kb().scan(
                &ScanFilter {
                    types: types.iter().map(|t| t.to_string()).collect(),
                    tlp_max,
                    default_tlp: Some(default_tlp),
                    ..Default::default()
                },
                f,
            ),
            Some(sc) => env.store.scan_visible(sc, types, false, None, &mut |so| {
                if tlp_max.is_some_and(|m| so.tlp.unwrap_or(default_tlp) > m) {
                    return Ok(());
                }
                f(so)
            }),
        }
    };
    // Names of malware families and actors, by index.
    struct NamedObject {
        name: String,
        actor: bool,
        tag: Option<String>,
    }
    let mut named: Vec<NamedObject> = Vec::new();
    let mut index: HashMap<String, u32> = HashMap::new();
    // Families no galaxy names (an IOC list made them), with their aliases; and the galaxy families' tags by
    // lower-cased name and alias, the first stored winning, as a list's family is matched when it is read.
    let mut untagged: Vec<(u32, Vec<String>)> = Vec::new();
    let mut family_tags: HashMap<String, String> = HashMap::new();
    // The same by folded name or alias (`agenttesla` for `Agent Tesla`), found after every exact one.
    let mut folded_tags: HashMap<String, String> = HashMap::new();
    scan(&["malware", "intrusion-set", "threat-actor"], &mut |so| {
        if let Some(n) = so.object.name() {
            let i = named.len() as u32;
            let actor = so.object.type_() != "malware";
            let tag = vigil_formats::galaxy::tag_of(&so.object);
            if !actor {
                let keys = std::iter::once(n).chain(so.object.aliases());
                match &tag {
                    Some(t) => {
                        for k in keys {
                            if let Some(f) = name_fold(k) {
                                folded_tags.entry(f).or_insert_with(|| t.clone());
                            }
                            family_tags
                                .entry(k.trim().to_lowercase())
                                .or_insert_with(|| t.clone());
                        }
                    }
                    // An actor's list's family is no cluster's, whatever its name finds (`apt_73`, the
                    // ransomware galaxy's `Eraleign` by its synonym `APT73`): ingest attributes it to the actor.
                    None if so.object.get("x_vigil_actor_list").is_some() => {}
                    None => untagged.push((i, keys.map(|k| k.trim().to_lowercase()).collect())),
                }
            }
            named.push(NamedObject {
                name: n.to_string(),
                actor,
                tag,
            });
            index.insert(so.object.id().to_string(), i);
        }
        Ok(())
    })
    .context("reading malware and actors")?;
    // indicator -> named objects it indicates (sorted: one per relationship, a million on a big store);
    // family -> actors behind it (a few thousand). Each with when its relationship was created: an object's names
    // are listed by that, then by name, rather than in the order the store holds them, which within one input
    // follows id hashes (see `put_derived_batch`) and would differ between this store and one that got the same
    // objects exported (STIX, MISP) from it.
    let mut indicates: Vec<(u128, i64, u32)> = Vec::new();
    let mut behind_at: HashMap<u32, Vec<(i64, u32)>> = HashMap::new();
    let created = |o: &StixObject| {
        o.str("created")
            .and_then(parse_time)
            .map_or(i64::MAX, |t| t.timestamp_micros())
    };
    // family an IOC list made -> the galaxy cluster or ATT&CK software it is a duplicate of (see ingest's
    // `link_list_families`): its indicators take the cluster's name, tag and actors too.
    let mut same: HashMap<u32, Vec<u32>> = HashMap::new();
    scan(&["relationship"], &mut |so| {
        let o = &so.object;
        let (Some(src), Some(dst), Some(rt)) = (
            o.str("source_ref"),
            o.str("target_ref"),
            o.str("relationship_type"),
        ) else {
            return Ok(());
        };
        let (Some(&d), from) = (index.get(dst), index.get(src)) else {
            return Ok(());
        };
        match (rt, from) {
            ("indicates", _) if src.starts_with("indicator--") => {
                indicates.push((id_key(src), created(o), d))
            }
            ("attributed-to", Some(&f)) => behind_at.entry(f).or_default().push((created(o), d)),
            ("duplicate-of", Some(&f)) if !named[f as usize].actor && !named[d as usize].actor => {
                same.entry(f).or_default().push(d)
            }
            ("uses", Some(&f)) if dst.starts_with("malware--") && named[f as usize].actor => {
                behind_at.entry(d).or_default().push((created(o), f))
            }
            _ => {}
        }
        Ok(())
    })
    .context("reading relationships")?;
    // A family a list made before the galaxies were loaded stands for the cluster ingest linked it to as
    // `duplicate-of` (followed through `same`), which is the one it would have been matched to had they come first.
    // A store that got the list and then the galaxy before schema 12 has no such link until the galaxy is ingested
    // again: its families are matched here by name, as ingest resolves a list's keys, each as written (a cluster's
    // name, alias or folded key), then folded. (Stems, from schema 14, are left to ingest: they need the kinds.)
    let tag_of_key = |k: &str| family_tags.get(k).or_else(|| folded_tags.get(k)).cloned();
    for (i, keys) in untagged {
        if same.contains_key(&i) {
            continue;
        }
        named[i as usize].tag = keys
            .iter()
            .find_map(|k| tag_of_key(k))
            .or_else(|| keys.iter().find_map(|k| tag_of_key(&name_fold(k)?)));
    }
    let name_of = |i: u32| named[i as usize].name.as_str();
    let behind: HashMap<u32, Vec<u32>> = behind_at
        .into_iter()
        .map(|(f, mut v)| {
            v.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| name_of(a.1).cmp(name_of(b.1))));
            (f, v.into_iter().map(|(_, a)| a).collect())
        })
        .collect();
    indicates.sort_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| name_of(a.2).cmp(name_of(b.2)))
    });
    indicates.dedup_by(|a, b| a.0 == b.0 && a.2 == b.2);
    indicates.shrink_to_fit();
    // Indicators of one family share its names: one Named per distinct set reached.
    let mut shared: HashMap<Vec<u32>, Arc<Named>> = HashMap::new();
    let none: Arc<Named> = Arc::default();
    // Analyst scores live in their own `note` objects (written by `vigil score`), so that no later version of the
    // indicator from a feed can reset them.
    let mut analyst: HashMap<String, f32> = HashMap::new();
    scan(&["note"], &mut |so| {
        let o = &so.object;
        if let Some(sc) = o.get("x_vigil_analyst_score").and_then(Value::as_f64) {
            for r in o
                .get("object_refs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                analyst.insert(r.to_string(), sc.clamp(0.0, 100.0) as f32);
            }
        }
        Ok(())
    })
    .context("reading analyst scores")?;
    let wl = WarningSet::new(&env.kb().warninglists()?);
    let cfg = DecayConfig::default();
    let mut stats = SelectStats::default();
    let mut items = Vec::new();
    scan(&["indicator"], &mut |so| {
        stats.scanned += 1;
        let obj = &so.object;
        if let Some(vu) = obj.str("valid_until").and_then(parse_time) {
            if vu <= now {
                stats.expired += 1;
                return Ok(());
            }
        }
        let Some(pattern) = obj.str("pattern") else {
            stats.bad_pattern += 1;
            return Ok(());
        };
        if obj.str("pattern_type").is_some_and(|t| t != "stix") {
            stats.bad_pattern += 1;
            return Ok(());
        }
        let Ok(parsed) = Pattern::parse(pattern) else {
            stats.bad_pattern += 1;
            return Ok(());
        };
        if !super::query::warninglist_hits(&wl, obj).is_empty() {
            stats.warninglisted += 1;
            return Ok(());
        }
        let mut values = Vec::new();
        let mut invalid_values = false;
        if let Some(paths) = parsed.url_paths() {
            values.extend(paths.into_iter().map(|p| (ObservableKind::UrlPath, p)));
        } else if let Some(eqs) = parsed.simple_equalities() {
            for (path, v) in eqs {
                let Some(kind) = ObservableKind::from_pattern_path(&path) else {
                    // A path Vigil does not match as a value: a general pattern, for the hunt alone.
                    values.clear();
                    invalid_values = false;
                    break;
                };
                // A value no observable of its type can have never matches: the comparisons beside it in the
                // OR still do (`[domain-name:value = 'domain x.net' OR ipv4-addr:value = '60.10.1.115']`, an
                // OASIS example), so they stay usable for exports and scoring. The hunt evaluates the pattern
                // itself.
                match Observable::new(kind, &v) {
                    Ok(o) => values.push((o.kind, o.value)),
                    Err(_) => invalid_values = true,
                }
            }
        }
        let score = match analyst.get(obj.id()) {
            Some(&s) => s,
            None => indicator_score(obj, &values, now, &cfg),
        };
        if score < sel.min_score {
            stats.below_min_score += 1;
            return Ok(());
        }
        let key = id_key(obj.id());
        let start = indicates.partition_point(|(k, _, _)| *k < key);
        let mut reached: Vec<u32> = Vec::new();
        let mut add = |i: u32| {
            if !reached.contains(&i) {
                reached.push(i);
            }
        };
        for &(_, _, f) in indicates[start..].iter().take_while(|(k, _, _)| *k == key) {
            for &t in std::iter::once(&f).chain(same.get(&f).into_iter().flatten()) {
                add(t);
                for &a in behind.get(&t).into_iter().flatten() {
                    add(a);
                    for &a2 in behind.get(&a).into_iter().flatten() {
                        add(a2);
                    }
                }
            }
        }
        let names = if reached.is_empty() {
            none.clone()
        } else {
            shared
                .entry(reached)
                .or_insert_with_key(|reached| {
                    let mut n = Named::default();
                    for &i in reached {
                        let o = &named[i as usize];
                        let list = if o.actor {
                            &mut n.actors
                        } else {
                            &mut n.malware
                        };
                        if !list.contains(&o.name) {
                            list.push(o.name.clone());
                        }
                        if let Some(t) = &o.tag {
                            if !n.galaxies.contains(t) {
                                n.galaxies.push(t.clone());
                            }
                        }
                    }
                    Arc::new(n)
                })
                .clone()
        };
        stats.kept += 1;
        items.push(IntelItem {
            id: obj.id().into(),
            pattern: pattern.into(),
            values,
            tlp: so.tlp.unwrap_or(default_tlp),
            score,
            named: names,
            name: obj.name().map(Box::from),
            subdomains: obj
                .get("x_vigil_subdomains")
                .and_then(Value::as_bool)
                .unwrap_or(!sel.exact_domains),
            invalid_values,
            modified: obj.version().into(),
            valid_until: obj.str("valid_until").map(Box::from),
        });
        Ok(())
    })
    .context("reading indicators")?;
    Ok(Selection {
        items,
        stats,
        tlp_max,
        min_score: sel.min_score,
    })
}

/// Score of a stored indicator at `now` (when no analyst note scores it): its own `x_vigil_analyst_score` when
/// present (never decays), else
/// confidence x reliability (`x_vigil_reliability`, Admiralty A-F, default F "cannot be judged") decayed from
/// `modified` with the half-life of the indicator's type.
fn indicator_score(
    obj: &StixObject,
    values: &[(ObservableKind, String)],
    now: DateTime<Utc>,
    cfg: &DecayConfig,
) -> f32 {
    if let Some(s) = obj.get("x_vigil_analyst_score").and_then(Value::as_f64) {
        return s.clamp(0.0, 100.0) as f32;
    }
    let kind = values.first().and_then(|(k, v)| hit_type(*k, v));
    let state = ScoreState {
        kind,
        confidence: obj.confidence(),
        reliability: obj
            .str("x_vigil_reliability")
            .and_then(Reliability::parse)
            .unwrap_or(Reliability::F),
        last_seen: parse_time(obj.version()).unwrap_or(now),
        analyst: None,
    };
    state.score(now, cfg)
}

/// An indicator set compiled from a selection, with what the matcher could not use.
pub struct Built {
    pub set: IndicatorSet,
    /// Indicators left out whole.
    pub rejected: u64,
    /// The first few reasons, one per rejected indicator.
    pub reasons: Vec<String>,
    /// Indicators kept without some of their values (an `OR` with invalid values).
    pub partly: u64,
    /// The first few of those, naming the indicator and the value left out.
    pub partly_reasons: Vec<String>,
}

impl Built {
    /// What the matcher left out, as `vigil snapshot --json` and `vigil hunt --json` report it.
    fn left_out_json(&self) -> serde_json::Map<String, Value> {
        serde_json::Map::from_iter([
            ("rejected".to_string(), json!(self.rejected)),
            ("rejected_first".to_string(), json!(self.reasons)),
            ("partly_invalid".to_string(), json!(self.partly)),
            (
                "partly_invalid_first".to_string(),
                json!(self.partly_reasons),
            ),
        ])
    }
}

/// Compiles a selection into an indicator set, counting the indicators it could not use, or use whole.
pub fn build_set(sel: &Selection) -> anyhow::Result<Built> {
    let mut b = IndicatorSetBuilder::new();
    let (mut rejected, mut partly) = (0u64, 0u64);
    let (mut reasons, mut partly_reasons) = (Vec::new(), Vec::new());
    for it in &sel.items {
        let mut input =
            IndicatorInput::new(&*it.id, IndicatorSource::Pattern(it.pattern.to_string()));
        input.score = it.score;
        input.tlp = it.tlp;
        input.malware = it.named.malware.clone();
        input.actors = it.named.actors.clone();
        input.subdomains = it.subdomains;
        match b.add_reporting(&input) {
            Ok(a) if a.left_out.is_empty() => {}
            Ok(a) => {
                partly += 1;
                if partly_reasons.len() < 5 {
                    partly_reasons.push(format!(
                        "indicator {}: hunted without {} invalid value{} ({})",
                        it.id,
                        a.left_out.len(),
                        if a.left_out.len() == 1 { "" } else { "s" },
                        a.left_out.join("; ")
                    ));
                }
            }
            Err(e) => {
                rejected += 1;
                if reasons.len() < 5 {
                    reasons.push(e.to_string());
                }
            }
        }
    }
    let set = b.build().context("compiling the indicator set")?;
    Ok(Built {
        set,
        rejected,
        reasons,
        partly,
        partly_reasons,
    })
}

pub fn snapshot(env: &Env, a: &SnapshotArgs) -> anyhow::Result<u8> {
    let sel = match a.member {
        None => select(env, &a.select, Utc::now())?,
        Some(id) => {
            let m = env
                .store
                .member(id)?
                .ok_or_else(|| anyhow::anyhow!("no member {id} (vigil members list)"))?;
            let operator = env.store.operator_member()?.is_some_and(|o| o.id == m.id);
            // The server's rule for a member's token (vigil-server's policy::scope): the operator's
            // organisation sees everything, any other member CLEAR, GREEN and what is shared with it.
            let scope = ReadScope {
                all: operator,
                open_max: (!operator).then_some(Tlp::Green),
                member: Some(m.id),
                default_tlp: env.settings.default_tlp,
            };
            select_in(env, &a.select, Some(&scope), Utc::now())?
        }
    };
    let built = build_set(&sel)?;
    let set = &built.set;
    snapshot::save(set, &a.out).map_err(|e| anyhow::anyhow!("writing the snapshot: {e}"))?;
    let bytes = std::fs::metadata(&a.out).map(|m| m.len()).unwrap_or(0);
    if a.json {
        let mut doc = json!({
            "out": a.out, "member": a.member, "indicators": set.len(), "bytes": bytes, "selection": sel.stats,
            "tlp_max": sel.tlp_max.map(|t| t.as_str()), "min_score": sel.min_score,
            "stats": set.stats(),
        });
        if let Value::Object(m) = &mut doc {
            m.extend(built.left_out_json());
        }
        crate::output::json(&doc)?;
    } else {
        println!(
            "wrote {} indicators to {}{} ({bytes} bytes; tlp-max {}, min-score {})",
            set.len(),
            a.out.display(),
            a.member
                .map_or(String::new(), |m| format!(" (what member {m} may see)")),
            sel.tlp_max.map_or("none", |t| t.as_str()),
            sel.min_score
        );
        print_selection(&sel.stats, &built);
    }
    Ok(0)
}

fn print_selection(s: &SelectStats, b: &Built) {
    eprintln!(
        "indicators: {} live within TLP, {} kept; left out: {} expired, {} on warning lists, {} below min-score, {} unusable patterns, {} rejected by the matcher",
        s.scanned, s.kept, s.expired, s.warninglisted, s.below_min_score, s.bad_pattern, b.rejected
    );
    for r in &b.reasons {
        eprintln!("  rejected: {r}");
    }
    if b.partly > 0 {
        eprintln!(
            "{} indicators hunted without some of their values (invalid values left out, the rest kept)",
            b.partly
        );
        for r in &b.partly_reasons {
            eprintln!("  partly: {r}");
        }
    }
}

fn format_choice(a: &HuntArgs) -> anyhow::Result<FormatChoice> {
    let mapped = || -> anyhow::Result<FieldMap> {
        if a.fields.is_empty() {
            bail!(
                "--format {} needs a field mapping: --field NAME=ROLE (roles: domain, ip, src-ip, dst-ip, url, hash, email, answer)",
                a.format
            );
        }
        let mut fields = Vec::new();
        for f in &a.fields {
            let Some((name, role)) = f.split_once('=') else {
                bail!("--field {f:?}: expected NAME=ROLE");
            };
            let role: Role = serde_json::from_value(Value::String(role.trim().to_string()))
                .map_err(|_| anyhow::anyhow!("--field {f:?}: unknown role {role:?} (domain, ip, src-ip, dst-ip, url, hash, email, answer)"))?;
            fields.push((name.trim().to_string(), role));
        }
        Ok(FieldMap {
            fields,
            ts: a.ts_field.clone(),
        })
    };
    Ok(match a.format.as_str() {
        "auto" => FormatChoice::Auto,
        "jsonl" => FormatChoice::Fixed(Format::Jsonl(mapped()?)),
        "csv" => FormatChoice::Fixed(Format::Csv(mapped()?)),
        other => match Format::parse(other) {
            Some(f) => FormatChoice::Fixed(f),
            None => bail!(
                "unknown log format {other:?} (auto, zeek, zeek-json, eve, bind, unbound, squid, windns, w3c, ecs, fortigate, cef, leef, panos, asa, checkpoint, evtx, winevt, winevt-xml, jsonl, csv)"
            ),
        },
    })
}

pub fn run(cli: &Cli, a: &HuntArgs) -> anyhow::Result<u8> {
    let format = format_choice(a)?;
    a.select.check()?;
    if a.member.is_some() && !a.record && a.publish.is_none() {
        bail!("--member names whose telemetry is recorded: it needs --record or --publish");
    }
    let run_id = match &a.run_id {
        Some(r) if !vigil_hunt::report::valid_name(r) => {
            bail!("--run-id {r:?}: 1-128 printable characters without spaces or '/'")
        }
        Some(r) => r.clone(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let sensor = match (&a.sensor, &a.publish) {
        (Some(s), _) if !vigil_hunt::report::valid_name(s) => {
            bail!("--sensor {s:?}: 1-128 printable characters without spaces or '/'")
        }
        (Some(s), _) => Some(s.clone()),
        (None, Some(_)) => Some(super::host_name()),
        (None, None) => None,
    };
    // A bad URL is found before the hunt, not after an hour of logs.
    let endpoint = match &a.publish {
        Some(url) => Some(a.bus.endpoint(url)?),
        None => None,
    };
    let env = if a.snapshot.is_none() || a.record {
        Some(Env::open(cli)?)
    } else {
        None
    };
    let started = Utc::now();
    // What the selection left out, for the JSON summary (none with a snapshot: it was chosen when it was written).
    let mut selection = None;
    let set = match (&a.snapshot, &env) {
        (Some(p), _) => {
            // The error names the file and the cause in its message already.
            snapshot::load(p).map_err(|e| anyhow::anyhow!("loading the snapshot: {e}"))?
        }
        (None, Some(env)) => {
            let sel = select(env, &a.select, started)?;
            let built = build_set(&sel)?;
            if !a.json {
                print_selection(&sel.stats, &built);
            }
            let mut left_out = built.left_out_json();
            left_out.insert("selection".into(), serde_json::to_value(&sel.stats)?);
            selection = Some(left_out);
            built.set
        }
        (None, None) => bail!("no indicators: give --snapshot or a data directory"),
    };
    if set.is_empty() {
        eprintln!("vigil: warning: the indicator set is empty (nothing ingested, or everything filtered out)");
    }
    let progress = Arc::new(Progress::default());
    let opts = HuntOptions {
        format,
        threads: a.threads,
        min_score: a.select.min_score,
        tlp_max: a.select.tlp_max()?,
        progress: Some(Arc::clone(&progress)),
        collect_unknown: if a.score_unknown {
            a.unknown_max.max(1)
        } else {
            0
        },
        log_tz: LogTz::parse(&a.log_tz).map_err(|e| anyhow::anyhow!("--log-tz {e}"))?,
        ..HuntOptions::default()
    };
    if a.score_unknown && !(0.0..=1.0).contains(&a.lead_min_score) {
        bail!("--lead-min-score {} is outside 0..=1", a.lead_min_score);
    }
    let domain_model = if a.score_unknown {
        Some(
            super::ml::load_domain(cli, &a.models)
                .context("loading the domain model for --score-unknown")?,
        )
    } else {
        None
    };
    let inputs: Vec<LogSource> = a.logs.iter().map(LogSource::path).collect();
    let to_stdout = a.out.is_none();
    let mut out: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())),
    };
    let mut aggs = Aggregator::default();
    let aggregate = a.record || a.publish.is_some();
    let mut sink = |s: &Sighting| -> std::io::Result<()> {
        serde_json::to_writer(&mut out, s).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
        if aggregate {
            aggs.add(s, started);
        }
        Ok(())
    };
    let show_bar = std::io::stderr().is_terminal() && !a.json;
    let done = std::sync::atomic::AtomicBool::new(false);
    let summary = std::thread::scope(|sc| {
        if show_bar {
            let p = Arc::clone(&progress);
            let done = &done;
            sc.spawn(move || bar(&p, done));
        }
        let r = hunt(&set, inputs, &opts, &mut sink);
        done.store(true, Ordering::Relaxed);
        r
    })?;
    out.flush().context("writing sightings")?;
    drop(out);
    let aggs = aggs.finish();
    let mut recorded = 0usize;
    if a.record && !aggs.is_empty() {
        let env = env
            .as_ref()
            .context("--record needs the store (data directory)")?;
        let items: Vec<Recorded> = aggs
            .iter()
            .map(|g| Recorded {
                sighting: g,
                run: &run_id,
                sensor: sensor.as_deref(),
            })
            .collect();
        recorded = record_sightings(env, a.member, &items)?.sightings;
    }
    // The sightings are written already: whatever happens to the reports, nothing is lost.
    let published = match (&endpoint, &sensor) {
        (Some(ep), Some(sensor)) if !aggs.is_empty() => Some(
            super::sightings::publish(ep, &a.bus, &run_id, sensor, a.member, aggs)
                .map_err(|e| (e, ep.place().to_string())),
        ),
        (Some(_), _) => Some(Ok(super::sightings::Published::default())),
        _ => None,
    };
    let leads = match &domain_model {
        Some(model) => Some(leads(
            cli,
            env.as_ref(),
            model,
            &summary,
            a,
            opts.worker_threads(),
        )?),
        None => None,
    };
    let mut doc = serde_json::to_value(&summary)?;
    if let Value::Object(m) = &mut doc {
        m.insert("indicators".into(), json!(set.len()));
        if let Some(sel) = selection {
            m.extend(sel);
        }
        m.insert("recorded".into(), json!(recorded));
        m.insert("run".into(), json!(run_id));
        match &published {
            Some(Ok(p)) => {
                m.insert("sensor".into(), json!(sensor));
                m.insert("published".into(), json!(p.published));
                m.insert("duplicates".into(), json!(p.duplicates));
            }
            Some(Err((e, _))) => {
                m.insert("sensor".into(), json!(sensor));
                m.insert("published".into(), json!(null));
                m.insert("publish_error".into(), json!(format!("{e:#}")));
            }
            None => {}
        }
        m.insert("out".into(), json!(a.out));
        if let Some(l) = &leads {
            m.insert("leads".into(), serde_json::to_value(l)?);
        }
    }
    if a.json {
        if to_stdout {
            eprintln!("{doc}");
        } else {
            crate::output::json(&doc)?;
        }
    } else {
        print_summary(&summary, set.len(), recorded, to_stdout);
        if let Some(Ok(p)) = &published {
            let text = format!(
                "published {} sighting report(s) of run {run_id} ({} already there)",
                p.published, p.duplicates
            );
            if to_stdout {
                eprintln!("{text}");
            } else {
                println!("{text}");
            }
        }
        if let Some(l) = &leads {
            print_leads(l, to_stdout);
        }
    }
    if let Some(Err((e, place))) = published {
        return Err(e.context(format!(
            "publishing the sightings to NATS at {place} failed; they are in {} all the same: hunt again with --run-id {run_id} to publish them without doubles",
            a.out.as_ref().map_or("the output above".to_string(), |p| p.display().to_string())
        )));
    }
    Ok(if !summary.file_errors.is_empty() {
        2
    } else if summary.hits > 0 {
        0
    } else {
        1
    })
}

/// Unknown domains the domain model scored high: leads for an analyst, not alerts.
#[derive(Debug, Serialize)]
struct Leads {
    /// Distinct domains in domain fields that matched no indicator.
    unknown_domains: usize,
    /// Of those, on a warning list (left out).
    warninglisted: usize,
    /// Of those, not under a public suffix (`printer.local`, `_ldap._tcp.corp.lan`: names of the agency's own
    /// network, left out).
    not_public: usize,
    /// Distinct unknown domains not kept because --unknown-max was reached.
    dropped: u64,
    model: String,
    min_score: f64,
    /// Every lead is machine-generated by the model named above.
    machine_generated: bool,
    leads: Vec<Lead>,
}

#[derive(Debug, Serialize)]
struct Lead {
    domain: String,
    score: f64,
    /// Records that named it.
    seen: u64,
    /// The signals that pushed its score up most, strongest first (`vigil ml score-domains --explain` gives
    /// them all).
    why: Vec<vigil_ml::domain::Evidence>,
}

/// Scores unknown names as leads: (names left out as warning-listed, names left out as not under a public
/// suffix, leads at or above `min_score`).
fn score_leads(
    names: &[(String, u64)],
    wl: &vigil_model::warninglist::WarningSet,
    model: &vigil_ml::domain::DomainModel,
    min_score: f64,
) -> (usize, usize, Vec<Lead>) {
    let mut warninglisted = 0;
    let mut not_public = 0;
    let mut buf = Vec::new();
    let mut host = String::new();
    let mut out: Vec<Lead> = Vec::new();
    for (d, seen) in names {
        // Local and service-discovery names (`.local`, `.lan`, `_tcp` labels) are the agency's own network: no
        // one registered them, so a score from a model of registered names is noise.
        host.clear();
        host.push_str(d.trim_end_matches('.'));
        host.make_ascii_lowercase();
        if !vigil_ml::extract::registrable(&host) {
            not_public += 1;
            continue;
        }
        if !wl.is_empty() {
            if let Ok(o) = vigil_model::Observable::new(vigil_model::ObservableKind::Domain, d) {
                if !wl.hits(&o).is_empty() {
                    warninglisted += 1;
                    continue;
                }
            }
        }
        let score = model.score_with(d, &mut buf);
        if score >= min_score {
            out.push(Lead {
                domain: d.clone(),
                score: (score * 1e4).round() / 1e4,
                seen: *seen,
                why: Vec::new(),
            });
        }
    }
    (warninglisted, not_public, out)
}

fn leads(
    cli: &Cli,
    env: Option<&Env>,
    model: &vigil_ml::domain::DomainModel,
    summary: &Summary,
    a: &HuntArgs,
    threads: usize,
) -> anyhow::Result<Leads> {
    // The store is open already unless the hunt ran from a snapshot alone.
    let lists = match env {
        Some(env) => env.store.warninglists()?,
        None => super::ml::store_warninglists(cli)?,
    };
    let wl = vigil_model::warninglist::WarningSet::new(&lists);
    // Scored on the hunt's worker threads: a busy resolver's log names a million distinct unknown domains.
    let names = &summary.unknown_domains;
    let per = names.len().div_ceil(threads.max(1)).max(4096);
    let parts: Vec<(usize, usize, Vec<Lead>)> = std::thread::scope(|sc| {
        let workers: Vec<_> = names
            .chunks(per)
            .map(|part| sc.spawn(|| score_leads(part, &wl, model, a.lead_min_score)))
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a lead-scoring thread panicked"))
            })
            .collect::<anyhow::Result<_>>()
    })?;
    let warninglisted = parts.iter().map(|p| p.0).sum::<usize>();
    let not_public = parts.iter().map(|p| p.1).sum::<usize>();
    let mut out: Vec<Lead> = parts.into_iter().flat_map(|p| p.2).collect();
    out.sort_by(|x, y| {
        y.score
            .total_cmp(&x.score)
            .then_with(|| y.seen.cmp(&x.seen))
            .then_with(|| x.domain.cmp(&y.domain))
    });
    out.truncate(a.leads);
    for l in &mut out {
        l.why = model
            .explain(&l.domain)
            .evidence
            .into_iter()
            .filter(|e| e.weight > 0.0)
            .take(LEAD_REASONS)
            .collect();
    }
    Ok(Leads {
        unknown_domains: summary.unknown_domains.len(),
        warninglisted,
        not_public,
        dropped: summary.unknown_domains_dropped,
        model: format!(
            "{} v{} (training data {})",
            model.header().model,
            model.header().model_version,
            &model.header().data_hash_hex()[..12]
        ),
        min_score: a.lead_min_score,
        machine_generated: true,
        leads: out,
    })
}

/// Signals listed per lead.
const LEAD_REASONS: usize = 3;

fn print_leads(l: &Leads, to_stderr: bool) {
    use std::fmt::Write as _;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "leads: {} unknown domain(s) scored by {} ({} on warning lists and {} local names left out); {} at or above {:.2} (machine-generated: look before you act)",
        l.unknown_domains,
        l.model,
        l.warninglisted,
        l.not_public,
        l.leads.len(),
        l.min_score
    );
    for x in &l.leads {
        let _ = writeln!(t, "  {:.3}  {:>8} record(s)  {}", x.score, x.seen, x.domain);
        let why: Vec<String> = x.why.iter().map(|e| e.brief()).collect();
        if !why.is_empty() {
            let _ = writeln!(t, "         why: {}", why.join(", "));
        }
    }
    if to_stderr {
        eprint!("{t}");
    } else {
        print!("{t}");
    }
}

fn bar(p: &Progress, done: &std::sync::atomic::AtomicBool) {
    let pb = crate::output::progress("hunting");
    let t0 = std::time::Instant::now();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        let b = p.bytes.load(Ordering::Relaxed) as f64;
        let secs = t0.elapsed().as_secs_f64().max(1e-3);
        pb.set_message(format!(
            "{} files, {:.0} MB, {:.0} MB/s, {} lines, {} hits",
            p.files.load(Ordering::Relaxed),
            b / 1e6,
            b / 1e6 / secs,
            p.lines.load(Ordering::Relaxed),
            p.hits.load(Ordering::Relaxed)
        ));
    }
    pb.finish_and_clear();
}

fn print_summary(s: &Summary, indicators: usize, recorded: usize, sightings_on_stdout: bool) {
    let mut text = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        text,
        "hunted {} file(s) with {indicators} indicators: {} lines, {:.1} MB in {:.2} s ({:.0} MB/s, {:.0} lines/s); {} hits, {} unparsable lines",
        s.files,
        s.lines,
        s.bytes as f64 / 1e6,
        s.seconds,
        s.mb_per_s,
        s.lines_per_s,
        s.hits,
        s.unparsable
    );
    if s.repaired_lines > 0 {
        let _ = writeln!(
            text,
            "  {} line(s) held bytes that are not UTF-8: read with those bytes replaced, their other fields matched",
            s.repaired_lines
        );
    }
    for (t, n) in &s.hits_by_type {
        let _ = writeln!(text, "  {t:<8} {n}");
    }
    if !s.top_indicators.is_empty() {
        let _ = writeln!(text, "top indicators:");
        for t in &s.top_indicators {
            let _ = writeln!(
                text,
                "  {:>8}  {} {} ({})",
                t.hits, t.kind, t.indicator, t.indicator_id
            );
        }
    }
    for e in &s.errors {
        let _ = writeln!(text, "unparsable: {}:{}: {}", e.file, e.line, e.reason);
    }
    for e in &s.file_errors {
        let reason = e
            .reason
            .strip_prefix(&format!("{}: ", e.file))
            .unwrap_or(&e.reason);
        if e.line == 0 {
            let _ = writeln!(text, "error: {}: {reason}", e.file);
        } else {
            let _ = writeln!(text, "error: {}: after line {}: {reason}", e.file, e.line);
        }
    }
    if recorded > 0 {
        let _ = writeln!(text, "recorded {recorded} sighting object(s) in the store");
    }
    if sightings_on_stdout {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
}

/// One indicator's aggregate to record, with where it came from.
pub struct Recorded<'a> {
    pub sighting: &'a Aggregate,
    /// The hunt's run id (kept as `x_vigil_run`).
    pub run: &'a str,
    /// The sensor that hunted, when named (kept as `x_vigil_sensor`, and part of the id: two sensors of one
    /// member are two places).
    pub sensor: Option<&'a str>,
}

/// What [`record_sightings`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordOutcome {
    /// Sighting objects recorded (new or already stored).
    pub sightings: usize,
    /// Of those, new to the store.
    pub new: usize,
}

/// Stores one STIX sighting per indicator hit for `member` (the operator when `None`), and publishes the new ones
/// to the member's collection. The id is derived from the content (indicator, identity, first and last seen,
/// count, and the sensor when named), so recording the same hunt twice stores nothing new. `vigil hunt --record`
/// and `vigil sightings pull` both record through here.
pub fn record_sightings(
    env: &Env,
    member: Option<i64>,
    items: &[Recorded<'_>],
) -> anyhow::Result<RecordOutcome> {
    let owner = match member {
        Some(id) => env
            .store
            .member(id)?
            .with_context(|| format!("--member {id}: no such member (see `vigil members list`)"))?,
        None => super::members::ensure_operator(env)?,
    };
    let identity = owner.identity_id.clone();
    let now = vigil_model::time::format(&Utc::now());
    let mut objs = Vec::new();
    for it in items {
        let g = it.sighting;
        let ind = &g.indicator_id;
        let first = vigil_model::time::format(&g.first_seen);
        let last = vigil_model::time::format(&g.last_seen);
        let count = g.count.min(vigil_hunt::report::MAX_COUNT);
        let count_text = count.to_string();
        let mut key: Vec<&str> = vec![ind, &identity, &first, &last, &count_text];
        key.extend(it.sensor);
        let id = vigil_model::ids::vigil_id("sighting", &key);
        // A sighting tells where a member's network met the indicator: never below TLP:AMBER.
        let tlp = g.tlp.max(Tlp::Amber);
        let mut v = json!({
            "type": "sighting", "spec_version": "2.1", "id": id, "created": now, "modified": now,
            "sighting_of_ref": ind, "first_seen": first, "last_seen": last, "count": count,
            "where_sighted_refs": [identity], "created_by_ref": identity,
            "description": format!("vigil hunt: {} hit(s) in {}", g.count, g.files.join(", ")),
            "object_marking_refs": [tlp.marking_id()],
            "x_vigil_observed": g.observed, "x_vigil_files": g.files, "x_vigil_run": it.run,
        });
        if let Some(sensor) = it.sensor {
            v["x_vigil_sensor"] = json!(sensor);
        }
        objs.push(
            StixObject::from_value(v).with_context(|| format!("building the sighting of {ind}"))?,
        );
    }
    let prov = Provenance {
        source: "vigil-hunt".into(),
        ingested_at: now.clone(),
        original_id: None,
        file: None,
    };
    let mut added = Vec::new();
    env.store
        .write(&mut |tx| {
            added.clear();
            for o in &objs {
                if tx.put(o, &prov, PutMode::Derived)? == PutOutcome::Added {
                    added.push(o.clone());
                }
            }
            Ok(())
        })
        .context("recording sightings")?;
    // The member's own collection (TAXII `member-<id>`, REST `/api/v1/sightings`) carries what is new: a
    // sighting recorded again (same content, same id) is the same fact, not a new version.
    env.store
        .member_feed_put(owner.id, &added)
        .context("publishing sightings to the member's collection")?;
    Ok(RecordOutcome {
        sightings: objs.len(),
        new: added.len(),
    })
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The indicator (STIX id or value).
    pub indicator: String,
    /// The score, 0-100; it replaces the decayed formula and no feed can reset it.
    #[arg(value_parser = clap::value_parser!(u8).range(0..=100), required_unless_present = "clear")]
    pub score: Option<u8>,
    /// Who decided (default: the operator's organisation).
    #[arg(long)]
    pub by: Option<String>,
    /// Why.
    #[arg(long)]
    pub reason: Option<String>,
    /// Remove the analyst's score (the formula applies again).
    #[arg(long)]
    pub clear: bool,
    #[arg(long)]
    pub json: bool,
}

/// `vigil score`: an analyst's score for an indicator, kept as a STIX `note` (one per indicator, versioned).
pub fn score(env: &Env, a: &ScoreArgs) -> anyhow::Result<u8> {
    let found = env.kb().resolve(&a.indicator)?;
    let Some(ind) = found.iter().find(|o| o.object.type_() == "indicator") else {
        bail!("no indicator found for {:?}", a.indicator);
    };
    let ind_id = ind.object.id().to_string();
    let note_id = vigil_model::ids::vigil_id("note", &["analyst-score", &ind_id]);
    let now = vigil_model::time::format(&Utc::now());
    let by =
        a.by.clone()
            .unwrap_or_else(|| env.settings.operator.clone());
    let created = env
        .kb()
        .get(&note_id)?
        .and_then(|n| n.object.str("created").map(str::to_string))
        .unwrap_or_else(|| now.clone());
    let mut v = json!({
        "type": "note", "spec_version": "2.1", "id": note_id, "created": created, "modified": now,
        "abstract": "analyst score",
        "content": match (a.clear, a.score) {
            (true, _) => format!("score cleared by {by}"),
            (false, Some(s)) => format!("score {s} set by {by}{}", a.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()),
            (false, None) => String::new(),
        },
        "authors": [by], "object_refs": [ind_id],
        "object_marking_refs": [ind.tlp.unwrap_or(env.settings.default_tlp).marking_id()],
    });
    if a.clear {
        v["revoked"] = json!(true);
    } else if let Some(s) = a.score {
        v["x_vigil_analyst_score"] = json!(s);
    }
    let obj = StixObject::from_value(v).context("building the analyst note")?;
    let prov = Provenance {
        source: "vigil-analyst".into(),
        ingested_at: now.clone(),
        original_id: None,
        file: None,
    };
    env.kb()
        .write(&mut |tx| tx.put(&obj, &prov, PutMode::Source).map(|_| ()))
        .context("storing the analyst score")?;
    if a.json {
        crate::output::json(
            &json!({"indicator": ind_id, "note": note_id, "score": if a.clear { None } else { a.score }}),
        )?;
    } else if a.clear {
        println!("analyst score of {ind_id} cleared");
    } else {
        println!(
            "analyst score of {ind_id}: {} (note {note_id})",
            a.score.unwrap_or_default()
        );
    }
    Ok(0)
}
