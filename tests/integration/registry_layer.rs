//! The registry HTTP layer against a real `docker-registry` behind the fault proxy: every
//! request of every command goes through the stall guard (tag lists, cross-repository
//! mounts), every body is read through a limit (a huge manifest, token or error reply is
//! refused without being held), `Retry-After` is waited for, and the token server's own
//! failures are named as such.

use crate::reliability_registry::registry_with_image;
use crate::support::fault_proxy::{Action, FaultProxy};
use crate::support::{assert_failure, assert_success, describe, oci_copy};

const NO_TLS: &str = "--tls-verify=false";
const FAST: &str = "--retry-delay=10ms";

#[test]
fn list_tags_gives_up_on_a_registry_that_never_answers() {
    let reg = registry_with_image();
    let proxy = FaultProxy::start(&reg.host, |r| {
        if r.path.contains("/tags/list") {
            Action::Stall
        } else {
            Action::Pass
        }
    });
    let out = oci_copy([
        "list-tags",
        NO_TLS,
        FAST,
        "--stall-timeout=500ms",
        "--retry-times=1",
        &proxy.url("lab/app"),
    ]);
    assert_failure(
        &out,
        75,
        &["listing tags", "stalled", "--stall-timeout", "2 attempts"],
    );
}

#[test]
fn a_mount_the_registry_never_answers_is_given_up_for_an_upload() {
    let reg = registry_with_image();
    let proxy = FaultProxy::start(&reg.host, |r| {
        if r.method == "POST" && r.path.contains("mount=") {
            Action::Stall
        } else {
            Action::Pass
        }
    });
    let started = std::time::Instant::now();
    let out = oci_copy([
        "--debug",
        NO_TLS,
        FAST,
        "--stall-timeout=1s",
        &proxy.url("lab/app:1"),
        &proxy.url("lab/other:1"),
    ]);
    assert_success(&out);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("mounting the blob") && log.contains("stalled"),
        "{}",
        describe(&out)
    );
    let mounts = proxy
        .requests()
        .iter()
        .filter(|r| r.path.contains("mount="))
        .count();
    assert!(mounts >= 1, "no mount was tried");
    // A bound far above the 1 s limit and far below the proxy's 30 s hold.
    assert!(started.elapsed().as_secs() < 25, "{:?}", started.elapsed());
}
