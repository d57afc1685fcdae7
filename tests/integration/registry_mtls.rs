//! TLS client certificates against a real `docker-registry` that requires one
//! (`http.tls.clientcas`): push, pull, a mounted registry-to-registry copy and tag lists
//! with a `--cert-dir` holding `ca.crt`, `client.cert` and `client.key`; clear one-line
//! failures without a certificate and with one the registry does not trust; and skopeo
//! reading the pushed image with the same directory.

use crate::support::check::check_oci_layout;
use crate::support::fixtures::Fixture;
use crate::support::layout::diff_ids;
use crate::support::registry::{make_cert_pair, oci_copy_env, Registry};
use crate::support::{assert_failure, assert_success, describe, p, tempdir};

#[test]
fn client_certificates_are_presented_to_a_registry_that_requires_them() {
    let reg = Registry::start_requiring_client_certs();
    let home = tempdir();
    let certs = p(reg.client_dir.as_ref().unwrap());
    let ca_only = p(reg.ca_dir.as_ref().unwrap());
    let run = |args: &[&str]| oci_copy_env(args, home.path(), &[]);
    let url = reg.url("mtls/app:1");
    let src = Fixture::OciLayout.reference();
    let want = Fixture::OciLayout.expected();

    // Push (through oci-client, so through the bridge) and pull back; the layout is sound.
    let out = run(&["-q", "--dest-cert-dir", &certs, &src, &url]);
    assert_success(&out);
    let layout = home.path().join("pulled");
    let out = run(&[
        "-q",
        "--cert-dir",
        &certs,
        &url,
        &format!("oci:{}:x", p(&layout)),
    ]);
    assert_success(&out);
    let report = check_oci_layout(&layout);
    assert_eq!(
        report.tagged("x").images[0].config_digest,
        want.config_digest
    );
    let raw = run(&["inspect", "--raw", "--cert-dir", &certs, &url]);
    assert_success(&raw);
    use sha2::Digest;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&raw.stdout)));
    assert_eq!(
        Some(digest),
        want.kept_digest,
        "the manifest must pass through"
    );

    // A 9 MiB layer, gzipped on the way: a chunked upload (PATCHes to the session URL the
    // registry gives, rewritten by the bridge), then streamed back down.
    let big = home.path().join("big");
    crate::signals::generated_layout(&big, "big", &[9 << 20], 7);
    let big_url = reg.url("mtls/big:1");
    let out = run(&[
        "--debug",
        "--cert-dir",
        &certs,
        &format!("oci:{}:big", p(&big)),
        &big_url,
    ]);
    assert_success(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chunked upload"),
        "{}",
        describe(&out)
    );
    let back = home.path().join("big-back");
    let out = run(&[
        "-q",
        "--cert-dir",
        &certs,
        &big_url,
        &format!("oci:{}:big", p(&back)),
    ]);
    assert_success(&out);
    check_oci_layout(&back);
    assert_eq!(diff_ids(&back, "big"), diff_ids(&big, "big"));

    // Within the registry, blobs are mounted (our own reqwest client, with the identity).
    let out = run(&[
        "--debug",
        "--cert-dir",
        &certs,
        &url,
        &reg.url("mtls/copy:2"),
    ]);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mounted blob"), "{}", describe(&out));
    assert!(
        !stderr.contains("ignoring the client certificate"),
        "{stderr}"
    );
    let tags = run(&["list-tags", "--cert-dir", &certs, &reg.url("mtls/copy")]);
    assert_success(&tags);
    assert!(
        String::from_utf8_lossy(&tags.stdout).contains("\"2\""),
        "{}",
        describe(&tags)
    );

    // skopeo, an independent client, reads the image with the same directory.
    let judge = crate::support::judges::skopeo(&["inspect", "--cert-dir", &certs, &url]);
    assert!(judge.status.success(), "{}", describe(&judge));

    // Without a client certificate the registry refuses the handshake: one line, exit 1,
    // naming the registry and saying that a client certificate is wanted.
    let dest = reg.url("mtls/app:3");
    let out = run(&["-q", "--dest-cert-dir", &ca_only, &src, &dest]);
    assert_failure(
        &out,
        1,
        &[
            &reg.host,
            "mtls/app",
            "requires a TLS client certificate",
            "--cert-dir",
        ],
    );
    let out = run(&["inspect", "--cert-dir", &ca_only, &url]);
    assert_failure(&out, 1, &[&reg.host, "requires a TLS client certificate"]);

    // A certificate the registry's CAs did not sign is refused, and the hint names it.
    let other = home.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(
        reg.ca_dir.as_ref().unwrap().join("ca.crt"),
        other.join("ca.crt"),
    )
    .unwrap();
    make_cert_pair(&other, "self-signed", None);
    let out = run(&["-q", "--dest-cert-dir", &p(&other), &src, &dest]);
    assert_failure(
        &out,
        1,
        &[
            &reg.host,
            "refused the TLS client certificate",
            "self-signed.cert",
        ],
    );
    let out = run(&["inspect", "--cert-dir", &p(&other), &url]);
    assert_failure(
        &out,
        1,
        &["pulling the manifest", "refused the TLS client certificate"],
    );
}

#[test]
fn unusable_client_certificates_are_reported_before_any_request() {
    let home = tempdir();
    let certs = home.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("client.cert"), "not a certificate").unwrap();
    std::fs::write(certs.join("client.key"), "not a key").unwrap();
    // Port 9 (discard) is never a registry: the error must come from reading the files.
    let out = oci_copy_env(
        &[
            "--cert-dir",
            &p(&certs),
            &Fixture::OciLayout.reference(),
            "docker://127.0.0.1:9/certs/app:1",
        ],
        home.path(),
        &[],
    );
    let line = assert_failure(&out, 1, &["client.cert", "client.key"]);
    assert!(line.contains("not a usable PEM"), "{line}");
}
