//! The hunt's line parsers (Zeek TSV with headers, Zeek JSON, EVE, BIND, unbound, Squid, Windows DNS, W3C
//! with headers, ECS, FortiGate, CEF, LEEF, PAN-OS, Cisco ASA, Check Point, Windows events as JSON and XML) on
//! arbitrary lines.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_hunt::logs::{Format, Parser, Record};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let format = match sel % 17 {
        0 => Format::ZeekTsv,
        1 => Format::ZeekJson,
        2 => Format::Eve,
        3 => Format::Bind,
        4 => Format::Unbound,
        5 => Format::WinDns,
        6 => Format::W3c,
        7 => Format::Ecs,
        8 => Format::Fortigate,
        9 => Format::Cef,
        10 => Format::Leef,
        11 => Format::Panos,
        12 => Format::Asa,
        13 => Format::Checkpoint,
        14 => Format::Winevt,
        15 => Format::WinevtXml,
        _ => Format::Squid,
    };
    let mut parser = Parser::new(&format);
    let mut rec = Record::default();
    for line in body.split(|&b| b == b'\n') {
        if parser.is_header_line(line) {
            parser = parser.with_header_line(line);
            continue;
        }
        if parser.parse(line, &mut rec).is_ok() {
            let _ = parser.timestamp(line, &rec);
        }
    }
});
