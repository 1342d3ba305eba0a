//! `vigil demo`: builds a store from the project's own sample and, when present, the shared public data sets,
//! then shows a few queries an analyst would run.

use std::path::{Path, PathBuf};

use serde_json::json;
use vigil_ingest::{ingest_paths, Options, Report};
use vigil_model::Tlp;

use super::Env;
use crate::args::{Cli, DemoArgs};

const SAMPLE_BUNDLE: &str = include_str!("../../demo/sample-bundle.json");
const SAMPLE_IOCS: &str = include_str!("../../demo/sample-iocs.txt");
const SAMPLE_REPORT: &str = include_str!("../../demo/sample-report.txt");

/// Demo telemetry: Zeek DNS log lines of a fictional ministry network; `{lumma}` is replaced by a LummaC2 domain
/// from the shared maltrail list when it is present, else by a QuillLoader domain of the bundled sample list.
/// The last two names are in no intelligence: the domain model scores them as leads.
const DEMO_DNS_LOG: &str = r#"{"ts":"2026-11-28T09:15:02.118Z","uid":"CdA1","id.orig_h":"10.20.0.15","id.orig_p":53211,"id.resp_h":"10.20.0.2","id.resp_p":53,"proto":"udp","query":"{lumma}","qtype_name":"A","rcode_name":"NOERROR"}
{"ts":"2026-11-28T09:16:40.003Z","uid":"CdA2","id.orig_h":"10.20.0.31","id.orig_p":51002,"id.resp_h":"10.20.0.2","id.resp_p":53,"proto":"udp","query":"www.europa.eu","qtype_name":"A","rcode_name":"NOERROR"}
{"ts":"2026-11-28T10:02:11.550Z","uid":"CdA3","id.orig_h":"10.20.0.44","id.orig_p":49811,"id.resp_h":"10.20.0.2","id.resp_p":53,"proto":"udp","query":"cdn-update.example","qtype_name":"A","rcode_name":"NOERROR"}
{"ts":"2026-11-28T10:05:27.901Z","uid":"CdA4","id.orig_h":"10.20.0.44","id.orig_p":49812,"id.resp_h":"10.20.0.2","id.resp_p":53,"proto":"udp","query":"notcdn-update.example","qtype_name":"A","rcode_name":"NXDOMAIN"}
{"ts":"2026-11-28T10:07:03.412Z","uid":"CdA5","id.orig_h":"10.20.0.52","id.orig_p":50133,"id.resp_h":"10.20.0.2","id.resp_p":53,"proto":"udp","query":"qx7vk2lz9wfhr3tb.top","qtype_name":"A","rcode_name":"NXDOMAIN"}
{"ts":"2026-11-28T10:09:45.020Z","uid":"CdA6","id.orig_h":"10.20.0.31","id.orig_p":51077,"id.resp_h":"10.20.0.2","id.resp_p":53,"proto":"udp","query":"termine.musterhausen.de","qtype_name":"A","rcode_name":"NOERROR"}
"#;

/// Demo inventory of the fictional ministry: two components named in CISA KEV, one that is not.
const DEMO_INVENTORY: &str = "vendor,product,version,host,internet_facing,criticality
Apache,Log4j2,2.14.1,intranet-app-02.ministry.example,false,high
Citrix,Session Recording,,rec-01.ministry.example,false,medium
PostgreSQL,PostgreSQL,16.4,db-01.ministry.example,false,high
";

/// The shared data folder: the flag, else `../shared/data` from the working directory or from the repository.
fn shared_dir(a: &DemoArgs) -> Option<PathBuf> {
    if let Some(p) = &a.shared {
        return p.is_dir().then(|| p.clone());
    }
    let candidates = [
        PathBuf::from("../shared/data"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    ];
    candidates.into_iter().find(|p| p.is_dir())
}

struct Step {
    what: &'static str,
    paths: Vec<String>,
    opts: Options,
}

pub fn run(cli: &Cli, a: &DemoArgs) -> anyhow::Result<u8> {
    let env = Env::open(cli)?;
    let tmp = tempdir_in(&env.data)?;
    std::fs::write(tmp.join("sample-bundle.json"), SAMPLE_BUNDLE)?;
    std::fs::write(tmp.join("quillloader.txt"), SAMPLE_IOCS)?;
    let mut steps: Vec<Step> = Vec::new();
    let shared = shared_dir(a);
    if let Some(s) = &shared {
        let p = |rel: &str| s.join(rel).display().to_string();
        let mut push = |what: &'static str, rel: &str, opts: Options| {
            if s.join(rel).exists() {
                steps.push(Step {
                    what,
                    paths: vec![p(rel)],
                    opts,
                });
            }
        };
        push(
            "MITRE ATT&CK Enterprise (STIX 2.0, upgraded)",
            "mitre-attack/enterprise-attack.json.gz",
            Options::default(),
        );
        push(
            "MISP galaxy: threat actors with country attribution",
            "misp-galaxy/clusters/threat-actor.json",
            Options::default(),
        );
        push(
            "MISP galaxy: ransomware families",
            "misp-galaxy/clusters/ransomware.json",
            Options::default(),
        );
        // Before the list: maltrail's `lummac2` is malpedia's `Lumma Stealer` (synonym `LummaC2 Stealer`), so the
        // hunt names the family as analysts know it.
        push(
            "MISP galaxy: malpedia malware families",
            "misp-galaxy/clusters/malpedia.json",
            Options::default(),
        );
        push(
            "maltrail: LummaC2 infostealer infrastructure",
            "maltrail/lummac2.txt",
            Options {
                source: Some("lummac2".into()),
                confidence: Some(60),
                ..Default::default()
            },
        );
        push(
            "MISP events (PyMISP test corpus; non-event files are rejected with reasons)",
            "misp-events-pymisp/tests",
            Options::default(),
        );
        for (wl, what) in [
            (
                "tranco10k",
                "MISP warning list: Tranco top 10,000 domains (allow-list)",
            ),
            (
                "public-dns-v4",
                "MISP warning list: public DNS resolvers, IPv4 (allow-list)",
            ),
            (
                "google-gcp-ipv4",
                "MISP warning list: Google Cloud IPv4 ranges (allow-list)",
            ),
        ] {
            if s.join(format!("misp-warninglists/lists/{wl}")).is_dir() {
                steps.push(Step {
                    what,
                    paths: vec![p(&format!("misp-warninglists/lists/{wl}/list.json"))],
                    opts: Options::default(),
                });
            }
        }
    }
    // The sample goes last: its actor uses an ATT&CK technique, linked when ATT&CK is loaded.
    steps.extend([
        Step {
            what: "Vigil's own sample STIX bundle (fictional actor GLASS HERON)",
            paths: vec![tmp.join("sample-bundle.json").display().to_string()],
            opts: Options {
                source: Some("vigil-demo".into()),
                ..Default::default()
            },
        },
        Step {
            what: "Vigil's own sample IOC list (defanged, family QuillLoader)",
            paths: vec![tmp.join("quillloader.txt").display().to_string()],
            opts: Options {
                source: Some("QuillLoader".into()),
                tlp: Some(Tlp::Green),
                confidence: Some(70),
                ..Default::default()
            },
        },
    ]);
    let mut loaded = Vec::new();
    for step in &steps {
        let pb = crate::output::progress(step.what);
        let r = ingest_paths(&*env.store, &step.paths, &step.opts, &mut |r: &Report| {
            pb.set_message(format!("{}: {} objects", step.what, r.objects()))
        })?;
        pb.finish_and_clear();
        if !a.json {
            println!(
                "loaded {:<75} {:>7} added {:>7} unchanged {:>5} rejected ({:.1} s)",
                step.what, r.added, r.unchanged, r.rejected, r.seconds
            );
            if let Some(e) = r.errors.first() {
                println!(
                    "{}",
                    first_problem(e, r.errors.len() as u64 + r.errors_omitted)
                );
                // The sample bundle links its actor to an ATT&CK technique, which only the public data brings.
                if shared.is_none() && e.reason.starts_with("dangling reference") {
                    println!("    (what it points at comes with the public data sets: pass --shared DIR)");
                }
            }
        }
        loaded.push(json!({"what": step.what, "paths": step.paths, "report": r}));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let stats = env.store.stats()?;
    let data = env.data.display().to_string();
    let v = format!("vigil --data {data}");
    let mut tries = vec![
        format!("{v} show \"GLASS HERON\"               # the sample actor, its malware and indicators"),
        format!("{v} show invoice-portal[.]example     # a defanged value resolves to its indicator"),
        format!("{v} retract invoice-portal[.]example --dry-run   # what withdrawing a false positive takes out"),
        format!("{v} search loader"),
        format!("{v} export stix --out demo-green.json --tlp-max green   # leaves out the TLP:AMBER sample hash"),
        format!("{v} demo --serve                     # REST, TAXII 2.1 and the dashboard (/ui/), with tokens to log in"),
    ];
    if shared.is_some() {
        // KEV and the notices come with the public data; without it the CVE is nowhere in the store.
        tries.insert(
            tries.len() - 1,
            format!("{v} show CVE-2021-44228              # KEV, EPSS, related actors, notices: what every source says"),
        );
        tries.insert(0, format!("{v} show \"Fancy Bear\"                # APT28: country, aliases, techniques, software"));
        tries.insert(
            1,
            format!(
                "{v} show T1566.001                   # a technique and the groups that use it"
            ),
        );
        tries.insert(2, format!("{v} search lumma"));
    }
    if a.json {
        crate::output::json(
            &json!({"data": data, "loaded": loaded, "stats": stats, "shared_data": shared, "try": tries}),
        )?;
        return if a.serve { serve_demo(&env, a) } else { Ok(0) };
    }
    println!();
    if shared.is_none() {
        println!("(../shared/data not found: loaded the bundled sample only; pass --shared DIR to load the public data sets)");
    }
    let total: u64 = stats.objects.values().sum();
    println!("The store at {data} now holds {total} live objects:");
    let mut by: Vec<(&String, &u64)> = stats.objects.iter().collect();
    by.sort_by(|a, b| b.1.cmp(a.1));
    for (t, n) in by.iter().take(12) {
        println!("  {t:<26} {n:>8}");
    }
    println!("\nAn example: who is GLASS HERON?\n");
    let show = crate::args::ShowArgs {
        key: "GLASS HERON".into(),
        json: false,
    };
    super::query::show(&env, &show)?;
    if shared.is_some() {
        println!("\nAnd a real one: who is \"Fancy Bear\"?\n");
        let show = crate::args::ShowArgs {
            key: "Fancy Bear".into(),
            json: false,
        };
        let _ = super::query::show(&env, &show);
    }
    if let Err(e) = tour(&env, shared.as_deref()) {
        println!("\n(the rest of the tour stopped: {e:#})");
    }
    println!("\nTry next:");
    for t in &tries {
        println!("  {t}");
    }
    if a.serve {
        return serve_demo(&env, a);
    }
    Ok(0)
}

/// `--serve`: a demo member and two tokens (operator analyst, member), then the server until Ctrl-C.
fn serve_demo(env: &Env, a: &DemoArgs) -> anyhow::Result<u8> {
    let op = super::members::ensure_operator(env)?;
    let member = match env
        .store
        .members()?
        .into_iter()
        .find(|m| m.name == "Demo CSIRT")
    {
        Some(m) => m,
        None => env.store.add_member("Demo CSIRT", "DE", "csirt", false)?,
    };
    let expires = vigil_server::tokens::parse_expiry("7d").map_err(anyhow::Error::msg)?;
    let (op_token, _) = vigil_server::tokens::create(
        &*env.store,
        op.id,
        vigil_server::policy::Role::Analyst,
        expires.as_deref(),
    )?;
    let (m_token, _) = vigil_server::tokens::create(
        &*env.store,
        member.id,
        vigil_server::policy::Role::Member,
        expires.as_deref(),
    )?;
    let json_out = a.json;
    let args = super::serve::ServeArgs {
        listen: Some(a.listen),
        ..Default::default()
    };
    super::serve::run_with(env, &args, move |addr, _| {
        let url = format!("http://{addr}");
        if json_out {
            let _ = crate::output::json(
                &json!({"url": url, "taxii": format!("{url}/taxii2/"), "dashboard": format!("{url}/ui/"), "operator_token": op_token,
                "member": member.id, "member_token": m_token}),
            );
        } else {
            println!("\nServing the demo store at {url} (Ctrl-C to stop)");
            println!("  TAXII 2.1 discovery: {url}/taxii2/    REST: {url}/api/v1/    OpenAPI: {url}/api/v1/openapi.json");
            println!("  dashboard: {url}/ui/ (sign in with either token below, or add a user with `vigil users add`)");
            println!("  operator analyst token (sees everything):      {op_token}");
            println!(
                "  member {} token (Demo CSIRT, CLEAR+GREEN+shared): {m_token}",
                member.id
            );
            println!("  try: curl -H 'Accept: application/taxii+json;version=2.1' -u x:{m_token} {url}/taxii2/vigil/collections/");
        }
    })
}

/// Runs this `vigil` binary on the demo store and returns its stdout (stderr is shown on failure).
fn vigil(env: &Env, args: &[&str]) -> anyhow::Result<(i32, String)> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .arg("--data")
        .arg(&env.data)
        .args(args)
        .output()?;
    let code = out.status.code().unwrap_or(2);
    if code >= 2 {
        anyhow::bail!(
            "vigil {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok((code, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// One line under a step that left something out (an object, a line, a file): where and why, shortened to fit
/// a terminal, so a count is never a bare number (the whole list is in `--json` and in `vigil ingest --json`).
fn first_problem(e: &vigil_ingest::IngestError, problems: u64) -> String {
    const WIDTH: usize = 150;
    let file = Path::new(&e.file)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| e.file.clone());
    let at = if e.location.is_empty() {
        file
    } else {
        format!("{file} {}", e.location)
    };
    let which = if problems > 1 {
        format!(" (first of {problems})")
    } else {
        String::new()
    };
    let mut line = format!("    not loaded{which}: {at}: {}", e.reason);
    if line.chars().count() > WIDTH {
        line = line.chars().take(WIDTH - 1).collect::<String>() + "…";
    }
    line
}

/// The other capabilities on the demo store: a hunt over a small DNS log, vulnerability notices for a demo
/// ministry, and the models reading a report.
fn tour(env: &Env, shared: Option<&Path>) -> anyhow::Result<()> {
    let tmp = tempdir_in(&env.data)?;
    let res = tour_in(env, shared, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    res
}

fn tour_in(env: &Env, shared: Option<&Path>, tmp: &Path) -> anyhow::Result<()> {
    // Hunting.
    let lumma = shared
        .and_then(|s| std::fs::read_to_string(s.join("maltrail/lummac2.txt")).ok())
        .and_then(|t| {
            t.lines()
                .map(str::trim)
                .find(|l| {
                    !l.is_empty()
                        && !l.starts_with('#')
                        && !l.contains('/')
                        && l.chars().any(|c| c.is_ascii_alphabetic())
                })
                .map(str::to_string)
        })
        // Without the shared list, a QuillLoader domain of the bundled sample takes the line, so the hunt
        // still shows a hit from a list the store holds (and no made-up name turns up among the leads).
        .unwrap_or_else(|| "files-share.example".into());
    let log = tmp.join("dns.log");
    std::fs::write(&log, DEMO_DNS_LOG.replace("{lumma}", &lumma))?;
    let sightings = tmp.join("sightings.jsonl");
    let log_s = log.display().to_string();
    let out_s = sightings.display().to_string();
    println!("\nHunting: the store's indicators against a small Zeek DNS log (6 queries)\n");
    let (_, summary) = vigil(
        env,
        &[
            "hunt",
            &log_s,
            "--out",
            &out_s,
            "--json",
            "--score-unknown",
            "--lead-min-score",
            "0",
        ],
    )?;
    let summary: serde_json::Value = serde_json::from_str(&summary)?;
    let hits = summary["hits"].as_u64().unwrap_or(0);
    println!(
        "  {} lines, {hits} {}, {} indicators in the set",
        summary["lines"],
        if hits == 1 { "hit" } else { "hits" },
        summary["indicators"]
    );
    for line in std::fs::read_to_string(&sightings)?.lines() {
        let s: serde_json::Value = serde_json::from_str(line)?;
        let names = |k: &str| {
            s[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        println!(
            "  line {}  {:<28} {} -> malware [{}] actors [{}]  TLP:{} score {:.0}",
            s["line"],
            s["observed"].as_str().unwrap_or(""),
            s["ts"].as_str().unwrap_or(""),
            names("malware"),
            names("actors"),
            s["tlp"].as_str().unwrap_or("").to_uppercase(),
            s["score"].as_f64().unwrap_or(0.0)
        );
    }
    println!("  (notcdn-update.example is a near miss: domain indicators match a name and its subdomains, label by label)");
    let leads = &summary["leads"];
    println!(
        "\n  Names in no intelligence, scored by the domain model ({}; machine-generated leads, not alerts):",
        leads["model"].as_str().unwrap_or("")
    );
    for l in leads["leads"].as_array().into_iter().flatten() {
        println!(
            "    {:.3}  {}",
            l["score"].as_f64().unwrap_or(0.0),
            l["domain"].as_str().unwrap_or("")
        );
        let why: Vec<String> = l["why"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                <vigil_ml::domain::Evidence as serde::Deserialize>::deserialize(e)
                    .ok()
                    .map(|e| e.brief())
            })
            .collect();
        if !why.is_empty() {
            println!("           why (log-odds): {}", why.join(", "));
        }
    }
    // The demo log's last name is a (fictional) town's appointment site: the model's known limit on long
    // non-English names of the programme's own countries. Where it is a lead, say how an agency keeps its own and
    // its country's public-sector names off the list.
    let own = "termine.musterhausen.de";
    if leads["leads"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|l| l["domain"] == own)
    {
        println!(
            "    ({own} is a fictional town's appointment site: a lead is a name to look at, not a verdict. Names of your own\n     and your country's public bodies leave the leads once listed: one per line, `.gv.at` for all under gv.at, then\n     `vigil ingest own-domains.txt --format warninglist`)"
        );
    }
    println!(
        "    (left out: {} warning-listed, {} under no public suffix such as the .example names; `vigil hunt --score-unknown` lists those scoring {} or more;\n     `vigil ml score-domains - --explain` says in full why a name scores as it does)",
        leads["warninglisted"], leads["not_public"], super::hunt::DEFAULT_LEAD_MIN_SCORE
    );

    // Vulnerability notices.
    if let Some(kev) = shared
        .map(|s| s.join("cisa-kev/known_exploited_vulnerabilities.json"))
        .filter(|p| p.is_file())
    {
        println!("\nVulnerability notices: CISA KEV, and the inventory of a demo ministry (3 components)\n");
        vigil(env, &["ingest", &kev.display().to_string(), "--json"])?;
        let name = "Demo Ministry of Finance";
        let (_, members) = vigil(env, &["members", "list", "--json"])?;
        let members: serde_json::Value = serde_json::from_str(&members)?;
        let list = members
            .as_array()
            .or_else(|| members["members"].as_array())
            .cloned()
            .unwrap_or_default();
        let id = match list.iter().find(|m| m["name"] == name) {
            Some(m) => m["id"].to_string(),
            None => {
                let (_, m) = vigil(
                    env,
                    &[
                        "members",
                        "add",
                        "--name",
                        name,
                        "--country",
                        "BE",
                        "--kind",
                        "ministry",
                        "--json",
                    ],
                )?;
                serde_json::from_str::<serde_json::Value>(&m)?["id"].to_string()
            }
        };
        let inv = tmp.join("inventory.csv");
        std::fs::write(&inv, DEMO_INVENTORY)?;
        vigil(
            env,
            &[
                "inventory",
                "import",
                "--member",
                &id,
                &inv.display().to_string(),
                "--json",
            ],
        )?;
        let (_, text) = vigil(env, &["notices", "--member", &id])?;
        print!("{text}");
        let (_, list) = vigil(env, &["notices", "--member", &id, "--json"])?;
        let list: serde_json::Value = serde_json::from_str(&list)?;
        if let Some(first) = list.as_array().and_then(|a| a.first()) {
            let nid = first["id"].as_str().unwrap_or_default().to_string();
            println!("\n  The first notice as the member reads it (vigil notices show {nid} --format md):\n");
            let (_, md) = vigil(env, &["notices", "show", &nid, "--format", "md"])?;
            for l in md.lines().take(28) {
                println!("    {l}");
            }
        }
    }

    // The models.
    let report = tmp.join("glass-heron-report.txt");
    std::fs::write(&report, SAMPLE_REPORT)?;
    let report_s = report.display().to_string();
    println!("\nAI: indicators and ATT&CK techniques read from a short report (crates/cli/demo/sample-report.txt)\n");
    let (_, x) = vigil(env, &["ml", "extract", &report_s])?;
    print!("{x}");
    println!("  (names under the reserved .example domain are not public-suffix names, so the extractor leaves them out)");
    let (_, t) = vigil(env, &["ml", "tag", &report_s])?;
    print!("{t}");
    // Attribution from what the tagger found: the groups whose known techniques overlap most (ATT&CK's groups
    // come with the shared data).
    if shared.is_none() {
        return Ok(());
    }
    let (_, tags) = vigil(env, &["ml", "tag", &report_s, "--json"])?;
    let tags: serde_json::Value = serde_json::from_str(&tags)?;
    let techniques: Vec<&str> = tags["techniques"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str())
        .collect();
    if !techniques.is_empty() {
        let mut args = vec!["ml", "attribute", "--top", "3"];
        for id in &techniques {
            args.extend(["--technique", id]);
        }
        println!("\n  The known groups these techniques resemble most (vigil ml attribute; a lead, not an attribution):\n");
        let (_, a) = vigil(env, &args)?;
        for l in a.lines() {
            println!("  {l}");
        }
    }
    Ok(())
}

fn tempdir_in(data: &Path) -> anyhow::Result<PathBuf> {
    let p = data.join(format!(".demo-{}", std::process::id()));
    std::fs::create_dir_all(&p)?;
    Ok(p)
}
