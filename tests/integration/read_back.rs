//! The read-back after a push: a push is done only when the registry serves what it
//! accepted. Against a real registry it costs HEADs and passes; through the fault proxy a
//! registry that answers 201 to the manifest PUT but 404 to the HEAD after it fails the
//! copy with exit 1 and the diagnosis; two replicas with separate storage behind a
//! round-robin proxy never give exit 0 with an image that cannot be pulled.

use crate::support::fault_proxy::{Action, FaultProxy};
use crate::support::fixtures::Fixture;
use crate::support::oci_copy;
use crate::support::registry::Registry;
use crate::support::replicas::Replicas;
use crate::support::{assert_failure, assert_success};

const NO_TLS: &str = "--tls-verify=false";

#[test]
fn a_push_to_a_healthy_registry_reads_every_object_back_several_times() {
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg.host, |_| Action::Pass);
    let src = Fixture::OciLayout.reference();
    let dest = format!("docker://{}/lab/rb:1", proxy.host);
    let out = oci_copy([NO_TLS, &src, &dest]);
    assert_success(&out);
    let heads: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "HEAD" && r.at > proxy_put_time(&proxy))
        .map(|r| r.path)
        .collect();
    // The config, each layer and the manifest the tag names 3 times, the tag 8 times.
    let blobs = 1 + layer_count(&src);
    assert_eq!(heads.len(), 3 * (blobs + 1) + 8, "{heads:#?}");
    assert!(
        heads.iter().any(|p| p == "/v2/lab/rb/manifests/1"),
        "{heads:#?}"
    );
}

/// When the last manifest PUT reached the proxy.
fn proxy_put_time(proxy: &FaultProxy) -> std::time::Instant {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/manifests/"))
        .map(|r| r.at)
        .max()
        .expect("the manifest was PUT")
}

fn layer_count(src: &str) -> usize {
    let out = oci_copy(["inspect", "--raw", src]);
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["layers"].as_array().unwrap().len()
}

#[test]
fn a_registry_that_accepts_a_manifest_it_then_cannot_serve_fails_the_push() {
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg.host, |r| {
        if r.method == "HEAD" && r.path == "/v2/lab/lost/manifests/1" {
            Action::Respond {
                status: 404,
                headers: vec![],
                body: String::new(),
            }
        } else {
            Action::Pass
        }
    });
    let src = Fixture::OciLayout.reference();
    let dest = format!("docker://{}/lab/lost:1", proxy.host);
    let out = oci_copy([NO_TLS, &src, &dest]);
    assert_failure(
        &out,
        1,
        &[
            "the push was accepted, but reading it back found 1 object it cannot serve: the tag 1: missing (404) on reads 1, 2, 3, 4, 5, 6, 7, 8 of 8",
            "without shared storage or without the same http.secret",
            &format!("oci-copy probe docker://{}/lab/lost", proxy.host),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("Copied oci:"), "{err}");
    // --no-read-back: the same push is done when the PUT is accepted.
    let out = oci_copy([NO_TLS, "--no-read-back", &src, &dest]);
    assert_success(&out);
}

#[test]
fn split_brain_replicas_never_give_exit_0_with_an_image_that_cannot_be_pulled() {
    let src = Fixture::OciLayout.reference();
    for i in 0..4 {
        let r = Replicas::start();
        let dest = r.proxy.url(&format!("lab/split:{i}"));
        let out = oci_copy([NO_TLS, "--retry-times=1", "--retry-delay=10ms", &src, &dest]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        match out.status.code() {
            Some(0) => {
                // Then the image must be servable through the balancer, read after read.
                for _ in 0..4 {
                    let back = oci_copy(["inspect", NO_TLS, &dest]);
                    assert_success(&back);
                }
            }
            Some(1 | 75) => assert!(
                err.contains("replicas") || err.contains("load balancer"),
                "push {i}: {err}"
            ),
            c => panic!("push {i}: exit {c:?}\n{err}"),
        }
    }
}

#[test]
fn a_push_whose_writes_all_reached_one_replica_fails_the_read_back() {
    // Two replicas with separate storage: every request goes to the first, but HEADs go to
    // each in turn, as behind a balancer whose sticky sessions cover only the writes.
    let (a, b) = (Registry::start(), Registry::start());
    let proxy = FaultProxy::round_robin(&[&a.host, &b.host], |r| {
        if r.method == "HEAD" && r.path != "/v2/" {
            Action::Pass
        } else {
            Action::PassTo(0)
        }
    });
    let src = Fixture::OciLayout.reference();
    let dest = format!("docker://{}/lab/half:1", proxy.host);
    let out = oci_copy([NO_TLS, &src, &dest]);
    assert_failure(
        &out,
        1,
        &[
            "the push was accepted, but reading it back found",
            "the answers differ from read to read, the mark of registry replicas behind a load balancer",
            "missing (404) on read",
        ],
    );
    // The image is whole on the first replica: the writes were good, the registry is not.
    let direct = format!("docker://{}/lab/half:1", a.host);
    assert_success(&oci_copy(["inspect", NO_TLS, &direct]));
}

/// A proxy answering the first `refusals` manifest PUTs with `MANIFEST_BLOB_UNKNOWN`.
fn refusing_manifest_puts(reg: &Registry, refusals: usize) -> FaultProxy {
    answering_manifest_puts(
        reg,
        refusals,
        Action::error(400, "MANIFEST_BLOB_UNKNOWN", &[]),
    )
}

/// A proxy answering the first `n` manifest PUTs with `answer` in the registry's place.
fn answering_manifest_puts(reg: &Registry, n: usize, answer: Action) -> FaultProxy {
    let count = std::sync::atomic::AtomicUsize::new(0);
    FaultProxy::start(&reg.host, move |r| {
        let put = r.method == "PUT" && r.path.contains("/manifests/");
        if put && count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < n {
            answer.clone()
        } else {
            Action::Pass
        }
    })
}

/// The blob uploads the proxy saw after the first manifest PUT.
fn uploads_after_first_manifest_put(proxy: &FaultProxy) -> usize {
    let reqs = proxy.requests();
    let first = reqs
        .iter()
        .position(|r| r.method == "PUT" && r.path.contains("/manifests/"))
        .expect("a manifest PUT");
    reqs[first..]
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("/blobs/uploads/"))
        .count()
}

#[test]
fn a_manifest_refused_for_an_unknown_blob_is_pushed_again_with_every_blob() {
    let reg = Registry::start();
    let proxy = refusing_manifest_puts(&reg, 1);
    let src = Fixture::OciLayout.reference();
    let dest = format!("docker://{}/lab/again:1", proxy.host);
    let out = oci_copy([NO_TLS, &src, &dest]);
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pushing every blob of the image again, once"),
        "{err}"
    );
    // The config and each layer again, though the registry says it has them.
    assert_eq!(
        uploads_after_first_manifest_put(&proxy),
        1 + layer_count(&src)
    );
}

#[test]
fn a_blob_the_registry_could_not_stat_is_pushed_again_not_taken_for_a_type_refusal() {
    // Distribution's answer when a blob's stat fails with a storage error (a link file a
    // concurrent upload is rewriting): MANIFEST_INVALID first, MANIFEST_BLOB_UNKNOWN after.
    let reg = Registry::start();
    let proxy = answering_manifest_puts(
        &reg,
        1,
        Action::Respond {
            status: 400,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":{}},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:0"}]}"#.into(),
        },
    );
    let src = Fixture::OciLayout.reference();
    let dest = format!("docker://{}/lab/stat:1", proxy.host);
    let out = oci_copy([NO_TLS, &src, &dest]);
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pushing every blob of the image again, once"),
        "{err}"
    );
    // The manifest is stored as it was, not converted to another format.
    let raw = |r: &str| {
        crate::support::judges::skopeo(&["inspect", "--raw", "--tls-verify=false", r]).stdout
    };
    let stored = raw(&format!("docker://{}/lab/stat:1", reg.host));
    assert!(!stored.is_empty());
    assert_eq!(stored, raw(&src));
}

#[test]
fn a_manifest_refused_twice_for_an_unknown_blob_fails_with_the_cause() {
    let reg = Registry::start();
    let proxy = refusing_manifest_puts(&reg, 2);
    let src = Fixture::OciLayout.reference();
    let dest = format!("docker://{}/lab/never:1", proxy.host);
    let out = oci_copy([NO_TLS, &src, &dest]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        crate::support::describe(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    for want in [
        "oci-copy: copying ",
        "every blob was pushed again and the destination still does not know one",
        "MANIFEST_BLOB_UNKNOWN",
        "replicas behind a load balancer",
        "`oci-copy probe` on the repository confirms the cause",
    ] {
        assert!(last.contains(want), "the error lacks {want:?}\n{err}");
    }
    let puts = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/manifests/"))
        .count();
    assert_eq!(puts, 2, "offered once, then once more after the re-push");
}
