//! An archive written entry by entry, straight into its staged file: a blob's bytes go into
//! the tar as they are produced, behind a placeholder header that is filled in (name, size,
//! checksum) when the blob is committed. Staging blobs in a directory and then copying them
//! into the tar wrote every byte twice; here each is written once, and the kernel is asked
//! to start writing it back to disk as it goes, so that the final sync has little left.
//!
//! One entry is open at a time (a second `begin` waits for the first to end); the archive
//! holds entries in the order they were committed, so a caller that copies blobs one after
//! another in a fixed order gets the same bytes every time. An entry dropped without commit
//! is cut off the end of the file. The file is only renamed into place by [`TarStream::finish`].

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use anyhow::{bail, Context, Result};

use super::archive_target::ArchiveTarget;
use super::tar_header::{file_header_len, EntryHeader};
use super::BlobWriter;
use crate::disk::Writing;
use crate::manifest::Descriptor;

/// How much is written before the kernel is asked to start writing it back.
const WRITEBACK_EVERY: u64 = 32 << 20;

pub struct TarStream {
    state: Mutex<State>,
    turn: Condvar,
    /// The staged file, for errors: "no space left on device writing PATH".
    path: PathBuf,
}

struct State {
    target: Option<ArchiveTarget>,
    /// A handle on the staged file for positioned writes.
    file: File,
    /// Where the next entry starts: the end of the committed entries.
    end: u64,
    /// An entry is being written.
    busy: bool,
    /// Paths of the committed entries.
    names: HashSet<String>,
}

impl TarStream {
    /// Starts an archive for `dest`, or `None` when `dest` is not a regular file that can
    /// be staged and renamed (a pipe, `/dev/stdout`).
    pub fn create(dest: &Path) -> Result<Option<TarStream>> {
        let mut target = ArchiveTarget::create(dest)?;
        if !target.is_staged() {
            return Ok(None);
        }
        let file = target.file().try_clone()?;
        let path = target.path().to_path_buf();
        let stream = TarStream {
            state: Mutex::new(State {
                target: Some(target),
                file,
                end: 0,
                busy: false,
                names: HashSet::new(),
            }),
            turn: Condvar::new(),
            path,
        };
        stream.dir("blobs/")?;
        stream.dir("blobs/sha256/")?;
        Ok(Some(stream))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an entry named `path` was committed.
    pub fn contains(&self, path: &str) -> bool {
        self.lock().names.contains(path)
    }

    /// Appends a directory entry, once.
    fn dir(&self, path: &str) -> Result<()> {
        let mut s = self.lock();
        if !s.names.contains(path) {
            let h = EntryHeader::dir(path)?;
            let end = s.end;
            s.file
                .write_all_at(&h.to_bytes(), end)
                .writing(&self.path)?;
            s.end += h.encoded_len();
            s.names.insert(path.to_string());
        }
        Ok(())
    }

    /// Appends a small file entry whole (metadata such as `index.json`).
    pub fn put(&self, path: &str, bytes: &[u8]) -> Result<()> {
        let mut w = self.begin(Some(path))?;
        w.write_all(bytes)?;
        w.finish(path)
    }

    /// Opens the next entry; waits while another one is open. `name`, when the caller
    /// knows it, sets how much room the placeholder header leaves (a long name needs a PAX
    /// header in front); else it leaves one block, and an entry whose name turns out to need
    /// more is moved along when it is committed.
    pub fn begin(&self, name: Option<&str>) -> Result<EntryWriter<'_>> {
        let mut s = self.lock();
        while s.busy {
            s = self.turn.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.target.is_none() {
            bail!("the archive is already finished");
        }
        let file = s.file.try_clone()?;
        s.busy = true;
        let start = s.end;
        drop(s);
        let header = name.map_or(512, file_header_len);
        // From here a failure drops the writer, which frees the archive for the next entry.
        let w = EntryWriter {
            stream: self,
            file,
            start,
            header,
            pos: start + header,
            kicked: start,
            done: false,
        };
        // The placeholder header: zeros, until the entry is committed.
        w.file
            .write_all_at(&vec![0u8; header as usize], start)
            .writing(&self.path)?;
        Ok(w)
    }

    /// Writes the end-of-archive blocks, syncs the file and renames it into place.
    pub fn finish(&self) -> Result<()> {
        let mut s = self.lock();
        if s.busy {
            bail!("an archive entry is still open");
        }
        let end = s.end;
        s.file.write_all_at(&[0u8; 1024], end).writing(&self.path)?;
        s.file.set_len(end + 1024).writing(&self.path)?;
        let target = s.target.take().context("the archive is already finished")?;
        target.finish()
    }
}

/// The bytes of one entry being written. Dropping it without [`EntryWriter::finish`] cuts
/// it off the archive.
pub struct EntryWriter<'a> {
    stream: &'a TarStream,
    file: File,
    start: u64,
    /// The room left for the header blocks, in front of the data.
    header: u64,
    pos: u64,
    /// Up to where writeback was started.
    kicked: u64,
    done: bool,
}

impl EntryWriter<'_> {
    /// Fills in the header as `path`, pads the entry to a block and ends it.
    pub fn finish(mut self, path: &str) -> Result<()> {
        let size = self.pos - self.start - self.header;
        let header = EntryHeader::file(path, size)?;
        if header.encoded_len() != self.header {
            // The name needs other room than the placeholder left: move the data.
            let data = self.start + self.header;
            let to = self.start + header.encoded_len();
            move_within(&self.file, data, to, size).writing(&self.stream.path)?;
            self.pos = to + size;
        }
        let pad = (512 - size % 512) % 512;
        (|| {
            self.file.write_all_at(&header.to_bytes(), self.start)?;
            self.file
                .write_all_at(&[0u8; 512][..pad as usize], self.pos)
        })()
        .writing(&self.stream.path)?;
        let mut s = self.stream.lock();
        s.end = self.pos + pad;
        s.names.insert(path.to_string());
        s.busy = false;
        drop(s);
        self.done = true;
        self.stream.turn.notify_one();
        Ok(())
    }
}

impl Write for EntryWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file
            .write_all_at(buf, self.pos)
            .writing(&self.stream.path)?;
        self.pos += buf.len() as u64;
        if self.pos - self.kicked >= WRITEBACK_EVERY {
            start_writeback(&self.file, self.kicked, self.pos);
            self.kicked = self.pos;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EntryWriter<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut s = self.stream.lock();
        let end = s.end;
        // Best effort: the next entry overwrites this one anyway, and a failed copy
        // removes the whole staged file.
        let _ = s.file.set_len(end);
        s.busy = false;
        drop(s);
        self.stream.turn.notify_one();
    }
}

/// Moves `len` bytes at `from` to `to` within `file`; the two ranges may overlap.
fn move_within(file: &File, from: u64, to: u64, len: u64) -> io::Result<()> {
    let mut buf = vec![0u8; len.min(1 << 20) as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(buf.len() as u64);
        // Moving forward, copy from the end, so that no byte is overwritten before it is
        // read; moving back, from the start.
        let off = if to > from { len - done - n } else { done };
        let chunk = &mut buf[..n as usize];
        file.read_exact_at(chunk, from + off)?;
        file.write_all_at(chunk, to + off)?;
        done += n;
    }
    Ok(())
}

/// Asks the kernel to start writing `from..to` of `file` back to disk, without waiting.
/// Best effort: the final sync is what makes the archive durable. (Linux only; elsewhere
/// the final sync does all of it.)
#[cfg(target_os = "linux")]
pub fn start_writeback(file: &File, from: u64, to: u64) {
    use std::os::fd::AsRawFd;
    if to <= from {
        return;
    }
    // SAFETY: sync_file_range only reads its integer arguments; the descriptor is open.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            from as libc::off64_t,
            (to - from) as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
pub fn start_writeback(_file: &File, _from: u64, _to: u64) {}

/// A blob written into a [`TarStream`] under `blobs/ALG/HEX`.
pub struct StreamBlobWriter<'a> {
    entry: EntryWriter<'a>,
    stream: &'a TarStream,
}

impl<'a> StreamBlobWriter<'a> {
    /// Starts a blob; `expected`, when the caller knows it, names it in advance.
    pub fn begin(
        stream: &'a TarStream,
        expected: Option<&Descriptor>,
    ) -> Result<StreamBlobWriter<'a>> {
        let name = expected.map(|d| d.digest.blob_path());
        Ok(StreamBlobWriter {
            entry: stream.begin(name.as_deref())?,
            stream,
        })
    }
}

impl Write for StreamBlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.entry.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for StreamBlobWriter<'_> {
    fn commit(self: Box<Self>, desc: &Descriptor) -> Result<()> {
        let path = desc.digest.blob_path();
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        let this = *self;
        this.entry
            .finish(&path)
            .with_context(|| format!("writing {path} into the archive"))?;
        this.stream.dir(&format!("{dir}/"))
    }
}

#[cfg(test)]
#[path = "tar_stream_tests.rs"]
mod tests;
