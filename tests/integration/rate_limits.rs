//! Rate limits through the fault proxy in front of a real registry: a 429 or 503 with
//! `Retry-After` (seconds, or an HTTP date) is waited for, capped by `--retry-max-wait`,
//! and the wait is logged with its reason; a 429 with Docker Hub's `RateLimit-Remaining: 0`
//! stops at once (exit 1) with the window and when it resets; a limit the registry
//! announces on a success is shown.

use std::time::{Duration, SystemTime};

use crate::reliability_registry::registry_with_image;
use crate::support::fault_proxy::{Action, FaultProxy};
use crate::support::{assert_failure, assert_success, oci_copy};

const NO_TLS: &str = "--tls-verify=false";
const FAST: &str = "--retry-delay=10ms";

/// A proxy answering the first manifest GET with what `first` makes (called then, so that
/// a date in it is fresh), and passing the rest.
fn first_manifest_get(
    host: &str,
    first: impl Fn() -> Action + Send + Sync + 'static,
) -> FaultProxy {
    let done = std::sync::atomic::AtomicBool::new(false);
    FaultProxy::start(host, move |r| {
        let is_manifest = r.method == "GET" && r.path.contains("/manifests/");
        if is_manifest && !done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            first()
        } else {
            Action::Pass
        }
    })
}

/// The time between the first two manifest GETs the proxy saw.
fn gap(proxy: &FaultProxy) -> Duration {
    let gets: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/manifests/"))
        .collect();
    assert!(gets.len() >= 2, "{gets:?}");
    gets[1].at - gets[0].at
}

#[test]
fn a_429_with_retry_after_2_is_waited_for_and_logged() {
    let reg = registry_with_image();
    let proxy = first_manifest_get(&reg.host, || {
        Action::error(429, "TOOMANYREQUESTS", &[("Retry-After", "2")])
    });
    let out = oci_copy(["inspect", "--raw", NO_TLS, FAST, &proxy.url("lab/app:1")]);
    assert_success(&out);
    let waited = gap(&proxy);
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("waiting 2.0s before retry 1/3 of pulling the manifest 1: the registry answered TOOMANYREQUESTS and asked to wait 2s (Retry-After)"),
        "{err}"
    );
}

#[test]
fn a_retry_after_given_as_an_http_date_is_waited_for() {
    let reg = registry_with_image();
    let proxy = first_manifest_get(&reg.host, || {
        let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
        Action::error(503, "UNAVAILABLE", &[("Retry-After", &at)])
    });
    let out = oci_copy(["inspect", "--raw", NO_TLS, FAST, &proxy.url("lab/app:1")]);
    assert_success(&out);
    // The date has whole seconds: 3 s from now is at least 2 s away.
    let waited = gap(&proxy);
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}"
    );
}

#[test]
fn retry_max_wait_caps_what_retry_after_asks() {
    let reg = registry_with_image();
    let proxy = first_manifest_get(&reg.host, || {
        Action::error(503, "UNAVAILABLE", &[("Retry-After", "3600")])
    });
    let url = proxy.url("lab/app:1");
    let out = oci_copy([
        "inspect",
        "--raw",
        NO_TLS,
        FAST,
        "--retry-max-wait=1s",
        &url,
    ]);
    assert_success(&out);
    let waited = gap(&proxy);
    assert!(
        waited >= Duration::from_millis(900),
        "retried after {waited:?}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("asked to wait 3600s (Retry-After, capped by --retry-max-wait)"),
        "{err}"
    );
}

#[test]
fn a_rate_limit_used_up_stops_at_once_with_the_window() {
    let reg = registry_with_image();
    let proxy = FaultProxy::start(&reg.host, |r| {
        if r.method == "GET" && r.path.contains("/manifests/") {
            Action::error(
                429,
                "TOOMANYREQUESTS",
                &[
                    ("RateLimit-Limit", "100;w=21600"),
                    ("RateLimit-Remaining", "0;w=21600"),
                ],
            )
        } else {
            Action::Pass
        }
    });
    let out = oci_copy(["inspect", NO_TLS, FAST, &proxy.url("lab/app:1")]);
    assert_failure(
        &out,
        1,
        &["the registry's rate limit is used up (0 of 100 requests left in a 6h window); it resets within the 6h window: wait until then, or log in"],
    );
    let gets = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/manifests/"))
        .count();
    assert_eq!(gets, 1, "a used-up limit is not asked again");
}

#[test]
fn a_limit_the_registry_announces_is_shown() {
    let reg = registry_with_image();
    let proxy = FaultProxy::start(&reg.host, |r| {
        if r.method == "GET" && r.path.contains("/manifests/") {
            Action::SetHeader {
                name: "RateLimit-Remaining".into(),
                value: "76;w=21600".into(),
            }
        } else {
            Action::Pass
        }
    });
    // The proxy sets one header per rule; the limit comes from a second proxy in front.
    let front = FaultProxy::start(&proxy.host, |r| {
        if r.method == "GET" && r.path.contains("/manifests/") {
            Action::SetHeader {
                name: "RateLimit-Limit".into(),
                value: "100;w=21600".into(),
            }
        } else {
            Action::Pass
        }
    });
    let out = oci_copy(["inspect", NO_TLS, &front.url("lab/app:1")]);
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: rate limit: 76 of 100 requests left in a 6h window",
            front.host
        )),
        "{err}"
    );
}
