//! Retrying what may pass on a second try. [`run`] is the one retry loop, with capped
//! exponential backoff and jitter, waiting at least as long as a failure's
//! [`Transient::retry_after`] asks; it knows no transport: the caller passes the classifier
//! that tells a transient failure from a permanent one (the registry's is
//! `transport::registry::errors::classify`). What gives up becomes [`Exhausted`] or
//! [`SessionsLost`], which the binary turns into exit status [`EXIT_TEMPFAIL`]; permanent
//! failures pass through at once.

use std::io;
use std::time::Duration;

use anyhow::Result;

/// Exit status for "failed, but worth retrying later" (sysexits' `EX_TEMPFAIL`).
pub const EXIT_TEMPFAIL: u8 = 75;

/// The first delay of the default backoff, doubled after every retry up to [`MAX_DELAY`].
const BASE_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(10);

/// How often and how long to wait: `--retry-times` and `--retry-delay`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub times: u32,
    /// A fixed delay between attempts (as skopeo's `--retry-delay`); `None` is exponential
    /// backoff from 0.5 s, capped at 10 s, with jitter.
    pub delay: Option<Duration>,
    /// How long a registry connection may go without progress (no response to a request,
    /// no byte of a download, no byte of an upload taken) before it counts as broken and is
    /// retried; `None` waits for ever.
    pub stall: Option<Duration>,
    /// `--retry-max-wait`: the longest wait a registry's `Retry-After` can ask for.
    pub max_wait: Duration,
}

/// `--retry-max-wait`'s default.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(60);

/// A connection that made no progress for `after` (see [`RetryPolicy::stall`]): `TimedOut`,
/// which is retried like a reset.
pub fn stalled(what: &str, after: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "{what} stalled: nothing for {}s (--stall-timeout)",
            after.as_secs_f64()
        ),
    )
}

/// `--stall-timeout`'s default.
pub const DEFAULT_STALL: Duration = Duration::from_secs(60);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            times: 3,
            delay: None,
            stall: Some(DEFAULT_STALL),
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

impl RetryPolicy {
    /// No retries: local destinations, whose failures do not pass by waiting.
    pub fn never() -> Self {
        RetryPolicy {
            times: 0,
            delay: None,
            stall: None,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }

    /// The wait before retry number `retry` (1 for the first). A 429 waits twice as long:
    /// the registry asked us to slow down; a `Retry-After` (up to `max_wait`) is waited for.
    pub fn backoff(&self, retry: u32, why: &Transient) -> Duration {
        let wait = match self.delay {
            Some(d) => d,
            None => {
                let exp = BASE_DELAY.saturating_mul(1u32 << retry.saturating_sub(1).min(8));
                jitter(exp.min(MAX_DELAY))
            }
        };
        let wait = if why.rate_limited { wait * 2 } else { wait };
        match why.retry_after {
            Some(after) => wait.max(after.min(self.max_wait)),
            None => wait,
        }
    }
}

/// Somewhere in `[d/2, d]`, so that parallel blobs do not retry in lockstep.
fn jitter(d: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(d.as_nanos());
    let frac = (h.finish() % 1000) as u32;
    d / 2 + (d / 2) * frac / 1000
}

/// Why a failure is worth another try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transient {
    /// For `--debug`: `HTTP 503`, `connection reset`, `upload session lost`.
    pub reason: String,
    /// The registry lost the upload session (`BLOB_UPLOAD_UNKNOWN`, ...): retry in a new one.
    pub session_lost: bool,
    /// 429 `TOOMANYREQUESTS`.
    pub rate_limited: bool,
    pub retry_after: Option<Duration>,
}

/// Retries gave up on a transient failure; the message is the last failure's.
#[derive(Debug, thiserror::Error)]
#[error(
    "{last} (gave up after {attempts} attempt{}; this may pass: try again later)",
    if *attempts == 1 { "" } else { "s" }
)]
pub struct Exhausted {
    pub attempts: u32,
    pub last: String,
}

/// Every attempt of an upload lost its session: the registry forgets uploads between
/// requests. The message names the likely causes and how to confirm them.
#[derive(Debug, thiserror::Error)]
#[error(
    "{last}: the registry lost the upload session on each of {attempts} attempts. This usually \
     means registry replicas behind a load balancer that share neither their storage nor \
     their http.secret (REGISTRY_HTTP_SECRET), so an upload begun on one replica is unknown to \
     the next; or storage on an unreliable shared filesystem such as NFS. To confirm: check \
     that every replica uses the same storage backend and the same REGISTRY_HTTP_SECRET, and \
     try pushing to a single replica directly, bypassing the load balancer; `oci-copy probe` \
     on the repository shows the sessions vanish"
)]
pub struct SessionsLost {
    pub attempts: u32,
    pub last: String,
}

/// A classifier: why a failure is worth another try, or `None` when it is permanent.
pub type Classify = fn(&anyhow::Error) -> Option<Transient>;

/// Whether `e` means "failed, but worth trying again later": retries ran out on a
/// transient failure, upload sessions kept vanishing, or a failure `classify` calls
/// transient that was not retried. The binary exits with [`EXIT_TEMPFAIL`] for these.
pub fn is_temporary(e: &anyhow::Error, classify: Classify) -> bool {
    retried(e) || classify(e).is_some()
}

/// Whether `e` already is the end of a retry loop (which is not retried again).
fn retried(e: &anyhow::Error) -> bool {
    find::<Exhausted>(e).is_some() || find::<SessionsLost>(e).is_some()
}

/// Finds an error of type `T` in `e`'s chain, also inside an `io::Error` (a `Read` or
/// `Write` carries a typed error that way).
pub fn find<T: std::error::Error + 'static>(e: &anyhow::Error) -> Option<&T> {
    e.chain().find_map(|c| {
        c.downcast_ref::<T>().or_else(|| {
            c.downcast_ref::<io::Error>()?
                .get_ref()?
                .downcast_ref::<T>()
        })
    })
}

/// A broken connection while streaming.
pub fn transient_io(e: &io::Error) -> Option<Transient> {
    use io::ErrorKind::*;
    let transient = matches!(
        e.kind(),
        ConnectionReset
            | ConnectionRefused
            | ConnectionAborted
            | BrokenPipe
            | TimedOut
            | UnexpectedEof
    );
    transient.then(|| Transient {
        reason: e.to_string(),
        session_lost: false,
        rate_limited: false,
        retry_after: None,
    })
}

/// Runs `op` until it succeeds, fails permanently (as `classify` says), or `policy.times`
/// retries are spent. `what` names the operation in `--debug` logs (`pulling the manifest 1`).
pub fn run<T>(
    policy: &RetryPolicy,
    what: &str,
    classify: Classify,
    mut op: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut retry = 0;
    let mut all_lost = true;
    loop {
        hold_while_paused();
        let e = match op() {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let Some(why) = (!retried(&e)).then(|| classify(&e)).flatten() else {
            return Err(e);
        };
        all_lost &= why.session_lost;
        if retry >= policy.times {
            let (attempts, last) = (retry + 1, format!("{e:#}"));
            return Err(if all_lost && attempts > 1 {
                anyhow::Error::new(SessionsLost { attempts, last })
            } else {
                anyhow::Error::new(Exhausted { attempts, last })
            });
        }
        retry += 1;
        let wait = policy.backoff(retry, &why);
        if why.rate_limited || why.retry_after.is_some() {
            pause_all(wait);
        }
        match why.retry_after {
            Some(after) => tracing::info!(
                "waiting {:.1}s before retry {retry}/{} of {what}: the registry answered {} and asked to wait {}s (Retry-After{})",
                wait.as_secs_f64(),
                policy.times,
                why.reason,
                after.as_secs(),
                if after > policy.max_wait { ", capped by --retry-max-wait" } else { "" }
            ),
            None => tracing::debug!(
                "retry {retry}/{} of {what} in {:.2}s: {}",
                policy.times,
                wait.as_secs_f64(),
                why.reason
            ),
        }
        std::thread::sleep(wait);
    }
}

/// Until when every request of the process holds back: a registry that answered 429, or
/// asked to wait (`Retry-After`), asked it of the whole run, so that many images in
/// flight (`sync --image-jobs`) do not turn one 429 into a storm.
fn paused() -> &'static std::sync::Mutex<Option<std::time::Instant>> {
    static UNTIL: std::sync::OnceLock<std::sync::Mutex<Option<std::time::Instant>>> =
        std::sync::OnceLock::new();
    UNTIL.get_or_init(Default::default)
}

/// Holds every request back for `wait` from now (or longer, if a pause already runs).
fn pause_all(wait: Duration) {
    let until = std::time::Instant::now() + wait;
    let mut p = paused().lock().expect("not poisoned");
    if p.is_none_or(|t| t < until) {
        *p = Some(until);
    }
}

/// Waits out a pause another request started.
fn hold_while_paused() {
    let until = *paused().lock().expect("not poisoned");
    if let Some(t) = until {
        let left = t.saturating_duration_since(std::time::Instant::now());
        if !left.is_zero() {
            std::thread::sleep(left);
        }
    }
}

/// Parses `--retry-delay`: `500ms`, `2s`, `1.5s`, `1m`, or a number of seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("expected a duration such as 500ms, 2s or 1m, not {s:?}"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("unknown unit {unit:?}: use ms, s or m")),
    };
    if !(0.0..=3600.0).contains(&secs) {
        return Err("the delay must be between 0 and 1 hour".to_string());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
