//! Two real `docker-registry` replicas behind Debian's nginx (`support/balancer.rs`): the
//! setups are what they claim (shared storage or not, upload sessions honoured across
//! replicas or not, nginx spreading requests by its scheme), and a healthy HA pair takes a
//! push of a multi-layer image without a warning and serves it to skopeo every time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Output;

use sha2::Digest;

use crate::support::balancer::{Balancer, Scheme, Setup};
use crate::support::fixtures::Fixture;
use crate::support::registry::oci_copy_env;
use crate::support::{assert_success, describe, judges, p, tempdir};

const NO_TLS: &str = "--tls-verify=false";

/// Pushes the two-layer OCI fixture to `url` through oci-copy; returns its output and the
/// digest of the manifest it says it wrote (`--digestfile`), if it wrote it. Retries wait
/// 100 ms instead of backing off to seconds: the broken pairs make every push retry, and
/// the wait changes nothing but the time the suite takes.
pub fn push(url: &str) -> (Output, Option<String>) {
    let home = tempdir();
    let digestfile = home.path().join("digest");
    let out = oci_copy_env(
        &[
            NO_TLS,
            "--retry-delay=100ms",
            "--digestfile",
            &p(&digestfile),
            &Fixture::OciLayout.reference(),
            url,
        ],
        home.path(),
        &[],
    );
    (out, std::fs::read_to_string(&digestfile).ok())
}

/// skopeo copies `url` into a `dir:` (verifying every blob) and gives the digest of the
/// manifest it got, or its output when it fails.
pub fn skopeo_pull(url: &str) -> Result<String, Output> {
    let tmp = tempdir();
    let dir = tmp.path().join("img");
    let out = judges::skopeo(&[
        "--insecure-policy",
        "copy",
        "--quiet",
        "--retry-times=0",
        "--src-tls-verify=false",
        url,
        &format!("dir:{}", p(&dir)),
    ]);
    if !out.status.success() {
        return Err(out);
    }
    let manifest = std::fs::read(dir.join("manifest.json")).expect("skopeo wrote manifest.json");
    Ok(format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(manifest))
    ))
}

/// `METHOD path` with `body` on `host` (one request, one connection): the status and the
/// response head.
fn http(host: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    // A replica that refuses a PUT answers before reading its body, and then resets the
    // connection: the answer read before the reset is the answer.
    let mut raw = Vec::new();
    let read = s.read_to_end(&mut raw);
    let resp = String::from_utf8_lossy(&raw);
    assert!(
        !raw.is_empty(),
        "{method} {path} on {host}: no answer ({read:?})"
    );
    let status = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
    let head = resp.split("\r\n\r\n").next().unwrap_or("").to_string();
    (status, head)
}

/// Starts an upload session on `from` and finishes it on `to` with one PUT: the status.
fn upload_across(from: &str, to: &str, blob: &[u8]) -> u16 {
    let (status, head) = http(from, "POST", "/v2/lab/sessions/blobs/uploads/", b"");
    assert_eq!(status, 202, "POST on {from}\n{head}");
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .unwrap_or_else(|| panic!("no Location\n{head}"));
    let path = location
        .strip_prefix(&format!("http://{from}"))
        .unwrap_or(location);
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(blob)));
    let sep = if path.contains('?') { '&' } else { '?' };
    http(to, "PUT", &format!("{path}{sep}digest={digest}"), blob).0
}

#[test]
fn the_setups_share_storage_and_sessions_as_they_claim() {
    for setup in Setup::ALL {
        let bal = Balancer::start(setup, Scheme::RoundRobin);
        let [a, b] = [&bal.replicas[0].host, &bal.replicas[1].host];
        let blob = format!("a blob for {setup:?}").into_bytes();
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&blob)));
        assert_eq!(upload_across(a, a, &blob), 201, "{setup:?}: on one replica");
        let (seen, _) = http(b, "HEAD", &format!("/v2/lab/sessions/blobs/{digest}"), b"");
        let shared = setup != Setup::SplitBrain;
        assert_eq!(seen, if shared { 200 } else { 404 }, "{setup:?}: storage");
        let across = upload_across(a, b, b"another blob");
        if setup == Setup::Healthy {
            assert_eq!(
                across, 201,
                "{setup:?}: a session continued on the other replica"
            );
        } else {
            assert!(
                across == 400 || across == 404,
                "{setup:?}: a session continued on the other replica got {across}"
            );
        }
    }
}

#[test]
fn nginx_spreads_requests_over_both_replicas_by_its_scheme() {
    for scheme in Scheme::ALL {
        let bal = Balancer::start(Setup::SplitBrain, scheme);
        let blob = b"on the first replica only";
        let a = &bal.replicas[0].host;
        assert_eq!(upload_across(a, a, blob), 201);
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(blob)));
        let path = format!("/v2/lab/sessions/blobs/{digest}");
        let seen: Vec<u16> = (0..20)
            .map(|_| http(&bal.nginx.host, "HEAD", &path, b"").0)
            .collect();
        assert!(
            seen.contains(&200) && seen.contains(&404),
            "{scheme:?}: {seen:?}\n{}",
            bal.nginx.error_log()
        );
        if scheme == Scheme::RoundRobin {
            assert!(seen.windows(2).all(|w| w[0] != w[1]), "in turn: {seen:?}");
        }
    }
}

fn healthy_push_is_served_every_time(scheme: Scheme) {
    let bal = Balancer::start(Setup::Healthy, scheme);
    let url = bal.url("lab/app:1");
    let (out, digest) = push(&url);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        !stderr.contains("warn"),
        "a healthy pair got a warning\n{}",
        describe(&out)
    );
    let digest = digest.expect("oci-copy wrote the digest file");
    assert_eq!(
        Some(digest.clone()),
        Fixture::OciLayout.expected().kept_digest
    );
    for i in 1..=10 {
        match skopeo_pull(&url) {
            Ok(pulled) => assert_eq!(pulled, digest, "pull {i}"),
            Err(e) => panic!(
                "skopeo pull {i} of 10 through the balancer failed\n{}\n{}",
                describe(&e),
                bal.nginx.error_log()
            ),
        }
    }
}

#[test]
fn healthy_replicas_round_robin_take_a_push_and_serve_it_10_times() {
    healthy_push_is_served_every_time(Scheme::RoundRobin);
}

#[test]
fn healthy_replicas_random_take_a_push_and_serve_it_10_times() {
    healthy_push_is_served_every_time(Scheme::Random);
}
