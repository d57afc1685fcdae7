//! Several oci-copy processes writing different tags into one OCI layout at once: all must
//! succeed and no tag may be lost, whether the layout exists already or the processes race
//! to create it. Each round ends with the invariant checker and a check that no temporary
//! or staging directory is left beside the layout.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::support::check::check_oci_layout;
use crate::support::fixtures::Fixture;
use crate::support::layout::{assert_no_stray_files, empty_layout};
use crate::support::{describe, p, tempdir};

const WRITERS: usize = 6;

/// Sources with different images, so that writers store different blobs as well as tags.
fn sources() -> [String; 3] {
    [
        Fixture::OciLayout.reference(),
        Fixture::DockerLegacy.reference(),
        Fixture::DockerMulti.reference(),
    ]
}

fn spawn(src: &str, dst: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_oci-copy"))
        .args(["--quiet", src, dst])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn oci-copy")
}

/// Starts WRITERS copies into `dir` at once, tags t0..t5, and checks the outcome.
fn race(dir: &Path, round: usize) {
    let sources = sources();
    let children: Vec<Child> = (0..WRITERS)
        .map(|i| {
            let src = &sources[(i + round) % sources.len()];
            spawn(src, &format!("oci:{}:t{i}", p(dir)))
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("wait for oci-copy");
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}, writer t{i}\n{}",
            describe(&out)
        );
    }
    let report = check_oci_layout(dir);
    let mut tags = report.tags.clone();
    tags.sort();
    let want: Vec<String> = (0..WRITERS).map(|i| format!("t{i}")).collect();
    assert_eq!(tags, want, "round {round}: a tag was lost");
    assert_no_stray_files(dir);
    let parent = dir.parent().expect("a layout has a parent");
    let left: Vec<_> = std::fs::read_dir(parent)
        .expect("list parent")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".oci-copy-"))
        .collect();
    assert!(
        left.is_empty(),
        "round {round}: staging left behind: {left:?}"
    );
}

#[test]
fn concurrent_writers_into_an_existing_layout_lose_no_tag() {
    let tmp = tempdir();
    for round in 0..3 {
        let dir = tmp.path().join(format!("layout-{round}"));
        empty_layout(&dir);
        race(&dir, round);
    }
}

#[test]
fn concurrent_writers_racing_to_create_a_layout_lose_no_tag() {
    let tmp = tempdir();
    for round in 0..4 {
        let dir = tmp.path().join(format!("new-{round}")).join("layout");
        race(&dir, round);
    }
}

#[test]
fn concurrent_writers_moving_one_tag_leave_one_valid_entry() {
    let tmp = tempdir();
    let dir = tmp.path().join("layout");
    let sources = sources();
    let children: Vec<Child> = (0..WRITERS)
        .map(|i| {
            spawn(
                &sources[i % sources.len()],
                &format!("oci:{}:same", p(&dir)),
            )
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait for oci-copy");
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    }
    let report = check_oci_layout(&dir);
    assert_eq!(report.tags, vec!["same".to_string()], "{:?}", report.tags);
    assert_no_stray_files(&dir);
}
