//! A full disk, at every stage that writes: the gzip archive spooled to the temporary
//! directory, blobs staged in a layout, an archive streamed or assembled from staged blobs,
//! and a destination that is a device. Each must fail with one line that says "no space
//! left on device writing PATH", naming the file, and leave nothing behind.
//!
//! The full filesystem is real: a 16 KiB tmpfs, mounted in a mount namespace of the test's
//! own (`unshare --mount`; as a user without root, in a user namespace as well), so
//! nothing outside the test sees it. `/dev/full`, which fails every write with ENOSPC,
//! stands in for a full destination device.

use crate::support::fixtures::Fixture;
use crate::support::registry::Registry;
use crate::support::{assert_failure, assert_success, describe, oci_copy, p, tempdir};
use std::path::Path;
use std::process::{Command, Output};

/// What the namespace's shell prints after oci-copy: the files left on the small disk.
const LEFT: &str = "--- left on the small disk:";
/// The exit status of the namespace's shell when it cannot mount the tmpfs.
const NO_MOUNT: i32 = 97;

/// Runs oci-copy with `args` while `mnt` is a 16 KiB tmpfs, with `envs` set; returns its
/// output (stdout holds only the listing of what it left on the tmpfs).
fn oci_copy_on_a_full_disk(
    mnt: &Path,
    args: &[&str],
    envs: &[(&str, &Path)],
) -> (Output, Vec<String>) {
    let script = format!(
        "mount -t tmpfs -o size=16k oci-copy-test \"$0\" || exit {NO_MOUNT}; \
         \"$@\"; rc=$?; echo '{LEFT}'; ls -A \"$0\"; exit $rc"
    );
    let mut cmd = Command::new("unshare");
    // As root a mount namespace is enough; otherwise a user namespace grants the mount.
    if !is_root() {
        cmd.arg("--user").arg("--map-root-user");
    }
    cmd.args(["--mount", "sh", "-c", &script])
        .arg(mnt)
        .arg(env!("CARGO_BIN_EXE_oci-copy"))
        .args(args)
        .env("NO_COLOR", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("unshare not found: install it with `apt-get install -y util-linux`")
        }
        Err(e) => panic!("running unshare: {e}"),
    };
    if out.status.code() == Some(NO_MOUNT) || !String::from_utf8_lossy(&out.stdout).contains(LEFT) {
        panic!(
            "this test needs a small tmpfs of its own: run it as root (CAP_SYS_ADMIN), or \
             allow unprivileged user namespaces (`sysctl -w kernel.unprivileged_userns_clone=1`, \
             `sysctl -w user.max_user_namespaces=10000`)\n{}",
            describe(&out)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let left = stdout
        .split_once(LEFT)
        .map(|(_, l)| {
            l.lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    (out, left)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Asserts the one-line "no space left on device writing MNT/PREFIX..." error, which does
/// not blame the input ("invalid gzip data"), and an empty disk afterwards.
fn assert_disk_full(out: &Output, left: &[String], mnt: &Path, prefix: &str) -> String {
    let want = format!("no space left on device writing {}/{prefix}", p(mnt));
    let line = assert_failure(out, 1, &[&want]);
    assert!(!line.contains("invalid"), "blames the input: {line}");
    assert!(
        left.is_empty(),
        "files left on the full disk: {left:?}\n{line}"
    );
    line
}

#[test]
fn a_gzip_archive_spooled_to_a_full_temporary_directory() {
    let tmp = tempdir();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out_dir = tmp.path().join("out");
    let dest = format!("oci:{}", p(&out_dir));
    let (out, left) = oci_copy_on_a_full_disk(
        &mnt,
        &[&Fixture::DockerLegacyGz.reference(), &dest],
        &[("TMPDIR", &mnt)],
    );
    let line = assert_disk_full(&out, &left, &mnt, ".oci-copy-archive-");
    assert!(line.contains("decompressing"), "{line}");
    assert!(!out_dir.exists(), "a destination was created");
}

#[test]
fn blobs_staged_in_a_layout_on_a_full_disk() {
    let tmp = tempdir();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let dest = format!("oci:{}:t", p(&mnt.join("layout")));
    let (out, left) =
        oci_copy_on_a_full_disk(&mnt, &[&Fixture::DockerLegacy.reference(), &dest], &[]);
    assert_disk_full(&out, &left, &mnt, ".oci-copy-layout-");
}

#[test]
fn archives_streamed_onto_a_full_disk() {
    let tmp = tempdir();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let archive = p(&mnt.join("out.tar"));
    // Compressing into an oci-archive, decompressing into a docker-archive.
    for (src, dest) in [
        (Fixture::DockerLegacy, format!("oci-archive:{archive}:t")),
        (
            Fixture::OciLayout,
            format!("docker-archive:{archive}:lab/app:1"),
        ),
    ] {
        let (out, left) = oci_copy_on_a_full_disk(&mnt, &[&src.reference(), &dest], &[]);
        assert_disk_full(&out, &left, &mnt, ".oci-copy-");
    }
}

#[test]
fn an_archive_staged_from_a_registry_on_a_full_disk() {
    let reg = Registry::start();
    let url = reg.url("lab/app:1");
    assert_success(&oci_copy([
        "--tls-verify=false",
        &Fixture::OciLayout.reference(),
        &url,
    ]));
    let tmp = tempdir();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let dest = format!("docker-archive:{}:lab/app:1", p(&mnt.join("out.tar")));
    let (out, left) = oci_copy_on_a_full_disk(&mnt, &["--tls-verify=false", &url, &dest], &[]);
    assert_disk_full(&out, &left, &mnt, ".oci-copy-stage-");
}

#[test]
fn an_archive_written_to_a_full_device() {
    for dest in [
        "docker-archive:/dev/full:lab/app:1",
        "oci-archive:/dev/full:t",
    ] {
        let out = oci_copy(["--quiet", &Fixture::OciLayout.reference(), dest]);
        let line = assert_failure(&out, 1, &["no space left on device writing /dev/full"]);
        assert!(!line.contains("os error"), "{line}");
    }
}
