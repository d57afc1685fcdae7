//! sha512 images. A sha512 blob is `blobs/sha512/` and 128 hex digits, longer than a ustar
//! name holds, so archives carry PAX long names; GNU `tar` and skopeo must read them. The
//! images are built here: a sha512 config and manifest, a gzip layer and an uncompressed
//! one, with diff_ids in sha256 (as Docker computes them) or in sha512.
//!
//! skopeo 1.9.3 (Debian 12) hashes every blob with sha256 whatever its digest says, so it
//! cannot copy a sha512 image; it judges what it can, `inspect --raw`, which has to find
//! the manifest by its long name. umoci 0.4.7 refuses sha512 outright ("unsupported
//! algorithm"). The checker, `oci-copy verify`, GNU tar and round trips do the rest.

use crate::support::check::{check_docker_archive, check_oci_archive};
use crate::support::judges::skopeo;
use crate::support::layout::{config_digest, diff_ids};
use crate::support::registry::Registry;
use crate::support::{assert_failure, assert_success, describe, oci_copy, p, tempdir};
use serde_json::json;
use sha2::Digest as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const NO_TLS: &str = "--tls-verify=false";

/// A sha512 OCI layout, tagged `v1`, in a temporary directory.
struct Sha512Image {
    _tmp: tempfile::TempDir,
    layout: PathBuf,
    config: String,
    gzip_layer: String,
    plain_layer: String,
    diff_ids: Vec<String>,
}

impl Sha512Image {
    fn reference(&self) -> String {
        format!("oci:{}:v1", p(&self.layout))
    }
}

fn digest(alg: &str, bytes: &[u8]) -> String {
    let hex = match alg {
        "sha512" => hex::encode(sha2::Sha512::digest(bytes)),
        _ => hex::encode(sha2::Sha256::digest(bytes)),
    };
    format!("{alg}:{hex}")
}

/// `blobs/ALG/HEX` for `ALG:HEX`.
fn blob_name(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    let d = digest("sha512", bytes);
    std::fs::write(layout.join(blob_name(&d)), bytes).expect("write blob");
    d
}

fn layer_tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_path(name).unwrap();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    b.append(&h, content).unwrap();
    b.into_inner().unwrap()
}

/// Builds the image; `diff_ids` overrides the config's diff_ids (computed in `diff_alg`).
fn build(diff_alg: &str, diff_ids: Option<Vec<String>>) -> Sha512Image {
    let tmp = tempdir();
    let layout = tmp.path().join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha512")).unwrap();
    let zipped = layer_tar("hello.txt", b"hello from a gzip sha512 layer\n");
    let plain = layer_tar("plain.txt", &[b'p'; 3000]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&zipped).unwrap();
    let gzip_layer = put_blob(&layout, &gz.finish().unwrap());
    let plain_layer = put_blob(&layout, &plain);
    let diff_ids =
        diff_ids.unwrap_or_else(|| vec![digest(diff_alg, &zipped), digest(diff_alg, &plain)]);
    let config = serde_json::to_vec(&json!({
        "architecture": crate::support::fixtures::host_architecture(), "os": "linux",
        "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let config_digest = put_blob(&layout, &config);
    let desc = |mt: &str, d: &str, len: usize| json!({"mediaType": mt, "digest": d, "size": len});
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", &config_digest, config.len()),
        "layers": [
            desc("application/vnd.oci.image.layer.v1.tar+gzip", &gzip_layer,
                std::fs::metadata(layout.join(blob_name(&gzip_layer))).unwrap().len() as usize),
            desc("application/vnd.oci.image.layer.v1.tar", &plain_layer, plain.len()),
        ],
    }))
    .unwrap();
    let mut top = desc(
        "application/vnd.oci.image.manifest.v1+json",
        &put_blob(&layout, &manifest),
        manifest.len(),
    );
    top["annotations"] = json!({"org.opencontainers.image.ref.name": "v1"});
    let index = json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    Sha512Image {
        _tmp: tmp,
        layout,
        config: config_digest,
        gzip_layer,
        plain_layer,
        diff_ids,
    }
}

/// The entry names GNU tar lists in `file`: the independent reader of the long names.
fn gnu_tar_names(file: &Path) -> Vec<String> {
    let out = match Command::new("tar").arg("-tf").arg(file).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("tar not found: install it with `apt-get install -y tar`")
        }
        Err(e) => panic!("running tar: {e}"),
    };
    assert!(
        out.status.success(),
        "tar -tf {}\n{}",
        file.display(),
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

fn assert_lists(file: &Path, digests: &[&str]) {
    let names = gnu_tar_names(file);
    for d in digests {
        let want = blob_name(d);
        assert!(
            names.contains(&want),
            "tar -tf {} lacks {want}: {names:?}",
            file.display()
        );
    }
}

/// `skopeo inspect --raw` finds and prints the manifest that `oci-copy inspect --raw` does.
fn skopeo_reads_raw(reference: &str) {
    let ours = oci_copy(["inspect", "--raw", reference]);
    assert_success(&ours);
    let theirs = skopeo(&["inspect", "--raw", reference]);
    assert!(
        theirs.status.success(),
        "skopeo inspect --raw {reference}\n{}",
        describe(&theirs)
    );
    assert_eq!(
        theirs.stdout, ours.stdout,
        "skopeo reads another manifest in {reference}"
    );
}

/// skopeo synthesises its own manifest from a docker-archive, naming the config by its
/// sha256 and each layer by its diff_id: check it found the files, at their long names, with
/// the sizes oci-copy's manifest gives them.
fn skopeo_reads_docker_archive(reference: &str, img: &Sha512Image) {
    let theirs = skopeo(&["inspect", "--raw", reference]);
    assert!(
        theirs.status.success(),
        "skopeo inspect --raw {reference}\n{}",
        describe(&theirs)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&theirs.stdout).unwrap();
    let ours = oci_copy(["inspect", "--raw", reference]);
    assert_success(&ours);
    let ours: serde_json::Value = serde_json::from_slice(&ours.stdout).unwrap();
    let config = crate::support::layout::read_blob(&img.layout, &img.config);
    assert_eq!(theirs["config"]["digest"], digest("sha256", &config));
    assert_eq!(theirs["config"]["size"], ours["config"]["size"]);
    let layers = |m: &serde_json::Value, key: &str| -> Vec<serde_json::Value> {
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l[key].clone())
            .collect()
    };
    assert_eq!(layers(&theirs, "digest"), img.diff_ids);
    assert_eq!(layers(&theirs, "size"), layers(&ours, "size"));
}

fn assert_verifies(reference: &str) {
    let out = oci_copy(["verify", reference]);
    assert_success(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no problems"),
        "{}",
        describe(&out)
    );
}

/// Copies `archive` back into a layout: the config keeps its sha512 digest, and the diff_ids.
fn assert_round_trip(archive: &str, img: &Sha512Image) {
    let tmp = tempdir();
    let back = tmp.path().join("back");
    assert_success(&oci_copy([archive, &format!("oci:{}:v1", p(&back))]));
    assert_eq!(
        config_digest(&back, "v1"),
        img.config,
        "config digest after {archive}"
    );
    assert_eq!(
        diff_ids(&back, "v1"),
        img.diff_ids,
        "diff_ids after {archive}"
    );
}

#[test]
fn a_sha512_image_streams_into_an_oci_archive_that_tar_and_skopeo_read() {
    let img = build("sha256", None);
    let tmp = tempdir();
    let out = tmp.path().join("out.tar");
    let reference = format!("oci-archive:{}:v1", p(&out));
    assert_success(&oci_copy([&img.reference(), &reference]));
    // The uncompressed layer is gzipped (a sha256 blob); the rest keep their sha512 names.
    assert_lists(&out, &[&img.config, &img.gzip_layer]);
    let report = check_oci_archive(&out);
    assert_eq!(report.config_digest, img.config);
    skopeo_reads_raw(&reference);
    assert_verifies(&reference);
    assert_round_trip(&reference, &img);
}

#[test]
fn a_sha512_image_goes_into_a_docker_archive_with_its_sha512_names() {
    let img = build("sha256", None);
    let tmp = tempdir();
    let out = tmp.path().join("out.tar");
    let reference = format!("docker-archive:{}:lab/sha512:1", p(&out));
    assert_success(&oci_copy([&img.reference(), &reference]));
    // The uncompressed sha512 layer is kept as it is, checked against its sha256 diff_id.
    assert_lists(&out, &[&img.config, &img.plain_layer, &img.diff_ids[0]]);
    let docker = check_docker_archive(&out);
    let only = docker.only();
    assert_eq!(only.config_digest, img.config);
    assert_eq!(only.layer_paths[1], blob_name(&img.plain_layer));
    assert_eq!(only.diff_ids, img.diff_ids);
    skopeo_reads_docker_archive(&format!("docker-archive:{}", p(&out)), &img);
    assert_verifies(&format!("docker-archive:{}", p(&out)));
    assert_round_trip(&format!("docker-archive:{}", p(&out)), &img);
}

#[test]
fn sha512_diff_ids_are_computed_in_sha512() {
    let img = build("sha512", None);
    assert_verifies(&img.reference());
    let tmp = tempdir();
    let out = tmp.path().join("out.tar");
    let reference = format!("docker-archive:{}", p(&out));
    assert_success(&oci_copy([&img.reference(), &reference]));
    // The gzip layer is decompressed into a blob named by its sha512 diff_id, a name known
    // only once the layer has been written into the archive.
    assert_lists(&out, &[&img.config, &img.diff_ids[0], &img.diff_ids[1]]);
    assert_verifies(&reference);
    assert_round_trip(&reference, &img);
}

#[test]
fn a_sha512_layer_whose_sha256_diff_id_is_wrong_is_refused() {
    let wrong = format!("sha256:{}", "0".repeat(64));
    let good = build("sha256", None);
    let img = build(
        "sha256",
        Some(vec![good.diff_ids[0].clone(), wrong.clone()]),
    );
    let tmp = tempdir();
    let out = tmp.path().join("out.tar");
    let res = oci_copy([&img.reference(), &format!("docker-archive:{}", p(&out))]);
    let line = assert_failure(
        &res,
        1,
        &["layer 2", "diff_id mismatch", &wrong, &good.diff_ids[1]],
    );
    assert!(line.contains(&img.plain_layer), "{line}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
}

#[test]
fn a_sha512_image_from_a_registry_goes_into_both_archives() {
    // distribution 2.8 takes sha512 blobs, and addresses the manifest by its sha256.
    let img = build("sha256", None);
    let reg = Registry::start();
    let url = reg.url("lab/sha512:v1");
    assert_success(&oci_copy([NO_TLS, &img.reference(), &url]));
    let tmp = tempdir();
    let oci = tmp.path().join("oci.tar");
    let docker = tmp.path().join("docker.tar");
    let oci_ref = format!("oci-archive:{}:v1", p(&oci));
    let docker_ref = format!("docker-archive:{}:lab/sha512:v1", p(&docker));
    for dest in [&oci_ref, &docker_ref] {
        assert_success(&oci_copy([NO_TLS, &url, dest]));
    }
    assert_lists(&oci, &[&img.config, &img.gzip_layer]);
    assert_lists(&docker, &[&img.config, &img.diff_ids[0]]);
    check_oci_archive(&oci);
    check_docker_archive(&docker);
    skopeo_reads_raw(&oci_ref);
    skopeo_reads_docker_archive(&format!("docker-archive:{}", p(&docker)), &img);
    for r in [&oci_ref, &format!("docker-archive:{}", p(&docker))] {
        assert_verifies(r);
        assert_round_trip(r, &img);
    }
}
