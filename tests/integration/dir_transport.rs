//! `dir:PATH`, skopeo's directory format, judged by skopeo both ways: what oci-copy writes
//! is byte for byte what skopeo writes from the same source, and what skopeo writes oci-copy
//! reads back to the same digests. Refusals leave the target as it was.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::judges::{skopeo, skopeo_reads, umoci_unpacks};
use crate::support::layout::{assert_no_stray_files, manifest_bytes};
use crate::support::{assert_failure, assert_success, describe, oci_copy, p, tempdir, testdata};

const IMAGE: &str = "sha256:e56b88a81c6e21fbde1a63ed5284a3fe183af19f84d1b231ce51960e2f5fa796";
const INDEX: &str = "sha256:fc931d5d37d51f5ca4a80a5fd827dc04bd39ac65977ae888c32a03c755519edd";
const VERSION: &[u8] = b"Directory Transport Version: 1.1\n";

fn oci_image() -> String {
    format!("oci:{}:latest", p(&testdata("oci-layout")))
}

fn oci_index() -> String {
    format!("oci:{}:multi", p(&testdata("oci-index")))
}

/// Every file of a directory (flat, as dir: is), by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| {
            let e = e.expect("entry");
            let name = e.file_name().into_string().expect("UTF-8 name");
            (name, std::fs::read(e.path()).expect("a file"))
        })
        .collect()
}

fn skopeo_copy(args: &[&str]) {
    let mut all = vec!["--insecure-policy", "copy", "--quiet"];
    all.extend_from_slice(args);
    let out = skopeo(&all);
    assert!(out.status.success(), "skopeo {all:?}\n{}", describe(&out));
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[test]
fn an_image_written_to_dir_is_what_skopeo_writes() {
    let tmp = tempdir();
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    assert_success(&oci_copy([oci_image(), format!("dir:{}", p(&ours))]));
    skopeo_copy(&[&oci_image(), &format!("dir:{}", p(&theirs))]);
    let got = files(&ours);
    assert_eq!(
        got,
        files(&theirs),
        "oci-copy and skopeo wrote different dirs"
    );
    assert_eq!(got["version"], VERSION);
    assert_eq!(sha256(&got["manifest.json"]), IMAGE);
    assert_eq!(
        got.len(),
        5,
        "version, manifest.json, config, 2 layers: {:?}",
        got.keys()
    );
    // Nothing but the two directories beside them: no staging directory left.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2);
    skopeo_reads(&format!("dir:{}", p(&ours)));
}

#[test]
fn an_index_written_to_dir_with_all_is_what_skopeo_writes() {
    let tmp = tempdir();
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    assert_success(&oci_copy([
        "--all".into(),
        oci_index(),
        format!("dir:{}", p(&ours)),
    ]));
    skopeo_copy(&["--all", &oci_index(), &format!("dir:{}", p(&theirs))]);
    let got = files(&ours);
    assert_eq!(
        got,
        files(&theirs),
        "oci-copy and skopeo wrote different dirs"
    );
    assert_eq!(sha256(&got["manifest.json"]), INDEX);
    let instances = got.keys().filter(|k| k.ends_with(".manifest.json")).count();
    assert_eq!(
        instances,
        2,
        "one HEX.manifest.json per instance: {:?}",
        got.keys()
    );
}

#[test]
fn what_skopeo_writes_to_dir_reads_back_to_the_same_digests() {
    let tmp = tempdir();
    let (one, all, back) = (
        tmp.path().join("one"),
        tmp.path().join("all"),
        tmp.path().join("back"),
    );
    skopeo_copy(&[&oci_image(), &format!("dir:{}", p(&one))]);
    skopeo_copy(&["--all", &oci_index(), &format!("dir:{}", p(&all))]);
    let to = |tag: &str| format!("oci:{}:{tag}", p(&back));
    assert_success(&oci_copy([format!("dir:{}", p(&one)), to("one")]));
    assert_success(&oci_copy([
        "--all".into(),
        format!("dir:{}", p(&all)),
        to("all"),
    ]));
    assert_eq!(sha256(&manifest_bytes(&back, "one")), IMAGE);
    assert_eq!(sha256(&manifest_bytes(&back, "all")), INDEX);
    assert_no_stray_files(&back);
    umoci_unpacks(&back, "one", "usr/bin/app");
    let out = oci_copy(["verify", &format!("dir:{}", p(&all))]);
    assert_success(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(INDEX),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_docker_archive_goes_to_dir_and_back_through_skopeo() {
    let tmp = tempdir();
    let (dir, back) = (tmp.path().join("d"), tmp.path().join("back.tar"));
    let src = format!("docker-archive:{}", p(&testdata("docker-legacy.tar")));
    assert_success(&oci_copy([src, format!("dir:{}", p(&dir))]));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        m["mediaType"], "application/vnd.docker.distribution.manifest.v2+json",
        "a v2s2 source stays v2s2 in a dir"
    );
    let config = m["config"]["digest"].as_str().unwrap();
    assert!(dir.join(config.trim_start_matches("sha256:")).is_file());
    skopeo_copy(&[
        &format!("dir:{}", p(&dir)),
        &format!("docker-archive:{}:lab/app:1", p(&back)),
    ]);
    let out = oci_copy(["inspect", "--config", &format!("dir:{}", p(&dir))]);
    assert_success(&out);
    assert_eq!(
        sha256(&out.stdout),
        config,
        "inspect --config is the config's bytes"
    );
}

#[test]
fn a_tampered_blob_in_a_dir_fails_and_writes_nothing() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    skopeo_copy(&[&oci_image(), &format!("dir:{}", p(&src))]);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.join("manifest.json")).unwrap()).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let path = src.join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let fresh = tmp.path().join("fresh");
    let out = oci_copy([format!("dir:{}", p(&src)), format!("dir:{}", p(&fresh))]);
    assert_failure(&out, 1, &["digest mismatch", layer]);
    assert!(!fresh.exists(), "a failed copy creates no directory");
    // The image already at a destination stays as it was.
    let old = tmp.path().join("old");
    skopeo_copy(&["--all", &oci_index(), &format!("dir:{}", p(&old))]);
    let before = files(&old);
    let out = oci_copy([format!("dir:{}", p(&src)), format!("dir:{}", p(&old))]);
    assert_failure(&out, 1, &["digest mismatch"]);
    assert_eq!(files(&old), before, "the old image is untouched");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        2,
        "no staging left"
    );
}

#[test]
fn a_dir_image_is_replaced_whole() {
    let tmp = tempdir();
    let dir = tmp.path().join("d");
    let dest = format!("dir:{}", p(&dir));
    assert_success(&oci_copy(["--all".into(), oci_index(), dest.clone()]));
    assert_success(&oci_copy([oci_image(), dest.clone()]));
    let theirs = tmp.path().join("theirs");
    skopeo_copy(&[&oci_image(), &format!("dir:{}", p(&theirs))]);
    assert_eq!(files(&dir), files(&theirs), "only the new image is left");
    // Through a symbolic link, as skopeo writes: the link stays, its target is replaced.
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    assert_success(&oci_copy([
        "--all".into(),
        oci_index(),
        format!("dir:{}", p(&link)),
    ]));
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(
        sha256(&std::fs::read(dir.join("manifest.json")).unwrap()),
        INDEX
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        3,
        "no staging left"
    );
}

#[test]
fn dirs_that_are_not_skopeo_images_are_refused() {
    let tmp = tempdir();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("notes.txt"), b"keep me").unwrap();
    let out = oci_copy([oci_image(), format!("dir:{}", p(&data))]);
    assert_failure(
        &out,
        1,
        &["is not empty and not a dir: image", "refusing to replace"],
    );
    assert_eq!(files(&data).len(), 1, "nothing written into it");
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let out = oci_copy([oci_image(), format!("dir:{}", p(&file))]);
    assert_failure(&out, 1, &["exists and is not a directory"]);
    let out = oci_copy([
        format!("dir:{}", p(&data)),
        format!("oci:{}", p(&tmp.path().join("o"))),
    ]);
    assert_failure(&out, 1, &["manifest.json is missing"]);
    std::fs::write(data.join("version"), b"Directory Transport Version: 1.0\n").unwrap();
    let out = oci_copy([
        format!("dir:{}", p(&data)),
        format!("oci:{}", p(&tmp.path().join("o"))),
    ]);
    assert_failure(&out, 1, &["before 2018", "HEX.tar"]);
    let out = oci_copy(["inspect", "dir:"]);
    assert_failure(&out, 1, &["the path is empty"]);
    assert!(!tmp.path().join("o").exists());
}
