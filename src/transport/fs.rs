//! A read-only file tree that the layout and archive readers share: a directory on disk
//! ([`DirTree`]) or the entries of a tar file ([`crate::transport::tarball::TarTree`]).
//! Every path that comes from a document is checked by [`safe_path`] before it is used.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A tree of files addressed by relative, `/`-separated paths.
pub trait FileTree: Send + Sync {
    /// Opens a file. Errors name the path and say whether it is missing.
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>>;
    /// The size of a file, or `None` when there is no such file.
    fn size(&self, path: &str) -> Result<Option<u64>>;
}

/// Reads a whole small file, refusing one larger than `limit` bytes.
pub fn read_small(tree: &dyn FileTree, path: &str, limit: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    tree.open(path)?
        .take(limit + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("reading {path}"))?;
    if buf.len() as u64 > limit {
        bail!("{path} is larger than the {} MiB limit", limit >> 20);
    }
    Ok(buf)
}

/// Reads into `buf` until it is full or the reader ends; returns how much was read (the
/// magic bytes of a file shorter than `buf`).
pub fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Normalises a relative path from an untrusted document: strips `./`, refuses absolute
/// paths, `..` components, empty paths and NUL bytes.
pub fn safe_path(path: &str) -> Result<String> {
    if path.starts_with('/') || path.contains('\0') || path.contains('\\') {
        bail!("unsafe path {path:?}: paths must be relative, without '\\' or NUL");
    }
    let mut parts = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => bail!("unsafe path {path:?}: '..' is not allowed"),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        bail!("empty path {path:?}");
    }
    Ok(parts.join("/"))
}

/// A shared tree is a tree, so one opened archive can back several owned sources.
impl<T: FileTree + ?Sized> FileTree for std::sync::Arc<T> {
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>> {
        (**self).open(path)
    }
    fn size(&self, path: &str) -> Result<Option<u64>> {
        (**self).size(path)
    }
}

/// A borrowed tree is a tree, so one opened archive can back several sources.
impl<T: FileTree + ?Sized> FileTree for &T {
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>> {
        (**self).open(path)
    }
    fn size(&self, path: &str) -> Result<Option<u64>> {
        (**self).size(path)
    }
}

/// A directory on disk.
#[derive(Clone)]
pub struct DirTree {
    root: PathBuf,
}

impl DirTree {
    pub fn new(root: &Path) -> DirTree {
        DirTree {
            root: root.to_path_buf(),
        }
    }
}

impl FileTree for DirTree {
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>> {
        let full = self.root.join(safe_path(path)?);
        match File::open(&full) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => bail!("{path} is missing"),
            Err(e) => Err(e).with_context(|| format!("opening {}", full.display())),
        }
    }

    fn size(&self, path: &str) -> Result<Option<u64>> {
        let full = self.root.join(safe_path(path)?);
        match std::fs::metadata(&full) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => bail!("{path} is not a regular file"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", full.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths() {
        assert_eq!(safe_path("./blobs/sha256/ab").unwrap(), "blobs/sha256/ab");
        assert_eq!(safe_path("a//b/").unwrap(), "a/b");
        for bad in ["../x", "a/../../x", "/etc/passwd", "", ".", "a\\b"] {
            assert!(safe_path(bad).is_err(), "{bad} must be refused");
        }
    }
}
