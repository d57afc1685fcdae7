//! Write errors that name the file being written. A write that fails deep in a pipeline
//! (under a decoder, a tar builder, a positioned write into an archive) loses the name of
//! its file, and can even be taken for a fault of the input ("invalid gzip data"). Every
//! destination file oci-copy writes goes through [`Writing::writing`], which wraps the error
//! in a [`WriteError`]: "no space left on device writing /path" for ENOSPC, "disk quota
//! exceeded writing /path" for EDQUOT, "writing /path: ..." otherwise. The error keeps its
//! kind, so what branches on kinds (the retry classifier) sees the same error.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A write to `path` that failed.
#[derive(Debug)]
pub struct WriteError {
    path: PathBuf,
    error: io::Error,
}

impl WriteError {
    /// Whether the filesystem was full or the quota used up.
    pub fn is_out_of_space(&self) -> bool {
        out_of_space(&self.error).is_some()
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match out_of_space(&self.error) {
            Some(what) => write!(f, "{what} writing {}", self.path.display()),
            None => write!(f, "writing {}: {}", self.path.display(), self.error),
        }
    }
}

// No `source()`: the message says it all, and `{:#}` would repeat the OS error.
impl std::error::Error for WriteError {}

/// Whether `e` says the filesystem is full or the quota used up.
pub fn is_out_of_space(e: &io::Error) -> bool {
    out_of_space(e).is_some() || write_error(e).is_some_and(WriteError::is_out_of_space)
}

/// What an error says about space: ENOSPC or EDQUOT, by kind or by OS error number (a
/// wrapped error can carry the kind without the number).
fn out_of_space(e: &io::Error) -> Option<&'static str> {
    match (e.kind(), e.raw_os_error()) {
        (io::ErrorKind::StorageFull, _) | (_, Some(libc::ENOSPC)) => {
            Some("no space left on device")
        }
        (io::ErrorKind::QuotaExceeded, _) | (_, Some(libc::EDQUOT)) => Some("disk quota exceeded"),
        _ => None,
    }
}

/// Wraps `e` as a failed write to `path`, unless it names a file already.
pub fn writing(e: io::Error, path: &Path) -> io::Error {
    if is_write_error(&e) {
        return e;
    }
    let kind = e.kind();
    io::Error::new(
        kind,
        WriteError {
            path: path.to_path_buf(),
            error: e,
        },
    )
}

/// The [`WriteError`] inside `e`, if it is one.
pub fn write_error(e: &io::Error) -> Option<&WriteError> {
    e.get_ref()?.downcast_ref::<WriteError>()
}

/// Whether `e` is a failed write (to a destination, not a fault of the input).
pub fn is_write_error(e: &io::Error) -> bool {
    write_error(e).is_some()
}

/// `.writing(path)` on the result of a write.
pub trait Writing<T> {
    fn writing(self, path: &Path) -> io::Result<T>;
}

impl<T> Writing<T> for io::Result<T> {
    fn writing(self, path: &Path) -> io::Result<T> {
        self.map_err(|e| writing(e, path))
    }
}

/// A writer whose errors name `path`.
pub struct PathWriter<W> {
    inner: W,
    path: PathBuf,
}

impl<W: Write> PathWriter<W> {
    pub fn new(inner: W, path: &Path) -> PathWriter<W> {
        PathWriter {
            inner,
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The writer underneath, for writes that bypass this one (and name the path
    /// themselves).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for PathWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).writing(&self.path)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().writing(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_said_so_with_the_path() {
        let p = Path::new("/srv/out.tar");
        let e = writing(io::Error::from_raw_os_error(libc::ENOSPC), p);
        assert_eq!(
            e.to_string(),
            "no space left on device writing /srv/out.tar"
        );
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        let e = writing(io::Error::from_raw_os_error(libc::EDQUOT), p);
        assert_eq!(e.to_string(), "disk quota exceeded writing /srv/out.tar");
        let e = writing(io::Error::from_raw_os_error(libc::EIO), p);
        assert!(e.to_string().starts_with("writing /srv/out.tar: "), "{e}");
        assert!(!is_out_of_space(&e));
    }

    #[test]
    fn the_innermost_path_is_kept() {
        let inner = writing(io::Error::from(io::ErrorKind::StorageFull), Path::new("/a"));
        let outer = writing(inner, Path::new("/b"));
        assert_eq!(outer.to_string(), "no space left on device writing /a");
        assert!(is_out_of_space(&outer));
        let e = anyhow::Error::new(outer).context("copying");
        assert_eq!(
            format!("{e:#}"),
            "copying: no space left on device writing /a"
        );
    }

    #[test]
    fn writing_to_dev_full_is_a_full_disk() {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let mut w = PathWriter::new(f, Path::new("/dev/full"));
        let e = w.write_all(b"x").unwrap_err();
        assert_eq!(e.to_string(), "no space left on device writing /dev/full");
    }
}
