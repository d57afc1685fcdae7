//! Bad referrers: a subject that does not match, a tag schema index that is not an index
//! (at the source and at the destination), a cycle. Each gets a one-line error naming the
//! object, and nothing is written. And what `--referrers` refuses before any I/O.

use serde_json::json;

use crate::support::push::{push_manifest, sha256, tags};
use crate::support::referrers::{artifact, push_signed, tag_index, Doc, OCI_MANIFEST, SBOM};
use crate::support::registry::Registry;
use crate::support::{assert_failure, assert_usage_error, oci_copy, p, tempdir};

/// Copies `lab/app:v1` of `a` with referrers into `m/app:v1` of `b`, which must fail with
/// `needles` and leave `b` without the repository.
fn refused(a: &Registry, b: &Registry, needles: &[&str]) {
    let out = oci_copy([
        "copy",
        "--referrers",
        "--tls-verify=false",
        &a.url("lab/app:v1"),
        &b.url("m/app:v1"),
    ]);
    assert_failure(&out, 1, needles);
    assert!(
        tags(&b.host, "m/app").is_empty(),
        "something was tagged at the destination"
    );
    let repos = b.storage_root().join("docker/registry/v2/repositories/m");
    assert!(
        !repos.exists(),
        "the destination repository was created: {}",
        repos.display()
    );
}

#[test]
fn a_referrer_whose_subject_does_not_match() {
    let (a, b) = (Registry::start(), Registry::start());
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", false, work.path());
    let other = Doc {
        digest: sha256(b"another"),
        bytes: b"another".to_vec(),
    };
    let stray = artifact(&a.host, "lab/app", SBOM, b"stray", &other, &[]);
    tag_index(&a.host, "lab/app", &s.image, &[stray.listed(SBOM)]);
    refused(
        &a,
        &b,
        &[
            &stray.digest,
            &format!("its subject is {}", other.digest),
            "nothing was written",
        ],
    );
}

#[test]
fn a_tag_schema_index_that_is_not_an_index() {
    let (a, b) = (Registry::start(), Registry::start());
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", false, work.path());
    push_manifest(
        &a.host,
        "lab/app",
        &format!("sha256-{}", s.image.hex()),
        OCI_MANIFEST,
        &s.sbom.bytes,
    );
    refused(
        &a,
        &b,
        &[
            &format!("sha256-{}", s.image.hex()),
            "is not an image index",
        ],
    );
}

#[test]
fn a_referrer_cycle() {
    let (a, b) = (Registry::start(), Registry::start());
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", false, work.path());
    tag_index(&a.host, "lab/app", &s.image, &[s.sbom.listed(SBOM)]);
    // The SBOM's listing names the image it hangs from.
    let image =
        json!({"mediaType": OCI_MANIFEST, "digest": s.image.digest, "size": s.image.bytes.len()});
    tag_index(&a.host, "lab/app", &s.sbom, &[image]);
    refused(
        &a,
        &b,
        &[
            "referrer cycle",
            &format!(
                "{} → {} → {}",
                s.image.digest, s.sbom.digest, s.image.digest
            ),
        ],
    );
}

#[test]
fn a_destination_tag_index_that_is_not_an_index_is_refused_before_writing() {
    let (a, b) = (Registry::start(), Registry::start());
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", true, work.path());
    // The destination holds something else under the tag the referrers would go to.
    let other = push_signed(&b.host, "m/app", "old", false, &work.path().join("b"));
    push_manifest(
        &b.host,
        "m/app",
        &format!("sha256-{}", s.image.hex()),
        OCI_MANIFEST,
        &other.image.bytes,
    );
    let out = oci_copy([
        "copy",
        "--referrers",
        "--tls-verify=false",
        &a.url("lab/app:v1"),
        &b.url("m/app:v1"),
    ]);
    assert_failure(
        &out,
        1,
        &[
            "checking the destination before writing",
            "is not an image index",
        ],
    );
    let mut t = tags(&b.host, "m/app");
    t.sort();
    assert!(!t.contains(&"v1".to_string()), "{t:?}");
}

#[test]
fn conversions_and_docker_archives_are_refused_before_any_io() {
    let work = tempdir();
    // Nothing listens on port 1: any I/O would fail with another message.
    let src = "docker://127.0.0.1:1/lab/app:v1";
    let dst = format!("oci:{}", p(&work.path().join("out")));
    let out = oci_copy(["copy", "--referrers", "--format", "v2s2", src, &dst]);
    assert_failure(&out, 1, &["--referrers cannot go with --format", "digests"]);
    let out = oci_copy([
        "copy",
        "--referrers",
        "--dest-compress-format",
        "zstd",
        src,
        &dst,
    ]);
    assert_failure(&out, 1, &["--dest-compress-format"]);
    let tar = format!("docker-archive:{}", p(&work.path().join("x.tar")));
    let out = oci_copy(["copy", "--referrers", src, &tar]);
    assert_failure(&out, 1, &["docker-archive cannot hold referrers"]);
    assert!(!work.path().join("out").exists() && !work.path().join("x.tar").exists());
    assert_usage_error(&oci_copy([
        "copy",
        "--referrers",
        "--referrers-filter",
        "mediaType=x",
        src,
        &dst,
    ]));
    assert_usage_error(&oci_copy([
        "copy",
        "--referrers-filter",
        "artifactType=x",
        src,
        &dst,
    ]));
}

#[test]
fn verify_names_a_signature_that_signs_another_digest() {
    use crate::support::push::push_blob;
    use crate::support::referrers::make_signature;
    let a = Registry::start();
    let work = tempdir();
    let s = push_signed(&a.host, "lab/app", "v1", true, work.path());
    // A .sig tag whose payload names another image: the manifest and blobs are sound.
    let dir = work.path().join("wrong");
    let other = sha256(b"another image");
    make_signature(&dir, &format!("{}/lab/app", a.host), &other);
    for f in ["payload.json", "config.json"] {
        push_blob(&a.host, "lab/app", &std::fs::read(dir.join(f)).unwrap());
    }
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
    push_manifest(&a.host, "lab/app", &s.sig_tag, OCI_MANIFEST, &manifest);
    let out = oci_copy([
        "verify",
        "--referrers",
        "--tls-verify=false",
        &a.url("lab/app:v1"),
    ]);
    let line = assert_failure(
        &out,
        1,
        &[&format!("signs {other}, not {}", s.image.digest)],
    );
    assert!(line.contains("signature payload sha256:"), "{line}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!(
        "FAILED {} referrer cosign tag {}",
        a.url("lab/app:v1"),
        s.sig_tag
    )));
}
