//! `copy --referrers` between real registries (distribution 2.8, which has no referrers
//! API: the referrers tag schema is exercised for real): a cosign legacy signature, an
//! SBOM and an attestation with `subject`, and a signature of the SBOM, all copied with
//! their digests, judged by the tests' own HTTP client, skopeo and openssl.

use crate::support::push::{get_manifest, manifest_json, tags};
use crate::support::referrers::{
    artifact, listed, openssl_verifies, push_signed, tag_index, Doc, Signed,
};
use crate::support::registry::Registry;
use crate::support::{assert_success, describe, oci_copy, tempdir};

/// Every referrer of `s` is at `host/repo` with its bytes, listed where the tag schema says.
pub fn assert_all_landed(host: &str, repo: &str, s: &Signed) {
    for doc in [&s.image, &s.sbom, &s.attestation, &s.sbom_sig] {
        let (status, bytes) = get_manifest(host, repo, &doc.digest);
        assert_eq!(status, 200, "{} missing at {host}/{repo}", doc.digest);
        assert_eq!(bytes, doc.bytes, "{} changed", doc.digest);
    }
    let (status, sig) = get_manifest(host, repo, &s.sig_tag);
    assert_eq!(
        (status, &sig),
        (200, &s.sig.bytes),
        "the cosign tag {}",
        s.sig_tag
    );
    let mut under_image = listed(host, repo, &s.image.digest);
    under_image.sort();
    let mut want = vec![s.sbom.digest.clone(), s.attestation.digest.clone()];
    want.sort();
    assert_eq!(
        under_image, want,
        "the sha256-<image> index at {host}/{repo}"
    );
    assert_eq!(
        listed(host, repo, &s.sbom.digest),
        vec![s.sbom_sig.digest.clone()]
    );
}

/// The copied legacy signature still verifies, with the payload as the destination serves it.
pub fn assert_signature_verifies(host: &str, repo: &str, s: &Signed) {
    let m = manifest_json(host, repo, &s.sig_tag);
    let layer = &m["layers"][0];
    let digest = layer["digest"].as_str().unwrap();
    let a =
        crate::support::push::request(host, "GET", &format!("/v2/{repo}/blobs/{digest}"), &[], b"");
    assert_eq!(a.status, 200);
    let payload: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(
        payload["critical"]["image"]["docker-manifest-digest"],
        s.image.digest.as_str()
    );
    let sig = layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap();
    assert!(
        openssl_verifies(&s.sig_dir, &a.body, sig),
        "openssl no longer verifies the signature"
    );
}

#[test]
fn registry_to_registry_through_the_tag_schema() {
    let (a, b) = (Registry::start(), Registry::start());
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", true, work.path());
    let out = oci_copy([
        "--debug",
        "copy",
        "--referrers",
        "--tls-verify=false",
        &a.url("lab/app:v1"),
        &b.url("mirror/app:v1"),
    ]);
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("answered 404: no referrers API, so the tag sha256-"),
        "{}",
        describe(&out)
    );
    assert!(err.contains("4 referrers copied"), "{}", describe(&out));
    assert!(
        err.contains("the registry answered no OCI-Subject"),
        "{}",
        describe(&out)
    );
    assert_all_landed(&b.host, "mirror/app", &s);
    assert_signature_verifies(&b.host, "mirror/app", &s);
    // skopeo reads every tag; all but the tag schema's indexes (written anew by the
    // merge) are the source's bytes.
    let all = tags(&b.host, "mirror/app");
    assert_eq!(
        all.len(),
        4,
        "v1, the .sig tag and two sha256-<hex> indexes: {all:?}"
    );
    for t in all {
        let raw = crate::support::registry::skopeo_http(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &b.url(&format!("mirror/app:{t}")),
        ]);
        if t.len() != "sha256-".len() + 64 {
            assert_eq!(raw, get_manifest(&a.host, "lab/app", &t).1, "tag {t}");
        }
    }
    // A second copy finds everything there and drops nothing.
    let again = oci_copy([
        "--quiet",
        "copy",
        "--referrers",
        "--tls-verify=false",
        &a.url("lab/app:v1"),
        &b.url("mirror/app:v1"),
    ]);
    assert_success(&again);
    assert_all_landed(&b.host, "mirror/app", &s);
}

#[test]
fn the_filter_copies_only_the_types_asked_for() {
    let (a, b) = (Registry::start(), Registry::start());
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", true, work.path());
    let out = oci_copy([
        "copy",
        "--referrers",
        "--referrers-filter",
        "artifactType=application/spdx+json",
        "--tls-verify=false",
        &a.url("lab/app:v1"),
        &b.url("m/app:v1"),
    ]);
    assert_success(&out);
    assert_eq!(
        listed(&b.host, "m/app", &s.image.digest),
        vec![s.sbom.digest.clone()]
    );
    assert_eq!(get_manifest(&b.host, "m/app", &s.attestation.digest).0, 404);
    assert_eq!(get_manifest(&b.host, "m/app", &s.sig_tag).0, 404);
    // The SBOM's signature is of another type: left out too.
    assert!(listed(&b.host, "m/app", &s.sbom.digest).is_empty());
}

#[test]
fn without_the_flag_no_referrer_is_copied() {
    let (a, b) = (Registry::start(), Registry::start());
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", true, work.path());
    let out = oci_copy([
        "--quiet",
        "copy",
        "--tls-verify=false",
        &a.url("lab/app:v1"),
        &b.url("m/app:v1"),
    ]);
    assert_success(&out);
    assert_eq!(tags(&b.host, "m/app"), vec!["v1".to_string()]);
    assert_eq!(get_manifest(&b.host, "m/app", &s.sbom.digest).0, 404);
}

/// Pushes the image and `n` SBOM-like artifacts named `kind` onto it, listed in its
/// `sha256-<hex>` index; returns the image and the artifacts' digests.
fn image_with(host: &str, kind: &str, n: usize) -> (Doc, Vec<String>) {
    let src = format!(
        "oci:{}:latest",
        crate::support::p(&crate::support::testdata("oci-layout"))
    );
    assert_success(&oci_copy([
        "--quiet",
        "copy",
        "--dest-tls-verify=false",
        &src,
        &format!("docker://{host}/lab/app:v1"),
    ]));
    let image = Doc {
        digest: String::new(),
        bytes: get_manifest(host, "lab/app", "v1").1,
    };
    let image = Doc {
        digest: crate::support::push::sha256(&image.bytes),
        ..image
    };
    let docs: Vec<Doc> = (0..n)
        .map(|i| {
            artifact(
                host,
                "lab/app",
                &format!("application/x.{kind}"),
                format!("{kind} {i}").as_bytes(),
                &image,
                &[],
            )
        })
        .collect();
    let entries: Vec<_> = docs
        .iter()
        .map(|d| d.listed(&format!("application/x.{kind}")))
        .collect();
    tag_index(host, "lab/app", &image, &entries);
    (image, docs.into_iter().map(|d| d.digest).collect())
}

#[test]
fn two_copies_adding_referrers_to_one_subject_both_land() {
    let (a1, a2, d) = (Registry::start(), Registry::start(), Registry::start());
    let (image, left) = image_with(&a1.host, "left", 3);
    let (same, right) = image_with(&a2.host, "right", 3);
    assert_eq!(image.digest, same.digest);
    for round in 0..3 {
        let dst = d.url(&format!("m/r{round}:v1"));
        let spawn = |src: String| {
            std::process::Command::new(env!("CARGO_BIN_EXE_oci-copy"))
                .args([
                    "--quiet",
                    "copy",
                    "--referrers",
                    "--tls-verify=false",
                    &src,
                    &dst,
                ])
                .spawn()
                .unwrap()
        };
        let (mut c1, mut c2) = (spawn(a1.url("lab/app:v1")), spawn(a2.url("lab/app:v1")));
        assert!(c1.wait().unwrap().success() && c2.wait().unwrap().success());
        let mut got = listed(&d.host, &format!("m/r{round}"), &image.digest);
        got.sort();
        let mut want: Vec<String> = left.iter().chain(&right).cloned().collect();
        want.sort();
        assert_eq!(got, want, "round {round}: an entry was lost");
    }
}
