//! The blobs this run has pushed to each registry, so that an image sharing a blob with
//! another (a base layer of many images of a sync) gets it by a cross-repository mount
//! from the repository that has it, not by a second upload; and while one copy uploads a
//! blob, another that needs it waits for that upload instead of sending the bytes too.
//! Process-wide: one `copy` uses it as one image of a sync does.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Who holds a blob, by (registry, digest).
#[derive(Debug, Clone)]
enum State {
    /// Being uploaded by the destination with this id.
    Uploading(u64),
    /// In this repository of the registry.
    In(String),
}

struct Ledger {
    blobs: Mutex<HashMap<(String, String), State>>,
    changed: Condvar,
}

fn ledger() -> &'static Ledger {
    static L: OnceLock<Ledger> = OnceLock::new();
    L.get_or_init(|| Ledger {
        blobs: Mutex::new(HashMap::new()),
        changed: Condvar::new(),
    })
}

/// A new id for a destination that claims uploads.
pub fn new_owner() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// What a destination should do with a blob it does not have.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Upload it (this destination now holds the claim).
    Upload,
    /// Mount it from this repository, which this run pushed it to.
    MountFrom(String),
}

/// How long to wait for another copy's upload of the same blob before uploading it too
/// (a bound, so that no order of claims can deadlock).
const WAIT: Duration = Duration::from_secs(120);

/// Claims `digest` on `registry` for `owner` (pushing to `repo`), or names where it is.
pub fn claim(registry: &str, digest: &str, repo: &str, owner: u64) -> Claim {
    let l = ledger();
    let key = (registry.to_string(), digest.to_string());
    let deadline = Instant::now() + WAIT;
    let mut blobs = l.blobs.lock().expect("not poisoned");
    loop {
        match blobs.get(&key) {
            Some(State::In(r)) if r != repo => return Claim::MountFrom(r.clone()),
            Some(State::Uploading(o)) if *o != owner && Instant::now() < deadline => {
                let left = deadline.saturating_duration_since(Instant::now());
                blobs = l.changed.wait_timeout(blobs, left).expect("not poisoned").0;
            }
            _ => {
                blobs.insert(key, State::Uploading(owner));
                return Claim::Upload;
            }
        }
    }
}

/// Records that `repo` of `registry` has `digest` (uploaded, mounted or found there).
pub fn holds(registry: &str, digest: &str, repo: &str) {
    let l = ledger();
    let key = (registry.to_string(), digest.to_string());
    l.blobs
        .lock()
        .expect("not poisoned")
        .insert(key, State::In(repo.to_string()));
    l.changed.notify_all();
}

/// Gives up `owner`'s claims that did not complete (its copy failed or stopped).
pub fn release(owner: u64) {
    let l = ledger();
    l.blobs
        .lock()
        .expect("not poisoned")
        .retain(|_, s| !matches!(s, State::Uploading(o) if *o == owner));
    l.changed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_upload_then_mounts_and_a_failed_upload_frees_its_claim() {
        let (a, b) = (new_owner(), new_owner());
        assert_eq!(claim("r:1", "sha256:x", "lab/a", a), Claim::Upload);
        // The same owner again (a retried upload) keeps its claim.
        assert_eq!(claim("r:1", "sha256:x", "lab/a", a), Claim::Upload);
        let waiter = std::thread::spawn(move || claim("r:1", "sha256:x", "lab/b", b));
        std::thread::sleep(Duration::from_millis(50));
        holds("r:1", "sha256:x", "lab/a");
        assert_eq!(waiter.join().unwrap(), Claim::MountFrom("lab/a".into()));
        assert_eq!(claim("r:1", "sha256:y", "lab/a", a), Claim::Upload);
        release(a);
        assert_eq!(claim("r:1", "sha256:y", "lab/b", b), Claim::Upload);
    }
}
