//! Input framing: turns a PATH (file, folder, `.tar`/`.tar.gz`/`.zip` archive, gzip- or zstd-compressed file, or
//! `-` for stdin) into named byte streams, each decompressed transparently. Formats never see compression.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek};
use std::path::{Path, PathBuf};

use vigil_model::encoding::{LegacyNote, Utf8OrLegacy};

use crate::FormatError;

const BUF: usize = 256 * 1024;

/// One stream of input: a file, an archive member, or stdin, already decompressed, as UTF-8.
pub struct Unit<'a> {
    /// Display name: the path, `archive.tar.gz!member`, or `-`.
    pub name: String,
    pub reader: Box<dyn BufRead + 'a>,
    /// Set once the reader has found the stream in a legacy encoding and decodes it (see [`Unit::text`]).
    pub legacy: LegacyNote,
}

impl<'a> Unit<'a> {
    /// A text stream whose bytes are UTF-8 until shown otherwise: from the first byte that is not, text in a
    /// legacy encoding (windows-1252 from Excel's "Save as CSV", windows-1251, GBK, ...) is decoded to UTF-8 and
    /// noted in `legacy` (`vigil_model::encoding::Utf8OrLegacy`); mixed or binary input passes through as it is.
    pub fn text(name: String, r: Box<dyn Read + 'a>) -> Self {
        let text = Utf8OrLegacy::new(r);
        let legacy = text.note();
        Unit {
            name,
            reader: Box::new(BufReader::with_capacity(BUF, ReadFull::new(text))),
            legacy,
        }
    }
}

/// What a path turned out to be.
pub enum Found {
    /// A folder that is a MISP feed (holds `manifest.json`): the caller reads it as a feed.
    MispFeed(PathBuf),
}

/// Compression detected from magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

fn is_tar(head: &[u8]) -> bool {
    head.len() >= 262 && &head[257..262] == b"ustar"
}

fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

/// A reader whose every `read` fills the buffer unless the input ends, so the first `fill_buf` of a `BufReader`
/// over it holds enough bytes for format detection (a chained peek would otherwise return only the peeked part).
struct ReadFull<R> {
    inner: R,
    /// An error met after some bytes were read: returned by the next call, so it is never lost.
    pending: Option<io::Error>,
}

impl<R: Read> ReadFull<R> {
    fn new(inner: R) -> Self {
        ReadFull {
            inner,
            pending: None,
        }
    }
}

impl<R: Read> Read for ReadFull<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if n > 0 => {
                    self.pending = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

/// Reads up to `n` bytes without losing them: returns them and a reader that yields them again first.
fn peek<'a>(mut r: Box<dyn Read + 'a>, n: usize) -> io::Result<(Vec<u8>, Box<dyn Read + 'a>)> {
    let mut head = Vec::with_capacity(n);
    (&mut r).take(n as u64).read_to_end(&mut head)?;
    let again = Cursor::new(head.clone()).chain(r);
    Ok((head, Box::new(again)))
}

fn decompress<'a>(r: Box<dyn Read + 'a>) -> io::Result<(Vec<u8>, Box<dyn Read + 'a>)> {
    let (head, r) = peek(r, 4)?;
    let inner: Box<dyn Read + 'a> = match sniff(&head) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            BUF, r,
        ))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        Compression::None => r,
    };
    utf8_text(inner)
}

/// The first bytes of `r` and a reader of all of it, as UTF-8: every reader downstream takes UTF-8, so UTF-16 (a
/// byte-order mark, or the byte pattern of text without one: `vigil_model::encoding::detect_utf16`) is transcoded
/// as it streams; an unpaired surrogate becomes U+FFFD.
fn utf8_text<'a>(r: Box<dyn Read + 'a>) -> io::Result<(Vec<u8>, Box<dyn Read + 'a>)> {
    let (head, inner) = peek(r, UTF16_HEAD)?;
    match vigil_model::encoding::detect_utf16(&head) {
        Some(order) => peek(
            Box::new(vigil_model::encoding::Utf16ToUtf8::new(inner, order)),
            512,
        ),
        None => Ok((head, inner)),
    }
}

/// Bytes of an input's start whose pattern decides whether it is UTF-16 ([`utf16_as_utf8`]).
pub const UTF16_HEAD: usize = 512;

/// `r` as UTF-8: transcoded when it is UTF-16 (see [`walk`]), else as it is. For readers of plain lists outside the
/// knowledge base's formats (`vigil ml score-domains`).
pub fn utf16_as_utf8<'a>(r: Box<dyn Read + 'a>) -> io::Result<Box<dyn Read + 'a>> {
    Ok(utf8_text(r)?.1)
}

/// What [`read_head`] reads before reserving the rest of its limit: most inputs fit.
const HEAD_FIRST_READ: u64 = 1 << 20;

/// Reads at most `limit` bytes of `r` into memory, for a format that parses from a slice when the input is small
/// enough and streams it otherwise (a result of `limit` bytes means more may follow). The buffer is reserved at
/// full size once the input outgrows a small first read, rather than doubled as it fills: every doubling copies
/// into memory touched for the first time (first touches were a third of the reading thread's time on the ATT&CK
/// bundle), and a doubling past the limit would take twice the memory. Reserved but unwritten pages cost nothing.
pub(crate) fn read_head(r: &mut dyn BufRead, limit: u64) -> io::Result<Vec<u8>> {
    let first = limit.min(HEAD_FIRST_READ);
    let mut head = Vec::with_capacity(usize::try_from(first).unwrap_or(0));
    (&mut *r).take(first).read_to_end(&mut head)?;
    if head.len() as u64 == first && first < limit {
        let rest = limit - first;
        head.reserve_exact(usize::try_from(rest).unwrap_or(0));
        (&mut *r).take(rest).read_to_end(&mut head)?;
    }
    Ok(head)
}

fn io_err(name: &str, e: io::Error) -> FormatError {
    FormatError::Io {
        file: name.to_string(),
        reason: e.to_string(),
    }
}

/// Walks a PATH and hands every stream in it to `f` in a stable (sorted) order. Errors opening one file are passed
/// to `on_error` and the walk goes on; `f` returning an error stops the walk.
pub fn walk(
    path: &str,
    f: &mut dyn FnMut(Unit<'_>) -> Result<(), FormatError>,
    found: &mut dyn FnMut(Found) -> Result<(), FormatError>,
    on_error: &mut dyn FnMut(FormatError) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    if path == "-" {
        let stdin: Box<dyn Read> = Box::new(io::stdin().lock());
        return match decompress(stdin) {
            Ok((head, r)) => stream_or_archive("-".into(), head, r, f, on_error),
            Err(e) => on_error(io_err("-", e)),
        };
    }
    let p = Path::new(path);
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) => {
            return on_error(FormatError::Unreadable {
                file: path.to_string(),
                reason: e.to_string(),
            })
        }
    };
    if meta.is_dir() {
        return walk_dir(p, f, found, on_error);
    }
    open_file(p, f, on_error)
}

fn walk_dir(
    dir: &Path,
    f: &mut dyn FnMut(Unit<'_>) -> Result<(), FormatError>,
    found: &mut dyn FnMut(Found) -> Result<(), FormatError>,
    on_error: &mut dyn FnMut(FormatError) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    if dir.join("manifest.json").is_file() {
        return found(Found::MispFeed(dir.to_path_buf()));
    }
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            return on_error(FormatError::Unreadable {
                file: dir.display().to_string(),
                reason: e.to_string(),
            })
        }
    };
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk_dir(&p, f, found, on_error)?;
        } else if p.is_file() {
            open_file(&p, f, on_error)?;
        }
    }
    Ok(())
}

fn open_file(
    p: &Path,
    f: &mut dyn FnMut(Unit<'_>) -> Result<(), FormatError>,
    on_error: &mut dyn FnMut(FormatError) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    let name = p.display().to_string();
    let mut file = match File::open(p) {
        Ok(f) => f,
        Err(e) => {
            return on_error(FormatError::Unreadable {
                file: name,
                reason: e.to_string(),
            })
        }
    };
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic).unwrap_or(0);
    if file.rewind().is_err() {
        return on_error(FormatError::Unreadable {
            file: name,
            reason: "cannot seek".into(),
        });
    }
    if is_zip(&magic[..n]) {
        return walk_zip(file, &name, f, on_error);
    }
    match decompress(Box::new(file)) {
        Ok((head, r)) => stream_or_archive(name, head, r, f, on_error),
        Err(e) => on_error(io_err(&name, e)),
    }
}

fn stream_or_archive<'a>(
    name: String,
    head: Vec<u8>,
    r: Box<dyn Read + 'a>,
    f: &mut dyn FnMut(Unit<'_>) -> Result<(), FormatError>,
    on_error: &mut dyn FnMut(FormatError) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    if is_tar(&head) {
        let mut ar = tar::Archive::new(r);
        let entries = match ar.entries() {
            Ok(e) => e,
            Err(e) => return on_error(io_err(&name, e)),
        };
        let mut members: Vec<String> = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    return on_error(FormatError::Io {
                        file: name.clone(),
                        reason: format!("archive ends early or is corrupt: {e}"),
                    })
                }
            };
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let member = entry
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "?".into());
            let base = member.rsplit('/').next().unwrap_or("");
            if base.starts_with('.') || base.is_empty() {
                continue;
            }
            members.push(member.clone());
            let full = format!("{name}!{member}");
            match decompress(Box::new(entry)) {
                Ok((_, inner)) => f(Unit::text(full, inner))?,
                Err(e) => on_error(io_err(&full, e))?,
            }
        }
        return Ok(());
    }
    f(Unit::text(name, r))
}

fn walk_zip(
    file: File,
    name: &str,
    f: &mut dyn FnMut(Unit<'_>) -> Result<(), FormatError>,
    on_error: &mut dyn FnMut(FormatError) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    let mut zip = match zip::ZipArchive::new(BufReader::new(file)) {
        Ok(z) => z,
        Err(e) => {
            return on_error(FormatError::Unreadable {
                file: name.to_string(),
                reason: format!("not a readable zip archive: {e}"),
            })
        }
    };
    let mut names: Vec<(usize, String)> = (0..zip.len())
        .filter_map(|i| zip.name_for_index(i).map(|n| (i, n.to_string())))
        .collect();
    names.sort_by(|a, b| a.1.cmp(&b.1));
    for (i, member) in names {
        if member.ends_with('/')
            || member
                .rsplit('/')
                .next()
                .is_some_and(|b| b.starts_with('.'))
        {
            continue;
        }
        let full = format!("{name}!{member}");
        let entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                on_error(FormatError::Io {
                    file: full,
                    reason: e.to_string(),
                })?;
                continue;
            }
        };
        match decompress(Box::new(entry)) {
            Ok((_, inner)) => f(Unit::text(full, inner))?,
            Err(e) => on_error(io_err(&full, e))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn read_head_reads_up_to_its_limit_and_leaves_the_rest() {
        let first = HEAD_FIRST_READ as usize;
        for (len, limit) in [
            (0, 10),
            (5, 10),
            (10, 10),
            (11, 10),
            (first - 1, first as u64),
            (first, first as u64),
            (first + 1, first as u64),
            (first + 7, first as u64 + 3),
            (3 * first, 2 * first as u64 + 1),
        ] {
            let input: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut r = &input[..];
            let head = read_head(&mut r, limit).unwrap();
            let want = len.min(limit as usize);
            assert_eq!(head.len(), want, "input {len}, limit {limit}");
            assert_eq!(&head[..], &input[..want]);
            assert_eq!(r, &input[want..], "the rest is left unread");
        }
    }

    fn collect(path: &str) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
        let mut units = Vec::new();
        let errors = std::cell::RefCell::new(Vec::new());
        walk(
            path,
            &mut |mut u| {
                let mut buf = Vec::new();
                match u.reader.read_to_end(&mut buf) {
                    Ok(_) => units.push((u.name, buf)),
                    Err(e) => errors.borrow_mut().push(format!("{}: {e}", u.name)),
                }
                Ok(())
            },
            &mut |_| Ok(()),
            &mut |e| {
                errors.borrow_mut().push(e.to_string());
                Ok(())
            },
        )
        .unwrap();
        (units, errors.into_inner())
    }

    #[test]
    fn plain_gzip_zstd_tar_zip_and_dirs() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.txt"), b"evil.com\n").unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"gz.example\n").unwrap();
        std::fs::write(d.path().join("b.txt.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(
            d.path().join("c.txt.zst"),
            zstd::encode_all(&b"zst.example\n"[..], 1).unwrap(),
        )
        .unwrap();
        let mut tb = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(12);
        h.set_mode(0o644);
        h.set_cksum();
        tb.append_data(&mut h, "in/tar.txt", &b"tar.example\n"[..])
            .unwrap();
        let tar_bytes = tb.into_inner().unwrap();
        let mut tgz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        tgz.write_all(&tar_bytes).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/d.tar.gz"), tgz.finish().unwrap()).unwrap();
        let mut zw = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zw.start_file("z.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        zw.write_all(b"zip.example\n").unwrap();
        std::fs::write(d.path().join("e.zip"), zw.finish().unwrap().into_inner()).unwrap();

        let (units, errors) = collect(d.path().to_str().unwrap());
        assert!(errors.is_empty(), "{errors:?}");
        let bodies: Vec<String> = units
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).to_string())
            .collect();
        assert_eq!(
            bodies,
            vec![
                "evil.com\n",
                "gz.example\n",
                "zst.example\n",
                "zip.example\n",
                "tar.example\n"
            ]
        );
        assert!(units[4].0.ends_with("d.tar.gz!in/tar.txt"));
    }

    /// What Windows PowerShell 5.1's `>` writes (UTF-16LE with a byte-order mark), UTF-16BE, and UTF-16 without a
    /// mark, plain or gzip-compressed: read as the UTF-8 text, the mark dropped.
    #[test]
    fn utf16_is_read_as_utf8() {
        let text = "evil-domain.com\n203.0.113.77\nÜbung.example\n";
        let dir = tempfile::tempdir().unwrap();
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        use vigil_model::encoding::{encode_utf16, Utf16Order};
        cases.push(("le-bom.txt", encode_utf16(text, Utf16Order::Little, true)));
        cases.push(("be-bom.txt", encode_utf16(text, Utf16Order::Big, true)));
        cases.push(("le.txt", encode_utf16(text, Utf16Order::Little, false)));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &encode_utf16(text, Utf16Order::Little, true)).unwrap();
        cases.push(("le.txt.gz", gz.finish().unwrap()));
        for (name, bytes) in cases {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let (units, errors) = collect(&p.display().to_string());
            assert!(errors.is_empty(), "{name}: {errors:?}");
            assert_eq!(units.len(), 1, "{name}");
            assert_eq!(String::from_utf8_lossy(&units[0].1), text, "{name}");
        }
    }

    proptest::proptest! {
        /// Any UTF-16LE input with a mark comes out as the standard library decodes it (an unpaired surrogate and
        /// an odd last byte as U+FFFD), whole, whatever character falls on the 512-byte peek.
        #[test]
        fn utf16_transcoding_is_exact(units in proptest::collection::vec(proptest::prelude::any::<u16>(), 0..700), odd in proptest::prelude::any::<bool>()) {
            use std::io::Read;
            let mut bytes = vec![0xFF, 0xFE];
            bytes.extend(units.iter().flat_map(|u| u.to_le_bytes()));
            if odd {
                bytes.push(0x41);
            }
            let mut out = Vec::new();
            utf16_as_utf8(Box::new(&bytes[..])).unwrap().read_to_end(&mut out).unwrap();
            let out = String::from_utf8(out);
            proptest::prop_assert!(out.is_ok());
            let out = out.unwrap_or_default();
            let mut want: String = char::decode_utf16(units.iter().copied())
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect();
            if odd {
                want.push(char::REPLACEMENT_CHARACTER);
            }
            proptest::prop_assert_eq!(out, want);
        }
    }

    #[test]
    fn truncated_gzip_is_an_io_error_not_a_panic() {
        let d = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&b"line.example\n".repeat(10_000)).unwrap();
        let bytes = gz.finish().unwrap();
        let p = d.path().join("t.gz");
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let (units, errors) = collect(p.to_str().unwrap());
        assert!(units.is_empty());
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn missing_file() {
        let (_, errors) = collect("/nonexistent/file.json");
        assert_eq!(errors.len(), 1);
    }
}
