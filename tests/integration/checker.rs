//! The invariant checker itself: it accepts every fixture, and it CAN fail — each test
//! breaks one invariant in a copy of a fixture and expects the matching violation.

use crate::support::check::{
    check_docker_archive, check_oci_archive, check_oci_layout, try_check_docker_archive,
    try_check_oci_archive, try_check_oci_layout,
};
use crate::support::fixtures::Fixture;
use crate::support::judges::{skopeo_reads, umoci_unpacks};
use crate::support::layout::blob_path;
use crate::support::mutate::{
    docker_first_layer, edit_archive, flip_byte, layer_digest, layout_copy, rewrite_manifest,
    tamper_layer, tar_with_raw_path, wrong_diff_id,
};
use crate::support::{p, tempdir, testdata};
use std::path::Path;

fn violation(result: Result<impl std::fmt::Debug, String>, needle: &str) {
    match result {
        Ok(report) => panic!("checker accepted a broken image (wanted {needle:?}): {report:?}"),
        Err(e) => assert!(
            e.contains(needle),
            "violation {e:?} should mention {needle:?}"
        ),
    }
}

#[test]
fn every_fixture_passes() {
    check_oci_layout(&testdata("oci-layout")).tagged("latest");
    check_oci_layout(&testdata("oci-index")).tagged("multi");
    check_oci_archive(&testdata("oci-archive.tar")).tagged("v1");
    for name in [
        "docker-legacy.tar",
        "docker-legacy.tar.gz",
        "docker25.tar",
        "docker-multi.tar",
    ] {
        check_docker_archive(&testdata(name));
    }
    assert!(
        check_docker_archive(&testdata("docker25.tar"))
            .layout
            .is_some(),
        "docker25.tar is hybrid"
    );
    assert_eq!(
        check_docker_archive(&testdata("docker-multi.tar"))
            .images
            .len(),
        2
    );
}

#[test]
fn panicking_form_panics() {
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    tamper_layer(&layout, "latest");
    let result = std::panic::catch_unwind(|| check_oci_layout(&layout));
    assert!(
        result.is_err(),
        "check_oci_layout must panic on a tampered blob"
    );
}

#[test]
fn flipped_layer_byte_is_a_digest_violation() {
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    let digest = tamper_layer(&layout, "latest");
    violation(try_check_oci_layout(&layout), &digest);
}

#[test]
fn grown_blob_is_a_size_violation() {
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    let path = blob_path(&layout, &layer_digest(&layout, "latest", 0));
    let mut bytes = std::fs::read(&path).expect("read blob");
    bytes.push(0);
    std::fs::write(&path, bytes).expect("write blob");
    violation(try_check_oci_layout(&layout), "size");
}

#[test]
fn missing_blob_is_a_violation() {
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    std::fs::remove_file(blob_path(&layout, &layer_digest(&layout, "latest", 0)))
        .expect("remove blob");
    violation(try_check_oci_layout(&layout), "missing");
}

#[test]
fn wrong_diff_id_is_a_violation() {
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    let wrong = wrong_diff_id(&layout, "latest");
    violation(try_check_oci_layout(&layout), &wrong);
}

#[test]
fn docker_layer_type_in_oci_manifest_is_a_violation() {
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    rewrite_manifest(&layout, "latest", |m| {
        m["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip".into()
    });
    violation(try_check_oci_layout(&layout), "media type");
}

#[test]
fn docker_config_type_in_oci_manifest_is_a_violation() {
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    rewrite_manifest(&layout, "latest", |m| {
        m["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json".into()
    });
    violation(try_check_oci_layout(&layout), "media type");
}

#[test]
fn extra_layer_is_a_count_violation() {
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    rewrite_manifest(&layout, "latest", |m| {
        let first = m["layers"][0].clone();
        m["layers"].as_array_mut().expect("layers").push(first);
    });
    violation(try_check_oci_layout(&layout), "diff_ids");
}

#[test]
fn tampered_docker_layer_is_a_violation() {
    let tmp = tempdir();
    let archive = tmp.path().join("bad.tar");
    edit_archive("docker-legacy.tar", &archive, |root| {
        flip_byte(&docker_first_layer(root))
    });
    let layer = check_docker_archive(&testdata("docker-legacy.tar"))
        .only()
        .layer_paths[0]
        .clone();
    violation(try_check_docker_archive(&archive), &layer);
}

#[test]
fn tampered_blob_inside_oci_archive_is_a_violation() {
    let tmp = tempdir();
    let archive = tmp.path().join("bad.tar");
    edit_archive("oci-archive.tar", &archive, |root| {
        tamper_layer(root, "v1");
    });
    violation(try_check_oci_archive(&archive), "digest");
}

#[test]
fn parent_dir_entry_in_archive_is_rejected() {
    let tmp = tempdir();
    let archive = tmp.path().join("evil.tar");
    tar_with_raw_path(&archive, "../evil");
    violation(try_check_oci_archive(&archive), "unsafe path");
    assert!(!tmp.path().join("evil").exists() && !Path::new("/tmp/evil").exists());
}

/// The judges themselves work: skopeo reads the fixtures it supports (skopeo 1.9 cannot read
/// a gzip-compressed docker-archive) and umoci unpacks the OCI layout.
#[test]
fn judges_accept_the_fixtures() {
    for fixture in [
        Fixture::OciLayout,
        Fixture::OciArchive,
        Fixture::DockerLegacy,
        Fixture::Docker25,
        Fixture::OciIndex,
    ] {
        skopeo_reads(&fixture.reference());
    }
    skopeo_reads(&format!(
        "docker-archive:{}:tool:3",
        p(&testdata("docker-multi.tar"))
    ));
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path()); // umoci creates a lock dir inside
    let report = check_oci_layout(&layout);
    let file = report.tagged("latest").images[0]
        .sample_file
        .clone()
        .expect("fixture has files");
    umoci_unpacks(&layout, "latest", &file);
}

/// The registry reader judges what a registry serves: a pushed image passes, and the same
/// image through a proxy that corrupts every blob download is a violation.
#[test]
fn the_registry_reader_accepts_a_sound_push_and_catches_corrupt_blobs() {
    use crate::support::check::{check_registry_image, try_check_registry_image};
    use crate::support::fault_proxy::{Action, FaultProxy};
    let reg = crate::reliability_registry::registry_with_image();
    let report = check_registry_image(&reg.host, "lab/app", "1");
    assert_eq!(report.diff_ids, Fixture::OciLayout.expected().diff_ids);
    let proxy = FaultProxy::start(&reg.host, |r| match r.is_blob_get() {
        true => Action::CorruptBody,
        false => Action::Pass,
    });
    violation(
        try_check_registry_image(&proxy.host, "lab/app", "1"),
        "the registry served",
    );
    violation(
        try_check_registry_image(&reg.host, "lab/app", "nope"),
        "HTTP 404",
    );
}
