//! Removes what copies killed with SIGKILL left behind: temporaries under oci-copy's own
//! names inside a layout, beside a layout being created or an archive being written, and
//! in the system's temporary directory. An entry is removed only when its name is one that
//! oci-copy gives, nothing in it has changed for [`STALE_AFTER`], and no process holds it.
//!
//! Liveness is a lock, not a guess from times: the process that makes a temporary holds a
//! shared `flock` on it for as long as it lives (see [`crate::cleanup`]), and the kernel
//! drops the lock when that process dies, however it dies. A sweeper removes an entry only
//! after taking an exclusive lock on it without waiting, so the temporary of a live copy
//! (slow, stalled, or stopped for hours) is never taken. A lock works across PID namespaces
//! and over NFSv4, where a PID in a name would not. The age threshold guards temporaries
//! that carry no lock: those of an older oci-copy, or on a filesystem without locks (where
//! the sweeper cannot take the lock either, and so keeps everything).

use std::fs::{self, File, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// How long a temporary must have gone unmodified before it may be taken for a leftover.
pub const STALE_AFTER: Duration = Duration::from_secs(3600);

/// The random characters `tempfile` puts between a prefix and a suffix.
const RANDOM_CHARS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// A name oci-copy gives a temporary: prefix, six random alphanumerics, suffix.
#[derive(Debug, Clone)]
pub struct Pattern {
    prefix: &'static str,
    suffix: &'static str,
    kind: Kind,
}

const fn file(prefix: &'static str, suffix: &'static str) -> Pattern {
    Pattern {
        prefix,
        suffix,
        kind: Kind::File,
    }
}

const fn dir(prefix: &'static str) -> Pattern {
    Pattern {
        prefix,
        suffix: "",
        kind: Kind::Dir,
    }
}

/// Inside a layout: staged blobs, `index.json` and `oci-layout` temporaries.
pub const IN_LAYOUT: &[Pattern] = &[
    file(".oci-copy-blob-", ""),
    file(".index.json.tmp-", ""),
    file(".oci-layout.tmp-", ""),
];
/// Beside a layout: the staging directory of a layout being created, and of a `dir:` image.
pub const BESIDE_LAYOUT: &[Pattern] = &[dir(".oci-copy-layout-"), dir(".oci-copy-dir-")];
/// Beside an archive: the archive being written, and the staging directory of its blobs.
pub const BESIDE_ARCHIVE: &[Pattern] = &[file(".oci-copy-", ".tmp"), dir(".oci-copy-stage-")];
/// In the system's temporary directory: the gzip spool and the fallback staging directory.
pub const IN_SYSTEM_TEMP: &[Pattern] = &[file(".oci-copy-archive-", ""), dir("oci-copy-stage-")];

impl Pattern {
    fn matches(&self, name: &str, kind: Kind) -> bool {
        let random = name
            .strip_prefix(self.prefix)
            .and_then(|rest| rest.strip_suffix(self.suffix));
        kind == self.kind
            && random.is_some_and(|r| {
                r.len() == RANDOM_CHARS && r.bytes().all(|b| b.is_ascii_alphanumeric())
            })
    }
}

/// Removes the entries of `dir` that match one of `patterns`, have not changed for `age`
/// and that no process holds; returns how many. Best effort: what cannot be read, locked
/// or removed is kept, and only logged.
pub fn sweep(dir: &Path, patterns: &[Pattern], age: Duration) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let kind = match e.file_type() {
            Ok(t) if t.is_file() => Kind::File,
            Ok(t) if t.is_dir() => Kind::Dir,
            _ => continue, // links, FIFOs, sockets: never ours
        };
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !patterns.iter().any(|p| p.matches(name, kind)) {
            continue;
        }
        let path = e.path();
        if is_stale(&path, kind, age) && remove_unheld(&path, kind) {
            removed += 1;
        }
    }
    removed
}

/// Sweeps the directory that holds `path`, a layout or an archive about to be written.
pub fn sweep_beside(path: &Path, patterns: &[Pattern]) -> usize {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    sweep(parent, patterns, STALE_AFTER)
}

/// Sweeps the system's temporary directory (`TMPDIR`).
pub fn sweep_system_temp() -> usize {
    sweep(&std::env::temp_dir(), IN_SYSTEM_TEMP, STALE_AFTER)
}

/// Whether nothing in the entry changed for `age`: for a directory, the directory and
/// everything under it, since a staging directory's own time changes only when an entry
/// is added to it. An entry that cannot be read counts as fresh.
fn is_stale(path: &Path, kind: Kind, age: Duration) -> bool {
    newest_change(path, kind, 0)
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|a| a > age)
}

fn newest_change(path: &Path, kind: Kind, depth: usize) -> Option<SystemTime> {
    let mut newest = fs::symlink_metadata(path).ok()?.modified().ok()?;
    if kind == Kind::Dir {
        if depth > 8 {
            return None; // deeper than any staging directory: not ours
        }
        for e in fs::read_dir(path).ok()? {
            let e = e.ok()?;
            let sub = if e.file_type().ok()?.is_dir() {
                Kind::Dir
            } else {
                Kind::File
            };
            newest = newest.max(newest_change(&e.path(), sub, depth + 1)?);
        }
    }
    Some(newest)
}

/// Removes the entry unless a live process holds it; the lock taken here is held until the
/// entry is gone, so two sweepers never both act on one entry.
fn remove_unheld(path: &Path, kind: Kind) -> bool {
    let Some(_held) = claim(path, kind) else {
        return false;
    };
    let removed = match kind {
        Kind::File => fs::remove_file(path),
        Kind::Dir => fs::remove_dir_all(path),
    };
    match removed {
        Ok(()) => {
            tracing::debug!("removed {}, left by an interrupted copy", path.display());
            true
        }
        Err(e) => {
            tracing::debug!("could not remove stale {}: {e}", path.display());
            false
        }
    }
}

/// Opens the entry without following a link or blocking on a FIFO, and takes its lock
/// without waiting: `None` when a live process holds it or it cannot be locked. A file is
/// opened for writing too: NFS emulates `flock` with byte-range locks, and an exclusive
/// one needs a writable handle.
fn claim(path: &Path, kind: Kind) -> Option<File> {
    let mut flags = libc::O_NOFOLLOW | libc::O_NONBLOCK;
    if kind == Kind::Dir {
        flags |= libc::O_DIRECTORY;
    }
    let f = fs::OpenOptions::new()
        .read(true)
        .write(kind == Kind::File)
        .custom_flags(flags)
        .open(path)
        .ok()?;
    let same_kind = f.metadata().is_ok_and(|m| match kind {
        Kind::File => m.is_file(),
        Kind::Dir => m.is_dir(),
    });
    if !same_kind {
        return None;
    }
    match f.try_lock() {
        Ok(()) => Some(f),
        Err(TryLockError::WouldBlock) => {
            tracing::debug!("{} is held by a live copy; kept", path.display());
            None
        }
        Err(TryLockError::Error(e)) => {
            tracing::debug!("cannot lock {} ({e}); kept", path.display());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_hours_ago(path: &Path) {
        let then = SystemTime::now() - Duration::from_secs(7200);
        if path.is_dir() {
            for e in fs::read_dir(path).unwrap() {
                two_hours_ago(&e.unwrap().path());
            }
        }
        File::open(path).unwrap().set_modified(then).unwrap();
    }

    #[test]
    fn names_must_be_oci_copys_own() {
        let blob = &IN_LAYOUT[0];
        assert!(blob.matches(".oci-copy-blob-aZ09xy", Kind::File));
        assert!(!blob.matches(".oci-copy-blob-aZ09xy", Kind::Dir));
        assert!(!blob.matches(".oci-copy-blob-old", Kind::File));
        assert!(!blob.matches(".oci-copy-blob-aZ09x-", Kind::File));
        let archive = &BESIDE_ARCHIVE[0];
        assert!(archive.matches(".oci-copy-qckoLC.tmp", Kind::File));
        assert!(!archive.matches(".oci-copy-qckoLC", Kind::File));
        assert!(!archive.matches(".oci-copy-layout-qckoLC.tmp", Kind::File));
        assert!(!archive.matches("oci-copy-qckoLC.tmp", Kind::File));
    }

    #[test]
    fn removes_old_unheld_leftovers_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let old = d.join(".oci-copy-blob-aaaaaa");
        let fresh = d.join(".oci-copy-blob-bbbbbb");
        let held = d.join(".oci-copy-blob-cccccc");
        let foreign = d.join(".oci-copy-blob-notes.txt");
        let layout_file = d.join("index.json");
        for p in [&old, &fresh, &held, &foreign, &layout_file] {
            fs::write(p, b"x").unwrap();
        }
        let holder = File::open(&held).unwrap();
        holder.lock_shared().unwrap();
        let stage = d.join(".oci-copy-stage-dddddd");
        fs::create_dir_all(stage.join("blobs/sha256")).unwrap();
        fs::write(stage.join("blobs/sha256/.oci-copy-blob-eeeeee"), b"x").unwrap();
        for p in [&old, &held, &foreign, &layout_file, &stage] {
            two_hours_ago(p);
        }
        let patterns = [IN_LAYOUT, BESIDE_ARCHIVE].concat();
        assert_eq!(sweep(d, &patterns, STALE_AFTER), 2);
        assert!(
            !old.exists() && !stage.exists(),
            "stale leftovers are removed"
        );
        assert!(
            fresh.exists(),
            "a temporary changed within the hour is kept"
        );
        assert!(held.exists(), "a temporary a live process holds is kept");
        assert!(
            foreign.exists() && layout_file.exists(),
            "other names are kept"
        );
    }

    #[test]
    fn a_directory_with_a_recent_file_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let stage = dir.path().join(".oci-copy-layout-ffffff");
        fs::create_dir_all(stage.join("blobs/sha256")).unwrap();
        two_hours_ago(&stage);
        fs::write(stage.join("blobs/sha256/.oci-copy-blob-gggggg"), b"x").unwrap();
        File::open(&stage)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(7200))
            .unwrap();
        assert_eq!(sweep(dir.path(), BESIDE_LAYOUT, STALE_AFTER), 0);
        assert!(stage.exists());
    }
}
