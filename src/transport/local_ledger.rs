//! The blobs this run has written into OCI layouts, so that a blob many images share (a
//! base layer, in a sync into one layout per repository) is downloaded once per run: a copy
//! that needs a blob another copy is writing waits for it, and one that needs a blob
//! already written into another layout links it from there (a hard link, or a copy of the
//! file across file systems) instead of reading it from the source again. The bytes were
//! verified when they were first written. Process-wide, as the registry's ledger is.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use anyhow::{Context, Result};

pub use super::claims::new_owner;
use super::claims::Claims;
use super::Reuse;
use crate::manifest::Descriptor;

/// By digest: the file that holds the blob, verified.
static LEDGER: LazyLock<Claims<String, PathBuf>> = LazyLock::new(Claims::new);

/// What a destination should do with a blob it does not have.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Copy it from the source (this destination now holds the claim).
    Write,
    /// Link it from this file, which this run wrote and verified.
    LinkFrom(PathBuf),
}

/// Claims `digest` for `owner`, or names the file that has it; waits while another owner
/// writes it.
pub fn claim(digest: &str, owner: u64) -> Claim {
    match LEDGER.claim(digest.to_string(), owner, |p| p.is_file()) {
        Some(p) => Claim::LinkFrom(p),
        None => Claim::Write,
    }
}

/// Records that `path` holds `digest`, verified.
pub fn wrote(digest: &str, path: &Path) {
    LEDGER.hold(digest.to_string(), path.to_path_buf());
}

/// Gives up the claims `owner` still holds (its copy failed or ended before writing them).
pub fn release(owner: u64) {
    LEDGER.release(owner);
}

/// How a layout comes to hold the blob `desc` at `target` (`present`: it does already):
/// as it is, linked from where this run wrote it (waiting while another copy writes it),
/// or copied from the source by this `owner`, which then holds the claim.
pub fn reuse(
    target: &Path,
    desc: &Descriptor,
    owner: u64,
    durable: bool,
    present: bool,
) -> Result<Reuse> {
    let digest = desc.digest.to_string();
    if present {
        wrote(&digest, target);
        return Ok(Reuse::Present);
    }
    match claim(&digest, owner) {
        Claim::Write => Ok(Reuse::Absent),
        Claim::LinkFrom(from) if from == target => Ok(Reuse::Present),
        Claim::LinkFrom(from) => {
            if link(&from, target, desc, durable)? {
                tracing::debug!("blob {digest} linked from {}", from.display());
                Ok(Reuse::Mounted)
            } else {
                Ok(Reuse::Absent)
            }
        }
    }
}

/// Makes `target` the blob `desc` by linking `from`: a hard link, or on another file system
/// a copy through a temporary beside `target`. True when `target` then holds a file of the
/// blob's size (another writer may have put it there first).
pub fn link(from: &Path, target: &Path, desc: &Descriptor, durable: bool) -> Result<bool> {
    let dir = target.parent().expect("a blob path has a directory");
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    match fs::hard_link(from, target) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(_) => {
            let temp = tempfile::Builder::new()
                .prefix(".oci-copy-blob-")
                .tempfile_in(dir)
                .with_context(|| format!("creating a temporary blob in {}", dir.display()))?;
            fs::copy(from, temp.path())
                .with_context(|| format!("copying {} to {}", from.display(), dir.display()))?;
            temp.persist(target)
                .with_context(|| format!("storing blob {}", desc.digest))?;
        }
    }
    if durable {
        fs::File::open(target)
            .and_then(|f| f.sync_data())
            .with_context(|| format!("syncing {}", target.display()))?;
    }
    Ok(matches!(fs::metadata(target), Ok(m) if m.is_file() && m.len() == desc.size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_second_claimant_waits_for_the_first_then_links_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blob");
        let digest = "sha256:test-ledger-wait";
        let (a, b) = (new_owner(), new_owner());
        assert_eq!(claim(digest, a), Claim::Write);
        let waiter = std::thread::spawn(move || claim(digest, b));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "b waits while a writes");
        fs::write(&file, b"x").unwrap();
        wrote(digest, &file);
        assert_eq!(waiter.join().unwrap(), Claim::LinkFrom(file));
    }

    #[test]
    fn a_released_claim_passes_to_the_next_and_a_vanished_file_is_written_again() {
        let digest = "sha256:test-ledger-release";
        let (a, b) = (new_owner(), new_owner());
        assert_eq!(claim(digest, a), Claim::Write);
        let waiter = std::thread::spawn(move || claim(digest, b));
        std::thread::sleep(Duration::from_millis(50));
        release(a);
        assert_eq!(waiter.join().unwrap(), Claim::Write);
        wrote(digest, Path::new("/nonexistent/oci-copy-blob"));
        assert_eq!(claim(digest, a), Claim::Write);
    }
}
