//! The versioned binary container every model artifact is stored in, and a small bounds-checked codec for it.
//!
//! Layout (little-endian): magic `VIGILML\0`, format version u32, model name (u16 length + UTF-8), model version
//! u32, SHA-256 of the training data (32 bytes), payload length u64, SHA-256 of the payload (32 bytes), payload.
//! The payload is written with [`Writer`] in a fixed field order, so the same model gives the same bytes.

use sha2::{Digest, Sha256};

use crate::error::{MlError, Result};

/// Magic bytes that open every artifact.
pub const MAGIC: &[u8; 8] = b"VIGILML\0";
/// Version of the container layout (not of a model).
pub const FORMAT_VERSION: u32 = 1;

/// The header fields of an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Model name, e.g. `domain`.
    pub model: String,
    /// Version of the model's payload layout and features; bumped when they change.
    pub model_version: u32,
    /// SHA-256 over the training data as the trainer read it.
    pub data_hash: [u8; 32],
}

impl Header {
    /// The training-data hash as lower-case hex.
    pub fn data_hash_hex(&self) -> String {
        hex(&self.data_hash)
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Wraps a payload in the container.
pub fn seal(header: &Header, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 128);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let name = header.model.as_bytes();
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(&header.model_version.to_le_bytes());
    out.extend_from_slice(&header.data_hash);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(payload));
    out.extend_from_slice(payload);
    out
}

/// Checks the container and returns its header and payload. `model` and `model_version` are what the caller
/// expects; anything else is an error naming both.
pub fn open<'a>(
    bytes: &'a [u8],
    model: &'static str,
    model_version: u32,
) -> Result<(Header, &'a [u8])> {
    let err = |r: String| MlError::artifact(model, r);
    if bytes.is_empty() {
        return Err(err("artifact is empty (never trained?)".into()));
    }
    let mut r = Reader::new(bytes, model);
    let magic = r.bytes(8).map_err(|_| err("truncated header".into()))?;
    if magic != MAGIC {
        return Err(err("not a Vigil model artifact (bad magic bytes)".into()));
    }
    let fv = r.u32()?;
    if fv != FORMAT_VERSION {
        return Err(err(format!(
            "container format version {fv}, this build reads version {FORMAT_VERSION}"
        )));
    }
    let n = r.u16()? as usize;
    let name = String::from_utf8_lossy(r.bytes(n)?).into_owned();
    if name != model {
        return Err(err(format!(
            "artifact holds model `{name}`, expected `{model}`"
        )));
    }
    let mv = r.u32()?;
    if mv != model_version {
        return Err(err(format!(
            "model version {mv}, this build needs version {model_version}"
        )));
    }
    let mut data_hash = [0u8; 32];
    data_hash.copy_from_slice(r.bytes(32)?);
    let len = r.u64()?;
    let sum = r.bytes(32)?.to_vec();
    let rest = r.rest();
    if (rest.len() as u64) != len {
        return Err(err(format!(
            "truncated or padded: payload is {} bytes, header says {len}",
            rest.len()
        )));
    }
    if Sha256::digest(rest).as_slice() != sum.as_slice() {
        return Err(err("payload checksum mismatch (corrupt file)".into()));
    }
    Ok((
        Header {
            model: name,
            model_version: mv,
            data_hash,
        },
        rest,
    ))
}

/// Appends fixed-width little-endian fields to a payload.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f32(&mut self, v: f32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
    }
    pub fn f32s(&mut self, v: &[f32]) {
        self.u64(v.len() as u64);
        for x in v {
            self.f32(*x);
        }
    }
    pub fn u32s(&mut self, v: &[u32]) {
        self.u64(v.len() as u64);
        for x in v {
            self.u32(*x);
        }
    }
    pub fn i8s(&mut self, v: &[i8]) {
        self.u64(v.len() as u64);
        self.buf.extend(v.iter().map(|x| *x as u8));
    }
    pub fn strs(&mut self, v: &[String]) {
        self.u64(v.len() as u64);
        for s in v {
            self.str(s);
        }
    }
}

/// Reads what [`Writer`] wrote; every read is bounds-checked and names the model on failure.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    model: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], model: &'static str) -> Self {
        Reader { buf, pos: 0, model }
    }
    fn short(&self, want: usize) -> MlError {
        MlError::artifact(
            self.model,
            format!(
                "truncated payload: wanted {want} bytes at offset {}, {} left",
                self.pos,
                self.buf.len() - self.pos
            ),
        )
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() - self.pos < n {
            return Err(self.short(n));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.arr::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    pub fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_le_bytes(self.arr()?))
    }
    fn len(&mut self, elem: usize) -> Result<usize> {
        let n = self.u64()?;
        let left = (self.buf.len() - self.pos) as u64;
        if n.saturating_mul(elem as u64) > left {
            return Err(self.short(n.saturating_mul(elem as u64).min(usize::MAX as u64) as usize));
        }
        Ok(n as usize)
    }
    pub fn str(&mut self) -> Result<String> {
        let n = self.u32()? as usize;
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| MlError::artifact(self.model, "string field is not UTF-8"))
    }
    pub fn f32s(&mut self) -> Result<Vec<f32>> {
        let n = self.len(4)?;
        (0..n).map(|_| self.f32()).collect()
    }
    pub fn u32s(&mut self) -> Result<Vec<u32>> {
        let n = self.len(4)?;
        (0..n).map(|_| self.u32()).collect()
    }
    pub fn i8s(&mut self) -> Result<Vec<i8>> {
        let n = self.len(1)?;
        Ok(self.bytes(n)?.iter().map(|b| *b as i8).collect())
    }
    pub fn strs(&mut self) -> Result<Vec<String>> {
        let n = self.len(4)?;
        (0..n).map(|_| self.str()).collect()
    }
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }
    /// True when every byte was read (an optional trailing section is absent).
    pub fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }
    /// Fails unless every byte was consumed, which catches a payload written by another layout.
    pub fn finish(&self) -> Result<()> {
        if self.pos != self.buf.len() {
            return Err(MlError::artifact(
                self.model,
                format!("{} unread bytes after payload", self.buf.len() - self.pos),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr() -> Header {
        Header {
            model: "t".into(),
            model_version: 3,
            data_hash: [7; 32],
        }
    }

    #[test]
    fn round_trip_and_errors() {
        let mut w = Writer::default();
        w.str("abc");
        w.f32s(&[1.0, -2.5]);
        let bytes = seal(&hdr(), &w.buf);
        let (h, p) = open(&bytes, "t", 3).expect("opens");
        assert_eq!(h, hdr());
        let mut r = Reader::new(p, "t");
        assert_eq!(r.str().expect("str"), "abc");
        assert_eq!(r.f32s().expect("f32s"), vec![1.0, -2.5]);
        r.finish().expect("all read");

        for (bad, needle) in [
            (&bytes[..bytes.len() - 1], "truncated"),
            (&bytes[..10], "truncated"),
            (&b""[..], "empty"),
            (&b"garbage garbage garbage"[..], "magic"),
        ] {
            let e = open(bad, "t", 3).expect_err("must fail").to_string();
            assert!(e.contains(needle) && e.contains("vigil ml train"), "{e}");
        }
        let e = open(&bytes, "t", 4).expect_err("version").to_string();
        assert!(e.contains("model version 3"), "{e}");
        let e = open(&bytes, "u", 3).expect_err("name").to_string();
        assert!(e.contains("expected `u`"), "{e}");
        let mut corrupt = bytes.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert!(open(&corrupt, "t", 3)
            .expect_err("sum")
            .to_string()
            .contains("checksum"));
    }
}
