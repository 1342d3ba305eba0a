//! Snapshot files: an [`IndicatorSet`] serialised to one file that can be carried to an air-gapped network and
//! hunted with, without the store (`vigil snapshot --out intel.vgs`, `vigil hunt --snapshot intel.vgs`).
//!
//! Layout (all integers little-endian): magic `VIGILSET`, format version (u32), flags (u32, 0), section count
//! (u32); then each section as tag (4 ASCII bytes), byte length (u64) and contents; then a CRC-32 (IEEE) of every
//! byte before it and the end magic `VGSETEND`. Sections hold the set's flat arrays as they are in memory, so
//! loading is a sequence of reads plus one validation pass; hash slots and (from version 2) the Bloom filters are
//! stored, not rebuilt. General STIX
//! patterns are stored as text and recompiled.
//!
//! Every malformed file (wrong magic, other version, truncated, bad checksum, inconsistent tables) is a
//! [`SnapshotError`], never a panic: lengths are checked against the file size before allocating, and the loaded
//! set is validated before use.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::set::{CidrTable, IndicatorSet, StrList};
use crate::stix::CompiledPattern;
use crate::table::KeyTable;

/// First bytes of a snapshot.
pub const MAGIC: &[u8; 8] = b"VIGILSET";
/// Last bytes of a snapshot.
pub const END_MAGIC: &[u8; 8] = b"VGSETEND";
/// The format version this build writes. Version 2 stores each key table's Bloom filter after its slots, so a
/// load is a straight read; version 1 files (no filters) still load, with the filters rebuilt from the keys.
/// Version 3 adds the URL path table after the patterns; older files load with it empty (they could not hold
/// path indicators: those were general patterns then).
pub const VERSION: u32 = 3;
/// The oldest format version this build reads.
pub const MIN_VERSION: u32 = 1;

/// Why a snapshot could not be written or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: io::Error,
    },
    /// The file does not start with the snapshot magic.
    #[error("{path}: not a Vigil indicator snapshot (bad magic bytes)")]
    NotASnapshot {
        /// File.
        path: String,
    },
    /// The file was written by another format version.
    #[error("{path}: snapshot format version {found}, this build reads version {supported}; rebuild it with `vigil snapshot`")]
    Version {
        /// File.
        path: String,
        /// Version in the file.
        found: u32,
        /// Version supported.
        supported: u32,
    },
    /// The file ends before its declared contents.
    #[error("{path}: truncated snapshot (ends inside section `{section}`)")]
    Truncated {
        /// File.
        path: String,
        /// Section being read.
        section: String,
    },
    /// The checksum does not match the contents.
    #[error("{path}: snapshot checksum mismatch (file corrupted)")]
    Checksum {
        /// File.
        path: String,
    },
    /// The contents are inconsistent.
    #[error("{path}: corrupt snapshot: {reason}")]
    Corrupt {
        /// File.
        path: String,
        /// What is inconsistent.
        reason: String,
    },
}

struct W<'a, T: Write> {
    out: &'a mut T,
    crc: crc32fast::Hasher,
}

impl<T: Write> W<'_, T> {
    fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.crc.update(b);
        self.out.write_all(b)
    }
    fn section(&mut self, tag: &[u8; 4], data: &[u8]) -> io::Result<()> {
        self.raw(tag)?;
        self.raw(&(data.len() as u64).to_le_bytes())?;
        self.raw(data)
    }
}

fn u32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn u64s(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn u128s(v: &[u128]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The sections of a set in file order, for format `version` (1 has no filter sections).
fn sections(s: &IndicatorSet, version: u32) -> Vec<(&'static [u8; 4], Vec<u8>)> {
    let mut v: Vec<(&'static [u8; 4], Vec<u8>)> = vec![
        (b"IDUU", s.id_uuid.iter().flatten().copied().collect()),
        (b"IDPX", u32s(&s.id_prefix)),
        (b"IDPA", s.id_prefixes.arena.clone()),
        (b"IDPO", u32s(&s.id_prefixes.offs)),
        (b"IDRW", s.id_raw.clone()),
        (
            b"SCOR",
            s.score.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ),
        (b"TLPS", s.tlp.clone()),
        (b"FLAG", s.flags.clone()),
        (b"CTXI", u32s(&s.ctx)),
        (b"NMAR", s.names.arena.clone()),
        (b"NMOF", u32s(&s.names.offs)),
        (b"CXOF", u32s(&s.ctx_offs)),
        (b"CXIT", u32s(&s.ctx_items)),
    ];
    for (tags, t) in [
        (TABLE_TAGS[0], &s.domains),
        (TABLE_TAGS[1], &s.ips),
        (TABLE_TAGS[2], &s.urls),
        (TABLE_TAGS[3], &s.hashes),
        (TABLE_TAGS[4], &s.emails),
    ] {
        v.push((tags[0], t.arena.clone()));
        v.push((tags[1], u32s(&t.offs)));
        v.push((tags[2], u32s(&t.post)));
        v.push((tags[3], u32s(&t.multi)));
        v.push((tags[4], u32s(&t.slots)));
        if version >= 2 {
            v.push((tags[5], u64s(&t.filter)));
        }
    }
    let c4 = &s.cidr4;
    v.extend([
        (b"C4ST", u32s(&c4.start)),
        (b"C4EN", u32s(&c4.end)),
        (b"C4NE", u32s(&c4.net)),
        (b"C4LE", c4.len.clone()),
        (b"C4PO", u32s(&c4.post)),
        (b"C4MU", u32s(&c4.multi)),
        (b"C4FI", u32s(&c4.first)),
    ]);
    let c6 = &s.cidr6;
    v.extend([
        (b"C6ST", u128s(&c6.start)),
        (b"C6EN", u128s(&c6.end)),
        (b"C6NE", u128s(&c6.net)),
        (b"C6LE", c6.len.clone()),
        (b"C6PO", u32s(&c6.post)),
        (b"C6MU", u32s(&c6.multi)),
    ]);
    v.push((b"PTIN", u32s(&s.pattern_ind)));
    v.push((b"PTAR", s.pattern_text.arena.clone()));
    v.push((b"PTOF", u32s(&s.pattern_text.offs)));
    if version >= 3 {
        let t = &s.paths;
        v.push((PATH_TAGS[0], t.arena.clone()));
        v.push((PATH_TAGS[1], u32s(&t.offs)));
        v.push((PATH_TAGS[2], u32s(&t.post)));
        v.push((PATH_TAGS[3], u32s(&t.multi)));
        v.push((PATH_TAGS[4], u32s(&t.slots)));
        v.push((PATH_TAGS[5], u64s(&t.filter)));
    }
    v
}

/// Section tags of the URL path table (version 3).
const PATH_TAGS: [&[u8; 4]; 6] = [b"PAAR", b"PAOF", b"PAPO", b"PAMU", b"PASL", b"PABF"];

/// Section tags of the five key tables: arena, offsets, postings, multi-postings, slots, Bloom filter.
const TABLE_TAGS: [[&[u8; 4]; 6]; 5] = [
    [b"DOAR", b"DOOF", b"DOPO", b"DOMU", b"DOSL", b"DOBF"],
    [b"IPAR", b"IPOF", b"IPPO", b"IPMU", b"IPSL", b"IPBF"],
    [b"URAR", b"UROF", b"URPO", b"URMU", b"URSL", b"URBF"],
    [b"HAAR", b"HAOF", b"HAPO", b"HAMU", b"HASL", b"HABF"],
    [b"EMAR", b"EMOF", b"EMPO", b"EMMU", b"EMSL", b"EMBF"],
];

/// Writes the set to `out`.
pub fn write_to(set: &IndicatorSet, out: &mut impl Write) -> io::Result<()> {
    write_version(set, out, VERSION)
}

/// Writes the set in format `version` (tests write version 1 to check that it still loads).
fn write_version(set: &IndicatorSet, out: &mut impl Write, version: u32) -> io::Result<()> {
    let secs = sections(set, version);
    let mut w = W {
        out,
        crc: crc32fast::Hasher::new(),
    };
    w.raw(MAGIC)?;
    w.raw(&version.to_le_bytes())?;
    w.raw(&0u32.to_le_bytes())?;
    w.raw(&(secs.len() as u32).to_le_bytes())?;
    for (tag, data) in &secs {
        w.section(tag, data)?;
    }
    let crc = w.crc.clone().finalize();
    w.out.write_all(&crc.to_le_bytes())?;
    w.out.write_all(END_MAGIC)?;
    w.out.flush()
}

/// Writes the set to a file (through a temporary file renamed into place, so a reader never sees half a file).
pub fn save(set: &IndicatorSet, path: &Path) -> Result<(), SnapshotError> {
    let io_err = |source| SnapshotError::Io {
        path: path.display().to_string(),
        source,
    };
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("vgs")
    ));
    let f = File::create(&tmp).map_err(io_err)?;
    let mut bw = BufWriter::with_capacity(1 << 20, f);
    write_to(set, &mut bw).map_err(io_err)?;
    bw.into_inner()
        .map_err(|e| io_err(e.into_error()))?
        .sync_all()
        .map_err(io_err)?;
    std::fs::rename(&tmp, path).map_err(io_err)
}

/// Loads a snapshot file.
pub fn load(path: &Path) -> Result<IndicatorSet, SnapshotError> {
    let name = path.display().to_string();
    let f = File::open(path).map_err(|source| SnapshotError::Io {
        path: name.clone(),
        source,
    })?;
    let len = f
        .metadata()
        .map_err(|source| SnapshotError::Io {
            path: name.clone(),
            source,
        })?
        .len();
    read_from(BufReader::with_capacity(64 << 10, f), len, &name)
}

/// What [`check`] read off a snapshot file: its checksum (as stored in its trailer), size and indicator count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The CRC-32 of everything before the trailer, as the trailer holds it (checked).
    pub crc: u32,
    /// The file's size.
    pub bytes: u64,
    /// Indicators in the set.
    pub indicators: usize,
}

/// Reads the file through once, checking its framing (magic, version, section lengths, end marker) and its
/// checksum, without building the set: a few milliseconds and one buffer where [`load`] takes the set's memory.
/// For a caller that held a file that loaded whole when it was written and wants to know it is still that file
/// (a sensor polling for changes: the checksum tells a damaged or replaced file).
pub fn check(path: &Path) -> Result<Summary, SnapshotError> {
    let name = path.display().to_string();
    let io_err = |source| SnapshotError::Io {
        path: name.clone(),
        source,
    };
    let f = File::open(path).map_err(io_err)?;
    let len = f.metadata().map_err(io_err)?.len();
    let mut r = R {
        inp: BufReader::with_capacity(1 << 20, f),
        crc: crc32fast::Hasher::new(),
        left: len,
        name: name.clone(),
    };
    let head = r.header(len)?;
    let sections = u32::from_le_bytes([head[16], head[17], head[18], head[19]]);
    let mut indicators = None;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..sections {
        let mut h = [0u8; 12];
        r.exact(&mut h, "section header")?;
        let tag = String::from_utf8_lossy(&h[..4]).into_owned();
        let mut l = [0u8; 8];
        l.copy_from_slice(&h[4..]);
        let mut left = u64::from_le_bytes(l);
        if left > r.left {
            return Err(SnapshotError::Truncated {
                path: name,
                section: tag,
            });
        }
        if &h[..4] == b"SCOR" {
            indicators = Some((left / 4) as usize);
        }
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            r.exact(&mut buf[..n], &tag)?;
            left -= n as u64;
        }
    }
    let want = r.crc.clone().finalize();
    let mut tail = [0u8; 12];
    if r.left != 12 {
        return Err(SnapshotError::Corrupt {
            path: name,
            reason: format!(
                "{} bytes after the last section where the 12-byte trailer should be",
                r.left
            ),
        });
    }
    r.inp.read_exact(&mut tail).map_err(io_err)?;
    let crc = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    if crc != want {
        return Err(SnapshotError::Checksum { path: name });
    }
    if &tail[4..] != END_MAGIC {
        return Err(SnapshotError::Corrupt {
            path: name,
            reason: "no end marker".into(),
        });
    }
    let indicators = indicators.ok_or_else(|| SnapshotError::Corrupt {
        path: name.clone(),
        reason: "no score section".into(),
    })?;
    Ok(Summary {
        crc,
        bytes: len,
        indicators,
    })
}

/// The checksum a snapshot file's trailer holds, and the file's size, without reading the rest: for a file that
/// has just been checked or loaded whole (see [`check`] for one that has not).
pub fn stored_checksum(path: &Path) -> Result<(u32, u64), SnapshotError> {
    use std::io::{Seek, SeekFrom};
    let io_err = |source| SnapshotError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = File::open(path).map_err(io_err)?;
    let len = f.metadata().map_err(io_err)?.len();
    if len < 32 {
        return Err(SnapshotError::Truncated {
            path: path.display().to_string(),
            section: "checksum".into(),
        });
    }
    let mut tail = [0u8; 4];
    f.seek(SeekFrom::Start(len - 12)).map_err(io_err)?;
    f.read_exact(&mut tail).map_err(io_err)?;
    Ok((u32::from_le_bytes(tail), len))
}

struct R<T: Read> {
    inp: T,
    crc: crc32fast::Hasher,
    left: u64,
    name: String,
}

impl<T: Read> R<T> {
    fn exact(&mut self, buf: &mut [u8], section: &str) -> Result<(), SnapshotError> {
        if (buf.len() as u64) > self.left {
            return Err(SnapshotError::Truncated {
                path: self.name.clone(),
                section: section.into(),
            });
        }
        self.inp.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => SnapshotError::Truncated {
                path: self.name.clone(),
                section: section.into(),
            },
            _ => SnapshotError::Io {
                path: self.name.clone(),
                source: e,
            },
        })?;
        self.left -= buf.len() as u64;
        self.crc.update(buf);
        Ok(())
    }

    /// Reads the file header (magic, a version this build reads, flags, section count) of a file of `len` bytes.
    fn header(&mut self, len: u64) -> Result<[u8; 20], SnapshotError> {
        let mut head = [0u8; 20];
        if len < 20 {
            let mut b = vec![0u8; len as usize];
            self.exact(&mut b, "header")?;
            if b.len() < 8 || &b[..8] != MAGIC {
                return Err(SnapshotError::NotASnapshot {
                    path: self.name.clone(),
                });
            }
            return Err(SnapshotError::Truncated {
                path: self.name.clone(),
                section: "header".into(),
            });
        }
        self.exact(&mut head, "header")?;
        if &head[..8] != MAGIC {
            return Err(SnapshotError::NotASnapshot {
                path: self.name.clone(),
            });
        }
        let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        if !(MIN_VERSION..=VERSION).contains(&version) {
            return Err(SnapshotError::Version {
                path: self.name.clone(),
                found: version,
                supported: VERSION,
            });
        }
        Ok(head)
    }

    /// Reads a section's header and returns its byte length, checked against what is left of the file.
    fn head(&mut self, tag: &[u8; 4], t: &str) -> Result<usize, SnapshotError> {
        let mut head = [0u8; 12];
        self.exact(&mut head, t)?;
        if &head[..4] != tag {
            return Err(SnapshotError::Corrupt {
                path: self.name.clone(),
                reason: format!(
                    "expected section `{t}`, found `{}`",
                    String::from_utf8_lossy(&head[..4])
                ),
            });
        }
        let mut l = [0u8; 8];
        l.copy_from_slice(&head[4..]);
        let len = u64::from_le_bytes(l);
        // Never allocate more than the file can hold (a corrupt length would otherwise exhaust memory).
        if len > self.left {
            return Err(SnapshotError::Truncated {
                path: self.name.clone(),
                section: t.into(),
            });
        }
        usize::try_from(len).map_err(|_| self.corrupt(tag, "length too large"))
    }

    fn section(&mut self, tag: &[u8; 4]) -> Result<Vec<u8>, SnapshotError> {
        self.pod(tag, |x| x)
    }

    /// A section of fixed-size values (`N` bytes each), read straight into the vector that keeps them: no byte
    /// copy to convert from, so a load's peak memory is the set itself (a transient copy of each section kept
    /// up to ~37 MB more committed, and mimalloc holds freed pages for a while, so it showed in the hunt's peak
    /// RSS). `fix` turns the stored little-endian value into a native one (the identity on little-endian).
    fn pod<V: bytemuck::Pod>(
        &mut self,
        tag: &[u8; 4],
        fix: fn(V) -> V,
    ) -> Result<Vec<V>, SnapshotError> {
        let t = String::from_utf8_lossy(tag).into_owned();
        let len = self.head(tag, &t)?;
        let n = std::mem::size_of::<V>();
        if len % n != 0 {
            return Err(self.corrupt(tag, &format!("length not a multiple of {n}")));
        }
        let mut v = vec![V::zeroed(); len / n];
        self.exact(bytemuck::cast_slice_mut(&mut v), &t)?;
        if cfg!(target_endian = "big") {
            for x in &mut v {
                *x = fix(*x);
            }
        }
        Ok(v)
    }

    fn u32s(&mut self, tag: &[u8; 4]) -> Result<Vec<u32>, SnapshotError> {
        self.pod(tag, u32::from_le)
    }

    fn u64s(&mut self, tag: &[u8; 4]) -> Result<Vec<u64>, SnapshotError> {
        self.pod(tag, u64::from_le)
    }

    fn u128s(&mut self, tag: &[u8; 4]) -> Result<Vec<u128>, SnapshotError> {
        self.pod(tag, u128::from_le)
    }

    fn corrupt(&self, tag: &[u8; 4], why: &str) -> SnapshotError {
        SnapshotError::Corrupt {
            path: self.name.clone(),
            reason: format!("section `{}`: {why}", String::from_utf8_lossy(tag)),
        }
    }

    /// A key table; its filter is read from version 2 on and left empty (to be rebuilt) before.
    fn table(&mut self, tags: [&[u8; 4]; 6], version: u32) -> Result<KeyTable, SnapshotError> {
        let mut t = KeyTable {
            arena: self.section(tags[0])?,
            offs: self.u32s(tags[1])?,
            post: self.u32s(tags[2])?,
            multi: self.u32s(tags[3])?,
            slots: self.u32s(tags[4])?,
            filter: Vec::new(),
        };
        if version >= 2 {
            t.filter = self.u64s(tags[5])?;
            // Any other size would be read without fault but answer for the wrong words: hold it to the one a
            // rebuild gives.
            if t.filter.len() != crate::table::filter_words(t.len()) {
                return Err(self.corrupt(tags[5], "filter size does not match the key count"));
            }
        }
        Ok(t)
    }
}

/// Loads a snapshot from a reader of `len` bytes; `name` appears in errors.
pub fn read_from(inp: impl Read, len: u64, name: &str) -> Result<IndicatorSet, SnapshotError> {
    let mut r = R {
        inp,
        crc: crc32fast::Hasher::new(),
        left: len,
        name: name.to_string(),
    };
    let head = r.header(len)?;
    let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    let mut s = IndicatorSet {
        id_uuid: r.pod(b"IDUU", |x| x)?,
        ..IndicatorSet::default()
    };
    s.id_prefix = r.u32s(b"IDPX")?;
    s.id_prefixes = StrList {
        arena: r.section(b"IDPA")?,
        offs: r.u32s(b"IDPO")?,
    };
    s.id_raw = r.section(b"IDRW")?;
    s.score = r.pod(b"SCOR", |x: f32| f32::from_bits(u32::from_le(x.to_bits())))?;
    s.tlp = r.section(b"TLPS")?;
    s.flags = r.section(b"FLAG")?;
    s.ctx = r.u32s(b"CTXI")?;
    s.names = StrList {
        arena: r.section(b"NMAR")?,
        offs: r.u32s(b"NMOF")?,
    };
    s.ctx_offs = r.u32s(b"CXOF")?;
    s.ctx_items = r.u32s(b"CXIT")?;
    s.domains = r.table(TABLE_TAGS[0], version)?;
    s.ips = r.table(TABLE_TAGS[1], version)?;
    s.urls = r.table(TABLE_TAGS[2], version)?;
    s.hashes = r.table(TABLE_TAGS[3], version)?;
    s.emails = r.table(TABLE_TAGS[4], version)?;
    s.cidr4 = CidrTable {
        start: r.u32s(b"C4ST")?,
        end: r.u32s(b"C4EN")?,
        net: r.u32s(b"C4NE")?,
        len: r.section(b"C4LE")?,
        post: r.u32s(b"C4PO")?,
        multi: r.u32s(b"C4MU")?,
        first: r.u32s(b"C4FI")?,
    };
    s.cidr6 = CidrTable {
        start: r.u128s(b"C6ST")?,
        end: r.u128s(b"C6EN")?,
        net: r.u128s(b"C6NE")?,
        len: r.section(b"C6LE")?,
        post: r.u32s(b"C6PO")?,
        multi: r.u32s(b"C6MU")?,
        first: Vec::new(),
    };
    s.pattern_ind = r.u32s(b"PTIN")?;
    s.pattern_text = StrList {
        arena: r.section(b"PTAR")?,
        offs: r.u32s(b"PTOF")?,
    };
    s.paths = if version >= 3 {
        r.table(PATH_TAGS, version)?
    } else {
        KeyTable::build(Vec::new()).map_err(|reason| SnapshotError::Corrupt {
            path: name.into(),
            reason,
        })?
    };
    let want = r.crc.clone().finalize();
    let mut tail = [0u8; 12];
    if r.left < 12 {
        return Err(SnapshotError::Truncated {
            path: name.into(),
            section: "checksum".into(),
        });
    }
    r.inp
        .read_exact(&mut tail)
        .map_err(|_| SnapshotError::Truncated {
            path: name.into(),
            section: "checksum".into(),
        })?;
    r.left -= 12;
    if u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) != want {
        return Err(SnapshotError::Checksum { path: name.into() });
    }
    if &tail[4..] != END_MAGIC || r.left != 0 {
        return Err(SnapshotError::Corrupt {
            path: name.into(),
            reason: "trailing data after the end marker".into(),
        });
    }
    let corrupt = |reason: String| SnapshotError::Corrupt {
        path: name.into(),
        reason,
    };
    // Patterns are recompiled (regexes cannot be stored).
    s.patterns = (0..s.pattern_text.len() as u32)
        .map(|i| {
            CompiledPattern::compile(s.pattern_text.get(i)).map_err(|e| corrupt(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    s.validate().map_err(corrupt)?;
    if version < 2 {
        for t in [
            &mut s.domains,
            &mut s.ips,
            &mut s.urls,
            &mut s.hashes,
            &mut s.emails,
        ] {
            t.build_filter();
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::set::{IndicatorInput, IndicatorSetBuilder, IndicatorSource, Role, Scratch};
    use vigil_model::{Observable, ObservableKind, Tlp};

    fn sample() -> IndicatorSet {
        let mut b = IndicatorSetBuilder::new();
        let vals = [
            (ObservableKind::Domain, "evil.com"),
            (ObservableKind::Ipv4, "10.0.0.0/8"),
            (ObservableKind::Ipv4, "1.2.3.4"),
            (ObservableKind::Ipv6, "2001:db8::/32"),
            (ObservableKind::Url, "http://evil.com/x"),
            (ObservableKind::Sha256, &"ab".repeat(32)),
            (ObservableKind::Email, "a@evil.com"),
            (ObservableKind::UrlPath, "/x.apk"),
        ];
        for (i, (k, v)) in vals.iter().enumerate() {
            let mut inp = IndicatorInput::new(
                format!("indicator--00000000-0000-4000-8000-00000000000{i}"),
                IndicatorSource::Observable(Observable::new(*k, v).expect("valid")),
            );
            inp.malware = vec!["Emotet".into()];
            inp.tlp = Tlp::Amber;
            inp.score = 70.0;
            b.add(&inp).expect("adds");
        }
        b.add(&IndicatorInput::new(
            "odd-id",
            IndicatorSource::Pattern("[domain-name:value LIKE '%.x.org']".into()),
        ))
        .expect("adds");
        b.build().expect("builds")
    }

    fn bytes(s: &IndicatorSet) -> Vec<u8> {
        let mut v = Vec::new();
        write_to(s, &mut v).expect("writes");
        v
    }

    #[test]
    fn round_trip_keeps_lookups_and_metadata() {
        let s = sample();
        let b = bytes(&s);
        let l = read_from(&b[..], b.len() as u64, "mem").expect("loads");
        assert_eq!(bytes(&l), b);
        assert_eq!(l.meta(0), s.meta(0));
        assert_eq!(l.id(8), "odd-id");
        let mut out = Vec::new();
        l.lookup(Role::Ip, b"10.2.3.4", &mut Scratch::default(), &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        l.lookup(
            Role::Url,
            b"http://a.example/x.apk?v=1",
            &mut Scratch::default(),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(l.id(out[0].indicator), s.id(7));
        assert!(l.has_patterns());
    }

    #[test]
    fn version_1_loads_with_rebuilt_filters_and_version_2_stores_them() {
        let s = sample();
        let mut v1 = Vec::new();
        write_version(&s, &mut v1, 1).expect("writes");
        let mut v2 = Vec::new();
        write_version(&s, &mut v2, 2).expect("writes");
        assert!(v2.len() > v1.len());
        let a = read_from(&v1[..], v1.len() as u64, "v1").expect("v1 loads");
        let b = read_from(&v2[..], v2.len() as u64, "v2").expect("v2 loads");
        for (x, y, z) in [
            (&a.domains, &b.domains, &s.domains),
            (&a.ips, &b.ips, &s.ips),
            (&a.urls, &b.urls, &s.urls),
            (&a.hashes, &b.hashes, &s.hashes),
            (&a.emails, &b.emails, &s.emails),
        ] {
            assert!(!z.filter.is_empty());
            assert_eq!(x.filter, z.filter);
            assert_eq!(y.filter, z.filter);
        }
        // Versions 1 and 2 have no path table: their sets load with an empty one.
        assert_eq!(a.paths.len(), 0);
        assert_eq!(b.paths.len(), 0);
        assert_eq!(s.paths.len(), 1);
        // A version 1 file re-saved as version 2 is the version 2 file.
        let mut again = Vec::new();
        write_version(&a, &mut again, 2).expect("writes");
        assert_eq!(again, v2);
        let v3 = bytes(&s);
        let c = read_from(&v3[..], v3.len() as u64, "v3").expect("v3 loads");
        assert_eq!(c.paths, s.paths);
    }

    #[test]
    fn a_filter_of_the_wrong_size_is_corrupt() {
        let mut s = sample();
        s.domains.filter.push(0);
        let mut b = Vec::new();
        write_to(&s, &mut b).expect("writes");
        assert!(matches!(
            read_from(&b[..], b.len() as u64, "mem"),
            Err(SnapshotError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_used_slot_without_a_key_index_is_corrupt() {
        // Found by the snapshot_load fuzz target: a slot with a tag but index 0 made the look-up subtract below 0.
        let mut s = sample();
        let i = s
            .domains
            .slots
            .iter()
            .position(|&v| v == 0)
            .expect("a free slot");
        s.domains.slots[i] = 0x0100_0000;
        let b = bytes(&s);
        assert!(matches!(
            read_from(&b[..], b.len() as u64, "mem"),
            Err(SnapshotError::Corrupt { .. })
        ));
        // Unvalidated (a set built in memory): the look-up finds nothing instead of panicking.
        let mut out = Vec::new();
        s.lookup(Role::Domain, b"", &mut Scratch::default(), &mut out);
        s.lookup(
            Role::Domain,
            b"x.example",
            &mut Scratch::default(),
            &mut out,
        );
    }

    #[test]
    fn check_reads_the_summary_and_tells_damage_without_loading() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("intel.vgs");
        let set = sample();
        save(&set, &path).expect("saves");
        let b = std::fs::read(&path).expect("read");
        let s = check(&path).expect("checks");
        assert_eq!(s.bytes, b.len() as u64);
        assert_eq!(s.indicators, set.len());
        let n = b.len() - 12;
        assert_eq!(s.crc.to_le_bytes(), b[n..n + 4]);
        assert_eq!(stored_checksum(&path).expect("trailer"), (s.crc, s.bytes));
        let mut flipped = b.clone();
        flipped[n / 2] ^= 1;
        std::fs::write(&path, &flipped).expect("write");
        assert!(matches!(check(&path), Err(SnapshotError::Checksum { .. })));
        for cut in [0, 10, 25, n / 2, n, b.len() - 1] {
            std::fs::write(&path, &b[..cut]).expect("write");
            assert!(check(&path).is_err(), "cut at {cut}");
        }
        let mut longer = b.clone();
        longer.push(0);
        std::fs::write(&path, &longer).expect("write");
        assert!(check(&path).is_err());
    }

    /// Recomputes the checksum after an edit, as a crafted file (or a writer with a bug) would carry it.
    fn reseal(b: &mut [u8]) {
        let n = b.len() - 12;
        let crc = crc32fast::hash(&b[..n]);
        b[n..n + 4].copy_from_slice(&crc.to_le_bytes());
    }

    /// Every look-up and report a hunt makes of a loaded set, on values of every kind.
    fn exercise(s: &IndicatorSet) {
        let roles = [
            Role::Domain,
            Role::Ip,
            Role::SrcIp,
            Role::DstIp,
            Role::Url,
            Role::Hash,
            Role::Email,
            Role::Answer,
        ];
        let values: [&[u8]; 9] = [
            b"evil.com",
            b"a.b.evil.com",
            b"10.2.3.4",
            b"1.2.3.4",
            b"2001:db8::1",
            b"http://evil.com/x",
            b"http://a.example/x.apk?v=1",
            b"a@evil.com",
            b"abababababababababababababababababababababababababababababababab",
        ];
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        for role in roles {
            for v in values {
                out.clear();
                s.lookup(role, v, &mut scratch, &mut out);
                for m in &out {
                    let _ = s.indicator_value(m);
                    let _ = s.hit_type(m, role);
                    let _ = s.meta(m.indicator);
                    let _ = s.id(m.indicator);
                }
            }
        }
        for i in 0..s.len() as u32 {
            let _ = s.meta(i);
            let _ = s.id(i);
        }
        let _ = s.stats();
    }

    #[test]
    fn a_resealed_file_with_damaged_tables_is_refused_or_answers_every_lookup() {
        // The checksum catches damage in transit; a file whose checksum was recomputed after the damage (crafted,
        // or written by a faulty producer) must still be refused by the validation, or be safe to hunt with.
        let b = bytes(&sample());
        let step = (b.len() / 3000).max(1);
        let (mut refused, mut loaded) = (0, 0);
        for i in (20..b.len() - 12).step_by(step).chain(20..400) {
            for x in [0x01u8, 0x80, 0xff] {
                let mut c = b.clone();
                c[i] ^= x;
                reseal(&mut c);
                match read_from(&c[..], c.len() as u64, "mem") {
                    Ok(s) => {
                        loaded += 1;
                        exercise(&s);
                    }
                    Err(SnapshotError::Checksum { .. }) => {
                        panic!("resealed file failed its checksum")
                    }
                    Err(_) => refused += 1,
                }
            }
        }
        assert!(
            refused > 0 && loaded > 0,
            "{refused} refused, {loaded} loaded"
        );
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error() {
        let b = bytes(&sample());
        // Every section boundary region is covered: small steps at the start and end, coarse in between.
        let step = (b.len() / 400).max(1);
        for cut in (0..400)
            .chain((0..b.len()).step_by(step))
            .chain(b.len() - 400..b.len())
        {
            assert!(
                read_from(&b[..cut], cut as u64, "mem").is_err(),
                "cut at {cut}"
            );
        }
        for i in (0..b.len()).step_by(step) {
            let mut c = b.clone();
            c[i] ^= 0x5a;
            assert!(
                read_from(&c[..], c.len() as u64, "mem").is_err(),
                "flip at {i}"
            );
        }
        for bad in [0u8, 4, 9] {
            let mut v = b.clone();
            v[8] = bad;
            assert!(
                matches!(
                    read_from(&v[..], v.len() as u64, "mem"),
                    Err(SnapshotError::Version { found, .. }) if found == u32::from(bad)
                ),
                "version {bad}"
            );
        }
        assert!(matches!(
            read_from(&b"GARBAGE!and more"[..], 16, "mem"),
            Err(SnapshotError::NotASnapshot { .. })
        ));
    }
}
