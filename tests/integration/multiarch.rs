//! Multi-platform images and layer compression choices (issue 4): `--all` round trips that
//! keep the index bytes, OCI index ⇄ Docker manifest list through a real registry,
//! `--platform` selection (default, variant, several), `--preserve-digests` refusals that
//! write nothing, zstd layers read back by skopeo, and artifacts copied byte for byte.

use std::path::Path;

use crate::support::check::{check_oci_layout, DOCKER_LIST, OCI_INDEX};
use crate::support::fixtures::host_architecture;
use crate::support::layout::{empty_layout, manifest_bytes, read_blob, write_blob};
use crate::support::registry::{skopeo_http, Registry};
use crate::support::{assert_failure, assert_success, oci_copy, p, tempdir, testdata};

const NO_TLS: &str = "--tls-verify=false";
const INDEX_DIGEST: &str =
    "sha256:fc931d5d37d51f5ca4a80a5fd827dc04bd39ac65977ae888c32a03c755519edd";
const AMD64: &str = "sha256:e56b88a81c6e21fbde1a63ed5284a3fe183af19f84d1b231ce51960e2f5fa796";
const ARM64: &str = "sha256:8e09dfb11abf136d8d621a7f99a25171af20c2a6848fe0f1c80b51061d6c207f";
const ARM64_CONFIG: &str =
    "sha256:902001fafcd89336c693e0e5658d92da2be4d7ed1613b5f9a23e93524abac67f";

fn index_src() -> String {
    format!("oci:{}:multi", p(&testdata("oci-index")))
}

fn raw_of(reference: &str) -> Vec<u8> {
    let out = oci_copy(["inspect", "--raw", NO_TLS, reference]);
    assert_success(&out);
    out.stdout
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("JSON")
}

fn digests_of(index: &serde_json::Value) -> Vec<String> {
    index["manifests"]
        .as_array()
        .expect("an index has manifests")
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn index_round_trip_through_registry_is_byte_identical() {
    let reg = Registry::start();
    let tmp = tempdir();
    let url = reg.url("multi/app:all");
    assert_success(&oci_copy(["--all", NO_TLS, &index_src(), &url]));
    let original = std::fs::read(testdata(
        "oci-index/blobs/sha256/fc931d5d37d51f5ca4a80a5fd827dc04bd39ac65977ae888c32a03c755519edd",
    ))
    .unwrap();
    assert_eq!(
        raw_of(&url),
        original,
        "the registry serves the index bytes unchanged"
    );
    let back = tmp.path().join("back");
    assert_success(&oci_copy([
        "--all",
        NO_TLS,
        &url,
        &format!("oci:{}:multi", p(&back)),
    ]));
    let report = check_oci_layout(&back);
    let entry = report.tagged("multi");
    assert_eq!(entry.digest, INDEX_DIGEST);
    assert_eq!(entry.images.len(), 2);
    assert_eq!(manifest_bytes(&back, "multi"), original);
    // skopeo reads every instance back out of the registry.
    let dir = tmp.path().join("skopeo");
    skopeo_http(&[
        "--insecure-policy",
        "copy",
        "--all",
        "--quiet",
        "--src-tls-verify=false",
        &url,
        &format!("oci:{}:x", p(&dir)),
    ]);
}

#[test]
fn oci_index_converts_to_a_docker_list_and_back() {
    let reg = Registry::start();
    let tmp = tempdir();
    let list_url = reg.url("multi/list:v2s2");
    assert_success(&oci_copy([
        "--all",
        "--format",
        "v2s2",
        NO_TLS,
        &index_src(),
        &list_url,
    ]));
    let list = json(&raw_of(&list_url));
    assert_eq!(list["mediaType"], DOCKER_LIST);
    let children = list["manifests"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    for c in children {
        assert_eq!(
            c["mediaType"],
            "application/vnd.docker.distribution.manifest.v2+json"
        );
    }
    assert_eq!(children[1]["platform"]["variant"], "v8");
    // skopeo agrees the instance is a v2s2 image with the same config (image ID kept).
    let arm = format!("{list_url}@{}", children[1]["digest"].as_str().unwrap());
    let arm = arm.replacen(":v2s2@", "@", 1);
    let raw = skopeo_http(&["inspect", "--raw", NO_TLS, &arm]);
    assert_eq!(json(&raw)["config"]["digest"], ARM64_CONFIG);
    // And back to OCI in a layout: a conversion happened both ways, so the manifests are
    // new, but every config (image ID) and diff_id is the original's.
    let back = tmp.path().join("back");
    assert_success(&oci_copy([
        "--all",
        NO_TLS,
        &list_url,
        &format!("oci:{}:again", p(&back)),
    ]));
    let report = check_oci_layout(&back);
    let entry = report.tagged("again");
    assert_eq!(entry.media_type, OCI_INDEX);
    let original = check_oci_layout(&testdata("oci-index"));
    let want = &original.tagged("multi").images;
    assert_eq!(entry.images.len(), want.len());
    for (got, want) in entry.images.iter().zip(want) {
        assert_eq!(got.config_digest, want.config_digest);
        assert_eq!(got.diff_ids, want.diff_ids);
        assert_eq!(got.architecture, want.architecture);
    }
    let idx = json(&manifest_bytes(&back, "again"));
    assert_ne!(digests_of(&idx), vec![AMD64.to_string(), ARM64.to_string()]);
}

#[test]
fn a_subset_of_platforms_becomes_an_index_of_just_those() {
    let reg = Registry::start();
    let tmp = tempdir();
    let url = reg.url("multi/subset:arm");
    // One platform out of two, as a Docker list: a new index with one entry.
    assert_success(&oci_copy([
        "--platform",
        "linux/arm64/v8",
        "--platform",
        "linux/arm64",
        "--all",
        "--format",
        "v2s2",
        NO_TLS,
        &index_src(),
        &url,
    ]));
    let list = json(&raw_of(&url));
    assert_eq!(list["mediaType"], DOCKER_LIST);
    assert_eq!(list["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(list["manifests"][0]["platform"]["architecture"], "arm64");
    // Both platforms named: the original index, unchanged, in a layout.
    let dir = tmp.path().join("two");
    assert_success(&oci_copy([
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm64/v8",
        &index_src(),
        &format!("oci:{}:two", p(&dir)),
    ]));
    assert_eq!(check_oci_layout(&dir).tagged("two").digest, INDEX_DIGEST);
}

#[test]
fn platform_selection_default_variant_and_unknown() {
    let tmp = tempdir();
    let dir = tmp.path().join("sel");
    // No option: this machine's platform, as a single image.
    assert_success(&oci_copy([
        &index_src(),
        &format!("oci:{}:default", p(&dir)),
    ]));
    // A variant.
    assert_success(&oci_copy([
        "--platform",
        "linux/arm64/v8",
        &index_src(),
        &format!("oci:{}:arm", p(&dir)),
    ]));
    let report = check_oci_layout(&dir);
    let default = &report.tagged("default").images[0];
    assert_eq!(default.architecture, host_architecture());
    let arm = report.tagged("arm");
    assert_eq!(arm.digest, ARM64);
    assert_eq!(arm.images[0].architecture, "arm64");
    let out = oci_copy([
        "--platform",
        "linux/s390x",
        &index_src(),
        &format!("oci:{}:x", p(&dir)),
    ]);
    assert_failure(&out, 1, &["linux/s390x", "linux/amd64", "linux/arm64/v8"]);
}

#[test]
fn all_into_a_docker_archive_is_refused_with_a_hint() {
    let tmp = tempdir();
    let file = tmp.path().join("a.tar");
    let out = oci_copy([
        "--all",
        &index_src(),
        &format!("docker-archive:{}", p(&file)),
    ]);
    assert_failure(&out, 1, &["--platform", "linux/arm64/v8"]);
    assert!(!file.exists());
}

fn assert_untouched(dir: &Path, before: &[u8]) {
    assert_eq!(
        std::fs::read(dir.join("index.json")).unwrap(),
        before,
        "index.json must not change"
    );
}

#[test]
fn preserve_digests_refuses_before_writing_anything() {
    let reg = Registry::start();
    let tmp = tempdir();
    let dir = tmp.path().join("dst");
    empty_layout(&dir);
    let before = std::fs::read(dir.join("index.json")).unwrap();
    let dst = format!("oci:{}:x", p(&dir));
    let cases: Vec<(Vec<String>, &[&str])> = vec![
        (
            vec![
                "--dest-compress-format".into(),
                "zstd".into(),
                index_src(),
                dst.clone(),
            ],
            &["--preserve-digests", "--dest-compress-format"],
        ),
        (
            vec![
                format!("docker-archive:{}", p(&testdata("docker-legacy.tar"))),
                dst.clone(),
            ],
            &["--preserve-digests", "stores only oci"],
        ),
        (
            vec![
                "--platform".into(),
                "linux/arm64".into(),
                "--all".into(),
                index_src(),
                dst.clone(),
            ],
            &["--preserve-digests", "some platforms"],
        ),
    ];
    for (args, needles) in cases {
        let mut all = vec!["--preserve-digests".to_string()];
        all.extend(args);
        let out = oci_copy(&all);
        assert_failure(&out, 1, needles);
        assert_untouched(&dir, &before);
        let blobs = std::fs::read_dir(dir.join("blobs/sha256"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(blobs, 0, "nothing written for {all:?}");
    }
    // Into a registry, --format v2s2 on an OCI index changes digests: refused, nothing pushed.
    let url = reg.url("keep/digests:x");
    let out = oci_copy([
        "--preserve-digests",
        "--all",
        "--format",
        "v2s2",
        NO_TLS,
        &index_src(),
        &url,
    ]);
    assert_failure(&out, 1, &["--preserve-digests", "--format v2s2"]);
    let out = oci_copy(["inspect", "--raw", NO_TLS, &url]);
    assert_eq!(out.status.code(), Some(1), "nothing was pushed");
    // Without a change, --preserve-digests copies.
    assert_success(&oci_copy([
        "--preserve-digests",
        "--all",
        NO_TLS,
        &index_src(),
        &url,
    ]));
    assert_eq!(
        raw_of(&url),
        std::fs::read(testdata(&format!(
            "oci-index/blobs/sha256/{}",
            &INDEX_DIGEST[7..]
        )))
        .unwrap()
    );
}

#[test]
fn zstd_layers_are_written_read_back_and_refused_in_v2s2() {
    let reg = Registry::start();
    let tmp = tempdir();
    let dir = tmp.path().join("z");
    let src = format!("oci:{}:latest", p(&testdata("oci-layout")));
    assert_success(&oci_copy([
        "--dest-compress-format",
        "zstd",
        "--dest-compress-level",
        "9",
        &src,
        &format!("oci:{}:zstd", p(&dir)),
    ]));
    let report = check_oci_layout(&dir);
    let img = &report.tagged("zstd").images[0];
    assert!(
        img.layer_media_types
            .iter()
            .all(|m| m == "application/vnd.oci.image.layer.v1.tar+zstd"),
        "{:?}",
        img.layer_media_types
    );
    assert_eq!(
        img.diff_ids,
        crate::support::layout::diff_ids(&testdata("oci-layout"), "latest")
    );
    // skopeo reads zstd layers (and verifies them) from the layout and from the registry.
    let sk = tmp.path().join("sk");
    skopeo_http(&[
        "--insecure-policy",
        "copy",
        "--quiet",
        &format!("oci:{}:zstd", p(&dir)),
        &format!("dir:{}", p(&sk)),
    ]);
    let url = reg.url("zstd/app:1");
    assert_success(&oci_copy([NO_TLS, &format!("oci:{}:zstd", p(&dir)), &url]));
    skopeo_http(&[
        "--insecure-policy",
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        &url,
        &format!("dir:{}", p(&tmp.path().join("sk2"))),
    ]);
    // zstd from a registry into a docker-archive decompresses: allowed.
    let archive = tmp.path().join("d.tar");
    assert_success(&oci_copy([
        NO_TLS,
        &url,
        &format!("docker-archive:{}:lab/z:1", p(&archive)),
    ]));
    crate::support::check::check_docker_archive(&archive);
    // zstd into v2s2 without decompressing is refused.
    let out = oci_copy(["--format", "v2s2", NO_TLS, &url, &reg.url("zstd/v2s2:1")]);
    assert_failure(&out, 1, &["v2s2", "zstd"]);
    // gzip level range is checked.
    let out = oci_copy([
        "--dest-compress-format",
        "gzip",
        "--dest-compress-level",
        "12",
        &src,
        &format!("oci:{}:bad", p(&dir)),
    ]);
    assert_failure(&out, 1, &["gzip levels are 1 to 9"]);
}

/// A Helm-chart-like artifact in a fresh layout: config and layer of non-image types.
fn make_artifact(dir: &Path) -> Vec<u8> {
    empty_layout(dir);
    let config = br#"{"name":"chart","version":"1.0.0"}"#;
    let (cd, cs) = write_blob(dir, config);
    let layer = b"not a tar: a chart archive would be here";
    let (ld, ls) = write_blob(dir, layer);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"{cd}","size":{cs}}},"layers":[{{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"{ld}","size":{ls}}}],"annotations":{{"org.example":"artifact"}}}}"#
    );
    let (md, ms) = write_blob(dir, manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{md}","size":{ms},"annotations":{{"org.opencontainers.image.ref.name":"chart"}}}}]}}"#
    );
    std::fs::write(dir.join("index.json"), index).unwrap();
    manifest.into_bytes()
}

#[test]
fn artifacts_are_copied_byte_for_byte_and_never_converted() {
    let reg = Registry::start();
    let tmp = tempdir();
    let src = tmp.path().join("art");
    let manifest = make_artifact(&src);
    let url = reg.url("charts/app:1.0.0");
    assert_success(&oci_copy([NO_TLS, &format!("oci:{}:chart", p(&src)), &url]));
    assert_eq!(raw_of(&url), manifest);
    let back = tmp.path().join("back");
    assert_success(&oci_copy([
        NO_TLS,
        &url,
        &format!("oci:{}:chart", p(&back)),
    ]));
    assert_eq!(manifest_bytes(&back, "chart"), manifest);
    let m = json(&manifest);
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    assert_eq!(read_blob(&back, layer), read_blob(&src, layer));
    let out = oci_copy(["--format", "v2s2", NO_TLS, &url, &reg.url("charts/v2s2:1")]);
    assert_failure(&out, 1, &["artifact", "cannot be converted"]);
    let out = oci_copy([
        NO_TLS,
        &url,
        &format!("docker-archive:{}", p(&tmp.path().join("a.tar"))),
    ]);
    assert_failure(&out, 1, &["artifact"]);
}

#[test]
fn inspect_on_an_index_shows_raw_index_summary_and_platforms() {
    let raw = raw_of(&index_src());
    assert_eq!(json(&raw)["mediaType"], OCI_INDEX);
    let out = oci_copy(["inspect", &index_src()]);
    assert_success(&out);
    let summary = json(&out.stdout);
    assert_eq!(summary["Digest"], INDEX_DIGEST);
    assert_eq!(summary["Architecture"], host_architecture());
    let out = oci_copy(["inspect", "--platforms", &index_src()]);
    assert_success(&out);
    let list = json(&out.stdout);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Platform"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["linux/amd64", "linux/arm64/v8"]);
    assert_eq!(list[1]["Digest"], ARM64);
}
