//! Run-wide values made once per key, however many image jobs ask at the same moment: the
//! HTTP clients (building one reads every trusted CA from disk) and whether a registry
//! speaks HTTPS (a ping). A plain map checked before building lets eight jobs that start
//! together all miss it and all build; here the first builds and the others wait for it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Values by key, each made by the first caller that asks for it.
pub struct PerKey<K, V> {
    slots: Mutex<HashMap<K, Arc<Mutex<Option<V>>>>>,
}

impl<K: Eq + Hash, V: Clone> PerKey<K, V> {
    pub fn new() -> Self {
        PerKey {
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The value for `key`, made by `make` if no caller has made it yet. Callers for the
    /// same key wait for the one making it; other keys do not wait. A failure is not
    /// kept: the next caller tries again.
    pub fn get_or_try<E>(&self, key: K, make: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(key).or_default().clone()
        };
        let mut value = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = value.as_ref() {
            return Ok(v.clone());
        }
        let v = make()?;
        *value = Some(v.clone());
        Ok(v)
    }
}

impl<K: Eq + Hash, V: Clone> Default for PerKey<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn eight_callers_at_once_make_the_value_once() {
        let cache: PerKey<&str, usize> = PerKey::new();
        let made = AtomicUsize::new(0);
        let got: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        cache
                            .get_or_try("r", || {
                                std::thread::sleep(std::time::Duration::from_millis(20));
                                Ok::<_, ()>(made.fetch_add(1, Ordering::SeqCst) + 41)
                            })
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert_eq!(got, vec![41; 8]);
    }

    #[test]
    fn a_failure_is_not_kept() {
        let cache: PerKey<&str, u8> = PerKey::new();
        assert_eq!(cache.get_or_try("r", || Err("down")), Err("down"));
        assert_eq!(cache.get_or_try("r", || Ok::<_, &str>(7)), Ok(7));
        assert_eq!(cache.get_or_try("r", || Err("not asked")), Ok(7));
    }
}
