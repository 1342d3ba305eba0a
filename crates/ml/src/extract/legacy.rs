//! Reports in a legacy encoding: what Word's "Save as plain text" and older Windows editors write (windows-1252
//! with its curly quotes, windows-1250 and -1251 for Central and Eastern European languages, GBK, Big5, Shift_JIS,
//! EUC-KR). Read as bytes, every token that touches a non-ASCII character is invalid UTF-8 and is skipped, so
//! `«evil-update.ru»` or `“bad.example.org”` gave nothing. Such input is detected (not UTF-8, not binary), its
//! encoding guessed by `chardetng` (Firefox's detector), decoded by `encoding_rs`, and offsets are mapped back to
//! the input's bytes.

pub use vigil_model::encoding::{detect_legacy, detect_legacy_in, Encoding, LEGACY_HEAD};

/// Legacy-encoded input decoded to UTF-8.
#[derive(Debug, Clone)]
pub struct LegacyText {
    pub text: String,
    pub encoding: &'static Encoding,
    /// Malformed sequences, each replaced by U+FFFD.
    pub replaced: u64,
    /// Where each character of `text` came from, as runs of characters of the same widths: a few per change of
    /// script, not one per character (a 100 MB GBK report would need 1.6 GB for that).
    runs: Vec<Run>,
    len: usize,
}

/// `n` characters of `out_w` UTF-8 bytes each, the first at `out` in the text and `src` in the input, each from
/// `src_w` input bytes (0 while `n` is 1).
#[derive(Debug, Clone, Copy)]
struct Run {
    out: u64,
    src: u64,
    n: u64,
    out_w: u64,
    src_w: u64,
}

/// Adds `count` characters of `out_w` bytes at `out`, the first from input offset `src`, each from `src_w` input
/// bytes (ignored for one character), to the runs: the last run grows when they continue it.
fn push_run(runs: &mut Vec<Run>, out: u64, src: u64, count: u64, out_w: u64, src_w: u64) {
    if let Some(l) = runs.last_mut() {
        if l.out_w == out_w && out == l.out + l.n * out_w {
            let step = if l.n == 1 {
                src.checked_sub(l.src)
            } else {
                Some(l.src_w)
            };
            let fits = match step {
                Some(w) if w > 0 && src == l.src + l.n * w => count == 1 || w == src_w,
                _ => false,
            };
            if fits {
                l.src_w = step.unwrap_or(src_w);
                l.n += count;
                return;
            }
        }
    }
    runs.push(Run {
        out,
        src,
        n: count,
        out_w,
        src_w: if count > 1 { src_w } else { 0 },
    });
}

impl LegacyText {
    /// Decodes `input` from `encoding` (one [`detect_legacy`] returns: ASCII-compatible and stateless, not
    /// ISO-2022-JP or UTF-16). ASCII runs are decoded whole (they map byte for byte); other bytes one at a time,
    /// so each character's first byte is known. Offsets inside malformed input are approximate, never out of
    /// order.
    pub fn decode(input: &[u8], encoding: &'static Encoding) -> Self {
        let mut dec = encoding.new_decoder_without_bom_handling();
        let mut text = String::with_capacity(input.len() + input.len() / 2 + 16);
        let mut runs: Vec<Run> = Vec::new();
        let mut out: Vec<u8> = Vec::new();
        let n = input.len();
        let (mut i, mut char_start, mut replaced) = (0usize, 0usize, 0u64);
        while i < n {
            let pending = char_start < i;
            let step = if pending {
                1
            } else {
                input[i..]
                    .iter()
                    .position(|b| *b >= 0x80)
                    .unwrap_or(n - i)
                    .max(1)
            };
            let chunk = &input[i..i + step];
            // Into a buffer of our own: `decode_to_string` fills the string's spare room with zeros on every call,
            // which made a call per byte quadratic (105 s for 11 MB).
            let need = dec
                .max_utf8_buffer_length(chunk.len())
                .unwrap_or(16)
                .max(16);
            if out.len() < need {
                out.resize(need, 0);
            }
            let before = text.len();
            let (_, read, written, rep) = dec.decode_to_utf8(chunk, &mut out, i + step == n);
            if let Ok(s) = std::str::from_utf8(&out[..written.min(out.len())]) {
                text.push_str(s);
            }
            replaced += u64::from(rep);
            // With the room made above the decoder takes the whole chunk; a zero read would not progress.
            i += read.max(1);
            if text.len() > before {
                if step > 1 {
                    let k = (text.len() - before) as u64;
                    push_run(&mut runs, before as u64, char_start as u64, k, 1, 1);
                } else {
                    // Usually one character. A malformed sequence comes out as U+FFFD and the bytes after its
                    // lead, read again, as their own characters: the j-th of them is put at the j-th byte fed
                    // since the last character (not past the last), so the map never goes back.
                    let last = i.saturating_sub(1).max(char_start);
                    for (j, (o, c)) in text[before..].char_indices().enumerate() {
                        let src = (char_start + j).min(last) as u64;
                        push_run(
                            &mut runs,
                            (before + o) as u64,
                            src,
                            1,
                            c.len_utf8() as u64,
                            0,
                        );
                    }
                }
                char_start = i;
            }
        }
        LegacyText {
            text,
            encoding,
            replaced,
            runs,
            len: n,
        }
    }

    /// The input offset of a text offset (at a character boundary).
    pub fn source_offset(&self, at: u64) -> u64 {
        let k = self.runs.partition_point(|r| r.out <= at);
        let Some(r) = k.checked_sub(1).and_then(|k| self.runs.get(k)) else {
            return 0;
        };
        if at >= self.text.len() as u64 {
            return self.len as u64;
        }
        let j = ((at - r.out) / r.out_w.max(1)).min(r.n.saturating_sub(1));
        (r.src + j * r.src_w).min(self.len as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(s: &str, enc: &'static Encoding) -> (Vec<u8>, LegacyText) {
        let (bytes, _, bad) = enc.encode(s);
        assert!(!bad, "{s} in {}", enc.name());
        let bytes = bytes.into_owned();
        let t = LegacyText::decode(&bytes, enc);
        (bytes, t)
    }

    #[test]
    fn detects_legacy_text_and_nothing_else() {
        let cases: [(&str, &'static Encoding); 6] = [
            (
                "The C2 server “update-check.example.org” was seen – see «annex» for details.",
                encoding_rs::WINDOWS_1252,
            ),
            (
                "Сървърът за управление «evil-update.bg» е активен от вторник; писмата носят прикачен файл.",
                encoding_rs::WINDOWS_1251,
            ),
            (
                "Útočníci použili doménu „evil-update.cz“ a škodlivý soubor příloha.doc, který šíří malware.",
                encoding_rs::WINDOWS_1250,
            ),
            (
                "报告：攻击者使用恶意域名evil-update.cn和IP地址185.244.25.17，通过钓鱼邮件投递木马。",
                encoding_rs::GBK,
            ),
            (
                "報告書：攻撃者はC2サーバーevil-update.jp（185.244.25.17）を使い、マルウェアを配布した。",
                encoding_rs::SHIFT_JIS,
            ),
            (
                "보고서: 공격자는 명령 서버 evil-update.kr(185.244.25.17)을 사용하여 악성코드를 유포했다.",
                encoding_rs::EUC_KR,
            ),
        ];
        for (s, enc) in cases {
            let (bytes, t) = round(s, enc);
            let got = detect_legacy(&bytes, true).map(Encoding::name);
            // Windows-1252 and -1250 Latin text may be guessed as a sibling; what matters is that it decodes.
            assert!(got.is_some(), "{s}: not detected");
            assert_eq!(t.text, s);
            assert_eq!(t.replaced, 0);
            // UTF-8 and ASCII are never legacy.
            assert_eq!(detect_legacy(s.as_bytes(), true), None, "{s}");
        }
        assert_eq!(detect_legacy(b"plain ascii evil.com", true), None);
        // A UTF-8 head cut inside a character is still UTF-8.
        let u = "Сервер evil.ru".as_bytes();
        assert_eq!(detect_legacy(&u[..3], false), None);
        // Mostly UTF-8 with one stray byte: mixed, read as UTF-8.
        let mut mixed = "Сервер управления evil.ru, адрес ".as_bytes().to_vec();
        mixed.push(0x93);
        assert_eq!(detect_legacy(&mixed, true), None);
        // Binary: control bytes.
        let bin: Vec<u8> = (0u32..4096)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect();
        assert_eq!(detect_legacy(&bin, true), None);
    }

    #[test]
    fn offsets_map_back_to_the_input_bytes() {
        let s = "“evil-update.ru” — and 报告evil2.cn和 “x.org”";
        for enc in [encoding_rs::GBK, encoding_rs::GB18030] {
            let (bytes, t) = round(s, enc);
            for needle in ["evil-update.ru", "evil2.cn", "x.org"] {
                let at = t.text.find(needle).expect("in text") as u64;
                let src = t.source_offset(at) as usize;
                assert_eq!(
                    &bytes[src..src + needle.len()],
                    needle.as_bytes(),
                    "{needle}"
                );
            }
            assert_eq!(t.source_offset(t.text.len() as u64), bytes.len() as u64);
        }
    }

    #[test]
    fn the_offset_map_never_goes_back() {
        // What the fuzzer found: UTF-8 ideographs (a report, damaged) read as GBK, whose malformed sequences come
        // out as U+FFFD and the bytes after them, several characters at once. Every character's offset is at or after the one before and within the input.
        let bytes = b"\x8a\xa5\xe5\x91\x8a\xef\xbc\x9a\xe6\x94\xbb\xe5\x87\xbb\xe8\x80\x85\xe4\xbd\xbf\xe7\x94\
              \xa8\xe6\x81\xb6\xe6\x84\x8f\xe5\x9f\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\xd6\
              \xd6\xd6\x9f\xe5\x90\x8devil-wpdate[.]cn\xe5\x92\x8cIP\xe5\x9c\xb0\xe5\x9d\x80\x00\x00\
              \x00f186.244.25[.]17\xef\xbc\x8c\xe9\x80\x9a\xe8z\xbf\x87\xe9\x12\x93\xe9\xb1\xbc\xe9\
              \x82\xae\xe4\xbb\xb6\xe6\x8a\x95\xe9\x80\x92-\x9c\xa8\xe9\xa9\xac\xef\xbc\x88MD5\xef\xbc\
              \x9a4td88612fea8a8f36de82e1237ecb8ad\xef\xbc\x89\xe3\x80\x82";
        assert_eq!(bytes.len(), 177);
        for label in [
            &b"gbk"[..],
            b"gb18030",
            b"shift_jis",
            b"big5",
            b"euc-jp",
            b"euc-kr",
        ] {
            let enc = Encoding::for_label(label).expect("label");
            let t = LegacyText::decode(bytes, enc);
            let mut last = 0;
            for (at, _) in t.text.char_indices() {
                let s = t.source_offset(at as u64);
                assert!(
                    s >= last && s <= bytes.len() as u64,
                    "{}: {s} after {last}",
                    enc.name()
                );
                last = s;
            }
        }
    }

    #[test]
    fn malformed_bytes_are_replaced_and_counted() {
        // A GBK lead byte before a space (no trail byte), and a lone lead byte at the end.
        let bytes = b"abc \x81 evil.cn x \xb1";
        let t = LegacyText::decode(bytes, encoding_rs::GBK);
        assert_eq!(t.replaced, 2);
        assert_eq!(t.text, "abc \u{fffd} evil.cn x \u{fffd}");
        let at = t.text.find("evil.cn").expect("in text") as u64;
        assert_eq!(t.source_offset(at), 6);
        let sp = t.text.find(" evil").expect("in text") as u64;
        assert_eq!(t.source_offset(sp), 5);
    }
}
