//! Which text encoding an input is in, where it is not UTF-8: UTF-16 is what Windows tools write (Windows
//! PowerShell 5.1's `>` and `Out-File`, Notepad's "Unicode"), and read as bytes every other byte of it is NUL;
//! legacy single- and double-byte encodings (windows-1252, GBK, ...) are what Excel and Word write as "plain" text
//! ([`legacy`]).

pub mod legacy;

pub use legacy::{
    detect_legacy, detect_legacy_in, Encoding, LegacyNote, LegacySwitch, Utf8OrLegacy, LEGACY_HEAD,
};

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
/// code units of which
/// - nine in ten have a NUL high byte and one in ten at most a NUL low byte (ASCII-heavy text, as reports,
///   indicator lists and JSON are), or
/// - one in twenty at least has a NUL high byte (spaces, digits, ASCII punctuation and indicators), nine in ten
///   have either that or the one high byte in 0x01-0x1F most common among them, and one in ten at most a NUL low
///   byte: text in an alphabet of one 256-character block of U+0100-U+1FFF (Cyrillic, Greek, Armenian, Hebrew,
///   Arabic, Georgian, ...), such as a Ukrainian or Bulgarian report saved without a byte-order mark, or
/// - one in twenty at least has a NUL high byte, nine in ten of those are printable ASCII, nine in ten of all
///   have a NUL high byte or one of the Chinese, Japanese and Korean blocks' (kana and CJK punctuation
///   U+3000-U+30FF, CJK ideographs U+4E00-U+9FFF, Hangul syllables U+AC00-U+D7AF, full-width forms U+FFxx),
///   half of the others at least are in the first three, and one in ten at most has a NUL low byte: a Chinese,
///   Japanese or Korean report saved without a mark.
///
/// UTF-8 text never has any of these patterns: it holds no NUL bytes.
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
    // How often each value is the first and the second byte of a unit, and how many units are printable ASCII
    // read either way (a NUL high byte and a low byte that is a tab, a line break or 0x20-0x7E).
    let (mut first, mut second) = ([0usize; 256], [0usize; 256]);
    let printable = |b: u8| matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7E);
    let (mut ascii_le, mut ascii_be) = (0usize, 0usize);
    for u in h.chunks_exact(2) {
        first[usize::from(u[0])] += 1;
        second[usize::from(u[1])] += 1;
        ascii_le += usize::from(u[1] == 0 && printable(u[0]));
        ascii_be += usize::from(u[0] == 0 && printable(u[1]));
    }
    let many = |n: usize| n * 10 >= units * 9;
    let few = |n: usize| n * 10 <= units;
    // `high` is the histogram of the bytes that would be the high ones, `low` of the others.
    let looks_like = |high: &[usize; 256], low: &[usize; 256], ascii: usize| {
        let (nul, low_nul) = (high[0], low[0]);
        if !few(low_nul) {
            return false;
        }
        if many(nul) {
            return true;
        }
        // The alphabets of U+0100-U+1FFF (Latin extensions, Greek, Cyrillic, Armenian, Hebrew, Arabic, the Indic
        // scripts, Thai, Georgian, ...): not surrogates, CJK or U+FFxx, which binary with NULs imitates.
        let block = high[1..0x20].iter().copied().max().unwrap_or(0);
        if nul * 20 < units {
            return false;
        }
        if many(nul + block) {
            return true;
        }
        // Chinese, Japanese and Korean spread over many high bytes, which binary also does; what binary seldom
        // has besides is that almost every unit with a NUL high byte is a printable ASCII character.
        // Their full-width punctuation (U+FFxx: the comma, the colon, brackets) counts too, but cannot stand in
        // for them: 0xFF is also what padded binary is full of.
        let cjk = high[0x30]
            + high[0x4E..=0x9F].iter().sum::<usize>()
            + high[0xAC..=0xD7].iter().sum::<usize>();
        ascii * 10 >= nul * 9 && cjk * 2 >= units - nul && many(nul + cjk + high[0xFF])
    };
    if looks_like(&second, &first, ascii_le) {
        Some(Utf16Order::Little)
    } else if looks_like(&first, &second, ascii_be) {
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

/// A reader handing out its bytes at most `n` at a time, so that characters, code units and pairs are split
/// between reads: what the readers here are tested with (unit tests, property tests and fuzz targets).
pub struct InPieces<'a>(pub &'a [u8], pub usize);

impl std::io::Read for InPieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.max(1).min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// UTF-16 in byte order `order` read as UTF-8, a buffer at a time, for every reader that takes UTF-8 (the
/// knowledge base's formats, the hunt's log readers). A byte-order mark is dropped, an unpaired surrogate and an
/// odd last byte become U+FFFD, a surrogate pair split between two reads is joined. Line breaks stay line breaks,
/// so line numbers are the input's.
pub struct Utf16ToUtf8<R> {
    inner: R,
    order: Utf16Order,
    /// Input bytes not decoded yet (an odd byte, a high surrogate waiting for its pair).
    raw: Vec<u8>,
    out: Vec<u8>,
    at: usize,
    started: bool,
    eof: bool,
}

/// Input bytes decoded per step.
const STEP: usize = 256 * 1024;

impl<R: std::io::Read> Utf16ToUtf8<R> {
    pub fn new(inner: R, order: Utf16Order) -> Self {
        Utf16ToUtf8 {
            inner,
            order,
            raw: Vec::new(),
            out: Vec::new(),
            at: 0,
            started: false,
            eof: false,
        }
    }

    /// Decodes the next piece of input into `out`; false at the end of the input.
    fn fill(&mut self) -> std::io::Result<bool> {
        self.out.clear();
        self.at = 0;
        while self.out.is_empty() {
            if self.eof {
                return Ok(false);
            }
            let have = self.raw.len();
            self.raw.resize(have + STEP, 0);
            let n = loop {
                match self.inner.read(&mut self.raw[have..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.raw.truncate(have);
                        return Err(e);
                    }
                }
            };
            self.raw.truncate(have + n);
            self.eof = n == 0;
            if !self.started && self.raw.len() >= 2 {
                self.started = true;
                let mark = match self.order {
                    Utf16Order::Little => [0xFF, 0xFE],
                    Utf16Order::Big => [0xFE, 0xFF],
                };
                if self.raw[..2] == mark {
                    self.raw.drain(..2);
                }
            }
            let order = self.order;
            let unit = |b: &[u8]| match order {
                Utf16Order::Little => u16::from_le_bytes([b[0], b[1]]),
                Utf16Order::Big => u16::from_be_bytes([b[0], b[1]]),
            };
            let mut whole = self.raw.len() & !1;
            // A high surrogate at the end may be half of a pair whose other half is not read yet.
            if !self.eof
                && whole >= 2
                && (0xD800..0xDC00).contains(&unit(&self.raw[whole - 2..whole]))
            {
                whole -= 2;
            }
            let units = self.raw[..whole].chunks_exact(2).map(unit);
            let mut text = String::with_capacity(whole / 2);
            for c in char::decode_utf16(units) {
                text.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            self.raw.drain(..whole);
            if self.eof && !self.raw.is_empty() {
                text.push(char::REPLACEMENT_CHARACTER);
                self.raw.clear();
            }
            self.out = text.into_bytes();
        }
        Ok(true)
    }
}

impl<R: std::io::Read> std::io::Read for Utf16ToUtf8<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.out.len() && !self.fill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
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

    /// Reports in an alphabet of one Unicode block, saved without a byte-order mark, in either order; never the
    /// same text in UTF-8, nor bytes that only share the NULs.
    /// Each text, as UTF-16 without a mark, is read in its byte order; as UTF-8, never as UTF-16.
    fn read_in_both_orders_never_as_utf8(texts: &[&str]) {
        for s in texts {
            for order in [Utf16Order::Little, Utf16Order::Big] {
                assert_eq!(
                    detect_utf16(&encode_utf16(s, order, false)),
                    Some(order),
                    "{s} {order:?}"
                );
            }
            assert_eq!(detect_utf16(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn detects_one_block_alphabets_without_a_mark() {
        let texts = [
            "Звіт про кампанію: сервер керування evil-update[.]ru, адреса 185.244.25.17, лист із вкладенням.",
            "Доклад за кампанията: сървърът за управление е evil-update.ru — «фишинг» № 7.",
            "Αναφορά: ο διακομιστής ελέγχου evil-update.gr χρησιμοποιήθηκε για ηλεκτρονικό ψάρεμα.",
            "ანგარიში: მართვის სერვერი evil-update.ge, მისამართი 185.244.25.17 და ფიშინგი.",
            "Հաշվետվություն՝ կառավարման սերվեր evil-update.am, հասցե 185.244.25.17։",
        ];
        read_in_both_orders_never_as_utf8(&texts);
        // The first byte NUL in one unit of four, noise in every other byte: NULs as in text, but spread over
        // many high-byte values, not one alphabet's.
        let noise: Vec<u8> = (0u32..512)
            .flat_map(|i| {
                let x = i.wrapping_mul(2_654_435_761) >> 13;
                [
                    if i % 4 == 0 { 0 } else { (x % 200) as u8 + 1 },
                    (x >> 8) as u8 | 1,
                ]
            })
            .collect();
        assert_eq!(detect_utf16(&noise), None);
        // NULs among one byte value outside the alphabets' blocks (0xFF, as in padded binary): not text.
        let padded: Vec<u8> = (0..512)
            .flat_map(|i| if i % 8 == 0 { [0, 0x41] } else { [0xFF, 0x41] })
            .collect();
        assert_eq!(detect_utf16(&padded), None);
    }

    #[test]
    fn detects_chinese_japanese_and_korean_without_a_mark() {
        let texts = [
            "报告：攻击者使用恶意域名 evil-update[.]cn 和 IP 地址 185.244.25.17，通过钓鱼邮件投递木马（MD5 \
             44d88612fea8a8f36de82e1278abb02f）。",
            "報告書：攻撃者は C2 サーバー evil-update.jp（185.244.25.17）を使い、フィッシングメールでマルウェアを\
             配布した。",
            "보고서: 공격자는 명령 서버 evil-update.kr (185.244.25.17)을 사용하여 피싱 메일로 악성코드를 유포했다.",
            // Kana almost alone, besides the indicator.
            "これはテストのメールです。ここをクリックしてください: evil-update.jp",
        ];
        read_in_both_orders_never_as_utf8(&texts);
        // High bytes in the ideographs' block and NUL high bytes as often as in text, but the units with a NUL
        // high byte are not printable ASCII: binary, not text.
        let table: Vec<u8> = (0u32..512)
            .flat_map(|i| {
                let x = i.wrapping_mul(2_654_435_761) >> 11;
                if i % 5 == 0 {
                    [(x % 0x20) as u8 | 0x80, 0]
                } else {
                    [x as u8, 0x4E + (x >> 8) as u8 % 0x50]
                }
            })
            .collect();
        assert_eq!(detect_utf16(&table), None);
        // The same units with printable ASCII where the NULs are: text in the ideographs' block after all.
        let text: Vec<u8> = table
            .chunks_exact(2)
            .flat_map(|u| if u[1] == 0 { [b'a', 0] } else { [u[0], u[1]] })
            .collect();
        assert_eq!(detect_utf16(&text), Some(Utf16Order::Little));
        // Full-width forms alone (0xFF high bytes, as in padded binary) with ASCII: not enough.
        let wide: Vec<u8> = (0..512)
            .flat_map(|i| if i % 8 == 0 { [0x41, 0] } else { [0x41, 0xFF] })
            .collect();
        assert_eq!(detect_utf16(&wide), None);
    }

    #[test]
    fn transcodes_across_any_read_boundary_and_replaces_damage() {
        use std::io::Read;
        let s = "evil.example\nПример 🦀 x\r\nend";
        for order in [Utf16Order::Little, Utf16Order::Big] {
            for bom in [true, false] {
                let bytes = encode_utf16(s, order, bom);
                for step in [1, 2, 3, 7, 4096] {
                    let mut out = String::new();
                    Utf16ToUtf8::new(InPieces(&bytes, step), order)
                        .read_to_string(&mut out)
                        .expect("reads");
                    assert_eq!(out, s, "{order:?} bom {bom} step {step}");
                }
            }
        }
        // A lone high surrogate and an odd last byte become U+FFFD; the rest is kept.
        let mut bytes = encode_utf16("a", Utf16Order::Little, false);
        bytes.extend_from_slice(&0xD800u16.to_le_bytes());
        bytes.extend_from_slice(&encode_utf16("b", Utf16Order::Little, false));
        bytes.push(0x41);
        let mut out = String::new();
        Utf16ToUtf8::new(InPieces(&bytes, 1), Utf16Order::Little)
            .read_to_string(&mut out)
            .expect("reads");
        assert_eq!(out, "a\u{FFFD}b\u{FFFD}");
    }
}
