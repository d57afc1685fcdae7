//! Every fixture copied into every local destination (oci:, oci-archive:, docker-archive:),
//! with and without `--format`. Each output passes the invariant checker, keeps the source's
//! config digest and diff_ids, is read back by skopeo, and, if OCI, is unpacked by umoci.

use crate::support::check::{
    check_docker_archive, check_oci_layout, extract_archive, OCI_CONFIG, OCI_LAYER_GZIP,
    OCI_MANIFEST,
};
use crate::support::docker::loads_archive;
use crate::support::fixtures::{host_architecture, Expected, Fixture};
use crate::support::judges::{skopeo_reads, umoci_unpacks};
use crate::support::layout::assert_no_stray_files;
use crate::support::{assert_failure, assert_success, oci_copy, p, tempdir};
use std::path::Path;

#[derive(Clone, Copy)]
enum Dest {
    Oci,
    OciArchive,
    DockerArchive,
}

impl Dest {
    /// The destination reference inside `tmp`, and the path it creates.
    fn reference(self, tmp: &Path) -> (String, std::path::PathBuf) {
        match self {
            Dest::Oci => (format!("oci:{}:t", p(&tmp.join("out"))), tmp.join("out")),
            Dest::OciArchive => (
                format!("oci-archive:{}:t", p(&tmp.join("out.tar"))),
                tmp.join("out.tar"),
            ),
            Dest::DockerArchive => (
                format!("docker-archive:{}:lab/out:t", p(&tmp.join("out.tar"))),
                tmp.join("out.tar"),
            ),
        }
    }
}

fn run_copy(src: Fixture, dest_ref: &str, format: Option<&str>) -> std::process::Output {
    let mut args = vec![src.reference(), dest_ref.to_string()];
    if let Some(f) = format {
        args.extend(["--format".to_string(), f.to_string()]);
    }
    oci_copy(&args)
}

/// Copies `src` to `dest`, then judges the output every way we can.
fn copy_and_judge(src: Fixture, dest: Dest, format: Option<&str>) {
    let expected = src.expected();
    let tmp = tempdir();
    let (reference, path) = dest.reference(tmp.path());
    assert_success(&run_copy(src, &reference, format));
    assert_only_output_left(tmp.path(), &path);
    match dest {
        Dest::Oci => judge_oci_layout(&path, &expected),
        Dest::OciArchive => {
            let extracted = tempdir();
            extract_archive(&path, extracted.path()).unwrap_or_else(|e| panic!("{e}"));
            judge_oci_layout(extracted.path(), &expected);
        }
        Dest::DockerArchive => judge_docker_archive(&path, &expected),
    }
    skopeo_reads(&reference);
}

/// A finished copy leaves its output and nothing else: no temporary files or blobs.
fn assert_only_output_left(tmp: &Path, output: &Path) {
    let names: Vec<_> = std::fs::read_dir(tmp)
        .expect("read tmp")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(
        names,
        [output.to_path_buf()],
        "temporary files left beside the output"
    );
    if output.is_dir() {
        assert_no_stray_files(output);
    }
}

/// An OCI destination: OCI types and gzip layers only, same image, unpackable by umoci.
fn judge_oci_layout(dir: &Path, expected: &Expected) {
    let report = check_oci_layout(dir);
    let entry = report.tagged("t");
    assert_eq!(entry.images.len(), 1, "one image per copy: {entry:?}");
    let image = &entry.images[0];
    assert_eq!(
        entry.media_type, OCI_MANIFEST,
        "OCI destination got a non-OCI manifest"
    );
    assert_eq!(
        image.config_media_type, OCI_CONFIG,
        "OCI destination got a non-OCI config type"
    );
    assert!(
        image.layer_media_types.iter().all(|m| m == OCI_LAYER_GZIP),
        "layers must be gzip: {image:?}"
    );
    if let Some(digest) = &expected.kept_digest {
        assert_eq!(
            &entry.digest, digest,
            "a copy needing no conversion must keep the manifest digest"
        );
    }
    assert_eq!(
        image.config_digest, expected.config_digest,
        "the config bytes must be kept"
    );
    assert_eq!(image.diff_ids, expected.diff_ids);
    let file = image
        .sample_file
        .as_deref()
        .expect("fixture images hold at least one regular file");
    umoci_unpacks(dir, "t", file);
}

/// A docker-archive destination: one image, hybrid form, uncompressed layers, our RepoTag.
fn judge_docker_archive(file: &Path, expected: &Expected) {
    let report = check_docker_archive(file);
    let image = report.only();
    assert!(
        report.layout.is_some(),
        "docker-archive output must be the Docker 25+ hybrid form"
    );
    assert_eq!(
        image.compressed_layers, 0,
        "docker-archive layers must be uncompressed"
    );
    assert!(
        image.repo_tags == ["lab/out:t"] || image.repo_tags == ["docker.io/lab/out:t"],
        "RepoTags should come from the reference: {:?}",
        image.repo_tags
    );
    assert_eq!(
        image.config_digest, expected.config_digest,
        "conversion must keep the config bytes"
    );
    assert_eq!(
        (image.os.as_str(), image.architecture.as_str()),
        ("linux", host_architecture())
    );
    assert_eq!(image.diff_ids, expected.diff_ids);
    loads_archive(file, &expected.config_digest);
}

/// `--format v2s2` into an OCI layout or archive is impossible and must fail cleanly.
fn v2s2_into_oci_fails(src: Fixture, dest: Dest) {
    let tmp = tempdir();
    let (reference, path) = dest.reference(tmp.path());
    assert_failure(&run_copy(src, &reference, Some("v2s2")), 1, &["v2s2"]);
    assert!(
        !path.exists(),
        "a refused copy must not create {}",
        path.display()
    );
}

macro_rules! copy_matrix {
    ($($name:ident => $fixture:expr,)*) => {$(
        mod $name {
            use super::*;
            #[test] fn to_oci() { copy_and_judge($fixture, Dest::Oci, None) }
            #[test] fn to_oci_format_oci() { copy_and_judge($fixture, Dest::Oci, Some("oci")) }
            #[test] fn to_oci_archive() { copy_and_judge($fixture, Dest::OciArchive, None) }
            #[test] fn to_oci_archive_format_oci() { copy_and_judge($fixture, Dest::OciArchive, Some("oci")) }
            #[test] fn to_docker_archive() { copy_and_judge($fixture, Dest::DockerArchive, None) }
            #[test] fn to_docker_archive_format_v2s2() { copy_and_judge($fixture, Dest::DockerArchive, Some("v2s2")) }
            #[test] fn to_oci_format_v2s2_fails() { v2s2_into_oci_fails($fixture, Dest::Oci) }
            #[test] fn to_oci_archive_format_v2s2_fails() { v2s2_into_oci_fails($fixture, Dest::OciArchive) }
        }
    )*};
}

copy_matrix! {
    from_oci_layout => Fixture::OciLayout,
    from_oci_archive => Fixture::OciArchive,
    from_docker_legacy => Fixture::DockerLegacy,
    from_docker25 => Fixture::Docker25,
    from_docker_legacy_gz => Fixture::DockerLegacyGz,
    from_docker_multi => Fixture::DockerMulti,
    from_oci_index => Fixture::OciIndex,
}

/// The `copy` subcommand spelling behaves like the default command.
#[test]
fn explicit_copy_subcommand() {
    let tmp = tempdir();
    let (reference, path) = Dest::Oci.reference(tmp.path());
    assert_success(&oci_copy([
        "copy",
        &Fixture::OciLayout.reference(),
        &reference,
    ]));
    judge_oci_layout(&path, &Fixture::OciLayout.expected());
}

/// `--platform` picks another instance of an index; it still gets an OCI layout of its own.
#[test]
fn index_instance_chosen_by_platform() {
    let tmp = tempdir();
    let (reference, path) = Dest::Oci.reference(tmp.path());
    let src = Fixture::OciIndex.reference();
    assert_success(&oci_copy([
        src.as_str(),
        &reference,
        "--platform",
        "linux/arm64/v8",
    ]));
    let index = check_oci_layout(&crate::support::testdata("oci-index"));
    let arm = index
        .images()
        .find(|i| i.architecture == "arm64")
        .expect("fixture has arm64")
        .clone();
    let expected = Expected {
        config_digest: arm.config_digest,
        diff_ids: arm.diff_ids,
        kept_digest: Some(arm.manifest_digest),
    };
    judge_oci_layout(&path, &expected);
    skopeo_reads(&reference);
}

/// An index without the asked-for platform fails, listing the platforms it has.
#[test]
fn index_without_the_platform_lists_what_it_has() {
    let tmp = tempdir();
    let (reference, path) = Dest::Oci.reference(tmp.path());
    let src = Fixture::OciIndex.reference();
    let out = oci_copy([src.as_str(), &reference, "--platform", "linux/s390x"]);
    assert_failure(&out, 1, &["linux/s390x", "linux/amd64", "linux/arm64"]);
    assert!(!path.exists());
}
