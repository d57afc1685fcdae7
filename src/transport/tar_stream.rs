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
use std::path::Path;
use std::sync::{Condvar, Mutex};

use anyhow::{bail, Context, Result};

use super::tarball::{dir_header, file_header, ArchiveTarget};
use super::BlobWriter;
use crate::manifest::Descriptor;

/// How much is written before the kernel is asked to start writing it back.
const WRITEBACK_EVERY: u64 = 32 << 20;

pub struct TarStream {
    state: Mutex<State>,
    turn: Condvar,
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
        let stream = TarStream {
            state: Mutex::new(State {
                target: Some(target),
                file,
                end: 0,
                busy: false,
                names: HashSet::new(),
            }),
            turn: Condvar::new(),
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
            let h = dir_header(path)?;
            let end = s.end;
            s.file.write_all_at(h.as_bytes(), end)?;
            s.end += 512;
            s.names.insert(path.to_string());
        }
        Ok(())
    }

    /// Appends a small file entry whole (metadata such as `index.json`).
    pub fn put(&self, path: &str, bytes: &[u8]) -> Result<()> {
        let mut w = self.begin()?;
        w.write_all(bytes)?;
        w.finish(path)
    }

    /// Opens the next entry; waits while another one is open.
    pub fn begin(&self) -> Result<EntryWriter<'_>> {
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
        // From here a failure drops the writer, which frees the archive for the next entry.
        let w = EntryWriter {
            stream: self,
            file,
            start,
            pos: start + 512,
            kicked: start,
            done: false,
        };
        // The placeholder header: zeros, until the entry is committed.
        w.file.write_all_at(&[0u8; 512], start)?;
        Ok(w)
    }

    /// Writes the end-of-archive blocks, syncs the file and renames it into place.
    pub fn finish(&self) -> Result<()> {
        let mut s = self.lock();
        if s.busy {
            bail!("an archive entry is still open");
        }
        let end = s.end;
        s.file.write_all_at(&[0u8; 1024], end)?;
        s.file.set_len(end + 1024)?;
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
    pos: u64,
    /// Up to where writeback was started.
    kicked: u64,
    done: bool,
}

impl EntryWriter<'_> {
    /// Fills in the header as `path`, pads the entry to a block and ends it.
    pub fn finish(mut self, path: &str) -> Result<()> {
        let size = self.pos - self.start - 512;
        let header = file_header(path, size)?;
        self.file.write_all_at(header.as_bytes(), self.start)?;
        let pad = (512 - size % 512) % 512;
        self.file
            .write_all_at(&[0u8; 512][..pad as usize], self.pos)?;
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
        self.file.write_all_at(buf, self.pos)?;
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
    pub fn begin(stream: &'a TarStream) -> Result<StreamBlobWriter<'a>> {
        Ok(StreamBlobWriter {
            entry: stream.begin()?,
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
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(file: &Path) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(File::open(file).unwrap());
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let mut bytes = Vec::new();
                e.read_to_end(&mut bytes).unwrap();
                (name, bytes)
            })
            .collect()
    }

    #[test]
    fn entries_are_written_in_commit_order_and_abandoned_ones_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.tar");
        let tar = TarStream::create(&dest).unwrap().expect("a regular file");
        let mut w = tar.begin().unwrap();
        w.write_all(&[7u8; 1000]).unwrap();
        w.finish("blobs/sha256/aa").unwrap();
        // A failed blob: written, then dropped.
        let mut w = tar.begin().unwrap();
        w.write_all(&[9u8; 5000]).unwrap();
        drop(w);
        tar.put("index.json", b"{}").unwrap();
        assert!(tar.contains("blobs/sha256/aa"));
        assert!(
            !dest.exists(),
            "nothing is at the destination before finish"
        );
        tar.finish().unwrap();
        let got = entries(&dest);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["blobs/", "blobs/sha256/", "blobs/sha256/aa", "index.json"]
        );
        assert_eq!(got[2].1, vec![7u8; 1000]);
        assert_eq!(got[3].1, b"{}");
        // Headers (4 × 512), 1000 bytes padded to 1024, "{}" padded to 512, end blocks.
        let len = std::fs::metadata(&dest).unwrap().len();
        assert_eq!(len, 4 * 512 + 1024 + 512 + 1024);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only the archive is left");
    }

    #[test]
    fn a_second_entry_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.tar");
        let tar = TarStream::create(&dest).unwrap().unwrap();
        std::thread::scope(|s| {
            let mut first = tar.begin().unwrap();
            let second = s.spawn(|| tar.put("second", b"2"));
            std::thread::sleep(std::time::Duration::from_millis(50));
            first.write_all(b"1").unwrap();
            first.finish("first").unwrap();
            second.join().unwrap().unwrap();
        });
        tar.finish().unwrap();
        let names: Vec<String> = entries(&dest).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[2..], ["first", "second"]);
    }

    #[test]
    fn dropping_an_unfinished_archive_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.tar");
        std::fs::write(&dest, b"previous").unwrap();
        {
            let tar = TarStream::create(&dest).unwrap().unwrap();
            tar.put("a", b"a").unwrap();
        }
        assert_eq!(std::fs::read(&dest).unwrap(), b"previous");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
