//! Text in a legacy encoding: what Excel's "Save as CSV", Word's "Save as plain text" and older Windows editors
//! write (windows-1252 with its curly quotes and accented letters, windows-1250 and -1251 for Central and Eastern
//! European languages, GBK, Big5, Shift_JIS, EUC-KR). Read as UTF-8, every line with a non-ASCII character in it is
//! invalid and lost. Such input is detected (not UTF-8, not binary) and its encoding guessed by `chardetng`
//! (Firefox's detector); `encoding_rs` decodes it.

use std::sync::{Arc, OnceLock};

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
pub use encoding_rs::Encoding;

/// Bytes of the input the encoding is judged on.
pub const LEGACY_HEAD: usize = 64 << 10;

/// The legacy encoding of `head` (the start of the input; `whole` when it is all of it), or None when it is
/// ASCII, UTF-8 (a character cut at the end of the head included), mostly UTF-8 with some invalid bytes (more
/// valid non-ASCII characters than invalid sequences: mixed input, read as UTF-8, its invalid parts skipped and
/// counted by the reader), or binary (over 1% control bytes).
pub fn detect_legacy(head: &[u8], whole: bool) -> Option<&'static Encoding> {
    judge(head, whole, 0)
}

/// [`detect_legacy`] on `head` after `valid_before` valid non-ASCII UTF-8 characters.
fn judge(head: &[u8], whole: bool, valid_before: u64) -> Option<&'static Encoding> {
    if head.is_ascii() {
        return None;
    }
    match std::str::from_utf8(head) {
        Ok(_) => return None,
        // Valid up to a character the head cut: UTF-8.
        Err(e) if e.error_len().is_none() => return None,
        Err(_) => {}
    }
    let (mut valid, mut invalid) = (valid_before, 0u64);
    for chunk in head.utf8_chunks() {
        valid += chunk.valid().chars().filter(|c| !c.is_ascii()).count() as u64;
        invalid += u64::from(!chunk.invalid().is_empty());
    }
    if valid >= invalid {
        return None;
    }
    let control = head
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c)) || b == 0x7f)
        .count();
    if control * 100 > head.len() {
        return None;
    }
    let mut d = EncodingDetector::new(Iso2022JpDetection::Deny);
    d.feed(head, whole);
    Some(d.guess(None, Utf8Detection::Deny))
}

/// [`detect_legacy`] on an input held whole in memory, judged on its first [`LEGACY_HEAD`] bytes, as a part even
/// when it is all of it: a text cut inside its last character is still read in its encoding.
pub fn detect_legacy_in(input: &[u8]) -> Option<&'static Encoding> {
    detect_legacy(&input[..input.len().min(LEGACY_HEAD)], false)
}

/// Where a [`Utf8OrLegacy`] reader starts decoding its input, and as what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacySwitch {
    pub encoding: &'static Encoding,
    /// The line (from 1) holding the first byte decoded: the first byte that is not UTF-8, or the input's first
    /// when its start was judged as a whole.
    pub line: u64,
    /// That byte's offset in the stream.
    pub offset: u64,
}

/// Set once by a [`Utf8OrLegacy`] reader when it starts decoding; shared with whoever reports on the input.
pub type LegacyNote = Arc<OnceLock<LegacySwitch>>;

enum State {
    /// UTF-8 so far: bytes pass through, checked.
    Checking,
    /// Judged UTF-8 with some invalid bytes: bytes pass through unchecked.
    Utf8,
    Decoding(encoding_rs::Decoder),
}

/// Raw bytes read per step, and the output buffer's size while decoding.
const STEP: usize = 64 << 10;

/// A reader of text that is UTF-8 until shown otherwise, for every reader that takes UTF-8 (the knowledge base's
/// formats). An input whose first [`LEGACY_HEAD`] bytes are not UTF-8 is judged on them by [`detect_legacy`], as
/// a report is; one whose start is UTF-8 passes through unchanged until its first byte that is not, and the next
/// [`LEGACY_HEAD`] bytes are judged there (with the non-ASCII characters before it): that catches the CSV export
/// whose first accented description is on line 2,000. A legacy encoding is decoded to UTF-8 from the start, or
/// from that byte on (an ASCII-compatible encoding: what came before reads the same in it), and noted in
/// [`Utf8OrLegacy::note`]; otherwise (mixed or binary) the rest passes through unchanged, as before, and the
/// readers skip what is invalid. Line breaks stay line breaks, so line numbers are the input's.
pub struct Utf8OrLegacy<R> {
    inner: R,
    raw: Vec<u8>,
    /// `raw[pos..end]` is read and not yet passed on; `raw[pos..checked]` is known to be valid UTF-8.
    pos: usize,
    checked: usize,
    end: usize,
    eof: bool,
    /// Stream offset and line of `raw[pos]` while checking, and the non-ASCII characters passed on: a stray
    /// invalid byte after many valid characters is mixed input, not a legacy encoding.
    offset: u64,
    line: u64,
    non_ascii: u64,
    state: State,
    /// Decoded output not yet passed on.
    out: Vec<u8>,
    out_at: usize,
    /// The decoder has been told the input ended.
    flushed: bool,
    /// The input's start has been judged.
    started: bool,
    note: LegacyNote,
}

impl<R: std::io::Read> Utf8OrLegacy<R> {
    pub fn new(inner: R) -> Self {
        Utf8OrLegacy {
            inner,
            raw: Vec::new(),
            pos: 0,
            checked: 0,
            end: 0,
            eof: false,
            offset: 0,
            line: 1,
            non_ascii: 0,
            flushed: false,
            started: false,
            state: State::Checking,
            out: Vec::new(),
            out_at: 0,
            note: LegacyNote::default(),
        }
    }

    /// Where the input turned out to be in a legacy encoding, once it has (shared: readable after the reader is
    /// gone).
    pub fn note(&self) -> LegacyNote {
        Arc::clone(&self.note)
    }

    /// Reads until `raw[pos..end]` holds `want` bytes or the input ends.
    fn fill(&mut self, want: usize) -> std::io::Result<()> {
        if self.pos > 0 && self.raw.len() - self.pos < want {
            self.raw.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.checked = self.checked.saturating_sub(self.pos);
            self.pos = 0;
        }
        if self.raw.len() < want {
            self.raw.resize(want, 0);
        }
        while self.end - self.pos < want && !self.eof {
            match self.inner.read(&mut self.raw[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Passes up to `buf.len()` bytes of `raw[pos..upto]` on as they are.
    fn pass(&mut self, buf: &mut [u8], upto: usize) -> usize {
        let n = buf.len().min(upto - self.pos);
        let part = &self.raw[self.pos..self.pos + n];
        buf[..n].copy_from_slice(part);
        if matches!(self.state, State::Checking) {
            self.offset += n as u64;
            // One pass for both counts: a UTF-8 character's lead byte is 0xC0 or above.
            let (mut lines, mut leads) = (0u64, 0u64);
            for &b in part {
                lines += u64::from(b == b'\n');
                leads += u64::from(b >= 0xC0);
            }
            self.line += lines;
            self.non_ascii += leads;
        }
        self.pos += n;
        n
    }

    /// At the start: an input whose first [`LEGACY_HEAD`] bytes are not UTF-8 is judged on them as a whole (as a
    /// report is, `detect_legacy_in`) and, when in a legacy encoding, decoded from its first byte: its earlier
    /// non-ASCII bytes may happen to read as UTF-8 characters (EUC-KR and GBK text does), which judging at the
    /// first invalid byte would pass on as they are. Mixed input is passed through.
    fn judge_head(&mut self) -> std::io::Result<()> {
        self.fill(LEGACY_HEAD)?;
        match std::str::from_utf8(&self.raw[self.pos..self.end]) {
            // At the start the window judged from `pos` is the head, with no characters before it (line 1,
            // offset 0).
            Err(e) if e.error_len().is_some() => self.judge(),
            // UTF-8, or a character cut by the end of the head.
            _ => Ok(()),
        }
    }

    /// At an invalid byte at `raw[pos]` (or a character cut by the end of the input): judges what follows.
    fn judge(&mut self) -> std::io::Result<()> {
        self.fill(LEGACY_HEAD)?;
        // Judged as a part even when it is the rest of the input: a text cut inside its last character (a
        // truncated download) is still read in its encoding, that character replaced.
        let window = &self.raw[self.pos..self.end.min(self.pos + LEGACY_HEAD)];
        self.state = match judge(window, false, self.non_ascii) {
            Some(encoding) => {
                let _ = self.note.set(LegacySwitch {
                    encoding,
                    line: self.line,
                    offset: self.offset,
                });
                State::Decoding(encoding.new_decoder_without_bom_handling())
            }
            None => State::Utf8,
        };
        Ok(())
    }
}

impl<R: std::io::Read> std::io::Read for Utf8OrLegacy<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.state {
                State::Checking => {
                    if !self.started {
                        self.started = true;
                        self.judge_head()?;
                        continue;
                    }
                    if self.checked > self.pos {
                        return Ok(self.pass(buf, self.checked));
                    }
                    if self.pos == self.end {
                        self.fill(STEP)?;
                        if self.pos == self.end {
                            return Ok(0);
                        }
                    }
                    match std::str::from_utf8(&self.raw[self.pos..self.end]) {
                        Ok(_) => self.checked = self.end,
                        Err(e) if e.valid_up_to() > 0 => self.checked = self.pos + e.valid_up_to(),
                        // A character cut by the end of what is read: read more, then look again.
                        Err(e) if e.error_len().is_none() && !self.eof => {
                            let want = self.end - self.pos + STEP;
                            self.fill(want)?;
                        }
                        Err(_) => self.judge()?,
                    }
                }
                State::Utf8 => {
                    if self.pos < self.end {
                        let end = self.end;
                        return Ok(self.pass(buf, end));
                    }
                    return loop {
                        match self.inner.read(buf) {
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            r => break r,
                        }
                    };
                }
                State::Decoding(_) => {
                    if self.out_at < self.out.len() {
                        let n = buf.len().min(self.out.len() - self.out_at);
                        buf[..n].copy_from_slice(&self.out[self.out_at..self.out_at + n]);
                        self.out_at += n;
                        return Ok(n);
                    }
                    if self.flushed {
                        return Ok(0);
                    }
                    if self.pos == self.end {
                        self.fill(STEP)?;
                    }
                    // Everything left is in `raw` once the input has ended: the decoder may then replace a
                    // character cut by the end.
                    let last = self.eof;
                    self.out.resize(STEP, 0);
                    self.out_at = 0;
                    let State::Decoding(dec) = &mut self.state else {
                        continue;
                    };
                    let (res, read, written, _) =
                        dec.decode_to_utf8(&self.raw[self.pos..self.end], &mut self.out, last);
                    self.pos += read;
                    self.out.truncate(written);
                    self.flushed = last && res == encoding_rs::CoderResult::InputEmpty;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn through(data: &[u8], step: usize, read: usize) -> (Vec<u8>, Option<LegacySwitch>) {
        let mut r = Utf8OrLegacy::new(crate::encoding::InPieces(data, step));
        let note = r.note();
        let mut out = Vec::new();
        let mut buf = vec![0u8; read];
        loop {
            let n = r.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        (out, note.get().copied())
    }

    #[test]
    fn utf8_and_ascii_pass_through_unchanged() {
        let s = "evil.example.org,Сервер управления,2026-12-01\n例子.com,报告\nplain,ascii\n";
        for step in [1, 2, 3, 7, 4096] {
            for read in [1, 5, 64, 1 << 20] {
                let (out, note) = through(s.as_bytes(), step, read);
                assert_eq!(out, s.as_bytes(), "step {step} read {read}");
                assert_eq!(note, None);
            }
        }
    }

    #[test]
    fn a_legacy_csv_is_decoded_from_its_first_accented_line_on() {
        // Excel's "Save as CSV" on a German Windows: windows-1252, the first accented word on line 3,000.
        let mut s = String::from("value,type,comment\n");
        for i in 0..2998 {
            s.push_str(&format!(
                "host{i}.evil-update.com,domain,seen in phishing\n"
            ));
        }
        s.push_str("c2.evil-update.com,domain,Kommandoserver für die Kampagne – „Lieferung“\n");
        s.push_str("185.244.25.17,ipv4,Zahlungsaufforderung über E-Mail\n");
        let (bytes, _, bad) = encoding_rs::WINDOWS_1252.encode(&s);
        assert!(!bad);
        for (step, read) in [(1 << 20, 1 << 18), (3, 7), (4096, 100)] {
            let (out, note) = through(&bytes, step, read);
            assert_eq!(String::from_utf8(out).expect("utf-8"), s, "step {step}");
            let note = note.expect("switched");
            assert_eq!(note.line, 3000);
            assert_eq!(note.encoding, encoding_rs::WINDOWS_1252);
            let first = s.find("für").expect("there") + 1;
            assert_eq!(note.offset, first as u64);
        }
    }

    #[test]
    fn a_legacy_start_is_decoded_from_the_first_byte() {
        // `一` in GBK is 0xD2 0xBB, which is also a UTF-8 character (U+04BB): judged at the first invalid byte,
        // it would pass through as `һ`. The start is judged as a whole instead.
        let text = "一份报告：攻击者使用恶意域名evil-update.cn和IP地址185.244.25.17，通过钓鱼邮件投递木马。\n";
        let (bytes, _, _) = encoding_rs::GBK.encode(text);
        assert!(std::str::from_utf8(&bytes[..2]).is_ok());
        for (step, read) in [(1, 1), (7, 3), (1 << 16, 1 << 16)] {
            let (out, note) = through(&bytes, step, read);
            assert_eq!(String::from_utf8(out).expect("utf-8"), text, "step {step}");
            let note = note.expect("switched");
            assert_eq!((note.line, note.offset), (1, 0));
            assert_eq!(note.encoding, encoding_rs::GBK);
        }
    }

    #[test]
    fn mixed_and_binary_input_pass_through_unchanged() {
        // UTF-8 with one stray byte among many valid characters: read as UTF-8, the stray byte left as it is.
        let mut mixed = "Сервер управления evil.ru, адрес ".repeat(10).into_bytes();
        mixed.push(0x93);
        mixed.extend_from_slice("ещё текст\n".as_bytes());
        let (out, note) = through(&mixed, 5, 3);
        assert_eq!(out, mixed);
        assert_eq!(note, None);
        let bin: Vec<u8> = (0u32..100_000)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect();
        let (out, note) = through(&bin, 1000, 333);
        assert_eq!(out, bin);
        assert_eq!(note, None);
    }

    #[test]
    fn a_cut_character_and_a_lead_byte_left_at_the_end() {
        // UTF-8 cut at the end: UTF-8 still, passed through.
        let (out, note) = through(b"ok.com\n\xd0", 1, 2);
        assert_eq!(out, b"ok.com\n\xd0");
        assert_eq!(note, None);
        // A GBK text ending in a lead byte whose trail byte is missing: replaced once, at the end.
        let text =
            "报告：攻击者使用恶意域名evil-update.cn和IP地址185.244.25.17，通过钓鱼邮件投递木马。";
        let (bytes, _, _) = encoding_rs::GBK.encode(text);
        let mut bytes = bytes.into_owned();
        bytes.push(0xb1);
        let (out, note) = through(&bytes, 3, 5);
        assert_eq!(note.map(|n| n.encoding), Some(encoding_rs::GBK));
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            format!("{text}\u{fffd}")
        );
    }

    #[test]
    fn detect_legacy_in_judges_the_start() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode("Сървърът «evil-update.bg» е активен");
        assert!(detect_legacy_in(&bytes).is_some());
        assert_eq!(detect_legacy_in("Сървърът".as_bytes()), None);
        assert_eq!(detect_legacy_in(b""), None);
    }

    proptest::proptest! {
        #[test]
        fn legacy_text_is_decoded_exactly(
            text in "[a-z0-9.,;\n äöüßéèçñ€“”–ЖжЁёЩщ]{0,300}",
            step in 1usize..50,
            read in 1usize..50,
            enc in 0usize..2,
        ) {
            // Characters each encoding has: Latin in windows-1252, Cyrillic in windows-1251.
            let (enc, text) = if enc == 0 {
                (encoding_rs::WINDOWS_1252, text.chars().filter(|c| !('Ё'..='ё').contains(c)).collect::<String>())
            } else {
                (encoding_rs::WINDOWS_1251, text.chars().filter(|c| c.is_ascii() || ('Ё'..='ё').contains(c)).collect::<String>())
            };
            let (bytes, _, bad) = enc.encode(&text);
            proptest::prop_assert!(!bad);
            let (out, note) = through(&bytes, step, read);
            match note {
                // Judged legacy: UTF-8 out, the bytes before the switch as they were, and in the right encoding
                // the text comes back exactly.
                Some(n) => {
                    let at = n.offset as usize;
                    let mut want = bytes[..at].to_vec();
                    want.extend_from_slice(n.encoding.decode_without_bom_handling(&bytes[at..]).0.as_bytes());
                    proptest::prop_assert_eq!(&out, &want);
                    // Before the switch only ASCII and bytes that read as UTF-8 characters (`ß€`): when those
                    // are ASCII and the guess is right, the text comes back exactly.
                    if n.encoding == enc && bytes[..at].is_ascii() {
                        proptest::prop_assert_eq!(String::from_utf8(out).expect("UTF-8"), text);
                    }
                }
                // Not judged legacy (ASCII, or bytes that happen to read as more UTF-8 characters than invalid
                // ones, as `ß€` does): passed through.
                None => proptest::prop_assert_eq!(out, bytes.into_owned()),
            }
        }

        #[test]
        fn bytes_after_a_utf8_start_are_judged_where_they_begin(
            start in 64usize * 1024..70 * 1024,
            tail in proptest::collection::vec(0x20u8..=0xff, 0..3000),
            step in 1usize..5000,
            read in 1usize..5000,
            cyrillic in proptest::prelude::any::<bool>(),
        ) {
            // A UTF-8 start longer than the head (ASCII lines, with some Cyrillic or without), then text bytes
            // of any encoding, valid UTF-8 or not.
            let line = if cyrillic { "evil-update.bg,domain,сървър\n" } else { "evil-update.bg,domain,server\n" };
            let mut data: Vec<u8> = line.bytes().cycle().take(start).collect();
            while std::str::from_utf8(&data).is_err() {
                data.pop();
            }
            let start = data.len();
            data.extend_from_slice(&tail);
            let (out, note) = through(&data, step, read);
            let (whole, whole_note) = through(&data, 1 << 20, 1 << 20);
            proptest::prop_assert_eq!(&out, &whole);
            proptest::prop_assert_eq!(note, whole_note);
            match note {
                None => proptest::prop_assert_eq!(&out, &data),
                Some(n) => {
                    let at = n.offset as usize;
                    proptest::prop_assert!(at >= start);
                    proptest::prop_assert_eq!(&out[..at], &data[..at]);
                    proptest::prop_assert!(std::str::from_utf8(&out[at..]).is_ok());
                    let lines = data[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
                    proptest::prop_assert_eq!(n.line, lines);
                }
            }
        }

        #[test]
        fn any_bytes_never_panic_and_valid_utf8_passes(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000),
            step in 1usize..64,
            read in 1usize..64,
        ) {
            let (out, note) = through(&data, step, read);
            if std::str::from_utf8(&data).is_ok() || note.is_none() {
                proptest::prop_assert_eq!(out, data);
            } else {
                let n = note.map(|n| n.offset as usize).unwrap_or(0);
                proptest::prop_assert_eq!(&out[..n], &data[..n]);
                proptest::prop_assert!(std::str::from_utf8(&out).is_ok());
            }
        }
    }
}
