//! `vigil demo`: builds a store from the project's own sample and, when present, the shared public data sets,
//! then shows a few queries an analyst would run.

use std::path::{Path, PathBuf};

use serde_json::json;
use vigil_ingest::{ingest_paths, Options, Report};
use vigil_model::Tlp;
use vigil_store::Store;

use super::Env;
use crate::args::{Cli, DemoArgs};

const SAMPLE_BUNDLE: &str = include_str!("../../demo/sample-bundle.json");
const SAMPLE_IOCS: &str = include_str!("../../demo/sample-iocs.txt");

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
        for wl in ["tranco10k", "public-dns-v4", "google-gcp-ipv4"] {
            if s.join(format!("misp-warninglists/lists/{wl}")).is_dir() {
                steps.push(Step {
                    what: "MISP warning list",
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
        let r = ingest_paths(&env.store, &step.paths, &step.opts, &mut |r: &Report| {
            pb.set_message(format!("{}: {} objects", step.what, r.objects()))
        })?;
        pb.finish_and_clear();
        if !a.json {
            println!(
                "loaded {:<75} {:>7} added {:>7} unchanged {:>5} rejected ({:.1} s)",
                step.what, r.added, r.unchanged, r.rejected, r.seconds
            );
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
        format!("{v} search loader"),
        format!("{v} export stix --out demo-green.json --tlp-max green   # leaves out the TLP:AMBER sample hash"),
    ];
    if shared.is_some() {
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
    use vigil_store::MemberStore;
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
        &env.store,
        op.id,
        vigil_server::policy::Role::Analyst,
        expires.as_deref(),
    )?;
    let (m_token, _) = vigil_server::tokens::create(
        &env.store,
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
                &json!({"url": url, "taxii": format!("{url}/taxii2/"), "operator_token": op_token,
                "member": member.id, "member_token": m_token}),
            );
        } else {
            println!("\nServing the demo store at {url} (Ctrl-C to stop)");
            println!("  TAXII 2.1 discovery: {url}/taxii2/    REST: {url}/api/v1/    OpenAPI: {url}/api/v1/openapi.json");
            println!("  operator analyst token (sees everything):      {op_token}");
            println!(
                "  member {} token (Demo CSIRT, CLEAR+GREEN+shared): {m_token}",
                member.id
            );
            println!("  try: curl -H 'Accept: application/taxii+json;version=2.1' -u x:{m_token} {url}/taxii2/vigil/collections/");
        }
    })
}

fn tempdir_in(data: &Path) -> anyhow::Result<PathBuf> {
    let p = data.join(format!(".demo-{}", std::process::id()));
    std::fs::create_dir_all(&p)?;
    Ok(p)
}
