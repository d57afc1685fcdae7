//! The `docker-daemon:` transport against the machine's real Docker Engine: the busybox test
//! image through every conversion, run by the daemon at each stage where it holds it; reads
//! by name and by image ID; the daemon's own refusal as the error; and the references and
//! `DOCKER_HOST` values that are refused before anything moves.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::busybox::{self, LINE};
use crate::support::check::{check_docker_archive, check_oci_layout};
use crate::support::docker::{self, image_id, load_and_check, Images};
use crate::support::judges::skopeo_reads;
use crate::support::layout::config_digest;
use crate::support::registry::{skopeo_http, Registry};
use crate::support::{assert_failure, assert_success, oci_copy, p, tempdir};

const NO_TLS: &str = "--tls-verify=false";
const REPO: &str = "oci-copy-test/busybox";

fn copy(args: &[&str]) {
    assert_success(&oci_copy(args));
}

/// The daemon holds `name` as the image `config`, and running it prints the line.
fn runs_in_daemon(name: &str, config: &str) {
    assert_eq!(
        image_id(name).as_deref(),
        Some(config),
        "the daemon's image ID of {name} must be the config digest"
    );
    assert_eq!(docker::run(name).trim(), LINE, "docker run --rm {name}");
}

#[test]
fn busybox_runs_at_each_daemon_stage_of_every_conversion() {
    let _daemon = docker::lock();
    let names = ["archive", "daemon1", "daemon2"].map(|t| format!("{REPO}:{t}"));
    let _cleanup = Images(names.to_vec());
    let tmp = tempdir();
    let registry = Registry::start();
    let src = tmp.path().join("src");
    let config = busybox::layout(&src, "bb");

    // OCI → v2s2, in a registry.
    let v2s2 = registry.url("bb:v2s2");
    copy(&[
        NO_TLS,
        "--format",
        "v2s2",
        &format!("oci:{}:bb", p(&src)),
        &v2s2,
    ]);
    let raw: serde_json::Value =
        serde_json::from_slice(&skopeo_http(&["inspect", "--raw", NO_TLS, &v2s2])).unwrap();
    assert_eq!(
        raw["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    // v2s2 → docker-archive, which docker loads as the same image.
    let archive = tmp.path().join("bb.tar");
    let archive_ref = format!("docker-archive:{}", p(&archive));
    copy(&[NO_TLS, &v2s2, &format!("{archive_ref}:{}", names[0])]);
    assert_eq!(check_docker_archive(&archive).only().config_digest, config);
    load_and_check(&archive, &config);
    // docker-archive → docker-daemon.
    let daemon1 = format!("docker-daemon:{}", names[1]);
    copy(&[&archive_ref, &daemon1]);
    runs_in_daemon(&names[1], &config);
    skopeo_reads(&daemon1);
    // docker-daemon → OCI layout, by name and by image ID.
    let back = tmp.path().join("back");
    copy(&[&daemon1, &format!("oci:{}:bb", p(&back))]);
    copy(&[
        &format!("docker-daemon:{config}"),
        &format!("oci:{}:by-id", p(&back)),
    ]);
    check_oci_layout(&back);
    assert_eq!(config_digest(&back, "bb"), config);
    assert_eq!(config_digest(&back, "by-id"), config);
    // OCI layout → registry → docker-daemon.
    let oci = registry.url("bb:oci");
    copy(&[NO_TLS, &format!("oci:{}:bb", p(&back)), &oci]);
    copy(&[NO_TLS, &oci, &format!("docker-daemon:{}", names[2])]);
    runs_in_daemon(&names[2], &config);
}

#[test]
fn an_image_the_daemon_lacks_fails_with_its_answer() {
    let _daemon = docker::lock();
    let tmp = tempdir();
    let out = oci_copy([
        "docker-daemon:oci-copy-test/absent:1",
        &format!("oci:{}:x", p(&tmp.path().join("out"))),
    ]);
    assert_failure(
        &out,
        1,
        &["docker-daemon:oci-copy-test/absent:1", "404 Not Found"],
    );
    assert!(!tmp.path().join("out").exists(), "nothing is written");
    let id = format!("sha256:{}", "0".repeat(64));
    let out = oci_copy([
        &format!("docker-daemon:{id}"),
        &format!("oci:{}:x", p(tmp.path())),
    ]);
    assert_failure(&out, 1, &[&id, "the Docker daemon answered"]);
}

/// A docker-archive whose only layer is not a tar: oci-copy copies its bytes (they are the
/// diff_id), and only the daemon, unpacking it, can refuse it.
fn archive_with_a_layer_that_is_not_a_tar(file: &Path) {
    use sha2::Digest as _;
    let sha = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
    let layer = b"this is not a tar archive\n".repeat(40);
    let config = serde_json::json!({
        "architecture": crate::support::fixtures::host_architecture(), "os": "linux",
        "config": {}, "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{}", sha(&layer))] }
    })
    .to_string();
    let config_name = format!("{}.json", sha(config.as_bytes()));
    let manifest = serde_json::json!([{ "Config": config_name, "RepoTags": null,
                                        "Layers": ["l/layer.tar"] }])
    .to_string();
    let mut b = tar::Builder::new(std::fs::File::create(file).unwrap());
    for (name, bytes) in [
        (config_name.as_str(), config.as_bytes()),
        ("l/layer.tar", &layer[..]),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, bytes).unwrap();
    }
    b.finish().unwrap();
}

#[test]
fn the_daemon_refusing_an_archive_fails_the_copy_with_its_message() {
    let _daemon = docker::lock();
    let name = "oci-copy-test/refused:1";
    let _cleanup = Images(vec![name.to_string()]);
    let tmp = tempdir();
    let archive = tmp.path().join("bad.tar");
    archive_with_a_layer_that_is_not_a_tar(&archive);
    let out = oci_copy([
        &format!("docker-archive:{}", p(&archive)),
        &format!("docker-daemon:{name}"),
    ]);
    assert_failure(
        &out,
        1,
        &[
            "docker-daemon:",
            "the Docker daemon refused the image",
            "tar",
        ],
    );
    assert_eq!(
        image_id(name),
        None,
        "the daemon holds nothing under the name"
    );
}

/// Runs oci-copy with `DOCKER_HOST` set to `host`.
fn with_docker_host(host: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oci-copy"))
        .args(args)
        .env("DOCKER_HOST", host)
        .output()
        .unwrap()
}

#[test]
fn refused_before_anything_moves() {
    let tmp = tempdir();
    let src = format!("oci:{}:latest", p(&crate::support::testdata("oci-layout")));
    let id = format!("sha256:{}", "a".repeat(64));
    let out = oci_copy([&src, &format!("docker-daemon:{id}")]);
    assert_failure(&out, 1, &["under NAME:TAG, not an image ID"]);
    let out = oci_copy([&src, "docker-daemon:sha256:abc"]);
    assert_failure(&out, 1, &["64 hex digits"]);
    let out = with_docker_host(
        "tcp://me:secret@10.0.0.1:2376",
        &[&src, "docker-daemon:a:1"],
    );
    let line = assert_failure(&out, 1, &["DOCKER_HOST", "only a local Unix socket"]);
    assert!(!line.contains("secret"), "{line}");
    let socket = tmp.path().join("none.sock");
    let host = format!("unix://{}", p(&socket));
    let out = with_docker_host(&host, &[&src, "docker-daemon:a:1"]);
    assert_failure(
        &out,
        1,
        &["cannot connect to the Docker daemon", &host, "dockerd"],
    );
    let dest = format!("oci:{}:x", p(&tmp.path().join("out")));
    let out = with_docker_host(&host, &["docker-daemon:a:1", &dest]);
    assert_failure(
        &out,
        1,
        &[
            "cannot connect to the Docker daemon",
            "apt-get install -y docker.io",
        ],
    );
}
