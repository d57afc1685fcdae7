//! `oci-copy verify REF`: exit 0 and an `ok` line per image on sound images of every local
//! transport; exit 1 and the blob named by digest when one is corrupt or missing, including
//! in an index instance that a copy to this machine would never read.

use crate::support::layout::{blob_path, manifest, read_blob};
use crate::support::mutate::{
    drop_last_diff_id, flip_byte, layer_digest, layout_copy, tamper_layer,
};
use crate::support::{assert_failure, assert_success, describe, oci_copy, p, testdata};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sound_images_of_every_local_transport_pass() {
    for (reference, images) in [
        (format!("oci:{}", p(&testdata("oci-layout"))), 1),
        (format!("oci:{}:multi", p(&testdata("oci-index"))), 1),
        (
            format!("oci-archive:{}", p(&testdata("oci-archive.tar"))),
            1,
        ),
        (
            format!("docker-archive:{}", p(&testdata("docker-legacy.tar.gz"))),
            1,
        ),
        (
            format!("docker-archive:{}", p(&testdata("docker25.tar"))),
            1,
        ),
        (
            format!("docker-archive:{}", p(&testdata("docker-multi.tar"))),
            2,
        ),
    ] {
        let out = oci_copy(["verify", &reference]);
        assert_success(&out);
        let text = stdout(&out);
        assert_eq!(
            text.lines().filter(|l| l.starts_with("ok ")).count(),
            images,
            "{reference}\n{}",
            describe(&out)
        );
        assert!(text.contains("no problems"), "{}", describe(&out));
    }
}

#[test]
fn an_index_is_checked_in_every_instance() {
    let tmp = crate::support::tempdir();
    let layout = layout_copy("oci-index", tmp.path());
    // Corrupt the layer of every instance but count only distinct problems: each instance
    // must be named, whichever platform this machine is.
    let index = manifest(&layout, "multi");
    let mut corrupted = Vec::new();
    for child in index["manifests"].as_array().expect("index manifests") {
        let digest = child["digest"].as_str().expect("digest");
        let m: serde_json::Value =
            serde_json::from_slice(&read_blob(&layout, digest)).expect("manifest JSON");
        let layer = m["layers"][0]["digest"]
            .as_str()
            .expect("layer")
            .to_string();
        if !corrupted.contains(&layer) {
            flip_byte(&blob_path(&layout, &layer));
            corrupted.push(layer);
        }
    }
    let out = oci_copy(["verify", &format!("oci:{}", p(&layout))]);
    let needles: Vec<&str> = corrupted.iter().map(String::as_str).collect();
    assert_failure(&out, 1, &needles);
    for layer in &corrupted {
        assert!(
            stdout(&out).contains(&format!("{layer}: digest mismatch")),
            "{}",
            describe(&out)
        );
    }
}

#[test]
fn a_missing_blob_and_a_corrupt_one_are_both_named() {
    let tmp = crate::support::tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    let tampered = tamper_layer(&layout, "latest");
    let missing = layer_digest(&layout, "latest", 1);
    std::fs::remove_file(blob_path(&layout, &missing)).expect("remove blob");
    let out = oci_copy(["verify", &format!("oci:{}:latest", p(&layout))]);
    let line = assert_failure(&out, 1, &["2 problems", &tampered, &missing]);
    assert!(line.contains("missing"), "{line}");
    let text = stdout(&out);
    assert!(text.starts_with("FAILED "), "{text}");
    assert!(text.contains("2 problems"), "{text}");
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_caught() {
    let tmp = crate::support::tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    let wrong = crate::support::mutate::wrong_diff_id(&layout, "latest");
    let out = oci_copy(["verify", &format!("oci:{}", p(&layout))]);
    assert_failure(&out, 1, &["diff_id mismatch", &wrong]);
}

#[test]
fn a_config_with_fewer_diff_ids_than_layers_is_a_problem() {
    let tmp = crate::support::tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    drop_last_diff_id(&layout, "latest");
    let config = manifest(&layout, "latest")["config"]["digest"]
        .as_str()
        .expect("config digest")
        .to_string();
    let out = oci_copy(["verify", &format!("oci:{}", p(&layout))]);
    let want = format!("config {config}: the manifest has 2 layers but the config has 1 diff_ids");
    assert_failure(&out, 1, &[&want]);
}

#[test]
fn quiet_prints_only_problems_and_a_missing_layout_is_an_error() {
    let out = oci_copy([
        "verify",
        "-q",
        &format!("oci:{}", p(&testdata("oci-layout"))),
    ]);
    assert_success(&out);
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    let out = oci_copy(["verify", "oci:/nonexistent/layout"]);
    assert_failure(&out, 1, &["/nonexistent/layout", "no such directory"]);
}
