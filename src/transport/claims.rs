//! Run-wide claims on blobs, for the ledgers of what a run has written (a registry's in
//! `registry/ledger.rs`, the layouts' in `local_ledger.rs`): a copy that needs a blob claims
//! it and writes it, one that needs a blob another copy has claimed waits for it, and once
//! written, where it is is recorded for the next copy to reuse.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long to wait for another copy's write of the same blob before writing it too (a
/// bound, so that no order of claims can deadlock).
pub const WAIT: Duration = Duration::from_secs(120);

/// A new id for a destination that claims blobs.
pub fn new_owner() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

enum State<V> {
    /// Being written by the destination with this id.
    Claimed(u64),
    /// Written, and where.
    Held(V),
}

/// Blobs by key, each claimed or held.
pub struct Claims<K, V> {
    blobs: Mutex<HashMap<K, State<V>>>,
    changed: Condvar,
}

impl<K: Eq + Hash, V: Clone> Claims<K, V> {
    pub fn new() -> Self {
        Claims {
            blobs: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
        }
    }

    /// Where `key` is held, when `usable` says the holder will do; else `None`, and
    /// `owner` now holds the claim. Waits (up to [`WAIT`]) while another owner holds it.
    pub fn claim(&self, key: K, owner: u64, usable: impl Fn(&V) -> bool) -> Option<V> {
        let deadline = Instant::now() + WAIT;
        let mut blobs = self.blobs.lock().expect("not poisoned");
        loop {
            match blobs.get(&key) {
                Some(State::Held(v)) if usable(v) => return Some(v.clone()),
                Some(State::Claimed(o)) if *o != owner && Instant::now() < deadline => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    blobs = self
                        .changed
                        .wait_timeout(blobs, left)
                        .expect("not poisoned")
                        .0;
                }
                _ => {
                    blobs.insert(key, State::Claimed(owner));
                    return None;
                }
            }
        }
    }

    /// Records where `key` is held.
    pub fn hold(&self, key: K, v: V) {
        self.blobs
            .lock()
            .expect("not poisoned")
            .insert(key, State::Held(v));
        self.changed.notify_all();
    }

    /// Gives up the claims `owner` still holds (its copy failed or ended before writing them).
    pub fn release(&self, owner: u64) {
        self.blobs
            .lock()
            .expect("not poisoned")
            .retain(|_, s| !matches!(s, State::Claimed(o) if *o == owner));
        self.changed.notify_all();
    }
}

impl<K: Eq + Hash, V: Clone> Default for Claims<K, V> {
    fn default() -> Self {
        Self::new()
    }
}
