//! UTF-16 reports: what Windows tools write (Windows PowerShell 5.1's `>` and `Out-File`, Notepad's "Unicode"). Read
//! as bytes, every other byte is NUL and no indicator survives, so such input is detected (a byte-order mark, or
//! the byte pattern of text without one, see [`detect`]), decoded to UTF-8, and offsets are mapped back to the input's bytes.

pub use vigil_model::encoding::{detect_utf16 as detect, Utf16Order};

/// UTF-16 input decoded to UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utf16Text {
    pub text: String,
    pub order: Utf16Order,
    /// Length of the byte-order mark (0 or 2).
    bom: usize,
    /// Unpaired surrogates and a trailing odd byte, each replaced by U+FFFD.
    pub replaced: u64,
    /// Length of the input.
    len: usize,
}

impl Utf16Text {
    /// Decodes `input` in byte order `order` (a byte-order mark is skipped).
    pub fn decode(input: &[u8], order: Utf16Order) -> Self {
        let bom = match (order, input) {
            (Utf16Order::Little, [0xFF, 0xFE, ..]) | (Utf16Order::Big, [0xFE, 0xFF, ..]) => 2,
            _ => 0,
        };
        let body = &input[bom..];
        let units = body.chunks_exact(2).map(|u| match order {
            Utf16Order::Little => u16::from_le_bytes([u[0], u[1]]),
            Utf16Order::Big => u16::from_be_bytes([u[0], u[1]]),
        });
        let mut text = String::with_capacity(body.len() / 2 + 16);
        let mut replaced = 0u64;
        for c in char::decode_utf16(units) {
            text.push(c.unwrap_or_else(|_| {
                replaced += 1;
                char::REPLACEMENT_CHARACTER
            }));
        }
        if body.len() % 2 == 1 {
            text.push(char::REPLACEMENT_CHARACTER);
            replaced += 1;
        }
        Utf16Text {
            text,
            order,
            bom,
            replaced,
            len: input.len(),
        }
    }

    /// Maps offsets into [`Utf16Text::text`] (each at a character boundary) to offsets into the input, in place,
    /// in one pass over the text: a character outside the Basic Multilingual Plane took four input bytes, any other
    /// two (an unpaired surrogate, decoded as U+FFFD, took two as well).
    pub fn source_offsets(&self, offsets: &mut [u64]) {
        let mut order: Vec<usize> = (0..offsets.len()).collect();
        order.sort_by_key(|&i| offsets[i]);
        let mut next = order.into_iter().peekable();
        let mut src = self.bom as u64;
        for (at, c) in self
            .text
            .char_indices()
            .map(|(i, c)| (i as u64, c))
            .chain(std::iter::once((self.text.len() as u64, '\0')))
        {
            while let Some(&i) = next.peek() {
                if offsets[i] > at {
                    break;
                }
                offsets[i] = src;
                next.next();
            }
            src += if (c as u32) >= 0x10000 { 4 } else { 2 };
        }
        // Past the end (not produced by the scanner): the end of the input.
        for i in next {
            offsets[i] = self.len as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_maps_offsets_back_to_input_bytes() {
        let s = "Ключ: évil.com 😀 then 1.2.3.4";
        for (order, bom) in [
            (Utf16Order::Little, true),
            (Utf16Order::Big, false),
            (Utf16Order::Little, false),
        ] {
            let input = vigil_model::encoding::encode_utf16(s, order, bom);
            let t = Utf16Text::decode(&input, order);
            assert_eq!(t.text, s);
            assert_eq!(t.replaced, 0);
            let want: Vec<u64> = ["évil.com", "then", "1.2.3.4", "Ключ"]
                .iter()
                .map(|w| s.find(w).expect("in s") as u64)
                .collect();
            let mut got = want.clone();
            t.source_offsets(&mut got);
            for (w, g) in want.iter().zip(&got) {
                // The input bytes from the mapped offset decode to the same text.
                let tail = &input[*g as usize..];
                let back = Utf16Text::decode(tail, order).text;
                assert!(back.starts_with(&s[*w as usize..]), "{back:?}");
            }
        }
    }

    #[test]
    fn damage_is_replaced_not_fatal() {
        // An unpaired high surrogate and an odd trailing byte.
        let mut input = vec![0xFF, 0xFE, b'a', 0, 0x00, 0xD8, b'b', 0];
        input.push(b'c');
        let t = Utf16Text::decode(&input, Utf16Order::Little);
        assert_eq!(t.text, "a\u{fffd}b\u{fffd}");
        assert_eq!(t.replaced, 2);
        let mut off = vec![3, 0, 99];
        t.source_offsets(&mut off);
        assert_eq!(off, [6, 2, 9]);
    }
}
