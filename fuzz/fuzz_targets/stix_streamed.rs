//! The two ways the STIX reader reads (whole from memory up to 128 MiB, cut object by object from the stream above)
//! on the same arbitrary bytes: neither may panic, and they must agree on success and on the items read. The one
//! allowed difference: where a number or literal is followed at once by a syntax error (`[true x`), reading from
//! memory has already taken the token and rejects it ("not a JSON object") before failing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil_formats::{stix, ParseCtx};

fn items(
    r: Result<(), vigil_formats::FormatError>,
    items: Vec<vigil_formats::Item>,
) -> (bool, String) {
    (r.is_ok(), format!("{items:?}"))
}

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
    let (ok_a, a) = items(ra, a);
    // A small buffer (1 to 64 bytes) so values cross buffer ends.
    let reader = std::io::BufReader::with_capacity(usize::from(cap % 64) + 1, body);
    let mut b = Vec::new();
    let rb = stix::parse_streamed(reader, &ctx, &mut |i| {
        b.push(i);
        Ok(())
    });
    let (ok_b, b) = items(rb, b);
    assert_eq!(
        ok_a, ok_b,
        "one path failed and the other did not: {a} / {b}"
    );
    if ok_a || a == b {
        assert_eq!(a, b);
    } else {
        let extra = a.strip_prefix(b.trim_end_matches(']')).unwrap_or_default();
        assert!(
            extra.contains("not a JSON object but") && extra.matches("Reject").count() == 1,
            "items differ: {a} / {b}"
        );
    }
});
