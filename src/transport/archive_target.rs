//! Writing archives: [`ArchiveTarget`], the staged file an archive is written into and
//! renamed from (or a pipe written directly), and the entry helpers with fixed metadata, so
//! that the same image always gives the same archive bytes.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::tar_header::EntryHeader;
use crate::cleanup::{self, Tracked};
use crate::disk::Writing;

/// Where a finished archive is written: a temporary file beside the destination, renamed
/// into place on success. A destination that is not a regular file (`/dev/stdout`, a FIFO)
/// is written directly, since it cannot be renamed over.
pub enum ArchiveTarget {
    Staged {
        temp: Tracked<tempfile::NamedTempFile>,
        dest: PathBuf,
    },
    Direct {
        file: File,
        dest: PathBuf,
    },
}

impl ArchiveTarget {
    pub fn create(dest: &Path) -> Result<ArchiveTarget> {
        // /dev/stdout, /dev/fd/N, /proc/self/fd/N: write through, never rename over them,
        // even when they resolve to a regular file (`> out.tar`).
        if dest.starts_with("/dev") || dest.starts_with("/proc") {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(dest)
                .with_context(|| format!("opening {}", dest.display()))?;
            return Ok(ArchiveTarget::direct(f, dest));
        }
        if let Ok(m) = std::fs::metadata(dest) {
            if !m.is_file() && !m.is_dir() {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(dest)
                    .with_context(|| format!("opening {}", dest.display()))?;
                return Ok(ArchiveTarget::direct(f, dest));
            }
            if m.is_dir() {
                bail!("{} is a directory, not an archive file", dest.display());
            }
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = cleanup::temp_file_in(
            tempfile::Builder::new().prefix(".oci-copy-").suffix(".tmp"),
            &parent,
        )
        .with_context(|| format!("creating a temporary file in {}", parent.display()))?;
        Ok(ArchiveTarget::Staged {
            temp,
            dest: dest.to_path_buf(),
        })
    }

    /// Writes straight into `file` (a pipe, a device); `dest` names it in messages.
    pub fn direct(file: File, dest: &Path) -> ArchiveTarget {
        ArchiveTarget::Direct {
            file,
            dest: dest.to_path_buf(),
        }
    }

    /// The file being written: the temporary one, or the destination written directly.
    pub fn path(&self) -> &Path {
        match self {
            ArchiveTarget::Staged { temp, .. } => temp.path(),
            ArchiveTarget::Direct { dest, .. } => dest,
        }
    }

    /// Whether the archive is written under a temporary name and renamed into place.
    pub fn is_staged(&self) -> bool {
        matches!(self, ArchiveTarget::Staged { .. })
    }

    pub fn file(&mut self) -> &mut File {
        match self {
            ArchiveTarget::Staged { temp, .. } => temp.as_file_mut(),
            ArchiveTarget::Direct { file, .. } => file,
        }
    }

    /// Flushes and moves the archive into place.
    pub fn finish(self) -> Result<()> {
        match self {
            ArchiveTarget::Staged { temp, dest } => {
                let (temp, _registered) = temp.into_parts();
                // A filesystem that allocates late (XFS, NFS, a quota) can say it is full
                // only now.
                temp.as_file().sync_all().writing(temp.path())?;
                super::layout::set_readable(temp.as_file())?;
                temp.persist(&dest)
                    .with_context(|| format!("renaming the archive to {}", dest.display()))?;
                Ok(())
            }
            ArchiveTarget::Direct { mut file, dest } => {
                Ok(std::io::Write::flush(&mut file).writing(&dest)?)
            }
        }
    }
}

/// Where a finished docker-archive goes: a file (through [`ArchiveTarget::create`]), or a
/// sink that takes the archive as a stream (the Docker daemon's load).
pub enum Output {
    File(PathBuf),
    Sink(Box<dyn ArchiveSink>),
}

/// A reader of a whole archive, such as `POST /images/load`.
pub trait ArchiveSink: Send + Sync {
    /// Has `write` write the archive into the target it is given, and returns once the
    /// reader has taken it all and accepted it. `image` says what the archive holds, so that
    /// the sink can check what its reader made of it.
    fn deliver(
        self: Box<Self>,
        image: &ImageIds,
        write: &mut dyn FnMut(ArchiveTarget) -> Result<()>,
    ) -> Result<()>;
}

/// The digests of the image an archive holds: its config (the image ID under docker's
/// classic image store) and the OCI manifest written beside it (the ID under containerd's).
pub struct ImageIds {
    pub config: crate::digest::Digest,
    pub manifest: crate::digest::Digest,
}

impl Output {
    /// Writes the archive through `write` into its destination.
    pub fn deliver(
        self,
        image: &ImageIds,
        write: &mut dyn FnMut(ArchiveTarget) -> Result<()>,
    ) -> Result<()> {
        match self {
            Output::File(file) => write(ArchiveTarget::create(&file)?),
            Output::Sink(sink) => sink.deliver(image, write),
        }
    }
}

/// Appends a regular file to a tar being written, with fixed metadata so that the same
/// image always gives the same archive bytes (see [`EntryHeader`]).
pub fn append_file<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    EntryHeader::file(path, size)?
        .append(tar, data)
        .with_context(|| format!("writing {path} into the archive"))
}

/// Appends a directory entry, with fixed metadata.
pub fn append_dir<W: std::io::Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<()> {
    EntryHeader::dir(path)?
        .append(tar, io::empty())
        .with_context(|| format!("writing {path} into the archive"))
}
