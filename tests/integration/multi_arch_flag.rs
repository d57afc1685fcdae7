//! `--multi-arch system|all|index-only`, skopeo's spelling: `all` is `--all`, `system` the
//! default, and `index-only` copies the index alone into a destination that holds every
//! instance already (a registry asked by digest, a layout's blobs), or refuses, naming
//! the missing instances, before writing anything.

use crate::support::judges::skopeo;
use crate::support::layout::{manifest_bytes, tags};
use crate::support::registry::{skopeo_http, Registry};
use crate::support::{assert_failure, assert_success, assert_usage_error, describe, oci_copy};
use crate::support::{p, tempdir, testdata};

const NO_TLS: &str = "--tls-verify=false";
const INDEX: &str = "sha256:fc931d5d37d51f5ca4a80a5fd827dc04bd39ac65977ae888c32a03c755519edd";
const AMD64: &str = "sha256:e56b88a81c6e21fbde1a63ed5284a3fe183af19f84d1b231ce51960e2f5fa796";
const ARM64: &str = "sha256:8e09dfb11abf136d8d621a7f99a25171af20c2a6848fe0f1c80b51061d6c207f";

fn index_src() -> String {
    format!("oci:{}:multi", p(&testdata("oci-index")))
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[test]
fn all_and_system_are_the_old_spellings() {
    let tmp = tempdir();
    let out = tmp.path().join("out");
    let to = |tag: &str| format!("oci:{}:{tag}", p(&out));
    assert_success(&oci_copy(["--multi-arch", "all", &index_src(), &to("all")]));
    assert_success(&oci_copy(["--all", &index_src(), &to("dash-all")]));
    assert_success(&oci_copy([
        "--multi-arch",
        "system",
        &index_src(),
        &to("system"),
    ]));
    assert_success(&oci_copy([index_src(), to("default")]));
    assert_eq!(sha256(&manifest_bytes(&out, "all")), INDEX);
    assert_eq!(
        manifest_bytes(&out, "all"),
        manifest_bytes(&out, "dash-all")
    );
    assert_eq!(
        manifest_bytes(&out, "system"),
        manifest_bytes(&out, "default")
    );
    assert_ne!(sha256(&manifest_bytes(&out, "system")), INDEX);
    // skopeo takes the same spelling, to the same index.
    let theirs = tmp.path().join("theirs");
    let t = format!("oci:{}:all", p(&theirs));
    let o = skopeo(&[
        "--insecure-policy",
        "copy",
        "-q",
        "--multi-arch",
        "all",
        &index_src(),
        &t,
    ]);
    assert!(o.status.success(), "{}", describe(&o));
    assert_eq!(manifest_bytes(&theirs, "all"), manifest_bytes(&out, "all"));
    assert_usage_error(&oci_copy([
        "--all",
        "--multi-arch",
        "all",
        &index_src(),
        &to("x"),
    ]));
    assert_usage_error(&oci_copy(["--multi-arch", "some", &index_src(), &to("x")]));
}

#[test]
fn index_only_into_a_layout_needs_its_instances_there() {
    let tmp = tempdir();
    let out = tmp.path().join("out");
    let to = |tag: &str| format!("oci:{}:{tag}", p(&out));
    let only = |tag: &str| oci_copy(["--multi-arch", "index-only", &index_src(), &to(tag)]);
    let line = assert_failure(&only("x"), 1, &["index-only", "lacks 2 of its 2 instances"]);
    assert!(line.contains(AMD64) && line.contains(ARM64), "{line}");
    assert!(!out.exists(), "nothing is written");
    // Once the layout holds them (from another tag), the index alone is copied.
    assert_success(&oci_copy(["--all", &index_src(), &to("full")]));
    let before = std::fs::read_dir(out.join("blobs/sha256")).unwrap().count();
    assert_success(&only("bare"));
    assert_eq!(sha256(&manifest_bytes(&out, "bare")), INDEX);
    assert_eq!(tags(&out), ["full", "bare"]);
    let after = std::fs::read_dir(out.join("blobs/sha256")).unwrap().count();
    assert_eq!(before, after, "no blob is added");
    let out2 = oci_copy(["verify", &to("bare")]);
    assert_success(&out2);
    let e = oci_copy([
        "--multi-arch",
        "index-only",
        "--platform",
        "linux/amd64",
        &index_src(),
        &to("y"),
    ]);
    assert_failure(&e, 1, &["--platform has nothing to choose"]);
    let e = oci_copy([
        "--multi-arch",
        "index-only",
        "--format",
        "v2s2",
        &index_src(),
        &to("y"),
    ]);
    assert_failure(&e, 1, &["stores only oci"]);
    let dir = format!("dir:{}", p(&tmp.path().join("d")));
    let e = oci_copy(["--multi-arch", "index-only", &index_src(), &dir]);
    assert_failure(&e, 1, &["each copy writes it anew"]);
    let tar = format!("docker-archive:{}", p(&tmp.path().join("a.tar")));
    let e = oci_copy(["--multi-arch", "index-only", &index_src(), &tar]);
    assert_failure(&e, 1, &["copies an index", "holds one image"]);
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "only the layout"
    );
}

#[test]
fn index_only_into_a_registry_asks_for_each_instance_by_digest() {
    let reg = Registry::start();
    let url = reg.url("lab/multi:1");
    let only = || oci_copy(["--multi-arch", "index-only", NO_TLS, &index_src(), &url]);
    let line = assert_failure(&only(), 1, &["lacks 2 of its 2 instances"]);
    assert!(line.contains(AMD64), "{line}");
    // One instance pushed: the other is still missing, and the tag is not written.
    let one = |platform: &str, tag: &str| {
        let to = reg.url(&format!("lab/multi:{tag}"));
        assert_success(&oci_copy([
            "--platform",
            platform,
            NO_TLS,
            &index_src(),
            &to,
        ]));
    };
    one("linux/amd64", "amd64");
    let line = assert_failure(&only(), 1, &["lacks 1 of its 2 instances", ARM64]);
    assert!(!line.contains(AMD64), "{line}");
    let tag = skopeo(&["inspect", "--raw", "--tls-verify=false", &url]);
    assert!(!tag.status.success(), "the tag must not exist yet");
    one("linux/arm64/v8", "arm64");
    let out = only();
    assert_success(&out);
    let raw = skopeo_http(&["inspect", "--raw", "--tls-verify=false", &url]);
    assert_eq!(sha256(&raw), INDEX, "the index, byte for byte");
    let back = tempdir();
    let dst = format!("oci:{}:x", p(back.path()));
    skopeo_http(&[
        "--insecure-policy",
        "copy",
        "-q",
        "--all",
        "--src-tls-verify=false",
        &url,
        &dst,
    ]);
}

#[test]
fn index_only_copies_a_single_image_as_usual() {
    let tmp = tempdir();
    let to = format!("oci:{}:x", p(&tmp.path().join("o")));
    let src = format!("oci:{}:latest", p(&testdata("oci-layout")));
    assert_success(&oci_copy(["--multi-arch", "index-only", &src, &to]));
    assert_eq!(sha256(&manifest_bytes(&tmp.path().join("o"), "x")), AMD64);
}
