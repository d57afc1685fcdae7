//! Unit tests of the retry loop (`retry.rs`).

use super::*;
use crate::transport::registry::errors::{classify, RegistryError};
use crate::verify::VerifyError;
use std::cell::Cell;

fn registry_error(status: Option<u16>, code: Option<&str>) -> anyhow::Error {
    anyhow::Error::new(RegistryError {
        registry: "r:5000".into(),
        repository: "a/b".into(),
        action: "uploading a blob".into(),
        status,
        code: code.map(str::to_string),
        message: "m".into(),
        ..Default::default()
    })
}

const FAST: RetryPolicy = RetryPolicy {
    times: 3,
    delay: Some(Duration::ZERO),
    stall: None,
    max_wait: DEFAULT_MAX_WAIT,
};

#[test]
fn parses_durations() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
    assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
    assert!(parse_duration("soon").is_err());
    assert!(parse_duration("3h").is_err());
}

#[test]
fn backoff_grows_is_capped_and_jittered() {
    let p = RetryPolicy::default();
    let why = Transient {
        reason: String::new(),
        session_lost: false,
        rate_limited: false,
        retry_after: None,
    };
    let first = p.backoff(1, &why);
    assert!(first >= Duration::from_millis(250) && first <= BASE_DELAY);
    assert!(p.backoff(20, &why) <= MAX_DELAY);
    assert!(p.backoff(20, &why) >= MAX_DELAY / 2);
    let after = Transient {
        retry_after: Some(Duration::from_secs(3)),
        ..why
    };
    assert!(p.backoff(1, &after) >= Duration::from_secs(3));
}

#[test]
fn retries_transient_failures_then_gives_up_as_temporary() {
    let calls = Cell::new(0);
    let r: Result<()> = run(&FAST, "x", classify, || {
        calls.set(calls.get() + 1);
        Err(registry_error(Some(503), None))
    });
    assert_eq!(calls.get(), 4);
    let e = r.unwrap_err();
    assert!(find::<Exhausted>(&e).is_some());
    assert!(is_temporary(&e, classify));
    assert!(format!("{e:#}").contains("HTTP 503"), "{e:#}");
}

#[test]
fn permanent_failures_pass_through_at_once() {
    for (status, code) in [
        (Some(401), Some("UNAUTHORIZED")),
        (Some(403), Some("DENIED")),
        (Some(404), Some("NAME_UNKNOWN")),
        (Some(404), Some("MANIFEST_UNKNOWN")),
    ] {
        let calls = Cell::new(0);
        let r: Result<()> = run(&FAST, "x", classify, || {
            calls.set(calls.get() + 1);
            Err(registry_error(status, code))
        });
        assert_eq!(calls.get(), 1, "{code:?}");
        assert!(!is_temporary(&r.unwrap_err(), classify));
    }
    let calls = Cell::new(0);
    let d = crate::digest::Digest::sha256_of(b"a");
    let r: Result<()> = run(&FAST, "x", classify, || {
        calls.set(calls.get() + 1);
        Err(anyhow::Error::new(io::Error::new(
            io::ErrorKind::InvalidData,
            VerifyError::Digest {
                expected: d.clone(),
                actual: d.clone(),
            },
        )))
    });
    assert_eq!(calls.get(), 1);
    assert!(!is_temporary(&r.unwrap_err(), classify));
}

#[test]
fn sessions_lost_on_every_attempt_explain_why() {
    let r: Result<()> = run(&FAST, "x", classify, || {
        Err(registry_error(Some(404), Some("BLOB_UPLOAD_UNKNOWN")))
    });
    let e = r.unwrap_err();
    let msg = format!("{e:#}");
    assert!(find::<SessionsLost>(&e).is_some());
    assert!(is_temporary(&e, classify));
    for needle in ["replicas", "load balancer", "http.secret", "storage", "NFS"] {
        assert!(msg.contains(needle), "{msg}");
    }
    // Lost once, then fine: the upload restarts in a fresh session.
    let calls = Cell::new(0);
    let r = run(&FAST, "x", classify, || {
        calls.set(calls.get() + 1);
        if calls.get() == 1 {
            Err(registry_error(Some(404), Some("BLOB_UPLOAD_INVALID")))
        } else {
            Ok(7)
        }
    });
    assert_eq!(r.unwrap(), 7);
}
