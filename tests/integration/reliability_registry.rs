//! Registry faults, through a fault-injecting proxy in front of a real `docker-registry`:
//! a download cut off half-way resumes with a Range request; 503 and 429 are retried; a
//! registry that stays down exits 75 naming the status; a lost upload session restarts in a
//! fresh one; a blob served with the wrong content fails at once with the digest mismatch
//! and tags nothing; and two replicas that share no storage, behind a round-robin proxy,
//! fail the push with a message that names the cause.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::check::check_oci_layout;
use crate::support::fault_proxy::{Action, FaultProxy, Request};
use crate::support::fixtures::Fixture;
use crate::support::registry::{oci_copy_env, Registry, PASSWORD, USER};
use crate::support::{assert_failure, assert_success, describe, oci_copy, p, tempdir};

const NO_TLS: &str = "--tls-verify=false";
const FAST: &str = "--retry-delay=10ms";

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A registry holding the OCI fixture at `lab/app:1`.
pub fn registry_with_image() -> Registry {
    let reg = Registry::start();
    let out = oci_copy([
        "-q",
        NO_TLS,
        &Fixture::OciLayout.reference(),
        &reg.url("lab/app:1"),
    ]);
    assert_success(&out);
    reg
}

/// Pulls `lab/app:1` (with `--debug` and `extra` options) into a new layout through a
/// proxy that answers the first download of every blob with `first()`; checks that the
/// image arrived whole, and returns the output and every request the proxy saw.
pub fn pull_faulting_first_downloads(
    first: fn() -> Action,
    extra: &[&str],
) -> (std::process::Output, Vec<Request>) {
    let reg = registry_with_image();
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let proxy = FaultProxy::start(&reg.host, move |r| {
        if r.is_blob_get() && seen.lock().unwrap().insert(r.path.clone()) {
            first()
        } else {
            Action::Pass
        }
    });
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    let target = format!("oci:{}:pulled", p(&layout));
    let url = proxy.url("lab/app:1");
    let mut args = vec!["--debug", NO_TLS, FAST];
    args.extend_from_slice(extra);
    args.extend([url.as_str(), target.as_str()]);
    let out = oci_copy(&args);
    assert_success(&out);
    let report = check_oci_layout(&layout);
    assert_eq!(
        report.tagged("pulled").images[0].config_digest,
        Fixture::OciLayout.expected().config_digest
    );
    (out, proxy.requests())
}

#[test]
fn a_download_cut_off_half_way_resumes_with_a_range_request() {
    let (out, requests) = pull_faulting_first_downloads(|| Action::CutBodyInHalf, &[]);
    let ranged: Vec<_> = requests
        .into_iter()
        .filter(|r| r.is_blob_get())
        .filter_map(|r| r.range)
        .collect();
    assert!(
        ranged
            .iter()
            .any(|r| r.starts_with("bytes=") && !r.starts_with("bytes=0-")),
        "no Range request resumed a download: {ranged:?}\n{}",
        describe(&out)
    );
    assert!(
        stderr(&out).contains("resuming with Range: bytes="),
        "{}",
        describe(&out)
    );
}

#[test]
fn status_503_and_429_are_retried_until_the_registry_answers() {
    let reg = Registry::start();
    let seen = Arc::new(AtomicUsize::new(0));
    let proxy = FaultProxy::start(&reg.host, move |r| {
        if !r.path.starts_with("/v2/") || r.path == "/v2/" {
            return Action::Pass;
        }
        // The first repository requests get 503, then 429 with Retry-After.
        match seen.fetch_add(1, Ordering::SeqCst) {
            0..=1 => Action::error(503, "UNAVAILABLE", &[]),
            2 | 6 => Action::error(429, "TOOMANYREQUESTS", &[("Retry-After", "0")]),
            _ => Action::Pass,
        }
    });
    let url = proxy.url("lab/retried:1");
    let out = oci_copy([
        "--debug",
        NO_TLS,
        FAST,
        &Fixture::OciLayout.reference(),
        &url,
    ]);
    assert_success(&out);
    let log = stderr(&out);
    assert!(log.contains("retry 1/3"), "{}", describe(&out));
    assert!(log.contains("HTTP 503"), "{}", describe(&out));
    assert!(log.contains("TOOMANYREQUESTS"), "{}", describe(&out));
    // The image arrived whole: pull it back directly and check it.
    let tmp = tempdir();
    let layout = tmp.path().join("l");
    assert_success(&oci_copy([
        NO_TLS,
        &reg.url("lab/retried:1"),
        &format!("oci:{}:x", p(&layout)),
    ]));
    check_oci_layout(&layout);
    // inspect and list-tags retry too.
    let seen = Arc::new(AtomicUsize::new(0));
    let flaky = FaultProxy::start(&reg.host, move |_| {
        if seen.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            Action::error(502, "UNAVAILABLE", &[])
        } else {
            Action::Pass
        }
    });
    let out = oci_copy(["inspect", NO_TLS, FAST, &flaky.url("lab/retried:1")]);
    assert_success(&out);
    let out = oci_copy(["list-tags", NO_TLS, FAST, &flaky.url("lab/retried")]);
    assert_success(&out);
}

#[test]
fn a_registry_that_stays_unavailable_exits_75_naming_the_status() {
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg.host, |_| Action::Respond {
        status: 503,
        headers: vec![],
        body: "down for maintenance".into(),
    });
    let out = oci_copy([
        NO_TLS,
        FAST,
        "--retry-times=2",
        &Fixture::OciLayout.reference(),
        &proxy.url("lab/down:1"),
    ]);
    assert_failure(
        &out,
        75,
        &["HTTP 503", "gave up after 3 attempts", "try again later"],
    );
    let out = oci_copy([
        "inspect",
        NO_TLS,
        FAST,
        "--retry-times=1",
        &proxy.url("lab/down:1"),
    ]);
    assert_failure(&out, 75, &["HTTP 503", "gave up after 2 attempts"]);
    // Nothing listens: connection refused is temporary too.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = oci_copy([
        "inspect",
        NO_TLS,
        FAST,
        "--retry-times=1",
        &format!("docker://127.0.0.1:{port}/lab/none:1"),
    ]);
    assert_failure(&out, 75, &["gave up after 2 attempts"]);
    // Permanent failures are not retried and exit 1.
    let out = oci_copy([
        "--debug",
        "inspect",
        NO_TLS,
        FAST,
        &reg.url("lab/missing:1"),
    ]);
    assert_failure_with_debug(&out, 1, "MANIFEST_UNKNOWN");
    assert!(!stderr(&out).contains("retry 1/"), "{}", describe(&out));
}

/// `assert_failure` for a run with `--debug`, whose stderr holds log lines too.
fn assert_failure_with_debug(out: &std::process::Output, code: i32, needle: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
    let last = stderr(out).lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("oci-copy: ") && last.contains(needle),
        "{}",
        describe(out)
    );
}

#[test]
fn a_lost_upload_session_restarts_in_a_fresh_one() {
    let reg = Registry::start();
    // The first PUT (monolithic upload of the config) and the first PATCH (chunked upload
    // of a layer gzipped on the way) on a session URL are answered 404 BLOB_UPLOAD_UNKNOWN.
    let lost = [("PUT", AtomicUsize::new(0)), ("PATCH", AtomicUsize::new(0))];
    let proxy = FaultProxy::start(&reg.host, move |r| {
        for (method, n) in &lost {
            if r.is_session_write() && r.method == *method && n.fetch_add(1, Ordering::SeqCst) == 0
            {
                return Action::error(404, "BLOB_UPLOAD_UNKNOWN", &[]);
            }
        }
        Action::Pass
    });
    let url = proxy.url("lab/session:1");
    let out = oci_copy([
        "--debug",
        NO_TLS,
        FAST,
        &Fixture::DockerLegacy.reference(),
        &url,
    ]);
    assert_success(&out);
    let log = stderr(&out);
    assert!(
        log.matches("the registry lost the upload session").count() >= 2,
        "{}",
        describe(&out)
    );
    let tmp = tempdir();
    let layout = tmp.path().join("l");
    assert_success(&oci_copy([
        NO_TLS,
        &reg.url("lab/session:1"),
        &format!("oci:{}:x", p(&layout)),
    ]));
    let report = check_oci_layout(&layout);
    assert_eq!(
        report.tagged("x").images[0].diff_ids,
        Fixture::DockerLegacy.expected().diff_ids
    );
}

#[test]
fn a_blob_with_the_wrong_content_fails_at_once_and_tags_nothing() {
    let reg = registry_with_image();
    let dst = Registry::start();
    let layer = crate::support::layout::manifest(&crate::support::testdata("oci-layout"), "latest")
        ["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let target = layer.clone();
    let proxy = FaultProxy::start(&reg.host, move |r| {
        if r.is_blob_get() && r.path.ends_with(&target) {
            Action::CorruptBody
        } else {
            Action::Pass
        }
    });
    let out = oci_copy([
        NO_TLS,
        FAST,
        &proxy.url("lab/app:1"),
        &dst.url("lab/copy:1"),
    ]);
    assert_failure(&out, 1, &["digest mismatch", &layer]);
    let gets = proxy
        .requests()
        .iter()
        .filter(|r| r.is_blob_get() && r.path.ends_with(&layer))
        .count();
    assert_eq!(gets, 1, "a digest mismatch must not be retried");
    let out = oci_copy(["inspect", NO_TLS, &dst.url("lab/copy:1")]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the tag must not exist\n{}",
        describe(&out)
    );
}

#[test]
fn replicas_without_shared_storage_fail_the_push_naming_the_cause() {
    // Two registries, each with its own storage and (none being configured) its own random
    // http.secret, behind a proxy that sends each repository request to the next one in
    // turn: an upload begun on one replica is unknown to the other.
    let a = Registry::start();
    let b = Registry::start();
    let lb = FaultProxy::round_robin(&[&a.host, &b.host], |_| Action::Pass);
    let out = oci_copy([
        "-j",
        "1",
        NO_TLS,
        FAST,
        "--retry-times=2",
        &Fixture::OciLayout.reference(),
        &lb.url("lab/app:1"),
    ]);
    assert_failure(
        &out,
        75,
        &[
            "lost the upload session on each of 3 attempts",
            "replicas",
            "load balancer",
            "storage",
            "http.secret",
            "REGISTRY_HTTP_SECRET",
            "NFS",
            "single replica",
        ],
    );
}

#[test]
fn no_secret_in_debug_output_errors_or_urls() {
    let reg = Registry::start_with(crate::support::registry::Options {
        tls: false,
        htpasswd: true,
        ..Default::default()
    });
    let home = tempdir();
    let seen = Arc::new(AtomicUsize::new(0));
    let proxy = FaultProxy::start(&reg.host, move |r| {
        // Two failures on authenticated requests, so that they are sent again.
        let n = seen.fetch_add(1, Ordering::SeqCst);
        if r.path != "/v2/" && (n == 3 || n == 8) {
            Action::error(503, "UNAVAILABLE", &[])
        } else {
            Action::Pass
        }
    });
    let creds = format!("{USER}:{PASSWORD}");
    let url = proxy.url("secret/app:1");
    let src = Fixture::OciLayout.reference();
    let out = oci_copy_env(
        &["--debug", NO_TLS, FAST, "--dest-creds", &creds, &src, &url],
        home.path(),
        &[],
    );
    assert_success(&out);
    let b64 = "dGVzdGVyOnMzY3JldC1QYXNz"; // base64 of USER:PASSWORD
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        !all.contains(PASSWORD) && !all.contains(b64),
        "a secret leaked:\n{all}"
    );
    // Wrong credentials and a reference with credentials in it: no secret in the error.
    let out = oci_copy_env(
        &[
            "--debug",
            NO_TLS,
            FAST,
            "--dest-creds",
            "tester:wrong-Secret",
            &src,
            &url,
        ],
        home.path(),
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(!stderr(&out).contains("wrong-Secret"), "{}", describe(&out));
    let with_creds = format!("docker://{USER}:{PASSWORD}@{}/secret/app:1", reg.host);
    let out = oci_copy_env(&["inspect", NO_TLS, &with_creds], home.path(), &[]);
    let line = assert_failure(
        &out,
        1,
        &["credentials cannot be part of a reference", "--creds"],
    );
    assert!(!line.contains(PASSWORD), "a secret leaked: {line}");
}
