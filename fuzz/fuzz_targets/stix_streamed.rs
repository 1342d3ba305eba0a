//! The two ways the STIX reader reads (whole from memory up to 128 MiB, cut object by object from the stream above)
//! on the same arbitrary bytes: neither may panic, and they must agree (`stix::paths_agree`: the same result and
//! items; an object that is not valid JSON is rejected alone by both).
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_formats::{stix, ParseCtx};

fuzz_target!(|data: &[u8]| {
    let Some((&cap, body)) = data.split_first() else {
        return;
    };
    let ctx = ParseCtx {
        source: "fuzz".into(),
        file: "fuzz".into(),
        confidence: None,
        now: "2026-11-29T00:00:00.000Z".into(),
    };
    let mut a = Vec::new();
    let ra = stix::parse(&mut &body[..], &ctx, &mut |i| {
        a.push(i);
        Ok(())
    });
    // A small buffer (1 to 64 bytes) so values cross buffer ends.
    let reader = std::io::BufReader::with_capacity(usize::from(cap % 64) + 1, body);
    let mut b = Vec::new();
    let rb = stix::parse_streamed(reader, &ctx, &mut |i| {
        b.push(i);
        Ok(())
    });
    if let Err(e) = stix::paths_agree((&a, &ra), (&b, &rb)) {
        panic!("{e}");
    }
});
