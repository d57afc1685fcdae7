//! The exact one-line errors a user meets most, compared in full (temporary paths and
//! ports replaced by placeholders), so that a change of wording is a deliberate one: a
//! missing tag locally and in a registry, refused credentials, an upload session the
//! registry keeps losing, and a registry that stops answering.

use std::process::Output;

use crate::support::fault_proxy::{Action, FaultProxy};
use crate::support::fixtures::Fixture;
use crate::support::{oci_copy, p, tempdir, testdata};

const NO_TLS: &str = "--tls-verify=false";

/// The last stderr line, with `replace` pairs applied, and the exit status.
fn line(out: &Output, replace: &[(&str, &str)]) -> (Option<i32>, String) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut last = stderr.lines().last().unwrap_or_default().to_string();
    for (from, to) in replace {
        last = last.replace(from, to);
    }
    (out.status.code(), last)
}

#[test]
fn a_missing_local_tag() {
    let tmp = tempdir();
    let src = format!("oci:{}:nope", p(&testdata("oci-layout")));
    let out = oci_copy([&src, &format!("oci:{}:t", p(&tmp.path().join("out")))]);
    let (code, text) = line(
        &out,
        &[(&p(&testdata("")), "TESTDATA/"), (&p(tmp.path()), "TMP")],
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        text,
        "oci-copy: oci:TESTDATA/oci-layout:nope: tag \"nope\" not found; the layout has: latest"
    );
}

#[test]
fn a_missing_registry_tag() {
    let reg = crate::reliability_registry::registry_with_image();
    let out = oci_copy(["inspect", NO_TLS, &reg.url("lab/app:nope")]);
    let (code, text) = line(&out, &[(&reg.host, "HOST")]);
    assert_eq!(code, Some(1));
    assert_eq!(
        text,
        "oci-copy: inspecting docker://HOST/lab/app:nope: registry HOST, repository lab/app: pulling the manifest nope: MANIFEST_UNKNOWN: manifest unknown (hint: no such tag or digest; `oci-copy list-tags` shows the tags)"
    );
}

#[test]
fn refused_credentials() {
    let reg = crate::support::registry::Registry::start();
    let proxy = FaultProxy::start(&reg.host, |_| {
        Action::error(
            401,
            "UNAUTHORIZED",
            &[("WWW-Authenticate", "Basic realm=\"lab\"")],
        )
    });
    let out = oci_copy([
        "inspect",
        NO_TLS,
        "--creds",
        "me:wrong-secret",
        &proxy.url("lab/app:1"),
    ]);
    let (code, text) = line(&out, &[(&proxy.host, "HOST")]);
    assert!(!text.contains("wrong-secret"), "{text}");
    assert_eq!(code, Some(1));
    assert_eq!(
        text,
        "oci-copy: inspecting docker://HOST/lab/app:1: registry HOST, repository lab/app: pulling the manifest 1: UNAUTHORIZED: injected by the test proxy (hint: the credentials from --creds were refused; check --creds or log in again)"
    );
}

#[test]
fn an_upload_session_the_registry_keeps_losing() {
    let reg = crate::support::registry::Registry::start();
    let proxy = FaultProxy::start(&reg.host, |r| match r.is_session_write() {
        true => Action::error(404, "BLOB_UPLOAD_UNKNOWN", &[]),
        false => Action::Pass,
    });
    let out = oci_copy([
        NO_TLS,
        "--retry-times=1",
        "--retry-delay=10ms",
        "-j1",
        &Fixture::DockerLegacy.reference(),
        &proxy.url("lab/lost:1"),
    ]);
    let (code, text) = line(
        &out,
        &[(&proxy.host, "HOST"), (&p(&testdata("")), "TESTDATA/")],
    );
    assert_eq!(code, Some(75));
    assert_eq!(
        text,
        "oci-copy: copying docker-archive:TESTDATA/docker-legacy.tar to docker://HOST/lab/lost:1: storing the config: uploading the blob sha256:7d8a91e0345e3af38df9848fee392271eab755de8465a144b5b8b92cf99b32c1: registry HOST, repository lab/lost: uploading a blob: BLOB_UPLOAD_UNKNOWN: injected by the test proxy: the registry lost the upload session on each of 2 attempts. This usually means registry replicas behind a load balancer that share neither their storage nor their http.secret (REGISTRY_HTTP_SECRET), so an upload begun on one replica is unknown to the next; or storage on an unreliable shared filesystem such as NFS. To confirm: check that every replica uses the same storage backend and the same REGISTRY_HTTP_SECRET, and try pushing to a single replica directly, bypassing the load balancer; `oci-copy probe` on the repository shows the sessions vanish"
    );
}

#[test]
fn a_registry_that_stops_answering() {
    let reg = crate::reliability_registry::registry_with_image();
    let proxy = FaultProxy::start(&reg.host, |r| match r.path.contains("/manifests/") {
        true => Action::Stall,
        false => Action::Pass,
    });
    let tmp = tempdir();
    let out = oci_copy([
        NO_TLS,
        "--retry-times=0",
        "--stall-timeout=1s",
        &proxy.url("lab/app:1"),
        &format!("oci:{}:t", p(&tmp.path().join("out"))),
    ]);
    let (code, text) = line(&out, &[(&proxy.host, "HOST"), (&p(tmp.path()), "TMP")]);
    assert_eq!(code, Some(75));
    assert_eq!(
        text,
        "oci-copy: copying docker://HOST/lab/app:1 to oci:TMP/out:t: registry HOST, repository lab/app: pulling the manifest 1 stalled: nothing for 1s (--stall-timeout) (gave up after 1 attempt; this may pass: try again later)"
    );
}
