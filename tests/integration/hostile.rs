//! What a hostile read of oci-copy found (issue 12), kept found: a compressed docker-archive
//! layer is checked against the config's diff_id whatever the destination, a registry whose
//! `Docker-Content-Digest` header lies is warned about but its verified bytes are used, and a
//! tar that holds one path twice with different contents is refused.

use std::io::Write as _;
use std::path::Path;

use crate::support::check::{check_oci_layout, extract_archive};
use crate::support::fault_proxy::{Action, FaultProxy};
use crate::support::judges::skopeo;
use crate::support::layout::{assert_no_stray_files, empty_layout, tags};
use crate::support::mutate::{docker_first_layer, edit_archive, pack};
use crate::support::registry::Registry;
use crate::support::{assert_failure, assert_success, describe, oci_copy, p, tempdir, testdata};

const NO_TLS: &str = "--tls-verify=false";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

/// `docker-legacy.tar` with its first layer stored gzip-compressed; with `tamper`, one byte
/// of the plain tar is changed first, so the layer no longer matches the config's diff_id
/// while the gzip stream itself is sound.
fn archive_with_gzip_layer(out: &Path, tamper: bool) {
    edit_archive("docker-legacy.tar", out, |root| {
        let layer = docker_first_layer(root);
        let mut plain = std::fs::read(&layer).expect("read the layer");
        if tamper {
            // Inside the first file's data (after its 512-byte header), so the tar stays valid.
            plain[600] ^= 0x20;
        }
        std::fs::write(&layer, gzip(&plain)).expect("write the gzip layer");
    });
}

#[test]
fn gzip_layers_of_a_docker_archive_that_match_their_diff_ids_copy_everywhere() {
    let tmp = tempdir();
    let archive = tmp.path().join("gz-layer.tar");
    archive_with_gzip_layer(&archive, false);
    let src = format!("docker-archive:{}", p(&archive));
    let layout = tmp.path().join("out");
    assert_success(&oci_copy(["-q", &src, &format!("oci:{}:t", p(&layout))]));
    check_oci_layout(&layout);
    let reg = Registry::start();
    assert_success(&oci_copy(["-q", NO_TLS, &src, &reg.url("lab/gz:1")]));
}

#[test]
fn a_tampered_gzip_layer_of_a_docker_archive_is_refused_for_every_destination() {
    let tmp = tempdir();
    let archive = tmp.path().join("tampered-gz.tar");
    archive_with_gzip_layer(&archive, true);
    let src = format!("docker-archive:{}", p(&archive));
    let needles = ["tampered-gz.tar", "layer 1", "diff_id mismatch"];

    let layout = tmp.path().join("layout");
    empty_layout(&layout);
    let before = std::fs::read(layout.join("index.json")).expect("read index.json");
    assert_failure(
        &oci_copy([&src, &format!("oci:{}:new", p(&layout))]),
        1,
        &needles,
    );
    assert_eq!(
        std::fs::read(layout.join("index.json")).expect("index.json"),
        before
    );
    assert_no_stray_files(&layout);

    for dest in [
        "oci-archive:{}/out-oci.tar",
        "docker-archive:{}/out-docker.tar",
    ] {
        let dest = dest.replace("{}", &p(tmp.path()));
        assert_failure(&oci_copy([&src, &dest]), 1, &needles);
    }
    assert!(!tmp.path().join("out-oci.tar").exists());
    assert!(!tmp.path().join("out-docker.tar").exists());

    let reg = Registry::start();
    assert_failure(
        &oci_copy([NO_TLS, &src, &reg.url("lab/tampered:1")]),
        1,
        &needles,
    );
    let inspect = oci_copy(["inspect", NO_TLS, &reg.url("lab/tampered:1")]);
    assert_eq!(inspect.status.code(), Some(1), "{}", describe(&inspect));

    // The independent judge agrees that the archive is broken.
    let judged = skopeo(&[
        "--insecure-policy",
        "copy",
        &src,
        &format!("oci:{}:t", p(&tmp.path().join("skopeo-out"))),
    ]);
    assert!(!judged.status.success(), "skopeo copied a tampered layer");
}

/// The destination holding the tampered blob already (under its own digest) must not let
/// the copy skip the check.
#[test]
fn a_tampered_gzip_layer_is_refused_even_when_the_destination_has_its_blob() {
    let tmp = tempdir();
    let archive = tmp.path().join("tampered-gz.tar");
    archive_with_gzip_layer(&archive, true);
    let root = tmp.path().join("x");
    std::fs::create_dir(&root).expect("mkdir");
    extract_archive(&archive, &root).unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(docker_first_layer(&root)).expect("read the layer");
    let layout = tmp.path().join("layout");
    empty_layout(&layout);
    let hex = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    std::fs::write(layout.join("blobs/sha256").join(hex), &bytes).expect("plant the blob");
    let src = format!("docker-archive:{}", p(&archive));
    assert_failure(
        &oci_copy([&src, &format!("oci:{}:new", p(&layout))]),
        1,
        &["diff_id mismatch"],
    );
    assert!(tags(&layout).is_empty());
}
/// A registry that sends a wrong `Docker-Content-Digest` with every manifest and blob: the
/// bytes match what was asked for, so the pull succeeds, with a warning naming the registry.
#[test]
fn a_lying_docker_content_digest_header_is_a_warning_not_a_failure() {
    let reg = crate::reliability_registry::registry_with_image();
    let lie = format!("sha256:{}", "0".repeat(64));
    let value = lie.clone();
    let proxy = FaultProxy::start(&reg.host, move |r| {
        if r.method == "GET" && (r.path.contains("/manifests/") || r.path.contains("/blobs/")) {
            Action::SetHeader {
                name: "Docker-Content-Digest".into(),
                value: value.clone(),
            }
        } else {
            Action::Pass
        }
    });
    let tmp = tempdir();
    let by_tag = tmp.path().join("by-tag");
    let out = oci_copy([
        NO_TLS,
        &proxy.url("lab/app:1"),
        &format!("oci:{}:t", p(&by_tag)),
    ]);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Docker-Content-Digest")
            && stderr.contains(&proxy.host)
            && stderr.contains(&lie),
        "no warning naming the registry and its header\n{}",
        describe(&out)
    );
    let facts = check_oci_layout(&by_tag);
    let digest = facts.tagged("t").digest.clone();

    let by_digest = tmp.path().join("by-digest");
    let src = proxy.url(&format!("lab/app@{digest}"));
    assert_success(&oci_copy([
        NO_TLS,
        &src,
        &format!("oci:{}:t", p(&by_digest)),
    ]));
    assert_eq!(check_oci_layout(&by_digest).tagged("t").digest, digest);
    assert_success(&oci_copy(["inspect", NO_TLS, "--raw", &src]));
}
/// A tar holding `manifest.json` twice: readers disagree on which one counts (oci-copy
/// took the last, Go's tar readers the first), so the same file would mean two images.
#[test]
fn an_archive_with_one_path_twice_and_different_contents_is_refused() {
    let tmp = tempdir();
    let root = tmp.path().join("x");
    std::fs::create_dir(&root).expect("mkdir");
    extract_archive(&testdata("docker-multi.tar"), &root).unwrap_or_else(|e| panic!("{e}"));
    let first = std::fs::read(root.join("manifest.json")).expect("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&first).expect("JSON");
    m.as_array_mut().expect("a list").swap(0, 1);
    m[0]["RepoTags"] = serde_json::json!(["lab/app:1"]);
    m[1]["RepoTags"] = serde_json::json!([]);
    let second = m.to_string();
    let dup = tmp.path().join("dup-manifest.tar");
    pack(&root, &dup);
    append_entry(&dup, "manifest.json", second.as_bytes());
    let out = oci_copy([
        &format!("docker-archive:{}:lab/app:1", p(&dup)),
        &format!("oci:{}:t", p(&tmp.path().join("out"))),
    ]);
    assert_failure(
        &out,
        1,
        &["dup-manifest.tar", "manifest.json", "more than once"],
    );
    assert!(!tmp.path().join("out").exists());

    // The same contents twice mean one thing: accepted.
    let same = tmp.path().join("same-twice.tar");
    pack(&root, &same);
    append_entry(&same, "manifest.json", &first);
    assert_success(&oci_copy([
        "-q",
        &format!("docker-archive:{}:lab/app:1", p(&same)),
        &format!("oci:{}:t", p(&tmp.path().join("out2"))),
    ]));
}

/// Appends a regular file to a finished tar (overwriting its end-of-archive blocks).
fn append_entry(tar_file: &Path, name: &str, bytes: &[u8]) {
    let mut data = std::fs::read(tar_file).expect("read tar");
    while data.len() >= 512 && data[data.len() - 512..].iter().all(|b| *b == 0) {
        data.truncate(data.len() - 512);
    }
    let mut b = tar::Builder::new(data);
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, name, bytes).expect("append entry");
    std::fs::write(tar_file, b.into_inner().expect("finish tar")).expect("write tar");
}
