//! A process-wide registry of the temporary files and directories oci-copy creates (staged
//! blobs, `index.json` temporaries, staging directories, archive temporaries, the gzip
//! spool), and the SIGINT/SIGTERM/SIGHUP handler that removes them before exiting with
//! 128 + the signal number. SIGKILL cannot be caught: what it leaves behind is only ever
//! under a temporary name, never under a name a reader trusts.
//!
//! Creation happens under the registry lock ([`track`]), and the signal handler holds that
//! lock from the moment it starts cleaning until the process exits, so a temporary is
//! either registered before the handler looks or never created at all.
//!
//! Every temporary made here is also marked as in use: a shared `flock` on it (for a
//! directory, on a handle kept open with its registration) that lasts as long as the
//! temporary, and ends with the process however it ends. [`crate::sweep`] removes only
//! leftovers that nobody holds, so it never takes the temporary of a live copy.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

static REGISTRY: Mutex<BTreeMap<u64, PathBuf>> = Mutex::new(BTreeMap::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn registry() -> MutexGuard<'static, BTreeMap<u64, PathBuf>> {
    // A panic while holding the lock cannot leave the map inconsistent: use it anyway.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps a path registered for removal on a signal; unregisters it when dropped.
#[derive(Debug)]
#[must_use = "dropping the guard unregisters the path at once"]
pub struct TempGuard {
    id: u64,
    /// For a directory: the open handle that holds its in-use lock, released on drop.
    _in_use: Option<File>,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        registry().remove(&self.id);
    }
}

/// A temporary object (a `NamedTempFile`, a `TempDir`) together with its registration.
/// It dereferences to the object. Fields drop in order: the object deletes itself first,
/// then the path is unregistered.
#[derive(Debug)]
pub struct Tracked<T> {
    inner: T,
    guard: TempGuard,
}

impl<T> Tracked<T> {
    /// Splits off the guard, for calls that consume the object (`persist`, `keep`). Keep
    /// the guard alive until the temporary has been renamed or removed.
    pub fn into_parts(self) -> (T, TempGuard) {
        (self.inner, self.guard)
    }
}

impl<T> Deref for Tracked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for Tracked<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

/// Creates a temporary object with `make` while holding the registry lock, and registers
/// the path that `path_of` names.
pub fn track<T>(
    make: impl FnOnce() -> io::Result<T>,
    path_of: impl FnOnce(&T) -> &Path,
) -> io::Result<Tracked<T>> {
    let mut reg = registry();
    let inner = make()?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    reg.insert(id, path_of(&inner).to_path_buf());
    Ok(Tracked {
        inner,
        guard: TempGuard { id, _in_use: None },
    })
}

/// A registered temporary file in `dir`, marked in use.
pub fn temp_file_in(
    b: &tempfile::Builder,
    dir: &Path,
) -> io::Result<Tracked<tempfile::NamedTempFile>> {
    track(|| b.tempfile_in(dir), |t| t.path()).map(file_in_use)
}

/// A registered temporary file in the system's temporary directory, marked in use.
pub fn temp_file(b: &tempfile::Builder) -> io::Result<Tracked<tempfile::NamedTempFile>> {
    track(|| b.tempfile(), |t| t.path()).map(file_in_use)
}

/// A registered temporary directory in `dir`, marked in use.
pub fn temp_dir_in(b: &tempfile::Builder, dir: &Path) -> io::Result<Tracked<tempfile::TempDir>> {
    track(|| b.tempdir_in(dir), |t| t.path()).map(dir_in_use)
}

/// A registered temporary directory in the system's temporary directory, marked in use.
pub fn temp_dir(b: &tempfile::Builder) -> io::Result<Tracked<tempfile::TempDir>> {
    track(|| b.tempdir(), |t| t.path()).map(dir_in_use)
}

/// Takes a shared lock on the file itself: it lasts while any handle on the file that this
/// process opened is open (a clone shares it), and is gone when the process dies.
fn file_in_use(t: Tracked<tempfile::NamedTempFile>) -> Tracked<tempfile::NamedTempFile> {
    if let Err(e) = t.as_file().try_lock_shared() {
        // A filesystem without locks: a sweeper cannot take the lock either, so it keeps
        // the file; and nobody else can hold it, since the name is brand new.
        tracing::debug!("cannot lock {}: {e}", t.path().display());
    }
    t
}

/// Takes a shared lock on the directory through a handle that its guard keeps open.
fn dir_in_use(mut t: Tracked<tempfile::TempDir>) -> Tracked<tempfile::TempDir> {
    let locked = File::open(t.path()).and_then(|f| match f.try_lock_shared() {
        Ok(()) => Ok(f),
        Err(e) => Err(io::Error::other(e.to_string())),
    });
    match locked {
        Ok(f) => t.guard._in_use = Some(f),
        Err(e) => tracing::debug!("cannot lock {}: {e}", t.path().display()),
    }
    t
}

/// The paths registered now, for tests and `--debug`.
pub fn registered() -> Vec<PathBuf> {
    registry().values().cloned().collect()
}

/// Removes every registered path, holding the lock so that no new temporary can appear;
/// returns the lock (keep it until exit) and how many paths were removed.
fn remove_all() -> (MutexGuard<'static, BTreeMap<u64, PathBuf>>, usize) {
    let reg = registry();
    let removed = reg.values().filter(|p| remove_path(p)).count();
    (reg, removed)
}

fn remove_path(p: &Path) -> bool {
    let r = match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(_) => return false,
    };
    r.is_ok()
}

/// The exit status of a process ended by signal `sig`, as shells report it.
pub fn exit_code_for(sig: i32) -> i32 {
    128 + sig
}

/// Installs the handler: on SIGINT, SIGTERM or SIGHUP, remove every registered temporary,
/// say so on stderr, and exit with 128 + the signal number (130, 143, 129). It runs on a
/// thread of its own, so the removal is ordinary code, not a signal-context handler.
pub fn install_signal_handlers() -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("oci-copy-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let (_held, removed) = remove_all();
                let name = match sig {
                    SIGINT => "SIGINT",
                    SIGTERM => "SIGTERM",
                    _ => "SIGHUP",
                };
                eprintln!("oci-copy: interrupted by {name}; removed {removed} temporary file(s)");
                std::process::exit(exit_code_for(sig));
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_until_dropped_or_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let b = tempfile::Builder::new().prefix(".oci-copy-test-").clone();
        let t = temp_file_in(&b, dir.path()).unwrap();
        let p = t.path().to_path_buf();
        assert!(registered().contains(&p));
        drop(t);
        assert!(!registered().contains(&p) && !p.exists());

        let t = temp_file_in(&b, dir.path()).unwrap();
        let p = t.path().to_path_buf();
        let (file, guard) = t.into_parts();
        file.persist(dir.path().join("final")).unwrap();
        assert!(
            registered().contains(&p),
            "registered until the guard drops"
        );
        drop(guard);
        assert!(!registered().contains(&p));
        assert!(dir.path().join("final").exists());
    }

    #[test]
    fn temporaries_are_locked_until_their_guard_drops() {
        let dir = tempfile::tempdir().unwrap();
        let b = tempfile::Builder::new().prefix(".oci-copy-test-").clone();
        let busy = |p: &Path| {
            let f = std::fs::File::open(p).unwrap();
            matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
        };
        let t = temp_file_in(&b, dir.path()).unwrap();
        assert!(busy(t.path()), "a temporary file is locked");
        let (t, guard) = temp_dir_in(&b, dir.path()).unwrap().into_parts();
        let kept = t.keep();
        assert!(busy(&kept), "a temporary directory is locked");
        drop(guard);
        assert!(!busy(&kept), "unlocked once its guard drops");
    }

    #[test]
    fn removes_files_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("d");
        std::fs::create_dir_all(sub.join("x")).unwrap();
        std::fs::write(sub.join("x/f"), b"1").unwrap();
        assert!(remove_path(&sub) && !sub.exists());
        let f = dir.path().join("f");
        std::fs::write(&f, b"1").unwrap();
        assert!(remove_path(&f) && !f.exists());
        assert!(!remove_path(&f), "a missing path is not counted");
        assert_eq!(exit_code_for(15), 143);
        assert_eq!(exit_code_for(2), 130);
    }
}
