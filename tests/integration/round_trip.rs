//! Round trips end in equality: A -> B -> A' gives a byte-identical manifest where no
//! conversion happens, and the same config digest and diff_ids where one does.

use crate::support::check::{check_docker_archive, check_oci_layout};
use crate::support::docker::loads_archive;
use crate::support::layout::{config_digest, diff_ids, manifest_bytes};
use crate::support::{assert_success, oci_copy, p, tempdir, testdata};

fn copy(src: &str, dst: &str) {
    assert_success(&oci_copy([src, dst]));
}

#[test]
fn oci_to_oci_archive_and_back_is_byte_identical() {
    let tmp = tempdir();
    let layout = testdata("oci-layout");
    let archive = tmp.path().join("a.tar");
    let back = tmp.path().join("back");
    copy(
        &format!("oci:{}:latest", p(&layout)),
        &format!("oci-archive:{}:mid", p(&archive)),
    );
    copy(
        &format!("oci-archive:{}:mid", p(&archive)),
        &format!("oci:{}:latest", p(&back)),
    );
    check_oci_layout(&back);
    assert_eq!(
        manifest_bytes(&layout, "latest"),
        manifest_bytes(&back, "latest")
    );
}

#[test]
fn oci_to_docker_archive_and_back_keeps_config_and_diff_ids() {
    let tmp = tempdir();
    let layout = testdata("oci-layout");
    let archive = tmp.path().join("d.tar");
    let back = tmp.path().join("back");
    copy(
        &format!("oci:{}:latest", p(&layout)),
        &format!("docker-archive:{}:lab/rt:1", p(&archive)),
    );
    check_docker_archive(&archive);
    loads_archive(&archive, &config_digest(&layout, "latest"));
    copy(
        &format!("docker-archive:{}", p(&archive)),
        &format!("oci:{}:latest", p(&back)),
    );
    check_oci_layout(&back);
    assert_eq!(
        config_digest(&layout, "latest"),
        config_digest(&back, "latest")
    );
    assert_eq!(diff_ids(&layout, "latest"), diff_ids(&back, "latest"));
}

#[test]
fn docker_archive_to_oci_and_back_keeps_config_and_diff_ids() {
    let tmp = tempdir();
    let original = testdata("docker-legacy.tar");
    let layout = tmp.path().join("mid");
    let back = tmp.path().join("back.tar");
    copy(
        &format!("docker-archive:{}", p(&original)),
        &format!("oci:{}:mid", p(&layout)),
    );
    check_oci_layout(&layout);
    copy(
        &format!("oci:{}:mid", p(&layout)),
        &format!("docker-archive:{}:lab/app:1", p(&back)),
    );
    let before = check_docker_archive(&original);
    let after = check_docker_archive(&back);
    assert_eq!(
        before.only().config_digest,
        after.only().config_digest,
        "image ID must survive"
    );
    assert_eq!(before.only().diff_ids, after.only().diff_ids);
}

#[test]
fn oci_to_oci_keeps_every_blob() {
    let tmp = tempdir();
    let layout = testdata("oci-layout");
    let out = tmp.path().join("out");
    copy(
        &format!("oci:{}:latest", p(&layout)),
        &format!("oci:{}:latest", p(&out)),
    );
    let report = check_oci_layout(&out);
    let original = check_oci_layout(&layout);
    assert_eq!(
        manifest_bytes(&layout, "latest"),
        manifest_bytes(&out, "latest")
    );
    assert_eq!(
        (
            &report.manifest_digest,
            &report.media_type,
            &report.config_digest,
            &report.diff_ids
        ),
        (
            &original.manifest_digest,
            &original.media_type,
            &original.config_digest,
            &original.diff_ids
        )
    );
}

#[test]
fn docker_archive_is_streamed_in_image_order_and_the_same_bytes_every_time() {
    let tmp = tempdir();
    let src = format!("oci:{}:latest", p(&testdata("oci-layout")));
    let (a, b) = (tmp.path().join("a.tar"), tmp.path().join("b.tar"));
    copy(&src, &format!("docker-archive:{}:lab/x:1", p(&a)));
    copy(&src, &format!("docker-archive:{}:lab/x:1", p(&b)));
    let bytes = std::fs::read(&a).unwrap();
    assert!(bytes == std::fs::read(&b).unwrap(), "two copies differ");
    check_docker_archive(&a);

    // Blobs in the image's order (config, layers, then the OCI manifest), metadata last,
    // as `docker save` writes them.
    let mut names = Vec::new();
    let mut index = Vec::new();
    for e in tar::Archive::new(bytes.as_slice()).entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        if name == "index.json" {
            std::io::Read::read_to_end(&mut e, &mut index).unwrap();
        }
        names.push(name);
    }
    let layers: Vec<String> = diff_ids(&testdata("oci-layout"), "latest")
        .iter()
        .map(|d| format!("blobs/sha256/{}", d.trim_start_matches("sha256:")))
        .collect();
    let config = format!(
        "blobs/sha256/{}",
        config_digest(&testdata("oci-layout"), "latest").trim_start_matches("sha256:")
    );
    assert_eq!(names[..3], ["blobs/", "blobs/sha256/", config.as_str()]);
    assert_eq!(names[3..3 + layers.len()], layers[..]);
    assert!(names[3 + layers.len()].starts_with("blobs/sha256/"));
    assert_eq!(
        names[4 + layers.len()..],
        ["index.json", "manifest.json", "repositories", "oci-layout"]
    );
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    let annotations = &index["manifests"][0]["annotations"];
    assert_eq!(annotations["io.containerd.image.name"], "docker.io/lab/x:1");
    assert_eq!(annotations["org.opencontainers.image.ref.name"], "1");
}

#[test]
fn oci_archive_is_streamed_in_image_order_and_the_same_bytes_every_time() {
    let tmp = tempdir();
    let src = format!("docker-archive:{}", p(&testdata("docker-legacy.tar")));
    let (a, b) = (tmp.path().join("a.tar"), tmp.path().join("b.tar"));
    copy(&src, &format!("oci-archive:{}:v1", p(&a)));
    copy(&src, &format!("oci-archive:{}:v1", p(&b)));
    let bytes = std::fs::read(&a).unwrap();
    assert!(bytes == std::fs::read(&b).unwrap(), "two copies differ");
    crate::support::check::check_oci_archive(&a);
    let names: Vec<String> = tar::Archive::new(bytes.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    let n = names.len();
    assert_eq!(names[..2], ["blobs/", "blobs/sha256/"]);
    assert!(names[2..n - 2]
        .iter()
        .all(|n| n.starts_with("blobs/sha256/")));
    assert_eq!(names[n - 2..], ["index.json", "oci-layout"]);
}
