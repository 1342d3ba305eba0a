//! The two ways the STIX reader reads (whole from memory up to 128 MiB, cut object by object from the stream above)
//! on the same arbitrary bytes: neither may panic, and they must agree on success and on the items read (an object
//! that is not valid JSON is rejected alone by both). The one allowed difference: where a number or literal runs
//! straight into a fault (`[truex]`), reading from memory has taken the token and rejects it as "not a JSON
//! object", where reading object by object rejects the whole value as "not valid JSON".
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_formats::{stix, Item, ParseCtx};

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
    assert_eq!(ra.is_ok(), rb.is_ok(), "{ra:?} / {rb:?}: {a:?} / {b:?}");
    assert_eq!(a.len(), b.len(), "{a:?} / {b:?}");
    for (x, y) in a.iter().zip(&b) {
        let (dx, dy) = (format!("{x:?}"), format!("{y:?}"));
        if dx != dy {
            assert!(
                matches!((x, y), (
                    Item::Reject { location: l1, reason: r1 },
                    Item::Reject { location: l2, reason: r2 },
                ) if l2.starts_with(l1.as_str())
                    && r1.starts_with("not a JSON object but")
                    && r2.starts_with("not valid JSON")),
                "items differ: {dx} / {dy}"
            );
        }
    }
});
