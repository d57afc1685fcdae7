//! Reading archives. [`TarTree`] indexes a tar file once and then reads entries in place by
//! offset, so an archive is never unpacked to disk. A compressed archive is first
//! decompressed to a temporary file (`packing.rs`), since a compressed stream cannot seek.
//! Entries with unsafe names, sparse entries, links that escape the archive and paths held
//! twice with different contents are refused. Writing is in `archive_target.rs`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use tar::EntryType;

use super::fs::{read_up_to, safe_path, FileTree};
use super::packing::{decompress_to_temp, Packing};
use crate::cleanup::Tracked;

#[derive(Debug, Clone)]
enum Entry {
    File {
        offset: u64,
        size: u64,
    },
    /// A symbolic or hard link, resolved to the archive path it points at.
    Link(String),
    Dir,
}

/// The index of a tar archive's entries, read in place.
pub struct TarTree {
    file: File,
    entries: HashMap<String, Entry>,
    /// Keeps the decompressed copy of a gzip archive alive while it is read.
    _spool: Option<Tracked<tempfile::NamedTempFile>>,
}

impl TarTree {
    /// Opens and indexes `path`. Fails on a file that is not a tar, a truncated tar, and
    /// entries that are unsafe.
    pub fn open(path: &Path) -> Result<TarTree> {
        let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut magic = [0u8; 6];
        let n = read_up_to(&mut file, &mut magic)?;
        file.seek(SeekFrom::Start(0))?;
        let spool = match Packing::sniff(&magic[..n]) {
            Packing::Plain => None,
            packing => {
                let spool = decompress_to_temp(&file, packing).with_context(|| {
                    format!("decompressing {} ({})", path.display(), packing.name())
                })?;
                file = spool.reopen()?;
                Some(spool)
            }
        };
        let entries = index_entries(&file)?;
        Ok(TarTree {
            file,
            entries,
            _spool: spool,
        })
    }

    fn resolve(&self, path: &str) -> Result<(u64, u64)> {
        let mut p = safe_path(path)?;
        for _ in 0..16 {
            match self.entries.get(&p) {
                None => bail!("{path} is missing from the archive"),
                Some(Entry::File { offset, size }) => return Ok((*offset, *size)),
                Some(Entry::Dir) => bail!("{path} is a directory, not a file"),
                Some(Entry::Link(target)) => p = target.clone(),
            }
        }
        bail!("{path}: too many levels of links")
    }

    /// All regular-file and link paths in the archive.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

impl FileTree for TarTree {
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>> {
        let (offset, size) = self.resolve(path)?;
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            EntryReader {
                file: &self.file,
                offset,
                remaining: size,
            },
        )))
    }

    fn size(&self, path: &str) -> Result<Option<u64>> {
        match self.resolve(path) {
            Ok((_, size)) => Ok(Some(size)),
            Err(_) if !self.entries.contains_key(&safe_path(path)?) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Reads one entry's bytes with positioned reads, so several entries can be read at once.
struct EntryReader<'a> {
    file: &'a File,
    offset: u64,
    remaining: u64,
}

impl Read for EntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside an entry (truncated)",
            ));
        }
        self.offset += n as u64;
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn index_entries(file: &File) -> Result<HashMap<String, Entry>> {
    let len = file.metadata()?.len();
    if len < 512 {
        bail!("not a tar archive: only {len} bytes");
    }
    let mut archive = tar::Archive::new(BufReader::new(file));
    let mut entries = HashMap::new();
    // Which entry (counted from 1) first held each path, for messages about duplicates.
    let mut numbers = HashMap::new();
    let mut seen = 0usize;
    // Seeks past each entry's data instead of reading it: indexing a 700 MB archive reads
    // only its headers.
    let iter = archive.entries_with_seek().map_err(|e| not_a_tar(e, 0))?;
    for entry in iter {
        let mut entry = entry.map_err(|e| not_a_tar(e, seen))?;
        let Some((path, kind)) = classify(&mut entry, len, seen)? else {
            continue;
        };
        seen += 1;
        match entries.get(&path) {
            None => {
                entries.insert(path.clone(), kind);
                numbers.insert(path, seen);
            }
            Some(first) => same_or_refuse(file, &path, first, &kind, (numbers[&path], seen))?,
        }
    }
    if entries.is_empty() {
        bail!("not a tar archive, or an empty one");
    }
    Ok(entries)
}

/// The safe path and kind of one entry of an archive of `len` bytes, after `seen` good
/// entries; `None` for what is no entry of its own (the `./` root, PAX extension headers).
fn classify<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    len: u64,
    seen: usize,
) -> Result<Option<(String, Entry)>> {
    let raw = entry
        .path()
        .map_err(|e| not_a_tar(e, seen))?
        .to_string_lossy()
        .into_owned();
    let kind = entry.header().entry_type();
    if (is_root(&raw) && kind == EntryType::Directory)
        || matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader)
    {
        // `tar -C dir -cf x.tar .` starts with `./`: the archive's own root.
        return Ok(None);
    }
    let path = safe_path(&raw).with_context(|| format!("archive entry {raw:?}"))?;
    if has_pax_sparse_map(entry)? {
        // GNU sparse formats 0.x/1.0 hide a sparse map in a regular entry's data:
        // reading it in place would return the map, not the file.
        bail!("archive entry {path} is a sparse file (PAX GNU.sparse headers), which is not supported");
    }
    let entry_kind = match kind {
        EntryType::Regular | EntryType::Continuous => {
            let (offset, size) = (entry.raw_file_position(), entry.size());
            if offset + size > len {
                bail!("the archive is truncated: entry {path} needs {} bytes past the end of the file", offset + size - len);
            }
            Entry::File { offset, size }
        }
        EntryType::Directory => Entry::Dir,
        EntryType::Symlink => Entry::Link(link_target(&path, entry, true)?),
        EntryType::Link => Entry::Link(link_target(&path, entry, false)?),
        EntryType::GNUSparse => {
            bail!("archive entry {path} is a sparse file, which is not supported")
        }
        other => bail!("archive entry {path} has unsupported type {other:?}"),
    };
    Ok(Some((path, entry_kind)))
}

/// A path the archive holds a second time. Readers disagree on which copy counts (Go's
/// readers, and so skopeo and docker, take the first; others the last), so the archive
/// would mean two things: refused unless both copies are the same.
fn same_or_refuse(
    file: &File,
    path: &str,
    first: &Entry,
    again: &Entry,
    n: (usize, usize),
) -> Result<()> {
    let same = match (first, again) {
        (Entry::Dir, Entry::Dir) => true,
        (Entry::Link(a), Entry::Link(b)) => a == b,
        (Entry::File { offset: a, size: n }, Entry::File { offset: b, size: m }) => {
            n == m && same_bytes(file, *a, *b, *n)?
        }
        _ => false,
    };
    if !same {
        bail!(
            "the archive holds {path} more than once, with different contents (entries {} and {}): \
             tools would disagree on which one counts",
            n.0,
            n.1
        );
    }
    Ok(())
}

/// Whether the `len` bytes at offsets `a` and `b` of `file` are equal.
fn same_bytes(file: &File, a: u64, b: u64, len: u64) -> Result<bool> {
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut done = 0;
    while done < len {
        let k = (len - done).min(x.len() as u64) as usize;
        file.read_exact_at(&mut x[..k], a + done)?;
        file.read_exact_at(&mut y[..k], b + done)?;
        if x[..k] != y[..k] {
            return Ok(false);
        }
        done += k as u64;
    }
    Ok(true)
}

/// Whether an entry name is the archive's root (`.`, `./`).
fn is_root(raw: &str) -> bool {
    raw.split('/').all(|c| c.is_empty() || c == ".")
}

/// Whether the entry's PAX headers describe a GNU sparse file.
fn has_pax_sparse_map<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<bool> {
    let Some(exts) = entry.pax_extensions().map_err(|e| not_a_tar(e, 1))? else {
        return Ok(false);
    };
    for ext in exts {
        if ext
            .map_err(|e| not_a_tar(e, 1))?
            .key_bytes()
            .starts_with(b"GNU.sparse.")
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The error for a header the tar reader could not parse, after `entries` good entries.
/// The reader's own message quotes header bytes and field names, which mean nothing to
/// the user: say what the file is instead.
fn not_a_tar(e: io::Error, entries: usize) -> anyhow::Error {
    match (entries, e.kind()) {
        (_, io::ErrorKind::UnexpectedEof) => {
            anyhow::anyhow!(
                "the archive is truncated: it ends inside a tar header after {entries} entries"
            )
        }
        (0, _) => anyhow::anyhow!("not a tar archive (its start is not a tar header)"),
        _ => {
            anyhow::anyhow!("not a valid tar archive: the header after entry {entries} is corrupt")
        }
    }
}

/// Resolves a link target to an archive path. Symlink targets are relative to the link's
/// directory; hard-link targets are archive paths. Targets outside the archive are refused.
fn link_target<R: Read>(path: &str, entry: &tar::Entry<'_, R>, symbolic: bool) -> Result<String> {
    let target = entry
        .link_name()
        .map_err(|e| not_a_tar(e, 1))?
        .ok_or_else(|| anyhow::anyhow!("archive entry {path} is a link without a target"))?;
    let target = target.to_string_lossy();
    let joined = if symbolic {
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        normalise_join(dir, &target)
    } else {
        Some(target.to_string())
    };
    match joined.map(|j| safe_path(&j)) {
        Some(Ok(p)) => Ok(p),
        _ => bail!("archive entry {path} links to {target:?}, outside the archive"),
    }
}

/// Joins a relative link target onto a directory, resolving `..` without leaving the root.
fn normalise_join(dir: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    for comp in target.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::archive_target::append_file;

    #[test]
    fn link_targets_stay_inside() {
        assert_eq!(
            normalise_join("a/b", "../c/layer.tar").as_deref(),
            Some("a/c/layer.tar")
        );
        assert_eq!(normalise_join("a", "../../etc/passwd"), None);
        assert_eq!(normalise_join("a", "/etc/passwd"), None);
    }

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, d) in entries {
            append_file(&mut b, p, d.len() as u64, *d).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn reads_entries_in_place_and_refuses_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.tar");
        let bytes = tar_of(&[("x/one", b"hello"), ("two", &[7u8; 3000])]);
        std::fs::write(&p, &bytes).unwrap();
        let t = TarTree::open(&p).unwrap();
        let mut s = String::new();
        t.open("./x/one").unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        assert_eq!(t.size("two").unwrap(), Some(3000));
        assert_eq!(t.size("three").unwrap(), None);
        std::fs::write(&p, &bytes[..1536]).unwrap();
        let err = TarTree::open(&p).err().expect("truncated tar must fail");
        assert!(format!("{err:#}").contains("truncated"), "{err:#}");
    }

    #[test]
    fn reads_long_names_in_pax_and_gnu_form() {
        let pax_name = format!("blobs/sha512/{}", "a".repeat(128));
        let gnu_name = format!("blobs/sha512/{}", "b".repeat(128));
        let mut b = tar::Builder::new(Vec::new());
        append_file(&mut b, &pax_name, 3, &b"pax"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        b.append_data(&mut h, &gnu_name, &b"gnu"[..]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.tar");
        std::fs::write(&p, b.into_inner().unwrap()).unwrap();
        let t = TarTree::open(&p).unwrap();
        for (name, want) in [(&pax_name, "pax"), (&gnu_name, "gnu")] {
            let mut s = String::new();
            t.open(name).unwrap().read_to_string(&mut s).unwrap();
            assert_eq!(s, want, "{name}");
        }
        assert_eq!(
            t.paths().count(),
            2,
            "the extension headers are not entries"
        );
    }

    #[test]
    fn refuses_non_tar() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.tar");
        std::fs::write(&p, vec![b'x'; 4096]).unwrap();
        let err = TarTree::open(&p).err().expect("must fail");
        assert!(format!("{err:#}").contains("not a"), "{err:#}");
    }
}
