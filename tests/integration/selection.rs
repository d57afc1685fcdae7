//! How images are named: tags in an OCI layout (added, moved, required when ambiguous) and
//! image selection inside a multi-image docker-archive (`name:tag` in its forms, `@N`).

use crate::support::check::{check_docker_archive, check_oci_layout};
use crate::support::fixtures::Fixture;
use crate::support::layout::{config_digest, tags};
use crate::support::{assert_failure, assert_success, oci_copy, p, tempdir, testdata};
use std::path::Path;

fn copy_into(src: Fixture, layout: &Path, tag: &str) {
    assert_success(&oci_copy([
        src.reference(),
        format!("oci:{}:{tag}", p(layout)),
    ]));
}

#[test]
fn two_tags_in_one_layout_are_both_kept() {
    let tmp = tempdir();
    let out = tmp.path().join("out");
    copy_into(Fixture::OciLayout, &out, "a");
    copy_into(Fixture::Docker25, &out, "b");
    let report = check_oci_layout(&out);
    report.tagged("a");
    report.tagged("b");
    assert_eq!(
        config_digest(&out, "a"),
        Fixture::OciLayout.expected().config_digest
    );
    assert_eq!(
        config_digest(&out, "b"),
        Fixture::Docker25.expected().config_digest
    );
}

#[test]
fn rewriting_a_tag_moves_it() {
    let tmp = tempdir();
    let out = tmp.path().join("out");
    copy_into(Fixture::OciLayout, &out, "a");
    copy_into(Fixture::DockerLegacy, &out, "a");
    let report = check_oci_layout(&out);
    assert_eq!(
        tags(&out).iter().filter(|t| *t == "a").count(),
        1,
        "only one descriptor may carry tag a"
    );
    let entry = report.tagged("a");
    assert_eq!(
        entry.images[0].config_digest,
        Fixture::DockerLegacy.expected().config_digest
    );
}

#[test]
fn untagged_read_of_a_layout_with_several_images_lists_the_tags() {
    let tmp = tempdir();
    let out = tmp.path().join("out");
    copy_into(Fixture::OciLayout, &out, "first");
    copy_into(Fixture::Docker25, &out, "second");
    let dest = tmp.path().join("dest");
    let result = oci_copy([format!("oci:{}", p(&out)), format!("oci:{}:x", p(&dest))]);
    assert_failure(&result, 1, &["first", "second"]);
    assert!(!dest.exists());
}

/// Copies the image that `selector` names in docker-multi.tar; returns its config digest.
fn select(selector: &str) -> String {
    let tmp = tempdir();
    let out = tmp.path().join("out");
    let src = format!(
        "docker-archive:{}:{selector}",
        p(&testdata("docker-multi.tar"))
    );
    assert_success(&oci_copy([src, format!("oci:{}:t", p(&out))]));
    check_oci_layout(&out).config_digest
}

/// The config digest of the image whose RepoTags include `repo_tag` in docker-multi.tar.
fn multi_image(repo_tag: &str) -> String {
    let report = check_docker_archive(&testdata("docker-multi.tar"));
    let found = report
        .images
        .iter()
        .find(|i| i.repo_tags.iter().any(|t| t == repo_tag));
    found
        .unwrap_or_else(|| panic!("docker-multi.tar lacks {repo_tag}: {report:?}"))
        .config_digest
        .clone()
}

#[test]
fn docker_multi_selects_by_familiar_name() {
    assert_eq!(select("lab/app:1"), multi_image("lab/app:1"));
}

#[test]
fn docker_multi_selects_by_fully_qualified_name() {
    assert_eq!(select("docker.io/lab/app:1"), multi_image("lab/app:1"));
}

#[test]
fn docker_multi_selects_library_image_by_short_name() {
    assert_eq!(select("tool:3"), multi_image("docker.io/library/tool:3"));
}

#[test]
fn docker_multi_selects_library_image_by_library_name() {
    assert_eq!(
        select("library/tool:3"),
        multi_image("docker.io/library/tool:3")
    );
}

#[test]
fn docker_multi_selects_by_index() {
    let report = check_docker_archive(&testdata("docker-multi.tar"));
    assert_eq!(select("@1"), report.images[1].config_digest);
}

#[test]
fn docker_multi_without_selector_lists_the_images() {
    let tmp = tempdir();
    let src = format!("docker-archive:{}", p(&testdata("docker-multi.tar")));
    let result = oci_copy([src, format!("oci:{}:t", p(&tmp.path().join("out")))]);
    assert_failure(&result, 1, &["lab/app:1", "tool:3"]);
    assert!(!tmp.path().join("out").exists());
}

#[test]
fn docker_multi_unknown_name_fails() {
    let tmp = tempdir();
    let src = format!(
        "docker-archive:{}:lab/app:9",
        p(&testdata("docker-multi.tar"))
    );
    let result = oci_copy([src, format!("oci:{}:t", p(&tmp.path().join("out")))]);
    assert_failure(&result, 1, &["lab/app:9"]);
}
