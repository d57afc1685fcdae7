//! The headers of the entries oci-copy writes into archives. Metadata is fixed (mode, owner
//! 0, mtime 0) so that the same image always gives the same bytes. A name that does not fit
//! the ustar fields (100 bytes, or a 155-byte prefix and a 100-byte name split at a `/`)
//! gets a PAX extended header in front carrying the whole name, as Go's `archive/tar` (and
//! so `docker save`) writes it: a sha512 blob is `blobs/sha512/` and 128 hex digits.

use std::io::{self, Read, Write};

use anyhow::{Context, Result};
use tar::{EntryType, Header};

/// The name of the PAX extended header entry, as Python's `tarfile` writes it; readers
/// take the name from the PAX `path` record, so this one is never extracted.
const PAX_ENTRY_NAME: &[u8] = b"././@PaxHeader";

/// The header blocks in front of one entry's data: the ustar header, preceded by a PAX
/// extended header (its own header and data) when the name needs one.
pub struct EntryHeader {
    pax: Option<(Header, Vec<u8>)>,
    main: Header,
}

impl EntryHeader {
    /// A regular file of `size` bytes named `path`.
    pub fn file(path: &str, size: u64) -> Result<EntryHeader> {
        EntryHeader::build(path, EntryType::Regular, 0o644, size)
    }

    /// A directory named `path` (ending in `/`).
    pub fn dir(path: &str) -> Result<EntryHeader> {
        EntryHeader::build(path, EntryType::Directory, 0o755, 0)
    }

    fn build(path: &str, kind: EntryType, mode: u32, size: u64) -> Result<EntryHeader> {
        let mut main = fixed_header(kind, mode, size);
        let pax = match main.set_path(path) {
            Ok(()) => None,
            Err(_) => {
                set_truncated_name(&mut main, path)
                    .with_context(|| format!("archive entry name {path}"))?;
                let data = pax_record("path", path);
                let mut h = fixed_header(EntryType::XHeader, 0o644, data.len() as u64);
                h.as_old_mut().name[..PAX_ENTRY_NAME.len()].copy_from_slice(PAX_ENTRY_NAME);
                h.set_cksum();
                Some((h, data))
            }
        };
        main.set_cksum();
        Ok(EntryHeader { pax, main })
    }

    /// How many bytes the header blocks take in the archive.
    pub fn encoded_len(&self) -> u64 {
        let pax = self
            .pax
            .as_ref()
            .map_or(0, |(_, data)| 512 + padded(data.len() as u64));
        pax + 512
    }

    /// The header blocks as they go into the archive, data padding included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len() as usize);
        if let Some((h, data)) = &self.pax {
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            out.resize(512 + padded(data.len() as u64) as usize, 0);
        }
        out.extend_from_slice(self.main.as_bytes());
        out
    }

    /// Appends the entry, header blocks then `data`, to a tar being built.
    pub fn append<W: Write>(&self, tar: &mut tar::Builder<W>, data: impl Read) -> io::Result<()> {
        if let Some((h, pax)) = &self.pax {
            tar.append(h, pax.as_slice())?;
        }
        tar.append(&self.main, data)
    }
}

/// How many bytes the header blocks of a file named `path` take: what an archive written
/// in place must leave in front of the entry's data.
pub fn file_header_len(path: &str) -> u64 {
    EntryHeader::file(path, 0).map_or(512, |h| h.encoded_len())
}

fn fixed_header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Fills the ustar name field with as much of `path` as fits, for readers that ignore PAX
/// headers; `path` must not hold a NUL.
fn set_truncated_name(h: &mut Header, path: &str) -> Result<()> {
    if path.contains('\0') {
        anyhow::bail!("a name cannot hold a NUL byte");
    }
    let name = &mut h.as_old_mut().name;
    let n = path.len().min(name.len());
    name[..n].copy_from_slice(&path.as_bytes()[..n]);
    Ok(())
}

/// One PAX record, `LEN KEY=VALUE\n`, where LEN counts the whole record, its own digits
/// included.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let rest = 1 + key.len() + 1 + value.len() + 1;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
}

fn padded(n: u64) -> u64 {
    n.div_ceil(512) * 512
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Algorithm, Digest};

    fn read_back(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (name, data)
            })
            .collect()
    }

    #[test]
    fn pax_records_count_their_own_length() {
        assert_eq!(pax_record("path", "a"), b"9 path=a\n");
        // 97 bytes and two digits make 99; one more byte would make 100, which has three
        // digits, so the record is 101 bytes long.
        let r = pax_record("path", &"x".repeat(90));
        assert_eq!(r.len(), 99);
        assert!(r.starts_with(b"99 path="));
        let r = pax_record("path", &"x".repeat(91));
        assert_eq!(r.len(), 101);
        assert!(r.starts_with(b"101 path="));
    }

    #[test]
    fn short_names_take_one_block_and_long_ones_a_pax_header() {
        let short = Digest::of(Algorithm::Sha256, b"x").blob_path();
        let long = Digest::of(Algorithm::Sha512, b"x").blob_path();
        assert_eq!(long.len(), 141);
        let h = EntryHeader::file(&short, 3).unwrap();
        assert_eq!((h.encoded_len(), h.to_bytes().len()), (512, 512));
        let h = EntryHeader::file(&long, 3).unwrap();
        assert_eq!((h.encoded_len(), h.to_bytes().len()), (1536, 1536));
        assert_eq!(file_header_len(&long), 1536);
        let mut bytes = h.to_bytes();
        bytes.extend_from_slice(b"abc");
        bytes.resize(bytes.len() + 509 + 1024, 0);
        assert_eq!(read_back(&bytes), [(long, b"abc".to_vec())]);
    }

    #[test]
    fn every_blob_name_has_a_header() {
        // A blob name that no header could hold would fail only once its bytes had been
        // copied: make sure none does.
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let path = Digest::of(alg, b"").blob_path();
            assert!(EntryHeader::file(&path, 1 << 40).is_ok(), "{path}");
            let dir = format!("blobs/{}/", alg.name());
            assert_eq!(EntryHeader::dir(&dir).unwrap().encoded_len(), 512);
        }
    }

    #[test]
    fn the_builder_path_writes_the_same_entries() {
        let long = Digest::of(Algorithm::Sha512, b"y").blob_path();
        let mut b = tar::Builder::new(Vec::new());
        EntryHeader::dir("blobs/sha512/")
            .unwrap()
            .append(&mut b, io::empty())
            .unwrap();
        EntryHeader::file(&long, 2)
            .unwrap()
            .append(&mut b, &b"hi"[..])
            .unwrap();
        let bytes = b.into_inner().unwrap();
        let got = read_back(&bytes);
        assert_eq!(got[0].0, "blobs/sha512/");
        assert_eq!(got[1], (long, b"hi".to_vec()));
    }
}
