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

/// A proxy that answers the first manifest GET with `first` and passes everything else.
fn first_manifest_get(reg: &crate::support::registry::Registry, first: Action) -> FaultProxy {
    let done = std::sync::atomic::AtomicBool::new(false);
    FaultProxy::start(&reg.host, move |r| {
        let is_manifest = r.method == "GET" && r.path.contains("/manifests/");
        if is_manifest && !done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            first.clone()
        } else {
            Action::Pass
        }
    })
}

#[test]
fn a_retry_after_is_waited_for() {
    let reg = registry_with_image();
    let busy = Action::error(503, "UNAVAILABLE", &[("Retry-After", "1")]);
    let proxy = first_manifest_get(&reg, busy);
    let out = oci_copy(["inspect", "--raw", NO_TLS, FAST, &proxy.url("lab/app:1")]);
    assert_success(&out);
    let gets: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/manifests/"))
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    let waited = gets[1].at - gets[0].at;
    assert!(
        waited >= std::time::Duration::from_millis(950),
        "the retry came {waited:?} after the 503 with Retry-After: 1 (--retry-delay=10ms)"
    );
}

/// Peak RSS bound for the huge-reply tests: far above what oci-copy needs, far below the
/// 1 GiB the reply would take if it were held.
const PEAK_KIB: u64 = 64 << 10;

fn huge(status: u16, content_type: &str) -> Action {
    Action::Huge {
        status,
        content_type: content_type.to_string(),
        size: 1 << 30,
    }
}

#[test]
fn a_huge_manifest_reply_is_refused_without_being_held() {
    let reg = registry_with_image();
    let mt = "application/vnd.oci.image.manifest.v1+json";
    let proxy = first_manifest_get(&reg, huge(200, mt));
    let tmp = crate::support::tempdir();
    let dest = format!("oci:{}:x", crate::support::p(&tmp.path().join("l")));
    let url = proxy.url("lab/app:1");
    let (out, peak) =
        crate::support::peak::oci_copy_peak(&[NO_TLS, FAST, "--retry-times=0", &url, &dest]);
    assert_failure(&out, 1, &["pulling the manifest 1", "over the 4 MiB limit"]);
    assert!(peak < PEAK_KIB, "peak RSS {peak} KiB");
}

#[test]
fn a_huge_error_body_is_read_only_in_part() {
    let reg = registry_with_image();
    let proxy = first_manifest_get(&reg, huge(404, "text/plain"));
    let url = proxy.url("lab/app:1");
    let (out, peak) =
        crate::support::peak::oci_copy_peak(&["inspect", NO_TLS, "--retry-times=0", &url]);
    assert_failure(&out, 1, &["pulling the manifest 1", "HTTP 404", "xxxx"]);
    assert!(peak < PEAK_KIB, "peak RSS {peak} KiB");
}

/// A registry with bearer tokens whose token server sits behind a proxy answering
/// `/token` with `answer`; returns them with the proxy (keep all alive).
fn tokens_answering(
    answer: Action,
) -> (
    crate::support::token_server::TokenServer,
    FaultProxy,
    crate::support::registry::Registry,
) {
    let tokens = crate::support::token_server::TokenServer::start();
    let proxy = FaultProxy::start(&tokens.host, move |r| {
        if r.path.starts_with("/token") {
            answer.clone()
        } else {
            Action::Pass
        }
    });
    let reg = crate::support::registry::Registry::start_with_token_realm(&tokens, &proxy.host);
    (tokens, proxy, reg)
}

fn push_with_creds(
    reg: &crate::support::registry::Registry,
    extra: &[&str],
) -> std::process::Output {
    let creds = format!(
        "{}:{}",
        crate::support::registry::USER,
        crate::support::registry::PASSWORD
    );
    let src = crate::support::fixtures::Fixture::OciLayout.reference();
    let url = reg.url("lab/app:1");
    let mut args = vec![NO_TLS, FAST, "--retry-times=0", "--dest-creds", &creds];
    args.extend_from_slice(extra);
    args.extend([src.as_str(), url.as_str()]);
    oci_copy(&args)
}

#[test]
fn a_token_server_answering_garbage_is_named_as_such() {
    for (body, shown) in [
        ("<html>maintenance</html>", "<html>maintenance</html>"),
        ("", "(empty)"),
    ] {
        let answer = Action::Respond {
            status: 200,
            headers: vec![],
            body: body.to_string(),
        };
        let (_tokens, proxy, reg) = tokens_answering(answer);
        let out = push_with_creds(&reg, &[]);
        let line = assert_failure(
            &out,
            1,
            &[
                &format!(
                    "the token server at http://{}/token answered 200",
                    proxy.host
                ),
                "with a body that is not a token",
                shown,
            ],
        );
        assert!(!line.contains("were refused"), "{line}");
    }
}

#[test]
fn a_token_server_failing_is_named_with_its_status() {
    let answer = Action::error(500, "INTERNAL", &[]);
    let (_tokens, proxy, reg) = tokens_answering(answer);
    let out = push_with_creds(&reg, &[]);
    let line = assert_failure(
        &out,
        75,
        &[&format!(
            "the token server at http://{}/token answered HTTP 500",
            proxy.host
        )],
    );
    assert!(!line.contains("were refused"), "{line}");
}

#[test]
fn a_huge_token_reply_is_refused_without_being_held() {
    let (_tokens, _proxy, reg) = tokens_answering(huge(200, "application/json"));
    let creds = format!(
        "{}:{}",
        crate::support::registry::USER,
        crate::support::registry::PASSWORD
    );
    let url = reg.url("lab/app:1");
    let (out, peak) = crate::support::peak::oci_copy_peak(&[
        "inspect",
        NO_TLS,
        "--retry-times=0",
        "--creds",
        &creds,
        &url,
    ]);
    assert_failure(&out, 1, &["token server", "over the 4 MiB limit"]);
    assert!(peak < PEAK_KIB, "peak RSS {peak} KiB");
}

/// The registry is pinged once per run, and a request authenticates only when asked: a push
/// of a 3-layer image makes one `GET /v2/`. Prints the request count (the figure the
/// closing note of issue 14 gives).
#[test]
fn a_push_pings_the_registry_once() {
    let reg = crate::support::registry::Registry::start();
    let proxy = FaultProxy::start(&reg.host, |_| Action::Pass);
    let tmp = crate::support::tempdir();
    let src = tmp.path().join("src");
    crate::signals::generated_layout(&src, "three", &[4096, 8192, 16384], 3);
    let out = oci_copy([
        "-q",
        NO_TLS,
        &format!("oci:{}:three", crate::support::p(&src)),
        &proxy.url("lab/three:1"),
    ]);
    assert_success(&out);
    let log = proxy.requests();
    let pings = log.iter().filter(|r| r.path == "/v2/").count();
    eprintln!(
        "push of a 3-layer image: {} requests, {pings} of them GET /v2/: {:?}",
        log.len(),
        log.iter()
            .map(|r| format!("{} {}", r.method, r.path.split('?').next().unwrap_or("")))
            .collect::<Vec<_>>()
    );
    assert_eq!(pings, 1, "{log:?}");
}

/// Requests that start together wait for one ping: a sync's tag lists, asked of several
/// repositories at once, make one `GET /v2/` to the source, not one each.
#[test]
fn a_sync_of_several_repositories_pings_the_source_once() {
    let src = crate::support::registry::Registry::start();
    let dst = crate::support::registry::Registry::start();
    for repo in ["a", "b", "c", "d", "e"] {
        let to = src.url(&format!("lab/{repo}:1"));
        let from = crate::support::fixtures::Fixture::OciLayout.reference();
        assert_success(&oci_copy(["-q", NO_TLS, "--no-read-back", &from, &to]));
    }
    let proxy = FaultProxy::start(&src.host, |_| Action::Pass);
    let tmp = crate::support::tempdir();
    let yaml = tmp.path().join("sync.yml");
    let repos: String = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|r| format!("    lab/{r}: []\n"))
        .collect();
    std::fs::write(
        &yaml,
        format!("{}:\n  tls-verify: false\n  images:\n{repos}", proxy.host),
    )
    .unwrap();
    let out = oci_copy([
        "sync",
        NO_TLS,
        "-q",
        "--src",
        "yaml",
        "--dest",
        "docker",
        yaml.to_str().unwrap(),
        &format!("{}/m", dst.host),
    ]);
    assert_success(&out);
    let log = proxy.requests();
    let pings = log.iter().filter(|r| r.path == "/v2/").count();
    let lists = log.iter().filter(|r| r.path.contains("/tags/list")).count();
    assert_eq!(lists, 5, "{log:?}");
    assert_eq!(pings, 1, "{log:?}");
}
