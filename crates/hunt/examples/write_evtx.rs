//! Writes a binary Windows event log of Sysmon DNS events, one per name of a file, for the log-format benchmark
//! (`scripts/bench-log-formats.py`): `write_evtx OUT NAMES`. Event `i` answers `198.51.100.{i % 250}`, as the
//! benchmark's other Sysmon files do.
use vigil_hunt::logs::evtx_write::{event, evtx};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut a = std::env::args().skip(1);
    let (Some(out), Some(names)) = (a.next(), a.next()) else {
        return Err("usage: write_evtx OUT NAMES".into());
    };
    let names = std::fs::read_to_string(names)?;
    let events: Vec<_> = names
        .lines()
        .enumerate()
        .map(|(i, n)| {
            let (m, s) = ((i / 60) % 60, i % 60);
            let time = format!("2026-12-07T09:{m:02}:{s:02}.{:03}4567Z", i % 1000);
            let answer = format!("::ffff:198.51.100.{};", i % 250);
            let ev = event(
                "Microsoft-Windows-Sysmon",
                22,
                &time,
                &[
                    ("RuleName", "-"),
                    ("UtcTime", &time[..19]),
                    ("ProcessGuid", "{5a1d4c6e-0001-0000-0000-000000000000}"),
                    ("ProcessId", "1234"),
                    ("QueryName", n),
                    ("QueryStatus", "0"),
                    ("QueryResults", &answer),
                    ("Image", "C:\\Windows\\System32\\svchost.exe"),
                    ("User", "NT AUTHORITY\\SYSTEM"),
                ],
            );
            (1_796_634_000 + i as u64, ev)
        })
        .collect();
    std::fs::write(out, evtx(&events))?;
    Ok(())
}
