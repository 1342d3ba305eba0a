//! `vigil bench ingest`: Vigil's ingest speed next to the Python `stix2` library parsing the same ATT&CK bundle, in
//! the same run, plus a 1,000,000-indicator list; whole processes timed, peak memory read from the kernel.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::json;

use crate::args::BenchIngestArgs;

struct Run {
    seconds: f64,
    max_rss_mb: f64,
    stdout: String,
}

/// Runs `vigil` (this executable) as a child under `/usr/bin/time` to get its peak RSS.
fn run_child(args: &[String]) -> anyhow::Result<Run> {
    let exe = std::env::current_exe()?;
    let timer = Path::new("/usr/bin/time");
    let t0 = Instant::now();
    let out = if timer.exists() {
        Command::new(timer)
            .arg("-f")
            .arg("MAXRSS %M")
            .arg(&exe)
            .args(args)
            .output()?
    } else {
        Command::new(&exe).args(args).output()?
    };
    let seconds = t0.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let max_rss_mb = stderr
        .lines()
        .find_map(|l| l.strip_prefix("MAXRSS "))
        .and_then(|k| k.trim().parse::<f64>().ok())
        .map(|k| k / 1024.0)
        .unwrap_or(f64::NAN);
    if !out.status.success() && out.status.code() != Some(1) {
        bail!(
            "vigil {} failed: {}",
            args.join(" "),
            stderr.lines().last().unwrap_or("")
        );
    }
    Ok(Run {
        seconds,
        max_rss_mb,
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
    })
}

fn python_stix2_rate(python: &Path, bundle: &Path) -> anyhow::Result<f64> {
    let code = format!(
        "import gzip,json,time,stix2\nb=json.load(gzip.open({:?}))\nt=time.time();n=0\nfor o in b['objects']:\n  stix2.parse(o,allow_custom=True,version='2.0');n+=1\nprint(n/(time.time()-t))",
        bundle.display().to_string()
    );
    let out = Command::new(python)
        .arg("-c")
        .arg(code)
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "python stix2 peer failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

/// Writes up to `n` distinct indicator values from the maltrail trails to `out`.
fn million_list(corpus: &Path, n: usize, out: &Path) -> anyhow::Result<usize> {
    let tarball = corpus.join("maltrail/maltrail-static-malware.shared.tar.gz");
    let mut seen: HashSet<String> = HashSet::with_capacity(n);
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    let mut io_err = None;
    vigil_formats::input::walk(
        &tarball.display().to_string(),
        &mut |mut unit| {
            if seen.len() >= n || !unit.name.ends_with(".txt") {
                return Ok(());
            }
            let mut line = String::new();
            while seen.len() < n {
                line.clear();
                match unit.reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let v = line.split('#').next().unwrap_or("").trim();
                if !v.is_empty() && seen.insert(v.to_string()) {
                    if let Err(e) = writeln!(w, "{v}") {
                        io_err = Some(e);
                        break;
                    }
                }
            }
            Ok(())
        },
        &mut |_| Ok(()),
        &mut |_| Ok(()),
    )?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    w.flush()?;
    Ok(seen.len())
}

pub fn ingest(a: &BenchIngestArgs) -> anyhow::Result<u8> {
    let bundle = a.corpus.join("mitre-attack/enterprise-attack.json.gz");
    if !bundle.exists() {
        bail!(
            "{} not found: pass --corpus DIR (the shared data folder)",
            bundle.display()
        );
    }
    let work = std::env::temp_dir().join(format!("vigil-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let data1 = work.join("attack");
    let r = run_child(&[
        "--data".into(),
        data1.display().to_string(),
        "ingest".into(),
        bundle.display().to_string(),
        "--json".into(),
    ])?;
    let rep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
    let objects = rep["added"].as_u64().unwrap_or(0)
        + rep["unchanged"].as_u64().unwrap_or(0)
        + rep["updated"].as_u64().unwrap_or(0);
    let attack_rate = objects as f64 / r.seconds;
    let peer = python_stix2_rate(&a.python, &bundle);
    let list = work.join("million.txt");
    let n = million_list(&a.corpus, a.indicators, &list)?;
    let data2 = work.join("million");
    let m = run_child(&[
        "--data".into(),
        data2.display().to_string(),
        "ingest".into(),
        list.display().to_string(),
        "--source".into(),
        "maltrail".into(),
        "--json".into(),
    ])?;
    let mrep: serde_json::Value = serde_json::from_str(&m.stdout).unwrap_or_default();
    let list_rate = n as f64 / m.seconds;
    let backups = backup_runs(&work, &data2)?;
    // The copy's own report (its time without the process start and the comparison), read once.
    let pg = match &a.postgres {
        Some(url) => {
            let (pa, pl, pc, pb) = postgres_runs(url, &work, &bundle, &list, &data2)?;
            let copied: serde_json::Value = serde_json::from_str(&pc.stdout).unwrap_or_default();
            let back: serde_json::Value = serde_json::from_str(&pb.stdout).unwrap_or_default();
            Some((pa, pl, pc, copied, pb, back))
        }
        None => None,
    };
    let _ = std::fs::remove_dir_all(&work);
    let peer_rate = peer.as_ref().ok().copied();
    let mut doc = json!({
        "attack": {"objects": objects, "seconds": r.seconds, "objects_per_s": attack_rate, "peak_rss_mb": r.max_rss_mb,
                   "python_stix2_parse_per_s": peer_rate, "ratio": peer_rate.map(|p| attack_rate / p)},
        "list": {"indicators": n, "seconds": m.seconds, "indicators_per_s": list_rate, "peak_rss_mb": m.max_rss_mb,
                 "added": mrep["added"], "rejected": mrep["rejected"]},
    });
    doc["backup"] = backups.0.clone();
    if let Some((pa, pl, pc, copied, pb, back)) = &pg {
        doc["postgres"] = json!({
            "attack": {"seconds": pa.seconds, "objects_per_s": objects as f64 / pa.seconds,
                       "embedded_over_postgres": pa.seconds / r.seconds},
            "list": {"seconds": pl.seconds, "indicators_per_s": n as f64 / pl.seconds,
                     "embedded_over_postgres": pl.seconds / m.seconds},
            "copy": {"seconds": pc.seconds, "copy_seconds": copied["copied"]["seconds"],
                     "versions": copied["copied"]["versions"], "verified": copied["ok"],
                     "ingest_over_copy": pl.seconds / copied["copied"]["seconds"].as_f64().unwrap_or(f64::NAN),
                     "peak_rss_mb": pc.max_rss_mb},
            "copy_back": {"seconds": pb.seconds, "copy_seconds": back["copied"]["seconds"],
                     "versions": back["copied"]["versions"], "verified": back["ok"],
                     "embedded_ingest_over_copy_back": m.seconds / back["copied"]["seconds"].as_f64().unwrap_or(f64::NAN),
                     "peak_rss_mb": pb.max_rss_mb},
        });
    }
    if a.json {
        crate::output::json(&doc)?;
    } else {
        println!("ATT&CK bundle: {objects} objects stored in {:.2} s = {attack_rate:.0} objects/s, peak RSS {:.0} MB", r.seconds, r.max_rss_mb);
        match &peer {
            Ok(p) => println!("Python stix2.parse on the same bundle, same run: {p:.0} objects/s -> Vigil stores {:.1}x faster than stix2 parses", attack_rate / p),
            Err(e) => println!("Python stix2 peer not run: {e}"),
        }
        println!(
            "{n} indicators (maltrail values) stored in {:.2} s = {list_rate:.0} indicators/s, peak RSS {:.0} MB ({} added, {} rejected)",
            m.seconds, m.max_rss_mb, mrep["added"], mrep["rejected"]
        );
        println!("{}", backups.1);
        if let Some((pa, pl, pc, copied, pb, back)) = &pg {
            println!(
                "PostgreSQL knowledge base, same inputs, same run: ATT&CK {:.2} s = {:.0} objects/s ({:.2}x the embedded store's time); list {:.2} s = {:.0} indicators/s ({:.2}x)",
                pa.seconds, objects as f64 / pa.seconds, pa.seconds / r.seconds,
                pl.seconds, n as f64 / pl.seconds, pl.seconds / m.seconds
            );
            let secs = copied["copied"]["seconds"].as_f64().unwrap_or(f64::NAN);
            println!(
                "`vigil store copy` of the list's embedded store into PostgreSQL: {} object versions in {secs:.2} s (ingesting the list into PostgreSQL took {:.2}x as long); with the object-by-object comparison {:.2} s in all ({}), peak RSS {:.0} MB",
                copied["copied"]["versions"], pl.seconds / secs, pc.seconds,
                if copied["ok"] == true { "alike" } else { "DIFFERENT" }, pc.max_rss_mb
            );
            let secs = back["copied"]["seconds"].as_f64().unwrap_or(f64::NAN);
            println!(
                "`vigil store copy --from` of that PostgreSQL store back into a new embedded store: {} object versions in {secs:.2} s (ingesting the list into the embedded store took {:.2}x as long); with the comparison {:.2} s in all ({}), peak RSS {:.0} MB",
                back["copied"]["versions"], m.seconds / secs, pb.seconds,
                if back["ok"] == true { "alike" } else { "DIFFERENT" }, pb.max_rss_mb
            );
        }
    }
    Ok(0)
}

/// `vigil store backup` and `vigil store restore` of the list's embedded store (`listed`), and SQLite's own online
/// backup (`sqlite3 DB .backup FILE`, when the shell is installed) of the same file in the same run: the JSON member
/// `backup` and the line that says it.
fn backup_runs(work: &Path, listed: &Path) -> anyhow::Result<(serde_json::Value, String)> {
    let file = work.join("million-backup.db");
    let b = run_child(&[
        "--data".into(),
        listed.display().to_string(),
        "store".into(),
        "backup".into(),
        "--out".into(),
        file.display().to_string(),
        "--json".into(),
    ])?;
    let rep: serde_json::Value = serde_json::from_str(&b.stdout).unwrap_or_default();
    let restored = work.join("restored");
    let r = run_child(&[
        "--data".into(),
        restored.display().to_string(),
        "store".into(),
        "restore".into(),
        file.display().to_string(),
        "--json".into(),
    ])?;
    let rrep: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
    let store_bytes = std::fs::metadata(listed.join("vigil.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    let peer_file = work.join("sqlite3-backup.db");
    let t0 = Instant::now();
    let peer = Command::new("sqlite3")
        .arg(listed.join("vigil.db"))
        .arg(format!(".backup '{}'", peer_file.display()))
        .output();
    let peer_seconds = match peer {
        Ok(o) if o.status.success() => Some(t0.elapsed().as_secs_f64()),
        _ => None,
    };
    // The same job as Vigil's: the copy, then SQLite's own check of it.
    let t0 = Instant::now();
    let checked = Command::new("sqlite3")
        .arg(&peer_file)
        .arg("PRAGMA integrity_check")
        .output();
    let peer_checked = match (peer_seconds, checked) {
        (Some(p), Ok(o))
            if o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "ok" =>
        {
            Some(p + t0.elapsed().as_secs_f64())
        }
        _ => None,
    };
    let ok = rep["backup"]["problems"] == json!([]) && rrep["ok"] == true;
    let doc = json!({"store_bytes": store_bytes, "backup_bytes": rep["backup"]["bytes"],
        "versions": rep["backup"]["versions"], "seconds": b.seconds, "peak_rss_mb": b.max_rss_mb,
        "restore_seconds": r.seconds, "checked": ok, "sqlite3_backup_seconds": peer_seconds,
        "sqlite3_backup_and_check_seconds": peer_checked,
        "ratio": peer_seconds.map(|p| b.seconds / p), "ratio_checked": peer_checked.map(|p| b.seconds / p)});
    let line = format!(
        "`vigil store backup` of the list's store ({store_bytes} bytes, {} object versions): {:.2} s with its check, a {}-byte file, peak RSS {:.0} MB; `vigil store restore` {:.2} s ({}); {}",
        rep["backup"]["versions"],
        b.seconds,
        rep["backup"]["bytes"],
        b.max_rss_mb,
        r.seconds,
        if ok { "both checked sound" } else { "CHECK FAILED" },
        match peer_seconds {
            Some(p) => format!(
                "SQLite's own `sqlite3 .backup` of the same file: {p:.2} s alone (Vigil's backup takes {:.2}x that), {} with `PRAGMA integrity_check` of the copy{}",
                b.seconds / p,
                peer_checked.map_or("failed".to_string(), |c| format!("{c:.2} s")),
                peer_checked.map_or(String::new(), |c| format!(" (Vigil's takes {:.2}x that)", b.seconds / c))
            ),
            None => "sqlite3 not installed: its .backup peer not run".into(),
        }
    );
    Ok((doc, line))
}

/// The two ingests of the benchmark into a PostgreSQL knowledge base, then `vigil store copy` of the list's embedded
/// store (`listed`) into it, and `vigil store copy --from` of that back into a new embedded store: a fresh schema each,
/// dropped afterwards.
fn postgres_runs(
    url: &str,
    work: &Path,
    bundle: &Path,
    list: &Path,
    listed: &Path,
) -> anyhow::Result<(Run, Run, Run, Run)> {
    let schema = format!("vigil_bench_{}", std::process::id());
    let run = |name: &str, input: &Path, extra: &[&str]| -> anyhow::Result<Run> {
        let mut args: Vec<String> = vec![
            "--data".into(),
            work.join(name).display().to_string(),
            "--store".into(),
            url.into(),
            "--store-schema".into(),
            schema.clone(),
            "ingest".into(),
            input.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push("--json".into());
        run_child(&args)
    };
    let out = (|| {
        let a = run("pg-attack", bundle, &[])?;
        // One schema per input, as the embedded runs have one store each.
        vigil_store::postgres::PostgresStore::open(url, Some(&schema))?.drop_schema()?;
        let l = run("pg-list", list, &["--source", "maltrail"])?;
        vigil_store::postgres::PostgresStore::open(url, Some(&schema))?.drop_schema()?;
        let c = run_child(&[
            "--data".into(),
            listed.display().to_string(),
            "store".into(),
            "copy".into(),
            "--to".into(),
            url.into(),
            "--store-schema".into(),
            schema.clone(),
            "--json".into(),
        ])?;
        // And back into a new embedded store (`vigil store copy --from`).
        let b = run_child(&[
            "--data".into(),
            work.join("pg-back").display().to_string(),
            "store".into(),
            "copy".into(),
            "--from".into(),
            url.into(),
            "--store-schema".into(),
            schema.clone(),
            "--json".into(),
        ])?;
        Ok((a, l, c, b))
    })();
    if let Ok(s) = vigil_store::postgres::PostgresStore::open(url, Some(&schema)) {
        let _ = s.drop_schema();
    }
    out
}
