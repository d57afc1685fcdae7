//! Inputs made by real podman and buildah (Debian's, on a vfs store of the test's own):
//! `podman save` in its three formats, multi-image `podman save -m`, and images that
//! buildah builds and commits as OCI and as Docker. oci-copy must read each by name and by
//! position, keep what it should keep, and write what skopeo reads.

use crate::support::check::check_oci_layout;
use crate::support::judges::{buildah, podman, skopeo};
use crate::support::registry::Registry;
use crate::support::{assert_success, describe, oci_copy, p, tempdir, testdata};

/// The image ID (config digest) of `reference`, by `oci-copy inspect --config`.
fn image_id(reference: &str) -> String {
    let out = oci_copy(["inspect", "--config", "--tls-verify=false", reference]);
    assert_success(&out);
    format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&out.stdout))
    )
}

/// Copies `src` into a new layout and returns the config digest the checker found there.
fn copied_id(src: &str) -> String {
    let tmp = tempdir();
    let out = tmp.path().join("out");
    let copied = oci_copy(["-q", src, &format!("oci:{}:t", p(&out))]);
    assert!(copied.status.success(), "{src}\n{}", describe(&copied));
    check_oci_layout(&out).config_digest
}

#[test]
fn podman_save_outputs_are_read_by_name_and_by_position() {
    let tmp = tempdir();
    let store = tmp.path().join("store");
    let multi = testdata("docker-multi.tar");
    podman(&store, &["load", "-q", "-i", &p(&multi)]);
    let app = image_id(&format!("docker-archive:{}:lab/app:1", p(&multi)));
    let tool = image_id(&format!("docker-archive:{}:tool:3", p(&multi)));

    let saved = tmp.path().join("multi.tar");
    podman(
        &store,
        &[
            "save",
            "-q",
            "-m",
            "-o",
            &p(&saved),
            "localhost/lab/app:1",
            "docker.io/library/tool:3",
        ],
    );
    let archive = |sel: &str| format!("docker-archive:{}:{sel}", p(&saved));
    // podman names a loaded docker.io-less image localhost/...: that name, or its position.
    assert_eq!(copied_id(&archive("localhost/lab/app:1")), app);
    assert_eq!(copied_id(&archive("@0")), app);
    assert_eq!(copied_id(&archive("tool:3")), tool);
    assert_eq!(copied_id(&archive("@1")), tool);

    // podman's OCI formats re-serialise the Docker config (a new image ID): oci-copy must
    // keep podman's, untagged or by the full name podman puts in ref.name.
    let dir = tmp.path().join("oci-dir");
    let save = |format: &str, out: &std::path::Path, name: &str| {
        podman(
            &store,
            &["save", "-q", "--format", format, "-o", &p(out), name],
        );
    };
    save("oci-dir", &dir, "localhost/lab/app:1");
    let untagged = format!("oci:{}", p(&dir));
    assert_eq!(copied_id(&untagged), image_id(&untagged));
    let named = format!("oci:{}:localhost/lab/app:1", p(&dir));
    assert_eq!(copied_id(&named), image_id(&untagged));
    assert_ne!(image_id(&untagged), app, "podman converted the config");
    let oci_tar = tmp.path().join("oci.tar");
    save("oci-archive", &oci_tar, "docker.io/library/tool:3");
    let src = format!("oci-archive:{}", p(&oci_tar));
    assert_eq!(copied_id(&src), image_id(&src));
}

#[test]
fn buildah_builds_copy_to_a_registry_and_back_keeping_their_digests() {
    let tmp = tempdir();
    let store = tmp.path().join("store");
    let out = buildah(&store, &["from", "scratch"]);
    let ctr = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let file = tmp.path().join("hello.txt");
    std::fs::write(&file, "built by buildah\n").expect("write");
    buildah(&store, &["copy", &ctr, &p(&file), "/etc/hello"]);
    buildah(
        &store,
        &["config", "--env", "MODE=test", "--cmd", "/bin/sh", &ctr],
    );
    let reg = Registry::start();
    for (format, dest) in [
        (
            "oci",
            format!("oci-archive:{}:built", p(&tmp.path().join("oci.tar"))),
        ),
        (
            "docker",
            format!(
                "docker-archive:{}:lab/built:1",
                p(&tmp.path().join("d.tar"))
            ),
        ),
    ] {
        buildah(&store, &["commit", "-q", "--format", format, &ctr, &dest]);
        let id = image_id(&dest);
        let pushed = reg.url(&format!("lab/built-{format}:1"));
        assert_success(&oci_copy(["-q", "--tls-verify=false", &dest, &pushed]));
        assert_eq!(image_id(&pushed), id, "{dest}: the image ID changed");
        // skopeo pulls every blob (verifying it) and reads the config oci-copy pushed.
        let pulled = tmp.path().join(format!("pulled-{format}"));
        let target = format!("dir:{}", p(&pulled));
        let judged = skopeo(&[
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            &pushed,
            &target,
        ]);
        assert!(
            judged.status.success(),
            "skopeo pulls {pushed}\n{}",
            describe(&judged)
        );
        let config = skopeo(&[
            "inspect",
            "--raw",
            "--config",
            "--tls-verify=false",
            &pushed,
        ]);
        assert!(config.status.success(), "{}", describe(&config));
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&config.stdout));
        assert_eq!(format!("sha256:{digest}"), id, "{format}");
    }
}
