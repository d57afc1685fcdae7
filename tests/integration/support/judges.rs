//! Independent judges: skopeo and umoci read what oci-copy wrote. A missing judge fails the
//! test with an install hint; it never skips silently.

use super::{describe, p, tempdir};
use std::path::Path;
use std::process::{Command, Output};

fn run_judge(program: &str, args: &[&str]) -> Output {
    match Command::new(program).args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{program} not found: install it with `apt-get install -y {program}`")
        }
        Err(e) => panic!("running {program}: {e}"),
    }
}

/// Runs skopeo with `args`.
pub fn skopeo(args: &[&str]) -> Output {
    run_judge("skopeo", args)
}

/// Runs podman with `args`, on a vfs store of its own under `store` (no daemon, no
/// overlay: works as root in a container).
pub fn podman(store: &Path, args: &[&str]) -> Output {
    on_vfs_store("podman", store, args)
}

/// Runs buildah with `args`, on a vfs store of its own under `store`.
pub fn buildah(store: &Path, args: &[&str]) -> Output {
    on_vfs_store("buildah", store, args)
}

/// Runs a containers/storage tool on the vfs store under `store`; it must succeed.
fn on_vfs_store(program: &str, store: &Path, args: &[&str]) -> Output {
    let (root, run) = (p(&store.join("root")), p(&store.join("run")));
    let mut all = vec![
        "--storage-driver",
        "vfs",
        "--root",
        &root,
        "--runroot",
        &run,
    ];
    all.extend_from_slice(args);
    let out = run_judge(program, &all);
    assert!(
        out.status.success(),
        "{program} {args:?} failed\n{}",
        describe(&out)
    );
    out
}

/// Runs umoci with `args`.
pub fn umoci(args: &[&str]) -> Output {
    run_judge("umoci", args)
}

/// skopeo can read the manifest of `reference` and copy the image out of it; `skopeo copy`
/// verifies every blob digest on the way.
pub fn skopeo_reads(reference: &str) {
    let raw = skopeo(&["inspect", "--raw", reference]);
    assert!(
        raw.status.success(),
        "skopeo inspect --raw {reference} failed\n{}",
        describe(&raw)
    );
    let out = tempdir();
    let target = format!("dir:{}", p(&out.path().join("image")));
    let copy = skopeo(&["--insecure-policy", "copy", "--quiet", reference, &target]);
    assert!(
        copy.status.success(),
        "skopeo copy {reference} failed\n{}",
        describe(&copy)
    );
}

/// umoci can unpack `layout:tag` rootlessly, and the rootfs holds `file`.
pub fn umoci_unpacks(layout: &Path, tag: &str, file: &str) {
    let tmp = tempdir();
    let bundle = tmp.path().join("bundle");
    let image = format!("{}:{tag}", p(layout));
    let out = umoci(&["unpack", "--rootless", "--image", &image, &p(&bundle)]);
    assert!(
        out.status.success(),
        "umoci unpack {image} failed\n{}",
        describe(&out)
    );
    let path = bundle.join("rootfs").join(file.trim_start_matches("./"));
    assert!(
        path.exists(),
        "umoci unpacked {image} but rootfs lacks {file}"
    );
}
