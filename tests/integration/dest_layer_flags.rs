//! skopeo's destination layer flags: `--dest-decompress` and `--dest-compress` for `dir:`,
//! `--dest-oci-accept-uncompressed-layers` for `oci:` and `oci-archive:`. skopeo judges:
//! the same source gives the same bytes, or the same media types and digests, with both
//! tools. Each flag is refused where it means nothing.

use std::path::Path;

use crate::support::judges::{skopeo, skopeo_reads, umoci_unpacks};
use crate::support::layout::manifest_bytes;
use crate::support::{assert_failure, assert_success, assert_usage_error, describe, oci_copy};
use crate::support::{p, tempdir, testdata};

const OCI_PLAIN: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

fn oci_image() -> String {
    format!("oci:{}:latest", p(&testdata("oci-layout")))
}

fn skopeo_copy(args: &[&str]) {
    let mut all = vec!["--insecure-policy", "copy", "--quiet"];
    all.extend_from_slice(args);
    let out = skopeo(&all);
    assert!(out.status.success(), "skopeo {all:?}\n{}", describe(&out));
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("JSON")
}

fn layer_types(manifest: &serde_json::Value) -> Vec<String> {
    let layers = manifest["layers"].as_array().expect("layers");
    layers
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_string())
        .collect()
}

fn dir_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn dest_decompress_writes_the_dir_skopeo_writes() {
    let tmp = tempdir();
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    let out = oci_copy([
        "--dest-decompress".into(),
        oci_image(),
        format!("dir:{}", p(&ours)),
    ]);
    assert_success(&out);
    skopeo_copy(&[
        "--dest-decompress",
        &oci_image(),
        &format!("dir:{}", p(&theirs)),
    ]);
    assert_eq!(
        dir_files(&ours),
        dir_files(&theirs),
        "the same files, byte for byte"
    );
    let m = json(&std::fs::read(ours.join("manifest.json")).unwrap());
    assert_eq!(layer_types(&m), [OCI_PLAIN, OCI_PLAIN]);
    assert_success(&oci_copy(["verify", &format!("dir:{}", p(&ours))]));
}

#[test]
fn accepting_uncompressed_layers_keeps_them_and_the_digest() {
    let tmp = tempdir();
    let plain = tmp.path().join("plain");
    skopeo_copy(&[
        "--dest-decompress",
        &oci_image(),
        &format!("dir:{}", p(&plain)),
    ]);
    let src = format!("dir:{}", p(&plain));
    let source_manifest = std::fs::read(plain.join("manifest.json")).unwrap();
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    let flag = "--dest-oci-accept-uncompressed-layers";
    let to = |l: &Path, tag: &str| format!("oci:{}:{tag}", p(l));
    assert_success(&oci_copy([flag, &src, &to(&ours, "plain")]));
    skopeo_copy(&[flag, &src, &to(&theirs, "plain")]);
    assert_eq!(
        manifest_bytes(&ours, "plain"),
        source_manifest,
        "the manifest is kept"
    );
    assert_eq!(
        manifest_bytes(&theirs, "plain"),
        source_manifest,
        "as skopeo keeps it"
    );
    umoci_unpacks(&ours, "plain", "usr/bin/app");
    // Without the flag, the plain layers are gzipped, as by skopeo.
    assert_success(&oci_copy([src.clone(), to(&ours, "gzip")]));
    assert_eq!(
        layer_types(&json(&manifest_bytes(&ours, "gzip"))),
        [OCI_GZIP, OCI_GZIP]
    );
    let archive = format!("oci-archive:{}", p(&tmp.path().join("a.tar")));
    assert_success(&oci_copy([flag, &src, &archive]));
    let raw = oci_copy(["inspect", "--raw", &archive]);
    assert_success(&raw);
    assert_eq!(raw.stdout, source_manifest, "an oci-archive keeps them too");
}

#[test]
fn dest_compress_gzips_the_plain_layers_of_a_dir() {
    let tmp = tempdir();
    let src = format!("docker-archive:{}", p(&testdata("docker-legacy.tar")));
    let (ours, theirs, kept) = (
        tmp.path().join("ours"),
        tmp.path().join("theirs"),
        tmp.path().join("kept"),
    );
    assert_success(&oci_copy([
        "--dest-compress",
        &src,
        &format!("dir:{}", p(&ours)),
    ]));
    skopeo_copy(&["--dest-compress", &src, &format!("dir:{}", p(&theirs))]);
    let m = json(&std::fs::read(ours.join("manifest.json")).unwrap());
    let s = json(&std::fs::read(theirs.join("manifest.json")).unwrap());
    assert_eq!(layer_types(&m), [DOCKER_GZIP, DOCKER_GZIP]);
    assert_eq!(
        layer_types(&m),
        layer_types(&s),
        "the media types skopeo writes"
    );
    assert_eq!(m["config"], s["config"], "the same config");
    assert_success(&oci_copy(["verify", &format!("dir:{}", p(&ours))]));
    skopeo_reads(&format!("dir:{}", p(&ours)));
    // Without it, a dir keeps the layers as they come.
    assert_success(&oci_copy([src, format!("dir:{}", p(&kept))]));
    let k = json(&std::fs::read(kept.join("manifest.json")).unwrap());
    let plain = "application/vnd.docker.image.rootfs.diff.tar";
    assert_eq!(layer_types(&k), [plain, plain]);
}

#[test]
fn each_flag_is_refused_where_it_means_nothing() {
    let tmp = tempdir();
    let oci = format!("oci:{}:x", p(&tmp.path().join("l")));
    let dir = format!("dir:{}", p(&tmp.path().join("d")));
    for (flag, dst, want) in [
        (
            "--dest-decompress",
            &oci,
            "is for dir: destinations, and this one is oci:",
        ),
        ("--dest-compress", &oci, "is for dir: destinations"),
        (
            "--dest-oci-accept-uncompressed-layers",
            &dir,
            "is for oci: and oci-archive:",
        ),
    ] {
        let out = oci_copy([flag, &oci_image(), dst]);
        assert_failure(&out, 1, &[flag, want]);
    }
    let both = oci_copy(["--dest-decompress", "--dest-compress", &oci_image(), &dir]);
    assert_usage_error(&both);
    let out = oci_copy([
        "--dest-decompress",
        "--dest-compress-format",
        "zstd",
        &oci_image(),
        &dir,
    ]);
    assert_failure(&out, 1, &["contradict"]);
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing written"
    );
}
