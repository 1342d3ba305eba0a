//! Which text encoding an input is in, where it is not UTF-8: UTF-16 is what Windows tools write (Windows
//! PowerShell 5.1's `>` and `Out-File`, Notepad's "Unicode"), and read as bytes every other byte of it is NUL.

/// Byte order of UTF-16 input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utf16Order {
    Little,
    Big,
}

impl Utf16Order {
    pub fn name(self) -> &'static str {
        match self {
            Utf16Order::Little => "UTF-16LE",
            Utf16Order::Big => "UTF-16BE",
        }
    }
}

/// Bytes of the start of the input the NUL pattern is judged on.
const SNIFF: usize = 4096;

/// The byte order when `head` (the start of the input) is UTF-16: a byte-order mark, or, without one, at least 16
/// code units of which nine in ten have a NUL high byte and one in ten at most a NUL low byte (ASCII-heavy text,
/// as reports, indicator lists and JSON are). UTF-8 text never has that pattern: it holds no NUL bytes.
pub fn detect_utf16(head: &[u8]) -> Option<Utf16Order> {
    match head {
        [0xFF, 0xFE, ..] => return Some(Utf16Order::Little),
        [0xFE, 0xFF, ..] => return Some(Utf16Order::Big),
        _ => {}
    }
    let h = &head[..head.len().min(SNIFF) & !1];
    let units = h.len() / 2;
    if units < 16 {
        return None;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for u in h.chunks_exact(2) {
        even += usize::from(u[0] == 0);
        odd += usize::from(u[1] == 0);
    }
    let many = |n: usize| n * 10 >= units * 9;
    let few = |n: usize| n * 10 <= units;
    if many(odd) && few(even) {
        Some(Utf16Order::Little)
    } else if many(even) && few(odd) {
        Some(Utf16Order::Big)
    } else {
        None
    }
}

/// `s` as UTF-16 in byte order `order`, with a byte-order mark when `bom`: what the readers above are tested with.
pub fn encode_utf16(s: &str, order: Utf16Order, bom: bool) -> Vec<u8> {
    let mark: &[u8] = match (bom, order) {
        (false, _) => &[],
        (true, Utf16Order::Little) => &[0xFF, 0xFE],
        (true, Utf16Order::Big) => &[0xFE, 0xFF],
    };
    let units = s.encode_utf16().flat_map(|u| match order {
        Utf16Order::Little => u.to_le_bytes(),
        Utf16Order::Big => u.to_be_bytes(),
    });
    mark.iter().copied().chain(units).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_mark_or_pattern_and_never_utf8() {
        let s = "C2 server: evil-domain.com and 203.0.113.77";
        for order in [Utf16Order::Little, Utf16Order::Big] {
            assert_eq!(detect_utf16(&encode_utf16(s, order, true)), Some(order));
            assert_eq!(detect_utf16(&encode_utf16(s, order, false)), Some(order));
        }
        assert_eq!(detect_utf16(s.as_bytes()), None);
        assert_eq!(
            detect_utf16("Пример отчёта о вредоносном ПО".as_bytes()),
            None
        );
        assert_eq!(
            detect_utf16(&encode_utf16("short", Utf16Order::Little, false)),
            None
        );
        // Binary with NULs everywhere is not text.
        assert_eq!(detect_utf16(&[0u8; 256]), None);
    }
}
