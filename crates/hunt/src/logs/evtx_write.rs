//! A writer of binary Windows event logs (`.evtx`): records of template-less BinXML (names inline in the stream,
//! attribute and text values as UTF-16 strings) in 64 KiB chunks, with the header and chunk CRCs as Windows writes
//! them. Windows itself writes templates; the `evtx` crate reads both. For the tests' fixture
//! (`tests/fixtures/sysmon.evtx`) and the log-format benchmark (`examples/write_evtx.rs`), so that neither needs
//! a Windows machine's log.

/// An element: name, attributes, children (elements or text).
pub struct El(
    pub &'static str,
    pub Vec<(&'static str, String)>,
    pub Vec<Node>,
);

/// A child.
pub enum Node {
    El(El),
    Text(String),
}

struct W {
    buf: Vec<u8>,
}

impl W {
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn patch(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    /// A name reference to the name written right after it (its chunk offset is the next position).
    fn name(&mut self, n: &str) {
        let units: Vec<u16> = n.encode_utf16().collect();
        let off = self.buf.len() as u32 + 4;
        self.u32(off);
        self.u32(0);
        let hash = units.iter().fold(0u32, |h, &c| {
            h.wrapping_mul(65599).wrapping_add(u32::from(c))
        });
        self.u16(hash as u16);
        self.u16(units.len() as u16);
        for c in units {
            self.u16(c);
        }
        self.u16(0);
    }
    fn text(&mut self, v: &str) {
        let units: Vec<u16> = v.encode_utf16().collect();
        self.buf.extend_from_slice(&[0x05, 0x01]);
        self.u16(units.len() as u16);
        for c in units {
            self.u16(c);
        }
    }
    /// One record (header, the event's BinXML, the size copy); returns where it starts.
    fn record(&mut self, id: u64, filetime: u64, ev: &El) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(b"\x2a\x2a\x00\x00");
        self.u32(0);
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf.extend_from_slice(&filetime.to_le_bytes());
        self.buf.extend_from_slice(&[0x0f, 0x01, 0x01, 0x00]);
        self.element(ev);
        self.buf.push(0x00);
        let size = (self.buf.len() - start + 4) as u32;
        self.u32(size);
        self.patch(start + 4, size);
        start
    }

    fn element(&mut self, e: &El) {
        let El(name, attrs, children) = e;
        self.buf.push(if attrs.is_empty() { 0x01 } else { 0x41 });
        let size_at = self.buf.len();
        self.u32(0);
        self.name(name);
        if !attrs.is_empty() {
            let list_at = self.buf.len();
            self.u32(0);
            for (i, (n, v)) in attrs.iter().enumerate() {
                self.buf.push(if i + 1 < attrs.len() { 0x46 } else { 0x06 });
                self.name(n);
                self.text(v);
            }
            let len = (self.buf.len() - list_at - 4) as u32;
            self.patch(list_at, len);
        }
        if children.is_empty() {
            self.buf.push(0x03);
        } else {
            self.buf.push(0x02);
            for c in children {
                match c {
                    Node::El(e) => self.element(e),
                    Node::Text(t) => self.text(t),
                }
            }
            self.buf.push(0x04);
        }
        let len = (self.buf.len() - size_at - 4) as u32;
        self.patch(size_at, len);
    }
}

/// The file: a 4 KiB header and as many 64 KiB chunks as `events` need, records numbered from 1, each written
/// at its `unix` seconds.
pub fn evtx(events: &[(u64, El)]) -> Vec<u8> {
    const CHUNK: usize = 65536;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut w = W {
        buf: vec![0u8; 512],
    };
    let (mut first, mut last) = (1u64, 512usize);
    for (i, (unix, ev)) in events.iter().enumerate() {
        let id = i as u64 + 1;
        let filetime = unix * 10_000_000 + 116_444_736_000_000_000;
        let mut start = w.record(id, filetime, ev);
        // Name references are chunk offsets: a record that does not fit is written again in a new chunk.
        if w.buf.len() > CHUNK {
            assert!(start > 512, "an event larger than a chunk");
            w.buf.truncate(start);
            let full = std::mem::replace(
                &mut w,
                W {
                    buf: vec![0u8; 512],
                },
            );
            chunks.push(seal(full.buf, first, id - 1, last));
            first = id;
            start = w.record(id, filetime, ev);
        }
        last = start;
    }
    let n = events.len() as u64;
    if n >= first {
        chunks.push(seal(w.buf, first, n, last));
    }
    let mut file = vec![0u8; 4096];
    file[..8].copy_from_slice(b"ElfFile\0");
    file[16..24].copy_from_slice(&(chunks.len() as u64).saturating_sub(1).to_le_bytes());
    file[24..32].copy_from_slice(&(n + 1).to_le_bytes());
    file[32..36].copy_from_slice(&128u32.to_le_bytes());
    file[36..38].copy_from_slice(&1u16.to_le_bytes());
    file[38..40].copy_from_slice(&3u16.to_le_bytes());
    file[40..42].copy_from_slice(&4096u16.to_le_bytes());
    file[42..44].copy_from_slice(&(chunks.len() as u16).to_le_bytes());
    let crc = crc32fast::hash(&file[..120]);
    file[124..128].copy_from_slice(&crc.to_le_bytes());
    for c in chunks {
        file.extend_from_slice(&c);
    }
    file
}

/// A chunk of records `first..=last_id` whose last record starts at `last`: header, CRCs, padding.
fn seal(mut chunk: Vec<u8>, first: u64, last_id: u64, last: usize) -> Vec<u8> {
    let free = chunk.len();
    chunk.resize(65536, 0);
    chunk[..8].copy_from_slice(b"ElfChnk\0");
    for (at, v) in [(8, first), (16, last_id), (24, first), (32, last_id)] {
        chunk[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    for (at, v) in [(40, 128u32), (44, last as u32), (48, free as u32)] {
        chunk[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    let events_crc = crc32fast::hash(&chunk[512..free]);
    chunk[52..56].copy_from_slice(&events_crc.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&chunk[..120]);
    h.update(&chunk[128..512]);
    chunk[124..128].copy_from_slice(&h.finalize().to_le_bytes());
    chunk
}

fn el(name: &'static str, attrs: Vec<(&'static str, String)>, children: Vec<Node>) -> Node {
    Node::El(El(name, attrs, children))
}

fn text(name: &'static str, v: &str) -> Node {
    el(name, vec![], vec![Node::Text(v.into())])
}

/// An event as Windows renders it: provider, id, time, computer, and `<Data Name=...>` items.
pub fn event(provider: &str, id: u32, time: &str, data: &[(&'static str, &str)]) -> El {
    let system = el(
        "System",
        vec![],
        vec![
            el("Provider", vec![("Name", provider.into())], vec![]),
            text("EventID", &id.to_string()),
            el("TimeCreated", vec![("SystemTime", time.into())], vec![]),
            text("Computer", "PC-0815.musterhausen.local"),
        ],
    );
    let items = data
        .iter()
        .map(|(n, v)| {
            el(
                "Data",
                vec![("Name", (*n).into())],
                vec![Node::Text((*v).into())],
            )
        })
        .collect();
    El(
        "Event",
        vec![(
            "xmlns",
            "http://schemas.microsoft.com/win/2004/08/events/event".into(),
        )],
        vec![system, el("EventData", vec![], items)],
    )
}

/// The fixture `crates/hunt/tests/fixtures/sysmon.evtx`: a Sysmon DNS query, a process with its hashes,
/// a failed logon from an IPv4-mapped address, a BITS download.
pub fn fixture() -> Vec<u8> {
    evtx(&[
        (
            1_796_634_932,
            event(
                "Microsoft-Windows-Sysmon",
                22,
                "2026-12-07T09:15:32.1234567Z",
                &[
                    ("RuleName", "-"),
                    ("QueryName", "cdn.evil-update.com"),
                    ("QueryStatus", "0"),
                    ("QueryResults", "type:  5 edge.example.net;::ffff:203.0.113.66;"),
                    ("Image", "C:\\Windows\\System32\\rundll32.exe"),
                ],
            ),
        ),
        (
            1_796_634_933,
            event(
                "Microsoft-Windows-Sysmon",
                1,
                "2026-12-07T09:15:33.0000000Z",
                &[
                    ("Image", "C:\\Temp\\upd.exe"),
                    ("CommandLine", "upd.exe --from bad.example.net"),
                    (
                        "Hashes",
                        "MD5=00112233445566778899AABBCCDDEEFF,SHA256=AB12CD34AB12CD34AB12CD34AB12CD34AB12CD34AB12CD34AB12CD34AB12CD34,IMPHASH=FFEEDDCCBBAA99887766554433221100",
                    ),
                ],
            ),
        ),
        (
            1_796_634_934,
            event(
                "Microsoft-Windows-Security-Auditing",
                4625,
                "2026-12-07T09:15:34.0000000Z",
                &[
                    ("TargetUserName", "administrator"),
                    ("IpAddress", "::ffff:198.51.100.23"),
                    ("IpPort", "51515"),
                ],
            ),
        ),
        (
            1_796_634_935,
            event(
                "Microsoft-Windows-Bits-Client",
                59,
                "2026-12-07T09:15:35.0000000Z",
                &[
                    ("name", "upd"),
                    ("url", "http://bad.example.net/gate.php?id=7"),
                ],
            ),
        ),
    ])
}
