//! UTF-16 input, read as UTF-8. Windows PowerShell 5.1 writes UTF-16 (little-endian, with a
//! byte order mark) when a command's output is redirected with `>` or `Out-File`: `aws logs
//! filter-log-events … > proxy.json` there gives a file no UTF-8 reader can read. The byte
//! order mark tells it apart ([`Utf16::detect`]); the text is then decoded a buffer at a time,
//! an unpaired surrogate or a lone last byte becoming U+FFFD (each counted with the input's
//! `invalid_utf8`).

use std::io::{self, BufRead, Read};

/// UTF-16 text read through as UTF-8, a buffer of the inner reader at a time.
pub struct Utf16<R> {
    inner: R,
    little_endian: bool,
    out: Vec<u8>,
    pos: usize,
    /// The first byte of a code unit whose second is in the next buffer.
    odd: Option<u8>,
    /// A high surrogate waiting for its low one.
    high: Option<u16>,
    /// Replacement characters written (invalid UTF-16).
    pub replaced: u64,
}

impl<R: BufRead> Utf16<R> {
    /// The byte order of the mark `head` starts with, if it starts with one: `Some(true)` for
    /// little-endian (`FF FE`), `Some(false)` for big-endian (`FE FF`).
    pub fn detect(head: &[u8]) -> Option<bool> {
        match head {
            [0xFF, 0xFE, ..] => Some(true),
            [0xFE, 0xFF, ..] => Some(false),
            _ => None,
        }
    }

    /// Reads `inner`, which is past the byte order mark.
    pub fn new(inner: R, little_endian: bool) -> Utf16<R> {
        Utf16 {
            inner,
            little_endian,
            out: Vec::new(),
            pos: 0,
            odd: None,
            high: None,
            replaced: 0,
        }
    }

    fn push(&mut self, c: char) {
        let mut utf8 = [0u8; 4];
        self.out
            .extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
    }

    fn unit(&mut self, unit: u16) {
        if let Some(high) = self.high.take() {
            if (0xDC00..0xE000).contains(&unit) {
                let c = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                self.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
                return;
            }
            self.replaced += 1;
            self.push(char::REPLACEMENT_CHARACTER);
        }
        match unit {
            0xD800..0xDC00 => self.high = Some(unit),
            0xDC00..0xE000 => {
                self.replaced += 1;
                self.push(char::REPLACEMENT_CHARACTER);
            }
            _ => self.push(char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER)),
        }
    }
}

impl<R: BufRead> Read for Utf16<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.fill_buf()?.read(buf)?;
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Utf16<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.out.len() {
            self.out.clear();
            self.pos = 0;
            let bytes = self.inner.fill_buf()?;
            if bytes.is_empty() {
                // The end: what waits for a partner never gets one.
                let lone = usize::from(self.odd.take().is_some())
                    + usize::from(self.high.take().is_some());
                for _ in 0..lone {
                    self.replaced += 1;
                    self.push(char::REPLACEMENT_CHARACTER);
                }
                break;
            }
            let bytes = bytes.to_vec();
            let n = bytes.len();
            self.inner.consume(n);
            let mut rest = &bytes[..];
            if let Some(first) = self.odd.take()
                && let Some((&second, tail)) = rest.split_first()
            {
                self.unit(self.unit_of(first, second));
                rest = tail;
            }
            let mut pairs = rest.chunks_exact(2);
            for pair in &mut pairs {
                if let [a, b] = *pair {
                    self.unit(self.unit_of(a, b));
                }
            }
            self.odd = pairs.remainder().first().copied();
        }
        Ok(self.out.get(self.pos..).unwrap_or_default())
    }

    fn consume(&mut self, amount: usize) {
        self.pos = self.pos.saturating_add(amount).min(self.out.len());
    }
}

impl<R> Utf16<R> {
    fn unit_of(&self, a: u8, b: u8) -> u16 {
        if self.little_endian {
            u16::from_le_bytes([a, b])
        } else {
            u16::from_be_bytes([a, b])
        }
    }
}

/// `text` in UTF-16 of either byte order, without a mark: for the tests.
#[cfg(test)]
pub fn encode(text: &str, little_endian: bool) -> Vec<u8> {
    text.encode_utf16()
        .flat_map(|u| {
            if little_endian {
                u.to_le_bytes()
            } else {
                u.to_be_bytes()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(bytes: &[u8], little_endian: bool, buffer: usize) -> (String, u64) {
        let inner = io::BufReader::with_capacity(buffer, bytes);
        let mut reader = Utf16::new(inner, little_endian);
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap();
        (out, reader.replaced)
    }

    #[test]
    fn byte_order_marks() {
        assert_eq!(Utf16::<&[u8]>::detect(b"\xFF\xFE{\x00"), Some(true));
        assert_eq!(Utf16::<&[u8]>::detect(b"\xFE\xFF\x00{"), Some(false));
        assert_eq!(Utf16::<&[u8]>::detect(b"\xEF\xBB\xBF{"), None);
        assert_eq!(Utf16::<&[u8]>::detect(b"{"), None);
    }

    #[test]
    fn unpaired_surrogates_and_a_lone_byte_become_replacements() {
        // A high surrogate followed by a letter, a low surrogate alone, then a lone byte.
        let bytes = [0x00, 0xD8, b'a', 0x00, 0x00, 0xDC, b'b', 0x00, 0x41];
        assert_eq!(
            decode(&bytes, true, 3),
            ("\u{FFFD}a\u{FFFD}b\u{FFFD}".into(), 3)
        );
    }

    proptest! {
        /// Any text, either byte order, cut into buffers of any size: the same text.
        #[test]
        fn any_text_is_read_back(text in "\\PC{0,200}", little_endian: bool, buffer in 1usize..16) {
            let (out, replaced) = decode(&encode(&text, little_endian), little_endian, buffer);
            prop_assert_eq!(out, text);
            prop_assert_eq!(replaced, 0);
        }
    }
}
