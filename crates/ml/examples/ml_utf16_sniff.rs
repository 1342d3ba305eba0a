//! Study aid: how UTF-16 without a byte-order mark is told from other bytes (`vigil_model::encoding::detect_utf16`,
//! on the first `formats::input::UTF16_HEAD` bytes as the input layer judges them), and how the input layer reads
//! text in a legacy encoding (`vigil_model::encoding::Utf8OrLegacy`).
//!
//! `ml_utf16_sniff files DIR...`: every regular file under the folders, its first 4 KiB; prints those read as
//! UTF-16 without a mark (false positives, unless the file is UTF-16).
//! `ml_utf16_sniff chardet DIR`: a chardet-style test corpus (one folder per encoding, named as chardet names it);
//! each text decoded from its encoding, written as UTF-16LE and UTF-16BE without a mark, and judged on its first
//! 512 bytes; prints the texts not read as UTF-16 and the counts per encoding.
//! `ml_utf16_sniff legacy DIR`: the same corpus's texts as they are, read through `Utf8OrLegacy`: per encoding,
//! how many come out as their text exactly, how many as another text (another encoding guessed), how many pass
//! through undecoded, and how many are ASCII or UTF-8 already.
use std::io::Read;
use std::path::{Path, PathBuf};
use vigil_model::encoding::{detect_utf16, encode_utf16, Utf16Order, Utf8OrLegacy};

const HEAD: usize = 512;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&e.path(), out);
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
}

fn head(p: &Path, n: usize) -> std::io::Result<Vec<u8>> {
    let mut b = Vec::with_capacity(n);
    std::fs::File::open(p)?.take(n as u64).read_to_end(&mut b)?;
    Ok(b)
}

/// chardet's folder names that encoding_rs knows (by WHATWG label); the others (Johab, IBM855, ISO-2022-KR,
/// UTF-16 and UTF-32) are left out.
fn encoding_of(folder: &str) -> Option<&'static encoding_rs::Encoding> {
    // "iso-8859-2-czech", "windows-1251-russian": the encoding is the first two parts.
    let label = match folder {
        "CP932" | "SHIFT_JIS" => "shift_jis".to_string(),
        "CP949" | "EUC-KR" => "euc-kr".to_string(),
        "GB2312" => "gb18030".to_string(),
        "IBM866" => "ibm866".to_string(),
        "MacCyrillic" => "x-mac-cyrillic".to_string(),
        "TIS-620" => "windows-874".to_string(),
        f if f.starts_with("iso-8859-") => f.splitn(4, '-').take(3).collect::<Vec<_>>().join("-"),
        f => f.splitn(3, '-').take(2).collect::<Vec<_>>().join("-"),
    };
    if folder.starts_with("UTF-16") || folder.starts_with("UTF-32") {
        return None;
    }
    encoding_rs::Encoding::for_label(label.as_bytes())
}

type Folder = (String, &'static encoding_rs::Encoding, Vec<PathBuf>);

/// A chardet-style corpus's folders whose encoding encoding_rs knows, sorted, with their files, sorted.
fn chardet_folders(root: &Path) -> std::io::Result<Vec<Folder>> {
    let mut folders: Vec<_> = std::fs::read_dir(root)?
        .flatten()
        .map(|e| e.path())
        .collect();
    folders.sort();
    let mut out = Vec::new();
    for f in folders {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let Some(enc) = encoding_of(&name) else {
            continue;
        };
        let mut files = Vec::new();
        walk(&f, &mut files);
        files.sort();
        out.push((name, enc, files));
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut a = std::env::args().skip(1);
    let usage = "usage: ml_utf16_sniff files DIR... | chardet DIR | legacy DIR";
    match a.next().as_deref() {
        Some("files") => {
            let mut files = Vec::new();
            for d in a {
                walk(Path::new(&d), &mut files);
            }
            let mut hits = 0;
            for p in &files {
                let Ok(b) = head(p, 4096) else { continue };
                if b.starts_with(&[0xFF, 0xFE]) || b.starts_with(&[0xFE, 0xFF]) {
                    continue;
                }
                if let Some(o) = detect_utf16(&b[..b.len().min(HEAD)]) {
                    hits += 1;
                    println!("{}\t{}", o.name(), p.display());
                }
            }
            println!(
                "{} files, {hits} read as UTF-16 without a mark",
                files.len()
            );
        }
        Some("chardet") => {
            let (mut all, mut read) = (0, 0);
            for (name, enc, files) in chardet_folders(Path::new(&a.next().ok_or(usage)?))? {
                let (mut n, mut ok) = (0, 0);
                for p in files {
                    let raw = std::fs::read(&p)?;
                    let (text, _, bad) = enc.decode(&raw);
                    if bad {
                        continue;
                    }
                    for order in [Utf16Order::Little, Utf16Order::Big] {
                        let b = encode_utf16(&text, order, false);
                        n += 1;
                        if detect_utf16(&b[..b.len().min(HEAD)]) == Some(order) {
                            ok += 1;
                        } else {
                            println!("not read\t{}\t{}", order.name(), p.display());
                        }
                    }
                }
                println!("{name}\t{}\t{ok}/{n}", enc.name());
                all += n;
                read += ok;
            }
            println!("read as UTF-16 in their order: {read} of {all}");
        }
        Some("legacy") => {
            // exact, another text, passed through, ASCII or UTF-8 already
            let mut total = [0usize; 4];
            for (name, enc, files) in chardet_folders(Path::new(&a.next().ok_or(usage)?))? {
                if enc == encoding_rs::ISO_2022_JP {
                    continue;
                }
                let mut c = [0usize; 4];
                for p in files {
                    let raw = std::fs::read(&p)?;
                    let (text, bad) = enc.decode_without_bom_handling(&raw);
                    if bad {
                        continue;
                    }
                    let mut r = Utf8OrLegacy::new(&raw[..]);
                    let note = r.note();
                    let mut out = Vec::new();
                    r.read_to_end(&mut out)?;
                    let k = match note.get() {
                        _ if std::str::from_utf8(&raw).is_ok() => 3,
                        None => 2,
                        Some(_) if out == text.as_bytes() => 0,
                        Some(s) => {
                            println!("other\t{}\t{}", s.encoding.name(), p.display());
                            1
                        }
                    };
                    if k == 2 {
                        println!("passed\t{}", p.display());
                    }
                    c[k] += 1;
                }
                println!(
                    "{name}\t{}\texact {} other {} passed {} utf-8 {}",
                    enc.name(),
                    c[0],
                    c[1],
                    c[2],
                    c[3]
                );
                for (t, x) in total.iter_mut().zip(c) {
                    *t += x;
                }
            }
            println!(
                "read as their text: {} of {} not UTF-8 ({} as another text, {} passed through); {} ASCII or UTF-8",
                total[0],
                total[0] + total[1] + total[2],
                total[1],
                total[2],
                total[3]
            );
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
