//! Reading archives. [`TarTree`] indexes a tar file once and then reads entries in place by
//! offset, so an archive is never unpacked to disk. A compressed archive is first
//! decompressed to a temporary file (`packing.rs`), since a compressed stream cannot seek.
//! Indexing, which refuses unsafe entries, is in `tar_index.rs`; writing is in
//! `archive_target.rs`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::fs::{read_up_to, safe_path, FileTree};
use super::packing::{decompress_to_temp, Packing};
use super::tar_index::{index_entries, Entry};
use crate::cleanup::Tracked;

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

    /// Indexes a plain (uncompressed) tar already open, such as a spooled download.
    pub fn from_plain_file(mut file: File) -> Result<TarTree> {
        file.seek(SeekFrom::Start(0))?;
        let entries = index_entries(&file)?;
        Ok(TarTree {
            file,
            entries,
            _spool: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::archive_target::append_file;

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
