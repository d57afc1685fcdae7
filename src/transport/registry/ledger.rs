//! The blobs this run has pushed to each registry, so that an image sharing a blob with
//! another (a base layer of many images of a sync) gets it by a cross-repository mount
//! from the repository that has it, not by a second upload; and while one copy uploads a
//! blob, another that needs it waits for that upload instead of sending the bytes too.
//! Process-wide: one `copy` uses it as one image of a sync does.

use std::sync::LazyLock;

pub use crate::transport::claims::new_owner;
use crate::transport::claims::Claims;

/// By (registry, digest): the repository holding the blob.
static LEDGER: LazyLock<Claims<(String, String), String>> = LazyLock::new(Claims::new);

/// What a destination should do with a blob it does not have.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Upload it (this destination now holds the claim).
    Upload,
    /// Mount it from this repository, which this run pushed it to.
    MountFrom(String),
}

/// Claims `digest` on `registry` for `owner` (pushing to `repo`), or names where it is.
pub fn claim(registry: &str, digest: &str, repo: &str, owner: u64) -> Claim {
    let key = (registry.to_string(), digest.to_string());
    match LEDGER.claim(key, owner, |held| held != repo) {
        Some(from) => Claim::MountFrom(from),
        None => Claim::Upload,
    }
}

/// Records that `repo` of `registry` has `digest` (uploaded, mounted or found there).
pub fn holds(registry: &str, digest: &str, repo: &str) {
    LEDGER.hold((registry.to_string(), digest.to_string()), repo.to_string());
}

/// Gives up `owner`'s claims that did not complete (its copy failed or stopped).
pub fn release(owner: u64) {
    LEDGER.release(owner);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
