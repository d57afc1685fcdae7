//! Connections that stall without closing, through the fault proxy in front of a real
//! `docker-registry`: a download that goes silent half-way resumes with a Range request
//! once `--stall-timeout` passes; a registry that never answers a request, stops taking an
//! upload's bytes, or never answers an upload, is retried and then given up on with exit 75
//! and a message naming the stall.
//! Nothing here waits for ever: the proxy lets go of a connection after 30 s.

use crate::reliability_registry::{pull_faulting_first_downloads, registry_with_image};
use crate::support::fault_proxy::{Action, FaultProxy};
use crate::support::fixtures::Fixture;
use crate::support::registry::Registry;
use crate::support::{assert_failure, describe, oci_copy, p, tempdir};

const NO_TLS: &str = "--tls-verify=false";
const FAST: &str = "--retry-delay=10ms";
const STALL: &str = "--stall-timeout=500ms";

#[test]
fn a_download_that_goes_silent_resumes_with_a_range_request() {
    let (out, _) = pull_faulting_first_downloads(|| Action::StallBody, &[STALL]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("the download stalled"), "{}", describe(&out));
    assert!(
        log.contains("resuming with Range: bytes="),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_registry_that_never_answers_is_given_up_on_with_exit_75() {
    let reg = registry_with_image();
    let proxy = FaultProxy::start(&reg.host, |r| {
        if r.path.contains("/manifests/") {
            Action::Stall
        } else {
            Action::Pass
        }
    });
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    let out = oci_copy([
        NO_TLS,
        FAST,
        STALL,
        "--retry-times=1",
        &proxy.url("lab/app:1"),
        &format!("oci:{}:pulled", p(&layout)),
    ]);
    assert_failure(
        &out,
        75,
        &[
            "pulling the manifest",
            "stalled",
            "--stall-timeout",
            "2 attempts",
        ],
    );
    assert!(!layout.exists());
}

#[test]
fn an_upload_the_registry_never_answers_is_retried_then_given_up_on() {
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg.host, |r| {
        // The request that ends an upload (monolithic PUT with ?digest=).
        if r.method == "PUT" && r.path.contains("/blobs/uploads/") {
            Action::Stall
        } else {
            Action::Pass
        }
    });
    let out = oci_copy([
        NO_TLS,
        FAST,
        STALL,
        "--retry-times=1",
        &Fixture::OciLayout.reference(),
        &proxy.url("lab/stuck:1"),
    ]);
    assert_failure(
        &out,
        75,
        &["the answer to the upload", "stalled", "2 attempts"],
    );
    let puts = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/"))
        .count();
    assert!(puts >= 2, "the upload was not retried: {puts} PUT(s)");
}

#[test]
fn an_upload_whose_bytes_stop_being_taken_is_retried_then_given_up_on() {
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg.host, |r| {
        if r.method == "PUT" && r.path.contains("/blobs/uploads/") {
            Action::StallUnread
        } else {
            Action::Pass
        }
    });
    // A layer far larger than the socket buffers, so that the sender blocks.
    let tmp = tempdir();
    let src = tmp.path().join("src");
    crate::signals::generated_layout(&src, "big", &[48 << 20], 5);
    let out = oci_copy([
        NO_TLS,
        FAST,
        STALL,
        "--retry-times=1",
        &format!("oci:{}:big", p(&src)),
        &proxy.url("lab/unread:1"),
    ]);
    assert_failure(&out, 75, &["the upload stalled", "2 attempts"]);
}
