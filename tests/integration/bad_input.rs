//! Untrusted sources: each broken input must fail with exit 1 and one `oci-copy: ` line naming
//! the problem, and leave the destination as it was (a pre-existing layout keeps its
//! index.json byte for byte and gains no stray file; a new archive file is never created).

use crate::support::layout::{assert_no_stray_files, blob_path, empty_layout, tags};
use crate::support::mutate::{
    docker_first_layer, docker_rewrite_config, docker_wrong_diff_id, drop_last_diff_id,
    edit_archive, layer_digest, layout_copy, tamper_layer, truncate_half, wrong_diff_id,
};
use crate::support::{assert_failure, assert_usage_error, oci_copy, p, tempdir, testdata};

/// Copying `src` into an existing (empty) layout fails and changes nothing there.
fn rejected_into_layout(src: &str, needles: &[&str]) {
    let tmp = tempdir();
    let dest = tmp.path().join("dest");
    empty_layout(&dest);
    let before = std::fs::read(dest.join("index.json")).expect("read index.json");
    assert_failure(
        &oci_copy([src, &format!("oci:{}:new", p(&dest))]),
        1,
        needles,
    );
    assert_eq!(
        std::fs::read(dest.join("index.json")).expect("read index.json"),
        before,
        "index.json changed"
    );
    assert!(!tags(&dest).contains(&"new".to_string()));
    assert_no_stray_files(&dest);
}

/// Copying `src` into a new docker-archive fails and creates no file.
fn rejected_into_docker_archive(src: &str, needles: &[&str]) {
    let tmp = tempdir();
    let dest = tmp.path().join("out.tar");
    assert_failure(
        &oci_copy([src, &format!("docker-archive:{}:lab/x:1", p(&dest))]),
        1,
        needles,
    );
    assert!(
        !dest.exists(),
        "a failed copy must not leave {}",
        dest.display()
    );
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).expect("read tmp").collect();
    assert!(
        leftovers.is_empty(),
        "a failed copy left temporary files: {leftovers:?}"
    );
}

fn rejected(src: &str, needles: &[&str]) {
    rejected_into_layout(src, needles);
    rejected_into_docker_archive(src, needles);
}

#[test]
fn tampered_layer_blob_is_a_digest_error() {
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    tamper_layer(&layout, "latest");
    let src = format!("oci:{}:latest", p(&layout));
    rejected_into_layout(&src, &["digest mismatch"]);
    // The decoder usually trips first; the error must still name the digest mismatch.
    rejected_into_docker_archive(&src, &["digest mismatch"]);
}

#[test]
fn config_with_wrong_diff_id_is_caught_when_decompressing() {
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    wrong_diff_id(&layout, "latest");
    rejected_into_docker_archive(&format!("oci:{}:latest", p(&layout)), &["diff_id"]);
}

#[test]
fn docker_config_with_wrong_diff_id_is_caught_when_compressing() {
    let tmp = tempdir();
    let archive = tmp.path().join("bad.tar");
    let mut wrong = String::new();
    edit_archive("docker-legacy.tar", &archive, |root| {
        wrong = docker_wrong_diff_id(root)
    });
    rejected_into_layout(
        &format!("docker-archive:{}", p(&archive)),
        &[&wrong[7..19], "diff_id", "digest mismatch"],
    );
}

#[test]
fn a_config_with_fewer_diff_ids_than_layers_is_refused() {
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    drop_last_diff_id(&layout, "latest");
    rejected(
        &format!("oci:{}:latest", p(&layout)),
        &["the manifest has 2 layers but the config has 1 diff_ids"],
    );
    let archive = tmp.path().join("bad.tar");
    edit_archive("docker-legacy.tar", &archive, |root| {
        docker_rewrite_config(root, |c| {
            let ids = c["rootfs"]["diff_ids"].as_array_mut().expect("diff_ids");
            ids.push(ids[0].clone());
        })
    });
    rejected_into_layout(
        &format!("docker-archive:{}", p(&archive)),
        &["manifest.json: the manifest has 2 layers but the config has 3 diff_ids"],
    );
}

#[test]
fn tampered_docker_layer_fails() {
    let tmp = tempdir();
    let archive = tmp.path().join("bad.tar");
    edit_archive("docker-legacy.tar", &archive, |root| {
        crate::support::mutate::flip_byte(&docker_first_layer(root))
    });
    rejected(
        &format!("docker-archive:{}", p(&archive)),
        &["digest mismatch"],
    );
}

#[test]
fn truncated_oci_archive_fails() {
    let tmp = tempdir();
    let archive = tmp.path().join("trunc.tar");
    std::fs::copy(testdata("oci-archive.tar"), &archive).expect("copy fixture");
    truncate_half(&archive);
    rejected(&format!("oci-archive:{}:v1", p(&archive)), &["trunc.tar"]);
}

#[test]
fn truncated_docker_archive_fails() {
    let tmp = tempdir();
    let archive = tmp.path().join("trunc.tar");
    std::fs::copy(testdata("docker-legacy.tar"), &archive).expect("copy fixture");
    truncate_half(&archive);
    rejected(&format!("docker-archive:{}", p(&archive)), &["trunc.tar"]);
}

#[test]
fn file_that_is_not_a_tar_fails() {
    let tmp = tempdir();
    let file = tmp.path().join("notatar.tar");
    std::fs::write(&file, "this is plain text, not a tar archive\n".repeat(40))
        .expect("write file");
    rejected(&format!("oci-archive:{}", p(&file)), &["notatar.tar"]);
    rejected(&format!("docker-archive:{}", p(&file)), &["notatar.tar"]);
}

#[test]
fn invalid_index_json_fails() {
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    std::fs::write(
        layout.join("index.json"),
        "{\"schemaVersion\": 2, \"manifests\": [",
    )
    .expect("write");
    rejected(&format!("oci:{}:latest", p(&layout)), &["index.json"]);
}

#[test]
fn invalid_manifest_json_fails() {
    let tmp = tempdir();
    let archive = tmp.path().join("bad.tar");
    edit_archive("docker-legacy.tar", &archive, |root| {
        std::fs::write(root.join("manifest.json"), "[{\"Config\": ").expect("write manifest.json")
    });
    rejected(
        &format!("docker-archive:{}", p(&archive)),
        &["manifest.json"],
    );
}

#[test]
fn parent_dir_path_in_manifest_json_fails() {
    let tmp = tempdir();
    let archive = tmp.path().join("bad.tar");
    edit_archive("docker-legacy.tar", &archive, |root| {
        let path = root.join("manifest.json");
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("JSON");
        m[0]["Layers"][0] = "../../../../../etc/passwd".into();
        std::fs::write(&path, m.to_string()).expect("write manifest.json");
    });
    rejected(&format!("docker-archive:{}", p(&archive)), &[".."]);
}

#[test]
fn missing_blob_is_named() {
    let tmp = tempdir();
    let layout = layout_copy("oci-layout", tmp.path());
    let digest = layer_digest(&layout, "latest", 0);
    std::fs::remove_file(blob_path(&layout, &digest)).expect("remove blob");
    rejected(&format!("oci:{}:latest", p(&layout)), &[&digest[7..19]]);
}

#[test]
fn unknown_tag_is_named() {
    rejected(
        &format!("oci:{}:nope", p(&testdata("oci-layout"))),
        &["nope"],
    );
    rejected(
        &format!("oci-archive:{}:nope", p(&testdata("oci-archive.tar"))),
        &["nope"],
    );
    rejected(
        &format!(
            "docker-archive:{}:lab/app:9",
            p(&testdata("docker-legacy.tar"))
        ),
        &["lab/app:9"],
    );
}

#[test]
fn missing_arguments_are_a_usage_error() {
    assert_usage_error(&oci_copy(Vec::<String>::new()));
    assert_usage_error(&oci_copy(["oci:/nonexistent"]));
}

#[test]
fn unknown_format_is_a_usage_error() {
    let tmp = tempdir();
    let dest = format!("oci:{}:t", p(&tmp.path().join("out")));
    let src = format!("oci:{}:latest", p(&testdata("oci-layout")));
    assert_usage_error(&oci_copy([src.as_str(), &dest, "--format", "v2s1x"]));
    assert!(!tmp.path().join("out").exists());
}
