//! The indicator set's look-ups (domains with their parents, addresses and CIDR blocks, URLs with their paths and
//! directories, hashes, e-mail addresses) on arbitrary field values: the first byte picks the field's role, the rest
//! is what a log line would hold. Any value must be answered without a panic, and every match must be reportable.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_hunt::set::Scratch;
use vigil_hunt::Role;

#[path = "shared/hunt_set.rs"]
mod hunt_set;
use hunt_set::set;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, value)) = data.split_first() else {
        return;
    };
    let role = match sel % 8 {
        0 => Role::Domain,
        1 => Role::Ip,
        2 => Role::SrcIp,
        3 => Role::DstIp,
        4 => Role::Url,
        5 => Role::Hash,
        6 => Role::Email,
        _ => Role::Answer,
    };
    let set = set();
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    set.lookup(role, value, &mut scratch, &mut out);
    for m in &out {
        let _ = set.indicator_value(m);
        let _ = set.hit_type(m, role);
        let _ = set.meta(m.indicator);
    }
});
